/* Replays every file of the directories given as arguments through the fuzz entry's
 * invariant check (fuzz_config.c), one TAP line per file. Run in every build on
 * tests/config/corpus/, the examples and the bad configs. */
#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int zmoe_fuzz_config_check(const uint8_t *data, size_t size, char *why, size_t why_size);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    char *paths[1024];
    int count = 0;
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir)
            tap_bail("cannot open %s", argv[a]);
        struct dirent *de;
        while ((de = readdir(dir)) && count < 1024) {
            if (de->d_name[0] == '.')
                continue;
            size_t n = strlen(argv[a]) + strlen(de->d_name) + 2;
            paths[count] = malloc(n);
            snprintf(paths[count++], n, "%s/%s", argv[a], de->d_name);
        }
        closedir(dir);
    }
    qsort(paths, (size_t)count, sizeof paths[0], by_name);
    tap_plan(count + 1);
    TAP_OK(count >= 10, "replaying %d inputs", count);
    for (int i = 0; i < count; i++) {
        FILE *f = fopen(paths[i], "rb");
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        char why[2048] = "";
        int ok = f && zmoe_fuzz_config_check(buf, n, why, sizeof why);
        if (!TAP_OK(ok, "%s (%zu bytes)", paths[i], n))
            tap_diag("  %s", f ? why : "cannot open");
        free(paths[i]);
    }
    return tap_exit();
}
