/* zmoe quantize on -mini example configs (synthetic float weights): the file it writes
 * holds, under the layout's names, every per-expert linear as compressed-tensors
 * pack-quantized pieces of the right dtype and shape; decoding the codes from the
 * format's definition (written here again, not taken from cli/quantize.c) gives every
 * weight within half a scale step of the float weight zmoe_weights_synthetic gives; the
 * router, score bias and shared gate are the float tensors unchanged; the printed config
 * parses with the [quant] keys that describe the file and plans; bad arguments and
 * configs are refused naming what is wrong.
 *   test_cli_quantize ZMOE_EXE EXAMPLES_DIR */
#include "cli/st.h"
#include "config/config.h"
#include "tests/cli/cli_test.h"
#include "weights/weights.h"

#include <math.h>

static const char *exe, *examples;

static float scale_at(const struct st_tensor *t, uint64_t i)
{
    float v = 0;
    enum zmoe_dtype dt = !strcmp(t->dtype, "F32")   ? ZMOE_DTYPE_F32
                         : !strcmp(t->dtype, "F16") ? ZMOE_DTYPE_F16
                                                    : ZMOE_DTYPE_BF16;
    zmoe_dtype_convert(&v, ZMOE_DTYPE_F32, (const uint8_t *)t->data + i * zmoe_dtype_size(dt), dt,
                       1);
    return v;
}

static uint32_t word_at(const struct st_tensor *t, uint64_t i)
{
    uint32_t w;
    memcpy(&w, (const uint8_t *)t->data + i * 4, 4);
    return w;
}

struct check {
    int missing, bad_shape, bad_value;
    double worst; /* largest |w - dequantized| / (scale / 2) */
    char first[400];
};

static void note(struct check *k, const char *fmt, const char *name)
{
    if (!k->first[0])
        snprintf(k->first, sizeof k->first, fmt, name);
}

/* One linear: `base`.{weight_packed, weight_scale, weight_zero_point, weight_shape}
 * against kernel rows [row0, row0 + out) of tensor t (float values in w). */
static void check_linear(const struct st_file *f, const char *base, const float *w,
                         uint64_t row0, uint64_t out, uint64_t in, unsigned bits, uint64_t group,
                         bool sym, const char *scale_dtype, struct check *k)
{
    char name[320], msg[256];
    struct st_tensor packed, scale, zero, shape;
    const uint64_t per = 32 / bits, G = group ? group : in, ng = in / G;
    int rc[4];
    snprintf(name, sizeof name, "%s.weight_packed", base);
    rc[0] = st_find(f, name, &packed, msg, sizeof msg);
    snprintf(name, sizeof name, "%s.weight_scale", base);
    rc[1] = st_find(f, name, &scale, msg, sizeof msg);
    snprintf(name, sizeof name, "%s.weight_zero_point", base);
    rc[2] = st_find(f, name, &zero, msg, sizeof msg);
    snprintf(name, sizeof name, "%s.weight_shape", base);
    rc[3] = st_find(f, name, &shape, msg, sizeof msg);
    if (rc[0] || rc[1] || rc[3] || (sym ? rc[2] != 1 : rc[2] != 0)) {
        k->missing++;
        note(k, "%s: a piece is missing (or a zero point with --sym)", base);
        return;
    }
    int64_t sh[2];
    memcpy(sh, shape.data, sizeof sh);
    bool ok = !strcmp(packed.dtype, "I32") && packed.ndim == 2 && packed.shape[0] == out &&
              packed.shape[1] == in / per && !strcmp(scale.dtype, scale_dtype) &&
              scale.ndim == 2 && scale.shape[0] == out && scale.shape[1] == ng &&
              !strcmp(shape.dtype, "I64") && shape.ndim == 1 && shape.shape[0] == 2 &&
              sh[0] == (int64_t)out && sh[1] == (int64_t)in;
    if (!sym)
        ok = ok && !strcmp(zero.dtype, "I32") && zero.ndim == 2 &&
             zero.shape[0] == (out + per - 1) / per && zero.shape[1] == ng;
    if (!ok) {
        k->bad_shape++;
        note(k, "%s: a piece has the wrong dtype or shape", base);
        return;
    }
    const uint32_t mask = (1u << bits) - 1, offset = 1u << (bits - 1);
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++) {
            uint64_t g = c / G;
            uint32_t q = (word_at(&packed, o * (in / per) + c / per) >> ((c % per) * bits)) & mask;
            uint32_t z = sym ? offset
                             : (word_at(&zero, (o / per) * ng + g) >> ((o % per) * bits)) & mask;
            float s = scale_at(&scale, o * ng + g);
            float deq = ((float)q - (float)z) * s;
            float v = w[(row0 + o) * in + c];
            double e = fabs((double)v - (double)deq) / (0.5 * (double)s);
            if (e > k->worst)
                k->worst = e;
            if (!(s > 0) || e > 1.0 + 1e-5) {
                k->bad_value++;
                if (!k->first[0])
                    snprintf(k->first, sizeof k->first,
                             "%s [%llu][%llu]: float %g, code %u, zero %u, scale %g -> %g",
                             base, (unsigned long long)o, (unsigned long long)c, (double)v, q, z,
                             (double)s, (double)deq);
            }
        }
}

