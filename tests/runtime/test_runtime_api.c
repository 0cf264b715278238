/* The runtime API's contract on hostdev: names of statuses and stages, bad arguments
 * to every entry point (ZMOE_ERR_ARGUMENT with a message), the phase state machine,
 * the budget check before any allocation, the pure buffer plan, caller-provided host
 * memory, and create -> destroy -> create. */
#include "rt_util.h"

#include "rt_count.h"

#include <stdio.h>

static void test_names(void)
{
    bool distinct = true, named = true;
    for (int a = ZMOE_OK; a <= ZMOE_NOT_READY; a++) {
        const char *s = zmoe_status_str((enum zmoe_status)a);
        named = named && s && *s && strcmp(s, "unknown status") != 0;
        for (int b = ZMOE_OK; b < a; b++)
            distinct = distinct && strcmp(s, zmoe_status_str((enum zmoe_status)b)) != 0;
    }
    TAP_OK(named && distinct, "every status has its own name");
    TAP_OK(strcmp(zmoe_status_str((enum zmoe_status)999), "unknown status") == 0, "unknown status");
    static const char *const stages[] = {"router", "align", "expert_up", "expert_down", "combine"};
    bool ok = true;
    for (int s = 0; s < ZMOE_STAGE_COUNT; s++)
        ok = ok && strcmp(zmoe_stage_name((enum zmoe_stage)s), stages[s]) == 0;
    TAP_OK(ok && strcmp(zmoe_stage_name(ZMOE_STAGE_COUNT), "unknown") == 0, "stage names");
}

#define BAD(call, what)                                                                            \
    do {                                                                                           \
        struct zmoe_error e_ = {{0}};                                                              \
        struct zmoe_error *err_ = &e_;                                                             \
        (void)err_;                                                                                \
        enum zmoe_status st_ = (call);                                                             \
        TAP_OK(st_ == ZMOE_ERR_ARGUMENT && e_.msg[0], "%s -> ZMOE_ERR_ARGUMENT (%s)", what,        \
               e_.msg);                                                                            \
    } while (0)

