/* Fault injection and limits by environment, all re-read at zeContextCreate:
 * HOSTDEV_FAIL (n-th call of an entry point or of any, default and named errors,
 * a SQLite-style sweep), HOSTDEV_FAULT_LOG, HOSTDEV_DEVICE_LOST_AFTER and
 * HOSTDEV_DEVICE_MEMORY. */
#include "hd_test.h"

#include <unistd.h>

static ze_driver_handle_t drv;
static ze_device_handle_t dev;
static size_t spv_len;
static uint8_t *spv;

static int contexts_created;

static ze_context_handle_t ctx_new(void)
{
    ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
    ze_context_handle_t c = NULL;
    ZE_CHECK(zeContextCreate(drv, &cd, &c));
    contexts_created++;
    return c;
}

/* Destroys a context; a fault on the first attempt (sweeps) is retried. */
static void ctx_del(ze_context_handle_t c)
{
    if (zeContextDestroy(c) != ZE_RESULT_SUCCESS)
        ZE_CHECK(zeContextDestroy(c));
}

/* A small complete program. Returns the first failing call's result; cleans up
 * whatever it created either way. */
static ze_result_t program(ze_context_handle_t c, uint32_t *out_value)
{
    ze_result_t r;
    void *buf = NULL;
    ze_module_handle_t m = NULL;
    ze_kernel_handle_t k = NULL;
    ze_command_queue_handle_t q = NULL;
    ze_command_list_handle_t l = NULL;
    ze_fence_handle_t f = NULL;
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    if ((r = zeMemAllocShared(c, &dd, &hd, 64 * sizeof(uint32_t), 0, dev, &buf)))
        goto out;
    memset(buf, 0, 64 * sizeof(uint32_t));
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = spv_len, .pInputModule = spv };
    if ((r = zeModuleCreate(c, dev, &md, &m, NULL)))
        goto out;
    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "inc" };
    if ((r = zeKernelCreate(m, &kd, &k)))
        goto out;
    if ((r = zeKernelSetArgumentValue(k, 0, sizeof buf, &buf)))
        goto out;
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    if ((r = zeCommandQueueCreate(c, dev, &qd, &q)))
        goto out;
    ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
    if ((r = zeCommandListCreate(c, dev, &ld, &l)))
        goto out;
    ze_group_count_t gc = { 64, 1, 1 };
    if ((r = zeCommandListAppendLaunchKernel(l, k, &gc, NULL, 0, NULL)))
        goto out;
    if ((r = zeCommandListClose(l)))
        goto out;
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    if ((r = zeFenceCreate(q, &fd, &f)))
        goto out;
    if ((r = zeCommandQueueExecuteCommandLists(q, 1, &l, f)))
        goto out;
    if ((r = zeFenceHostSynchronize(f, UINT64_MAX)))
        goto out;
    *out_value = ((uint32_t *)buf)[63];
out:
    /* Cleanup must work even while faults fire: retry each destroy once. */
    if (f && zeFenceDestroy(f))
        zeFenceDestroy(f);
    if (l && zeCommandListDestroy(l))
        zeCommandListDestroy(l);
    if (q && zeCommandQueueDestroy(q))
        zeCommandQueueDestroy(q);
    if (k && zeKernelDestroy(k))
        zeKernelDestroy(k);
    if (m && zeModuleDestroy(m))
        zeModuleDestroy(m);
    if (buf && zeMemFree(c, buf))
        zeMemFree(c, buf);
    return r;
}

static int is_clean_error(ze_result_t r)
{
    return r == ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY || r == ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY ||
           r == ZE_RESULT_ERROR_UNKNOWN;
}

