/* reference/quant_ref's dequantizers against values worked out by hand from each
 * format's definition (nibble orders, AWQ's interleave, GPTQ's +1 zero, act-order g_idx,
 * e4m3 incl. subnormals and NaN, the e2m1 table, e8m0), their error messages for
 * malformed pieces, and writer -> bytes -> dequantizer round trips of random codes:
 * every element must equal (code - zero) * scale (e4m3(code) * scale, e2m1 * 2^(e-127))
 * computed directly from the codes the test chose (qck_mat_value). */
#include "tests/quant/qckpt.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char msg[1024];

static struct zmoe_qref_tensor T2(const char *name, const char *dt, uint64_t d0, uint64_t d1,
                                  const void *data)
{
    return (struct zmoe_qref_tensor){name, dt, 2, {d0, d1, 0, 0}, data};
}

static struct zmoe_qref_tensor T1(const char *name, const char *dt, uint64_t d0, const void *data)
{
    return (struct zmoe_qref_tensor){name, dt, 1, {d0, 0, 0, 0}, data};
}

/* Little-endian byte images of 32-bit words (the file's byte order, independent of the
 * host's). */
static void le32(unsigned char *p, const uint32_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            p[4 * i + k] = (unsigned char)(w[i] >> (8 * k));
}

static void le16(unsigned char *p, const uint16_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = (unsigned char)h[i];
        p[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* ------------------------------------------------------------------ element decoders */

static void test_elements(void)
{
    /* e4m3fn, worked out from the fields: S EEEE MMM, bias 7 */
    static const struct {
        uint8_t b;
        float v;
    } e4[] = {
        {0x00, 0.0f},     {0x80, -0.0f},        {0x01, 0.001953125f /* 2^-9 */},
        {0x07, 0.013671875f /* 7 * 2^-9 */},    {0x08, 0.015625f /* 2^-6 */},
        {0x30, 0.5f},     {0x38, 1.0f},         {0x3c, 1.5f},
        {0x40, 2.0f},     {0x46, 3.5f /* 2^1 * 1.75 */}, {0x4b, 5.5f /* 2^2 * 1.375 */},
        {0x77, 240.0f /* 2^7 * 1.875 */},       {0x78, 256.0f},
        {0x7e, 448.0f},   {0xfe, -448.0f},      {0xb8, -1.0f},
        {0x81, -0.001953125f},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof e4 / sizeof e4[0]; i++)
        if (!same_float(zmoe_qref_e4m3(e4[i].b), e4[i].v)) {
            tap_diag("e4m3 0x%02x: got %.9g, want %.9g", e4[i].b, zmoe_qref_e4m3(e4[i].b), e4[i].v);
            ok = false;
        }
    TAP_OK(ok, "e4m3fn: zero, signed zero, subnormals, normals, 448 = max");
    TAP_OK(isnan(zmoe_qref_e4m3(0x7f)) && isnan(zmoe_qref_e4m3(0xff)),
           "e4m3fn: S.1111.111 is NaN (no infinities)");
    /* every non-NaN pattern: exactly one representable value, strictly increasing in the
     * magnitude bits, and sign-symmetric */
    ok = true;
    for (int b = 1; b < 0x7f; b++)
        ok = ok && zmoe_qref_e4m3((uint8_t)b) > zmoe_qref_e4m3((uint8_t)(b - 1)) &&
             zmoe_qref_e4m3((uint8_t)(b | 0x80)) == -zmoe_qref_e4m3((uint8_t)b);
    TAP_OK(ok, "e4m3fn: all 254 finite patterns monotonic and sign-symmetric");

    static const float e2[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
    ok = true;
    for (int n = 0; n < 16; n++)
        ok = ok && same_float(zmoe_qref_e2m1((uint8_t)n), e2[n]);
    TAP_OK(ok, "e2m1: the 16 values 0 .5 1 1.5 2 3 4 6 and negatives (bit 3 sign)");

    TAP_OK(zmoe_qref_e8m0(127) == 1.0f && zmoe_qref_e8m0(128) == 2.0f &&
               zmoe_qref_e8m0(126) == 0.5f && zmoe_qref_e8m0(0) == ldexpf(1.0f, -127) &&
               zmoe_qref_e8m0(254) == ldexpf(1.0f, 127) && isnan(zmoe_qref_e8m0(255)),
           "e8m0: 2^(b-127), 0 -> 2^-127, 254 -> 2^127, 255 NaN");
}

/* ------------------------------------------------------------------ GPTQ */

static void test_gptq(void)
{
    /* 4 bits, in = 8, out = 8, one group. qweight [1, 8]: column o's 8 inputs in one word,
     * input i at bits 4i. qzeros [1, 1]: column o's zero at bits 4o. */
    uint32_t qw[8] = {0x76543210u, 0xfedcba98u, 0x11111111u, 0, 0, 0, 0, 0};
    uint32_t qz[1] = {0xf0000007u}; /* col 0: stored 7 (zero 8), cols 1-6: 0 (zero 1), col 7: 15 */
    uint16_t sc[8];
    for (int o = 0; o < 8; o++)
        sc[o] = zmoe_f32_to_f16(o == 2 ? 0.25f : 0.5f);
    unsigned char bqw[32], bqz[4], bsc[16];
    le32(bqw, qw, 8);
    le32(bqz, qz, 1);
    le16(bsc, sc, 8);
    struct zmoe_qref_tensor tq = T2("l.qweight", "I32", 1, 8, bqw), tz = T2("l.qzeros", "I32", 1, 1, bqz),
                            ts = T2("l.scales", "F16", 1, 8, bsc);
    float w[64];
    int rc = zmoe_qref_gptq(4, 8, 8, 8, &tq, &tz, &ts, NULL, w, msg, sizeof msg);
    TAP_OK(rc == 0, "gptq int4: dequantizes (%s)", rc ? msg : "ok");
    bool ok = true;
    for (int i = 0; i < 8; i++) {
        ok = ok && w[0 * 8 + i] == (float)(i - 8) * 0.5f;      /* q = i, zero 7 + 1 */
        ok = ok && w[1 * 8 + i] == (float)(8 + i - 1) * 0.5f;  /* q = 8 + i, zero 0 + 1 */
        ok = ok && w[2 * 8 + i] == (float)(1 - 1) * 0.25f;     /* q = 1, zero 1 */
        ok = ok && w[7 * 8 + i] == (float)(0 - 16) * 0.5f;     /* stored 15 -> zero 16 */
    }
    TAP_OK(ok, "gptq int4: input i at bits 4i of the packed input rows, zero = stored + 1 "
               "(stored 15 means 16), W = (q - z) * s");

    /* act-order: in = 8, G = 4 (2 groups), scales row 0 = 1, row 1 = 2; g_idx scatters the
     * columns over the groups. Column 0's codes 0..7 (word 0x76543210), zero stored 0. */
    uint32_t qw2[8] = {0x76543210u, 0, 0, 0, 0, 0, 0, 0}, qz2[2] = {0, 0x00000002u};
    uint16_t sc2[16];
    for (int k = 0; k < 16; k++)
        sc2[k] = zmoe_f32_to_f16(k < 8 ? 1.0f : 2.0f);
    uint32_t gi[8] = {1, 0, 1, 0, 0, 1, 1, 0};
    unsigned char bqw2[32], bqz2[8], bsc2[32], bgi[32];
    le32(bqw2, qw2, 8);
    le32(bqz2, qz2, 2);
    le16(bsc2, sc2, 16);
    le32(bgi, gi, 8);
    struct zmoe_qref_tensor tq2 = T2("a.qweight", "I32", 1, 8, bqw2),
                            tz2 = T2("a.qzeros", "I32", 2, 1, bqz2),
                            ts2 = T2("a.scales", "F16", 2, 8, bsc2), tg = T1("a.g_idx", "I32", 8, bgi);
    rc = zmoe_qref_gptq(4, 8, 8, 4, &tq2, &tz2, &ts2, &tg, w, msg, sizeof msg);
    ok = rc == 0;
    for (int i = 0; ok && i < 8; i++) {
        /* group 0: zero 0 + 1, scale 1; group 1: zero 2 + 1, scale 2 */
        float want = gi[i] ? (float)(i - 3) * 2.0f : (float)(i - 1) * 1.0f;
        ok = w[i] == want;
        if (!ok)
            tap_diag("act-order column 0 input %d: got %g want %g", i, w[i], want);
    }
    TAP_OK(ok, "gptq act-order: each input's group (scale and zero) comes from g_idx");

    /* 8 bits: in = 4, out = 4, one group: qweight [1, 4] holds 4 inputs per word at bits 8i;
     * qzeros [1, 1] 4 zeros at bits 8o. Symmetric GPTQ stores 127 (zero 128). */
    uint32_t qw8[4] = {0x04030201u, 0xff800000u, 0, 0}, qz8[1] = {0x7f7f7f7fu};
    uint16_t sc8[4];
    for (int o = 0; o < 4; o++)
        sc8[o] = zmoe_f32_to_f16(0.125f);
    unsigned char bqw8[16], bqz8[4], bsc8[8];
    le32(bqw8, qw8, 4);
    le32(bqz8, qz8, 1);
    le16(bsc8, sc8, 4);
    struct zmoe_qref_tensor tq8 = T2("b.qweight", "I32", 1, 4, bqw8), tz8 = T2("b.qzeros", "I32", 1, 1, bqz8),
                            ts8 = T2("b.scales", "F16", 1, 4, bsc8);
    rc = zmoe_qref_gptq(8, 4, 4, 0, &tq8, &tz8, &ts8, NULL, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == (1 - 128) * 0.125f && w[3] == (4 - 128) * 0.125f &&
               w[4 + 0] == (0 - 128) * 0.125f && w[4 + 2] == (0x80 - 128) * 0.125f &&
               w[4 + 3] == (255 - 128) * 0.125f && w[8] == -16.0f,
           "gptq int8: 4 inputs per word at bits 8i, symmetric stored 127 -> zero 128, "
           "group 0 = per channel");

    /* malformed pieces: each names the tensor and the expected and found values */
    struct zmoe_qref_tensor bad = ts;
    bad.dtype = "I32";
    rc = zmoe_qref_gptq(4, 8, 8, 8, &tq, &tz, &bad, NULL, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "l.scales") && strstr(msg, "F16") && strstr(msg, "found I32"),
           "gptq: wrong scales dtype named (%s)", msg);
    bad = tz;
    bad.shape[0] = 2;
    rc = zmoe_qref_gptq(4, 8, 8, 8, &tq, &bad, &ts, NULL, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "l.qzeros") && strstr(msg, "[1, 1] expected") &&
               strstr(msg, "found [2, 1]"),
           "gptq: qzeros shape inconsistent with the group size named (%s)", msg);
    gi[5] = 2;
    le32(bgi, gi, 8);
    rc = zmoe_qref_gptq(4, 8, 8, 4, &tq2, &tz2, &ts2, &tg, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "a.g_idx") && strstr(msg, "element 5 is 2") &&
               strstr(msg, "[0, 2)"),
           "gptq: g_idx out of range named with index and value (%s)", msg);
    rc = zmoe_qref_gptq(4, 8, 8, 3, &tq, &tz, &ts, NULL, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "group size 3") && strstr(msg, "8"),
           "gptq: a group size not dividing the input dim is refused (%s)", msg);
}

