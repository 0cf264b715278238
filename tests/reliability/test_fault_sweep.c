/* test_fault_sweep.c — SQLite test_malloc-style fault sweeps over zmoe's init and one
 * forward, on hostdev through the real loader with the tracing layer.
 *
 * A run is: zmoe_create + zmoe_load_weights + one forward (layer 1, 3 tokens) +
 * zmoe_destroy, on a 2-layer mini config. For k = 1, 2, 3, ... a run is made with one
 * fault armed at the k-th point, until a run completes with no fault fired. Each run
 * must end in success with output bitwise equal to the unfaulted run, or in a clean
 * error: a non-OK status whose message names the failed call; after zmoe_destroy every
 * Level Zero object and allocation created in the run is destroyed/freed (the tracing
 * layer sees every create/destroy), and zmoe's own heap blocks are all freed (malloc
 * interposition, when built without ASan).
 *
 *   test_fault_sweep star [ERROR]       HOSTDEV_FAIL=*:k[:ERROR] (every Level Zero call)
 *   test_fault_sweep star-ctx [ERROR]   the same with a caller-provided context and device
 *                                       (hostdev restarts its counters at each context, so
 *                                       in "star" a fault k <= the few calls zmoe makes
 *                                       before its own context fires there, and the first
 *                                       calls after it are only reached this way)
 *   test_fault_sweep entry NAME...      HOSTDEV_FAIL=NAME:k for each named entry point
 *   test_fault_sweep malloc-zmoe        fail zmoe's k-th heap allocation
 *   test_fault_sweep malloc-project [MAX]  fail the k-th heap allocation made by zmoe or
 *                                       by hostdev (libze_hostdev.so) on the calling
 *                                       thread inside zmoe_create; MAX bounds k (0: all;
 *                                       ZMOE_MALLOC_SWEEP_ALL=1 forces all). Failing any
 *                                       caller's allocation is not possible: the loader
 *                                       and its tracing layer are C++ and abort on
 *                                       std::bad_alloc (seen: __cxa_throw from
 *                                       libze_tracing_layer.so in zeDriverGet).
 *   test_fault_sweep context            the zeContextCreate of zmoe_create fails
 * A fault that hits a destroy call (teardown cannot report it) may leave exactly the
 * object whose destroy failed; that one is allowed and counted. */
#include "rel.h"
#ifdef REL_MALLOC_HOOK
#include "rel_malloc.h"
#endif

#include <errno.h>

#define TOKENS 3u
#define LAYER 1u

static struct zmoe_config cfg;
static float x[TOKENS * 64], y_base[TOKENS * 64];
static uint64_t base_calls;
static struct {
    uint64_t runs, fired, errors, absorbed, allowed_destroy_leaks;
} fig;

struct outcome {
    enum zmoe_status st;
    const char *where; /* which API call failed */
    struct zmoe_error err;
    bool fired;
    char entry[64], error[64]; /* from hostdev's fault log */
    bool same_output;
    uint64_t live; /* Level Zero objects left */
    char live_desc[512];
    uint64_t failed_destroys;
    uint64_t zmoe_heap_live, zmoe_allocs, thread_allocs, project_allocs;
    bool malloc_fired;
};

static ze_driver_handle_t driver;
static ze_device_handle_t device;
static bool caller_context; /* zmoe_create gets our context and device (star-ctx) */

/* One run. `fail` (may be NULL) goes to HOSTDEV_FAIL; malloc_scope/k arm the hook. */
static bool is_destroy(const char *entry);

