/* config: INI config files -> struct zmoe_config, validation, and the way back
 * (INI text and compiled-in C headers). See config.h and config/README.md.
 *
 * Parsing is two-layered. inih does the INI structure (sections, key = value pairs),
 * but it is fed through our own line reader, which is the strict lexical front end:
 * it counts lines (so every error has file:line), rejects bytes that are not UTF-8 text,
 * rejects lines that would not fit inih's line buffer (inih would silently split them,
 * and the tail could then parse as a line of its own), checks section headers and key
 * names, strips comments and blanks, and hands inih one canonical "key=value" or
 * "[section]" line at a time. That way inih's process-wide options (multi-line values,
 * inline comment characters, BOM handling) cannot change what a config file means.
 */
#include "config/config.h"
#include "weights/weights.h"
#include "config/hf.h"

#include <errno.h>
#include <float.h>
#include <ini.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum fields are stored through memcpy of an int; the enums must be int-sized. */
_Static_assert(sizeof(enum zmoe_scoring) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_activation) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_dtype) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_device_choice) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_weights_layout) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_quant_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_quant_packing) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zmoe_scale_dtype) == sizeof(int), "enum size");

/* ------------------------------------------------------------------ key table */

enum kind { KIND_U32, KIND_U64, KIND_SIZE, KIND_F32, KIND_BOOL, KIND_ENUM, KIND_STR, KIND_GATE_UP,
             KIND_MAP /* parallel.expert_map: per-participant expert lists */ };

struct enum_desc {
    const char *const *names;  /* config-file spelling, index = value */
    const char *const *cnames; /* C enumerator, index = value */
    int count;
    const char *choices; /* "softmax|sigmoid" for messages */
};

static const char *const scoring_names[] = {"softmax", "sigmoid"};
static const char *const scoring_cnames[] = {"ZMOE_SCORING_SOFTMAX", "ZMOE_SCORING_SIGMOID"};
static const char *const activation_names[] = {"silu", "gelu", "gelu_tanh", "swiglu_oai"};
static const char *const activation_cnames[] = {"ZMOE_ACT_SILU", "ZMOE_ACT_GELU",
                                                "ZMOE_ACT_GELU_TANH", "ZMOE_ACT_SWIGLU_OAI"};
static const char *const dtype_names[] = {"f32", "f16", "bf16"};
static const char *const dtype_cnames[] = {"ZMOE_DTYPE_F32", "ZMOE_DTYPE_F16", "ZMOE_DTYPE_BF16"};
static const char *const device_names[] = {"auto", "gpu", "host"};
static const char *const device_cnames[] = {"ZMOE_DEVICE_AUTO", "ZMOE_DEVICE_GPU",
                                            "ZMOE_DEVICE_HOST"};
static const char *const slot_io_names[] = {"auto", "copy", "direct"};
static const char *const slot_io_cnames[] = {"ZMOE_SLOT_IO_AUTO", "ZMOE_SLOT_IO_COPY",
                                             "ZMOE_SLOT_IO_DIRECT"};
static const char *const layout_names[] = {"synthetic", "llama4", "mixtral",
                                           "qwen_moe", "deepseek", "gpt_oss"};
static const char *const layout_cnames[] = {"ZMOE_LAYOUT_SYNTHETIC", "ZMOE_LAYOUT_LLAMA4",
                                            "ZMOE_LAYOUT_MIXTRAL",   "ZMOE_LAYOUT_QWEN_MOE",
                                            "ZMOE_LAYOUT_DEEPSEEK",  "ZMOE_LAYOUT_GPT_OSS"};
static const char *const gate_up_names[] = {"concatenated", "interleaved"};
static const char *const qformat_names[] = {"none", "int4", "int8", "fp8", "mxfp4"};
static const char *const qformat_cnames[] = {"ZMOE_QUANT_NONE", "ZMOE_QUANT_INT4",
                                             "ZMOE_QUANT_INT8", "ZMOE_QUANT_FP8",
                                             "ZMOE_QUANT_MXFP4"};
static const char *const packing_names[] = {"none", "gptq", "awq", "compressed_tensors",
                                            "native"};
static const char *const packing_cnames[] = {"ZMOE_PACK_NONE", "ZMOE_PACK_GPTQ", "ZMOE_PACK_AWQ",
                                             "ZMOE_PACK_COMPRESSED_TENSORS", "ZMOE_PACK_NATIVE"};
static const char *const scale_names[] = {"f16", "bf16", "f32", "e8m0"};
static const char *const scale_cnames[] = {"ZMOE_SCALE_F16", "ZMOE_SCALE_BF16", "ZMOE_SCALE_F32",
                                           "ZMOE_SCALE_E8M0"};

static const struct enum_desc enum_scoring = {scoring_names, scoring_cnames, 2, "softmax|sigmoid"};
static const struct enum_desc enum_activation = {activation_names, activation_cnames, 4,
                                                 "silu|gelu|gelu_tanh|swiglu_oai"};
static const struct enum_desc enum_dtype = {dtype_names, dtype_cnames, 3, "f32|f16|bf16"};
static const struct enum_desc enum_device = {device_names, device_cnames, 3, "auto|gpu|host"};
static const struct enum_desc enum_slot_io = {slot_io_names, slot_io_cnames, 3, "auto|copy|direct"};
static const struct enum_desc enum_layout = {
    layout_names, layout_cnames, 6, "synthetic|llama4|mixtral|qwen_moe|deepseek|gpt_oss"};
static const struct enum_desc enum_gate_up = {gate_up_names, NULL, 2, "concatenated|interleaved"};
static const struct enum_desc enum_qformat = {qformat_names, qformat_cnames, 5,
                                              "none|int4|int8|fp8|mxfp4"};
static const struct enum_desc enum_packing = {packing_names, packing_cnames, 5,
                                              "none|gptq|awq|compressed_tensors|native"};
static const struct enum_desc enum_scale = {scale_names, scale_cnames, 4, "f16|bf16|f32|e8m0"};

enum key_id {
    K_HIDDEN, K_INTERMEDIATE, K_EXPERTS, K_TOP_K, K_LAYERS, K_SHARED_EXPERTS, K_SHARED_INTERMEDIATE,
    K_SCORING, K_RENORMALIZE, K_GROUPS, K_TOPK_GROUP, K_SCALING, K_SCORE_BIAS, K_ROUTER_BIAS,
    K_ON_INPUT, K_SHARED_GATE,
    K_ACTIVATION, K_SWIGLU_ALPHA, K_SWIGLU_LIMIT, K_EXPERT_BIAS, K_GATE_UP,
    K_DT_WEIGHTS, K_DT_ACTIVATIONS,
    K_Q_FORMAT, K_Q_PACKING, K_Q_GROUP, K_Q_ZEROS, K_Q_ACT_ORDER, K_Q_SCALE, K_Q_SHARED,
    K_MAX_TOKENS, K_RING_DEPTH, K_DEVICE, K_WAIT_TIMEOUT, K_SLOT_IO,
    K_DEVICE_BYTES, K_HOST_BYTES,
    K_FILE, K_LAYOUT, K_PREFIX, K_SEED,
    K_P_DEVICES, K_P_RANKS, K_P_MAP,
    K_COUNT
};

struct key_desc {
    const char *section;
    const char *name;  /* key in the file */
    const char *field; /* member of the sub-struct (differs only for gate_up) */
    enum kind kind;
    size_t offset; /* offsetof(struct zmoe_config, ...) */
    size_t size;   /* strings: buffer size including the NUL */
    const struct enum_desc *e;
    bool required;
    const char *full; /* "section.key" */
};

#define OFF(member) offsetof(struct zmoe_config, member)
#define SZ(member) sizeof(((struct zmoe_config *)0)->member)