/* ------------------------------------------------------------------ AWQ */

static void test_awq(void)
{
    /* in = 2, out = 8, G = 1: row 0's word holds nibbles n = 0..7 with value n; AWQ's
     * packer put column ORDER[n] (0 2 4 6 1 3 5 7) into nibble n, so column k reads the
     * nibble at position REVERSE[k] = 0 4 1 5 2 6 3 7: q(col k) = REVERSE[k]. */
    uint32_t qw[2] = {0x76543210u, 0x00000000u}, qz[2] = {0x11111111u, 0x00000020u};
    uint16_t sc[16];
    for (int k = 0; k < 16; k++)
        sc[k] = zmoe_f32_to_f16(k < 8 ? 1.0f : 0.5f);
    unsigned char bqw[8], bqz[8], bsc[32];
    le32(bqw, qw, 2);
    le32(bqz, qz, 2);
    le16(bsc, sc, 16);
    struct zmoe_qref_tensor tq = T2("m.qweight", "I32", 2, 1, bqw), tz = T2("m.qzeros", "I32", 2, 1, bqz),
                            ts = T2("m.scales", "F16", 2, 8, bsc);
    float w[16];
    int rc = zmoe_qref_awq(8, 2, 1, &tq, &tz, &ts, w, msg, sizeof msg);
    static const int rev[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    bool ok = rc == 0;
    for (int k = 0; ok && k < 8; k++)
        ok = w[k * 2 + 0] == (float)(rev[k] - 1); /* zero 1, scale 1, no +1 */
    TAP_OK(ok, "awq: column k of a word is nibble 0 4 1 5 2 6 3 7[k]; zero used as stored");
    /* row 1: q = 0; zeros word 0x20 = nibble 1 holds 2 -> column ORDER[1] = 2 */
    ok = rc == 0;
    for (int k = 0; ok && k < 8; k++)
        ok = w[k * 2 + 1] == (k == 2 ? -2.0f * 0.5f : 0.0f);
    TAP_OK(ok, "awq: qzeros in the same order (nibble 1 is column 2), group scales per row");
    struct zmoe_qref_tensor bad = tq;
    bad.shape[1] = 2;
    rc = zmoe_qref_awq(8, 2, 1, &bad, &tz, &ts, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "m.qweight") && strstr(msg, "[2, 1] expected") &&
               strstr(msg, "found [2, 2]"),
           "awq: qweight shape named (%s)", msg);
}

