/* Host waits wake for the object they wait on, not for every signal:
 *  - HOSTDEV_WAIT_STATS counts: a fence waiter sleeps once per execution of a list
 *    that signals five events before the fence (it used to wake for each event);
 *  - many threads waiting on distinct and on shared events, signalled by the host
 *    and by a queue in random order: each returns only once its event is signalled;
 *  - fences of several queues, opened in random order, two waiters each;
 *  - short timeouts under concurrent signalling return ZE_RESULT_NOT_READY in time;
 *  - an event destroyed while a host thread or a queue waits for it, and a device
 *    loss, end the waits (no hang, no crash). */
#include "hd_test.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static struct hdt t;
static ze_kernel_handle_t inc;
static uint32_t *data;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned rng = 12345;
static unsigned rnd(unsigned n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) % n;
}

static void shuffle(int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rnd((unsigned)i + 1), x = a[i];
        a[i] = a[j];
        a[j] = x;
    }
}

static ze_event_pool_handle_t pool_new(ze_context_handle_t ctx, uint32_t n)
{
    ze_event_pool_desc_t pd = { .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
                                .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP,
                                .count = n };
    ze_event_pool_handle_t p;
    ZE_CHECK(zeEventPoolCreate(ctx, &pd, 0, NULL, &p));
    return p;
}

static ze_event_handle_t event_new(ze_event_pool_handle_t p, uint32_t i)
{
    ze_event_desc_t ed = { .stype = ZE_STRUCTURE_TYPE_EVENT_DESC, .index = i };
    ze_event_handle_t e;
    ZE_CHECK(zeEventCreate(p, &ed, &e));
    return e;
}

/* ------------------------------------------------ wake-up counts (stats) */

/* Runs zeContextDestroy with stderr captured; parses hostdev's stats line. */
static int destroy_with_stats(ze_context_handle_t ctx, unsigned long long v[3])
{
    char path[] = "/tmp/hostdev_wake_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        tap_bail("mkstemp");
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    ze_result_t r = zeContextDestroy(ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ZE_OK(r, "context destroyed");
    char buf[4096] = "";
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    const char *s = strstr(buf, "hostdev: wait stats: ");
    if (s && sscanf(s, "hostdev: wait stats: %llu blocking host waits, %llu sleeps, %llu idle wake-ups", &v[0],
                    &v[1], &v[2]) == 3)
        return 1;
    tap_diag("stderr was: %s", buf);
    return 0;
}

static void wake_counts(void)
{
    enum { ROUNDS = 40, EVENTS = 5 };
    setenv("HOSTDEV_WAIT_STATS", "1", 1);
    setenv("HOSTDEV_EXEC_LATENCY_US", "2000", 1);   /* the host always gets to sleep */
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t ctx;
    ZE_CHECK(zeContextCreate(t.drv, &cd, &ctx));
    unsetenv("HOSTDEV_WAIT_STATS");
    unsetenv("HOSTDEV_EXEC_LATENCY_US");
    ze_module_handle_t mod = hdt_module(ctx, t.dev);
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "inc" };
    ze_kernel_handle_t k;
    ZE_CHECK(zeKernelCreate(mod, &kd, &k));
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    uint32_t *buf;
    ZE_CHECK(zeMemAllocShared(ctx, &dd, &hd, 64 * sizeof(uint32_t), 64, t.dev, (void **)&buf));
    memset(buf, 0, 64 * sizeof(uint32_t));
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof buf, &buf));
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_queue_handle_t q;
    ZE_CHECK(zeCommandQueueCreate(ctx, t.dev, &qd, &q));
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreate(ctx, t.dev, &ld, &l));
    ze_event_pool_handle_t pool = pool_new(ctx, EVENTS);
    ze_event_handle_t ev[EVENTS];
    ze_group_count_t gc = { 64, 1, 1 };
    for (int i = 0; i < EVENTS; i++) {
        ev[i] = event_new(pool, (uint32_t)i);
        ZE_CHECK(zeCommandListAppendEventReset(l, ev[i]));
    }
    for (int i = 0; i < EVENTS; i++)
        ZE_CHECK(zeCommandListAppendLaunchKernel(l, k, &gc, ev[i], 0, NULL));
    ZE_CHECK(zeCommandListClose(l));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    ZE_CHECK(zeFenceCreate(q, &fd, &f));
    int fails = 0;
    for (int r = 0; r < ROUNDS; r++)
        fails += zeCommandQueueExecuteCommandLists(q, 1, &l, f) != ZE_RESULT_SUCCESS ||
                 zeFenceHostSynchronize(f, UINT64_MAX) != ZE_RESULT_SUCCESS || zeFenceReset(f) != ZE_RESULT_SUCCESS;
    TAP_EQ_INT(fails, 0, "%d executions of a list signalling %d events, each waited for on its fence", ROUNDS,
               EVENTS);
    TAP_EQ_INT(buf[0], ROUNDS * EVENTS, "every launch ran");
    ZE_CHECK(zeFenceDestroy(f));
    for (int i = 0; i < EVENTS; i++)
        ZE_CHECK(zeEventDestroy(ev[i]));
    ZE_CHECK(zeEventPoolDestroy(pool));
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeCommandQueueDestroy(q));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeModuleDestroy(mod));
    ZE_CHECK(zeMemFree(ctx, buf));
    unsigned long long v[3] = { 0, 0, 0 };
    TAP_OK(destroy_with_stats(ctx, v), "HOSTDEV_WAIT_STATS prints its line at zeContextDestroy");
    tap_diag("blocking waits %llu, sleeps %llu, idle wake-ups %llu", v[0], v[1], v[2]);
    TAP_OK(v[0] >= ROUNDS / 2 && v[0] <= ROUNDS, "the fence waits blocked (%llu of %d)", v[0], ROUNDS);
    /* One sleep per wait; a little slack for wake-ups the kernel itself invents. */
    TAP_OK(v[1] <= v[0] + ROUNDS / 10, "one sleep per blocking wait, not one per event (%llu sleeps)", v[1]);
    TAP_OK(v[2] <= ROUNDS / 10, "no wake-ups for the list's events (%llu)", v[2]);
}

