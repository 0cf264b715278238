/* config: examples, defaults, value syntax, validation rules on structs, line limits,
 * byte-level robustness, locale independence, round trips (fixed and randomized) and
 * the C header writer. argv[1]: config/examples. */
#include "config/config.h"
#include "tap.h"

#include <dirent.h>
#include <ini.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

static const char *examples_dir;

static char *slurp_print(const struct zmoe_config *cfg, size_t *len, enum zmoe_status *st)
{
    char *buf = NULL;
    struct zmoe_error err;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        tap_bail("open_memstream failed");
    *st = zmoe_config_print(cfg, f, &err);
    fclose(f);
    return buf;
}

/* print -> parse gives the same config; printing that again gives the same text. */
static void check_round_trip(const struct zmoe_config *cfg, const char *what)
{
    size_t len = 0, len2 = 0;
    enum zmoe_status st;
    char *text = slurp_print(cfg, &len, &st);
    struct zmoe_config back;
    struct zmoe_error err = {{0}};
    enum zmoe_status pst = st == ZMOE_OK ? zmoe_config_parse(text, len, what, &back, &err) : st;
    if (!TAP_OK(st == ZMOE_OK && pst == ZMOE_OK, "%s: printed config parses", what))
        tap_diag("  %s\n%s", err.msg, text ? text : "");
    const char *diff = pst == ZMOE_OK ? zmoe_config_diff(cfg, &back) : "(not parsed)";
    TAP_OK(diff == NULL, "%s: round trip is exact (first difference: %s)", what,
           diff ? diff : "none");
    char *text2 = pst == ZMOE_OK ? slurp_print(&back, &len2, &st) : NULL;
    TAP_OK(text2 && len == len2 && memcmp(text, text2, len) == 0, "%s: printing is stable", what);
    free(text);
    free(text2);
}

static int load_example(const char *name, struct zmoe_config *cfg)
{
    char path[1024];
    struct zmoe_error err;
    snprintf(path, sizeof path, "%s/%s", examples_dir, name);
    enum zmoe_status st = zmoe_config_load(path, cfg, &err);
    if (!TAP_OK(st == ZMOE_OK, "example %s loads", name))
        tap_diag("  %s", err.msg);
    return st == ZMOE_OK;
}

static void test_examples(void)
{
    static const char *const required[] = {
        "default.conf", "llama4-scout.conf", "llama4-scout-mini.conf", "mixtral-8x7b.conf",
        "mixtral-8x7b-mini.conf", "qwen3-30b-a3b.conf", "qwen3-30b-a3b-mini.conf",
        "deepseek-v2-lite.conf", "deepseek-v2-lite-mini.conf", "gpt-oss-20b.conf",
        "gpt-oss-20b-mini.conf", "deepseek-v3-mini.conf", "qwen2-moe-mini.conf"};
    struct zmoe_config cfg;
    struct zmoe_error err;
    int seen = 0;
    DIR *dir = opendir(examples_dir);
    if (!dir)
        tap_bail("cannot open %s", examples_dir);
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".conf") != 0)
            continue;
        seen++;
        if (!load_example(de->d_name, &cfg))
            continue;
        TAP_EQ_INT(zmoe_config_validate(&cfg, &err), ZMOE_OK, "%s validates", de->d_name);
        check_round_trip(&cfg, de->d_name);
        char *h = NULL;
        size_t hl = 0;
        FILE *f = open_memstream(&h, &hl);
        enum zmoe_status st = zmoe_config_write_header(&cfg, "cfg", f, &err);
        fclose(f);
        TAP_OK(st == ZMOE_OK && strstr(h, "static const struct zmoe_config cfg = {"),
               "%s: header written", de->d_name);
        free(h);
        /* Minis must run in a few MiB; full-size ones need a budget at all. */
        uint64_t bytes = 0;
        bool counted = zmoe_config_weight_bytes(&cfg, &bytes);
        TAP_OK(counted && bytes > 0 && cfg.budget.device_bytes >= bytes &&
                   cfg.budget.device_bytes > 0,
               "%s: device budget %llu covers the weights (%llu)", de->d_name,
               (unsigned long long)cfg.budget.device_bytes, (unsigned long long)bytes);
        if (strstr(de->d_name, "mini") || strcmp(de->d_name, "default.conf") == 0)
            TAP_OK(cfg.budget.device_bytes <= (16u << 20) && cfg.weights.file[0] == '\0',
                   "%s: small synthetic config", de->d_name);
        else
            TAP_OK(cfg.weights.file[0] != '\0' && cfg.runtime.device == ZMOE_DEVICE_GPU,
                   "%s: full-size config names its checkpoint and a GPU", de->d_name);
    }
    closedir(dir);
    TAP_OK(seen >= 13, "%d example configs", seen);
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", examples_dir, required[i]);
        FILE *f = fopen(path, "r");
        TAP_OK(f != NULL, "example %s exists", required[i]);
        if (f)
            fclose(f);
    }

    /* The model-card numbers the brief asks for. */
    if (load_example("llama4-scout.conf", &cfg))
        TAP_OK(cfg.model.hidden == 5120 && cfg.model.intermediate == 8192 &&
                   cfg.model.experts == 16 && cfg.model.top_k == 1 && cfg.model.layers == 48 &&
                   cfg.model.shared_experts == 1 && cfg.model.shared_intermediate == 8192 &&
                   cfg.router.scoring == ZMOE_SCORING_SIGMOID && !cfg.router.renormalize &&
                   cfg.router.apply_router_weight_on_input &&
                   cfg.dtype.weights == ZMOE_DTYPE_BF16 && cfg.weights.layout == ZMOE_LAYOUT_LLAMA4,
               "llama4-scout geometry and router");
    if (load_example("mixtral-8x7b.conf", &cfg))
        TAP_OK(cfg.model.hidden == 4096 && cfg.model.intermediate == 14336 &&
                   cfg.model.experts == 8 && cfg.model.top_k == 2 && cfg.model.layers == 32 &&
                   cfg.router.scoring == ZMOE_SCORING_SOFTMAX && cfg.router.renormalize,
               "mixtral-8x7b geometry and router");
    if (load_example("qwen3-30b-a3b.conf", &cfg))
        TAP_OK(cfg.model.hidden == 2048 && cfg.model.intermediate == 768 &&
                   cfg.model.experts == 128 && cfg.model.top_k == 8 && cfg.model.layers == 48 &&
                   cfg.router.renormalize,
               "qwen3-30b-a3b geometry and router");
    if (load_example("deepseek-v2-lite.conf", &cfg))
        TAP_OK(cfg.model.hidden == 2048 && cfg.model.intermediate == 1408 &&
                   cfg.model.experts == 64 && cfg.model.top_k == 6 && cfg.model.layers == 26 &&
                   cfg.model.shared_experts == 2 && cfg.model.shared_intermediate == 1408 &&
                   cfg.router.scoring == ZMOE_SCORING_SOFTMAX && !cfg.router.renormalize,
               "deepseek-v2-lite geometry and router");
    if (load_example("gpt-oss-20b.conf", &cfg))
        TAP_OK(cfg.model.hidden == 2880 && cfg.model.intermediate == 2880 &&
                   cfg.model.experts == 32 && cfg.model.top_k == 4 && cfg.model.layers == 24 &&
                   cfg.router.renormalize && cfg.router.bias && cfg.experts.bias &&
                   cfg.experts.activation == ZMOE_ACT_SWIGLU_OAI &&
                   cfg.experts.swiglu_alpha == 1.702f && cfg.experts.swiglu_limit == 7.0f &&
                   cfg.experts.gate_up_interleaved && cfg.weights.layout == ZMOE_LAYOUT_GPT_OSS,
               "gpt-oss-20b geometry, router and swiglu");
    if (load_example("deepseek-v3-mini.conf", &cfg))
        TAP_OK(cfg.router.scoring == ZMOE_SCORING_SIGMOID && cfg.router.score_correction_bias &&
                   cfg.router.groups == 8 && cfg.router.topk_group == 4 &&
                   cfg.router.renormalize && cfg.router.routed_scaling_factor == 2.5f,
               "deepseek-v3-mini grouped top-k");
    if (load_example("qwen2-moe-mini.conf", &cfg))
        TAP_OK(cfg.router.shared_expert_gate && cfg.model.shared_experts == 1,
               "qwen2-moe-mini shared expert gate");
    if (load_example("default.conf", &cfg))
        TAP_OK(cfg.router.apply_router_weight_on_input && cfg.model.top_k > 1 &&
                   cfg.router.scoring == ZMOE_SCORING_SIGMOID,
               "default.conf: Llama-4-style on-input routing with top_k > 1");
}

