/* zmoe — Mixture-of-Experts layers on Level Zero with all memory planned at init.
 *
 * The only header a user includes. C11, usable from C++.
 *
 * Life of a runtime:
 *   zmoe_config_load()            parse + validate a config file (or use a compiled-in one)
 *   zmoe_create()                 plan, check the budget, allocate both arenas, build
 *                                 kernels, record the command-list ring
 *   zmoe_load_weights()           stream weights (safetensors or synthetic) into the arena
 *   loop: zmoe_slot_acquire()     take the next ring slot (waits for it, with a timeout)
 *         write x into slot.input, zmoe_submit(), zmoe_wait(), read slot.output
 *   zmoe_destroy()
 * After zmoe_create() returns, nothing allocates host or device memory, creates a
 * Level Zero object, or records a command list.
 */
#ifndef ZMOE_H
#define ZMOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <level_zero/ze_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZMOE_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ status */

enum zmoe_status {
    ZMOE_OK = 0,
    ZMOE_ERR_ARGUMENT,    /* a bad argument to an API call */
    ZMOE_ERR_CONFIG,      /* config file or struct invalid */
    ZMOE_ERR_IO,          /* file could not be opened/read/written */
    ZMOE_ERR_BUDGET,      /* the plan exceeds the configured budget */
    ZMOE_ERR_NO_DEVICE,   /* no Level Zero device matching the config */
    ZMOE_ERR_LEVEL_ZERO,  /* a Level Zero call failed (message names it) */
    ZMOE_ERR_KERNEL,      /* a kernel module failed to build (message has the log) */
    ZMOE_ERR_WEIGHTS,     /* weights file invalid or not matching the config */
    ZMOE_ERR_STATE,       /* call not allowed in the runtime's current phase */
    ZMOE_ERR_NO_MEMORY,   /* an init-time allocation failed */
    ZMOE_ERR_DEVICE_LOST, /* the device was lost; destroy the runtime */
    ZMOE_TIMEOUT,         /* a wait timed out; the work is still in flight */
    ZMOE_NOT_READY,       /* a poll found the work still in flight */
    ZMOE_ERR_ROUTING,     /* the caller's routing named an expert that does not exist
                             (zmoe_routing_status; the message names layer, token, k, id) */
};

const char *zmoe_status_str(enum zmoe_status status);

/* Errors carry a human-readable message in a caller-provided fixed buffer. */
#define ZMOE_ERROR_MAX 1024
struct zmoe_error {
    char msg[ZMOE_ERROR_MAX];
};

/* ------------------------------------------------------------------ config */

enum zmoe_dtype { ZMOE_DTYPE_F32 = 0, ZMOE_DTYPE_F16, ZMOE_DTYPE_BF16 };
enum zmoe_scoring { ZMOE_SCORING_SOFTMAX = 0, ZMOE_SCORING_SIGMOID };
enum zmoe_activation {
    ZMOE_ACT_SILU = 0,   /* silu(gate) * up                                      */
    ZMOE_ACT_GELU,       /* gelu_erf(gate) * up                                  */
    ZMOE_ACT_GELU_TANH,  /* gelu_tanh(gate) * up                                 */
    ZMOE_ACT_SWIGLU_OAI, /* GPT-OSS: g=min(g,limit), u=clamp(u,-limit,limit),
                            g*sigmoid(alpha*g)*(u+1)                             */
};
enum zmoe_device_choice { ZMOE_DEVICE_AUTO = 0, ZMOE_DEVICE_GPU, ZMOE_DEVICE_HOST };
/* Where a ring slot's kernels read x and write y ([runtime] slot_io). COPY: device buffers,
 * with a copy from / to the slot's host-visible buffers recorded in every list. DIRECT:
 * the host-visible buffers themselves (no copies; input_device == input_host), for a
 * device that reads host memory at memory speed. AUTO: DIRECT on a CPU device or an
 * integrated GPU (ZE_DEVICE_PROPERTY_FLAG_INTEGRATED), COPY on a discrete GPU. */
