/* zmoe profile: a decode loop written as a Chrome / Perfetto trace (trace-event JSON).
 * One submit at a time, so each device span belongs to exactly the submit before it:
 * the runtime reports per-stage device durations of the last completed submit. */
#include "cli/cli.h"
#include "weights/weights.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char profile_usage[] =
    "usage: zmoe profile CONFIG --trace OUT.json [--steps N] [--tokens T]\n"
    "       zmoe profile --model MODEL_DIR [OVERRIDES.conf] --trace OUT.json [options]\n"
    "\n"
    "Runs N decode steps (default 20) through all layers, one layer call at a time,\n"
    "and writes a trace in the Chrome trace-event format: open it in\n"
    "https://ui.perfetto.dev or chrome://tracing. Tracks: 'host submit' (zmoe_submit),\n"
    "'host wait' (zmoe_wait) and one per device stage.\n"
    "\n"
    "Device spans have measured durations (kernel timestamps); the runtime reports no\n"
    "absolute device time, so each layer call's stages are drawn back to back from the\n"
    "end of its submit (or the end of the previous device span, the queue is in-order).\n"
    "\n"
    "  --model DIR   take the model from a Hugging Face model directory (DIR/config.json,\n"
    "                its checkpoint) instead of CONFIG; a CONFIG given too may only set\n"
    "                [dtype], [runtime], [budget] and weights.prefix (see 'zmoe import')\n";

struct call {
    uint32_t step, layer;
    uint64_t submit0, submit1, wait1;
    uint64_t stage_ns[ZMOE_STAGE_COUNT];
};

enum { PID = 1, TID_SUBMIT = 1, TID_WAIT = 2, TID_STAGE0 = 3 };

/* Trace timestamps are microseconds; keep ns resolution with 3 decimals. */
static void us(FILE *f, uint64_t ns)
{
    fprintf(f, "%llu.%03llu", (unsigned long long)(ns / 1000), (unsigned long long)(ns % 1000));
}

static void span(FILE *f, const char *name, int tid, uint64_t ts, uint64_t dur,
                 const struct call *c)
{
    fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"zmoe\",\"ph\":\"X\",\"ts\":", name);
    us(f, ts);
    fprintf(f, ",\"dur\":");
    us(f, dur);
    fprintf(f, ",\"pid\":%d,\"tid\":%d,\"args\":{\"step\":%u,\"layer\":%u}}", PID, tid, c->step,
            c->layer);
}

static void track(FILE *f, int tid, const char *name)
{
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":%d,"
               "\"args\":{\"name\":\"%s\"}}",
            PID, tid, name);
    fprintf(f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":%d,"
               "\"args\":{\"sort_index\":%d}}",
            PID, tid, tid);
}

