/* config/hf: Hugging Face config.json -> struct zmoe_config (see hf.h, README.md). */
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "config/config.h"
#include "config/hf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LAYERS 65536u /* num_hidden_layers accepted */
#define INI_PATH_MAX 193u /* weights.file in a config file (config/README.md) */

/* The keys a comment can be attached to, in zmoe_config_print's order. */
static const char *const why_keys[] = {
    "model.hidden", "model.intermediate", "model.experts", "model.top_k", "model.layers",
    "model.shared_experts", "model.shared_intermediate",
    "router.scoring", "router.renormalize", "router.groups", "router.topk_group",
    "router.routed_scaling_factor", "router.score_correction_bias", "router.bias",
    "router.apply_router_weight_on_input", "router.shared_expert_gate",
    "experts.activation", "experts.swiglu_alpha", "experts.swiglu_limit", "experts.bias",
    "experts.gate_up",
    "dtype.weights", "dtype.activations",
    "quant.format", "quant.packing", "quant.group_size", "quant.zero_points", "quant.act_order",
    "quant.scale_dtype", "quant.shared_experts",
    "runtime.max_tokens", "runtime.ring_depth", "runtime.device", "runtime.wait_timeout_ms",
    "runtime.slot_io", "budget.device_bytes", "budget.host_bytes",
    "weights.file", "weights.layout", "weights.prefix", "weights.seed",
};
#define WHY_COUNT ((int)(sizeof why_keys / sizeof why_keys[0]))
_Static_assert(WHY_COUNT <= ZMOE_HF_KEYS, "ZMOE_HF_KEYS too small");

enum arch { A_LLAMA4, A_MIXTRAL, A_QWEN2, A_QWEN3, A_DSV2, A_DSV3, A_GPTOSS };

static const struct {
    const char *architecture, *model_type, *model_type2;
    enum arch arch;
    enum zmoe_weights_layout layout;
} archs[] = {
    {"Llama4ForConditionalGeneration", "llama4", "llama4_text", A_LLAMA4, ZMOE_LAYOUT_LLAMA4},
    {"Llama4ForCausalLM", "llama4_text", "llama4", A_LLAMA4, ZMOE_LAYOUT_LLAMA4},
    {"MixtralForCausalLM", "mixtral", NULL, A_MIXTRAL, ZMOE_LAYOUT_MIXTRAL},
    {"Qwen2MoeForCausalLM", "qwen2_moe", NULL, A_QWEN2, ZMOE_LAYOUT_QWEN_MOE},
    {"Qwen3MoeForCausalLM", "qwen3_moe", NULL, A_QWEN3, ZMOE_LAYOUT_QWEN_MOE},
    {"DeepseekV2ForCausalLM", "deepseek_v2", NULL, A_DSV2, ZMOE_LAYOUT_DEEPSEEK},
    {"DeepseekV3ForCausalLM", "deepseek_v3", NULL, A_DSV3, ZMOE_LAYOUT_DEEPSEEK},
    {"GptOssForCausalLM", "gpt_oss", NULL, A_GPTOSS, ZMOE_LAYOUT_GPT_OSS},
};
#define ARCH_COUNT (sizeof archs / sizeof archs[0])
#define ARCH_LIST                                                                          \
    "Llama4ForConditionalGeneration, Llama4ForCausalLM, MixtralForCausalLM, "             \
    "Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, DeepseekV2ForCausalLM, "                    \
    "DeepseekV3ForCausalLM, GptOssForCausalLM"

struct hf {
    const char *js;
    jsmntok_t *tok;
    int ntok;
    int scope;              /* object holding the model's fields */
    const char *scope_name; /* "" or "text_config." */
    const char *name;       /* for messages */
    struct zmoe_error *err;
    struct zmoe_hf_import *out;
};

/* ------------------------------------------------------------------ messages */

