/* zmoe plan: the arena map of a config, its budget verdict, and what a decode step
 * must move through memory at least, turned into a lower bound of the step time on
 * named Intel GPUs. Pure: plans without a device and allocates no arena, so it works
 * for full-size models that fit no machine at hand. */
#include "cli/cli.h"
#include "config/config.h"
#include "runtime/runtime.h"
#include "weights/quant.h"
#include "zmoe_parallel.h"

#include <stdlib.h>
#include <string.h>

static const char plan_usage[] =
    "usage: zmoe plan CONFIG [--json] [--devices N]\n"
    "       zmoe plan --model MODEL_DIR [OVERRIDES.conf] [--json] [--devices N]\n"
    "\n"
    "Plans the memory of CONFIG without touching a device and prints the arena map\n"
    "(every buffer: memory, offset, size, lifetime), the budget verdict, the bytes a\n"
    "decode step moves (T = 1 token: router, the top-k experts' W13 and W2, shared\n"
    "experts, activations) and a roofline estimate of the step time on Intel GPUs.\n"
    "With [quant] (quantized experts) it also lists each quantized matrix's parts (codes,\n"
    "scales, zero points, act-order permutation) and compares the weights and the step's\n"
    "bytes with the same model's float experts in dtype.weights.\n"
    "--json prints the same as one JSON object. Exit 2 when the plan exceeds the budget.\n"
    "\n"
    "  --model DIR   take the model from a Hugging Face model directory (DIR/config.json,\n"
    "                its checkpoint) instead of CONFIG; a CONFIG given too may only set\n"
    "                [dtype], [runtime], [budget] and weights.prefix (see 'zmoe import')\n"
    "  --devices N   expert parallel over N devices (default: the config's [parallel]):\n"
    "                each device's experts, weight and arena bytes, the bytes moved between\n"
    "                devices per layer call, and a roofline estimate adding the link time\n"
    "                (PCIe 4.0/5.0 x16, Xe Link)\n";

/* Peak memory bandwidth and capacity from Intel's product specifications (ark.intel.com):
 *  Arc A770 16GB: GDDR6 17.5 Gbps x 256 bit = 560 GB/s, 16 GB
 *  Arc A750: GDDR6 16 Gbps x 256 bit = 512 GB/s, 8 GB
 *  Arc B580: GDDR6 19 Gbps x 192 bit = 456 GB/s, 12 GB
 *  Data Center GPU Max 1550: HBM2e, 3276.8 GB/s, 128 GB
 *  Iris Xe (Tiger Lake) with LPDDR4x-4266: 4266 MT/s x 128 bit = 68.3 GB/s, shares
 *  system memory (capacity 0 here: "system RAM"). */
static const struct gpu {
    const char *name;
    double gbps; /* 1e9 bytes/s */
    uint64_t capacity;
} gpus[] = {
    {"Arc A770 16GB", 560.0, 16ull << 30},
    {"Arc A750", 512.0, 8ull << 30},
    {"Arc B580", 456.0, 12ull << 30},
    {"Data Center GPU Max 1550", 3276.8, 128ull << 30},
    {"Iris Xe (Tiger Lake, LPDDR4x-4266)", 68.3, 0},
};

struct traffic {
    uint64_t router, experts, shared, activations, io;
    uint64_t per_layer, per_step;
};

/* The arena bytes of a tensor: zmoe_tensor_bytes, so quantized matrices count their
 * codes, scales, zero points and permutation (weights/quant.h), never elements x dtype. */
static uint64_t tensor_bytes(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    return zmoe_tensor_present(cfg, t) ? zmoe_tensor_bytes(cfg, t) : 0;
}

/* The same model with float experts in dtype.weights: what the quantized plan is
 * compared with. */
static void float_twin(const struct zmoe_config *cfg, struct zmoe_config *out)
{
    *out = *cfg;
    memset(&out->quant, 0, sizeof out->quant);
    out->quant.shared_experts = true;
}

/* Weight bytes of all layers (saturating: a full-size float twin always fits 64 bits). */
static uint64_t weight_bytes(const struct zmoe_config *cfg)
{
    uint64_t b = 0;
    return zmoe_config_weight_bytes(cfg, &b) ? b : UINT64_MAX;
}

