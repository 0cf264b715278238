/* Every file in the directory given as argv[1] is a config that must be rejected. Its
 * first line is "# expect: <text>"; the error message must contain <text> (which
 * includes file:line for errors tied to a line). Each file is checked twice: through
 * zmoe_config_load (streamed from the file) and zmoe_config_parse (from memory under
 * the same name), which must agree byte for byte. */
#include "config/config.h"
#include "tap.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        tap_bail("usage: %s <dir of bad configs>", argv[0]);
    DIR *dir = opendir(argv[1]);
    if (!dir)
        tap_bail("cannot open %s", argv[1]);
    char *names[512];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && count < 512) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0)
            names[count++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)count, sizeof names[0], by_name);

    tap_plan(1 + 4 * count);
    TAP_OK(count >= 40, "at least 40 bad configs (%d)", count);
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        size_t len = 0;
        char *text = read_all(path, &len);
        char expect[1024] = "";
        if (text && len > 10 && strncmp(text, "# expect: ", 10) == 0) {
            const char *nl = memchr(text, '\n', len);
            size_t n = nl ? (size_t)(nl - text) - 10 : 0;
            if (n >= sizeof expect)
                n = sizeof expect - 1;
            memcpy(expect, text + 10, n);
            expect[n] = '\0';
        }
        TAP_OK(expect[0] != '\0', "%s: has an '# expect:' first line", names[i]);

        struct zmoe_config cfg;
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_config_load(path, &cfg, &err);
        TAP_EQ_INT(st, ZMOE_ERR_CONFIG, "%s: load rejects it", names[i]);
        if (!TAP_OK(expect[0] && strstr(err.msg, expect), "%s: message has the expected text",
                    names[i]))
            tap_diag("  got:    %s\n  expect: %s", err.msg, expect);

        struct zmoe_error err2 = {{0}};
        enum zmoe_status st2 = zmoe_config_parse(text, len, path, &cfg, &err2);
        if (!TAP_OK(st2 == st && strcmp(err.msg, err2.msg) == 0,
                    "%s: parse from memory gives the same error", names[i]))
            tap_diag("  load:  %s\n  parse: %s", err.msg, err2.msg);
        free(text);
        free(names[i]);
    }
    return tap_exit();
}
