/* See qckpt.h. The packers below follow each format's own packer (the direction the
 * tool writes), while reference/quant_ref.c reads in the other direction; a rule
 * misread in one of them shows up as a round-trip mismatch in quant_reference. */
#include "tests/quant/qckpt.h"

#include "tests/tap.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ random */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n) /* [0, n) */
{
    return (uint32_t)(splitmix(s) % n);
}

static double unif(uint64_t *s) /* [0, 1) */
{
    return (double)(splitmix(s) >> 11) / 9007199254740992.0;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        tap_bail("out of memory");
    return p;
}

/* ------------------------------------------------------------------ specs */

int qck_spec_from_config(const struct zmoe_config *cfg, bool int_quantized, struct qck_spec *sp)
{
    static const char *const sdt[] = {[ZMOE_SCALE_F16] = "F16", [ZMOE_SCALE_BF16] = "BF16",
                                      [ZMOE_SCALE_F32] = "F32", [ZMOE_SCALE_E8M0] = NULL};
    const enum zmoe_quant_format f = cfg->quant.format;
    const enum zmoe_quant_packing p = cfg->quant.packing;
    memset(sp, 0, sizeof *sp);
    sp->group = cfg->quant.group_size;
    sp->zero_points = cfg->quant.zero_points;
    sp->act_order = cfg->quant.act_order;
    sp->scale_dtype = (unsigned)cfg->quant.scale_dtype < 4 ? sdt[cfg->quant.scale_dtype] : NULL;
    sp->shared_float = !cfg->quant.shared_experts;
    if (f == ZMOE_QUANT_INT4 || f == ZMOE_QUANT_INT8) {
        sp->bits = f == ZMOE_QUANT_INT4 ? 4 : 8;
        if (p == ZMOE_PACK_GPTQ)
            sp->format = QCK_GPTQ;
        else if (p == ZMOE_PACK_AWQ && f == ZMOE_QUANT_INT4)
            sp->format = QCK_AWQ;
        else if (p == ZMOE_PACK_COMPRESSED_TENSORS)
            sp->format = f == ZMOE_QUANT_INT8 && int_quantized ? QCK_CT_INT8 : QCK_CT_PACKED;
        else
            return -1;
        return 0;
    }
    sp->bits = f == ZMOE_QUANT_MXFP4 ? 4 : 8;
    if (f == ZMOE_QUANT_FP8 && p == ZMOE_PACK_NATIVE)
        sp->format = QCK_FP8_NATIVE;
    else if (f == ZMOE_QUANT_FP8 && p == ZMOE_PACK_COMPRESSED_TENSORS)
        sp->format = QCK_FP8_CT;
    else if (f == ZMOE_QUANT_MXFP4 && p == ZMOE_PACK_NATIVE)
        sp->format = QCK_MXFP4;
    else
        return -1;
    return 0;
}

unsigned qck_bits(const struct qck_spec *sp)
{
    switch (sp->format) {
    case QCK_GPTQ:
    case QCK_CT_PACKED:
        return sp->bits;
    case QCK_AWQ:
    case QCK_MXFP4:
        return 4;
    default:
        return 8;
    }
}

static bool is_fp8(const struct qck_spec *sp)
{
    return sp->format == QCK_FP8_NATIVE || sp->format == QCK_FP8_CT;
}

const char *qck_scale_dtype(const struct qck_spec *sp)
{
    if (sp->scale_dtype)
        return sp->scale_dtype;
    return is_fp8(sp) ? "F32" : sp->format == QCK_MXFP4 ? "U8" : "F16";
}

static float round_to(const char *dt, float v)
{
    if (strcmp(dt, "F16") == 0)
        return zmoe_f16_to_f32(zmoe_f32_to_f16(v));
    if (strcmp(dt, "BF16") == 0)
        return zmoe_bf16_to_f32(zmoe_f32_to_bf16(v));
    return v;
}

/* ------------------------------------------------------------------ matrices */

void qck_mat_random(struct qck_mat *m, const struct qck_spec *sp, uint64_t out, uint64_t in,
                    uint64_t *seed)
{
    memset(m, 0, sizeof *m);
    m->out = out;
    m->in = in;
    const unsigned b = qck_bits(sp);
    const double base = 1.0 / sqrt((double)in);
    m->q = xcalloc(out * in, 1);
    if (sp->format == QCK_MXFP4) {
        m->group = 32;
        m->row_block = 1;
        m->e = xcalloc(out * (in / 32), 1);
        int e0 = 127 + (int)floor(log2(base)) - 2; /* |W| <= 6 * 2^(e-127) ~ 1.5..3 base */
        for (uint64_t i = 0; i < out * in; i++)
            m->q[i] = (uint8_t)rnd(seed, 16);
        for (uint64_t i = 0; i < out * (in / 32); i++)
            m->e[i] = (uint8_t)(e0 + (int)rnd(seed, 2));
        return;
    }
    const char *sdt = qck_scale_dtype(sp);
    if (is_fp8(sp)) {
        m->group = sp->group ? sp->group : in;
        m->row_block = sp->group ? sp->group : 1;
        for (uint64_t i = 0; i < out * in; i++) {
            /* mostly normal values of exponent field 4..9 (2^-3 .. 2^2 magnitudes), some
             * subnormals and zeros; never the NaN pattern */
            uint32_t k = rnd(seed, 16), sign = rnd(seed, 2) << 7, mant = rnd(seed, 8);
            uint32_t ex = k == 0 ? 0 : 4 + rnd(seed, 6);
            m->q[i] = (uint8_t)(sign | ex << 3 | mant);
        }
    } else {
        m->group = sp->group ? sp->group : in;
        m->row_block = 1;
        const uint32_t levels = 1u << b;
        for (uint64_t i = 0; i < out * in; i++)
            m->q[i] = (uint8_t)rnd(seed, levels);
        const uint64_t ng = in / m->group;
        const bool gptq = sp->format == QCK_GPTQ;
        if (sp->zero_points || sp->format == QCK_AWQ || gptq) {
            m->z = xcalloc(out * ng, sizeof *m->z);
            for (uint64_t i = 0; i < out * ng; i++) {
                if (!sp->zero_points && sp->format != QCK_AWQ)
                    m->z[i] = (uint16_t)(levels / 2); /* GPTQ sym: stores 2^(b-1) - 1 */
                else if (gptq)
                    m->z[i] = (uint16_t)(1 + rnd(seed, levels - 1)); /* stored 0 .. 2^b-2 */
                else
                    m->z[i] = (uint16_t)rnd(seed, levels);
            }
        }
        if ((gptq || sp->format == QCK_CT_PACKED) && sp->act_order) {
            /* GPTQ's desc_act: groups are taken over columns in a permuted order, so
             * g_idx[perm[k]] = k / G, every group G columns, scattered */
            uint32_t *perm = xcalloc(in, sizeof *perm);
            for (uint64_t i = 0; i < in; i++)
                perm[i] = (uint32_t)i;
            for (uint64_t i = in; i > 1; i--) {
                uint32_t j = rnd(seed, (uint32_t)i), t = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = t;
            }
            m->g_idx = xcalloc(in, sizeof *m->g_idx);
            for (uint64_t k = 0; k < in; k++)
                m->g_idx[perm[k]] = (uint32_t)(k / m->group);
            free(perm);
        }
    }
    const uint64_t sr = (out + m->row_block - 1) / m->row_block, sc = (in + m->group - 1) / m->group;
    m->s = xcalloc(sr * sc, sizeof *m->s);
    const double unit = is_fp8(sp) ? base / 4.0 : base / (double)(1u << (b - 1));
    for (uint64_t i = 0; i < sr * sc; i++)
        m->s[i] = round_to(sdt, (float)(unit * (0.5 + unif(seed))));
}

