/* zbench — zmoe against a naive per-call Level Zero dispatcher (bench/naive.c), side
 * by side in one process, interleaved call by call, on the same device, kernels and
 * weights.
 *
 *   zbench all [--quick] [--callgrind FILE] [--commit ID] [--out DIR]
 *       every benchmark; writes DIR/latest.md and the DIR/ SVG charts (run by bench/run.sh)
 *   zbench callgrind
 *       dispatch loops with callgrind client requests, one dump per (side, T, batch);
 *       run under `valgrind --tool=callgrind --collect-atstart=no` (bench/run.sh)
 *   zbench smoke [--out DIR]
 *       TAP: the machinery gives sane output (no timing assertions); a meson test
 *
 * Progress goes to stderr. */
#include "bench/bench.h"

#include <valgrind/callgrind.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ setup */

struct geo {
    uint32_t H, I, E, K, layers, max_tokens;
    enum zmoe_dtype wdt, adt;
    bool on_input;
    enum zmoe_slot_io slot_io; /* 0: auto */
};

static void geo_text(const struct geo *g, char *buf, size_t len)
{
    snprintf(buf, len, "H=%u I=%u E=%u top_k=%u, weights %s, activations %s%s", g->H, g->I, g->E,
             g->K, zmoe_dtype_name(g->wdt), zmoe_dtype_name(g->adt),
             g->on_input ? ", router weight on input" : "");
}

static uint64_t geo_weight_bytes(const struct geo *g)
{
    return (uint64_t)g->E * 3 * g->I * g->H * zmoe_dtype_size(g->wdt);
}

/* Bounded waits; generous under valgrind, where the driver JIT-compiles the kernels
 * at their first launch under instrumentation (minutes). */
static unsigned wait_timeout_ms = 60000;

static enum zmoe_status make_rt(const struct geo *g, struct zmoe_runtime **rt,
                                struct zmoe_config *cfg, struct zmoe_error *err)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[model]\nhidden = %u\nintermediate = %u\nexperts = %u\ntop_k = %u\nlayers = %u\n"
             "[router]\nscoring = softmax\nrenormalize = true\n"
             "apply_router_weight_on_input = %s\n"
             "[experts]\nactivation = silu\n"
             "[dtype]\nweights = %s\nactivations = %s\n"
             "[runtime]\nmax_tokens = %u\nring_depth = 2\ndevice = auto\nwait_timeout_ms = %u\n"
             "[weights]\nlayout = synthetic\nseed = 7\n",
             g->H, g->I, g->E, g->K, g->layers, g->on_input ? "true" : "false",
             zmoe_dtype_name(g->wdt), zmoe_dtype_name(g->adt), g->max_tokens, wait_timeout_ms);
    enum zmoe_status st = zmoe_config_parse(text, strlen(text), "bench", cfg, err);
    if (st)
        return st;
    cfg->runtime.slot_io = g->slot_io;
    struct zmoe_create_info ci = {.config = cfg};
    st = zmoe_create(&ci, rt, err);
    if (st)
        return st;
    st = zmoe_load_weights(*rt, err);
    if (st) {
        zmoe_destroy(*rt);
        *rt = NULL;
    }
    return st;
}

/* Inputs: a few different random token blocks, cycled, in the activation dtype, so
 * that successive calls route to different experts. */
#define NINPUTS 16
struct inputs {
    void *x[NINPUTS];
    size_t bytes; /* one block: max_tokens * H */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static bool inputs_make(struct inputs *in, const struct geo *g)
{
    size_t n = (size_t)g->max_tokens * g->H;
    in->bytes = n * zmoe_dtype_size(g->adt);
    float *f = malloc(n * sizeof *f);
    if (!f)
        return false;
    for (int i = 0; i < NINPUTS; i++) {
        for (size_t j = 0; j < n; j++)
            f[j] = frand();
        in->x[i] = malloc(in->bytes);
        if (!in->x[i]) {
            free(f);
            return false;
        }
        zmoe_dtype_convert(in->x[i], g->adt, f, ZMOE_DTYPE_F32, n);
    }
    free(f);
    return true;
}

static void inputs_free(struct inputs *in)
{
    for (int i = 0; i < NINPUTS; i++)
        free(in->x[i]);
}

/* ------------------------------------------------------------------ one call each */

struct sample {
    uint64_t host_ns, total_ns, dev_ns;
    uint64_t stage_ns[NAIVE_STAGES];
};

/* zmoe: acquire + submit + wait. The input write (the caller's work, the same for
 * both sides) is outside the timed parts. */
static enum zmoe_status z_call(struct zmoe_runtime *rt, uint32_t layer, uint32_t T,
                               const void *x, size_t xbytes, bool device_times,
                               struct sample *s, struct zmoe_error *err)
{
    struct zmoe_slot slot;
    const uint64_t t0 = bench_now_ns();
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, err);
    const uint64_t t1 = bench_now_ns();
    if (st)
        return st;
    memcpy(slot.input_host, x, xbytes);
    const uint64_t t2 = bench_now_ns();
    st = zmoe_submit(rt, &slot, layer, T, err);
    const uint64_t t3 = bench_now_ns();
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, err);
    const uint64_t t4 = bench_now_ns();
    if (st)
        return st;
    s->host_ns = (t1 - t0) + (t3 - t2);
    s->total_ns = s->host_ns + (t4 - t3);
    s->dev_ns = 0;
    if (device_times) {
        struct zmoe_stats stats;
        zmoe_get_stats(rt, &stats);
        for (int e = 0; e < ZMOE_STAGE_COUNT; e++) {
            s->stage_ns[e] = stats.stage_device_ns[e];
            s->dev_ns += stats.stage_device_ns[e];
        }
    }
    return ZMOE_OK;
}