static void run(const char *fail, int malloc_scope, uint64_t malloc_k, bool full, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    if (fail)
        setenv("HOSTDEV_FAIL", fail, 1);
    else
        unsetenv("HOSTDEV_FAIL");
    setenv("HOSTDEV_FAULT_LOG", "1", 1);
    /* A context of our own restarts hostdev's counters under the new spec, so the calls
     * zmoe makes before its own context are counted from here. */
    ze_context_handle_t prime = NULL;
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    if (zeContextCreate(driver, &cd, &prime) != ZE_RESULT_SUCCESS)
        tap_bail("priming zeContextCreate failed");
    rel_trk_reset();
    fig.runs++;

    rel_stderr_begin();
#ifdef REL_MALLOC_HOOK
    rel_malloc_window_open((enum rel_fail_scope)malloc_scope, malloc_k);
#else
    (void)malloc_scope, (void)malloc_k;
#endif
    struct zmoe_create_info info = {.config = &cfg};
    if (caller_context) {
        info.context = prime;
        info.device = device;
    }
    struct zmoe_runtime *rt = NULL;
    float y[TOKENS * 64];
    o->where = "zmoe_create";
    o->st = zmoe_create(&info, &rt, &o->err);
#ifdef REL_MALLOC_HOOK
    if (malloc_scope == REL_FAIL_PROJECT)
        rel_malloc_window_close(); /* any-caller faults: inside zmoe_create only */
#endif
    if (!o->st && full) {
        o->where = "zmoe_load_weights";
        o->st = zmoe_load_weights(rt, &o->err);
    }
    if (!o->st && full) {
        o->where = "forward";
        o->st = rel_forward(rt, &cfg, LAYER, x, TOKENS, y, &o->err);
        if (!o->st)
            o->same_output = memcmp(y, y_base, sizeof y) == 0;
    }
    zmoe_destroy(rt);
#ifdef REL_MALLOC_HOOK
    rel_malloc_window_close();
    struct rel_malloc_counts mc;
    rel_malloc_read(&mc);
    o->zmoe_heap_live = mc.zmoe_live;
    o->zmoe_allocs = mc.zmoe_calls;
    o->thread_allocs = mc.thread_calls;
    o->project_allocs = mc.project_calls;
    o->malloc_fired = mc.fired;
#endif
    char log[4096];
    rel_stderr_end(log, sizeof log);
    const char *f = strstr(log, "hostdev: fault injected: ");
    if (f) {
        unsigned long long n;
        o->fired = sscanf(f, "hostdev: fault injected: %63s call %llu -> %63s", o->entry, &n,
                          o->error) == 3;
    }
    o->live = rel_trk_live_total();
    o->failed_destroys = rel_trk.failed_destroys;
    rel_trk_describe(o->live_desc, sizeof o->live_desc);
    if (o->fired && is_destroy(o->entry))
        rel_trk_keep_leftovers();
    /* The priming context goes last; retry when the armed fault lands on it. */
    for (int i = 0; i < 3 && zeContextDestroy(prime) != ZE_RESULT_SUCCESS; i++)
        ;
    unsetenv("HOSTDEV_FAIL");
    if (o->fired || o->malloc_fired)
        fig.fired++;
    if (o->st)
        fig.errors++;
}

static bool is_destroy(const char *entry)
{
    return strstr(entry, "Destroy") || !strcmp(entry, "zeMemFree");
}

/* The checks every faulted run must pass; returns false on the first failure seen (the
 * sweep goes on, but one line per failing run is enough). */
static bool check_run(const char *label, const struct outcome *o, bool expect_lost)
{
    bool ok = true;
    char why[4096] = "";
    if (o->st == ZMOE_OK) {
        if (!o->same_output) {
            ok = false;
            snprintf(why, sizeof why, "succeeded but the output differs from the unfaulted run");
        } else if (o->fired && !is_destroy(o->entry)) {
            fig.absorbed++;
        }
    } else {
        if (!o->fired && !o->malloc_fired) {
            ok = false;
            snprintf(why, sizeof why, "%s failed with no fault fired: %s: %s", o->where,
                     zmoe_status_str(o->st), o->err.msg);
        } else if (o->fired && !strstr(o->err.msg, o->entry)) {
            ok = false;
            snprintf(why, sizeof why, "%s failed (%s) but the message does not name %s: '%s'",
                     o->where, zmoe_status_str(o->st), o->entry, o->err.msg);
        } else if (!o->err.msg[0]) {
            ok = false;
            snprintf(why, sizeof why, "%s failed (%s) with an empty message", o->where,
                     zmoe_status_str(o->st));
        } else if (expect_lost && strcmp(o->where, "zmoe_create") &&
                   o->st != ZMOE_ERR_DEVICE_LOST) {
            ok = false;
            snprintf(why, sizeof why, "%s: %s returned DEVICE_LOST but zmoe says %s: %s",
                     o->where, o->entry, zmoe_status_str(o->st), o->err.msg);
        }
    }
    uint64_t allowed = 0;
    if (o->fired && is_destroy(o->entry) && o->failed_destroys == 1) {
        allowed = 1;
        fig.allowed_destroy_leaks += o->live ? 1 : 0;
    }
    if (ok && o->live > allowed) {
        ok = false;
        snprintf(why, sizeof why, "Level Zero objects left after zmoe_destroy: %s (%s: %s)",
                 o->live_desc, zmoe_status_str(o->st), o->err.msg);
    }
    if (ok && o->zmoe_heap_live) {
        ok = false;
        snprintf(why, sizeof why, "%llu heap block(s) allocated by zmoe not freed (%s: %s)",
                 (unsigned long long)o->zmoe_heap_live, zmoe_status_str(o->st), o->err.msg);
    }
    if (!ok)
        TAP_OK(0, "%s: %s", label, why);
    return ok;
}

