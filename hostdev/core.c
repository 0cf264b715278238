/* core.c — hostdev bring-up: zeInit, driver and device queries, contexts, the
 * environment knobs and fault injection. */
#include "hd.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hd_state hd = {
    .driver_magic = HD_MAGIC_DRIVER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .mem_lock = PTHREAD_MUTEX_INITIALIZER,
    .gone = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------------ helpers */

uint64_t hd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool hd_deadline(uint64_t timeout_ns, struct timespec *ts)
{
    if (timeout_ns == UINT64_MAX)
        return false;
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + timeout_ns % 1000000000u;
    uint64_t sec = timeout_ns / 1000000000u + ns / 1000000000u;
    /* Clamp absurd timeouts instead of overflowing time_t. */
    if (sec > (uint64_t)1 << 40)
        return false;
    ts->tv_sec += (time_t)sec;
    ts->tv_nsec = (long)(ns % 1000000000u);
    return true;
}

uint64_t hd_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) {
        fprintf(stderr, "hostdev: ignoring %s=%s (not a number)\n", name, s);
        return dflt;
    }
    return v;
}

ze_result_t hd_cl_error(cl_int err)
{
    switch (err) {
    case CL_SUCCESS: return ZE_RESULT_SUCCESS;
    case CL_OUT_OF_HOST_MEMORY: return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    case CL_OUT_OF_RESOURCES:
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY;
    case CL_INVALID_WORK_GROUP_SIZE:
    case CL_INVALID_WORK_ITEM_SIZE: return ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION;
    case CL_INVALID_KERNEL_ARGS: return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    default: return ZE_RESULT_ERROR_UNKNOWN;
    }
}

bool hd_count_query(uint32_t *pCount, const void *array, uint32_t n)
{
    if (*pCount == 0 || !array) {
        *pCount = n;
        return true;
    }
    if (*pCount > n)
        *pCount = n;
    return false;
}

void hd_string_query(const char *s, size_t *pSize, char *out)
{
    size_t need = strlen(s) + 1;
    if (!out || *pSize == 0) {
        *pSize = need;
        return;
    }
    size_t n = *pSize < need ? *pSize : need;
    memcpy(out, s, n);
    out[n - 1] = '\0';
    *pSize = n;
}

void hd_parent_ref(uint32_t *refs)
{
    pthread_mutex_lock(&hd.lock);
    (*refs)++;
    pthread_mutex_unlock(&hd.lock);
}

bool hd_parent_unref_last(uint32_t *refs, const bool *destroyed)
{
    pthread_mutex_lock(&hd.lock);
    bool last = --*refs == 0 && *destroyed;
    pthread_mutex_unlock(&hd.lock);
    return last;
}

bool hd_parent_destroy_last(const uint32_t *refs, bool *destroyed)
{
    pthread_mutex_lock(&hd.lock);
    *destroyed = true;
    bool last = *refs == 0;
    pthread_mutex_unlock(&hd.lock);
    return last;
}

/* ---------------------------------------------------------- fault injection */

