/* The ring on hostdev: a multi-layer decode loop with several slots in flight, the
 * zero-allocation / Level Zero call budget of the run path over 1,000 cycles, stats
 * from kernel timestamps, back-pressure timeouts, device loss and recovery, the native
 * kernel fallback, and zmoe_record into the caller's own list on the caller's device. */
#include "rt_util.h"

#include "rt_count.h"

#include <stdio.h>

static struct zmoe_config ring_config(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 3;
    c.model.experts = 8;
    c.model.top_k = 2;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 16;
    c.runtime.max_tokens = 4;
    c.runtime.ring_depth = 3;
    return c;
}

struct inflight {
    struct zmoe_slot slot;
    uint32_t layer, tokens;
    float *x;
};

static void test_decode_loop(void)
{
    struct zmoe_config c = ring_config();
    const uint32_t H = c.model.hidden, steps = 12;
    struct zmoe_ref_weights w[3];
    for (uint32_t l = 0; l < 3; l++)
        if (zmoe_ref_weights_synthetic(&c, l, &w[l]) != 0)
            tap_bail("out of memory");
    struct zmoe_runtime *rt = rt_create(&c, "decode loop");
    if (!rt)
        tap_bail("cannot create the decode-loop runtime");
    struct inflight q[3];
    uint32_t head = 0, count = 0, done = 0, max_inflight = 0;
    double worst = 0;
    bool ok = true;
    float *y = malloc((size_t)4 * H * sizeof *y), *ref = malloc((size_t)4 * H * sizeof *ref);
    struct zmoe_error err;
    for (uint32_t step = 0; step < steps || count; step++) {
        /* keep the ring full: retire the oldest only when every slot is in flight */
        if (count == c.runtime.ring_depth || step >= steps) {
            struct inflight *f = &q[head];
            enum zmoe_status st = zmoe_wait(rt, &f->slot, UINT64_MAX, &err);
            ok = ok && st == ZMOE_OK;
            zmoe_dtype_convert(y, ZMOE_DTYPE_F32, f->slot.output_host, c.dtype.activations,
                               (size_t)f->tokens * H);
            zmoe_ref_forward(&c, &w[f->layer], f->x, f->tokens, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
            double rel = rt_rel_error(y, ref, (size_t)f->tokens * H, NULL);
            if (rel > worst)
                worst = rel;
            free(f->x);
            head = (head + 1) % 3;
            count--;
            done++;
            if (step >= steps)
                continue;
        }
        struct inflight *f = &q[(head + count) % 3];
        f->layer = step % 3;
        f->tokens = 1 + step % 4;
        f->x = rt_inputs(&c, f->tokens, 100 + step);
        enum zmoe_status st = zmoe_slot_acquire(rt, &f->slot, &err);
        if (st == ZMOE_OK) {
            zmoe_dtype_convert(f->slot.input_host, c.dtype.activations, f->x, ZMOE_DTYPE_F32,
                               (size_t)f->tokens * H);
            st = zmoe_submit(rt, &f->slot, f->layer, f->tokens, &err);
        }
        if (st != ZMOE_OK) {
            tap_diag("step %u: %s: %s", step, zmoe_status_str(st), err.msg);
            ok = false;
            free(f->x);
            break;
        }
        count++;
        if (count > max_inflight)
            max_inflight = count;
    }
    TAP_OK(ok && done == steps && worst <= rt_tolerance(&c),
           "decode loop: %u steps over 3 layers through a ring of depth 3 match the reference "
           "(worst rel %.3g)", done, worst);
    TAP_EQ_INT(max_inflight, 3, "decode loop: 3 submitted slots in flight before the first wait");
    struct zmoe_stats s;
    enum zmoe_status sst = zmoe_get_stats(rt, &s);
    TAP_OK(sst == ZMOE_OK && s.submits == steps, "stats count %llu submits",
           (unsigned long long)s.submits);
    zmoe_destroy(rt);
    free(y);
    free(ref);
    for (uint32_t l = 0; l < 3; l++)
        zmoe_ref_weights_free(&w[l]);
}

/* The tracing layer itself allocates on every call it intercepts (std::vector in the
 * loader's layer), so mallocs are counted in a run without it (argument "mallocs",
 * ZE_ENABLE_TRACING_LAYER unset) and Level Zero calls in a run with it. */
static void test_zero_malloc(void)
{
    struct zmoe_config c = ring_config();
    c.runtime.ring_depth = 2;
    TAP_OK(!getenv("ZE_ENABLE_TRACING_LAYER"), "the tracing layer is not loaded in this run");
    struct zmoe_runtime *rt = rt_create(&c, "zero-malloc");
    if (!rt)
        tap_bail("cannot create the zero-malloc runtime");
    const uint32_t cycles = 1000;
    struct zmoe_error err;
    bool ok = true;
    rt_counts_reset();
    float *probe = malloc(16); /* outside zmoe: must not count */
    free(probe);
    for (uint32_t i = 0; i < cycles && ok; i++) {
        struct zmoe_slot slot;
        enum zmoe_status st = RT_IN(zmoe_slot_acquire(rt, &slot, &err));
        if (st == ZMOE_OK)
            memset(slot.input_host, 0, (size_t)c.model.hidden * sizeof(float));
        if (st == ZMOE_OK)
            st = RT_IN(zmoe_submit(rt, &slot, i % c.model.layers, 1 + i % 4, &err));
        if (st == ZMOE_OK)
            st = RT_IN(zmoe_wait(rt, &slot, UINT64_MAX, &err));
        if (st == ZMOE_OK && i % 100 == 0) {
            struct zmoe_stats s;
            st = RT_IN(zmoe_get_stats(rt, &s));
        }
        if (st != ZMOE_OK) {
            tap_diag("cycle %u: %s: %s", i, zmoe_status_str(st), err.msg);
            ok = false;
        }
    }
    TAP_OK(ok, "%u acquire/submit/wait cycles succeed", cycles);
    TAP_EQ_INT(rt_mallocs, 0, "no malloc/calloc/realloc/free inside zmoe calls over %u cycles", cycles);
    /* the counter works: zmoe_create itself mallocs its host block */
    rt_counts_reset();
    struct zmoe_runtime *rt2 = NULL;
    struct zmoe_create_info info = {.config = &c};
    enum zmoe_status cst = RT_IN(zmoe_create(&info, &rt2, &err));
    TAP_OK(cst == ZMOE_OK && rt_mallocs > 0,
           "the interposed counter sees zmoe_create's host block (%llu calls)",
           (unsigned long long)rt_mallocs);
    zmoe_destroy(rt2);
    zmoe_destroy(rt);
}

static void test_zero_alloc(void)
{
    struct zmoe_config c = ring_config();
    c.runtime.ring_depth = 2;
    struct zmoe_runtime *rt = rt_create(&c, "zero-alloc");
    if (!rt)
        tap_bail("cannot create the zero-alloc runtime");
    TAP_OK(rt_tracer_start(), "tracing layer enabled (ZE_ENABLE_TRACING_LAYER=1)");
    const uint32_t H = c.model.hidden, cycles = 1000;
    float *x = rt_inputs(&c, 4, 7);
    rt_counts_reset();
    uint64_t max_calls = 0, min_calls = UINT64_MAX, wait_calls = 0;
    struct zmoe_error err;
    bool ok = true;
    for (uint32_t i = 0; i < cycles && ok; i++) {
        struct zmoe_slot slot;
        uint64_t before = rt_ze_total();
        enum zmoe_status st = RT_IN(zmoe_slot_acquire(rt, &slot, &err));
        memcpy(slot.input_host, x, (size_t)(1 + i % 4) * H * sizeof(float));
        if (st == ZMOE_OK)
            st = RT_IN(zmoe_submit(rt, &slot, i % c.model.layers, 1 + i % 4, &err));
        uint64_t calls = rt_ze_total() - before;
        if (calls > max_calls)
            max_calls = calls;
        if (calls < min_calls)
            min_calls = calls;
        before = rt_ze_total();
        if (st == ZMOE_OK)
            st = RT_IN(zmoe_wait(rt, &slot, UINT64_MAX, &err));
        wait_calls += rt_ze_total() - before;
        if (st != ZMOE_OK) {
            tap_diag("cycle %u: %s: %s", i, zmoe_status_str(st), err.msg);
            ok = false;
        }
    }
    TAP_OK(ok, "%u acquire/submit/wait cycles succeed", cycles);
    TAP_EQ_INT(rt_ze[RT_ZE_EXECUTE], cycles, "the tracer sees one zeCommandQueueExecuteCommandLists per submit");
    TAP_OK(max_calls <= 3 && min_calls >= 1,
           "acquire+submit makes %llu..%llu Level Zero calls (<= 3)", (unsigned long long)min_calls,
           (unsigned long long)max_calls);
    TAP_OK(wait_calls <= cycles, "zmoe_wait makes at most one Level Zero call (%llu over %u waits)",
           (unsigned long long)wait_calls, cycles);
    uint64_t made = rt_ze[RT_ZE_ALLOC_DEVICE] + rt_ze[RT_ZE_ALLOC_HOST] + rt_ze[RT_ZE_ALLOC_SHARED] +
                    rt_ze[RT_ZE_LIST_CREATE] + rt_ze[RT_ZE_LIST_RESET] + rt_ze[RT_ZE_LIST_CLOSE] +
                    rt_ze[RT_ZE_APPEND_LAUNCH] + rt_ze[RT_ZE_APPEND_INDIRECT] +
                    rt_ze[RT_ZE_APPEND_COPY] + rt_ze[RT_ZE_SET_ARG] + rt_ze[RT_ZE_EVENT_CREATE] +
                    rt_ze[RT_ZE_FENCE_CREATE] + rt_ze[RT_ZE_MODULE_CREATE] + rt_ze[RT_ZE_KERNEL_CREATE];
    TAP_EQ_INT(made, 0, "no Level Zero allocation, object creation or recording on the run path");

    struct zmoe_stats s;
    rt_counts_reset();
    enum zmoe_status st = zmoe_get_stats(rt, &s);
    bool all_timed = true;
    for (int e = 0; e < ZMOE_STAGE_COUNT; e++) {
        tap_diag("stage %-12s %8llu ns (last completed submit, kernel timestamps)", zmoe_stage_name(e),
                 (unsigned long long)s.stage_device_ns[e]);
        /* the combine runs inside expert_down, align inside the router
         * (test_combine_fused and test_route_fused have both plans) */
        if ((e != ZMOE_STAGE_COMBINE || !s.combine_fused) && (e != ZMOE_STAGE_ALIGN || !s.align_fused))
            all_timed = all_timed && s.stage_device_ns[e] > 0;
    }
    TAP_OK(st == ZMOE_OK && all_timed, "stats: every stage has a device time (combine: %s, align: %s)",
           s.combine_fused ? "in expert_down" : "its own", s.align_fused ? "in the router" : "its own");
    TAP_OK(s.host_allocations_after_init == 0 && s.device_allocations_after_init == 0,
           "stats: no allocation after init (host block refusals %llu)",
           (unsigned long long)s.host_allocations_after_init);
    TAP_OK(s.submits == cycles && s.device_name[0] && strstr(s.device_reason, "host") && !s.kernels_native,
           "stats: %llu submits, device '%s' (%s), SPIR-V kernels", (unsigned long long)s.submits,
           s.device_name, s.device_reason);
    tap_diag("device arena %llu bytes, host %llu bytes", (unsigned long long)s.device_bytes,
             (unsigned long long)s.host_bytes);
    free(x);
    zmoe_destroy(rt);
}

static void test_timeout(void)
{
    /* Every execution takes 300 ms on hostdev; the configured wait bound is 10 ms. One
     * layer, three tensors: the uploads (own 60 s bound) take about a second. */
    struct zmoe_config c = rt_base_config();
    c.runtime.ring_depth = 1;
    c.runtime.wait_timeout_ms = 10;
    struct zmoe_runtime *rt = NULL;
    setenv("HOSTDEV_EXEC_LATENCY_US", "300000", 1);
    struct zmoe_error err;
    struct zmoe_create_info info = {.config = &c};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    unsetenv("HOSTDEV_EXEC_LATENCY_US");
    if (st)
        tap_bail("create with latency: %s", err.msg);
    st = zmoe_load_weights(rt, &err); /* slow uploads, bounded by the 60 s upload wait */
    struct zmoe_slot a, b;
    if (!st)
        st = zmoe_slot_acquire(rt, &a, &err);
    memset(a.input_host, 0, 4 * c.model.hidden * sizeof(float));
    if (!st)
        st = zmoe_submit(rt, &a, 0, 1, &err);
    TAP_OK(st == ZMOE_OK, "submit on a slow device");
    st = zmoe_slot_acquire(rt, &b, &err);
    TAP_OK(st == ZMOE_TIMEOUT && strstr(err.msg, "10 ms"), "acquire of the busy slot times out: %s", err.msg);
    st = zmoe_wait(rt, &a, UINT64_MAX, &err);
    TAP_OK(st == ZMOE_TIMEOUT, "zmoe_wait with the configured bound times out");
    TAP_OK(zmoe_poll(rt, &a, &err) == ZMOE_NOT_READY, "poll says not ready");
    st = zmoe_wait(rt, &a, 30ull * 1000 * 1000 * 1000, &err);
    TAP_OK(st == ZMOE_OK, "a longer wait completes");
    st = zmoe_slot_acquire(rt, &b, &err);
    TAP_OK(st == ZMOE_OK && b.index == a.index, "the ring was unchanged by the timeout: slot %u again",
           b.index);
    zmoe_destroy(rt);
}

static void test_device_lost(void)
{
    struct zmoe_config c = ring_config();
    rt_tracer_start();
    /* Count the executions create+load make, then lose the device two submits later. */
    uint64_t before = rt_ze_all_threads_execute;
    struct zmoe_runtime *rt = rt_create(&c, "lost (probe)");
    uint64_t uploads = rt_ze_all_threads_execute - before;
    zmoe_destroy(rt);
    char n[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)(uploads + 2));
    setenv("HOSTDEV_DEVICE_LOST_AFTER", n, 1);
    rt = rt_create(&c, "lost");
    unsetenv("HOSTDEV_DEVICE_LOST_AFTER");
    if (!rt)
        tap_bail("cannot create the device-lost runtime");
    struct zmoe_error err;
    enum zmoe_status st = ZMOE_OK;
    int i;
    for (i = 0; i < 6 && st == ZMOE_OK; i++) {
        struct zmoe_slot s;
        st = zmoe_slot_acquire(rt, &s, &err);
        memset(s.input_host, 0, 4 * c.model.hidden * sizeof(float));
        if (!st)
            st = zmoe_submit(rt, &s, 0, 1, &err);
        if (!st)
            st = zmoe_wait(rt, &s, UINT64_MAX, &err);
    }
    TAP_OK(st == ZMOE_ERR_DEVICE_LOST && i == 3, "device loss after 2 good submits is reported: %s (%s)",
           zmoe_status_str(st), err.msg);
    struct zmoe_slot s;
    TAP_EQ_INT(zmoe_slot_acquire(rt, &s, &err), ZMOE_ERR_DEVICE_LOST, "the runtime stays lost");
    zmoe_destroy(rt);
    /* a new runtime works afterwards */
    rt = rt_create(&c, "after loss");
    float *x = rt_inputs(&c, 2, 5), y[2 * 64], ref[2 * 64];
    struct zmoe_ref_weights w;
    zmoe_ref_weights_synthetic(&c, 1, &w);
    st = rt ? rt_forward(rt, &c, 1, x, 2, y) : ZMOE_ERR_STATE;
    zmoe_ref_forward(&c, &w, x, 2, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 2 * 64, NULL) <= rt_tolerance(&c),
           "after destroy, a new runtime computes correctly");
    zmoe_ref_weights_free(&w);
    free(x);
    zmoe_destroy(rt);
}

