/* file -> arena -> layer output for every checkpoint layout, through the public API.
 *
 * For each layout the test takes a mini example config (the config/examples mini files),
 * writes a checkpoint in the model's own Hugging Face names, shapes and file dtype from
 * the synthetic weights under a *file seed* that differs from the config's synthetic
 * seed (rt_ckpt.h, an inverse of the documented mapping), points the config at it
 * (weights.file + weights.layout), creates a runtime, loads, and runs T=1 and T=5 on
 * both layers. y must equal zmoe_ref_forward on the file's values (rounded as the
 * device holds them) and the routing readback must equal the reference's choice; a
 * runtime that silently fell back to the config's synthetic weights is shown to be
 * caught. Covered: Llama 4 (fused gate_up [E,H,2I] concatenated and interleaved, shared
 * expert, on-input, sigmoid, MoE every other layer, detected and configured prefixes),
 * Mixtral (f32 file -> f16 arena), Qwen3-MoE, Qwen2-MoE (shared expert + gate, bf16
 * file -> f32 arena), DeepSeek-V2-Lite (softmax, 2 shared, one leading dense layer),
 * DeepSeek-V3 (sigmoid, score bias, grouped top-k, three leading dense layers, sharded
 * with an index json), GPT-OSS (router bias, interleaved gate_up + biases, swiglu_oai).
 *
 * Then broken checkpoints (an expert's tensor missing, a wrong shape; single file and
 * sharded): zmoe_load_weights fails naming the file and the tensor, the runtime
 * refuses acquire/submit with nothing executed, and destroy is clean.
 *
 * Usage: test_runtime_layouts EXAMPLES_DIR */
#include "rt_ckpt.h"
#include "rt_util.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *examples;
static char dir[] = "/tmp/zmoe-rt-layouts-XXXXXX";

struct lcase {
    const char *name;
    const char *conf; /* in examples/ */
    enum zmoe_weights_layout layout;
    const char *prefix;     /* where the checkpoint puts its layers */
    bool prefix_configured; /* else detected */
    uint32_t dense;         /* leading dense checkpoint layers */
    uint32_t every;         /* one MoE layer every `every` checkpoint layers */
    unsigned shards;        /* > 1: sharded with an index json */
    enum zmoe_dtype file_dt;
    int arena_dt; /* -1: as the example config says */
    bool interleaved;
};

static const struct lcase cases[] = {
    {"llama4", "llama4-scout-mini.conf", ZMOE_LAYOUT_LLAMA4, "language_model.model.layers.",
     false, 0, 2, 1, ZMOE_DTYPE_BF16, -1, false},
    {"llama4 interleaved", "llama4-scout-mini.conf", ZMOE_LAYOUT_LLAMA4,
     "model.language_model.layers.", true, 1, 1, 1, ZMOE_DTYPE_BF16, -1, true},
    {"mixtral f32 file", "mixtral-8x7b-mini.conf", ZMOE_LAYOUT_MIXTRAL, "model.layers.", false, 0,
     1, 1, ZMOE_DTYPE_F32, -1, false},
    {"qwen3", "qwen3-30b-a3b-mini.conf", ZMOE_LAYOUT_QWEN_MOE, "model.layers.", false, 0, 1, 1,
     ZMOE_DTYPE_BF16, -1, false},
    {"qwen2 f32 arena", "qwen2-moe-mini.conf", ZMOE_LAYOUT_QWEN_MOE, "model.layers.", false, 0, 1,
     1, ZMOE_DTYPE_BF16, ZMOE_DTYPE_F32, false},
    {"deepseek v2-lite", "deepseek-v2-lite-mini.conf", ZMOE_LAYOUT_DEEPSEEK, "model.layers.",
     false, 1, 1, 1, ZMOE_DTYPE_BF16, -1, false},
    {"deepseek v3 sharded", "deepseek-v3-mini.conf", ZMOE_LAYOUT_DEEPSEEK, "model.layers.",
     false, 3, 1, 3, ZMOE_DTYPE_BF16, -1, false},
    {"gpt_oss", "gpt-oss-20b-mini.conf", ZMOE_LAYOUT_GPT_OSS, "model.layers.", false, 0, 1, 1,
     ZMOE_DTYPE_BF16, -1, true},
};

