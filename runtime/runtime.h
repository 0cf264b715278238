/* runtime: Level Zero bring-up and device choice, the kernel module, the memory plan of
 * a MoE model, the command-list ring, layer recording and weight upload.
 *
 * Owns: every Level Zero object zmoe creates (context, queue, module, kernels, event
 * pool, fences, command lists), the enumeration of buffers handed to the planner, the
 * parameter block layout shared with kernels/moe.cl, and the public runtime API of
 * zmoe.h. Must not: plan offsets itself (arena/ does), parse configs (config/), convert
 * weights (weights/), or allocate anything once zmoe_create() has returned.
 * See runtime/README.md.
 */
#ifndef ZMOE_RUNTIME_H
#define ZMOE_RUNTIME_H

#include "zmoe.h"

#include "arena/arena.h"
#include "weights/weights.h"

/* ----------------------------------------------------------- kernel contract */

/* Mirrors kernels/moe.cl (ZMOE_WG, ZMOE_RMAX, ZMOE_ROUTER_TOKENS, ZMOE_EMAX). */
#define ZMOE_KERNEL_WG 64u       /* work-items of a GEMV work-group (LANES * NOUT) */
#define ZMOE_KERNEL_RMAX 8u      /* token rows per expert tile */
#define ZMOE_KERNEL_ROUTER_TOKENS 1u /* tokens per router work-group (grid y) */
#define ZMOE_KERNEL_EMAX 512u    /* most routed experts the align kernel handles */
#define ZMOE_KERNEL_ROUTE_SLOTS 64u /* most top_k the fused routing handles (ROUTE_SLOTS) */
#define ZMOE_KERNEL_GROUPS_MAX 64u /* most router groups (a 64-bit mask in the kernel) */
#define ZMOE_ALIGN_WG 256u       /* work-items of the one align work-group (at most) */
/* Local memory of the align kernel, the largest user (kernels/moe.cl: score and key
 * [2048] f32/u32, gscore and gok [8*64], slot_id, slot_pos, slot_w [512], cnt, off, toff
 * [512], part [512]: 34,816 bytes); align_routed takes cnt, off, toff, part and 2 words
 * (8,200 bytes), the GEMV kernels at most 4 KiB. */
#define ZMOE_KERNEL_LOCAL_BYTES 34816u

/* The quantized expert kernels' `qflags` word (moe.cl QF_*): bits 0-1 the scale dtype
 * (enum zmoe_scale_dtype), then zero points, act-order, shared experts quantized, and
 * bits 5-6 the float dtype of unquantized shared experts (enum zmoe_dtype). */
#define ZMOE_QF_ZEROS 4u
#define ZMOE_QF_PERM 8u
#define ZMOE_QF_SHARED_Q 16u
#define ZMOE_QF_SHARED_DT_SHIFT 5

/* The per-slot parameter block, read by the kernels from host-visible memory when they
 * execute (so one recorded list serves every token count). Word layout = moe.cl P_*. */
struct zmoe_params {
    uint32_t tokens;
    uint32_t flags; /* ZMOE_PF_* */
    uint32_t activation;
    float routed_scaling;
    float swiglu_alpha;
    float swiglu_limit;
    uint32_t reserved[2];
    /* ZMOE_PF_SHARD (expert parallel, parallel.c): bit e set = expert e is this
     * participant's (its weights hold the owned experts alone, in expert order). */
    uint32_t owned[ZMOE_KERNEL_EMAX / 32];
};
#define ZMOE_PF_SIGMOID 1u
#define ZMOE_PF_RENORM 2u
#define ZMOE_PF_SCORE_BIAS 4u
#define ZMOE_PF_ROUTER_BIAS 8u
#define ZMOE_PF_ON_INPUT 16u
#define ZMOE_PF_EXPERT_BIAS 32u
#define ZMOE_PF_SHARED 64u
#define ZMOE_PF_SHARED_GATE 128u
#define ZMOE_PF_SHARD 256u

/* The params a config implies (tokens left 0). */
void zmoe_runtime_params(const struct zmoe_config *cfg, struct zmoe_params *out);

/* ----------------------------------------------------------------- the plan */

