/* Fuzz entry for the config.json importer (config/hf.c): any bytes give OK or
 * ZMOE_ERR_CONFIG with a message naming the input, the same result twice, and an
 * accepted import validates and prints as a config that reads back equal.
 * zmoe_fuzz_import_check is also called by the replay test (fuzz_import_replay.c). */
#include "config/config.h"
#include "config/hf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int zmoe_fuzz_import_check(const uint8_t *data, size_t size, char *why, size_t why_size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return 0;
}

int zmoe_fuzz_import_check(const uint8_t *data, size_t size, char *why, size_t why_size)
{
    static struct zmoe_hf_import a, b;
    struct zmoe_error ea = {{0}}, eb = {{0}};
    enum zmoe_status sa = zmoe_config_import_hf_json((const char *)data, size, "fuzz.json",
                                                     "dir", &a, &ea);
    enum zmoe_status sb = zmoe_config_import_hf_json((const char *)data, size, "fuzz.json",
                                                     "dir", &b, &eb);
    if (sa != sb || strcmp(ea.msg, eb.msg) != 0)
        return fail(why, why_size, "not deterministic: %d '%s' then %d '%s'", sa, ea.msg, sb,
                    eb.msg);
    if (sa != ZMOE_OK && sa != ZMOE_ERR_CONFIG)
        return fail(why, why_size, "status %d: %s", (int)sa, ea.msg);
    if (sa == ZMOE_ERR_CONFIG)
        return strncmp(ea.msg, "fuzz.json: ", 11) == 0 && ea.msg[11]
                   ? 1
                   : fail(why, why_size, "message does not name the input: '%s'", ea.msg);
    if (zmoe_config_validate(&a.cfg, &ea) != ZMOE_OK)
        return fail(why, why_size, "accepted import does not validate: %s", ea.msg);
    if (zmoe_config_diff(&a.cfg, &b.cfg))
        return fail(why, why_size, "two imports differ at %s", zmoe_config_diff(&a.cfg, &b.cfg));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return fail(why, why_size, "open_memstream");
    enum zmoe_status sp = zmoe_config_hf_print(&a, f, &ea);
    fclose(f);
    struct zmoe_config back;
    int ok = sp == ZMOE_OK && zmoe_config_parse(text, len, "printed", &back, &ea) == ZMOE_OK &&
             zmoe_config_diff(&back, &a.cfg) == NULL;
    free(text);
    return ok ? 1 : fail(why, why_size, "printed import does not read back equal: %s", ea.msg);
}

#ifdef ZMOE_FUZZ_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[ZMOE_ERROR_MAX + 256];
    if (!zmoe_fuzz_import_check(data, size, why, sizeof why)) {
        fprintf(stderr, "fuzz_import: invariant broken: %s\n", why);
        abort();
    }
    return 0;
}
#endif