static void test_native_fallback(void)
{
    struct zmoe_config c = rt_base_config();
    setenv("ZMOE_TRY_NATIVE", "1", 1);
    struct zmoe_runtime *rt = rt_create(&c, "native fallback");
    unsetenv("ZMOE_TRY_NATIVE");
    struct zmoe_stats s = {0};
    if (rt)
        zmoe_get_stats(rt, &s);
    TAP_OK(rt && !s.kernels_native && strstr(s.device_reason, "native kernels refused"),
           "hostdev refuses the AOT binary; the runtime falls back to SPIR-V (%s)", s.device_reason);
    zmoe_destroy(rt);
}

static void test_build_failure(void)
{
    struct zmoe_config c = rt_base_config();
    setenv("HOSTDEV_FAIL", "zeModuleCreate:1:ZE_RESULT_ERROR_MODULE_BUILD_FAILURE", 1);
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err;
    struct zmoe_create_info info = {.config = &c};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    unsetenv("HOSTDEV_FAIL");
    TAP_OK(st == ZMOE_ERR_KERNEL && rt == NULL && strstr(err.msg, "zeModuleCreate failed") &&
               strstr(err.msg, "build log"),
           "a failed module build: ZMOE_ERR_KERNEL with the build log (%s)", err.msg);
    setenv("HOSTDEV_FAIL", "zeCommandListCreate:3:ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY", 1);
    st = zmoe_create(&info, &rt, &err);
    unsetenv("HOSTDEV_FAIL");
    TAP_OK(st == ZMOE_ERR_LEVEL_ZERO && rt == NULL && strstr(err.msg, "zeCommandListCreate failed with "
                                                                      "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY"),
           "a failing Level Zero call at init names the call, the result and the step (%s)", err.msg);
    rt = rt_create(&c, "after failures");
    TAP_OK(rt != NULL, "a runtime created after the failures works");
    zmoe_destroy(rt);
}

