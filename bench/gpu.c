/* gpu.c — zmoe-gpubench: one MoE layer call on any OpenCL device (a GPU through its
 * vendor's driver, or PoCL on a CPU), from kernels/moe.cl *source*, driven only by the
 * runtime's launch plan (runtime/launch.c) and memory plan (runtime/plan.c).
 *
 * Nothing here knows a kernel argument order: every launch of zmoe_runtime_launch_plan()
 * is walked argument by argument, ZMOE_ARG_ACT / _WEIGHT / _IO resolved to this
 * program's cl_mem buffers (one per planned buffer), ZMOE_ARG_U32 passed by value; local
 * size = plan.kernel[k].local, global = groups * local. OpenCL has no indirect dispatch:
 * before a launch with `indirect >= 0`, act.groups is read back (blocking) after the
 * launch that wrote it and the launch is enqueued with those counts. The layer time is
 * therefore the sum of the kernels' OpenCL profiling durations (START..END), not a wall
 * time (the host round trip between align and the expert stages is not counted).
 *
 * OpenCL 1.2 host API, plain buffers (NVIDIA's OpenCL has coarse-grained SVM only).
 * Links only config, arena's planner, the runtime's plan/launch objects, weights and the
 * reference: no Level Zero library is needed at run time (bench/README.md). */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "config/config.h"
#include "runtime/runtime.h"
#include "reference/moe_ref.h"
#include "weights/quant.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef ZMOE_GPUBENCH_KERNELS
#define ZMOE_GPUBENCH_KERNELS "kernels/moe.cl"
#endif
#ifndef ZMOE_GPUBENCH_EXAMPLES
#define ZMOE_GPUBENCH_EXAMPLES "config/examples"
#endif

/* The options kernels/ocloc.sh passes for moe.cl ("-cl-std=CL1.2 $options", and the moe
 * entry of kernels/meson.build has no extra options). */
#define BUILD_OPTIONS "-cl-std=CL1.2"
#define CPU_MODULE_OPTIONS "-DZMOE_CPU" /* kernels/meson.build, cpu_modules */

#define TOKENS_MAX 64u
#define GEOS_MAX 64u
#define MIB (1024.0 * 1024.0)

/* ------------------------------------------------------------------ options */

struct options {
    const char *kernels, *examples, *only, *skip, *tsv, *md, *options, *build_log, *binary;
    uint32_t tokens[TOKENS_MAX], ntokens;
    uint32_t reps;
    int shape[4]; /* -1 auto, else a ze_device_type_t; each runs every geometry */
    uint32_t nshapes;
    int device; /* -1: first GPU, else first device; N: the N-th device of all platforms */
    bool quick, check, tap, list, experts;
};
static struct options opt;

/* TAP mode (the meson test): everything but the test points is a '#' comment. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!opt.tap) {
        fputs(buf, stdout);
        fflush(stdout);
        return;
    }
    /* prefix every line */
    for (char *s = buf; *s;) {
        char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        printf("# %.*s\n", (int)n, s);
        s += n + (nl ? 1 : 0);
    }
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: zmoe-gpubench [options]\n"
            "  --kernels FILE    moe.cl source (default %s)\n"
            "  --options STR     build options after the offline build's (e.g. a -D to try a\n"
            "                    variant of the source)\n"
            "  --build-log FILE  write the whole build log to FILE\n"
            "  --binary FILE     write the driver's program binary to FILE (NVIDIA: PTX, for\n"
            "                    ptxas -v: registers and spills per kernel)\n"
            "  --examples DIR    config examples (default %s)\n"
            "  --tokens LIST     token counts, e.g. 1,2,4,8 (default)\n"
            "  --only NAME       only geometries whose name contains NAME\n"
            "  --skip A,B        not the geometries whose name contains A or B\n"
            "  --reps N          timed runs per row, median (default 100)\n"
            "  --experts         time the experts-only call (align_routed + experts, what an\n"
            "                    engine with its own router records) on the layer call's routing\n"
            "  --quick           tiny geometry + the smallest example, T 1,2, 5 reps\n"
            "  --shape gpu|cpu|auto  launch-plan device shape (auto: the device's type);\n"
            "                    a list (cpu,gpu) runs every geometry with each\n"
            "  --device N        N-th OpenCL device over all platforms (default: first GPU)\n"
            "  --no-check        skip the check of y against the plain-C reference\n"
            "  --tsv FILE        geometry, T, layer_us, weight_bytes, ratio\n"
            "  --md FILE         markdown table\n"
            "  --tap             TAP output (test points = y checks)\n"
            "  --list            list the selected geometries and exit (no device)\n",
            ZMOE_GPUBENCH_KERNELS, ZMOE_GPUBENCH_EXAMPLES);
}

static bool parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 1000000)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int parse_options(int argc, char **argv)
{
    opt = (struct options){.kernels = ZMOE_GPUBENCH_KERNELS, .examples = ZMOE_GPUBENCH_EXAMPLES,
                           .tokens = {1, 2, 4, 8}, .ntokens = 4, .reps = 100, .shape = {-1}, .nshapes = 1,
                           .device = -1, .check = true};
    bool tokens_given = false, reps_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                                    \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "zmoe-gpubench: %s needs a value\n", a);                               \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "--kernels")) {
            NEEDV();
            opt.kernels = v;
        } else if (!strcmp(a, "--options")) {
            NEEDV();
            opt.options = v;
        } else if (!strcmp(a, "--build-log")) {
            NEEDV();
            opt.build_log = v;
        } else if (!strcmp(a, "--binary")) {
            NEEDV();
            opt.binary = v;
        } else if (!strcmp(a, "--examples")) {
            NEEDV();
            opt.examples = v;
        } else if (!strcmp(a, "--only")) {
            NEEDV();
            opt.only = v;
        } else if (!strcmp(a, "--skip")) {
            NEEDV();
            opt.skip = v;
        } else if (!strcmp(a, "--tsv")) {
            NEEDV();
            opt.tsv = v;
        } else if (!strcmp(a, "--md")) {
            NEEDV();
            opt.md = v;
        } else if (!strcmp(a, "--reps")) {
            NEEDV();
            if (!parse_u32(v, &opt.reps)) {
                fprintf(stderr, "zmoe-gpubench: --reps: expected a count, found '%s'\n", v);
                return 2;
            }
            reps_given = true;
        } else if (!strcmp(a, "--device")) {
            NEEDV();
            uint32_t d;
            if (!strcmp(v, "0"))
                d = 0;
            else if (!parse_u32(v, &d)) {
                fprintf(stderr, "zmoe-gpubench: --device: expected an index, found '%s'\n", v);
                return 2;
            }
            opt.device = (int)d;
        } else if (!strcmp(a, "--tokens")) {
            NEEDV();
            opt.ntokens = 0;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (opt.ntokens == TOKENS_MAX || !parse_u32(t, &opt.tokens[opt.ntokens])) {
                    fprintf(stderr, "zmoe-gpubench: --tokens: expected e.g. 1,2,4,8, found '%s'\n", v);
                    return 2;
                }
                opt.ntokens++;
            }
            if (!opt.ntokens) {
                fprintf(stderr, "zmoe-gpubench: --tokens: empty list\n");
                return 2;
            }
            tokens_given = true;
        } else if (!strcmp(a, "--shape")) {
            NEEDV();
            opt.nshapes = 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int sh = !strcmp(t, "gpu") ? ZE_DEVICE_TYPE_GPU : !strcmp(t, "cpu") ? ZE_DEVICE_TYPE_CPU
                                                              : !strcmp(t, "auto") ? -1 : -2;
                if (sh == -2 || opt.nshapes == 4) {
                    fprintf(stderr, "zmoe-gpubench: --shape: expected gpu, cpu, auto or a list such as "
                                    "cpu,gpu, found '%s'\n", v);
                    return 2;
                }
                opt.shape[opt.nshapes++] = sh;
            }
            if (!opt.nshapes) {
                fprintf(stderr, "zmoe-gpubench: --shape: empty list\n");
                return 2;
            }
        } else if (!strcmp(a, "--quick")) {
            opt.quick = true;
        } else if (!strcmp(a, "--no-check")) {
            opt.check = false;
        } else if (!strcmp(a, "--experts")) {
            opt.experts = true;
        } else if (!strcmp(a, "--list")) {
            opt.list = true;
        } else if (!strcmp(a, "--tap")) {
            opt.tap = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "zmoe-gpubench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NEEDV
    }
    if (opt.quick) {
        if (!tokens_given) {
            opt.tokens[0] = 1;
            opt.tokens[1] = 2;
            opt.ntokens = 2;
        }
        if (!reps_given)
            opt.reps = 5;
    }
    return 0;
}

/* ------------------------------------------------------------------ OpenCL errors */

static const char *cl_err_name(cl_int e)
{
    switch (e) {
#define E(x)                                                                                       \
    case x:                                                                                        \
        return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_BUILD_PROGRAM_FAILURE)
        E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) E(CL_COMPILE_PROGRAM_FAILURE)
        E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
        E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
        E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
        E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
        E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE) E(CL_INVALID_GLOBAL_WORK_SIZE)
        E(CL_INVALID_PROPERTY) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
        E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
        return "unknown OpenCL error";
    }
}

/* "zmoe-gpubench: clFoo failed with CL_... (-n): while ..." */
static int cl_fail(const char *call, cl_int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cl_fail(const char *call, cl_int e, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "zmoe-gpubench: %s failed with %s (%d): %s\n", call, cl_err_name(e), (int)e, what);
    if (opt.tap)
        printf("not ok - %s: %s\n", call, what);
    return -1;
}

/* In functions that clean up after themselves: sets rc instead of returning. */
#define CL_TRY(fn, args, ...)                                                                      \
    do {                                                                                           \
        if (!rc) {                                                                                 \
            cl_int e_ = fn args;                                                                   \
            if (e_ != CL_SUCCESS)                                                                  \
                rc = cl_fail(#fn, e_, __VA_ARGS__);                                                \
        }                                                                                          \
    } while (0)

#define CL_CHECK(fn, args, ...)                                                                    \
    do {                                                                                           \
        cl_int e_ = fn args;                                                                       \
        if (e_ != CL_SUCCESS)                                                                      \
            return cl_fail(#fn, e_, __VA_ARGS__);                                                  \
    } while (0)

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "zmoe-gpubench: %s\n", what);
    if (opt.tap)
        printf("not ok - %s\n", what);
    return -1;
}

/* ------------------------------------------------------------------ geometries */

