/* The zmoe binary on a safetensors checkpoint of each layout. For each mini example
 * config the test writes a checkpoint in the model's own Hugging Face layout (from the
 * synthetic weights under a seed other than the config's, tests/runtime/rt_ckpt.h) and
 * a config pointing at it (weights.file + weights.layout, prefix detected), then:
 *  - `zmoe run CONFIG --steps 3 --check`: exit 0, the weights file named, check PASS
 *    (the check's reference reads the same file through the loader);
 *  - `zmoe forward CONFIG --layer 1`: y and topk_ids against the reference MoE computed
 *    here from the known weights, independently of the loader;
 * and a checkpoint missing an expert's tensor makes `zmoe run` fail naming the file
 * and the tensor. Usage: test_cli_checkpoint ZMOE_EXE EXAMPLES_DIR */
#include "cli/st.h"
#include "tests/cli/cli_test.h"
#include "tests/runtime/rt_ckpt.h"

#include <math.h>

static const char *exe, *examples;

struct ccase {
    const char *name, *conf, *layout_name;
    enum zmoe_weights_layout layout;
    const char *prefix;
    uint32_t dense, every;
    unsigned shards;
};

static const struct ccase cases[] = {
    {"llama4", "llama4-scout-mini.conf", "llama4", ZMOE_LAYOUT_LLAMA4,
     "language_model.model.layers.", 0, 2, 1},
    {"mixtral", "mixtral-8x7b-mini.conf", "mixtral", ZMOE_LAYOUT_MIXTRAL, "model.layers.", 0, 1, 1},
    {"qwen3", "qwen3-30b-a3b-mini.conf", "qwen_moe", ZMOE_LAYOUT_QWEN_MOE, "model.layers.", 0, 1, 1},
    {"qwen2", "qwen2-moe-mini.conf", "qwen_moe", ZMOE_LAYOUT_QWEN_MOE, "model.layers.", 0, 1, 1},
    {"deepseek v2-lite", "deepseek-v2-lite-mini.conf", "deepseek", ZMOE_LAYOUT_DEEPSEEK,
     "model.layers.", 1, 1, 1},
    {"deepseek v3 sharded", "deepseek-v3-mini.conf", "deepseek", ZMOE_LAYOUT_DEEPSEEK,
     "model.layers.", 3, 1, 2},
    {"gpt_oss", "gpt-oss-20b-mini.conf", "gpt_oss", ZMOE_LAYOUT_GPT_OSS, "model.layers.", 0, 1,
     1},
};

/* The example's text with its [weights] section replaced by file + layout. */
static const char *write_config(const struct ccase *k, const char *weights, const char *stem)
{
    char src[600];
    snprintf(src, sizeof src, "%s/%s", examples, k->conf);
    char *text = cli_read_file(src, NULL);
    if (!text)
        tap_bail("cannot read %s", src);
    char *cut = strstr(text, "[weights]");
    if (!cut)
        tap_bail("%s has no [weights] section", src);
    size_t n = (size_t)(cut - text) + 1024;
    char *out = malloc(n);
    int len = snprintf(out, n, "%.*s[weights]\nfile = %s\nlayout = %s\n", (int)(cut - text), text,
                       weights, k->layout_name);
    char name[96];
    snprintf(name, sizeof name, "%s.conf", stem);
    const char *path = cli_tmp_path(name);
    if (len < 0 || (size_t)len >= n || !cli_write_file(path, out, (size_t)len))
        tap_bail("cannot write %s", path);
    free(out);
    free(text);
    return path;
}

/* Writes the checkpoint of case k (file dtype = the config's weight dtype); *fc gets the
 * file weights' config. Returns the path to configure. */
static const char *write_checkpoint(const struct ccase *k, const struct zmoe_config *c,
                                    struct zmoe_config *fc, const char *stem, const char *drop)
{
    *fc = *c;
    fc->weights.seed = c->weights.seed * 1000 + 99;
    fc->weights.layout = k->layout;
    fc->experts.gate_up_interleaved = k->layout == ZMOE_LAYOUT_GPT_OSS;
    struct rck *ck = calloc(1, sizeof *ck);
    rck_build(ck, fc, k->prefix, k->dense, k->every, c->dtype.weights);
    if (drop)
        rck_drop(ck, drop);
    static char path[512];
    snprintf(path, sizeof path, "%s", rck_write(ck, cli_tmpdir(), stem, k->shards));
    rck_free(ck);
    free(ck);
    return path;
}

