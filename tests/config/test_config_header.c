/* The headers generated at build time (gen_header, from two examples and a corpus file) are
 * compiled into this test; the compiled-in structs must equal what parsing the same
 * files gives at run time, field by field and bitwise for floats.
 * argv[1..3]: the config files the headers were generated from. */
#include "config/config.h"
#include "tap.h"

#include <string.h>

#include "config_gpt_oss_20b.h"
#include "config_deepseek_v3_mini.h"
#include "config_special_path.h" /* a path with quotes, backslashes, ??= and UTF-8 */

static void check(const char *path, const struct zmoe_config *compiled)
{
    struct zmoe_config parsed;
    struct zmoe_error err;
    enum zmoe_status st = zmoe_config_load(path, &parsed, &err);
    if (!TAP_OK(st == ZMOE_OK, "%s loads", path))
        tap_diag("  %s", err.msg);
    const char *diff = zmoe_config_diff(compiled, &parsed);
    TAP_OK(diff == NULL, "%s: compiled-in struct equals the parsed one (first difference: %s)",
           path, diff ? diff : "none");
    TAP_EQ_INT(zmoe_config_validate(compiled, &err), ZMOE_OK, "%s: compiled-in struct validates",
               path);
    /* A mutated copy must be told apart: the comparison is not vacuous. */
    struct zmoe_config other = *compiled;
    other.experts.swiglu_limit = other.experts.swiglu_limit + 1.0f;
    TAP_OK(zmoe_config_diff(&other, &parsed) != NULL, "%s: a changed float is detected", path);
    other = *compiled;
    other.weights.seed++;
    TAP_OK(zmoe_config_diff(&other, &parsed) != NULL, "%s: a changed seed is detected", path);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        tap_bail("usage: %s <gpt-oss-20b.conf> <deepseek-v3-mini.conf> <special-path.conf>",
                 argv[0]);
    tap_plan(16);
    check(argv[1], &config_gpt_oss_20b);
    check(argv[2], &config_deepseek_v3_mini);
    check(argv[3], &config_special_path);
    TAP_OK(strstr(config_special_path.weights.file, "\"quotes\"/back\\\\slash/\?\?=trigraph/caf\xc3\xa9/"),
           "escaped path characters survive compilation: %s", config_special_path.weights.file);
    return tap_exit();
}
