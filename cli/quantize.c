/* zmoe quantize: round-to-nearest quantization of a config's float expert weights (its
 * checkpoint, or its synthetic weights) into a compressed-tensors "pack-quantized"
 * checkpoint, the format llm-compressor writes for W4A16/W8A16, plus the config that
 * loads it.
 *
 * The weights come through zmoe_weights_load, so every layout the loader reads (and
 * synthetic weights) arrives in the kernel layout (weights/weights.h): W13 rows e*2I + j
 * (gate j < I, then up) over H columns, W2 rows e*H + h over I columns, the shared
 * experts likewise. Each of those row ranges is one nn.Linear weight [out, in] of the
 * checkpoint, written per expert under the layout's names. One layer is held at a time
 * (in its float dtype), so memory is one layer's weights, not the model's.
 *
 * The quantizer follows compressed-tensors' definitions (quantization/utils/helpers.py
 * calculate_qparams, lifecycle/forward.py, compressors/quantized_compressors/
 * pack_quantized.py), checked against its code, not copied:
 *   range    = 2^bits - 1 (15 for int4), codes q in [-2^(bits-1), 2^(bits-1) - 1]
 *   symmetric:  s = max|w| / (range / 2), zero point 0
 *   asymmetric: lo = min(min w, 0), hi = max(max w, 0), s = (hi - lo) / range,
 *               zp = round(qmin - lo / s) clamped to the code range (rounded as the
 *               current code does; releases before it truncated the float zero point)
 *   s >= float32 epsilon; q = clamp(round(w / s) + zp) (round half to even, torch.round)
 *   stored: weight_packed I32 [out, in*bits/32], element c of row o at bits
 *           (c % (32/bits))*bits of word c/(32/bits), as the unsigned q + 2^(bits-1);
 *           weight_scale [out, in/group] in the model dtype; weight_zero_point I32
 *           [ceil(out*bits/32), in/group] packed along the output dim with the same
 *           offset (asymmetric only); weight_shape I64 [2] = {out, in}.
 * One deliberate difference: the scale is rounded *up* to its stored dtype (bf16/f16)
 * and the codes are computed with the stored value, so every weight dequantizes to
 * within half a step of its float value (compressed-tensors rounds to nearest, which
 * can leave the extreme weights slightly further out). */
#include "cli/cli.h"
#include "config/config.h"
#include "weights/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char quantize_usage[] =
    "usage: zmoe quantize CONFIG --format int4|int8|fp8 [--group N] [--sym] --output FILE\n"
    "                     [--layout qwen_moe|deepseek|mixtral|llama4]\n"
    "\n"
    "Quantizes the expert weights of CONFIG (its checkpoint, or its synthetic weights when\n"
    "it has none) to round-to-nearest int4 or int8 and writes them as a compressed-tensors\n"
    "\"pack-quantized\" safetensors file (llm-compressor's W4A16/W8A16 format: per-expert\n"
    "linears with weight_packed, weight_scale, weight_zero_point, weight_shape; fp8:\n"
    "\"float-quantized\", weight F8_E4M3 + weight_scale per row or 128x128 block; the\n"
    "quantization_config in the file's __metadata__). The router, the score bias and the\n"
    "shared-expert gate stay in dtype.weights. Prints the zmoe config that loads FILE.\n"
    "\n"
    "  --format F    int4, int8 or fp8 (e4m3)\n"
    "  --group N     values per scale along the input dim (default 128; 0 = per channel);\n"
    "                fp8: 0 (per channel) or 128 (128x128 blocks)\n"
    "  --sym         symmetric (no zero points); default: asymmetric with zero points\n"
    "                (fp8 is always symmetric)\n"
    "  --output FILE the .safetensors file to write\n"
    "  --layout L    the tensor names to write (default: the config's layout; for\n"
    "                synthetic weights the family its router matches: llama4 for\n"
    "                on-input weights, deepseek for grouped/biased routing or ungated\n"
    "                shared experts, else qwen_moe)\n";

/* ------------------------------------------------------------------ output tensors */

enum piece { P_RAW = 0, P_PACKED, P_SCALE, P_ZERO, P_SHAPE, P_FP8, P_FP8_SCALE };

/* One tensor of the output file: where its values come from and where they go. */
struct otensor {
    char *name;
    const char *dtype; /* safetensors dtype */
    uint32_t ndim;
    uint64_t shape[2];
    uint64_t bytes, offset;
    uint32_t layer;
    enum zmoe_tensor src; /* kernel tensor it is cut from */
    enum piece piece;
    uint64_t row0, rows, cols; /* the linear: kernel rows [row0, row0 + rows), cols wide */
    size_t seq;                /* position in the plan (a stable sort key) */
};

