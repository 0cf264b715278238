/* queue.c — command queues: one worker thread each, feeding an in-order PoCL queue
 * (with profiling) that is only drained (clFinish) when the host must observe
 * progress: global timestamps, indirect launches, host-side copies, waits on events
 * nobody has signalled yet, end of a list. Execution of every command kind lives here. */
#include "hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------- queues */

struct hd_queue *hd_queue_of(ze_command_queue_handle_t h)
{
    struct hd_queue *q = (struct hd_queue *)h;
    return q && hd_handle_live(q, HD_MAGIC_QUEUE) && q->magic == HD_MAGIC_QUEUE ? q : NULL;
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
        int64_t off = hd_raw_to_mono();
        pthread_mutex_lock(&hd.lock);
        for (size_t i = 0; i < q->npend; i++) {
            struct hd_event *e = q->pend[i];
            if (e->clev && e->owner == q)
                hd_event_resolve_locked(e, off);
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
            hd_event_resolve_locked(e, hd_raw_to_mono());
            pthread_mutex_unlock(&hd.lock);
            return;
        }
        q->pend = p;
        q->pend_cap = cap;
    }
    q->pend[q->npend++] = e;
    pthread_mutex_lock(&hd.lock);
    hd_event_drop_clev_locked(e);
    e->clev = ev;
    e->owner = q;
    e->clev_kernel = kernel;
    hd_wake(e);   /* a host waiter sleeping on e now waits for the PoCL event instead */
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
        if (c->u.launch.count && c->u.launch.index >= *c->u.launch.count)
            return CL_SUCCESS;   /* beyond the count of a multiple-kernel launch */
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
            hd_event_check_locked(e, ev, true);
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
            hd_wake(q);   /* hd_quiesce does not wait for a queue the host may unblock */
        }
        struct hd_waiter wt;
        hd_waiter_add(&wt, e);
        while (!wt.cancelled && !e->signalled && !e->clev && !q->stop && !q->ctx->lost)
            hd_waiter_sleep(&wt, NULL);
        bool cancelled = wt.cancelled;
        /* The event was destroyed while this queue waited for it: the wait ends
         * and the next Synchronize reports it. */
        if (cancelled && q->error == ZE_RESULT_SUCCESS)
            q->error = ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        hd_waiter_remove(&wt);
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
        if (c->u.fill.size == 0) {
            /* nothing to fill */
        } else if (c->u.fill.size % c->u.fill.psize == 0 && (uintptr_t)c->u.fill.dst % c->u.fill.psize == 0) {
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
    case HD_CMD_QUERY_TIMESTAMPS: {
        /* After what came before: its signals in flight are resolved by the drain. */
        err = drain(q);
        struct hd_event *const *evs = (struct hd_event *const *)(const void *)(l->blob + c->u.query.events_off);
        const size_t *offs = c->u.query.offsets_off == SIZE_MAX
                                 ? NULL
                                 : (const size_t *)(const void *)(l->blob + c->u.query.offsets_off);
        pthread_mutex_lock(&hd.lock);
        for (uint32_t i = 0; i < c->u.query.n; i++) {
            struct hd_event *e = evs[i];
            ze_kernel_timestamp_result_t r;
            r.global.kernelStart = r.context.kernelStart = e->signalled ? e->ts_start : 0;
            r.global.kernelEnd = r.context.kernelEnd = e->signalled ? e->ts_end : 0;
            memcpy(c->u.query.dst + (offs ? offs[i] : i * sizeof r), &r, sizeof r);
        }
        pthread_mutex_unlock(&hd.lock);
        break;
    }
    case HD_CMD_RESET_EVENT:
        /* In order with what came before (free when the queue is already idle). */
        err = drain(q);
        pthread_mutex_lock(&hd.lock);
        hd_event_drop_clev_locked(c->u.target);
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
            hd_event_set_locked(c->signal, t1, t1);
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
        hd_waiter_add(&w, q);
        while (!w.cancelled && q->completed < target && !q->dead && !q->blocked)
            hd_waiter_sleep(&w, NULL);
        bool gone = w.cancelled;
        hd_waiter_remove(&w);
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
        /* A fence destroyed while its execution waited on the host (the
         * application's error: hd_quiesce does not wait for a blocked queue) is
         * gone from the handle table and not touched. */
        if (job.fence && hd_handle_live(job.fence, HD_MAGIC_FENCE)) {
            job.fence->signalled = true;
            hd_wake(job.fence);
        }
        hd_wake(q);
    }
    q->dead = true;
    hd_wake(q);
    pthread_mutex_unlock(&hd.lock);
    return NULL;
}

