/* safetensors loading: every layout round-trips (checkpoint written from the synthetic
 * kernel-layout weights by this test's own inverse mapping, loaded back through
 * zmoe_weights_load with a memory sink, bytes compared), single-file and sharded, with
 * dtype conversion; every malformed-file class gives its precise error. */
#include "weights/weights.h"
#include "weights/safetensors.h"
#include "reference/moe_ref.h"
#include "tests/runtime/rt_ckpt.h"
#include "tests/weights/st_writer.h"
#include "tests/tap.h"
#include "tests/weights/load_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* Local: the library's zmoe_status_str lives in another module. */
static const char *status_name(enum zmoe_status st)
{
    static char buf[4][16];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "status %d", (int)st);
    return buf[k];
}

/* ------------------------------------------------------------------ checkpoints */

/* Unrelated tensors a real checkpoint has (embeddings, attention, dense MLP layers). */
static void add_other(struct rck *ck, const char *P, uint32_t L, bool dense_mlp)
{
    static const float z[64] = {0};
    rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 4, 8, 0, "%s%u.self_attn.q_proj.weight", P, L);
    if (dense_mlp) {
        rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 2, 4, 0, "%s%u.mlp.gate_proj.weight", P, L);
        rck_add(ck, ZMOE_DTYPE_BF16, z, 2, 2, 4, 0, "%s%u.mlp.down_proj.weight", P, L);
    }
}

/* Writes `ck` as one file or as `shards` shards + index; returns the path to load. The
 * shards have no __metadata__: the loader must not need it. */
static const char *write_ckpt(struct rck *ck, const char *stem, unsigned shards)
{
    return rck_write_meta(ck, tmpdir, stem, shards, NULL);
}

/* Kernel bytes expected for (layer, tensor): synthetic values stored as `file_dt` in the
 * checkpoint (score bias: F32), converted to the tensor's configured dtype. */
static int expected_equal(const struct zmoe_config *cfg, const struct mem_sink *m, uint32_t l,
                          enum zmoe_tensor t, enum zmoe_dtype file_dt)
{
    uint64_t n = zmoe_tensor_elements(cfg, t);
    enum zmoe_dtype fdt = t == ZMOE_TENSOR_SCORE_BIAS ? ZMOE_DTYPE_F32 : file_dt;
    enum zmoe_dtype kdt = zmoe_tensor_dtype(cfg, t);
    float *v = malloc(n * sizeof *v);
    unsigned char *f = malloc(n * 4), *k = malloc(n * 4);
    zmoe_weights_synthetic(cfg, l, t, 0, n, v);
    zmoe_dtype_convert(f, fdt, v, ZMOE_DTYPE_F32, n);
    zmoe_dtype_convert(k, kdt, f, fdt, n);
    int eq = m->next[l][t] == m->size[l][t] && memcmp(k, m->buf[l][t], m->size[l][t]) == 0;
    free(v);
    free(f);
    free(k);
    return eq;
}

static struct zmoe_config geometry(enum zmoe_weights_layout lay, uint32_t E, uint32_t H,
                                   uint32_t I, uint32_t layers)
{
    struct zmoe_config c = load_layout_config(lay, E, H, I, layers);
    c.weights.seed = 1234 + lay;
    return c;
}

