/* Reference dequantizers for quantized checkpoint formats (issue 13), written from each
 * format's definition, independently of the loader (weights/) and of the kernels: they
 * read a checkpoint's own tensors exactly as the safetensors file stores them (raw
 * little-endian bytes, the header's dtype string and shape, PyTorch orientation) and
 * produce f32 W[out][in] (output features = rows, reduction dim contiguous), the
 * orientation of a float nn.Linear weight. The oracle a quantized device result is
 * compared with: `zmoe run --check` and the quantized layer tests run zmoe_ref_forward on
 * these values.
 *
 * Every value is computed in f32 as the format defines it:
 *   int formats   W = (q - z) * s         (q, z unsigned code units; one f32 product)
 *   fp8 e4m3fn    W = e4m3(q) * s         (s: weight_scale_inv / weight_scale)
 *   mxfp4         W = e2m1(q) * 2^(e-127) (exact)
 * The rules of each format, and the source each was checked against, are in
 * reference/README.md ("Quantized formats") and at each function below.
 *
 * Each dequantizer checks every piece's dtype and shape against what the format
 * defines for the given geometry and returns -1 with a message naming the piece and the
 * expected and found values (0 on success); nothing is written to w on failure.
 * Product code: no allocation. */
#ifndef ZMOE_QUANT_REF_H
#define ZMOE_QUANT_REF_H

#include "weights/quant.h" /* struct zmoe_qmatrix: the device layout's contract */

#include <stddef.h>
#include <stdint.h>

/* One checkpoint tensor as stored. */
struct zmoe_qref_tensor {
    const char *name;  /* for messages (may be NULL: "tensor") */
    const char *dtype; /* the header's dtype: "I32", "I64", "I8", "U8", "F16", "BF16", "F32", "F8_E4M3" */
    unsigned ndim;
    uint64_t shape[4];
    const void *data; /* little-endian, unaligned reads */
};

/* Element decoders. */
float zmoe_qref_e4m3(uint8_t b);   /* float8_e4m3fn: bias 7, subnormals, no inf, S.1111.111 = NaN */
float zmoe_qref_e2m1(uint8_t nib); /* fp4 e2m1 (low 4 bits): 0 .5 1 1.5 2 3 4 6, bit 3 sign */
float zmoe_qref_e8m0(uint8_t b);   /* 2^(b-127); 255 = NaN (OCP MX v1.0) */

/* GPTQ (AutoGPTQ / GPTQModel / AutoRound export, checkpoint_format "gptq" = v1), bits 4
 * or 8, W [out][in]:
 *   qweight I32 [in*bits/32, out]: input row i of column o is bits (i % (32/bits))*bits of
 *           word [i / (32/bits)][o] (packed along the input dim, LSB first)
 *   qzeros  I32 [ngroups, out*bits/32]: zero of (g, o) in word [g][o / (32/bits)] at bits
 *           (o % (32/bits))*bits; the value used is the stored one + 1 (v1 convention:
 *           the packer stored zero - 1, so a stored 2^bits - 1 means 2^bits)
 *   scales  F16 (or BF16/F32) [ngroups, out]
 *   g_idx   I32 [in], group of each input column, < ngroups (act-order); NULL = i / G
 *   W[o][i] = (q - (zstored + 1)) * scales[g][o], g = g_idx[i]
 * group: the quantize_config group_size (0 = per channel: one group of `in`); ngroups =
 * in / group. */
int zmoe_qref_gptq(unsigned bits, uint64_t out, uint64_t in, uint64_t group,
                   const struct zmoe_qref_tensor *qweight, const struct zmoe_qref_tensor *qzeros,
                   const struct zmoe_qref_tensor *scales, const struct zmoe_qref_tensor *g_idx,
                   float *w, char *msg, size_t msg_size);

/* AWQ GEMM (AutoAWQ WQLinear_GEMM), 4 bits, W [out][in]:
 *   qweight I32 [in, out/8]: output column 8*j + k of input row i is nibble
 *           AWQ_REVERSE[k] of word [i][j] (AWQ_REVERSE = 0 4 1 5 2 6 3 7: the packer put
 *           column 8*j + ORDER[n] into nibble n, ORDER = 0 2 4 6 1 3 5 7)
 *   qzeros  I32 [in/G, out/8], same nibble order; no +1
 *   scales  F16 (or BF16/F32) [in/G, out]
 *   W[o][i] = (q - z[i/G][o]) * scales[i/G][o] */
int zmoe_qref_awq(uint64_t out, uint64_t in, uint64_t group,
                  const struct zmoe_qref_tensor *qweight, const struct zmoe_qref_tensor *qzeros,
                  const struct zmoe_qref_tensor *scales, float *w, char *msg, size_t msg_size);

