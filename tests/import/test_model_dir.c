/* Model directories through the zmoe binary. For each architecture the test writes a
 * mini Hugging Face model directory: a config.json as the family's hub files spell it
 * (small numbers) and a safetensors checkpoint in the family's own tensor names, dense
 * layers where the config says so (tests/runtime/rt_ckpt.h). Then:
 *  - `zmoe import DIR` gives a config naming DIR's checkpoint;
 *  - `zmoe run --model DIR --steps 2 --check` exits 0 with the check passing, and prints
 *    the prefix and the checkpoint layer of every config layer;
 * and on some of them: [runtime]/[budget] overrides from a file and the config key
 * weights.model_dir; forward --hf-layer (the checkpoint's layer number) against
 * --layer; the errors of a dense --hf-layer, of keys a model directory gives, of a
 * weights.prefix with a layer number, and of configs contradicting what the layout's
 * modeling code fixes (GPT-OSS sigmoid or concatenated gate_up, DeepSeek-V3 softmax).
 * Usage: test_model_dir ZMOE_EXE */
#include "cli/st.h"
#include "config/hf.h"
#include "tests/cli/cli_test.h"
#include "tests/runtime/rt_ckpt.h"

static const char *exe;

struct mcase {
    const char *name, *json;
    const char *prefix;     /* where the checkpoint puts its layers */
    uint32_t dense, every;  /* rck_build: leading dense layers, one MoE layer every n */
    unsigned shards;
    const char *mapping;    /* what run prints: "0->1 1->3" */
};

static const struct mcase cases[] = {
    {"llama4 maverick-style", "{\"architectures\": [\"Llama4ForConditionalGeneration\"], "
     "\"model_type\": \"llama4\", \"text_config\": {\"model_type\": \"llama4_text\", "
     "\"hidden_size\": 64, \"intermediate_size\": 32, \"intermediate_size_mlp\": 128, "
     "\"num_local_experts\": 8, \"num_experts_per_tok\": 1, \"num_hidden_layers\": 4, "
     "\"interleave_moe_layer_step\": 2, \"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\"}, "
     "\"vision_config\": {\"hidden_act\": \"gelu\", \"hidden_size\": 16}, "
     "\"torch_dtype\": \"bfloat16\"}",
     "language_model.model.layers.", 0, 2, 1, "0->1 1->3"},
    {"llama4 text-only", "{\"architectures\": [\"Llama4ForCausalLM\"], \"model_type\": "
     "\"llama4_text\", \"hidden_size\": 64, \"intermediate_size\": 32, \"num_local_experts\": 4, "
     "\"num_experts_per_tok\": 1, \"num_hidden_layers\": 2, \"interleave_moe_layer_step\": 1, "
     "\"hidden_act\": \"silu\", \"torch_dtype\": \"float32\"}",
     "model.layers.", 0, 1, 1, "0->0 1->1"},
    {"mixtral", "{\"architectures\": [\"MixtralForCausalLM\"], \"model_type\": \"mixtral\", "
     "\"hidden_size\": 64, \"intermediate_size\": 96, \"num_local_experts\": 8, "
     "\"num_experts_per_tok\": 2, \"num_hidden_layers\": 2, \"hidden_act\": \"silu\", "
     "\"torch_dtype\": \"float16\"}",
     "model.layers.", 0, 1, 2, "0->0 1->1"},
    {"qwen2-moe", "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"model_type\": \"qwen2_moe\", "
     "\"hidden_size\": 64, \"intermediate_size\": 128, \"moe_intermediate_size\": 32, "
     "\"num_experts\": 8, \"num_experts_per_tok\": 4, \"num_hidden_layers\": 3, "
     "\"decoder_sparse_step\": 1, \"mlp_only_layers\": [0], \"norm_topk_prob\": false, "
     "\"shared_expert_intermediate_size\": 64, \"hidden_act\": \"silu\", "
     "\"torch_dtype\": \"bfloat16\"}",
     "model.layers.", 1, 1, 1, "0->1 1->2"},
    {"qwen3-moe", "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \"model_type\": \"qwen3_moe\", "
     "\"hidden_size\": 64, \"intermediate_size\": 128, \"moe_intermediate_size\": 32, "
     "\"num_experts\": 16, \"num_experts_per_tok\": 4, \"num_hidden_layers\": 2, "
     "\"decoder_sparse_step\": 1, \"mlp_only_layers\": [], \"norm_topk_prob\": true, "
     "\"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\"}",
     "model.layers.", 0, 1, 1, "0->0 1->1"},
    {"deepseek-v2", "{\"architectures\": [\"DeepseekV2ForCausalLM\"], \"model_type\": "
     "\"deepseek_v2\", \"hidden_size\": 64, \"intermediate_size\": 128, "
     "\"moe_intermediate_size\": 32, \"n_routed_experts\": 16, \"n_shared_experts\": 2, "
     "\"num_experts_per_tok\": 4, \"num_hidden_layers\": 3, \"first_k_dense_replace\": 1, "
     "\"moe_layer_freq\": 1, \"n_group\": 1, \"topk_group\": 1, \"norm_topk_prob\": false, "
     "\"routed_scaling_factor\": 1.0, \"scoring_func\": \"softmax\", \"topk_method\": \"greedy\", "
     "\"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\"}",
     "model.layers.", 1, 1, 1, "0->1 1->2"},
    {"deepseek-v3", "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": "
     "\"deepseek_v3\", \"hidden_size\": 64, \"intermediate_size\": 128, "
     "\"moe_intermediate_size\": 32, \"n_routed_experts\": 32, \"n_shared_experts\": 1, "
     "\"num_experts_per_tok\": 4, \"num_hidden_layers\": 4, \"first_k_dense_replace\": 2, "
     "\"moe_layer_freq\": 1, \"n_group\": 8, \"topk_group\": 4, \"norm_topk_prob\": true, "
     "\"routed_scaling_factor\": 2.5, \"scoring_func\": \"sigmoid\", \"topk_method\": "
     "\"noaux_tc\", \"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\"}",
     "model.layers.", 2, 1, 3, "0->2 1->3"},
    {"gpt-oss", "{\"architectures\": [\"GptOssForCausalLM\"], \"model_type\": \"gpt_oss\", "
     "\"hidden_size\": 64, \"intermediate_size\": 32, \"num_local_experts\": 8, "
     "\"num_experts_per_tok\": 2, \"experts_per_token\": 2, \"num_hidden_layers\": 2, "
     "\"swiglu_limit\": 7.0, \"hidden_act\": \"silu\"}",
     "model.layers.", 0, 1, 1, "0->0 1->1"},
};
#define NCASES (sizeof cases / sizeof cases[0])

