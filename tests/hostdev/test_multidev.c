/* HOSTDEV_DEVICES=3 (set by the test's environment, read at zeInit): three
 * devices with distinct identities, allocations tagged with their device, and a
 * kernel run on each device's queue over memory of another. */
#include "hd_test.h"

int main(void)
{
    ZE_CHECK(zeInit(0));
    uint32_t n = 1;
    ze_driver_handle_t drv;
    ZE_CHECK(zeDriverGet(&n, &drv));
    n = 0;
    ZE_OK(zeDeviceGet(drv, &n, NULL), "device count");
    TAP_EQ_INT(n, 3, "HOSTDEV_DEVICES=3 gives three devices");
    ze_device_handle_t dev[3];
    n = 3;
    ZE_OK(zeDeviceGet(drv, &n, dev), "get devices");
    ze_device_properties_t p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (ze_device_properties_t){ .stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES };
        ZE_OK(zeDeviceGetProperties(dev[i], &p[i]), "device %d properties", i);
    }
    TAP_OK(memcmp(p[0].uuid.id, p[1].uuid.id, 16) && memcmp(p[1].uuid.id, p[2].uuid.id, 16) &&
           memcmp(p[0].uuid.id, p[2].uuid.id, 16), "distinct UUIDs");
    ze_bool_t can = 0;
    ZE_OK(zeDeviceCanAccessPeer(dev[0], dev[2], &can), "can access peer");
    TAP_OK(can, "devices reach each other's memory");

    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t ctx;
    ZE_CHECK(zeContextCreate(drv, &cd, &ctx));
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPV, &len);
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    uint32_t *buf[3];
    for (int i = 0; i < 3; i++) {
        ZE_CHECK(zeMemAllocShared(ctx, &dd, &hd, 64 * sizeof(uint32_t), 0, dev[i], (void **)&buf[i]));
        memset(buf[i], 0, 64 * sizeof(uint32_t));
        ze_memory_allocation_properties_t ap = { .stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES };
        ze_device_handle_t owner = NULL;
        ZE_OK(zeMemGetAllocProperties(ctx, buf[i], &ap, &owner), "properties %d", i);
        TAP_OK(owner == dev[i], "allocation %d belongs to device %d", i, i);
    }
    for (int i = 0; i < 3; i++) {
        ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                                .inputSize = len, .pInputModule = spv };
        ze_module_handle_t m;
        ZE_OK(zeModuleCreate(ctx, dev[i], &md, &m, NULL), "module on device %d", i);
        ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "inc" };
        ze_kernel_handle_t k;
        ZE_CHECK(zeKernelCreate(m, &kd, &k));
        uint32_t *target = buf[(i + 1) % 3];   /* another device's memory */
        ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof target, &target));
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
        ze_command_list_handle_t l;
        ZE_CHECK(zeCommandListCreateImmediate(ctx, dev[i], &qd, &l));
        ze_group_count_t gc = { 64, 1, 1 };
        for (int r = 0; r <= i; r++)
            ZE_CHECK(zeCommandListAppendLaunchKernel(l, k, &gc, NULL, 0, NULL));
        ZE_CHECK(zeCommandListDestroy(l));   /* waits for its appends */
        ZE_CHECK(zeKernelDestroy(k));
        ZE_CHECK(zeModuleDestroy(m));
    }
    TAP_OK(buf[1][0] == 1 && buf[2][0] == 2 && buf[0][0] == 3 && buf[0][63] == 3,
           "each device's queue updated its neighbour's buffer (%u %u %u)", buf[0][0], buf[1][0], buf[2][0]);
    for (int i = 0; i < 3; i++)
        ZE_CHECK(zeMemFree(ctx, buf[i]));
    free(spv);
    ZE_CHECK(zeContextDestroy(ctx));
    return tap_exit();
}
