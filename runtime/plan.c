/* plan.c — the buffers of a runtime, as a pure function of the config: per-layer
 * weights, activations with stage lifetimes (so the planner overlaps them), per-slot
 * I/O and parameter blocks, the record-mode parameter block and the upload staging. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>

#define ACT_ALIGN 64u
#define STAGING_MAX (4u << 20) /* weight upload chunk: big enough to amortise a copy */
#define STAGING_MIN 4096u

static const char *const act_names[ZMOE_ACT_COUNT] = {
    "act.logits", "act.topk_ids", "act.topk_w", "act.gate", "act.sorted", "act.inv",
    "act.tiles",  "act.groups",   "act.a",      "act.a_shared", "act.o", "act.o_shared",
    "act.done",   "act.route_counts",
};

const char *zmoe_act_name(enum zmoe_act a)
{
    return (unsigned)a < ZMOE_ACT_COUNT ? act_names[a] : "?";
}

uint32_t zmoe_runtime_weight_buffer(const struct zmoe_runtime_buffers *ids, uint32_t layer,
                                    enum zmoe_tensor t)
{
    if ((unsigned)t >= ZMOE_TENSOR_COUNT || ids->caller_weights ||
        ids->weight_rank[t] == ZMOE_NO_BUFFER)
        return ZMOE_NO_BUFFER;
    return ids->weight_base + layer * ids->weights_per_layer + ids->weight_rank[t];
}

uint32_t zmoe_runtime_slot_buffer(const struct zmoe_runtime_buffers *ids, uint32_t slot,
                                  enum zmoe_slot_buffer b)
{
    return ids->slot_base + slot * ZMOE_SLOT_BUFFER_COUNT + (uint32_t)b;
}

void zmoe_runtime_params(const struct zmoe_config *cfg, struct zmoe_params *p)
{
    memset(p, 0, sizeof *p);
    uint32_t f = 0;
    if (cfg->router.scoring == ZMOE_SCORING_SIGMOID)
        f |= ZMOE_PF_SIGMOID;
    if (cfg->router.renormalize)
        f |= ZMOE_PF_RENORM;
    if (cfg->router.score_correction_bias)
        f |= ZMOE_PF_SCORE_BIAS;
    if (cfg->router.bias)
        f |= ZMOE_PF_ROUTER_BIAS;
    if (cfg->router.apply_router_weight_on_input)
        f |= ZMOE_PF_ON_INPUT;
    if (cfg->experts.bias)
        f |= ZMOE_PF_EXPERT_BIAS;
    if (cfg->model.shared_experts && cfg->model.shared_intermediate) {
        f |= ZMOE_PF_SHARED;
        if (cfg->router.shared_expert_gate)
            f |= ZMOE_PF_SHARED_GATE;
    }
    p->flags = f;
    p->activation = (uint32_t)cfg->experts.activation;
    p->routed_scaling = cfg->router.routed_scaling_factor;
    p->swiglu_alpha = cfg->experts.swiglu_alpha;
    p->swiglu_limit = cfg->experts.swiglu_limit;
}

static bool mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