struct geo {
    char name[64];
    char source[96]; /* "built-in" or the example file */
    struct zmoe_config cfg;
};

static struct zmoe_config builtin(uint32_t H, uint32_t I, uint32_t E, uint32_t K)
{
    struct zmoe_config c;
    zmoe_config_defaults(&c);
    c.model.hidden = H;
    c.model.intermediate = I;
    c.model.experts = E;
    c.model.top_k = K;
    c.model.layers = 1;
    c.router.scoring = ZMOE_SCORING_SOFTMAX;
    c.router.renormalize = true;
    c.experts.activation = ZMOE_ACT_SILU;
    c.dtype.weights = ZMOE_DTYPE_BF16;
    c.dtype.activations = ZMOE_DTYPE_F32;
    c.runtime.max_tokens = 32; /* what the full-size example configs plan for */
    c.runtime.ring_depth = 1;
    return c;
}

/* Quantized routed and shared experts in one format (synthetic device-layout weights). */
static void quantize(struct zmoe_config *c, enum zmoe_quant_format f, uint32_t group,
                     enum zmoe_scale_dtype sdt)
{
    c->quant.format = f;
    c->quant.group_size = group;
    c->quant.scale_dtype = sdt;
    c->quant.shared_experts = true;
}

/* The fields that do not change what a layer call computes or reads, set alike so two
 * configs can be compared on the rest. */
static void normalise(struct zmoe_config *c)
{
    c->model.layers = 1;
    c->experts.gate_up_interleaved = false; /* checkpoint layout only */
    c->runtime.ring_depth = 1;
    c->runtime.device = ZMOE_DEVICE_AUTO;
    c->runtime.wait_timeout_ms = 5000;
    c->budget.device_bytes = c->budget.host_bytes = 0;
    memset(c->weights.file, 0, sizeof c->weights.file);
    memset(c->weights.prefix, 0, sizeof c->weights.prefix);
    c->weights.layout = ZMOE_LAYOUT_SYNTHETIC;
    c->weights.seed = 1;
}

static uint64_t layer_weight_bytes(const struct zmoe_config *c)
{
    uint64_t n = 0;
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        n += zmoe_tensor_bytes(c, (enum zmoe_tensor)t);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool selected(const char *name)
{
    if (opt.only && !strstr(name, opt.only))
        return false;
    for (const char *s = opt.skip; s && *s;) { /* comma-separated parts */
        char part[64];
        const size_t n = strcspn(s, ",");
        snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part ? n : sizeof part - 1), s);
        if (n && strstr(name, part))
            return false;
        s += n + (s[n] == ',');
    }
    return true;
}

/* The built-in geometries of issue 12, a tiny one, then every real config example
 * (not -mini; not when identical to a built-in). */
static int collect_geometries(struct geo *g, uint32_t *count)
{
    uint32_t n = 0;
    struct zmoe_error err = {{0}};
    struct {
        const char *name;
        struct zmoe_config c;
    } b[16];
    uint32_t nb = 0;
    b[nb].name = "tiny";
    b[nb++].c = builtin(128, 64, 8, 2);
    /* quantized experts (issue 13): the tiny layer in int4 (the quick run's second row,
     * so the PoCL test runs a quantized plan too), then Qwen3's layer per format */
    b[nb].name = "tiny-int4";
    b[nb].c = builtin(128, 64, 8, 2);
    quantize(&b[nb++].c, ZMOE_QUANT_INT4, 32, ZMOE_SCALE_F16);
    b[nb].name = "qwen3-30b-a3b";
    b[nb++].c = builtin(2048, 768, 128, 8);
    b[nb].name = "qwen3-30b-a3b-int4";
    b[nb].c = builtin(2048, 768, 128, 8);
    quantize(&b[nb++].c, ZMOE_QUANT_INT4, 128, ZMOE_SCALE_F16);
    b[nb].name = "qwen3-30b-a3b-int8";
    b[nb].c = builtin(2048, 768, 128, 8);
    quantize(&b[nb++].c, ZMOE_QUANT_INT8, 0, ZMOE_SCALE_F16);
    b[nb].name = "qwen3-30b-a3b-fp8";
    b[nb].c = builtin(2048, 768, 128, 8);
    quantize(&b[nb++].c, ZMOE_QUANT_FP8, 128, ZMOE_SCALE_F32);
    b[nb].name = "qwen3-30b-a3b-mxfp4";
    b[nb].c = builtin(2048, 768, 128, 8);
    quantize(&b[nb++].c, ZMOE_QUANT_MXFP4, 32, ZMOE_SCALE_E8M0);
    b[nb].name = "mixtral-8x7b";
    b[nb++].c = builtin(4096, 14336, 8, 2);
    b[nb].name = "gpt-oss-20b";
    b[nb].c = builtin(2880, 2880, 32, 4);
    b[nb].c.router.bias = true;
    b[nb].c.experts.activation = ZMOE_ACT_SWIGLU_OAI;
    b[nb].c.experts.swiglu_alpha = 1.702f;
    b[nb].c.experts.swiglu_limit = 7.0f;
    b[nb++].c.experts.bias = true;
    b[nb].name = "llama4-scout";
    b[nb].c = builtin(5120, 8192, 16, 1);
    b[nb].c.model.shared_experts = 1;
    b[nb].c.model.shared_intermediate = 8192;
    b[nb].c.router.scoring = ZMOE_SCORING_SIGMOID;
    b[nb].c.router.renormalize = false;
    b[nb++].c.router.apply_router_weight_on_input = true;
    b[nb].name = "g3584";
    b[nb++].c = builtin(3584, 640, 64, 8);
    b[nb].name = "g4096";
    b[nb++].c = builtin(4096, 3584, 8, 2);
    for (uint32_t i = 0; i < nb; i++) {
        if (zmoe_config_validate(&b[i].c, &err) != ZMOE_OK)
            return fail("built-in geometry %s does not validate: %s", b[i].name, err.msg);
        if (opt.quick && i > 1)
            continue;
        if (!selected(b[i].name))
            continue;
        snprintf(g[n].name, sizeof g[n].name, "%s", b[i].name);
        snprintf(g[n].source, sizeof g[n].source, "built-in");
        g[n++].cfg = b[i].c;
    }

    DIR *d = opendir(opt.examples);
    if (!d)
        return fail("cannot open the config examples directory %s: %s (--examples DIR)", opt.examples,
                    strerror(errno));
    char *files[GEOS_MAX];
    uint32_t nf = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".conf") || (len > 10 && !strcmp(de->d_name + len - 10, "-mini.conf")))
            continue;
        if (nf < GEOS_MAX)
            files[nf++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(files, nf, sizeof files[0], cmp_str);
    struct geo ex[GEOS_MAX];
    uint32_t nex = 0;
    int rc = 0;
    for (uint32_t i = 0; i < nf; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", opt.examples, files[i]);
        struct zmoe_config c;
        if (!files[i] || zmoe_config_load(path, &c, &err) != ZMOE_OK) {
            rc = fail("%s: %s", path, files[i] ? err.msg : "out of memory");
            break;
        }
        normalise(&c);
        bool same = false;
        for (uint32_t j = 0; j < nb && !same; j++) {
            struct zmoe_config x = c;
            x.runtime.max_tokens = b[j].c.runtime.max_tokens;
            struct zmoe_config y = b[j].c;
            normalise(&y);
            same = zmoe_config_diff(&x, &y) == NULL;
            if (same)
                say("%s: identical to the built-in geometry %s, skipped\n", files[i], b[j].name);
        }
        if (same)
            continue;
        snprintf(ex[nex].name, sizeof ex[nex].name, "%s", files[i]);
        snprintf(ex[nex].source, sizeof ex[nex].source, "%.90s", path);
        ex[nex++].cfg = c;
    }
    for (uint32_t i = 0; i < nf; i++)
        free(files[i]);
    if (rc)
        return rc;
    if (opt.quick && nex > 1) { /* the smallest example only */
        uint32_t best = 0;
        for (uint32_t i = 1; i < nex; i++)
            if (layer_weight_bytes(&ex[i].cfg) < layer_weight_bytes(&ex[best].cfg))
                best = i;
        ex[0] = ex[best];
        nex = 1;
    }
    for (uint32_t i = 0; i < nex && n < GEOS_MAX; i++)
        if (selected(ex[i].name))
            g[n++] = ex[i];
    *count = n;
    if (!n)
        return fail("no geometry selected%s%s", opt.only ? " by --only " : "", opt.only ? opt.only : "");
    return 0;
}

/* ------------------------------------------------------------------ host threads */

static unsigned host_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > 64 ? 64u : (unsigned)n;
}

struct fill_job {
    const struct zmoe_config *cfg;
    enum zmoe_tensor t;
    uint64_t first, count;
    float *out;
    void *dst; /* when set: converted to `dt` here, `out` is scratch */
    enum zmoe_dtype dt;
};
static void *fill_thread(void *p)
{
    struct fill_job *j = p;
    zmoe_weights_synthetic(j->cfg, 0, j->t, j->first, j->count, j->out);
    if (j->dst)
        zmoe_dtype_convert(j->dst, j->dt, j->out, ZMOE_DTYPE_F32, (size_t)j->count);
    return NULL;
}
/* zmoe_weights_synthetic over [first, first+count) into out (f32), and when dst is given
 * converted to dt there, split over the host's cores: the values are a function of the
 * element index only, so any split gives the same. */
