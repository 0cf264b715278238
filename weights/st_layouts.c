/* weights/st_layouts.c: the Hugging Face MoE layouts as data: one row per (model
 * family, kernel tensor of weights.h) naming the checkpoint tensor and how its pieces
 * are read (a copy, a transpose, a split of fused gate_up, de-interleaving). A new
 * family is rows; a new way of storing a tensor is a piece kind. */
#include "weights/st_priv.h"

#include <stdio.h>
#include <string.h>

const char *st_layout_name(enum zmoe_weights_layout l)
{
    switch (l) {
    case ZMOE_LAYOUT_LLAMA4:
        return "llama4";
    case ZMOE_LAYOUT_MIXTRAL:
        return "mixtral";
    case ZMOE_LAYOUT_QWEN_MOE:
        return "qwen_moe";
    case ZMOE_LAYOUT_DEEPSEEK:
        return "deepseek";
    case ZMOE_LAYOUT_GPT_OSS:
        return "gpt_oss";
    default:
        return "synthetic";
    }
}

/* How the pieces of one kernel tensor come out of its checkpoint tensors. */
enum piece_kind {
    PK_MATRIX,       /* one [rows][cols] tensor, copied as is */
    PK_VECTOR,       /* one [E] tensor */
    PK_EXPERT_PAIR,  /* per expert e, gate then up: two [I][H] tensors named with e and a word */
    PK_EXPERT,       /* per expert e: one [H][I] tensor named with e */
    PK_SHARED_PAIR,  /* gate then up: two [S][H] tensors named with a word */
    PK_FUSED_GU,     /* [E][H][2I] gate_up: per expert, gate then up, each a transpose */
    PK_FUSED_DOWN,   /* [E][I][H] down: per expert a transpose to [H][I] */
    PK_FUSED_BIAS,   /* [E][2I] gate_up bias, interleaved: per expert gate then up */
};

/* Dimensions of a PK_MATRIX tensor. */
enum dim { D_ONE, D_E, D_H, D_S };

/* One row per (family, kernel tensor): the checkpoint name after "<prefix><layer>.",
 * with %llu for the expert and %s for the word of a pair ({gate, up} tensor names). A
 * (family, tensor) without a row is a tensor the family does not have. */
struct layout_row {
    enum zmoe_weights_layout layout;
    enum zmoe_tensor tensor;
    enum piece_kind kind;
    const char *name;
    const char *word[2];
    enum dim rows, cols;
    bool interleaved; /* PK_FUSED_GU: always interleaved (else per experts.gate_up) */
};