/* float8_e4m3fn from its definition: bias 7, 3 mantissa bits, exponent 0 subnormal. */
static float e4m3_decode(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    float v = e ? ldexpf(1.0f + (float)m / 8.0f, e - 7) : ldexpf((float)m, -9);
    return b & 0x80 ? -v : v;
}

/* fp8 linear: `base`.weight F8_E4M3 [out, in] and .weight_scale [out, 1] (channel) or
 * [out/128, in/128]; every weight within half an e4m3 step (|w|/16, or 2^-10 of the
 * scale among subnormals) of its float value. */
static void check_fp8(const struct st_file *f, const char *base, const float *w, uint64_t row0,
                      uint64_t out, uint64_t in, uint64_t block, const char *scale_dtype,
                      struct check *k)
{
    char name[320], msg[256];
    struct st_tensor wt, scale;
    snprintf(name, sizeof name, "%s.weight", base);
    int r0 = st_find(f, name, &wt, msg, sizeof msg);
    snprintf(name, sizeof name, "%s.weight_scale", base);
    int r1 = st_find(f, name, &scale, msg, sizeof msg);
    if (r0 || r1) {
        k->missing++;
        note(k, "%s: weight or weight_scale missing", base);
        return;
    }
    const uint64_t br = block ? block : 1, bc = block ? block : in;
    if (strcmp(wt.dtype, "F8_E4M3") || wt.ndim != 2 || wt.shape[0] != out || wt.shape[1] != in ||
        strcmp(scale.dtype, scale_dtype) || scale.ndim != 2 || scale.shape[0] != out / br ||
        scale.shape[1] != in / bc) {
        k->bad_shape++;
        note(k, "%s: a piece has the wrong dtype or shape", base);
        return;
    }
    for (uint64_t o = 0; o < out; o++)
        for (uint64_t c = 0; c < in; c++) {
            float s = scale_at(&scale, (o / br) * (in / bc) + c / bc);
            float deq = e4m3_decode(((const uint8_t *)wt.data)[o * in + c]) * s;
            float v = w[(row0 + o) * in + c];
            double half = fmax(fabs((double)v) / 16.0, (double)s / 1024.0);
            double e = fabs((double)v - (double)deq) / half;
            if (e > k->worst)
                k->worst = e;
            if (!(s > 0) || e > 1.0 + 1e-5) {
                k->bad_value++;
                if (!k->first[0])
                    snprintf(k->first, sizeof k->first, "%s [%llu][%llu]: float %g, scale %g -> %g",
                             base, (unsigned long long)o, (unsigned long long)c, (double)v,
                             (double)s, (double)deq);
            }
        }
}

