/* Kernel launches through the real loader: 1-D vector add, 2-D and 3-D grids,
 * local memory with barriers, by-value struct arguments, __constant pointers,
 * reqd_work_group_size and indirect launches with device-written group counts. */
#include "hd_test.h"

static void test_vadd(struct hdt *t)
{
    enum { N = 1000 };
    float *a = hdt_shared(t, N * sizeof(float)), *b = hdt_shared(t, N * sizeof(float));
    float *c = hdt_shared(t, N * sizeof(float));
    for (int i = 0; i < N; i++) {
        a[i] = (float)i;
        b[i] = 0.5f * (float)i;
        c[i] = -1.0f;
    }
    ze_kernel_handle_t k = hdt_kernel(t->mod, "vadd");
    uint32_t n = N;
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof a, &a), "vadd arg 0");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof b, &b), "vadd arg 1");
    ZE_OK(zeKernelSetArgumentValue(k, 2, sizeof c, &c), "vadd arg 2");
    ZE_OK(zeKernelSetArgumentValue(k, 3, sizeof n, &n), "vadd arg 3");
    uint32_t sx, sy, sz;
    ZE_OK(zeKernelSuggestGroupSize(k, 1024, 1, 1, &sx, &sy, &sz), "suggest group size");
    TAP_OK(sx >= 1 && 1024 % sx == 0 && sy == 1 && sz == 1, "suggested size %u,%u,%u tiles 1024", sx, sy, sz);
    ZE_OK(zeKernelSetGroupSize(k, sx, 1, 1), "set group size");
    ze_group_count_t gc = { 1024 / sx, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL), "append vadd");
    ZE_OK(hdt_run(t), "run vadd");
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += c[i] != 1.5f * (float)i;
    TAP_EQ_INT(bad, 0, "vadd: every c[i] == a[i] + b[i]");
    ZE_OK(zeKernelDestroy(k), "destroy vadd");
    zeMemFree(t->ctx, a);
    zeMemFree(t->ctx, b);
    zeMemFree(t->ctx, c);
}

static void test_grid(struct hdt *t, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t sx, uint32_t sy, uint32_t sz)
{
    size_t n = (size_t)gx * sx * gy * sy * gz * sz;
    uint32_t *out = hdt_shared(t, n * sizeof *out);
    memset(out, 0, n * sizeof *out);
    ze_kernel_handle_t k = hdt_kernel(t->mod, "ids3");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof out, &out), "ids3 arg");
    ZE_OK(zeKernelSetGroupSize(k, sx, sy, sz), "ids3 group size %ux%ux%u", sx, sy, sz);
    ze_group_count_t gc = { gx, gy, gz };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL), "append ids3");
    ZE_OK(hdt_run(t), "run ids3 %ux%ux%u groups", gx, gy, gz);
    size_t w = (size_t)gx * sx, h = (size_t)gy * sy, bad = 0;
    for (size_t z = 0; z < (size_t)gz * sz; z++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                size_t i = (z * h + y) * w + x;
                uint32_t want = (uint32_t)(i + 1) ^ ((uint32_t)(x % sx) << 24) ^ ((uint32_t)(x / sx) << 16);
                bad += out[i] != want;
            }
    TAP_EQ_INT(bad, 0, "ids3 %ux%ux%u groups of %ux%ux%u: every item wrote its ids", gx, gy, gz, sx, sy, sz);
    ZE_OK(zeKernelDestroy(k), "destroy ids3");
    zeMemFree(t->ctx, out);
}

static void test_local(struct hdt *t)
{
    enum { G = 16, L = 64 };
    int *in = hdt_shared(t, G * L * sizeof(int)), *out = hdt_shared(t, G * sizeof(int));
    for (int i = 0; i < G * L; i++)
        in[i] = i % 7 - 3 + i / L;
    ze_kernel_handle_t k = hdt_kernel(t->mod, "group_sum");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof in, &in), "group_sum arg 0");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof out, &out), "group_sum arg 1");
    ZE_OK(zeKernelSetArgumentValue(k, 2, L * sizeof(int), NULL), "group_sum local arg");
    ZE_OK(zeKernelSetGroupSize(k, L, 1, 1), "group_sum group size");
    ze_group_count_t gc = { G, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL), "append group_sum");
    ZE_OK(hdt_run(t), "run group_sum");
    int bad = 0;
    for (int g = 0; g < G; g++) {
        int want = 0;
        for (int i = 0; i < L; i++)
            want += in[g * L + i];
        bad += out[g] != want;
    }
    TAP_EQ_INT(bad, 0, "group_sum: local memory + barriers give every group's sum");
    ZE_OK(zeKernelDestroy(k), "destroy group_sum");
    zeMemFree(t->ctx, in);
    zeMemFree(t->ctx, out);
}

