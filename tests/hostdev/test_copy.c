/* Copies and fills between every memory kind and plain host memory. */
#include "hd_test.h"

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 0);
    enum { N = 4096 };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    uint8_t *src = malloc(N), *back = malloc(N);
    uint8_t *dev = hdt_device_mem(&t, N), *shared = hdt_shared(&t, N), *host = NULL;
    ZE_CHECK(zeMemAllocHost(t.ctx, &hd, N, 0, (void **)&host));
    for (int i = 0; i < N; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    memset(back, 0, N);
    /* malloc -> device -> shared -> host -> malloc, each after a barrier. */
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, dev, src, N, NULL, 0, NULL), "copy malloc -> device");
    ZE_OK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL), "barrier");
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, shared, dev, N, NULL, 0, NULL), "copy device -> shared");
    ZE_OK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL), "barrier");
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, host, shared, N, NULL, 0, NULL), "copy shared -> host");
    ZE_OK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL), "barrier");
    ZE_OK(zeCommandListAppendMemoryCopy(t.list, back, host, N, NULL, 0, NULL), "copy host -> malloc");
    ZE_OK(hdt_run(&t), "run the copy chain");
    TAP_OK(!memcmp(back, src, N), "bytes survive malloc -> device -> shared -> host -> malloc");

    /* Fills with patterns of 1..128 bytes, including a size that is not a multiple. */
    static const size_t psizes[] = { 1, 2, 4, 8, 16, 64, 128 };
    uint8_t pattern[128];
    for (int i = 0; i < 128; i++)
        pattern[i] = (uint8_t)(0xA0 + i);
    for (size_t j = 0; j < sizeof psizes / sizeof *psizes; j++) {
        size_t ps = psizes[j], size = N - (ps > 1 ? ps / 2 : 0) - 1;
        memset(shared, 0x55, N);
        ZE_OK(zeCommandListAppendMemoryFill(t.list, dev, pattern, ps, size, NULL, 0, NULL), "fill %zu-byte pattern",
              ps);
        ZE_OK(zeCommandListAppendBarrier(t.list, NULL, 0, NULL), "barrier");
        ZE_OK(zeCommandListAppendMemoryCopy(t.list, shared, dev, size, NULL, 0, NULL), "copy back");
        ZE_OK(hdt_run(&t), "run fill %zu", ps);
        size_t bad = 0;
        for (size_t i = 0; i < size; i++)
            bad += shared[i] != pattern[i % ps];
        bad += shared[size] != 0x55;
        TAP_EQ_INT(bad, 0, "fill of %zu bytes with a %zu-byte pattern, nothing past the end", size, ps);
    }
    /* The pattern is copied at append time. */
    uint32_t pat32 = 0x01020304;
    ZE_OK(zeCommandListAppendMemoryFill(t.list, shared, &pat32, 4, 64, NULL, 0, NULL), "fill 4-byte pattern");
    pat32 = 0;
    ZE_OK(hdt_run(&t), "run");
    uint32_t got;
    memcpy(&got, shared + 60, 4);
    TAP_EQ_INT(got, 0x01020304, "fill pattern copied at append");

    /* A 3-D region: a 5x4x3 box at (2,1,1) of a 16x8x4 source into (0,3,0) of a 8x8x3 target. */
    {
        enum { SP = 16, SS = 16 * 8, DP = 8, DS = 8 * 8 };
        uint8_t *rs = hdt_shared(&t, SS * 4), *rd = hdt_shared(&t, DS * 3);
        for (int i = 0; i < SS * 4; i++)
            rs[i] = (uint8_t)(i * 13 + 1);
        memset(rd, 0, DS * 3);
        ze_copy_region_t sr = { 2, 1, 1, 5, 4, 3 }, dr = { 0, 3, 0, 5, 4, 3 };
        ZE_OK(zeCommandListAppendMemoryCopyRegion(t.list, rd, &dr, DP, DS, rs, &sr, SP, SS, NULL, 0, NULL),
              "append 3-D region copy");
        ZE_OK(hdt_run(&t), "run region copy");
        size_t bad = 0, touched = 0;
        for (int z = 0; z < 3; z++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) {
                    int in = x < 5 && y >= 3 && y < 7;
                    uint8_t want = in ? rs[(z + 1) * SS + (y - 3 + 1) * SP + x + 2] : 0;
                    bad += rd[z * DS + y * DP + x] != want;
                    touched += in;
                }
        TAP_EQ_INT(bad, 0, "region copy moved exactly the %zu bytes of the box", touched);
        ze_copy_region_t wide = { 0, 0, 0, 20, 1, 1 };
        TAP_EQ_INT(zeCommandListAppendMemoryCopyRegion(t.list, rd, &wide, DP, DS, rs, &wide, SP, SS, NULL, 0, NULL),
                   ZE_RESULT_ERROR_INVALID_ARGUMENT, "region wider than its pitch refused");
        zeMemFree(t.ctx, rs);
        zeMemFree(t.ctx, rd);
    }

    /* The specification's 2-D copy: depth 0 (ze_copy_region_t: "Set this to 0 for 2D
     * copy"); the slice pitches are then unused. A 7x5 box at (3,2) of a 16-byte-pitch
     * source into (1,0) of a 10-byte-pitch target. */
    {
        enum { SP = 16, DP = 10, SH = 8, DH = 6 };
        uint8_t *rs = hdt_shared(&t, SP * SH), *rd = hdt_shared(&t, DP * DH);
        for (int i = 0; i < SP * SH; i++)
            rs[i] = (uint8_t)(i * 5 + 7);
        memset(rd, 0, DP * DH);
        ze_copy_region_t sr = { 3, 2, 0, 7, 5, 0 }, dr = { 1, 0, 0, 7, 5, 0 };
        ZE_OK(zeCommandListAppendMemoryCopyRegion(t.list, rd, &dr, DP, 0, rs, &sr, SP, 0, NULL, 0, NULL),
              "append a 2-D region copy (depth 0, slice pitch 0)");
        ZE_OK(hdt_run(&t), "run the 2-D region copy");
        size_t bad = 0, moved = 0;
        for (int y = 0; y < DH; y++)
            for (int x = 0; x < DP; x++) {
                int in = x >= 1 && x < 8 && y < 5;
                uint8_t want = in ? rs[(y + 2) * SP + (x - 1) + 3] : 0;
                bad += rd[y * DP + x] != want;
                moved += in && rd[y * DP + x] == want;
            }
        TAP_EQ_INT(bad, 0, "depth 0 copies exactly the 2-D box");
        TAP_EQ_INT(moved, 35, "all 35 bytes of the box arrived");
        /* Degenerate boxes copy nothing and are not errors. */
        memset(rd, 0, DP * DH);
        ze_copy_region_t empty_w = { 0, 0, 0, 0, 5, 1 }, empty_h = { 0, 0, 0, 7, 0, 0 };
        ZE_OK(zeCommandListAppendMemoryCopyRegion(t.list, rd, &empty_w, DP, 0, rs, &empty_w, SP, 0, NULL, 0, NULL),
              "a region of width 0");
        ZE_OK(zeCommandListAppendMemoryCopyRegion(t.list, rd, &empty_h, DP, 0, rs, &empty_h, SP, 0, NULL, 0, NULL),
              "a region of height 0");
        ZE_OK(hdt_run(&t), "run the empty region copies");
        size_t nonzero = 0;
        for (int i = 0; i < DP * DH; i++)
            nonzero += rd[i] != 0;
        TAP_EQ_INT(nonzero, 0, "empty regions wrote nothing");
        ze_copy_region_t d1 = { 0, 0, 0, 4, 2, 1 }, d0 = { 0, 0, 0, 4, 2, 0 };
        TAP_EQ_INT(zeCommandListAppendMemoryCopyRegion(t.list, rd, &d1, DP, 0, rs, &d0, SP, 0, NULL, 0, NULL),
                   ZE_RESULT_SUCCESS, "depth 1 and depth 0 describe the same box");
        ZE_OK(hdt_run(&t), "run it");
        TAP_OK(rd[0] == rs[0] && rd[DP + 3] == rs[SP + 3], "and copy it");
        zeMemFree(t.ctx, rs);
        zeMemFree(t.ctx, rd);
    }

    /* Degenerate fills: size 0 does nothing; a destination not aligned to the
     * pattern (OpenCL's fill requires it, Level Zero does not) is still filled. */
    {
        uint32_t p4 = 0x11223344u;
        memset(shared, 0, 64);
        ZE_OK(zeCommandListAppendMemoryFill(t.list, shared, &p4, 4, 0, NULL, 0, NULL), "fill of size 0");
        ZE_OK(zeCommandListAppendMemoryFill(t.list, shared + 1, &p4, 4, 8, NULL, 0, NULL), "fill at an odd address");
        ZE_OK(hdt_run(&t), "run the degenerate fills");
        uint8_t want[10] = { 0, 0x44, 0x33, 0x22, 0x11, 0x44, 0x33, 0x22, 0x11, 0 };
        TAP_OK(!memcmp(shared, want, 10), "size 0 wrote nothing, the odd fill wrote its 8 bytes");
    }

    /* The copy-only queue group (ordinal 1): copies and fills run, kernels do not. */
    {
        ze_command_queue_desc_t cq = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC, .ordinal = 1 };
        ze_command_list_desc_t cl = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC, .commandQueueGroupOrdinal = 1 };
        ze_command_queue_handle_t copyq;
        ze_command_list_handle_t copyl, imm;
        ZE_OK(zeCommandQueueCreate(t.ctx, t.dev, &cq, &copyq), "create a queue of the copy group");
        ZE_OK(zeCommandListCreate(t.ctx, t.dev, &cl, &copyl), "create a list of the copy group");
        uint32_t p4 = 0xA1B2C3D4u;
        memset(back, 0, N);
        ZE_OK(zeCommandListAppendMemoryFill(copyl, dev, &p4, 4, N, NULL, 0, NULL), "fill on the copy list");
        ZE_OK(zeCommandListAppendBarrier(copyl, NULL, 0, NULL), "barrier on the copy list");
        ZE_OK(zeCommandListAppendMemoryCopy(copyl, back, dev, N, NULL, 0, NULL), "copy on the copy list");
        ze_module_handle_t m = hdt_module(t.ctx, t.dev);
        ze_kernel_handle_t k = hdt_kernel(m, "inc");
        ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof shared, &shared));
        ze_group_count_t gc = { 1, 1, 1 };
        TAP_EQ_INT(zeCommandListAppendLaunchKernel(copyl, k, &gc, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
                   "a copy-only list refuses a kernel launch");
        ZE_OK(zeCommandListClose(copyl), "close the copy list");
        TAP_EQ_INT(zeCommandQueueExecuteCommandLists(t.q, 1, &copyl, NULL), ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE,
                   "a copy list on a compute queue is refused");
        ZE_CHECK(zeCommandListClose(t.list));
        TAP_EQ_INT(zeCommandQueueExecuteCommandLists(copyq, 1, &t.list, NULL),
                   ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE, "a compute list on a copy queue is refused");
        ZE_CHECK(zeCommandListReset(t.list));
        ZE_OK(zeCommandQueueExecuteCommandLists(copyq, 1, &copyl, NULL), "execute on the copy queue");
        ZE_OK(zeCommandQueueSynchronize(copyq, UINT64_MAX), "synchronize the copy queue");
        uint32_t w0, wn;
        memcpy(&w0, back, 4);
        memcpy(&wn, back + N - 4, 4);
        TAP_OK(w0 == p4 && wn == p4, "the copy queue filled and copied");
        ZE_OK(zeCommandListCreateImmediate(t.ctx, t.dev, &cq, &imm), "immediate list on the copy group");
        memset(back, 0, N);
        ZE_OK(zeCommandListAppendMemoryCopy(imm, back, dev, 64, NULL, 0, NULL), "immediate copy");
        TAP_EQ_INT(zeCommandListAppendLaunchKernel(imm, k, &gc, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_ARGUMENT,
                   "the copy-only immediate list refuses a launch");
        ZE_CHECK(zeCommandListAppendBarrier(imm, NULL, 0, NULL));
        ze_command_queue_desc_t bad = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC, .ordinal = 2 };
        ze_command_queue_handle_t badq = NULL;
        TAP_EQ_INT(zeCommandQueueCreate(t.ctx, t.dev, &bad, &badq), ZE_RESULT_ERROR_INVALID_ARGUMENT,
                   "ordinal 2 does not exist");
        bad.ordinal = 1;
        bad.index = 64;
        TAP_EQ_INT(zeCommandQueueCreate(t.ctx, t.dev, &bad, &badq), ZE_RESULT_ERROR_INVALID_ARGUMENT,
                   "index 64 is beyond the group's numQueues");
        ZE_CHECK(zeCommandListDestroy(imm));
        memcpy(&w0, back + 60, 4);
        TAP_EQ_INT(w0, p4, "the immediate copy ran");
        ZE_CHECK(zeKernelDestroy(k));
        ZE_CHECK(zeModuleDestroy(m));
        ZE_CHECK(zeCommandListDestroy(copyl));
        ZE_CHECK(zeCommandQueueDestroy(copyq));
    }

    TAP_EQ_INT(zeCommandListAppendMemoryFill(t.list, dev, pattern, 3, 30, NULL, 0, NULL), ZE_RESULT_ERROR_INVALID_SIZE,
               "pattern size 3 refused");
    TAP_EQ_INT(zeCommandListAppendMemoryFill(t.list, dev, pattern, 256, 512, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_SIZE, "pattern size 256 refused");
    TAP_EQ_INT(zeCommandListAppendMemoryCopy(t.list, shared + 10, shared, 100, NULL, 0, NULL),
               ZE_RESULT_ERROR_OVERLAPPING_REGIONS, "overlapping copy refused");
    TAP_EQ_INT(zeCommandListAppendMemoryCopy(t.list, NULL, shared, 100, NULL, 0, NULL),
               ZE_RESULT_ERROR_INVALID_NULL_POINTER, "copy to NULL");
    zeMemFree(t.ctx, dev);
    zeMemFree(t.ctx, shared);
    zeMemFree(t.ctx, host);
    free(src);
    free(back);
    hdt_fini(&t);
    return tap_exit();
}
