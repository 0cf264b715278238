/* Fault sweep over the expert-parallel runtime (2 hostdev devices): for k = 1, 2, ...
 * the k-th Level Zero call after zmoe's context is failed (HOSTDEV_FAIL=*:k) during
 * zmoe_parallel_create + load_weights + one forward + destroy, until a run fires no
 * fault. Every run must end in success with y bitwise equal to the unfaulted run, or a
 * clean error whose message names the failed call; after destroy no Level Zero object or
 * allocation of the run is left (tracing layer; a failed destroy may leave exactly
 * its own object, as in tests/reliability). k runs 1..64 one by one, then every 3rd (ZMOE_PAR_SWEEP_ALL=1: every k). */
#include "reliability/rel.h"
#include "zmoe_parallel.h"

#define TOKENS 3u

static struct zmoe_config cfg;
static float x[TOKENS * 64], y_base[TOKENS * 64];
static ze_driver_handle_t driver;

struct outcome {
    enum zmoe_status st;
    struct zmoe_error err;
    bool fired, same, destroy;
    char entry[64];
    uint64_t live;
    char live_desc[512];
};

static enum zmoe_status forward(struct zmoe_parallel *p, float *y, struct zmoe_error *err)
{
    struct zmoe_slot s;
    enum zmoe_status st = zmoe_parallel_slot_acquire(p, &s, err);
    if (st)
        return st;
    memcpy(s.input_host, x, sizeof x);
    st = zmoe_parallel_submit(p, &s, 1, TOKENS, err);
    if (!st)
        st = zmoe_parallel_wait(p, &s, UINT64_MAX, err);
    if (!st)
        memcpy(y, s.output_host, sizeof x);
    return st;
}

static void run(const char *fail, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    if (fail)
        setenv("HOSTDEV_FAIL", fail, 1);
    else
        unsetenv("HOSTDEV_FAIL");
    setenv("HOSTDEV_FAULT_LOG", "1", 1);
    rel_trk_reset();
    rel_stderr_begin();
    struct zmoe_create_info info = {.config = &cfg};
    struct zmoe_parallel *p = NULL;
    float y[TOKENS * 64];
    o->st = zmoe_parallel_create(&info, &p, &o->err);
    if (!o->st)
        o->st = zmoe_parallel_load_weights(p, &o->err);
    if (!o->st) {
        o->st = forward(p, y, &o->err);
        o->same = !o->st && memcmp(y, y_base, sizeof y) == 0;
    }
    zmoe_parallel_destroy(p);
    char log[4096];
    rel_stderr_end(log, sizeof log);
    const char *f = strstr(log, "hostdev: fault injected: ");
    unsigned long long n;
    char error[64];
    o->fired = f && sscanf(f, "hostdev: fault injected: %63s call %llu -> %63s", o->entry, &n, error) == 3;
    o->live = rel_trk_live_total();
    rel_trk_describe(o->live_desc, sizeof o->live_desc);
    o->destroy = o->fired && (strstr(o->entry, "Destroy") || !strcmp(o->entry, "zeMemFree"));
    if (o->destroy)
        rel_trk_keep_leftovers(); /* teardown cannot report it: the object stays */
    unsetenv("HOSTDEV_FAIL");
}

int main(void)
{
    rel_trk_start();
    uint32_t n = 1;
    if (zeDriverGet(&n, &driver) != ZE_RESULT_SUCCESS || n < 1)
        tap_bail("zeDriverGet");
    cfg = rel_config();
    cfg.parallel.devices = 2;
    rel_inputs(x, TOKENS * 64, 5);
    struct outcome o;
    run(NULL, &o);
    if (!TAP_OK(o.st == ZMOE_OK && !o.fired && o.live == 0, "unfaulted run: %s %s", zmoe_status_str(o.st), o.err.msg))
        return tap_exit();
    {
        /* the reference output of the unfaulted run */
        struct zmoe_create_info info = {.config = &cfg};
        struct zmoe_parallel *p = NULL;
        struct zmoe_error err;
        if (zmoe_parallel_create(&info, &p, &err) || zmoe_parallel_load_weights(p, &err) || forward(p, y_base, &err))
            tap_bail("baseline: %s", err.msg);
        zmoe_parallel_destroy(p);
    }
    const bool all = getenv("ZMOE_PAR_SWEEP_ALL") != NULL;
    uint64_t runs = 0, fired = 0, errors = 0, bad = 0;
    for (unsigned long long k = 1;; k += (k < 64 || all) ? 1 : 3) {
        char spec[64];
        snprintf(spec, sizeof spec, "*:%llu", k);
        run(spec, &o);
        runs++;
        if (!o.fired)
            break;
        fired++;
        bool ok;
        if (o.st == ZMOE_OK)
            ok = o.same;
        else
            ok = strstr(o.err.msg, o.entry) != NULL;
        errors += o.st != ZMOE_OK;
        ok = ok && o.live <= (o.destroy ? 1u : 0u); /* a failed destroy leaves its object */
        if (!ok && bad++ < 5)
            tap_diag("k=%llu (%s): %s: %s; %llu objects left %s", k, o.entry, zmoe_status_str(o.st), o.err.msg,
                     (unsigned long long)o.live, o.live_desc);
        if (k > 100000)
            break;
    }
    TAP_OK(fired > 50, "faults fired in %llu of %llu runs", (unsigned long long)fired, (unsigned long long)runs);
    TAP_OK(bad == 0, "every faulted run: same output or a clean error naming the call, nothing left "
                     "(%llu errors, %llu bad)",
           (unsigned long long)errors, (unsigned long long)bad);
    return tap_exit();
}
