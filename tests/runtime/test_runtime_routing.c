/* Routing readback (zmoe_slot.topk_ids_host / topk_weights_host) against the reference
 * MoE's topk_ids / topk_weights on hostdev: softmax + renormalize, sigmoid with
 * apply_router_weight_on_input and K > 1 (the weights that scaled the input), grouped
 * top-k with score bias and scaling, bf16, exact ties (zero rows: every expert scores the
 * same, so the lowest indices win, also across groups), several slots and layers in
 * flight at once (each slot keeps its own submit's choice although the device buffers are
 * shared), and T below max_tokens. ids must be equal; weights within 1e-5 relative (f32
 * on the device against the f64 reference). */
#include "rt_util.h"

struct routing {
    uint32_t *ids;
    float *w;
    float *y;
};

static void routing_alloc(struct routing *r, const struct zmoe_config *c, uint32_t tokens)
{
    size_t tk = (size_t)tokens * c->model.top_k;
    r->ids = calloc(tk, sizeof *r->ids);
    r->w = calloc(tk, sizeof *r->w);
    r->y = calloc((size_t)tokens * c->model.hidden, sizeof *r->y);
    if (!r->ids || !r->w || !r->y)
        tap_bail("out of memory");
}

static void routing_free(struct routing *r)
{
    free(r->ids);
    free(r->w);
    free(r->y);
}

/* The reference's choice and output for `tokens` rows of x on `layer`. */
static void reference(const struct zmoe_config *c, uint32_t layer, const float *x, uint32_t tokens,
                      struct routing *out)
{
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(c, layer, &w) != 0)
        tap_bail("reference weights");
    routing_alloc(out, c, tokens);
    zmoe_ref_forward(c, &w, x, tokens, ZMOE_REF_AS_CONFIGURED, out->y, out->ids, out->w);
    zmoe_ref_weights_free(&w);
}

/* Copies the slot's readback (first `tokens` rows) and output. */
static void read_slot(const struct zmoe_config *c, const struct zmoe_slot *slot, uint32_t tokens,
                      struct routing *out)
{
    routing_alloc(out, c, tokens);
    size_t tk = (size_t)tokens * c->model.top_k;
    memcpy(out->ids, slot->topk_ids_host, tk * sizeof *out->ids);
    memcpy(out->w, slot->topk_weights_host, tk * sizeof *out->w);
    zmoe_dtype_convert(out->y, ZMOE_DTYPE_F32, slot->output_host, c->dtype.activations,
                       (size_t)tokens * c->model.hidden);
}

/* Compares device and reference routing; prints the first difference. */
static bool same_routing(const struct zmoe_config *c, uint32_t tokens, const struct routing *dev,
                         const struct routing *ref, double *max_wrel)
{
    const uint32_t K = c->model.top_k;
    bool ok = true;
    *max_wrel = 0;
    for (uint32_t t = 0; t < tokens; t++)
        for (uint32_t k = 0; k < K; k++) {
            size_t i = (size_t)t * K + k;
            double d = fabs((double)dev->w[i] - (double)ref->w[i]);
            double rel = d / (fabs((double)ref->w[i]) > 1e-30 ? fabs((double)ref->w[i]) : 1e-30);
            if (isnan(dev->w[i]))
                rel = INFINITY;
            if (rel > *max_wrel)
                *max_wrel = rel;
            if (ok && (dev->ids[i] != ref->ids[i] || rel > 1e-5)) {
                tap_diag("token %u choice %u: device expert %u weight %.9g, reference expert %u "
                         "weight %.9g", t, k, dev->ids[i], (double)dev->w[i], ref->ids[i],
                         (double)ref->w[i]);
                ok = false;
            }
        }
    return ok;
}

/* One submit of `tokens` rows on `layer`; compares the readback with the reference. */
static void check(const char *name, const struct zmoe_config *c, uint32_t layer, const float *x,
                  uint32_t tokens)
{
    struct zmoe_runtime *rt = rt_create(c, name);
    struct zmoe_error err = {{0}};
    struct zmoe_slot slot = {0};
    enum zmoe_status st = rt ? zmoe_slot_acquire(rt, &slot, &err) : ZMOE_ERR_STATE;
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                           (size_t)tokens * c->model.hidden);
        st = zmoe_submit(rt, &slot, layer, tokens, &err);
    }
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, &err);
    if (st || !slot.topk_ids_host || !slot.topk_weights_host) {
        TAP_OK(0, "%s: forward with readback (%s: %s)", name, zmoe_status_str(st), err.msg);
        zmoe_destroy(rt);
        return;
    }
    struct routing dev, ref;
    read_slot(c, &slot, tokens, &dev);
    zmoe_destroy(rt);
    reference(c, layer, x, tokens, &ref);
    double wrel;
    bool same = same_routing(c, tokens, &dev, &ref, &wrel);
    double yrel = rt_rel_error(dev.y, ref.y, (size_t)tokens * c->model.hidden, NULL);
    TAP_OK(same && yrel <= rt_tolerance(c),
           "%s: T=%u K=%u readback equals the reference's topk_ids/topk_weights (weights rel %.2g; "
           "y rel %.2g)", name, tokens, c->model.top_k, wrel, yrel);
    routing_free(&dev);
    routing_free(&ref);
}

