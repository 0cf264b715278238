/* Quantized checkpoints through the loader (issue 13): for every packing, a checkpoint
 * is built from codes, scales, zeros and g_idx this test chose (packed by
 * tests/quant/qckpt.c the way each tool writes them), loaded through zmoe_weights_load
 * with a memory sink, and every kernel tensor's bytes are compared with the device
 * layout built here straight from the chosen values by weights/quant.h's definition
 * (codes words, scales, zeros, act-order perm; never through the loader's repack code).
 * Whole MoE checkpoints from qck_build_moe, dequantized from the loaded bytes by quant.h,
 * against reference/quant_ref's weights. Then every malformed-file class, each with its
 * message and no sink call, and a mutation sweep over every tensor. */
#include "weights/quant.h"
#include "weights/safetensors.h"
#include "weights/weights.h"
#include "tests/quant/qckpt.h"
#include "tests/tap.h"
#include "tests/weights/load_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* ------------------------------------------------------------------ configs */

/* GPT-OSS checkpoints here always have the router and expert biases. */
static struct zmoe_config geometry(enum zmoe_weights_layout lay, uint32_t E, uint32_t H,
                                   uint32_t I, uint32_t S, uint32_t layers)
{
    struct zmoe_config c = load_layout_config(lay, E, H, I, layers);
    c.model.shared_experts = S ? 1 : 0;
    c.model.shared_intermediate = S;
    c.weights.seed = 77;
    if (lay == ZMOE_LAYOUT_GPT_OSS) {
        c.router.bias = true;
        c.experts.bias = true;
    }
    return c;
}

/* The [quant] keys of a spec, as a config file would say them. */
static void set_quant(struct zmoe_config *c, const struct qck_spec *sp)
{
    static const enum zmoe_quant_packing pack[] = {
        [QCK_GPTQ] = ZMOE_PACK_GPTQ, [QCK_AWQ] = ZMOE_PACK_AWQ,
        [QCK_CT_PACKED] = ZMOE_PACK_COMPRESSED_TENSORS, [QCK_CT_INT8] = ZMOE_PACK_COMPRESSED_TENSORS,
        [QCK_FP8_NATIVE] = ZMOE_PACK_NATIVE, [QCK_FP8_CT] = ZMOE_PACK_COMPRESSED_TENSORS,
        [QCK_MXFP4] = ZMOE_PACK_NATIVE};
    const bool fp8 = sp->format == QCK_FP8_NATIVE || sp->format == QCK_FP8_CT;
    c->quant.format = sp->format == QCK_MXFP4 ? ZMOE_QUANT_MXFP4
                      : fp8                   ? ZMOE_QUANT_FP8
                      : qck_bits(sp) == 4     ? ZMOE_QUANT_INT4
                                              : ZMOE_QUANT_INT8;
    c->quant.packing = pack[sp->format];
    c->quant.group_size = sp->format == QCK_MXFP4 ? 32 : sp->group;
    c->quant.zero_points = sp->zero_points || sp->format == QCK_AWQ;
    c->quant.act_order = sp->act_order;
    const char *sd = qck_scale_dtype(sp);
    c->quant.scale_dtype = sp->format == QCK_MXFP4   ? ZMOE_SCALE_E8M0
                           : strcmp(sd, "F32") == 0  ? ZMOE_SCALE_F32
                           : strcmp(sd, "BF16") == 0 ? ZMOE_SCALE_BF16
                                                     : ZMOE_SCALE_F16;
    c->quant.shared_experts = !sp->shared_float;
}

/* ------------------------------------------------------------------ checkpoints */

#define MAXE 8
#define MAXL 2
/* What the test chose for one layer: the quantized matrices in checkpoint orientation
 * (W[out][in]) and the float tensors' values (already exact in their file dtype). */
struct layer {
    struct qck_mat gate[MAXE], up[MAXE], down[MAXE]; /* gpt_oss: gate[e] = gate_up [2I][H] */
    struct qck_mat sq[3];                            /* shared gate, up, down (quantized) */
    float *router, *shared[3], *rbias, *b13, *b2;    /* b13 in kernel order (gate, up) */
};

struct model {
    struct zmoe_config cfg;
    struct qck_spec sp;
    bool i8_zero_point; /* compressed-tensors < 0.10: zero point I8 [out, ngroups] unpacked */
    struct layer l[MAXL];
    struct qck_ckpt ck;
};

static uint64_t seed_state = 0x5eed;

/* Random floats exact in dt. */
static float *randf(uint64_t n, enum zmoe_dtype dt)
{
    float *v = calloc(n, sizeof *v);
    if (!v)
        tap_bail("out of memory");
    for (uint64_t i = 0; i < n; i++) {
        seed_state = seed_state * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((double)(seed_state >> 40) / (double)(1ull << 24) - 0.5);
    }
    unsigned char *tmp = malloc(n * 4);
    zmoe_dtype_convert(tmp, dt, v, ZMOE_DTYPE_F32, n);
    zmoe_dtype_convert(v, ZMOE_DTYPE_F32, tmp, dt, n);
    free(tmp);
    return v;
}

static const char *router_name(enum zmoe_weights_layout lay)
{
    switch (lay) {
    case ZMOE_LAYOUT_LLAMA4: return "feed_forward.router.weight";
    case ZMOE_LAYOUT_MIXTRAL: return "block_sparse_moe.gate.weight";
    case ZMOE_LAYOUT_GPT_OSS: return "mlp.router.weight";
    default: return "mlp.gate.weight";
    }
}

/* Random codes for one linear. Compressed-tensors act-order (actorder = group) codes
 * come with a g_idx like GPTQ's, so they are chosen under the GPTQ spec (without zeros
 * when symmetric: compressed-tensors stores none then). */
static void rand_mat(const struct model *m, struct qck_mat *x, uint64_t out, uint64_t in)
{
    if (m->sp.format != QCK_CT_PACKED || !m->sp.act_order) {
        qck_mat_random(x, &m->sp, out, in, &seed_state);
        return;
    }
    struct qck_spec g = m->sp;
    g.format = QCK_GPTQ;
    qck_mat_random(x, &g, out, in, &seed_state);
    if (!m->sp.zero_points) {
        free(x->z);
        x->z = NULL;
    }
}

/* Packs one linear; compressed-tensors act-order adds weight_g_idx (I32 [in]). */
static void add_lin(struct model *m, const char *base, const struct qck_mat *x)
{
    qck_add_linear(&m->ck, base, &m->sp, x);
    char nm[400];
    if (m->i8_zero_point && x->z) { /* the signed zero, one byte per (row, group) */
        snprintf(nm, sizeof nm, "%s.weight_zero_point", base);
        qck_remove(&m->ck, nm);
        const uint64_t ng = x->in / x->group;
        unsigned char *z = (void *)qck_add(&m->ck, nm, "I8", 2, x->out, ng, 0, 0, x->out * ng)->data;
        for (uint64_t i = 0; i < x->out * ng; i++)
            z[i] = (unsigned char)(int8_t)((int)x->z[i] - (1 << (qck_bits(&m->sp) - 1)));
    }
    if (m->sp.format != QCK_CT_PACKED || !m->sp.act_order)
        return;
    snprintf(nm, sizeof nm, "%s.weight_g_idx", base);
    if (qck_find(&m->ck, nm)) /* newer qckpt writes it itself */
        return;
    unsigned char *g = (void *)qck_add(&m->ck, nm, "I32", 1, x->in, 0, 0, 0, x->in * 4)->data;
    for (uint64_t i = 0; i < x->in; i++)
        memcpy(g + 4 * i, &x->g_idx[i], 4);
}

