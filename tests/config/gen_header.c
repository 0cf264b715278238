/* Build-time generator: gen_header <config> <symbol> <out.h>. Loads a config file and
 * writes it as a C header with zmoe_config_write_header(), the way a firmware build
 * compiles a config in. */
#include "config/config.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <config> <symbol> <out.h>\n", argv[0]);
        return 2;
    }
    struct zmoe_config cfg;
    struct zmoe_error err;
    if (zmoe_config_load(argv[1], &cfg, &err) != ZMOE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *out = fopen(argv[3], "w");
    if (!out) {
        perror(argv[3]);
        return 1;
    }
    enum zmoe_status st = zmoe_config_write_header(&cfg, argv[2], out, &err);
    if (fclose(out) != 0 && st == ZMOE_OK) {
        perror(argv[3]);
        return 1;
    }
    if (st != ZMOE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        remove(argv[3]);
        return 1;
    }
    return 0;
}
