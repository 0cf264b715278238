/* Quantized checkpoints end to end (issue 13): file -> arena -> layer output through the
 * public API on hostdev, for every format x layout real checkpoints use:
 *   int4 GPTQ / AWQ / compressed-tensors pack-quantized on mixtral, qwen_moe, deepseek
 *   and llama4 (llm-compressor's per-expert linears); int8 GPTQ and compressed-tensors
 *   (pack-quantized W8A16 and int-quantized W8A8 weights); fp8 native 128x128 blocks and
 *   compressed-tensors per-channel on deepseek and qwen_moe; MXFP4 on gpt_oss.
 * Each checkpoint is hand-made by tests/quant/qckpt.c from codes the test chose and
 * configured with [quant] keys in config text; y (and the routing readback) of both
 * layers at T = 1, 5 and max_tokens must match zmoe_ref_forward run on the weights
 * reference/quant_ref dequantizes from the same file. Covered across the cases: top_k 1
 * and > 1, on-input routing on (llama4) and off, GPTQ act-order on and off, symmetric
 * and asymmetric, f16/bf16/f32 scales, shared experts quantized and float, sharded
 * files. Registered twice: the CPU's contiguous spans and a GPU's interleaved split
 * (ZMOE_GEMV_LANES / ZMOE_GEMV_SPANS, runtime/launch.c).
 *
 * Each case first runs a control: the same dequantized weights written as an f32 float
 * checkpoint of the layout (qck_build_float) through today's float loader and kernels,
 * same geometry and routing, against the same reference. It passes without the
 * quantized path, so the config text, the kernel-layout mapping of the written
 * checkpoint and the comparison are known good, and a failing quantized case points at
 * the quantized loader or kernels.
 *
 * Then malformed files, each refused by zmoe_load_weights with ZMOE_ERR_WEIGHTS and a
 * message naming the tensor and the expected and found values (shapes written as the
 * loader writes them today, "[a, b]"; dtypes by their safetensors names): a packed shape not
 * matching weight_shape, scale and zero-point shapes inconsistent with the group size,
 * a g_idx out of range, a piece of the wrong dtype, and checkpoints in another format
 * than the config says.
 *
 * Tolerances (max |y - ref| / max |ref|, f32 activations): the dequantized weights are
 * exact in f32 when scales are f16/bf16 (a <= 8-bit integer times an 11/8-bit mantissa)
 * and for MXFP4 (a power of two times e2m1), so only the f32 accumulation order differs
 * from the f64 reference: 3e-5. With f32 scales (fp8, int with f32 scales) the product
 * code * scale rounds once in f32, possibly differently from the kernel (e.g. fused):
 * 5e-5. */
#include "tests/quant/qckpt.h"
#include "tests/runtime/rt_util.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/zmoe-quant-layers-XXXXXX";

struct geo {
    uint32_t H, I, E, K, shared, shared_i;
};

struct qcase {
    const char *name;
    enum zmoe_weights_layout layout;
    const char *format, *packing; /* [quant] keys */
    struct qck_spec sp;           /* how the file is written */
    struct geo g;
    unsigned shards;
    bool v3;   /* deepseek: sigmoid + score bias + grouped top-k + scaling (else V2 softmax) */
    bool gate; /* qwen_moe shared_expert_gate */
};

static const char *layout_key(enum zmoe_weights_layout l)
{
    switch (l) {
    case ZMOE_LAYOUT_LLAMA4:
        return "llama4";
    case ZMOE_LAYOUT_MIXTRAL:
        return "mixtral";
    case ZMOE_LAYOUT_QWEN_MOE:
        return "qwen_moe";
    case ZMOE_LAYOUT_DEEPSEEK:
        return "deepseek";
    case ZMOE_LAYOUT_GPT_OSS:
        return "gpt_oss";
    default:
        return "synthetic";
    }
}

static const char *scale_key(const char *dt)
{
    return !dt ? NULL : strcmp(dt, "F16") == 0 ? "f16" : strcmp(dt, "BF16") == 0 ? "bf16" : "f32";
}