struct qz {
    const struct zmoe_config *cfg; /* the float source */
    enum zmoe_weights_layout layout;
    uint32_t bits, group;
    bool sym, fp8; /* fp8: compressed-tensors float-quantized e4m3 (symmetric) */
    enum zmoe_dtype scale_dt;
    struct otensor *t;
    size_t n, cap;
    int fd;
    uint64_t data_start;
    /* one layer of kernel tensors, in their float dtype */
    uint32_t cur_layer;
    bool have_layer;
    uint8_t *buf[ZMOE_TENSOR_COUNT];
    double max_err_steps; /* largest |w - dequantized| / scale seen */
    uint64_t values;
    char msg[512];
};

static const char *st_dtype(enum zmoe_dtype dt)
{
    return dt == ZMOE_DTYPE_F32 ? "F32" : dt == ZMOE_DTYPE_F16 ? "F16" : "BF16";
}

static int add(struct qz *q, const char *name, const char *dtype, uint32_t ndim, uint64_t d0,
               uint64_t d1, uint64_t esize, uint32_t layer, enum zmoe_tensor src, enum piece pc,
               uint64_t row0, uint64_t rows, uint64_t cols)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        struct otensor *t = realloc(q->t, cap * sizeof *t);
        if (!t)
            return -1;
        q->t = t, q->cap = cap;
    }
    struct otensor *o = &q->t[q->n];
    *o = (struct otensor){.dtype = dtype, .ndim = ndim, .shape = {d0, d1}, .layer = layer,
                          .src = src, .piece = pc, .row0 = row0, .rows = rows, .cols = cols,
                          .seq = q->n};
    o->bytes = d0 * (ndim > 1 ? d1 : 1) * esize;
    o->name = strdup(name);
    if (!o->name)
        return -1;
    q->n++;
    return 0;
}

/* The per-layout names (after "<prefix><layer>."), as the checkpoints the loader reads
 * name them (weights/st_layouts.c), with compressed-tensors' per-linear suffixes. */
struct names {
    const char *router, *experts, *proj[3], *shared, *shared_gate, *score_bias;
};

static bool layout_names(enum zmoe_weights_layout l, struct names *n)
{
    static const char *const gud[3] = {"gate_proj", "up_proj", "down_proj"};
    *n = (struct names){0};
    switch (l) {
    case ZMOE_LAYOUT_QWEN_MOE:
        *n = (struct names){"mlp.gate.weight", "mlp.experts", {0}, "mlp.shared_expert",
                            "mlp.shared_expert_gate.weight", NULL};
        break;
    case ZMOE_LAYOUT_DEEPSEEK:
        *n = (struct names){"mlp.gate.weight", "mlp.experts", {0}, "mlp.shared_experts", NULL,
                            "mlp.gate.e_score_correction_bias"};
        break;
    case ZMOE_LAYOUT_MIXTRAL:
        *n = (struct names){"block_sparse_moe.gate.weight", "block_sparse_moe.experts",
                            {"w1", "w3", "w2"}, NULL, NULL, NULL};
        return true;
    case ZMOE_LAYOUT_LLAMA4:
        /* llm-compressor unfuses Llama 4's gate_up_proj/down_proj into per-expert linears */
        *n = (struct names){"feed_forward.router.weight", "feed_forward.experts", {0},
                            "feed_forward.shared_expert", NULL, NULL};
        break;
    default:
        return false;
    }
    memcpy(n->proj, gud, sizeof gud);
    return true;
}

/* Tensor names: a layout prefix, the layer, the layout's names (all short). */
enum { NAME_CAP = 300 };

/* The four pieces of one quantized linear [out, in] cut from kernel rows row0... */
static int add_linear(struct qz *q, const char *base, uint32_t layer, enum zmoe_tensor src,
                      uint64_t row0, uint64_t out, uint64_t in)
{
    char name[NAME_CAP + sizeof ".weight_zero_point"]; /* base fits in NAME_CAP */
    const uint64_t per_word = 32 / q->bits, ng = q->group ? in / q->group : 1;
    if (q->fp8) {
        /* float-quantized: the e4m3 bytes as "weight", scales per row (channel) or per
         * 128x128 block */
        snprintf(name, sizeof name, "%s.weight", base);
        if (add(q, name, "F8_E4M3", 2, out, in, 1, layer, src, P_FP8, row0, out, in))
            return -1;
        snprintf(name, sizeof name, "%s.weight_scale", base);
        return add(q, name, st_dtype(q->scale_dt), 2, q->group ? out / q->group : out,
                   q->group ? in / q->group : 1, zmoe_dtype_size(q->scale_dt), layer, src,
                   P_FP8_SCALE, row0, out, in);
    }
    snprintf(name, sizeof name, "%s.weight_packed", base);
    if (add(q, name, "I32", 2, out, in / per_word, 4, layer, src, P_PACKED, row0, out, in))
        return -1;
    snprintf(name, sizeof name, "%s.weight_scale", base);
    if (add(q, name, st_dtype(q->scale_dt), 2, out, ng, zmoe_dtype_size(q->scale_dt), layer, src,
            P_SCALE, row0, out, in))
        return -1;
    if (!q->sym) {
        snprintf(name, sizeof name, "%s.weight_zero_point", base);
        if (add(q, name, "I32", 2, (out + per_word - 1) / per_word, ng, 4, layer, src, P_ZERO,
                row0, out, in))
            return -1;
    }
    snprintf(name, sizeof name, "%s.weight_shape", base);
    return add(q, name, "I64", 1, 2, 0, 8, layer, src, P_SHAPE, row0, out, in);
}