static const struct key_desc keys[K_COUNT] = {
    [K_HIDDEN] = {"model", "hidden", "hidden", KIND_U32, OFF(model.hidden), 0, NULL, true, "model.hidden"},
    [K_INTERMEDIATE] = {"model", "intermediate", "intermediate", KIND_U32, OFF(model.intermediate), 0, NULL, true, "model.intermediate"},
    [K_EXPERTS] = {"model", "experts", "experts", KIND_U32, OFF(model.experts), 0, NULL, true, "model.experts"},
    [K_TOP_K] = {"model", "top_k", "top_k", KIND_U32, OFF(model.top_k), 0, NULL, true, "model.top_k"},
    [K_LAYERS] = {"model", "layers", "layers", KIND_U32, OFF(model.layers), 0, NULL, true, "model.layers"},
    [K_SHARED_EXPERTS] = {"model", "shared_experts", "shared_experts", KIND_U32, OFF(model.shared_experts), 0, NULL, false, "model.shared_experts"},
    [K_SHARED_INTERMEDIATE] = {"model", "shared_intermediate", "shared_intermediate", KIND_U32, OFF(model.shared_intermediate), 0, NULL, false, "model.shared_intermediate"},
    [K_SCORING] = {"router", "scoring", "scoring", KIND_ENUM, OFF(router.scoring), 0, &enum_scoring, true, "router.scoring"},
    [K_RENORMALIZE] = {"router", "renormalize", "renormalize", KIND_BOOL, OFF(router.renormalize), 0, NULL, false, "router.renormalize"},
    [K_GROUPS] = {"router", "groups", "groups", KIND_U32, OFF(router.groups), 0, NULL, false, "router.groups"},
    [K_TOPK_GROUP] = {"router", "topk_group", "topk_group", KIND_U32, OFF(router.topk_group), 0, NULL, false, "router.topk_group"},
    [K_SCALING] = {"router", "routed_scaling_factor", "routed_scaling_factor", KIND_F32, OFF(router.routed_scaling_factor), 0, NULL, false, "router.routed_scaling_factor"},
    [K_SCORE_BIAS] = {"router", "score_correction_bias", "score_correction_bias", KIND_BOOL, OFF(router.score_correction_bias), 0, NULL, false, "router.score_correction_bias"},
    [K_ROUTER_BIAS] = {"router", "bias", "bias", KIND_BOOL, OFF(router.bias), 0, NULL, false, "router.bias"},
    [K_ON_INPUT] = {"router", "apply_router_weight_on_input", "apply_router_weight_on_input", KIND_BOOL, OFF(router.apply_router_weight_on_input), 0, NULL, false, "router.apply_router_weight_on_input"},
    [K_SHARED_GATE] = {"router", "shared_expert_gate", "shared_expert_gate", KIND_BOOL, OFF(router.shared_expert_gate), 0, NULL, false, "router.shared_expert_gate"},
    [K_ACTIVATION] = {"experts", "activation", "activation", KIND_ENUM, OFF(experts.activation), 0, &enum_activation, true, "experts.activation"},
    [K_SWIGLU_ALPHA] = {"experts", "swiglu_alpha", "swiglu_alpha", KIND_F32, OFF(experts.swiglu_alpha), 0, NULL, false, "experts.swiglu_alpha"},
    [K_SWIGLU_LIMIT] = {"experts", "swiglu_limit", "swiglu_limit", KIND_F32, OFF(experts.swiglu_limit), 0, NULL, false, "experts.swiglu_limit"},
    [K_EXPERT_BIAS] = {"experts", "bias", "bias", KIND_BOOL, OFF(experts.bias), 0, NULL, false, "experts.bias"},
    [K_GATE_UP] = {"experts", "gate_up", "gate_up_interleaved", KIND_GATE_UP, OFF(experts.gate_up_interleaved), 0, &enum_gate_up, false, "experts.gate_up"},
    [K_DT_WEIGHTS] = {"dtype", "weights", "weights", KIND_ENUM, OFF(dtype.weights), 0, &enum_dtype, true, "dtype.weights"},
    [K_DT_ACTIVATIONS] = {"dtype", "activations", "activations", KIND_ENUM, OFF(dtype.activations), 0, &enum_dtype, false, "dtype.activations"},
    [K_Q_FORMAT] = {"quant", "format", "format", KIND_ENUM, OFF(quant.format), 0, &enum_qformat, false, "quant.format"},
    [K_Q_PACKING] = {"quant", "packing", "packing", KIND_ENUM, OFF(quant.packing), 0, &enum_packing, false, "quant.packing"},
    [K_Q_GROUP] = {"quant", "group_size", "group_size", KIND_U32, OFF(quant.group_size), 0, NULL, false, "quant.group_size"},
    [K_Q_ZEROS] = {"quant", "zero_points", "zero_points", KIND_BOOL, OFF(quant.zero_points), 0, NULL, false, "quant.zero_points"},
    [K_Q_ACT_ORDER] = {"quant", "act_order", "act_order", KIND_BOOL, OFF(quant.act_order), 0, NULL, false, "quant.act_order"},
    [K_Q_SCALE] = {"quant", "scale_dtype", "scale_dtype", KIND_ENUM, OFF(quant.scale_dtype), 0, &enum_scale, false, "quant.scale_dtype"},
    [K_Q_SHARED] = {"quant", "shared_experts", "shared_experts", KIND_BOOL, OFF(quant.shared_experts), 0, NULL, false, "quant.shared_experts"},
    [K_MAX_TOKENS] = {"runtime", "max_tokens", "max_tokens", KIND_U32, OFF(runtime.max_tokens), 0, NULL, false, "runtime.max_tokens"},
    [K_RING_DEPTH] = {"runtime", "ring_depth", "ring_depth", KIND_U32, OFF(runtime.ring_depth), 0, NULL, false, "runtime.ring_depth"},
    [K_DEVICE] = {"runtime", "device", "device", KIND_ENUM, OFF(runtime.device), 0, &enum_device, false, "runtime.device"},
    [K_WAIT_TIMEOUT] = {"runtime", "wait_timeout_ms", "wait_timeout_ms", KIND_U32, OFF(runtime.wait_timeout_ms), 0, NULL, false, "runtime.wait_timeout_ms"},
    [K_SLOT_IO] = {"runtime", "slot_io", "slot_io", KIND_ENUM, OFF(runtime.slot_io), 0, &enum_slot_io, false, "runtime.slot_io"},
    [K_DEVICE_BYTES] = {"budget", "device_bytes", "device_bytes", KIND_SIZE, OFF(budget.device_bytes), 0, NULL, false, "budget.device_bytes"},
    [K_HOST_BYTES] = {"budget", "host_bytes", "host_bytes", KIND_SIZE, OFF(budget.host_bytes), 0, NULL, false, "budget.host_bytes"},
    [K_FILE] = {"weights", "file", "file", KIND_STR, OFF(weights.file), SZ(weights.file), NULL, false, "weights.file"},
    [K_LAYOUT] = {"weights", "layout", "layout", KIND_ENUM, OFF(weights.layout), 0, &enum_layout, false, "weights.layout"},
    [K_PREFIX] = {"weights", "prefix", "prefix", KIND_STR, OFF(weights.prefix), SZ(weights.prefix), NULL, false, "weights.prefix"},
    [K_SEED] = {"weights", "seed", "seed", KIND_U64, OFF(weights.seed), 0, NULL, false, "weights.seed"},
    [K_P_DEVICES] = {"parallel", "devices", "devices", KIND_U32, OFF(parallel.devices), 0, NULL, false, "parallel.devices"},
    [K_P_RANKS] = {"parallel", "ranks", "ranks", KIND_U32, OFF(parallel.ranks), 0, NULL, false, "parallel.ranks"},
    [K_P_MAP] = {"parallel", "expert_map", "expert_map", KIND_MAP, OFF(parallel.expert_map), 0, NULL, false, "parallel.expert_map"},
};

static const char *const sections[] = {"model", "router", "experts", "dtype", "quant",
                                       "runtime", "budget", "weights", "parallel"};
#define SECTION_COUNT ((int)(sizeof sections / sizeof sections[0]))
#define SECTIONS_LIST "[model], [router], [experts], [dtype], [quant], [runtime], [budget], [weights], [parallel]"
#define NAME_MAX_LEN 48 /* section and key names; inih truncates names at 49 chars */

/* Typed access to a field through its descriptor. memcpy keeps this free of aliasing
 * questions; the descriptor's kind says which type lives at the offset. */
static uint32_t get_u32(const struct zmoe_config *c, enum key_id k)
{
    uint32_t v;
    memcpy(&v, (const char *)c + keys[k].offset, sizeof v);
    return v;
}
static uint64_t get_u64(const struct zmoe_config *c, enum key_id k)
{
    uint64_t v;
    memcpy(&v, (const char *)c + keys[k].offset, sizeof v);
    return v;
}
static float get_f32(const struct zmoe_config *c, enum key_id k)
{
    float v;
    memcpy(&v, (const char *)c + keys[k].offset, sizeof v);
    return v;
}
static bool get_bool(const struct zmoe_config *c, enum key_id k)
{
    bool v;
    memcpy(&v, (const char *)c + keys[k].offset, sizeof v);
    return v;
}
static int get_enum(const struct zmoe_config *c, enum key_id k)
{
    int v;
    memcpy(&v, (const char *)c + keys[k].offset, sizeof v);
    return v;
}
static const char *get_str(const struct zmoe_config *c, enum key_id k)
{
    return (const char *)c + keys[k].offset;
}
static void set_field(struct zmoe_config *c, enum key_id k, const void *v, size_t n)
{
    memcpy((char *)c + keys[k].offset, v, n);
}

static const char *enum_name(const struct enum_desc *e, int v)
{
    return v >= 0 && v < e->count ? e->names[v] : "?";
}

const char *zmoe_config_scoring_name(enum zmoe_scoring v) { return enum_name(&enum_scoring, (int)v); }
const char *zmoe_config_activation_name(enum zmoe_activation v) { return enum_name(&enum_activation, (int)v); }
const char *zmoe_config_dtype_name(enum zmoe_dtype v) { return enum_name(&enum_dtype, (int)v); }
const char *zmoe_config_device_name(enum zmoe_device_choice v) { return enum_name(&enum_device, (int)v); }
const char *zmoe_config_layout_name(enum zmoe_weights_layout v) { return enum_name(&enum_layout, (int)v); }
const char *zmoe_config_quant_format_name(enum zmoe_quant_format v) { return enum_name(&enum_qformat, (int)v); }
const char *zmoe_config_quant_packing_name(enum zmoe_quant_packing v) { return enum_name(&enum_packing, (int)v); }
const char *zmoe_config_scale_dtype_name(enum zmoe_scale_dtype v) { return enum_name(&enum_scale, (int)v); }

/* ------------------------------------------------------------------ defaults */

void zmoe_config_defaults(struct zmoe_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->router.renormalize = false;
    cfg->router.groups = 1;
    cfg->router.topk_group = 1;
    cfg->router.routed_scaling_factor = 1.0f;
    cfg->dtype.activations = ZMOE_DTYPE_F32;
    cfg->runtime.max_tokens = 8;
    cfg->runtime.ring_depth = 4;
    cfg->runtime.device = ZMOE_DEVICE_AUTO;
    cfg->runtime.wait_timeout_ms = 5000;
    cfg->weights.layout = ZMOE_LAYOUT_SYNTHETIC;
    cfg->weights.seed = 1;
    cfg->quant.shared_experts = true;
}

/* ------------------------------------------------------------------ messages */

/* Copies `s` for quoting in a message: at most 64 bytes, control bytes escaped, so a
 * hostile value cannot flood or garble the caller's terminal. */
static void quote(char *dst, size_t dst_size, const char *s)
{
    size_t n = 0;
    for (; *s && n + 5 < dst_size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (n >= 64) {
            memcpy(dst + n, "...", 3);
            n += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f) {
            n += (size_t)snprintf(dst + n, dst_size - n, "\\x%02x", ch);
        } else {
            dst[n++] = (char)ch;
        }
    }
    dst[n] = '\0';
}

/* The context errors are reported in: a file name and the line each key was set on
 * (parse), or neither (validate of a struct built in code). */
struct where {
    const char *name;              /* NULL: "config" */
    const uint32_t *lines;         /* [K_COUNT], 0 = not in the file; NULL for structs */
};

/* The shortest %g form that reads back as the same float ("1.702", not "1.70200002"),
 * so printed configs look like what a person wrote and still round-trip exactly. */
static void format_float(float f, char *buf, size_t size)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            return;
    }
}

#define MAP_UNSET 0xffu /* parallel.expert_map: an expert no list names */

/* "0-3,8 | 4-7,9": participant r's experts (runs as ranges), lists separated by '|'. */
static void format_map(const struct zmoe_config *c, char *buf, size_t size)
{
    size_t n = 0;
    uint32_t parts = 0;
    const uint32_t E = c->model.experts < ZMOE_PARALLEL_EXPERTS_MAX ? c->model.experts
                                                                      : ZMOE_PARALLEL_EXPERTS_MAX;
    for (uint32_t e = 0; e < E; e++)
        if (c->parallel.expert_map[e] != MAP_UNSET && c->parallel.expert_map[e] + 1u > parts)
            parts = c->parallel.expert_map[e] + 1u;
    buf[0] = '\0';
    for (uint32_t r = 0; r < parts && n < size; r++) {
        bool first = true;
        if (r)
            n += (size_t)snprintf(buf + n, size - n, " | ");
        for (uint32_t e = 0; e < E && n < size; e++) {
            if (c->parallel.expert_map[e] != r)
                continue;
            uint32_t f = e;
            while (f + 1 < E && c->parallel.expert_map[f + 1] == r)
                f++;
            if (n < size)
                n += (size_t)snprintf(buf + n, size - n, f > e ? "%s%u-%u" : "%s%u", first ? "" : ",", e, f);
            first = false;
            e = f;
        }
    }
}

