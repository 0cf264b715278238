/* zmoe forward: one layer on hidden states read from a safetensors file. */
#include "cli/cli.h"
#include "cli/st.h"
#include "weights/safetensors.h"
#include "weights/weights.h"

#include <stdlib.h>
#include <string.h>

static const char forward_usage[] =
    "usage: zmoe forward CONFIG --input X.safetensors --output Y.safetensors\n"
    "                    [--layer L | --hf-layer N]\n"
    "       zmoe forward --model MODEL_DIR [OVERRIDES.conf] --input ... --output ...\n"
    "\n"
    "Reads tensor 'x' [T,H] (F32, F16 or BF16) from the input, runs one MoE layer on it,\n"
    "in chunks of runtime.max_tokens tokens, and writes 'y' [T,H] in the activation\n"
    "dtype (the device's bytes, unconverted)"
#ifdef ZMOE_HAVE_SLOT_ROUTING
    ", 'topk_ids' [T,K] (I32)\nand 'topk_weights' [T,K] (F32): the router's choice, experts in descending\n"
    "score, weights as applied (with apply_router_weight_on_input: the weights that\n"
    "scaled each expert's input)"
#endif
    ".\n"
    "\n"
    "  --layer L      zmoe's layer number: the L-th MoE layer of the config, counting\n"
    "                from 0 (default 0). A checkpoint with dense layers (DeepSeek's\n"
    "                first_k_dense_replace, Llama 4 Maverick's every other layer) numbers\n"
    "                its layers differently: the command prints which one L is.\n"
    "  --hf-layer N   the checkpoint's own layer number, as in its tensor names\n"
    "                ('<prefix>N.mlp...'); it must be an MoE layer the config loads\n"
    "  --model DIR    take the model from a Hugging Face model directory (DIR/config.json,\n"
    "                its checkpoint) instead of CONFIG; a CONFIG given too may only set\n"
    "                [dtype], [runtime], [budget] and weights.prefix (see 'zmoe import')\n";

static bool st_to_dtype(const char *s, enum zmoe_dtype *dt)
{
    if (!strcmp(s, "F32"))
        *dt = ZMOE_DTYPE_F32;
    else if (!strcmp(s, "F16"))
        *dt = ZMOE_DTYPE_F16;
    else if (!strcmp(s, "BF16"))
        *dt = ZMOE_DTYPE_BF16;
    else
        return false;
    return true;
}

static const char *dtype_to_st(enum zmoe_dtype dt)
{
    return dt == ZMOE_DTYPE_F32 ? "F32" : dt == ZMOE_DTYPE_F16 ? "F16" : "BF16";
}

