/* test_soak.c — long runs.
 *   test_soak submit   ring submissions (default 20,000 or 60 s, whichever first;
 *                      ZMOE_SOAK=1: 100,000 or 5 minutes): every output equals the
 *                      reference for its input (bitwise), the output for one fixed input
 *                      is identical at the start and at the end, RSS at the end is within
 *                      RSS_BOUND_KB of RSS at 10%, and after init: no heap allocation by
 *                      zmoe (malloc interposition), zmoe_stats says 0 host and device
 *                      allocations, no Level Zero object created (tracing layer).
 *   test_soak cycles   200 zmoe_create/load/forward/destroy cycles (ZMOE_SOAK=1: 1000):
 *                      after 20 warm-up cycles, RSS, open descriptors, live heap blocks
 *                      (all callers) and Level Zero objects do not grow.
 * Before either, a child process fills PoCL's kernel cache (see prime_kernel_cache). */
#include "rel.h"
#ifdef REL_MALLOC_HOOK
#include "rel_malloc.h"
#endif

#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#define H 64u
#ifdef __SANITIZE_ADDRESS__
#define RSS_BOUND_KB 2048 /* ASan's quarantine and shadow pages (seen: +568 KiB) */
#else
#define RSS_BOUND_KB 512 /* allowed RSS growth in the submit soak: allocator noise */
#endif
/* Cycles: every runtime starts a hostdev queue worker thread, and glibc gives threads
 * their own malloc arenas whose resident pages come and go (seen: +4 to +850 KiB over
 * 180 cycles with the live heap block count exactly flat, which is checked separately). */
#ifdef __SANITIZE_ADDRESS__
#define CYCLES_RSS_BOUND_KB 16384 /* ASan's allocator caches and shadow (seen: ~6.5 MiB) */
#else
#define CYCLES_RSS_BOUND_KB 4096 /* seen: +1792 KiB with a test suite on the same 2 cores */
#endif

static struct zmoe_config cfg;
static bool soak;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long page_kb(void)
{
    return sysconf(_SC_PAGESIZE) / 1024;
}

/* references: [layer][tokens-1], one input per token count */
static float in[8][8 * H], ref[2][8][8 * H];

/* A runtime of cfg with its synthetic weights loaded; on failure err says why. */
static enum zmoe_status create_loaded(struct zmoe_runtime **rt, struct zmoe_error *err)
{
    struct zmoe_create_info info = {.config = &cfg};
    enum zmoe_status st = zmoe_create(&info, rt, err);
    return st ? st : zmoe_load_weights(*rt, err);
}

