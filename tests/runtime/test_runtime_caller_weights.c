/* The engine's ways in (issue 16) through the public API on hostdev:
 *  - the caller's weights (zmoe_create_info.weights): device pointers per layer and tensor
 *    in the kernel layout; the plan holds no weight bytes; the ring layer call, the ring
 *    experts-only call and zmoe_record_experts on those pointers against the reference;
 *    zmoe_set_layer_weights re-points a layer (state-checked); NULL, misaligned, foreign,
 *    too-small and unexpected pointers are errors naming layer and tensor;
 *  - the experts-only call through the ring (ring_experts, zmoe_submit_experts) on the
 *    routing written into the slot, 3 Level Zero calls and no malloc per call, a bad id
 *    reported by zmoe_wait as ZMOE_ERR_ROUTING;
 *  - one layer's weights from host memory (zmoe_upload_layer_weights) into zmoe's arena;
 *  - zmoe_plan_json and zmoe_sizeof;
 *  - the quantized formats (int4 with zero points and act-order, int8, fp8 blocks, mxfp4)
 *    through each of those paths: the caller's tensors are then the packed device layout
 *    of weights/quant.h, filled with the synthetic quantized bytes, and the reference
 *    dequantizes the same bytes by the format's definition.
 * Test code: malloc is fine here (the counters only look inside RT_IN). */
#include "rt_util.h"
#include "rt_count.h"
#include "weights/quant.h"

#include <stdio.h>

static ze_driver_handle_t drv;
static ze_device_handle_t dev;
static ze_context_handle_t ctx;
static ze_command_queue_handle_t queue;
static bool tracing;
static bool counts_ok(uint64_t calls, bool record, char *what, size_t size);

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
    tracing = getenv("ZE_ENABLE_TRACING_LAYER") != NULL;
    if (tracing && !rt_tracer_start())
        tap_bail("tracing layer unavailable");
}

/* Two meson entries run this file: with the loader's tracing layer the Level Zero calls
 * are counted; without it the mallocs (the tracing layer allocates on every call). */

/* What one counted stretch did, against what the mode can see: `calls` Level Zero calls
 * (tracing) or no malloc (no tracing); `record` also requires no list creation/reset and
 * no allocation call. */
static bool counts_ok(uint64_t calls, bool record, char *what, size_t size)
{
    if (!tracing) {
        snprintf(what, size, "%llu mallocs", (unsigned long long)rt_mallocs);
        return rt_mallocs == 0;
    }
    const uint64_t made = rt_ze[RT_ZE_LIST_CREATE] + rt_ze[RT_ZE_LIST_RESET] + rt_ze[RT_ZE_ALLOC_DEVICE] +
                          rt_ze[RT_ZE_ALLOC_HOST] + rt_ze[RT_ZE_ALLOC_SHARED];
    snprintf(what, size, "%llu Level Zero calls, %llu creating/recording/allocating",
             (unsigned long long)rt_ze_total(), (unsigned long long)made);
    return made == 0 && (record || rt_ze_total() == calls);
}

static void *ze_device(size_t n)
{
    ze_device_mem_alloc_desc_t d = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
    void *p = NULL;
    if (zeMemAllocDevice(ctx, &d, n, 64, dev, &p) != ZE_RESULT_SUCCESS)
        tap_bail("zeMemAllocDevice(%zu) failed", n);
    return p;
}

/* The caller's copy of one layer's synthetic weights, in device memory, in the kernel
 * layout and dtypes (what an engine's weight tensors are). hostdev's device memory is
 * addressable by the host, so the test fills it directly. */
struct owned_layer {
    struct zmoe_layer_weights w;
    void *mem[ZMOE_TENSOR_COUNT];
};

static void *tensor_bytes_of(const struct zmoe_config *c, uint32_t seed_layer, enum zmoe_tensor t,
                             void *dst)
{
    struct zmoe_qmatrix q;
    if (zmoe_quant_matrix(c, t, &q)) { /* codes, scales, zeros, perm: the packed layout */
        zmoe_weights_synthetic_quant(c, seed_layer, t, 0, (size_t)q.bytes, dst);
        return dst;
    }
    const uint64_t n = zmoe_tensor_elements(c, t);
    float *f = malloc(n * sizeof *f);
    if (!f)
        tap_bail("out of memory");
    zmoe_weights_synthetic(c, seed_layer, t, 0, n, f);
    zmoe_dtype_convert(dst, zmoe_tensor_dtype(c, t), f, ZMOE_DTYPE_F32, n);
    free(f);
    return dst;
}

/* Layer `seed_layer`'s synthetic weights, in device memory (device = true) or malloc'd
 * host memory (for zmoe_upload_layer_weights). */
