/* Expert parallelism over the hostdev devices of one process (zmoe_parallel.h), against
 * the one-device runtime on the same config and inputs:
 *   test_parallel EXAMPLES_DIR N          every *-mini.conf example on N devices (and one
 *                                         with a round-robin expert map): routing identical,
 *                                         y within the dtype tolerance, for T in
 *                                         {1, 5, max_tokens} on the first and last layer;
 *                                         0 mallocs on the run path, 0 host allocations
 *                                         after init per device; each device's arena is
 *                                         its plan, its weights only its own experts
 *   test_parallel EXAMPLES_DIR N calls    the first example only, counting Level Zero calls
 *                                         per layer call (ZE_ENABLE_TRACING_LAYER=1)
 *   test_parallel bad N                   configs that must fail, with their messages
 *   test_parallel lost N                  a device lost mid-run: an error within the wait
 *                                         bound, a clean destroy
 * HOSTDEV_DEVICES (meson test env) must be at least N. */
#include "rt_util.h"
#include "rt_count.h"

#include "config/config.h"
#include "weights/quant.h"
#include "zmoe_parallel.h"

#include <dirent.h>
#include <stdio.h>
#include <time.h>

#define MAX_CONFIGS 32

static bool calls_mode; /* "calls": Level Zero calls through the tracing layer */

struct result {
    float *y;
    uint32_t *ids;
    float *w;
};

static void result_free(struct result *r)
{
    free(r->y);
    free(r->ids);
    free(r->w);
}

static void copy_out(const struct zmoe_config *c, const struct zmoe_slot *slot, uint32_t T,
                     struct result *r)
{
    const size_t n = (size_t)T * c->model.hidden, tk = (size_t)T * c->model.top_k;
    r->y = malloc(n * sizeof *r->y);
    r->ids = malloc(tk * sizeof *r->ids);
    r->w = malloc(tk * sizeof *r->w);
    if (!r->y || !r->ids || !r->w)
        tap_bail("out of memory");
    zmoe_dtype_convert(r->y, ZMOE_DTYPE_F32, slot->output_host, c->dtype.activations, n);
    memcpy(r->ids, slot->topk_ids_host, tk * sizeof *r->ids);
    memcpy(r->w, slot->topk_weights_host, tk * sizeof *r->w);
}

static bool run_single(struct zmoe_runtime *rt, const struct zmoe_config *c, uint32_t layer,
                       const float *x, uint32_t T, struct result *r)
{
    struct zmoe_error err = {{0}};
    struct zmoe_slot slot;
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, &err);
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                           (size_t)T * c->model.hidden);
        st = zmoe_submit(rt, &slot, layer, T, &err);
    }
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, &err);
    if (st) {
        tap_diag("one device: %s: %s", zmoe_status_str(st), err.msg);
        return false;
    }
    copy_out(c, &slot, T, r);
    return true;
}

static enum zmoe_status run_parallel(struct zmoe_parallel *p, const struct zmoe_config *c,
                                     uint32_t layer, const float *x, uint32_t T, struct result *r,
                                     struct zmoe_error *err)
{
    struct zmoe_slot slot;
    enum zmoe_status st = RT_IN(zmoe_parallel_slot_acquire(p, &slot, err));
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                           (size_t)T * c->model.hidden);
        st = RT_IN(zmoe_parallel_submit(p, &slot, layer, T, err));
    }
    if (!st)
        st = RT_IN(zmoe_parallel_wait(p, &slot, UINT64_MAX, err));
    if (!st && r)
        copy_out(c, &slot, T, r);
    return st;
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
        tap_diag("%s: %s: %s", what, zmoe_status_str(st), err.msg);
        zmoe_parallel_destroy(p);
        return NULL;
    }
    return p;
}

/* The weights a device must hold: the router (and its biases, the shared gate) whole,
 * its experts' share of every expert tensor, the shared experts on device 0 only. */
