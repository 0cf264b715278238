/* fence.c — fences: signalled by the worker when the last list of an execution
 * completes. */
#include "hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------- fences */

struct hd_fence *hd_fence_of(ze_fence_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_FENCE);
}

ze_result_t ZE_APICALL hd_zeFenceCreate(ze_command_queue_handle_t h, const ze_fence_desc_t *desc,
                                        ze_fence_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_queue, q, hd_queue_of, h);
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0x1)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    struct hd_fence *f = calloc(1, sizeof *f);
    if (!f)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    f->magic = HD_MAGIC_FENCE;
    f->queue = q;
    f->signalled = (desc->flags & ZE_FENCE_FLAG_SIGNALED) != 0;
    if (!hd_handle_add(f, HD_MAGIC_FENCE)) {
        free(f);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    hd_parent_ref(&q->refs);   /* q's struct stays while f exists, even after q's destroy */
    *ph = (ze_fence_handle_t)f;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeFenceDestroy(ze_fence_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_fence, f, hd_fence_of, h);
    hd_handle_del(f);
    struct hd_queue *q = f->queue;
    hd_quiesce(q->ctx);
    pthread_mutex_lock(&hd.lock);
    f->magic = HD_MAGIC_DEAD;
    hd_cancel_waiters(f, f + 1);
    pthread_mutex_unlock(&hd.lock);
    free(f);
    hd_queue_unref(q);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeFenceHostSynchronize(ze_fence_handle_t h, uint64_t timeout)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_fence, f, hd_fence_of, h);
    /* A fence whose queue was destroyed before reaching it is never signalled: the
     * wait ends (INVALID_NULL_HANDLE) rather than hanging. */
    return hd_host_synchronize(f, &f->signalled, &f->queue->stop, f->queue->ctx, timeout);
}

ze_result_t ZE_APICALL hd_zeFenceQueryStatus(ze_fence_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_fence, f, hd_fence_of, h);
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
    HD_OBJECT(struct hd_fence, f, hd_fence_of, h);
    pthread_mutex_lock(&hd.lock);
    f->signalled = false;
    pthread_mutex_unlock(&hd.lock);
    return ZE_RESULT_SUCCESS;
}
