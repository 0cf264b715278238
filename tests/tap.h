/* tap.h — a small TAP (Test Anything Protocol, version 13) producer.
 *
 *   tap_plan(n);                 or tap_done() at the end for a trailing plan
 *   TAP_OK(cond, "fmt", ...);    ok / not ok with the file:line of the check
 *   TAP_EQ_INT(got, want, "what"), TAP_NEAR(got, want, tol, "what")
 *   tap_diag("fmt", ...);        "# ..." diagnostics
 *   tap_skip(n, "why"); TAP_TODO("why") ... TAP_END_TODO();
 *   tap_bail("why");             Bail out! and exit
 *   return tap_exit();           non-zero when any check failed or the plan is off
 */
#ifndef ZMOE_TAP_H
#define ZMOE_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run_count_, tap_fail_count_, tap_planned_ = -1;
static const char *tap_todo_;

static inline void tap_plan(int n)
{
    tap_planned_ = n;
    printf("TAP version 13\n1..%d\n", n);
    fflush(stdout);
}

static inline void tap_vdiag_(const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    /* One "# " per line so multi-line messages stay valid TAP. */
    fputs("# ", stdout);
    for (const char *p = buf; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1])
            fputs("# ", stdout);
    }
    putchar('\n');
    fflush(stdout);
}

static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vdiag_(fmt, ap);
    va_end(ap);
}

static inline int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    tap_run_count_++;
    if (!cond && !tap_todo_)
        tap_fail_count_++;
    printf("%sok %d - %s", cond ? "" : "not ", tap_run_count_, name);
    if (tap_todo_)
        printf(" # TODO %s", tap_todo_);
    printf("\n");
    if (!cond)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
    return cond;
}

#define TAP_OK(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define TAP_EQ_INT(got, want, ...)                                                      \
    do {                                                                                \
        long long got_ = (long long)(got), want_ = (long long)(want);                   \
        if (!TAP_OK(got_ == want_, __VA_ARGS__))                                        \
            tap_diag("  got %lld, want %lld", got_, want_);                             \
    } while (0)

#define TAP_NEAR(got, want, tol, ...)                                                   \
    do {                                                                                \
        double got_ = (double)(got), want_ = (double)(want), tol_ = (double)(tol);       \
        if (!TAP_OK(fabs(got_ - want_) <= tol_, __VA_ARGS__))                           \
            tap_diag("  got %.9g, want %.9g, tolerance %.3g", got_, want_, tol_);       \
    } while (0)

static inline void tap_skip(int n, const char *why)
{
    for (int i = 0; i < n; i++) {
        tap_run_count_++;
        printf("ok %d # SKIP %s\n", tap_run_count_, why);
    }
    fflush(stdout);
}

#define TAP_TODO(why) (tap_todo_ = (why))
#define TAP_END_TODO() (tap_todo_ = NULL)

static inline void tap_bail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("Bail out! ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(1);
}

static inline void tap_done(void)
{
    if (tap_planned_ < 0) {
        tap_planned_ = tap_run_count_;
        printf("1..%d\n", tap_run_count_);
    }
    fflush(stdout);
}

static inline int tap_exit(void)
{
    tap_done();
    if (tap_planned_ != tap_run_count_) {
        printf("# planned %d tests but ran %d\n", tap_planned_, tap_run_count_);
        return 1;
    }
    return tap_fail_count_ ? 1 : 0;
}

#endif