static enum zmoe_status n_call(struct naive *n, uint32_t layer, uint32_t T, const void *x,
                               size_t xbytes, bool timed, struct sample *s, struct zmoe_error *err)
{
    memcpy(n->x_host, x, xbytes);
    const uint64_t t0 = bench_now_ns();
    enum zmoe_status st = naive_call(n, layer, T, timed, err);
    const uint64_t t1 = bench_now_ns();
    if (st)
        return st;
    s->total_ns = t1 - t0;
    s->host_ns = s->total_ns - n->wait_ns;
    s->dev_ns = 0;
    if (timed)
        for (int e = 0; e < NAIVE_STAGES; e++) {
            s->stage_ns[e] = n->stage_ns[e];
            s->dev_ns += n->stage_ns[e];
        }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ statistics */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_us(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    return (n % 2 ? (double)v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + (double)v[n / 2])) / 1000.0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_d(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Sample columns: host, total, dev, stages. */
#define COLS (3 + NAIVE_STAGES)
struct series {
    uint64_t *v[COLS];
    size_t n, cap;
};

static bool series_init(struct series *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->cap = cap;
    for (int c = 0; c < COLS; c++)
        if (!(s->v[c] = calloc(cap ? cap : 1, sizeof(uint64_t))))
            return false;
    return true;
}

static void series_add(struct series *s, const struct sample *x)
{
    if (s->n >= s->cap)
        return;
    s->v[0][s->n] = x->host_ns;
    s->v[1][s->n] = x->total_ns;
    s->v[2][s->n] = x->dev_ns;
    for (int e = 0; e < NAIVE_STAGES; e++)
        s->v[3 + e][s->n] = x->stage_ns[e];
    s->n++;
}

static double series_median(struct series *s, int col)
{
    return median_us(s->v[col], s->n);
}

static void series_free(struct series *s)
{
    for (int c = 0; c < COLS; c++)
        free(s->v[c]);
}

/* ------------------------------------------------------------------ progress */

static bool quiet;

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[zbench] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static int fail(const char *what, const struct zmoe_error *err)
{
    fprintf(stderr, "zbench: %s: %s\n", what, err->msg);
    return 1;
}

/* ------------------------------------------------------------------ dispatch */

static bool tracing; /* the tracer is running (counts are meaningful) */
static bool layer_loaded; /* the tracing layer is in the process: malloc counts are not zmoe's */
static bool want_tracing, tried_tracing;

/* The tracer can only be created once the loader is initialised, i.e. after the first
 * zmoe_create (which points the loader at hostdev before its zeInit). */
static void start_tracing(void)
{
    if (!want_tracing || tried_tracing)
        return;
    tried_tracing = true;
    char why[256] = "";
    tracing = bench_ze_start(why, sizeof why);
    if (!tracing)
        fprintf(stderr, "zbench: Level Zero calls not counted: %s\n", why);
}

/* Interleaved zmoe / baseline calls at T tokens; medians, then a counting pass. */
static enum zmoe_status measure_dispatch(struct zmoe_runtime *rt, struct naive *nv,
                                         const struct geo *g, const struct inputs *in, uint32_t T,
                                         uint32_t calls, struct bench_dispatch *d,
                                         struct zmoe_error *err)
{
    memset(d, 0, sizeof *d);
    d->T = T;
    d->E = g->E;
    d->K = g->K;
    d->calls = calls;
    const size_t xb = (size_t)T * g->H * zmoe_dtype_size(g->adt);
    struct series zs, ns, nts;
    enum zmoe_status st = ZMOE_OK;
    if (!series_init(&zs, calls) || !series_init(&ns, calls) || !series_init(&nts, calls)) {
        zmoe_runtime_errorf(err, "out of memory for samples");
        st = ZMOE_ERR_NO_MEMORY;
    }
    struct sample s;
    /* warm-up: first-touch of pages, lazy driver state */
    for (uint32_t i = 0; i < 3 && !st; i++) {
        st = z_call(rt, i % g->layers, T, in->x[i], xb, true, &s, err);
        if (!st)
            st = n_call(nv, i % g->layers, T, in->x[i], xb, true, &s, err);
    }
    /* timed, interleaved: zmoe, baseline untimed (host cost), baseline with timestamp
     * events (device time; its event resets would inflate the host cost) */
    for (uint32_t i = 0; i < calls && !st; i++) {
        const void *x = in->x[i % NINPUTS];
        uint32_t layer = i % g->layers;
        /* the order alternates, so that neither side always finds the caches the
         * other one left */
        for (int k = 0; k < 3 && !st; k++) {
            const int which = (i & 1) ? 2 - k : k;
            if (which == 0) {
                st = z_call(rt, layer, T, x, xb, true, &s, err);
                if (!st)
                    series_add(&zs, &s);
            } else {
                st = n_call(nv, layer, T, x, xb, which == 2, &s, err);
                if (!st)
                    series_add(which == 2 ? &nts : &ns, &s);
            }
        }
    }
    if (!st) {
        d->z_host_us = series_median(&zs, 0);
        d->z_total_us = series_median(&zs, 1);
        d->z_dev_us = series_median(&zs, 2);
        for (int e = 0; e < ZMOE_STAGE_COUNT; e++)
            d->z_stage_us[e] = series_median(&zs, 3 + e);
        d->n_host_us = series_median(&ns, 0);
        d->n_total_us = series_median(&ns, 1);
        d->n_dev_us = series_median(&nts, 2);
        d->n_total_timed_us = series_median(&nts, 1);
        for (int e = 0; e < NAIVE_STAGES; e++)
            d->n_stage_us[e] = series_median(&nts, 3 + e);
    }
    series_free(&zs);
    series_free(&ns);
    series_free(&nts);

    /* Counting passes, the same calls without device-time sampling: Level Zero calls
     * with the tracer on, then mallocs with it off (it allocates for each call it
     * traces). */
    const uint32_t M = calls < 20 ? calls : 20;
    for (int side = 0; side < 2 && !st; side++) {
        for (int pass = 0; pass < 2 && !st; pass++) {
            struct bench_ze z0, z1;
            struct bench_mallocs m0, m1;
            bench_ze_enable(pass == 0);
            bench_ze_read(&z0);
            bench_mallocs_read(&m0);
            for (uint32_t i = 0; i < M && !st; i++) {
                const void *x = in->x[i % NINPUTS];
                st = side == 0 ? z_call(rt, i % g->layers, T, x, xb, false, &s, err)
                               : n_call(nv, i % g->layers, T, x, xb, false, &s, err);
            }
            bench_ze_read(&z1);
            bench_mallocs_read(&m1);
            bench_ze_enable(false);
            if (pass == 0) {
                double c = tracing ? (double)(z1.calls - z0.calls) / M : -1;
                double a = tracing ? (double)(z1.allocs - z0.allocs) / M : -1;
                double o = tracing ? (double)(z1.creates - z0.creates) / M : -1;
                if (side == 0)
                    d->z_calls = c, d->z_allocs = a, d->z_creates = o;
                else
                    d->n_calls = c, d->n_allocs = a, d->n_creates = o;
            } else {
                const bool valid = !layer_loaded && bench_mallocs_counted();
                double mt = valid ? (double)(m1.this_thread - m0.this_thread) / M : -1;
                double mp = valid ? (double)(m1.process - m0.process) / M : -1;
                if (side == 0)
                    d->z_mallocs = mt, d->z_mallocs_proc = mp;
                else
                    d->n_mallocs = mt, d->n_mallocs_proc = mp;
            }
        }
    }
    return st;
}

/* ------------------------------------------------------------------ callgrind */

/* Collected only between the toggles (the calling thread; the driver's worker threads
 * that run the kernels are never collected). */
__attribute__((noinline)) static enum zmoe_status cg_z(struct zmoe_runtime *rt, uint32_t layer,
                                                       uint32_t T, bool wait,
                                                       struct zmoe_error *err)
{
    struct zmoe_slot slot;
    CALLGRIND_TOGGLE_COLLECT;
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, err);
    if (!st)
        st = zmoe_submit(rt, &slot, layer, T, err);
    if (!wait)
        CALLGRIND_TOGGLE_COLLECT;
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, err);
    if (wait)
        CALLGRIND_TOGGLE_COLLECT;
    return st;
}

/* The harness alone: the same toggles around nothing. Its bench-binary cost (the client
 * requests and the wrapper's own instructions) is subtracted from both sides, so the
 * "own code" column counts zmoe's and the baseline's code, not the measuring. */
__attribute__((noinline)) static enum zmoe_status cg_e(bool wait)
{
    CALLGRIND_TOGGLE_COLLECT;
    enum zmoe_status st = ZMOE_OK;
    if (!wait)
        CALLGRIND_TOGGLE_COLLECT;
    if (wait)
        CALLGRIND_TOGGLE_COLLECT;
    return st;
}

__attribute__((noinline)) static enum zmoe_status cg_n(struct naive *n, uint32_t layer,
                                                       uint32_t T, struct zmoe_error *err)
{
    CALLGRIND_TOGGLE_COLLECT;
    enum zmoe_status st = naive_call(n, layer, T, false, err);
    CALLGRIND_TOGGLE_COLLECT;
    return st;
}

static const struct geo dispatch_geo = {
    .H = 512, .I = 256, .E = 16, .K = 2, .layers = 2, .max_tokens = 32,
    .wdt = ZMOE_DTYPE_BF16, .adt = ZMOE_DTYPE_F32, .on_input = false,
};

/* Batches of N1 and N2 calls per (side, T); run.sh takes (cost(N2) - cost(N1)) /
 * (N2 - N1) so one-off costs of the first calls cancel. */
#define CG_N1 10
#define CG_N2 40
static const uint32_t cg_tokens[] = {1, 8, 32};

static int run_callgrind(void)
{
    wait_timeout_ms = 3600000;
    struct zmoe_error err;
    struct zmoe_config cfg;
    struct zmoe_runtime *rt = NULL;
    struct naive nv;
    if (make_rt(&dispatch_geo, &rt, &cfg, &err))
        return fail("creating the runtime", &err);
    if (naive_init(&nv, rt, &err))
        return fail("creating the baseline", &err);
    for (size_t t = 0; t < sizeof cg_tokens / sizeof cg_tokens[0]; t++) {
        const uint32_t T = cg_tokens[t];
        for (int side = 0; side < 3; side++)
            for (int wait = 1; wait >= 0; wait--) {
                const uint32_t batches[2] = {CG_N1, CG_N2};
                nv.cg_skip_wait = !wait;
                for (int b = 0; b < 3; b++) {
                    /* b == 0: warm-up, not dumped */
                    const uint32_t N = b == 0 ? 3 : batches[b - 1];
                    CALLGRIND_ZERO_STATS;
                    for (uint32_t i = 0; i < N; i++) {
                        uint32_t layer = i % dispatch_geo.layers;
                        enum zmoe_status st = side == 0   ? cg_z(rt, layer, T, wait, &err)
                                              : side == 1 ? cg_n(&nv, layer, T, &err)
                                                          : cg_e(wait);
                        if (st)
                            return fail("dispatch under callgrind", &err);
                    }
                    if (b > 0) {
                        char name[64];
                        snprintf(name, sizeof name, "bench %s %s T=%u N=%u",
                                 side == 0 ? "zmoe" : side == 1 ? "naive" : "calib",
                                 wait ? "wait" : "nowait", T, N);
                        CALLGRIND_DUMP_STATS_AT(name);
                    }
                }
                progress("callgrind: %s T=%u %s done",
                         side == 0 ? "zmoe" : side == 1 ? "baseline" : "harness calibration", T,
                         wait ? "with wait" : "dispatch only");
            }
    }
    naive_fini(&nv);
    zmoe_destroy(rt);
    return 0;
}

static bool read_callgrind(const char *path, struct bench_results *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    /* lines: "<zmoe|naive> <wait|nowait> <T> <class index> <instructions per call>" */
    char side[16], mode[16];
    unsigned T, cls;
    double v;
    double calib[2][BENCH_CG_CLASSES] = {{0}};
    while (fscanf(f, "%15s %15s %u %u %lf", side, mode, &T, &cls, &v) == 5) {
        if (cls >= BENCH_CG_CLASSES)
            continue;
        if (strcmp(side, "calib") == 0) { /* the same for every T: keep the last */
            calib[strcmp(mode, "wait") == 0 ? 0 : 1][cls] = v;
            continue;
        }
        uint32_t i = 0;
        while (i < r->ncg && r->cg[i].T != T)
            i++;
        if (i == r->ncg) {
            if (r->ncg == 4)
                continue;
            r->ncg++;
            r->cg[i].T = T;
            r->cg[i].have = true;
        }
        const int m = strcmp(mode, "wait") == 0 ? 0 : 1;
        (strcmp(side, "zmoe") == 0 ? r->cg[i].z[m] : r->cg[i].n[m])[cls] = v;
    }
    fclose(f);
    /* Take the harness's own cost (bench binary and total) off both sides. */
    for (uint32_t i = 0; i < r->ncg; i++)
        for (int m = 0; m < 2; m++)
            for (int c = 0; c < BENCH_CG_CLASSES; c++)
                if (c == 0 || c == BENCH_CG_CLASSES - 1) {
                    r->cg[i].z[m][c] -= calib[m][0];
                    r->cg[i].n[m][c] -= calib[m][0];
                }
    return r->ncg > 0;
}