static int plan_tensors(struct qz *q, const char *prefix)
{
    const struct zmoe_config *c = q->cfg;
    struct names nm;
    layout_names(q->layout, &nm);
    const uint64_t E = c->model.experts, H = c->model.hidden, I = c->model.intermediate;
    const uint64_t S = (uint64_t)c->model.shared_experts * c->model.shared_intermediate;
    char name[NAME_CAP];
    for (uint32_t l = 0; l < c->model.layers; l++) {
        snprintf(name, sizeof name, "%s%u.%s", prefix, l, nm.router);
        enum zmoe_dtype wd = zmoe_tensor_dtype(c, ZMOE_TENSOR_ROUTER_W);
        if (add(q, name, st_dtype(wd), 2, E, H, zmoe_dtype_size(wd), l, ZMOE_TENSOR_ROUTER_W,
                P_RAW, 0, E, H))
            return -1;
        if (zmoe_tensor_present(c, ZMOE_TENSOR_SCORE_BIAS)) {
            snprintf(name, sizeof name, "%s%u.%s", prefix, l, nm.score_bias);
            if (add(q, name, "F32", 1, E, 0, 4, l, ZMOE_TENSOR_SCORE_BIAS, P_RAW, 0, 1, E))
                return -1;
        }
        for (uint64_t e = 0; e < E; e++)
            for (int p = 0; p < 3; p++) {
                snprintf(name, sizeof name, "%s%u.%s.%llu.%s", prefix, l, nm.experts,
                         (unsigned long long)e, nm.proj[p]);
                int rc = p < 2 ? add_linear(q, name, l, ZMOE_TENSOR_W13, e * 2 * I + (uint64_t)p * I, I, H)
                               : add_linear(q, name, l, ZMOE_TENSOR_W2, e * H, H, I);
                if (rc)
                    return -1;
            }
        if (S) {
            for (int p = 0; p < 3; p++) {
                snprintf(name, sizeof name, "%s%u.%s.%s", prefix, l, nm.shared, nm.proj[p]);
                int rc = p < 2 ? add_linear(q, name, l, ZMOE_TENSOR_SHARED_W13, (uint64_t)p * S, S, H)
                               : add_linear(q, name, l, ZMOE_TENSOR_SHARED_W2, 0, H, S);
                if (rc)
                    return -1;
            }
        }
        if (zmoe_tensor_present(c, ZMOE_TENSOR_SHARED_GATE)) {
            snprintf(name, sizeof name, "%s%u.%s", prefix, l, nm.shared_gate);
            enum zmoe_dtype gd = zmoe_tensor_dtype(c, ZMOE_TENSOR_SHARED_GATE);
            if (add(q, name, st_dtype(gd), 2, 1, H, zmoe_dtype_size(gd), l,
                    ZMOE_TENSOR_SHARED_GATE, P_RAW, 0, 1, H))
                return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ the quantizer */

static float to_f32(const uint8_t *src, enum zmoe_dtype dt, uint64_t i)
{
    float v;
    zmoe_dtype_convert(&v, ZMOE_DTYPE_F32, src + i * zmoe_dtype_size(dt), dt, 1);
    return v;
}

/* The smallest value of dtype dt that is >= s (s > 0, finite); its bytes into out. */
static float round_up(float s, enum zmoe_dtype dt, uint8_t out[4])
{
    float back = s;
    if (dt == ZMOE_DTYPE_F32) {
        memcpy(out, &s, 4);
        return s;
    }
    uint16_t h;
    zmoe_dtype_convert(&h, dt, &s, ZMOE_DTYPE_F32, 1);
    zmoe_dtype_convert(&back, ZMOE_DTYPE_F32, &h, dt, 1);
    if (back < s) {
        h++; /* positive values: the next encoding is the next larger value */
        zmoe_dtype_convert(&back, ZMOE_DTYPE_F32, &h, dt, 1);
    }
    memcpy(out, &h, 2);
    return back;
}

/* float8_e4m3fn of x (|x| <= 448 after the caller's clamp), round to nearest even:
 * subnormals are multiples of 2^-9, normals 1.mmm x 2^(e-7) for e in 1..15 (S.1111.111
 * is NaN, so 448 = 0x7E is the largest). */
static uint8_t e4m3(float x)
{
    uint8_t sign = signbit(x) ? 0x80 : 0;
    float a = fminf(fabsf(x), 448.0f);
    int code;
    if (a < 0.015625f) { /* below 2^-6: subnormal (8 rounds up to the first normal) */
        code = (int)rintf(a * 512.0f);
    } else {
        int k;
        frexpf(a, &k); /* a = f * 2^k, f in [0.5, 1): a = (2f) * 2^(k-1) */
        int e = k - 1;
        int m = (int)rintf((ldexpf(a, -e) - 1.0f) * 8.0f);
        if (m == 8)
            m = 0, e++;
        code = ((e + 7) << 3) | m;
        if (code > 0x7E)
            code = 0x7E;
    }
    return (uint8_t)(sign | code);
}

static float e4m3_value(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    float v = e ? ldexpf(1.0f + (float)m / 8.0f, e - 7) : ldexpf((float)m, -9);
    return b & 0x80 ? -v : v;
}

/* fp8 pieces of one linear: scale = max|w| / 448 per row (channel) or 128x128 block
 * (compressed-tensors: bit_range / 2 with the e4m3 range [-448, 448]), rounded up to
 * the scale dtype; the weight = e4m3(w / scale). */
static void fp8_piece(struct qz *q, const struct otensor *o, uint8_t *dst)
{
    const enum zmoe_dtype wd = zmoe_tensor_dtype(q->cfg, o->src);
    const uint8_t *w = q->buf[o->src];
    const uint64_t in = o->cols, out = o->rows;
    const uint64_t B = q->group ? q->group : 0; /* block edge; 0 = per row, whole row */
    const uint64_t brows = B ? B : 1, bcols = B ? B : in;
    const size_t ss = zmoe_dtype_size(q->scale_dt);
    for (uint64_t r0 = 0; r0 < out; r0 += brows)
        for (uint64_t c0 = 0; c0 < in; c0 += bcols) {
            float amax = 0;
            for (uint64_t r = r0; r < r0 + brows; r++)
                for (uint64_t c = c0; c < c0 + bcols; c++)
                    amax = fmaxf(amax, fabsf(to_f32(w, wd, (o->row0 + r) * in + c)));
            uint8_t sbytes[4];
            float s = round_up(fmaxf(amax / 448.0f, FLT_EPSILON), q->scale_dt, sbytes);
            if (o->piece == P_FP8_SCALE) {
                memcpy(dst + ((r0 / brows) * (in / bcols) + c0 / bcols) * ss, sbytes, ss);
                continue;
            }
            for (uint64_t r = r0; r < r0 + brows; r++)
                for (uint64_t c = c0; c < c0 + bcols; c++) {
                    float v = to_f32(w, wd, (o->row0 + r) * in + c);
                    uint8_t b = e4m3(v / s);
                    dst[r * in + c] = b;
                    /* error in units of the value's own half step (2^-4 relative, or
                     * 2^-10 of the scale among subnormals) */
                    double err = fabs((double)v - (double)e4m3_value(b) * s);
                    double half = fmax(fabs((double)v) / 16.0, (double)s / 1024.0);
                    if (err / half / 2.0 > q->max_err_steps)
                        q->max_err_steps = err / half / 2.0;
                    q->values++;
                }
        }
}

/* Quantizes one linear (kernel rows [row0, row0 + out) of tensor src, `in` wide) and
 * writes the requested piece into dst (the piece's bytes). */
static void quantize_piece(struct qz *q, const struct otensor *o, uint8_t *dst)
{
    const enum zmoe_dtype wd = zmoe_tensor_dtype(q->cfg, o->src);
    const uint8_t *w = q->buf[o->src];
    const uint64_t in = o->cols, out = o->rows, G = q->group ? q->group : in, ng = in / G;
    const uint32_t bits = q->bits, per_word = 32 / bits;
    const int qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1, range = qmax - qmin;
    const size_t ss = zmoe_dtype_size(q->scale_dt);
    memset(dst, 0, o->bytes);
    if (o->piece == P_FP8 || o->piece == P_FP8_SCALE) {
        fp8_piece(q, o, dst);
        return;
    }
    if (o->piece == P_SHAPE) {
        int64_t shape[2] = {(int64_t)out, (int64_t)in};
        memcpy(dst, shape, sizeof shape);
        return;
    }
    for (uint64_t r = 0; r < out; r++) {
        const uint64_t row = o->row0 + r;
        for (uint64_t g = 0; g < ng; g++) {
            float lo = 0, hi = 0, amax = 0;
            for (uint64_t c = g * G; c < (g + 1) * G; c++) {
                float v = to_f32(w, wd, row * in + c);
                lo = fminf(lo, v), hi = fmaxf(hi, v), amax = fmaxf(amax, fabsf(v));
            }
            float s = q->sym ? amax / ((float)range / 2.0f) : (hi - lo) / (float)range;
            s = fmaxf(s, FLT_EPSILON);
            uint8_t sbytes[4];
            s = round_up(s, q->scale_dt, sbytes);
            int zp = 0;
            if (!q->sym) {
                float z = rintf((float)qmin - lo / s);
                zp = z < (float)qmin ? qmin : z > (float)qmax ? qmax : (int)z;
            }
            if (o->piece == P_SCALE) {
                memcpy(dst + (r * ng + g) * ss, sbytes, ss);
                continue;
            }
            if (o->piece == P_ZERO) {
                uint32_t word;
                uint64_t at = (r / per_word) * ng + g;
                memcpy(&word, dst + at * 4, 4);
                word |= (uint32_t)(zp - qmin) << ((r % per_word) * bits);
                memcpy(dst + at * 4, &word, 4);
                continue;
            }
            for (uint64_t c = g * G; c < (g + 1) * G; c++) {
                float v = to_f32(w, wd, row * in + c);
                float x = rintf(v / s) + (float)zp;
                int code = x < (float)qmin ? qmin : x > (float)qmax ? qmax : (int)x;
                double err = fabs((double)v - (double)(code - zp) * s) / s;
                if (err > q->max_err_steps)
                    q->max_err_steps = err;
                q->values++;
                uint32_t word;
                uint64_t at = r * (in / per_word) + c / per_word;
                memcpy(&word, dst + at * 4, 4);
                word |= (uint32_t)(code - qmin) << ((c % per_word) * bits);
                memcpy(dst + at * 4, &word, 4);
            }
        }
    }
}

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 0;
}

/* Writes every output tensor of the held layer. */
static enum zmoe_status flush_layer(struct qz *q, struct zmoe_error *err)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct otensor *o = &q->t[i];
        if (o->layer != q->cur_layer)
            continue;
        uint8_t *dst = malloc(o->bytes ? o->bytes : 1);
        if (!dst) {
            snprintf(err->msg, sizeof err->msg, "out of memory for tensor '%s' (%llu bytes)",
                     o->name, (unsigned long long)o->bytes);
            return ZMOE_ERR_NO_MEMORY;
        }
        if (o->piece == P_RAW)
            memcpy(dst, q->buf[o->src], o->bytes); /* router, biases: as loaded */
        else
            quantize_piece(q, o, dst);
        int rc = pwrite_all(q->fd, dst, o->bytes, q->data_start + o->offset);
        free(dst);
        if (rc) {
            snprintf(err->msg, sizeof err->msg, "writing tensor '%s': %s", o->name, strerror(errno));
            return ZMOE_ERR_IO;
        }
    }
    return ZMOE_OK;
}

