/* Counting what zmoe does on the calling thread while inside a zmoe call:
 *  - mallocs, by interposing malloc/calloc/realloc/free in the test binary;
 *  - Level Zero calls, with the loader's tracing layer (ZE_ENABLE_TRACING_LAYER=1 in the
 *    test's environment) and one prologue callback per entry point zmoe uses.
 * Only events on this thread inside RT_IN(...) count (a thread-local flag): hostdev's
 * worker thread and the test's own allocations are not zmoe's. Include once per test. */
#ifndef ZMOE_TEST_RT_COUNT_H
#define ZMOE_TEST_RT_COUNT_H

#include <level_zero/layers/zel_tracing_api.h>
#include <level_zero/layers/zel_tracing_register_cb.h>

#include <stddef.h>
#include <stdint.h>

static _Thread_local int rt_in_zmoe;
static uint64_t rt_mallocs;

#define RT_IN(expr) (rt_in_zmoe = 1, rt_in_zmoe_result_ = (expr), rt_in_zmoe = 0, rt_in_zmoe_result_)
static _Thread_local enum zmoe_status rt_in_zmoe_result_;

/* glibc's real allocator under plain builds; ASan's under -fsanitize=address. */
#if defined(__SANITIZE_ADDRESS__)
#define RT_REAL(f) __interceptor_##f
#else
#define RT_REAL(f) __libc_##f
#endif
extern void *RT_REAL(malloc)(size_t);
extern void *RT_REAL(calloc)(size_t, size_t);
extern void *RT_REAL(realloc)(void *, size_t);
extern void RT_REAL(free)(void *);

void *malloc(size_t n)
{
    if (rt_in_zmoe)
        __atomic_add_fetch(&rt_mallocs, 1, __ATOMIC_RELAXED);
    return RT_REAL(malloc)(n);
}
void *calloc(size_t a, size_t b)
{
    if (rt_in_zmoe)
        __atomic_add_fetch(&rt_mallocs, 1, __ATOMIC_RELAXED);
    return RT_REAL(calloc)(a, b);
}
void *realloc(void *p, size_t n)
{
    if (rt_in_zmoe)
        __atomic_add_fetch(&rt_mallocs, 1, __ATOMIC_RELAXED);
    return RT_REAL(realloc)(p, n);
}
void free(void *p)
{
    if (rt_in_zmoe && p)
        __atomic_add_fetch(&rt_mallocs, 1, __ATOMIC_RELAXED);
    RT_REAL(free)(p);
}

/* Level Zero calls, by entry point. */
enum rt_ze {
    RT_ZE_FENCE_SYNC = 0,
    RT_ZE_FENCE_RESET,
    RT_ZE_FENCE_QUERY,
    RT_ZE_EXECUTE,
    RT_ZE_QUEUE_SYNC,
    RT_ZE_ALLOC_DEVICE,
    RT_ZE_ALLOC_HOST,
    RT_ZE_ALLOC_SHARED,
    RT_ZE_LIST_CREATE,
    RT_ZE_LIST_RESET,
    RT_ZE_LIST_CLOSE,
    RT_ZE_APPEND_LAUNCH,
    RT_ZE_APPEND_INDIRECT,
    RT_ZE_APPEND_COPY,
    RT_ZE_SET_ARG,
    RT_ZE_EVENT_CREATE,
    RT_ZE_FENCE_CREATE,
    RT_ZE_MODULE_CREATE,
    RT_ZE_KERNEL_CREATE,
    RT_ZE_TIMESTAMP,
    RT_ZE_COUNT
};
static uint64_t rt_ze[RT_ZE_COUNT];
static uint64_t rt_ze_all_threads_execute; /* every execute, zmoe's or not, any thread */

static uint64_t rt_ze_total(void)
{
    uint64_t s = 0;
    for (int i = 0; i < RT_ZE_COUNT; i++)
        s += __atomic_load_n(&rt_ze[i], __ATOMIC_RELAXED);
    return s;
}

#define RT_CB(fn, ptype, idx)                                                                      \
    static void ZE_APICALL rt_cb_##fn(ptype *p, ze_result_t r, void *u, void **inst)              \
    {                                                                                              \
        (void)p, (void)r, (void)u, (void)inst;                                                     \
        if (idx == RT_ZE_EXECUTE)                                                                  \
            __atomic_add_fetch(&rt_ze_all_threads_execute, 1, __ATOMIC_RELAXED);                  \
        if (rt_in_zmoe)                                                                            \
            __atomic_add_fetch(&rt_ze[idx], 1, __ATOMIC_RELAXED);                                 \
    }
