/* weights: the kernel weight layout, dtype conversion, synthetic weights and
 * safetensors checkpoints (Hugging Face layouts) streamed chunk by chunk.
 *
 * Owns: mapping checkpoint tensors to the kernel layout below (transpose, split,
 * de-interleave, dtype conversion) while streaming through a caller-given staging
 * buffer. Must not: touch Level Zero (bytes leave through the sink callback), or
 * allocate anything that grows with the model.
 *
 * Kernel layout, per MoE layer (E experts, H hidden, I intermediate, S = shared
 * experts * shared_intermediate). Matrices are row-major with the reduction dimension
 * contiguous, so every output element is one contiguous dot product:
 *   ROUTER_W    [E][H]      weights dtype
 *   ROUTER_B    [E]         f32   (router.bias)
 *   SCORE_BIAS  [E]         f32   (router.score_correction_bias)
 *   W13         [E][2I][H]  weights dtype; rows [0,I) gate, rows [I,2I) up
 *                           (always concatenated: interleaved checkpoints are
 *                            de-interleaved on upload)
 *   B13         [E][2I]     f32   (experts.bias), same row order as W13
 *   W2          [E][H][I]   weights dtype
 *   B2          [E][H]      f32   (experts.bias)
 *   SHARED_W13  [2S][H]     weights dtype; rows [0,S) gate, [S,2S) up
 *   SHARED_W2   [H][S]      weights dtype
 *   SHARED_GATE [H]         weights dtype (router.shared_expert_gate)
 */
#ifndef ZMOE_WEIGHTS_H
#define ZMOE_WEIGHTS_H

#include "zmoe.h"

/* enum zmoe_tensor, zmoe_tensor_name, zmoe_tensor_present and zmoe_tensor_bytes are public
 * (zmoe.h: callers that own their weights name the tensors of this layout). */
/* Elements of one layer's tensor (0 when absent). Checked: a product overflowing
 * 64 bits gives 0 and the config validator rejects such geometries. */
uint64_t zmoe_tensor_elements(const struct zmoe_config *cfg, enum zmoe_tensor t);
enum zmoe_dtype zmoe_tensor_dtype(const struct zmoe_config *cfg, enum zmoe_tensor t);

size_t zmoe_dtype_size(enum zmoe_dtype dt);
const char *zmoe_dtype_name(enum zmoe_dtype dt); /* "f32", "f16", "bf16" */
uint16_t zmoe_f32_to_f16(float f);  /* round to nearest even */
float zmoe_f16_to_f32(uint16_t h);
uint16_t zmoe_f32_to_bf16(float f); /* round to nearest even */
float zmoe_bf16_to_f32(uint16_t b);
/* Converts n elements between dtypes (src and dst must not overlap). */
void zmoe_dtype_convert(void *dst, enum zmoe_dtype dst_dt, const void *src,
                        enum zmoe_dtype src_dt, size_t n);

/* Synthetic weights: a deterministic function of (seed, layer, tensor, index), scaled
 * like real checkpoints (~1/sqrt(fan_in)), already rounded to the tensor's dtype, so a
 * reference computing in f32/f64 from these values sees exactly what the device has. */
void zmoe_weights_synthetic(const struct zmoe_config *cfg, uint32_t layer, enum zmoe_tensor t,
                            uint64_t first, uint64_t count, float *out);

/* Synthetic quantized tensor t of `layer` (a quantized matrix of weights/quant.h):
 * bytes [offset, offset+size) of its device layout, counter-based like
 * zmoe_weights_synthetic (weights.c says what the codes, scales, zeros and permutation
 * are). Readers get values with zmoe_quant_dequant_rows(). Not a quantized matrix:
 * zeros. */
void zmoe_weights_synthetic_quant(const struct zmoe_config *cfg, uint32_t layer, enum zmoe_tensor t,
                                  uint64_t offset, size_t size, void *out);

/* Receives the bytes of one tensor of one layer in kernel layout and dtype, in order,
 * chunk by chunk: `offset` is the byte offset inside that tensor. */
typedef enum zmoe_status (*zmoe_weights_sink)(void *ctx, uint32_t layer, enum zmoe_tensor t,
                                              uint64_t offset, const void *bytes, size_t size,
                                              struct zmoe_error *err);

/* Streams every present tensor of every layer to the sink: from cfg->weights.file
 * (a .safetensors file or a sharded set's model.safetensors.index.json) with
 * cfg->weights.layout, or synthetic when no file is configured. `staging` is the only
 * memory used for data; `report` (may be NULL) receives a one-line summary such as
 * the detected layer prefix. Validates everything before the first sink call.
 * For a file it takes one fixed parser workspace (~12 MiB) with malloc for the duration
 * of the call; firmware mode passes its own through zmoe_safetensors_load()
 * (weights/safetensors.h). Synthetic loading allocates nothing. */
enum zmoe_status zmoe_weights_load(const struct zmoe_config *cfg, void *staging,
                                   size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                   char *report, size_t report_size, struct zmoe_error *err);

#endif
