/* Execution cost (issue 15): hostdev's own code allocates nothing per executed list.
 * This program replaces the malloc family for the whole process (as bench/ does) and
 * attributes each call to the shared object that made it, by its return address:
 * hostdev, PoCL, or anything else (libstdc++'s operator new for PoCL's C++ and LLVM,
 * the loader, libc). A list shaped like one of zmoe's layer calls (five launches,
 * each signalling a timestamp event the next one waits on, an indirect launch, a
 * copy) runs with a fence, warmed up, then 200 times counted; the same for an
 * immediate list. hostdev's count must be 0; PoCL's share is reported. Not built for
 * sanitizer runs (the sanitizer owns malloc). */
#include "hd_test.h"

#include <link.h>

#if defined(__SANITIZE_ADDRESS__)
int main(void)
{
    tap_skip(1, "malloc is the sanitizer's in this build");
    return tap_exit();
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

enum { BY_HOSTDEV, BY_POCL, BY_OTHER, NBY };
static uint64_t counts[NBY];
static uintptr_t lo[2], hi[2];   /* text ranges of hostdev and PoCL */
static int counting;

static void count(void *ra)
{
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED))
        return;
    uintptr_t a = (uintptr_t)ra;
    int by = a >= lo[0] && a < hi[0] ? BY_HOSTDEV : a >= lo[1] && a < hi[1] ? BY_POCL : BY_OTHER;
    __atomic_add_fetch(&counts[by], 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
int posix_memalign(void **out, size_t align, size_t size);
void *aligned_alloc(size_t align, size_t size);
void *memalign(size_t align, size_t size);
void *malloc(size_t size) { count(__builtin_return_address(0)); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(__builtin_return_address(0)); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(__builtin_return_address(0)); return __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }
void *aligned_alloc(size_t align, size_t size) { count(__builtin_return_address(0)); return __libc_memalign(align, size); }
void *memalign(size_t align, size_t size) { count(__builtin_return_address(0)); return __libc_memalign(align, size); }
int posix_memalign(void **out, size_t align, size_t size)
{
    count(__builtin_return_address(0));
    void *p = __libc_memalign(align, size);
    if (!p)
        return 12;
    *out = p;
    return 0;
}

static int find_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *n = info->dlpi_name ? info->dlpi_name : "";
    int which = strstr(n, "libze_hostdev") ? 0 : strstr(n, "libpocl") ? 1 : -1;
    if (which < 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (!lo[which] || a < lo[which])
            lo[which] = a;
        if (b > hi[which])
            hi[which] = b;
    }
    return 0;
}

enum { NSTAGE = 5, WARM = 20, RUNS = 200, IMM_WARM = 80 };

