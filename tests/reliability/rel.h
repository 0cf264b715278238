/* rel.h — helpers of the reliability tests: a mini config, a Level Zero object tracker
 * on the loader's tracing layer (ZE_ENABLE_TRACING_LAYER=1), stderr capture (for
 * hostdev's fault log), RSS and open-descriptor counts, one forward through the ring.
 * Test code: it may allocate, but never inside a malloc-counting window. */
#ifndef ZMOE_REL_H
#define ZMOE_REL_H

#include "config/config.h"
#include "runtime/rt_util.h"
#include "tap.h"
#include "zmoe.h"

#include <level_zero/layers/zel_tracing_api.h>
#include <level_zero/layers/zel_tracing_register_cb.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ config */

/* tests/runtime's base config (8 experts, top-2, H 64, I 32, ring of 2) on 2 layers:
 * every stage, both layers. */
static inline struct zmoe_config rel_config(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 2;
    return c;
}

static inline void rel_inputs(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 0x1234567ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 2685821657736338717ull;
        x[i] = (float)((int)(r >> 40) % 2001 - 1000) / 500.0f;
    }
}

/* One forward through the ring (f32 activations). On failure err holds the message. */
static inline enum zmoe_status rel_forward(struct zmoe_runtime *rt, const struct zmoe_config *c,
                                           uint32_t layer, const float *x, uint32_t tokens,
                                           float *y, struct zmoe_error *err)
{
    struct zmoe_slot slot;
    size_t n = (size_t)tokens * c->model.hidden;
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, err);
    if (st)
        return st;
    memcpy(slot.input_host, x, n * sizeof *x);
    st = zmoe_submit(rt, &slot, layer, tokens, err);
    if (st)
        return st;
    st = zmoe_wait(rt, &slot, UINT64_MAX, err);
    if (st)
        return st;
    memcpy(y, slot.output_host, n * sizeof *y);
    return ZMOE_OK;
}

/* ------------------------------------------------------- Level Zero tracker */

enum rel_kind {
    REL_CONTEXT = 0,
    REL_QUEUE,
    REL_LIST,
    REL_FENCE,
    REL_EVENT_POOL,
    REL_EVENT,
    REL_MODULE,
    REL_BUILD_LOG,
    REL_KERNEL,
    REL_MEM,
    REL_KIND_COUNT
};
static const char *const rel_kind_name[REL_KIND_COUNT] = {
    "context", "command queue", "command list", "fence", "event pool",
    "event", "module", "module build log", "kernel", "memory allocation"};

#define REL_TRACK_MAX 4096
static struct {
    pthread_mutex_t lock;
    const void *live[REL_KIND_COUNT][REL_TRACK_MAX];
    uint32_t nlive[REL_KIND_COUNT];
    uint64_t created[REL_KIND_COUNT], destroyed[REL_KIND_COUNT];
    uint64_t unknown_destroys; /* destroy/free of a handle not created while tracking */
    uint64_t failed_destroys;  /* destroy/free returning an error */
    uint64_t overflow;
    uint64_t context_attempts; /* zeContextCreate calls, failed ones too (never reset) */
    uint64_t calls;            /* every traced call (generic tracer) */
    uint64_t calls_failed;     /* ... that returned neither SUCCESS nor NOT_READY */
    zel_tracer_handle_t tracer, counter;
    int enabled;
} rel_trk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline void rel_trk_add(enum rel_kind k, const void *h)
{
    pthread_mutex_lock(&rel_trk.lock);
    rel_trk.created[k]++;
    if (rel_trk.nlive[k] < REL_TRACK_MAX)
        rel_trk.live[k][rel_trk.nlive[k]++] = h;
    else
        rel_trk.overflow++;
    pthread_mutex_unlock(&rel_trk.lock);
}

static inline void rel_trk_del(enum rel_kind k, const void *h, ze_result_t r)
{
    if (!h)
        return;
    pthread_mutex_lock(&rel_trk.lock);
    if (r != ZE_RESULT_SUCCESS) {
        rel_trk.failed_destroys++;
    } else {
        uint32_t i = 0;
        while (i < rel_trk.nlive[k] && rel_trk.live[k][i] != h)
            i++;
        if (i == rel_trk.nlive[k]) {
            rel_trk.unknown_destroys++;
        } else {
            rel_trk.live[k][i] = rel_trk.live[k][--rel_trk.nlive[k]];
            rel_trk.destroyed[k]++;
        }
    }
    pthread_mutex_unlock(&rel_trk.lock);
}

