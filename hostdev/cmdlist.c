/* cmdlist.c — command lists (regular and immediate) and every append. A list
 * records operations with everything copied at append time (kernel argument values,
 * wait lists, fill patterns); indirect group counts stay pointers and are read when
 * the worker reaches the launch. An immediate list owns a queue and records each
 * append into one of its slots, submitted at once. */
#include "hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ command lists */

struct hd_list *hd_list_of(ze_command_list_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_LIST);
}

struct hd_list *hd_list_new(struct hd_context *c, struct hd_device *d)
{
    struct hd_list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->magic = HD_MAGIC_LIST;
    l->ctx = c;
    l->dev = d;
    hd_context_ref(c);
    return l;
}

void hd_list_reset(struct hd_list *l)
{
    l->ncmds = 0;
    l->blob_len = 0;
    l->closed = false;
}

void hd_list_close(struct hd_list *l)
{
    size_t t = l->ncmds;
    while (t && l->cmds[t - 1].kind != HD_CMD_LAUNCH && l->cmds[t - 1].kind != HD_CMD_LAUNCH_INDIRECT)
        t--;
    l->host_tail = t;
    l->closed = true;
}

void hd_list_free(struct hd_list *l)
{
    struct hd_context *c = l->ctx;
    free(l->cmds);
    free(l->blob);
    l->magic = HD_MAGIC_DEAD;
    free(l);
    hd_context_unref(c);
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

/* Copies n bytes into the list's blob; returns their offset or SIZE_MAX. */
static size_t blob_copy(struct hd_list *l, const void *src, size_t n)
{
    size_t off = blob_reserve(l, n);
    if (off != SIZE_MAX && n)
        memcpy(l->blob + off, src, n);
    return off;
}

static ze_result_t cmd_new(struct hd_list *l, enum hd_cmd_kind kind, ze_event_handle_t signal, uint32_t nwait,
                           ze_event_handle_t *waits, struct hd_cmd **out)
{
    struct hd_event *sig = NULL;
    if (signal && !(sig = hd_event_of(signal)))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (nwait && !waits)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    for (uint32_t i = 0; i < nwait; i++)
        if (!hd_event_of(waits[i]))
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
        woff = blob_copy(l, waits, nwait * sizeof(struct hd_event *));
        if (woff == SIZE_MAX)
            return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
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

/* ------------------------------------------------- command list entry points */

ze_result_t ZE_APICALL hd_zeCommandListCreate(ze_context_handle_t h, ze_device_handle_t hDevice,
                                              const ze_command_list_desc_t *desc, ze_command_list_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    HD_OBJECT(struct hd_device, d, hd_device, hDevice);
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0x7)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    if (desc->commandQueueGroupOrdinal >= HD_NUM_GROUPS)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct hd_list *l = hd_list_new(c, d);
    if (!l)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    l->ordinal = desc->commandQueueGroupOrdinal;
    if (!hd_handle_add(l, HD_MAGIC_LIST)) {
        hd_list_free(l);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    *ph = (ze_command_list_handle_t)l;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListCreateImmediate(ze_context_handle_t h, ze_device_handle_t hDevice,
                                                       const ze_command_queue_desc_t *desc,
                                                       ze_command_list_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    HD_OBJECT(struct hd_device, d, hd_device, hDevice);
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    struct hd_list *l = hd_list_new(c, d);
    if (!l)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    l->immediate = true;
    l->ordinal = desc->ordinal;
    ze_result_t r = hd_queue_new(c, d, desc, &l->queue);
    if (r != ZE_RESULT_SUCCESS) {
        hd_list_free(l);
        return r;
    }
    if (!hd_handle_add(l, HD_MAGIC_LIST)) {
        hd_queue_free(l->queue);
        hd_list_free(l);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    *ph = (ze_command_list_handle_t)l;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListDestroy(ze_command_list_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_list, l, hd_list_of, h);
    hd_handle_del(l);
    hd_quiesce(l->ctx);
    if (l->immediate) {
        /* Let appends already made finish: their commands live in the slots. */
        pthread_mutex_lock(&hd.lock);
        hd_queue_wait_locked(l->queue, l->queue->submitted, UINT64_MAX, NULL, NULL);
        pthread_mutex_unlock(&hd.lock);
        hd_queue_free(l->queue);
        for (int i = 0; i < HD_IMM_SLOTS; i++)
            if (l->slots[i])
                hd_list_free(l->slots[i]);
    }
    hd_list_free(l);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListClose(ze_command_list_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_list, l, hd_list_of, h);
    if (l->immediate)
        return ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE;
    hd_list_close(l);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeCommandListReset(ze_command_list_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_list, l, hd_list_of, h);
    if (!l->immediate) {
        hd_quiesce(l->ctx);
        hd_list_reset(l);
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
    if (!l->slots[s] && !(l->slots[s] = hd_list_new(l->ctx, l->dev)))
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    pthread_mutex_lock(&hd.lock);
    hd_queue_wait_locked(l->queue, l->slot_seq[s], UINT64_MAX, NULL, NULL);
    pthread_mutex_unlock(&hd.lock);
    hd_list_reset(l->slots[s]);
    *rec = l->slots[s];
    return ZE_RESULT_SUCCESS;
}

static ze_result_t rec_end(struct hd_list *l, struct hd_list *rec)
{
    if (!l->immediate)
        return ZE_RESULT_SUCCESS;
    hd_list_close(rec);
    uint32_t s = l->next_slot % HD_IMM_SLOTS;
    uint64_t seq = 0;
    ze_result_t r = hd_queue_submit(l->queue, 1, &rec, NULL, &seq);
    if (r == ZE_RESULT_SUCCESS || seq) {
        l->slot_seq[s] = seq;
        l->next_slot++;
    }
    return r;
}

#define BEGIN_APPEND(h, l, rec)                                           \
    struct hd_list *l = hd_list_of(h), *rec;                                 \
    if (!l)                                                               \
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;                       \
    do {                                                                  \
        ze_result_t r_ = rec_begin(l, &rec);                              \
        if (r_ != ZE_RESULT_SUCCESS)                                      \
            return r_;                                                    \
    } while (0)

/* Whether k can be launched from list l. */
static ze_result_t launchable(const struct hd_list *l, const struct hd_kernel *k)
{
    if (!l || !k)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (l->ordinal == HD_GROUP_COPY)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* a copy-only list runs no kernels */
    for (uint32_t i = 0; i < k->info->nargs; i++) {
        if (k->info->args[i].kind == HD_ARG_UNSUPPORTED)
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;   /* an image or sampler argument */
        if (!k->set[i])
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* every argument must be set */
    }
    return ZE_RESULT_SUCCESS;
}

/* Records one launch of k into rec (arguments, group size and offset copied now). */
static ze_result_t record_launch(struct hd_list *rec, struct hd_kernel *k, const ze_group_count_t *gc, bool indirect,
                                 ze_event_handle_t sig, uint32_t nwait, ze_event_handle_t *waits,
                                 struct hd_cmd **out)
{
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, indirect ? HD_CMD_LAUNCH_INDIRECT : HD_CMD_LAUNCH, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    size_t off = blob_copy(rec, k->values, k->info->blob_size);
    if (off == SIZE_MAX) {
        rec->ncmds--;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    /* blob_copy may move the blob but not the cmds array: c is still valid. */
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
    if (out)
        *out = c;
    return ZE_RESULT_SUCCESS;
}

static ze_result_t append_launch(ze_command_list_handle_t h, ze_kernel_handle_t hk, const ze_group_count_t *gc,
                                 bool indirect, ze_event_handle_t sig, uint32_t nwait, ze_event_handle_t *waits)
{
    ze_result_t r = launchable(hd_list_of(h), hd_kernel_of(hk));
    if (r != ZE_RESULT_SUCCESS)
        return r;
    if (!gc)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    struct hd_kernel *k = hd_kernel_of(hk);
    BEGIN_APPEND(h, l, rec);
    r = record_launch(rec, k, gc, indirect, sig, nwait, waits, NULL);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

/* Up to n launches, kernel i with the group counts args[i]; how many run is read
 * from *count when the worker reaches them (like the group counts). The waits come
 * before the first, the signal after the last. */
ze_result_t ZE_APICALL hd_zeCommandListAppendLaunchMultipleKernelsIndirect(ze_command_list_handle_t h, uint32_t n,
                                                                          ze_kernel_handle_t *ks,
                                                                          const uint32_t *count,
                                                                          const ze_group_count_t *args,
                                                                          ze_event_handle_t sig, uint32_t nwait,
                                                                          ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!hd_list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if ((n && !ks) || !count || !args)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    for (uint32_t i = 0; i < n; i++) {
        ze_result_t r = launchable(hd_list_of(h), hd_kernel_of(ks[i]));
        if (r != ZE_RESULT_SUCCESS)
            return r;
    }
    BEGIN_APPEND(h, l, rec);
    size_t ncmds = rec->ncmds, blob_len = rec->blob_len;
    ze_result_t r = ZE_RESULT_SUCCESS;
    if (n == 0) {
        struct hd_cmd *c;
        r = cmd_new(rec, HD_CMD_NOP, sig, nwait, waits, &c);
    }
    for (uint32_t i = 0; i < n && r == ZE_RESULT_SUCCESS; i++) {
        struct hd_cmd *c;
        r = record_launch(rec, hd_kernel_of(ks[i]), &args[i], true, i + 1 == n ? sig : NULL, i == 0 ? nwait : 0,
                          i == 0 ? waits : NULL, &c);
        if (r == ZE_RESULT_SUCCESS) {
            c->u.launch.count = count;
            c->u.launch.index = i;
        }
    }
    if (r != ZE_RESULT_SUCCESS) {
        rec->ncmds = ncmds;   /* nothing of a failed append stays recorded */
        rec->blob_len = blob_len;
        return r;
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

static ze_result_t append_copy(ze_command_list_handle_t h, void *dst, const void *src, size_t size,
                               ze_event_handle_t sig, uint32_t nwait, ze_event_handle_t *waits)
{
    if (!hd_list_of(h))
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

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryCopy(ze_command_list_handle_t h, void *dst, const void *src,
                                                        size_t size, ze_event_handle_t sig, uint32_t nwait,
                                                        ze_event_handle_t *waits)
{
    HD_ENTRY();
    return append_copy(h, dst, src, size, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryCopyRegion(ze_command_list_handle_t h, void *dst,
                                                              const ze_copy_region_t *dr, uint32_t dpitch,
                                                              uint32_t dslice, const void *src,
                                                              const ze_copy_region_t *sr, uint32_t spitch,
                                                              uint32_t sslice, ze_event_handle_t sig,
                                                              uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!hd_list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!dst || !dr || !src || !sr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    /* The specification's 2D copy has depth 0: one slice. */
    ze_copy_region_t d2 = *dr, s2 = *sr;
    if (d2.depth == 0)
        d2.depth = 1;
    if (s2.depth == 0)
        s2.depth = 1;
    dr = &d2;
    sr = &s2;
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
    if (!hd_list_of(h))
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
    size_t off = blob_copy(rec, pattern, psize);
    if (off == SIZE_MAX) {
        rec->ncmds--;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    c->u.fill.dst = ptr;
    c->u.fill.size = size;
    c->u.fill.pattern_off = off;
    c->u.fill.psize = psize;
    return rec_end(l, rec);
}

/* A command that only waits and signals (barriers, SignalEvent, WaitOnEvents): a
 * list runs in order, so a barrier has nothing more to do. */
static ze_result_t append_nop(ze_command_list_handle_t h, ze_event_handle_t sig, uint32_t nwait,
                              ze_event_handle_t *waits)
{
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_NOP, sig, nwait, waits, &c);
    return r != ZE_RESULT_SUCCESS ? r : rec_end(l, rec);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendBarrier(ze_command_list_handle_t h, ze_event_handle_t sig,
                                                     uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    return append_nop(h, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryRangesBarrier(ze_command_list_handle_t h, uint32_t n,
                                                                 const size_t *sizes, const void **ranges,
                                                                 ze_event_handle_t sig, uint32_t nwait,
                                                                 ze_event_handle_t *waits)
{
    (void)n; (void)sizes; (void)ranges;
    HD_ENTRY();
    return append_nop(h, sig, nwait, waits);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendSignalEvent(ze_command_list_handle_t h, ze_event_handle_t ev)
{
    HD_ENTRY();
    if (!hd_list_of(h) || !hd_event_of(ev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return append_nop(h, ev, 0, NULL);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendWaitOnEvents(ze_command_list_handle_t h, uint32_t n,
                                                          ze_event_handle_t *evs)
{
    HD_ENTRY();
    if (!hd_list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!evs)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    return append_nop(h, NULL, n, evs);
}

ze_result_t ZE_APICALL hd_zeCommandListAppendEventReset(ze_command_list_handle_t h, ze_event_handle_t ev)
{
    HD_ENTRY();
    struct hd_event *e = hd_event_of(ev);
    if (!hd_list_of(h) || !e)
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
    if (!hd_list_of(h))
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
    if (!hd_list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return ptr ? ZE_RESULT_SUCCESS : ZE_RESULT_ERROR_INVALID_NULL_POINTER;
}

ze_result_t ZE_APICALL hd_zeCommandListAppendMemAdvise(ze_command_list_handle_t h, ze_device_handle_t d,
                                                       const void *ptr, size_t size, ze_memory_advice_t advice)
{
    (void)size;
    HD_ENTRY();
    if (!hd_list_of(h) || !hd_device(d))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (advice > ZE_MEMORY_ADVICE_BIAS_UNCACHED)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return ptr ? ZE_RESULT_SUCCESS : ZE_RESULT_ERROR_INVALID_NULL_POINTER;
}

/* Writes each event's kernel timestamps (ze_kernel_timestamp_result_t) at dst
 * (packed, or at pOffsets[i]) when the worker reaches the command, after what was
 * appended before it. Events must come from pools with the timestamp flag. */
ze_result_t ZE_APICALL hd_zeCommandListAppendQueryKernelTimestamps(ze_command_list_handle_t h, uint32_t n,
                                                                   ze_event_handle_t *evs, void *dst,
                                                                   const size_t *offsets, ze_event_handle_t sig,
                                                                   uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!hd_list_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!evs || !dst)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if ((uintptr_t)dst % 4)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < n; i++) {
        struct hd_event *e = hd_event_of(evs[i]);
        if (!e)
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
        if (!(e->pool->flags & ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP))
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        if (offsets && offsets[i] % 4)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    BEGIN_APPEND(h, l, rec);
    struct hd_cmd *c;
    ze_result_t r = cmd_new(rec, HD_CMD_QUERY_TIMESTAMPS, sig, nwait, waits, &c);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    size_t eoff = n ? blob_reserve(rec, (size_t)n * sizeof(struct hd_event *)) : 0;
    size_t ooff = offsets && n ? blob_copy(rec, offsets, (size_t)n * sizeof(size_t)) : SIZE_MAX;
    if (eoff == SIZE_MAX || (offsets && n && ooff == SIZE_MAX)) {
        rec->ncmds--;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    c = &rec->cmds[rec->ncmds - 1];
    for (uint32_t i = 0; i < n; i++) {
        struct hd_event *e = hd_event_of(evs[i]);
        memcpy(rec->blob + eoff + i * sizeof e, &e, sizeof e);
    }
    c->u.query.dst = dst;
    c->u.query.n = n;
    c->u.query.events_off = eoff;
    c->u.query.offsets_off = ooff;
    return rec_end(l, rec);
}

/* All memory is one host memory: a copy from another context's allocation is a
 * plain copy (zeCommandListAppendMemoryCopy's checks and ordering). */
ze_result_t ZE_APICALL hd_zeCommandListAppendMemoryCopyFromContext(ze_command_list_handle_t h, void *dst,
                                                                   ze_context_handle_t src_ctx, const void *src,
                                                                   size_t size, ze_event_handle_t sig,
                                                                   uint32_t nwait, ze_event_handle_t *waits)
{
    HD_ENTRY();
    if (!hd_list_of(h) || !hd_context(src_ctx))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return append_copy(h, dst, src, size, sig, nwait, waits);
}
