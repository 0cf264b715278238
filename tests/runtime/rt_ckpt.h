/* Checkpoints for the runtime and CLI tests: the synthetic weights of a config (under a
 * seed of the test's choosing) written in a model's own Hugging Face layout and file
 * dtype by an inverse of the documented mapping (weights/README.md, written out here
 * independently of the loader), single-file or sharded with an index json; and the
 * kernel-layout f32 copies the reference MoE needs, rounded exactly as the device
 * sees them (file dtype, then the configured kernel dtype). Test code: malloc is fine. */
#ifndef ZMOE_TEST_RT_CKPT_H
#define ZMOE_TEST_RT_CKPT_H

#include "tap.h"
#include "reference/moe_ref.h"
#include "tests/weights/st_writer.h"
#include "weights/weights.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RCK_MAXT 2048
struct rck {
    struct stw_tensor t[RCK_MAXT];
    size_t n;
    /* Per-expert tensors (Mixtral, Qwen, DeepSeek) go in last expert first, each
     * expert's in reverse order: a loader that depends on file order fails. */
    bool reverse_experts;
};

/* Adds a tensor of f32 values stored as `dt` (rounded to nearest even). */
static inline struct stw_tensor *rck_add(struct rck *c, enum zmoe_dtype dt, const float *v,
                                         unsigned ndim, uint64_t d0, uint64_t d1, uint64_t d2,
                                         const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static inline struct stw_tensor *rck_add(struct rck *c, enum zmoe_dtype dt, const float *v,
                                         unsigned ndim, uint64_t d0, uint64_t d1, uint64_t d2,
                                         const char *fmt, ...)
{
    if (c->n >= RCK_MAXT)
        tap_bail("checkpoint has too many tensors");
    struct stw_tensor *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    if (stw_tensor_from_f32(t, dt, v, ndim, d0, d1, d2))
        tap_bail("out of memory");
    return t;
}

static inline void rck_free(struct rck *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((void *)c->t[i].data);
    c->n = 0;
}

static inline struct stw_tensor *rck_find(struct rck *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->t[i].name, name) == 0)
            return &c->t[i];
    return NULL;
}

/* Removes a tensor (bails when absent: a test must not silently drop nothing). */
static inline void rck_drop(struct rck *c, const char *name)
{
    struct stw_tensor *t = rck_find(c, name);
    if (!t)
        tap_bail("rck_drop: no tensor %s", name);
    free((void *)t->data);
    *t = c->t[--c->n];
}