static void format_value(const struct zmoe_config *c, enum key_id k, char *buf, size_t size)
{
    switch (keys[k].kind) {
    case KIND_U32: snprintf(buf, size, "%lu", (unsigned long)get_u32(c, k)); break;
    case KIND_U64:
    case KIND_SIZE: snprintf(buf, size, "%llu", (unsigned long long)get_u64(c, k)); break;
    case KIND_F32: format_float(get_f32(c, k), buf, size); break;
    case KIND_BOOL: snprintf(buf, size, "%s", get_bool(c, k) ? "true" : "false"); break;
    case KIND_GATE_UP: snprintf(buf, size, "%s", gate_up_names[get_bool(c, k) ? 1 : 0]); break;
    case KIND_MAP: format_map(c, buf, size); break;
    case KIND_ENUM: {
        int v = get_enum(c, k);
        if (v >= 0 && v < keys[k].e->count)
            snprintf(buf, size, "%s", keys[k].e->names[v]);
        else
            snprintf(buf, size, "<invalid enum value %d>", v);
        break;
    }
    case KIND_STR: {
        /* The struct may come from code: never read past the buffer. */
        char tmp[ZMOE_PATH_MAX];
        size_t len = strnlen(get_str(c, k), keys[k].size);
        if (len >= sizeof tmp)
            len = sizeof tmp - 1;
        memcpy(tmp, get_str(c, k), len);
        tmp[len] = '\0';
        quote(buf, size, tmp);
        break;
    }
    }
}

/* "<where>key 'section.name': expected <what>, found '<found>'" */
static enum zmoe_status key_error(struct zmoe_error *err, const struct where *w, enum key_id k,
                                  const char *found, const char *fmt, ...)
{
    char what[512], q[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    quote(q, sizeof q, found);
    if (!err)
        return ZMOE_ERR_CONFIG;
    const char *name = w->name ? w->name : "config";
    if (w->lines && w->lines[k])
        snprintf(err->msg, sizeof err->msg, "%s:%lu: key '%s.%s': expected %s, found '%s'", name,
                 (unsigned long)w->lines[k], keys[k].section, keys[k].name, what, q);
    else
        snprintf(err->msg, sizeof err->msg, "%s: key '%s.%s': expected %s, found '%s'", name,
                 keys[k].section, keys[k].name, what, q);
    return ZMOE_ERR_CONFIG;
}

/* key_error with the struct's current value as the found part. */
static enum zmoe_status bad(struct zmoe_error *err, const struct where *w,
                            const struct zmoe_config *c, enum key_id k, const char *fmt, ...)
{
    char what[512], found[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    format_value(c, k, found, sizeof found);
    /* A [quant] key left out takes the format's default (group_size 128, ...): point at
     * the format line and say the value was not written, so the message is actionable. */
    if (err && k >= K_Q_PACKING && k <= K_Q_SHARED && w->lines && !w->lines[k] &&
        w->lines[K_Q_FORMAT]) {
        char q[128];
        quote(q, sizeof q, found);
        snprintf(err->msg, sizeof err->msg,
                 "%s:%lu: key '%s.%s': expected %s, found '%s' (not in the file: the default "
                 "with format %s)",
                 w->name ? w->name : "config", (unsigned long)w->lines[K_Q_FORMAT],
                 keys[k].section, keys[k].name, what, q, qformat_names[c->quant.format]);
        return ZMOE_ERR_CONFIG;
    }
    return key_error(err, w, k, found, "%s", what);
}

static void set_msg(struct zmoe_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ checked sizes */

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static bool add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static bool mul3(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    uint64_t t;
    return mul_u64(a, b, &t) && mul_u64(t, c, out);
}

/* Bytes of one layer's weights: the sum of weights/weights.h's tensor sizes (float
 * matrices in the weights dtype, quantized ones in weights/quant.h's layout, biases in
 * f32), so the config's lower bound and the plan count the same bytes. `which` says
 * which geometry key overflowed, for the message. */
static bool layer_weight_bytes(const struct zmoe_config *c, uint64_t *out, enum key_id *which)
{
    uint64_t sum = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (!zmoe_tensor_present(c, (enum zmoe_tensor)t))
            continue;
        bool shared = t == ZMOE_TENSOR_SHARED_W13 || t == ZMOE_TENSOR_SHARED_W2 ||
                      t == ZMOE_TENSOR_SHARED_GATE;
        *which = shared ? K_SHARED_INTERMEDIATE : K_INTERMEDIATE;
        uint64_t b = zmoe_tensor_bytes(c, (enum zmoe_tensor)t);
        if (b == 0 || !add_u64(sum, b, &sum))
            return false;
    }
    *out = sum;
    return true;
}

bool zmoe_config_weight_bytes(const struct zmoe_config *cfg, uint64_t *out)
{
    enum key_id which;
    uint64_t layer;
    return layer_weight_bytes(cfg, &layer, &which) && mul_u64(layer, cfg->model.layers, out);
}

/* ------------------------------------------------------------------ validation */

static bool finite_positive(float f)
{
    return isfinite(f) && f > 0.0f;
}

static bool is_digit(char ch);

static bool prefix_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-' || ch == '/';
}

/* [quant]: which packings, group sizes and scale dtypes each format has in real
 * checkpoints (config/README.md "Quantized experts"), and the geometry its device
 * layout needs (weights/quant.h: rows of whole 16-byte code chunks, whole groups). */
static enum zmoe_status validate_quant(const struct zmoe_config *c, const struct where *w,
                                       struct zmoe_error *err)
{
    static const struct {
        enum key_id key;
        const struct enum_desc *e;
    } enums[] = {{K_Q_FORMAT, &enum_qformat}, {K_Q_PACKING, &enum_packing}, {K_Q_SCALE, &enum_scale}};
    for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
        int v = get_enum(c, enums[i].key);
        if (v < 0 || v >= enums[i].e->count)
            return bad(err, w, c, enums[i].key, "one of %s", enums[i].e->choices);
    }
    const bool has_file = c->weights.file[0] != '\0';
    const enum zmoe_quant_format f = c->quant.format;
    if (f == ZMOE_QUANT_NONE) {
        if (c->quant.packing != ZMOE_PACK_NONE)
            return bad(err, w, c, K_Q_PACKING, "none unless quant.format is set");
        if (c->quant.group_size != 0)
            return bad(err, w, c, K_Q_GROUP, "0 unless quant.format is set");
        if (c->quant.zero_points)
            return bad(err, w, c, K_Q_ZEROS, "false unless quant.format is set");
        if (c->quant.act_order)
            return bad(err, w, c, K_Q_ACT_ORDER, "false unless quant.format is set");
        if (c->quant.scale_dtype != ZMOE_SCALE_F16)
            return bad(err, w, c, K_Q_SCALE, "f16 (the default) unless quant.format is set");
        /* shared_experts means nothing without quantized experts: either value is
         * accepted (a zeroed struct, as C callers build one, holds false) and
         * zmoe_config_diff does not compare it. */
        return ZMOE_OK;
    }
    const bool is_int = f == ZMOE_QUANT_INT4 || f == ZMOE_QUANT_INT8;
    const enum zmoe_quant_packing pk = c->quant.packing;
    if (!has_file && pk != ZMOE_PACK_NONE)
        return bad(err, w, c, K_Q_PACKING,
                   "none with synthetic weights (packing says how a checkpoint file stores "
                   "the experts)");
    if (has_file) {
        bool ok = false;
        const char *choices = "";
        switch (f) {
        case ZMOE_QUANT_INT4:
            ok = pk == ZMOE_PACK_GPTQ || pk == ZMOE_PACK_AWQ || pk == ZMOE_PACK_COMPRESSED_TENSORS;
            choices = "gptq|awq|compressed_tensors with format int4";
            break;
        case ZMOE_QUANT_INT8:
            ok = pk == ZMOE_PACK_GPTQ || pk == ZMOE_PACK_COMPRESSED_TENSORS;
            choices = "gptq|compressed_tensors with format int8";
            break;
        case ZMOE_QUANT_FP8:
            ok = pk == ZMOE_PACK_NATIVE || pk == ZMOE_PACK_COMPRESSED_TENSORS;
            choices = "native|compressed_tensors with format fp8";
            break;
        default:
            ok = pk == ZMOE_PACK_NATIVE;
            choices = "native with format mxfp4 (GPT-OSS's *_blocks/*_scales)";
            break;
        }
        if (!ok)
            return bad(err, w, c, K_Q_PACKING, "%s", choices);
        if (f == ZMOE_QUANT_MXFP4 && c->weights.layout != ZMOE_LAYOUT_GPT_OSS)
            return bad(err, w, c, K_Q_FORMAT,
                       "mxfp4 only with layout gpt_oss (the one family published in MXFP4)");
    }
    const uint64_t H = c->model.hidden, I = c->model.intermediate;
    const uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate;
    const bool shared_q = S > 0 && c->quant.shared_experts;
    const uint32_t g = c->quant.group_size;
    if (H % 32 || I % 32 || (shared_q && S % 32)) {
        char sw[48] = "";
        if (shared_q)
            snprintf(sw, sizeof sw, ", shared width %llu", (unsigned long long)S);
        return bad(err, w, c, K_Q_FORMAT,
                   "a geometry with hidden, intermediate%s multiples of 32 for quantized "
                   "experts (hidden %llu, intermediate %llu%s)",
                   shared_q ? " and shared width" : "", (unsigned long long)H,
                   (unsigned long long)I, sw);
    }
    if (is_int) {
        if (g != 0 && (g % 32 || H % g || I % g || (shared_q && S % g)))
            return bad(err, w, c, K_Q_GROUP,
                       "0 (per output channel) or a multiple of 32 dividing hidden (%llu), "
                       "intermediate (%llu)%s",
                       (unsigned long long)H, (unsigned long long)I,
                       shared_q ? " and the shared width" : "");
    } else if (f == ZMOE_QUANT_FP8) {
        if (g != 0 && g != 128)
            return bad(err, w, c, K_Q_GROUP, "0 (per-channel scales) or 128 (128x128 blocks) "
                                             "with format fp8");
        if (g == 128 && (H % 128 || I % 128 || (shared_q && S % 128)))
            return bad(err, w, c, K_Q_GROUP,
                       "0 (per channel): 128x128 blocks need hidden, intermediate%s to be "
                       "multiples of 128",
                       shared_q ? " and the shared width" : "");
    } else if (g != 32) {
        return bad(err, w, c, K_Q_GROUP, "32 with format mxfp4 (one scale per 32 values)");
    }
    if (c->quant.zero_points && !is_int)
        return bad(err, w, c, K_Q_ZEROS, "false with format %s (zero points are for int4/int8)",
                   qformat_names[f]);
    if (pk == ZMOE_PACK_AWQ && !c->quant.zero_points)
        return bad(err, w, c, K_Q_ZEROS, "true with packing awq (AutoAWQ GEMM is asymmetric)");
    /* g_idx lives in GPTQ checkpoints and in compressed-tensors ones quantized with
     * actorder = group (weight_g_idx); synthetic weights get a generated permutation. */
    if (c->quant.act_order &&
        !(is_int && (pk == ZMOE_PACK_GPTQ || pk == ZMOE_PACK_COMPRESSED_TENSORS ||
                     pk == ZMOE_PACK_NONE)))
        return bad(err, w, c, K_Q_ACT_ORDER,
                   "false unless format is int4/int8 with packing gptq (g_idx), "
                   "compressed_tensors (weight_g_idx) or synthetic");
    if (c->quant.act_order && g == 0)
        return bad(err, w, c, K_Q_ACT_ORDER, "false with per-channel scales (group_size 0: "
                                             "act-order only reorders groups)");
    const enum zmoe_scale_dtype sd = c->quant.scale_dtype;
    if (f == ZMOE_QUANT_MXFP4 ? sd != ZMOE_SCALE_E8M0 : sd == ZMOE_SCALE_E8M0)
        return bad(err, w, c, K_Q_SCALE, "%s with format %s",
                   f == ZMOE_QUANT_MXFP4 ? "e8m0" : "f16|bf16|f32", qformat_names[f]);
    return ZMOE_OK;
}

