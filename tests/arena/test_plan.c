/* test_plan.c — planner unit tests: hand-made lifetimes with known layouts, alignment,
 * determinism, the phase state machine, argument and capacity errors, the budget
 * message, and the overhead on realistic MoE buffer lists. */
#include "arena/arena.h"
#include "tests/tap.h"
#include "moe_plans.h"

#include <string.h>

#define ALW0 ZMOE_STAGE_ALWAYS_FIRST
#define ALW1 ZMOE_STAGE_ALWAYS_LAST
#define DEV ZMOE_MEMORY_DEVICE
#define HOST ZMOE_MEMORY_HOST_VISIBLE
#define ACT ZMOE_CATEGORY_ACTIVATION
#define WGT ZMOE_CATEGORY_WEIGHT

static struct zmoe_buffer storage[4096];

static uint32_t add(struct zmoe_plan *p, const char *name, enum zmoe_memory m, uint64_t size,
                    uint32_t align, uint32_t first, uint32_t last)
{
    struct zmoe_error err;
    uint32_t idx = UINT32_MAX;
    enum zmoe_status st = zmoe_plan_add(p, name, m, m == DEV && last == ALW1 ? WGT : ACT, size,
                                        align, first, last, &idx, &err);
    if (st != ZMOE_OK)
        tap_bail("add %s: %s", name, err.msg);
    return idx;
}

