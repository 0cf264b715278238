/* zmoe import: Hugging Face config.json -> zmoe config.
 *  - hub/: each model's config.json as the hub ships it, imported and compared key by
 *    key (model, router, experts, dtype, layout) with its example in config/examples; the
 *    printed config reads back equal, every key it writes carries a comment, and the
 *    binary's `zmoe import DIR --output F` gives a file `zmoe plan` accepts, as does
 *    `zmoe plan --model DIR`;
 *  - malformed config.json texts (missing field, wrong type, unknown architecture,
 *    inconsistent numbers, values zmoe cannot express): each refused with
 *    ZMOE_ERR_CONFIG and a message naming the field and value;
 *  - the binary on broken model directories: exit 2 and the path in the message.
 * Usage: test_import ZMOE_EXE EXAMPLES_DIR HUB_DIR */
#include "config/config.h"
#include "config/hf.h"
#include "tests/cli/cli_test.h"

static const char *exe, *examples, *hub;

static const struct {
    const char *dir, *example, *arch, *note; /* note: a substring of the import's notes */
} models[] = {
    {"Llama-4-Scout-17B-16E", "llama4-scout.conf", "Llama4ForConditionalGeneration", NULL},
    {"Llama-4-Maverick-17B-128E", "llama4-maverick.conf", "Llama4ForConditionalGeneration", NULL},
    {"Mixtral-8x7B-v0.1", "mixtral-8x7b.conf", "MixtralForCausalLM", NULL},
    {"Qwen1.5-MoE-A2.7B", "qwen1.5-moe-a2.7b.conf", "Qwen2MoeForCausalLM", NULL},
    {"Qwen3-30B-A3B", "qwen3-30b-a3b.conf", "Qwen3MoeForCausalLM", NULL},
    {"DeepSeek-V2-Lite", "deepseek-v2-lite.conf", "DeepseekV2ForCausalLM", NULL},
    {"DeepSeek-V3", "deepseek-v3.conf", "DeepseekV3ForCausalLM", "quant_method = \"fp8\""},
    {"gpt-oss-20b", "gpt-oss-20b.conf", "GptOssForCausalLM", "quant_method = \"mxfp4\""},
};
#define NMODELS (sizeof models / sizeof models[0])

/* Every "key = value" line of an INI text has a comment: inline or on the line above. */
static const char *uncommented_key(const char *text)
{
    static char line[256];
    bool prev_comment = false;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)(n < 255 ? n : 255), p);
        bool comment = line[0] == '#';
        bool key = !comment && line[0] && line[0] != '[' && strchr(line, '=');
        if (key && !prev_comment && !strstr(line, " # "))
            return line;
        prev_comment = comment;
        p += n + (nl ? 1 : 0);
    }
    return NULL;
}

