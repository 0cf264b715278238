/* runtime.c — the public runtime API of zmoe.h: create/destroy, weights, the ring
 * (acquire, submit, wait, poll), record, stats, and the status/stage names.
 *
 * Run path budget: zmoe_slot_acquire makes at most two Level Zero calls
 * (zeFenceHostSynchronize when the slot is still in flight, zeFenceReset) and
 * zmoe_submit exactly one (zeCommandQueueExecuteCommandLists); neither allocates. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>

const char *zmoe_status_str(enum zmoe_status s)
{
    switch (s) {
    case ZMOE_OK: return "ok";
    case ZMOE_ERR_ARGUMENT: return "bad argument";
    case ZMOE_ERR_CONFIG: return "invalid config";
    case ZMOE_ERR_IO: return "I/O error";
    case ZMOE_ERR_BUDGET: return "over budget";
    case ZMOE_ERR_NO_DEVICE: return "no device";
    case ZMOE_ERR_LEVEL_ZERO: return "Level Zero error";
    case ZMOE_ERR_KERNEL: return "kernel build failed";
    case ZMOE_ERR_WEIGHTS: return "invalid weights";
    case ZMOE_ERR_STATE: return "not allowed in this phase";
    case ZMOE_ERR_NO_MEMORY: return "out of memory";
    case ZMOE_ERR_DEVICE_LOST: return "device lost";
    case ZMOE_TIMEOUT: return "timeout";
    case ZMOE_NOT_READY: return "not ready";
    case ZMOE_ERR_ROUTING: return "bad routing";
    }
    return "unknown status";
}

const char *zmoe_stage_name(enum zmoe_stage s)
{
    static const char *const names[ZMOE_STAGE_COUNT] = {"router", "align", "expert_up",
                                                        "expert_down", "combine"};
    return (unsigned)s < ZMOE_STAGE_COUNT ? names[s] : "unknown";
}

#define LOCAL_ERR(err)                                                                             \
    struct zmoe_error local_err_;                                                                  \
    if (!(err))                                                                                    \
    (err) = &local_err_

static enum zmoe_status ze_fail(struct zmoe_runtime *rt, struct zmoe_error *err, ze_result_t r,
                                const char *call, const char *what, uint32_t n)
{
    if (r == ZE_RESULT_ERROR_DEVICE_LOST)
        rt->lost = true;
    return zmoe_runtime_ze_error(err, r, call, "%s %u", what, n);
}

static enum zmoe_status check_usable(const struct zmoe_runtime *rt, const char *fn,
                                     struct zmoe_error *err)
{
    if (rt->lost) {
        zmoe_runtime_errorf(err, "%s: the device was lost; destroy this runtime", fn);
        return ZMOE_ERR_DEVICE_LOST;
    }
    return ZMOE_OK;
}

/* ----------------------------------------------------------------- create */

/* The caller's pointers for one layer (zmoe_create_info.weights, zmoe_set_layer_weights):
 * every tensor the config has is given, aligned, and inside one allocation of the
 * runtime's context that holds all of its bytes; a tensor it does not have is NULL. */
static enum zmoe_status check_layer_weights(const struct zmoe_runtime *rt, uint32_t layer,
                                            const struct zmoe_layer_weights *w, const char *fn,
                                            struct zmoe_error *err)
{
    if (!w) {
        zmoe_runtime_errorf(err, "%s: the weights of layer %u are NULL", fn, layer);
        return ZMOE_ERR_ARGUMENT;
    }
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        const enum zmoe_tensor tensor = (enum zmoe_tensor)t;
        const void *p = w->tensor[t];
        const char *name = zmoe_tensor_name(tensor);
        if (!zmoe_tensor_present(&rt->cfg, tensor)) {
            if (p) {
                zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' is given but this config has no "
                                         "such tensor (pass NULL)",
                                    fn, layer, name);
                return ZMOE_ERR_ARGUMENT;
            }
            continue;
        }
        const uint64_t bytes = zmoe_tensor_bytes(&rt->cfg, tensor);
        if (!p) {
            zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' (%llu bytes) is NULL", fn, layer, name,
                                (unsigned long long)bytes);
            return ZMOE_ERR_ARGUMENT;
        }
        /* matrices are read as 16-byte vectors (kernels/moe.cl), f32 vectors as floats */
        const uintptr_t align = zmoe_tensor_dtype(&rt->cfg, tensor) == ZMOE_DTYPE_F32 &&
                                        (tensor == ZMOE_TENSOR_ROUTER_B || tensor == ZMOE_TENSOR_SCORE_BIAS ||
                                         tensor == ZMOE_TENSOR_B13 || tensor == ZMOE_TENSOR_B2)
                                    ? 4
                                    : 16;
        if ((uintptr_t)p % align) {
            zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' at %p is not %u-byte aligned", fn,
                                layer, name, p, (unsigned)align);
            return ZMOE_ERR_ARGUMENT;
        }
        void *base = NULL;
        size_t size = 0;
        ze_result_t r = zeMemGetAddressRange(rt->context, p, &base, &size);
        if (r != ZE_RESULT_SUCCESS || !base) {
            zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' at %p is not memory of the runtime's "
                                     "Level Zero context (zeMemGetAddressRange: %s)",
                                fn, layer, name, p, zmoe_ze_result_str(r));
            return ZMOE_ERR_ARGUMENT;
        }
        const uint64_t room = (uint64_t)((uintptr_t)base + size - (uintptr_t)p);
        if (room < bytes) {
            zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' at %p needs %llu bytes; its "
                                     "allocation ends %llu bytes after it",
                                fn, layer, name, p, (unsigned long long)bytes,
                                (unsigned long long)room);
            return ZMOE_ERR_ARGUMENT;
        }
    }
    return ZMOE_OK;
}