static struct owned_layer layer_copy(const struct zmoe_config *c, uint32_t seed_layer, bool device)
{
    struct owned_layer o = {{{0}}, {0}};
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (!zmoe_tensor_present(c, (enum zmoe_tensor)t))
            continue;
        const size_t bytes = zmoe_tensor_bytes(c, (enum zmoe_tensor)t);
        o.mem[t] = device ? ze_device(bytes) : malloc(bytes);
        o.w.tensor[t] = tensor_bytes_of(c, seed_layer, (enum zmoe_tensor)t, o.mem[t]);
    }
    return o;
}

static void layer_free(struct owned_layer *o, bool device)
{
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        if (o->mem[t]) {
            if (device)
                zeMemFree(ctx, o->mem[t]);
            else
                free(o->mem[t]);
        }
}

/* The float or the quantized bound of rt_util.h. */
static double tolerance(const struct zmoe_config *c)
{
    return c->quant.format != ZMOE_QUANT_NONE ? rt_quant_tolerance(c) : rt_tolerance(c);
}

/* c with quantized experts (shared experts too when it has them). */
static struct zmoe_config quantized(struct zmoe_config c, enum zmoe_quant_format f, uint32_t group,
                                    bool zeros, bool act_order, enum zmoe_scale_dtype sdt)
{
    c.quant.format = f;
    c.quant.group_size = group;
    c.quant.zero_points = zeros;
    c.quant.act_order = act_order;
    c.quant.scale_dtype = sdt;
    c.quant.shared_experts = c.model.shared_experts > 0;
    return c;
}

static struct zmoe_config mixtral(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 2;
    return c;
}

static struct zmoe_config gpt_oss(void)
{
    struct zmoe_config c = mixtral();
    c.model.top_k = 4;
    c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
    c.experts.swiglu_alpha = 1.702f;
    c.experts.swiglu_limit = 0.05f;
    c.experts.bias = true;
    c.router.bias = true;
    return c;
}

static struct zmoe_config llama4(uint32_t K)
{
    struct zmoe_config c = mixtral();
    c.model.experts = 16;
    c.model.top_k = K;
    c.router.scoring = ZMOE_SCORING_SIGMOID;
    c.router.renormalize = false;
    c.router.apply_router_weight_on_input = true;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 48;
    return c;
}

/* Per token: K distinct experts from a seeded shuffle and positive weights. */
static void make_routing(const struct zmoe_config *c, uint32_t T, uint64_t seed, uint32_t *ids,
                         float *w)
{
    const uint32_t E = c->model.experts, K = c->model.top_k;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 5;
    for (uint32_t t = 0; t < T; t++) {
        uint32_t perm[512];
        for (uint32_t e = 0; e < E; e++)
            perm[e] = e;
        for (uint32_t k = 0; k < K; k++) {
            uint32_t j = k + (uint32_t)(rt_uniform(&s) * (E - k));
            uint32_t tmp = perm[k];
            perm[k] = perm[j];
            perm[j] = tmp;
            ids[t * K + k] = perm[k];
            w[t * K + k] = (float)(0.1 + rt_uniform(&s));
        }
    }
}

/* The ring's experts-only call: x and routing into the slot, submit, wait; y as f32. */
static enum zmoe_status ring_experts(struct zmoe_runtime *rt, const struct zmoe_config *c,
                                     uint32_t layer, const float *x, uint32_t T,
                                     const uint32_t *ids, const float *w, float *y,
                                     struct zmoe_error *err)
{
    struct zmoe_slot slot;
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, err);
    if (st)
        return st;
    zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                       (size_t)T * c->model.hidden);
    memcpy(slot.routing_ids_host, ids, (size_t)T * c->model.top_k * 4);
    memcpy(slot.routing_weights_host, w, (size_t)T * c->model.top_k * 4);
    st = zmoe_submit_experts(rt, &slot, layer, T, err);
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, err);
    zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, c->dtype.activations,
                       (size_t)T * c->model.hidden);
    return st;
}

static bool plan_has_weights(struct zmoe_runtime *rt, char *why, size_t why_size)
{
    static char json[1 << 16];
    struct zmoe_error err;
    size_t len = 0;
    if (zmoe_plan_json(rt, json, sizeof json, &len, &err) != ZMOE_OK) {
        snprintf(why, why_size, "zmoe_plan_json: %.80s", err.msg);
        return true;
    }
    snprintf(why, why_size, "%zu bytes of JSON", len);
    return strstr(json, "\"category\": \"weight\"") != NULL;
}

/* The caller's weights for one config: plan, ring layer call, ring experts call,
 * zmoe_record_experts, each against the reference. */
