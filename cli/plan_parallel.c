/* zmoe plan --devices N: what expert parallelism over N devices puts on each device and
 * moves between them (from the shards' plans, zmoe_parallel_plan), and a roofline
 * estimate of the decode step that adds the link transfers to the memory-bound time.
 * Pure, like the rest of `zmoe plan`. */
#include "cli/cli.h"
#include "runtime/runtime.h"
#include "zmoe_parallel.h"

#include <stdio.h>
#include <string.h>

/* Link bandwidths per direction, 1e9 bytes/s.
 *  PCIe 4.0 x16: 16 GT/s x 16 lanes x 128/130 / 8 = 31.5 GB/s
 *  PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130 / 8 = 63.0 GB/s
 *  Xe Link (Data Center GPU Max): an assumed 26.5 GB/s for one link per direction; Intel
 *  publishes no per-link figure on its product pages, so take this row as a placeholder
 *  to be replaced by a measurement. */
static const struct link {
    const char *name;
    double gbps;
} links[] = {
    {"PCIe 4.0 x16", 31.5},
    {"PCIe 5.0 x16", 63.0},
    {"Xe Link (1 link, assumed)", 26.5},
};

/* Memory bandwidths of the GPUs the estimate is shown for (plan.c's table: Intel's
 * product specifications). */
static const struct mem {
    const char *name;
    double gbps;
} mems[] = {
    {"Arc A770 16GB", 560.0},
    {"Arc B580", 456.0},
    {"Data Center GPU Max 1550", 3276.8},
};

static uint64_t tb(const struct zmoe_config *c, enum zmoe_tensor t)
{
    return zmoe_tensor_present(c, t) ? zmoe_tensor_bytes(c, t) : 0;
}

/* Bytes device r reads per layer in a T = 1 decode step: the replicated router, the
 * shared experts on device 0, and its expected part of the top-k experts' weights with
 * routing spread evenly (K * owned / E experts). */
static double device_layer_bytes(const struct zmoe_config *c, uint32_t r, uint32_t owned)
{
    const double E = c->model.experts, K = c->model.top_k;
    const double per_expert = (double)(tb(c, ZMOE_TENSOR_W13) + tb(c, ZMOE_TENSOR_B13) +
                                       tb(c, ZMOE_TENSOR_W2) + tb(c, ZMOE_TENSOR_B2)) / E;
    double b = (double)(tb(c, ZMOE_TENSOR_ROUTER_W) + tb(c, ZMOE_TENSOR_ROUTER_B) +
                        tb(c, ZMOE_TENSOR_SCORE_BIAS) + tb(c, ZMOE_TENSOR_SHARED_GATE));
    if (r == 0)
        b += (double)(tb(c, ZMOE_TENSOR_SHARED_W13) + tb(c, ZMOE_TENSOR_SHARED_W2));
    return b + K * per_expert * owned / E;
}

int cli_plan_parallel(const char *label, const struct zmoe_config *cfg, uint32_t devices, bool json)
{
    struct zmoe_parallel_share share[ZMOE_PARALLEL_MAX];
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_parallel_plan(cfg, devices, share, &err);
    if (st) {
        cli_error("plan", "%s: --devices %u: %s", label, devices, err.msg);
        return cli_exit_for(st);
    }
    const uint32_t L = cfg->model.layers;
    const uint64_t x_bytes = share[0].input_bytes, part = devices > 1 ? share[1].partial_bytes : 0;
    /* per layer call, as recorded: x to every device, N-1 partials into device 0 */
    const uint64_t comm_layer = (uint64_t)(devices > 1 ? devices : 0) * x_bytes + (devices - 1) * part;
    const uint64_t tok_part = (uint64_t)cfg->model.hidden * 4;
    double worst = 0;
    for (uint32_t r = 0; r < devices; r++) {
        double b = device_layer_bytes(cfg, r, share[r].experts);
        if (b > worst)
            worst = b;
    }
    char a[32], b[32], c[32], d[32], e[32];
    if (!json) {
        printf("\nexpert parallel over %u device%s (%s map), per device:\n", devices,
               devices == 1 ? "" : "s",
               cfg->parallel.expert_map_set && devices == zmoe_parallel_participants(cfg) ? "configured"
                                                                                           : "contiguous");
        printf("  %-6s %8s %6s %14s %14s\n", "device", "experts", "first", "weights", "device arena");
        for (uint32_t r = 0; r < devices; r++)
            printf("  %-6u %8u %6u %14s %14s\n", r, share[r].experts, share[r].first_expert,
                   cli_human_bytes(share[r].weight_bytes, a, sizeof a),
                   cli_human_bytes(share[r].device_bytes, b, sizeof b));
        printf("communication per layer call (the recorded copies move max_tokens = %u rows):\n"
               "  x to each device %s, each partial (f32) to device 0 %s; per layer %s, per step "
               "(%u layers) %s\n"
               "  (at T = 1 the partials carry %s of data each)\n",
               cfg->runtime.max_tokens, cli_human_bytes(x_bytes, a, sizeof a),
               cli_human_bytes(part, b, sizeof b), cli_human_bytes(comm_layer, c, sizeof c), L,
               cli_human_bytes(comm_layer * L, d, sizeof d),
               cli_human_bytes(devices > 1 ? tok_part : 0, e, sizeof e));
        printf("roofline estimate with the link (an estimate, not a measurement: per layer the\n"
               "busiest device's T = 1 bytes at memory bandwidth, routing spread evenly, plus\n"
               "x in and the N-1 partials into device 0 over the link, without overlap):\n");
        printf("  %-26s %-26s %12s %12s\n", "GPU", "link", "step (us)", "link share");
    } else {
        printf(",\n\"parallel\": {\"devices\": %u, \"estimate\": true, \"comm_bytes_per_layer\": %llu, "
               "\"comm_bytes_per_step\": %llu, \"shares\": [",
               devices, (unsigned long long)comm_layer, (unsigned long long)(comm_layer * L));
        for (uint32_t r = 0; r < devices; r++)
            printf("%s\n  {\"device\": %u, \"experts\": %u, \"first_expert\": %u, \"weight_bytes\": %llu, "
                   "\"device_bytes\": %llu, \"input_bytes\": %llu, \"partial_bytes\": %llu}",
                   r ? "," : "", r, share[r].experts, share[r].first_expert,
                   (unsigned long long)share[r].weight_bytes, (unsigned long long)share[r].device_bytes,
                   (unsigned long long)share[r].input_bytes, (unsigned long long)share[r].partial_bytes);
        printf("],\n\"roofline_estimate\": [");
    }
    bool first = true;
    for (size_t g = 0; g < sizeof mems / sizeof mems[0]; g++)
        for (size_t k = 0; k < sizeof links / sizeof links[0]; k++) {
            const double mem_s = worst / (mems[g].gbps * 1e9);
            const double link_s = devices > 1 ? (double)(x_bytes + (devices - 1) * part) / (links[k].gbps * 1e9)
                                              : 0.0;
            const double step = L * (mem_s + link_s);
            if (!json)
                printf("  %-26s %-26s %12.1f %11.0f%%\n", mems[g].name, links[k].name, step * 1e6,
                       step > 0 ? 100.0 * L * link_s / step : 0.0);
            else
                printf("%s\n  {\"gpu\": \"%s\", \"link\": \"%s\", \"link_gbps\": %.1f, \"step_us\": %.3f}",
                       first ? "" : ",", mems[g].name, links[k].name, links[k].gbps, step * 1e6);
            first = false;
        }
    if (json)
        printf("]}");
    return CLI_EXIT_OK;
}
