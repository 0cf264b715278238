/* zmoe run on several devices or MPI ranks (the config's [parallel], or --devices N):
 * the same decode loop as run.c with one token stream through zmoe_parallel_*
 * (include/zmoe_parallel.h), layer by layer (h += y, next input = rmsnorm(h)), per-layer
 * call latency, what each device holds, allocations after init, and --check of the
 * warm-up step against the reference MoE. Under mpiexec (parallel.ranks = N) every rank
 * runs the loop with the same inputs; rank 0 prints. */
#include "cli/check.h"
#include "cli/cli.h"
#include "weights/weights.h"
#include "zmoe_parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef ZMOE_HAVE_MPI
#include <mpi.h>
#endif

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* rmsnorm of h into x (f32): the decoder's input to the next layer */
static void rmsnorm(const float *h, float *x, size_t rows, size_t H)
{
    for (size_t t = 0; t < rows; t++) {
        double ss = 0;
        for (size_t i = 0; i < H; i++)
            ss += (double)h[t * H + i] * h[t * H + i];
        const float s = (float)(1.0 / sqrt(ss / (double)H + 1e-6));
        for (size_t i = 0; i < H; i++)
            x[t * H + i] = h[t * H + i] * s;
    }
}

int cli_run_parallel(const char *cmd, const char *label, const struct zmoe_config *cfg, uint32_t steps,
                     uint32_t tokens, bool check)
{
    int rank = 0, rc = CLI_EXIT_OK;
#ifdef ZMOE_HAVE_MPI
    bool mpi = cfg->parallel.ranks > 1, we_init = false;
    if (mpi) {
        int flag = 0, provided = 0;
        MPI_Initialized(&flag);
        if (!flag) {
            MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
            we_init = true;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    }
#else
    if (cfg->parallel.ranks > 1) {
        cli_error(cmd, "%s: parallel.ranks = %u, but this build has no MPI (meson option mpi)", label,
                  cfg->parallel.ranks);
        return CLI_EXIT_USAGE;
    }
#endif
    FILE *out = rank == 0 ? stdout : NULL;
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = cfg};
    struct zmoe_parallel *p = NULL;
    const uint32_t H = cfg->model.hidden, L = cfg->model.layers, T = tokens;
    const size_t n = (size_t)T * H;
    float *h = calloc(n, sizeof *h), *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y);
    float *cx = check ? calloc(n * L, sizeof *cx) : NULL, *cy = check ? calloc(n * L, sizeof *cy) : NULL;
    uint64_t *lat = calloc((size_t)steps * L, sizeof *lat);
    if (!h || !x || !y || !lat || (check && (!cx || !cy))) {
        cli_error(cmd, "out of memory for %u steps", steps);
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    enum zmoe_status st = zmoe_parallel_create(&info, &p, &err);
    if (!st)
        st = zmoe_parallel_load_weights(p, &err);
    if (st) {
        cli_error(cmd, "%s: %s: %s", label, zmoe_status_str(st), err.msg);
        rc = cli_exit_for(st);
        goto done;
    }
    const uint32_t parts = zmoe_parallel_participants(cfg), devs = zmoe_parallel_devices(p);
    if (out) {
        fprintf(out, "zmoe run: %s\nexpert parallel: %u %s", label, parts,
                cfg->parallel.ranks > 1 ? "MPI ranks (one device each)" : "devices");
        fprintf(out, "%s\n", cfg->parallel.expert_map_set ? ", configured expert map" : ", contiguous experts");
        for (uint32_t d = 0; d < devs; d++) {
            struct zmoe_stats s;
            zmoe_parallel_get_stats(p, d, &s);
            char a[32], b[32];
            fprintf(out, "  device %u: %s, arena %s device + %s host%s\n", d, s.device_name,
                    cli_human_bytes(s.device_bytes, a, sizeof a), cli_human_bytes(s.host_bytes, b, sizeof b),
                    d == 0 ? "" : zmoe_parallel_peer(p, d) ? ", partial by peer copy" : ", partial through host memory");
        }
    }
    /* the same start on every rank: h = a fixed ramp */
    for (size_t i = 0; i < n; i++)
        h[i] = (float)sin(0.37 * (double)i) * 0.5f;
    for (uint32_t step = 0; step <= steps && !st; step++)
        for (uint32_t l = 0; l < L && !st; l++) {
            rmsnorm(h, x, T, H);
            struct zmoe_slot slot;
            const uint64_t t0 = now_ns();
            st = zmoe_parallel_slot_acquire(p, &slot, &err);
            if (!st) {
                zmoe_dtype_convert(slot.input_host, cfg->dtype.activations, x, ZMOE_DTYPE_F32, n);
                st = zmoe_parallel_submit(p, &slot, l, T, &err);
            }
            if (!st)
                st = zmoe_parallel_wait(p, &slot, UINT64_MAX, &err);
            if (st)
                break;
            if (step > 0)
                lat[(size_t)(step - 1) * L + l] = now_ns() - t0;
            zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, cfg->dtype.activations, n);
            if (step == 0 && check) {
                /* what the device saw: x rounded to the activation dtype */
                zmoe_dtype_convert(cx + (size_t)l * n, ZMOE_DTYPE_F32, slot.input_host, cfg->dtype.activations, n);
                memcpy(cy + (size_t)l * n, y, n * sizeof *y);
            }
            for (size_t i = 0; i < n; i++)
                h[i] += y[i];
        }
    if (st) {
        cli_error(cmd, "%s: %s: %s", label, zmoe_status_str(st), err.msg);
        rc = cli_exit_for(st);
        goto done;
    }
    const size_t ns = (size_t)steps * L;
    qsort(lat, ns, sizeof *lat, cmp_u64);
    uint64_t allocs = 0;
    for (uint32_t d = 0; d < devs; d++) {
        struct zmoe_stats s;
        zmoe_parallel_get_stats(p, d, &s);
        allocs += s.host_allocations_after_init + s.device_allocations_after_init;
    }
    if (out) {
        fprintf(out, "decode: %u steps x %u layers, T = %u (one warm-up step left out)\n", steps, L, T);
        fprintf(out, "latency per layer call (host, acquire..wait): p50 %.1f us, p99 %.1f us\n",
                (double)lat[ns / 2] / 1e3, (double)lat[ns * 99 / 100] / 1e3);
        fprintf(out, "after init: %llu allocations on %u device%s\n", (unsigned long long)allocs, devs,
                devs == 1 ? "" : "s");
    }
    if (allocs) {
        cli_error(cmd, "the runtime allocated after init (%llu): a bug", (unsigned long long)allocs);
        rc = CLI_EXIT_RUNTIME;
    }
    if (check && rank == 0) {
        struct cli_check_result c;
        if (cli_check_layers(cfg, L, T, cx, cy, &c)) {
            cli_error(cmd, "--check: %s", c.why);
            rc = CLI_EXIT_RUNTIME;
        } else {
            const bool pass = c.max_rel <= c.tolerance;
            printf("check (step 0, layers 0..%u against the reference MoE): max rel error %.3g "
                   "(layer %u), tolerance %.1g: %s\n",
                   c.layers_checked - 1, c.max_rel, c.worst_layer, c.tolerance, pass ? "PASS" : "FAIL");
            if (!pass)
                rc = CLI_EXIT_RUNTIME;
        }
    }
done:
    zmoe_parallel_destroy(p);
    free(h);
    free(x);
    free(y);
    free(cx);
    free(cy);
    free(lat);
#ifdef ZMOE_HAVE_MPI
    if (mpi && we_init)
        MPI_Finalize();
#endif
    return rc;
}
