/* weights: kernel-layout tensor geometry, dtype conversion, synthetic weights and the
 * load entry point (synthetic here, safetensors in safetensors.c). See weights.h. */
#include "weights/weights.h"
#include "weights/quant.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ geometry */

static const char *const tensor_names[ZMOE_TENSOR_COUNT] = {
    [ZMOE_TENSOR_ROUTER_W] = "router_w",     [ZMOE_TENSOR_ROUTER_B] = "router_b",
    [ZMOE_TENSOR_SCORE_BIAS] = "score_bias", [ZMOE_TENSOR_W13] = "w13",
    [ZMOE_TENSOR_B13] = "b13",               [ZMOE_TENSOR_W2] = "w2",
    [ZMOE_TENSOR_B2] = "b2",                 [ZMOE_TENSOR_SHARED_W13] = "shared_w13",
    [ZMOE_TENSOR_SHARED_W2] = "shared_w2",   [ZMOE_TENSOR_SHARED_GATE] = "shared_gate",
};

const char *zmoe_tensor_name(enum zmoe_tensor t)
{
    if ((unsigned)t >= ZMOE_TENSOR_COUNT)
        return "?";
    return tensor_names[t];
}

/* a*b, or 0 when the product does not fit in 64 bits (0 doubles as "absent"). */
static uint64_t mul_checked(uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return 0;
    return r;
}

static uint64_t shared_total(const struct zmoe_config *cfg)
{
    return mul_checked(cfg->model.shared_experts, cfg->model.shared_intermediate);
}

bool zmoe_tensor_present(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    switch (t) {
    case ZMOE_TENSOR_ROUTER_W:
    case ZMOE_TENSOR_W13:
    case ZMOE_TENSOR_W2:
        return true;
    case ZMOE_TENSOR_ROUTER_B:
        return cfg->router.bias;
    case ZMOE_TENSOR_SCORE_BIAS:
        return cfg->router.score_correction_bias;
    case ZMOE_TENSOR_B13:
    case ZMOE_TENSOR_B2:
        return cfg->experts.bias;
    case ZMOE_TENSOR_SHARED_W13:
    case ZMOE_TENSOR_SHARED_W2:
        return shared_total(cfg) != 0;
    case ZMOE_TENSOR_SHARED_GATE:
        /* A gate without a shared expert would scale nothing. */
        return cfg->router.shared_expert_gate && shared_total(cfg) != 0;
    default:
        return false;
    }
}

uint64_t zmoe_tensor_elements(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    if (!zmoe_tensor_present(cfg, t))
        return 0;
    uint64_t E = cfg->model.experts, H = cfg->model.hidden, I = cfg->model.intermediate;
    uint64_t S = shared_total(cfg);
    switch (t) {
    case ZMOE_TENSOR_ROUTER_W:
        return mul_checked(E, H);
    case ZMOE_TENSOR_ROUTER_B:
    case ZMOE_TENSOR_SCORE_BIAS:
        return E;
    case ZMOE_TENSOR_W13:
        return mul_checked(mul_checked(E, mul_checked(2, I)), H);
    case ZMOE_TENSOR_B13:
        return mul_checked(E, mul_checked(2, I));
    case ZMOE_TENSOR_W2:
        return mul_checked(mul_checked(E, H), I);
    case ZMOE_TENSOR_B2:
        return mul_checked(E, H);
    case ZMOE_TENSOR_SHARED_W13:
        return mul_checked(mul_checked(2, S), H);
    case ZMOE_TENSOR_SHARED_W2:
        return mul_checked(H, S);
    case ZMOE_TENSOR_SHARED_GATE:
        return H;
    default:
        return 0;
    }
}

enum zmoe_dtype zmoe_tensor_dtype(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    switch (t) {
    case ZMOE_TENSOR_ROUTER_B:
    case ZMOE_TENSOR_SCORE_BIAS:
    case ZMOE_TENSOR_B13:
    case ZMOE_TENSOR_B2:
        /* Biases are tiny and added after f32 accumulation: keep them exact. */
        return ZMOE_DTYPE_F32;
    default:
        return cfg->dtype.weights;
    }
}

uint64_t zmoe_tensor_bytes(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    struct zmoe_qmatrix q;
    if (zmoe_quant_matrix(cfg, t, &q))
        return q.bytes;
    return mul_checked(zmoe_tensor_elements(cfg, t), zmoe_dtype_size(zmoe_tensor_dtype(cfg, t)));
}