/* ------------------------------------------------------ events, many waiters */

enum { EV = 24, WAITERS = 36 };
static ze_event_handle_t evs[EV];
static volatile int opened[EV];
static int bad_early, bad_result;
static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;

static void bad(int *counter)
{
    pthread_mutex_lock(&bad_lock);
    (*counter)++;
    pthread_mutex_unlock(&bad_lock);
}

static void *event_waiter(void *arg)
{
    int id = (int)(intptr_t)arg, e = id % EV;
    /* Half wait forever, half with a long finite timeout. */
    ze_result_t r = zeEventHostSynchronize(evs[e], id % 2 ? UINT64_MAX : 30000000000ull);
    if (r != ZE_RESULT_SUCCESS)
        bad(&bad_result);
    else if (!__atomic_load_n(&opened[e], __ATOMIC_ACQUIRE))
        bad(&bad_early);
    return NULL;
}

static void events_many_waiters(void)
{
    enum { ROUNDS = 12 };
    ze_event_pool_handle_t pool = pool_new(t.ctx, EV);
    for (int i = 0; i < EV; i++)
        evs[i] = event_new(pool, (uint32_t)i);
    ze_event_pool_handle_t gate_pool = pool_new(t.ctx, 1);
    ze_event_handle_t gate = event_new(gate_pool, 0);
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &l));
    for (int r = 0; r < ROUNDS; r++) {
        int order[EV];
        for (int i = 0; i < EV; i++) {
            order[i] = i;
            opened[i] = 0;
            ZE_CHECK(zeEventHostReset(evs[i]));
        }
        ZE_CHECK(zeEventHostReset(gate));
        shuffle(order, EV);
        /* The queue signals the first half of the order (after the gate), the host
         * the other half, interleaved in time. */
        ZE_CHECK(zeCommandListReset(l));
        ZE_CHECK(zeCommandListAppendWaitOnEvents(l, 1, &gate));
        for (int i = 0; i < EV / 2; i++)
            ZE_CHECK(zeCommandListAppendSignalEvent(l, evs[order[i]]));
        ZE_CHECK(zeCommandListClose(l));
        ZE_CHECK(zeCommandQueueExecuteCommandLists(t.q, 1, &l, NULL));
        pthread_t th[WAITERS];
        for (int i = 0; i < WAITERS; i++)
            pthread_create(&th[i], NULL, event_waiter, (void *)(intptr_t)i);
        usleep(2000);
        for (int i = EV / 2; i < EV; i++) {
            if (i == EV / 2 + 3) {
                for (int j = 0; j < EV / 2; j++)
                    __atomic_store_n(&opened[order[j]], 1, __ATOMIC_RELEASE);
                ZE_CHECK(zeEventHostSignal(gate));
            }
            __atomic_store_n(&opened[order[i]], 1, __ATOMIC_RELEASE);
            ZE_CHECK(zeEventHostSignal(evs[order[i]]));
            if (rnd(3) == 0)
                usleep(200);
        }
        for (int i = 0; i < WAITERS; i++)
            pthread_join(th[i], NULL);
        ZE_CHECK(zeCommandQueueSynchronize(t.q, UINT64_MAX));
    }
    TAP_EQ_INT(bad_result, 0, "%d rounds x %d threads on %d events (some shared): every wait succeeded", ROUNDS,
               WAITERS, EV);
    TAP_EQ_INT(bad_early, 0, "no waiter returned before its own event was signalled");
    ZE_CHECK(zeCommandListDestroy(l));
    for (int i = 0; i < EV; i++)
        ZE_CHECK(zeEventDestroy(evs[i]));
    ZE_CHECK(zeEventDestroy(gate));
    ZE_CHECK(zeEventPoolDestroy(gate_pool));
    ZE_CHECK(zeEventPoolDestroy(pool));
}