#define G_MIX {64, 32, 8, 2, 0, 0}
#define G_QWEN {64, 64, 6, 2, 1, 64}
#define G_DS {64, 32, 8, 3, 2, 32}
#define G_L4 {64, 32, 4, 1, 1, 32}
#define G_L4K2 {64, 32, 4, 2, 1, 32}
#define G_BLK {128, 128, 4, 2, 1, 128}
#define G_OSS {64, 32, 4, 2, 0, 0}

/* spec fields: format, bits, group, zero_points, act_order, scale dtype, shared_float */
static const struct qcase cases[] = {
    /* int4 GPTQ */
    {"mixtral gptq int4 g32 asym act-order", ZMOE_LAYOUT_MIXTRAL, "int4", "gptq",
     {QCK_GPTQ, 4, 32, true, true, "F16", false}, G_MIX, 1, false, false},
    {"qwen_moe gptq int4 g64 sym, shared quantized + gate", ZMOE_LAYOUT_QWEN_MOE, "int4", "gptq",
     {QCK_GPTQ, 4, 64, false, false, "F16", false}, G_QWEN, 1, false, true},
    {"deepseek-v3 gptq int4 g32 asym act-order, float shared, sharded", ZMOE_LAYOUT_DEEPSEEK,
     "int4", "gptq", {QCK_GPTQ, 4, 32, true, true, "F16", true}, G_DS, 2, true, false},
    {"llama4 gptq int4 g32 sym act-order top1", ZMOE_LAYOUT_LLAMA4, "int4", "gptq",
     {QCK_GPTQ, 4, 32, false, true, "F16", false}, G_L4, 1, false, false},
    {"qwen_moe gptq int4 g32 asym without g_idx (AutoRound export)", ZMOE_LAYOUT_QWEN_MOE, "int4",
     "gptq", {QCK_GPTQ, 4, 32, true, false, "BF16", false, false, true}, G_QWEN, 1, false, true},
    /* int4 AWQ (always zero points) */
    {"mixtral awq g32", ZMOE_LAYOUT_MIXTRAL, "int4", "awq",
     {QCK_AWQ, 4, 32, true, false, "F16", false}, G_MIX, 2, false, false},
    {"qwen_moe awq g64, float shared", ZMOE_LAYOUT_QWEN_MOE, "int4", "awq",
     {QCK_AWQ, 4, 64, true, false, "F16", true}, G_QWEN, 1, false, true},
    {"deepseek-v2 awq g32 bf16 scales", ZMOE_LAYOUT_DEEPSEEK, "int4", "awq",
     {QCK_AWQ, 4, 32, true, false, "BF16", false}, G_DS, 1, false, false},
    {"llama4 awq g32 top2", ZMOE_LAYOUT_LLAMA4, "int4", "awq",
     {QCK_AWQ, 4, 32, true, false, "F16", false}, G_L4K2, 1, false, false},
    /* int4 compressed-tensors pack-quantized */
    {"mixtral ct int4 g32 sym bf16", ZMOE_LAYOUT_MIXTRAL, "int4", "compressed_tensors",
     {QCK_CT_PACKED, 4, 32, false, false, "BF16", false}, G_MIX, 1, false, false},
    {"qwen_moe ct int4 g32 asym", ZMOE_LAYOUT_QWEN_MOE, "int4", "compressed_tensors",
     {QCK_CT_PACKED, 4, 32, true, false, "F16", false}, G_QWEN, 2, false, true},
    {"deepseek-v3 ct int4 per-channel asym f32 scales", ZMOE_LAYOUT_DEEPSEEK, "int4",
     "compressed_tensors", {QCK_CT_PACKED, 4, 0, true, false, "F32", false}, G_DS, 1, true, false},
    {"llama4 ct int4 g32 sym bf16 (llm-compressor), float shared", ZMOE_LAYOUT_LLAMA4, "int4",
     "compressed_tensors", {QCK_CT_PACKED, 4, 32, false, false, "BF16", true}, G_L4, 1, false, false},
    {"mixtral ct int4 g32 asym, legacy I8 zero point (compressed-tensors < 0.10)", ZMOE_LAYOUT_MIXTRAL,
     "int4", "compressed_tensors", {QCK_CT_PACKED, 4, 32, true, false, "BF16", false, true}, G_MIX, 1,
     false, false},
    {"llama4 ct int4 g32 asym sharded top2", ZMOE_LAYOUT_LLAMA4, "int4", "compressed_tensors",
     {QCK_CT_PACKED, 4, 32, true, false, "BF16", false}, G_L4K2, 2, false, false},
    /* int8 */
    {"mixtral gptq int8 g32 sym", ZMOE_LAYOUT_MIXTRAL, "int8", "gptq",
     {QCK_GPTQ, 8, 32, false, false, "F16", false}, G_MIX, 1, false, false},
    {"qwen_moe gptq int8 g32 asym act-order", ZMOE_LAYOUT_QWEN_MOE, "int8", "gptq",
     {QCK_GPTQ, 8, 32, true, true, "F16", false}, G_QWEN, 1, false, true},
    {"deepseek-v3 ct int8 pack-quantized (W8A16) per-channel sym", ZMOE_LAYOUT_DEEPSEEK, "int8",
     "compressed_tensors", {QCK_CT_PACKED, 8, 0, false, false, "BF16", false}, G_DS, 1, true, false},
    {"qwen_moe ct int8 int-quantized (W8A8) per-channel sym", ZMOE_LAYOUT_QWEN_MOE, "int8",
     "compressed_tensors", {QCK_CT_INT8, 8, 0, false, false, "BF16", false}, G_QWEN, 1, false, true},
    {"llama4 ct int8 int-quantized g32 asym", ZMOE_LAYOUT_LLAMA4, "int8", "compressed_tensors",
     {QCK_CT_INT8, 8, 32, true, false, "F16", false}, G_L4, 1, false, false},
    /* fp8 */
    {"deepseek-v3 fp8 native 128x128 blocks", ZMOE_LAYOUT_DEEPSEEK, "fp8", "native",
     {QCK_FP8_NATIVE, 8, 128, false, false, "F32", false}, G_BLK, 2, true, false},
    {"qwen_moe fp8 native 128x128 blocks, bf16 weight_scale_inv, float shared", ZMOE_LAYOUT_QWEN_MOE,
     "fp8", "native", {QCK_FP8_NATIVE, 8, 128, false, false, "BF16", true}, G_BLK, 1, false, true},
    {"deepseek-v2 fp8 ct per-channel bf16", ZMOE_LAYOUT_DEEPSEEK, "fp8", "compressed_tensors",
     {QCK_FP8_CT, 8, 0, false, false, "BF16", false}, G_DS, 1, false, false},
    {"qwen_moe fp8 ct per-channel f32", ZMOE_LAYOUT_QWEN_MOE, "fp8", "compressed_tensors",
     {QCK_FP8_CT, 8, 0, false, false, "F32", false}, G_QWEN, 1, false, true},
    /* mxfp4 */
    {"gpt_oss mxfp4", ZMOE_LAYOUT_GPT_OSS, "mxfp4", "native",
     {QCK_MXFP4, 4, 32, false, false, NULL, false}, G_OSS, 1, false, false},
    {"gpt_oss mxfp4 sharded", ZMOE_LAYOUT_GPT_OSS, "mxfp4", "native",
     {QCK_MXFP4, 4, 32, false, false, NULL, false}, {64, 64, 8, 4, 0, 0}, 2, false, false},
};