static void hub_model(unsigned i)
{
    char dir[600], ex_path[600];
    snprintf(dir, sizeof dir, "%s/%s", hub, models[i].dir);
    snprintf(ex_path, sizeof ex_path, "%s/%s", examples, models[i].example);
    const char *name = models[i].dir;
    struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_config_import_hf(dir, imp, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: config.json imports: %s", name, err.msg)) {
        tap_skip(7, "no import");
        free(imp);
        return;
    }
    TAP_OK(!strcmp(imp->arch, models[i].arch), "%s: architecture %s", name, imp->arch);
    struct zmoe_config ex;
    if (zmoe_config_load(ex_path, &ex, &err) != ZMOE_OK)
        tap_bail("%s: %s", ex_path, err.msg);
    /* Key by key over what describes the model: [runtime], [budget] and the checkpoint
     * path are the example's own (a GPU, budgets, where the files live). */
    struct zmoe_config cmp = imp->cfg;
    cmp.runtime = ex.runtime;
    cmp.budget = ex.budget;
    memcpy(cmp.weights.file, ex.weights.file, sizeof cmp.weights.file);
    memcpy(cmp.weights.prefix, ex.weights.prefix, sizeof cmp.weights.prefix);
    cmp.weights.seed = ex.weights.seed;
    const char *diff = zmoe_config_diff(&cmp, &ex);
    if (!TAP_OK(diff == NULL, "%s: every model key equals config/examples/%s (first "
                              "difference: %s)", name, models[i].example, diff ? diff : "none")) {
        zmoe_config_print(&imp->cfg, stderr, &err);
    }
    /* the printed config: reads back equal, every key commented */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    st = zmoe_config_hf_print(imp, mem, &err);
    fclose(mem);
    struct zmoe_config back;
    bool same = st == ZMOE_OK && zmoe_config_parse(text, len, "printed", &back, &err) == ZMOE_OK &&
                zmoe_config_diff(&back, &imp->cfg) == NULL;
    TAP_OK(same, "%s: the printed config reads back equal %s", name, err.msg);
    const char *bare = text ? uncommented_key(text) : "no text";
    TAP_OK(bare == NULL, "%s: every key of the printed config names its source (bare: %s)",
           name, bare ? bare : "none");
    TAP_OK(text && strstr(text, models[i].arch) && strstr(text, "config.json"),
           "%s: the header names config.json and the architecture", name);
    if (models[i].note) {
        if (!TAP_OK(strstr(imp->notes, models[i].note) != NULL, "%s: a note says %s", name,
                    models[i].note))
            tap_diag("notes: %s", imp->notes);
    } else
        TAP_OK(!strstr(imp->notes, "quant"), "%s: no quantization note", name);
    free(text);

    /* through the binary: import --output, then plan the file and the directory */
    char out_name[96];
    snprintf(out_name, sizeof out_name, "import-%u.conf", i);
    const char *out = cli_tmp_path(out_name);
    struct cli_result r = CLI_RUN((char *)exe, "import", dir, "--output", (char *)out);
    struct cli_result p = CLI_RUN((char *)exe, "plan", (char *)out);
    struct cli_result m = CLI_RUN((char *)exe, "plan", "--model", dir);
    char layers[64];
    snprintf(layers, sizeof layers, "%u layers;", imp->cfg.model.layers);
    /* the same plan, apart from the first line naming the source */
    const char *pb = strchr(p.out, '\n'), *mb = strchr(m.out, '\n');
    bool ok = r.status == 0 && cli_has(r.err, out) && p.status == 0 && m.status == 0 && pb &&
              mb && !strcmp(pb, mb) && cli_has(p.out, layers);
    if (!TAP_OK(ok, "%s: `zmoe import --output` exits 0, `zmoe plan` of the file and of "
                    "--model DIR agree", name)) {
        cli_diag(&r);
        cli_diag(&p);
        cli_diag(&m);
    }
    cli_result_free(&r);
    cli_result_free(&p);
    cli_result_free(&m);
    free(imp);
}

/* Value spot checks: the numbers only a correct reading of the fields gives, and the
 * comments naming them. */
