/* Quantized expert weights on hostdev, through the public API: synthetic device-layout
 * weights (weights/weights.c) run by the quantized expert kernels against the reference
 * MoE on the same bytes dequantized by the format's definition (weights/quant.c).
 * Per format and variant: int4 / int8 symmetric, asymmetric (zero points), act-order,
 * both (int only); fp8 e4m3fn per channel and in 128x128 blocks; mxfp4 with e8m0 scales.
 * Each variant runs four configs covering every pair of top_k 1 / 3, on-input routing
 * on / off and a shared expert quantized / float (dtype.weights), with T = 1, 5 and
 * max_tokens on one runtime; the kernel split comes from the environment (meson runs
 * this once per split: spans, and interleaved 16-byte chunks with 16 and 32 lanes).
 * After init nothing allocates (the T loop's calls are counted).
 * Tolerances (max |y - ref| / max |ref|): the reference multiplies the exact dequantized
 * f32 values the kernels decode, so every format differs only in summation order and in
 * where the scale is applied (kernels: once per 16-byte chunk of one group): 3e-5 for
 * int4, int8, fp8 and mxfp4 with f32 activations; 1e-2 with bf16 activations (y rounded
 * to bf16). */
#include "rt_util.h"
#include "rt_count.h"
#include "weights/quant.h"

#include <stdio.h>

struct variant {
    const char *name;
    enum zmoe_quant_format format;
    uint32_t group;
    bool zeros, act_order;
    enum zmoe_scale_dtype sdt;
    uint32_t H, I; /* 0: base geometry (64, 32) */
};

static const struct variant variants[] = {
    {"int4 sym g32 f16", ZMOE_QUANT_INT4, 32, false, false, ZMOE_SCALE_F16, 0, 0},
    {"int4 asym g32 bf16", ZMOE_QUANT_INT4, 32, true, false, ZMOE_SCALE_BF16, 0, 0},
    {"int4 act-order g32 f32", ZMOE_QUANT_INT4, 32, false, true, ZMOE_SCALE_F32, 0, 0},
    {"int4 asym act-order g32", ZMOE_QUANT_INT4, 32, true, true, ZMOE_SCALE_BF16, 0, 0},
    {"int4 asym per-channel", ZMOE_QUANT_INT4, 0, true, false, ZMOE_SCALE_F16, 0, 0},
    {"int4 sym g64 H=128 I=64", ZMOE_QUANT_INT4, 64, false, false, ZMOE_SCALE_F16, 128, 64},
    {"int8 sym per-channel", ZMOE_QUANT_INT8, 0, false, false, ZMOE_SCALE_F32, 0, 0},
    {"int8 asym g32", ZMOE_QUANT_INT8, 32, true, false, ZMOE_SCALE_F16, 0, 0},
    {"int8 act-order g32", ZMOE_QUANT_INT8, 32, false, true, ZMOE_SCALE_BF16, 0, 0},
    {"fp8 per-channel f32", ZMOE_QUANT_FP8, 0, false, false, ZMOE_SCALE_F32, 0, 0},
    {"fp8 128x128 blocks bf16", ZMOE_QUANT_FP8, 128, false, false, ZMOE_SCALE_BF16, 128, 128},
    {"mxfp4 e8m0", ZMOE_QUANT_MXFP4, 32, false, false, ZMOE_SCALE_E8M0, 0, 0},
};

struct shape {
    uint32_t top_k;
    bool on_input, shared_q;
    enum zmoe_dtype wdt, adt; /* router / float shared expert, activations */
};

/* every pair of (top_k, on_input, shared) values appears */
static const struct shape shapes[] = {
    {1, false, true, ZMOE_DTYPE_F32, ZMOE_DTYPE_F32},
    {3, true, true, ZMOE_DTYPE_F16, ZMOE_DTYPE_F32},
    {3, false, false, ZMOE_DTYPE_BF16, ZMOE_DTYPE_F32},
    {1, true, false, ZMOE_DTYPE_F32, ZMOE_DTYPE_BF16},
};

static struct zmoe_config config_of(const struct variant *v, const struct shape *s)
{
    struct zmoe_config c = rt_base_config();
    if (v->H) {
        c.model.hidden = v->H;
        c.model.intermediate = v->I;
    }
    c.model.top_k = s->top_k;
    c.model.shared_experts = 1;
    c.model.shared_intermediate = v->I ? v->I : 32;
    c.router.shared_expert_gate = true;
    if (s->on_input) { /* Llama 4's routing */
        c.router.scoring = ZMOE_SCORING_SIGMOID;
        c.router.renormalize = false;
        c.router.apply_router_weight_on_input = true;
    }
    c.dtype.weights = s->wdt;
    c.dtype.activations = s->adt;
    c.runtime.max_tokens = 8;
    c.quant.format = v->format;
    c.quant.group_size = v->group;
    c.quant.zero_points = v->zeros;
    c.quant.act_order = v->act_order;
    c.quant.scale_dtype = v->sdt;
    c.quant.shared_experts = s->shared_q;
    return c;
}