#define REL_CREATE_CB(Name, kind, handle_expr)                                                 \
    static void ZE_APICALL rel_cb_##Name(ze_##Name##_params_t *p, ze_result_t r, void *u,      \
                                         void **inst)                                          \
    {                                                                                          \
        (void)u, (void)inst;                                                                   \
        if (r == ZE_RESULT_SUCCESS && (handle_expr))                                           \
            rel_trk_add(kind, (handle_expr));                                                  \
    }
#define REL_DESTROY_CB(Name, kind, handle_expr)                                                \
    static void ZE_APICALL rel_cb_##Name(ze_##Name##_params_t *p, ze_result_t r, void *u,      \
                                         void **inst)                                          \
    {                                                                                          \
        (void)u, (void)inst;                                                                   \
        rel_trk_del(kind, (handle_expr), r);                                                   \
    }

static void ZE_APICALL rel_cb_context_create(ze_context_create_params_t *p, ze_result_t r, void *u,
                                             void **inst)
{
    (void)u, (void)inst;
    __atomic_add_fetch(&rel_trk.context_attempts, 1, __ATOMIC_RELAXED);
    if (r == ZE_RESULT_SUCCESS && **p->pphContext)
        rel_trk_add(REL_CONTEXT, **p->pphContext);
}
REL_DESTROY_CB(context_destroy, REL_CONTEXT, *p->phContext)
REL_CREATE_CB(command_queue_create, REL_QUEUE, **p->pphCommandQueue)
REL_DESTROY_CB(command_queue_destroy, REL_QUEUE, *p->phCommandQueue)
REL_CREATE_CB(command_list_create, REL_LIST, **p->pphCommandList)
REL_CREATE_CB(command_list_create_immediate, REL_LIST, **p->pphCommandList)
REL_DESTROY_CB(command_list_destroy, REL_LIST, *p->phCommandList)
REL_CREATE_CB(fence_create, REL_FENCE, **p->pphFence)
REL_DESTROY_CB(fence_destroy, REL_FENCE, *p->phFence)
REL_CREATE_CB(event_pool_create, REL_EVENT_POOL, **p->pphEventPool)
REL_DESTROY_CB(event_pool_destroy, REL_EVENT_POOL, *p->phEventPool)
REL_CREATE_CB(event_create, REL_EVENT, **p->pphEvent)
REL_DESTROY_CB(event_destroy, REL_EVENT, *p->phEvent)
REL_CREATE_CB(kernel_create, REL_KERNEL, **p->pphKernel)
REL_DESTROY_CB(kernel_destroy, REL_KERNEL, *p->phKernel)
REL_DESTROY_CB(module_destroy, REL_MODULE, *p->phModule)
REL_DESTROY_CB(module_build_log_destroy, REL_BUILD_LOG, *p->phModuleBuildLog)
REL_CREATE_CB(mem_alloc_device, REL_MEM, **p->ppptr)
REL_CREATE_CB(mem_alloc_host, REL_MEM, **p->ppptr)
REL_CREATE_CB(mem_alloc_shared, REL_MEM, **p->ppptr)
REL_DESTROY_CB(mem_free, REL_MEM, *p->pptr)

/* A module build log exists after zeModuleCreate whenever one was asked for, even when
 * the build failed (the spec lets the caller read why). */
static void ZE_APICALL rel_cb_module_create(ze_module_create_params_t *p, ze_result_t r, void *u,
                                            void **inst)
{
    (void)u, (void)inst;
    if (r == ZE_RESULT_SUCCESS && *p->pphModule)
        rel_trk_add(REL_MODULE, **p->pphModule);
    if (*p->pphBuildLog && **p->pphBuildLog)
        rel_trk_add(REL_BUILD_LOG, **p->pphBuildLog);
}

/* Generic epilogue for every entry point (all callbacks share one shape). */
static void ZE_APICALL rel_cb_any(void *params, ze_result_t r, void *u, void **inst)
{
    (void)params, (void)u, (void)inst;
    __atomic_add_fetch(&rel_trk.calls, 1, __ATOMIC_RELAXED);
    if (r != ZE_RESULT_SUCCESS && r != ZE_RESULT_NOT_READY)
        __atomic_add_fetch(&rel_trk.calls_failed, 1, __ATOMIC_RELAXED);
}
typedef void(ZE_APICALL *rel_any_cb)(void *, ze_result_t, void *, void **);