static const struct layout_row rows[] = {
    /* Llama 4 (llama4 text model) */
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_ROUTER_W, PK_MATRIX, "feed_forward.router.weight", {0}, D_E, D_H, false},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_W13, PK_FUSED_GU, "feed_forward.experts.gate_up_proj", {0}, 0, 0, false},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_W2, PK_FUSED_DOWN, "feed_forward.experts.down_proj", {0}, 0, 0, false},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_SHARED_W13, PK_SHARED_PAIR, "feed_forward.shared_expert.%s_proj.weight", {"gate", "up"}, 0, 0, false},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_SHARED_W2, PK_MATRIX, "feed_forward.shared_expert.down_proj.weight", {0}, D_H, D_S, false},
    /* GPT-OSS: fused and always interleaved, router and expert biases */
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_ROUTER_W, PK_MATRIX, "mlp.router.weight", {0}, D_E, D_H, false},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_ROUTER_B, PK_VECTOR, "mlp.router.bias", {0}, 0, 0, false},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_W13, PK_FUSED_GU, "mlp.experts.gate_up_proj", {0}, 0, 0, true},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_B13, PK_FUSED_BIAS, "mlp.experts.gate_up_proj_bias", {0}, 0, 0, false},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_W2, PK_FUSED_DOWN, "mlp.experts.down_proj", {0}, 0, 0, false},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_B2, PK_MATRIX, "mlp.experts.down_proj_bias", {0}, D_E, D_H, false},
    /* Mixtral: per-expert w1 (gate), w3 (up), w2 (down) */
    {ZMOE_LAYOUT_MIXTRAL, ZMOE_TENSOR_ROUTER_W, PK_MATRIX, "block_sparse_moe.gate.weight", {0}, D_E, D_H, false},
    {ZMOE_LAYOUT_MIXTRAL, ZMOE_TENSOR_W13, PK_EXPERT_PAIR, "block_sparse_moe.experts.%llu.%s.weight", {"w1", "w3"}, 0, 0, false},
    {ZMOE_LAYOUT_MIXTRAL, ZMOE_TENSOR_W2, PK_EXPERT, "block_sparse_moe.experts.%llu.w2.weight", {0}, 0, 0, false},
    /* Qwen2/3-MoE: per-expert projections, one shared expert with its gate */
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_ROUTER_W, PK_MATRIX, "mlp.gate.weight", {0}, D_E, D_H, false},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_W13, PK_EXPERT_PAIR, "mlp.experts.%llu.%s_proj.weight", {"gate", "up"}, 0, 0, false},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_W2, PK_EXPERT, "mlp.experts.%llu.down_proj.weight", {0}, 0, 0, false},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_SHARED_W13, PK_SHARED_PAIR, "mlp.shared_expert.%s_proj.weight", {"gate", "up"}, 0, 0, false},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_SHARED_W2, PK_MATRIX, "mlp.shared_expert.down_proj.weight", {0}, D_H, D_S, false},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_SHARED_GATE, PK_MATRIX, "mlp.shared_expert_gate.weight", {0}, D_ONE, D_H, false},
    /* DeepSeek-V2/V3: per-expert projections, shared experts fused, score correction bias */
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_ROUTER_W, PK_MATRIX, "mlp.gate.weight", {0}, D_E, D_H, false},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_SCORE_BIAS, PK_VECTOR, "mlp.gate.e_score_correction_bias", {0}, 0, 0, false},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_W13, PK_EXPERT_PAIR, "mlp.experts.%llu.%s_proj.weight", {"gate", "up"}, 0, 0, false},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_W2, PK_EXPERT, "mlp.experts.%llu.down_proj.weight", {0}, 0, 0, false},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_SHARED_W13, PK_SHARED_PAIR, "mlp.shared_experts.%s_proj.weight", {"gate", "up"}, 0, 0, false},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_SHARED_W2, PK_MATRIX, "mlp.shared_experts.down_proj.weight", {0}, D_H, D_S, false},
};

static const struct layout_row *find_row(enum zmoe_weights_layout l, enum zmoe_tensor t)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].layout == l && rows[i].tensor == t)
            return &rows[i];
    return NULL;
}

const char *st_router_suffix(enum zmoe_weights_layout l)
{
    const struct layout_row *r = find_row(l, ZMOE_TENSOR_ROUTER_W);
    return r ? r->name : "mlp.gate.weight";
}

static uint64_t dim_of(const struct lctx *c, enum dim d)
{
    return d == D_E ? c->E : d == D_H ? c->H : d == D_S ? c->S : 1;
}

/* Output rows [nrows][ncols] read as source element base + j*row_step + c*col_stride of a
 * checkpoint tensor of shape `shape`. */
static void set_piece(struct piece *p, unsigned ndim, const uint64_t *shape, uint64_t base,
                      uint64_t nrows, uint64_t row_step, uint64_t ncols, uint64_t col_stride)
{
    p->ndim = ndim;
    for (unsigned d = 0; d < ndim; d++)
        p->shape[d] = shape[d];
    p->base = base;
    p->nrows = nrows;
    p->row_step = row_step;
    p->ncols = ncols;
    p->col_stride = col_stride;
}

