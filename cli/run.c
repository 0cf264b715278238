/* zmoe run: the main job. A decode loop through every layer, with as many independent
 * token streams as the ring has slots, so that while one stream's layer runs the host
 * already submits another's. Within a stream a layer's output feeds the next layer
 * (residual stream h += y, next input = rmsnorm(h), as in a decoder), so consecutive
 * layers of one stream are necessarily serial. */
#include "cli/check.h"
#include "cli/cli.h"
#include "cli/zecount.h"
#include "weights/weights.h"
#include "zmoe_parallel.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char run_usage[] =
    "usage: zmoe run CONFIG [--steps N] [--tokens T] [--streams S] [--check] [--devices N]\n"
    "       zmoe run --model MODEL_DIR [OVERRIDES.conf] [options]\n"
    "\n"
    "Creates the runtime, loads the configured weights (file or synthetic) and runs N\n"
    "decode steps through all layers, after one untimed warm-up step. Prints the device\n"
    "and why it was chosen, arena use against the budget, per-layer-call latency\n"
    "percentiles, and what a step costs after init (allocations, Level Zero calls).\n"
    "A progress bar goes to stderr when it is a terminal.\n"
    "\n"
    "  --steps N     decode steps (default 200)\n"
    "  --tokens T    tokens per layer call, 1..runtime.max_tokens (default 1)\n"
    "  --streams S   independent token streams in flight, 1..runtime.ring_depth\n"
    "                (default: the ring depth)\n"
    "  --check       compare the warm-up step (stream 0), layer by layer, with the reference\n"
    "                MoE; exit 1 when the error exceeds the dtype's tolerance\n"
    "  --model DIR   take the model from a Hugging Face model directory (DIR/config.json,\n"
    "                its checkpoint) instead of CONFIG; a CONFIG given too may only set\n"
    "                [dtype], [runtime], [budget] and weights.prefix (see 'zmoe import')\n"
    "  --devices N   expert parallel over N devices (overrides [parallel] devices; with the\n"
    "                config's [parallel] devices or ranks > 1 this is the default): one\n"
    "                token stream, each device its experts; under mpiexec with ranks = N\n"
    "                every rank runs it and rank 0 prints\n"
    "\n"
    "Level Zero calls are counted with the loader's tracing layer, which this command\n"
    "enables (ZE_ENABLE_TRACING_LAYER=1) unless the variable is already set.\n";

struct stream {
    float *h;       /* residual stream [T][H] */
    struct zmoe_slot slot;
    bool in_flight;
};

struct run_state {
    const char *cmd;
    struct cli_session s;
    uint32_t steps, tokens, nstreams, layers, hidden;
    struct stream *streams;
    float *xf, *yf; /* scratch [T][H] */
    uint64_t *submit_ns, *device_ns, *stage_ns[ZMOE_STAGE_COUNT], *step_ns;
    size_t nsamples, ndevice;
    bool check;
    float *check_x, *check_y; /* [L][T][H] for stream 0, step 0 */
    bool progress;
    uint32_t warmup; /* leading steps left out of every statistic */
    uint64_t stats_calls; /* Level Zero calls made by zmoe_get_stats (sampling, not decode) */
    bool counting;
};

static void *xcalloc(size_t n, size_t size, bool *ok)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *ok = false;
    return p;
}

static int alloc_state(struct run_state *r)
{
    bool ok = true;
    size_t row = (size_t)r->tokens * r->hidden;
    size_t calls = (size_t)r->steps * r->layers * r->nstreams;
    r->streams = xcalloc(r->nstreams, sizeof *r->streams, &ok);
    for (uint32_t j = 0; ok && j < r->nstreams; j++)
        r->streams[j].h = xcalloc(row, sizeof(float), &ok);
    r->xf = xcalloc(row, sizeof(float), &ok);
    r->yf = xcalloc(row, sizeof(float), &ok);
    r->submit_ns = xcalloc(calls, sizeof(uint64_t), &ok);
    r->device_ns = xcalloc(calls, sizeof(uint64_t), &ok);
    for (int k = 0; k < ZMOE_STAGE_COUNT; k++)
        r->stage_ns[k] = xcalloc(calls, sizeof(uint64_t), &ok);
    r->step_ns = xcalloc(r->steps, sizeof(uint64_t), &ok);
    if (r->check) {
        r->check_x = xcalloc((size_t)r->layers * row, sizeof(float), &ok);
        r->check_y = xcalloc((size_t)r->layers * row, sizeof(float), &ok);
    }
    return ok ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}

