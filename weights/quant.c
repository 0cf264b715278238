/* weights/quant.c: the device layout of quantized expert matrices (see quant.h). */
#include "weights/quant.h"

#include <math.h>
#include <string.h>

/* What each format fixes: code width and whether scales cover row blocks. */
static const struct {
    const char *name;
    uint32_t bits;
} formats[] = {
    [ZMOE_QUANT_NONE] = {"none", 0},  [ZMOE_QUANT_INT4] = {"int4", 4},
    [ZMOE_QUANT_INT8] = {"int8", 8},  [ZMOE_QUANT_FP8] = {"fp8", 8},
    [ZMOE_QUANT_MXFP4] = {"mxfp4", 4},
};

const char *zmoe_quant_format_name(enum zmoe_quant_format f)
{
    return (unsigned)f < sizeof formats / sizeof formats[0] ? formats[f].name : "?";
}

uint32_t zmoe_scale_size(enum zmoe_scale_dtype dt)
{
    switch (dt) {
    case ZMOE_SCALE_F16:
    case ZMOE_SCALE_BF16: return 2;
    case ZMOE_SCALE_F32: return 4;
    case ZMOE_SCALE_E8M0: return 1;
    default: return 0;
    }
}

static bool mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Appends a part of `size` bytes at the next aligned offset of *end. */
static bool part(uint64_t *end, uint64_t size, uint64_t *offset, uint64_t *bytes)
{
    uint64_t at = (*end + ZMOE_QUANT_ALIGN - 1) / ZMOE_QUANT_ALIGN * ZMOE_QUANT_ALIGN;
    *offset = size ? at : 0;
    *bytes = size;
    return size == 0 || !__builtin_add_overflow(at, size, end);
}

bool zmoe_quant_matrix(const struct zmoe_config *cfg, enum zmoe_tensor t, struct zmoe_qmatrix *m)
{
    const enum zmoe_quant_format f = cfg->quant.format;
    if (f == ZMOE_QUANT_NONE || (unsigned)f >= sizeof formats / sizeof formats[0])
        return false;
    const uint64_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    /* products of u32 config fields: 2*I*E and E*H fit in 64 bits */
    const uint64_t S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate;
    uint64_t rows, cols, sets;
    switch (t) {
    case ZMOE_TENSOR_W13: rows = E * 2 * I, cols = H, sets = E; break;
    case ZMOE_TENSOR_W2: rows = E * H, cols = I, sets = E; break;
    case ZMOE_TENSOR_SHARED_W13:
    case ZMOE_TENSOR_SHARED_W2:
        if (S == 0 || !cfg->quant.shared_experts)
            return false;
        rows = t == ZMOE_TENSOR_SHARED_W13 ? 2 * S : H;
        cols = t == ZMOE_TENSOR_SHARED_W13 ? H : S;
        sets = 1;
        break;
    default:
        return false;
    }
    *m = (struct zmoe_qmatrix){0};
    m->format = f;
    m->bits = formats[f].bits;
    m->group = cfg->quant.group_size ? cfg->quant.group_size : (uint32_t)cols;
    m->row_block = (f == ZMOE_QUANT_FP8 && cfg->quant.group_size) ? cfg->quant.group_size : 1;
    m->groups_per_row = (uint32_t)(cols / m->group);
    m->scale_dtype = cfg->quant.scale_dtype;
    m->has_zeros = cfg->quant.zero_points;
    m->has_perm = cfg->quant.act_order;
    m->rows = rows, m->cols = cols, m->perm_sets = sets;
    if (cols == 0 || cols % 32 || m->group == 0 || cols % m->group)
        return true; /* not a valid quantized geometry: bytes stay 0 (validate rejects it) */

    uint64_t n, end = 0, codes, scales, zeros = 0, perm = 0;
    if (!mul(rows, cols, &n) || !mul(n / 32, m->bits * 4u, &codes) ||
        !mul(rows / m->row_block, m->groups_per_row, &scales) ||
        !mul(scales, zmoe_scale_size(m->scale_dtype), &scales) ||
        (m->has_zeros && !mul(rows, m->groups_per_row, &zeros)) ||
        (m->has_perm && !mul(sets, cols * 4, &perm)) ||
        !part(&end, codes, &m->codes_offset, &m->codes_bytes) ||
        !part(&end, scales, &m->scales_offset, &m->scales_bytes) ||
        !part(&end, zeros, &m->zeros_offset, &m->zeros_bytes) ||
        !part(&end, perm, &m->perm_offset, &m->perm_bytes))
        end = 0; /* overflow: bytes 0, like zmoe_tensor_bytes */
    m->bytes = end;
    return true;
}