static enum zmoe_status sink(void *ctx, uint32_t layer, enum zmoe_tensor t, uint64_t offset,
                             const void *bytes, size_t size, struct zmoe_error *err)
{
    struct qz *q = ctx;
    if (q->have_layer && layer != q->cur_layer) {
        if (layer < q->cur_layer) {
            snprintf(err->msg, sizeof err->msg, "layer %u arrived after layer %u (the loader "
                     "streams layers in order)", layer, q->cur_layer);
            return ZMOE_ERR_WEIGHTS;
        }
        enum zmoe_status st = flush_layer(q, err);
        if (st)
            return st;
    }
    q->cur_layer = layer;
    q->have_layer = true;
    uint64_t total = zmoe_tensor_bytes(q->cfg, t);
    if (!q->buf[t] || offset > total || size > total - offset) {
        snprintf(err->msg, sizeof err->msg, "tensor %s: chunk [%llu, +%zu) outside its %llu bytes",
                 zmoe_tensor_name(t), (unsigned long long)offset, size, (unsigned long long)total);
        return ZMOE_ERR_WEIGHTS;
    }
    memcpy(q->buf[t] + offset, bytes, size);
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ the file */

static void json_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
}

/* compressed-tensors' quantization_config for this file, as config.json would hold it. */
static void quantization_config(const struct qz *q, const struct names *nm, FILE *f)
{
    if (q->fp8) {
        fprintf(f, "{\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\", "
                   "\"quantization_status\": \"compressed\", \"config_groups\": {\"group_0\": "
                   "{\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 8, \"type\": \"float\", "
                   "\"symmetric\": true, \"strategy\": \"%s\", \"group_size\": null, "
                   "\"block_structure\": %s, \"actorder\": null, \"dynamic\": false, "
                   "\"observer\": \"minmax\"}, \"input_activations\": null, "
                   "\"output_activations\": null}}, \"ignore\": [\"re:.*%.*s$\"",
                q->group ? "block" : "channel", q->group ? "[128, 128]" : "null",
                (int)(strlen(nm->router) - strlen(".weight")), nm->router);
        if (nm->shared_gate && zmoe_tensor_present(q->cfg, ZMOE_TENSOR_SHARED_GATE))
            fprintf(f, ", \"re:.*%.*s$\"", (int)(strlen(nm->shared_gate) - strlen(".weight")),
                    nm->shared_gate);
        fprintf(f, "]}");
        return;
    }
    fprintf(f, "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", "
               "\"quantization_status\": \"compressed\", \"config_groups\": {\"group_0\": "
               "{\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": %u, \"type\": \"int\", "
               "\"symmetric\": %s, \"strategy\": \"%s\", \"group_size\": ",
            q->bits, q->sym ? "true" : "false", q->group ? "group" : "channel");
    if (q->group)
        fprintf(f, "%u", q->group);
    else
        fprintf(f, "null");
    fprintf(f, ", \"block_structure\": null, \"actorder\": null, \"dynamic\": false, "
               "\"observer\": \"minmax\"}, \"input_activations\": null, "
               "\"output_activations\": null}}, \"ignore\": [\"re:.*%.*s$\"",
            (int)(strlen(nm->router) - strlen(".weight")), nm->router);
    /* ignore names modules (the linears), not their ".weight" parameters */
    if (nm->shared_gate && zmoe_tensor_present(q->cfg, ZMOE_TENSOR_SHARED_GATE))
        fprintf(f, ", \"re:.*%.*s$\"", (int)(strlen(nm->shared_gate) - strlen(".weight")),
                nm->shared_gate);
    fprintf(f, "]}");
}

