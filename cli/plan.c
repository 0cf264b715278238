/* zmoe plan: the arena map of a config, its budget verdict, and what a decode step
 * must move through memory at least, turned into a lower bound of the step time on
 * named Intel GPUs. Pure: plans without a device and allocates no arena, so it works
 * for full-size models that fit no machine at hand. */
#include "cli/cli.h"
#include "runtime/runtime.h"
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

static uint64_t tensor_bytes(const struct zmoe_config *cfg, enum zmoe_tensor t)
{
    if (!zmoe_tensor_present(cfg, t))
        return 0;
    return zmoe_tensor_elements(cfg, t) * zmoe_dtype_size(zmoe_tensor_dtype(cfg, t));
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
    printf("},\n\"bytes_per_layer\": {\"router\": %llu, \"experts\": %llu, \"shared\": %llu, "
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
        printf(", \"bandwidth_gbps\": %.1f, \"step_us\": %.3f, \"capacity_bytes\": %llu}",
               gpus[g].gbps, t * 1e6, (unsigned long long)gpus[g].capacity);
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