static const char minimal[] = "[model]\nhidden = 64\nintermediate = 32\nexperts = 8\n"
                              "top_k = 2\nlayers = 3\n[router]\nscoring = softmax\n"
                              "[experts]\nactivation = gelu\n[dtype]\nweights = f16\n";

static void test_defaults(void)
{
    struct zmoe_config cfg, def;
    struct zmoe_error err;
    enum zmoe_status st = zmoe_config_parse(minimal, strlen(minimal), "minimal", &cfg, &err);
    if (!TAP_OK(st == ZMOE_OK, "minimal config parses"))
        tap_diag("  %s", err.msg);
    TAP_OK(!cfg.router.renormalize && cfg.router.groups == 1 && cfg.router.topk_group == 1 &&
               cfg.router.routed_scaling_factor == 1.0f && !cfg.router.score_correction_bias &&
               !cfg.router.bias && !cfg.router.apply_router_weight_on_input &&
               !cfg.router.shared_expert_gate,
           "router defaults: no renormalize, groups 1, scaling 1, all flags off");
    TAP_OK(cfg.model.shared_experts == 0 && cfg.model.shared_intermediate == 0 &&
               cfg.experts.swiglu_alpha == 0.0f && cfg.experts.swiglu_limit == 0.0f &&
               !cfg.experts.bias && !cfg.experts.gate_up_interleaved,
           "model/experts defaults: no shared experts, no biases, concatenated");
    TAP_OK(cfg.dtype.activations == ZMOE_DTYPE_F32 && cfg.runtime.max_tokens == 8 &&
               cfg.runtime.ring_depth == 4 && cfg.runtime.device == ZMOE_DEVICE_AUTO &&
               cfg.runtime.wait_timeout_ms == 5000 && cfg.runtime.slot_io == ZMOE_SLOT_IO_AUTO,
           "dtype/runtime defaults: f32 activations, 8 tokens, ring 4, auto, 5000 ms, slot I/O auto");
    TAP_OK(cfg.budget.device_bytes == 0 && cfg.budget.host_bytes == 0 &&
               cfg.weights.file[0] == '\0' && cfg.weights.prefix[0] == '\0' &&
               cfg.weights.layout == ZMOE_LAYOUT_SYNTHETIC && cfg.weights.seed == 1,
           "budget/weights defaults: unlimited, synthetic, seed 1");
    zmoe_config_defaults(&def);
    TAP_EQ_INT(zmoe_config_validate(&def, &err), ZMOE_ERR_CONFIG,
               "defaults alone do not validate (required keys are 0)");
    def.model = cfg.model;
    def.router.scoring = cfg.router.scoring;
    def.experts.activation = cfg.experts.activation;
    def.dtype.weights = cfg.dtype.weights;
    TAP_OK(zmoe_config_diff(&def, &cfg) == NULL,
           "zmoe_config_defaults() + required fields equals the parsed minimal config");

    /* A file layout defaults gate_up to what that checkpoint format stores. */
    char text[1024];
    snprintf(text, sizeof text, "%s[weights]\nfile = a.safetensors\nlayout = gpt_oss\n", minimal);
    st = zmoe_config_parse(text, strlen(text), "gptoss", &cfg, &err);
    TAP_OK(st == ZMOE_OK && cfg.experts.gate_up_interleaved, "layout gpt_oss defaults to interleaved");
    snprintf(text, sizeof text, "%s[weights]\nfile = a.safetensors\nlayout = mixtral\n", minimal);
    st = zmoe_config_parse(text, strlen(text), "mixtral", &cfg, &err);
    TAP_OK(st == ZMOE_OK && !cfg.experts.gate_up_interleaved, "layout mixtral defaults to concatenated");

    /* [runtime] slot_io */
    snprintf(text, sizeof text, "%s[runtime]\nslot_io = copy\n", minimal);
    st = zmoe_config_parse(text, strlen(text), "slot_io", &cfg, &err);
    TAP_OK(st == ZMOE_OK && cfg.runtime.slot_io == ZMOE_SLOT_IO_COPY, "slot_io = copy parses");
    check_round_trip(&cfg, "slot_io = copy");
    snprintf(text, sizeof text, "%s[runtime]\nslot_io = fast\n", minimal);
    st = zmoe_config_parse(text, strlen(text), "slot_io", &cfg, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, "slot_io:") && strstr(err.msg, "auto|copy|direct") &&
               strstr(err.msg, "'fast'"),
           "slot_io = fast: %s", err.msg);
}

