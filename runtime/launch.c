/* launch.c — the launch plan of one layer call, as data (runtime.h, struct
 * zmoe_launch_plan): which kernels, with which arguments in which order, on which grids.
 * layer.c records it into Level Zero lists; bench/gpu.c runs it through OpenCL. Two plans
 * from the same tables: the layer call (router and align, or the router with align inside,
 * then the experts) and the experts-only call
 * with the caller's routing (align_routed, experts). Only this file knows the kernels'
 * argument orders (kernels/moe.cl, kernels/README.md). */
#include "runtime/runtime.h"
#include "weights/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GEMV work-group shape and reduction split per device kind. GPUs: 32 lanes x 2 rows,
 * interleaved 16-byte loads (measured on an NVIDIA H200 through OpenCL: 32 lanes best
 * or within 7% of best on every geometry, 16 lanes 2-24% behind; the contiguous split
 * 2-8x slower there). CPUs (hostdev / PoCL): one work-item per row (1 lane x 64 rows),
 * its whole row one contiguous stream, and a 32-item align (PoCL runs every barrier
 * region of align as a loop over all its work-items); kernels/README.md "GEMV work
 * split" has the sweeps. */
static const struct {
    ze_device_type_t type;
    struct zmoe_device_shape shape;
} shape_table[] = {
    /* quantized rows are short in bytes (a 2048-value int4 row is 64 chunks of 16 bytes):
     * 8 lanes give each lane 8 chunks of a row where 32 gave it 2 and the per-row lane
     * reduction cost more than the loads: expert_down (issue 13) and expert_up (H200,
     * Qwen3-30B-A3B T=1 / T=8: int8 44 -> 27 / 251 -> 111 us, int4 29 -> 25 / 163 -> 140).
     * align stays at 256 items: NVIDIA's OpenCL allows align no more (its registers).
     * Float expert_down rows under 128 chunks run 16 lanes (H200, T=1 / T=8 us:
     * Qwen3-30B-A3B, I=768, 14.2 -> 12.4 / 65.6 -> 51.5; I=640 19.1 -> 15.2 / 100.6 ->
     * 73.1; longer rows lose with 16: GPT-OSS I=2880 T=8 118 -> 133, Mixtral 452 -> 518) */
    {ZE_DEVICE_TYPE_GPU, {32, 2, 256, 0, 8, 8, 16, 128, 1, 1}},
    {ZE_DEVICE_TYPE_CPU, {1, 64, 32, 1, 8, 8, 0, 0, 1, 1}},
};

struct zmoe_device_shape zmoe_runtime_device_shape(ze_device_type_t type, uint32_t max_group)
{
    struct zmoe_device_shape s = shape_table[0].shape; /* unknown kinds: the GPU shape */
    for (size_t i = 0; i < sizeof shape_table / sizeof shape_table[0]; i++)
        if (shape_table[i].type == type)
            s = shape_table[i].shape;
    const char *lanes = getenv("ZMOE_GEMV_LANES");
    if (lanes) {
        unsigned long v = strtoul(lanes, NULL, 10);
        if (v && v <= ZMOE_KERNEL_WG && (v & (v - 1)) == 0) {
            s.lanes = (uint32_t)v;
            s.qlanes = v < 8 ? 8u : (uint32_t)v;
            s.short_lanes = 0; /* one lane count for every float kernel */
        }
    }
    s.nout = ZMOE_KERNEL_WG / s.lanes;
    s.qnout = ZMOE_KERNEL_WG / s.qlanes;
    const char *spans = getenv("ZMOE_GEMV_SPANS");
    if (spans && (spans[0] == '0' || spans[0] == '1') && spans[1] == '\0')
        s.lane_spans = (uint32_t)(spans[0] - '0');
    const char *fuse = getenv("ZMOE_FUSE_COMBINE");
    if (fuse && (fuse[0] == '0' || fuse[0] == '1') && fuse[1] == '\0')
        s.fuse_combine = (uint32_t)(fuse[0] - '0');
    const char *route = getenv("ZMOE_FUSE_ROUTE");
    if (route && (route[0] == '0' || route[0] == '1') && route[1] == '\0')
        s.fuse_route = (uint32_t)(route[0] - '0');
    while (s.align_wg > ZMOE_KERNEL_WG && s.align_wg > max_group)
        s.align_wg /= 2; /* the largest power of two the device allows */
    return s;
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return (a + b - 1) / b;
}

/* Builds one launch argument by argument. */
struct builder {
    struct zmoe_launch *l;
};