static void solve_ok(struct zmoe_plan *p, const char *what)
{
    struct zmoe_error err;
    enum zmoe_status st = zmoe_plan_solve(p, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: solve", what))
        tap_diag("%s", err.msg);
    bool ov = zmoe_plan_has_overlap(p, &err);
    if (!TAP_OK(!ov, "%s: no overlap", what))
        tap_diag("%s", err.msg);
}

static void test_disjoint_share(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t a = add(&p, "a", DEV, 100, 1, 0, 1);
    uint32_t b = add(&p, "b", DEV, 100, 1, 2, 3);
    solve_ok(&p, "disjoint");
    TAP_EQ_INT(p.buffers[a].offset, 0, "disjoint: a at 0");
    TAP_EQ_INT(p.buffers[b].offset, 0, "disjoint: b reuses offset 0");
    TAP_EQ_INT(p.size[DEV], 100, "disjoint: block is one buffer");
    TAP_EQ_INT(p.lower_bound[DEV], 100, "disjoint: lower bound");
    TAP_EQ_INT(p.phase, ZMOE_PHASE_PLANNED, "solve moves the plan to PLANNED");
}

static void test_overlap_separate(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t a = add(&p, "a", DEV, 100, 1, 0, 2);
    uint32_t b = add(&p, "b", DEV, 50, 1, 2, 3); /* shares stage 2 with a */
    solve_ok(&p, "touching");
    TAP_EQ_INT(p.buffers[a].offset, 0, "touching: larger first at 0");
    TAP_EQ_INT(p.buffers[b].offset, 100, "touching: inclusive intervals do not share");
    TAP_EQ_INT(p.size[DEV], 150, "touching: size");
    TAP_EQ_INT(p.lower_bound[DEV], 150, "touching: lower bound");
}

static void test_chain(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t a = add(&p, "a", DEV, 64, 1, 0, 1);
    uint32_t b = add(&p, "b", DEV, 64, 1, 1, 2);
    uint32_t c = add(&p, "c", DEV, 64, 1, 2, 3);
    solve_ok(&p, "chain");
    TAP_EQ_INT(p.buffers[a].offset, 0, "chain: a at 0");
    TAP_EQ_INT(p.buffers[b].offset, 64, "chain: b after a");
    TAP_EQ_INT(p.buffers[c].offset, 0, "chain: c reuses a's bytes");
    TAP_EQ_INT(p.size[DEV], 128, "chain: size = lower bound");
    TAP_EQ_INT(p.lower_bound[DEV], 128, "chain: lower bound");
}

static void test_persistent_and_gaps(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    /* W always; activations around it. Known optimum: W | a1 a3 over a2. */
    uint32_t w = add(&p, "w", DEV, 1000, 1, ALW0, ALW1);
    uint32_t a1 = add(&p, "a1", DEV, 300, 1, 0, 1);
    uint32_t a2 = add(&p, "a2", DEV, 200, 1, 2, 3);
    uint32_t a3 = add(&p, "a3", DEV, 100, 1, 1, 2);
    solve_ok(&p, "persistent");
    TAP_EQ_INT(p.buffers[w].offset, 0, "persistent: w first");
    TAP_EQ_INT(p.buffers[a1].offset, 1000, "persistent: a1 after w");
    TAP_EQ_INT(p.buffers[a2].offset, 1000, "persistent: a2 reuses a1");
    TAP_EQ_INT(p.buffers[a3].offset, 1300, "persistent: a3 above a1 and a2");
    TAP_EQ_INT(p.lower_bound[DEV], 1400, "persistent: lower bound at stage 1");
    TAP_EQ_INT(p.size[DEV], 1400, "persistent: optimal");

    /* First gap: t fits in the hole r and q leave above p at stage 3. */
    zmoe_plan_init(&p, storage, 16);
    uint32_t pp = add(&p, "p", DEV, 100, 1, 0, 3);
    uint32_t q = add(&p, "q", DEV, 80, 1, 0, 0);
    uint32_t r = add(&p, "r", DEV, 80, 1, 2, 2);
    uint32_t s = add(&p, "s", DEV, 50, 1, 0, 2);
    uint32_t t = add(&p, "t", DEV, 10, 1, 3, 3);
    solve_ok(&p, "gaps");
    TAP_EQ_INT(p.buffers[pp].offset, 0, "gaps: p");
    TAP_EQ_INT(p.buffers[q].offset, 100, "gaps: q");
    TAP_EQ_INT(p.buffers[r].offset, 100, "gaps: r shares q's bytes");
    TAP_EQ_INT(p.buffers[s].offset, 180, "gaps: s above q and r");
    TAP_EQ_INT(p.buffers[t].offset, 100, "gaps: t takes the first gap");
    TAP_EQ_INT(p.size[DEV], 230, "gaps: size");
    TAP_EQ_INT(p.lower_bound[DEV], 230, "gaps: lower bound");
}

/* Greedy largest-first is a heuristic: this list (found by the exhaustive search in
 * test_random.c) has an optimum equal to its lower bound, 10, but the greedy order
 * gives 13. t0 takes 0; t2 shares 0 (disjoint lifetimes); t3 must clear t0 -> 6;
 * t1 must clear t2 [0,5) and t3 [6,10) -> 10. Pinned so a planner change that
 * alters the layout is noticed, and as the documented limitation. */
static void test_greedy_not_optimal(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t t0 = add(&p, "t0", DEV, 6, 1, 4, 4);
    uint32_t t1 = add(&p, "t1", DEV, 3, 1, 0, 2);
    uint32_t t2 = add(&p, "t2", DEV, 5, 1, 0, 0);
    uint32_t t3 = add(&p, "t3", DEV, 4, 1, 1, 4);
    solve_ok(&p, "greedy limit");
    TAP_OK(p.buffers[t0].offset == 0 && p.buffers[t2].offset == 0 && p.buffers[t3].offset == 6 &&
               p.buffers[t1].offset == 10,
           "greedy limit: layout t0=0 t2=0 t3=6 t1=10");
    TAP_EQ_INT(p.lower_bound[DEV], 10, "greedy limit: lower bound 10 (t0 + t3 at stage 4)");
    TAP_EQ_INT(p.size[DEV], 13, "greedy limit: greedy needs 13 where 10 is possible");
}

static void test_alignment(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t x = add(&p, "x", DEV, 10, 1, ALW0, ALW1);
    uint32_t y = add(&p, "y", DEV, 8, 256, ALW0, ALW1);
    uint32_t z = add(&p, "z", DEV, 3, 4096, 0, 0);
    uint32_t big = add(&p, "big", DEV, 5, ZMOE_PLAN_ALIGN_MAX, 0, 0);
    solve_ok(&p, "align");
    TAP_EQ_INT(p.buffers[x].offset, 0, "align: x at 0");
    TAP_EQ_INT(p.buffers[y].offset, 256, "align: y rounded up to 256");
    TAP_EQ_INT(p.buffers[z].offset, 4096, "align: z rounded up to 4096");
    TAP_EQ_INT(p.buffers[big].offset, ZMOE_PLAN_ALIGN_MAX, "align: 1 MiB alignment honoured");
    for (uint32_t i = 0; i < p.count; i++)
        TAP_OK(p.buffers[i].offset % p.buffers[i].align == 0, "align: %s aligned",
               p.buffers[i].name);
    TAP_EQ_INT(p.lower_bound[DEV], 10 + 8 + 3 + 5, "align: lower bound ignores padding");
    TAP_OK(zmoe_plan_overhead_percent(&p, DEV) > 0.0, "align: padding shows as overhead");
}

static void test_memories_independent(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 16);
    uint32_t d = add(&p, "d", DEV, 500, 64, ALW0, ALW1);
    uint32_t h = add(&p, "h", HOST, 300, 64, ALW0, ALW1);
    uint32_t h2 = add(&p, "h2", HOST, 100, 64, ALW0, ALW1);
    solve_ok(&p, "memories");
    TAP_EQ_INT(p.buffers[d].offset, 0, "memories: device buffer at 0");
    TAP_EQ_INT(p.buffers[h].offset, 0, "memories: host buffer at 0 of its own block");
    TAP_EQ_INT(p.buffers[h2].offset, 320, "memories: second host buffer aligned after");
    TAP_EQ_INT(p.size[DEV], 500, "memories: device size");
    TAP_EQ_INT(p.size[HOST], 420, "memories: host size");
    TAP_EQ_INT(p.lower_bound[HOST], 400, "memories: host lower bound");
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void fill_random(struct zmoe_plan *p, uint64_t seed, uint32_t n)
{
    zmoe_plan_init(p, p->buffers, n);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%u", i);
        uint32_t f = (uint32_t)(lcg(&seed) % 8), len = (uint32_t)(lcg(&seed) % 4);
        /* Equal sizes on purpose: ties are where nondeterminism would hide. */
        uint64_t size = 64 * (1 + lcg(&seed) % 4);
        add(p, name, (enum zmoe_memory)(lcg(&seed) % 2), size, 1u << (lcg(&seed) % 8), f, f + len);
    }
}