/* Activation buffers, shared by all layers and slots (one in-order queue). */
enum zmoe_act {
    ZMOE_ACT_LOGITS = 0, /* f32 [T][E+1]: router logits (+ shared gate logit), then scores */
    ZMOE_ACT_TOPK_IDS,   /* u32 [T*K] (alive to the end of the layer: the slot's readback copy) */
    ZMOE_ACT_TOPK_W,     /* f32 [T*K] final routing weights */
    ZMOE_ACT_GATE,       /* f32 [T] shared expert gate (1 without a gate) */
    ZMOE_ACT_SORTED,     /* u32 [T*K] sorted row -> t*K+k */
    ZMOE_ACT_INV,        /* u32 [T*K] t*K+k -> sorted row */
    ZMOE_ACT_TILES,      /* uint4 [tiles]: (expert, first row, rows, 0) */
    ZMOE_ACT_GROUPS,     /* 3 x ze_group_count_t: expert_up, expert_down, combine */
    ZMOE_ACT_A,          /* f32 [T*K][I] */
    ZMOE_ACT_A_SHARED,   /* f32 [T][S] */
    ZMOE_ACT_O,          /* f32 [T*K][H] */
    ZMOE_ACT_O_SHARED,   /* f32 [T][H] */
    ZMOE_ACT_DONE,       /* u32 [T][column blocks <= H]: the fused combine's row counts */
    ZMOE_ACT_ROUTE_COUNTS, /* u32 [max_tokens + 1]: the fused routing's counters
                              (kernels/moe.cl route_tail): zeroed at init, alive always */
    ZMOE_ACT_COUNT
};
const char *zmoe_act_name(enum zmoe_act a);

enum zmoe_slot_buffer {
    ZMOE_SLOT_X_DEVICE = 0,
    ZMOE_SLOT_Y_DEVICE,
    ZMOE_SLOT_X_HOST,
    ZMOE_SLOT_Y_HOST,
    ZMOE_SLOT_PARAMS,
    ZMOE_SLOT_TOPK_IDS_HOST, /* u32 [max_tokens][K]: routing readback */
    ZMOE_SLOT_TOPK_W_HOST,   /* f32 [max_tokens][K]: routing readback */
    ZMOE_SLOT_BUFFER_COUNT
};

#define ZMOE_NO_BUFFER UINT32_MAX

/* Where each buffer landed in the plan. Weights: plan index
 * weight_base + layer * weights_per_layer + weight_rank[tensor]. */
struct zmoe_runtime_buffers {
    uint32_t weight_base, weights_per_layer;
    uint32_t weight_rank[ZMOE_TENSOR_COUNT]; /* ZMOE_NO_BUFFER when absent */
    uint32_t act[ZMOE_ACT_COUNT];
    uint32_t slot_base; /* slot s, kind b: slot_base + s * ZMOE_SLOT_BUFFER_COUNT + b */
    uint32_t record_params;
    uint32_t experts_params; /* the experts-only call's parameter block (no shared expert) */
    uint32_t routing_status; /* u32 [layers][ZMOE_ROUTING_STATUS_WORDS], host-visible */
    uint32_t staging;
    uint32_t partial_base; /* expert parallel, slot s: partial_base + 2s the f32 partial
                              output(s), + 1 its host-visible staging (plan_shard only) */
    uint32_t max_tiles;
    bool caller_weights; /* no weight buffers: the caller's pointers (rt->layer_weights) */
    uint64_t staging_bytes;
};

uint32_t zmoe_runtime_weight_buffer(const struct zmoe_runtime_buffers *ids, uint32_t layer,
                                    enum zmoe_tensor t);
uint32_t zmoe_runtime_slot_buffer(const struct zmoe_runtime_buffers *ids, uint32_t slot,
                                  enum zmoe_slot_buffer b);

/* Planning limits (buffer indices and the host block stay far from 32-bit overflow). */
#define ZMOE_RUNTIME_LAYERS_MAX 65536u
#define ZMOE_RUNTIME_DEPTH_MAX 1024u

/* Buffers a config needs (capacity for zmoe_plan_init); 0 when the config is unusable. */
uint32_t zmoe_runtime_max_buffers(const struct zmoe_config *cfg);