static void check_random(const char *name, const struct zmoe_config *c, uint32_t layer,
                         uint32_t tokens, uint64_t seed)
{
    float *x = rt_inputs(c, tokens, seed);
    check(name, c, layer, x, tokens);
    free(x);
}

/* Every other row zero: all logits 0 (no router bias), every expert scores the same. */
static float *inputs_with_zero_rows(const struct zmoe_config *c, uint32_t tokens, uint64_t seed)
{
    float *x = rt_inputs(c, tokens, seed);
    for (uint32_t t = 0; t < tokens; t += 2)
        memset(x + (size_t)t * c->model.hidden, 0, c->model.hidden * sizeof *x);
    return x;
}

/* The reference picks experts 0..K-1 for the zero rows (so a tie is really exercised)
 * and the device agrees. */
static void check_ties(const char *name, const struct zmoe_config *c, uint32_t tokens,
                       uint64_t seed)
{
    float *x = inputs_with_zero_rows(c, tokens, seed);
    struct routing ref;
    reference(c, 0, x, tokens, &ref);
    bool lowest = true;
    for (uint32_t t = 0; t < tokens; t += 2)
        for (uint32_t k = 0; k < c->model.top_k; k++)
            lowest = lowest && ref.ids[(size_t)t * c->model.top_k + k] == k &&
                     ref.w[(size_t)t * c->model.top_k + k] == ref.w[(size_t)t * c->model.top_k];
    TAP_OK(lowest, "%s: zero rows tie every expert; the reference takes experts 0..%u with equal "
                   "weights", name, c->model.top_k - 1);
    routing_free(&ref);
    check(name, c, 0, x, tokens);
    free(x);
}

/* Two layers on the slots of a depth-3 ring, all in flight before the first wait: each
 * slot's readback is its own submit's, although act.topk_ids/topk_w are shared. */
static void check_in_flight(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 2;
    c.model.experts = 16;
    c.model.top_k = 3;
    c.runtime.ring_depth = 3;
    c.runtime.max_tokens = 6;
    struct zmoe_runtime *rt = rt_create(&c, "in flight");
    if (!rt) {
        TAP_OK(0, "in flight: runtime");
        return;
    }
    struct zmoe_error err = {{0}};
    struct zmoe_slot slot[3];
    float *x[3];
    const uint32_t tokens[3] = {6, 2, 5}, layer[3] = {0, 1, 1};
    enum zmoe_status st = ZMOE_OK;
    for (int i = 0; i < 3; i++) {
        x[i] = rt_inputs(&c, tokens[i], 500 + (uint64_t)i);
        if (!st)
            st = zmoe_slot_acquire(rt, &slot[i], &err);
        if (!st) {
            memcpy(slot[i].input_host, x[i], (size_t)tokens[i] * c.model.hidden * sizeof(float));
            st = zmoe_submit(rt, &slot[i], layer[i], tokens[i], &err);
        }
    }
    bool distinct = !st && slot[0].topk_ids_host != slot[1].topk_ids_host &&
                    slot[1].topk_ids_host != slot[2].topk_ids_host &&
                    slot[0].topk_weights_host != slot[2].topk_weights_host;
    bool ok = true;
    double worst = 0;
    for (int i = 0; i < 3 && !st; i++) {
        st = zmoe_wait(rt, &slot[i], UINT64_MAX, &err);
        if (st)
            break;
        struct routing dev, ref;
        read_slot(&c, &slot[i], tokens[i], &dev);
        reference(&c, layer[i], x[i], tokens[i], &ref);
        double wrel;
        ok = ok && same_routing(&c, tokens[i], &dev, &ref, &wrel);
        worst = wrel > worst ? wrel : worst;
        routing_free(&dev);
        routing_free(&ref);
    }
    TAP_OK(!st && distinct && ok,
           "3 slots over 2 layers in flight: each slot reads back its own submit's routing "
           "(weights rel %.2g)%s%s", worst, st ? ": " : "", st ? err.msg : "");
    /* T below max_tokens after a full submit on the same slot: the first T rows are the
     * new submit's. */
    struct zmoe_slot s;
    float *xs = rt_inputs(&c, 1, 600);
    st = zmoe_slot_acquire(rt, &s, &err);
    if (!st) {
        memcpy(s.input_host, xs, c.model.hidden * sizeof(float));
        st = zmoe_submit(rt, &s, 0, 1, &err);
    }
    if (!st)
        st = zmoe_wait(rt, &s, UINT64_MAX, &err);
    struct routing dev, ref;
    reference(&c, 0, xs, 1, &ref);
    double wrel = 0;
    if (!st)
        read_slot(&c, &s, 1, &dev);
    TAP_OK(!st && s.index == slot[0].index && same_routing(&c, 1, &dev, &ref, &wrel),
           "T=1 on the slot that last ran T=6: row 0 is the new token's routing");
    if (!st)
        routing_free(&dev);
    routing_free(&ref);
    free(xs);
    for (int i = 0; i < 3; i++)
        free(x[i]);
    zmoe_destroy(rt);
}