static char dirs[NCASES][512];
/* [runtime] wait bound for a loaded 2-core machine: hostdev compiles each kernel on its
 * first launch, which can take more than the default 5 s there. */
static const char *slow;
static struct zmoe_config imported[NCASES];

/* Removes a model directory (its files, one level). */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void write_dir(unsigned i)
{
    const struct mcase *k = &cases[i];
    snprintf(dirs[i], sizeof dirs[i], "%s/model%u", cli_tmpdir(), i);
    if (mkdir(dirs[i], 0700) != 0)
        tap_bail("mkdir %s", dirs[i]);
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dirs[i]);
    if (!cli_write_file(path, k->json, strlen(k->json)))
        tap_bail("cannot write %s", path);
    /* the checkpoint: the imported config's geometry, weights from a seed of the test */
    struct zmoe_hf_import *imp = calloc(1, sizeof *imp);
    struct zmoe_error err = {{0}};
    if (zmoe_config_import_hf(dirs[i], imp, &err) != ZMOE_OK)
        tap_bail("%s: %s", k->name, err.msg);
    imported[i] = imp->cfg;
    free(imp);
    struct zmoe_config fc = imported[i];
    fc.weights.seed = 4242 + i;
    struct rck *ck = calloc(1, sizeof *ck);
    rck_build(ck, &fc, k->prefix, k->dense, k->every, fc.dtype.weights);
    rck_write(ck, dirs[i], "model", k->shards);
    rck_free(ck);
    free(ck);
}

