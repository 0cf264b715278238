/* zmoe loads what zmoe quantize wrote: each mini config quantized to a compressed-tensors
 * checkpoint, then
 *  - the loader (zmoe_weights_load on the printed config) streams the device layout of
 *    weights/quant.h: decoding its codes, scales and zero points as that layout defines
 *    them gives every expert weight within half a scale step of the float weight, and
 *    the router equals the float router (needs the quantized loader, weights/st_*.c);
 *  - `zmoe run` on the printed config decodes through every layer with --check (the
 *    device against the plain-C reference on the dequantized weights; needs the
 *    quantized kernels and reference too: runtime/, kernels/, cli/check.c).
 *   test_cli_quantize_load ZMOE_EXE EXAMPLES_DIR */
#include "config/config.h"
#include "tests/cli/cli_test.h"
#include "weights/quant.h"
#include "weights/weights.h"

#include <math.h>

/* One layer's tensors as the loader streams them. */
struct collect {
    const struct zmoe_config *cfg;
    uint32_t layer;
    uint8_t *t[ZMOE_TENSOR_COUNT];
};

static enum zmoe_status collect(void *ctx, uint32_t layer, enum zmoe_tensor t, uint64_t offset,
                                const void *bytes, size_t size, struct zmoe_error *err)
{
    struct collect *c = ctx;
    (void)err;
    if (layer == c->layer && c->t[t] && offset + size <= zmoe_tensor_bytes(c->cfg, t))
        memcpy(c->t[t] + offset, bytes, size);
    return ZMOE_OK;
}

static float scale_of(const uint8_t *p, enum zmoe_scale_dtype dt)
{
    float v = 0;
    if (dt == ZMOE_SCALE_F32)
        memcpy(&v, p, 4);
    else
        zmoe_dtype_convert(&v, ZMOE_DTYPE_F32, p, dt == ZMOE_SCALE_F16 ? ZMOE_DTYPE_F16 : ZMOE_DTYPE_BF16, 1);
    return v;
}

/* Decodes quantized tensor t of layer 0 from the device layout and compares it with the
 * float config's synthetic weights; returns the number of weights off by more than
 * half a step (-1 when the tensor is not quantized), *worst the largest error / step. */
static long check_device(const struct zmoe_config *q, const struct zmoe_config *f,
                         const uint8_t *dev, enum zmoe_tensor t, double *worst)
{
    struct zmoe_qmatrix m;
    if (!zmoe_quant_matrix(q, t, &m) || m.has_perm)
        return -1;
    uint64_t n = m.rows * m.cols;
    float *w = malloc(n * sizeof *w);
    zmoe_weights_synthetic(f, 0, t, 0, n, w);
    const uint32_t per = 32 / m.bits, mask = (1u << m.bits) - 1;
    const uint32_t ss = zmoe_scale_size(m.scale_dtype);
    long bad = 0;
    for (uint64_t r = 0; r < m.rows; r++)
        for (uint64_t c = 0; c < m.cols; c++) {
            uint32_t word;
            memcpy(&word, dev + m.codes_offset + (r * (m.cols / per) + c / per) * 4, 4);
            uint32_t code = (word >> ((c % per) * m.bits)) & mask;
            uint64_t g = (r / m.row_block) * m.groups_per_row + c / m.group;
            float s = scale_of(dev + m.scales_offset + g * ss, m.scale_dtype);
            uint32_t z = m.has_zeros ? dev[m.zeros_offset + r * m.groups_per_row + c / m.group]
                                     : 1u << (m.bits - 1);
            double v = w[r * m.cols + c], e;
            if (m.format == ZMOE_QUANT_FP8) {
                /* e4m3fn: bias 7, 3 mantissa bits; half a step is |v|/16 (2^-10 of the
                 * scale among subnormals), expressed here as a fraction of 2 x that */
                int ex = (code >> 3) & 15, mt = code & 7;
                double x = ex ? ldexp(1.0 + mt / 8.0, ex - 7) : ldexp(mt, -9);
                if (code & 0x80)
                    x = -x;
                e = fabs(v - x * s) / (2 * fmax(fabs(v) / 16.0, s / 1024.0));
            } else {
                e = fabs(v - ((double)code - z) * s) / s;
            }
            if (e > *worst)
                *worst = e;
            bad += !(s > 0) || e > 0.5 * (1 + 1e-5);
        }
    free(w);
    return bad;
}

