/* How a list runs (issue 15, execution cost): a queue's worker starts a list and PoCL
 * completion callbacks continue it past every point where the queue must be idle
 * (indirect launches, host-side commands, the copies after the last launch). These
 * checks fail if a continuation reads group counts or memory too early, loses or
 * reorders a command, re-uses a stale kernel argument, blocks in a callback instead of
 * handing a wait to the worker, or lets a destroy free a queue a callback still runs. */
#include "hd_test.h"

#include <time.h>

enum { STAGES = 12, RUNS = 20 };

static void nap_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

static ze_event_pool_handle_t pool_of(struct hdt *t, uint32_t n, ze_event_pool_flags_t flags)
{
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | flags, .count = n };
    ze_event_pool_handle_t p;
    ZE_CHECK(zeEventPoolCreate(t->ctx, &pd, 0, NULL, &p));
    return p;
}

static ze_event_handle_t event_of(ze_event_pool_handle_t p, uint32_t i)
{
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i,
                           .signal = ZE_EVENT_SCOPE_FLAG_HOST, .wait = ZE_EVENT_SCOPE_FLAG_HOST };
    ze_event_handle_t e;
    ZE_CHECK(zeEventCreate(p, &ed, &e));
    return e;
}

static ze_command_list_handle_t new_list(struct hdt *t)
{
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreate(t->ctx, t->dev, &ld, &l));
    return l;
}

/* STAGES pairs of (write_counts -> gc[i] = {i+1,1,1}; inc over data launched
 * indirectly with gc[i]): every indirect launch reads counts the kernel just before
 * it wrote, so each is a point where the list continues in a callback. The host
 * zeroes gc before each run: a count read before its kernel ran is 0 (no launch),
 * and data comes out short. Then the copies of the tail. */
static void chained_indirect(struct hdt *t, ze_kernel_handle_t inc, ze_kernel_handle_t wc)
{
    ze_group_count_t *gc = hdt_shared(t, STAGES * sizeof *gc);
    uint32_t *data = hdt_shared(t, STAGES * sizeof(uint32_t));
    uint32_t *out = hdt_shared(t, STAGES * sizeof(uint32_t));
    memset(data, 0, STAGES * sizeof(uint32_t));
    ZE_CHECK(zeKernelSetGroupSize(inc, 1, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ze_command_list_handle_t l = new_list(t);
    ze_group_count_t one = { 1, 1, 1 };
    for (uint32_t i = 0; i < STAGES; i++) {
        ze_group_count_t *g = &gc[i];
        uint32_t x = i + 1;
        ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof g, &g));
        ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
        ZE_CHECK(zeCommandListAppendLaunchKernel(l, wc, &one, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendBarrier(l, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(l, inc, g, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendBarrier(l, NULL, 0, NULL));
    }
    ZE_CHECK(zeCommandListAppendMemoryCopy(l, out, data, STAGES * sizeof(uint32_t), NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t->q, &fd, &f));
    int bad_runs = 0, bad_copy = 0;
    for (int r = 1; r <= RUNS; r++) {
        memset(gc, 0, STAGES * sizeof *gc);
        memset(out, 0xff, STAGES * sizeof(uint32_t));
        ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &l, f));
        ZE_CHECK(zeFenceHostSynchronize(f, UINT64_MAX));
        ZE_CHECK(zeFenceReset(f));
        /* data[j] gains one per stage i with i + 1 > j */
        int bad = 0;
        for (uint32_t j = 0; j < STAGES; j++) {
            bad += data[j] != (uint32_t)r * (STAGES - j);
            bad_copy += out[j] != data[j];
        }
        bad_runs += bad != 0;
    }
    TAP_EQ_INT(bad_runs, 0, "%d runs of %d chained indirect launches: each read the counts its kernel wrote",
               RUNS, STAGES);
    TAP_EQ_INT(bad_copy, 0, "the copy after the last launch saw the final data");
    ZE_CHECK(zeFenceDestroy(f));
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeMemFree(t->ctx, gc));
    ZE_CHECK(zeMemFree(t->ctx, data));
    ZE_CHECK(zeMemFree(t->ctx, out));
}

/* Thousands of tiny chained indirect launches: PoCL often completes the command a
 * continuation waits for before its callback is registered (then PoCL calls it at
 * once, in the registering thread); the runner must go on without nesting a level
 * per launch (a stack overflow) and without losing a launch. */