/* Bytes one decode step (T = 1) reads or writes at least: every weight it touches once,
 * every activation written once and read once. Caches can only help with the small
 * activations, so this is a lower bound on memory traffic, not an estimate of it. */
static void traffic(const struct zmoe_config *cfg, struct traffic *tr)
{
    memset(tr, 0, sizeof *tr);
    uint64_t e = cfg->model.experts, k = cfg->model.top_k, h = cfg->model.hidden,
             i = cfg->model.intermediate,
             s = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate;
    tr->router = tensor_bytes(cfg, ZMOE_TENSOR_ROUTER_W) + tensor_bytes(cfg, ZMOE_TENSOR_ROUTER_B) +
                 tensor_bytes(cfg, ZMOE_TENSOR_SCORE_BIAS);
    /* One expert's share of the routed tensors: every part of a quantized matrix
     * (codes, scales, zeros, permutation) is split evenly over the experts. */
    uint64_t per_expert = (tensor_bytes(cfg, ZMOE_TENSOR_W13) + tensor_bytes(cfg, ZMOE_TENSOR_B13) +
                           tensor_bytes(cfg, ZMOE_TENSOR_W2) + tensor_bytes(cfg, ZMOE_TENSOR_B2)) /
                          (e ? e : 1);
    tr->experts = k * per_expert;
    tr->shared = tensor_bytes(cfg, ZMOE_TENSOR_SHARED_W13) +
                 tensor_bytes(cfg, ZMOE_TENSOR_SHARED_W2) +
                 tensor_bytes(cfg, ZMOE_TENSOR_SHARED_GATE);
    uint64_t a = zmoe_dtype_size(cfg->dtype.activations);
    /* Intermediates are f32 (runtime/runtime.h): logits, routing, a, o and the shared
     * path; each written then read. x read, y written in the activation dtype. */
    uint64_t f32 = 4;
    tr->activations = 2 * f32 * ((e + 1) + 2 * k + k * 2 * i + k * h + (s ? 2 * s + h : 0)) +
                      2 * h * a;
    tr->io = 2 * h * a; /* host-visible x in and y out of the slot */
    tr->per_layer = tr->router + tr->experts + tr->shared + tr->activations + tr->io;
    tr->per_step = tr->per_layer * cfg->model.layers;
}

static const enum zmoe_tensor quant_tensors[] = {ZMOE_TENSOR_W13, ZMOE_TENSOR_W2,
                                                 ZMOE_TENSOR_SHARED_W13, ZMOE_TENSOR_SHARED_W2};

/* "int4, packing compressed_tensors, group 128, f16 scales, symmetric, ..." */
static void quant_summary(const struct zmoe_config *cfg, char *buf, size_t size)
{
    const struct zmoe_config *c = cfg;
    char group[32];
    if (c->quant.group_size)
        snprintf(group, sizeof group, c->quant.format == ZMOE_QUANT_FP8 ? "%ux%u blocks" : "group %u",
                 c->quant.group_size, c->quant.group_size);
    else
        snprintf(group, sizeof group, "per output channel");
    snprintf(buf, size, "%s, packing %s, %s, %s scales, %s%s, shared experts %s",
             zmoe_config_quant_format_name(c->quant.format),
             zmoe_config_quant_packing_name(c->quant.packing), group,
             zmoe_config_scale_dtype_name(c->quant.scale_dtype),
             c->quant.zero_points ? "zero points" : "symmetric",
             c->quant.act_order ? ", act-order" : "",
             c->model.shared_experts == 0 ? "none"
             : c->quant.shared_experts    ? "quantized"
                                          : "float");
}