/* Every rule of config/README.md "Consistency rules", in field order so the first
 * problem of a file is the one reported. */
static enum zmoe_status validate(const struct zmoe_config *c, const struct where *w,
                                 struct zmoe_error *err)
{
    const uint32_t E = c->model.experts, K = c->model.top_k;

    /* model */
    if (c->model.hidden == 0)
        return bad(err, w, c, K_HIDDEN, "an integer >= 1");
    if (c->model.intermediate == 0)
        return bad(err, w, c, K_INTERMEDIATE, "an integer >= 1");
    if (E == 0)
        return bad(err, w, c, K_EXPERTS, "an integer >= 1");
    if (K == 0 || K > E)
        return bad(err, w, c, K_TOP_K, "an integer in [1, experts = %lu]", (unsigned long)E);
    if (c->model.layers == 0)
        return bad(err, w, c, K_LAYERS, "an integer >= 1");
    if (c->model.shared_experts > 0 && c->model.shared_intermediate == 0)
        return bad(err, w, c, K_SHARED_INTERMEDIATE,
                   "an integer >= 1 with shared_experts = %lu",
                   (unsigned long)c->model.shared_experts);
    if (c->model.shared_experts == 0 && c->model.shared_intermediate != 0)
        return bad(err, w, c, K_SHARED_INTERMEDIATE,
                   "no shared_intermediate without shared experts (shared_experts = 0)");

    /* router */
    if (get_enum(c, K_SCORING) < 0 || get_enum(c, K_SCORING) >= enum_scoring.count)
        return bad(err, w, c, K_SCORING, "one of %s", enum_scoring.choices);
    const uint32_t G = c->router.groups;
    if (G == 0)
        return bad(err, w, c, K_GROUPS, "an integer >= 1 (1 = no grouped top-k)");
    if (E % G != 0)
        return bad(err, w, c, K_GROUPS, "a divisor of experts = %lu", (unsigned long)E);
    if (c->router.topk_group == 0 || c->router.topk_group > G)
        return bad(err, w, c, K_TOPK_GROUP, "an integer in [1, groups = %lu]", (unsigned long)G);
    if (G > 1) {
        /* Only topk_group groups of E/G experts each stay eligible. */
        uint64_t eligible = (uint64_t)c->router.topk_group * (E / G);
        if (K > eligible)
            return bad(err, w, c, K_TOP_K,
                       "at most topk_group * experts / groups = %lu (the experts left "
                       "eligible by grouped top-k)",
                       (unsigned long)eligible);
        /* With the correction bias a group scores by the sum of its top-2 experts. */
        if (c->router.score_correction_bias && E / G < 2)
            return bad(err, w, c, K_GROUPS,
                       "at most experts / 2 = %lu with score_correction_bias (a group is "
                       "scored by its two best experts)",
                       (unsigned long)(E / 2));
    }
    if (!finite_positive(c->router.routed_scaling_factor))
        return bad(err, w, c, K_SCALING, "a finite number > 0 (1 = no scaling)");
    if (c->router.apply_router_weight_on_input && K == 1 && c->router.renormalize &&
        c->router.routed_scaling_factor == 1.0f)
        return bad(err, w, c, K_ON_INPUT,
                   "false when top_k = 1 with renormalize and routed_scaling_factor 1 (every "
                   "routing weight is exactly 1, so scaling the input does nothing)");
    if (c->router.shared_expert_gate && c->model.shared_experts == 0)
        return bad(err, w, c, K_SHARED_GATE, "false without shared experts (shared_experts = 0)");

    /* experts */
    int act = get_enum(c, K_ACTIVATION);
    if (act < 0 || act >= enum_activation.count)
        return bad(err, w, c, K_ACTIVATION, "one of %s", enum_activation.choices);
    if (act == ZMOE_ACT_SWIGLU_OAI) {
        if (!finite_positive(c->experts.swiglu_alpha))
            return bad(err, w, c, K_SWIGLU_ALPHA, "a finite number > 0 with swiglu_oai");
        if (!finite_positive(c->experts.swiglu_limit))
            return bad(err, w, c, K_SWIGLU_LIMIT, "a finite number > 0 with swiglu_oai");
    } else {
        if (c->experts.swiglu_alpha != 0.0f || isnan(c->experts.swiglu_alpha))
            return bad(err, w, c, K_SWIGLU_ALPHA, "no swiglu_alpha (0) with activation %s",
                       activation_names[act]);
        if (c->experts.swiglu_limit != 0.0f || isnan(c->experts.swiglu_limit))
            return bad(err, w, c, K_SWIGLU_LIMIT, "no swiglu_limit (0) with activation %s",
                       activation_names[act]);
    }

    /* dtype */
    if (get_enum(c, K_DT_WEIGHTS) < 0 || get_enum(c, K_DT_WEIGHTS) >= enum_dtype.count)
        return bad(err, w, c, K_DT_WEIGHTS, "one of %s", enum_dtype.choices);
    if (get_enum(c, K_DT_ACTIVATIONS) < 0 || get_enum(c, K_DT_ACTIVATIONS) >= enum_dtype.count)
        return bad(err, w, c, K_DT_ACTIVATIONS, "one of %s", enum_dtype.choices);
    enum zmoe_status qst = validate_quant(c, w, err);
    if (qst != ZMOE_OK)
        return qst;

    /* runtime */
    if (c->runtime.max_tokens == 0)
        return bad(err, w, c, K_MAX_TOKENS, "an integer >= 1");
    if (c->runtime.ring_depth == 0 || c->runtime.ring_depth > ZMOE_CONFIG_RING_DEPTH_MAX)
        return bad(err, w, c, K_RING_DEPTH, "an integer in [1, %u]", ZMOE_CONFIG_RING_DEPTH_MAX);
    if (get_enum(c, K_DEVICE) < 0 || get_enum(c, K_DEVICE) >= enum_device.count)
        return bad(err, w, c, K_DEVICE, "one of %s", enum_device.choices);
    if (c->runtime.wait_timeout_ms == 0)
        return bad(err, w, c, K_WAIT_TIMEOUT, "an integer >= 1 (milliseconds)");
    if (get_enum(c, K_SLOT_IO) < 0 || get_enum(c, K_SLOT_IO) >= enum_slot_io.count)
        return bad(err, w, c, K_SLOT_IO, "one of %s", enum_slot_io.choices);

    /* weights (before the size checks: the strings must be terminated to be printed) */
    if (strnlen(c->weights.file, sizeof c->weights.file) == sizeof c->weights.file)
        return key_error(err, w, K_FILE, "<unterminated>", "a path of at most %zu bytes",
                         sizeof c->weights.file - 1);
    if (strnlen(c->weights.prefix, sizeof c->weights.prefix) == sizeof c->weights.prefix)
        return key_error(err, w, K_PREFIX, "<unterminated>", "a prefix of at most %zu bytes",
                         sizeof c->weights.prefix - 1);
    int layout = get_enum(c, K_LAYOUT);
    if (layout < 0 || layout >= enum_layout.count)
        return bad(err, w, c, K_LAYOUT, "one of %s", enum_layout.choices);
    bool has_file = c->weights.file[0] != '\0';
    if (has_file && layout == ZMOE_LAYOUT_SYNTHETIC)
        return bad(err, w, c, K_FILE,
                   "no file with synthetic weights (set [weights] layout to the checkpoint's "
                   "layout: llama4|mixtral|qwen_moe|deepseek|gpt_oss)");
    if (!has_file && layout != ZMOE_LAYOUT_SYNTHETIC)
        return bad(err, w, c, K_LAYOUT, "synthetic when no [weights] file is given");
    if (c->weights.prefix[0] != '\0') {
        if (!has_file)
            return bad(err, w, c, K_PREFIX, "no prefix with synthetic weights (no file)");
        for (const char *p = c->weights.prefix; *p; p++)
            if (!prefix_char_ok(*p))
                return bad(err, w, c, K_PREFIX,
                           "a tensor-name prefix of letters, digits and . _ - /");
        /* "model.layers.3." names one layer: the loader appends every layer's number. */
        const char *pr = c->weights.prefix;
        size_t pl = strlen(pr), e = pl;
        if (e && pr[e - 1] == '.')
            e--;
        size_t b = e;
        while (b > 0 && is_digit(pr[b - 1]))
            b--;
        if (b < e && (b == 0 || pr[b - 1] == '.'))
            return bad(err, w, c, K_PREFIX,
                       "the prefix without a layer number (here '%.*s'): the loader appends "
                       "each layer's number itself, so leave out '%.*s'",
                       (int)(b > 64 ? 64 : b), pr, (int)(pl - b), pr + b);
    }
    if (layout == ZMOE_LAYOUT_GPT_OSS && !c->experts.gate_up_interleaved)
        return bad(err, w, c, K_GATE_UP,
                   "interleaved with layout gpt_oss (GPT-OSS checkpoints always store "
                   "gate_up_proj with gate and up in alternating columns; leave gate_up out)");
    if (c->experts.gate_up_interleaved && !has_file)
        return bad(err, w, c, K_GATE_UP,
                   "concatenated with synthetic weights (they are generated in kernel layout; "
                   "interleaved describes a checkpoint file)");

