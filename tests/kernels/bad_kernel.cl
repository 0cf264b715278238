/* Deliberately broken: tests/kernels checks the compile error names this file and line. */
__kernel void broken(__global float *x)
{
    x[0] = undeclared_name;
}
