/* queue.c — command queues: an in-order PoCL queue (with profiling) each, and a
 * worker thread that starts each submitted list. Where a command must follow the
 * completion of what is in flight (indirect launches, host-side commands, the end
 * of a list) the list goes on in a PoCL completion callback instead of a drain; only
 * waits that must block (events nobody has signalled yet) go back to the worker.
 * Execution of every command kind lives here. */
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
    return hd_handle_get(h, HD_MAGIC_QUEUE);
}

/* Pending signals of a queue that stopped (device lost) are never resolved, and
 * hd_quiesce does not wait for such a queue: an event destroyed meanwhile (its pool's
 * memory goes with the last one) must not stay in the list. Its slot is pointed at a
 * placeholder without a PoCL event, which resolve_* skip; the list's length is left as
 * it is, so a runner of a live queue walking it sees a valid entry either way. */
void hd_queues_forget_event_locked(struct hd_context *c, struct hd_event *e)
{
    static struct hd_event none;
    for (struct hd_queue *q = c->queues; q; q = q->next)
        for (size_t i = 0; i < q->npend; i++)
            if (q->pend[i] == e)
                q->pend[i] = &none;
}

/* The first done_pend pending signals completed (resume_cb): resolve them now. */
static void resolve_done(struct hd_queue *q)
{
    size_t n = q->done_pend;
    int64_t off = hd_raw_to_mono();
    pthread_mutex_lock(&hd.lock);
    for (size_t i = 0; i < n; i++) {
        struct hd_event *e = q->pend[i];
        if (e->clev && e->owner == q)
            hd_event_resolve_locked(e, off);
    }
    pthread_mutex_unlock(&hd.lock);
    memmove(q->pend, q->pend + n, (q->npend - n) * sizeof *q->pend);
    q->npend -= n;
    q->done_pend = 0;
}

/* The events whose signals rode on PoCL commands of q, once those completed. */
static void resolve_pending(struct hd_queue *q)
{
    q->done_pend = q->npend;
    if (q->done_pend)
        resolve_done(q);
}

/* q's last enqueued command is now ev (a reference q takes over), or unknown. */
static void set_last(struct hd_queue *q, cl_event ev)
{
    if (q->last_ev)
        clReleaseEvent(q->last_ev);
    q->last_ev = ev;
}

/* Waits (clFinish) until everything enqueued to q's PoCL queue has completed and
 * signals the events riding on it. Blocking: only the worker, and a destroy, call
 * it; a runner in a PoCL callback suspends instead (suspend()). Free when nothing
 * was enqueued since q was last idle. */
static cl_int drain(struct hd_queue *q)
{
    if (!q->inflight && !q->npend)
        return CL_SUCCESS;
    cl_int err = q->inflight ? clFinish(q->clq) : CL_SUCCESS;
    q->inflight = false;
    set_last(q, NULL);
    resolve_pending(q);
    return err;
}

/* drain(q), keeping the first PoCL error in *err. */
static void drain_keeping_error(struct hd_queue *q, cl_int *err)
{
    cl_int e = drain(q);
    if (*err == CL_SUCCESS)
        *err = e;
}

/* A PoCL failure in q's execution: the first one is what Synchronize reports. */
static void note_cl_error(struct hd_queue *q, cl_int err)
{
    pthread_mutex_lock(&hd.lock);
    if (q->error == ZE_RESULT_SUCCESS)
        q->error = hd_cl_error(err);
    pthread_mutex_unlock(&hd.lock);
}

/* The command just enqueued with PoCL event ev signals e when it completes (e takes
 * the reference). Without room to track it (out of memory), e still carries ev:
 * whoever observes e resolves it then, and the runner never blocks for it. */