static double tolerance(const struct qcase *k)
{
    const char *sdt = qck_scale_dtype(&k->sp);
    return strcmp(sdt, "F32") == 0 ? 5e-5 : 3e-5;
}

/* The path qck_write will produce for stem (it is configured before the file exists:
 * the config validator wants weights.file when packing is set). */
static void ckpt_path(char *buf, size_t n, const char *stem, unsigned shards)
{
    snprintf(buf, n, shards > 1 ? "%s/%s.safetensors.index.json" : "%s/%s.safetensors", dir, stem);
}

/* The config of a case as text, [quant] keys included (format/packing as the case
 * says; group_size/zero_points/act_order/scale_dtype/shared_experts spelled out). */
static void config_text(char *buf, size_t n, const struct qcase *k, const struct qck_spec *sp,
                        const char *format, const char *packing, const char *file,
                        const char *weights_dtype)
{
    const struct geo *g = &k->g;
    const enum zmoe_weights_layout L = k->layout;
    const bool l4 = L == ZMOE_LAYOUT_LLAMA4, oss = L == ZMOE_LAYOUT_GPT_OSS;
    const bool sigmoid = l4 || (L == ZMOE_LAYOUT_DEEPSEEK && k->v3);
    size_t o = 0;
#define P(...) o += (size_t)snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__)
    P("[model]\nhidden = %u\nintermediate = %u\nexperts = %u\ntop_k = %u\nlayers = 2\n", g->H, g->I,
      g->E, g->K);
    if (g->shared)
        P("shared_experts = %u\nshared_intermediate = %u\n", g->shared, g->shared_i);
    P("\n[router]\nscoring = %s\nrenormalize = %s\n", sigmoid ? "sigmoid" : "softmax",
      l4 || (L == ZMOE_LAYOUT_DEEPSEEK && !k->v3) ? "false" : "true");
    if (l4)
        P("apply_router_weight_on_input = true\n");
    if (L == ZMOE_LAYOUT_DEEPSEEK && k->v3)
        P("score_correction_bias = true\ngroups = %u\ntopk_group = %u\nrouted_scaling_factor = 2.5\n",
          g->E / 2, g->E / 4); /* a group is scored by its two best experts */
    if (k->gate)
        P("shared_expert_gate = true\n");
    if (oss)
        P("bias = true\n");
    P("\n[experts]\n");
    if (oss)
        P("activation = swiglu_oai\nswiglu_alpha = 1.702\nswiglu_limit = 7.0\nbias = true\n"
          "gate_up = interleaved\n");
    else
        P("activation = silu\n");
    P("\n[dtype]\nweights = %s\nactivations = f32\n", weights_dtype);
    if (format) { /* NULL: the float control, no [quant] section */
        P("\n[quant]\nformat = %s\npacking = %s\n", format, packing);
        if (strcmp(format, "mxfp4") == 0)
            P("group_size = 32\nscale_dtype = e8m0\n");
        else {
            P("group_size = %u\nscale_dtype = %s\n", sp->group, scale_key(qck_scale_dtype(sp)));
            if (strcmp(format, "fp8") != 0)
                P("zero_points = %s\nact_order = %s\n", sp->zero_points ? "true" : "false",
                  sp->act_order ? "true" : "false");
        }
        if (g->shared)
            P("shared_experts = %s\n", sp->shared_float ? "false" : "true");
    }
    P("\n[runtime]\nmax_tokens = 8\nring_depth = 2\ndevice = host\nwait_timeout_ms = 30000\n");
    P("\n[weights]\nfile = %s\nlayout = %s\n", file, layout_key(L));
#undef P
    if (o >= n)
        tap_bail("config text too long");
}