static void test_determinism(void)
{
    static struct zmoe_buffer s1[200], s2[200];
    struct zmoe_plan p1 = {.buffers = s1}, p2 = {.buffers = s2};
    fill_random(&p1, 42, 200);
    fill_random(&p2, 42, 200);
    struct zmoe_error err;
    TAP_OK(zmoe_plan_solve(&p1, &err) == ZMOE_OK && zmoe_plan_solve(&p2, &err) == ZMOE_OK,
           "determinism: both solve");
    bool same = true;
    for (uint32_t i = 0; i < 200; i++)
        same &= s1[i].offset == s2[i].offset;
    TAP_OK(same && p1.size[0] == p2.size[0] && p1.size[1] == p2.size[1],
           "determinism: same input twice gives identical offsets and sizes");
    TAP_OK(!zmoe_plan_has_overlap(&p1, &err), "determinism: plan valid");
}

/* Many equal persistent buffers: each sits on top of all the previous ones, in index
 * order (the tie rule). The case where a naive first-fit search goes cubic. */
static void test_stacked(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 3000);
    for (uint32_t i = 0; i < 3000; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%u", i);
        add(&p, name, DEV, 4096, 256, ALW0, ALW1);
    }
    solve_ok(&p, "stacked");
    uint32_t in_place = 0;
    for (uint32_t i = 0; i < 3000; i++)
        in_place += p.buffers[i].offset == (uint64_t)i * 4096;
    TAP_EQ_INT(in_place, 3000, "stacked: buffer i at i * 4096");
    TAP_EQ_INT(p.size[DEV], 3000ull * 4096, "stacked: size = lower bound");
    TAP_EQ_INT(p.lower_bound[DEV], 3000ull * 4096, "stacked: lower bound");
}

