/* The launch plan (runtime/launch.c) against the kernels it names, on hostdev: every
 * launch's arguments match its kernel's argument count as Level Zero reflects it from
 * the SPIR-V, work-group shapes fill ZMOE_KERNEL_WG, indirect launches read group
 * counts only after the launch that writes them, waits form one chain, and the router
 * grid covers max_tokens. For every dtype pair and both device shapes (CPU spans, GPU
 * interleaved). The runtime_forward tests run the same plans against the reference. */
#include "rt_util.h"

#include <string.h>

static bool writes_groups(const struct zmoe_launch *l)
{
    for (uint32_t j = 0; j < l->nargs; j++)
        if (l->arg[j].kind == ZMOE_ARG_ACT && l->arg[j].value == ZMOE_ACT_GROUPS)
            return true;
    return false;
}

static void check_plan(const struct zmoe_config *c, const char *what)
{
    struct zmoe_runtime *rt = rt_create(c, what);
    if (!rt) {
        TAP_OK(false, "%s: runtime created", what);
        return;
    }
    const struct zmoe_launch_plan *p = &rt->launch;
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
        if (l->kernel != ZMOE_K_ALIGN && local[0] * local[1] != ZMOE_KERNEL_WG)
            shape_ok = false;
        if (l->wait != (int32_t)i - 1 || l->stage >= ZMOE_STAGE_COUNT)
            order_ok = false;
        if (l->indirect >= 0 && (!groups_written || l->indirect > 2))
            order_ok = false;
        groups_written |= writes_groups(l);
    }
    const struct zmoe_launch *router = &p->launch[0];
    const bool router_ok = router->kernel == ZMOE_K_ROUTER && router->indirect < 0 &&
                           router->groups[1] * ZMOE_KERNEL_ROUTER_TOKENS >= c->runtime.max_tokens &&
                           router->groups[0] * p->kernel[ZMOE_K_ROUTER].local[1] >= c->model.experts + 1;
    TAP_OK(p->count == 5 && args_ok, "%s: every launch's arguments match its kernel's (%s)", what,
           why[0] ? why : "reflected from the SPIR-V");
    TAP_OK(ids_ok, "%s: every pointer argument names a buffer that exists", what);
    TAP_OK(shape_ok && p->kernel[ZMOE_K_ALIGN].local[0] <= ZMOE_ALIGN_WG,
           "%s: GEMV groups are %u x %u = %u items, align %u", what,
           p->kernel[ZMOE_K_UP].local[0], p->kernel[ZMOE_K_UP].local[1], ZMOE_KERNEL_WG,
           p->kernel[ZMOE_K_ALIGN].local[0]);
    TAP_OK(order_ok, "%s: one chain of waits; indirect launches follow the one that writes act.groups",
           what);
    TAP_OK(router_ok, "%s: router grid %u x %u covers E+1 = %u rows and %u tokens", what,
           router->groups[0], router->groups[1], c->model.experts + 1, c->runtime.max_tokens);
    TAP_OK(p->launch[2].kernel == ZMOE_K_UP && p->launch[2].arg[ZMOE_UP_ARG_K].kind == ZMOE_ARG_U32 &&
               p->launch[2].arg[ZMOE_UP_ARG_K].value == c->model.top_k,
           "%s: expert_up's argument %u is top_k (the baseline's hook)", what, ZMOE_UP_ARG_K);
    zmoe_destroy(rt);
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
    TAP_OK(cpu.lanes == 8 && cpu.nout == 8 && cpu.lane_spans == 1, "CPU shape: 8 lanes x 8 rows, spans");
    TAP_OK(small.align_wg == ZMOE_KERNEL_WG, "a device with 64-item groups gets a %u-item align",
           small.align_wg);
    setenv("ZMOE_GEMV_LANES", "3", 1); /* not a power of two: ignored */
    struct zmoe_device_shape odd = zmoe_runtime_device_shape(ZE_DEVICE_TYPE_CPU, 1024);
    TAP_OK(odd.lanes == 8, "ZMOE_GEMV_LANES=3 is ignored (lanes %u)", odd.lanes);
    return tap_exit();
}
