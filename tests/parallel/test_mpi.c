/* Expert parallelism over MPI ranks on localhost (hostdev, one device per rank), started
 * by the test command with mpiexec -n N (oversubscribed on small machines):
 *   test_mpi EXAMPLES_DIR   every *-mini.conf on N ranks against the one-device runtime
 *                           (on rank 0) for T in {1, 5, max_tokens}, first and last layer:
 *                           routing on every rank identical, y on every rank identical
 *                           to rank 0's and within the dtype tolerance of one device;
 *                           0 mallocs in acquire/submit/wait on every rank; ring
 *                           back-pressure across ranks (a rank running ahead blocks in
 *                           acquire until rank 0 catches up)
 *   test_mpi kill DIR       rank N-1 stops answering (SIGSTOP, then SIGKILL at the end)
 *                           after 3 layer calls: every other rank's next call returns an
 *                           error within the wait bound and destroy returns; the survivors
 *                           report through files in DIR
 * Only rank 0 prints TAP; the others' results reach it with MPI (or files, for kill). */
#include "rt_util.h"
#include "rt_count.h"

#include "config/config.h"
#include "zmoe_parallel.h"

#include <dirent.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* rt_count.h's Level Zero counters are for tests/runtime; this test counts mallocs */
static void unused_counters(void) __attribute__((unused));
static void unused_counters(void)
{
    (void)rt_tracer_start();
    (void)rt_ze_total();
}

static int rank, size;
static int failures; /* this rank's failed checks (ranks > 0 report them to rank 0) */

/* A check on any rank: rank 0 prints it, the others count their failures. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool c_ = (cond);                                                                          \
        if (rank == 0)                                                                             \
            TAP_OK(c_, __VA_ARGS__);                                                               \
        else if (!c_) {                                                                            \
            failures++;                                                                            \
            fprintf(stderr, "rank %d: failed: ", rank);                                            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct zmoe_parallel *par_create(const struct zmoe_config *c, const char *what)
{
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = c};
    struct zmoe_parallel *p = NULL;
    enum zmoe_status st = zmoe_parallel_create(&info, &p, &err);
    if (!st)
        st = zmoe_parallel_load_weights(p, &err);
    if (st) {
        fprintf(stderr, "rank %d: %s: %s: %s\n", rank, what, zmoe_status_str(st), err.msg);
        zmoe_parallel_destroy(p);
        return NULL;
    }
    return p;
}

/* One layer call through the parallel ring; y (f32) and the routing copied out. */
static enum zmoe_status par_forward(struct zmoe_parallel *p, const struct zmoe_config *c, uint32_t l,
                                    const float *x, uint32_t T, float *y, uint32_t *ids, float *w,
                                    struct zmoe_error *err)
{
    struct zmoe_slot slot;
    enum zmoe_status st = RT_IN(zmoe_parallel_slot_acquire(p, &slot, err));
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32, (size_t)T * c->model.hidden);
        st = RT_IN(zmoe_parallel_submit(p, &slot, l, T, err));
    }
    if (!st)
        st = RT_IN(zmoe_parallel_wait(p, &slot, UINT64_MAX, err));
    if (!st && y) {
        zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, c->dtype.activations, (size_t)T * c->model.hidden);
        memcpy(ids, slot.topk_ids_host, (size_t)T * c->model.top_k * sizeof *ids);
        memcpy(w, slot.topk_weights_host, (size_t)T * c->model.top_k * sizeof *w);
    }
    return st;
}