/* Reads and validates x against the config before the runtime is created. */
static int read_input(const char *path, const struct zmoe_config *cfg, struct st_file *f,
                      struct st_tensor *x, enum zmoe_dtype *dt)
{
    char msg[512];
    if (st_read(path, f, msg, sizeof msg) != 0) {
        cli_error("forward", "--input: %s", msg);
        return CLI_EXIT_USAGE;
    }
    int found = st_find(f, "x", x, msg, sizeof msg);
    if (found != 0) {
        cli_error("forward", "--input: %s: %s", path,
                  found > 0 ? "no tensor named 'x'" : msg);
        return CLI_EXIT_USAGE;
    }
    if (!st_to_dtype(x->dtype, dt)) {
        cli_error("forward", "--input: %s: 'x' has dtype %s; F32, F16 or BF16 expected", path,
                  x->dtype);
        return CLI_EXIT_USAGE;
    }
    if (x->ndim != 2 || x->shape[1] != cfg->model.hidden || x->shape[0] == 0 ||
        x->shape[0] > UINT32_MAX) {
        cli_error("forward", "--input: %s: 'x' must be [T, %u] with T >= 1 (hidden of the config)",
                  path, cfg->model.hidden);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cli_cmd_forward(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--input", CLI_OPT_STRING},
        {"--output", CLI_OPT_STRING},
        {"--layer", CLI_OPT_U32, 0, UINT32_MAX},
        {"--hf-layer", CLI_OPT_U32, 0, UINT32_MAX},
        {"--model", CLI_OPT_STRING},
        {NULL},
    };
    const char *pos[1] = {NULL};
    int npos;
    bool help;
    int rc = cli_parse("forward", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(forward_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1 && !opts[4].seen) {
        cli_error("forward", "missing CONFIG or --model DIR (see 'zmoe forward --help')");
        return CLI_EXIT_USAGE;
    }
    if (opts[2].seen && opts[3].seen) {
        cli_error("forward", "--layer and --hf-layer: give one (--layer counts the config's MoE "
                             "layers from 0, --hf-layer is the checkpoint's layer number)");
        return CLI_EXIT_USAGE;
    }
    cli_set_model_dir(opts[4].seen ? opts[4].string : NULL);
    for (int i = 0; i < 2; i++)
        if (!opts[i].seen) {
            cli_error("forward", "%s is required", opts[i].name);
            return CLI_EXIT_USAGE;
        }
    struct zmoe_config cfg;
    rc = cli_load_config("forward", pos[0], &cfg);
    if (rc)
        return rc;
    uint32_t layer = opts[2].u32;
    if (layer >= cfg.model.layers) {
        cli_error("forward", "--layer: %u out of range (the config has %u MoE layers, 0..%u; "
                             "--hf-layer takes the checkpoint's layer number)", layer,
                  cfg.model.layers, cfg.model.layers - 1);
        return CLI_EXIT_USAGE;
    }
    /* Which checkpoint layer that is (and --hf-layer's config layer), before any device
     * work: only the headers are read. */
    static uint32_t ck[ZMOE_ST_MAX_LAYERS];
    uint32_t nck = 0;
    char prefix[ZMOE_PREFIX_MAX] = "";
    if (opts[3].seen && !cfg.weights.file[0]) {
        cli_error("forward", "--hf-layer: %s has synthetic weights, which have no checkpoint "
                             "layer numbers; use --layer", cli_config_label(pos[0]));
        return CLI_EXIT_USAGE;
    }
    rc = cli_checkpoint_layers("forward", &cfg, NULL, ck, ZMOE_ST_MAX_LAYERS, &nck, prefix,
                               sizeof prefix);
    if (rc)
        return rc;
    if (opts[3].seen) {
        uint32_t want = opts[3].u32, l = 0;
        while (l < nck && ck[l] != want)
            l++;
        if (l == nck || l >= cfg.model.layers) {
            char list[256];
            size_t o = 0;
            uint32_t shown = nck < cfg.model.layers ? nck : cfg.model.layers;
            for (uint32_t i = 0; i < shown && o + 16 < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%u", i ? " " : "", ck[i]);
            if (o + 16 >= sizeof list)
                snprintf(list + o, sizeof list - o, " ...");
            cli_error("forward", "--hf-layer: checkpoint layer %u %s (prefix '%s'; the MoE "
                                 "layers the config loads: %s)", want,
                      l == nck ? "has no MoE block" : "is beyond the config's model.layers",
                      prefix, list);
            return CLI_EXIT_USAGE;
        }
        layer = l;
    }
    struct st_file in;
    struct st_tensor x;
    enum zmoe_dtype in_dt;
    rc = read_input(opts[0].string, &cfg, &in, &x, &in_dt);
    if (rc) {
        st_free(&in); /* safe on a failed read: st_read leaves the struct empty */
        return rc;
    }

    uint32_t tokens = (uint32_t)x.shape[0], hidden = cfg.model.hidden, k = cfg.model.top_k;
    enum zmoe_dtype act = cfg.dtype.activations;
    size_t asize = zmoe_dtype_size(act), in_size = zmoe_dtype_size(in_dt);
    uint8_t *y = malloc((size_t)tokens * hidden * asize);
    int32_t *ids = calloc((size_t)tokens * k, sizeof *ids);
    float *wts = calloc((size_t)tokens * k, sizeof *wts);
    struct cli_session s = {0};
    if (!y || !ids || !wts) {
        cli_error("forward", "out of memory for %u tokens", tokens);
        rc = CLI_EXIT_RUNTIME;
        goto out;
    }
    rc = cli_session_open("forward", pos[0], &s);
    if (rc)
        goto out;
    for (uint32_t t0 = 0; t0 < tokens; t0 += s.cfg.runtime.max_tokens) {
        uint32_t n = tokens - t0 < s.cfg.runtime.max_tokens ? tokens - t0
                                                            : s.cfg.runtime.max_tokens;
        struct zmoe_error err = {{0}};
        struct zmoe_slot slot;
        enum zmoe_status st = zmoe_slot_acquire(s.rt, &slot, &err);
        if (st == ZMOE_OK) {
            zmoe_dtype_convert(slot.input_host, act,
                               (const uint8_t *)x.data + (size_t)t0 * hidden * in_size, in_dt,
                               (size_t)n * hidden);
            st = zmoe_submit(s.rt, &slot, layer, n, &err);
        }
        if (st == ZMOE_OK)
            st = zmoe_wait(s.rt, &slot, UINT64_MAX, &err);
        if (st != ZMOE_OK) {
            cli_error("forward", "tokens %u..%u of layer %u: %s: %s", t0, t0 + n - 1, layer,
                      zmoe_status_str(st), err.msg);
            rc = CLI_EXIT_RUNTIME;
            goto out;
        }
        memcpy(y + (size_t)t0 * hidden * asize, slot.output_host, (size_t)n * hidden * asize);
#ifdef ZMOE_HAVE_SLOT_ROUTING
        memcpy(ids + (size_t)t0 * k, slot.topk_ids_host, (size_t)n * k * sizeof *ids);
        memcpy(wts + (size_t)t0 * k, slot.topk_weights_host, (size_t)n * k * sizeof *wts);
#endif
    }
    struct st_tensor out[3] = {
        {.name = "y", .ndim = 2, .shape = {tokens, hidden}, .data = y,
         .bytes = (uint64_t)tokens * hidden * asize},
        {.name = "topk_ids", .dtype = "I32", .ndim = 2, .shape = {tokens, k}, .data = ids,
         .bytes = (uint64_t)tokens * k * sizeof *ids},
        {.name = "topk_weights", .dtype = "F32", .ndim = 2, .shape = {tokens, k}, .data = wts,
         .bytes = (uint64_t)tokens * k * sizeof *wts},
    };
    snprintf(out[0].dtype, sizeof out[0].dtype, "%s", dtype_to_st(act));
#ifdef ZMOE_HAVE_SLOT_ROUTING
    int nout = 3;
#else
    /* The public API has no routing readback yet: write only what was computed. */
    int nout = 1;
    fprintf(stderr, "zmoe forward: note: topk_ids/topk_weights not written: this runtime "
                    "exposes no routing readback\n");
#endif
    char msg[512];
    if (st_write(opts[1].string, out, nout, msg, sizeof msg) != 0) {
        cli_error("forward", "--output: %s", msg);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (cfg.weights.file[0])
        printf("zmoe forward: config layer %u = checkpoint layer %u (tensors '%s%u.*', prefix "
               "'%s', %s)\n", layer, ck[layer], prefix, ck[layer], prefix, cfg.weights.file);
    else
        printf("zmoe forward: config layer %u (synthetic weights, seed %llu)\n", layer,
               (unsigned long long)cfg.weights.seed);
    printf("zmoe forward: layer %u, %u tokens on %s -> %s (y %s [%u, %u]%s)\n", layer, tokens,
           s.stats.device_name, opts[1].string, dtype_to_st(act), tokens, hidden,
#ifdef ZMOE_HAVE_SLOT_ROUTING
           ", topk_ids, topk_weights"
#else
           ""
#endif
    );
out:
    cli_session_close(&s);
    free(y);
    free(ids);
    free(wts);
    st_free(&in);
    return rc;
}
