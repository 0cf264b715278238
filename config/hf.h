/* config/hf: a Hugging Face model directory's config.json -> struct zmoe_config.
 *
 * Part of the config module. Knows the config.json fields of the MoE architectures
 * zmoe runs (Llama 4 with or without text_config, Mixtral, Qwen2-MoE, Qwen3-MoE,
 * DeepSeek-V2/V3/R1, GPT-OSS) and what each one means in zmoe's terms. Every value of
 * the result comes from a named field, from the architecture's modeling code (fixed
 * semantics, said so in the comment), or from a zmoe default ([runtime], [budget]).
 * A field that is missing, of the wrong type, inconsistent with another, or that asks
 * for something zmoe does not implement is an error naming the field and its value.
 *
 * JSON is parsed with jsmn (strict mode), like safetensors headers. Import is an
 * init-time step: it takes two heap blocks (the file text and the token array, both
 * bounded: config.json may hold at most ZMOE_HF_MAX_JSON bytes) and frees them before
 * returning. */
#ifndef ZMOE_CONFIG_HF_H
#define ZMOE_CONFIG_HF_H

#include "zmoe.h"

#include <stdio.h>

#define ZMOE_HF_MAX_JSON (4u << 20) /* config.json bytes */
#define ZMOE_HF_KEYS 41             /* keys a comment can be attached to */

struct zmoe_hf_import {
    struct zmoe_config cfg;   /* validated */
    char arch[64];            /* architectures[0], else model_type */
    char source[ZMOE_PATH_MAX]; /* the config.json path read */
    /* Per "section.key": the HF field(s) or the rule behind the value. */
    char why[ZMOE_HF_KEYS][200];
    char notes[1024]; /* things a user must know (quantization_config, no checkpoint yet) */
};

/* Reads MODEL_DIR/config.json. weights.file becomes MODEL_DIR/model.safetensors.index.json
 * when that exists, else MODEL_DIR/model.safetensors when that exists, else the index
 * name (with a note). Errors read "<dir>/config.json: field 'x': ..." and are
 * ZMOE_ERR_CONFIG, or ZMOE_ERR_IO when config.json cannot be read. */
enum zmoe_status zmoe_config_import_hf(const char *model_dir, struct zmoe_hf_import *out,
                                       struct zmoe_error *err);

/* The same from config.json text in memory; `name` is used in messages, `model_dir`
 * for weights.file (no file system access). */
enum zmoe_status zmoe_config_import_hf_json(const char *json, size_t len, const char *name,
                                            const char *model_dir,
                                            struct zmoe_hf_import *out,
                                            struct zmoe_error *err);

/* The comment for key "section.key" of an import, NULL when none. */
const char *zmoe_config_hf_why(const struct zmoe_hf_import *imp, const char *key);

/* Writes the imported config as an INI file: a header naming the source and the
 * architecture, every key with the HF field behind it as a comment. */
enum zmoe_status zmoe_config_hf_print(const struct zmoe_hf_import *imp, FILE *out,
                                      struct zmoe_error *err);

/* zmoe_config_load for a config that takes its model from a model directory:
 * `path` (NULL = none: all defaults) is parsed as if it held
 * "[weights] model_dir = <model_dir>" (it must not set model_dir itself). */
enum zmoe_status zmoe_config_load_model_dir(const char *path, const char *model_dir,
                                            struct zmoe_config *out, struct zmoe_error *err);

#endif
