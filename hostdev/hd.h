/* hd.h — hostdev internals shared by its source files (not installed).
 *
 * hostdev is a Level Zero driver that executes SPIR-V kernels on the CPU through
 * PoCL. Every handle it returns points at one of the structs below; each starts
 * with a magic word so a stale or foreign handle is refused with an error code
 * instead of being dereferenced as the wrong type.
 */
#ifndef HOSTDEV_HD_H
#define HOSTDEV_HD_H

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <CL/cl_icd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ddi_gen.h"

#define HD_MAX_DEVICES 16
#define HD_RING 256       /* jobs a queue holds before ExecuteCommandLists waits */
#define HD_IMM_SLOTS 64   /* appends in flight per immediate command list */

/* Command queue groups: 0 computes and copies, 1 only copies (as real drivers
 * expose a copy engine); each has HD_GROUP_QUEUES queues (indices). */
#define HD_GROUP_COMPUTE 0
#define HD_GROUP_COPY 1
#define HD_NUM_GROUPS 2
#define HD_GROUP_QUEUES 64

enum hd_magic {
    HD_MAGIC_DRIVER = 0x68640001, HD_MAGIC_DEVICE, HD_MAGIC_CONTEXT, HD_MAGIC_MODULE,
    HD_MAGIC_LOG, HD_MAGIC_KERNEL, HD_MAGIC_LIST, HD_MAGIC_QUEUE, HD_MAGIC_FENCE,
    HD_MAGIC_POOL, HD_MAGIC_EVENT, HD_MAGIC_PHYS, HD_MAGIC_DEAD = 0x6864dead
};

struct hd_device {
    uint32_t magic;
    uint32_t index;
};

struct hd_queue;

/* Lifetimes: destroying an object never invalidates its children. A context, module,
 * queue or event pool that is destroyed leaves the handle table at once (its handle
 * is refused from then on) and releases what it can, but its struct stays until its
 * last child (module, pool, list, queue / kernel / fence / event) is destroyed too:
 * `refs` counts those children and `destroyed` says the parent's own destroy ran.
 * Both are under hd.lock. So children can be destroyed in any order after their
 * parent, as real drivers allow. */
struct hd_context {
    uint32_t magic;
    uint32_t refs;
    bool destroyed;
    struct hd_queue *queues;   /* every queue of the context (immediate lists' too), under hd.lock */
    /* Limits read from the environment when this context was created. */
    uint64_t mem_cap;          /* 0: no cap */
    uint64_t mem_used;         /* device + shared bytes, under hd.mem_lock */
    uint64_t lost_after;       /* 0: never */
    uint64_t exec_latency_us;
    bool fault_log;            /* HOSTDEV_FAULT_LOG: say when the device is lost */
    uint64_t executions;       /* under hd.lock */
    bool lost;                 /* under hd.lock */
    /* HOSTDEV_WAIT_STATS: host synchronizations (fence, event, queue) that slept,
     * their sleeps, and wake-ups that found nothing changed; printed at destroy. */
    bool wait_stats;
    uint64_t blocking_waits, sleeps, idle_wakeups;   /* under hd.lock */
};

/* A thread blocked in hostdev (a host synchronization, a worker waiting for an
 * event, a destroy waiting for a queue): one per waiting thread, on its stack,
 * listed in hd.waiters while it waits. Whoever changes an object wakes only the
 * waiters whose key is that object, so signalling an event nobody waits for costs
 * no wake-up, and a fence's waiter sleeps through the list's events. */
struct hd_waiter {
    pthread_cond_t cond;       /* only this waiter sleeps on it */
    const void *key;           /* the event, fence or queue whose change wakes it */
    bool cancelled;            /* the object is being destroyed: leave, do not touch it */
    struct hd_waiter *prev, *next;
};

/* Kernel argument kinds reflected from the SPIR-V. */
enum hd_arg_kind { HD_ARG_GLOBAL, HD_ARG_LOCAL, HD_ARG_VALUE, HD_ARG_UNSUPPORTED };