/* Level Zero call counts come from a separate process (`zbench calls`) with the tracing
 * layer loaded: the layer itself mallocs on the calls it intercepts, so the process
 * that counts mallocs and measures time must run without it. */
static void print_counts(FILE *f, const char *tag, const struct bench_dispatch *d)
{
    fprintf(f, "%s %u %u %u %.3f %.3f %.3f %.3f %.3f %.3f\n", tag, d->T, d->E, d->K, d->z_calls,
            d->z_allocs, d->z_creates, d->n_calls, d->n_allocs, d->n_creates);
}

static void merge_counts(struct bench_dispatch *d, uint32_t n, bool by_t, uint32_t T, uint32_t E,
                         uint32_t K, const double v[6])
{
    for (uint32_t i = 0; i < n; i++)
        if (by_t ? d[i].T == T : (d[i].E == E && d[i].K == K)) {
            d[i].z_calls = v[0], d[i].z_allocs = v[1], d[i].z_creates = v[2];
            d[i].n_calls = v[3], d[i].n_allocs = v[4], d[i].n_creates = v[5];
        }
}

static bool read_mallocs1(const char *path, struct bench_results *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    unsigned T;
    double v[4];
    int lines = 0;
    while (fscanf(f, " m %u %lf %lf %lf %lf", &T, &v[0], &v[1], &v[2], &v[3]) == 5) {
        lines++;
        for (int i = 0; i < 2; i++)
            if (r->disp[i].T == T) {
                r->disp[i].z_mallocs1 = v[0], r->disp[i].z_mallocs1_proc = v[1];
                r->disp[i].n_mallocs1 = v[2], r->disp[i].n_mallocs1_proc = v[3];
            }
    }
    fclose(f);
    return lines > 0;
}

static bool read_counts(const char *path, struct bench_results *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char tag[16];
    unsigned T, E, K;
    double v[6];
    int lines = 0;
    while (fscanf(f, "%15s %u %u %u %lf %lf %lf %lf %lf %lf", tag, &T, &E, &K, &v[0], &v[1],
                  &v[2], &v[3], &v[4], &v[5]) == 10) {
        lines++;
        if (strcmp(tag, "t") == 0) {
            merge_counts(r->disp, 2, true, T, E, K, v);
            merge_counts(r->sweep_t, r->nsweep_t, true, T, E, K, v);
        } else {
            merge_counts(r->sweep_ek, r->nsweep_ek, false, T, E, K, v);
        }
    }
    fclose(f);
    return lines > 0;
}

const char *bench_cg_class_name(int c)
{
    static const char *const names[BENCH_CG_CLASSES] = {
        "zmoe / baseline code (bench binary)", "Level Zero loader", "driver (hostdev + PoCL)",
        "libc, ld.so, kernel entry", "total"};
    return c >= 0 && c < BENCH_CG_CLASSES ? names[c] : "?";
}

/* ------------------------------------------------------------------ the benches */

static const char *examples_dir = ZMOE_BENCH_EXAMPLES;

static int bench_arena(struct bench_results *r)
{
    static const char *const names[] = {
        "default", "deepseek-v2-lite-mini", "deepseek-v2-lite", "deepseek-v3-mini",
        "gpt-oss-20b-mini", "gpt-oss-20b", "llama4-scout-mini", "llama4-scout",
        "mixtral-8x7b-mini", "mixtral-8x7b", "qwen2-moe-mini", "qwen3-30b-a3b-mini",
        "qwen3-30b-a3b"};
    r->narena = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && r->narena < BENCH_ARENA_MAX; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.conf", examples_dir, names[i]);
        if (access(path, R_OK) != 0)
            continue;
        struct zmoe_config cfg;
        struct zmoe_error err;
        if (zmoe_config_load(path, &cfg, &err))
            return fail(path, &err);
        uint32_t nb = zmoe_runtime_max_buffers(&cfg);
        struct zmoe_buffer *storage = calloc(nb ? nb : 1, sizeof *storage);
        if (!storage)
            return 1;
        struct zmoe_plan plan;
        struct zmoe_runtime_buffers ids;
        zmoe_plan_init(&plan, storage, nb);
        if (zmoe_runtime_plan(&cfg, &plan, &ids, &err)) {
            free(storage);
            return fail(path, &err);
        }
        struct bench_arena *a = &r->arena[r->narena++];
        snprintf(a->name, sizeof a->name, "%s", names[i]);
        a->plan = plan.size[ZMOE_MEMORY_DEVICE];
        a->lower = plan.lower_bound[ZMOE_MEMORY_DEVICE];
        a->hplan = plan.size[ZMOE_MEMORY_HOST_VISIBLE];
        a->hlower = plan.lower_bound[ZMOE_MEMORY_HOST_VISIBLE];
        a->separate = a->hseparate = 0;
        a->weights = 0;
        for (uint32_t b = 0; b < plan.count; b++) {
            *(plan.buffers[b].memory == ZMOE_MEMORY_DEVICE ? &a->separate : &a->hseparate) +=
                plan.buffers[b].size;
            if (plan.buffers[b].category == ZMOE_CATEGORY_WEIGHT)
                a->weights += plan.buffers[b].size;
        }
        free(storage);
    }
    return 0;
}

/* On-input on vs off, zmoe and baseline: four dispatchers interleaved. */
static int bench_onin(struct bench_results *r, uint32_t calls)
{
    struct geo g = {.H = 1024, .I = 512, .E = 16, .K = 2, .layers = 1, .max_tokens = 8,
                    .wdt = ZMOE_DTYPE_BF16, .adt = ZMOE_DTYPE_BF16};
    geo_text(&g, r->onin_geometry, sizeof r->onin_geometry);
    struct zmoe_error err;
    struct zmoe_config cfg[2];
    struct zmoe_runtime *rt[2] = {0};
    struct naive nv[2];
    struct inputs in;
    if (!inputs_make(&in, &g))
        return 1;
    for (int on = 0; on < 2; on++) {
        g.on_input = on;
        if (make_rt(&g, &rt[on], &cfg[on], &err))
            return fail("creating the on-input runtimes", &err);
        if (naive_init(&nv[on], rt[on], &err))
            return fail("creating the on-input baselines", &err);
    }
    const uint32_t Ts[2] = {1, 8};
    for (int t = 0; t < 2; t++) {
        const uint32_t T = Ts[t];
        progress("router weight on input: T=%u, %u calls x 4 dispatchers", T, calls);
        const size_t xb = (size_t)T * g.H * zmoe_dtype_size(g.adt);
        struct series zs[2], ns[2];
        for (int on = 0; on < 2; on++)
            if (!series_init(&zs[on], calls) || !series_init(&ns[on], calls))
                return 1;
        struct sample s;
        for (uint32_t i = 0; i < calls + 2; i++) {
            const void *x = in.x[i % NINPUTS];
            for (int k = 0; k < 2; k++) {
                const int on = (i & 1) ? 1 - k : k; /* alternating order */
                if (z_call(rt[on], 0, T, x, xb, true, &s, &err))
                    return fail("zmoe call", &err);
                if (i >= 2)
                    series_add(&zs[on], &s);
                if (n_call(&nv[on], 0, T, x, xb, true, &s, &err))
                    return fail("baseline call", &err);
                if (i >= 2)
                    series_add(&ns[on], &s);
            }
        }
        struct bench_onin *o = &r->onin[t];
        o->T = T;
        /* ratios of the adjacent on/off calls of each round, before the medians sort
         * the series: the machine's drift cancels within a round */
        double *zr = calloc(zs[0].n ? zs[0].n : 1, sizeof *zr);
        double *nr = calloc(ns[0].n ? ns[0].n : 1, sizeof *nr);
        if (!zr || !nr)
            return 1;
        for (size_t i = 0; i < zs[0].n; i++) {
            zr[i] = zs[0].v[2][i] ? (double)zs[1].v[2][i] / (double)zs[0].v[2][i] : 0;
            nr[i] = ns[0].v[2][i] ? (double)ns[1].v[2][i] / (double)ns[0].v[2][i] : 0;
        }
        o->z_ratio = median_d(zr, zs[0].n);
        o->n_ratio = median_d(nr, ns[0].n);
        free(zr);
        free(nr);
        o->z_off_us = series_median(&zs[0], 2);
        o->z_on_us = series_median(&zs[1], 2);
        o->n_off_us = series_median(&ns[0], 2);
        o->n_on_us = series_median(&ns[1], 2);
        for (int e = 0; e < ZMOE_STAGE_COUNT; e++)
            o->z_stage_on_us[e] = series_median(&zs[1], 3 + e);
        for (int e = 0; e < NAIVE_STAGES; e++)
            o->n_stage_on_us[e] = series_median(&ns[1], 3 + e);
        /* Extra bytes per step, from the geometry. zmoe: the expert_up kernel reads the
         * routing weight of each routed row (T*K f32) and the combine no longer does:
         * net 0. Baseline: the scale kernel reads x once per routed copy and w, writes
         * x_scaled; the fill writes ones; the expert kernels then read x_scaled where
         * zmoe reads x (same count). */
        const uint64_t TK = (uint64_t)T * g.K, row = (uint64_t)g.H * zmoe_dtype_size(g.adt);
        o->z_extra_bytes = 0;
        o->n_extra_bytes = TK * row /* read x */ + TK * 4 /* read w */ + TK * row /* write xs */ +
                           TK * 4 /* write ones */;
        for (int on = 0; on < 2; on++) {
            series_free(&zs[on]);
            series_free(&ns[on]);
        }
    }
    for (int on = 0; on < 2; on++) {
        naive_fini(&nv[on]);
        zmoe_destroy(rt[on]);
    }
    inputs_free(&in);
    return 0;
}

