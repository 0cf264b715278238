/* arena.c — the two Level Zero blocks a solved plan lives in: exactly one
 * zeMemAllocDevice and one zeMemAllocHost, freed together. */
#include "arena/arena_priv.h"

#include <string.h>

/* Messages name results: "0x70000003" tells a user nothing, the enumerator does.
 * The project's one table: arena is the lowest module that talks to Level Zero. */
const char *zmoe_ze_result_str(ze_result_t r)
{
    switch (r) {
#define N(x) case x: return #x
    N(ZE_RESULT_SUCCESS);
    N(ZE_RESULT_NOT_READY);
    N(ZE_RESULT_ERROR_DEVICE_LOST);
    N(ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY);
    N(ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY);
    N(ZE_RESULT_ERROR_MODULE_BUILD_FAILURE);
    N(ZE_RESULT_ERROR_MODULE_LINK_FAILURE);
    N(ZE_RESULT_ERROR_DEVICE_REQUIRES_RESET);
    N(ZE_RESULT_ERROR_DEVICE_IN_LOW_POWER_STATE);
    N(ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS);
    N(ZE_RESULT_ERROR_NOT_AVAILABLE);
    N(ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE);
    N(ZE_RESULT_ERROR_UNINITIALIZED);
    N(ZE_RESULT_ERROR_UNSUPPORTED_VERSION);
    N(ZE_RESULT_ERROR_UNSUPPORTED_FEATURE);
    N(ZE_RESULT_ERROR_INVALID_ARGUMENT);
    N(ZE_RESULT_ERROR_INVALID_NULL_HANDLE);
    N(ZE_RESULT_ERROR_HANDLE_OBJECT_IN_USE);
    N(ZE_RESULT_ERROR_INVALID_NULL_POINTER);
    N(ZE_RESULT_ERROR_INVALID_SIZE);
    N(ZE_RESULT_ERROR_UNSUPPORTED_SIZE);
    N(ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT);
    N(ZE_RESULT_ERROR_INVALID_ENUMERATION);
    N(ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION);
    N(ZE_RESULT_ERROR_UNKNOWN);
    N(ZE_RESULT_ERROR_INVALID_NATIVE_BINARY);
    N(ZE_RESULT_ERROR_INVALID_KERNEL_NAME);
    N(ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION);
    N(ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_INDEX);
    N(ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE);
    N(ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE);
#undef N
    default: return "ze_result_t (unnamed)";
    }
}

static void describe_result(ze_result_t r, char *buf, size_t len)
{
    snprintf(buf, len, "%s (0x%08x)", zmoe_ze_result_str(r), (unsigned)r);
}

/* The block's alignment: the strictest buffer's, and at least 64 bytes (a cache
 * line) so that offsets aligned within the plan are aligned in memory too. */
static size_t block_alignment(const struct zmoe_plan *plan, enum zmoe_memory m)
{
    size_t align = 64;
    for (uint32_t i = 0; i < plan->count; i++)
        if (plan->buffers[i].memory == m && plan->buffers[i].align > align)
            align = plan->buffers[i].align;
    return align;
}

static void free_blocks(struct zmoe_arena *arena)
{
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        if (arena->base[m] && arena->context)
            zeMemFree(arena->context, arena->base[m]);
        arena->base[m] = NULL;
        arena->size[m] = 0;
    }
}