    /* parallel: participants are devices of one process or MPI ranks (one device each) */
    const uint32_t pd = c->parallel.devices, pr_ = c->parallel.ranks;
    if (pd > ZMOE_PARALLEL_MAX)
        return bad(err, w, c, K_P_DEVICES, "0..%u devices", ZMOE_PARALLEL_MAX);
    if (pr_ > ZMOE_PARALLEL_MAX)
        return bad(err, w, c, K_P_RANKS, "0..%u ranks", ZMOE_PARALLEL_MAX);
    if (pd > 1 && pr_ > 1)
        return bad(err, w, c, K_P_RANKS, "ranks <= 1 with devices = %u: one of them (one device "
                                         "per rank with MPI)", pd);
    const uint32_t parts = pd > pr_ ? pd : (pr_ ? pr_ : 1);
    const enum key_id pk = pd > 1 ? K_P_DEVICES : K_P_RANKS;
    if (!c->parallel.expert_map_set && E % parts)
        return bad(err, w, c, pk, "a count dividing model.experts (%u devices/ranks do not "
                                  "divide %u experts: the implicit map gives each the same "
                                  "number; set parallel.expert_map)", parts, E);
    if (c->parallel.expert_map_set) {
        uint32_t owned[ZMOE_PARALLEL_MAX] = {0};
        if (E > ZMOE_PARALLEL_EXPERTS_MAX)
            return bad(err, w, c, K_P_MAP, "at most %u experts to map (model has %u)",
                       ZMOE_PARALLEL_EXPERTS_MAX, E);
        for (uint32_t e = 0; e < E; e++) {
            const uint32_t o = c->parallel.expert_map[e];
            if (o == MAP_UNSET)
                return bad(err, w, c, K_P_MAP, "every expert in one list: expert %u is in none", e);
            if (o >= parts)
                return bad(err, w, c, K_P_MAP, "lists for participants 0..%u: expert %u -> "
                                               "participant %u", parts - 1, e, o);
            owned[o]++;
        }
        for (uint32_t r = 0; r < parts; r++)
            if (!owned[r])
                return bad(err, w, c, K_P_MAP, "one list per participant: participant %u owns "
                                               "no expert", r);
    }

    /* sizes: every tensor and the sum over layers must fit in 64 bits (weights.h's
     * element counts rely on this), and so must the largest activation buffer. */
    uint64_t layer_bytes, total, t;
    enum key_id which;
    if (!layer_weight_bytes(c, &layer_bytes, &which))
        return bad(err, w, c, which,
                   "a geometry whose weights fit in 64 bits (experts * 2 * intermediate * "
                   "hidden * bytes overflows)");
    if (!mul_u64(layer_bytes, c->model.layers, &total))
        return bad(err, w, c, K_LAYERS,
                   "a layer count whose weights fit in 64 bits (%llu bytes per layer)",
                   (unsigned long long)layer_bytes);
    uint64_t widest = c->model.hidden;
    if (2 * (uint64_t)c->model.intermediate > widest)
        widest = 2 * (uint64_t)c->model.intermediate;
    if (c->model.experts > widest)
        widest = c->model.experts;
    if (!mul3(c->runtime.max_tokens, K, widest, &t) || !mul_u64(t, 4, &t))
        return bad(err, w, c, K_MAX_TOKENS,
                   "a token count whose activations fit in 64 bits (max_tokens * top_k * "
                   "%llu * 4 bytes overflows)",
                   (unsigned long long)widest);

    /* budget: the device arena holds every layer's weights, so a budget below them can
     * never be met (the arena's plan check adds the activations on top). */
    /* (with several participants each device holds a share: its own plan is checked
     * against the budget when it is created) */
    if (c->budget.device_bytes != 0 && c->budget.device_bytes < total && parts == 1)
        return bad(err, w, c, K_DEVICE_BYTES,
                   "0 (unlimited) or at least the weights' %llu bytes (%.2f GiB)",
                   (unsigned long long)total, (double)total / (1024.0 * 1024.0 * 1024.0));
    return ZMOE_OK;
}

enum zmoe_status zmoe_config_validate(const struct zmoe_config *cfg, struct zmoe_error *err)
{
    if (!cfg) {
        set_msg(err, "zmoe_config_validate: config is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    struct where w = {NULL, NULL};
    return validate(cfg, &w, err);
}

/* ------------------------------------------------------------------ value parsing */

/* Numbers are parsed and printed in the "C" locale whatever the application set, so
 * "1.702" means the same everywhere and printed files parse back. */
struct c_locale {
    locale_t c, old;
};
static void c_locale_enter(struct c_locale *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    l->old = l->c ? uselocale(l->c) : (locale_t)0;
}
static void c_locale_leave(struct c_locale *l)
{
    if (l->c) {
        uselocale(l->old);
        freelocale(l->c);
    }
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Plain decimal digits only: no sign, no hex or octal prefixes, no blanks. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!is_digit(*s))
            return false;
        if (!mul_u64(v, 10, &v) || !add_u64(v, (uint64_t)(*s - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

bool zmoe_config_parse_size(const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"K", 10}, {"KiB", 10}, {"M", 20}, {"MiB", 20},
                 {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40}};
    char digits[32];
    size_t n = 0;
    if (!text)
        return false;
    while (is_digit(text[n]))
        n++;
    if (n == 0 || n >= sizeof digits)
        return false;
    memcpy(digits, text, n);
    digits[n] = '\0';
    uint64_t v;
    if (!parse_u64(digits, &v))
        return false;
    const char *rest = text + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest == '\0') {
        if (rest != text + n)
            return false; /* trailing blanks without a unit: not canonical, reject */
        *out = v;
        return true;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].suffix) == 0) {
            if (v > (UINT64_MAX >> units[i].shift))
                return false;
            *out = v << units[i].shift;
            return true;
        }
    }
    return false;
}

/* [+-] digits [. digits] [e [+-] digits], or [+-] . digits [...]: what a person writes.
 * Rejects nan, inf, hex floats and anything strtod would accept beyond that. */