size_t zmoe_dtype_size(enum zmoe_dtype dt)
{
    switch (dt) {
    case ZMOE_DTYPE_F32:
        return 4;
    case ZMOE_DTYPE_F16:
    case ZMOE_DTYPE_BF16:
        return 2;
    default:
        return 0;
    }
}

const char *zmoe_dtype_name(enum zmoe_dtype dt)
{
    switch (dt) {
    case ZMOE_DTYPE_F32:
        return "f32";
    case ZMOE_DTYPE_F16:
        return "f16";
    case ZMOE_DTYPE_BF16:
        return "bf16";
    default:
        return "?";
    }
}

/* ------------------------------------------------------------------ dtype conversion */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t zmoe_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {
        if (x == 0x7f800000u)
            return sign | 0x7c00u;
        /* NaN: keep the top payload bits, force the quiet bit so it stays a NaN. */
        return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
    }
    /* 65520 is the midpoint between 65504 (max half, odd mantissa) and 65536:
     * ties-to-even rounds it, and everything above, to infinity. */
    if (x >= 0x477ff000u)
        return sign | 0x7c00u;
    if (x >= 0x38800000u) { /* normal half: exponent >= -14 */
        uint32_t odd = (x >> 13) & 1u;
        x += 0xfffu + odd; /* round to nearest even; a carry bumps the exponent */
        x -= (uint32_t)(127 - 15) << 23;
        return (uint16_t)(sign | (x >> 13));
    }
    /* Subnormal half (or zero): value = m * 2^(e-150); units of 2^-24. */
    uint32_t e = x >> 23;
    if (e < 102) /* below 2^-25: rounds to zero */
        return sign;
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift, r = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (r > half || (r == half && (q & 1u)))
        q++; /* may reach 0x400: the smallest normal, whose bits are exactly that */
    return (uint16_t)(sign | q);
}

float zmoe_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 31)
        return bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        /* zero or subnormal: m * 2^-24 is exact in f32 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((e + 127 - 15) << 23) | (m << 13));
}

uint16_t zmoe_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040u); /* quiet NaN, sign and top payload kept */
    x += 0x7fffu + ((x >> 16) & 1u); /* ties to even; overflow carries into infinity */
    return (uint16_t)(x >> 16);
}

float zmoe_bf16_to_f32(uint16_t b)
{
    return bits_f32((uint32_t)b << 16);
}

static float load_elem(const unsigned char *p, enum zmoe_dtype dt)
{
    uint16_t h;
    float f;
    switch (dt) {
    case ZMOE_DTYPE_F32:
        memcpy(&f, p, 4);
        return f;
    case ZMOE_DTYPE_F16:
        memcpy(&h, p, 2);
        return zmoe_f16_to_f32(h);
    default:
        memcpy(&h, p, 2);
        return zmoe_bf16_to_f32(h);
    }
}

static void store_elem(unsigned char *p, enum zmoe_dtype dt, float f)
{
    uint16_t h;
    switch (dt) {
    case ZMOE_DTYPE_F32:
        memcpy(p, &f, 4);
        break;
    case ZMOE_DTYPE_F16:
        h = zmoe_f32_to_f16(f);
        memcpy(p, &h, 2);
        break;
    default:
        h = zmoe_f32_to_bf16(f);
        memcpy(p, &h, 2);
        break;
    }
}

void zmoe_dtype_convert(void *dst, enum zmoe_dtype dst_dt, const void *src,
                        enum zmoe_dtype src_dt, size_t n)
{
    size_t ds = zmoe_dtype_size(dst_dt), ss = zmoe_dtype_size(src_dt);
    if (ds == 0 || ss == 0)
        return;
    if (dst_dt == src_dt) {
        memcpy(dst, src, n * ds);
        return;
    }
    unsigned char *d = dst;
    const unsigned char *s = src;
    /* Through f32: every f16/bf16 value is exact in f32, so there is one rounding. */
    for (size_t i = 0; i < n; i++)
        store_elem(d + i * ds, dst_dt, load_elem(s + i * ss, src_dt));
}