/* Builds the checkpoint of m->cfg (layers under "model.layers.", checkpoint layer L = 2l+1
 * so the loader's layer discovery is exercised) with the experts quantized as m->sp. */
static void build(struct model *m)
{
    const struct zmoe_config *c = &m->cfg;
    const enum zmoe_weights_layout lay = c->weights.layout;
    const uint64_t E = c->model.experts, H = c->model.hidden, I = c->model.intermediate;
    const uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate;
    const enum zmoe_dtype dt = c->dtype.weights;
    const char *P = "model.layers.";
    char nm[400], base[320];
    memset(&m->ck, 0, sizeof m->ck);
    for (uint32_t l = 0; l < c->model.layers; l++) {
        struct layer *y = &m->l[l];
        const uint32_t L = 2 * l + 1;
        memset(y, 0, sizeof *y);
        y->router = randf(E * H, dt);
        snprintf(nm, sizeof nm, "%s%u.%s", P, L, router_name(lay));
        qck_add_float(&m->ck, nm, dt, y->router, 2, E, H);
        if (lay == ZMOE_LAYOUT_GPT_OSS) {
            for (uint64_t e = 0; e < E; e++) {
                qck_mat_random(&y->gate[e], &m->sp, 2 * I, H, &seed_state);
                qck_mat_random(&y->down[e], &m->sp, H, I, &seed_state);
            }
            snprintf(nm, sizeof nm, "%s%u.mlp.experts.gate_up_proj", P, L);
            qck_add_mxfp4(&m->ck, nm, y->gate, E);
            snprintf(nm, sizeof nm, "%s%u.mlp.experts.down_proj", P, L);
            qck_add_mxfp4(&m->ck, nm, y->down, E);
            /* bf16 biases: router [E]; gate_up [E][2I] interleaved in the file */
            y->rbias = randf(E, ZMOE_DTYPE_BF16);
            y->b13 = randf(E * 2 * I, ZMOE_DTYPE_BF16);
            y->b2 = randf(E * H, ZMOE_DTYPE_BF16);
            float *il = malloc(E * 2 * I * sizeof *il);
            for (uint64_t e = 0; e < E; e++)
                for (uint64_t j = 0; j < 2 * I; j++)
                    il[e * 2 * I + j] = y->b13[e * 2 * I + (j % 2) * I + j / 2];
            snprintf(nm, sizeof nm, "%s%u.mlp.router.bias", P, L);
            qck_add_float(&m->ck, nm, ZMOE_DTYPE_BF16, y->rbias, 1, E, 0);
            snprintf(nm, sizeof nm, "%s%u.mlp.experts.gate_up_proj_bias", P, L);
            qck_add_float(&m->ck, nm, ZMOE_DTYPE_BF16, il, 2, E, 2 * I);
            snprintf(nm, sizeof nm, "%s%u.mlp.experts.down_proj_bias", P, L);
            qck_add_float(&m->ck, nm, ZMOE_DTYPE_BF16, y->b2, 2, E, H);
            free(il);
            continue;
        }
        /* experts in reverse order: the loader must not depend on file order */
        for (uint64_t e = E; e-- > 0;) {
            rand_mat(m, &y->gate[e], I, H);
            rand_mat(m, &y->up[e], I, H);
            rand_mat(m, &y->down[e], H, I);
            if (m->sp.act_order) /* one permutation per expert: up shares gate's g_idx */
                memcpy(y->up[e].g_idx, y->gate[e].g_idx, H * sizeof *y->up[e].g_idx);
            for (int w = 0; w < 3; w++)
                add_lin(m, qck_expert_base(base, sizeof base, lay, P, L, (uint32_t)e, w),
                        w == 0 ? &y->gate[e] : w == 1 ? &y->up[e] : &y->down[e]);
        }
        for (int w = 0; S && w < 3; w++) {
            const uint64_t out = w == 2 ? H : S, in = w == 2 ? S : H;
            qck_shared_base(base, sizeof base, lay, P, L, w);
            if (m->sp.shared_float) {
                y->shared[w] = randf(out * in, dt);
                snprintf(nm, sizeof nm, "%s.weight", base);
                qck_add_float(&m->ck, nm, dt, y->shared[w], 2, out, in);
            } else {
                rand_mat(m, &y->sq[w], out, in);
                if (w == 1 && m->sp.act_order)
                    memcpy(y->sq[1].g_idx, y->sq[0].g_idx, H * sizeof *y->sq[1].g_idx);
                add_lin(m, base, &y->sq[w]);
            }
        }
    }
}

static void model_free(struct model *m)
{
    for (uint32_t l = 0; l < m->cfg.model.layers; l++) {
        struct layer *y = &m->l[l];
        for (int e = 0; e < MAXE; e++) {
            qck_mat_free(&y->gate[e]);
            qck_mat_free(&y->up[e]);
            qck_mat_free(&y->down[e]);
        }
        for (int w = 0; w < 3; w++) {
            qck_mat_free(&y->sq[w]);
            free(y->shared[w]);
        }
        free(y->router);
        free(y->rbias);
        free(y->b13);
        free(y->b2);
    }
    qck_free(&m->ck);
}

/* ------------------------------------------------------------------ expected bytes */

/* Device row r of quantized tensor t (weights/quant.h's row order) comes from which
 * chosen matrix and row; *set = its act-order permutation set. */