typedef struct {
    float scale;
    int offset;
    char tag;
    long long big;
} params_t;

static void test_byvalue(struct hdt *t)
{
    enum { N = 32 };
    int *in = hdt_shared(t, N * sizeof(int));
    float *out = hdt_shared(t, N * sizeof(float));
    for (int i = 0; i < N; i++)
        in[i] = i;
    ze_kernel_handle_t k = hdt_kernel(t->mod, "affine");
    params_t p = { 2.0f, 3, 5, 1000 };
    short extra = 7;
    ze_kernel_properties_t kp = { .stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES };
    ZE_OK(zeKernelGetProperties(k, &kp), "affine properties");
    TAP_EQ_INT(kp.numKernelArgs, 4, "affine has 4 arguments");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof in, &in), "affine arg 0");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof out, &out), "affine arg 1");
    TAP_EQ_INT(zeKernelSetArgumentValue(k, 2, sizeof p - 8, &p), ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE,
               "struct argument with the wrong size is refused");
    ZE_OK(zeKernelSetArgumentValue(k, 2, sizeof p, &p), "affine struct arg (%zu bytes)", sizeof p);
    ZE_OK(zeKernelSetArgumentValue(k, 3, sizeof extra, &extra), "affine short arg");
    ze_group_count_t gc = { N, 1, 1 };
    ZE_OK(zeKernelSetGroupSize(k, 1, 1, 1), "affine group size");
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL), "append affine");
    /* Arguments are copied at append: changing them now must not affect the launch. */
    p.scale = 100.0f;
    ZE_OK(zeKernelSetArgumentValue(k, 2, sizeof p, &p), "reset struct arg after append");
    ZE_OK(hdt_run(t), "run affine");
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += out[i] != 2.0f * (float)(i + 3) + 5.0f + 1000.0f + 7.0f;
    TAP_EQ_INT(bad, 0, "affine: by-value struct and short arrive intact, copied at append");
    ZE_OK(zeKernelDestroy(k), "destroy affine");
    zeMemFree(t->ctx, in);
    zeMemFree(t->ctx, out);
}

static void test_const_and_fixed(struct hdt *t)
{
    enum { N = 24 };
    int *table = hdt_device_mem(t, N * sizeof(int)), *out = hdt_shared(t, N * sizeof(int));
    int host[N];
    for (int i = 0; i < N; i++)
        host[i] = i * i;
    ZE_OK(zeCommandListAppendMemoryCopy(t->list, table, host, sizeof host, NULL, 0, NULL), "copy table");
    ZE_OK(zeCommandListAppendBarrier(t->list, NULL, 0, NULL), "barrier");
    ze_kernel_handle_t k = hdt_kernel(t->mod, "from_const");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof table, &table), "from_const arg 0");
    ZE_OK(zeKernelSetArgumentValue(k, 1, sizeof out, &out), "from_const arg 1");
    ze_group_count_t gc = { N, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL), "append from_const");
    ZE_OK(hdt_run(t), "run from_const");
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += out[i] != 2 * i * i;
    TAP_EQ_INT(bad, 0, "__constant pointer argument reads device memory");
    ZE_OK(zeKernelDestroy(k), "destroy from_const");

    uint32_t *o8 = hdt_shared(t, 32 * sizeof(uint32_t));
    k = hdt_kernel(t->mod, "fixed8");
    ze_kernel_properties_t kp = { .stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES };
    ZE_OK(zeKernelGetProperties(k, &kp), "fixed8 properties");
    TAP_OK(kp.requiredGroupSizeX == 8 && kp.requiredGroupSizeY == 1 && kp.requiredGroupSizeZ == 1,
           "reqd_work_group_size reflected (%u,%u,%u)", kp.requiredGroupSizeX, kp.requiredGroupSizeY,
           kp.requiredGroupSizeZ);
    TAP_EQ_INT(zeKernelSetGroupSize(k, 4, 1, 1), ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION,
               "a group size other than reqd_work_group_size is refused");
    uint32_t sx = 0, sy = 0, sz = 0;
    ZE_OK(zeKernelSuggestGroupSize(k, 32, 1, 1, &sx, &sy, &sz), "suggest for fixed8");
    TAP_EQ_INT(sx, 8, "suggested size honours reqd_work_group_size");
    ZE_OK(zeKernelSetArgumentValue(k, 0, sizeof o8, &o8), "fixed8 arg");
    ze_group_count_t g4 = { 4, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, k, &g4, NULL, 0, NULL), "append fixed8");
    ZE_OK(hdt_run(t), "run fixed8");
    bad = 0;
    for (int i = 0; i < 32; i++)
        bad += o8[i] != 8;
    TAP_EQ_INT(bad, 0, "fixed8 ran with local size 8 without SetGroupSize");
    ZE_OK(zeKernelDestroy(k), "destroy fixed8");
    zeMemFree(t->ctx, table);
    zeMemFree(t->ctx, out);
    zeMemFree(t->ctx, o8);
}