/* Runtime-specific limits on top of zmoe_config_validate (kernel constants). */
enum zmoe_status zmoe_runtime_check_config(const struct zmoe_config *cfg, struct zmoe_error *err);

/* Enumerates every buffer of a runtime for `cfg` into `plan` (initialised by the caller
 * with at least zmoe_runtime_max_buffers() entries) and solves it. Pure: no device, no
 * allocation. Used by zmoe_create() and by `zmoe plan`. */
enum zmoe_status zmoe_runtime_plan(const struct zmoe_config *cfg, struct zmoe_plan *plan,
                                   struct zmoe_runtime_buffers *ids, struct zmoe_error *err);

/* The same plan with no weight buffers when `caller_weights` (zmoe_create_info.weights):
 * activations, I/O, parameter blocks and a minimal staging buffer only. */
enum zmoe_status zmoe_runtime_plan_weights(const struct zmoe_config *cfg, bool caller_weights,
                                           struct zmoe_plan *plan, struct zmoe_runtime_buffers *ids,
                                           struct zmoe_error *err);
/* Expert parallel (runtime/parallel.c): what participant `index` of `participants`
 * holds. Its arena has the expert tensors of `experts` experts (the owned ones, in
 * expert order; sized through zmoe_tensor_bytes of the config with model.experts =
 * `experts`, so quantized formats shard as row ranges of every part), the router
 * replicated, the shared experts only when `shared`, and per slot the f32 partial
 * output: [participants][max_tokens][H] on participant 0 (its own first, then what the
 * others copy in), [max_tokens][H] elsewhere, plus a host-visible copy of it when
 * `staged` (no peer access to participant 0; with MPI on participant 0 the
 * [participants][max_tokens][H] rows the other ranks' partials arrive in). */
struct zmoe_shard {
    uint32_t participants, index, experts;
    bool shared, staged;
};
/* The config whose expert tensors are the shard's (model.experts = shard->experts). */
struct zmoe_config zmoe_runtime_shard_config(const struct zmoe_config *cfg,
                                             const struct zmoe_shard *shard);
/* True when tensor t has a buffer on the shard (shared experts on one participant). */
bool zmoe_runtime_shard_has(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                            enum zmoe_tensor t);
/* zmoe_runtime_plan for one participant (shard NULL: the one-device plan). */
enum zmoe_status zmoe_runtime_plan_shard(const struct zmoe_config *cfg, const struct zmoe_shard *shard,
                                         struct zmoe_plan *plan, struct zmoe_runtime_buffers *ids,
                                         struct zmoe_error *err);

/* Bytes of one ring slot's x or y (max_tokens rows in the activation dtype), and of one
 * of its routing readback arrays (max_tokens x top_k ids or weights, 4 bytes each): what
 * the slot's copies move and its warm-up clears. */
static inline size_t zmoe_slot_io_bytes(const struct zmoe_config *c)
{
    return (size_t)c->runtime.max_tokens * c->model.hidden * zmoe_dtype_size(c->dtype.activations);
}
static inline size_t zmoe_slot_routing_bytes(const struct zmoe_config *c)
{
    return (size_t)c->runtime.max_tokens * c->model.top_k * 4;
}

/* Bytes of the host block zmoe_create() needs for `cfg` (runtime structures). */
size_t zmoe_runtime_host_bytes(const struct zmoe_config *cfg);

/* --------------------------------------------------------- the launch plan */

enum zmoe_kernel_id {
    ZMOE_K_ROUTER = 0,
    ZMOE_K_ALIGN,
    ZMOE_K_UP,
    ZMOE_K_DOWN,
    ZMOE_K_COMBINE,
    ZMOE_K_ALIGN_ROUTED, /* the experts-only call's align: the caller's routing */
    ZMOE_K_COUNT
};

/* How a device runs the GEMV kernels: the work-group shape (lanes x nout = ZMOE_KERNEL_WG)
 * and the reduction split (kernels/moe.cl, lane_split). One row per device kind in
 * launch.c's table, chosen by measurement (kernels/README.md). */
