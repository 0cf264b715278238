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

static enum zmoe_status create_objects(struct zmoe_runtime *rt, const struct zmoe_create_info *info,
                                       struct zmoe_error *err)
{
    enum zmoe_status st = zmoe_runtime_bring_up(rt, info, err);
    if (st)
        return st;
    st = zmoe_runtime_build_kernels(rt, err);
    if (st)
        return st;
    st = zmoe_arena_commit(&rt->arena, &rt->plan, rt->context, rt->device, err);
    if (st)
        return st;
    rt->arena_committed = true;
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ze_result_t r = zeCommandListCreate(rt->context, rt->device, &ld, &rt->upload_list);
    if (r)
        return zmoe_runtime_ze_error(err, r, "zeCommandListCreate", "creating the upload list");
    ze_fence_desc_t fd = {.stype = ZE_STRUCTURE_TYPE_FENCE_DESC};
    r = zeFenceCreate(rt->queue, &fd, &rt->upload_fence);
    if (r)
        return zmoe_runtime_ze_error(err, r, "zeFenceCreate", "creating the upload fence");
    void *rp = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.record_params);
    zmoe_runtime_params(&rt->cfg, rp);
    /* the experts-only call runs the routed experts alone: no shared expert, no gate */
    struct zmoe_params *ep = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.experts_params);
    zmoe_runtime_params(&rt->cfg, ep);
    ep->flags &= ~(ZMOE_PF_SHARED | ZMOE_PF_SHARED_GATE);
    memset(zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.routing_status), 0,
           (size_t)rt->cfg.model.layers * ZMOE_ROUTING_STATUS_WORDS * 4);
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

    const uint32_t nbuf = zmoe_runtime_max_buffers(cfg);
    struct zmoe_buffer *storage = zmoe_host_block_alloc(&rt->hb, (size_t)nbuf * sizeof *storage, 64);
    rt->slots = zmoe_host_block_alloc(&rt->hb, rt->depth * sizeof *rt->slots, 64);
    bool ok = storage && rt->slots;
    for (uint32_t s = 0; ok && s < rt->depth; s++) {
        rt->slots[s].lists = zmoe_host_block_alloc(
            &rt->hb, cfg->model.layers * sizeof(ze_command_list_handle_t), 64);
        ok = rt->slots[s].lists != NULL;
    }
    if (!ok) {
        zmoe_runtime_errorf(err, "zmoe_create: host block of %zu bytes too small", rt->hb.size);
        st = ZMOE_ERR_NO_MEMORY;
        goto fail;
    }
    zmoe_plan_init(&rt->plan, storage, nbuf);
    st = zmoe_runtime_plan(cfg, &rt->plan, &rt->ids, err);
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
    if (rt->phase != ZMOE_PHASE_COMMITTED || rt->weights_loaded) {
        zmoe_runtime_errorf(err, "zmoe_load_weights: weights are loaded once, before the first "
                                 "submit (runtime is %s%s)",
                            zmoe_phase_name(rt->phase), rt->weights_loaded ? ", weights loaded" : "");
        return ZMOE_ERR_STATE;
    }
    st = zmoe_runtime_upload_weights(rt, err);
    if (st == ZMOE_ERR_DEVICE_LOST)
        rt->lost = true;
    if (st == ZMOE_OK)
        rt->weights_loaded = true;
    return st;
}

/* --------------------------------------------------------------------- ring */

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
    if (!rt->weights_loaded) {
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
    slot->index = i;
    slot->input_host = sl->x_host;
    slot->output_host = sl->y_host;
    slot->input_device = sl->x_dev;
    slot->output_device = sl->y_dev;
    slot->topk_ids_host = sl->ids_host;
    slot->topk_weights_host = sl->w_host;
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

enum zmoe_status zmoe_submit(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                             uint32_t layer, uint32_t tokens, struct zmoe_error *err)
{
    LOCAL_ERR(err);
    if (!rt || !slot) {
        zmoe_runtime_errorf(err, "zmoe_submit: runtime and slot must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = check_usable(rt, "zmoe_submit", err);
    if (st)
        return st;
    if (!rt->weights_loaded) {
        zmoe_runtime_errorf(err, "zmoe_submit: load the weights first (runtime is %s)",
                            zmoe_phase_name(rt->phase));
        return ZMOE_ERR_STATE;
    }
    struct zmoe_ring_slot *sl = slot_of(rt, slot, "zmoe_submit", err);
    if (!sl)
        return ZMOE_ERR_ARGUMENT;
    if (layer >= rt->cfg.model.layers || tokens == 0 || tokens > rt->cfg.runtime.max_tokens) {
        zmoe_runtime_errorf(err, "zmoe_submit: layer %u / tokens %u out of range (layers %u, "
                                 "tokens 1..%u)",
                            layer, tokens, rt->cfg.model.layers, rt->cfg.runtime.max_tokens);
        return ZMOE_ERR_ARGUMENT;
    }
    if (sl->state != ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "zmoe_submit: slot %u was not acquired", slot->index);
        return ZMOE_ERR_STATE;
    }
    sl->params->tokens = tokens;
    ze_result_t r = zeCommandQueueExecuteCommandLists(rt->queue, 1, &sl->lists[layer], sl->fence);
    if (r != ZE_RESULT_SUCCESS)
        return ze_fail(rt, err, r, "zeCommandQueueExecuteCommandLists", "submitting ring slot",
                       slot->index);
    sl->state = ZMOE_SLOT_SUBMITTED;
    sl->seq = ++rt->submits;
    rt->phase = ZMOE_PHASE_RUNNING;
    return ZMOE_OK;
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
        if (st == ZMOE_OK)
            zmoe_runtime_errorf(err, "zmoe_routing_status: layer %u: %u routing pair%s named an "
                                     "expert >= %u (experts 0..%u); the first: token %u, k %u, "
                                     "id %u (run as expert 0 with weight 0)",
                                l, w[0], w[0] == 1 ? "" : "s", rt->cfg.model.experts,
                                rt->cfg.model.experts - 1, w[1], w[2], w[3]);
        st = ZMOE_ERR_ROUTING;
        flagged++;
        memset(w, 0, ZMOE_ROUTING_STATUS_WORDS * sizeof *w);
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
             rt->weights_loaded ? rt->weights_report : "(not loaded)");
    out->kernels_native = rt->kernels_native;
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
