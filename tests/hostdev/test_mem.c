/* Memory: allocation kinds, alignment, properties and address ranges, bad frees,
 * and the HOSTDEV_DEVICE_MEMORY cap (re-read at every zeContextCreate). */
#include "hd_test.h"

static ze_context_handle_t new_context(ze_driver_handle_t drv)
{
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t c = NULL;
    ZE_CHECK(zeContextCreate(drv, &cd, &c));
    return c;
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 0, 0);
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    void *d = NULL, *h = NULL, *s = NULL;
    ZE_OK(zeMemAllocDevice(t.ctx, &dd, 1000, 0, t.dev, &d), "device alloc");
    ZE_OK(zeMemAllocHost(t.ctx, &hd, 1000, 0, &h), "host alloc");
    ZE_OK(zeMemAllocShared(t.ctx, &dd, &hd, 1000, 0, t.dev, &s), "shared alloc");
    TAP_OK(d && h && s && d != h && h != s && d != s, "three distinct pointers");
    memset(h, 1, 1000);   /* host and shared memory are host accessible */
    memset(s, 2, 1000);

    struct { void *p; ze_memory_type_t type; const char *what; } kinds[] = {
        { d, ZE_MEMORY_TYPE_DEVICE, "device" }, { h, ZE_MEMORY_TYPE_HOST, "host" },
        { s, ZE_MEMORY_TYPE_SHARED, "shared" } };
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ze_memory_allocation_properties_t ap = { .stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES };
        ze_device_handle_t owner = (ze_device_handle_t)1;
        ZE_OK(zeMemGetAllocProperties(t.ctx, (char *)kinds[i].p + 999, &ap, &owner), "%s properties", kinds[i].what);
        TAP_EQ_INT(ap.type, kinds[i].type, "%s type (queried through an interior pointer)", kinds[i].what);
        TAP_OK(kinds[i].type == ZE_MEMORY_TYPE_HOST ? owner == NULL : owner == t.dev, "%s owner device",
               kinds[i].what);
        ids[i] = ap.id;
        void *base = NULL;
        size_t size = 0;
        ZE_OK(zeMemGetAddressRange(t.ctx, (char *)kinds[i].p + 10, &base, &size), "%s address range", kinds[i].what);
        TAP_OK(base == kinds[i].p && size == 1000, "%s range is [base, base+1000)", kinds[i].what);
    }
    TAP_OK(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "allocation ids are unique");

    int stack_var = 0;
    ze_memory_allocation_properties_t ap = { .stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES };
    ZE_OK(zeMemGetAllocProperties(t.ctx, &stack_var, &ap, NULL), "properties of a foreign pointer");
    TAP_EQ_INT(ap.type, ZE_MEMORY_TYPE_UNKNOWN, "foreign pointer is UNKNOWN");
    ZE_OK(zeMemGetAllocProperties(t.ctx, (char *)d + 1000, &ap, NULL), "properties one past the end");
    TAP_EQ_INT(ap.type, ZE_MEMORY_TYPE_UNKNOWN, "one past the end is not inside the allocation");

    /* Alignment. */
    static const size_t aligns[] = { 1, 64, 256, 4096, 65536 };
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        void *p = NULL;
        ZE_OK(zeMemAllocDevice(t.ctx, &dd, 100, aligns[i], t.dev, &p), "device alloc aligned %zu", aligns[i]);
        TAP_OK(p && (uintptr_t)p % aligns[i] == 0, "pointer %p aligned to %zu", p, aligns[i]);
        void *base = NULL;
        size_t size = 0;
        ZE_OK(zeMemGetAddressRange(t.ctx, p, &base, &size), "range of aligned allocation");
        TAP_OK(base == p && size == 100, "aligned allocation's range starts at the returned pointer");
        ZE_OK(zeMemFree(t.ctx, p), "free aligned allocation");
    }

    /* Bad use. */
    void *p = NULL;
    TAP_EQ_INT(zeMemAllocDevice(t.ctx, &dd, 0, 0, t.dev, &p), ZE_RESULT_ERROR_UNSUPPORTED_SIZE, "size 0");
    TAP_EQ_INT(zeMemAllocDevice(t.ctx, &dd, 64, 3, t.dev, &p), ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT,
               "alignment 3");
    TAP_EQ_INT(zeMemAllocDevice(NULL, &dd, 64, 0, t.dev, &p), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "NULL context");
    TAP_EQ_INT(zeMemFree(t.ctx, &stack_var), ZE_RESULT_ERROR_INVALID_ARGUMENT, "free of an unknown pointer");
    TAP_EQ_INT(zeMemFree(t.ctx, (char *)d + 8), ZE_RESULT_ERROR_INVALID_ARGUMENT, "free of an interior pointer");
    ZE_OK(zeMemFree(t.ctx, d), "free device");
    TAP_EQ_INT(zeMemFree(t.ctx, d), ZE_RESULT_ERROR_INVALID_ARGUMENT, "double free");
    ZE_OK(zeMemFree(t.ctx, h), "free host");
    ZE_OK(zeMemFree(t.ctx, s), "free shared");

    /* Device memory cap, read when a context is created. */
    setenv("HOSTDEV_DEVICE_MEMORY", "1048576", 1);
    ze_context_handle_t capped = new_context(t.drv);
    uint32_t n = 1;
    ze_device_memory_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES };
    ZE_OK(zeDeviceGetMemoryProperties(t.dev, &n, &mp), "memory properties under a cap");
    TAP_EQ_INT(mp.totalSize, 1048576, "memory size reports the cap");
    void *a = NULL, *b = NULL, *c = NULL;
    ZE_OK(zeMemAllocDevice(capped, &dd, 600 * 1024, 0, t.dev, &a), "600 KiB fits under 1 MiB");
    TAP_EQ_INT(zeMemAllocDevice(capped, &dd, 600 * 1024, 0, t.dev, &b), ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY,
               "another 600 KiB exceeds the cap");
    TAP_EQ_INT(zeMemAllocShared(capped, &dd, &hd, 600 * 1024, 0, t.dev, &b), ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY,
               "shared memory counts against the cap");
    ZE_OK(zeMemAllocHost(capped, &hd, 2 * 1048576, 0, &c), "host memory does not count");
    ZE_OK(zeMemAllocDevice(capped, &dd, 400 * 1024, 0, t.dev, &b), "400 KiB still fits");
    ZE_OK(zeMemFree(capped, a), "free 600 KiB");
    ZE_OK(zeMemAllocDevice(capped, &dd, 600 * 1024, 0, t.dev, &a), "freed memory is available again");
    ZE_OK(zeMemFree(capped, a), "free");
    ZE_OK(zeMemFree(capped, c), "free host");
    /* b is left to the context: destroying it releases what it still owns. */
    ZE_OK(zeContextDestroy(capped), "destroy capped context with a live allocation");

    unsetenv("HOSTDEV_DEVICE_MEMORY");
    ze_context_handle_t free_ctx = new_context(t.drv);
    ZE_OK(zeMemAllocDevice(free_ctx, &dd, 4 * 1048576, 0, t.dev, &a), "no cap in the next context");
    TAP_EQ_INT(zeMemFree(t.ctx, a), ZE_RESULT_ERROR_INVALID_ARGUMENT, "freeing through another context is refused");
    ZE_OK(zeMemFree(free_ctx, a), "free in its own context");
    ZE_OK(zeContextDestroy(free_ctx), "destroy");
    hdt_fini(&t);
    return tap_exit();
}
