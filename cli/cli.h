/* cli: the `zmoe` command. Private to cli/; nothing here is part of the library.
 *
 * Conventions of every subcommand: results on stdout, messages on stderr prefixed
 * with "zmoe <command>: ", exit 0 on success, 1 on a runtime failure, 2 on a usage
 * or config error (including a plan over the configured budget). */
#ifndef ZMOE_CLI_H
#define ZMOE_CLI_H

#include "zmoe.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

/* ------------------------------------------------------------ arguments */

enum cli_opt_kind { CLI_OPT_FLAG = 0, CLI_OPT_STRING, CLI_OPT_U32 };

struct cli_opt {
    const char *name; /* "--steps" */
    enum cli_opt_kind kind;
    uint32_t min, max;   /* CLI_OPT_U32 range, inclusive */
    bool seen;
    bool flag;           /* CLI_OPT_FLAG */
    const char *string;  /* CLI_OPT_STRING */
    uint32_t u32;        /* CLI_OPT_U32 */
};

/* Parses argv[first..argc) against `opts` (terminated by a NULL name). Accepts
 * "--name value" and "--name=value"; anything not starting with "--" is positional.
 * "--help"/"-h" sets *help. Returns CLI_EXIT_OK or CLI_EXIT_USAGE after printing a
 * message naming the offending flag. */
int cli_parse(const char *cmd, int argc, char **argv, int first, struct cli_opt *opts,
              const char **positional, int max_positional, int *n_positional, bool *help);

/* Message on stderr: "zmoe <cmd>: ..." */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit code for a library status: config, budget, argument and file problems are the
 * user's to fix (2); everything else is a runtime failure (1). */
int cli_exit_for(enum zmoe_status st);

/* Loads a config file; prints the error and returns the exit code on failure. With a
 * model directory set (--model DIR), the config comes from DIR/config.json and `path`
 * (NULL = none) may only add [dtype]/[runtime]/[budget]/weights.prefix overrides. */
int cli_load_config(const char *cmd, const char *path, struct zmoe_config *cfg);
/* --model DIR of the running command (NULL = none). */
void cli_set_model_dir(const char *dir);
const char *cli_model_dir(void);
/* What to call the config in messages: the model directory (--model), else the path. */
const char *cli_config_label(const char *path);
/* Prints "checkpoint: prefix '...' (detected|configured); config layer -> checkpoint
 * layer: 0->1 1->3 ..." for a checkpoint config (nothing for synthetic weights). With
 * layers != NULL, the checkpoint's MoE layer numbers (up to max) go there too and *n
 * gets their count. Returns 0, or the exit code after printing the error. */
int cli_checkpoint_layers(const char *cmd, const struct zmoe_config *cfg, FILE *out,
                          uint32_t *layers, uint32_t max, uint32_t *n, char *prefix,
                          size_t prefix_size);

/* ------------------------------------------------------------ helpers */

uint64_t cli_now_ns(void); /* CLOCK_MONOTONIC */
/* Sorts v in place and returns the p-th percentile (nearest rank), 0 when n == 0. */
uint64_t cli_percentile(uint64_t *v, size_t n, double p);
/* "1.50 GiB"-style human size into buf. */
const char *cli_human_bytes(uint64_t bytes, char *buf, size_t size);

/* ------------------------------------------------------------ runtime session */

/* A runtime brought up from a config file with its weights loaded. */
struct cli_session {
    struct zmoe_config cfg;
    struct zmoe_runtime *rt;
    struct zmoe_stats stats; /* right after the weights were loaded */
    uint64_t create_ns, weights_ns;
};
/* Creates the runtime and loads the weights; prints the error and returns the exit
 * code on failure (nothing left to close then). */
int cli_session_open(const char *cmd, const char *config_path, struct cli_session *s);
void cli_session_close(struct cli_session *s);
/* Prints device, kernel format, model geometry, weights and arena lines. */
void cli_session_print(const struct cli_session *s, FILE *out);

/* Deterministic hidden states in [-1, 1) (splitmix64), for decode loops. */
void cli_fill_input(float *x, size_t n, uint64_t seed);
/* y = x / rms(x) per row of h elements: the pre-norm a decoder applies before each
 * MoE block, keeping a long chain of layers in a sane range. */
void cli_rmsnorm(float *y, const float *x, uint32_t rows, uint32_t h);

/* ------------------------------------------------------------ subcommands */

int cli_cmd_run(int argc, char **argv);
int cli_cmd_forward(int argc, char **argv);
int cli_cmd_plan(int argc, char **argv);
/* zmoe plan's expert-parallel section (plan_parallel.c): text, or a JSON member
 * (",\n\"parallel\": {...}") inside the plan object. Returns an exit code. */
int cli_plan_parallel(const char *label, const struct zmoe_config *cfg, uint32_t devices, bool json);
/* zmoe run on several devices or MPI ranks (run_parallel.c). */
int cli_run_parallel(const char *cmd, const char *label, const struct zmoe_config *cfg, uint32_t steps,
                     uint32_t tokens, bool check);
int cli_cmd_info(int argc, char **argv);
int cli_cmd_profile(int argc, char **argv);
int cli_cmd_config_header(int argc, char **argv);
int cli_cmd_import(int argc, char **argv);
int cli_cmd_quantize(int argc, char **argv);

#endif
