/* plan.c — the lifetime planner: buffers with sizes, alignments and stage intervals
 * become offsets in one block per memory kind, without any allocation. */
#include "arena/arena_priv.h"

#include <string.h>

/* Marks a buffer not yet placed during solve. No real offset can take this value,
 * because size > 0 and offset + size must fit in 64 bits. */
#define UNPLACED UINT64_MAX

const char *zmoe_phase_name(enum zmoe_phase phase)
{
    switch (phase) {
    case ZMOE_PHASE_CONFIGURED: return "CONFIGURED";
    case ZMOE_PHASE_PLANNED: return "PLANNED";
    case ZMOE_PHASE_COMMITTED: return "COMMITTED";
    case ZMOE_PHASE_RUNNING: return "RUNNING";
    }
    return "UNKNOWN";
}

const char *zmoe_memory_name(enum zmoe_memory memory)
{
    switch (memory) {
    case ZMOE_MEMORY_DEVICE: return "device";
    case ZMOE_MEMORY_HOST_VISIBLE: return "host_visible";
    case ZMOE_MEMORY_COUNT: break;
    }
    return "unknown";
}

const char *zmoe_category_name(enum zmoe_category category)
{
    switch (category) {
    case ZMOE_CATEGORY_WEIGHT: return "weight";
    case ZMOE_CATEGORY_ACTIVATION: return "activation";
    case ZMOE_CATEGORY_IO: return "io";
    case ZMOE_CATEGORY_PARAM: return "param";
    case ZMOE_CATEGORY_STAGING: return "staging";
    case ZMOE_CATEGORY_COUNT: break;
    }
    return "unknown";
}