/* Sweeps `spec_fmt` (with one %llu for k) until a run fires nothing. */
static void sweep(const char *name, const char *spec_fmt, bool expect_lost)
{
    uint64_t k = 1, bad = 0, errors = 0, first_bad = 0;
    struct outcome o;
    for (;; k++) {
        char spec[128], label[160];
        snprintf(spec, sizeof spec, spec_fmt, (unsigned long long)k);
        snprintf(label, sizeof label, "HOSTDEV_FAIL=%s", spec);
        run(spec, 0, 0, true, &o);
        if (!o.fired) {
            TAP_OK(o.st == ZMOE_OK && o.same_output,
                   "%s: run %llu fires no fault and succeeds with the unfaulted output", name,
                   (unsigned long long)k);
            break;
        }
        errors += o.st != ZMOE_OK;
        if (!check_run(label, &o, expect_lost) && !bad++)
            first_bad = k;
        if (k > 100000)
            tap_bail("%s: sweep does not end", name);
    }
    TAP_OK(bad == 0, "%s: %llu fault point(s), %llu clean error(s), %llu bad run(s)%s", name,
           (unsigned long long)(k - 1), (unsigned long long)errors, (unsigned long long)bad,
           bad ? " (first listed above)" : "");
    (void)first_bad;
}

#ifdef REL_MALLOC_HOOK
static void malloc_sweep(int scope, uint64_t max)
{
    const char *name = scope == REL_FAIL_ZMOE ? "malloc (zmoe's own)" : "malloc (zmoe or hostdev, in zmoe_create)";
    uint64_t k = 1, bad = 0, errors = 0;
    struct outcome o;
    for (;; k++) {
        char label[96];
        snprintf(label, sizeof label, "%s #%llu fails", name, (unsigned long long)k);
        if (k == 1) {
            run(NULL, REL_FAIL_NONE, 0, true, &o);
            tap_diag("%s: the unfaulted run makes %llu allocations on its thread, %llu of them "
                     "zmoe's or hostdev's, %llu zmoe's", name, (unsigned long long)o.thread_allocs,
                     (unsigned long long)o.project_allocs, (unsigned long long)o.zmoe_allocs);
        }
        run(NULL, scope, k, true, &o);
        if (!o.malloc_fired) {
            TAP_OK(o.st == ZMOE_OK && o.same_output, "%s: run %llu fails nothing and succeeds",
                   name, (unsigned long long)k);
            break;
        }
        errors += o.st != ZMOE_OK;
        if (!check_run(label, &o, false))
            bad++;
        if (max && k >= max) {
            tap_diag("%s: stopped at k = %llu (bound; %llu allocations on the thread in the "
                     "last run)", name, (unsigned long long)k, (unsigned long long)o.thread_allocs);
            break;
        }
    }
    TAP_OK(bad == 0, "%s: %llu failure point(s), %llu clean error(s), %llu bad run(s)", name,
           (unsigned long long)(max && k >= max ? k : k - 1), (unsigned long long)errors,
           (unsigned long long)bad);
}
#endif

