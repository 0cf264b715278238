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
    /* the two published quantized: their quantization_config gives [quant] */
    {"DeepSeek-V3", "deepseek-v3-fp8.conf", "DeepseekV3ForCausalLM", "activation_scheme = \"dynamic\""},
    {"gpt-oss-20b", "gpt-oss-20b-mxfp4.conf", "GptOssForCausalLM", NULL},
    /* the base models' config.json with the quantized repos' quantization_config and
     * torch_dtype (Qwen/Qwen3-30B-A3B-GPTQ-Int4, RedHatAI/Llama-4-Scout-17B-16E-Instruct-
     * quantized.w4a16) */
    {"Qwen3-30B-A3B-GPTQ-Int4", "qwen3-30b-a3b-int4.conf", "Qwen3MoeForCausalLM", NULL},
    {"Llama-4-Scout-17B-16E-Instruct-quantized.w4a16", "llama4-scout-int4.conf",
     "Llama4ForConditionalGeneration", NULL},
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
        TAP_OK(!strstr(imp->notes, "quantization_config"), "%s: no quantization note", name);
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

/* ------------------------------------------------------------------ quantization_config */

/* A small Qwen3-MoE (hidden 256, experts 128 wide) with a quantization_config spliced in
 * at QC; DeepSeek-V3 and GPT-OSS bases for fp8 and mxfp4. */
static const char qwen3q[] =
    "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \"model_type\": \"qwen3_moe\", "
    "\"hidden_size\": 256, \"moe_intermediate_size\": 128, \"num_experts\": 8, "
    "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, \"norm_topk_prob\": true, "
    "\"torch_dtype\": \"bfloat16\", \"quantization_config\": QC}";
static const char dsv3q[] =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\", "
    "\"hidden_size\": 256, \"moe_intermediate_size\": 128, \"n_routed_experts\": 32, "
    "\"num_experts_per_tok\": 4, \"num_hidden_layers\": 4, \"first_k_dense_replace\": 1, "
    "\"moe_layer_freq\": 1, \"n_shared_experts\": 1, \"n_group\": 8, \"topk_group\": 4, "
    "\"norm_topk_prob\": true, \"routed_scaling_factor\": 2.5, \"scoring_func\": \"sigmoid\", "
    "\"topk_method\": \"noaux_tc\", \"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\", "
    "\"quantization_config\": QC}";
static const char gptossq[] =
    "{\"architectures\": [\"GptOssForCausalLM\"], \"model_type\": \"gpt_oss\", "
    "\"hidden_size\": 128, \"intermediate_size\": 128, \"num_local_experts\": 8, "
    "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, \"swiglu_limit\": 7.0, "
    "\"quantization_config\": QC}";

#define GPTQ(extra) "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128, " \
                    "\"desc_act\": false, \"sym\": true" extra "}"
#define CT(fmt, w, extra)                                                                \
    "{\"quant_method\": \"compressed-tensors\", \"format\": \"" fmt "\", "               \
    "\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": {" w "}, " \
    "\"input_activations\": null}}" extra "}"
#define CTW4 "\"num_bits\": 4, \"type\": \"int\", \"symmetric\": true, \"strategy\": \"group\", " \
             "\"group_size\": 128, \"actorder\": null, \"dynamic\": false"