static void test_state_machine(void)
{
    struct zmoe_plan p;
    struct zmoe_error err;
    zmoe_plan_init(&p, storage, 16);
    add(&p, "a", DEV, 10, 1, 0, 0);
    TAP_EQ_INT(zmoe_plan_check_budget(&p, 1, 1, 0, &err), ZMOE_ERR_STATE,
               "state: budget check before solve refused");
    TAP_OK(strstr(err.msg, "CONFIGURED") != NULL, "state: message names the phase: %s", err.msg);
    struct zmoe_arena arena = {0};
    TAP_EQ_INT(zmoe_arena_commit(&arena, &p, (ze_context_handle_t)(uintptr_t)1,
                                 (ze_device_handle_t)(uintptr_t)1, &err),
               ZMOE_ERR_STATE, "state: commit of an unsolved plan refused");
    TAP_OK(zmoe_arena_ptr(&arena, &p, 0) == NULL, "state: no pointer before commit");
    TAP_EQ_INT(zmoe_plan_solve(&p, &err), ZMOE_OK, "state: solve");
    TAP_EQ_INT(zmoe_plan_solve(&p, &err), ZMOE_ERR_STATE, "state: second solve refused");
    TAP_EQ_INT(zmoe_plan_add(&p, "late", DEV, ACT, 10, 1, 0, 0, NULL, &err), ZMOE_ERR_STATE,
               "state: add after solve refused");
    TAP_EQ_INT(p.count, 1, "state: refused add changed nothing");
    arena.phase = ZMOE_PHASE_COMMITTED; /* as if committed: a second commit must not allocate */
    TAP_EQ_INT(zmoe_arena_commit(&arena, &p, (ze_context_handle_t)(uintptr_t)1,
                                 (ze_device_handle_t)(uintptr_t)1, &err),
               ZMOE_ERR_STATE, "state: second commit refused");

    enum zmoe_phase ph = ZMOE_PHASE_CONFIGURED;
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_COMMITTED, &err), ZMOE_ERR_STATE,
               "phase: skipping PLANNED refused");
    TAP_EQ_INT(ph, ZMOE_PHASE_CONFIGURED, "phase: unchanged after refusal");
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_PLANNED, &err), ZMOE_OK, "phase: -> PLANNED");
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_PLANNED, &err), ZMOE_ERR_STATE,
               "phase: repeating refused");
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_CONFIGURED, &err), ZMOE_ERR_STATE,
               "phase: going back refused");
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_COMMITTED, &err), ZMOE_OK, "phase: -> COMMITTED");
    TAP_EQ_INT(zmoe_phase_advance(&ph, ZMOE_PHASE_RUNNING, &err), ZMOE_OK, "phase: -> RUNNING");
    TAP_EQ_INT(zmoe_phase_advance(&ph, (enum zmoe_phase)(ZMOE_PHASE_RUNNING + 1), &err),
               ZMOE_ERR_STATE, "phase: nothing after RUNNING");
    TAP_OK(strcmp(zmoe_phase_name(ZMOE_PHASE_RUNNING), "RUNNING") == 0 &&
               strcmp(zmoe_phase_name(ZMOE_PHASE_PLANNED), "PLANNED") == 0,
           "phase: names");
    TAP_OK(strcmp(zmoe_category_name(ZMOE_CATEGORY_STAGING), "staging") == 0 &&
               strcmp(zmoe_category_name(ZMOE_CATEGORY_WEIGHT), "weight") == 0 &&
               strcmp(zmoe_memory_name(ZMOE_MEMORY_HOST_VISIBLE), "host_visible") == 0,
           "category and memory names");
}

