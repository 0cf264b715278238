/* The reference MoE layer in plain C: straightforward loops, f64 accumulation, the
 * semantics of the Hugging Face / sglang / vLLM implementations of each router and
 * activation. The oracle every device result is compared with.
 *
 * Weights are f32 arrays in the kernel layout of weights/weights.h (values already
 * rounded to the configured weight dtype, e.g. from zmoe_weights_synthetic). */
#ifndef ZMOE_MOE_REF_H
#define ZMOE_MOE_REF_H

#include "weights/weights.h"

struct zmoe_ref_weights {
    const float *tensor[ZMOE_TENSOR_COUNT]; /* NULL where absent */
};

/* Where the routing weight is applied. ON_INPUT is what the config says when
 * apply_router_weight_on_input is set; AT_COMBINE is the wrong-for-Llama-4 variant
 * some libraries implement, kept to show the difference in tests. */
enum zmoe_ref_weighting { ZMOE_REF_AS_CONFIGURED = 0, ZMOE_REF_FORCE_AT_COMBINE };

/* y[T,H] = MoE(x[T,H]). topk_ids/topk_weights [T,K] (may be NULL) receive the router's
 * choice, experts ordered by descending score. Inputs are f32 values (already rounded to
 * the activation dtype by the caller when it is f16/bf16); y is not rounded. */
void zmoe_ref_forward(const struct zmoe_config *cfg, const struct zmoe_ref_weights *w,
                      const float *x, uint32_t tokens, enum zmoe_ref_weighting weighting,
                      float *y, uint32_t *topk_ids, float *topk_weights);

/* Allocates and fills f32 copies of every present tensor of `layer` with
 * zmoe_weights_synthetic(); zmoe_ref_weights_free() releases them. Test-side only. */
int zmoe_ref_weights_synthetic(const struct zmoe_config *cfg, uint32_t layer,
                               struct zmoe_ref_weights *w);
void zmoe_ref_weights_free(struct zmoe_ref_weights *w);

#endif