static void many_tiny(struct hdt *t, ze_kernel_handle_t inc, ze_kernel_handle_t wc)
{
    enum { PAIRS = 3000 };
    ze_group_count_t *gc = hdt_shared(t, PAIRS * sizeof *gc);
    uint32_t *data = hdt_shared(t, sizeof(uint32_t));
    memset(gc, 0, PAIRS * sizeof *gc);
    *data = 0;
    ZE_CHECK(zeKernelSetGroupSize(inc, 1, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    uint32_t x = 1;
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
    ze_command_list_handle_t l = new_list(t);
    ze_group_count_t one = { 1, 1, 1 };
    for (uint32_t i = 0; i < PAIRS; i++) {
        ze_group_count_t *g = &gc[i];
        ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof g, &g));
        ZE_CHECK(zeCommandListAppendLaunchKernel(l, wc, &one, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(l, inc, g, NULL, 0, NULL));
    }
    ZE_CHECK(zeCommandListClose(l));
    ZE_OK(zeCommandQueueExecuteCommandLists(t->q, 1, &l, NULL), "execute %d pairs of tiny launches", PAIRS);
    ZE_OK(zeCommandQueueSynchronize(t->q, UINT64_MAX), "and complete");
    TAP_EQ_INT(*data, PAIRS, "every indirect launch ran once");
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeMemFree(t->ctx, gc));
    ZE_CHECK(zeMemFree(t->ctx, data));
}

/* One kernel recorded with different arguments in two lists, and twice in one list:
 * run alternately, each launch must see its own values (hostdev keeps what PoCL has
 * and sets only what changed). */
static void argument_changes(struct hdt *t)
{
    ze_kernel_handle_t vadd = hdt_kernel(t->mod, "vadd");
    ZE_CHECK(zeKernelSetGroupSize(vadd, 8, 1, 1));
    enum { N = 64 };
    float *a = hdt_shared(t, N * sizeof(float)), *b = hdt_shared(t, N * sizeof(float));
    float *c1 = hdt_shared(t, N * sizeof(float)), *c2 = hdt_shared(t, N * sizeof(float));
    float *c3 = hdt_shared(t, N * sizeof(float));
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 1000.0f;
    }
    ze_group_count_t g = { N / 8, 1, 1 };
    ze_command_list_handle_t l1 = new_list(t), l2 = new_list(t);
    uint32_t n1 = N, n2 = N / 2, n3 = 8;
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 0, sizeof a, &a));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 1, sizeof b, &b));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 2, sizeof c1, &c1));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 3, sizeof n1, &n1));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l1, vadd, &g, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(l1, NULL, 0, NULL));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 2, sizeof c3, &c3));   /* only c and n change */
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 3, sizeof n3, &n3));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l1, vadd, &g, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l1));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 0, sizeof b, &b));     /* b + a into c2, n/2 */
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 1, sizeof a, &a));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 2, sizeof c2, &c2));
    ZE_CHECK(zeKernelSetArgumentValue(vadd, 3, sizeof n2, &n2));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l2, vadd, &g, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l2));
    int bad = 0;
    for (int r = 0; r < 6; r++) {
        memset(c1, 0, N * sizeof(float));
        memset(c2, 0, N * sizeof(float));
        memset(c3, 0, N * sizeof(float));
        ze_command_list_handle_t l = r % 2 ? l2 : l1;
        ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &l, NULL));
        ZE_CHECK(zeCommandQueueSynchronize(t->q, UINT64_MAX));
        for (int i = 0; i < N; i++) {
            float want1 = r % 2 ? 0.0f : (float)i + 1000.0f;
            float want2 = r % 2 && i < N / 2 ? (float)i + 1000.0f : 0.0f;
            float want3 = !(r % 2) && i < 8 ? (float)i + 1000.0f : 0.0f;
            bad += c1[i] != want1 || c2[i] != want2 || c3[i] != want3;
        }
    }
    TAP_EQ_INT(bad, 0, "two lists with one kernel and different arguments, run alternately: each run used its own");
    ZE_CHECK(zeCommandListDestroy(l1));
    ZE_CHECK(zeCommandListDestroy(l2));
    ZE_CHECK(zeKernelDestroy(vadd));
    void *bufs[] = { a, b, c1, c2, c3 };
    for (int i = 0; i < 5; i++)
        ZE_CHECK(zeMemFree(t->ctx, bufs[i]));
}

/* After a continuation in a callback, a wait on an event only the host will signal
 * goes to the worker: nothing after the wait runs early, nothing blocks a PoCL
 * thread (other queues keep running meanwhile), and it completes once signalled. */