enum zmoe_status zmoe_phase_advance(enum zmoe_phase *phase, enum zmoe_phase to,
                                    struct zmoe_error *err)
{
    if (!phase) {
        arena_errorf(err, "zmoe_phase_advance: phase is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    /* Only the next phase is reachable: skipping one would use something the skipped
     * phase should have prepared, and going back would reuse what was released. */
    if ((unsigned)to != (unsigned)*phase + 1u || to > ZMOE_PHASE_RUNNING) {
        arena_errorf(err, "phase transition %s -> %s refused (only %s -> next is allowed)",
                     zmoe_phase_name(*phase), zmoe_phase_name(to), zmoe_phase_name(*phase));
        return ZMOE_ERR_STATE;
    }
    *phase = to;
    return ZMOE_OK;
}

const char *zmoe_size_human(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (!buf || len == 0)
        return buf;
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    /* Three significant digits for small values, one decimal otherwise: enough to
     * compare sizes at a glance; the exact byte count is printed next to it. */
    snprintf(buf, len, v < 10.0 ? "%.2f %s" : "%.1f %s", v, units[u]);
    return buf;
}

void zmoe_plan_init(struct zmoe_plan *plan, struct zmoe_buffer *storage, uint32_t capacity)
{
    if (!plan)
        return;
    memset(plan, 0, sizeof *plan);
    plan->buffers = storage;
    plan->capacity = storage ? capacity : 0;
    plan->phase = ZMOE_PHASE_CONFIGURED;
}

enum zmoe_status zmoe_plan_add(struct zmoe_plan *plan, const char *name, enum zmoe_memory memory,
                               enum zmoe_category category, uint64_t size, uint32_t align,
                               uint32_t first_stage, uint32_t last_stage, uint32_t *index,
                               struct zmoe_error *err)
{
    if (!plan) {
        arena_errorf(err, "zmoe_plan_add: plan is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    if (plan->phase != ZMOE_PHASE_CONFIGURED) {
        arena_errorf(err, "zmoe_plan_add('%s'): plan is %s; buffers can only be added while %s",
                     name ? name : "(null)", zmoe_phase_name(plan->phase),
                     zmoe_phase_name(ZMOE_PHASE_CONFIGURED));
        return ZMOE_ERR_STATE;
    }
    if (!name || name[0] == '\0') {
        arena_errorf(err, "zmoe_plan_add: buffer name is empty");
        return ZMOE_ERR_ARGUMENT;
    }
    size_t name_len = strnlen(name, ZMOE_BUFFER_NAME_MAX);
    if (name_len >= ZMOE_BUFFER_NAME_MAX) {
        arena_errorf(err, "zmoe_plan_add: buffer name '%.*s...' is longer than %d characters",
                     ZMOE_BUFFER_NAME_MAX - 1, name, ZMOE_BUFFER_NAME_MAX - 1);
        return ZMOE_ERR_ARGUMENT;
    }
    if ((unsigned)memory >= ZMOE_MEMORY_COUNT) {
        arena_errorf(err, "zmoe_plan_add('%s'): memory %u is not a memory kind", name,
                     (unsigned)memory);
        return ZMOE_ERR_ARGUMENT;
    }
    if ((unsigned)category >= ZMOE_CATEGORY_COUNT) {
        arena_errorf(err, "zmoe_plan_add('%s'): category %u is not a category", name,
                     (unsigned)category);
        return ZMOE_ERR_ARGUMENT;
    }
    if (size == 0) {
        arena_errorf(err, "zmoe_plan_add('%s'): size is 0", name);
        return ZMOE_ERR_ARGUMENT;
    }
    if (!arena_is_pow2(align) || align > ZMOE_PLAN_ALIGN_MAX) {
        arena_errorf(err, "zmoe_plan_add('%s'): alignment %u is not a power of two <= %u", name,
                     align, ZMOE_PLAN_ALIGN_MAX);
        return ZMOE_ERR_ARGUMENT;
    }
    if (first_stage > last_stage) {
        arena_errorf(err, "zmoe_plan_add('%s'): lifetime [%u..%u] ends before it starts", name,
                     first_stage, last_stage);
        return ZMOE_ERR_ARGUMENT;
    }
    if (plan->count >= plan->capacity) {
        arena_errorf(err, "zmoe_plan_add('%s'): plan is full (capacity %u buffers)", name,
                     plan->capacity);
        return ZMOE_ERR_ARGUMENT;
    }
    /* Names identify regions in the map report, the budget message and expected
     * files; a duplicate is a bug in the caller's enumeration. */
    for (uint32_t i = 0; i < plan->count; i++) {
        if (strcmp(plan->buffers[i].name, name) == 0) {
            arena_errorf(err, "zmoe_plan_add('%s'): a buffer of that name already exists (#%u)",
                         name, i);
            return ZMOE_ERR_ARGUMENT;
        }
    }
    struct zmoe_buffer *b = &plan->buffers[plan->count];
    memset(b, 0, sizeof *b);
    memcpy(b->name, name, name_len + 1);
    b->memory = memory;
    b->category = category;
    b->size = size;
    b->align = align;
    b->first_stage = first_stage;
    b->last_stage = last_stage;
    b->offset = 0;
    if (index)
        *index = plan->count;
    plan->count++;
    arena_error_clear(err);
    return ZMOE_OK;
}

/* Largest unplaced buffer of memory m (ties: lowest index, for determinism), or
 * UINT32_MAX when all are placed. A selection pass instead of a sort keeps the plan
 * free of scratch storage; O(n^2) is nothing for a few thousand buffers. */
static uint32_t next_unplaced(const struct zmoe_plan *plan, enum zmoe_memory m)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < plan->count; i++) {
        const struct zmoe_buffer *b = &plan->buffers[i];
        if (b->memory != m || b->offset != UNPLACED)
            continue;
        if (best == UINT32_MAX || b->size > plan->buffers[best].size)
            best = i;
    }
    return best;
}

/* Lowest aligned offset where buffer i overlaps no placed buffer of its memory whose
 * lifetime intersects its own: the first gap that fits. `head` starts the list of
 * placed buffers of that memory in offset order (linked through solve_next_), so one
 * walk suffices: x only moves past buffers that overlap [x, x+size), and once a
 * conflicting buffer starts at or after x+size, so does every later one. The walk
 * also returns, through *after, the list node the new buffer is inserted behind. */
static bool place_one(const struct zmoe_plan *plan, uint32_t head, uint32_t i, uint64_t *offset,
                      uint32_t *after)
{
    const struct zmoe_buffer *b = &plan->buffers[i];
    uint64_t x = 0, x_end;
    if (!arena_add_u64(x, b->size, &x_end))
        return false;
    for (uint32_t j = head; j != UINT32_MAX; j = plan->buffers[j].solve_next_) {
        const struct zmoe_buffer *p = &plan->buffers[j];
        if (!arena_lifetimes_intersect(b, p))
            continue;
        if (p->offset >= x_end)
            break;
        uint64_t p_end = p->offset + p->size; /* checked when p was placed */
        if (p_end > x) {
            if (!arena_align_up_u64(p_end, b->align, &x) || !arena_add_u64(x, b->size, &x_end))
                return false;
        }
    }
    /* Insertion point: behind the last node with (offset, index) before (x, i), so the
     * list stays in map order and ties stay deterministic. */
    uint32_t prev = UINT32_MAX;
    for (uint32_t j = head; j != UINT32_MAX; j = plan->buffers[j].solve_next_) {
        const struct zmoe_buffer *p = &plan->buffers[j];
        if (p->offset > x || (p->offset == x && j > i))
            break;
        prev = j;
    }
    *offset = x;
    *after = prev;
    return true;
}

/* Peak bytes alive at one stage point. The sum of a set of intervals' sizes peaks
 * at some interval's first stage, so evaluating at every first stage is exact.
 * Persistent buffers ([0..UINT32_MAX]) are alive at every point. */
static bool lower_bound_of(const struct zmoe_plan *plan, enum zmoe_memory m, uint64_t *out)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < plan->count; i++) {
        const struct zmoe_buffer *bi = &plan->buffers[i];
        if (bi->memory != m)
            continue;
        uint32_t point = bi->first_stage;
        uint64_t sum = 0;
        for (uint32_t j = 0; j < plan->count; j++) {
            const struct zmoe_buffer *bj = &plan->buffers[j];
            if (bj->memory != m || bj->first_stage > point || point > bj->last_stage)
                continue;
            if (!arena_add_u64(sum, bj->size, &sum))
                return false;
        }
        if (sum > best)
            best = sum;
    }
    *out = best;
    return true;
}