/* Exposed to safetensors.c through safetensors.h (same module). */
float zmoe_weights_load_elem(const void *p, enum zmoe_dtype dt)
{
    return load_elem(p, dt);
}

void zmoe_weights_store_elem(void *p, enum zmoe_dtype dt, float f)
{
    store_elem(p, dt, f);
}

/* ------------------------------------------------------------------ synthetic */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Scale of a synthetic tensor: like a real init, 1/sqrt(fan_in), so activations keep
 * their magnitude through the layer and the reference comparison stays meaningful. */
static float synthetic_scale(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    double H = cfg->model.hidden ? cfg->model.hidden : 1;
    double I = cfg->model.intermediate ? cfg->model.intermediate : 1;
    double S = (double)shared_total(cfg);
    if (S == 0)
        S = 1;
    switch (t) {
    case ZMOE_TENSOR_ROUTER_W:
    case ZMOE_TENSOR_W13:
    case ZMOE_TENSOR_SHARED_W13:
    case ZMOE_TENSOR_SHARED_GATE:
        return (float)(1.0 / sqrt(H));
    case ZMOE_TENSOR_W2:
        return (float)(1.0 / sqrt(I));
    case ZMOE_TENSOR_SHARED_W2:
        return (float)(1.0 / sqrt(S));
    case ZMOE_TENSOR_ROUTER_B:
    case ZMOE_TENSOR_B13:
    case ZMOE_TENSOR_B2:
        return 0.1f;
    case ZMOE_TENSOR_SCORE_BIAS:
        /* Small next to sigmoid scores in (0,1), yet large enough to reorder close
         * experts, as DeepSeek-V3's load-balancing bias does. */
        return 0.05f;
    default:
        return 0.0f;
    }
}

void zmoe_weights_synthetic(const struct zmoe_config *cfg, uint32_t layer, enum zmoe_tensor t,
                            uint64_t first, uint64_t count, float *out)
{
    float scale = synthetic_scale(cfg, t);
    enum zmoe_dtype dt = zmoe_tensor_dtype(cfg, t);
    /* Counter-based: element i depends only on (seed, layer, tensor, i), so any chunking
     * of the stream and any reader (device upload, reference) sees the same values. */
    uint64_t key = splitmix64(cfg->weights.seed);
    key = splitmix64(key ^ ((uint64_t)layer << 8) ^ (uint64_t)t);
    for (uint64_t k = 0; k < count; k++) {
        uint64_t r = splitmix64(key ^ splitmix64(first + k));
        double u = (double)(r >> 11) * 0x1p-53; /* [0,1) */
        float v = (float)((2.0 * u - 1.0) * scale);
        switch (dt) {
        case ZMOE_DTYPE_F16:
            v = zmoe_f16_to_f32(zmoe_f32_to_f16(v));
            break;
        case ZMOE_DTYPE_BF16:
            v = zmoe_bf16_to_f32(zmoe_f32_to_bf16(v));
            break;
        default:
            break;
        }
        out[k] = v;
    }
}

/* Synthetic quantized tensors: device-layout bytes (weights/quant.h), each byte a
 * function of (seed, layer, tensor, part, index) only, so any chunking and any reader
 * (upload, reference, benchmarks) sees the same bytes. Codes are uniform over their
 * bit patterns (fp8's two NaN codes moved to the neighbouring finite one), scales near
 * the float synthetic scale / 2^(bits-1) in the scale dtype (e8m0: the nearest power of
 * two, +-1 in the exponent), zeros within +-2 of the middle code, and with act-order
 * each expert's permutation is c' -> (a c' + b) mod n with a coprime to n (a seeded
 * bijection any index of which is computable alone). */
enum { QPART_CODES = 1, QPART_SCALES, QPART_ZEROS, QPART_PERM };

