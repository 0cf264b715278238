/* zmoe import: a Hugging Face model directory's config.json as a zmoe config file. */
#include "cli/cli.h"
#include "config/config.h"
#include "config/hf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char import_usage[] =
    "usage: zmoe import MODEL_DIR [--output FILE]\n"
    "\n"
    "Reads MODEL_DIR/config.json (a Hugging Face model directory: Llama 4 Scout/Maverick,\n"
    "Mixtral, Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3/R1, GPT-OSS) and writes the complete\n"
    "zmoe config (default: stdout). Each value carries a comment naming the config.json\n"
    "field, or the modeling code's fixed rule, it comes from; [runtime] and [budget] are\n"
    "zmoe's defaults. weights.file is the checkpoint in MODEL_DIR (the sharded index\n"
    "model.safetensors.index.json, else model.safetensors).\n"
    "\n"
    "An architecture zmoe does not know, a missing or mistyped field, numbers that\n"
    "contradict each other, or a field value zmoe cannot express (a topk_method or\n"
    "hidden_act it does not implement) is an error naming the field and value (exit 2).\n"
    "\n"
    "To run a model directory without writing a file: zmoe run --model MODEL_DIR\n"
    "[OVERRIDES.conf] (also forward, plan, profile).\n"
    "\n"
    "  --output FILE   write the config to FILE instead of stdout\n";

int cli_cmd_import(int argc, char **argv)
{
    struct cli_opt opts[] = {{"--output", CLI_OPT_STRING}, {NULL}};
    const char *pos[1];
    int npos;
    bool help;
    int rc = cli_parse("import", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(import_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1) {
        cli_error("import", "missing MODEL_DIR (see 'zmoe import --help')");
        return CLI_EXIT_USAGE;
    }
    struct zmoe_hf_import *imp = malloc(sizeof *imp);
    if (!imp) {
        cli_error("import", "out of memory");
        return CLI_EXIT_RUNTIME;
    }
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_config_import_hf(pos[0], imp, &err);
    if (st != ZMOE_OK) {
        cli_error("import", "%s", err.msg);
        free(imp);
        return st == ZMOE_ERR_NO_MEMORY ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    /* Self-check: the text parses back to exactly the imported config. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    st = mem ? zmoe_config_hf_print(imp, mem, &err) : ZMOE_ERR_NO_MEMORY;
    if (mem)
        fclose(mem);
    struct zmoe_config back;
    const char *diff = NULL;
    if (st == ZMOE_OK) {
        st = zmoe_config_parse(text, len, "imported config", &back, &err);
        if (st == ZMOE_OK)
            diff = zmoe_config_diff(&imp->cfg, &back);
    }
    if (st != ZMOE_OK || diff) {
        cli_error("import", "%s: internal: the written config does not read back%s%s: %s",
                  pos[0], diff ? " equal at key " : "", diff ? diff : "", err.msg);
        free(text);
        free(imp);
        return CLI_EXIT_RUNTIME;
    }
    rc = CLI_EXIT_OK;
    if (opts[0].seen) {
        FILE *f = fopen(opts[0].string, "w");
        if (!f) {
            cli_error("import", "--output: %s: %s", opts[0].string, strerror(errno));
            rc = CLI_EXIT_USAGE;
        } else {
            bool ok = fwrite(text, 1, len, f) == len;
            ok = fclose(f) == 0 && ok;
            if (!ok) {
                cli_error("import", "--output: %s: write error", opts[0].string);
                remove(opts[0].string);
                rc = CLI_EXIT_RUNTIME;
            }
        }
    } else if (fwrite(text, 1, len, stdout) != len) {
        rc = CLI_EXIT_RUNTIME;
    }
    /* Notes go to stderr, so stdout stays the config alone. */
    for (const char *n = imp->notes; rc == CLI_EXIT_OK && *n;) {
        const char *nl = strchr(n, '\n');
        size_t k = nl ? (size_t)(nl - n) : strlen(n);
        fprintf(stderr, "zmoe import: note: %.*s\n", (int)k, n);
        n += k + (nl ? 1 : 0);
    }
    if (rc == CLI_EXIT_OK && opts[0].seen)
        fprintf(stderr, "zmoe import: %s (%s, layout %s) -> %s\n", imp->source, imp->arch,
                zmoe_config_layout_name(imp->cfg.weights.layout), opts[0].string);
    free(text);
    free(imp);
    return rc;
}
