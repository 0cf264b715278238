/* The experts-only call with the caller's routing (zmoe_record_experts) through the
 * public API on hostdev: the caller's context, queue and command list, topk_ids and
 * topk_weights in the caller's device-visible memory, y against the reference on the
 * same given routing (reference/ zmoe_ref_experts) for Mixtral-like softmax routing
 * (every weight/activation dtype pair), Llama 4 on input with K=1 and K=2, GPT-OSS
 * swiglu with expert biases, DeepSeek-like K=6 (with TK above the align work-group),
 * T in {1, 5, max_tokens} from one recorded list; shared experts configured but not part
 * of the call; bad ids (>= E, a negative int32) flagged by zmoe_routing_status with layer,
 * token, k and id, y finite, no id >= E reaching the expert stages; argument and phase
 * errors; no host allocation after init. The meson entry runtime_experts_gpu_split runs
 * it again with a GPU's shape (32 lanes, interleaved). Test code: malloc is fine here. */
#include "rt_util.h"

#include <stdio.h>

static ze_driver_handle_t drv;
static ze_device_handle_t dev;
static ze_context_handle_t ctx;
static ze_command_queue_handle_t queue;

static void env_up(void)
{
    if (zeInit(0) != ZE_RESULT_SUCCESS)
        tap_bail("zeInit failed");
    uint32_t n = 1;
    if (zeDriverGet(&n, &drv) || (n = 1, zeDeviceGet(drv, &n, &dev)))
        tap_bail("no device");
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    ze_command_queue_desc_t qd = {.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                  .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS};
    if (zeContextCreate(drv, &cd, &ctx) || zeCommandQueueCreate(ctx, dev, &qd, &queue))
        tap_bail("cannot create the caller's context and queue");
}

static void *ze_host(size_t n)
{
    ze_host_mem_alloc_desc_t d = {.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC};
    void *p = NULL;
    if (zeMemAllocHost(ctx, &d, n, 64, &p) != ZE_RESULT_SUCCESS)
        tap_bail("zeMemAllocHost(%zu) failed", n);
    memset(p, 0, n);
    return p;
}

static ze_command_list_handle_t new_list(void)
{
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ze_command_list_handle_t l;
    if (zeCommandListCreate(ctx, dev, &ld, &l))
        tap_bail("zeCommandListCreate failed");
    return l;
}

static ze_result_t run_list(ze_command_list_handle_t l)
{
    ze_result_t r = zeCommandQueueExecuteCommandLists(queue, 1, &l, NULL);
    return r ? r : zeCommandQueueSynchronize(queue, UINT64_MAX);
}

/* The caller's buffers, sized for max_tokens. */
struct io {
    void *x, *y;
    uint32_t *ids, *tok;
    float *w;
};

static struct io io_alloc(const struct zmoe_config *c)
{
    const size_t T = c->runtime.max_tokens, H = c->model.hidden, K = c->model.top_k;
    const size_t asz = zmoe_dtype_size(c->dtype.activations);
    struct io b = {ze_host(T * H * asz), ze_host(T * H * asz), ze_host(T * K * 4), ze_host(4),
                   ze_host(T * K * 4)};
    return b;
}

static void io_free(struct io *b)
{
    zeMemFree(ctx, b->x);
    zeMemFree(ctx, b->y);
    zeMemFree(ctx, b->ids);
    zeMemFree(ctx, b->tok);
    zeMemFree(ctx, b->w);
}

/* How the outside router makes its weights (the call uses them as given). */
enum route { ROUTE_SOFTMAX_RENORM, ROUTE_SIGMOID, ROUTE_SOFTMAX_SCALED };

/* Per token: random logits, the K best distinct experts in descending order, weights by
 * `how`. Written into ids/w ([T][K]). */
