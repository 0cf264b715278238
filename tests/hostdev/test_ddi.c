/* The driver interface itself: libze_hostdev.so is opened directly (not through
 * the loader) and every one of the 53 ze, zet and zes Get...ProcAddrTable exports that
 * loader 1.8.12 asks for must exist and fill every slot of its table (never NULL);
 * wrong versions and NULL tables are refused. Then, through the loader with sysman
 * enabled, an unimplemented entry point answers ZE_RESULT_ERROR_UNSUPPORTED_FEATURE. */
#include <dlfcn.h>
#include <level_zero/ze_ddi.h>
#include <level_zero/zes_api.h>
#include <level_zero/zes_ddi.h>
#include <level_zero/zet_ddi.h>

#include "hd_test.h"

#define GETTERS \
    X(zeGetGlobalProcAddrTable, ze_global_dditable_t) \
    X(zeGetDriverProcAddrTable, ze_driver_dditable_t) \
    X(zeGetDeviceProcAddrTable, ze_device_dditable_t) \
    X(zeGetDeviceExpProcAddrTable, ze_device_exp_dditable_t) \
    X(zeGetContextProcAddrTable, ze_context_dditable_t) \
    X(zeGetCommandQueueProcAddrTable, ze_command_queue_dditable_t) \
    X(zeGetCommandListProcAddrTable, ze_command_list_dditable_t) \
    X(zeGetImageProcAddrTable, ze_image_dditable_t) \
    X(zeGetImageExpProcAddrTable, ze_image_exp_dditable_t) \
    X(zeGetFenceProcAddrTable, ze_fence_dditable_t) \
    X(zeGetEventPoolProcAddrTable, ze_event_pool_dditable_t) \
    X(zeGetEventProcAddrTable, ze_event_dditable_t) \
    X(zeGetEventExpProcAddrTable, ze_event_exp_dditable_t) \
    X(zeGetModuleProcAddrTable, ze_module_dditable_t) \
    X(zeGetModuleBuildLogProcAddrTable, ze_module_build_log_dditable_t) \
    X(zeGetKernelProcAddrTable, ze_kernel_dditable_t) \
    X(zeGetKernelExpProcAddrTable, ze_kernel_exp_dditable_t) \
    X(zeGetSamplerProcAddrTable, ze_sampler_dditable_t) \
    X(zeGetPhysicalMemProcAddrTable, ze_physical_mem_dditable_t) \
    X(zeGetMemProcAddrTable, ze_mem_dditable_t) \
    X(zeGetVirtualMemProcAddrTable, ze_virtual_mem_dditable_t) \
    X(zeGetFabricVertexExpProcAddrTable, ze_fabric_vertex_exp_dditable_t) \
    X(zeGetFabricEdgeExpProcAddrTable, ze_fabric_edge_exp_dditable_t) \
    X(zetGetDeviceProcAddrTable, zet_device_dditable_t) \
    X(zetGetContextProcAddrTable, zet_context_dditable_t) \
    X(zetGetCommandListProcAddrTable, zet_command_list_dditable_t) \
    X(zetGetModuleProcAddrTable, zet_module_dditable_t) \
    X(zetGetKernelProcAddrTable, zet_kernel_dditable_t) \
    X(zetGetMetricGroupProcAddrTable, zet_metric_group_dditable_t) \
    X(zetGetMetricGroupExpProcAddrTable, zet_metric_group_exp_dditable_t) \
    X(zetGetMetricProcAddrTable, zet_metric_dditable_t) \
    X(zetGetMetricStreamerProcAddrTable, zet_metric_streamer_dditable_t) \
    X(zetGetMetricQueryPoolProcAddrTable, zet_metric_query_pool_dditable_t) \
    X(zetGetMetricQueryProcAddrTable, zet_metric_query_dditable_t) \
    X(zetGetTracerExpProcAddrTable, zet_tracer_exp_dditable_t) \
    X(zetGetDebugProcAddrTable, zet_debug_dditable_t) \
    X(zesGetDriverProcAddrTable, zes_driver_dditable_t) \
    X(zesGetDeviceProcAddrTable, zes_device_dditable_t) \
    X(zesGetSchedulerProcAddrTable, zes_scheduler_dditable_t) \
    X(zesGetPerformanceFactorProcAddrTable, zes_performance_factor_dditable_t) \
    X(zesGetPowerProcAddrTable, zes_power_dditable_t) \
    X(zesGetFrequencyProcAddrTable, zes_frequency_dditable_t) \
    X(zesGetEngineProcAddrTable, zes_engine_dditable_t) \
    X(zesGetStandbyProcAddrTable, zes_standby_dditable_t) \
    X(zesGetFirmwareProcAddrTable, zes_firmware_dditable_t) \
    X(zesGetMemoryProcAddrTable, zes_memory_dditable_t) \
    X(zesGetFabricPortProcAddrTable, zes_fabric_port_dditable_t) \
    X(zesGetTemperatureProcAddrTable, zes_temperature_dditable_t) \
    X(zesGetPsuProcAddrTable, zes_psu_dditable_t) \
    X(zesGetFanProcAddrTable, zes_fan_dditable_t) \
    X(zesGetLedProcAddrTable, zes_led_dditable_t) \
    X(zesGetRasProcAddrTable, zes_ras_dditable_t) \
    X(zesGetDiagnosticsProcAddrTable, zes_diagnostics_dditable_t)

