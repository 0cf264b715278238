/* mem.c — USM allocations. Every kind (host, device, shared) is PoCL SVM, so the
 * CPU "device" and the host see the same bytes; the table keeps what Level Zero
 * must answer about a pointer (base, size, type, device) and the cap. */
#include "hd.h"

#include <stdlib.h>
#include <string.h>

/* PoCL honours SVM alignments up to the largest OpenCL type (long16/double16). */
#define HD_SVM_NATIVE_ALIGN 128

/* Index of the allocation containing p, or -1. Called with hd.mem_lock held. */
static ptrdiff_t find_locked(uintptr_t p)
{
    size_t lo = 0, hi = hd.nallocs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (hd.allocs[mid].base <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct hd_alloc *a = &hd.allocs[lo - 1];
    return p - a->base < a->size ? (ptrdiff_t)(lo - 1) : -1;
}

static void remove_locked(size_t i)
{
    memmove(&hd.allocs[i], &hd.allocs[i + 1], (hd.nallocs - i - 1) * sizeof *hd.allocs);
    hd.nallocs--;
}

static ze_result_t alloc(struct hd_context *c, ze_memory_type_t type, struct hd_device *dev, size_t size,
                         size_t align, void **pptr)
{
    if (size == 0)
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;
    if (align & (align - 1))
        return ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT;
    if (size > hd.max_alloc)
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;
    bool counted = type != ZE_MEMORY_TYPE_HOST;
    /* Larger alignments than PoCL's are made by over-allocating and rounding up. */
    size_t extra = align > HD_SVM_NATIVE_ALIGN ? align : 0;
    if (size + extra < size)
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;

    pthread_mutex_lock(&hd.mem_lock);
    if (counted && c->mem_cap && (size > c->mem_cap || c->mem_used > c->mem_cap - size)) {
        pthread_mutex_unlock(&hd.mem_lock);
        return ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY;
    }
    if (hd.nallocs == hd.allocs_cap) {
        size_t ncap = hd.allocs_cap ? hd.allocs_cap * 2 : 64;
        struct hd_alloc *n = realloc(hd.allocs, ncap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&hd.mem_lock);
            return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
        }
        hd.allocs = n;
        hd.allocs_cap = ncap;
    }
    void *raw = clSVMAlloc(hd.clctx, CL_MEM_READ_WRITE, size + extra,
                           align && align <= HD_SVM_NATIVE_ALIGN ? (cl_uint)align : 0);
    if (!raw) {
        pthread_mutex_unlock(&hd.mem_lock);
        return counted ? ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY : ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    uintptr_t base = (uintptr_t)raw;
    if (align > 1)
        base = (base + align - 1) & ~(uintptr_t)(align - 1);
    struct hd_alloc a = { .base = base, .size = size, .raw = raw, .type = type, .dev = dev, .ctx = c,
                          .id = ++hd.next_alloc_id };
    size_t i = hd.nallocs;
    while (i > 0 && hd.allocs[i - 1].base > base)
        i--;
    memmove(&hd.allocs[i + 1], &hd.allocs[i], (hd.nallocs - i) * sizeof *hd.allocs);
    hd.allocs[i] = a;
    hd.nallocs++;
    if (counted)
        c->mem_used += size;
    pthread_mutex_unlock(&hd.mem_lock);
    *pptr = (void *)base;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeMemAllocDevice(ze_context_handle_t h, const ze_device_mem_alloc_desc_t *desc,
                                           size_t size, size_t align, ze_device_handle_t hDevice, void **pptr)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    HD_OBJECT(struct hd_device, d, hd_device, hDevice);
    if (!desc || !pptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0x7)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return alloc(c, ZE_MEMORY_TYPE_DEVICE, d, size, align, pptr);
}

ze_result_t ZE_APICALL hd_zeMemAllocHost(ze_context_handle_t h, const ze_host_mem_alloc_desc_t *desc, size_t size,
                                         size_t align, void **pptr)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    if (!desc || !pptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0xf)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return alloc(c, ZE_MEMORY_TYPE_HOST, NULL, size, align, pptr);
}

ze_result_t ZE_APICALL hd_zeMemAllocShared(ze_context_handle_t h, const ze_device_mem_alloc_desc_t *ddesc,
                                           const ze_host_mem_alloc_desc_t *hdesc, size_t size, size_t align,
                                           ze_device_handle_t hDevice, void **pptr)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    struct hd_device *d = NULL;
    if (hDevice && !(d = hd_device(hDevice)))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!ddesc || !hdesc || !pptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (ddesc->flags > 0x7 || hdesc->flags > 0xf)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return alloc(c, ZE_MEMORY_TYPE_SHARED, d, size, align, pptr);
}