static void check_caller_weights(const char *what, struct zmoe_config c)
{
    char name[160];
    snprintf(name, sizeof name, "%s, weights %s, activations %s", what,
             zmoe_dtype_name(c.dtype.weights), zmoe_dtype_name(c.dtype.activations));
    const uint32_t L = c.model.layers, H = c.model.hidden, K = c.model.top_k, T = 5;
    struct owned_layer own[2] = {layer_copy(&c, 0, true), layer_copy(&c, 1, true)};
    struct zmoe_layer_weights lw[2] = {own[0].w, own[1].w};
    struct zmoe_create_info info = {.config = &c, .context = ctx, .device = dev, .queue = queue,
                                    .weights = lw, .ring_experts = true};
    struct zmoe_runtime *rt = NULL, *owned = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: zmoe_create on the caller's weights: %s", name, st ? err.msg : "ok"))
        goto out;
    /* the plan: no weight buffer; the device arena is the zmoe-owned one minus the weights */
    char why[128];
    TAP_OK(!plan_has_weights(rt, why, sizeof why), "%s: the plan has no weight buffer (%s)", name, why);
    struct zmoe_create_info oinfo = {.config = &c, .context = ctx, .device = dev, .queue = queue};
    st = zmoe_create(&oinfo, &owned, &err);
    struct zmoe_stats s_caller, s_owned;
    zmoe_get_stats(rt, &s_caller);
    zmoe_get_stats(owned, &s_owned);
    uint64_t weight_bytes = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        weight_bytes += L * zmoe_tensor_bytes(&c, (enum zmoe_tensor)t);
    TAP_OK(st == ZMOE_OK && s_caller.device_bytes + weight_bytes <= s_owned.device_bytes &&
               plan_has_weights(owned, why, sizeof why),
           "%s: device arena %llu bytes = zmoe-owned %llu minus at least the %llu weight bytes", name,
           (unsigned long long)s_caller.device_bytes, (unsigned long long)s_owned.device_bytes,
           (unsigned long long)weight_bytes);
    zmoe_destroy(owned);
    TAP_OK(strstr(s_caller.weights_source, "caller") != NULL, "%s: stats name the weights' owner (%s)",
           name, s_caller.weights_source);
    err.msg[0] = '\0';
    TAP_OK(zmoe_load_weights(rt, &err) == ZMOE_ERR_STATE && strstr(err.msg, "caller's weights"),
           "%s: zmoe_load_weights is refused (%s)", name, err.msg);
    err.msg[0] = '\0';
    TAP_OK(zmoe_upload_layer_weights(rt, 0, &lw[0], &err) == ZMOE_ERR_STATE &&
               strstr(err.msg, "zmoe_set_layer_weights"),
           "%s: zmoe_upload_layer_weights is refused (%s)", name, err.msg);

    /* a caller's list with the experts-only call, recorded before the first submit */
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ze_command_list_handle_t list;
    ze_host_mem_alloc_desc_t hd = {.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC};
    const size_t asz = zmoe_dtype_size(c.dtype.activations);
    void *bx, *by, *bids, *bw, *btok;
    if (zeCommandListCreate(ctx, dev, &ld, &list) || zeMemAllocHost(ctx, &hd, 8 * H * asz, 64, &bx) ||
        zeMemAllocHost(ctx, &hd, 8 * H * asz, 64, &by) || zeMemAllocHost(ctx, &hd, 8 * K * 4, 64, &bids) ||
        zeMemAllocHost(ctx, &hd, 8 * K * 4, 64, &bw) || zeMemAllocHost(ctx, &hd, 4, 64, &btok))
        tap_bail("caller's buffers");
    st = zmoe_record_experts(rt, list, 1, bx, bids, bw, by, btok, &err);
    TAP_OK(st == ZMOE_OK && zeCommandListClose(list) == ZE_RESULT_SUCCESS,
           "%s: zmoe_record_experts on the caller's weights: %s", name, st ? err.msg : "ok");

    float *x = rt_inputs(&c, T, 77), y[8 * 128], ref[8 * 128], wk[8 * 8];
    uint32_t ids[8 * 8];
    struct zmoe_ref_weights rw[2];
    if (zmoe_ref_weights_synthetic(&c, 0, &rw[0]) || zmoe_ref_weights_synthetic(&c, 1, &rw[1]))
        tap_bail("reference weights");
    for (uint32_t l = 0; l < L; l++) {
        st = rt_forward(rt, &c, l, x, T, y);
        zmoe_ref_forward(&c, &rw[l], x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
        TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, (size_t)T * H, NULL) <= tolerance(&c),
               "%s: layer %u through the ring (router + experts) matches the reference (rel %.3g)",
               name, l, rt_rel_error(y, ref, (size_t)T * H, NULL));
    }
    make_routing(&c, T, 3, ids, wk);
    st = ring_experts(rt, &c, 1, x, T, ids, wk, y, &err);
    zmoe_ref_experts(&c, &rw[1], x, T, ids, wk, ref);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, (size_t)T * H, NULL) <= tolerance(&c),
           "%s: zmoe_submit_experts on layer 1 matches the reference on the given routing (rel %.3g)%s%s",
           name, rt_rel_error(y, ref, (size_t)T * H, NULL), st ? ": " : "", st ? err.msg : "");
    zmoe_dtype_convert(bx, c.dtype.activations, x, ZMOE_DTYPE_F32, (size_t)T * H);
    memcpy(bids, ids, (size_t)T * K * 4);
    memcpy(bw, wk, (size_t)T * K * 4);
    *(uint32_t *)btok = T;
    ze_result_t r = zeCommandQueueExecuteCommandLists(queue, 1, &list, NULL);
    r = r ? r : zeCommandQueueSynchronize(queue, UINT64_MAX);
    float yc[8 * 128];
    zmoe_dtype_convert(yc, ZMOE_DTYPE_F32, by, c.dtype.activations, (size_t)T * H);
    TAP_OK(r == ZE_RESULT_SUCCESS && rt_rel_error(yc, ref, (size_t)T * H, NULL) <= tolerance(&c),
           "%s: the caller's own list (zmoe_record_experts) matches too (rel %.3g)", name,
           rt_rel_error(yc, ref, (size_t)T * H, NULL));

    /* re-pointing: layer 0 onto layer 1's tensors, after submits, ring idle */
    err.msg[0] = '\0';
    struct zmoe_slot slot;
    st = zmoe_slot_acquire(rt, &slot, &err);
    enum zmoe_status busy = zmoe_set_layer_weights(rt, 0, &lw[1], &err);
    TAP_OK(!st && busy == ZMOE_ERR_STATE && strstr(err.msg, "acquired"),
           "%s: zmoe_set_layer_weights with a slot acquired: ZMOE_ERR_STATE (%s)", name, err.msg);
    zmoe_submit(rt, &slot, 0, T, &err);
    busy = zmoe_set_layer_weights(rt, 0, &lw[1], &err);
    TAP_OK(busy == ZMOE_ERR_STATE && strstr(err.msg, "in flight"),
           "%s: zmoe_set_layer_weights with a slot in flight: ZMOE_ERR_STATE (%s)", name, err.msg);
    zmoe_wait(rt, &slot, UINT64_MAX, &err);
    st = zmoe_set_layer_weights(rt, 0, &lw[1], &err);
    TAP_OK(st == ZMOE_OK, "%s: zmoe_set_layer_weights(layer 0 -> layer 1's tensors) while idle: %s",
           name, st ? err.msg : "ok");
    rt_counts_reset();
    float y0[8 * 128], y1[8 * 128];
    st = RT_IN(rt_forward(rt, &c, 0, x, T, y0));
    zmoe_ref_forward(&c, &rw[1], x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y0, ref, (size_t)T * H, NULL) <= tolerance(&c),
           "%s: layer 0 now computes with layer 1's weights (rel %.3g)", name,
           rt_rel_error(y0, ref, (size_t)T * H, NULL));
    st = RT_IN(ring_experts(rt, &c, 0, x, T, ids, wk, y1, &err));
    zmoe_ref_experts(&c, &rw[1], x, T, ids, wk, ref);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y1, ref, (size_t)T * H, NULL) <= tolerance(&c),
           "%s: and so does its experts-only ring list (rel %.3g)", name,
           rt_rel_error(y1, ref, (size_t)T * H, NULL));
    char counted[128];
    TAP_OK(counts_ok(6, false, counted, sizeof counted),
           "%s: after re-pointing, two ring calls allocate and record nothing (%s)", name, counted);
    struct zmoe_stats s;
    TAP_OK(zmoe_get_stats(rt, &s) == ZMOE_OK && s.host_allocations_after_init == 0,
           "%s: no host allocation after init", name);
    zmoe_ref_weights_free(&rw[0]);
    zmoe_ref_weights_free(&rw[1]);
    free(x);
    zeCommandListDestroy(list);
    zeMemFree(ctx, bx);
    zeMemFree(ctx, by);
    zeMemFree(ctx, bids);
    zeMemFree(ctx, bw);
    zeMemFree(ctx, btok);