struct hd_arg {
    enum hd_arg_kind kind;
    uint32_t size;     /* by-value size; 8 for pointers; local: bytes set by the user */
    uint32_t off;      /* offset of the value in a kernel's value blob */
};

struct hd_kinfo {
    char *name;
    uint32_t nargs;
    struct hd_arg *args;
    uint32_t blob_size;
    uint32_t reqd[3];      /* LocalSize execution mode, 0 when absent */
};

struct hd_module {
    uint32_t magic;
    uint32_t refs;             /* live kernels */
    bool destroyed;
    struct hd_context *ctx;
    struct hd_device *dev;
    /* What zeModuleGetNativeBinary returns: the SPIR-V (kernels are reflected from
     * it), the specialization applied, the translated bitcode. */
    uint8_t *spv;
    size_t spv_len;
    char *spec;
    const uint8_t *bc;
    size_t bc_len;
    bool bc_owned;             /* else it belongs to the translation cache */
    cl_program prog;
    uint32_t nkernels;
    struct hd_kinfo *kernels;
    const char **names;
};

struct hd_log {
    uint32_t magic;
    char *text;
};

struct hd_kernel {
    uint32_t magic;
    struct hd_module *mod;
    const struct hd_kinfo *info;
    cl_kernel clk;
    /* Serializes clSetKernelArg* + clEnqueueNDRangeKernel from several queues. */
    pthread_mutex_t lock;
    uint8_t *values;           /* current argument values, info->blob_size bytes */
    uint8_t *set;              /* per argument: set since creation */
    /* What was last set on clk (under lock): a launch sets only the arguments whose
     * recorded value differs, since each clSetKernelArg costs PoCL a copy (and for
     * by-value arguments an allocation) even when the value is unchanged. */
    uint8_t *cl_values;        /* info->blob_size bytes */
    uint8_t *cl_set;           /* per argument: cl_values holds what clk has */
    uint32_t gs[3];
    uint32_t offset[3];        /* zeKernelSetGlobalOffsetExp */
    ze_kernel_indirect_access_flags_t indirect;   /* as last set */
};

enum hd_cmd_kind {
    HD_CMD_LAUNCH, HD_CMD_LAUNCH_INDIRECT, HD_CMD_COPY, HD_CMD_COPY_REGION, HD_CMD_FILL, HD_CMD_NOP,
    HD_CMD_RESET_EVENT, HD_CMD_TIMESTAMP, HD_CMD_QUERY_TIMESTAMPS
};

struct hd_event;

struct hd_cmd {
    enum hd_cmd_kind kind;
    struct hd_event *signal;
    uint32_t nwait;
    size_t wait_off;            /* struct hd_event *[nwait] in the list's blob */
    union {
        struct {
            struct hd_kernel *k;
            uint32_t gc[3];
            const ze_group_count_t *indirect;
            const uint32_t *count;   /* multiple-kernel launch: runs only if index < *count */
            uint32_t index;
            uint32_t gs[3];
            uint32_t offset[3];
            size_t args_off;    /* copy of the kernel's value blob */
        } launch;
        struct {
            void *dst;
            const void *src;
            ze_copy_region_t dr, sr;
            uint32_t dpitch, dslice, spitch, sslice;
        } region;
        struct { void *dst; const void *src; size_t size; } copy;
        struct { void *dst; size_t size; size_t pattern_off; size_t psize; } fill;
        struct hd_event *target;
        uint64_t *ts_dst;
        struct {
            uint8_t *dst;
            uint32_t n;
            size_t events_off;   /* struct hd_event *[n] in the list's blob */
            size_t offsets_off;  /* size_t[n] in the blob, or SIZE_MAX: packed results */
        } query;
    } u;
};

struct hd_queue;

