/* counters.c — what a dispatch costs besides time: malloc calls (the bench binary
 * interposes the malloc family, so every shared library in the process, driver
 * included, allocates through these functions) and Level Zero calls (the loader's
 * tracing layer). */
#include "bench/bench.h"

#include <level_zero/layers/zel_tracing_api.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ malloc */

#ifndef BENCH_NO_MALLOC_HOOK
/* glibc's own entry points: the interposers forward to them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

static uint64_t mallocs_process;
static _Thread_local uint64_t mallocs_thread; /* local-exec TLS: no allocation itself */

static void count_malloc(void)
{
    mallocs_thread++;
    __atomic_add_fetch(&mallocs_process, 1, __ATOMIC_RELAXED);
}

void bench_mallocs_read(struct bench_mallocs *out)
{
    out->this_thread = mallocs_thread;
    out->process = __atomic_load_n(&mallocs_process, __ATOMIC_RELAXED);
}

bool bench_mallocs_counted(void)
{
    return true;
}

/* Public on purpose: they replace libc's for the whole process (export_dynamic). */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
int posix_memalign(void **out, size_t align, size_t size);
void *aligned_alloc(size_t align, size_t size);
void *memalign(size_t align, size_t size);

void *malloc(size_t size)
{
    count_malloc();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_malloc();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count_malloc();
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    count_malloc();
    void *p = __libc_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
    count_malloc();
    return __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
    count_malloc();
    return __libc_memalign(align, size);
}

#else
/* Sanitizer builds: the sanitizer owns malloc; nothing is counted. */
void bench_mallocs_read(struct bench_mallocs *out)
{
    out->this_thread = out->process = 0;
}

bool bench_mallocs_counted(void)
{
    return false;
}
#endif

/* ------------------------------------------------------------------ tracing */

static uint64_t ze_calls, ze_allocs, ze_creates;
static zel_tracer_handle_t tracer;

void bench_ze_prepare(void)
{
    setenv("ZE_ENABLE_TRACING_LAYER", "1", 0);
}

/* Every tracing callback has the shape (params*, result, user, instance data**); one
 * function per counter serves all entry points of its kind. */
static void ZE_APICALL on_call(void *params, ze_result_t result, void *user, void **inst)
{
    (void)params, (void)result, (void)user, (void)inst;
    __atomic_add_fetch(&ze_calls, 1, __ATOMIC_RELAXED);
}

static void ZE_APICALL on_alloc(void *params, ze_result_t result, void *user, void **inst)
{
    on_call(params, result, user, inst);
    __atomic_add_fetch(&ze_allocs, 1, __ATOMIC_RELAXED);
}

static void ZE_APICALL on_create(void *params, ze_result_t result, void *user, void **inst)
{
    on_call(params, result, user, inst);
    __atomic_add_fetch(&ze_creates, 1, __ATOMIC_RELAXED);
}

typedef void(ZE_APICALL *any_cb)(void *, ze_result_t, void *, void **);
_Static_assert(sizeof(ze_callbacks_t) % sizeof(any_cb) == 0,
               "ze_callbacks_t holds only callback pointers");

#define SET(field, fn)                                                                             \
    do {                                                                                           \
        any_cb f_ = (fn);                                                                          \
        memcpy(&cbs.field, &f_, sizeof f_);                                                        \
    } while (0)

bool bench_ze_start(char *why, size_t why_size)
{
    const char *env = getenv("ZE_ENABLE_TRACING_LAYER");
    if (!env || strcmp(env, "1") != 0) {
        snprintf(why, why_size, "ZE_ENABLE_TRACING_LAYER is not 1");
        return false;
    }
    zel_tracer_desc_t desc = {ZEL_STRUCTURE_TYPE_TRACER_DESC, NULL, NULL};
    ze_result_t r = zelTracerCreate(&desc, &tracer);
    if (r != ZE_RESULT_SUCCESS) {
        snprintf(why, why_size, "zelTracerCreate failed (0x%x): tracing layer not loaded",
                 (unsigned)r);
        tracer = NULL;
        return false;
    }
    ze_callbacks_t cbs;
    any_cb fn = on_call;
    for (size_t i = 0; i < sizeof cbs / sizeof fn; i++)
        memcpy((char *)&cbs + i * sizeof fn, &fn, sizeof fn);
    SET(Mem.pfnAllocDeviceCb, on_alloc);
    SET(Mem.pfnAllocHostCb, on_alloc);
    SET(Mem.pfnAllocSharedCb, on_alloc);
    SET(CommandList.pfnCreateCb, on_create);
    SET(CommandList.pfnCreateImmediateCb, on_create);
    SET(Event.pfnCreateCb, on_create);
    SET(EventPool.pfnCreateCb, on_create);
    SET(Fence.pfnCreateCb, on_create);
    SET(Kernel.pfnCreateCb, on_create);
    SET(Module.pfnCreateCb, on_create);
    r = zelTracerSetPrologues(tracer, &cbs);
    if (r != ZE_RESULT_SUCCESS) {
        snprintf(why, why_size, "zelTracerSetPrologues failed (0x%x)", (unsigned)r);
        zelTracerDestroy(tracer);
        tracer = NULL;
        return false;
    }
    return true;
}

void bench_ze_enable(bool on)
{
    if (tracer)
        zelTracerSetEnabled(tracer, on);
}

void bench_ze_read(struct bench_ze *out)
{
    out->calls = __atomic_load_n(&ze_calls, __ATOMIC_RELAXED);
    out->allocs = __atomic_load_n(&ze_allocs, __ATOMIC_RELAXED);
    out->creates = __atomic_load_n(&ze_creates, __ATOMIC_RELAXED);
}

void bench_ze_stop(void)
{
    if (tracer) {
        zelTracerSetEnabled(tracer, 0);
        zelTracerDestroy(tracer);
        tracer = NULL;
    }
}
