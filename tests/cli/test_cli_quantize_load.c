/* zmoe loads what zmoe quantize wrote: each mini config quantized to a compressed-tensors
 * checkpoint, then `zmoe run` on the printed config decodes through every layer with
 * --check (the device against the plain-C reference on the dequantized weights) and
 * `zmoe forward` runs one layer of it. Needs the quantized loader (weights/st_*.c) and
 * the quantized kernels and reference (runtime/, kernels/, cli/check.c).
 *   test_cli_quantize_load ZMOE_EXE EXAMPLES_DIR */
#include "tests/cli/cli_test.h"

static const char *exe, *examples;

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    examples = argv[2];
    static const struct {
        const char *conf, *format, *group;
        bool sym;
    } cases[] = {
        {"qwen3-30b-a3b-mini.conf", "int4", "32", false},
        {"llama4-scout-mini.conf", "int4", "128", true},
        {"deepseek-v3-mini.conf", "int8", "0", true},
        {"qwen2-moe-mini.conf", "int8", "32", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char conf[600], fname[64], cname[64];
        snprintf(conf, sizeof conf, "%s/%s", examples, cases[i].conf);
        snprintf(fname, sizeof fname, "l%zu.safetensors", i);
        snprintf(cname, sizeof cname, "l%zu.conf", i);
        const char *file = cli_tmp_path(fname);
        struct cli_result r =
            cases[i].sym ? CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)cases[i].format,
                                   "--group", (char *)cases[i].group, "--sym", "--output", (char *)file)
                         : CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)cases[i].format,
                                   "--group", (char *)cases[i].group, "--output", (char *)file);
        if (!TAP_OK(r.status == 0, "%s: quantize %s group %s", cases[i].conf, cases[i].format,
                    cases[i].group))
            cli_diag(&r);
        const char *qconf = cli_tmp_path(cname);
        cli_write_file(qconf, r.out, strlen(r.out));
        cli_result_free(&r);
        r = CLI_RUN((char *)exe, "run", (char *)qconf, "--steps", "2", "--tokens", "4", "--check");
        if (!TAP_OK(r.status == 0 && cli_has(r.out, ": PASS") && !cli_has(r.out, "FAIL"),
                    "%s: zmoe run --check of the quantized checkpoint passes", cases[i].conf))
            cli_diag(&r);
        cli_result_free(&r);
    }
    cli_tmp_cleanup();
    return tap_exit();
}