/* Each quantized matrix's parts, then weights and step bytes against float experts. */
static void print_quant_text(const struct zmoe_config *cfg, const struct traffic *tr)
{
    char a[32], b[32], c[32], d[32], e[32], sum[200];
    quant_summary(cfg, sum, sizeof sum);
    printf("\nquantized experts: %s\n", sum);
    printf("  %-11s %20s %12s %12s %12s %12s %12s\n", "tensor", "rows x cols", "codes", "scales",
           "zeros", "perm", "per layer");
    for (size_t i = 0; i < sizeof quant_tensors / sizeof quant_tensors[0]; i++) {
        struct zmoe_qmatrix m;
        if (!zmoe_quant_matrix(cfg, quant_tensors[i], &m))
            continue;
        char rc[48];
        snprintf(rc, sizeof rc, "%llu x %llu", (unsigned long long)m.rows,
                 (unsigned long long)m.cols);
        printf("  %-11s %20s %12s %12s %12s %12s %12s\n", zmoe_tensor_name(quant_tensors[i]), rc,
               cli_human_bytes(m.codes_bytes, a, sizeof a),
               cli_human_bytes(m.scales_bytes, b, sizeof b),
               cli_human_bytes(m.zeros_bytes, c, sizeof c),
               cli_human_bytes(m.perm_bytes, d, sizeof d), cli_human_bytes(m.bytes, e, sizeof e));
    }
    struct zmoe_config fl;
    float_twin(cfg, &fl);
    struct traffic ft;
    traffic(&fl, &ft);
    uint64_t qw = weight_bytes(cfg), fw = weight_bytes(&fl);
    const char *fd = zmoe_config_dtype_name(cfg->dtype.weights);
    printf("  %-34s %14s   float experts (%s): %s, %.3fx\n", "weights, all layers",
           cli_human_bytes(qw, a, sizeof a), fd, cli_human_bytes(fw, b, sizeof b),
           fw ? (double)qw / (double)fw : 0.0);
    printf("  %-34s %14s   float experts (%s): %s, %.3fx\n", "routed experts per decode step",
           cli_human_bytes(tr->experts * cfg->model.layers, a, sizeof a), fd,
           cli_human_bytes(ft.experts * cfg->model.layers, b, sizeof b),
           ft.experts ? (double)tr->experts / (double)ft.experts : 0.0);
    printf("  %-34s %14s   float experts (%s): %s, %.3fx\n", "bytes per decode step",
           cli_human_bytes(tr->per_step, a, sizeof a), fd, cli_human_bytes(ft.per_step, b, sizeof b),
           ft.per_step ? (double)tr->per_step / (double)ft.per_step : 0.0);
}

static void json_str(const char *s);

/* "quant": the format, each quantized matrix's parts, and the float comparison. */
static void print_quant_json(const struct zmoe_config *cfg, const struct traffic *tr)
{
    printf("\"quant\": {\"format\": ");
    json_str(zmoe_config_quant_format_name(cfg->quant.format));
    if (cfg->quant.format == ZMOE_QUANT_NONE) {
        printf("},\n");
        return;
    }
    printf(", \"packing\": ");
    json_str(zmoe_config_quant_packing_name(cfg->quant.packing));
    printf(", \"group_size\": %u, \"zero_points\": %s, \"act_order\": %s, \"scale_dtype\": ",
           cfg->quant.group_size, cfg->quant.zero_points ? "true" : "false",
           cfg->quant.act_order ? "true" : "false");
    json_str(zmoe_config_scale_dtype_name(cfg->quant.scale_dtype));
    printf(", \"shared_experts\": %s,\n  \"tensors\": [", cfg->quant.shared_experts ? "true" : "false");
    int n = 0;
    for (size_t i = 0; i < sizeof quant_tensors / sizeof quant_tensors[0]; i++) {
        struct zmoe_qmatrix m;
        if (!zmoe_quant_matrix(cfg, quant_tensors[i], &m))
            continue;
        printf("%s\n    {\"tensor\": ", n++ ? "," : "");
        json_str(zmoe_tensor_name(quant_tensors[i]));
        printf(", \"rows\": %llu, \"cols\": %llu, \"bits\": %u, \"group\": %u, "
               "\"row_block\": %u, \"codes_bytes\": %llu, \"scales_bytes\": %llu, "
               "\"zeros_bytes\": %llu, \"perm_bytes\": %llu, \"bytes\": %llu}",
               (unsigned long long)m.rows, (unsigned long long)m.cols, m.bits, m.group,
               m.row_block, (unsigned long long)m.codes_bytes,
               (unsigned long long)m.scales_bytes, (unsigned long long)m.zeros_bytes,
               (unsigned long long)m.perm_bytes, (unsigned long long)m.bytes);
    }
    struct zmoe_config fl;
    float_twin(cfg, &fl);
    struct traffic ft;
    traffic(&fl, &ft);
    printf("],\n  \"weight_bytes\": %llu, \"float_dtype\": ", (unsigned long long)weight_bytes(cfg));
    json_str(zmoe_config_dtype_name(cfg->dtype.weights));
    printf(", \"float_weight_bytes\": %llu, \"float_experts_per_layer\": %llu, "
           "\"float_bytes_per_step\": %llu},\n",
           (unsigned long long)weight_bytes(&fl), (unsigned long long)ft.experts,
           (unsigned long long)ft.per_step);
    (void)tr;
}