/* ------------------------------------------------------------------ dequantization */

/* The formats' values from their definitions (plain C; the kernels decode with bit
 * tricks, this is written independently of them). */
static float e4m3fn_value(uint32_t v)
{
    const uint32_t e = (v >> 3) & 15u, mant = v & 7u;
    float mag;
    if (e == 15u && mant == 7u)
        mag = NAN; /* e4m3fn: S.1111.111 is NaN; there are no infinities */
    else if (e == 0)
        mag = ldexpf((float)mant / 8.0f, -6); /* subnormal: 0.m * 2^(1-7) */
    else
        mag = ldexpf(1.0f + (float)mant / 8.0f, (int)e - 7);
    return (v & 0x80u) ? -mag : mag;
}

static float e2m1_value(uint32_t v)
{
    const uint32_t e = (v >> 1) & 3u, mant = v & 1u;
    /* e2m1 (OCP MX): bias 1; e == 0 is subnormal 0.m * 2^0 */
    const float mag = e == 0 ? 0.5f * (float)mant : ldexpf(1.0f + 0.5f * (float)mant, (int)e - 1);
    return (v & 8u) ? -mag : mag;
}

static float scale_value(const unsigned char *p, enum zmoe_scale_dtype dt)
{
    switch (dt) {
    case ZMOE_SCALE_F16: return zmoe_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
    case ZMOE_SCALE_BF16: return zmoe_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
    case ZMOE_SCALE_F32: {
        float f;
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&f, &u, 4);
        return f;
    }
    case ZMOE_SCALE_E8M0: return p[0] == 255 ? NAN : ldexpf(1.0f, (int)p[0] - 127);
    }
    return NAN;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void zmoe_quant_dequant_rows(const struct zmoe_qmatrix *m, const void *tensor, uint64_t first,
                             uint64_t count, float *out)
{
    const unsigned char *base = tensor;
    const uint64_t n = m->cols, words = n * m->bits / 32, per_word = 32 / m->bits;
    const uint64_t rows_per_set = m->perm_sets ? m->rows / m->perm_sets : m->rows;
    const uint32_t ssz = zmoe_scale_size(m->scale_dtype);
    const uint32_t mask = (1u << m->bits) - 1u;
    for (uint64_t i = 0; i < count; i++) {
        const uint64_t r = first + i;
        float *row = out + i * n;
        const unsigned char *codes = base + m->codes_offset + r * words * 4;
        const unsigned char *perm =
            m->has_perm ? base + m->perm_offset + (r / rows_per_set) * n * 4 : NULL;
        for (uint64_t c = 0; c < n; c++) {
            const uint64_t g = c / m->group;
            const uint32_t q = (le32(codes + (c / per_word) * 4) >> ((c % per_word) * m->bits)) & mask;
            const float s = scale_value(base + m->scales_offset +
                                            ((r / m->row_block) * m->groups_per_row + g) * ssz,
                                        m->scale_dtype);
            float v;
            switch (m->format) {
            case ZMOE_QUANT_FP8: v = e4m3fn_value(q) * s; break;
            case ZMOE_QUANT_MXFP4: v = e2m1_value(q) * s; break;
            default: {
                const float z = m->has_zeros ? (float)base[m->zeros_offset + r * m->groups_per_row + g]
                                             : (float)(1u << (m->bits - 1));
                v = ((float)q - z) * s;
            }
            }
            /* act-order: kernel column c holds checkpoint column perm[c] */
            row[perm ? le32(perm + c * 4) : c] = v;
        }
    }
}