struct zmoe_device_shape {
    uint32_t lanes, nout;   /* lanes split a row's dot product; nout rows per group */
    uint32_t align_wg;      /* work-items of the one align work-group */
    uint32_t lane_spans;    /* 1: one contiguous span per lane (CPUs); 0: interleaved */
    uint32_t qlanes, qnout; /* the quantized expert kernels' (up and down) lanes and rows */
    /* float expert_down with rows of fewer than short_chunks 16-byte chunks (I * weight
     * size / 16) runs short_lanes lanes (0: never), as every lane then still has a few */
    uint32_t short_lanes, short_chunks;
    /* 1: combine runs inside expert_down (kernels/moe.cl combine_tail), one launch fewer */
    uint32_t fuse_combine;
    /* 1: align runs inside the router (route_w<W>_a<A>, kernels/moe.cl route_tail) where
     * top_k <= ZMOE_KERNEL_ROUTE_SLOTS, one launch fewer */
    uint32_t fuse_route;
};
/* Rows per work-item of the quantized expert kernels with the interleaved split
 * (kernels/moe.cl ZMOE_QROWS and qrows_of: this for 4-bit codes, half for 8-bit); 1
 * with spans. */
#define ZMOE_QUANT_ROWS 2u
/* The shape for a device of this type whose work-groups hold up to max_group items.
 * ZMOE_GEMV_LANES (power of two <= 64) and ZMOE_GEMV_SPANS (0|1) override, so hostdev
 * can run a GPU's shape; ZMOE_FUSE_COMBINE and ZMOE_FUSE_ROUTE (0|1) too, to compare the
 * plans. */
struct zmoe_device_shape zmoe_runtime_device_shape(ze_device_type_t type, uint32_t max_group);

/* What a kernel argument is. Pointers are named, not given: the Level Zero recorder
 * resolves them into the arena (or the caller's pointers for zmoe_record), the GPU
 * benchmark into its OpenCL buffers. */
enum zmoe_arg_kind {
    ZMOE_ARG_U32 = 0, /* by value: `value` */
    ZMOE_ARG_ACT,     /* activation buffer `value` (enum zmoe_act) */
    ZMOE_ARG_WEIGHT,  /* tensor `value` (enum zmoe_tensor) of the layer; an absent tensor
                         may be any valid buffer: the kernels never read it (flags) */
    ZMOE_ARG_IO,      /* the call's `value` (enum zmoe_io) */
};
enum zmoe_io {
    ZMOE_IO_X = 0, /* x [T][H], activation dtype */
    ZMOE_IO_Y,     /* y [T][H], activation dtype */
    ZMOE_IO_TOKENS,/* u32 token count, read when the kernels execute */
    ZMOE_IO_PARAMS,/* struct zmoe_params */
    ZMOE_IO_TOPK_IDS, /* u32 [T][K]: the caller's routing (experts-only call) */
    ZMOE_IO_TOPK_W,   /* f32 [T][K]: the caller's routing weights (experts-only call) */
    ZMOE_IO_ROUTING_STATUS, /* u32 [ZMOE_ROUTING_STATUS_WORDS], host-visible: bad ids */
    ZMOE_IO_COUNT
};
struct zmoe_launch_arg {
    uint32_t kind; /* enum zmoe_arg_kind */
    uint32_t value;
};

#define ZMOE_LAUNCH_ARGS_MAX 28u /* the quantized expert_up (kernels/moe.cl) */
#define ZMOE_LAUNCHES_MAX 6u

/* One launch. It waits for launch `wait` (-1: for nothing before it in the layer) and
 * signals the timestamp event of `stage`. Group counts are direct (`groups`) or read at
 * execution from act.groups[indirect] (a ze_group_count_t an earlier launch wrote). */
struct zmoe_launch {
    uint32_t kernel; /* enum zmoe_kernel_id */
    uint32_t stage;  /* enum zmoe_stage */
    int32_t wait;
    int32_t indirect; /* -1: direct */
    uint32_t groups[3];
    uint32_t nargs;
    struct zmoe_launch_arg arg[ZMOE_LAUNCH_ARGS_MAX];
};

