/* Kernels of the naive baseline only (bench/naive.c): the two out-of-place tensor ops
 * the Python stacks put in front of fused_experts for apply_router_weight_on_input
 * (x * topk_weights, then ones_like(topk_weights)). zmoe does neither: its expert_up
 * kernel scales x as it loads it. Compiled offline like kernels/*.cl.
 *
 * xs[p] = x[p / K] * w[p] for every routed copy p = t*K + k. The product is rounded
 * to the activation dtype, as the Python stacks' dtype cast does. */

#define DT_F32 0u
#define DT_F16 1u
#define DT_BF16 2u

#define INLINE __attribute__((always_inline)) inline

INLINE float ld1(__global const void *p, size_t i, const uint dt)
{
    if (dt == DT_F32)
        return ((__global const float *)p)[i];
    if (dt == DT_F16)
        return vload_half(0, (__global const half *)p + i);
    return as_float((uint)((__global const ushort *)p)[i] << 16);
}

INLINE void st1(__global void *p, size_t i, float v, const uint dt)
{
    if (dt == DT_F32) {
        ((__global float *)p)[i] = v;
    } else if (dt == DT_F16) {
        vstore_half_rte(v, 0, (__global half *)p + i);
    } else {
        uint u = as_uint(v);
        u += 0x7fffu + ((u >> 16) & 1u);
        ((__global ushort *)p)[i] = (ushort)(u >> 16);
    }
}

/* grid (ceil(H / 64) * 64, T*K): one work-item per element of xs. */
INLINE void scale_body(__global const void *x, __global const float *w, __global void *xs,
                       uint H, uint K, const uint dt)
{
    const uint h = get_global_id(0), p = get_global_id(1);
    if (h >= H)
        return;
    st1(xs, (size_t)p * H + h, ld1(x, (size_t)(p / K) * H + h, dt) * w[p], dt);
}

__kernel void scale_rows_f32(__global const void *x, __global const float *w,
                             __global void *xs, uint H, uint K)
{
    scale_body(x, w, xs, H, K, DT_F32);
}

__kernel void scale_rows_f16(__global const void *x, __global const float *w,
                             __global void *xs, uint H, uint K)
{
    scale_body(x, w, xs, H, K, DT_F16);
}

__kernel void scale_rows_bf16(__global const void *x, __global const float *w,
                              __global void *xs, uint H, uint K)
{
    scale_body(x, w, xs, H, K, DT_BF16);
}

/* ones_like(topk_weights): the new combine weights. */
__kernel void fill_ones(__global float *out, uint n)
{
    const uint i = get_global_id(0);
    if (i < n)
        out[i] = 1.0f;
}