/* [quant]: the defaults each format fills in, good configs of every format/packing pair
 * round-tripping (print -> parse exact, [quant] written only when quantized), and the
 * struct-level rules the parser cannot reach (format none with a non-default key). */
static const char qbase[] = "[model]\nhidden = 256\nintermediate = 128\nexperts = 4\n"
                            "top_k = 2\nlayers = 2\n[router]\nscoring = softmax\n"
                            "[experts]\nactivation = silu\n[dtype]\nweights = bf16\n";

static bool parse_quant(const char *quant, const char *weights, struct zmoe_config *cfg,
                        struct zmoe_error *err)
{
    char text[2048];
    snprintf(text, sizeof text, "%s[quant]\n%s%s", qbase, quant, weights ? weights : "");
    return zmoe_config_parse(text, strlen(text), "quant", cfg, err) == ZMOE_OK;
}

static void test_quant(void)
{
    struct zmoe_config cfg;
    struct zmoe_error err = {{0}};
    static const struct {
        const char *quant;
        uint32_t group;
        enum zmoe_scale_dtype scale;
    } defaults[] = {
        {"format = int4\n", 128, ZMOE_SCALE_F16},
        {"format = int8\n", 128, ZMOE_SCALE_F16},
        {"format = fp8\n", 128, ZMOE_SCALE_F32},
        {"format = mxfp4\n", 32, ZMOE_SCALE_E8M0},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        bool ok = parse_quant(defaults[i].quant, NULL, &cfg, &err);
        if (!TAP_OK(ok && cfg.quant.group_size == defaults[i].group &&
                        cfg.quant.scale_dtype == defaults[i].scale && !cfg.quant.zero_points &&
                        !cfg.quant.act_order && cfg.quant.shared_experts &&
                        cfg.quant.packing == ZMOE_PACK_NONE,
                    "%.*s: defaults group %u, scale %s, symmetric, no act-order, shared quantized",
                    (int)strlen(defaults[i].quant) - 1, defaults[i].quant, defaults[i].group,
                    zmoe_config_scale_dtype_name(defaults[i].scale)))
            tap_diag("  %s", err.msg);
        char what[48];
        snprintf(what, sizeof what, "%.*s defaults", (int)strlen(defaults[i].quant) - 1,
                 defaults[i].quant);
        if (ok)
            check_round_trip(&cfg, what);
    }
    /* No [quant] at all: format none, and printing writes no [quant] section. */
    TAP_OK(zmoe_config_parse(qbase, strlen(qbase), "float", &cfg, &err) == ZMOE_OK &&
               cfg.quant.format == ZMOE_QUANT_NONE && cfg.quant.shared_experts &&
               cfg.quant.group_size == 0,
           "no [quant]: format none, shared_experts true, group 0");
    size_t len = 0;
    enum zmoe_status st;
    char *text = slurp_print(&cfg, &len, &st);
    TAP_OK(st == ZMOE_OK && text && !strstr(text, "[quant]"), "a float config prints no [quant]");
    free(text);
    TAP_OK(parse_quant("format = none\n", NULL, &cfg, &err) && cfg.quant.format == ZMOE_QUANT_NONE,
           "format = none is accepted");

    /* Every allowed format/packing pair with a checkpoint file, and synthetic variants. */
    static const struct {
        const char *quant, *weights;
    } good[] = {
        {"format = int4\npacking = gptq\ngroup_size = 64\nact_order = true\nzero_points = true\n",
         "[weights]\nfile = m.safetensors\nlayout = qwen_moe\n"},
        {"format = int4\npacking = awq\nzero_points = true\n",
         "[weights]\nfile = m.safetensors\nlayout = mixtral\n"},
        {"format = int4\npacking = compressed_tensors\ngroup_size = 32\nscale_dtype = bf16\n",
         "[weights]\nfile = m.safetensors\nlayout = llama4\n"},
        {"format = int4\npacking = compressed_tensors\nact_order = true\n",
         "[weights]\nfile = m.safetensors\nlayout = qwen_moe\n"},
        {"format = int8\npacking = gptq\ngroup_size = 0\n",
         "[weights]\nfile = m.safetensors\nlayout = deepseek\n"},
        {"format = int8\npacking = compressed_tensors\ngroup_size = 0\nscale_dtype = f32\n",
         "[weights]\nfile = m.safetensors\nlayout = qwen_moe\n"},
        {"format = fp8\npacking = native\n", "[weights]\nfile = m.safetensors\nlayout = deepseek\n"},
        {"format = fp8\npacking = compressed_tensors\ngroup_size = 0\nscale_dtype = bf16\n",
         "[weights]\nfile = m.safetensors\nlayout = qwen_moe\n"},
        {"format = mxfp4\npacking = native\n", "[weights]\nfile = m.safetensors\nlayout = gpt_oss\n"},
        {"format = int4\nact_order = true\ngroup_size = 32\n", NULL},
        {"format = int8\nzero_points = true\nscale_dtype = f32\n", NULL},
        {"format = fp8\ngroup_size = 0\nscale_dtype = f16\n", NULL},
        {"format = int4\nshared_experts = false\n", NULL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "good quant config %zu", i);
        bool ok = parse_quant(good[i].quant, good[i].weights, &cfg, &err);
        if (!TAP_OK(ok, "%s parses", what))
            tap_diag("  %s\n%s", err.msg, good[i].quant);
        if (ok)
            check_round_trip(&cfg, what);
    }
    /* shared_experts = false keeps a shared expert of a width no quantized layout takes. */
    char text2[2048];
    snprintf(text2, sizeof text2,
             "[model]\nhidden = 256\nintermediate = 128\nexperts = 4\ntop_k = 2\nlayers = 2\n"
             "shared_experts = 1\nshared_intermediate = 48\n[router]\nscoring = softmax\n"
             "[experts]\nactivation = silu\n[dtype]\nweights = bf16\n[quant]\nformat = int4\n"
             "group_size = 64\nshared_experts = %s\n", "false");
    TAP_OK(zmoe_config_parse(text2, strlen(text2), "float-shared", &cfg, &err) == ZMOE_OK,
           "shared width 48 with shared_experts = false (float shared expert) validates");
    snprintf(text2 + strlen(text2) - strlen("false\n"), 8, "true\n");
    TAP_OK(zmoe_config_parse(text2, strlen(text2), "q-shared", &cfg, &err) == ZMOE_ERR_CONFIG &&
               strstr(err.msg, "shared width 48"),
           "the same with shared_experts = true is rejected naming the shared width (%s)", err.msg);

    /* Struct rules: format none needs every quant field at its default (a float config
     * prints no [quant], so anything else would not survive a round trip), except
     * shared_experts, which has no meaning then: a zeroed struct (false) validates and
     * compares equal to the parsed default (true). */
    struct zmoe_config base;
    TAP_OK(zmoe_config_parse(qbase, strlen(qbase), "float", &base, &err) == ZMOE_OK, "base parses");
    static const char *const none_expect[] = {"quant.packing", "quant.group_size",
                                              "quant.zero_points", "quant.act_order",
                                              "quant.scale_dtype"};
    {
        struct zmoe_config c = base;
        c.quant.shared_experts = false;
        TAP_OK(zmoe_config_validate(&c, &err) == ZMOE_OK && zmoe_config_diff(&c, &base) == NULL,
               "format none with shared_experts false (a zeroed struct) validates and equals "
               "the parsed default");
        c.quant.format = ZMOE_QUANT_INT4;
        struct zmoe_config q = base;
        q.quant.format = ZMOE_QUANT_INT4;
        TAP_OK(zmoe_config_diff(&c, &q) != NULL && !strcmp(zmoe_config_diff(&c, &q),
                                                             "quant.shared_experts"),
               "with quantized experts shared_experts is compared");
    }
    for (int k = 0; k < 5; k++) {
        struct zmoe_config c = base;
        switch (k) {
        case 0: c.quant.packing = ZMOE_PACK_GPTQ; break;
        case 1: c.quant.group_size = 128; break;
        case 2: c.quant.zero_points = true; break;
        case 3: c.quant.act_order = true; break;
        default: c.quant.scale_dtype = ZMOE_SCALE_BF16; break;
        }
        char want[80];
        snprintf(want, sizeof want, "key '%s'", none_expect[k]);
        TAP_OK(zmoe_config_validate(&c, &err) == ZMOE_ERR_CONFIG && strstr(err.msg, want) &&
                   strstr(err.msg, "unless quant.format is set"),
               "format none with %s changed: rejected naming it (%s)", none_expect[k], err.msg);
    }
    struct zmoe_config c = base;
    c.quant.format = (enum zmoe_quant_format)7;
    TAP_OK(zmoe_config_validate(&c, &err) == ZMOE_ERR_CONFIG && strstr(err.msg, "quant.format") &&
               strstr(err.msg, "none|int4|int8|fp8|mxfp4"),
           "an out-of-range format enum is rejected (%s)", err.msg);
    c = base;
    c.quant.format = ZMOE_QUANT_INT4;
    c.quant.group_size = 128;
    c.quant.scale_dtype = (enum zmoe_scale_dtype)9;
    TAP_OK(zmoe_config_validate(&c, &err) == ZMOE_ERR_CONFIG && strstr(err.msg, "quant.scale_dtype"),
           "an out-of-range scale dtype is rejected (%s)", err.msg);
    /* The weight bytes the validator and the plan use are the quantized layout's. */
    c = base;
    c.quant.format = ZMOE_QUANT_INT4;
    c.quant.group_size = 128;
    uint64_t qb = 0, fb = 0;
    TAP_OK(zmoe_config_weight_bytes(&c, &qb) && zmoe_config_weight_bytes(&base, &fb) &&
               /* per layer: W13 1024 rows x 256 / 2 + f16 scales 1024 x 2 x 2, W2 1024
                * rows x 128 / 2 + 1024 x 1 x 2, router 4 x 256 x 2 (bf16) */
               qb == 2 * ((131072 + 4096) + (65536 + 2048) + 2048) &&
               fb == 2 * (4 * 3 * 128 * 256 * 2 + 2048),
           "weight bytes: int4 %llu (expected %u), bf16 %llu", (unsigned long long)qb,
           2 * ((131072 + 4096) + (65536 + 2048) + 2048), (unsigned long long)fb);
}