/* One layer call, as data: kernels (name and work-group shape, fixed for a kernel's
 * life) and the launches in order. A pure function of the config and the device shape,
 * the same for every layer and slot. Consumed by layer.c (Level Zero) and by the GPU
 * benchmark (bench/gpu.c, OpenCL): nothing else knows kernel argument orders. */
struct zmoe_launch_plan {
    struct {
        char name[48];
        uint32_t local[2];
    } kernel[ZMOE_K_COUNT];
    uint32_t count;
    struct zmoe_launch launch[ZMOE_LAUNCHES_MAX];
    struct zmoe_device_shape shape;
};
/* expert_up's argument that says how many routed copies share one row of x (top_k): the
 * baseline of bench/ feeds it pre-scaled copies, one row each. */
#define ZMOE_UP_ARG_K 14u
void zmoe_runtime_launch_plan(const struct zmoe_config *cfg, const struct zmoe_device_shape *shape,
                              struct zmoe_launch_plan *out);
/* The stage whose event says y (or a participant's partial) is written: the plan's last
 * launch's, combine or expert_down with the combine fused into it. */
static inline uint32_t zmoe_launch_plan_y_stage(const struct zmoe_launch_plan *p)
{
    return p->launch[p->count - 1].stage;
}
/* The stage whose event says the routing (act.topk_ids, act.topk_w, the group counts) is
 * written: the launch's before expert_up, align or the router with align fused into it. */
static inline uint32_t zmoe_launch_plan_routing_stage(const struct zmoe_launch_plan *p)
{
    uint32_t i = 0;
    while (i + 1 < p->count && p->launch[i + 1].kernel != ZMOE_K_UP)
        i++;
    return p->launch[i].stage;
}
/* The experts-only call (zmoe_record_experts), from the same tables (the same kernel
 * table, the same expert launches): align_routed (the caller's topk ids and weights,
 * bounds-checked) then expert_up, expert_down, combine launched indirectly. Recorded
 * with the experts parameter block, whose flags have no shared expert. */
void zmoe_runtime_launch_plan_experts(const struct zmoe_config *cfg,
                                      const struct zmoe_device_shape *shape,
                                      struct zmoe_launch_plan *out);

/* Expert parallel (parallel.c): in a plan built from the full config, the quantized
 * expert launches' part offsets replaced by those of the shard's tensors (`shard_cfg`:
 * the config with model.experts = the owned count; weights/quant.h parts shrink with
 * the expert count, so the scales, zeros and perm parts start earlier). */
void zmoe_runtime_launch_plan_quant_shard(struct zmoe_launch_plan *p, const struct zmoe_config *shard_cfg);

/* The routing status words of one layer's experts-only call (align_routed writes them,
 * zmoe_routing_status reads and clears them): [0] bad pairs since the last clear
 * (saturating), [1..3] token, k and id of the first one. */
#define ZMOE_ROUTING_STATUS_WORDS 4u

/* ---------------------------------------------------------------- internals */

enum zmoe_slot_state { ZMOE_SLOT_FREE = 0, ZMOE_SLOT_ACQUIRED, ZMOE_SLOT_SUBMITTED };

struct zmoe_ring_slot {
    ze_fence_handle_t fence;
    ze_event_handle_t ev[ZMOE_STAGE_COUNT];
    ze_command_list_handle_t *lists; /* [layers] */
    ze_command_list_handle_t *experts_lists; /* [layers] with ring_experts, else NULL */
    struct zmoe_params *params;
    void *x_host, *y_host, *x_dev, *y_dev;
    uint32_t *ids_host; /* routing readback [max_tokens][K] */
    float *w_host;
    enum zmoe_slot_state state;
    uint64_t seq; /* submit number, for "last completed" */
    int64_t experts_layer; /* layer of the in-flight zmoe_submit_experts, -1 otherwise */
    uint32_t *routing_status; /* the slot's status row (ZMOE_ROUTING_STATUS_WORDS) */
};