static void make_routing(const struct zmoe_config *c, uint32_t T, uint64_t seed, enum route how,
                         uint32_t *ids, float *w)
{
    const uint32_t E = c->model.experts, K = c->model.top_k;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 3;
    double logit[512], p[512];
    unsigned char used[512];
    for (uint32_t t = 0; t < T; t++) {
        double mx = -1e300, z = 0;
        for (uint32_t e = 0; e < E; e++) {
            logit[e] = 4.0 * rt_uniform(&s) - 2.0;
            mx = logit[e] > mx ? logit[e] : mx;
            used[e] = 0;
        }
        for (uint32_t e = 0; e < E; e++)
            z += exp(logit[e] - mx);
        for (uint32_t e = 0; e < E; e++)
            p[e] = how == ROUTE_SIGMOID ? 1.0 / (1.0 + exp(-logit[e])) : exp(logit[e] - mx) / z;
        double sum = 0;
        for (uint32_t k = 0; k < K; k++) {
            uint32_t best = 0;
            bool have = false;
            for (uint32_t e = 0; e < E; e++)
                if (!used[e] && (!have || logit[e] > logit[best])) {
                    best = e;
                    have = true;
                }
            used[best] = 1;
            ids[t * K + k] = best;
            sum += p[best];
        }
        for (uint32_t k = 0; k < K; k++) {
            const double v = p[ids[t * K + k]];
            w[t * K + k] = (float)(how == ROUTE_SOFTMAX_RENORM ? v / sum
                                   : how == ROUTE_SOFTMAX_SCALED ? 2.5 * v
                                                                 : v);
        }
    }
}

/* One execution of the recorded list on T tokens of x and the given routing; y as f32. */
static bool execute(const struct zmoe_config *c, ze_command_list_handle_t list, struct io *b,
                    const float *x, uint32_t T, const uint32_t *ids, const float *w, float *y)
{
    const size_t H = c->model.hidden, K = c->model.top_k;
    zmoe_dtype_convert(b->x, c->dtype.activations, x, ZMOE_DTYPE_F32, T * H);
    memcpy(b->ids, ids, T * K * 4);
    memcpy(b->w, w, T * K * 4);
    *b->tok = T;
    ze_result_t r = run_list(list);
    if (r) {
        tap_diag("executing the caller's list: 0x%x", (unsigned)r);
        return false;
    }
    zmoe_dtype_convert(y, ZMOE_DTYPE_F32, b->y, c->dtype.activations, T * H);
    return true;
}

static bool all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