/* ------------------------------------------------------------------ compressed-tensors */

static void test_ct(void)
{
    /* pack-quantized int4: out = 2, in = 8, channel scales [2, 1]. Row 0's word
     * 0x76543210: element c at bits 4c holds c, i.e. signed c - 8. Row 1 0xfedcba98:
     * element c holds 8 + c (signed c). */
    uint32_t wp[2] = {0x76543210u, 0xfedcba98u}, zp[1] = {0x00000093u};
    uint16_t sc[2] = {zmoe_f32_to_bf16(0.5f), zmoe_f32_to_bf16(2.0f)};
    unsigned char bwp[8], bzp[4], bsc[4], bws[16] = {2, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0};
    le32(bwp, wp, 2);
    le32(bzp, zp, 1);
    le16(bsc, sc, 2);
    struct zmoe_qref_tensor tp = T2("c.weight_packed", "I32", 2, 1, bwp),
                            ts = T2("c.weight_scale", "BF16", 2, 1, bsc),
                            tz = T2("c.weight_zero_point", "I32", 1, 1, bzp),
                            tw = T1("c.weight_shape", "I64", 2, bws);
    float w[16];
    int rc = zmoe_qref_ct_packed(4, 2, 8, 0, &tp, &ts, NULL, NULL, &tw, w, msg, sizeof msg);
    bool ok = rc == 0;
    for (int c = 0; ok && c < 8; c++)
        ok = w[c] == (float)(c - 8) * 0.5f && w[8 + c] == (float)c * 2.0f;
    TAP_OK(ok, "ct pack-quantized int4 symmetric: element c at bits 4c, stored value + 8 (%s)",
           rc ? msg : "ok");
    /* asymmetric: zero point [ceil(2/8), 1] packed along the output dim: nibble 0 = row
     * 0's zero (3, signed -5), nibble 1 = row 1's (9, signed 1) */
    rc = zmoe_qref_ct_packed(4, 2, 8, 0, &tp, &ts, &tz, NULL, &tw, w, msg, sizeof msg);
    ok = rc == 0;
    for (int c = 0; ok && c < 8; c++)
        ok = w[c] == (float)(c - 3) * 0.5f && w[8 + c] == (float)(8 + c - 9) * 2.0f;
    TAP_OK(ok, "ct pack-quantized asymmetric: zero point packed along dim 0 with the +8 offset");
    /* compressed-tensors < 0.10 saved the same zero points unpacked: I8 [out, ngroups],
     * signed (-5 and 1) */
    int8_t zl[2] = {-5, 1};
    struct zmoe_qref_tensor tzl = T2("c.weight_zero_point", "I8", 2, 1, zl);
    rc = zmoe_qref_ct_packed(4, 2, 8, 0, &tp, &ts, &tzl, NULL, &tw, w, msg, sizeof msg);
    ok = rc == 0;
    for (int c = 0; ok && c < 8; c++)
        ok = w[c] == (float)(c - 3) * 0.5f && w[8 + c] == (float)(8 + c - 9) * 2.0f;
    TAP_OK(ok, "ct pack-quantized asymmetric, legacy unpacked I8 zero point (%s)", rc ? msg : "ok");
    /* weight_g_idx (actorder="group"): in = 8, group 4, columns 0..3 in group 1 */
    uint16_t sc2[4] = {zmoe_f32_to_bf16(1.0f), zmoe_f32_to_bf16(4.0f), zmoe_f32_to_bf16(1.0f),
                       zmoe_f32_to_bf16(4.0f)};
    uint32_t gi[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    unsigned char bsc2[8], bgi[32];
    le16(bsc2, sc2, 4);
    le32(bgi, gi, 8);
    struct zmoe_qref_tensor ts2 = T2("c.weight_scale", "BF16", 2, 2, bsc2),
                            tg = T1("c.weight_g_idx", "I32", 8, bgi);
    rc = zmoe_qref_ct_packed(4, 2, 8, 4, &tp, &ts2, NULL, &tg, &tw, w, msg, sizeof msg);
    ok = rc == 0;
    for (int c = 0; ok && c < 8; c++)
        ok = w[c] == (float)(c - 8) * (c < 4 ? 4.0f : 1.0f);
    TAP_OK(ok, "ct pack-quantized weight_g_idx picks each column's group (%s)", rc ? msg : "ok");
    bws[8] = 16;
    rc = zmoe_qref_ct_packed(4, 2, 8, 0, &tp, &ts, NULL, NULL, &tw, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "c.weight_shape") && strstr(msg, "[2, 8] expected") &&
               strstr(msg, "found [2, 16]"),
           "ct: weight_shape not matching the packed geometry named (%s)", msg);
    bws[8] = 8;
    struct zmoe_qref_tensor bad = ts;
    bad.shape[1] = 2;
    rc = zmoe_qref_ct_packed(4, 2, 8, 0, &tp, &bad, NULL, NULL, &tw, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "c.weight_scale") && strstr(msg, "[2, 1] expected"),
           "ct: weight_scale inconsistent with the group size named (%s)", msg);

    /* pack-quantized int8: 4 per word at bits 8c, offset 128 */
    uint32_t wp8[1] = {0x7f838180u};
    unsigned char bwp8[4], bws8[16] = {1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0};
    le32(bwp8, wp8, 1);
    struct zmoe_qref_tensor tp8 = T2("d.weight_packed", "I32", 1, 1, bwp8),
                            ts8 = T2("d.weight_scale", "BF16", 1, 1, bsc),
                            tw8 = T1("d.weight_shape", "I64", 2, bws8);
    rc = zmoe_qref_ct_packed(8, 1, 4, 0, &tp8, &ts8, NULL, NULL, &tw8, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == 0.0f && w[1] == 0.5f && w[2] == 1.5f && w[3] == -0.5f * 1,
           "ct pack-quantized int8: 4 per word, offset 128");

    /* int-quantized: weight I8 signed, zero point I8 signed, group 2 */
    int8_t wi[4] = {-3, 5, 127, -128}, zi[2] = {1, -2};
    uint16_t si[2] = {zmoe_f32_to_f16(0.5f), zmoe_f32_to_f16(0.25f)};
    unsigned char bsi[4];
    le16(bsi, si, 2);
    struct zmoe_qref_tensor tw1 = T2("e.weight", "I8", 1, 4, wi), ts1 = T2("e.weight_scale", "F16", 1, 2, bsi),
                            tz1 = T2("e.weight_zero_point", "I8", 1, 2, zi);
    rc = zmoe_qref_ct_int8(1, 4, 2, &tw1, &ts1, &tz1, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == -2.0f && w[1] == 2.0f && w[2] == 129 * 0.25f && w[3] == -126 * 0.25f,
           "ct int-quantized: (weight - zero_point) * scale per group, signed I8");
    rc = zmoe_qref_ct_int8(1, 4, 2, &tw1, &ts1, NULL, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == -1.5f && w[3] == -32.0f, "ct int-quantized symmetric: zero 0");
    bad = tw1;
    bad.dtype = "U8";
    rc = zmoe_qref_ct_int8(1, 4, 2, &bad, &ts1, NULL, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "e.weight") && strstr(msg, "I8 expected") && strstr(msg, "found U8"),
           "ct int-quantized: wrong weight dtype named (%s)", msg);
}