/* ------------------------------------------------------ fences, many queues */

enum { QUEUES = 6 };
static ze_fence_handle_t fences[QUEUES];
static volatile int fence_open[QUEUES];

static void *fence_waiter(void *arg)
{
    int id = (int)(intptr_t)arg, qi = id % QUEUES;
    ze_result_t r = zeFenceHostSynchronize(fences[qi], id < QUEUES ? UINT64_MAX : 30000000000ull);
    if (r != ZE_RESULT_SUCCESS)
        bad(&bad_result);
    else if (!__atomic_load_n(&fence_open[qi], __ATOMIC_ACQUIRE))
        bad(&bad_early);
    return NULL;
}

static void fences_many_queues(void)
{
    enum { ROUNDS = 10 };
    bad_result = bad_early = 0;
    ze_event_pool_handle_t pool = pool_new(t.ctx, QUEUES);
    ze_event_handle_t gates[QUEUES];
    ze_command_queue_handle_t qs[QUEUES];
    ze_command_list_handle_t ls[QUEUES];
    ze_group_count_t gc = { 64, 1, 1 };
    for (int i = 0; i < QUEUES; i++) {
        gates[i] = event_new(pool, (uint32_t)i);
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
        ZE_CHECK(zeCommandQueueCreate(t.ctx, t.dev, &qd, &qs[i]));
        ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
        ZE_CHECK(zeFenceCreate(qs[i], &fd, &fences[i]));
        ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
        ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &ls[i]));
        ZE_CHECK(zeCommandListAppendLaunchKernel(ls[i], inc, &gc, NULL, 1, &gates[i]));
        ZE_CHECK(zeCommandListClose(ls[i]));
    }
    memset(data, 0, 64 * sizeof(uint32_t));
    for (int r = 0; r < ROUNDS; r++) {
        int order[QUEUES];
        for (int i = 0; i < QUEUES; i++) {
            order[i] = i;
            fence_open[i] = 0;
            ZE_CHECK(zeEventHostReset(gates[i]));
            ZE_CHECK(zeFenceReset(fences[i]));
            ZE_CHECK(zeCommandQueueExecuteCommandLists(qs[i], 1, &ls[i], fences[i]));
        }
        shuffle(order, QUEUES);
        pthread_t th[2 * QUEUES];
        for (int i = 0; i < 2 * QUEUES; i++)
            pthread_create(&th[i], NULL, fence_waiter, (void *)(intptr_t)i);
        usleep(1000);
        for (int i = 0; i < QUEUES; i++) {
            /* The fence is open once its gate is; mark it first. */
            __atomic_store_n(&fence_open[order[i]], 1, __ATOMIC_RELEASE);
            ZE_CHECK(zeEventHostSignal(gates[order[i]]));
            if (rnd(2))
                usleep(300);
        }
        for (int i = 0; i < 2 * QUEUES; i++)
            pthread_join(th[i], NULL);
    }
    TAP_EQ_INT(bad_result, 0, "%d rounds x %d fences x 2 waiters, gates opened in random order: all succeeded",
               ROUNDS, QUEUES);
    TAP_EQ_INT(bad_early, 0, "no fence waiter returned before its gate opened");
    TAP_EQ_INT(data[0], ROUNDS * QUEUES, "every gated launch ran once");
    for (int i = 0; i < QUEUES; i++) {
        ZE_CHECK(zeFenceDestroy(fences[i]));
        ZE_CHECK(zeCommandListDestroy(ls[i]));
        ZE_CHECK(zeCommandQueueDestroy(qs[i]));
        ZE_CHECK(zeEventDestroy(gates[i]));
    }
    ZE_CHECK(zeEventPoolDestroy(pool));
}