static void test_bad_arguments(void)
{
    struct zmoe_config c = rt_base_config();
    struct zmoe_runtime *rt = rt_create(&c, "bad args");
    if (!rt)
        tap_bail("cannot create a runtime");
    struct zmoe_create_info info = {.config = &c};
    struct zmoe_create_info noconf = {.config = NULL};
    struct zmoe_create_info halfdev = {.config = &c, .device = (ze_device_handle_t)&c};
    struct zmoe_create_info zerohost = {.config = &c, .host_memory = &c, .host_memory_bytes = 0};
    struct zmoe_runtime *out;
    struct zmoe_slot slot, bogus = {.index = 99};
    uint32_t tok = 1;
    float buf[64];
    BAD(zmoe_create(NULL, &out, err_), "zmoe_create(NULL info)");
    BAD(zmoe_create(&noconf, &out, err_), "zmoe_create(info without config)");
    BAD(zmoe_create(&info, NULL, err_), "zmoe_create(NULL out)");
    BAD(zmoe_create(&halfdev, &out, err_), "zmoe_create(device without context)");
    BAD(zmoe_create(&zerohost, &out, err_), "zmoe_create(host_memory of 0 bytes)");
    BAD(zmoe_load_weights(NULL, err_), "zmoe_load_weights(NULL)");
    BAD(zmoe_slot_acquire(NULL, &slot, err_), "zmoe_slot_acquire(NULL runtime)");
    BAD(zmoe_slot_acquire(rt, NULL, err_), "zmoe_slot_acquire(NULL slot)");
    TAP_EQ_INT(zmoe_slot_acquire(rt, &slot, NULL), ZMOE_OK, "acquire (a NULL error buffer is allowed)");
    BAD(zmoe_submit(NULL, &slot, 0, 1, err_), "zmoe_submit(NULL runtime)");
    BAD(zmoe_submit(rt, NULL, 0, 1, err_), "zmoe_submit(NULL slot)");
    BAD(zmoe_submit(rt, &bogus, 0, 1, err_), "zmoe_submit(slot of another ring)");
    BAD(zmoe_submit(rt, &slot, 1, 1, err_), "zmoe_submit(layer out of range)");
    BAD(zmoe_submit(rt, &slot, 0, 0, err_), "zmoe_submit(0 tokens)");
    BAD(zmoe_submit(rt, &slot, 0, c.runtime.max_tokens + 1, err_), "zmoe_submit(tokens > max_tokens)");
    BAD(zmoe_wait(NULL, &slot, 0, err_), "zmoe_wait(NULL runtime)");
    BAD(zmoe_wait(rt, NULL, 0, err_), "zmoe_wait(NULL slot)");
    BAD(zmoe_wait(rt, &bogus, 0, err_), "zmoe_wait(slot of another ring)");
    BAD(zmoe_poll(NULL, &slot, err_), "zmoe_poll(NULL runtime)");
    BAD(zmoe_poll(rt, &bogus, err_), "zmoe_poll(slot of another ring)");
    BAD(zmoe_record(NULL, (ze_command_list_handle_t)&c, 0, buf, buf, &tok, err_), "zmoe_record(NULL runtime)");
    BAD(zmoe_record(rt, NULL, 0, buf, buf, &tok, err_), "zmoe_record(NULL list)");
    BAD(zmoe_record(rt, (ze_command_list_handle_t)&c, 0, NULL, buf, &tok, err_), "zmoe_record(NULL x)");
    BAD(zmoe_record(rt, (ze_command_list_handle_t)&c, 0, buf, NULL, &tok, err_), "zmoe_record(NULL y)");
    BAD(zmoe_record(rt, (ze_command_list_handle_t)&c, 0, buf, buf, NULL, err_), "zmoe_record(NULL tokens)");
    BAD(zmoe_record(rt, (ze_command_list_handle_t)&c, 5, buf, buf, &tok, err_), "zmoe_record(layer out of range)");
    struct zmoe_stats s;
    TAP_EQ_INT(zmoe_get_stats(NULL, &s), ZMOE_ERR_ARGUMENT, "zmoe_get_stats(NULL runtime)");
    TAP_EQ_INT(zmoe_get_stats(rt, NULL), ZMOE_ERR_ARGUMENT, "zmoe_get_stats(NULL out)");
    zmoe_destroy(NULL); /* must be a no-op */
    TAP_OK(1, "zmoe_destroy(NULL) returns");
    zmoe_destroy(rt);
}

