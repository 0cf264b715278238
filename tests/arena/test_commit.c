/* test_commit.c — the arena's Level Zero blocks on hostdev through the real loader.
 * The loader's tracing layer (ZE_ENABLE_TRACING_LAYER=1) counts every zeMemAllocDevice,
 * zeMemAllocHost and zeMemFree, so "exactly one of each" is observed, not assumed.
 *   test_arena_commit            commit, bounds, alignment, release, re-commit
 *   test_arena_commit oom        with HOSTDEV_DEVICE_MEMORY small: the device block
 *                                fails, the message names zeMemAllocDevice, and the
 *                                host block already taken is freed
 *   test_arena_commit host-fail  with HOSTDEV_FAIL=zeMemAllocHost:1: fails cleanly,
 *                                no device allocation attempted */
#include "arena/arena.h"
#include "tests/tap.h"

#include <level_zero/layers/zel_tracing_api.h>
#include <level_zero/layers/zel_tracing_register_cb.h>

#include <inttypes.h>
#include <string.h>

#define MiB (1ull << 20)

static struct {
    int alloc_device, alloc_host, frees;
    void *last_device, *last_host, *freed[8];
} calls;

static void on_alloc_device(ze_mem_alloc_device_params_t *params, ze_result_t result, void *user,
                            void **instance)
{
    (void)user, (void)instance;
    calls.alloc_device++;
    calls.last_device = result == ZE_RESULT_SUCCESS ? **params->ppptr : NULL;
}

static void on_alloc_host(ze_mem_alloc_host_params_t *params, ze_result_t result, void *user,
                          void **instance)
{
    (void)user, (void)instance;
    calls.alloc_host++;
    calls.last_host = result == ZE_RESULT_SUCCESS ? **params->ppptr : NULL;
}

static void on_free(ze_mem_free_params_t *params, ze_result_t result, void *user, void **instance)
{
    (void)result, (void)user, (void)instance;
    if (calls.frees < 8)
        calls.freed[calls.frees] = *params->pptr;
    calls.frees++;
}

static ze_context_handle_t ctx;
static ze_device_handle_t dev;

static void bring_up(void)
{
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS)
        tap_bail("zeInit: 0x%x (is ZE_ENABLE_ALT_DRIVERS set to libze_hostdev.so?)", (unsigned)r);
    uint32_t n = 1;
    ze_driver_handle_t drv;
    if (zeDriverGet(&n, &drv) != ZE_RESULT_SUCCESS || n < 1)
        tap_bail("zeDriverGet: no driver");
    n = 1;
    if (zeDeviceGet(drv, &n, &dev) != ZE_RESULT_SUCCESS || n < 1)
        tap_bail("zeDeviceGet: no device");
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    if (zeContextCreate(drv, &cd, &ctx) != ZE_RESULT_SUCCESS)
        tap_bail("zeContextCreate failed");

    zel_tracer_desc_t td = {.stype = ZEL_STRUCTURE_TYPE_TRACER_DESC, .pUserData = NULL};
    zel_tracer_handle_t tracer;
    r = zelTracerCreate(&td, &tracer);
    if (!TAP_OK(r == ZE_RESULT_SUCCESS, "tracing layer available (ZE_ENABLE_TRACING_LAYER=1)"))
        tap_bail("zelTracerCreate: 0x%x", (unsigned)r);
    zelTracerMemAllocDeviceRegisterCallback(tracer, ZEL_REGISTER_EPILOGUE, on_alloc_device);
    zelTracerMemAllocHostRegisterCallback(tracer, ZEL_REGISTER_EPILOGUE, on_alloc_host);
    zelTracerMemFreeRegisterCallback(tracer, ZEL_REGISTER_PROLOGUE, on_free);
    zelTracerSetEnabled(tracer, true);
}