/* A float tensor written as is: same values as the kernel tensor. */
static void check_raw(const struct st_file *f, const char *name, const float *w, uint64_t n,
                      struct check *k)
{
    char msg[256];
    struct st_tensor t;
    if (st_find(f, name, &t, msg, sizeof msg)) {
        k->missing++;
        note(k, "%s: missing", name);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        if (scale_at(&t, i) != w[i]) {
            k->bad_value++;
            note(k, "%s: a value differs from the float tensor", name);
            return;
        }
}

struct qcase {
    const char *conf, *format, *group, *layout; /* layout: --layout, NULL = default */
    bool sym;
    const char *names; /* the layout whose names to expect */
};

static void quantize_case(const struct qcase *qc, int idx)
{
    char conf[600];
    snprintf(conf, sizeof conf, "%s/%s", examples, qc->conf);
    struct zmoe_config cfg;
    struct zmoe_error err;
    if (zmoe_config_load(conf, &cfg, &err) != ZMOE_OK)
        tap_bail("%s", err.msg);
    char fname[64], cname[64];
    snprintf(fname, sizeof fname, "q%d.safetensors", idx);
    snprintf(cname, sizeof cname, "q%d.conf", idx);
    const char *file = cli_tmp_path(fname);
    struct cli_result r;
    if (qc->layout)
        r = qc->sym ? CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)qc->format,
                              "--group", (char *)qc->group, "--sym", "--layout",
                              (char *)qc->layout, "--output", (char *)file)
                    : CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)qc->format,
                              "--group", (char *)qc->group, "--layout", (char *)qc->layout,
                              "--output", (char *)file);
    else
        r = qc->sym ? CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)qc->format,
                              "--group", (char *)qc->group, "--sym", "--output", (char *)file)
                    : CLI_RUN((char *)exe, "quantize", conf, "--format", (char *)qc->format,
                              "--group", (char *)qc->group, "--output", (char *)file);
    const char *what = qc->conf;
    if (!TAP_OK(r.status == 0 && cli_has(r.err, "largest rounding error"),
                "%s: quantize --format %s --group %s%s exits 0", what, qc->format, qc->group,
                qc->sym ? " --sym" : ""))
        cli_diag(&r);
    /* the printed config: parses, names the file, [quant] describes it */
    struct zmoe_config out;
    bool parsed = zmoe_config_parse(r.out, strlen(r.out), "printed", &out, &err) == ZMOE_OK;
    const unsigned bits = !strcmp(qc->format, "int4") ? 4 : 8;
    const bool fp8 = !strcmp(qc->format, "fp8");
    const uint32_t group = (uint32_t)atoi(qc->group);
    enum zmoe_scale_dtype want_sd = cfg.dtype.weights == ZMOE_DTYPE_F32   ? ZMOE_SCALE_F32
                                    : cfg.dtype.weights == ZMOE_DTYPE_F16 ? ZMOE_SCALE_F16
                                                                          : ZMOE_SCALE_BF16;
    if (!TAP_OK(parsed && !strcmp(out.weights.file, file) &&
                    out.quant.format == (fp8 ? ZMOE_QUANT_FP8 : bits == 4 ? ZMOE_QUANT_INT4 : ZMOE_QUANT_INT8) &&
                    out.quant.packing == ZMOE_PACK_COMPRESSED_TENSORS &&
                    out.quant.group_size == group && out.quant.zero_points == !(qc->sym || fp8) &&
                    out.quant.scale_dtype == want_sd && !strcmp(zmoe_config_layout_name(out.weights.layout), qc->names) &&
                    out.model.hidden == cfg.model.hidden && out.model.experts == cfg.model.experts,
                "%s: the printed config parses: file, layout %s, [quant] %s compressed_tensors "
                "group %u %s", what, qc->names, qc->format, group,
                qc->sym || fp8 ? "sym" : "zero points"))
        tap_diag("%s\n%s", err.msg, r.out);
    cli_write_file(cli_tmp_path(cname), r.out, strlen(r.out));
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "plan", cli_tmp_path(cname));
    char qline[64];
    snprintf(qline, sizeof qline, "quantized experts: %s, packing compressed_tensors", qc->format);
    if (!TAP_OK(r.status == 0 && cli_has(r.out, qline),
                "%s: zmoe plan of the printed config", what))
        cli_diag(&r);
    cli_result_free(&r);

    struct st_file f;
    char msg[256] = "";
    if (!TAP_OK(st_read(file, &f, msg, sizeof msg) == 0, "%s: the file is a safetensors file (%s)",
                what, msg))
        return;
    TAP_OK(strstr(f.json, "\"__metadata__\"") && strstr(f.json, "compressed-tensors") &&
               strstr(f.json, fp8 ? "float-quantized" : "pack-quantized"),
           "%s: __metadata__ holds the compressed-tensors quantization_config", what);
    const char *prefix = !strcmp(qc->names, "llama4") ? "language_model.model.layers." : "model.layers.";
    const char *experts = !strcmp(qc->names, "llama4")    ? "feed_forward.experts"
                          : !strcmp(qc->names, "mixtral") ? "block_sparse_moe.experts"
                                                          : "mlp.experts";
    const char *const gud[3] = {"gate_proj", "up_proj", "down_proj"}, *const w13[3] = {"w1", "w3", "w2"};
    const char *const *proj = !strcmp(qc->names, "mixtral") ? w13 : gud;
    const char *shared = !strcmp(qc->names, "llama4")     ? "feed_forward.shared_expert"
                         : !strcmp(qc->names, "deepseek") ? "mlp.shared_experts"
                                                          : "mlp.shared_expert";
    const char *router = !strcmp(qc->names, "llama4")    ? "feed_forward.router.weight"
                         : !strcmp(qc->names, "mixtral") ? "block_sparse_moe.gate.weight"
                                                         : "mlp.gate.weight";
    const uint64_t E = cfg.model.experts, H = cfg.model.hidden, I = cfg.model.intermediate;
    const uint64_t S = (uint64_t)cfg.model.shared_experts * cfg.model.shared_intermediate;
    const char *sdt = cfg.dtype.weights == ZMOE_DTYPE_F32   ? "F32"
                      : cfg.dtype.weights == ZMOE_DTYPE_F16 ? "F16"
                                                            : "BF16";
    struct check k = {0};
    int linears = 0;
    for (uint32_t l = 0; l < cfg.model.layers; l++) {
        float *t[ZMOE_TENSOR_COUNT] = {0};
        for (int i = 0; i < ZMOE_TENSOR_COUNT; i++)
            if (zmoe_tensor_present(&cfg, (enum zmoe_tensor)i)) {
                uint64_t n = zmoe_tensor_elements(&cfg, (enum zmoe_tensor)i);
                t[i] = malloc(n * sizeof(float));
                zmoe_weights_synthetic(&cfg, l, (enum zmoe_tensor)i, 0, n, t[i]);
            }
        char base[300];
        for (uint64_t e = 0; e < E; e++)
            for (int p = 0; p < 3; p++, linears++) {
                snprintf(base, sizeof base, "%s%u.%s.%llu.%s", prefix, l, experts,
                         (unsigned long long)e, proj[p]);
                if (fp8 && p < 2)
                    check_fp8(&f, base, t[ZMOE_TENSOR_W13], e * 2 * I + (uint64_t)p * I, I, H,
                              group, sdt, &k);
                else if (fp8)
                    check_fp8(&f, base, t[ZMOE_TENSOR_W2], e * H, H, I, group, sdt, &k);
                else if (p < 2)
                    check_linear(&f, base, t[ZMOE_TENSOR_W13], e * 2 * I + (uint64_t)p * I, I, H,
                                 bits, group, qc->sym, sdt, &k);
                else
                    check_linear(&f, base, t[ZMOE_TENSOR_W2], e * H, H, I, bits, group, qc->sym,
                                 sdt, &k);
            }
        for (int p = 0; S && p < 3; p++, linears++) {
            snprintf(base, sizeof base, "%s%u.%s.%s", prefix, l, shared, gud[p]);
            if (fp8)
                check_fp8(&f, base, p < 2 ? t[ZMOE_TENSOR_SHARED_W13] : t[ZMOE_TENSOR_SHARED_W2],
                          p < 2 ? (uint64_t)p * S : 0, p < 2 ? S : H, p < 2 ? H : S, group, sdt, &k);
            else if (p < 2)
                check_linear(&f, base, t[ZMOE_TENSOR_SHARED_W13], (uint64_t)p * S, S, H, bits,
                             group, qc->sym, sdt, &k);
            else
                check_linear(&f, base, t[ZMOE_TENSOR_SHARED_W2], 0, H, S, bits, group, qc->sym,
                             sdt, &k);
        }
        snprintf(base, sizeof base, "%s%u.%s", prefix, l, router);
        check_raw(&f, base, t[ZMOE_TENSOR_ROUTER_W], E * H, &k);
        if (t[ZMOE_TENSOR_SCORE_BIAS]) {
            snprintf(base, sizeof base, "%s%u.mlp.gate.e_score_correction_bias", prefix, l);
            check_raw(&f, base, t[ZMOE_TENSOR_SCORE_BIAS], E, &k);
        }
        if (t[ZMOE_TENSOR_SHARED_GATE]) {
            snprintf(base, sizeof base, "%s%u.mlp.shared_expert_gate.weight", prefix, l);
            check_raw(&f, base, t[ZMOE_TENSOR_SHARED_GATE], H, &k);
        }
        for (int i = 0; i < ZMOE_TENSOR_COUNT; i++)
            free(t[i]);
    }
    /* The whole header: exactly the tensors checked above and nothing else. */
    uint64_t pieces = fp8 ? 2 : qc->sym ? 3 : 4;
    uint64_t want = cfg.model.layers * (linears / cfg.model.layers * pieces + 1 +
                                        (zmoe_tensor_present(&cfg, ZMOE_TENSOR_SCORE_BIAS) ? 1 : 0) +
                                        (zmoe_tensor_present(&cfg, ZMOE_TENSOR_SHARED_GATE) ? 1 : 0));
    int count = 0;
    for (const char *p = f.json; (p = strstr(p, "\"data_offsets\"")); p++)
        count++;
    TAP_OK(k.missing == 0 && k.bad_shape == 0 && (uint64_t)count == want,
           "%s: %d linears (%s names) with every piece at its dtype and shape; %d tensors in "
           "the file, %llu expected (%s)", what, linears, qc->names, count,
           (unsigned long long)want, k.first[0] ? k.first : "ok");
    TAP_OK(k.bad_value == 0 && k.worst > 0.5,
           "%s: every weight dequantizes within half a step (%s) of its float value (worst "
           "%.6f of it; %s); router and biases unchanged", what, fp8 ? "e4m3" : "scale/2", k.worst,
           k.first[0] ? k.first : "ok");
    st_free(&f);
}

