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
#include "config_llama4_scout_int4.h"      /* [quant] int4 compressed_tensors, bf16 scales */
#include "config_gpt_oss_20b_mxfp4_mini.h" /* [quant] mxfp4 synthetic, defaults filled in */

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
    if (argc != 6)
        tap_bail("usage: %s <gpt-oss-20b.conf> <deepseek-v3-mini.conf> <special-path.conf> "
                 "<llama4-scout-int4.conf> <gpt-oss-20b-mxfp4-mini.conf>",
                 argv[0]);
    tap_plan(29);
    check(argv[1], &config_gpt_oss_20b);
    check(argv[2], &config_deepseek_v3_mini);
    check(argv[3], &config_special_path);
    check(argv[4], &config_llama4_scout_int4);
    check(argv[5], &config_gpt_oss_20b_mxfp4_mini);
    /* The [quant] fields made it into the compiled-in structs (a diff of two structs
     * without them would pass too if the writer dropped the section). */
    TAP_OK(config_llama4_scout_int4.quant.format == ZMOE_QUANT_INT4 &&
               config_llama4_scout_int4.quant.packing == ZMOE_PACK_COMPRESSED_TENSORS &&
               config_llama4_scout_int4.quant.group_size == 128 &&
               config_llama4_scout_int4.quant.scale_dtype == ZMOE_SCALE_BF16 &&
               config_llama4_scout_int4.quant.shared_experts,
           "llama4-scout-int4: compiled-in quant = int4 compressed_tensors 128 bf16, shared");
    TAP_OK(config_gpt_oss_20b_mxfp4_mini.quant.format == ZMOE_QUANT_MXFP4 &&
               config_gpt_oss_20b_mxfp4_mini.quant.group_size == 32 &&
               config_gpt_oss_20b_mxfp4_mini.quant.scale_dtype == ZMOE_SCALE_E8M0,
           "gpt-oss-20b-mxfp4-mini: compiled-in quant = mxfp4, group 32, e8m0 (defaults)");
    struct zmoe_config other = config_llama4_scout_int4;
    other.quant.group_size = 64;
    struct zmoe_config parsed;
    struct zmoe_error err;
    TAP_OK(zmoe_config_load(argv[4], &parsed, &err) == ZMOE_OK &&
               zmoe_config_diff(&other, &parsed) != NULL &&
               strcmp(zmoe_config_diff(&other, &parsed), "quant.group_size") == 0,
           "a changed quant.group_size is detected and named");
    TAP_OK(strstr(config_special_path.weights.file, "\"quotes\"/back\\\\slash/\?\?=trigraph/caf\xc3\xa9/"),
           "escaped path characters survive compilation: %s", config_special_path.weights.file);
    return tap_exit();
}