static ze_memory_allocation_properties_t props_of(const void *p)
{
    ze_memory_allocation_properties_t pr = {.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES};
    if (zeMemGetAllocProperties(ctx, p, &pr, NULL) != ZE_RESULT_SUCCESS)
        pr.type = (ze_memory_type_t)-1;
    return pr;
}

static void add(struct zmoe_plan *p, const char *name, enum zmoe_memory m, enum zmoe_category c,
                uint64_t size, uint32_t align, uint32_t f, uint32_t l)
{
    struct zmoe_error err;
    if (zmoe_plan_add(p, name, m, c, size, align, f, l, NULL, &err) != ZMOE_OK)
        tap_bail("add %s: %s", name, err.msg);
}

static void small_moe_plan(struct zmoe_plan *p, struct zmoe_buffer *st, uint32_t cap)
{
    const uint32_t A0 = ZMOE_STAGE_ALWAYS_FIRST, A1 = ZMOE_STAGE_ALWAYS_LAST;
    zmoe_plan_init(p, st, cap);
    add(p, "layer0.w13", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 2 * MiB, 4096, A0, A1);
    add(p, "layer0.w2", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 1 * MiB, 4096, A0, A1);
    add(p, "layer0.router", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 4096 + 3, 256, A0, A1);
    add(p, "act.a", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 300000, 65536, 2, 3);
    add(p, "act.o", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 200000, 256, 3, 4);
    add(p, "act.logits", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 1000, 256, 0, 0);
    add(p, "slot0.x", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_IO, 8192, 256, A0, A1);
    add(p, "slot0.params", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_PARAM, 64, 64, A0, A1);
    add(p, "slot0.x_host", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_IO, 8192, 64, A0, A1);
    add(p, "staging", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_STAGING, 1 * MiB, 4096, A0, A1);
}

