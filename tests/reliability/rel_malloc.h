/* rel_malloc.h — malloc interposition for the reliability tests (rel_malloc.c).
 *
 * The test executable defines malloc/calloc/realloc/free/posix_memalign/aligned_alloc/
 * memalign and forwards them to glibc's __libc_* implementations. Allocations whose
 * immediate caller lies in the executable's own text (zmoe is linked statically into
 * it, and no test code runs inside a window) are "zmoe's": they are counted and their
 * pointers kept in a table, so a test can prove zmoe freed exactly what it took. Every
 * allocation made on the test thread while a window is open is counted too, whatever
 * the caller (loader, hostdev, PoCL, libc). A window can fail the k-th allocation.
 *
 * Not built under AddressSanitizer (it owns malloc there; LeakSanitizer does the job). */
#ifndef ZMOE_REL_MALLOC_H
#define ZMOE_REL_MALLOC_H

#include <stdbool.h>
#include <stdint.h>

/* ZMOE: zmoe's code; PROJECT: zmoe's or hostdev's (libze_hostdev.so, once registered).
 * Failing any caller's allocation is not offered: the Level Zero loader and its tracing
 * layer are C++ and abort on std::bad_alloc. */
enum rel_fail_scope { REL_FAIL_NONE = 0, REL_FAIL_ZMOE, REL_FAIL_PROJECT };

/* Adds the executable segments of the loaded library whose path contains `name` to the
 * PROJECT scope; returns the number of segments found. */
int rel_malloc_add_library(const char *name);

struct rel_malloc_counts {
    uint64_t zmoe_calls;    /* allocations by zmoe's code in windows */
    uint64_t thread_calls;  /* allocations on the window's thread in windows, any caller */
    uint64_t project_calls; /* ... by zmoe or hostdev */
    uint64_t zmoe_live;     /* zmoe allocations not yet freed (any time) */
    uint64_t zmoe_bytes_live;
    bool fired;             /* the injected failure happened */
};

/* Opens a counting window on the calling thread; fail_at = k fails the k-th counted
 * allocation of `scope` in this window (0: none). */
void rel_malloc_window_open(enum rel_fail_scope scope, uint64_t fail_at);
void rel_malloc_window_close(void);
void rel_malloc_read(struct rel_malloc_counts *out);
/* Resets the window counters (not the live table). */
void rel_malloc_reset(void);
/* Process-wide live allocation count (every thread, every caller). */
int64_t rel_malloc_live_all(void);

#endif