/* Device names come from the driver: keep the JSON valid whatever they contain. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int write_trace(FILE *f, const char *path, const struct cli_session *s,
                       const struct call *calls, size_t n)
{
    char pname[512];
    snprintf(pname, sizeof pname, "zmoe on %s (%s kernels)", s->stats.device_name,
             s->stats.kernels_native ? "AOT" : "SPIR-V");
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":0,"
               "\"args\":{\"name\":",
            PID);
    json_string(f, pname);
    fprintf(f, "}}");
    track(f, TID_SUBMIT, "host submit");
    track(f, TID_WAIT, "host wait");
    for (int k = 0; k < ZMOE_STAGE_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "device %s", zmoe_stage_name((enum zmoe_stage)k));
        track(f, TID_STAGE0 + k, name);
    }
    uint64_t base = n ? calls[0].submit0 : 0, device_end = 0;
    for (size_t i = 0; i < n; i++) {
        const struct call *c = &calls[i];
        char name[64];
        snprintf(name, sizeof name, "submit layer %u", c->layer);
        span(f, name, TID_SUBMIT, c->submit0 - base, c->submit1 - c->submit0, c);
        snprintf(name, sizeof name, "wait layer %u", c->layer);
        span(f, name, TID_WAIT, c->submit1 - base, c->wait1 - c->submit1, c);
        uint64_t t = c->submit1 - base;
        if (t < device_end)
            t = device_end;
        for (int k = 0; k < ZMOE_STAGE_COUNT; k++) {
            span(f, zmoe_stage_name((enum zmoe_stage)k), TID_STAGE0 + k, t, c->stage_ns[k], c);
            t += c->stage_ns[k];
        }
        device_end = t;
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
        cli_error("profile", "--trace: %s: write failed", path);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

static int loop(struct cli_session *s, uint32_t steps, uint32_t tokens, struct call *calls)
{
    const struct zmoe_config *cfg = &s->cfg;
    size_t row = (size_t)tokens * cfg->model.hidden;
    float *h = calloc(row, sizeof(float)), *x = calloc(row, sizeof(float)),
          *y = calloc(row, sizeof(float));
    int rc = CLI_EXIT_OK;
    if (!h || !x || !y) {
        cli_error("profile", "out of memory");
        rc = CLI_EXIT_RUNTIME;
    }
    if (!rc)
        cli_fill_input(h, row, cfg->weights.seed);
    size_t n = 0;
    for (uint32_t step = 0; !rc && step < steps; step++) {
        for (uint32_t l = 0; !rc && l < cfg->model.layers; l++) {
            struct zmoe_error err = {{0}};
            struct zmoe_slot slot;
            struct call *c = &calls[n++];
            c->step = step;
            c->layer = l;
            cli_rmsnorm(x, h, tokens, cfg->model.hidden);
            enum zmoe_status st = zmoe_slot_acquire(s->rt, &slot, &err);
            if (st == ZMOE_OK) {
                zmoe_dtype_convert(slot.input_host, cfg->dtype.activations, x, ZMOE_DTYPE_F32,
                                   row);
                c->submit0 = cli_now_ns();
                st = zmoe_submit(s->rt, &slot, l, tokens, &err);
                c->submit1 = cli_now_ns();
            }
            if (st == ZMOE_OK) {
                st = zmoe_wait(s->rt, &slot, UINT64_MAX, &err);
                c->wait1 = cli_now_ns();
            }
            if (st != ZMOE_OK) {
                cli_error("profile", "step %u, layer %u: %s: %s", step, l, zmoe_status_str(st),
                          err.msg);
                rc = CLI_EXIT_RUNTIME;
                break;
            }
            struct zmoe_stats stats;
            zmoe_get_stats(s->rt, &stats);
            memcpy(c->stage_ns, stats.stage_device_ns, sizeof c->stage_ns);
            zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, cfg->dtype.activations, row);
            for (size_t i = 0; i < row; i++)
                h[i] += y[i];
        }
    }
    free(h);
    free(x);
    free(y);
    return rc;
}

int cli_cmd_profile(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--trace", CLI_OPT_STRING},
        {"--steps", CLI_OPT_U32, 1, 1000000, .u32 = 20},
        {"--tokens", CLI_OPT_U32, 1, UINT32_MAX, .u32 = 1},
        {"--model", CLI_OPT_STRING},
        {NULL},
    };
    const char *pos[1] = {NULL};
    int npos;
    bool help;
    int rc = cli_parse("profile", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(profile_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1 && !opts[3].seen) {
        cli_error("profile", "missing CONFIG or --model DIR (see 'zmoe profile --help')");
        return CLI_EXIT_USAGE;
    }
    cli_set_model_dir(opts[3].seen ? opts[3].string : NULL);
    if (!opts[0].seen) {
        cli_error("profile", "--trace OUT.json is required");
        return CLI_EXIT_USAGE;
    }
    /* Open the output first: a bad path should fail before minutes of device work. */
    const char *path = opts[0].string;
    FILE *f = fopen(path, "w");
    if (!f) {
        cli_error("profile", "--trace: %s: %s", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    struct cli_session s;
    rc = cli_session_open("profile", pos[0], &s);
    if (rc) {
        fclose(f);
        remove(path);
        return rc;
    }
    uint32_t steps = opts[1].u32, tokens = opts[2].u32;
    struct call *calls = NULL;
    if (tokens > s.cfg.runtime.max_tokens) {
        cli_error("profile", "--tokens: %u exceeds runtime.max_tokens = %u of %s", tokens,
                  s.cfg.runtime.max_tokens, cli_config_label(pos[0]));
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    calls = calloc((size_t)steps * s.cfg.model.layers, sizeof *calls);
    if (!calls) {
        cli_error("profile", "out of memory for %u steps", steps);
        rc = CLI_EXIT_RUNTIME;
        goto out;
    }
    rc = loop(&s, steps, tokens, calls);
    if (!rc)
        rc = write_trace(f, path, &s, calls, (size_t)steps * s.cfg.model.layers);
    else
        fclose(f);
    f = NULL;
    if (!rc)
        printf("zmoe profile: %u steps x %u layers on %s -> %s\n", steps, s.cfg.model.layers,
               s.stats.device_name, opts[0].string);
out:
    if (f)
        fclose(f);
    if (rc)
        remove(path); /* no half-written trace left behind */
    free(calls);
    cli_session_close(&s);
    return rc;
}