static void check_config(const char *name, const struct zmoe_config *base)
{
    struct zmoe_config cn = *base;
    cn.parallel.ranks = (uint32_t)size;
    struct zmoe_runtime *rt = rank == 0 ? rt_create(base, name) : NULL;
    struct zmoe_parallel *p = par_create(&cn, name);
    int ok = p && (rank != 0 || rt), all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(all_ok, "%s on %d ranks: created on every rank", name, size);
    if (!all_ok) {
        zmoe_destroy(rt);
        zmoe_parallel_destroy(p);
        return;
    }
    CHECK(zmoe_parallel_rank(p) == (uint32_t)rank && zmoe_parallel_devices(p) == 1,
          "%s: participant = MPI rank, one device per rank", name);
    const uint32_t H = base->model.hidden, K = base->model.top_k, M = base->runtime.max_tokens;
    const uint32_t layers[2] = {0, base->model.layers - 1};
    const uint32_t Ts[3] = {1, 5 < M ? 5 : M, M};
    float *y = malloc((size_t)M * H * sizeof *y), *y0 = malloc((size_t)M * H * sizeof *y0);
    float *w = malloc((size_t)M * K * sizeof *w);
    uint32_t *ids = malloc((size_t)M * K * sizeof *ids);
    float *y1 = malloc((size_t)M * H * sizeof *y1), *w1 = malloc((size_t)M * K * sizeof *w1);
    uint32_t *ids1 = malloc((size_t)M * K * sizeof *ids1);
    if (!y || !y0 || !w || !ids || !y1 || !w1 || !ids1)
        tap_bail("out of memory");
    double worst = 0, tol = rt_tolerance(base);
    int ran = 1, same_y = 1, same_routing = 1;
    for (int li = 0; li < 2; li++)
        for (int ti = 0; ti < 3; ti++) {
            const uint32_t T = Ts[ti], l = layers[li];
            float *x = rt_inputs(base, T, 2000 + 10 * l + T); /* the same x on every rank */
            struct zmoe_error err = {{0}};
            enum zmoe_status st = par_forward(p, &cn, l, x, T, y, ids, w, &err);
            if (st) {
                fprintf(stderr, "rank %d: %s layer %u T %u: %s: %s\n", rank, name, l, T, zmoe_status_str(st),
                        err.msg);
                ran = 0;
            }
            /* rank 0's y and routing to everyone: each rank compares its own */
            memcpy(y0, y, (size_t)T * H * sizeof *y);
            MPI_Bcast(y0, (int)(T * H), MPI_FLOAT, 0, MPI_COMM_WORLD);
            if (memcmp(y0, y, (size_t)T * H * sizeof *y))
                same_y = 0;
            if (rank == 0) {
                struct zmoe_slot s;
                struct zmoe_error e2 = {{0}};
                enum zmoe_status s2 = zmoe_slot_acquire(rt, &s, &e2);
                if (!s2) {
                    zmoe_dtype_convert(s.input_host, base->dtype.activations, x, ZMOE_DTYPE_F32, (size_t)T * H);
                    s2 = zmoe_submit(rt, &s, l, T, &e2);
                }
                if (!s2)
                    s2 = zmoe_wait(rt, &s, UINT64_MAX, &e2);
                if (s2) {
                    tap_diag("one device: %s", e2.msg);
                    ran = 0;
                } else {
                    zmoe_dtype_convert(y1, ZMOE_DTYPE_F32, s.output_host, base->dtype.activations, (size_t)T * H);
                    memcpy(ids1, s.topk_ids_host, (size_t)T * K * sizeof *ids1);
                    memcpy(w1, s.topk_weights_host, (size_t)T * K * sizeof *w1);
                    double rel = rt_rel_error(y, y1, (size_t)T * H, NULL);
                    if (rel > worst || isnan(rel))
                        worst = isnan(rel) ? INFINITY : rel;
                }
            }
            MPI_Bcast(ids1, (int)(T * K), MPI_UNSIGNED, 0, MPI_COMM_WORLD);
            MPI_Bcast(w1, (int)(T * K), MPI_FLOAT, 0, MPI_COMM_WORLD);
            if (memcmp(ids1, ids, (size_t)T * K * sizeof *ids) || memcmp(w1, w, (size_t)T * K * sizeof *w))
                same_routing = 0;
            free(x);
        }
    int v[3] = {ran, same_y, same_routing}, all[3];
    MPI_Allreduce(v, all, 3, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(all[0], "%s: every (layer, T) ran on every rank", name);
    CHECK(all[1], "%s: y on every rank is rank 0's", name);
    CHECK(all[2], "%s: routing (ids, weights) on every rank identical to one device", name);
    CHECK(worst <= tol, "%s: y within %.0e of one device (worst %.3g)", name, tol, worst);

    /* the run path on every rank: no malloc on this thread (MPI_Start/MPI_Test on
     * persistent requests, Level Zero executes and fence waits) */
    float *x = rt_inputs(base, M, 9);
    rt_counts_reset();
    int cycles_ok = 1;
    for (int i = 0; i < 30 && cycles_ok; i++) {
        struct zmoe_error err = {{0}};
        cycles_ok = par_forward(p, &cn, (uint32_t)i % base->model.layers, x, 1 + (uint32_t)i % M, NULL, NULL,
                                NULL, &err) == ZMOE_OK;
    }
    long long mine[2] = {cycles_ok ? 0 : 1, (long long)rt_mallocs}, sum[2];
    MPI_Allreduce(mine, sum, 2, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum[0] == 0, "%s: 30 more layer calls on every rank", name);
    CHECK(sum[1] == 0, "%s: 0 mallocs in acquire/submit/wait on all ranks (%lld)", name, sum[1]);
    struct zmoe_stats stats;
    CHECK(zmoe_parallel_get_stats(p, 0, &stats) == ZMOE_OK && stats.host_allocations_after_init == 0,
          "%s: 0 host allocations after init (rank %d)", name, rank);
    free(x);
    free(y);
    free(y0);
    free(w);
    free(ids);
    free(y1);
    free(w1);
    free(ids1);
    zmoe_destroy(rt);
    zmoe_parallel_destroy(p);
}

/* Rank 0 starts late; the others submit a full ring ahead, and their next acquire must
 * wait (the slot's y comes from rank 0) rather than overwrite a slot in flight. */
static void back_pressure(void)
{
    struct zmoe_config c = rt_base_config();
    c.parallel.ranks = (uint32_t)size;
    c.runtime.ring_depth = 2;
    c.runtime.wait_timeout_ms = 20000;
    struct zmoe_parallel *p = par_create(&c, "back-pressure");
    int ok = p != NULL, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(all, "back-pressure: created");
    if (!all) {
        zmoe_parallel_destroy(p);
        return;
    }
    float *x = rt_inputs(&c, 4, 1);
    struct zmoe_error err = {{0}};
    struct zmoe_slot s[3];
    enum zmoe_status st = ZMOE_OK;
    double blocked = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        sleep(1);
        for (int i = 0; i < 3 && !st; i++)
            st = par_forward(p, &c, 0, x, 4, NULL, NULL, NULL, &err);
    } else {
        for (int i = 0; i < 2 && !st; i++) {
            st = zmoe_parallel_slot_acquire(p, &s[i], &err);
            if (!st) {
                zmoe_dtype_convert(s[i].input_host, c.dtype.activations, x, ZMOE_DTYPE_F32, 4 * c.model.hidden);
                st = zmoe_parallel_submit(p, &s[i], 0, 4, &err);
            }
        }
        const double t0 = seconds();
        if (!st)
            st = zmoe_parallel_slot_acquire(p, &s[2], &err); /* slot 0 again: waits for rank 0 */
        blocked = seconds() - t0;
        if (!st) {
            zmoe_dtype_convert(s[2].input_host, c.dtype.activations, x, ZMOE_DTYPE_F32, 4 * c.model.hidden);
            st = zmoe_parallel_submit(p, &s[2], 0, 4, &err);
        }
        if (!st)
            st = zmoe_parallel_wait(p, &s[1], UINT64_MAX, &err);
        if (!st)
            st = zmoe_parallel_wait(p, &s[2], UINT64_MAX, &err);
    }
    if (st)
        fprintf(stderr, "rank %d: back-pressure: %s: %s\n", rank, zmoe_status_str(st), err.msg);
    int v = st == ZMOE_OK, vs = 0;
    MPI_Allreduce(&v, &vs, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(vs, "back-pressure: every call succeeded on every rank");
    double least = 0;
    {
        double mineb = rank == 0 ? 1e9 : blocked; /* rank 0 does not block: the others' */
        MPI_Allreduce(&mineb, &least, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    }
    CHECK(least >= 0.5, "back-pressure: a rank a full ring ahead waited %.2f s in acquire for rank 0", least);
    free(x);
    zmoe_parallel_destroy(p);
}

static void examples(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        tap_bail("cannot open %s", dir);
    char *names[32];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < 32) {
        size_t len = strlen(de->d_name);
        if (len > 10 && strcmp(de->d_name + len - 10, "-mini.conf") == 0)
            names[count++] = strdup(de->d_name);
    }
    closedir(d);
    /* the same order on every rank */
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    CHECK(count >= 7, "%d mini examples", count);
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct zmoe_config c;
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_load(path, &c, &err);
        CHECK(st == ZMOE_OK, "%s loads %s", names[i], err.msg);
        if (!st) {
            c.runtime.device = ZMOE_DEVICE_HOST;
            c.runtime.wait_timeout_ms = 60000; /* first launches compile (PoCL): not the subject here */
            check_config(names[i], &c);
        }
        free(names[i]);
    }
    back_pressure();
}

