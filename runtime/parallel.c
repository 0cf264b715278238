/* parallel.c — expert parallelism over the Level Zero devices of one process
 * (include/zmoe_parallel.h; runtime/README.md "Expert parallelism").
 *
 * One struct zmoe_runtime per device, built from the same pieces as zmoe_create (plan,
 * bring-up on a shared context, kernels, arena, the launch plan as data) but planned as
 * a shard (plan.c, zmoe_runtime_plan_shard: only the owned experts' weights) and with
 * its own ring recorded here: per (slot, layer, device) one closed list. Device r's list
 * copies x from the slot's host-visible input, runs the launch plan with a parameter
 * block naming its experts (ZMOE_PF_SHARD; align gives the other experts' pairs no row,
 * combine skips them) into its f32 partial, and copies the partial to device 0 (peer
 * copy, or through its host-visible staging when zeDeviceCanAccessPeer says no),
 * signalling a cross-device event. Device 0's list waits for those events and runs
 * reduce_partials (fixed participant order) into y. No host round trip between stages:
 * the host executes one list per device and waits for the fences. */
#include "runtime/runtime.h"
#include "weights/quant.h"
#include "runtime/parallel_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DRIVERS 8u
#define MAX_DEVICES 64u
#define INTEL_VENDOR_ID 0x8086u

static bool expert_tensor(enum zmoe_tensor t)
{
    return t == ZMOE_TENSOR_W13 || t == ZMOE_TENSOR_B13 || t == ZMOE_TENSOR_W2 ||
           t == ZMOE_TENSOR_B2;
}

/* --------------------------------------------------------- config and plan */

uint32_t zmoe_parallel_participants(const struct zmoe_config *cfg)
{
    const uint32_t d = cfg->parallel.devices ? cfg->parallel.devices : 1;
    const uint32_t r = cfg->parallel.ranks ? cfg->parallel.ranks : 1;
    return d > r ? d : r;
}

void zmoe_parallel_owners(const struct zmoe_config *cfg, uint8_t *owner)
{
    const uint32_t E = cfg->model.experts, n = zmoe_parallel_participants(cfg);
    for (uint32_t e = 0; e < E && e < ZMOE_PARALLEL_EXPERTS_MAX; e++)
        owner[e] = cfg->parallel.expert_map_set ? cfg->parallel.expert_map[e]
                                                : (uint8_t)(e / (E / n));
}

/* The byte ranges ("parts") of an expert tensor: one for a float tensor, the codes,
 * scales, zero points and permutation of a quantized one (weights/quant.h). Each part is
 * row-major with an expert's rows contiguous, so an expert is a 1/E slice of every
 * part. */
struct parts {
    uint32_t count;
    uint64_t offset[4], bytes[4];
};

static void tensor_parts(const struct zmoe_config *cfg, enum zmoe_tensor t, struct parts *p)
{
    struct zmoe_qmatrix q;
    memset(p, 0, sizeof *p);
    if (zmoe_quant_matrix(cfg, t, &q)) {
        const uint64_t off[4] = {q.codes_offset, q.scales_offset, q.zeros_offset, q.perm_offset};
        const uint64_t by[4] = {q.codes_bytes, q.scales_bytes, q.zeros_bytes, q.perm_bytes};
        for (int i = 0; i < 4; i++)
            if (by[i]) {
                p->offset[p->count] = off[i];
                p->bytes[p->count++] = by[i];
            }
        return;
    }
    p->count = 1;
    p->bytes[0] = zmoe_tensor_bytes(cfg, t);
}

/* Whether the shard of `count` experts of tensor t is exactly `count` expert slices of
 * every part of the full tensor. */
static bool splits(const struct zmoe_config *cfg, enum zmoe_tensor t, uint32_t count)
{
    struct parts full, part;
    tensor_parts(cfg, t, &full);
    struct zmoe_config sc = *cfg;
    sc.model.experts = count;
    tensor_parts(&sc, t, &part);
    if (full.count != part.count)
        return false;
    for (uint32_t i = 0; i < full.count; i++)
        if (full.bytes[i] % cfg->model.experts ||
            full.bytes[i] / cfg->model.experts * count != part.bytes[i])
            return false;
    return true;
}

enum zmoe_status zmoe_parallel_check(const struct zmoe_config *cfg, struct zmoe_error *err)
{
    /* the [parallel] rules themselves (counts, the map) are the config's (config.c) */
    enum zmoe_status st = zmoe_config_validate(cfg, err);
    if (st)
        return st;
    const uint32_t n = zmoe_parallel_participants(cfg), E = cfg->model.experts;
    if (E > ZMOE_PARALLEL_EXPERTS_MAX) {
        zmoe_runtime_errorf(err, "parallel: %u experts; at most %u can be sharded", E,
                            ZMOE_PARALLEL_EXPERTS_MAX);
        return ZMOE_ERR_CONFIG;
    }
    uint32_t count[ZMOE_PARALLEL_MAX] = {0};
    uint8_t owner[ZMOE_PARALLEL_EXPERTS_MAX];
    zmoe_parallel_owners(cfg, owner);
    for (uint32_t e = 0; e < E; e++)
        count[owner[e]]++;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (!expert_tensor((enum zmoe_tensor)t) || !zmoe_tensor_present(cfg, (enum zmoe_tensor)t))
            continue;
        for (uint32_t i = 0; i < n; i++)
            if (!splits(cfg, (enum zmoe_tensor)t, count[i])) {
                zmoe_runtime_errorf(err, "parallel: tensor '%s' does not split by expert (a "
                                         "quantized part's rows or scale blocks span experts)",
                                    zmoe_tensor_name((enum zmoe_tensor)t));
                return ZMOE_ERR_CONFIG;
            }
    }
    return ZMOE_OK;
}