static void test_sizes(void)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t value;
    } cases[] = {
        {"0", true, 0},           {"4096", true, 4096},
        {"1K", true, 1024},       {"1KiB", true, 1024},
        {"3M", true, 3u << 20},   {"3 MiB", true, 3u << 20},
        {"2G", true, 2ull << 30}, {"5T", true, 5ull << 40},
        {"16777215T", true, 16777215ull << 40},
        {"18446744073709551615", true, UINT64_MAX},
        {"18446744073709551616", false, 0}, {"16777216T", false, 0},
        {"", false, 0},           {"K", false, 0},
        {"1k", false, 0},         {"1KB", false, 0},
        {"1.5G", false, 0},       {"-1", false, 0},
        {"1 ", false, 0},         {" 1", false, 0},
        {"0x10", false, 0},       {"1GG", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 12345;
        bool ok = zmoe_config_parse_size(cases[i].text, &v);
        TAP_OK(ok == cases[i].ok && (!ok || v == cases[i].value), "size '%s' -> %s %llu",
               cases[i].text, cases[i].ok ? "ok" : "rejected", (unsigned long long)cases[i].value);
    }
}

/* Each mutation of a valid struct must be rejected by zmoe_config_validate, naming the
 * key: the rules hold for configs built in code, not only for parsed files. */