static void errors(void)
{
    char conf[600], q[600];
    snprintf(conf, sizeof conf, "%s/qwen3-30b-a3b-mini.conf", examples);
    const char *file = cli_tmp_path("err.safetensors");
    struct cli_result r = CLI_RUN((char *)exe, "quantize", conf, "--format", "int3", "--output", (char *)file);
    TAP_OK(r.status == 2 && cli_has(r.err, "--format: expected int4, int8 or fp8, found 'int3'"),
           "--format int3: exit 2 naming the flag and value");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "quantize", conf, "--format", "int4", "--group", "48", "--output", (char *)file);
    TAP_OK(r.status == 2 && cli_has(r.err, "key 'quant.group_size'") && cli_has(r.err, "found '48'"),
           "--group 48: exit 2 naming quant.group_size and 48");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "quantize", conf, "--format", "int4");
    TAP_OK(r.status == 2 && cli_has(r.err, "expected CONFIG, --format and --output"),
           "no --output: exit 2");
    cli_result_free(&r);
    snprintf(q, sizeof q, "%s/llama4-scout-int4-mini.conf", examples);
    r = CLI_RUN((char *)exe, "quantize", q, "--format", "int4", "--output", (char *)file);
    TAP_OK(r.status == 2 && cli_has(r.err, "already quantized"),
           "a quantized config: exit 2, already quantized");
    cli_result_free(&r);
    snprintf(q, sizeof q, "%s/gpt-oss-20b-mini.conf", examples);
    r = CLI_RUN((char *)exe, "quantize", q, "--format", "int4", "--output", (char *)file);
    TAP_OK(r.status == 2 && cli_has(r.err, "router or expert biases"),
           "gpt-oss (biases, fused experts): exit 2 naming what the layout cannot store");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "quantize", conf, "--format", "int4", "--layout", "gpt_oss", "--output", (char *)file);
    TAP_OK(r.status == 2 && cli_has(r.err, "--layout: expected qwen_moe, deepseek, mixtral or llama4, found 'gpt_oss'"),
           "--layout gpt_oss: exit 2");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "quantize", conf, "--format", "int4", "--group", "32", "--output",
                "/nonexistent/dir/x.safetensors");
    TAP_OK(r.status == 2 && cli_has(r.err, "/nonexistent/dir/x.safetensors"),
           "an unwritable output: exit 2 naming it");
    cli_result_free(&r);
    r = CLI_RUN((char *)exe, "quantize", "--help");
    TAP_OK(r.status == 0 && cli_has(r.out, "usage: zmoe quantize CONFIG --format int4|int8|fp8"),
           "quantize --help");
    cli_result_free(&r);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    examples = argv[2];
    static const struct qcase cases[] = {
        {"qwen3-30b-a3b-mini.conf", "int4", "32", NULL, false, "qwen_moe"},
        {"llama4-scout-mini.conf", "int4", "128", NULL, true, "llama4"},
        {"deepseek-v3-mini.conf", "int8", "0", NULL, true, "deepseek"},
        {"mixtral-8x7b-mini.conf", "int4", "32", "mixtral", false, "mixtral"},
        {"qwen2-moe-mini.conf", "int8", "32", NULL, false, "qwen_moe"},
        {"llama4-scout-mini.conf", "fp8", "128", NULL, false, "llama4"},
        {"qwen3-30b-a3b-mini.conf", "fp8", "0", NULL, false, "qwen_moe"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        quantize_case(&cases[i], (int)i);
    errors();
    cli_tmp_cleanup();
    return tap_exit();
}
