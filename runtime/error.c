/* error.c — the message every runtime error carries. Apart from device.c (Level Zero code)
 * so that programs linking only the runtime's pure parts (plan.c, launch.c: the GPU
 * benchmark, which has no Level Zero loader) share this one definition. */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stdio.h>

void zmoe_runtime_errorf(struct zmoe_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