static int sort_by_esize(const void *a, const void *b)
{
    /* 8-byte, then 4-, 2-, 1-byte elements: each tensor starts aligned to its own
     * element size without padding (safetensors allows no holes between tensors). */
    const struct otensor *x = a, *y = b;
    size_t ex = strcmp(x->dtype, "I64") == 0 ? 8 : (!strcmp(x->dtype, "I32") || !strcmp(x->dtype, "F32")) ? 4
                : !strcmp(x->dtype, "F8_E4M3") ? 1 : 2;
    size_t ey = strcmp(y->dtype, "I64") == 0 ? 8 : (!strcmp(y->dtype, "I32") || !strcmp(y->dtype, "F32")) ? 4
                : !strcmp(y->dtype, "F8_E4M3") ? 1 : 2;
    if (ex != ey)
        return ex > ey ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq; /* stable: by position in the plan */
}

static int write_header(struct qz *q, const struct names *nm, struct zmoe_error *err)
{
    char *h = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&h, &len);
    if (!f)
        return -1;
    char *qc = NULL;
    size_t qlen = 0;
    FILE *qf = open_memstream(&qc, &qlen);
    if (!qf) {
        fclose(f);
        free(h);
        return -1;
    }
    quantization_config(q, nm, qf);
    fclose(qf);
    fprintf(f, "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"zmoe quantize\","
               "\"quantization_config\":\"");
    json_escaped(f, qc);
    fprintf(f, "\"}");
    free(qc);
    for (size_t i = 0; i < q->n; i++) {
        const struct otensor *o = &q->t[i];
        fprintf(f, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu", o->name, o->dtype,
                (unsigned long long)o->shape[0]);
        if (o->ndim > 1)
            fprintf(f, ",%llu", (unsigned long long)o->shape[1]);
        fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)o->offset,
                (unsigned long long)(o->offset + o->bytes));
    }
    fprintf(f, "}");
    while ((8 + ftell(f)) % 8)
        fputc(' ', f);
    fclose(f);
    uint8_t lb[8];
    for (int i = 0; i < 8; i++)
        lb[i] = (uint8_t)((uint64_t)len >> (8 * i));
    int rc = pwrite_all(q->fd, lb, 8, 0) || pwrite_all(q->fd, h, len, 8) ? -1 : 0;
    if (rc)
        snprintf(err->msg, sizeof err->msg, "writing the header: %s", strerror(errno));
    q->data_start = 8 + len;
    free(h);
    return rc;
}