static void baseline(void)
{
    struct outcome o;
    rel_inputs(x, TOKENS * cfg.model.hidden, 42);
    memset(y_base, 0, sizeof y_base);
    /* twice: the first run warms hostdev's module cache; the second is the reference */
    for (int i = 0; i < 2; i++) {
        struct zmoe_create_info info = {.config = &cfg};
        struct zmoe_runtime *rt = NULL;
        struct zmoe_error err = {{0}};
        rel_trk_reset();
        enum zmoe_status st = zmoe_create(&info, &rt, &err);
        if (!st)
            st = zmoe_load_weights(rt, &err);
        if (!st)
            st = rel_forward(rt, &cfg, LAYER, x, TOKENS, y_base, &err);
        zmoe_destroy(rt);
        if (st)
            tap_bail("unfaulted run failed: %s: %s", zmoe_status_str(st), err.msg);
        base_calls = rel_trk.calls;
    }
    run(NULL, 0, 0, true, &o);
    TAP_OK(o.st == ZMOE_OK && o.same_output && !o.fired,
           "unfaulted run: success, same output twice (%llu Level Zero calls)",
           (unsigned long long)base_calls);
    TAP_OK(o.live == 0, "unfaulted run: every Level Zero object destroyed%s%s",
           o.live_desc[0] ? ": " : "", o.live_desc);
    TAP_EQ_INT(o.zmoe_heap_live, 0, "unfaulted run: zmoe's heap blocks all freed");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s star [ERROR] | entry NAME... | malloc-zmoe | malloc-project [MAX] | context\n",
                argv[0]);
        return 2;
    }
    rel_trk_start();
    uint32_t n = 1;
    if (zeDriverGet(&n, &driver) != ZE_RESULT_SUCCESS || n < 1)
        tap_bail("zeDriverGet");
    n = 1;
    if (zeDeviceGet(driver, &n, &device) != ZE_RESULT_SUCCESS || n < 1)
        tap_bail("zeDeviceGet");
#ifdef REL_MALLOC_HOOK
    if (rel_malloc_add_library("libze_hostdev.so") < 1)
        tap_bail("libze_hostdev.so is not loaded");
#endif
    cfg = rel_config();
    baseline();
    const char *mode = argv[1];
    if (!strcmp(mode, "star") || !strcmp(mode, "star-ctx")) {
        caller_context = !strcmp(mode, "star-ctx");
        char fmt[96];
        const char *error = argc > 2 ? argv[2] : NULL;
        snprintf(fmt, sizeof fmt, "*:%%llu%s%s", error ? ":" : "", error ? error : "");
        char name[96];
        snprintf(name, sizeof name, "%s%s", error ? error : "*", caller_context ? " (caller context)" : "");
        sweep(name, fmt, error && strstr(error, "DEVICE_LOST"));
    } else if (!strcmp(mode, "entry")) {
        for (int i = 2; i < argc; i++) {
            char fmt[160], entry[96];
            const char *colon = strchr(argv[i], ':');
            snprintf(entry, sizeof entry, "%.*s", colon ? (int)(colon - argv[i]) : (int)strlen(argv[i]),
                     argv[i]);
            snprintf(fmt, sizeof fmt, "%s:%%llu%s", entry, colon ? colon : "");
            sweep(argv[i], fmt, colon && strstr(colon, "DEVICE_LOST"));
        }
    } else if (!strcmp(mode, "context")) {
        struct outcome o;
        char spec[64];
        /* run() creates the priming context (+1) and zmoe's is the one after (+2) */
        snprintf(spec, sizeof spec, "zeContextCreate:%llu", (unsigned long long)rel_trk.context_attempts + 2);
        run(spec, 0, 0, true, &o);
        TAP_OK(o.fired && o.st != ZMOE_OK && strstr(o.err.msg, "zeContextCreate") &&
                   !strcmp(o.where, "zmoe_create"),
               "zeContextCreate fails: zmoe_create says so (%s: %s)", zmoe_status_str(o.st), o.err.msg);
        check_run(spec, &o, false);
        TAP_OK(o.live == 0 && o.zmoe_heap_live == 0, "zeContextCreate fails: nothing left (%s)",
               o.live_desc);
        run(NULL, 0, 0, true, &o);
        TAP_OK(o.st == ZMOE_OK && o.same_output, "the next zmoe_create works");
#ifdef REL_MALLOC_HOOK
    } else if (!strcmp(mode, "malloc-zmoe")) {
        malloc_sweep(REL_FAIL_ZMOE, 0);
    } else if (!strcmp(mode, "malloc-project")) {
        uint64_t max = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
        const char *env = getenv("ZMOE_MALLOC_SWEEP_ALL");
        if (env && !strcmp(env, "1"))
            max = 0;
        malloc_sweep(REL_FAIL_PROJECT, max);
#endif
    } else {
        tap_bail("unknown mode '%s'", mode);
    }
    tap_diag("figures: %llu runs, %llu with a fault fired, %llu clean errors, %llu faults absorbed "
             "with identical output, %llu destroy-call faults leaving their object",
             (unsigned long long)fig.runs, (unsigned long long)fig.fired,
             (unsigned long long)fig.errors, (unsigned long long)fig.absorbed,
             (unsigned long long)fig.allowed_destroy_leaks);
    return tap_exit();
}