static void spot_checks(void)
{
    struct {
        const char *dir, *key, *why;
    } c[] = {
        {"Llama-4-Maverick-17B-128E", "model.layers", "interleave_moe_layer_step = 2"},
        {"Llama-4-Scout-17B-16E", "model.hidden", "text_config.hidden_size"},
        {"DeepSeek-V3", "model.layers", "first_k_dense_replace = 3"},
        {"DeepSeek-V3", "router.score_correction_bias", "noaux_tc"},
        {"DeepSeek-V2-Lite", "router.groups", "greedy"},
        {"Qwen1.5-MoE-A2.7B", "model.shared_intermediate", "shared_expert_intermediate_size"},
        {"Qwen3-30B-A3B", "router.renormalize", "norm_topk_prob"},
        {"gpt-oss-20b", "experts.swiglu_limit", "swiglu_limit"},
        {"gpt-oss-20b", "dtype.weights", "torch_dtype absent"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", hub, c[i].dir);
        struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
        struct zmoe_error err = {{0}};
        const char *w = zmoe_config_import_hf(dir, imp, &err) == ZMOE_OK
                            ? zmoe_config_hf_why(imp, c[i].key) : NULL;
        TAP_OK(w && strstr(w, c[i].why), "%s: %s comes from '%s' (%s)", c[i].dir, c[i].key,
               c[i].why, w ? w : err.msg);
        free(imp);
    }
    struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
    struct zmoe_error err = {{0}};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/Llama-4-Maverick-17B-128E", hub);
    zmoe_config_import_hf(dir, imp, &err);
    TAP_OK(imp->cfg.model.layers == 24 && imp->cfg.model.experts == 128,
           "Maverick: 24 MoE layers of 128 experts (48 layers, every other one MoE)");
    snprintf(dir, sizeof dir, "%s/DeepSeek-V3", hub);
    zmoe_config_import_hf(dir, imp, &err);
    TAP_OK(imp->cfg.model.layers == 58 && imp->cfg.router.groups == 8 &&
               imp->cfg.router.topk_group == 4 && imp->cfg.router.routed_scaling_factor == 2.5f,
           "DeepSeek-V3: 58 MoE layers, 8 groups keep 4, scaling 2.5");
    free(imp);
}

/* ------------------------------------------------------------------ malformed */

static const char mixtral[] =
    "{\"architectures\": [\"MixtralForCausalLM\"], \"model_type\": \"mixtral\", "
    "\"hidden_size\": 64, \"intermediate_size\": 96, \"num_local_experts\": 8, "
    "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, \"hidden_act\": \"silu\", "
    "\"torch_dtype\": \"bfloat16\"}";
static const char dsv3[] =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\", "
    "\"hidden_size\": 64, \"moe_intermediate_size\": 32, \"n_routed_experts\": 32, "
    "\"num_experts_per_tok\": 4, \"num_hidden_layers\": 4, \"first_k_dense_replace\": 1, "
    "\"moe_layer_freq\": 1, \"n_shared_experts\": 1, \"n_group\": 8, \"topk_group\": 4, "
    "\"norm_topk_prob\": true, \"routed_scaling_factor\": 2.5, \"scoring_func\": \"sigmoid\", "
    "\"topk_method\": \"noaux_tc\", \"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\"}";
static const char dsv2[] =
    "{\"architectures\": [\"DeepseekV2ForCausalLM\"], \"model_type\": \"deepseek_v2\", "
    "\"hidden_size\": 64, \"moe_intermediate_size\": 32, \"n_routed_experts\": 16, "
    "\"num_experts_per_tok\": 4, \"num_hidden_layers\": 27, \"first_k_dense_replace\": 1, "
    "\"n_shared_experts\": 2, \"scoring_func\": \"softmax\", \"topk_method\": \"greedy\", "
    "\"torch_dtype\": \"bfloat16\"}";
static const char gptoss[] =
    "{\"architectures\": [\"GptOssForCausalLM\"], \"model_type\": \"gpt_oss\", "
    "\"hidden_size\": 64, \"intermediate_size\": 32, \"num_local_experts\": 8, "
    "\"num_experts_per_tok\": 2, \"experts_per_token\": 2, \"num_hidden_layers\": 2, "
    "\"swiglu_limit\": 7.0}";
static const char llama4[] =
    "{\"architectures\": [\"Llama4ForConditionalGeneration\"], \"model_type\": \"llama4\", "
    "\"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 32, \"num_local_experts\": 4, "
    "\"num_experts_per_tok\": 1, \"num_hidden_layers\": 4, \"interleave_moe_layer_step\": 2, "
    "\"torch_dtype\": \"bfloat16\"}}";
static const char qwen2[] =
    "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"model_type\": \"qwen2_moe\", "
    "\"hidden_size\": 64, \"moe_intermediate_size\": 32, \"num_experts\": 8, "
    "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 24, \"decoder_sparse_step\": 1, "
    "\"mlp_only_layers\": [], \"shared_expert_intermediate_size\": 64, "
    "\"torch_dtype\": \"bfloat16\"}";

/* base with the first `from` replaced by `to` (from NULL: base as is) */
static char *variant(const char *base, const char *from, const char *to)
{
    size_t n = strlen(base) + (to ? strlen(to) : 0) + 1;
    char *s = malloc(n);
    const char *at = from ? strstr(base, from) : NULL;
    if (from && !at)
        tap_bail("variant: '%s' not in the base text", from);
    if (!at) {
        snprintf(s, n, "%s", base);
        return s;
    }
    snprintf(s, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return s;
}

static void malformed(void)
{
    static const struct {
        const char *what, *base, *from, *to, *expect;
    } c[] = {
        /* the bases themselves import */
        {"mixtral base", mixtral, NULL, NULL, NULL},
        {"deepseek-v3 base", dsv3, NULL, NULL, NULL},
        {"deepseek-v2 base", dsv2, NULL, NULL, NULL},
        {"gpt-oss base", gptoss, NULL, NULL, NULL},
        {"llama4 base", llama4, NULL, NULL, NULL},
        {"qwen2 base", qwen2, NULL, NULL, NULL},
        /* not JSON / not an object */
        {"truncated JSON", mixtral, "\"torch_dtype\": \"bfloat16\"}", "\"torch_dtype\": ",
         "bad.json: not valid JSON"},
        {"JSON array", "[1, 2]", NULL, NULL, "bad.json: expected a JSON object, found [1, 2]"},
        {"text after the object", mixtral, "\"bfloat16\"}", "\"bfloat16\"} x",
         "bad.json: not valid JSON"},
        {"key twice", mixtral, "\"hidden_size\": 64", "\"hidden_size\": 64, \"hidden_size\": 32",
         "field 'hidden_size' appears twice"},
        /* architecture */
        {"unknown architecture", mixtral, "MixtralForCausalLM", "LlamaForCausalLM",
         "field 'architectures': \"LlamaForCausalLM\" is not an architecture zmoe imports"},
        {"unknown model_type, no architectures", "{\"model_type\": \"olmoe\"}", NULL, NULL,
         "field 'model_type': \"olmoe\" is not a model type zmoe imports"},
        {"no architecture at all", "{\"hidden_size\": 4}", NULL, NULL,
         "field 'architectures': missing, and no 'model_type' either"},
        {"architectures not a list", mixtral, "[\"MixtralForCausalLM\"]", "\"MixtralForCausalLM\"",
         "field 'architectures': expected a list of class names, found \"MixtralForCausalLM\""},
        {"architecture and model_type disagree", mixtral, "\"mixtral\"", "\"qwen2_moe\"",
         "field 'model_type': \"qwen2_moe\" does not match architectures[0] = \"MixtralForCausalLM\""},
        /* missing fields, wrong types */
        {"missing num_local_experts", mixtral, "\"num_local_experts\": 8", "\"x\": 8",
         "field 'num_local_experts': missing"},
        {"missing torch_dtype", mixtral, "\"torch_dtype\"", "\"x\"",
         "field 'torch_dtype': missing (needed for dtype.weights)"},
        {"hidden_size as a string", mixtral, "\"hidden_size\": 64", "\"hidden_size\": \"64\"",
         "field 'hidden_size': expected an integer in [1, 4294967295], found \"64\""},
        {"hidden_size as a float", mixtral, "\"hidden_size\": 64", "\"hidden_size\": 64.0",
         "field 'hidden_size': expected an integer in [1, 4294967295], found 64.0"},
        {"negative top-k", mixtral, "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": -2",
         "field 'num_experts_per_tok': expected an integer in [1, 4294967295], found -2"},
        {"zero experts", mixtral, "\"num_local_experts\": 8", "\"num_local_experts\": 0",
         "field 'num_local_experts': expected an integer in [1, 4294967295], found 0"},
        {"norm_topk_prob as a string", dsv3, "\"norm_topk_prob\": true", "\"norm_topk_prob\": \"yes\"",
         "field 'norm_topk_prob': expected true or false, found \"yes\""},
        {"routed_scaling_factor negative", dsv3, "\"routed_scaling_factor\": 2.5",
         "\"routed_scaling_factor\": -1", "field 'routed_scaling_factor': expected a number > 0, found -1"},
        {"swiglu_limit as a string", gptoss, "\"swiglu_limit\": 7.0", "\"swiglu_limit\": \"7\"",
         "field 'swiglu_limit': expected a number > 0, found \"7\""},
        {"text_config not an object", llama4, "\"text_config\": {", "\"text_config\": 5, \"y\": {",
         "field 'text_config': expected an object, found 5"},
        {"Llama4ForConditionalGeneration without text_config", llama4, "\"text_config\"", "\"tc\"",
         "field 'text_config': missing"},
        {"missing field inside text_config", llama4, "\"num_local_experts\"", "\"x\"",
         "field 'text_config.num_local_experts': missing"},
        {"mlp_only_layers out of range", qwen2, "\"mlp_only_layers\": []", "\"mlp_only_layers\": [3, 30]",
         "field 'mlp_only_layers': element 1: expected a layer number in [0, 23] "
         "(num_hidden_layers = 24), found 30"},
        {"mlp_only_layers not a list", qwen2, "\"mlp_only_layers\": []", "\"mlp_only_layers\": 3",
         "field 'mlp_only_layers': expected a list of layer numbers, found 3"},
        {"moe_layers twice the same", llama4, "\"interleave_moe_layer_step\": 2",
         "\"moe_layers\": [1, 1]", "field 'text_config.moe_layers': a layer number appears twice"},
        {"interleave step 0", llama4, "\"interleave_moe_layer_step\": 2",
         "\"interleave_moe_layer_step\": 0",
         "field 'text_config.interleave_moe_layer_step': expected an integer in [1, 4294967295], found 0"},
        /* inconsistent numbers */
        {"top-k above the experts", mixtral, "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 9",
         "field 'num_experts_per_tok' = 9 is more than 'num_local_experts' = 8"},
        {"n_group does not divide the experts", dsv3, "\"n_group\": 8", "\"n_group\": 5",
         "field 'n_group' = 5 does not divide 'n_routed_experts' = 32"},
        {"topk_group above n_group", dsv3, "\"topk_group\": 4", "\"topk_group\": 9",
         "field 'topk_group' = 9 is more than 'n_group' = 8"},
        {"top-k above the kept groups' experts", dsv3, "\"n_group\": 8, \"topk_group\": 4",
         "\"n_group\": 16, \"topk_group\": 1",
         "field 'num_experts_per_tok' = 4 is more than the 2 experts of topk_group = 1 groups of 2"},
        {"all layers dense", dsv2, "\"first_k_dense_replace\": 1", "\"first_k_dense_replace\": 27",
         "no MoE layer: first_k_dense_replace = 27 with moe_layer_freq = 1 leaves none of "
         "num_hidden_layers = 27"},
        {"every layer in mlp_only_layers", "{\"architectures\": [\"Qwen3MoeForCausalLM\"], "
         "\"hidden_size\": 8, \"moe_intermediate_size\": 8, \"num_experts\": 4, "
         "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, \"mlp_only_layers\": [0, 1], "
         "\"torch_dtype\": \"float32\"}", NULL, NULL, "no MoE layer: every layer is excluded"},
        {"experts_per_token disagrees", gptoss, "\"experts_per_token\": 2", "\"experts_per_token\": 4",
         "field 'experts_per_token' = 4 disagrees with 'num_experts_per_tok' = 2"},
        {"a config zmoe refuses (score bias, one expert per group)", dsv3, "\"n_group\": 8",
         "\"n_group\": 32", "the fields give a config zmoe refuses"},
        /* values zmoe cannot express */
        {"hidden_act relu", mixtral, "\"silu\"", "\"relu\"",
         "field 'hidden_act': \"relu\" is not an activation zmoe implements"},
        {"topk_method greedy on DeepSeek-V3", dsv3, "\"noaux_tc\"", "\"greedy\"",
         "field 'topk_method': \"greedy\" is not a routing zmoe implements for DeepSeek-V3"},
        {"topk_method noaux_tc on DeepSeek-V2", dsv2, "\"greedy\"", "\"noaux_tc\"",
         "field 'topk_method': \"noaux_tc\" is not a routing zmoe implements for DeepSeek-V2"},
        {"scoring_func sigmoid on DeepSeek-V2", dsv2, "\"softmax\"", "\"sigmoid\"",
         "field 'scoring_func': \"sigmoid\" is not what DeepseekV2MoE implements"},
        {"torch_dtype int8", mixtral, "\"bfloat16\"", "\"int8\"",
         "field 'torch_dtype': \"int8\" is not a dtype zmoe computes in"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *json = variant(c[i].base, c[i].from, c[i].to);
        struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_import_hf_json(json, strlen(json), "bad.json", "m", imp,
                                                         &err);
        if (!c[i].expect) {
            TAP_OK(st == ZMOE_OK, "%s imports: %s", c[i].what, err.msg);
        } else if (!TAP_OK(st == ZMOE_ERR_CONFIG && !strncmp(err.msg, "bad.json: ", 10) &&
                               strstr(err.msg, c[i].expect),
                           "%s: refused naming the field", c[i].what)) {
            tap_diag("status %s, message: %s", zmoe_status_str(st), err.msg);
            tap_diag("expected: %s", c[i].expect);
        }
        free(imp);
        free(json);
    }
}

/* ------------------------------------------------------------------ the binary */

static void binary_errors(void)
{
    /* a directory without config.json, one that does not exist, a broken config.json */
    const char *empty = cli_tmp_path("emptydir");
    mkdir(empty, 0700);
    struct cli_result r = CLI_RUN((char *)exe, "import", (char *)empty);
    TAP_OK(r.status == 2 && cli_has(r.err, "config.json: cannot open"),
           "import of a directory without config.json: exit 2, the path named");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "import", "/nonexistent/model");
    TAP_OK(r.status == 2 && cli_has(r.err, "/nonexistent/model: not a model directory"),
           "import of a missing directory: exit 2");
    cli_result_free(&r);
    const char *bad = cli_tmp_path("baddir");
    mkdir(bad, 0700);
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", bad);
    char *json = variant(mixtral, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"2\"");
    cli_write_file(path, json, strlen(json));
    free(json);
    r = CLI_RUN((char *)exe, "import", (char *)bad);
    char want[700];
    snprintf(want, sizeof want, "%s/config.json: field 'num_hidden_layers': expected an integer",
             bad);
    TAP_OK(r.status == 2 && cli_has(r.err, want) && r.out[0] == '\0',
           "import of a mistyped field: exit 2, nothing on stdout, file and field named");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "run", "--model", (char *)bad, "--steps", "1");
    TAP_OK(r.status == 2 && cli_has(r.err, "key 'weights.model_dir'") &&
               cli_has(r.err, "field 'num_hidden_layers'"),
           "run --model on it: exit 2 with the same message");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "run", "--steps", "1");
    TAP_OK(r.status == 2 && cli_has(r.err, "missing CONFIG or --model DIR"),
           "run without CONFIG or --model: exit 2 naming both");
    cli_result_free(&r);
    char conf[600];
    snprintf(conf, sizeof conf, "%s/default.conf", examples);
    r = CLI_RUN((char *)exe, "forward", conf, "--input", "x.safetensors", "--output",
                "y.safetensors", "--hf-layer", "1");
    TAP_OK(r.status == 2 && cli_has(r.err, "--hf-layer: ") &&
               cli_has(r.err, "has synthetic weights, which have no checkpoint layer numbers; "
                              "use --layer"),
           "forward --hf-layer on synthetic weights: exit 2, use --layer");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "import", "--help");
    TAP_OK(r.status == 0 && cli_has(r.out, "usage: zmoe import MODEL_DIR [--output FILE]"),
           "import --help");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "--help");
    TAP_OK(r.status == 0 && cli_has(r.out, "import"), "zmoe --help lists import");
    cli_result_free(&r);
    unlink(path);
    rmdir(bad);
    rmdir(empty);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        tap_bail("usage: test_import ZMOE_EXE EXAMPLES_DIR HUB_DIR");
    exe = argv[1];
    examples = argv[2];
    hub = argv[3];
    for (unsigned i = 0; i < NMODELS; i++)
        hub_model(i);
    spot_checks();
    malformed();
    binary_errors();
    cli_tmp_cleanup();
    return tap_exit();
}