/* The family whose loader checks a synthetic config's router passes. */
static enum zmoe_weights_layout infer_layout(const struct zmoe_config *c)
{
    if (c->router.apply_router_weight_on_input)
        return ZMOE_LAYOUT_LLAMA4;
    if (c->router.score_correction_bias || c->router.groups > 1 ||
        c->router.routed_scaling_factor != 1.0f ||
        (c->model.shared_experts && !c->router.shared_expert_gate))
        return ZMOE_LAYOUT_DEEPSEEK;
    return ZMOE_LAYOUT_QWEN_MOE;
}

int cli_cmd_quantize(int argc, char **argv)
{
    struct cli_opt opts[] = {{"--format", CLI_OPT_STRING},
                             {"--group", CLI_OPT_U32, 0, 1u << 20},
                             {"--sym", CLI_OPT_FLAG},
                             {"--output", CLI_OPT_STRING},
                             {"--layout", CLI_OPT_STRING},
                             {NULL}};
    const char *pos[1] = {NULL};
    int npos;
    bool help;
    int rc = cli_parse("quantize", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(quantize_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1 || !opts[0].seen || !opts[3].seen) {
        cli_error("quantize", "expected CONFIG, --format and --output (see 'zmoe quantize --help')");
        return CLI_EXIT_USAGE;
    }
    struct qz q = {.fd = -1};
    if (!strcmp(opts[0].string, "int4"))
        q.bits = 4;
    else if (!strcmp(opts[0].string, "int8"))
        q.bits = 8;
    else if (!strcmp(opts[0].string, "fp8"))
        q.bits = 8, q.fp8 = true;
    else {
        cli_error("quantize", "--format: expected int4, int8 or fp8, found '%s'", opts[0].string);
        return CLI_EXIT_USAGE;
    }
    q.group = opts[1].seen ? opts[1].u32 : 128;
    q.sym = opts[2].flag || q.fp8; /* fp8 has no zero point */
    struct zmoe_config cfg;
    rc = cli_load_config("quantize", pos[0], &cfg);
    if (rc)
        return rc;
    if (cfg.quant.format != ZMOE_QUANT_NONE) {
        cli_error("quantize", "%s: [quant] format is %s: the experts are already quantized "
                  "(zmoe quantize reads float weights)", pos[0],
                  zmoe_config_quant_format_name(cfg.quant.format));
        return CLI_EXIT_USAGE;
    }
    q.layout = cfg.weights.file[0] ? cfg.weights.layout : infer_layout(&cfg);
    if (opts[4].seen) {
        static const struct {
            const char *name;
            enum zmoe_weights_layout l;
        } ls[] = {{"qwen_moe", ZMOE_LAYOUT_QWEN_MOE}, {"deepseek", ZMOE_LAYOUT_DEEPSEEK},
                  {"mixtral", ZMOE_LAYOUT_MIXTRAL}, {"llama4", ZMOE_LAYOUT_LLAMA4}};
        size_t k = 0;
        while (k < 4 && strcmp(ls[k].name, opts[4].string))
            k++;
        if (k == 4) {
            cli_error("quantize", "--layout: expected qwen_moe, deepseek, mixtral or llama4, "
                      "found '%s'", opts[4].string);
            return CLI_EXIT_USAGE;
        }
        q.layout = ls[k].l;
    }
    struct names nm;
    if (!layout_names(q.layout, &nm)) {
        cli_error("quantize", "%s: layout %s has fused expert tensors with no compressed-tensors "
                  "layout (GPT-OSS ships MXFP4: use its checkpoint with [quant] format mxfp4)",
                  pos[0], zmoe_config_layout_name(q.layout));
        return CLI_EXIT_USAGE;
    }
    if (cfg.model.shared_experts && !nm.shared) {
        cli_error("quantize", "%s: layout %s has no shared experts, the config has %u",
                  pos[0], zmoe_config_layout_name(q.layout), cfg.model.shared_experts);
        return CLI_EXIT_USAGE;
    }
    if (zmoe_tensor_present(&cfg, ZMOE_TENSOR_ROUTER_B) || zmoe_tensor_present(&cfg, ZMOE_TENSOR_B13) ||
        (cfg.router.shared_expert_gate && !nm.shared_gate)) {
        cli_error("quantize", "%s: the config has %s, which layout %s does not store", pos[0],
                  cfg.router.shared_expert_gate && !nm.shared_gate ? "a shared-expert gate"
                                                                   : "router or expert biases",
                  zmoe_config_layout_name(q.layout));
        return CLI_EXIT_USAGE;
    }
    q.scale_dt = cfg.dtype.weights; /* compressed-tensors keeps scales in the model dtype */

    /* The config that loads the output: checked before any work, so a group size that
     * does not divide the geometry is reported as the [quant] rule it breaks. */
    struct zmoe_config out = cfg;
    out.quant.format = q.fp8 ? ZMOE_QUANT_FP8 : q.bits == 4 ? ZMOE_QUANT_INT4 : ZMOE_QUANT_INT8;
    out.quant.packing = ZMOE_PACK_COMPRESSED_TENSORS;
    out.quant.group_size = q.group;
    out.quant.zero_points = !q.sym;
    out.quant.act_order = false;
    out.quant.scale_dtype = q.scale_dt == ZMOE_DTYPE_F32   ? ZMOE_SCALE_F32
                            : q.scale_dt == ZMOE_DTYPE_F16 ? ZMOE_SCALE_F16
                                                           : ZMOE_SCALE_BF16;
    out.quant.shared_experts = true;
    if (strlen(opts[3].string) >= 193) {
        cli_error("quantize", "--output: a path of at most 192 bytes (a config file's "
                  "weights.file), found %zu", strlen(opts[3].string));
        return CLI_EXIT_USAGE;
    }
    snprintf(out.weights.file, sizeof out.weights.file, "%s", opts[3].string);
    out.weights.layout = q.layout;
    out.weights.seed = 1;
    out.experts.gate_up_interleaved = false;
    /* weights.prefix stays: the output is written under it (or under the layout's usual
     * one), where the loader finds it. */
    const char *prefix = cfg.weights.prefix[0] ? cfg.weights.prefix
                         : q.layout == ZMOE_LAYOUT_LLAMA4 ? "language_model.model.layers."
                                                          : "model.layers.";
    struct zmoe_error err = {{0}};
    if (zmoe_config_validate(&out, &err) != ZMOE_OK) {
        cli_error("quantize", "%s: --format %s --group %u%s gives a config zmoe refuses: %s",
                  pos[0], opts[0].string, q.group, q.sym && !q.fp8 ? " --sym" : "", err.msg);
        return CLI_EXIT_USAGE;
    }
    q.cfg = &cfg;
    int status = CLI_EXIT_RUNTIME;
    uint8_t *staging = NULL;
    if (plan_tensors(&q, prefix)) {
        cli_error("quantize", "out of memory for the tensor list");
        goto done;
    }
    qsort(q.t, q.n, sizeof *q.t, sort_by_esize);
    uint64_t off = 0;
    for (size_t i = 0; i < q.n; i++)
        q.t[i].offset = off, off += q.t[i].bytes;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        if (zmoe_tensor_present(&cfg, (enum zmoe_tensor)t) &&
            !(q.buf[t] = malloc(zmoe_tensor_bytes(&cfg, (enum zmoe_tensor)t)))) {
            cli_error("quantize", "out of memory for one layer's %s (%llu bytes)",
                      zmoe_tensor_name((enum zmoe_tensor)t),
                      (unsigned long long)zmoe_tensor_bytes(&cfg, (enum zmoe_tensor)t));
            goto done;
        }
    q.fd = open(opts[3].string, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (q.fd < 0) {
        cli_error("quantize", "%s: %s", opts[3].string, strerror(errno));
        status = CLI_EXIT_USAGE;
        goto done;
    }
    if (write_header(&q, &nm, &err)) {
        cli_error("quantize", "%s: %s", opts[3].string, err.msg);
        goto done;
    }
    const size_t staging_size = 8u << 20;
    staging = malloc(staging_size);
    if (!staging) {
        cli_error("quantize", "out of memory for the staging buffer");
        goto done;
    }
    char report[256] = "";
    enum zmoe_status st = zmoe_weights_load(&cfg, staging, staging_size, sink, &q, report,
                                            sizeof report, &err);
    if (st == ZMOE_OK && q.have_layer)
        st = flush_layer(&q, &err);
    if (st != ZMOE_OK) {
        cli_error("quantize", "%s: %s", pos[0], err.msg);
        status = cli_exit_for(st);
        goto done;
    }
    if (ftruncate(q.fd, (off_t)(q.data_start + off)) != 0 || close(q.fd) != 0) {
        q.fd = -1;
        cli_error("quantize", "%s: %s", opts[3].string, strerror(errno));
        goto done;
    }
    q.fd = -1;
    char a[32];
    fprintf(stderr, "zmoe quantize: %s: %zu tensors, %s, %s %s group %u, %llu values; largest "
                    "rounding error %.4f of a %s step (<= 0.5)\n",
            opts[3].string, q.n, cli_human_bytes(q.data_start + off, a, sizeof a), opts[0].string,
            q.sym ? "symmetric" : "asymmetric", q.group, (unsigned long long)q.values,
            q.max_err_steps, q.fp8 ? "e4m3" : "scale");
    char header[600];
    snprintf(header, sizeof header,
             "zmoe config for %s, written by `zmoe quantize %s --format %s --group %u%s`:\n"
             "round-to-nearest compressed-tensors %s experts, layout %s.",
             opts[3].string, pos[0], opts[0].string, q.group, q.sym && !q.fp8 ? " --sym" : "",
             q.fp8 ? "float-quantized" : "pack-quantized",
             zmoe_config_layout_name(q.layout));
    if (zmoe_config_print_commented(&out, stdout, header, NULL, NULL, &err) != ZMOE_OK) {
        cli_error("quantize", "printing the config: %s", err.msg);
        goto done;
    }
    status = CLI_EXIT_OK;
done:
    if (q.fd >= 0)
        close(q.fd);
    free(staging);
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        free(q.buf[t]);
    for (size_t i = 0; i < q.n; i++)
        free(q.t[i].name);
    free(q.t);
    return status;
}