static void quant_imports(void)
{
    static const struct {
        const char *what, *base, *qc;
        enum zmoe_quant_format format;
        enum zmoe_quant_packing packing;
        uint32_t group;
        bool zeros, act_order, shared;
        enum zmoe_scale_dtype scale;
        const char *why_key, *why; /* a comment naming the field */
    } good[] = {
        {"GPTQ int4 g128 sym", qwen3q, GPTQ(", \"checkpoint_format\": \"gptq\""), ZMOE_QUANT_INT4,
         ZMOE_PACK_GPTQ, 128, false, false, true, ZMOE_SCALE_F16, "quant.group_size",
         "quantization_config.group_size = 128"},
        {"GPTQ int8 per channel, asymmetric, desc_act", qwen3q,
         "{\"quant_method\": \"gptq\", \"bits\": 8, \"group_size\": -1, \"desc_act\": false, "
         "\"sym\": false}", ZMOE_QUANT_INT8, ZMOE_PACK_GPTQ, 0, true, false, true, ZMOE_SCALE_F16,
         "quant.zero_points", "quantization_config.sym = false"},
        {"GPTQ act-order", qwen3q,
         "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 64, \"desc_act\": true}",
         ZMOE_QUANT_INT4, ZMOE_PACK_GPTQ, 64, false, true, true, ZMOE_SCALE_F16, "quant.act_order",
         "quantization_config.desc_act = true"},
        {"AWQ GEMM", qwen3q,
         "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": true, "
         "\"version\": \"gemm\"}", ZMOE_QUANT_INT4, ZMOE_PACK_AWQ, 128, true, false, true,
         ZMOE_SCALE_F16, "quant.packing", "quant_method = \"awq\""},
        {"AWQ with AutoAWQ's own names (w_bit, q_group_size)", qwen3q,
         "{\"quant_method\": \"awq\", \"w_bit\": 4, \"q_group_size\": 64, \"zero_point\": true}",
         ZMOE_QUANT_INT4, ZMOE_PACK_AWQ, 64, true, false, true, ZMOE_SCALE_F16, "quant.format",
         "quantization_config.w_bit = 4"},
        {"AutoRound, GPTQ packing", qwen3q,
         "{\"quant_method\": \"auto-round\", \"packing_format\": \"auto_round:auto_gptq\", "
         "\"bits\": 4, \"group_size\": 128, \"sym\": true, \"data_type\": \"int\"}",
         ZMOE_QUANT_INT4, ZMOE_PACK_GPTQ, 128, false, false, true, ZMOE_SCALE_F16, "quant.packing",
         "packing_format = \"auto_round:auto_gptq\""},
        {"AutoRound, AWQ packing", qwen3q,
         "{\"quant_method\": \"auto-round\", \"packing_format\": \"auto_round:auto_awq\", "
         "\"bits\": 4, \"group_size\": 64, \"sym\": false}",
         ZMOE_QUANT_INT4, ZMOE_PACK_AWQ, 64, true, false, true, ZMOE_SCALE_F16, "quant.packing",
         "packing_format = \"auto_round:auto_awq\""},
        {"compressed-tensors W4A16 pack-quantized", qwen3q, CT("pack-quantized", CTW4, ""),
         ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 128, false, false, true, ZMOE_SCALE_BF16,
         "quant.group_size", "config_groups.group_0.weights.strategy = group, group_size = 128"},
        {"compressed-tensors actorder null", qwen3q, CT("pack-quantized", CTW4, ""),
         ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 128, false, false, true, ZMOE_SCALE_BF16,
         "quant.act_order", "weights.actorder null or absent: columns in order"},
        {"compressed-tensors W4A16 asymmetric", qwen3q,
         CT("pack-quantized", "\"num_bits\": 4, \"type\": \"int\", \"symmetric\": false, "
            "\"strategy\": \"group\", \"group_size\": 32", ""),
         ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 32, true, false, true, ZMOE_SCALE_BF16,
         "quant.zero_points", "weights.symmetric = false"},
        {"compressed-tensors actorder group (weight_g_idx)", qwen3q,
         CT("pack-quantized", "\"num_bits\": 4, \"type\": \"int\", \"symmetric\": true, "
            "\"strategy\": \"group\", \"group_size\": 64, \"actorder\": \"group\"", ""),
         ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 64, false, true, true, ZMOE_SCALE_BF16,
         "quant.act_order", "actorder = \"group\" (weight_g_idx"},
        {"compressed-tensors actorder weight (no g_idx)", qwen3q,
         CT("pack-quantized", "\"num_bits\": 4, \"type\": \"int\", \"symmetric\": true, "
            "\"strategy\": \"group\", \"group_size\": 64, \"actorder\": \"weight\"", ""),
         ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 64, false, false, true, ZMOE_SCALE_BF16,
         "quant.act_order", "actorder = \"weight\" (no g_idx stored"},
        {"compressed-tensors W8A16 int-quantized channel", qwen3q,
         CT("int-quantized", "\"num_bits\": 8, \"type\": \"int\", \"symmetric\": true, "
            "\"strategy\": \"channel\"", ""),
         ZMOE_QUANT_INT8, ZMOE_PACK_COMPRESSED_TENSORS, 0, false, false, true, ZMOE_SCALE_BF16,
         "quant.packing", "format = \"int-quantized\""},
        {"compressed-tensors fp8 block, shared expert ignored", dsv3q,
         CT("float-quantized", "\"num_bits\": 8, \"type\": \"float\", \"symmetric\": true, "
            "\"strategy\": \"block\", \"block_structure\": [128, 128]",
            ", \"ignore\": [\"lm_head\", \"re:.*mlp.shared_experts.*\"]"),
         ZMOE_QUANT_FP8, ZMOE_PACK_COMPRESSED_TENSORS, 128, false, false, false, ZMOE_SCALE_BF16,
         "quant.shared_experts", "ignore lists \"re:.*mlp.shared_experts.*\""},
        {"fp8 native (DeepSeek-V3)", dsv3q,
         "{\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", \"activation_scheme\": \"dynamic\", "
         "\"weight_block_size\": [128, 128]}", ZMOE_QUANT_FP8, ZMOE_PACK_NATIVE, 128, false, false,
         true, ZMOE_SCALE_F32, "quant.group_size", "weight_block_size = [128, 128]"},
        {"mxfp4 (GPT-OSS)", gptossq,
         "{\"quant_method\": \"mxfp4\", \"modules_to_not_convert\": [\"model.layers.*.mlp.router\"]}",
         ZMOE_QUANT_MXFP4, ZMOE_PACK_NATIVE, 32, false, false, true, ZMOE_SCALE_E8M0, "quant.format",
         "quant_method = \"mxfp4\""},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *json = variant(good[i].base, "QC", good[i].qc);
        struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_import_hf_json(json, strlen(json), "q.json", "m", imp, &err);
        const struct zmoe_config *c = &imp->cfg;
        if (!TAP_OK(st == ZMOE_OK && c->quant.format == good[i].format &&
                        c->quant.packing == good[i].packing && c->quant.group_size == good[i].group &&
                        c->quant.zero_points == good[i].zeros &&
                        c->quant.act_order == good[i].act_order &&
                        c->quant.shared_experts == good[i].shared &&
                        c->quant.scale_dtype == good[i].scale,
                    "%s: [quant] %s %s group %u%s%s%s", good[i].what,
                    zmoe_config_quant_format_name(good[i].format),
                    zmoe_config_quant_packing_name(good[i].packing), good[i].group,
                    good[i].zeros ? " zero points" : "", good[i].act_order ? " act-order" : "",
                    good[i].shared ? "" : " shared float"))
            tap_diag("status %s: %s", zmoe_status_str(st), err.msg);
        const char *why = st == ZMOE_OK ? zmoe_config_hf_why(imp, good[i].why_key) : NULL;
        TAP_OK(why && strstr(why, good[i].why), "%s: %s comment names '%s' (%s)", good[i].what,
               good[i].why_key, good[i].why, why ? why : "none");
        /* printed with a comment on every [quant] key, and reads back equal */
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        enum zmoe_status pst = st == ZMOE_OK ? zmoe_config_hf_print(imp, mem, &err) : st;
        fclose(mem);
        struct zmoe_config back;
        const char *bare = text ? uncommented_key(text) : "no text";
        TAP_OK(pst == ZMOE_OK && text && strstr(text, "[quant]") && bare == NULL &&
                   zmoe_config_parse(text, len, "printed", &back, &err) == ZMOE_OK &&
                   zmoe_config_diff(&back, c) == NULL,
               "%s: printed with [quant], every key commented (bare: %s), reads back equal",
               good[i].what, bare ? bare : "none");
        free(text);
        free(imp);
        free(json);
    }

    static const struct {
        const char *what, *base, *qc, *expect;
    } bad[] = {
        {"GPTQ 3 bits", qwen3q, "{\"quant_method\": \"gptq\", \"bits\": 3, \"group_size\": 128}",
         "field 'quantization_config.bits': 3 bits is not a width zmoe keeps (4 or 8)"},
        {"GPTQ without bits", qwen3q, "{\"quant_method\": \"gptq\", \"group_size\": 128}",
         "field 'quantization_config.bits': missing"},
        {"GPTQ v2 zero points", qwen3q, GPTQ(", \"checkpoint_format\": \"gptq_v2\""),
         "field 'quantization_config.checkpoint_format': \"gptq_v2\" is not a GPTQ packing zmoe reads"},
        {"GPTQ bits as a string", qwen3q, "{\"quant_method\": \"gptq\", \"bits\": \"4\", \"group_size\": 128}",
         "field 'quantization_config.bits': expected an integer, found \"4\""},
        {"GPTQ group not dividing the intermediate", qwen3q, "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 96}",
         "the fields give a config zmoe refuses: config: key 'quant.group_size'"},
        {"AWQ 8 bits", qwen3q, "{\"quant_method\": \"awq\", \"bits\": 8, \"group_size\": 128, \"zero_point\": true}",
         "field 'quantization_config.bits': 8 bits is not a width zmoe keeps (4)"},
        {"AWQ with desc_act", qwen3q,
         "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": true, \"desc_act\": true}",
         "field 'quantization_config.desc_act': true with quant_method \"awq\""},
        {"AWQ GEMV", qwen3q,
         "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": true, \"version\": \"gemv\"}",
         "field 'quantization_config.version': \"gemv\" is not an AWQ packing zmoe reads"},
        {"AWQ symmetric", qwen3q,
         "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": false}",
         "field 'quantization_config.zero_point': false (symmetric AWQ)"},
        {"compressed-tensors W8A8 (activation quantization)", qwen3q,
         "{\"quant_method\": \"compressed-tensors\", \"format\": \"int-quantized\", \"config_groups\": "
         "{\"group_0\": {\"weights\": {\"num_bits\": 8, \"type\": \"int\", \"strategy\": \"channel\"}, "
         "\"input_activations\": {\"num_bits\": 8, \"type\": \"int\", \"dynamic\": true}}}}",
         "field 'quantization_config.config_groups.group_0.input_activations': activation "
         "quantization (W8A8-style schemes) is not something zmoe does"},
        {"compressed-tensors 2 bits", qwen3q,
         CT("pack-quantized", "\"num_bits\": 2, \"type\": \"int\", \"strategy\": \"group\", \"group_size\": 128", ""),
         "field 'quantization_config.config_groups.group_0.weights.num_bits': 2 bits"},
        {"compressed-tensors int4 as int-quantized", qwen3q,
         CT("int-quantized", CTW4, ""),
         "field 'quantization_config.format': \"int-quantized\" with 4-bit int weights (expected pack-quantized)"},
        {"compressed-tensors unknown actorder", qwen3q,
         CT("pack-quantized", "\"num_bits\": 4, \"type\": \"int\", \"strategy\": \"group\", "
            "\"group_size\": 128, \"actorder\": \"dynamic\"", ""),
         "field 'quantization_config.config_groups.group_0.weights.actorder': \"dynamic\" (expected null, group, weight or static)"},
        {"compressed-tensors tensor strategy", qwen3q,
         CT("pack-quantized", "\"num_bits\": 4, \"type\": \"int\", \"strategy\": \"tensor\"", ""),
         "field 'quantization_config.config_groups.group_0.weights.strategy': \"tensor\" is not a scale layout"},
        {"compressed-tensors NVFP4", qwen3q,
         CT("nvfp4-pack-quantized", "\"num_bits\": 4, \"type\": \"float\", \"strategy\": \"tensor_group\", \"group_size\": 16", ""),
         "field 'quantization_config.config_groups.group_0.weights.num_bits': 4 with type float"},
        {"compressed-tensors fp8 block 64", dsv3q,
         CT("float-quantized", "\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"block\", "
            "\"block_structure\": [64, 64]", ""),
         "field 'quantization_config.config_groups.group_0.weights.block_structure': expected [128, 128]"},
        {"compressed-tensors two groups", qwen3q,
         "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": "
         "{\"a\": {\"weights\": {" CTW4 "}}, \"b\": {\"weights\": {" CTW4 "}}}}",
         "field 'quantization_config.config_groups': expected an object with one group"},
        {"compressed-tensors without format", qwen3q,
         "{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {" CTW4 "}}}}",
         "field 'quantization_config.format': missing"},
        {"fp8 without block size (per tensor)", dsv3q,
         "{\"quant_method\": \"fp8\", \"fmt\": \"e4m3\", \"activation_scheme\": \"dynamic\"}",
         "field 'quantization_config.weight_block_size': expected [128, 128] (the fp8 blocks zmoe reads), found nothing"},
        {"fp8 static activations", dsv3q,
         "{\"quant_method\": \"fp8\", \"activation_scheme\": \"static\", \"weight_block_size\": [128, 128]}",
         "field 'quantization_config.activation_scheme': \"static\""},
        {"fp8 e5m2", dsv3q,
         "{\"quant_method\": \"fp8\", \"fmt\": \"e5m2\", \"weight_block_size\": [128, 128]}",
         "field 'quantization_config.fmt': \"e5m2\" is not an fp8 format zmoe keeps"},
        {"mxfp4 outside GPT-OSS", qwen3q, "{\"quant_method\": \"mxfp4\"}",
         "field 'quantization_config.quant_method': \"mxfp4\" outside GPT-OSS"},
        {"AutoRound native packing", qwen3q,
         "{\"quant_method\": \"auto-round\", \"packing_format\": \"auto_round\", \"bits\": 4, "
         "\"group_size\": 128}",
         "field 'quantization_config.packing_format': \"auto_round\" is not a packing zmoe reads"},
        {"AutoRound mxfp4 data type", qwen3q,
         "{\"quant_method\": \"auto-round\", \"packing_format\": \"auto_round:auto_gptq\", "
         "\"bits\": 4, \"group_size\": 32, \"data_type\": \"mx_fp\"}",
         "field 'quantization_config.data_type': \"mx_fp\""},
        {"bitsandbytes", qwen3q, "{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true}",
         "field 'quantization_config.quant_method': \"bitsandbytes\" is not a quantization zmoe reads "
         "(gptq, awq, auto-round, compressed-tensors, fp8, mxfp4)"},
        {"no quant_method", qwen3q, "{\"bits\": 4}", "field 'quantization_config.quant_method': missing"},
        {"quantization_config not an object", qwen3q, "[4]",
         "field 'quantization_config': expected an object, found [4]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *json = variant(bad[i].base, "QC", bad[i].qc);
        struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_import_hf_json(json, strlen(json), "bad.json", "m", imp,
                                                         &err);
        if (!TAP_OK(st == ZMOE_ERR_CONFIG && !strncmp(err.msg, "bad.json: ", 10) &&
                        strstr(err.msg, bad[i].expect),
                    "%s: refused naming the field and value", bad[i].what)) {
            tap_diag("status %s, message: %s", zmoe_status_str(st), err.msg);
            tap_diag("expected: %s", bad[i].expect);
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
    quant_imports();
    binary_errors();
    cli_tmp_cleanup();
    return tap_exit();
}