static void test_commit(void)
{
    struct zmoe_buffer st[16];
    struct zmoe_plan p;
    struct zmoe_error err;
    struct zmoe_arena arena = {0};
    small_moe_plan(&p, st, 16);
    TAP_EQ_INT(zmoe_plan_solve(&p, &err), ZMOE_OK, "commit: plan solves");
    memset(&calls, 0, sizeof calls);
    enum zmoe_status s = zmoe_arena_commit(&arena, &p, ctx, dev, &err);
    if (!TAP_OK(s == ZMOE_OK, "commit: succeeds"))
        tap_bail("commit failed: %s", err.msg);
    TAP_EQ_INT(calls.alloc_device, 1, "commit: exactly one zeMemAllocDevice");
    TAP_EQ_INT(calls.alloc_host, 1, "commit: exactly one zeMemAllocHost");
    TAP_EQ_INT(calls.frees, 0, "commit: nothing freed");
    void *bd = arena.base[ZMOE_MEMORY_DEVICE], *bh = arena.base[ZMOE_MEMORY_HOST_VISIBLE];
    TAP_OK(bd == calls.last_device && bh == calls.last_host, "commit: bases are the traced allocations");
    TAP_OK(arena.size[0] == p.size[0] && arena.size[1] == p.size[1], "commit: block sizes = plan sizes");
    TAP_EQ_INT(arena.phase, ZMOE_PHASE_COMMITTED, "commit: arena COMMITTED");
    ze_memory_allocation_properties_t pd = props_of(bd), ph = props_of(bh);
    TAP_EQ_INT(pd.type, ZE_MEMORY_TYPE_DEVICE, "commit: device base is device memory");
    TAP_EQ_INT(ph.type, ZE_MEMORY_TYPE_HOST, "commit: host-visible base is host memory");
    TAP_OK(pd.id != ph.id, "commit: two distinct allocations");
    TAP_OK((uintptr_t)bd % 65536 == 0, "commit: device base aligned to the largest buffer alignment");
    void *range_base = NULL;
    size_t range_size = 0;
    TAP_OK(zeMemGetAddressRange(ctx, bd, &range_base, &range_size) == ZE_RESULT_SUCCESS &&
               range_base == bd && range_size >= p.size[ZMOE_MEMORY_DEVICE],
           "commit: device allocation covers the plan (%zu >= %" PRIu64 ")", range_size,
           p.size[ZMOE_MEMORY_DEVICE]);

    uint32_t inside = 0, same_alloc = 0, aligned = 0;
    for (uint32_t i = 0; i < p.count; i++) {
        const struct zmoe_buffer *b = &p.buffers[i];
        uint8_t *ptr = zmoe_arena_ptr(&arena, &p, i);
        uint8_t *base = arena.base[b->memory];
        inside += ptr && ptr >= base && ptr + b->size <= base + arena.size[b->memory];
        aligned += ptr && (uintptr_t)ptr % b->align == 0;
        ze_memory_allocation_properties_t first = props_of(ptr), last = props_of(ptr + b->size - 1);
        uint64_t want = b->memory == ZMOE_MEMORY_DEVICE ? pd.id : ph.id;
        same_alloc += first.id == want && last.id == want;
    }
    TAP_EQ_INT(inside, p.count, "commit: every buffer pointer within its block");
    TAP_EQ_INT(aligned, p.count, "commit: every buffer pointer aligned");
    TAP_EQ_INT(same_alloc, p.count, "commit: first and last byte of every buffer in its block's allocation");
    TAP_OK(zmoe_arena_ptr(&arena, &p, p.count) == NULL, "commit: out-of-range index gives NULL");

    /* Host-visible memory is usable from the host right away. */
    uint8_t *params = zmoe_arena_ptr(&arena, &p, 7), *staging = zmoe_arena_ptr(&arena, &p, 9);
    memset(staging, 0x5a, MiB);
    memset(params, 0x11, 64);
    TAP_OK(staging[MiB - 1] == 0x5a && params[63] == 0x11 && staging[0] == 0x5a,
           "commit: host-visible buffers writable and disjoint");

    TAP_EQ_INT(zmoe_arena_commit(&arena, &p, ctx, dev, &err), ZMOE_ERR_STATE,
               "commit: a second commit refused");
    TAP_EQ_INT(calls.alloc_device + calls.alloc_host, 2, "commit: the refusal allocated nothing");

    zmoe_arena_release(&arena);
    TAP_EQ_INT(calls.frees, 2, "release: two zeMemFree");
    TAP_OK((calls.freed[0] == bd && calls.freed[1] == bh) || (calls.freed[0] == bh && calls.freed[1] == bd),
           "release: the two bases freed");
    TAP_EQ_INT(props_of(bd).type, ZE_MEMORY_TYPE_UNKNOWN, "release: device base no longer an allocation");
    TAP_EQ_INT(props_of(bh).type, ZE_MEMORY_TYPE_UNKNOWN, "release: host base no longer an allocation");
    TAP_OK(arena.phase == ZMOE_PHASE_CONFIGURED && !arena.base[0] && !arena.base[1],
           "release: arena back to CONFIGURED and empty");
    TAP_OK(zmoe_arena_ptr(&arena, &p, 0) == NULL, "release: no pointers after release");
    zmoe_arena_release(&arena);
    TAP_EQ_INT(calls.frees, 2, "release: a second release frees nothing");

    /* A plan with no host-visible buffers takes no host block. */
    struct zmoe_buffer st2[2];
    struct zmoe_plan q;
    zmoe_plan_init(&q, st2, 2);
    add(&q, "only", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 4096, 64, 0, ZMOE_STAGE_ALWAYS_LAST);
    zmoe_plan_solve(&q, &err);
    memset(&calls, 0, sizeof calls);
    TAP_EQ_INT(zmoe_arena_commit(&arena, &q, ctx, dev, &err), ZMOE_OK, "device-only plan commits");
    TAP_OK(calls.alloc_device == 1 && calls.alloc_host == 0 && !arena.base[ZMOE_MEMORY_HOST_VISIBLE],
           "device-only plan: one device allocation, no host block");
    zmoe_arena_release(&arena);
    TAP_EQ_INT(calls.frees, 1, "device-only plan: one free");
}