enum zmoe_status zmoe_runtime_check_config(const struct zmoe_config *cfg, struct zmoe_error *err)
{
    if (!cfg) {
        zmoe_runtime_errorf(err, "runtime: config is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    const uint32_t E = cfg->model.experts, K = cfg->model.top_k;
    if (cfg->model.hidden == 0 || cfg->model.intermediate == 0 || E == 0 || K == 0 ||
        cfg->model.layers == 0 || K > E) {
        zmoe_runtime_errorf(err, "runtime: model geometry H=%u I=%u E=%u K=%u layers=%u is "
                                 "not usable (all > 0, top_k <= experts)",
                            cfg->model.hidden, cfg->model.intermediate, E, K, cfg->model.layers);
        return ZMOE_ERR_CONFIG;
    }
    if (E > ZMOE_KERNEL_EMAX) {
        zmoe_runtime_errorf(err, "runtime: %u experts; the align kernel handles at most %u", E,
                            ZMOE_KERNEL_EMAX);
        return ZMOE_ERR_CONFIG;
    }
    const uint32_t G = cfg->router.groups ? cfg->router.groups : 1;
    if (G > ZMOE_KERNEL_GROUPS_MAX || E % G != 0 ||
        (G > 1 && (cfg->router.topk_group == 0 || (uint64_t)cfg->router.topk_group * (E / G) < K))) {
        zmoe_runtime_errorf(err, "runtime: router groups=%u topk_group=%u do not fit E=%u K=%u "
                                 "(groups <= %u dividing E, enough eligible experts)",
                            G, cfg->router.topk_group, E, K, ZMOE_KERNEL_GROUPS_MAX);
        return ZMOE_ERR_CONFIG;
    }
    if (cfg->model.layers > ZMOE_RUNTIME_LAYERS_MAX || cfg->runtime.ring_depth > ZMOE_RUNTIME_DEPTH_MAX) {
        zmoe_runtime_errorf(err, "runtime: %u layers / ring depth %u; the runtime plans at most %u "
                                 "layers and %u slots",
                            cfg->model.layers, cfg->runtime.ring_depth, ZMOE_RUNTIME_LAYERS_MAX,
                            ZMOE_RUNTIME_DEPTH_MAX);
        return ZMOE_ERR_CONFIG;
    }
    if (cfg->runtime.max_tokens == 0 || cfg->runtime.ring_depth == 0) {
        zmoe_runtime_errorf(err, "runtime: max_tokens (%u) and ring_depth (%u) must be > 0",
                            cfg->runtime.max_tokens, cfg->runtime.ring_depth);
        return ZMOE_ERR_CONFIG;
    }
    if ((unsigned)cfg->dtype.weights > ZMOE_DTYPE_BF16 ||
        (unsigned)cfg->dtype.activations > ZMOE_DTYPE_BF16 ||
        (unsigned)cfg->experts.activation > ZMOE_ACT_SWIGLU_OAI ||
        (unsigned)cfg->router.scoring > ZMOE_SCORING_SIGMOID) {
        zmoe_runtime_errorf(err, "runtime: dtype, activation or scoring out of range");
        return ZMOE_ERR_CONFIG;
    }
    /* Kernels index rows and tiles with 32-bit integers. */
    uint64_t tk;
    if (!mul(cfg->runtime.max_tokens, K, &tk) || tk > (1u << 24)) {
        zmoe_runtime_errorf(err, "runtime: max_tokens * top_k = %u * %u is too large",
                            cfg->runtime.max_tokens, K);
        return ZMOE_ERR_CONFIG;
    }
    /* The expert kernels' register tiles hold token rows of x as 32-bit element offsets. */
    uint64_t xe;
    if (!mul(cfg->runtime.max_tokens, cfg->model.hidden, &xe) || xe > UINT32_MAX) {
        zmoe_runtime_errorf(err, "runtime: max_tokens * hidden = %u * %u is too large (the kernels "
                                 "index x with 32 bits)",
                            cfg->runtime.max_tokens, cfg->model.hidden);
        return ZMOE_ERR_CONFIG;
    }
    return ZMOE_OK;
}

uint32_t zmoe_runtime_max_buffers(const struct zmoe_config *cfg)
{
    if (!cfg || cfg->model.layers == 0 || cfg->model.layers > ZMOE_RUNTIME_LAYERS_MAX ||
        cfg->runtime.ring_depth > ZMOE_RUNTIME_DEPTH_MAX)
        return 0;
    return cfg->model.layers * ZMOE_TENSOR_COUNT + ZMOE_ACT_COUNT +
           cfg->runtime.ring_depth * (ZMOE_SLOT_BUFFER_COUNT + 2) + 4;
}

size_t zmoe_runtime_host_bytes(const struct zmoe_config *cfg)
{
    uint32_t n = zmoe_runtime_max_buffers(cfg);
    if (n == 0)
        return 0;
    size_t depth = cfg->runtime.ring_depth, layers = cfg->model.layers;
    /* each item rounded up to its 64-byte alignment, plus room for a build log */
    size_t bytes = 64 + ((sizeof(struct zmoe_runtime) + 63) & ~(size_t)63);
    bytes += ((size_t)n * sizeof(struct zmoe_buffer) + 127) & ~(size_t)63;
    bytes += ((depth * sizeof(struct zmoe_ring_slot)) + 127) & ~(size_t)63;
    /* per slot: the layer lists and the experts-only lists */
    bytes += 2 * depth * (((layers * sizeof(ze_command_list_handle_t)) + 127) & ~(size_t)63);
    /* per layer: the caller's weight pointers and whether the layer has weights */
    bytes += ((layers * sizeof(struct zmoe_layer_weights)) + 127) & ~(size_t)63;
    bytes += (layers + 127) & ~(size_t)63;
    bytes += 16384; /* module build log on failure */
    return bytes;
}

static enum zmoe_status add(struct zmoe_plan *plan, const char *name, enum zmoe_memory mem,
                            enum zmoe_category cat, uint64_t size, uint32_t first,
                            uint32_t last, uint32_t *index, struct zmoe_error *err)
{
    /* Absent optional buffers still get a few bytes so every kernel argument is a valid
     * pointer; they are never read. */
    if (size == 0)
        size = 16;
    return zmoe_plan_add(plan, name, mem, cat, size, ACT_ALIGN, first, last, index, err);
}

static bool expert_tensor(enum zmoe_tensor t)
{
    return t == ZMOE_TENSOR_W13 || t == ZMOE_TENSOR_B13 || t == ZMOE_TENSOR_W2 ||
           t == ZMOE_TENSOR_B2;
}

struct zmoe_config zmoe_runtime_shard_config(const struct zmoe_config *cfg,
                                             const struct zmoe_shard *shard)
{
    struct zmoe_config c = *cfg;
    if (shard)
        c.model.experts = shard->experts;
    return c;
}

bool zmoe_runtime_shard_has(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                            enum zmoe_tensor t)
{
    if (!zmoe_tensor_present(cfg, t))
        return false;
    if (shard && !shard->shared && (t == ZMOE_TENSOR_SHARED_W13 || t == ZMOE_TENSOR_SHARED_W2))
        return false;
    return !shard || !expert_tensor(t) || shard->experts > 0;
}

static enum zmoe_status plan_all(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                                 bool caller_weights, struct zmoe_plan *plan,
                                 struct zmoe_runtime_buffers *ids, struct zmoe_error *err);

enum zmoe_status zmoe_runtime_plan(const struct zmoe_config *cfg, struct zmoe_plan *plan,
                                   struct zmoe_runtime_buffers *ids, struct zmoe_error *err)
{
    return plan_all(cfg, NULL, false, plan, ids, err);
}

enum zmoe_status zmoe_runtime_plan_weights(const struct zmoe_config *cfg, bool caller_weights,
                                           struct zmoe_plan *plan, struct zmoe_runtime_buffers *ids,
                                           struct zmoe_error *err)
{
    return plan_all(cfg, NULL, caller_weights, plan, ids, err);
}

enum zmoe_status zmoe_runtime_plan_shard(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                                         struct zmoe_plan *plan, struct zmoe_runtime_buffers *ids,
                                         struct zmoe_error *err)
{
    return plan_all(cfg, shard, false, plan, ids, err);
}

/* Every buffer of one runtime; `shard` (expert parallel) sizes the expert tensors for the
 * owned experts and adds the partials, `caller_weights` plans no weight buffers. */
static enum zmoe_status plan_all(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                                 bool caller_weights, struct zmoe_plan *plan,
                                 struct zmoe_runtime_buffers *ids, struct zmoe_error *err)
{
    if (!cfg || !plan || !ids) {
        zmoe_runtime_errorf(err, "zmoe_runtime_plan: config, plan and ids must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = zmoe_runtime_check_config(cfg, err);
    if (st)
        return st;
    if (plan->capacity < zmoe_runtime_max_buffers(cfg)) {
        zmoe_runtime_errorf(err, "zmoe_runtime_plan: plan capacity %u < %u buffers needed",
                            plan->capacity, zmoe_runtime_max_buffers(cfg));
        return ZMOE_ERR_ARGUMENT;
    }
    memset(ids, 0, sizeof *ids);
    const uint64_t H = cfg->model.hidden, I = cfg->model.intermediate, E = cfg->model.experts;
    const uint64_t K = cfg->model.top_k, T = cfg->runtime.max_tokens;
    const bool shared = cfg->model.shared_experts && cfg->model.shared_intermediate;
    uint64_t S = 0;
    if (shared && !mul(cfg->model.shared_experts, cfg->model.shared_intermediate, &S))
        goto overflow;
    const uint64_t TK = T * K; /* bounded by check_config */
    const size_t asz = zmoe_dtype_size(cfg->dtype.activations);
    char name[ZMOE_BUFFER_NAME_MAX];
    uint32_t idx;

    const struct zmoe_config ecfg = zmoe_runtime_shard_config(cfg, shard);
    /* Weights: every present tensor of every layer, persistent; none when the caller
     * owns them (their pointers stand in for the buffers: runtime.h caller_weights). */
    uint32_t per_layer = 0;
    uint64_t largest = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        ids->weight_rank[t] = ZMOE_NO_BUFFER;
        if (zmoe_runtime_shard_has(cfg, shard, (enum zmoe_tensor)t))
            ids->weight_rank[t] = per_layer++;
    }
    ids->weights_per_layer = per_layer;
    ids->weight_base = plan->count;
    ids->caller_weights = caller_weights;
    for (uint32_t l = 0; l < (caller_weights ? 0 : cfg->model.layers); l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
            if (ids->weight_rank[t] == ZMOE_NO_BUFFER)
                continue;
            /* zmoe_tensor_bytes: quantized matrices are weights/quant.h's parts; a shard's
             * expert tensors are those of its owned experts alone */
            uint64_t bytes = zmoe_tensor_bytes(expert_tensor((enum zmoe_tensor)t) ? &ecfg : cfg,
                                               (enum zmoe_tensor)t);
            if (bytes == 0)
                goto overflow;
            if (bytes > largest)
                largest = bytes;
            snprintf(name, sizeof name, "layer%u.%s", l, zmoe_tensor_name((enum zmoe_tensor)t));
            st = zmoe_plan_add(plan, name, ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, bytes, 64,
                               ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST, &idx, err);
            if (st)
                return st;
        }

    /* Activations, [first, last] stage of one layer call. */
    ids->max_tiles = (uint32_t)(TK / ZMOE_KERNEL_RMAX + (E < TK ? E : TK) +
                                (T + ZMOE_KERNEL_RMAX - 1) / ZMOE_KERNEL_RMAX + 1);
    uint64_t a_rows, o_rows, ash, osh, logits;
    if (!mul(TK, I * 4, &a_rows) || !mul(TK, H * 4, &o_rows) || !mul(T, S * 4, &ash) ||
        !mul(T, H * 4, &osh) || !mul(T, (E + 1) * 4, &logits))
        goto overflow;
    const struct {
        uint64_t size;
        uint32_t first, last;
    } acts[ZMOE_ACT_COUNT] = {
        [ZMOE_ACT_LOGITS] = {logits, ZMOE_STAGE_ROUTER, ZMOE_STAGE_ALIGN},
        /* align's outputs, from the router stage on: align may run inside the router
         * (route_tail). Read by the slot's routing readback copy, which only waits for
         * the routing and may run next to the later stages: no later stage may reuse
         * these bytes */
        [ZMOE_ACT_TOPK_IDS] = {TK * 4, ZMOE_STAGE_ROUTER, ZMOE_STAGE_COMBINE},
        [ZMOE_ACT_TOPK_W] = {TK * 4, ZMOE_STAGE_ROUTER, ZMOE_STAGE_COMBINE},
        [ZMOE_ACT_GATE] = {T * 4, ZMOE_STAGE_ROUTER, ZMOE_STAGE_COMBINE},
        /* expert_down's fused combine reads it too (the token of each row) */
        [ZMOE_ACT_SORTED] = {TK * 4, ZMOE_STAGE_ROUTER, ZMOE_STAGE_EXPERT_DOWN},
        [ZMOE_ACT_INV] = {TK * 4, ZMOE_STAGE_ROUTER, ZMOE_STAGE_COMBINE},
        [ZMOE_ACT_TILES] = {(uint64_t)ids->max_tiles * 16, ZMOE_STAGE_ROUTER, ZMOE_STAGE_EXPERT_DOWN},
        [ZMOE_ACT_GROUPS] = {3 * sizeof(ze_group_count_t), ZMOE_STAGE_ROUTER, ZMOE_STAGE_COMBINE},
        [ZMOE_ACT_A] = {a_rows, ZMOE_STAGE_EXPERT_UP, ZMOE_STAGE_EXPERT_DOWN},
        [ZMOE_ACT_A_SHARED] = {ash, ZMOE_STAGE_EXPERT_UP, ZMOE_STAGE_EXPERT_DOWN},
        [ZMOE_ACT_O] = {o_rows, ZMOE_STAGE_EXPERT_DOWN, ZMOE_STAGE_COMBINE},
        [ZMOE_ACT_O_SHARED] = {shared ? osh : 0, ZMOE_STAGE_EXPERT_DOWN, ZMOE_STAGE_COMBINE},
        /* one count per token and expert_down column block; a block has at least one
         * column whatever the device's shape, so T x H bounds it without the device */
        [ZMOE_ACT_DONE] = {osh, ZMOE_STAGE_ROUTER, ZMOE_STAGE_EXPERT_DOWN},
        /* counters that carry zero from one call to the next (each call resets them) */
        [ZMOE_ACT_ROUTE_COUNTS] = {(T + 1) * 4, ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST},
    };
    for (int a = 0; a < ZMOE_ACT_COUNT; a++) {
        st = add(plan, act_names[a], ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, acts[a].size,
                 acts[a].first, acts[a].last, &ids->act[a], err);
        if (st)
            return st;
    }

    /* Per ring slot: device x/y, host-visible x/y, the parameter block, and the
     * host-visible routing readback (top-k ids and weights, [T][K]). */
    uint64_t io;
    if (!mul(T * H, asz, &io))
        goto overflow;
    ids->slot_base = plan->count;
    for (uint32_t s = 0; s < cfg->runtime.ring_depth; s++) {
        static const char *const kind[ZMOE_SLOT_BUFFER_COUNT] = {
            "x_device", "y_device", "x_host", "y_host", "params", "topk_ids_host", "topk_w_host"};
        for (int b = 0; b < ZMOE_SLOT_BUFFER_COUNT; b++) {
            bool host = b >= ZMOE_SLOT_X_HOST;
            uint64_t size = b == ZMOE_SLOT_PARAMS ? sizeof(struct zmoe_params)
                            : b >= ZMOE_SLOT_TOPK_IDS_HOST ? TK * 4
                                                           : io;
            snprintf(name, sizeof name, "slot%u.%s", s, kind[b]);
            st = add(plan, name, host ? ZMOE_MEMORY_HOST_VISIBLE : ZMOE_MEMORY_DEVICE,
                     b == ZMOE_SLOT_PARAMS ? ZMOE_CATEGORY_PARAM : ZMOE_CATEGORY_IO, size,
                     ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST, &idx, err);
            if (st)
                return st;
        }
    }
    st = add(plan, "record.params", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_PARAM,
             sizeof(struct zmoe_params), ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST,
             &ids->record_params, err);
    if (st)
        return st;
    /* The experts-only call (zmoe_record_experts, zmoe_submit_experts): its own parameter
     * block (no shared expert) and the status words align_routed sets on a bad expert id:
     * one row per layer (the caller's lists), then one per ring slot (the ring's). */
    st = add(plan, "record.experts_params", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_PARAM,
             sizeof(struct zmoe_params), ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST,
             &ids->experts_params, err);
    if (st)
        return st;
    st = add(plan, "record.routing_status", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_PARAM,
             ((uint64_t)cfg->model.layers + cfg->runtime.ring_depth) * ZMOE_ROUTING_STATUS_WORDS * 4,
             ZMOE_STAGE_ALWAYS_FIRST,
             ZMOE_STAGE_ALWAYS_LAST, &ids->routing_status, err);
    if (st)
        return st;
    /* Expert parallel: per slot the f32 partial output(s) and their host staging. */
    ids->partial_base = plan->count;
    for (uint32_t s = 0; shard && s < cfg->runtime.ring_depth; s++) {
        uint64_t rows = shard->index == 0 ? shard->participants : 1, pb;
        if (!mul(rows, osh, &pb))
            goto overflow;
        snprintf(name, sizeof name, "slot%u.partial", s);
        st = add(plan, name, ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_IO, pb, ZMOE_STAGE_ALWAYS_FIRST,
                 ZMOE_STAGE_ALWAYS_LAST, &idx, err);
        if (st)
            return st;
        /* host staging: the participant's own partial, or on participant 0 (MPI) the
         * rows the others' partials arrive in */
        uint64_t sb = 0;
        if (shard->staged && !mul(shard->index == 0 ? shard->participants : 1, osh, &sb))
            goto overflow;
        snprintf(name, sizeof name, "slot%u.partial_stage", s);
        st = add(plan, name, ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_IO, sb, ZMOE_STAGE_ALWAYS_FIRST,
                 ZMOE_STAGE_ALWAYS_LAST, &idx, err);
        if (st)
            return st;
    }
    /* Staging: the largest tensor or STAGING_MAX, whichever is smaller — weights stream
     * through it, so it does not grow with the model. */
    uint64_t staging = largest < STAGING_MAX ? largest : STAGING_MAX;
    if (staging < STAGING_MIN)
        staging = STAGING_MIN;
    staging = (staging + 63) & ~(uint64_t)63;
    ids->staging_bytes = staging;
    st = add(plan, "staging", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_STAGING, staging,
             ZMOE_STAGE_ALWAYS_FIRST, ZMOE_STAGE_ALWAYS_LAST, &ids->staging, err);
    if (st)
        return st;
    return zmoe_plan_solve(plan, err);

overflow:
    zmoe_runtime_errorf(err, "runtime: a buffer size of this geometry overflows 64 bits");
    return ZMOE_ERR_CONFIG;
}
