/* Kernel argument kinds and the error codes of bad use: argument index and size,
 * local arguments, group sizes, unset arguments, NULL handles, open lists. */
#include "hd_test.h"

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    ze_kernel_handle_t k = hdt_kernel(t.mod, "group_sum");   /* (global, global, local) */
    int *buf = hdt_shared(&t, 64 * sizeof(int));
    int *out = hdt_shared(&t, 4 * sizeof(int));

    TAP_EQ_INT(zeKernelSetArgumentValue(k, 3, sizeof buf, &buf), ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_INDEX,
               "argument index out of range");
    TAP_EQ_INT(zeKernelSetArgumentValue(k, 0, 4, &buf), ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE,
               "pointer argument with size 4");
    TAP_EQ_INT(zeKernelSetArgumentValue(NULL, 0, sizeof buf, &buf), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "NULL kernel");
    TAP_EQ_INT(zeKernelSetArgumentValue(k, 2, 64, &buf), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "local argument with a value");
    TAP_EQ_INT(zeKernelSetArgumentValue(k, 2, 0, NULL), ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE,
               "local argument of 0 bytes");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof buf, &buf), "global argument");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof(void *), NULL), "NULL global pointer is a valid value");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof out, &out), "global argument");

    ze_group_count_t gc = { 4, 1, 1 };
    TAP_EQ_INT(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "launch with an unset argument is refused");
    ZE_OK(zeKernelSetArgumentValue(k, 2, 16 * sizeof(int), NULL), "local argument of 64 bytes");

    ze_device_compute_properties_t cp = { .stype = ZE_STRUCTURE_TYPE_DEVICE_COMPUTE_PROPERTIES };
    ZE_OK(zeDeviceGetComputeProperties(t.dev, &cp), "compute properties");
    TAP_EQ_INT(zeKernelSetGroupSize(k, 0, 1, 1), ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION, "group size 0");
    TAP_EQ_INT(zeKernelSetGroupSize(k, cp.maxTotalGroupSize, 2, 1), ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION,
               "group larger than maxTotalGroupSize");
    ZE_OK(zeKernelSetGroupSize(k, 16, 1, 1), "group size 16");
    uint32_t sx, sy, sz;
    TAP_EQ_INT(zeKernelSuggestGroupSize(k, 0, 1, 1, &sx, &sy, &sz), ZE_RESULT_ERROR_INVALID_GLOBAL_WIDTH_DIMENSION,
               "suggest for a zero global size");
    ZE_OK(zeKernelSuggestGroupSize(k, 48, 6, 5, &sx, &sy, &sz), "suggest for 48x6x5");
    TAP_OK(48 % sx == 0 && 6 % sy == 0 && 5 % sz == 0 && sx * sy * sz <= cp.maxTotalGroupSize,
           "suggested %ux%ux%u divides 48x6x5", sx, sy, sz);

    for (int i = 0; i < 64; i++)
        buf[i] = i;
    ZE_OK(zeCommandListAppendLaunchKernel(t.list, k, &gc, NULL, 0, NULL), "append group_sum");
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "executing an open (not closed) list is refused");
    TAP_EQ_INT(zeCommandListAppendLaunchKernel(NULL, k, &gc, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "append to a NULL list");
    TAP_EQ_INT(zeCommandListAppendLaunchKernel(t.list, NULL, &gc, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "append a NULL kernel");
    TAP_EQ_INT(zeCommandListAppendLaunchKernel(t.list, k, NULL, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_NULL_POINTER,
               "append without group counts");
    ZE_OK(zeCommandListClose(t.list), "close");
    TAP_EQ_INT(zeCommandListAppendBarrier(t.list, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "append to a closed list is refused");
    ZE_OK(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL), "execute");
    ZE_OK(zeCommandQueueSynchronize(t.q, UINT64_MAX), "sync");
    int bad = 0;
    for (int g = 0; g < 4; g++) {
        int want = 0;
        for (int i = 0; i < 16; i++)
            want += g * 16 + i;
        bad += out[g] != want;
    }
    TAP_EQ_INT(bad, 0, "group_sum with a 64-byte local argument is right");
    ZE_OK(zeCommandListReset(t.list), "reset");
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(t.q, 1, &t.list, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
               "a reset list is open again");
    TAP_EQ_INT(zeCommandQueueExecuteCommandLists(NULL, 1, &t.list, NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE,
               "NULL queue");
    TAP_EQ_INT(zeKernelDestroy(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "destroy NULL kernel");
    ZE_OK(zeKernelDestroy(k), "destroy kernel");
    zeMemFree(t.ctx, buf);
    zeMemFree(t.ctx, out);
    hdt_fini(&t);
    return tap_exit();
}
