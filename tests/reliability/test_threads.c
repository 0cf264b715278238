/* test_threads.c — the thread contract of tests/reliability/README.md:
 * one runtime per thread; different runtimes run in parallel. Two threads each create
 * their own runtime (different configs: f32 and bf16 weights, different seeds), load
 * it and run ROUNDS forwards over both layers and several token counts; every output
 * must equal, bit for bit, the output of the same forward in a single-threaded run
 * made before. Then the same with the creates themselves racing (both threads call
 * zmoe_create at the same moment, behind a barrier). Object balance 0 at the end. */
#include "rel.h"

#define H 64u
#define ROUNDS 200
#define CASES 8

struct worker {
    struct zmoe_config cfg;
    float x[CASES][8 * H];
    float ref[CASES][8 * H];
    float y[CASES][8 * H];
    uint64_t mismatches, errors;
    char msg[ZMOE_ERROR_MAX + 64];
    pthread_barrier_t *start;
    bool record; /* single-threaded reference run */
};

static uint32_t case_tokens(int c)
{
    return (uint32_t)(c * 3 % 8) + 1;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = &w->cfg};
    struct zmoe_runtime *rt = NULL;
    if (w->start)
        pthread_barrier_wait(w->start);
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (!st)
        st = zmoe_load_weights(rt, &err);
    for (int r = 0; r < (w->record ? 1 : ROUNDS) && !st; r++)
        for (int c = 0; c < CASES && !st; c++) {
            st = rel_forward(rt, &w->cfg, (uint32_t)c % 2, w->x[c], case_tokens(c),
                             w->record ? w->ref[c] : w->y[c], &err);
            if (!st && !w->record &&
                memcmp(w->y[c], w->ref[c], (size_t)case_tokens(c) * H * sizeof(float)))
                w->mismatches++;
        }
    if (st) {
        w->errors++;
        snprintf(w->msg, sizeof w->msg, "%s: %s", zmoe_status_str(st), err.msg);
    }
    zmoe_destroy(rt);
    return NULL;
}

static void setup(struct worker *w, int which)
{
    memset(w, 0, sizeof *w);
    w->cfg = rel_config();
    if (which == 1) {
        w->cfg.dtype.weights = ZMOE_DTYPE_BF16;
        w->cfg.weights.seed = 99;
        w->cfg.experts.activation = ZMOE_ACT_GELU;
    }
    for (int c = 0; c < CASES; c++)
        rel_inputs(w->x[c], (size_t)case_tokens(c) * H, (uint64_t)(which * 100 + c));
}

int main(void)
{
    rel_trk_start();
    static struct worker w[2];
    for (int i = 0; i < 2; i++) {
        setup(&w[i], i);
        w[i].record = true;
        work(&w[i]);
        if (w[i].errors)
            tap_bail("single-threaded run %d: %s", i, w[i].msg);
        w[i].record = false;
    }
    TAP_OK(memcmp(w[0].ref[0], w[1].ref[0], sizeof w[0].ref[0]) != 0,
           "the two configs give different outputs (the comparison can tell them apart)");
    for (int phase = 0; phase < 2; phase++) {
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, 2);
        pthread_t t[2];
        rel_trk_reset();
        for (int i = 0; i < 2; i++) {
            w[i].start = phase == 1 ? &b : NULL;
            w[i].mismatches = w[i].errors = 0;
            if (pthread_create(&t[i], NULL, work, &w[i]))
                tap_bail("pthread_create");
        }
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&b);
        const char *what = phase ? "creates racing" : "in parallel";
        for (int i = 0; i < 2; i++) {
            TAP_OK(w[i].errors == 0, "%s: runtime %d ran %d forwards without error %s", what, i,
                   ROUNDS * CASES, w[i].msg);
            TAP_EQ_INT(w[i].mismatches, 0, "%s: runtime %d: every output identical to the "
                                           "single-threaded run", what, i);
        }
        char d[512];
        rel_trk_describe(d, sizeof d);
        TAP_OK(rel_trk_live_total() == 0, "%s: every Level Zero object destroyed%s%s", what,
               d[0] ? ": " : "", d);
    }
    return tap_exit();
}
