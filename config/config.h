/* config: the static config file (INI, parsed with inih) and its validation into
 * struct zmoe_config.
 *
 * Owns: the file syntax, every key's type, default and range, the consistency rules
 * between keys (config/README.md lists them all), turning a config back into an INI
 * file or into a C header that compiles the config into a firmware build.
 * Must not: touch Level Zero, open weights files, or know the memory plan (the budget
 * check here is only the lower bound "weights alone must fit").
 *
 * Nothing here allocates: parsing streams through inih's stack line buffer and one
 * fixed line buffer on the stack; errors go into the caller's struct zmoe_error.
 * The public entry points zmoe_config_load/parse/validate are declared in zmoe.h.
 */
#ifndef ZMOE_CONFIG_H
#define ZMOE_CONFIG_H

#include "zmoe.h"

#include <stdio.h>

/* The most command-list ring slots a config may ask for: the runtime keeps per-slot
 * state in fixed arrays of this size. */
#define ZMOE_CONFIG_RING_DEPTH_MAX 64u

/* Lines longer than this (comments included) are rejected outright. Key/value lines
 * are further limited by inih's line buffer (see config/README.md). */
#define ZMOE_CONFIG_RAW_LINE_MAX 4096u

/* Fills every field with its documented default. The required fields (model geometry,
 * router.scoring, experts.activation, dtype.weights) are left 0, so the result does not
 * validate until the caller sets them. */
void zmoe_config_defaults(struct zmoe_config *cfg);

/* Parses a byte count: decimal digits, optionally followed (blanks allowed in between)
 * by K, M, G or T (or KiB, MiB, GiB, TiB), binary multiples: 1K = 1024. Returns false on
 * anything else, including values that do not fit in 64 bits. */
bool zmoe_config_parse_size(const char *text, uint64_t *out);

/* Writes `cfg` as a complete INI config file (every key that is meaningful for it, in
 * canonical order). For a valid config, parsing the output gives back an equal config. */
enum zmoe_status zmoe_config_print(const struct zmoe_config *cfg, FILE *out,
                                   struct zmoe_error *err);

/* zmoe_config_print with comments: `header` (may be NULL; every line written as a '#'
 * comment) before the first section, and for each key written, comment("section.key",
 * ctx) (NULL or "" = none) after its value (strings: on a comment line above it). */
enum zmoe_status zmoe_config_print_commented(const struct zmoe_config *cfg, FILE *out,
                                             const char *header,
                                             const char *(*comment)(const char *key,
                                                                    void *ctx),
                                             void *ctx, struct zmoe_error *err);

/* Writes a C header defining `static const struct zmoe_config <symbol> = {...};` with
 * designated initializers (floats as exact hex literals), so a firmware build can
 * compile the config in. `symbol` must be a C identifier; `cfg` must validate. */
enum zmoe_status zmoe_config_write_header(const struct zmoe_config *cfg, const char *symbol,
                                          FILE *out, struct zmoe_error *err);

/* Field-by-field comparison (padding ignored, floats bitwise, strings up to their NUL).
 * Returns NULL when equal, else the name of the first differing key, e.g.
 * "router.top_k"-style "section.key". */
const char *zmoe_config_diff(const struct zmoe_config *a, const struct zmoe_config *b);

/* Bytes of all layers' weights in the kernel layout of weights/weights.h, checked:
 * false when the geometry overflows 64 bits (validate rejects such configs). */
bool zmoe_config_weight_bytes(const struct zmoe_config *cfg, uint64_t *out);

/* Names used in config files ("softmax", "swiglu_oai", "bf16", "gpt_oss", ...);
 * "?" for values outside the enum. */
const char *zmoe_config_scoring_name(enum zmoe_scoring v);
const char *zmoe_config_activation_name(enum zmoe_activation v);
const char *zmoe_config_dtype_name(enum zmoe_dtype v);
const char *zmoe_config_device_name(enum zmoe_device_choice v);
const char *zmoe_config_layout_name(enum zmoe_weights_layout v);
const char *zmoe_config_quant_format_name(enum zmoe_quant_format v);
const char *zmoe_config_quant_packing_name(enum zmoe_quant_packing v);
const char *zmoe_config_scale_dtype_name(enum zmoe_scale_dtype v);

#endif
