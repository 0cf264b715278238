/* cmd.c — command lists, queues (one worker thread each), fences and events.
 *
 * A command list records operations with everything copied at append time
 * (kernel argument values, wait lists, fill patterns); indirect group counts stay
 * pointers and are read when the worker reaches the launch. The worker feeds an
 * in-order PoCL queue (with profiling) and only drains it (clFinish) when the host
 * must observe progress: global timestamps, indirect launches, host-side copies,
 * waits on events nobody has signalled yet, end of a list. Events signalled by a
 * command carry that command's PoCL event until they are resolved (event section). */
#include "hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ waiting */

/* Every function in this section is called with hd.lock held. A waiter sleeps on
 * its own condition; the thread that changes an event, a fence or a queue wakes
 * the waiters listed with that object as key (usually none, or one). */

static void waiter_add(struct hd_waiter *w, const void *key)
{
    pthread_cond_init(&w->cond, &hd.condattr);
    w->key = key;
    w->cancelled = false;
    w->prev = NULL;
    w->next = hd.waiters;
    if (hd.waiters)
        hd.waiters->prev = w;
    hd.waiters = w;
}

static void waiter_remove(struct hd_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        hd.waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->cancelled)
        pthread_cond_broadcast(&hd.gone);
    pthread_cond_destroy(&w->cond);
}

/* Sleeps until woken or the deadline (NULL: none); false once the deadline passed. */
static bool waiter_sleep(struct hd_waiter *w, const struct timespec *deadline)
{
    if (!deadline) {
        pthread_cond_wait(&w->cond, &hd.lock);
        return true;
    }
    return pthread_cond_timedwait(&w->cond, &hd.lock, deadline) != ETIMEDOUT;
}

/* Wakes the waiters of one object. */
static void wake(const void *key)
{
    for (struct hd_waiter *w = hd.waiters; w; w = w->next)
        if (w->key == key)
            pthread_cond_signal(&w->cond);
}

/* Wakes every waiter: a device loss or a queue stopping (both rare). */
static void wake_all(void)
{
    for (struct hd_waiter *w = hd.waiters; w; w = w->next)
        pthread_cond_signal(&w->cond);
}

/* Before the objects in [lo, hi) are freed or invalidated: their waiters are
 * woken as cancelled (they return without touching the object again) and this
 * returns once they have left. Waiting in a destroy call is the application's
 * error, but it must not turn into a use after free or a hang. */
static void cancel_waiters(const void *lo, const void *hi)
{
    uintptr_t a = (uintptr_t)lo, b = (uintptr_t)hi;
    for (;;) {
        bool any = false;
        for (struct hd_waiter *w = hd.waiters; w; w = w->next)
            if ((uintptr_t)w->key >= a && (uintptr_t)w->key < b) {
                any = true;
                if (!w->cancelled) {
                    w->cancelled = true;
                    pthread_cond_signal(&w->cond);
                }
            }
        if (!any)
            return;
        pthread_cond_wait(&hd.gone, &hd.lock);
    }
}

enum wait_end { WAIT_DONE, WAIT_TIMEOUT, WAIT_CANCELLED };

/* A host synchronization on an event or a fence: waits until *flag, the device
 * is lost, the timeout passes or the object is destroyed. */
static enum wait_end host_wait_flag(const void *key, const bool *flag, struct hd_context *c, uint64_t timeout)
{
    if (*flag || c->lost)
        return WAIT_DONE;
    if (timeout == 0)
        return WAIT_TIMEOUT;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    struct hd_waiter w;
    waiter_add(&w, key);
    c->blocking_waits++;
    enum wait_end end = WAIT_DONE;
    for (;;) {
        c->sleeps++;
        bool woken = waiter_sleep(&w, deadline);
        if (w.cancelled) {
            end = WAIT_CANCELLED;
            break;
        }
        if (*flag || c->lost)
            break;
        if (!woken) {
            end = WAIT_TIMEOUT;
            break;
        }
        c->idle_wakeups++;
    }
    waiter_remove(&w);
    return end;
}

/* ------------------------------------------------------------------- events */

static struct hd_event *event_of(ze_event_handle_t h)
{
    struct hd_event *e = (struct hd_event *)h;
    return e && e->magic == HD_MAGIC_EVENT && e->created ? e : NULL;
}

static struct hd_pool *pool_of(ze_event_pool_handle_t h)
{
    struct hd_pool *p = (struct hd_pool *)h;
    return p && p->magic == HD_MAGIC_POOL ? p : NULL;
}

/* Drops a signal in flight (the event was signalled or reset another way). */
static void event_drop_clev_locked(struct hd_event *e)
{
    if (e->clev) {
        clReleaseEvent(e->clev);
        e->clev = NULL;
        e->owner = NULL;
    }
}

/* Called with hd.lock held. */
static void event_set_locked(struct hd_event *e, uint64_t start, uint64_t end)
{
    event_drop_clev_locked(e);
    e->ts_start = start;
    e->ts_end = end;
    e->signalled = true;
    wake(e);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* PoCL's profiling times are CLOCK_MONOTONIC_RAW ns; hostdev's device timer is
 * CLOCK_MONOTONIC (hd_now_ns). The offset between the two, read now. */
static int64_t raw_to_mono(void)
{
    uint64_t r0 = clock_ns(CLOCK_MONOTONIC_RAW);
    uint64_t m = clock_ns(CLOCK_MONOTONIC);
    uint64_t r1 = clock_ns(CLOCK_MONOTONIC_RAW);
    return (int64_t)(m - (r0 + (r1 - r0) / 2));
}

/* The signal in flight of e completed (its PoCL event is complete): e becomes
 * signalled with the command's profiling times. Called with hd.lock held. */
static void event_resolve_locked(struct hd_event *e, int64_t off)
{
    cl_ulong st = 0, en = 0;
    cl_int err = clGetEventProfilingInfo(e->clev, CL_PROFILING_COMMAND_END, sizeof en, &en, NULL);
    if (err == CL_SUCCESS && e->clev_kernel)
        err = clGetEventProfilingInfo(e->clev, CL_PROFILING_COMMAND_START, sizeof st, &st, NULL);
    else
        st = en;
    uint64_t t0, t1;
    if (err != CL_SUCCESS) {
        t0 = t1 = hd_now_ns();
    } else {
        t0 = (uint64_t)((int64_t)st + off);
        t1 = (uint64_t)((int64_t)en + off);
        if (t1 < t0)
            t1 = t0;
    }
    event_set_locked(e, t0, t1);
}

/* Whether a PoCL event has completed (with an error counts as completed). */
static bool clev_done(cl_event ev)
{
    cl_int st = CL_QUEUED;
    if (clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) != CL_SUCCESS)
        return true;
    return st <= CL_COMPLETE;
}