static void record(struct hdt *t, ze_command_list_handle_t l, ze_kernel_handle_t inc, ze_kernel_handle_t wc,
                   ze_event_handle_t *ev, const ze_group_count_t *gc, void *dst, const void *src)
{
    ze_group_count_t one = { 1, 1, 1 }, g = { 16, 1, 1 };
    (void)t;
    for (int i = 0; i < NSTAGE; i++)
        ZE_CHECK(zeCommandListAppendEventReset(l, ev[i]));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l, wc, &one, ev[0], 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(l, inc, gc, ev[1], 1, &ev[0]));
    for (int i = 2; i < NSTAGE; i++)
        ZE_CHECK(zeCommandListAppendLaunchKernel(l, inc, &g, ev[i], 1, &ev[i - 1]));
    ZE_CHECK(zeCommandListAppendMemoryCopy(l, dst, src, 256, NULL, 1, &ev[NSTAGE - 1]));
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    dl_iterate_phdr(find_ranges, NULL);
    TAP_OK(lo[0] && lo[1], "found hostdev and PoCL in the process");
    ze_kernel_handle_t inc = hdt_kernel(t.mod, "inc"), wc = hdt_kernel(t.mod, "write_counts");
    ZE_CHECK(zeKernelSetGroupSize(inc, 64, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    uint32_t *data = hdt_shared(&t, 16 * 64 * sizeof(uint32_t));
    memset(data, 0, 16 * 64 * sizeof(uint32_t));
    ze_group_count_t *gc = hdt_device_mem(&t, sizeof *gc);
    uint32_t x = 16;
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof gc, &gc));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
    uint8_t *out = hdt_shared(&t, 256);
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, .count = NSTAGE,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP };
    ze_event_pool_handle_t pool;
    ze_event_handle_t ev[NSTAGE];
    ZE_CHECK(zeEventPoolCreate(t.ctx, &pd, 0, NULL, &pool));
    for (uint32_t i = 0; i < NSTAGE; i++)
        ZE_CHECK(zeEventCreate(pool, &(ze_event_desc_t){ .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i }, &ev[i]));
    record(&t, t.list, inc, wc, ev, gc, out, data);
    ZE_CHECK(zeCommandListClose(t.list));
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t.q, &(ze_fence_desc_t){ .stype = ZE_STRUCTURE_TYPE_FENCE_DESC }, &f));
    ze_kernel_timestamp_result_t ts;
    for (int r = 0; r < WARM + RUNS; r++) {
        if (r == WARM)
            __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
        ZE_CHECK(zeFenceReset(f));
        ZE_CHECK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, f));
        ZE_CHECK(zeFenceHostSynchronize(f, UINT64_MAX));
        ZE_CHECK(zeEventQueryKernelTimestamp(ev[NSTAGE - 1], &ts));
    }
    __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
    uint64_t c[NBY];
    memcpy(c, counts, sizeof c);
    TAP_EQ_INT(data[0], 4 * (WARM + RUNS), "the list ran %d times (four inc launches each)", WARM + RUNS);
    TAP_EQ_INT(c[BY_HOSTDEV], 0, "hostdev's own code: no malloc in %d executions (execute, fence wait, query)",
               RUNS);
    tap_diag("mallocs per executed list: hostdev %.2f, PoCL %.2f, other (libstdc++/LLVM/libc/loader) %.2f",
             (double)c[BY_HOSTDEV] / RUNS, (double)c[BY_POCL] / RUNS, (double)c[BY_OTHER] / RUNS);

    /* The same commands on an immediate list, appended each time. */
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_list_handle_t imm;
    ZE_CHECK(zeCommandListCreateImmediate(t.ctx, t.dev, &qd, &imm));
    memset(counts, 0, sizeof counts);
    for (int r = 0; r < IMM_WARM + RUNS; r++) {
        if (r == IMM_WARM)
            __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
        record(&t, imm, inc, wc, ev, gc, out, data);
        ZE_CHECK(zeEventHostSynchronize(ev[NSTAGE - 1], UINT64_MAX));
        ZE_CHECK(zeCommandListAppendBarrier(imm, NULL, 0, NULL));
    }
    __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
    memcpy(c, counts, sizeof c);
    ZE_CHECK(zeCommandListDestroy(imm));
    TAP_EQ_INT(c[BY_HOSTDEV], 0, "immediate list: no malloc by hostdev in %d rounds of %d appends", RUNS,
               2 * NSTAGE + 2);
    tap_diag("mallocs per round on the immediate list: hostdev %.2f, PoCL %.2f, other %.2f",
             (double)c[BY_HOSTDEV] / RUNS, (double)c[BY_POCL] / RUNS, (double)c[BY_OTHER] / RUNS);

    ZE_CHECK(zeFenceDestroy(f));
    for (int i = 0; i < NSTAGE; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeMemFree(t.ctx, data));
    ZE_CHECK(zeMemFree(t.ctx, gc));
    ZE_CHECK(zeMemFree(t.ctx, out));
    ZE_CHECK(zeKernelDestroy(inc));
    ZE_CHECK(zeKernelDestroy(wc));
    hdt_fini(&t);
    return tap_exit();
}
#endif