/* The same geometry with each expert format (its usual group and scales, shared experts
 * quantized too): weights, the bytes a decode step moves, the device arena (the plan's
 * activations and I/O do not depend on the format) and the roofline step on each GPU. */
struct variant {
    const char *name;
    bool valid, current;
    uint64_t weights, step, device;
};

static int format_variants(const struct zmoe_config *cfg, const struct zmoe_plan *plan,
                           struct variant *v)
{
    static const struct {
        const char *name;
        enum zmoe_quant_format f;
        uint32_t group;
        enum zmoe_scale_dtype sd;
    } forms[] = {
        {"float", ZMOE_QUANT_NONE, 0, ZMOE_SCALE_F16},
        {"int8 group 128, f16 scales", ZMOE_QUANT_INT8, 128, ZMOE_SCALE_F16},
        {"int8 per channel, f16 scales", ZMOE_QUANT_INT8, 0, ZMOE_SCALE_F16},
        {"fp8 128x128 blocks, f32 scales", ZMOE_QUANT_FP8, 128, ZMOE_SCALE_F32},
        {"fp8 per channel, f32 scales", ZMOE_QUANT_FP8, 0, ZMOE_SCALE_F32},
        {"int4 group 128, f16 scales", ZMOE_QUANT_INT4, 128, ZMOE_SCALE_F16},
        {"int4 group 32, f16 scales", ZMOE_QUANT_INT4, 32, ZMOE_SCALE_F16},
        {"mxfp4 (e8m0 per 32)", ZMOE_QUANT_MXFP4, 32, ZMOE_SCALE_E8M0},
    };
    const uint64_t own = weight_bytes(cfg), dev = plan->size[ZMOE_MEMORY_DEVICE];
    int n = 0;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++, n++) {
        struct zmoe_config c;
        float_twin(cfg, &c);
        c.quant.format = forms[i].f;
        c.quant.group_size = forms[i].group;
        c.quant.scale_dtype = forms[i].sd;
        /* packing and file do not change a byte: compare as synthetic */
        c.weights.file[0] = '\0';
        c.weights.layout = ZMOE_LAYOUT_SYNTHETIC;
        c.weights.prefix[0] = '\0';
        c.experts.gate_up_interleaved = false;
        c.budget.device_bytes = 0;
        struct zmoe_error err;
        v[n] = (struct variant){.name = forms[i].name};
        v[n].valid = zmoe_config_validate(&c, &err) == ZMOE_OK;
        if (!v[n].valid)
            continue;
        struct traffic t;
        traffic(&c, &t);
        v[n].weights = weight_bytes(&c);
        v[n].step = t.per_step;
        v[n].device = dev - own + v[n].weights;
        v[n].current = cfg->quant.format == forms[i].f &&
                       (forms[i].f == ZMOE_QUANT_NONE ||
                        (cfg->quant.group_size == forms[i].group &&
                         cfg->quant.scale_dtype == forms[i].sd && !cfg->quant.zero_points &&
                         !cfg->quant.act_order && cfg->quant.shared_experts));
    }
    bool seen = false;
    for (int i = 0; i < n; i++)
        seen = seen || v[i].current;
    if (!seen) {
        /* this config's own variant (zero points, act-order, bf16 scales, float shared
         * experts...) as a row of its own */
        static char own_name[96];
        snprintf(own_name, sizeof own_name, "%s g%u %s%s%s%s",
                 zmoe_config_quant_format_name(cfg->quant.format), cfg->quant.group_size,
                 zmoe_config_scale_dtype_name(cfg->quant.scale_dtype),
                 cfg->quant.zero_points ? " zp" : "", cfg->quant.act_order ? " act-order" : "",
                 cfg->quant.shared_experts ? "" : " float shared");
        struct traffic t;
        traffic(cfg, &t);
        v[n++] = (struct variant){.name = own_name, .valid = true, .current = true,
                                  .weights = own, .step = t.per_step, .device = dev};
    }
    return n;
}

