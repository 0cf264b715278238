/* Fences and queue synchronization: signalled at completion, reset, timeouts that
 * return ZE_RESULT_NOT_READY, fences of another queue refused, several lists per
 * execution run in order. */
#include "hd_test.h"

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_OK(zeFenceCreate(t.q, &fd, &f), "fence");
    TAP_EQ_INT(zeFenceQueryStatus(f), ZE_RESULT_NOT_READY, "new fence not signalled");
    TAP_EQ_INT(zeFenceHostSynchronize(f, 0), ZE_RESULT_NOT_READY, "sync with timeout 0");
    ze_fence_desc_t fds = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC, .flags = ZE_FENCE_FLAG_SIGNALED };
    ze_fence_handle_t fs;
    ZE_OK(zeFenceCreate(t.q, &fds, &fs), "fence created signalled");
    ZE_OK(zeFenceQueryStatus(fs), "created signalled");
    ZE_OK(zeFenceReset(fs), "reset");
    TAP_EQ_INT(zeFenceQueryStatus(fs), ZE_RESULT_NOT_READY, "reset fence not signalled");

    uint32_t *data = hdt_shared(&t, 256 * sizeof(uint32_t));
    memset(data, 0, 256 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ze_group_count_t gc = { 256, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(t.list));
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l2;
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &l2));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l2, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l2));
    ze_command_list_handle_t both[3] = { t.list, l2, t.list };
    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 3, both, f), "execute 3 lists with a fence");
    ZE_OK(zeFenceHostSynchronize(f, UINT64_MAX), "fence synchronize");
    ZE_OK(zeFenceQueryStatus(f), "fence signalled");
    int bad = 0;
    for (int i = 0; i < 256; i++)
        bad += data[i] != 3;
    TAP_EQ_INT(bad, 0, "all three lists ran before the fence signalled");
    ZE_OK(zeFenceReset(f), "fence reset");
    TAP_EQ_INT(zeFenceQueryStatus(f), ZE_RESULT_NOT_READY, "reset fence");

    /* A list blocked on an event: timeouts report NOT_READY, then completion. */
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE, .count = 1 };
    ze_event_pool_handle_t pool;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool));
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 0 };
    ze_event_handle_t gate;
    ZE_CHECK(zeEventCreate(pool, &ed, &gate));
    ze_command_list_handle_t l3;
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &l3));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l3, k, &gc, NULL, 1, &gate));
    ZE_CHECK(zeCommandListClose(l3));
    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 1, &l3, f), "execute gated list");
    TAP_EQ_INT(zeFenceHostSynchronize(f, 5000000), ZE_RESULT_NOT_READY, "fence sync times out (5 ms)");
    TAP_EQ_INT(zeCommandQueueSynchronize(t.q, 5000000), ZE_RESULT_NOT_READY, "queue sync times out (5 ms)");
    /* Destroys do not wait for a queue blocked on an event the host will signal. */
    ze_fence_handle_t spare;
    ZE_CHECK(zeFenceCreate(t.q, &fd, &spare));
    ZE_OK(zeFenceDestroy(spare), "destroying an unrelated fence while the queue waits on the host returns");
    ZE_CHECK(zeEventHostSignal(gate));
    ZE_OK(zeCommandQueueSynchronize(t.q, UINT64_MAX), "queue sync after the gate opens");
    ZE_OK(zeFenceQueryStatus(f), "fence signalled");
    TAP_EQ_INT(data[0], 4, "gated kernel ran");

    /* A fence of another queue. */
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_queue_handle_t q2;
    ZE_CHECK(zeCommandQueueCreate(t.ctx, t.dev, &qd, &q2));
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(q2, 1, &l3, f), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "a fence of another queue is refused");
    TAP_EQ_INT(zeFenceHostSynchronize(NULL, 0), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL fence");
    ZE_OK(zeCommandQueueExecuteCommandLists(q2, 1, &l3, NULL), "the gated list on a second queue (gate open)");
    ZE_OK(zeCommandQueueSynchronize(q2, UINT64_MAX), "second queue sync");
    TAP_EQ_INT(data[0], 5, "ran on the second queue");
    ZE_CHECK(zeCommandQueueDestroy(q2));

    ZE_OK(zeFenceDestroy(f), "destroy fence");
    ZE_OK(zeFenceDestroy(fs), "destroy fence 2");
    zeEventDestroy(gate);
    zeEventPoolDestroy(pool);
    zeCommandListDestroy(l2);
    zeCommandListDestroy(l3);
    zeKernelDestroy(k);
    zeMemFree(t.ctx, data);
    hdt_fini(&t);
    return tap_exit();
}