static bool parse(const char *text, const char *what, struct zmoe_config *c)
{
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_config_parse(text, strlen(text), what, c, &err);
    if (st != ZMOE_OK) {
        tap_diag("%s: config: %s: %s\n%s", what, zmoe_status_str(st), err.msg, text);
        return false;
    }
    return true;
}

static const uint32_t Ts[3] = {1, 5, 8};

/* Both layers at every T: y within tol of zmoe_ref_forward on ref, same routing.
 * rt may be NULL (load failed): every check then fails. */
static void compare(struct zmoe_runtime *rt, const struct zmoe_config *c,
                    const struct zmoe_ref_weights *ref, const char *what, uint64_t seed, double tol)
{
    const uint32_t H = c->model.hidden, K = c->model.top_k;
    float *y = calloc((size_t)8 * H, sizeof *y), *yr = calloc((size_t)8 * H, sizeof *yr);
    uint32_t *ids = calloc((size_t)8 * K, sizeof *ids), *idr = calloc((size_t)8 * K, sizeof *idr);
    for (uint32_t l = 0; l < 2; l++)
        for (int ti = 0; ti < 3; ti++) {
            const uint32_t T = Ts[ti];
            float *x = rt_inputs(c, T, seed + 10 * l + (uint64_t)ti);
            zmoe_ref_forward(c, &ref[l], x, T, ZMOE_REF_AS_CONFIGURED, yr, idr, NULL);
            double scale = 0, rel = INFINITY;
            bool same_ids = false;
            if (rt && rt_forward_routed(rt, c, l, x, T, y, ids, NULL) == ZMOE_OK) {
                rel = rt_rel_error(y, yr, (size_t)T * H, &scale);
                same_ids = memcmp(ids, idr, (size_t)T * K * sizeof *ids) == 0;
            }
            if (!TAP_OK(rel <= tol && same_ids,
                        "%s: layer %u T=%u: y within %.0e of the reference, same routing", what, l,
                        T, tol))
                tap_diag("  relative error %.3g (output scale %.3g), routing %s", rel, scale,
                         same_ids ? "equal" : "differs");
            free(x);
        }
    free(y);
    free(yr);
    free(ids);
    free(idr);
}