static uint64_t expected_weight_bytes(const struct zmoe_config *c, uint32_t r, uint32_t owned)
{
    uint64_t per_layer = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (!zmoe_tensor_present(c, (enum zmoe_tensor)t))
            continue;
        uint64_t b = zmoe_tensor_bytes(c, (enum zmoe_tensor)t);
        if (t == ZMOE_TENSOR_W13 || t == ZMOE_TENSOR_B13 || t == ZMOE_TENSOR_W2 || t == ZMOE_TENSOR_B2)
            b = b / c->model.experts * owned;
        else if ((t == ZMOE_TENSOR_SHARED_W13 || t == ZMOE_TENSOR_SHARED_W2) && r != 0)
            b = 0;
        per_layer += b;
    }
    return per_layer * c->model.layers;
}

static void check_config(const char *name, const struct zmoe_config *base, uint32_t N, bool round_robin)
{
    struct zmoe_config c1 = *base, cn = *base;
    cn.parallel.devices = N;
    if (round_robin) {
        cn.parallel.expert_map_set = true;
        for (uint32_t e = 0; e < cn.model.experts; e++)
            cn.parallel.expert_map[e] = (uint8_t)(e % N);
    }
    char what[160];
    snprintf(what, sizeof what, "%s on %u devices%s", name, N, round_robin ? " (round-robin map)" : "");
    struct zmoe_runtime *rt = rt_create(&c1, what);
    struct zmoe_parallel *p = par_create(&cn, what);
    TAP_OK(rt && p, "%s: created, weights loaded", what);
    if (!rt || !p) {
        zmoe_destroy(rt);
        zmoe_parallel_destroy(p);
        return;
    }
    TAP_EQ_INT(zmoe_parallel_devices(p), N, "%s: devices", what);

    const uint32_t layers[2] = {0, c1.model.layers - 1};
    const uint32_t Ts[3] = {1, 5 < c1.runtime.max_tokens ? 5 : c1.runtime.max_tokens, c1.runtime.max_tokens};
    double tol = rt_tolerance(&c1), worst = 0;
    bool routing_same = true, ran = true;
    for (int li = 0; li < 2; li++)
        for (int ti = 0; ti < 3; ti++) {
            const uint32_t T = Ts[ti], l = layers[li];
            float *x = rt_inputs(&c1, T, 1000 + 10 * l + T);
            struct result a = {0}, b = {0};
            struct zmoe_error err = {{0}};
            enum zmoe_status st = run_parallel(p, &cn, l, x, T, &b, &err);
            if (!run_single(rt, &c1, l, x, T, &a) || st) {
                if (st)
                    tap_diag("%s: parallel: %s: %s", what, zmoe_status_str(st), err.msg);
                ran = false;
            } else {
                const size_t tk = (size_t)T * c1.model.top_k;
                if (memcmp(a.ids, b.ids, tk * sizeof *a.ids) || memcmp(a.w, b.w, tk * sizeof *a.w)) {
                    routing_same = false;
                    tap_diag("%s: layer %u T %u: routing differs", what, l, T);
                }
                double rel = rt_rel_error(b.y, a.y, (size_t)T * c1.model.hidden, NULL);
                if (rel > worst || isnan(rel))
                    worst = isnan(rel) ? INFINITY : rel;
                if (rel > tol)
                    tap_diag("%s: layer %u T %u: rel error %.3g > %.3g", what, l, T, rel, tol);
            }
            result_free(&a);
            result_free(&b);
            free(x);
        }
    TAP_OK(ran, "%s: every (layer, T) ran", what);
    TAP_OK(routing_same, "%s: routing (ids and weights) identical to one device", what);
    TAP_OK(worst <= tol, "%s: y within %.0e of one device (worst %.3g)", what, tol, worst);

    /* the run path: nothing allocated on this thread over many cycles */
    float *x = rt_inputs(&c1, c1.runtime.max_tokens, 5);
    /* the tracing layer allocates per call itself: count calls with it, mallocs without */
    const bool traced = calls_mode && rt_tracer_start();
    rt_counts_reset();
    const uint64_t m0 = rt_mallocs;
    bool ok = true;
    for (int i = 0; i < 40 && ok; i++) {
        struct zmoe_error err = {{0}};
        ok = run_parallel(p, &cn, (uint32_t)i % c1.model.layers, x, 1 + (uint32_t)i % c1.runtime.max_tokens,
                          NULL, &err) == ZMOE_OK;
    }
    free(x);
    TAP_OK(ok, "%s: 40 more cycles", what);
    if (!calls_mode) {
        TAP_EQ_INT(rt_mallocs - m0, 0, "%s: 0 mallocs in acquire/submit/wait", what);
    } else {
        /* per layer call and device: fence reset, execute, fence synchronize (the slot
         * was waited for, so acquire does not synchronize again); nothing created,
         * allocated or recorded */
        TAP_OK(traced, "%s: tracing layer on", what);
        TAP_EQ_INT(rt_ze_total(), 40 * 3 * N, "%s: Level Zero calls in 40 cycles on %u devices", what, N);
        TAP_EQ_INT(rt_ze[RT_ZE_EXECUTE], 40 * N, "%s: one execute per device per call", what);
        TAP_EQ_INT(rt_ze[RT_ZE_FENCE_SYNC], 40 * N, "%s: one fence wait per device per call", what);
        TAP_EQ_INT(rt_ze[RT_ZE_FENCE_RESET], 40 * N, "%s: one fence reset per device per call", what);
    }

    /* per device: no allocation after init; the arena is the shard's plan */
    struct zmoe_parallel_share share[ZMOE_PARALLEL_MAX];
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_parallel_plan(&cn, N, share, &err);
    TAP_OK(st == ZMOE_OK, "%s: zmoe_parallel_plan %s", what, err.msg);
    uint8_t owner[ZMOE_PARALLEL_EXPERTS_MAX];
    zmoe_parallel_owners(&cn, owner);
    bool alloc_ok = true, arena_ok = true, weights_ok = true;
    uint32_t total = 0;
    for (uint32_t r = 0; r < N && !st; r++) {
        struct zmoe_stats s;
        if (zmoe_parallel_get_stats(p, r, &s) != ZMOE_OK || s.host_allocations_after_init ||
            s.device_allocations_after_init)
            alloc_ok = false;
        if (s.device_bytes != share[r].device_bytes) {
            arena_ok = false;
            tap_diag("%s: device %u arena %llu, plan %llu", what, r, (unsigned long long)s.device_bytes,
                     (unsigned long long)share[r].device_bytes);
        }
        uint32_t owned = 0;
        for (uint32_t e = 0; e < cn.model.experts; e++)
            owned += owner[e] == r;
        total += share[r].experts;
        const uint64_t want = expected_weight_bytes(&cn, r, owned);
        if (share[r].experts != owned || share[r].weight_bytes != want) {
            weights_ok = false;
            tap_diag("%s: device %u: %u experts (want %u), %llu weight bytes (want %llu)", what, r,
                     share[r].experts, owned, (unsigned long long)share[r].weight_bytes,
                     (unsigned long long)want);
        }
    }
    TAP_OK(alloc_ok, "%s: 0 host/device allocations after init on every device", what);
    TAP_OK(arena_ok, "%s: every device's arena is its plan", what);
    TAP_OK(weights_ok && total == cn.model.experts, "%s: each device holds only its experts' weights", what);
    zmoe_destroy(rt);
    zmoe_parallel_destroy(p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void examples(const char *dir, uint32_t N)
{
    DIR *d = opendir(dir);
    if (!d)
        tap_bail("cannot open %s", dir);
    char *names[MAX_CONFIGS];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < MAX_CONFIGS) {
        size_t len = strlen(de->d_name);
        if (len > 10 && strcmp(de->d_name + len - 10, "-mini.conf") == 0)
            names[count++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, cmp_str);
    TAP_OK(count >= 7, "%d mini examples in %s", count, dir);
    if (calls_mode)
        for (; count > 1; count--) /* the call counts do not depend on the model: the first */
            free(names[count - 1]);
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct zmoe_config c;
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_load(path, &c, &err);
        TAP_OK(st == ZMOE_OK, "%s loads %s", names[i], err.msg);
        if (!st) {
            c.runtime.device = ZMOE_DEVICE_HOST;
            /* PoCL compiles each kernel at its first launch: on a loaded machine that
             * can pass the examples' 5 s bound (what is checked here is the result) */
            c.runtime.wait_timeout_ms = 60000;
            check_config(names[i], &c, N, false);
            /* a non-contiguous map on the largest expert count: local indices */
            if (strstr(names[i], "qwen3") || strstr(names[i], "llama4"))
                check_config(names[i], &c, N, true);
        }
        free(names[i]);
    }
}

static void expect_fail(const struct zmoe_config *c, enum zmoe_status want, const char *needle,
                        const char *what)
{
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = c};
    struct zmoe_parallel *p = NULL;
    enum zmoe_status st = zmoe_parallel_create(&info, &p, &err);
    TAP_OK(st == want && !p && strstr(err.msg, needle), "%s: %s (%s)", what, zmoe_status_str(st), err.msg);
    zmoe_parallel_destroy(p);
}