static void free_state(struct run_state *r)
{
    for (uint32_t j = 0; r->streams && j < r->nstreams; j++)
        free(r->streams[j].h);
    free(r->streams);
    free(r->xf);
    free(r->yf);
    free(r->submit_ns);
    free(r->device_ns);
    for (int k = 0; k < ZMOE_STAGE_COUNT; k++)
        free(r->stage_ns[k]);
    free(r->step_ns);
    free(r->check_x);
    free(r->check_y);
}

/* Waits for a stream's in-flight layer, samples the stage times and adds the layer's
 * output to the residual stream. */
static int finish(struct run_state *r, struct stream *st, uint32_t step, uint32_t layer)
{
    struct zmoe_error err = {{0}};
    enum zmoe_status rc = zmoe_wait(r->s.rt, &st->slot, UINT64_MAX, &err);
    if (rc != ZMOE_OK) {
        cli_error(r->cmd, "zmoe_wait (step %u, layer %u): %s: %s", step, layer,
                  zmoe_status_str(rc), err.msg);
        return CLI_EXIT_RUNTIME;
    }
    st->in_flight = false;
    if (step >= r->warmup) {
        struct zmoe_stats stats;
        uint64_t c0 = zecount_read();
        zmoe_get_stats(r->s.rt, &stats);
        r->stats_calls += zecount_read() - c0; /* reported apart from the decode path */
        uint64_t total = 0;
        for (int k = 0; k < ZMOE_STAGE_COUNT; k++) {
            r->stage_ns[k][r->ndevice] = stats.stage_device_ns[k];
            total += stats.stage_device_ns[k];
        }
        r->device_ns[r->ndevice++] = total;
    }
    size_t row = (size_t)r->tokens * r->hidden;
    zmoe_dtype_convert(r->yf, ZMOE_DTYPE_F32, st->slot.output_host, r->s.cfg.dtype.activations,
                       row);
    if (r->check && step == 0 && st == &r->streams[0])
        memcpy(r->check_y + (size_t)layer * row, r->yf, row * sizeof(float));
    for (size_t i = 0; i < row; i++)
        st->h[i] += r->yf[i];
    return CLI_EXIT_OK;
}

static int start(struct run_state *r, struct stream *st, uint32_t step, uint32_t layer)
{
    struct zmoe_error err = {{0}};
    size_t row = (size_t)r->tokens * r->hidden;
    cli_rmsnorm(r->xf, st->h, r->tokens, r->hidden);
    enum zmoe_status rc = zmoe_slot_acquire(r->s.rt, &st->slot, &err);
    if (rc != ZMOE_OK) {
        cli_error(r->cmd, "zmoe_slot_acquire (step %u, layer %u): %s: %s", step, layer,
                  zmoe_status_str(rc), err.msg);
        return CLI_EXIT_RUNTIME;
    }
    enum zmoe_dtype act = r->s.cfg.dtype.activations;
    zmoe_dtype_convert(st->slot.input_host, act, r->xf, ZMOE_DTYPE_F32, row);
    if (r->check && step == 0 && st == &r->streams[0]) /* what the device really sees */
        zmoe_dtype_convert(r->check_x + (size_t)layer * row, ZMOE_DTYPE_F32,
                           st->slot.input_host, act, row);
    uint64_t t0 = cli_now_ns();
    rc = zmoe_submit(r->s.rt, &st->slot, layer, r->tokens, &err);
    uint64_t t1 = cli_now_ns();
    if (rc != ZMOE_OK) {
        cli_error(r->cmd, "zmoe_submit (step %u, layer %u): %s: %s", step, layer,
                  zmoe_status_str(rc), err.msg);
        return CLI_EXIT_RUNTIME;
    }
    if (step >= r->warmup)
        r->submit_ns[r->nsamples++] = t1 - t0;
    st->in_flight = true;
    return CLI_EXIT_OK;
}

static void progress(const struct run_state *r, uint32_t done)
{
    if (!r->progress)
        return;
    int width = 40, fill = (int)((uint64_t)done * (uint64_t)width / r->steps);
    fprintf(stderr, "\r[%.*s%*s] %u/%u steps", fill,
            "########################################", width - fill, "", done, r->steps);
    if (done == r->steps)
        fputc('\n', stderr);
    fflush(stderr);
}