static void test_validate_struct(void)
{
    struct zmoe_config base;
    struct zmoe_error err;
    zmoe_config_defaults(&base);
    base.model.hidden = 64;
    base.model.intermediate = 32;
    base.model.experts = 8;
    base.model.top_k = 2;
    base.model.layers = 2;
    base.router.scoring = ZMOE_SCORING_SIGMOID;
    base.experts.activation = ZMOE_ACT_SILU;
    base.dtype.weights = ZMOE_DTYPE_BF16;
    TAP_EQ_INT(zmoe_config_validate(&base, &err), ZMOE_OK, "base struct validates");
    TAP_EQ_INT(zmoe_config_validate(NULL, &err), ZMOE_ERR_ARGUMENT, "NULL config is an argument error");

    for (int i = 0;; i++) {
        struct zmoe_config c = base;
        const char *expect;
        switch (i) {
        case 0: c.model.hidden = 0; expect = "config: key 'model.hidden': expected an integer >= 1, found '0'"; break;
        case 1: c.model.top_k = 9; expect = "key 'model.top_k': expected an integer in [1, experts = 8], found '9'"; break;
        case 2: c.model.shared_experts = 1; expect = "key 'model.shared_intermediate'"; break;
        case 3: c.router.scoring = (enum zmoe_scoring)7; expect = "key 'router.scoring': expected one of softmax|sigmoid, found '<invalid enum value 7>'"; break;
        case 4: c.router.groups = 3; expect = "key 'router.groups': expected a divisor of experts = 8"; break;
        case 5: c.router.groups = 4; c.router.topk_group = 0; expect = "key 'router.topk_group'"; break;
        case 6: c.router.groups = 2; c.router.topk_group = 2; c.model.top_k = 8; expect = NULL; break;
        case 7: c.router.groups = 4; c.router.topk_group = 1; c.model.top_k = 3; expect = "key 'model.top_k': expected at most topk_group * experts / groups = 2"; break;
        case 8: c.router.routed_scaling_factor = 0.0f; expect = "key 'router.routed_scaling_factor'"; break;
        case 9: c.router.routed_scaling_factor = (float)NAN; expect = "found 'nan'"; break;
        case 10: c.router.routed_scaling_factor = (float)INFINITY; expect = "found 'inf'"; break;
        case 11: c.model.top_k = 1; c.router.renormalize = true; c.router.apply_router_weight_on_input = true; expect = "key 'router.apply_router_weight_on_input'"; break;
        case 12: c.model.top_k = 1; c.router.renormalize = true; c.router.apply_router_weight_on_input = true; c.router.routed_scaling_factor = 2.0f; expect = NULL; break;
        case 13: c.router.shared_expert_gate = true; expect = "key 'router.shared_expert_gate'"; break;
        case 14: c.experts.swiglu_alpha = 1.0f; expect = "key 'experts.swiglu_alpha': expected no swiglu_alpha (0) with activation silu"; break;
        case 15: c.experts.activation = ZMOE_ACT_SWIGLU_OAI; expect = "key 'experts.swiglu_alpha': expected a finite number > 0 with swiglu_oai"; break;
        case 16: c.experts.activation = ZMOE_ACT_SWIGLU_OAI; c.experts.swiglu_alpha = 1.702f; c.experts.swiglu_limit = -7.0f; expect = "key 'experts.swiglu_limit'"; break;
        case 17: c.dtype.activations = (enum zmoe_dtype)3; expect = "key 'dtype.activations'"; break;
        case 18: c.runtime.ring_depth = ZMOE_CONFIG_RING_DEPTH_MAX; expect = NULL; break;
        case 19: c.runtime.ring_depth = ZMOE_CONFIG_RING_DEPTH_MAX + 1; expect = "key 'runtime.ring_depth'"; break;
        case 20: c.runtime.device = (enum zmoe_device_choice)-1; expect = "key 'runtime.device'"; break;
        case 21: memset(c.weights.file, 'a', sizeof c.weights.file); expect = "key 'weights.file': expected a path of at most 511 bytes, found '<unterminated>'"; break;
        case 22: strcpy(c.weights.file, "x.safetensors"); expect = "key 'weights.file': expected no file with synthetic weights"; break;
        case 23: c.weights.layout = ZMOE_LAYOUT_DEEPSEEK; expect = "key 'weights.layout': expected synthetic"; break;
        case 24: strcpy(c.weights.file, "x.safetensors"); c.weights.layout = ZMOE_LAYOUT_DEEPSEEK; expect = NULL; break;
        case 25: c.experts.gate_up_interleaved = true; expect = "key 'experts.gate_up': expected concatenated"; break;
        case 26: strcpy(c.weights.prefix, "model."); expect = "key 'weights.prefix'"; break;
        case 27: c.model.experts = UINT32_MAX; c.model.intermediate = UINT32_MAX; c.model.hidden = UINT32_MAX; expect = "expected a geometry whose weights fit in 64 bits"; break;
        case 28: c.budget.device_bytes = 1; expect = "key 'budget.device_bytes': expected 0 (unlimited) or at least the weights'"; break;
        case 29: c.router.scoring = ZMOE_SCORING_SOFTMAX; c.router.score_correction_bias = true; expect = NULL; break;
        case 30: c.router.groups = 8; c.router.topk_group = 4; c.model.top_k = 4; c.router.score_correction_bias = true; expect = "key 'router.groups': expected at most experts / 2 = 4"; break;
        case 31: c.runtime.wait_timeout_ms = 0; expect = "key 'runtime.wait_timeout_ms'"; break;
        case 32: c.runtime.slot_io = (enum zmoe_slot_io)3; expect = "key 'runtime.slot_io': expected one of auto|copy|direct"; break;
        case 33: c.runtime.slot_io = ZMOE_SLOT_IO_DIRECT; expect = NULL; break;
        default: expect = "end"; break;
        }
        if (expect && strcmp(expect, "end") == 0)
            break;
        memset(&err, 0, sizeof err);
        enum zmoe_status st = zmoe_config_validate(&c, &err);
        if (!expect) {
            if (!TAP_OK(st == ZMOE_OK, "struct mutation %d is valid", i))
                tap_diag("  %s", err.msg);
        } else if (!TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, expect) &&
                               strncmp(err.msg, "config: ", 8) == 0,
                           "struct mutation %d rejected: %s", i, expect)) {
            tap_diag("  got: %s", err.msg);
        }
    }

    /* weight_bytes against an independent count for base (bf16, no biases). */
    uint64_t bytes = 0;
    uint64_t want = 2ull * (8 * 3 * 32 * 64 + 8 * 64) * 2;
    TAP_OK(zmoe_config_weight_bytes(&base, &bytes) && bytes == want, "weight bytes %llu == %llu",
           (unsigned long long)bytes, (unsigned long long)want);
}