static int bench_bandwidth(struct bench_results *r, uint32_t steps, uint64_t copy_bytes)
{
    const enum zmoe_dtype dts[3] = {ZMOE_DTYPE_F32, ZMOE_DTYPE_F16, ZMOE_DTYPE_BF16};
    struct geo g = {.H = 2048, .I = 768, .E = 64, .K = 8, .layers = 1, .max_tokens = 1,
                    .adt = ZMOE_DTYPE_F32};
    r->nbw = 0;
    for (int d = 0; d < 3; d++) {
        g.wdt = dts[d];
        if (d == 0) {
            char t[160];
            geo_text(&g, t, sizeof t);
            snprintf(r->bw_geometry, sizeof r->bw_geometry,
                     "H=%u I=%u E=%u top_k=%u, T=1, activations f32; expert weights %.0f MiB "
                     "(bf16) to %.0f MiB (f32) per layer; copy of %.0f MiB",
                     g.H, g.I, g.E, g.K, geo_weight_bytes(&g) / 2.0 / 1048576.0,
                     geo_weight_bytes(&g) / 1048576.0, copy_bytes / 1048576.0);
        }
        progress("bandwidth: %s weights, %.0f MiB, creating the runtime", zmoe_dtype_name(g.wdt),
                 geo_weight_bytes(&g) / 1048576.0);
        struct zmoe_error err;
        struct zmoe_config cfg;
        struct zmoe_runtime *rt = NULL;
        struct naive nv;
        struct inputs in;
        if (!inputs_make(&in, &g))
            return 1;
        if (make_rt(&g, &rt, &cfg, &err))
            return fail("creating the bandwidth runtime", &err);
        if (naive_init(&nv, rt, &err))
            return fail("creating the copy kernel", &err);
        void *src = NULL, *dst = NULL;
        ze_device_mem_alloc_desc_t dd = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
        if (zeMemAllocDevice(rt->context, &dd, copy_bytes, 64, rt->device, &src) ||
            zeMemAllocDevice(rt->context, &dd, copy_bytes, 64, rt->device, &dst)) {
            fprintf(stderr, "zbench: cannot allocate 2 x %llu bytes for the copy\n",
                    (unsigned long long)copy_bytes);
            return 1;
        }
        const uint32_t n4 = (uint32_t)(copy_bytes / 16);
        uint64_t *step = calloc(steps, 8), *exp = calloc(steps, 8), *copy = calloc(steps, 8);
        double *ratios = calloc(steps, sizeof(double));
        if (!step || !exp || !copy || !ratios)
            return 1;
        const uint64_t wb = zmoe_dtype_size(g.wdt);
        /* T = 1: exactly K distinct experts, each W13 (2I x H) and W2 (H x I), plus the
         * router (E x H). */
        const uint64_t step_bytes = (uint64_t)g.K * 3 * g.I * g.H * wb + (uint64_t)g.E * g.H * wb;
        struct sample s;
        uint64_t ns;
        /* warm-up: first touch of the copy buffers and of the kernels */
        for (int w = 0; w < 2; w++)
            if (naive_copy(&nv, dst, src, n4, &ns, &err) ||
                z_call(rt, 0, 1, in.x[w], in.bytes, true, &s, &err))
                return fail("bandwidth warm-up", &err);
        progress("bandwidth: %s weights, %u steps interleaved with copies", zmoe_dtype_name(g.wdt),
                 steps);
        for (uint32_t i = 0; i < steps; i++) {
            if (z_call(rt, 0, 1, in.x[i % NINPUTS], in.bytes, true, &s, &err))
                return fail("bandwidth step", &err);
            step[i] = s.dev_ns;
            exp[i] = s.stage_ns[ZMOE_STAGE_EXPERT_UP] + s.stage_ns[ZMOE_STAGE_EXPERT_DOWN];
            if (naive_copy(&nv, dst, src, n4, &copy[i], &err))
                return fail("copy kernel", &err);
            /* the ratio of each adjacent pair: the machine's slow drift cancels */
            ratios[i] = step[i] ? ((double)step_bytes / step[i]) /
                                      (2.0 * (double)copy_bytes / (double)copy[i])
                                : 0;
        }
        struct bench_bw *b = &r->bw[r->nbw++];
        b->wdt = g.wdt;
        b->step_bytes = step_bytes;
        b->step_us = median_us(step, steps);
        b->expert_us = median_us(exp, steps);
        b->copy_us = median_us(copy, steps);
        b->copy_bytes = 2.0 * (double)copy_bytes; /* read + write */
        b->step_gbs = b->step_bytes / (b->step_us * 1e3);
        b->expert_gbs = ((double)g.K * 3 * g.I * g.H * wb) / (b->expert_us * 1e3);
        b->copy_gbs = b->copy_bytes / (b->copy_us * 1e3);
        b->ratio = median_d(ratios, steps);
        free(ratios);
        progress("bandwidth: %s step %.1f GB/s, copy %.1f GB/s, ratio %.2f", zmoe_dtype_name(g.wdt),
                 b->step_gbs, b->copy_gbs, b->ratio);
        free(step);
        free(exp);
        free(copy);
        zeMemFree(rt->context, src);
        zeMemFree(rt->context, dst);
        naive_fini(&nv);
        zmoe_destroy(rt);
        inputs_free(&in);
    }
    return 0;
}

/* ------------------------------------------------------------------ quantized experts */

/* `zbench quant`: the Qwen3-30B-A3B layer (H=2048, I=768, E=128, top_k 8), bf16 router and
 * f32 activations, at T=1 and T=8, for bf16 expert weights and each quantized format
 * (synthetic weights): device time of the step (sum of the stages' timestamps, median),
 * the bytes the step actually reads (router + every distinct routed expert's W13 and W2
 * in its format, from the step's own routing readback; parts per expert = tensor bytes / E)
 * and their bandwidth against the copy_f32 kernel, interleaved step by step (the ratio
 * of adjacent pairs, median). Targets (issue 13): int4 step time <= 0.45 x bf16's; every
 * format >= 0.5 of copy bandwidth on its bytes. */
struct qfmt {
    const char *name, *quant; /* quant: the [quant] section, NULL for float */
};

static const struct qfmt qfmts[] = {
    {"bf16", NULL},
    {"int4 g128 f16", "format = int4\ngroup_size = 128\nscale_dtype = f16\n"},
    {"int4 g128 f16 asym", "format = int4\ngroup_size = 128\nscale_dtype = f16\nzero_points = true\n"},
    {"int8 per-channel f16", "format = int8\ngroup_size = 0\nscale_dtype = f16\n"},
    {"fp8 128x128 f32", "format = fp8\ngroup_size = 128\nscale_dtype = f32\n"},
    {"mxfp4 g32 e8m0", "format = mxfp4\ngroup_size = 32\nscale_dtype = e8m0\n"},
};
#define NQFMT (sizeof qfmts / sizeof qfmts[0])

struct qrow {
    uint32_t T;
    double step_us, bytes, gbs, copy_gbs, ratio, experts;
};