/* ------------------------------------------------------------------ fp8 */

static void test_fp8(void)
{
    /* 130 x 129 with 128 x 128 blocks: a 2 x 2 grid (ceil), every weight 1.0 (0x38) but
     * two, so each element shows its block's scale. */
    enum { O = 130, N = 129 };
    static uint8_t wq[O * N];
    memset(wq, 0x38, sizeof wq);
    wq[0] = 0x01;            /* subnormal 2^-9 */
    wq[129 * N + 128] = 0xc4; /* -(1 + 4/8) * 2^(8-7) = -3 */
    float sv[4] = {1.0f, 2.0f, 4.0f, 0.125f};
    uint32_t su[4];
    memcpy(su, sv, sizeof su);
    unsigned char bs[16];
    le32(bs, su, 4);
    struct zmoe_qref_tensor tw = T2("f.weight", "F8_E4M3", O, N, wq), ts = T2("f.weight_scale_inv", "F32", 2, 2, bs);
    static float w[O * N];
    int rc = zmoe_qref_fp8(O, N, 128, 128, &tw, &ts, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == ldexpf(1.0f, -9) && w[1 * N + 127] == 1.0f && w[5 * N + 128] == 2.0f &&
               w[128 * N + 0] == 4.0f && w[128 * N + 128] == 0.125f &&
               w[129 * N + 128] == -3.0f * 0.125f,
           "fp8 block: scale_inv[r/128][c/128] multiplies e4m3 (ceil grid) (%s)", rc ? msg : "ok");
    /* per channel [O, 1] in bf16 */
    static uint16_t sc[O];
    for (int r = 0; r < O; r++)
        sc[r] = zmoe_f32_to_bf16((float)(r + 1));
    static unsigned char bsc[2 * O];
    le16(bsc, sc, O);
    struct zmoe_qref_tensor tc = T2("g.weight_scale", "BF16", O, 1, bsc);
    rc = zmoe_qref_fp8(O, N, 1, N, &tw, &tc, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[3 * N + 7] == 4.0f && w[129 * N + 128] == -3.0f * 130,
           "fp8 channel: weight_scale [out, 1]");
    rc = zmoe_qref_fp8(O, N, 128, 128, &tw, &tc, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "g.weight_scale") && strstr(msg, "[2, 2] expected") &&
               strstr(msg, "found [130, 1]"),
           "fp8: a scale grid not matching the blocks named (%s)", msg);
    wq[7] = 0x7f;
    rc = zmoe_qref_fp8(O, N, 1, N, &tw, &tc, w, msg, sizeof msg);
    TAP_OK(rc == 0 && isnan(w[7]), "fp8: a NaN byte dequantizes to NaN");
}

/* ------------------------------------------------------------------ MXFP4 */

static void test_mxfp4(void)
{
    /* E = 2, rows = 1, cols = 64: byte 0 = 0x21 -> element 0 = e2m1(1) = .5 (low nibble),
     * element 1 = e2m1(2) = 1 (high); byte 1 = 0xf8 -> -0, -6. Block scales 128 (x2) and
     * 125 (x1/4); expert 1's first byte 0x07 -> 6, 0. */
    uint8_t bl[2 * 2 * 16] = {0}, sc[4] = {128, 125, 127, 0};
    bl[0] = 0x21;
    bl[1] = 0xf8;
    bl[16 + 15] = 0x70; /* block 1, byte 15: element 62 = 0, 63 = e2m1(7) = 6 */
    bl[32] = 0x07;
    struct zmoe_qref_tensor tb = {"x_blocks", "U8", 4, {2, 1, 2, 16}, bl},
                            ts = {"x_scales", "U8", 3, {2, 1, 2, 0}, sc};
    float w[128];
    int rc = zmoe_qref_mxfp4(2, 1, 64, &tb, &ts, w, msg, sizeof msg);
    TAP_OK(rc == 0 && w[0] == 1.0f && w[1] == 2.0f && same_float(w[2], -0.0f) && w[3] == -12.0f &&
               w[4] == 0.0f && w[62] == 0.0f && w[63] == 1.5f && w[64] == 6.0f && w[65] == 0.0f,
           "mxfp4: low nibble first, e2m1 * 2^(scale-127) per 32-block, per expert (%s)",
           rc ? msg : "ok");
    struct zmoe_qref_tensor bad = ts;
    bad.shape[2] = 1;
    rc = zmoe_qref_mxfp4(2, 1, 64, &tb, &bad, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "x_scales") && strstr(msg, "[2, 1, 2] expected"),
           "mxfp4: scales shape named (%s)", msg);
    bad = tb;
    bad.dtype = "I8";
    rc = zmoe_qref_mxfp4(2, 1, 64, &bad, &ts, w, msg, sizeof msg);
    TAP_OK(rc == -1 && strstr(msg, "x_blocks") && strstr(msg, "found I8"),
           "mxfp4: blocks dtype named (%s)", msg);
}