static int count_keys(void *user, const char *section, const char *name, const char *value)
{
    (void)section;
    (void)value;
    if (strcmp(name, "layers") == 0)
        ++*(int *)user;
    return 1;
}

static void test_lines(void)
{
    struct zmoe_config cfg;
    struct zmoe_error err;
    char text[8192];

    /* The canonical key=value form may hold exactly 198 characters (inih's 200-byte
     * buffer minus newline and NUL), whatever blanks and comments surround it. */
    char path[256];
    memset(path, 'p', 198 - 5);
    path[198 - 5] = '\0';
    snprintf(text, sizeof text, "%s[weights]\nlayout = mixtral\n   file   =   %s    ; trailing comment\n",
             minimal, path);
    enum zmoe_status st = zmoe_config_parse(text, strlen(text), "limit", &cfg, &err);
    if (!TAP_OK(st == ZMOE_OK && strcmp(cfg.weights.file, path) == 0,
                "a 198-character key=value line (with blanks and a comment around it) parses"))
        tap_diag("  %s", err.msg);
    snprintf(text, sizeof text, "%s[weights]\nlayout = mixtral\nfile = %sq\n", minimal, path);
    st = zmoe_config_parse(text, strlen(text), "limit", &cfg, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, "limit:15: line too long"),
           "a 199-character key=value line is rejected at its line (%s)", err.msg);

    /* Why the limit matters: inih alone splits an over-long line and parses its tail
     * as a line of its own. */
    char longline[512];
    snprintf(longline, sizeof longline, "[model]\nshared_experts = 0%*slayers = 2\n", 199 - 18, "");
    int layers_seen = 0;
    ini_parse_string(longline, count_keys, &layers_seen);
    TAP_EQ_INT(layers_seen, 1, "plain inih reads the tail of a 250-byte line as a key");
    snprintf(text, sizeof text, "%s%s", minimal, longline + 8);
    st = zmoe_config_parse(text, strlen(text), "split", &cfg, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, "split:13: line too long"),
           "zmoe rejects that line instead (%s)", err.msg);

    /* Comments may be as long as they like. */
    char comment[6000];
    memset(comment, 'c', sizeof comment - 1);
    comment[sizeof comment - 1] = '\0';
    snprintf(text, sizeof text, "# %.5000s\n%s", comment, minimal);
    st = zmoe_config_parse(text, strlen(text), "comment", &cfg, &err);
    TAP_EQ_INT(st, ZMOE_OK, "a 5000-byte comment line is fine");

    /* CRLF line ends, a BOM, tabs, indentation, no blanks around '=', inline comments:
     * same config as the plain text. */
    struct zmoe_config plain;
    zmoe_config_parse(minimal, strlen(minimal), "plain", &plain, &err);
    const char *styled =
        "\xEF\xBB\xBF; styled\r\n[model]\r\n\thidden=64 ; h\r\n  intermediate =\t32\r\n"
        "experts = 8 # e\r\ntop_k = 2\r\nlayers = 3\r\n[ router ] ; r\r\nscoring = softmax\r\n"
        "[experts]\r\nactivation = gelu\r\n[dtype]\r\nweights = f16";
    st = zmoe_config_parse(styled, strlen(styled), "styled", &cfg, &err);
    if (!TAP_OK(st == ZMOE_OK && zmoe_config_diff(&cfg, &plain) == NULL,
                "BOM, CRLF, tabs, inline comments and no final newline parse the same"))
        tap_diag("  %s", st ? err.msg : zmoe_config_diff(&cfg, &plain));

    /* Embedded NUL inside the given length is data, not the end of the text. */
    char nul[] = "[model]\nhidden = 64\0\n";
    st = zmoe_config_parse(nul, sizeof nul - 1, "nul", &cfg, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, "nul:2: control byte 0x00 at column 12"),
           "a NUL byte is reported with line and column (%s)", err.msg);
    /* The error names the line of the duplicate and of the first definition. */
    snprintf(text, sizeof text, "%s[model]\n", minimal);
    st = zmoe_config_parse(text, strlen(text), "dup", &cfg, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, "dup:13: section [model]: expected once per file (first at line 1)"),
           "a repeated section is rejected (%s)", err.msg);
}