out:
    zmoe_destroy(rt);
    layer_free(&own[0], true);
    layer_free(&own[1], true);
}

#define BAD(call, status, needle, what)                                                            \
    do {                                                                                           \
        err.msg[0] = '\0';                                                                         \
        enum zmoe_status s_ = (call);                                                              \
        TAP_OK(s_ == (status) && strstr(err.msg, needle), "%s: %s (%s)", what,                   \
               zmoe_status_str(status), err.msg);                                                  \
    } while (0)

/* Bad pointers at create and at re-pointing, wrong layer, wrong runtime kind. */
static void check_bad_pointers(void)
{
    struct zmoe_config c = gpt_oss();
    struct owned_layer own[2] = {layer_copy(&c, 0, true), layer_copy(&c, 1, true)};
    struct zmoe_layer_weights lw[2] = {own[0].w, own[1].w};
    struct zmoe_create_info info = {.config = &c, .context = ctx, .device = dev, .queue = queue,
                                    .weights = lw};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err;
    struct zmoe_layer_weights keep = lw[1];

    lw[1].tensor[ZMOE_TENSOR_W2] = NULL;
    BAD(zmoe_create(&info, &rt, &err), ZMOE_ERR_ARGUMENT, "layer 1 tensor 'w2'",
        "create: a NULL tensor the config has");
    lw[1] = keep;
    lw[1].tensor[ZMOE_TENSOR_W13] = (const uint8_t *)own[1].mem[ZMOE_TENSOR_W13] + 8;
    BAD(zmoe_create(&info, &rt, &err), ZMOE_ERR_ARGUMENT, "not 16-byte aligned",
        "create: a misaligned w13");
    lw[1] = keep;
    lw[1].tensor[ZMOE_TENSOR_B13] = (const uint8_t *)own[1].mem[ZMOE_TENSOR_B13] + 16;
    BAD(zmoe_create(&info, &rt, &err), ZMOE_ERR_ARGUMENT, "allocation ends",
        "create: a b13 whose allocation is too small");
    lw[1] = keep;
    float *heap = malloc(zmoe_tensor_bytes(&c, ZMOE_TENSOR_W2) + 64);
    lw[0].tensor[ZMOE_TENSOR_W2] = (void *)(((uintptr_t)heap + 63) & ~(uintptr_t)63);
    BAD(zmoe_create(&info, &rt, &err), ZMOE_ERR_ARGUMENT, "not memory of the runtime's",
        "create: malloc'd memory instead of the context's");
    lw[0] = own[0].w;
    lw[0].tensor[ZMOE_TENSOR_SHARED_W13] = own[0].mem[ZMOE_TENSOR_W13];
    BAD(zmoe_create(&info, &rt, &err), ZMOE_ERR_ARGUMENT, "no such tensor",
        "create: a tensor the config does not have");
    lw[0] = own[0].w;
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "bad pointers: the good create works: %s", st ? err.msg : "ok"))
        goto out;
    struct zmoe_layer_weights bad = own[0].w;
    bad.tensor[ZMOE_TENSOR_ROUTER_B] = (const uint8_t *)own[0].mem[ZMOE_TENSOR_ROUTER_B] + 2;
    BAD(zmoe_set_layer_weights(rt, 0, &bad, &err), ZMOE_ERR_ARGUMENT, "layer 0 tensor 'router_b'",
        "re-point: a misaligned router bias");
    BAD(zmoe_set_layer_weights(rt, 2, &lw[0], &err), ZMOE_ERR_ARGUMENT, "layer 2 out of range",
        "re-point: layer 2 of 2");
    BAD(zmoe_set_layer_weights(rt, 0, NULL, &err), ZMOE_ERR_ARGUMENT, "must not be NULL",
        "re-point: NULL weights");
    BAD(zmoe_set_layer_weights(NULL, 0, &lw[0], &err), ZMOE_ERR_ARGUMENT, "must not be NULL",
        "re-point: NULL runtime");
    /* a refused re-pointing leaves the layer as it was */
    float *x = rt_inputs(&c, 3, 9), y[3 * 64], ref[3 * 64];
    struct zmoe_ref_weights rw;
    zmoe_ref_weights_synthetic(&c, 0, &rw);
    st = rt_forward(rt, &c, 0, x, 3, y);
    zmoe_ref_forward(&c, &rw, x, 3, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 3 * 64, NULL) <= tolerance(&c),
           "re-point: after the refused calls layer 0 still runs its own weights (rel %.3g)",
           rt_rel_error(y, ref, 3 * 64, NULL));
    struct zmoe_slot slot;
    zmoe_slot_acquire(rt, &slot, &err);
    BAD(zmoe_submit_experts(rt, &slot, 0, 3, &err), ZMOE_ERR_STATE, "ring_experts",
        "zmoe_submit_experts on a ring without experts-only lists");
    zmoe_submit(rt, &slot, 0, 3, &err);
    zmoe_wait(rt, &slot, UINT64_MAX, &err);
    zmoe_ref_weights_free(&rw);
    free(x);
    zmoe_destroy(rt);
    rt = NULL;
    /* a runtime that owns its weights cannot be re-pointed */
    struct zmoe_create_info oinfo = {.config = &c, .context = ctx, .device = dev, .queue = queue};
    st = zmoe_create(&oinfo, &rt, &err);
    if (!st)
        BAD(zmoe_set_layer_weights(rt, 0, &lw[0], &err), ZMOE_ERR_STATE, "owns its weights",
            "re-point on a zmoe-owned runtime");