struct hd_list {
    uint32_t magic;
    struct hd_context *ctx;
    struct hd_device *dev;
    uint32_t ordinal;          /* command queue group: HD_GROUP_COMPUTE or HD_GROUP_COPY */
    bool closed;
    struct hd_cmd *cmds;
    size_t ncmds, cap;
    /* Set at close: cmds[host_tail..] launch nothing (copies, fills, barriers, event
     * and timestamp commands), so once the kernels before them are done hostdev
     * runs them itself rather than as PoCL commands. */
    size_t host_tail;
    uint8_t *blob;
    size_t blob_len, blob_cap;
    /* Immediate lists: an own queue and a ring of internal lists, one per append. */
    bool immediate;
    struct hd_queue *queue;
    struct hd_list *slots[HD_IMM_SLOTS];
    uint64_t slot_seq[HD_IMM_SLOTS];
    uint32_t next_slot;
};

struct hd_fence {
    uint32_t magic;
    struct hd_queue *queue;
    bool signalled;            /* under hd.lock */
};

struct hd_job {
    struct hd_list *list;
    struct hd_fence *fence;
};

struct hd_queue {
    uint32_t magic;
    uint32_t refs;             /* live fences */
    bool destroyed;            /* zeCommandQueueDestroy ran: worker joined, PoCL queue released */
    struct hd_context *ctx;
    struct hd_device *dev;
    uint32_t ordinal;
    bool synchronous;
    cl_command_queue clq;
    pthread_t thread;
    pthread_cond_t work;       /* with hd.lock: new job or stop */
    struct hd_job ring[HD_RING];
    uint64_t submitted, completed;  /* under hd.lock */
    bool stop;
    bool halt;                 /* a wait ended by a device loss: the worker exits */
    bool dead;                 /* the worker has exited */
    bool blocked;              /* the worker waits for an event (the host may be the signaller) */
    struct hd_queue *next;     /* in ctx->queues */
    ze_result_t error;         /* first execution error, reported by Synchronize */
    /* Who executes (under hd.lock). Jobs run in order, one runner at a time: the
     * worker, or a PoCL event callback continuing where the worker (or an earlier
     * callback) suspended. `busy`: a runner holds the queue, the worker does not
     * start one; `active`: the job ring[completed % HD_RING] has begun and resumes at
     * command `resume`. A runner that must block (a wait on an event nobody has
     * signalled yet, an exec latency) hands the job back to the worker. */
    bool busy, active;
    size_t resume;
    /* Runner-only state (whoever holds `busy`): anything enqueued to clq since it was
     * last known idle, and the events whose signal rides on a PoCL event of this
     * queue (resolved when the queue is next found idle, or earlier by whoever
     * observes them). Empty whenever no job is in progress or the worker is blocked
     * on the host. */
    bool inflight;
    cl_event last_ev;          /* the last command enqueued to clq (a reference), or NULL */
    struct hd_event **pend;
    size_t npend, pend_cap;
    size_t done_pend;          /* pend[0..done_pend) are known complete, not yet resolved */
};

struct hd_event {
    uint32_t magic;
    struct hd_pool *pool;
    bool created;
    bool signalled;            /* under hd.lock */
    uint64_t ts_start, ts_end;
    /* A signal in flight (under hd.lock): the PoCL command enqueued on `owner`'s
     * in-order queue whose completion signals this event, with its profiling times
     * as the kernel timestamps (kernel: START..END, others: END..END). */
    cl_event clev;
    struct hd_queue *owner;
    bool clev_kernel;
};

struct hd_pool {
    uint32_t magic;
    uint32_t refs;             /* events created and not destroyed */
    bool destroyed;
    struct hd_context *ctx;
    uint32_t flags;
    uint32_t count;
    struct hd_event *events;
};

struct hd_alloc {
    uintptr_t base;
    size_t size;
    void *raw;                 /* what clSVMAlloc returned (base may be aligned up) */
    ze_memory_type_t type;
    struct hd_device *dev;
    struct hd_context *ctx;
    uint64_t id;
};