static void test_api_edges(void)
{
    struct zmoe_config cfg;
    struct zmoe_error err;
    TAP_EQ_INT(zmoe_config_load("/nonexistent/zmoe.conf", &cfg, &err), ZMOE_ERR_IO,
               "missing file is an I/O error");
    TAP_OK(strstr(err.msg, "/nonexistent/zmoe.conf: cannot open") != NULL, "I/O message names the file (%s)", err.msg);
    TAP_EQ_INT(zmoe_config_load(examples_dir, &cfg, &err), ZMOE_ERR_IO, "a directory is an I/O error (%s)", err.msg);
    TAP_EQ_INT(zmoe_config_load(NULL, &cfg, &err), ZMOE_ERR_ARGUMENT, "NULL path");
    TAP_EQ_INT(zmoe_config_parse(NULL, 5, "x", &cfg, &err), ZMOE_ERR_ARGUMENT, "NULL text with a length");
    TAP_EQ_INT(zmoe_config_parse(minimal, strlen(minimal), "x", NULL, &err), ZMOE_ERR_ARGUMENT, "NULL out");
    TAP_EQ_INT(zmoe_config_parse(minimal, strlen(minimal), NULL, &cfg, NULL), ZMOE_OK,
               "NULL name and NULL error are allowed");
    TAP_EQ_INT(zmoe_config_parse("", 0, NULL, &cfg, &err), ZMOE_ERR_CONFIG, "empty text is missing keys");
    TAP_OK(strcmp(err.msg, "<config>: [model] missing required key 'hidden'") == 0, "default name in messages (%s)", err.msg);

    /* A failed parse leaves *out untouched. */
    struct zmoe_config before;
    memset(&cfg, 0xab, sizeof cfg);
    before = cfg;
    zmoe_config_parse("[model]\nhidden = x\n", 19, "x", &cfg, &err);
    TAP_OK(memcmp(&cfg, &before, sizeof cfg) == 0, "a rejected file does not touch *out");

    zmoe_config_parse(minimal, strlen(minimal), "m", &cfg, &err);
    char *h = NULL;
    size_t hl = 0;
    FILE *f = open_memstream(&h, &hl);
    TAP_EQ_INT(zmoe_config_write_header(&cfg, "9bad", f, &err), ZMOE_ERR_ARGUMENT, "symbol must be an identifier");
    TAP_EQ_INT(zmoe_config_write_header(&cfg, "a-b", f, &err), ZMOE_ERR_ARGUMENT, "no dashes in symbols");
    cfg.model.top_k = 0;
    TAP_EQ_INT(zmoe_config_write_header(&cfg, "ok", f, &err), ZMOE_ERR_CONFIG, "an invalid config is not written");
    TAP_EQ_INT(zmoe_config_print(&cfg, f, &err), ZMOE_ERR_CONFIG, "nor printed");
    fclose(f);
    TAP_EQ_INT(hl, 0, "nothing was written for refused configs");
    free(h);
}

/* Numbers mean the same whatever LC_NUMERIC the application chose. */
static void test_locale(void)
{
    static const char *const locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8"};
    const char *used = NULL;
    char locdir[] = "/tmp/zmoe-locale-XXXXXX";
    bool made = false;
    for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !used; i++)
        if (setlocale(LC_ALL, locales[i]))
            used = locales[i];
    if (!used && mkdtemp(locdir)) {
        /* Minimal systems ship no comma locale: compile one (glibc's localedef) into a
         * private LOCPATH so the test really runs with ',' as the decimal point. */
        char cmd[256];
        snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                 locdir);
        made = true;
        if (system(cmd) == 0 && setenv("LOCPATH", locdir, 1) == 0 &&
            setlocale(LC_ALL, "de_DE.UTF-8"))
            used = "de_DE.UTF-8 (compiled by the test)";
    }
    tap_diag("locale for the locale test: %s (decimal point '%s')", used ? used : "C only",
             localeconv()->decimal_point);
    if (used) {
        char probe[16];
        snprintf(probe, sizeof probe, "%.1f", 2.5);
        TAP_OK(strcmp(probe, "2,5") == 0, "the test locale really writes 2.5 as '%s'", probe);
    }
    char text[1024];
    struct zmoe_config cfg;
    struct zmoe_error err;
    snprintf(text, sizeof text, "%s", minimal);
    char *p = strstr(text, "[router]\n") + 9;
    memmove(p + 28, p, strlen(p) + 1);
    memcpy(p, "routed_scaling_factor = 2.5\n", 28);
    enum zmoe_status st = zmoe_config_parse(text, strlen(text), "loc", &cfg, &err);
    TAP_OK(st == ZMOE_OK && cfg.router.routed_scaling_factor == 2.5f, "2.5 parses under %s",
           used ? used : "the default locale");
    size_t len;
    char *out = slurp_print(&cfg, &len, &st);
    TAP_OK(st == ZMOE_OK && strstr(out, "routed_scaling_factor = 2.5\n"), "and prints as 2.5");
    free(out);
    setlocale(LC_ALL, "C");
    if (made) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", locdir);
        if (system(cmd) != 0)
            tap_diag("could not remove %s", locdir);
        unsetenv("LOCPATH");
    }
}