static void bad(uint32_t N)
{
    struct zmoe_config c = rt_base_config();
    c.parallel.devices = N * 2;
    expect_fail(&c, ZMOE_ERR_NO_DEVICE, "HOSTDEV_DEVICES", "more devices than present");
    c = rt_base_config();
    c.parallel.devices = 3; /* 8 experts */
    expect_fail(&c, ZMOE_ERR_CONFIG, "do not divide 8 experts", "3 devices, 8 experts, no map");
    c.parallel.devices = N;
    c.parallel.expert_map_set = true;
    for (uint32_t e = 0; e < 8; e++)
        c.parallel.expert_map[e] = (uint8_t)(e % N);
    c.parallel.expert_map[5] = (uint8_t)N;
    expect_fail(&c, ZMOE_ERR_CONFIG, "expert 5 -> participant", "a map naming a participant >= N");
    for (uint32_t e = 0; e < 8; e++)
        c.parallel.expert_map[e] = 0;
    expect_fail(&c, ZMOE_ERR_CONFIG, "participant 1 owns no expert", "a map leaving a device empty");
    c = rt_base_config();
    c.parallel.devices = 2;
    c.parallel.ranks = 2;
    expect_fail(&c, ZMOE_ERR_CONFIG, "one of them", "devices and ranks both > 1");
    c = rt_base_config();
    c.parallel.devices = N;
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = &c, .host_memory = &c, .host_memory_bytes = 1};
    struct zmoe_parallel *p = NULL;
    TAP_OK(zmoe_parallel_create(&info, &p, &err) == ZMOE_ERR_ARGUMENT && !p, "caller memory refused: %s",
           err.msg);
}

