#include "cli/check.h"
#include "cli/cli.h"
#include "weights/weights.h"
#include "weights/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference/moe_ref.h"

/* f32 bytes of one layer's weights as the reference sees them. */
static uint64_t layer_f32_bytes(const struct zmoe_config *cfg)
{
    uint64_t sum = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        if (zmoe_tensor_present(cfg, (enum zmoe_tensor)t))
            sum += zmoe_tensor_elements(cfg, (enum zmoe_tensor)t) * sizeof(float);
    return sum;
}

/* File weights reach the reference through the same streaming reader the runtime
 * uses (only way to get the kernel layout), converted to f32 chunk by chunk. */
struct sink_ctx {
    uint32_t layer;
    struct zmoe_ref_weights *w;
    const struct zmoe_config *cfg;
    unsigned char *raw[ZMOE_TENSOR_COUNT]; /* quantized tensors' device-layout bytes */
};

static enum zmoe_status sink_f32(void *ctx, uint32_t layer, enum zmoe_tensor t, uint64_t offset,
                                 const void *bytes, size_t size, struct zmoe_error *err)
{
    struct sink_ctx *c = ctx;
    if (layer != c->layer)
        return ZMOE_OK;
    struct zmoe_qmatrix q;
    if (zmoe_quant_matrix(c->cfg, t, &q)) {
        /* quantized: the device-layout bytes as they arrive; dequantized once whole */
        if (offset > q.bytes || size > q.bytes - offset) {
            snprintf(err->msg, sizeof err->msg, "reference: chunk of %s outside its tensor",
                     zmoe_tensor_name(t));
            return ZMOE_ERR_WEIGHTS;
        }
        memcpy(c->raw[t] + offset, bytes, size);
        return ZMOE_OK;
    }
    enum zmoe_dtype dt = zmoe_tensor_dtype(c->cfg, t);
    size_t es = zmoe_dtype_size(dt);
    uint64_t n = zmoe_tensor_elements(c->cfg, t);
    if (offset % es || size % es || offset / es + size / es > n) {
        snprintf(err->msg, sizeof err->msg, "reference: chunk of %s not element-aligned",
                 zmoe_tensor_name(t));
        return ZMOE_ERR_WEIGHTS;
    }
    zmoe_dtype_convert((float *)c->w->tensor[t] + offset / es, ZMOE_DTYPE_F32, bytes, dt,
                       size / es);
    return ZMOE_OK;
}

static int file_weights(const struct zmoe_config *cfg, uint32_t layer, struct zmoe_ref_weights *w,
                        char *why, size_t why_size)
{
    memset(w, 0, sizeof *w);
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (!zmoe_tensor_present(cfg, (enum zmoe_tensor)t))
            continue;
        w->tensor[t] = calloc(zmoe_tensor_elements(cfg, (enum zmoe_tensor)t), sizeof(float));
        if (!w->tensor[t]) {
            snprintf(why, why_size, "out of memory for the reference weights");
            return -1;
        }
    }
    size_t staging_size = 8u << 20;
    void *staging = malloc(staging_size);
    struct sink_ctx ctx = {layer, w, cfg, {0}};
    struct zmoe_error err = {{0}};
    enum zmoe_status st = staging ? ZMOE_OK : ZMOE_ERR_NO_MEMORY;
    struct zmoe_qmatrix q[ZMOE_TENSOR_COUNT];
    bool quant[ZMOE_TENSOR_COUNT];
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        quant[t] = zmoe_quant_matrix(cfg, (enum zmoe_tensor)t, &q[t]);
        if (quant[t] && st == ZMOE_OK && !(ctx.raw[t] = calloc(1, (size_t)q[t].bytes)))
            st = ZMOE_ERR_NO_MEMORY;
    }
    if (st == ZMOE_OK)
        st = zmoe_weights_load(cfg, staging, staging_size, sink_f32, &ctx, NULL, 0, &err);
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
        if (quant[t] && st == ZMOE_OK) /* the format's definition, weights/quant.c */
            zmoe_quant_dequant_rows(&q[t], ctx.raw[t], 0, q[t].rows, (float *)w->tensor[t]);
        free(ctx.raw[t]);
    }
    free(staging);
    if (st != ZMOE_OK) {
        snprintf(why, why_size, "reading the weights for the reference: %.200s", err.msg);
        return -1;
    }
    return 0;
}

static void free_weights(struct zmoe_ref_weights *w)
{
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        free((void *)w->tensor[t]);
    memset(w, 0, sizeof *w);
}

int cli_check_layers(const struct zmoe_config *cfg, uint32_t layers, uint32_t tokens,
                     const float *x_in, const float *y_dev, struct cli_check_result *r)
{
    memset(r, 0, sizeof *r);
    /* Tolerances on max_rel: f32 end to end differs only in summation order; f16/bf16
     * round the activations between stages (about 2^-11 / 2^-8 relative each). */
    double tol_w = cfg->dtype.weights == ZMOE_DTYPE_F32 ? 1e-4 : 1e-3;
    double tol_a = cfg->dtype.activations == ZMOE_DTYPE_F32 ? 1e-4
                   : cfg->dtype.activations == ZMOE_DTYPE_F16 ? 2e-3 : 1e-2;
    r->tolerance = tol_w > tol_a ? tol_w : tol_a;

    uint64_t per_layer = layer_f32_bytes(cfg);
    uint32_t n = 1;
    while (n < layers && (uint64_t)(n + 1) * per_layer <= (1ull << 30))
        n++;
    size_t row = (size_t)tokens * cfg->model.hidden;
    float *y_ref = malloc(row * sizeof(float));
    if (!y_ref) {
        snprintf(r->why, sizeof r->why, "out of memory");
        return CLI_EXIT_RUNTIME;
    }
    for (uint32_t l = 0; l < n; l++) {
        struct zmoe_ref_weights w;
        bool synthetic = !cfg->weights.file[0];
        if (synthetic) {
            if (zmoe_ref_weights_synthetic(cfg, l, &w) != 0) {
                snprintf(r->why, sizeof r->why, "reference weights for layer %u failed", l);
                free(y_ref);
                return CLI_EXIT_RUNTIME;
            }
        } else if (file_weights(cfg, l, &w, r->why, sizeof r->why) != 0) {
            free_weights(&w);
            free(y_ref);
            return CLI_EXIT_RUNTIME;
        }
        zmoe_ref_forward(cfg, &w, x_in + l * row, tokens, ZMOE_REF_AS_CONFIGURED, y_ref, NULL,
                         NULL);
        if (synthetic)
            zmoe_ref_weights_free(&w);
        else
            free_weights(&w);
        for (size_t i = 0; i < row; i++) {
            double d = fabs((double)y_dev[l * row + i] - (double)y_ref[i]);
            if (!(d <= r->max_abs)) { /* also catches NaN */
                r->max_abs = isnan(d) ? INFINITY : d;
                r->worst_layer = l;
            }
            if (fabs((double)y_ref[i]) > r->max_ref)
                r->max_ref = fabs((double)y_ref[i]);
        }
    }
    free(y_ref);
    r->layers_checked = n;
    r->max_rel = r->max_ref > 0 ? r->max_abs / r->max_ref : r->max_abs;
    return CLI_EXIT_OK;
}