static const struct qck_mat *row_src(const struct model *m, const struct layer *y,
                                     enum zmoe_tensor t, uint64_t r, uint64_t *row, uint64_t *set)
{
    const uint64_t H = m->cfg.model.hidden, I = m->cfg.model.intermediate;
    const uint64_t S = (uint64_t)m->cfg.model.shared_experts * m->cfg.model.shared_intermediate;
    const bool oss = m->cfg.weights.layout == ZMOE_LAYOUT_GPT_OSS;
    *set = 0;
    switch (t) {
    case ZMOE_TENSOR_W13: {
        const uint64_t e = r / (2 * I), j = r % (2 * I);
        *set = e;
        if (oss) { /* gate j is checkpoint row 2j, up j row 2j + 1 */
            *row = j < I ? 2 * j : 2 * (j - I) + 1;
            return &y->gate[e];
        }
        *row = j % I;
        return j < I ? &y->gate[e] : &y->up[e];
    }
    case ZMOE_TENSOR_W2:
        *set = r / H;
        *row = r % H;
        return &y->down[r / H];
    case ZMOE_TENSOR_SHARED_W13:
        *row = r % S;
        return r < S ? &y->sq[0] : &y->sq[1];
    default:
        *row = r;
        return &y->sq[2];
    }
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* The device bytes of quantized tensor t by weights/quant.h: codes, scales, zeros, perm. */
static unsigned char *expect_quant(const struct model *m, const struct layer *y,
                                   enum zmoe_tensor t, const struct zmoe_qmatrix *q)
{
    unsigned char *buf = calloc(1, q->bytes);
    const uint64_t n = q->cols, per = 32 / q->bits, words = n / per, ng = q->groups_per_row;
    uint32_t *perm = calloc(q->perm_sets * n + 1, sizeof *perm);
    uint64_t row, set;
    /* act-order: columns sorted stably by g_idx, written as "for each group, its columns
     * in ascending order" (not the loader's counting sort) */
    for (uint64_t p = 0; q->has_perm && p < q->perm_sets; p++) {
        const struct qck_mat *mt = NULL;
        for (uint64_t r = 0; r < q->rows && !mt; r++) {
            const struct qck_mat *x = row_src(m, y, t, r, &row, &set);
            if (set == p)
                mt = x;
        }
        uint64_t k = 0;
        for (uint64_t g = 0; g < ng; g++)
            for (uint64_t i = 0; i < n; i++)
                if (mt->g_idx[i] == g)
                    perm[p * n + k++] = (uint32_t)i;
        if (k != n)
            tap_bail("expect: g_idx of set %llu is not a grouping", (unsigned long long)p);
    }
    for (uint64_t r = 0; r < q->rows; r++) {
        const struct qck_mat *mt = row_src(m, y, t, r, &row, &set);
        for (uint64_t c = 0; c < n; c++) {
            const uint64_t col = q->has_perm ? perm[set * n + c] : c;
            uint32_t w;
            unsigned char *at = buf + q->codes_offset + (r * words + c / per) * 4;
            memcpy(&w, at, 4);
            w |= (uint32_t)mt->q[row * n + col] << ((c % per) * q->bits);
            put_u32(at, w);
        }
    }
    const uint32_t ss = zmoe_scale_size(q->scale_dtype);
    for (uint64_t rs = 0; rs < q->rows / q->row_block; rs++) {
        const struct qck_mat *mt = row_src(m, y, t, rs * q->row_block, &row, &set);
        for (uint64_t g = 0; g < ng; g++) {
            unsigned char *at = buf + q->scales_offset + (rs * ng + g) * ss;
            if (q->scale_dtype == ZMOE_SCALE_E8M0) {
                *at = mt->e[row * ng + g];
                continue;
            }
            const float s = mt->s[(row / q->row_block) * ng + g];
            if (q->scale_dtype == ZMOE_SCALE_F32) {
                memcpy(at, &s, 4);
            } else {
                uint16_t h = q->scale_dtype == ZMOE_SCALE_F16 ? zmoe_f32_to_f16(s) : zmoe_f32_to_bf16(s);
                memcpy(at, &h, 2);
            }
        }
    }
    for (uint64_t r = 0; q->has_zeros && r < q->rows; r++) {
        const struct qck_mat *mt = row_src(m, y, t, r, &row, &set);
        for (uint64_t g = 0; g < ng; g++)
            buf[q->zeros_offset + r * ng + g] = (unsigned char)mt->z[row * ng + g];
    }
    for (uint64_t i = 0; q->has_perm && i < q->perm_sets * n; i++)
        put_u32(buf + q->perm_offset + i * 4, perm[i]);
    free(perm);
    return buf;
}

/* Float tensors: the chosen values in the kernel dtype (exact: chosen in the file dtype). */
static unsigned char *expect_float(const struct model *m, const struct layer *y, enum zmoe_tensor t)
{
    const struct zmoe_config *c = &m->cfg;
    const uint64_t n = zmoe_tensor_elements(c, t);
    const enum zmoe_dtype kdt = zmoe_tensor_dtype(c, t);
    const uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate, H = c->model.hidden;
    float *v = calloc(n, sizeof *v);
    switch (t) {
    case ZMOE_TENSOR_ROUTER_W: memcpy(v, y->router, n * 4); break;
    case ZMOE_TENSOR_ROUTER_B: memcpy(v, y->rbias, n * 4); break;
    case ZMOE_TENSOR_B13: memcpy(v, y->b13, n * 4); break;
    case ZMOE_TENSOR_B2: memcpy(v, y->b2, n * 4); break;
    case ZMOE_TENSOR_SHARED_W13:
        memcpy(v, y->shared[0], S * H * 4);
        memcpy(v + S * H, y->shared[1], S * H * 4);
        break;
    case ZMOE_TENSOR_SHARED_W2: memcpy(v, y->shared[2], n * 4); break;
    default: tap_bail("expect_float: tensor %s", zmoe_tensor_name(t));
    }
    unsigned char *buf = malloc(n * 4 + 1);
    zmoe_dtype_convert(buf, kdt, v, ZMOE_DTYPE_F32, n);
    free(v);
    return buf;
}

/* ------------------------------------------------------------------ round trips */

static const char *part_at(const struct zmoe_qmatrix *q, uint64_t off)
{
    if (off < q->codes_offset + q->codes_bytes)
        return "codes";
    if (off < q->scales_offset + q->scales_bytes)
        return "scales";
    if (q->has_zeros && off < q->zeros_offset + q->zeros_bytes)
        return "zeros";
    return q->has_perm && off >= q->perm_offset ? "perm" : "padding";
}

/* Writes m's checkpoint (one file or `shards`), loads it with `staging` bytes of
 * staging, and compares every tensor of every layer. */
static void roundtrip(const char *what, struct model *m, unsigned shards, size_t staging)
{
    char stem[64];
    snprintf(stem, sizeof stem, "rt%d", tap_run_count_);
    snprintf(m->cfg.weights.file, sizeof m->cfg.weights.file, "%s",
             qck_write(&m->ck, tmpdir, stem, shards));
    struct mem_sink s;
    mem_sink_init(&s, &m->cfg);
    unsigned char *stg = malloc(staging);
    char report[512] = "";
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_weights_load(&m->cfg, stg, staging, mem_sink_write, &s, report,
                                            sizeof report, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: load (%u shard%s, staging %zu)", what, shards ? shards : 1,
                shards > 1 ? "s" : "", staging))
        tap_diag("  status %d: %s", (int)st, err.msg);
    TAP_OK(s.bad == 0 && s.max_chunk <= staging, "%s: chunks in order, in bounds, <= staging", what);
    int tensors = 0, quant = 0, eq = 1;
    for (uint32_t l = 0; l < m->cfg.model.layers; l++)
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            const enum zmoe_tensor t = (enum zmoe_tensor)ti;
            if (!zmoe_tensor_present(&m->cfg, t))
                continue;
            struct zmoe_qmatrix q;
            const bool isq = zmoe_quant_matrix(&m->cfg, t, &q);
            unsigned char *want = isq ? expect_quant(m, &m->l[l], t, &q)
                                      : expect_float(m, &m->l[l], t);
            tensors++;
            quant += isq;
            const uint64_t size = s.size[l][t];
            if (s.next[l][t] != size || memcmp(want, s.buf[l][t], size) != 0) {
                uint64_t k = 0;
                while (k < size && want[k] == s.buf[l][t][k])
                    k++;
                tap_diag("  layer %u %s: %llu of %llu bytes sunk; first difference at byte %llu "
                         "(%s): got 0x%02x, want 0x%02x", l, zmoe_tensor_name(t),
                         (unsigned long long)s.next[l][t], (unsigned long long)size,
                         (unsigned long long)k, isq ? part_at(&q, k) : "float",
                         k < size ? s.buf[l][t][k] : 0, k < size ? want[k] : 0);
                eq = 0;
            }
            free(want);
        }
    TAP_OK(eq && quant >= 2, "%s: %d tensors (%d quantized) equal the device layout of the "
           "chosen codes", what, tensors, quant);
    free(stg);
    mem_sink_free(&s);
}

