/* Immediate command lists: asynchronous and synchronous modes, many appends in
 * flight (more than the driver's slot ring), events, misuse. */
#include "hd_test.h"

static ze_command_list_handle_t immediate(struct hdt *t, ze_command_queue_mode_t mode)
{
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC, .mode = mode };
    ze_command_list_handle_t l = NULL;
    ZE_CHECK(zeCommandListCreateImmediate(t->ctx, t->dev, &qd, &l));
    return l;
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    uint32_t *data = hdt_shared(&t, 64 * sizeof(uint32_t));
    memset(data, 0, 64 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ze_group_count_t gc = { 64, 1, 1 };

    /* Synchronous: the append returns after the work is done. */
    ze_command_list_handle_t sync = immediate(&t, ZE_COMMAND_QUEUE_MODE_SYNCHRONOUS);
    ZE_OK(zeCommandListAppendLaunchKernel(sync, k, &gc, NULL, 0, NULL), "synchronous append");
    TAP_EQ_INT(data[63], 1, "synchronous immediate launch finished on return");
    uint32_t pat = 7;
    ZE_OK(zeCommandListAppendMemoryFill(sync, data, &pat, 4, 64 * sizeof(uint32_t), NULL, 0, NULL),
          "synchronous fill");
    TAP_EQ_INT(data[10], 7, "synchronous fill finished on return");
    TAP_EQ_INT(zeCommandListClose(sync), ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE, "immediate lists cannot close");
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(t.q, 1, &sync, NULL), ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE,
               "immediate lists cannot be executed on a queue");
    ZE_OK(zeCommandListDestroy(sync), "destroy synchronous list");

    /* Asynchronous: 200 appends (more than the slot ring), then an event. */
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = 1 };
    ze_event_pool_handle_t pool;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool));
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = 0 };
    ze_event_handle_t ev;
    ZE_CHECK(zeEventCreate(pool, &ed, &ev));
    ze_command_list_handle_t async = immediate(&t, ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS);
    int fails = 0;
    for (int i = 0; i < 200; i++)
        fails += zeCommandListAppendLaunchKernel(async, k, &gc, NULL, 0, NULL) != ZE_RESULT_SUCCESS;
    TAP_EQ_INT(fails, 0, "200 asynchronous appends accepted");
    ZE_OK(zeCommandListAppendBarrier(async, ev, 0, NULL), "barrier signalling an event");
    ZE_OK(zeEventHostSynchronize(ev, UINT64_MAX), "event after 200 launches");
    int bad = 0;
    for (int i = 0; i < 64; i++)
        bad += data[i] != 207;
    TAP_EQ_INT(bad, 0, "all 200 launches ran, in order after the fill");

    /* Copy with a wait on a host event. */
    uint32_t *dst = hdt_shared(&t, 64 * sizeof(uint32_t));
    memset(dst, 0, 64 * sizeof(uint32_t));
    ZE_CHECK(zeEventHostReset(ev));
    ZE_OK(zeCommandListAppendMemoryCopy(async, dst, data, 64 * sizeof(uint32_t), NULL, 1, &ev),
          "copy gated on the event");
    ze_event_pool_handle_t pool2;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool2));
    ze_event_handle_t done;
    ZE_CHECK(zeEventCreate(pool2, &ed, &done));
    ZE_OK(zeCommandListAppendSignalEvent(async, done), "signal done");
    TAP_EQ_INT(zeEventHostSynchronize(done, 10000000), ZE_RESULT_NOT_READY, "copy waits for the host event");
    ZE_CHECK(zeEventHostSignal(ev));
    ZE_OK(zeEventHostSynchronize(done, UINT64_MAX), "done");
    TAP_EQ_INT(dst[5], 207, "copy ran after the gate");
    ZE_OK(zeCommandListDestroy(async), "destroy asynchronous list");
    zeEventDestroy(ev);
    zeEventDestroy(done);
    zeEventPoolDestroy(pool);
    zeEventPoolDestroy(pool2);
    zeKernelDestroy(k);
    zeMemFree(t.ctx, data);
    zeMemFree(t.ctx, dst);
    hdt_fini(&t);
    return tap_exit();
}