/* The plan: per-slot readback buffers are host-visible I/O of [max_tokens][K] u32/f32,
 * and act.topk_ids shares no byte with any activation of a later stage (the readback
 * copy only waits for align, so it may run next to expert_up/down and combine). */
static void check_plan(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 2;
    c.model.top_k = 3;
    c.runtime.ring_depth = 3;
    c.runtime.max_tokens = 5;
    uint32_t cap = zmoe_runtime_max_buffers(&c);
    struct zmoe_buffer *b = calloc(cap, sizeof *b);
    struct zmoe_plan plan;
    struct zmoe_runtime_buffers ids;
    struct zmoe_error err;
    zmoe_plan_init(&plan, b, cap);
    bool ok = zmoe_runtime_plan(&c, &plan, &ids, &err) == ZMOE_OK;
    for (uint32_t s = 0; ok && s < c.runtime.ring_depth; s++)
        for (int k = ZMOE_SLOT_TOPK_IDS_HOST; k <= ZMOE_SLOT_TOPK_W_HOST; k++) {
            const struct zmoe_buffer *p = &b[zmoe_runtime_slot_buffer(&ids, s, (enum zmoe_slot_buffer)k)];
            ok = ok && p->memory == ZMOE_MEMORY_HOST_VISIBLE && p->category == ZMOE_CATEGORY_IO &&
                 p->size == (uint64_t)c.runtime.max_tokens * c.model.top_k * 4;
        }
    TAP_OK(ok, "each of 3 slots has host-visible I/O buffers for topk ids and weights of "
               "max_tokens x K x 4 bytes");
    const struct zmoe_buffer *tid = &b[ids.act[ZMOE_ACT_TOPK_IDS]];
    bool alone = ok && tid->last_stage == ZMOE_STAGE_COMBINE;
    for (int a = 0; alone && a < ZMOE_ACT_COUNT; a++) {
        const struct zmoe_buffer *q = &b[ids.act[a]];
        if (a != ZMOE_ACT_TOPK_IDS && tid->offset < q->offset + q->size &&
            q->offset < tid->offset + tid->size)
            alone = false, tap_diag("act.topk_ids shares bytes with %s", zmoe_act_name(a));
    }
    TAP_OK(alone, "act.topk_ids lives to combine and shares no byte with another activation");
    free(b);
}

int main(void)
{
    struct zmoe_config c;

    check_plan();

    c = rt_base_config(); /* softmax + renormalize, E=8 K=2 (Mixtral) */
    check_random("softmax+renormalize", &c, 0, 8, 1);
    c.router.renormalize = false;
    check_random("softmax, no renormalize", &c, 0, 5, 2);

    /* sigmoid, on-input, K > 1: the weights returned are the ones that scaled x */
    c = rt_base_config();
    c.model.top_k = 3;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    c.router.apply_router_weight_on_input = true;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 32;
    check_random("sigmoid on-input K=3, no renormalize", &c, 0, 6, 3);
    c.router.renormalize = true;
    c.router.routed_scaling_factor = 1.5f;
    check_random("sigmoid on-input K=3, renormalize, scaling 1.5", &c, 0, 7, 4);

    /* grouped top-k (DeepSeek-V3): sigmoid, score bias, 8 groups keep 4, scaling 2.5 */
    c = rt_base_config();
    c.model.experts = 32;
    c.model.top_k = 4;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.score_correction_bias = true;
    c.router.groups = 8;
    c.router.topk_group = 4;
    c.router.routed_scaling_factor = 2.5f;
    check_random("grouped top-k with score bias, scaling 2.5", &c, 0, 8, 5);
    c.router.score_correction_bias = false;
    c.router.scoring = ZMOE_SCORING_SOFTMAX;
    c.router.renormalize = false;
    check_random("grouped top-k, softmax, no score bias", &c, 0, 4, 6);

    /* router bias, bf16 weights and activations, two layers (layer 1) */
    c = rt_base_config();
    c.model.layers = 2;
    c.router.bias = true;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    c.dtype.activations = ZMOE_DTYPE_BF16;
    check_random("router bias, bf16, layer 1", &c, 1, 6, 7);

    /* ties */
    c = rt_base_config();
    check_ties("ties, softmax+renormalize", &c, 8, 8);
    c = rt_base_config();
    c.model.top_k = 3;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    c.router.apply_router_weight_on_input = true;
    check_ties("ties, sigmoid on-input K=3", &c, 6, 9);
    c = rt_base_config();
    c.model.experts = 16;
    c.model.top_k = 3;
    c.router.groups = 4;
    c.router.topk_group = 2;
    c.router.renormalize = true;
    check_ties("ties, grouped top-k (4 groups keep 2)", &c, 5, 10);

    check_in_flight();
    return tap_exit();
}