/* Replaces a tensor's shape (and data, zero-filled) with d0 x d1 x d2 of its dtype. */
static inline void rck_reshape(struct rck *c, const char *name, unsigned ndim, uint64_t d0,
                               uint64_t d1, uint64_t d2)
{
    struct stw_tensor *t = rck_find(c, name);
    if (!t)
        tap_bail("rck_reshape: no tensor %s", name);
    uint64_t shape[3] = {d0, d1, d2}, n = 1;
    for (unsigned i = 0; i < ndim; i++)
        n *= shape[i];
    size_t es = strcmp(t->dtype, "F32") == 0 ? 4 : 2;
    free((void *)t->data);
    t->data = calloc((size_t)n ? (size_t)n : 1, es);
    t->bytes = (size_t)n * es;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    for (unsigned i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
}

/* One of an expert's matrices: expert e's is v + e * step, rows x cols, named
 * "<P><L>.<block>.experts.<e>.<name>". */
struct rck_expert_tensor {
    const char *name;
    const float *v;
    uint64_t step, rows, cols;
};

/* The three matrices of each of E experts, in ck's expert order. */
static inline void rck_add_experts(struct rck *ck, enum zmoe_dtype dt, uint64_t E, const char *P,
                                   uint32_t L, const char *block,
                                   const struct rck_expert_tensor part[3])
{
    for (uint64_t i = 0; i < E; i++) {
        uint64_t e = ck->reverse_experts ? E - 1 - i : i;
        for (int k = 0; k < 3; k++) {
            const struct rck_expert_tensor *x = &part[ck->reverse_experts ? 2 - k : k];
            rck_add(ck, dt, x->v + e * x->step, 2, x->rows, x->cols, 0, "%s%u.%s.experts.%llu.%s",
                    P, L, block, (unsigned long long)e, x->name);
        }
    }
}

/* One MoE layer of cfg->weights.layout at checkpoint layer L with layer prefix P, from
 * zmoe_weights_synthetic(cfg, l) (cfg carries the file weights' seed). Matrices and
 * biases are stored as `dt`, the DeepSeek score bias as F32 (as in the real files). */
static inline void rck_add_moe_layer(struct rck *ck, const struct zmoe_config *cfg, uint32_t l,
                                     uint32_t L, const char *P, enum zmoe_dtype dt)
{
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(cfg, l, &w) != 0)
        tap_bail("synthetic weights");
    uint64_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    uint64_t S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate;
    const float *K13 = w.tensor[ZMOE_TENSOR_W13], *K2 = w.tensor[ZMOE_TENSOR_W2];
    const float *KS13 = w.tensor[ZMOE_TENSOR_SHARED_W13], *KS2 = w.tensor[ZMOE_TENSOR_SHARED_W2];
    enum zmoe_weights_layout lay = cfg->weights.layout;
    float *gu = malloc(E * H * 2 * I * sizeof(float)), *dn = malloc(E * I * H * sizeof(float));
    if (!gu || !dn)
        tap_bail("out of memory");
    switch (lay) {
    case ZMOE_LAYOUT_LLAMA4:
    case ZMOE_LAYOUT_GPT_OSS: {
        bool oss = lay == ZMOE_LAYOUT_GPT_OSS;
        bool il = oss || cfg->experts.gate_up_interleaved;
        const char *ff = oss ? "mlp" : "feed_forward";
        rck_add(ck, dt, w.tensor[ZMOE_TENSOR_ROUTER_W], 2, E, H, 0, "%s%u.%s.router.weight", P, L,
                ff);
        /* gate_up_proj[e][h][c] (x @ gate_up_proj): column c is kernel row c (concatenated)
         * or row c/2 of gate (even c) / up (odd c) (interleaved) */
        for (uint64_t e = 0; e < E; e++)
            for (uint64_t h = 0; h < H; h++)
                for (uint64_t c = 0; c < 2 * I; c++) {
                    uint64_t row = il ? (c % 2) * I + c / 2 : c;
                    gu[(e * H + h) * 2 * I + c] = K13[(e * 2 * I + row) * H + h];
                }
        rck_add(ck, dt, gu, 3, E, H, 2 * I, "%s%u.%s.experts.gate_up_proj", P, L, ff);
        for (uint64_t e = 0; e < E; e++) /* down_proj[e][i][h] = W2[e][h][i] */
            for (uint64_t i = 0; i < I; i++)
                for (uint64_t h = 0; h < H; h++)
                    dn[(e * I + i) * H + h] = K2[(e * H + h) * I + i];
        rck_add(ck, dt, dn, 3, E, I, H, "%s%u.%s.experts.down_proj", P, L, ff);
        if (oss) {
            if (cfg->router.bias)
                rck_add(ck, dt, w.tensor[ZMOE_TENSOR_ROUTER_B], 1, E, 0, 0, "%s%u.mlp.router.bias",
                        P, L);
            if (cfg->experts.bias) {
                const float *B13 = w.tensor[ZMOE_TENSOR_B13];
                for (uint64_t e = 0; e < E; e++)
                    for (uint64_t c = 0; c < 2 * I; c++)
                        gu[e * 2 * I + c] = B13[e * 2 * I + (c % 2) * I + c / 2];
                rck_add(ck, dt, gu, 2, E, 2 * I, 0, "%s%u.mlp.experts.gate_up_proj_bias", P, L);
                rck_add(ck, dt, w.tensor[ZMOE_TENSOR_B2], 2, E, H, 0,
                        "%s%u.mlp.experts.down_proj_bias", P, L);
            }
        } else if (S) {
            rck_add(ck, dt, KS13, 2, S, H, 0, "%s%u.feed_forward.shared_expert.gate_proj.weight", P,
                    L);
            rck_add(ck, dt, KS13 + S * H, 2, S, H, 0,
                    "%s%u.feed_forward.shared_expert.up_proj.weight", P, L);
            rck_add(ck, dt, KS2, 2, H, S, 0, "%s%u.feed_forward.shared_expert.down_proj.weight", P,
                    L);
        }
        break;
    }
    case ZMOE_LAYOUT_MIXTRAL:
        rck_add(ck, dt, w.tensor[ZMOE_TENSOR_ROUTER_W], 2, E, H, 0,
                "%s%u.block_sparse_moe.gate.weight", P, L);
        /* w1 = gate (the first I rows of W13[e]), w2 = down, w3 = up */
        rck_add_experts(ck, dt, E, P, L, "block_sparse_moe",
                        (const struct rck_expert_tensor[3]){
                            {"w1.weight", K13, 2 * I * H, I, H},
                            {"w2.weight", K2, H * I, H, I},
                            {"w3.weight", K13 + I * H, 2 * I * H, I, H}});
        break;
    case ZMOE_LAYOUT_QWEN_MOE:
    case ZMOE_LAYOUT_DEEPSEEK: {
        bool ds = lay == ZMOE_LAYOUT_DEEPSEEK;
        const char *sh = ds ? "shared_experts" : "shared_expert";
        rck_add(ck, dt, w.tensor[ZMOE_TENSOR_ROUTER_W], 2, E, H, 0, "%s%u.mlp.gate.weight", P, L);
        if (ds && cfg->router.score_correction_bias)
            rck_add(ck, ZMOE_DTYPE_F32, w.tensor[ZMOE_TENSOR_SCORE_BIAS], 1, E, 0, 0,
                    "%s%u.mlp.gate.e_score_correction_bias", P, L);
        rck_add_experts(ck, dt, E, P, L, "mlp",
                        (const struct rck_expert_tensor[3]){
                            {"gate_proj.weight", K13, 2 * I * H, I, H},
                            {"up_proj.weight", K13 + I * H, 2 * I * H, I, H},
                            {"down_proj.weight", K2, H * I, H, I}});
        if (S) {
            rck_add(ck, dt, KS13, 2, S, H, 0, "%s%u.mlp.%s.gate_proj.weight", P, L, sh);
            rck_add(ck, dt, KS13 + S * H, 2, S, H, 0, "%s%u.mlp.%s.up_proj.weight", P, L, sh);
            rck_add(ck, dt, KS2, 2, H, S, 0, "%s%u.mlp.%s.down_proj.weight", P, L, sh);
            if (!ds && cfg->router.shared_expert_gate)
                rck_add(ck, dt, w.tensor[ZMOE_TENSOR_SHARED_GATE], 2, 1, H, 0,
                        "%s%u.mlp.shared_expert_gate.weight", P, L);
        }
        break;
    }
    default:
        tap_bail("rck_add_moe_layer: layout %d", (int)lay);
    }
    free(gu);
    free(dn);
    zmoe_ref_weights_free(&w);
}

