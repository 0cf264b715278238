/* Device results against the reference MoE (reference/) on hostdev, through the
 * public API: every router, activation, bias and on-input variant, shared experts with
 * and without gate, every weight/activation dtype pair, T = 1, T > experts, experts
 * without tokens, all tokens on one expert, and randomized geometries.
 * Tolerances (max |y - ref| / max |ref|): 2e-5 when weights and activations are f32
 * (f32 accumulation in another order than the f64 reference), 1e-2 with f16/bf16 (the
 * output is rounded to the activation dtype). */
#include "rt_util.h"

#include <time.h>

struct outcome {
    double rel;
    int experts_hit; /* distinct experts chosen over all tokens (reference) */
    int max_rows;    /* most rows any expert received */
};

/* Runs `tokens` tokens of layer `layer` (x = NULL: random inputs from seed) on the device
 * and the reference; returns false when the device path failed. */
static bool run_case(const struct zmoe_config *c, uint32_t layer, uint32_t tokens, const float *xin,
                     uint64_t seed, struct outcome *out)
{
    struct zmoe_runtime *rt = rt_create(c, "case");
    if (!rt)
        return false;
    const size_t n = (size_t)tokens * c->model.hidden;
    float *x = xin ? NULL : rt_inputs(c, tokens, seed);
    const float *xs = xin ? xin : x;
    float *y = calloc(n, sizeof *y), *ref = calloc(n, sizeof *ref);
    uint32_t *ids = calloc((size_t)tokens * c->model.top_k, sizeof *ids);
    struct zmoe_ref_weights w;
    if (!y || !ref || !ids || zmoe_ref_weights_synthetic(c, layer, &w) != 0)
        tap_bail("out of memory");
    enum zmoe_status st = rt_forward(rt, c, layer, xs, tokens, y);
    zmoe_destroy(rt);
    zmoe_ref_forward(c, &w, xs, tokens, ZMOE_REF_AS_CONFIGURED, ref, ids, NULL);
    zmoe_ref_weights_free(&w);
    out->rel = rt_rel_error(y, ref, n, NULL);
    int rows[ZMOE_KERNEL_EMAX] = {0};
    out->experts_hit = 0;
    out->max_rows = 0;
    for (size_t i = 0; i < (size_t)tokens * c->model.top_k; i++) {
        if (rows[ids[i]]++ == 0)
            out->experts_hit++;
        if (rows[ids[i]] > out->max_rows)
            out->max_rows = rows[ids[i]];
    }
    free(x);
    free(y);
    free(ref);
    free(ids);
    return st == ZMOE_OK;
}

static void check(const char *name, const struct zmoe_config *c, uint32_t layer, uint32_t tokens,
                  uint64_t seed)
{
    struct outcome o;
    bool ok = run_case(c, layer, tokens, NULL, seed, &o);
    double tol = rt_tolerance(c);
    TAP_OK(ok && o.rel <= tol, "%s: T=%u matches the reference (rel %.3g <= %.0e)", name, tokens,
           o.rel, tol);
}

static const char *dt(enum zmoe_dtype d)
{
    return zmoe_dtype_name(d);
}