static int check_table(void *lib, const char *name, size_t size)
{
    typedef ze_result_t (*getter_fn)(ze_api_version_t, void *);
    getter_fn get = (getter_fn)dlsym(lib, name);
    if (!TAP_OK(get != NULL, "%s is exported", name))
        return 0;
    /* A table is a struct of function pointers: check every slot. */
    void *slots[256];
    size_t n = size / sizeof(void *);
    if (n > 256)
        tap_bail("table %s too large", name);
    memset(slots, 0, sizeof slots);
    ze_result_t r = get(ZE_API_VERSION_CURRENT, slots);
    size_t null_slots = 0;
    for (size_t i = 0; i < n; i++)
        null_slots += slots[i] == NULL;
    TAP_OK(r == ZE_RESULT_SUCCESS && null_slots == 0, "%s fills all %zu slots (result 0x%x, %zu NULL)", name, n,
           (unsigned)r, null_slots);
    TAP_EQ_INT(get(ZE_MAKE_VERSION(2, 0), slots), ZE_RESULT_ERROR_UNSUPPORTED_VERSION, "%s refuses version 2.0",
               name);
    TAP_EQ_INT(get(ZE_API_VERSION_CURRENT, NULL), ZE_RESULT_ERROR_INVALID_NULL_POINTER, "%s refuses a NULL table",
               name);
    return 1;
}

int main(void)
{
    const char *path = getenv("ZE_ENABLE_ALT_DRIVERS");
    if (!path)
        tap_bail("ZE_ENABLE_ALT_DRIVERS is not set");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        tap_bail("dlopen %s: %s", path, dlerror());
    int tables = 0;
#define X(getter, type) tables += check_table(lib, #getter, sizeof(type));
    GETTERS
#undef X
    TAP_EQ_INT(tables, 53, "all 53 tables the loader asks for");
    dlclose(lib);

    /* Through the loader: sysman (zes) is not implemented and says so. */
    ZE_CHECK(zeInit(0));
    uint32_t n = 1;
    ze_driver_handle_t drv;
    ZE_CHECK(zeDriverGet(&n, &drv));
    ze_device_handle_t dev;
    n = 1;
    ZE_CHECK(zeDeviceGet(drv, &n, &dev));
    zes_device_properties_t zp = { .stype = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES };
    TAP_EQ_INT(zesDeviceGetProperties((zes_device_handle_t)dev, &zp), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
               "zesDeviceGetProperties is unsupported, not a crash");
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t ctx;
    ZE_CHECK(zeContextCreate(drv, &cd, &ctx));
    ze_ipc_mem_handle_t ipc;
    int x = 0;
    TAP_EQ_INT(zeMemGetIpcHandle(ctx, &x, &ipc), ZE_RESULT_ERROR_UNSUPPORTED_FEATURE, "IPC is unsupported");
    ZE_CHECK(zeContextDestroy(ctx));
    return tap_exit();
}
