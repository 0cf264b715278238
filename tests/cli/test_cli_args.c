/* zmoe's command line: help, version, and every kind of bad argument, for every
 * subcommand: exit 2 and a message that names the culprit. No device work here. */
#include "tests/cli/cli_test.h"

static const char *exe, *conf;

static void expect(struct cli_result r, int status, const char *in_out, const char *in_err,
                   const char *what)
{
    bool ok = r.status == status && (!in_out || cli_has(r.out, in_out)) &&
              (!in_err || cli_has(r.err, in_err));
    if (!TAP_OK(ok, "%s: exit %d%s%s%s%s", what, status, in_out ? ", stdout has " : "",
                in_out ? in_out : "", in_err ? ", stderr has " : "", in_err ? in_err : ""))
        cli_diag(&r);
    cli_result_free(&r);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    static char path[1024];
    snprintf(path, sizeof path, "%s/default.conf", argv[2]);
    conf = path;

    struct cli_result r = CLI_RUN((char *)exe, "--version");
    char want[64];
    snprintf(want, sizeof want, "zmoe %s\n", ZMOE_VERSION_STRING);
    TAP_OK(r.status == 0 && !strcmp(r.out, want) && !r.err[0], "--version prints '%.*s'",
           (int)strlen(want) - 1, want);
    cli_result_free(&r);

    expect(CLI_RUN((char *)exe, "--help"), 0, "usage: zmoe", NULL, "--help");
    r = CLI_RUN((char *)exe, "--help");
    const char *cmds[] = {"run", "forward", "plan", "info", "profile", "config-header", "import",
                          "quantize"};
    bool all = true;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        all = all && cli_has(r.out, cmds[i]);
    TAP_OK(all, "--help lists every command");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe);
    TAP_OK(r.status == 2 && !r.out[0] && cli_has(r.err, "usage"), "no command: usage on stderr, exit 2");
    cli_result_free(&r);
    expect(CLI_RUN((char *)exe, "frobnicate"), 2, NULL, "frobnicate", "unknown command");
    expect(CLI_RUN((char *)exe, "--frob"), 2, NULL, "--frob", "unknown top-level option");

    for (size_t i = 0; i < 6; i++) {
        char usage[64], what[96];
        snprintf(usage, sizeof usage, "usage: zmoe %s", cmds[i]);
        snprintf(what, sizeof what, "%s --help", cmds[i]);
        r = CLI_RUN((char *)exe, (char *)cmds[i], "--help");
        TAP_OK(r.status == 0 && cli_has(r.out, usage) && !r.err[0], "%s", what);
        cli_result_free(&r);
        snprintf(what, sizeof what, "%s --bogus", cmds[i]);
        if (!strcmp(cmds[i], "info")) /* the one command without a CONFIG */
            expect(CLI_RUN((char *)exe, "info", "--bogus"), 2, NULL, "'--bogus'", what);
        else
            expect(CLI_RUN((char *)exe, (char *)cmds[i], (char *)conf, "--bogus"), 2, NULL,
                   "'--bogus'", what);
    }

    /* Missing CONFIG, extra positional, missing config file. */
    const char *needs_conf[] = {"run", "plan", "profile", "config-header", "forward"};
    for (size_t i = 0; i < 5; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s without CONFIG", needs_conf[i]);
        expect(CLI_RUN((char *)exe, (char *)needs_conf[i]), 2, NULL, "CONFIG", what);
        snprintf(what, sizeof what, "%s with a missing config file", needs_conf[i]);
        const char *missing = "/nonexistent/zmoe-missing.conf";
        if (!strcmp(needs_conf[i], "forward"))
            expect(CLI_RUN((char *)exe, "forward", (char *)missing, "--input", "x.st", "--output",
                           "y.st"),
                   2, NULL, missing, what);
        else if (!strcmp(needs_conf[i], "profile"))
            expect(CLI_RUN((char *)exe, "profile", (char *)missing, "--trace",
                           cli_tmp_path("t.json")),
                   2, NULL, missing, what);
        else
            expect(CLI_RUN((char *)exe, (char *)needs_conf[i], (char *)missing), 2, NULL, missing,
                   what);
    }
    expect(CLI_RUN((char *)exe, "plan", (char *)conf, "extra"), 2, NULL, "'extra'",
           "plan with an extra argument");
    expect(CLI_RUN((char *)exe, "info", "extra"), 2, NULL, "'extra'", "info with an argument");

    /* Values: missing, non-numeric, negative, out of range, trailing junk, repeated. */
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps"), 2, NULL, "--steps: missing value",
           "run --steps without a value");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "many"), 2, NULL, "--steps",
           "run --steps many");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps=-3"), 2, NULL, "--steps",
           "run --steps=-3");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "12x"), 2, NULL, "--steps",
           "run --steps 12x");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "0"), 2, NULL, "--steps",
           "run --steps 0 (out of range)");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--steps", "99999999999"), 2, NULL,
           "--steps", "run --steps beyond 32 bits");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--tokens", "1", "--tokens", "2"), 2, NULL,
           "--tokens given twice", "run --tokens twice");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--tokens", "100000"), 2, NULL,
           "--tokens", "run --tokens above runtime.max_tokens");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--streams", "1000"), 2, NULL, "--streams",
           "run --streams above the ring depth");
    expect(CLI_RUN((char *)exe, "run", (char *)conf, "--check=yes"), 2, NULL, "--check",
           "run --check=yes (a flag takes no value)");
    expect(CLI_RUN((char *)exe, "profile", (char *)conf), 2, NULL, "--trace",
           "profile without --trace");
    expect(CLI_RUN((char *)exe, "profile", (char *)conf, "--trace", "/nonexistent/dir/t.json"),
           2, NULL, "/nonexistent/dir/t.json", "profile --trace into a missing directory");
    expect(CLI_RUN((char *)exe, "forward", (char *)conf, "--output", cli_tmp_path("y.st")), 2,
           NULL, "--input", "forward without --input");
    expect(CLI_RUN((char *)exe, "forward", (char *)conf, "--input", "a", "--output"), 2, NULL,
           "--output: missing value", "forward --output without a value");
    expect(CLI_RUN((char *)exe, "forward", (char *)conf, "--input", "/nonexistent/x.safetensors",
                   "--output", cli_tmp_path("y.st")),
           2, NULL, "/nonexistent/x.safetensors", "forward with a missing input file");
    expect(CLI_RUN((char *)exe, "forward", (char *)conf, "--input", "a", "--output", "b",
                   "--layer", "4000"),
           2, NULL, "--layer", "forward --layer out of range");
    expect(CLI_RUN((char *)exe, "config-header", (char *)conf, "--symbol", "not an identifier"),
           2, NULL, "--symbol", "config-header with a bad --symbol");

    /* A config with a syntax error: exit 2 naming the file. */
    const char *bad = cli_tmp_path("bad.conf");
    const char text[] = "[model]\nhidden = lots\n";
    cli_write_file(bad, text, sizeof text - 1);
    expect(CLI_RUN((char *)exe, "plan", (char *)bad), 2, NULL, bad, "plan on an invalid config");
    expect(CLI_RUN((char *)exe, "run", (char *)bad), 2, NULL, bad, "run on an invalid config");

    /* config-header: the C form of the config. */
    r = CLI_RUN((char *)exe, "config-header", (char *)conf);
    TAP_OK(r.status == 0 && cli_has(r.out, "struct zmoe_config zmoe_config_default"),
           "config-header default.conf defines zmoe_config_default");
    if (r.status)
        cli_diag(&r);
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "config-header", (char *)conf, "--symbol", "my_cfg");
    TAP_OK(r.status == 0 && cli_has(r.out, "my_cfg"), "config-header --symbol names the symbol");
    cli_result_free(&r);
    /* a quantized config: the [quant] fields as C enumerators */
    char qconf[600];
    snprintf(qconf, sizeof qconf, "%s/llama4-scout-int4.conf", argv[2]);
    r = CLI_RUN((char *)exe, "config-header", qconf);
    TAP_OK(r.status == 0 && cli_has(r.out, ".format = ZMOE_QUANT_INT4,") &&
               cli_has(r.out, ".packing = ZMOE_PACK_COMPRESSED_TENSORS,") &&
               cli_has(r.out, ".group_size = 128u,") &&
               cli_has(r.out, ".scale_dtype = ZMOE_SCALE_BF16,") &&
               cli_has(r.out, ".shared_experts = true,"),
           "config-header llama4-scout-int4.conf writes its .quant fields");
    if (r.status)
        cli_diag(&r);
    cli_result_free(&r);

    cli_tmp_cleanup();
    return tap_exit();
}