/* compressed-tensors "pack-quantized" (llm-compressor W4A16 / W8A16), bits 4 or 8:
 *   weight_packed     I32 [out, ceil(in/(32/bits))]: element c of row o at bits
 *                     (c % (32/bits))*bits of word [o][c / (32/bits)], stored as the
 *                     signed value + 2^(bits-1) (so the unsigned code q)
 *   weight_scale      F16/BF16/F32 [out, ngroups] (group 0 = channel: [out, 1])
 *   weight_zero_point NULL = symmetric (signed zero 0, i.e. code 2^(bits-1)); else
 *                     I32 [ceil(out/(32/bits)), ngroups] packed along dim 0 (zero of
 *                     (o, g) in word [o/(32/bits)][g]) with the same +2^(bits-1) offset
 *                     (compressed-tensors >= 0.10), or I8 [out, ngroups] signed, unpacked
 *                     (the versions before, which saved the zero point as is)
 *   weight_g_idx      I32 [in] (llm-compressor actorder="group"): group of each input
 *                     column, < ngroups; NULL = c / group
 *   weight_shape      I64 (or I32) [2] = {out, in}
 *   W[o][c] = (q - z) * s   (= (signed q - signed zp) * s) */
int zmoe_qref_ct_packed(unsigned bits, uint64_t out, uint64_t in, uint64_t group,
                        const struct zmoe_qref_tensor *weight_packed,
                        const struct zmoe_qref_tensor *weight_scale,
                        const struct zmoe_qref_tensor *weight_zero_point,
                        const struct zmoe_qref_tensor *weight_g_idx,
                        const struct zmoe_qref_tensor *weight_shape, float *w, char *msg,
                        size_t msg_size);

/* compressed-tensors "int-quantized" (naive int8):
 *   weight            I8 [out, in], signed
 *   weight_scale      F16/BF16/F32 [out, ngroups] (channel: [out, 1])
 *   weight_zero_point I8 [out, ngroups], signed; NULL = symmetric (0)
 *   W[o][c] = (weight - zp) * s */
int zmoe_qref_ct_int8(uint64_t out, uint64_t in, uint64_t group,
                      const struct zmoe_qref_tensor *weight,
                      const struct zmoe_qref_tensor *weight_scale,
                      const struct zmoe_qref_tensor *weight_zero_point, float *w, char *msg,
                      size_t msg_size);

/* fp8 e4m3fn with a grid of scales:
 *   weight F8_E4M3 [out, in]
 *   scale  F32 (or BF16/F16) [ceil(out/block_rows), ceil(in/block_cols)]
 *   W[o][c] = e4m3(weight[o][c]) * scale[o/block_rows][c/block_cols]
 * DeepSeek-V3 / Qwen3-FP8 native: `weight_scale_inv`, block_rows = block_cols = 128
 * (weight_block_size); compressed-tensors float-quantized channel: `weight_scale`
 * [out, 1] (block_rows 1, block_cols = in); compressed-tensors block: [128, 128]. */
int zmoe_qref_fp8(uint64_t out, uint64_t in, uint64_t block_rows, uint64_t block_cols,
                  const struct zmoe_qref_tensor *weight, const struct zmoe_qref_tensor *scale,
                  float *w, char *msg, size_t msg_size);

/* MXFP4 (GPT-OSS as published, transformers integrations/mxfp4.py):
 *   blocks U8 [experts, rows, cols/32, 16]: element c of row r is byte
 *          [r][c/32][(c%32)/2], low nibble for even c, high nibble for odd c (e2m1)
 *   scales U8 [experts, rows, cols/32]: e8m0, 2^(s-127)
 *   w[e][r][c] = e2m1 * 2^(scales[e][r][c/32] - 127)
 * rows are the output features (gate_up_proj: 2I rows, gate/up interleaved; down_proj:
 * H rows), cols the reduction dim; transformers transposes the result to the bf16
 * layout [E, cols, rows]. */
int zmoe_qref_mxfp4(uint64_t experts, uint64_t rows, uint64_t cols,
                    const struct zmoe_qref_tensor *blocks, const struct zmoe_qref_tensor *scales,
                    float *w, char *msg, size_t msg_size);

/* The device (arena) layout of one quantized kernel matrix, weights/quant.h, dequantized
 * from that definition: `tensor` is the whole arena tensor (m->bytes, offsets from
 * zmoe_quant_matrix), w receives [m->rows][m->cols] in the CHECKPOINT's column order,
 * i.e. the f32 kernel-layout matrix the reference MoE takes: with a perm, kernel column
 * c' of the rows of expert p (rows / perm_sets rows each) holds checkpoint column
 * perm[p*cols + c'], so w[r][perm[p*cols + c']] = value(r, c'); each perm set must be a
 * permutation of [0, cols). Value of (r, c'): int (q - z) * s with z = zeros[r*ng + g]
 * or 2^(bits-1), fp8 e4m3(q) * s, mxfp4 e2m1(q) * 2^(e-127); s =
 * scales[(r/row_block)*ng + c'/group]. For `zmoe run --check` on what the device holds
 * (e.g. synthetic quantized weights) and for tests of the loader's repacking. Unlike the
 * file dequantizers above, w serves as scratch for the perm check: its contents are
 * unspecified after a failure. */
int zmoe_qref_arena(const struct zmoe_qmatrix *m, const void *tensor, float *w, char *msg,
                    size_t msg_size);

#endif