static void run_case(const struct qcase *k, unsigned idx)
{
    char stem[32], path[600], text[4096];
    snprintf(stem, sizeof stem, "case%u", idx);
    ckpt_path(path, sizeof path, stem, k->shards);
    config_text(text, sizeof text, k, &k->sp, k->format, k->packing, path, "bf16");
    struct zmoe_config c;
    bool ok = parse(text, k->name, &c);
    TAP_OK(ok, "%s: config with [quant] format = %s, packing = %s parses", k->name, k->format,
           k->packing);
    if (!ok) {
        for (int i = 0; i < 2 * (1 + 2 * 3); i++)
            TAP_OK(false, "%s: (no config)", k->name);
        return;
    }
    struct qck_ckpt ck = {0};
    struct zmoe_ref_weights ref[2];
    const char *prefix = k->layout == ZMOE_LAYOUT_LLAMA4 ? "language_model.model.layers." : "model.layers.";
    if (qck_build_moe(&ck, &c, &k->sp, prefix, 1000 + idx, ref) != 0)
        tap_bail("%s: the writer refused the spec", k->name);
    const char *written = qck_write(&ck, dir, stem, k->shards);
    if (strcmp(written, path) != 0)
        tap_bail("%s: wrote %s, configured %s", k->name, written, path);
    qck_free(&ck);

    /* the control: the same dequantized weights as an f32 float checkpoint through
     * today's loader and kernels, same config otherwise; it shows that the checkpoint
     * mapping, the config and the reference agree, so that a quantized failure below is
     * the quantized path's */
    char fstem[40], fpath[600], ftext[4096];
    snprintf(fstem, sizeof fstem, "case%u-float", idx);
    ckpt_path(fpath, sizeof fpath, fstem, 1);
    config_text(ftext, sizeof ftext, k, &k->sp, NULL, NULL, fpath, "f32");
    struct zmoe_config fc;
    if (!parse(ftext, k->name, &fc))
        tap_bail("%s: the float control's config does not parse", k->name);
    qck_build_float(&ck, &fc, ref, prefix, ZMOE_DTYPE_F32);
    qck_write(&ck, dir, fstem, 1);
    qck_free(&ck);
    char what[200];
    snprintf(what, sizeof what, "%s, float control", k->name);
    struct zmoe_runtime *rt = rt_create(&fc, what);
    TAP_OK(rt != NULL, "%s: the f32 checkpoint of the dequantized weights loads", what);
    compare(rt, &fc, ref, what, 77 * idx, 3e-5);
    if (rt)
        zmoe_destroy(rt);

    rt = rt_create(&c, k->name);
    TAP_OK(rt != NULL, "%s: zmoe_create + zmoe_load_weights", k->name);
    compare(rt, &c, ref, k->name, 77 * idx, tolerance(k));
    if (rt)
        zmoe_destroy(rt);
    qck_ref_free(ref, 2);
}

/* ------------------------------------------------------------------ malformed files */

/* Loads cfg; returns the status and the message. */
static enum zmoe_status load(const struct zmoe_config *c, char *msg, size_t n)
{
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = c};
    struct zmoe_runtime *rt = NULL;
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (st == ZMOE_OK) {
        st = zmoe_load_weights(rt, &err);
        zmoe_destroy(rt);
    }
    snprintf(msg, n, "%s", err.msg);
    return st;
}