static bool float_syntax_ok(const char *s)
{
    size_t before = 0, after = 0;
    if (*s == '+' || *s == '-')
        s++;
    while (is_digit(*s)) {
        s++;
        before++;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            s++;
            after++;
        }
    }
    if (before + after == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

static bool parse_f32(const char *s, float *out)
{
    if (!float_syntax_ok(s) || strlen(s) > 64)
        return false;
    char *end; /* the caller (run_parse) has switched to the "C" locale */
    double d = strtod(s, &end);
    bool ok = *end == '\0';
    /* Values beyond float's range would become inf: reject rather than saturate. */
    if (!ok || !isfinite(d) || fabs(d) > (double)FLT_MAX)
        return false;
    *out = (float)d;
    return true;
}

/* ------------------------------------------------------------------ the line reader */

struct source {
    const unsigned char *text; /* memory source, or */
    size_t len, pos;
    FILE *file; /* file source */
};

static int src_get(struct source *s)
{
    if (s->file)
        return getc(s->file);
    return s->pos < s->len ? s->text[s->pos++] : EOF;
}
static int src_peek(struct source *s)
{
    if (s->file) {
        int ch = getc(s->file);
        if (ch != EOF)
            ungetc(ch, s->file);
        return ch;
    }
    return s->pos < s->len ? s->text[s->pos] : EOF;
}

struct parse {
    struct source src;
    const char *name;
    struct zmoe_config cfg;
    uint32_t lines[K_COUNT];       /* line each key was set on, 0 = default */
    uint32_t section_line[SECTION_COUNT];
    int section;                   /* current section index, -1 before the first */
    uint32_t lineno;
    bool failed, eof, io_error;
    int io_errno;
    struct zmoe_error *err;
    /* weights.model_dir: set in the file (model_dir_line) or by the caller (preset). */
    char model_dir[ZMOE_PATH_MAX];
    uint32_t model_dir_line;
    bool model_dir_preset;
    char raw[ZMOE_CONFIG_RAW_LINE_MAX];
};

static int parse_fail(struct parse *p, const char *fmt, ...)
{
    if (!p->failed && p->err) {
        char *msg = p->err->msg;
        int n = snprintf(msg, sizeof p->err->msg, "%s:%lu: ", p->name, (unsigned long)p->lineno);
        if (n >= 0 && (size_t)n < sizeof p->err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg + n, sizeof p->err->msg - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    p->failed = true;
    return 0;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || is_digit(s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* Reads one physical line into p->raw, checking that every byte is UTF-8 text.
 * Returns the line length (capped: *overflow is set when the line did not fit), or -1
 * at end of input / on error (p->failed). */
static long read_raw_line(struct parse *p, bool *overflow)
{
    size_t n = 0;
    unsigned need = 0;           /* continuation bytes still expected */
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the next continuation byte */
    unsigned long column = 0;
    int ch = src_get(&p->src);
    *overflow = false;
    if (ch == EOF) {
        if (p->src.file && ferror(p->src.file)) {
            p->io_error = true;
            p->io_errno = errno;
        }
        return -1;
    }
    p->lineno++;
    for (; ch != EOF && ch != '\n'; ch = src_get(&p->src)) {
        unsigned char b = (unsigned char)ch;
        column++;
        if (b == '\r' && need == 0) {
            int next = src_peek(&p->src);
            if (next == '\n' || next == EOF)
                continue; /* CRLF line ending */
        }
        if (need) {
            if (b < lo || b > hi)
                return parse_fail(p, "invalid UTF-8 byte 0x%02x at column %lu (config files "
                                     "are UTF-8 text; binary data?)", b, column), -1;
            need--;
            lo = 0x80;
            hi = 0xbf;
        } else if (b < 0x80) {
            if ((b < 0x20 && b != '\t') || b == 0x7f)
                return parse_fail(p, "control byte 0x%02x at column %lu (config files are "
                                     "UTF-8 text; binary data?)", b, column), -1;
        } else if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            lo = b == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
            hi = b == 0xed ? 0x9f : 0xbf; /* no UTF-16 surrogates */
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            lo = b == 0xf0 ? 0x90 : 0x80;
            hi = b == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
        } else {
            return parse_fail(p, "invalid UTF-8 byte 0x%02x at column %lu (config files are "
                                 "UTF-8 text; binary data?)", b, column), -1;
        }
        if (n + 1 < sizeof p->raw)
            p->raw[n++] = (char)b;
        else
            *overflow = true;
    }
    if (need)
        return parse_fail(p, "truncated UTF-8 sequence at the end of the line (config files "
                             "are UTF-8 text)"), -1;
    if (ch == EOF && p->src.file && ferror(p->src.file)) {
        p->io_error = true;
        p->io_errno = errno;
        return -1;
    }
    p->raw[n] = '\0';
    return (long)n;
}

static int section_index(const char *name, size_t n)
{
    for (int i = 0; i < SECTION_COUNT; i++)
        if (strlen(sections[i]) == n && memcmp(sections[i], name, n) == 0)
            return i;
    return -1;
}

/* Where an inline comment starts: ';' or '#' at the start or after a blank. */
static char *inline_comment(char *s)
{
    for (char *q = s; *q; q++)
        if ((*q == ';' || *q == '#') && (q == s || is_blank(q[-1])))
            return q;
    return NULL;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n && is_blank(s[n - 1]))
        s[--n] = '\0';
}

/* inih's reader callback: returns the next line in canonical form (see the top of the
 * file), "\n" for blank and comment lines so inih's line count stays ours. */
static char *reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    bool overflow;
    if (p->failed || p->eof)
        return NULL;
    if (num < 8) /* only if the application shrank inih's ini_max_line */
        return parse_fail(p, "inih line buffer too small (%d bytes)", num), NULL;
    long n = read_raw_line(p, &overflow);
    if (n < 0) {
        p->eof = true;
        return NULL;
    }
    char *line = p->raw;
    if (p->lineno == 1 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3; /* UTF-8 byte order mark */
    while (is_blank(*line))
        line++;
    if (*line == '\0' || *line == ';' || *line == '#') {
        strcpy(str, "\n");
        return str;
    }
    if (overflow)
        return parse_fail(p, "line too long (more than %u bytes)", ZMOE_CONFIG_RAW_LINE_MAX - 1),
               NULL;

    /* Everything longer than this after canonicalization would be split by inih. */
    const size_t limit = (size_t)num - 2;
    if (*line == '[') {
        char *close = strchr(line, ']');
        if (!close)
            return parse_fail(p, "syntax error: expected ']' to close the section header"), NULL;
        char *rest = close + 1;
        while (is_blank(*rest))
            rest++;
        if (*rest && *rest != ';' && *rest != '#')
            return parse_fail(p, "syntax error: unexpected text after the section header"),
                   NULL;
        char *name = line + 1;
        while (is_blank(*name))
            name++;
        char *end = close;
        while (end > name && is_blank(end[-1]))
            end--;
        size_t len = (size_t)(end - name);
        char q[128];
        *end = '\0';
        quote(q, sizeof q, name);
        int idx = name_ok(name, len) ? section_index(name, len) : -1;
        if (idx < 0)
            return parse_fail(p, "section [%s]: expected one of " SECTIONS_LIST ", found '%s'",
                              q, q), NULL;
        if (p->section_line[idx])
            return parse_fail(p, "section [%s]: expected once per file (first at line %lu), "
                                 "found again", q, (unsigned long)p->section_line[idx]), NULL;
        p->section_line[idx] = p->lineno;
        p->section = idx;
        snprintf(str, (size_t)num, "[%s]\n", sections[idx]);
        return str;
    }

    char *eq = strchr(line, '=');
    if (!eq) {
        char q[128];
        quote(q, sizeof q, line);
        return parse_fail(p, "syntax error: expected '[section]' or 'key = value', found '%s'",
                          q), NULL;
    }
    char *key_end = eq;
    while (key_end > line && is_blank(key_end[-1]))
        key_end--;
    size_t key_len = (size_t)(key_end - line);
    if (!name_ok(line, key_len)) {
        char q[128];
        *key_end = '\0';
        quote(q, sizeof q, line);
        return parse_fail(p, "syntax error: expected a key name of 1 to %d characters "
                             "[a-z0-9_] before '=', found '%s'", NAME_MAX_LEN, q), NULL;
    }
    if (p->section < 0) {
        char q[128];
        *key_end = '\0';
        quote(q, sizeof q, line);
        return parse_fail(p, "key '%s': expected a [section] header before the first key", q),
               NULL;
    }
    char *value = eq + 1;
    while (is_blank(*value))
        value++;
    char *comment = inline_comment(value);
    if (comment)
        *comment = '\0';
    rtrim(value);
    size_t out_len = key_len + 1 + strlen(value);
    if (out_len > limit)
        return parse_fail(p, "line too long: a key = value line may hold at most %zu "
                             "characters without blanks and comments, found %zu",
                          limit, out_len), NULL;
    memcpy(str, line, key_len);
    str[key_len] = '=';
    memcpy(str + key_len + 1, value, strlen(value));
    str[out_len] = '\n';
    str[out_len + 1] = '\0';
    return str;
}

static int find_key(const char *section, const char *name)
{
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
            return k;
    return -1;
}

static void section_keys(const char *section, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(keys[k].section, section) != 0)
            continue;
        int r = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", keys[k].name);
        if (r < 0 || (size_t)r >= size - n)
            break;
        n += (size_t)r;
    }
}

/* [weights] model_dir: the model comes from a Hugging Face directory's config.json.
 * Not a struct field: finish() imports the directory into the struct. */
#define MODEL_DIR_MAX 160 /* + "/model.safetensors.index.json" stays within weights.file */
static int model_dir_key(struct parse *p, const char *value)
{
    char q[128];
    quote(q, sizeof q, value);
    if (p->model_dir_preset)
        return parse_fail(p, "key 'weights.model_dir': given on the command line (--model %s) "
                             "too; leave one out, found '%s'", p->model_dir, q);
    if (p->model_dir_line)
        return parse_fail(p, "key 'weights.model_dir': expected one value per key (first set "
                             "at line %lu), found '%s'", (unsigned long)p->model_dir_line, q);
    size_t n = strlen(value);
    if (n == 0 || n > MODEL_DIR_MAX)
        return parse_fail(p, "key 'weights.model_dir': expected a Hugging Face model "
                             "directory's path of 1 to %d bytes, found '%s'", MODEL_DIR_MAX, q);
    memcpy(p->model_dir, value, n + 1);
    p->model_dir_line = p->lineno;
    return 1;
}

/* parallel.expert_map = "0-3,8 | 4-7,9": list r (separated by '|') holds participant r's
 * experts, single numbers or inclusive ranges a-b, comma-separated. An expert listed
 * twice is refused here; one listed nowhere, or past model.experts, in finish(). */
static bool parse_map(struct parse *p, const struct where *w, const char *value)
{
    uint8_t *map = p->cfg.parallel.expert_map;
    memset(map, MAP_UNSET, ZMOE_PARALLEL_EXPERTS_MAX);
    uint32_t part = 0;
    const char *s = value;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!is_digit(*s)) {
            key_error(p->err, w, K_P_MAP, value, "lists of experts per participant, e.g. "
                                                 "'0-3,8 | 4-7,9' (numbers or ranges a-b, "
                                                 "comma-separated, lists separated by '|')");
            return false;
        }
        uint32_t a = 0, b;
        while (is_digit(*s) && a < 100000)
            a = a * 10 + (uint32_t)(*s++ - '0');
        b = a;
        if (*s == '-') {
            s++;
            if (!is_digit(*s)) {
                key_error(p->err, w, K_P_MAP, value, "a range a-b with both ends");
                return false;
            }
            b = 0;
            while (is_digit(*s) && b < 100000)
                b = b * 10 + (uint32_t)(*s++ - '0');
        }
        if (b < a || b >= ZMOE_PARALLEL_EXPERTS_MAX) {
            key_error(p->err, w, K_P_MAP, value, "experts 0..%u in ascending ranges (found %u-%u)",
                      ZMOE_PARALLEL_EXPERTS_MAX - 1, a, b);
            return false;
        }
        for (uint32_t e = a; e <= b; e++) {
            if (map[e] != MAP_UNSET) {
                key_error(p->err, w, K_P_MAP, value, "each expert in one list: expert %u is "
                                                     "listed for participant %u and again for %u",
                          e, map[e], part);
                return false;
            }
            map[e] = (uint8_t)part;
        }
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == ',') {
            s++;
        } else if (*s == '|') {
            s++;
            if (++part >= ZMOE_PARALLEL_MAX) {
                key_error(p->err, w, K_P_MAP, value, "at most %u lists (participants)", ZMOE_PARALLEL_MAX);
                return false;
            }
        } else if (*s == '\0') {
            break;
        } else {
            key_error(p->err, w, K_P_MAP, value, "',' or '|' between experts, found '%c'", *s);
            return false;
        }
    }
    p->cfg.parallel.expert_map_set = true;
    return true;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    char q[128];
    if (p->failed)
        return 0;
    if (!strcmp(section, "weights") && !strcmp(name, "model_dir"))
        return model_dir_key(p, value);
    int k = find_key(section, name);
    if (k < 0) {
        char list[512];
        section_keys(section, list, sizeof list);
        if (!strcmp(section, "weights"))
            strncat(list, ", model_dir", sizeof list - strlen(list) - 1);
        quote(q, sizeof q, name);
        return parse_fail(p, "key '%s.%s': expected one of the [%s] keys (%s), found '%s'",
                          section, q, section, list, q);
    }
    struct where w = {p->name, NULL};
    uint32_t here[K_COUNT] = {0};
    here[k] = p->lineno;
    w.lines = here;
    if (p->lines[k]) {
        key_error(p->err, &w, (enum key_id)k, value, "one value per key (first set at line %lu)",
                  (unsigned long)p->lines[k]);
        p->failed = true;
        return 0;
    }
    const struct key_desc *d = &keys[k];
    bool ok = true;
    switch (d->kind) {
    case KIND_U32: {
        uint64_t v;
        ok = parse_u64(value, &v) && v <= UINT32_MAX;
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value,
                      "a decimal integer in [0, 4294967295]");
            break;
        }
        uint32_t v32 = (uint32_t)v;
        set_field(&p->cfg, (enum key_id)k, &v32, sizeof v32);
        break;
    }
    case KIND_U64: {
        uint64_t v;
        ok = parse_u64(value, &v);
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value,
                      "a decimal integer in [0, 18446744073709551615]");
            break;
        }
        set_field(&p->cfg, (enum key_id)k, &v, sizeof v);
        break;
    }
    case KIND_SIZE: {
        uint64_t v;
        ok = zmoe_config_parse_size(value, &v);
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value,
                      "a byte count: an integer with an optional K, M, G or T suffix "
                      "(1K = 1024) that fits in 64 bits, 0 = unlimited");
            break;
        }
        set_field(&p->cfg, (enum key_id)k, &v, sizeof v);
        break;
    }
    case KIND_F32: {
        float v;
        ok = parse_f32(value, &v);
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value,
                      "a finite decimal number within float range (no nan or inf)");
            break;
        }
        set_field(&p->cfg, (enum key_id)k, &v, sizeof v);
        break;
    }
    case KIND_BOOL: {
        bool v = strcmp(value, "true") == 0;
        ok = v || strcmp(value, "false") == 0;
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value, "true or false");
            break;
        }
        set_field(&p->cfg, (enum key_id)k, &v, sizeof v);
        break;
    }
    case KIND_ENUM:
    case KIND_GATE_UP: {
        int v = -1;
        for (int i = 0; i < d->e->count; i++)
            if (strcmp(value, d->e->names[i]) == 0)
                v = i;
        ok = v >= 0;
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value, "one of %s", d->e->choices);
            break;
        }
        if (d->kind == KIND_GATE_UP) {
            bool b = v == 1;
            set_field(&p->cfg, (enum key_id)k, &b, sizeof b);
        } else {
            set_field(&p->cfg, (enum key_id)k, &v, sizeof v);
        }
        break;
    }
    case KIND_MAP:
        ok = parse_map(p, &w, value);
        break;
    case KIND_STR: {
        size_t len = strlen(value);
        ok = len < d->size;
        if (!ok) {
            key_error(p->err, &w, (enum key_id)k, value, "at most %zu bytes", d->size - 1);
            break;
        }
        char *dst = (char *)&p->cfg + d->offset;
        memset(dst, 0, d->size);
        memcpy(dst, value, len);
        break;
    }
    }
    if (!ok) {
        p->failed = true;
        return 0;
    }
    p->lines[k] = p->lineno;
    return 1;
}

