/* zmoe info: what Level Zero offers on this machine and what zmoe would use of it. */
#include "cli/cli.h"
#include "kernels/kernels.h"
#include "runtime/runtime.h"

#include <level_zero/loader/ze_loader.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char info_usage[] =
    "usage: zmoe info\n"
    "\n"
    "Prints the Level Zero loader and its components' versions, every driver and device\n"
    "(name, type, vendor, memory), which kernel format each device would load (the AOT\n"
    "binary when the driver accepts it, else SPIR-V) and where hostdev, zmoe's Level Zero\n"
    "driver on the CPU, was found.\n";

static const char *type_name(ze_device_type_t t)
{
    switch (t) {
    case ZE_DEVICE_TYPE_GPU: return "GPU";
    case ZE_DEVICE_TYPE_CPU: return "CPU";
    case ZE_DEVICE_TYPE_FPGA: return "FPGA";
    case ZE_DEVICE_TYPE_MCA: return "MCA";
    case ZE_DEVICE_TYPE_VPU: return "VPU";
    default: return "unknown";
    }
}

static const char *vendor_name(uint32_t id)
{
    return id == 0x8086 ? "Intel" : "other";
}

static bool file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

static void print_hostdev(const char *done)
{
    const char *why, *path = zmoe_runtime_hostdev_path(&why);
    printf("hostdev:\n");
    printf("  library: %s (%s): %s\n", path, why, file_exists(path) ? "found" : "NOT FOUND");
    printf("  loader:  %s\n", done);
}

/* The runtime prefers the native binary and falls back to SPIR-V; asking the driver
 * to build the native binary is the only honest way to tell which one it would take. */
static void print_kernel_format(ze_context_handle_t ctx, ze_device_handle_t dev, bool cpu)
{
    /* the SPIR-V the runtime builds on this device: the CPU module on a CPU */
    const char *spirv = cpu ? "SPIR-V, module moe_cpu" : "SPIR-V, module moe";
    const struct zmoe_kernel_module *m = zmoe_kernels_find("moe");
    if (!m) {
        printf("    kernels: no 'moe' module embedded\n");
        return;
    }
    if (!m->native || !m->native_size) {
        printf("    kernels: %s (built without AOT targets)\n", spirv);
        return;
    }
    ze_module_desc_t desc = {
        .stype = ZE_STRUCTURE_TYPE_MODULE_DESC,
        .format = ZE_MODULE_FORMAT_NATIVE,
        .inputSize = m->native_size,
        .pInputModule = m->native,
    };
    ze_module_handle_t mod = NULL;
    ze_result_t r = zeModuleCreate(ctx, dev, &desc, &mod, NULL);
    if (r == ZE_RESULT_SUCCESS) {
        printf("    kernels: AOT binary (targets %s) accepted by the driver\n",
               m->native_devices);
        zeModuleDestroy(mod);
    } else {
        printf("    kernels: %s (the driver refused the AOT binary for %s: 0x%x)\n", spirv,
               m->native_devices, (unsigned)r);
    }
}

static void print_loader(void)
{
    size_t n = 0;
    if (zelLoaderGetVersions(&n, NULL) != ZE_RESULT_SUCCESS || n == 0) {
        printf("loader: versions unavailable\n");
        return;
    }
    zel_component_version_t v[16];
    if (n > 16)
        n = 16;
    if (zelLoaderGetVersions(&n, v) != ZE_RESULT_SUCCESS) {
        printf("loader: versions unavailable\n");
        return;
    }
    printf("loader components:\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-20s %d.%d.%d (API %u.%u)\n", v[i].component_name,
               v[i].component_lib_version.major, v[i].component_lib_version.minor,
               v[i].component_lib_version.patch, ZE_MAJOR_VERSION(v[i].spec_version),
               ZE_MINOR_VERSION(v[i].spec_version));
}

static int print_devices(void)
{
    uint32_t ndrv = 0;
    ze_result_t r = zeDriverGet(&ndrv, NULL);
    if (r != ZE_RESULT_SUCCESS || ndrv == 0) {
        printf("drivers: none\n");
        return CLI_EXIT_OK;
    }
    ze_driver_handle_t drivers[16];
    if (ndrv > 16)
        ndrv = 16;
    zeDriverGet(&ndrv, drivers);
    printf("drivers: %u\n", ndrv);
    for (uint32_t d = 0; d < ndrv; d++) {
        ze_driver_properties_t dp = {.stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES};
        ze_api_version_t api = 0;
        zeDriverGetProperties(drivers[d], &dp);
        zeDriverGetApiVersion(drivers[d], &api);
        printf("driver %u: version 0x%x, API %u.%u\n", d, dp.driverVersion,
               ZE_MAJOR_VERSION(api), ZE_MINOR_VERSION(api));
        uint32_t ndev = 0;
        zeDeviceGet(drivers[d], &ndev, NULL);
        ze_device_handle_t devs[16];
        if (ndev > 16)
            ndev = 16;
        zeDeviceGet(drivers[d], &ndev, devs);
        ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
        ze_context_handle_t ctx = NULL;
        if (zeContextCreate(drivers[d], &cd, &ctx) != ZE_RESULT_SUCCESS)
            ctx = NULL;
        for (uint32_t i = 0; i < ndev; i++) {
            ze_device_properties_t p = {.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES};
            zeDeviceGetProperties(devs[i], &p);
            uint32_t nmem = 0;
            zeDeviceGetMemoryProperties(devs[i], &nmem, NULL);
            ze_device_memory_properties_t mp[8];
            if (nmem > 8)
                nmem = 8;
            for (uint32_t k = 0; k < nmem; k++)
                mp[k] = (ze_device_memory_properties_t){
                    .stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES};
            zeDeviceGetMemoryProperties(devs[i], &nmem, mp);
            uint64_t mem = 0;
            for (uint32_t k = 0; k < nmem; k++)
                mem += mp[k].totalSize;
            char buf[32];
            printf("  device %u: %s\n", i, p.name);
            printf("    type %s, vendor %s (0x%04x), device id 0x%04x, %u EUs x %u threads, "
                   "%u MHz\n",
                   type_name(p.type), vendor_name(p.vendorId), p.vendorId, p.deviceId,
                   p.numSlices * p.numSubslicesPerSlice * p.numEUsPerSubslice,
                   p.numThreadsPerEU, p.coreClockRate);
            printf("    memory %s\n", cli_human_bytes(mem, buf, sizeof buf));
            if (ctx)
                print_kernel_format(ctx, devs[i], p.type == ZE_DEVICE_TYPE_CPU);
        }
        if (ctx)
            zeContextDestroy(ctx);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_info(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = cli_parse("info", argc, argv, 2, NULL, pos, 0, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(info_usage, stdout);
        return CLI_EXIT_OK;
    }
    printf("zmoe %s\n", ZMOE_VERSION_STRING);
    char done[PATH_MAX + 128];
    zmoe_runtime_select_drivers(ZMOE_DEVICE_AUTO, done, sizeof done);
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS) {
        printf("loader: zeInit failed (0x%x): no Level Zero driver could be loaded\n",
               (unsigned)r);
        print_hostdev(done);
        return CLI_EXIT_RUNTIME;
    }
    print_loader();
    rc = print_devices();
    print_hostdev(done);
    return rc;
}