struct rt_case {
    const char *what;
    enum zmoe_weights_layout layout;
    struct qck_spec sp;
    uint32_t E, H, I, S, layers;
    unsigned shards;
    size_t staging;
    bool i8_zero_point;
};

static void roundtrips(void)
{
    const enum zmoe_weights_layout QW = ZMOE_LAYOUT_QWEN_MOE, MX = ZMOE_LAYOUT_MIXTRAL,
                                   DS = ZMOE_LAYOUT_DEEPSEEK, L4 = ZMOE_LAYOUT_LLAMA4,
                                   OSS = ZMOE_LAYOUT_GPT_OSS;
    const struct rt_case cases[] = {
        /* compressed-tensors pack-quantized int4: every per-expert layout */
        {"ct int4 g32 sym qwen_moe", QW, {QCK_CT_PACKED, 4, 32, false, false, NULL, false}, 4, 64, 32, 64, 2, 1, 4096},
        {"ct int4 g32 asym qwen_moe, sharded", QW, {QCK_CT_PACKED, 4, 32, true, false, NULL, false}, 4, 64, 32, 64, 2, 3, 77},
        {"ct int4 per-channel asym mixtral", MX, {QCK_CT_PACKED, 4, 0, true, false, "BF16", false}, 4, 64, 32, 0, 1, 1, 64},
        {"ct int4 g64 sym deepseek, float shared", DS, {QCK_CT_PACKED, 4, 64, false, false, NULL, true}, 4, 128, 64, 64, 2, 2, 1000},
        {"ct int4 g32 asym llama4 (llm-compressor)", L4, {QCK_CT_PACKED, 4, 32, true, false, "F32", false}, 4, 64, 64, 32, 1, 1, 65536},
        {"ct int4 g32 sym act-order (weight_g_idx) qwen_moe", QW, {QCK_CT_PACKED, 4, 32, false, true, NULL, false}, 2, 128, 64, 64, 1, 1, 4096},
        {"ct int4 g32 asym act-order (weight_g_idx) llama4, sharded", L4, {QCK_CT_PACKED, 4, 32, true, true, NULL, false}, 2, 64, 64, 32, 1, 2, 64},
        {"ct int4 g32 asym, I8 zero point (< 0.10) qwen_moe", QW, {QCK_CT_PACKED, 4, 32, true, false, NULL, false}, 4, 64, 32, 64, 1, 2, 77, true},
        {"ct int8 pack-quantized per-channel asym, I8 zero point mixtral", MX, {QCK_CT_PACKED, 8, 0, true, false, NULL, false}, 2, 64, 32, 0, 1, 1, 4096, true},
        {"ct int8 pack-quantized asym qwen_moe", QW, {QCK_CT_PACKED, 8, 32, true, false, NULL, false}, 2, 64, 32, 32, 1, 1, 200},
        {"ct int8 int-quantized per-channel sym mixtral", MX, {QCK_CT_INT8, 8, 0, false, false, NULL, false}, 4, 64, 32, 0, 1, 2, 4096},
        {"ct int8 int-quantized g32 asym deepseek", DS, {QCK_CT_INT8, 8, 32, true, false, NULL, false}, 2, 64, 32, 64, 1, 1, 64},
        /* GPTQ: sym/asym x act-order, int4 and int8 */
        {"gptq int4 g32 sym qwen_moe", QW, {QCK_GPTQ, 4, 32, false, false, NULL, false}, 4, 64, 32, 64, 2, 1, 4096},
        {"gptq int4 g32 asym mixtral", MX, {QCK_GPTQ, 4, 32, true, false, NULL, false}, 4, 64, 32, 0, 1, 1, 77},
        {"gptq int4 g32 sym act-order qwen_moe, sharded", QW, {QCK_GPTQ, 4, 32, false, true, NULL, false}, 4, 128, 64, 64, 2, 3, 64},
        {"gptq int4 g32 asym act-order deepseek", DS, {QCK_GPTQ, 4, 32, true, true, "BF16", false}, 2, 128, 64, 64, 1, 1, 4096},
        {"gptq int4 per-channel sym llama4", L4, {QCK_GPTQ, 4, 0, false, false, NULL, false}, 2, 64, 32, 32, 1, 1, 333},
        {"gptq int8 g32 asym act-order mixtral", MX, {QCK_GPTQ, 8, 32, true, true, NULL, false}, 2, 64, 64, 0, 1, 1, 4096},
        {"gptq int8 g64 sym qwen_moe", QW, {QCK_GPTQ, 8, 64, false, false, NULL, false}, 2, 128, 64, 64, 1, 2, 64},
        /* AWQ GEMM */
        {"awq int4 g32 mixtral", MX, {QCK_AWQ, 4, 32, true, false, NULL, false}, 4, 64, 32, 0, 2, 1, 4096},
        {"awq int4 g64 qwen_moe, sharded", QW, {QCK_AWQ, 4, 64, true, false, NULL, false}, 2, 128, 64, 64, 1, 2, 64},
        /* fp8: native 128x128 blocks (DeepSeek-V3 / Qwen3-FP8), compressed-tensors channel */
        {"fp8 native blocks deepseek", DS, {QCK_FP8_NATIVE, 8, 128, false, false, NULL, false}, 2, 256, 128, 128, 1, 1, 4096},
        {"fp8 native blocks qwen_moe, float shared, sharded", QW, {QCK_FP8_NATIVE, 8, 128, false, false, NULL, true}, 2, 128, 256, 128, 2, 2, 100},
        {"fp8 ct per-channel qwen_moe", QW, {QCK_FP8_CT, 8, 0, false, false, NULL, false}, 4, 64, 32, 32, 1, 1, 64},
        {"fp8 ct blocks bf16 scales mixtral", MX, {QCK_FP8_CT, 8, 128, false, false, "BF16", false}, 2, 128, 128, 0, 1, 1, 4096},
        /* GPT-OSS MXFP4 as published, bf16 biases */
        {"mxfp4 gpt_oss", OSS, {QCK_MXFP4, 4, 32, false, false, NULL, false}, 4, 64, 32, 0, 2, 1, 4096},
        {"mxfp4 gpt_oss, sharded", OSS, {QCK_MXFP4, 4, 32, false, false, NULL, false}, 2, 64, 64, 0, 1, 3, 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rt_case *k = &cases[i];
        static struct model m;
        m.cfg = geometry(k->layout, k->E, k->H, k->I, k->S, k->layers);
        m.sp = k->sp;
        m.i8_zero_point = k->i8_zero_point;
        set_quant(&m.cfg, &m.sp);
        build(&m);
        m.i8_zero_point = false;
        roundtrip(k->what, &m, k->shards, k->staging);
        model_free(&m);
    }
}

/* ------------------------------------------------------------------ against the reference */

/* Value (r, c) of the device matrix by weights/quant.h: column c' of expert p reads
 * checkpoint column perm[c'] (returned in *col). */
static float device_value(const unsigned char *buf, const struct zmoe_qmatrix *q, uint64_t r,
                          uint64_t c, uint64_t *col)
{
    const uint64_t per = 32 / q->bits, ng = q->groups_per_row, n = q->cols;
    uint32_t w;
    memcpy(&w, buf + q->codes_offset + (r * (n / per) + c / per) * 4, 4);
    const uint32_t code = (w >> ((c % per) * q->bits)) & ((1u << q->bits) - 1u);
    const uint64_t si = (r / q->row_block) * ng + c / q->group;
    const unsigned char *sp = buf + q->scales_offset + si * zmoe_scale_size(q->scale_dtype);
    *col = c;
    if (q->has_perm) {
        uint32_t pc;
        memcpy(&pc, buf + q->perm_offset + ((r / (q->rows / q->perm_sets)) * n + c) * 4, 4);
        *col = pc;
    }
    if (q->format == ZMOE_QUANT_MXFP4)
        return zmoe_qref_e2m1((uint8_t)code) * zmoe_qref_e8m0(*sp);
    float s;
    uint16_t h;
    switch (q->scale_dtype) {
    case ZMOE_SCALE_F32: memcpy(&s, sp, 4); break;
    case ZMOE_SCALE_F16: memcpy(&h, sp, 2); s = zmoe_f16_to_f32(h); break;
    default: memcpy(&h, sp, 2); s = zmoe_bf16_to_f32(h); break;
    }
    if (q->format == ZMOE_QUANT_FP8)
        return zmoe_qref_e4m3((uint8_t)code) * s;
    const int z = q->has_zeros ? buf[q->zeros_offset + r * ng + c / q->group] : 1 << (q->bits - 1);
    return (float)((int)code - z) * s;
}

/* Whole MoE checkpoints from qck_build_moe (the test writer's own layer layout, router,
 * biases and shared experts): every loaded tensor, dequantized by quant.h, equals the
 * f32 kernel-layout weights reference/quant_ref computed from the written tensors. */
static void against_reference(void)
{
    const struct {
        const char *what;
        enum zmoe_weights_layout layout;
        struct qck_spec sp;
        uint32_t E, H, I, S;
    } cases[] = {
        {"qwen_moe gptq int4 asym", ZMOE_LAYOUT_QWEN_MOE, {QCK_GPTQ, 4, 32, true, false, NULL, false}, 4, 64, 32, 64},
        {"mixtral awq int4", ZMOE_LAYOUT_MIXTRAL, {QCK_AWQ, 4, 32, true, false, NULL, false}, 4, 64, 32, 0},
        {"llama4 ct int4 sym", ZMOE_LAYOUT_LLAMA4, {QCK_CT_PACKED, 4, 32, false, false, NULL, false}, 2, 64, 32, 32},
        {"deepseek ct int8 asym, float shared", ZMOE_LAYOUT_DEEPSEEK, {QCK_CT_INT8, 8, 32, true, false, NULL, true}, 2, 64, 32, 64},
        {"deepseek-v3 fp8 native blocks (score bias)", ZMOE_LAYOUT_DEEPSEEK, {QCK_FP8_NATIVE, 8, 128, false, false, NULL, false}, 2, 128, 128, 128},
        {"qwen_moe fp8 ct channel", ZMOE_LAYOUT_QWEN_MOE, {QCK_FP8_CT, 8, 0, false, false, "BF16", false}, 2, 64, 32, 32},
        {"gpt_oss mxfp4", ZMOE_LAYOUT_GPT_OSS, {QCK_MXFP4, 4, 32, false, false, NULL, false}, 4, 64, 32, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct zmoe_config c = geometry(cases[i].layout, cases[i].E, cases[i].H, cases[i].I,
                                        cases[i].S, 2);
        if (cases[i].layout == ZMOE_LAYOUT_QWEN_MOE)
            c.router.shared_expert_gate = true;
        if (cases[i].sp.format == QCK_FP8_NATIVE) { /* DeepSeek-V3 routing: sigmoid + bias */
            c.router.scoring = ZMOE_SCORING_SIGMOID;
            c.router.score_correction_bias = true;
        }
        set_quant(&c, &cases[i].sp);
        struct qck_ckpt ck = {0};
        struct zmoe_ref_weights ref[2];
        if (qck_build_moe(&ck, &c, &cases[i].sp, "model.layers.", 99 + i, ref) != 0)
            tap_bail("qck_build_moe: %s", cases[i].what);
        char stem[64];
        snprintf(stem, sizeof stem, "ref%zu", i);
        snprintf(c.weights.file, sizeof c.weights.file, "%s", qck_write(&ck, tmpdir, stem, 2));
        struct mem_sink s;
        mem_sink_init(&s, &c);
        unsigned char stg[1000];
        struct zmoe_error err = {{0}};
        enum zmoe_status st =
            zmoe_weights_load(&c, stg, sizeof stg, mem_sink_write, &s, NULL, 0, &err);
        if (!TAP_OK(st == ZMOE_OK && s.bad == 0, "reference %s: load", cases[i].what))
            tap_diag("  status %d: %s", (int)st, err.msg);
        uint64_t checked = 0, bad = 0;
        for (uint32_t l = 0; l < 2 && st == ZMOE_OK; l++)
            for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
                const enum zmoe_tensor t = (enum zmoe_tensor)ti;
                if (!zmoe_tensor_present(&c, t))
                    continue;
                const float *want = ref[l].tensor[t];
                struct zmoe_qmatrix q;
                if (zmoe_quant_matrix(&c, t, &q)) {
                    for (uint64_t r = 0; r < q.rows; r++)
                        for (uint64_t k = 0; k < q.cols; k++, checked++) {
                            uint64_t col;
                            const float v = device_value(s.buf[l][t], &q, r, k, &col);
                            if (memcmp(&v, &want[r * q.cols + col], 4) != 0 && bad++ < 3)
                                tap_diag("  layer %u %s (%llu, %llu): %.9g, reference %.9g", l,
                                         zmoe_tensor_name(t), (unsigned long long)r,
                                         (unsigned long long)k, v, want[r * q.cols + col]);
                        }
                    continue;
                }
                const uint64_t n = zmoe_tensor_elements(&c, t);
                float *v = malloc(n * sizeof *v);
                zmoe_dtype_convert(v, ZMOE_DTYPE_F32, s.buf[l][t], zmoe_tensor_dtype(&c, t), n);
                for (uint64_t k = 0; k < n; k++, checked++)
                    if (memcmp(&v[k], &want[k], 4) != 0 && bad++ < 3)
                        tap_diag("  layer %u %s [%llu]: %.9g, reference %.9g", l,
                                 zmoe_tensor_name(t), (unsigned long long)k, v[k], want[k]);
                free(v);
            }
        TAP_OK(st == ZMOE_OK && bad == 0 && checked > 0,
               "reference %s: %llu loaded values equal quant_ref's exactly", cases[i].what,
               (unsigned long long)checked);
        mem_sink_free(&s);
        qck_ref_free(ref, 2);
        qck_free(&ck);
    }
}

/* ------------------------------------------------------------------ malformed files */

static void expect_fail(const char *what, struct model *m, enum zmoe_status status,
                        const char *needle)
{
    char stem[64];
    snprintf(stem, sizeof stem, "bad%d", tap_run_count_);
    snprintf(m->cfg.weights.file, sizeof m->cfg.weights.file, "%s",
             qck_write(&m->ck, tmpdir, stem, 1));
    struct mem_sink s;
    mem_sink_init(&s, &m->cfg);
    unsigned char stg[4096];
    struct zmoe_error err = {{0}};
    enum zmoe_status st =
        zmoe_weights_load(&m->cfg, stg, sizeof stg, mem_sink_write, &s, NULL, 0, &err);
    if (!TAP_OK(st == status && strstr(err.msg, needle) != NULL, "%s: %s", what, err.msg))
        tap_diag("  got status %d, want %d with \"%s\"", (int)st, (int)status, needle);
    TAP_EQ_INT(s.calls, 0, "%s: nothing reached the sink", what);
    mem_sink_free(&s);
}

static struct stw_tensor *must_find(struct model *m, const char *name)
{
    struct stw_tensor *t = qck_find(&m->ck, name);
    if (!t)
        tap_bail("no tensor %s", name);
    return t;
}

static void set32(struct stw_tensor *t, uint64_t i, uint32_t v)
{
    memcpy((unsigned char *)t->data + i * 4, &v, 4);
}

/* A fresh qwen_moe model (E 2, H 64, I 32, S 32, one layer) quantized as sp. */
static void fresh(struct model *m, struct qck_spec sp)
{
    m->cfg = geometry(ZMOE_LAYOUT_QWEN_MOE, 2, 64, 32, 32, 1);
    m->sp = sp;
    set_quant(&m->cfg, &m->sp);
    build(m);
}

#define E0 "model.layers.1.mlp.experts.0."
#define E1 "model.layers.1.mlp.experts.1."

static void malformed(void)
{
    static struct model m;
    const struct qck_spec ct4 = {QCK_CT_PACKED, 4, 32, false, false, NULL, false};
    const struct qck_spec ct4z = {QCK_CT_PACKED, 4, 32, true, false, NULL, false};
    const struct qck_spec gq = {QCK_GPTQ, 4, 32, false, false, NULL, false};
    const struct qck_spec gqa = {QCK_GPTQ, 4, 32, true, false, NULL, false};
    const struct qck_spec gqo = {QCK_GPTQ, 4, 32, false, true, NULL, false};

    /* packed shape vs weight_shape, and vs the config */
    fresh(&m, ct4);
    set32(must_find(&m, E0 "gate_proj.weight_shape"), 0, 31); /* I64 {32, 64}: low word of 32 */
    expect_fail("weight_shape disagrees", &m, ZMOE_ERR_WEIGHTS,
                "tensor '" E0 "gate_proj.weight_shape': says [31, 64], expected [32, 64]");
    model_free(&m);
    fresh(&m, ct4);
    {
        struct stw_tensor *t = must_find(&m, E1 "down_proj.weight_packed");
        t->shape[1] = 2; /* [64, 4] -> [64, 2] */
        qck_realloc(t, 64 * 2 * 4);
    }
    expect_fail("packed shape vs config", &m, ZMOE_ERR_WEIGHTS,
                "tensor '" E1 "down_proj.weight_packed': expected shape [64, 4], found [64, 2]");
    model_free(&m);
    /* scales of another group size: a file with group 32 under a config of 64 */
    fresh(&m, ct4);
    m.cfg.quant.group_size = 64;
    expect_fail("scales of another group size", &m, ZMOE_ERR_WEIGHTS,
                "weight_scale': expected shape [32, 1], found [32, 2]");
    /* group size not dividing the dimension (I = 32) */
    m.cfg.quant.group_size = 48;
    expect_fail("group size not dividing I", &m, ZMOE_ERR_CONFIG,
                "quant.group_size 48 does not divide");
    model_free(&m);
    /* zero points: GPTQ sym must store 2^(b-1) - 1 everywhere; asym under a sym config */
    fresh(&m, gqa);
    m.cfg.quant.zero_points = false;
    expect_fail("asymmetric GPTQ, zero_points = false", &m, ZMOE_ERR_WEIGHTS,
                "qzeros': row 0, group 0 has zero point");
    model_free(&m);
    fresh(&m, ct4z);
    m.cfg.quant.zero_points = false;
    expect_fail("ct zero points, zero_points = false", &m, ZMOE_ERR_WEIGHTS,
                "but quant.zero_points = false (symmetric: every zero is 8)");
    model_free(&m);
    fresh(&m, ct4);
    m.cfg.quant.zero_points = true;
    expect_fail("ct symmetric file, zero_points = true", &m, ZMOE_ERR_WEIGHTS,
                "missing tensor '" E0 "gate_proj.weight_zero_point'");
    model_free(&m);
    /* g_idx */
    fresh(&m, gqo);
    set32(must_find(&m, E0 "down_proj.g_idx"), 5, 99);
    expect_fail("g_idx out of range", &m, ZMOE_ERR_WEIGHTS,
                "tensor '" E0 "down_proj.g_idx': g_idx[5] = 99, expected a group < 1");
    model_free(&m);
    fresh(&m, gqo);
    {
        struct stw_tensor *t = must_find(&m, E1 "gate_proj.g_idx"), *u = must_find(&m, E1 "up_proj.g_idx");
        uint32_t g0;
        memcpy(&g0, t->data, 4);
        set32(t, 0, 1 - g0); /* H 64, group 32: two groups, now 31 and 33 columns */
        set32(u, 0, 1 - g0);
    }
    expect_fail("g_idx groups not of group_size", &m, ZMOE_ERR_WEIGHTS, "columns, expected group_size 32");
    model_free(&m);
    fresh(&m, gqo);
    {
        /* swap two columns of different groups in up's g_idx only */
        struct stw_tensor *u = must_find(&m, E1 "up_proj.g_idx");
        uint32_t v[64];
        memcpy(v, u->data, sizeof v);
        int a = 0, b = 1;
        while (v[b] == v[a])
            b++;
        set32(u, (uint64_t)a, v[b]);
        set32(u, (uint64_t)b, v[a]);
    }
    expect_fail("gate/up g_idx differ", &m, ZMOE_ERR_WEIGHTS,
                "'" E1 "up_proj.g_idx' differs from '" E1 "gate_proj.g_idx' at column 0");
    m.cfg.quant.act_order = false;
    expect_fail("act-order file, act_order = false", &m, ZMOE_ERR_WEIGHTS,
                "the checkpoint is act-order (desc_act) but quant.act_order = false");
    model_free(&m);
    fresh(&m, (struct qck_spec){QCK_CT_PACKED, 4, 32, false, true, NULL, false});
    m.cfg.quant.act_order = false;
    expect_fail("ct weight_g_idx, act_order = false", &m, ZMOE_ERR_WEIGHTS,
                "weight_g_idx': g_idx[");
    model_free(&m);
    fresh(&m, gq);
    m.cfg.quant.act_order = true;
    qck_remove(&m.ck, E0 "gate_proj.g_idx");
    expect_fail("act_order without g_idx", &m, ZMOE_ERR_WEIGHTS,
                "quant.act_order = true but the checkpoint has no '" E0 "gate_proj.g_idx'");
    model_free(&m);
    /* GPTQ int8: a stored zero of 255 means 256 */
    fresh(&m, (struct qck_spec){QCK_GPTQ, 8, 32, true, false, NULL, false});
    set32(must_find(&m, E0 "up_proj.qzeros"), 0, 0xffffffffu);
    expect_fail("GPTQ int8 zero 256", &m, ZMOE_ERR_WEIGHTS, "outside the device's 8-bit zeros");
    model_free(&m);
    /* wrong dtypes */
    fresh(&m, gq);
    {
        struct stw_tensor *t = must_find(&m, E0 "down_proj.scales");
        t->dtype = "F32";
        qck_realloc(t, t->bytes * 2);
    }
    expect_fail("scales F32 under scale_dtype f16", &m, ZMOE_ERR_WEIGHTS,
                "tensor '" E0 "down_proj.scales': dtype F32, expected F16 (GPTQ int4, "
                "quant.scale_dtype = f16)");
    model_free(&m);
    fresh(&m, gq);
    must_find(&m, E1 "up_proj.qweight")->dtype = "F32";
    expect_fail("qweight F32", &m, ZMOE_ERR_WEIGHTS,
                "tensor '" E1 "up_proj.qweight': dtype F32, expected I32 (GPTQ int4)");
    model_free(&m);
    fresh(&m, ct4);
    must_find(&m, E0 "gate_proj.weight_shape")->dtype = "F64";
    expect_fail("weight_shape F64", &m, ZMOE_ERR_WEIGHTS, "dtype F64, expected I64 or I32");
    model_free(&m);
    /* int8 GPTQ file under an int4 config: the packed shape says 4 per word */
    fresh(&m, (struct qck_spec){QCK_GPTQ, 8, 32, false, false, NULL, false});
    m.cfg.quant.format = ZMOE_QUANT_INT4;
    expect_fail("int8 GPTQ file, int4 config", &m, ZMOE_ERR_WEIGHTS,
                "linear '" E0 "gate_proj' is stored as GPTQ int8 ('" E0 "gate_proj.qweight'), "
                "but the config says int4 gptq");
    m.cfg.quant.group_size = 64; /* fits no row: the shape error itself */
    expect_fail("int8 GPTQ file, int4 g64 config", &m, ZMOE_ERR_WEIGHTS,
                "qweight': expected shape [8, 32], found [16, 32]");
    model_free(&m);
    /* another format than the config's */
    fresh(&m, ct4);
    m.cfg.quant.packing = ZMOE_PACK_GPTQ;
    expect_fail("compressed-tensors file, gptq config", &m, ZMOE_ERR_WEIGHTS,
                "linear '" E0 "gate_proj' is stored as compressed-tensors pack-quantized int4 "
                "('" E0 "gate_proj.weight_packed'), but the config says int4 gptq");
    model_free(&m);
    fresh(&m, gqa);
    m.cfg.quant.packing = ZMOE_PACK_AWQ;
    expect_fail("gptq file, awq config (same piece names)", &m, ZMOE_ERR_WEIGHTS,
                "is stored as GPTQ int4 ('" E0 "gate_proj.qweight'), but the config says int4 awq");
    model_free(&m);
    fresh(&m, (struct qck_spec){QCK_AWQ, 4, 32, true, false, NULL, false});
    m.cfg.quant.packing = ZMOE_PACK_GPTQ;
    expect_fail("awq file, gptq config", &m, ZMOE_ERR_WEIGHTS,
                "is stored as AWQ int4 (GEMM) ('" E0 "gate_proj.qweight'), but the config says int4 gptq");
    model_free(&m);
    fresh(&m, (struct qck_spec){QCK_FP8_NATIVE, 8, 0, false, false, NULL, false});
    m.cfg.quant.packing = ZMOE_PACK_COMPRESSED_TENSORS;
    expect_fail("native fp8 file, compressed_tensors config", &m, ZMOE_ERR_WEIGHTS,
                "is stored as native fp8 (weight_scale_inv) ('" E0 "gate_proj.weight'), but the "
                "config says fp8 compressed_tensors");
    model_free(&m);
    fresh(&m, (struct qck_spec){QCK_FP8_CT, 8, 0, false, false, NULL, false});
    m.cfg.quant.format = ZMOE_QUANT_INT8;
    m.cfg.quant.scale_dtype = ZMOE_SCALE_F16;
    expect_fail("fp8 file, int8 config", &m, ZMOE_ERR_WEIGHTS,
                "is stored as compressed-tensors float-quantized fp8");
    model_free(&m);
    /* float experts under a quantized config, and quantized under a float config */
    {
        struct zmoe_config f = geometry(ZMOE_LAYOUT_QWEN_MOE, 2, 64, 32, 32, 1);
        m.cfg = f;
        m.sp = (struct qck_spec){QCK_CT_PACKED, 4, 32, false, false, NULL, true};
        build(&m); /* shared experts float: BF16 .weight tensors */
        m.cfg = f;
        set_quant(&m.cfg, &m.sp);
        m.cfg.quant.shared_experts = true;
        expect_fail("float shared experts, quant.shared_experts = true", &m, ZMOE_ERR_WEIGHTS,
                    "tensor 'model.layers.1.mlp.shared_expert.gate_proj.weight' is float (BF16), "
                    "but the config says int4 compressed_tensors for shared_w13");
        m.cfg.quant.format = ZMOE_QUANT_NONE;
        m.cfg.quant.packing = ZMOE_PACK_NONE;
        expect_fail("quantized experts, no [quant]", &m, ZMOE_ERR_WEIGHTS,
                    "'model.layers.1.mlp.experts.0.gate_proj' is stored as "
                    "compressed-tensors pack-quantized int4 ('model.layers.1.mlp.experts.0."
                    "gate_proj.weight_packed'), but the config has no [quant] format");
        model_free(&m);
        fresh(&m, ct4);
        m.cfg.quant.shared_experts = false;
        expect_fail("quantized shared experts, quant.shared_experts = false", &m, ZMOE_ERR_WEIGHTS,
                    "gate_proj.weight_packed'), but the config has float shared experts "
                    "(quant.shared_experts = false)");
        model_free(&m);
    }
    {
        /* a bf16 Llama 4 checkpoint (fused gate_up_proj) under a quantized config */
        static struct ckpt_holder {
            struct qck_ckpt ck;
        } h;
        memset(&h, 0, sizeof h);
        struct zmoe_config c = geometry(ZMOE_LAYOUT_LLAMA4, 2, 64, 32, 0, 1);
        float *z = calloc(2 * 64 * 64, sizeof *z);
        qck_add_float(&h.ck, "model.layers.0.feed_forward.router.weight", ZMOE_DTYPE_BF16, z, 2, 2, 64);
        struct stw_tensor *t = qck_add(&h.ck, "model.layers.0.feed_forward.experts.gate_up_proj",
                                       "BF16", 3, 2, 64, 64, 0, 2 * 64 * 64 * 2);
        (void)t;
        qck_add(&h.ck, "model.layers.0.feed_forward.experts.down_proj", "BF16", 3, 2, 32, 64, 0,
                2 * 32 * 64 * 2);
        m.cfg = c;
        m.sp = ct4;
        set_quant(&m.cfg, &m.sp);
        m.ck = h.ck;
        expect_fail("bf16 llama4, quantized config", &m, ZMOE_ERR_WEIGHTS,
                    "tensor 'model.layers.0.feed_forward.experts.gate_up_proj' is float (BF16), "
                    "but the config says int4 compressed_tensors for w13");
        qck_free(&m.ck);
        free(z);
    }
    /* fp8 native: scale grid of the wrong block count; MXFP4: blocks of the wrong shape */
    m.cfg = geometry(ZMOE_LAYOUT_DEEPSEEK, 2, 128, 128, 0, 1);
    m.sp = (struct qck_spec){QCK_FP8_NATIVE, 8, 128, false, false, NULL, false};
    set_quant(&m.cfg, &m.sp);
    build(&m);
    {
        struct stw_tensor *t = must_find(&m, E1 "down_proj.weight_scale_inv");
        t->shape[0] = 2;
        qck_realloc(t, 2 * 1 * 4);
    }
    expect_fail("fp8 scale grid", &m, ZMOE_ERR_WEIGHTS,
                "down_proj.weight_scale_inv': expected shape [1, 1], found [2, 1]");
    model_free(&m);
    m.cfg = geometry(ZMOE_LAYOUT_GPT_OSS, 2, 64, 32, 0, 1);
    m.sp = (struct qck_spec){QCK_MXFP4, 4, 32, false, false, NULL, false};
    set_quant(&m.cfg, &m.sp);
    build(&m);
    {
        struct stw_tensor *t = must_find(&m, "model.layers.1.mlp.experts.down_proj_blocks");
        t->shape[3] = 8;
        t->shape[2] = 2;
    }
    expect_fail("mxfp4 blocks shape", &m, ZMOE_ERR_WEIGHTS,
                "down_proj_blocks': expected shape [2, 64, 1, 16], found [2, 64, 2, 8]");
    must_find(&m, "model.layers.1.mlp.experts.down_proj_blocks")->shape[3] = 16;
    must_find(&m, "model.layers.1.mlp.experts.down_proj_blocks")->shape[2] = 1;
    must_find(&m, "model.layers.1.mlp.experts.gate_up_proj_scales")->dtype = "I8";
    expect_fail("mxfp4 scales dtype", &m, ZMOE_ERR_WEIGHTS,
                "gate_up_proj_scales': dtype I8, expected U8 or F8_E8M0");
    model_free(&m);
}

/* Every tensor of a few quantized checkpoints mutated in dtype, rank or first dimension
 * (data resized to stay a valid safetensors file): the loader either loads (the tensor
 * was unused, or the change was benign) with every chunk in bounds, or refuses before
 * any sink call. Under ASan this is also the bounds check of every repack walk. */
static void mutations(void)
{
    static const struct qck_spec specs[] = {
        {QCK_GPTQ, 4, 32, true, true, NULL, false},
        {QCK_CT_PACKED, 4, 32, true, false, NULL, false},
        {QCK_CT_INT8, 8, 32, true, false, NULL, false},
        {QCK_AWQ, 4, 32, true, false, NULL, false},
        {QCK_FP8_NATIVE, 8, 128, false, false, NULL, false},
        {QCK_MXFP4, 4, 32, false, false, NULL, false},
    };
    static const char *const dts[] = {"I32", "F16", "U8", "I64"};
    static const uint8_t dsz[] = {4, 2, 1, 8};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        static struct model m;
        const bool oss = specs[k].format == QCK_MXFP4, fp8 = specs[k].format == QCK_FP8_NATIVE;
        m.cfg = geometry(oss ? ZMOE_LAYOUT_GPT_OSS : ZMOE_LAYOUT_QWEN_MOE, 2, fp8 ? 128 : 64,
                         fp8 ? 128 : 32, oss ? 0 : (fp8 ? 128 : 32), 1);
        m.sp = specs[k];
        set_quant(&m.cfg, &m.sp);
        build(&m);
        int loads = 0, refusals = 0, broken = 0;
        for (size_t i = 0; i < m.ck.n; i++) {
            struct stw_tensor *t = &m.ck.t[i];
            const struct stw_tensor keep = *t;
            unsigned char *save = malloc(keep.bytes + 1);
            memcpy(save, keep.data, keep.bytes);
            for (int mu = 0; mu < 6; mu++) {
                uint64_t elems = 1;
                if (mu < 4) { /* dtype */
                    for (unsigned d = 0; d < t->ndim; d++)
                        elems *= t->shape[d];
                    t->dtype = dts[mu];
                    qck_realloc(t, elems * dsz[mu]);
                } else if (mu == 4) { /* first dimension + 1 */
                    t->shape[0]++;
                    qck_realloc(t, keep.bytes / (keep.shape[0] ? keep.shape[0] : 1) * t->shape[0]);
                } else if (t->ndim > 1) { /* rank - 1: the first two dims merged */
                    t->shape[0] *= t->shape[1];
                    for (unsigned d = 1; d + 1 < t->ndim; d++)
                        t->shape[d] = t->shape[d + 1];
                    t->ndim--;
                    memcpy(qck_realloc(t, keep.bytes), save, keep.bytes);
                } else {
                    continue;
                }
                snprintf(m.cfg.weights.file, sizeof m.cfg.weights.file, "%s",
                         qck_write(&m.ck, tmpdir, "mut", 1));
                struct mem_sink sk;
                mem_sink_init(&sk, &m.cfg);
                unsigned char stg[96];
                struct zmoe_error err = {{0}};
                enum zmoe_status st = zmoe_weights_load(&m.cfg, stg, sizeof stg, mem_sink_write,
                                                        &sk, NULL, 0, &err);
                if (st == ZMOE_OK)
                    loads++;
                else
                    refusals++;
                if ((st == ZMOE_OK && sk.bad) || (st != ZMOE_OK && (sk.calls || !err.msg[0]))) {
                    broken++;
                    tap_diag("  %s mutation %d: status %d, %d sink calls (%d bad): %s", keep.name,
                             mu, (int)st, sk.calls, sk.bad, err.msg);
                }
                mem_sink_free(&sk);
                free((void *)t->data);
                *t = keep;
                t->data = malloc(keep.bytes + 1);
                memcpy((void *)t->data, save, keep.bytes);
            }
            free(save); /* keep.data went with the first qck_realloc; t owns a copy */
        }
        static const char *const what[] = {"gptq act-order asym", "ct int4 asym", "ct int8 asym",
                                           "awq", "fp8 native", "mxfp4"};
        TAP_OK(broken == 0 && refusals > loads,
               "mutations of %s (%zu tensors x 6): %d refused before the sink, %d loaded in bounds",
               what[k], m.ck.n, refusals, loads);
        model_free(&m);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zmoe-quant-load-XXXXXX");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp");
    roundtrips();
    against_reference();
    malformed();
    mutations();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_exit();
}
