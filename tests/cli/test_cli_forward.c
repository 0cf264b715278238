/* zmoe forward round trip: write hidden states from here, run one layer through the
 * binary, read y back: shape, dtype, determinism, values against the reference MoE,
 * chunking beyond max_tokens, f16 input, and malformed inputs. */
#include "cli/st.h"
#include "tests/cli/cli_test.h"
#include "reference/moe_ref.h"

#include <math.h>

static const char *exe, *conf;
static struct zmoe_config cfg;

static const char *act_st(void)
{
    return cfg.dtype.activations == ZMOE_DTYPE_F32 ? "F32"
           : cfg.dtype.activations == ZMOE_DTYPE_F16 ? "F16" : "BF16";
}

static void write_x(const char *path, const char *dtype, const void *data, uint64_t t,
                    uint64_t h, size_t esize, const char *name)
{
    struct st_tensor x = {.ndim = 2, .shape = {t, h}, .data = data, .bytes = t * h * esize};
    snprintf(x.name, sizeof x.name, "%s", name);
    snprintf(x.dtype, sizeof x.dtype, "%s", dtype);
    char msg[256];
    if (st_write(path, &x, 1, msg, sizeof msg) != 0)
        tap_bail("%s", msg);
}

/* max |y - ref| / max |ref| over [t][h]; y read from the forward output. The reference's
 * topk_ids / topk_weights [t][K] go to ref_ids / ref_w when not NULL. */
static double compare(const struct st_tensor *y, const float *x, uint32_t t, uint32_t layer,
                      uint32_t *ref_ids, float *ref_w)
{
    uint32_t h = cfg.model.hidden;
    float *xr = malloc((size_t)t * h * sizeof *xr), *ref = malloc((size_t)t * h * sizeof *ref),
          *yf = malloc((size_t)t * h * sizeof *yf);
    /* The device sees x rounded to the activation dtype; so does the reference. */
    void *tmp = malloc((size_t)t * h * 4);
    zmoe_dtype_convert(tmp, cfg.dtype.activations, x, ZMOE_DTYPE_F32, (size_t)t * h);
    zmoe_dtype_convert(xr, ZMOE_DTYPE_F32, tmp, cfg.dtype.activations, (size_t)t * h);
    zmoe_dtype_convert(yf, ZMOE_DTYPE_F32, y->data, cfg.dtype.activations, (size_t)t * h);
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(&cfg, layer, &w) != 0)
        tap_bail("reference weights");
    zmoe_ref_forward(&cfg, &w, xr, t, ZMOE_REF_AS_CONFIGURED, ref, ref_ids, ref_w);
    zmoe_ref_weights_free(&w);
    double max_abs = 0, max_ref = 0;
    for (size_t i = 0; i < (size_t)t * h; i++) {
        double d = fabs((double)yf[i] - ref[i]);
        max_abs = d > max_abs || isnan(d) ? (isnan(d) ? INFINITY : d) : max_abs;
        max_ref = fabs(ref[i]) > max_ref ? fabs(ref[i]) : max_ref;
    }
    free(xr);
    free(ref);
    free(yf);
    free(tmp);
    return max_ref > 0 ? max_abs / max_ref : INFINITY;
}

static struct cli_result forward(const char *in, const char *out, const char *layer)
{
    return CLI_RUN((char *)exe, "forward", (char *)conf, "--input", (char *)in, "--output",
                   (char *)out, "--layer", (char *)layer);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: %s ZMOE_EXE EXAMPLES_DIR", argv[0]);
    exe = argv[1];
    static char path[600];
    snprintf(path, sizeof path, "%s/default.conf", argv[2]);
    conf = path;
    struct zmoe_error err;
    if (zmoe_config_load(conf, &cfg, &err) != ZMOE_OK)
        tap_bail("%s", err.msg);
    if (cfg.weights.file[0])
        tap_bail("%s: the test expects synthetic weights", conf);
    uint32_t h = cfg.model.hidden, t = 2 * cfg.runtime.max_tokens + 3; /* three chunks */
    uint32_t layer = cfg.model.layers > 1 ? 1 : 0;
    char layer_s[16];
    snprintf(layer_s, sizeof layer_s, "%u", layer);
    double tol = cfg.dtype.activations == ZMOE_DTYPE_F32 ? 1e-4
                 : cfg.dtype.activations == ZMOE_DTYPE_F16 ? 2e-3 : 1e-2;

