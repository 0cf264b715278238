/* arena: the memory planner and the arenas.
 *
 * Owns: planning buffer offsets from sizes and lifetimes (generic: it knows nothing of
 * MoE; the runtime enumerates the buffers), the budget check, the map report, and the
 * three blocks all of zmoe's memory comes from: one device allocation, one
 * host-visible allocation (parameter blocks, I/O staging, weight-upload staging) and
 * one host block for runtime structures (malloc'd once or given by the caller).
 * Must not: allocate after commit, record or submit commands.
 *
 * Phase state machine (shared by the runtime): CONFIGURED -> PLANNED -> COMMITTED ->
 * RUNNING. Requests that belong to an earlier phase are refused with ZMOE_ERR_STATE.
 */
#ifndef ZMOE_ARENA_H
#define ZMOE_ARENA_H

#include "zmoe.h"

#include <stdio.h>

enum zmoe_phase { ZMOE_PHASE_CONFIGURED = 0, ZMOE_PHASE_PLANNED, ZMOE_PHASE_COMMITTED, ZMOE_PHASE_RUNNING };
const char *zmoe_phase_name(enum zmoe_phase phase);

/* Moves *phase to `to` when `to` is the next phase (CONFIGURED -> PLANNED -> COMMITTED ->
 * RUNNING); anything else (skipping, going back, repeating) is ZMOE_ERR_STATE. */
enum zmoe_status zmoe_phase_advance(enum zmoe_phase *phase, enum zmoe_phase to,
                                    struct zmoe_error *err);

/* Which block a buffer lives in. */
enum zmoe_memory { ZMOE_MEMORY_DEVICE = 0, ZMOE_MEMORY_HOST_VISIBLE, ZMOE_MEMORY_COUNT };
const char *zmoe_memory_name(enum zmoe_memory memory); /* "device", "host_visible" */

enum zmoe_category {
    ZMOE_CATEGORY_WEIGHT = 0, /* persistent */
    ZMOE_CATEGORY_ACTIVATION, /* lives for a stage interval of one layer call */
    ZMOE_CATEGORY_IO,         /* per ring slot */
    ZMOE_CATEGORY_PARAM,      /* per ring slot parameter block */
    ZMOE_CATEGORY_STAGING,    /* weight upload staging */
    ZMOE_CATEGORY_COUNT
};
const char *zmoe_category_name(enum zmoe_category category);

/* "ZE_RESULT_ERROR_DEVICE_LOST" for a ze_result_t; "ze_result_t (unnamed)" for a value the headers do not name. */
const char *zmoe_ze_result_str(ze_result_t r);

/* Lifetimes are inclusive stage intervals [first, last]. Buffers whose intervals
 * intersect may not share bytes. ZMOE_STAGE_ALWAYS marks a whole-run lifetime. */
#define ZMOE_STAGE_ALWAYS_FIRST 0u
#define ZMOE_STAGE_ALWAYS_LAST UINT32_MAX

#define ZMOE_BUFFER_NAME_MAX 48 /* including the terminating NUL */
#define ZMOE_PLAN_ALIGN_MAX (1u << 20) /* largest alignment a buffer may ask for */
struct zmoe_buffer {
    char name[ZMOE_BUFFER_NAME_MAX]; /* e.g. "layer3.w13", "act.topk_ids", "slot1.params" */
    enum zmoe_memory memory;
    enum zmoe_category category;
    uint64_t size;  /* bytes, > 0 */
    uint32_t align; /* power of two */
    uint32_t first_stage, last_stage;
    uint32_t solve_next_; /* private to zmoe_plan_solve(): offset-ordered list link
                             (fills what was padding; the struct does not grow) */
    uint64_t offset; /* set by zmoe_plan_solve() */
};

/* The plan uses caller-provided storage: no allocation inside. */
struct zmoe_plan {
    struct zmoe_buffer *buffers;
    uint32_t count, capacity;
    enum zmoe_phase phase;               /* CONFIGURED while adding, PLANNED once solved */
    uint64_t size[ZMOE_MEMORY_COUNT];    /* bytes each block needs */
    uint64_t lower_bound[ZMOE_MEMORY_COUNT]; /* peak bytes simultaneously alive */
};

void zmoe_plan_init(struct zmoe_plan *plan, struct zmoe_buffer *storage, uint32_t capacity);
/* Adds a buffer; returns its index through *index. Refused after solve. */
enum zmoe_status zmoe_plan_add(struct zmoe_plan *plan, const char *name, enum zmoe_memory memory,
                               enum zmoe_category category, uint64_t size, uint32_t align,
                               uint32_t first_stage, uint32_t last_stage, uint32_t *index,
                               struct zmoe_error *err);