static void expect_add_error(struct zmoe_plan *p, const char *name, enum zmoe_memory m,
                             enum zmoe_category c, uint64_t size, uint32_t align, uint32_t f,
                             uint32_t l, const char *needle, const char *what)
{
    struct zmoe_error err = {{0}};
    uint32_t before = p->count;
    enum zmoe_status st = zmoe_plan_add(p, name, m, c, size, align, f, l, NULL, &err);
    if (!TAP_OK(st == ZMOE_ERR_ARGUMENT && p->count == before && strstr(err.msg, needle),
                "arguments: %s refused", what))
        tap_diag("status %d, message '%s', wanted '%s'", st, err.msg, needle);
}

static void test_arguments(void)
{
    struct zmoe_plan p;
    zmoe_plan_init(&p, storage, 3);
    char long_name[ZMOE_BUFFER_NAME_MAX + 1];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    expect_add_error(&p, "", DEV, ACT, 1, 1, 0, 0, "empty", "empty name");
    expect_add_error(&p, NULL, DEV, ACT, 1, 1, 0, 0, "empty", "NULL name");
    expect_add_error(&p, long_name, DEV, ACT, 1, 1, 0, 0, "longer than", "name of 48 chars");
    long_name[ZMOE_BUFFER_NAME_MAX - 1] = '\0'; /* 47 characters: the longest allowed */
    uint32_t idx = 99;
    TAP_EQ_INT(zmoe_plan_add(&p, long_name, DEV, ACT, 1, 1, 0, 0, &idx, NULL), ZMOE_OK,
               "arguments: 47-character name accepted");
    TAP_EQ_INT(idx, 0, "arguments: index returned");
    expect_add_error(&p, "s", DEV, ACT, 0, 1, 0, 0, "size is 0", "size 0");
    expect_add_error(&p, "a", DEV, ACT, 1, 0, 0, 0, "power of two", "alignment 0");
    expect_add_error(&p, "a", DEV, ACT, 1, 48, 0, 0, "power of two", "alignment 48");
    expect_add_error(&p, "a", DEV, ACT, 1, ZMOE_PLAN_ALIGN_MAX * 2, 0, 0, "power of two",
                     "alignment 2 MiB");
    expect_add_error(&p, "l", DEV, ACT, 1, 1, 3, 2, "ends before", "lifetime [3..2]");
    expect_add_error(&p, "m", (enum zmoe_memory)ZMOE_MEMORY_COUNT, ACT, 1, 1, 0, 0, "memory",
                     "bad memory");
    expect_add_error(&p, "c", DEV, (enum zmoe_category)ZMOE_CATEGORY_COUNT, 1, 1, 0, 0,
                     "category", "bad category");
    expect_add_error(&p, long_name, DEV, ACT, 1, 1, 0, 0, "already exists", "duplicate name");
    TAP_EQ_INT(zmoe_plan_add(&p, "b", DEV, ACT, 1, 1, 0, 0, NULL, NULL), ZMOE_OK, "arguments: 2nd");
    TAP_EQ_INT(zmoe_plan_add(&p, "c", DEV, ACT, 1, 1, 0, 0, NULL, NULL), ZMOE_OK, "arguments: 3rd");
    expect_add_error(&p, "d", DEV, ACT, 1, 1, 0, 0, "capacity 3", "4th buffer in a plan of 3");
    TAP_EQ_INT(zmoe_plan_add(NULL, "x", DEV, ACT, 1, 1, 0, 0, NULL, NULL), ZMOE_ERR_ARGUMENT,
               "arguments: NULL plan");

    /* A plan whose offsets cannot fit in 64 bits is refused, not wrapped. */
    zmoe_plan_init(&p, storage, 3);
    add(&p, "huge1", DEV, UINT64_MAX / 2 + 1, 1, ALW0, ALW1);
    add(&p, "huge2", DEV, UINT64_MAX / 2 + 1, 1, ALW0, ALW1);
    struct zmoe_error err;
    TAP_EQ_INT(zmoe_plan_solve(&p, &err), ZMOE_ERR_ARGUMENT, "overflow: solve refused");
    TAP_OK(strstr(err.msg, "overflows") && strstr(err.msg, "huge"), "overflow: message: %s", err.msg);
    TAP_EQ_INT(p.phase, ZMOE_PHASE_CONFIGURED, "overflow: plan stays CONFIGURED");

    /* Empty plan: nothing to place, zero-sized blocks. */
    zmoe_plan_init(&p, storage, 3);
    TAP_EQ_INT(zmoe_plan_solve(&p, &err), ZMOE_OK, "empty plan solves");
    TAP_OK(p.size[DEV] == 0 && p.size[HOST] == 0 && p.lower_bound[DEV] == 0, "empty plan: sizes 0");
}

