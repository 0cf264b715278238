/* bench: benchmarks that compare zmoe with a naive per-call Level Zero MoE dispatcher
 * (what the Python stacks do on Intel GPUs), side by side in one process, on the same
 * device, kernels and weights. See bench/README.md.
 *
 * Owns: everything under bench/ only. Reads runtime internals (runtime/runtime.h) to share the
 * runtime's context, queue and weight memory with the baseline; changes nothing. */
#ifndef ZMOE_BENCH_H
#define ZMOE_BENCH_H

#include "runtime/runtime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- counters */

/* Monotonic clock in ns. */
uint64_t bench_now_ns(void);

/* malloc family calls, counted by the interposed allocator in counters.c. */
struct bench_mallocs {
    uint64_t this_thread; /* calls made by the calling thread */
    uint64_t process;     /* calls made by every thread (driver workers included) */
};
void bench_mallocs_read(struct bench_mallocs *out);
bool bench_mallocs_counted(void); /* false in sanitizer builds (no interposer) */

/* Level Zero API calls through the loader's tracing layer (needs
 * ZE_ENABLE_TRACING_LAYER=1 before zeInit; bench_ze_prepare() sets it). */
struct bench_ze {
    uint64_t calls;  /* every entry point */
    uint64_t allocs; /* zeMemAllocDevice/Host/Shared */
    uint64_t creates; /* zeCommandListCreate, zeEventCreate, zeFenceCreate, ... */
};
void bench_ze_prepare(void);
/* Creates the tracer, disabled: the tracing layer itself mallocs on every call it
 * traces, and adds time, so it is enabled only around the passes that count calls. */
bool bench_ze_start(char *why, size_t why_size);
void bench_ze_enable(bool on);
void bench_ze_read(struct bench_ze *out);
void bench_ze_stop(void);

/* ---------------------------------------------------------------- baseline */

/* The naive dispatcher. It borrows the runtime's context, device, queue and weight
 * memory (same device, same bytes) and builds its own kernels from the same embedded
 * module, so the difference measured is the runtime design only. */
struct naive {
    struct zmoe_runtime *rt;
    const struct zmoe_config *cfg;
    bool on_input; /* out of place: scale kernel + ones fill before the experts */
    ze_module_handle_t moe, extra;
    ze_kernel_handle_t k[ZMOE_K_COUNT];
    ze_kernel_handle_t scale, ones, copy;
    /* Persistent, like the model's tensors in a Python stack: input, the caller's
     * host-visible I/O and the parameter block the kernels read T from. */
    void *x_dev, *x_host, *y_host;
    struct zmoe_params *params;
    /* Timing instrument (not part of the dispatch path): one timestamp event per
     * launch, used only by naive_call(..., timed = true). */
    ze_event_pool_handle_t pool;
    ze_event_handle_t ev[8];
    uint64_t stage_ns[8];
    uint64_t wait_ns; /* time of the last call spent in zeCommandQueueSynchronize */
    bool cg_skip_wait; /* under callgrind: stop collecting around the queue wait */
    uint32_t nstages;
};

enum naive_stage {
    NAIVE_ROUTER = 0,
    NAIVE_ALIGN,
    NAIVE_SCALE,
    NAIVE_ONES,
    NAIVE_UP,
    NAIVE_DOWN,
    NAIVE_COMBINE,
    NAIVE_STAGES
};
const char *naive_stage_name(enum naive_stage s);

enum zmoe_status naive_init(struct naive *n, struct zmoe_runtime *rt, struct zmoe_error *err);
/* One layer call: allocate scratch, record a fresh list, execute, wait, free. */
enum zmoe_status naive_call(struct naive *n, uint32_t layer, uint32_t tokens, bool timed,
                            struct zmoe_error *err);
/* Device ns of the plain f32 copy kernel over n4 float4s (timed by a kernel event). */
enum zmoe_status naive_copy(struct naive *n, void *dst, const void *src, uint32_t n4,
                            uint64_t *ns, struct zmoe_error *err);
void naive_fini(struct naive *n);