enum zmoe_status zmoe_plan_solve(struct zmoe_plan *plan, struct zmoe_error *err)
{
    if (!plan) {
        arena_errorf(err, "zmoe_plan_solve: plan is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    if (plan->phase != ZMOE_PHASE_CONFIGURED) {
        arena_errorf(err, "zmoe_plan_solve: plan is already %s (solve runs once, from %s)",
                     zmoe_phase_name(plan->phase), zmoe_phase_name(ZMOE_PHASE_CONFIGURED));
        return ZMOE_ERR_STATE;
    }
    uint64_t size[ZMOE_MEMORY_COUNT] = {0}, lower[ZMOE_MEMORY_COUNT] = {0};
    for (uint32_t i = 0; i < plan->count; i++) {
        plan->buffers[i].offset = UNPLACED;
        plan->buffers[i].solve_next_ = UINT32_MAX;
    }
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        uint32_t i, head = UINT32_MAX;
        while ((i = next_unplaced(plan, (enum zmoe_memory)m)) != UINT32_MAX) {
            struct zmoe_buffer *b = &plan->buffers[i];
            uint64_t off, end;
            uint32_t after;
            if (!place_one(plan, head, i, &off, &after) || !arena_add_u64(off, b->size, &end)) {
                arena_errorf(err, "zmoe_plan_solve: %s plan overflows 64 bits at buffer '%s' "
                             "(size %llu, align %u)", zmoe_memory_name((enum zmoe_memory)m),
                             b->name, (unsigned long long)b->size, b->align);
                for (uint32_t k = 0; k < plan->count; k++)
                    plan->buffers[k].offset = 0;
                return ZMOE_ERR_ARGUMENT;
            }
            b->offset = off;
            if (after == UINT32_MAX) {
                b->solve_next_ = head;
                head = i;
            } else {
                b->solve_next_ = plan->buffers[after].solve_next_;
                plan->buffers[after].solve_next_ = i;
            }
            if (end > size[m])
                size[m] = end;
        }
        /* lower <= size always holds (buffers alive together are disjoint inside the
         * block), so this cannot overflow once placement succeeded; checked anyway. */
        if (!lower_bound_of(plan, (enum zmoe_memory)m, &lower[m])) {
            arena_errorf(err, "zmoe_plan_solve: %s lower bound overflows 64 bits",
                         zmoe_memory_name((enum zmoe_memory)m));
            return ZMOE_ERR_ARGUMENT;
        }
    }
    memcpy(plan->size, size, sizeof size);
    memcpy(plan->lower_bound, lower, sizeof lower);
    plan->phase = ZMOE_PHASE_PLANNED;
    arena_error_clear(err);
    return ZMOE_OK;
}

