/* weights/st_formats.c: the quantized checkpoint formats as data. One row per way a tool
 * stores one quantized nn.Linear (GPTQ, AWQ, compressed-tensors, native fp8, GPT-OSS
 * MXFP4): the pieces (name suffix, dtypes, shape from the linear's geometry), an optional
 * check of the pieces' values, and the repack function that writes the device parts of
 * weights/quant.h (codes rows, scales, zeros) from them. A new format is a row plus a
 * repack function; st_quant.c drives every row the same way.
 *
 * The rules and the source each was checked against are in weights/README.md
 * ("Quantized formats"). All checkpoint data is little-endian; reads go through memcpy
 * (the mapping gives no alignment beyond the tensor's byte offset). */
#include "weights/st_priv.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ small readers */

static uint32_t rd32(const unsigned char *p, uint64_t i)
{
    uint32_t v;
    memcpy(&v, p + i * 4, 4);
    return v;
}

static uint64_t rd64(const unsigned char *p, uint64_t i)
{
    uint64_t v;
    memcpy(&v, p + i * 8, 8);
    return v;
}

/* Field k (bits wide) of a 32-bit word, least significant first. */
static uint32_t field(uint32_t w, uint32_t bits, uint32_t k)
{
    return (w >> (bits * k)) & ((1u << bits) - 1u);
}

/* `count` elements of `size` bytes from row `row` (row length `len` elements) of a
 * row-major matrix, starting at element `first`: a plain copy. */
static void copy_row(unsigned char *dst, const unsigned char *src, size_t size, uint64_t len,
                     uint64_t row, uint64_t first, uint64_t count)
{
    memcpy(dst, src + (row * len + first) * size, (size_t)(count * size));
}

/* Elements (first .. first+count) of column `col` of a row-major matrix with `ncols`
 * columns: a transposed read (GPTQ/AWQ keep scales as [groups][out]). */
static void copy_col(unsigned char *dst, const unsigned char *src, size_t size, uint64_t ncols,
                     uint64_t col, uint64_t first, uint64_t count)
{
    for (uint64_t k = 0; k < count; k++)
        memcpy(dst + k * size, src + ((first + k) * ncols + col) * size, size);
}

static size_t scale_size(const struct st_qlinear *l)
{
    return st_dtypes[l->t[QR_SCALES]->dtype].size;
}

/* Act-order: device words of row o are gathered from the row's codes in checkpoint
 * column order, unpacked once per row (into the workspace) by `unpack`, since a staging
 * run covers only part of a row and the gather would otherwise re-read packed words
 * 32/bits times each, scattered over the checkpoint tensor. */
static void gather(const struct st_qlinear *l, uint64_t o, uint64_t first, uint64_t count,
                   unsigned char *dst, void (*unpack)(const struct st_qlinear *, uint64_t, uint8_t *))
{
    struct st_qrow *row = l->row;
    if (row->src != l->data[QR_CODES] || row->o != o) {
        unpack(l, o, row->q);
        row->src = l->data[QR_CODES];
        row->o = o;
    }
    const uint32_t per = 32 / l->bits;
    for (uint64_t k = 0; k < count; k++) {
        const uint32_t *pm = l->perm + (first + k) * per;
        uint32_t word = 0;
        for (uint32_t j = 0; j < per; j++)
            word |= (uint32_t)row->q[pm[j]] << (l->bits * j);
        memcpy(dst + k * 4, &word, 4);
    }
}

/* ------------------------------------------------------------------ GPTQ */

/* GPTQ v1 (AutoGPTQ / GPTQModel "gptq" format, AutoRound's GPTQ export):
 *   qweight [in*b/32, out]: word [w][o] holds input rows 32/b*w + k of column o at bits
 *           b*k: exactly device word w of row o, so without act-order the codes are a
 *           word transpose;
 *   qzeros  [ngroups, out*b/32]: packed along out the same way, storing zero - 1;
 *   scales  [ngroups, out]; g_idx [in]: the group of each input column.
 * With act-order, kernel column c' is checkpoint column perm[c'] (stable sort by g_idx,
 * st_qperm_build) and group g of the sorted columns uses scale row g (its g_idx). */