static void fill_parallel(const struct zmoe_config *cfg, enum zmoe_tensor t, uint64_t first,
                          uint64_t count, float *out, void *dst, enum zmoe_dtype dt)
{
    unsigned nt = host_threads();
    if (count < (1u << 16))
        nt = 1;
    pthread_t th[64];
    struct fill_job job[64];
    bool started[64] = {0};
    const size_t es = dst ? zmoe_dtype_size(dt) : 0;
    uint64_t per = (count + nt - 1) / nt;
    for (unsigned i = 0; i < nt; i++) {
        uint64_t a = i * per, b = a + per < count ? a + per : count;
        if (a >= b)
            continue;
        job[i] = (struct fill_job){cfg, t, first + a, b - a, out + a, dst ? (char *)dst + a * es : NULL, dt};
        started[i] = nt > 1 && pthread_create(&th[i], NULL, fill_thread, &job[i]) == 0;
        if (!started[i])
            fill_thread(&job[i]);
    }
    for (unsigned i = 0; i < nt; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}

/* The f32 copies the reference reads (zmoe_ref_weights_synthetic's values: same function,
 * same indices), for the tensors a step reads: router, biases and shared expert whole;
 * of the routed experts' tensors only the experts in `used` (the device's routing at
 * the largest T). The arrays are full size but reserved, not committed (MAP_NORESERVE):
 * a full-size layer in f32 is up to ~64 GiB (Llama 4 Maverick), its routed part a few.
 * Should the reference route a token elsewhere, it reads zeros there and the check fails. */
struct ref_copy {
    struct zmoe_ref_weights w;
    size_t bytes[ZMOE_TENSOR_COUNT];
    uint64_t filled; /* elements */
};
static void ref_release(struct ref_copy *r)
{
    for (int t = 0; t < ZMOE_TENSOR_COUNT; t++)
        if (r->w.tensor[t])
            munmap((void *)r->w.tensor[t], r->bytes[t]);
    memset(r, 0, sizeof *r);
}
static int ref_weights(const struct zmoe_config *cfg, const unsigned char *used, struct ref_copy *r)
{
    memset(r, 0, sizeof *r);
    const uint32_t E = cfg->model.experts;
    for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
        enum zmoe_tensor t = (enum zmoe_tensor)ti;
        if (!zmoe_tensor_present(cfg, t))
            continue;
        uint64_t n = zmoe_tensor_elements(cfg, t);
        size_t bytes = n && n <= SIZE_MAX / 4 ? (size_t)n * 4 : 0;
        void *m = bytes ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                        : MAP_FAILED;
        if (m == MAP_FAILED) {
            ref_release(r);
            return fail("cannot map the reference's f32 copy of %s (%.0f MiB): %s; --no-check skips the reference",
                        zmoe_tensor_name(t), (double)n * 4 / MIB, strerror(errno));
        }
        r->w.tensor[t] = m;
        r->bytes[t] = bytes;
        struct zmoe_qmatrix q;
        if (zmoe_quant_matrix(cfg, t, &q)) {
            /* quantized: the uploaded bytes, dequantized by the format's definition
             * (weights/quant.c) for the rows the step reads */
            void *raw = malloc((size_t)q.bytes);
            if (!raw) {
                ref_release(r);
                return fail("out of memory for the device-layout bytes of %s", zmoe_tensor_name(t));
            }
            zmoe_weights_synthetic_quant(cfg, 0, t, 0, (size_t)q.bytes, raw);
            const uint64_t rows = q.rows / q.perm_sets; /* per expert (all, when shared) */
            for (uint64_t e = 0; e < q.perm_sets; e++)
                if (q.perm_sets == 1 || used[e]) {
                    zmoe_quant_dequant_rows(&q, raw, e * rows, rows, (float *)m + e * rows * q.cols);
                    r->filled += rows * q.cols;
                }
            free(raw);
            continue;
        }
        const bool per_expert = t == ZMOE_TENSOR_W13 || t == ZMOE_TENSOR_B13 || t == ZMOE_TENSOR_W2 || t == ZMOE_TENSOR_B2;
        if (!per_expert) {
            fill_parallel(cfg, t, 0, n, m, NULL, ZMOE_DTYPE_F32);
            r->filled += n;
            continue;
        }
        const uint64_t per = n / E; /* [E][...]: one expert's block is contiguous */
        for (uint32_t e = 0; e < E; e++)
            if (used[e]) {
                fill_parallel(cfg, t, e * per, per, (float *)m + e * per, NULL, ZMOE_DTYPE_F32);
                r->filled += per;
            }
    }
    return 0;
}

struct ref_job {
    const struct zmoe_config *cfg;
    const struct zmoe_ref_weights *w;
    const float *x;
    uint32_t tokens;
    float *y;
    uint32_t *ids;
};
static void *ref_thread(void *p)
{
    struct ref_job *j = p;
    zmoe_ref_forward(j->cfg, j->w, j->x, j->tokens, ZMOE_REF_AS_CONFIGURED, j->y, j->ids, NULL);
    return NULL;
}
/* zmoe_ref_forward over T tokens, one block of tokens per core (every token is computed
 * on its own, so the rows equal one call over all of them). */
