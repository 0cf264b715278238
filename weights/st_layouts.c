/* weights/st_layouts.c: the Hugging Face MoE layouts: for each model family, which
 * checkpoint tensors make each kernel tensor of weights.h and how (a copy, a transpose,
 * a split of fused gate_up, de-interleaving), as pieces (st_priv.h). */
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

const char *st_router_suffix(enum zmoe_weights_layout l)
{
    switch (l) {
    case ZMOE_LAYOUT_LLAMA4:
        return "feed_forward.router.weight";
    case ZMOE_LAYOUT_MIXTRAL:
        return "block_sparse_moe.gate.weight";
    case ZMOE_LAYOUT_GPT_OSS:
        return "mlp.router.weight";
    default:
        return "mlp.gate.weight";
    }
}

/* A checkpoint tensor [R][C] copied as is. */
static void direct2(struct piece *p, uint64_t R, uint64_t C)
{
    p->ndim = 2;
    p->shape[0] = R;
    p->shape[1] = C;
    p->base = 0;
    p->nrows = R;
    p->row_step = C;
    p->ncols = C;
    p->col_stride = 1;
}

static void direct1(struct piece *p, uint64_t N)
{
    p->ndim = 1;
    p->shape[0] = N;
    p->base = 0;
    p->nrows = 1;
    p->row_step = 0;
    p->ncols = N;
    p->col_stride = 1;
}

/* Fused [E][H][2I] gate_up (llama4, gpt_oss): half 0 = gate, 1 = up, as I kernel rows of
 * H, each a column of the checkpoint matrix (a transpose), concatenated or interleaved. */
static void fused_gate_up(const struct lctx *c, struct piece *p, uint64_t e, unsigned half,
                          bool interleaved)
{
    p->ndim = 3;
    p->shape[0] = c->E;
    p->shape[1] = c->H;
    p->shape[2] = 2 * c->I;
    p->base = e * c->H * 2 * c->I + (interleaved ? half : half * c->I);
    p->nrows = c->I;
    p->row_step = interleaved ? 2 : 1;
    p->ncols = c->H;
    p->col_stride = 2 * c->I;
}

/* Fused [E][I][H] down (llama4, gpt_oss) -> W2[e] = [H][I]: a transpose. */
static void fused_down(const struct lctx *c, struct piece *p, uint64_t e)
{
    p->ndim = 3;
    p->shape[0] = c->E;
    p->shape[1] = c->I;
    p->shape[2] = c->H;
    p->base = e * c->I * c->H;
    p->nrows = c->H;
    p->row_step = 1;
    p->ncols = c->I;
    p->col_stride = c->H;
}