/* The experts call of `layer` against the reference for T = 1, 5, max_tokens. */
static void check_case(const char *what, const struct zmoe_config *c, enum route how, uint64_t seed)
{
    const uint32_t layer = c->model.layers - 1, H = c->model.hidden, K = c->model.top_k;
    const uint32_t maxT = c->runtime.max_tokens;
    char name[200];
    snprintf(name, sizeof name, "%s, weights %s, activations %s", what,
             zmoe_dtype_name(c->dtype.weights), zmoe_dtype_name(c->dtype.activations));
    struct zmoe_create_info info = {.config = c, .context = ctx, .device = dev, .queue = queue};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: runtime on the caller's context: %s", name, st ? err.msg : "ok")) {
        zmoe_destroy(rt);
        return;
    }
    struct io b = io_alloc(c);
    ze_command_list_handle_t list = new_list();
    st = zmoe_record_experts(rt, list, layer, b.x, b.ids, b.w, b.y, b.tok, &err);
    ze_result_t r = st ? ZE_RESULT_SUCCESS : zeCommandListClose(list);
    TAP_OK(st == ZMOE_OK && r == ZE_RESULT_SUCCESS, "%s: zmoe_record_experts into the caller's list: %s",
           name, st ? err.msg : "ok");
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(c, layer, &w))
        tap_bail("reference weights");
    const uint32_t Ts[3] = {1, 5 < maxT ? 5 : maxT, maxT};
    float *x = rt_inputs(c, maxT, seed), *y = malloc((size_t)maxT * H * 4);
    float *ref = malloc((size_t)maxT * H * 4), *wk = malloc((size_t)maxT * K * 4);
    float *full = malloc((size_t)maxT * H * 4);
    uint32_t *ids = malloc((size_t)maxT * K * 4);
    if (!y || !ref || !wk || !ids || !full)
        tap_bail("out of memory");
    for (int i = 0; i < 3 && !st; i++) {
        const uint32_t T = Ts[i];
        make_routing(c, T, seed + 17 * T, how, ids, wk);
        bool ok = execute(c, list, &b, x, T, ids, wk, y);
        zmoe_ref_experts(c, &w, x, T, ids, wk, ref);
        const double rel = rt_rel_error(y, ref, (size_t)T * H, NULL);
        TAP_OK(ok && rel <= rt_tolerance(c), "%s: T=%u matches the reference on the given routing "
                                              "(rel %.3g, tolerance %.0e)",
               name, T, rel, rt_tolerance(c));
        TAP_EQ_INT(zmoe_routing_status(rt, &err), ZMOE_OK, "%s: T=%u: routing status ok", name, T);
    }
    if (!st && c->model.shared_experts) {
        /* the full layer (router + shared expert) differs: the call is routed experts only */
        zmoe_ref_forward(c, &w, x, maxT, ZMOE_REF_AS_CONFIGURED, full, NULL, NULL);
        TAP_OK(rt_rel_error(y, full, (size_t)maxT * H, NULL) > 10 * rt_tolerance(c),
               "%s: y is not the full layer with its shared expert (rel %.3g)", name,
               rt_rel_error(y, full, (size_t)maxT * H, NULL));
    }
    struct zmoe_stats s;
    TAP_OK(zmoe_get_stats(rt, &s) == ZMOE_OK && s.host_allocations_after_init == 0 &&
               s.device_allocations_after_init == 0,
           "%s: no allocation after init (%llu host refusals)", name,
           (unsigned long long)s.host_allocations_after_init);
    zmoe_ref_weights_free(&w);
    free(x);
    free(y);
    free(ref);
    free(wk);
    free(ids);
    free(full);
    zeCommandListDestroy(list);
    io_free(&b);
    zmoe_destroy(rt);
}

static struct zmoe_config mixtral(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.experts = 8;
    c.model.top_k = 2;
    c.model.layers = 2;
    return c;
}

static struct zmoe_config llama4(uint32_t K)
{
    struct zmoe_config c = rt_base_config();
    c.model.experts = 16;
    c.model.top_k = K;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    c.router.apply_router_weight_on_input = true;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 48;
    return c;
}

static struct zmoe_config gpt_oss(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.experts = 8;
    c.model.top_k = 4;
    c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
    c.experts.swiglu_alpha = 1.702f;
    c.experts.swiglu_limit = 0.05f; /* clamping active at the synthetic weights' scale */
    c.experts.bias = true;
    c.router.bias = true;
    return c;
}

static struct zmoe_config deepseek(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.experts = 16;
    c.model.top_k = 6;
    c.model.intermediate = 24;
    c.model.shared_experts = 2;
    c.model.shared_intermediate = 16;
    c.router.renormalize = false;
    c.router.groups = 4;
    c.router.topk_group = 2;
    c.router.routed_scaling_factor = 2.5f;
    c.runtime.max_tokens = 48; /* T*K = 288 pairs: more than the 256 align work-items */
    return c;
}

/* Bad ids: flagged with layer/token/k/id, y finite, the bad pairs run as expert 0 with
 * weight 0 (the rows of y equal the reference with the pairs skipped), nothing >= E
 * reaches act.topk_ids; the flag clears; a good call afterwards is clean. */