static void run_dir(unsigned i)
{
    const struct mcase *k = &cases[i];
    struct cli_result r = CLI_RUN((char *)exe, "import", dirs[i]);
    char want[700];
    snprintf(want, sizeof want, "file = %s/model.safetensors%s", dirs[i],
             k->shards > 1 ? ".index.json" : "");
    TAP_OK(r.status == 0 && cli_has(r.out, want) && !cli_has(r.err, "note"),
           "%s: import names the directory's checkpoint (%s)", k->name, want + 7);
    cli_result_free(&r);

    r = CLI_RUN((char *)exe, "run", "--model", dirs[i], (char *)slow, "--steps", "2", "--check");
    if (!TAP_OK(r.status == 0 && cli_has(r.out, ": PASS") && !cli_has(r.out, "FAIL"),
                "%s: run --model DIR --steps 2 --check passes", k->name))
        cli_diag(&r);
    snprintf(want, sizeof want, "checkpoint: prefix '%s' (detected); config layer -> "
             "checkpoint layer: %s\n", k->prefix, k->mapping);
    if (!TAP_OK(cli_has(r.out, want), "%s: run prints the prefix and the checkpoint layers "
                                      "(%s)", k->name, k->mapping))
        cli_diag(&r);
    cli_result_free(&r);
}

