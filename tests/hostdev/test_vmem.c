/* Virtual memory (issue 15, item 7), from the specification: page size, reserve,
 * physical memory, map (with aliasing: one physical object at two addresses),
 * access attributes and their query, unmap, free; kernels and copies on mapped
 * pages; refusals for misaligned, oversized, doubly mapped or foreign ranges; the
 * physical object and reservations outliving handles and contexts. */
#include "hd_test.h"

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    size_t ps = 0;
    ZE_OK(zeVirtualMemQueryPageSize(t.ctx, t.dev, 1, &ps), "page size");
    TAP_OK(ps >= 4096 && (ps & (ps - 1)) == 0, "page size %zu is a power of two", ps);

    /* The start is a hint (the specification lets the driver pick another address);
     * the validation layer refuses NULL, so a page-aligned hint is passed. */
    const void *hint = (const void *)(uintptr_t)((uintptr_t)1 << 36);
    uint8_t *va = NULL;
    ZE_OK(zeVirtualMemReserve(t.ctx, hint, 16 * ps, (void **)&va), "reserve 16 pages");
    TAP_OK(va && (uintptr_t)va % ps == 0, "the reservation is page aligned");
    uint8_t *hinted = NULL;
    ZE_OK(zeVirtualMemReserve(t.ctx, va + 64 * ps, 2 * ps, (void **)&hinted), "reserve with a start hint");
    TAP_EQ_INT(zeVirtualMemReserve(t.ctx, hint, ps + 1, (void **)&hinted), ZE_RESULT_ERROR_UNSUPPORTED_SIZE,
               "a size that is not a page multiple");
    TAP_EQ_INT(zeVirtualMemReserve(t.ctx, hint, 0, (void **)&hinted), ZE_RESULT_ERROR_UNSUPPORTED_SIZE, "size 0");

    ze_physical_mem_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_PHYSICAL_MEM_DESC, .size = 4 * ps };
    ze_physical_mem_handle_t phys, spare;
    ZE_OK(zePhysicalMemCreate(t.ctx, t.dev, &pd, &phys), "physical memory of 4 pages");
    ZE_OK(zePhysicalMemCreate(t.ctx, t.dev, &pd, &spare), "a second physical object");
    pd.size = ps + 3;
    ze_physical_mem_handle_t badp;
    TAP_EQ_INT(zePhysicalMemCreate(t.ctx, t.dev, &pd, &badp), ZE_RESULT_ERROR_UNSUPPORTED_SIZE,
               "physical size not a page multiple");

    ze_memory_access_attribute_t a = 99;
    size_t out = 0;
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va, 16 * ps, &a, &out), "access of the new reservation");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_NONE && out == 16 * ps, "all 16 pages inaccessible");

    /* The same physical pages at pages 2..5 and 8..11. */
    ZE_OK(zeVirtualMemMap(t.ctx, va + 2 * ps, 4 * ps, phys, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE), "map at page 2");
    ZE_OK(zeVirtualMemMap(t.ctx, va + 8 * ps, 2 * ps, phys, 2 * ps, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
          "map its last two pages again at page 8");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va + 2 * ps, 8 * ps, &a, &out), "access from page 2");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE && out == 4 * ps, "read-write for the 4 mapped pages");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va, 16 * ps, &a, &out), "access from page 0");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_NONE && out == 2 * ps, "the first 2 pages stay inaccessible");
    memset(va + 2 * ps, 0, 4 * ps);
    va[4 * ps + 5] = 42;
    TAP_EQ_INT(va[8 * ps + 5], 42, "a host write shows at the aliased address");

    /* A kernel and a copy on mapped pages. */
    uint32_t *words = (uint32_t *)(void *)(va + 2 * ps);
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc");
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof words, &words));
    ZE_CHECK(zeKernelSetGroupSize(k, 64, 1, 1));
    uint32_t nwords = (uint32_t)(4 * ps / 4);
    ze_group_count_t gc = { nwords / 64, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL));
    ZE_OK(hdt_run(&t), "inc over the mapped pages");
    const uint32_t *alias = (const uint32_t *)(const void *)(va + 8 * ps);
    TAP_OK(words[0] == 1 && words[nwords - 1] == 1 && alias[nwords / 2 - 1] == 1, "the kernel wrote them (seen twice)");
    uint8_t *dev = hdt_device_mem(&t, ps);
    ZE_CHECK(zeCommandListAppendMemoryFill(t.list, dev, &(uint8_t){ 0x3C }, 1, ps, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(t.list, va + 9 * ps, dev, ps, NULL, 0, NULL));
    ZE_OK(hdt_run(&t), "copy into the aliased mapping");
    TAP_OK(va[5 * ps] == 0x3C && va[6 * ps - 1] == 0x3C, "the copy shows through the first mapping");

    /* Access attributes. */
    ZE_OK(zeVirtualMemSetAccessAttribute(t.ctx, va + 3 * ps, ps, ZE_MEMORY_ACCESS_ATTRIBUTE_READONLY),
          "page 3 read-only");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va + 2 * ps, 4 * ps, &a, &out), "access from page 2");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE && out == ps, "page 2 alone is read-write");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va + 3 * ps, 3 * ps, &a, &out), "access from page 3");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_READONLY && out == ps, "page 3 is read-only");
    TAP_EQ_INT(words[ps / 4], 1, "a read-only page still reads");
    ZE_OK(zeVirtualMemSetAccessAttribute(t.ctx, va + 3 * ps, ps, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
          "page 3 read-write again");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va + 2 * ps, 4 * ps, &a, &out), "access from page 2 again");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE && out == 4 * ps, "the 4 pages are one read-write run again");
    TAP_EQ_INT(zeVirtualMemSetAccessAttribute(t.ctx, va, ps, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "an unmapped page takes no access");
    TAP_EQ_INT(zeVirtualMemSetAccessAttribute(t.ctx, va + 2 * ps, ps, (ze_memory_access_attribute_t)7),
               ZE_RESULT_ERROR_INVALID_ENUMERATION, "an unknown access");

    /* Refusals. */
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 3 * ps, ps, spare, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "mapping over mapped pages");
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 15 * ps, 2 * ps, spare, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "a range running past the reservation");
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 12 * ps, 2 * ps, spare, 3 * ps, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "a range running past the physical memory");
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 12 * ps + 8, ps, spare, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT, "a misaligned address");
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 12 * ps, ps, spare, 8, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT, "a misaligned offset");
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, va + 12 * ps, ps, NULL, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "no physical memory");
    uint8_t *heap = malloc(4 * ps);
    uint8_t *aligned = (uint8_t *)(((uintptr_t)heap + ps - 1) & ~(uintptr_t)(ps - 1));
    TAP_EQ_INT(zeVirtualMemMap(t.ctx, aligned, ps, spare, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE),
               ZE_RESULT_ERROR_INVALID_ARGUMENT, "memory that is not a reservation is never mapped over");
    free(heap);
    ZE_OK(zeVirtualMemMap(t.ctx, va + 12 * ps, ps, spare, 0, ZE_MEMORY_ACCESS_ATTRIBUTE_NONE),
          "a mapping without access");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va + 12 * ps, ps, &a, &out), "its access");
    TAP_EQ_INT(a, ZE_MEMORY_ACCESS_ATTRIBUTE_NONE, "none");

    /* Unmap, destroy the physical memory under a live mapping, free. */
    ZE_OK(zeVirtualMemUnmap(t.ctx, va + 2 * ps, 4 * ps), "unmap pages 2..5");
    ZE_OK(zeVirtualMemGetAccessAttribute(t.ctx, va, 8 * ps, &a, &out), "access after the unmap");
    TAP_OK(a == ZE_MEMORY_ACCESS_ATTRIBUTE_NONE && out == 8 * ps, "pages 0..7 inaccessible again");
    ZE_OK(zePhysicalMemDestroy(t.ctx, phys), "destroy the physical memory still mapped at page 8");
    TAP_EQ_INT(va[8 * ps + 5], 42, "the mapping keeps its pages");
    TAP_EQ_INT(zePhysicalMemDestroy(t.ctx, phys), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "a second destroy");
    TAP_EQ_INT(zeVirtualMemFree(t.ctx, va, 8 * ps), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "free must name the whole reservation");
    ZE_OK(zeVirtualMemFree(t.ctx, va, 16 * ps), "free the reservation (with a page still mapped)");
    TAP_EQ_INT(zeVirtualMemFree(t.ctx, va, 16 * ps), ZE_RESULT_ERROR_INVALID_ARGUMENT, "a second free");

    /* The hinted reservation is left to the context's destroy; the spare physical
     * object outlives the context. */
    ZE_CHECK(zeMemFree(t.ctx, dev));
    ZE_CHECK(zeKernelDestroy(k));
    ze_context_handle_t ctx = t.ctx;
    hdt_fini(&t);
    ZE_OK(zePhysicalMemDestroy(ctx, spare), "physical memory destroyed after its context");
    return tap_exit();
}