struct zmoe_runtime {
    struct zmoe_config cfg;
    enum zmoe_phase phase;
    bool weights_loaded;  /* every layer has weights (all loaded, or the caller's) */
    bool *layer_loaded;   /* [layers]: this layer has weights (zmoe_upload_layer_weights) */
    uint32_t layers_loaded;
    bool caller_weights;  /* zmoe_create_info.weights: pointers in layer_weights */
    struct zmoe_layer_weights *layer_weights; /* [layers], the caller's pointers */
    bool ring_experts;    /* zmoe_create_info.ring_experts */
    bool warmed_up;       /* slot 0's lists have run once (warm_up in runtime.c) */
    char weights_report[512]; /* the loader's summary, for stats.weights_source */
    bool lost;
    struct zmoe_host_block hb;
    struct zmoe_plan plan;
    struct zmoe_runtime_buffers ids;
    struct zmoe_arena arena;
    bool arena_committed;

    ze_driver_handle_t driver;
    ze_context_handle_t context;
    ze_device_handle_t device;
    ze_command_queue_handle_t queue;
    bool own_context, own_queue;
    ze_device_type_t device_type;
    bool device_integrated; /* ZE_DEVICE_PROPERTY_FLAG_INTEGRATED */
    /* [runtime] slot_io resolved: the ring's kernels read x / write y in the slots'
     * host-visible buffers (x_dev == x_host, y_dev == y_host) and lists record no copies */
    bool slot_direct;
    uint64_t timer_resolution_ns; /* ns per timestamp tick */
    uint64_t timestamp_mask;

    ze_module_handle_t module;
    ze_kernel_handle_t kernel[ZMOE_K_COUNT];
    struct zmoe_launch_plan launch; /* what every layer call records (launch.c) */
    struct zmoe_launch_plan launch_experts; /* zmoe_record_experts (launch.c) */

    ze_event_pool_handle_t event_pool;
    ze_command_list_handle_t upload_list;
    ze_fence_handle_t upload_fence;
    struct zmoe_ring_slot *slots;
    uint32_t depth;
    uint32_t next_slot;
    uint64_t submits;

    char device_name[256];
    char device_reason[256];
    bool kernels_native;
};

/* runtime.c: steps of zmoe_create that each device of zmoe_parallel_create takes too. */
/* From rt->hb (cfg, depth, ring_experts set): the plan's buffer table (rt->plan on it), the
 * ring slots and their per-layer list arrays; false when the block is too small. */
bool zmoe_runtime_alloc_structures(struct zmoe_runtime *rt);
/* After bring-up: kernels, arena, upload list and fence, the ring's event pool and per slot
 * its buffers, fence and stage events (parameter blocks and lists are the caller's);
 * messages name `device` (-1: none). */
enum zmoe_status zmoe_runtime_commit(struct zmoe_runtime *rt, int32_t device,
                                     struct zmoe_error *err);

/* runtime.c: ring steps that zmoe_parallel_slot_acquire / _submit (parallel.c) share. */
/* The caller's view of ring slot `index`: its I/O buffers and routing readback. */
void zmoe_runtime_slot_view(const struct zmoe_ring_slot *sl, uint32_t index,
                            struct zmoe_slot *slot);
/* Executes `list` with the slot's fence (a submit's one Level Zero call); on success the
 * slot is submitted and numbered. The caller words a failure. */
ze_result_t zmoe_runtime_execute_slot(struct zmoe_runtime *rt, struct zmoe_ring_slot *sl,
                                      ze_command_list_handle_t list);