static void print_formats_text(const struct zmoe_config *cfg, const struct zmoe_plan *plan)
{
    struct variant v[9];
    int n = format_variants(cfg, plan, v);
    char a[32], b[32], c[32];
    double max1550 = 0;
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++)
        if (!strcmp(gpus[g].name, "Data Center GPU Max 1550"))
            max1550 = gpus[g].gbps;
    printf("\nexpert formats for this geometry (symmetric, shared experts quantized; float = "
           "dtype.weights %s; * = this config):\n", zmoe_config_dtype_name(cfg->dtype.weights));
    printf("  %-34s %12s %12s %12s %16s  %s\n", "format", "weights", "per step", "device arena",
           "Max 1550 step us", "fits on");
    for (int i = 0; i < n; i++) {
        if (!v[i].valid) {
            printf("  %-34s (the geometry does not take it)\n", v[i].name);
            continue;
        }
        char fits[160] = "";
        size_t len = 0;
        for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++)
            if (gpus[g].capacity && v[i].device <= gpus[g].capacity && len + 48 < sizeof fits)
                len += (size_t)snprintf(fits + len, sizeof fits - len, "%s%s", len ? ", " : "",
                                        gpus[g].name);
        char name[48];
        snprintf(name, sizeof name, "%s%s", v[i].current ? "* " : "", v[i].name);
        printf("  %-34s %12s %12s %12s %16.1f  %s\n", name, cli_human_bytes(v[i].weights, a, sizeof a),
               cli_human_bytes(v[i].step, b, sizeof b), cli_human_bytes(v[i].device, c, sizeof c),
               (double)v[i].step / (max1550 * 1e9) * 1e6, len ? fits : "none");
    }
}

static void print_formats_json(const struct zmoe_config *cfg, const struct zmoe_plan *plan)
{
    struct variant v[9];
    int n = format_variants(cfg, plan, v);
    printf("\"formats\": [");
    for (int i = 0, k = 0; i < n; i++) {
        if (!v[i].valid)
            continue;
        printf("%s\n  {\"format\": ", k++ ? "," : "");
        json_str(v[i].name);
        printf(", \"this_config\": %s, \"weight_bytes\": %llu, \"bytes_per_step\": %llu, "
               "\"device_bytes\": %llu}",
               v[i].current ? "true" : "false", (unsigned long long)v[i].weights,
               (unsigned long long)v[i].step, (unsigned long long)v[i].device);
    }
    printf("\n],\n");
}