enum zmoe_slot_io { ZMOE_SLOT_IO_AUTO = 0, ZMOE_SLOT_IO_COPY, ZMOE_SLOT_IO_DIRECT };
enum zmoe_weights_layout {
    ZMOE_LAYOUT_SYNTHETIC = 0, /* no file: deterministic PRNG weights from `seed` */
    ZMOE_LAYOUT_LLAMA4,
    ZMOE_LAYOUT_MIXTRAL,
    ZMOE_LAYOUT_QWEN_MOE, /* Qwen2-MoE and Qwen3-MoE */
    ZMOE_LAYOUT_DEEPSEEK, /* DeepSeek-V2 and V3 */
    ZMOE_LAYOUT_GPT_OSS,
};

/* Expert weights kept quantized in the arena ([quant] in config files; weights/quant.h
 * has the device layout). The router, the shared-expert gate and all biases stay float. */
enum zmoe_quant_format {
    ZMOE_QUANT_NONE = 0, /* float experts in dtype.weights */
    ZMOE_QUANT_INT4,     /* W4A16: 4-bit integer codes, group scales, optional zero points */
    ZMOE_QUANT_INT8,     /* W8A16: 8-bit integer codes */
    ZMOE_QUANT_FP8,      /* e4m3fn values, 128x128 block or per-channel scales */
    ZMOE_QUANT_MXFP4,    /* e2m1 values, one e8m0 scale per 32 (OCP MX) */
};
/* How the checkpoint file stores the quantized experts. */
enum zmoe_quant_packing {
    ZMOE_PACK_NONE = 0,           /* synthetic weights (no file) */
    ZMOE_PACK_GPTQ,               /* AutoGPTQ/GPTQModel/AutoRound: qweight, qzeros, scales, g_idx */
    ZMOE_PACK_AWQ,                /* AutoAWQ GEMM: qweight, qzeros, scales */
    ZMOE_PACK_COMPRESSED_TENSORS, /* llm-compressor: weight_packed/weight + weight_scale... */
    ZMOE_PACK_NATIVE,             /* fp8: weight + weight_scale_inv (DeepSeek-V3, Qwen3-FP8);
                                     mxfp4: GPT-OSS *_blocks + *_scales */
};
enum zmoe_scale_dtype { ZMOE_SCALE_F16 = 0, ZMOE_SCALE_BF16, ZMOE_SCALE_F32, ZMOE_SCALE_E8M0 };

#define ZMOE_PATH_MAX 512
#define ZMOE_PARALLEL_EXPERTS_MAX 512 /* experts an expert map names (the kernels' limit) */
#define ZMOE_PARALLEL_MAX 16          /* participants (devices or ranks) */
#define ZMOE_PREFIX_MAX 128

/* Everything a runtime is built from. Produced by zmoe_config_load() or compiled in
 * (zmoe config-header). All sizes are element counts unless named *_bytes. */