/* Column o of qweight as codes in checkpoint input order. */
static void gptq_unpack(const struct st_qlinear *l, uint64_t o, uint8_t *q)
{
    const uint32_t per = 32 / l->bits;
    for (uint64_t w = 0; w < l->in / per; w++) {
        const uint32_t word = rd32(l->data[QR_CODES], w * l->out + o);
        for (uint32_t k = 0; k < per; k++)
            q[w * per + k] = (uint8_t)field(word, l->bits, k);
    }
}

static void gptq_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                        uint64_t first, uint64_t count, unsigned char *dst)
{
    const uint32_t b = l->bits, per = 32 / b;
    switch (part) {
    case QP_CODES:
        if (l->perm) {
            gather(l, o, first, count, dst, gptq_unpack);
            break;
        }
        for (uint64_t k = 0; k < count; k++) {
            const uint32_t word = rd32(l->data[QR_CODES], (first + k) * l->out + o);
            memcpy(dst + k * 4, &word, 4);
        }
        break;
    case QP_SCALES:
        copy_col(dst, l->data[QR_SCALES], scale_size(l), l->out, o, first, count);
        break;
    case QP_ZEROS:
        for (uint64_t k = 0; k < count; k++) {
            const uint32_t w = rd32(l->data[QR_ZEROS], (first + k) * (l->out / per) + o / per);
            dst[k] = (unsigned char)(field(w, b, (uint32_t)(o % per)) + 1u); /* v1: stored + 1 */
        }
        break;
    }
}

/* g_idx (GPTQ `g_idx`, compressed-tensors `weight_g_idx`, I32 [in]): every value a group,
 * i / group unless act-order, and with act-order exactly `group` columns per group (the
 * device keeps a group contiguous after the sort). */
static enum zmoe_status check_gidx(const struct st_qlinear *l, struct zmoe_error *err)
{
    const char *suffix = l->fmt->piece[QR_GIDX].suffix;
    if (!l->data[QR_GIDX]) {
        if (l->act_order) {
            errf(err, "weights: %s: linear '%s': quant.act_order = true but the checkpoint has "
                      "no '%s%s'", l->file, l->base, l->base, suffix);
            return ZMOE_ERR_WEIGHTS;
        }
        return ZMOE_OK;
    }
    uint32_t *count = l->scratch; /* ngroups <= in / 32 <= ZMOE_ST_MAX_COLS */
    memset(count, 0, l->ngroups * sizeof *count);
    for (uint64_t i = 0; i < l->in; i++) {
        const uint32_t g = rd32(l->data[QR_GIDX], i);
        if (g >= l->ngroups) {
            errf(err, "weights: %s: tensor '%s%s': g_idx[%llu] = %u, expected a group "
                      "< %u (%llu columns / group_size %u)", l->file, l->base, suffix,
                 (unsigned long long)i, g, l->ngroups, (unsigned long long)l->in, l->group);
            return ZMOE_ERR_WEIGHTS;
        }
        if (!l->act_order && g != i / l->group) {
            errf(err, "weights: %s: tensor '%s%s': g_idx[%llu] = %u, expected %llu: the "
                      "checkpoint is act-order (desc_act) but quant.act_order = false",
                 l->file, l->base, suffix, (unsigned long long)i, g,
                 (unsigned long long)(i / l->group));
            return ZMOE_ERR_WEIGHTS;
        }
        count[g]++;
    }
    for (uint32_t g = 0; g < l->ngroups; g++)
        if (count[g] != l->group) {
            errf(err, "weights: %s: tensor '%s%s': group %u has %u columns, expected "
                      "group_size %u (the device keeps every group contiguous)", l->file,
                 l->base, suffix, g, count[g], l->group);
            return ZMOE_ERR_WEIGHTS;
        }
    return ZMOE_OK;
}

static enum zmoe_status gptq_check(const struct st_qlinear *l, struct zmoe_error *err)
{
    const uint32_t b = l->bits, per = 32 / b, mask = (1u << b) - 1u;
    /* The stored zero 2^b - 1 means 2^b (v1 adds 1): no uint8 holds 256. */
    if (b == 8)
        for (uint64_t i = 0; i < (uint64_t)l->ngroups * (l->out / per); i++)
            for (uint32_t k = 0; k < per; k++)
                if (field(rd32(l->data[QR_ZEROS], i), b, k) == mask) {
                    errf(err, "weights: %s: tensor '%s.qzeros': group %llu, column %llu stores "
                              "zero %u, i.e. zero point %u (GPTQ v1 adds 1), outside the "
                              "device's 8-bit zeros [0, 255]", l->file, l->base,
                         (unsigned long long)(i / (l->out / per)),
                         (unsigned long long)((i % (l->out / per)) * per + k), mask, mask + 1);
                    return ZMOE_ERR_WEIGHTS;
                }
    return check_gidx(l, err);
}