static void put(struct builder *b, uint32_t kind, uint32_t value)
{
    /* capacity is sized for the kernels below; a kernel with more is caught by the
     * launch-plan test (arguments counted against the SPIR-V) */
    if (b->l->nargs < ZMOE_LAUNCH_ARGS_MAX)
        b->l->arg[b->l->nargs++] = (struct zmoe_launch_arg){kind, value};
}
static void act(struct builder *b, enum zmoe_act a) { put(b, ZMOE_ARG_ACT, (uint32_t)a); }
static void wt(struct builder *b, enum zmoe_tensor t) { put(b, ZMOE_ARG_WEIGHT, (uint32_t)t); }
static void io(struct builder *b, enum zmoe_io i) { put(b, ZMOE_ARG_IO, (uint32_t)i); }
static void u32(struct builder *b, uint32_t v) { put(b, ZMOE_ARG_U32, v); }

static struct builder begin(struct zmoe_launch_plan *p, enum zmoe_kernel_id k, enum zmoe_stage stage,
                            int32_t indirect, uint32_t gx, uint32_t gy)
{
    struct zmoe_launch *l = &p->launch[p->count];
    *l = (struct zmoe_launch){
        .kernel = (uint32_t)k,
        .stage = (uint32_t)stage,
        .wait = (int32_t)p->count - 1,
        .indirect = indirect,
        .groups = {gx, gy, 1},
    };
    p->count++;
    return (struct builder){l};
}

/* The tables both plans share: the geometry, the kernel table (names by dtype,
 * work-group shapes) and the grid widths of the expert launches. */
struct geometry {
    uint32_t H, I, E, K, S, G, nout, spans;
    uint32_t gx_up, gx_down, gx_combine;
    bool quant; /* quantized expert kernels (cfg->quant.format) */
    /* combine inside the float expert_down (the shape's choice; the quantized one has no
     * tail, kernels/moe.cl COMBINE_ARGS), but not with expert parallelism: there a token
     * may have no row on a participant, and the combine kernel still writes its zero
     * partial */
    uint32_t fuse_combine;
    /* align inside the router (the shape's choice) where its slots hold top_k */
    bool fuse_route;
};

static struct geometry plan_tables(const struct zmoe_config *c, const struct zmoe_device_shape *shape,
                                   struct zmoe_launch_plan *p)
{
    memset(p, 0, sizeof *p);
    p->shape = *shape;
    struct geometry g = {
        .H = c->model.hidden,
        .I = c->model.intermediate,
        .E = c->model.experts,
        .K = c->model.top_k,
        .S = c->model.shared_experts * c->model.shared_intermediate,
        .G = c->router.groups ? c->router.groups : 1,
        .nout = shape->nout,
        .spans = shape->lane_spans,
        .quant = c->quant.format != ZMOE_QUANT_NONE,
        .fuse_combine = shape->fuse_combine && c->quant.format == ZMOE_QUANT_NONE &&
                        c->parallel.devices <= 1 && c->parallel.ranks <= 1,
        .fuse_route = shape->fuse_route && c->model.top_k <= ZMOE_KERNEL_ROUTE_SLOTS,
    };
    const char *w = zmoe_dtype_name(c->dtype.weights), *a = zmoe_dtype_name(c->dtype.activations);

    snprintf(p->kernel[ZMOE_K_ROUTER].name, sizeof p->kernel[0].name, "%s_w%s_a%s",
             g.fuse_route ? "route" : "router", w, a);
    snprintf(p->kernel[ZMOE_K_ALIGN].name, sizeof p->kernel[0].name, "align");
    if (c->quant.format != ZMOE_QUANT_NONE) {
        /* quantized experts: one variant per format (and activation dtype for up) */
        const char *q = zmoe_quant_format_name(c->quant.format);
        snprintf(p->kernel[ZMOE_K_UP].name, sizeof p->kernel[0].name, "expert_up_q%s_a%s", q, a);
        snprintf(p->kernel[ZMOE_K_DOWN].name, sizeof p->kernel[0].name, "expert_down_q%s", q);
    } else {
        snprintf(p->kernel[ZMOE_K_UP].name, sizeof p->kernel[0].name, "expert_up_w%s_a%s", w, a);
        snprintf(p->kernel[ZMOE_K_DOWN].name, sizeof p->kernel[0].name, "expert_down_w%s", w);
    }
    snprintf(p->kernel[ZMOE_K_COMBINE].name, sizeof p->kernel[0].name, "combine_a%s", a);
    snprintf(p->kernel[ZMOE_K_ALIGN_ROUTED].name, sizeof p->kernel[0].name, "align_routed");
    for (int k = 0; k < ZMOE_K_COUNT; k++) {
        p->kernel[k].local[0] = shape->lanes;
        p->kernel[k].local[1] = g.nout;
    }
    p->kernel[ZMOE_K_ALIGN].local[0] = shape->align_wg;
    p->kernel[ZMOE_K_ALIGN].local[1] = 1;
    p->kernel[ZMOE_K_ALIGN_ROUTED].local[0] = shape->align_wg;
    p->kernel[ZMOE_K_ALIGN_ROUTED].local[1] = 1;
    p->kernel[ZMOE_K_COMBINE].local[0] = ZMOE_KERNEL_WG;
    p->kernel[ZMOE_K_COMBINE].local[1] = 1;