/* No collectives once a rank is gone: the survivors report through files. */
static void kill_test(const char *dir)
{
    struct zmoe_config c = rt_base_config();
    c.parallel.ranks = (uint32_t)size;
    c.runtime.wait_timeout_ms = 3000;
    struct zmoe_parallel *p = par_create(&c, "kill");
    int ok = p != NULL, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(all, "kill: created on every rank");
    if (!all)
        return;
    float *x = rt_inputs(&c, 4, 1);
    struct zmoe_error err = {{0}};
    enum zmoe_status st = ZMOE_OK;
    for (int i = 0; i < 3 && !st; i++)
        st = par_forward(p, &c, 0, x, 4, NULL, NULL, NULL, &err);
    CHECK(st == ZMOE_OK, "kill: 3 layer calls before the kill: %s", err.msg);
    /* the last rank stops answering mid-run. It is stopped (SIGSTOP) rather than killed:
     * MPICH's mpiexec (hydra 4.0) kills the whole job a second or two after any rank dies
     * of a signal, even with -disable-auto-cleanup, so a killed rank could not be watched
     * from the survivors; to them a stopped rank is the same silence. Rank 0 kills it once
     * every survivor has reported. */
    int pids[64] = {0}, me = (int)getpid();
    MPI_Gather(&me, 1, MPI_INT, pids, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == size - 1)
        raise(SIGSTOP);
    const double t0 = seconds();
    st = par_forward(p, &c, 0, x, 4, NULL, NULL, NULL, &err);
    const double took = seconds() - t0;
    const double t1 = seconds();
    zmoe_parallel_destroy(p);
    const double destroy_s = seconds() - t1;
    free(x);
    if (rank != 0) {
        char path[1024], tmp[1100];
        snprintf(path, sizeof path, "%s/rank%d", dir, rank);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d %.3f %.3f %s\n", (int)st, took, destroy_s, err.msg);
            fclose(f);
            rename(tmp, path);
        }
        fflush(stderr);
        /* MPI_Finalize would wait for the dead rank, and mpiexec ends the job when a rank
         * leaves without it: stay until rank 0 has read the report and ended the job */
        sleep(30);
        _exit(0);
    }
    TAP_OK(st != ZMOE_OK, "kill: rank 0's next call fails: %s: %s", zmoe_status_str(st), err.msg);
    TAP_OK(took < 3.0 + 1.5, "kill: within the wait bound (%.2f s, bound 3 s)", took);
    TAP_OK(destroy_s < 12.0, "kill: destroy returned (%.2f s)", destroy_s);
    for (int r = 1; r < size - 1; r++) {
        char path[1024], line[2048] = "";
        snprintf(path, sizeof path, "%s/rank%d", dir, r);
        FILE *f = NULL;
        for (int i = 0; i < 200 && !(f = fopen(path, "r")); i++)
            usleep(50000);
        int rst = 0;
        double rtook = 99, rdestroy = 99;
        bool got = f && fgets(line, sizeof line, f) && sscanf(line, "%d %lf %lf", &rst, &rtook, &rdestroy) == 3;
        if (f)
            fclose(f);
        line[strcspn(line, "\n")] = '\0';
        TAP_OK(got && rst != ZMOE_OK && rtook < 3.0 + 1.5 && rdestroy < 12.0,
               "kill: rank %d fails within the bound and destroys (%s)", r, got ? line : "no report");
    }
    const int rc = tap_exit();
    fflush(stdout); /* _exit does not flush stdio */
    if (size <= 64 && pids[size - 1] > 0)
        kill(pids[size - 1], SIGKILL);
    _exit(rc);
}

int main(int argc, char **argv)
{
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* a dead rank must not abort the survivors through the world communicator either */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (argc < 2)
        tap_bail("usage: test_mpi EXAMPLES_DIR | kill DIR");
    if (rank != 0) /* only rank 0 speaks TAP */
        if (!freopen("/dev/null", "w", stdout))
            return 1;
    setvbuf(stdout, NULL, _IOLBF, 0); /* a pipe to mpiexec: every TAP line as it comes */
    if (size < 2)
        tap_bail("run under mpiexec -n N with N >= 2 (size %d)", size);
    if (strcmp(argv[1], "kill") == 0) {
        kill_test(argc > 2 ? argv[2] : ".");
    } else {
        examples(argv[1]);
    }
    int fails = failures, total = 0;
    MPI_Reduce(&fails, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    CHECK(total == 0, "no failed check on ranks 1..%d (%d)", size - 1, total);
    MPI_Finalize();
    return rank == 0 ? tap_exit() : 0;
}
