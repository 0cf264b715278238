/* Entry points a real driver has that hostdev lacked (issue 15, item 9), from the
 * specification:
 *  - zeCommandListAppendQueryKernelTimestamps: writes each timestamp event's
 *    ze_kernel_timestamp_result_t (packed, or at the given offsets) after the
 *    commands before it, equal to what zeEventQueryKernelTimestamp reports; events
 *    of a pool without the timestamp flag and misaligned offsets are refused;
 *  - zeContextSystemBarrier: returns once submitted work is complete;
 *  - zeCommandListAppendMemoryCopyFromContext: copies from another context's
 *    allocation, with a signal event;
 *  - zeCommandListAppendLaunchMultipleKernelsIndirect (count and group counts read at
 *    execution), zeKernelGetSourceAttributes;
 *  - the extensions hostdev advertises: memory free policies, event query
 *    timestamps, scheduling hints;
 *  - specialization constants with any SpecId (0, 77, 4000000000) and type (bool,
 *    16- and 64-bit integers, every bit kept). */
#include "hd_test.h"

#include <stdbool.h>
#include <unistd.h>

/* spec_types of spec_types.spvasm with the given constants: out[0..2]. */
static ze_result_t run_spec_types(struct hdt *t, const ze_module_constants_t *c, uint64_t out[3])
{
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPEC_TYPES_SPV, &len);
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = len, .pInputModule = spv, .pConstants = c };
    ze_module_handle_t m = NULL;
    ze_result_t r = zeModuleCreate(t->ctx, t->dev, &md, &m, NULL);
    free(spv);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    ze_kernel_handle_t k = hdt_kernel(m, "spec_types");
    uint64_t *o = hdt_shared(t, 3 * sizeof *o);
    memset(o, 0xff, 3 * sizeof *o);
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof o, &o));
    ze_group_count_t gc = { 1, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL));
    r = hdt_run(t);
    memcpy(out, o, 3 * sizeof *o);
    ZE_CHECK(zeMemFree(t->ctx, o));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeModuleDestroy(m));
    return r;
}

/* Specialization constants with SpecIds 0, 77 and 4000000000, of types bool, ushort
 * and ulong, every bit of a 64-bit value kept. */
static void spec_types(struct hdt *t)
{
    uint64_t out[3];
    ZE_OK(run_spec_types(t, NULL, out), "spec_types with its defaults");
    TAP_OK(out[0] == 0 && out[1] == 5 && out[2] == 9, "defaults false, 5, 9 (got %llu %llu %llu)",
           (unsigned long long)out[0], (unsigned long long)out[1], (unsigned long long)out[2]);
    ze_bool_t b = 1;
    uint64_t l = 0xF23456789ABCDEF1ull;
    uint16_t us = 65535;
    uint32_t ids[] = { 0, 4000000000u, 77 };
    const void *vals[] = { &b, &l, &us };
    ze_module_constants_t c = { .numConstants = 3, .pConstantIds = ids, .pConstantValues = vals };
    ZE_OK(run_spec_types(t, &c, out), "spec_types with all three set");
    TAP_OK(out[0] == 1, "SpecId 0 (bool) set to true");
    TAP_OK(out[1] == l, "SpecId 4000000000 (ulong) keeps all 64 bits (got 0x%llx)", (unsigned long long)out[1]);
    TAP_OK(out[2] == 65535, "SpecId 77 (ushort) set to 65535 (got %llu)", (unsigned long long)out[2]);
    uint32_t one[] = { 77 };
    uint16_t seven = 7;
    const void *v1[] = { &seven };
    ze_module_constants_t c1 = { .numConstants = 1, .pConstantIds = one, .pConstantValues = v1 };
    ZE_OK(run_spec_types(t, &c1, out), "only one constant set");
    TAP_OK(out[0] == 0 && out[1] == 5 && out[2] == 7, "the others keep their defaults");
    uint32_t unknown[] = { 4000000001u };
    ze_module_constants_t cu = { .numConstants = 1, .pConstantIds = unknown, .pConstantValues = v1 };
    TAP_EQ_INT(run_spec_types(t, &cu, out), ZE_RESULT_ERROR_MODULE_BUILD_FAILURE, "an undeclared SpecId fails");
}

/* zeCommandListAppendLaunchMultipleKernelsIndirect: the count and the group counts
 * are read when the list runs. */
