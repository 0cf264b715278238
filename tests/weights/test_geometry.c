/* Tensor geometry (presence, elements, dtypes), synthetic weights (determinism, scale,
 * exact representability) and synthetic streaming through zmoe_weights_load. */
#include "weights/weights.h"
#include "tests/tap.h"
#include "tests/weights/load_util.h"

#include <stdint.h>
#include <string.h>

static struct zmoe_config cfg_base(void)
{
    struct zmoe_config c;
    memset(&c, 0, sizeof c);
    c.model.hidden = 24;
    c.model.intermediate = 10;
    c.model.experts = 6;
    c.model.top_k = 2;
    c.model.layers = 3;
    c.router.groups = 1;
    c.router.routed_scaling_factor = 1;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    c.weights.seed = 42;
    return c;
}

static enum zmoe_status failing_sink(void *ctx, uint32_t layer, enum zmoe_tensor t,
                                     uint64_t offset, const void *bytes, size_t size,
                                     struct zmoe_error *err)
{
    (void)ctx; (void)layer; (void)t; (void)offset; (void)bytes; (void)size;
    snprintf(err->msg, sizeof err->msg, "sink full");
    return ZMOE_ERR_NO_MEMORY;
}

int main(void)
{
    struct zmoe_config c = cfg_base();
    /* presence */
    TAP_OK(zmoe_tensor_present(&c, ZMOE_TENSOR_ROUTER_W) && zmoe_tensor_present(&c, ZMOE_TENSOR_W13) &&
               zmoe_tensor_present(&c, ZMOE_TENSOR_W2),
           "router, w13, w2 always present");
    int absent = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        if (t != ZMOE_TENSOR_ROUTER_W && t != ZMOE_TENSOR_W13 && t != ZMOE_TENSOR_W2)
            absent += !zmoe_tensor_present(&c, (enum zmoe_tensor)t) &&
                      zmoe_tensor_elements(&c, (enum zmoe_tensor)t) == 0;
    TAP_EQ_INT(absent, ZMOE_TENSOR_COUNT - 3, "optional tensors absent with 0 elements");
    c.router.shared_expert_gate = true;
    TAP_OK(!zmoe_tensor_present(&c, ZMOE_TENSOR_SHARED_GATE), "shared gate needs a shared expert");
    c.model.shared_experts = 2;
    c.model.shared_intermediate = 7;
    c.router.bias = true;
    c.router.score_correction_bias = true;
    c.experts.bias = true;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        TAP_OK(zmoe_tensor_present(&c, (enum zmoe_tensor)t), "%s present when configured",
               zmoe_tensor_name((enum zmoe_tensor)t));
    /* elements: E=6 H=24 I=10 S=14 */
    const uint64_t want[ZMOE_TENSOR_COUNT] = {
        [ZMOE_TENSOR_ROUTER_W] = 6 * 24,       [ZMOE_TENSOR_ROUTER_B] = 6,
        [ZMOE_TENSOR_SCORE_BIAS] = 6,          [ZMOE_TENSOR_W13] = 6 * 20 * 24,
        [ZMOE_TENSOR_B13] = 6 * 20,            [ZMOE_TENSOR_W2] = 6 * 24 * 10,
        [ZMOE_TENSOR_B2] = 6 * 24,             [ZMOE_TENSOR_SHARED_W13] = 28 * 24,
        [ZMOE_TENSOR_SHARED_W2] = 24 * 14,     [ZMOE_TENSOR_SHARED_GATE] = 24,
    };
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        TAP_EQ_INT(zmoe_tensor_elements(&c, (enum zmoe_tensor)t), want[t], "%s elements",
                   zmoe_tensor_name((enum zmoe_tensor)t));
    TAP_EQ_INT(zmoe_tensor_bytes(&c, ZMOE_TENSOR_W13), 6 * 20 * 24 * 2, "w13 bytes (bf16)");
    TAP_EQ_INT(zmoe_tensor_bytes(&c, ZMOE_TENSOR_B13), 6 * 20 * 4, "b13 bytes (f32)");
    TAP_OK(zmoe_tensor_dtype(&c, ZMOE_TENSOR_B13) == ZMOE_DTYPE_F32 &&
               zmoe_tensor_dtype(&c, ZMOE_TENSOR_SCORE_BIAS) == ZMOE_DTYPE_F32 &&
               zmoe_tensor_dtype(&c, ZMOE_TENSOR_ROUTER_B) == ZMOE_DTYPE_F32 &&
               zmoe_tensor_dtype(&c, ZMOE_TENSOR_B2) == ZMOE_DTYPE_F32,
           "biases are f32");
    TAP_OK(zmoe_tensor_dtype(&c, ZMOE_TENSOR_SHARED_GATE) == ZMOE_DTYPE_BF16 &&
               zmoe_tensor_dtype(&c, ZMOE_TENSOR_W2) == ZMOE_DTYPE_BF16,
           "matrices take the weights dtype");
    TAP_OK(strcmp(zmoe_tensor_name(ZMOE_TENSOR_SHARED_W13), "shared_w13") == 0, "tensor name");
    {
        struct zmoe_config big = cfg_base();
        big.model.experts = 0xffffffffu;
        big.model.hidden = 0xffffffffu;
        big.model.intermediate = 0xffffffffu;
        TAP_EQ_INT(zmoe_tensor_elements(&big, ZMOE_TENSOR_W13), 0, "overflowing W13 gives 0");
        TAP_EQ_INT(zmoe_tensor_elements(&big, ZMOE_TENSOR_ROUTER_W),
                   (uint64_t)0xffffffffu * 0xffffffffu, "E*H fits and is exact");
    }

    /* synthetic: deterministic, chunking-independent, in range, dtype-representable */
    {
        enum { N = 6 * 20 * 24 };
        static float a[N], b[N], d[N];
        zmoe_weights_synthetic(&c, 1, ZMOE_TENSOR_W13, 0, N, a);
        for (uint64_t i = 0; i < N; i += 7)
            zmoe_weights_synthetic(&c, 1, ZMOE_TENSOR_W13, i, N - i < 7 ? N - i : 7, b + i);
        TAP_OK(memcmp(a, b, sizeof a) == 0, "synthetic: chunked generation equals one call");
        zmoe_weights_synthetic(&c, 2, ZMOE_TENSOR_W13, 0, N, d);
        TAP_OK(memcmp(a, d, sizeof a) != 0, "synthetic: layers differ");
        zmoe_weights_synthetic(&c, 1, ZMOE_TENSOR_W2, 0, N, d);
        TAP_OK(memcmp(a, d, sizeof a) != 0, "synthetic: tensors differ");
        struct zmoe_config c2 = c;
        c2.weights.seed = 43;
        zmoe_weights_synthetic(&c2, 1, ZMOE_TENSOR_W13, 0, N, d);
        TAP_OK(memcmp(a, d, sizeof a) != 0, "synthetic: seeds differ");
        double lim = 1.0 / sqrt(24.0), mx = 0, mean = 0;
        int repr = 1;
        for (int i = 0; i < N; i++) {
            mx = fmax(mx, fabs(a[i]));
            mean += a[i];
            repr &= zmoe_bf16_to_f32(zmoe_f32_to_bf16(a[i])) == a[i];
        }
        mean /= N;
        TAP_OK(mx <= lim * 1.004 && mx > lim * 0.9, "W13 within 1/sqrt(H) (max %g, limit %g)", mx, lim);
        TAP_OK(fabs(mean) < 0.05 * lim, "W13 mean near 0 (%g)", mean);
        TAP_OK(repr, "W13 values exactly representable in bf16");
        zmoe_weights_synthetic(&c, 0, ZMOE_TENSOR_W2, 0, 6 * 24 * 10, d);
        mx = 0;
        for (int i = 0; i < 6 * 24 * 10; i++)
            mx = fmax(mx, fabs(d[i]));
        TAP_OK(mx <= 1.004 / sqrt(10.0) && mx > 0.9 / sqrt(10.0), "W2 scaled by 1/sqrt(I) (%g)", mx);
        zmoe_weights_synthetic(&c, 0, ZMOE_TENSOR_SHARED_W2, 0, 24 * 14, d);
        mx = 0;
        for (int i = 0; i < 24 * 14; i++)
            mx = fmax(mx, fabs(d[i]));
        TAP_OK(mx <= 1.004 / sqrt(14.0) && mx > 0.85 / sqrt(14.0), "shared W2 scaled by 1/sqrt(S) (%g)", mx);
        zmoe_weights_synthetic(&c, 0, ZMOE_TENSOR_B13, 0, 120, d);
        mx = 0;
        int f32_only = 0;
        for (int i = 0; i < 120; i++) {
            mx = fmax(mx, fabs(d[i]));
            f32_only |= zmoe_bf16_to_f32(zmoe_f32_to_bf16(d[i])) != d[i];
        }
        TAP_OK(mx <= 0.1 && mx > 0.08, "biases ~0.1 (%g)", mx);
        TAP_OK(f32_only, "biases keep f32 precision (not rounded to the weights dtype)");
        c2 = c;
        c2.dtype.weights = ZMOE_DTYPE_F16;
        zmoe_weights_synthetic(&c2, 1, ZMOE_TENSOR_W13, 0, N, d);
        repr = 1;
        for (int i = 0; i < N; i++)
            repr &= zmoe_f16_to_f32(zmoe_f32_to_f16(d[i])) == d[i];
        TAP_OK(repr, "f16 weights exactly representable in f16");
    }

    /* zmoe_weights_load, synthetic: every tensor of every layer, in order, bytes equal the
     * synthetic values converted to the tensor dtype, with a small staging buffer */
    {
        struct mem_sink m;
        mem_sink_init(&m, &c);
        unsigned char staging[100];
        char report[128];
        struct zmoe_error err = {{0}};
        enum zmoe_status st = zmoe_weights_load(&c, staging, sizeof staging, mem_sink_write, &m,
                                                report, sizeof report, &err);
        TAP_EQ_INT(st, ZMOE_OK, "synthetic load: %s", err.msg);
        TAP_EQ_INT(m.bad, 0, "synthetic load: chunks in order and in bounds");
        TAP_OK(m.max_chunk <= sizeof staging, "chunks fit the staging buffer (%zu)", m.max_chunk);
        TAP_OK(strstr(report, "synthetic") != NULL, "report: %s", report);
        int complete = 1, equal = 1;
        for (uint32_t l = 0; l < 3; l++)
            for (int t = 0; t < ZMOE_TENSOR_COUNT; t++) {
                complete &= m.next[l][t] == m.size[l][t];
                if (!m.buf[l][t]) /* a tensor this config does not have */
                    continue;
                uint64_t n = zmoe_tensor_elements(&c, (enum zmoe_tensor)t);
                float *v = malloc(n * sizeof *v);
                unsigned char *conv = malloc(m.size[l][t]);
                zmoe_weights_synthetic(&c, l, (enum zmoe_tensor)t, 0, n, v);
                zmoe_dtype_convert(conv, zmoe_tensor_dtype(&c, (enum zmoe_tensor)t), v,
                                   ZMOE_DTYPE_F32, n);
                equal &= memcmp(conv, m.buf[l][t], m.size[l][t]) == 0;
                free(v);
                free(conv);
            }
        TAP_OK(complete, "synthetic load: every tensor complete");
        TAP_OK(equal, "synthetic load: bytes equal converted synthetic values");

        struct zmoe_error e2 = {{0}};
        st = zmoe_weights_load(&c, staging, sizeof staging, failing_sink, NULL, NULL, 0, &e2);
        TAP_OK(st == ZMOE_ERR_NO_MEMORY && strstr(e2.msg, "sink full"), "sink error propagates: %s", e2.msg);
        st = zmoe_weights_load(&c, staging, 8, mem_sink_write, &m, NULL, 0, &e2);
        TAP_OK(st == ZMOE_ERR_ARGUMENT && strstr(e2.msg, "staging"), "tiny staging refused: %s", e2.msg);
        mem_sink_free(&m);
    }
    return tap_exit();
}
