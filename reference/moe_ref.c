/* The reference MoE layer: moe_ref.h's semantics in straightforward loops with f64
 * accumulation. Test code: clarity over speed, malloc is fine here. */
#include "reference/moe_ref.h"
#include "weights/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static double activation(const struct zmoe_config *cfg, double g, double u)
{
    switch (cfg->experts.activation) {
    case ZMOE_ACT_SILU:
        return g * sigmoid(g) * u;
    case ZMOE_ACT_GELU:
        return 0.5 * g * (1.0 + erf(g / sqrt(2.0))) * u;
    case ZMOE_ACT_GELU_TANH: {
        const double c = sqrt(2.0 / 3.14159265358979323846);
        return 0.5 * g * (1.0 + tanh(c * (g + 0.044715 * g * g * g))) * u;
    }
    case ZMOE_ACT_SWIGLU_OAI: {
        double limit = cfg->experts.swiglu_limit, alpha = cfg->experts.swiglu_alpha;
        if (g > limit)
            g = limit;
        if (u > limit)
            u = limit;
        if (u < -limit)
            u = -limit;
        return g * sigmoid(alpha * g) * (u + 1.0);
    }
    }
    return 0.0;
}

static double dot_f(const float *a, const float *b, uint32_t n)
{
    double s = 0.0;
    for (uint32_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

/* One gated MLP: rows [0,n) of w13 gate, [n,2n) up; w2 is [H][n]. out += scale * mlp. */
static void mlp(const struct zmoe_config *cfg, const float *in, const float *w13,
                const float *b13, const float *w2, const float *b2, uint32_t n, double scale,
                double *out, double *a)
{
    uint32_t H = cfg->model.hidden;
    for (uint32_t i = 0; i < n; i++) {
        double g = dot_f(&w13[(size_t)i * H], in, H);
        double u = dot_f(&w13[(size_t)(n + i) * H], in, H);
        if (b13) {
            g += b13[i];
            u += b13[n + i];
        }
        a[i] = activation(cfg, g, u);
    }
    for (uint32_t h = 0; h < H; h++) {
        double o = 0.0;
        for (uint32_t i = 0; i < n; i++)
            o += (double)w2[(size_t)h * n + i] * a[i];
        if (b2)
            o += b2[h];
        out[h] += scale * o;
    }
}

/* Is candidate (value va, index ia) ranked before (vb, ib)? Higher value first, ties to
 * the lower index. */
static int ranks_before(double va, uint32_t ia, double vb, uint32_t ib)
{
    return va > vb || (va == vb && ia < ib);
}

void zmoe_ref_forward(const struct zmoe_config *cfg, const struct zmoe_ref_weights *w,
                      const float *x, uint32_t tokens, enum zmoe_ref_weighting weighting,
                      float *y, uint32_t *topk_ids, float *topk_weights)
{
    uint32_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    uint32_t K = cfg->model.top_k;
    uint32_t S = cfg->model.shared_experts * cfg->model.shared_intermediate;
    uint32_t G = cfg->router.groups ? cfg->router.groups : 1;
    bool on_input = cfg->router.apply_router_weight_on_input &&
                    weighting == ZMOE_REF_AS_CONFIGURED;
    const float *rw = w->tensor[ZMOE_TENSOR_ROUTER_W];
    const float *rb = cfg->router.bias ? w->tensor[ZMOE_TENSOR_ROUTER_B] : NULL;
    const float *sb = cfg->router.score_correction_bias ? w->tensor[ZMOE_TENSOR_SCORE_BIAS] : NULL;
    const float *w13 = w->tensor[ZMOE_TENSOR_W13], *w2 = w->tensor[ZMOE_TENSOR_W2];
    const float *b13 = cfg->experts.bias ? w->tensor[ZMOE_TENSOR_B13] : NULL;
    const float *b2 = cfg->experts.bias ? w->tensor[ZMOE_TENSOR_B2] : NULL;

    double *score = calloc(E, sizeof *score), *choice = calloc(E, sizeof *choice);
    double *gscore = calloc(G, sizeof *gscore), *acc = calloc(H, sizeof *acc);
    double *a = calloc((I > S ? I : S) + 1, sizeof *a), *wk = calloc(K, sizeof *wk);
    unsigned char *eligible = calloc(E, 1), *gkeep = calloc(G, 1);
    uint32_t *ids = calloc(K, sizeof *ids);
    float *in = calloc(H, sizeof *in);
    if (!score || !choice || !gscore || !acc || !a || !wk || !eligible || !gkeep || !ids || !in)
        abort(); /* test code: out of memory is fatal */

    for (uint32_t t = 0; t < tokens; t++) {
        const float *xt = &x[(size_t)t * H];
        /* 1-3: logits, scores, choice */
        double mx = -INFINITY;
        for (uint32_t e = 0; e < E; e++) {
            score[e] = dot_f(&rw[(size_t)e * H], xt, H) + (rb ? rb[e] : 0.0);
            if (score[e] > mx)
                mx = score[e];
        }
        if (cfg->router.scoring == ZMOE_SCORING_SOFTMAX) {
            double sum = 0.0;
            for (uint32_t e = 0; e < E; e++) {
                score[e] = exp(score[e] - mx);
                sum += score[e];
            }
            for (uint32_t e = 0; e < E; e++)
                score[e] /= sum;
        } else {
            for (uint32_t e = 0; e < E; e++)
                score[e] = sigmoid(score[e]);
        }
        for (uint32_t e = 0; e < E; e++)
            choice[e] = score[e] + (sb ? sb[e] : 0.0);

        /* 4: grouped top-k */
        memset(eligible, 1, E);
        if (G > 1) {
            uint32_t per = E / G;
            for (uint32_t g = 0; g < G; g++) {
                double b1 = -INFINITY, b2v = -INFINITY;
                for (uint32_t e = g * per; e < (g + 1) * per; e++) {
                    if (choice[e] > b1) {
                        b2v = b1;
                        b1 = choice[e];
                    } else if (choice[e] > b2v) {
                        b2v = choice[e];
                    }
                }
                gscore[g] = sb ? b1 + (per > 1 ? b2v : 0.0) : b1;
            }
            memset(gkeep, 0, G);
            for (uint32_t k = 0; k < cfg->router.topk_group && k < G; k++) {
                int best = -1;
                for (uint32_t g = 0; g < G; g++)
                    if (!gkeep[g] && (best < 0 || ranks_before(gscore[g], g, gscore[best],
                                                               (uint32_t)best)))
                        best = (int)g;
                gkeep[best] = 1;
            }
            for (uint32_t e = 0; e < E; e++)
                eligible[e] = gkeep[e / per];
        }

        /* 5: top-k by selection, descending choice, ties to the lower index */
        for (uint32_t k = 0; k < K; k++) {
            int best = -1;
            for (uint32_t e = 0; e < E; e++)
                if (eligible[e] &&
                    (best < 0 || ranks_before(choice[e], e, choice[best], (uint32_t)best)))
                    best = (int)e;
            ids[k] = (uint32_t)best;
            eligible[best] = 0;
        }

        /* 6: weights */
        double sum = 0.0;
        for (uint32_t k = 0; k < K; k++) {
            wk[k] = score[ids[k]];
            sum += wk[k];
        }
        for (uint32_t k = 0; k < K; k++) {
            if (cfg->router.renormalize)
                wk[k] /= sum;
            wk[k] *= cfg->router.routed_scaling_factor;
        }

        /* 7-8: experts and combine */
        memset(acc, 0, H * sizeof *acc);
        for (uint32_t k = 0; k < K; k++) {
            uint32_t e = ids[k];
            float wf = (float)wk[k];
            for (uint32_t h = 0; h < H; h++)
                in[h] = on_input ? xt[h] * wf : xt[h]; /* f32, as the kernel does */
            mlp(cfg, in, &w13[(size_t)e * 2 * I * H], b13 ? &b13[(size_t)e * 2 * I] : NULL,
                &w2[(size_t)e * H * I], b2 ? &b2[(size_t)e * H] : NULL, I,
                on_input ? 1.0 : wk[k], acc, a);
        }
        if (S && w->tensor[ZMOE_TENSOR_SHARED_W13]) {
            double gate = 1.0;
            if (cfg->router.shared_expert_gate && w->tensor[ZMOE_TENSOR_SHARED_GATE])
                gate = sigmoid(dot_f(w->tensor[ZMOE_TENSOR_SHARED_GATE], xt, H));
            mlp(cfg, xt, w->tensor[ZMOE_TENSOR_SHARED_W13], NULL,
                w->tensor[ZMOE_TENSOR_SHARED_W2], NULL, S, gate, acc, a);
        }
        for (uint32_t h = 0; h < H; h++)
            y[(size_t)t * H + h] = (float)acc[h];
        for (uint32_t k = 0; k < K; k++) {
            if (topk_ids)
                topk_ids[(size_t)t * K + k] = ids[k];
            if (topk_weights)
                topk_weights[(size_t)t * K + k] = (float)wk[k];
        }
    }
    free(score);
    free(choice);
    free(gscore);
    free(acc);
    free(a);
    free(wk);
    free(eligible);
    free(gkeep);
    free(ids);
    free(in);
}

void zmoe_ref_experts(const struct zmoe_config *cfg, const struct zmoe_ref_weights *w,
                      const float *x, uint32_t tokens, const uint32_t *topk_ids,
                      const float *topk_weights, float *y)
{
    const uint32_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    const uint32_t K = cfg->model.top_k;
    const bool on_input = cfg->router.apply_router_weight_on_input;
    const float *w13 = w->tensor[ZMOE_TENSOR_W13], *w2 = w->tensor[ZMOE_TENSOR_W2];
    const float *b13 = cfg->experts.bias ? w->tensor[ZMOE_TENSOR_B13] : NULL;
    const float *b2 = cfg->experts.bias ? w->tensor[ZMOE_TENSOR_B2] : NULL;
    double *acc = calloc(H, sizeof *acc), *a = calloc(I, sizeof *a);
    float *in = calloc(H, sizeof *in);
    if (!acc || !a || !in)
        abort(); /* test code: out of memory is fatal */
    for (uint32_t t = 0; t < tokens; t++) {
        const float *xt = &x[(size_t)t * H];
        memset(acc, 0, H * sizeof *acc);
        for (uint32_t k = 0; k < K; k++) {
            const uint32_t e = topk_ids[(size_t)t * K + k];
            const float wk = topk_weights[(size_t)t * K + k];
            if (e >= E)
                continue;
            for (uint32_t h = 0; h < H; h++)
                in[h] = on_input ? xt[h] * wk : xt[h];
            mlp(cfg, in, &w13[(size_t)e * 2 * I * H], b13 ? &b13[(size_t)e * 2 * I] : NULL,
                &w2[(size_t)e * H * I], b2 ? &b2[(size_t)e * H] : NULL, I,
                on_input ? 1.0 : (double)wk, acc, a);
        }
        for (uint32_t h = 0; h < H; h++)
            y[(size_t)t * H + h] = (float)acc[h];
    }
    free(acc);
    free(a);
    free(in);
}

int zmoe_ref_weights_synthetic(const struct zmoe_config *cfg, uint32_t layer,
                               struct zmoe_ref_weights *w)
{
    memset(w, 0, sizeof *w);
    for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
        enum zmoe_tensor t = (enum zmoe_tensor)ti;
        if (!zmoe_tensor_present(cfg, t))
            continue;
        uint64_t n = zmoe_tensor_elements(cfg, t);
        if (n == 0 || n > SIZE_MAX / sizeof(float)) {
            zmoe_ref_weights_free(w);
            return -1;
        }
        float *buf = malloc((size_t)n * sizeof(float));
        if (!buf) {
            zmoe_ref_weights_free(w);
            return -1;
        }
        struct zmoe_qmatrix q;
        if (zmoe_quant_matrix(cfg, t, &q)) {
            /* quantized: the device-layout bytes the runtime uploads, dequantized by
             * the format's definition (weights/quant.c), so the reference multiplies
             * exactly the values the kernels decode */
            void *bytes = q.bytes <= SIZE_MAX ? malloc((size_t)q.bytes) : NULL;
            if (!bytes) {
                free(buf);
                zmoe_ref_weights_free(w);
                return -1;
            }
            zmoe_weights_synthetic_quant(cfg, layer, t, 0, (size_t)q.bytes, bytes);
            zmoe_quant_dequant_rows(&q, bytes, 0, q.rows, buf);
            free(bytes);
        } else {
            zmoe_weights_synthetic(cfg, layer, t, 0, n, buf);
        }
        w->tensor[t] = buf;
    }
    return 0;
}

void zmoe_ref_weights_free(struct zmoe_ref_weights *w)
{
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        free((void *)w->tensor[t]);
        w->tensor[t] = NULL;
    }
}
