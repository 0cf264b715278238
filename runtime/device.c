/* device.c — Level Zero bring-up: driver/device choice (Intel GPU first, hostdev
 * otherwise), context and in-order queue, the kernel module (native AOT binary when the
 * device takes it, SPIR-V otherwise) and its kernels; and the matching tear-down. */
#include "runtime/runtime.h"

#include "kernels/kernels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ZMOE_HOSTDEV_BUILD_PATH
#define ZMOE_HOSTDEV_BUILD_PATH ""
#endif
#ifndef ZMOE_HOSTDEV_INSTALL_PATH
#define ZMOE_HOSTDEV_INSTALL_PATH "/usr/local/lib/libze_hostdev.so"
#endif
#define INTEL_VENDOR_ID 0x8086u

#define MAX_DRIVERS 8
#define MAX_DEVICES 16

enum zmoe_status zmoe_runtime_ze_error(struct zmoe_error *err, ze_result_t r, const char *call,
                                       const char *fmt, ...)
{
    if (err) {
        /* ZE_CHECK passes the whole call expression: name only the entry point */
        int n = snprintf(err->msg, sizeof err->msg, "%.*s failed with %s (0x%08x) while ",
                         (int)strcspn(call, "("), call, zmoe_ze_result_str(r), (unsigned)r);
        if (n > 0 && (size_t)n < sizeof err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return r == ZE_RESULT_ERROR_DEVICE_LOST ? ZMOE_ERR_DEVICE_LOST : ZMOE_ERR_LEVEL_ZERO;
}

const char *zmoe_runtime_hostdev_path(const char **why)
{
    const char *path = getenv("ZMOE_HOSTDEV");
    if (path && *path) {
        *why = "ZMOE_HOSTDEV";
        return path;
    }
    if (*ZMOE_HOSTDEV_BUILD_PATH && access(ZMOE_HOSTDEV_BUILD_PATH, R_OK) == 0) {
        *why = "build tree";
        return ZMOE_HOSTDEV_BUILD_PATH;
    }
    *why = "installed";
    return ZMOE_HOSTDEV_INSTALL_PATH;
}

/* An Intel GPU the kernel exposes: a DRM render node whose PCI vendor is 0x8086, or
 * WSL's /dev/dxg (GPUs there have no DRM node; the GPU driver itself sorts it out). */
static bool intel_gpu_visible(void)
{
    if (access("/dev/dxg", F_OK) == 0)
        return true;
    for (int i = 128; i < 192; i++) {
        char path[64], vendor[16] = "";
        snprintf(path, sizeof path, "/sys/class/drm/renderD%d/device/vendor", i);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        bool intel = fgets(vendor, sizeof vendor, f) && strtoul(vendor, NULL, 16) == INTEL_VENDOR_ID;
        fclose(f);
        if (intel)
            return true;
    }
    return false;
}

/* hostdev is only visible to the loader through ZE_ENABLE_ALT_DRIVERS, which replaces
 * loader 1.8.12's default list (libze_intel_gpu.so.1, libze_intel_vpu.so.1). We list
 * exactly one driver: with two, the loader allocates on every
 * zeCommandQueueExecuteCommandLists (measured by bench/), which would put a malloc on
 * the decode path. So: device=host, or auto with no Intel GPU visible -> hostdev alone;
 * otherwise the loader's default list is left as it is. */
void zmoe_runtime_select_drivers(enum zmoe_device_choice choice, char *note, size_t size)
{
    const char *existing = getenv("ZE_ENABLE_ALT_DRIVERS");
    if (existing) {
        snprintf(note, size, "ZE_ENABLE_ALT_DRIVERS=%s set by the environment", existing);
        return;
    }
    if (choice == ZMOE_DEVICE_GPU || (choice == ZMOE_DEVICE_AUTO && intel_gpu_visible())) {
        snprintf(note, size, "%s: the loader's GPU driver list",
                 choice == ZMOE_DEVICE_GPU ? "device=gpu" : "an Intel GPU is visible");
        return;
    }
    const char *why, *path = zmoe_runtime_hostdev_path(&why);
    setenv("ZE_ENABLE_ALT_DRIVERS", path, 0);
    snprintf(note, size, "hostdev enabled (%s: %s)", why, path);
}

static enum zmoe_status create_queue(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    uint32_t n = 0;
    ZE_CHECK(zeDeviceGetCommandQueueGroupProperties(rt->device, &n, NULL),
             "counting the command queue groups of '%s'", rt->device_name);
    ze_command_queue_group_properties_t props[16];
    if (n > 16)
        n = 16;
    for (uint32_t i = 0; i < n; i++) {
        memset(&props[i], 0, sizeof props[i]);
        props[i].stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
    }
    ZE_CHECK(zeDeviceGetCommandQueueGroupProperties(rt->device, &n, props),
             "reading the command queue groups of '%s'", rt->device_name);
    uint32_t ordinal = UINT32_MAX;
    for (uint32_t i = 0; i < n && ordinal == UINT32_MAX; i++)
        if (props[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE)
            ordinal = i;
    if (ordinal == UINT32_MAX) {
        zmoe_runtime_errorf(err, "device '%s' has no compute queue group", rt->device_name);
        return ZMOE_ERR_NO_DEVICE;
    }
    ze_command_queue_desc_t qd = {
        .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
        .ordinal = ordinal,
        .index = 0,
        .flags = 0, /* in-order: stages and layers depend on each other */
        .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS,
        .priority = ZE_COMMAND_QUEUE_PRIORITY_NORMAL,
    };
    ZE_CHECK(zeCommandQueueCreate(rt->context, rt->device, &qd, &rt->queue),
             "creating the command queue on '%s'", rt->device_name);
    rt->own_queue = true;
    return ZMOE_OK;
}

static enum zmoe_status read_device(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    ze_device_properties_t p = {.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES};
    ZE_CHECK(zeDeviceGetProperties(rt->device, &p), "reading the chosen device's properties");
    snprintf(rt->device_name, sizeof rt->device_name, "%s", p.name);
    rt->device_type = p.type;
    rt->device_integrated = (p.flags & ZE_DEVICE_PROPERTY_FLAG_INTEGRATED) != 0;
    /* With stype DEVICE_PROPERTIES (1.0) the resolution is in ns per tick. */
    rt->timer_resolution_ns = p.timerResolution ? p.timerResolution : 1;
    rt->timestamp_mask = p.kernelTimestampValidBits >= 64 || p.kernelTimestampValidBits == 0
                             ? UINT64_MAX
                             : ((uint64_t)1 << p.kernelTimestampValidBits) - 1;
    ze_device_compute_properties_t cp = {.stype = ZE_STRUCTURE_TYPE_DEVICE_COMPUTE_PROPERTIES};
    ZE_CHECK(zeDeviceGetComputeProperties(rt->device, &cp), "reading the compute properties of '%s'",
             rt->device_name);
    if (cp.maxTotalGroupSize < ZMOE_KERNEL_WG || cp.maxSharedLocalMemory < ZMOE_KERNEL_LOCAL_BYTES) {
        zmoe_runtime_errorf(err, "device '%s': work-groups of %u items / %u bytes of local memory "
                                 "are below the kernels' %u / %u",
                            rt->device_name, cp.maxTotalGroupSize, cp.maxSharedLocalMemory,
                            ZMOE_KERNEL_WG, ZMOE_KERNEL_LOCAL_BYTES);
        return ZMOE_ERR_NO_DEVICE;
    }
    const uint32_t max_group = cp.maxTotalGroupSize < cp.maxGroupSizeX ? cp.maxTotalGroupSize
                                                                        : cp.maxGroupSizeX;
    const struct zmoe_device_shape shape = zmoe_runtime_device_shape(rt->device_type, max_group);
    zmoe_runtime_launch_plan(&rt->cfg, &shape, &rt->launch);
    zmoe_runtime_launch_plan_experts(&rt->cfg, &shape, &rt->launch_experts);
    return ZMOE_OK;
}

static const char *type_name(ze_device_type_t t)
{
    switch (t) {
    case ZE_DEVICE_TYPE_GPU: return "GPU";
    case ZE_DEVICE_TYPE_CPU: return "CPU";
    case ZE_DEVICE_TYPE_FPGA: return "FPGA";
    case ZE_DEVICE_TYPE_MCA: return "MCA";
    case ZE_DEVICE_TYPE_VPU: return "VPU";
    default: return "device";
    }
}

enum zmoe_status zmoe_runtime_bring_up(struct zmoe_runtime *rt, const struct zmoe_create_info *info,
                                       struct zmoe_error *err)
{
    enum zmoe_status st;
    if (info->context || info->device || info->queue) {
        if (!info->context || !info->device) {
            zmoe_runtime_errorf(err, "zmoe_create: a caller-provided device needs both context "
                                     "and device (queue optional)");
            return ZMOE_ERR_ARGUMENT;
        }
        rt->context = info->context;
        rt->device = info->device;
        st = read_device(rt, err);
        if (st)
            return st;
        snprintf(rt->device_reason, sizeof rt->device_reason, "caller-provided %s device",
                 type_name(rt->device_type));
        if (info->queue) {
            rt->queue = info->queue;
            return ZMOE_OK;
        }
        return create_queue(rt, err);
    }

    const enum zmoe_device_choice choice = rt->cfg.runtime.device;
    char env_note[256];
    zmoe_runtime_select_drivers(choice, env_note, sizeof env_note);
    snprintf(rt->device_reason, sizeof rt->device_reason, "%s", env_note);
    ze_result_t r = zeInit(0);
    if (r != ZE_RESULT_SUCCESS) {
        zmoe_runtime_errorf(err, "zeInit failed with %s (0x%08x) while looking for a device (%s): "
                                 "no Level Zero driver loaded",
                            zmoe_ze_result_str(r), (unsigned)r, env_note);
        return ZMOE_ERR_NO_DEVICE;
    }
    uint32_t nd = MAX_DRIVERS;
    ze_driver_handle_t drivers[MAX_DRIVERS];
    ZE_CHECK(zeDriverGet(&nd, drivers), "listing drivers");
    ze_driver_handle_t best_drv = NULL, cpu_drv = NULL;
    ze_device_handle_t best = NULL, cpu = NULL;
    uint32_t total = 0;
    for (uint32_t d = 0; d < nd; d++) {
        uint32_t nv = MAX_DEVICES;
        ze_device_handle_t devs[MAX_DEVICES];
        ZE_CHECK(zeDeviceGet(drivers[d], &nv, devs), "listing the devices of driver %u", d);
        for (uint32_t v = 0; v < nv; v++) {
            ze_device_properties_t p = {.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES};
            ZE_CHECK(zeDeviceGetProperties(devs[v], &p), "reading the properties of device %u", v);
            total++;
            if (p.type == ZE_DEVICE_TYPE_GPU && p.vendorId == INTEL_VENDOR_ID && !best) {
                best = devs[v];
                best_drv = drivers[d];
            } else if (p.type == ZE_DEVICE_TYPE_CPU && !cpu) {
                cpu = devs[v];
                cpu_drv = drivers[d];
            }
        }
    }
    const char *why;
    if (choice == ZMOE_DEVICE_HOST) {
        best = cpu;
        best_drv = cpu_drv;
        why = "config device=host";
    } else if (choice == ZMOE_DEVICE_GPU) {
        why = "config device=gpu: Intel GPU";
    } else if (best) {
        why = "auto: Intel GPU found first";
    } else {
        best = cpu;
        best_drv = cpu_drv;
        why = "auto: no Intel GPU, hostdev (CPU)";
    }
    if (!best) {
        const char *alt = getenv("ZE_ENABLE_ALT_DRIVERS");
        zmoe_runtime_errorf(err, "no %s device among %u Level Zero device(s) (drivers: %s)",
                            choice == ZMOE_DEVICE_GPU ? "Intel GPU" : "usable", total,
                            alt ? alt : "the loader's default list");
        return ZMOE_ERR_NO_DEVICE;
    }
    rt->driver = best_drv;
    rt->device = best;
    ze_context_desc_t cd = {.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC};
    ZE_CHECK(zeContextCreate(rt->driver, &cd, &rt->context), "creating a context");
    rt->own_context = true;
    st = read_device(rt, err);
    if (st)
        return st;
    /* A long hostdev path may cut the note short; the reason stays readable. */
    if (snprintf(rt->device_reason, sizeof rt->device_reason, "%s among %u device(s); %s", why,
                 total, env_note) >= (int)sizeof rt->device_reason)
        memcpy(rt->device_reason + sizeof rt->device_reason - 4, "...", 4);
    return create_queue(rt, err);
}

static ze_result_t try_module(struct zmoe_runtime *rt, ze_module_format_t fmt, const uint8_t *bin,
                              size_t size, ze_module_build_log_handle_t *log)
{
    ze_module_desc_t md = {
        .stype = ZE_STRUCTURE_TYPE_MODULE_DESC,
        .format = fmt,
        .inputSize = size,
        .pInputModule = bin,
        .pBuildFlags = "",
    };
    return zeModuleCreate(rt->context, rt->device, &md, &rt->module, log);
}

const struct zmoe_kernel_module *zmoe_runtime_kernel_module(const struct zmoe_runtime *rt)
{
    return zmoe_kernels_find(rt->device_type == ZE_DEVICE_TYPE_CPU ? "moe_cpu" : "moe");
}

enum zmoe_status zmoe_runtime_build_kernels(struct zmoe_runtime *rt, struct zmoe_error *err)
{
    const struct zmoe_kernel_module *m = zmoe_runtime_kernel_module(rt), *gpu = zmoe_kernels_find("moe");
    if (!m || !gpu) {
        zmoe_runtime_errorf(err, "kernel module '%s' is not embedded in this build",
                            gpu ? "moe_cpu" : "moe");
        return ZMOE_ERR_KERNEL;
    }
    /* The AOT archive (of the GPU module) only helps an Intel GPU; ZMOE_TRY_NATIVE=1
     * forces the attempt (hostdev refuses it, which exercises the fallback). */
    const char *force = getenv("ZMOE_TRY_NATIVE");
    bool try_native = gpu->native && ((rt->device_type == ZE_DEVICE_TYPE_GPU) ||
                                      (force && strcmp(force, "1") == 0));
    ze_result_t r = ZE_RESULT_ERROR_UNINITIALIZED;
    if (try_native) {
        r = try_module(rt, ZE_MODULE_FORMAT_NATIVE, gpu->native, gpu->native_size, NULL);
        if (r == ZE_RESULT_SUCCESS) {
            rt->kernels_native = true;
        } else {
            rt->module = NULL;
            size_t len = strlen(rt->device_reason);
            snprintf(rt->device_reason + len, sizeof rt->device_reason - len,
                     "; native kernels refused (%s), SPIR-V", zmoe_ze_result_str(r));
        }
    }
    if (!rt->module) {
        ze_module_build_log_handle_t log = NULL;
        r = try_module(rt, ZE_MODULE_FORMAT_IL_SPIRV, m->spirv, m->spirv_size, &log);
        if (r != ZE_RESULT_SUCCESS) {
            rt->module = NULL;
            int n = snprintf(err->msg, sizeof err->msg,
                             "zeModuleCreate failed with %s (0x%08x) while building the SPIR-V "
                             "kernel module '%s' for '%s'; build log: ",
                             zmoe_ze_result_str(r), (unsigned)r, m->name, rt->device_name);
            size_t size = 0;
            if (log && zeModuleBuildLogGetString(log, &size, NULL) == ZE_RESULT_SUCCESS && size) {
                char *text = zmoe_host_block_alloc(&rt->hb, size, 1);
                if (text && zeModuleBuildLogGetString(log, &size, text) == ZE_RESULT_SUCCESS)
                    snprintf(err->msg + n, sizeof err->msg - (size_t)n, "%s", text);
                else
                    snprintf(err->msg + n, sizeof err->msg - (size_t)n, "(%zu bytes, not kept)", size);
            } else {
                snprintf(err->msg + n, sizeof err->msg - (size_t)n, "(none)");
            }
            if (log)
                zeModuleBuildLogDestroy(log);
            return ZMOE_ERR_KERNEL;
        }
        if (log)
            zeModuleBuildLogDestroy(log);
    }

    for (int k = 0; k < ZMOE_K_COUNT; k++) {
        const char *name = rt->launch.kernel[k].name;
        const uint32_t gx = rt->launch.kernel[k].local[0], gy = rt->launch.kernel[k].local[1];
        ze_kernel_desc_t kd = {.stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = name};
        ZE_CHECK(zeKernelCreate(rt->module, &kd, &rt->kernel[k]), "creating kernel '%s'", name);
        /* Each kernel keeps one group size for its whole life, set once here. */
        ZE_CHECK(zeKernelSetGroupSize(rt->kernel[k], gx, gy, 1), "setting the group size %ux%u of '%s'",
                 gx, gy, name);
    }
    return ZMOE_OK;
}

void zmoe_runtime_tear_down(struct zmoe_runtime *rt)
{
    /* Nothing may still run on memory we free: wait for the queue first (bounded). */
    if (rt->queue && rt->own_queue)
        zeCommandQueueSynchronize(rt->queue, 10ull * 1000 * 1000 * 1000);
    if (rt->slots) {
        for (uint32_t s = 0; s < rt->depth; s++) {
            struct zmoe_ring_slot *sl = &rt->slots[s];
            if (sl->state == ZMOE_SLOT_SUBMITTED && sl->fence)
                zeFenceHostSynchronize(sl->fence, 10ull * 1000 * 1000 * 1000);
            for (uint32_t l = 0; sl->lists && l < rt->cfg.model.layers; l++)
                if (sl->lists[l])
                    zeCommandListDestroy(sl->lists[l]);
            for (uint32_t l = 0; sl->experts_lists && l < rt->cfg.model.layers; l++)
                if (sl->experts_lists[l])
                    zeCommandListDestroy(sl->experts_lists[l]);
            for (int e = 0; e < ZMOE_STAGE_COUNT; e++)
                if (sl->ev[e])
                    zeEventDestroy(sl->ev[e]);
            if (sl->fence)
                zeFenceDestroy(sl->fence);
        }
    }
    if (rt->upload_list)
        zeCommandListDestroy(rt->upload_list);
    if (rt->upload_fence)
        zeFenceDestroy(rt->upload_fence);
    if (rt->event_pool)
        zeEventPoolDestroy(rt->event_pool);
    for (int k = 0; k < ZMOE_K_COUNT; k++)
        if (rt->kernel[k])
            zeKernelDestroy(rt->kernel[k]);
    if (rt->module)
        zeModuleDestroy(rt->module);
    if (rt->arena_committed)
        zmoe_arena_release(&rt->arena);
    if (rt->queue && rt->own_queue)
        zeCommandQueueDestroy(rt->queue);
    if (rt->context && rt->own_context)
        zeContextDestroy(rt->context);
}