static void make_shards(const struct zmoe_config *cfg, uint32_t n, const uint8_t *owner,
                        bool staged_all, struct zmoe_shard *shard, uint16_t *local)
{
    for (uint32_t r = 0; r < n; r++)
        shard[r] = (struct zmoe_shard){.participants = n, .index = r, .shared = r == 0,
                                       .staged = staged_all};
    for (uint32_t e = 0; e < cfg->model.experts; e++) {
        if (local)
            local[e] = (uint16_t)shard[owner[e]].experts;
        shard[owner[e]].experts++;
    }
}

enum zmoe_status zmoe_parallel_plan(const struct zmoe_config *cfg, uint32_t participants,
                                    struct zmoe_parallel_share *share, struct zmoe_error *err)
{
    struct zmoe_config c = *cfg;
    if (participants != zmoe_parallel_participants(cfg)) {
        /* another count than the config's: the implicit map over `participants` devices */
        c.parallel.devices = participants;
        c.parallel.ranks = 0;
        c.parallel.expert_map_set = false;
    }
    enum zmoe_status st = zmoe_runtime_check_config(&c, err);
    if (!st)
        st = zmoe_parallel_check(&c, err);
    if (st)
        return st;
    const uint32_t n = zmoe_parallel_participants(&c);
    uint8_t owner[ZMOE_PARALLEL_EXPERTS_MAX];
    struct zmoe_shard shard[ZMOE_PARALLEL_MAX];
    zmoe_parallel_owners(&c, owner);
    make_shards(&c, n, owner, false, shard, NULL);
    const uint32_t cap = zmoe_runtime_max_buffers(&c);
    struct zmoe_buffer *storage = calloc(cap, sizeof *storage);
    if (!storage) {
        zmoe_runtime_errorf(err, "zmoe_parallel_plan: out of memory for %u buffers", cap);
        return ZMOE_ERR_NO_MEMORY;
    }
    const uint64_t io = (uint64_t)c.runtime.max_tokens * c.model.hidden;
    for (uint32_t r = 0; r < n && !st; r++) {
        struct zmoe_plan plan;
        struct zmoe_runtime_buffers ids;
        zmoe_plan_init(&plan, storage, cap);
        st = zmoe_runtime_plan_shard(&c, &shard[r], &plan, &ids, err);
        if (st)
            break;
        struct zmoe_parallel_share *s = &share[r];
        memset(s, 0, sizeof *s);
        s->experts = shard[r].experts;
        s->first_expert = UINT32_MAX;
        for (uint32_t e = 0; e < c.model.experts; e++)
            if (owner[e] == r && s->first_expert == UINT32_MAX)
                s->first_expert = e;
        for (uint32_t b = 0; b < plan.count; b++) {
            const struct zmoe_buffer *buf = &plan.buffers[b];
            if (buf->category == ZMOE_CATEGORY_WEIGHT)
                s->weight_bytes += buf->size;
        }
        s->device_bytes = plan.size[ZMOE_MEMORY_DEVICE];
        s->host_visible_bytes = plan.size[ZMOE_MEMORY_HOST_VISIBLE];
        s->input_bytes = io * zmoe_dtype_size(c.dtype.activations);
        s->partial_bytes = r == 0 ? 0 : io * 4;
    }
    free(storage);
    return st;
}

/* ----------------------------------------------------------------- create */

static size_t par_host_bytes(const struct zmoe_config *cfg, uint32_t n)
{
    size_t per = zmoe_runtime_host_bytes(cfg) + 128;
    return 256 + sizeof(struct zmoe_parallel) + (size_t)n * per +
           (size_t)cfg->runtime.ring_depth * sizeof(struct par_slot) + 128 +
           (cfg->parallel.ranks > 1 ? zmoe_par_mpi_host_bytes(cfg) : 0);
}

/* Level Zero up to the N devices: the driver whose devices match runtime.device. With
 * MPI (p->mpi) one device, the node-local rank's (`first` modulo the devices there). */
