/* Argument parsing and small helpers shared by the subcommands. */
#include "cli/cli.h"
#include "config/hf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "zmoe %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Strict decimal: strtoul alone accepts "  12", "-1" (wrapping) and "12abc". */
static bool parse_u32(const char *s, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int set_value(const char *cmd, struct cli_opt *o, const char *value)
{
    if (o->kind == CLI_OPT_STRING) {
        if (!*value) {
            cli_error(cmd, "%s: empty value", o->name);
            return CLI_EXIT_USAGE;
        }
        o->string = value;
        return CLI_EXIT_OK;
    }
    uint32_t v;
    if (!parse_u32(value, &v)) {
        cli_error(cmd, "%s: '%s' is not a non-negative integer", o->name, value);
        return CLI_EXIT_USAGE;
    }
    if (v < o->min || v > o->max) {
        cli_error(cmd, "%s: %u is out of range [%u, %u]", o->name, v, o->min, o->max);
        return CLI_EXIT_USAGE;
    }
    o->u32 = v;
    return CLI_EXIT_OK;
}

int cli_parse(const char *cmd, int argc, char **argv, int first, struct cli_opt *opts,
              const char **positional, int max_positional, int *n_positional, bool *help)
{
    *n_positional = 0;
    *help = false;
    bool only_positional = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || !a[1]) {
            if (*n_positional >= max_positional) {
                cli_error(cmd, "unexpected argument '%s'", a);
                return CLI_EXIT_USAGE;
            }
            positional[(*n_positional)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        struct cli_opt *o = NULL;
        for (struct cli_opt *p = opts; p && p->name; p++)
            if (strlen(p->name) == len && !strncmp(p->name, a, len))
                o = p;
        if (!o) {
            cli_error(cmd, "unknown option '%.*s'", (int)len, a);
            return CLI_EXIT_USAGE;
        }
        if (o->seen) {
            cli_error(cmd, "%s given twice", o->name);
            return CLI_EXIT_USAGE;
        }
        o->seen = true;
        if (o->kind == CLI_OPT_FLAG) {
            if (eq) {
                cli_error(cmd, "%s takes no value", o->name);
                return CLI_EXIT_USAGE;
            }
            o->flag = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                cli_error(cmd, "%s: missing value", o->name);
                return CLI_EXIT_USAGE;
            }
            value = argv[++i];
        }
        int rc = set_value(cmd, o, value);
        if (rc)
            return rc;
    }
    return CLI_EXIT_OK;
}

int cli_exit_for(enum zmoe_status st)
{
    switch (st) {
    case ZMOE_OK:
        return CLI_EXIT_OK;
    case ZMOE_ERR_ARGUMENT:
    case ZMOE_ERR_CONFIG:
    case ZMOE_ERR_IO:
    case ZMOE_ERR_BUDGET:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_RUNTIME;
    }
}

static const char *model_dir_;

void cli_set_model_dir(const char *dir)
{
    model_dir_ = dir;
}

const char *cli_model_dir(void)
{
    return model_dir_;
}

const char *cli_config_label(const char *path)
{
    return model_dir_ ? model_dir_ : path ? path : "?";
}

int cli_load_config(const char *cmd, const char *path, struct zmoe_config *cfg)
{
    struct zmoe_error err = {{0}};
    enum zmoe_status st = model_dir_ ? zmoe_config_load_model_dir(path, model_dir_, cfg, &err)
                                     : zmoe_config_load(path, cfg, &err);
    if (st != ZMOE_OK) {
        /* The loader's message names file:line; add the path when it does not. */
        path = path && strstr(err.msg, path) ? path : cli_config_label(path);
        if (strstr(err.msg, path))
            cli_error(cmd, "%s", err.msg);
        else
            cli_error(cmd, "%s: %s", path, err.msg[0] ? err.msg : zmoe_status_str(st));
        /* A config that cannot be read or parsed is always the user's to fix. */
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

uint64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t cli_percentile(uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    /* Nearest rank: the smallest value with at least p% of the samples at or below. */
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

const char *cli_human_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
    return buf;
}
