/* The launch plans (runtime/launch.c: the layer call and the experts-only call with the
 * caller's routing) against the kernels they name, on hostdev: every
 * launch's arguments match its kernel's argument count as Level Zero reflects it from
 * the SPIR-V, work-group shapes fill ZMOE_KERNEL_WG, indirect launches read group
 * counts only after the launch that writes them, waits form one chain, and the router
 * grid covers max_tokens. For every dtype pair and both device shapes (CPU spans, GPU
 * interleaved). The runtime_forward tests run the same plans against the reference. */
#include "rt_util.h"
#include "weights/quant.h"

#include <string.h>

static bool writes_groups(const struct zmoe_launch *l)
{
    for (uint32_t j = 0; j < l->nargs; j++)
        if (l->arg[j].kind == ZMOE_ARG_ACT && l->arg[j].value == ZMOE_ACT_GROUPS)
            return true;
    return false;
}

/* The launch that writes the routing: align, or the router with align fused in. */
static const struct zmoe_launch *routing_launch(const struct zmoe_launch_plan *p)
{
    uint32_t i = 0;
    while (i + 1 < p->count && p->launch[i + 1].kernel != ZMOE_K_UP)
        i++;
    return &p->launch[i];
}

static bool names_act(const struct zmoe_launch *l, enum zmoe_act act)
{
    for (uint32_t j = 0; j < l->nargs; j++)
        if (l->arg[j].kind == ZMOE_ARG_ACT && l->arg[j].value == (uint32_t)act)
            return true;
    return false;
}

static bool names_io(const struct zmoe_launch *l, enum zmoe_io io)
{
    for (uint32_t j = 0; j < l->nargs; j++)
        if (l->arg[j].kind == ZMOE_ARG_IO && l->arg[j].value == (uint32_t)io)
            return true;
    return false;
}

/* What every plan must satisfy: arguments against the SPIR-V, names that exist, group
 * shapes, one wait chain, indirect launches after the writer of act.groups. */
static void check_launches(struct zmoe_runtime *rt, const struct zmoe_launch_plan *p,
                           uint32_t count, uint32_t experts, const char *what)
{
    bool args_ok = true, shape_ok = true, order_ok = true, ids_ok = true;
    bool groups_written = false;
    char why[256] = "";
    for (uint32_t i = 0; i < p->count; i++) {
        const struct zmoe_launch *l = &p->launch[i];
        ze_kernel_properties_t kp = {.stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES};
        if (zeKernelGetProperties(rt->kernel[l->kernel], &kp) != ZE_RESULT_SUCCESS ||
            kp.numKernelArgs != l->nargs) {
            args_ok = false;
            snprintf(why, sizeof why, "%s: plan has %u arguments, kernel %u",
                     p->kernel[l->kernel].name, l->nargs, kp.numKernelArgs);
        }
        for (uint32_t j = 0; j < l->nargs; j++) {
            const struct zmoe_launch_arg *a = &l->arg[j];
            if ((a->kind == ZMOE_ARG_ACT && a->value >= ZMOE_ACT_COUNT) ||
                (a->kind == ZMOE_ARG_WEIGHT && a->value >= ZMOE_TENSOR_COUNT) ||
                (a->kind == ZMOE_ARG_IO && a->value >= ZMOE_IO_COUNT) || a->kind > ZMOE_ARG_IO)
                ids_ok = false;
        }
        const uint32_t *local = p->kernel[l->kernel].local;
        if (l->kernel != ZMOE_K_ALIGN && l->kernel != ZMOE_K_ALIGN_ROUTED &&
            local[0] * local[1] != ZMOE_KERNEL_WG)
            shape_ok = false;
        if (l->wait != (int32_t)i - 1 || l->stage >= ZMOE_STAGE_COUNT)
            order_ok = false;
        if (l->indirect >= 0 && (!groups_written || l->indirect > 2))
            order_ok = false;
        groups_written |= writes_groups(l);
    }
    TAP_OK(p->count == count && args_ok, "%s: %u launches; every launch's arguments match its kernel's (%s)",
           what, p->count, why[0] ? why : "reflected from the SPIR-V");
    TAP_OK(ids_ok, "%s: every pointer argument names a buffer that exists", what);
    TAP_OK(shape_ok && p->kernel[ZMOE_K_ALIGN].local[0] <= ZMOE_ALIGN_WG &&
               p->kernel[ZMOE_K_ALIGN_ROUTED].local[0] == p->kernel[ZMOE_K_ALIGN].local[0],
           "%s: GEMV groups are %u x %u = %u items, align and align_routed %u", what,
           p->kernel[ZMOE_K_UP].local[0], p->kernel[ZMOE_K_UP].local[1], ZMOE_KERNEL_WG,
           p->kernel[ZMOE_K_ALIGN].local[0]);
    TAP_OK(order_ok, "%s: one chain of waits; indirect launches follow the one that writes act.groups",
           what);
    /* the expert launches after the align: expert_up's argument K is top_k */
    const struct zmoe_launch *up = &p->launch[count - experts];
    TAP_OK(up->kernel == ZMOE_K_UP && up->arg[ZMOE_UP_ARG_K].kind == ZMOE_ARG_U32 &&
               up->arg[ZMOE_UP_ARG_K].value == rt->cfg.model.top_k,
           "%s: expert_up's argument %u is top_k (the baseline's hook)", what, ZMOE_UP_ARG_K);
}

