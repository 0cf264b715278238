/* wait.c — threads blocked in hostdev: host synchronizations, a queue worker waiting
 * for an event, a destroy waiting for a queue. Each waiter sleeps on its own condition
 * and is woken only by a change of the object it waits for (struct hd_waiter). */
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

void hd_waiter_add(struct hd_waiter *w, const void *key)
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

void hd_waiter_remove(struct hd_waiter *w)
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
bool hd_waiter_sleep(struct hd_waiter *w, const struct timespec *deadline)
{
    if (!deadline) {
        pthread_cond_wait(&w->cond, &hd.lock);
        return true;
    }
    return pthread_cond_timedwait(&w->cond, &hd.lock, deadline) != ETIMEDOUT;
}

/* Wakes the waiters of one object. */
void hd_wake(const void *key)
{
    for (struct hd_waiter *w = hd.waiters; w; w = w->next)
        if (w->key == key)
            pthread_cond_signal(&w->cond);
}

/* Wakes every waiter: a device loss or a queue stopping (both rare). */
void hd_wake_all(void)
{
    for (struct hd_waiter *w = hd.waiters; w; w = w->next)
        pthread_cond_signal(&w->cond);
}

/* Before the objects in [lo, hi) are freed or invalidated: their waiters are
 * woken as cancelled (they return without touching the object again) and this
 * returns once they have left. Waiting in a destroy call is the application's
 * error, but it must not turn into a use after free or a hang. */
void hd_cancel_waiters(const void *lo, const void *hi)
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


/* A host synchronization on an event or a fence: waits until *flag, the device
 * is lost, the timeout passes or the object is destroyed. */
static enum hd_wait_end host_wait_flag(const void *key, const bool *flag, const bool *gone, struct hd_context *c,
                                       uint64_t timeout)
{
    if (*flag || c->lost)
        return HD_WAIT_DONE;
    if (gone && *gone)
        return HD_WAIT_CANCELLED;
    if (timeout == 0)
        return HD_WAIT_TIMEOUT;
    struct timespec ts;
    const struct timespec *deadline = hd_deadline(timeout, &ts) ? &ts : NULL;
    struct hd_waiter w;
    hd_waiter_add(&w, key);
    c->blocking_waits++;
    enum hd_wait_end end = HD_WAIT_DONE;
    for (;;) {
        c->sleeps++;
        bool woken = hd_waiter_sleep(&w, deadline);
        if (w.cancelled) {
            end = HD_WAIT_CANCELLED;
            break;
        }
        if (*flag || c->lost)
            break;
        if (gone && *gone) {
            end = HD_WAIT_CANCELLED;
            break;
        }
        if (!woken) {
            end = HD_WAIT_TIMEOUT;
            break;
        }
        c->idle_wakeups++;
    }
    hd_waiter_remove(&w);
    return end;
}

ze_result_t hd_host_wait_result(enum hd_wait_end end, bool lost)
{
    if (end == HD_WAIT_CANCELLED)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE; /* destroyed while waited on */
    if (lost)
        return ZE_RESULT_ERROR_DEVICE_LOST;
    return end == HD_WAIT_DONE ? ZE_RESULT_SUCCESS : ZE_RESULT_NOT_READY;
}

/* zeFenceHostSynchronize: wait for `flag` of `obj` with the spec's results. */
ze_result_t hd_host_synchronize(const void *obj, const bool *flag, const bool *gone, struct hd_context *c,
                                uint64_t timeout)
{
    pthread_mutex_lock(&hd.lock);
    enum hd_wait_end end = host_wait_flag(obj, flag, gone, c, timeout);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    return hd_host_wait_result(end, lost);
}

