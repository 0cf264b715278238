#include "cli/zecount.h"

#include <level_zero/layers/zel_tracing_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t calls;
static zel_tracer_handle_t tracer;

void zecount_prepare(void)
{
    /* Keep a value the user set (e.g. 0 to switch the layer off). */
    setenv("ZE_ENABLE_TRACING_LAYER", "1", 0);
}

/* Every tracing callback has the shape (params*, ze_result_t, void*, void**): only
 * the pointee type of `params` differs. One counter serves all 100+ entry points
 * instead of one typed function each; the calling convention is identical. */
static void ZE_APICALL count_call(void *params, ze_result_t result, void *user, void **inst)
{
    (void)params, (void)result, (void)user, (void)inst;
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
}

typedef void(ZE_APICALL *any_cb)(void *, ze_result_t, void *, void **);
_Static_assert(sizeof(ze_callbacks_t) % sizeof(any_cb) == 0,
               "ze_callbacks_t holds only callback pointers");

bool zecount_start(char *why, size_t why_size)
{
    const char *env = getenv("ZE_ENABLE_TRACING_LAYER");
    if (!env || strcmp(env, "1")) {
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
    any_cb fn = count_call;
    for (size_t i = 0; i < sizeof cbs / sizeof fn; i++)
        memcpy((char *)&cbs + i * sizeof fn, &fn, sizeof fn);
    r = zelTracerSetPrologues(tracer, &cbs);
    if (r == ZE_RESULT_SUCCESS)
        r = zelTracerSetEnabled(tracer, 1);
    if (r != ZE_RESULT_SUCCESS) {
        snprintf(why, why_size, "zelTracerSetPrologues/SetEnabled failed (0x%x)", (unsigned)r);
        zelTracerDestroy(tracer);
        tracer = NULL;
        return false;
    }
    zecount_reset();
    return true;
}

uint64_t zecount_read(void)
{
    return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}

void zecount_reset(void)
{
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
}

void zecount_stop(void)
{
    if (tracer) {
        zelTracerSetEnabled(tracer, 0);
        zelTracerDestroy(tracer);
        tracer = NULL;
    }
}