static struct zmoe_config example(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", examples, name);
    struct zmoe_config c;
    struct zmoe_error err = {{0}};
    if (zmoe_config_load(path, &c, &err) != ZMOE_OK)
        tap_bail("%s: %s", path, err.msg);
    c.runtime.device = ZMOE_DEVICE_HOST;
    c.runtime.wait_timeout_ms = 30000;
    return c;
}

/* The config of the file weights: same geometry and switches, its own seed, matrices
 * rounded to the file dtype. */
static struct zmoe_config file_config(const struct zmoe_config *c, const struct lcase *k)
{
    struct zmoe_config f = *c;
    f.weights.seed = c->weights.seed * 1000 + 77;
    f.dtype.weights = k->file_dt;
    f.weights.layout = k->layout;
    f.experts.gate_up_interleaved = k->interleaved;
    return f;
}

static void run_case(const struct lcase *k)
{
    struct zmoe_config c = example(k->conf);
    struct zmoe_config fc = file_config(&c, k);
    struct rck *ck = calloc(1, sizeof *ck);
    rck_build(ck, &fc, k->prefix, k->dense, k->every, k->file_dt);
    char stem[64];
    snprintf(stem, sizeof stem, "case%d", (int)(k - cases));
    snprintf(c.weights.file, sizeof c.weights.file, "%s", rck_write(ck, dir, stem, k->shards));
    rck_free(ck);
    free(ck);
    c.weights.layout = k->layout;
    c.experts.gate_up_interleaved = k->interleaved;
    if (k->prefix_configured)
        snprintf(c.weights.prefix, sizeof c.weights.prefix, "%s", k->prefix);
    if (k->arena_dt >= 0) {
        c.dtype.weights = (enum zmoe_dtype)k->arena_dt;
        c.budget.device_bytes = c.budget.host_bytes = 0; /* the example's budget is for bf16 */
    }
    const double tol = c.dtype.activations == ZMOE_DTYPE_F32 ? 1e-4 : rt_tolerance(&c);
    const uint32_t H = c.model.hidden, K = c.model.top_k;
    tap_diag("%s: %s, %s file -> %s arena, file seed %llu, config seed %llu", k->name,
             c.weights.file, stw_dtype_name(k->file_dt), zmoe_dtype_name(c.dtype.weights),
             (unsigned long long)fc.weights.seed, (unsigned long long)c.weights.seed);

    struct zmoe_runtime *rt = rt_create(&c, k->name);
    if (!TAP_OK(rt != NULL, "%s: create + load_weights from %s (%u shard%s)", k->name,
                c.weights.file, k->shards, k->shards > 1 ? "s" : "")) {
        tap_skip(2 * 2 * (int)c.model.layers + 1, "no runtime");
        return;
    }
    float *y = malloc(5 * H * sizeof *y), *ref = malloc(5 * H * sizeof *ref);
    uint32_t ids[5 * 64], rids[5 * 64];
    float wts[5 * 64], rwts[5 * 64];
    if (K > 64)
        tap_bail("top_k %u > 64", K);
    static const uint32_t Ts[2] = {1, 5};
    for (int ti = 0; ti < 2; ti++) {
        uint32_t T = Ts[ti];
        for (uint32_t l = 0; l < c.model.layers; l++) {
            float *x = rt_inputs(&c, T, 1000 + 10 * T + l);
            struct zmoe_ref_weights w;
            rck_ref_weights(&c, &fc, l, k->file_dt, &w);
            zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, rids, rwts);
            zmoe_ref_weights_free(&w);
            enum zmoe_status st = rt_forward_routed(rt, &c, l, x, T, y, ids, wts);
            double rel = st ? INFINITY : rt_rel_error(y, ref, (size_t)T * H, NULL);
            TAP_OK(st == ZMOE_OK && rel <= tol,
                   "%s: layer %u, T=%u: y equals the reference on the file's weights (rel %.3g, "
                   "tol %.0e)",
                   k->name, l, T, rel, tol);
            int bad_id = -1;
            double dw = 0;
            for (uint32_t i = 0; st == ZMOE_OK && i < T * K; i++) {
                if (ids[i] != rids[i] && bad_id < 0)
                    bad_id = (int)i;
                if (fabs((double)wts[i] - (double)rwts[i]) > dw)
                    dw = fabs((double)wts[i] - (double)rwts[i]);
            }
            if (!TAP_OK(st == ZMOE_OK && bad_id < 0 && dw <= 1e-4,
                        "%s: layer %u, T=%u: routing readback equals the reference's top-%u "
                        "(ids, weights within %.1g)",
                        k->name, l, T, K, dw) &&
                bad_id >= 0)
                tap_diag("  token %u choice %u: expert %u, reference %u", bad_id / K, bad_id % K,
                         ids[bad_id], rids[bad_id]);
            /* The same layer on the config's own synthetic weights (what a silent fallback
             * would compute) is far from the device's output: the check above can fail. */
            if (ti == 1 && l == 0) {
                struct zmoe_ref_weights s;
                if (zmoe_ref_weights_synthetic(&c, l, &s) != 0)
                    tap_bail("synthetic weights");
                zmoe_ref_forward(&c, &s, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
                zmoe_ref_weights_free(&s);
                double off = rt_rel_error(y, ref, (size_t)T * H, NULL);
                TAP_OK(st == ZMOE_OK && off > 100 * tol,
                       "%s: the config's synthetic weights (seed %llu) give another y (rel %.3g)",
                       k->name, (unsigned long long)c.weights.seed, off);
            }
            free(x);
        }
    }
    free(y);
    free(ref);
    zmoe_destroy(rt);
}