/* ------------------------------------------------- timeouts under signalling */

static ze_event_handle_t never, busy;
static volatile int stop_signalling;
static int timeout_wrong, timeout_late;

static void *timed_waiter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = now_ns();
        ze_result_t r = zeEventHostSynchronize(never, 2000000);   /* 2 ms */
        uint64_t dt = now_ns() - t0;
        if (r != ZE_RESULT_NOT_READY || dt < 2000000)
            bad(&timeout_wrong);
        else if (dt > 2000000000ull)
            bad(&timeout_late);
    }
    return NULL;
}

static void *signaller(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_signalling, __ATOMIC_ACQUIRE)) {
        zeEventHostSignal(busy);
        zeEventHostReset(busy);
    }
    return NULL;
}

static void *busy_waiter(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_signalling, __ATOMIC_ACQUIRE))
        zeEventHostSynchronize(busy, 1000000);
    return NULL;
}

static void timeouts(void)
{
    ze_event_pool_handle_t pool = pool_new(t.ctx, 2);
    never = event_new(pool, 0);
    busy = event_new(pool, 1);
    pthread_t th[8];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, timed_waiter, NULL);
    pthread_create(&th[4], NULL, signaller, NULL);
    pthread_create(&th[5], NULL, busy_waiter, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    __atomic_store_n(&stop_signalling, 1, __ATOMIC_RELEASE);
    pthread_join(th[4], NULL);
    pthread_join(th[5], NULL);
    TAP_EQ_INT(timeout_wrong, 0, "2 ms timeouts on an unsignalled event return NOT_READY after >= 2 ms while "
                                 "another event is signalled in a loop");
    TAP_EQ_INT(timeout_late, 0, "and none took over 2 s");
    TAP_EQ_INT(zeEventHostSynchronize(never, 0), ZE_RESULT_NOT_READY, "timeout 0 polls");
    ZE_CHECK(zeEventDestroy(never));
    ZE_CHECK(zeEventDestroy(busy));
    ZE_CHECK(zeEventPoolDestroy(pool));
}

/* ---------------------------------------------- destroy and loss end waits */

static ze_event_handle_t doomed;
static ze_result_t doomed_result;

static void *doomed_waiter(void *arg)
{
    (void)arg;
    doomed_result = zeEventHostSynchronize(doomed, UINT64_MAX);
    return NULL;
}