static ze_result_t mem_free(ze_context_handle_t h, void *ptr)
{
    struct hd_context *c = hd_context(h);
    if (!c) {
        /* zeContextDestroy freed what the context still owned: freeing it again
         * afterwards (a common teardown order) has nothing left to do. */
        if (ptr && hd_context_was_destroyed(h))
            return hd_mem_type(ptr) == ZE_MEMORY_TYPE_UNKNOWN ? ZE_RESULT_SUCCESS
                                                              : ZE_RESULT_ERROR_INVALID_ARGUMENT;
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    }
    if (!ptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    hd_quiesce(c);
    pthread_mutex_lock(&hd.mem_lock);
    ptrdiff_t i = find_locked((uintptr_t)ptr);
    if (i < 0 || hd.allocs[i].base != (uintptr_t)ptr || hd.allocs[i].ctx != c) {
        pthread_mutex_unlock(&hd.mem_lock);
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    struct hd_alloc a = hd.allocs[i];
    remove_locked((size_t)i);
    if (a.type != ZE_MEMORY_TYPE_HOST)
        c->mem_used -= a.size;
    pthread_mutex_unlock(&hd.mem_lock);
    clSVMFree(hd.clctx, a.raw);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeMemFree(ze_context_handle_t h, void *ptr)
{
    HD_ENTRY();
    return mem_free(h, ptr);
}

/* Every policy (immediate, blocking, deferred) frees once the work submitted so far
 * is done, which is what zeMemFree does already. */
ze_result_t ZE_APICALL hd_zeMemFreeExt(ze_context_handle_t h, const ze_memory_free_ext_desc_t *desc, void *ptr)
{
    HD_ENTRY();
    if (!desc)
        return hd_context(h) ? ZE_RESULT_ERROR_INVALID_NULL_POINTER : ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (desc->freePolicy > 0x3)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return mem_free(h, ptr);
}

void hd_mem_release_context(struct hd_context *c)
{
    pthread_mutex_lock(&hd.mem_lock);
    for (size_t i = hd.nallocs; i-- > 0;) {
        if (hd.allocs[i].ctx != c)
            continue;
        clSVMFree(hd.clctx, hd.allocs[i].raw);
        remove_locked(i);
    }
    if (hd.nallocs == 0) {
        free(hd.allocs);
        hd.allocs = NULL;
        hd.allocs_cap = 0;
    }
    pthread_mutex_unlock(&hd.mem_lock);
}

ze_memory_type_t hd_mem_type(const void *ptr)
{
    pthread_mutex_lock(&hd.mem_lock);
    ptrdiff_t i = find_locked((uintptr_t)ptr);
    ze_memory_type_t t = i < 0 ? ZE_MEMORY_TYPE_UNKNOWN : hd.allocs[i].type;
    pthread_mutex_unlock(&hd.mem_lock);
    return t;
}

ze_result_t ZE_APICALL hd_zeMemGetAllocProperties(ze_context_handle_t h, const void *ptr,
                                                  ze_memory_allocation_properties_t *p, ze_device_handle_t *phDevice)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    if (!ptr || !p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    pthread_mutex_lock(&hd.mem_lock);
    ptrdiff_t i = find_locked((uintptr_t)ptr);
    if (i >= 0 && hd.allocs[i].ctx != c)
        i = -1;
    p->type = i < 0 ? ZE_MEMORY_TYPE_UNKNOWN : hd.allocs[i].type;
    p->id = i < 0 ? 0 : hd.allocs[i].id;
    p->pageSize = i < 0 ? 0 : 4096;
    if (phDevice)
        *phDevice = i < 0 ? NULL : (ze_device_handle_t)hd.allocs[i].dev;
    pthread_mutex_unlock(&hd.mem_lock);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeMemGetAddressRange(ze_context_handle_t h, const void *ptr, void **pBase, size_t *pSize)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    if (!ptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    pthread_mutex_lock(&hd.mem_lock);
    ptrdiff_t i = find_locked((uintptr_t)ptr);
    if (i < 0 || hd.allocs[i].ctx != c) {
        pthread_mutex_unlock(&hd.mem_lock);
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    if (pBase)
        *pBase = (void *)hd.allocs[i].base;
    if (pSize)
        *pSize = hd.allocs[i].size;
    pthread_mutex_unlock(&hd.mem_lock);
    return ZE_RESULT_SUCCESS;
}
