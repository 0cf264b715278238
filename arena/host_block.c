/* host_block.c — one block for every host-side runtime structure, handed out by a
 * bump pointer until commit; after that every request is refused and counted, so a
 * test can prove the run path never allocates. */
#include "arena/arena_priv.h"

#include <stdlib.h>
#include <string.h>

enum zmoe_status zmoe_host_block_init(struct zmoe_host_block *hb, void *memory, size_t size,
                                      struct zmoe_error *err)
{
    if (!hb) {
        arena_errorf(err, "zmoe_host_block_init: hb is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    memset(hb, 0, sizeof *hb);
    hb->phase = ZMOE_PHASE_CONFIGURED;
    if (memory) {
        /* Firmware mode: the caller's memory, used as-is (zeroed per allocation). */
        hb->base = memory;
        hb->size = size;
        hb->owned = false;
    } else {
        if (size == 0) {
            arena_errorf(err, "zmoe_host_block_init: size is 0 and no memory was given");
            return ZMOE_ERR_ARGUMENT;
        }
        hb->base = malloc(size);
        if (!hb->base) {
            arena_errorf(err, "zmoe_host_block_init: malloc(%zu) failed", size);
            return ZMOE_ERR_NO_MEMORY;
        }
        hb->size = size;
        hb->owned = true;
    }
    arena_error_clear(err);
    return ZMOE_OK;
}

void *zmoe_host_block_alloc(struct zmoe_host_block *hb, size_t size, size_t align)
{
    if (!hb)
        return NULL;
    if (hb->phase >= ZMOE_PHASE_COMMITTED || size == 0 || !arena_is_pow2(align) || !hb->base) {
        hb->refused++;
        return NULL;
    }
    /* Align the absolute address: the caller's memory need not be aligned itself. */
    uintptr_t base = (uintptr_t)hb->base;
    uint64_t cur, start, end;
    if (!arena_add_u64((uint64_t)base, hb->used, &cur) ||
        !arena_align_up_u64(cur, align, &start) || !arena_add_u64(start, size, &end) ||
        end - (uint64_t)base > hb->size) {
        hb->refused++;
        return NULL;
    }
    hb->used = (size_t)(end - (uint64_t)base);
    void *p = hb->base + (start - (uint64_t)base);
    memset(p, 0, size);
    return p;
}

void zmoe_host_block_commit(struct zmoe_host_block *hb)
{
    if (hb && hb->phase < ZMOE_PHASE_COMMITTED)
        hb->phase = ZMOE_PHASE_COMMITTED;
}

void zmoe_host_block_fini(struct zmoe_host_block *hb)
{
    if (!hb)
        return;
    if (hb->owned)
        free(hb->base);
    /* Keep the refusal count: it is the evidence a test reads after teardown. */
    uint64_t refused = hb->refused;
    memset(hb, 0, sizeof *hb);
    hb->refused = refused;
}
