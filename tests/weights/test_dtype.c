/* dtype conversions: exhaustive over all 65536 f16 and bf16 bit patterns, plus the
 * rounding of every midpoint between neighbouring representable values. */
#include "weights/weights.h"
#include "tests/tap.h"

#include <string.h>

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int h_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu); }
static int b_is_nan(uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu); }

/* Value of a finite half from first principles (sign, exponent, mantissa). */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 0x3ff;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (h & 0x8000) ? -v : v;
}

int main(void)
{
    /* f16 -> f32 -> f16 round trip and the decoded value, all 65536 patterns */
    long rt_bad = 0, val_bad = 0, nan_bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = zmoe_f16_to_f32(h);
        uint16_t back = zmoe_f32_to_f16(f);
        if (h_is_nan(h)) {
            nan_bad += !(isnan(f) && h_is_nan(back) && (back & 0x8000) == (h & 0x8000) &&
                         (bits(f) >> 31) == (uint32_t)(h >> 15));
            continue;
        }
        rt_bad += back != h;
        if ((h & 0x7c00) == 0x7c00)
            val_bad += !(isinf(f) && (f < 0) == ((h & 0x8000) != 0));
        else
            val_bad += (double)f != half_value(h) || (signbit(f) != 0) != ((h & 0x8000) != 0);
    }
    TAP_EQ_INT(rt_bad, 0, "f16 round trip exact for every non-NaN pattern");
    TAP_EQ_INT(val_bad, 0, "f16 decode matches sign/exponent/mantissa for every pattern");
    TAP_EQ_INT(nan_bad, 0, "f16 NaNs stay NaN with their sign");

    /* f16 rounding: the f32 midpoint between consecutive positive halves h and h+1 rounds
     * to the even one; one f32 ulp either side rounds to the nearer one. */
    long mid_bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) { /* up to the largest finite, exclusive */
        double lo = half_value((uint16_t)h), hi = half_value((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2); /* exact: 12 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        for (int s = 0; s < 2; s++) {
            uint16_t sg = s ? 0x8000 : 0;
            float m = s ? -mid : mid;
            mid_bad += zmoe_f32_to_f16(m) != (even | sg);
            mid_bad += zmoe_f32_to_f16(from_bits(bits(m) - 1)) != ((uint16_t)h | sg);
            mid_bad += zmoe_f32_to_f16(from_bits(bits(m) + 1)) != ((uint16_t)(h + 1) | sg);
        }
    }
    TAP_EQ_INT(mid_bad, 0, "f16 midpoints round to even, neighbours to nearest (all halves)");

    /* overflow, underflow and specials */
    TAP_EQ_INT(zmoe_f32_to_f16(65504.0f), 0x7bff, "65504 is the largest half");
    TAP_EQ_INT(zmoe_f32_to_f16(65519.99f), 0x7bff, "just below 65520 rounds down");
    TAP_EQ_INT(zmoe_f32_to_f16(65520.0f), 0x7c00, "65520 (tie, odd max) rounds to inf");
    TAP_EQ_INT(zmoe_f32_to_f16(1e10f), 0x7c00, "1e10 overflows to inf");
    TAP_EQ_INT(zmoe_f32_to_f16(-INFINITY), 0xfc00, "-inf");
    TAP_EQ_INT(zmoe_f32_to_f16(0x1p-25f), 0x0000, "2^-25 (tie with 0) rounds to even 0");
    TAP_EQ_INT(zmoe_f32_to_f16(from_bits(bits(0x1p-25f) + 1)), 0x0001,
               "just above 2^-25 rounds to the smallest subnormal");
    TAP_EQ_INT(zmoe_f32_to_f16(0x1p-24f * 1.5f), 0x0002, "1.5 subnormal ulps ties to 2");
    TAP_EQ_INT(zmoe_f32_to_f16(-0.0f), 0x8000, "-0 keeps its sign");
    TAP_EQ_INT(zmoe_f32_to_f16(1e-30f), 0x0000, "tiny flushes to +0");
    TAP_EQ_INT(zmoe_f32_to_f16(from_bits(0x387fffffu)), 0x0400,
               "largest f32 below 2^-14 rounds up into the smallest normal");
    TAP_OK(h_is_nan(zmoe_f32_to_f16(from_bits(0x7f800001u))),
           "f32 NaN with only a low payload bit stays NaN in f16");

    /* bf16: all patterns round trip; decode is exact by construction */
    long brt_bad = 0, bnan_bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t b = (uint16_t)i;
        float f = zmoe_bf16_to_f32(b);
        uint16_t back = zmoe_f32_to_bf16(f);
        if (b_is_nan(b))
            bnan_bad += !(isnan(f) && b_is_nan(back) && (back & 0x8000) == (b & 0x8000));
        else
            brt_bad += back != b || bits(f) != (uint32_t)b << 16;
    }
    TAP_EQ_INT(brt_bad, 0, "bf16 round trip exact for every non-NaN pattern");
    TAP_EQ_INT(bnan_bad, 0, "bf16 NaNs stay NaN with their sign");

    /* bf16 rounding: midpoint (b << 16 | 0x8000) of every finite pair */
    long bmid_bad = 0;
    for (uint32_t b = 0; b < 0x7f7f; b++) {
        for (uint32_t s = 0; s < 2; s++) {
            uint32_t sg = s << 15;
            uint32_t mid = ((b | sg) << 16) | 0x8000u;
            uint16_t even = (uint16_t)(((b & 1) ? b + 1 : b) | sg);
            bmid_bad += zmoe_f32_to_bf16(from_bits(mid)) != even;
            bmid_bad += zmoe_f32_to_bf16(from_bits(mid - 1)) != (uint16_t)(b | sg);
            bmid_bad += zmoe_f32_to_bf16(from_bits(mid + 1)) != (uint16_t)((b + 1) | sg);
        }
    }
    TAP_EQ_INT(bmid_bad, 0, "bf16 midpoints round to even, neighbours to nearest");
    TAP_EQ_INT(zmoe_f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80, "FLT_MAX rounds to bf16 inf");
    TAP_EQ_INT(zmoe_f32_to_bf16(from_bits(0x7f7f7fffu)), 0x7f7f, "below the midpoint stays finite");
    TAP_OK(b_is_nan(zmoe_f32_to_bf16(from_bits(0x7f800001u))),
           "f32 NaN with only a low payload bit stays NaN in bf16");
    TAP_EQ_INT(zmoe_f32_to_bf16(from_bits(0x00008000u)), 0x0000, "subnormal tie to even 0");
    TAP_EQ_INT(zmoe_f32_to_bf16(from_bits(0x00018000u)), 0x0002, "subnormal tie to even 2");

#ifdef __FLT16_MAX__
    /* Independent oracle: the compiler's own _Float16 conversion over a pseudo-random
     * sweep of f32 bit patterns (all exponents, including subnormals and NaN-free). */
    {
        long ob = 0;
        uint64_t s = 0x1234567;
        for (int i = 0; i < 2000000; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float f = from_bits((uint32_t)(s >> 32));
            if (isnan(f))
                continue;
            _Float16 hf = (_Float16)f;
            uint16_t want;
            memcpy(&want, &hf, 2);
            ob += zmoe_f32_to_f16(f) != want;
        }
        TAP_EQ_INT(ob, 0, "f32->f16 agrees with the compiler's _Float16 on 2M random values");
    }
#endif

    /* zmoe_dtype_convert across all pairs, against the scalar functions */
    {
        float src[6] = {1.0f, -2.5f, 3.14159f, 65520.0f, 1e-6f, -0.0f};
        unsigned char a[24], b[24];
        float back[6];
        long bad = 0;
        enum zmoe_dtype dts[3] = {ZMOE_DTYPE_F32, ZMOE_DTYPE_F16, ZMOE_DTYPE_BF16};
        for (int i = 0; i < 3; i++) {
            zmoe_dtype_convert(a, dts[i], src, ZMOE_DTYPE_F32, 6);
            for (int j = 0; j < 3; j++) {
                zmoe_dtype_convert(b, dts[j], a, dts[i], 6);
                zmoe_dtype_convert(back, ZMOE_DTYPE_F32, b, dts[j], 6);
                for (int k = 0; k < 6; k++) {
                    float v = src[k];
                    if (dts[i] == ZMOE_DTYPE_F16)
                        v = zmoe_f16_to_f32(zmoe_f32_to_f16(v));
                    if (dts[i] == ZMOE_DTYPE_BF16)
                        v = zmoe_bf16_to_f32(zmoe_f32_to_bf16(v));
                    if (dts[j] == ZMOE_DTYPE_F16)
                        v = zmoe_f16_to_f32(zmoe_f32_to_f16(v));
                    if (dts[j] == ZMOE_DTYPE_BF16)
                        v = zmoe_bf16_to_f32(zmoe_f32_to_bf16(v));
                    bad += bits(back[k]) != bits(v);
                }
            }
        }
        TAP_EQ_INT(bad, 0, "zmoe_dtype_convert: all 9 dtype pairs match the scalar path");
        TAP_EQ_INT(zmoe_dtype_size(ZMOE_DTYPE_F32), 4, "f32 size");
        TAP_EQ_INT(zmoe_dtype_size(ZMOE_DTYPE_BF16), 2, "bf16 size");
        TAP_OK(strcmp(zmoe_dtype_name(ZMOE_DTYPE_F16), "f16") == 0, "f16 name");
    }
    return tap_exit();
}