/* What a malformed case changes in the written checkpoint. */
typedef void (*corrupt_fn)(struct qck_ckpt *ck, char *tensor, size_t n);

static void set_i64(struct stw_tensor *t, int i, int64_t v)
{
    unsigned char *p = (unsigned char *)t->data + 8 * i;
    for (int b = 0; b < 8; b++)
        p[b] = (unsigned char)((uint64_t)v >> (8 * b));
}

static struct stw_tensor *must(struct qck_ckpt *ck, const char *name)
{
    struct stw_tensor *t = qck_find(ck, name);
    if (!t)
        tap_bail("no tensor %s in the written checkpoint", name);
    return t;
}

/* ct: expert 1's gate_proj says weight_shape [32, 96] while weight_packed is [32, 8]
 * (in = 64) */
static void bad_weight_shape(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.0.mlp.experts.1.gate_proj.weight_shape");
    set_i64(must(ck, tensor), 1, 96);
}

/* ct: expert 2's up_proj weight_packed [32, 12] (in/8 would be 8) with a correct
 * weight_shape [32, 64] */
static void bad_packed_shape(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.1.mlp.experts.2.up_proj.weight_packed");
    struct stw_tensor *t = must(ck, tensor);
    t->shape[1] = 12;
    qck_realloc(t, 32 * 12 * 4);
}

/* gptq g32: expert 0's down_proj (in = I = 32, one group) with scales [3, 64] */
static void bad_scales_group(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.0.mlp.experts.0.down_proj.scales");
    struct stw_tensor *t = must(ck, tensor);
    t->shape[0] = 3;
    qck_realloc(t, 3 * 64 * 2);
}

/* awq g32: expert 3's gate_proj (in = H = 64: 2 groups, out = 32: 4 words) with qzeros
 * [2, 5] */
static void bad_zeros_shape(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.1.mlp.experts.3.gate_proj.qzeros");
    struct stw_tensor *t = must(ck, tensor);
    t->shape[1] = 5;
    qck_realloc(t, 2 * 5 * 4);
}

/* ct asym: weight_zero_point with 3 groups per row where group 32 of in = 64 gives 2 */
static void bad_zp_shape(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.0.mlp.experts.0.up_proj.weight_zero_point");
    struct stw_tensor *t = must(ck, tensor);
    t->shape[1] = 3;
    qck_realloc(t, t->shape[0] * 3 * 4);
}

/* gptq act-order: expert 1's up_proj g_idx[5] = 77 (2 groups) */
static void bad_g_idx(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.0.mlp.experts.1.up_proj.g_idx");
    unsigned char *p = (unsigned char *)must(ck, tensor)->data + 4 * 5;
    p[0] = 77;
    p[1] = p[2] = p[3] = 0;
}

/* gptq act-order: expert 2's up_proj g_idx differs from its gate_proj's (two columns of
 * different groups swapped: still a valid g_idx on its own), which one column
 * permutation per expert cannot serve */
static void bad_g_idx_pair(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.1.mlp.experts.2.up_proj.g_idx");
    unsigned char *p = (unsigned char *)must(ck, tensor)->data;
    for (int i = 1; i < 64; i++)
        if (p[4 * i] != p[0]) {
            unsigned char t = p[0];
            p[0] = p[4 * i];
            p[4 * i] = t;
            return;
        }
    tap_bail("g_idx with a single group");
}

/* gptq: qweight stored as F32 (same bytes, wrong dtype) */
static void bad_dtype(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.1.mlp.experts.0.down_proj.qweight");
    must(ck, tensor)->dtype = "F32";
}

/* fp8 native 128x128 blocks: expert 2's down_proj weight_scale_inv stored as I32 */
static void bad_scale_dtype(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.0.mlp.experts.2.down_proj.weight_scale_inv");
    must(ck, tensor)->dtype = "I32";
}

