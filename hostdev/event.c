/* event.c — event pools and events. An event signalled by a command carries that
 * command's PoCL event until it is resolved: at the queue's next drain or earlier by
 * whoever observes it (query, host synchronize, another queue waiting on it). */
#include "hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------- events */

struct hd_event *hd_event_of(ze_event_handle_t h)
{
    struct hd_event *e = hd_handle_get(h, HD_MAGIC_EVENT);
    return e && e->created ? e : NULL;
}

static struct hd_pool *pool_of(ze_event_pool_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_POOL);
}

/* A pool's struct (and its events' memory) goes when it is destroyed and its last
 * created event is destroyed, in either order. */
static void pool_free(struct hd_pool *p)
{
    struct hd_context *c = p->ctx;
    p->magic = HD_MAGIC_DEAD;
    free(p->events);
    free(p);
    hd_context_unref(c);
}

/* Drops a signal in flight (the event was signalled or reset another way). */
void hd_event_drop_clev_locked(struct hd_event *e)
{
    if (e->clev) {
        clReleaseEvent(e->clev);
        e->clev = NULL;
        e->owner = NULL;
    }
}

/* Called with hd.lock held. */
void hd_event_set_locked(struct hd_event *e, uint64_t start, uint64_t end)
{
    hd_event_drop_clev_locked(e);
    e->ts_start = start;
    e->ts_end = end;
    e->signalled = true;
    hd_wake(e);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* PoCL's profiling times are CLOCK_MONOTONIC_RAW ns; hostdev's device timer is
 * CLOCK_MONOTONIC (hd_now_ns). The offset between the two, read now. */
int64_t hd_raw_to_mono(void)
{
    uint64_t r0 = clock_ns(CLOCK_MONOTONIC_RAW);
    uint64_t m = clock_ns(CLOCK_MONOTONIC);
    uint64_t r1 = clock_ns(CLOCK_MONOTONIC_RAW);
    return (int64_t)(m - (r0 + (r1 - r0) / 2));
}

/* The signal in flight of e completed (its PoCL event is complete): e becomes
 * signalled with the command's profiling times. Called with hd.lock held. */
void hd_event_resolve_locked(struct hd_event *e, int64_t off)
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
    hd_event_set_locked(e, t0, t1);
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
void hd_event_check_locked(struct hd_event *e, cl_event ev, bool done)
{
    if (done && e->clev == ev)
        hd_event_resolve_locked(e, hd_raw_to_mono());
}

ze_result_t ZE_APICALL hd_zeEventPoolCreate(ze_context_handle_t h, const ze_event_pool_desc_t *desc, uint32_t ndev,
                                            ze_device_handle_t *phDevices, ze_event_pool_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    if (!desc || !ph || (ndev && !phDevices))
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0x7)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
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
    if (!hd_handle_add(p, HD_MAGIC_POOL)) {
        free(ev);
        free(p);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    hd_context_ref(c);
    *ph = (ze_event_pool_handle_t)p;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventPoolDestroy(ze_event_pool_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_pool, p, pool_of, h);
    hd_handle_del(p);
    hd_quiesce(p->ctx);
    /* Events still created stay valid until they are destroyed themselves. */
    if (hd_parent_destroy_last(&p->refs, &p->destroyed))
        pool_free(p);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventCreate(ze_event_pool_handle_t h, const ze_event_desc_t *desc, ze_event_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_pool, p, pool_of, h);
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->signal > 0x7 || desc->wait > 0x7)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    if (desc->index >= p->count)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct hd_event *e = &p->events[desc->index];
    pthread_mutex_lock(&hd.lock);
    bool busy = e->created;
    if (!busy) {
        e->created = true;
        hd_event_drop_clev_locked(e);
        e->signalled = false;
        e->ts_start = e->ts_end = 0;
        p->refs++;
    }
    pthread_mutex_unlock(&hd.lock);
    if (busy)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (!hd_handle_add(e, HD_MAGIC_EVENT)) {
        pthread_mutex_lock(&hd.lock);
        e->created = false;
        p->refs--;
        pthread_mutex_unlock(&hd.lock);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    *ph = (ze_event_handle_t)e;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventDestroy(ze_event_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    hd_handle_del(e);
    struct hd_pool *p = e->pool;
    hd_quiesce(p->ctx);
    pthread_mutex_lock(&hd.lock);
    e->created = false;
    hd_queues_forget_event_locked(p->ctx, e);
    hd_event_drop_clev_locked(e);
    hd_cancel_waiters(e, e + 1);
    bool last = --p->refs == 0 && p->destroyed;
    pthread_mutex_unlock(&hd.lock);
    if (last)
        pool_free(p);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventHostSignal(ze_event_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    uint64_t now = hd_now_ns();
    pthread_mutex_lock(&hd.lock);
    hd_event_set_locked(e, now, now);
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeEventHostReset(ze_event_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    pthread_mutex_lock(&hd.lock);
    hd_event_drop_clev_locked(e);
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
    hd_event_check_locked(e, ev, done);
    clReleaseEvent(ev);
}

ze_result_t ZE_APICALL hd_zeEventQueryStatus(ze_event_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    if (hd_context_lost(e->pool->ctx))
        return ZE_RESULT_ERROR_DEVICE_LOST;
    pthread_mutex_lock(&hd.lock);
    event_poll_locked(e);
    bool s = e->signalled;
    pthread_mutex_unlock(&hd.lock);
    return s ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}
/* zeEventHostSynchronize: like host_wait_flag, and while the event's signal is in
 * flight on a PoCL queue, waits for that PoCL event instead (clWaitForEvents, or
 * polling it until the deadline for a finite timeout). The waiter stays listed the
 * whole time, so destroying the event waits for this thread to leave. */
static enum hd_wait_end event_host_wait_locked(struct hd_event *e, struct hd_context *c, uint64_t timeout)
{
    if (e->signalled || c->lost)
        return HD_WAIT_DONE;
    event_poll_locked(e);
    if (e->signalled)
        return HD_WAIT_DONE;
    if (timeout == 0)
        return HD_WAIT_TIMEOUT;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    uint64_t deadline_ns = deadline ? (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec : 0;
    struct hd_waiter w;
    hd_waiter_add(&w, e);
    c->blocking_waits++;
    enum hd_wait_end end = HD_WAIT_DONE;
    for (;;) {
        if (w.cancelled) {
            end = HD_WAIT_CANCELLED;
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
                hd_event_check_locked(e, ev, done);
            clReleaseEvent(ev);
            if (!done && !w.cancelled && !e->signalled) {
                end = HD_WAIT_TIMEOUT;
                break;
            }
            continue;
        }
        c->sleeps++;
        bool woken = hd_waiter_sleep(&w, deadline);
        if (w.cancelled) {
            end = HD_WAIT_CANCELLED;
            break;
        }
        if (e->signalled || c->lost || e->clev)
            continue;
        if (!woken) {
            end = HD_WAIT_TIMEOUT;
            break;
        }
        c->idle_wakeups++;
    }
    hd_waiter_remove(&w);
    return end;
}

ze_result_t ZE_APICALL hd_zeEventHostSynchronize(ze_event_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    struct hd_context *c = e->pool->ctx;
    pthread_mutex_lock(&hd.lock);
    enum hd_wait_end end = event_host_wait_locked(e, c, timeout);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    return hd_host_wait_result(end, lost);
}

/* The kernel timestamps of e (of a pool with the timestamp flag) as they stand once
 * a completed signal in flight is resolved; NOT_READY while e is not signalled. */
static ze_result_t read_timestamp(struct hd_event *e, ze_kernel_timestamp_result_t *r)
{
    pthread_mutex_lock(&hd.lock);
    event_poll_locked(e);
    bool s = e->signalled;
    r->global.kernelStart = r->context.kernelStart = e->ts_start;
    r->global.kernelEnd = r->context.kernelEnd = e->ts_end;
    pthread_mutex_unlock(&hd.lock);
    return s ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

ze_result_t ZE_APICALL hd_zeEventQueryKernelTimestamp(ze_event_handle_t h, ze_kernel_timestamp_result_t *r)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_event, e, hd_event_of, h);
    if (!r)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!(e->pool->flags & ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP))
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    return read_timestamp(e, r);
}

/* One device, no sub-devices: the one timestamp result is the event's kernel
 * timestamp (zeEventQueryKernelTimestamp). */
ze_result_t ZE_APICALL hd_zeEventQueryTimestampsExp(ze_event_handle_t h, ze_device_handle_t dev, uint32_t *pCount,
                                                    ze_kernel_timestamp_result_t *ts)
{
    HD_ENTRY();
    struct hd_event *e = hd_event_of(h);
    if (!e || !hd_device(dev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!(e->pool->flags & ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP))
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (hd_count_query(pCount, ts, 1))
        return ZE_RESULT_SUCCESS;
    return read_timestamp(e, ts);
}