static void check_bad_ids(void)
{
    struct zmoe_config c = mixtral();
    c.runtime.max_tokens = 6;
    const uint32_t T = 6, H = c.model.hidden, K = c.model.top_k, E = c.model.experts;
    struct zmoe_create_info info = {.config = &c, .context = ctx, .device = dev, .queue = queue};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "bad ids: runtime: %s", st ? err.msg : "ok"))
        return;
    struct io b = io_alloc(&c);
    ze_command_list_handle_t list = new_list();
    st = zmoe_record_experts(rt, list, 1, b.x, b.ids, b.w, b.y, b.tok, &err);
    if (!st && zeCommandListClose(list))
        st = ZMOE_ERR_LEVEL_ZERO;
    TAP_OK(st == ZMOE_OK, "bad ids: recorded layer 1: %s", st ? err.msg : "ok");
    uint32_t ids[6 * 2];
    float wk[6 * 2], y[6 * 64], ref[6 * 64];
    float *x = rt_inputs(&c, T, 5);
    make_routing(&c, T, 99, ROUTE_SOFTMAX_RENORM, ids, wk);
    ids[3 * K + 1] = E + 3;       /* token 3, k 1: expert 11 of 8 */
    ids[4 * K + 0] = 0xffffffffu; /* token 4, k 0: int32 -1 */
    ids[5 * K + 1] = 1000000u;
    bool ok = execute(&c, list, &b, x, T, ids, wk, y);
    st = zmoe_routing_status(rt, &err);
    TAP_OK(ok && st == ZMOE_ERR_ROUTING && strstr(err.msg, "layer 1") && strstr(err.msg, "3 routing pairs") &&
               strstr(err.msg, "token 3, k 1, id 11"),
           "bad ids: zmoe_routing_status is ZMOE_ERR_ROUTING naming layer, count and the first pair (%s)",
           err.msg);
    TAP_OK(strcmp(zmoe_status_str(ZMOE_ERR_ROUTING), "bad routing") == 0, "ZMOE_ERR_ROUTING has a name");
    TAP_OK(all_finite(y, (size_t)T * H), "bad ids: y stays finite");
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(&c, 1, &w))
        tap_bail("reference weights");
    zmoe_ref_experts(&c, &w, x, T, ids, wk, ref);
    TAP_OK(rt_rel_error(y, ref, (size_t)T * H, NULL) <= rt_tolerance(&c),
           "bad ids: y equals the reference with the bad pairs contributing nothing (rel %.3g)",
           rt_rel_error(y, ref, (size_t)T * H, NULL));
    /* what reached the expert stages (hostdev: device memory is host memory) */
    const uint32_t *act_ids = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_IDS]);
    const float *act_w = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_W]);
    bool bounded = true;
    for (uint32_t p = 0; p < T * K; p++) {
        bounded &= act_ids[p] < E;
        if (ids[p] >= E)
            bounded &= act_ids[p] == 0 && act_w[p] == 0.0f;
        else
            bounded &= act_ids[p] == ids[p] && act_w[p] == wk[p];
    }
    TAP_OK(bounded, "bad ids: the expert stages see only ids < E (bad pairs as expert 0, weight 0)");
    st = zmoe_routing_status(rt, &err);
    TAP_EQ_INT(st, ZMOE_OK, "bad ids: the status call cleared the flag");
    /* two bad calls before a check: the first call's first pair is reported, both counted */
    ids[3 * K + 1] = 0;
    ids[5 * K + 1] = 1;
    ok = execute(&c, list, &b, x, T, ids, wk, y); /* token 4 k 0 still bad */
    ids[4 * K + 0] = 2;
    ids[0] = E;
    ok = ok && execute(&c, list, &b, x, T, ids, wk, y);
    st = zmoe_routing_status(rt, &err);
    TAP_OK(ok && st == ZMOE_ERR_ROUTING && strstr(err.msg, "2 routing pairs") &&
               strstr(err.msg, "token 4, k 0, id 4294967295"),
           "bad ids over two calls: counted, the first call's pair named (%s)", err.msg);
    ids[0] = 3;
    ok = execute(&c, list, &b, x, T, ids, wk, y);
    zmoe_ref_experts(&c, &w, x, T, ids, wk, ref);
    TAP_OK(ok && zmoe_routing_status(rt, &err) == ZMOE_OK &&
               rt_rel_error(y, ref, (size_t)T * H, NULL) <= rt_tolerance(&c),
           "after the bad calls a good call is clean and correct");
    /* on input with expert biases: a bad pair still reads no weight outside and y is finite */
    zmoe_ref_weights_free(&w);
    free(x);
    zeCommandListDestroy(list);
    io_free(&b);
    zmoe_destroy(rt);

    struct zmoe_config o = llama4(2);
    o.experts.bias = true;
    o.runtime.max_tokens = 4;
    info.config = &o;
    st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "bad ids, on input: runtime: %s", st ? err.msg : "ok"))
        return;
    b = io_alloc(&o);
    list = new_list();
    st = zmoe_record_experts(rt, list, 0, b.x, b.ids, b.w, b.y, b.tok, &err);
    if (!st && zeCommandListClose(list))
        st = ZMOE_ERR_LEVEL_ZERO;
    x = rt_inputs(&o, 4, 6);
    make_routing(&o, 4, 7, ROUTE_SIGMOID, ids, wk);
    ids[2 * 2 + 1] = 0x80000000u;
    ok = !st && execute(&o, list, &b, x, 4, ids, wk, y);
    st = zmoe_routing_status(rt, &err);
    TAP_OK(ok && st == ZMOE_ERR_ROUTING && strstr(err.msg, "layer 0: 1 routing pair named") &&
               strstr(err.msg, "token 2, k 1, id 2147483648") && all_finite(y, (size_t)4 * o.model.hidden),
           "bad ids, on input with biases: flagged (%s), y finite", err.msg);
    free(x);
    zeCommandListDestroy(list);
    io_free(&b);
    zmoe_destroy(rt);
}

