/* kernels: the OpenCL C sources of the MoE pipeline, compiled offline by ocloc and
 * embedded here as byte arrays (generated at build time by embed.c).
 * Owns: *.cl, the compile step, the embedded table. Does not touch Level Zero. */
#ifndef ZMOE_KERNELS_H
#define ZMOE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

struct zmoe_kernel_module {
    const char *name;          /* e.g. "moe" (from moe.cl) */
    const uint8_t *spirv;      /* SPIR-V, OpenCL C 1.2 */
    size_t spirv_size;
    const uint8_t *native;     /* AOT fat binary (ar archive); NULL when disabled */
    size_t native_size;
    const char *native_devices; /* ocloc -device list, "" when disabled */
};

extern const struct zmoe_kernel_module zmoe_kernel_modules[];
extern const size_t zmoe_kernel_module_count;

/* NULL when no module has that name. */
const struct zmoe_kernel_module *zmoe_kernels_find(const char *name);

#endif
