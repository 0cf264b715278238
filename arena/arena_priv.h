/* arena_priv.h — helpers shared by the arena module's source files only. */
#ifndef ZMOE_ARENA_PRIV_H
#define ZMOE_ARENA_PRIV_H

#include "arena/arena.h"

#include <stdarg.h>
#include <stdio.h>

/* Every error message goes into the caller's fixed buffer; a NULL err is tolerated so
 * that callers which only want the status (tests, oracles) need not pass one. */
static inline void arena_errorf(struct zmoe_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void arena_errorf(struct zmoe_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static inline void arena_error_clear(struct zmoe_error *err)
{
    if (err)
        err->msg[0] = '\0';
}

/* Checked arithmetic: false on overflow, *out untouched then. */
static inline bool arena_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b)
        return false;
    *out = a + b;
    return true;
}

/* Round v up to a power-of-two alignment; false when the result does not fit. */
static inline bool arena_align_up_u64(uint64_t v, uint64_t align, uint64_t *out)
{
    uint64_t t;
    if (!arena_add_u64(v, align - 1, &t))
        return false;
    *out = t & ~(align - 1);
    return true;
}

static inline bool arena_is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* Inclusive stage intervals [f1, l1] and [f2, l2] share a stage. */
static inline bool arena_lifetimes_intersect(const struct zmoe_buffer *a, const struct zmoe_buffer *b)
{
    return a->first_stage <= b->last_stage && b->first_stage <= a->last_stage;
}

static inline bool arena_lifetime_is_always(const struct zmoe_buffer *b)
{
    return b->first_stage == ZMOE_STAGE_ALWAYS_FIRST && b->last_stage == ZMOE_STAGE_ALWAYS_LAST;
}

#endif
