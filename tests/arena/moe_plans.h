/* moe_plans.h — buffer lists shaped like the runtime's, for real MoE geometries, so
 * the planner's overhead can be measured on what it will actually see. The runtime's
 * own enumeration replaces this at integration time (expected-report test). */
#ifndef ZMOE_TEST_MOE_PLANS_H
#define ZMOE_TEST_MOE_PLANS_H

#include "arena/arena.h"

#include <stdio.h>

struct moe_geometry {
    const char *name;
    uint32_t hidden, intermediate, experts, top_k, layers, shared_intermediate;
    bool bias;
    uint32_t weight_bytes; /* bytes per weight element (bf16 = 2) */
};

/* Published geometries (config.json of each model). */
static const struct moe_geometry moe_geometries[] = {
    {"mixtral-8x7b", 4096, 14336, 8, 2, 32, 0, false, 2},
    {"qwen3-30b-a3b", 2048, 768, 128, 8, 48, 0, false, 2},
    {"qwen2-57b-a14b", 3584, 2560, 64, 8, 28, 20480, false, 2},
    {"deepseek-v3", 7168, 2048, 256, 8, 58, 2048, false, 2},
    {"gpt-oss-20b", 2880, 2880, 32, 4, 24, 0, true, 2},
    {"llama4-scout", 5120, 8192, 16, 1, 48, 8192, false, 2},
};
#define MOE_GEOMETRY_COUNT (sizeof moe_geometries / sizeof moe_geometries[0])

/* Stages of one layer call (zmoe_stage). */
enum { ST_ROUTER = 0, ST_ALIGN, ST_UP, ST_DOWN, ST_COMBINE };

static inline bool moe_add(struct zmoe_plan *p, const char *name, enum zmoe_memory m,
                           enum zmoe_category c, uint64_t size, uint32_t align, uint32_t first,
                           uint32_t last)
{
    struct zmoe_error err;
    if (zmoe_plan_add(p, name, m, c, size, align, first, last, NULL, &err) != ZMOE_OK) {
        printf("# moe_add: %s\n", err.msg);
        return false;
    }
    return true;
}

/* Adds the buffers of a model: `layers_used` layers of weights (0 = all), activations
 * for `tokens` tokens, `ring` slots; with_weights false gives the activation-only
 * list (the part where reuse matters). Returns false when the plan is too small. */
