/* layer.c — recording one MoE layer call from a launch plan (launch.c: router and align,
 * or the router with align inside, then the stages launched indirectly with the group
 * counts align wrote; or the experts-only
 * plan, align_routed then the same stages: one loop records both), and the ring of
 * pre-recorded lists (input copy, the stages, routing readback and output copies) per
 * (slot, layer). */
#include "runtime/runtime.h"

enum zmoe_status zmoe_runtime_append_layer(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                                           const struct zmoe_launch_plan *p, uint32_t layer,
                                           const void *const io[ZMOE_IO_COUNT],
                                           ze_event_handle_t *ev, struct zmoe_error *err)
{
    /* where the plan's named buffers are for this layer */
    void *act[ZMOE_ACT_COUNT], *weight[ZMOE_TENSOR_COUNT];
    for (int i = 0; i < ZMOE_ACT_COUNT; i++)
        act[i] = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[i]);
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        void *w = zmoe_runtime_weight_ptr(rt, layer, (enum zmoe_tensor)t);
        /* absent tensors: any valid pointer; the kernels never read it (flags) */
        weight[t] = w ? w : act[ZMOE_ACT_GATE];
    }
    const ze_group_count_t *groups = act[ZMOE_ACT_GROUPS];

    for (uint32_t i = 0; i < p->count; i++) {
        const struct zmoe_launch *l = &p->launch[i];
        ze_kernel_handle_t k = rt->kernel[l->kernel];
        const char *name = p->kernel[l->kernel].name;
        for (uint32_t j = 0; j < l->nargs; j++) {
            const struct zmoe_launch_arg *a = &l->arg[j];
            ze_result_t res;
            if (a->kind == ZMOE_ARG_U32) {
                res = zeKernelSetArgumentValue(k, j, sizeof a->value, &a->value);
            } else if (a->kind == ZMOE_ARG_IO && !io[a->value]) {
                zmoe_runtime_errorf(err, "recording %s of layer %u: argument %u names an input "
                                         "this call does not provide (io %u)",
                                    name, layer, j, a->value);
                return ZMOE_ERR_ARGUMENT;
            } else {
                const void *ptr = a->kind == ZMOE_ARG_ACT      ? act[a->value]
                                  : a->kind == ZMOE_ARG_WEIGHT ? weight[a->value]
                                                               : io[a->value];
                res = zeKernelSetArgumentValue(k, j, sizeof ptr, &ptr);
            }
            if (res != ZE_RESULT_SUCCESS)
                return zmoe_runtime_ze_error(err, res, "zeKernelSetArgumentValue",
                                             "setting argument %u of kernel '%s'", j, name);
        }
        /* With events (ring lists) each stage signals its event and waits for the one
         * before it; without (zmoe_record), barriers order the stages. */
        ze_event_handle_t signal = ev ? ev[l->stage] : NULL;
        ze_event_handle_t *wait = ev && l->wait >= 0 ? &ev[p->launch[l->wait].stage] : NULL;
        const ze_group_count_t direct = {l->groups[0], l->groups[1], l->groups[2]};
        ze_result_t res =
            l->indirect < 0
                ? zeCommandListAppendLaunchKernel(list, k, &direct, signal, wait ? 1 : 0, wait)
                : zeCommandListAppendLaunchKernelIndirect(list, k, &groups[l->indirect], signal,
                                                          wait ? 1 : 0, wait);
        if (res != ZE_RESULT_SUCCESS)
            return zmoe_runtime_ze_error(err, res, l->indirect < 0 ? "zeCommandListAppendLaunchKernel"
                                                                   : "zeCommandListAppendLaunchKernelIndirect",
                                         "recording %s of layer %u", name, layer);
        if (!ev && i + 1 < p->count)
            ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier after %s", name);
    }
    return ZMOE_OK;
}

void *zmoe_runtime_weight_ptr(const struct zmoe_runtime *rt, uint32_t layer, enum zmoe_tensor t)
{
    if (!zmoe_tensor_present(&rt->cfg, t))
        return NULL;
    if (rt->caller_weights)
        return (void *)rt->layer_weights[layer].tensor[t];
    return zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_weight_buffer(&rt->ids, layer, t));
}

enum zmoe_status zmoe_runtime_append_readback(struct zmoe_runtime *rt,
                                              ze_command_list_handle_t list, uint32_t s,
                                              uint32_t l, struct zmoe_error *err)
{
    /* act.topk_ids and act.topk_w stay alive to the end of the layer (plan.c), so the
     * copies only wait for the routing (align, or the router with align inside) and may
     * run next to the expert stages */
    struct zmoe_ring_slot *sl = &rt->slots[s];
    ze_event_handle_t *routed = &sl->ev[zmoe_launch_plan_routing_stage(&rt->launch)];
    const size_t tk_bytes = zmoe_slot_routing_bytes(&rt->cfg);
    void *ids_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_IDS]);
    void *w_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_W]);
    ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->ids_host, ids_dev, tk_bytes, NULL, 1, routed),
             "recording the top-k ids copy of slot %u layer %u", s, l);
    ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->w_host, w_dev, tk_bytes, NULL, 1, routed),
             "recording the top-k weights copy of slot %u layer %u", s, l);
    return ZMOE_OK;
}

