/* test_runtime_faults.c — run-time faults on hostdev (knobs re-read at each context):
 *   device lost  HOSTDEV_DEVICE_LOST_AFTER=N for every N from 0 to a few executions past
 *                the first forwards (0 means "never" to hostdev): the call that meets the loss (load, submit or wait)
 *                returns ZMOE_ERR_DEVICE_LOST naming the Level Zero call, every later call
 *                says DEVICE_LOST at once, forwards before the loss are correct, destroy
 *                is clean (object balance 0) and a fresh runtime afterwards works, with
 *                the same output bit for bit. Also with two slots in flight.
 *   back-pressure HOSTDEV_EXEC_LATENCY_US: with both ring slots in flight,
 *                zmoe_slot_acquire returns ZMOE_TIMEOUT after the configured wait and
 *                leaves the ring unchanged; zmoe_wait with a short timeout returns
 *                ZMOE_TIMEOUT, zmoe_poll ZMOE_NOT_READY; re-submitting an in-flight slot
 *                is refused; after the backlog drains, each slot's output equals the
 *                unhurried run's output for its own input, layer and token count.
 *   destroy in flight: zmoe_destroy right after submits under latency is clean. */
#include "rel.h"

#include <time.h>

#define H 64u

static struct zmoe_config cfg;

/* reference outputs without any fault: [layer][input seed] for T = 3 and 5 */
static float ref3[2][2][3 * H], ref5[2][2][5 * H];
static float in3[2][3 * H], in5[2][5 * H];

static struct zmoe_runtime *create(struct zmoe_error *err, enum zmoe_status *st)
{
    struct zmoe_create_info info = {.config = &cfg};
    struct zmoe_runtime *rt = NULL;
    *st = zmoe_create(&info, &rt, err);
    return rt;
}

static void references(void)
{
    struct zmoe_error err = {{0}};
    enum zmoe_status st;
    struct zmoe_runtime *rt = create(&err, &st);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    for (int s = 0; s < 2; s++) {
        rel_inputs(in3[s], 3 * H, 100 + s);
        rel_inputs(in5[s], 5 * H, 200 + s);
    }
    for (uint32_t l = 0; l < 2 && !st; l++)
        for (int s = 0; s < 2 && !st; s++) {
            st = rel_forward(rt, &cfg, l, in3[s], 3, ref3[l][s], &err);
            if (!st)
                st = rel_forward(rt, &cfg, l, in5[s], 5, ref5[l][s], &err);
        }
    zmoe_destroy(rt);
    if (st)
        tap_bail("reference run: %s: %s", zmoe_status_str(st), err.msg);
}

static bool balanced(const char *what)
{
    char d[512];
    rel_trk_describe(d, sizeof d);
    return TAP_OK(rel_trk_live_total() == 0, "%s: every Level Zero object destroyed%s%s", what,
                  d[0] ? ": " : "", d);
}

/* ------------------------------------------------------------- device lost */

