/* System (malloc) memory on a CPU device (issue 15, item 8): the device reports the
 * shared-system capability, and kernels and copies take pointers from malloc, the
 * stack and static storage. Allocation queries on such pointers say UNKNOWN, as the
 * specification wants for memory the driver did not allocate. */
#include "hd_test.h"

static uint32_t statics[256];

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_device_memory_access_properties_t ap = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_ACCESS_PROPERTIES };
    ZE_OK(zeDeviceGetMemoryAccessProperties(t.dev, &ap), "memory access properties");
    TAP_OK(ap.sharedSystemAllocCapabilities & ZE_MEMORY_ACCESS_CAP_FLAG_RW, "shared-system memory: read/write");
    TAP_OK(ap.sharedSystemAllocCapabilities & ZE_MEMORY_ACCESS_CAP_FLAG_CONCURRENT,
           "shared-system memory: concurrent access");

    enum { N = 1000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 0.5f * (float)i;
        c[i] = -1.0f;
    }
    ze_kernel_handle_t k = hdt_kernel(t.mod, "vadd");
    uint32_t n = N;
    ZE_CHECK(zeKernelSetGroupSize(k, 8, 1, 1));
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof a, &a), "malloc pointer as a kernel argument");
    ZE_CHECK(zeKernelSetArgumentValue(k, 1, sizeof b, &b));
    ZE_CHECK(zeKernelSetArgumentValue(k, 2, sizeof c, &c));
    ZE_CHECK(zeKernelSetArgumentValue(k, 3, sizeof n, &n));
    ze_group_count_t gc = { N / 8, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL), "launch on malloc memory");
    ZE_OK(hdt_run(&t), "run");
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += c[i] != 1.5f * (float)i;
    TAP_EQ_INT(bad, 0, "the kernel read and wrote malloc memory");

    /* Copies and fills between malloc, static and device memory. */
    uint32_t *dev = hdt_device_mem(&t, sizeof statics);
    uint32_t *heap = malloc(sizeof statics);
    for (int i = 0; i < 256; i++)
        statics[i] = (uint32_t)i * 3u;
    uint32_t pat = 0x5EED5EEDu;
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, dev, statics, sizeof statics, NULL, 0, NULL), "static -> device");
    ZE_CHECK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL));
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, heap, dev, sizeof statics, NULL, 0, NULL), "device -> malloc");
    ZE_CHECK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL));
    ZE_OK(zeCommandListAppendMemoryFill(t.list, statics, &pat, 4, 64, NULL, 0, NULL), "fill of static memory");
    ZE_OK(hdt_run(&t), "run the copies");
    TAP_OK(heap[255] == 255u * 3u && heap[1] == 3u, "static -> device -> malloc");
    TAP_OK(statics[0] == pat && statics[15] == pat && statics[16] == 48u, "the fill of static memory");

    /* A kernel on a malloc pointer with a global offset into it (pointer arithmetic
     * inside the kernel on memory the driver never saw). */
    ze_kernel_handle_t inc = hdt_kernel(t.mod, "inc");
    uint32_t *counts = calloc(4096, sizeof *counts);
    uint32_t *mid = counts + 1024;
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof mid, &mid));
    ZE_CHECK(zeKernelSetGroupSize(inc, 64, 1, 1));
    ze_group_count_t g2 = { 16, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, inc, &g2, NULL, 0, NULL));
    ZE_OK(hdt_run(&t), "inc on an interior malloc pointer");
    TAP_OK(counts[1023] == 0 && counts[1024] == 1 && counts[2047] == 1 && counts[2048] == 0,
           "exactly the 1024 words after the pointer were incremented");

    ze_memory_allocation_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES };
    ZE_OK(zeMemGetAllocProperties(t.ctx, heap, &mp, NULL), "allocation properties of a malloc pointer");
    TAP_EQ_INT(mp.type, ZE_MEMORY_TYPE_UNKNOWN, "a malloc pointer is not a driver allocation");
    TAP_EQ_INT(zeMemFree(t.ctx, heap), ZE_RESULT_ERROR_INVALID_ARGUMENT, "zeMemFree refuses a malloc pointer");

    free(counts);
    free(heap);
    free(a);
    free(b);
    free(c);
    ZE_CHECK(zeMemFree(t.ctx, dev));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeKernelDestroy(inc));
    hdt_fini(&t);
    return tap_exit();
}