static enum zmoe_status fail(const struct hf *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum zmoe_status fail(const struct hf *h, const char *fmt, ...)
{
    if (h->err) {
        int n = snprintf(h->err->msg, sizeof h->err->msg, "%s: ", h->name);
        if (n >= 0 && (size_t)n < sizeof h->err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(h->err->msg + n, sizeof h->err->msg - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ZMOE_ERR_CONFIG;
}

/* A token's JSON text for a message: at most 48 bytes, control bytes escaped. */
static const char *show(const struct hf *h, int i, char *buf, size_t size)
{
    const jsmntok_t *t = &h->tok[i];
    size_t n = 0;
    int start = t->start, end = t->end;
    bool str = t->type == JSMN_STRING;
    if (str && n + 1 < size)
        buf[n++] = '"';
    for (int k = start; k < end && n + 6 < size; k++) {
        unsigned char ch = (unsigned char)h->js[k];
        if (k - start >= 48) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f)
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    if (str && n + 1 < size)
        buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

static void set_why(struct hf *h, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(struct hf *h, const char *key, const char *fmt, ...)
{
    for (int k = 0; k < WHY_COUNT; k++)
        if (strcmp(why_keys[k], key) == 0) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(h->out->why[k], sizeof h->out->why[k], fmt, ap);
            va_end(ap);
            return;
        }
}

static void add_note(struct hf *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(struct hf *h, const char *fmt, ...)
{
    size_t n = strlen(h->out->notes);
    if (n + 2 >= sizeof h->out->notes)
        return;
    if (n)
        h->out->notes[n++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->out->notes + n, sizeof h->out->notes - n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ JSON access */

static int tok_skip(const struct hf *h, int i)
{
    int end = h->tok[i].end, j = i + 1;
    while (j < h->ntok && h->tok[j].start < end)
        j++;
    return j;
}

static bool tok_is(const struct hf *h, int i, const char *s)
{
    size_t n = strlen(s);
    const jsmntok_t *t = &h->tok[i];
    return (size_t)(t->end - t->start) == n && memcmp(h->js + t->start, s, n) == 0;
}

static bool is_null(const struct hf *h, int i)
{
    return h->tok[i].type == JSMN_PRIMITIVE && tok_is(h, i, "null");
}

/* Value token of `key` in object `obj`, -1 when absent, -2 (error set) when the key
 * appears twice (Python's json would silently keep the last one). */
static int obj_get(const struct hf *h, int obj, const char *prefix, const char *key)
{
    int found = -1, i = obj + 1;
    for (int c = 0; c < h->tok[obj].size && i + 1 < h->ntok; c++) {
        if (h->tok[i].type == JSMN_STRING && tok_is(h, i, key)) {
            if (found >= 0) {
                fail(h, "field '%s%s' appears twice", prefix, key);
                return -2;
            }
            found = i + 1;
        }
        i = tok_skip(h, i + 1);
    }
    return found;
}

/* The field in the model's scope; -1 absent (or null), -2 error. */
static int field(const struct hf *h, const char *key)
{
    int v = obj_get(h, h->scope, h->scope_name, key);
    if (v >= 0 && is_null(h, v))
        return -1;
    return v;
}

static bool tok_uint(const struct hf *h, int i, uint64_t *out)
{
    const jsmntok_t *t = &h->tok[i];
    if (t->type != JSMN_PRIMITIVE || t->end <= t->start)
        return false;
    uint64_t v = 0;
    for (int k = t->start; k < t->end; k++) {
        unsigned d = (unsigned char)h->js[k] - '0';
        if (d > 9 || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    *out = v;
    return true;
}

/* An unsigned integer field in [min, max]. `def` < 0: required. Returns OK, or the
 * error; *present says whether the file had it. */
static enum zmoe_status get_u32(const struct hf *h, const char *key, int64_t def, uint32_t min,
                                uint32_t max, uint32_t *out, bool *present)
{
    char b[64];
    int v = field(h, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    if (present)
        *present = v >= 0;
    if (v < 0) {
        if (def < 0)
            return fail(h, "field '%s%s': missing (a required field of this architecture)",
                        h->scope_name, key);
        *out = (uint32_t)def;
        return ZMOE_OK;
    }
    uint64_t x;
    if (!tok_uint(h, v, &x) || x < min || x > max)
        return fail(h, "field '%s%s': expected an integer in [%u, %u], found %s", h->scope_name,
                    key, min, max, show(h, v, b, sizeof b));
    *out = (uint32_t)x;
    return ZMOE_OK;
}

static enum zmoe_status get_bool(const struct hf *h, const char *key, bool def, bool *out,
                                 bool *present)
{
    char b[64];
    int v = field(h, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    *present = v >= 0;
    if (v < 0) {
        *out = def;
        return ZMOE_OK;
    }
    if (h->tok[v].type == JSMN_PRIMITIVE && (tok_is(h, v, "true") || tok_is(h, v, "false"))) {
        *out = tok_is(h, v, "true");
        return ZMOE_OK;
    }
    return fail(h, "field '%s%s': expected true or false, found %s", h->scope_name, key,
                show(h, v, b, sizeof b));
}

/* A finite number > 0 that float holds. */
static enum zmoe_status get_num(const struct hf *h, const char *key, double def, float *out,
                                bool *present)
{
    char b[64];
    int v = field(h, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    *present = v >= 0;
    if (v < 0) {
        *out = (float)def;
        return ZMOE_OK;
    }
    const jsmntok_t *t = &h->tok[v];
    char num[64];
    size_t n = (size_t)(t->end - t->start);
    bool ok = t->type == JSMN_PRIMITIVE && n > 0 && n < sizeof num;
    double d = 0;
    if (ok) {
        memcpy(num, h->js + t->start, n);
        num[n] = '\0';
        ok = num[0] == '-' || (num[0] >= '0' && num[0] <= '9');
        char *end = NULL;
        errno = 0;
        if (ok)
            d = strtod(num, &end);
        ok = ok && end && *end == '\0' && errno == 0 && d > 0 && d <= 3.0e38;
    }
    if (!ok)
        return fail(h, "field '%s%s': expected a number > 0, found %s", h->scope_name, key,
                    show(h, v, b, sizeof b));
    *out = (float)d;
    return ZMOE_OK;
}

/* A string field (no escapes needed by any value zmoe reads) into buf. */
static enum zmoe_status get_str(const struct hf *h, int obj, const char *prefix, const char *key,
                                char *buf, size_t size, bool *present)
{
    char b[64];
    int v = obj_get(h, obj, prefix, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    if (v >= 0 && is_null(h, v))
        v = -1;
    *present = v >= 0;
    buf[0] = '\0';
    if (v < 0)
        return ZMOE_OK;
    const jsmntok_t *t = &h->tok[v];
    size_t n = (size_t)(t->end - t->start);
    bool plain = t->type == JSMN_STRING && n < size;
    for (size_t k = 0; plain && k < n; k++) {
        unsigned char ch = (unsigned char)h->js[t->start + (int)k];
        plain = ch >= 0x20 && ch < 0x7f && ch != '\\';
    }
    /* Every value zmoe reads is an ASCII name; anything else is not one it knows (and
     * would not belong in a config file's comment). */
    if (!plain)
        return fail(h, "field '%s%s': expected a short ASCII name, found %s", prefix, key,
                    show(h, v, b, sizeof b));
    memcpy(buf, h->js + t->start, n);
    buf[n] = '\0';
    return ZMOE_OK;
}

/* A list of layer numbers (each in [0, layers)); *tok_out the array token, -1 absent. */
static enum zmoe_status get_layer_list(const struct hf *h, const char *key, uint32_t layers,
                                       int *tok_out)
{
    char b[64];
    int v = field(h, key);
    *tok_out = -1;
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    if (v < 0)
        return ZMOE_OK;
    if (h->tok[v].type != JSMN_ARRAY)
        return fail(h, "field '%s%s': expected a list of layer numbers, found %s", h->scope_name,
                    key, show(h, v, b, sizeof b));
    for (int c = 0, i = v + 1; c < h->tok[v].size; c++, i = tok_skip(h, i)) {
        uint64_t x;
        if (!tok_uint(h, i, &x) || x >= layers)
            return fail(h, "field '%s%s': element %d: expected a layer number in [0, %u] "
                           "(num_hidden_layers = %u), found %s",
                        h->scope_name, key, c, layers - 1, layers, show(h, i, b, sizeof b));
    }
    *tok_out = v;
    return ZMOE_OK;
}

static bool list_has(const struct hf *h, int arr, uint32_t layer)
{
    if (arr < 0)
        return false;
    for (int c = 0, i = arr + 1; c < h->tok[arr].size; c++, i = tok_skip(h, i)) {
        uint64_t x;
        if (tok_uint(h, i, &x) && x == layer)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ common fields */

static enum zmoe_status get_activation(struct hf *h, struct zmoe_config *c)
{
    char act[64];
    bool present;
    enum zmoe_status st = get_str(h, h->scope, h->scope_name, "hidden_act", act, sizeof act,
                                  &present);
    if (st)
        return st;
    if (!present)
        snprintf(act, sizeof act, "silu");
    if (!strcmp(act, "silu") || !strcmp(act, "swish"))
        c->experts.activation = ZMOE_ACT_SILU;
    else if (!strcmp(act, "gelu"))
        c->experts.activation = ZMOE_ACT_GELU;
    else if (!strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_new"))
        c->experts.activation = ZMOE_ACT_GELU_TANH;
    else
        return fail(h, "field '%shidden_act': \"%s\" is not an activation zmoe implements "
                       "(silu, swish, gelu, gelu_pytorch_tanh, gelu_new)",
                    h->scope_name, act);
    if (present)
        set_why(h, "experts.activation", "%shidden_act = \"%s\" (gate activation of SwiGLU-style "
                "experts)", h->scope_name, act);
    else
        set_why(h, "experts.activation", "%shidden_act absent: HF default \"silu\"",
                h->scope_name);
    return ZMOE_OK;
}

static enum zmoe_status get_dtype(struct hf *h, struct zmoe_config *c, int root, bool gpt_oss)
{
    const char *const names[] = {"torch_dtype", "dtype"};
    char v[64], where[64] = "";
    bool present = false;
    for (int pass = 0; pass < 2 && !present; pass++) { /* the model's scope, then the root */
        int obj = pass == 0 ? h->scope : root;
        const char *pre = pass == 0 ? h->scope_name : "";
        if (pass == 1 && obj == h->scope)
            break;
        for (int n = 0; n < 2 && !present; n++) {
            enum zmoe_status st = get_str(h, obj, pre, names[n], v, sizeof v, &present);
            if (st)
                return st;
            if (present)
                snprintf(where, sizeof where, "%s%s", pre, names[n]);
        }
    }
    if (!present && gpt_oss) {
        /* openai/gpt-oss-* ship no torch_dtype: what quantization_config leaves unquantized
         * is BF16 (model card), and so is the dequantized checkpoint. */
        c->dtype.weights = c->dtype.activations = ZMOE_DTYPE_BF16;
        set_why(h, "dtype.weights", "torch_dtype absent: GPT-OSS's unquantized tensors are BF16");
        set_why(h, "dtype.activations", "torch_dtype absent: GPT-OSS computes in BF16");
        return ZMOE_OK;
    }
    if (!present)
        return fail(h, "field '%storch_dtype': missing (needed for dtype.weights)", h->scope_name);
    if (!strcmp(v, "bfloat16"))
        c->dtype.weights = ZMOE_DTYPE_BF16;
    else if (!strcmp(v, "float16"))
        c->dtype.weights = ZMOE_DTYPE_F16;
    else if (!strcmp(v, "float32"))
        c->dtype.weights = ZMOE_DTYPE_F32;
    else
        return fail(h, "field '%s': \"%s\" is not a dtype zmoe computes in (bfloat16, float16, "
                       "float32)", where, v);
    c->dtype.activations = c->dtype.weights;
    set_why(h, "dtype.weights", "%s = \"%s\"", where, v);
    set_why(h, "dtype.activations", "%s = \"%s\" (the model computes in its checkpoint dtype)",
            where, v);
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ architectures */

static enum zmoe_status basic_geometry(struct hf *h, struct zmoe_config *c, const char *experts_key,
                                       const char *inter_key, uint32_t *layers_total)
{
    enum zmoe_status st;
    if ((st = get_u32(h, "hidden_size", -1, 1, UINT32_MAX, &c->model.hidden, NULL)) ||
        (st = get_u32(h, inter_key, -1, 1, UINT32_MAX, &c->model.intermediate, NULL)) ||
        (st = get_u32(h, experts_key, -1, 1, UINT32_MAX, &c->model.experts, NULL)) ||
        (st = get_u32(h, "num_experts_per_tok", -1, 1, UINT32_MAX, &c->model.top_k, NULL)) ||
        (st = get_u32(h, "num_hidden_layers", -1, 1, MAX_LAYERS, layers_total, NULL)))
        return st;
    if (c->model.top_k > c->model.experts)
        return fail(h, "field '%snum_experts_per_tok' = %u is more than '%s%s' = %u (a token "
                       "cannot choose more experts than there are)",
                    h->scope_name, c->model.top_k, h->scope_name, experts_key, c->model.experts);
    set_why(h, "model.hidden", "%shidden_size", h->scope_name);
    set_why(h, "model.intermediate", "%s%s (per routed expert)", h->scope_name, inter_key);
    set_why(h, "model.experts", "%s%s", h->scope_name, experts_key);
    set_why(h, "model.top_k", "%snum_experts_per_tok", h->scope_name);
    return ZMOE_OK;
}

static enum zmoe_status no_moe_layer(struct hf *h, const char *why)
{
    return fail(h, "no MoE layer: %s", why);
}

static enum zmoe_status import_llama4(struct hf *h, struct zmoe_config *c)
{
    uint32_t n;
    enum zmoe_status st = basic_geometry(h, c, "num_local_experts", "intermediate_size", &n);
    if (st)
        return st;
    int moe_layers;
    if ((st = get_layer_list(h, "moe_layers", n, &moe_layers)))
        return st;
    if (moe_layers >= 0) {
        uint32_t count = 0;
        for (uint32_t L = 0; L < n; L++)
            count += list_has(h, moe_layers, L);
        if (count == 0)
            return no_moe_layer(h, "text_config.moe_layers is empty");
        if ((int)count != h->tok[moe_layers].size)
            return fail(h, "field '%smoe_layers': a layer number appears twice", h->scope_name);
        c->model.layers = count;
        set_why(h, "model.layers", "%smoe_layers: %u of num_hidden_layers = %u", h->scope_name,
                count, n);
    } else {
        uint32_t step;
        bool present;
        if ((st = get_u32(h, "interleave_moe_layer_step", 1, 1, UINT32_MAX, &step, &present)))
            return st;
        /* HF: moe_layers = range(step - 1, num_hidden_layers, step) */
        if (step > n)
            return no_moe_layer(h, "interleave_moe_layer_step is more than num_hidden_layers");
        c->model.layers = n / step;
        set_why(h, "model.layers", "%snum_hidden_layers = %u / interleave_moe_layer_step = %u%s "
                "(MoE at layers %u, %u, ...)", h->scope_name, n, step,
                present ? "" : " (absent: HF default)", step - 1, 2 * step - 1);
    }
    c->model.shared_experts = 1;
    c->model.shared_intermediate = c->model.intermediate;
    set_why(h, "model.shared_experts", "Llama4TextMoe: one shared expert in every MoE layer");
    set_why(h, "model.shared_intermediate", "%sintermediate_size (the shared expert is a "
            "Llama4TextMLP of that size)", h->scope_name);
    c->router.scoring = ZMOE_SCORING_SIGMOID;
    c->router.renormalize = false;
    c->router.apply_router_weight_on_input = true;
    set_why(h, "router.scoring", "Llama4Router: sigmoid of the top-k router logits");
    set_why(h, "router.renormalize", "Llama4Router: the sigmoid scores are used as they are");
    set_why(h, "router.apply_router_weight_on_input", "Llama4TextMoe: each routed copy of x is "
            "scaled by its score before the experts");
    return get_activation(h, c);
}

static enum zmoe_status import_mixtral(struct hf *h, struct zmoe_config *c)
{
    uint32_t n;
    enum zmoe_status st = basic_geometry(h, c, "num_local_experts", "intermediate_size", &n);
    if (st)
        return st;
    c->model.layers = n;
    set_why(h, "model.layers", "num_hidden_layers (every layer is MoE)");
    c->router.scoring = ZMOE_SCORING_SOFTMAX;
    c->router.renormalize = true;
    set_why(h, "router.scoring", "MixtralSparseMoeBlock: softmax over all router logits");
    set_why(h, "router.renormalize", "MixtralSparseMoeBlock: top-k weights divided by their sum");
    return get_activation(h, c);
}

static enum zmoe_status import_qwen(struct hf *h, struct zmoe_config *c, bool qwen2)
{
    uint32_t n;
    enum zmoe_status st = basic_geometry(h, c, "num_experts", "moe_intermediate_size", &n);
    if (st)
        return st;
    uint32_t step;
    bool step_present, norm_present;
    int mlp_only;
    if ((st = get_u32(h, "decoder_sparse_step", 1, 1, UINT32_MAX, &step, &step_present)) ||
        (st = get_layer_list(h, "mlp_only_layers", n, &mlp_only)))
        return st;
    /* HF: MoE where layer not in mlp_only_layers and (layer + 1) % decoder_sparse_step == 0 */
    uint32_t count = 0;
    for (uint32_t L = 0; L < n; L++)
        count += !list_has(h, mlp_only, L) && (L + 1) % step == 0;
    if (count == 0)
        return no_moe_layer(h, "every layer is excluded by decoder_sparse_step / mlp_only_layers");
    c->model.layers = count;
    set_why(h, "model.layers", "num_hidden_layers = %u, decoder_sparse_step = %u%s, "
            "mlp_only_layers %s", n, step, step_present ? "" : " (absent: HF default)",
            mlp_only >= 0 && h->tok[mlp_only].size ? "(listed layers are dense)" : "empty");
    c->router.scoring = ZMOE_SCORING_SOFTMAX;
    set_why(h, "router.scoring", "%s: softmax over all router logits",
            qwen2 ? "Qwen2MoeSparseMoeBlock" : "Qwen3MoeSparseMoeBlock");
    if ((st = get_bool(h, "norm_topk_prob", false, &c->router.renormalize, &norm_present)))
        return st;
    set_why(h, "router.renormalize", "norm_topk_prob%s", norm_present ? "" : " absent: HF default false");
    if (qwen2) {
        uint32_t s;
        if ((st = get_u32(h, "shared_expert_intermediate_size", -1, 1, UINT32_MAX, &s, NULL)))
            return st;
        c->model.shared_experts = 1;
        c->model.shared_intermediate = s;
        c->router.shared_expert_gate = true;
        set_why(h, "model.shared_experts", "Qwen2MoeSparseMoeBlock: one shared expert");
        set_why(h, "model.shared_intermediate", "shared_expert_intermediate_size");
        set_why(h, "router.shared_expert_gate", "Qwen2MoeSparseMoeBlock: sigmoid(shared_expert_gate(x)) "
                "scales the shared expert");
    }
    return get_activation(h, c);
}

static enum zmoe_status import_deepseek(struct hf *h, struct zmoe_config *c, bool v3)
{
    uint32_t n;
    enum zmoe_status st = basic_geometry(h, c, "n_routed_experts", "moe_intermediate_size", &n);
    if (st)
        return st;
    uint32_t first_dense = 0, freq = 0, shared = 0, groups = 0, topk_group = 0; /* set by get_u32; initialised for gcc -O3 */
    bool p_first, p_freq, p_shared, p_groups, p_tg, p_norm, p_rsf, p_score, p_method;
    bool norm;
    float rsf;
    char scoring[64], method[64];
    if ((st = get_u32(h, "first_k_dense_replace", 0, 0, UINT32_MAX, &first_dense, &p_first)) ||
        (st = get_u32(h, "moe_layer_freq", 1, 1, UINT32_MAX, &freq, &p_freq)) ||
        (st = get_u32(h, "n_shared_experts", 0, 0, UINT32_MAX, &shared, &p_shared)) ||
        (st = get_u32(h, "n_group", 1, 1, UINT32_MAX, &groups, &p_groups)) ||
        (st = get_u32(h, "topk_group", 1, 1, UINT32_MAX, &topk_group, &p_tg)) ||
        (st = get_bool(h, "norm_topk_prob", false, &norm, &p_norm)) ||
        (st = get_num(h, "routed_scaling_factor", 1.0, &rsf, &p_rsf)) ||
        (st = get_str(h, h->scope, "", "scoring_func", scoring, sizeof scoring, &p_score)) ||
        (st = get_str(h, h->scope, "", "topk_method", method, sizeof method, &p_method)))
        return st;
    /* DeepSeek: MoE where layer >= first_k_dense_replace and layer % moe_layer_freq == 0 */
    uint32_t count = 0;
    for (uint32_t L = first_dense; L < n; L++)
        count += L % freq == 0;
    if (count == 0) {
        char why[160];
        snprintf(why, sizeof why, "first_k_dense_replace = %u with moe_layer_freq = %u leaves "
                 "none of num_hidden_layers = %u", first_dense, freq, n);
        return no_moe_layer(h, why);
    }
    c->model.layers = count;
    set_why(h, "model.layers", "num_hidden_layers = %u, first_k_dense_replace = %u%s, "
            "moe_layer_freq = %u%s", n, first_dense, p_first ? "" : " (absent: HF default)", freq,
            p_freq ? "" : " (absent: HF default)");
    if (shared) {
        c->model.shared_experts = shared;
        c->model.shared_intermediate = c->model.intermediate;
        set_why(h, "model.shared_experts", "n_shared_experts");
        set_why(h, "model.shared_intermediate", "moe_intermediate_size (the shared experts act "
                "as one MLP of n_shared_experts x moe_intermediate_size)");
    }
    const char *want_scoring = v3 ? "sigmoid" : "softmax";
    if (!p_score)
        snprintf(scoring, sizeof scoring, "%s", want_scoring);
    if (strcmp(scoring, want_scoring) != 0)
        return fail(h, "field 'scoring_func': \"%s\" is not what %s implements (it supports "
                       "\"%s\" only)", scoring, v3 ? "DeepseekV3MoE" : "DeepseekV2MoE",
                    want_scoring);
    c->router.scoring = v3 ? ZMOE_SCORING_SIGMOID : ZMOE_SCORING_SOFTMAX;
    set_why(h, "router.scoring", "scoring_func = \"%s\"%s", scoring,
            p_score ? "" : " (absent: HF default)");
    if (!p_method)
        snprintf(method, sizeof method, "%s", v3 ? "noaux_tc" : "greedy");
    bool grouped;
    if (v3 && !strcmp(method, "noaux_tc")) {
        grouped = true;
        c->router.score_correction_bias = true;
        set_why(h, "router.score_correction_bias", "topk_method = \"noaux_tc\": "
                "e_score_correction_bias is added to the scores for the choice");
    } else if (!v3 && !strcmp(method, "greedy")) {
        grouped = false;
    } else if (!v3 && !strcmp(method, "group_limited_greedy")) {
        grouped = true;
    } else {
        return fail(h, "field 'topk_method': \"%s\" is not a routing zmoe implements for %s "
                       "(%s)", method, v3 ? "DeepSeek-V3" : "DeepSeek-V2",
                    v3 ? "\"noaux_tc\"" : "\"greedy\" or \"group_limited_greedy\"");
    }
    if (grouped && groups > 1) {
        if (c->model.experts % groups != 0)
            return fail(h, "field 'n_group' = %u does not divide 'n_routed_experts' = %u", groups,
                        c->model.experts);
        if (topk_group > groups)
            return fail(h, "field 'topk_group' = %u is more than 'n_group' = %u", topk_group,
                        groups);
        if ((uint64_t)c->model.top_k > (uint64_t)topk_group * (c->model.experts / groups))
            return fail(h, "field 'num_experts_per_tok' = %u is more than the %u experts of "
                           "topk_group = %u groups of %u", c->model.top_k,
                        topk_group * (c->model.experts / groups), topk_group,
                        c->model.experts / groups);
        c->router.groups = groups;
        c->router.topk_group = topk_group;
        set_why(h, "router.groups", "n_group (topk_method = \"%s\")", method);
        set_why(h, "router.topk_group", "topk_group");
    } else {
        c->router.groups = 1;
        c->router.topk_group = 1;
        set_why(h, "router.groups", "topk_method = \"%s\"%s: %s", method,
                p_method ? "" : " (absent: HF default)",
                grouped ? "n_group = 1, no groups" : "plain top-k, n_group is not used");
    }
    /* DeepseekV2MoE: normalize when top_k > 1 and norm_topk_prob, else scale by
     * routed_scaling_factor. DeepseekV3MoE: normalize likewise, then always scale. */
    bool renorm = c->model.top_k > 1 && norm;
    c->router.renormalize = renorm;
    set_why(h, "router.renormalize", "norm_topk_prob = %s%s%s", norm ? "true" : "false",
            p_norm ? "" : " (absent: HF default)",
            norm && c->model.top_k == 1 ? " (with one expert per token nothing is divided)" : "");
    if (v3 || !renorm) {
        c->router.routed_scaling_factor = rsf;
        set_why(h, "router.routed_scaling_factor", "routed_scaling_factor%s",
                p_rsf ? "" : " (absent: HF default 1.0)");
    } else {
        c->router.routed_scaling_factor = 1.0f;
        if (p_rsf && rsf != 1.0f)
            set_why(h, "router.routed_scaling_factor", "1: DeepseekV2MoE ignores "
                    "routed_scaling_factor when it renormalizes (norm_topk_prob)");
    }
    return get_activation(h, c);
}

static enum zmoe_status import_gpt_oss(struct hf *h, struct zmoe_config *c)
{
    uint32_t n;
    enum zmoe_status st = basic_geometry(h, c, "num_local_experts", "intermediate_size", &n);
    if (st)
        return st;
    uint32_t ept;
    bool p_ept, p_limit;
    if ((st = get_u32(h, "experts_per_token", 0, 1, UINT32_MAX, &ept, &p_ept)))
        return st;
    if (p_ept && ept != c->model.top_k)
        return fail(h, "field 'experts_per_token' = %u disagrees with 'num_experts_per_tok' = %u",
                    ept, c->model.top_k);
    c->model.layers = n;
    set_why(h, "model.layers", "num_hidden_layers (every layer is MoE)");
    c->router.scoring = ZMOE_SCORING_SOFTMAX;
    c->router.renormalize = true;
    c->router.bias = true;
    set_why(h, "router.scoring", "GptOssTopKRouter: softmax over the top-k logits (= softmax, "
            "then renormalize)");
    set_why(h, "router.renormalize", "GptOssTopKRouter: softmax over the top-k only");
    set_why(h, "router.bias", "GptOssTopKRouter: the router linear has a bias");
    c->experts.activation = ZMOE_ACT_SWIGLU_OAI;
    c->experts.swiglu_alpha = 1.702f;
    if ((st = get_num(h, "swiglu_limit", 7.0, &c->experts.swiglu_limit, &p_limit)))
        return st;
    c->experts.bias = true;
    c->experts.gate_up_interleaved = true;
    set_why(h, "experts.activation", "GptOssExperts: clamped SwiGLU (hidden_act is not used)");
    set_why(h, "experts.swiglu_alpha", "GptOssExperts.alpha = 1.702 (fixed in the modeling code)");
    set_why(h, "experts.swiglu_limit", "swiglu_limit%s", p_limit ? "" : " (absent: HF default 7.0)");
    set_why(h, "experts.bias", "GptOssExperts: gate_up_proj_bias and down_proj_bias");
    set_why(h, "experts.gate_up", "GptOssExperts: gate_up_proj columns alternate gate, up");
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ quantization_config */

/* An integer field of object `obj` (may be negative: GPTQ's group_size -1); *present
 * says whether it is there (null counts as absent). */
static enum zmoe_status q_int(const struct hf *h, int obj, const char *prefix, const char *key,
                              int64_t *out, bool *present)
{
    char b[64];
    int v = obj_get(h, obj, prefix, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    *present = v >= 0 && !is_null(h, v);
    if (!*present)
        return ZMOE_OK;
    const jsmntok_t *t = &h->tok[v];
    bool neg = t->type == JSMN_PRIMITIVE && t->end > t->start && h->js[t->start] == '-';
    uint64_t x = 0;
    jsmntok_t tmp = *t;
    if (neg)
        tmp.start++;
    struct hf hh = *h;
    hh.tok = &tmp;
    if (!tok_uint(&hh, 0, &x) || x > (1u << 30))
        return fail(h, "field '%s%s': expected an integer, found %s", prefix, key,
                    show(h, v, b, sizeof b));
    *out = neg ? -(int64_t)x : (int64_t)x;
    return ZMOE_OK;
}

static enum zmoe_status q_bool(const struct hf *h, int obj, const char *prefix, const char *key,
                               bool def, bool *out, bool *present)
{
    char b[64];
    int v = obj_get(h, obj, prefix, key);
    if (v == -2)
        return ZMOE_ERR_CONFIG;
    *present = v >= 0 && !is_null(h, v);
    *out = def;
    if (!*present)
        return ZMOE_OK;
    if (h->tok[v].type == JSMN_PRIMITIVE && (tok_is(h, v, "true") || tok_is(h, v, "false"))) {
        *out = tok_is(h, v, "true");
        return ZMOE_OK;
    }
    return fail(h, "field '%s%s': expected true or false, found %s", prefix, key,
                show(h, v, b, sizeof b));
}

/* bits: 4 or 8 for the int formats zmoe keeps (a 2/3-bit checkpoint is refused). */
static enum zmoe_status q_bits(struct hf *h, int q, const char *pre, const char *key,
                               bool only4, enum zmoe_quant_format *f)
{
    int64_t bits;
    bool p;
    enum zmoe_status st = q_int(h, q, pre, key, &bits, &p);
    if (st)
        return st;
    if (!p)
        return fail(h, "field '%s%s': missing (the code width)", pre, key);
    if (bits != 4 && (only4 || bits != 8))
        return fail(h, "field '%s%s': %lld bits is not a width zmoe keeps (%s)", pre, key,
                    (long long)bits, only4 ? "4" : "4 or 8");
    *f = bits == 4 ? ZMOE_QUANT_INT4 : ZMOE_QUANT_INT8;
    set_why(h, "quant.format", "%s%s = %lld (int%lld codes)", pre, key, (long long)bits,
            (long long)bits);
    return ZMOE_OK;
}

/* group_size as GPTQ/AWQ/compressed-tensors write it: -1 (or 0) = per output channel. */
static enum zmoe_status q_group(struct hf *h, int q, const char *pre, const char *key,
                                struct zmoe_config *c)
{
    int64_t g = 0;
    bool p;
    enum zmoe_status st = q_int(h, q, pre, key, &g, &p);
    if (st)
        return st;
    if (!p)
        return fail(h, "field '%s%s': missing (values per scale)", pre, key);
    if (g < -1)
        return fail(h, "field '%s%s': expected -1 (per channel) or a group size, found %lld", pre,
                    key, (long long)g);
    c->quant.group_size = g <= 0 ? 0 : (uint32_t)g;
    set_why(h, "quant.group_size", "%s%s = %lld%s", pre, key, (long long)g,
            g <= 0 ? " (one scale per output channel)" : "");
    return ZMOE_OK;
}

/* The scale dtype the tools store: GPTQ/AWQ f16 always; compressed-tensors the model's
 * torch_dtype (the observer computes the scales in the weight's dtype). */
static void scale_from_dtype(struct hf *h, struct zmoe_config *c, const char *why)
{
    c->quant.scale_dtype = c->dtype.weights == ZMOE_DTYPE_BF16  ? ZMOE_SCALE_BF16
                           : c->dtype.weights == ZMOE_DTYPE_F32 ? ZMOE_SCALE_F32
                                                                : ZMOE_SCALE_F16;
    set_why(h, "quant.scale_dtype", "%s", why);
}

static enum zmoe_status import_gptq(struct hf *h, struct zmoe_config *c, int q, const char *method)
{
    const char *pre = "quantization_config.";
    enum zmoe_status st;
    bool p, v;
    char fmt[64];
    if ((st = q_bits(h, q, pre, "bits", false, &c->quant.format)) ||
        (st = q_group(h, q, pre, "group_size", c)) ||
        (st = get_str(h, q, pre, "checkpoint_format", fmt, sizeof fmt, &p)))
        return st;
    /* GPTQModel's internal v2 stores zero points without GPTQ v1's -1; exports for the
     * hub are v1 ("gptq"), which is what the loader reads. */
    if (p && strcmp(fmt, "gptq") != 0)
        return fail(h, "field '%scheckpoint_format': \"%s\" is not a GPTQ packing zmoe reads "
                       "(\"gptq\": v1 zero points, the hub's format)", pre, fmt);
    if ((st = q_bool(h, q, pre, "sym", true, &v, &p)))
        return st;
    c->quant.zero_points = !v;
    set_why(h, "quant.zero_points", "%ssym = %s%s", pre, v ? "true" : "false",
            p ? "" : " (absent: GPTQ default)");
    if ((st = q_bool(h, q, pre, "desc_act", false, &c->quant.act_order, &p)))
        return st;
    set_why(h, "quant.act_order", "%sdesc_act = %s%s", pre, c->quant.act_order ? "true" : "false",
            c->quant.act_order ? " (g_idx reorders the input columns)" : "");
    c->quant.packing = ZMOE_PACK_GPTQ;
    set_why(h, "quant.packing", "%squant_method = \"%s\": qweight/qzeros/scales/g_idx", pre, method);
    c->quant.scale_dtype = ZMOE_SCALE_F16;
    set_why(h, "quant.scale_dtype", "GPTQ stores scales in float16");
    return ZMOE_OK;
}

static enum zmoe_status import_awq(struct hf *h, struct zmoe_config *c, int q)
{
    const char *pre = "quantization_config.";
    enum zmoe_status st;
    bool p, v;
    char ver[64];
    /* AutoAWQ writes bits/group_size in the hub's config.json (w_bit/q_group_size are its
     * quant_config.json names): accept either. */
    int64_t dummy;
    bool has_bits;
    if ((st = q_int(h, q, pre, "bits", &dummy, &has_bits)))
        return st;
    if ((st = q_bits(h, q, pre, has_bits ? "bits" : "w_bit", true, &c->quant.format)))
        return st;
    bool has_group;
    if ((st = q_int(h, q, pre, "group_size", &dummy, &has_group)) ||
        (st = q_group(h, q, pre, has_group ? "group_size" : "q_group_size", c)))
        return st;
    if ((st = get_str(h, q, pre, "version", ver, sizeof ver, &p)))
        return st;
    if (p && strcmp(ver, "gemm") != 0 && strcmp(ver, "GEMM") != 0)
        return fail(h, "field '%sversion': \"%s\" is not an AWQ packing zmoe reads (\"gemm\": "
                       "AutoAWQ WQLinear_GEMM)", pre, ver);
    if ((st = q_bool(h, q, pre, "zero_point", true, &v, &p)))
        return st;
    if (!v)
        return fail(h, "field '%szero_point': false (symmetric AWQ) is not a packing zmoe reads: "
                       "AutoAWQ GEMM checkpoints carry qzeros", pre);
    if ((st = q_bool(h, q, pre, "desc_act", false, &v, &p)))
        return st;
    if (v)
        return fail(h, "field '%sdesc_act': true with quant_method \"awq\" (act-order is GPTQ's; "
                       "AWQ checkpoints have no g_idx)", pre);
    c->quant.zero_points = true;
    set_why(h, "quant.zero_points", "%szero_point = true", pre);
    set_why(h, "quant.act_order", "AWQ has no act-order");
    c->quant.packing = ZMOE_PACK_AWQ;
    set_why(h, "quant.packing", "%squant_method = \"awq\", version %s", pre, p ? ver : "gemm");
    c->quant.scale_dtype = ZMOE_SCALE_F16;
    set_why(h, "quant.scale_dtype", "AutoAWQ stores scales in float16");
    return ZMOE_OK;
}

/* compressed-tensors (llm-compressor): one config group for the Linear layers, weights
 * only (activations in the model dtype), format pack-quantized, int-quantized or
 * float-quantized. */
static enum zmoe_status import_ct(struct hf *h, struct zmoe_config *c, int q)
{
    const char *pre = "quantization_config.";
    char b[64], fmt[64], type[32], strategy[32], order[32];
    bool p, v;
    enum zmoe_status st = get_str(h, q, pre, "format", fmt, sizeof fmt, &p);
    if (st)
        return st;
    if (!p)
        return fail(h, "field '%sformat': missing (pack-quantized, int-quantized or "
                       "float-quantized)", pre);
    int groups = obj_get(h, q, pre, "config_groups");
    if (groups == -2)
        return ZMOE_ERR_CONFIG;
    if (groups < 0 || h->tok[groups].type != JSMN_OBJECT || h->tok[groups].size != 1)
        return fail(h, "field '%sconfig_groups': expected an object with one group (zmoe runs "
                       "one scheme for every expert), found %s",
                    pre, groups < 0 ? "nothing" : show(h, groups, b, sizeof b));
    char gpre[160], gname[64];
    int gk = groups + 1, g = gk + 1;
    snprintf(gname, sizeof gname, "%.*s", h->tok[gk].end - h->tok[gk].start > 48 ? 48
                                             : h->tok[gk].end - h->tok[gk].start,
             h->js + h->tok[gk].start);
    /* The group's name lands in messages and comments: printable ASCII only. */
    for (char *ch = gname; *ch; ch++)
        if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f || *ch == '\\')
            *ch = '?';
    if (h->tok[g].type != JSMN_OBJECT)
        return fail(h, "field '%sconfig_groups.%s': expected an object, found %s", pre, gname,
                    show(h, g, b, sizeof b));
    for (int k = 0; k < 2; k++) {
        const char *akey = k ? "output_activations" : "input_activations";
        int a = obj_get(h, g, "", akey);
        if (a == -2)
            return ZMOE_ERR_CONFIG;
        if (a >= 0 && !is_null(h, a))
            return fail(h, "field '%sconfig_groups.%s.%s': activation quantization (W8A8-style "
                           "schemes) is not something zmoe does: its experts read activations "
                           "in the model dtype; use a weight-only (W4A16/W8A16) checkpoint",
                        pre, gname, akey);
    }
    snprintf(gpre, sizeof gpre, "%sconfig_groups.%s.weights.", pre, gname);
    int w = obj_get(h, g, "", "weights");
    if (w == -2)
        return ZMOE_ERR_CONFIG;
    if (w < 0 || h->tok[w].type != JSMN_OBJECT)
        return fail(h, "field '%sconfig_groups.%s.weights': expected an object (the weight "
                       "quantization), found %s", pre, gname, w < 0 ? "nothing" : show(h, w, b, sizeof b));
    int64_t bits, gs = 0;
    bool has_gs;
    if ((st = q_int(h, w, gpre, "num_bits", &bits, &p)))
        return st;
    if (!p)
        return fail(h, "field '%snum_bits': missing", gpre);
    if ((st = get_str(h, w, gpre, "type", type, sizeof type, &p)))
        return st;
    if (!p)
        snprintf(type, sizeof type, "int");
    if ((st = get_str(h, w, gpre, "strategy", strategy, sizeof strategy, &p)))
        return st;
    if (!p)
        return fail(h, "field '%sstrategy': missing (group, channel or block)", gpre);
    if ((st = q_int(h, w, gpre, "group_size", &gs, &has_gs)) ||
        (st = get_str(h, w, gpre, "actorder", order, sizeof order, &p)))
        return st;
    /* actorder: group stores weight_g_idx (each column's group: act_order); weight and
     * its alias static reorder only while quantizing and store groups in column order. */
    const bool has_order = p;
    bool ct_act = p && !strcmp(order, "group");
    if (p && !ct_act && strcmp(order, "weight") != 0 && strcmp(order, "static") != 0)
        return fail(h, "field '%sactorder': \"%s\" (expected null, group, weight or static)",
                    gpre, order);
    if ((st = q_bool(h, w, gpre, "dynamic", false, &v, &p)))
        return st;
    if (v)
        return fail(h, "field '%sdynamic': true (weights quantized at run time) is not a "
                       "checkpoint format", gpre);
    bool is_float = !strcmp(type, "float");
    if (!is_float && strcmp(type, "int") != 0)
        return fail(h, "field '%stype': \"%s\" (expected int or float)", gpre, type);
    if (is_float) {
        if (bits != 8)
            return fail(h, "field '%snum_bits': %lld with type float: zmoe keeps fp8 (8) only "
                           "(NVFP4/MXFP4 compressed-tensors schemes are not supported)",
                        gpre, (long long)bits);
        if (strcmp(fmt, "float-quantized") != 0)
            return fail(h, "field '%sformat': \"%s\" with float weights (expected "
                           "float-quantized)", pre, fmt);
        c->quant.format = ZMOE_QUANT_FP8;
        set_why(h, "quant.format", "%stype = float, num_bits = 8 (e4m3 weight)", gpre);
    } else {
        if (bits != 4 && bits != 8)
            return fail(h, "field '%snum_bits': %lld bits is not a width zmoe keeps (4 or 8)",
                        gpre, (long long)bits);
        bool ok = !strcmp(fmt, "pack-quantized") || (bits == 8 && !strcmp(fmt, "int-quantized"));
        if (!ok)
            return fail(h, "field '%sformat': \"%s\" with %lld-bit int weights (expected "
                           "pack-quantized%s)", pre, fmt, (long long)bits,
                        bits == 8 ? " or int-quantized" : "");
        c->quant.format = bits == 4 ? ZMOE_QUANT_INT4 : ZMOE_QUANT_INT8;
        set_why(h, "quant.format", "%stype = int, num_bits = %lld", gpre, (long long)bits);
    }
    if (!strcmp(strategy, "group")) {
        if (is_float)
            return fail(h, "field '%sstrategy': \"group\" with float weights (zmoe reads fp8 "
                           "channel or 128x128 block scales)", gpre);
        if (!has_gs || gs <= 0)
            return fail(h, "field '%sgroup_size': expected a group size with strategy group, "
                           "found %s", gpre, has_gs ? "a value <= 0" : "nothing");
        c->quant.group_size = (uint32_t)gs;
        set_why(h, "quant.group_size", "%sstrategy = group, group_size = %lld", gpre,
                (long long)gs);
    } else if (!strcmp(strategy, "channel")) {
        c->quant.group_size = 0;
        set_why(h, "quant.group_size", "%sstrategy = channel (one scale per output channel)", gpre);
    } else if (!strcmp(strategy, "block") && is_float) {
        int bs = obj_get(h, w, "", "block_structure");
        if (bs == -2)
            return ZMOE_ERR_CONFIG;
        bool b128 = bs >= 0 && h->tok[bs].type == JSMN_ARRAY && h->tok[bs].size == 2 &&
                    tok_is(h, bs + 1, "128") && tok_is(h, bs + 2, "128");
        if (!b128)
            return fail(h, "field '%sblock_structure': expected [128, 128] (the fp8 blocks zmoe "
                           "reads), found %s", gpre, bs < 0 ? "nothing" : show(h, bs, b, sizeof b));
        c->quant.group_size = 128;
        set_why(h, "quant.group_size", "%sstrategy = block, block_structure = [128, 128]", gpre);
    } else {
        return fail(h, "field '%sstrategy': \"%s\" is not a scale layout zmoe reads (%s)", gpre,
                    strategy, is_float ? "channel or block" : "group or channel");
    }
    if ((st = q_bool(h, w, gpre, "symmetric", true, &v, &p)))
        return st;
    if (!v && is_float)
        return fail(h, "field '%ssymmetric': false with float weights (fp8 has no zero point)",
                    gpre);
    c->quant.zero_points = !v;
    set_why(h, "quant.zero_points", "%ssymmetric = %s%s", gpre, v ? "true" : "false",
            v ? "" : " (weight_zero_point)");
    c->quant.act_order = ct_act;
    if (!has_order)
        set_why(h, "quant.act_order", "%sactorder null or absent: columns in order", gpre);
    else
        set_why(h, "quant.act_order", "%sactorder = \"%s\"%s", gpre, order,
                ct_act ? " (weight_g_idx gives each column's group)"
                       : " (no g_idx stored: groups in column order)");
    c->quant.packing = ZMOE_PACK_COMPRESSED_TENSORS;
    set_why(h, "quant.packing", "%squant_method = \"compressed-tensors\", format = \"%s\"", pre,
            fmt);
    if (is_float)
        scale_from_dtype(h, c, "compressed-tensors stores fp8 weight_scale in the model dtype "
                               "(torch_dtype)");
    else
        scale_from_dtype(h, c, "compressed-tensors stores weight_scale in the model dtype "
                               "(torch_dtype)");
    /* A shared expert in the ignore list stays float. */
    int ig = obj_get(h, q, pre, "ignore");
    if (ig == -2)
        return ZMOE_ERR_CONFIG;
    if (ig >= 0 && h->tok[ig].type == JSMN_ARRAY) {
        for (int k = 0, i = ig + 1; k < h->tok[ig].size; k++, i = tok_skip(h, i)) {
            const jsmntok_t *t = &h->tok[i];
            if (t->type == JSMN_STRING && t->end - t->start < 200 &&
                memmem(h->js + t->start, (size_t)(t->end - t->start), "shared_expert", 13)) {
                c->quant.shared_experts = false;
                /* The entry goes into a comment: printable ASCII only (a config file is
                 * UTF-8 and the entry could be anything). */
                show(h, i, b, sizeof b);
                for (char *ch = b; *ch; ch++)
                    if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f)
                        *ch = '?';
                set_why(h, "quant.shared_experts", "%signore lists %s: the shared experts stay "
                        "float", pre, b);
                break;
            }
        }
    }
    return ZMOE_OK;
}

static enum zmoe_status import_quant(struct hf *h, struct zmoe_config *c, int q, bool gpt_oss)
{
    const char *pre = "quantization_config.";
    char b[64], method[64];
    bool p;
    if (h->tok[q].type != JSMN_OBJECT)
        return fail(h, "field 'quantization_config': expected an object, found %s",
                    show(h, q, b, sizeof b));
    enum zmoe_status st = get_str(h, q, pre, "quant_method", method, sizeof method, &p);
    if (st)
        return st;
    if (!p)
        return fail(h, "field '%squant_method': missing (gptq, awq, auto-round, "
                       "compressed-tensors, fp8 or mxfp4)", pre);
    if (!strcmp(method, "gptq")) {
        st = import_gptq(h, c, q, method);
    } else if (!strcmp(method, "awq")) {
        st = import_awq(h, c, q);
    } else if (!strcmp(method, "auto-round")) {
        /* Intel AutoRound's own export: the tensors are GPTQ's or AWQ's, packing_format
         * says which (what vLLM's AutoRoundConfig accepts too). */
        char pf[64], dt[32];
        if ((st = get_str(h, q, pre, "packing_format", pf, sizeof pf, &p)))
            return st;
        if (!p)
            return fail(h, "field '%spacking_format': missing (auto_round:auto_gptq or "
                           "auto_round:auto_awq)", pre);
        if ((st = get_str(h, q, pre, "data_type", dt, sizeof dt, &p)))
            return st;
        if (p && strcmp(dt, "int") != 0)
            return fail(h, "field '%sdata_type': \"%s\" (zmoe reads AutoRound's int formats)", pre,
                        dt);
        if (!strcmp(pf, "auto_round:auto_gptq") || !strcmp(pf, "auto_round:gptq"))
            st = import_gptq(h, c, q, "auto-round");
        else if (!strcmp(pf, "auto_round:auto_awq") || !strcmp(pf, "auto_round:awq"))
            st = import_awq(h, c, q);
        else
            return fail(h, "field '%spacking_format': \"%s\" is not a packing zmoe reads "
                           "(auto_round:auto_gptq, auto_round:auto_awq)", pre, pf);
        if (!st)
            set_why(h, "quant.packing", "%squant_method = \"auto-round\", packing_format = \"%s\"",
                    pre, pf);
    } else if (!strcmp(method, "compressed-tensors")) {
        st = import_ct(h, c, q);
    } else if (!strcmp(method, "fp8")) {
        /* transformers' FineGrainedFP8Config (DeepSeek-V3, Qwen3-FP8): e4m3 weights with
         * weight_scale_inv per weight_block_size block. */
        char fmt[32], act[32];
        if ((st = get_str(h, q, pre, "fmt", fmt, sizeof fmt, &p)))
            return st;
        if (p && strcmp(fmt, "e4m3") != 0)
            return fail(h, "field '%sfmt': \"%s\" is not an fp8 format zmoe keeps (e4m3)", pre, fmt);
        if ((st = get_str(h, q, pre, "activation_scheme", act, sizeof act, &p)))
            return st;
        /* dynamic: the checkpoint holds no activation scales (activations are quantized
         * per token at run time by engines that do); zmoe runs it weight-only in the
         * model dtype. static would need input scales the experts cannot use. */
        if (p && strcmp(act, "dynamic") != 0)
            return fail(h, "field '%sactivation_scheme': \"%s\": static activation quantization "
                           "(W8A8 with input scales) is not something zmoe does", pre, act);
        int bs = obj_get(h, q, pre, "weight_block_size");
        if (bs == -2)
            return ZMOE_ERR_CONFIG;
        bool b128 = bs >= 0 && h->tok[bs].type == JSMN_ARRAY && h->tok[bs].size == 2 &&
                    tok_is(h, bs + 1, "128") && tok_is(h, bs + 2, "128");
        if (!b128)
            return fail(h, "field '%sweight_block_size': expected [128, 128] (the fp8 blocks zmoe "
                           "reads), found %s", pre, bs < 0 ? "nothing" : show(h, bs, b, sizeof b));
        c->quant.format = ZMOE_QUANT_FP8;
        c->quant.packing = ZMOE_PACK_NATIVE;
        c->quant.group_size = 128;
        c->quant.scale_dtype = ZMOE_SCALE_F32;
        set_why(h, "quant.format", "%squant_method = \"fp8\", fmt = \"e4m3\"", pre);
        set_why(h, "quant.packing", "%squant_method = \"fp8\": weight + weight_scale_inv", pre);
        set_why(h, "quant.group_size", "%sweight_block_size = [128, 128]", pre);
        set_why(h, "quant.scale_dtype", "weight_scale_inv is float32");
        set_why(h, "quant.zero_points", "fp8 has no zero point");
        set_why(h, "quant.act_order", "fp8 has no act-order");
        if (p)
            add_note(h, "%sactivation_scheme = \"dynamic\": zmoe keeps activations in %s "
                        "(weight-only fp8)", pre, zmoe_config_dtype_name(c->dtype.activations));
    } else if (!strcmp(method, "mxfp4")) {
        if (!gpt_oss)
            return fail(h, "field '%squant_method': \"mxfp4\" outside GPT-OSS (the one family "
                           "zmoe reads MXFP4 experts of)", pre);
        c->quant.format = ZMOE_QUANT_MXFP4;
        c->quant.packing = ZMOE_PACK_NATIVE;
        c->quant.group_size = 32;
        c->quant.scale_dtype = ZMOE_SCALE_E8M0;
        set_why(h, "quant.format", "%squant_method = \"mxfp4\" (e2m1 values)", pre);
        set_why(h, "quant.packing", "GPT-OSS: gate_up_proj_blocks/_scales, down_proj_blocks/_scales");
        set_why(h, "quant.group_size", "MXFP4: one scale per 32 values");
        set_why(h, "quant.scale_dtype", "MXFP4: e8m0 scales (*_scales U8)");
        set_why(h, "quant.zero_points", "MXFP4 has no zero point");
        set_why(h, "quant.act_order", "MXFP4 has no act-order");
    } else {
        return fail(h, "field '%squant_method': \"%s\" is not a quantization zmoe reads (gptq, "
                       "awq, auto-round, compressed-tensors, fp8, mxfp4)", pre, method);
    }
    if (st)
        return st;
    if (!zmoe_config_hf_why(h->out, "quant.shared_experts"))
        set_why(h, "quant.shared_experts", c->model.shared_experts
                ? "%squant_method = \"%s\" quantizes the shared experts too"
                : "%squant_method = \"%s\" (no shared experts)", pre, method);
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ driver */

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static enum zmoe_status set_file(struct hf *h, const char *model_dir, bool probe)
{
    struct zmoe_config *c = &h->out->cfg;
    size_t dl = strlen(model_dir);
    while (dl > 1 && model_dir[dl - 1] == '/')
        dl--;
    const char *const names[] = {"model.safetensors.index.json", "model.safetensors"};
    char path[ZMOE_PATH_MAX + 64];
    int pick = 0;
    for (int i = 0; probe && i < 2; i++) {
        snprintf(path, sizeof path, "%.*s/%s", (int)dl, model_dir, names[i]);
        if (file_exists(path)) {
            pick = i;
            break;
        }
        if (i == 1) {
            pick = 0;
            add_note(h, "no %.*s/model.safetensors.index.json or model.safetensors yet: "
                        "weights.file names the index", (int)dl, model_dir);
        }
    }
    for (size_t k = 0; k < dl; k++)
        if ((unsigned char)model_dir[k] < 0x20 || model_dir[k] == 0x7f)
            return fail(h, "the model directory's path has a control byte 0x%02x at %zu (a "
                           "config file cannot hold it)", (unsigned char)model_dir[k], k);
    int len = snprintf(path, sizeof path, "%.*s/%s", (int)dl, model_dir, names[pick]);
    if (len < 0 || (size_t)len > INI_PATH_MAX)
        return fail(h, "the model directory's path is too long: weights.file '%.*s/%s' would "
                       "have %d characters, a config file holds at most %u",
                    (int)(dl > 64 ? 64 : dl), model_dir, names[pick], len, INI_PATH_MAX);
    memcpy(c->weights.file, path, (size_t)len + 1);
    set_why(h, "weights.file", "the checkpoint in the model directory (%s)",
            pick == 0 ? "a sharded set's index" : "a single file");
    return ZMOE_OK;
}

enum zmoe_status zmoe_config_import_hf_json(const char *json, size_t len, const char *name,
                                            const char *model_dir,
                                            struct zmoe_hf_import *out,
                                            struct zmoe_error *err);

static enum zmoe_status import_json(const char *json, size_t len, const char *name,
                                    const char *model_dir, bool probe, struct zmoe_hf_import *out,
                                    struct zmoe_error *err)
{
    struct hf h = {.js = json, .name = name, .err = err, .out = out, .scope_name = ""};
    memset(out, 0, sizeof *out);
    snprintf(out->source, sizeof out->source, "%s", name);
    struct zmoe_config *c = &out->cfg;
    zmoe_config_defaults(c);
    if (len > ZMOE_HF_MAX_JSON)
        return fail(&h, "%zu bytes: more than the %u a config.json may hold", len,
                    ZMOE_HF_MAX_JSON);
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, json, len, NULL, 0);
    if (n < 1) {
        /* The failing offset is where jsmn stopped. */
        return fail(&h, "not valid JSON (%s near byte %u)",
                    n == JSMN_ERROR_PART ? "unexpected end" : n == 0 ? "empty" : "syntax error",
                    p.pos);
    }
    h.tok = malloc((size_t)n * sizeof *h.tok);
    if (!h.tok) {
        fail(&h, "out of memory for %d JSON tokens", n);
        return ZMOE_ERR_NO_MEMORY;
    }
    jsmn_init(&p);
    h.ntok = jsmn_parse(&p, json, len, h.tok, (unsigned)n);
    enum zmoe_status st = ZMOE_OK;
    char b[64];
    if (h.ntok != n) {
        st = fail(&h, "not valid JSON (syntax error near byte %u)", p.pos);
        goto out;
    }
    if (h.tok[0].type != JSMN_OBJECT) {
        st = fail(&h, "expected a JSON object, found %s", show(&h, 0, b, sizeof b));
        goto out;
    }
    for (size_t i = (size_t)h.tok[0].end; i < len; i++)
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r') {
            st = fail(&h, "text after the JSON object at byte %zu", i);
            goto out;
        }
    h.scope = 0;

    /* The architecture: architectures[0], cross-checked with model_type. */
    char arch_name[64] = "", model_type[64] = "";
    bool p_mt;
    int a = obj_get(&h, 0, "", "architectures");
    if (a == -2 || (st = get_str(&h, 0, "", "model_type", model_type, sizeof model_type, &p_mt))) {
        st = ZMOE_ERR_CONFIG;
        goto out;
    }
    int ai = -1;
    if (a >= 0) {
        if (h.tok[a].type != JSMN_ARRAY || h.tok[a].size < 1 || h.tok[a + 1].type != JSMN_STRING ||
            h.tok[a + 1].end - h.tok[a + 1].start >= (int)sizeof arch_name) {
            st = fail(&h, "field 'architectures': expected a list of class names, found %s",
                      show(&h, a, b, sizeof b));
            goto out;
        }
        snprintf(arch_name, sizeof arch_name, "%.*s", h.tok[a + 1].end - h.tok[a + 1].start,
                 json + h.tok[a + 1].start);
        for (size_t k = 0; k < ARCH_COUNT && ai < 0; k++)
            if (!strcmp(archs[k].architecture, arch_name))
                ai = (int)k;
        if (ai < 0) {
            st = fail(&h, "field 'architectures': %s is not an architecture zmoe imports "
                          "(%s)", show(&h, a + 1, b, sizeof b), ARCH_LIST);
            goto out;
        }
        if (p_mt && strcmp(model_type, archs[ai].model_type) != 0 &&
            !(archs[ai].model_type2 && !strcmp(model_type, archs[ai].model_type2))) {
            st = fail(&h, "field 'model_type': \"%s\" does not match architectures[0] = \"%s\" "
                          "(expected \"%s\")", model_type, arch_name, archs[ai].model_type);
            goto out;
        }
    } else if (p_mt) {
        for (size_t k = 0; k < ARCH_COUNT && ai < 0; k++)
            if (!strcmp(archs[k].model_type, model_type))
                ai = (int)k;
        if (ai < 0) {
            st = fail(&h, "field 'model_type': \"%s\" is not a model type zmoe imports (llama4, "
                          "llama4_text, mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, "
                          "gpt_oss)", model_type);
            goto out;
        }
        snprintf(arch_name, sizeof arch_name, "%s", archs[ai].architecture);
    } else {
        st = fail(&h, "field 'architectures': missing, and no 'model_type' either: the "
                      "architecture is unknown");
        goto out;
    }
    snprintf(out->arch, sizeof out->arch, "%s", arch_name);
    enum arch arch = archs[ai].arch;
    if (arch == A_LLAMA4) {
        int tc = obj_get(&h, 0, "", "text_config");
        if (tc == -2) {
            st = ZMOE_ERR_CONFIG;
            goto out;
        }
        if (tc >= 0) {
            if (h.tok[tc].type != JSMN_OBJECT) {
                st = fail(&h, "field 'text_config': expected an object, found %s",
                          show(&h, tc, b, sizeof b));
                goto out;
            }
            h.scope = tc;
            h.scope_name = "text_config.";
        } else if (!strcmp(arch_name, "Llama4ForConditionalGeneration")) {
            st = fail(&h, "field 'text_config': missing (Llama4ForConditionalGeneration keeps the "
                          "language model's fields there)");
            goto out;
        }
    }
    switch (arch) {
    case A_LLAMA4: st = import_llama4(&h, c); break;
    case A_MIXTRAL: st = import_mixtral(&h, c); break;
    case A_QWEN2: st = import_qwen(&h, c, true); break;
    case A_QWEN3: st = import_qwen(&h, c, false); break;
    case A_DSV2: st = import_deepseek(&h, c, false); break;
    case A_DSV3: st = import_deepseek(&h, c, true); break;
    case A_GPTOSS: st = import_gpt_oss(&h, c); break;
    }
    if (st)
        goto out;
    if ((st = get_dtype(&h, c, 0, arch == A_GPTOSS)))
        goto out;

    /* quantization_config: the experts' format ([quant]); see import_quant. */
    int q = obj_get(&h, 0, "", "quantization_config");
    if (q == -2) {
        st = ZMOE_ERR_CONFIG;
        goto out;
    }
    if (q >= 0 && !is_null(&h, q) && (st = import_quant(&h, c, q, arch == A_GPTOSS)))
        goto out;

    c->weights.layout = archs[ai].layout;
    set_why(&h, "weights.layout", "architectures = %s", arch_name);
    if ((st = set_file(&h, model_dir, probe)))
        goto out;
    set_why(&h, "runtime.max_tokens", "zmoe default (not a model field)");
    set_why(&h, "runtime.ring_depth", "zmoe default");
    set_why(&h, "runtime.device", "zmoe default");
    set_why(&h, "runtime.wait_timeout_ms", "zmoe default");
    set_why(&h, "runtime.slot_io", "zmoe default: direct on a CPU or integrated GPU, else copy");
    set_why(&h, "budget.device_bytes", "zmoe default: 0 = unlimited");
    set_why(&h, "budget.host_bytes", "zmoe default: 0 = unlimited");
    if (!c->model.shared_experts)
        set_why(&h, "model.shared_experts", "%s has no shared expert", arch_name);
    /* What the remaining (off) values mean for this architecture. */
    static const struct {
        const char *key, *fmt;
    } off[] = {
        {"router.groups", "%s: plain top-k, no expert groups"},
        {"router.routed_scaling_factor", "%s does not scale the routing weights"},
        {"router.score_correction_bias", "%s has no e_score_correction_bias"},
        {"router.bias", "%s: the router linear has no bias"},
        {"router.apply_router_weight_on_input", "%s weights the experts' outputs"},
        {"router.shared_expert_gate", "%s has no shared_expert_gate"},
        {"experts.bias", "%s: the expert projections have no bias"},
        {"experts.gate_up", "%s: gate rows, then up rows (not interleaved)"},
    };
    for (size_t k = 0; k < sizeof off / sizeof off[0]; k++)
        if (!zmoe_config_hf_why(out, off[k].key))
            set_why(&h, off[k].key, off[k].fmt, arch_name);
    struct zmoe_error verr = {{0}};
    if (zmoe_config_validate(c, &verr) != ZMOE_OK) {
        st = fail(&h, "the fields give a config zmoe refuses: %s", verr.msg);
        goto out;
    }
out:
    free(h.tok);
    return st;
}

enum zmoe_status zmoe_config_import_hf_json(const char *json, size_t len, const char *name,
                                            const char *model_dir,
                                            struct zmoe_hf_import *out, struct zmoe_error *err)
{
    if (!json || !model_dir || !out) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "zmoe_config_import_hf_json: NULL argument");
        return ZMOE_ERR_ARGUMENT;
    }
    return import_json(json, len, name ? name : "config.json", model_dir, false, out, err);
}

enum zmoe_status zmoe_config_import_hf(const char *model_dir, struct zmoe_hf_import *out,
                                       struct zmoe_error *err)
{
    if (!model_dir || !out) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "zmoe_config_import_hf: NULL argument");
        return ZMOE_ERR_ARGUMENT;
    }
    char path[ZMOE_PATH_MAX + 16];
    size_t dl = strlen(model_dir);
    while (dl > 1 && model_dir[dl - 1] == '/')
        dl--;
    snprintf(path, sizeof path, "%.*s/config.json", (int)(dl > ZMOE_PATH_MAX ? ZMOE_PATH_MAX : dl),
             model_dir);
    struct stat sb;
    if (stat(model_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s: not a model directory: %s", model_dir,
                     errno && stat(model_dir, &sb) != 0 ? strerror(errno) : "not a directory");
        return ZMOE_ERR_IO;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s: cannot open: %s (a Hugging Face model "
                     "directory holds config.json)", path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    char *buf = malloc(ZMOE_HF_MAX_JSON + 1);
    size_t n = buf ? fread(buf, 1, ZMOE_HF_MAX_JSON + 1, f) : 0;
    bool rerr = ferror(f);
    fclose(f);
    enum zmoe_status st;
    if (!buf) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
        st = ZMOE_ERR_NO_MEMORY;
    } else if (rerr) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "%s: read error", path);
        st = ZMOE_ERR_IO;
    } else {
        st = import_json(buf, n, path, model_dir, true, out, err);
    }
    free(buf);
    return st;
}

const char *zmoe_config_hf_why(const struct zmoe_hf_import *imp, const char *key)
{
    for (int k = 0; k < WHY_COUNT; k++)
        if (strcmp(why_keys[k], key) == 0)
            return imp->why[k][0] ? imp->why[k] : NULL;
    return NULL;
}

static const char *why_cb(const char *key, void *ctx)
{
    return zmoe_config_hf_why(ctx, key);
}

enum zmoe_status zmoe_config_hf_print(const struct zmoe_hf_import *imp, FILE *out,
                                      struct zmoe_error *err)
{
    char header[2048];
    int n = snprintf(header, sizeof header,
                     "zmoe config imported from %s by `zmoe import`.\n"
                     "Architecture %s -> weights.layout = %s. Each comment names the\n"
                     "config.json field (or the modeling code's fixed rule) behind the value.\n"
                     "[runtime] and [budget] are zmoe defaults: edit them, or keep this file\n"
                     "as is and run with `--model DIR OVERRIDES.conf`.",
                     imp->source, imp->arch, zmoe_config_layout_name(imp->cfg.weights.layout));
    if (n > 0 && (size_t)n < sizeof header && imp->notes[0])
        snprintf(header + n, sizeof header - (size_t)n, "\nNOTE: %s", imp->notes);
    return zmoe_config_print_commented(&imp->cfg, out, header, why_cb, (void *)imp, err);
}
