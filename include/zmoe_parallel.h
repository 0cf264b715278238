/* zmoe_parallel.h — expert parallelism: one MoE layer over several Level Zero devices of
 * one process (runtime/parallel.c; design in runtime/README.md, "Expert parallelism").
 *
 * The config's [parallel] section says how many devices (parallel.devices = N) and, with
 * an explicit expert map, which participant owns which routed expert (by default
 * participant r owns [r*E/N, (r+1)*E/N)). Every device routes all T tokens itself (the
 * router is replicated: no routing traffic), computes its own experts' rows of them
 * (on-input scaling fused as on one device) into an f32 partial output, and device 0,
 * which alone also runs the shared experts, sums the N partials in participant order
 * (fixed, no float atomics) into y.
 *
 * The ring and its slots work as on one device (zmoe.h): x is written once into
 * slot.input_host (host-visible; every device's recorded list copies it in), y and the
 * routing readback come back in slot.output_host / topk_*_host from device 0. As with
 * zmoe_create, everything is planned, allocated, created and recorded by
 * zmoe_parallel_create; acquire, submit and wait allocate nothing and make at most 4
 * Level Zero calls per device (fence synchronize + reset, execute, fence synchronize).
 */
#ifndef ZMOE_PARALLEL_H
#define ZMOE_PARALLEL_H

#include "zmoe.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zmoe_parallel;

/* Checks the [parallel] settings of a config: participants (devices or ranks, not both
 * above 1) within ZMOE_PARALLEL_MAX, an implicit map needing N to divide the experts, an
 * explicit map naming each expert once with a participant < N and giving each
 * participant at least one expert, and quantized expert tensors that split by expert.
 * Pure (no device). */
enum zmoe_status zmoe_parallel_check(const struct zmoe_config *cfg, struct zmoe_error *err);
/* Participants of a config (devices or ranks; 1 when neither is set). */
uint32_t zmoe_parallel_participants(const struct zmoe_config *cfg);
/* The owner of every routed expert (the explicit map or the contiguous default) into
 * owner[E]; the config must pass zmoe_parallel_check. */
void zmoe_parallel_owners(const struct zmoe_config *cfg, uint8_t *owner);

/* What one participant holds and moves, from the plan (pure; `zmoe plan --devices`). */
struct zmoe_parallel_share {
    uint32_t experts;            /* routed experts owned */
    uint32_t first_expert;       /* the lowest one */
    uint64_t weight_bytes;       /* its arena's weights (all layers) */
    uint64_t device_bytes;       /* its whole device arena */
    uint64_t host_visible_bytes; /* its host-visible block */
    /* per layer call (the recorded copies move max_tokens rows whatever T is): */
    uint64_t input_bytes;        /* x, host-visible -> this device */
    uint64_t partial_bytes;      /* its f32 partial y -> participant 0 (0 for participant 0) */
};
/* Fills share[N] for cfg split over `participants` (overrides the config's own count;
 * the implicit map when the config has none). */
enum zmoe_status zmoe_parallel_plan(const struct zmoe_config *cfg, uint32_t participants,
                                    struct zmoe_parallel_share *share, struct zmoe_error *err);

/* One process, parallel.devices devices of one driver (the config's runtime.device picks
 * GPU or hostdev; HOSTDEV_DEVICES=N gives N hostdev devices). info->context/device/queue
 * must be NULL (zmoe brings up its own); info->host_memory is not supported yet.
 *
 * MPI (parallel.ranks = N > 1, a build with MPI: ZMOE_HAVE_MPI below): one device per
 * rank, ranks of MPI_COMM_WORLD (size N; the caller has called MPI_Init or
 * MPI_Init_thread, and calls MPI_Finalize after zmoe_parallel_destroy). Every rank calls
 * the same sequence of zmoe_parallel_* functions with the same layer, T and x: x is
 * expected to be present on every rank (each rank's caller writes it into its own
 * slot.input_host; nothing broadcasts it), as in an engine whose hidden states are
 * replicated. Every rank routes and computes its experts; rank 0 gathers the f32
 * partials (persistent MPI requests per ring slot, host-staged), sums them in rank order
 * on its device and sends y back, so after zmoe_parallel_wait every rank has y in
 * slot.output_host (and its own routing readback). Waits are bounded by
 * runtime.wait_timeout_ms: a rank that dies or stops answering makes the others return
 * ZMOE_TIMEOUT (or the MPI error, with the communicator's error handler set to return
 * errors) instead of hanging. */
enum zmoe_status zmoe_parallel_create(const struct zmoe_create_info *info, struct zmoe_parallel **out,
                                      struct zmoe_error *err);
void zmoe_parallel_destroy(struct zmoe_parallel *p);
enum zmoe_status zmoe_parallel_load_weights(struct zmoe_parallel *p, struct zmoe_error *err);
enum zmoe_status zmoe_parallel_slot_acquire(struct zmoe_parallel *p, struct zmoe_slot *slot,
                                            struct zmoe_error *err);
enum zmoe_status zmoe_parallel_submit(struct zmoe_parallel *p, const struct zmoe_slot *slot,
                                      uint32_t layer, uint32_t tokens, struct zmoe_error *err);
/* Waits for every device of the slot; timeout_ns UINT64_MAX = the configured timeout,
 * for all devices together. A device lost is ZMOE_ERR_DEVICE_LOST (then every later
 * call too); a device that stops answering is ZMOE_TIMEOUT, never a hang. */
enum zmoe_status zmoe_parallel_wait(struct zmoe_parallel *p, const struct zmoe_slot *slot,
                                    uint64_t timeout_ns, struct zmoe_error *err);

/* Devices of this process (1 with MPI) and this process's participant index (0, or its
 * MPI rank). */
uint32_t zmoe_parallel_devices(const struct zmoe_parallel *p);
uint32_t zmoe_parallel_rank(const struct zmoe_parallel *p);
/* Stats of device `device` (its arena, allocations refused after init, names). */
enum zmoe_status zmoe_parallel_get_stats(const struct zmoe_parallel *p, uint32_t device,
                                         struct zmoe_stats *out);
/* Whether device r > 0 copies its partial straight into device 0 (zeDeviceCanAccessPeer)
 * or through host memory. ZMOE_PARALLEL_P2P=0 forces the host path. */
bool zmoe_parallel_peer(const struct zmoe_parallel *p, uint32_t device);

#ifdef __cplusplus
}
#endif
#endif /* ZMOE_PARALLEL_H */