struct hd_state {
    uint32_t driver_magic;     /* the driver handle points here */
    bool ready;
    ze_result_t init_result;
    cl_platform_id platform;
    cl_device_id cldev;
    cl_context clctx;
    char cl_name[192];
    uint32_t ndevices;
    struct hd_device devices[HD_MAX_DEVICES];
    /* PoCL device limits, queried once at zeInit. */
    size_t max_wg;
    size_t max_wi[3];
    cl_ulong global_mem, max_alloc, local_mem;
    cl_uint compute_units, clock_mhz, vendor_id;
    size_t max_param;
    bool fp16, fp64, int64_atomics;
    /* One lock for all fence/event/queue state; waits sleep on their own condition
     * (struct hd_waiter), so a signal wakes only the waiters of what it changed. */
    pthread_mutex_t lock;
    pthread_condattr_t condattr;    /* CLOCK_MONOTONIC, for every waiter's condition */
    struct hd_waiter *waiters;      /* under lock */
    pthread_cond_t gone;            /* a cancelled waiter left (destroy waits on it) */
    /* Allocation table: sorted by base, under mem_lock. */
    pthread_mutex_t mem_lock;
    struct hd_alloc *allocs;
    size_t nallocs, allocs_cap;
    uint64_t next_alloc_id;
};

extern struct hd_state hd;

/* hostdev calls PoCL directly through its ICD dispatch table instead of the
 * system's ICD loader: that loader would also load every other vendor's ICD into
 * the application (Intel's opens libraries with RTLD_DEEPBIND, which breaks
 * sanitizers) and would interfere with an application's own OpenCL use. Every
 * PoCL object starts with this table, so the cl* names below call it. */
extern const cl_icd_dispatch *hd_cl;
#define clGetPlatformInfo (hd_cl->clGetPlatformInfo)
#define clGetDeviceIDs (hd_cl->clGetDeviceIDs)
#define clGetDeviceInfo (hd_cl->clGetDeviceInfo)
#define clCreateContext (hd_cl->clCreateContext)
#define clReleaseContext (hd_cl->clReleaseContext)
#define clSVMAlloc (hd_cl->clSVMAlloc)
#define clSVMFree (hd_cl->clSVMFree)
#define clCreateCommandQueueWithProperties (hd_cl->clCreateCommandQueueWithProperties)
#define clReleaseCommandQueue (hd_cl->clReleaseCommandQueue)
#define clFinish (hd_cl->clFinish)
#define clCreateProgramWithBinary (hd_cl->clCreateProgramWithBinary)
#define clBuildProgram (hd_cl->clBuildProgram)
#define clGetProgramBuildInfo (hd_cl->clGetProgramBuildInfo)
#define clReleaseProgram (hd_cl->clReleaseProgram)
#define clCreateKernel (hd_cl->clCreateKernel)
#define clReleaseKernel (hd_cl->clReleaseKernel)
#define clGetKernelWorkGroupInfo (hd_cl->clGetKernelWorkGroupInfo)
#define clSetKernelArg (hd_cl->clSetKernelArg)
#define clSetKernelArgSVMPointer (hd_cl->clSetKernelArgSVMPointer)
#define clEnqueueNDRangeKernel (hd_cl->clEnqueueNDRangeKernel)
#define clEnqueueSVMMemcpy (hd_cl->clEnqueueSVMMemcpy)
#define clEnqueueSVMMemFill (hd_cl->clEnqueueSVMMemFill)
#define clEnqueueMarkerWithWaitList (hd_cl->clEnqueueMarkerWithWaitList)
#define clGetEventProfilingInfo (hd_cl->clGetEventProfilingInfo)
#define clGetEventInfo (hd_cl->clGetEventInfo)
#define clWaitForEvents (hd_cl->clWaitForEvents)
#define clRetainEvent (hd_cl->clRetainEvent)
#define clReleaseEvent (hd_cl->clReleaseEvent)
#define clSetEventCallback (hd_cl->clSetEventCallback)