out:
    free(heap);
    zmoe_destroy(rt);
    layer_free(&own[0], true);
    layer_free(&own[1], true);
}

/* The ring's experts-only call on zmoe's weights: the reference on given routing for
 * several models, 3 Level Zero calls and no malloc per call, bad ids on wait. */
static void check_ring_experts(const char *what, struct zmoe_config c, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ring experts-only, %s, weights %s, activations %s", what,
             zmoe_dtype_name(c.dtype.weights), zmoe_dtype_name(c.dtype.activations));
    struct zmoe_create_info info = {.config = &c, .ring_experts = true};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: runtime: %s", name, st ? err.msg : "ok")) {
        zmoe_destroy(rt);
        return;
    }
    const uint32_t H = c.model.hidden, K = c.model.top_k, maxT = c.runtime.max_tokens;
    float *x = rt_inputs(&c, maxT, seed), *y = malloc((size_t)maxT * H * 4);
    float *ref = malloc((size_t)maxT * H * 4), *w = malloc((size_t)maxT * K * 4);
    uint32_t *ids = malloc((size_t)maxT * K * 4);
    struct zmoe_ref_weights rw;
    if (!y || !ref || !w || !ids || zmoe_ref_weights_synthetic(&c, 1, &rw))
        tap_bail("out of memory");
    const uint32_t Ts[2] = {1, maxT};
    for (int i = 0; i < 2; i++) {
        make_routing(&c, Ts[i], seed + i, ids, w);
        rt_counts_reset();
        st = RT_IN(ring_experts(rt, &c, 1, x, Ts[i], ids, w, y, &err));
        char counted[128];
        const bool counts = counts_ok(3, false, counted, sizeof counted);
        zmoe_ref_experts(&c, &rw, x, Ts[i], ids, w, ref);
        const double rel = rt_rel_error(y, ref, (size_t)Ts[i] * H, NULL);
        TAP_OK(st == ZMOE_OK && rel <= tolerance(&c),
               "%s: T=%u matches the reference on the slot's routing (rel %.3g)%s%s", name, Ts[i],
               rel, st ? ": " : "", st ? err.msg : "");
        /* steady state: fence reset, execute, fence wait (the slot was never used before
         * only at i = 0; then acquire also has nothing to wait for) */
        TAP_OK(counts, "%s: T=%u: acquire+submit+wait: %s (tracing: 3 calls; else no malloc)",
               name, Ts[i], counted);
    }
    /* a bad id: reported by the wait, named, and cleared */
    make_routing(&c, 3, seed + 7, ids, w);
    ids[2 * K + (K - 1)] = c.model.experts + 2;
    err.msg[0] = '\0';
    st = ring_experts(rt, &c, 1, x, 3, ids, w, y, &err);
    char want[64];
    snprintf(want, sizeof want, "token 2, k %u, id %u", K - 1, c.model.experts + 2);
    TAP_OK(st == ZMOE_ERR_ROUTING && strstr(err.msg, "zmoe_wait: slot") && strstr(err.msg, "layer 1") &&
               strstr(err.msg, "1 routing pair named") && strstr(err.msg, want),
           "%s: a bad id: zmoe_wait returns ZMOE_ERR_ROUTING naming slot, layer and pair (%s)", name,
           err.msg);
    ids[2 * K + (K - 1)] = 0;
    st = ring_experts(rt, &c, 1, x, 3, ids, w, y, &err);
    TAP_EQ_INT(st, ZMOE_OK, "%s: the next call on that slot is clean", name);
    TAP_EQ_INT(zmoe_routing_status(rt, &err), ZMOE_OK,
               "%s: the ring's flags are not the caller-list flags of zmoe_routing_status", name);
    zmoe_ref_weights_free(&rw);
    free(x);
    free(y);
    free(ref);
    free(w);
    free(ids);
    zmoe_destroy(rt);
}