void st_qperm_build(const struct st_qlinear *l, uint32_t *perm)
{
    /* Counting sort by g_idx: stable, so columns keep their order inside a group; after
     * check_gidx every group has exactly `group` columns, so group g starts at g*group. */
    uint32_t *next = l->scratch;
    for (uint32_t g = 0; g < l->ngroups; g++)
        next[g] = g * l->group;
    for (uint64_t i = 0; i < l->in; i++)
        perm[next[rd32(l->data[QR_GIDX], i)]++] = (uint32_t)i;
}

/* ------------------------------------------------------------------ AWQ */

/* AutoAWQ GEMM: qweight [in, out/8]; word [i][j] holds output column 8j + ORDER[n] in
 * nibble n (ORDER = 0 2 4 6 1 3 5 7), so column 8j + k is nibble REVERSE[k]; qzeros
 * [ngroups, out/8] in the same order, the zero itself (no +1); scales [ngroups, out]. */
static const uint8_t awq_reverse[8] = {0, 4, 1, 5, 2, 6, 3, 7};

static void awq_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                       uint64_t first, uint64_t count, unsigned char *dst)
{
    const uint64_t ow = l->out / 8;
    const uint32_t nib = awq_reverse[o % 8];
    switch (part) {
    case QP_CODES:
        for (uint64_t k = 0; k < count; k++) {
            const uint64_t i0 = (first + k) * 8; /* 8 input rows per device word */
            uint32_t word = 0;
            for (uint32_t j = 0; j < 8; j++)
                word |= field(rd32(l->data[QR_CODES], (i0 + j) * ow + o / 8), 4, nib) << (4 * j);
            memcpy(dst + k * 4, &word, 4);
        }
        break;
    case QP_SCALES:
        copy_col(dst, l->data[QR_SCALES], scale_size(l), l->out, o, first, count);
        break;
    case QP_ZEROS:
        for (uint64_t k = 0; k < count; k++)
            dst[k] = (unsigned char)field(rd32(l->data[QR_ZEROS], (first + k) * ow + o / 8), 4, nib);
        break;
    }
}

/* ------------------------------------------------------------------ compressed-tensors */

/* pack-quantized: weight_packed [out, in*b/32], element c of row o at bits b*(c % per) of
 * word c / per, stored as the signed value + 2^(b-1): the device's codes row as is (with
 * act-order, weight_g_idx, the sorted columns gathered as for GPTQ);
 * weight_scale [out, ngroups]; weight_zero_point (asymmetric only) [out*b/32, ngroups],
 * packed along dim 0 with the same offset (so field o % per of word [o/per][g] is the
 * zero in code units). */
/* Row o of weight_packed as codes in checkpoint column order. */
static void ct_unpack(const struct st_qlinear *l, uint64_t o, uint8_t *q)
{
    const uint32_t per = 32 / l->bits;
    for (uint64_t w = 0; w < l->in / per; w++) {
        const uint32_t word = rd32(l->data[QR_CODES], o * (l->in / per) + w);
        for (uint32_t k = 0; k < per; k++)
            q[w * per + k] = (uint8_t)field(word, l->bits, k);
    }
}

static void ct_packed_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                             uint64_t first, uint64_t count, unsigned char *dst)
{
    const uint32_t per = 32 / l->bits;
    switch (part) {
    case QP_CODES:
        if (l->perm) /* act-order: gather the sorted columns */
            gather(l, o, first, count, dst, ct_unpack);
        else
            copy_row(dst, l->data[QR_CODES], 4, l->in / per, o, first, count);
        break;
    case QP_SCALES:
        copy_row(dst, l->data[QR_SCALES], scale_size(l), l->ngroups, o, first, count);
        break;
    case QP_ZEROS:
        for (uint64_t k = 0; k < count; k++)
            dst[k] = (unsigned char)field(rd32(l->data[QR_ZEROS], (o / per) * l->ngroups + first + k),
                                          l->bits, (uint32_t)(o % per));
        break;
    }
}