/* Returns the number of forwards that succeeded before the loss (-1: load failed). */
static int lost_run(uint64_t after, bool *clean, char *msg, size_t msg_size)
{
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)after);
    setenv("HOSTDEV_DEVICE_LOST_AFTER", v, 1);
    rel_trk_reset();
    struct zmoe_error err = {{0}};
    enum zmoe_status st;
    struct zmoe_runtime *rt = create(&err, &st);
    unsetenv("HOSTDEV_DEVICE_LOST_AFTER");
    *clean = true;
    msg[0] = '\0';
    if (st) {
        snprintf(msg, msg_size, "zmoe_create failed: %s: %s", zmoe_status_str(st), err.msg);
        *clean = false;
        return -2;
    }
    int good = -1;
    st = zmoe_load_weights(rt, &err);
    const char *where = "zmoe_load_weights";
    if (!st) {
        good = 0;
        for (int i = 0; i < 8; i++) {
            uint32_t l = (uint32_t)i % 2;
            float y[3 * H];
            where = "forward";
            st = rel_forward(rt, &cfg, l, in3[i / 2 % 2], 3, y, &err);
            if (st)
                break;
            if (memcmp(y, ref3[l][i / 2 % 2], sizeof y)) {
                snprintf(msg, msg_size, "forward %d before the loss differs from the reference", i);
                *clean = false;
            }
            good++;
        }
    }
    if (good == 8) {
        snprintf(msg, msg_size, "no loss met in 8 forwards");
        *clean = false;
    } else if (st != ZMOE_ERR_DEVICE_LOST || !strstr(err.msg, "ZE_RESULT_ERROR_DEVICE_LOST") ||
               !strstr(err.msg, "ze")) {
        snprintf(msg, msg_size, "%s: want DEVICE_LOST naming the call, got %s: %s", where,
                 zmoe_status_str(st), err.msg);
        *clean = false;
    } else {
        /* every later call refuses at once */
        struct zmoe_slot slot = {0};
        struct zmoe_stats stats;
        enum zmoe_status a = zmoe_slot_acquire(rt, &slot, &err);
        enum zmoe_status g = zmoe_get_stats(rt, &stats);
        enum zmoe_status w = zmoe_load_weights(rt, &err);
        if (a != ZMOE_ERR_DEVICE_LOST || g != ZMOE_ERR_DEVICE_LOST || w != ZMOE_ERR_DEVICE_LOST) {
            snprintf(msg, msg_size, "after the loss: acquire %s, stats %s, load %s (want DEVICE_LOST)",
                     zmoe_status_str(a), zmoe_status_str(g), zmoe_status_str(w));
            *clean = false;
        }
    }
    zmoe_destroy(rt);
    if (rel_trk_live_total()) {
        char d[512];
        rel_trk_describe(d, sizeof d);
        snprintf(msg, msg_size, "objects left after destroy: %s", d);
        *clean = false;
    }
    return good;
}

static void device_lost(void)
{
    int bad = 0, runs = 0, load_losses = 0, forward_losses = 0;
    for (uint64_t n = 1; n < 200; n++) {
        bool clean;
        char msg[1200];
        int good = lost_run(n, &clean, msg, sizeof msg);
        runs++;
        if (!clean && !bad++)
            TAP_OK(0, "HOSTDEV_DEVICE_LOST_AFTER=%llu: %s", (unsigned long long)n, msg);
        if (good < 0)
            load_losses++;
        else
            forward_losses++;
        if (good >= 4)
            break; /* loss points through load and the first forwards are covered */
    }
    TAP_OK(bad == 0 && forward_losses >= 4 && load_losses >= 1,
           "device lost after N executions, every N: %d runs (%d in zmoe_load_weights, %d in a "
           "forward), %d bad", runs, load_losses, forward_losses, bad);

    /* two slots in flight when the device goes away */
    int load_execs = load_losses + 1; /* N = 1 .. L-1 lose the device inside the load */
    char v[32];
    snprintf(v, sizeof v, "%d", load_execs + 1);
    setenv("HOSTDEV_DEVICE_LOST_AFTER", v, 1);
    rel_trk_reset();
    struct zmoe_error err = {{0}};
    enum zmoe_status st;
    struct zmoe_runtime *rt = create(&err, &st);
    unsetenv("HOSTDEV_DEVICE_LOST_AFTER");
    if (!st)
        st = zmoe_load_weights(rt, &err);
    TAP_OK(st == ZMOE_OK, "lost after load + 1: load succeeds (%s)", err.msg);
    struct zmoe_slot s0, s1;
    enum zmoe_status a0 = zmoe_slot_acquire(rt, &s0, &err);
    enum zmoe_status b0 = a0 ? a0 : zmoe_submit(rt, &s0, 0, 3, &err);
    enum zmoe_status a1 = zmoe_slot_acquire(rt, &s1, &err);
    enum zmoe_status b1 = a1 ? a1 : zmoe_submit(rt, &s1, 1, 3, &err);
    TAP_OK(!a0 && !b0 && !a1 && b1 == ZMOE_ERR_DEVICE_LOST,
           "second submit in flight meets the loss: %s / %s (%s)", zmoe_status_str(b0),
           zmoe_status_str(b1), err.msg);
    enum zmoe_status w0 = zmoe_wait(rt, &s0, UINT64_MAX, &err);
    enum zmoe_status p1 = zmoe_poll(rt, &s1, &err);
    TAP_OK(w0 == ZMOE_ERR_DEVICE_LOST && p1 == ZMOE_ERR_DEVICE_LOST,
           "then wait and poll say DEVICE_LOST (%s, %s)", zmoe_status_str(w0), zmoe_status_str(p1));
    zmoe_destroy(rt);
    balanced("destroy after a loss with a slot in flight");

    /* a fresh runtime (knob unset) works and gives the same bits */
    rel_trk_reset();
    rt = create(&err, &st);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    float y[5 * H];
    if (!st)
        st = rel_forward(rt, &cfg, 1, in5[1], 5, y, &err);
    TAP_OK(st == ZMOE_OK && !memcmp(y, ref5[1][1], sizeof y),
           "a fresh runtime after the losses works, output identical (%s)", err.msg);
    zmoe_destroy(rt);
    balanced("fresh runtime");
}

