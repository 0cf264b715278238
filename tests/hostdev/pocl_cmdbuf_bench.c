/* pocl_cmdbuf_bench: would PoCL's command buffers (cl_khr_command_buffer, which PoCL
 * 3.1 advertises) cut the allocations PoCL makes per executed list? Not a test: it
 * measures, on PoCL alone (no Level Zero), the mallocs per round and the wall time
 * per round of five kernel launches (each with ARGS arguments, as zmoe's stages
 * have), enqueued one by one (what hostdev does) and as one recorded command buffer
 * enqueued with clEnqueueCommandBufferKHR. Run with the system ICD loader limited to
 * PoCL:
 *
 *   OCL_ICD_VENDORS=/etc/OpenCL/vendors/pocl.icd build/tests/hostdev/hostdev_pocl_cmdbuf_bench [rounds]
 *
 * The malloc family is replaced for the whole process and counted between marks. */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

static uint64_t mallocs;
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
int posix_memalign(void **out, size_t align, size_t size);
void *aligned_alloc(size_t align, size_t size);
void *memalign(size_t align, size_t size);
void *malloc(size_t size) { __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED); return __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }
void *aligned_alloc(size_t align, size_t size) { __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED); return __libc_memalign(align, size); }
void *memalign(size_t align, size_t size) { __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED); return __libc_memalign(align, size); }
int posix_memalign(void **out, size_t align, size_t size)
{
    __atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED);
    void *p = __libc_memalign(align, size);
    if (!p)
        return 12;
    *out = p;
    return 0;
}

enum { LAUNCHES = 5, ARGS = 10 };

static const char *src =
    "__kernel void k(__global int *a, __global int *b, __global int *c, __global int *d,"
    "                int x, int y, int z, uint n, float s, __global int *e)\n"
    "{ size_t i = get_global_id(0); if (i < n) a[i] += x + y + z + (int)s + b[0] + c[0] + d[0] + e[0]; }\n";

#define CHECK(call)                                                                     \
    do {                                                                                \
        cl_int e_ = (call);                                                             \
        if (e_ != CL_SUCCESS) {                                                         \
            fprintf(stderr, "%s:%d: %s -> %d\n", __FILE__, __LINE__, #call, (int)e_);    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_args(cl_kernel k, int *a, int *b)
{
    int x = 1, y = 0, z = 0;
    cl_uint n = 64;
    float s = 0.0f;
    CHECK(clSetKernelArgSVMPointer(k, 0, a));
    CHECK(clSetKernelArgSVMPointer(k, 1, b));
    CHECK(clSetKernelArgSVMPointer(k, 2, b));
    CHECK(clSetKernelArgSVMPointer(k, 3, b));
    CHECK(clSetKernelArg(k, 4, sizeof x, &x));
    CHECK(clSetKernelArg(k, 5, sizeof y, &y));
    CHECK(clSetKernelArg(k, 6, sizeof z, &z));
    CHECK(clSetKernelArg(k, 7, sizeof n, &n));
    CHECK(clSetKernelArg(k, 8, sizeof s, &s));
    CHECK(clSetKernelArgSVMPointer(k, 9, b));
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    if (rounds < 10)
        rounds = 10;
    cl_platform_id plat;
    cl_device_id dev;
    CHECK(clGetPlatformIDs(1, &plat, NULL));
    CHECK(clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, NULL));
    char ext[4096] = "";
    clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, sizeof ext, ext, NULL);
    char ver[256] = "";
    clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof ver, ver, NULL);
    printf("device: %s\ncl_khr_command_buffer: %s\n", ver, strstr(ext, "cl_khr_command_buffer") ? "yes" : "no");
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    CHECK(err);
    /* as hostdev's queues: in order, with profiling */
    const cl_queue_properties props[] = { CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0 };
    cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, props, &err);
    CHECK(err);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
    CHECK(err);
    CHECK(clBuildProgram(prog, 1, &dev, "", NULL, NULL));
    cl_kernel k = clCreateKernel(prog, "k", &err);
    CHECK(err);
    int *a = clSVMAlloc(ctx, CL_MEM_READ_WRITE, 64 * sizeof(int), 0);
    int *b = clSVMAlloc(ctx, CL_MEM_READ_WRITE, 64 * sizeof(int), 0);
    memset(a, 0, 64 * sizeof(int));
    memset(b, 0, 64 * sizeof(int));
    set_args(k, a, b);
    size_t global = 64, local = 8;

    clCreateCommandBufferKHR_fn create_cb =
        (clCreateCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(plat, "clCreateCommandBufferKHR");
    clCommandNDRangeKernelKHR_fn record_nd =
        (clCommandNDRangeKernelKHR_fn)clGetExtensionFunctionAddressForPlatform(plat, "clCommandNDRangeKernelKHR");
    clFinalizeCommandBufferKHR_fn finalize_cb =
        (clFinalizeCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(plat, "clFinalizeCommandBufferKHR");
    clEnqueueCommandBufferKHR_fn enqueue_cb =
        (clEnqueueCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(plat, "clEnqueueCommandBufferKHR");
    clReleaseCommandBufferKHR_fn release_cb =
        (clReleaseCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(plat, "clReleaseCommandBufferKHR");
    cl_command_buffer_khr cb = NULL;
    if (create_cb && record_nd && finalize_cb && enqueue_cb && release_cb) {
        cb = create_cb(1, &q, NULL, &err);
        CHECK(err);
        cl_sync_point_khr sp = 0, prev = 0;
        for (int i = 0; i < LAUNCHES; i++) {
            CHECK(record_nd(cb, NULL, NULL, k, 1, NULL, &global, &local, i ? 1 : 0, i ? &prev : NULL, &sp, NULL));
            prev = sp;
        }
        CHECK(finalize_cb(cb));
    }

    for (int mode = 0; mode < 3; mode++) {
        if (mode == 2 && !cb)
            break;
        const char *name = mode == 0   ? "one by one, an event per launch (hostdev)"
                           : mode == 1 ? "one by one, arguments set again per launch"
                                       : "one command buffer (clEnqueueCommandBufferKHR)";
        uint64_t m0 = 0, t0 = 0;
        for (int r = 0; r < rounds + 10; r++) {
            if (r == 10) {   /* warmed up */
                m0 = __atomic_load_n(&mallocs, __ATOMIC_RELAXED);
                t0 = now_ns();
            }
            if (mode == 2) {
                cl_event ev;
                CHECK(enqueue_cb(0, NULL, cb, 0, NULL, &ev));
                CHECK(clReleaseEvent(ev));
            } else {
                for (int i = 0; i < LAUNCHES; i++) {
                    cl_event ev;
                    if (mode == 1)
                        set_args(k, a, b);
                    CHECK(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, &ev));
                    CHECK(clReleaseEvent(ev));
                }
            }
            CHECK(clFinish(q));
        }
        uint64_t m1 = __atomic_load_n(&mallocs, __ATOMIC_RELAXED), t1 = now_ns();
        printf("%-50s %6.1f mallocs per round of %d launches, %7.1f us per round\n", name,
               (double)(m1 - m0) / rounds, LAUNCHES, (double)(t1 - t0) / rounds / 1e3);
    }
    if (cb)
        release_cb(cb);
    clSVMFree(ctx, a);
    clSVMFree(ctx, b);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return 0;
}
