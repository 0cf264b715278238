/* See quant_ref.h. Straight loops over the checkpoint's own layout: each element is
 * read where the format's packer put it (not where a kernel wants it), so a packing or
 * orientation mistake anywhere else shows up as a mismatch against these values. */
#include "reference/quant_ref.h"

#include "weights/weights.h" /* zmoe_f16_to_f32 / zmoe_bf16_to_f32 (exhaustively tested) */

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ element decoders */

/* float8_e4m3fn (OCP FP8 / PyTorch torch.float8_e4m3fn): 1 sign, 4 exponent (bias 7),
 * 3 mantissa bits; exponent 0 is subnormal (m/8 * 2^-6); no infinities; only
 * S.1111.111 is NaN, so S.1111.110 = 448 is the largest value. Built directly as f32
 * bits (every e4m3 value is exact in f32). */
float zmoe_qref_e4m3(uint8_t b)
{
    uint32_t sign = (uint32_t)(b >> 7) << 31, e = (b >> 3) & 15u, m = b & 7u;
    float v;
    if (e == 15 && m == 7)
        return sign ? -NAN : NAN;
    if (e == 0) {
        v = ldexpf((float)m, -9); /* m/8 * 2^-6 */
        return sign ? -v : v;
    }
    uint32_t bits = sign | ((e - 7u + 127u) << 23) | (m << 20);
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* fp4 e2m1 (OCP MX v1.0 sec. 5.3.3): 1 sign, 2 exponent (bias 1), 1 mantissa; exponent 0
 * is subnormal (m * 0.5); no inf/NaN. Values 0, .5, 1, 1.5, 2, 3, 4, 6. */
float zmoe_qref_e2m1(uint8_t nib)
{
    unsigned e = (nib >> 1) & 3u, m = nib & 1u;
    float v = e == 0 ? 0.5f * (float)m : ldexpf(1.0f + 0.5f * (float)m, (int)e - 1);
    return (nib & 8u) ? -v : v;
}

/* e8m0 (OCP MX v1.0): an unsigned biased exponent, 2^(b-127); 0xFF is NaN. (transformers'
 * convert_moe_packed_tensors does a plain ldexp by b-127 and never meets 255 in GPT-OSS's
 * files; the spec's NaN is what the kernels implement.) */
float zmoe_qref_e8m0(uint8_t b)
{
    return b == 255 ? NAN : ldexpf(1.0f, (int)b - 127);
}

/* ------------------------------------------------------------------ raw reads */

static uint32_t rd32(const void *base, uint64_t i)
{
    const unsigned char *p = (const unsigned char *)base + 4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t rd64s(const void *base, uint64_t i)
{
    const unsigned char *p = (const unsigned char *)base + 8 * i;
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | p[k];
    return (int64_t)v;
}

static uint8_t rd8(const void *base, uint64_t i)
{
    return ((const unsigned char *)base)[i];
}

/* A scale element: F16, BF16 or F32 (the dtype was checked by the caller). */
static float rd_scale(const struct zmoe_qref_tensor *t, uint64_t i)
{
    const unsigned char *p = t->data;
    if (strcmp(t->dtype, "F32") == 0) {
        uint32_t u = rd32(p, i);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    return strcmp(t->dtype, "F16") == 0 ? zmoe_f16_to_f32(h) : zmoe_bf16_to_f32(h);
}

/* ------------------------------------------------------------------ piece checks */

static void fail(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *msg, size_t n, const char *fmt, ...)
{
    if (!msg || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
}

static const char *tname(const struct zmoe_qref_tensor *t)
{
    return t->name ? t->name : "tensor";
}

static void shape_str(char *buf, size_t n, unsigned ndim, const uint64_t *d)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (unsigned i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* `dtypes` is a space-separated list of accepted dtype names. */
static bool dtype_ok(const char *dtypes, const char *dt)
{
    size_t l = strlen(dt);
    for (const char *p = dtypes; *p;) {
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == l && strncmp(p, dt, l) == 0)
            return true;
        p += k;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* Checks that t exists, has one of `dtypes` and exactly shape d[0..ndim). */
static bool check_piece(const struct zmoe_qref_tensor *t, const char *role, const char *dtypes,
                        unsigned ndim, const uint64_t *d, char *msg, size_t n)
{
    if (!t || !t->data) {
        fail(msg, n, "%s: tensor missing", role);
        return false;
    }
    if (!t->dtype || !dtype_ok(dtypes, t->dtype)) {
        fail(msg, n, "tensor '%s' (%s): dtype %s expected, found %s", tname(t), role, dtypes,
             t->dtype ? t->dtype : "(none)");
        return false;
    }
    bool same = t->ndim == ndim;
    for (unsigned i = 0; same && i < ndim; i++)
        same = t->shape[i] == d[i];
    if (!same) {
        char want[96], got[96];
        shape_str(want, sizeof want, ndim, d);
        shape_str(got, sizeof got, t->ndim > 4 ? 4 : t->ndim, t->shape);
        fail(msg, n, "tensor '%s' (%s): shape %s expected, found %s", tname(t), role, want, got);
        return false;
    }
    return true;
}

#define SCALE_DTYPES "F16 BF16 F32"

/* Group size along the reduction dim: 0 = per output channel (one group of n). */
static bool group_of(uint64_t group, uint64_t n, uint64_t *g, uint64_t *ng, char *msg, size_t sz)
{
    *g = group ? group : n;
    if (n == 0 || *g == 0 || n % *g) {
        fail(msg, sz, "group size %llu does not divide the input dimension %llu",
             (unsigned long long)*g, (unsigned long long)n);
        return false;
    }
    *ng = n / *g;
    return true;
}

/* g_idx (GPTQ act-order, compressed-tensors actorder="group"): I32 [in], every value a
 * group index < ng. */
static bool read_g_idx(const struct zmoe_qref_tensor *g_idx, uint64_t in, uint64_t ng,
                       char *msg, size_t msg_size)
{
    const uint64_t dg[1] = {in};
    if (!check_piece(g_idx, "g_idx", "I32", 1, dg, msg, msg_size))
        return false;
    for (uint64_t i = 0; i < in; i++) {
        int32_t gi = (int32_t)rd32(g_idx->data, i);
        if (gi < 0 || (uint64_t)gi >= ng) {
            fail(msg, msg_size, "tensor '%s' (g_idx): element %llu is %d, not in [0, %llu)",
                 tname(g_idx), (unsigned long long)i, (int)gi, (unsigned long long)ng);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ GPTQ */

/* Checked against AutoGPTQ/AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py
 * (pack(): qweight rows pack 32/bits consecutive input rows LSB first, `zeros -= 1`
 * before packing qzeros along the output dim; forward(): `zeros + 1`,
 * `scales * (weight - zeros)` with scales[g_idx]) and g_idx's default i // group_size. */
int zmoe_qref_gptq(unsigned bits, uint64_t out, uint64_t in, uint64_t group,
                   const struct zmoe_qref_tensor *qweight, const struct zmoe_qref_tensor *qzeros,
                   const struct zmoe_qref_tensor *scales, const struct zmoe_qref_tensor *g_idx,
                   float *w, char *msg, size_t msg_size)
{
    if (bits != 4 && bits != 8) {
        fail(msg, msg_size, "GPTQ: %u bits unsupported (4 or 8)", bits);
        return -1;
    }
    const uint64_t per = 32 / bits, mask = (1u << bits) - 1;
    uint64_t G, ng;
    if (in % per || out % per) {
        fail(msg, msg_size, "GPTQ: dimensions [%llu, %llu] not multiples of %llu",
             (unsigned long long)out, (unsigned long long)in, (unsigned long long)per);
        return -1;
    }
    if (!group_of(group, in, &G, &ng, msg, msg_size))
        return -1;
    const uint64_t dq[2] = {in / per, out}, dz[2] = {ng, out / per}, ds[2] = {ng, out};
    if (!check_piece(qweight, "qweight", "I32", 2, dq, msg, msg_size) ||
        !check_piece(qzeros, "qzeros", "I32", 2, dz, msg, msg_size) ||
        !check_piece(scales, "scales", SCALE_DTYPES, 2, ds, msg, msg_size) ||
        (g_idx && !read_g_idx(g_idx, in, ng, msg, msg_size)))
        return -1;
    for (uint64_t i = 0; i < in; i++) {
        uint64_t g = g_idx ? (uint64_t)rd32(g_idx->data, i) : i / G;
        for (uint64_t o = 0; o < out; o++) {
            uint32_t q = rd32(qweight->data, (i / per) * out + o) >> ((i % per) * bits) & mask;
            uint32_t zs = rd32(qzeros->data, g * (out / per) + o / per) >> ((o % per) * bits) & mask;
            float s = rd_scale(scales, g * out + o);
            w[o * in + i] = (float)((int32_t)q - (int32_t)(zs + 1)) * s;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ AWQ */

/* Checked against casper-hansen/AutoAWQ awq/utils/packing_utils.py (unpack_awq: shifts
 * 0, 4, ..., 28 along the packed output dim; reverse_awq_order with AWQ_REVERSE_ORDER
 * [0, 4, 1, 5, 2, 6, 3, 7]; dequantize_gemm: (iweight - izeros) * scales with scales
 * and zeros repeated group_size times along the input dim, no +1) and
 * awq/modules/linear/gemm.py's from_linear packing order [0, 2, 4, 6, 1, 3, 5, 7]. */
int zmoe_qref_awq(uint64_t out, uint64_t in, uint64_t group,
                  const struct zmoe_qref_tensor *qweight, const struct zmoe_qref_tensor *qzeros,
                  const struct zmoe_qref_tensor *scales, float *w, char *msg, size_t msg_size)
{
    static const unsigned reverse[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    uint64_t G, ng;
    if (out % 8) {
        fail(msg, msg_size, "AWQ: output dimension %llu not a multiple of 8",
             (unsigned long long)out);
        return -1;
    }
    if (!group_of(group, in, &G, &ng, msg, msg_size))
        return -1;
    const uint64_t dq[2] = {in, out / 8}, dz[2] = {ng, out / 8}, ds[2] = {ng, out};
    if (!check_piece(qweight, "qweight", "I32", 2, dq, msg, msg_size) ||
        !check_piece(qzeros, "qzeros", "I32", 2, dz, msg, msg_size) ||
        !check_piece(scales, "scales", SCALE_DTYPES, 2, ds, msg, msg_size))
        return -1;
    for (uint64_t i = 0; i < in; i++) {
        uint64_t g = i / G;
        for (uint64_t o = 0; o < out; o++) {
            unsigned sh = 4 * reverse[o % 8];
            uint32_t q = rd32(qweight->data, i * (out / 8) + o / 8) >> sh & 15u;
            uint32_t z = rd32(qzeros->data, g * (out / 8) + o / 8) >> sh & 15u;
            w[o * in + i] = (float)((int32_t)q - (int32_t)z) * rd_scale(scales, g * out + o);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ compressed-tensors */

/* Checked against neuralmagic/compressed-tensors
 * src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py:
 * pack_to_int32 adds 1 << (num_bits - 1) to the int8 values, then ORs value[:, i::f]
 * << num_bits*i (so element c sits in word c / f at bits (c % f)*num_bits, f = 32 /
 * num_bits); since commit ed3ac7c1 (0.10.0, "support zp packing") the zero point is
 * packed the same way with packed_dim=0 into [ceil(out / f), in / group] I32
 * (compression_param_info); before it, quantized_compressors/base.py saved the
 * initialize.py zero point as is (pytorch_dtype() = int8, [out, ngroups]); weight_shape
 * is torch.tensor(weight.shape) (int64 in the file); quantization/lifecycle/forward.py
 * dequantizes (x_q - zero_point) * scale, with g_idx (when saved) giving each
 * column's group. */
int zmoe_qref_ct_packed(unsigned bits, uint64_t out, uint64_t in, uint64_t group,
                        const struct zmoe_qref_tensor *weight_packed,
                        const struct zmoe_qref_tensor *weight_scale,
                        const struct zmoe_qref_tensor *weight_zero_point,
                        const struct zmoe_qref_tensor *weight_g_idx,
                        const struct zmoe_qref_tensor *weight_shape, float *w, char *msg,
                        size_t msg_size)
{
    if (bits != 4 && bits != 8) {
        fail(msg, msg_size, "pack-quantized: %u bits unsupported (4 or 8)", bits);
        return -1;
    }
    const uint64_t f = 32 / bits, mask = (1u << bits) - 1, offset = 1u << (bits - 1);
    uint64_t G, ng;
    if (!group_of(group, in, &G, &ng, msg, msg_size))
        return -1;
    const uint64_t dws[1] = {2};
    if (!check_piece(weight_shape, "weight_shape", "I64 I32", 1, dws, msg, msg_size))
        return -1;
    int64_t so, si;
    if (strcmp(weight_shape->dtype, "I64") == 0) {
        so = rd64s(weight_shape->data, 0);
        si = rd64s(weight_shape->data, 1);
    } else {
        so = (int32_t)rd32(weight_shape->data, 0);
        si = (int32_t)rd32(weight_shape->data, 1);
    }
    if (so != (int64_t)out || si != (int64_t)in) {
        fail(msg, msg_size, "tensor '%s' (weight_shape): [%llu, %llu] expected, found [%lld, %lld]",
             tname(weight_shape), (unsigned long long)out, (unsigned long long)in, (long long)so,
             (long long)si);
        return -1;
    }
    const uint64_t dp[2] = {out, (in + f - 1) / f}, ds[2] = {out, ng},
                   dz[2] = {(out + f - 1) / f, ng};
    if (!check_piece(weight_packed, "weight_packed", "I32", 2, dp, msg, msg_size) ||
        !check_piece(weight_scale, "weight_scale", SCALE_DTYPES, 2, ds, msg, msg_size))
        return -1;
    /* the zero point's dtype tells the two layouts apart */
    const bool zp_unpacked = weight_zero_point && weight_zero_point->dtype &&
                             strcmp(weight_zero_point->dtype, "I8") == 0;
    if (weight_zero_point &&
        !(zp_unpacked ? check_piece(weight_zero_point, "weight_zero_point", "I8", 2, ds, msg, msg_size)
                      : check_piece(weight_zero_point, "weight_zero_point", "I32", 2, dz, msg,
                                    msg_size)))
        return -1;
    if (weight_g_idx && !read_g_idx(weight_g_idx, in, ng, msg, msg_size))
        return -1;
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++) {
            uint64_t g = weight_g_idx ? (uint64_t)rd32(weight_g_idx->data, c) : c / G;
            uint32_t q = rd32(weight_packed->data, o * dp[1] + c / f) >> ((c % f) * bits) & mask;
            int32_t z = (int32_t)offset;
            if (zp_unpacked)
                z = (int8_t)rd8(weight_zero_point->data, o * ng + g) + (int32_t)offset;
            else if (weight_zero_point)
                z = (int32_t)(rd32(weight_zero_point->data, (o / f) * ng + g) >> ((o % f) * bits) & mask);
            w[o * in + c] = (float)((int32_t)q - z) * rd_scale(weight_scale, o * ng + g);
        }
    return 0;
}

/* Checked against neuralmagic/compressed-tensors
 * src/compressed_tensors/compressors/quantized_compressors/naive_quantized.py
 * (IntQuantizationCompressor: `weight` is quantize(...) in the args' pytorch dtype, int8
 * for 8 bits, no offset; decompress = dequantize(x_q, scale, zero_point)) and
 * quantization/lifecycle/forward.py (dequantize: (x_q - zero_point) * scale, scale and
 * zero point [out, ngroups]). */
int zmoe_qref_ct_int8(uint64_t out, uint64_t in, uint64_t group,
                      const struct zmoe_qref_tensor *weight,
                      const struct zmoe_qref_tensor *weight_scale,
                      const struct zmoe_qref_tensor *weight_zero_point, float *w, char *msg,
                      size_t msg_size)
{
    uint64_t G, ng;
    if (!group_of(group, in, &G, &ng, msg, msg_size))
        return -1;
    const uint64_t dw[2] = {out, in}, ds[2] = {out, ng};
    if (!check_piece(weight, "weight", "I8", 2, dw, msg, msg_size) ||
        !check_piece(weight_scale, "weight_scale", SCALE_DTYPES, 2, ds, msg, msg_size) ||
        (weight_zero_point &&
         !check_piece(weight_zero_point, "weight_zero_point", "I8", 2, ds, msg, msg_size)))
        return -1;
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++) {
            uint64_t g = c / G;
            int32_t q = (int8_t)rd8(weight->data, o * in + c);
            int32_t z = weight_zero_point ? (int8_t)rd8(weight_zero_point->data, o * ng + g) : 0;
            w[o * in + c] = (float)(q - z) * rd_scale(weight_scale, o * ng + g);
        }
    return 0;
}

/* ------------------------------------------------------------------ fp8 */

/* Checked against deepseek-ai/DeepSeek-V3 inference/kernel.py (weight_dequant: y = x * s,
 * s = scale_inv[row / 128][col / 128], grid ceil(M / 128) x ceil(N / 128)) and
 * inference/fp8_cast_bf16.py (pairs each `weight` with `weight_scale_inv`); compressed-tensors
 * float-quantized: naive_quantized.py FloatQuantizationCompressor (weight in
 * float8_e4m3fn, dequantize = x_q * scale, channel scale [out, 1]). */
int zmoe_qref_fp8(uint64_t out, uint64_t in, uint64_t block_rows, uint64_t block_cols,
                  const struct zmoe_qref_tensor *weight, const struct zmoe_qref_tensor *scale,
                  float *w, char *msg, size_t msg_size)
{
    if (block_rows == 0 || block_cols == 0) {
        fail(msg, msg_size, "fp8: zero scale block");
        return -1;
    }
    const uint64_t sr = (out + block_rows - 1) / block_rows, sc = (in + block_cols - 1) / block_cols;
    const uint64_t dw[2] = {out, in}, ds[2] = {sr, sc};
    if (!check_piece(weight, "weight", "F8_E4M3", 2, dw, msg, msg_size) ||
        !check_piece(scale, "scale", SCALE_DTYPES, 2, ds, msg, msg_size))
        return -1;
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++)
            w[o * in + c] = zmoe_qref_e4m3(rd8(weight->data, o * in + c)) *
                            rd_scale(scale, (o / block_rows) * sc + c / block_cols);
    return 0;
}

/* ------------------------------------------------------------------ MXFP4 */

/* Checked against huggingface/transformers src/transformers/integrations/mxfp4.py
 * (FP4_VALUES; convert_moe_packed_tensors: scales - 127, lut[blk & 0x0F] into the even
 * positions and lut[blk >> 4] into the odd ones, ldexp, reshape [.., G, 32] -> [.., G*32];
 * Mxfp4GptOssExperts: gate_up_proj_blocks [E, 2I, H/32, 16], down_proj_blocks
 * [E, H, I/32, 16]). */
int zmoe_qref_mxfp4(uint64_t experts, uint64_t rows, uint64_t cols,
                    const struct zmoe_qref_tensor *blocks, const struct zmoe_qref_tensor *scales,
                    float *w, char *msg, size_t msg_size)
{
    if (cols % 32) {
        fail(msg, msg_size, "MXFP4: reduction dimension %llu not a multiple of 32",
             (unsigned long long)cols);
        return -1;
    }
    const uint64_t nb = cols / 32;
    const uint64_t db[4] = {experts, rows, nb, 16}, ds[3] = {experts, rows, nb};
    if (!check_piece(blocks, "blocks", "U8", 4, db, msg, msg_size) ||
        !check_piece(scales, "scales", "U8", 3, ds, msg, msg_size))
        return -1;
    for (uint64_t r = 0; r < experts * rows; r++)
        for (uint64_t c = 0; c < cols; c++) {
            uint8_t byte = rd8(blocks->data, (r * nb + c / 32) * 16 + (c % 32) / 2);
            uint8_t nib = (c % 2) ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 15u);
            w[r * cols + c] = zmoe_qref_e2m1(nib) * zmoe_qref_e8m0(rd8(scales->data, r * nb + c / 32));
        }
    return 0;
}

/* ------------------------------------------------------------------ device layout */

/* A scale of the device layout's scale dtype (weights/quant.h). */
static float arena_scale(enum zmoe_scale_dtype dt, const unsigned char *p, uint64_t i)
{
    switch (dt) {
    case ZMOE_SCALE_F16:
        return zmoe_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case ZMOE_SCALE_BF16:
        return zmoe_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case ZMOE_SCALE_F32: {
        uint32_t u = rd32(p, i);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case ZMOE_SCALE_E8M0:
        return zmoe_qref_e8m0(p[i]);
    }
    return NAN;
}

/* Written from weights/quant.h's description of the parts (codes LSB first in uint32
 * words, scales per (row block, group), uint8 zeros per (row, group), uint32 perm per
 * expert), not from the loader that produces it. */
int zmoe_qref_arena(const struct zmoe_qmatrix *m, const void *tensor, float *w, char *msg,
                    size_t msg_size)
{
    const uint64_t R = m->rows, n = m->cols, b = m->bits;
    if ((b != 4 && b != 8) || n == 0 || n % 32 || m->group == 0 || n % m->group ||
        m->row_block == 0 || m->groups_per_row != n / m->group || m->bytes == 0) {
        fail(msg, msg_size, "device matrix: invalid geometry (%llu x %llu, %llu bits, group %u)",
             (unsigned long long)R, (unsigned long long)n, (unsigned long long)b, m->group);
        return -1;
    }
    const uint64_t ng = m->groups_per_row, per = 32 / b, wpr = n / per, mask = (1u << b) - 1;
    const unsigned char *base = tensor;
    const unsigned char *codes = base + m->codes_offset, *sc = base + m->scales_offset;
    const unsigned char *zeros = m->has_zeros ? base + m->zeros_offset : NULL;
    const unsigned char *perm = m->has_perm ? base + m->perm_offset : NULL;
    const uint64_t sets = m->perm_sets ? m->perm_sets : 1, rows_per_set = R / sets;
    if (perm) {
        if (R % sets) {
            fail(msg, msg_size, "device matrix: %llu rows not a multiple of %llu perm sets",
                 (unsigned long long)R, (unsigned long long)sets);
            return -1;
        }
        /* each set a permutation: every column exactly once (checked with w as scratch) */
        for (uint64_t p = 0; p < sets; p++) {
            for (uint64_t c = 0; c < n; c++)
                w[c] = 0.0f;
            for (uint64_t c = 0; c < n; c++) {
                uint32_t v = rd32(perm, p * n + c);
                if (v >= n || w[v] != 0.0f) {
                    fail(msg, msg_size, "device matrix: perm set %llu is not a permutation of "
                         "[0, %llu) (entry %llu is %u)", (unsigned long long)p,
                         (unsigned long long)n, (unsigned long long)c, v);
                    return -1;
                }
                w[v] = 1.0f;
            }
        }
    }
    for (uint64_t r = 0; r < R; r++) {
        const uint64_t p = perm ? r / rows_per_set : 0;
        for (uint64_t c = 0; c < n; c++) {
            const uint64_t g = c / m->group;
            const uint32_t q = rd32(codes, r * wpr + c / per) >> ((c % per) * b) & mask;
            const float s = arena_scale(m->scale_dtype, sc, (r / m->row_block) * ng + g);
            float v;
            switch (m->format) {
            case ZMOE_QUANT_FP8:
                v = zmoe_qref_e4m3((uint8_t)q) * s;
                break;
            case ZMOE_QUANT_MXFP4:
                v = zmoe_qref_e2m1((uint8_t)q) * s;
                break;
            default: {
                const int32_t z = zeros ? (int32_t)zeros[r * ng + g] : (int32_t)(1u << (b - 1));
                v = (float)((int32_t)q - z) * s;
            }
            }
            w[r * n + (perm ? rd32(perm, p * n + c) : c)] = v;
        }
    }
    return 0;
}