/* [parallel] in config files: parsing, precise errors, print and header round trips. */
static const char base_ini[] = "[model]\nhidden = 64\nintermediate = 32\nexperts = 8\ntop_k = 2\n"
                               "layers = 1\n[router]\nscoring = softmax\n[experts]\n"
                               "activation = silu\n[dtype]\nweights = f32\n";

static enum zmoe_status parse_with(const char *parallel, struct zmoe_config *c, struct zmoe_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "%s[parallel]\n%s", base_ini, parallel);
    return zmoe_config_parse(text, strlen(text), "p.conf", c, err);
}

static void config_fail(const char *parallel, const char *needle, const char *what)
{
    struct zmoe_config c;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = parse_with(parallel, &c, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && strstr(err.msg, needle), "config: %s: %s", what, err.msg);
}

static void config_tests(void)
{
    struct zmoe_config c;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = parse_with("devices = 2\nexpert_map = 0-2, 7 | 3-6\n", &c, &err);
    TAP_OK(st == ZMOE_OK, "config: devices = 2 with a map parses %s", err.msg);
    const uint8_t want[8] = {0, 0, 0, 1, 1, 1, 1, 0};
    TAP_OK(!st && c.parallel.devices == 2 && c.parallel.expert_map_set &&
               memcmp(c.parallel.expert_map, want, 8) == 0,
           "config: the map says who owns each expert");
    TAP_EQ_INT(zmoe_parallel_participants(&c), 2, "config: participants");
    /* print and parse back */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    st = f ? zmoe_config_print(&c, f, &err) : ZMOE_ERR_IO;
    if (f)
        fclose(f);
    struct zmoe_config back;
    TAP_OK(!st && buf && strstr(buf, "[parallel]\ndevices = 2\nexpert_map = 0-2,7 | 3-6\n"),
           "config: printed [parallel] section");
    st = buf ? zmoe_config_parse(buf, len, "printed", &back, &err) : ZMOE_ERR_IO;
    TAP_OK(!st && zmoe_config_diff(&c, &back) == NULL, "config: print round trip %s", err.msg);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    st = f ? zmoe_config_write_header(&c, "par_cfg", f, &err) : ZMOE_ERR_IO;
    if (f)
        fclose(f);
    TAP_OK(!st && buf && strstr(buf, ".expert_map = {0, 0, 0, 1, 1, 1, 1, 0},") &&
               strstr(buf, ".expert_map_set = true,"),
           "config: C header holds the map");
    free(buf);
    /* a config without [parallel] prints none */
    struct zmoe_config plain = rt_base_config();
    buf = NULL;
    f = open_memstream(&buf, &len);
    st = f ? zmoe_config_print(&plain, f, &err) : ZMOE_ERR_IO;
    if (f)
        fclose(f);
    TAP_OK(!st && buf && !strstr(buf, "[parallel]"), "config: no [parallel] for one device");
    free(buf);

    config_fail("devices = 2\nexpert_map = 0-4 | 4-7\n",
                "p.conf:15: key 'parallel.expert_map': expected each expert in one list: expert 4 "
                "is listed for participant 0 and again for 1",
                "an expert listed twice");
    config_fail("devices = 2\nexpert_map = 0-2 | 4-7\n", "expert 3 is in none", "an expert missing");
    config_fail("devices = 2\nexpert_map = 0-3 | 4-8\n", "experts below model.experts = 8 (expert 8",
                "an expert past model.experts");
    config_fail("devices = 2\nexpert_map = 0-3 / 4-7\n", "',' or '|' between experts", "bad separator");
    config_fail("devices = 2\nexpert_map = 0-7\n", "participant 1 owns no expert", "an empty participant");
    config_fail("devices = 2\nexpert_map = 0-1 | 2-3 | 4-7\n", "expert 4 -> participant 2",
                "more lists than devices");
    config_fail("ranks = 3\n", "p.conf:14: key 'parallel.ranks': expected a count dividing "
                                "model.experts (3 devices/ranks do not divide 8 experts",
                "ranks not dividing experts (implicit map)");
    config_fail("devices = 3\n", "3 devices/ranks do not divide 8 experts", "devices not dividing experts");
    config_fail("devices = 17\n", "0..16 devices", "too many devices");
    config_fail("devices = 2\nranks = 2\n", "one of them", "devices and ranks");
    st = parse_with("ranks = 3\nexpert_map = 0-2 | 3-5 | 6,7\n", &c, &err);
    TAP_OK(st == ZMOE_OK && zmoe_parallel_participants(&c) == 3, "config: 3 ranks with a map %s", err.msg);
}