static void check_quant(const struct zmoe_config *c, const struct zmoe_launch_plan *p,
                        const char *what);

static void check_plan(const struct zmoe_config *c, const char *what)
{
    /* created, not loaded: the plan is fixed at create, and a load would run the
     * warm-up, compiling every variant here on a cold PoCL cache (minutes) */
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = c};
    struct zmoe_runtime *rt = NULL;
    if (zmoe_create(&info, &rt, &err) != ZMOE_OK) {
        TAP_OK(false, "%s: runtime created: %s", what, err.msg);
        return;
    }
    const struct zmoe_launch_plan *p = &rt->launch;
    /* expert_up, expert_down (+ combine unless it is fused into expert_down: float
     * experts on one device, the default shape) */
    const bool fused = c->quant.format == ZMOE_QUANT_NONE && p->shape.fuse_combine;
    const uint32_t experts = fused ? 2 : 3;
    /* router and align, or the router with align inside (top_k <= 64, the default) */
    const bool routed_in_router = p->shape.fuse_route && c->model.top_k <= ZMOE_KERNEL_ROUTE_SLOTS;
    const uint32_t routing = routed_in_router ? 1 : 2;
    check_launches(rt, p, routing + experts, experts, what);
    const struct zmoe_launch *al = routing_launch(p);
    char route_name[48];
    snprintf(route_name, sizeof route_name, "%s_w%s_a%s", routed_in_router ? "route" : "router",
             zmoe_dtype_name(c->dtype.weights), zmoe_dtype_name(c->dtype.activations));
    TAP_OK(al == &p->launch[routing - 1] && writes_groups(al) &&
               names_act(al, ZMOE_ACT_ROUTE_COUNTS) == routed_in_router &&
               strcmp(p->kernel[ZMOE_K_ROUTER].name, route_name) == 0 &&
               zmoe_launch_plan_routing_stage(p) ==
                   (routed_in_router ? ZMOE_STAGE_ROUTER : ZMOE_STAGE_ALIGN),
           "%s: align %s (%s writes the group counts and signals the %s stage)", what,
           routed_in_router ? "inside the router" : "its own launch", p->kernel[al->kernel].name,
           zmoe_stage_name((enum zmoe_stage)zmoe_launch_plan_routing_stage(p)));
    const struct zmoe_launch *down = &p->launch[routing + 1];
    const struct zmoe_launch_arg *last = &down->arg[down->nargs - 1];
    const bool float_down = c->quant.format == ZMOE_QUANT_NONE;
    const bool down_ok = down->kernel == ZMOE_K_DOWN && names_io(down, ZMOE_IO_Y) == float_down &&
                         (!float_down || (last->kind == ZMOE_ARG_U32 && last->value == fused));
    TAP_OK(down_ok && p->launch[p->count - 1].kernel == (fused ? ZMOE_K_DOWN : ZMOE_K_COMBINE),
           "%s: combine %s (the float expert_down writes y, its last argument says %s)", what,
           fused ? "fused into expert_down" : "its own launch", fused ? "fused" : "separate");
    const struct zmoe_launch *router = &p->launch[0];
    const bool router_ok = router->kernel == ZMOE_K_ROUTER && router->indirect < 0 &&
                           router->groups[1] * ZMOE_KERNEL_ROUTER_TOKENS >= c->runtime.max_tokens &&
                           router->groups[0] * p->kernel[ZMOE_K_ROUTER].local[1] >= c->model.experts + 1;
    TAP_OK(router_ok, "%s: router grid %u x %u covers E+1 = %u rows and %u tokens", what,
           router->groups[0], router->groups[1], c->model.experts + 1, c->runtime.max_tokens);

    /* the experts-only plan: the same tables, align_routed instead of router + align */
    const struct zmoe_launch_plan *x = &rt->launch_experts;
    char xwhat[160];
    snprintf(xwhat, sizeof xwhat, "experts plan, %s", what);
    check_launches(rt, x, 1 + experts, experts, xwhat);
    const struct zmoe_launch *ar = &x->launch[0];
    bool router_free = true;
    for (uint32_t i = 0; i < x->count; i++)
        for (uint32_t j = 0; j < x->launch[i].nargs; j++) {
            const struct zmoe_launch_arg *a = &x->launch[i].arg[j];
            router_free &= x->launch[i].kernel != ZMOE_K_ROUTER && x->launch[i].kernel != ZMOE_K_ALIGN &&
                           !(a->kind == ZMOE_ARG_ACT && a->value == ZMOE_ACT_LOGITS) &&
                           !(a->kind == ZMOE_ARG_WEIGHT && (a->value == ZMOE_TENSOR_ROUTER_W ||
                                                            a->value == ZMOE_TENSOR_SCORE_BIAS));
        }
    TAP_OK(ar->kernel == ZMOE_K_ALIGN_ROUTED && ar->indirect < 0 && ar->groups[0] == 1 &&
               ar->groups[1] == 1 && writes_groups(ar) && names_io(ar, ZMOE_IO_TOPK_IDS) &&
               names_io(ar, ZMOE_IO_TOPK_W) && names_io(ar, ZMOE_IO_ROUTING_STATUS) &&
               names_io(ar, ZMOE_IO_TOKENS) && router_free,
           "%s: align_routed first (one work-group), reading the caller's ids, weights and the "
           "status word; no router, no logits", xwhat);
    /* align's and align_routed's group counts: the same by-value widths at the end */
    bool same_widths = ar->nargs >= 3 && al->nargs >= 3;
    for (uint32_t j = 1; same_widths && j <= 3; j++)
        same_widths = ar->arg[ar->nargs - j].kind == ZMOE_ARG_U32 &&
                      ar->arg[ar->nargs - j].value == al->arg[al->nargs - j].value;
    bool same_experts = true;
    for (uint32_t i = 0; i < experts; i++) {
        struct zmoe_launch a = x->launch[1 + i], b = p->launch[routing + i];
        same_experts &= a.wait == (int32_t)i && b.wait == (int32_t)(routing + i - 1);
        a.wait = b.wait = 0; /* launch numbers differ with the routing launches */
        same_experts &= memcmp(&a, &b, sizeof a) == 0;
    }
    TAP_OK(same_widths && same_experts && memcmp(x->kernel, p->kernel, sizeof x->kernel) == 0,
           "%s: the same kernel table, grid widths and expert launches as the layer plan", xwhat);
    if (c->quant.format != ZMOE_QUANT_NONE)
        check_quant(c, p, what);
    zmoe_destroy(rt);
}

