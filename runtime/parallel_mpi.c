/* parallel_mpi.c — expert parallelism over MPI ranks, one device each
 * (include/zmoe_parallel.h; runtime/README.md "Expert parallelism").
 *
 * Every rank runs the same launch plan on its own device with its experts (parallel.c
 * builds the device as a shard, exactly as for the devices of one process); the f32
 * partials meet on rank 0 through host memory: rank r's list ends by copying its partial
 * into its host-visible staging, the host sends it with a persistent request of the
 * slot, rank 0 receives every rank's into its staging rows (requests preposted at
 * submit), runs a second recorded list (the rows to the device, reduce_partials in rank
 * order, y to the host) and sends y back with the slot's persistent requests. Every MPI
 * wait is a bounded poll (MPI_Test until the slot's deadline), and the communicator
 * returns errors instead of aborting: a rank gone is a ZMOE_TIMEOUT (or the MPI error)
 * on the others, never a hang. Created at init: the duplicated communicator, the
 * persistent requests, rank 0's reduce lists and fences. Nothing on the run path
 * allocates (MPI_Start/MPI_Test on persistent requests). */
#include "runtime/parallel_priv.h"

#include <string.h>

#ifdef ZMOE_HAVE_MPI

#include <limits.h>
#include <mpi.h>
#include <time.h>

struct zmoe_par_mpi {
    MPI_Comm comm;
    bool comm_dup;
    uint32_t size;
    /* [depth][size]: rank 0 receives rank r's partial at [s][r] (r >= 1) and sends y to
     * it at yreq[s][r]; rank r > 0 sends its partial at [s][0], receives y at yreq[s][0] */
    MPI_Request *part, *yreq;
    ze_command_list_handle_t *reduce_list; /* rank 0: [depth] (the same for every layer) */
    ze_fence_handle_t *reduce_fence;       /* rank 0: [depth] */
};

/* Where a submitted slot is (par_slot.step). */
enum { STEP_LOCAL = 1, STEP_GATHER, STEP_REDUCE, STEP_SCATTER };

static enum zmoe_status mpi_fail(struct zmoe_parallel *p, struct zmoe_error *err, int rc,
                                 const char *call, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    /* a communication error leaves the collective state unknown: the runtime is done */
    p->lost = true;
    zmoe_runtime_errorf(err, "%s failed on rank %u (%s): %s", call, p->rank, what, text);
    return ZMOE_ERR_DEVICE_LOST;
}

size_t zmoe_par_mpi_host_bytes(const struct zmoe_config *cfg)
{
    const size_t depth = cfg->runtime.ring_depth, n = cfg->parallel.ranks;
    return sizeof(struct zmoe_par_mpi) + 64 + 2 * (depth * n * sizeof(MPI_Request) + 64) +
           depth * (sizeof(ze_command_list_handle_t) + sizeof(ze_fence_handle_t)) + 128;
}

enum zmoe_status zmoe_par_mpi_init(struct zmoe_parallel *p, uint32_t *local, struct zmoe_error *err)
{
    int flag = 0;
    if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: parallel.ranks = %u needs MPI: call "
                                 "MPI_Init (or MPI_Init_thread) first",
                            p->cfg.parallel.ranks);
        return ZMOE_ERR_STATE;
    }
    struct zmoe_par_mpi *m = zmoe_host_block_alloc(&p->hb, sizeof *m, 64);
    if (!m) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small for the MPI state");
        return ZMOE_ERR_NO_MEMORY;
    }
    memset(m, 0, sizeof *m);
    p->mpi = m;
    /* our own communicator: the caller's traffic on MPI_COMM_WORLD never matches ours */
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(p, err, rc, "MPI_Comm_dup", "duplicating MPI_COMM_WORLD");
    m->comm_dup = true;
    rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    int rank = 0, size = 0;
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(m->comm, &rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(m->comm, &size);
    if (rc != MPI_SUCCESS)
        return mpi_fail(p, err, rc, "MPI_Comm_set_errhandler/rank/size", "setting up the communicator");
    if ((uint32_t)size != p->cfg.parallel.ranks) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: parallel.ranks = %u but MPI_COMM_WORLD has "
                                 "%d rank%s (mpiexec -n %u)",
                            p->cfg.parallel.ranks, size, size == 1 ? "" : "s", p->cfg.parallel.ranks);
        return ZMOE_ERR_CONFIG;
    }
    p->rank = (uint32_t)rank;
    m->size = (uint32_t)size;
    /* the device: this rank's index among the ranks of its node */
    MPI_Comm node;
    int lr = 0;
    rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_rank(node, &lr);
        MPI_Comm_free(&node);
    }
    if (rc != MPI_SUCCESS)
        return mpi_fail(p, err, rc, "MPI_Comm_split_type", "finding the node-local rank");
    *local = (uint32_t)lr;
    return ZMOE_OK;
}

