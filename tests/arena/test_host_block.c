/* test_host_block.c — the bump allocator for host-side runtime structures: zeroed,
 * aligned, disjoint memory before commit; refusal (counted) after commit or when full. */
#include "arena/arena.h"
#include "tests/tap.h"

#include <stdint.h>
#include <string.h>

static _Alignas(64) uint8_t mem[4096 + 1];

int main(void)
{
    struct zmoe_host_block hb;
    struct zmoe_error err;

    TAP_EQ_INT(zmoe_host_block_init(&hb, NULL, 0, &err), ZMOE_ERR_ARGUMENT,
               "init: no memory and size 0 refused");

    /* Caller's memory, deliberately misaligned by one byte and dirty. */
    memset(mem, 0xab, sizeof mem);
    TAP_EQ_INT(zmoe_host_block_init(&hb, mem + 1, 4096, &err), ZMOE_OK, "init: caller memory");
    TAP_OK(!hb.owned && hb.base == mem + 1 && hb.size == 4096 && hb.used == 0, "init: fields");
    uint8_t *prev_end = mem + 1;
    bool aligned = true, zeroed = true, ordered = true;
    static const size_t aligns[] = {1, 2, 8, 64, 16, 256, 4, 128};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t size = 3 + i * 17;
        uint8_t *p = zmoe_host_block_alloc(&hb, size, aligns[i]);
        if (!p) {
            aligned = false;
            break;
        }
        aligned &= (uintptr_t)p % aligns[i] == 0;
        for (size_t k = 0; k < size; k++)
            zeroed &= p[k] == 0;
        ordered &= p >= prev_end; /* disjoint from everything handed out before */
        memset(p, 0xcd, size);
        prev_end = p + size;
    }
    TAP_OK(aligned, "alloc: every pointer aligned (base misaligned by 1)");
    TAP_OK(zeroed, "alloc: memory zeroed although the block was dirty");
    TAP_OK(ordered, "alloc: allocations are disjoint");
    TAP_EQ_INT(hb.used, (size_t)(prev_end - (mem + 1)), "alloc: used tracks the bump pointer");
    TAP_EQ_INT(hb.refused, 0, "alloc: nothing refused yet");

    size_t used = hb.used;
    TAP_OK(zmoe_host_block_alloc(&hb, 0, 8) == NULL, "alloc: size 0 refused");
    TAP_OK(zmoe_host_block_alloc(&hb, 8, 3) == NULL, "alloc: alignment 3 refused");
    TAP_OK(zmoe_host_block_alloc(&hb, 8, 0) == NULL, "alloc: alignment 0 refused");
    TAP_OK(zmoe_host_block_alloc(&hb, SIZE_MAX, 1) == NULL, "alloc: SIZE_MAX refused (no wrap)");
    TAP_OK(zmoe_host_block_alloc(&hb, 4096, 1) == NULL, "alloc: more than is left refused");
    TAP_EQ_INT(hb.refused, 5, "alloc: the five refusals counted");
    TAP_EQ_INT(hb.used, used, "alloc: refusals take nothing");
    /* Exactly what is left still fits. */
    uint8_t *last = zmoe_host_block_alloc(&hb, 4096 - used, 1);
    TAP_OK(last == mem + 1 + used && hb.used == 4096, "alloc: the exact remainder fits");
    TAP_OK(zmoe_host_block_alloc(&hb, 1, 1) == NULL, "alloc: full block refuses one byte");
    TAP_OK(mem[0] == 0xab, "alloc: nothing written before the block");

    /* Owned block, then commit. */
    zmoe_host_block_fini(&hb);
    TAP_EQ_INT(zmoe_host_block_init(&hb, NULL, 1024, &err), ZMOE_OK, "init: owned block");
    TAP_OK(hb.owned && hb.base != NULL, "init: owned block malloc'd");
    void *a = zmoe_host_block_alloc(&hb, 100, 64);
    TAP_OK(a && (uintptr_t)a % 64 == 0, "owned: alloc before commit");
    zmoe_host_block_commit(&hb);
    TAP_EQ_INT(hb.phase, ZMOE_PHASE_COMMITTED, "commit: phase COMMITTED");
    size_t used_at_commit = hb.used;
    int refused_after = 0;
    for (int i = 0; i < 3; i++)
        refused_after += zmoe_host_block_alloc(&hb, 8, 8) == NULL;
    TAP_EQ_INT(refused_after, 3, "commit: every later request refused");
    TAP_EQ_INT(hb.refused, 3, "commit: refusals counted");
    TAP_EQ_INT(hb.used, used_at_commit, "commit: nothing handed out after commit");
    zmoe_host_block_fini(&hb);
    TAP_OK(hb.base == NULL && hb.size == 0 && hb.refused == 3,
           "fini: block gone, refusal count kept as evidence");
    return tap_exit();
}