    uint32_t up_rows = g.nout, down_rows = g.nout;
    if (g.quant) {
        /* quantized experts: their own shape; expert_down with, interleaved,
         * ZMOE_QUANT_ROWS rows per work-item (half for 8-bit codes), so a work-group
         * covers at most 32 rows, a divisor of every quantized row count; expert_up one
         * row pair per work-item (two measured slower, kernels/README.md) */
        struct zmoe_qmatrix w2;
        zmoe_quant_matrix(c, ZMOE_TENSOR_W2, &w2); /* W2 is quantized with any format */
        const uint32_t rows = shape->lane_spans ? 1u : w2.bits == 4u ? ZMOE_QUANT_ROWS
                                                                     : ZMOE_QUANT_ROWS / 2u;
        p->kernel[ZMOE_K_UP].local[0] = shape->qlanes;
        p->kernel[ZMOE_K_UP].local[1] = shape->qnout;
        p->kernel[ZMOE_K_DOWN].local[0] = shape->qlanes;
        p->kernel[ZMOE_K_DOWN].local[1] = shape->qnout;
        up_rows = shape->qnout;
        down_rows = shape->qnout * rows;
    } else if (shape->short_lanes && !shape->lane_spans &&
               (uint64_t)g.I * zmoe_dtype_size(c->dtype.weights) / 16u < shape->short_chunks) {
        p->kernel[ZMOE_K_DOWN].local[0] = shape->short_lanes;
        p->kernel[ZMOE_K_DOWN].local[1] = ZMOE_KERNEL_WG / shape->short_lanes;
        down_rows = ZMOE_KERNEL_WG / shape->short_lanes;
    }
    g.gx_up = div_up(g.I > g.S ? g.I : g.S, up_rows);
    g.gx_down = div_up(g.H, down_rows);
    g.gx_combine = div_up(g.H, ZMOE_KERNEL_WG);
    return g;
}

/* The quantized kernels' extra by-value arguments (kernels/moe.cl, EXPERT_UP_Q):
 * group size (0 = per output channel), rows per scale row, the qflags word, then the
 * part offsets (codes, scales, zeros, perm) of the routed tensor and of the shared one
 * in ZMOE_QUANT_ALIGN units, taken from zmoe_quant_matrix() (absent parts and float
 * shared tensors: 0). Offsets are by value, not pointers into the tensor: OpenCL cannot
 * point into a buffer at 64-byte granularity (sub-buffer origins must be aligned to
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN), and in 64-byte units a u32 reaches 256 GiB. */
static void quant_args(struct builder *b, const struct zmoe_config *c, enum zmoe_kernel_id kernel)
{
    /* the kernel's matrices (expert_up: W13, expert_down: W2), routed and shared */
    const bool up = kernel == ZMOE_K_UP;
    const enum zmoe_tensor routed = up ? ZMOE_TENSOR_W13 : ZMOE_TENSOR_W2;
    const enum zmoe_tensor shared = up ? ZMOE_TENSOR_SHARED_W13 : ZMOE_TENSOR_SHARED_W2;
    struct zmoe_qmatrix m, s;
    const bool have = zmoe_quant_matrix(c, routed, &m);
    const bool shared_q = zmoe_quant_matrix(c, shared, &s);
    uint32_t flags = (uint32_t)c->quant.scale_dtype & 3u;
    flags |= c->quant.zero_points ? ZMOE_QF_ZEROS : 0u;
    flags |= c->quant.act_order ? ZMOE_QF_PERM : 0u;
    flags |= shared_q ? ZMOE_QF_SHARED_Q : 0u;
    flags |= ((uint32_t)c->dtype.weights & 3u) << ZMOE_QF_SHARED_DT_SHIFT;
    u32(b, c->quant.group_size);
    u32(b, have ? m.row_block : 1u);
    u32(b, flags);
    const uint64_t part[2][4] = {
        {have ? m.codes_offset : 0, have ? m.scales_offset : 0, have ? m.zeros_offset : 0,
         have ? m.perm_offset : 0},
        {shared_q ? s.codes_offset : 0, shared_q ? s.scales_offset : 0,
         shared_q ? s.zeros_offset : 0, shared_q ? s.perm_offset : 0},
    };
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            u32(b, (uint32_t)(part[i][k] / ZMOE_QUANT_ALIGN));
}