int st_layout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                        struct piece *p)
{
    const char *P = c->prefix;
    const char *sfx = NULL; /* per-layer suffix of a single-piece tensor */
    char buf[96];
    memset(p, 0, sizeof *p);
    uint64_t e = idx / 2;
    unsigned half = (unsigned)(idx % 2);
    switch (c->layout) {
    case ZMOE_LAYOUT_LLAMA4:
    case ZMOE_LAYOUT_GPT_OSS: {
        bool oss = c->layout == ZMOE_LAYOUT_GPT_OSS;
        const char *ff = oss ? "mlp" : "feed_forward";
        switch (t) {
        case ZMOE_TENSOR_ROUTER_W:
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, st_router_suffix(c->layout));
            direct2(p, c->E, c->H);
            return 1;
        case ZMOE_TENSOR_W13:
            if (idx >= 2 * c->E)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s.experts.gate_up_proj", P, L, ff);
            /* GPT-OSS checkpoints are always interleaved; Llama 4 per the config. */
            fused_gate_up(c, p, e, half, oss || c->cfg->experts.gate_up_interleaved);
            return 1;
        case ZMOE_TENSOR_W2:
            if (idx >= c->E)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s.experts.down_proj", P, L, ff);
            fused_down(c, p, idx);
            return 1;
        default:
            break;
        }
        if (oss) {
            switch (t) {
            case ZMOE_TENSOR_ROUTER_B:
                if (idx)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.router.bias", P, L);
                direct1(p, c->E);
                return 1;
            case ZMOE_TENSOR_B13: /* [E][2I] interleaved -> gate I then up I, per expert */
                if (idx >= 2 * c->E)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.gate_up_proj_bias", P, L);
                p->ndim = 2;
                p->shape[0] = c->E;
                p->shape[1] = 2 * c->I;
                p->base = e * 2 * c->I + half;
                p->nrows = 1;
                p->ncols = c->I;
                p->col_stride = 2;
                return 1;
            case ZMOE_TENSOR_B2:
                if (idx)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.down_proj_bias", P, L);
                direct2(p, c->E, c->H);
                return 1;
            default:
                return -1;
            }
        }
        switch (t) {
        case ZMOE_TENSOR_SHARED_W13:
            if (idx >= 2)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.feed_forward.shared_expert.%s_proj.weight",
                     P, L, idx ? "up" : "gate");
            direct2(p, c->S, c->H);
            return 1;
        case ZMOE_TENSOR_SHARED_W2:
            sfx = "feed_forward.shared_expert.down_proj.weight";
            break;
        default:
            return -1;
        }
        break;
    }
    case ZMOE_LAYOUT_MIXTRAL:
    case ZMOE_LAYOUT_QWEN_MOE:
    case ZMOE_LAYOUT_DEEPSEEK: {
        bool mix = c->layout == ZMOE_LAYOUT_MIXTRAL;
        const char *shared = c->layout == ZMOE_LAYOUT_DEEPSEEK ? "shared_experts" : "shared_expert";
        switch (t) {
        case ZMOE_TENSOR_ROUTER_W:
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, st_router_suffix(c->layout));
            direct2(p, c->E, c->H);
            return 1;
        case ZMOE_TENSOR_W13: /* per expert: gate [I][H] then up [I][H] */
            if (idx >= 2 * c->E)
                return 0;
            if (mix)
                snprintf(p->name, sizeof p->name, "%s%u.block_sparse_moe.experts.%llu.%s.weight",
                         P, L, (unsigned long long)e, half ? "w3" : "w1");
            else
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.%llu.%s_proj.weight", P, L,
                         (unsigned long long)e, half ? "up" : "gate");
            direct2(p, c->I, c->H);
            return 1;
        case ZMOE_TENSOR_W2:
            if (idx >= c->E)
                return 0;
            if (mix)
                snprintf(p->name, sizeof p->name, "%s%u.block_sparse_moe.experts.%llu.w2.weight",
                         P, L, (unsigned long long)idx);
            else
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.%llu.down_proj.weight", P, L,
                         (unsigned long long)idx);
            direct2(p, c->H, c->I);
            return 1;
        default:
            break;
        }
        if (mix)
            return -1;
        switch (t) {
        case ZMOE_TENSOR_SCORE_BIAS:
            if (c->layout != ZMOE_LAYOUT_DEEPSEEK)
                return -1;
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.gate.e_score_correction_bias", P, L);
            direct1(p, c->E);
            return 1;
        case ZMOE_TENSOR_SHARED_W13:
            if (idx >= 2)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.%s.%s_proj.weight", P, L, shared,
                     idx ? "up" : "gate");
            direct2(p, c->S, c->H);
            return 1;
        case ZMOE_TENSOR_SHARED_W2:
            snprintf(buf, sizeof buf, "mlp.%s.down_proj.weight", shared);
            sfx = buf;
            break;
        case ZMOE_TENSOR_SHARED_GATE:
            if (c->layout != ZMOE_LAYOUT_QWEN_MOE)
                return -1;
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.shared_expert_gate.weight", P, L);
            direct2(p, 1, c->H);
            return 1;
        default:
            return -1;
        }
        break;
    }
    default:
        return -1;
    }
    /* SHARED_W2 [H][S], the only single-piece tensor left */
    if (idx)
        return 0;
    snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, sfx);
    direct2(p, c->H, c->S);
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

