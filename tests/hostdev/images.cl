// Kernels taking a sampler or an image: hostdev creates them (properties, group
// sizes, names work) but refuses to set those arguments or to launch them.

__kernel void with_sampler(sampler_t s, __global float *out)
{
    out[get_global_id(0)] = 1.0f;
}

__kernel void with_image(read_only image2d_t img, __global float4 *out)
{
    const sampler_t smp = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP | CLK_FILTER_NEAREST;
    out[get_global_id(0)] = read_imagef(img, smp, (int2)(0, 0));
}

__kernel void plain(__global float *out)
{
    out[get_global_id(0)] = 2.0f;
}