enum zmoe_status zmoe_arena_commit(struct zmoe_arena *arena, const struct zmoe_plan *plan,
                                   ze_context_handle_t context, ze_device_handle_t device,
                                   struct zmoe_error *err)
{
    if (!arena || !plan || !context || !device) {
        arena_errorf(err, "zmoe_arena_commit: arena, plan, context and device are required");
        return ZMOE_ERR_ARGUMENT;
    }
    if (arena->phase != ZMOE_PHASE_CONFIGURED) {
        arena_errorf(err, "zmoe_arena_commit: arena is already %s (release it first)",
                     zmoe_phase_name(arena->phase));
        return ZMOE_ERR_STATE;
    }
    if (plan->phase < ZMOE_PHASE_PLANNED) {
        arena_errorf(err, "zmoe_arena_commit: plan is %s; solve it first",
                     zmoe_phase_name(plan->phase));
        return ZMOE_ERR_STATE;
    }
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        if (plan->size[m] > (uint64_t)SIZE_MAX) {
            arena_errorf(err, "zmoe_arena_commit: %s plan of %llu bytes exceeds size_t",
                         zmoe_memory_name((enum zmoe_memory)m), (unsigned long long)plan->size[m]);
            return ZMOE_ERR_ARGUMENT;
        }
    memset(arena->base, 0, sizeof arena->base);
    memset(arena->size, 0, sizeof arena->size);
    arena->context = context;

    /* Host-visible first: when the (much larger) device block then fails, the path
     * that frees what was already taken runs in ordinary out-of-memory cases too. */
    static const enum zmoe_memory order[ZMOE_MEMORY_COUNT] = {ZMOE_MEMORY_HOST_VISIBLE,
                                                              ZMOE_MEMORY_DEVICE};
    for (int k = 0; k < ZMOE_MEMORY_COUNT; k++) {
        enum zmoe_memory m = order[k];
        size_t size = (size_t)plan->size[m];
        if (size == 0)
            continue; /* Level Zero refuses size 0; nothing lives there anyway */
        size_t align = block_alignment(plan, m);
        void *p = NULL;
        ze_result_t r;
        const char *call;
        if (m == ZMOE_MEMORY_DEVICE) {
            ze_device_mem_alloc_desc_t desc = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
            call = "zeMemAllocDevice";
            r = zeMemAllocDevice(context, &desc, size, align, device, &p);
        } else {
            ze_host_mem_alloc_desc_t desc = {.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC};
            call = "zeMemAllocHost";
            r = zeMemAllocHost(context, &desc, size, align, &p);
        }
        if (r != ZE_RESULT_SUCCESS || !p) {
            char rs[48], h[32];
            describe_result(r, rs, sizeof rs);
            if (r == ZE_RESULT_SUCCESS)
                snprintf(rs, sizeof rs, "ZE_RESULT_SUCCESS with a NULL pointer");
            arena_errorf(err, "%s(%zu bytes = %s, alignment %zu) for the %s arena failed: %s",
                         call, size, zmoe_size_human(size, h, sizeof h), align,
                         zmoe_memory_name(m), rs);
            if (p && r == ZE_RESULT_SUCCESS)
                zeMemFree(context, p);
            free_blocks(arena);
            arena->context = NULL;
            return ZMOE_ERR_LEVEL_ZERO;
        }
        arena->base[m] = p;
        arena->size[m] = size;
    }
    arena->phase = ZMOE_PHASE_COMMITTED;
    arena_error_clear(err);
    return ZMOE_OK;
}

void *zmoe_arena_ptr(const struct zmoe_arena *arena, const struct zmoe_plan *plan, uint32_t index)
{
    if (!arena || !plan || arena->phase < ZMOE_PHASE_COMMITTED || plan->phase < ZMOE_PHASE_PLANNED ||
        index >= plan->count)
        return NULL;
    const struct zmoe_buffer *b = &plan->buffers[index];
    if ((unsigned)b->memory >= ZMOE_MEMORY_COUNT)
        return NULL;
    uint8_t *base = arena->base[b->memory];
    uint64_t end;
    /* A plan other than the committed one could point past the block: refuse it. */
    if (!base || !arena_add_u64(b->offset, b->size, &end) || end > arena->size[b->memory])
        return NULL;
    return base + b->offset;
}

void zmoe_arena_release(struct zmoe_arena *arena)
{
    if (!arena || arena->phase < ZMOE_PHASE_COMMITTED)
        return;
    free_blocks(arena);
    arena->context = NULL;
    arena->phase = ZMOE_PHASE_CONFIGURED;
}
