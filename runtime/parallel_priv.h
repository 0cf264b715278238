/* parallel_priv.h — what parallel.c (devices of one process) and parallel_mpi.c (one
 * device per MPI rank) share: the runtime's structure and the steps both forms use. */
#ifndef ZMOE_PARALLEL_PRIV_H
#define ZMOE_PARALLEL_PRIV_H

#include "runtime/runtime.h"
#include "zmoe_parallel.h"

/* One ring slot across the devices of this process: the cross-device events (one
 * process) and where the slot is in its life. */
struct par_slot {
    ze_event_handle_t copied[ZMOE_PARALLEL_MAX]; /* device r's partial left it (r >= 1) */
    ze_event_handle_t staged[ZMOE_PARALLEL_MAX]; /* host-staged partial r is on device 0 */
    ze_event_handle_t reduced;                   /* y is summed on device 0 */
    enum zmoe_slot_state state;
    uint32_t layer; /* of the submit in flight (MPI: the reduce list run by wait) */
    uint32_t step;  /* MPI: how far a submitted slot got (parallel_mpi.c) */
};

struct zmoe_par_mpi; /* parallel_mpi.c */

struct zmoe_parallel {
    struct zmoe_config cfg;
    struct zmoe_host_block hb;
    uint32_t n;            /* devices of this process (1 with MPI) */
    uint32_t participants; /* n, or the MPI ranks */
    uint32_t rank;         /* this process's first participant: 0, or the MPI rank */
    uint32_t depth, next_slot;
    bool weights_loaded, lost;
    uint64_t submits;
    uint8_t owner[ZMOE_PARALLEL_EXPERTS_MAX];
    uint16_t local[ZMOE_PARALLEL_EXPERTS_MAX]; /* index of expert e in its owner's weights */
    ze_driver_handle_t driver;
    ze_context_handle_t context;
    ze_device_handle_t devices[ZMOE_PARALLEL_MAX];
    struct zmoe_runtime *dev[ZMOE_PARALLEL_MAX];
    struct zmoe_shard shard[ZMOE_PARALLEL_MAX]; /* of this process's devices */
    bool peer[ZMOE_PARALLEL_MAX];
    ze_kernel_handle_t reduce; /* on the participant-0 device */
    ze_event_pool_handle_t pool;
    struct par_slot *slots;
    struct zmoe_par_mpi *mpi; /* NULL: one process */
};

static inline void *zmoe_par_buf(const struct zmoe_runtime *rt, uint32_t index)
{
    return zmoe_arena_ptr(&rt->arena, &rt->plan, index);
}

/* parallel_mpi.c (stubs refusing MPI when the build has none) */
/* Host-block bytes the MPI state needs. */
size_t zmoe_par_mpi_host_bytes(const struct zmoe_config *cfg);
/* Duplicates MPI_COMM_WORLD (MPI initialised by the caller, size = parallel.ranks),
 * sets p->rank and returns in *local the rank among the ranks of this node (device
 * choice). */
enum zmoe_status zmoe_par_mpi_init(struct zmoe_parallel *p, uint32_t *local, struct zmoe_error *err);
/* The lists, fences and persistent requests of every slot, after the device exists. */
enum zmoe_status zmoe_par_mpi_record(struct zmoe_parallel *p, struct zmoe_error *err);
enum zmoe_status zmoe_par_mpi_submit(struct zmoe_parallel *p, uint32_t s, uint32_t layer,
                                     struct zmoe_error *err);
/* Drives slot s to completion within timeout_ns (ZMOE_TIMEOUT leaves it resumable). */
enum zmoe_status zmoe_par_mpi_finish(struct zmoe_parallel *p, uint32_t s, uint64_t timeout_ns,
                                     const char *fn, struct zmoe_error *err);
enum zmoe_status zmoe_par_mpi_reset(struct zmoe_parallel *p, uint32_t s, struct zmoe_error *err);
/* Cancels and frees the requests, destroys the lists and fences, frees the communicator
 * (after the devices' queues were synchronised; before their tear-down). */
void zmoe_par_mpi_fini(struct zmoe_parallel *p);

#endif
