/* wake_bench: the host cost of waiting for a list that signals five timestamp
 * events and then its fence, the shape of zmoe's ring lists. Not a test: run it
 * under callgrind, which collects only inside measured() (the calling thread):
 *
 *   ZE_ENABLE_ALT_DRIVERS=$PWD/build/hostdev/libze_hostdev.so \
 *   valgrind --tool=callgrind --toggle-collect=measured --callgrind-out-file=/tmp/cg.out \
 *       build/tests/hostdev/hostdev_wake_bench [iterations] [events]
 *   callgrind_annotate /tmp/cg.out | head     (total Ir / iterations = per call)
 *
 * With HOSTDEV_WAIT_STATS=1 it also prints hostdev's sleep counts at the end. */
#include "hd_test.h"

enum { MAX_EVENTS = 16 };

/* execute + zeFenceHostSynchronize + zeFenceReset: what callgrind measures. */
__attribute__((noinline)) static ze_result_t measured(ze_command_queue_handle_t q, ze_command_list_handle_t l,
                                                      ze_fence_handle_t f)
{
    ze_result_t r = zeCommandQueueExecuteCommandLists(q, 1, &l, f);
    if (r == ZE_RESULT_SUCCESS)
        r = zeFenceHostSynchronize(f, UINT64_MAX);
    if (r == ZE_RESULT_SUCCESS)
        r = zeFenceReset(f);
    return r;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 40;
    int nev = argc > 2 ? atoi(argv[2]) : 5;
    if (nev < 0 || nev > MAX_EVENTS)
        nev = 5;
    struct hdt t;
    hdt_init(&t, 1, 1);
    uint32_t *data = hdt_shared(&t, 64 * sizeof(uint32_t));
    memset(data, 0, 64 * sizeof(uint32_t));
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof data, &data));
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = MAX_EVENTS };
    ze_event_pool_handle_t pool;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool));
    ze_event_handle_t ev[MAX_EVENTS];
    for (int i = 0; i < nev; i++) {
        ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = (uint32_t)i };
        ZE_CHECK(zeEventCreate(pool, &ed, &ev[i]));
        ZE_CHECK(zeCommandListAppendEventReset(t.list, ev[i]));
    }
    ze_group_count_t gc = { 64, 1, 1 };
    for (int i = 0; i < nev; i++)
        ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, ev[i], 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(t.list));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t.q, &fd, &f));
    for (int i = 0; i < iters; i++)
        ZE_CHECK(measured(t.q, t.list, f));
    printf("%d iterations, %d events: data[0] = %u (expected %d)\n", iters, nev, data[0], iters * (nev + 1));
    ZE_CHECK(zeFenceDestroy(f));
    for (int i = 0; i < nev; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeMemFree(t.ctx, data));
    hdt_fini(&t);
    return data == NULL;
}