static enum zmoe_status find_devices(struct zmoe_parallel *p, uint32_t first, struct zmoe_error *err)
{
    const enum zmoe_device_choice choice = p->cfg.runtime.device;
    char note[256];
    zmoe_runtime_select_drivers(choice, note, sizeof note);
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS) {
        zmoe_runtime_errorf(err, "zeInit failed with %s (0x%08x) (%s): no Level Zero driver",
                            zmoe_ze_result_str(r), (unsigned)r, note);
        return ZMOE_ERR_NO_DEVICE;
    }
    uint32_t nd = MAX_DRIVERS;
    ze_driver_handle_t drivers[MAX_DRIVERS];
    ZE_CHECK(zeDriverGet(&nd, drivers), "listing drivers");
    uint32_t best_count = 0;
    for (int pass = 0; pass < 2 && best_count == 0; pass++) {
        /* pass 0: Intel GPUs (unless device = host); pass 1: CPUs (unless device = gpu) */
        if ((pass == 0 && choice == ZMOE_DEVICE_HOST) || (pass == 1 && choice == ZMOE_DEVICE_GPU))
            continue;
        for (uint32_t d = 0; d < nd && best_count == 0; d++) {
            uint32_t nv = MAX_DEVICES;
            ze_device_handle_t devs[MAX_DEVICES];
            ZE_CHECK(zeDeviceGet(drivers[d], &nv, devs), "listing the devices of driver %u", d);
            uint32_t k = 0;
            for (uint32_t v = 0; v < nv; v++) {
                ze_device_properties_t pr = {.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES};
                ZE_CHECK(zeDeviceGetProperties(devs[v], &pr), "reading device %u", v);
                const bool want = pass == 0 ? pr.type == ZE_DEVICE_TYPE_GPU && pr.vendorId == INTEL_VENDOR_ID
                                            : pr.type == ZE_DEVICE_TYPE_CPU;
                if (want && k < ZMOE_PARALLEL_MAX)
                    p->devices[k++] = devs[v];
            }
            if (k) {
                best_count = k;
                p->driver = drivers[d];
            }
        }
    }
    if (p->mpi && best_count) {
        p->devices[0] = p->devices[first % best_count];
        best_count = 1;
    }
    if (best_count < p->n) {
        zmoe_runtime_errorf(err, "parallel.devices = %u, but the %s driver has %u such device%s "
                                 "(on hostdev set HOSTDEV_DEVICES=%u)",
                            p->n, choice == ZMOE_DEVICE_GPU ? "Intel GPU" : "chosen", best_count,
                            best_count == 1 ? "" : "s", p->n);
        return ZMOE_ERR_NO_DEVICE;
    }
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    ZE_CHECK(zeContextCreate(p->driver, &cd, &p->context), "creating the context of %u devices", p->n);
    const char *force = getenv("ZMOE_PARALLEL_P2P");
    for (uint32_t d = 1; d < p->n; d++) {
        ze_bool_t ok = 0;
        ZE_CHECK(zeDeviceCanAccessPeer(p->devices[d], p->devices[0], &ok),
                 "asking whether device %u reaches device 0", d);
        p->peer[d] = ok && !(force && strcmp(force, "0") == 0);
    }
    return ZMOE_OK;
}

/* The parameter block of device r: the config's flags, this device's experts, and the
 * shared expert on device 0 alone. */
static void shard_params(const struct zmoe_parallel *p, uint32_t r, struct zmoe_params *prm)
{
    zmoe_runtime_params(&p->cfg, prm);
    prm->flags |= ZMOE_PF_SHARD;
    if (p->rank + r != 0)
        prm->flags &= ~(ZMOE_PF_SHARED | ZMOE_PF_SHARED_GATE);
    for (uint32_t e = 0; e < p->cfg.model.experts; e++)
        if (p->owner[e] == p->rank + r)
            prm->owned[e / 32] |= 1u << (e % 32);
}

static void *buf(const struct zmoe_runtime *rt, uint32_t index)
{
    return zmoe_par_buf(rt, index);
}

/* One device's runtime: the same steps as zmoe_create, on the shared context. */
static enum zmoe_status create_device(struct zmoe_parallel *p, uint32_t r, struct zmoe_error *err)
{
    const struct zmoe_config *cfg = &p->cfg;
    const size_t bytes = zmoe_runtime_host_bytes(cfg);
    void *mem = zmoe_host_block_alloc(&p->hb, bytes, 64);
    struct zmoe_host_block hb;
    if (!mem || zmoe_host_block_init(&hb, mem, bytes, err)) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small for device %u", r);
        return ZMOE_ERR_NO_MEMORY;
    }
    struct zmoe_runtime *rt = zmoe_host_block_alloc(&hb, sizeof *rt, 64);
    if (!rt) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small for device %u", r);
        return ZMOE_ERR_NO_MEMORY;
    }
    memset(rt, 0, sizeof *rt);
    rt->hb = hb;
    rt->cfg = *cfg;
    rt->phase = ZMOE_PHASE_CONFIGURED;
    rt->depth = cfg->runtime.ring_depth;
    p->dev[r] = rt;
    if (!zmoe_runtime_alloc_structures(rt)) { /* no experts-only lists: ring_experts is off */
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block of device %u too small", r);
        return ZMOE_ERR_NO_MEMORY;
    }
    enum zmoe_status st = zmoe_runtime_plan_shard(cfg, &p->shard[r], &rt->plan, &rt->ids, err);
    if (st)
        return st;
    rt->phase = ZMOE_PHASE_PLANNED;
    /* the budget is per device: each arena must fit its own */
    st = zmoe_plan_check_budget(&rt->plan, cfg->budget.device_bytes, cfg->budget.host_bytes,
                                rt->hb.size, err);
    if (st)
        return st;
    const struct zmoe_create_info di = {.config = cfg, .context = p->context, .device = p->devices[r]};
    st = zmoe_runtime_bring_up(rt, &di, err);
    if (st)
        return st;
    /* every device combines its own pairs into an f32 partial: reduce_partials rounds
     * once, to the activation dtype (the launch plan is data: only the variant changes) */
    snprintf(rt->launch.kernel[ZMOE_K_COMBINE].name, sizeof rt->launch.kernel[0].name, "combine_af32");
    /* quantized experts: the part offsets inside this device's (smaller) tensors */
    const struct zmoe_config sc = zmoe_runtime_shard_config(cfg, &p->shard[r]);
    zmoe_runtime_launch_plan_quant_shard(&rt->launch, &sc);
    zmoe_runtime_launch_plan_quant_shard(&rt->launch_experts, &sc);
    st = zmoe_runtime_commit(rt, (int32_t)r, err);
    for (uint32_t s = 0; !st && s < rt->depth; s++)
        shard_params(p, r, rt->slots[s].params);
    return st;
}