bool zmoe_plan_has_overlap(const struct zmoe_plan *plan, struct zmoe_error *err)
{
    if (!plan)
        return false;
    for (uint32_t i = 0; i < plan->count; i++) {
        const struct zmoe_buffer *a = &plan->buffers[i];
        uint64_t a_end;
        if (!arena_add_u64(a->offset, a->size, &a_end)) {
            arena_errorf(err, "buffer '%s' offset 0x%llx + size %llu overflows", a->name,
                         (unsigned long long)a->offset, (unsigned long long)a->size);
            return true;
        }
        if (a->align == 0 || a->offset % a->align != 0) {
            arena_errorf(err, "buffer '%s' offset 0x%llx is not aligned to %u", a->name,
                         (unsigned long long)a->offset, a->align);
            return true;
        }
        /* Sizes are only known once solved; a buffer past its block's end would be
         * outside the allocation. */
        if (plan->phase >= ZMOE_PHASE_PLANNED && (unsigned)a->memory < ZMOE_MEMORY_COUNT &&
            a_end > plan->size[a->memory]) {
            arena_errorf(err, "buffer '%s' [0x%llx, 0x%llx) ends past the %s block (%llu bytes)",
                         a->name, (unsigned long long)a->offset, (unsigned long long)a_end,
                         zmoe_memory_name(a->memory), (unsigned long long)plan->size[a->memory]);
            return true;
        }
        for (uint32_t j = i + 1; j < plan->count; j++) {
            const struct zmoe_buffer *b = &plan->buffers[j];
            if (b->memory != a->memory || !arena_lifetimes_intersect(a, b))
                continue;
            uint64_t b_end;
            if (!arena_add_u64(b->offset, b->size, &b_end))
                continue; /* reported when the outer loop reaches b */
            if (a->offset < b_end && b->offset < a_end) {
                arena_errorf(err, "buffers '%s' [0x%llx, 0x%llx) life [%u..%u] and '%s' "
                             "[0x%llx, 0x%llx) life [%u..%u] overlap in %s memory",
                             a->name, (unsigned long long)a->offset, (unsigned long long)a_end,
                             a->first_stage, a->last_stage, b->name,
                             (unsigned long long)b->offset, (unsigned long long)b_end,
                             b->first_stage, b->last_stage, zmoe_memory_name(a->memory));
                return true;
            }
        }
    }
    arena_error_clear(err);
    return false;
}

double zmoe_plan_overhead_percent(const struct zmoe_plan *plan, enum zmoe_memory memory)
{
    if (!plan || (unsigned)memory >= ZMOE_MEMORY_COUNT || plan->lower_bound[memory] == 0 ||
        plan->size[memory] < plan->lower_bound[memory])
        return 0.0;
    return (double)(plan->size[memory] - plan->lower_bound[memory]) * 100.0 /
           (double)plan->lower_bound[memory];
}

/* The n largest buffers of memory m, by size (ties: lowest index), into top[]. */
static unsigned largest_of(const struct zmoe_plan *plan, enum zmoe_memory m, uint32_t *top,
                           unsigned n)
{
    unsigned found = 0;
    while (found < n) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < plan->count; i++) {
            const struct zmoe_buffer *b = &plan->buffers[i];
            bool taken = false;
            for (unsigned k = 0; k < found; k++)
                taken |= top[k] == i;
            if (b->memory != m || taken)
                continue;
            if (best == UINT32_MAX || b->size > plan->buffers[best].size)
                best = i;
        }
        if (best == UINT32_MAX)
            break;
        top[found++] = best;
    }
    return found;
}