void qck_mat_free(struct qck_mat *m)
{
    free(m->q);
    free(m->s);
    free(m->e);
    free(m->z);
    free(m->g_idx);
    memset(m, 0, sizeof *m);
}

/* e4m3fn by its fields (OCP FP8 E4M3: bias 7, subnormal m/8 * 2^-6, S.1111.111 NaN). */
static float e4m3_def(uint8_t b)
{
    int s = b >> 7, e = (b >> 3) & 15, mt = b & 7;
    if (e == 15 && mt == 7)
        return NAN;
    double v = e == 0 ? mt / 8.0 * pow(2.0, -6) : (1.0 + mt / 8.0) * pow(2.0, e - 7);
    return (float)(s ? -v : v);
}

/* e2m1 by table (OCP MX v1.0 FP4). */
static float e2m1_def(uint8_t n)
{
    static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    return (n & 8) ? -mag[n & 7] : mag[n & 7];
}

float qck_mat_value(const struct qck_mat *m, const struct qck_spec *sp, uint64_t r, uint64_t c)
{
    const uint8_t q = m->q[r * m->in + c];
    if (sp->format == QCK_MXFP4)
        return e2m1_def(q) * (float)pow(2.0, (int)m->e[r * (m->in / 32) + c / 32] - 127);
    const uint64_t sc = (m->in + m->group - 1) / m->group;
    if (is_fp8(sp))
        return e4m3_def(q) * m->s[(r / m->row_block) * sc + c / m->group];
    const uint64_t g = m->g_idx ? m->g_idx[c] : c / m->group;
    const int z = m->z ? m->z[r * sc + g] : 1 << (qck_bits(sp) - 1);
    return (float)((int)q - z) * m->s[r * sc + g];
}

/* ------------------------------------------------------------------ tensor lists */

struct stw_tensor *qck_add(struct qck_ckpt *ck, const char *name, const char *dtype,
                           unsigned ndim, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3,
                           size_t bytes)
{
    if (ck->n == ck->cap) {
        ck->cap = ck->cap ? 2 * ck->cap : 64;
        ck->t = realloc(ck->t, ck->cap * sizeof *ck->t);
        if (!ck->t)
            tap_bail("out of memory");
    }
    struct stw_tensor *t = &ck->t[ck->n++];
    memset(t, 0, sizeof *t);
    if ((size_t)snprintf(t->name, sizeof t->name, "%s", name) >= sizeof t->name)
        tap_bail("tensor name too long: %s", name);
    const uint64_t d[4] = {d0, d1, d2, d3};
    t->dtype = dtype;
    t->ndim = ndim;
    for (unsigned i = 0; i < ndim; i++)
        t->shape[i] = d[i];
    t->data = xcalloc(bytes, 1);
    t->bytes = bytes;
    return t;
}

struct stw_tensor *qck_add_float(struct qck_ckpt *ck, const char *name, enum zmoe_dtype dt,
                                 const float *v, unsigned ndim, uint64_t d0, uint64_t d1)
{
    uint64_t n = ndim == 1 ? d0 : d0 * d1;
    struct stw_tensor *t = qck_add(ck, name, stw_dtype_name(dt), ndim, d0, d1, 0, 0,
                                   (size_t)n * zmoe_dtype_size(dt));
    zmoe_dtype_convert((void *)t->data, dt, v, ZMOE_DTYPE_F32, (size_t)n);
    return t;
}

struct stw_tensor *qck_find(struct qck_ckpt *ck, const char *name)
{
    for (size_t i = 0; i < ck->n; i++)
        if (strcmp(ck->t[i].name, name) == 0)
            return &ck->t[i];
    return NULL;
}

void *qck_realloc(struct stw_tensor *t, size_t bytes)
{
    free((void *)t->data);
    t->data = xcalloc(bytes, 1);
    t->bytes = bytes;
    return (void *)t->data;
}

void qck_remove(struct qck_ckpt *ck, const char *name)
{
    struct stw_tensor *t = qck_find(ck, name);
    if (!t)
        tap_bail("qck_remove: no tensor %s", name);
    free((void *)t->data);
    memmove(t, t + 1, (size_t)(&ck->t[ck->n] - (t + 1)) * sizeof *t);
    ck->n--;
}

void qck_free(struct qck_ckpt *ck)
{
    for (size_t i = 0; i < ck->n; i++)
        free((void *)ck->t[i].data);
    free(ck->t);
    memset(ck, 0, sizeof *ck);
}

