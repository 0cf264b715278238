/* naive.c — the baseline: a MoE layer call the way the Python stacks drive an Intel GPU
 * through Level Zero. Every call allocates its scratch (zeMemAllocDevice per tensor),
 * applies apply_router_weight_on_input out of place (a multiply kernel writing a new
 * input, then ones as the new combine weights), records a fresh command list with
 * zmoe's own kernels from the runtime's launch plan (runtime/launch.c), executes it, waits for the
 * queue and frees everything. Group sizes and arguments are set per launch, as SYCL
 * does. What stays across calls is what a Python stack keeps too: weights, the loaded
 * kernels, the input tensor and the caller's host I/O. */
#include "bench/bench.h"

#include "kernels/kernels.h"

#include <valgrind/callgrind.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bench's own embedded module (bench/naive.cl), under renamed symbols so it can
 * sit next to zmoe's table (see bench/meson.build). */
const struct zmoe_kernel_module *bench_kernels_find(const char *name);

#define ZE_TRY(call, what)                                                                         \
    do {                                                                                           \
        ze_result_t r_ = (call);                                                                   \
        if (r_ != ZE_RESULT_SUCCESS)                                                               \
            return zmoe_runtime_ze_error(err, r_, #call, "%s", what);                              \
    } while (0)

const char *naive_stage_name(enum naive_stage s)
{
    static const char *const names[NAIVE_STAGES] = {"router", "align", "scale (x*w)", "ones",
                                                    "expert_up", "expert_down", "combine"};
    return (unsigned)s < NAIVE_STAGES ? names[s] : "?";
}

static enum zmoe_status make_module(struct naive *n, const struct zmoe_kernel_module *m,
                                    bool native, ze_module_handle_t *out, struct zmoe_error *err)
{
    ze_module_desc_t md = {
        .stype = ZE_STRUCTURE_TYPE_MODULE_DESC,
        .format = native ? ZE_MODULE_FORMAT_NATIVE : ZE_MODULE_FORMAT_IL_SPIRV,
        .inputSize = native ? m->native_size : m->spirv_size,
        .pInputModule = native ? m->native : m->spirv,
        .pBuildFlags = "",
    };
    ZE_TRY(zeModuleCreate(n->rt->context, n->rt->device, &md, out, NULL), m->name);
    return ZMOE_OK;
}

static enum zmoe_status make_kernel(ze_module_handle_t m, const char *name, ze_kernel_handle_t *k,
                                    struct zmoe_error *err)
{
    ze_kernel_desc_t kd = {.stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = name};
    ZE_TRY(zeKernelCreate(m, &kd, k), name);
    return ZMOE_OK;
}

enum zmoe_status naive_init(struct naive *n, struct zmoe_runtime *rt, struct zmoe_error *err)
{
    memset(n, 0, sizeof *n);
    n->rt = rt;
    n->cfg = &rt->cfg;
    const struct zmoe_config *c = n->cfg;
    n->on_input = c->router.apply_router_weight_on_input;
    if (n->on_input && c->model.shared_experts) {
        /* The Python stacks run the shared expert apart on the unscaled x; with zmoe's
         * kernels that would need a second expert_up: bench configs avoid the case. */
        zmoe_runtime_errorf(err, "naive: apply_router_weight_on_input with a shared expert "
                                 "is not modelled");
        return ZMOE_ERR_CONFIG;
    }
    const struct zmoe_kernel_module *moe = rt->kernels_native ? zmoe_kernels_find("moe")
                                                              : zmoe_runtime_kernel_module(rt);
    const struct zmoe_kernel_module *extra = bench_kernels_find("naive");
    if (!moe || !extra) {
        zmoe_runtime_errorf(err, "naive: kernel module missing from the build");
        return ZMOE_ERR_KERNEL;
    }
    /* Same binary as the runtime: native when it took the native one.
     * ZBENCH_MOE_SPV=file.spv gives the baseline another build of the kernels instead
     * (A/B experiments on kernel changes: `zbench kernel-ab`). */
    struct zmoe_kernel_module alt;
    const char *alt_path = getenv("ZBENCH_MOE_SPV");
    uint8_t *alt_bytes = NULL;
    if (alt_path && *alt_path) {
        FILE *f = fopen(alt_path, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            size = ftell(f);
        if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (alt_bytes = malloc((size_t)size)) &&
            fread(alt_bytes, 1, (size_t)size, f) == (size_t)size) {
            alt = *moe;
            alt.spirv = alt_bytes;
            alt.spirv_size = (size_t)size;
            moe = &alt;
        } else {
            if (f)
                fclose(f);
            free(alt_bytes);
            zmoe_runtime_errorf(err, "naive: cannot read ZBENCH_MOE_SPV=%s", alt_path);
            return ZMOE_ERR_IO;
        }
        fclose(f);
    }
    enum zmoe_status st = make_module(n, moe, rt->kernels_native && !alt_bytes, &n->moe, err);
    free(alt_bytes);
    if (!st)
        st = make_module(n, extra, false, &n->extra, err);
    if (st)
        return st;
    for (int k = 0; k < ZMOE_K_COUNT && !st; k++)
        st = make_kernel(n->moe, rt->launch.kernel[k].name, &n->k[k], err);
    char sname[64];
    snprintf(sname, sizeof sname, "scale_rows_%s", zmoe_dtype_name(c->dtype.activations));
    if (!st)
        st = make_kernel(n->extra, sname, &n->scale, err);
    if (!st)
        st = make_kernel(n->extra, "fill_ones", &n->ones, err);
    if (!st)
        st = make_kernel(n->moe, "copy_f32", &n->copy, err);
    if (st)
        return st;

    const size_t io = (size_t)c->runtime.max_tokens * c->model.hidden *
                      zmoe_dtype_size(c->dtype.activations);
    ze_device_mem_alloc_desc_t dd = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
    ze_host_mem_alloc_desc_t hd = {.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC};
    ZE_TRY(zeMemAllocDevice(rt->context, &dd, io, 64, rt->device, &n->x_dev), "naive input");
    ZE_TRY(zeMemAllocHost(rt->context, &hd, io, 64, &n->x_host), "naive host input");
    ZE_TRY(zeMemAllocHost(rt->context, &hd, io, 64, &n->y_host), "naive host output");
    void *p;
    ZE_TRY(zeMemAllocHost(rt->context, &hd, sizeof *n->params, 64, &p), "naive params");
    n->params = p;
    zmoe_runtime_params(c, n->params);
    n->params->flags &= ~ZMOE_PF_ON_INPUT; /* the kernels see already-scaled rows */

    ze_event_pool_desc_t pd = {
        .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
        .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
        .count = 8,
    };
    ZE_TRY(zeEventPoolCreate(rt->context, &pd, 1, &rt->device, &n->pool), "naive timing pool");
    for (uint32_t i = 0; i < 8; i++) {
        ze_event_desc_t ed = {.stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i,
                              .signal = ZE_EVENT_SCOPE_FLAG_HOST, .wait = ZE_EVENT_SCOPE_FLAG_HOST};
        ZE_TRY(zeEventCreate(n->pool, &ed, &n->ev[i]), "naive timing event");
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ the call */

struct args {
    ze_kernel_handle_t k;
    uint32_t i;
    ze_result_t r;
};

static void arg(struct args *a, size_t size, const void *v)
{
    if (a->r == ZE_RESULT_SUCCESS)
        a->r = zeKernelSetArgumentValue(a->k, a->i, size, v);
    a->i++;
}

static void argp(struct args *a, const void *p)
{
    arg(a, sizeof p, &p);
}

static void argu(struct args *a, uint32_t v)
{
    arg(a, sizeof v, &v);
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* Scratch tensors: the runtime's activations (same order as enum zmoe_act), then the
 * output and the out-of-place on-input tensors. */
/* The fused routing's counters: one per token of the router's grid (max_tokens, not
 * this call's T) and the tokens-routed count. */
static size_t route_counts_bytes(const struct zmoe_config *c)
{
    return ((size_t)c->runtime.max_tokens + 1) * 4;
}

enum scratch { S_Y = ZMOE_ACT_COUNT, S_XS, S_ONES, S_COUNT };

/* Appends one launch: group size and a barrier per launch, and in timed mode a
 * timestamp event. */
static ze_result_t launch(struct naive *n, ze_command_list_handle_t l, ze_kernel_handle_t k,
                          uint32_t gx, uint32_t gy, const ze_group_count_t *direct,
                          const ze_group_count_t *indirect, bool timed, enum naive_stage s)
{
    ze_result_t r = zeKernelSetGroupSize(k, gx, gy, 1);
    ze_event_handle_t ev = timed ? n->ev[s] : NULL;
    if (r == ZE_RESULT_SUCCESS)
        r = indirect ? zeCommandListAppendLaunchKernelIndirect(l, k, indirect, ev, 0, NULL)
                     : zeCommandListAppendLaunchKernel(l, k, direct, ev, 0, NULL);
    if (r == ZE_RESULT_SUCCESS)
        r = zeCommandListAppendBarrier(l, NULL, 0, NULL);
    return r;
}

static ze_result_t set_arg(ze_kernel_handle_t k, uint32_t i, const void *p)
{
    return zeKernelSetArgumentValue(k, i, sizeof p, &p);
}

/* x * topk_weights into a new tensor (T*K rows), then ones_like(weights). */
static ze_result_t out_of_place_scale(struct naive *n, ze_command_list_handle_t l, uint32_t T,
                                      void *const *s, bool timed)
{
    const uint32_t H = n->cfg->model.hidden, K = n->cfg->model.top_k;
    ze_result_t r = set_arg(n->scale, 0, n->x_dev);
    if (!r)
        r = set_arg(n->scale, 1, s[ZMOE_ACT_TOPK_W]);
    if (!r)
        r = set_arg(n->scale, 2, s[S_XS]);
    if (!r)
        r = zeKernelSetArgumentValue(n->scale, 3, sizeof H, &H);
    if (!r)
        r = zeKernelSetArgumentValue(n->scale, 4, sizeof K, &K);
    ze_group_count_t sg = {div_up(H, 64), T * K, 1};
    if (!r)
        r = launch(n, l, n->scale, 64, 1, &sg, NULL, timed, NAIVE_SCALE);
    const uint32_t tk = T * K;
    if (!r)
        r = set_arg(n->ones, 0, s[S_ONES]);
    if (!r)
        r = zeKernelSetArgumentValue(n->ones, 1, sizeof tk, &tk);
    ze_group_count_t og = {div_up(tk, 64), 1, 1};
    if (!r)
        r = launch(n, l, n->ones, 64, 1, &og, NULL, timed, NAIVE_ONES);
    return r;
}

static const enum naive_stage stage_of[ZMOE_K_COUNT] = {
    [ZMOE_K_ROUTER] = NAIVE_ROUTER, [ZMOE_K_ALIGN] = NAIVE_ALIGN, [ZMOE_K_UP] = NAIVE_UP,
    [ZMOE_K_DOWN] = NAIVE_DOWN,     [ZMOE_K_COMBINE] = NAIVE_COMBINE,
};

/* The runtime's launch plan (runtime/launch.c), resolved into this call's scratch, with
 * the out-of-place on-input steps after align: expert_up reads the scaled copies (one
 * row per routed copy, so its copies-per-token argument becomes 1) and combine (its kernel or
 * expert_down's fused tail) the ones. */
static ze_result_t record(struct naive *n, ze_command_list_handle_t l, uint32_t layer,
                          uint32_t T, void *const *s, bool timed)
{
    const struct zmoe_config *c = n->cfg;
    struct zmoe_runtime *rt = n->rt;
    const struct zmoe_launch_plan *p = &rt->launch;
    const size_t asz = zmoe_dtype_size(c->dtype.activations);
    void *w[ZMOE_TENSOR_COUNT];
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        uint32_t b = zmoe_runtime_weight_buffer(&rt->ids, layer, (enum zmoe_tensor)t);
        w[t] = b == ZMOE_NO_BUFFER ? s[ZMOE_ACT_GATE] : zmoe_arena_ptr(&rt->arena, &rt->plan, b);
    }
    const ze_group_count_t *groups = s[ZMOE_ACT_GROUPS];
    const bool oi = n->on_input;

    ze_result_t r = zeCommandListAppendMemoryCopy(l, n->x_dev, n->x_host, (size_t)T * c->model.hidden * asz,
                                                  NULL, 0, NULL);
    const uint8_t zero = 0; /* the fused routing's counters start at zero (torch.zeros) */
    if (r == ZE_RESULT_SUCCESS)
        r = zeCommandListAppendMemoryFill(l, s[ZMOE_ACT_ROUTE_COUNTS], &zero, 1,
                                          route_counts_bytes(c), NULL, 0, NULL);
    if (r == ZE_RESULT_SUCCESS)
        r = zeCommandListAppendBarrier(l, NULL, 0, NULL);
    for (uint32_t i = 0; i < p->count && !r; i++) {
        const struct zmoe_launch *ln = &p->launch[i];
        ze_kernel_handle_t k = n->k[ln->kernel];
        for (uint32_t j = 0; j < ln->nargs && !r; j++) {
            const struct zmoe_launch_arg *a = &ln->arg[j];
            uint32_t v = a->value;
            const void *ptr = NULL;
            if (a->kind == ZMOE_ARG_U32) {
                if (oi && ln->kernel == ZMOE_K_UP && j == ZMOE_UP_ARG_K)
                    v = 1;
                r = zeKernelSetArgumentValue(k, j, sizeof v, &v);
                continue;
            }
            if (a->kind == ZMOE_ARG_ACT)
                /* the combine weights (the combine kernel's, or expert_down's fused tail) */
                ptr = oi && v == ZMOE_ACT_TOPK_W &&
                              (ln->kernel == ZMOE_K_DOWN || ln->kernel == ZMOE_K_COMBINE)
                          ? s[S_ONES]
                          : s[v];
            else if (a->kind == ZMOE_ARG_WEIGHT)
                ptr = w[v];
            else if (v == ZMOE_IO_X)
                ptr = oi && ln->kernel == ZMOE_K_UP ? s[S_XS] : n->x_dev;
            else if (v == ZMOE_IO_Y)
                ptr = s[S_Y];
            else if (v == ZMOE_IO_TOKENS)
                ptr = &n->params->tokens;
            else
                ptr = n->params;
            r = set_arg(k, j, ptr);
        }
        const ze_group_count_t direct = {ln->groups[0], ln->groups[1], ln->groups[2]};
        if (!r)
            r = launch(n, l, k, p->kernel[ln->kernel].local[0], p->kernel[ln->kernel].local[1],
                       &direct, ln->indirect < 0 ? NULL : &groups[ln->indirect], timed,
                       stage_of[ln->kernel]);
        if (!r && oi && ln->stage == zmoe_launch_plan_routing_stage(p)) /* routed */
            r = out_of_place_scale(n, l, T, s, timed);
    }
    if (r)
        return r;
    return zeCommandListAppendMemoryCopy(l, n->y_host, s[S_Y], (size_t)T * c->model.hidden * asz,
                                         NULL, 0, NULL);
}

enum zmoe_status naive_call(struct naive *n, uint32_t layer, uint32_t T, bool timed,
                            struct zmoe_error *err)
{
    const struct zmoe_config *c = n->cfg;
    struct zmoe_runtime *rt = n->rt;
    const uint64_t H = c->model.hidden, I = c->model.intermediate, E = c->model.experts;
    const uint64_t K = c->model.top_k, TK = T * K;
    const uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate;
    const uint64_t asz = zmoe_dtype_size(c->dtype.activations);
    const uint64_t tiles = TK / ZMOE_KERNEL_RMAX + (E < TK ? E : TK) +
                           (T + ZMOE_KERNEL_RMAX - 1) / ZMOE_KERNEL_RMAX + 1;
    /* Sized for this call's T, as torch.empty would be. */
    const uint64_t size[S_COUNT] = {
        [ZMOE_ACT_LOGITS] = T * (E + 1) * 4, [ZMOE_ACT_TOPK_IDS] = TK * 4,
        [ZMOE_ACT_TOPK_W] = TK * 4, [ZMOE_ACT_GATE] = T * 4, [ZMOE_ACT_SORTED] = TK * 4,
        [ZMOE_ACT_INV] = TK * 4, [ZMOE_ACT_TILES] = tiles * 16,
        [ZMOE_ACT_GROUPS] = 3 * sizeof(ze_group_count_t), [ZMOE_ACT_A] = TK * I * 4,
        [ZMOE_ACT_A_SHARED] = T * S * 4, [ZMOE_ACT_O] = TK * H * 4,
        [ZMOE_ACT_O_SHARED] = T * H * 4, [ZMOE_ACT_DONE] = T * H * 4,
        [ZMOE_ACT_ROUTE_COUNTS] = route_counts_bytes(c), [S_Y] = T * H * asz,
        [S_XS] = n->on_input ? TK * H * asz : 0, [S_ONES] = n->on_input ? TK * 4 : 0,
    };
    void *s[S_COUNT] = {0};
    enum zmoe_status st = ZMOE_OK;
    ze_command_list_handle_t l = NULL;
    ze_result_t r = ZE_RESULT_SUCCESS;
    const char *what = "";
    ze_device_mem_alloc_desc_t dd = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
    for (int i = 0; i < S_COUNT && !r; i++)
        if (size[i] || i == ZMOE_ACT_A_SHARED || i == ZMOE_ACT_O_SHARED) /* an empty tensor still has a pointer */
            r = zeMemAllocDevice(rt->context, &dd, size[i] ? size[i] : 16, 64, rt->device, &s[i]);
    what = "allocating scratch";
    n->params->tokens = T;
    if (!r && timed) {
        for (int i = 0; i < 8 && !r; i++)
            r = zeEventHostReset(n->ev[i]);
        what = "resetting timing events";
    }
    if (!r) {
        ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
        r = zeCommandListCreate(rt->context, rt->device, &ld, &l);
        what = "creating the list";
    }
    if (!r) {
        r = record(n, l, layer, T, s, timed);
        what = "recording";
    }
    if (!r) {
        r = zeCommandListClose(l);
        what = "closing";
    }
    if (!r) {
        r = zeCommandQueueExecuteCommandLists(rt->queue, 1, &l, NULL);
        what = "executing";
    }
    if (!r) {
        const uint64_t w0 = bench_now_ns();
        if (n->cg_skip_wait)
            CALLGRIND_TOGGLE_COLLECT; /* a no-op outside valgrind */
        r = zeCommandQueueSynchronize(rt->queue, UINT64_MAX);
        if (n->cg_skip_wait)
            CALLGRIND_TOGGLE_COLLECT;
        n->wait_ns = bench_now_ns() - w0;
        what = "waiting";
    }
    if (r)
        st = zmoe_runtime_ze_error(err, r, "naive", "%s", what);
    if (l)
        zeCommandListDestroy(l);
    for (int i = 0; i < S_COUNT; i++)
        if (s[i])
            zeMemFree(rt->context, s[i]);
    if (st || !timed)
        return st;
    n->nstages = 0;
    for (int e = 0; e < NAIVE_STAGES; e++) {
        n->stage_ns[e] = 0;
        if (!n->on_input && (e == NAIVE_SCALE || e == NAIVE_ONES))
            continue;
        ze_kernel_timestamp_result_t ts;
        if (zeEventQueryKernelTimestamp(n->ev[e], &ts) == ZE_RESULT_SUCCESS)
            n->stage_ns[e] = ((ts.global.kernelEnd - ts.global.kernelStart) & rt->timestamp_mask) *
                             rt->timer_resolution_ns;
    }
    n->nstages = NAIVE_STAGES;
    return ZMOE_OK;
}

enum zmoe_status naive_copy(struct naive *n, void *dst, const void *src, uint32_t n4,
                            uint64_t *ns, struct zmoe_error *err)
{
    struct zmoe_runtime *rt = n->rt;
    ze_command_list_handle_t l = NULL;
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ZE_TRY(zeEventHostReset(n->ev[7]), "resetting the copy event");
    ZE_TRY(zeCommandListCreate(rt->context, rt->device, &ld, &l), "copy list");
    struct args a = {n->copy, 0, ZE_RESULT_SUCCESS};
    argp(&a, dst);
    argp(&a, src);
    argu(&a, n4);
    ze_group_count_t g = {div_up(n4, 64), 1, 1};
    ze_result_t r = a.r;
    if (!r)
        r = zeKernelSetGroupSize(n->copy, 64, 1, 1);
    if (!r)
        r = zeCommandListAppendLaunchKernel(l, n->copy, &g, n->ev[7], 0, NULL);
    if (!r)
        r = zeCommandListClose(l);
    if (!r)
        r = zeCommandQueueExecuteCommandLists(rt->queue, 1, &l, NULL);
    if (!r)
        r = zeCommandQueueSynchronize(rt->queue, UINT64_MAX);
    ze_kernel_timestamp_result_t ts;
    if (!r)
        r = zeEventQueryKernelTimestamp(n->ev[7], &ts);
    zeCommandListDestroy(l);
    if (r)
        return zmoe_runtime_ze_error(err, r, "naive_copy", "running the copy kernel");
    *ns = ((ts.global.kernelEnd - ts.global.kernelStart) & rt->timestamp_mask) *
          rt->timer_resolution_ns;
    return ZMOE_OK;
}

void naive_fini(struct naive *n)
{
    ze_context_handle_t ctx = n->rt ? n->rt->context : NULL;
    for (int i = 0; i < 8; i++)
        if (n->ev[i])
            zeEventDestroy(n->ev[i]);
    if (n->pool)
        zeEventPoolDestroy(n->pool);
    if (ctx) {
        if (n->x_dev)
            zeMemFree(ctx, n->x_dev);
        if (n->x_host)
            zeMemFree(ctx, n->x_host);
        if (n->y_host)
            zeMemFree(ctx, n->y_host);
        if (n->params)
            zeMemFree(ctx, n->params);
    }
    for (int k = 0; k < ZMOE_K_COUNT; k++)
        if (n->k[k])
            zeKernelDestroy(n->k[k]);
    if (n->scale)
        zeKernelDestroy(n->scale);
    if (n->ones)
        zeKernelDestroy(n->ones);
    if (n->copy)
        zeKernelDestroy(n->copy);
    if (n->extra)
        zeModuleDestroy(n->extra);
    if (n->moe)
        zeModuleDestroy(n->moe);
    memset(n, 0, sizeof *n);
}