/* zeInit (through the environment hostdev_env sets) and the tracers; bails out when
 * the tracing layer is missing: every balance check depends on it. */
static inline void rel_trk_start(void)
{
    const char *e = getenv("ZE_ENABLE_TRACING_LAYER");
    if (!e || strcmp(e, "1"))
        tap_bail("ZE_ENABLE_TRACING_LAYER=1 is required (set by tests/reliability/meson.build)");
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS)
        tap_bail("zeInit: 0x%x (ZE_ENABLE_ALT_DRIVERS=%s)", (unsigned)r,
                 getenv("ZE_ENABLE_ALT_DRIVERS") ? getenv("ZE_ENABLE_ALT_DRIVERS") : "(unset)");
    zel_tracer_desc_t td = {.stype = ZEL_STRUCTURE_TYPE_TRACER_DESC};
    if (zelTracerCreate(&td, &rel_trk.tracer) != ZE_RESULT_SUCCESS ||
        zelTracerCreate(&td, &rel_trk.counter) != ZE_RESULT_SUCCESS)
        tap_bail("zelTracerCreate failed: tracing layer not loaded");
    zel_tracer_handle_t t = rel_trk.tracer;
    const zel_tracer_reg_t E = ZEL_REGISTER_EPILOGUE;
    zelTracerContextCreateRegisterCallback(t, E, rel_cb_context_create);
    zelTracerContextDestroyRegisterCallback(t, E, rel_cb_context_destroy);
    zelTracerCommandQueueCreateRegisterCallback(t, E, rel_cb_command_queue_create);
    zelTracerCommandQueueDestroyRegisterCallback(t, E, rel_cb_command_queue_destroy);
    zelTracerCommandListCreateRegisterCallback(t, E, rel_cb_command_list_create);
    zelTracerCommandListCreateImmediateRegisterCallback(t, E, rel_cb_command_list_create_immediate);
    zelTracerCommandListDestroyRegisterCallback(t, E, rel_cb_command_list_destroy);
    zelTracerFenceCreateRegisterCallback(t, E, rel_cb_fence_create);
    zelTracerFenceDestroyRegisterCallback(t, E, rel_cb_fence_destroy);
    zelTracerEventPoolCreateRegisterCallback(t, E, rel_cb_event_pool_create);
    zelTracerEventPoolDestroyRegisterCallback(t, E, rel_cb_event_pool_destroy);
    zelTracerEventCreateRegisterCallback(t, E, rel_cb_event_create);
    zelTracerEventDestroyRegisterCallback(t, E, rel_cb_event_destroy);
    zelTracerModuleCreateRegisterCallback(t, E, rel_cb_module_create);
    zelTracerModuleDestroyRegisterCallback(t, E, rel_cb_module_destroy);
    zelTracerModuleBuildLogDestroyRegisterCallback(t, E, rel_cb_module_build_log_destroy);
    zelTracerKernelCreateRegisterCallback(t, E, rel_cb_kernel_create);
    zelTracerKernelDestroyRegisterCallback(t, E, rel_cb_kernel_destroy);
    zelTracerMemAllocDeviceRegisterCallback(t, E, rel_cb_mem_alloc_device);
    zelTracerMemAllocHostRegisterCallback(t, E, rel_cb_mem_alloc_host);
    zelTracerMemAllocSharedRegisterCallback(t, E, rel_cb_mem_alloc_shared);
    zelTracerMemFreeRegisterCallback(t, E, rel_cb_mem_free);
    if (zelTracerSetEnabled(t, 1) != ZE_RESULT_SUCCESS)
        tap_bail("zelTracerSetEnabled failed");
    ze_callbacks_t cbs;
    rel_any_cb fn = rel_cb_any;
    for (size_t i = 0; i < sizeof cbs / sizeof fn; i++)
        memcpy((char *)&cbs + i * sizeof fn, &fn, sizeof fn);
    if (zelTracerSetEpilogues(rel_trk.counter, &cbs) != ZE_RESULT_SUCCESS ||
        zelTracerSetEnabled(rel_trk.counter, 1) != ZE_RESULT_SUCCESS)
        tap_bail("generic tracer failed");
    rel_trk.enabled = 1;
}

/* Forgets everything tracked (the next run starts from zero). */
static inline void rel_trk_reset(void)
{
    pthread_mutex_lock(&rel_trk.lock);
    memset(rel_trk.nlive, 0, sizeof rel_trk.nlive);
    memset(rel_trk.created, 0, sizeof rel_trk.created);
    memset(rel_trk.destroyed, 0, sizeof rel_trk.destroyed);
    rel_trk.unknown_destroys = rel_trk.failed_destroys = rel_trk.overflow = 0;
    __atomic_store_n(&rel_trk.calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&rel_trk.calls_failed, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&rel_trk.lock);
}