static void test_states(void)
{
    struct zmoe_config c = rt_base_config();
    c.runtime.ring_depth = 2;
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err;
    struct zmoe_create_info info = {.config = &c};
    if (zmoe_create(&info, &rt, &err))
        tap_bail("create: %s", err.msg);
    struct zmoe_slot a, b, x;
    TAP_EQ_INT(zmoe_slot_acquire(rt, &a, &err), ZMOE_ERR_STATE, "acquire before load_weights: ZMOE_ERR_STATE");
    TAP_EQ_INT(zmoe_load_weights(rt, &err), ZMOE_OK, "load_weights");
    TAP_OK(zmoe_load_weights(rt, &err) == ZMOE_ERR_STATE && err.msg[0], "load_weights twice: ZMOE_ERR_STATE (%s)", err.msg);
    TAP_EQ_INT(zmoe_slot_acquire(rt, &a, &err), ZMOE_OK, "acquire slot A");
    TAP_EQ_INT(zmoe_wait(rt, &a, 0, &err), ZMOE_ERR_STATE, "wait on an acquired, unsubmitted slot: ZMOE_ERR_STATE");
    TAP_EQ_INT(zmoe_slot_acquire(rt, &b, &err), ZMOE_OK, "acquire slot B");
    TAP_OK(zmoe_slot_acquire(rt, &x, &err) == ZMOE_ERR_STATE && err.msg[0],
           "a third acquire with both slots unsubmitted: ZMOE_ERR_STATE (%s)", err.msg);
    memset(a.input_host, 0, c.model.hidden * sizeof(float));
    TAP_EQ_INT(zmoe_submit(rt, &a, 0, 1, &err), ZMOE_OK, "submit A");
    TAP_EQ_INT(zmoe_submit(rt, &a, 0, 1, &err), ZMOE_ERR_STATE, "submit A again without acquiring: ZMOE_ERR_STATE");
    TAP_EQ_INT(zmoe_wait(rt, &a, UINT64_MAX, &err), ZMOE_OK, "wait A");
    TAP_EQ_INT(zmoe_wait(rt, &a, UINT64_MAX, &err), ZMOE_OK, "wait A again: already finished");
    TAP_EQ_INT(zmoe_load_weights(rt, &err), ZMOE_ERR_STATE, "load_weights after a submit: ZMOE_ERR_STATE");
    uint32_t tok = 1;
    TAP_EQ_INT(zmoe_record(rt, (ze_command_list_handle_t)&c, 0, &tok, &tok, &tok, &err), ZMOE_ERR_STATE,
               "record after a submit: ZMOE_ERR_STATE");
    memset(b.input_host, 0, c.model.hidden * sizeof(float));
    TAP_EQ_INT(zmoe_submit(rt, &b, 0, 1, &err), ZMOE_OK, "submit B");
    zmoe_destroy(rt); /* with B in flight: destroy waits, then frees */
    TAP_OK(1, "destroy with a slot in flight returns");
}

static void test_budget(void)
{
    struct zmoe_config c = rt_base_config();
    rt_tracer_start(); /* zeInit happened in earlier tests */
    c.budget.device_bytes = 200000; /* weights alone are 198656 bytes; activations and I/O exceed */
    struct zmoe_runtime *rt = (struct zmoe_runtime *)&c;
    struct zmoe_error err;
    struct zmoe_create_info info = {.config = &c};
    rt_counts_reset();
    enum zmoe_status st = RT_IN(zmoe_create(&info, &rt, &err));
    TAP_OK(st == ZMOE_ERR_BUDGET && rt == NULL && strstr(err.msg, "w13"),
           "device budget exceeded: ZMOE_ERR_BUDGET naming the largest consumer (%s)", err.msg);
    TAP_EQ_INT(rt_ze[RT_ZE_ALLOC_DEVICE] + rt_ze[RT_ZE_ALLOC_HOST] + rt_ze[RT_ZE_ALLOC_SHARED] +
                   rt_ze[RT_ZE_MODULE_CREATE] + rt_ze[RT_ZE_LIST_CREATE],
               0, "no Level Zero allocation or object before the budget check");
    c = rt_base_config();
    c.budget.host_bytes = 4096;
    rt_counts_reset();
    st = RT_IN(zmoe_create(&info, &rt, &err));
    TAP_OK(st == ZMOE_ERR_BUDGET && rt_mallocs == 0, "host budget below the runtime structures: ZMOE_ERR_BUDGET "
           "before any malloc (%s)", err.msg);
}