/* Rules that depend on whether a key was written at all (the struct cannot tell), and
 * the defaults that depend on other keys. */
static size_t key_size(enum key_id k)
{
    switch (keys[k].kind) {
    case KIND_U32: return sizeof(uint32_t);
    case KIND_U64:
    case KIND_SIZE: return sizeof(uint64_t);
    case KIND_F32: return sizeof(float);
    case KIND_BOOL:
    case KIND_GATE_UP: return sizeof(bool);
    case KIND_ENUM: return sizeof(int);
    case KIND_STR: return keys[k].size;
    case KIND_MAP: return sizeof ((struct zmoe_config *)0)->parallel.expert_map;
    }
    return 0;
}

/* A file with weights.model_dir: the model, router, experts and checkpoint come from
 * the directory's config.json; the file may set [dtype], [runtime], [budget] and
 * weights.prefix over them. */
static enum zmoe_status finish_model_dir(struct parse *p)
{
    struct where w = {p->name, p->lines};
    char at[64] = "";
    if (p->model_dir_line)
        snprintf(at, sizeof at, ":%lu", (unsigned long)p->model_dir_line);
    for (int k = 0; k < K_COUNT; k++) {
        bool model_key = !strcmp(keys[k].section, "model") || !strcmp(keys[k].section, "router") ||
                         !strcmp(keys[k].section, "experts") || k == K_FILE || k == K_LAYOUT ||
                         k == K_SEED;
        if (model_key && p->lines[k]) {
            set_msg(p->err, "%s:%lu: key '%s': not allowed with weights.model_dir (%s%s): the "
                            "model directory's config.json gives it; leave it out (only [dtype], "
                            "[runtime], [budget] and weights.prefix may be set)",
                    p->name, (unsigned long)p->lines[k], keys[k].full,
                    p->model_dir_line ? "line " : "--model ",
                    p->model_dir_line ? at + 1 : p->model_dir);
            return ZMOE_ERR_CONFIG;
        }
    }
    struct zmoe_hf_import *imp = malloc(sizeof *imp);
    if (!imp) {
        set_msg(p->err, "%s: out of memory importing %s", p->name, p->model_dir);
        return ZMOE_ERR_NO_MEMORY;
    }
    struct zmoe_error ierr = {{0}};
    enum zmoe_status st = zmoe_config_import_hf(p->model_dir, imp, &ierr);
    if (st != ZMOE_OK) {
        set_msg(p->err, "%s%s: key 'weights.model_dir': %s", p->name,
                p->model_dir_line ? at : "", ierr.msg);
        free(imp);
        return st == ZMOE_ERR_NO_MEMORY ? st : ZMOE_ERR_CONFIG;
    }
    struct zmoe_config merged = imp->cfg;
    free(imp);
    for (int k = 0; k < K_COUNT; k++)
        if (p->lines[k])
            memcpy((char *)&merged + keys[k].offset, (const char *)&p->cfg + keys[k].offset,
                   key_size((enum key_id)k));
    st = validate(&merged, &w, p->err);
    if (st == ZMOE_OK)
        p->cfg = merged;
    return st;
}

static enum zmoe_status finish(struct parse *p)
{
    struct where w = {p->name, p->lines};
    struct zmoe_config *c = &p->cfg;
    if (p->model_dir_line || p->model_dir_preset)
        return finish_model_dir(p);
    for (int k = 0; k < K_COUNT; k++) {
        if (keys[k].required && !p->lines[k]) {
            set_msg(p->err, "%s: [%s] missing required key '%s'", p->name, keys[k].section,
                    keys[k].name);
            return ZMOE_ERR_CONFIG;
        }
    }
    if (c->model.shared_experts > 0 && !p->lines[K_SHARED_INTERMEDIATE]) {
        set_msg(p->err, "%s: [model] missing required key 'shared_intermediate' (needed with "
                        "shared_experts = %lu)", p->name, (unsigned long)c->model.shared_experts);
        return ZMOE_ERR_CONFIG;
    }
    bool oai = c->experts.activation == ZMOE_ACT_SWIGLU_OAI;
    for (enum key_id k = K_SWIGLU_ALPHA; k <= K_SWIGLU_LIMIT; k++) {
        if (oai && !p->lines[k]) {
            set_msg(p->err, "%s: [experts] missing required key '%s' (needed with activation "
                            "= swiglu_oai)", p->name, keys[k].name);
            return ZMOE_ERR_CONFIG;
        }
        if (!oai && p->lines[k])
            return bad(p->err, &w, c, k, "no %s unless activation = swiglu_oai (activation "
                                         "is %s)", keys[k].name,
                       zmoe_config_activation_name(c->experts.activation));
    }
    if (p->lines[K_TOPK_GROUP] && c->router.groups <= 1)
        return bad(p->err, &w, c, K_TOPK_GROUP,
                   "no topk_group unless groups > 1 (grouped top-k is off)");
    if (!p->lines[K_TOPK_GROUP])
        c->router.topk_group = c->router.groups;
    bool has_file = c->weights.file[0] != '\0';
    if (has_file && !p->lines[K_LAYOUT])
        return bad(p->err, &w, c, K_FILE, "a [weights] layout for the checkpoint file "
                                          "(llama4|mixtral|qwen_moe|deepseek|gpt_oss)");
    if (has_file && p->lines[K_SEED])
        return bad(p->err, &w, c, K_SEED, "no seed with a checkpoint file (the seed drives "
                                          "synthetic weights only)");
    if (!p->lines[K_GATE_UP])
        c->experts.gate_up_interleaved = c->weights.layout == ZMOE_LAYOUT_GPT_OSS;
    if (c->parallel.expert_map_set) {
        for (uint32_t e = c->model.experts; e < ZMOE_PARALLEL_EXPERTS_MAX; e++) {
            if (c->parallel.expert_map[e] != MAP_UNSET)
                return bad(p->err, &w, c, K_P_MAP, "experts below model.experts = %u (expert %u "
                                                   "is listed)", c->model.experts, e);
            c->parallel.expert_map[e] = 0; /* as a compiled-in config has it */
        }
    }
    if (c->quant.format == ZMOE_QUANT_NONE) {
        for (int k = K_Q_PACKING; k <= K_Q_SHARED; k++)
            if (p->lines[k])
                return bad(p->err, &w, c, (enum key_id)k,
                           "no %s unless quant.format is set (float experts)", keys[k].name);
    } else {
        /* The format's usual group and scale dtype (config/README.md). */
        const bool fp8 = c->quant.format == ZMOE_QUANT_FP8;
        const bool mx = c->quant.format == ZMOE_QUANT_MXFP4;
        if (!p->lines[K_Q_GROUP])
            c->quant.group_size = mx ? 32 : 128;
        if (!p->lines[K_Q_SCALE])
            c->quant.scale_dtype = mx ? ZMOE_SCALE_E8M0 : fp8 ? ZMOE_SCALE_F32 : ZMOE_SCALE_F16;
    }
    return validate(c, &w, p->err);
}

static enum zmoe_status run_parse_locked(struct parse *p, struct zmoe_config *out);

static enum zmoe_status run_parse(struct parse *p, struct zmoe_config *out)
{
    struct c_locale loc;
    c_locale_enter(&loc);
    enum zmoe_status st = run_parse_locked(p, out);
    c_locale_leave(&loc);
    return st;
}

static enum zmoe_status run_parse_locked(struct parse *p, struct zmoe_config *out)
{
    int rc = ini_parse_stream(reader, p, handler, p);
    if (p->io_error) {
        set_msg(p->err, "%s:%lu: read error: %s", p->name, (unsigned long)p->lineno,
                strerror(p->io_errno));
        return ZMOE_ERR_IO;
    }
    if (p->failed)
        return ZMOE_ERR_CONFIG;
    if (rc == -2) {
        set_msg(p->err, "%s: out of memory in the INI parser", p->name);
        return ZMOE_ERR_NO_MEMORY;
    }
    if (rc != 0) {
        /* The reader hands inih only well-formed lines; keep a message anyway. */
        set_msg(p->err, "%s:%d: syntax error", p->name, rc);
        return ZMOE_ERR_CONFIG;
    }
    enum zmoe_status st = finish(p);
    if (st == ZMOE_OK)
        *out = p->cfg;
    return st;
}

static void parse_init(struct parse *p, const char *name, struct zmoe_error *err)
{
    memset(p, 0, offsetof(struct parse, raw));
    p->name = name;
    p->err = err;
    p->section = -1;
    zmoe_config_defaults(&p->cfg);
}

enum zmoe_status zmoe_config_parse(const char *text, size_t len, const char *name,
                                   struct zmoe_config *out, struct zmoe_error *err)
{
    if (!name)
        name = "<config>";
    if ((!text && len) || !out) {
        set_msg(err, "%s: zmoe_config_parse: %s is NULL", name, out ? "text" : "out");
        return ZMOE_ERR_ARGUMENT;
    }
    struct parse p;
    parse_init(&p, name, err);
    p.src.text = (const unsigned char *)text;
    p.src.len = len;
    return run_parse(&p, out);
}