static uint64_t qkey(const struct zmoe_config *cfg, uint32_t layer, enum zmoe_tensor t, int part)
{
    uint64_t key = splitmix64(cfg->weights.seed);
    key = splitmix64(key ^ ((uint64_t)layer << 8) ^ (uint64_t)t);
    return splitmix64(key ^ ((uint64_t)part << 56) ^ 0x51a7ull);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* perm[set][c'] of the synthetic act-order permutation (also used by nothing else:
 * readers take it from the bytes). */
static uint32_t synthetic_perm(uint64_t key, uint64_t set, uint64_t n, uint64_t c)
{
    uint64_t r = splitmix64(key ^ splitmix64(set));
    uint64_t a = n > 1 ? 1 + (r >> 8) % (n - 1) : 1, b = n ? (r >> 40) % n : 0;
    while (gcd64(a, n) != 1)
        a = a % (n - 1) + 1; /* n >= 32: terminates at a coprime (1 at worst) */
    return (uint32_t)((a * c + b) % n);
}

/* Bits of scale j as stored in the scale dtype, little-endian in the low bytes. */
static uint32_t synthetic_scale_bits(const struct zmoe_config *cfg, const struct zmoe_qmatrix *m,
                                     enum zmoe_tensor t, uint64_t key, uint64_t j)
{
    const uint64_t r = splitmix64(key ^ splitmix64(j));
    const double base = synthetic_scale(cfg, t) / (double)(1u << (m->bits - 1));
    if (m->scale_dtype == ZMOE_SCALE_E8M0) {
        int e = 127 + (int)lround(log2(base)) + (int)(r % 3) - 1;
        return (uint32_t)(e < 1 ? 1 : e > 254 ? 254 : e);
    }
    const float v = (float)(base * (0.75 + 0.5 * ((double)(r >> 11) * 0x1p-53)));
    switch (m->scale_dtype) {
    case ZMOE_SCALE_F16: return zmoe_f32_to_f16(v);
    case ZMOE_SCALE_BF16: return zmoe_f32_to_bf16(v);
    default: return f32_bits(v);
    }
}

void zmoe_weights_synthetic_quant(const struct zmoe_config *cfg, uint32_t layer, enum zmoe_tensor t,
                                  uint64_t offset, size_t size, void *out)
{
    unsigned char *o = out;
    struct zmoe_qmatrix m;
    if (!zmoe_quant_matrix(cfg, t, &m)) {
        memset(out, 0, size);
        return;
    }
    const uint64_t kc = qkey(cfg, layer, t, QPART_CODES), ks = qkey(cfg, layer, t, QPART_SCALES);
    const uint64_t kz = qkey(cfg, layer, t, QPART_ZEROS), kp = qkey(cfg, layer, t, QPART_PERM);
    const uint32_t ssz = zmoe_scale_size(m.scale_dtype);
    for (size_t i = 0; i < size; i++) {
        const uint64_t b = offset + i;
        uint32_t v = 0;
        if (b - m.codes_offset < m.codes_bytes) {
            v = (uint32_t)(splitmix64(kc ^ splitmix64(b - m.codes_offset)) >> 24) & 0xffu;
            if (m.format == ZMOE_QUANT_FP8 && (v & 0x7fu) == 0x7fu)
                v ^= 1u; /* 0x7f / 0xff are NaN in e4m3fn */
        } else if (b - m.scales_offset < m.scales_bytes) {
            const uint64_t k = b - m.scales_offset;
            v = synthetic_scale_bits(cfg, &m, t, ks, k / ssz) >> (8 * (k % ssz));
        } else if (m.has_zeros && b - m.zeros_offset < m.zeros_bytes) {
            const uint64_t r = splitmix64(kz ^ splitmix64(b - m.zeros_offset));
            v = (1u << (m.bits - 1)) + (uint32_t)(r % 5) - 2u;
        } else if (m.has_perm && b - m.perm_offset < m.perm_bytes) {
            const uint64_t w = (b - m.perm_offset) / 4;
            v = synthetic_perm(kp, w / m.cols, m.cols, w % m.cols) >> (8 * ((b - m.perm_offset) % 4));
        }
        o[i] = (unsigned char)v;
    }
}

/* ------------------------------------------------------------------ load */

void zmoe_weights_errorf(struct zmoe_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static enum zmoe_status load_synthetic(const struct zmoe_config *cfg, unsigned char *staging,
                                       size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                       struct zmoe_error *err)
{
    float block[256];
    for (uint32_t layer = 0; layer < cfg->model.layers; layer++) {
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            enum zmoe_tensor t = (enum zmoe_tensor)ti;
            if (!zmoe_tensor_present(cfg, t))
                continue;
            struct zmoe_qmatrix q;
            if (zmoe_quant_matrix(cfg, t, &q)) {
                /* device-layout bytes, a staging buffer at a time */
                for (uint64_t done = 0; done < q.bytes;) {
                    const size_t chunk =
                        q.bytes - done < staging_size ? (size_t)(q.bytes - done) : staging_size;
                    zmoe_weights_synthetic_quant(cfg, layer, t, done, chunk, staging);
                    enum zmoe_status st = sink(ctx, layer, t, done, staging, chunk, err);
                    if (st != ZMOE_OK)
                        return st;
                    done += chunk;
                }
                continue;
            }
            uint64_t n = zmoe_tensor_elements(cfg, t);
            enum zmoe_dtype dt = zmoe_tensor_dtype(cfg, t);
            size_t es = zmoe_dtype_size(dt);
            size_t per_chunk = staging_size / es;
            uint64_t done = 0;
            while (done < n) {
                uint64_t chunk = n - done < per_chunk ? n - done : per_chunk;
                for (uint64_t k = 0; k < chunk; k += 256) {
                    uint64_t m = chunk - k < 256 ? chunk - k : 256;
                    zmoe_weights_synthetic(cfg, layer, t, done + k, m, block);
                    zmoe_dtype_convert(staging + k * es, dt, block, ZMOE_DTYPE_F32, (size_t)m);
                }
                enum zmoe_status st =
                    sink(ctx, layer, t, done * es, staging, (size_t)(chunk * es), err);
                if (st != ZMOE_OK)
                    return st;
                done += chunk;
            }
        }
    }
    return ZMOE_OK;
}

/* Checks that the geometry is loadable at all (the config validator also does). */
enum zmoe_status zmoe_weights_check_geometry(const struct zmoe_config *cfg,
                                             struct zmoe_error *err)
{
    if (cfg->model.hidden == 0 || cfg->model.intermediate == 0 || cfg->model.experts == 0) {
        zmoe_weights_errorf(err, "weights: hidden, intermediate and experts must be > 0");
        return ZMOE_ERR_CONFIG;
    }
    if (zmoe_dtype_size(cfg->dtype.weights) == 0) {
        zmoe_weights_errorf(err, "weights: unknown weights dtype %d", (int)cfg->dtype.weights);
        return ZMOE_ERR_CONFIG;
    }
    for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
        enum zmoe_tensor t = (enum zmoe_tensor)ti;
        uint64_t n = zmoe_tensor_elements(cfg, t);
        if (zmoe_tensor_present(cfg, t) &&
            (n == 0 || mul_checked(n, zmoe_dtype_size(zmoe_tensor_dtype(cfg, t))) == 0 ||
             n > SIZE_MAX / 4)) {
            zmoe_weights_errorf(err, "weights: tensor %s: size overflows", zmoe_tensor_name(t));
            return ZMOE_ERR_CONFIG;
        }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_weights_load(const struct zmoe_config *cfg, void *staging,
                                   size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                   char *report, size_t report_size, struct zmoe_error *err)
{
    if (!cfg || !staging || !sink) {
        zmoe_weights_errorf(err, "weights: NULL config, staging buffer or sink");
        return ZMOE_ERR_ARGUMENT;
    }
    /* One f32 element is the least the streaming code can make progress with. */
    if (staging_size < ZMOE_WEIGHTS_MIN_STAGING) {
        zmoe_weights_errorf(err, "weights: staging buffer of %zu bytes is below the %d-byte minimum",
                            staging_size, ZMOE_WEIGHTS_MIN_STAGING);
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = zmoe_weights_check_geometry(cfg, err);
    if (st != ZMOE_OK)
        return st;
    if (report && report_size)
        report[0] = '\0';
    if (cfg->weights.file[0] == '\0' || cfg->weights.layout == ZMOE_LAYOUT_SYNTHETIC) {
        if (cfg->weights.file[0] != '\0') {
            zmoe_weights_errorf(err, "weights: file '%s' given with the synthetic layout; set a "
                                     "checkpoint layout", cfg->weights.file);
            return ZMOE_ERR_CONFIG;
        }
        if (report && report_size)
            snprintf(report, report_size, "synthetic weights, seed %llu, %u layers",
                     (unsigned long long)cfg->weights.seed, cfg->model.layers);
        return load_synthetic(cfg, staging, staging_size, sink, ctx, err);
    }
    return zmoe_safetensors_load(cfg, NULL, 0, staging, staging_size, sink, ctx, report,
                                 report_size, err);
}