static void print_text(const char *path, const struct zmoe_config *cfg, const struct zmoe_plan *plan,
                       uint64_t host_block, enum zmoe_status budget, const char *budget_msg,
                       const struct traffic *tr)
{
    char a[32], b[32], c[32], d[32];
    printf("zmoe plan: %s\n\n", path);
    zmoe_plan_report_text(plan, stdout);
    printf("\nhost block (runtime structures): %s\n", cli_human_bytes(host_block, a, sizeof a));
    printf("budget: device %s of %s, host %s of %s: %s\n",
           cli_human_bytes(plan->size[ZMOE_MEMORY_DEVICE], a, sizeof a),
           cfg->budget.device_bytes ? cli_human_bytes(cfg->budget.device_bytes, b, sizeof b)
                                    : "unlimited",
           cli_human_bytes(plan->size[ZMOE_MEMORY_HOST_VISIBLE] + host_block, c, sizeof c),
           cfg->budget.host_bytes ? cli_human_bytes(cfg->budget.host_bytes, d, sizeof d)
                                  : "unlimited",
           budget == ZMOE_OK ? "within budget" : "OVER BUDGET");
    if (budget != ZMOE_OK)
        printf("  %s\n", budget_msg);

    printf("\nbytes moved per decode step (T = 1, %u layers; each weight read once, each\n"
           "activation written and read once):\n",
           cfg->model.layers);
    printf("  %-34s %14s %14s\n", "", "per layer", "per step");
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        {"router", tr->router},
        {"routed experts (top-k W13 + W2)", tr->experts},
        {"shared experts", tr->shared},
        {"activations", tr->activations},
        {"slot I/O (x in, y out)", tr->io},
        {"total", tr->per_layer},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        printf("  %-34s %14s %14s\n", rows[r].name, cli_human_bytes(rows[r].v, a, sizeof a),
               cli_human_bytes(rows[r].v * cfg->model.layers, b, sizeof b));

    if (cfg->quant.format != ZMOE_QUANT_NONE)
        print_quant_text(cfg, tr);
    print_formats_text(cfg, plan);

    printf("\nroofline estimate (lower bound: bytes per step / peak memory bandwidth):\n");
    printf("  %-36s %10s %12s %12s  %s\n", "GPU", "GB/s", "step (us)", "tokens/s",
           "device arena fits");
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++) {
        double t = (double)tr->per_step / (gpus[g].gbps * 1e9);
        const char *fits = !gpus[g].capacity ? "system RAM"
                           : plan->size[ZMOE_MEMORY_DEVICE] <= gpus[g].capacity ? "yes"
                                                                                : "no";
        printf("  %-36s %10.1f %12.1f %12.1f  %s\n", gpus[g].name, gpus[g].gbps, t * 1e6,
               t > 0 ? 1.0 / t : 0.0, fits);
    }
    /* The verdict in one line, so "does it fit a Max 1550" needs no table reading. */
    printf("device arena %s fits on:", cli_human_bytes(plan->size[ZMOE_MEMORY_DEVICE], a, sizeof a));
    int nfit = 0;
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++)
        if (gpus[g].capacity && plan->size[ZMOE_MEMORY_DEVICE] <= gpus[g].capacity)
            printf("%s %s (%s)", nfit++ ? "," : "", gpus[g].name,
                   cli_human_bytes(gpus[g].capacity, b, sizeof b));
    printf("%s\n", nfit ? "" : " none of the named GPUs");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const char *path, const struct zmoe_config *cfg, const struct zmoe_plan *plan,
                       uint64_t host_block, enum zmoe_status budget, const char *budget_msg,
                       const struct traffic *tr)
{
    printf("{\"config\": ");
    json_str(path);
    printf(",\n\"plan\": ");
    zmoe_plan_report_json(plan, stdout);
    printf(",\n\"host_block_bytes\": %llu,\n", (unsigned long long)host_block);
    printf("\"budget\": {\"device_bytes\": %llu, \"host_bytes\": %llu, \"device_needed\": %llu, "
           "\"host_needed\": %llu, \"within\": %s, \"message\": ",
           (unsigned long long)cfg->budget.device_bytes,
           (unsigned long long)cfg->budget.host_bytes,
           (unsigned long long)plan->size[ZMOE_MEMORY_DEVICE],
           (unsigned long long)(plan->size[ZMOE_MEMORY_HOST_VISIBLE] + host_block),
           budget == ZMOE_OK ? "true" : "false");
    json_str(budget == ZMOE_OK ? "" : budget_msg);
    printf("},\n");
    print_quant_json(cfg, tr);
    print_formats_json(cfg, plan);
    printf("\"bytes_per_layer\": {\"router\": %llu, \"experts\": %llu, \"shared\": %llu, "
           "\"activations\": %llu, \"io\": %llu, \"total\": %llu},\n",
           (unsigned long long)tr->router, (unsigned long long)tr->experts,
           (unsigned long long)tr->shared, (unsigned long long)tr->activations,
           (unsigned long long)tr->io, (unsigned long long)tr->per_layer);
    printf("\"bytes_per_step\": %llu,\n\"roofline_estimate\": [",
           (unsigned long long)tr->per_step);
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++) {
        double t = (double)tr->per_step / (gpus[g].gbps * 1e9);
        printf("%s\n  {\"gpu\": ", g ? "," : "");
        json_str(gpus[g].name);
        printf(", \"bandwidth_gbps\": %.1f, \"step_us\": %.3f, \"capacity_bytes\": %llu, "
               "\"fits\": %s}",
               gpus[g].gbps, t * 1e6, (unsigned long long)gpus[g].capacity,
               !gpus[g].capacity ? "null"
               : plan->size[ZMOE_MEMORY_DEVICE] <= gpus[g].capacity ? "true"
                                                                    : "false");
    }
    printf("\n]"); /* the caller closes the object (after the parallel section) */
}