/* The cross-device events: per slot, one "copied" and one "staged" per device r >= 1 and
 * one "reduced", from one pool every device may signal and wait on. */
static enum zmoe_status create_events(struct zmoe_parallel *p, struct zmoe_error *err)
{
    const uint32_t per = 2 * ZMOE_PARALLEL_MAX + 1;
    ze_event_pool_desc_t pd = {
        .stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC,
        .flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE,
        .count = p->depth * per,
    };
    ZE_CHECK(zeEventPoolCreate(p->context, &pd, p->n, p->devices, &p->pool),
             "creating the cross-device events of %u devices", p->n);
    for (uint32_t s = 0; s < p->depth; s++) {
        struct par_slot *ps = &p->slots[s];
        ze_event_desc_t ed = {
            .stype = ZE_STRUCTURE_TYPE_EVENT_DESC,
            .signal = ZE_EVENT_SCOPE_FLAG_HOST,
            .wait = ZE_EVENT_SCOPE_FLAG_HOST,
        };
        for (uint32_t d = 1; d < p->n; d++) {
            ed.index = s * per + d;
            ZE_CHECK(zeEventCreate(p->pool, &ed, &ps->copied[d]), "creating the copy event of device %u slot %u", d, s);
            if (p->peer[d])
                continue;
            ed.index = s * per + ZMOE_PARALLEL_MAX + d;
            ZE_CHECK(zeEventCreate(p->pool, &ed, &ps->staged[d]), "creating the staging event of device %u slot %u", d, s);
        }
        ed.index = s * per + 2 * ZMOE_PARALLEL_MAX;
        ZE_CHECK(zeEventCreate(p->pool, &ed, &ps->reduced), "creating the reduce event of slot %u", s);
    }
    return ZMOE_OK;
}

/* Records the list of (device r, slot s, layer l). */
static enum zmoe_status record_list(struct zmoe_parallel *p, uint32_t r, uint32_t s, uint32_t l,
                                    struct zmoe_error *err)
{
    const struct zmoe_config *c = &p->cfg;
    struct zmoe_runtime *rt = p->dev[r], *rt0 = p->dev[0];
    struct zmoe_ring_slot *sl = &rt->slots[s], *sl0 = &rt0->slots[s];
    struct par_slot *ps = &p->slots[s];
    const size_t io_bytes = zmoe_slot_io_bytes(c);
    const size_t part_bytes = (size_t)c->runtime.max_tokens * c->model.hidden * 4;
    uint8_t *partial = buf(rt, rt->ids.partial_base + 2 * s);
    uint8_t *partials0 = buf(rt0, rt0->ids.partial_base + 2 * s);

    ze_command_list_desc_t ld = {.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC};
    ze_command_list_handle_t list;
    ZE_CHECK(zeCommandListCreate(rt->context, rt->device, &ld, &list),
             "creating the list of device %u slot %u layer %u", r, s, l);
    sl->lists[l] = list;
    for (uint32_t e = 0; e < ZMOE_STAGE_COUNT; e++)
        ZE_CHECK(zeCommandListAppendEventReset(list, sl->ev[e]), "recording an event reset (device %u)", r);
    if (r == 0) {
        ZE_CHECK(zeCommandListAppendEventReset(list, ps->reduced), "recording the reduce event reset");
        for (uint32_t d = 1; d < p->n; d++)
            if (!p->peer[d])
                ZE_CHECK(zeCommandListAppendEventReset(list, ps->staged[d]), "recording a staging reset");
    }
    /* x lives once, in device 0's host-visible slot input: every device reads it */
    ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->x_dev, sl0->x_host, io_bytes, NULL, 0, NULL),
             "recording the input copy of device %u slot %u layer %u", r, s, l);
    ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording the barrier after the input copy");
    const void *io[ZMOE_IO_COUNT] = {
        [ZMOE_IO_X] = sl->x_dev,
        [ZMOE_IO_Y] = partial, /* device 0: row 0 of its partials */
        [ZMOE_IO_TOKENS] = &sl->params->tokens,
        [ZMOE_IO_PARAMS] = sl->params,
    };
    enum zmoe_status st = zmoe_runtime_append_layer(rt, list, &rt->launch, l, io, sl->ev, err);
    if (st)
        return st;
    if (r > 0) {
        /* the partial to device 0: a peer copy, or into this device's host staging */
        void *dst = p->peer[r] ? (void *)(partials0 + (size_t)r * part_bytes)
                               : buf(rt, rt->ids.partial_base + 2 * s + 1);
        ZE_CHECK(zeCommandListAppendMemoryCopy(list, dst, partial, part_bytes, ps->copied[r], 1,
                                               &sl->ev[zmoe_launch_plan_y_stage(&rt->launch)]),
                 "recording the partial copy of device %u slot %u layer %u", r, s, l);
    } else {
        ze_event_handle_t wait[ZMOE_PARALLEL_MAX];
        uint32_t nw = 0;
        wait[nw++] = sl->ev[zmoe_launch_plan_y_stage(&rt->launch)];
        for (uint32_t d = 1; d < p->n; d++) {
            if (p->peer[d]) {
                wait[nw++] = ps->copied[d];
                continue;
            }
            struct zmoe_runtime *rd = p->dev[d];
            ZE_CHECK(zeCommandListAppendMemoryCopy(list, partials0 + (size_t)d * part_bytes,
                                                   buf(rd, rd->ids.partial_base + 2 * s + 1),
                                                   part_bytes, ps->staged[d], 1, &ps->copied[d]),
                     "recording the staged partial copy of device %u slot %u layer %u", d, s, l);
            wait[nw++] = ps->staged[d];
        }
        const uint32_t H = c->model.hidden, n = p->n, stride = c->runtime.max_tokens * H;
        const void *tok = &sl->params->tokens, *y = sl->y_dev;
        const void *src = partials0;
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 0, sizeof tok, &tok), "setting reduce argument 0");
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 1, sizeof src, &src), "setting reduce argument 1");
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 2, sizeof y, &y), "setting reduce argument 2");
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 3, sizeof H, &H), "setting reduce argument 3");
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 4, sizeof n, &n), "setting reduce argument 4");
        ZE_CHECK(zeKernelSetArgumentValue(p->reduce, 5, sizeof stride, &stride), "setting reduce argument 5");
        const ze_group_count_t g = {(H + ZMOE_KERNEL_WG - 1) / ZMOE_KERNEL_WG, c->runtime.max_tokens, 1};
        ZE_CHECK(zeCommandListAppendLaunchKernel(list, p->reduce, &g, ps->reduced, nw, wait),
                 "recording the reduction of slot %u layer %u", s, l);
        st = zmoe_runtime_append_readback(rt, list, s, l, err); /* device 0 routed every token */
        if (st)
            return st;
        ZE_CHECK(zeCommandListAppendMemoryCopy(list, sl->y_host, sl->y_dev, io_bytes, NULL, 1, &ps->reduced),
                 "recording the output copy of slot %u layer %u", s, l);
        /* the other devices' events were consumed above: reset them here, once everything
         * before has run, so the next run of this slot starts from unsignalled events
         * (their signallers reset nothing that device 0 may still be waiting on) */
        ZE_CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL), "recording the closing barrier");
        for (uint32_t d = 1; d < p->n; d++)
            ZE_CHECK(zeCommandListAppendEventReset(list, ps->copied[d]), "recording a copy event reset");
    }
    ZE_CHECK(zeCommandListClose(list), "closing the list of device %u slot %u layer %u", r, s, l);
    return ZMOE_OK;
}