ze_result_t hd_queue_new(struct hd_context *c, struct hd_device *d, const ze_command_queue_desc_t *desc,
                             struct hd_queue **out)
{
    if (desc->ordinal >= HD_NUM_GROUPS || desc->index >= HD_GROUP_QUEUES)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (desc->mode > ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS || desc->priority > ZE_COMMAND_QUEUE_PRIORITY_PRIORITY_HIGH ||
        desc->flags > 0x1)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    struct hd_queue *q = calloc(1, sizeof *q);
    if (!q)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    q->magic = HD_MAGIC_QUEUE;
    q->ctx = c;
    q->dev = d;
    q->ordinal = desc->ordinal;
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
    c->refs++;
    pthread_mutex_unlock(&hd.lock);
    *out = q;
    return ZE_RESULT_SUCCESS;
}

static void queue_struct_free(struct hd_queue *q)
{
    struct hd_context *c = q->ctx;
    q->magic = HD_MAGIC_DEAD;
    free(q);
    hd_context_unref(c);
}

void hd_queue_unref(struct hd_queue *q)
{
    pthread_mutex_lock(&hd.lock);
    bool last = --q->refs == 0 && q->destroyed;
    pthread_mutex_unlock(&hd.lock);
    if (last)
        queue_struct_free(q);
}

void hd_queue_free(struct hd_queue *q)
{
    pthread_mutex_lock(&hd.lock);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    hd_wake_all();   /* the worker may wait for an event */
    pthread_mutex_unlock(&hd.lock);
    pthread_join(q->thread, NULL);
    pthread_mutex_lock(&hd.lock);
    for (struct hd_queue **p = &q->ctx->queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    hd_cancel_waiters(q, q + 1);
    pthread_mutex_unlock(&hd.lock);
    /* The worker may have stopped in the middle of a list: signals in flight. */
    q->inflight = true;
    drain(q);
    free(q->pend);
    q->pend = NULL;
    q->npend = q->pend_cap = 0;
    clReleaseCommandQueue(q->clq);
    q->clq = NULL;
    pthread_cond_destroy(&q->work);
    /* Fences of q stay valid to query and destroy: the struct waits for them. */
    pthread_mutex_lock(&hd.lock);
    q->destroyed = true;
    bool last = q->refs == 0;
    pthread_mutex_unlock(&hd.lock);
    if (last)
        queue_struct_free(q);
}

/* Waits with hd.lock held until q completed `target` jobs, the device is lost, the
 * worker is gone or the timeout passes; true when the jobs completed. A cancelled
 * wait (q destroyed meanwhile: the application's error) sets *cancelled, and q
 * must not be touched again. stats: the context counting a host synchronization. */
bool hd_queue_wait_locked(struct hd_queue *q, uint64_t target, uint64_t timeout, struct hd_context *stats,
                              bool *cancelled)
{
    if (cancelled)
        *cancelled = false;
    if (q->completed >= target || q->ctx->lost || q->dead || timeout == 0)
        return q->completed >= target;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    struct hd_waiter w;
    hd_waiter_add(&w, q);
    if (stats)
        stats->blocking_waits++;
    bool done = false;
    for (;;) {
        if (stats)
            stats->sleeps++;
        bool woken = hd_waiter_sleep(&w, deadline);
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
    hd_waiter_remove(&w);
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
        hd_wake_all();
        return false;
    }
    return true;
}

/* Queues jobs (one per list); the fence rides on the last one. */
ze_result_t hd_queue_submit(struct hd_queue *q, uint32_t n, struct hd_list *const *lists, struct hd_fence *fence,
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
            hd_waiter_add(&w, q);
            hd_waiter_sleep(&w, NULL);
            bool gone = w.cancelled;
            hd_waiter_remove(&w);
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
        hd_queue_wait_locked(q, target, UINT64_MAX, NULL, &gone);
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
    ze_result_t r = hd_queue_new(c, d, desc, &q);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    if (!hd_handle_add(q, HD_MAGIC_QUEUE)) {
        hd_queue_free(q);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    *ph = (ze_command_queue_handle_t)q;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandQueueDestroy(ze_command_queue_handle_t h)
{
    HD_ENTRY();
    struct hd_queue *q = hd_queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_handle_del(q);
    hd_queue_free(q);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandQueueExecuteCommandLists(ze_command_queue_handle_t h, uint32_t n,
                                                            ze_command_list_handle_t *phLists, ze_fence_handle_t hf)
{
    HD_ENTRY();
    struct hd_queue *q = hd_queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!phLists)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (n == 0)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    struct hd_fence *f = NULL;
    if (hf) {
        f = hd_fence_of(hf);
        if (!f)
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        if (f->queue != q)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct hd_list *l = hd_list_of(phLists[i]);
        if (!l)
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        if (l->immediate || l->ordinal != q->ordinal)
            return ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE;
        if (!l->closed || l->ctx != q->ctx)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    return hd_queue_submit(q, n, (struct hd_list *const *)phLists, f, NULL);
}

ze_result_t ZE_APICALL hd_zeCommandQueueSynchronize(ze_command_queue_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    struct hd_queue *q = hd_queue_of(h);
    if (!q)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    pthread_mutex_lock(&hd.lock);
    bool gone;
    bool ok = hd_queue_wait_locked(q, q->submitted, timeout, q->ctx, &gone);
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