/* ----------------------------------------------------------- back-pressure */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void back_pressure(void)
{
    struct zmoe_config saved = cfg;
    const uint64_t LONG = 30ull * 1000 * 1000 * 1000; /* explicit waits: 30 s bound */
    cfg.runtime.wait_timeout_ms = 20;
    /* Weights load first without latency... the knob is read at context creation, so
     * the upload pays it too: keep the config small and the latency moderate. */
    setenv("HOSTDEV_EXEC_LATENCY_US", "150000", 1);
    rel_trk_reset();
    struct zmoe_error err = {{0}};
    enum zmoe_status st;
    struct zmoe_runtime *rt = create(&err, &st);
    unsetenv("HOSTDEV_EXEC_LATENCY_US");
    if (!st)
        st = zmoe_load_weights(rt, &err);
    if (!TAP_OK(st == ZMOE_OK, "latency runtime up (%s)", err.msg)) {
        zmoe_destroy(rt);
        cfg = saved;
        return;
    }
    int rounds = 3, bad_outputs = 0, timeouts = 0, refused = 0;
    for (int r = 0; r < rounds; r++) {
        struct zmoe_slot s0, s1, s2;
        uint32_t l0 = (uint32_t)r % 2, l1 = 1 - l0;
        st = zmoe_slot_acquire(rt, &s0, &err);
        if (!st) {
            memcpy(s0.input_host, in3[r % 2], sizeof in3[0]);
            st = zmoe_submit(rt, &s0, l0, 3, &err);
        }
        if (!st)
            st = zmoe_slot_acquire(rt, &s1, &err);
        if (!st) {
            memcpy(s1.input_host, in5[(r + 1) % 2], sizeof in5[0]);
            st = zmoe_submit(rt, &s1, l1, 5, &err);
        }
        if (st) {
            TAP_OK(0, "round %d: filling the ring failed: %s: %s", r, zmoe_status_str(st), err.msg);
            break;
        }
        /* ring full: acquire waits the configured 20 ms and gives up */
        double t0 = now_ms();
        enum zmoe_status a = zmoe_slot_acquire(rt, &s2, &err);
        double waited = now_ms() - t0;
        if (a == ZMOE_TIMEOUT)
            timeouts++;
        else
            TAP_OK(0, "round %d: acquire on a full ring: want TIMEOUT, got %s", r, zmoe_status_str(a));
        if (r == 0)
            tap_diag("acquire on a full ring returned %s after %.1f ms (timeout 20 ms, latency "
                     "150 ms per execution): %s", zmoe_status_str(a), waited, err.msg);
        /* an in-flight slot cannot be submitted again (its parameters stay as they are) */
        enum zmoe_status again = zmoe_submit(rt, &s0, l1, 8, &err);
        if (again == ZMOE_ERR_STATE)
            refused++;
        enum zmoe_status wt = zmoe_wait(rt, &s1, 1000000 /* 1 ms */, &err);
        enum zmoe_status pl = zmoe_poll(rt, &s1, &err);
        TAP_OK(wt == ZMOE_TIMEOUT && pl == ZMOE_NOT_READY,
               "round %d: short wait -> %s, poll -> %s while in flight", r, zmoe_status_str(wt),
               zmoe_status_str(pl));
        /* the ring is unchanged: the next acquire (after waiting) hands out slot 0 again */
        enum zmoe_status w0 = zmoe_wait(rt, &s0, LONG, &err);
        enum zmoe_status w1 = zmoe_wait(rt, &s1, LONG, &err);
        if (w0 || w1) {
            TAP_OK(0, "round %d: waits %s / %s: %s", r, zmoe_status_str(w0), zmoe_status_str(w1), err.msg);
            break;
        }
        if (memcmp(s0.output_host, ref3[l0][r % 2], sizeof ref3[0][0]))
            bad_outputs++;
        if (memcmp(s1.output_host, ref5[l1][(r + 1) % 2], sizeof ref5[0][0]))
            bad_outputs++;
        struct zmoe_slot s3;
        st = zmoe_slot_acquire(rt, &s3, &err);
        TAP_OK(st == ZMOE_OK && s3.index == s0.index && s3.input_host == s0.input_host,
               "round %d: after the timeout the ring is unchanged (next slot %u, want %u)", r,
               s3.index, s0.index);
        /* hand the slot back through a real forward so the ring stays in order */
        if (!st) {
            memcpy(s3.input_host, in3[0], sizeof in3[0]);
            st = zmoe_submit(rt, &s3, 0, 3, &err);
            if (!st)
                st = zmoe_wait(rt, &s3, LONG, &err);
            if (st || memcmp(s3.output_host, ref3[0][0], sizeof ref3[0][0]))
                bad_outputs++;
            /* keep slot parity: the next round starts at slot 0 again */
            struct zmoe_slot s4;
            st = zmoe_slot_acquire(rt, &s4, &err);
            if (!st) {
                memcpy(s4.input_host, in3[1], sizeof in3[1]);
                st = zmoe_submit(rt, &s4, 1, 3, &err);
                if (!st)
                    st = zmoe_wait(rt, &s4, LONG, &err);
                if (st || memcmp(s4.output_host, ref3[1][1], sizeof ref3[1][1]))
                    bad_outputs++;
            }
        }
    }
    TAP_EQ_INT(timeouts, rounds, "every full-ring acquire timed out");
    TAP_EQ_INT(refused, rounds, "every re-submit of an in-flight slot was refused (ZMOE_ERR_STATE)");
    TAP_EQ_INT(bad_outputs, 0, "every slot's output equals the reference for its own input, "
                               "layer and token count (%d outputs)", rounds * 4);

    /* destroy with work in flight */
    struct zmoe_slot s0, s1;
    st = zmoe_slot_acquire(rt, &s0, &err);
    if (!st)
        st = zmoe_submit(rt, &s0, 0, 3, &err);
    if (!st)
        st = zmoe_slot_acquire(rt, &s1, &err);
    if (!st)
        st = zmoe_submit(rt, &s1, 1, 5, &err);
    TAP_OK(st == ZMOE_OK, "two submits in flight before destroy (%s)", err.msg);
    zmoe_destroy(rt);
    balanced("destroy with two executions in flight");
    cfg = saved;
}

int main(void)
{
    rel_trk_start();
    cfg = rel_config();
    references();
    device_lost();
    back_pressure();
    return tap_exit();
}