static void submit_soak(void)
{
    const uint64_t target = soak ? 100000 : 20000;
    const double limit = soak ? 300.0 : 60.0;
    struct zmoe_error err = {{0}};
    struct zmoe_runtime *rt = NULL;
    enum zmoe_status st = create_loaded(&rt, &err);
    if (st)
        tap_bail("runtime: %s: %s", zmoe_status_str(st), err.msg);
    for (int t = 0; t < 8; t++)
        rel_inputs(in[t], (size_t)(t + 1) * H, 1000 + (uint64_t)t);
    for (uint32_t l = 0; l < 2; l++)
        for (uint32_t t = 1; t <= 8; t++)
            if ((st = rel_forward(rt, &cfg, l, in[t - 1], t, ref[l][t - 1], &err)))
                tap_bail("reference forward: %s", err.msg);
    float y_start[8 * H], y_end[8 * H];
    st = rel_forward(rt, &cfg, 1, in[7], 8, y_start, &err);
    TAP_OK(st == ZMOE_OK && !memcmp(y_start, ref[1][7], sizeof y_start),
           "start: output equals the first run's");

    uint64_t created0 = rel_trk_created_total(), calls0 = rel_trk.calls;
#ifdef REL_MALLOC_HOOK
    rel_malloc_window_open(REL_FAIL_NONE, 0);
#endif
    /* Keep both slots busy: acquire waits for the slot's previous run, whose output is
     * checked right then, before the slot is reused. */
    struct {
        uint32_t layer, tokens;
        bool pending;
    } job[2] = {{0}};
    uint64_t n = 0, bad = 0, errors = 0;
    long rss10 = -1;
    double t0 = now_s();
    while (n < target && now_s() - t0 < limit) {
        struct zmoe_slot s;
        if ((st = zmoe_slot_acquire(rt, &s, &err))) {
            errors++;
            break;
        }
        if (job[s.index].pending) {
            /* acquire returned, so the previous run of this slot finished */
            uint32_t l = job[s.index].layer, t = job[s.index].tokens;
            if (memcmp(s.output_host, ref[l][t - 1], (size_t)t * H * sizeof(float)))
                bad++;
        }
        uint32_t l = (uint32_t)(n % 2), t = (uint32_t)(n * 7 % 8) + 1;
        memcpy(s.input_host, in[t - 1], (size_t)t * H * sizeof(float));
        if ((st = zmoe_submit(rt, &s, l, t, &err))) {
            errors++;
            break;
        }
        job[s.index].layer = l;
        job[s.index].tokens = t;
        job[s.index].pending = true;
        n++;
        if (n == target / 10)
            rss10 = rel_rss_pages();
    }
    double secs = now_s() - t0;
    if (rss10 < 0)
        rss10 = rel_rss_pages(); /* time limit hit before 10% */
    /* drain: the last two submissions are checked through a final forward each */
    st = rel_forward(rt, &cfg, 1, in[7], 8, y_end, &err);
#ifdef REL_MALLOC_HOOK
    rel_malloc_window_close();
    struct rel_malloc_counts mc;
    rel_malloc_read(&mc);
#endif
    long rss_end = rel_rss_pages();
    uint64_t created = rel_trk_created_total() - created0, calls = rel_trk.calls - calls0;
    TAP_OK(errors == 0 && st == ZMOE_OK, "%llu submissions in %.1f s without an error (%s)",
           (unsigned long long)n, secs, err.msg);
    TAP_OK(n >= (soak ? 1000u : 1000u), "the soak ran (%llu submissions)", (unsigned long long)n);
    TAP_EQ_INT(bad, 0, "every checked output equals its reference (bitwise)");
    TAP_OK(!memcmp(y_start, y_end, sizeof y_end), "identical output for identical input at the "
                                                  "start and at the end (bitwise)");
    long growth_kb = (rss_end - rss10) * page_kb();
    TAP_OK(growth_kb <= RSS_BOUND_KB, "RSS flat: %ld KiB at 10%%, %ld KiB at the end (growth %ld "
                                      "KiB, bound %d KiB)",
           rss10 * page_kb(), rss_end * page_kb(), growth_kb, RSS_BOUND_KB);
    struct zmoe_stats stats;
    TAP_OK(zmoe_get_stats(rt, &stats) == ZMOE_OK && stats.host_allocations_after_init == 0 &&
               stats.device_allocations_after_init == 0,
           "zmoe_get_stats: 0 host and 0 device allocations after init");
    /* 16 reference forwards, the start and the end forward, and the soak */
    TAP_EQ_INT(stats.submits, n + 18, "zmoe_get_stats counts every submission");
    TAP_EQ_INT(created, 0, "no Level Zero object or allocation created after init (%llu Level "
                           "Zero calls, %.2f per submission)",
               (unsigned long long)calls, n ? (double)calls / (double)n : 0.0);
#ifdef REL_MALLOC_HOOK
    TAP_EQ_INT(mc.zmoe_calls, 0, "no heap allocation by zmoe's code after init (malloc "
                                 "interposition; other code on this thread: %llu, of which "
                                 "hostdev's own %llu, the rest loader/tracing layer/PoCL)",
               (unsigned long long)mc.thread_calls,
               (unsigned long long)(mc.project_calls - mc.zmoe_calls));
#endif
    zmoe_destroy(rt);
    char d[512];
    rel_trk_describe(d, sizeof d);
    TAP_OK(rel_trk_live_total() == 0, "destroy: every Level Zero object destroyed%s%s",
           d[0] ? ": " : "", d);
}

