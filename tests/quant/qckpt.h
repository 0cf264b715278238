/* Hand-made quantized checkpoints for the tests (issue 13), written from each format's
 * definition (reference/README.md "Quantized formats"), independently of the loader:
 * the test chooses codes, scales, zero points and g_idx (seeded random), this packs them
 * the way the format's own tool stores them and produces safetensors tensors
 * (tests/weights/st_writer.h), and a whole small MoE checkpoint per layout comes with
 * the f32 kernel-layout weights the reference runs on, computed by reference/quant_ref's
 * dequantizers from the written tensors.
 *
 * Code convention (all formats): a matrix is W[out][in] (nn.Linear orientation), codes
 * are unsigned: int formats q in [0, 2^bits) with the zero point z in the same units
 * (W = (q - z) * s; GPTQ's z is the value used, i.e. the stored one + 1; symmetric
 * formats have z = 2^(bits-1)), fp8 q is the e4m3fn byte (W = e4m3(q) * s), mxfp4 q is
 * the e2m1 nibble and e the e8m0 byte of its 32-block (W = e2m1(q) * 2^(e-127)).
 * Test code: malloc is fine, failures bail out (tap_bail) unless stated. */
#ifndef ZMOE_TESTS_QCKPT_H
#define ZMOE_TESTS_QCKPT_H

#include "reference/moe_ref.h"
#include "reference/quant_ref.h"
#include "tests/weights/st_writer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qck_format {
    QCK_GPTQ,       /* qweight / qzeros / scales / g_idx, bits 4 or 8 */
    QCK_AWQ,        /* AutoAWQ GEMM: qweight / qzeros / scales, 4 bits, always zero points */
    QCK_CT_PACKED,  /* compressed-tensors pack-quantized: weight_packed / weight_scale /
                       [weight_zero_point] / weight_shape, bits 4 or 8 */
    QCK_CT_INT8,    /* compressed-tensors int-quantized: weight I8 / weight_scale /
                       [weight_zero_point] */
    QCK_FP8_NATIVE, /* DeepSeek-V3 / Qwen3-FP8: weight F8_E4M3 + weight_scale_inv */
    QCK_FP8_CT,     /* compressed-tensors float-quantized: weight F8_E4M3 + weight_scale */
    QCK_MXFP4,      /* GPT-OSS: <name>_blocks / <name>_scales (gpt_oss layout only) */
};

struct qck_spec {
    enum qck_format format;
    unsigned bits;           /* GPTQ, CT_PACKED: 4 or 8; others: ignored */
    uint32_t group;          /* int formats: along in, 0 = per output channel;
                                fp8: 128 = 128x128 blocks, 0 = per output channel */
    bool zero_points;        /* int formats: asymmetric (AWQ: always) */
    bool act_order;          /* GPTQ, CT_PACKED: a random g_idx (each group G columns,
                                shuffled; CT writes it as weight_g_idx) */
    const char *scale_dtype; /* "F16" "BF16" "F32"; NULL: F16 int, F32 fp8 */
    bool shared_float;       /* shared experts stay float (in cfg->dtype.weights) */
    bool legacy_zero_point;  /* CT_PACKED: the zero point as compressed-tensors < 0.10
                                saved it, I8 [out, ngroups] signed, unpacked */
    bool no_g_idx;           /* GPTQ without act-order: no g_idx tensor (AutoRound's own
                                "auto_round" export registers none) */
};

/* One quantized matrix as the test chose it. */
struct qck_mat {
    uint64_t out, in;
    uint64_t group;     /* columns per scale (== in for per channel; 32 for mxfp4) */
    uint64_t row_block; /* rows per scale row: 128 for fp8 blocks, else 1 */
    uint8_t *q;         /* [out][in] */
    float *s;           /* [ceil(out/row_block)][ceil(in/group)], exact in the scale dtype */
    uint8_t *e;         /* mxfp4: [out][in/32] e8m0 bytes (s unused) */
    uint16_t *z;        /* [out][in/group] or NULL (symmetric, implicit 2^(bits-1)) */
    uint32_t *g_idx;    /* GPTQ [in]: group of each input column, or NULL (c / group) */
};

/* The spec of the checkpoint a config's [quant] keys describe (format, packing,
 * group_size, zero_points, act_order, scale_dtype, shared_experts). int8 with
 * compressed_tensors is ambiguous in real files: llm-compressor writes weight-only W8A16
 * as pack-quantized and W8A8 as int-quantized; `int_quantized` picks the latter.
 * Returns -1 for format none or a packing the format has no file layout for. */
int qck_spec_from_config(const struct zmoe_config *cfg, bool int_quantized, struct qck_spec *sp);

/* bits of a spec's codes (4 or 8). */
unsigned qck_bits(const struct qck_spec *sp);
/* The spec's scale dtype name (its default when NULL). */
const char *qck_scale_dtype(const struct qck_spec *sp);

/* Random codes/scales/zeros (/g_idx) for an out x in matrix, magnitudes ~1/sqrt(in);
 * *seed advances. Never NaN. */
void qck_mat_random(struct qck_mat *m, const struct qck_spec *sp, uint64_t out, uint64_t in,
                    uint64_t *seed);
