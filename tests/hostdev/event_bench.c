/* event_bench: wall time of one list shaped like zmoe's ring lists on hostdev,
 * with per-stage kernel-timestamp events (each stage waits on the previous one's
 * event, five event resets, copies waiting on events) against the same kernels
 * with barriers only. Not a test: prints medians of interleaved runs.
 *
 *   ZE_ENABLE_ALT_DRIVERS=$PWD/build/hostdev/libze_hostdev.so \
 *       build/tests/hostdev/hostdev_event_bench [iterations] [groups]
 *
 * Each run is execute + zeFenceHostSynchronize + zeFenceReset (+ five
 * zeEventQueryKernelTimestamp for the "events+ts" row). */
#include "hd_test.h"

#include <time.h>

enum { NEV = 5, NVAR = 3 };

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 300;
    uint32_t groups = argc > 2 ? (uint32_t)atoi(argv[2]) : 16;
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_kernel_handle_t inc = hdt_kernel(t.mod, "inc"), wc = hdt_kernel(t.mod, "write_counts");
    ZE_CHECK(zeKernelSetGroupSize(inc, 64, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    uint32_t *data = hdt_device_mem(&t, (size_t)groups * 64 * sizeof(uint32_t));
    ze_group_count_t *gc = hdt_device_mem(&t, sizeof *gc);
    const size_t io = 64 * 1024;
    void *xh = hdt_shared(&t, io), *xd = hdt_device_mem(&t, io), *yh = hdt_shared(&t, io);
    void *ih = hdt_shared(&t, 256), *wh = hdt_shared(&t, 256);
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof gc, &gc));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof groups, &groups));

    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = NEV };
    ze_event_pool_handle_t pool;
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 1, &t.dev, &pool));
    ze_event_handle_t ev[NEV];
    for (uint32_t i = 0; i < NEV; i++) {
        ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i,
                               .signal = ZE_EVENT_SCOPE_FLAG_HOST, .wait = ZE_EVENT_SCOPE_FLAG_HOST };
        ZE_CHECK(zeEventCreate(pool, &ed, &ev[i]));
    }
    ze_group_count_t one = { 1, 1, 1 }, g = { groups, 1, 1 };
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t le, lb;
    /* zmoe's shape (runtime/layer.c). */
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &le));
    for (int i = 0; i < NEV; i++)
        ZE_CHECK(zeCommandListAppendEventReset(le, ev[i]));
    ZE_CHECK(zeCommandListAppendMemoryCopy(le, xd, xh, io, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(le, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(le, inc, &g, ev[0], 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(le, wc, &one, ev[1], 1, &ev[0]));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(le, inc, gc, ev[2], 1, &ev[1]));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(le, inc, gc, ev[3], 1, &ev[2]));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(le, inc, gc, ev[4], 1, &ev[3]));
    ZE_CHECK(zeCommandListAppendMemoryCopy(le, ih, data, 256, NULL, 1, &ev[1]));
    ZE_CHECK(zeCommandListAppendMemoryCopy(le, wh, data, 256, NULL, 1, &ev[1]));
    ZE_CHECK(zeCommandListAppendMemoryCopy(le, yh, xd, io, NULL, 1, &ev[4]));
    ZE_CHECK(zeCommandListClose(le));
    /* The same with barriers only. */
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &lb));
    ZE_CHECK(zeCommandListAppendMemoryCopy(lb, xd, xh, io, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(lb, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(lb, inc, &g, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(lb, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(lb, wc, &one, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(lb, NULL, 0, NULL));
    for (int i = 0; i < 3; i++) {
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(lb, inc, gc, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendBarrier(lb, NULL, 0, NULL));
    }
    ZE_CHECK(zeCommandListAppendMemoryCopy(lb, ih, data, 256, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(lb, wh, data, 256, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(lb, yh, xd, io, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(lb));

    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t.q, &fd, &f));
    static const char *names[NVAR] = { "barriers", "events", "events+ts" };
    double *w[NVAR];
    for (int v = 0; v < NVAR; v++)
        w[v] = calloc((size_t)iters, sizeof(double));
    uint64_t bad = 0;
    for (int it = -20; it < iters; it++) {
        for (int v = 0; v < NVAR; v++) {
            ze_command_list_handle_t l = v == 0 ? lb : le;
            double t0 = now_us();
            ZE_CHECK(zeCommandQueueExecuteCommandLists(t.q, 1, &l, f));
            ZE_CHECK(zeFenceHostSynchronize(f, UINT64_MAX));
            ZE_CHECK(zeFenceReset(f));
            if (v == 2) {
                uint64_t prev = 0;
                for (int i = 0; i < NEV; i++) {
                    ze_kernel_timestamp_result_t r;
                    ZE_CHECK(zeEventQueryKernelTimestamp(ev[i], &r));
                    bad += r.global.kernelStart > r.global.kernelEnd || r.global.kernelStart < prev;
                    prev = r.global.kernelEnd;
                }
            }
            if (it >= 0)
                w[v][it] = now_us() - t0;
        }
    }
    printf("groups %u, %d interleaved runs each; wall per list (execute + fence wait), us\n", groups, iters);
    for (int v = 0; v < NVAR; v++) {
        qsort(w[v], (size_t)iters, sizeof(double), cmp_d);
        printf("%-10s p10 %7.1f  median %7.1f  p90 %7.1f\n", names[v], w[v][iters / 10], w[v][iters / 2],
               w[v][iters * 9 / 10]);
    }
    if (bad)
        printf("timestamps out of order: %llu\n", (unsigned long long)bad);
    ZE_CHECK(zeFenceDestroy(f));
    ZE_CHECK(zeCommandListDestroy(le));
    ZE_CHECK(zeCommandListDestroy(lb));
    for (int i = 0; i < NEV; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeKernelDestroy(inc));
    ZE_CHECK(zeKernelDestroy(wc));
    hdt_fini(&t);
    return bad != 0;
}
