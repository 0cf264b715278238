// Kernels for hostdev's conformance-style tests (compiled offline by ocloc to SPIR-V).

__kernel void vadd(__global const float *a, __global const float *b, __global float *c, uint n)
{
    size_t i = get_global_id(0);
    if (i < n)
        c[i] = a[i] + b[i];
}

// Writes its own linear global id into out at that position: checks 2-D/3-D grids.
__kernel void ids3(__global uint *out)
{
    size_t x = get_global_id(0), y = get_global_id(1), z = get_global_id(2);
    size_t w = get_global_size(0), h = get_global_size(1);
    size_t i = (z * h + y) * w + x;
    out[i] = (uint)(i + 1u) ^ ((uint)get_local_id(0) << 24) ^ ((uint)get_group_id(0) << 16);
}

// Group sum through local memory and barriers (tree reduction; local size power of 2).
__kernel void group_sum(__global const int *in, __global int *out, __local int *scratch)
{
    size_t l = get_local_id(0), n = get_local_size(0);
    scratch[l] = in[get_global_id(0)];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = n / 2; s > 0; s /= 2) {
        if (l < s)
            scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        out[get_group_id(0)] = scratch[0];
}

typedef struct {
    float scale;
    int offset;
    char tag;
    long big;
} params_t;

// By-value struct and scalar arguments.
__kernel void affine(__global const int *in, __global float *out, params_t p, short extra)
{
    size_t i = get_global_id(0);
    out[i] = p.scale * (float)(in[i] + p.offset) + (float)p.tag + (float)p.big + (float)extra;
}

// Fixed work-group size from the SPIR-V (reqd_work_group_size).
__kernel __attribute__((reqd_work_group_size(8, 1, 1))) void fixed8(__global uint *out)
{
    out[get_global_id(0)] = (uint)get_local_size(0);
}

// Writes group counts for an indirect launch from the "device".
__kernel void write_counts(__global uint *counts, uint x)
{
    counts[0] = x;
    counts[1] = 1;
    counts[2] = 1;
}

// Increments every element: used for ordering, latency and fault tests.
__kernel void inc(__global uint *p)
{
    p[get_global_id(0)] += 1u;
}

// Atomic increment: for several queues updating one buffer at once (different queues
// run concurrently, as on a real device, so `inc` would race there).
__kernel void inc_atomic(__global uint *p)
{
    atomic_inc(&p[get_global_id(0)]);
}

// __constant pointer argument.
__kernel void from_const(__constant int *table, __global int *out)
{
    size_t i = get_global_id(0);
    out[i] = table[i] * 2;
}