static inline bool moe_build_plan(struct zmoe_plan *p, const struct moe_geometry *g,
                                  uint32_t tokens, uint32_t ring, bool with_weights)
{
    const uint32_t A = 256; /* the runtime's alignment for device buffers */
    const uint64_t H = g->hidden, I = g->intermediate, E = g->experts, K = g->top_k;
    const uint64_t T = tokens, W = g->weight_bytes, ACT = 2; /* bf16 activations */
    const uint32_t ALW0 = ZMOE_STAGE_ALWAYS_FIRST, ALW1 = ZMOE_STAGE_ALWAYS_LAST;
    const enum zmoe_memory D = ZMOE_MEMORY_DEVICE, HV = ZMOE_MEMORY_HOST_VISIBLE;
    char n[ZMOE_BUFFER_NAME_MAX];
    bool ok = true;
    if (with_weights)
        for (uint32_t l = 0; l < g->layers && ok; l++) {
            snprintf(n, sizeof n, "layer%u.router", l);
            ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * H * W, A, ALW0, ALW1);
            snprintf(n, sizeof n, "layer%u.w13", l);
            ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * 2 * I * H * W, A, ALW0, ALW1);
            snprintf(n, sizeof n, "layer%u.w2", l);
            ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * H * I * W, A, ALW0, ALW1);
            if (g->bias) {
                snprintf(n, sizeof n, "layer%u.router_bias", l);
                ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * W, A, ALW0, ALW1);
                snprintf(n, sizeof n, "layer%u.b13", l);
                ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * 2 * I * W, A, ALW0, ALW1);
                snprintf(n, sizeof n, "layer%u.b2", l);
                ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, E * H * W, A, ALW0, ALW1);
            }
            if (g->shared_intermediate) {
                const uint64_t S = g->shared_intermediate;
                snprintf(n, sizeof n, "layer%u.shared_w13", l);
                ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, 2 * S * H * W, A, ALW0, ALW1);
                snprintf(n, sizeof n, "layer%u.shared_w2", l);
                ok &= moe_add(p, n, D, ZMOE_CATEGORY_WEIGHT, H * S * W, A, ALW0, ALW1);
            }
        }
    /* Activations: one set shared by all layers (in-order queue). */
    ok &= moe_add(p, "act.logits", D, ZMOE_CATEGORY_ACTIVATION, T * E * 4, A, ST_ROUTER, ST_ROUTER);
    ok &= moe_add(p, "act.topk_ids", D, ZMOE_CATEGORY_ACTIVATION, T * K * 4, A, ST_ROUTER, ST_COMBINE);
    ok &= moe_add(p, "act.topk_w", D, ZMOE_CATEGORY_ACTIVATION, T * K * 4, A, ST_ROUTER, ST_COMBINE);
    ok &= moe_add(p, "act.counts", D, ZMOE_CATEGORY_ACTIVATION, E * 4, A, ST_ROUTER, ST_ALIGN);
    ok &= moe_add(p, "act.offsets", D, ZMOE_CATEGORY_ACTIVATION, (E + 1) * 4, A, ST_ALIGN, ST_COMBINE);
    ok &= moe_add(p, "act.slot_token", D, ZMOE_CATEGORY_ACTIVATION, T * K * 4, A, ST_ALIGN, ST_COMBINE);
    ok &= moe_add(p, "act.group_counts", D, ZMOE_CATEGORY_ACTIVATION, 2 * 3 * 4, A, ST_ALIGN, ST_DOWN);
    ok &= moe_add(p, "act.a", D, ZMOE_CATEGORY_ACTIVATION, T * K * I * ACT, A, ST_UP, ST_DOWN);
    ok &= moe_add(p, "act.o", D, ZMOE_CATEGORY_ACTIVATION, T * K * H * ACT, A, ST_DOWN, ST_COMBINE);
    if (g->shared_intermediate) {
        ok &= moe_add(p, "act.shared_a", D, ZMOE_CATEGORY_ACTIVATION,
                      T * g->shared_intermediate * ACT, A, ST_UP, ST_DOWN);
        ok &= moe_add(p, "act.shared_o", D, ZMOE_CATEGORY_ACTIVATION, T * H * ACT, A, ST_DOWN,
                      ST_COMBINE);
    }
    /* Per ring slot: I/O on both sides and the parameter block. */
    for (uint32_t s = 0; s < ring && ok; s++) {
        snprintf(n, sizeof n, "slot%u.x", s);
        ok &= moe_add(p, n, D, ZMOE_CATEGORY_IO, T * H * ACT, A, ALW0, ALW1);
        snprintf(n, sizeof n, "slot%u.y", s);
        ok &= moe_add(p, n, D, ZMOE_CATEGORY_IO, T * H * ACT, A, ALW0, ALW1);
        snprintf(n, sizeof n, "slot%u.x_host", s);
        ok &= moe_add(p, n, HV, ZMOE_CATEGORY_IO, T * H * ACT, 64, ALW0, ALW1);
        snprintf(n, sizeof n, "slot%u.y_host", s);
        ok &= moe_add(p, n, HV, ZMOE_CATEGORY_IO, T * H * ACT, 64, ALW0, ALW1);
        snprintf(n, sizeof n, "slot%u.params", s);
        ok &= moe_add(p, n, HV, ZMOE_CATEGORY_PARAM, 64, 64, ALW0, ALW1);
    }
    ok &= moe_add(p, "staging", HV, ZMOE_CATEGORY_STAGING, 64ull << 20, 4096, ALW0, ALW1);
    return ok;
}

#endif