static void host_wait_after_callback(struct hdt *t, ze_kernel_handle_t inc, ze_kernel_handle_t wc)
{
    ze_event_pool_handle_t pool = pool_of(t, 1, 0);
    ze_event_handle_t gate = event_of(pool, 0);
    ze_group_count_t *gc = hdt_shared(t, sizeof *gc);
    uint32_t *data = hdt_shared(t, 64 * sizeof(uint32_t)), *out = hdt_shared(t, 64 * sizeof(uint32_t));
    uint32_t *other = hdt_shared(t, 64 * sizeof(uint32_t));
    memset(data, 0, 64 * sizeof(uint32_t));
    memset(out, 0, 64 * sizeof(uint32_t));
    memset(other, 0, 64 * sizeof(uint32_t));
    memset(gc, 0, sizeof *gc);
    ZE_CHECK(zeKernelSetGroupSize(inc, 1, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    uint32_t x = 64;
    ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof gc, &gc));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ze_group_count_t one = { 1, 1, 1 }, all = { 64, 1, 1 };
    ze_command_list_handle_t l = new_list(t);
    ZE_CHECK(zeCommandListAppendLaunchKernel(l, wc, &one, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(l, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(l, inc, gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l, inc, &all, NULL, 1, &gate));
    ZE_CHECK(zeCommandListAppendMemoryCopy(l, out, data, 64 * sizeof(uint32_t), NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(t->q, &fd, &f));
    ZE_OK(zeCommandQueueExecuteCommandLists(t->q, 1, &l, f), "execute a list that waits for the host mid-way");
    nap_ms(30);
    TAP_EQ_INT(zeFenceQueryStatus(f), ZE_RESULT_NOT_READY, "not done before the host signals");
    int early = 0;
    for (int i = 0; i < 64; i++)
        early += out[i] != 0;
    TAP_EQ_INT(early, 0, "the copy after the wait did not run early");
    /* A second queue runs while the first waits for the host. */
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                   .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS };
    ze_command_queue_handle_t q2;
    ZE_CHECK(zeCommandQueueCreate(t->ctx, t->dev, &qd, &q2));
    ze_command_list_handle_t l2 = new_list(t);
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof other, &other));
    ZE_CHECK(zeCommandListAppendLaunchKernel(l2, inc, &all, NULL, 0, NULL));
    ZE_CHECK(zeCommandListClose(l2));
    ZE_CHECK(zeCommandQueueExecuteCommandLists(q2, 1, &l2, NULL));
    ZE_OK(zeCommandQueueSynchronize(q2, 2000000000ull), "another queue completes meanwhile");
    TAP_OK(other[0] == 1 && other[63] == 1, "and its kernel ran");
    ZE_OK(zeEventHostSignal(gate), "host signals the gate");
    ZE_OK(zeFenceHostSynchronize(f, UINT64_MAX), "the list completes");
    int bad = 0;
    for (int i = 0; i < 64; i++)
        bad += data[i] != 2 || out[i] != 2;
    TAP_EQ_INT(bad, 0, "both launches ran, in order, before the copy");
    ZE_CHECK(zeCommandListDestroy(l2));
    ZE_CHECK(zeCommandQueueDestroy(q2));
    ZE_CHECK(zeFenceDestroy(f));
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeEventDestroy(gate));
    ZE_CHECK(zeEventPoolDestroy(pool));
    void *bufs[] = { gc, data, out, other };
    for (int i = 0; i < 4; i++)
        ZE_CHECK(zeMemFree(t->ctx, bufs[i]));
}

/* Queue b continues in a callback and then waits for an event a kernel of queue a
 * signals: the wait goes to b's worker, which waits for a's PoCL command; the copy
 * after it sees a's result. */