struct zmoe_config {
    struct {
        uint32_t hidden;              /* H */
        uint32_t intermediate;        /* I: per routed expert */
        uint32_t experts;             /* E: routed experts */
        uint32_t top_k;               /* K */
        uint32_t layers;              /* MoE layers in the model */
        uint32_t shared_experts;      /* 0 = none; n shared experts act as one MLP */
        uint32_t shared_intermediate; /* per shared expert; total = n * this */
    } model;
    struct {
        enum zmoe_scoring scoring;
        bool renormalize;            /* divide the top-k weights by their sum */
        uint32_t groups;             /* grouped top-k (DeepSeek): 1 = off */
        uint32_t topk_group;         /* groups kept; == groups when off */
        float routed_scaling_factor; /* weights *= this after renormalize; 1 = off */
        bool score_correction_bias;  /* DeepSeek-V3 e_score_correction_bias */
        bool bias;                   /* router linear has a bias (GPT-OSS) */
        bool apply_router_weight_on_input; /* Llama 4: scale x per routed copy */
        bool shared_expert_gate;     /* Qwen2-MoE: sigmoid(x.w) scales shared out */
    } router;
    struct {
        enum zmoe_activation activation;
        float swiglu_alpha; /* swiglu_oai only */
        float swiglu_limit; /* swiglu_oai only */
        bool bias;          /* W13 and W2 have biases (GPT-OSS) */
        bool gate_up_interleaved; /* checkpoint stores gate/up interleaved by row */
    } experts;
    struct {
        enum zmoe_dtype weights;
        enum zmoe_dtype activations; /* x, y and intermediate activations */
    } dtype;
    struct {
        enum zmoe_quant_format format;   /* NONE = float experts (the default) */
        enum zmoe_quant_packing packing; /* NONE iff synthetic weights */
        uint32_t group_size;             /* along the reduction dim; 0 = per output channel
                                            (fp8: 128 = 128x128 blocks) */
        bool zero_points;                /* asymmetric int codes (else zero 2^(bits-1)) */
        bool act_order;                  /* GPTQ g_idx: columns permuted per expert */
        enum zmoe_scale_dtype scale_dtype;
        bool shared_experts; /* shared experts quantized too; false = float dtype.weights */
    } quant;
    struct {
        uint32_t max_tokens;      /* T max per call */
        uint32_t ring_depth;      /* command-list ring slots */
        enum zmoe_device_choice device;
        uint32_t wait_timeout_ms; /* back-pressure wait bound */
        enum zmoe_slot_io slot_io;
    } runtime;
    struct {
        uint64_t device_bytes; /* 0 = unlimited */
        uint64_t host_bytes;   /* 0 = unlimited */
    } budget;
    struct {
        char file[ZMOE_PATH_MAX];     /* "" = synthetic; .safetensors or index .json */
        enum zmoe_weights_layout layout;
        char prefix[ZMOE_PREFIX_MAX]; /* "" = detect; else e.g. "model.layers." */
        uint64_t seed;                /* synthetic weights */
    } weights;
    /* Expert parallel ([parallel]; include/zmoe_parallel.h): routed experts sharded over
     * participants (devices of this process, or MPI ranks), router and shared experts
     * replicated. 0 and 1 both mean one. */
    struct {
        uint32_t devices;    /* Level Zero devices used by this process */
        uint32_t ranks;      /* MPI ranks (one device each) */
        bool expert_map_set; /* false: participant r owns experts [r*E/N, (r+1)*E/N) */
        uint8_t expert_map[ZMOE_PARALLEL_EXPERTS_MAX]; /* expert e -> its participant */
    } parallel;
};

/* Parse and validate an INI config file. Errors read "file:line: key 'k': ...". */
enum zmoe_status zmoe_config_load(const char *path, struct zmoe_config *out,
                                  struct zmoe_error *err);
/* Same, from memory; `name` is used as the file name in messages. */
enum zmoe_status zmoe_config_parse(const char *text, size_t len, const char *name,
                                   struct zmoe_config *out, struct zmoe_error *err);
/* Check the consistency of a config built in code (also run by load/parse). */
enum zmoe_status zmoe_config_validate(const struct zmoe_config *cfg, struct zmoe_error *err);

/* ------------------------------------------------------------------ weights */

/* The tensors of one MoE layer in zmoe's kernel layout (E experts, H hidden, I
 * intermediate, S = shared_experts * shared_intermediate). Matrices are row-major with
 * the reduction dimension contiguous (every output element is one contiguous dot
 * product); "weights" means the config's dtype.weights, biases are always f32:
 *   ROUTER_W    [E][H]      weights      (the router's nn.Linear weight as stored)
 *   ROUTER_B    [E]         f32          router.bias
 *   SCORE_BIAS  [E]         f32          router.score_correction_bias
 *   W13         [E][2I][H]  weights      rows [0,I) gate, rows [I,2I) up
 *   B13         [E][2I]     f32          experts.bias, same row order as W13
 *   W2          [E][H][I]   weights
 *   B2          [E][H]      f32          experts.bias
 *   SHARED_W13  [2S][H]     weights      rows [0,S) gate, [S,2S) up
 *   SHARED_W2   [H][S]      weights
 *   SHARED_GATE [H]         weights      router.shared_expert_gate
 * This IS sgl-kernel's / vLLM's fused-MoE layout: w13_weight [E, 2I, H] gate-then-up and
 * w2_weight [E, H, I], contiguous, can be handed over as they are (bias w13_bias [E, 2I],
 * w2_bias [E, H] as f32). Layouts that differ (Hugging Face Llama 4's gate_up_proj
 * [E, H, 2I] and down_proj [E, I, H], GPT-OSS's interleaved gate/up rows, Mixtral's
 * per-expert w1/w3/w2) are not read in place: the caller provides the kernel layout
 * (transposes or de-interleaves once), as zmoe's own checkpoint loader does. */