enum zmoe_status zmoe_config_load_model_dir(const char *path, const char *model_dir,
                                            struct zmoe_config *out, struct zmoe_error *err)
{
    if (!model_dir || !out) {
        set_msg(err, "zmoe_config_load_model_dir: %s is NULL", out ? "model_dir" : "out");
        return ZMOE_ERR_ARGUMENT;
    }
    const char *name = path ? path : "--model";
    size_t n = strlen(model_dir);
    if (n == 0 || n > MODEL_DIR_MAX) {
        set_msg(err, "%s: --model: expected a Hugging Face model directory's path of 1 to %d "
                     "bytes", name, MODEL_DIR_MAX);
        return ZMOE_ERR_CONFIG;
    }
    FILE *f = NULL;
    if (path && !(f = fopen(path, "rb"))) {
        set_msg(err, "%s: cannot open: %s", path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    struct parse p;
    parse_init(&p, name, err);
    memcpy(p.model_dir, model_dir, n + 1);
    p.model_dir_preset = true;
    if (f)
        p.src.file = f;
    enum zmoe_status st = run_parse(&p, out);
    if (f)
        fclose(f);
    return st;
}

enum zmoe_status zmoe_config_load(const char *path, struct zmoe_config *out,
                                  struct zmoe_error *err)
{
    if (!path || !out) {
        set_msg(err, "zmoe_config_load: %s is NULL", path ? "out" : "path");
        return ZMOE_ERR_ARGUMENT;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_msg(err, "%s: cannot open: %s", path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    struct parse p;
    parse_init(&p, path, err);
    p.src.file = f;
    enum zmoe_status st = run_parse(&p, out);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------ comparison */

const char *zmoe_config_diff(const struct zmoe_config *a, const struct zmoe_config *b)
{
    for (int k = 0; k < K_COUNT; k++) {
        const char *pa = (const char *)a + keys[k].offset;
        const char *pb = (const char *)b + keys[k].offset;
        if (k == K_Q_SHARED && a->quant.format == ZMOE_QUANT_NONE &&
            b->quant.format == ZMOE_QUANT_NONE)
            continue; /* no meaning for float experts (validate accepts either value) */
        bool same;
        switch (keys[k].kind) {
        case KIND_U32:
        case KIND_F32: /* bitwise: distinguishes -0.0 and NaN payloads too */
        case KIND_ENUM: same = memcmp(pa, pb, 4) == 0; break;
        case KIND_U64:
        case KIND_SIZE: same = memcmp(pa, pb, 8) == 0; break;
        case KIND_BOOL:
        case KIND_GATE_UP: same = get_bool(a, (enum key_id)k) == get_bool(b, (enum key_id)k); break;
        case KIND_STR: same = strncmp(pa, pb, keys[k].size) == 0; break;
        case KIND_MAP: {
            /* the entries of existing experts (past E nothing is read) */
            uint32_t E = a->model.experts < ZMOE_PARALLEL_EXPERTS_MAX ? a->model.experts
                                                                       : ZMOE_PARALLEL_EXPERTS_MAX;
            same = a->parallel.expert_map_set == b->parallel.expert_map_set &&
                   (!a->parallel.expert_map_set || memcmp(pa, pb, E) == 0);
            break;
        }
        default: same = false; break;
        }
        if (!same)
            return keys[k].full;
    }
    return NULL;
}

/* ------------------------------------------------------------------ writers */

/* Whether key k is written for cfg: exactly the keys the parser accepts for it. */
static bool key_meaningful(const struct zmoe_config *c, enum key_id k)
{
    bool has_file = c->weights.file[0] != '\0';
    switch (k) {
    case K_SHARED_INTERMEDIATE: return c->model.shared_experts > 0;
    case K_TOPK_GROUP: return c->router.groups > 1;
    case K_SWIGLU_ALPHA:
    case K_SWIGLU_LIMIT: return c->experts.activation == ZMOE_ACT_SWIGLU_OAI;
    case K_GATE_UP:
    case K_FILE:
    case K_LAYOUT: return has_file;
    case K_PREFIX: return has_file && c->weights.prefix[0] != '\0';
    case K_SEED: return !has_file;
    case K_P_DEVICES: return c->parallel.devices > 1;
    case K_P_RANKS: return c->parallel.ranks > 1;
    case K_P_MAP: return c->parallel.expert_map_set;
    case K_Q_FORMAT:
    case K_Q_PACKING:
    case K_Q_GROUP:
    case K_Q_ZEROS:
    case K_Q_ACT_ORDER:
    case K_Q_SCALE:
    case K_Q_SHARED: return c->quant.format != ZMOE_QUANT_NONE;
    default: return true;
    }
}

static void format_size(uint64_t v, char *buf, size_t size)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v != 0 && (v & 1023) == 0) {
        v >>= 10;
        u++;
    }
    if (u < 0)
        snprintf(buf, size, "%llu", (unsigned long long)v);
    else
        snprintf(buf, size, "%llu%c", (unsigned long long)v, units[u]);
}

enum zmoe_status zmoe_config_print(const struct zmoe_config *cfg, FILE *out,
                                   struct zmoe_error *err)
{
    return zmoe_config_print_commented(cfg, out, NULL, NULL, NULL, err);
}

enum zmoe_status zmoe_config_print_commented(const struct zmoe_config *cfg, FILE *out,
                                             const char *header,
                                             const char *(*comment)(const char *key,
                                                                    void *ctx),
                                             void *ctx, struct zmoe_error *err)
{
    if (!cfg || !out) {
        set_msg(err, "zmoe_config_print: %s is NULL", cfg ? "out" : "cfg");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = zmoe_config_validate(cfg, err);
    if (st != ZMOE_OK)
        return st;
    struct c_locale loc;
    c_locale_enter(&loc);
    /* Header: every line a comment, whatever the caller's text holds. */
    for (const char *h = header; h && *h;) {
        const char *nl = strchr(h, '\n');
        size_t n = nl ? (size_t)(nl - h) : strlen(h);
        fprintf(out, "#%s%.*s\n", n ? " " : "", (int)n, h);
        h += n + (nl ? 1 : 0);
    }
    if (header && *header)
        fputc('\n', out);
    const char *section = NULL;
    for (int k = 0; k < K_COUNT; k++) {
        if (!section || strcmp(section, keys[k].section) != 0) {
            bool any = false;
            for (int j = k; j < K_COUNT && !strcmp(keys[j].section, keys[k].section); j++)
                any = any || key_meaningful(cfg, (enum key_id)j);
            /* [quant] is written only for quantized experts and [parallel] only for
             * several participants, so other configs print as they always did; every
             * other section is written even when empty. */
            if (any || (strcmp(keys[k].section, "quant") != 0 && strcmp(keys[k].section, "parallel") != 0))
                fprintf(out, "%s[%s]\n", section ? "\n" : "", keys[k].section);
            section = keys[k].section;
        }
        if (!key_meaningful(cfg, (enum key_id)k))
            continue;
        char v[4096]; /* an expert map of 512 scattered experts */
        switch (keys[k].kind) {
        case KIND_SIZE: format_size(get_u64(cfg, (enum key_id)k), v, sizeof v); break;
        case KIND_STR: snprintf(v, sizeof v, "%s", get_str(cfg, (enum key_id)k)); break;
        default: format_value(cfg, (enum key_id)k, v, sizeof v); break;
        }
        const char *c = comment ? comment(keys[k].full, ctx) : NULL;
        if (c && *c && keys[k].kind == KIND_STR) {
            /* A path may hold " #": the comment goes on its own line above. */
            fprintf(out, "# %s\n%s = %s\n", c, keys[k].name, v);
        } else if (c && *c) {
            int w = (int)(strlen(keys[k].name) + 3 + strlen(v));
            fprintf(out, "%s = %s%*s # %s\n", keys[k].name, v, w < 28 ? 28 - w : 0, "", c);
        } else {
            fprintf(out, "%s = %s\n", keys[k].name, v);
        }
    }
    c_locale_leave(&loc);
    if (ferror(out)) {
        set_msg(err, "zmoe_config_print: write error");
        return ZMOE_ERR_IO;
    }
    return ZMOE_OK;
}

static bool identifier_ok(const char *s)
{
    if (!s || !*s || is_digit(*s) || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || is_digit(*s) || *s == '_'))
            return false;
    return true;
}

/* A C string literal for any bytes: octal escapes (three digits, so a following digit
 * cannot extend them) for everything outside printable ASCII, and '?' escaped so no
 * trigraph can form. */
static void write_c_string(FILE *out, const char *s, size_t max)
{
    fputc('"', out);
    for (size_t i = 0; i < max && s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch == '?')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(out, "\\%03o", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

enum zmoe_status zmoe_config_write_header(const struct zmoe_config *cfg, const char *symbol,
                                          FILE *out, struct zmoe_error *err)
{
    if (!cfg || !out) {
        set_msg(err, "zmoe_config_write_header: %s is NULL", cfg ? "out" : "cfg");
        return ZMOE_ERR_ARGUMENT;
    }
    if (!identifier_ok(symbol)) {
        set_msg(err, "zmoe_config_write_header: symbol '%s' is not a C identifier of at most "
                     "64 characters", symbol ? symbol : "(null)");
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = zmoe_config_validate(cfg, err);
    if (st != ZMOE_OK)
        return st;

    char guard[80];
    size_t n = 0;
    for (const char *s = symbol; *s && n + 3 < sizeof guard; s++)
        guard[n++] = (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A') : *s;
    memcpy(guard + n, "_H", 3);

    struct c_locale loc;
    c_locale_enter(&loc);
    fprintf(out, "/* Generated by zmoe_config_write_header(): a compiled-in zmoe config. */\n"
                 "#ifndef %s\n#define %s\n\n#include <stdbool.h>\n\n#include \"zmoe.h\"\n\n"
                 "static const struct zmoe_config %s = {\n",
            guard, guard, symbol);
    const char *section = NULL;
    for (int k = 0; k < K_COUNT; k++) {
        const struct key_desc *d = &keys[k];
        if (!section || strcmp(section, d->section) != 0) {
            if (section)
                fprintf(out, "    },\n");
            section = d->section;
            fprintf(out, "    .%s = {\n", section);
        }
        fprintf(out, "        .%s = ", d->field);
        switch (d->kind) {
        case KIND_U32: fprintf(out, "%luu,\n", (unsigned long)get_u32(cfg, (enum key_id)k)); break;
        case KIND_U64:
        case KIND_SIZE:
            fprintf(out, "%lluull,\n", (unsigned long long)get_u64(cfg, (enum key_id)k));
            break;
        case KIND_F32: {
            /* Hex float: exact, so the compiled-in value is bit-identical. */
            float f = get_f32(cfg, (enum key_id)k);
            char dec[32];
            format_float(f, dec, sizeof dec);
            fprintf(out, "%af, /* %s */\n", (double)f, dec);
            break;
        }
        case KIND_BOOL:
        case KIND_GATE_UP:
            fprintf(out, "%s,\n", get_bool(cfg, (enum key_id)k) ? "true" : "false");
            break;
        case KIND_ENUM: fprintf(out, "%s,\n", d->e->cnames[get_enum(cfg, (enum key_id)k)]); break;
        case KIND_STR:
            write_c_string(out, get_str(cfg, (enum key_id)k), d->size);
            fprintf(out, ",\n");
            break;
        case KIND_MAP: {
            const bool set = cfg->parallel.expert_map_set;
            fprintf(out, "{");
            for (uint32_t e = 0; set && e < cfg->model.experts && e < ZMOE_PARALLEL_EXPERTS_MAX; e++)
                fprintf(out, "%s%u", e ? ", " : "", cfg->parallel.expert_map[e]);
            fprintf(out, "},\n        .expert_map_set = %s,\n", set ? "true" : "false");
            break;
        }
        }
    }
    fprintf(out, "    },\n};\n\n#endif\n");
    c_locale_leave(&loc);
    if (ferror(out)) {
        set_msg(err, "zmoe_config_write_header: write error");
        return ZMOE_ERR_IO;
    }
    return ZMOE_OK;
}