static void mark_all_layers_loaded(struct zmoe_runtime *rt)
{
    for (uint32_t l = 0; l < rt->cfg.model.layers; l++)
        rt->layer_loaded[l] = true;
    rt->layers_loaded = rt->cfg.model.layers;
    rt->weights_loaded = true;
}

bool zmoe_runtime_alloc_structures(struct zmoe_runtime *rt)
{
    const uint32_t layers = rt->cfg.model.layers, nbuf = zmoe_runtime_max_buffers(&rt->cfg);
    const size_t lists_bytes = layers * sizeof(ze_command_list_handle_t);
    struct zmoe_buffer *storage = zmoe_host_block_alloc(&rt->hb, nbuf * sizeof *storage, 64);
    rt->slots = zmoe_host_block_alloc(&rt->hb, rt->depth * sizeof *rt->slots, 64);
    bool ok = storage && rt->slots;
    for (uint32_t s = 0; ok && s < rt->depth; s++) {
        rt->slots[s].lists = zmoe_host_block_alloc(&rt->hb, lists_bytes, 64);
        ok = rt->slots[s].lists != NULL;
        if (ok && rt->ring_experts) {
            rt->slots[s].experts_lists = zmoe_host_block_alloc(&rt->hb, lists_bytes, 64);
            ok = rt->slots[s].experts_lists != NULL;
        }
    }
    if (ok)
        zmoe_plan_init(&rt->plan, storage, nbuf);
    return ok;
}

enum zmoe_status zmoe_runtime_commit(struct zmoe_runtime *rt, int32_t device,
                                     struct zmoe_error *err)
{
    /* a parallel runtime's device is named: "creating the upload list of device 1",
     * "creating the fence of device 1 slot 0" */
    char of_device[32] = "", dev[32] = "";
    if (device >= 0) {
        snprintf(of_device, sizeof of_device, " of device %d", (int)device);
        snprintf(dev, sizeof dev, "device %d ", (int)device);
    }
    enum zmoe_status st = zmoe_runtime_build_kernels(rt, err);
    if (st)
        return st;
    st = zmoe_arena_commit(&rt->arena, &rt->plan, rt->context, rt->device, err);
    if (st)
        return st;
    rt->arena_committed = true;
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, &rt->upload_list),
             "creating the upload list%s", of_device);
    ze_fence_desc_t fd = {.stype = ZE_STRUCTURE_TYPE_FENCE_DESC};
    ZE_CHECK(zeFenceCreate(rt->queue, &fd, &rt->upload_fence), "creating the upload fence%s",
             of_device);
    /* the fused routing's counters: zero before the first call, and after every call */
    st = zmoe_runtime_zero_buffer(rt, rt->ids.act[ZMOE_ACT_ROUTE_COUNTS], err);
    if (st)
        return st;
    /* the ring: one pool of timestamp events; per slot its buffers, fence and events */
    ze_event_pool_desc_t pd = {
        .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
        .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
        .count = rt->depth * ZMOE_STAGE_COUNT,
    };
    ze_result_t r = zeEventPoolCreate(rt->context, &pd, 1, &rt->device, &rt->event_pool);
    if (r != ZE_RESULT_SUCCESS)
        return device < 0
                   ? zmoe_runtime_ze_error(err, r, "zeEventPoolCreate",
                                           "creating the pool of %u timestamp events", pd.count)
                   : zmoe_runtime_ze_error(err, r, "zeEventPoolCreate",
                                           "creating the timestamp events of device %d", (int)device);
    for (uint32_t s = 0; s < rt->depth; s++) {
        struct zmoe_ring_slot *sl = &rt->slots[s];
        sl->x_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_X_DEVICE));
        sl->y_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_Y_DEVICE));
        sl->x_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_X_HOST));
        sl->y_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_Y_HOST));
        if (rt->slot_direct) { /* the kernels use the host-visible buffers themselves */
            sl->x_dev = sl->x_host;
            sl->y_dev = sl->y_host;
        }
        sl->params = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_PARAMS));
        sl->ids_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_TOPK_IDS_HOST));
        sl->w_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_TOPK_W_HOST));
        ZE_CHECK(zeFenceCreate(rt->queue, &fd, &sl->fence), "creating the fence of %sslot %u", dev,
                 s);
        for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++) {
            ze_event_desc_t ed = {
                .stype = ZE_STRUCTURE_TYPE_EVENT_DESC,
                .index = s * ZMOE_STAGE_COUNT + e,
                .signal = ZE_EVENT_SCOPE_FLAG_HOST,
                .wait = ZE_EVENT_SCOPE_FLAG_HOST,
            };
            ZE_CHECK(zeEventCreate(rt->event_pool, &ed, &sl->ev[e]),
                     "creating event %u of %sslot %u", e, dev, s);
        }
    }
    return ZMOE_OK;
}

/* [runtime] slot_io: direct where the device reads host memory at memory speed (a CPU, an
 * integrated GPU), which saves the two copies of every list; on a discrete GPU the expert
 * kernels would read x over the bus once per work-group. (Expert parallelism records its
 * own lists, with copies: parallel.c leaves slot_direct false.) */
static bool slot_io_direct(const struct zmoe_runtime *rt)
{
    if (rt->cfg.runtime.slot_io != ZMOE_SLOT_IO_AUTO)
        return rt->cfg.runtime.slot_io == ZMOE_SLOT_IO_DIRECT;
    return rt->device_type == ZE_DEVICE_TYPE_CPU || rt->device_integrated;
}

