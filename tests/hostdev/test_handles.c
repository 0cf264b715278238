/* Handle checks (issue 15, items 3 and 4). hostdev keeps a table of the handles it
 * handed out, so a garbage handle (never returned, from a failed create, already
 * destroyed, or of another kind) is refused with an error and never dereferenced;
 * under ASan a single read through one would fail this test. Also: kernels taking a
 * sampler or an image are created but their launch is refused, the indirect
 * access flags round-trip (zeKernelSetIndirectAccess / zeKernelGetIndirectAccess),
 * and flags beyond the specification's are refused. */
#include "hd_test.h"

static int refused(ze_result_t r)
{
    return r == ZE_RESULT_ERROR_INVALID_NULL_HANDLE || r == ZE_RESULT_ERROR_INVALID_ARGUMENT;
}

/* Every entry point taking one handle of each kind, given the bad handle v. */
static int try_all(void *v, ze_device_handle_t dev, ze_command_list_handle_t good_list)
{
    int bad = 0;
    uint32_t u32 = 0, x, y, z;
    size_t sz = 0;
    void *p = &u32;
    ze_group_count_t gc = { 1, 1, 1 };
    ze_kernel_properties_t kp = { .stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES };
    ze_module_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_MODULE_PROPERTIES };
    ze_kernel_indirect_access_flags_t ia;
    ze_kernel_timestamp_result_t ts;
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "vadd" };
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC };
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_kernel_handle_t k = v;
    ze_module_handle_t m = v;
    ze_context_handle_t c = v;
    ze_command_list_handle_t l = v;
    ze_command_queue_handle_t q = v;
    ze_fence_handle_t f = v;
    ze_event_pool_handle_t pool = v;
    ze_event_handle_t e = v;
    ze_module_build_log_handle_t log = v;
    ze_kernel_handle_t ko;
    ze_fence_handle_t fo;
    ze_event_handle_t eo;
    ze_command_list_handle_t lo;
#define T(call) bad += !refused(call)
    T(zeKernelSetArgumentValue(k, 0, sizeof p, &p));
    T(zeKernelSuggestGroupSize(k, 64, 1, 1, &x, &y, &z));
    T(zeKernelSetGroupSize(k, 1, 1, 1));
    T(zeKernelGetProperties(k, &kp));
    T(zeKernelGetName(k, &sz, NULL));
    T(zeKernelSetIndirectAccess(k, 0));
    T(zeKernelGetIndirectAccess(k, &ia));
    T(zeKernelSuggestMaxCooperativeGroupCount(k, &u32));
    T(zeKernelSetCacheConfig(k, 0));
    T(zeKernelDestroy(k));
    T(zeCommandListAppendLaunchKernel(good_list, k, &gc, NULL, 0, NULL));
    T(zeModuleGetKernelNames(m, &u32, NULL));
    T(zeModuleGetProperties(m, &mp));
    T(zeModuleGetNativeBinary(m, &sz, NULL));
    T(zeKernelCreate(m, &kd, &ko));
    T(zeModuleDestroy(m));
    T(zeModuleBuildLogGetString(log, &sz, NULL));
    T(zeModuleBuildLogDestroy(log));
    T(zeContextGetStatus(c));
    T(zeCommandListCreate(c, dev, &ld, &lo));
    T(zeMemAllocDevice(c, &dd, 64, 0, dev, &p));
    T(zeMemFree(c, &u32));
    T(zeContextDestroy(c));
    T(zeCommandListAppendBarrier(l, NULL, 0, NULL));
    T(zeCommandListClose(l));
    T(zeCommandListReset(l));
    T(zeCommandListDestroy(l));
    T(zeCommandQueueExecuteCommandLists(q, 1, &good_list, NULL));
    T(zeCommandQueueSynchronize(q, 0));
    T(zeFenceCreate(q, &fd, &fo));
    T(zeCommandQueueDestroy(q));
    T(zeFenceHostSynchronize(f, 0));
    T(zeFenceQueryStatus(f));
    T(zeFenceReset(f));
    T(zeFenceDestroy(f));
    T(zeEventCreate(pool, &ed, &eo));
    T(zeEventPoolDestroy(pool));
    T(zeEventHostSignal(e));
    T(zeEventHostSynchronize(e, 0));
    T(zeEventQueryStatus(e));
    T(zeEventHostReset(e));
    T(zeEventQueryKernelTimestamp(e, &ts));
    T(zeCommandListAppendSignalEvent(good_list, e));
    T(zeCommandListAppendBarrier(good_list, e, 0, NULL));
    T(zeCommandListAppendWaitOnEvents(good_list, 1, &e));
    T(zeEventDestroy(e));
