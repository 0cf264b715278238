/* Object lifetimes (issue 15, item 1): every order of destroying a context and the
 * objects made from it succeeds, with no crash, leak or use after free (this test
 * also runs under ASan+UBSan). The Level Zero specification makes children of a
 * context invalid to *use* after it is destroyed, but programs routinely destroy
 * them afterwards (Intel's driver tolerates it), so hostdev must too.
 *
 *  - all 7! = 5040 orders of {context, event pool, event, command list, queue,
 *    fence, device memory}, after a list that fills the memory and signals the event
 *    ran with the fence;
 *  - all 5! = 120 orders of {context, module, kernel, queue, list} after a launch
 *    of the kernel ran, plus the build log destroyed last;
 *  - an immediate list, a fence and an event used after their parents are gone
 *    still answer (queries, destroy) and nothing hangs;
 *  - handles destroyed this way are refused afterwards (INVALID_NULL_HANDLE). */
#include "hd_test.h"

enum { O_CTX, O_POOL, O_EVENT, O_LIST, O_QUEUE, O_FENCE, O_MEM, NOBJ };
static const char *const names[NOBJ] = { "context", "pool", "event", "list", "queue", "fence", "memory" };

struct objs {
    ze_context_handle_t ctx;
    ze_event_pool_handle_t pool;
    ze_event_handle_t ev;
    ze_command_list_handle_t list;
    ze_command_queue_handle_t q;
    ze_fence_handle_t fence;
    void *mem;
};

static ze_driver_handle_t drv;
static ze_device_handle_t dev;

static ze_result_t destroy_one(struct objs *o, int which)
{
    switch (which) {
    case O_CTX: return zeContextDestroy(o->ctx);
    case O_POOL: return zeEventPoolDestroy(o->pool);
    case O_EVENT: return zeEventDestroy(o->ev);
    case O_LIST: return zeCommandListDestroy(o->list);
    case O_QUEUE: return zeCommandQueueDestroy(o->q);
    case O_FENCE: return zeFenceDestroy(o->fence);
    default: return zeMemFree(o->ctx, o->mem);
    }
}

/* Creates every object, runs a list (fill + signal) with the fence, checks it. */
static int make_and_use(struct objs *o)
{
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 2,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE };
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 1 };
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    uint32_t pattern = 0xC0FFEE11u;
    if (zeContextCreate(drv, &cd, &o->ctx) || zeEventPoolCreate(o->ctx, &pd, 1, &dev, &o->pool) ||
        zeEventCreate(o->pool, &ed, &o->ev) || zeCommandQueueCreate(o->ctx, dev, &qd, &o->q) ||
        zeCommandListCreate(o->ctx, dev, &ld, &o->list) || zeFenceCreate(o->q, &fd, &o->fence) ||
        zeMemAllocDevice(o->ctx, &dd, 256, 64, dev, &o->mem))
        return 0;
    if (zeCommandListAppendMemoryFill(o->list, o->mem, &pattern, 4, 256, o->ev, 0, NULL) ||
        zeCommandListClose(o->list) || zeCommandQueueExecuteCommandLists(o->q, 1, &o->list, o->fence) ||
        zeFenceHostSynchronize(o->fence, UINT64_MAX) || zeEventQueryStatus(o->ev) != ZE_RESULT_SUCCESS)
        return 0;
    uint32_t got;
    memcpy(&got, (uint8_t *)o->mem + 252, 4);
    return got == pattern;
}

static int next_perm(int *a, int n)
{
    int i = n - 2;
    while (i >= 0 && a[i] >= a[i + 1])
        i--;
    if (i < 0)
        return 0;
    int j = n - 1;
    while (a[j] <= a[i])
        j--;
    int t = a[i]; a[i] = a[j]; a[j] = t;
    for (int l = i + 1, r = n - 1; l < r; l++, r--) {
        t = a[l]; a[l] = a[r]; a[r] = t;
    }
    return 1;
}