/* Every routing status row (one per layer for the caller's lists, one per ring slot). */
static void clear_routing_status(struct zmoe_runtime *rt)
{
    memset(zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.routing_status), 0,
           ((size_t)rt->cfg.model.layers + rt->depth) * ZMOE_ROUTING_STATUS_WORDS * 4);
}

static enum zmoe_status create_objects(struct zmoe_runtime *rt, const struct zmoe_create_info *info,
                                       struct zmoe_error *err)
{
    enum zmoe_status st = zmoe_runtime_bring_up(rt, info, err);
    if (st)
        return st;
    rt->slot_direct = slot_io_direct(rt);
    if (rt->caller_weights) {
        for (uint32_t l = 0; l < rt->cfg.model.layers; l++) {
            st = check_layer_weights(rt, l, &info->weights[l], "zmoe_create", err);
            if (st)
                return st;
            rt->layer_weights[l] = info->weights[l];
        }
        mark_all_layers_loaded(rt);
        snprintf(rt->weights_report, sizeof rt->weights_report,
                 "the caller's device memory (%u layers, zmoe_create_info.weights)",
                 rt->cfg.model.layers);
    }
    st = zmoe_runtime_commit(rt, -1, err);
    if (st)
        return st;
    void *rp = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.record_params);
    zmoe_runtime_params(&rt->cfg, rp);
    /* the experts-only call runs the routed experts alone: no shared expert, no gate */
    struct zmoe_params *ep = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.experts_params);
    zmoe_runtime_params(&rt->cfg, ep);
    ep->flags &= ~(ZMOE_PF_SHARED | ZMOE_PF_SHARED_GATE);
    clear_routing_status(rt);
    return zmoe_runtime_record_ring(rt, err);
}

