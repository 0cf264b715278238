/* Thread safety: several host threads, each with its own queue, execute lists
 * that launch one shared kernel (argument values were copied at append) while
 * other threads allocate, query and free memory. Totals must be exact. */
#include "hd_test.h"

#include <pthread.h>

enum { THREADS = 4, ROUNDS = 40, N = 256, ALLOCS = 500 };

static struct hdt t;
static ze_command_list_handle_t lists[2];
static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(void)
{
    pthread_mutex_lock(&fail_lock);
    failures++;
    pthread_mutex_unlock(&fail_lock);
}

static void *executor(void *arg)
{
    int id = (int)(intptr_t)arg;
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC };
    ze_command_queue_handle_t q;
    if (zeCommandQueueCreate(t.ctx, t.dev, &qd, &q) != ZE_RESULT_SUCCESS) {
        fail();
        return NULL;
    }
    ze_fence_desc_t fd = { .stype = ZE_STRUCTURE_TYPE_FENCE_DESC };
    ze_fence_handle_t f;
    if (zeFenceCreate(q, &fd, &f) != ZE_RESULT_SUCCESS)
        fail();
    for (int r = 0; r < ROUNDS; r++) {
        ze_command_list_handle_t l = lists[(id + r) % 2];
        if (zeCommandQueueExecuteCommandLists(q, 1, &l, f) != ZE_RESULT_SUCCESS ||
            zeFenceHostSynchronize(f, UINT64_MAX) != ZE_RESULT_SUCCESS || zeFenceReset(f) != ZE_RESULT_SUCCESS)
            fail();
    }
    zeFenceDestroy(f);
    zeCommandQueueDestroy(q);
    return NULL;
}

static void *allocator(void *arg)
{
    (void)arg;
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    void *live[8] = { 0 };
    for (int i = 0; i < ALLOCS; i++) {
        int slot = i % 8;
        if (live[slot] && zeMemFree(t.ctx, live[slot]) != ZE_RESULT_SUCCESS)
            fail();
        size_t size = 64 + (size_t)(i % 13) * 100;
        if (zeMemAllocDevice(t.ctx, &dd, size, 0, t.dev, &live[slot]) != ZE_RESULT_SUCCESS) {
            fail();
            live[slot] = NULL;
            continue;
        }
        void *base = NULL;
        size_t got = 0;
        if (zeMemGetAddressRange(t.ctx, (char *)live[slot] + size - 1, &base, &got) != ZE_RESULT_SUCCESS ||
            base != live[slot] || got != size)
            fail();
    }
    for (int i = 0; i < 8; i++)
        if (live[i] && zeMemFree(t.ctx, live[i]) != ZE_RESULT_SUCCESS)
            fail();
    return NULL;
}

int main(void)
{
    hdt_init(&t, 0, 1);
    uint32_t *buf[2] = { hdt_shared(&t, N * sizeof(uint32_t)), hdt_shared(&t, N * sizeof(uint32_t)) };
    memset(buf[0], 0, N * sizeof(uint32_t));
    memset(buf[1], 0, N * sizeof(uint32_t));
    /* atomic: the 4 queues run the lists concurrently (hostdev continues lists in PoCL
     * callbacks; Level Zero orders nothing between queues) */
    ze_kernel_handle_t k = hdt_kernel(t.mod, "inc_atomic");
    ZE_CHECK(zeKernelSetGroupSize(k, 16, 1, 1));
    ze_group_count_t gc = { N / 16, 1, 1 };
    for (int i = 0; i < 2; i++) {
        ze_command_list_desc_t ld = { .stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC };
        ZE_CHECK(zeCommandListCreate(t.ctx, t.dev, &ld, &lists[i]));
        ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof buf[i], &buf[i]));
        ZE_CHECK(zeCommandListAppendLaunchKernel(lists[i], k, &gc, NULL, 0, NULL));
        ZE_CHECK(zeCommandListClose(lists[i]));
    }
    pthread_t th[THREADS + 2];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, executor, (void *)(intptr_t)i);
    for (int i = THREADS; i < THREADS + 2; i++)
        pthread_create(&th[i], NULL, allocator, NULL);
    for (int i = 0; i < THREADS + 2; i++)
        pthread_join(th[i], NULL);
    TAP_EQ_INT(failures, 0, "no call failed in %d executor and 2 allocator threads", THREADS);
    int bad = 0;
    for (int j = 0; j < N; j++)
        bad += buf[0][j] != THREADS * ROUNDS / 2 || buf[1][j] != THREADS * ROUNDS / 2;
    TAP_EQ_INT(bad, 0, "each buffer incremented exactly %d times from %d queues", THREADS * ROUNDS / 2, THREADS);
    TAP_EQ_INT(buf[0][0], THREADS * ROUNDS / 2, "buffer 0 count");
    for (int i = 0; i < 2; i++)
        ZE_CHECK(zeCommandListDestroy(lists[i]));
    ZE_CHECK(zeKernelDestroy(k));
    zeMemFree(t.ctx, buf[0]);
    zeMemFree(t.ctx, buf[1]);
    hdt_fini(&t);
    return tap_exit();
}