static void all_orders(void)
{
    int perm[NOBJ], runs = 0, bad_use = 0, bad_destroy = 0;
    for (int i = 0; i < NOBJ; i++)
        perm[i] = i;
    char first_bad[256] = "";
    do {
        struct objs o;
        memset(&o, 0, sizeof o);
        if (!make_and_use(&o))
            bad_use++;
        for (int i = 0; i < NOBJ; i++) {
            ze_result_t r = destroy_one(&o, perm[i]);
            if (r != ZE_RESULT_SUCCESS) {
                if (!bad_destroy++) {
                    int n = 0;
                    for (int j = 0; j <= i; j++)
                        n += snprintf(first_bad + n, sizeof first_bad - (size_t)n, "%s%s", j ? "," : "",
                                      names[perm[j]]);
                    snprintf(first_bad + n, sizeof first_bad - (size_t)n, " -> 0x%x", (unsigned)r);
                }
            }
        }
        runs++;
    } while (next_perm(perm, NOBJ));
    TAP_EQ_INT(runs, 5040, "every order of 7 objects tried");
    TAP_EQ_INT(bad_use, 0, "each run's list filled the memory, signalled the event and the fence");
    TAP_EQ_INT(bad_destroy, 0, "every destroy in every order returned SUCCESS");
    if (bad_destroy)
        tap_diag("first failing order: %s", first_bad);
}

enum { M_CTX, M_MOD, M_KERNEL, M_QUEUE, M_LIST, NMOD };

static void module_orders(void)
{
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPV, &len);
    int perm[NMOD], runs = 0, bad_use = 0, bad_destroy = 0, bad_log = 0;
    for (int i = 0; i < NMOD; i++)
        perm[i] = i;
    do {
        ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
        ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
        ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                                .inputSize = len, .pInputModule = spv };
        ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "inc" };
        ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
        ze_context_handle_t ctx = NULL;
        ze_module_handle_t mod = NULL;
        ze_module_build_log_handle_t log = NULL;
        ze_kernel_handle_t k = NULL;
        ze_command_queue_handle_t q = NULL;
        ze_command_list_handle_t l = NULL;
        uint32_t *p = NULL;
        ze_group_count_t gc = { 4, 1, 1 };
        int ok = !zeContextCreate(drv, &cd, &ctx) && !zeModuleCreate(ctx, dev, &md, &mod, &log) &&
                 !zeKernelCreate(mod, &kd, &k) && !zeCommandQueueCreate(ctx, dev, &qd, &q) &&
                 !zeCommandListCreate(ctx, dev, &ld, &l) && !zeMemAllocHost(ctx, &hd, 64, 0, (void **)&p);
        if (ok) {
            memset(p, 0, 64);
            ok = !zeKernelSetGroupSize(k, 1, 1, 1) && !zeKernelSetArgumentValue(k, 0, sizeof p, &p) &&
                 !zeCommandListAppendLaunchKernel(l, k, &gc, NULL, 0, NULL) && !zeCommandListClose(l) &&
                 !zeCommandQueueExecuteCommandLists(q, 1, &l, NULL) && !zeCommandQueueSynchronize(q, UINT64_MAX) &&
                 p[0] == 1 && p[3] == 1;
            ok = ok && !zeMemFree(ctx, p);
        }
        bad_use += !ok;
        for (int i = 0; i < NMOD; i++) {
            ze_result_t r;
            switch (perm[i]) {
            case M_CTX: r = zeContextDestroy(ctx); break;
            case M_MOD: r = zeModuleDestroy(mod); break;
            case M_KERNEL: r = zeKernelDestroy(k); break;
            case M_QUEUE: r = zeCommandQueueDestroy(q); break;
            default: r = zeCommandListDestroy(l); break;
            }
            bad_destroy += r != ZE_RESULT_SUCCESS;
        }
        bad_log += zeModuleBuildLogDestroy(log) != ZE_RESULT_SUCCESS;
        runs++;
    } while (next_perm(perm, NMOD));
    free(spv);
    TAP_EQ_INT(runs, 120, "every order of context, module, kernel, queue, list tried");
    TAP_EQ_INT(bad_use, 0, "each run launched the kernel");
    TAP_EQ_INT(bad_destroy, 0, "every destroy in every order returned SUCCESS");
    TAP_EQ_INT(bad_log, 0, "the build log outlives its module and context");
}