/* ------------------------------------------------------------------ broken checkpoints */

struct bad {
    const char *name;
    const struct lcase *base;
    const char *tensor;    /* the broken tensor */
    bool missing;          /* else: wrong shape */
    unsigned ndim;         /* wrong shape */
    uint64_t shape[3];
    const char *want;      /* also in the message */
};

static void run_bad(const struct bad *b)
{
    const struct lcase *k = b->base;
    struct zmoe_config c = example(k->conf);
    struct zmoe_config fc = file_config(&c, k);
    struct rck *ck = calloc(1, sizeof *ck);
    rck_build(ck, &fc, k->prefix, k->dense, k->every, k->file_dt);
    if (b->missing)
        rck_drop(ck, b->tensor);
    else
        rck_reshape(ck, b->tensor, b->ndim, b->shape[0], b->shape[1], b->shape[2]);
    char stem[64];
    snprintf(stem, sizeof stem, "bad%s%s", b->missing ? "missing" : "shape",
             k->shards > 1 ? "sharded" : "");
    snprintf(c.weights.file, sizeof c.weights.file, "%s", rck_write(ck, dir, stem, k->shards));
    /* the file the message must name: the index for a missing tensor of a sharded set
     * (no shard holds it), else the file holding the tensor */
    char named[600];
    if (k->shards > 1 && !b->missing)
        snprintf(named, sizeof named, "%s/%s", dir,
                 rck_shard_of(ck, stem, k->shards, b->tensor));
    else
        snprintf(named, sizeof named, "%s", c.weights.file);
    rck_free(ck);
    free(ck);
    c.weights.layout = k->layout;
    c.experts.gate_up_interleaved = k->interleaved;
    if (k->prefix_configured)
        snprintf(c.weights.prefix, sizeof c.weights.prefix, "%s", k->prefix);

    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = &c};
    struct zmoe_runtime *rt = NULL;
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s: create (%s)", b->name, err.msg)) {
        tap_skip(5, "no runtime");
        return;
    }
    st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_ERR_WEIGHTS && strstr(err.msg, named) && strstr(err.msg, b->tensor) &&
                    (!b->want || strstr(err.msg, b->want)),
                "%s: load_weights fails with ZMOE_ERR_WEIGHTS naming the file and the tensor",
                b->name))
        tap_diag("  got %s: %s\n  want %s, '%s', '%s'", zmoe_status_str(st), err.msg, named,
                 b->tensor, b->want ? b->want : "");
    else
        tap_diag("  %s", err.msg);

    struct zmoe_slot slot;
    memset(&slot, 0, sizeof slot);
    err.msg[0] = '\0';
    st = zmoe_slot_acquire(rt, &slot, &err);
    TAP_OK(st == ZMOE_ERR_STATE && err.msg[0], "%s: then slot_acquire: ZMOE_ERR_STATE (%s)",
           b->name, err.msg);
    /* No slot can be had; a submit of any slot is refused as a phase error before the
     * slot is even looked at, and nothing runs. */
    struct zmoe_slot fake = {0};
    err.msg[0] = '\0';
    st = zmoe_submit(rt, &fake, 0, 1, &err);
    enum zmoe_status st2 = zmoe_submit(rt, &slot, 0, 1, &err);
    struct zmoe_stats stats;
    zmoe_get_stats(rt, &stats);
    TAP_OK(st == ZMOE_ERR_STATE && st2 == ZMOE_ERR_STATE && stats.submits == 0,
           "%s: then submit is refused (%s, %s), %llu submits ran", b->name, zmoe_status_str(st),
           zmoe_status_str(st2), (unsigned long long)stats.submits);
    /* Trying again reads the same broken file: the same failure, still not runnable. */
    char first[ZMOE_ERROR_MAX];
    snprintf(first, sizeof first, "%s", err.msg);
    st = zmoe_load_weights(rt, &err);
    TAP_OK(st == ZMOE_ERR_WEIGHTS && strstr(err.msg, b->tensor),
           "%s: a second load_weights fails the same way", b->name);
    st = zmoe_slot_acquire(rt, &slot, &err);
    TAP_EQ_INT(st, ZMOE_ERR_STATE, "%s: and acquire still refuses", b->name);
    zmoe_destroy(rt); /* clean: the sanitizer builds run this test under ASan/LSan */
}

int main(int argc, char **argv)
{
    if (argc < 2)
        tap_bail("usage: %s EXAMPLES_DIR", argv[0]);
    examples = argv[1];
    if (!mkdtemp(dir))
        tap_bail("mkdtemp failed");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);

    /* Llama 4 sharded in 2 files, for a wrong shape inside a shard */
    struct lcase l4s = cases[0];
    l4s.shards = 2;
    const struct bad bads[] = {
        {"missing expert tensor", &cases[2], "model.layers.1.block_sparse_moe.experts.5.w2.weight",
         true, 0, {0}, "missing tensor"},
        {"missing expert tensor, sharded", &cases[6], "model.layers.4.mlp.experts.7.up_proj.weight",
         true, 0, {0}, "missing tensor"},
        {"wrong shape", &cases[3], "model.layers.0.mlp.experts.3.up_proj.weight", false, 2,
         {64, 136, 0}, "expected shape [64, 128], found [64, 136]"},
        {"wrong shape, sharded", &l4s,
         "language_model.model.layers.3.feed_forward.experts.gate_up_proj", false, 3,
         {16, 128, 255}, "expected shape [16, 128, 256], found [16, 128, 255]"},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
        run_bad(&bads[i]);

    /* remove what the test wrote */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_exit();
}