/* One layer from host memory into zmoe's arena; the other layer has none. */
static void check_upload_layer(struct zmoe_config c)
{
    const uint32_t H = c.model.hidden;
    struct zmoe_create_info info = {.config = &c, .ring_experts = true};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "upload: runtime: %s", st ? err.msg : "ok"))
        return;
    struct owned_layer host = layer_copy(&c, 0, false); /* layer 0's values, given to layer 1 */
    struct zmoe_slot slot;
    BAD(zmoe_slot_acquire(rt, &slot, &err), ZMOE_ERR_STATE, "load the weights first",
        "upload: acquire before any weights");
    struct zmoe_layer_weights missing = host.w;
    missing.tensor[ZMOE_TENSOR_SHARED_W2] = NULL;
    BAD(zmoe_upload_layer_weights(rt, 1, &missing, &err), ZMOE_ERR_ARGUMENT, "'shared_w2' is NULL",
        "upload: a missing tensor");
    BAD(zmoe_upload_layer_weights(rt, 5, &host.w, &err), ZMOE_ERR_ARGUMENT, "layer 5 out of range",
        "upload: layer 5 of 2");
    if (c.quant.act_order) { /* a permutation value past the row: refused before any copy */
        struct zmoe_qmatrix m;
        zmoe_quant_matrix(&c, ZMOE_TENSOR_W13, &m);
        uint8_t *v = (uint8_t *)(uintptr_t)host.w.tensor[ZMOE_TENSOR_W13] + m.perm_offset +
                     (m.perm_sets * m.cols - 1) * 4;
        uint32_t saved, bad = (uint32_t)m.cols;
        memcpy(&saved, v, 4);
        memcpy(v, &bad, 4);
        BAD(zmoe_upload_layer_weights(rt, 1, &host.w, &err), ZMOE_ERR_ARGUMENT,
            "expected a column", "upload: an act-order permutation value past the row");
        memcpy(v, &saved, 4);
    }
    rt_counts_reset();
    st = RT_IN(zmoe_upload_layer_weights(rt, 1, &host.w, &err));
    const uint64_t first_executes = rt_ze[RT_ZE_EXECUTE];
    /* (hostdev mallocs while the upload list is recorded: that is the driver's, so the
     * mode without tracing checks zmoe's own host block instead) */
    struct zmoe_stats us;
    zmoe_get_stats(rt, &us);
    const bool quiet = tracing ? rt_ze[RT_ZE_ALLOC_DEVICE] + rt_ze[RT_ZE_ALLOC_HOST] +
                                         rt_ze[RT_ZE_ALLOC_SHARED] + rt_ze[RT_ZE_LIST_CREATE] ==
                                     0
                               : us.host_allocations_after_init == 0;
    TAP_OK(st == ZMOE_OK && quiet,
           "upload: layer 1 from host memory through the staging buffer, nothing allocated "
           "(%s): %s",
           tracing ? "no Level Zero allocation or list creation" : "zmoe's host block refused nothing",
           st ? err.msg : "ok");
    float *x = rt_inputs(&c, 4, 4), y[4 * 128], ref[4 * 128];
    struct zmoe_ref_weights rw;
    zmoe_ref_weights_synthetic(&c, 0, &rw);
    st = rt_forward(rt, &c, 1, x, 4, y);
    zmoe_ref_forward(&c, &rw, x, 4, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 4 * H, NULL) <= tolerance(&c),
           "upload (%s): layer 1 runs the uploaded weights (rel %.3g)",
           zmoe_quant_format_name(c.quant.format), rt_rel_error(y, ref, 4 * H, NULL));
    zmoe_slot_acquire(rt, &slot, &err);
    BAD(zmoe_submit(rt, &slot, 0, 4, &err), ZMOE_ERR_STATE, "layer 0 has no weights",
        "upload: submitting the layer without weights");
    BAD(zmoe_upload_layer_weights(rt, 0, &host.w, &err), ZMOE_ERR_STATE, "acquired",
        "upload: with a slot acquired");
    zmoe_submit(rt, &slot, 1, 4, &err);
    zmoe_wait(rt, &slot, UINT64_MAX, &err);
    rt_counts_reset();
    st = RT_IN(zmoe_upload_layer_weights(rt, 0, &host.w, &err));
    if (tracing) /* the first layer to get weights warms the kernels up (runtime.c) */
        TAP_EQ_INT(first_executes - rt_ze[RT_ZE_EXECUTE], 2,
                   "upload: the first upload also runs slot 0's list and experts-only list once "
                   "(%llu executes; the next upload %llu)",
                   (unsigned long long)first_executes, (unsigned long long)rt_ze[RT_ZE_EXECUTE]);
    float y0[4 * 128];
    TAP_OK(st == ZMOE_OK && rt_forward(rt, &c, 0, x, 4, y0) == ZMOE_OK &&
               rt_rel_error(y0, ref, 4 * H, NULL) <= tolerance(&c),
           "upload (%s): after the first submit, layer 0 too (ring idle)",
           zmoe_quant_format_name(c.quant.format));
    BAD(zmoe_load_weights(rt, &err), ZMOE_ERR_STATE, "before the first", "upload: zmoe_load_weights after running");
    zmoe_ref_weights_free(&rw);
    free(x);
    layer_free(&host, false);
    zmoe_destroy(rt);
}