/* Children used (not only destroyed) after their parent is gone: answers, no hang. */
static void after_parent(void)
{
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 1,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE };
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC };
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_context_handle_t ctx;
    ze_command_queue_handle_t q;
    ze_command_list_handle_t imm;
    ze_event_pool_handle_t pool;
    ze_event_handle_t ev;
    ze_fence_handle_t fence;
    ZE_CHECK(zeContextCreate(drv, &cd, &ctx));
    ZE_CHECK(zeCommandQueueCreate(ctx, dev, &qd, &q));
    ZE_CHECK(zeCommandListCreateImmediate(ctx, dev, &qd, &imm));
    ZE_CHECK(zeEventPoolCreate(ctx, &pd, 0, NULL, &pool));
    ZE_CHECK(zeEventCreate(pool, &ed, &ev));
    ZE_CHECK(zeFenceCreate(q, &fd, &fence));
    ZE_CHECK(zeCommandListAppendSignalEvent(imm, ev));
    ZE_OK(zeEventHostSynchronize(ev, UINT64_MAX), "the immediate list signalled the event");

    ZE_OK(zeContextDestroy(ctx), "context destroyed first");
    TAP_EQ_INT(zeContextDestroy(ctx), ZE_RESULT_ERROR_INVALID_ARGUMENT, "a second context destroy is refused");
    TAP_EQ_INT(zeCommandListCreate(ctx, dev, &(ze_command_list_desc_t){ .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC },
                                   &(ze_command_list_handle_t){ NULL }),
               ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "nothing is created in a destroyed context");
    ZE_OK(zeEventPoolDestroy(pool), "pool destroyed before its event");
    TAP_EQ_INT(zeEventPoolDestroy(pool), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a destroyed pool is refused");
    TAP_EQ_INT(zeEventCreate(pool, &ed, &(ze_event_handle_t){ NULL }), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "no event is created from a destroyed pool");
    ZE_OK(zeEventQueryStatus(ev), "the event outliving its pool and context still answers (signalled)");
    ZE_OK(zeEventHostReset(ev), "and can be reset");
    TAP_EQ_INT(zeEventHostSynchronize(ev, 1000), ZE_RESULT_NOT_READY, "and waited on with a timeout");
    ZE_OK(zeCommandQueueDestroy(q), "queue destroyed before its fence");
    TAP_EQ_INT(zeFenceQueryStatus(fence), ZE_RESULT_NOT_READY, "the fence outliving its queue answers");
    TAP_EQ_INT(zeFenceHostSynchronize(fence, UINT64_MAX), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "waiting forever on a fence whose queue is gone returns instead of hanging");
    ZE_OK(zeFenceDestroy(fence), "fence destroyed last");
    ZE_OK(zeEventDestroy(ev), "event destroyed last");
    ZE_OK(zeCommandListDestroy(imm), "immediate list destroyed after its context");
    TAP_EQ_INT(zeEventDestroy(ev), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a destroyed event is refused");
    TAP_EQ_INT(zeFenceDestroy(fence), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a destroyed fence is refused");
    TAP_EQ_INT(zeCommandListDestroy(imm), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a destroyed list is refused");
    TAP_EQ_INT(zeCommandQueueDestroy(q), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a destroyed queue is refused");

    /* Memory: freed with its context; freeing it afterwards has nothing to do. */
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_context_handle_t c2, c3;
    void *m2, *m3;
    ZE_CHECK(zeContextCreate(drv, &cd, &c2));
    ZE_CHECK(zeContextCreate(drv, &cd, &c3));
    ZE_CHECK(zeMemAllocDevice(c2, &dd, 64, 0, dev, &m2));
    ZE_CHECK(zeMemAllocDevice(c3, &dd, 64, 0, dev, &m3));
    ZE_OK(zeContextDestroy(c2), "context with live memory destroyed");
    ZE_OK(zeMemFree(c2, m2), "zeMemFree after the context's destroy succeeds (the memory went with it)");
    TAP_EQ_INT(zeMemFree(c2, m3), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "but another live context's memory cannot be freed through the dead handle");
    ZE_OK(zeMemFree(c3, m3), "which its own context frees");
    ZE_OK(zeContextDestroy(c3), "second context destroyed");
}

int main(void)
{
    ZE_CHECK(zeInit(0));
    uint32_t n = 1;
    ZE_CHECK(zeDriverGet(&n, &drv));
    n = 1;
    ZE_CHECK(zeDeviceGet(drv, &n, &dev));
    after_parent();
    all_orders();
    module_orders();
    return tap_exit();
}