#endif

/* ------------------------------------------------------------------ results */

#define BENCH_T_MAX 8   /* points of the T sweep */
#define BENCH_EK_MAX 6  /* points of the experts/top_k sweep */
#define BENCH_ARENA_MAX 32
#define BENCH_CG_CLASSES 5 /* callgrind object classes, see bench_cg_class_name */

/* One dispatch measurement (one geometry, one T): medians per layer call. */
struct bench_dispatch {
    uint32_t T, E, K;
    double z_host_us, z_total_us, n_host_us, n_total_us; /* host: without the wait */
    double n_total_timed_us; /* baseline wall time with a timestamp event per launch, as zmoe */
    double z_dev_us, n_dev_us;                           /* device: sum of kernel times */
    double z_stage_us[ZMOE_STAGE_COUNT], n_stage_us[NAIVE_STAGES];
    double z_calls, n_calls, z_allocs, n_allocs, z_creates, n_creates; /* per call */
    double z_mallocs, n_mallocs, z_mallocs_proc, n_mallocs_proc;
    /* the same from a process where the loader has a single driver (`zbench mallocs`
     * with ZE_ENABLE_ALT_DRIVERS naming only hostdev); < 0 when not measured */
    double z_mallocs1, n_mallocs1, z_mallocs1_proc, n_mallocs1_proc;
    uint32_t calls; /* samples per side */
};

struct bench_onin {
    uint32_t T;
    double z_on_us, z_off_us, n_on_us, n_off_us; /* device time medians */
    double z_ratio, n_ratio; /* median of the per-round on/off ratios */
    double z_stage_on_us[ZMOE_STAGE_COUNT], n_stage_on_us[NAIVE_STAGES];
    uint64_t z_extra_bytes, n_extra_bytes; /* per step, from the geometry */
};

struct bench_arena {
    char name[64];
    uint64_t plan, lower, separate;         /* device memory */
    uint64_t weights;                       /* device bytes of persistent weights */
    uint64_t hplan, hlower, hseparate;      /* host-visible memory */
};

struct bench_bw {
    enum zmoe_dtype wdt;
    uint64_t step_bytes;   /* weights read by one decode step (T=1) */
    double step_us, expert_us, copy_us; /* medians */
    double copy_bytes;
    double step_gbs, expert_gbs, copy_gbs, ratio;
};

/* Instructions per call per object class; [0] with the wait, [1] dispatch only. */
#define BENCH_LANES 3
struct bench_lanes {
    enum zmoe_dtype wdt;
    uint32_t lanes;
    double step_us, ratio; /* median step time, median of per-round step/copy ratios */
};

struct bench_cg {
    bool have;
    uint32_t T;
    double z[2][BENCH_CG_CLASSES], n[2][BENCH_CG_CLASSES];
};

struct bench_results {
    char date[64], commit[64], cpu[128], device[300];
    char drivers[600]; /* ZE_ENABLE_ALT_DRIVERS as the runtime left it */
    uint32_t cores;
    double mem_gib;
    char dispatch_geometry[160], onin_geometry[160], bw_geometry[160], scale_geometry[160],
        ek_geometry[160];
    struct bench_dispatch disp[2];  /* T=1, T=8 */
    struct bench_dispatch sweep_t[BENCH_T_MAX];
    uint32_t nsweep_t;
    struct bench_dispatch sweep_ek[BENCH_EK_MAX];
    uint32_t nsweep_ek;
    struct bench_onin onin[2];
    struct bench_arena arena[BENCH_ARENA_MAX];
    uint32_t narena;
    struct bench_bw bw[3];
    uint32_t nbw;
    struct bench_lanes lanes[2 * BENCH_LANES];
    uint32_t nlanes;
    struct bench_cg cg[4];
    uint32_t ncg;
    double seconds;
};

const char *bench_cg_class_name(int c); /* "zmoe + bench", "loader", "driver", ... */
/* report.c: writes latest.md and the SVG charts into dir. */
int bench_write_report(const struct bench_results *r, const char *dir);