static int bench_quant(uint32_t steps, uint64_t copy_bytes, const char *outdir)
{
    const uint32_t H = 2048, I = 768, E = 128, K = 8, Ts[2] = {1, 8};
    struct qrow rows[NQFMT][2];
    memset(rows, 0, sizeof rows);
    struct geo g = {.H = H, .I = I, .E = E, .K = K, .layers = 1, .max_tokens = 8,
                    .wdt = ZMOE_DTYPE_BF16, .adt = ZMOE_DTYPE_F32};
    struct inputs in;
    if (!inputs_make(&in, &g))
        return 1;
    /* ZBENCH_QUANT_ONLY=substring: only the formats whose name contains it (kernel work) */
    const char *only = getenv("ZBENCH_QUANT_ONLY");
    for (size_t f = 0; f < NQFMT; f++) {
        if (only && !strstr(qfmts[f].name, only))
            continue;
        char text[1400];
        snprintf(text, sizeof text,
                 "[model]\nhidden = %u\nintermediate = %u\nexperts = %u\ntop_k = %u\nlayers = 1\n"
                 "[router]\nscoring = softmax\nrenormalize = true\n[experts]\nactivation = silu\n"
                 "[dtype]\nweights = bf16\nactivations = f32\n"
                 "[runtime]\nmax_tokens = 8\nring_depth = 2\ndevice = auto\nwait_timeout_ms = %u\n"
                 "[weights]\nlayout = synthetic\nseed = 7\n%s%s",
                 H, I, E, K, wait_timeout_ms, qfmts[f].quant ? "[quant]\n" : "",
                 qfmts[f].quant ? qfmts[f].quant : "");
        struct zmoe_error err = {{0}};
        struct zmoe_config cfg;
        struct zmoe_runtime *rt = NULL;
        if (zmoe_config_parse(text, strlen(text), "zbench quant", &cfg, &err))
            return fail("quant config", &err);
        const uint64_t per_expert = (zmoe_tensor_bytes(&cfg, ZMOE_TENSOR_W13) +
                                     zmoe_tensor_bytes(&cfg, ZMOE_TENSOR_W2)) / E;
        const uint64_t router = zmoe_tensor_bytes(&cfg, ZMOE_TENSOR_ROUTER_W);
        progress("quant: %s, %.0f MiB of expert weights, creating the runtime", qfmts[f].name,
                 per_expert * (double)E / 1048576.0);
        struct zmoe_create_info ci = {.config = &cfg};
        if (zmoe_create(&ci, &rt, &err) || zmoe_load_weights(rt, &err))
            return fail("quant runtime", &err);
        struct naive nv;
        if (naive_init(&nv, rt, &err))
            return fail("creating the copy kernel", &err);
        void *src = NULL, *dst = NULL;
        ze_device_mem_alloc_desc_t dd = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
        if (zeMemAllocDevice(rt->context, &dd, copy_bytes, 64, rt->device, &src) ||
            zeMemAllocDevice(rt->context, &dd, copy_bytes, 64, rt->device, &dst)) {
            fprintf(stderr, "zbench: cannot allocate 2 x %llu bytes for the copy\n",
                    (unsigned long long)copy_bytes);
            return 1;
        }
        const uint32_t n4 = (uint32_t)(copy_bytes / 16);
        uint64_t *step = calloc(steps, 8), *copy = calloc(steps, 8);
        double *ratios = calloc(steps, sizeof(double)), *bytes = calloc(steps, sizeof(double));
        double *gbs = calloc(steps, sizeof(double)), *cgbs = calloc(steps, sizeof(double));
        double *nexp = calloc(steps, sizeof(double));
        if (!step || !copy || !ratios || !bytes || !gbs || !cgbs || !nexp)
            return 1;
        for (int ti = 0; ti < 2; ti++) {
            const uint32_t T = Ts[ti];
            const size_t xb = (size_t)T * H * sizeof(float);
            uint64_t ns;
            for (uint32_t i = 0; i < steps + 2; i++) { /* 2 warm-up rounds */
                struct zmoe_slot slot;
                enum zmoe_status st = zmoe_slot_acquire(rt, &slot, &err);
                if (!st) {
                    memcpy(slot.input_host, in.x[i % NINPUTS], xb);
                    st = zmoe_submit(rt, &slot, 0, T, &err);
                }
                if (!st)
                    st = zmoe_wait(rt, &slot, UINT64_MAX, &err);
                struct zmoe_stats stats;
                if (st || zmoe_get_stats(rt, &stats))
                    return fail("quant step", &err);
                /* the experts this step's routing read (each W13 and W2 once) */
                unsigned char seen[512] = {0};
                uint32_t distinct = 0;
                for (uint32_t p = 0; p < T * K; p++)
                    if (!seen[slot.topk_ids_host[p]]++)
                        distinct++;
                uint64_t dev = 0;
                for (int e = 0; e < ZMOE_STAGE_COUNT; e++)
                    dev += stats.stage_device_ns[e];
                if (naive_copy(&nv, dst, src, n4, &ns, &err))
                    return fail("copy kernel", &err);
                if (i < 2)
                    continue;
                const uint32_t k = i - 2;
                step[k] = dev;
                copy[k] = ns;
                bytes[k] = (double)router + (double)distinct * (double)per_expert;
                nexp[k] = distinct;
                gbs[k] = dev ? bytes[k] / (double)dev : 0;
                cgbs[k] = ns ? 2.0 * (double)copy_bytes / (double)ns : 0;
                ratios[k] = cgbs[k] > 0 ? gbs[k] / cgbs[k] : 0;
            }
            struct qrow *r = &rows[f][ti];
            r->T = T;
            r->step_us = median_us(step, steps);
            r->bytes = median_d(bytes, steps);
            r->experts = median_d(nexp, steps);
            r->gbs = median_d(gbs, steps);
            r->copy_gbs = median_d(cgbs, steps);
            r->ratio = median_d(ratios, steps);
            progress("quant: %s T=%u: step %.0f us, %.1f MB, %.2f GB/s, copy %.2f GB/s, ratio %.3f",
                     qfmts[f].name, T, r->step_us, r->bytes / 1e6, r->gbs, r->copy_gbs, r->ratio);
        }
        free(step);
        free(copy);
        free(ratios);
        free(bytes);
        free(gbs);
        free(cgbs);
        free(nexp);
        zeMemFree(rt->context, src);
        zeMemFree(rt->context, dst);
        naive_fini(&nv);
        zmoe_destroy(rt);
    }
    inputs_free(&in);

    char path[1024];
    snprintf(path, sizeof path, "%s/quant.tsv", outdir);
    FILE *tsv = fopen(path, "w");
    snprintf(path, sizeof path, "%s/quant.md", outdir);
    FILE *md = fopen(path, "w");
    if (!tsv || !md) {
        fprintf(stderr, "zbench: cannot write %s/quant.{tsv,md}\n", outdir);
        return 1;
    }
    fprintf(tsv, "format\tT\tstep_us\tbytes\texperts\tgbs\tcopy_gbs\tratio\ttime_vs_bf16\n");
    fprintf(md, "# Quantized experts on %s: Qwen3-30B-A3B layer (H=%u I=%u E=%u top_k %u), bf16 "
                "router, f32 activations\n\n",
            "hostdev", H, I, E, K);
    fprintf(md, "`zbench quant` (%u steps per row, interleaved with a copy_f32 of 2 x %.0f MiB). "
                "bytes = router + each distinct routed expert's W13 and W2 in its format (codes, "
                "scales, zeros) as the step's routing chose them; GB/s = bytes / device time of the "
                "step; ratio = that / copy GB/s (median of adjacent pairs); time = step time / "
                "bf16's at the same T. Targets: int4 time <= 0.45, every ratio >= 0.5.\n\n",
            steps, copy_bytes / 1048576.0);
    fprintf(md, "| format | T | experts read | MB read | step µs | time vs bf16 | GB/s | copy GB/s | ratio |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int ti = 0; ti < 2; ti++)
        for (size_t f = 0; f < NQFMT; f++) {
            const struct qrow *r = &rows[f][ti];
            const double rel = rows[0][ti].step_us > 0 ? r->step_us / rows[0][ti].step_us : 0;
            fprintf(tsv, "%s\t%u\t%.1f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\n", qfmts[f].name, r->T,
                    r->step_us, r->bytes, r->experts, r->gbs, r->copy_gbs, r->ratio, rel);
            fprintf(md, "| %s | %u | %.0f | %.2f | %.0f | %.3f | %.2f | %.2f | %.3f |\n", qfmts[f].name,
                    r->T, r->experts, r->bytes / 1e6, r->step_us, rel, r->gbs, r->copy_gbs, r->ratio);
            printf("%-20s T=%u experts %3.0f  %8.2f MB  step %8.0f us  x%.3f of bf16  %6.2f GB/s  "
                   "copy %6.2f GB/s  ratio %.3f\n",
                   qfmts[f].name, r->T, r->experts, r->bytes / 1e6, r->step_us, rel, r->gbs,
                   r->copy_gbs, r->ratio);
        }
    fclose(tsv);
    fclose(md);
    return 0;
}

/* A/B of two kernel builds on the bandwidth geometry: zmoe (embedded kernels) against the
 * baseline running ZBENCH_MOE_SPV; expert stages only, per-round ratio medians. */
static int kernel_ab(uint32_t steps)
{
    const enum zmoe_dtype dts[3] = {ZMOE_DTYPE_F32, ZMOE_DTYPE_F16, ZMOE_DTYPE_BF16};
    struct geo g = {.H = 2048, .I = 768, .E = 64, .K = 8, .layers = 1, .max_tokens = 1,
                    .adt = ZMOE_DTYPE_F32};
    printf("expert_up+expert_down device time, ZBENCH_MOE_SPV=%s / embedded kernels:\n",
           getenv("ZBENCH_MOE_SPV") ? getenv("ZBENCH_MOE_SPV") : "(unset: A/A)");
    for (int d = 0; d < 3; d++) {
        g.wdt = dts[d];
        struct zmoe_error err;
        struct zmoe_config cfg;
        struct zmoe_runtime *rt = NULL;
        struct naive nv;
        struct inputs in;
        if (!inputs_make(&in, &g))
            return 1;
        progress("kernel A/B: %s weights", zmoe_dtype_name(g.wdt));
        if (make_rt(&g, &rt, &cfg, &err) || naive_init(&nv, rt, &err))
            return fail("kernel A/B setup", &err);
        double *ratio = calloc(steps, sizeof *ratio);
        uint64_t *za = calloc(steps, 8), *na = calloc(steps, 8);
        if (!ratio || !za || !na)
            return 1;
        struct sample zs, ns;
        double diff = 0, mag = 0;
        for (uint32_t i = 0; i < steps + 2; i++) {
            const void *x = in.x[i % NINPUTS];
            if (z_call(rt, 0, 1, x, in.bytes, true, &zs, &err) ||
                n_call(&nv, 0, 1, x, in.bytes, true, &ns, &err))
                return fail("kernel A/B call", &err);
            /* the alternative must compute the same layer (up to f32 reassociation) */
            const struct zmoe_ring_slot *sl = &rt->slots[(rt->next_slot + rt->depth - 1) % rt->depth];
            for (uint32_t h = 0; h < g.H; h++) {
                diff = fmax(diff, fabs((double)((const float *)sl->y_host)[h] -
                                       (double)((const float *)nv.y_host)[h]));
                mag = fmax(mag, fabs((double)((const float *)sl->y_host)[h]));
            }
            if (i < 2)
                continue;
            za[i - 2] = zs.stage_ns[ZMOE_STAGE_EXPERT_UP] + zs.stage_ns[ZMOE_STAGE_EXPERT_DOWN];
            na[i - 2] = ns.stage_ns[NAIVE_UP] + ns.stage_ns[NAIVE_DOWN];
            ratio[i - 2] = za[i - 2] ? (double)na[i - 2] / (double)za[i - 2] : 0;
        }
        printf("  %s: embedded %.0f us, alternative %.0f us, ratio %.3f (outputs: max |diff| "
               "%.2g of max |y| %.2g)\n", zmoe_dtype_name(g.wdt), median_us(za, steps),
               median_us(na, steps), median_d(ratio, steps), diff, mag);
        free(ratio);
        free(za);
        free(na);
        naive_fini(&nv);
        zmoe_destroy(rt);
        inputs_free(&in);
    }
    return 0;
}

/* Diagnostic for the kernel owner: the GEMV work-group shape (ZMOE_GEMV_LANES, read by
 * zmoe_create) on this device, three runtimes alive at once and stepped in turn with a
 * copy per round, ratio of each step to that round's copy. */
static int bench_lanes(struct bench_results *r, uint32_t steps, uint64_t copy_bytes)
{
    static const uint32_t lanes[BENCH_LANES] = {1, 8, 16};
    const enum zmoe_dtype dts[2] = {ZMOE_DTYPE_F32, ZMOE_DTYPE_BF16};
    struct geo g = {.H = 2048, .I = 768, .E = 64, .K = 8, .layers = 1, .max_tokens = 1,
                    .adt = ZMOE_DTYPE_F32};
    const char *saved = getenv("ZMOE_GEMV_LANES");
    char keep[32] = "";
    if (saved)
        snprintf(keep, sizeof keep, "%s", saved);
    r->nlanes = 0;
    for (int d = 0; d < 2; d++) {
        g.wdt = dts[d];
        struct zmoe_error err;
        struct zmoe_config cfg[BENCH_LANES];
        struct zmoe_runtime *rt[BENCH_LANES] = {0};
        struct inputs in;
        if (!inputs_make(&in, &g))
            return 1;
        for (int l = 0; l < BENCH_LANES; l++) {
            char v[16];
            snprintf(v, sizeof v, "%u", lanes[l]);
            setenv("ZMOE_GEMV_LANES", v, 1);
            progress("GEMV shape: %s weights, lanes %u, creating the runtime", zmoe_dtype_name(g.wdt),
                     lanes[l]);
            if (make_rt(&g, &rt[l], &cfg[l], &err))
                return fail("creating a lanes runtime", &err);
        }
        if (saved)
            setenv("ZMOE_GEMV_LANES", keep, 1);
        else
            unsetenv("ZMOE_GEMV_LANES");
        struct naive nv;
        if (naive_init(&nv, rt[0], &err))
            return fail("creating the copy kernel", &err);
        void *src = NULL, *dst = NULL;
        ze_device_mem_alloc_desc_t dd = {.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC};
        if (zeMemAllocDevice(rt[0]->context, &dd, copy_bytes, 64, rt[0]->device, &src) ||
            zeMemAllocDevice(rt[0]->context, &dd, copy_bytes, 64, rt[0]->device, &dst))
            return 1;
        const uint32_t n4 = (uint32_t)(copy_bytes / 16);
        const uint64_t wb = zmoe_dtype_size(g.wdt);
        const uint64_t step_bytes = (uint64_t)g.K * 3 * g.I * g.H * wb + (uint64_t)g.E * g.H * wb;
        double *ratios[BENCH_LANES];
        uint64_t *times[BENCH_LANES];
        for (int l = 0; l < BENCH_LANES; l++) {
            ratios[l] = calloc(steps, sizeof(double));
            times[l] = calloc(steps, sizeof(uint64_t));
            if (!ratios[l] || !times[l])
                return 1;
        }
        struct sample s;
        uint64_t ns;
        for (int l = 0; l < BENCH_LANES; l++)
            if (z_call(rt[l], 0, 1, in.x[0], in.bytes, true, &s, &err) ||
                naive_copy(&nv, dst, src, n4, &ns, &err))
                return fail("lanes warm-up", &err);
        progress("GEMV shape: %s weights, %u rounds", zmoe_dtype_name(g.wdt), steps);
        for (uint32_t i = 0; i < steps; i++) {
            if (naive_copy(&nv, dst, src, n4, &ns, &err))
                return fail("copy kernel", &err);
            const double copy_bw = 2.0 * (double)copy_bytes / (double)ns;
            for (int k = 0; k < BENCH_LANES; k++) {
                const int l = (int)((i + (uint32_t)k) % BENCH_LANES); /* rotating order */
                if (z_call(rt[l], 0, 1, in.x[i % NINPUTS], in.bytes, true, &s, &err))
                    return fail("lanes step", &err);
                times[l][i] = s.dev_ns;
                ratios[l][i] = s.dev_ns ? ((double)step_bytes / s.dev_ns) / copy_bw : 0;
            }
        }
        for (int l = 0; l < BENCH_LANES; l++) {
            struct bench_lanes *b = &r->lanes[r->nlanes++];
            b->wdt = g.wdt;
            b->lanes = lanes[l];
            b->step_us = median_us(times[l], steps);
            b->ratio = median_d(ratios[l], steps);
            free(ratios[l]);
            free(times[l]);
        }
        zeMemFree(rt[0]->context, src);
        zeMemFree(rt[0]->context, dst);
        naive_fini(&nv);
        for (int l = 0; l < BENCH_LANES; l++)
            zmoe_destroy(rt[l]);
        inputs_free(&in);
    }
    return 0;
}

static int bench_dispatch_all(struct bench_results *r, uint32_t calls, uint32_t sweep_calls)
{
    struct zmoe_error err;
    struct zmoe_config cfg;
    struct zmoe_runtime *rt = NULL;
    struct naive nv;
    struct inputs in;
    geo_text(&dispatch_geo, r->dispatch_geometry, sizeof r->dispatch_geometry);
    snprintf(r->scale_geometry, sizeof r->scale_geometry, "%s", r->dispatch_geometry);
    if (!inputs_make(&in, &dispatch_geo))
        return 1;
    if (make_rt(&dispatch_geo, &rt, &cfg, &err))
        return fail("creating the dispatch runtime", &err);
    start_tracing();
    if (naive_init(&nv, rt, &err))
        return fail("creating the baseline", &err);
    struct zmoe_stats stats;
    zmoe_get_stats(rt, &stats);
    snprintf(r->device, sizeof r->device, "%s (kernels %s)", stats.device_name,
             stats.kernels_native ? "native" : "SPIR-V");
    const uint32_t Ts[2] = {1, 8};
    for (int t = 0; t < 2; t++) {
        progress("dispatch: T=%u, %u calls per side, interleaved", Ts[t], calls);
        if (measure_dispatch(rt, &nv, &dispatch_geo, &in, Ts[t], calls, &r->disp[t], &err))
            return fail("dispatch", &err);
    }
    const char *drv = getenv("ZE_ENABLE_ALT_DRIVERS");
    snprintf(r->drivers, sizeof r->drivers, "%s", drv ? drv : "(unset: the loader's default list)");
    for (int t = 0; t < 2; t++)
        r->disp[t].z_mallocs1 = r->disp[t].n_mallocs1 = -1;
    r->nsweep_t = 0;
    for (uint32_t T = 1; sweep_calls && T <= dispatch_geo.max_tokens && r->nsweep_t < BENCH_T_MAX;
         T *= 2) {
        progress("scaling: T=%u, %u calls per side", T, sweep_calls);
        if (measure_dispatch(rt, &nv, &dispatch_geo, &in, T, sweep_calls, &r->sweep_t[r->nsweep_t++],
                             &err))
            return fail("T sweep", &err);
    }
    naive_fini(&nv);
    zmoe_destroy(rt);
    inputs_free(&in);
    return 0;
}

/* Slot I/O side by side (runtime.slot_io, runtime/README.md "The ring"): two runtimes on
 * the dispatch geometry, one recording the input and output copies (copy), one whose
 * kernels use the slot's host buffers (direct), called alternately (the order flips
 * each round). Per call: wall time (acquire + submit + wait) and the kernels' device
 * time; printed are the medians of each and of wall - kernel, and the median ratio of
 * the adjacent direct / copy wall times (the machine's drift cancels within a round). */
static int bench_slot_io(uint32_t calls)
{
    struct geo g = dispatch_geo;
    struct zmoe_error err;
    struct zmoe_config cfg[2];
    struct zmoe_runtime *rt[2] = {0};
    struct inputs in;
    const enum zmoe_slot_io modes[2] = {ZMOE_SLOT_IO_COPY, ZMOE_SLOT_IO_DIRECT};
    const char *names[2] = {"copy", "direct"};
    if (!inputs_make(&in, &g))
        return 1;
    for (int m = 0; m < 2; m++) {
        g.slot_io = modes[m];
        if (make_rt(&g, &rt[m], &cfg[m], &err))
            return fail("creating the slot I/O runtimes", &err);
        struct zmoe_stats st;
        zmoe_get_stats(rt[m], &st);
        if (st.slot_io_direct != (m == 1)) {
            fprintf(stderr, "zbench slotio: runtime.slot_io = %s resolved to %s\n", names[m],
                    st.slot_io_direct ? "direct" : "copy");
            return 1;
        }
    }
    char geo[160];
    geo_text(&g, geo, sizeof geo);
    printf("slot I/O, %s, %u calls each, alternating\n", geo, calls);
    const uint32_t Ts[2] = {1, 8};
    for (int t = 0; t < 2; t++) {
        const uint32_t T = Ts[t];
        const size_t xb = (size_t)T * g.H * zmoe_dtype_size(g.adt);
        struct series zs[2];
        uint64_t *over[2];
        double *ratio = calloc(calls, sizeof *ratio);
        for (int m = 0; m < 2; m++)
            if (!series_init(&zs[m], calls) || !(over[m] = calloc(calls, 8)))
                return 1;
        if (!ratio)
            return 1;
        for (uint32_t i = 0; i < calls + 2; i++) {
            const void *x = in.x[i % NINPUTS];
            struct sample s[2];
            for (int k = 0; k < 2; k++) {
                const int m = (i & 1) ? 1 - k : k; /* alternating order */
                if (z_call(rt[m], 0, T, x, xb, true, &s[m], &err))
                    return fail("slot I/O call", &err);
            }
            if (i < 2)
                continue; /* warm-up */
            for (int m = 0; m < 2; m++) {
                over[m][zs[m].n] = s[m].total_ns > s[m].dev_ns ? s[m].total_ns - s[m].dev_ns : 0;
                series_add(&zs[m], &s[m]);
            }
        }
        /* ratios of the adjacent calls before the medians sort the series */
        const size_t n = zs[0].n;
        for (size_t i = 0; i < n; i++)
            ratio[i] = zs[0].v[1][i] ? (double)zs[1].v[1][i] / (double)zs[0].v[1][i] : 0;
        for (int m = 0; m < 2; m++) {
            printf("T=%u %-6s wall %7.1f us  kernels %7.1f us  wall - kernels %6.1f us\n", T,
                   names[m], series_median(&zs[m], 1), series_median(&zs[m], 2),
                   median_us(over[m], n));
            series_free(&zs[m]);
            free(over[m]);
        }
        printf("T=%u direct / copy wall time: %.3f (median of adjacent pairs)\n", T,
               median_d(ratio, n));
        free(ratio);
    }
    for (int m = 0; m < 2; m++)
        zmoe_destroy(rt[m]);
    inputs_free(&in);
    return 0;
}

static int bench_ek(struct bench_results *r, uint32_t calls)
{
    static const uint32_t ek[][2] = {{8, 2}, {16, 4}, {32, 4}, {64, 8}, {128, 8}};
    struct geo g = {.H = 512, .I = 256, .layers = 1, .max_tokens = 8, .wdt = ZMOE_DTYPE_BF16,
                    .adt = ZMOE_DTYPE_F32};
    snprintf(r->ek_geometry, sizeof r->ek_geometry,
             "H=%u I=%u, T=8, weights bf16, activations f32; E/top_k varied", g.H, g.I);
    r->nsweep_ek = 0;
    for (size_t i = 0; i < sizeof ek / sizeof ek[0]; i++) {
        g.E = ek[i][0];
        g.K = ek[i][1];
        progress("scaling: E=%u top_k=%u, %u calls per side", g.E, g.K, calls);
        struct zmoe_error err;
        struct zmoe_config cfg;
        struct zmoe_runtime *rt = NULL;
        struct naive nv;
        struct inputs in;
        if (!inputs_make(&in, &g))
            return 1;
        if (make_rt(&g, &rt, &cfg, &err))
            return fail("creating an E/K runtime", &err);
        if (naive_init(&nv, rt, &err))
            return fail("creating an E/K baseline", &err);
        if (measure_dispatch(rt, &nv, &g, &in, 8, calls, &r->sweep_ek[r->nsweep_ek++], &err))
            return fail("E/K sweep", &err);
        naive_fini(&nv);
        zmoe_destroy(rt);
        inputs_free(&in);
    }
    return 0;
}

/* ------------------------------------------------------------------ machine */

static void machine(struct bench_results *r, const char *commit)
{
    snprintf(r->cpu, sizeof r->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + (p[1] == ' ');
                p[strcspn(p, "\n")] = '\0';
                snprintf(r->cpu, sizeof r->cpu, "%s", p);
            }
            break;
        }
    }
    if (f)
        fclose(f);
    r->cores = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    f = fopen("/proc/meminfo", "r");
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    r->mem_gib = kb / 1048576.0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->date, sizeof r->date, "%Y-%m-%d %H:%M UTC", &tm);
    snprintf(r->commit, sizeof r->commit, "%s", commit ? commit : "unknown");
}