static void *ze_host(ze_context_handle_t ctx, size_t n)
{
    ze_host_mem_alloc_desc_t d = {.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC};
    void *p = NULL;
    if (zeMemAllocHost(ctx, &d, n, 64, &p) != ZE_RESULT_SUCCESS)
        tap_bail("zeMemAllocHost(%zu) failed", n);
    return p;
}

static void test_record(void)
{
    /* The caller's own context, device and queue (engine integration). */
    if (zeInit(0) != ZE_RESULT_SUCCESS)
        tap_bail("zeInit failed");
    uint32_t n = 1;
    ze_driver_handle_t drv;
    ze_device_handle_t dev;
    if (zeDriverGet(&n, &drv) || (n = 1, zeDeviceGet(drv, &n, &dev)))
        tap_bail("no device");
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    ze_context_handle_t ctx;
    ze_command_queue_desc_t qd = {.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                  .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS};
    ze_command_queue_handle_t queue;
    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ze_command_list_handle_t list;
    if (zeContextCreate(drv, &cd, &ctx) || zeCommandQueueCreate(ctx, dev, &qd, &queue) ||
        zeCommandListCreate(ctx, dev, &ld, &list))
        tap_bail("cannot create the caller's context/queue/list");

    struct zmoe_config c = ring_config();
    c.runtime.max_tokens = 6;
    const uint32_t T = 5, H = c.model.hidden;
    struct zmoe_create_info info = {.config = &c, .context = ctx, .device = dev, .queue = queue};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err;
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    TAP_OK(st == ZMOE_OK, "create on the caller's context/device/queue: %s", st ? err.msg : "ok");
    if (st)
        return;
    float *xd = ze_host(ctx, (size_t)T * H * 4), *yd = ze_host(ctx, (size_t)T * H * 4);
    uint32_t *tok = ze_host(ctx, 4);
    float *x = rt_inputs(&c, T, 77), ref[5 * 64];
    memcpy(xd, x, (size_t)T * H * 4);
    *tok = T;
    st = zmoe_record(rt, list, 2, xd, yd, tok, &err);
    TAP_OK(st == ZMOE_OK, "zmoe_record into the caller's list: %s", st ? err.msg : "ok");
    ze_result_t r = zeCommandListClose(list);
    if (!r)
        r = zeCommandQueueExecuteCommandLists(queue, 1, &list, NULL);
    if (!r)
        r = zeCommandQueueSynchronize(queue, UINT64_MAX);
    struct zmoe_ref_weights w;
    zmoe_ref_weights_synthetic(&c, 2, &w);
    zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    zmoe_ref_weights_free(&w);
    TAP_OK(r == ZE_RESULT_SUCCESS && rt_rel_error(yd, ref, (size_t)T * H, NULL) <= rt_tolerance(&c),
           "the recorded layer reads the token count from device memory and matches the reference (rel %.3g)",
           rt_rel_error(yd, ref, (size_t)T * H, NULL));
    /* after the first submit, recording is refused */
    struct zmoe_slot s;
    st = zmoe_slot_acquire(rt, &s, &err);
    if (!st)
        st = zmoe_submit(rt, &s, 0, 1, &err);
    if (!st)
        st = zmoe_wait(rt, &s, UINT64_MAX, &err);
    st = st ? st : zmoe_record(rt, list, 0, xd, yd, tok, &err);
    TAP_OK(st == ZMOE_ERR_STATE && err.msg[0], "zmoe_record after the first submit: ZMOE_ERR_STATE (%s)", err.msg);
    zmoe_destroy(rt);
    free(x);
    zeMemFree(ctx, xd);
    zeMemFree(ctx, yd);
    zeMemFree(ctx, tok);
    zeCommandListDestroy(list);
    zeCommandQueueDestroy(queue);
    zeContextDestroy(ctx);
}