static void destroy_while_waiting(void)
{
    ze_event_pool_handle_t pool = pool_new(t.ctx, 2);
    doomed = event_new(pool, 0);
    pthread_t th;
    pthread_create(&th, NULL, doomed_waiter, NULL);
    usleep(20000);
    /* Destroying an event a thread waits on is the application's error; the event's
     * memory lives in its pool, so a waiter that came late sees a dead handle too. */
    ZE_OK(zeEventDestroy(doomed), "destroy an event a host thread waits on");
    pthread_join(th, NULL);
    TAP_EQ_INT(doomed_result, ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "the waiter returns: invalid handle");

    /* A queue waiting on an event that is destroyed: the wait ends, the queue's
     * next Synchronize reports it, the one after is clean. */
    ze_event_handle_t e = event_new(pool, 1);
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &l));
    ZE_CHECK(zeCommandListAppendWaitOnEvents(l, 1, &e));
    ZE_CHECK(zeCommandListClose(l));
    ZE_CHECK(zeCommandQueueExecuteCommandLists(t.q, 1, &l, NULL));
    TAP_EQ_INT(zeCommandQueueSynchronize(t.q, 1000000), ZE_RESULT_NOT_READY, "queue blocked on the event");
    ZE_OK(zeEventDestroy(e), "destroy the event the queue waits on");
    TAP_EQ_INT(zeCommandQueueSynchronize(t.q, UINT64_MAX), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "the queue's wait ended; Synchronize reports the destroyed event");
    ZE_OK(zeCommandQueueSynchronize(t.q, UINT64_MAX), "then the queue is idle and clean");
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeEventPoolDestroy(pool));
}

static ze_fence_handle_t lost_fence;
static ze_event_handle_t lost_event;
static ze_result_t lost_results[4];

static void *lost_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    lost_results[i] = i % 2 ? zeFenceHostSynchronize(lost_fence, UINT64_MAX)
                            : zeEventHostSynchronize(lost_event, i ? 60000000000ull : UINT64_MAX);
    return NULL;
}

static void device_lost(void)
{
    setenv("HOSTDEV_DEVICE_LOST_AFTER", "1", 1);
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t ctx;
    ZE_CHECK(zeContextCreate(t.drv, &cd, &ctx));
    unsetenv("HOSTDEV_DEVICE_LOST_AFTER");
    ze_event_pool_handle_t pool = pool_new(ctx, 2);
    ze_event_handle_t gate = event_new(pool, 0);
    lost_event = event_new(pool, 1);
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_queue_handle_t q;
    ZE_CHECK(zeCommandQueueCreate(ctx, t.dev, &qd, &q));
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ZE_CHECK(zeFenceCreate(q, &fd, &lost_fence));
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreate(ctx, t.dev, &ld, &l));
    ZE_CHECK(zeCommandListAppendWaitOnEvents(l, 1, &gate));
    ZE_CHECK(zeCommandListClose(l));
    ZE_OK(zeCommandQueueExecuteCommandLists(q, 1, &l, lost_fence), "execution 1 (blocked on a gate)");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, lost_waiter, (void *)(intptr_t)i);
    usleep(20000);
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(q, 1, &l, NULL), ZE_RESULT_ERROR_DEVICE_LOST,
               "execution 2 loses the device");
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int lost = 0;
    for (int i = 0; i < 4; i++)
        lost += lost_results[i] == ZE_RESULT_ERROR_DEVICE_LOST;
    TAP_EQ_INT(lost, 4, "4 threads waiting on a fence and an event return DEVICE_LOST");
    zeCommandListDestroy(l);
    zeFenceDestroy(lost_fence);
    zeCommandQueueDestroy(q);
    zeEventDestroy(gate);
    zeEventDestroy(lost_event);
    zeEventPoolDestroy(pool);
    zeContextDestroy(ctx);
}

int main(void)
{
    hdt_init(&t, 1, 1);
    inc = hdt_kernel(t.mod, "inc");
    data = hdt_shared(&t, 64 * sizeof(uint32_t));
    ZE_CHECK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data));
    wake_counts();
    events_many_waiters();
    fences_many_queues();
    timeouts();
    destroy_while_waiting();
    device_lost();
    ZE_CHECK(zeKernelDestroy(inc));
    ZE_CHECK(zeMemFree(t.ctx, data));
    hdt_fini(&t);
    return tap_exit();
}