/* mxfp4: down_proj_scales [E, H, 1] stored as I8 */
static void bad_mx_dtype(struct qck_ckpt *ck, char *tensor, size_t n)
{
    snprintf(tensor, n, "model.layers.1.mlp.experts.down_proj_scales");
    must(ck, tensor)->dtype = "I8";
}

struct bad_case {
    const char *name;
    enum zmoe_weights_layout layout;
    const char *format, *packing; /* what the config says (NULL: no [quant] section) */
    struct qck_spec file;         /* what the file holds */
    struct qck_spec cfgspec;      /* the config's quant keys */
    struct geo g;
    corrupt_fn corrupt; /* NULL: the file is well-formed but in another format */
    const char *want[3]; /* substrings of the message besides the tensor name */
};

static const struct bad_case bad_cases[] = {
    {"weight_shape not matching weight_packed", ZMOE_LAYOUT_QWEN_MOE, "int4", "compressed_tensors",
     {QCK_CT_PACKED, 4, 32, false, false, "BF16", false}, {QCK_CT_PACKED, 4, 32, false, false, "BF16", false},
     {64, 32, 4, 2, 0, 0}, bad_weight_shape, {"[32, 64]", "[32, 96]", NULL}},
    {"weight_packed shape not matching weight_shape", ZMOE_LAYOUT_QWEN_MOE, "int4", "compressed_tensors",
     {QCK_CT_PACKED, 4, 32, false, false, "BF16", false}, {QCK_CT_PACKED, 4, 32, false, false, "BF16", false},
     {64, 32, 4, 2, 0, 0}, bad_packed_shape, {"[32, 8]", "[32, 12]", NULL}},
    {"gptq scales rows not matching the group size", ZMOE_LAYOUT_QWEN_MOE, "int4", "gptq",
     {QCK_GPTQ, 4, 32, true, false, "F16", false}, {QCK_GPTQ, 4, 32, true, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, bad_scales_group, {"[1, 64]", "[3, 64]", NULL}},
    {"awq qzeros shape", ZMOE_LAYOUT_QWEN_MOE, "int4", "awq",
     {QCK_AWQ, 4, 32, true, false, "F16", false}, {QCK_AWQ, 4, 32, true, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, bad_zeros_shape, {"[2, 4]", "[2, 5]", NULL}},
    {"ct weight_zero_point groups not matching the group size", ZMOE_LAYOUT_QWEN_MOE, "int4",
     "compressed_tensors", {QCK_CT_PACKED, 4, 32, true, false, "BF16", false},
     {QCK_CT_PACKED, 4, 32, true, false, "BF16", false}, {64, 32, 4, 2, 0, 0}, bad_zp_shape,
     {"[4, 2]", "[4, 3]", NULL}},
    {"gptq g_idx out of range", ZMOE_LAYOUT_QWEN_MOE, "int4", "gptq",
     {QCK_GPTQ, 4, 32, true, true, "F16", false}, {QCK_GPTQ, 4, 32, true, true, "F16", false},
     {64, 32, 4, 2, 0, 0}, bad_g_idx, {"77", NULL, NULL}},
    {"gptq act-order: up_proj g_idx differs from gate_proj's", ZMOE_LAYOUT_QWEN_MOE, "int4", "gptq",
     {QCK_GPTQ, 4, 32, true, true, "F16", false}, {QCK_GPTQ, 4, 32, true, true, "F16", false},
     {64, 32, 4, 2, 0, 0}, bad_g_idx_pair, {"gate_proj", NULL, NULL}},
    {"gptq qweight of dtype F32", ZMOE_LAYOUT_QWEN_MOE, "int4", "gptq",
     {QCK_GPTQ, 4, 32, false, false, "F16", false}, {QCK_GPTQ, 4, 32, false, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, bad_dtype, {"F32", "I32", NULL}},
    {"fp8 weight_scale_inv of dtype I32", ZMOE_LAYOUT_QWEN_MOE, "fp8", "native",
     {QCK_FP8_NATIVE, 8, 128, false, false, "F32", false}, {QCK_FP8_NATIVE, 8, 128, false, false, "F32", false},
     {128, 128, 4, 2, 0, 0}, bad_scale_dtype, {"I32", "F32", NULL}},
    {"mxfp4 scales of dtype I8", ZMOE_LAYOUT_GPT_OSS, "mxfp4", "native",
     {QCK_MXFP4, 4, 32, false, false, NULL, false}, {QCK_MXFP4, 4, 32, false, false, NULL, false},
     {64, 32, 4, 2, 0, 0}, bad_mx_dtype, {"I8", "U8", NULL}},
    /* a checkpoint in another format than the config says: the error names both */
    {"gptq file, config awq", ZMOE_LAYOUT_MIXTRAL, "int4", "awq",
     {QCK_GPTQ, 4, 32, true, false, "F16", false}, {QCK_AWQ, 4, 32, true, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, NULL, {"awq", "gptq", NULL}},
    {"compressed-tensors file, config gptq", ZMOE_LAYOUT_MIXTRAL, "int4", "gptq",
     {QCK_CT_PACKED, 4, 32, false, false, "F16", false}, {QCK_GPTQ, 4, 32, false, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, NULL, {"gptq", "compressed", NULL}},
    {"fp8 native file, config compressed_tensors", ZMOE_LAYOUT_QWEN_MOE, "fp8", "compressed_tensors",
     {QCK_FP8_NATIVE, 8, 0, false, false, "F32", false}, {QCK_FP8_CT, 8, 0, false, false, "F32", false},
     {64, 32, 4, 2, 0, 0}, NULL, {"compressed", "native", NULL}},
    {"gptq file, config without [quant] (float experts)", ZMOE_LAYOUT_MIXTRAL, NULL, NULL,
     {QCK_GPTQ, 4, 32, true, false, "F16", false}, {QCK_GPTQ, 4, 32, true, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, NULL, {"qweight", "quant", NULL}},
    {"int4 gptq file, config int8 gptq", ZMOE_LAYOUT_MIXTRAL, "int8", "gptq",
     {QCK_GPTQ, 4, 32, false, false, "F16", false}, {QCK_GPTQ, 8, 32, false, false, "F16", false},
     {64, 32, 4, 2, 0, 0}, NULL, {"qweight", NULL, NULL}},
};

static void run_bad(const struct bad_case *b, unsigned idx)
{
    char stem[32], path[600], text[4096], tensor[256] = "", msg[ZMOE_ERROR_MAX];
    snprintf(stem, sizeof stem, "bad%u", idx);
    ckpt_path(path, sizeof path, stem, 1);
    struct qcase k = {b->name, b->layout, b->format, b->packing, b->cfgspec, b->g, 1, false, false};
    config_text(text, sizeof text, &k, &b->cfgspec, b->format, b->packing, path, "bf16");
    struct zmoe_config c;
    if (!parse(text, b->name, &c)) {
        TAP_OK(false, "malformed: %s: (no config)", b->name);
        return;
    }
    /* the file's own geometry is the config's; only its format may differ */
    struct qck_ckpt ck = {0};
    struct zmoe_ref_weights ref[2];
    if (qck_build_moe(&ck, &c, &b->file, "model.layers.", 5000 + idx, ref) != 0)
        tap_bail("%s: the writer refused the spec", b->name);
    qck_ref_free(ref, 2);
    if (b->corrupt)
        b->corrupt(&ck, tensor, sizeof tensor);
    qck_write(&ck, dir, stem, 1);
    qck_free(&ck);
    enum zmoe_status st = load(&c, msg, sizeof msg);
    bool ok = st == ZMOE_ERR_WEIGHTS && (!tensor[0] || strstr(msg, tensor));
    for (int i = 0; i < 3 && b->want[i]; i++)
        ok = ok && strcasestr(msg, b->want[i]) != NULL;
    if (!TAP_OK(ok, "malformed: %s: ZMOE_ERR_WEIGHTS naming %s", b->name,
                tensor[0] ? tensor : "both formats"))
        tap_diag("  status %s, message: %s", zmoe_status_str(st), msg);
}

int main(void)
{
    if (!mkdtemp(dir))
        tap_bail("mkdtemp failed");
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], i);
    for (unsigned i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        run_bad(&bad_cases[i], i);
    /* the files are the only thing left behind: remove them and the directory */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_exit();
}