void zmoe_runtime_launch_plan_quant_shard(struct zmoe_launch_plan *p, const struct zmoe_config *sc)
{
    if (sc->quant.format == ZMOE_QUANT_NONE)
        return;
    for (uint32_t i = 0; i < p->count; i++) {
        struct zmoe_launch *l = &p->launch[i];
        if (l->kernel != ZMOE_K_UP && l->kernel != ZMOE_K_DOWN)
            continue;
        /* quant_args is the launch's tail: rebuild it from the shard's config */
        struct zmoe_launch scratch = {0};
        struct builder b = {&scratch};
        quant_args(&b, sc, (enum zmoe_kernel_id)l->kernel);
        if (scratch.nargs <= l->nargs)
            memcpy(&l->arg[l->nargs - scratch.nargs], scratch.arg, scratch.nargs * sizeof scratch.arg[0]);
    }
}

/* The launches after an align (either one): expert_up, expert_down and combine, each
 * with the group counts the align wrote at act.groups[0], [1], [2]; or, with the
 * combine fused into expert_down, the first two. */
static void expert_launches(struct zmoe_launch_plan *p, const struct zmoe_config *c,
                            const struct geometry *g)
{
    struct builder b = begin(p, ZMOE_K_UP, ZMOE_STAGE_EXPERT_UP, 0, 0, 0);
    io(&b, ZMOE_IO_PARAMS);
    io(&b, ZMOE_IO_X);
    wt(&b, ZMOE_TENSOR_W13);
    wt(&b, ZMOE_TENSOR_B13);
    wt(&b, ZMOE_TENSOR_SHARED_W13);
    act(&b, ZMOE_ACT_TOPK_W);
    act(&b, ZMOE_ACT_SORTED);
    act(&b, ZMOE_ACT_TILES);
    act(&b, ZMOE_ACT_A);
    act(&b, ZMOE_ACT_A_SHARED);
    u32(&b, g->H);
    u32(&b, g->I);
    u32(&b, g->S);
    u32(&b, g->E);
    u32(&b, g->K);
    u32(&b, g->spans);
    if (g->quant)
        quant_args(&b, c, ZMOE_K_UP);

    b = begin(p, ZMOE_K_DOWN, ZMOE_STAGE_EXPERT_DOWN, 1, 0, 0);
    io(&b, ZMOE_IO_PARAMS);
    act(&b, ZMOE_ACT_A);
    act(&b, ZMOE_ACT_A_SHARED);
    wt(&b, ZMOE_TENSOR_W2);
    wt(&b, ZMOE_TENSOR_B2);
    wt(&b, ZMOE_TENSOR_SHARED_W2);
    act(&b, ZMOE_ACT_TILES);
    act(&b, ZMOE_ACT_O);
    act(&b, ZMOE_ACT_O_SHARED);
    u32(&b, g->H);
    u32(&b, g->I);
    u32(&b, g->S);
    u32(&b, g->E);
    u32(&b, g->spans);
    if (g->quant) {
        quant_args(&b, c, ZMOE_K_DOWN);
    } else {
        /* the fused combine's inputs (kernels/moe.cl, combine_tail) */
        act(&b, ZMOE_ACT_SORTED);
        act(&b, ZMOE_ACT_INV);
        act(&b, ZMOE_ACT_TOPK_W);
        act(&b, ZMOE_ACT_GATE);
        act(&b, ZMOE_ACT_DONE);
        io(&b, ZMOE_IO_Y);
        u32(&b, g->K);
        u32(&b, (uint32_t)c->dtype.activations);
        u32(&b, g->fuse_combine);
    }
    if (g->fuse_combine)
        return;

    b = begin(p, ZMOE_K_COMBINE, ZMOE_STAGE_COMBINE, 2, 0, 0);
    io(&b, ZMOE_IO_PARAMS);
    act(&b, ZMOE_ACT_O);
    act(&b, ZMOE_ACT_O_SHARED);
    act(&b, ZMOE_ACT_TOPK_W);
    act(&b, ZMOE_ACT_GATE);
    act(&b, ZMOE_ACT_INV);
    io(&b, ZMOE_IO_Y);
    u32(&b, g->H);
    u32(&b, g->K);
}