enum zmoe_status zmoe_create(const struct zmoe_create_info *info, struct zmoe_runtime **out,
                             struct zmoe_error *err)
{
    LOCAL_ERR(err);
    err->msg[0] = '\0';
    if (!info || !info->config || !out) {
        zmoe_runtime_errorf(err, "zmoe_create: info, info->config and out must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    *out = NULL;
    if (info->host_memory && info->host_memory_bytes == 0) {
        zmoe_runtime_errorf(err, "zmoe_create: host_memory given with host_memory_bytes 0");
        return ZMOE_ERR_ARGUMENT;
    }
    const struct zmoe_config *cfg = info->config;
    enum zmoe_status st = zmoe_config_validate(cfg, err);
    if (st)
        return st;
    st = zmoe_runtime_check_config(cfg, err);
    if (st)
        return st;

    /* The host block is the first allocation: refuse an over-budget one before it. */
    const size_t host_bytes = zmoe_runtime_host_bytes(cfg);
    if (cfg->budget.host_bytes && host_bytes > cfg->budget.host_bytes) {
        zmoe_runtime_errorf(err, "host budget of %llu bytes is below the %zu bytes of runtime "
                                 "structures alone",
                            (unsigned long long)cfg->budget.host_bytes, host_bytes);
        return ZMOE_ERR_BUDGET;
    }
    if (info->host_memory && info->host_memory_bytes < host_bytes) {
        zmoe_runtime_errorf(err, "zmoe_create: host_memory of %zu bytes; this config needs %zu",
                            info->host_memory_bytes, host_bytes);
        return ZMOE_ERR_NO_MEMORY;
    }
    struct zmoe_host_block hb;
    st = zmoe_host_block_init(&hb, info->host_memory, info->host_memory ? info->host_memory_bytes
                                                                         : host_bytes, err);
    if (st)
        return st;
    struct zmoe_runtime *rt = zmoe_host_block_alloc(&hb, sizeof *rt, 64);
    if (!rt) {
        zmoe_host_block_fini(&hb);
        zmoe_runtime_errorf(err, "zmoe_create: host block too small for the runtime");
        return ZMOE_ERR_NO_MEMORY;
    }
    rt->hb = hb; /* from here on every host allocation goes through rt->hb */
    rt->cfg = *cfg;
    rt->phase = ZMOE_PHASE_CONFIGURED;
    rt->depth = cfg->runtime.ring_depth;
    rt->caller_weights = info->weights != NULL;
    rt->ring_experts = info->ring_experts;

    const bool ok = zmoe_runtime_alloc_structures(rt);
    rt->layer_loaded = ok ? zmoe_host_block_alloc(&rt->hb, cfg->model.layers, 64) : NULL;
    rt->layer_weights = rt->layer_loaded ? zmoe_host_block_alloc(&rt->hb, cfg->model.layers *
                                                                          sizeof *rt->layer_weights, 64)
                                         : NULL;
    if (!rt->layer_weights) {
        zmoe_runtime_errorf(err, "zmoe_create: host block of %zu bytes too small", rt->hb.size);
        st = ZMOE_ERR_NO_MEMORY;
        goto fail;
    }
    st = zmoe_runtime_plan_weights(cfg, rt->caller_weights, &rt->plan, &rt->ids, err);
    if (st)
        goto fail;
    rt->phase = ZMOE_PHASE_PLANNED;
    /* Before any device work or allocation: the plan must fit the budgets. */
    st = zmoe_plan_check_budget(&rt->plan, cfg->budget.device_bytes, cfg->budget.host_bytes,
                                rt->hb.size, err);
    if (st)
        goto fail;
    st = create_objects(rt, info, err);
    if (st)
        goto fail;
    zmoe_host_block_commit(&rt->hb);
    rt->phase = ZMOE_PHASE_COMMITTED;
    *out = rt;
    return ZMOE_OK;

fail:
    zmoe_destroy(rt);
    return st;
}

void zmoe_destroy(struct zmoe_runtime *rt)
{
    if (!rt)
        return;
    zmoe_runtime_tear_down(rt);
    struct zmoe_host_block hb = rt->hb; /* rt lives inside the block it describes */
    zmoe_host_block_fini(&hb);
}

/* ------------------------------------------------------------------ weights */

/* Runs slot 0's lists of the first layer that gets weights once, at max_tokens, before
 * the load call returns: a driver may do first-use work at a kernel's first launch rather
 * than at zeModuleCreate. PoCL, under hostdev, compiles each kernel's work-group function
 * for its local size then (seconds a kernel on a cold cache, so a first decode step could
 * outlast wait_timeout_ms), and keeps it for grids up to the one it ran: max_tokens is
 * the largest the ring launches. Every layer runs the same kernels (one [quant] and dtype
 * for all), so one layer warms them all. The weights are loaded; the slot's input and
 * routing arrays are zeroed first (expert 0, weight 0) and its status rows cleared after.
 * Not a call: no stats, no submit number. The bound is generous because a cold compile
 * under valgrind takes minutes; a lost or faulting device fails the load here. The
 * caller's weights (zmoe_create_info.weights) are never read before a layer call, so such
 * a runtime pays the first-use work in its first call instead. */
#define WARM_UP_TIMEOUT_NS (600ull * 1000000000ull)

static enum zmoe_status warm_up(struct zmoe_runtime *rt, uint32_t layer, struct zmoe_error *err)
{
    if (rt->warmed_up)
        return ZMOE_OK;
    const struct zmoe_config *c = &rt->cfg;
    struct zmoe_ring_slot *sl = &rt->slots[0];
    const size_t tk_bytes = zmoe_slot_routing_bytes(c);
    memset(sl->x_host, 0, zmoe_slot_io_bytes(c));
    memset(sl->ids_host, 0, tk_bytes);
    memset(sl->w_host, 0, tk_bytes);
    sl->params->tokens = c->runtime.max_tokens;
    for (int experts = 0; experts < (rt->ring_experts ? 2 : 1); experts++) {
        ze_command_list_handle_t list = experts ? sl->experts_lists[layer] : sl->lists[layer];
        ZE_CHECK(zeFenceReset(sl->fence), "resetting slot 0's fence for the warm-up");
        ZE_CHECK(zeCommandQueueExecuteCommandLists(rt->queue, 1, &list, sl->fence),
                 "warming up slot 0's %s of layer %u", experts ? "experts-only list" : "list",
                 layer);
        ze_result_t r = zeFenceHostSynchronize(sl->fence, WARM_UP_TIMEOUT_NS);
        if (r == ZE_RESULT_NOT_READY) {
            zmoe_runtime_errorf(err, "the warm-up of slot 0's layer %u list still running after "
                                     "%llu s", layer, WARM_UP_TIMEOUT_NS / 1000000000ull);
            return ZMOE_TIMEOUT;
        }
        if (r != ZE_RESULT_SUCCESS)
            return zmoe_runtime_ze_error(err, r, "zeFenceHostSynchronize",
                                         "waiting for the warm-up of slot 0's layer %u", layer);
    }
    clear_routing_status(rt);
    rt->warmed_up = true;
    return ZMOE_OK;
}

enum zmoe_status zmoe_load_weights(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt) {
        zmoe_runtime_errorf(err, "zmoe_load_weights: runtime is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, "zmoe_load_weights", err);
    if (st)
        return st;
    if (rt->caller_weights) {
        zmoe_runtime_errorf(err, "zmoe_load_weights: this runtime runs on the caller's weights "
                                 "(zmoe_create_info.weights); there is nothing to load");
        return ZMOE_ERR_STATE;
    }
    if (rt->phase != ZMOE_PHASE_COMMITTED || rt->weights_loaded) {
        zmoe_runtime_errorf(err, "zmoe_load_weights: weights are loaded once, before the first "
                                 "submit (runtime is %s%s)",
                            zmoe_phase_name(rt->phase), rt->weights_loaded ? ", weights loaded" : "");
        return ZMOE_ERR_STATE;
    }
    st = zmoe_runtime_upload_weights(rt, err);
    if (st == ZMOE_OK)
        st = warm_up(rt, 0, err);
    if (st == ZMOE_ERR_DEVICE_LOST)
        rt->lost = true;
    if (st == ZMOE_OK)
        mark_all_layers_loaded(rt);
    return st;
}

/* The weight calls that may come after the first submit (re-pointing, per-layer upload)
 * run only while the ring is idle: no slot acquired, none submitted and not waited for. */
static enum zmoe_status check_ring_idle(const struct zmoe_runtime *rt, const char *fn,
                                        struct zmoe_error *err)
{
    for (uint32_t s = 0; s < rt->depth; s++)
        if (rt->slots[s].state != ZMOE_SLOT_FREE) {
            zmoe_runtime_errorf(err, "%s: slot %u is %s; weights change only while no slot is "
                                     "acquired or in flight (wait for every submit first)",
                                fn, s, rt->slots[s].state == ZMOE_SLOT_ACQUIRED ? "acquired" : "in flight");
            return ZMOE_ERR_STATE;
        }
    return ZMOE_OK;
}

static enum zmoe_status check_weights_call(struct zmoe_runtime *rt, uint32_t layer,
                                           const void *weights, const char *fn,
                                           struct zmoe_error *err)
{
    if (!rt || !weights) {
        zmoe_runtime_errorf(err, "%s: runtime and weights must not be NULL", fn);
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, fn, err);
    if (st)
        return st;
    if (layer >= rt->cfg.model.layers) {
        zmoe_runtime_errorf(err, "%s: layer %u out of range (%u layers)", fn, layer,
                            rt->cfg.model.layers);
        return ZMOE_ERR_ARGUMENT;
    }
    return check_ring_idle(rt, fn, err);
}

enum zmoe_status zmoe_set_layer_weights(struct zmoe_runtime *rt, uint32_t layer,
                                        const struct zmoe_layer_weights *weights,
                                        struct zmoe_error *err)
{
    LOCAL_ERR(err);
    const char *fn = "zmoe_set_layer_weights";
    enum zmoe_status st = check_weights_call(rt, layer, weights, fn, err);
    if (st)
        return st;
    if (!rt->caller_weights) {
        zmoe_runtime_errorf(err, "%s: this runtime owns its weights (created without "
                                 "zmoe_create_info.weights); use zmoe_upload_layer_weights",
                            fn);
        return ZMOE_ERR_STATE;
    }
    st = check_layer_weights(rt, layer, weights, fn, err);
    if (st)
        return st;
    const struct zmoe_layer_weights old = rt->layer_weights[layer];
    rt->layer_weights[layer] = *weights;
    st = zmoe_runtime_rerecord_layer(rt, layer, err);
    if (st) {
        /* a list half re-recorded cannot run: the layer has no usable lists now */
        rt->layer_weights[layer] = old;
        if (rt->layer_loaded[layer]) {
            rt->layer_loaded[layer] = false;
            rt->layers_loaded--;
        }
        rt->weights_loaded = false;
        if (st == ZMOE_ERR_DEVICE_LOST)
            rt->lost = true;
    }
    return st;
}

enum zmoe_status zmoe_upload_layer_weights(struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err)
{
    LOCAL_ERR(err);
    const char *fn = "zmoe_upload_layer_weights";
    enum zmoe_status st = check_weights_call(rt, layer, host, fn, err);
    if (st)
        return st;
    if (rt->caller_weights) {
        zmoe_runtime_errorf(err, "%s: this runtime runs on the caller's weights "
                                 "(zmoe_create_info.weights); use zmoe_set_layer_weights",
                            fn);
        return ZMOE_ERR_STATE;
    }
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        const bool present = zmoe_tensor_present(&rt->cfg, (enum zmoe_tensor)t);
        if (present != (host->tensor[t] != NULL)) {
            zmoe_runtime_errorf(err, "%s: layer %u tensor '%s' is %s", fn, layer,
                                zmoe_tensor_name((enum zmoe_tensor)t),
                                present ? "NULL but the config has it"
                                        : "given but this config has no such tensor (pass NULL)");
            return ZMOE_ERR_ARGUMENT;
        }
    }
    st = zmoe_runtime_check_upload(rt, layer, host, err);
    if (st)
        return st;
    /* the layer has no valid weights until the copy completes */
    if (rt->layer_loaded[layer]) {
        rt->layer_loaded[layer] = false;
        rt->layers_loaded--;
        rt->weights_loaded = false;
    }
    st = zmoe_runtime_upload_layer(rt, layer, host, err);
    if (st == ZMOE_OK)
        st = warm_up(rt, layer, err);
    if (st == ZMOE_ERR_DEVICE_LOST)
        rt->lost = true;
    if (st)
        return st;
    rt->layer_loaded[layer] = true;
    rt->layers_loaded++;
    rt->weights_loaded = rt->layers_loaded == rt->cfg.model.layers;
    if (!rt->weights_report[0] || strncmp(rt->weights_report, "host memory", 11) == 0)
        snprintf(rt->weights_report, sizeof rt->weights_report,
                 "host memory through zmoe_upload_layer_weights (%u of %u layers)",
                 rt->layers_loaded, rt->cfg.model.layers);
    return ZMOE_OK;
}

/* --------------------------------------------------------------------- ring */

void zmoe_runtime_slot_view(const struct zmoe_ring_slot *sl, uint32_t index,
                            struct zmoe_slot *slot)
{
    slot->index = index;
    slot->input_host = sl->x_host;
    slot->output_host = sl->y_host;
    slot->input_device = sl->x_dev;
    slot->output_device = sl->y_dev;
    slot->topk_ids_host = sl->ids_host;
    slot->topk_weights_host = sl->w_host;
}

ze_result_t zmoe_runtime_execute_slot(struct zmoe_runtime *rt, struct zmoe_ring_slot *sl,
                                      ze_command_list_handle_t list)
{
    ze_result_t r = zeCommandQueueExecuteCommandLists(rt->queue, 1, &list, sl->fence);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    sl->state = ZMOE_SLOT_SUBMITTED;
    sl->seq = ++rt->submits; /* zmoe_get_stats reads the latest completed submit */
    rt->phase = ZMOE_PHASE_RUNNING;
    return r;
}

enum zmoe_status zmoe_slot_acquire(struct zmoe_runtime *rt, struct zmoe_slot *slot,
                                   struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt || !slot) {
        zmoe_runtime_errorf(err, "zmoe_slot_acquire: runtime and slot must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, "zmoe_slot_acquire", err);
    if (st)
        return st;
    if (rt->layers_loaded == 0) {
        zmoe_runtime_errorf(err, "zmoe_slot_acquire: load the weights first (runtime is %s)",
                            zmoe_phase_name(rt->phase));
        return ZMOE_ERR_STATE;
    }
    const uint32_t i = rt->next_slot;
    struct zmoe_ring_slot *sl = &rt->slots[i];
    if (sl->state == ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "zmoe_slot_acquire: all %u slots are acquired and not submitted",
                            rt->depth);
        return ZMOE_ERR_STATE;
    }
    if (sl->state == ZMOE_SLOT_SUBMITTED) {
        /* back-pressure: bounded wait for the slot's previous execution */
        ze_result_t r = zeFenceHostSynchronize(sl->fence,
                                               (uint64_t)rt->cfg.runtime.wait_timeout_ms * 1000000u);
        if (r == ZE_RESULT_NOT_READY) {
            zmoe_runtime_errorf(err, "zmoe_slot_acquire: slot %u still running after %u ms", i,
                                rt->cfg.runtime.wait_timeout_ms);
            return ZMOE_TIMEOUT;
        }
        if (r != ZE_RESULT_SUCCESS)
            return ze_fail(rt, err, r, "zeFenceHostSynchronize", "waiting for ring slot", i);
    }
    ze_result_t r = zeFenceReset(sl->fence);
    if (r != ZE_RESULT_SUCCESS)
        return ze_fail(rt, err, r, "zeFenceReset", "resetting the fence of ring slot", i);
    sl->state = ZMOE_SLOT_ACQUIRED;
    rt->next_slot = (i + 1) % rt->depth;
    zmoe_runtime_slot_view(sl, i, slot);
    /* the experts-only call's routing input shares the readback arrays (layer.c) */
    slot->routing_ids_host = sl->ids_host;
    slot->routing_weights_host = sl->w_host;
    return ZMOE_OK;
}

static struct zmoe_ring_slot *slot_of(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                                      const char *fn, struct zmoe_error *err)
{
    if (slot->index >= rt->depth || rt->slots[slot->index].x_host != slot->input_host) {
        zmoe_runtime_errorf(err, "%s: slot %u is not a slot of this runtime (ring depth %u)", fn,
                            slot->index, rt->depth);
        return NULL;
    }
    return &rt->slots[slot->index];
}

/* zmoe_submit and zmoe_submit_experts: write T, execute the slot's pre-recorded list of
 * the layer (1 Level Zero call). */
static enum zmoe_status submit_list(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                                    uint32_t layer, uint32_t tokens, bool experts, const char *fn,
                                    struct zmoe_error *err)
{
    if (!rt || !slot) {
        zmoe_runtime_errorf(err, "%s: runtime and slot must not be NULL", fn);
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, fn, err);
    if (st)
        return st;
    if (rt->layers_loaded == 0) {
        zmoe_runtime_errorf(err, "%s: load the weights first (runtime is %s)", fn,
                            zmoe_phase_name(rt->phase));
        return ZMOE_ERR_STATE;
    }
    if (experts && !rt->ring_experts) {
        zmoe_runtime_errorf(err, "%s: the ring has no experts-only lists (create the runtime "
                                 "with zmoe_create_info.ring_experts = true)",
                            fn);
        return ZMOE_ERR_STATE;
    }
    struct zmoe_ring_slot *sl = slot_of(rt, slot, fn, err);
    if (!sl)
        return ZMOE_ERR_ARGUMENT;
    if (layer >= rt->cfg.model.layers || tokens == 0 || tokens > rt->cfg.runtime.max_tokens) {
        zmoe_runtime_errorf(err, "%s: layer %u / tokens %u out of range (layers %u, "
                                 "tokens 1..%u)",
                            fn, layer, tokens, rt->cfg.model.layers, rt->cfg.runtime.max_tokens);
        return ZMOE_ERR_ARGUMENT;
    }
    if (!rt->layer_loaded[layer]) {
        zmoe_runtime_errorf(err, "%s: layer %u has no weights (zmoe_load_weights or "
                                 "zmoe_upload_layer_weights)",
                            fn, layer);
        return ZMOE_ERR_STATE;
    }
    if (sl->state != ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "%s: slot %u was not acquired", fn, slot->index);
        return ZMOE_ERR_STATE;
    }
    sl->params->tokens = tokens;
    ze_result_t r = zmoe_runtime_execute_slot(rt, sl, experts ? sl->experts_lists[layer]
                                                              : sl->lists[layer]);
    if (r != ZE_RESULT_SUCCESS)
        return ze_fail(rt, err, r, "zeCommandQueueExecuteCommandLists", "submitting ring slot",
                       slot->index);
    sl->experts_layer = experts ? (int64_t)layer : -1;
    return ZMOE_OK;
}

enum zmoe_status zmoe_submit(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                             uint32_t layer, uint32_t tokens, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    return submit_list(rt, slot, layer, tokens, false, "zmoe_submit", err);
}

enum zmoe_status zmoe_submit_experts(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                                     uint32_t layer, uint32_t tokens, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    return submit_list(rt, slot, layer, tokens, true, "zmoe_submit_experts", err);
}

/* The message of a flagged status row (align_routed: count, token, k, id); clears it. */
static enum zmoe_status report_routing(const struct zmoe_runtime *rt, uint32_t *w,
                                       const char *where, struct zmoe_error *err)
{
    if (w[0] == 0)
        return ZMOE_OK;
    zmoe_runtime_errorf(err, "%s: %u routing pair%s named an expert >= %u (experts 0..%u); the "
                             "first: token %u, k %u, id %u (run as expert 0 with weight 0)",
                        where, w[0], w[0] == 1 ? "" : "s", rt->cfg.model.experts,
                        rt->cfg.model.experts - 1, w[1], w[2], w[3]);
    memset(w, 0, ZMOE_ROUTING_STATUS_WORDS * sizeof *w);
    return ZMOE_ERR_ROUTING;
}

static enum zmoe_status finish(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                               bool blocking, uint64_t timeout_ns, const char *fn,
                               struct zmoe_error *err)
{
    if (!rt || !slot) {
        zmoe_runtime_errorf(err, "%s: runtime and slot must not be NULL", fn);
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, fn, err);
    if (st)
        return st;
    struct zmoe_ring_slot *sl = slot_of(rt, slot, fn, err);
    if (!sl)
        return ZMOE_ERR_ARGUMENT;
    if (sl->state != ZMOE_SLOT_SUBMITTED) {
        if (sl->state == ZMOE_SLOT_ACQUIRED) {
            zmoe_runtime_errorf(err, "%s: slot %u is acquired but was not submitted", fn, slot->index);
            return ZMOE_ERR_STATE;
        }
        return ZMOE_OK; /* already finished */
    }
    ze_result_t r = blocking ? zeFenceHostSynchronize(sl->fence, timeout_ns)
                             : zeFenceQueryStatus(sl->fence);
    if (r == ZE_RESULT_NOT_READY) {
        if (!blocking)
            return ZMOE_NOT_READY;
        zmoe_runtime_errorf(err, "%s: slot %u still running after %llu ns", fn, slot->index,
                            (unsigned long long)timeout_ns);
        return ZMOE_TIMEOUT;
    }
    if (r != ZE_RESULT_SUCCESS)
        return ze_fail(rt, err, r, blocking ? "zeFenceHostSynchronize" : "zeFenceQueryStatus",
                       "waiting for ring slot", slot->index);
    sl->state = ZMOE_SLOT_FREE;
    if (sl->experts_layer >= 0) {
        char where[96];
        snprintf(where, sizeof where, "%s: slot %u layer %u", fn, slot->index,
                 (unsigned)sl->experts_layer);
        sl->experts_layer = -1;
        return report_routing(rt, sl->routing_status, where, err);
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_wait(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                           uint64_t timeout_ns, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (rt && timeout_ns == UINT64_MAX)
        timeout_ns = (uint64_t)rt->cfg.runtime.wait_timeout_ms * 1000000u;
    return finish(rt, slot, true, timeout_ns, "zmoe_wait", err);
}

enum zmoe_status zmoe_poll(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                           struct zmoe_error *err)
{
    LOCAL_ERR(err);
    return finish(rt, slot, false, 0, "zmoe_poll", err);
}

/* ------------------------------------------------------------------- record */

/* What every recording entry point checks after its NULL arguments: a usable runtime,
 * a layer that exists, and init time (recording never happens on the run path). */
static enum zmoe_status check_recordable(struct zmoe_runtime *rt, uint32_t layer, const char *what,
                                         struct zmoe_error *err)
{
    enum zmoe_status st = check_usable(rt, what, err);
    if (st)
        return st;
    if (layer >= rt->cfg.model.layers) {
        zmoe_runtime_errorf(err, "%s: layer %u out of range (%u layers)", what, layer,
                            rt->cfg.model.layers);
        return ZMOE_ERR_ARGUMENT;
    }
    if (rt->phase != ZMOE_PHASE_COMMITTED) {
        zmoe_runtime_errorf(err, "%s: recording is init-time only (runtime is %s)", what,
                            zmoe_phase_name(rt->phase));
        return ZMOE_ERR_STATE;
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_record(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                             uint32_t layer, const void *x_device, void *y_device,
                             const uint32_t *tokens_device, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt || !list || !x_device || !y_device || !tokens_device) {
        zmoe_runtime_errorf(err, "zmoe_record: runtime, list, x, y and tokens must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_recordable(rt, layer, "zmoe_record", err);
    if (st)
        return st;
    const void *io[ZMOE_IO_COUNT] = {
        [ZMOE_IO_X] = x_device,
        [ZMOE_IO_Y] = y_device,
        [ZMOE_IO_TOKENS] = tokens_device,
        [ZMOE_IO_PARAMS] = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.record_params),
    };
    return zmoe_runtime_append_layer(rt, list, &rt->launch, layer, io, NULL, err);
}

static uint32_t *routing_status(struct zmoe_runtime *rt, uint32_t layer)
{
    uint32_t *words = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.routing_status);
    return words + (size_t)layer * ZMOE_ROUTING_STATUS_WORDS;
}

enum zmoe_status zmoe_record_experts(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                                     uint32_t layer, const void *x_device,
                                     const uint32_t *topk_ids_device,
                                     const float *topk_weights_device, void *y_device,
                                     const uint32_t *tokens_device, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt || !list || !x_device || !topk_ids_device || !topk_weights_device || !y_device ||
        !tokens_device) {
        zmoe_runtime_errorf(err, "zmoe_record_experts: runtime, list, x, topk_ids, topk_weights, "
                                 "y and tokens must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_recordable(rt, layer, "zmoe_record_experts", err);
    if (st)
        return st;
    const void *io[ZMOE_IO_COUNT] = {
        [ZMOE_IO_X] = x_device,
        [ZMOE_IO_Y] = y_device,
        [ZMOE_IO_TOKENS] = tokens_device,
        [ZMOE_IO_PARAMS] = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.experts_params),
        [ZMOE_IO_TOPK_IDS] = topk_ids_device,
        [ZMOE_IO_TOPK_W] = topk_weights_device,
        [ZMOE_IO_ROUTING_STATUS] = routing_status(rt, layer),
    };
    return zmoe_runtime_append_layer(rt, list, &rt->launch_experts, layer, io, NULL, err);
}

enum zmoe_status zmoe_routing_status(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt) {
        zmoe_runtime_errorf(err, "zmoe_routing_status: runtime is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    err->msg[0] = '\0';
    enum zmoe_status st = ZMOE_OK;
    uint32_t flagged = 0;
    for (uint32_t l = 0; l < rt->cfg.model.layers; l++) {
        uint32_t *w = routing_status(rt, l);
        if (w[0] == 0)
            continue;
        char where[64];
        snprintf(where, sizeof where, "zmoe_routing_status: layer %u", l);
        struct zmoe_error later;
        report_routing(rt, w, where, st == ZMOE_OK ? err : &later); /* the first one named */
        st = ZMOE_ERR_ROUTING;
        flagged++;
    }
    if (flagged > 1) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, "; %u layers flagged in all", flagged);
    }
    return st;
}

/* -------------------------------------------------------------------- stats */

enum zmoe_status zmoe_get_stats(const struct zmoe_runtime *rt, struct zmoe_stats *out)
{
    if (!rt || !out)
        return ZMOE_ERR_ARGUMENT;
    memset(out, 0, sizeof *out);
    out->submits = rt->submits;
    out->host_allocations_after_init = rt->hb.refused;
    out->device_allocations_after_init = 0; /* the arena is never grown: by construction */
    out->device_bytes = rt->arena.size[ZMOE_MEMORY_DEVICE];
    out->host_bytes = rt->arena.size[ZMOE_MEMORY_HOST_VISIBLE] + rt->hb.size;
    snprintf(out->device_name, sizeof out->device_name, "%s", rt->device_name);
    snprintf(out->device_reason, sizeof out->device_reason, "%s", rt->device_reason);
    snprintf(out->weights_source, sizeof out->weights_source, "%s",
             rt->layers_loaded ? rt->weights_report : "(not loaded)");
    out->kernels_native = rt->kernels_native;
    out->slot_io_direct = rt->slot_direct;
    out->combine_fused = rt->launch.count && rt->launch.launch[rt->launch.count - 1].kernel == ZMOE_K_DOWN;
    out->align_fused = rt->launch.count && zmoe_launch_plan_routing_stage(&rt->launch) == ZMOE_STAGE_ROUTER;
    if (rt->lost)
        return ZMOE_ERR_DEVICE_LOST;

    /* The most recent submit known complete; timestamps queried only here (lazily). */
    const struct zmoe_ring_slot *best = NULL;
    for (uint32_t s = 0; s < rt->depth; s++) {
        const struct zmoe_ring_slot *sl = &rt->slots[s];
        if (sl->seq == 0 || (best && sl->seq < best->seq))
            continue;
        if (sl->state == ZMOE_SLOT_SUBMITTED && zeFenceQueryStatus(sl->fence) != ZE_RESULT_SUCCESS)
            continue;
        if (sl->state == ZMOE_SLOT_ACQUIRED)
            continue; /* its events are about to be reset by the next submit */
        best = sl;
    }
    if (!best)
        return ZMOE_OK;
    for (int e = 0; e < ZMOE_STAGE_COUNT; e++) {
        ze_kernel_timestamp_result_t ts;
        if (zeEventQueryKernelTimestamp(best->ev[e], &ts) != ZE_RESULT_SUCCESS)
            continue;
        uint64_t ticks = (ts.global.kernelEnd - ts.global.kernelStart) & rt->timestamp_mask;
        out->stage_device_ns[e] = ticks * rt->timer_resolution_ns;
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------ plan, sizes */

static ssize_t count_bytes(void *cookie, const char *buf, size_t size)
{
    (void)buf;
    *(uint64_t *)cookie += size;
    return (ssize_t)size;
}

enum zmoe_status zmoe_plan_json(const struct zmoe_runtime *rt, char *buf, size_t size,
                                size_t *length, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt || (!buf && size)) {
        zmoe_runtime_errorf(err, "zmoe_plan_json: runtime is NULL, or buf is NULL with size %zu", size);
        return ZMOE_ERR_ARGUMENT;
    }
    /* measure first (a stream that only counts), then write into the caller's buffer */
    uint64_t counted = 0;
    FILE *count = fopencookie(&counted, "w", (cookie_io_functions_t){.write = count_bytes});
    if (!count) {
        zmoe_runtime_errorf(err, "zmoe_plan_json: cannot open a counting stream");
        return ZMOE_ERR_IO;
    }
    zmoe_plan_report_json(&rt->plan, count);
    fclose(count);
    const long n = (long)counted;
    if (length)
        *length = (size_t)n;
    if ((size_t)n + 1 > size) {
        zmoe_runtime_errorf(err, "zmoe_plan_json: the document has %ld bytes; buf holds %zu "
                                 "(pass at least %ld)",
                            n, size, n + 1);
        return ZMOE_ERR_ARGUMENT;
    }
    FILE *out = fmemopen(buf, size, "w");
    if (!out) {
        zmoe_runtime_errorf(err, "zmoe_plan_json: fmemopen failed");
        return ZMOE_ERR_IO;
    }
    zmoe_plan_report_json(&rt->plan, out);
    fclose(out);
    buf[n] = '\0';
    return ZMOE_OK;
}

size_t zmoe_sizeof(const char *type)
{
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"zmoe_config", sizeof(struct zmoe_config)},
        {"zmoe_create_info", sizeof(struct zmoe_create_info)},
        {"zmoe_slot", sizeof(struct zmoe_slot)},
        {"zmoe_stats", sizeof(struct zmoe_stats)},
        {"zmoe_error", sizeof(struct zmoe_error)},
        {"zmoe_layer_weights", sizeof(struct zmoe_layer_weights)},
    };
    for (size_t i = 0; type && i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(type, sizes[i].name) == 0)
            return sizes[i].size;
    return 0;
}
