/* zmoe config-header: a config file as a C header, to compile a config into firmware. */
#include "cli/cli.h"
#include "config/config.h"

#include <ctype.h>
#include <string.h>

static const char header_usage[] =
    "usage: zmoe config-header CONFIG [--symbol NAME]\n"
    "\n"
    "Prints CONFIG as a C header defining 'static const struct zmoe_config NAME'\n"
    "(default NAME: zmoe_config_<file name without extension>).\n";

/* Default symbol from the file name: "llama4-scout.conf" -> zmoe_config_llama4_scout. */
static void symbol_from_path(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strcspn(base, ".");
    int n = snprintf(out, size, "zmoe_config_");
    for (size_t i = 0; i < len && (size_t)n + 1 < size; i++, n++)
        out[n] = isalnum((unsigned char)base[i]) ? (char)base[i] : '_';
    out[n] = '\0';
}

int cli_cmd_config_header(int argc, char **argv)
{
    struct cli_opt opts[] = {{"--symbol", CLI_OPT_STRING}, {NULL}};
    const char *pos[1];
    int npos;
    bool help;
    int rc = cli_parse("config-header", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(header_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1) {
        cli_error("config-header", "missing CONFIG (see 'zmoe config-header --help')");
        return CLI_EXIT_USAGE;
    }
    struct zmoe_config cfg;
    rc = cli_load_config("config-header", pos[0], &cfg);
    if (rc)
        return rc;
    char symbol[128];
    if (opts[0].seen)
        snprintf(symbol, sizeof symbol, "%s", opts[0].string);
    else
        symbol_from_path(pos[0], symbol, sizeof symbol);
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_config_write_header(&cfg, symbol, stdout, &err);
    if (st != ZMOE_OK) {
        cli_error("config-header", "%s%s: %s", opts[0].seen ? "--symbol: " : "", pos[0],
                  err.msg);
        return cli_exit_for(st);
    }
    return CLI_EXIT_OK;
}