enum zmoe_tensor {
    ZMOE_TENSOR_ROUTER_W = 0,
    ZMOE_TENSOR_ROUTER_B,
    ZMOE_TENSOR_SCORE_BIAS,
    ZMOE_TENSOR_W13,
    ZMOE_TENSOR_B13,
    ZMOE_TENSOR_W2,
    ZMOE_TENSOR_B2,
    ZMOE_TENSOR_SHARED_W13,
    ZMOE_TENSOR_SHARED_W2,
    ZMOE_TENSOR_SHARED_GATE,
    ZMOE_TENSOR_COUNT
};
const char *zmoe_tensor_name(enum zmoe_tensor t); /* "router_w", "w13", ... */
/* Whether the config has this tensor (e.g. B13 only with experts.bias). */
bool zmoe_tensor_present(const struct zmoe_config *cfg, enum zmoe_tensor t);
/* Bytes of one layer's tensor in its kernel dtype (0 when absent or on overflow). */
uint64_t zmoe_tensor_bytes(const struct zmoe_config *cfg, enum zmoe_tensor t);

/* One layer's tensors, indexed by enum zmoe_tensor; NULL for a tensor the config does not
 * have (zmoe_tensor_present). Matrices 16-byte aligned, f32 vectors 4-byte aligned; each
 * of zmoe_tensor_bytes() bytes (which follows the config: with [quant], the packed
 * layout of weights/quant.h). */
struct zmoe_layer_weights {
    const void *tensor[ZMOE_TENSOR_COUNT];
};

/* ------------------------------------------------------------------ runtime */

struct zmoe_runtime;

struct zmoe_create_info {
    const struct zmoe_config *config;
    /* Optional: link into an existing engine. All NULL = zmoe brings up its own
     * driver/context/device/queue according to config->runtime.device. */
    ze_context_handle_t context;
    ze_device_handle_t device;
    ze_command_queue_handle_t queue; /* must be in-order */
    /* Optional: memory for every host-side runtime structure (firmware mode).
     * NULL = zmoe takes one block with malloc at create time. */
    void *host_memory;
    size_t host_memory_bytes;
    /* Optional: the caller owns the weights. [config->model.layers] entries of device
     * pointers (memory of `context`: device, shared or host USM) in the kernel layout
     * above, every present tensor given, each allocation covering zmoe_tensor_bytes().
     * zmoe then plans no weight bytes (stats.device_bytes: activations, I/O and
     * parameter blocks only), records its lists on these pointers and does not read
     * them before a layer call executes; zmoe_load_weights is refused (the weights are
     * there). The pointers stay fixed; zmoe_set_layer_weights re-points a layer. The
     * memory must outlive the runtime. NULL = zmoe owns the weights (zmoe_load_weights). */
    const struct zmoe_layer_weights *weights;
    /* Optional: also pre-record, per (slot, layer), the experts-only call on the slot's
     * routing arrays (zmoe_submit_experts). Off: those lists are not recorded. */
    bool ring_experts;
};

enum zmoe_status zmoe_create(const struct zmoe_create_info *info, struct zmoe_runtime **out,
                             struct zmoe_error *err);
void zmoe_destroy(struct zmoe_runtime *rt);