/* What else a real decoder layer holds: attention, norms, and for a dense layer (DeepSeek's
 * first_k_dense_replace, Llama 4's non-MoE layers) a plain MLP under the MoE's names. */
static inline void rck_add_other(struct rck *ck, const char *P, uint32_t L,
                                 enum zmoe_weights_layout lay, bool dense_mlp)
{
    static const float z[64];
    rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 4, 8, 0, "%s%u.self_attn.q_proj.weight", P, L);
    rck_add(ck, ZMOE_DTYPE_BF16, z, 1, 8, 0, 0, "%s%u.input_layernorm.weight", P, L);
    if (dense_mlp) {
        const char *m = lay == ZMOE_LAYOUT_LLAMA4 ? "feed_forward" : "mlp";
        rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 2, 4, 0, "%s%u.%s.gate_proj.weight", P, L, m);
        rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 2, 4, 0, "%s%u.%s.up_proj.weight", P, L, m);
        rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 4, 2, 0, "%s%u.%s.down_proj.weight", P, L, m);
    }
}

#define RCK_METADATA "{\"format\":\"pt\"}" /* what transformers writes */

/* Writes `ck` into dir as <stem>.safetensors (shards <= 1) or as `shards` files
 * <stem>-0000k-of-0000n.safetensors (tensors dealt round-robin) plus
 * <stem>.safetensors.index.json; the single file has RCK_METADATA as its __metadata__,
 * the shards `shard_metadata` (NULL: none). Returns the path to configure (static
 * storage). */