/* HOSTDEV_FAIL=<entry|*>:<n>[:<error>][,...] — re-read at every zeContextCreate. */
#define HD_MAX_FAULTS 8
struct hd_fault_spec {
    char entry[64];
    uint64_t n, count;
    ze_result_t error;   /* 0: the default for the entry point */
    bool fired;
};
static struct {
    pthread_mutex_t lock;
    struct hd_fault_spec specs[HD_MAX_FAULTS];
    int nspecs;
    uint64_t context_creates;   /* zeContextCreate is counted from zeInit */
    bool log;
} faults = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const struct { const char *name; ze_result_t value; } result_names[] = {
#define R(x) { #x, x }
    R(ZE_RESULT_NOT_READY), R(ZE_RESULT_ERROR_DEVICE_LOST), R(ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY),
    R(ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY), R(ZE_RESULT_ERROR_MODULE_BUILD_FAILURE),
    R(ZE_RESULT_ERROR_MODULE_LINK_FAILURE), R(ZE_RESULT_ERROR_DEVICE_REQUIRES_RESET),
    R(ZE_RESULT_ERROR_DEVICE_IN_LOW_POWER_STATE), R(ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS),
    R(ZE_RESULT_ERROR_NOT_AVAILABLE), R(ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE),
    R(ZE_RESULT_ERROR_UNINITIALIZED), R(ZE_RESULT_ERROR_UNSUPPORTED_VERSION),
    R(ZE_RESULT_ERROR_UNSUPPORTED_FEATURE), R(ZE_RESULT_ERROR_INVALID_ARGUMENT),
    R(ZE_RESULT_ERROR_INVALID_NULL_HANDLE), R(ZE_RESULT_ERROR_HANDLE_OBJECT_IN_USE),
    R(ZE_RESULT_ERROR_INVALID_NULL_POINTER), R(ZE_RESULT_ERROR_INVALID_SIZE),
    R(ZE_RESULT_ERROR_UNSUPPORTED_SIZE), R(ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT),
    R(ZE_RESULT_ERROR_INVALID_SYNCHRONIZATION_OBJECT), R(ZE_RESULT_ERROR_INVALID_ENUMERATION),
    R(ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION), R(ZE_RESULT_ERROR_UNSUPPORTED_IMAGE_FORMAT),
    R(ZE_RESULT_ERROR_INVALID_NATIVE_BINARY), R(ZE_RESULT_ERROR_INVALID_GLOBAL_NAME),
    R(ZE_RESULT_ERROR_INVALID_KERNEL_NAME), R(ZE_RESULT_ERROR_INVALID_FUNCTION_NAME),
    R(ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION), R(ZE_RESULT_ERROR_INVALID_GLOBAL_WIDTH_DIMENSION),
    R(ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_INDEX), R(ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE),
    R(ZE_RESULT_ERROR_INVALID_KERNEL_ATTRIBUTE_VALUE), R(ZE_RESULT_ERROR_INVALID_MODULE_UNLINKED),
    R(ZE_RESULT_ERROR_INVALID_COMMAND_LIST_TYPE), R(ZE_RESULT_ERROR_OVERLAPPING_REGIONS),
    R(ZE_RESULT_ERROR_UNKNOWN),
#undef R
};

static const char *result_name(ze_result_t r)
{
    for (size_t i = 0; i < sizeof result_names / sizeof *result_names; i++)
        if (result_names[i].value == r)
            return result_names[i].name;
    return "ZE_RESULT_?";
}

static ze_result_t parse_result(const char *s)
{
    for (size_t i = 0; i < sizeof result_names / sizeof *result_names; i++) {
        const char *n = result_names[i].name;
        if (!strcmp(s, n) || !strcmp(s, n + strlen("ZE_RESULT_")) ||
            (!strncmp(n, "ZE_RESULT_ERROR_", 16) && !strcmp(s, n + 16)))
            return result_names[i].value;
    }
    return ZE_RESULT_SUCCESS;
}

/* Called with faults.lock held. */
static void faults_reload(void)
{
    faults.nspecs = 0;
    faults.log = hd_env_u64("HOSTDEV_FAULT_LOG", 0) != 0;
    const char *env = getenv("HOSTDEV_FAIL");
    if (!env || !*env)
        return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", env);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item && faults.nspecs < HD_MAX_FAULTS;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (!colon) {
            fprintf(stderr, "hostdev: ignoring HOSTDEV_FAIL item '%s' (want entry:n[:error])\n", item);
            continue;
        }
        *colon = '\0';
        char *nstr = colon + 1, *err = strchr(nstr, ':');
        if (err)
            *err++ = '\0';
        char *end;
        unsigned long long n = strtoull(nstr, &end, 10);
        if (*end || n == 0 || strlen(item) >= sizeof faults.specs[0].entry) {
            fprintf(stderr, "hostdev: ignoring HOSTDEV_FAIL item '%s:%s'\n", item, nstr);
            continue;
        }
        struct hd_fault_spec *f = &faults.specs[faults.nspecs++];
        memset(f, 0, sizeof *f);
        snprintf(f->entry, sizeof f->entry, "%s", item);
        f->n = n;
        if (err) {
            f->error = parse_result(err);
            if (f->error == ZE_RESULT_SUCCESS) {
                fprintf(stderr, "hostdev: unknown error name '%s' in HOSTDEV_FAIL; using the default\n", err);
            }
        }
    }
}

static ze_result_t default_fault(const char *entry)
{
    if (!strncmp(entry, "zeMemAlloc", 10))
        return ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY;
    if (strstr(entry, "Create"))
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    return ZE_RESULT_ERROR_UNKNOWN;
}