void qck_mat_free(struct qck_mat *m);
/* The value of (r, c) straight from the codes, by the definition (not by quant_ref). */
float qck_mat_value(const struct qck_mat *m, const struct qck_spec *sp, uint64_t r, uint64_t c);

/* A growing list of tensors; each data buffer is malloc'ed and owned by the list. */
struct qck_ckpt {
    struct stw_tensor *t;
    size_t n, cap;
};
/* Appends a tensor of `bytes` zeroed bytes (ndim <= 4; unused dims ignored). */
struct stw_tensor *qck_add(struct qck_ckpt *ck, const char *name, const char *dtype,
                           unsigned ndim, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3,
                           size_t bytes);
/* Appends f32 values stored as dt (F32/F16/BF16, rounded to nearest even). */
struct stw_tensor *qck_add_float(struct qck_ckpt *ck, const char *name, enum zmoe_dtype dt,
                                 const float *v, unsigned ndim, uint64_t d0, uint64_t d1);
struct stw_tensor *qck_find(struct qck_ckpt *ck, const char *name);
/* Replaces t's data with a zeroed buffer of `bytes` (for malformed-file cases). */
void *qck_realloc(struct stw_tensor *t, size_t bytes);
void qck_remove(struct qck_ckpt *ck, const char *name);
void qck_free(struct qck_ckpt *ck);
/* Writes dir/stem.safetensors (shards <= 1) or `shards` files dir/stem-0000k-of-0000n
 * .safetensors (tensor i in shard i % shards) plus dir/stem.safetensors.index.json;
 * returns the path to configure (static buffer). */
const char *qck_write(const struct qck_ckpt *ck, const char *dir, const char *stem,
                      unsigned shards);

/* Packs m as `sp` stores one linear named `base` (e.g. "model.layers.0.mlp.experts.3
 * .gate_proj"): appends base.qweight/.qzeros/.scales/.g_idx (GPTQ), .qweight/.qzeros/
 * .scales (AWQ), .weight_packed/.weight_scale/[.weight_zero_point]/[.weight_g_idx]/
 * .weight_shape (CT_PACKED), .weight/.weight_scale/[.weight_zero_point] (CT_INT8), .weight/
 * .weight_scale_inv (FP8_NATIVE), .weight/.weight_scale (FP8_CT). Not for MXFP4. */
void qck_add_linear(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                    const struct qck_mat *m);
/* MXFP4: base_blocks U8 [E, rows, cols/32, 16] and base_scales U8 [E, rows, cols/32] from
 * E matrices of rows x cols (base e.g. "model.layers.0.mlp.experts.gate_up_proj"). */
void qck_add_mxfp4(struct qck_ckpt *ck, const char *base, const struct qck_mat *m,
                   uint64_t experts);

/* Dequantizes the linear `base` of ck with reference/quant_ref (out x in into w);
 * -1 with quant_ref's message when its pieces are malformed. MXFP4: base as above,
 * w receives [experts][out][in]. */
int qck_dequant_linear(struct qck_ckpt *ck, const char *base, const struct qck_spec *sp,
                       uint64_t experts, uint64_t out, uint64_t in, float *w, char *msg,
                       size_t msg_size);

/* A whole MoE checkpoint for cfg (model geometry, router/expert switches, layout,
 * dtype.weights for the float tensors): for each of cfg->model.layers MoE layers l
 * (checkpoint layer l under `prefix`, e.g. "model.layers."), a float router (+ score
 * bias / router bias / shared gate as cfg says), the routed experts quantized as `sp`,
 * the shared experts quantized or float (sp->shared_float); gpt_oss: MXFP4 blocks/scales
 * and bf16 biases. ref[l] (caller's array of cfg->model.layers) receives malloc'ed f32
 * kernel-layout tensors (weights/weights.h) computed with quant_ref from the written
 * tensors; free with qck_ref_free. Returns 0, or -1 when sp does not apply to the
 * layout (MXFP4 <-> gpt_oss). */
int qck_build_moe(struct qck_ckpt *ck, const struct zmoe_config *cfg, const struct qck_spec *sp,
                  const char *prefix, uint64_t seed, struct zmoe_ref_weights *ref);
void qck_ref_free(struct zmoe_ref_weights *ref, uint32_t layers);

/* The float checkpoint of the same weights: ref[l] (kernel layout, e.g. from
 * qck_build_moe) written in cfg's layout with the float names (`.weight`; llama4 and
 * gpt_oss fused gate_up_proj [E, H, 2I] / down_proj [E, I, H], gpt_oss interleaved),
 * stored as dt. The control the quantized cases are measured against: it runs through
 * today's float loader and kernels. */
void qck_build_float(struct qck_ckpt *ck, const struct zmoe_config *cfg,
                     const struct zmoe_ref_weights *ref, const char *prefix, enum zmoe_dtype dt);

/* Checkpoint names of one layer's routed expert linears: the base of expert e's gate
 * (which = 0), up (1) and down (2) linear in `layout` (not gpt_oss), and of the shared
 * ones (e ignored); into buf. */
const char *qck_expert_base(char *buf, size_t n, enum zmoe_weights_layout layout,
                            const char *prefix, uint32_t L, uint32_t e, int which);
const char *qck_shared_base(char *buf, size_t n, enum zmoe_weights_layout layout,
                            const char *prefix, uint32_t L, int which);

#endif