static inline uint64_t rel_trk_live_total(void)
{
    uint64_t n = 0;
    pthread_mutex_lock(&rel_trk.lock);
    for (int k = 0; k < REL_KIND_COUNT; k++)
        n += rel_trk.nlive[k];
    n += rel_trk.unknown_destroys + rel_trk.overflow;
    pthread_mutex_unlock(&rel_trk.lock);
    return n;
}

static inline uint64_t rel_trk_created_total(void)
{
    uint64_t n = 0;
    pthread_mutex_lock(&rel_trk.lock);
    for (int k = 0; k < REL_KIND_COUNT; k++)
        n += rel_trk.created[k];
    pthread_mutex_unlock(&rel_trk.lock);
    return n;
}

/* Objects left by a destroy call that failed on purpose stay alive in hostdev (a failed
 * call has no effect), and destroying them after their context is not allowed. Under
 * LeakSanitizer they are marked as intentionally kept; elsewhere nothing is done.
 * Returns the number of objects concerned. */
static inline int rel_trk_keep_leftovers(void)
{
    int n = 0;
    pthread_mutex_lock(&rel_trk.lock);
    for (int k = 0; k < REL_KIND_COUNT; k++)
        for (uint32_t i = 0; i < rel_trk.nlive[k]; i++, n++) {
#ifdef __SANITIZE_ADDRESS__
            if (k != REL_MEM) /* allocations go with their context */
                __lsan_ignore_object(rel_trk.live[k][i]);
#endif
        }
    pthread_mutex_unlock(&rel_trk.lock);
    return n;
}

/* "3 command list(s), 1 fence(s)" of what is still alive; "" when balanced. */
static inline void rel_trk_describe(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&rel_trk.lock);
    for (int k = 0; k < REL_KIND_COUNT && n < size; k++)
        if (rel_trk.nlive[k])
            n += (size_t)snprintf(buf + n, size - n, "%s%u %s(s) [created %llu destroyed %llu]",
                                  n ? ", " : "", rel_trk.nlive[k], rel_kind_name[k],
                                  (unsigned long long)rel_trk.created[k],
                                  (unsigned long long)rel_trk.destroyed[k]);
    if (rel_trk.unknown_destroys && n < size)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu destroy(s) of unknown handles",
                              n ? ", " : "", (unsigned long long)rel_trk.unknown_destroys);
    if (rel_trk.overflow && n < size)
        snprintf(buf + n, size - n, "%stracker overflow %llu", n ? ", " : "",
                 (unsigned long long)rel_trk.overflow);
    pthread_mutex_unlock(&rel_trk.lock);
}

/* ------------------------------------------------------------ stderr capture */

/* Sends fd 2 to a temporary file until rel_stderr_end(), which returns what was
 * written (NUL-terminated, at most size-1 bytes) and restores stderr. */
static int rel_saved_stderr = -1;
static FILE *rel_capture;

static inline void rel_stderr_begin(void)
{
    fflush(stderr);
    if (!rel_capture && !(rel_capture = tmpfile()))
        tap_bail("tmpfile failed");
    if (ftruncate(fileno(rel_capture), 0) != 0)
        tap_bail("ftruncate failed");
    rewind(rel_capture);
    rel_saved_stderr = dup(2);
    if (rel_saved_stderr < 0 || dup2(fileno(rel_capture), 2) < 0)
        tap_bail("dup2 failed");
}

static inline size_t rel_stderr_end(char *buf, size_t size)
{
    fflush(stderr);
    dup2(rel_saved_stderr, 2);
    close(rel_saved_stderr);
    rel_saved_stderr = -1;
    off_t end = lseek(fileno(rel_capture), 0, SEEK_END);
    size_t n = end > 0 ? (size_t)end : 0;
    if (n > size - 1)
        n = size - 1;
    ssize_t got = pread(fileno(rel_capture), buf, n, 0);
    n = got > 0 ? (size_t)got : 0;
    buf[n] = '\0';
    return n;
}

/* --------------------------------------------------------- process figures */

static inline long rel_rss_pages(void)
{
    long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        tap_bail("/proc/self/statm");
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss;
}

static inline int rel_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        tap_bail("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

#endif