static ze_result_t fault_check_locked(const char *entry, uint64_t *counter_override)
{
    for (int i = 0; i < faults.nspecs; i++) {
        struct hd_fault_spec *f = &faults.specs[i];
        bool any = !strcmp(f->entry, "*");
        if (!any && strcmp(f->entry, entry))
            continue;
        /* zeContextCreate starts a counting window; "*" counts within windows. */
        if (counter_override && any)
            continue;
        uint64_t count = counter_override ? *counter_override : ++f->count;
        if (count != f->n)
            continue;
        ze_result_t r = f->error ? f->error : default_fault(entry);
        if (faults.log && !f->fired)
            fprintf(stderr, "hostdev: fault injected: %s call %llu -> %s\n", entry,
                    (unsigned long long)count, result_name(r));
        f->fired = true;
        return r;
    }
    return ZE_RESULT_SUCCESS;
}

ze_result_t hd_fault(const char *entry)
{
    pthread_mutex_lock(&faults.lock);
    ze_result_t r = faults.nspecs ? fault_check_locked(entry, NULL) : ZE_RESULT_SUCCESS;
    pthread_mutex_unlock(&faults.lock);
    return r;
}

/* --------------------------------------------------------------------- init */

static bool has_ext(const char *exts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)); p += n)
        if ((p == exts || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

const cl_icd_dispatch *hd_cl;

#ifndef HD_POCL_LIBRARY
#define HD_POCL_LIBRARY "libpocl.so.2"
#endif

/* Loads PoCL as an ICD loader would (dlopen, clIcdGetPlatformIDsKHR through
 * clGetExtensionFunctionAddress) and picks its CPU device with SVM support. */
static bool pick_device(void)
{
    const char *path = getenv("HOSTDEV_POCL_LIBRARY");
    if (!path || !*path)
        path = HD_POCL_LIBRARY;
    /* RTLD_LOCAL: PoCL's symbols stay out of the application's namespace. The
     * handle is kept for the life of the process (PoCL has global state). */
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "hostdev: cannot load PoCL (%s): %s\n", path, dlerror());
        return false;
    }
    typedef void *(CL_API_CALL *gefa_fn)(const char *);
    typedef cl_int(CL_API_CALL *icd_get_fn)(cl_uint, cl_platform_id *, cl_uint *);
    gefa_fn gefa = (gefa_fn)dlsym(lib, "clGetExtensionFunctionAddress");
    icd_get_fn icd_get = gefa ? (icd_get_fn)gefa("clIcdGetPlatformIDsKHR") : NULL;
    if (!icd_get) {
        fprintf(stderr, "hostdev: %s is not an OpenCL ICD\n", path);
        return false;
    }
    cl_uint np = 0;
    cl_platform_id plats[16];
    if (icd_get(16, plats, &np) != CL_SUCCESS || np == 0)
        return false;
    if (np > 16)
        np = 16;
    hd_cl = *(const cl_icd_dispatch *const *)plats[0];
    {
        for (cl_uint i = 0; i < np; i++) {
            cl_device_id dev;
            cl_uint nd = 0;
            if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_CPU, 1, &dev, &nd) != CL_SUCCESS || nd == 0)
                continue;
            cl_device_svm_capabilities svm = 0;
            clGetDeviceInfo(dev, CL_DEVICE_SVM_CAPABILITIES, sizeof svm, &svm, NULL);
            if (!(svm & CL_DEVICE_SVM_COARSE_GRAIN_BUFFER))
                continue;
            hd.platform = plats[i];
            hd.cldev = dev;
            return true;
        }
    }
    fprintf(stderr, "hostdev: PoCL has no CPU device with SVM\n");
    return false;
}