static void test_indirect(struct hdt *t)
{
    enum { MAXN = 64 };
    ze_group_count_t *counts = hdt_device_mem(t, sizeof *counts);
    uint32_t *data = hdt_shared(t, MAXN * sizeof(uint32_t));
    memset(data, 0, MAXN * sizeof(uint32_t));
    ze_kernel_handle_t wc = hdt_kernel(t->mod, "write_counts"), inc = hdt_kernel(t->mod, "inc");
    uint32_t x = 37;
    ZE_OK(zeKernelSetArgumentValue(wc, 0, sizeof counts, &counts), "write_counts arg 0");
    ZE_OK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x), "write_counts arg 1");
    ZE_OK(zeKernelSetArgumentValue(inc, 0, sizeof data, &data), "inc arg");
    ze_group_count_t one = { 1, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, wc, &one, NULL, 0, NULL), "append write_counts");
    ZE_OK(zeCommandListAppendBarrier(t->list, NULL, 0, NULL), "barrier");
    ZE_OK(zeCommandListAppendLaunchKernelIndirect(t->list, inc, counts, NULL, 0, NULL), "append indirect inc");
    ZE_OK(hdt_run(t), "run indirect");
    int bad = 0;
    for (int i = 0; i < MAXN; i++)
        bad += data[i] != (i < 37 ? 1u : 0u);
    TAP_EQ_INT(bad, 0, "indirect launch used the group count written by the device (37)");

    /* The list is re-recorded with a different x: group counts are read at execution. */
    x = 5;
    ZE_OK(zeKernelSetArgumentValue(wc, 1, sizeof x, &x), "write_counts x=5");
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, wc, &one, NULL, 0, NULL), "append write_counts");
    ZE_OK(zeCommandListAppendBarrier(t->list, NULL, 0, NULL), "barrier");
    ZE_OK(zeCommandListAppendLaunchKernelIndirect(t->list, inc, counts, NULL, 0, NULL), "append indirect inc");
    ZE_OK(zeCommandListClose(t->list), "close");
    ZE_OK(zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL), "execute once");
    ZE_OK(zeCommandQueueExecuteCommandLists(t->q, 1, &t->list, NULL), "execute twice");
    ZE_OK(zeCommandQueueSynchronize(t->q, UINT64_MAX), "sync");
    ZE_OK(zeCommandListReset(t->list), "reset");
    bad = 0;
    for (int i = 0; i < MAXN; i++)
        bad += data[i] != (i < 5 ? 3u : i < 37 ? 1u : 0u);
    TAP_EQ_INT(bad, 0, "re-executed list launched 5 groups each time");

    /* Global offset (zeKernelSetGlobalOffsetExp): 5 items starting at 40. */
    memset(data, 0, MAXN * sizeof(uint32_t));
    ZE_OK(zeKernelSetGlobalOffsetExp(inc, 40, 0, 0), "global offset 40");
    ze_group_count_t five = { 5, 1, 1 };
    ZE_OK(zeCommandListAppendLaunchKernel(t->list, inc, &five, NULL, 0, NULL), "append offset launch");
    ZE_OK(zeKernelSetGlobalOffsetExp(inc, 0, 0, 0), "offset back to 0 (the append kept 40)");
    ZE_OK(hdt_run(t), "run offset launch");
    bad = 0;
    for (int i = 0; i < MAXN; i++)
        bad += data[i] != (i >= 40 && i < 45 ? 1u : 0u);
    TAP_EQ_INT(bad, 0, "global offset shifted the grid to items 40..44");
    zeKernelDestroy(wc);
    zeKernelDestroy(inc);
    zeMemFree(t->ctx, counts);
    zeMemFree(t->ctx, data);
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 1);
    test_vadd(&t);
    test_grid(&t, 7, 1, 1, 4, 1, 1);
    test_grid(&t, 3, 5, 1, 4, 2, 1);
    test_grid(&t, 2, 3, 4, 2, 2, 2);
    test_local(&t);
    test_byvalue(&t);
    test_const_and_fixed(&t);
    test_indirect(&t);
    hdt_fini(&t);
    return tap_exit();
}