static void check_plan_json_and_sizes(void)
{
    struct zmoe_config c = mixtral();
    struct zmoe_runtime *rt = rt_create(&c, "plan json");
    if (!TAP_OK(rt != NULL, "plan json: runtime"))
        return;
    struct zmoe_error err;
    char small[16];
    size_t len = 0;
    BAD(zmoe_plan_json(rt, small, sizeof small, &len, &err), ZMOE_ERR_ARGUMENT, "pass at least",
        "zmoe_plan_json into 16 bytes");
    char *json = malloc(len + 1);
    enum zmoe_status st = zmoe_plan_json(rt, json, len + 1, NULL, &err);
    TAP_OK(st == ZMOE_OK && strlen(json) == len && json[0] == '{' && strstr(json, "\"layer1.w13\"") &&
               strstr(json, "\"slot1.params\""),
           "zmoe_plan_json: %zu bytes naming every buffer", len);
    free(json);
    zmoe_destroy(rt);
    TAP_OK(zmoe_sizeof("zmoe_config") == sizeof(struct zmoe_config) &&
               zmoe_sizeof("zmoe_slot") == sizeof(struct zmoe_slot) &&
               zmoe_sizeof("zmoe_create_info") == sizeof(struct zmoe_create_info) &&
               zmoe_sizeof("zmoe_stats") == sizeof(struct zmoe_stats) &&
               zmoe_sizeof("zmoe_layer_weights") == sizeof(struct zmoe_layer_weights) &&
               zmoe_sizeof("nope") == 0 && zmoe_sizeof(NULL) == 0,
           "zmoe_sizeof names the public structs");
}