static void test_plan(void)
{
    struct zmoe_config c = rt_base_config();
    c.model.layers = 3;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = 16;
    c.router.shared_expert_gate = true;
    c.experts.bias = true;
    c.runtime.ring_depth = 3;
    uint32_t cap = zmoe_runtime_max_buffers(&c);
    struct zmoe_buffer *b = calloc(cap, sizeof *b);
    struct zmoe_plan plan;
    struct zmoe_runtime_buffers ids;
    struct zmoe_error err;
    zmoe_plan_init(&plan, b, cap);
    rt_counts_reset();
    enum zmoe_status st = RT_IN(zmoe_runtime_plan(&c, &plan, &ids, &err));
    TAP_OK(st == ZMOE_OK && plan.phase == ZMOE_PHASE_PLANNED && plan.count <= cap,
           "zmoe_runtime_plan solves %u buffers within the exported maximum %u", plan.count, cap);
    TAP_OK(rt_mallocs == 0 && rt_ze_total() == 0, "planning is pure: no malloc, no Level Zero call");
    TAP_OK(!zmoe_plan_has_overlap(&plan, &err), "no live buffers overlap (%s)", err.msg);
    bool weights = true;
    for (uint32_t l = 0; l < 3; l++)
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
            uint32_t i = zmoe_runtime_weight_buffer(&ids, l, (enum zmoe_tensor)t);
            bool present = zmoe_tensor_present(&c, (enum zmoe_tensor)t);
            if (present != (i != ZMOE_NO_BUFFER))
                weights = false;
            else if (present)
                weights = weights && b[i].category == ZMOE_CATEGORY_WEIGHT &&
                          b[i].size == zmoe_tensor_elements(&c, (enum zmoe_tensor)t) *
                                           zmoe_dtype_size(zmoe_tensor_dtype(&c, (enum zmoe_tensor)t));
        }
    TAP_OK(weights, "every present tensor of every layer is a weight buffer of its exact size");
    /* reuse: some activations of disjoint stage intervals share bytes */
    int shared_pairs = 0;
    for (int x = 0; x < ZMOE_ACT_COUNT; x++)
        for (int y = 0; y < x; y++) {
            const struct zmoe_buffer *p = &b[ids.act[x]], *q = &b[ids.act[y]];
            bool bytes = p->offset < q->offset + q->size && q->offset < p->offset + p->size;
            bool alive = p->first_stage <= q->last_stage && q->first_stage <= p->last_stage;
            if (bytes && !alive)
                shared_pairs++;
        }
    TAP_OK(shared_pairs > 0, "stages reuse each other's activation memory (%d pairs share bytes)", shared_pairs);
    bool slots = true;
    for (uint32_t s = 0; s < 3; s++) {
        slots = slots && b[zmoe_runtime_slot_buffer(&ids, s, ZMOE_SLOT_X_HOST)].memory == ZMOE_MEMORY_HOST_VISIBLE &&
                b[zmoe_runtime_slot_buffer(&ids, s, ZMOE_SLOT_PARAMS)].category == ZMOE_CATEGORY_PARAM &&
                b[zmoe_runtime_slot_buffer(&ids, s, ZMOE_SLOT_X_DEVICE)].memory == ZMOE_MEMORY_DEVICE;
    }
    TAP_OK(slots && b[ids.staging].category == ZMOE_CATEGORY_STAGING &&
               b[ids.staging].memory == ZMOE_MEMORY_HOST_VISIBLE,
           "per-slot I/O and parameter blocks, host-visible staging");
    zmoe_plan_init(&plan, b, cap - 1);
    TAP_EQ_INT(zmoe_runtime_plan(&c, &plan, &ids, &err), ZMOE_ERR_ARGUMENT, "a plan below the maximum is refused");
    c.model.experts = ZMOE_KERNEL_EMAX + 1;
    TAP_EQ_INT(zmoe_runtime_check_config(&c, &err), ZMOE_ERR_CONFIG, "more experts than the align kernel handles");
    c.model.experts = 8;
    c.model.hidden = 1u << 16;
    c.runtime.max_tokens = 1u << 16;
    TAP_OK(zmoe_runtime_check_config(&c, &err) == ZMOE_ERR_CONFIG && strstr(err.msg, "max_tokens * hidden"),
           "x beyond 32-bit element offsets is refused: %s", err.msg);
    c.runtime.max_tokens = (1u << 16) - 1;
    TAP_EQ_INT(zmoe_runtime_check_config(&c, &err), ZMOE_OK, "x just below 2^32 elements passes");
    free(b);
}