/* weight_shape (I64, or I32) must say {out, in}: the packed shape's unpadded size; an
 * act-order (actorder = group) checkpoint's weight_g_idx is GPTQ's g_idx. */
static enum zmoe_status ct_packed_check(const struct st_qlinear *l, struct zmoe_error *err)
{
    const unsigned char *p = l->data[QR_SHAPE];
    const bool i64 = l->t[QR_SHAPE]->dtype == ST_I64;
    const uint64_t d0 = i64 ? rd64(p, 0) : rd32(p, 0), d1 = i64 ? rd64(p, 1) : rd32(p, 1);
    if (d0 != l->out || d1 != l->in) {
        errf(err, "weights: %s: tensor '%s.weight_shape': says [%llu, %llu], expected [%llu, "
                  "%llu] (the config's [out, in] of this linear)", l->file, l->base,
             (unsigned long long)d0, (unsigned long long)d1, (unsigned long long)l->out,
             (unsigned long long)l->in);
        return ZMOE_ERR_WEIGHTS;
    }
    return check_gidx(l, err);
}

/* compressed-tensors before the zero point was packed (< 0.10, as tests/quant/qckpt.h
 * records it): weight_zero_point I8 [out, ngroups], the signed zero; code units add
 * 2^(b-1). Codes and scales as pack-quantized. */
static void ct_packed_i8zp_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                                  uint64_t first, uint64_t count, unsigned char *dst)
{
    if (part != QP_ZEROS) {
        ct_packed_repack(l, part, o, first, count, dst);
        return;
    }
    const unsigned char *z = l->data[QR_ZEROS] + o * l->ngroups + first;
    for (uint64_t k = 0; k < count; k++)
        dst[k] = (unsigned char)((int)(int8_t)z[k] + (1 << (l->bits - 1)));
}

/* int-quantized: weight I8 [out, in] signed (code = value + 128, i.e. the byte ^ 0x80),
 * weight_scale [out, ngroups], weight_zero_point (asymmetric) I8 [out, ngroups] signed. */
static void ct_int8_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                           uint64_t first, uint64_t count, unsigned char *dst)
{
    switch (part) {
    case QP_CODES:
        copy_row(dst, l->data[QR_CODES], 4, l->in / 4, o, first, count);
        for (uint64_t k = 0; k < count * 4; k++)
            dst[k] ^= 0x80u;
        break;
    case QP_SCALES:
        copy_row(dst, l->data[QR_SCALES], scale_size(l), l->ngroups, o, first, count);
        break;
    case QP_ZEROS:
        copy_row(dst, l->data[QR_ZEROS], 1, l->ngroups, o, first, count);
        for (uint64_t k = 0; k < count; k++)
            dst[k] ^= 0x80u;
        break;
    }
}

/* ------------------------------------------------------------------ fp8 and MXFP4 */

/* fp8 e4m3fn: weight [out, in] bytes are the device codes (4 per word, first lowest);
 * the scale grid [ceil(out/RB), ngroups] is the device's (native: weight_scale_inv,
 * 128x128 blocks; compressed-tensors: weight_scale, per channel [out, 1] or blocks).
 * Scale rows are addressed by their first output row o. */
static void fp8_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                       uint64_t first, uint64_t count, unsigned char *dst)
{
    if (part == QP_CODES)
        copy_row(dst, l->data[QR_CODES], 4, l->in / 4, o, first, count);
    else if (part == QP_SCALES)
        copy_row(dst, l->data[QR_SCALES], scale_size(l), l->ngroups, o / l->row_block, first,
                 count);
}

/* GPT-OSS MXFP4: blocks [E, rows, in/32, 16]: byte k of a row holds element 2k in the low
 * nibble and 2k+1 in the high one, so four bytes are one device word as is; scales
 * [E, rows, in/32] e8m0 bytes: the device scales. data[] point at this expert's slice. */
static void mxfp4_repack(const struct st_qlinear *l, enum st_qpart part, uint64_t o,
                         uint64_t first, uint64_t count, unsigned char *dst)
{
    if (part == QP_CODES)
        copy_row(dst, l->data[QR_CODES], 4, l->in / 8, o, first, count);
    else if (part == QP_SCALES)
        copy_row(dst, l->data[QR_SCALES], 1, l->ngroups, o, first, count);
}

/* ------------------------------------------------------------------ the table */

