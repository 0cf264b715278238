/* Hand-checkable cases for the reference MoE (moe_ref.h). Geometry E=4, H=2, I=1 with
 * chosen weights: every expected number below is derived here from the formulas of the
 * semantics, and the expert ids from reading the logits by hand. */
#include "reference/moe_ref.h"
#include "tests/tap.h"

#include <string.h>

#define E 4
#define H 2

static const float x0[H] = {1.0f, 0.5f};
/* logits for x0: e0 = 1, e1 = 0.5, e2 = -1, e3 = 0.75 */
static float router_w[E * H] = {1, 0, 0, 1, -1, 0, 0.5f, 0.5f};
static float router_b[E] = {0, 0, 0, 0};
static float score_bias[E] = {0, 0, 0.6f, 0};
/* W13[e] = gate row, up row */
static float w13[E * 2 * H] = {1, -1, 1, 1, /* e0 */
                               1, 1, 0.5f, -0.5f, /* e1 */
                               -1, 2, 1, 0, /* e2 */
                               2, 0, 0, 1 /* e3 */};
static float b13[E * 2] = {0.25f, -0.5f, 0, 0, 0.125f, 1, -0.25f, 0.5f};
/* W2[e] = [H][I=1] */
static float w2[E * H] = {1, -0.5f, 0.25f, 1, -1, 1, 0.5f, 0.5f};
static float b2[E * H] = {0.5f, 0, 0, -0.25f, 1, 1, 0, 0.75f};
static float shared_w13[2 * H] = {1, -1, 1, 2};
static float shared_w2[H] = {1, 1};
static float shared_gate[H] = {0.5f, 0.5f};

static struct zmoe_config base_cfg(void)
{
    struct zmoe_config c;
    memset(&c, 0, sizeof c);
    c.model.hidden = H;
    c.model.intermediate = 1;
    c.model.experts = E;
    c.model.top_k = 2;
    c.model.layers = 1;
    c.router.scoring = ZMOE_SCORING_SOFTMAX;
    c.router.renormalize = true;
    c.router.groups = 1;
    c.router.topk_group = 1;
    c.router.routed_scaling_factor = 1.0f;
    c.experts.activation = ZMOE_ACT_SILU;
    c.experts.swiglu_alpha = 1.702f;
    c.experts.swiglu_limit = 7.0f;
    c.dtype.weights = ZMOE_DTYPE_F32;
    c.dtype.activations = ZMOE_DTYPE_F32;
    return c;
}

static struct zmoe_ref_weights weights(void)
{
    struct zmoe_ref_weights w;
    memset(&w, 0, sizeof w);
    w.tensor[ZMOE_TENSOR_ROUTER_W] = router_w;
    w.tensor[ZMOE_TENSOR_ROUTER_B] = router_b;
    w.tensor[ZMOE_TENSOR_SCORE_BIAS] = score_bias;
    w.tensor[ZMOE_TENSOR_W13] = w13;
    w.tensor[ZMOE_TENSOR_B13] = b13;
    w.tensor[ZMOE_TENSOR_W2] = w2;
    w.tensor[ZMOE_TENSOR_B2] = b2;
    w.tensor[ZMOE_TENSOR_SHARED_W13] = shared_w13;
    w.tensor[ZMOE_TENSOR_SHARED_W2] = shared_w2;
    w.tensor[ZMOE_TENSOR_SHARED_GATE] = shared_gate;
    return w;
}

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

static double act(const struct zmoe_config *c, double g, double u)
{
    switch (c->experts.activation) {
    case ZMOE_ACT_SILU:
        return g / (1.0 + exp(-g)) * u;
    case ZMOE_ACT_GELU:
        return 0.5 * g * (1.0 + erf(g * M_SQRT1_2)) * u;
    case ZMOE_ACT_GELU_TANH:
        return 0.5 * g * (1.0 + tanh(sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g))) * u;
    default: {
        double lim = c->experts.swiglu_limit;
        g = g > lim ? lim : g;
        u = u > lim ? lim : (u < -lim ? -lim : u);
        return g * sig(c->experts.swiglu_alpha * g) * (u + 1.0);
    }
    }
}