/* zmoe_runtime_errorf: the message every runtime error carries. */
void zmoe_runtime_errorf(struct zmoe_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "zeFoo failed with ZE_RESULT_...: while doing" and the matching status. */
enum zmoe_status zmoe_runtime_ze_error(struct zmoe_error *err, ze_result_t r, const char *call,
                                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Returns zmoe_runtime_ze_error's status from the enclosing function (which has `err`)
 * when `call` fails; the rest is the "while ..." text. For every runtime/ file. */
#define ZE_CHECK(call, ...)                                                                        \
    do {                                                                                           \
        ze_result_t r_ = (call);                                                                   \
        if (r_ != ZE_RESULT_SUCCESS)                                                               \
            return zmoe_runtime_ze_error(err, r_, #call, __VA_ARGS__);                             \
    } while (0)

/* device.c */
/* Where hostdev is: $ZMOE_HOSTDEV, the build tree, else the install libdir (*why says). */
const char *zmoe_runtime_hostdev_path(const char **why);
/* Sets ZE_ENABLE_ALT_DRIVERS before zeInit so the loader sees exactly one driver for
 * `choice` (hostdev when no Intel GPU is visible); `note` says what was done. */
void zmoe_runtime_select_drivers(enum zmoe_device_choice choice, char *note, size_t size);
enum zmoe_status zmoe_runtime_bring_up(struct zmoe_runtime *rt, const struct zmoe_create_info *info,
                                       struct zmoe_error *err);
struct zmoe_kernel_module;
/* The embedded module whose SPIR-V this device builds: "moe_cpu" on a CPU device
 * (kernels/meson.build), else "moe"; NULL when not embedded. */
const struct zmoe_kernel_module *zmoe_runtime_kernel_module(const struct zmoe_runtime *rt);
enum zmoe_status zmoe_runtime_build_kernels(struct zmoe_runtime *rt, struct zmoe_error *err);
void zmoe_runtime_tear_down(struct zmoe_runtime *rt);

/* layer.c: appends the launches of `plan` (rt->launch or rt->launch_experts) for `layer`
 * to `list`, the plan's ZMOE_ARG_IO arguments resolved through io[] (a NULL entry the
 * plan names is an error). With events (ring lists) each stage signals ev[stage] and
 * waits for the previous one; without, barriers order them. */
enum zmoe_status zmoe_runtime_append_layer(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                                           const struct zmoe_launch_plan *plan, uint32_t layer,
                                           const void *const io[ZMOE_IO_COUNT],
                                           ze_event_handle_t *ev, struct zmoe_error *err);
/* The routing readback of slot s (layer l names it in messages): act.topk_ids / act.topk_w
 * to the slot's ids_host / w_host (max_tokens x K each) once the slot's align signalled. */
enum zmoe_status zmoe_runtime_append_readback(struct zmoe_runtime *rt,
                                              ze_command_list_handle_t list, uint32_t s,
                                              uint32_t l, struct zmoe_error *err);
/* Per slot (fence and events from zmoe_runtime_commit): the parameter block, the routing
 * status row and one closed list per layer (and experts-only lists with ring_experts). */
enum zmoe_status zmoe_runtime_record_ring(struct zmoe_runtime *rt, struct zmoe_error *err);
/* Records the ring lists of `layer` again on its current weights (zeCommandListReset and
 * the same commands): zmoe_set_layer_weights. The ring must be idle. */
enum zmoe_status zmoe_runtime_rerecord_layer(struct zmoe_runtime *rt, uint32_t layer,
                                             struct zmoe_error *err);
/* The device address of `layer`'s tensor t: the arena's buffer, the caller's pointer, or
 * NULL when the config has no such tensor. */
void *zmoe_runtime_weight_ptr(const struct zmoe_runtime *rt, uint32_t layer, enum zmoe_tensor t);

/* upload.c */
enum zmoe_status zmoe_runtime_upload_weights(struct zmoe_runtime *rt, struct zmoe_error *err);
/* Zeroes the device buffer `buffer` of the plan through the upload list (at commit: the
 * counters a layer call expects at zero, act.route_counts). */
enum zmoe_status zmoe_runtime_zero_buffer(struct zmoe_runtime *rt, uint32_t buffer,
                                          struct zmoe_error *err);
/* ZMOE_ERR_ARGUMENT when a host layer's act-order permutation names a column >= n. */
enum zmoe_status zmoe_runtime_check_upload(const struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err);
/* One layer from the caller's host memory (kernel layout), through the staging buffer. */
enum zmoe_status zmoe_runtime_upload_layer(struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err);
/* One chunk of a tensor into rt's arena at `offset` of the tensor's buffer (the sink of
 * zmoe_runtime_upload_weights; parallel.c maps a shard's rows through it). */
enum zmoe_status zmoe_runtime_upload_chunk(struct zmoe_runtime *rt, uint32_t layer,
                                           enum zmoe_tensor t, uint64_t offset, const void *bytes,
                                           size_t size, struct zmoe_error *err);

#endif
