/* sample.c — a plain Level Zero program (vector add), written only against
 * ze_api.h the way vendor samples are: first GPU-capable driver, device memory,
 * copies, one command list on one queue. It knows nothing about hostdev; the
 * test runs it unmodified with ZE_ENABLE_ALT_DRIVERS pointing at hostdev.
 *
 *   sample <kernels.spv>     prints TAP: "1..1" then "ok 1" or "not ok 1" */
#include <level_zero/ze_api.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                     \
    do {                                                                                \
        ze_result_t r_ = (call);                                                        \
        if (r_ != ZE_RESULT_SUCCESS) {                                                  \
            printf("not ok 1 - %s failed: 0x%x\n", #call, (unsigned)r_);                \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main(int argc, char **argv)
{
    printf("1..1\n");
    if (argc < 2) {
        printf("not ok 1 - usage: sample kernels.spv\n");
        return 1;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        printf("not ok 1 - cannot open %s\n", argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t spv_size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *spv = malloc(spv_size);
    if (!spv || fread(spv, 1, spv_size, f) != spv_size) {
        printf("not ok 1 - cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);

    CHECK(zeInit(ZE_INIT_FLAG_GPU_ONLY));
    uint32_t ndrv = 0;
    CHECK(zeDriverGet(&ndrv, NULL));
    ze_driver_handle_t *drivers = malloc(ndrv * sizeof *drivers);
    CHECK(zeDriverGet(&ndrv, drivers));
    ze_driver_handle_t driver = drivers[0];
    uint32_t ndev = 1;
    ze_device_handle_t device;
    CHECK(zeDeviceGet(driver, &ndev, &device));
    ze_device_properties_t props = { .stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES };
    CHECK(zeDeviceGetProperties(device, &props));
    printf("# device: %s\n", props.name);

    ze_context_desc_t ctx_desc = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t context;
    CHECK(zeContextCreate(driver, &ctx_desc, &context));

    enum { N = 4096 };
    float *ha = malloc(N * sizeof(float)), *hb = malloc(N * sizeof(float)), *hc = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        ha[i] = (float)i;
        hb[i] = (float)(2 * i);
        hc[i] = 0.0f;
    }
    ze_device_mem_alloc_desc_t dev_desc = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    void *da, *db, *dc;
    CHECK(zeMemAllocDevice(context, &dev_desc, N * sizeof(float), 64, device, &da));
    CHECK(zeMemAllocDevice(context, &dev_desc, N * sizeof(float), 64, device, &db));
    CHECK(zeMemAllocDevice(context, &dev_desc, N * sizeof(float), 64, device, &dc));

    ze_module_desc_t mod_desc = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                                  .inputSize = spv_size, .pInputModule = spv };
    ze_module_handle_t module;
    CHECK(zeModuleCreate(context, device, &mod_desc, &module, NULL));
    ze_kernel_desc_t kern_desc = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "vadd" };
    ze_kernel_handle_t kernel;
    CHECK(zeKernelCreate(module, &kern_desc, &kernel));
    uint32_t gx, gy, gz;
    CHECK(zeKernelSuggestGroupSize(kernel, N, 1, 1, &gx, &gy, &gz));
    CHECK(zeKernelSetGroupSize(kernel, gx, gy, gz));
    uint32_t n = N;
    CHECK(zeKernelSetArgumentValue(kernel, 0, sizeof da, &da));
    CHECK(zeKernelSetArgumentValue(kernel, 1, sizeof db, &db));
    CHECK(zeKernelSetArgumentValue(kernel, 2, sizeof dc, &dc));
    CHECK(zeKernelSetArgumentValue(kernel, 3, sizeof n, &n));

    ze_command_queue_desc_t q_desc = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                       .mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS };
    ze_command_queue_handle_t queue;
    CHECK(zeCommandQueueCreate(context, device, &q_desc, &queue));
    ze_command_list_desc_t l_desc = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    ze_command_list_handle_t list;
    CHECK(zeCommandListCreate(context, device, &l_desc, &list));
    CHECK(zeCommandListAppendMemoryCopy(list, da, ha, N * sizeof(float), NULL, 0, NULL));
    CHECK(zeCommandListAppendMemoryCopy(list, db, hb, N * sizeof(float), NULL, 0, NULL));
    CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL));
    ze_group_count_t groups = { N / gx, 1, 1 };
    CHECK(zeCommandListAppendLaunchKernel(list, kernel, &groups, NULL, 0, NULL));
    CHECK(zeCommandListAppendBarrier(list, NULL, 0, NULL));
    CHECK(zeCommandListAppendMemoryCopy(list, hc, dc, N * sizeof(float), NULL, 0, NULL));
    CHECK(zeCommandListClose(list));
    CHECK(zeCommandQueueExecuteCommandLists(queue, 1, &list, NULL));
    CHECK(zeCommandQueueSynchronize(queue, UINT64_MAX));

    int errors = 0;
    for (int i = 0; i < N; i++)
        errors += hc[i] != ha[i] + hb[i];

    CHECK(zeCommandListDestroy(list));
    CHECK(zeCommandQueueDestroy(queue));
    CHECK(zeKernelDestroy(kernel));
    CHECK(zeModuleDestroy(module));
    CHECK(zeMemFree(context, da));
    CHECK(zeMemFree(context, db));
    CHECK(zeMemFree(context, dc));
    CHECK(zeContextDestroy(context));
    free(ha);
    free(hb);
    free(hc);
    free(drivers);
    free(spv);
    printf("%sok 1 - vector add of %d floats on '%s' (%d errors)\n", errors ? "not " : "", N, props.name, errors);
    return errors != 0;
}