#define BAD(call, what)                                                                            \
    do {                                                                                           \
        err.msg[0] = '\0';                                                                         \
        enum zmoe_status s_ = (call);                                                              \
        TAP_OK(s_ == ZMOE_ERR_ARGUMENT && err.msg[0], "%s: ZMOE_ERR_ARGUMENT (%s)", what, err.msg); \
    } while (0)

static void check_arguments_and_phase(void)
{
    struct zmoe_config c = mixtral();
    struct zmoe_create_info info = {.config = &c, .context = ctx, .device = dev, .queue = queue};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "arguments: runtime: %s", st ? err.msg : "ok"))
        return;
    struct io b = io_alloc(&c);
    ze_command_list_handle_t list = new_list();
    BAD(zmoe_record_experts(NULL, list, 0, b.x, b.ids, b.w, b.y, b.tok, &err), "NULL runtime");
    BAD(zmoe_record_experts(rt, NULL, 0, b.x, b.ids, b.w, b.y, b.tok, &err), "NULL list");
    BAD(zmoe_record_experts(rt, list, 0, NULL, b.ids, b.w, b.y, b.tok, &err), "NULL x");
    BAD(zmoe_record_experts(rt, list, 0, b.x, NULL, b.w, b.y, b.tok, &err), "NULL topk_ids");
    BAD(zmoe_record_experts(rt, list, 0, b.x, b.ids, NULL, b.y, b.tok, &err), "NULL topk_weights");
    BAD(zmoe_record_experts(rt, list, 0, b.x, b.ids, b.w, NULL, b.tok, &err), "NULL y");
    BAD(zmoe_record_experts(rt, list, 0, b.x, b.ids, b.w, b.y, NULL, &err), "NULL tokens");
    BAD(zmoe_record_experts(rt, list, 2, b.x, b.ids, b.w, b.y, b.tok, &err), "layer 2 of 2");
    BAD(zmoe_routing_status(NULL, &err), "zmoe_routing_status(NULL)");
    TAP_OK(zmoe_record_experts(NULL, list, 0, b.x, b.ids, b.w, b.y, b.tok, NULL) == ZMOE_ERR_ARGUMENT,
           "a NULL error buffer is allowed");
    /* the ring and the experts call in one runtime; after the first submit no recording */
    st = zmoe_record_experts(rt, list, 0, b.x, b.ids, b.w, b.y, b.tok, &err);
    TAP_EQ_INT(st, ZMOE_OK, "recording before the first submit works");
    float *x = rt_inputs(&c, 3, 8), y[3 * 64], ref[3 * 64];
    st = rt_forward(rt, &c, 0, x, 3, y);
    struct zmoe_ref_weights w;
    zmoe_ref_weights_synthetic(&c, 0, &w);
    zmoe_ref_forward(&c, &w, x, 3, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 3 * 64, NULL) <= rt_tolerance(&c),
           "the ring's own layer call still matches the reference next to a recorded experts call");
    zmoe_ref_weights_free(&w);
    err.msg[0] = '\0';
    st = zmoe_record_experts(rt, list, 0, b.x, b.ids, b.w, b.y, b.tok, &err);
    TAP_OK(st == ZMOE_ERR_STATE && strstr(err.msg, "init-time"),
           "zmoe_record_experts after the first submit: ZMOE_ERR_STATE (%s)", err.msg);
    TAP_EQ_INT(zmoe_routing_status(rt, &err), ZMOE_OK, "zmoe_routing_status works while running");
    free(x);
    zeCommandListDestroy(list);
    io_free(&b);
    zmoe_destroy(rt);
}