static void run_case(const struct ccase *k, int idx)
{
    char src[600], stem[32];
    snprintf(src, sizeof src, "%s/%s", examples, k->conf);
    snprintf(stem, sizeof stem, "ckpt%d", idx);
    struct zmoe_config ex;
    struct zmoe_error err;
    if (zmoe_config_load(src, &ex, &err) != ZMOE_OK)
        tap_bail("%s", err.msg);
    struct zmoe_config fc;
    const char *weights = write_checkpoint(k, &ex, &fc, stem, NULL);
    char wpath[512];
    snprintf(wpath, sizeof wpath, "%s", weights);
    const char *conf = write_config(k, wpath, stem);
    struct zmoe_config c;
    if (zmoe_config_load(conf, &c, &err) != ZMOE_OK) {
        TAP_OK(0, "%s: the written config loads: %s", k->name, err.msg);
        tap_skip(5, "no config");
        return;
    }

    struct cli_result r = CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "3", "--check");
    if (!TAP_OK(r.status == 0, "%s: run --steps 3 --check on %s exits 0", k->name, wpath))
        cli_diag(&r);
    char want[600];
    snprintf(want, sizeof want, "weights:  %s", wpath);
    TAP_OK(cli_has(r.out, want), "%s: run names the weights file", k->name);
    TAP_OK(cli_has(r.out, "prefix '") && cli_has(r.out, "(detected)"),
           "%s: run reports the detected layer prefix", k->name);
    if (!TAP_OK(cli_has(r.out, "check (step 0") && cli_has(r.out, ": PASS") &&
                    !cli_has(r.out, "FAIL"),
                "%s: --check passes against the reference MoE", k->name))
        cli_diag(&r);
    cli_result_free(&r);

    /* forward on layer 1: y and the routing against the weights this test wrote */
    const uint32_t T = 5, H = c.model.hidden, K = c.model.top_k, layer = 1;
    float *x = malloc((size_t)T * H * sizeof *x);
    uint64_t s = 777 + (uint64_t)idx;
    for (size_t i = 0; i < (size_t)T * H; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
    if (c.dtype.activations != ZMOE_DTYPE_F32)
        tap_bail("%s: the test expects f32 activations", k->conf);
    char xn[64], yn[64];
    snprintf(xn, sizeof xn, "%s-x.safetensors", stem);
    snprintf(yn, sizeof yn, "%s-y.safetensors", stem);
    const char *xin = cli_tmp_path(xn), *yout = cli_tmp_path(yn);
    struct st_tensor xt = {.ndim = 2, .shape = {T, H}, .data = x, .bytes = (uint64_t)T * H * 4};
    snprintf(xt.name, sizeof xt.name, "x");
    snprintf(xt.dtype, sizeof xt.dtype, "F32");
    char msg[512];
    if (st_write(xin, &xt, 1, msg, sizeof msg) != 0)
        tap_bail("%s", msg);
    r = CLI_RUN((char *)exe, "forward", (char *)conf, "--input", (char *)xin, "--output",
                (char *)yout, "--layer", "1");
    if (!TAP_OK(r.status == 0, "%s: forward --layer 1 on %u tokens exits 0", k->name, T))
        cli_diag(&r);
    cli_result_free(&r);

    float *ref = malloc((size_t)T * H * sizeof *ref);
    uint32_t *rids = malloc((size_t)T * K * sizeof *rids);
    struct zmoe_ref_weights w;
    rck_ref_weights(&c, &fc, layer, fc.dtype.weights, &w);
    zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, rids, NULL);
    zmoe_ref_weights_free(&w);
    struct st_file f = {0};
    struct st_tensor y = {0}, ids = {0};
    bool ok = st_read(yout, &f, msg, sizeof msg) == 0 && st_find(&f, "y", &y, msg, sizeof msg) == 0 &&
              st_find(&f, "topk_ids", &ids, msg, sizeof msg) == 0 && !strcmp(y.dtype, "F32") &&
              y.bytes == (uint64_t)T * H * 4 && !strcmp(ids.dtype, "I32") &&
              ids.bytes == (uint64_t)T * K * 4;
    double max_abs = 0, max_ref = 1e-30;
    int bad_ids = 0;
    if (ok) {
        const float *yv = y.data;
        const int32_t *iv = ids.data;
        for (size_t i = 0; i < (size_t)T * H; i++) {
            double d = fabs((double)yv[i] - ref[i]);
            max_abs = isnan(d) ? INFINITY : d > max_abs ? d : max_abs;
            max_ref = fabs(ref[i]) > max_ref ? fabs(ref[i]) : max_ref;
        }
        for (size_t i = 0; i < (size_t)T * K; i++)
            bad_ids += iv[i] < 0 || (uint32_t)iv[i] != rids[i];
    } else {
        tap_diag("%s: %s", yout, msg);
    }
    TAP_OK(ok && max_abs / max_ref <= 1e-4 && bad_ids == 0,
           "%s: forward's y (rel %.3g) and topk_ids (%d differ) equal the reference on the "
           "written weights",
           k->name, ok ? max_abs / max_ref : INFINITY, bad_ids);
    st_free(&f);
    free(x);
    free(ref);
    free(rids);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    examples = argv[2];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], (int)i);

    /* a checkpoint without one expert's tensor: run fails naming the file and tensor */
    {
        const struct ccase *k = &cases[1];
        char src[600];
        snprintf(src, sizeof src, "%s/%s", examples, k->conf);
        struct zmoe_config ex, fc;
        struct zmoe_error err;
        if (zmoe_config_load(src, &ex, &err) != ZMOE_OK)
            tap_bail("%s", err.msg);
        const char *tensor = "model.layers.1.block_sparse_moe.experts.6.w3.weight";
        char wpath[512];
        snprintf(wpath, sizeof wpath, "%s", write_checkpoint(k, &ex, &fc, "broken", tensor));
        const char *conf = write_config(k, wpath, "broken");
        struct cli_result r = CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "1");
        if (!TAP_OK(r.status != 0 && r.status < 128 && cli_has(r.err, wpath) &&
                        cli_has(r.err, tensor) && cli_has(r.err, "missing tensor"),
                    "run on a checkpoint missing %s: exit %d naming the file and the tensor",
                    tensor, r.status))
            cli_diag(&r);
        cli_result_free(&r);
    }
    cli_tmp_cleanup();
    return tap_exit();
}