static void test_oom(void)
{
    struct zmoe_buffer st[4];
    struct zmoe_plan p;
    struct zmoe_error err;
    struct zmoe_arena arena = {0};
    zmoe_plan_init(&p, st, 4);
    add(&p, "layer0.w13", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 64 * MiB, 4096, 0, ZMOE_STAGE_ALWAYS_LAST);
    add(&p, "staging", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_STAGING, 1 * MiB, 4096, 0, ZMOE_STAGE_ALWAYS_LAST);
    zmoe_plan_solve(&p, &err);
    memset(&calls, 0, sizeof calls);
    enum zmoe_status s = zmoe_arena_commit(&arena, &p, ctx, dev, &err);
    TAP_EQ_INT(s, ZMOE_ERR_LEVEL_ZERO, "oom: commit over HOSTDEV_DEVICE_MEMORY fails");
    tap_diag("message: %s", err.msg);
    TAP_OK(strstr(err.msg, "zeMemAllocDevice") && strstr(err.msg, "67108864") &&
               strstr(err.msg, "ZE_RESULT_ERROR_"),
           "oom: message names zeMemAllocDevice, the size and the result");
    TAP_EQ_INT(calls.alloc_host, 1, "oom: the host block was taken first");
    TAP_EQ_INT(calls.alloc_device, 1, "oom: one device attempt");
    TAP_OK(calls.frees == 1 && calls.freed[0] == calls.last_host && calls.last_host != NULL,
           "oom: the host block taken was freed");
    TAP_OK(arena.phase == ZMOE_PHASE_CONFIGURED && !arena.base[0] && !arena.base[1],
           "oom: arena left empty and CONFIGURED");

    /* Under the cap the same code path succeeds: the cap, not the arena, refused. */
    struct zmoe_plan q;
    zmoe_plan_init(&q, st, 4);
    add(&q, "small", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 1 * MiB, 4096, 0, ZMOE_STAGE_ALWAYS_LAST);
    zmoe_plan_solve(&q, &err);
    TAP_EQ_INT(zmoe_arena_commit(&arena, &q, ctx, dev, &err), ZMOE_OK, "oom: a plan under the cap commits");
    zmoe_arena_release(&arena);
}

static void test_host_fail(void)
{
    struct zmoe_buffer st[16];
    struct zmoe_plan p;
    struct zmoe_error err;
    struct zmoe_arena arena = {0};
    small_moe_plan(&p, st, 16);
    zmoe_plan_solve(&p, &err);
    memset(&calls, 0, sizeof calls);
    TAP_EQ_INT(zmoe_arena_commit(&arena, &p, ctx, dev, &err), ZMOE_ERR_LEVEL_ZERO,
               "host-fail: commit fails");
    tap_diag("message: %s", err.msg);
    TAP_OK(strstr(err.msg, "zeMemAllocHost") && strstr(err.msg, "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY"),
           "host-fail: message names zeMemAllocHost and the result");
    TAP_OK(calls.alloc_device == 0 && calls.frees == 0, "host-fail: nothing else attempted or freed");
    TAP_OK(arena.phase == ZMOE_PHASE_CONFIGURED && !arena.base[0] && !arena.base[1],
           "host-fail: arena left empty");
    /* The fault fired once; the next commit gets both blocks. */
    TAP_EQ_INT(zmoe_arena_commit(&arena, &p, ctx, dev, &err), ZMOE_OK, "host-fail: retry commits");
    zmoe_arena_release(&arena);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "commit";
    bring_up();
    if (!strcmp(mode, "oom"))
        test_oom();
    else if (!strcmp(mode, "host-fail"))
        test_host_fail();
    else
        test_commit();
    zeContextDestroy(ctx);
    return tap_exit();
}