/* [runtime] slot_io: copy records the input and output copies in every ring list, direct
 * records neither (the kernels use the slot's host-visible buffers: input_device ==
 * input_host), auto is direct on hostdev (a CPU device); each gives the reference's y. */
static void test_slot_io(void)
{
    static const struct {
        enum zmoe_slot_io io;
        const char *name;
        bool direct;
    } modes[] = {{ZMOE_SLOT_IO_COPY, "copy", false},
                 {ZMOE_SLOT_IO_DIRECT, "direct", true},
                 {ZMOE_SLOT_IO_AUTO, "auto (hostdev: a CPU)", true}};
    TAP_OK(rt_tracer_start(), "tracing layer enabled (ZE_ENABLE_TRACING_LAYER=1)");
    uint64_t copies[3] = {0};
    for (int m = 0; m < 3; m++) {
        struct zmoe_config c = ring_config();
        c.runtime.slot_io = modes[m].io;
        const uint32_t H = c.model.hidden, T = 3;
        struct zmoe_create_info info = {.config = &c};
        struct zmoe_runtime *rt = NULL;
        struct zmoe_error err = {{0}};
        rt_counts_reset();
        enum zmoe_status st = RT_IN(zmoe_create(&info, &rt, &err));
        copies[m] = rt_ze[RT_ZE_APPEND_COPY]; /* the ring's lists are recorded at create */
        if (!st)
            st = zmoe_load_weights(rt, &err);
        if (!TAP_OK(st == ZMOE_OK, "slot_io %s: runtime: %s", modes[m].name, st ? err.msg : "ok")) {
            zmoe_destroy(rt);
            continue;
        }
        struct zmoe_stats s;
        struct zmoe_slot slot;
        zmoe_get_stats(rt, &s);
        st = zmoe_slot_acquire(rt, &slot, &err);
        const bool same = slot.input_host == slot.input_device && slot.output_host == slot.output_device;
        TAP_OK(st == ZMOE_OK && s.slot_io_direct == modes[m].direct && same == modes[m].direct,
               "slot_io %s: stats say %s, the slot's device buffers %s its host buffers", modes[m].name,
               s.slot_io_direct ? "direct" : "copy", same ? "are" : "are not");
        if (!st) {
            zmoe_submit(rt, &slot, 0, 1, &err); /* give the slot back */
            zmoe_wait(rt, &slot, UINT64_MAX, &err);
        }
        struct zmoe_ref_weights w;
        float *x = rt_inputs(&c, T, 40 + m), y[3 * 64], ref[3 * 64];
        if (zmoe_ref_weights_synthetic(&c, 2, &w) != 0)
            tap_bail("out of memory");
        st = rt_forward(rt, &c, 2, x, T, y);
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
        const double rel = rt_rel_error(y, ref, (size_t)T * H, NULL);
        TAP_OK(st == ZMOE_OK && rel <= rt_tolerance(&c), "slot_io %s: layer 2, T=%u matches the reference (rel %.3g)",
               modes[m].name, T, rel);
        zmoe_ref_weights_free(&w);
        free(x);
        zmoe_destroy(rt);
    }
    /* per (slot, layer) list: the input and the output copy, and the routing readback's two */
    const struct zmoe_config c = ring_config();
    const uint64_t lists = (uint64_t)c.runtime.ring_depth * c.model.layers;
    TAP_OK(copies[0] == copies[1] + 2 * lists && copies[1] == 2 * lists && copies[2] == copies[1],
           "recorded copies: copy %llu, direct %llu (the two readbacks per list), auto %llu; %llu lists",
           (unsigned long long)copies[0], (unsigned long long)copies[1], (unsigned long long)copies[2],
           (unsigned long long)lists);
}