#define M(d) (1u << (d))
#define FLOATS (M(ST_F32) | M(ST_F16) | M(ST_BF16))

/* Shorthands for the piece definitions. */
#define PIECE(suf, dts, nd, need, ...) {suf, dts, need, nd, {__VA_ARGS__}}

static const struct st_qformat formats[] = {
    {"GPTQ int4", ZMOE_QUANT_INT4, ZMOE_PACK_GPTQ, 4, false,
     {[QR_CODES] = PIECE(".qweight", M(ST_I32), 2, QN_ALWAYS, QD_IN_PACK, QD_OUT),
      [QR_SCALES] = PIECE(".scales", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_GROUPS, QD_OUT),
      [QR_ZEROS] = PIECE(".qzeros", M(ST_I32), 2, QN_ALWAYS, QD_GROUPS, QD_OUT_PACK),
      [QR_GIDX] = PIECE(".g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN)},
     gptq_check, gptq_repack},
    {"GPTQ int8", ZMOE_QUANT_INT8, ZMOE_PACK_GPTQ, 8, false,
     {[QR_CODES] = PIECE(".qweight", M(ST_I32), 2, QN_ALWAYS, QD_IN_PACK, QD_OUT),
      [QR_SCALES] = PIECE(".scales", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_GROUPS, QD_OUT),
      [QR_ZEROS] = PIECE(".qzeros", M(ST_I32), 2, QN_ALWAYS, QD_GROUPS, QD_OUT_PACK),
      [QR_GIDX] = PIECE(".g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN)},
     gptq_check, gptq_repack},
    {"AWQ int4 (GEMM)", ZMOE_QUANT_INT4, ZMOE_PACK_AWQ, 4, false,
     {[QR_CODES] = PIECE(".qweight", M(ST_I32), 2, QN_ALWAYS, QD_IN, QD_OUT_PACK),
      [QR_SCALES] = PIECE(".scales", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_GROUPS, QD_OUT),
      [QR_ZEROS] = PIECE(".qzeros", M(ST_I32), 2, QN_ALWAYS, QD_GROUPS, QD_OUT_PACK)},
     NULL, awq_repack},
    {"compressed-tensors pack-quantized int4", ZMOE_QUANT_INT4, ZMOE_PACK_COMPRESSED_TENSORS, 4,
     false,
     {[QR_CODES] = PIECE(".weight_packed", M(ST_I32), 2, QN_ALWAYS, QD_OUT, QD_IN_PACK),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT, QD_GROUPS),
      [QR_ZEROS] = PIECE(".weight_zero_point", M(ST_I32), 2, QN_ZEROS, QD_OUT_PACK, QD_GROUPS),
      [QR_GIDX] = PIECE(".weight_g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN),
      [QR_SHAPE] = PIECE(".weight_shape", M(ST_I64) | M(ST_I32), 1, QN_ALWAYS, QD_TWO)},
     ct_packed_check, ct_packed_repack},
    {"compressed-tensors pack-quantized int8", ZMOE_QUANT_INT8, ZMOE_PACK_COMPRESSED_TENSORS, 8,
     false,
     {[QR_CODES] = PIECE(".weight_packed", M(ST_I32), 2, QN_ALWAYS, QD_OUT, QD_IN_PACK),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT, QD_GROUPS),
      [QR_ZEROS] = PIECE(".weight_zero_point", M(ST_I32), 2, QN_ZEROS, QD_OUT_PACK, QD_GROUPS),
      [QR_GIDX] = PIECE(".weight_g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN),
      [QR_SHAPE] = PIECE(".weight_shape", M(ST_I64) | M(ST_I32), 1, QN_ALWAYS, QD_TWO)},
     ct_packed_check, ct_packed_repack},
    {"compressed-tensors pack-quantized int4 (I8 zero point)", ZMOE_QUANT_INT4,
     ZMOE_PACK_COMPRESSED_TENSORS, 4, false,
     {[QR_CODES] = PIECE(".weight_packed", M(ST_I32), 2, QN_ALWAYS, QD_OUT, QD_IN_PACK),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT, QD_GROUPS),
      [QR_ZEROS] = PIECE(".weight_zero_point", M(ST_I8), 2, QN_ZEROS, QD_OUT, QD_GROUPS),
      [QR_GIDX] = PIECE(".weight_g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN),
      [QR_SHAPE] = PIECE(".weight_shape", M(ST_I64) | M(ST_I32), 1, QN_ALWAYS, QD_TWO)},
     ct_packed_check, ct_packed_i8zp_repack},
    {"compressed-tensors pack-quantized int8 (I8 zero point)", ZMOE_QUANT_INT8,
     ZMOE_PACK_COMPRESSED_TENSORS, 8, false,
     {[QR_CODES] = PIECE(".weight_packed", M(ST_I32), 2, QN_ALWAYS, QD_OUT, QD_IN_PACK),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT, QD_GROUPS),
      [QR_ZEROS] = PIECE(".weight_zero_point", M(ST_I8), 2, QN_ZEROS, QD_OUT, QD_GROUPS),
      [QR_GIDX] = PIECE(".weight_g_idx", M(ST_I32), 1, QN_OPTIONAL, QD_IN),
      [QR_SHAPE] = PIECE(".weight_shape", M(ST_I64) | M(ST_I32), 1, QN_ALWAYS, QD_TWO)},
     ct_packed_check, ct_packed_i8zp_repack},
    {"compressed-tensors int-quantized int8", ZMOE_QUANT_INT8, ZMOE_PACK_COMPRESSED_TENSORS, 8,
     false,
     {[QR_CODES] = PIECE(".weight", M(ST_I8), 2, QN_ALWAYS, QD_OUT, QD_IN),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT, QD_GROUPS),
      [QR_ZEROS] = PIECE(".weight_zero_point", M(ST_I8), 2, QN_ZEROS, QD_OUT, QD_GROUPS)},
     NULL, ct_int8_repack},
    {"compressed-tensors float-quantized fp8", ZMOE_QUANT_FP8, ZMOE_PACK_COMPRESSED_TENSORS, 8,
     false,
     {[QR_CODES] = PIECE(".weight", M(ST_F8_E4M3), 2, QN_ALWAYS, QD_OUT, QD_IN),
      [QR_SCALES] = PIECE(".weight_scale", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT_BLOCKS, QD_GROUPS)},
     NULL, fp8_repack},
    {"native fp8 (weight_scale_inv)", ZMOE_QUANT_FP8, ZMOE_PACK_NATIVE, 8, false,
     {[QR_CODES] = PIECE(".weight", M(ST_F8_E4M3), 2, QN_ALWAYS, QD_OUT, QD_IN),
      [QR_SCALES] = PIECE(".weight_scale_inv", QD_SCALE_DTYPE, 2, QN_ALWAYS, QD_OUT_BLOCKS, QD_GROUPS)},
     NULL, fp8_repack},
    {"GPT-OSS MXFP4 (_blocks/_scales)", ZMOE_QUANT_MXFP4, ZMOE_PACK_NATIVE, 4, true,
     {[QR_CODES] = PIECE("_blocks", M(ST_U8), 4, QN_ALWAYS, QD_EXPERTS, QD_OUT, QD_GROUPS, QD_16),
      [QR_SCALES] = PIECE("_scales", QD_SCALE_DTYPE, 3, QN_ALWAYS, QD_EXPERTS, QD_OUT, QD_GROUPS)},
     NULL, mxfp4_repack},
};

const struct st_qformat *st_qformat_at(size_t i)
{
    return i < sizeof formats / sizeof formats[0] ? &formats[i] : NULL;
}

const char *st_packing_name(enum zmoe_quant_packing p)
{
    switch (p) {
    case ZMOE_PACK_GPTQ: return "gptq";
    case ZMOE_PACK_AWQ: return "awq";
    case ZMOE_PACK_COMPRESSED_TENSORS: return "compressed_tensors";
    case ZMOE_PACK_NATIVE: return "native";
    default: return "none";
    }
}

uint64_t st_qdim(enum st_qdim d, const struct st_qlinear *l, uint64_t experts)
{
    switch (d) {
    case QD_OUT: return l->out;
    case QD_IN: return l->in;
    case QD_OUT_PACK: return (l->out * l->bits + 31) / 32; /* ceil: compressed-tensors pads */
    case QD_IN_PACK: return (l->in * l->bits + 31) / 32;
    case QD_GROUPS: return l->ngroups;
    case QD_OUT_BLOCKS: return (l->out + l->row_block - 1) / l->row_block;
    case QD_EXPERTS: return experts;
    case QD_16: return 16;
    case QD_TWO: return 2;
    default: return 0;
    }
}