int main(void)
{
    struct zmoe_config c;

    /* Routers */
    c = rt_base_config();
    check("softmax+renormalize (Mixtral)", &c, 0, 3, 1);
    c = rt_base_config();
    c.router.renormalize = false;
    check("softmax, no renormalize (DeepSeek-V2-Lite)", &c, 0, 4, 2);
    c = rt_base_config();
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    check("sigmoid, no renormalize", &c, 0, 2, 3);
    c = rt_base_config();
    c.model.experts = 32;
    c.model.top_k = 4;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.score_correction_bias = true;
    c.router.groups = 8;
    c.router.topk_group = 4;
    c.router.routed_scaling_factor = 2.5f;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 32;
    check("grouped top-k with score bias, scaling 2.5 (DeepSeek-V3)", &c, 0, 5, 4);
    c = rt_base_config();
    c.model.experts = 16;
    c.model.top_k = 3;
    c.router.renormalize = false;
    c.router.groups = 4;
    c.router.topk_group = 2;
    c.router.routed_scaling_factor = 1.5f;
    check("grouped top-k without score bias", &c, 0, 4, 5);
    c = rt_base_config();
    c.router.bias = true;
    check("router bias", &c, 0, 3, 6);

    /* Activations and biases */
    c = rt_base_config();
    c.experts.activation = ZMOE_ACT_GELU;
    check("gelu (erf)", &c, 0, 3, 7);
    c = rt_base_config();
    c.experts.activation = ZMOE_ACT_GELU_TANH;
    c.experts.bias = true;
    check("gelu_tanh with expert biases", &c, 0, 3, 8);
    c = rt_base_config();
    c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
    c.experts.swiglu_alpha = 1.702f;
    c.experts.swiglu_limit = 0.05f; /* well inside the |g|,|u| range: clamping active */
    c.experts.bias = true;
    c.router.bias = true;
    check("swiglu_oai clamped, biases (GPT-OSS)", &c, 0, 4, 9);
    {
        /* the clamp must actually bite: the same case with a huge limit differs */
        struct outcome a, b;
        struct zmoe_config big = c;
        big.experts.swiglu_limit = 1e6f;
        bool ok = run_case(&c, 0, 4, NULL, 9, &a) && run_case(&big, 0, 4, NULL, 9, &b);
        struct zmoe_ref_weights w;
        float *x = rt_inputs(&c, 4, 9), y1[4 * 64], y2[4 * 64];
        zmoe_ref_weights_synthetic(&c, 0, &w);
        zmoe_ref_forward(&c, &w, x, 4, ZMOE_REF_AS_CONFIGURED, y1, NULL, NULL);
        zmoe_ref_forward(&big, &w, x, 4, ZMOE_REF_AS_CONFIGURED, y2, NULL, NULL);
        zmoe_ref_weights_free(&w);
        free(x);
        TAP_OK(ok && rt_rel_error(y1, y2, 4 * 64, NULL) > 0.1 && b.rel <= rt_tolerance(&big),
               "swiglu_oai: limit 0.05 changes the result (clamping is exercised), limit 1e6 matches too");
    }

    /* apply_router_weight_on_input */
    c = rt_base_config();
    c.model.top_k = 1;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    c.router.apply_router_weight_on_input = true;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 48;
    check("on-input K=1 + shared expert (Llama 4)", &c, 0, 1, 10);
    check("on-input K=1 + shared expert (Llama 4)", &c, 0, 6, 11);
    c.model.top_k = 2;
    c.router.renormalize = true;
    check("on-input K=2", &c, 0, 5, 12);
    c.router.apply_router_weight_on_input = false;
    check("on-input off K=2, shared, no gate", &c, 0, 5, 12);
    c.model.top_k = 1;
    c.router.renormalize = false;
    check("on-input off K=1, shared, no gate", &c, 0, 5, 14);

    /* Shared experts with a gate (Qwen2-MoE) */
    c = rt_base_config();
    c.router.renormalize = false;
    c.model.experts = 16;
    c.model.top_k = 4;
    c.model.shared_experts = 2;
    c.model.shared_intermediate = 24;
    c.router.shared_expert_gate = true;
    check("shared experts with gate (Qwen2-MoE)", &c, 0, 3, 13);

    /* dtypes: every weight x activation pair */
    for (int wd = 0; wd < 3; wd++)
        for (int ad = 0; ad < 3; ad++) {
            char name[96];
            c = rt_base_config();
            c.dtype.weights = (enum zmoe_dtype)wd;
            c.dtype.activations = (enum zmoe_dtype)ad;
            c.model.shared_experts = 1;
            c.model.shared_intermediate = 16;
            c.model.hidden = 66; /* not a multiple of 4: the scalar tails run too */
            c.model.intermediate = 30;
            snprintf(name, sizeof name, "weights %s, activations %s", dt(c.dtype.weights),
                     dt(c.dtype.activations));
            check(name, &c, 0, 3, 20 + (uint64_t)wd * 3 + (uint64_t)ad);
        }

    /* Token counts and routing shapes */
    {
        struct outcome o;
        c = rt_base_config();
        c.model.experts = 16;
        bool ok = run_case(&c, 0, 1, NULL, 30, &o);
        TAP_OK(ok && o.rel <= rt_tolerance(&c) && o.experts_hit == 2,
               "T=1: 14 of 16 experts receive no token (rel %.3g)", o.rel);
        c = rt_base_config();
        c.model.experts = 4;
        c.model.top_k = 2;
        c.runtime.max_tokens = 24;
        ok = run_case(&c, 0, 21, NULL, 31, &o);
        TAP_OK(ok && o.rel <= rt_tolerance(&c) && o.max_rows > (int)ZMOE_KERNEL_RMAX,
               "T=21 > E=4: experts get several tiles (max %d rows, rel %.3g)", o.max_rows, o.rel);
    }
    {
        /* All tokens on one expert: x[t] = 4 * Wr[3] + small noise makes expert 3 win. */
        c = rt_base_config();
        c.model.top_k = 1;
        c.runtime.max_tokens = 20;
        c.model.shared_experts = 1;
        c.model.shared_intermediate = 16;
        const uint32_t T = 19, H = c.model.hidden;
        struct zmoe_ref_weights w;
        zmoe_ref_weights_synthetic(&c, 0, &w);
        float *x = rt_inputs(&c, T, 32);
        double norm = 0;
        for (uint32_t h = 0; h < H; h++)
            norm += (double)w.tensor[ZMOE_TENSOR_ROUTER_W][3 * H + h] * w.tensor[ZMOE_TENSOR_ROUTER_W][3 * H + h];
        for (uint32_t t = 0; t < T; t++)
            for (uint32_t h = 0; h < H; h++)
                x[t * H + h] = (float)(8.0 / norm * w.tensor[ZMOE_TENSOR_ROUTER_W][3 * H + h]) +
                               0.05f * x[t * H + h];
        zmoe_ref_weights_free(&w);
        struct outcome o;
        bool ok = run_case(&c, 0, T, x, 0, &o);
        TAP_OK(ok && o.rel <= rt_tolerance(&c) && o.experts_hit == 1 && o.max_rows == (int)T,
               "all %u tokens routed to one expert (%d experts hit, rel %.3g)", T, o.experts_hit, o.rel);
        free(x);
    }

    /* AT_COMBINE differs for silu; zmoe matches the on-input reference */
    {
        c = rt_base_config();
        c.model.top_k = 2;
        c.router.apply_router_weight_on_input = true;
        const uint32_t T = 4;
        size_t n = (size_t)T * c.model.hidden;
        float *x = rt_inputs(&c, T, 40), *y = calloc(n, 4), *on = calloc(n, 4), *comb = calloc(n, 4);
        struct zmoe_ref_weights w;
        zmoe_ref_weights_synthetic(&c, 0, &w);
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, on, NULL, NULL);
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_FORCE_AT_COMBINE, comb, NULL, NULL);
        zmoe_ref_weights_free(&w);
        struct zmoe_runtime *rt = rt_create(&c, "on-input vs combine");
        enum zmoe_status st = rt ? rt_forward(rt, &c, 0, x, T, y) : ZMOE_ERR_STATE;
        zmoe_destroy(rt);
        double d_ref = rt_rel_error(comb, on, n, NULL), d_on = rt_rel_error(y, on, n, NULL);
        double d_comb = rt_rel_error(y, comb, n, NULL);
        TAP_OK(d_ref > 100 * rt_tolerance(&c), "silu: weight at combine differs from on-input (rel %.3g)", d_ref);
        TAP_OK(st == ZMOE_OK && d_on <= rt_tolerance(&c) && d_comb > 100 * rt_tolerance(&c),
               "zmoe matches on-input (rel %.3g), not at-combine (rel %.3g)", d_on, d_comb);
        free(x);
        free(y);
        free(on);
        free(comb);
    }

    /* Randomized geometries */
    {
        uint64_t seed = (uint64_t)time(NULL);
        const char *env = getenv("ZMOE_TEST_SEED");
        if (env)
            seed = strtoull(env, NULL, 0);
        tap_diag("randomized geometries: seed %llu (ZMOE_TEST_SEED=%llu reproduces)",
                 (unsigned long long)seed, (unsigned long long)seed);
        uint64_t s = seed | 1;
        for (int i = 0; i < 4; i++) {
            /* draw until the config validator accepts the geometry */
            struct zmoe_error verr;
            do {
                c = rt_base_config();
                c.model.hidden = 8 + 4 * (uint32_t)(rt_uniform(&s) * 30) + (uint32_t)(rt_uniform(&s) * 4);
                c.model.intermediate = 4 + (uint32_t)(rt_uniform(&s) * 60);
                c.model.experts = 2 + (uint32_t)(rt_uniform(&s) * 30);
                c.model.top_k = 1 + (uint32_t)(rt_uniform(&s) * (c.model.experts < 6 ? c.model.experts : 6));
                c.model.layers = 1 + (uint32_t)(rt_uniform(&s) * 3);
                c.router.scoring = rt_uniform(&s) < 0.5 ? ZMOE_SCORING_SOFTMAX : ZMOE_SCORING_SIGMOID;
                c.router.renormalize = rt_uniform(&s) < 0.5;
                c.router.bias = rt_uniform(&s) < 0.3;
                c.router.apply_router_weight_on_input = rt_uniform(&s) < 0.3;
                c.experts.activation = (enum zmoe_activation)(rt_uniform(&s) * 3.999);
                if (c.experts.activation == ZMOE_ACT_SWIGLU_OAI) {
                    c.experts.swiglu_alpha = 1.702f;
                    c.experts.swiglu_limit = 0.1f + (float)rt_uniform(&s) * 7.0f;
                }
                c.experts.bias = rt_uniform(&s) < 0.3;
                if (rt_uniform(&s) < 0.4) {
                    c.model.shared_experts = 1 + (uint32_t)(rt_uniform(&s) * 2);
                    c.model.shared_intermediate = 4 + (uint32_t)(rt_uniform(&s) * 40);
                    c.router.shared_expert_gate = rt_uniform(&s) < 0.5;
                }
                c.runtime.max_tokens = 1 + (uint32_t)(rt_uniform(&s) * 20);
            } while (zmoe_config_validate(&c, &verr) != ZMOE_OK);
            uint32_t T = 1 + (uint32_t)(rt_uniform(&s) * c.runtime.max_tokens);
            uint32_t layer = (uint32_t)(rt_uniform(&s) * c.model.layers);
            char name[160];
            snprintf(name, sizeof name, "random #%d H=%u I=%u E=%u K=%u S=%u act=%d %s%s%s layer %u", i,
                     c.model.hidden, c.model.intermediate, c.model.experts, c.model.top_k,
                     c.model.shared_experts * c.model.shared_intermediate, (int)c.experts.activation,
                     c.router.scoring == ZMOE_SCORING_SIGMOID ? "sigmoid" : "softmax",
                     c.router.apply_router_weight_on_input ? " on-input" : "",
                     c.router.renormalize ? " renorm" : "", layer);
            check(name, &c, layer, T, seed + (uint64_t)i);
        }
    }
    return tap_exit();
}