/* Greedy lifetime planner: largest first, first gap among buffers alive at the same
 * time. Deterministic. Moves the plan to PLANNED. */
enum zmoe_status zmoe_plan_solve(struct zmoe_plan *plan, struct zmoe_error *err);
/* Test oracle: true when two buffers of the same memory with intersecting lifetimes
 * share a byte, or a buffer is misaligned; names the first offending pair in err. */
bool zmoe_plan_has_overlap(const struct zmoe_plan *plan, struct zmoe_error *err);
/* ZMOE_ERR_BUDGET when a block exceeds its budget (0 = unlimited), naming the budget,
 * the plan's size and the five largest consumers. host_extra_bytes is the host block. */
enum zmoe_status zmoe_plan_check_budget(const struct zmoe_plan *plan, uint64_t device_budget,
                                        uint64_t host_budget, uint64_t host_extra_bytes,
                                        struct zmoe_error *err);
/* Linker-map style report: every region (memory, offset, size, lifetime, category),
 * per-category totals, lower bound and overhead. */
void zmoe_plan_report_text(const struct zmoe_plan *plan, FILE *out);
void zmoe_plan_report_json(const struct zmoe_plan *plan, FILE *out);
/* (size - lower_bound) / lower_bound * 100 for one memory of a solved plan; 0 when the
 * lower bound is 0. */
double zmoe_plan_overhead_percent(const struct zmoe_plan *plan, enum zmoe_memory memory);
/* Human-friendly size: "512 B", "4.00 KiB", "384.0 MiB", "1.20 GiB". Returns buf. */
const char *zmoe_size_human(uint64_t bytes, char *buf, size_t len);

/* Arena-size regression check (in the manner of TFLM's arena threshold test). The
 * expected text has one "<memory> <bytes>" line per memory ("device 1288490188",
 * "host_visible 4096"); '#' starts a comment. ZMOE_ERR_BUDGET when a memory's plan
 * size grew by more than `tolerance` (0.03 = 3%) over its expected size, naming the
 * memory, both sizes and the growth; ZMOE_ERR_CONFIG ("name:line: ...") for a
 * malformed or incomplete file. On success err->msg is "" or, when a memory shrank
 * by more than the tolerance, a note asking to update the expected file. */
#define ZMOE_EXPECTED_TOLERANCE 0.03
enum zmoe_status zmoe_plan_compare_expected(const struct zmoe_plan *plan, const char *text,
                                            size_t len, const char *name, double tolerance,
                                            struct zmoe_error *err);
enum zmoe_status zmoe_plan_compare_expected_file(const struct zmoe_plan *plan, const char *path,
                                                 double tolerance, struct zmoe_error *err);
/* Writes the expected-file form of a solved plan (what compare_expected reads). */
void zmoe_plan_write_expected(const struct zmoe_plan *plan, FILE *out);

/* Host block for runtime structures: a bump allocator over one block. */
struct zmoe_host_block {
    uint8_t *base;
    size_t size, used;
    bool owned; /* malloc'd by zmoe_host_block_init (freed at fini) */
    enum zmoe_phase phase; /* allocation allowed only before COMMITTED */
    uint64_t refused;      /* requests refused after commit (a bug if non-zero) */
};
enum zmoe_status zmoe_host_block_init(struct zmoe_host_block *hb, void *memory, size_t size,
                                      struct zmoe_error *err);
/* Zeroed, aligned memory; NULL (and refused++) after commit or when full, or for a
 * size of 0 or an alignment that is not a power of two. */
void *zmoe_host_block_alloc(struct zmoe_host_block *hb, size_t size, size_t align);
/* Moves the block to COMMITTED: from here on every request is refused (and counted). */
void zmoe_host_block_commit(struct zmoe_host_block *hb);
void zmoe_host_block_fini(struct zmoe_host_block *hb);

/* The two Level Zero blocks: exactly one zeMemAllocDevice and one zeMemAllocHost. */
struct zmoe_arena {
    ze_context_handle_t context;
    void *base[ZMOE_MEMORY_COUNT];
    uint64_t size[ZMOE_MEMORY_COUNT];
    enum zmoe_phase phase;
};
/* Allocates both blocks for a solved plan (PLANNED -> COMMITTED). On failure nothing
 * stays allocated and the message names the failing Level Zero call and size. */
enum zmoe_status zmoe_arena_commit(struct zmoe_arena *arena, const struct zmoe_plan *plan,
                                   ze_context_handle_t context, ze_device_handle_t device,
                                   struct zmoe_error *err);
/* Address of buffer `index` of the plan the arena was committed with. */
void *zmoe_arena_ptr(const struct zmoe_arena *arena, const struct zmoe_plan *plan, uint32_t index);
void zmoe_arena_release(struct zmoe_arena *arena);

#endif