    float *x = malloc((size_t)t * h * sizeof *x);
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)t * h; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)(s >> 8) / (1 << 24) * 2.0 - 1.0);
    }
    const char *xin = cli_tmp_path("x.safetensors"), *y1 = cli_tmp_path("y1.safetensors"),
               *y2 = cli_tmp_path("y2.safetensors");
    write_x(xin, "F32", x, t, h, 4, "x");

    struct cli_result r = forward(xin, y1, layer_s);
    if (!TAP_OK(r.status == 0 && cli_has(r.out, y1), "forward %u tokens (3 chunks) succeeds", t))
        cli_diag(&r);
#ifdef ZMOE_HAVE_SLOT_ROUTING
    TAP_OK(cli_has(r.out, "topk_ids, topk_weights") && !cli_has(r.err, "not written"),
           "forward reports topk_ids and topk_weights written, no 'not written' note");
#endif
    cli_result_free(&r);
    r = forward(xin, y2, layer_s);
    cli_result_free(&r);
    size_t n1 = 0, n2 = 0;
    char *b1 = cli_read_file(y1, &n1), *b2 = cli_read_file(y2, &n2);
    TAP_OK(b1 && b2 && n1 == n2 && n1 > 0 && !memcmp(b1, b2, n1),
           "same input twice gives identical output bytes");
    free(b1);
    free(b2);

    struct st_file f;
    struct st_tensor y;
    char msg[512];
    bool read = st_read(y1, &f, msg, sizeof msg) == 0;
    if (!TAP_OK(read && st_find(&f, "y", &y, msg, sizeof msg) == 0, "output has tensor 'y'"))
        tap_diag("%s", msg);
    if (read && y.data) {
        TAP_OK(y.ndim == 2 && y.shape[0] == t && y.shape[1] == h, "y is [%u, %u]", t, h);
        TAP_OK(!strcmp(y.dtype, act_st()), "y has the activation dtype %s (got %s)", act_st(),
               y.dtype);
        uint32_t k = cfg.model.top_k;
        uint32_t *ref_ids = calloc((size_t)t * k, sizeof *ref_ids);
        float *ref_w = calloc((size_t)t * k, sizeof *ref_w);
        double rel = compare(&y, x, t, layer, ref_ids, ref_w);
        TAP_OK(rel <= tol, "y matches the reference MoE of layer %u (rel error %.3g <= %.1g)",
               layer, rel, tol);
        struct st_tensor ids, wts;
#ifdef ZMOE_HAVE_SLOT_ROUTING
        bool have_ids = st_find(&f, "topk_ids", &ids, msg, sizeof msg) == 0 && ids.ndim == 2 &&
                        ids.shape[0] == t && ids.shape[1] == k && !strcmp(ids.dtype, "I32");
        TAP_OK(have_ids, "topk_ids is [%u, %u] I32", t, k);
        bool have_w = st_find(&f, "topk_weights", &wts, msg, sizeof msg) == 0 && wts.ndim == 2 &&
                      wts.shape[0] == t && wts.shape[1] == k && !strcmp(wts.dtype, "F32");
        TAP_OK(have_w, "topk_weights is [%u, %u] F32", t, k);
        /* Every chunk's routing, in token order, equal to the reference's. */
        bool ids_eq = have_ids, w_eq = have_w;
        double wrel = 0;
        for (size_t i = 0; i < (size_t)t * k; i++) {
            if (have_ids) {
                int32_t id;
                memcpy(&id, (const char *)ids.data + i * 4, 4);
                if (id < 0 || (uint32_t)id != ref_ids[i]) {
                    if (ids_eq)
                        tap_diag("topk_ids[%zu][%zu] = %d, reference %u", i / k, i % k, id,
                                 ref_ids[i]);
                    ids_eq = false;
                }
            }
            if (have_w) {
                float v;
                memcpy(&v, (const char *)wts.data + i * 4, 4);
                double d = fabs((double)v - ref_w[i]) / (fabs(ref_w[i]) > 1e-30 ? fabs(ref_w[i]) : 1e-30);
                wrel = isnan(v) ? INFINITY : d > wrel ? d : wrel;
            }
        }
        TAP_OK(ids_eq, "topk_ids equal the reference's over all %u tokens (3 chunks)", t);
        TAP_OK(w_eq && wrel <= 1e-5,
               "topk_weights equal the reference's%s (rel %.2g)",
               cfg.router.apply_router_weight_on_input ? " (on-input: the weights that scaled x)" : "",
               wrel);
#else
        TAP_OK(st_find(&f, "topk_ids", &ids, msg, sizeof msg) == 1,
               "no topk_ids without a routing readback in the public API");
        (void)wts;
#endif
        free(ref_ids);
        free(ref_w);
        st_free(&f);
    }

    /* f16 input: converted on the way in, same semantics. */
    uint16_t *x16 = malloc((size_t)t * h * 2);
    float *x16f = malloc((size_t)t * h * sizeof *x16f);
    for (size_t i = 0; i < (size_t)t * h; i++) {
        x16[i] = zmoe_f32_to_f16(x[i]);
        x16f[i] = zmoe_f16_to_f32(x16[i]);
    }
    const char *xin16 = cli_tmp_path("x16.safetensors");
    write_x(xin16, "F16", x16, t, h, 2, "x");
    r = forward(xin16, y1, "0");
    if (!TAP_OK(r.status == 0, "forward with an F16 input succeeds"))
        cli_diag(&r);
    cli_result_free(&r);
    if (st_read(y1, &f, msg, sizeof msg) == 0 && st_find(&f, "y", &y, msg, sizeof msg) == 0) {
        double rel = compare(&y, x16f, t, 0, NULL, NULL);
        TAP_OK(rel <= tol, "F16 input: y matches the reference of layer 0 (rel %.3g)", rel);
        st_free(&f);
    } else {
        TAP_OK(0, "F16 input: output readable (%s)", msg);
    }

    /* Malformed inputs: exit 2 with the reason. */
    const char *bad = cli_tmp_path("bad.safetensors");
    write_x(bad, "F32", x, t, h, 4, "hidden");
    r = forward(bad, y2, "0");
    TAP_OK(r.status == 2 && cli_has(r.err, "no tensor named 'x'"), "input without 'x': exit 2");
    cli_result_free(&r);
    write_x(bad, "F32", x, 1, (uint64_t)t * h, 4, "x"); /* [1, T*H]: wrong hidden size */
    r = forward(bad, y2, "0");
    TAP_OK(r.status == 2 && cli_has(r.err, "must be [T,"), "x of the wrong shape: exit 2");
    cli_result_free(&r);
    write_x(bad, "I32", x, t, h, 4, "x");
    r = forward(bad, y2, "0");
    TAP_OK(r.status == 2 && cli_has(r.err, "I32"), "x of dtype I32: exit 2 naming it");
    cli_result_free(&r);
    cli_write_file(bad, "\xff\xff\xff\xff\xff\xff\xff\x7fjunk", 12);
    r = forward(bad, y2, "0");
    TAP_OK(r.status == 2 && cli_has(r.err, bad), "not a safetensors file: exit 2 naming it");
    cli_result_free(&r);
    r = forward(xin, "/nonexistent/dir/y.safetensors", "0");
    TAP_OK(r.status == 2 && cli_has(r.err, "/nonexistent/dir/y.safetensors"),
           "unwritable output: exit 2 naming it");
    cli_result_free(&r);

    free(x);
    free(x16);
    free(x16f);
    cli_tmp_cleanup();
    return tap_exit();
}
