/* zmoe run and zmoe info through the built binary on hostdev: the sections of the
 * report, zero allocations after init, the reference check, no progress bar when
 * stderr is not a terminal, and failures that name their cause. */
#include "tests/cli/cli_test.h"

#include <dirent.h>

static const char *exe;

/* Value printed after `label` on some line of `text`, as a double; -1 when absent. */
static double value_after(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    if (!p)
        return -1;
    p += strlen(label);
    while (*p == ' ' || *p == ':')
        p++;
    char *end;
    double v = strtod(p, &end);
    return end == p ? -1 : v;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    char conf[600];
    snprintf(conf, sizeof conf, "%s/default.conf", argv[2]);

    struct cli_result r = CLI_RUN((char *)exe, "run", conf, "--steps", "5");
    if (!TAP_OK(r.status == 0, "run default.conf --steps 5 succeeds"))
        cli_diag(&r);
    const char *sections[] = {"device:", "chosen because:", "kernels:", "arena:",
                              "latency per layer call", "host submit (zmoe_submit)",
                              "device router", "device combine", "after init:",
                              "Level Zero calls per step"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        TAP_OK(cli_has(r.out, sections[i]), "run output has '%s'", sections[i]);
    TAP_OK(cli_has(r.out, "5 steps x"), "run reports the steps it ran");
    TAP_EQ_INT(value_after(r.out, "host allocations (runtime allocator, since init)"), 0,
               "no host allocation after init");
    TAP_EQ_INT(value_after(r.out, "device allocations (since init)"), 0,
               "no device allocation after init");
    double calls = value_after(r.out, "Level Zero calls per step (loader tracing layer)");
    /* A step submits layers x streams lists: at least one call each, and a bounded few. */
    TAP_OK(calls >= 1.0, "Level Zero calls per step were counted (%.1f)", calls);
    TAP_OK(!strchr(r.err, '\r'), "no progress bar when stderr is not a terminal");
    cli_result_free(&r);

    /* The same run twice: the call count is a property of the code, not of timing. */
    r = CLI_RUN((char *)exe, "run", conf, "--steps", "3", "--streams", "1");
    double calls1 = value_after(r.out, "Level Zero calls per step (loader tracing layer)");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "run", conf, "--steps", "6", "--streams", "1");
    double calls2 = value_after(r.out, "Level Zero calls per step (loader tracing layer)");
    if (!TAP_OK(r.status == 0 && calls1 > 0 && calls1 == calls2,
                "Level Zero calls per step do not grow with the step count (%.1f, %.1f)", calls1,
                calls2))
        cli_diag(&r);
    cli_result_free(&r);

    r = CLI_RUN((char *)exe, "run", conf, "--steps", "2", "--tokens", "3", "--check");
    if (!TAP_OK(r.status == 0 && cli_has(r.out, "check (step 0") && cli_has(r.out, "PASS"),
                "run --check --tokens 3 passes against the reference MoE"))
        cli_diag(&r);
    cli_result_free(&r);

    /* A configured weights file that does not exist: the path in the message. */
    char *text = cli_read_file(conf, NULL);
    if (!text)
        tap_bail("cannot read %s", conf);
    char *line = strstr(text, "[weights]"), *cfg2 = malloc(strlen(text) + 256);
    const char *missing = "/nonexistent/zmoe-weights.safetensors";
    snprintf(cfg2, strlen(text) + 256, "%.*s[weights]\nfile = %s\nlayout = llama4\n",
             line ? (int)(line - text) : (int)strlen(text), text, missing);
    const char *path = cli_tmp_path("missing-weights.conf");
    cli_write_file(path, cfg2, strlen(cfg2));
    r = CLI_RUN((char *)exe, "run", (char *)path, "--steps", "1");
    if (!TAP_OK(r.status == 2 && cli_has(r.err, missing),
                "run with a missing weights file: exit 2 naming it (the config's path)"))
        cli_diag(&r);
    cli_result_free(&r);
    free(cfg2);
    free(text);

    /* info: loader, drivers, devices, kernel format, hostdev. */
    r = CLI_RUN((char *)exe, "info");
    if (!TAP_OK(r.status == 0, "info succeeds"))
        cli_diag(&r);
    TAP_OK(cli_has(r.out, "loader components:") && cli_has(r.out, "drivers:") &&
               cli_has(r.out, "device 0:") && cli_has(r.out, "kernels:") &&
               cli_has(r.out, "hostdev:"),
           "info lists loader, drivers, devices, kernel format and hostdev");
    TAP_OK(cli_has(r.out, "type CPU") && cli_has(r.out, "SPIR-V"),
           "info: hostdev is a CPU device that takes SPIR-V");
    cli_result_free(&r);

    cli_tmp_cleanup();
    /* Every example that fits a CPU (the -mini ones and default) decodes through all of
     * its layers, on several tokens, and matches the reference. */
    DIR *d = opendir(argv[2]);
    int minis = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 10 || strcmp(e->d_name + n - 10, "-mini.conf") != 0)
            continue;
        minis++;
        snprintf(conf, sizeof conf, "%s/%s", argv[2], e->d_name);
        r = CLI_RUN((char *)exe, "run", conf, "--steps", "3", "--tokens", "4", "--check");
        if (!TAP_OK(r.status == 0 && cli_has(r.out, ": PASS") && !cli_has(r.out, "FAIL") &&
                        value_after(r.out, "host allocations (runtime allocator, since init)") == 0,
                    "%s: decode loop through every layer, --check passes, 0 allocations",
                    e->d_name))
            cli_diag(&r);
        cli_result_free(&r);
    }
    if (d)
        closedir(d);
    TAP_OK(minis >= 7, "found the -mini examples (%d)", minis);
    /* On a terminal (script(1) gives the run a pty) the decode loop shows a progress
     * bar redrawn in place with carriage returns, reaching the last step. */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s run %s/default.conf --steps 50", exe, argv[2]);
    r = CLI_RUN("/usr/bin/script", "-qec", cmd, "/dev/null");
    if (!TAP_OK(r.status == 0 && strchr(r.out, '\r') && cli_has(r.out, "50/50 steps"),
                "a progress bar on a terminal, redrawn with \\r up to 50/50 steps"))
        cli_diag(&r);
    cli_result_free(&r);
    return tap_exit();
}
