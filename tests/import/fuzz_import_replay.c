/* The importer's fuzz invariants (fuzz_import.c) over every hub config.json given as an
 * argument, each of its truncations and a sweep of single-byte mutations (every byte
 * position, a few replacement bytes), so every build exercises what the fuzzer would. */
#include "tests/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int zmoe_fuzz_import_check(const uint8_t *data, size_t size, char *why, size_t why_size);

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16], mut[1 << 16];
    char why[2048];
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f)
            tap_bail("cannot open %s", argv[a]);
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        TAP_OK(zmoe_fuzz_import_check(buf, n, why, sizeof why), "%s: %s", argv[a], why);
        int bad = 0;
        for (size_t cut = 0; cut < n && !bad; cut++)
            if (!zmoe_fuzz_import_check(buf, cut, why, sizeof why)) {
                tap_diag("truncated to %zu: %s", cut, why);
                bad = 1;
            }
        TAP_OK(!bad, "%s: every truncation keeps the invariants", argv[a]);
        static const uint8_t repl[] = {'0', '9', '"', '{', ']', ',', 0, 0xff, '-', 'e'};
        bad = 0;
        for (size_t p = 0; p < n && !bad; p++)
            for (size_t r = 0; r < sizeof repl && !bad; r++) {
                memcpy(mut, buf, n);
                mut[p] = repl[r];
                if (!zmoe_fuzz_import_check(mut, n, why, sizeof why)) {
                    tap_diag("byte %zu -> 0x%02x: %s", p, repl[r], why);
                    bad = 1;
                }
            }
        TAP_OK(!bad, "%s: every single-byte mutation keeps the invariants", argv[a]);
    }
    return tap_exit();
}