/* Loads cfg->weights.file and compares every tensor of every layer. */
static void check_roundtrip(const char *what, struct zmoe_config *cfg, enum zmoe_dtype file_dt,
                            size_t staging_size, const char *want_report)
{
    struct mem_sink m;
    mem_sink_init(&m, cfg);
    unsigned char *staging = malloc(staging_size);
    char report[512];
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_weights_load(cfg, staging, staging_size, mem_sink_write, &m,
                                            report, sizeof report, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: load (staging %zu)", what, staging_size))
        tap_diag("  %s: %s", status_name(st), err.msg);
    TAP_OK(m.bad == 0 && m.max_chunk <= staging_size, "%s: chunks in order, in bounds, <= staging",
           what);
    int eq = 1, tensors = 0;
    for (uint32_t l = 0; l < cfg->model.layers; l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            if (zmoe_tensor_present(cfg, (enum zmoe_tensor)t)) {
                tensors++;
                if (!expected_equal(cfg, &m, l, (enum zmoe_tensor)t, file_dt)) {
                    eq = 0;
                    tap_diag("  layer %u %s differs", l, zmoe_tensor_name((enum zmoe_tensor)t));
                }
            }
    TAP_OK(eq, "%s: %d kernel tensors equal the synthetic weights (%s file -> %s)", what,
           tensors, stw_dtype_name(file_dt), zmoe_dtype_name(cfg->dtype.weights));
    if (want_report)
        TAP_OK(strstr(report, want_report) != NULL, "%s: report mentions \"%s\": %s", what,
               want_report, report);
    free(staging);
    mem_sink_free(&m);
}

/* Expects a load failure with `status` and `needle` in the message, and no sink call. */
static void check_fails(const char *what, struct zmoe_config *cfg, enum zmoe_status status,
                        const char *needle)
{
    struct mem_sink m;
    mem_sink_init(&m, cfg);
    unsigned char staging[4096];
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_weights_load(cfg, staging, sizeof staging, mem_sink_write, &m,
                                            NULL, 0, &err);
    if (!TAP_OK(st == status && strstr(err.msg, needle) != NULL, "%s: %s", what, err.msg))
        tap_diag("  got %s, want %s with \"%s\"", status_name(st), status_name(status),
                 needle);
    TAP_EQ_INT(m.calls, 0, "%s: nothing reached the sink", what);
    mem_sink_free(&m);
}

static void set_file(struct zmoe_config *c, const char *path)
{
    snprintf(c->weights.file, sizeof c->weights.file, "%s", path);
}

/* ------------------------------------------------------------------ round trips */

static void roundtrips(void)
{
    struct rck *ck = calloc(1, sizeof *ck);
    /* Llama 4: MoE every other layer (1, 3), shared expert, detected prefix of the
     * multimodal checkpoint, bf16 file to bf16; gate_up concatenated, then interleaved */
    for (int il = 0; il < 2; il++) {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_LLAMA4, 4, 16, 12, 2);
        c.model.shared_experts = 1;
        c.model.shared_intermediate = 20;
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.apply_router_weight_on_input = true;
        c.experts.gate_up_interleaved = il;
        const char *P = "language_model.model.layers.";
        for (uint32_t L = 0; L < 4; L++) {
            add_other(ck, P, L, L % 2 == 0);
            if (L % 2)
                rck_add_moe_layer(ck, &c, L / 2, L, P, ZMOE_DTYPE_BF16);
        }
        set_file(&c, write_ckpt(ck, il ? "llama4il" : "llama4", 1));
        check_roundtrip(il ? "llama4 interleaved" : "llama4", &c, ZMOE_DTYPE_BF16, 1 << 16,
                        "prefix 'language_model.model.layers.' (detected)");
        check_roundtrip(il ? "llama4 interleaved" : "llama4", &c, ZMOE_DTYPE_BF16, 64,
                        "checkpoint layers 1 3");
        check_roundtrip(il ? "llama4 interleaved" : "llama4", &c, ZMOE_DTYPE_BF16, 77, NULL);
        struct zmoe_config c2 = c;
        c2.router.scoring = ZMOE_SCORING_SOFTMAX;
        check_fails("llama4 with softmax", &c2, ZMOE_ERR_CONFIG,
                    "config key 'router.scoring' is softmax, but layout llama4 requires sigmoid");
        c2 = c;
        c2.router.apply_router_weight_on_input = false;
        check_fails("llama4 without on-input weights", &c2, ZMOE_ERR_CONFIG,
                    "config key 'router.apply_router_weight_on_input' is false, but layout "
                    "llama4 requires true");
        rck_free(ck);
    }
    /* Mixtral, sharded in 3 files, f32 file -> bf16 config (rounding on upload) */
    {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_MIXTRAL, 4, 16, 8, 3);
        c.router.renormalize = true;
        for (uint32_t L = 0; L < 3; L++)
            rck_add_moe_layer(ck, &c, L, L, "model.layers.", ZMOE_DTYPE_F32);
        rck_add(ck, ZMOE_DTYPE_F32, (float[8]){0}, 2, 2, 4, 0, "model.embed_tokens.weight");
        set_file(&c, write_ckpt(ck, "mixtral", 3));
        check_roundtrip("mixtral sharded", &c, ZMOE_DTYPE_F32, 1 << 16, "3 files");
        check_roundtrip("mixtral sharded", &c, ZMOE_DTYPE_F32, 64, "layout mixtral");
        {
            struct zmoe_config c2 = c;
            c2.router.renormalize = false;
            check_fails("mixtral without renormalize", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.renormalize' is false, but layout mixtral requires "
                        "true");
            c2 = c;
            c2.router.routed_scaling_factor = 2.0f;
            check_fails("mixtral with routed scaling", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.routed_scaling_factor' is 2, but layout mixtral "
                        "requires 1");
        }
        /* firmware mode: the caller's workspace instead of the loader's malloc */
        {
            size_t wsz = zmoe_safetensors_workspace_size();
            void *ws = aligned_alloc(64, (wsz + 63) / 64 * 64);
            struct mem_sink m;
            mem_sink_init(&m, &c);
            unsigned char staging[256];
            struct zmoe_error err = {{0}};
            enum zmoe_status st = zmoe_safetensors_load(&c, ws, wsz, staging, sizeof staging,
                                                        mem_sink_write, &m, NULL, 0, &err);
            int eq = st == ZMOE_OK && m.bad == 0;
            for (uint32_t l = 0; l < 3; l++)
                for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
                    if (zmoe_tensor_present(&c, (enum zmoe_tensor)t))
                        eq &= expected_equal(&c, &m, l, (enum zmoe_tensor)t, ZMOE_DTYPE_F32);
            TAP_OK(eq, "mixtral sharded with a caller workspace: %s", err.msg);
            mem_sink_free(&m);
            free(ws);
        }
        /* the config may load fewer layers than the checkpoint has */
        c.model.layers = 2;
        check_roundtrip("mixtral, 2 of 3 layers", &c, ZMOE_DTYPE_F32, 1 << 16, "(first 2 of 3)");
        rck_free(ck);
    }
    /* Qwen2-MoE and DeepSeek: experts in reverse file order (the loader must not depend
     * on file order) */
    ck->reverse_experts = true;
    /* Qwen2-MoE: shared expert with sigmoid gate, f16 file and config */
    {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_QWEN_MOE, 6, 8, 4, 2);
        c.dtype.weights = ZMOE_DTYPE_F16;
        c.model.shared_experts = 1;
        c.model.shared_intermediate = 10;
        c.router.shared_expert_gate = true;
        for (uint32_t L = 0; L < 2; L++)
            rck_add_moe_layer(ck, &c, L, L, "model.layers.", ZMOE_DTYPE_F16);
        set_file(&c, write_ckpt(ck, "qwen", 1));
        check_roundtrip("qwen_moe", &c, ZMOE_DTYPE_F16, 1 << 16, "layout qwen_moe");
        check_roundtrip("qwen_moe", &c, ZMOE_DTYPE_F16, 64, NULL);
        rck_free(ck);
    }
    /* DeepSeek-V3: first layer dense, score bias (F32 in the file), 2 shared experts,
     * sharded, bf16 file -> f16 config */
    {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_DEEPSEEK, 8, 16, 6, 2);
        c.dtype.weights = ZMOE_DTYPE_F16;
        c.model.shared_experts = 2;
        c.model.shared_intermediate = 6;
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.score_correction_bias = true;
        c.router.groups = 4;
        c.router.topk_group = 2;
        add_other(ck, "model.layers.", 0, true);
        for (uint32_t L = 1; L < 3; L++) {
            add_other(ck, "model.layers.", L, false);
            rck_add_moe_layer(ck, &c, L - 1, L, "model.layers.", ZMOE_DTYPE_BF16);
        }
        set_file(&c, write_ckpt(ck, "deepseek", 2));
        check_roundtrip("deepseek sharded", &c, ZMOE_DTYPE_BF16, 1 << 16, "checkpoint layers 1 2");
        check_roundtrip("deepseek sharded", &c, ZMOE_DTYPE_BF16, 64, NULL);
        {
            struct zmoe_config c2 = c;
            c2.router.scoring = ZMOE_SCORING_SOFTMAX;
            check_fails("deepseek-v3 checkpoint with softmax", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.scoring' is softmax, but layout deepseek requires "
                        "sigmoid (the checkpoint has e_score_correction_bias");
            c2 = c;
            c2.router.score_correction_bias = false;
            check_fails("deepseek-v3 checkpoint without the score bias", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.score_correction_bias' is false, but layout deepseek "
                        "requires true (the checkpoint has e_score_correction_bias");
            c2 = c;
            c2.router.apply_router_weight_on_input = true;
            check_fails("deepseek with on-input weights", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.apply_router_weight_on_input' is true, but layout "
                        "deepseek requires false");
        }
        rck_free(ck);
    }
    ck->reverse_experts = false;
    /* GPT-OSS: interleaved gate_up + biases + router bias, bf16 file -> f16 config;
     * H = 40 f16 rows (80 bytes) exceed a 64-byte staging buffer: the element path */
    {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_GPT_OSS, 4, 40, 12, 2);
        c.dtype.weights = ZMOE_DTYPE_F16;
        c.router.bias = true;
        c.experts.bias = true;
        c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
        c.experts.gate_up_interleaved = true;
        for (uint32_t L = 0; L < 2; L++)
            rck_add_moe_layer(ck, &c, L, L, "model.layers.", ZMOE_DTYPE_BF16);
        set_file(&c, write_ckpt(ck, "gptoss", 1));
        check_roundtrip("gpt_oss", &c, ZMOE_DTYPE_BF16, 1 << 16, "layout gpt_oss");
        check_roundtrip("gpt_oss", &c, ZMOE_DTYPE_BF16, 64, NULL);
        check_roundtrip("gpt_oss", &c, ZMOE_DTYPE_BF16, 200, NULL);
        check_roundtrip("gpt_oss", &c, ZMOE_DTYPE_BF16, 77, NULL);
        /* what GPT-OSS's modeling code fixes: a config saying otherwise is refused */
        {
            struct zmoe_config c2 = c;
            c2.experts.gate_up_interleaved = false;
            check_fails("gpt_oss with gate_up concatenated", &c2, ZMOE_ERR_CONFIG,
                        "config key 'experts.gate_up' is concatenated, but layout gpt_oss "
                        "requires interleaved");
            c2 = c;
            c2.router.scoring = ZMOE_SCORING_SIGMOID;
            check_fails("gpt_oss with sigmoid", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.scoring' is sigmoid, but layout gpt_oss requires "
                        "softmax (GptOssTopKRouter");
            c2 = c;
            c2.router.renormalize = false;
            check_fails("gpt_oss without renormalize", &c2, ZMOE_ERR_CONFIG,
                        "config key 'router.renormalize' is false, but layout gpt_oss requires "
                        "true");
            c2 = c;
            c2.experts.swiglu_alpha = 1.5f;
            check_fails("gpt_oss with another swiglu alpha", &c2, ZMOE_ERR_CONFIG,
                        "config key 'experts.swiglu_alpha' is another value, but layout gpt_oss "
                        "requires 1.702");
        }
        /* f32 config: biases and matrices widened exactly (the file is rewritten from
         * the f32 config's synthetic values) */
        rck_free(ck);
        c.dtype.weights = ZMOE_DTYPE_F32;
        for (uint32_t L = 0; L < 2; L++)
            rck_add_moe_layer(ck, &c, L, L, "model.layers.", ZMOE_DTYPE_BF16);
        set_file(&c, write_ckpt(ck, "gptoss32", 1));
        check_roundtrip("gpt_oss to f32", &c, ZMOE_DTYPE_BF16, 1000, NULL);
        rck_free(ck);
    }
    /* a configured prefix no detection would find */
    {
        struct zmoe_config c = geometry(ZMOE_LAYOUT_MIXTRAL, 4, 8, 4, 1);
        rck_add_moe_layer(ck, &c, 0, 0, "transformer.h.", ZMOE_DTYPE_BF16);
        set_file(&c, write_ckpt(ck, "prefix", 1));
        check_fails("unknown prefix", &c, ZMOE_ERR_WEIGHTS, "layer prefix not found");
        snprintf(c.weights.prefix, sizeof c.weights.prefix, "transformer.h.");
        check_roundtrip("configured prefix", &c, ZMOE_DTYPE_BF16, 4096,
                        "prefix 'transformer.h.' (configured)");
        rck_free(ck);
    }
    free(ck);
}