/* x [T, H] as F32 in the temporary directory */
static const char *write_x(const char *name, uint32_t T, uint32_t H)
{
    float *x = malloc((size_t)T * H * sizeof *x);
    uint64_t s = 99;
    for (size_t i = 0; i < (size_t)T * H; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
    const char *path = cli_tmp_path(name);
    struct st_tensor xt = {.ndim = 2, .shape = {T, H}, .data = x, .bytes = (uint64_t)T * H * 4};
    snprintf(xt.name, sizeof xt.name, "x");
    snprintf(xt.dtype, sizeof xt.dtype, "F32");
    char msg[512];
    if (st_write(path, &xt, 1, msg, sizeof msg) != 0)
        tap_bail("%s", msg);
    free(x);
    return path;
}

static void forward_hf_layer(void)
{
    unsigned i = 0; /* Maverick-style: MoE at checkpoint layers 1 and 3 */
    const char *x = write_x("x.safetensors", 3, imported[i].model.hidden);
    const char *y1 = cli_tmp_path("y-layer.safetensors"), *y2 = cli_tmp_path("y-hf.safetensors");
    struct cli_result a = CLI_RUN((char *)exe, "forward", "--model", dirs[i], (char *)slow,
                                  "--input", (char *)x, "--output", (char *)y1, "--layer", "1");
    struct cli_result b = CLI_RUN((char *)exe, "forward", "--model", dirs[i], (char *)slow,
                                  "--input", (char *)x, "--output", (char *)y2, "--hf-layer", "3");
    char want[700];
    snprintf(want, sizeof want, "config layer 1 = checkpoint layer 3 (tensors "
             "'language_model.model.layers.3.*', prefix 'language_model.model.layers.'");
    if (!TAP_OK(a.status == 0 && b.status == 0 && cli_has(a.out, want) && cli_has(b.out, want),
                "forward --layer 1 and --hf-layer 3 both say config layer 1 = checkpoint "
                "layer 3"))
        cli_diag(a.status ? &a : &b);
    size_t n1 = 0, n2 = 0;
    char *f1 = cli_read_file(y1, &n1), *f2 = cli_read_file(y2, &n2);
    TAP_OK(f1 && f2 && n1 == n2 && n1 > 0 && !memcmp(f1, f2, n1),
           "forward --hf-layer 3 writes the same bytes as --layer 1");
    free(f1);
    free(f2);
    cli_result_free(&a);
    cli_result_free(&b);

    a = CLI_RUN((char *)exe, "forward", "--model", dirs[i], "--input", (char *)x, "--output",
                (char *)y2, "--hf-layer", "2");
    TAP_OK(a.status == 2 && cli_has(a.err, "--hf-layer: checkpoint layer 2 has no MoE block "
                                           "(prefix 'language_model.model.layers.'; the MoE "
                                           "layers the config loads: 1 3)"),
           "forward --hf-layer 2 (a dense layer): exit 2 listing the MoE layers");
    cli_result_free(&a);
    a = CLI_RUN((char *)exe, "forward", "--model", dirs[i], "--input", (char *)x, "--output",
                (char *)y2, "--hf-layer", "3", "--layer", "1");
    TAP_OK(a.status == 2 && cli_has(a.err, "--layer and --hf-layer: give one"),
           "forward with --layer and --hf-layer: exit 2");
    cli_result_free(&a);
    a = CLI_RUN((char *)exe, "forward", "--help");
    TAP_OK(a.status == 0 && cli_has(a.out, "--layer L      zmoe's layer number") &&
               cli_has(a.out, "--hf-layer N   the checkpoint's own layer number"),
           "forward --help says which layer number is which");
    cli_result_free(&a);

    /* DeepSeek-V3-style, two dense layers first: --hf-layer 2 is config layer 0 */
    i = 6;
    const char *xd = write_x("xd.safetensors", 2, imported[i].model.hidden);
    a = CLI_RUN((char *)exe, "forward", "--model", dirs[i], (char *)slow, "--input", (char *)xd,
                "--output", (char *)y2, "--hf-layer", "2");
    TAP_OK(a.status == 0 && cli_has(a.out, "config layer 0 = checkpoint layer 2 (tensors "
                                           "'model.layers.2.*'"),
           "deepseek-v3: --hf-layer 2 runs config layer 0");
    cli_result_free(&a);
    a = CLI_RUN((char *)exe, "forward", "--model", dirs[i], "--input", (char *)xd, "--output",
                (char *)y2, "--layer", "2");
    TAP_OK(a.status == 2 && cli_has(a.err, "--layer: 2 out of range (the config has 2 MoE "
                                           "layers, 0..1; --hf-layer takes the checkpoint's"),
           "deepseek-v3: --layer 2 is out of range and the message points at --hf-layer");
    cli_result_free(&a);
}

/* The example's import text, with one line replaced, as a config file. */
static const char *edited_import(unsigned i, const char *from, const char *to, const char *name)
{
    struct cli_result r = CLI_RUN((char *)exe, "import", dirs[i]);
    char *at = r.status == 0 ? strstr(r.out, from) : NULL;
    if (!at)
        tap_bail("import of %s has no '%s'", dirs[i], from);
    size_t n = strlen(r.out) + strlen(to) + 1;
    char *text = malloc(n);
    int len = snprintf(text, n, "%.*s%s%s", (int)(at - r.out), r.out, to, at + strlen(from));
    const char *path = cli_tmp_path(name);
    if (!cli_write_file(path, text, (size_t)len))
        tap_bail("cannot write %s", path);
    free(text);
    cli_result_free(&r);
    return path;
}

static void expect_refused(const char *what, char *const argv[], const char *needle)
{
    struct cli_result r = cli_runv(argv);
    if (!TAP_OK(r.status == 2 && cli_has(r.err, needle), "%s: exit 2 naming the key", what))
        cli_diag(&r);
    cli_result_free(&r);
}

static void overrides_and_errors(void)
{
    /* [runtime]/[budget] from a file over a model directory */
    const char *ov = cli_tmp_path("overrides.conf");
    const char ovt[] = "[runtime]\nmax_tokens = 4\nring_depth = 2\nwait_timeout_ms = 60000\n"
                       "[budget]\ndevice_bytes = 64M\n";
    cli_write_file(ov, ovt, sizeof ovt - 1);
    struct cli_result r = CLI_RUN((char *)exe, "run", "--model", dirs[2], (char *)ov, "--steps",
                                  "2", "--tokens", "4", "--check");
    char want[700];
    snprintf(want, sizeof want, "zmoe run: --model %s with overrides %s", dirs[2], ov);
    if (!TAP_OK(r.status == 0 && cli_has(r.out, want) && cli_has(r.out, "of 64.00 MiB budget") &&
                    cli_has(r.out, ": PASS"),
                "run --model DIR OVERRIDES: the file's [runtime]/[budget] apply, check passes"))
        cli_diag(&r);
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "run", "--model", dirs[2], (char *)ov, "--tokens", "5");
    TAP_OK(r.status == 2 && cli_has(r.err, "--tokens: 5 exceeds runtime.max_tokens = 4"),
           "the override's max_tokens bounds --tokens");
    cli_result_free(&r);

    /* the config key: weights.model_dir in a file */
    const char *mk = cli_tmp_path("model-dir.conf");
    char text[1200];
    int n = snprintf(text, sizeof text, "[runtime]\nmax_tokens = 2\nwait_timeout_ms = 60000\n\n"
                     "[weights]\nmodel_dir = %s\n", dirs[6]);
    cli_write_file(mk, text, (size_t)n);
    r = CLI_RUN((char *)exe, "run", (char *)mk, "--steps", "2", "--tokens", "2", "--check");
    if (!TAP_OK(r.status == 0 && cli_has(r.out, ": PASS") &&
                    cli_has(r.out, "config layer -> checkpoint layer: 0->2 1->3"),
                "weights.model_dir in a config file runs the directory, check passes"))
        cli_diag(&r);
    cli_result_free(&r);
    struct zmoe_config c;
    struct zmoe_error err = {{0}};
    TAP_OK(zmoe_config_load(mk, &c, &err) == ZMOE_OK && c.runtime.max_tokens == 2 &&
               c.model.experts == 32 && c.router.groups == 8 &&
               c.weights.layout == ZMOE_LAYOUT_DEEPSEEK,
           "zmoe_config_load of it: the directory's model with the file's max_tokens %s",
           err.msg);
    n = snprintf(text, sizeof text, "[model]\nhidden = 64\n\n[weights]\nmodel_dir = %s\n", dirs[6]);
    const char *mk2 = cli_tmp_path("model-dir-bad.conf");
    cli_write_file(mk2, text, (size_t)n);
    snprintf(want, sizeof want, "%s:2: key 'model.hidden': not allowed with weights.model_dir "
             "(line 5): the model directory's config.json gives it", mk2);
    expect_refused("a [model] key next to weights.model_dir",
                   (char *const[]){(char *)exe, "run", (char *)mk2, NULL}, want);
    snprintf(want, sizeof want, "key 'weights.model_dir': given on the command line (--model %s) "
             "too", dirs[2]);
    expect_refused("model_dir in the file and --model",
                   (char *const[]){(char *)exe, "plan", "--model", dirs[2], (char *)mk, NULL},
                   want);

    /* weights.prefix with a layer number */
    const char *pf = cli_tmp_path("prefix.conf");
    const char pft[] = "[weights]\nprefix = language_model.model.layers.3.\n";
    cli_write_file(pf, pft, sizeof pft - 1);
    expect_refused("weights.prefix with a layer number",
                   (char *const[]){(char *)exe, "run", "--model", dirs[0], (char *)pf, NULL},
                   "key 'weights.prefix': expected the prefix without a layer number (here "
                   "'language_model.model.layers.'): the loader appends each layer's number "
                   "itself, so leave out '3.', found 'language_model.model.layers.3.'");

    /* configs that contradict the layout's fixed semantics */
    const char *s1 = edited_import(7, "scoring = softmax", "scoring = sigmoid", "oss-sigmoid.conf");
    expect_refused("gpt-oss checkpoint with scoring = sigmoid",
                   (char *const[]){(char *)exe, "run", (char *)s1, "--steps", "1", NULL},
                   "config key 'router.scoring' is sigmoid, but layout gpt_oss requires softmax");
    const char *s2 = edited_import(7, "gate_up = interleaved", "gate_up = concatenated",
                                   "oss-concat.conf");
    expect_refused("gpt-oss with gate_up = concatenated",
                   (char *const[]){(char *)exe, "run", (char *)s2, "--steps", "1", NULL},
                   "key 'experts.gate_up': expected interleaved with layout gpt_oss");
    const char *s3 = edited_import(6, "scoring = sigmoid", "scoring = softmax", "v3-softmax.conf");
    expect_refused("deepseek-v3 checkpoint with scoring = softmax",
                   (char *const[]){(char *)exe, "run", (char *)s3, "--steps", "1", NULL},
                   "config key 'router.scoring' is softmax, but layout deepseek requires "
                   "sigmoid (the checkpoint has e_score_correction_bias");
    const char *s4 = edited_import(2, "renormalize = true", "renormalize = false",
                                   "mixtral-norenorm.conf");
    expect_refused("mixtral checkpoint with renormalize = false",
                   (char *const[]){(char *)exe, "run", (char *)s4, "--steps", "1", NULL},
                   "config key 'router.renormalize' is false, but layout mixtral requires true");
}

int main(int argc, char **argv)
{
    if (argc != 2)
        tap_bail("usage: test_model_dir ZMOE_EXE");
    exe = argv[1];
    slow = cli_tmp_path("slow.conf");
    const char slow_text[] = "[runtime]\nwait_timeout_ms = 60000\n";
    if (!cli_write_file(slow, slow_text, sizeof slow_text - 1))
        tap_bail("cannot write %s", slow);
    for (unsigned i = 0; i < NCASES; i++)
        write_dir(i);
    for (unsigned i = 0; i < NCASES; i++)
        run_dir(i);
    forward_hf_layer();
    overrides_and_errors();
    for (unsigned i = 0; i < NCASES; i++)
        rm_dir(dirs[i]);
    cli_tmp_cleanup();
    return tap_exit();
}