/* Fault injection (core.c). Returns the error to inject for this call, or success. */
ze_result_t hd_fault(const char *entry);
/* Every implemented entry point starts with HD_ENTRY(): fault injection by name. */
#define HD_ENTRY()                                         \
    do {                                                   \
        ze_result_t fault_ = hd_fault(__func__ + 3);       \
        if (fault_ != ZE_RESULT_SUCCESS)                   \
            return fault_;                                 \
    } while (0)

uint64_t hd_now_ns(void);
/* Absolute CLOCK_MONOTONIC deadline for a Level Zero timeout in ns; false: infinite. */
bool hd_deadline(uint64_t timeout_ns, struct timespec *ts);
uint64_t hd_env_u64(const char *name, uint64_t dflt);

struct hd_device *hd_device(ze_device_handle_t h);
struct hd_context *hd_context(ze_context_handle_t h);
/* A child (module, pool, list, queue) takes a reference on its context while its
 * struct exists; the context's struct is freed by the last unref after its destroy. */
void hd_context_ref(struct hd_context *c);
void hd_context_unref(struct hd_context *c);
/* Whether c's device is lost (takes hd.lock). */
bool hd_context_lost(struct hd_context *c);
/* Whether h is a context destroyed recently (its memory went with it). */
bool hd_context_was_destroyed(ze_context_handle_t h);

/* The table of live handles (handle.c). add: false when out of memory. */
bool hd_handle_add(const void *p, uint32_t kind);
void hd_handle_del(const void *p);
bool hd_handle_live(const void *p, uint32_t kind);
/* h when it is a live handle of `kind` whose struct still carries that magic, else
 * NULL: what every hd_*_of lookup checks before the object is read. */
void *hd_handle_get(const void *h, uint32_t kind);
/* In an entry point: the object behind handle h (looked up with `of`: hd_context,
 * hd_device, hd_kernel_of, ...) in a new variable; a NULL, stale or foreign handle
 * returns ZE_RESULT_ERROR_INVALID_NULL_HANDLE. */
#define HD_OBJECT(type, var, of, h)                                       \
    type *var = of(h);                                                    \
    if (!var)                                                             \
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE

/* The parents' `refs`/`destroyed` pairs (see "Lifetimes" above), under hd.lock,
 * which each of these takes (core.c). _last: the caller frees the struct now. */
void hd_parent_ref(uint32_t *refs);
bool hd_parent_unref_last(uint32_t *refs, const bool *destroyed);   /* a child went */
bool hd_parent_destroy_last(const uint32_t *refs, bool *destroyed); /* the parent's own destroy */

/* Level Zero's two-call count queries: with *pCount 0 or no array, *pCount becomes
 * n and true says the query is answered; else *pCount is cut to n for the caller to
 * fill that many (core.c). */
bool hd_count_query(uint32_t *pCount, const void *array, uint32_t n);
/* Level Zero's string queries: with *pSize 0 or no buffer, *pSize becomes the size
 * with the terminator; else s is copied, cut to *pSize and terminated (core.c). */
void hd_string_query(const char *s, size_t *pSize, char *out);

/* Frees every allocation still owned by ctx (context teardown). */
void hd_mem_release_context(struct hd_context *ctx);
/* Releases every virtual memory reservation of ctx (vmem.c, context teardown). */
void hd_vmem_release_context(struct hd_context *ctx);
/* Memory type of ptr, for copy/launch checks; ZE_MEMORY_TYPE_UNKNOWN if not ours. */
ze_memory_type_t hd_mem_type(const void *ptr);

/* Waits until every queue of ctx has finished what was submitted before the call
 * (queue.c). Destroy and free entry points call it so that freeing an object the
 * device still uses (after an injected or real sync failure) cannot crash. A queue
 * blocked on an event is not waited for: the host may be the one to signal it. */
