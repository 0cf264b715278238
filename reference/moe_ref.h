/* The reference MoE layer in plain C: straightforward loops, f64 accumulation, the
 * semantics of the Hugging Face / sglang / vLLM implementations of each router and
 * activation. The oracle every device result is compared with.
 *
 * Semantics, for each token t (the kernels implement exactly this):
 *  1. logit[e] = x[t] . ROUTER_W[e] (+ ROUTER_B[e] when router.bias)
 *  2. score[e] = softmax over all E logits (SOFTMAX) | sigmoid(logit[e]) (SIGMOID)
 *  3. choice[e] = score[e] + SCORE_BIAS[e] when router.score_correction_bias, else score[e]
 *  4. groups > 1: experts split into `groups` contiguous groups; a group's score is the
 *     sum of its top-2 choices when score_correction_bias, else its max choice; only the
 *     topk_group best groups stay eligible (ties: lower group index first)
 *  5. top-k: the K eligible experts of highest choice, ties to the lower expert index,
 *     ordered by descending choice
 *  6. w[k] = score (not choice) of expert k; renormalize: w /= sum(w); w *= routed_scaling_factor
 *  7. per (t,k), expert e: in = x[t] * w[k] when apply_router_weight_on_input (in f32),
 *     else x[t]; g = W13[e][0:I) . in + B13, u = W13[e][I:2I) . in + B13;
 *     a = act(g, u): silu(g)*u | gelu_erf(g)*u | gelu_tanh(g)*u |
 *     swiglu_oai: g = min(g, limit), u = clamp(u, -limit, limit), g*sigmoid(alpha*g)*(u+1);
 *     o = W2[e] . a + B2[e]
 *  8. y[t] = sum_k (on_input ? 1 : w[k]) * o_k + shared(x[t]), where shared(x) is the same
 *     MLP with SHARED_W13/SHARED_W2 (no biases) on the unscaled x, times
 *     sigmoid(x . SHARED_GATE) when router.shared_expert_gate.
 * Model mapping: Llama 4 = SIGMOID, no renormalize, on_input; Mixtral, Qwen3, GPT-OSS =
 * SOFTMAX + renormalize (GPT-OSS's softmax over the top-k logits is the same thing);
 * DeepSeek-V2-Lite = SOFTMAX, no renormalize; DeepSeek-V3 = SIGMOID + score bias +
 * groups 8 / topk_group 4 + renormalize + scaling 2.5.
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

/* The routed experts alone on GIVEN routing (what zmoe_record_experts computes), from
 * the definition, independent of the router above: for each token t,
 *   y[t] = sum_k c_k * expert_{ids[t*K+k]}(x[t] * s_k)
 * with s_k = w[t*K+k] (x times the weight in f32) and c_k = 1 when
 * router.apply_router_weight_on_input, else s_k = 1 and c_k = w[t*K+k]; expert(in) is
 * step 7 above (W13, biases, activation, W2). The weights are used as given: no
 * renormalization, no routed scaling, no shared expert, no gate. A pair whose id >= E
 * is skipped (contributes nothing). */
void zmoe_ref_experts(const struct zmoe_config *cfg, const struct zmoe_ref_weights *w,
                      const float *x, uint32_t tokens, const uint32_t *topk_ids,
                      const float *topk_weights, float *y);

/* Allocates and fills f32 copies of every present tensor of `layer` with
 * zmoe_weights_synthetic(); zmoe_ref_weights_free() releases them. Test-side only. */
int zmoe_ref_weights_synthetic(const struct zmoe_config *cfg, uint32_t layer,
                               struct zmoe_ref_weights *w);
void zmoe_ref_weights_free(struct zmoe_ref_weights *w);

#endif
