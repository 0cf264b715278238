/* Events: host signal/reset/query/synchronize with timeouts, device-signalled
 * events, waits in lists, list-side reset, kernel timestamps and global
 * timestamps (monotonic, ordered as the commands). */
#include "hd_test.h"

static void launch_inc(struct hdt *t, ze_kernel_handle_t k, uint32_t groups, ze_event_handle_t sig,
                       uint32_t nwait, ze_event_handle_t *waits)
{
    ze_group_count_t gc = { groups, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t->list, k, &gc, sig, nwait, waits));
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = 4 };
    ze_event_pool_handle_t pool;
    ZE_OK(zeEventPoolCreate(t.ctx, &pd, 1, &t.dev, &pool), "pool");
    ze_event_handle_t ev[4];
    for (uint32_t i = 0; i < 4; i++) {
        ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i,
                               .signal = ZE_EVENT_SCOPE_FLAG_HOST, .wait = ZE_EVENT_SCOPE_FLAG_HOST };
        ZE_OK(zeEventCreate(pool, &ed, &ev[i]), "event %u", i);
    }
    ze_event_desc_t bad_ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 4 };
    ze_event_handle_t bad_ev;
    TAP_EQ_INT(zeEventCreate(pool, &bad_ed, &bad_ev), ZE_RESULT_ERROR_INVALID_ARGUMENT, "index past the pool");

    /* Host side. */
    TAP_EQ_INT(zeEventQueryStatus(ev[0]), ZE_RESULT_NOT_READY, "new event is not signalled");
    TAP_EQ_INT(zeEventHostSynchronize(ev[0], 0), ZE_RESULT_NOT_READY, "synchronize with timeout 0");
    TAP_EQ_INT(zeEventHostSynchronize(ev[0], 1000000), ZE_RESULT_NOT_READY, "synchronize with a 1 ms timeout");
    ZE_OK(zeEventHostSignal(ev[0]), "host signal");
    ZE_OK(zeEventQueryStatus(ev[0]), "signalled");
    ZE_OK(zeEventHostSynchronize(ev[0], 0), "synchronize a signalled event");
    ZE_OK(zeEventHostReset(ev[0]), "host reset");
    TAP_EQ_INT(zeEventQueryStatus(ev[0]), ZE_RESULT_NOT_READY, "reset");

    /* Device signalled, with kernel timestamps around two launches in order. */
    uint32_t *data = hdt_shared(&t, 1024 * sizeof(uint32_t));
    memset(data, 0, 1024 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ZE_CHECK(zeKernelSetGroupSize(k, 64, 1, 1));
    uint64_t h0, d0, h1, d1;
    ZE_CHECK(zeDeviceGetGlobalTimestamps(t.dev, &h0, &d0));
    launch_inc(&t, k, 16, ev[0], 0, NULL);
    launch_inc(&t, k, 16, ev[1], 0, NULL);
    ZE_OK(hdt_run(&t), "run two timed launches");
    ZE_CHECK(zeDeviceGetGlobalTimestamps(t.dev, &h1, &d1));
    ze_kernel_timestamp_result_t r0, r1;
    ZE_OK(zeEventQueryKernelTimestamp(ev[0], &r0), "timestamp of launch 1");
    ZE_OK(zeEventQueryKernelTimestamp(ev[1], &r1), "timestamp of launch 2");
    TAP_OK(r0.global.kernelStart <= r0.global.kernelEnd && r1.global.kernelStart <= r1.global.kernelEnd,
           "start <= end for both launches");
    TAP_OK(r0.global.kernelEnd <= r1.global.kernelStart, "launch 2 starts after launch 1 ends (in-order)");
    TAP_OK(d0 <= r0.global.kernelStart && r1.global.kernelEnd <= d1, "timestamps lie within the device clock window");
    TAP_OK(r0.context.kernelStart == r0.global.kernelStart, "context and global timestamps agree");
    int bad = 0;
    for (int i = 0; i < 1024; i++)
        bad += data[i] != 2;
    TAP_EQ_INT(bad, 0, "both launches ran");

    /* A list that waits for a host-signalled event does not run before it. */
    ZE_CHECK(zeEventHostReset(ev[0]));
    ZE_CHECK(zeEventHostReset(ev[1]));
    ZE_OK(zeCommandListAppendWaitOnEvents(t.list, 1, &ev[2]), "append wait on ev2");
    launch_inc(&t, k, 16, NULL, 0, NULL);
    ZE_OK(zeCommandListAppendSignalEvent(t.list, ev[1]), "append signal ev1");
    ZE_OK(zeCommandListAppendEventReset(t.list, ev[2]), "append reset of ev2");
    ZE_OK(zeCommandListClose(t.list), "close");
    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL), "execute a list waiting on ev2");
    TAP_EQ_INT(zeEventHostSynchronize(ev[1], 20000000), ZE_RESULT_NOT_READY, "ev1 not signalled while ev2 is not");
    TAP_EQ_INT(zeCommandQueueSynchronize(t.q, 0), ZE_RESULT_NOT_READY, "queue busy while the list waits");
    TAP_EQ_INT(data[0], 2, "the kernel behind the wait has not run");
    ZE_OK(zeEventHostSignal(ev[2]), "host signals ev2");
    ZE_OK(zeEventHostSynchronize(ev[1], UINT64_MAX), "ev1 signalled by the list");
    ZE_OK(zeCommandQueueSynchronize(t.q, UINT64_MAX), "queue done");
    TAP_EQ_INT(data[0], 3, "the kernel ran after the wait");
    TAP_EQ_INT(zeEventQueryStatus(ev[2]), ZE_RESULT_NOT_READY, "ev2 reset by the list");
    ZE_CHECK(zeCommandListReset(t.list));

    /* Wait lists on appends, signal on copies, global timestamps in order. */
    uint64_t *ts = hdt_shared(&t, 4 * sizeof(uint64_t));
    ZE_CHECK(zeEventHostReset(ev[1]));
    ZE_OK(zeCommandListAppendWriteGlobalTimestamp(t.list, &ts[0], NULL, 0, NULL), "timestamp 0");
    launch_inc(&t, k, 16, ev[3], 0, NULL);
    ZE_OK(zeCommandListAppendWriteGlobalTimestamp(t.list, &ts[1], NULL, 1, &ev[3]), "timestamp 1 after ev3");
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, &ts[2], &ts[1], sizeof(uint64_t), ev[1], 0, NULL),
          "copy signalling ev1");
    ZE_OK(hdt_run(&t), "run");
    ze_kernel_timestamp_result_t r3;
    ZE_OK(zeEventQueryKernelTimestamp(ev[3], &r3), "timestamp of launch");
    TAP_OK(ts[0] <= r3.global.kernelStart && r3.global.kernelEnd <= ts[1], "global timestamps bracket the kernel");
    TAP_OK(ts[2] == ts[1], "copy after the timestamp saw it");
    ZE_OK(zeEventQueryStatus(ev[1]), "copy signalled its event");
    ze_kernel_timestamp_result_t r4;
    ZE_OK(zeEventQueryKernelTimestamp(ev[1], &r4), "timestamp of a non-kernel signal");
    TAP_OK(r4.global.kernelStart == r4.global.kernelEnd && r4.global.kernelStart >= ts[1],
           "non-kernel signal: start == end, after the previous timestamp");

    /* Pools without the timestamp flag. */
    ze_event_pool_desc_t pd2 = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = 1 };
    ze_event_pool_handle_t pool2;
    ZE_OK(zeEventPoolCreate(t.ctx, &pd2, 0, NULL, &pool2), "plain pool");
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 0 };
    ze_event_handle_t plain;
    ZE_OK(zeEventCreate(pool2, &ed, &plain), "plain event");
    ZE_CHECK(zeEventHostSignal(plain));
    TAP_EQ_INT(zeEventQueryKernelTimestamp(plain, &r4), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "no kernel timestamps without the pool flag");
    TAP_EQ_INT(zeEventHostSignal(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL event");
    ZE_OK(zeEventDestroy(plain), "destroy plain event");
    ZE_OK(zeEventPoolDestroy(pool2), "destroy plain pool");

    for (int i = 0; i < 4; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_OK(zeEventPoolDestroy(pool), "destroy pool");
    zeKernelDestroy(k);
    zeMemFree(t.ctx, data);
    zeMemFree(t.ctx, ts);
    hdt_fini(&t);
    return tap_exit();
}