/* Quantized experts: the format's kernels, and their last by-value arguments are group,
 * row_block, qflags and the part offsets of zmoe_quant_matrix() in 64-byte units (routed
 * tensor, then shared; 0 for a float shared expert). */
static void check_quant(const struct zmoe_config *c, const struct zmoe_launch_plan *p,
                        const char *what)
{
    char up[48], down[48];
    snprintf(up, sizeof up, "expert_up_q%s_a%s", zmoe_quant_format_name(c->quant.format),
             zmoe_dtype_name(c->dtype.activations));
    snprintf(down, sizeof down, "expert_down_q%s", zmoe_quant_format_name(c->quant.format));
    TAP_OK(strcmp(p->kernel[ZMOE_K_UP].name, up) == 0 && strcmp(p->kernel[ZMOE_K_DOWN].name, down) == 0,
           "%s: quantized kernels %s, %s", what, p->kernel[ZMOE_K_UP].name, p->kernel[ZMOE_K_DOWN].name);
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        const struct zmoe_launch *l = &p->launch[p->count - 3 + k];
        const enum zmoe_tensor rt_ = k ? ZMOE_TENSOR_W2 : ZMOE_TENSOR_W13;
        const enum zmoe_tensor st_ = k ? ZMOE_TENSOR_SHARED_W2 : ZMOE_TENSOR_SHARED_W13;
        struct zmoe_qmatrix m, sm = {0};
        ok &= zmoe_quant_matrix(c, rt_, &m);
        const bool sq = zmoe_quant_matrix(c, st_, &sm);
        ok &= sq == c->quant.shared_experts;
        const uint64_t want[8] = {m.codes_offset, m.scales_offset, m.zeros_offset, m.perm_offset,
                                  sq ? sm.codes_offset : 0, sq ? sm.scales_offset : 0,
                                  sq ? sm.zeros_offset : 0, sq ? sm.perm_offset : 0};
        const uint32_t base = l->nargs - 11;
        ok &= l->arg[base].value == c->quant.group_size && l->arg[base + 1].value == m.row_block;
        const uint32_t qf = l->arg[base + 2].value;
        ok &= (qf & 3u) == (uint32_t)c->quant.scale_dtype &&
              !!(qf & ZMOE_QF_ZEROS) == c->quant.zero_points &&
              !!(qf & ZMOE_QF_PERM) == c->quant.act_order && !!(qf & ZMOE_QF_SHARED_Q) == sq &&
              ((qf >> ZMOE_QF_SHARED_DT_SHIFT) & 3u) == (uint32_t)c->dtype.weights;
        for (int i = 0; i < 8; i++)
            ok &= l->arg[base + 3 + i].kind == ZMOE_ARG_U32 && want[i] % ZMOE_QUANT_ALIGN == 0 &&
                  l->arg[base + 3 + i].value == want[i] / ZMOE_QUANT_ALIGN;
    }
    TAP_OK(ok, "%s: group, row block, qflags and part offsets from zmoe_quant_matrix()", what);
    /* both quantized kernels run the quantized shape; expert_up's grid (align's argument
     * gx_up, third from last) covers max(I, S) row pairs at one pair per work-item */
    const struct zmoe_launch *al = &p->launch[p->count - 4];
    const uint32_t n = c->model.intermediate > c->model.shared_intermediate ? c->model.intermediate
                                                                              : c->model.shared_intermediate;
    const uint32_t *lu = p->kernel[ZMOE_K_UP].local, *ld = p->kernel[ZMOE_K_DOWN].local;
    const uint32_t gx_up = al->arg[al->nargs - 3].value;
    TAP_OK(lu[0] == p->shape.qlanes && lu[1] == p->shape.qnout && ld[0] == p->shape.qlanes &&
               ld[1] == p->shape.qnout && gx_up * lu[1] >= n && (gx_up - 1) * lu[1] < n,
           "%s: expert_up and expert_down run %u x %u (the quantized shape), expert_up %u groups wide",
           what, lu[0], lu[1], gx_up);
}

