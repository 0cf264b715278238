/* Init, driver and device queries through the loader, plus unimplemented entry
 * points (they must return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, never crash). */
#include "hd_test.h"

int main(void)
{
    ZE_OK(zeInit(0), "zeInit(0)");
    ZE_OK(zeInit(ZE_INIT_FLAG_GPU_ONLY), "zeInit(GPU_ONLY) is accepted: hostdev stands in for a GPU");
    uint32_t n = 0;
    ZE_OK(zeDriverGet(&n, NULL), "driver count");
    TAP_EQ_INT(n, 1, "one driver");
    ze_driver_handle_t drv;
    n = 1;
    ZE_OK(zeDriverGet(&n, &drv), "get driver");
    ze_api_version_t v = 0;
    ZE_OK(zeDriverGetApiVersion(drv, &v), "api version");
    TAP_OK(ZE_MAJOR_VERSION(v) == 1 && ZE_MINOR_VERSION(v) >= 4, "API version %u.%u", ZE_MAJOR_VERSION(v),
           ZE_MINOR_VERSION(v));
    ze_driver_properties_t dp = { .stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES };
    ZE_OK(zeDriverGetProperties(drv, &dp), "driver properties");
    TAP_OK(dp.driverVersion >= 1, "driver version %u", dp.driverVersion);

    n = 0;
    ZE_OK(zeDeviceGet(drv, &n, NULL), "device count");
    TAP_EQ_INT(n, 1, "one device by default");
    ze_device_handle_t dev;
    n = 1;
    ZE_OK(zeDeviceGet(drv, &n, &dev), "get device");
    ze_device_properties_t p = { .stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES };
    ZE_OK(zeDeviceGetProperties(dev, &p), "device properties");
    TAP_EQ_INT(p.type, ZE_DEVICE_TYPE_CPU, "device type is CPU");
    TAP_OK(!strncmp(p.name, "hostdev (PoCL ", 14) && p.name[strlen(p.name) - 1] == ')', "name '%s'", p.name);
    TAP_EQ_INT(p.timerResolution, 1, "timer resolution 1 ns");
    TAP_EQ_INT(p.kernelTimestampValidBits, 64, "kernel timestamp valid bits");
    TAP_EQ_INT(p.timestampValidBits, 64, "timestamp valid bits");
    TAP_OK(p.maxMemAllocSize > 0, "max allocation size %llu", (unsigned long long)p.maxMemAllocSize);
    ze_device_properties_t p12 = { .stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES_1_2 };
    ZE_OK(zeDeviceGetProperties(dev, &p12), "device properties 1.2");
    TAP_EQ_INT(p12.timerResolution, 1000000000, "1.2 timer resolution in cycles/s");

    ze_device_compute_properties_t cp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_COMPUTE_PROPERTIES };
    ZE_OK(zeDeviceGetComputeProperties(dev, &cp), "compute properties");
    TAP_OK(cp.maxTotalGroupSize >= 64 && cp.maxGroupSizeX >= 64 && cp.maxGroupSizeX <= cp.maxTotalGroupSize,
           "group size limits %u (x %u)", cp.maxTotalGroupSize, cp.maxGroupSizeX);
    TAP_OK(cp.maxSharedLocalMemory >= 16384, "local memory %u", cp.maxSharedLocalMemory);
    TAP_OK(cp.numSubGroupSizes >= 1 && cp.subGroupSizes[0] >= 1, "sub-group sizes reported");

    ze_device_module_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MODULE_PROPERTIES };
    ZE_OK(zeDeviceGetModuleProperties(dev, &mp), "module properties");
    TAP_OK(mp.spirvVersionSupported >= ZE_MAKE_VERSION(1, 2), "SPIR-V version 0x%x", mp.spirvVersionSupported);
    TAP_OK(mp.maxArgumentsSize >= 256, "max arguments size %u", mp.maxArgumentsSize);

    n = 0;
    ZE_OK(zeDeviceGetMemoryProperties(dev, &n, NULL), "memory properties count");
    TAP_EQ_INT(n, 1, "one memory region");
    ze_device_memory_properties_t memp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES };
    ZE_OK(zeDeviceGetMemoryProperties(dev, &n, &memp), "memory properties");
    TAP_OK(memp.totalSize > 0, "memory size %llu", (unsigned long long)memp.totalSize);

    n = 0;
    ZE_OK(zeDeviceGetCommandQueueGroupProperties(dev, &n, NULL), "queue group count");
    TAP_EQ_INT(n, 2, "two queue groups: compute + copy, and copy only");
    ze_command_queue_group_properties_t qgs[3] = {
        { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES },
        { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES },
        { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES } };
    n = 3;
    ZE_OK(zeDeviceGetCommandQueueGroupProperties(dev, &n, qgs), "queue group properties");
    TAP_EQ_INT(n, 2, "a larger count is lowered to the two groups");
    TAP_EQ_INT(qgs[1].flags, ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COPY, "group 1 only copies");
    TAP_OK(qgs[1].numQueues >= 1 && qgs[1].maxMemoryFillPatternSize >= 16, "copy group has queues and fills");
    n = 1;
    ze_command_queue_group_properties_t qg = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES };
    ZE_OK(zeDeviceGetCommandQueueGroupProperties(dev, &n, &qg), "the first group alone");
    TAP_EQ_INT(n, 1, "count 1 reads one group");
    TAP_OK(qg.flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE, "group computes");
    TAP_OK(qg.flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COPY, "group copies");
    TAP_OK(qg.numQueues >= 1 && qg.maxMemoryFillPatternSize >= 16, "queues %u, fill pattern %zu", qg.numQueues,
           qg.maxMemoryFillPatternSize);

    uint64_t h0, d0, h1, d1;
    ZE_OK(zeDeviceGetGlobalTimestamps(dev, &h0, &d0), "global timestamps");
    ZE_OK(zeDeviceGetGlobalTimestamps(dev, &h1, &d1), "global timestamps again");
    TAP_OK(h1 >= h0 && d1 >= d0, "global timestamps are monotonic");

    ze_device_memory_access_properties_t ap = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_ACCESS_PROPERTIES };
    ZE_OK(zeDeviceGetMemoryAccessProperties(dev, &ap), "memory access properties");
    TAP_OK(ap.sharedSingleDeviceAllocCapabilities & ZE_MEMORY_ACCESS_CAP_FLAG_RW, "shared memory is RW");

    /* Bad use. */
    TAP_EQ_INT(zeDeviceGetProperties(NULL, &p), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL device handle");
    TAP_EQ_INT(zeDeviceGetProperties(dev, NULL), ZE_RESULT_ERROR_INVALID_NULL_POINTER, "NULL properties");
    TAP_EQ_INT(zeDriverGetProperties(NULL, &dp), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL driver handle");
    TAP_EQ_INT(zeContextDestroy(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL context handle");

    /* Entry points hostdev does not implement report so. */
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t ctx;
    ZE_OK(zeContextCreate(drv, &cd, &ctx), "context create");
    ZE_OK(zeContextGetStatus(ctx), "context status");
    ze_sampler_desc_t sd = { .stype = ZE_STRUCTURE_TYPE_SAMPLER_DESC };
    ze_sampler_handle_t s;
    TAP_EQ_INT(zeSamplerCreate(ctx, dev, &sd, &s), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "samplers unsupported");
    void *va = NULL;
    ZE_OK(zeVirtualMemReserve(ctx, NULL, 1 << 20, &va), "virtual memory is supported (tests/hostdev/test_vmem.c)");
    ZE_OK(zeVirtualMemFree(ctx, va, 1 << 20), "and the reservation is freed");
    ze_image_desc_t id = { .stype = ZE_STRUCTURE_TYPE_IMAGE_DESC, .type = ZE_IMAGE_TYPE_2D, .width = 4,
                           .height = 4, .depth = 1 };
    ze_image_handle_t img;
    TAP_EQ_INT(zeImageCreate(ctx, dev, &id, &img), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "images unsupported");
    ZE_OK(zeContextDestroy(ctx), "context destroy");
    return tap_exit();
}