/* Appends to msg at *pos; truncation is harmless (snprintf bounds it). */
static void appendf(char *msg, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *msg, size_t cap, size_t *pos, const char *fmt, ...)
{
    if (*pos >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos = (size_t)n >= cap - *pos ? cap : *pos + (size_t)n;
}

#define BUDGET_TOP 5

static void budget_message(const struct zmoe_plan *plan, enum zmoe_memory m, uint64_t need,
                           uint64_t budget, uint64_t host_extra, char *msg, size_t cap,
                           size_t *pos)
{
    char h1[32], h2[32], h3[32];
    const bool host = m == ZMOE_MEMORY_HOST_VISIBLE;
    appendf(msg, cap, pos, "%s plan needs %s (%llu bytes", host ? "host" : "device",
            zmoe_size_human(need, h1, sizeof h1), (unsigned long long)need);
    if (host)
        appendf(msg, cap, pos, ": host_visible %s + host block %s",
                zmoe_size_human(plan->size[m], h2, sizeof h2),
                zmoe_size_human(host_extra, h3, sizeof h3));
    appendf(msg, cap, pos, ") but budget.%s is %s; largest:", host ? "host_bytes" : "device_bytes",
            zmoe_size_human(budget, h1, sizeof h1));
    uint32_t top[BUDGET_TOP];
    unsigned n = largest_of(plan, m, top, BUDGET_TOP);
    /* The host block is one consumer of the host budget; list it where it ranks. */
    bool extra_listed = !host || host_extra == 0;
    unsigned listed = 0;
    for (unsigned k = 0; k <= n && listed < BUDGET_TOP; k++) {
        if (!extra_listed && (k == n || host_extra > plan->buffers[top[k]].size)) {
            appendf(msg, cap, pos, "%s (host block) %s", listed ? "," : "",
                    zmoe_size_human(host_extra, h1, sizeof h1));
            extra_listed = true;
            listed++;
            if (listed == BUDGET_TOP)
                break;
        }
        if (k == n)
            break;
        const struct zmoe_buffer *b = &plan->buffers[top[k]];
        appendf(msg, cap, pos, "%s %s %s", listed ? "," : "", b->name,
                zmoe_size_human(b->size, h1, sizeof h1));
        listed++;
    }
}

enum zmoe_status zmoe_plan_check_budget(const struct zmoe_plan *plan, uint64_t device_budget,
                                        uint64_t host_budget, uint64_t host_extra_bytes,
                                        struct zmoe_error *err)
{
    if (!plan) {
        arena_errorf(err, "zmoe_plan_check_budget: plan is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    if (plan->phase < ZMOE_PHASE_PLANNED) {
        arena_errorf(err, "zmoe_plan_check_budget: plan is %s; solve it first",
                     zmoe_phase_name(plan->phase));
        return ZMOE_ERR_STATE;
    }
    uint64_t host_need;
    bool host_overflow =
        !arena_add_u64(plan->size[ZMOE_MEMORY_HOST_VISIBLE], host_extra_bytes, &host_need);
    if (host_overflow)
        host_need = UINT64_MAX;
    bool device_over = device_budget != 0 && plan->size[ZMOE_MEMORY_DEVICE] > device_budget;
    bool host_over = host_budget != 0 && (host_overflow || host_need > host_budget);
    if (!device_over && !host_over) {
        arena_error_clear(err);
        return ZMOE_OK;
    }
    if (err) {
        size_t pos = 0;
        err->msg[0] = '\0';
        if (device_over)
            budget_message(plan, ZMOE_MEMORY_DEVICE, plan->size[ZMOE_MEMORY_DEVICE],
                           device_budget, 0, err->msg, sizeof err->msg, &pos);
        if (device_over && host_over)
            appendf(err->msg, sizeof err->msg, &pos, "; ");
        if (host_over)
            budget_message(plan, ZMOE_MEMORY_HOST_VISIBLE, host_need, host_budget,
                           host_extra_bytes, err->msg, sizeof err->msg, &pos);
    }
    return ZMOE_ERR_BUDGET;
}
