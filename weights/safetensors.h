/* weights/safetensors: Hugging Face safetensors checkpoints (single file or sharded
 * with model.safetensors.index.json) streamed into the kernel layout of weights.h.
 * Part of the weights module; zmoe_weights_load() calls it when a file is configured.
 *
 * Memory: the header parser works in one fixed workspace (jsmn token array, tensor
 * table, shard table) of zmoe_safetensors_workspace_size() bytes, independent of the
 * model size. Pass it in (firmware mode), or pass NULL and zmoe_safetensors_load()
 * takes it with one malloc and frees it before returning. Checkpoint files are mmapped
 * read-only; data reaches the sink only through the caller's staging buffer. */
#ifndef ZMOE_WEIGHTS_SAFETENSORS_H
#define ZMOE_WEIGHTS_SAFETENSORS_H

#include "weights/weights.h"

/* Fixed capacities (see README.md). Tokens bound one JSON header (a shard's header or
 * the index's weight_map: ~2 tokens per index entry, ~12 per tensor in a shard). */
#define ZMOE_ST_MAX_TOKENS (1u << 18)
#define ZMOE_ST_MAX_TENSORS (1u << 17) /* all tensors of all shards together */
#define ZMOE_ST_MAX_SHARDS 256u
#define ZMOE_ST_MAX_LAYERS 1024u        /* checkpoint layer numbers scanned */
#define ZMOE_ST_MAX_COLS 65536u        /* act-order: columns of one quantized linear */
#define ZMOE_ST_MAX_HEADER (100u << 20) /* safetensors' own header limit */
#define ZMOE_WEIGHTS_MIN_STAGING 64

size_t zmoe_safetensors_workspace_size(void);

/* zmoe_weights_load() for a configured file, with an optional caller workspace
 * (NULL = one malloc of zmoe_safetensors_workspace_size(), freed on return). */
enum zmoe_status zmoe_safetensors_load(const struct zmoe_config *cfg, void *workspace,
                                       size_t workspace_size, void *staging,
                                       size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                       char *report, size_t report_size,
                                       struct zmoe_error *err);

/* Reads the checkpoint's headers only (no tensor data) and finds what
 * zmoe_safetensors_load would: the layer prefix (configured or detected: *detected)
 * and the checkpoint layer numbers of the MoE layers, ascending (config layer l runs
 * checkpoint layer layers[l]). *found gets their count (at most ZMOE_ST_MAX_LAYERS);
 * the first max_layers go to `layers`. Takes the workspace with one malloc. */
enum zmoe_status zmoe_safetensors_layers(const struct zmoe_config *cfg, char *prefix,
                                         size_t prefix_size, bool *detected, uint32_t *layers,
                                         uint32_t max_layers, uint32_t *found,
                                         struct zmoe_error *err);

/* Parses and validates one .safetensors image in memory (header and every entry:
 * dtype, shape × dtype size == span, spans in range and disjoint). The fuzz target's
 * entry point; `name` is used in messages. */
enum zmoe_status zmoe_safetensors_check(const void *data, size_t size, const char *name,
                                        void *workspace, size_t workspace_size,
                                        struct zmoe_error *err);

/* ---- internal to the weights module (weights.c <-> safetensors.c) ---- */
float zmoe_weights_load_elem(const void *p, enum zmoe_dtype dt);
void zmoe_weights_store_elem(void *p, enum zmoe_dtype dt, float f);
void zmoe_weights_errorf(struct zmoe_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum zmoe_status zmoe_weights_check_geometry(const struct zmoe_config *cfg,
                                             struct zmoe_error *err);

#endif