enum zmoe_status zmoe_parallel_create(const struct zmoe_create_info *info, struct zmoe_parallel **out,
                                      struct zmoe_error *err)
{
    struct zmoe_error local;
    if (!err)
        err = &local;
    err->msg[0] = '\0';
    if (!info || !info->config || !out) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: info, info->config and out must not be NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    *out = NULL;
    if (info->context || info->device || info->queue || info->host_memory) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: a caller's context, device, queue or host "
                                 "memory is not supported with several devices");
        return ZMOE_ERR_ARGUMENT;
    }
    const struct zmoe_config *cfg = info->config;
    enum zmoe_status st = zmoe_config_validate(cfg, err);
    if (!st)
        st = zmoe_runtime_check_config(cfg, err);
    if (!st)
        st = zmoe_parallel_check(cfg, err);
    if (st)
        return st;
    const uint32_t participants = zmoe_parallel_participants(cfg);
    const bool mpi = cfg->parallel.ranks > 1;
    const uint32_t n = mpi ? 1 : participants; /* devices of this process */
    struct zmoe_host_block hb;
    st = zmoe_host_block_init(&hb, NULL, par_host_bytes(cfg, n), err);
    if (st)
        return st;
    struct zmoe_parallel *p = zmoe_host_block_alloc(&hb, sizeof *p, 64);
    if (!p) {
        zmoe_host_block_fini(&hb);
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small");
        return ZMOE_ERR_NO_MEMORY;
    }
    memset(p, 0, sizeof *p);
    p->hb = hb;
    p->cfg = *cfg;
    p->n = n;
    p->participants = participants;
    p->depth = cfg->runtime.ring_depth;
    zmoe_parallel_owners(cfg, p->owner);
    p->slots = zmoe_host_block_alloc(&p->hb, p->depth * sizeof *p->slots, 64);
    if (!p->slots) {
        zmoe_runtime_errorf(err, "zmoe_parallel_create: host block too small for the slots");
        st = ZMOE_ERR_NO_MEMORY;
        goto fail;
    }
    memset(p->slots, 0, p->depth * sizeof *p->slots);
    uint32_t local_rank = 0;
    if (mpi) {
        /* one device per rank; the partials go through host memory and MPI */
        st = zmoe_par_mpi_init(p, &local_rank, err);
        if (st)
            goto fail;
    }
    st = find_devices(p, local_rank, err);
    if (st)
        goto fail;
    make_shards(cfg, participants, p->owner, false, p->shard, p->local);
    if (mpi) {
        p->shard[0] = p->shard[p->rank];
        p->shard[0].staged = true;
    }
    for (uint32_t r = 1; r < n; r++)
        p->shard[r].staged = !p->peer[r];
    for (uint32_t r = 0; r < n && !st; r++)
        st = create_device(p, r, err);
    if (st)
        goto fail;
    char name[48];
    snprintf(name, sizeof name, "reduce_partials_a%s", zmoe_dtype_name(cfg->dtype.activations));
    ze_kernel_desc_t kd = {.stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = name};
    ze_result_t r = zeKernelCreate(p->dev[0]->module, &kd, &p->reduce);
    if (r == ZE_RESULT_SUCCESS)
        r = zeKernelSetGroupSize(p->reduce, ZMOE_KERNEL_WG, 1, 1);
    if (r != ZE_RESULT_SUCCESS) {
        st = zmoe_runtime_ze_error(err, r, "zeKernelCreate", "creating kernel '%s'", name);
        goto fail;
    }
    if (mpi) {
        st = zmoe_par_mpi_record(p, err);
        if (st)
            goto fail;
    }
    st = mpi ? ZMOE_OK : create_events(p, err);
    for (uint32_t s = 0; !mpi && !st && s < p->depth; s++)
        for (uint32_t l = 0; !st && l < cfg->model.layers; l++)
            for (uint32_t d = 0; !st && d < n; d++)
                st = record_list(p, d, s, l, err);
    if (st)
        goto fail;
    for (uint32_t d = 0; d < n; d++) {
        zmoe_host_block_commit(&p->dev[d]->hb);
        p->dev[d]->phase = ZMOE_PHASE_COMMITTED;
    }
    zmoe_host_block_commit(&p->hb);
    *out = p;
    return ZMOE_OK;