static void test_budget(void)
{
    struct zmoe_plan p;
    struct zmoe_error err;
    const uint64_t MiB = 1ull << 20;
    zmoe_plan_init(&p, storage, 16);
    add(&p, "layer0.w13", DEV, 384 * MiB, 256, ALW0, ALW1);
    add(&p, "layer1.w13", DEV, 380 * MiB, 256, ALW0, ALW1);
    add(&p, "layer0.w2", DEV, 192 * MiB, 256, ALW0, ALW1);
    add(&p, "layer1.w2", DEV, 190 * MiB, 256, ALW0, ALW1);
    add(&p, "act.o", DEV, 80 * MiB, 256, 3, 4);
    add(&p, "act.a", DEV, 60 * MiB, 256, 2, 3);
    add(&p, "layer0.router", DEV, 1 * MiB, 256, ALW0, ALW1);
    add(&p, "staging", HOST, 64 * MiB, 4096, ALW0, ALW1);
    add(&p, "slot0.params", HOST, 64, 64, ALW0, ALW1);
    solve_ok(&p, "budget");
    const uint64_t dev = p.size[DEV];
    /* Weights 1146 MiB + act.o and act.a alive together at stage 3 (140 MiB) + 1 MiB. */
    TAP_EQ_INT(dev, 1287 * MiB, "budget: device plan size");
    TAP_EQ_INT(zmoe_plan_check_budget(&p, dev, 0, 0, &err), ZMOE_OK, "budget: exact fit passes");
    TAP_EQ_INT(zmoe_plan_check_budget(&p, 0, 0, UINT64_MAX, &err), ZMOE_OK, "budget: 0 = unlimited");
    TAP_EQ_INT(zmoe_plan_check_budget(&p, 1024 * MiB, 0, 0, &err), ZMOE_ERR_BUDGET,
               "budget: 1 GiB device budget refused");
    tap_diag("budget message: %s", err.msg);
    char want[128];
    snprintf(want, sizeof want, "device plan needs 1.26 GiB (%llu bytes)", (unsigned long long)dev);
    TAP_OK(strstr(err.msg, want) != NULL, "budget: names the plan size ('%s')", want);
    TAP_OK(strstr(err.msg, "budget.device_bytes is 1.00 GiB") != NULL, "budget: names the budget");
    TAP_OK(strstr(err.msg, "largest: layer0.w13 384.0 MiB, layer1.w13 380.0 MiB, layer0.w2 "
                           "192.0 MiB, layer1.w2 190.0 MiB, act.o 80.0 MiB") != NULL,
           "budget: the five largest consumers in order with sizes");
    TAP_OK(strstr(err.msg, "act.a") == NULL && strstr(err.msg, "router") == NULL,
           "budget: only five consumers");
    TAP_OK(strstr(err.msg, "host") == NULL, "budget: host not blamed when within budget");

    TAP_EQ_INT(zmoe_plan_check_budget(&p, 0, 65 * MiB, 2 * MiB, &err), ZMOE_ERR_BUDGET,
               "budget: host visible + host block over the host budget");
    tap_diag("budget message: %s", err.msg);
    TAP_OK(strstr(err.msg, "budget.host_bytes is 65.0 MiB") && strstr(err.msg, "host block 2.00 MiB") &&
               strstr(err.msg, "largest: staging 64.0 MiB, (host block) 2.00 MiB, slot0.params 64 B"),
           "budget: host message names the block and consumers");
    TAP_EQ_INT(zmoe_plan_check_budget(&p, 1, 1, 0, &err), ZMOE_ERR_BUDGET, "budget: both over");
    TAP_OK(strstr(err.msg, "device plan needs") && strstr(err.msg, "host plan needs"),
           "budget: both memories named");
    TAP_EQ_INT(zmoe_plan_check_budget(&p, 0, 1, UINT64_MAX, &err), ZMOE_ERR_BUDGET,
               "budget: host extra overflow is over budget, not wrapped");
}