void hd_quiesce(struct hd_context *ctx);
/* e is being destroyed: no queue of ctx may keep it among its pending signals (hd.lock
 * held). */
void hd_queues_forget_event_locked(struct hd_context *ctx, struct hd_event *e);

/* PoCL error → Level Zero result (core.c). */
ze_result_t hd_cl_error(cl_int err);

/* Waiting (wait.c). Every function here is called with hd.lock held. A waiter
 * sleeps on its own condition; the thread that changes an event, a fence or a queue
 * wakes the waiters listed with that object as key (usually none, or one). */
enum hd_wait_end { HD_WAIT_DONE, HD_WAIT_TIMEOUT, HD_WAIT_CANCELLED };
void hd_waiter_add(struct hd_waiter *w, const void *key);
void hd_waiter_remove(struct hd_waiter *w);
/* Sleeps until woken or the deadline (NULL: none); false once the deadline passed. */
bool hd_waiter_sleep(struct hd_waiter *w, const struct timespec *deadline);
void hd_wake(const void *key);   /* the waiters of one object */
void hd_wake_all(void);          /* every waiter: a device loss or a queue stopping */
/* Before the objects in [lo, hi) are freed: their waiters leave, cancelled. */
void hd_cancel_waiters(const void *lo, const void *hi);
/* A host synchronization on `flag` of obj (NOT_READY on timeout, DEVICE_LOST after a
 * loss, INVALID_NULL_HANDLE when obj is destroyed meanwhile or *gone, when not NULL,
 * becomes true: nothing will signal it any more). Takes hd.lock itself. */
ze_result_t hd_host_synchronize(const void *obj, const bool *flag, const bool *gone, struct hd_context *c,
                                uint64_t timeout);
/* What a host synchronization (fence or event) returns, the codes above, from how
 * its wait ended and whether the device was lost then. Needs no lock. */
ze_result_t hd_host_wait_result(enum hd_wait_end end, bool lost);

/* Events (event.c). *_locked: called with hd.lock held. */
struct hd_event *hd_event_of(ze_event_handle_t h);
void hd_event_drop_clev_locked(struct hd_event *e);
void hd_event_set_locked(struct hd_event *e, uint64_t start, uint64_t end);
/* Offset from PoCL's profiling clock (CLOCK_MONOTONIC_RAW) to hd_now_ns's, read now. */
int64_t hd_raw_to_mono(void);
void hd_event_resolve_locked(struct hd_event *e, int64_t off);
void hd_event_check_locked(struct hd_event *e, cl_event ev, bool done);

/* Kernels (module.c). */
struct hd_kernel *hd_kernel_of(ze_kernel_handle_t h);

/* Command lists (cmdlist.c). */
struct hd_list *hd_list_of(ze_command_list_handle_t h);
struct hd_list *hd_list_new(struct hd_context *c, struct hd_device *d);
void hd_list_reset(struct hd_list *l);
void hd_list_close(struct hd_list *l);
void hd_list_free(struct hd_list *l);

/* Queues (queue.c): a worker thread each, and the execution of every command. */
struct hd_queue *hd_queue_of(ze_command_queue_handle_t h);
ze_result_t hd_queue_new(struct hd_context *c, struct hd_device *d, const ze_command_queue_desc_t *desc,
                         struct hd_queue **out);
/* Stops q's worker and releases its PoCL queue; the struct goes now or with its
 * last fence (hd_queue_unref). */
void hd_queue_free(struct hd_queue *q);
void hd_queue_unref(struct hd_queue *q);
bool hd_queue_wait_locked(struct hd_queue *q, uint64_t target, uint64_t timeout, struct hd_context *stats,
                          bool *cancelled);
ze_result_t hd_queue_submit(struct hd_queue *q, uint32_t n, struct hd_list *const *lists, struct hd_fence *fence,
                            uint64_t *last);

/* Fences (fence.c). */
struct hd_fence *hd_fence_of(ze_fence_handle_t h);

#endif
