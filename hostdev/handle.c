/* handle.c — the table of live handles. Every handle hostdev hands out (context,
 * module, build log, kernel, command list, queue, fence, event pool, event) is
 * entered here when created and removed when destroyed; an entry point looks a
 * handle up before it reads the object behind it. A stale handle (destroyed, or
 * from a failed create), a handle of the wrong kind or any other garbage value is
 * refused with an error code instead of being dereferenced. */
#include "hd.h"

#include <stdlib.h>

#define EMPTY ((uintptr_t)0)
#define TOMB ((uintptr_t)1)

static struct {
    pthread_mutex_t lock;
    uintptr_t *keys;
    uint32_t *kinds;
    size_t cap;     /* a power of two, or 0 */
    size_t used;    /* live entries + tombstones */
    size_t live;
} tab = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t slot_of(uintptr_t k, size_t cap)
{
    return (size_t)(((uint64_t)k >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* Index of k, or of the slot where it would go (first tombstone or empty). */
static size_t find_locked(uintptr_t k, bool *found)
{
    size_t i = slot_of(k, tab.cap), tomb = SIZE_MAX;
    for (;;) {
        uintptr_t v = tab.keys[i];
        if (v == k) {
            *found = true;
            return i;
        }
        if (v == EMPTY) {
            *found = false;
            return tomb != SIZE_MAX ? tomb : i;
        }
        if (v == TOMB && tomb == SIZE_MAX)
            tomb = i;
        i = (i + 1) & (tab.cap - 1);
    }
}

static bool grow_locked(void)
{
    size_t cap = tab.cap ? tab.cap : 64;
    while (tab.live * 2 + 2 > cap)
        cap *= 2;
    uintptr_t *keys = calloc(cap, sizeof *keys);
    uint32_t *kinds = calloc(cap, sizeof *kinds);
    if (!keys || !kinds) {
        free(keys);
        free(kinds);
        return false;
    }
    uintptr_t *ok = tab.keys;
    uint32_t *okinds = tab.kinds;
    size_t ocap = tab.cap;
    tab.keys = keys;
    tab.kinds = kinds;
    tab.cap = cap;
    tab.used = tab.live;
    for (size_t i = 0; i < ocap; i++) {
        if (ok[i] == EMPTY || ok[i] == TOMB)
            continue;
        bool f;
        size_t j = find_locked(ok[i], &f);
        keys[j] = ok[i];
        kinds[j] = okinds[i];
    }
    free(ok);
    free(okinds);
    return true;
}

bool hd_handle_add(const void *p, uint32_t kind)
{
    uintptr_t k = (uintptr_t)p;
    pthread_mutex_lock(&tab.lock);
    if ((tab.used + 1) * 2 > tab.cap && !grow_locked()) {
        pthread_mutex_unlock(&tab.lock);
        return false;
    }
    bool found;
    size_t i = find_locked(k, &found);
    if (!found) {
        if (tab.keys[i] == EMPTY)
            tab.used++;
        tab.keys[i] = k;
        tab.live++;
    }
    tab.kinds[i] = kind;
    pthread_mutex_unlock(&tab.lock);
    return true;
}

void hd_handle_del(const void *p)
{
    pthread_mutex_lock(&tab.lock);
    if (tab.cap) {
        bool found;
        size_t i = find_locked((uintptr_t)p, &found);
        if (found) {
            tab.keys[i] = TOMB;
            tab.kinds[i] = 0;
            tab.live--;
        }
    }
    if (tab.live == 0) {
        /* Nothing left: give the table back (leak checkers see a clean exit). */
        free(tab.keys);
        free(tab.kinds);
        tab.keys = NULL;
        tab.kinds = NULL;
        tab.cap = tab.used = 0;
    }
    pthread_mutex_unlock(&tab.lock);
}

bool hd_handle_live(const void *p, uint32_t kind)
{
    uintptr_t k = (uintptr_t)p;
    if (k == EMPTY || k == TOMB)
        return false;
    pthread_mutex_lock(&tab.lock);
    bool found = false;
    size_t i = tab.cap ? find_locked(k, &found) : 0;
    bool ok = found && tab.kinds[i] == kind;
    pthread_mutex_unlock(&tab.lock);
    return ok;
}

void *hd_handle_get(const void *h, uint32_t kind)
{
    /* Every handle's struct starts with its magic word (hd.h). */
    return hd_handle_live(h, kind) && *(const uint32_t *)h == kind ? (void *)h : NULL;
}