static void test_size_human(void)
{
    char b[32];
    TAP_OK(strcmp(zmoe_size_human(0, b, sizeof b), "0 B") == 0, "size: 0 B");
    TAP_OK(strcmp(zmoe_size_human(1023, b, sizeof b), "1023 B") == 0, "size: 1023 B");
    TAP_OK(strcmp(zmoe_size_human(4096, b, sizeof b), "4.00 KiB") == 0, "size: 4.00 KiB");
    TAP_OK(strcmp(zmoe_size_human(384ull << 20, b, sizeof b), "384.0 MiB") == 0, "size: 384.0 MiB");
    TAP_OK(strcmp(zmoe_size_human(1288490188ull, b, sizeof b), "1.20 GiB") == 0, "size: 1.20 GiB");
    TAP_OK(strcmp(zmoe_size_human(UINT64_MAX, b, sizeof b), "16.0 EiB") == 0, "size: 16.0 EiB");
}

/* The acceptance number: overhead over the lower bound on what the runtime will
 * plan, for real geometries; activation-only lists are printed too, since weights
 * (persistent, no reuse) dilute any planner inefficiency in the full plan. */
static void test_realistic(void)
{
    static const uint32_t tokens[] = {1, 16, 256};
    for (size_t g = 0; g < MOE_GEOMETRY_COUNT; g++)
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
            for (int with_w = 1; with_w >= 0; with_w--) {
                struct zmoe_plan p;
                struct zmoe_error err;
                zmoe_plan_init(&p, storage, sizeof storage / sizeof storage[0]);
                if (!moe_build_plan(&p, &moe_geometries[g], tokens[t], 3, with_w))
                    tap_bail("building %s", moe_geometries[g].name);
                bool ok = zmoe_plan_solve(&p, &err) == ZMOE_OK && !zmoe_plan_has_overlap(&p, &err);
                double od = zmoe_plan_overhead_percent(&p, DEV);
                double oh = zmoe_plan_overhead_percent(&p, HOST);
                tap_diag("%-15s T=%-3u %-10s device %14llu B (lower bound %14llu) overhead %.4f %%;"
                         " host %llu B overhead %.4f %%",
                         moe_geometries[g].name, tokens[t], with_w ? "full" : "no-weights",
                         (unsigned long long)p.size[DEV], (unsigned long long)p.lower_bound[DEV],
                         od, (unsigned long long)p.size[HOST], oh);
                TAP_OK(ok && p.size[DEV] >= p.lower_bound[DEV] && od <= 2.0 && oh <= 2.0,
                       "realistic %s T=%u %s: valid, overhead <= 2%%", moe_geometries[g].name,
                       tokens[t], with_w ? "full" : "no-weights");
            }
}

int main(void)
{
    test_disjoint_share();
    test_overlap_separate();
    test_chain();
    test_persistent_and_gaps();
    test_alignment();
    test_greedy_not_optimal();
    test_memories_independent();
    test_determinism();
    test_stacked();
    test_state_machine();
    test_arguments();
    test_budget();
    test_size_human();
    test_realistic();
    return tap_exit();
}