static const char *exe, *examples;

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    examples = argv[2];
    static const struct {
        const char *conf, *format, *group;
        bool sym;
    } cases[] = {
        {"qwen3-30b-a3b-mini.conf", "int4", "32", false},
        {"llama4-scout-mini.conf", "int4", "128", true},
        {"deepseek-v3-mini.conf", "int8", "0", true},
        {"qwen2-moe-mini.conf", "int8", "32", false},
        {"llama4-scout-mini.conf", "fp8", "128", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char conf[600], fname[64], cname[64];
        snprintf(conf, sizeof conf, "%s/%s", examples, cases[i].conf);
        snprintf(fname, sizeof fname, "l%zu.safetensors", i);
        snprintf(cname, sizeof cname, "l%zu.conf", i);
        const char *file = cli_tmp_path(fname);
        struct cli_result r =
            cases[i].sym ? CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)cases[i].format,
                                   "--group", (char *)cases[i].group, "--sym", "--output", (char *)file)
                         : CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)cases[i].format,
                                   "--group", (char *)cases[i].group, "--output", (char *)file);
        if (!TAP_OK(r.status == 0, "%s: quantize %s group %s", cases[i].conf, cases[i].format,
                    cases[i].group))
            cli_diag(&r);
        const char *qconf = cli_tmp_path(cname);
        cli_write_file(qconf, r.out, strlen(r.out));
        cli_result_free(&r);
        /* the loader's device layout */
        struct zmoe_config fc, qc;
        struct zmoe_error err = {{0}};
        if (zmoe_config_load(conf, &fc, &err) != ZMOE_OK || zmoe_config_load(qconf, &qc, &err) != ZMOE_OK)
            tap_bail("%s", err.msg);
        struct collect col = {.cfg = &qc, .layer = 0};
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            if (zmoe_tensor_present(&qc, (enum zmoe_tensor)t))
                col.t[t] = calloc(1, zmoe_tensor_bytes(&qc, (enum zmoe_tensor)t));
        size_t staging_size = 4u << 20;
        void *staging = malloc(staging_size);
        enum zmoe_status st = zmoe_weights_load(&qc, staging, staging_size, collect, &col, NULL, 0, &err);
        if (!TAP_OK(st == ZMOE_OK, "%s: the loader reads the quantized checkpoint (%s)",
                    cases[i].conf, err.msg))
            tap_diag("%s", err.msg);
        double worst = 0;
        long bad = 0;
        int quantized = 0;
        for (int t = 0; st == ZMOE_OK && t < ZMOE_TENSOR_COUNT; t++) {
            long b = col.t[t] ? check_device(&qc, &fc, col.t[t], (enum zmoe_tensor)t, &worst) : -1;
            if (b >= 0)
                quantized++, bad += b;
        }
        TAP_OK(st == ZMOE_OK && quantized >= 2 && bad == 0 && worst > 0.25,
               "%s: %d quantized tensors of layer 0 in the device layout decode within scale/2 "
               "of the float weights (%ld off, worst %.4f step)", cases[i].conf, quantized, bad,
               worst);
        uint64_t rn = zmoe_tensor_elements(&qc, ZMOE_TENSOR_ROUTER_W);
        float *router = malloc(rn * sizeof *router), *got = malloc(rn * sizeof *got);
        zmoe_weights_synthetic(&fc, 0, ZMOE_TENSOR_ROUTER_W, 0, rn, router);
        zmoe_dtype_convert(got, ZMOE_DTYPE_F32, col.t[ZMOE_TENSOR_ROUTER_W], qc.dtype.weights, rn);
        TAP_OK(st == ZMOE_OK && memcmp(router, got, rn * sizeof *got) == 0,
               "%s: the router is the float router", cases[i].conf);
        free(router);
        free(got);
        free(staging);
        for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
            free(col.t[t]);
        r = CLI_RUN((char *)exe, "run", (char *)qconf, "--steps", "2", "--tokens", "4", "--check");
        if (!TAP_OK(r.status == 0 && cli_has(r.out, ": PASS") && !cli_has(r.out, "FAIL"),
                    "%s: zmoe run --check of the quantized checkpoint passes", cases[i].conf))
            cli_diag(&r);
        cli_result_free(&r);
    }
    cli_tmp_cleanup();
    return tap_exit();
}
