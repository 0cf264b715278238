/* zmoe: the command-line front end. Dispatches to one subcommand per file. */
#include "cli/cli.h"

#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cli_cmd_run, "run a decode loop through every layer and print latency and memory"},
    {"forward", cli_cmd_forward, "run one layer on hidden states from a safetensors file"},
    {"plan", cli_cmd_plan, "print the arena map, budget verdict and a roofline estimate"},
    {"info", cli_cmd_info, "list the Level Zero loader, drivers and devices"},
    {"profile", cli_cmd_profile, "write a Chrome/Perfetto trace of a decode loop"},
    {"config-header", cli_cmd_config_header, "print a config as a C header"},
    {"import", cli_cmd_import, "write a zmoe config from a Hugging Face model directory"},
    {"quantize", cli_cmd_quantize, "write int4/int8 experts as a compressed-tensors checkpoint"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: zmoe <command> [options]\n"
                 "       zmoe --version | --help\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'zmoe <command> --help' describes a command's options.\n"
                 "Exit status: 0 ok, 1 runtime failure, 2 usage or config error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("zmoe %s\n", ZMOE_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].fn(argc, argv);
    if (name[0] == '-')
        fprintf(stderr, "zmoe: unknown option '%s'\n", name);
    else
        fprintf(stderr, "zmoe: unknown command '%s'\n", name);
    fprintf(stderr, "try 'zmoe --help'\n");
    return CLI_EXIT_USAGE;
}