/* ------------------------------------------------------------------ round trips */

struct rt_case {
    const char *what;
    struct qck_spec sp;
    uint64_t out, in, experts;
};

static void round_trip(const struct rt_case *k, uint64_t seed)
{
    struct qck_ckpt ck = {0};
    const uint64_t E = k->experts ? k->experts : 1;
    struct qck_mat *m = calloc(E, sizeof *m);
    for (uint64_t e = 0; e < E; e++)
        qck_mat_random(&m[e], &k->sp, k->out, k->in, &seed);
    if (k->sp.format == QCK_MXFP4)
        qck_add_mxfp4(&ck, "model.layers.0.mlp.experts.down_proj", m, E);
    else
        qck_add_linear(&ck, "model.layers.0.mlp.experts.0.down_proj", &k->sp, &m[0]);
    float *w = calloc(E * k->out * k->in, sizeof *w);
    int rc = qck_dequant_linear(&ck,
                                k->sp.format == QCK_MXFP4 ? "model.layers.0.mlp.experts.down_proj"
                                                          : "model.layers.0.mlp.experts.0.down_proj",
                                &k->sp, E, k->out, k->in, w, msg, sizeof msg);
    uint64_t bad = 0, nz = 0;
    for (uint64_t e = 0; rc == 0 && e < E; e++)
        for (uint64_t r = 0; r < k->out; r++)
            for (uint64_t c = 0; c < k->in; c++) {
                float want = qck_mat_value(&m[e], &k->sp, r, c), got = w[(e * k->out + r) * k->in + c];
                nz += want != 0.0f;
                if (!same_float(got, want) && bad++ < 3)
                    tap_diag("%s: [%llu][%llu][%llu] got %.9g want %.9g", k->what,
                             (unsigned long long)e, (unsigned long long)r, (unsigned long long)c,
                             got, want);
            }
    TAP_OK(rc == 0 && bad == 0 && nz > E * k->out * k->in / 2,
           "round trip %s (%llux%llu): every element = value of its codes (%s)", k->what,
           (unsigned long long)k->out, (unsigned long long)k->in, rc ? msg : "ok");
    for (uint64_t e = 0; e < E; e++)
        qck_mat_free(&m[e]);
    free(m);
    free(w);
    qck_free(&ck);
}

static const struct rt_case rt_cases[] = {
    {"gptq int4 g32 sym", {QCK_GPTQ, 4, 32, false, false, "F16", false}, 64, 96, 0},
    {"gptq int4 g32 asym act-order", {QCK_GPTQ, 4, 32, true, true, "F16", false}, 64, 128, 0},
    {"gptq int4 per-channel bf16", {QCK_GPTQ, 4, 0, true, false, "BF16", false}, 32, 64, 0},
    {"gptq int8 g64 asym act-order", {QCK_GPTQ, 8, 64, true, true, "F16", false}, 40, 128, 0},
    {"gptq int4 g32 asym, no g_idx (AutoRound)",
     {QCK_GPTQ, 4, 32, true, false, "F16", false, false, true}, 32, 64, 0},
    {"awq g32", {QCK_AWQ, 4, 32, true, false, "F16", false}, 64, 96, 0},
    {"awq g64 f32 scales", {QCK_AWQ, 4, 64, true, false, "F32", false}, 32, 128, 0},
    {"ct int4 g32 sym bf16", {QCK_CT_PACKED, 4, 32, false, false, "BF16", false}, 64, 96, 0},
    {"ct int4 g64 asym", {QCK_CT_PACKED, 4, 64, true, false, "F16", false}, 36, 128, 0},
    {"ct int4 channel asym f32", {QCK_CT_PACKED, 4, 0, true, false, "F32", false}, 24, 64, 0},
    {"ct int8 packed g32 asym", {QCK_CT_PACKED, 8, 32, true, false, "BF16", false}, 20, 64, 0},
    {"ct int4 g32 asym act-order (weight_g_idx)", {QCK_CT_PACKED, 4, 32, true, true, "BF16", false},
     24, 128, 0},
    {"ct int4 g32 asym legacy I8 zero point", {QCK_CT_PACKED, 4, 32, true, false, "F16", false, true},
     40, 96, 0},
    {"ct int8 packed channel asym legacy I8 zero point",
     {QCK_CT_PACKED, 8, 0, true, false, "F16", false, true}, 12, 64, 0},
    {"ct int-quantized channel sym", {QCK_CT_INT8, 8, 0, false, false, "BF16", false}, 32, 64, 0},
    {"ct int-quantized g32 asym", {QCK_CT_INT8, 8, 32, true, false, "F16", false}, 32, 64, 0},
    {"fp8 native 128 blocks", {QCK_FP8_NATIVE, 8, 128, false, false, "F32", false}, 256, 384, 0},
    {"fp8 native ragged blocks", {QCK_FP8_NATIVE, 8, 128, false, false, "F32", false}, 200, 136, 0},
    {"fp8 ct channel bf16", {QCK_FP8_CT, 8, 0, false, false, "BF16", false}, 48, 64, 0},
    {"mxfp4 3 experts", {QCK_MXFP4, 4, 32, false, false, NULL, false}, 24, 96, 3},
};

/* ------------------------------------------------------------------ whole checkpoints */

static struct zmoe_config tiny(enum zmoe_weights_layout lay)
{
    struct zmoe_config c;
    memset(&c, 0, sizeof c);
    c.model.hidden = 64;
    c.model.intermediate = 32;
    c.model.experts = 4;
    c.model.top_k = 2;
    c.model.layers = 2;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    c.dtype.activations = ZMOE_DTYPE_F32;
    c.weights.layout = lay;
    c.experts.activation = lay == ZMOE_LAYOUT_GPT_OSS ? ZMOE_ACT_SWIGLU_OAI : ZMOE_ACT_SILU;
    if (lay == ZMOE_LAYOUT_QWEN_MOE || lay == ZMOE_LAYOUT_DEEPSEEK || lay == ZMOE_LAYOUT_LLAMA4) {
        c.model.shared_experts = lay == ZMOE_LAYOUT_DEEPSEEK ? 2 : 1;
        c.model.shared_intermediate = 32;
    }
    c.router.shared_expert_gate = lay == ZMOE_LAYOUT_QWEN_MOE;
    c.router.score_correction_bias = lay == ZMOE_LAYOUT_DEEPSEEK;
    c.router.bias = c.experts.bias = lay == ZMOE_LAYOUT_GPT_OSS;
    return c;
}

