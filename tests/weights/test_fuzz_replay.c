/* Replays the fuzz corpus through the fuzz target's entry point (zmoe_safetensors_check):
 * files named ok-* must validate, bad-* must be refused with a message. Every ok-* file
 * is then mutated systematically: every truncation must be refused, and every single-
 * byte change of the length field and header must end in "valid" or a clean refusal. */
#include "weights/safetensors.h"
#include "tests/tap.h"

#include <dirent.h>
#include <string.h>

static void *ws;

static enum zmoe_status check(const unsigned char *d, size_t n, const char *name,
                              struct zmoe_error *err)
{
    err->msg[0] = '\0';
    /* an exact-size heap copy, so reads past the end are visible to ASan/valgrind */
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, d, n);
    enum zmoe_status st = zmoe_safetensors_check(copy, n, name, ws, zmoe_safetensors_workspace_size(), err);
    free(copy);
    return st;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        tap_bail("usage: %s corpus-dir", argv[0]);
    ws = malloc(zmoe_safetensors_workspace_size());
    DIR *dir = opendir(argv[1]);
    if (!dir || !ws)
        tap_bail("cannot open %s", argv[1]);
    char *names[256];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nn < 256)
        if (de->d_name[0] != '.')
            names[nn++] = strdup(de->d_name);
    closedir(dir);
    qsort(names, (size_t)nn, sizeof names[0], cmpstr);
    int oks = 0, bads = 0;
    for (int i = 0; i < nn; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            tap_bail("open %s", path);
        static unsigned char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        struct zmoe_error err;
        enum zmoe_status st = check(buf, n, names[i], &err);
        bool want_ok = strncmp(names[i], "ok-", 3) == 0;
        if (want_ok) {
            oks++;
            if (!TAP_OK(st == ZMOE_OK, "%s validates", names[i]))
                tap_diag("  %s", err.msg);
            long trunc_bad = 0, mut_bad = 0, mut_ok = 0, mut_refused = 0;
            for (size_t k = 0; k < n; k++)
                trunc_bad += check(buf, k, names[i], &err) != ZMOE_ERR_WEIGHTS || !err.msg[0];
            TAP_EQ_INT(trunc_bad, 0, "%s: all %zu truncations refused with a message", names[i], n);
            static const unsigned char vals[] = {0, 1, '"', '{', '}', '[', ']', ',', ':', '9',
                                                 '-', 'e', '\\', ' ', 0x7f, 0xff};
            uint64_t hl = 0;
            for (int b = 7; b >= 0; b--)
                hl = (hl << 8) | buf[b];
            for (size_t k = 0; k < 8 + hl && k < n; k++)
                for (size_t v = 0; v < sizeof vals; v++) {
                    unsigned char save = buf[k];
                    if (save == vals[v])
                        continue;
                    buf[k] = vals[v];
                    st = check(buf, n, names[i], &err);
                    buf[k] = save;
                    if (st == ZMOE_OK)
                        mut_ok++;
                    else if (st == ZMOE_ERR_WEIGHTS && err.msg[0])
                        mut_refused++;
                    else
                        mut_bad++;
                }
            TAP_EQ_INT(mut_bad, 0, "%s: byte mutations end valid (%ld) or refused (%ld)", names[i],
                       mut_ok, mut_refused);
        } else {
            bads++;
            TAP_OK(st == ZMOE_ERR_WEIGHTS && err.msg[0], "%s refused: %s", names[i], err.msg);
        }
        free(names[i]);
    }
    TAP_OK(oks >= 3 && bads >= 8, "corpus has %d valid and %d invalid files", oks, bads);
    free(ws);
    return tap_exit();
}
