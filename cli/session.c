/* Bringing a runtime up for run/forward/profile, and what they print about it. */
#include "cli/cli.h"
#include "weights/safetensors.h"
#include "weights/weights.h"

#include <math.h>
#include <string.h>

int cli_session_open(const char *cmd, const char *config_path, struct cli_session *s)
{
    memset(s, 0, sizeof *s);
    int rc = cli_load_config(cmd, config_path, &s->cfg);
    if (rc)
        return rc;
    config_path = cli_config_label(config_path);
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = &s->cfg};
    uint64_t t0 = cli_now_ns();
    enum zmoe_status st = zmoe_create(&info, &s->rt, &err);
    if (st != ZMOE_OK) {
        cli_error(cmd, "%s: cannot create the runtime (%s): %s", config_path,
                  zmoe_status_str(st), err.msg);
        s->rt = NULL;
        return cli_exit_for(st);
    }
    uint64_t t1 = cli_now_ns();
    st = zmoe_load_weights(s->rt, &err);
    if (st != ZMOE_OK) {
        cli_error(cmd, "%s: cannot load the weights%s%s (%s): %s", config_path,
                  s->cfg.weights.file[0] ? " from " : "", s->cfg.weights.file,
                  zmoe_status_str(st), err.msg);
        cli_session_close(s);
        return cli_exit_for(st);
    }
    uint64_t t2 = cli_now_ns();
    s->create_ns = t1 - t0;
    s->weights_ns = t2 - t1;
    zmoe_get_stats(s->rt, &s->stats);
    return CLI_EXIT_OK;
}

void cli_session_close(struct cli_session *s)
{
    if (s->rt)
        zmoe_destroy(s->rt);
    s->rt = NULL;
}

static const char *activation_name(enum zmoe_activation a)
{
    switch (a) {
    case ZMOE_ACT_SILU: return "silu";
    case ZMOE_ACT_GELU: return "gelu";
    case ZMOE_ACT_GELU_TANH: return "gelu_tanh";
    case ZMOE_ACT_SWIGLU_OAI: return "swiglu_oai";
    }
    return "?";
}

static void print_budget(FILE *out, const char *what, uint64_t used, uint64_t budget)
{
    char a[32], b[32];
    if (budget)
        fprintf(out, "%s %s of %s budget (%.1f%%)", what, cli_human_bytes(used, a, sizeof a),
                cli_human_bytes(budget, b, sizeof b), 100.0 * (double)used / (double)budget);
    else
        fprintf(out, "%s %s (no budget)", what, cli_human_bytes(used, a, sizeof a));
}

void cli_session_print(const struct cli_session *s, FILE *out)
{
    const struct zmoe_config *c = &s->cfg;
    fprintf(out, "device:   %s\n", s->stats.device_name);
    fprintf(out, "          chosen because: %s\n", s->stats.device_reason);
    fprintf(out, "kernels:  %s\n", s->stats.kernels_native ? "native AOT binary" : "SPIR-V");
    fprintf(out, "slot I/O: %s\n", s->stats.slot_io_direct
                                       ? "direct (the kernels read x and write y in host-visible memory)"
                                       : "copied to and from device buffers in every list");
    fprintf(out,
            "model:    hidden %u, intermediate %u, experts %u, top-k %u, layers %u, "
            "shared %u x %u, %s, %s router, weights %s, activations %s\n",
            c->model.hidden, c->model.intermediate, c->model.experts, c->model.top_k,
            c->model.layers, c->model.shared_experts, c->model.shared_intermediate,
            activation_name(c->experts.activation),
            c->router.scoring == ZMOE_SCORING_SIGMOID ? "sigmoid" : "softmax",
            zmoe_dtype_name(c->dtype.weights), zmoe_dtype_name(c->dtype.activations));
    if (c->weights.file[0])
        fprintf(out, "weights:  %s", c->weights.file);
    else
        fprintf(out, "weights:  synthetic (seed %llu)", (unsigned long long)c->weights.seed);
    fprintf(out, ", loaded in %.1f ms (runtime created in %.1f ms)\n",
            (double)s->weights_ns / 1e6, (double)s->create_ns / 1e6);
    if (c->weights.file[0]) /* the layout, the layer prefix and which layers were found */
        fprintf(out, "          %s\n", s->stats.weights_source);
    fprintf(out, "arena:    ");
    print_budget(out, "device", s->stats.device_bytes, c->budget.device_bytes);
    fprintf(out, "; ");
    print_budget(out, "host", s->stats.host_bytes, c->budget.host_bytes);
    fprintf(out, "\n");
}

void cli_fill_input(float *x, size_t n, uint64_t seed)
{
    uint64_t state = seed ^ 0x7a6d6f65636c69ull; /* "zmoecli": separate from weight seeds */
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        x[i] = (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

void cli_rmsnorm(float *y, const float *x, uint32_t rows, uint32_t h)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * h;
        double ss = 0;
        for (uint32_t i = 0; i < h; i++)
            ss += (double)xr[i] * xr[i];
        double scale = 1.0 / sqrt(ss / h + 1e-6);
        for (uint32_t i = 0; i < h; i++)
            y[(size_t)r * h + i] = (float)(xr[i] * scale);
    }
}

int cli_checkpoint_layers(const char *cmd, const struct zmoe_config *cfg, FILE *out,
                          uint32_t *layers, uint32_t max, uint32_t *n, char *prefix,
                          size_t prefix_size)
{
    if (n)
        *n = 0;
    if (!cfg->weights.file[0])
        return CLI_EXIT_OK;
    static uint32_t found_layers[ZMOE_ST_MAX_LAYERS];
    char pre[ZMOE_PREFIX_MAX];
    bool detected;
    uint32_t found = 0;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_safetensors_layers(cfg, pre, sizeof pre, &detected, found_layers,
                                                  ZMOE_ST_MAX_LAYERS, &found, &err);
    if (st != ZMOE_OK) {
        cli_error(cmd, "%s: %s", cfg->weights.file, err.msg);
        return cli_exit_for(st);
    }
    uint32_t used = found < cfg->model.layers ? found : cfg->model.layers;
    if (out) {
        fprintf(out, "checkpoint: prefix '%s' (%s); config layer -> checkpoint layer:", pre,
                detected ? "detected" : "configured");
        for (uint32_t l = 0; l < used; l++)
            fprintf(out, "%s %u->%u", l && l % 12 == 0 ? "\n           " : "", l,
                    found_layers[l]);
        if (found > used)
            fprintf(out, " (the checkpoint's MoE layers after %u are not used: model.layers = "
                         "%u of %u)", found_layers[used - 1], used, found);
        fprintf(out, "\n");
    }
    for (uint32_t l = 0; layers && l < found && l < max; l++)
        layers[l] = found_layers[l];
    if (n)
        *n = found;
    if (prefix)
        snprintf(prefix, prefix_size, "%s", pre);
    return CLI_EXIT_OK;
}
