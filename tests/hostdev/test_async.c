/* Asynchronous execution: with HOSTDEV_EXEC_LATENCY_US the worker holds every
 * execution back, so the host provably continues before completion; a
 * synchronous queue returns only after its work is done. */
#include "hd_test.h"

int main(void)
{
    /* One second per execution: far beyond anything between two host calls. */
    setenv("HOSTDEV_EXEC_LATENCY_US", "1000000", 1);
    struct hdt t;
    hdt_init(&t, 1, 1);
    uint32_t *data = hdt_shared(&t, 64 * sizeof(uint32_t));
    memset(data, 0, 64 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ze_group_count_t gc = { 64, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(t.list));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t.q, &fd, &f));

    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, f), "execute returns");
    TAP_EQ_INT(zeFenceQueryStatus(f), ZE_RESULT_NOT_READY, "fence not signalled right after execute");
    TAP_EQ_INT(zeCommandQueueSynchronize(t.q, 0), ZE_RESULT_NOT_READY, "queue still busy");
    TAP_EQ_INT(data[0], 0, "kernel has not run yet: the host went on");
    ZE_OK(zeFenceHostSynchronize(f, UINT64_MAX), "wait for the fence");
    TAP_EQ_INT(data[0], 1, "kernel ran after the latency");

    /* Synchronous mode: ExecuteCommandLists itself waits. */
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                   .mode = ZE_COMMAND_QUEUE_MODE_SYNCHRONOUS };
    ze_command_queue_handle_t sq;
    ZE_CHECK(zeCommandQueueCreate(t.ctx, t.dev, &qd, &sq));
    ZE_OK(zeCommandQueueExecuteCommandLists(sq, 1, &t.list, NULL), "synchronous execute");
    TAP_EQ_INT(data[0], 2, "synchronous queue finished before returning");
    ZE_CHECK(zeCommandQueueDestroy(sq));

    /* zeMemFree waits for the work in flight (here held back by the latency), so
     * freeing without synchronizing first cannot pull memory from under it. */
    void *other = hdt_device_mem(&t, 64);
    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL), "execute again");
    TAP_EQ_INT(data[0], 2, "third execution held back");
    ZE_OK(zeMemFree(t.ctx, other), "free while the queue is busy");
    TAP_EQ_INT(data[0], 3, "the free returned after the execution in flight completed");
    ZE_OK(zeCommandQueueSynchronize(t.q, 0), "queue idle after the free");

    /* The knob is per context: a new context without it runs at once. */
    unsetenv("HOSTDEV_EXEC_LATENCY_US");
    zeFenceDestroy(f);
    zeKernelDestroy(k);
    zeMemFree(t.ctx, data);
    hdt_fini(&t);
    return tap_exit();
}
