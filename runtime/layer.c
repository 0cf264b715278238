/* layer.c — recording one MoE layer call: five launches (router, align, then expert_up,
 * expert_down and combine launched indirectly with group counts align wrote), and the
 * ring of pre-recorded lists (input copy, the stages, routing readback and output
 * copies) per (slot, layer). */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#define ZE_CHECK(call, ...)                                                                        \
    do {                                                                                           \
        ze_result_t r_ = (call);                                                                   \
        if (r_ != ZE_RESULT_SUCCESS)                                                               \
            return zmoe_runtime_ze_error(err, r_, #call, __VA_ARGS__);                             \
    } while (0)

struct argset {
    struct zmoe_runtime *rt;
    ze_kernel_handle_t k;
    const char *name;
    uint32_t i;
    struct zmoe_error *err;
    enum zmoe_status st;
};

static void arg(struct argset *a, size_t size, const void *value)
{
    if (a->st)
        return;
    ze_result_t r = zeKernelSetArgumentValue(a->k, a->i, size, value);
    if (r != ZE_RESULT_SUCCESS)
        a->st = zmoe_runtime_ze_error(a->err, r, "zeKernelSetArgumentValue",
                                      "setting argument %u of kernel '%s'", a->i, a->name);
    a->i++;
}

static void argp(struct argset *a, const void *p)
{
    arg(a, sizeof p, &p);
}

static void argu(struct argset *a, uint32_t v)
{
    arg(a, sizeof v, &v);
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* The `lane_spans` argument of the GEMV kernels (router, expert_up, expert_down): how
 * the LANES work-items of an output row split its reduction (kernels/moe.cl,
 * lane_split). A CPU device (hostdev) streams one contiguous span per lane; anything
 * else keeps the interleaved split a GPU needs to coalesce. Baked at record time, like
 * the work-group shape. ZMOE_GEMV_SPANS=0/1 overrides (tests run the interleaved split
 * on hostdev, so the GPU's path is checked against the reference there too). */
uint32_t zmoe_runtime_gemv_lane_spans(const struct zmoe_runtime *rt)
{
    const char *v = getenv("ZMOE_GEMV_SPANS");
    if (v && (v[0] == '0' || v[0] == '1') && v[1] == '\0')
        return (uint32_t)(v[0] - '0');
    return rt->device_type == ZE_DEVICE_TYPE_CPU ? 1u : 0u;
}

enum zmoe_status zmoe_runtime_append_layer(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                                           uint32_t layer, const void *x, void *y,
                                           const uint32_t *tokens, const struct zmoe_params *params,
                                           ze_event_handle_t *ev, struct zmoe_error *err)
{
    const struct zmoe_config *c = &rt->cfg;
    const uint32_t H = c->model.hidden, I = c->model.intermediate, E = c->model.experts;
    const uint32_t K = c->model.top_k;
    const uint32_t S = c->model.shared_experts * c->model.shared_intermediate;
    const uint32_t G = c->router.groups ? c->router.groups : 1;
    void *act[ZMOE_ACT_COUNT];
    for (int i = 0; i < ZMOE_ACT_COUNT; i++)
        act[i] = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[i]);
    void *w[ZMOE_TENSOR_COUNT];
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        uint32_t b = zmoe_runtime_weight_buffer(&rt->ids, layer, (enum zmoe_tensor)t);
        /* absent tensors: any valid pointer; the kernels never read it (flags) */
        w[t] = b == ZMOE_NO_BUFFER ? act[ZMOE_ACT_GATE] : zmoe_arena_ptr(&rt->arena, &rt->plan, b);
    }
    const ze_group_count_t *groups = act[ZMOE_ACT_GROUPS];
    const uint32_t gx_up = div_up(I > S ? I : S, rt->nout), gx_down = div_up(H, rt->nout);
    const uint32_t gx_combine = div_up(H, ZMOE_KERNEL_WG);
    const uint32_t spans = zmoe_runtime_gemv_lane_spans(rt);

    /* router */
    struct argset a = {rt, rt->kernel[ZMOE_K_ROUTER], "router", 0, err, ZMOE_OK};
    argp(&a, tokens);
    argp(&a, params);
    argp(&a, x);
    argp(&a, w[ZMOE_TENSOR_ROUTER_W]);
    argp(&a, w[ZMOE_TENSOR_ROUTER_B]);
    argp(&a, w[ZMOE_TENSOR_SHARED_GATE]);
    argp(&a, act[ZMOE_ACT_LOGITS]);
    argu(&a, H);
    argu(&a, E);
    argu(&a, spans);
    if (a.st)
        return a.st;
    ze_group_count_t rg = {div_up(E + 1, rt->nout), 1, 1};
    if (ev) {
        ZE_CHECK(zeCommandListAppendLaunchKernel(list, a.k, &rg, ev[ZMOE_STAGE_ROUTER], 0, NULL),
                 "recording the router of layer %u", layer);
    } else {
        ZE_CHECK(zeCommandListAppendLaunchKernel(list, a.k, &rg, NULL, 0, NULL),
                 "recording the router of layer %u", layer);
        ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier after the router");
    }

    /* align */
    a = (struct argset){rt, rt->kernel[ZMOE_K_ALIGN], "align", 0, err, ZMOE_OK};
    argp(&a, tokens);
    argp(&a, params);
    argp(&a, act[ZMOE_ACT_LOGITS]);
    argp(&a, w[ZMOE_TENSOR_SCORE_BIAS]);
    argp(&a, act[ZMOE_ACT_TOPK_IDS]);
    argp(&a, act[ZMOE_ACT_TOPK_W]);
    argp(&a, act[ZMOE_ACT_GATE]);
    argp(&a, act[ZMOE_ACT_SORTED]);
    argp(&a, act[ZMOE_ACT_INV]);
    argp(&a, act[ZMOE_ACT_TILES]);
    argp(&a, act[ZMOE_ACT_GROUPS]);
    argu(&a, E);
    argu(&a, K);
    argu(&a, G);
    argu(&a, G > 1 ? c->router.topk_group : 1);
    argu(&a, gx_up);
    argu(&a, gx_down);
    argu(&a, gx_combine);
    if (a.st)
        return a.st;
    ze_group_count_t one = {1, 1, 1};
    if (ev) {
        ZE_CHECK(zeCommandListAppendLaunchKernel(list, a.k, &one, ev[ZMOE_STAGE_ALIGN], 1,
                                                 &ev[ZMOE_STAGE_ROUTER]),
                 "recording the align stage of layer %u", layer);
    } else {
        ZE_CHECK(zeCommandListAppendLaunchKernel(list, a.k, &one, NULL, 0, NULL),
                 "recording the align stage of layer %u", layer);
        ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier after align");
    }

    /* expert up */
    a = (struct argset){rt, rt->kernel[ZMOE_K_UP], "expert_up", 0, err, ZMOE_OK};
    argp(&a, params);
    argp(&a, x);
    argp(&a, w[ZMOE_TENSOR_W13]);
    argp(&a, w[ZMOE_TENSOR_B13]);
    argp(&a, w[ZMOE_TENSOR_SHARED_W13]);
    argp(&a, act[ZMOE_ACT_TOPK_W]);
    argp(&a, act[ZMOE_ACT_SORTED]);
    argp(&a, act[ZMOE_ACT_TILES]);
    argp(&a, act[ZMOE_ACT_A]);
    argp(&a, act[ZMOE_ACT_A_SHARED]);
    argu(&a, H);
    argu(&a, I);
    argu(&a, S);
    argu(&a, E);
    argu(&a, K);
    argu(&a, spans);
    if (a.st)
        return a.st;
    if (ev) {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[0], ev[ZMOE_STAGE_EXPERT_UP],
                                                         1, &ev[ZMOE_STAGE_ALIGN]),
                 "recording expert_up of layer %u", layer);
    } else {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[0], NULL, 0, NULL),
                 "recording expert_up of layer %u", layer);
        ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier after expert_up");
    }

    /* expert down */
    a = (struct argset){rt, rt->kernel[ZMOE_K_DOWN], "expert_down", 0, err, ZMOE_OK};
    argp(&a, params);
    argp(&a, act[ZMOE_ACT_A]);
    argp(&a, act[ZMOE_ACT_A_SHARED]);
    argp(&a, w[ZMOE_TENSOR_W2]);
    argp(&a, w[ZMOE_TENSOR_B2]);
    argp(&a, w[ZMOE_TENSOR_SHARED_W2]);
    argp(&a, act[ZMOE_ACT_TILES]);
    argp(&a, act[ZMOE_ACT_O]);
    argp(&a, act[ZMOE_ACT_O_SHARED]);
    argu(&a, H);
    argu(&a, I);
    argu(&a, S);
    argu(&a, E);
    argu(&a, spans);
    if (a.st)
        return a.st;
    if (ev) {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[1], ev[ZMOE_STAGE_EXPERT_DOWN],
                                                         1, &ev[ZMOE_STAGE_EXPERT_UP]),
                 "recording expert_down of layer %u", layer);
    } else {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[1], NULL, 0, NULL),
                 "recording expert_down of layer %u", layer);
        ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier after expert_down");
    }

    /* combine */
    a = (struct argset){rt, rt->kernel[ZMOE_K_COMBINE], "combine", 0, err, ZMOE_OK};
    argp(&a, params);
    argp(&a, act[ZMOE_ACT_O]);
    argp(&a, act[ZMOE_ACT_O_SHARED]);
    argp(&a, act[ZMOE_ACT_TOPK_W]);
    argp(&a, act[ZMOE_ACT_GATE]);
    argp(&a, act[ZMOE_ACT_INV]);
    argp(&a, y);
    argu(&a, H);
    argu(&a, K);
    if (a.st)
        return a.st;
    if (ev) {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[2], ev[ZMOE_STAGE_COMBINE],
                                                         1, &ev[ZMOE_STAGE_EXPERT_DOWN]),
                 "recording combine of layer %u", layer);
    } else {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(list, a.k, &groups[2], NULL, 0, NULL),
                 "recording combine of layer %u", layer);
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_runtime_record_ring(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    const struct zmoe_config *c = &rt->cfg;
    const uint32_t depth = rt->depth;
    ze_event_pool_desc_t pd = {
        .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
        .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
        .count = depth * ZMOE_STAGE_COUNT,
    };
    ZE_CHECK(zeEventPoolCreate(rt->context, &pd, 1, &rt->device, &rt->event_pool),
             "creating the pool of %u timestamp events", pd.count);
    const size_t io_bytes = (size_t)c->runtime.max_tokens * c->model.hidden *
                            zmoe_dtype_size(c->dtype.activations);
    const size_t tk_bytes = (size_t)c->runtime.max_tokens * c->model.top_k * 4;
    void *ids_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_IDS]);
    void *w_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, rt->ids.act[ZMOE_ACT_TOPK_W]);
    for (uint32_t s = 0; s < depth; s++) {
        struct zmoe_ring_slot *sl = &rt->slots[s];
        sl->x_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_X_DEVICE));
        sl->y_dev = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_Y_DEVICE));
        sl->x_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_X_HOST));
        sl->y_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_Y_HOST));
        sl->params = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_PARAMS));
        sl->ids_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_TOPK_IDS_HOST));
        sl->w_host = zmoe_arena_ptr(&rt->arena, &rt->plan, zmoe_runtime_slot_buffer(&rt->ids, s, ZMOE_SLOT_TOPK_W_HOST));
        zmoe_runtime_params(c, sl->params);
        ze_fence_desc_t fd = {.stype = ZE_STRUCTURE_TYPE_FENCE_DESC};
        ZE_CHECK(zeFenceCreate(rt->queue, &fd, &sl->fence), "creating the fence of slot %u", s);
        for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++) {
            ze_event_desc_t ed = {
                .stype = ZE_STRUCTURE_TYPE_EVENT_DESC,
                .index = s * ZMOE_STAGE_COUNT + e,
                .signal = ZE_EVENT_SCOPE_FLAG_HOST,
                .wait = ZE_EVENT_SCOPE_FLAG_HOST,
            };
            ZE_CHECK(zeEventCreate(rt->event_pool, &ed, &sl->ev[e]), "creating event %u of slot %u", e, s);
        }
        for (uint32_t l = 0; l < c->model.layers; l++) {
            ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
            ze_command_list_handle_t list;
            ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, &list),
                     "creating the command list of slot %u layer %u", s, l);
            sl->lists[l] = list;
            /* The events of the previous run of this slot are reset first; the barrier
             * keeps the resets and the input copy ahead of the first signal. */
            for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++)
                ZE_CHECK(zeCommandListAppendEventReset(list, sl->ev[e]),
                         "recording the reset of event %u (slot %u layer %u)", e, s, l);
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->x_dev, sl->x_host, io_bytes, NULL, 0, NULL),
                     "recording the input copy of slot %u layer %u", s, l);
            ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL),
                     "recording the barrier after the input copy (slot %u layer %u)", s, l);
            enum zmoe_status st = zmoe_runtime_append_layer(rt, list, l, sl->x_dev, sl->y_dev,
                                                            &sl->params->tokens, sl->params, sl->ev, err);
            if (st)
                return st;
            /* Routing readback: the router's choice as align left it. act.topk_ids and
             * act.topk_w stay alive to the end of the layer (plan.c), so the copies only
             * wait for align and may run next to the expert stages. */
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->ids_host, ids_dev, tk_bytes, NULL, 1,
                                                   &sl->ev[ZMOE_STAGE_ALIGN]),
                     "recording the top-k ids copy of slot %u layer %u", s, l);
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->w_host, w_dev, tk_bytes, NULL, 1,
                                                   &sl->ev[ZMOE_STAGE_ALIGN]),
                     "recording the top-k weights copy of slot %u layer %u", s, l);
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->y_host, sl->y_dev, io_bytes, NULL, 1,
                                                   &sl->ev[ZMOE_STAGE_COMBINE]),
                     "recording the output copy of slot %u layer %u", s, l);
            ZE_CHECK(zeCommandListClose(list), "closing the command list of slot %u layer %u", s, l);
        }
    }
    return ZMOE_OK;
}