static void cross_queue_wait(struct hdt *t, ze_kernel_handle_t inc, ze_kernel_handle_t wc)
{
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                   .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS };
    ze_command_queue_handle_t qa, qb;
    ZE_CHECK(zeCommandQueueCreate(t->ctx, t->dev, &qd, &qa));
    ZE_CHECK(zeCommandQueueCreate(t->ctx, t->dev, &qd, &qb));
    ze_event_pool_handle_t pool = pool_of(t, 1, 0);
    ze_event_handle_t done_a = event_of(pool, 0);
    enum { N = 4096 };
    uint32_t *a = hdt_shared(t, N * sizeof(uint32_t)), *b = hdt_shared(t, N * sizeof(uint32_t));
    uint32_t *c = hdt_shared(t, N * sizeof(uint32_t));
    ze_group_count_t *gc = hdt_shared(t, sizeof *gc);
    ze_kernel_handle_t inc_a = hdt_kernel(t->mod, "inc");
    ZE_CHECK(zeKernelSetGroupSize(inc_a, 64, 1, 1));
    ZE_CHECK(zeKernelSetArgumentValue(inc_a, 0, sizeof a, &a));
    ZE_CHECK(zeKernelSetGroupSize(inc, 64, 1, 1));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof b, &b));
    uint32_t x = N / 64;
    ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof gc, &gc));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
    ze_group_count_t g = { N / 64, 1, 1 }, one = { 1, 1, 1 };
    ze_command_list_handle_t la = new_list(t), lb = new_list(t);
    for (int i = 0; i < 8; i++) {
        ZE_CHECK(zeCommandListAppendLaunchKernel(la, inc_a, &g, i == 7 ? done_a : NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendBarrier(la, NULL, 0, NULL));
    }
    ZE_CHECK(zeCommandListClose(la));
    ZE_CHECK(zeCommandListAppendLaunchKernel(lb, wc, &one, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendBarrier(lb, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(lb, inc, gc, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(lb, c, a, N * sizeof(uint32_t), NULL, 1, &done_a));
    ZE_CHECK(zeCommandListClose(lb));
    int bad = 0;
    for (int r = 1; r <= 10; r++) {
        memset(a, 0, N * sizeof(uint32_t));
        memset(b, 0, N * sizeof(uint32_t));
        memset(c, 0, N * sizeof(uint32_t));
        memset(gc, 0, sizeof *gc);
        ZE_CHECK(zeEventHostReset(done_a));
        /* b first: it waits for a's event before a has even been submitted */
        ZE_CHECK(zeCommandQueueExecuteCommandLists(qb, 1, &lb, NULL));
        ZE_CHECK(zeCommandQueueExecuteCommandLists(qa, 1, &la, NULL));
        ZE_CHECK(zeCommandQueueSynchronize(qb, UINT64_MAX));
        ZE_CHECK(zeCommandQueueSynchronize(qa, UINT64_MAX));
        for (int i = 0; i < N; i++)
            bad += c[i] != 8 || b[i] != 1;
    }
    TAP_EQ_INT(bad, 0, "a copy waiting on another queue's kernel event saw that kernel's result (10 runs)");
    ZE_CHECK(zeCommandListDestroy(la));
    ZE_CHECK(zeCommandListDestroy(lb));
    ZE_CHECK(zeKernelDestroy(inc_a));
    ZE_CHECK(zeEventDestroy(done_a));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeCommandQueueDestroy(qa));
    ZE_CHECK(zeCommandQueueDestroy(qb));
    void *bufs[] = { a, b, c, gc };
    for (int i = 0; i < 4; i++)
        ZE_CHECK(zeMemFree(t->ctx, bufs[i]));
}

/* The tail after the last launch runs on the host once the kernels are done: a copy,
 * a fill, a timestamp query of the kernel's event and a reset of another event, all
 * in order after the kernel; the kernel's timestamps are real (end >= start), the
 * tail copy's event is signalled at or after the kernel's end. */
static void host_tail(struct hdt *t, ze_kernel_handle_t inc)
{
    ze_event_pool_handle_t pool = pool_of(t, 3, ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP);
    ze_event_handle_t ek = event_of(pool, 0), ec = event_of(pool, 1), er = event_of(pool, 2);
    enum { N = 1 << 16 };
    uint32_t *data = hdt_shared(t, N * sizeof(uint32_t)), *out = hdt_shared(t, N * sizeof(uint32_t));
    uint32_t *filled = hdt_shared(t, 256);
    ze_kernel_timestamp_result_t *ts = hdt_shared(t, sizeof *ts);
    memset(data, 0, N * sizeof(uint32_t));
    ZE_CHECK(zeKernelSetGroupSize(inc, 64, 1, 1));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ze_group_count_t g = { N / 64, 1, 1 };
    ze_command_list_handle_t l = new_list(t);
    ZE_CHECK(zeCommandListAppendLaunchKernel(l, inc, &g, ek, 0, NULL));
    ZE_CHECK(zeCommandListAppendMemoryCopy(l, out, data, N * sizeof(uint32_t), ec, 1, &ek));
    uint32_t pat = 0x5a5a5a5au;
    ZE_CHECK(zeCommandListAppendMemoryFill(l, filled, &pat, sizeof pat, 256, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendQueryKernelTimestamps(l, 1, &ek, ts, NULL, NULL, 0, NULL));
    ZE_CHECK(zeCommandListAppendEventReset(l, er));
    ZE_CHECK(zeCommandListClose(l));
    int bad = 0, bad_ts = 0, bad_order = 0, bad_reset = 0;
    for (int r = 1; r <= 10; r++) {
        memset(out, 0, N * sizeof(uint32_t));
        memset(filled, 0, 256);
        memset(ts, 0, sizeof *ts);
        ZE_CHECK(zeEventHostReset(ek));
        ZE_CHECK(zeEventHostReset(ec));
        ZE_CHECK(zeEventHostSignal(er));
        ZE_CHECK(zeCommandQueueExecuteCommandLists(t->q, 1, &l, NULL));
        ZE_CHECK(zeCommandQueueSynchronize(t->q, UINT64_MAX));
        for (int i = 0; i < N; i++)
            bad += out[i] != (uint32_t)r;
        for (int i = 0; i < 64; i++)
            bad += filled[i] != pat;
        ze_kernel_timestamp_result_t kr, cr;
        ZE_CHECK(zeEventQueryKernelTimestamp(ek, &kr));
        ZE_CHECK(zeEventQueryKernelTimestamp(ec, &cr));
        bad_ts += ts->global.kernelEnd != kr.global.kernelEnd || ts->global.kernelStart != kr.global.kernelStart ||
                  kr.global.kernelEnd < kr.global.kernelStart || kr.global.kernelStart == 0;
        bad_order += cr.global.kernelEnd < kr.global.kernelEnd;
        bad_reset += zeEventQueryStatus(er) != ZE_RESULT_NOT_READY;
    }
    TAP_EQ_INT(bad, 0, "copy and fill after the last kernel saw its result (10 runs)");
    TAP_EQ_INT(bad_ts, 0, "the timestamp query in the tail wrote the kernel's own timestamps");
    TAP_EQ_INT(bad_order, 0, "the tail copy's event is signalled at or after the kernel's end");
    TAP_EQ_INT(bad_reset, 0, "the event reset in the tail took effect");
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeEventDestroy(ek));
    ZE_CHECK(zeEventDestroy(ec));
    ZE_CHECK(zeEventDestroy(er));
    ZE_CHECK(zeEventPoolDestroy(pool));
    void *bufs[] = { data, out, filled, ts };
    for (int i = 0; i < 4; i++)
        ZE_CHECK(zeMemFree(t->ctx, bufs[i]));
}

/* A queue destroyed (or its context) while a list with many callback continuations
 * is running: the destroy waits for the callback runner, nothing crashes (ASan). */
static void destroy_while_running(struct hdt *t, ze_kernel_handle_t inc, ze_kernel_handle_t wc)
{
    ze_group_count_t *gc = hdt_shared(t, sizeof *gc);
    uint32_t *data = hdt_shared(t, 64 * sizeof(uint32_t));
    memset(data, 0, 64 * sizeof(uint32_t));
    ZE_CHECK(zeKernelSetGroupSize(inc, 1, 1, 1));
    ZE_CHECK(zeKernelSetGroupSize(wc, 1, 1, 1));
    uint32_t x = 64;
    ZE_CHECK(zeKernelSetArgumentValue(wc, 0, sizeof gc, &gc));
    ZE_CHECK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    ze_command_list_handle_t l = new_list(t);
    ze_group_count_t one = { 1, 1, 1 };
    for (int i = 0; i < 16; i++) {
        ZE_CHECK(zeCommandListAppendLaunchKernel(l, wc, &one, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendBarrier(l, NULL, 0, NULL));
        ZE_CHECK(zeCommandListAppendLaunchKernelIndirect(l, inc, gc, NULL, 0, NULL));
    }
    ZE_CHECK(zeCommandListClose(l));
    int ok = 0;
    for (int r = 0; r < 20; r++) {
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                       .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS };
        ze_command_queue_handle_t q;
        ZE_CHECK(zeCommandQueueCreate(t->ctx, t->dev, &qd, &q));
        ze_command_list_handle_t ls[3] = { l, l, l };
        ZE_CHECK(zeCommandQueueExecuteCommandLists(q, 3, ls, NULL));
        if (r % 2)
            nap_ms(1);
        ok += zeCommandQueueDestroy(q) == ZE_RESULT_SUCCESS;
    }
    TAP_EQ_INT(ok, 20, "queues destroyed while their lists ran in callbacks");
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeMemFree(t->ctx, gc));
    ZE_CHECK(zeMemFree(t->ctx, data));
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_kernel_handle_t inc = hdt_kernel(t.mod, "inc"), wc = hdt_kernel(t.mod, "write_counts");
    chained_indirect(&t, inc, wc);
    many_tiny(&t, inc, wc);
    argument_changes(&t);
    host_wait_after_callback(&t, inc, wc);
    cross_queue_wait(&t, inc, wc);
    host_tail(&t, inc);
    destroy_while_running(&t, inc, wc);
    ZE_CHECK(zeKernelDestroy(inc));
    ZE_CHECK(zeKernelDestroy(wc));
    hdt_fini(&t);
    return tap_exit();
}