/* Expert e applied to `in` (I = 1), plus biases when configured: out += s * expert(in). */
static void expert(const struct zmoe_config *c, int e, const double in[H], double s,
                   double out[H])
{
    double g = w13[e * 4 + 0] * in[0] + w13[e * 4 + 1] * in[1];
    double u = w13[e * 4 + 2] * in[0] + w13[e * 4 + 3] * in[1];
    if (c->experts.bias) {
        g += b13[e * 2];
        u += b13[e * 2 + 1];
    }
    double a = act(c, g, u);
    for (int h = 0; h < H; h++)
        out[h] += s * (w2[e * H + h] * a + (c->experts.bias ? b2[e * H + h] : 0.0));
}

struct result {
    float y[H];
    uint32_t ids[E];
    float w[E];
};

static struct result run(const struct zmoe_config *c, const float *x,
                         enum zmoe_ref_weighting wt)
{
    struct result r;
    struct zmoe_ref_weights w = weights();
    memset(&r, 0, sizeof r);
    zmoe_ref_forward(c, &w, x, 1, wt, r.y, r.ids, r.w);
    return r;
}

/* y for given ids and routing weights, weights applied at the combine. */
static void expect_combine(const struct zmoe_config *c, const float *x, const int *ids,
                           const double *wk, int K, double y[H])
{
    double in[H] = {x[0], x[1]};
    y[0] = y[1] = 0;
    for (int k = 0; k < K; k++)
        expert(c, ids[k], in, wk[k], y);
}

static void check_y(const struct result *r, const double want[H], const char *what)
{
    TAP_NEAR(r->y[0], want[0], 1e-5, "%s: y[0]", what);
    TAP_NEAR(r->y[1], want[1], 1e-5, "%s: y[1]", what);
}

static void check_ids(const struct result *r, const int *ids, int K, const char *what)
{
    int ok = 1;
    for (int k = 0; k < K; k++)
        ok &= r->ids[k] == (uint32_t)ids[k];
    if (!TAP_OK(ok, "%s: expert ids", what))
        for (int k = 0; k < K; k++)
            tap_diag("  k=%d got %u want %d", k, r->ids[k], ids[k]);
}