/* ------------------------------------------------------------------ smoke (TAP) */

static int tap_n, tap_fail;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond)
        tap_fail++;
}

static float to_f32(const void *p, size_t i, enum zmoe_dtype dt)
{
    float f;
    zmoe_dtype_convert(&f, ZMOE_DTYPE_F32, (const char *)p + i * zmoe_dtype_size(dt), dt, 1);
    return f;
}

static int run_smoke(const char *out_dir)
{
    quiet = true;
    if (out_dir)
        mkdir(out_dir, 0777); /* may exist */
    struct bench_results *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    machine(r, "smoke");
    struct geo g = {.H = 64, .I = 64, .E = 8, .K = 2, .layers = 1, .max_tokens = 8,
                    .wdt = ZMOE_DTYPE_F32, .adt = ZMOE_DTYPE_F32, .on_input = true};
    struct zmoe_error err = {{0}};
    struct zmoe_config cfg;
    struct zmoe_runtime *rt = NULL;
    struct naive nv;
    struct inputs in;
    bool made = inputs_make(&in, &g) && !make_rt(&g, &rt, &cfg, &err) && !naive_init(&nv, rt, &err);
    ok(made, "runtime and baseline on the same device (%s)", made ? "" : err.msg);
    if (!made) {
        printf("1..%d\n", tap_n);
        return 1;
    }
    /* The same call through both: the same numbers (f32: the out-of-place product is
     * the product zmoe forms in registers). */
    struct sample s;
    const uint32_t T = 8;
    const size_t xb = (size_t)T * g.H * 4;
    struct zmoe_slot slot;
    bool run = !zmoe_slot_acquire(rt, &slot, &err);
    if (run) {
        memcpy(slot.input_host, in.x[0], xb);
        run = !zmoe_submit(rt, &slot, 0, T, &err) && !zmoe_wait(rt, &slot, UINT64_MAX, &err) &&
              !n_call(&nv, 0, T, in.x[0], xb, true, &s, &err);
    }
    double diff = 0, mag = 0;
    for (size_t i = 0; run && i < (size_t)T * g.H; i++) {
        double a = to_f32(slot.output_host, i, g.adt), b = to_f32(nv.y_host, i, g.adt);
        diff = fmax(diff, fabs(a - b));
        mag = fmax(mag, fabs(a));
    }
    ok(run && mag > 0 && diff <= 1e-5 * mag, "baseline output equals zmoe's (max |diff| %.3g, "
       "max |y| %.3g)%s%s", diff, mag, run ? "" : ": ", run ? "" : err.msg);
    ok(nv.stage_ns[NAIVE_SCALE] > 0 && nv.stage_ns[NAIVE_UP] > 0,
       "baseline timestamps cover its extra kernels");

    start_tracing();
    struct bench_dispatch d;
    enum zmoe_status st = measure_dispatch(rt, &nv, &g, &in, T, 5, &d, &err);
    ok(!st, "dispatch measurement runs %s", st ? err.msg : "");
    ok(d.z_host_us > 0 && d.z_total_us >= d.z_host_us && d.n_total_us >= d.n_host_us &&
           d.z_dev_us > 0 && d.n_dev_us > 0,
       "medians are positive and ordered (zmoe %.1f/%.1f us, baseline %.1f/%.1f us)", d.z_host_us,
       d.z_total_us, d.n_host_us, d.n_total_us);
    if (layer_loaded) {
        /* with the tracing layer: Level Zero counts (its own mallocs hide zmoe's) */
        ok(tracing, "tracer created");
        ok(d.z_calls >= 2 && d.z_calls <= 3, "zmoe: %.1f Level Zero calls per call", d.z_calls);
        ok(d.z_allocs == 0 && d.z_creates == 0, "zmoe: no Level Zero allocation or object "
           "per call (%.1f, %.1f)", d.z_allocs, d.z_creates);
        ok(d.n_allocs >= 13 && d.n_creates >= 1 && d.n_calls > 50,
           "baseline: %.1f L0 allocations, %.1f creates, %.1f calls per call", d.n_allocs,
           d.n_creates, d.n_calls);
    } else if (!bench_mallocs_counted()) {
        printf("ok %d - # SKIP mallocs are not counted in a sanitizer build\n", ++tap_n);
    } else {
        ok(d.z_mallocs == 0, "zmoe: %.1f mallocs per call on the calling thread", d.z_mallocs);
        ok(d.n_mallocs > 0, "baseline: %.1f mallocs per call on the calling thread", d.n_mallocs);
        ok(d.n_mallocs_proc >= d.n_mallocs, "process-wide mallocs include the caller's");
    }
    r->disp[0] = d;
    r->disp[1] = d;
    r->sweep_t[0] = d;
    r->nsweep_t = 1;
    r->sweep_ek[0] = d;
    r->nsweep_ek = 1;
    r->onin[0].T = r->onin[1].T = T;
    bench_ze_stop();
    naive_fini(&nv);
    zmoe_destroy(rt);
    inputs_free(&in);

    int a = bench_arena(r);
    bool sane = a == 0 && r->narena >= 10;
    for (uint32_t i = 0; sane && i < r->narena; i++)
        sane = r->arena[i].lower > 0 && r->arena[i].plan >= r->arena[i].lower &&
               r->arena[i].separate >= r->arena[i].plan;
    ok(sane, "arena: %u example plans, each lower bound <= plan <= separate buffers", r->narena);

    int w = bench_write_report(r, out_dir ? out_dir : ".");
    char path[1024];
    snprintf(path, sizeof path, "%s/latest.md", out_dir ? out_dir : ".");
    FILE *f = fopen(path, "r");
    char buf[4096] = "";
    size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = '\0';
    if (f)
        fclose(f);
    ok(w == 0 && strstr(buf, "| figure | zmoe | baseline | ratio | target | met? |"),
       "report written with the summary table (%s)", path);
    snprintf(path, sizeof path, "%s/dispatch_vs_tokens.svg", out_dir ? out_dir : ".");
    f = fopen(path, "r");
    got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[got] = '\0';
    if (f)
        fclose(f);
    ok(strncmp(buf, "<svg", 4) == 0, "SVG chart written (%s)", path);
    printf("1..%d\n", tap_n);
    free(r);
    return tap_fail ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *out = NULL, *cgfile = NULL, *commit = NULL, *callsfile = NULL, *m1file = NULL;
    bool quick = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--callgrind") == 0 && i + 1 < argc)
            cgfile = argv[++i];
        else if (strcmp(argv[i], "--mallocs1") == 0 && i + 1 < argc)
            m1file = argv[++i];
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            callsfile = argv[++i];
        else if (strcmp(argv[i], "--commit") == 0 && i + 1 < argc)
            commit = argv[++i];
        else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc)
            examples_dir = argv[++i];
        else {
            fprintf(stderr, "zbench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(mode, "callgrind") == 0)
        return run_callgrind();
    if (strcmp(mode, "calls") == 0 || strcmp(mode, "smoke") == 0)
        bench_ze_prepare(); /* before the first zeInit; an explicit 0 is kept */
    const char *layer = getenv("ZE_ENABLE_TRACING_LAYER");
    layer_loaded = layer && strcmp(layer, "1") == 0;
    want_tracing = layer_loaded;
    if (strcmp(mode, "smoke") == 0)
        return run_smoke(out);
    struct bench_results *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    if (strcmp(mode, "calls") == 0) {
        if (!layer_loaded) {
            fprintf(stderr, "zbench calls: ZE_ENABLE_TRACING_LAYER is not 1\n");
            return 1;
        }
        if (bench_dispatch_all(r, 5, 5) || bench_ek(r, 5))
            return 1;
        if (!tracing)
            return 1;
        for (uint32_t i = 0; i < r->nsweep_t; i++)
            print_counts(stdout, "t", &r->sweep_t[i]);
        for (uint32_t i = 0; i < r->nsweep_ek; i++)
            print_counts(stdout, "ek", &r->sweep_ek[i]);
        bench_ze_stop();
        free(r);
        return 0;
    }
    if (strcmp(mode, "slotio") == 0) {
        free(r);
        return bench_slot_io(quick ? 20 : 300);
    }
    if (strcmp(mode, "mallocs") == 0) {
        /* malloc counts only (run by bench/run.sh with a single-driver loader) */
        if (layer_loaded) {
            fprintf(stderr, "zbench mallocs: unset ZE_ENABLE_TRACING_LAYER\n");
            return 1;
        }
        if (bench_dispatch_all(r, 10, 0))
            return 1;
        for (int i = 0; i < 2; i++)
            printf("m %u %.3f %.3f %.3f %.3f\n", r->disp[i].T, r->disp[i].z_mallocs,
                   r->disp[i].z_mallocs_proc, r->disp[i].n_mallocs, r->disp[i].n_mallocs_proc);
        free(r);
        return 0;
    }
    if (strcmp(mode, "dispatch") == 0) {
        /* the dispatch figures alone (T=1 and 8), for iterating on driver cost;
         * ZBENCH_CALLS samples per side (default 300) */
        if (layer_loaded) {
            fprintf(stderr, "zbench dispatch: unset ZE_ENABLE_TRACING_LAYER\n");
            return 1;
        }
        const char *nc = getenv("ZBENCH_CALLS");
        uint32_t calls = nc && atoi(nc) > 0 ? (uint32_t)atoi(nc) : 300;
        if (bench_dispatch_all(r, calls, 0))
            return 1;
        printf("T  z_wall  z_dev  z_wall-dev  z_host  n_wall  n_wall_timed  n_dev  n_host  z/n_wall  "
               "mallocs/call(z thread, z proc, n thread, n proc)\n");
        for (int i = 0; i < 2; i++) {
            const struct bench_dispatch *d = &r->disp[i];
            printf("%u  %.1f  %.1f  %.1f  %.1f  %.1f  %.1f  %.1f  %.1f  %.3f  %.1f %.1f %.1f %.1f\n", d->T,
                   d->z_total_us, d->z_dev_us, d->z_total_us - d->z_dev_us, d->z_host_us, d->n_total_us,
                   d->n_total_timed_us, d->n_dev_us, d->n_host_us, d->z_total_us / d->n_total_us, d->z_mallocs,
                   d->z_mallocs_proc, d->n_mallocs, d->n_mallocs_proc);
        }
        free(r);
        return 0;
    }
    if (strcmp(mode, "kernel-ab") == 0) {
        free(r);
        return kernel_ab(quick ? 5 : 20);
    }
    if (strcmp(mode, "quant") == 0) {
        free(r);
        return bench_quant(quick ? 3 : 15, quick ? (64ull << 20) : (256ull << 20), out ? out : ".");
    }
    if (strcmp(mode, "bw") == 0) {
        /* bandwidth only: for kernel work (e.g. ZMOE_GEMV_LANES=1 zbench bw) */
        if (bench_bandwidth(r, quick ? 3 : 15, quick ? (64ull << 20) : (256ull << 20)))
            return 1;
        for (uint32_t i = 0; i < r->nbw; i++)
            printf("%s: step %.0f us (experts %.0f us) %.2f GB/s, copy %.2f GB/s, ratio %.3f\n",
                   zmoe_dtype_name(r->bw[i].wdt), r->bw[i].step_us, r->bw[i].expert_us,
                   r->bw[i].step_gbs, r->bw[i].copy_gbs, r->bw[i].ratio);
        if (bench_lanes(r, quick ? 3 : 20, quick ? (64ull << 20) : (256ull << 20)))
            return 1;
        for (uint32_t i = 0; i < r->nlanes; i++)
            printf("%s lanes %u: step %.0f us, ratio to copy %.3f\n", zmoe_dtype_name(r->lanes[i].wdt),
                   r->lanes[i].lanes, r->lanes[i].step_us, r->lanes[i].ratio);
        free(r);
        return 0;
    }
    if (strcmp(mode, "all") != 0) {
        fprintf(stderr, "usage: zbench all|calls|mallocs|dispatch|slotio|callgrind|bw|quant|kernel-ab|smoke [--quick] [--out DIR] "
                        "[--calls FILE] [--mallocs1 FILE] [--callgrind FILE] [--commit ID] "
                        "[--examples DIR]\n");
        return 2;
    }
    if (layer_loaded)
        fprintf(stderr, "zbench: the tracing layer is loaded (ZE_ENABLE_TRACING_LAYER=1): malloc "
                        "counts are not reported; unset it and use --calls\n");
    const uint64_t t0 = bench_now_ns();
    machine(r, commit);
    progress("arena plans of every example config");
    if (bench_arena(r))
        return 1;
    if (bench_dispatch_all(r, quick ? 30 : 300, quick ? 10 : 60))
        return 1;
    if (bench_ek(r, quick ? 10 : 60))
        return 1;
    if (bench_onin(r, quick ? 10 : 150))
        return 1;
    if (bench_bandwidth(r, quick ? 3 : 40, quick ? (64ull << 20) : (256ull << 20)))
        return 1;
    if (bench_lanes(r, quick ? 3 : 20, quick ? (64ull << 20) : (256ull << 20)))
        return 1;
    if (cgfile && !read_callgrind(cgfile, r))
        fprintf(stderr, "zbench: no callgrind results in %s\n", cgfile);
    if (m1file && !read_mallocs1(m1file, r))
        fprintf(stderr, "zbench: no single-driver malloc counts in %s\n", m1file);
    if (callsfile && !read_counts(callsfile, r))
        fprintf(stderr, "zbench: no Level Zero call counts in %s\n", callsfile);
    bench_ze_stop();
    r->seconds = (bench_now_ns() - t0) / 1e9;
    int rc = bench_write_report(r, out ? out : ".");
    free(r);
    return rc;
}
