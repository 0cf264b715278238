/* weights/quant.h: the device (arena) layout of quantized expert matrices.
 *
 * With cfg->quant.format set, the expert matrices W13 and W2 (and SHARED_W13/SHARED_W2
 * when quant.shared_experts) stay quantized in the arena; the expert kernels dequantize
 * each weight row as it is loaded. One arena tensor per matrix holds, each part at a
 * 64-byte aligned offset inside it:
 *   codes   R rows x (n*bits/32) uint32 words; element c of row r in word
 *           r*n*bits/32 + c/(32/bits), at bit (c % (32/bits))*bits, least significant
 *           first. int4/int8: unsigned code q in [0, 2^bits); fp8: the e4m3fn byte;
 *           mxfp4: the e2m1 nibble (bit 3 sign, bits 2..1 exponent, bit 0 mantissa).
 *   scales  (R/row_block) x groups_per_row values of scale_dtype; (r, c) uses
 *           scales[(r/row_block)*groups_per_row + c/group].
 *   zeros   (has_zeros) R x groups_per_row uint8: the zero point in code units. Without
 *           zero points an int code's zero is 2^(bits-1) (8 for int4, 128 for int8).
 *   perm    (has_perm, act-order) perm_sets x n uint32: for the rows of expert p, column
 *           c' holds checkpoint input column perm[p*n + c'] (columns sorted by group, so
 *           every group is a contiguous run of `group` columns); the kernel multiplies
 *           it by x[perm[p*n + c']].
 * Rows R and their order are the float kernel layout's (weights/weights.h): W13 rows
 * e*2I + j (gate j < I, then up), n = H; W2 rows e*H + h, n = I; SHARED_W13 2S rows,
 * n = H; SHARED_W2 H rows, n = S.
 * Value of (r, c): int (q - z) * s; fp8 e4m3(q) * s; mxfp4 e2m1(q) * 2^(e - 127)
 * (e the e8m0 scale byte; 255 is NaN). Accumulation is f32.
 * Why this layout: kernels/README.md ("Quantized weights"). */
#ifndef ZMOE_WEIGHTS_QUANT_H
#define ZMOE_WEIGHTS_QUANT_H

#include "weights/weights.h"

#define ZMOE_QUANT_ALIGN 64u /* every part starts at a multiple of this inside its tensor */

struct zmoe_qmatrix {
    enum zmoe_quant_format format;
    uint32_t bits;           /* 4 or 8 */
    uint32_t group;          /* columns per scale (n when per channel) */
    uint32_t row_block;      /* rows per scale row: 128 for fp8 blocks, else 1 */
    uint32_t groups_per_row; /* n / group */
    enum zmoe_scale_dtype scale_dtype;
    bool has_zeros, has_perm;
    uint64_t rows, cols, perm_sets; /* R, n, and P = experts (routed) or 1 (shared) */
    /* byte offsets and sizes within the tensor; bytes = the whole tensor */
    uint64_t codes_offset, codes_bytes;
    uint64_t scales_offset, scales_bytes;
    uint64_t zeros_offset, zeros_bytes;
    uint64_t perm_offset, perm_bytes;
    uint64_t bytes;
};

/* True when tensor t of cfg is a quantized matrix (then *m is filled); false for every
 * float tensor and for configs without quant.format. m->bytes is 0 when the geometry
 * overflows 64 bits or does not fit the format (the config validator rejects both). */
bool zmoe_quant_matrix(const struct zmoe_config *cfg, enum zmoe_tensor t, struct zmoe_qmatrix *m);

/* Bytes of one scale of the dtype (f16/bf16 2, f32 4, e8m0 1). */
uint32_t zmoe_scale_size(enum zmoe_scale_dtype dt);
const char *zmoe_quant_format_name(enum zmoe_quant_format f); /* "int4", ... */

/* Dequantizes rows [first, first+count) of matrix m from its whole device-layout tensor
 * (the bytes above) into out[count][cols] f32, by the definitions above, in checkpoint
 * column order: with act-order out[r][perm[c']] = value(r, c'), else out[r][c] =
 * value(r, c). The reference and `zmoe run --check` compare against these values; the
 * expert kernels compute the same products in f32. */
void zmoe_quant_dequant_rows(const struct zmoe_qmatrix *m, const void *tensor, uint64_t first,
                             uint64_t count, float *out);

#endif