int cli_cmd_plan(int argc, char **argv)
{
    struct cli_opt opts[] = {{"--json", CLI_OPT_FLAG}, {"--model", CLI_OPT_STRING},
                             {"--devices", CLI_OPT_U32, 1, ZMOE_PARALLEL_MAX}, {NULL}};
    const char *pos[1] = {NULL};
    int npos;
    bool help;
    int rc = cli_parse("plan", argc, argv, 2, opts, pos, 1, &npos, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(plan_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (npos != 1 && !opts[1].seen) {
        cli_error("plan", "missing CONFIG or --model DIR (see 'zmoe plan --help')");
        return CLI_EXIT_USAGE;
    }
    cli_set_model_dir(opts[1].seen ? opts[1].string : NULL);
    struct zmoe_config cfg;
    rc = cli_load_config("plan", pos[0], &cfg);
    if (rc)
        return rc;
    pos[0] = cli_config_label(pos[0]);
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_runtime_check_config(&cfg, &err);
    uint32_t cap = st == ZMOE_OK ? zmoe_runtime_max_buffers(&cfg) : 0;
    if (st != ZMOE_OK || cap == 0) {
        cli_error("plan", "%s: %s", pos[0], err.msg[0] ? err.msg : "config unusable by the runtime");
        return CLI_EXIT_USAGE;
    }
    struct zmoe_buffer *storage = calloc(cap, sizeof *storage);
    if (!storage) {
        cli_error("plan", "out of memory for %u buffer descriptions", cap);
        return CLI_EXIT_RUNTIME;
    }
    struct zmoe_plan plan;
    struct zmoe_runtime_buffers ids;
    zmoe_plan_init(&plan, storage, cap);
    st = zmoe_runtime_plan(&cfg, &plan, &ids, &err);
    if (st != ZMOE_OK) {
        cli_error("plan", "%s: planning failed (%s): %s", pos[0], zmoe_status_str(st), err.msg);
        free(storage);
        return cli_exit_for(st);
    }
    uint64_t host_block = zmoe_runtime_host_bytes(&cfg);
    struct zmoe_error budget_err = {{0}};
    enum zmoe_status budget = zmoe_plan_check_budget(&plan, cfg.budget.device_bytes,
                                                     cfg.budget.host_bytes, host_block,
                                                     &budget_err);
    struct traffic tr;
    traffic(&cfg, &tr);
    /* expert parallel: --devices, else the config's own [parallel] */
    const uint32_t devices = opts[2].seen ? opts[2].u32 : zmoe_parallel_participants(&cfg);
    int prc = CLI_EXIT_OK;
    if (opts[0].flag)
        print_json(pos[0], &cfg, &plan, host_block, budget, budget_err.msg, &tr);
    else
        print_text(pos[0], &cfg, &plan, host_block, budget, budget_err.msg, &tr);
    if (opts[2].seen || devices > 1)
        prc = cli_plan_parallel(pos[0], &cfg, devices, opts[0].flag);
    if (opts[0].flag)
        printf("}\n");
    free(storage);
    if (prc != CLI_EXIT_OK)
        return prc;
    if (budget != ZMOE_OK) {
        cli_error("plan", "%s: %s", pos[0], budget_err.msg);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}