int st_layout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                    struct piece *p)
{
    const struct layout_row *r = find_row(c->layout, t);
    if (!r)
        return -1;
    memset(p, 0, sizeof *p);
    const uint64_t E = c->E, H = c->H, I = c->I, S = c->S;
    const uint64_t e = idx / 2;
    const unsigned half = (unsigned)(idx % 2);
    /* pieces of each kind: one, per expert, per expert and half, or a pair */
    const uint64_t count = r->kind == PK_MATRIX || r->kind == PK_VECTOR   ? 1
                           : r->kind == PK_EXPERT || r->kind == PK_FUSED_DOWN ? E
                           : r->kind == PK_SHARED_PAIR                       ? 2
                                                                             : 2 * E;
    if (idx >= count)
        return 0;
    const int n = snprintf(p->name, sizeof p->name, "%s%u.", c->prefix, L);
    char *nm = p->name + (n > 0 ? n : 0);
    const size_t room = sizeof p->name - (size_t)(n > 0 ? n : 0);
    switch (r->kind) {
    case PK_MATRIX: {
        const uint64_t R = dim_of(c, r->rows), C = dim_of(c, r->cols), sh[2] = {R, C};
        snprintf(nm, room, "%s", r->name);
        set_piece(p, 2, sh, 0, R, C, C, 1);
        break;
    }
    case PK_VECTOR: {
        const uint64_t sh[1] = {E};
        snprintf(nm, room, "%s", r->name);
        set_piece(p, 1, sh, 0, 1, 0, E, 1);
        break;
    }
    case PK_EXPERT_PAIR: {
        const uint64_t sh[2] = {I, H};
        snprintf(nm, room, r->name, (unsigned long long)e, r->word[half]);
        set_piece(p, 2, sh, 0, I, H, H, 1);
        break;
    }
    case PK_EXPERT: {
        const uint64_t sh[2] = {H, I};
        snprintf(nm, room, r->name, (unsigned long long)idx);
        set_piece(p, 2, sh, 0, H, I, I, 1);
        break;
    }
    case PK_SHARED_PAIR: {
        const uint64_t sh[2] = {S, H};
        snprintf(nm, room, r->name, r->word[idx]);
        set_piece(p, 2, sh, 0, S, H, H, 1);
        break;
    }
    case PK_FUSED_GU: {
        /* gate (half 0) or up (half 1) as I kernel rows of H, each a column of the
         * checkpoint's [H][2I] matrix of expert e: concatenated or interleaved halves */
        const bool il = r->interleaved || c->cfg->experts.gate_up_interleaved;
        const uint64_t sh[3] = {E, H, 2 * I};
        snprintf(nm, room, "%s", r->name);
        set_piece(p, 3, sh, e * H * 2 * I + (il ? half : half * I), I, il ? 2 : 1, H, 2 * I);
        break;
    }
    case PK_FUSED_DOWN: {
        const uint64_t sh[3] = {E, I, H};
        snprintf(nm, room, "%s", r->name);
        set_piece(p, 3, sh, idx * I * H, H, 1, I, H);
        break;
    }
    case PK_FUSED_BIAS: {
        /* [E][2I] interleaved -> gate I then up I, per expert */
        const uint64_t sh[2] = {E, 2 * I};
        snprintf(nm, room, "%s", r->name);
        set_piece(p, 2, sh, e * 2 * I + half, 1, 0, I, 2);
        break;
    }
    }
    return 1;
}

const char *st_tensor_switch(enum zmoe_tensor t)
{
    switch (t) {
    case ZMOE_TENSOR_ROUTER_B:
        return "router.bias";
    case ZMOE_TENSOR_SCORE_BIAS:
        return "router.score_correction_bias";
    case ZMOE_TENSOR_B13:
    case ZMOE_TENSOR_B2:
        return "experts.bias";
    case ZMOE_TENSOR_SHARED_W13:
    case ZMOE_TENSOR_SHARED_W2:
        return "model.shared_experts";
    case ZMOE_TENSOR_SHARED_GATE:
        return "router.shared_expert_gate";
    default:
        return "the geometry";
    }
}


/* ------------------------------------------------------------------ quantized layouts */

/* How the quantized pieces of one kernel tensor come out of the checkpoint's linears
 * (weights/quant.h keeps the float layout's row order). */
enum qpiece_kind {
    QK_EXPERT_PAIR, /* per expert e, gate then up: two [I] x [H] linears named with e, word */
    QK_EXPERT,      /* per expert e: one [H] x [I] linear */
    QK_SHARED_PAIR, /* gate then up: two [S] x [H] linears named with a word */
    QK_SHARED,      /* one [H] x [S] linear */
    QK_FUSED_IL,    /* [E] x [2I] x [H], gate/up interleaved rows: per expert gate rows (even),
                       then up rows (odd) */
    QK_FUSED,       /* [E] x [H] x [I]: per expert all rows */
};

/* One row per (family, quantized kernel tensor): the linear's name after
 * "<prefix><layer>." (%llu the expert, %s the word). Llama 4 is llm-compressor's export,
 * which writes per-expert linears instead of the fused bf16 tensors. */
struct qlayout_row {
    enum zmoe_weights_layout layout;
    enum zmoe_tensor tensor;
    enum qpiece_kind kind;
    const char *name;
    const char *word[2];
};

