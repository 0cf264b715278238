/* hd_test.h — shared setup for hostdev's tests: every test goes through the real
 * Level Zero loader (ZE_ENABLE_ALT_DRIVERS points it at the built driver). */
#ifndef HOSTDEV_TEST_H
#define HOSTDEV_TEST_H

#include <level_zero/ze_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define ZE_OK(call, ...) TAP_EQ_INT((call), ZE_RESULT_SUCCESS, __VA_ARGS__)
#define ZE_CHECK(call)                                                                  \
    do {                                                                                \
        ze_result_t r_ = (call);                                                        \
        if (r_ != ZE_RESULT_SUCCESS)                                                    \
            tap_bail("%s:%d: %s -> 0x%x", __FILE__, __LINE__, #call, (unsigned)r_);     \
    } while (0)

struct hdt {
    ze_driver_handle_t drv;
    ze_device_handle_t dev;
    ze_context_handle_t ctx;
    ze_command_queue_handle_t q;
    ze_command_list_handle_t list;
    ze_module_handle_t mod;
};

static inline uint8_t *hdt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        tap_bail("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        tap_bail("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline ze_module_handle_t hdt_module(ze_context_handle_t ctx, ze_device_handle_t dev)
{
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPV, &len);
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = len, .pInputModule = spv };
    ze_module_handle_t m = NULL;
    ze_module_build_log_handle_t log = NULL;
    ze_result_t r = zeModuleCreate(ctx, dev, &md, &m, &log);
    if (r != ZE_RESULT_SUCCESS) {
        size_t n = 0;
        char text[8192] = "";
        if (log) {
            n = sizeof text;
            zeModuleBuildLogGetString(log, &n, text);
        }
        tap_bail("zeModuleCreate -> 0x%x: %s", (unsigned)r, text);
    }
    if (log)
        zeModuleBuildLogDestroy(log);
    free(spv);
    return m;
}

/* zeInit, first driver and device; a context; optionally a queue, list, module. */
static inline void hdt_init(struct hdt *t, int with_queue, int with_module)
{
    memset(t, 0, sizeof *t);
    ZE_CHECK(zeInit(0));
    uint32_t n = 1;
    ZE_CHECK(zeDriverGet(&n, &t->drv));
    n = 1;
    ZE_CHECK(zeDeviceGet(t->drv, &n, &t->dev));
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ZE_CHECK(zeContextCreate(t->drv, &cd, &t->ctx));
    if (with_queue) {
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                       .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS };
        ZE_CHECK(zeCommandQueueCreate(t->ctx, t->dev, &qd, &t->q));
        ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
        ZE_CHECK(zeCommandListCreate(t->ctx, t->dev, &ld, &t->list));
    }
    if (with_module)
        t->mod = hdt_module(t->ctx, t->dev);
}

static inline void hdt_fini(struct hdt *t)
{
    if (t->mod)
        ZE_CHECK(zeModuleDestroy(t->mod));
    if (t->list)
        ZE_CHECK(zeCommandListDestroy(t->list));
    if (t->q)
        ZE_CHECK(zeCommandQueueDestroy(t->q));
    ZE_CHECK(zeContextDestroy(t->ctx));
}

static inline ze_kernel_handle_t hdt_kernel(ze_module_handle_t m, const char *name)
{
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = name };
    ze_kernel_handle_t k = NULL;
    ZE_CHECK(zeKernelCreate(m, &kd, &k));
    return k;
}

static inline void *hdt_shared(struct hdt *t, size_t size)
{
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    void *p = NULL;
    ZE_CHECK(zeMemAllocShared(t->ctx, &dd, &hd, size, 64, t->dev, &p));
    return p;
}

static inline void *hdt_device_mem(struct hdt *t, size_t size)
{
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    void *p = NULL;
    ZE_CHECK(zeMemAllocDevice(t->ctx, &dd, size, 64, t->dev, &p));
    return p;
}

/* Closes the test's list, runs it on the queue and waits; the list is reset after. */
static inline ze_result_t hdt_run(struct hdt *t)
{
    ze_result_t r = zeCommandListClose(t->list);
    if (r == ZE_RESULT_SUCCESS)
        r = zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL);
    if (r == ZE_RESULT_SUCCESS)
        r = zeCommandQueueSynchronize(t->q, UINT64_MAX);
    zeCommandListReset(t->list);
    return r;
}

#endif