int main(void)
{
    const double l0 = 1.0, l1 = 0.5, l2 = -1.0, l3 = 0.75; /* logits of x0 */
    const double Z = exp(l0) + exp(l1) + exp(l2) + exp(l3);

    /* softmax + renormalize, K=2: experts 0 (logit 1) then 3 (0.75) */
    {
        struct zmoe_config c = base_cfg();
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 3};
        double wk[2] = {exp(l0) / (exp(l0) + exp(l3)), exp(l3) / (exp(l0) + exp(l3))}, y[H];
        check_ids(&r, ids, 2, "softmax renormalize");
        TAP_NEAR(r.w[0], wk[0], 1e-6, "softmax renormalize: w0");
        TAP_NEAR(r.w[1], wk[1], 1e-6, "softmax renormalize: w1");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "softmax renormalize");
    }
    /* softmax without renormalize: weights are the full-softmax probabilities */
    {
        struct zmoe_config c = base_cfg();
        c.router.renormalize = false;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 3};
        double wk[2] = {exp(l0) / Z, exp(l3) / Z}, y[H];
        TAP_NEAR(r.w[0], wk[0], 1e-6, "softmax plain: w0");
        TAP_NEAR(r.w[1], wk[1], 1e-6, "softmax plain: w1");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "softmax plain");
    }
    /* sigmoid, no renormalize, routed scaling 2.5 */
    {
        struct zmoe_config c = base_cfg();
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.renormalize = false;
        c.router.routed_scaling_factor = 2.5f;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 3};
        double wk[2] = {2.5 * sig(l0), 2.5 * sig(l3)}, y[H];
        check_ids(&r, ids, 2, "sigmoid scaled");
        TAP_NEAR(r.w[0], wk[0], 1e-6, "sigmoid scaled: w0 = 2.5 sigmoid(1)");
        TAP_NEAR(r.w[1], wk[1], 1e-6, "sigmoid scaled: w1 = 2.5 sigmoid(0.75)");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "sigmoid scaled");
    }
    /* sigmoid + renormalize + scaling: renormalize first, then scale */
    {
        struct zmoe_config c = base_cfg();
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.routed_scaling_factor = 2.5f;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        double s = sig(l0) + sig(l3);
        TAP_NEAR(r.w[0], 2.5 * sig(l0) / s, 1e-6, "renormalize then scale: w0");
        TAP_NEAR(r.w[0] + r.w[1], 2.5, 1e-6, "renormalize then scale: weights sum to 2.5");
    }
    /* grouped top-k without score bias: groups {0,1} {2,3}, group score = max score;
     * group 0 (max 1) beats group 1 (max 0.75), so K=2 picks 0 and 1, not 0 and 3 */
    {
        struct zmoe_config c = base_cfg();
        c.router.groups = 2;
        c.router.topk_group = 1;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 1};
        double wk[2] = {exp(l0) / (exp(l0) + exp(l1)), exp(l1) / (exp(l0) + exp(l1))}, y[H];
        check_ids(&r, ids, 2, "grouped, no bias");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "grouped, no bias");
        c.router.topk_group = 2; /* all groups kept: same as ungrouped */
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids2[2] = {0, 3};
        check_ids(&r, ids2, 2, "grouped, all groups kept");
    }
    /* DeepSeek-V3 style: sigmoid + score bias (+0.6 on e2) + groups (sum of top-2).
     * choices: 0.731, 0.622, 0.269+0.6=0.869, 0.679; group sums 1.353 vs 1.548, so group
     * 1 wins: ids 2 (0.869) then 3; weights are the scores without the bias. */
    {
        struct zmoe_config c = base_cfg();
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.score_correction_bias = true;
        c.router.groups = 2;
        c.router.topk_group = 1;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {2, 3};
        double s = sig(l2) + sig(l3);
        double wk[2] = {sig(l2) / s, sig(l3) / s}, y[H];
        check_ids(&r, ids, 2, "grouped with score bias");
        TAP_NEAR(r.w[0], wk[0], 1e-6, "grouped with score bias: w0 from the unbiased score");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "grouped with score bias");
        /* bias without groups: 2 (0.869) then 0 (0.731) */
        c.router.groups = 1;
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids2[2] = {2, 0};
        check_ids(&r, ids2, 2, "score bias, ungrouped");
        /* with the bias the group score is the sum of the top two, not the max: +0.43 on
         * e2 gives group 1 choices 0.699, 0.679 (sum 1.378, max 0.699) against group 0's
         * 0.731, 0.622 (sum 1.353, max 0.731): group 1 wins only by the sum */
        c.router.groups = 2;
        score_bias[2] = 0.43f;
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        score_bias[2] = 0.6f;
        int ids4[2] = {2, 3};
        check_ids(&r, ids4, 2, "grouped with score bias: group score is the top-2 sum");
        /* groups without bias use the max: group 0 (0.731) wins */
        c.router.groups = 2;
        c.router.score_correction_bias = false;
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids3[2] = {0, 1};
        check_ids(&r, ids3, 2, "sigmoid grouped, no bias");
    }
    /* ties go to the lower expert index: x = (0.5, 0.5) gives logits 0.5, 0.5, -0.5, 0.5 */
    {
        struct zmoe_config c = base_cfg();
        static const float xt[H] = {0.5f, 0.5f};
        struct result r = run(&c, xt, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 1}; /* three-way tie at 0.5 among 0, 1, 3 */
        check_ids(&r, ids, 2, "three-way tie: lowest indices");
        c.model.top_k = 3;
        r = run(&c, xt, ZMOE_REF_AS_CONFIGURED);
        int ids3[3] = {0, 1, 3};
        check_ids(&r, ids3, 3, "three-way tie, K=3: ascending indices");
        TAP_NEAR(r.w[0], 1.0 / 3.0, 1e-6, "three-way tie: equal weights");
    }
    /* router bias changes the choice: +2.5 on e2 makes its logit 1.5, the top */
    {
        struct zmoe_config c = base_cfg();
        c.router.bias = true;
        router_b[2] = 2.5f;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        router_b[2] = 0.0f;
        int ids[2] = {2, 0};
        double zz = exp(1.5) + exp(l0);
        double wk[2] = {exp(1.5) / zz, exp(l0) / zz}, y[H];
        check_ids(&r, ids, 2, "router bias");
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "router bias");
    }
    /* every activation, K=1 (expert 0, weight 1 after renormalize) */
    {
        static const enum zmoe_activation acts[] = {ZMOE_ACT_SILU, ZMOE_ACT_GELU,
                                                    ZMOE_ACT_GELU_TANH, ZMOE_ACT_SWIGLU_OAI};
        static const char *names[] = {"silu", "gelu", "gelu_tanh", "swiglu_oai"};
        for (int i = 0; i < 4; i++) {
            struct zmoe_config c = base_cfg();
            c.model.top_k = 1;
            c.experts.activation = acts[i];
            /* x1 = (2, -1): logits 2, -1, -2, 0.5, so expert 0 with weight 1;
             * its gate row (1, -1) gives g = 3, its up row (1, 1) gives u = 1 */
            static const float x1[H] = {2.0f, -1.0f};
            struct result r = run(&c, x1, ZMOE_REF_AS_CONFIGURED);
            double g = 1 * 2 + -1 * -1, u = 1 * 2 + 1 * -1; /* 3, 1 */
            double a = act(&c, g, u);
            double want[H] = {1 * a, -0.5 * a};
            char what[64];
            snprintf(what, sizeof what, "activation %s", names[i]);
            check_y(&r, want, what);
        }
        /* the activations really differ at g = 2 */
        struct zmoe_config c = base_cfg();
        double s = act(&c, 2, 1);
        c.experts.activation = ZMOE_ACT_GELU;
        double ge = act(&c, 2, 1);
        c.experts.activation = ZMOE_ACT_GELU_TANH;
        double gt = act(&c, 2, 1);
        TAP_OK(fabs(s - ge) > 1e-2 && fabs(ge - gt) > 1e-5, "silu, gelu, gelu_tanh differ");
    }
    /* swiglu_oai clamping (alpha 1.702, limit 7), K=1: x = (6, 2) picks e0 (logit 6):
     * g = 4, u = 8 -> 7. x = (20, 0): g = 10 -> 7, u = 20 -> 7. x = (-20, 0) picks e2
     * (logit 20): g = 20 -> 7, u = -20 -> -7. */
    {
        struct zmoe_config c = base_cfg();
        c.model.top_k = 1;
        c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
        const double al = 1.702, lim = 7.0;
        static const float xa[H] = {6.0f, 2.0f}, xb[H] = {20.0f, 0.0f}, xc[H] = {-20.0f, 0.0f};
        struct result r = run(&c, xa, ZMOE_REF_AS_CONFIGURED);
        double a = 4.0 * sig(al * 4.0) * (lim + 1.0);
        double want[H] = {a, -0.5 * a};
        check_y(&r, want, "swiglu_oai: up clamped at +limit");
        r = run(&c, xb, ZMOE_REF_AS_CONFIGURED);
        a = lim * sig(al * lim) * (lim + 1.0);
        double want2[H] = {a, -0.5 * a};
        check_y(&r, want2, "swiglu_oai: gate clamped at limit");
        r = run(&c, xc, ZMOE_REF_AS_CONFIGURED);
        int ids[1] = {2};
        check_ids(&r, ids, 1, "swiglu_oai x=(-20,0): expert 2");
        a = lim * sig(al * lim) * (-lim + 1.0); /* g = 20 -> 7, u = -20 -> -7 */
        double want3[H] = {-a, a};
        check_y(&r, want3, "swiglu_oai: up clamped at -limit");
        /* the gate is clamped only from above: force e0 with a router bias; x = (-6, 2)
         * gives g = -8 (kept, not -7) and u = -4. alpha 0.25 keeps sigmoid(alpha g) large
         * enough for -8 and -7 to give clearly different results. */
        c.router.bias = true;
        c.experts.swiglu_alpha = 0.25f;
        router_b[0] = 100.0f;
        static const float xe[H] = {-6.0f, 2.0f};
        r = run(&c, xe, ZMOE_REF_AS_CONFIGURED);
        router_b[0] = 0.0f;
        a = -8.0 * sig(0.25 * -8.0) * (-4.0 + 1.0);
        TAP_OK(fabs(a - -7.0 * sig(0.25 * -7.0) * -3.0) > 0.1, "g=-8 vs g=-7 distinguishable");
        double want4[H] = {a, -0.5 * a};
        check_y(&r, want4, "swiglu_oai: gate -8 not clamped below");
    }
    /* expert biases B13 and B2 */
    {
        struct zmoe_config c = base_cfg();
        c.experts.bias = true;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 3};
        double wk[2] = {exp(l0) / (exp(l0) + exp(l3)), exp(l3) / (exp(l0) + exp(l3))}, y[H];
        expect_combine(&c, x0, ids, wk, 2, y);
        check_y(&r, y, "expert biases");
        struct zmoe_config c2 = base_cfg();
        struct result r2 = run(&c2, x0, ZMOE_REF_AS_CONFIGURED);
        TAP_OK(fabs(r.y[0] - r2.y[0]) > 1e-3, "biases change y");
    }
    /* shared expert (S = 1), without and with the sigmoid gate; it sees the unscaled x */
    {
        struct zmoe_config c = base_cfg();
        c.model.shared_experts = 1;
        c.model.shared_intermediate = 1;
        struct result r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        int ids[2] = {0, 3};
        double wk[2] = {exp(l0) / (exp(l0) + exp(l3)), exp(l3) / (exp(l0) + exp(l3))}, y[H];
        expect_combine(&c, x0, ids, wk, 2, y);
        double sg = 1.0 - 0.5, su = 1.0 + 1.0; /* shared gate/up rows . x0 */
        double sa = sg / (1 + exp(-sg)) * su;
        double y1[H] = {y[0] + sa, y[1] + sa};
        check_y(&r, y1, "shared expert");
        c.router.shared_expert_gate = true;
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        double gate = sig(0.5 * 1.0 + 0.5 * 0.5);
        double y2[H] = {y[0] + gate * sa, y[1] + gate * sa};
        check_y(&r, y2, "shared expert with gate");
        /* on_input scales only the routed copies, not the shared expert's input */
        c.router.shared_expert_gate = false;
        c.router.apply_router_weight_on_input = true;
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.renormalize = false;
        c.model.top_k = 1;
        r = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        float w0 = (float)sig(l0);
        double in[H] = {x0[0] * w0, x0[1] * w0}, y3[H] = {sa, sa};
        expert(&c, 0, in, 1.0, y3);
        check_y(&r, y3, "shared expert with on_input");
    }
    /* The key one: apply_router_weight_on_input scales x before a non-linear expert;
     * applying the weight at the combine instead gives a different y. Llama 4 style:
     * sigmoid, no renormalize. */
    for (int K = 1; K <= 2; K++) {
        struct zmoe_config c = base_cfg();
        c.model.top_k = (uint32_t)K;
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.renormalize = false;
        c.router.apply_router_weight_on_input = true;
        struct result on = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        struct result comb = run(&c, x0, ZMOE_REF_FORCE_AT_COMBINE);
        int ids[2] = {0, 3};
        double wk[2] = {sig(l0), sig(l3)}, yon[H] = {0, 0}, ycomb[H];
        for (int k = 0; k < K; k++) {
            float wf = (float)wk[k];
            double in[H] = {(double)(x0[0] * wf), (double)(x0[1] * wf)};
            expert(&c, ids[k], in, 1.0, yon);
        }
        expect_combine(&c, x0, ids, wk, K, ycomb);
        char what[64];
        snprintf(what, sizeof what, "on_input K=%d", K);
        check_y(&on, yon, what);
        snprintf(what, sizeof what, "at_combine K=%d", K);
        check_y(&comb, ycomb, what);
        TAP_OK(fabs(on.y[0] - comb.y[0]) > 1e-3 || fabs(on.y[1] - comb.y[1]) > 1e-3,
               "silu K=%d: on_input y (%g, %g) differs from at_combine y (%g, %g)", K,
               on.y[0], on.y[1], comb.y[0], comb.y[1]);
        check_ids(&on, ids, K, "on_input routing unchanged");
    }
    /* multi-token: each token routed independently (x0 then x=(0.5,0.5)) */
    {
        struct zmoe_config c = base_cfg();
        struct zmoe_ref_weights w = weights();
        float xs[2 * H] = {1.0f, 0.5f, 0.5f, 0.5f}, y[2 * H];
        uint32_t ids[4];
        zmoe_ref_forward(&c, &w, xs, 2, ZMOE_REF_AS_CONFIGURED, y, ids, NULL);
        struct result r0 = run(&c, x0, ZMOE_REF_AS_CONFIGURED);
        TAP_OK(ids[0] == 0 && ids[1] == 3 && ids[2] == 0 && ids[3] == 1,
               "two tokens: ids %u %u | %u %u", ids[0], ids[1], ids[2], ids[3]);
        TAP_OK(y[0] == r0.y[0] && y[1] == r0.y[1], "two tokens: token 0 as when alone");
    }
    /* synthetic reference weights: every present tensor allocated, absent ones NULL */
    {
        struct zmoe_config c = base_cfg();
        c.model.hidden = 16;
        c.model.intermediate = 8;
        c.model.experts = 8;
        c.model.shared_experts = 2;
        c.model.shared_intermediate = 4;
        c.experts.bias = true;
        c.weights.seed = 7;
        struct zmoe_ref_weights w;
        TAP_EQ_INT(zmoe_ref_weights_synthetic(&c, 0, &w), 0, "synthetic ref weights");
        TAP_OK(w.tensor[ZMOE_TENSOR_W13] && w.tensor[ZMOE_TENSOR_B13] &&
                   w.tensor[ZMOE_TENSOR_SHARED_W2] && !w.tensor[ZMOE_TENSOR_ROUTER_B] &&
                   !w.tensor[ZMOE_TENSOR_SHARED_GATE],
               "synthetic ref weights: presence follows the config");
        float xs[16], y[16];
        for (int i = 0; i < 16; i++)
            xs[i] = (float)(i - 8) / 8.0f;
        zmoe_ref_forward(&c, &w, xs, 1, ZMOE_REF_AS_CONFIGURED, y, NULL, NULL);
        int finite = 1;
        double norm = 0;
        for (int i = 0; i < 16; i++) {
            finite &= isfinite(y[i]);
            norm += fabs(y[i]);
        }
        TAP_OK(finite && norm > 1e-3, "synthetic forward gives finite, non-zero y (%g)", norm);
        zmoe_ref_weights_free(&w);
        TAP_OK(w.tensor[ZMOE_TENSOR_W13] == NULL, "free clears the pointers");
    }
    /* the routed experts on GIVEN routing (zmoe_ref_experts): ids and weights as the
     * caller gives them, no router, no renormalization, no shared expert */
    {
        struct zmoe_config c = base_cfg();
        c.experts.bias = true;
        c.model.shared_experts = 1; /* present, and not part of the experts-only call */
        c.model.shared_intermediate = 1;
        struct zmoe_ref_weights w = weights();
        const float x2[2 * H] = {1.0f, 0.5f, -0.5f, 2.0f};
        const uint32_t ids[4] = {2, 1, 3, 3}; /* token 1 names expert 3 twice */
        const float wk[4] = {0.75f, 0.5f, 0.25f, 2.0f};
        float y[2 * H];
        zmoe_ref_experts(&c, &w, x2, 2, ids, wk, y);
        double want[2][H] = {{0, 0}, {0, 0}};
        for (int t = 0; t < 2; t++) {
            double in[H] = {x2[t * H], x2[t * H + 1]};
            for (int k = 0; k < 2; k++)
                expert(&c, (int)ids[t * 2 + k], in, wk[t * 2 + k], want[t]);
        }
        TAP_NEAR(y[0], want[0][0], 1e-5, "given routing, at combine: token 0 y[0]");
        TAP_NEAR(y[1], want[0][1], 1e-5, "given routing, at combine: token 0 y[1]");
        TAP_NEAR(y[2], want[1][0], 1e-5, "given routing, repeated expert: token 1 y[0]");
        TAP_NEAR(y[3], want[1][1], 1e-5, "given routing, repeated expert: token 1 y[1]");
        /* on input: expert(x * w) with combine weight 1 (differs with a non-linear act) */
        c.router.apply_router_weight_on_input = true;
        zmoe_ref_experts(&c, &w, x2, 1, ids, wk, y);
        double on[H] = {0, 0};
        for (int k = 0; k < 2; k++) {
            double in[H] = {x2[0] * wk[k], x2[1] * wk[k]};
            expert(&c, (int)ids[k], in, 1.0, on);
        }
        TAP_NEAR(y[0], on[0], 1e-5, "given routing, on input: y[0]");
        TAP_NEAR(y[1], on[1], 1e-5, "given routing, on input: y[1]");
        TAP_OK(fabs(on[0] - want[0][0]) > 1e-3, "on input differs from at combine (%g vs %g)", on[0],
               want[0][0]);
        /* an id >= E contributes nothing */
        c.router.apply_router_weight_on_input = false;
        const uint32_t bad[2] = {2, 9};
        zmoe_ref_experts(&c, &w, x2, 1, bad, wk, y);
        double one[H] = {0, 0}, in0[H] = {x2[0], x2[1]};
        expert(&c, 2, in0, wk[0], one);
        TAP_NEAR(y[0], one[0], 1e-5, "given routing: an id >= E is skipped (y[0])");
        TAP_NEAR(y[1], one[1], 1e-5, "given routing: an id >= E is skipped (y[1])");
    }
    return tap_exit();
}