int main(void)
{
    env_up();
    struct zmoe_config c = mixtral();
    check_caller_weights("Mixtral-like", c);
    c.dtype.weights = ZMOE_DTYPE_BF16;
    c.dtype.activations = ZMOE_DTYPE_F16;
    check_caller_weights("Mixtral-like", c);
    check_caller_weights("GPT-OSS swiglu, biases", gpt_oss());
    c = llama4(2);
    c.dtype.weights = c.dtype.activations = ZMOE_DTYPE_BF16;
    check_caller_weights("Llama 4 on input K=2, shared expert", c);
    check_bad_pointers();
    check_ring_experts("Mixtral-like", mixtral(), 20);
    c = llama4(1);
    check_ring_experts("Llama 4 on input K=1", c, 21);
    c = llama4(2);
    c.dtype.activations = ZMOE_DTYPE_BF16;
    check_ring_experts("Llama 4 on input K=2", c, 22);
    c = gpt_oss();
    c.dtype.weights = ZMOE_DTYPE_F16;
    check_ring_experts("GPT-OSS swiglu, biases", c, 23);
    c = llama4(2);
    c.dtype.weights = ZMOE_DTYPE_BF16;
    check_upload_layer(c);
    /* the quantized formats through the same paths */
    c = llama4(2);
    c.model.shared_intermediate = 64; /* a multiple of the group */
    c.dtype.weights = ZMOE_DTYPE_BF16;
    check_caller_weights("Llama 4 on input K=2, int4 asym act-order g32, shared int4",
                         quantized(c, ZMOE_QUANT_INT4, 32, true, true, ZMOE_SCALE_BF16));
    check_caller_weights("GPT-OSS swiglu, biases, mxfp4",
                         quantized(gpt_oss(), ZMOE_QUANT_MXFP4, 32, false, false, ZMOE_SCALE_E8M0));
    check_ring_experts("Mixtral-like int8 per-channel",
                       quantized(mixtral(), ZMOE_QUANT_INT8, 0, false, false, ZMOE_SCALE_F32), 24);
    c = llama4(1);
    c.model.hidden = c.model.intermediate = c.model.shared_intermediate = 128;
    check_ring_experts("Llama 4 on input K=1, fp8 128x128 blocks",
                       quantized(c, ZMOE_QUANT_FP8, 128, false, false, ZMOE_SCALE_BF16), 25);
    c = llama4(2);
    c.model.shared_intermediate = 64;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    check_upload_layer(quantized(c, ZMOE_QUANT_INT4, 32, false, false, ZMOE_SCALE_F16));
    check_upload_layer(quantized(c, ZMOE_QUANT_INT4, 32, true, true, ZMOE_SCALE_BF16));
    check_plan_json_and_sizes();
    zeCommandQueueDestroy(queue);
    zeContextDestroy(ctx);
    return tap_exit();
}