static void ref_parallel(const struct zmoe_config *cfg, const struct zmoe_ref_weights *w,
                         const float *x, uint32_t T, float *y, uint32_t *ids)
{
    const uint32_t H = cfg->model.hidden, K = cfg->model.top_k;
    unsigned nt = host_threads();
    if (nt > T)
        nt = T;
    pthread_t th[64];
    struct ref_job job[64];
    bool started[64] = {0};
    uint32_t per = (T + nt - 1) / nt;
    for (unsigned i = 0; i < nt; i++) {
        uint32_t a = i * per, b = a + per < T ? a + per : T;
        if (a >= b)
            continue;
        job[i] = (struct ref_job){cfg, w, x + (size_t)a * H, b - a, y + (size_t)a * H, ids + (size_t)a * K};
        started[i] = pthread_create(&th[i], NULL, ref_thread, &job[i]) == 0;
        if (!started[i])
            ref_thread(&job[i]);
    }
    for (unsigned i = 0; i < nt; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}

/* ------------------------------------------------------------------ the device */

struct dev {
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue q;
    cl_program prog;
    cl_kernel copy;
    char name[256], vendor[256], driver[128], version[256], platform_name[256];
    cl_device_type type;
    size_t max_group;
    cl_ulong global_mem, max_alloc, l2;
    struct zmoe_device_shape shape;
    const char *shape_why, *shape_name;
    /* copy_f32 buffers: the bandwidth reference and the L2 flush before each layer run */
    cl_mem copy_src, copy_dst;
    uint64_t copy_bytes, flush_bytes;
    double copy_gbs, copy_us;
    struct {
        char name[48];
        cl_kernel k;
    } kern[32];
    uint32_t nkern;
};

static int pick_device(struct dev *d)
{
    cl_uint np = 0;
    cl_platform_id plats[16];
    CL_CHECK(clGetPlatformIDs, (16, plats, &np), "listing the OpenCL platforms (is an ICD registered "
                                                 "under /etc/OpenCL/vendors or OCL_ICD_VENDORS?)");
    if (np > 16)
        np = 16;
    int index = 0, found = -1;
    for (int pass = 0; pass < 2 && found < 0; pass++) {
        index = 0;
        for (cl_uint p = 0; p < np && found < 0; p++) {
            cl_uint nd = 0;
            cl_device_id devs[16];
            cl_int e = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd);
            if (e == CL_DEVICE_NOT_FOUND)
                continue;
            if (e != CL_SUCCESS)
                return cl_fail("clGetDeviceIDs", e, "listing the devices of platform %u", p);
            for (cl_uint i = 0; i < nd && i < 16 && found < 0; i++, index++) {
                cl_device_type t;
                CL_CHECK(clGetDeviceInfo, (devs[i], CL_DEVICE_TYPE, sizeof t, &t, NULL),
                         "CL_DEVICE_TYPE of device %d", index);
                bool take = opt.device >= 0 ? index == opt.device : pass == 1 || (t & CL_DEVICE_TYPE_GPU);
                if (take) {
                    found = index;
                    d->platform = plats[p];
                    d->device = devs[i];
                    d->type = t;
                }
            }
        }
        if (opt.device >= 0)
            break;
    }
    if (found < 0)
        return fail(opt.device >= 0 ? "no OpenCL device %d (%d devices found)" : "no OpenCL device found%.0d%.0d",
                    opt.device, index);
#define INFO(what, field)                                                                          \
    CL_CHECK(clGetDeviceInfo, (d->device, what, sizeof d->field, &d->field, NULL), "%s of the device", #what)
    INFO(CL_DEVICE_NAME, name);
    INFO(CL_DEVICE_VENDOR, vendor);
    INFO(CL_DRIVER_VERSION, driver);
    INFO(CL_DEVICE_VERSION, version);
    INFO(CL_DEVICE_MAX_WORK_GROUP_SIZE, max_group);
    INFO(CL_DEVICE_GLOBAL_MEM_SIZE, global_mem);
    INFO(CL_DEVICE_MAX_MEM_ALLOC_SIZE, max_alloc);
    INFO(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, l2);
#undef INFO
    d->name[sizeof d->name - 1] = d->vendor[sizeof d->vendor - 1] = d->driver[sizeof d->driver - 1] = 0;
    d->version[sizeof d->version - 1] = 0;
    CL_CHECK(clGetPlatformInfo, (d->platform, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL),
             "CL_PLATFORM_NAME");
    d->platform_name[sizeof d->platform_name - 1] = 0;
    return 0;
}

/* The launch plan's device shape for --shape entry i (auto: the OpenCL device's type). */
static void set_shape(struct dev *d, uint32_t i)
{
    ze_device_type_t zt;
    if (opt.shape[i] >= 0) {
        zt = (ze_device_type_t)opt.shape[i];
        d->shape_why = "--shape";
    } else {
        zt = (d->type & CL_DEVICE_TYPE_CPU) ? ZE_DEVICE_TYPE_CPU : ZE_DEVICE_TYPE_GPU;
        d->shape_why = "the device type";
    }
    d->shape_name = zt == ZE_DEVICE_TYPE_CPU ? "cpu" : "gpu";
    uint32_t mg = d->max_group > UINT32_MAX ? UINT32_MAX : (uint32_t)d->max_group;
    d->shape = zmoe_runtime_device_shape(zt, mg);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The built program's binary for the one device (what the driver made of the source:
 * PTX text on NVIDIA's OpenCL, which `ptxas -arch=sm_90 -v` turns into register and
 * spill counts per kernel; the build log has none). */
static int write_binary(cl_program prog, const char *path)
{
    size_t size = 0;
    cl_int e = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    if (e != CL_SUCCESS || size == 0)
        return cl_fail("clGetProgramInfo", e, "size of the program binary (%zu bytes)", size);
    unsigned char *bin = malloc(size);
    if (!bin) {
        fprintf(stderr, "zmoe-gpubench: no memory for the %zu-byte program binary\n", size);
        return 1;
    }
    e = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL);
    /* NVIDIA's PTX ends in its C string's NULs, which ptxas reads as an early EOF */
    while (e == CL_SUCCESS && size && bin[size - 1] == 0)
        size--;
    FILE *f = e == CL_SUCCESS ? fopen(path, "wb") : NULL;
    bool ok = f && fwrite(bin, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = false;
    free(bin);
    if (e != CL_SUCCESS)
        return cl_fail("clGetProgramInfo", e, "the program binary");
    if (!ok) {
        fprintf(stderr, "zmoe-gpubench: cannot write the program binary to %s\n", path);
        return 1;
    }
    say("program binary: %zu bytes -> %s\n", size, path);
    return 0;
}

static int build_program(struct dev *d)
{
    cl_int e;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
    d->ctx = clCreateContext(props, 1, &d->device, NULL, NULL, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateContext", e, "context for device '%s'", d->name);
    d->q = clCreateCommandQueue(d->ctx, d->device, CL_QUEUE_PROFILING_ENABLE, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateCommandQueue", e, "in-order profiling queue on '%s'", d->name);
    size_t len;
    char *src = read_file(opt.kernels, &len);
    if (!src)
        return fail("cannot read the kernel source %s: %s (--kernels FILE)", opt.kernels, strerror(errno));
    const char *srcs[1] = {src};
    d->prog = clCreateProgramWithSource(d->ctx, 1, srcs, &len, &e);
    free(src);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateProgramWithSource", e, "program from %s", opt.kernels);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char options[512];
    /* a CPU device gets what the runtime builds for one: the moe_cpu module's -D */
    snprintf(options, sizeof options, "%s%s%s%s", BUILD_OPTIONS,
             (d->type & CL_DEVICE_TYPE_CPU) ? " " CPU_MODULE_OPTIONS : "", opt.options ? " " : "",
             opt.options ? opt.options : "");
    e = clBuildProgram(d->prog, 1, &d->device, options, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e != CL_SUCCESS) {
        size_t n = 0;
        clGetProgramBuildInfo(d->prog, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
        char *log = malloc(n + 1);
        if (log && clGetProgramBuildInfo(d->prog, d->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) {
            log[n] = 0;
            fprintf(stderr, "%s: build log:\n%s\n", opt.kernels, log);
        }
        free(log);
        return cl_fail("clBuildProgram", e, "building %s with \"%s\" for '%s'", opt.kernels, options, d->name);
    }
    say("kernels: %s built from source with \"%s\" in %.1f s\n", opt.kernels, options,
        (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    /* a successful build's log (warnings, on some drivers register use) to stderr */
    size_t n = 0;
    if (clGetProgramBuildInfo(d->prog, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS && n > 2) {
        char *log = malloc(n + 1);
        if (log && clGetProgramBuildInfo(d->prog, d->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) {
            log[n] = 0;
            FILE *f = opt.build_log ? fopen(opt.build_log, "w") : NULL;
            if (opt.build_log && (!f || fputs(log, f) == EOF))
                fprintf(stderr, "zmoe-gpubench: cannot write the build log %s\n", opt.build_log);
            if (f)
                fclose(f);
            size_t ll = strlen(log);
            while (ll && (log[ll - 1] == '\n' || log[ll - 1] == ' '))
                log[--ll] = 0;
            if (ll)
                fprintf(stderr, "%s: build log (%zu bytes)%s:\n%.8000s\n", opt.kernels, ll,
                        ll > 8000 ? ", first 8000" : "", log);
        }
        free(log);
    }
    if (opt.binary && write_binary(d->prog, opt.binary))
        return 1;
    d->copy = clCreateKernel(d->prog, "copy_f32", &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateKernel", e, "kernel 'copy_f32' of %s", opt.kernels);
    return 0;
}

static int get_kernel(struct dev *d, const char *name, cl_kernel *out)
{
    for (uint32_t i = 0; i < d->nkern; i++)
        if (!strcmp(d->kern[i].name, name)) {
            *out = d->kern[i].k;
            return 0;
        }
    if (d->nkern == sizeof d->kern / sizeof d->kern[0])
        return fail("too many kernels");
    cl_int e;
    cl_kernel k = clCreateKernel(d->prog, name, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateKernel", e, "kernel '%s' of %s (named by the launch plan)", name, opt.kernels);
    snprintf(d->kern[d->nkern].name, sizeof d->kern[0].name, "%s", name);
    d->kern[d->nkern++].k = k;
    *out = k;
    return 0;
}

static int event_ns(cl_event ev, const char *what, uint64_t *ns)
{
    cl_ulong a = 0, b = 0;
    CL_CHECK(clGetEventProfilingInfo, (ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL), "start time of %s", what);
    CL_CHECK(clGetEventProfilingInfo, (ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL), "end time of %s", what);
    *ns = b > a ? b - a : 0;
    return 0;
}

/* copy_f32(dst, src, n4) over the first `bytes` of the copy buffers. */
static int enqueue_copy(struct dev *d, uint64_t bytes, cl_event *ev)
{
    cl_uint n4 = (cl_uint)(bytes / 16);
    size_t local = d->max_group >= 256 ? 256 : d->max_group;
    size_t global = ((size_t)n4 + local - 1) / local * local;
    CL_CHECK(clSetKernelArg, (d->copy, 0, sizeof(cl_mem), &d->copy_dst), "argument 0 (dst) of copy_f32");
    CL_CHECK(clSetKernelArg, (d->copy, 1, sizeof(cl_mem), &d->copy_src), "argument 1 (src) of copy_f32");
    CL_CHECK(clSetKernelArg, (d->copy, 2, sizeof n4, &n4), "argument 2 (n4) of copy_f32");
    CL_CHECK(clEnqueueNDRangeKernel, (d->q, d->copy, 1, NULL, &global, &local, 0, NULL, ev),
             "copy_f32 over %.0f MiB", (double)bytes / MIB);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v, uint32_t n)
{
    if (!n)
        return 0;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return v[0];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* The copy kernel's bandwidth: (bytes read + written) / time, median of the reps. GPUs:
 * 2 x 1 GiB (far beyond any L2); CPUs: 2 x 256 MiB (2 x 64 MiB with --quick). The first
 * flush_bytes of the same buffers are copied before each layer run to flush the L2. */
static int measure_copy(struct dev *d)
{
    bool gpu = !(d->type & CL_DEVICE_TYPE_CPU);
    uint64_t want = gpu ? (1ull << 30) : opt.quick ? (64ull << 20) : (256ull << 20);
    if (want > d->max_alloc)
        want = d->max_alloc & ~(uint64_t)0xfffff;
    if (want > d->global_mem / 8)
        want = (d->global_mem / 8) & ~(uint64_t)0xfffff;
    d->copy_bytes = want;
    uint64_t flush = gpu ? (256ull << 20) : opt.quick ? (32ull << 20) : (64ull << 20);
    /* at least 4x the device's last-level cache it reports, within the buffers */
    if (d->l2 && flush < 4 * d->l2)
        flush = 4 * d->l2;
    d->flush_bytes = flush < want ? flush : want;
    cl_int e;
    d->copy_src = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, want, NULL, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateBuffer", e, "copy source (%.0f MiB)", want / MIB);
    d->copy_dst = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, want, NULL, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateBuffer", e, "copy destination (%.0f MiB)", want / MIB);
    const float zero = 0.0f;
    CL_CHECK(clEnqueueFillBuffer, (d->q, d->copy_src, &zero, sizeof zero, 0, want, 0, NULL, NULL), "filling the copy source");
    CL_CHECK(clEnqueueFillBuffer, (d->q, d->copy_dst, &zero, sizeof zero, 0, want, 0, NULL, NULL), "filling the copy destination");
    uint32_t reps = opt.reps < 10 ? opt.reps : opt.reps / 2 < 10 ? 10 : opt.reps / 2;
    double *us = calloc(reps, sizeof *us);
    if (!us)
        return fail("out of memory");
    int rc = 0;
    for (uint32_t i = 0; i < reps + 2 && !rc; i++) {
        cl_event ev;
        uint64_t ns = 0;
        if ((rc = enqueue_copy(d, want, &ev)))
            break;
        cl_int w = clWaitForEvents(1, &ev);
        if (w != CL_SUCCESS)
            rc = cl_fail("clWaitForEvents", w, "copy_f32 over %.0f MiB", want / MIB);
        else
            rc = event_ns(ev, "copy_f32", &ns);
        clReleaseEvent(ev);
        if (i >= 2)
            us[i - 2] = ns / 1e3;
    }
    if (!rc) {
        d->copy_us = median(us, reps);
        d->copy_gbs = d->copy_us > 0 ? 2.0 * (double)want / (d->copy_us * 1e3) : 0;
    }
    free(us);
    return rc;
}

/* ------------------------------------------------------------------ one geometry */

struct row {
    char geo[64];
    char shape[64]; /* "32x2 interleaved (gpu)" */
    uint32_t T;
    double kernel_us[ZMOE_K_COUNT]; /* median; < 0: the plan has no such launch */
    double layer_us;
    uint64_t weight_bytes;
    double gbs, ratio;
    double err; /* max |y - ref| / max |ref|; < 0 when not checked */
    bool ok;
    uint32_t H, I, E, K, S;
    enum zmoe_dtype wdt, adt;
};

struct layer {
    struct zmoe_config cfg;
    struct zmoe_plan plan;
    struct zmoe_buffer *storage;
    struct zmoe_runtime_buffers ids;
    struct zmoe_launch_plan lp;
    struct zmoe_launch_plan elp; /* --experts: the experts-only plan */
    cl_kernel kern[ZMOE_K_COUNT];
    cl_mem act[ZMOE_ACT_COUNT], weight[ZMOE_TENSOR_COUNT], io[ZMOE_IO_COUNT];
    cl_mem eio[ZMOE_IO_COUNT]; /* the experts-only call's: io with its own parameter block */
    uint64_t act_size[ZMOE_ACT_COUNT];
};

static void layer_release(struct layer *L)
{
    for (int i = 0; i < ZMOE_ACT_COUNT; i++)
        if (L->act[i])
            clReleaseMemObject(L->act[i]);
    for (int i = 0; i < ZMOE_TENSOR_COUNT; i++)
        if (L->weight[i])
            clReleaseMemObject(L->weight[i]);
    for (int i = 0; i < ZMOE_IO_COUNT; i++)
        if (L->io[i])
            clReleaseMemObject(L->io[i]);
    if (L->eio[ZMOE_IO_PARAMS])
        clReleaseMemObject(L->eio[ZMOE_IO_PARAMS]); /* the other eio entries are io's */
    free(L->storage);
    memset(L, 0, sizeof *L);
}

static int make_buffer(struct dev *d, uint64_t size, const char *what, cl_mem *out)
{
    if (size > d->max_alloc)
        return fail("buffer %s needs %.1f MiB; the device allocates at most %.1f MiB at once", what,
                    size / MIB, d->max_alloc / MIB);
    cl_int e;
    *out = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, size, NULL, &e);
    if (e != CL_SUCCESS)
        return cl_fail("clCreateBuffer", e, "buffer %s (%.1f MiB)", what, size / MIB);
    return 0;
}

/* Uploads one tensor in its kernel dtype, generated (zmoe_weights_synthetic) and converted
 * chunk by chunk: no full-layer f32 copy. */
static int upload_tensor(struct dev *d, struct layer *L, enum zmoe_tensor t, float *f32buf, void *stage,
                         uint64_t chunk)
{
    struct zmoe_qmatrix q;
    if (zmoe_quant_matrix(&L->cfg, t, &q)) {
        /* quantized: the device-layout bytes (weights/quant.h), generated chunk by chunk */
        const uint64_t cb = chunk * 4; /* stage holds chunk f32s */
        for (uint64_t done = 0; done < q.bytes;) {
            const uint64_t m = q.bytes - done < cb ? q.bytes - done : cb;
            zmoe_weights_synthetic_quant(&L->cfg, 0, t, done, (size_t)m, stage);
            CL_CHECK(clEnqueueWriteBuffer, (d->q, L->weight[t], CL_TRUE, done, m, stage, 0, NULL, NULL),
                     "uploading %s (%.1f MiB at offset %.1f MiB)", zmoe_tensor_name(t), m / MIB, done / MIB);
            done += m;
        }
        return 0;
    }
    const enum zmoe_dtype dt = zmoe_tensor_dtype(&L->cfg, t);
    const size_t es = zmoe_dtype_size(dt);
    const uint64_t n = zmoe_tensor_elements(&L->cfg, t);
    for (uint64_t done = 0; done < n;) {
        uint64_t m = n - done < chunk ? n - done : chunk;
        fill_parallel(&L->cfg, t, done, m, f32buf, stage, dt);
        CL_CHECK(clEnqueueWriteBuffer, (d->q, L->weight[t], CL_TRUE, done * es, m * es, stage, 0, NULL, NULL),
                 "uploading %s (%.1f MiB at offset %.1f MiB)", zmoe_tensor_name(t), m * es / MIB, done * es / MIB);
        done += m;
    }
    return 0;
}

static cl_mem resolve(struct layer *L, cl_mem *const io, const struct zmoe_launch_arg *a)
{
    switch (a->kind) {
    case ZMOE_ARG_ACT:
        return a->value < ZMOE_ACT_COUNT ? L->act[a->value] : NULL;
    case ZMOE_ARG_WEIGHT:
        /* an absent tensor: any valid buffer, the kernels never read it (runtime.h) */
        return a->value < ZMOE_TENSOR_COUNT ? (L->weight[a->value] ? L->weight[a->value] : L->act[ZMOE_ACT_GATE])
                                            : NULL;
    case ZMOE_ARG_IO:
        return a->value < ZMOE_IO_COUNT ? io[a->value] : NULL;
    default:
        return NULL;
    }
}

/* Short column name of a kernel from the plan's name: "expert_up_wbf16_af32" -> "expert_up". */
static void short_name(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    for (char *s = out; (s = strchr(s, '_'));) {
        if ((s[1] == 'w' || s[1] == 'a') && (!strncmp(s + 2, "f32", 3) || !strncmp(s + 2, "f16", 3) ||
                                             !strncmp(s + 2, "bf16", 4))) {
            *s = 0;
            break;
        }
        s++;
    }
}

/* One call as launch plan p says, its I/O names resolved in io. ns[i]: launch i's device
 * time (0 when its indirect group count was 0 and it was not launched). */
static int run_plan(struct dev *d, struct layer *L, const struct zmoe_launch_plan *p, cl_mem *const io,
                    uint64_t ns[ZMOE_LAUNCHES_MAX])
{
    cl_event ev[ZMOE_LAUNCHES_MAX] = {0};
    uint32_t groups[64];
    const uint64_t gsize = L->act_size[ZMOE_ACT_GROUPS] < sizeof groups ? L->act_size[ZMOE_ACT_GROUPS] : sizeof groups;
    bool dirty = true;
    int rc = 0;
    uint32_t i;
    for (i = 0; i < p->count && !rc; i++) {
        const struct zmoe_launch *l = &p->launch[i];
        const char *name = p->kernel[l->kernel].name;
        cl_kernel k = L->kern[l->kernel];
        bool writes_groups = false;
        for (uint32_t j = 0; j < l->nargs && !rc; j++) {
            const struct zmoe_launch_arg *a = &l->arg[j];
            cl_int e;
            if (a->kind == ZMOE_ARG_U32) {
                e = clSetKernelArg(k, j, sizeof a->value, &a->value);
            } else {
                cl_mem m = resolve(L, io, a);
                if (!m) {
                    rc = fail("launch %u (%s): argument %u names buffer kind %u value %u, which this "
                              "program does not have", i, name, j, a->kind, a->value);
                    break;
                }
                writes_groups |= a->kind == ZMOE_ARG_ACT && a->value == ZMOE_ACT_GROUPS;
                e = clSetKernelArg(k, j, sizeof m, &m);
            }
            if (e != CL_SUCCESS)
                rc = cl_fail("clSetKernelArg", e, "argument %u of kernel '%s' (launch %u)", j, name, i);
        }
        if (rc)
            break;
        size_t g[3];
        if (l->indirect < 0) {
            for (int c = 0; c < 3; c++)
                g[c] = l->groups[c];
        } else {
            /* no indirect dispatch in OpenCL: read the counts the device wrote */
            if ((uint64_t)(l->indirect + 1) * 12 > gsize) {
                rc = fail("launch %u (%s): indirect group count %d lies outside act.groups (%llu bytes)", i,
                          name, l->indirect, (unsigned long long)gsize);
                break;
            }
            if (dirty) {
                cl_int e = clEnqueueReadBuffer(d->q, L->act[ZMOE_ACT_GROUPS], CL_TRUE, 0, gsize, groups, 0, NULL, NULL);
                if (e != CL_SUCCESS) {
                    rc = cl_fail("clEnqueueReadBuffer", e, "reading act.groups back before launch %u (%s)", i, name);
                    break;
                }
                dirty = false;
            }
            for (int c = 0; c < 3; c++)
                g[c] = groups[3 * l->indirect + c];
        }
        if (!g[0] || !g[1] || !g[2]) {
            ns[i] = 0;
            continue; /* nothing to do (OpenCL refuses an empty range) */
        }
        if (g[0] > (1u << 24) || g[1] > (1u << 24) || g[2] > (1u << 16)) {
            rc = fail("launch %u (%s): implausible group count %zu x %zu x %zu%s", i, name, g[0], g[1], g[2],
                      l->indirect >= 0 ? " read from act.groups" : "");
            break;
        }
        size_t local[3] = {p->kernel[l->kernel].local[0], p->kernel[l->kernel].local[1], 1};
        size_t global[3] = {g[0] * local[0], g[1] * local[1], g[2]};
        cl_int e = clEnqueueNDRangeKernel(d->q, k, 3, NULL, global, local, 0, NULL, &ev[i]);
        if (e != CL_SUCCESS) {
            rc = cl_fail("clEnqueueNDRangeKernel", e, "kernel '%s' (launch %u), global %zu x %zu x %zu, local %zu x %zu",
                         name, i, global[0], global[1], global[2], local[0], local[1]);
            break;
        }
        if (writes_groups)
            dirty = true;
    }
    cl_int e = clFinish(d->q);
    if (!rc && e != CL_SUCCESS)
        rc = cl_fail("clFinish", e, "waiting for the layer's launches");
    for (uint32_t j = 0; j < p->count; j++) {
        if (!ev[j])
            continue;
        if (!rc)
            rc = event_ns(ev[j], p->kernel[p->launch[j].kernel].name, &ns[j]);
        clReleaseEvent(ev[j]);
    }
    return rc;
}

/* The launch plans for --shape entry si (the layer call's; with --experts also the
 * experts-only call's) and their kernels (work-group limits checked). */
static int prepare_shape(struct dev *d, struct layer *L, const struct geo *G, uint32_t si)
{
    int rc = 0;
    set_shape(d, si);
    zmoe_runtime_launch_plan(&L->cfg, &d->shape, &L->lp);
    zmoe_runtime_launch_plan_experts(&L->cfg, &d->shape, &L->elp);
    memset(L->kern, 0, sizeof L->kern);
    /* kernels the plans name, and a check of their work-group limit */
    for (int pi = 0; pi < (opt.experts ? 2 : 1) && !rc; pi++) {
        const struct zmoe_launch_plan *p = pi ? &L->elp : &L->lp;
        for (uint32_t i = 0; i < p->count && !rc; i++) {
            uint32_t k = p->launch[i].kernel;
            if (k >= ZMOE_K_COUNT) {
                rc = fail("%s: launch %u names kernel id %u", G->name, i, k);
                break;
            }
            if (L->kern[k])
                continue;
            if ((rc = get_kernel(d, p->kernel[k].name, &L->kern[k])))
                break;
            size_t wg = 0;
            cl_int e = clGetKernelWorkGroupInfo(L->kern[k], d->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
            if (e != CL_SUCCESS)
                rc = cl_fail("clGetKernelWorkGroupInfo", e, "CL_KERNEL_WORK_GROUP_SIZE of '%s'", p->kernel[k].name);
            else if ((size_t)p->kernel[k].local[0] * p->kernel[k].local[1] > wg)
                rc = fail("%s: kernel '%s' takes at most %zu work-items per group on this device; the plan asks %u x %u",
                          G->name, p->kernel[k].name, wg, p->kernel[k].local[0], p->kernel[k].local[1]);
        }
    }
    return rc;
}

/* T into the parameter block and the tokens buffer. */
static int set_tokens(struct dev *d, struct layer *L, uint32_t T)
{
    struct zmoe_params prm;
    zmoe_runtime_params(&L->cfg, &prm);
    prm.tokens = T;
    CL_CHECK(clEnqueueWriteBuffer, (d->q, L->io[ZMOE_IO_PARAMS], CL_TRUE, 0, sizeof prm, &prm, 0, NULL, NULL),
             "writing the parameter block");
    if (L->eio[ZMOE_IO_PARAMS]) {
        /* the experts-only call runs the routed experts alone (runtime.c: no shared expert) */
        prm.flags &= ~(ZMOE_PF_SHARED | ZMOE_PF_SHARED_GATE);
        CL_CHECK(clEnqueueWriteBuffer, (d->q, L->eio[ZMOE_IO_PARAMS], CL_TRUE, 0, sizeof prm, &prm, 0, NULL, NULL),
                 "writing the experts-only parameter block");
    }
    CL_CHECK(clEnqueueWriteBuffer, (d->q, L->io[ZMOE_IO_TOKENS], CL_TRUE, 0, 4, &T, 0, NULL, NULL), "writing tokens");
    return 0;
}

static void to_f32(float *dst, const void *src, enum zmoe_dtype dt, size_t n)
{
    zmoe_dtype_convert(dst, ZMOE_DTYPE_F32, src, dt, n);
}

static struct timespec start_time;
static double elapsed_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - start_time.tv_sec) + (t.tv_nsec - start_time.tv_nsec) * 1e-9;
}

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int bench_geometry(struct dev *d, const struct geo *G, struct row *rows, uint32_t *nrows, uint32_t *nfail)
{
    struct layer L;
    memset(&L, 0, sizeof L);
    struct zmoe_error err = {{0}};
    L.cfg = G->cfg;
    uint32_t tmax = 0;
    for (uint32_t i = 0; i < opt.ntokens; i++)
        if (opt.tokens[i] > tmax)
            tmax = opt.tokens[i];
    L.cfg.model.layers = 1;
    L.cfg.runtime.ring_depth = 1;
    if (L.cfg.runtime.max_tokens < tmax)
        L.cfg.runtime.max_tokens = tmax;
    const struct zmoe_config *c = &L.cfg;
    const uint32_t H = c->model.hidden, K = c->model.top_k, E = c->model.experts;
    const uint32_t S = c->model.shared_experts * c->model.shared_intermediate;

    uint32_t nb = zmoe_runtime_max_buffers(c);
    L.storage = nb ? calloc(nb, sizeof *L.storage) : NULL;
    if (!L.storage)
        return fail("%s: no buffers for this config", G->name);
    zmoe_plan_init(&L.plan, L.storage, nb);
    if (zmoe_runtime_plan(c, &L.plan, &L.ids, &err) != ZMOE_OK) {
        int rc = fail("%s: zmoe_runtime_plan: %s", G->name, err.msg);
        layer_release(&L);
        return rc;
    }
    int rc = 0;
    say("\n%s (%s, at %.0f s): H=%u I=%u E=%u K=%u%s%s, weights %s, activations %s, max_tokens %u, one layer "
        "%.1f MiB\n",
        G->name, G->source, elapsed_s(), H, c->model.intermediate, E, K, S ? ", shared " : "", S ? "yes" : "",
        zmoe_dtype_name(c->dtype.weights), zmoe_dtype_name(c->dtype.activations), c->runtime.max_tokens,
        layer_weight_bytes(c) / MIB);

    /* Does it fit? A layer too large for this device is skipped (return 1), not an error:
     * every buffer within the largest allocation, all of them (and the copy buffers)
     * within 90% of the device memory. */
    {
        uint64_t total = 2 * d->copy_bytes, largest = 0;
        const char *big = "";
        for (uint32_t i = 0; i < L.plan.count; i++) {
            const struct zmoe_buffer *b = &L.plan.buffers[i];
            if (b->memory != ZMOE_MEMORY_DEVICE)
                continue;
            total += b->size;
            if (b->size > largest) {
                largest = b->size;
                big = b->name;
            }
        }
        if (largest > d->max_alloc || total > d->global_mem / 10 * 9) {
            say("  skipped: needs %.2f GiB of device memory (%s: %.2f GiB in one buffer); the device has %.2f GiB, "
                "%.2f GiB at most in one buffer\n",
                total / (MIB * 1024), big, largest / (MIB * 1024), d->global_mem / (MIB * 1024),
                d->max_alloc / (MIB * 1024));
            layer_release(&L);
            return 1;
        }
    }
    /* buffers: one cl_mem per planned buffer (sizes from the plan) */
    for (int a = 0; a < ZMOE_ACT_COUNT && !rc; a++) {
        L.act_size[a] = L.plan.buffers[L.ids.act[a]].size;
        rc = make_buffer(d, L.act_size[a], zmoe_act_name((enum zmoe_act)a), &L.act[a]);
    }
    if (!rc) { /* the fused routing's counters start at zero, as the runtime's commit leaves them */
        const cl_uint zero = 0;
        cl_int e = clEnqueueFillBuffer(d->q, L.act[ZMOE_ACT_ROUTE_COUNTS], &zero, sizeof zero, 0,
                                       L.act_size[ZMOE_ACT_ROUTE_COUNTS], 0, NULL, NULL);
        if (e != CL_SUCCESS)
            rc = cl_fail("clEnqueueFillBuffer", e, "zeroing act.route_counts");
    }
    for (int t = 0; t < ZMOE_TENSOR_COUNT && !rc; t++) {
        uint32_t b = zmoe_runtime_weight_buffer(&L.ids, 0, (enum zmoe_tensor)t);
        if (b != ZMOE_NO_BUFFER)
            rc = make_buffer(d, L.plan.buffers[b].size, L.plan.buffers[b].name, &L.weight[t]);
    }
    const uint64_t x_bytes = L.plan.buffers[zmoe_runtime_slot_buffer(&L.ids, 0, ZMOE_SLOT_X_DEVICE)].size;
    const uint64_t y_bytes = L.plan.buffers[zmoe_runtime_slot_buffer(&L.ids, 0, ZMOE_SLOT_Y_DEVICE)].size;
    const uint64_t p_bytes = L.plan.buffers[zmoe_runtime_slot_buffer(&L.ids, 0, ZMOE_SLOT_PARAMS)].size;
    if (!rc)
        rc = make_buffer(d, x_bytes, "x", &L.io[ZMOE_IO_X]);
    if (!rc)
        rc = make_buffer(d, y_bytes, "y", &L.io[ZMOE_IO_Y]);
    if (!rc)
        rc = make_buffer(d, 4, "tokens", &L.io[ZMOE_IO_TOKENS]);
    if (!rc)
        rc = make_buffer(d, p_bytes < sizeof(struct zmoe_params) ? sizeof(struct zmoe_params) : p_bytes, "params",
                         &L.io[ZMOE_IO_PARAMS]);
    if (!rc && opt.experts) {
        /* the caller's routing arrays and bad-id words, and the experts-only parameter block */
        const size_t tk = (size_t)c->runtime.max_tokens * K * 4;
        rc = make_buffer(d, tk, "topk_ids", &L.io[ZMOE_IO_TOPK_IDS]);
        if (!rc)
            rc = make_buffer(d, tk, "topk_w", &L.io[ZMOE_IO_TOPK_W]);
        if (!rc)
            rc = make_buffer(d, ZMOE_ROUTING_STATUS_WORDS * 4, "routing status", &L.io[ZMOE_IO_ROUTING_STATUS]);
        const uint32_t zero[ZMOE_ROUTING_STATUS_WORDS] = {0};
        if (!rc)
            CL_TRY(clEnqueueWriteBuffer, (d->q, L.io[ZMOE_IO_ROUTING_STATUS], CL_TRUE, 0, sizeof zero, zero, 0, NULL,
                                          NULL), "clearing the routing status");
        memcpy(L.eio, L.io, sizeof L.eio);
        L.eio[ZMOE_IO_PARAMS] = NULL;
        if (!rc)
            rc = make_buffer(d, sizeof(struct zmoe_params), "experts params", &L.eio[ZMOE_IO_PARAMS]);
    }

    /* weights: generated and converted chunk by chunk */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const uint64_t chunk = 16u << 20; /* elements */
    float *f32buf = rc ? NULL : malloc(chunk * 4);
    void *stage = rc ? NULL : malloc(chunk * 4);
    if (!rc && (!f32buf || !stage))
        rc = fail("out of memory for the upload staging");
    for (int t = 0; t < ZMOE_TENSOR_COUNT && !rc; t++)
        if (L.weight[t])
            rc = upload_tensor(d, &L, (enum zmoe_tensor)t, f32buf, stage, chunk);
    free(f32buf);
    free(stage);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!rc)
        say("  weights: synthetic (seed %llu), generated and uploaded in %.1f s\n", (unsigned long long)c->weights.seed,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);

    /* x: one seeded [tmax][H] in the activation dtype; T tokens use its first T rows, so
     * one reference over tmax rows serves every T (tokens are independent) */
    const enum zmoe_dtype adt = c->dtype.activations;
    const size_t asz = zmoe_dtype_size(adt);
    float *x32 = NULL, *yref = NULL, *y32 = NULL;
    uint32_t *ids_ref = NULL, *ids_dev = NULL;
    void *xa = NULL, *ya = NULL;
    if (!rc) {
        x32 = malloc((size_t)tmax * H * 4);
        y32 = malloc((size_t)tmax * H * 4);
        yref = malloc((size_t)tmax * H * 4);
        ids_ref = malloc((size_t)tmax * K * 4);
        ids_dev = malloc((size_t)tmax * K * 4 + 4);
        xa = malloc((size_t)tmax * H * asz);
        ya = malloc((size_t)tmax * H * asz);
        if (!x32 || !y32 || !yref || !ids_ref || !ids_dev || !xa || !ya)
            rc = fail("out of memory for x and y");
    }
    if (!rc) {
        rng_state = 0x5eed0000ull ^ H;
        for (size_t i = 0; i < (size_t)tmax * H; i++)
            x32[i] = (float)((double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0);
        zmoe_dtype_convert(xa, adt, x32, ZMOE_DTYPE_F32, (size_t)tmax * H);
        to_f32(x32, xa, adt, (size_t)tmax * H); /* what the device sees */
        CL_TRY(clEnqueueWriteBuffer, (d->q, L.io[ZMOE_IO_X], CL_TRUE, 0, (size_t)tmax * H * asz, xa, 0, NULL, NULL),
               "writing x");
    }
    /* the reference over tmax tokens, on f32 copies of the weights the device's routing
     * at tmax reads (ref_weights) */
    if (!rc && opt.check) {
        uint64_t ns[ZMOE_LAUNCHES_MAX];
        unsigned char used[ZMOE_KERNEL_EMAX] = {0};
        if (!(rc = prepare_shape(d, &L, G, 0)) && !(rc = set_tokens(d, &L, tmax)) &&
            !(rc = run_plan(d, &L, &L.lp, L.io, ns))) {
            cl_int e = clEnqueueReadBuffer(d->q, L.act[ZMOE_ACT_TOPK_IDS], CL_TRUE, 0, (size_t)tmax * K * 4, ids_dev,
                                           0, NULL, NULL);
            if (e != CL_SUCCESS)
                rc = cl_fail("clEnqueueReadBuffer", e, "reading act.topk_ids");
        }
        for (uint32_t i = 0; !rc && i < tmax * K; i++)
            if (ids_dev[i] < E && ids_dev[i] < ZMOE_KERNEL_EMAX)
                used[ids_dev[i]] = 1;
        struct ref_copy rw;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!rc && !(rc = ref_weights(c, used, &rw))) {
            ref_parallel(c, &rw.w, x32, tmax, yref, ids_ref);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            say("  reference: %u tokens in %.1f s (f32 copies of %.1f MiB of weights)\n", tmax,
                (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, rw.filled * 4 / MIB);
            ref_release(&rw);
        }
    }

    const bool wlow = c->dtype.weights != ZMOE_DTYPE_F32 || adt != ZMOE_DTYPE_F32;
    const double tol = wlow ? 2e-2 : 1e-4;
    double *samples[ZMOE_K_COUNT + 1] = {0};
    for (int k = 0; k <= ZMOE_K_COUNT && !rc; k++)
        if (!(samples[k] = calloc(opt.reps, sizeof(double))))
            rc = fail("out of memory");
    for (uint32_t si = 0; si < opt.nshapes && !rc; si++) {
        if ((rc = prepare_shape(d, &L, G, si)))
            break;
        if (opt.nshapes > 1)
            say("  shape %ux%u %s (%s)\n", d->shape.lanes, d->shape.nout,
                d->shape.lane_spans ? "contiguous" : "interleaved", d->shape_name);
        for (uint32_t ti = 0; ti < opt.ntokens && !rc; ti++) {
            const uint32_t T = opt.tokens[ti];
            if ((rc = set_tokens(d, &L, T)))
                break;
            uint64_t ns[ZMOE_LAUNCHES_MAX];
            /* warm-up (first launches compile on some drivers), then the checked run */
            for (int w = 0; w < 2 && !rc; w++)
                rc = run_plan(d, &L, &L.lp, L.io, ns);
            /* --experts: the caller's routing is the one this layer call just computed;
             * the experts-only call then runs (warm-up and checked run) and is timed */
            const struct zmoe_launch_plan *tp = opt.experts ? &L.elp : &L.lp;
            cl_mem *const tio = opt.experts ? L.eio : L.io;
            if (opt.experts) {
                CL_TRY(clEnqueueCopyBuffer, (d->q, L.act[ZMOE_ACT_TOPK_IDS], L.io[ZMOE_IO_TOPK_IDS], 0, 0,
                                             (size_t)T * K * 4, 0, NULL, NULL), "copying the routing ids");
                CL_TRY(clEnqueueCopyBuffer, (d->q, L.act[ZMOE_ACT_TOPK_W], L.io[ZMOE_IO_TOPK_W], 0, 0,
                                             (size_t)T * K * 4, 0, NULL, NULL), "copying the routing weights");
                for (int w = 0; w < 2 && !rc; w++)
                    rc = run_plan(d, &L, tp, tio, ns);
            }
            if (rc)
                break;
            struct row *r = &rows[*nrows]; /* counted once complete */
            memset(r, 0, sizeof *r);
            memcpy(r->geo, G->name, sizeof r->geo);
            if (opt.nshapes > 1) /* one row per geometry, T and shape: say which */
                snprintf(r->geo + strlen(r->geo), sizeof r->geo - strlen(r->geo), "/%s", d->shape_name);
            if (opt.experts)
                snprintf(r->geo + strlen(r->geo), sizeof r->geo - strlen(r->geo), "/experts");
            /* the GEMV shape, and the expert kernels' where launch.c gives them their own */
            const uint32_t *lu = L.lp.kernel[ZMOE_K_UP].local, *ld = L.lp.kernel[ZMOE_K_DOWN].local;
            char up[16] = "", down[16] = "";
            if (lu[0] != d->shape.lanes)
                snprintf(up, sizeof up, " up %ux%u", lu[0], lu[1]);
            if (ld[0] != d->shape.lanes)
                snprintf(down, sizeof down, " down %ux%u", ld[0], ld[1]);
            snprintf(r->shape, sizeof r->shape, "%ux%u%s%s %s", d->shape.lanes, d->shape.nout, up, down,
                     d->shape.lane_spans ? "contiguous" : "interleaved");
            r->T = T;
            r->H = H, r->I = c->model.intermediate, r->E = E, r->K = K, r->S = S;
            r->wdt = c->dtype.weights, r->adt = adt;
            r->err = -1;
            r->ok = true;
            CL_TRY(clEnqueueReadBuffer, (d->q, L.act[ZMOE_ACT_TOPK_IDS], CL_TRUE, 0, (size_t)T * K * 4, ids_dev, 0, NULL, NULL),
                     "reading act.topk_ids");
            CL_TRY(clEnqueueReadBuffer, (d->q, L.io[ZMOE_IO_Y], CL_TRUE, 0, (size_t)T * H * asz, ya, 0, NULL, NULL), "reading y");
            if (rc)
                break;
            /* the bytes the step must read: router (+ shared gate), each distinct routed
             * expert's W13 and W2 (+ biases), the shared expert; the experts-only call
             * reads the routed experts alone */
            uint64_t wb = opt.experts ? 0
                          : zmoe_tensor_bytes(c, ZMOE_TENSOR_ROUTER_W) + zmoe_tensor_bytes(c, ZMOE_TENSOR_ROUTER_B) +
                                zmoe_tensor_bytes(c, ZMOE_TENSOR_SCORE_BIAS) +
                                zmoe_tensor_bytes(c, ZMOE_TENSOR_SHARED_GATE) +
                                zmoe_tensor_bytes(c, ZMOE_TENSOR_SHARED_W13) + zmoe_tensor_bytes(c, ZMOE_TENSOR_SHARED_W2);
            const uint64_t per_expert = (zmoe_tensor_bytes(c, ZMOE_TENSOR_W13) + zmoe_tensor_bytes(c, ZMOE_TENSOR_W2) +
                                         zmoe_tensor_bytes(c, ZMOE_TENSOR_B13) + zmoe_tensor_bytes(c, ZMOE_TENSOR_B2)) /
                                        E;
            unsigned char seen[ZMOE_KERNEL_EMAX] = {0};
            uint32_t distinct = 0;
            bool ids_ok = true;
            for (uint32_t i = 0; i < T * K; i++) {
                if (ids_dev[i] >= E || ids_dev[i] >= ZMOE_KERNEL_EMAX) {
                    ids_ok = false;
                    continue;
                }
                distinct += !seen[ids_dev[i]];
                seen[ids_dev[i]] = 1;
            }
            wb += distinct * per_expert;
            r->weight_bytes = wb;
            if (!ids_ok) {
                r->ok = false;
                fprintf(stderr, "zmoe-gpubench: %s T=%u: act.topk_ids holds an expert id >= %u\n", G->name, T, E);
            }
            uint32_t ids_same = 0;
            /* the reference is the whole layer: it checks the experts-only call only where
             * the layer has no shared expert (the call leaves it to the engine) */
            const bool checked = opt.check && !(opt.experts && S);
            if (checked) {
                to_f32(y32, ya, adt, (size_t)T * H);
                double maxd = 0, maxr = 0;
                bool finite = true;
                for (size_t i = 0; i < (size_t)T * H; i++) {
                    double dd = fabs((double)y32[i] - yref[i]);
                    if (!isfinite(y32[i]))
                        finite = false;
                    if (dd > maxd)
                        maxd = dd;
                    if (fabs(yref[i]) > maxr)
                        maxr = fabs(yref[i]);
                }
                r->err = maxr > 0 ? maxd / maxr : maxd;
                if (!finite || !(r->err <= tol))
                    r->ok = false;
                for (uint32_t i = 0; i < T * K; i++)
                    ids_same += ids_dev[i] == ids_ref[i];
            }

            /* timed runs: L2 flush (copy_f32), then the layer; per-launch device times */
            uint32_t have[ZMOE_K_COUNT] = {0};
            for (uint32_t i = 0; i < tp->count; i++)
                have[tp->launch[i].kernel] = 1;
            for (uint32_t rep = 0; rep < opt.reps && !rc; rep++) {
                if ((rc = enqueue_copy(d, d->flush_bytes, NULL)))
                    break;
                if ((rc = run_plan(d, &L, tp, tio, ns)))
                    break;
                double sum = 0, per[ZMOE_K_COUNT] = {0};
                for (uint32_t i = 0; i < tp->count; i++) {
                    per[tp->launch[i].kernel] += ns[i] / 1e3;
                    sum += ns[i] / 1e3;
                }
                for (int k = 0; k < ZMOE_K_COUNT; k++)
                    samples[k][rep] = per[k];
                samples[ZMOE_K_COUNT][rep] = sum;
            }
            if (rc)
                break;
            for (int k = 0; k < ZMOE_K_COUNT; k++)
                r->kernel_us[k] = have[k] ? median(samples[k], opt.reps) : -1;
            r->layer_us = median(samples[ZMOE_K_COUNT], opt.reps);
            r->gbs = r->layer_us > 0 ? (double)wb / (r->layer_us * 1e3) : 0;
            r->ratio = d->copy_gbs > 0 ? r->gbs / d->copy_gbs : 0;
            if (!r->ok)
                (*nfail)++;
            (*nrows)++;

            char line[1024];
            size_t n = (size_t)snprintf(line, sizeof line, "  T=%-2u", T);
            for (int k = 0; k < ZMOE_K_COUNT; k++)
                if (r->kernel_us[k] >= 0) {
                    char sn[48];
                    short_name(tp->kernel[k].name, sn, sizeof sn);
                    n += (size_t)snprintf(line + n, sizeof line - n, "  %s %.1f", sn, r->kernel_us[k]);
                }
            n += (size_t)snprintf(line + n, sizeof line - n,
                                  "  | layer %.1f us  weights %.2f MB (%u experts)  %.1f GB/s  ratio %.3f", r->layer_us,
                                  wb / 1e6, distinct, r->gbs, r->ratio);
            if (checked)
                snprintf(line + n, sizeof line - n, "  check %s (%.2e, tol %.0e; top-k ids %u/%u as the reference)",
                         r->ok ? "ok" : "FAIL", r->err, tol, ids_same, T * K);
            else
                snprintf(line + n, sizeof line - n, "  check skipped%s%s",
                         opt.check ? " (a shared expert: the reference is the whole layer)" : "",
                         r->ok ? "" : " (bad top-k ids: FAIL)");
            say("%s\n", line);
            if (opt.tap)
                printf("%s %u - %s T=%u shape %s: y %s (%.2e, tol %.0e)\n", r->ok ? "ok" : "not ok", *nrows, G->name,
                       T, r->shape,
                       checked ? "against the reference" : "not checked", r->err, tol);
        }
    } /* shapes */
    for (int k = 0; k <= ZMOE_K_COUNT; k++)
        free(samples[k]);
    free(x32);
    free(y32);
    free(yref);
    free(ids_ref);
    free(ids_dev);
    free(xa);
    free(ya);
    layer_release(&L);
    return rc;
}

/* ------------------------------------------------------------------ reports */

static int write_tsv(const struct row *rows, uint32_t n)
{
    FILE *f = fopen(opt.tsv, "w");
    if (!f)
        return fail("cannot write %s: %s", opt.tsv, strerror(errno));
    fprintf(f, "geometry\tT\tlayer_us\tweight_bytes\tratio\n");
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%s\t%u\t%.2f\t%llu\t%.4f\n", rows[i].geo, rows[i].T, rows[i].layer_us,
                (unsigned long long)rows[i].weight_bytes, rows[i].ratio);
    if (fclose(f))
        return fail("writing %s failed", opt.tsv);
    return 0;
}

static int write_md(const struct dev *d, const struct row *rows, uint32_t n, const char kname[ZMOE_K_COUNT][48])
{
    FILE *f = fopen(opt.md, "w");
    if (!f)
        return fail("cannot write %s: %s", opt.md, strerror(errno));
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    bool any[ZMOE_K_COUNT] = {0};
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < ZMOE_K_COUNT; k++)
            any[k] |= rows[i].kernel_us[k] >= 0;
    fprintf(f, "# zmoe GPU benchmark: one MoE layer call from `kernels/moe.cl` source\n\n");
    fprintf(f, "- device: **%s** (%s), driver %s, %s; platform %s\n", d->name, d->vendor, d->driver, d->version,
            d->platform_name);
    fprintf(f, "- launch plan: `zmoe_runtime_launch_plan()` with the device shape (GEMV lanes x rows, split) of "
               "column *shape*, from %s; *up* / *down*: expert_up's / expert_down's own lanes x rows where the "
               "plan gives them one (quantized experts; float expert_down on short rows)\n", d->shape_why);
    fprintf(f, "- copy kernel (`copy_f32`, %.0f MiB -> %.0f MiB): **%.1f GB/s** (bytes read + written, median)\n",
            d->copy_bytes / MIB, d->copy_bytes / MIB, d->copy_gbs);
    fprintf(f, "- date: %s; %u timed runs per row (median), L2 flushed before each (copy_f32 over %.0f MiB)\n", date,
            opt.reps, d->flush_bytes / MIB);
    fprintf(f, "- layer µs = **sum of the kernels' OpenCL profiling durations**: OpenCL has no indirect dispatch, "
               "so the group counts align writes are read back to the host and the expert launches enqueued with "
               "them; the host round trip is not counted\n");
    fprintf(f, "- weight MB = bytes the step must read: router (+ shared gate), each distinct routed expert's W13 and "
               "W2 (+ biases), the shared expert; GB/s = weight bytes / layer time; ratio = GB/s / copy GB/s\n");
    if (opt.experts)
        fprintf(f, "- **`--experts`: rows `NAME/experts` time the experts-only call** "
                   "(`zmoe_runtime_launch_plan_experts()`: align_routed, expert_up, expert_down (+ combine unless fused); what "
                   "`zmoe_record_experts` / `zmoe.fused_experts` run for an engine that routes itself) on the "
                   "routing the layer call computed; no router, no shared expert: weight MB = the routed experts' "
                   "bytes; y checked against the reference only where the layer has no shared expert (–)\n");
    fprintf(f, "- check: max |y - ref| / max |ref| against the plain-C reference (tolerance 2e-2 with f16/bf16, "
               "1e-4 all f32)\n\n");
    fprintf(f, "| geometry | H | I | E | K | shared | w/a | shape | T |");
    for (int k = 0; k < ZMOE_K_COUNT; k++)
        if (any[k])
            fprintf(f, " %s µs |", kname[k]);
    fprintf(f, " layer µs | weight MB | GB/s | ratio | check |\n|---|---:|---:|---:|---:|---:|---|---|---:|");
    for (int k = 0; k < ZMOE_K_COUNT; k++)
        if (any[k])
            fprintf(f, "---:|");
    fprintf(f, "---:|---:|---:|---:|---|\n");
    for (uint32_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        fprintf(f, "| %s | %u | %u | %u | %u | %u | %s/%s | %s | %u |", r->geo, r->H, r->I, r->E, r->K, r->S,
                zmoe_dtype_name(r->wdt), zmoe_dtype_name(r->adt), r->shape, r->T);
        for (int k = 0; k < ZMOE_K_COUNT; k++)
            if (any[k]) {
                if (r->kernel_us[k] >= 0)
                    fprintf(f, " %.1f |", r->kernel_us[k]);
                else
                    fprintf(f, " – |");
            }
        fprintf(f, " %.1f | %.2f | %.1f | %.3f | ", r->layer_us, r->weight_bytes / 1e6, r->gbs, r->ratio);
        if (r->err >= 0)
            fprintf(f, "%s (%.1e) |\n", r->ok ? "ok" : "**FAIL**", r->err);
        else
            fprintf(f, "%s |\n", r->ok ? "–" : "**FAIL** (top-k ids)");
    }
    if (fclose(f))
        return fail("writing %s failed", opt.md);
    return 0;
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &start_time);
    int rc = parse_options(argc, argv);
    if (rc)
        return rc;
    static struct geo geos[GEOS_MAX];
    uint32_t ngeo = 0;
    if (collect_geometries(geos, &ngeo)) {
        if (opt.tap)
            printf("1..1\n");
        return 2;
    }
    if (opt.list) {
        for (uint32_t i = 0; i < ngeo; i++) {
            const struct zmoe_config *c = &geos[i].cfg;
            printf("%-24s H=%-5u I=%-5u E=%-3u K=%u S=%-5u %s/%s  %8.1f MiB  %s\n", geos[i].name, c->model.hidden,
                   c->model.intermediate, c->model.experts, c->model.top_k,
                   c->model.shared_experts * c->model.shared_intermediate, zmoe_dtype_name(c->dtype.weights),
                   zmoe_dtype_name(c->dtype.activations), layer_weight_bytes(c) / MIB, geos[i].source);
        }
        return 0;
    }
    struct dev d;
    memset(&d, 0, sizeof d);
    if (pick_device(&d) || build_program(&d)) {
        if (opt.tap)
            printf("1..1\n");
        return 1;
    }
    say("device: %s (%s), driver %s, %s; platform %s; %.1f GiB, largest buffer %.1f GiB, cache %.0f KiB\n",
        d.name, d.vendor, d.driver, d.version, d.platform_name, d.global_mem / (MIB * 1024),
        d.max_alloc / (MIB * 1024), d.l2 / 1024.0);
    for (uint32_t i = 0; i < opt.nshapes; i++) {
        set_shape(&d, i);
        say("launch plan shape: %u lanes x %u rows, %s split, align %u work-items (%s, from %s)\n", d.shape.lanes,
            d.shape.nout, d.shape.lane_spans ? "contiguous" : "interleaved", d.shape.align_wg, d.shape_name,
            d.shape_why);
    }
    if (measure_copy(&d)) {
        if (opt.tap)
            printf("1..1\n");
        return 1;
    }
    say("copy_f32: %.0f MiB -> %.0f MiB in %.1f us: %.1f GB/s (read + written, median); L2 flush before each "
        "layer run: copy_f32 over %.0f MiB\n",
        d.copy_bytes / MIB, d.copy_bytes / MIB, d.copy_us, d.copy_gbs, d.flush_bytes / MIB);
    say("layer us = SUM of the kernels' OpenCL profiling durations (CL_PROFILING_COMMAND_START..END), median of %u "
        "runs: OpenCL has no indirect dispatch, so act.groups is read back after align and the expert launches are "
        "enqueued with those counts (that host round trip is not in the figure)\n",
        opt.reps);

    struct row *rows = calloc((size_t)ngeo * opt.ntokens * opt.nshapes, sizeof *rows);
    if (!rows)
        return fail("out of memory"), 1;
    uint32_t nrows = 0, nfail = 0, nerr = 0, nskip = 0;
    char kname[ZMOE_K_COUNT][48] = {{0}};
    for (uint32_t g = 0; g < ngeo; g++) {
        for (uint32_t i = 0; i < opt.nshapes; i++) {
            struct zmoe_launch_plan lp;
            set_shape(&d, i);
            zmoe_runtime_launch_plan(&geos[g].cfg, &d.shape, &lp);
            for (int k = 0; k < ZMOE_K_COUNT; k++)
                if (!kname[k][0] && lp.kernel[k].name[0])
                    short_name(lp.kernel[k].name, kname[k], sizeof kname[k]);
        }
        /* an error ends this geometry, not the run (a later one may fit where this did
         * not); the reports are rewritten after each, so a run cut short keeps its rows */
        int g_rc = bench_geometry(&d, &geos[g], rows, &nrows, &nfail);
        if (g_rc < 0) {
            nerr++;
            say("  %s: ended by the error above\n", geos[g].name);
        } else if (g_rc > 0) {
            nskip++;
        }
        if (opt.tsv && write_tsv(rows, nrows))
            nerr++;
        if (opt.md && write_md(&d, rows, nrows, kname))
            nerr++;
    }
    say("\n%u rows, %u FAIL, %u geometries ended by an error, %u skipped (too large for the device)%s; %.0f s\n",
        nrows, nfail, nerr, nskip, opt.check ? "" : "; y not checked (--no-check)", elapsed_s());
    if (opt.tap)
        printf("1..%u\n", nrows + nerr);
    rc = nerr ? 1 : 0;
    free(rows);
    for (uint32_t i = 0; i < d.nkern; i++)
        clReleaseKernel(d.kern[i].k);
    if (d.copy)
        clReleaseKernel(d.copy);
    if (d.copy_src)
        clReleaseMemObject(d.copy_src);
    if (d.copy_dst)
        clReleaseMemObject(d.copy_dst);
    if (d.prog)
        clReleaseProgram(d.prog);
    if (d.q)
        clReleaseCommandQueue(d.q);
    if (d.ctx)
        clReleaseContext(d.ctx);
    return rc ? 1 : nfail ? 1 : 0;
}