int main(void)
{
    ZE_CHECK(zeInit(0));
    uint32_t n = 1;
    ZE_CHECK(zeDriverGet(&n, &drv));
    n = 1;
    ZE_CHECK(zeDeviceGet(drv, &n, &dev));
    spv = hdt_read_file(HOSTDEV_TEST_SPV, &spv_len);
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    void *p[4] = { 0 };

    /* The n-th call of one entry point, default error; counters restart per context. */
    setenv("HOSTDEV_FAIL", "zeMemAllocDevice:2", 1);
    for (int round = 0; round < 2; round++) {
        ze_context_handle_t c = ctx_new();
        ZE_OK(zeMemAllocDevice(c, &dd, 64, 0, dev, &p[0]), "round %d: 1st device alloc", round);
        TAP_EQ_INT(zeMemAllocDevice(c, &dd, 64, 0, dev, &p[1]), ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY,
                   "round %d: 2nd device alloc fails with OUT_OF_DEVICE_MEMORY", round);
        ZE_OK(zeMemAllocDevice(c, &dd, 64, 0, dev, &p[2]), "round %d: 3rd device alloc", round);
        ZE_CHECK(zeMemFree(c, p[0]));
        ZE_CHECK(zeMemFree(c, p[2]));
        ZE_CHECK(zeContextDestroy(c));
    }

    /* A named error. */
    setenv("HOSTDEV_FAIL", "zeKernelCreate:1:ZE_RESULT_ERROR_INVALID_ARGUMENT", 1);
    {
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        TAP_EQ_INT(program(c, &v), ZE_RESULT_ERROR_INVALID_ARGUMENT, "named error returned by zeKernelCreate");
        ZE_CHECK(zeContextDestroy(c));
    }
    setenv("HOSTDEV_FAIL", "zeCommandQueueCreate:1:OUT_OF_HOST_MEMORY", 1);
    {
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        TAP_EQ_INT(program(c, &v), ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY, "short error name accepted");
        ZE_CHECK(zeContextDestroy(c));
    }

    /* HOSTDEV_FAULT_LOG: one line on stderr naming the entry point and the count. */
    setenv("HOSTDEV_FAIL", "zeFenceCreate:1", 1);
    setenv("HOSTDEV_FAULT_LOG", "1", 1);
    {
        char path[] = "/tmp/hostdev-faultlog-XXXXXX";
        int fd = mkstemp(path);
        fflush(stderr);
        int saved = dup(2);
        dup2(fd, 2);
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        ze_result_t r = program(c, &v);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        TAP_EQ_INT(r, ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY, "zeFenceCreate fails with OUT_OF_HOST_MEMORY");
        char text[1024] = "";
        lseek(fd, 0, SEEK_SET);
        ssize_t got = read(fd, text, sizeof text - 1);
        text[got > 0 ? got : 0] = '\0';
        close(fd);
        unlink(path);
        TAP_OK(strstr(text, "zeFenceCreate call 1") && strstr(text, "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY"),
               "fault log names entry, count and error: %s", text);
        ZE_CHECK(zeContextDestroy(c));
    }
    unsetenv("HOSTDEV_FAULT_LOG");

    /* zeContextCreate is counted from zeInit: fail the second creation from now. */
    {
        char spec[64];
        snprintf(spec, sizeof spec, "zeContextCreate:%d", contexts_created + 2);
        setenv("HOSTDEV_FAIL", spec, 1);
        ze_context_handle_t c = ctx_new();
        ze_context_desc_t cd = { .stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC };
        ze_context_handle_t c2 = NULL;
        TAP_EQ_INT(zeContextCreate(drv, &cd, &c2), ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY,
                   "%s fails that context creation", spec);
        contexts_created++;
        ze_context_handle_t c3 = ctx_new();
        TAP_OK(c3 != NULL, "the next creation succeeds");
        ZE_CHECK(zeContextDestroy(c3));
        ZE_CHECK(zeContextDestroy(c));
    }

    /* Sweep: fail the k-th call of any entry point for k = 1, 2, ... until the
     * program completes; every run must end in success or a clean error. */
    int runs = 0, clean = 0, completed = 0;
    for (int kth = 1; kth < 200 && !completed; kth++) {
        char spec[32];
        snprintf(spec, sizeof spec, "*:%d", kth);
        setenv("HOSTDEV_FAIL", spec, 1);
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        ze_result_t r = program(c, &v);
        runs++;
        if (r == ZE_RESULT_SUCCESS)
            completed = v == 1;
        else
            clean += is_clean_error(r);
        ctx_del(c);
    }
    TAP_OK(completed, "sweep: the program completes once the fault point passes its last call (%d runs)", runs);
    TAP_EQ_INT(clean, runs - 1, "sweep: every earlier run ended in a clean error");
    TAP_OK(runs > 10, "sweep covered every call of the program (%d)", runs);
    unsetenv("HOSTDEV_FAIL");

    /* Device lost after 2 executions (and the fault log says where). */
    setenv("HOSTDEV_DEVICE_LOST_AFTER", "2", 1);
    setenv("HOSTDEV_FAULT_LOG", "1", 1);
    {
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        ZE_OK(program(c, &v), "execution 1 before the loss");
        ZE_OK(program(c, &v), "execution 2 before the loss");
        char path[] = "/tmp/hostdev-lostlog-XXXXXX";
        int logfd = mkstemp(path);
        fflush(stderr);
        int saved = dup(2);
        dup2(logfd, 2);
        ze_result_t r = program(c, &v);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        char text[512] = "";
        lseek(logfd, 0, SEEK_SET);
        ssize_t got = read(logfd, text, sizeof text - 1);
        text[got > 0 ? got : 0] = '\0';
        close(logfd);
        unlink(path);
        TAP_EQ_INT(r, ZE_RESULT_ERROR_DEVICE_LOST, "execution 3 reports DEVICE_LOST");
        TAP_OK(strstr(text, "device lost at execution 3") != NULL, "fault log names the execution: %s", text);
        unsetenv("HOSTDEV_FAULT_LOG");
        TAP_EQ_INT(zeContextGetStatus(c), ZE_RESULT_ERROR_DEVICE_LOST, "context status DEVICE_LOST");
        ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
        ze_command_queue_handle_t q;
        ZE_CHECK(zeCommandQueueCreate(c, dev, &qd, &q));
        TAP_EQ_INT(zeCommandQueueSynchronize(q, UINT64_MAX), ZE_RESULT_ERROR_DEVICE_LOST,
                   "later synchronize reports DEVICE_LOST");
        ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
        ze_fence_handle_t f;
        ZE_CHECK(zeFenceCreate(q, &fd, &f));
        TAP_EQ_INT(zeFenceHostSynchronize(f, UINT64_MAX), ZE_RESULT_ERROR_DEVICE_LOST, "fence sync DEVICE_LOST");
        ZE_CHECK(zeFenceDestroy(f));
        ZE_CHECK(zeCommandQueueDestroy(q));
        ZE_CHECK(zeContextDestroy(c));
    }
    unsetenv("HOSTDEV_DEVICE_LOST_AFTER");
    {
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        ZE_OK(program(c, &v), "a new context without the knob works");
        TAP_EQ_INT(v, 1, "and computes");
        ZE_OK(zeContextGetStatus(c), "context status fine");
        ZE_CHECK(zeContextDestroy(c));
    }

    /* Device memory cap: the program's shared buffer does not fit. */
    setenv("HOSTDEV_DEVICE_MEMORY", "128", 1);
    {
        ze_context_handle_t c = ctx_new();
        uint32_t v = 0;
        TAP_EQ_INT(program(c, &v), ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY, "256-byte buffer over a 128-byte cap");
        ZE_CHECK(zeContextDestroy(c));
    }
    unsetenv("HOSTDEV_DEVICE_MEMORY");
    free(spv);
    return tap_exit();
}