const char *qck_write(const struct qck_ckpt *ck, const char *dir, const char *stem,
                      unsigned shards)
{
    static char path[768];
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, stem);
        if (stw_write(path, ck->t, ck->n, "{\"format\":\"pt\"}") != 0)
            tap_bail("cannot write %s", path);
        return path;
    }
    struct stw_tensor *part = xcalloc(ck->n, sizeof *part);
    const char **names = xcalloc(ck->n, sizeof *names), **files = xcalloc(ck->n, sizeof *files);
    char(*fname)[128] = xcalloc(shards, sizeof *fname);
    for (unsigned s = 0; s < shards; s++) {
        snprintf(fname[s], sizeof fname[s], "%s-%05u-of-%05u.safetensors", stem, s + 1, shards);
        size_t k = 0;
        for (size_t i = s; i < ck->n; i += shards) {
            part[k++] = ck->t[i];
            names[i] = ck->t[i].name;
            files[i] = fname[s];
        }
        snprintf(path, sizeof path, "%s/%s", dir, fname[s]);
        if (stw_write(path, part, k, "{\"format\":\"pt\"}") != 0)
            tap_bail("cannot write %s", path);
    }
    snprintf(path, sizeof path, "%s/%s.safetensors.index.json", dir, stem);
    if (stw_write_index(path, names, files, ck->n) != 0)
        tap_bail("cannot write %s", path);
    free(part);
    free(names);
    free(files);
    free(fname);
    return path;
}

/* ------------------------------------------------------------------ packers */