/* Load the configured weights (safetensors file or synthetic). Once, before submit.
 * ZMOE_ERR_STATE for a runtime on the caller's weights (zmoe_create_info.weights).
 * The first layer to get weights (here or through zmoe_upload_layer_weights) also runs
 * slot 0's lists of that layer once, so a driver's first-launch work (PoCL's kernel
 * compile under hostdev) happens now and not in the first decode step. */
enum zmoe_status zmoe_load_weights(struct zmoe_runtime *rt, struct zmoe_error *err);

/* Re-points layer `layer` of a runtime on the caller's weights to `weights` (same rules
 * as zmoe_create_info.weights) and records that layer's ring lists again (reset and
 * re-append: nothing is allocated or created). Not on the run path: allowed before the
 * first submit, or later while no slot is acquired or in flight (every submit waited
 * for), else ZMOE_ERR_STATE. Lists the caller recorded itself with zmoe_record or
 * zmoe_record_experts keep the old pointers: record them again (before the first submit).
 * ZMOE_ERR_STATE on a runtime that owns its weights; a bad pointer is ZMOE_ERR_ARGUMENT
 * naming the layer and tensor, and leaves the layer as it was. */
enum zmoe_status zmoe_set_layer_weights(struct zmoe_runtime *rt, uint32_t layer,
                                        const struct zmoe_layer_weights *weights,
                                        struct zmoe_error *err);

/* Copies one layer's weights from the caller's host memory (kernel layout and dtypes
 * above, any alignment; every present tensor given) into zmoe's own arena, through the
 * planned staging buffer (nothing is allocated). For a runtime that owns its weights,
 * instead of or after zmoe_load_weights; a layer so given may be submitted before the
 * others have weights. Same phase rule as zmoe_set_layer_weights (not while a slot is
 * acquired or in flight). A framework that caches uploads (python/zmoe) uses it to give
 * each weight object its own layer. An act-order permutation value >= its row length is
 * ZMOE_ERR_ARGUMENT (the kernels gather through it unchecked), before anything is copied. */
enum zmoe_status zmoe_upload_layer_weights(struct zmoe_runtime *rt, uint32_t layer,
                                           const struct zmoe_layer_weights *host,
                                           struct zmoe_error *err);

/* One ring slot: where the caller puts x[T,H] and finds y[T,H] (activation dtype),
 * and the router's choice for those tokens.
 *
 * Routing readback: topk_ids_host / topk_weights_host are host-visible [max_tokens][K]
 * arrays (row t = token t of the submit, K entries each; only the first T rows of a
 * submit of T tokens are meaningful). The recorded list of every (slot, layer) copies
 * them from the device right after the align stage: no extra Level Zero call, nothing
 * allocated. Valid after zmoe_wait/zmoe_poll reported the slot's last submit complete,
 * until the slot is submitted again.
 *   topk_ids_host[t*K + k]      expert of the k-th choice of token t; choices in
 *                               descending router score (the score plus the score
 *                               correction bias when configured), ties to the lower
 *                               expert index;
 *   topk_weights_host[t*K + k]  its routing weight as applied: the score, renormalized
 *                               when router.renormalize, times routed_scaling_factor.
 *                               With apply_router_weight_on_input these are the weights
 *                               that scaled the expert's input (the combine weight is 1).
 * Layers run through zmoe_record() have no readback. */
#define ZMOE_HAVE_SLOT_ROUTING 1
struct zmoe_slot {
    uint32_t index;
    void *input_host;   /* host-visible; copied to input_device by the recorded list */
    void *output_host;  /* host-visible; filled from output_device by the recorded list */
    void *input_device;
    void *output_device;
    const uint32_t *topk_ids_host;  /* [max_tokens][K], see above */
    const float *topk_weights_host; /* [max_tokens][K], see above */
    /* The caller's routing for zmoe_submit_experts: the same host-visible arrays as
     * topk_ids_host / topk_weights_host, writable ([max_tokens][K], row t = token t). */
    uint32_t *routing_ids_host;
    float *routing_weights_host;
};

/* Take the next ring slot; waits (up to the configured timeout) until its previous
 * execution finished. ZMOE_TIMEOUT leaves the ring unchanged. */