/* Random structs: every one validate accepts must print, parse back equal, and write a
 * header; every one it rejects must be refused by print. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void test_random_round_trips(void)
{
    static const float floats[] = {1.0f, 2.5f, 0.1f, 1.702f, 7.0f, 1e-3f, 16.0f, 3.4e38f, 0.0f, -1.0f};
    int valid = 0, refused = 0, bad = 0, quantized = 0;
    for (int i = 0; i < 3000; i++) {
        struct zmoe_config c;
        struct zmoe_error err;
        zmoe_config_defaults(&c);
        c.model.hidden = 1 + rnd(512);
        c.model.intermediate = 1 + rnd(512);
        c.model.experts = 1 + rnd(64);
        c.model.top_k = 1 + rnd(c.model.experts + 1);
        c.model.layers = 1 + rnd(8);
        c.model.shared_experts = rnd(4) == 0 ? 1 + rnd(3) : 0;
        c.model.shared_intermediate = c.model.shared_experts ? 1 + rnd(256) : (rnd(20) ? 0 : 5);
        c.router.scoring = (enum zmoe_scoring)rnd(2);
        c.router.renormalize = rnd(2);
        c.router.groups = rnd(3) == 0 ? 1 + rnd(8) : 1;
        c.router.topk_group = c.router.groups > 1 ? 1 + rnd(c.router.groups) : 1;
        c.router.routed_scaling_factor = floats[rnd(8)];
        c.router.score_correction_bias = rnd(2);
        c.router.bias = rnd(2);
        c.router.apply_router_weight_on_input = rnd(2);
        c.router.shared_expert_gate = c.model.shared_experts ? rnd(2) : rnd(10) == 0;
        c.experts.activation = (enum zmoe_activation)rnd(4);
        if (c.experts.activation == ZMOE_ACT_SWIGLU_OAI || rnd(20) == 0) {
            c.experts.swiglu_alpha = floats[rnd(10)];
            c.experts.swiglu_limit = floats[rnd(10)];
        }
        c.experts.bias = rnd(2);
        c.dtype.weights = (enum zmoe_dtype)rnd(3);
        c.dtype.activations = (enum zmoe_dtype)rnd(3);
        c.runtime.max_tokens = 1 + rnd(256);
        c.runtime.ring_depth = 1 + rnd(70);
        c.runtime.device = (enum zmoe_device_choice)rnd(3);
        c.runtime.wait_timeout_ms = rnd(100000);
        c.budget.device_bytes = rnd(2) ? 0 : (uint64_t)rnd(1 << 20) << rnd(20);
        c.budget.host_bytes = rnd(2) ? 0 : (uint64_t)rnd(1 << 20) << rnd(20);
        if (rnd(3) == 0) {
            snprintf(c.weights.file, sizeof c.weights.file, "/m/%u/model.safetensors", rnd(1000));
            c.weights.layout = (enum zmoe_weights_layout)(1 + rnd(5));
            c.experts.gate_up_interleaved = rnd(2);
            if (rnd(2))
                snprintf(c.weights.prefix, sizeof c.weights.prefix, "model.layers.%u.", rnd(9));
        }
        /* [quant] on a third of them, geometries the formats take on half of those. */
        if (rnd(3) == 0) {
            static const uint32_t groups[] = {0, 32, 64, 128, 48};
            c.quant.format = (enum zmoe_quant_format)(1 + rnd(4));
            c.quant.packing = c.weights.file[0] ? (enum zmoe_quant_packing)rnd(5) : ZMOE_PACK_NONE;
            c.quant.group_size = groups[rnd(5)];
            c.quant.zero_points = rnd(3) == 0;
            c.quant.act_order = rnd(4) == 0;
            c.quant.scale_dtype = (enum zmoe_scale_dtype)rnd(4);
            c.quant.shared_experts = rnd(4) != 0;
            if (rnd(2)) {
                c.model.hidden = 128 * (1 + rnd(4));
                c.model.intermediate = 128 * (1 + rnd(4));
                c.model.shared_intermediate = c.model.shared_experts ? 128 * (1 + rnd(2)) : 0;
            }
        }
        /* The seed only exists for synthetic weights: with a file it is not printed, and
         * parsing gives the default back. */
        c.weights.seed = c.weights.file[0] ? 1 : ((uint64_t)rnd(UINT32_MAX) << 32) | rnd(UINT32_MAX);

        size_t len;
        enum zmoe_status pst;
        char *text = slurp_print(&c, &len, &pst);
        if (zmoe_config_validate(&c, &err) != ZMOE_OK) {
            refused++;
            if (pst != ZMOE_ERR_CONFIG)
                bad++;
            free(text);
            continue;
        }
        valid++;
        quantized += c.quant.format != ZMOE_QUANT_NONE;
        struct zmoe_config back;
        if (pst != ZMOE_OK || zmoe_config_parse(text, len, "rnd", &back, &err) != ZMOE_OK ||
            zmoe_config_diff(&c, &back) != NULL) {
            if (bad++ < 3)
                tap_diag("round trip %d failed: %s\n%s", i,
                         pst == ZMOE_OK ? "" : err.msg, text);
        }
        free(text);
        char *h = NULL;
        size_t hl;
        FILE *f = open_memstream(&h, &hl);
        if (zmoe_config_write_header(&c, "rnd", f, &err) != ZMOE_OK)
            bad++;
        fclose(f);
        free(h);
    }
    TAP_OK(valid > 300 && refused > 300 && quantized > 20,
           "random structs: %d valid (%d with quantized experts), %d refused", valid, quantized,
           refused);
    TAP_EQ_INT(bad, 0, "every valid random struct round-trips; every invalid one is refused");
}

int main(int argc, char **argv)
{
    if (argc != 2)
        tap_bail("usage: %s <config/examples>", argv[0]);
    examples_dir = argv[1];
    test_examples();
    test_defaults();
    test_sizes();
    test_quant();
    test_validate_struct();
    test_lines();
    test_api_edges();
    test_locale();
    test_random_round_trips();
    return tap_exit();
}