/* Device lists of every (slot, layer) (the stages, the readback, on ranks > 0 the partial
 * to host staging), rank 0's reduce list per slot, and the persistent requests. */
enum zmoe_status zmoe_par_mpi_record(struct zmoe_parallel *p, struct zmoe_error *err)
{
    struct zmoe_par_mpi *m = p->mpi;
    const struct zmoe_config *c = &p->cfg;
    struct zmoe_runtime *rt = p->dev[0];
    const uint32_t N = m->size, depth = p->depth, H = c->model.hidden;
    const uint64_t rows = (uint64_t)c->runtime.max_tokens * H;
    const size_t io_bytes = rows * zmoe_dtype_size(c->dtype.activations), part_bytes = rows * 4;
    const size_t tk_bytes = zmoe_slot_routing_bytes(c);
    if (rows > INT_MAX || io_bytes > INT_MAX) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: %llu values per partial exceed an MPI count",
                            (unsigned long long)rows);
        return ZMOE_ERR_CONFIG;
    }
    m->part = zmoe_host_block_alloc(&p->hb, (size_t)depth * N * sizeof *m->part, 64);
    m->yreq = zmoe_host_block_alloc(&p->hb, (size_t)depth * N * sizeof *m->yreq, 64);
    m->reduce_list = zmoe_host_block_alloc(&p->hb, depth * sizeof *m->reduce_list, 64);
    m->reduce_fence = zmoe_host_block_alloc(&p->hb, depth * sizeof *m->reduce_fence, 64);
    if (!m->part || !m->yreq || !m->reduce_list || !m->reduce_fence) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small for the MPI requests");
        return ZMOE_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < (size_t)depth * N; i++)
        m->part[i] = m->yreq[i] = MPI_REQUEST_NULL;
    memset(m->reduce_list, 0, depth * sizeof *m->reduce_list);
    memset(m->reduce_fence, 0, depth * sizeof *m->reduce_fence);

    for (uint32_t s = 0; s < depth; s++) {
        struct zmoe_ring_slot *sl = &rt->slots[s];
        uint8_t *partial = zmoe_par_buf(rt, rt->ids.partial_base + 2 * s);
        uint8_t *stage = zmoe_par_buf(rt, rt->ids.partial_base + 2 * s + 1);
        for (uint32_t l = 0; l < c->model.layers; l++) {
            ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
            ze_command_list_handle_t list;
            ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, &list),
                     "creating the list of slot %u layer %u", s, l);
            sl->lists[l] = list;
            for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++)
                ZE_CHECK(zeCommandListAppendEventReset(list, sl->ev[e]), "recording an event reset");
            /* x is this rank's own: its caller wrote it into its slot input */
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->x_dev, sl->x_host, io_bytes, NULL, 0, NULL),
                     "recording the input copy of slot %u layer %u", s, l);
            ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier");
            const void *io[ZMOE_IO_COUNT] = {
                [ZMOE_IO_X] = sl->x_dev,
                [ZMOE_IO_Y] = partial,
                [ZMOE_IO_TOKENS] = &sl->params->tokens,
                [ZMOE_IO_PARAMS] = sl->params,
            };
            enum zmoe_status st = zmoe_runtime_append_layer(rt, list, &rt->launch, l, io, sl->ev, err);
            if (st)
                return st;
            ze_event_handle_t *routed = &sl->ev[zmoe_launch_plan_routing_stage(&rt->launch)];
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->ids_host,
                                                   zmoe_par_buf(rt, rt->ids.act[ZMOE_ACT_TOPK_IDS]),
                                                   tk_bytes, NULL, 1, routed),
                     "recording the top-k ids copy");
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->w_host,
                                                   zmoe_par_buf(rt, rt->ids.act[ZMOE_ACT_TOPK_W]),
                                                   tk_bytes, NULL, 1, routed),
                     "recording the top-k weights copy");
            if (p->rank != 0)
                ZE_CHECK(zeCommandListAppendMemoryCopy(list, stage, partial, part_bytes, NULL, 1,
                                                       &sl->ev[zmoe_launch_plan_y_stage(&rt->launch)]),
                         "recording the partial copy to host staging (slot %u layer %u)", s, l);
            ZE_CHECK(zeCommandListClose(list), "closing the list of slot %u layer %u", s, l);
        }
        int rc = MPI_SUCCESS;
        if (p->rank == 0) {
            /* the other ranks' partials, then the sum in rank order, then y to the host */
            ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
            ze_command_list_handle_t list;
            ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, &list),
                     "creating the reduce list of slot %u", s);
            m->reduce_list[s] = list;
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, partial + part_bytes, stage + part_bytes,
                                                   (size_t)(N - 1) * part_bytes, NULL, 0, NULL),
                     "recording the partials' copy of slot %u", s);
            ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier");
            const void *tok = &sl->params->tokens, *src = partial, *y = sl->y_dev;
            const uint32_t stride = (uint32_t)rows;
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 0, sizeof tok, &tok), "reduce argument 0");
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 1, sizeof src, &src), "reduce argument 1");
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 2, sizeof y, &y), "reduce argument 2");
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 3, sizeof H, &H), "reduce argument 3");
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 4, sizeof N, &N), "reduce argument 4");
            ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 5, sizeof stride, &stride), "reduce argument 5");
            const ze_group_count_t g = {(H + ZMOE_KERNEL_WG - 1) / ZMOE_KERNEL_WG, c->runtime.max_tokens, 1};
            ZE_CHECK(zeCommandListAppendLaunchKernel(list, p->reduce, &g, NULL, 0, NULL),
                     "recording the reduction of slot %u", s);
            ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording a barrier");
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->y_host, sl->y_dev, io_bytes, NULL, 0, NULL),
                     "recording the output copy of slot %u", s);
            ZE_CHECK(zeCommandListClose(list), "closing the reduce list of slot %u", s);
            ze_fence_desc_t fd = {.stype = ZE_STRUCTURE_TYPE_FENCE_DESC};
            ZE_CHECK(zeFenceCreate(rt->queue, &fd, &m->reduce_fence[s]), "creating the reduce fence of slot %u", s);
            for (uint32_t r = 1; r < N && rc == MPI_SUCCESS; r++) {
                rc = MPI_Recv_init(stage + (size_t)r * part_bytes, (int)rows, MPI_FLOAT, (int)r, (int)s,
                                   m->comm, &m->part[s * N + r]);
                if (rc == MPI_SUCCESS)
                    rc = MPI_Send_init(sl->y_host, (int)io_bytes, MPI_BYTE, (int)r, (int)(depth + s),
                                       m->comm, &m->yreq[s * N + r]);
            }
        } else {
            rc = MPI_Send_init(stage, (int)rows, MPI_FLOAT, 0, (int)s, m->comm, &m->part[s * N]);
            if (rc == MPI_SUCCESS)
                rc = MPI_Recv_init(sl->y_host, (int)io_bytes, MPI_BYTE, 0, (int)(depth + s), m->comm,
                                   &m->yreq[s * N]);
        }
        if (rc != MPI_SUCCESS)
            return mpi_fail(p, err, rc, "MPI_Send_init/MPI_Recv_init", "the persistent requests of a slot");
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_par_mpi_submit(struct zmoe_parallel *p, uint32_t s, uint32_t layer,
                                     struct zmoe_error *err)
{
    struct zmoe_par_mpi *m = p->mpi;
    struct zmoe_runtime *rt = p->dev[0];
    struct zmoe_ring_slot *sl = &rt->slots[s];
    const uint32_t N = m->size;
    /* preposted: what arrives for this slot lands in place */
    int rc = p->rank == 0 ? MPI_Startall((int)(N - 1), &m->part[s * N + 1]) : MPI_Start(&m->yreq[s * N]);
    if (rc != MPI_SUCCESS)
        return mpi_fail(p, err, rc, "MPI_Start", "preposting the receives of a slot");
    ze_result_t r = zmoe_runtime_execute_slot(rt, sl, sl->lists[layer]);
    if (r != ZE_RESULT_SUCCESS) {
        p->lost = true;
        return zmoe_runtime_ze_error(err, r, "zeCommandQueueExecuteCommandLists", "submitting slot %u", s);
    }
    p->slots[s].layer = layer;
    p->slots[s].step = STEP_LOCAL;
    return ZMOE_OK;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum zmoe_status fence_wait(struct zmoe_parallel *p, ze_fence_handle_t f, uint64_t deadline,
                                   uint32_t s, const char *fn, const char *what, struct zmoe_error *err)
{
    const uint64_t t = now_ns();
    ze_result_t r = zeFenceHostSynchronize(f, deadline > t ? deadline - t : 0);
    if (r == ZE_RESULT_NOT_READY) {
        zmoe_runtime_errorf(err, "%s: slot %u: %s still running on rank %u after %u ms", fn, s, what,
                            p->rank, p->cfg.runtime.wait_timeout_ms);
        return ZMOE_TIMEOUT;
    }
    if (r != ZE_RESULT_SUCCESS) {
        if (r == ZE_RESULT_ERROR_DEVICE_LOST)
            p->lost = true;
        return zmoe_runtime_ze_error(err, r, "zeFenceHostSynchronize", "%s: slot %u (%s) on rank %u", fn,
                                     s, what, p->rank);
    }
    return ZMOE_OK;
}

/* Polls requests [0, n) until all completed or the deadline passed. `peer0` names the
 * rank of request 0 (request i is rank peer0 + i) for the message. */
static enum zmoe_status poll_requests(struct zmoe_parallel *p, MPI_Request *req, uint32_t n,
                                      uint32_t peer0, uint64_t deadline, uint32_t s, const char *fn,
                                      const char *what, struct zmoe_error *err)
{
    for (;;) {
        uint32_t pending = UINT32_MAX;
        for (uint32_t i = 0; i < n; i++) {
            int done = 0;
            int rc = MPI_Test(&req[i], &done, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                return mpi_fail(p, err, rc, "MPI_Test", what);
            if (!done && pending == UINT32_MAX)
                pending = i;
        }
        if (pending == UINT32_MAX)
            return ZMOE_OK;
        if (now_ns() >= deadline) {
            zmoe_runtime_errorf(err, "%s: slot %u: %s: rank %u not heard from after %u ms (rank %u "
                                     "waiting)",
                                fn, s, what, peer0 + pending, p->cfg.runtime.wait_timeout_ms, p->rank);
            return ZMOE_TIMEOUT;
        }
        /* the peers are other processes: let them run (2 cores, several ranks) */
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
    }
}

enum zmoe_status zmoe_par_mpi_finish(struct zmoe_parallel *p, uint32_t s, uint64_t timeout_ns,
                                     const char *fn, struct zmoe_error *err)
{
    struct zmoe_par_mpi *m = p->mpi;
    struct zmoe_runtime *rt = p->dev[0];
    struct zmoe_ring_slot *sl = &rt->slots[s];
    struct par_slot *ps = &p->slots[s];
    const uint32_t N = m->size;
    const uint64_t t0 = now_ns();
    const uint64_t deadline = timeout_ns > UINT64_MAX - t0 ? UINT64_MAX : t0 + timeout_ns;
    enum zmoe_status st = ZMOE_OK;
    /* each step done is remembered, so a wait that timed out can be resumed */
    while (!st && ps->state == ZMOE_SLOT_SUBMITTED) {
        switch (ps->step) {
        case STEP_LOCAL:
            st = fence_wait(p, sl->fence, deadline, s, fn, "the layer", err);
            if (st)
                break;
            sl->state = ZMOE_SLOT_FREE;
            if (p->rank != 0) {
                int rc = MPI_Start(&m->part[s * N]);
                if (rc != MPI_SUCCESS)
                    return mpi_fail(p, err, rc, "MPI_Start", "sending the partial");
                ps->step = STEP_SCATTER;
            } else {
                ps->step = STEP_GATHER;
            }
            break;
        case STEP_GATHER: /* rank 0 */
            st = poll_requests(p, &m->part[s * N + 1], N - 1, 1, deadline, s, fn, "gathering the partials", err);
            if (st)
                break;
            {
                ze_result_t r = zeCommandQueueExecuteCommandLists(rt->queue, 1, &m->reduce_list[s],
                                                                  m->reduce_fence[s]);
                if (r != ZE_RESULT_SUCCESS) {
                    p->lost = true;
                    return zmoe_runtime_ze_error(err, r, "zeCommandQueueExecuteCommandLists",
                                                 "submitting the reduction of slot %u", s);
                }
            }
            ps->step = STEP_REDUCE;
            break;
        case STEP_REDUCE: /* rank 0 */
            st = fence_wait(p, m->reduce_fence[s], deadline, s, fn, "the reduction", err);
            if (st)
                break;
            {
                int rc = MPI_Startall((int)(N - 1), &m->yreq[s * N + 1]);
                if (rc != MPI_SUCCESS)
                    return mpi_fail(p, err, rc, "MPI_Startall", "sending y to the ranks");
            }
            ps->step = STEP_SCATTER;
            break;
        case STEP_SCATTER:
            /* rank 0: y reached every rank; rank r: its partial left and y arrived */
            if (p->rank == 0) {
                st = poll_requests(p, &m->yreq[s * N + 1], N - 1, 1, deadline, s, fn, "sending y", err);
            } else {
                st = poll_requests(p, &m->part[s * N], 1, 0, deadline, s, fn, "sending the partial", err);
                if (!st)
                    st = poll_requests(p, &m->yreq[s * N], 1, 0, deadline, s, fn, "receiving y", err);
            }
            if (!st) {
                ps->step = 0;
                ps->state = ZMOE_SLOT_FREE;
            }
            break;
        default:
            zmoe_runtime_errorf(err, "%s: slot %u in an unknown step %u", fn, s, ps->step);
            return ZMOE_ERR_STATE;
        }
    }
    return st;
}

enum zmoe_status zmoe_par_mpi_reset(struct zmoe_parallel *p, uint32_t s, struct zmoe_error *err)
{
    if (p->rank == 0) {
        ze_result_t r = zeFenceReset(p->mpi->reduce_fence[s]);
        if (r != ZE_RESULT_SUCCESS)
            return zmoe_runtime_ze_error(err, r, "zeFenceReset", "the reduce fence of slot %u", s);
    }
    return ZMOE_OK;
}

void zmoe_par_mpi_fini(struct zmoe_parallel *p)
{
    struct zmoe_par_mpi *m = p->mpi;
    if (!m)
        return;
    const size_t n = (size_t)p->depth * m->size;
    for (size_t i = 0; m->part && i < n; i++) {
        MPI_Request *rq[2] = {&m->part[i], &m->yreq[i]};
        for (int k = 0; k < 2; k++) {
            if (*rq[k] == MPI_REQUEST_NULL)
                continue;
            int done = 0;
            /* an operation still active (a peer gone): cancel it, never wait for it */
            if (MPI_Test(rq[k], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || !done)
                MPI_Cancel(rq[k]);
            MPI_Request_free(rq[k]);
        }
    }
    for (uint32_t s = 0; m->reduce_list && s < p->depth; s++) {
        if (m->reduce_fence[s])
            zeFenceDestroy(m->reduce_fence[s]);
        if (m->reduce_list[s])
            zeCommandListDestroy(m->reduce_list[s]);
    }
    if (m->comm_dup)
        MPI_Comm_free(&m->comm);
    p->mpi = NULL;
}

#else /* no MPI in this build */

static enum zmoe_status no_mpi(struct zmoe_parallel *p, struct zmoe_error *err)
{
    zmoe_runtime_errorf(err, "zmoe_parallel_create: parallel.ranks = %u, but this build has no MPI "
                             "(meson option mpi; libmpich-dev)",
                        p->cfg.parallel.ranks);
    return ZMOE_ERR_CONFIG;
}

size_t zmoe_par_mpi_host_bytes(const struct zmoe_config *cfg)
{
    (void)cfg;
    return 0;
}
enum zmoe_status zmoe_par_mpi_init(struct zmoe_parallel *p, uint32_t *local, struct zmoe_error *err)
{
    (void)local;
    return no_mpi(p, err);
}
enum zmoe_status zmoe_par_mpi_record(struct zmoe_parallel *p, struct zmoe_error *err)
{
    return no_mpi(p, err);
}
enum zmoe_status zmoe_par_mpi_submit(struct zmoe_parallel *p, uint32_t s, uint32_t layer,
                                     struct zmoe_error *err)
{
    (void)s, (void)layer;
    return no_mpi(p, err);
}
enum zmoe_status zmoe_par_mpi_finish(struct zmoe_parallel *p, uint32_t s, uint64_t timeout_ns,
                                     const char *fn, struct zmoe_error *err)
{
    (void)s, (void)timeout_ns, (void)fn;
    return no_mpi(p, err);
}
enum zmoe_status zmoe_par_mpi_reset(struct zmoe_parallel *p, uint32_t s, struct zmoe_error *err)
{
    (void)s;
    return no_mpi(p, err);
}
void zmoe_par_mpi_fini(struct zmoe_parallel *p)
{
    (void)p;
}

#endif