/* Resolves e if its signal in flight is ev and has completed. hd.lock held. */
static void event_check_locked(struct hd_event *e, cl_event ev, bool done)
{
    if (done && e->clev == ev)
        event_resolve_locked(e, raw_to_mono());
}

static bool ctx_lost(struct hd_context *c)
{
    pthread_mutex_lock(&hd.lock);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    return lost;
}

ze_result_t ZE_APICALL hd_zeEventPoolCreate(ze_context_handle_t h, const ze_event_pool_desc_t *desc, uint32_t ndev,
                                            ze_device_handle_t *phDevices, ze_event_pool_handle_t *ph)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    if (!c)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph || (ndev && !phDevices))
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->count == 0)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    for (uint32_t i = 0; i < ndev; i++)
        if (!hd_device(phDevices[i]))
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    struct hd_pool *p = calloc(1, sizeof *p);
    struct hd_event *ev = p ? calloc(desc->count, sizeof *ev) : NULL;
    if (!ev) {
        free(p);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    p->magic = HD_MAGIC_POOL;
    p->ctx = c;
    p->flags = desc->flags;
    p->count = desc->count;
    p->events = ev;
    for (uint32_t i = 0; i < desc->count; i++) {
        ev[i].magic = HD_MAGIC_EVENT;
        ev[i].pool = p;
    }
    *ph = (ze_event_pool_handle_t)p;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventPoolDestroy(ze_event_pool_handle_t h)
{
    HD_ENTRY();
    struct hd_pool *p = pool_of(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_quiesce(p->ctx);
    pthread_mutex_lock(&hd.lock);
    for (uint32_t i = 0; i < p->count; i++) {
        event_drop_clev_locked(&p->events[i]);
        p->events[i].magic = HD_MAGIC_DEAD;
    }
    p->magic = HD_MAGIC_DEAD;
    cancel_waiters(p->events, p->events + p->count);
    pthread_mutex_unlock(&hd.lock);
    free(p->events);
    free(p);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventCreate(ze_event_pool_handle_t h, const ze_event_desc_t *desc, ze_event_handle_t *ph)
{
    HD_ENTRY();
    struct hd_pool *p = pool_of(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->index >= p->count)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct hd_event *e = &p->events[desc->index];
    pthread_mutex_lock(&hd.lock);
    bool busy = e->created;
    if (!busy) {
        e->created = true;
        event_drop_clev_locked(e);
        e->signalled = false;
        e->ts_start = e->ts_end = 0;
    }
    pthread_mutex_unlock(&hd.lock);
    if (busy)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    *ph = (ze_event_handle_t)e;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventDestroy(ze_event_handle_t h)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_quiesce(e->pool->ctx);
    pthread_mutex_lock(&hd.lock);
    e->created = false;
    event_drop_clev_locked(e);
    cancel_waiters(e, e + 1);
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventHostSignal(ze_event_handle_t h)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    uint64_t now = hd_now_ns();
    pthread_mutex_lock(&hd.lock);
    event_set_locked(e, now, now);
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventHostReset(ze_event_handle_t h)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    pthread_mutex_lock(&hd.lock);
    event_drop_clev_locked(e);
    e->signalled = false;
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}

/* An observer of e (host query, timestamp query): a signal in flight that has
 * completed is resolved now. Called with hd.lock held; releases it meanwhile. The
 * event's pool is not destroyed meanwhile (an application calling destroy while
 * querying the same event is outside the spec; hd_quiesce runs first anyway). */
static void event_poll_locked(struct hd_event *e)
{
    if (e->signalled || !e->clev)
        return;
    cl_event ev = e->clev;
    clRetainEvent(ev);
    pthread_mutex_unlock(&hd.lock);
    bool done = clev_done(ev);
    pthread_mutex_lock(&hd.lock);
    event_check_locked(e, ev, done);
    clReleaseEvent(ev);
}

ze_result_t ZE_APICALL hd_zeEventQueryStatus(ze_event_handle_t h)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (ctx_lost(e->pool->ctx))
        return ZE_RESULT_ERROR_DEVICE_LOST;
    pthread_mutex_lock(&hd.lock);
    event_poll_locked(e);
    bool s = e->signalled;
    pthread_mutex_unlock(&hd.lock);
    return s ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

/* zeEventHostSynchronize and zeFenceHostSynchronize: wait for `flag` of `obj` with the
 * spec's results (NOT_READY on timeout, DEVICE_LOST after a loss). */
static ze_result_t host_synchronize(const void *obj, const bool *flag, struct hd_context *c,
                                    uint64_t timeout)
{
    pthread_mutex_lock(&hd.lock);
    enum wait_end end = host_wait_flag(obj, flag, c, timeout);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    if (end == WAIT_CANCELLED)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE; /* destroyed while waited on */
    if (lost)
        return ZE_RESULT_ERROR_DEVICE_LOST;
    return end == WAIT_DONE ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

/* zeEventHostSynchronize: like host_wait_flag, and while the event's signal is in
 * flight on a PoCL queue, waits for that PoCL event instead (clWaitForEvents, or
 * polling it until the deadline for a finite timeout). The waiter stays listed the
 * whole time, so destroying the event waits for this thread to leave. */
static enum wait_end event_host_wait_locked(struct hd_event *e, struct hd_context *c, uint64_t timeout)
{
    if (e->signalled || c->lost)
        return WAIT_DONE;
    event_poll_locked(e);
    if (e->signalled)
        return WAIT_DONE;
    if (timeout == 0)
        return WAIT_TIMEOUT;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    uint64_t deadline_ns = deadline ? (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec : 0;
    struct hd_waiter w;
    waiter_add(&w, e);
    c->blocking_waits++;
    enum wait_end end = WAIT_DONE;
    for (;;) {
        if (w.cancelled) {
            end = WAIT_CANCELLED;
            break;
        }
        if (e->signalled || c->lost)
            break;
        if (e->clev) {
            cl_event ev = e->clev;
            clRetainEvent(ev);
            pthread_mutex_unlock(&hd.lock);
            bool done;
            if (!deadline) {
                clWaitForEvents(1, &ev);
                done = true;
            } else {
                while (!(done = clev_done(ev)) && hd_now_ns() < deadline_ns) {
                    struct timespec nap = { 0, 20000 };
                    nanosleep(&nap, NULL);
                }
            }
            pthread_mutex_lock(&hd.lock);
            if (!w.cancelled)
                event_check_locked(e, ev, done);
            clReleaseEvent(ev);
            if (!done && !w.cancelled && !e->signalled) {
                end = WAIT_TIMEOUT;
                break;
            }
            continue;
        }
        c->sleeps++;
        bool woken = waiter_sleep(&w, deadline);
        if (w.cancelled) {
            end = WAIT_CANCELLED;
            break;
        }
        if (e->signalled || c->lost || e->clev)
            continue;
        if (!woken) {
            end = WAIT_TIMEOUT;
            break;
        }
        c->idle_wakeups++;
    }
    waiter_remove(&w);
    return end;
}

ze_result_t ZE_APICALL hd_zeEventHostSynchronize(ze_event_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    struct hd_context *c = e->pool->ctx;
    pthread_mutex_lock(&hd.lock);
    enum wait_end end = event_host_wait_locked(e, c, timeout);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    if (end == WAIT_CANCELLED)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE; /* destroyed while waited on */
    if (lost)
        return ZE_RESULT_ERROR_DEVICE_LOST;
    return end == WAIT_DONE ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

ze_result_t ZE_APICALL hd_zeEventQueryKernelTimestamp(ze_event_handle_t h, ze_kernel_timestamp_result_t *r)
{
    HD_ENTRY();
    struct hd_event *e = event_of(h);
    if (!e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!r)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!(e->pool->flags & ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP))
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&hd.lock);
    event_poll_locked(e);
    bool s = e->signalled;
    r->global.kernelStart = r->context.kernelStart = e->ts_start;
    r->global.kernelEnd = r->context.kernelEnd = e->ts_end;
    pthread_mutex_unlock(&hd.lock);
    return s ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

/* ------------------------------------------------------------ command lists */

static struct hd_list *list_of(ze_command_list_handle_t h)
{
    struct hd_list *l = (struct hd_list *)h;
    return l && l->magic == HD_MAGIC_LIST ? l : NULL;
}

static struct hd_list *list_new(struct hd_context *c, struct hd_device *d)
{
    struct hd_list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->magic = HD_MAGIC_LIST;
    l->ctx = c;
    l->dev = d;
    return l;
}

static void list_reset(struct hd_list *l)
{
    l->ncmds = 0;
    l->blob_len = 0;
    l->closed = false;
}

static void list_free(struct hd_list *l)
{
    free(l->cmds);
    free(l->blob);
    l->magic = HD_MAGIC_DEAD;
    free(l);
}

/* Reserves n bytes (8-aligned) in the list's blob; returns the offset or SIZE_MAX. */
static size_t blob_reserve(struct hd_list *l, size_t n)
{
    size_t off = (l->blob_len + 7) & ~(size_t)7;
    if (off + n > l->blob_cap) {
        size_t cap = l->blob_cap ? l->blob_cap : 256;
        while (cap < off + n)
            cap *= 2;
        uint8_t *b = realloc(l->blob, cap);
        if (!b)
            return SIZE_MAX;
        l->blob = b;
        l->blob_cap = cap;
    }
    l->blob_len = off + n;
    return off;
}

static ze_result_t cmd_new(struct hd_list *l, enum hd_cmd_kind kind, ze_event_handle_t signal, uint32_t nwait,
                           ze_event_handle_t *waits, struct hd_cmd **out)
{
    struct hd_event *sig = NULL;
    if (signal && !(sig = event_of(signal)))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (nwait && !waits)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    for (uint32_t i = 0; i < nwait; i++)
        if (!event_of(waits[i]))
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (l->ncmds == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct hd_cmd *c = realloc(l->cmds, cap * sizeof *c);
        if (!c)
            return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
        l->cmds = c;
        l->cap = cap;
    }
    size_t woff = 0;
    if (nwait) {
        woff = blob_reserve(l, nwait * sizeof(struct hd_event *));
        if (woff == SIZE_MAX)
            return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
        memcpy(l->blob + woff, waits, nwait * sizeof(struct hd_event *));
    }
    struct hd_cmd *c = &l->cmds[l->ncmds++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->signal = sig;
    c->nwait = nwait;
    c->wait_off = woff;
    *out = c;
    return ZE_RESULT_SUCCESS;
}

/* ------------------------------------------------------------------- queues */

static struct hd_queue *queue_of(ze_command_queue_handle_t h)
{
    struct hd_queue *q = (struct hd_queue *)h;
    return q && q->magic == HD_MAGIC_QUEUE ? q : NULL;
}

/* Drains the PoCL queue so the host observes everything enqueued so far, and
 * signals the events whose signals were in flight on it. Free when nothing was
 * enqueued since the last drain. */
static cl_int drain(struct hd_queue *q)
{
    if (!q->inflight && !q->npend)
        return CL_SUCCESS;
    cl_int err = q->inflight ? clFinish(q->clq) : CL_SUCCESS;
    q->inflight = false;
    if (q->npend) {
        int64_t off = raw_to_mono();
        pthread_mutex_lock(&hd.lock);
        for (size_t i = 0; i < q->npend; i++) {
            struct hd_event *e = q->pend[i];
            if (e->clev && e->owner == q)
                event_resolve_locked(e, off);
        }
        pthread_mutex_unlock(&hd.lock);
        q->npend = 0;
    }
    return err;
}

/* The command just enqueued with PoCL event ev signals e when it completes. On
 * failure to track it, waits for it and signals e now. */
static void signal_later(struct hd_queue *q, struct hd_event *e, cl_event ev, bool kernel)
{
    if (q->npend == q->pend_cap) {
        size_t cap = q->pend_cap ? q->pend_cap * 2 : 16;
        struct hd_event **p = realloc(q->pend, cap * sizeof *p);
        if (!p) {
            clWaitForEvents(1, &ev);
            pthread_mutex_lock(&hd.lock);
            e->clev = ev;
            e->owner = q;
            e->clev_kernel = kernel;
            event_resolve_locked(e, raw_to_mono());
            pthread_mutex_unlock(&hd.lock);
            return;
        }
        q->pend = p;
        q->pend_cap = cap;
    }
    q->pend[q->npend++] = e;
    pthread_mutex_lock(&hd.lock);
    event_drop_clev_locked(e);
    e->clev = ev;
    e->owner = q;
    e->clev_kernel = kernel;
    wake(e);   /* a host waiter sleeping on e now waits for the PoCL event instead */
    pthread_mutex_unlock(&hd.lock);
}

static cl_int run_launch(struct hd_queue *q, const struct hd_list *l, const struct hd_cmd *c, cl_event *out)
{
    struct hd_kernel *k = c->u.launch.k;
    uint32_t gc[3];
    if (c->kind == HD_CMD_LAUNCH_INDIRECT) {
        cl_int err = drain(q);
        if (err != CL_SUCCESS)
            return err;
        gc[0] = c->u.launch.indirect->groupCountX;
        gc[1] = c->u.launch.indirect->groupCountY;
        gc[2] = c->u.launch.indirect->groupCountZ;
    } else {
        memcpy(gc, c->u.launch.gc, sizeof gc);
    }
    if (!gc[0] || !gc[1] || !gc[2])
        return CL_SUCCESS;   /* an empty grid is a no-op, as on a GPU */
    size_t local[3], global[3], offset[3];
    for (int i = 0; i < 3; i++) {
        local[i] = c->u.launch.gs[i];
        global[i] = (size_t)gc[i] * local[i];
        offset[i] = c->u.launch.offset[i];
    }
    const uint8_t *vals = l->blob + c->u.launch.args_off;
    const struct hd_kinfo *info = k->info;
    cl_int err = CL_SUCCESS;
    pthread_mutex_lock(&k->lock);
    for (uint32_t i = 0; i < info->nargs && err == CL_SUCCESS; i++) {
        const struct hd_arg *a = &info->args[i];
        const uint8_t *v = vals + a->off;
        if (a->kind == HD_ARG_GLOBAL) {
            void *p;
            memcpy(&p, v, sizeof p);
            if (p) {
                err = clSetKernelArgSVMPointer(k->clk, i, p);
            } else {
                cl_mem none = NULL;
                err = clSetKernelArg(k->clk, i, sizeof none, &none);
            }
        } else if (a->kind == HD_ARG_LOCAL) {
            uint64_t s;
            memcpy(&s, v, sizeof s);
            err = clSetKernelArg(k->clk, i, (size_t)s, NULL);
        } else {
            err = clSetKernelArg(k->clk, i, a->size, v);
        }
    }
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(q->clq, k->clk, 3, offset, global, local, 0, NULL, out);
    pthread_mutex_unlock(&k->lock);
    if (err == CL_SUCCESS)
        q->inflight = true;
    return err;
}

static void fill_host(void *dst, size_t size, const uint8_t *pat, size_t psize)
{
    uint8_t *d = dst;
    if (psize == 1) {
        memset(d, pat[0], size);
        return;
    }
    for (size_t i = 0; i < size; i++)
        d[i] = pat[i % psize];
}

/* Waits, in the worker, until e's signal is ordered before what q enqueues next.
 * Called with hd.lock held (released meanwhile). An event already signalled, or
 * whose signal is in flight on q itself (an earlier command of this in-order
 * queue), needs nothing; one in flight on another queue is waited for through its
 * PoCL event; otherwise the host (or a queue not there yet) will signal it: q is
 * drained first, then sleeps as `blocked`. *drained: q was drained in this wait. */
static void wait_event_locked(struct hd_queue *q, struct hd_event *e, bool *drained, cl_int *err)
{
    for (;;) {
        if (q->stop || q->ctx->lost || e->signalled || (e->clev && e->owner == q))
            return;
        if (e->clev) {
            cl_event ev = e->clev;
            clRetainEvent(ev);
            pthread_mutex_unlock(&hd.lock);
            clWaitForEvents(1, &ev);
            pthread_mutex_lock(&hd.lock);
            /* Unless destroyed meanwhile (then e->clev is no longer ev). */
            event_check_locked(e, ev, true);
            clReleaseEvent(ev);
            continue;
        }
        if (!*drained) {
            pthread_mutex_unlock(&hd.lock);
            cl_int e2 = drain(q);
            if (*err == CL_SUCCESS)
                *err = e2;
            pthread_mutex_lock(&hd.lock);
            *drained = true;
            continue;
        }
        if (!q->blocked) {
            q->blocked = true;
            wake(q);   /* hd_quiesce does not wait for a queue the host may unblock */
        }
        struct hd_waiter wt;
        waiter_add(&wt, e);
        while (!wt.cancelled && !e->signalled && !e->clev && !q->stop && !q->ctx->lost)
            waiter_sleep(&wt, NULL);
        bool cancelled = wt.cancelled;
        /* The event was destroyed while this queue waited for it: the wait ends
         * and the next Synchronize reports it. */
        if (cancelled && q->error == ZE_RESULT_SUCCESS)
            q->error = ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        waiter_remove(&wt);
        if (cancelled)
            return;
    }
}

/* Executes one command; returns false when the queue is stopping. */
static bool run_cmd(struct hd_queue *q, const struct hd_list *l, const struct hd_cmd *c)
{
    cl_int err = CL_SUCCESS;
    if (c->nwait) {
        struct hd_event *const *w = (struct hd_event *const *)(const void *)(l->blob + c->wait_off);
        bool drained = false;
        pthread_mutex_lock(&hd.lock);
        for (uint32_t i = 0; i < c->nwait && !q->stop && !q->ctx->lost; i++)
            wait_event_locked(q, w[i], &drained, &err);
        q->blocked = false;
        bool stop = q->stop || q->ctx->lost;
        pthread_mutex_unlock(&hd.lock);
        if (stop)
            return false;
    }
    /* A signalling command enqueued to PoCL hands its PoCL event to the L0 event
     * (signal_later); a command done on the host signals at once (now). */
    cl_event ev = NULL;
    cl_event *out = c->signal ? &ev : NULL;
    bool kernel = false;
    switch (c->kind) {
    case HD_CMD_LAUNCH:
    case HD_CMD_LAUNCH_INDIRECT:
        kernel = true;
        err = run_launch(q, l, c, out);
        break;
    case HD_CMD_COPY:
        if (c->u.copy.size) {
            err = clEnqueueSVMMemcpy(q->clq, CL_FALSE, c->u.copy.dst, c->u.copy.src, c->u.copy.size, 0, NULL,
                                     out);
            if (err == CL_SUCCESS)
                q->inflight = true;
        }
        break;
    case HD_CMD_COPY_REGION: {
        err = drain(q);
        const ze_copy_region_t *dr = &c->u.region.dr, *sr = &c->u.region.sr;
        for (uint32_t z = 0; z < sr->depth; z++)
            for (uint32_t y = 0; y < sr->height; y++)
                memcpy((uint8_t *)c->u.region.dst + (size_t)(dr->originZ + z) * c->u.region.dslice +
                           (size_t)(dr->originY + y) * c->u.region.dpitch + dr->originX,
                       (const uint8_t *)c->u.region.src + (size_t)(sr->originZ + z) * c->u.region.sslice +
                           (size_t)(sr->originY + y) * c->u.region.spitch + sr->originX,
                       sr->width);
        break;
    }
    case HD_CMD_FILL: {
        const uint8_t *pat = l->blob + c->u.fill.pattern_off;
        if (c->u.fill.size % c->u.fill.psize == 0) {
            err = clEnqueueSVMMemFill(q->clq, c->u.fill.dst, pat, c->u.fill.psize, c->u.fill.size, 0, NULL, out);
            if (err == CL_SUCCESS)
                q->inflight = true;
        } else {
            err = drain(q);
            fill_host(c->u.fill.dst, c->u.fill.size, pat, c->u.fill.psize);
        }
        break;
    }
    case HD_CMD_TIMESTAMP: {
        err = drain(q);
        uint64_t now = hd_now_ns();
        memcpy(c->u.ts_dst, &now, sizeof now);
        break;
    }
    case HD_CMD_RESET_EVENT:
        /* In order with what came before (free when the queue is already idle). */
        err = drain(q);
        pthread_mutex_lock(&hd.lock);
        event_drop_clev_locked(c->u.target);
        c->u.target->signalled = false;
        pthread_mutex_unlock(&hd.lock);
        break;
    case HD_CMD_NOP:
        break;
    }
    if (c->signal) {
        if (!ev && q->inflight && err == CL_SUCCESS) {
            /* Nothing enqueued for this command (a barrier, an empty grid or copy):
             * it completes with what is in flight before it. */
            err = clEnqueueMarkerWithWaitList(q->clq, 0, NULL, &ev);
            kernel = false;
        }
        if (ev) {
            signal_later(q, c->signal, ev, kernel);
        } else {
            cl_int e2 = drain(q);
            if (err == CL_SUCCESS)
                err = e2;
            uint64_t t1 = hd_now_ns();
            pthread_mutex_lock(&hd.lock);
            event_set_locked(c->signal, t1, t1);
            pthread_mutex_unlock(&hd.lock);
        }
    }
    if (err != CL_SUCCESS) {
        pthread_mutex_lock(&hd.lock);
        if (q->error == ZE_RESULT_SUCCESS)
            q->error = hd_cl_error(err);
        pthread_mutex_unlock(&hd.lock);
        fprintf(stderr, "hostdev: command %d failed in PoCL (%d)\n", (int)c->kind, err);
    }
    return true;
}

void hd_quiesce(struct hd_context *c)
{
    pthread_mutex_lock(&hd.lock);
restart:
    for (struct hd_queue *q = c->queues; q; q = q->next) {
        uint64_t target = q->submitted;
        if (q->completed >= target || q->dead || q->blocked)
            continue;
        struct hd_waiter w;
        waiter_add(&w, q);
        while (!w.cancelled && q->completed < target && !q->dead && !q->blocked)
            waiter_sleep(&w, NULL);
        bool gone = w.cancelled;
        waiter_remove(&w);
        /* q was destroyed meanwhile (the lock was released while sleeping): its
         * link is gone with it, so walk the list again. */
        if (gone)
            goto restart;
    }
    pthread_mutex_unlock(&hd.lock);
}

static void *worker(void *arg)
{
    struct hd_queue *q = arg;
    pthread_mutex_lock(&hd.lock);
    for (;;) {
        while (!q->stop && q->completed == q->submitted)
            pthread_cond_wait(&q->work, &hd.lock);
        if (q->stop)
            break;
        struct hd_job job = q->ring[q->completed % HD_RING];
        uint64_t latency = q->ctx->exec_latency_us;
        pthread_mutex_unlock(&hd.lock);
        if (latency)
            usleep((useconds_t)latency);
        bool go = true;
        for (size_t i = 0; i < job.list->ncmds && go; i++)
            go = run_cmd(q, job.list, &job.list->cmds[i]);
        cl_int err = drain(q);
        pthread_mutex_lock(&hd.lock);
        if (!go)
            break;
        if (err != CL_SUCCESS && q->error == ZE_RESULT_SUCCESS)
            q->error = hd_cl_error(err);
        q->completed++;
        if (job.fence) {
            job.fence->signalled = true;
            wake(job.fence);
        }
        wake(q);
    }
    q->dead = true;
    wake(q);
    pthread_mutex_unlock(&hd.lock);
    return NULL;
}

static ze_result_t queue_new(struct hd_context *c, struct hd_device *d, const ze_command_queue_desc_t *desc,
                             struct hd_queue **out)
{
    if (desc->ordinal != 0)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct hd_queue *q = calloc(1, sizeof *q);
    if (!q)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    q->magic = HD_MAGIC_QUEUE;
    q->ctx = c;
    q->dev = d;
    q->synchronous = desc->mode == ZE_COMMAND_QUEUE_MODE_SYNCHRONOUS;
    cl_int err;
    /* Profiling: kernel timestamps are the PoCL commands' START/END times. */
    static const cl_queue_properties props[] = { CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0 };
    q->clq = clCreateCommandQueueWithProperties(hd.clctx, hd.cldev, props, &err);
    if (!q->clq) {
        free(q);
        return hd_cl_error(err);
    }
    pthread_cond_init(&q->work, NULL);
    if (pthread_create(&q->thread, NULL, worker, q) != 0) {
        pthread_cond_destroy(&q->work);
        clReleaseCommandQueue(q->clq);
        free(q);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    pthread_mutex_lock(&hd.lock);
    q->next = c->queues;
    c->queues = q;
    pthread_mutex_unlock(&hd.lock);
    *out = q;
    return ZE_RESULT_SUCCESS;
}

static void queue_free(struct hd_queue *q)
{
    pthread_mutex_lock(&hd.lock);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    wake_all();   /* the worker may wait for an event */
    pthread_mutex_unlock(&hd.lock);
    pthread_join(q->thread, NULL);
    pthread_mutex_lock(&hd.lock);
    for (struct hd_queue **p = &q->ctx->queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    cancel_waiters(q, q + 1);
    pthread_mutex_unlock(&hd.lock);
    /* The worker may have stopped in the middle of a list: signals in flight. */
    q->inflight = true;
    drain(q);
    free(q->pend);
    clReleaseCommandQueue(q->clq);
    pthread_cond_destroy(&q->work);
    q->magic = HD_MAGIC_DEAD;
    free(q);
}

/* Waits with hd.lock held until q completed `target` jobs, the device is lost, the
 * worker is gone or the timeout passes; true when the jobs completed. A cancelled
 * wait (q destroyed meanwhile: the application's error) sets *cancelled, and q
 * must not be touched again. stats: the context counting a host synchronization. */
static bool queue_wait_locked(struct hd_queue *q, uint64_t target, uint64_t timeout, struct hd_context *stats,
                              bool *cancelled)
{
    if (cancelled)
        *cancelled = false;
    if (q->completed >= target || q->ctx->lost || q->dead || timeout == 0)
        return q->completed >= target;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    struct hd_waiter w;
    waiter_add(&w, q);
    if (stats)
        stats->blocking_waits++;
    bool done = false;
    for (;;) {
        if (stats)
            stats->sleeps++;
        bool woken = waiter_sleep(&w, deadline);
        if (w.cancelled) {
            if (cancelled)
                *cancelled = true;
            break;
        }
        done = q->completed >= target;
        if (done || q->ctx->lost || q->dead || !woken)
            break;
        if (stats)
            stats->idle_wakeups++;
    }
    waiter_remove(&w);
    return done;
}

/* Counts one execution against HOSTDEV_DEVICE_LOST_AFTER. Called with hd.lock held. */
static bool count_execution_locked(struct hd_context *c)
{
    if (c->lost)
        return false;
    c->executions++;
    if (c->lost_after && c->executions > c->lost_after) {
        c->lost = true;
        if (c->fault_log)
            fprintf(stderr, "hostdev: device lost at execution %llu (HOSTDEV_DEVICE_LOST_AFTER=%llu)\n",
                    (unsigned long long)c->executions, (unsigned long long)c->lost_after);
        wake_all();
        return false;
    }
    return true;
}

/* Queues jobs (one per list); the fence rides on the last one. */
static ze_result_t submit(struct hd_queue *q, uint32_t n, struct hd_list *const *lists, struct hd_fence *fence,
                          uint64_t *last)
{
    pthread_mutex_lock(&hd.lock);
    if (!count_execution_locked(q->ctx)) {
        pthread_mutex_unlock(&hd.lock);
        return ZE_RESULT_ERROR_DEVICE_LOST;
    }
    if (fence)
        fence->signalled = false;
    for (uint32_t i = 0; i < n; i++) {
        while (q->submitted - q->completed >= HD_RING && !q->ctx->lost && !q->dead) {
            struct hd_waiter w;
            waiter_add(&w, q);
            waiter_sleep(&w, NULL);
            bool gone = w.cancelled;
            waiter_remove(&w);
            if (gone) {
                pthread_mutex_unlock(&hd.lock);
                return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
            }
        }
        if (q->ctx->lost || q->dead) {
            pthread_mutex_unlock(&hd.lock);
            return ZE_RESULT_ERROR_DEVICE_LOST;
        }
        q->ring[q->submitted % HD_RING] = (struct hd_job){ lists[i], i + 1 == n ? fence : NULL };
        q->submitted++;
    }
    if (n == 0 && fence) {
        /* Nothing to run: the fence is reached once earlier work is done. */
        static struct hd_list empty = { .magic = HD_MAGIC_LIST, .closed = true };
        q->ring[q->submitted % HD_RING] = (struct hd_job){ &empty, fence };
        q->submitted++;
    }
    uint64_t target = q->submitted;
    pthread_cond_signal(&q->work);
    ze_result_t r = ZE_RESULT_SUCCESS;
    if (q->synchronous) {
        bool gone;
        queue_wait_locked(q, target, UINT64_MAX, NULL, &gone);
        if (gone)
            r = ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        else if (q->ctx->lost)
            r = ZE_RESULT_ERROR_DEVICE_LOST;
    }
    pthread_mutex_unlock(&hd.lock);
    if (last)
        *last = target;
    return r;
}

ze_result_t ZE_APICALL hd_zeCommandQueueCreate(ze_context_handle_t h, ze_device_handle_t hDevice,
                                               const ze_command_queue_desc_t *desc, ze_command_queue_handle_t *ph)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    struct hd_device *d = hd_device(hDevice);
    if (!c || !d)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    struct hd_queue *q;
    ze_result_t r = queue_new(c, d, desc, &q);
    if (r == ZE_RESULT_SUCCESS)
        *ph = (ze_command_queue_handle_t)q;
    return r;
}

ze_result_t ZE_APICALL hd_zeCommandQueueDestroy(ze_command_queue_handle_t h)
{
    HD_ENTRY();
    struct hd_queue *q = queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    queue_free(q);
    return ZE_RESULT_SUCCESS;
}

static struct hd_fence *fence_of(ze_fence_handle_t h)
{
    struct hd_fence *f = (struct hd_fence *)h;
    return f && f->magic == HD_MAGIC_FENCE ? f : NULL;
}

ze_result_t ZE_APICALL hd_zeCommandQueueExecuteCommandLists(ze_command_queue_handle_t h, uint32_t n,
                                                            ze_command_list_handle_t *phLists, ze_fence_handle_t hf)
{
    HD_ENTRY();
    struct hd_queue *q = queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!phLists)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (n == 0)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    struct hd_fence *f = NULL;
    if (hf) {
        f = fence_of(hf);
        if (!f)
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        if (f->queue != q)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct hd_list *l = list_of(phLists[i]);
        if (!l)
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        if (l->immediate)
            return ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE;
        if (!l->closed || l->ctx != q->ctx)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    return submit(q, n, (struct hd_list *const *)phLists, f, NULL);
}

ze_result_t ZE_APICALL hd_zeCommandQueueSynchronize(ze_command_queue_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    struct hd_queue *q = queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    pthread_mutex_lock(&hd.lock);
    bool gone;
    bool ok = queue_wait_locked(q, q->submitted, timeout, q->ctx, &gone);
    if (gone) {
        pthread_mutex_unlock(&hd.lock);
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;   /* destroyed while waited on */
    }
    ze_result_t r = q->ctx->lost ? ZE_RESULT_ERROR_DEVICE_LOST : ok ? q->error : ZE_RESULT_NOT_READY;
    if (ok)
        q->error = ZE_RESULT_SUCCESS;
    pthread_mutex_unlock(&hd.lock);
    return r;
}

/* ------------------------------------------------------------------- fences */

ze_result_t ZE_APICALL hd_zeFenceCreate(ze_command_queue_handle_t h, const ze_fence_desc_t *desc,
                                        ze_fence_handle_t *ph)
{
    HD_ENTRY();
    struct hd_queue *q = queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    struct hd_fence *f = calloc(1, sizeof *f);
    if (!f)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    f->magic = HD_MAGIC_FENCE;
    f->queue = q;
    f->signalled = (desc->flags & ZE_FENCE_FLAG_SIGNALED) != 0;
    *ph = (ze_fence_handle_t)f;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeFenceDestroy(ze_fence_handle_t h)
{
    HD_ENTRY();
    struct hd_fence *f = fence_of(h);
    if (!f)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_quiesce(f->queue->ctx);
    pthread_mutex_lock(&hd.lock);
    f->magic = HD_MAGIC_DEAD;
    cancel_waiters(f, f + 1);
    pthread_mutex_unlock(&hd.lock);
    free(f);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeFenceHostSynchronize(ze_fence_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    struct hd_fence *f = fence_of(h);
    if (!f)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return host_synchronize(f, &f->signalled, f->queue->ctx, timeout);
}

ze_result_t ZE_APICALL hd_zeFenceQueryStatus(ze_fence_handle_t h)
{
    HD_ENTRY();
    struct hd_fence *f = fence_of(h);
    if (!f)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    pthread_mutex_lock(&hd.lock);
    bool s = f->signalled, lost = f->queue->ctx->lost;
    pthread_mutex_unlock(&hd.lock);
    if (lost)
        return ZE_RESULT_ERROR_DEVICE_LOST;
    return s ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

ze_result_t ZE_APICALL hd_zeFenceReset(ze_fence_handle_t h)
{
    HD_ENTRY();
    struct hd_fence *f = fence_of(h);
    if (!f)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    pthread_mutex_lock(&hd.lock);
    f->signalled = false;
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}

/* ------------------------------------------------- command list entry points */

ze_result_t ZE_APICALL hd_zeCommandListCreate(ze_context_handle_t h, ze_device_handle_t hDevice,
                                              const ze_command_list_desc_t *desc, ze_command_list_handle_t *ph)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    struct hd_device *d = hd_device(hDevice);
    if (!c || !d)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->commandQueueGroupOrdinal != 0)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct hd_list *l = list_new(c, d);
    if (!l)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    *ph = (ze_command_list_handle_t)l;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListCreateImmediate(ze_context_handle_t h, ze_device_handle_t hDevice,
                                                       const ze_command_queue_desc_t *desc,
                                                       ze_command_list_handle_t *ph)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    struct hd_device *d = hd_device(hDevice);
    if (!c || !d)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    struct hd_list *l = list_new(c, d);
    if (!l)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    l->immediate = true;
    ze_result_t r = queue_new(c, d, desc, &l->queue);
    if (r != ZE_RESULT_SUCCESS) {
        list_free(l);
        return r;
    }
    *ph = (ze_command_list_handle_t)l;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListDestroy(ze_command_list_handle_t h)
{
    HD_ENTRY();
    struct hd_list *l = list_of(h);
    if (!l)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_quiesce(l->ctx);
    if (l->immediate) {
        /* Let appends already made finish: their commands live in the slots. */
        pthread_mutex_lock(&hd.lock);
        queue_wait_locked(l->queue, l->queue->submitted, UINT64_MAX, NULL, NULL);
        pthread_mutex_unlock(&hd.lock);
        queue_free(l->queue);
        for (int i = 0; i < HD_IMM_SLOTS; i++)
            if (l->slots[i])
                list_free(l->slots[i]);
    }
    list_free(l);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListClose(ze_command_list_handle_t h)
{
    HD_ENTRY();
    struct hd_list *l = list_of(h);
    if (!l)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (l->immediate)
        return ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE;
    l->closed = true;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListReset(ze_command_list_handle_t h)
{
    HD_ENTRY();
    struct hd_list *l = list_of(h);
    if (!l)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!l->immediate) {
        hd_quiesce(l->ctx);
        list_reset(l);
    }
    return ZE_RESULT_SUCCESS;
}

/* Where an append records: the list itself, or for an immediate list a free slot. */
static ze_result_t rec_begin(struct hd_list *l, struct hd_list **rec)
{
    if (!l->immediate) {
        if (l->closed)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        *rec = l;
        return ZE_RESULT_SUCCESS;
    }
    uint32_t s = l->next_slot % HD_IMM_SLOTS;
    if (!l->slots[s] && !(l->slots[s] = list_new(l->ctx, l->dev)))
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    pthread_mutex_lock(&hd.lock);
    queue_wait_locked(l->queue, l->slot_seq[s], UINT64_MAX, NULL, NULL);
    pthread_mutex_unlock(&hd.lock);
    list_reset(l->slots[s]);
    *rec = l->slots[s];
    return ZE_RESULT_SUCCESS;
}

static ze_result_t rec_end(struct hd_list *l, struct hd_list *rec)
{
    if (!l->immediate)
        return ZE_RESULT_SUCCESS;
    rec->closed = true;
    uint32_t s = l->next_slot % HD_IMM_SLOTS;
    uint64_t seq = 0;
    ze_result_t r = submit(l->queue, 1, &rec, NULL, &seq);
    if (r == ZE_RESULT_SUCCESS || seq) {
        l->slot_seq[s] = seq;
        l->next_slot++;
    }
    return r;
}

#define BEGIN_APPEND(h, l, rec)                                           \
    struct hd_list *l = list_of(h), *rec;                                 \
    if (!l)                                                               \
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;                       \
    do {                                                                  \
        ze_result_t r_ = rec_begin(l, &rec);                              \
        if (r_ != ZE_RESULT_SUCCESS)                                      \
            return r_;                                                    \
    } while (0)

static ze_result_t append_launch(ze_command_list_handle_t h, ze_kernel_handle_t hk, const ze_group_count_t *gc,
                                 bool indirect, ze_event_handle_t sig, uint32_t nwait, ze_event_handle_t *waits)
{
    struct hd_kernel *k = (struct hd_kernel *)hk;
    if (!list_of(h) || !k || k->magic != HD_MAGIC_KERNEL)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!gc)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    for (uint32_t i = 0; i < k->info->nargs; i++)
        if (!k->set[i])
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* every argument must be set */
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, indirect ? HD_CMD_LAUNCH_INDIRECT : HD_CMD_LAUNCH, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    size_t off = blob_reserve(rec, k->info->blob_size);
    if (off == SIZE_MAX) {
        rec->ncmds--;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    /* blob_reserve may move the blob but not the cmds array: c is still valid. */
    memcpy(rec->blob + off, k->values, k->info->blob_size);
    c->u.launch.k = k;
    c->u.launch.args_off = off;
    memcpy(c->u.launch.gs, k->gs, sizeof k->gs);
    memcpy(c->u.launch.offset, k->offset, sizeof k->offset);
    if (indirect) {
        c->u.launch.indirect = gc;
    } else {
        c->u.launch.gc[0] = gc->groupCountX;
        c->u.launch.gc[1] = gc->groupCountY;
        c->u.launch.gc[2] = gc->groupCountZ;
    }
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendLaunchKernel(ze_command_list_handle_t h, ze_kernel_handle_t k,
                                                          const ze_group_count_t *gc, ze_event_handle_t sig,
                                                          uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    return append_launch(h, k, gc, false, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendLaunchCooperativeKernel(ze_command_list_handle_t h,
                                                                     ze_kernel_handle_t k,
                                                                     const ze_group_count_t *gc,
                                                                     ze_event_handle_t sig, uint32_t nwait,
                                                                     ze_event_handle_t *waits)
{
    HD_ENTRY();
    return append_launch(h, k, gc, false, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendLaunchKernelIndirect(ze_command_list_handle_t h,
                                                                  ze_kernel_handle_t k,
                                                                  const ze_group_count_t *args,
                                                                  ze_event_handle_t sig, uint32_t nwait,
                                                                  ze_event_handle_t *waits)
{
    HD_ENTRY();
    return append_launch(h, k, args, true, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryCopy(ze_command_list_handle_t h, void *dst, const void *src,
                                                        size_t size, ze_event_handle_t sig, uint32_t nwait,
                                                        ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!dst || !src)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (size && ((uintptr_t)dst < (uintptr_t)src + size && (uintptr_t)src < (uintptr_t)dst + size))
        return ZE_RESULT_ERROR_OVERLAPPING_REGIONS;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_COPY, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    c->u.copy.dst = dst;
    c->u.copy.src = src;
    c->u.copy.size = size;
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryCopyRegion(ze_command_list_handle_t h, void *dst,
                                                              const ze_copy_region_t *dr, uint32_t dpitch,
                                                              uint32_t dslice, const void *src,
                                                              const ze_copy_region_t *sr, uint32_t spitch,
                                                              uint32_t sslice, ze_event_handle_t sig,
                                                              uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!dst || !dr || !src || !sr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    /* Both regions describe the same box; rows must fit their pitches. */
    if (dr->width != sr->width || dr->height != sr->height || dr->depth != sr->depth ||
        (uint64_t)sr->originX + sr->width > spitch || (uint64_t)dr->originX + dr->width > dpitch ||
        ((sr->depth > 1 || sr->originZ) && (uint64_t)spitch * (sr->originY + sr->height) > sslice) ||
        ((dr->depth > 1 || dr->originZ) && (uint64_t)dpitch * (dr->originY + dr->height) > dslice))
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_COPY_REGION, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    c->u.region.dst = dst;
    c->u.region.src = src;
    c->u.region.dr = *dr;
    c->u.region.sr = *sr;
    c->u.region.dpitch = dpitch;
    c->u.region.dslice = dslice;
    c->u.region.spitch = spitch;
    c->u.region.sslice = sslice;
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryFill(ze_command_list_handle_t h, void *ptr, const void *pattern,
                                                        size_t psize, size_t size, ze_event_handle_t sig,
                                                        uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!ptr || !pattern)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (psize == 0 || (psize & (psize - 1)) || psize > 128)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_FILL, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    size_t off = blob_reserve(rec, psize);
    if (off == SIZE_MAX) {
        rec->ncmds--;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    memcpy(rec->blob + off, pattern, psize);
    c->u.fill.dst = ptr;
    c->u.fill.size = size;
    c->u.fill.pattern_off = off;
    c->u.fill.psize = psize;
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendBarrier(ze_command_list_handle_t h, ze_event_handle_t sig,
                                                     uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_NOP, sig, nwait, waits, &c);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryRangesBarrier(ze_command_list_handle_t h, uint32_t n,
                                                                 const size_t *sizes, const void **ranges,
                                                                 ze_event_handle_t sig, uint32_t nwait,
                                                                 ze_event_handle_t *waits)
{
    (void)n; (void)sizes; (void)ranges;
    HD_ENTRY();
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_NOP, sig, nwait, waits, &c);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendSignalEvent(ze_command_list_handle_t h, ze_event_handle_t ev)
{
    HD_ENTRY();
    if (!list_of(h) || !event_of(ev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_NOP, ev, 0, NULL, &c);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendWaitOnEvents(ze_command_list_handle_t h, uint32_t n,
                                                          ze_event_handle_t *evs)
{
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!evs)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_NOP, NULL, n, evs, &c);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendEventReset(ze_command_list_handle_t h, ze_event_handle_t ev)
{
    HD_ENTRY();
    struct hd_event *e = event_of(ev);
    if (!list_of(h) || !e)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_RESET_EVENT, NULL, 0, NULL, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    c->u.target = e;
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendWriteGlobalTimestamp(ze_command_list_handle_t h, uint64_t *dst,
                                                                  ze_event_handle_t sig, uint32_t nwait,
                                                                  ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!dst)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if ((uintptr_t)dst % 8)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_TIMESTAMP, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    c->u.ts_dst = dst;
    return rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryPrefetch(ze_command_list_handle_t h, const void *ptr,
                                                            size_t size)
{
    (void)size;
    HD_ENTRY();
    if (!list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return ptr ? ZE_RESULT_SUCCESS : ZE_RESULT_ERROR_INVALID_NULL_POINTER;
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemAdvise(ze_command_list_handle_t h, ze_device_handle_t d,
                                                       const void *ptr, size_t size, ze_memory_advice_t advice)
{
    (void)size; (void)advice;
    HD_ENTRY();
    if (!list_of(h) || !hd_device(d))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return ptr ? ZE_RESULT_SUCCESS : ZE_RESULT_ERROR_INVALID_NULL_POINTER;
}
