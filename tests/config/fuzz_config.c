/* libFuzzer entry point for the config parser, and the invariants it checks on every
 * input. Built as a fuzzer with -Dfuzz=true and clang; in every build it is also linked
 * into fuzz_replay (a TAP test replaying tests/config/corpus/), so the entry point
 * stays compiled and exercised.
 *
 * Invariants: parsing never crashes, reads out of bounds or leaks (sanitizers), returns
 * either ZMOE_OK or ZMOE_ERR_CONFIG with a message naming the input; is deterministic;
 * and an accepted config validates, prints, re-parses to an equal config, and writes
 * a C header. */
#include "config/config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int zmoe_fuzz_config_check(const uint8_t *data, size_t size, char *why, size_t why_size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return 0;
}

/* Returns 1 when every invariant holds, else 0 with the broken one in `why`. */
int zmoe_fuzz_config_check(const uint8_t *data, size_t size, char *why, size_t why_size)
{
    static char text[1 << 16];
    struct zmoe_config cfg, again;
    struct zmoe_error err, err2;
    memset(&err, 0x55, sizeof err); /* a message must be written, not inherited */
    enum zmoe_status st = zmoe_config_parse((const char *)data, size, "fuzz", &cfg, &err);
    if (st != ZMOE_OK && st != ZMOE_ERR_CONFIG)
        return fail(why, why_size, "unexpected status %d", (int)st);
    if (st == ZMOE_ERR_CONFIG) {
        if (!memchr(err.msg, '\0', sizeof err.msg))
            return fail(why, why_size, "error message not terminated");
        if (strncmp(err.msg, "fuzz", 4) != 0)
            return fail(why, why_size, "error message does not name the input: %s", err.msg);
        enum zmoe_status st2 = zmoe_config_parse((const char *)data, size, "fuzz", &again, &err2);
        if (st2 != st || strcmp(err.msg, err2.msg) != 0)
            return fail(why, why_size, "not deterministic: '%s' then '%s'", err.msg, err2.msg);
        return 1;
    }
    if (zmoe_config_validate(&cfg, &err) != ZMOE_OK)
        return fail(why, why_size, "accepted config does not validate: %s", err.msg);

    FILE *f = fmemopen(text, sizeof text, "w");
    if (!f)
        return fail(why, why_size, "fmemopen failed");
    st = zmoe_config_print(&cfg, f, &err);
    long n = ftell(f);
    fclose(f);
    if (st != ZMOE_OK || n <= 0 || (size_t)n >= sizeof text)
        return fail(why, why_size, "print failed: %s", st ? err.msg : "size");
    if (zmoe_config_parse(text, (size_t)n, "printed", &again, &err) != ZMOE_OK)
        return fail(why, why_size, "printed config does not parse: %s", err.msg);
    const char *diff = zmoe_config_diff(&cfg, &again);
    if (diff)
        return fail(why, why_size, "round trip changed %s", diff);

    f = fmemopen(text, sizeof text, "w");
    if (!f)
        return fail(why, why_size, "fmemopen failed");
    st = zmoe_config_write_header(&cfg, "fuzz_config", f, &err);
    fclose(f);
    if (st != ZMOE_OK)
        return fail(why, why_size, "header failed: %s", err.msg);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[ZMOE_ERROR_MAX + 128];
    if (!zmoe_fuzz_config_check(data, size, why, sizeof why)) {
        fprintf(stderr, "fuzz_config: invariant broken: %s\n", why);
        abort();
    }
    return 0;
}