/* One ring list of (slot s, layer l), into an empty list: the layer call (experts =
 * false) or the experts-only call on the slot's routing arrays (experts = true):
 *   event resets; copy x_host -> x_device; barrier; the plan's launches (events chain
 *   them); [layer call only: routing readback copies after align]; copy y -> y_host.
 * With direct slot I/O (rt->slot_direct: x_dev is x_host, y_dev is y_host) the two copies
 * are not recorded; the fence still signals after the last kernel. */
static enum zmoe_status record_slot_list(struct zmoe_runtime *rt, uint32_t s, uint32_t l,
                                         bool experts, ze_command_list_handle_t list,
                                         struct zmoe_error *err)
{
    const struct zmoe_config *c = &rt->cfg;
    struct zmoe_ring_slot *sl = &rt->slots[s];
    const size_t io_bytes = zmoe_slot_io_bytes(c);
    const char *what = experts ? "experts-only list" : "command list";
    /* The events of the previous run of this slot are reset first; the barrier keeps the
     * resets and the input copy ahead of the first signal. */
    for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++)
        ZE_CHECK(zeCommandListAppendEventReset(list, sl->ev[e]),
                 "recording the reset of event %u (slot %u layer %u %s)", e, s, l, what);
    if (!rt->slot_direct)
        ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->x_dev, sl->x_host, io_bytes, NULL, 0, NULL),
                 "recording the input copy of slot %u layer %u (%s)", s, l, what);
    ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL),
             "recording the barrier after the input copy (slot %u layer %u %s)", s, l, what);
    const struct zmoe_launch_plan *lp = experts ? &rt->launch_experts : &rt->launch;
    enum zmoe_status st;
    if (experts) {
        /* align_routed reads the caller's routing straight from the slot's host-visible
         * arrays (no copy); the tokens come from the slot's parameter block, the flags
         * from the experts parameter block (no shared expert). */
        const void *io[ZMOE_IO_COUNT] = {
            [ZMOE_IO_X] = sl->x_dev,
            [ZMOE_IO_Y] = sl->y_dev,
            [ZMOE_IO_TOKENS] = &sl->params->tokens,
            [ZMOE_IO_PARAMS] = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.experts_params),
            [ZMOE_IO_TOPK_IDS] = sl->ids_host,
            [ZMOE_IO_TOPK_W] = sl->w_host,
            [ZMOE_IO_ROUTING_STATUS] = sl->routing_status,
        };
        st = zmoe_runtime_append_layer(rt, list, lp, l, io, sl->ev, err);
    } else {
        const void *io[ZMOE_IO_COUNT] = {
            [ZMOE_IO_X] = sl->x_dev,
            [ZMOE_IO_Y] = sl->y_dev,
            [ZMOE_IO_TOKENS] = &sl->params->tokens,
            [ZMOE_IO_PARAMS] = sl->params,
        };
        st = zmoe_runtime_append_layer(rt, list, lp, l, io, sl->ev, err);
    }
    if (st)
        return st;
    if (!experts) {
        st = zmoe_runtime_append_readback(rt, list, s, l, err);
        if (st)
            return st;
    }
    if (!rt->slot_direct)
        ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->y_host, sl->y_dev, io_bytes, NULL, 1,
                                               &sl->ev[zmoe_launch_plan_y_stage(lp)]),
                 "recording the output copy of slot %u layer %u (%s)", s, l, what);
    ZE_CHECK(zeCommandListClose(list), "closing the %s of slot %u layer %u", what, s, l);
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_record_ring(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    const struct zmoe_config *c = &rt->cfg;
    uint32_t *status = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.routing_status);
    for (uint32_t s = 0; s < rt->depth; s++) {
        struct zmoe_ring_slot *sl = &rt->slots[s];
        /* the slot's row follows the per-layer rows of the caller's lists (plan.c) */
        sl->routing_status = status + ((size_t)c->model.layers + s) * ZMOE_ROUTING_STATUS_WORDS;
        sl->experts_layer = -1;
        zmoe_runtime_params(c, sl->params);
        for (uint32_t l = 0; l < c->model.layers; l++)
            for (int experts = 0; experts < (rt->ring_experts ? 2 : 1); experts++) {
                ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
                ze_command_list_handle_t *list = experts ? &sl->experts_lists[l] : &sl->lists[l];
                ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, list),
                         "creating the %s of slot %u layer %u",
                         experts ? "experts-only list" : "command list", s, l);
                enum zmoe_status st = record_slot_list(rt, s, l, experts, *list, err);
                if (st)
                    return st;
            }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_rerecord_layer(struct zmoe_runtime *rt, uint32_t layer,
                                             struct zmoe_error *err)
{
    for (uint32_t s = 0; s < rt->depth; s++)
        for (int experts = 0; experts < (rt->ring_experts ? 2 : 1); experts++) {
            ze_command_list_handle_t list = experts ? rt->slots[s].experts_lists[layer]
                                                    : rt->slots[s].lists[layer];
            ZE_CHECK(zeCommandListReset(list), "resetting the %s of slot %u layer %u",
                     experts ? "experts-only list" : "command list", s, layer);
            enum zmoe_status st = record_slot_list(rt, s, layer, experts, list, err);
            if (st)
                return st;
        }
    return ZMOE_OK;
}