/* ------------------------------------------------------------------ malformed files */

static const char *raw(const char *stem, uint64_t declared, const char *header, size_t data_len)
{
    static char path[512];
    static const unsigned char zeros[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, stem);
    if (data_len > sizeof zeros || stw_write_raw(path, declared, header, zeros, data_len) != 0)
        tap_bail("write %s", path);
    return path;
}

static void malformed(void)
{
    /* Mixtral, E=2 H=4 I=2, one layer: router [2,4] */
    struct zmoe_config c = geometry(ZMOE_LAYOUT_MIXTRAL, 2, 4, 2, 1);
    struct rck *ck = calloc(1, sizeof *ck);
    const char *R = "\"model.layers.0.block_sparse_moe.gate.weight\"";
    char h[1024];

    {
        char p[512];
        snprintf(p, sizeof p, "%s/empty.safetensors", tmpdir);
        FILE *f = fopen(p, "wb");
        fclose(f);
        set_file(&c, p);
        check_fails("empty file", &c, ZMOE_ERR_WEIGHTS, "truncated: empty file");
    }
    set_file(&c, raw("zerolen", 0, "", 0));
    check_fails("header length 0", &c, ZMOE_ERR_WEIGHTS, "header length 0 outside");
    {
        char p[512];
        snprintf(p, sizeof p, "%s/five.safetensors", tmpdir);
        FILE *f = fopen(p, "wb");
        fwrite("\x10\0\0\0\0", 1, 5, f);
        fclose(f);
        set_file(&c, p);
        check_fails("truncated header length", &c, ZMOE_ERR_WEIGHTS,
                    "shorter than the 8-byte header length");
    }
    set_file(&c, raw("beyond", 4096, "{}", 16));
    check_fails("header length beyond the file", &c, ZMOE_ERR_WEIGHTS,
                "header length 4096 exceeds the file size minus 8 (18)");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}", R);
    set_file(&c, raw("badjson", strlen(h), h, 16));
    check_fails("bad JSON (unterminated)", &c, ZMOE_ERR_WEIGHTS, "not valid JSON");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}} \"x\"", R);
    set_file(&c, raw("trailing", strlen(h), h, 16));
    check_fails("bad JSON (trailing data)", &c, ZMOE_ERR_WEIGHTS, "trailing data");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,-4],\"data_offsets\":[0,16]}}", R);
    set_file(&c, raw("negdim", strlen(h), h, 16));
    check_fails("negative dimension", &c, ZMOE_ERR_WEIGHTS, "shape entry 1 is not a non-negative");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"Q4\",\"shape\":[2,4],\"data_offsets\":[0,16]}}", R);
    set_file(&c, raw("unknowndt", strlen(h), h, 16));
    check_fails("unknown dtype", &c, ZMOE_ERR_WEIGHTS, "unknown dtype 'Q4'");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,12]}}", R);
    set_file(&c, raw("span", strlen(h), h, 16));
    check_fails("shape vs data_offsets", &c, ZMOE_ERR_WEIGHTS,
                "shape [2, 4] of BF16 is 16 bytes but data_offsets span 12");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[16,32]}}", R);
    set_file(&c, raw("range", strlen(h), h, 16));
    check_fails("data offsets out of range", &c, ZMOE_ERR_WEIGHTS,
                "data_offsets [16, 32] outside the data section of 16 bytes");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                          "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", R);
    set_file(&c, raw("overlap", strlen(h), h, 16));
    check_fails("overlapping tensors", &c, ZMOE_ERR_WEIGHTS, "overlap");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                          "%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[16,32]}}", R, R);
    set_file(&c, raw("dup", strlen(h), h, 32));
    check_fails("duplicate tensor in one header", &c, ZMOE_ERR_WEIGHTS,
                "duplicate tensor 'model.layers.0.block_sparse_moe.gate.weight'");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16],"
                          "\"extra\":1}}", R);
    set_file(&c, raw("extrakey", strlen(h), h, 16));
    check_fails("unexpected key", &c, ZMOE_ERR_WEIGHTS, "unexpected or repeated key 'extra'");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[2,4]}}", R);
    set_file(&c, raw("nooffsets", strlen(h), h, 0));
    check_fails("entry without data_offsets", &c, ZMOE_ERR_WEIGHTS, "lacks data_offsets");
    snprintf(h, sizeof h, "{%s:{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296,4294967296],"
                          "\"data_offsets\":[0,16]}}", R);
    set_file(&c, raw("overflow", strlen(h), h, 16));
    check_fails("shape product overflow", &c, ZMOE_ERR_WEIGHTS, "overflows 64 bits");
    snprintf(h, sizeof h, "[1,2]");
    set_file(&c, raw("array", strlen(h), h, 0));
    check_fails("header not an object", &c, ZMOE_ERR_WEIGHTS, "not a JSON object");

    /* whole-checkpoint cases, built from the synthetic weights and then damaged */
    rck_add_moe_layer(ck, &c, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
    set_file(&c, write_ckpt(ck, "good", 1));
    check_roundtrip("mixtral base for damage", &c, ZMOE_DTYPE_BF16, 4096, NULL);
    {
        struct stw_tensor *t = rck_find(ck, "model.layers.0.block_sparse_moe.experts.1.w2.weight");
        struct stw_tensor keep = *t;
        rck_drop(ck, keep.name); /* frees the data: rebuilt below */
        set_file(&c, write_ckpt(ck, "missing", 1));
        check_fails("missing tensor", &c, ZMOE_ERR_WEIGHTS,
                    "missing tensor 'model.layers.0.block_sparse_moe.experts.1.w2.weight' "
                    "(layout mixtral, prefix 'model.layers.')");
        rck_free(ck);
        rck_add_moe_layer(ck, &c, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
    }
    {
        struct stw_tensor *t = rck_find(ck, "model.layers.0.block_sparse_moe.gate.weight");
        t->shape[1] = 2; /* [2,2] F16-sized... keep the byte count consistent: */
        t->shape[0] = 4;
        set_file(&c, write_ckpt(ck, "shape", 1));
        check_fails("shape mismatch with the config", &c, ZMOE_ERR_WEIGHTS,
                    "tensor 'model.layers.0.block_sparse_moe.gate.weight': expected shape [2, 4], "
                    "found [4, 2]");
        t->shape[0] = 2;
        t->shape[1] = 4;
        t->dtype = "I16";
        set_file(&c, write_ckpt(ck, "dtype", 1));
        check_fails("unsupported dtype", &c, ZMOE_ERR_WEIGHTS,
                    "dtype I16 not supported (expected F32, F16 or BF16)");
        t->dtype = "BF16";
    }
    /* the damage is in the last layer: validation covers all layers before any sink call */
    {
        struct zmoe_config c2 = c;
        c2.model.layers = 2;
        rck_add_moe_layer(ck, &c2, 1, 1, "model.layers.", ZMOE_DTYPE_BF16);
        rck_drop(ck, "model.layers.1.block_sparse_moe.experts.0.w3.weight");
        set_file(&c2, write_ckpt(ck, "lastlayer", 1));
        check_fails("missing tensor in the last layer", &c2, ZMOE_ERR_WEIGHTS,
                    "missing tensor 'model.layers.1.block_sparse_moe.experts.0.w3.weight'");
        c2.model.layers = 3;
        check_fails("more layers configured than present", &c2, ZMOE_ERR_WEIGHTS,
                    "the config has 3 MoE layers but the checkpoint has 2");
        rck_free(ck);
    }
    /* config vs layout */
    rck_add_moe_layer(ck, &c, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
    set_file(&c, write_ckpt(ck, "good2", 1));
    {
        struct zmoe_config c2 = c;
        c2.router.bias = true;
        check_fails("router bias with mixtral", &c2, ZMOE_ERR_CONFIG,
                    "layout mixtral has no router_b tensor, but the config enables router.bias");
        c2 = c;
        c2.weights.layout = ZMOE_LAYOUT_QWEN_MOE;
        check_fails("wrong layout", &c2, ZMOE_ERR_WEIGHTS, "layer prefix not found");
        c2 = c;
        set_file(&c2, "/nonexistent/dir/model.safetensors");
        check_fails("missing file", &c2, ZMOE_ERR_IO, "cannot open");
    }
    rck_free(ck);
    /* GPT-OSS MXFP4 checkpoint (*_blocks / *_scales instead of the bf16 tensors) with a
     * float config: the message names the format (tests/weights/test_quant_load.c loads it) */
    {
        struct zmoe_config g = geometry(ZMOE_LAYOUT_GPT_OSS, 2, 32, 4, 1);
        g.router.bias = true;
        g.experts.bias = true;
        rck_add_moe_layer(ck, &g, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
        struct stw_tensor *t = rck_find(ck, "model.layers.0.mlp.experts.gate_up_proj");
        if (!t)
            tap_bail("the GPT-OSS writer has no gate_up_proj tensor");
        snprintf(t->name, sizeof t->name, "model.layers.0.mlp.experts.gate_up_proj_blocks");
        t->dtype = "U8";
        t->ndim = 4; /* [E, 2I, H/32, 16] bytes, as MXFP4 stores 32 values in 16 bytes */
        t->shape[0] = 2;
        t->shape[1] = 8;
        t->shape[2] = 1;
        t->shape[3] = 16;
        t->bytes = 2 * 8 * 16;
        static const unsigned char sc[16];
        struct stw_tensor *s = &ck->t[ck->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "model.layers.0.mlp.experts.gate_up_proj_scales");
        s->dtype = "U8";
        s->ndim = 3;
        s->shape[0] = 2;
        s->shape[1] = 8;
        s->shape[2] = 1;
        s->bytes = 16;
        s->data = malloc(16);
        memcpy((void *)s->data, sc, 16);
        set_file(&g, write_ckpt(ck, "mxfp4", 1));
        check_fails("MXFP4 checkpoint with a float config", &g, ZMOE_ERR_WEIGHTS,
                    "'model.layers.0.mlp.experts.gate_up_proj' is stored as GPT-OSS MXFP4 "
                    "(_blocks/_scales) ('model.layers.0.mlp.experts.gate_up_proj_blocks'), but "
                    "the config has no [quant] format");
        rck_free(ck);
        /* bf16 GPT-OSS but the config forgot the biases: refused, not silently dropped */
        rck_add_moe_layer(ck, &g, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
        set_file(&g, write_ckpt(ck, "oss_nobias", 1));
        g.experts.bias = false;
        check_fails("checkpoint biases with experts.bias off", &g, ZMOE_ERR_WEIGHTS,
                    "checkpoint has 'model.layers.0.mlp.experts.gate_up_proj_bias' but the config "
                    "disables it (experts.bias)");
        rck_free(ck);
    }
    /* sharded sets */
    {
        rck_add_moe_layer(ck, &c, 0, 0, "model.layers.", ZMOE_DTYPE_BF16);
        const char *idx = write_ckpt(ck, "shard", 2);
        set_file(&c, idx);
        check_roundtrip("mixtral 2 shards", &c, ZMOE_DTYPE_BF16, 4096, "2 files");
        /* index naming the wrong shard for one tensor */
        static const char *names[RCK_MAXT], *files[RCK_MAXT];
        char f1[128], f2[128];
        snprintf(f1, sizeof f1, "shard-00001-of-00002.safetensors");
        snprintf(f2, sizeof f2, "shard-00002-of-00002.safetensors");
        for (size_t i = 0; i < ck->n; i++) {
            names[i] = ck->t[i].name;
            files[i] = i % 2 ? f2 : f1;
        }
        char p[512];
        snprintf(p, sizeof p, "%s/wrong.index.json", tmpdir);
        files[0] = f2;
        stw_write_index(p, names, files, ck->n);
        set_file(&c, p);
        check_fails("index names the wrong shard", &c, ZMOE_ERR_WEIGHTS, "weight_map puts tensor");
        files[0] = "../shard-00001-of-00002.safetensors";
        stw_write_index(p, names, files, ck->n);
        check_fails("index escapes its directory", &c, ZMOE_ERR_WEIGHTS, "not a plain file name");
        files[0] = f1;
        names[ck->n] = "model.layers.0.ghost.weight";
        files[ck->n] = f2;
        stw_write_index(p, names, files, ck->n + 1);
        check_fails("index lists a tensor no shard has", &c, ZMOE_ERR_WEIGHTS,
                    "weight_map puts tensor 'model.layers.0.ghost.weight' in "
                    "shard-00002-of-00002.safetensors, but no shard has it");
        snprintf(p, sizeof p, "%s/noweightmap.index.json", tmpdir);
        FILE *f = fopen(p, "w");
        fputs("{\"metadata\":{}}", f);
        fclose(f);
        set_file(&c, p);
        check_fails("index without weight_map", &c, ZMOE_ERR_WEIGHTS, "no \"weight_map\" object");
        /* the same tensor in both shards */
        char sp[512];
        snprintf(sp, sizeof sp, "%s/%s", tmpdir, f2);
        struct stw_tensor both[RCK_MAXT];
        size_t n = 0;
        for (size_t i = 1; i < ck->n; i += 2)
            both[n++] = ck->t[i];
        both[n++] = ck->t[0]; /* also in shard 1 */
        stw_write(sp, both, n, NULL);
        set_file(&c, idx);
        check_fails("duplicate tensor across shards", &c, ZMOE_ERR_WEIGHTS, "duplicate tensor");
        rck_free(ck);
    }
    free(ck);
}

/* ------------------------------------------------------------------ API edges */

static void api(void)
{
    /* caller workspace: too small is refused, the right size works */
    size_t wsz = zmoe_safetensors_workspace_size();
    TAP_OK(wsz > 0 && wsz < (64u << 20), "workspace is fixed and bounded (%zu bytes)", wsz);
    static const char hdr[] = "{\"__metadata__\":{\"a\":\"b\"},\"t\":{\"dtype\":\"F32\",\"shape\":[2],"
                              "\"data_offsets\":[0,8]}}";
    unsigned char img[8 + sizeof hdr - 1 + 8];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++)
        img[i] = (unsigned char)(n >> (8 * i));
    memcpy(img + 8, hdr, n);
    memset(img + 8 + n, 0, 8);
    struct zmoe_error err = {{0}};
    void *ws = aligned_alloc(64, (wsz + 63) / 64 * 64);
    TAP_EQ_INT(zmoe_safetensors_check(img, sizeof img, "mem", ws, wsz, &err), ZMOE_OK,
               "check with __metadata__ and a caller workspace: %s", err.msg);
    TAP_EQ_INT(zmoe_safetensors_check(img, sizeof img, "mem", ws, wsz - 1, &err), ZMOE_ERR_ARGUMENT,
               "short workspace refused");
    TAP_EQ_INT(zmoe_safetensors_check(img, sizeof img - 1, "mem", NULL, 0, &err), ZMOE_ERR_WEIGHTS,
               "one byte short: %s", err.msg);
    free(ws);
    struct zmoe_config c = geometry(ZMOE_LAYOUT_MIXTRAL, 2, 4, 2, 1);
    set_file(&c, "x.safetensors");
    c.weights.layout = ZMOE_LAYOUT_SYNTHETIC;
    unsigned char staging[128];
    TAP_EQ_INT(zmoe_weights_load(&c, staging, sizeof staging, mem_sink_write, NULL, NULL, 0, &err),
               ZMOE_ERR_CONFIG, "file with the synthetic layout refused: %s", err.msg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zmoe-st-XXXXXX");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp");
    roundtrips();
    malformed();
    api();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_exit();
}