/* rt_forward with zmoe's own calls counted (rt_count.h: mallocs inside RT_IN). */
static enum zmoe_status rt_forward_counted(struct zmoe_runtime *rt, const struct zmoe_config *c,
                                           const float *x, uint32_t tokens, float *y)
{
    struct zmoe_error err = {{0}};
    struct zmoe_slot slot;
    enum zmoe_status st = RT_IN(zmoe_slot_acquire(rt, &slot, &err));
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                           (size_t)tokens * c->model.hidden);
        st = RT_IN(zmoe_submit(rt, &slot, 0, tokens, &err));
    }
    if (!st)
        st = RT_IN(zmoe_wait(rt, &slot, UINT64_MAX, &err));
    if (st) {
        tap_diag("forward: %s: %s", zmoe_status_str(st), err.msg);
        return st;
    }
    zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, c->dtype.activations,
                       (size_t)tokens * c->model.hidden);
    return ZMOE_OK;
}

static void run_variant(const struct variant *v, const struct shape *s, uint64_t seed)
{
    struct zmoe_config c = config_of(v, s);
    char what[160];
    snprintf(what, sizeof what, "%s, top_k %u, on-input %s, shared %s (%s)", v->name, s->top_k,
             s->on_input ? "on" : "off", s->shared_q ? "quantized" : "float",
             zmoe_dtype_name(s->wdt));
    struct zmoe_error err = {{0}};
    enum zmoe_status vs = zmoe_config_validate(&c, &err);
    TAP_OK(vs == ZMOE_OK, "%s: the config is valid%s%s", what, vs ? ": " : "", vs ? err.msg : "");
    struct zmoe_runtime *rt = vs == ZMOE_OK ? rt_create(&c, what) : NULL;
    TAP_OK(rt != NULL, "%s: runtime created, weights loaded", what);
    if (!rt)
        return;
    struct zmoe_ref_weights w;
    if (zmoe_ref_weights_synthetic(&c, 0, &w) != 0)
        tap_bail("out of memory for the reference weights");
    const uint32_t Ts[3] = {1, 5, c.runtime.max_tokens};
    for (int i = 0; i < 3; i++) {
        const uint32_t T = Ts[i];
        const size_t n = (size_t)T * c.model.hidden;
        float *x = rt_inputs(&c, T, seed + i), *y = calloc(n, sizeof *y), *ref = calloc(n, sizeof *ref);
        if (!y || !ref)
            tap_bail("out of memory");
        rt_counts_reset();
        const enum zmoe_status st = rt_forward_counted(rt, &c, x, T, y);
        const uint64_t mallocs = rt_mallocs;
        zmoe_ref_forward(&c, &w, x, T, ZMOE_REF_AS_CONFIGURED, ref, NULL, NULL);
        double scale;
        const double rel = rt_rel_error(y, ref, n, &scale);
        TAP_OK(st == ZMOE_OK && rel <= rt_quant_tolerance(&c) && scale > 1e-6 && mallocs == 0,
               "%s: T=%u matches the reference (rel %.3g <= %.0e, max |y| %.3g), %llu allocations",
               what, T, rel, rt_quant_tolerance(&c), scale, (unsigned long long)mallocs);
        free(x);
        free(y);
        free(ref);
    }
    zmoe_ref_weights_free(&w);
    zmoe_destroy(rt);
}

/* The reference's dequantized weights are not the float synthetic ones: a test that
 * could pass with the quantized bytes ignored must fail here. And act-order really
 * permutes: the dequantized W13 of an act-order config differs from the same bytes
 * read without the permutation. */
static void check_dequant_is_used(void)
{
    struct zmoe_config c = config_of(&variants[2], &shapes[0]);
    struct zmoe_qmatrix m;
    TAP_OK(zmoe_quant_matrix(&c, ZMOE_TENSOR_W13, &m) && m.has_perm && m.perm_offset > 0,
           "act-order W13 has a permutation part");
    unsigned char *bytes = malloc((size_t)m.bytes);
    float *a = malloc((size_t)(m.rows * m.cols) * sizeof *a), *b = malloc((size_t)(m.rows * m.cols) * sizeof *b);
    if (!bytes || !a || !b)
        tap_bail("out of memory");
    zmoe_weights_synthetic_quant(&c, 0, ZMOE_TENSOR_W13, 0, (size_t)m.bytes, bytes);
    zmoe_quant_dequant_rows(&m, bytes, 0, m.rows, a);
    struct zmoe_qmatrix plain = m;
    plain.has_perm = false;
    zmoe_quant_dequant_rows(&plain, bytes, 0, m.rows, b);
    size_t moved = 0;
    for (size_t i = 0; i < (size_t)(m.rows * m.cols); i++)
        moved += a[i] != b[i];
    TAP_OK(moved > m.rows * m.cols / 2, "the permutation moves most columns (%zu of %llu)", moved,
           (unsigned long long)(m.rows * m.cols));
    free(bytes);
    free(a);
    free(b);
}

int main(void)
{
    (void)rt_tracer_start; /* rt_count.h's Level Zero counting: only mallocs here */
    (void)rt_ze_total;
    check_dequant_is_used();
    uint64_t seed = 100;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            run_variant(&variants[v], &shapes[s], seed += 10);
    return tap_exit();
}