#undef T
    return bad;
}

/* Flags and enumerations beyond what the specification defines are refused with
 * INVALID_ENUMERATION (the limits are the ones the specification's @returns give). */
static void flag_checks(struct hdt *t)
{
    void *p = NULL;
    ze_context_handle_t c;
    ze_command_queue_handle_t q;
    ze_command_list_handle_t l;
    ze_event_pool_handle_t pool;
    ze_fence_handle_t f;
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC, .flags = 0x2 };
    TAP_EQ_INT(zeContextCreate(t->drv, &cd, &c), ZE_RESULT_ERROR_INVALID_ENUMERATION, "context flags 0x2");
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC, .flags = 0x2 };
    TAP_EQ_INT(zeCommandQueueCreate(t->ctx, t->dev, &qd, &q), ZE_RESULT_ERROR_INVALID_ENUMERATION, "queue flags 0x2");
    qd.flags = 0;
    qd.mode = (ze_command_queue_mode_t)3;
    TAP_EQ_INT(zeCommandQueueCreate(t->ctx, t->dev, &qd, &q), ZE_RESULT_ERROR_INVALID_ENUMERATION, "queue mode 3");
    TAP_EQ_INT(zeCommandListCreateImmediate(t->ctx, t->dev, &qd, &l), ZE_RESULT_ERROR_INVALID_ENUMERATION,
               "immediate list mode 3");
    qd.mode = 0;
    qd.priority = (ze_command_queue_priority_t)3;
    TAP_EQ_INT(zeCommandQueueCreate(t->ctx, t->dev, &qd, &q), ZE_RESULT_ERROR_INVALID_ENUMERATION,
               "queue priority 3");
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC, .flags = 0x8 };
    TAP_EQ_INT(zeCommandListCreate(t->ctx, t->dev, &ld, &l), ZE_RESULT_ERROR_INVALID_ENUMERATION, "list flags 0x8");
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 1, .flags = 0x8 };
    TAP_EQ_INT(zeEventPoolCreate(t->ctx, &pd, 0, NULL, &pool), ZE_RESULT_ERROR_INVALID_ENUMERATION,
               "event pool flags 0x8");
    pd.flags = 0;
    ZE_CHECK(zeEventPoolCreate(t->ctx, &pd, 0, NULL, &pool));
    ze_event_handle_t e;
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .signal = 0x8 };
    TAP_EQ_INT(zeEventCreate(pool, &ed, &e), ZE_RESULT_ERROR_INVALID_ENUMERATION, "event signal scope 0x8");
    ed.signal = 0;
    ed.wait = 0x10;
    TAP_EQ_INT(zeEventCreate(pool, &ed, &e), ZE_RESULT_ERROR_INVALID_ENUMERATION, "event wait scope 0x10");
    ZE_CHECK(zeEventPoolDestroy(pool));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC, .flags = 0x2 };
    TAP_EQ_INT(zeFenceCreate(t->q, &fd, &f), ZE_RESULT_ERROR_INVALID_ENUMERATION, "fence flags 0x2");
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC, .flags = 0x8 };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC, .flags = 0x10 };
    ze_host_mem_alloc_desc_t hd0 = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    TAP_EQ_INT(zeMemAllocDevice(t->ctx, &dd, 64, 0, t->dev, &p), ZE_RESULT_ERROR_INVALID_ENUMERATION,
               "device alloc flags 0x8");
    TAP_EQ_INT(zeMemAllocHost(t->ctx, &hd, 64, 0, &p), ZE_RESULT_ERROR_INVALID_ENUMERATION, "host alloc flags 0x10");
    TAP_EQ_INT(zeMemAllocShared(t->ctx, &dd, &hd0, 64, 0, t->dev, &p), ZE_RESULT_ERROR_INVALID_ENUMERATION,
               "shared alloc device flags 0x8");
    int dummy;
    TAP_EQ_INT(zeCommandListAppendMemAdvise(t->list, t->dev, &dummy, 4, (ze_memory_advice_t)99),
               ZE_RESULT_ERROR_INVALID_ENUMERATION, "memory advice 99");
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "vadd", .flags = 0x4 };
    ze_kernel_handle_t k;
    TAP_EQ_INT(zeKernelCreate(t->mod, &kd, &k), ZE_RESULT_ERROR_INVALID_ENUMERATION, "kernel flags 0x4");
    /* The highest valid values are taken. */
    cd.flags = ZE_CONTEXT_FLAG_TBD;
    ZE_OK(zeContextCreate(t->drv, &cd, &c), "context flags TBD");
    ZE_CHECK(zeContextDestroy(c));
    fd.flags = ZE_FENCE_FLAG_SIGNALED;
    ZE_OK(zeFenceCreate(t->q, &fd, &f), "fence created signalled");
    ZE_OK(zeFenceQueryStatus(f), "and reads signalled");
    ZE_CHECK(zeFenceDestroy(f));
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);

    flag_checks(&t);

    /* Garbage: small integers, a junk-filled block, a freed object, odd addresses. */
    uint64_t junk[64];
    memset(junk, 0xA5, sizeof junk);
    /* A destroyed hostdev object: its memory has gone back to the heap. */
    ze_fence_handle_t gone;
    ZE_CHECK(zeFenceCreate(t.q, &(ze_fence_desc_t){ .stype = ZE_STRUCTURE_TYPE_FENCE_DESC }, &gone));
    ZE_CHECK(zeFenceDestroy(gone));
    void *freed = gone;
    void *values[] = { (void *)(uintptr_t)0x10, (void *)(uintptr_t)0xdeadbeef, junk, (uint8_t *)junk + 3, freed,
                       (void *)(uintptr_t)-64 };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        TAP_EQ_INT(try_all(values[i], t.dev, t.list), 0, "garbage handle %zu refused by every entry point", i);

    /* A handle of one kind passed as another: each object is refused as any other kind. */
    ze_kernel_handle_t k = hdt_kernel(t.mod, "vadd");
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 1 };
    ze_event_pool_handle_t pool;
    ze_event_handle_t ev;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool));
    ZE_CHECK(zeEventCreate(pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC }, &ev));
    uint32_t x, y, z;
    TAP_EQ_INT(zeKernelSuggestGroupSize((ze_kernel_handle_t)ev, 64, 1, 1, &x, &y, &z),
               ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "an event handle is not a kernel");
    TAP_EQ_INT(zeEventHostSignal((ze_event_handle_t)k), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "a kernel handle is not an event");
    TAP_EQ_INT(zeCommandListClose((ze_command_list_handle_t)t.q), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "a queue handle is not a list");
    TAP_EQ_INT(zeModuleDestroy((ze_module_handle_t)t.ctx), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "a context handle is not a module");
    TAP_EQ_INT(zeContextDestroy((ze_context_handle_t)t.mod), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "a module handle is not a context");

    /* A failed create leaves NULL behind, and whatever the program keeps is refused. */
    ze_kernel_handle_t failed = (ze_kernel_handle_t)junk;
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "no_such_kernel" };
    TAP_EQ_INT(zeKernelCreate(t.mod, &kd, &failed), ZE_RESULT_ERROR_INVALID_KERNEL_NAME, "unknown kernel name");
    TAP_OK(failed == NULL, "a failed zeKernelCreate writes NULL");
    TAP_EQ_INT(zeKernelSetArgumentValue(failed, 0, 8, &x), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "SetArgumentValue on the failed handle");
    TAP_EQ_INT(zeKernelSuggestGroupSize(failed, 64, 1, 1, &x, &y, &z), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "SuggestGroupSize on the failed handle");

    /* Destroyed handles of every kind. */
    ze_kernel_handle_t k2 = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelDestroy(k2));
    TAP_EQ_INT(zeKernelSetArgumentValue(k2, 0, 8, &x), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "SetArgumentValue on a destroyed kernel");
    TAP_EQ_INT(zeKernelDestroy(k2), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a second kernel destroy");

    /* Indirect access flags: what is set is what is read back. */
    ze_kernel_indirect_access_flags_t ia = 99;
    ZE_OK(zeKernelGetIndirectAccess(k, &ia), "get indirect access of a new kernel");
    TAP_EQ_INT(ia, 0, "a new kernel has no indirect access flags");
    static const ze_kernel_indirect_access_flags_t sets[] = {
        ZE_KERNEL_INDIRECT_ACCESS_FLAG_HOST, ZE_KERNEL_INDIRECT_ACCESS_FLAG_DEVICE | ZE_KERNEL_INDIRECT_ACCESS_FLAG_SHARED,
        ZE_KERNEL_INDIRECT_ACCESS_FLAG_HOST | ZE_KERNEL_INDIRECT_ACCESS_FLAG_DEVICE | ZE_KERNEL_INDIRECT_ACCESS_FLAG_SHARED,
        0 };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        ZE_OK(zeKernelSetIndirectAccess(k, sets[i]), "set indirect access 0x%x", (unsigned)sets[i]);
        ZE_OK(zeKernelGetIndirectAccess(k, &ia), "get it back");
        TAP_EQ_INT(ia, sets[i], "indirect access round-trips (0x%x)", (unsigned)sets[i]);
    }
    ZE_CHECK(zeKernelSetIndirectAccess(k, ZE_KERNEL_INDIRECT_ACCESS_FLAG_HOST));
    TAP_EQ_INT(zeKernelSetIndirectAccess(k, 0x80), ZE_RESULT_ERROR_INVALID_ENUMERATION, "an unknown flag is refused");
    ZE_OK(zeKernelGetIndirectAccess(k, &ia), "get after the refused set");
    TAP_EQ_INT(ia, ZE_KERNEL_INDIRECT_ACCESS_FLAG_HOST, "a refused set changes nothing");
    TAP_EQ_INT(zeKernelGetIndirectAccess(k, NULL), ZE_RESULT_ERROR_INVALID_NULL_POINTER, "NULL flags pointer");
    TAP_EQ_INT(zeKernelSetCacheConfig(k, 0x100), ZE_RESULT_ERROR_INVALID_ENUMERATION, "unknown cache config flag");
    ZE_OK(zeKernelSetCacheConfig(k, ZE_CACHE_CONFIG_FLAG_LARGE_SLM), "a known cache config flag");

    /* Kernels with sampler and image arguments. */
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_IMAGES_SPV, &len);
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = len, .pInputModule = spv };
    ze_module_handle_t im = NULL;
    ZE_OK(zeModuleCreate(t.ctx, t.dev, &md, &im, NULL), "a module with sampler and image kernels builds");
    free(spv);
    float *out = hdt_shared(&t, 64 * sizeof(float));
    static const char *const kinds[] = { "with_sampler", "with_image" };
    for (int i = 0; i < 2 && im; i++) {
        ze_kernel_handle_t sk = NULL;
        ze_kernel_desc_t sd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = kinds[i] };
        ZE_OK(zeKernelCreate(im, &sd, &sk), "%s: kernel created", kinds[i]);
        if (!sk)
            continue;
        ze_kernel_properties_t kp = { .stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES };
        ZE_OK(zeKernelGetProperties(sk, &kp), "%s: properties", kinds[i]);
        TAP_EQ_INT(kp.numKernelArgs, 2, "%s: two arguments", kinds[i]);
        ZE_OK(zeKernelSuggestGroupSize(sk, 64, 1, 1, &x, &y, &z), "%s: SuggestGroupSize", kinds[i]);
        TAP_OK(x >= 1 && 64 % x == 0 && y == 1 && z == 1, "%s: the suggestion tiles 64x1x1", kinds[i]);
        void *fake = junk;
        TAP_EQ_INT(zeKernelSetArgumentValue(sk, 0, sizeof fake, &fake), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
                   "%s: setting the sampler/image argument is unsupported", kinds[i]);
        TAP_EQ_INT(zeKernelSetArgumentValue(sk, 0, sizeof fake, NULL), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
                   "%s: also with a NULL value", kinds[i]);
        ZE_OK(zeKernelSetArgumentValue(sk, 1, sizeof out, &out), "%s: the buffer argument is set", kinds[i]);
        ze_group_count_t gc = { 1, 1, 1 };
        TAP_EQ_INT(zeCommandListAppendLaunchKernel(t.list, sk, &gc, NULL, 0, NULL),
                   ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "%s: its launch is refused", kinds[i]);
        ZE_OK(zeKernelDestroy(sk), "%s: destroyed", kinds[i]);
    }
    if (im) {
        ze_kernel_handle_t pk = hdt_kernel(im, "plain");
        ze_group_count_t gc = { 64, 1, 1 };
        ZE_CHECK(zeKernelSetGroupSize(pk, 1, 1, 1));
        ZE_CHECK(zeKernelSetArgumentValue(pk, 0, sizeof out, &out));
        ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, pk, &gc, NULL, 0, NULL));
        ZE_OK(hdt_run(&t), "the module's plain kernel runs");
        TAP_OK(out[0] == 2.0f && out[63] == 2.0f, "and wrote its output");
        ZE_CHECK(zeKernelDestroy(pk));
        ZE_CHECK(zeModuleDestroy(im));
    }
    ZE_CHECK(zeMemFree(t.ctx, out));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeEventDestroy(ev));
    ZE_CHECK(zeEventPoolDestroy(pool));
    hdt_fini(&t);
    return tap_exit();
}