int main(void)
{
    env_up();
    for (int wd = 0; wd < 3; wd++)
        for (int ad = 0; ad < 3; ad++) {
            struct zmoe_config c = mixtral();
            c.dtype.weights = (enum zmoe_dtype)wd;
            c.dtype.activations = (enum zmoe_dtype)ad;
            check_case("Mixtral-like softmax routing from outside, layer 1", &c, ROUTE_SOFTMAX_RENORM,
                       (uint64_t)(10 + wd * 3 + ad));
        }
    struct zmoe_config c = llama4(1);
    check_case("Llama 4 on input, K=1 (shared expert not in the call)", &c, ROUTE_SIGMOID, 30);
    c.dtype.weights = c.dtype.activations = ZMOE_DTYPE_BF16;
    check_case("Llama 4 on input, K=1 (shared expert not in the call)", &c, ROUTE_SIGMOID, 31);
    c = llama4(2);
    check_case("Llama 4 on input, K=2 (HF semantics)", &c, ROUTE_SIGMOID, 32);
    c.dtype.weights = c.dtype.activations = ZMOE_DTYPE_F16;
    check_case("Llama 4 on input, K=2 (HF semantics)", &c, ROUTE_SIGMOID, 33);
    c = gpt_oss();
    check_case("GPT-OSS swiglu, expert biases", &c, ROUTE_SOFTMAX_RENORM, 40);
    c.dtype.weights = ZMOE_DTYPE_BF16;
    check_case("GPT-OSS swiglu, expert biases", &c, ROUTE_SOFTMAX_RENORM, 41);
    c = deepseek();
    check_case("DeepSeek-like K=6, scaled weights, T*K > align items", &c, ROUTE_SOFTMAX_SCALED, 50);
    c.dtype.weights = ZMOE_DTYPE_F16;
    c.dtype.activations = ZMOE_DTYPE_BF16;
    check_case("DeepSeek-like K=6, scaled weights, T*K > align items", &c, ROUTE_SOFTMAX_SCALED, 51);
    check_bad_ids();
    check_arguments_and_phase();
    zeCommandQueueDestroy(queue);
    zeContextDestroy(ctx);
    return tap_exit();
}