fail:
    zmoe_parallel_destroy(p);
    return st;
}

void zmoe_parallel_destroy(struct zmoe_parallel *p)
{
    if (!p)
        return;
    /* Device 0 may be waiting for a device that will never signal (lost, or a failed
     * submit): signal every cross-device event from the host so no queue stays blocked,
     * then each device's tear-down waits (bounded) for its queue. */
    for (uint32_t s = 0; p->slots && s < p->depth; s++) {
        struct par_slot *ps = &p->slots[s];
        for (uint32_t d = 0; d < ZMOE_PARALLEL_MAX; d++) {
            if (ps->copied[d])
                zeEventHostSignal(ps->copied[d]);
            if (ps->staged[d])
                zeEventHostSignal(ps->staged[d]);
        }
    }
    for (uint32_t d = p->n; d-- > 0;)
        if (p->dev[d] && p->dev[d]->queue)
            zeCommandQueueSynchronize(p->dev[d]->queue, 10ull * 1000 * 1000 * 1000);
    if (p->mpi)
        zmoe_par_mpi_fini(p);
    for (uint32_t d = p->n; d-- > 0;)
        if (p->dev[d]) {
            if (d == 0 && p->reduce)
                zeKernelDestroy(p->reduce);
            zmoe_runtime_tear_down(p->dev[d]);
            zmoe_host_block_fini(&p->dev[d]->hb);
        }
    for (uint32_t s = 0; p->slots && s < p->depth; s++) {
        struct par_slot *ps = &p->slots[s];
        for (uint32_t d = 0; d < ZMOE_PARALLEL_MAX; d++) {
            if (ps->copied[d])
                zeEventDestroy(ps->copied[d]);
            if (ps->staged[d])
                zeEventDestroy(ps->staged[d]);
        }
        if (ps->reduced)
            zeEventDestroy(ps->reduced);
    }
    if (p->pool)
        zeEventPoolDestroy(p->pool);
    if (p->context)
        zeContextDestroy(p->context);
    struct zmoe_host_block hb = p->hb; /* p lives inside the block it describes */
    zmoe_host_block_fini(&hb);
}

/* ------------------------------------------------------------------ weights */

struct sink_ctx {
    struct zmoe_parallel *p;
    uint32_t r;
};

/* Every device streams the whole model and keeps its rows: a float expert tensor and
 * every part of a quantized one hold expert e's rows at [e * unit, (e+1) * unit) of the
 * part (unit = part bytes / E), which land at the owner's local index. */