enum zmoe_status zmoe_slot_acquire(struct zmoe_runtime *rt, struct zmoe_slot *slot,
                                   struct zmoe_error *err);
/* Run layer `layer` on `tokens` tokens of the acquired slot, asynchronously. */
enum zmoe_status zmoe_submit(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                             uint32_t layer, uint32_t tokens, struct zmoe_error *err);
/* The experts-only layer call through the ring (a runtime created with ring_experts):
 * the routed experts of `layer` on the routing the caller wrote into the slot's
 * routing_ids_host / routing_weights_host (first `tokens` rows), with the meaning of
 * zmoe_record_experts (ids checked on the device; weights used as given; the weight on
 * input or at combine as configured; no shared expert). x in input_host, y in
 * output_host as for zmoe_submit; 1 Level Zero call. A bad id is reported by the
 * slot's zmoe_wait / zmoe_poll as ZMOE_ERR_ROUTING naming slot, layer, count and the
 * first (token, k, id); the slot is free again and y is invalid. */
enum zmoe_status zmoe_submit_experts(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                                     uint32_t layer, uint32_t tokens, struct zmoe_error *err);
#define ZMOE_HAVE_SUBMIT_EXPERTS 1
/* Wait for a submitted slot; timeout_ns UINT64_MAX = the configured timeout. */
enum zmoe_status zmoe_wait(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                           uint64_t timeout_ns, struct zmoe_error *err);
/* ZMOE_OK when done, ZMOE_NOT_READY while in flight. */
enum zmoe_status zmoe_poll(struct zmoe_runtime *rt, const struct zmoe_slot *slot,
                           struct zmoe_error *err);

/* Record layer `layer` into the caller's own command list, reading x and writing y
 * at the caller's device pointers; the token count is read at execution time from
 * *tokens_device (a uint32_t in device-visible memory the caller owns). Init-time
 * only: call before the first submit (it records; the run path never does). */
enum zmoe_status zmoe_record(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                             uint32_t layer, const void *x_device, void *y_device,
                             const uint32_t *tokens_device, struct zmoe_error *err);

/* Experts-only layer call with the caller's routing (an engine that routes itself, e.g.
 * sglang/vLLM's TopK output). Records into the caller's list, like zmoe_record, the
 * routed experts of layer `layer` on the caller's routing instead of zmoe's router:
 *   x_device             [T][hidden], activation dtype, row-major (row t = token t)
 *   topk_ids_device      uint32_t [T][top_k], row-major: topk_ids[t*K + k] is the k-th
 *                        expert of token t, 0 <= id < experts. Any order of k, repeats
 *                        allowed. int32 ids (torch) can be passed as is: a negative id
 *                        reads as >= 2^31 and is caught as a bad id (below).
 *   topk_weights_device  float [T][top_k], row-major, used exactly as given (no
 *                        renormalization, no routed_scaling_factor: the caller's router
 *                        applied what it applies).
 *   y_device             [T][hidden], activation dtype, written (every row < T).
 *   tokens_device        the uint32_t token count T (1..max_tokens), read at execution.
 * All device-visible memory the caller owns, read when the list executes, so one recorded
 * list serves every T and every routing. Per token t:
 *   y[t] = sum_k c_k * expert_{id[t][k]}(x[t] * s_k)
 * with apply_router_weight_on_input (Llama 4, HF semantics for any top_k): s_k = w[t][k]
 * (applied inside expert_up as x is loaded, in f32) and c_k = 1; otherwise s_k = 1 and
 * c_k = w[t][k]. Expert biases and every activation/dtype of the config apply. Shared
 * experts and the shared-expert gate are NOT part of this call: y is the routed experts
 * only; an engine runs its shared expert itself (as sglang's fused_experts callers do).
 * Bounds: ids are checked on the device. A pair whose id >= experts never indexes the
 * weights: it runs as expert 0 with weight 0 (so it adds 0 to y when the weight is applied
 * at combine; with apply_router_weight_on_input it adds expert 0's output at a zero input,
 * which is 0 unless the experts have biases), y stays finite, the other pairs are
 * unaffected, and the layer's status words (host-visible memory planned at create) record
 * the bad pairs; zmoe_routing_status() reports them. Treat y of such a call as invalid.
 * Init-time only, like zmoe_record: before the first submit. Nothing is allocated. */