static void test_host_memory(void)
{
    struct zmoe_config c = rt_base_config();
    size_t need = zmoe_runtime_host_bytes(&c);
    void *mem = malloc(need);
    struct zmoe_create_info small = {.config = &c, .host_memory = mem, .host_memory_bytes = need / 2};
    struct zmoe_runtime *rt = NULL;
    struct zmoe_error err;
    TAP_EQ_INT(zmoe_create(&small, &rt, &err), ZMOE_ERR_NO_MEMORY, "caller memory below the need: ZMOE_ERR_NO_MEMORY");
    struct zmoe_create_info info = {.config = &c, .host_memory = mem, .host_memory_bytes = need};
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    TAP_OK(st == ZMOE_OK && (void *)rt >= mem && (char *)rt < (char *)mem + need,
           "runtime structures live in the caller's %zu bytes", need);
    float *x = rt_inputs(&c, 2, 3), y[2 * 64], ref[2 * 64];
    struct zmoe_ref_weights w;
    zmoe_ref_weights_synthetic(&c, 0, &w);
    zmoe_ref_forward(&c, &w, x, 2, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    zmoe_ref_weights_free(&w);
    st = st ? st : zmoe_load_weights(rt, &err);
    st = st ? st : rt_forward(rt, &c, 0, x, 2, y);
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 2 * 64, NULL) <= rt_tolerance(&c), "and it computes");
    zmoe_destroy(rt);
    /* create -> destroy -> create */
    rt = rt_create(&c, "again");
    st = rt ? rt_forward(rt, &c, 0, x, 2, y) : ZMOE_ERR_STATE;
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 2 * 64, NULL) <= rt_tolerance(&c),
           "a new runtime after destroy works");
    zmoe_destroy(rt);
    free(x);
    free(mem);
}

/* Run without ZE_ENABLE_ALT_DRIVERS on a machine without an Intel GPU: the runtime must
 * make hostdev visible itself, as the only driver (loader 1.8.12 replaces its list with
 * the variable's, and with two drivers it allocates on every execute). */
static void test_device_choice(void)
{
    unsetenv("ZE_ENABLE_ALT_DRIVERS");
    struct zmoe_config c = rt_base_config();
    c.runtime.device = ZMOE_DEVICE_AUTO;
    struct zmoe_runtime *rt = rt_create(&c, "auto");
    struct zmoe_stats s = {0};
    if (rt)
        zmoe_get_stats(rt, &s);
    const char *env = getenv("ZE_ENABLE_ALT_DRIVERS");
    TAP_OK(env && !strchr(env, ',') && strstr(env, "libze_hostdev.so"),
           "ZE_ENABLE_ALT_DRIVERS set to hostdev alone: %s", env ? env : "(unset)");
    TAP_OK(rt && strstr(s.device_reason, "auto: no Intel GPU, hostdev") && strstr(s.device_reason, "build tree"),
           "auto picks hostdev when no Intel GPU is present: %s", s.device_reason);
    float *x = rt_inputs(&c, 1, 9), y[64], ref[64];
    struct zmoe_ref_weights w;
    zmoe_ref_weights_synthetic(&c, 0, &w);
    zmoe_ref_forward(&c, &w, x, 1, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
    zmoe_ref_weights_free(&w);
    enum zmoe_status st = rt ? rt_forward(rt, &c, 0, x, 1, y) : ZMOE_ERR_STATE;
    TAP_OK(st == ZMOE_OK && rt_rel_error(y, ref, 64, NULL) <= rt_tolerance(&c), "and computes correctly");
    free(x);
    zmoe_destroy(rt);
    c.runtime.device = ZMOE_DEVICE_GPU;
    struct zmoe_error err;
    struct zmoe_create_info info = {.config = &c};
    st = zmoe_create(&info, &rt, &err);
    TAP_OK(st == ZMOE_ERR_NO_DEVICE && strstr(err.msg, "Intel GPU"),
           "device=gpu without an Intel GPU: ZMOE_ERR_NO_DEVICE (%s)", err.msg);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "choice") == 0) {
        test_device_choice();
        return tap_exit();
    }
    test_names();
    test_bad_arguments();
    test_states();
    test_budget();
    test_plan();
    test_host_memory();
    return tap_exit();
}