static inline const char *rck_write_meta(struct rck *ck, const char *dir, const char *stem,
                                         unsigned shards, const char *shard_metadata)
{
    static char path[512];
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, stem);
        if (stw_write(path, ck->t, ck->n, RCK_METADATA) != 0)
            tap_bail("cannot write %s", path);
        return path;
    }
    static struct stw_tensor part[RCK_MAXT];
    static const char *names[RCK_MAXT], *files[RCK_MAXT];
    static char fnames[16][128];
    if (shards > 16)
        tap_bail("rck_write: at most 16 shards");
    for (unsigned s = 0; s < shards; s++) {
        size_t n = 0;
        snprintf(fnames[s], sizeof fnames[s], "%s-%05u-of-%05u.safetensors", stem, s + 1, shards);
        for (size_t i = s; i < ck->n; i += shards) {
            part[n++] = ck->t[i];
            names[i] = ck->t[i].name;
            files[i] = fnames[s];
        }
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, fnames[s]);
        if (stw_write(p, part, n, shard_metadata) != 0)
            tap_bail("cannot write %s", p);
    }
    snprintf(path, sizeof path, "%s/%s.safetensors.index.json", dir, stem);
    if (stw_write_index(path, names, files, ck->n) != 0)
        tap_bail("cannot write %s", path);
    return path;
}

/* rck_write_meta with RCK_METADATA in every file, as a Hugging Face checkpoint has. */
static inline const char *rck_write(struct rck *ck, const char *dir, const char *stem,
                                    unsigned shards)
{
    return rck_write_meta(ck, dir, stem, shards, RCK_METADATA);
}

/* Shard file name (inside dir) that rck_write put tensor `name` into. */
static inline const char *rck_shard_of(const struct rck *ck, const char *stem, unsigned shards,
                                       const char *name)
{
    static char f[128];
    for (size_t i = 0; i < ck->n; i++)
        if (strcmp(ck->t[i].name, name) == 0) {
            snprintf(f, sizeof f, "%s-%05u-of-%05u.safetensors", stem, (unsigned)(i % shards) + 1,
                     shards);
            return f;
        }
    return NULL;
}

/* The kernel-layout f32 weights the device holds after loading a checkpoint written by
 * rck_add_moe_layer(fcfg, l, ..., file_dt) into a runtime configured by `cfg`: the
 * synthetic values of fcfg, rounded to the tensor's dtype in the file, then to its
 * kernel dtype under cfg (each rounding to nearest even, like the loader's). */
static inline void rck_ref_weights(const struct zmoe_config *cfg, const struct zmoe_config *fcfg,
                                   uint32_t l, enum zmoe_dtype file_dt, struct zmoe_ref_weights *w)
{
    if (zmoe_ref_weights_synthetic(fcfg, l, w) != 0)
        tap_bail("synthetic weights");
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        float *v = (float *)w->tensor[t];
        if (!v)
            continue;
        enum zmoe_dtype fdt = t == ZMOE_TENSOR_SCORE_BIAS ? ZMOE_DTYPE_F32 : file_dt;
        enum zmoe_dtype kdt = zmoe_tensor_dtype(cfg, (enum zmoe_tensor)t);
        uint64_t n = zmoe_tensor_elements(cfg, (enum zmoe_tensor)t);
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            float f = v[i];
            if (fdt == ZMOE_DTYPE_F16) {
                h = zmoe_f32_to_f16(f);
                f = zmoe_f16_to_f32(h);
            } else if (fdt == ZMOE_DTYPE_BF16) {
                h = zmoe_f32_to_bf16(f);
                f = zmoe_bf16_to_f32(h);
            }
            if (kdt == ZMOE_DTYPE_F16)
                f = zmoe_f16_to_f32(zmoe_f32_to_f16(f));
            else if (kdt == ZMOE_DTYPE_BF16)
                f = zmoe_bf16_to_f32(zmoe_f32_to_bf16(f));
            v[i] = f;
        }
    }
}

/* A whole checkpoint for `fcfg` (layout, geometry and file seed): checkpoint layers
 * 0 .. dense + moe_every * layers - 1 under prefix P, the first `dense` of them dense,
 * then one MoE layer every `moe_every` (config layer l at checkpoint layer
 * dense + moe_every * l + moe_every - 1), plus embeddings and the LM head. */
static inline void rck_build(struct rck *ck, const struct zmoe_config *fcfg, const char *P,
                             uint32_t dense, uint32_t moe_every, enum zmoe_dtype file_dt)
{
    static const float z[64];
    rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 8, 8, 0, "model.embed_tokens.weight");
    uint32_t total = dense + moe_every * fcfg->model.layers;
    for (uint32_t L = 0; L < total; L++) {
        bool moe = L >= dense && (L - dense) % moe_every == moe_every - 1;
        rck_add_other(ck, P, L, fcfg->weights.layout, !moe);
        if (moe)
            rck_add_moe_layer(ck, fcfg, (L - dense) / moe_every, L, P, file_dt);
    }
    rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 8, 8, 0, "lm_head.weight");
}

#endif