static const struct qlayout_row qrows[] = {
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_W13, QK_EXPERT_PAIR, "feed_forward.experts.%llu.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_W2, QK_EXPERT, "feed_forward.experts.%llu.down_proj", {0}},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_SHARED_W13, QK_SHARED_PAIR, "feed_forward.shared_expert.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_LLAMA4, ZMOE_TENSOR_SHARED_W2, QK_SHARED, "feed_forward.shared_expert.down_proj", {0}},
    {ZMOE_LAYOUT_MIXTRAL, ZMOE_TENSOR_W13, QK_EXPERT_PAIR, "block_sparse_moe.experts.%llu.%s", {"w1", "w3"}},
    {ZMOE_LAYOUT_MIXTRAL, ZMOE_TENSOR_W2, QK_EXPERT, "block_sparse_moe.experts.%llu.w2", {0}},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_W13, QK_EXPERT_PAIR, "mlp.experts.%llu.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_W2, QK_EXPERT, "mlp.experts.%llu.down_proj", {0}},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_SHARED_W13, QK_SHARED_PAIR, "mlp.shared_expert.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_QWEN_MOE, ZMOE_TENSOR_SHARED_W2, QK_SHARED, "mlp.shared_expert.down_proj", {0}},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_W13, QK_EXPERT_PAIR, "mlp.experts.%llu.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_W2, QK_EXPERT, "mlp.experts.%llu.down_proj", {0}},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_SHARED_W13, QK_SHARED_PAIR, "mlp.shared_experts.%s_proj", {"gate", "up"}},
    {ZMOE_LAYOUT_DEEPSEEK, ZMOE_TENSOR_SHARED_W2, QK_SHARED, "mlp.shared_experts.down_proj", {0}},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_W13, QK_FUSED_IL, "mlp.experts.gate_up_proj", {0}},
    {ZMOE_LAYOUT_GPT_OSS, ZMOE_TENSOR_W2, QK_FUSED, "mlp.experts.down_proj", {0}},
};

int st_qlayout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                     struct st_qpiece *p)
{
    const struct qlayout_row *r = NULL;
    for (size_t i = 0; i < sizeof qrows / sizeof qrows[0]; i++)
        if (qrows[i].layout == c->layout && qrows[i].tensor == t)
            r = &qrows[i];
    if (!r)
        return -1;
    const uint64_t E = c->E, H = c->H, I = c->I, S = c->S;
    const bool pair = r->kind == QK_EXPERT_PAIR || r->kind == QK_SHARED_PAIR || r->kind == QK_FUSED_IL;
    const bool routed = r->kind != QK_SHARED_PAIR && r->kind != QK_SHARED;
    const uint64_t count = (routed ? E : 1) * (pair ? 2 : 1);
    if (idx >= count)
        return 0;
    memset(p, 0, sizeof *p);
    const uint64_t e = routed ? (pair ? idx / 2 : idx) : 0;
    const unsigned half = pair ? (unsigned)(idx % 2) : 0;
    const int n = snprintf(p->base, sizeof p->base, "%s%u.", c->prefix, L);
    char *nm = p->base + (n > 0 ? n : 0);
    const size_t room = sizeof p->base - (size_t)(n > 0 ? n : 0);
    p->set = e;
    p->set_first = half == 0;
    p->row_step = 1;
    switch (r->kind) {
    case QK_EXPERT_PAIR:
        snprintf(nm, room, r->name, (unsigned long long)e, r->word[half]);
        p->out = p->nrows = I, p->in = H;
        break;
    case QK_EXPERT:
        snprintf(nm, room, r->name, (unsigned long long)e);
        p->out = p->nrows = H, p->in = I;
        break;
    case QK_SHARED_PAIR:
        snprintf(nm, room, r->name, r->word[half]);
        p->out = p->nrows = S, p->in = H;
        break;
    case QK_SHARED:
        snprintf(nm, room, "%s", r->name);
        p->out = p->nrows = H, p->in = S;
        break;
    case QK_FUSED_IL:
        /* GPT-OSS: row 2j is gate j, row 2j+1 up j (the bf16 tensor's interleaved columns) */
        snprintf(nm, room, "%s", r->name);
        p->out = 2 * I, p->in = H, p->experts = E, p->expert = e;
        p->row_first = half, p->row_step = 2, p->nrows = I;
        break;
    case QK_FUSED:
        snprintf(nm, room, "%s", r->name);
        p->out = p->nrows = H, p->in = I, p->experts = E, p->expert = e;
        break;
    }
    return 1;
}
