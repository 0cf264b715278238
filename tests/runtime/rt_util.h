/* Helpers shared by the runtime tests: a base config built in code, inputs rounded to
 * the activation dtype, one device forward through the ring, and the comparison with
 * the reference. Test code: malloc is fine here. */
#ifndef ZMOE_TEST_RT_UTIL_H
#define ZMOE_TEST_RT_UTIL_H

#include "config/config.h"
#include "runtime/runtime.h"
#include "tap.h"
#include "reference/moe_ref.h"
#include "weights/weights.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline struct zmoe_config rt_base_config(void)
{
    struct zmoe_config c;
    zmoe_config_defaults(&c);
    c.model.hidden = 64;
    c.model.intermediate = 32;
    c.model.experts = 8;
    c.model.top_k = 2;
    c.model.layers = 1;
    c.router.scoring = ZMOE_SCORING_SOFTMAX;
    c.router.renormalize = true;
    c.experts.activation = ZMOE_ACT_SILU;
    c.dtype.weights = ZMOE_DTYPE_F32;
    c.dtype.activations = ZMOE_DTYPE_F32;
    c.runtime.max_tokens = 8;
    c.runtime.ring_depth = 2;
    c.runtime.device = ZMOE_DEVICE_HOST;
    c.runtime.wait_timeout_ms = 30000;
    c.weights.seed = 7;
    return c;
}

/* xorshift64*: deterministic inputs from a printed seed */
static inline double rt_uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static inline float rt_normalish(uint64_t *s)
{
    return (float)((rt_uniform(s) + rt_uniform(s) + rt_uniform(s) - 1.5) * 2.0);
}

/* Rounds values to what the activation dtype can hold (the reference sees exactly the
 * device's input). */
static inline void rt_round(float *v, size_t n, enum zmoe_dtype dt)
{
    for (size_t i = 0; i < n; i++) {
        if (dt == ZMOE_DTYPE_F16)
            v[i] = zmoe_f16_to_f32(zmoe_f32_to_f16(v[i]));
        else if (dt == ZMOE_DTYPE_BF16)
            v[i] = zmoe_bf16_to_f32(zmoe_f32_to_bf16(v[i]));
    }
}

static inline double rt_tolerance(const struct zmoe_config *c)
{
    return (c->dtype.weights == ZMOE_DTYPE_F32 && c->dtype.activations == ZMOE_DTYPE_F32) ? 2e-5
                                                                                        : 1e-2;
}

/* Quantized experts against the reference on the same bytes dequantized by the format's
 * definition: the reference multiplies the exact dequantized f32 values, the kernels
 * apply the group scale once per 16-byte chunk, so they differ in summation order only:
 * 3e-5 with f32 activations, 1e-2 with f16/bf16 ones (y rounded). */
static inline double rt_quant_tolerance(const struct zmoe_config *c)
{
    return c->dtype.activations == ZMOE_DTYPE_F32 ? 3e-5 : 1e-2;
}

/* Max |a-b| over max |b| (the output's scale). */
static inline double rt_rel_error(const float *a, const float *b, size_t n, double *scale_out)
{
    double md = 0, ms = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d))
            md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > ms)
            ms = fabs(b[i]);
    }
    if (scale_out)
        *scale_out = ms;
    return md / ms;
}

/* Creates a runtime and loads its weights; bails out of the test on failure. */
static inline struct zmoe_runtime *rt_create(const struct zmoe_config *c, const char *what)
{
    struct zmoe_error err = {{0}};
    struct zmoe_create_info info = {.config = c};
    struct zmoe_runtime *rt = NULL;
    enum zmoe_status st = zmoe_create(&info, &rt, &err);
    if (st) {
        tap_diag("%s: zmoe_create: %s: %s", what, zmoe_status_str(st), err.msg);
        return NULL;
    }
    st = zmoe_load_weights(rt, &err);
    if (st) {
        tap_diag("%s: zmoe_load_weights: %s: %s", what, zmoe_status_str(st), err.msg);
        zmoe_destroy(rt);
        return NULL;
    }
    return rt;
}

/* One forward of `tokens` rows of x (f32, already rounded) on layer `layer` through the
 * ring; y receives f32, and the slot's routing readback ([tokens][top_k]) goes to ids and
 * wts where they are not NULL. Returns the status. */
static inline enum zmoe_status rt_forward_routed(struct zmoe_runtime *rt,
                                                 const struct zmoe_config *c, uint32_t layer,
                                                 const float *x, uint32_t tokens, float *y,
                                                 uint32_t *ids, float *wts)
{
    struct zmoe_error err = {{0}};
    struct zmoe_slot slot;
    enum zmoe_status st = zmoe_slot_acquire(rt, &slot, &err);
    if (!st) {
        zmoe_dtype_convert(slot.input_host, c->dtype.activations, x, ZMOE_DTYPE_F32,
                           (size_t)tokens * c->model.hidden);
        st = zmoe_submit(rt, &slot, layer, tokens, &err);
    }
    if (!st)
        st = zmoe_wait(rt, &slot, UINT64_MAX, &err);
    if (st) {
        tap_diag("forward: %s: %s", zmoe_status_str(st), err.msg);
        return st;
    }
    zmoe_dtype_convert(y, ZMOE_DTYPE_F32, slot.output_host, c->dtype.activations,
                       (size_t)tokens * c->model.hidden);
    const size_t pairs = (size_t)tokens * c->model.top_k;
    if (ids)
        memcpy(ids, slot.topk_ids_host, pairs * sizeof *ids);
    if (wts)
        memcpy(wts, slot.topk_weights_host, pairs * sizeof *wts);
    return ZMOE_OK;
}

/* rt_forward_routed without the routing readback. */
static inline enum zmoe_status rt_forward(struct zmoe_runtime *rt, const struct zmoe_config *c,
                                          uint32_t layer, const float *x, uint32_t tokens, float *y)
{
    return rt_forward_routed(rt, c, layer, x, tokens, y, NULL, NULL);
}

static inline float *rt_inputs(const struct zmoe_config *c, uint32_t tokens, uint64_t seed)
{
    size_t n = (size_t)tokens * c->model.hidden;
    float *x = malloc(n * sizeof *x);
    if (!x)
        tap_bail("out of memory");
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++)
        x[i] = rt_normalish(&s);
    rt_round(x, n, c->dtype.activations);
    return x;
}

#endif