static bool has(struct qck_ckpt *ck, const char *name, const char *dtype, unsigned ndim,
                uint64_t d0, uint64_t d1)
{
    struct stw_tensor *t = qck_find(ck, name);
    bool ok = t && strcmp(t->dtype, dtype) == 0 && t->ndim == ndim && t->shape[0] == d0 &&
              (ndim < 2 || t->shape[1] == d1);
    if (!ok)
        tap_diag("%s: %s", name, t ? "wrong dtype/shape" : "missing");
    return ok;
}

static void test_spec_from_config(void)
{
    struct zmoe_config c;
    memset(&c, 0, sizeof c);
    struct qck_spec sp;
    c.quant.format = ZMOE_QUANT_INT4;
    c.quant.packing = ZMOE_PACK_GPTQ;
    c.quant.group_size = 64;
    c.quant.zero_points = c.quant.act_order = true;
    c.quant.scale_dtype = ZMOE_SCALE_BF16;
    c.quant.shared_experts = true;
    bool ok = qck_spec_from_config(&c, false, &sp) == 0 && sp.format == QCK_GPTQ && sp.bits == 4 &&
              sp.group == 64 && sp.zero_points && sp.act_order && strcmp(sp.scale_dtype, "BF16") == 0 &&
              !sp.shared_float;
    c.quant.format = ZMOE_QUANT_INT8;
    c.quant.packing = ZMOE_PACK_COMPRESSED_TENSORS;
    c.quant.shared_experts = false;
    ok = ok && qck_spec_from_config(&c, false, &sp) == 0 && sp.format == QCK_CT_PACKED && sp.bits == 8 &&
         sp.shared_float;
    ok = ok && qck_spec_from_config(&c, true, &sp) == 0 && sp.format == QCK_CT_INT8;
    c.quant.packing = ZMOE_PACK_AWQ;
    ok = ok && qck_spec_from_config(&c, false, &sp) == -1; /* no int8 AWQ */
    c.quant.format = ZMOE_QUANT_FP8;
    c.quant.packing = ZMOE_PACK_NATIVE;
    c.quant.scale_dtype = ZMOE_SCALE_F32;
    ok = ok && qck_spec_from_config(&c, false, &sp) == 0 && sp.format == QCK_FP8_NATIVE &&
         strcmp(sp.scale_dtype, "F32") == 0;
    c.quant.format = ZMOE_QUANT_MXFP4;
    c.quant.scale_dtype = ZMOE_SCALE_E8M0;
    ok = ok && qck_spec_from_config(&c, false, &sp) == 0 && sp.format == QCK_MXFP4;
    c.quant.format = ZMOE_QUANT_NONE;
    ok = ok && qck_spec_from_config(&c, false, &sp) == -1;
    TAP_OK(ok, "qck_spec_from_config maps [quant] keys to the file layout the writer produces");
}