static int decode(struct run_state *r)
{
    size_t row = (size_t)r->tokens * r->hidden;
    for (uint32_t j = 0; j < r->nstreams; j++)
        cli_fill_input(r->streams[j].h, row, r->s.cfg.weights.seed + j);
    for (uint32_t step = 0; step < r->warmup + r->steps; step++) {
        if (step == r->warmup) {
            zecount_reset(); /* count the timed steps only */
            r->stats_calls = 0;
        }
        uint64_t t0 = cli_now_ns();
        for (uint32_t l = 0; l < r->layers; l++) {
            for (uint32_t j = 0; j < r->nstreams; j++) {
                struct stream *st = &r->streams[j];
                int rc = st->in_flight ? finish(r, st, step, l - 1) : CLI_EXIT_OK;
                if (!rc)
                    rc = start(r, st, step, l);
                if (rc)
                    return rc;
            }
        }
        for (uint32_t j = 0; j < r->nstreams; j++) {
            int rc = finish(r, &r->streams[j], step, r->layers - 1);
            if (rc)
                return rc;
        }
        if (step >= r->warmup) {
            r->step_ns[step - r->warmup] = cli_now_ns() - t0;
            progress(r, step + 1 - r->warmup);
        }
    }
    return CLI_EXIT_OK;
}

static void print_row(const char *name, uint64_t *v, size_t n)
{
    uint64_t p50 = cli_percentile(v, n, 50), p99 = cli_percentile(v, n, 99);
    printf("  %-28s %10.1f %10.1f\n", name, (double)p50 / 1e3, (double)p99 / 1e3);
}

static void report(struct run_state *r, bool zecount_ok, uint64_t ze_calls, const char *ze_why)
{
    printf("decode:   %u steps x %u layers x %u stream%s, %u token%s per layer call "
           "(after %u warm-up step%s, not counted)\n",
           r->steps, r->layers, r->nstreams, r->nstreams == 1 ? "" : "s", r->tokens,
           r->tokens == 1 ? "" : "s", r->warmup, r->warmup == 1 ? "" : "s");
    printf("latency per layer call (us)          p50        p99\n");
    print_row("host submit (zmoe_submit)", r->submit_ns, r->nsamples);
    print_row("device, all stages", r->device_ns, r->ndevice);
    for (int k = 0; k < ZMOE_STAGE_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "device %s", zmoe_stage_name((enum zmoe_stage)k));
        if (k == ZMOE_STAGE_COMBINE && r->s.stats.combine_fused)
            printf("  %-28s %21s\n", name, "(in expert_down)");
        else if (k == ZMOE_STAGE_ALIGN && r->s.stats.align_fused)
            printf("  %-28s %21s\n", name, "(in the router)");
        else
            print_row(name, r->stage_ns[k], r->ndevice);
    }
    printf("  (device times: the runtime's kernel timestamps of the last completed submit,\n"
           "   sampled after each zmoe_wait)\n");
    uint64_t total = 0;
    for (uint32_t s = 0; s < r->steps; s++)
        total += r->step_ns[s];
    printf("step (us, all layers and streams)    p50        p99\n");
    print_row("host wall time", r->step_ns, r->steps);
    printf("throughput: %.1f tokens/s (%u tokens per step)\n",
           total ? (double)r->steps * r->tokens * r->nstreams / ((double)total / 1e9) : 0.0,
           r->tokens * r->nstreams);
    struct zmoe_stats stats;
    zmoe_get_stats(r->s.rt, &stats);
    printf("after init:\n");
    printf("  host allocations (runtime allocator, since init):   %llu\n",
           (unsigned long long)stats.host_allocations_after_init);
    printf("  device allocations (since init):                    %llu\n",
           (unsigned long long)stats.device_allocations_after_init);
    if (zecount_ok) {
        uint64_t decode = ze_calls - r->stats_calls;
        printf("  Level Zero calls per step (loader tracing layer):   %.1f (%.2f per layer call)\n",
               (double)decode / r->steps,
               (double)decode / ((double)r->steps * r->layers * r->nstreams));
        printf("    counted: every entry point called by acquire, submit and wait; the\n"
               "    zmoe_get_stats calls sampling device times add %.1f per step\n",
               (double)r->stats_calls / r->steps);
    } else
        printf("  Level Zero calls per step:                          not counted (%s)\n",
               ze_why);
}