static void cycles(void)
{
    const int total = soak ? 1000 : 200, warm = 20;
    long rss_w = 0;
    int fd_w = 0, failures = 0, max_live = 0, fd_max = 0;
#ifdef REL_MALLOC_HOOK
    /* the lowest count at a cycle's end over the last warm-up cycles and over the last
     * `tail` cycles: PoCL frees some of a destroyed runtime's blocks late (with other
     * tests on the same cores, one cycle's end had +12,000 that the next had freed, and
     * CI once read that at the very end), while a leak raises every later count */
    const int tail = 50;
    int64_t heap_w = INT64_MAX, heap_tail = INT64_MAX, heap_max = 0;
#endif
    float y0[4 * H], y[4 * H], x[4 * H];
    rel_inputs(x, 4 * H, 77);
    for (int i = 0; i < total; i++) {
        struct zmoe_error err = {{0}};
        struct zmoe_runtime *rt = NULL;
        enum zmoe_status st = create_loaded(&rt, &err);
        if (!st)
            st = rel_forward(rt, &cfg, (uint32_t)i % 2, x, 4, y, &err);
        zmoe_destroy(rt);
        if (i == 1)
            memcpy(y0, y, sizeof y); /* layer 1 */
        if (st || (i % 2 == 1 && memcmp(y, y0, sizeof y))) {
            if (!failures++)
                tap_diag("cycle %d: %s: %s", i, zmoe_status_str(st), err.msg);
        }
        int live = (int)rel_trk_live_total();
        if (live > max_live)
            max_live = live;
#ifdef REL_MALLOC_HOOK
        const int64_t heap = rel_malloc_live_all();
        if (i >= warm / 2 && i < warm && heap < heap_w)
            heap_w = heap;
        if (i >= total - tail && heap < heap_tail)
            heap_tail = heap;
        if (i >= warm && heap - heap_w > heap_max)
            heap_max = heap - heap_w;
#endif
        if (i == warm - 1) {
            rss_w = rel_rss_pages();
            fd_w = rel_fd_count();
        } else if (i >= warm) {
            int fds = rel_fd_count();
            if (fds > fd_max)
                fd_max = fds;
        }
    }
    long rss_end = rel_rss_pages();
    int fd_end = rel_fd_count();
    TAP_EQ_INT(failures, 0, "%d create/load/forward/destroy cycles, same output each time", total);
    TAP_EQ_INT(max_live, 0, "no Level Zero object left after any cycle");
    TAP_OK(fd_max <= fd_w && fd_end == fd_w, "open descriptors: %d after warm-up, at most %d "
                                             "after, %d at the end",
           fd_w, fd_max, fd_end);
    long growth_kb = (rss_end - rss_w) * page_kb();
    TAP_OK(growth_kb <= CYCLES_RSS_BOUND_KB, "RSS: %ld KiB after warm-up, %ld KiB after %d "
                                             "cycles (growth %ld KiB, bound %d KiB)",
           rss_w * page_kb(), rss_end * page_kb(), total, growth_kb, CYCLES_RSS_BOUND_KB);
#ifdef REL_MALLOC_HOOK
    struct rel_malloc_counts mc;
    rel_malloc_read(&mc);
    const int64_t h_end = heap_tail - heap_w;
    TAP_OK(h_end <= 0 && mc.zmoe_live == 0,
           "live heap blocks (every caller): lowest of the last %d cycles %+lld against the "
           "warm-up's (highest after warm-up %+lld), zmoe's own: %llu",
           tail, (long long)h_end, (long long)heap_max, (unsigned long long)mc.zmoe_live);
#endif
}

/* On a cold cache PoCL compiles the kernels inside the process and keeps LLVM's heap
 * there (~800,000 live blocks, RSS 250 MiB against 120 MiB warm), whose allocator then
 * moves RSS by megabytes from cycle to cycle with the live block count flat (seen: +6 MiB
 * over 180 cycles, failing CI's first cold run). Both soaks measure zmoe's
 * steady state, so one cycle in a child process compiles and fills the cache first. */
static void prime_kernel_cache(const char *self)
{
    extern char **environ;
    char *argv[] = {(char *)self, "prime", NULL};
    pid_t pid;
    int status = -1;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    if (!rc && waitpid(pid, &status, 0) != pid)
        status = -1;
    TAP_OK(!rc && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "a child process filled the kernel cache (spawn %d, status %#x)", rc, status);
}

/* The child: one create/load/forward/destroy of both layers, exit status 0 if it worked. */
static int prime(void)
{
    float x[4 * H], y[4 * H];
    rel_inputs(x, 4 * H, 77);
    struct zmoe_error err = {{0}};
    struct zmoe_runtime *rt = NULL;
    enum zmoe_status st = create_loaded(&rt, &err);
    for (uint32_t layer = 0; layer < 2 && !st; layer++)
        st = rel_forward(rt, &cfg, layer, x, 4, y, &err);
    zmoe_destroy(rt);
    if (st)
        fprintf(stderr, "prime: %s: %s\n", zmoe_status_str(st), err.msg);
    return st ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "prime")) {
        cfg = rel_config();
        return prime();
    }
    prime_kernel_cache(argv[0]);
    const char *e = getenv("ZMOE_SOAK");
    soak = e && !strcmp(e, "1");
    rel_trk_start();
#ifdef REL_MALLOC_HOOK
    if (rel_malloc_add_library("libze_hostdev.so") < 1)
        tap_bail("libze_hostdev.so is not loaded");
#endif
    cfg = rel_config();
    if (argc > 1 && !strcmp(argv[1], "cycles"))
        cycles();
    else
        submit_soak();
    return tap_exit();
}