/* The ring config for the fused-plan tests; on_input: Llama 4's routing instead (top-1
 * sigmoid, router weight on the input). */
static struct zmoe_config fusion_case_config(int on_input)
{
    struct zmoe_config c = ring_config();
    c.router.apply_router_weight_on_input = on_input;
    if (on_input) {
        c.model.top_k = 1; /* Llama 4 */
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.renormalize = false;
    }
    return c;
}

/* The combine fused into expert_down (the default on every device kind) against the plan
 * with the combine kernel (ZMOE_FUSE_COMBINE=0): one indirect launch fewer per list,
 * stats say which, the combine stage reads 0 when fused, and y is the same bits (both
 * sum each token's rows in k order), also with the router weight on the input. */
static void test_combine_fused(void)
{
    enum { T = 4, H = 64 };
    float y[2][2][T * H];
    uint64_t indirect[2] = {0};
    for (int on_input = 0; on_input < 2; on_input++) {
        struct zmoe_config c = fusion_case_config(on_input);
        struct zmoe_ref_weights w;
        if (zmoe_ref_weights_synthetic(&c, 1, &w) != 0)
            tap_bail("out of memory");
        float *x = rt_inputs(&c, T, 60 + on_input), ref[T * H];
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
        for (int fuse = 1; fuse >= 0; fuse--) {
            setenv("ZMOE_FUSE_COMBINE", fuse ? "1" : "0", 1);
            struct zmoe_create_info info = {.config = &c};
            struct zmoe_runtime *rt = NULL;
            struct zmoe_error err = {{0}};
            rt_counts_reset();
            enum zmoe_status st = RT_IN(zmoe_create(&info, &rt, &err));
            indirect[fuse] = rt_ze[RT_ZE_APPEND_INDIRECT];
            if (!st)
                st = zmoe_load_weights(rt, &err);
            struct zmoe_stats s = {0};
            if (!st)
                st = rt_forward(rt, &c, 1, x, T, y[on_input][fuse]);
            zmoe_get_stats(rt, &s);
            const double rel = rt_rel_error(y[on_input][fuse], ref, (size_t)T * H, NULL);
            TAP_OK(st == ZMOE_OK && s.combine_fused == (fuse == 1) && rel <= rt_tolerance(&c),
                   "combine %s%s: stats say %s, y matches the reference (rel %.3g) %s",
                   fuse ? "fused" : "separate", on_input ? ", weight on input" : "",
                   s.combine_fused ? "fused" : "separate", rel, st ? err.msg : "");
            TAP_OK(s.stage_device_ns[ZMOE_STAGE_EXPERT_DOWN] > 0 &&
                       (s.stage_device_ns[ZMOE_STAGE_COMBINE] == 0) == (fuse == 1),
                   "combine %s: stage times combine %llu ns, expert_down %llu ns",
                   fuse ? "fused" : "separate",
                   (unsigned long long)s.stage_device_ns[ZMOE_STAGE_COMBINE],
                   (unsigned long long)s.stage_device_ns[ZMOE_STAGE_EXPERT_DOWN]);
            zmoe_destroy(rt);
        }
        TAP_OK(!memcmp(y[on_input][0], y[on_input][1], sizeof y[on_input][0]),
               "combine fused and separate give the same bits%s", on_input ? " (weight on input)" : "");
        zmoe_ref_weights_free(&w);
        free(x);
    }
    unsetenv("ZMOE_FUSE_COMBINE");
    const struct zmoe_config c = ring_config();
    const uint64_t lists = (uint64_t)c.runtime.ring_depth * c.model.layers;
    TAP_OK(indirect[1] == 2 * lists && indirect[0] == 3 * lists,
           "indirect launches recorded for %llu ring lists: %llu fused, %llu separate",
           (unsigned long long)lists, (unsigned long long)indirect[1],
           (unsigned long long)indirect[0]);
}