int cli_cmd_run(int argc, char **argv)
{
    struct run_state r = {.cmd = "run"};
    struct cli_opt opts[] = {
        {"--steps", CLI_OPT_U32, 1, 100000000, .u32 = 200},
        {"--tokens", CLI_OPT_U32, 1, UINT32_MAX, .u32 = 1},
        {"--streams", CLI_OPT_U32, 1, UINT32_MAX},
        {"--check", CLI_OPT_FLAG},
        {"--model", CLI_OPT_STRING},
        {"--devices", CLI_OPT_U32, 1, ZMOE_PARALLEL_MAX},
        {NULL},
    };
    const char *pos[1] = {NULL};
    int npos;
    bool help;
    int rc = cli_parse(r.cmd, argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(run_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1 && !opts[4].seen) {
        cli_error(r.cmd, "missing CONFIG or --model DIR (see 'zmoe run --help')");
        return CLI_EXIT_USAGE;
    }
    cli_set_model_dir(opts[4].seen ? opts[4].string : NULL);
    /* Bounds that depend on the config are checked before any device work. */
    struct zmoe_config cfg;
    rc = cli_load_config(r.cmd, pos[0], &cfg);
    if (rc)
        return rc;
    const char *label = cli_config_label(pos[0]);
    if (opts[1].u32 > cfg.runtime.max_tokens) {
        cli_error(r.cmd, "--tokens: %u exceeds runtime.max_tokens = %u of %s", opts[1].u32,
                  cfg.runtime.max_tokens, label);
        return CLI_EXIT_USAGE;
    }
    if (opts[2].seen && opts[2].u32 > cfg.runtime.ring_depth) {
        cli_error(r.cmd, "--streams: %u exceeds runtime.ring_depth = %u of %s", opts[2].u32,
                  cfg.runtime.ring_depth, label);
        return CLI_EXIT_USAGE;
    }
    /* expert parallel (run_parallel.c): the config's [parallel] or --devices */
    if (opts[5].seen) {
        if (opts[5].u32 != cfg.parallel.devices)
            cfg.parallel.expert_map_set = false; /* a map for another count */
        cfg.parallel.devices = opts[5].u32;
        cfg.parallel.ranks = 0;
    }
    if (opts[5].seen || zmoe_parallel_participants(&cfg) > 1)
        return cli_run_parallel(r.cmd, label, &cfg, opts[0].u32, opts[1].u32, opts[3].flag);
    r.steps = opts[0].u32;
    r.tokens = opts[1].u32;
    r.nstreams = opts[2].seen ? opts[2].u32 : cfg.runtime.ring_depth;
    r.check = opts[3].flag;
    r.progress = isatty(STDERR_FILENO);
    /* The first launches pay one-time costs (JIT, page faults, caches); one untimed
     * step keeps them out of the percentiles. --check uses it (step 0). */
    r.warmup = 1;

    zecount_prepare();
    rc = cli_session_open(r.cmd, pos[0], &r.s);
    if (rc)
        return rc;
    r.layers = r.s.cfg.model.layers;
    r.hidden = r.s.cfg.model.hidden;
    if (opts[4].seen)
        printf("zmoe run: --model %s%s%s\n", opts[4].string, pos[0] ? " with overrides " : "",
               pos[0] ? pos[0] : "");
    else
        printf("zmoe run: %s\n", pos[0]);
    cli_session_print(&r.s, stdout);
    rc = cli_checkpoint_layers(r.cmd, &r.s.cfg, stdout, NULL, 0, NULL, NULL, 0);
    if (rc)
        goto out;
    rc = alloc_state(&r);
    if (rc) {
        cli_error(r.cmd, "out of memory for %u steps of samples", r.steps);
        goto out;
    }
    char why[256] = "";
    bool counting = zecount_start(why, sizeof why);
    rc = decode(&r);
    uint64_t ze_calls = zecount_read();
    zecount_stop();
    if (rc)
        goto out;
    report(&r, counting, ze_calls, why);

    struct zmoe_stats stats;
    zmoe_get_stats(r.s.rt, &stats);
    if (stats.host_allocations_after_init || stats.device_allocations_after_init) {
        cli_error(r.cmd, "the runtime allocated after init (%llu host, %llu device): a bug",
                  (unsigned long long)stats.host_allocations_after_init,
                  (unsigned long long)stats.device_allocations_after_init);
        rc = CLI_EXIT_RUNTIME;
    }
    if (r.check) {
        struct cli_check_result c;
        int crc = cli_check_layers(&r.s.cfg, r.layers, r.tokens, r.check_x, r.check_y, &c);
        if (crc) {
            cli_error(r.cmd, "--check: %s", c.why);
            rc = CLI_EXIT_RUNTIME;
        } else {
            bool pass = c.max_rel <= c.tolerance;
            printf("check (step 0, stream 0, layers 0..%u against the reference MoE):\n",
                   c.layers_checked - 1);
            printf("  max abs error %.3g (layer %u), max |ref| %.3g, max rel error %.3g "
                   "(abs / max |ref|), tolerance %.1g: %s\n",
                   c.max_abs, c.worst_layer, c.max_ref, c.max_rel, c.tolerance,
                   pass ? "PASS" : "FAIL");
            if (!pass) {
                cli_error(r.cmd, "--check: max rel error %.3g exceeds %.1g", c.max_rel,
                          c.tolerance);
                rc = CLI_EXIT_RUNTIME;
            }
        }
    }
out:
    free_state(&r);
    cli_session_close(&r.s);
    return rc;
}