RT_CB(FenceHostSynchronize, ze_fence_host_synchronize_params_t, RT_ZE_FENCE_SYNC)
RT_CB(FenceReset, ze_fence_reset_params_t, RT_ZE_FENCE_RESET)
RT_CB(FenceQueryStatus, ze_fence_query_status_params_t, RT_ZE_FENCE_QUERY)
RT_CB(CommandQueueExecuteCommandLists, ze_command_queue_execute_command_lists_params_t, RT_ZE_EXECUTE)
RT_CB(CommandQueueSynchronize, ze_command_queue_synchronize_params_t, RT_ZE_QUEUE_SYNC)
RT_CB(MemAllocDevice, ze_mem_alloc_device_params_t, RT_ZE_ALLOC_DEVICE)
RT_CB(MemAllocHost, ze_mem_alloc_host_params_t, RT_ZE_ALLOC_HOST)
RT_CB(MemAllocShared, ze_mem_alloc_shared_params_t, RT_ZE_ALLOC_SHARED)
RT_CB(CommandListCreate, ze_command_list_create_params_t, RT_ZE_LIST_CREATE)
RT_CB(CommandListReset, ze_command_list_reset_params_t, RT_ZE_LIST_RESET)
RT_CB(CommandListClose, ze_command_list_close_params_t, RT_ZE_LIST_CLOSE)
RT_CB(CommandListAppendLaunchKernel, ze_command_list_append_launch_kernel_params_t, RT_ZE_APPEND_LAUNCH)
RT_CB(CommandListAppendLaunchKernelIndirect, ze_command_list_append_launch_kernel_indirect_params_t,
      RT_ZE_APPEND_INDIRECT)
RT_CB(CommandListAppendMemoryCopy, ze_command_list_append_memory_copy_params_t, RT_ZE_APPEND_COPY)
RT_CB(KernelSetArgumentValue, ze_kernel_set_argument_value_params_t, RT_ZE_SET_ARG)
RT_CB(EventCreate, ze_event_create_params_t, RT_ZE_EVENT_CREATE)
RT_CB(FenceCreate, ze_fence_create_params_t, RT_ZE_FENCE_CREATE)
RT_CB(ModuleCreate, ze_module_create_params_t, RT_ZE_MODULE_CREATE)
RT_CB(KernelCreate, ze_kernel_create_params_t, RT_ZE_KERNEL_CREATE)
RT_CB(EventQueryKernelTimestamp, ze_event_query_kernel_timestamp_params_t, RT_ZE_TIMESTAMP)

/* The tracing layer hooks the loader at zeInit: call this after it (zmoe_create does). */
static bool rt_tracer_start(void)
{
    static zel_tracer_handle_t tracer;
    if (tracer)
        return true;
    zel_tracer_desc_t td = {.stype = ZEL_STRUCTURE_TYPE_TRACER_DESC};
    if (zelTracerCreate(&td, &tracer) != ZE_RESULT_SUCCESS)
        return false;
#define REG(fn) zelTracer##fn##RegisterCallback(tracer, ZEL_REGISTER_PROLOGUE, rt_cb_##fn)
    REG(FenceHostSynchronize);
    REG(FenceReset);
    REG(FenceQueryStatus);
    REG(CommandQueueExecuteCommandLists);
    REG(CommandQueueSynchronize);
    REG(MemAllocDevice);
    REG(MemAllocHost);
    REG(MemAllocShared);
    REG(CommandListCreate);
    REG(CommandListReset);
    REG(CommandListClose);
    REG(CommandListAppendLaunchKernel);
    REG(CommandListAppendLaunchKernelIndirect);
    REG(CommandListAppendMemoryCopy);
    REG(KernelSetArgumentValue);
    REG(EventCreate);
    REG(FenceCreate);
    REG(ModuleCreate);
    REG(KernelCreate);
    REG(EventQueryKernelTimestamp);
#undef REG
    return zelTracerSetEnabled(tracer, true) == ZE_RESULT_SUCCESS;
}

static void rt_counts_reset(void)
{
    for (int i = 0; i < RT_ZE_COUNT; i++)
        __atomic_store_n(&rt_ze[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&rt_mallocs, 0, __ATOMIC_RELAXED);
}

#endif