static void put32(void *base, uint64_t i, uint32_t v)
{
    unsigned char *p = (unsigned char *)base + 4 * i;
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t get32(const void *base, uint64_t i)
{
    const unsigned char *p = (const unsigned char *)base + 4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void or32(void *base, uint64_t i, uint32_t v)
{
    put32(base, i, get32(base, i) | v);
}

static size_t scale_size(const char *dt)
{
    return strcmp(dt, "F32") == 0 ? 4 : 2;
}

static void put_scale(void *base, const char *dt, uint64_t i, float v)
{
    unsigned char *p = base;
    if (strcmp(dt, "F32") == 0) {
        uint32_t u;
        memcpy(&u, &v, 4);
        put32(base, i, u);
        return;
    }
    uint16_t h = strcmp(dt, "F16") == 0 ? zmoe_f32_to_f16(v) : zmoe_f32_to_bf16(v);
    p[2 * i] = (unsigned char)h;
    p[2 * i + 1] = (unsigned char)(h >> 8);
}

static void name_of(char *buf, size_t n, const char *base, const char *piece)
{
    if ((size_t)snprintf(buf, n, "%s.%s", base, piece) >= n)
        tap_bail("tensor name too long: %s.%s", base, piece);
}

/* GPTQ (AutoGPTQ QuantLinear.pack; AutoRound's qlinear_triton.py packs the same way):
 * intweight transposed to [in, out], then rows of qweight OR 32/bits consecutive input
 * rows at shifts bits*(j - i); zeros - 1 packed along the output dim the same way;
 * scales [ngroups, out]; g_idx [in] (AutoGPTQ and GPTQModel store it also without
 * desc_act, as i // group_size; AutoRound's own export has none: sp->no_g_idx). */
static void pack_gptq(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                      const struct qck_mat *m)
{
    const unsigned b = sp->bits;
    const uint64_t per = 32 / b, out = m->out, in = m->in, ng = in / m->group;
    const char *sdt = qck_scale_dtype(sp);
    char nm[320];
    name_of(nm, sizeof nm, base, "qweight");
    void *qw = (void *)qck_add(ck, nm, "I32", 2, in / per, out, 0, 0, in / per * out * 4)->data;
    for (uint64_t i = 0; i < in; i++)
        for (uint64_t o = 0; o < out; o++)
            or32(qw, (i / per) * out + o, (uint32_t)m->q[o * in + i] << (b * (i % per)));
    name_of(nm, sizeof nm, base, "qzeros");
    void *qz = (void *)qck_add(ck, nm, "I32", 2, ng, out / per, 0, 0, ng * (out / per) * 4)->data;
    const uint32_t mask = (1u << b) - 1;
    for (uint64_t g = 0; g < ng; g++)
        for (uint64_t o = 0; o < out; o++)
            or32(qz, g * (out / per) + o / per,
                 ((uint32_t)(m->z[o * ng + g] - 1) & mask) << (b * (o % per)));
    name_of(nm, sizeof nm, base, "scales");
    void *sc = (void *)qck_add(ck, nm, sdt, 2, ng, out, 0, 0, ng * out * scale_size(sdt))->data;
    for (uint64_t g = 0; g < ng; g++)
        for (uint64_t o = 0; o < out; o++)
            put_scale(sc, sdt, g * out + o, m->s[o * ng + g]);
    if (sp->no_g_idx && !m->g_idx)
        return;
    name_of(nm, sizeof nm, base, "g_idx");
    void *gi = (void *)qck_add(ck, nm, "I32", 1, in, 0, 0, 0, in * 4)->data;
    for (uint64_t i = 0; i < in; i++)
        put32(gi, i, m->g_idx ? m->g_idx[i] : (uint32_t)(i / m->group));
}

/* AWQ (AutoAWQ WQLinear_GEMM.from_linear): intweight [in, out]; word j of row i ORs
 * column 8j + ORDER[n] << 4n, ORDER = 0 2 4 6 1 3 5 7; qzeros [in/G, out/8] packed the
 * same way (no -1); scales [in/G, out]. */
static void pack_awq(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                     const struct qck_mat *m)
{
    static const unsigned order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const uint64_t out = m->out, in = m->in, ng = in / m->group, ow = out / 8;
    const char *sdt = qck_scale_dtype(sp);
    char nm[320];
    name_of(nm, sizeof nm, base, "qweight");
    void *qw = (void *)qck_add(ck, nm, "I32", 2, in, ow, 0, 0, in * ow * 4)->data;
    for (uint64_t i = 0; i < in; i++)
        for (uint64_t j = 0; j < ow; j++)
            for (unsigned n = 0; n < 8; n++)
                or32(qw, i * ow + j, (uint32_t)m->q[(8 * j + order[n]) * in + i] << (4 * n));
    name_of(nm, sizeof nm, base, "qzeros");
    void *qz = (void *)qck_add(ck, nm, "I32", 2, ng, ow, 0, 0, ng * ow * 4)->data;
    for (uint64_t g = 0; g < ng; g++)
        for (uint64_t j = 0; j < ow; j++)
            for (unsigned n = 0; n < 8; n++)
                or32(qz, g * ow + j, ((uint32_t)m->z[(8 * j + order[n]) * ng + g] & 15u) << (4 * n));
    name_of(nm, sizeof nm, base, "scales");
    void *sc = (void *)qck_add(ck, nm, sdt, 2, ng, out, 0, 0, ng * out * scale_size(sdt))->data;
    for (uint64_t g = 0; g < ng; g++)
        for (uint64_t o = 0; o < out; o++)
            put_scale(sc, sdt, g * out + o, m->s[o * ng + g]);
}

/* compressed-tensors pack-quantized (pack_to_int32): value + 2^(bits-1) (our unsigned
 * code), packed[:, k] |= v[:, f*k + i] << bits*i; zero point packed along dim 0 into
 * [ceil(out/f), ng]; weight_shape = torch.tensor(weight.shape), I64. */
static void pack_ct(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                    const struct qck_mat *m)
{
    const unsigned b = sp->bits;
    const uint64_t f = 32 / b, out = m->out, in = m->in, ng = in / m->group;
    const uint64_t pw = (in + f - 1) / f, zr = (out + f - 1) / f;
    const char *sdt = qck_scale_dtype(sp);
    char nm[320];
    name_of(nm, sizeof nm, base, "weight_packed");
    void *wp = (void *)qck_add(ck, nm, "I32", 2, out, pw, 0, 0, out * pw * 4)->data;
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++)
            or32(wp, o * pw + c / f, (uint32_t)m->q[o * in + c] << (b * (c % f)));
    name_of(nm, sizeof nm, base, "weight_scale");
    void *sc = (void *)qck_add(ck, nm, sdt, 2, out, ng, 0, 0, out * ng * scale_size(sdt))->data;
    for (uint64_t i = 0; i < out * ng; i++)
        put_scale(sc, sdt, i, m->s[i]);
    if (m->z && sp->legacy_zero_point) { /* < 0.10: the int8 zero point as is */
        name_of(nm, sizeof nm, base, "weight_zero_point");
        unsigned char *zp = (void *)qck_add(ck, nm, "I8", 2, out, ng, 0, 0, out * ng)->data;
        for (uint64_t i = 0; i < out * ng; i++)
            zp[i] = (unsigned char)(int8_t)((int)m->z[i] - (1 << (b - 1)));
    } else if (m->z) {
        name_of(nm, sizeof nm, base, "weight_zero_point");
        void *zp = (void *)qck_add(ck, nm, "I32", 2, zr, ng, 0, 0, zr * ng * 4)->data;
        for (uint64_t o = 0; o < out; o++)
            for (uint64_t g = 0; g < ng; g++)
                or32(zp, (o / f) * ng + g, (uint32_t)m->z[o * ng + g] << (b * (o % f)));
    }
    if (m->g_idx) {
        name_of(nm, sizeof nm, base, "weight_g_idx");
        void *gi = (void *)qck_add(ck, nm, "I32", 1, in, 0, 0, 0, in * 4)->data;
        for (uint64_t i = 0; i < in; i++)
            put32(gi, i, m->g_idx[i]);
    }
    name_of(nm, sizeof nm, base, "weight_shape");
    unsigned char *ws = (void *)qck_add(ck, nm, "I64", 1, 2, 0, 0, 0, 16)->data;
    for (int k = 0; k < 8; k++) {
        ws[k] = (unsigned char)(out >> (8 * k));
        ws[8 + k] = (unsigned char)(in >> (8 * k));
    }
}

/* compressed-tensors int-quantized: weight I8 = the signed value (code - 128), scale and
 * zero point [out, ng], zero point I8 signed. */
static void pack_ct_int8(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                         const struct qck_mat *m)
{
    const uint64_t out = m->out, in = m->in, ng = in / m->group;
    const char *sdt = qck_scale_dtype(sp);
    char nm[320];
    name_of(nm, sizeof nm, base, "weight");
    unsigned char *w = (void *)qck_add(ck, nm, "I8", 2, out, in, 0, 0, out * in)->data;
    for (uint64_t i = 0; i < out * in; i++)
        w[i] = (unsigned char)(int8_t)((int)m->q[i] - 128);
    name_of(nm, sizeof nm, base, "weight_scale");
    void *sc = (void *)qck_add(ck, nm, sdt, 2, out, ng, 0, 0, out * ng * scale_size(sdt))->data;
    for (uint64_t i = 0; i < out * ng; i++)
        put_scale(sc, sdt, i, m->s[i]);
    if (m->z) {
        name_of(nm, sizeof nm, base, "weight_zero_point");
        unsigned char *zp = (void *)qck_add(ck, nm, "I8", 2, out, ng, 0, 0, out * ng)->data;
        for (uint64_t i = 0; i < out * ng; i++)
            zp[i] = (unsigned char)(int8_t)((int)m->z[i] - 128);
    }
}

/* fp8: weight bytes as is; scale grid [ceil(out/rb), ceil(in/G)] named weight_scale_inv
 * (DeepSeek-V3 / Qwen3-FP8) or weight_scale (compressed-tensors). */
static void pack_fp8(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                     const struct qck_mat *m)
{
    const uint64_t out = m->out, in = m->in;
    const uint64_t sr = (out + m->row_block - 1) / m->row_block, scn = (in + m->group - 1) / m->group;
    const char *sdt = qck_scale_dtype(sp);
    char nm[320];
    name_of(nm, sizeof nm, base, "weight");
    memcpy((void *)qck_add(ck, nm, "F8_E4M3", 2, out, in, 0, 0, out * in)->data, m->q, out * in);
    name_of(nm, sizeof nm, base, sp->format == QCK_FP8_NATIVE ? "weight_scale_inv" : "weight_scale");
    void *sc = (void *)qck_add(ck, nm, sdt, 2, sr, scn, 0, 0, sr * scn * scale_size(sdt))->data;
    for (uint64_t i = 0; i < sr * scn; i++)
        put_scale(sc, sdt, i, m->s[i]);
}

void qck_add_linear(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                    const struct qck_mat *m)
{
    switch (sp->format) {
    case QCK_GPTQ:
        pack_gptq(ck, base, sp, m);
        break;
    case QCK_AWQ:
        pack_awq(ck, base, sp, m);
        break;
    case QCK_CT_PACKED:
        pack_ct(ck, base, sp, m);
        break;
    case QCK_CT_INT8:
        pack_ct_int8(ck, base, sp, m);
        break;
    case QCK_FP8_NATIVE:
    case QCK_FP8_CT:
        pack_fp8(ck, base, sp, m);
        break;
    case QCK_MXFP4:
        tap_bail("qck_add_linear: MXFP4 is stored per expert set (qck_add_mxfp4)");
    }
}

/* MXFP4 (GPT-OSS, inverse of transformers' convert_moe_packed_tensors): byte k of a
 * 32-block holds element 2k in its low nibble and 2k + 1 in its high nibble. */
void qck_add_mxfp4(struct qck_ckpt *ck, const char *base, const struct qck_mat *m,
                   uint64_t experts)
{
    const uint64_t rows = m[0].out, cols = m[0].in, nb = cols / 32;
    char nm[320];
    snprintf(nm, sizeof nm, "%s_blocks", base);
    unsigned char *bl =
        (void *)qck_add(ck, nm, "U8", 4, experts, rows, nb, 16, experts * rows * nb * 16)->data;
    snprintf(nm, sizeof nm, "%s_scales", base);
    unsigned char *sc = (void *)qck_add(ck, nm, "U8", 3, experts, rows, nb, 0, experts * rows * nb)->data;
    for (uint64_t e = 0; e < experts; e++)
        for (uint64_t r = 0; r < rows; r++) {
            const uint8_t *q = &m[e].q[r * cols];
            unsigned char *row = &bl[(e * rows + r) * nb * 16];
            for (uint64_t k = 0; k < cols / 2; k++)
                row[k] = (unsigned char)((q[2 * k] & 15u) | (q[2 * k + 1] & 15u) << 4);
            memcpy(&sc[(e * rows + r) * nb], &m[e].e[r * nb], nb);
        }
}

/* ------------------------------------------------------------------ dequantize */

static struct zmoe_qref_tensor view(struct qck_ckpt *ck, const char *base, const char *piece,
                                    bool *found)
{
    char nm[320];
    name_of(nm, sizeof nm, base, piece);
    struct stw_tensor *t = qck_find(ck, nm);
    struct zmoe_qref_tensor v = {0};
    *found = t != NULL;
    if (t) {
        v.name = t->name;
        v.dtype = t->dtype;
        v.ndim = t->ndim;
        memcpy(v.shape, t->shape, sizeof v.shape);
        v.data = t->data;
    }
    return v;
}

int qck_dequant_linear(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                       uint64_t experts, uint64_t out, uint64_t in, float *w, char *msg,
                       size_t msg_size)
{
    bool f1, f2, f3, f4;
    const uint64_t G = sp->group;
    if (sp->format == QCK_MXFP4) {
        char b2[320], s2[320];
        snprintf(b2, sizeof b2, "%s_blocks", base);
        snprintf(s2, sizeof s2, "%s_scales", base);
        struct zmoe_qref_tensor bl = {0}, sc = {0};
        struct stw_tensor *tb = qck_find(ck, b2), *ts = qck_find(ck, s2);
        if (tb)
            bl = (struct zmoe_qref_tensor){tb->name, tb->dtype, tb->ndim,
                                           {tb->shape[0], tb->shape[1], tb->shape[2], tb->shape[3]},
                                           tb->data};
        if (ts)
            sc = (struct zmoe_qref_tensor){ts->name, ts->dtype, ts->ndim,
                                           {ts->shape[0], ts->shape[1], ts->shape[2], ts->shape[3]},
                                           ts->data};
        return zmoe_qref_mxfp4(experts, out, in, tb ? &bl : NULL, ts ? &sc : NULL, w, msg,
                               msg_size);
    }
    switch (sp->format) {
    case QCK_GPTQ: {
        struct zmoe_qref_tensor a = view(ck, base, "qweight", &f1), b = view(ck, base, "qzeros", &f2),
                                c = view(ck, base, "scales", &f3), d = view(ck, base, "g_idx", &f4);
        return zmoe_qref_gptq(sp->bits, out, in, G, f1 ? &a : NULL, f2 ? &b : NULL,
                              f3 ? &c : NULL, f4 ? &d : NULL, w, msg, msg_size);
    }
    case QCK_AWQ: {
        struct zmoe_qref_tensor a = view(ck, base, "qweight", &f1), b = view(ck, base, "qzeros", &f2),
                                c = view(ck, base, "scales", &f3);
        return zmoe_qref_awq(out, in, G, f1 ? &a : NULL, f2 ? &b : NULL, f3 ? &c : NULL, w, msg,
                             msg_size);
    }
    case QCK_CT_PACKED: {
        bool f5;
        struct zmoe_qref_tensor a = view(ck, base, "weight_packed", &f1),
                                b = view(ck, base, "weight_scale", &f2),
                                c = view(ck, base, "weight_zero_point", &f3),
                                d = view(ck, base, "weight_shape", &f4),
                                e = view(ck, base, "weight_g_idx", &f5);
        return zmoe_qref_ct_packed(sp->bits, out, in, G, f1 ? &a : NULL, f2 ? &b : NULL,
                                   f3 ? &c : NULL, f5 ? &e : NULL, f4 ? &d : NULL, w, msg,
                                   msg_size);
    }
    case QCK_CT_INT8: {
        struct zmoe_qref_tensor a = view(ck, base, "weight", &f1),
                                b = view(ck, base, "weight_scale", &f2),
                                c = view(ck, base, "weight_zero_point", &f3);
        return zmoe_qref_ct_int8(out, in, G, f1 ? &a : NULL, f2 ? &b : NULL, f3 ? &c : NULL, w,
                                 msg, msg_size);
    }
    case QCK_FP8_NATIVE:
    case QCK_FP8_CT: {
        struct zmoe_qref_tensor a = view(ck, base, "weight", &f1),
                                b = view(ck, base,
                                         sp->format == QCK_FP8_NATIVE ? "weight_scale_inv"
                                                                      : "weight_scale",
                                         &f2);
        return zmoe_qref_fp8(out, in, G ? G : 1, G ? G : in, f1 ? &a : NULL, f2 ? &b : NULL, w,
                             msg, msg_size);
    }
    case QCK_MXFP4:
        break;
    }
    return -1;
}

/* ------------------------------------------------------------------ whole MoE */

const char *qck_expert_base(char *buf, size_t n, enum zmoe_weights_layout layout,
                            const char *prefix, uint32_t L, uint32_t e, int which)
{
    static const char *mix[3] = {"w1", "w3", "w2"}, *hf[3] = {"gate_proj", "up_proj", "down_proj"};
    if (layout == ZMOE_LAYOUT_MIXTRAL)
        snprintf(buf, n, "%s%u.block_sparse_moe.experts.%u.%s", prefix, L, e, mix[which]);
    else if (layout == ZMOE_LAYOUT_LLAMA4)
        snprintf(buf, n, "%s%u.feed_forward.experts.%u.%s", prefix, L, e, hf[which]);
    else
        snprintf(buf, n, "%s%u.mlp.experts.%u.%s", prefix, L, e, hf[which]);
    return buf;
}

const char *qck_shared_base(char *buf, size_t n, enum zmoe_weights_layout layout,
                            const char *prefix, uint32_t L, int which)
{
    static const char *hf[3] = {"gate_proj", "up_proj", "down_proj"};
    const char *mod = layout == ZMOE_LAYOUT_LLAMA4     ? "feed_forward.shared_expert"
                      : layout == ZMOE_LAYOUT_DEEPSEEK ? "mlp.shared_experts"
                                                       : "mlp.shared_expert";
    snprintf(buf, n, "%s%u.%s.%s", prefix, L, mod, hf[which]);
    return buf;
}

static float *randf(uint64_t n, double scale, enum zmoe_dtype dt, uint64_t *seed)
{
    float *v = xcalloc(n, sizeof *v);
    for (uint64_t i = 0; i < n; i++) {
        float x = (float)((2.0 * unif(seed) - 1.0) * scale);
        v[i] = dt == ZMOE_DTYPE_F16    ? zmoe_f16_to_f32(zmoe_f32_to_f16(x))
               : dt == ZMOE_DTYPE_BF16 ? zmoe_bf16_to_f32(zmoe_f32_to_bf16(x))
                                       : x;
    }
    return v;
}

/* One quantized linear: random codes, packed under `base`, dequantized back by quant_ref
 * into w (out x in). With act-order, *g_idx (when set) is the g_idx to use, else it
 * receives this one's: gate and up of an expert see the same input, so GPTQ's
 * activation order (argsort of the same Hessian diagonal) is the same for both, and the
 * device keeps one column permutation per expert (weights/quant.h). */
static void quant_linear(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                         uint64_t out, uint64_t in, float *w, uint64_t *seed, uint32_t **g_idx)
{
    struct qck_mat m;
    qck_mat_random(&m, sp, out, in, seed);
    if (m.g_idx && g_idx && *g_idx)
        memcpy(m.g_idx, *g_idx, in * sizeof *m.g_idx);
    else if (m.g_idx && g_idx) {
        *g_idx = xcalloc(in, sizeof **g_idx);
        memcpy(*g_idx, m.g_idx, in * sizeof *m.g_idx);
    }
    qck_add_linear(ck, base, sp, &m);
    qck_mat_free(&m);
    char msg[512];
    if (qck_dequant_linear(ck, base, sp, 1, out, in, w, msg, sizeof msg) != 0)
        tap_bail("qck_build_moe: %s: %s", base, msg);
}

static void float_linear(struct qck_ckpt *ck, const char *base, enum zmoe_dtype dt, uint64_t out,
                         uint64_t in, float *w, uint64_t *seed)
{
    float *v = randf(out * in, 1.0 / sqrt((double)in), dt, seed);
    char nm[320];
    name_of(nm, sizeof nm, base, "weight");
    qck_add_float(ck, nm, dt, v, 2, out, in);
    memcpy(w, v, out * in * sizeof *w);
    free(v);
}

int qck_build_moe(struct qck_ckpt *ck, const struct zmoe_config *cfg, const struct qck_spec *sp,
                  const char *prefix, uint64_t seed, struct zmoe_ref_weights *ref)
{
    const enum zmoe_weights_layout lay = cfg->weights.layout;
    if ((sp->format == QCK_MXFP4) != (lay == ZMOE_LAYOUT_GPT_OSS))
        return -1;
    const uint64_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    const uint64_t S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate;
    const enum zmoe_dtype fdt = cfg->dtype.weights;
    uint64_t s = seed;
    char nm[320];
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        struct zmoe_ref_weights *r = &ref[l];
        memset(r, 0, sizeof *r);
        float *t[ZMOE_TENSOR_COUNT] = {0};
        for (int k = 0; k < ZMOE_TENSOR_COUNT; k++)
            if (zmoe_tensor_present(cfg, (enum zmoe_tensor)k))
                t[k] = xcalloc(zmoe_tensor_elements(cfg, (enum zmoe_tensor)k), sizeof(float));
        /* router (float, as real quantized checkpoints keep it) */
        const char *router = lay == ZMOE_LAYOUT_MIXTRAL ? "block_sparse_moe.gate"
                             : lay == ZMOE_LAYOUT_LLAMA4 ? "feed_forward.router"
                             : lay == ZMOE_LAYOUT_GPT_OSS ? "mlp.router"
                                                          : "mlp.gate";
        float *v = randf(E * H, 1.0 / sqrt((double)H), fdt, &s);
        snprintf(nm, sizeof nm, "%s%u.%s.weight", prefix, l, router);
        qck_add_float(ck, nm, fdt, v, 2, E, H);
        memcpy(t[ZMOE_TENSOR_ROUTER_W], v, E * H * sizeof(float));
        free(v);
        if (cfg->router.bias) { /* GPT-OSS router bias, bf16 in the published files */
            v = randf(E, 0.1, ZMOE_DTYPE_BF16, &s);
            snprintf(nm, sizeof nm, "%s%u.%s.bias", prefix, l, router);
            qck_add_float(ck, nm, ZMOE_DTYPE_BF16, v, 1, E, 0);
            memcpy(t[ZMOE_TENSOR_ROUTER_B], v, E * sizeof(float));
            free(v);
        }
        if (cfg->router.score_correction_bias) {
            v = randf(E, 0.05, ZMOE_DTYPE_F32, &s);
            snprintf(nm, sizeof nm, "%s%u.mlp.gate.e_score_correction_bias", prefix, l);
            qck_add_float(ck, nm, ZMOE_DTYPE_F32, v, 1, E, 0);
            memcpy(t[ZMOE_TENSOR_SCORE_BIAS], v, E * sizeof(float));
            free(v);
        }
        if (lay == ZMOE_LAYOUT_GPT_OSS) {
            /* gate_up_proj: rows 2j gate, 2j + 1 up (always interleaved) */
            struct qck_mat *mg = xcalloc(E, sizeof *mg), *md = xcalloc(E, sizeof *md);
            for (uint64_t e = 0; e < E; e++) {
                qck_mat_random(&mg[e], sp, 2 * I, H, &s);
                qck_mat_random(&md[e], sp, H, I, &s);
            }
            char base[320], msg[512];
            snprintf(base, sizeof base, "%s%u.mlp.experts.gate_up_proj", prefix, l);
            qck_add_mxfp4(ck, base, mg, E);
            float *gu = xcalloc(E * 2 * I * H, sizeof *gu);
            if (qck_dequant_linear(ck, base, sp, E, 2 * I, H, gu, msg, sizeof msg) != 0)
                tap_bail("%s: %s", base, msg);
            for (uint64_t e = 0; e < E; e++)
                for (uint64_t row = 0; row < 2 * I; row++) {
                    uint64_t kr = (row % 2) * I + row / 2;
                    memcpy(&t[ZMOE_TENSOR_W13][(e * 2 * I + kr) * H], &gu[(e * 2 * I + row) * H],
                           H * sizeof(float));
                }
            free(gu);
            snprintf(base, sizeof base, "%s%u.mlp.experts.down_proj", prefix, l);
            qck_add_mxfp4(ck, base, md, E);
            if (qck_dequant_linear(ck, base, sp, E, H, I, t[ZMOE_TENSOR_W2], msg, sizeof msg) != 0)
                tap_bail("%s: %s", base, msg);
            for (uint64_t e = 0; e < E; e++) {
                qck_mat_free(&mg[e]);
                qck_mat_free(&md[e]);
            }
            free(mg);
            free(md);
            if (cfg->experts.bias) { /* bf16, gate_up bias interleaved like its rows */
                v = randf(E * 2 * I, 0.1, ZMOE_DTYPE_BF16, &s);
                snprintf(nm, sizeof nm, "%s%u.mlp.experts.gate_up_proj_bias", prefix, l);
                qck_add_float(ck, nm, ZMOE_DTYPE_BF16, v, 2, E, 2 * I);
                for (uint64_t e = 0; e < E; e++)
                    for (uint64_t c = 0; c < 2 * I; c++)
                        t[ZMOE_TENSOR_B13][e * 2 * I + (c % 2) * I + c / 2] = v[e * 2 * I + c];
                free(v);
                v = randf(E * H, 0.1, ZMOE_DTYPE_BF16, &s);
                snprintf(nm, sizeof nm, "%s%u.mlp.experts.down_proj_bias", prefix, l);
                qck_add_float(ck, nm, ZMOE_DTYPE_BF16, v, 2, E, H);
                memcpy(t[ZMOE_TENSOR_B2], v, E * H * sizeof(float));
                free(v);
            }
        } else {
            for (uint32_t e = 0; e < E; e++) {
                char base[320];
                float *w13 = t[ZMOE_TENSOR_W13] + (uint64_t)e * 2 * I * H;
                uint32_t *gidx = NULL; /* gate's, reused by up */
                quant_linear(ck, qck_expert_base(base, sizeof base, lay, prefix, l, e, 0), sp, I,
                             H, w13, &s, &gidx);
                quant_linear(ck, qck_expert_base(base, sizeof base, lay, prefix, l, e, 1), sp, I,
                             H, w13 + I * H, &s, &gidx);
                quant_linear(ck, qck_expert_base(base, sizeof base, lay, prefix, l, e, 2), sp, H,
                             I, t[ZMOE_TENSOR_W2] + (uint64_t)e * H * I, &s, NULL);
                free(gidx);
            }
            if (S) {
                char base[320];
                float *w13 = t[ZMOE_TENSOR_SHARED_W13], *w2 = t[ZMOE_TENSOR_SHARED_W2];
                uint32_t *gidx = NULL;
                for (int which = 0; which < 3; which++) {
                    qck_shared_base(base, sizeof base, lay, prefix, l, which);
                    uint64_t out = which == 2 ? H : S, in = which == 2 ? S : H;
                    float *w = which == 0 ? w13 : which == 1 ? w13 + S * H : w2;
                    if (sp->shared_float)
                        float_linear(ck, base, fdt, out, in, w, &s);
                    else
                        quant_linear(ck, base, sp, out, in, w, &s, which < 2 ? &gidx : NULL);
                }
                free(gidx);
                if (cfg->router.shared_expert_gate) {
                    v = randf(H, 1.0 / sqrt((double)H), fdt, &s);
                    snprintf(nm, sizeof nm, "%s%u.mlp.shared_expert_gate.weight", prefix, l);
                    qck_add_float(ck, nm, fdt, v, 2, 1, H);
                    memcpy(t[ZMOE_TENSOR_SHARED_GATE], v, H * sizeof(float));
                    free(v);
                }
            }
        }
        for (int k = 0; k < ZMOE_TENSOR_COUNT; k++)
            r->tensor[k] = t[k];
    }
    return 0;
}