int main(void)
{
    static const char *const shapes[] = {"1", "0"}; /* hostdev's spans; a GPU's split */
    for (int sh = 0; sh < 2; sh++) {
        setenv("ZMOE_GEMV_SPANS", shapes[sh], 1);
        if (sh == 1)
            setenv("ZMOE_GEMV_LANES", "32", 1);
        for (int wd = 0; wd < 3; wd++)
            for (int ad = 0; ad < 3; ad++) {
                struct zmoe_config c = rt_base_config();
                c.dtype.weights = (enum zmoe_dtype)wd;
                c.dtype.activations = (enum zmoe_dtype)ad;
                c.model.shared_experts = 1;
                c.model.shared_intermediate = 16;
                c.runtime.max_tokens = 13;
                char what[96];
                snprintf(what, sizeof what, "%s split, weights %s, activations %s",
                         sh ? "interleaved" : "spans", zmoe_dtype_name(c.dtype.weights),
                         zmoe_dtype_name(c.dtype.activations));
                check_plan(&c, what);
                if (wd == 0 && ad == 0) { /* the plan with align as its own launch */
                    setenv("ZMOE_FUSE_ROUTE", "0", 1);
                    snprintf(what, sizeof what, "%s split, ZMOE_FUSE_ROUTE=0",
                             sh ? "interleaved" : "spans");
                    check_plan(&c, what);
                    unsetenv("ZMOE_FUSE_ROUTE");
                }
            }
        /* top_k beyond the fused routing's slots: align keeps its own launch */
        struct zmoe_config wide = rt_base_config();
        wide.model.experts = 80;
        wide.model.top_k = ZMOE_KERNEL_ROUTE_SLOTS + 1;
        char wwhat[96];
        snprintf(wwhat, sizeof wwhat, "%s split, top_k %u", sh ? "interleaved" : "spans",
                 wide.model.top_k);
        check_plan(&wide, wwhat);
        /* quantized experts: every format, shared expert quantized and float */
        for (int f = ZMOE_QUANT_INT4; f <= ZMOE_QUANT_MXFP4; f++)
            for (int sq = 0; sq < 2; sq++) {
                struct zmoe_config c = rt_base_config();
                c.model.shared_experts = 1;
                c.model.shared_intermediate = 32;
                c.dtype.weights = ZMOE_DTYPE_BF16;
                c.quant.format = (enum zmoe_quant_format)f;
                c.quant.group_size = f == ZMOE_QUANT_FP8 ? 0 : 32;
                c.quant.scale_dtype = f == ZMOE_QUANT_MXFP4 ? ZMOE_SCALE_E8M0
                                      : f == ZMOE_QUANT_FP8 ? ZMOE_SCALE_F32 : ZMOE_SCALE_F16;
                c.quant.zero_points = f == ZMOE_QUANT_INT4;
                c.quant.act_order = f == ZMOE_QUANT_INT8 || f == ZMOE_QUANT_INT4;
                c.quant.shared_experts = sq;
                char what[96];
                snprintf(what, sizeof what, "%s split, %s experts, shared %s",
                         sh ? "interleaved" : "spans", zmoe_quant_format_name(c.quant.format),
                         sq ? "quantized" : "bf16");
                check_plan(&c, what);
            }
    }
    /* the shape table and its overrides */
    unsetenv("ZMOE_GEMV_LANES");
    unsetenv("ZMOE_GEMV_SPANS");
    struct zmoe_device_shape gpu = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_GPU, 1024);
    struct zmoe_device_shape cpu = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_CPU, 1024);
    struct zmoe_device_shape small = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_GPU, 64);
    TAP_OK(gpu.lanes == 32 && gpu.nout == 2 && gpu.lane_spans == 0 && gpu.align_wg == ZMOE_ALIGN_WG,
           "GPU shape: 32 lanes x 2 rows, interleaved, align %u", gpu.align_wg);
    TAP_OK(cpu.lanes == 1 && cpu.nout == ZMOE_KERNEL_WG && cpu.lane_spans == 1 && cpu.align_wg == 32,
           "CPU shape: 1 lane x %u rows, spans, align %u", cpu.nout, cpu.align_wg);
    TAP_OK(small.align_wg == ZMOE_KERNEL_WG, "a device with 64-item groups gets a %u-item align",
           small.align_wg);
    struct zmoe_device_shape mid = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_GPU, 200);
    TAP_OK(mid.align_wg == 128, "a device with 200-item groups gets a %u-item align (128)", mid.align_wg);
    /* float expert_down on short rows: 16 lanes on the GPU shape, 32 on long rows; never on
     * the CPU shape nor with lanes forced by ZMOE_GEMV_LANES */
    static const struct {
        uint32_t I;
        enum zmoe_dtype wdt;
        bool cpu, forced;
        uint32_t lanes;
    } rows[] = {
        {768, ZMOE_DTYPE_BF16, false, false, 16},  {1024, ZMOE_DTYPE_BF16, false, false, 32},
        {512, ZMOE_DTYPE_F32, false, false, 32},   {2880, ZMOE_DTYPE_BF16, false, false, 32},
        {768, ZMOE_DTYPE_BF16, true, false, 1},    {768, ZMOE_DTYPE_BF16, false, true, 32},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct zmoe_config c = rt_base_config();
        c.model.hidden = 2048;
        c.model.intermediate = rows[i].I;
        c.dtype.weights = rows[i].wdt;
        if (rows[i].forced)
            setenv("ZMOE_GEMV_LANES", "32", 1);
        const struct zmoe_device_shape sh =
            zmoe_runtime_device_shape(rows[i].cpu ? ZE_DEVICE_TYPE_CPU : ZE_DEVICE_TYPE_GPU, 1024);
        unsetenv("ZMOE_GEMV_LANES");
        static struct zmoe_launch_plan p;
        zmoe_runtime_launch_plan(&c, &sh, &p);
        const struct zmoe_launch *al = routing_launch(&p);
        const uint32_t *ld = p.kernel[ZMOE_K_DOWN].local, gx_down = al->arg[al->nargs - 2].value;
        TAP_OK(ld[0] == rows[i].lanes && ld[0] * ld[1] == ZMOE_KERNEL_WG && gx_down * ld[1] == 2048,
               "%s shape%s, I=%u %s: expert_down %u x %u, %u groups wide (want %u lanes)",
               rows[i].cpu ? "CPU" : "GPU", rows[i].forced ? " (ZMOE_GEMV_LANES=32)" : "", rows[i].I,
               zmoe_dtype_name(rows[i].wdt), ld[0], ld[1], gx_down, rows[i].lanes);
    }
    setenv("ZMOE_GEMV_LANES", "3", 1); /* not a power of two: ignored */
    struct zmoe_device_shape odd = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_CPU, 1024);
    TAP_OK(odd.lanes == 1, "ZMOE_GEMV_LANES=3 is ignored (lanes %u)", odd.lanes);
    return tap_exit();
}