/* align inside the router (route_w<W>_a<A>, the default where top_k <= 64) against the
 * plan with align as its own launch (ZMOE_FUSE_ROUTE=0): one launch fewer per list,
 * stats say which, the align stage reads 0 when fused, and y and the routing readback are
 * the same bits (rows inside an expert may be placed in another order, which y does not
 * depend on). Calls of 4, 1, 3, 1 and 4 tokens, on input and at combine, so every call
 * starts from the counters the previous one left (zero) whatever its T. */
static void test_route_fused(void)
{
    enum { H = 64, CALLS = 5, TMAX = 4 };
    static const uint32_t tokens[CALLS] = {4, 1, 3, 1, 4};
    static float y[2][2][CALLS][TMAX * H];
    static uint32_t ids[2][2][CALLS][TMAX * 2];
    uint64_t launches[2] = {0};
    bool ok_ref = true;
    for (int on_input = 0; on_input < 2; on_input++) {
        struct zmoe_config c = fusion_case_config(on_input);
        struct zmoe_ref_weights w;
        if (zmoe_ref_weights_synthetic(&c, 1, &w) != 0)
            tap_bail("out of memory");
        for (int fuse = 1; fuse >= 0; fuse--) {
            setenv("ZMOE_FUSE_ROUTE", fuse ? "1" : "0", 1);
            struct zmoe_create_info info = {.config = &c};
            struct zmoe_runtime *rt = NULL;
            struct zmoe_error err = {{0}};
            rt_counts_reset();
            enum zmoe_status st = RT_IN(zmoe_create(&info, &rt, &err));
            launches[fuse] = rt_ze[RT_ZE_APPEND_LAUNCH] + rt_ze[RT_ZE_APPEND_INDIRECT];
            if (!st)
                st = zmoe_load_weights(rt, &err);
            double worst = 0;
            for (int i = 0; i < CALLS && !st; i++) {
                float *x = rt_inputs(&c, tokens[i], 70 + i), ref[TMAX * H];
                st = rt_forward_routed(rt, &c, 1, x, tokens[i], y[on_input][fuse][i],
                                       ids[on_input][fuse][i], NULL);
                zmoe_ref_forward(&c, &w, x, tokens[i], ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
                const double rel = rt_rel_error(y[on_input][fuse][i], ref, (size_t)tokens[i] * H, NULL);
                worst = rel > worst ? rel : worst;
                free(x);
            }
            ok_ref &= worst <= rt_tolerance(&c);
            struct zmoe_stats s = {0};
            zmoe_get_stats(rt, &s);
            TAP_OK(st == ZMOE_OK && s.align_fused == (fuse == 1) && worst <= rt_tolerance(&c),
                   "align %s%s: stats say %s; calls of 4, 1, 3, 1, 4 tokens match the reference "
                   "(worst rel %.3g) %s", fuse ? "in the router" : "separate",
                   on_input ? ", weight on input" : "", s.align_fused ? "fused" : "separate", worst,
                   st ? err.msg : "");
            TAP_OK(s.stage_device_ns[ZMOE_STAGE_ROUTER] > 0 &&
                       (s.stage_device_ns[ZMOE_STAGE_ALIGN] == 0) == (fuse == 1),
                   "align %s: stage times router %llu ns, align %llu ns", fuse ? "fused" : "separate",
                   (unsigned long long)s.stage_device_ns[ZMOE_STAGE_ROUTER],
                   (unsigned long long)s.stage_device_ns[ZMOE_STAGE_ALIGN]);
            zmoe_destroy(rt);
        }
        TAP_OK(!memcmp(y[on_input][0], y[on_input][1], sizeof y[on_input][0]) &&
                   !memcmp(ids[on_input][0], ids[on_input][1], sizeof ids[on_input][0]),
               "align fused and separate give the same y and top-k ids, bit for bit%s",
               on_input ? " (weight on input)" : "");
        zmoe_ref_weights_free(&w);
    }
    unsetenv("ZMOE_FUSE_ROUTE");
    const struct zmoe_config c = ring_config();
    const uint64_t lists = (uint64_t)c.runtime.ring_depth * c.model.layers;
    TAP_OK(ok_ref && launches[0] == launches[1] + lists,
           "launches recorded: %llu with align in the router, %llu separate (%llu ring lists)",
           (unsigned long long)launches[1], (unsigned long long)launches[0], (unsigned long long)lists);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "mallocs") == 0) {
        test_zero_malloc();
        return tap_exit();
    }
    test_decode_loop();
    test_zero_alloc();
    test_timeout();
    test_device_lost();
    test_native_fallback();
    test_build_failure();
    test_record();
    test_slot_io();
    test_combine_fused();
    test_route_fused();
    return tap_exit();
}