static void init_once_fn(void)
{
    hd.init_result = ZE_RESULT_ERROR_UNINITIALIZED;
    pthread_condattr_init(&hd.condattr);
    pthread_condattr_setclock(&hd.condattr, CLOCK_MONOTONIC);
    if (!pick_device()) {
        return;
    }
    cl_int err;
    hd.clctx = clCreateContext(NULL, 1, &hd.cldev, NULL, NULL, &err);
    if (!hd.clctx) {
        fprintf(stderr, "hostdev: clCreateContext failed (%d)\n", err);
        return;
    }
    clGetDeviceInfo(hd.cldev, CL_DEVICE_NAME, sizeof hd.cl_name, hd.cl_name, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof hd.max_wg, &hd.max_wg, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof hd.max_wi, hd.max_wi, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof hd.global_mem, &hd.global_mem, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof hd.max_alloc, &hd.max_alloc, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof hd.local_mem, &hd.local_mem, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof hd.compute_units, &hd.compute_units, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof hd.clock_mhz, &hd.clock_mhz, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_VENDOR_ID, sizeof hd.vendor_id, &hd.vendor_id, NULL);
    clGetDeviceInfo(hd.cldev, CL_DEVICE_MAX_PARAMETER_SIZE, sizeof hd.max_param, &hd.max_param, NULL);
    char exts[8192] = "";
    clGetDeviceInfo(hd.cldev, CL_DEVICE_EXTENSIONS, sizeof exts, exts, NULL);
    hd.fp16 = has_ext(exts, "cl_khr_fp16");
    hd.fp64 = has_ext(exts, "cl_khr_fp64");
    hd.int64_atomics = has_ext(exts, "cl_khr_int64_base_atomics");
    if (hd.max_wg == 0)
        hd.max_wg = 1;

    uint64_t n = hd_env_u64("HOSTDEV_DEVICES", 1);
    if (n < 1)
        n = 1;
    if (n > HD_MAX_DEVICES) {
        fprintf(stderr, "hostdev: HOSTDEV_DEVICES=%llu capped at %d\n", (unsigned long long)n, HD_MAX_DEVICES);
        n = HD_MAX_DEVICES;
    }
    hd.ndevices = (uint32_t)n;
    for (uint32_t i = 0; i < hd.ndevices; i++) {
        hd.devices[i].magic = HD_MAGIC_DEVICE;
        hd.devices[i].index = i;
    }
    pthread_mutex_lock(&faults.lock);
    faults_reload();
    pthread_mutex_unlock(&faults.lock);
    hd.ready = true;
    hd.init_result = ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeInit(ze_init_flags_t flags)
{
    /* GPU_ONLY is accepted: hostdev stands in for a GPU (and says honestly that it
     * is a CPU device); VPU_ONLY is not something it can stand in for. */
    if (flags & ~(ze_init_flags_t)(ZE_INIT_FLAG_GPU_ONLY | ZE_INIT_FLAG_VPU_ONLY))
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    if (flags == ZE_INIT_FLAG_VPU_ONLY)
        return ZE_RESULT_ERROR_UNINITIALIZED;
    pthread_once(&init_once, init_once_fn);
    if (hd.init_result != ZE_RESULT_SUCCESS)
        return hd.init_result;
    HD_ENTRY();
    return ZE_RESULT_SUCCESS;
}

/* ------------------------------------------------------------------- driver */

static bool driver_ok(ze_driver_handle_t h)
{
    return h && (void *)h == (void *)&hd && hd.ready;
}

#define CHECK_DRIVER(h)                                                   \
    do {                                                                  \
        if (!(h))                                                         \
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;                   \
        if (!driver_ok(h))                                                \
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;                      \
    } while (0)

ze_result_t ZE_APICALL hd_zeDriverGet(uint32_t *pCount, ze_driver_handle_t *phDrivers)
{
    if (!hd.ready)
        return ZE_RESULT_ERROR_UNINITIALIZED;
    HD_ENTRY();
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!hd_count_query(pCount, phDrivers, 1))
        phDrivers[0] = (ze_driver_handle_t)(void *)&hd;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDriverGetApiVersion(ze_driver_handle_t h, ze_api_version_t *v)
{
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!v)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *v = ZE_API_VERSION_CURRENT;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDriverGetProperties(ze_driver_handle_t h, ze_driver_properties_t *p)
{
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    memset(p->uuid.id, 0, sizeof p->uuid.id);
    memcpy(p->uuid.id, "zmoe-hostdev", 12);
    p->driverVersion = 1;   /* hostdev 0.1; bump when behaviour changes */
    for (ze_base_properties_t *x = p->pNext; x; x = x->pNext)
        if (x->stype == ZE_STRUCTURE_TYPE_DRIVER_MEMORY_FREE_EXT_PROPERTIES)
            /* zeMemFreeExt: every policy waits for the work submitted so far. */
            ((ze_driver_memory_free_ext_properties_t *)(void *)x)->freePolicies =
                ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_BLOCKING_FREE | ZE_DRIVER_MEMORY_FREE_POLICY_EXT_FLAG_DEFER_FREE;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDriverGetIpcProperties(ze_driver_handle_t h, ze_driver_ipc_properties_t *p)
{
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->flags = 0;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDriverGetExtensionProperties(ze_driver_handle_t h, uint32_t *pCount,
                                                         ze_driver_extension_properties_t *p)
{
    /* The extensions whose entry points hostdev implements. */
    static const struct { const char *name; uint32_t version; } exts[] = {
        { ZE_MEMORY_FREE_POLICIES_EXT_NAME, ZE_MEMORY_FREE_POLICIES_EXT_VERSION_CURRENT },
        { ZE_EVENT_QUERY_TIMESTAMPS_EXP_NAME, ZE_EVENT_QUERY_TIMESTAMPS_EXP_VERSION_CURRENT },
        { ZE_KERNEL_SCHEDULING_HINTS_EXP_NAME, ZE_SCHEDULING_HINTS_EXP_VERSION_CURRENT },
    };
    const uint32_t n = sizeof exts / sizeof *exts;
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (hd_count_query(pCount, p, n))
        return ZE_RESULT_SUCCESS;
    for (uint32_t i = 0; i < *pCount; i++) {
        snprintf(p[i].name, sizeof p[i].name, "%s", exts[i].name);
        p[i].version = exts[i].version;
    }
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDriverGetExtensionFunctionAddress(ze_driver_handle_t h, const char *name, void **ppfn)
{
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!name || !ppfn)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *ppfn = NULL;
    return ZE_RESULT_ERROR_INVALID_ARGUMENT;
}

/* ------------------------------------------------------------------- device */

struct hd_device *hd_device(ze_device_handle_t h)
{
    struct hd_device *d = (struct hd_device *)h;
    if (!d || !hd.ready)
        return NULL;
    for (uint32_t i = 0; i < hd.ndevices; i++)
        if (d == &hd.devices[i])
            return d;
    return NULL;
}

#define CHECK_DEVICE(h)                                                   \
    do {                                                                  \
        if (!(h))                                                         \
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;                   \
        if (!hd_device(h))                                                \
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;                      \
    } while (0)

/* The device queries that report no items (sub-devices, caches). */
static ze_result_t no_items(ze_device_handle_t h, uint32_t *pCount)
{
    CHECK_DEVICE(h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *pCount = 0;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGet(ze_driver_handle_t h, uint32_t *pCount, ze_device_handle_t *ph)
{
    HD_ENTRY();
    CHECK_DRIVER(h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!hd_count_query(pCount, ph, hd.ndevices))
        for (uint32_t i = 0; i < *pCount; i++)
            ph[i] = (ze_device_handle_t)&hd.devices[i];
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetSubDevices(ze_device_handle_t h, uint32_t *pCount, ze_device_handle_t *ph)
{
    (void)ph;
    HD_ENTRY();
    return no_items(h, pCount);
}

ze_result_t ZE_APICALL hd_zeDeviceGetProperties(ze_device_handle_t h, ze_device_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    const struct hd_device *d = hd_device(h);
    ze_structure_type_t stype = p->stype;
    p->type = ZE_DEVICE_TYPE_CPU;
    p->vendorId = hd.vendor_id;
    p->deviceId = 0x484400u + d->index;   /* "HD" + index: stable and distinct */
    /* The "device" shares the host's memory, exactly what INTEGRATED promises. */
    p->flags = ZE_DEVICE_PROPERTY_FLAG_INTEGRATED;
    p->subdeviceId = 0;
    p->coreClockRate = hd.clock_mhz;
    p->maxMemAllocSize = hd.max_alloc;
    p->maxHardwareContexts = 64;
    p->maxCommandQueuePriority = 0;
    p->numThreadsPerEU = 1;
    p->physicalEUSimdWidth = 1;
    p->numEUsPerSubslice = 1;
    p->numSubslicesPerSlice = hd.compute_units;
    p->numSlices = 1;
    /* Timestamps are CLOCK_MONOTONIC nanoseconds. */
    p->timerResolution = stype == ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES_1_2 ? 1000000000u : 1u;
    p->timestampValidBits = 64;
    p->kernelTimestampValidBits = 64;
    memset(p->uuid.id, 0, sizeof p->uuid.id);
    memcpy(p->uuid.id, "hostdev", 7);
    p->uuid.id[15] = (uint8_t)d->index;
    snprintf(p->name, sizeof p->name, "hostdev (PoCL %s)", hd.cl_name);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetComputeProperties(ze_device_handle_t h, ze_device_compute_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->maxTotalGroupSize = (uint32_t)hd.max_wg;
    p->maxGroupSizeX = (uint32_t)hd.max_wi[0];
    p->maxGroupSizeY = (uint32_t)hd.max_wi[1];
    p->maxGroupSizeZ = (uint32_t)hd.max_wi[2];
    p->maxGroupCountX = UINT32_MAX;
    p->maxGroupCountY = UINT32_MAX;
    p->maxGroupCountZ = UINT32_MAX;
    p->maxSharedLocalMemory = (uint32_t)(hd.local_mem > UINT32_MAX ? UINT32_MAX : hd.local_mem);
    p->numSubGroupSizes = 1;
    memset(p->subGroupSizes, 0, sizeof p->subGroupSizes);
    p->subGroupSizes[0] = 1;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetModuleProperties(ze_device_handle_t h, ze_device_module_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    /* ocloc emits SPIR-V 1.4, the newest llvm-spirv-15 reads. */
    p->spirvVersionSupported = ZE_MAKE_VERSION(1, 4);
    p->flags = (hd.fp16 ? ZE_DEVICE_MODULE_FLAG_FP16 : 0) | (hd.fp64 ? ZE_DEVICE_MODULE_FLAG_FP64 : 0) |
               (hd.int64_atomics ? ZE_DEVICE_MODULE_FLAG_INT64_ATOMICS : 0);
    ze_device_fp_flags_t fp = ZE_DEVICE_FP_FLAG_DENORM | ZE_DEVICE_FP_FLAG_INF_NAN |
                              ZE_DEVICE_FP_FLAG_ROUND_TO_NEAREST | ZE_DEVICE_FP_FLAG_ROUND_TO_ZERO |
                              ZE_DEVICE_FP_FLAG_ROUND_TO_INF | ZE_DEVICE_FP_FLAG_FMA;
    p->fp16flags = hd.fp16 ? fp : 0;
    p->fp32flags = fp;
    p->fp64flags = hd.fp64 ? fp : 0;
    p->maxArgumentsSize = (uint32_t)hd.max_param;
    p->printfBufferSize = 1u << 20;
    memset(p->nativeKernelSupported.id, 0, sizeof p->nativeKernelSupported.id);
    for (ze_base_properties_t *x = p->pNext; x; x = x->pNext)
        if (x->stype == ZE_STRUCTURE_TYPE_SCHEDULING_HINT_EXP_PROPERTIES)
            /* Accepted as hints; PoCL schedules work-groups its own way. */
            ((ze_scheduling_hint_exp_properties_t *)(void *)x)->schedulingHintFlags =
                ZE_SCHEDULING_HINT_EXP_FLAG_OLDEST_FIRST | ZE_SCHEDULING_HINT_EXP_FLAG_ROUND_ROBIN |
                ZE_SCHEDULING_HINT_EXP_FLAG_STALL_BASED_ROUND_ROBIN;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetCommandQueueGroupProperties(ze_device_handle_t h, uint32_t *pCount,
                                                                 ze_command_queue_group_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (hd_count_query(pCount, p, HD_NUM_GROUPS))
        return ZE_RESULT_SUCCESS;
    /* Group 0 computes and copies; group 1 only copies, as a GPU's copy engine. Both
     * run on the same PoCL device; a copy-only list refuses kernel launches. */
    for (uint32_t i = 0; i < *pCount; i++) {
        p[i].flags = i == HD_GROUP_COMPUTE
                         ? ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE | ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COPY
                         : ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COPY;
        p[i].maxMemoryFillPatternSize = 128;
        p[i].numQueues = HD_GROUP_QUEUES;
    }
    return ZE_RESULT_SUCCESS;
}

/* Device memory size as reported: the HOSTDEV_DEVICE_MEMORY cap of the latest
 * context (or zeInit) when set, else what PoCL says. */
static uint64_t reported_mem_cap;

ze_result_t ZE_APICALL hd_zeDeviceGetMemoryProperties(ze_device_handle_t h, uint32_t *pCount,
                                                      ze_device_memory_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (hd_count_query(pCount, p, 1))
        return ZE_RESULT_SUCCESS;
    p->flags = 0;
    p->maxClockRate = 0;
    p->maxBusWidth = 64;
    uint64_t cap = __atomic_load_n(&reported_mem_cap, __ATOMIC_RELAXED);
    if (!cap)
        cap = hd_env_u64("HOSTDEV_DEVICE_MEMORY", 0);
    p->totalSize = cap ? cap : hd.global_mem;
    snprintf(p->name, sizeof p->name, "host memory");
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetMemoryAccessProperties(ze_device_handle_t h,
                                                            ze_device_memory_access_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    ze_memory_access_cap_flags_t all = ZE_MEMORY_ACCESS_CAP_FLAG_RW | ZE_MEMORY_ACCESS_CAP_FLAG_ATOMIC |
                                       ZE_MEMORY_ACCESS_CAP_FLAG_CONCURRENT |
                                       ZE_MEMORY_ACCESS_CAP_FLAG_CONCURRENT_ATOMIC;
    p->hostAllocCapabilities = all;
    p->deviceAllocCapabilities = all;
    p->sharedSingleDeviceAllocCapabilities = all;
    p->sharedCrossDeviceAllocCapabilities = all;
    /* A CPU device reaches the process's own memory. PoCL reports only buffer SVM,
     * but its CPU device (the only kind hostdev picks) runs kernels in this process
     * on the raw pointers it is given, and its copies and fills are memcpy/memset,
     * so malloc, stack and static memory work in kernels and copies alike; atomics
     * on them are the CPU's (tests/hostdev/test_system_mem.c). */
    p->sharedSystemAllocCapabilities = all;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetCacheProperties(ze_device_handle_t h, uint32_t *pCount,
                                                     ze_device_cache_properties_t *p)
{
    (void)p;
    HD_ENTRY();
    return no_items(h, pCount);
}

ze_result_t ZE_APICALL hd_zeDeviceGetImageProperties(ze_device_handle_t h, ze_device_image_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->maxImageDims1D = p->maxImageDims2D = p->maxImageDims3D = 0;
    p->maxImageBufferSize = 0;
    p->maxImageArraySlices = 0;
    p->maxSamplers = 0;
    p->maxReadImageArgs = p->maxWriteImageArgs = 0;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetExternalMemoryProperties(ze_device_handle_t h,
                                                              ze_device_external_memory_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->memoryAllocationImportTypes = p->memoryAllocationExportTypes = 0;
    p->imageImportTypes = p->imageExportTypes = 0;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetP2PProperties(ze_device_handle_t h, ze_device_handle_t peer,
                                                   ze_device_p2p_properties_t *p)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    CHECK_DEVICE(peer);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->flags = ZE_DEVICE_P2P_PROPERTY_FLAG_ACCESS | ZE_DEVICE_P2P_PROPERTY_FLAG_ATOMICS;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceCanAccessPeer(ze_device_handle_t h, ze_device_handle_t peer, ze_bool_t *v)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    CHECK_DEVICE(peer);
    if (!v)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *v = 1;   /* every device is the same host memory */
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetStatus(ze_device_handle_t h)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeDeviceGetGlobalTimestamps(ze_device_handle_t h, uint64_t *host, uint64_t *dev)
{
    HD_ENTRY();
    CHECK_DEVICE(h);
    if (!host || !dev)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    /* Host and device share one clock here, so the pair correlates exactly. */
    *host = *dev = hd_now_ns();
    return ZE_RESULT_SUCCESS;
}

/* ------------------------------------------------------------------ context */

struct hd_context *hd_context(ze_context_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_CONTEXT);
}

/* The last contexts destroyed, so that zeMemFree of memory that went with its
 * context's destroy is recognised (a bounded record; an address reused by a new
 * context leaves it). Under hd.lock. */
#define HD_DEAD_CONTEXTS 64
static uintptr_t dead_contexts[HD_DEAD_CONTEXTS];
static unsigned dead_next;

bool hd_context_was_destroyed(ze_context_handle_t h)
{
    bool found = false;
    pthread_mutex_lock(&hd.lock);
    for (unsigned i = 0; i < HD_DEAD_CONTEXTS && h; i++)
        found |= dead_contexts[i] == (uintptr_t)h;
    pthread_mutex_unlock(&hd.lock);
    return found;
}

bool hd_context_lost(struct hd_context *c)
{
    pthread_mutex_lock(&hd.lock);
    bool lost = c->lost;
    pthread_mutex_unlock(&hd.lock);
    return lost;
}

static void context_free(struct hd_context *c)
{
    c->magic = HD_MAGIC_DEAD;
    free(c);
}

void hd_context_ref(struct hd_context *c)
{
    hd_parent_ref(&c->refs);
}

void hd_context_unref(struct hd_context *c)
{
    if (hd_parent_unref_last(&c->refs, &c->destroyed))
        context_free(c);
}

static ze_result_t context_create(ze_driver_handle_t h, const ze_context_desc_t *desc, ze_context_handle_t *ph)
{
    CHECK_DRIVER(h);
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags > 0x1)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    /* Re-read the knobs and restart the fault counters: a process can sweep
     * fault points by creating one context per run. zeContextCreate itself is
     * counted from zeInit so "zeContextCreate:2" means the second context. */
    pthread_mutex_lock(&faults.lock);
    faults_reload();
    uint64_t nth = ++faults.context_creates;
    ze_result_t r = fault_check_locked("zeContextCreate", &nth);
    pthread_mutex_unlock(&faults.lock);
    if (r != ZE_RESULT_SUCCESS)
        return r;
    struct hd_context *c = calloc(1, sizeof *c);
    if (!c)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    c->magic = HD_MAGIC_CONTEXT;
    c->mem_cap = hd_env_u64("HOSTDEV_DEVICE_MEMORY", 0);
    c->lost_after = hd_env_u64("HOSTDEV_DEVICE_LOST_AFTER", 0);
    c->exec_latency_us = hd_env_u64("HOSTDEV_EXEC_LATENCY_US", 0);
    c->fault_log = hd_env_u64("HOSTDEV_FAULT_LOG", 0) != 0;
    c->wait_stats = hd_env_u64("HOSTDEV_WAIT_STATS", 0) != 0;
    if (!hd_handle_add(c, HD_MAGIC_CONTEXT)) {
        free(c);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    pthread_mutex_lock(&hd.lock);
    for (unsigned i = 0; i < HD_DEAD_CONTEXTS; i++)
        if (dead_contexts[i] == (uintptr_t)c)
            dead_contexts[i] = 0;
    pthread_mutex_unlock(&hd.lock);
    __atomic_store_n(&reported_mem_cap, c->mem_cap, __ATOMIC_RELAXED);
    *ph = (ze_context_handle_t)c;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeContextCreate(ze_driver_handle_t h, const ze_context_desc_t *desc,
                                          ze_context_handle_t *ph)
{
    return context_create(h, desc, ph);
}

ze_result_t ZE_APICALL hd_zeContextCreateEx(ze_driver_handle_t h, const ze_context_desc_t *desc,
                                            uint32_t ndev, ze_device_handle_t *phDevices, ze_context_handle_t *ph)
{
    if (ndev && !phDevices)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    for (uint32_t i = 0; i < ndev; i++)
        if (!hd_device(phDevices[i]))
            return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return context_create(h, desc, ph);
}

ze_result_t ZE_APICALL hd_zeContextDestroy(ze_context_handle_t h)
{
    HD_ENTRY();
    if (!h)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    struct hd_context *c = hd_context(h);
    if (!c)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    /* From here on the handle is refused; children still alive keep the struct (and
     * their queues keep running what was submitted) until they are destroyed. */
    hd_handle_del(c);
    hd_quiesce(c);
    hd_mem_release_context(c);
    hd_vmem_release_context(c);
    pthread_mutex_lock(&hd.lock);
    if (c->wait_stats)
        fprintf(stderr, "hostdev: wait stats: %llu blocking host waits, %llu sleeps, %llu idle wake-ups\n",
                (unsigned long long)c->blocking_waits, (unsigned long long)c->sleeps,
                (unsigned long long)c->idle_wakeups);
    dead_contexts[dead_next++ % HD_DEAD_CONTEXTS] = (uintptr_t)c;
    pthread_mutex_unlock(&hd.lock);
    if (hd_parent_destroy_last(&c->refs, &c->destroyed))
        context_free(c);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeContextGetStatus(ze_context_handle_t h)
{
    HD_ENTRY();
    if (!h)
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    struct hd_context *c = hd_context(h);
    if (!c)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    return hd_context_lost(c) ? ZE_RESULT_ERROR_DEVICE_LOST : ZE_RESULT_SUCCESS;
}

/* Residency: every allocation is host memory, always resident; only the arguments
 * are checked (make resident and evict alike). */
static ze_result_t residency(ze_context_handle_t h, ze_device_handle_t dev, void *ptr)
{
    if (!hd_context(h) || !hd_device(dev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    return ptr ? ZE_RESULT_SUCCESS : ZE_RESULT_ERROR_INVALID_NULL_POINTER;
}

ze_result_t ZE_APICALL hd_zeContextMakeMemoryResident(ze_context_handle_t h, ze_device_handle_t dev, void *ptr,
                                                      size_t size)
{
    (void)size;
    HD_ENTRY();
    return residency(h, dev, ptr);
}

ze_result_t ZE_APICALL hd_zeContextEvictMemory(ze_context_handle_t h, ze_device_handle_t dev, void *ptr,
                                               size_t size)
{
    (void)size;
    HD_ENTRY();
    return residency(h, dev, ptr);
}

/* Waits until the context's queues have finished what was submitted so far: on a
 * CPU every write is visible to every other party once it has completed. */
ze_result_t ZE_APICALL hd_zeContextSystemBarrier(ze_context_handle_t h, ze_device_handle_t dev)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    if (!c || !hd_device(dev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    hd_quiesce(c);
    return hd_context_lost(c) ? ZE_RESULT_ERROR_DEVICE_LOST : ZE_RESULT_SUCCESS;
}