static void test_whole(void)
{
    const struct qck_spec gptq = {QCK_GPTQ, 4, 32, true, true, "F16", false};
    const struct qck_spec ctf = {QCK_CT_PACKED, 4, 32, false, false, "BF16", true};
    const struct qck_spec fp8 = {QCK_FP8_NATIVE, 8, 0, false, false, "F32", false};
    const struct qck_spec mx = {QCK_MXFP4, 4, 32, false, false, NULL, false};
    struct zmoe_ref_weights ref[2];
    struct qck_ckpt ck = {0};
    char b[320];

    struct zmoe_config c = tiny(ZMOE_LAYOUT_MIXTRAL);
    TAP_OK(qck_build_moe(&ck, &c, &gptq, "model.layers.", 1, ref) == 0 &&
               has(&ck, "model.layers.1.block_sparse_moe.gate.weight", "BF16", 2, 4, 64) &&
               has(&ck, "model.layers.1.block_sparse_moe.experts.3.w1.qweight", "I32", 2, 8, 32) &&
               has(&ck, "model.layers.1.block_sparse_moe.experts.3.w2.qweight", "I32", 2, 4, 64) &&
               has(&ck, "model.layers.0.block_sparse_moe.experts.0.w3.qzeros", "I32", 2, 2, 4) &&
               has(&ck, "model.layers.0.block_sparse_moe.experts.0.w2.g_idx", "I32", 1, 32, 0) &&
               has(&ck, "model.layers.0.block_sparse_moe.experts.0.w2.scales", "F16", 2, 1, 64) &&
               ck.n == 2 * (1 + 4 * 3 * 4),
           "whole mixtral gptq: router + w1/w2/w3 x {qweight, qzeros, scales, g_idx}");
    /* act-order: gate (w1) and up (w3) of an expert share one g_idx (same input, same
     * activation order), down (w2) has its own over I; not the trivial c / G */
    struct stw_tensor *g1 = qck_find(&ck, "model.layers.1.block_sparse_moe.experts.2.w1.g_idx"),
                      *g3 = qck_find(&ck, "model.layers.1.block_sparse_moe.experts.2.w3.g_idx");
    bool trivial = true;
    for (uint32_t i = 0; g1 && i < 64; i++)
        trivial = trivial && ((const unsigned char *)g1->data)[4 * i] == i / 32;
    TAP_OK(g1 && g3 && memcmp(g1->data, g3->data, 64 * 4) == 0 && !trivial,
           "whole mixtral gptq act-order: w1 and w3 of an expert have one (non-trivial) g_idx");
    /* the kernel layout: expert 2's up rows are w3's dequantized rows */
    float *w = calloc(64 * 64, sizeof *w);
    int rc = qck_dequant_linear(&ck, qck_expert_base(b, sizeof b, c.weights.layout, "model.layers.", 1, 2, 1),
                                &gptq, 1, 32, 64, w, msg, sizeof msg);
    TAP_OK(rc == 0 && memcmp(w, ref[1].tensor[ZMOE_TENSOR_W13] + (2 * 64 + 32) * 64, 32 * 64 * 4) == 0 &&
               ref[1].tensor[ZMOE_TENSOR_SHARED_W13] == NULL,
           "whole mixtral: W13 rows [I, 2I) of expert e are w3 (up)");
    qck_ref_free(ref, 2);
    qck_free(&ck);

    c = tiny(ZMOE_LAYOUT_QWEN_MOE);
    TAP_OK(qck_build_moe(&ck, &c, &ctf, "model.layers.", 2, ref) == 0 &&
               has(&ck, "model.layers.0.mlp.experts.1.gate_proj.weight_packed", "I32", 2, 32, 8) &&
               has(&ck, "model.layers.0.mlp.experts.1.down_proj.weight_scale", "BF16", 2, 64, 1) &&
               has(&ck, "model.layers.0.mlp.experts.1.down_proj.weight_shape", "I64", 1, 2, 0) &&
               !qck_find(&ck, "model.layers.0.mlp.experts.1.down_proj.weight_zero_point") &&
               has(&ck, "model.layers.0.mlp.shared_expert.up_proj.weight", "BF16", 2, 32, 64) &&
               has(&ck, "model.layers.1.mlp.shared_expert_gate.weight", "BF16", 2, 1, 64) &&
               ref[1].tensor[ZMOE_TENSOR_SHARED_GATE] && ref[1].tensor[ZMOE_TENSOR_SHARED_W2],
           "whole qwen_moe ct symmetric, float shared expert + gate");
    qck_ref_free(ref, 2);
    qck_free(&ck);

    c = tiny(ZMOE_LAYOUT_DEEPSEEK);
    c.model.hidden = 128;
    c.model.intermediate = 128;
    c.model.shared_intermediate = 64; /* S = 128 */
    struct qck_spec fp8b = fp8;
    fp8b.group = 128;
    TAP_OK(qck_build_moe(&ck, &c, &fp8b, "model.layers.", 3, ref) == 0 &&
               has(&ck, "model.layers.0.mlp.gate.e_score_correction_bias", "F32", 1, 4, 0) &&
               has(&ck, "model.layers.0.mlp.experts.0.gate_proj.weight", "F8_E4M3", 2, 128, 128) &&
               has(&ck, "model.layers.0.mlp.experts.0.gate_proj.weight_scale_inv", "F32", 2, 1, 1) &&
               has(&ck, "model.layers.0.mlp.shared_experts.down_proj.weight_scale_inv", "F32", 2, 1, 1),
           "whole deepseek fp8 blocks, shared experts quantized");
    qck_ref_free(ref, 2);
    qck_free(&ck);

    c = tiny(ZMOE_LAYOUT_LLAMA4);
    TAP_OK(qck_build_moe(&ck, &c, &fp8, "language_model.model.layers.", 4, ref) == 0 &&
               has(&ck, "language_model.model.layers.1.feed_forward.router.weight", "BF16", 2, 4, 64) &&
               has(&ck, "language_model.model.layers.1.feed_forward.experts.3.up_proj.weight", "F8_E4M3", 2, 32, 64) &&
               has(&ck, "language_model.model.layers.1.feed_forward.shared_expert.down_proj.weight_scale_inv", "F32", 2, 64, 1),
           "whole llama4 per-expert linears (llm-compressor names)");
    qck_ref_free(ref, 2);
    qck_free(&ck);

    c = tiny(ZMOE_LAYOUT_GPT_OSS);
    TAP_OK(qck_build_moe(&ck, &c, &gptq, "model.layers.", 5, ref) == -1 && ck.n == 0,
           "whole: a non-MXFP4 spec on gpt_oss is refused");
    c.model.layers = 1;
    rc = qck_build_moe(&ck, &c, &mx, "model.layers.", 5, ref);
    struct stw_tensor *t = qck_find(&ck, "model.layers.0.mlp.experts.gate_up_proj_blocks");
    TAP_OK(rc == 0 && t && strcmp(t->dtype, "U8") == 0 && t->ndim == 4 && t->shape[0] == 4 &&
               t->shape[1] == 64 && t->shape[2] == 2 && t->shape[3] == 16 &&
               has(&ck, "model.layers.0.mlp.experts.down_proj_scales", "U8", 3, 4, 64) &&
               has(&ck, "model.layers.0.mlp.experts.gate_up_proj_bias", "BF16", 2, 4, 64) &&
               has(&ck, "model.layers.0.mlp.router.bias", "BF16", 1, 4, 0),
           "whole gpt_oss mxfp4: blocks [E, 2I, H/32, 16], scales, bf16 biases");
    /* interleaved rows: kernel gate row j = checkpoint row 2j, up row j = 2j + 1 */
    float *gu = calloc(4 * 64 * 64, sizeof *gu);
    rc = qck_dequant_linear(&ck, "model.layers.0.mlp.experts.gate_up_proj", &mx, 4, 64, 64, gu, msg,
                            sizeof msg);
    const float *k13 = ref[0].tensor[ZMOE_TENSOR_W13];
    TAP_OK(rc == 0 && memcmp(&k13[(3 * 64 + 5) * 64], &gu[(3 * 64 + 10) * 64], 64 * 4) == 0 &&
               memcmp(&k13[(3 * 64 + 32 + 5) * 64], &gu[(3 * 64 + 11) * 64], 64 * 4) == 0,
           "whole gpt_oss: gate/up de-interleaved into W13's gate-then-up rows");
    free(gu);
    free(w);
    qck_ref_free(ref, 1);
    qck_free(&ck);
}