static void multi_launch(struct hdt *t)
{
    ze_kernel_handle_t ks[3];
    uint32_t *bufs[3];
    for (int i = 0; i < 3; i++) {
        ks[i] = hdt_kernel(t->mod, "inc");
        bufs[i] = hdt_shared(t, 64 * sizeof(uint32_t));
        memset(bufs[i], 0, 64 * sizeof(uint32_t));
        ZE_CHECK(zeKernelSetGroupSize(ks[i], 1, 1, 1));
        ZE_CHECK(zeKernelSetArgumentValue(ks[i], 0, sizeof bufs[i], &bufs[i]));
    }
    ze_group_count_t *args = hdt_shared(t, 3 * sizeof *args);
    uint32_t *count = hdt_device_mem(t, sizeof *count);
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 2,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE };
    ze_event_pool_handle_t pool;
    ze_event_handle_t done, done0;
    ZE_CHECK(zeEventPoolCreate(t->ctx, &pd, 0, NULL, &pool));
    ZE_CHECK(zeEventCreate(pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC }, &done));
    ZE_CHECK(zeEventCreate(pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 1 }, &done0));
    ZE_OK(zeCommandListAppendLaunchMultipleKernelsIndirect(t->list, 3, ks, count, args, done, 0, NULL),
          "append three indirect launches behind a count");
    ZE_OK(zeCommandListAppendLaunchMultipleKernelsIndirect(t->list, 0, NULL, count, args, done0, 0, NULL),
          "append zero launches with a signal");
    ZE_CHECK(zeCommandListClose(t->list));
    /* Written after the append: read at execution. */
    args[0] = (ze_group_count_t){ 4, 1, 1 };
    args[1] = (ze_group_count_t){ 2, 1, 1 };
    args[2] = (ze_group_count_t){ 1, 1, 1 };
    *count = 2;
    ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL));
    ZE_CHECK(zeCommandQueueSynchronize(t->q, UINT64_MAX));
    TAP_OK(bufs[0][3] == 1 && bufs[0][4] == 0, "kernel 0 ran 4 groups");
    TAP_OK(bufs[1][1] == 1 && bufs[1][2] == 0, "kernel 1 ran 2 groups");
    TAP_EQ_INT(bufs[2][0], 0, "kernel 2 beyond the count did not run");
    ZE_OK(zeEventQueryStatus(done), "the signal comes after the last (skipped) launch");
    ZE_OK(zeEventQueryStatus(done0), "zero launches still signal");
    *count = 3;
    ZE_CHECK(zeEventHostReset(done));
    ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL));
    ZE_CHECK(zeCommandQueueSynchronize(t->q, UINT64_MAX));
    TAP_OK(bufs[0][0] == 2 && bufs[2][0] == 1, "with a count of 3 all three ran");
    ZE_CHECK(zeCommandListReset(t->list));
    ze_kernel_handle_t unset = hdt_kernel(t->mod, "vadd");
    ze_kernel_handle_t mixed[2] = { ks[0], unset };
    TAP_EQ_INT(zeCommandListAppendLaunchMultipleKernelsIndirect(t->list, 2, mixed, count, args, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "a kernel with unset arguments refuses the whole append");
    TAP_EQ_INT(zeCommandListAppendLaunchMultipleKernelsIndirect(t->list, 2, ks, NULL, args, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_NULL_POINTER, "no count buffer");
    ZE_OK(hdt_run(t), "the list left by the refused appends runs (empty)");
    TAP_EQ_INT(bufs[0][0], 2, "nothing of the refused appends ran");

    /* Source attributes. */
    ze_kernel_handle_t fixed = hdt_kernel(t->mod, "fixed8");
    uint32_t sz = 0;
    ZE_OK(zeKernelGetSourceAttributes(fixed, &sz, NULL), "source attributes size");
    char buf[64], *bp = buf;
    ZE_OK(zeKernelGetSourceAttributes(fixed, &sz, &bp), "source attributes");
    TAP_OK(!strcmp(buf, "reqd_work_group_size(8,1,1)") && sz == strlen(buf) + 1, "fixed8: '%s'", buf);
    sz = sizeof buf;
    ZE_OK(zeKernelGetSourceAttributes(ks[0], &sz, &bp), "source attributes of inc");
    TAP_OK(buf[0] == '\0' && sz == 1, "inc has none");
    ZE_CHECK(zeKernelDestroy(fixed));

    ZE_CHECK(zeKernelDestroy(unset));
    for (int i = 0; i < 3; i++) {
        ZE_CHECK(zeKernelDestroy(ks[i]));
        ZE_CHECK(zeMemFree(t->ctx, bufs[i]));
    }
    ZE_CHECK(zeMemFree(t->ctx, args));
    ZE_CHECK(zeMemFree(t->ctx, count));
    ZE_CHECK(zeEventDestroy(done));
    ZE_CHECK(zeEventDestroy(done0));
    ZE_CHECK(zeEventPoolDestroy(pool));
}

/* The extensions hostdev advertises, each used as its specification says. */
static void extensions(struct hdt *t, ze_event_handle_t timed, ze_event_handle_t plain)
{
    uint32_t n = 0;
    ZE_OK(zeDriverGetExtensionProperties(t->drv, &n, NULL), "extension count");
    TAP_EQ_INT(n, 3, "three extensions");
    ze_driver_extension_properties_t ex[4];
    memset(ex, 0, sizeof ex);
    n = 4;
    ZE_OK(zeDriverGetExtensionProperties(t->drv, &n, ex), "extension properties");
    int found = 0;
    for (uint32_t i = 0; i < n; i++)
        found += (!strcmp(ex[i].name, ZE_MEMORY_FREE_POLICIES_EXT_NAME) ||
                  !strcmp(ex[i].name, ZE_EVENT_QUERY_TIMESTAMPS_EXP_NAME) ||
                  !strcmp(ex[i].name, ZE_KERNEL_SCHEDULING_HINTS_EXP_NAME)) &&
                 ex[i].version == ZE_MAKE_VERSION(1, 0);
    TAP_EQ_INT(found, 3, "memory free policies, event query timestamps, scheduling hints (1.0)");

    /* Memory free policies. */
    ze_driver_memory_free_ext_properties_t fp = { .stype = ZE_STRUCTURE_TYPE_DRIVER_MEMORY_FREE_EXT_PROPERTIES };
    ze_driver_properties_t dp = { .stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES, .pNext = &fp };
    ZE_OK(zeDriverGetProperties(t->drv, &dp), "driver properties with the free-policy chain");
    TAP_EQ_INT(fp.freePolicies,
               ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_BLOCKING_FREE | ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_DEFER_FREE,
               "blocking and deferred free supported");
    uint32_t *busy = hdt_shared(t, 4096 * sizeof(uint32_t));
    memset(busy, 0, 4096 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t->mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof busy, &busy));
    ZE_CHECK(zeKernelSetGroupSize(k, 64, 1, 1));
    ze_group_count_t gc = { 64, 1, 1 };
    for (int i = 0; i < 4; i++)
        ZE_CHECK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(t->list));
    ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL));
    ze_memory_free_ext_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_MEMORY_FREE_EXT_DESC,
                                     .freePolicy = ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_BLOCKING_FREE };
    ZE_OK(zeMemFreeExt(t->ctx, &fd, busy), "blocking free of memory a running list uses");
    ZE_CHECK(zeCommandQueueSynchronize(t->q, UINT64_MAX));
    ZE_CHECK(zeCommandListReset(t->list));
    void *p = hdt_device_mem(t, 64);
    fd.freePolicy = ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_DEFER_FREE;
    ZE_OK(zeMemFreeExt(t->ctx, &fd, p), "deferred free");
    TAP_EQ_INT(zeMemFreeExt(t->ctx, &fd, p), ZE_RESULT_ERROR_INVALID_ARGUMENT, "a second free is refused");
    fd.freePolicy = 0x4;
    p = hdt_device_mem(t, 64);
    TAP_EQ_INT(zeMemFreeExt(t->ctx, &fd, p), ZE_RESULT_ERROR_INVALID_ENUMERATION, "an unknown policy");
    fd.freePolicy = 0;
    ZE_OK(zeMemFreeExt(t->ctx, &fd, p), "immediate free (policy 0)");

    /* Scheduling hints. */
    ze_scheduling_hint_exp_properties_t sp = { .stype = ZE_STRUCTURE_TYPE_SCHEDULING_HINT_EXP_PROPERTIES };
    ze_device_module_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MODULE_PROPERTIES, .pNext = &sp };
    ZE_OK(zeDeviceGetModuleProperties(t->dev, &mp), "module properties with the scheduling-hint chain");
    TAP_EQ_INT(sp.schedulingHintFlags, 0x7, "all three hints accepted");
    ze_scheduling_hint_exp_desc_t hint = { .stype = ZE_STRUCTURE_TYPE_SCHEDULING_HINT_EXP_DESC,
                                           .flags = ZE_SCHEDULING_HINT_EXP_FLAG_ROUND_ROBIN };
    ZE_OK(zeKernelSchedulingHintExp(k, &hint), "a round-robin hint");
    hint.flags = 0x8;
    TAP_EQ_INT(zeKernelSchedulingHintExp(k, &hint), ZE_RESULT_ERROR_INVALID_ENUMERATION, "an unknown hint");
    ZE_CHECK(zeKernelDestroy(k));

    /* Event query timestamps: one result (one device, no sub-devices). */
    ze_kernel_timestamp_result_t r, q;
    uint32_t cnt = 0;
    ZE_OK(zeEventQueryTimestampsExp(timed, t->dev, &cnt, NULL), "timestamp count");
    TAP_EQ_INT(cnt, 1, "one timestamp result");
    cnt = 5;
    ZE_OK(zeEventQueryTimestampsExp(timed, t->dev, &cnt, &r), "the timestamp result");
    ZE_CHECK(zeEventQueryKernelTimestamp(timed, &q));
    TAP_OK(cnt == 1 && !memcmp(&r, &q, sizeof r), "equal to zeEventQueryKernelTimestamp's, count lowered to 1");
    TAP_EQ_INT(zeEventQueryTimestampsExp(plain, t->dev, &cnt, &r), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "an event without the timestamp flag");
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    spec_types(&t);
    multi_launch(&t);
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = 3 };
    ze_event_pool_handle_t pool, plain_pool;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 1, &t.dev, &pool));
    pd.flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 1, &t.dev, &plain_pool));
    ze_event_handle_t ev[3], plain;
    for (uint32_t i = 0; i < 3; i++)
        ZE_CHECK(zeEventCreate(pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i }, &ev[i]));
    ZE_CHECK(zeEventCreate(plain_pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC }, &plain));

    uint32_t *data = hdt_shared(&t, 4096 * sizeof(uint32_t));
    memset(data, 0, 4096 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ZE_CHECK(zeKernelSetGroupSize(k, 64, 1, 1));
    ze_group_count_t gc = { 64, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, ev[0], 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, ev[1], 0, NULL));
    /* Packed results in device memory, then results at offsets in shared memory. */
    ze_kernel_timestamp_result_t *packed = hdt_device_mem(&t, 2 * sizeof *packed);
    uint8_t *spread = hdt_shared(&t, 1024);
    memset(spread, 0xEE, 1024);
    size_t offs[2] = { 512, 64 };
    ZE_OK(zeCommandListAppendQueryKernelTimestamps(t.list, 2, ev, packed, NULL, ev[2], 0, NULL),
          "append a packed timestamp query, signalling an event");
    ZE_OK(zeCommandListAppendQueryKernelTimestamps(t.list, 2, ev, spread, offs, NULL, 1, &ev[2]),
          "append a query at offsets, after the first");
    ze_kernel_timestamp_result_t *back = hdt_shared(&t, 2 * sizeof *back);
    ZE_CHECK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(t.list, back, packed, 2 * sizeof *back, NULL, 0, NULL));
    ZE_OK(hdt_run(&t), "run launches and queries");
    ze_kernel_timestamp_result_t r0, r1, s0, s1;
    ZE_CHECK(zeEventQueryKernelTimestamp(ev[0], &r0));
    ZE_CHECK(zeEventQueryKernelTimestamp(ev[1], &r1));
    memcpy(&s0, spread + 512, sizeof s0);
    memcpy(&s1, spread + 64, sizeof s1);
    TAP_OK(r0.global.kernelStart > 0 && r0.global.kernelStart <= r0.global.kernelEnd, "launch 1 was timed");
    TAP_OK(!memcmp(&back[0], &r0, sizeof r0) && !memcmp(&back[1], &r1, sizeof r1),
           "packed results equal zeEventQueryKernelTimestamp's");
    TAP_OK(!memcmp(&s0, &r0, sizeof r0) && !memcmp(&s1, &r1, sizeof r1), "results at offsets 512 and 64 too");
    /* bytes outside the two results (a result's own bytes may happen to be 0xEE) */
    size_t untouched = 0;
    for (size_t i = 0; i < 1024; i++) {
        const bool result = (i >= 64 && i < 64 + sizeof s0) || (i >= 512 && i < 512 + sizeof s0);
        untouched += !result && spread[i] == 0xEE;
    }
    TAP_EQ_INT(untouched, 1024 - 2 * sizeof s0, "nothing else was written");
    ZE_OK(zeEventQueryStatus(ev[2]), "the query signalled its event");
    extensions(&t, ev[0], plain);
    TAP_EQ_INT(zeCommandListAppendQueryKernelTimestamps(t.list, 1, &plain, spread, NULL, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "an event without the timestamp flag is refused");
    size_t odd = 6;
    TAP_EQ_INT(zeCommandListAppendQueryKernelTimestamps(t.list, 1, ev, spread, &odd, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "an offset that is not 4-byte aligned is refused");
    TAP_EQ_INT(zeCommandListAppendQueryKernelTimestamps(t.list, 1, ev, NULL, NULL, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_NULL_POINTER, "NULL destination");
    ZE_OK(zeCommandListAppendQueryKernelTimestamps(t.list, 0, ev, spread, NULL, NULL, 0, NULL), "zero events");
    ZE_OK(hdt_run(&t), "an empty query runs");

    /* zeContextSystemBarrier after an asynchronous execution. */
    for (int i = 0; i < 8; i++)
        ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(t.list));
    memset(data, 0, 4096 * sizeof(uint32_t));
    ZE_CHECK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL));
    ZE_OK(zeContextSystemBarrier(t.ctx, t.dev), "system barrier");
    TAP_OK(data[0] == 8 && data[4095] == 8, "work submitted before the barrier is complete (%u)", data[0]);
    ZE_CHECK(zeCommandQueueSynchronize(t.q, UINT64_MAX));
    ZE_CHECK(zeCommandListReset(t.list));
    TAP_EQ_INT(zeContextSystemBarrier(NULL, t.dev), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL context");

    /* Copy from another context's memory. */
    ze_context_handle_t other;
    ZE_CHECK(zeContextCreate(t.drv, &(ze_context_desc_t){ .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC }, &other));
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    uint8_t *theirs;
    ZE_CHECK(zeMemAllocDevice(other, &dd, 256, 0, t.dev, (void **)&theirs));
    for (int i = 0; i < 256; i++)
        theirs[i] = (uint8_t)(255 - i);
    uint8_t *mine = hdt_shared(&t, 256);
    memset(mine, 0, 256);
    ZE_CHECK(zeEventHostReset(ev[2]));
    ZE_OK(zeCommandListAppendMemoryCopyFromContext(t.list, mine, other, theirs, 256, ev[2], 0, NULL),
          "append a copy from another context");
    ZE_OK(hdt_run(&t), "run it");
    TAP_OK(mine[0] == 255 && mine[255] == 0, "the bytes arrived");
    ZE_OK(zeEventQueryStatus(ev[2]), "and its signal event is signalled");
    TAP_EQ_INT(zeCommandListAppendMemoryCopyFromContext(t.list, mine, NULL, theirs, 256, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL source context");
    TAP_EQ_INT(zeCommandListAppendMemoryCopyFromContext(t.list, mine, other, mine + 8, 16, NULL, 0, NULL),
               ZE_RESULT_ERROR_OVERLAPPING_REGIONS, "overlapping regions");
    ZE_CHECK(zeMemFree(other, theirs));
    ZE_CHECK(zeContextDestroy(other));

    ZE_CHECK(zeMemFree(t.ctx, data));
    ZE_CHECK(zeMemFree(t.ctx, packed));
    ZE_CHECK(zeMemFree(t.ctx, spread));
    ZE_CHECK(zeMemFree(t.ctx, back));
    ZE_CHECK(zeMemFree(t.ctx, mine));
    ZE_CHECK(zeKernelDestroy(k));
    for (int i = 0; i < 3; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_CHECK(zeEventDestroy(plain));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeEventPoolDestroy(plain_pool));
    hdt_fini(&t);
    return tap_exit();
}