/* Quantized experts shard as a row range of every part (weights/quant.h): each part of
 * a device's W13/W2 is its experts' share of the full part, and the plan sizes them so. */
static void quant_shards(uint32_t N)
{
    static const struct {
        enum zmoe_quant_format f;
        uint32_t H, I, group;
        bool zeros, act_order;
        enum zmoe_scale_dtype sd;
    } cases[] = {
        {ZMOE_QUANT_INT4, 64, 32, 32, true, true, ZMOE_SCALE_F16},
        {ZMOE_QUANT_INT8, 64, 32, 0, false, false, ZMOE_SCALE_BF16},
        {ZMOE_QUANT_FP8, 128, 128, 128, false, false, ZMOE_SCALE_F32},
        {ZMOE_QUANT_MXFP4, 64, 64, 32, false, false, ZMOE_SCALE_E8M0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct zmoe_config c = rt_base_config();
        c.model.hidden = cases[i].H;
        c.model.intermediate = cases[i].I;
        c.model.layers = 2;
        c.quant.format = cases[i].f;
        c.quant.group_size = cases[i].group;
        c.quant.zero_points = cases[i].zeros;
        c.quant.act_order = cases[i].act_order;
        c.quant.scale_dtype = cases[i].sd;
        c.quant.shared_experts = true;
        c.parallel.devices = N;
        const char *fmt = zmoe_quant_format_name(cases[i].f);
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_parallel_check(&c, &err);
        TAP_OK(st == ZMOE_OK, "quant %s on %u devices: the config shards %s", fmt, N, err.msg);
        if (st)
            continue;
        bool parts_ok = true;
        const uint32_t owned = c.model.experts / N;
        struct zmoe_config sc = c;
        sc.model.experts = owned;
        uint64_t want = 0;
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
            if (!zmoe_tensor_present(&c, (enum zmoe_tensor)t))
                continue;
            struct zmoe_qmatrix full, mine;
            if (zmoe_quant_matrix(&c, (enum zmoe_tensor)t, &full)) {
                parts_ok = parts_ok && zmoe_quant_matrix(&sc, (enum zmoe_tensor)t, &mine) &&
                           mine.codes_bytes * c.model.experts == full.codes_bytes * owned &&
                           mine.scales_bytes * c.model.experts == full.scales_bytes * owned &&
                           mine.zeros_bytes * c.model.experts == full.zeros_bytes * owned &&
                           mine.perm_bytes * c.model.experts == full.perm_bytes * owned && full.bytes > 0;
                want += mine.bytes;
            } else if (t == ZMOE_TENSOR_B13 || t == ZMOE_TENSOR_B2) {
                want += zmoe_tensor_bytes(&c, (enum zmoe_tensor)t) / c.model.experts * owned;
            } else {
                want += zmoe_tensor_bytes(&c, (enum zmoe_tensor)t);
            }
        }
        TAP_OK(parts_ok, "quant %s: each part of a device's W13/W2 is its experts' share of the full part", fmt);
        struct zmoe_parallel_share share[ZMOE_PARALLEL_MAX];
        st = zmoe_parallel_plan(&c, N, share, &err);
        TAP_OK(st == ZMOE_OK && share[N - 1].experts == owned && share[N - 1].weight_bytes == want * c.model.layers,
               "quant %s: device %u's plan holds %llu weight bytes (want %llu) %s", fmt, N - 1,
               st ? 0ull : (unsigned long long)share[N - 1].weight_bytes,
               (unsigned long long)(want * c.model.layers), err.msg);
    }
}