enum zmoe_status zmoe_record_experts(struct zmoe_runtime *rt, ze_command_list_handle_t list,
                                     uint32_t layer, const void *x_device,
                                     const uint32_t *topk_ids_device,
                                     const float *topk_weights_device, void *y_device,
                                     const uint32_t *tokens_device, struct zmoe_error *err);

/* After the caller's list with experts-only calls has completed (the caller synchronized
 * it): ZMOE_OK when no call since the last check named a bad expert id; otherwise
 * ZMOE_ERR_ROUTING with a message naming the first flagged layer, its number of bad
 * pairs and the first bad (token, k, id) of its first bad call ("layer 0: 2 routing pairs
 * named an expert >= 8 ...; the first: token 3, k 1, id 11"). Clears every layer's flag.
 * Reads host memory only: no Level Zero call, no allocation; allowed in any phase. */
enum zmoe_status zmoe_routing_status(struct zmoe_runtime *rt, struct zmoe_error *err);
#define ZMOE_HAVE_RECORD_EXPERTS 1

enum zmoe_stage {
    ZMOE_STAGE_ROUTER = 0,
    ZMOE_STAGE_ALIGN,
    ZMOE_STAGE_EXPERT_UP,
    ZMOE_STAGE_EXPERT_DOWN,
    ZMOE_STAGE_COMBINE,
    ZMOE_STAGE_COUNT
};
const char *zmoe_stage_name(enum zmoe_stage stage);

struct zmoe_stats {
    uint64_t submits;
    uint64_t host_allocations_after_init; /* counted by the runtime's own allocator */
    uint64_t device_allocations_after_init;
    uint64_t stage_device_ns[ZMOE_STAGE_COUNT]; /* last completed submit, from timestamps */
    uint64_t device_bytes;                      /* device arena size */
    uint64_t host_bytes;                        /* host arena + host-visible block */
    char device_name[256];
    char device_reason[256]; /* why this device was chosen */
    char weights_source[512]; /* what zmoe_load_weights loaded: file, layout, layer
                                 prefix (detected or configured), or synthetic seed */
    bool kernels_native;     /* AOT binary used (else SPIR-V) */
    bool slot_io_direct;     /* [runtime] slot_io as resolved: kernels use the host buffers */
    bool combine_fused;      /* combine runs inside expert_down (float experts, one device):
                                stage_device_ns[ZMOE_STAGE_COMBINE] is 0, expert_down's
                                time includes it */
    bool align_fused;        /* align runs inside the router (top_k <= 64):
                                stage_device_ns[ZMOE_STAGE_ALIGN] is 0, the router's time
                                includes it */
};
enum zmoe_status zmoe_get_stats(const struct zmoe_runtime *rt, struct zmoe_stats *out);

/* The runtime's arena map as JSON (the document of `zmoe plan --json`: every buffer with
 * memory, offset, size, lifetime and category, per-memory totals), written NUL-terminated
 * into buf[size]. *length (may be NULL) receives the document's length without the NUL;
 * when it does not fit, ZMOE_ERR_ARGUMENT and *length says how much to pass. Reads the
 * plan only: no Level Zero call; allowed in any phase. */
enum zmoe_status zmoe_plan_json(const struct zmoe_runtime *rt, char *buf, size_t size,
                                size_t *length, struct zmoe_error *err);

/* sizeof of a public struct by name ("zmoe_config", "zmoe_create_info", "zmoe_slot",
 * "zmoe_stats", "zmoe_error", "zmoe_layer_weights"), 0 for another name: bindings that
 * mirror these structs (python/zmoe, ctypes) check their layouts against it. */
size_t zmoe_sizeof(const char *type);

#ifdef __cplusplus
}
#endif
#endif /* ZMOE_H */
