/* MoE pipeline kernels (OpenCL C 1.2). */

/* combine: y[t,h] = sum_k w[t,k] * o[slot(t,k), h], in a fixed k order so the result
 * is deterministic (no float atomics). One work-item per (h, t). */
__kernel void combine(__global float *y, __global const float *o,
                      __global const float *topk_weights, __global const uint *row_of,
                      uint hidden, uint top_k)
{
    uint h = get_global_id(0), t = get_global_id(1);
    if (h >= hidden)
        return;
    float acc = 0.0f;
    for (uint k = 0; k < top_k; k++) {
        uint r = row_of[t * top_k + k];
        acc += topk_weights[t * top_k + k] * o[(size_t)r * hidden + h];
    }
    y[(size_t)t * hidden + h] = acc;
}