static void lost(uint32_t N)
{
    /* HOSTDEV_DEVICE_LOST_AFTER (test env) loses the context after some executions */
    struct zmoe_config c = rt_base_config();
    c.parallel.devices = N;
    c.runtime.wait_timeout_ms = 10000; /* PoCL compiles at first launch: slow on a loaded machine */
    struct zmoe_parallel *p = par_create(&c, "lost");
    TAP_OK(p != NULL, "created");
    if (!p)
        return;
    float *x = rt_inputs(&c, 4, 3);
    enum zmoe_status st = ZMOE_OK;
    struct zmoe_error err = {{0}};
    int i = 0;
    struct timespec t0, t1;
    double worst = 0;
    for (; i < 50 && st == ZMOE_OK; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = run_parallel(p, &c, 0, x, 4, NULL, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (s > worst)
            worst = s;
    }
    TAP_OK(st == ZMOE_ERR_DEVICE_LOST || st == ZMOE_ERR_LEVEL_ZERO || st == ZMOE_TIMEOUT,
           "an error after %d calls: %s: %s", i, zmoe_status_str(st), err.msg);
    if (st != ZMOE_OK && st != ZMOE_ERR_DEVICE_LOST)
        tap_diag("(not the loss itself: %s)", err.msg);
    TAP_OK(worst < 10.0 + 2.0, "every call returned within the wait bound (worst %.3f s)", worst);
    st = run_parallel(p, &c, 0, x, 4, NULL, &err);
    TAP_OK(st != ZMOE_OK, "later calls fail too: %s", zmoe_status_str(st));
    free(x);
    zmoe_parallel_destroy(p);
    TAP_OK(true, "destroy returned");
    /* and a fresh runtime is not affected by the old one */
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: test_parallel EXAMPLES_DIR|bad|lost N");
    const uint32_t N = (uint32_t)strtoul(argv[2], NULL, 10);
    if (N < 1 || N > ZMOE_PARALLEL_MAX)
        tap_bail("N = %s", argv[2]);
    calls_mode = argc > 3 && strcmp(argv[3], "calls") == 0;
    if (strcmp(argv[1], "bad") == 0) {
        config_tests();
        quant_shards(N);
        bad(N);
    }
    else if (strcmp(argv[1], "lost") == 0)
        lost(N);
    else
        examples(argv[1], N);
    return tap_exit();
}