void qck_ref_free(struct zmoe_ref_weights *ref, uint32_t layers)
{
    for (uint32_t l = 0; l < layers; l++)
        for (int k = 0; k < ZMOE_TENSOR_COUNT; k++) {
            free((void *)ref[l].tensor[k]);
            ref[l].tensor[k] = NULL;
        }
}

void qck_build_float(struct qck_ckpt *ck, const struct zmoe_config *cfg,
                     const struct zmoe_ref_weights *ref, const char *prefix, enum zmoe_dtype dt)
{
    const enum zmoe_weights_layout lay = cfg->weights.layout;
    const uint64_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    const uint64_t S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate;
    const bool fused = lay == ZMOE_LAYOUT_LLAMA4 || lay == ZMOE_LAYOUT_GPT_OSS;
    const bool oss = lay == ZMOE_LAYOUT_GPT_OSS;
    char nm[320], base[320];
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        const float *const *t = ref[l].tensor;
        const char *router = lay == ZMOE_LAYOUT_MIXTRAL ? "block_sparse_moe.gate"
                             : lay == ZMOE_LAYOUT_LLAMA4 ? "feed_forward.router"
                             : oss                       ? "mlp.router"
                                                         : "mlp.gate";
        snprintf(nm, sizeof nm, "%s%u.%s.weight", prefix, l, router);
        qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_ROUTER_W], 2, E, H);
        if (t[ZMOE_TENSOR_ROUTER_B]) {
            snprintf(nm, sizeof nm, "%s%u.%s.bias", prefix, l, router);
            qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_ROUTER_B], 1, E, 0);
        }
        if (t[ZMOE_TENSOR_SCORE_BIAS]) {
            snprintf(nm, sizeof nm, "%s%u.mlp.gate.e_score_correction_bias", prefix, l);
            qck_add_float(ck, nm, ZMOE_DTYPE_F32, t[ZMOE_TENSOR_SCORE_BIAS], 1, E, 0);
        }
        if (fused) {
            /* gate_up_proj[e][h][c]: kernel row c (concatenated) or, interleaved (gpt_oss),
             * gate row c/2 for even c and up row c/2 for odd c; down_proj[e][i][h] = W2[e][h][i] */
            const char *ff = oss ? "mlp" : "feed_forward";
            float *gu = xcalloc(E * H * 2 * I, sizeof *gu), *dn = xcalloc(E * I * H, sizeof *dn);
            for (uint64_t e = 0; e < E; e++)
                for (uint64_t h = 0; h < H; h++)
                    for (uint64_t c = 0; c < 2 * I; c++) {
                        uint64_t row = oss ? (c % 2) * I + c / 2 : c;
                        gu[(e * H + h) * 2 * I + c] = t[ZMOE_TENSOR_W13][(e * 2 * I + row) * H + h];
                    }
            for (uint64_t e = 0; e < E; e++)
                for (uint64_t i = 0; i < I; i++)
                    for (uint64_t h = 0; h < H; h++)
                        dn[(e * I + i) * H + h] = t[ZMOE_TENSOR_W2][(e * H + h) * I + i];
            snprintf(nm, sizeof nm, "%s%u.%s.experts.gate_up_proj", prefix, l, ff);
            struct stw_tensor *tt = qck_add(ck, nm, stw_dtype_name(dt), 3, E, H, 2 * I, 0,
                                            E * H * 2 * I * zmoe_dtype_size(dt));
            zmoe_dtype_convert((void *)tt->data, dt, gu, ZMOE_DTYPE_F32, E * H * 2 * I);
            snprintf(nm, sizeof nm, "%s%u.%s.experts.down_proj", prefix, l, ff);
            tt = qck_add(ck, nm, stw_dtype_name(dt), 3, E, I, H, 0, E * I * H * zmoe_dtype_size(dt));
            zmoe_dtype_convert((void *)tt->data, dt, dn, ZMOE_DTYPE_F32, E * I * H);
            if (t[ZMOE_TENSOR_B13]) {
                for (uint64_t e = 0; e < E; e++)
                    for (uint64_t c = 0; c < 2 * I; c++)
                        gu[e * 2 * I + c] = t[ZMOE_TENSOR_B13][e * 2 * I + (c % 2) * I + c / 2];
                snprintf(nm, sizeof nm, "%s%u.mlp.experts.gate_up_proj_bias", prefix, l);
                qck_add_float(ck, nm, dt, gu, 2, E, 2 * I);
                snprintf(nm, sizeof nm, "%s%u.mlp.experts.down_proj_bias", prefix, l);
                qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_B2], 2, E, H);
            }
            free(gu);
            free(dn);
        } else {
            for (uint32_t e = 0; e < E; e++) {
                const float *w13 = t[ZMOE_TENSOR_W13] + (uint64_t)e * 2 * I * H;
                for (int which = 0; which < 3; which++) {
                    qck_expert_base(base, sizeof base, lay, prefix, l, e, which);
                    name_of(nm, sizeof nm, base, "weight");
                    if (which < 2)
                        qck_add_float(ck, nm, dt, w13 + (uint64_t)which * I * H, 2, I, H);
                    else
                        qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_W2] + (uint64_t)e * H * I, 2, H, I);
                }
            }
        }
        if (S && !oss) {
            for (int which = 0; which < 3; which++) {
                qck_shared_base(base, sizeof base, lay, prefix, l, which);
                name_of(nm, sizeof nm, base, "weight");
                if (which < 2)
                    qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_SHARED_W13] + (uint64_t)which * S * H, 2,
                                  S, H);
                else
                    qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_SHARED_W2], 2, H, S);
            }
            if (t[ZMOE_TENSOR_SHARED_GATE]) {
                snprintf(nm, sizeof nm, "%s%u.mlp.shared_expert_gate.weight", prefix, l);
                qck_add_float(ck, nm, dt, t[ZMOE_TENSOR_SHARED_GATE], 2, 1, H);
            }
        }
    }
}