static void signal_later(struct hd_queue *q, struct hd_event *e, cl_event ev, bool kernel)
{
    bool tracked = true;
    if (q->npend == q->pend_cap) {
        size_t cap = q->pend_cap ? q->pend_cap * 2 : 16;
        struct hd_event **p = realloc(q->pend, cap * sizeof *p);
        if (p) {
            q->pend = p;
            q->pend_cap = cap;
        } else {
            tracked = false;
        }
    }
    if (tracked)
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
        /* q is idle here (needs_idle): what wrote the counts has completed. */
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
        /* Unchanged since the last launch of k: PoCL still has it. */
        const size_t vsize = a->kind == HD_ARG_VALUE ? a->size : sizeof(uint64_t);
        if (k->cl_set[i] && memcmp(k->cl_values + a->off, v, vsize) == 0)
            continue;
        k->cl_set[i] = 0;
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
        if (err == CL_SUCCESS) {
            memcpy(k->cl_values + a->off, v, vsize);
            k->cl_set[i] = 1;
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
    /* One pattern, then the filled prefix doubled: it always holds whole patterns,
     * so each copy continues the pattern where the prefix ends. */
    size_t n = size < psize ? size : psize;
    memcpy(d, pat, n);
    while (n < size) {
        size_t c = n < size - n ? n : size - n;
        memcpy(d + n, d, c);
        n += c;
    }
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
            drain_keeping_error(q, err);
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

/* How a runner's walk through q's jobs ended. */
enum run_end {
    RUN_DONE,        /* the command (or job) is done */
    RUN_SUSPENDED,   /* a PoCL callback continues at the same command: touch nothing of q */
    RUN_TO_WORKER,   /* only the worker may go on (it must block): hand the job to it */
    RUN_STOPPED      /* the queue stops or the device is lost */
};

/* Who runs: the worker may block; a PoCL callback must not (a wait it cannot pass
 * goes to the worker). */
enum runner { IN_WORKER, IN_CALLBACK };

static void run(struct hd_queue *q, enum runner who);

/* suspend() of this thread is registering a callback for `q`: a callback that PoCL
 * runs at once (the command had completed already) only sets `at_once`, and the
 * runner goes on in its own frame instead of one level deeper. Per thread through a
 * pthread key (not __thread: LeakSanitizer's thread scan crashes on the dynamic TLS
 * of a dlopen'ed driver). */
struct registration {
    struct hd_queue *q;
    bool at_once;
};
static pthread_key_t registering;
static pthread_once_t registering_once = PTHREAD_ONCE_INIT;

static void registering_init(void)
{
    pthread_key_create(&registering, NULL);
}

/* The PoCL command suspend() chose completed: so did everything before it on q's
 * in-order PoCL queue. Runs on the PoCL thread that completed it; PoCL calls it with
 * no lock held and allows enqueueing from it, so the next commands are enqueued here
 * and PoCL's threads go on to run them, with no hostdev thread to wake in between. */
static void CL_CALLBACK resume_cb(cl_event ev, cl_int status, void *arg)
{
    (void)status;   /* PoCL calls CL_COMPLETE callbacks only on success */
    struct hd_queue *q = arg;
    clReleaseEvent(ev);
    struct registration *r = pthread_getspecific(registering);
    if (r && r->q == q) {
        r->at_once = true;
        return;
    }
    q->inflight = false;
    /* Every pending signal is complete; they are resolved once the next command is
     * enqueued (resolve_done), off the path from one kernel to the next. */
    q->done_pend = q->npend;
    run(q, IN_CALLBACK);
}

enum suspend_end {
    SUSPENDED,   /* a callback continues: the caller touches nothing of q any more */
    IDLE,        /* what was in flight had completed already: q is idle, go on */
    NOT_SUSPENDED   /* PoCL could not take a marker or the callback: wait otherwise */
};

/* The next command must follow what q has in flight (an indirect launch reads its
 * group counts, a host-side command touches memory): instead of draining (clFinish,
 * which wakes this thread when PoCL is done, and then a PoCL thread for the next
 * command), continue in a completion callback of the last command enqueued. PoCL 3.1
 * calls CL_COMPLETE callbacks only for commands that complete successfully;
 * hostdev's commands (kernels, SVM copies and fills, markers) have no failure path
 * on PoCL's CPU device. */
static enum suspend_end suspend(struct hd_queue *q)
{
    /* The last command's own event serves when q has it (every enqueue asks PoCL
     * for it): a marker would be one more PoCL command to create and schedule. */
    cl_event m = q->last_ev;
    q->last_ev = NULL;
    if (!m && clEnqueueMarkerWithWaitList(q->clq, 0, NULL, &m) != CL_SUCCESS)
        return NOT_SUSPENDED;
    pthread_once(&registering_once, registering_init);
    struct registration r = { q, false };
    pthread_setspecific(registering, &r);
    cl_int err = clSetEventCallback(m, CL_COMPLETE, resume_cb, q);
    pthread_setspecific(registering, NULL);
    if (err != CL_SUCCESS) {
        clReleaseEvent(m);
        return NOT_SUSPENDED;
    }
    if (!r.at_once)
        return SUSPENDED;
    q->inflight = false;
    q->done_pend = q->npend;
    return IDLE;
}

/* What q has in flight must complete before the runner goes on: it suspends into a
 * callback (RUN_SUSPENDED), or the worker drains q (a first error kept in *err), or
 * a callback hands the job to the worker. RUN_DONE: q is idle, go on. */
static enum run_end go_idle(struct hd_queue *q, enum runner who, cl_int *err)
{
    enum suspend_end se = suspend(q);
    if (se == SUSPENDED)
        return RUN_SUSPENDED;
    if (se == NOT_SUSPENDED) {
        if (who != IN_WORKER)
            return RUN_TO_WORKER;
        drain_keeping_error(q, err);
    }
    return RUN_DONE;
}

static bool fill_on_pocl(const struct hd_cmd *c)
{
    return c->u.fill.size % c->u.fill.psize == 0 && (uintptr_t)c->u.fill.dst % c->u.fill.psize == 0;
}

/* Commands that need q idle (everything enqueued before them completed): they read
 * memory on the host (group counts, copy regions, fills PoCL cannot do, timestamps)
 * or change an event in order with the signals before them. */
static bool needs_idle(const struct hd_cmd *c)
{
    switch (c->kind) {
    case HD_CMD_LAUNCH_INDIRECT:
    case HD_CMD_COPY_REGION:
    case HD_CMD_TIMESTAMP:
    case HD_CMD_QUERY_TIMESTAMPS:
    case HD_CMD_RESET_EVENT:
        return true;
    case HD_CMD_FILL:
        return c->u.fill.size && !fill_on_pocl(c);
    default:
        return false;
    }
}

/* Executes one command. A command that cannot go on yet returns before any effect,
 * so it is run again from its start when resumed. */
static enum run_end run_cmd(struct hd_queue *q, const struct hd_list *l, const struct hd_cmd *c, enum runner who)
{
    cl_int err = CL_SUCCESS;
    if (c->nwait) {
        struct hd_event *const *w = (struct hd_event *const *)(const void *)(l->blob + c->wait_off);
        pthread_mutex_lock(&hd.lock);
        if (who != IN_WORKER) {
            /* A callback never blocks: a wait it cannot pass at once (the event is
             * neither signalled nor in flight on q itself) goes to the worker. */
            for (uint32_t i = 0; i < c->nwait && !q->stop && !q->ctx->lost; i++)
                if (!w[i]->signalled && !(w[i]->clev && w[i]->owner == q)) {
                    pthread_mutex_unlock(&hd.lock);
                    return RUN_TO_WORKER;
                }
        } else {
            bool drained = false;
            for (uint32_t i = 0; i < c->nwait && !q->stop && !q->ctx->lost; i++)
                wait_event_locked(q, w[i], &drained, &err);
            q->blocked = false;
        }
        bool stop = q->stop || q->ctx->lost;
        pthread_mutex_unlock(&hd.lock);
        if (stop)
            return RUN_STOPPED;
    }
    if (q->inflight && (q->resume >= l->host_tail || needs_idle(c))) {
        enum run_end e = go_idle(q, who, &err);
        if (e != RUN_DONE)
            return e;
    }
    if (q->done_pend && c->kind != HD_CMD_LAUNCH && c->kind != HD_CMD_LAUNCH_INDIRECT)
        resolve_done(q);   /* before anything that observes events */
    /* A signalling command enqueued to PoCL hands its PoCL event to the L0 event
     * (signal_later); a command done on the host signals at once (now). Copies and
     * fills with nothing in flight before them are done on the host at once: no
     * PoCL command, event or thread hand-off. Every enqueue asks PoCL for the
     * command's event (last_ev, for suspend). */
    cl_event ev = NULL;
    cl_event *out = &ev;
    bool kernel = false;
    switch (c->kind) {
    case HD_CMD_LAUNCH:
    case HD_CMD_LAUNCH_INDIRECT:
        kernel = true;
        err = run_launch(q, l, c, out);
        break;
    case HD_CMD_COPY:
        if (!c->u.copy.size) {
            /* nothing to copy */
        } else if (q->inflight) {
            err = clEnqueueSVMMemcpy(q->clq, CL_FALSE, c->u.copy.dst, c->u.copy.src, c->u.copy.size, 0, NULL,
                                     out);
            if (err == CL_SUCCESS)
                q->inflight = true;
        } else {
            memcpy(c->u.copy.dst, c->u.copy.src, c->u.copy.size);
        }
        break;
    case HD_CMD_COPY_REGION: {
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
        } else if (q->inflight) {
            /* needs_idle: only fills PoCL can do get here with work in flight */
            err = clEnqueueSVMMemFill(q->clq, c->u.fill.dst, pat, c->u.fill.psize, c->u.fill.size, 0, NULL, out);
            if (err == CL_SUCCESS)
                q->inflight = true;
        } else {
            fill_host(c->u.fill.dst, c->u.fill.size, pat, c->u.fill.psize);
        }
        break;
    }
    case HD_CMD_TIMESTAMP: {
        uint64_t now = hd_now_ns();
        memcpy(c->u.ts_dst, &now, sizeof now);
        break;
    }
    case HD_CMD_QUERY_TIMESTAMPS: {
        /* After what came before: q is idle and its signals are resolved. */
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
        /* In order with what came before: q is idle. */
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
            clRetainEvent(ev);   /* one reference for the L0 event, one for last_ev */
            signal_later(q, c->signal, ev, kernel);
        } else {
            /* Done on the host (or failed): signalled now, after what came before
             * where this thread may wait for it. */
            if (who == IN_WORKER)
                drain_keeping_error(q, &err);
            uint64_t t1 = hd_now_ns();
            pthread_mutex_lock(&hd.lock);
            hd_event_set_locked(c->signal, t1, t1);
            pthread_mutex_unlock(&hd.lock);
        }
    }
    if (ev)
        set_last(q, ev);
    if (q->done_pend)
        resolve_done(q);
    if (err != CL_SUCCESS) {
        note_cl_error(q, err);
        fprintf(stderr, "hostdev: command %d failed in PoCL (%d)\n", (int)c->kind, err);
    }
    return RUN_DONE;
}

/* Runs l from command q->resume; the job is done once what it enqueued completed. */
static enum run_end run_job(struct hd_queue *q, const struct hd_list *l, enum runner who)
{
    for (; q->resume < l->ncmds; q->resume++) {
        enum run_end e = run_cmd(q, l, &l->cmds[q->resume], who);
        if (e != RUN_DONE)
            return e;
    }
    if (q->inflight) {
        cl_int err = CL_SUCCESS;
        enum run_end e = go_idle(q, who, &err);
        if (e != RUN_DONE)
            return e;
        if (err != CL_SUCCESS)
            note_cl_error(q, err);
    }
    if (q->done_pend)
        resolve_done(q);
    return RUN_DONE;
}

/* The runner gives q up. hd.lock held. */
static void release_locked(struct hd_queue *q)
{
    q->busy = false;
    if (q->stop || q->halt || q->active || q->completed != q->submitted)
        pthread_cond_signal(&q->work);
    hd_wake(&q->busy);   /* a destroy waiting for the runner */
}

/* Runs q's jobs, in order, from where they stand until none is left, one suspends
 * (its callback goes on) or one must go to the worker. The caller holds q (busy). */
static void run(struct hd_queue *q, enum runner who)
{
    for (;;) {
        pthread_mutex_lock(&hd.lock);
        if (q->stop || q->halt || (!q->active && q->completed == q->submitted)) {
            release_locked(q);
            pthread_mutex_unlock(&hd.lock);
            return;
        }
        uint64_t latency = 0;
        if (!q->active) {
            latency = q->ctx->exec_latency_us;
            if (latency && who != IN_WORKER) {
                release_locked(q);   /* the worker sleeps the latency, not a PoCL thread */
                pthread_mutex_unlock(&hd.lock);
                return;
            }
            q->active = true;
            q->resume = 0;
        }
        struct hd_job job = q->ring[q->completed % HD_RING];
        pthread_mutex_unlock(&hd.lock);
        if (latency)
            usleep((useconds_t)latency);
        enum run_end e = run_job(q, job.list, who);
        if (e == RUN_SUSPENDED)
            return;
        pthread_mutex_lock(&hd.lock);
        if (e != RUN_DONE) {
            if (e == RUN_STOPPED)
                q->halt = true;   /* as the worker did: it exits, later executions fail */
            release_locked(q);
            pthread_mutex_unlock(&hd.lock);
            return;
        }
        q->active = false;
        q->completed++;
        /* A fence destroyed while its execution waited on the host (the
         * application's error: hd_quiesce does not wait for a blocked queue) is
         * gone from the handle table and not touched. */
        if (job.fence && hd_handle_live(job.fence, HD_MAGIC_FENCE)) {
            job.fence->signalled = true;
            hd_wake(job.fence);
        }
        hd_wake(q);
        pthread_mutex_unlock(&hd.lock);
    }
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
        while (!q->stop && !q->halt && (q->busy || (!q->active && q->completed == q->submitted)))
            pthread_cond_wait(&q->work, &hd.lock);
        if (q->stop || q->halt)
            break;
        q->busy = true;
        pthread_mutex_unlock(&hd.lock);
        run(q, IN_WORKER);
        pthread_mutex_lock(&hd.lock);
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
    if (hd_parent_unref_last(&q->refs, &q->destroyed))
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
    /* A PoCL callback may still be running a job: it gives q up at the next job or
     * at a wait it cannot pass. */
    while (q->busy) {
        struct hd_waiter w;
        hd_waiter_add(&w, &q->busy);
        if (q->busy)
            hd_waiter_sleep(&w, NULL);
        hd_waiter_remove(&w);
    }
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
    if (hd_parent_destroy_last(&q->refs, &q->destroyed))
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
    /* The worker starts the jobs (the submitting thread does not: PoCL allocates in
     * every enqueue, and a caller of Execute should see none of that). */
    if (!q->busy)   /* else the runner goes on to these jobs itself */
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
    HD_OBJECT(struct hd_context, c, hd_context, h);
    HD_OBJECT(struct hd_device, d, hd_device, hDevice);
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
    HD_OBJECT(struct hd_queue, q, hd_queue_of, h);
    hd_handle_del(q);
    hd_queue_free(q);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandQueueExecuteCommandLists(ze_command_queue_handle_t h, uint32_t n,
                                                            ze_command_list_handle_t *phLists, ze_fence_handle_t hf)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_queue, q, hd_queue_of, h);
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
    HD_OBJECT(struct hd_queue, q, hd_queue_of, h);
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