static enum zmoe_status par_sink(void *vctx, uint32_t layer, enum zmoe_tensor t, uint64_t offset,
                                 const void *bytes, size_t size, struct zmoe_error *err)
{
    const struct sink_ctx *ctx = vctx;
    struct zmoe_parallel *p = ctx->p;
    struct zmoe_runtime *rt = p->dev[ctx->r];
    if (!zmoe_runtime_shard_has(&p->cfg, &p->shard[ctx->r], t))
        return ZMOE_OK; /* the shared experts, on another device */
    if (!expert_tensor(t))
        return zmoe_runtime_upload_chunk(rt, layer, t, offset, bytes, size, err);
    const uint32_t E = p->cfg.model.experts;
    struct parts full, mine;
    tensor_parts(&p->cfg, t, &full);
    const struct zmoe_config sc = zmoe_runtime_shard_config(&p->cfg, &p->shard[ctx->r]);
    tensor_parts(&sc, t, &mine);
    const uint64_t end = offset + size;
    for (uint32_t i = 0; i < full.count; i++) {
        const uint64_t unit = full.bytes[i] / E, p0 = full.offset[i], p1 = p0 + full.bytes[i];
        const uint64_t a = offset > p0 ? offset : p0, b = end < p1 ? end : p1;
        if (a >= b || unit == 0)
            continue;
        for (uint64_t e = (a - p0) / unit; e <= (b - 1 - p0) / unit && e < E; e++) {
            if (p->owner[e] != p->rank + ctx->r)
                continue;
            const uint64_t e0 = p0 + e * unit, lo = a > e0 ? a : e0, hi = b < e0 + unit ? b : e0 + unit;
            const uint64_t dst = mine.offset[i] + (uint64_t)p->local[e] * unit + (lo - e0);
            enum zmoe_status st = zmoe_runtime_upload_chunk(rt, layer, t, dst,
                                                            (const uint8_t *)bytes + (lo - offset),
                                                            (size_t)(hi - lo), err);
            if (st)
                return st;
        }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_parallel_load_weights(struct zmoe_parallel *p, struct zmoe_error *err)
{
    struct zmoe_error local;
    if (!err)
        err = &local;
    if (!p) {
        zmoe_runtime_errorf(err, "zmoe_parallel_load_weights: NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    if (p->lost) {
        zmoe_runtime_errorf(err, "zmoe_parallel_load_weights: a device was lost; destroy the runtime");
        return ZMOE_ERR_DEVICE_LOST;
    }
    if (p->weights_loaded) {
        zmoe_runtime_errorf(err, "zmoe_parallel_load_weights: weights are loaded once");
        return ZMOE_ERR_STATE;
    }
    for (uint32_t r = 0; r < p->n; r++) {
        struct zmoe_runtime *rt = p->dev[r];
        struct sink_ctx ctx = {p, r};
        enum zmoe_status st = zmoe_weights_load(&p->cfg, buf(rt, rt->ids.staging), rt->ids.staging_bytes,
                                                par_sink, &ctx, rt->weights_report,
                                                sizeof rt->weights_report, err);
        if (st) {
            if (st == ZMOE_ERR_DEVICE_LOST)
                p->lost = true;
            return st;
        }
        rt->weights_loaded = true;
    }
    p->weights_loaded = true;
    return ZMOE_OK;
}

/* --------------------------------------------------------------------- ring */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum zmoe_status usable(struct zmoe_parallel *p, const char *fn, struct zmoe_error *err)
{
    if (!p) {
        zmoe_runtime_errorf(err, "%s: runtime is NULL", fn);
        return ZMOE_ERR_ARGUMENT;
    }
    if (p->lost) {
        zmoe_runtime_errorf(err, "%s: a device was lost; destroy this runtime", fn);
        return ZMOE_ERR_DEVICE_LOST;
    }
    if (!p->weights_loaded) {
        zmoe_runtime_errorf(err, "%s: load the weights first", fn);
        return ZMOE_ERR_STATE;
    }
    return ZMOE_OK;
}

/* Waits for every device's fence of slot s within one deadline, devices r > 0 first so
 * that a lost one is named rather than device 0 timing out behind it. */
static enum zmoe_status wait_slot(struct zmoe_parallel *p, uint32_t s, uint64_t timeout_ns,
                                  const char *fn, struct zmoe_error *err)
{
    const uint64_t t0 = now_ns();
    for (uint32_t k = 0; k < p->n; k++) {
        const uint32_t d = (k + 1) % p->n;
        struct zmoe_ring_slot *sl = &p->dev[d]->slots[s];
        if (sl->state != ZMOE_SLOT_SUBMITTED)
            continue;
        const uint64_t spent = now_ns() - t0;
        const uint64_t left = timeout_ns == UINT64_MAX ? UINT64_MAX
                              : spent >= timeout_ns    ? 0
                                                       : timeout_ns - spent;
        ze_result_t r = zeFenceHostSynchronize(sl->fence, left);
        if (r == ZE_RESULT_NOT_READY) {
            /* a lost device leaves the others waiting for its partial: name the loss */
            if (zeContextGetStatus(p->context) == ZE_RESULT_ERROR_DEVICE_LOST) {
                p->lost = true;
                zmoe_runtime_errorf(err, "%s: slot %u: the context reports a device lost (device "
                                         "%u did not finish within %llu ms)",
                                    fn, s, d, (unsigned long long)(timeout_ns / 1000000u));
                return ZMOE_ERR_DEVICE_LOST;
            }
            zmoe_runtime_errorf(err, "%s: slot %u still running on device %u after %llu ms", fn, s, d,
                                (unsigned long long)(timeout_ns / 1000000u));
            return ZMOE_TIMEOUT;
        }
        if (r != ZE_RESULT_SUCCESS) {
            if (r == ZE_RESULT_ERROR_DEVICE_LOST)
                p->lost = true;
            return zmoe_runtime_ze_error(err, r, "zeFenceHostSynchronize", "%s: slot %u on device %u",
                                         fn, s, d);
        }
        sl->state = ZMOE_SLOT_FREE;
    }
    p->slots[s].state = ZMOE_SLOT_FREE;
    return ZMOE_OK;
}

enum zmoe_status zmoe_parallel_slot_acquire(struct zmoe_parallel *p, struct zmoe_slot *slot,
                                            struct zmoe_error *err)
{
    struct zmoe_error local;
    if (!err)
        err = &local;
    enum zmoe_status st = usable(p, "zmoe_parallel_slot_acquire", err);
    if (st)
        return st;
    if (!slot) {
        zmoe_runtime_errorf(err, "zmoe_parallel_slot_acquire: slot is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    const uint32_t i = p->next_slot;
    struct par_slot *ps = &p->slots[i];
    if (ps->state == ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "zmoe_parallel_slot_acquire: all %u slots are acquired and not "
                                 "submitted",
                            p->depth);
        return ZMOE_ERR_STATE;
    }
    if (ps->state == ZMOE_SLOT_SUBMITTED) {
        const uint64_t t = (uint64_t)p->cfg.runtime.wait_timeout_ms * 1000000u;
        st = p->mpi ? zmoe_par_mpi_finish(p, i, t, "zmoe_parallel_slot_acquire", err)
                    : wait_slot(p, i, t, "zmoe_parallel_slot_acquire", err);
        if (st)
            return st;
    }
    if (p->mpi) {
        st = zmoe_par_mpi_reset(p, i, err);
        if (st)
            return st;
    }
    for (uint32_t d = 0; d < p->n; d++) {
        ze_result_t r = zeFenceReset(p->dev[d]->slots[i].fence);
        if (r != ZE_RESULT_SUCCESS) {
            if (r == ZE_RESULT_ERROR_DEVICE_LOST)
                p->lost = true;
            return zmoe_runtime_ze_error(err, r, "zeFenceReset", "slot %u on device %u", i, d);
        }
    }
    ps->state = ZMOE_SLOT_ACQUIRED;
    p->next_slot = (i + 1) % p->depth;
    /* x and y live on device 0 (record_list); no experts-only call, no routing input */
    zmoe_runtime_slot_view(&p->dev[0]->slots[i], i, slot);
    return ZMOE_OK;
}

static struct par_slot *slot_of(struct zmoe_parallel *p, const struct zmoe_slot *slot, const char *fn,
                                struct zmoe_error *err)
{
    if (!slot || slot->index >= p->depth || p->dev[0]->slots[slot->index].x_host != slot->input_host) {
        zmoe_runtime_errorf(err, "%s: not a slot of this runtime", fn);
        return NULL;
    }
    return &p->slots[slot->index];
}

enum zmoe_status zmoe_parallel_submit(struct zmoe_parallel *p, const struct zmoe_slot *slot,
                                      uint32_t layer, uint32_t tokens, struct zmoe_error *err)
{
    struct zmoe_error local;
    if (!err)
        err = &local;
    enum zmoe_status st = usable(p, "zmoe_parallel_submit", err);
    if (st)
        return st;
    struct par_slot *ps = slot_of(p, slot, "zmoe_parallel_submit", err);
    if (!ps)
        return ZMOE_ERR_ARGUMENT;
    if (layer >= p->cfg.model.layers || tokens == 0 || tokens > p->cfg.runtime.max_tokens) {
        zmoe_runtime_errorf(err, "zmoe_parallel_submit: layer %u / tokens %u out of range (layers "
                                 "%u, tokens 1..%u)",
                            layer, tokens, p->cfg.model.layers, p->cfg.runtime.max_tokens);
        return ZMOE_ERR_ARGUMENT;
    }
    if (ps->state != ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "zmoe_parallel_submit: slot %u was not acquired", slot->index);
        return ZMOE_ERR_STATE;
    }
    const uint32_t s = slot->index;
    for (uint32_t d = 0; d < p->n; d++)
        p->dev[d]->slots[s].params->tokens = tokens;
    if (p->mpi) {
        st = zmoe_par_mpi_submit(p, s, layer, err);
        if (st)
            return st;
        ps->state = ZMOE_SLOT_SUBMITTED;
        p->submits++;
        return ZMOE_OK;
    }
    /* devices r > 0 first: device 0's list waits for their partials */
    for (uint32_t k = 0; k < p->n; k++) {
        const uint32_t d = (k + 1) % p->n;
        struct zmoe_ring_slot *sl = &p->dev[d]->slots[s];
        ze_result_t r = zmoe_runtime_execute_slot(p->dev[d], sl, sl->lists[layer]);
        if (r != ZE_RESULT_SUCCESS) {
            /* the devices already started cannot be recalled: the runtime is unusable,
             * destroy releases the blocked ones (zmoe_parallel_destroy) */
            p->lost = true;
            return zmoe_runtime_ze_error(err, r, "zeCommandQueueExecuteCommandLists",
                                         "submitting slot %u on device %u", s, d);
        }
    }
    ps->state = ZMOE_SLOT_SUBMITTED;
    p->submits++;
    return ZMOE_OK;
}

enum zmoe_status zmoe_parallel_wait(struct zmoe_parallel *p, const struct zmoe_slot *slot,
                                    uint64_t timeout_ns, struct zmoe_error *err)
{
    struct zmoe_error local;
    if (!err)
        err = &local;
    enum zmoe_status st = usable(p, "zmoe_parallel_wait", err);
    if (st)
        return st;
    struct par_slot *ps = slot_of(p, slot, "zmoe_parallel_wait", err);
    if (!ps)
        return ZMOE_ERR_ARGUMENT;
    if (ps->state == ZMOE_SLOT_ACQUIRED) {
        zmoe_runtime_errorf(err, "zmoe_parallel_wait: slot %u is acquired but was not submitted",
                            slot->index);
        return ZMOE_ERR_STATE;
    }
    if (ps->state != ZMOE_SLOT_SUBMITTED)
        return ZMOE_OK;
    if (timeout_ns == UINT64_MAX)
        timeout_ns = (uint64_t)p->cfg.runtime.wait_timeout_ms * 1000000u;
    if (p->mpi)
        return zmoe_par_mpi_finish(p, slot->index, timeout_ns, "zmoe_parallel_wait", err);
    return wait_slot(p, slot->index, timeout_ns, "zmoe_parallel_wait", err);
}

uint32_t zmoe_parallel_devices(const struct zmoe_parallel *p)
{
    return p ? p->n : 0;
}

uint32_t zmoe_parallel_rank(const struct zmoe_parallel *p)
{
    return p ? p->rank : 0;
}

bool zmoe_parallel_peer(const struct zmoe_parallel *p, uint32_t device)
{
    return p && device > 0 && device < p->n && p->peer[device];
}

enum zmoe_status zmoe_parallel_get_stats(const struct zmoe_parallel *p, uint32_t device,
                                         struct zmoe_stats *out)
{
    if (!p || !out || device >= p->n)
        return ZMOE_ERR_ARGUMENT;
    enum zmoe_status st = zmoe_get_stats(p->dev[device], out);
    /* requests refused by the shared block count for every device */
    out->host_allocations_after_init += p->hb.refused;
    if (p->lost)
        return ZMOE_ERR_DEVICE_LOST;
    return st;
}