void zmoe_runtime_launch_plan(const struct zmoe_config *c, const struct zmoe_device_shape *shape,
                              struct zmoe_launch_plan *p)
{
    const struct geometry g = plan_tables(c, shape, p);

    /* router: rows of [Wr; shared_gate] x token tiles (tiles past T have no rows); with
     * fuse_route it does align's work too (route_w<W>_a<A>: the router's arguments, then
     * align's, then the counters) */
    struct builder b = begin(p, ZMOE_K_ROUTER, ZMOE_STAGE_ROUTER, -1, div_up(g.E + 1, g.nout),
                             div_up(c->runtime.max_tokens, ZMOE_KERNEL_ROUTER_TOKENS));
    io(&b, ZMOE_IO_TOKENS);
    io(&b, ZMOE_IO_PARAMS);
    io(&b, ZMOE_IO_X);
    wt(&b, ZMOE_TENSOR_ROUTER_W);
    wt(&b, ZMOE_TENSOR_ROUTER_B);
    wt(&b, ZMOE_TENSOR_SHARED_GATE);
    act(&b, ZMOE_ACT_LOGITS);
    u32(&b, g.H);
    u32(&b, g.E);
    u32(&b, g.spans);
    if (!g.fuse_route) {
        /* align: one work-group; writes the group counts of the launches after it */
        b = begin(p, ZMOE_K_ALIGN, ZMOE_STAGE_ALIGN, -1, 1, 1);
        io(&b, ZMOE_IO_TOKENS);
        io(&b, ZMOE_IO_PARAMS);
        act(&b, ZMOE_ACT_LOGITS);
    }
    wt(&b, ZMOE_TENSOR_SCORE_BIAS);
    act(&b, ZMOE_ACT_TOPK_IDS);
    act(&b, ZMOE_ACT_TOPK_W);
    act(&b, ZMOE_ACT_GATE);
    act(&b, ZMOE_ACT_SORTED);
    act(&b, ZMOE_ACT_INV);
    act(&b, ZMOE_ACT_TILES);
    act(&b, ZMOE_ACT_GROUPS);
    act(&b, ZMOE_ACT_DONE);
    if (g.fuse_route)
        act(&b, ZMOE_ACT_ROUTE_COUNTS);
    else
        u32(&b, g.E);
    u32(&b, g.K);
    u32(&b, g.G);
    u32(&b, g.G > 1 ? c->router.topk_group : 1);
    u32(&b, g.gx_up);
    u32(&b, g.gx_down);
    u32(&b, g.gx_combine);

    expert_launches(p, c, &g);
}

void zmoe_runtime_launch_plan_experts(const struct zmoe_config *c,
                                      const struct zmoe_device_shape *shape,
                                      struct zmoe_launch_plan *p)
{
    const struct geometry g = plan_tables(c, shape, p);

    /* align_routed: one work-group; the caller's ids and weights (bounds-checked into
     * act.topk_ids / act.topk_w), then align's tail: the same group counts */
    struct builder b = begin(p, ZMOE_K_ALIGN_ROUTED, ZMOE_STAGE_ALIGN, -1, 1, 1);
    io(&b, ZMOE_IO_TOKENS);
    io(&b, ZMOE_IO_PARAMS);
    io(&b, ZMOE_IO_TOPK_IDS);
    io(&b, ZMOE_IO_TOPK_W);
    io(&b, ZMOE_IO_ROUTING_STATUS);
    act(&b, ZMOE_ACT_TOPK_IDS);
    act(&b, ZMOE_ACT_TOPK_W);
    act(&b, ZMOE_ACT_SORTED);
    act(&b, ZMOE_ACT_INV);
    act(&b, ZMOE_ACT_TILES);
    act(&b, ZMOE_ACT_GROUPS);
    act(&b, ZMOE_ACT_DONE);
    u32(&b, g.E);
    u32(&b, g.K);
    u32(&b, g.gx_up);
    u32(&b, g.gx_down);
    u32(&b, g.gx_combine);

    expert_launches(p, c, &g);
}