/* ------------------------------------------------------------------ device layout */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Writes an arena image of tensor t from codes chosen here, by weights/quant.h's
 * description, and checks zmoe_qref_arena against (q - z) * s (e4m3 * s, e2m1 * 2^(e-127))
 * placed at the checkpoint column perm[c']. */
static void arena_case(const char *what, enum zmoe_quant_format f, uint32_t group, bool zeros,
                       bool act, enum zmoe_scale_dtype sdt, uint32_t H, uint32_t I, uint32_t E,
                       enum zmoe_tensor t)
{
    struct zmoe_config c;
    memset(&c, 0, sizeof c);
    c.model.hidden = H;
    c.model.intermediate = I;
    c.model.experts = E;
    c.quant.format = f;
    c.quant.group_size = group;
    c.quant.zero_points = zeros;
    c.quant.act_order = act;
    c.quant.scale_dtype = sdt;
    struct zmoe_qmatrix m;
    if (!zmoe_quant_matrix(&c, t, &m) || m.bytes == 0)
        tap_bail("%s: no quantized matrix", what);
    const uint64_t R = m.rows, n = m.cols, ng = m.groups_per_row, per = 32 / m.bits;
    unsigned char *img = calloc(m.bytes, 1);
    uint8_t *q = calloc(R * n, 1), *z = calloc(R * ng, 1);
    float *sv = calloc((R / m.row_block) * ng, sizeof *sv);
    uint32_t *pm = calloc(m.perm_sets * n, sizeof *pm);
    uint64_t seed = 99 + f;
    uint32_t *words = calloc(R * (n / per), sizeof *words);
    for (uint64_t r = 0; r < R; r++)
        for (uint64_t k = 0; k < n; k++) {
            uint32_t v = (uint32_t)lcg(&seed) & ((1u << m.bits) - 1);
            if (f == ZMOE_QUANT_FP8 && (v & 0x7f) == 0x7f)
                v = 0x3c; /* no NaN here */
            q[r * n + k] = (uint8_t)v;
            words[r * (n / per) + k / per] |= v << (m.bits * (k % per));
        }
    le32(img + m.codes_offset, words, R * (n / per));
    free(words);
    const unsigned ssz = zmoe_scale_size(sdt);
    for (uint64_t i = 0; i < (R / m.row_block) * ng; i++) {
        unsigned char *dst = img + m.scales_offset + ssz * i;
        if (sdt == ZMOE_SCALE_E8M0) {
            dst[0] = (uint8_t)(120 + lcg(&seed) % 8);
            sv[i] = ldexpf(1.0f, (int)dst[0] - 127);
        } else {
            float v = (float)(1 + lcg(&seed) % 1000) / 4096.0f;
            if (sdt == ZMOE_SCALE_F32)
                memcpy(dst, &v, 4);
            else {
                uint16_t h = sdt == ZMOE_SCALE_F16 ? zmoe_f32_to_f16(v) : zmoe_f32_to_bf16(v);
                v = sdt == ZMOE_SCALE_F16 ? zmoe_f16_to_f32(h) : zmoe_bf16_to_f32(h);
                le16(dst, &h, 1);
            }
            sv[i] = v;
        }
    }
    for (uint64_t i = 0; zeros && i < R * ng; i++)
        img[m.zeros_offset + i] = z[i] = (uint8_t)(lcg(&seed) % (1u << m.bits));
    for (uint64_t p = 0; act && p < m.perm_sets; p++) {
        uint32_t *ps = &pm[p * n];
        for (uint64_t k = 0; k < n; k++)
            ps[k] = (uint32_t)k;
        for (uint64_t k = n; k > 1; k--) {
            uint64_t j = lcg(&seed) % k;
            uint32_t tmp = ps[k - 1];
            ps[k - 1] = ps[j];
            ps[j] = tmp;
        }
        le32(img + m.perm_offset + 4 * p * n, ps, n);
    }
    float *w = calloc(R * n, sizeof *w);
    int rc = zmoe_qref_arena(&m, img, w, msg, sizeof msg);
    uint64_t bad = 0;
    for (uint64_t r = 0; rc == 0 && r < R; r++)
        for (uint64_t k = 0; k < n; k++) {
            const uint64_t g = k / m.group, p = act ? r / (R / m.perm_sets) : 0;
            const float s1 = sv[(r / m.row_block) * ng + g];
            float want;
            if (f == ZMOE_QUANT_FP8)
                want = zmoe_qref_e4m3(q[r * n + k]) * s1;
            else if (f == ZMOE_QUANT_MXFP4)
                want = zmoe_qref_e2m1(q[r * n + k]) * s1;
            else
                want = (float)((int)q[r * n + k] - (zeros ? z[r * ng + g] : 1 << (m.bits - 1))) * s1;
            const uint64_t col = act ? pm[p * n + k] : k;
            if (!same_float(w[r * n + col], want) && bad++ < 3)
                tap_diag("%s: [%llu][%llu] got %g want %g", what, (unsigned long long)r,
                         (unsigned long long)col, w[r * n + col], want);
        }
    TAP_OK(rc == 0 && bad == 0, "device layout %s (%llu x %llu): codes, scales, zeros, perm (%s)",
           what, (unsigned long long)R, (unsigned long long)n, rc ? msg : "ok");
    if (act) { /* a perm entry repeated: not a permutation */
        unsigned char *p1 = img + m.perm_offset + 4 * (n + 3);
        memcpy(p1, img + m.perm_offset + 4 * (n + 7), 4);
        rc = zmoe_qref_arena(&m, img, w, msg, sizeof msg);
        TAP_OK(rc == -1 && strstr(msg, "perm set 1") && strstr(msg, "not a permutation"),
               "device layout %s: a perm that is not a permutation is refused (%s)", what, msg);
    }
    free(img);
    free(q);
    free(z);
    free(sv);
    free(pm);
    free(w);
}

static void test_arena(void)
{
    arena_case("int4 g32 zeros act-order bf16 W13", ZMOE_QUANT_INT4, 32, true, true,
               ZMOE_SCALE_BF16, 64, 32, 3, ZMOE_TENSOR_W13);
    arena_case("int4 per-channel sym f16 W2", ZMOE_QUANT_INT4, 0, false, false, ZMOE_SCALE_F16, 64,
               32, 2, ZMOE_TENSOR_W2);
    arena_case("int8 g64 zeros act-order f32 W2", ZMOE_QUANT_INT8, 64, true, true, ZMOE_SCALE_F32,
               64, 128, 2, ZMOE_TENSOR_W2);
    arena_case("fp8 128x128 blocks f32 W13", ZMOE_QUANT_FP8, 128, false, false, ZMOE_SCALE_F32,
               256, 128, 2, ZMOE_TENSOR_W13);
    arena_case("fp8 per-channel bf16 W2", ZMOE_QUANT_FP8, 0, false, false, ZMOE_SCALE_BF16, 64, 32,
               2, ZMOE_TENSOR_W2);
    arena_case("mxfp4 W13", ZMOE_QUANT_MXFP4, 32, false, false, ZMOE_SCALE_E8M0, 64, 32, 2,
               ZMOE_TENSOR_W13);
}

int main(void)
{
    test_elements();
    test_gptq();
    test_awq();
    test_ct();
    test_fp8();
    test_mxfp4();
    for (size_t i = 0; i < sizeof rt_cases / sizeof rt_cases[0]; i++)
        round_trip(&rt_cases[i], 1000 + i);
    test_spec_from_config();
    test_whole();
    test_arena();
    return tap_exit();
}
