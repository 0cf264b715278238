/* MoE pipeline kernels (OpenCL C 1.2). See kernels/README.md for arguments and grids.
 *
 * Stages of one layer call, all in one in-order queue:
 *   router      logits[t][0..E) = x[t].Wr^T (+br); logits[t][E] = x[t].shared_gate
 *   align       scoring + (grouped) top-k + weights per token; per-expert counts, offsets,
 *               the sorted row <-> (t,k) maps, the tile list and the group counts of the
 *               three indirect launches that follow
 *   route       the router with align inside it (route_tail: the last router work-group
 *               of a token routes it, the last of those places every pair): one launch
 *   align_routed the experts-only call: the caller's topk ids/weights instead (ids >= E
 *               run as expert 0 with weight 0 and set the status words), then align's tail
 *   expert_up   a[row] = act(W13[e] . x[t] * w (on input), +B13)  (shared rows too)
 *   expert_down o[row] = W2[e] . a[row] (+B2)                       (shared rows too)
 *   combine     y[t] = sum_k c_k o[row(t,k)] + gate[t] o_shared[t]
 *
 * dtypes: one source, one module; each dtype-dependent kernel exists once per
 * combination (router_wf16_abf16, ...). The bodies take the dtypes as compile-time
 * constants and are force-inlined, so every variant is specialised code with no
 * run-time dtype branch in the inner loops. The runtime picks the variant by name.
 * Intermediate activations (a, o, logits) are f32: they are tiny next to the weights in
 * decode and keeping them f32 avoids a second rounding.
 *
 * Work-group shape of the GEMV kernels (router, expert_up, expert_down): (LANES, NOUT)
 * with LANES * NOUT == ZMOE_WG (64), chosen at record time. The NOUT work-items of a
 * column each own one output row; the LANES work-items of a row split its reduction
 * and meet in local memory. How they split it is the by-value argument `lane_spans`,
 * also baked at record time, with the row length (see lane_split): interleaved 16-byte
 * chunks for a GPU (coalescing), one contiguous span per lane for a CPU; each split has
 * its own specialised copy of the reduction loop. Each lane accumulates into a float4
 * and reduces it horizontally once, after its loop.
 * A work-group handles up to ZMOE_RMAX token rows (an expert tile) for its columns;
 * rows are the outer loop, so a weight row is fetched from memory for the first token
 * row and from cache for the others (decode: T*K rows spread over K experts).
 */

#define ZMOE_WG 64
#define ZMOE_RMAX 8
#define ZMOE_ROUTER_TOKENS 1 /* tokens per router work-group (runtime: grid y) */
#define ZMOE_EMAX 512

#define DT_F32 0u
#define DT_F16 1u
#define DT_BF16 2u

/* Parameter block words (runtime/runtime.h: struct zmoe_params). */
#define P_TOKENS 0
#define P_FLAGS 1
#define P_ACTIVATION 2
#define P_SCALING 3
#define P_ALPHA 4
#define P_LIMIT 5

#define F_SIGMOID 1u
#define F_RENORM 2u
#define F_SCORE_BIAS 4u
#define F_ROUTER_BIAS 8u
#define F_ON_INPUT 16u
#define F_EXPERT_BIAS 32u
#define F_SHARED 64u
#define F_SHARED_GATE 128u
/* Expert parallel (runtime/parallel.c): this participant owns the experts whose bits
 * are set in prm[P_OWNED ..] (E bits); its weights hold them alone, in expert order.
 * Without the flag every expert is owned (one device). */
#define F_SHARD 256u
#define P_OWNED 8
#define NO_ROW 0xffffffffu /* inv[] of a pair another participant computes */

#define ACT_SILU 0u
#define ACT_GELU 1u
#define ACT_GELU_TANH 2u
#define ACT_SWIGLU_OAI 3u

#define INLINE __attribute__((always_inline)) inline

INLINE float4 ld4(__global const void *p, size_t i, const uint dt)
{
    if (dt == DT_F32)
        return vload4(0, (__global const float *)p + i);
    if (dt == DT_F16)
        return vload_half4(0, (__global const half *)p + i);
    /* bf16 is the upper half of an f32 */
    return as_float4(convert_uint4(vload4(0, (__global const ushort *)p + i)) << 16);
}

INLINE float ld1(__global const void *p, size_t i, const uint dt)
{
    if (dt == DT_F32)
        return ((__global const float *)p)[i];
    if (dt == DT_F16)
        return vload_half(0, (__global const half *)p + i);
    return as_float((uint)((__global const ushort *)p)[i] << 16);
}

INLINE void st1(__global void *p, size_t i, float v, const uint dt)
{
    if (dt == DT_F32) {
        ((__global float *)p)[i] = v;
    } else if (dt == DT_F16) {
        vstore_half_rte(v, 0, (__global half *)p + i);
    } else {
        /* round to nearest even; NaN stays NaN (quiet bit kept by the add) */
        uint u = as_uint(v);
        u += 0x7fffu + ((u >> 16) & 1u);
        ((__global ushort *)p)[i] = (ushort)(u >> 16);
    }
}

INLINE float sigmoidf(float v)
{
    return 1.0f / (1.0f + exp(-v));
}

INLINE float activate(float g, float u, uint act, float alpha, float limit)
{
    if (act == ACT_SILU)
        return g * sigmoidf(g) * u;
    if (act == ACT_GELU)
        return 0.5f * g * (1.0f + erf(g * 0.70710678118654752f)) * u;
    if (act == ACT_GELU_TANH)
        return 0.5f * g * (1.0f + tanh(0.79788456080286536f * (g + 0.044715f * g * g * g))) * u;
    g = fmin(g, limit);
    u = clamp(u, -limit, limit);
    return g * sigmoidf(alpha * g) * (u + 1.0f);
}

/* The three ways the LANES work-items of a row split its reduction (`mode`, a
 * compile-time constant of each inlined copy of the loops below):
 *  - MODE_WIDE, interleaved 16-byte chunks (GPUs, rows whose length is a multiple of 8):
 *    lane l takes the 8 elements at 8l, 8(l + LANES), ... Each load is one 16-byte
 *    access through a vector-typed pointer (a bf16 chunk is one uint4), so a row
 *    iteration of LANES lanes is one LANES*16-byte coalesced access. vload4 of ushort or
 *    float compiled to four scalar loads on NVIDIA's OpenCL; typed 16-byte loads gave
 *    13-31% there (issue 12). Rows of such length start 16-byte aligned (the arena
 *    aligns every buffer to 64 bytes, and row offsets are multiples of 8 elements).
 *  - MODE_NARROW, interleaved 4-element chunks with vload (GPUs, other row lengths):
 *    element-aligned, the pre-issue-12 path.
 *  - MODE_SPANS, one contiguous run of ceil(n4/4/LANES) float4s per lane (CPUs): PoCL
 *    runs each work-item's loop as a sequential stream (unit stride, prefetch-friendly);
 *    interleaved, every lane touches every cache line of the row. Measured on hostdev:
 *    kernels/README.md, "GEMV work split".
 * The kernels pick the mode once per launch (uniform) from the by-value `lane_spans`
 * and the row length, outside the loops: every copy is specialised code with a
 * constant step. The copies hold no barrier (PoCL 3.1 miscomputed a body duplicated
 * around its barriers under such a branch). */
#define MODE_NARROW 0u
#define MODE_SPANS 1u
#define MODE_WIDE 2u

INLINE uint pick_mode(uint lane_spans, uint n)
{
    return lane_spans ? MODE_SPANS : (n & 7u) == 0 ? MODE_WIDE : MODE_NARROW;
}

/* Elements the vector loop covers (the rest, < 4, is lane 0's scalar tail) and lane l's
 * part of them: [start, end) in steps of `step` elements. */
INLINE uint3 lane_split(uint n, uint l, uint lanes, const uint mode)
{
    const uint nv = mode == MODE_WIDE ? n : (n & ~3u);
    if (mode == MODE_SPANS) {
        const uint span = ((nv / 4u + lanes - 1u) / lanes) * 4u;
        const uint start = min(nv, l * span);
        return (uint3)(start, min(nv, start + span), 4u);
    }
    const uint v = mode == MODE_WIDE ? 8u : 4u;
    return (uint3)(v * l, nv, v * lanes);
}

/* 8 elements at p[i] (i a multiple of 8, p[i] 16-byte aligned) with 16-byte loads. */
INLINE float8 ld8(__global const void *p, size_t i, const uint dt)
{
    if (dt == DT_F32) {
        __global const float4 *q = (__global const float4 *)p + i / 4;
        return (float8)(q[0], q[1]);
    }
    if (dt == DT_F16)
        return vload_half8(0, (__global const half *)p + i);
    /* bf16: one uint4 holds 8 values, element 2j in the low half of word j */
    const uint4 v = ((__global const uint4 *)p)[i / 8];
    const uint4 lo = v << 16, hi = v & 0xffff0000u;
    return as_float8((uint8)(lo.x, hi.x, lo.y, hi.y, lo.z, hi.z, lo.w, hi.w));
}

/* The CPU module (kernels/meson.build: cpu_modules, this source with -DZMOE_CPU, SPIR-V
 * for CPU devices only) widens the spans loops to 16 elements a step: PoCL turns a
 * float16 into one AVX-512 register (two AVX2 ones), where a float4 step was one SSE
 * register and left the loops instruction-bound (kernels/README.md "GEMV work split").
 * The GPU module leaves it out: its dead spans copies would cost registers there
 * (float16 sums spilled in IGC's expert_up for tgllp and expert_down for pvc). */
#ifdef ZMOE_CPU
INLINE float16 ld16(__global const void *p, size_t i, const uint dt)
{
    if (dt == DT_F32)
        return vload16(0, (__global const float *)p + i);
    if (dt == DT_F16)
        return vload_half16(0, (__global const half *)p + i);
    return as_float16(convert_uint16(vload16(0, (__global const ushort *)p + i)) << 16);
}

INLINE float4 fold16(float16 v)
{
    const float8 h = v.lo + v.hi;
    return h.lo + h.hi;
}
#endif

/* Horizontal sum of a lane's vector accumulator, once after its loop. The GEMV loops
 * accumulate w4 * x4 into a float4 with mad rather than `acc += dot(w4, x4)`: on a CPU
 * dot() ends every iteration in a horizontal reduction (shuffles and a serial add
 * chain), which made the loops instruction-bound; on a GPU a lane's float4 mad is the
 * same four FMAs as its dot. mad, not fma: the compiler fuses where the hardware does
 * and never falls back to a software fma; all sums are f32, only their order changed. */
INLINE float hsum4(float4 v)
{
    return (v.x + v.y) + (v.z + v.w);
}

/* Lane l's share of the dot product w[wrow .. wrow+n) . x[xoff ..]; lane 0 adds the
 * scalar tail (n not a multiple of the vector width). */
INLINE float dot_part(__global const void *w, size_t wrow, __global const void *x, size_t xoff,
                      uint n, uint l, uint lanes, const uint wdt, const uint adt, const uint mode)
{
    const uint3 p = lane_split(n, l, lanes, mode);
    float4 acc = (float4)(0.0f);
    uint c = p.x;
    if (mode == MODE_SPANS) {
        /* two independent sums: with one, every step waited on the previous add (PoCL
         * makes mad a multiply and an add). Four, as in dot2_part, made the H200's float
         * expert_down 14-24% slower, though GPUs never run this copy (kernels/README.md
         * "GEMV work split") */
#ifdef ZMOE_CPU
        float16 s0 = (float16)(0.0f), s1 = (float16)(0.0f);
        for (; c + 32u <= p.y; c += 32u) {
            s0 = mad(ld16(w, wrow + c, wdt), ld16(x, xoff + c, adt), s0);
            s1 = mad(ld16(w, wrow + c + 16u, wdt), ld16(x, xoff + c + 16u, adt), s1);
        }
        acc = fold16(s0 + s1);
#endif
        float4 a1 = (float4)(0.0f);
        for (; c + 8u <= p.y; c += 8u) {
            acc = mad(ld4(w, wrow + c, wdt), ld4(x, xoff + c, adt), acc);
            a1 = mad(ld4(w, wrow + c + 4u, wdt), ld4(x, xoff + c + 4u, adt), a1);
        }
        acc += a1;
    }
    for (; c < p.y; c += p.z) {
        if (mode == MODE_WIDE) {
            const float8 wv = ld8(w, wrow + c, wdt), xv = ld8(x, xoff + c, adt);
            acc = mad(wv.hi, xv.hi, mad(wv.lo, xv.lo, acc));
        } else {
            acc = mad(ld4(w, wrow + c, wdt), ld4(x, xoff + c, adt), acc);
        }
    }
    float s = hsum4(acc);
    if (l == 0)
        for (uint c = mode == MODE_WIDE ? n : (n & ~3u); c < n; c++)
            s += ld1(w, wrow + c, wdt) * ld1(x, xoff + c, adt);
    return s;
}

/* expert_up's pair: lane l's shares of w[grow..] . xs*x[xoff..] and w[urow..] . xs*x[xoff..],
 * each x chunk loaded once for both rows; the routing weight xs scales x as it is
 * loaded, in f32. */
INLINE float2 dot2_part(__global const void *w, size_t grow, size_t urow,
                        __global const void *x, size_t xoff, float xs, uint n, uint l,
                        uint lanes, const uint wdt, const uint adt, const uint mode)
{
    const uint3 p = lane_split(n, l, lanes, mode);
    float4 g = (float4)(0.0f), u = (float4)(0.0f);
    uint c = p.x;
    if (mode == MODE_SPANS) {
        /* two chunks a step, four independent sums: with one, every step waited on
         * the previous add (PoCL makes mad a multiply and an add; kernels/README.md
         * "GEMV work split") */
#ifdef ZMOE_CPU
        float16 g16 = (float16)(0.0f), u16 = (float16)(0.0f);
        float16 g16b = (float16)(0.0f), u16b = (float16)(0.0f);
        for (; c + 32u <= p.y; c += 32u) {
            const float16 x0 = ld16(x, xoff + c, adt) * xs, x1 = ld16(x, xoff + c + 16u, adt) * xs;
            g16 = mad(ld16(w, grow + c, wdt), x0, g16);
            u16 = mad(ld16(w, urow + c, wdt), x0, u16);
            g16b = mad(ld16(w, grow + c + 16u, wdt), x1, g16b);
            u16b = mad(ld16(w, urow + c + 16u, wdt), x1, u16b);
        }
        g = fold16(g16 + g16b);
        u = fold16(u16 + u16b);
#endif
        float4 g1 = (float4)(0.0f), u1 = (float4)(0.0f);
        for (; c + 8u <= p.y; c += 8u) {
            const float4 x0 = ld4(x, xoff + c, adt) * xs, x1 = ld4(x, xoff + c + 4u, adt) * xs;
            g = mad(ld4(w, grow + c, wdt), x0, g);
            u = mad(ld4(w, urow + c, wdt), x0, u);
            g1 = mad(ld4(w, grow + c + 4u, wdt), x1, g1);
            u1 = mad(ld4(w, urow + c + 4u, wdt), x1, u1);
        }
        g += g1;
        u += u1;
    }
    for (; c < p.y; c += p.z) {
        if (mode == MODE_WIDE) {
            const float8 xv = ld8(x, xoff + c, adt) * xs;
            const float8 gv = ld8(w, grow + c, wdt), uv = ld8(w, urow + c, wdt);
            g = mad(gv.hi, xv.hi, mad(gv.lo, xv.lo, g));
            u = mad(uv.hi, xv.hi, mad(uv.lo, xv.lo, u));
        } else {
            const float4 xv = ld4(x, xoff + c, adt) * xs;
            g = mad(ld4(w, grow + c, wdt), xv, g);
            u = mad(ld4(w, urow + c, wdt), xv, u);
        }
    }
    float2 r = (float2)(hsum4(g), hsum4(u));
    if (l == 0)
        for (uint c = mode == MODE_WIDE ? n : (n & ~3u); c < n; c++) {
            const float xv = ld1(x, xoff + c, adt) * xs;
            r.x += ld1(w, grow + c, wdt) * xv;
            r.y += ld1(w, urow + c, wdt) * xv;
        }
    return r;
}

/* One specialised copy per mode, chosen by a uniform value outside the loop. */
INLINE float dot_mode(__global const void *w, size_t wrow, __global const void *x, size_t xoff,
                      uint n, uint l, uint lanes, const uint wdt, const uint adt, uint mode)
{
    if (mode == MODE_SPANS)
        return dot_part(w, wrow, x, xoff, n, l, lanes, wdt, adt, MODE_SPANS);
    if (mode == MODE_WIDE)
        return dot_part(w, wrow, x, xoff, n, l, lanes, wdt, adt, MODE_WIDE);
    return dot_part(w, wrow, x, xoff, n, l, lanes, wdt, adt, MODE_NARROW);
}

INLINE float2 dot2_mode(__global const void *w, size_t grow, size_t urow, __global const void *x,
                        size_t xoff, float xs, uint n, uint l, uint lanes, const uint wdt,
                        const uint adt, uint mode)
{
    if (mode == MODE_SPANS)
        return dot2_part(w, grow, urow, x, xoff, xs, n, l, lanes, wdt, adt, MODE_SPANS);
    if (mode == MODE_WIDE)
        return dot2_part(w, grow, urow, x, xoff, xs, n, l, lanes, wdt, adt, MODE_WIDE);
    return dot2_part(w, grow, urow, x, xoff, xs, n, l, lanes, wdt, adt, MODE_NARROW);
}

/* Token rows per register tile of expert_up on GPUs (interleaved 16-byte split): a lane
 * loads each chunk of its gate and up rows once and multiplies it with ZMOE_RT token
 * rows (or 2; one row takes dot2_part). Rows one at a time re-read both weight rows per
 * token row, so expert_up's time grew with the pairs, not with the weights. On the H200
 * (kernels/README.md, "Token-row tiles"), Mixtral-8x7B expert_up: T=8 856 -> 595 us,
 * T=1 127 -> 132. What mattered there:
 *  - each tile copy's row count is a compile-time constant: one copy taking 1..4 rows
 *    at run time (guards in the chunk loop) ran Mixtral's T=1 layer in 312 us, not 210;
 *  - one scalar sum per token row and weight row (dot per octet), not a float4: the
 *    float4s' registers cost the whole kernel occupancy, T=1 included; the sums are
 *    the components of a float4 (add_at), not an array: IGC kept the array in 1 KiB of
 *    private memory per work-group on PVC;
 *  - the rows' offsets and weights travel as a uint4 / float4 by value;
 *  - expert_down stays one row a pass: tiled the same way, it lost 10-20% at T=1
 *    (Mixtral 60 -> 71 us: its few work-groups need the occupancy) and on Qwen3's
 *    short rows at every T;
 *  - the quantized kernels keep one row a pass, and their float shared expert the
 *    single-row dot2_any: routed through the tile code, the mere presence of that copy
 *    cost expert_up_qint8 14-18% at T=2..4.
 * CPUs (spans) and other row lengths (MODE_NARROW) take one row a pass; on a CPU a
 * lane's weight span stays in L1/L2 for the next row anyway. */
#define ZMOE_RT 4u /* the width of the uint4 / float4 that carry a pass's rows */

INLINE uint u4_at(uint4 v, uint i)
{
    return i == 0u ? v.x : i == 1u ? v.y : i == 2u ? v.z : v.w;
}

INLINE float f4_at(float4 v, uint i)
{
    return i == 0u ? v.x : i == 1u ? v.y : i == 2u ? v.z : v.w;
}

INLINE float4 add_at(float4 v, uint i, float d)
{
    if (i == 0u)
        v.x += d;
    else if (i == 1u)
        v.y += d;
    else if (i == 2u)
        v.z += d;
    else
        v.w += d;
    return v;
}

/* Rows the next pass takes of the rem rows left in a tile. */
INLINE uint tile_take(uint rem, uint mode, const uint tiled)
{
    if (mode != MODE_WIDE || !tiled)
        return 1u;
    return rem >= ZMOE_RT ? ZMOE_RT : rem >= 2u ? 2u : 1u;
}

/* expert_up's pair over NR (2 or ZMOE_RT) token rows, MODE_WIDE: lane l's shares of
 * w[grow..] . xs_r*x[xoff_r..] and w[urow..] . xs_r*x[xoff_r..] (component r of xoff and
 * xs), written to out[2r * ZMOE_WG] (gate) and out[(2r + 1) * ZMOE_WG] (up). Each
 * weight chunk is loaded once for all rows, each x chunk once for both weight rows; the
 * routing weight xs_r scales x as it is loaded, in f32, as in dot2_part. */
INLINE void dot2_tile(__global const void *w, size_t grow, size_t urow, __global const void *x,
                      uint4 xoff, float4 xs, uint n, uint l, uint lanes, const uint wdt,
                      const uint adt, const uint NR, __local float *out)
{
    const uint3 p = lane_split(n, l, lanes, MODE_WIDE);
    float4 g = (float4)(0.0f), u = (float4)(0.0f); /* component r: token row r */
    for (uint c = p.x; c < p.y; c += p.z) {
        const float8 gv = ld8(w, grow + c, wdt), uv = ld8(w, urow + c, wdt);
        for (uint r = 0; r < NR; r++) {
            const float8 xv = ld8(x, u4_at(xoff, r) + c, adt) * f4_at(xs, r);
            g = add_at(g, r, dot(gv.lo, xv.lo) + dot(gv.hi, xv.hi));
            u = add_at(u, r, dot(uv.lo, xv.lo) + dot(uv.hi, xv.hi));
        }
    }
    for (uint r = 0; r < NR; r++) {
        out[2u * r * ZMOE_WG] = f4_at(g, r);
        out[(2u * r + 1u) * ZMOE_WG] = f4_at(u, r);
    }
}

/* expert_up's pair over nr = tile_take(...) token rows: the tile copy of that row count,
 * or dot2_part for one row (any mode). */
INLINE void dot2_rows(__global const void *w, size_t grow, size_t urow, __global const void *x,
                      uint4 xoff, float4 xs, uint nr, uint n, uint l, uint lanes, const uint wdt,
                      const uint adt, uint mode, __local float *out)
{
    if (nr == ZMOE_RT) {
        dot2_tile(w, grow, urow, x, xoff, xs, n, l, lanes, wdt, adt, ZMOE_RT, out);
    } else if (nr == 2u) {
        dot2_tile(w, grow, urow, x, xoff, xs, n, l, lanes, wdt, adt, 2u, out);
    } else {
        const float2 gu = dot2_mode(w, grow, urow, x, xoff.x, xs.x, n, l, lanes, wdt, adt, mode);
        out[0] = gu.x;
        out[ZMOE_WG] = gu.y;
    }
}

/* The LANES partials of (row r, column j) sit at red[r][j*lanes + l]. With 16 or more
 * lanes (GPU shapes) they are folded in two steps: lanes/4 work-items each add a group
 * of 4 in place (lane_fold, between two barriers), then lane_sum adds the lanes/4
 * group sums: a serial chain of 8 local reads instead of 32 at 32 lanes. With fewer
 * lanes (CPU shapes) lane_fold does nothing and lane_sum adds all partials. */
#define ZMOE_FOLD_LANES 16u

INLINE void lane_fold(__local float *red, uint rows, uint j, uint l, uint lanes)
{
    if (lanes < ZMOE_FOLD_LANES || l >= lanes / 4u)
        return;
    for (uint r = 0; r < rows; r++) {
        __local float *g = red + r * ZMOE_WG + j * lanes + 4u * l;
        g[0] = (g[0] + g[1]) + (g[2] + g[3]);
    }
}

INLINE float lane_sum(__local const float *red, uint r, uint j, uint lanes)
{
    const uint step = lanes >= ZMOE_FOLD_LANES ? 4u : 1u;
    float s = 0.0f;
    for (uint l = 0; l < lanes; l += step)
        s += red[r * ZMOE_WG + j * lanes + l];
    return s;
}

/* ------------------------------------------------------------------ router */

/* Work-group (i, t): rows [i*NOUT, (i+1)*NOUT) of the virtual matrix [Wr; shared_gate]
 * (E + 1 rows) for token tile t (ROUTER_TOKENS tokens; tiles past T have none): many
 * work-groups at any T (the grid's second dimension covers max_tokens), rather than
 * ceil((E+1)/NOUT) work-groups walking all tokens (25-30% of a T=8 layer on an H200).
 * One token per work-group measured best there: the router's weights are small and
 * come from L2 for the other tokens; parallelism is what the router lacked. */
INLINE void router_body(__global const uint *tokens, __global const uint *prm,
                        __global const void *x, __global const void *wr,
                        __global const float *br, __global const void *wgate,
                        __global float *logits, uint H, uint E, uint lane_spans,
                        __local float *red, const uint wdt, const uint adt)
{
    const uint l = get_local_id(0), j = get_local_id(1);
    const uint lanes = get_local_size(0);
    const uint row = get_group_id(0) * get_local_size(1) + j;
    const uint T = tokens[0], flags = prm[P_FLAGS];
    /* tiles past T have no rows (uniform over the work-group; no early return before
     * the barrier: PoCL 3.1 then carried `active` across it wrongly) */
    const uint t0 = get_group_id(1) * ZMOE_ROUTER_TOKENS;
    const uint cnt = t0 < T ? min((uint)ZMOE_ROUTER_TOKENS, T - t0) : 0u;
    const bool active = row < E || (row == E && (flags & F_SHARED_GATE));
    __global const void *w = row < E ? wr : wgate;
    const size_t wrow = row < E ? (size_t)row * H : 0;
    const uint mode = pick_mode(lane_spans, H);

    for (uint r = 0; r < cnt; r++) {
        const size_t xoff = (size_t)(t0 + r) * H;
        red[r * ZMOE_WG + j * lanes + l] =
            active ? dot_mode(w, wrow, x, xoff, H, l, lanes, wdt, adt, mode) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    lane_fold(red, cnt, j, l, lanes);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (active && l == 0) {
        const float bias = (row < E && (flags & F_ROUTER_BIAS)) ? br[row] : 0.0f;
        for (uint r = 0; r < cnt; r++)
            logits[(size_t)(t0 + r) * (E + 1) + row] = lane_sum(red, r, j, lanes) + bias;
    }
}

/* ------------------------------------------------------------------ align */

/* A strict total order on (choice, expert): higher choice first, ties to the lower
 * index, NaN after everything, -0 equal to +0. As a key: a larger key ranks first.
 * Being total, ranks are a permutation: every top-k slot gets exactly one expert,
 * whatever the values (a NaN router output cannot leave a slot unwritten). */
INLINE uint order_key(float v)
{
    if (isnan(v))
        return 0u;
    const uint u = as_uint(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

INLINE bool ranks_before(uint ka, uint ia, uint kb, uint ib)
{
    return ka > kb || (ka == kb && ia < ib);
}

/* Work-group exclusive prefix sum of v[0..n) in place (local memory), all items
 * taking part; returns the total. part[] holds one entry per work-item. Each item scans
 * a contiguous chunk, the chunk sums are scanned (Hillis-Steele, double-buffered), then
 * added back: 2*log2(items) barriers whatever n. */
INLINE uint wg_exclusive_scan(__local uint *v, uint n, __local uint *part, uint lid, uint ls)
{
    const uint chunk = (n + ls - 1u) / ls, b = min(n, lid * chunk), e = min(n, b + chunk);
    uint sum = 0;
    for (uint i = b; i < e; i++)
        sum += v[i];
    part[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    uint in = 0;
    for (uint d = 1; d < ls; d <<= 1) {
        const uint s = part[in * ls + lid] + (lid >= d ? part[in * ls + lid - d] : 0u);
        part[(1u - in) * ls + lid] = s;
        in = 1u - in;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    uint run = part[in * ls + lid] - sum; /* exclusive prefix of this chunk */
    const uint total = part[in * ls + ls - 1u];
    for (uint i = b; i < e; i++) {
        const uint c = v[i];
        v[i] = run;
        run += c;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* Tokens routed at once (one team of align work-items each), bounded by the scores and
 * keys they hold in local memory (P * E <= ALIGN_SCORES) and their top-k slots
 * (P * K <= ALIGN_SLOTS). */
#define ALIGN_TEAMS 8u
#define ALIGN_SCORES 2048u
#define ALIGN_SLOTS 512u
#define ALIGN_WG_MAX 256u

INLINE float group_score(__local const float *s, __global const float *sb, bool use_sb, uint g,
                         uint per)
{
    float b1 = -INFINITY, b2 = -INFINITY;
    for (uint e = g * per; e < (g + 1) * per; e++) {
        const float c = s[e] + (use_sb ? sb[e] : 0.0f);
        if (c > b1) {
            b2 = b1;
            b1 = c;
        } else if (c > b2) {
            b2 = c;
        }
    }
    return use_sb ? b1 + (per > 1 ? b2 : 0.0f) : b1;
}

/* The tail both align kernels share, once every pair (t, k) of the T tokens has its
 * expert in topk_ids[t*K+k] (global, written by this work-group before a global fence)
 * and its position inside that expert in inv[t*K+k], cnt[e] holding each expert's
 * pair count: row offsets and tile offsets (two work-group prefix sums), the tile list
 * (routed experts in expert order, then the shared expert's tiles when F_SHARED), the
 * placement sorted[row] = t*K+k / inv[t*K+k] = row, and the group counts of the three
 * indirect launches (groups[0..2] expert_up, [3..5] expert_down, [6..8] combine), and
 * zeroes the fused combine's counters (combine_tail). Every work-item calls it and
 * reaches every barrier. */
/* Expert parallel: is expert e owned here (F_SHARD), and its index in this
 * participant's weights (owned experts below e). */
INLINE bool owned(__global const uint *prm, uint flags, uint e)
{
    return !(flags & F_SHARD) || ((prm[P_OWNED + e / 32u] >> (e % 32u)) & 1u);
}
INLINE uint local_expert(__global const uint *prm, uint flags, uint e)
{
    if (!(flags & F_SHARD))
        return e;
    uint n = 0;
    for (uint w = 0; w < e / 32u; w++)
        n += popcount(prm[P_OWNED + w]);
    return n + popcount(prm[P_OWNED + e / 32u] & ((1u << (e % 32u)) - 1u));
}

INLINE void align_place(uint T, uint K, uint E, uint flags, __global const uint *prm,
                        volatile __global const uint *topk_ids,
                        __global uint *sorted, volatile __global uint *inv, __global uint4 *tiles,
                        __global uint *groups, __global uint *done, __local uint *cnt,
                        __local uint *off, __local uint *toff, __local uint *part, uint lid,
                        uint ls, uint gx_up, uint gx_down, uint gx_combine)
{
    const uint TK = T * K;
    /* expert_down's fused combine counts rows per (token, column block) from zero */
    for (uint i = lid; i < T * gx_down; i += ls)
        done[i] = 0;
    /* experts another participant owns get no rows and no tiles here (F_SHARD) */
    for (uint e = lid; e < E; e += ls) {
        if (!owned(prm, flags, e))
            cnt[e] = 0;
        off[e] = cnt[e];
        toff[e] = (cnt[e] + ZMOE_RMAX - 1u) / ZMOE_RMAX;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    wg_exclusive_scan(off, E, part, lid, ls);
    const uint routed_tiles = wg_exclusive_scan(toff, E, part, lid, ls);
    for (uint e = lid; e < E; e += ls) {
        const uint c = cnt[e], o = off[e], le = c ? local_expert(prm, flags, e) : 0u;
        uint tb = toff[e];
        for (uint r = 0; r < c; r += ZMOE_RMAX)
            tiles[tb++] = (uint4)(le, o + r, min((uint)ZMOE_RMAX, c - r), 0u);
    }
    /* placement: row = the expert's offset + the position taken above; a pair of an
     * expert owned elsewhere has no row (combine skips it) */
    for (uint p = lid; p < TK; p += ls) {
        const uint e = topk_ids[p];
        if (!owned(prm, flags, e)) {
            inv[p] = NO_ROW;
            continue;
        }
        const uint q = off[e] + inv[p];
        sorted[q] = p;
        inv[p] = q;
    }
    const uint shared_tiles = (flags & F_SHARED) ? (T + ZMOE_RMAX - 1u) / ZMOE_RMAX : 0u;
    for (uint i = lid; i < shared_tiles; i += ls)
        tiles[routed_tiles + i] = (uint4)(E, i * ZMOE_RMAX, min((uint)ZMOE_RMAX, T - i * ZMOE_RMAX), 0u);
    if (lid == 0) {
        const uint nt = routed_tiles + shared_tiles;
        groups[0] = gx_up;
        groups[1] = nt;
        groups[2] = 1;
        groups[3] = gx_down;
        groups[4] = nt;
        groups[5] = 1;
        groups[6] = gx_combine;
        groups[7] = T;
        groups[8] = 1;
    }
}

/* The max (is_max) or the sum of one team's scores s[0..n): each member folds its
 * strided share, then a tree over the first min(team, n) members' partials in r
 * (the team's own team floats: every member writes r[member]; ceil(log2) steps, one
 * barrier each); every member gets the result. Every work-item of the group calls it,
 * members of no token (mine false) included (they only pass the barriers), and it ends
 * with a barrier, so r can be reused at once. The tree's shape depends on team and n only: the same scores give the same sum on every call. Was:
 * every member summed all n serially, n local reads in a chain (about 9 of align's
 * 13.7 us at T=1 on an H200 for E=128; on a CPU, team * n reads). */
INLINE float team_reduce(__local const float *s, uint n, __local float *r, uint member,
                         uint team, bool mine, const bool is_max)
{
    float v = is_max ? -INFINITY : 0.0f;
    if (mine)
        for (uint e = member; e < n; e += team)
            v = is_max ? fmax(v, s[e]) : v + s[e];
    r[member] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint w = min(team, n);
    for (uint d = 1; d < w; d <<= 1) {
        if (mine && (member & (2u * d - 1u)) == 0 && member + d < w)
            r[member] = is_max ? fmax(r[member], r[member + d]) : r[member] + r[member + d];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = r[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* Token t's routing, by one team of work-items (align: up to ALIGN_TEAMS teams of one
 * work-group at a time; the fused router: the whole work-group), each member owning
 * experts member, member + team, ...: scores (softmax | sigmoid) in local memory, group
 * eligibility (grouped top-k), then each eligible expert's rank among the eligible ones,
 * counted against all E choices in a strict total order: no serial top-k, no reduction
 * tree, and ranks < K are the token's top-k in order. Writes gate[t], topk_ids, topk_w
 * and, with count_rows (a compile-time constant; align), in inv[t*K+k] the pair's row
 * position inside its expert, an atomic increment of its count in cnt (the fused router
 * counts all pairs at once in its last work-group, route_tail). s, ky (E entries),
 * gscore, gok (64), slot_id, slot_w (K) and red (team) are the team's own local
 * arrays. Every work-item of the group calls it (mine false:
 * only the barriers); logits are read through a volatile pointer, as the fused router
 * reads what other work-groups wrote during the kernel (combine_tail says why). */
INLINE void route_team(uint t, uint member, uint team, bool mine, uint E, uint K, uint G,
                       uint topk_group, uint flags, float scale, volatile __global const float *lg,
                       __global const float *score_bias, __local float *s, __local uint *ky,
                       __local float *gscore, __local uint *gok, __local uint *slot_id,
                       __local float *slot_w, __local float *red, __local uint *cnt,
                       __global uint *topk_ids, __global float *topk_w, __global float *gate,
                       __global uint *inv, const bool count_rows)
{
    const bool use_sb = (flags & F_SCORE_BIAS) != 0, sig = (flags & F_SIGMOID) != 0;
    const uint per = E / G;
    if (mine) {
        if (member == 0)
            gate[t] = (flags & F_SHARED_GATE) ? sigmoidf(lg[E]) : 1.0f;
        for (uint e = member; e < E; e += team)
            s[e] = lg[e];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* softmax: the team's max and sum as tree reductions (unused with sigmoid scores;
     * called regardless, so every work-item reaches their barriers) */
    const float m = team_reduce(s, E, red, member, team, mine, true);
    if (mine)
        for (uint e = member; e < E; e += team)
            s[e] = sig ? sigmoidf(s[e]) : exp(s[e] - m);
    barrier(CLK_LOCAL_MEM_FENCE);
    const float sum = team_reduce(s, E, red, member, team, mine, false);
    if (mine && !sig) {
        const float inv_sum = 1.0f / sum;
        for (uint e = member; e < E; e += team)
            s[e] *= inv_sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* grouped top-k: group scores (G <= 64), then the topk_group best stay eligible */
    if (mine && G > 1)
        for (uint g = member; g < G; g += team)
            gscore[g] = group_score(s, score_bias, use_sb, g, per);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (mine && G > 1)
        for (uint g = member; g < G; g += team) {
            const uint kg = order_key(gscore[g]);
            uint grank = 0;
            for (uint h = 0; h < G; h++)
                grank += ranks_before(order_key(gscore[h]), h, kg, g) ? 1u : 0u;
            gok[g] = grank < topk_group;
        }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* each expert's key once: its choice (score + score bias) in the total order, 0 for
     * an expert of a group not kept; an eligible key is >= 1 (a NaN choice, key 0 in
     * order_key, becomes 1), so ineligible experts rank after all eligible ones and the
     * rank loop needs no group test */
    if (mine)
        for (uint e = member; e < E; e += team)
            ky[e] = G > 1 && !gok[e / per]
                        ? 0u
                        : max(order_key(s[e] + (use_sb ? score_bias[e] : 0.0f)), 1u);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (mine)
        for (uint e = member; e < E; e += team) {
            const uint ke = ky[e];
            if (ke == 0)
                continue;
            /* four keys a step (one 16-byte local load): the top experts walk all E */
            uint rank = 0, f = 0;
            for (; f + 4u <= E && rank < K; f += 4u) {
                const uint4 k4 = vload4(f / 4u, ky);
                rank += (ranks_before(k4.x, f, ke, e) ? 1u : 0u) +
                        (ranks_before(k4.y, f + 1u, ke, e) ? 1u : 0u) +
                        (ranks_before(k4.z, f + 2u, ke, e) ? 1u : 0u) +
                        (ranks_before(k4.w, f + 3u, ke, e) ? 1u : 0u);
            }
            for (; f < E && rank < K; f++)
                rank += ranks_before(ky[f], f, ke, e) ? 1u : 0u;
            if (rank < K) {
                slot_id[rank] = e;
                slot_w[rank] = s[e];
            }
        }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* weights: the chosen scores, renormalised (summed in k order) and scaled; inv holds
     * the row position inside the expert until the offsets are known (any order of the
     * rows gives the same y: rows are computed independently; combine sums each token's
     * k in order) */
    if (mine)
        for (uint k = member; k < K; k += team) {
            float wsum = 0.0f;
            for (uint q = 0; q < K; q++)
                wsum += slot_w[q];
            const uint e = slot_id[k];
            const float w = slot_w[k];
            topk_ids[(size_t)t * K + k] = e;
            topk_w[(size_t)t * K + k] = ((flags & F_RENORM) ? w / wsum : w) * scale;
            if (count_rows)
                inv[(size_t)t * K + k] = atomic_inc(&cnt[e]);
        }
}

/* One work-group (at most ALIGN_WG_MAX items). Tokens are routed in parallel, one team
 * of work-items per token (up to ALIGN_TEAMS tokens at a time, route_team), counting
 * each expert's pairs in local memory; then align_place: prefix sums (row offsets and
 * tile offsets), the tile list, the deterministic placement sorted[row] = t*K+k /
 * inv[t*K+k] = row, and the group counts of the three indirect launches that follow:
 * groups[0..2] / [3..5] / [6..8] for expert_up, expert_down and combine. Every barrier
 * is reached by every work-item (no barrier under a condition). */
__kernel void align(__global const uint *tokens, __global const uint *prm,
                    __global float *logits, __global const float *score_bias,
                    __global uint *topk_ids, __global float *topk_w, __global float *gate,
                    __global uint *sorted, __global uint *inv, __global uint4 *tiles,
                    __global uint *groups, __global uint *done, uint E, uint K, uint G,
                    uint topk_group, uint gx_up, uint gx_down, uint gx_combine)
{
    __local float score[ALIGN_SCORES];
    __local uint key[ALIGN_SCORES];
    __local float gscore[ALIGN_TEAMS * 64];
    __local uint gok[ALIGN_TEAMS * 64];
    __local uint slot_id[ALIGN_SLOTS];
    __local float slot_w[ALIGN_SLOTS];
    __local uint cnt[ZMOE_EMAX], off[ZMOE_EMAX], toff[ZMOE_EMAX];
    __local uint part[2 * ALIGN_WG_MAX];
    __local float red[ALIGN_WG_MAX];
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const uint T = tokens[0];
    const uint flags = prm[P_FLAGS];
    const float scale = as_float(prm[P_SCALING]);
    const uint P = max(1u, min(min(T, ALIGN_TEAMS), min(ALIGN_SLOTS / K, ALIGN_SCORES / E)));
    const uint team = ls / P, tm = lid / team, member = lid % team;

    for (uint e = lid; e < E; e += ls)
        cnt[e] = 0;
    for (uint t0 = 0; t0 < T; t0 += P) {
        const uint t = t0 + tm;
        const bool mine = tm < P && t < T;
        const uint own = mine ? tm : 0u;
        route_team(mine ? t : 0u, member, team, mine, E, K, G, topk_group, flags, scale,
                   logits + (size_t)(mine ? t : 0u) * (E + 1), score_bias, score + own * E,
                   key + own * E, gscore + own * 64, gok + own * 64, slot_id + own * K,
                   slot_w + own * K, red + tm * team, cnt, topk_ids, topk_w, gate, inv, true);
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    }

    align_place(T, K, E, flags, prm, topk_ids, sorted, inv, tiles, groups, done, cnt, off, toff, part,
                lid, ls, gx_up, gx_down, gx_combine);
}

/* ------------------------------------------------------------------ fused routing */

/* The router with align inside it (route_w<W>_a<A>; the launch plan's choice where
 * K <= ROUTE_SLOTS): one launch fewer, and each token's top-k in a work-group of its own
 * rather than a team of align's one work-group. Two last arrivers, found with counters
 * in act.route_counts (zeroed once at init; whoever finishes with a counter resets it,
 * so every call starts from zero):
 *   rc[t], t < max_tokens  router work-groups done with token t: the one that brings it
 *                          to the grid width routes t (route_team, the whole group as
 *                          the team);
 *   rc[max_tokens]         tokens routed: the group routing the T-th (at T = 1 the only
 *                          one, without the counter) counts every pair's row position
 *                          in its expert with local atomics, as align_routed does, and
 *                          runs align_place.
 * Each writer orders its global writes before its count with barrier(CLK_GLOBAL_MEM_FENCE)
 * and the reader reads them through volatile pointers (combine_tail says why). The
 * branches taken by the last arrivers are uniform over their work-group (a flag in
 * local memory, read after a barrier). T is clamped to the grid's tokens; with T = 0
 * group (0, 0) writes the empty tile list. Local memory: one block, the token phase's
 * arrays then, aliased, align_place's. */
#define ROUTE_SLOTS 64u
#define ROUTE_LOCAL_WORDS (3u * ZMOE_EMAX + 2u * ZMOE_WG)

INLINE void route_tail(__global const uint *tokens, __global const uint *prm,
                       __global const float *logits, __global const float *score_bias,
                       __global uint *topk_ids, __global float *topk_w, __global float *gate,
                       __global uint *sorted, __global uint *inv, __global uint4 *tiles,
                       __global uint *groups, __global uint *done, __global uint *rc, uint E,
                       uint K, uint G, uint topk_group, uint gx_up, uint gx_down,
                       uint gx_combine, __local float *red, __local uint *lm, __local uint *fin)
{
    const uint lid = get_local_id(1) * get_local_size(0) + get_local_id(0);
    const uint ls = get_local_size(0) * get_local_size(1);
    const uint nt = get_num_groups(1) * ZMOE_ROUTER_TOKENS, t = get_group_id(1);
    const uint T = min(tokens[0], nt), flags = prm[P_FLAGS];
    volatile __global uint *vrc = rc;
    barrier(CLK_GLOBAL_MEM_FENCE); /* this group's logits before its count */
    if (lid == 0) {
        fin[0] = t < T && atomic_inc(&vrc[t]) == get_num_groups(0) - 1u;
        fin[1] = T == 0 && t == 0 && get_group_id(0) == 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (fin[0]) {
        route_team(t, lid, ls, true, E, K, G, topk_group, flags, as_float(prm[P_SCALING]),
                   logits + (size_t)t * (E + 1), score_bias, (__local float *)lm, lm + E,
                   (__local float *)(lm + 2u * E), lm + 2u * E + 64u, lm + 2u * E + 128u,
                   (__local float *)(lm + 2u * E + 128u + ROUTE_SLOTS), red, lm, topk_ids,
                   topk_w, gate, inv, false);
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE); /* its pairs before the count */
        if (lid == 0) {
            vrc[t] = 0;
            fin[1] = T == 1u || atomic_inc(&vrc[nt]) == T - 1u;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (fin[1]) {
        __local uint *cnt = lm, *off = lm + E, *toff = lm + 2u * E, *part = lm + 3u * E;
        volatile __global const uint *ids = topk_ids;
        if (lid == 0 && T > 1u)
            vrc[nt] = 0;
        for (uint e = lid; e < E; e += ls)
            cnt[e] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint p = lid; p < T * K; p += ls)
            inv[p] = atomic_inc(&cnt[ids[p]]);
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        align_place(T, K, E, flags, prm, topk_ids, sorted, inv, tiles, groups, done, cnt, off,
                    toff, part, lid, ls, gx_up, gx_down, gx_combine);
    }
}

/* The experts-only call (zmoe_record_experts): the caller's routing instead of the
 * router's. One work-group, like align. Every pair p = t*K+k of the T tokens copies the
 * caller's ids_in[p] (u32) and w_in[p] (f32) into topk_ids / topk_w, so expert_up,
 * expert_down and combine run unchanged, and takes its row position inside its expert;
 * then align's tail (align_place). Bounds: an id >= E is never used: the pair runs as
 * expert 0 with weight 0, and the call's status words (host-visible, status[0..3]) say
 * so: status[0] += bad pairs; when status[0] was 0, status[1..3] = the first bad pair's
 * token, k and id (in t*K+k order). The host clears them (zmoe_routing_status). gate is
 * not written: the experts-only call has no shared expert (F_SHARED is clear). */
__kernel void align_routed(__global const uint *tokens, __global const uint *prm,
                           __global const uint *ids_in, __global const float *w_in,
                           __global uint *status, __global uint *topk_ids, __global float *topk_w,
                           __global uint *sorted, __global uint *inv, __global uint4 *tiles,
                           __global uint *groups, __global uint *done, uint E, uint K,
                           uint gx_up, uint gx_down, uint gx_combine)
{
    __local uint cnt[ZMOE_EMAX], off[ZMOE_EMAX], toff[ZMOE_EMAX];
    __local uint part[2 * ALIGN_WG_MAX];
    __local uint bad[2]; /* the first bad pair (t*K+k), the number of bad pairs */
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const uint T = tokens[0], TK = T * K;
    const uint flags = prm[P_FLAGS];

    for (uint e = lid; e < E; e += ls)
        cnt[e] = 0;
    if (lid == 0) {
        bad[0] = 0xffffffffu;
        bad[1] = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint p = lid; p < TK; p += ls) {
        uint id = ids_in[p];
        float w = w_in[p];
        if (id >= E) {
            atomic_min(&bad[0], p);
            atomic_inc(&bad[1]);
            id = 0;
            w = 0.0f;
        }
        topk_ids[p] = id;
        topk_w[p] = w;
        inv[p] = atomic_inc(&cnt[id]);
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    if (lid == 0 && bad[1] != 0u) {
        const uint first = bad[0], seen = status[0];
        if (seen == 0u) {
            status[1] = first / K;
            status[2] = first % K;
            status[3] = ids_in[first];
        }
        status[0] = min(seen, 0xffffffffu - bad[1]) + bad[1];
    }
    align_place(T, K, E, flags, prm, topk_ids, sorted, inv, tiles, groups, done, cnt, off, toff, part,
                lid, ls, gx_up, gx_down, gx_combine);
}

/* ------------------------------------------------------------------ quantized rows */

/* Quantized expert matrices (weights/quant.h; kernels/README.md "Quantized weights").
 * One arena tensor per matrix holds its parts (codes, scales, zeros, perm); the kernels
 * get the tensor's base pointer and each part's offset in units of 64 bytes
 * (ZMOE_QUANT_ALIGN) by value, so the same arguments work as Level Zero pointers and as
 * OpenCL buffers (sub-buffers would need CL_DEVICE_MEM_BASE_ADDR_ALIGN, 4 KiB on some
 * drivers, not 64 bytes). Codes are read 16 bytes (one uint4) at a time: 32 values of
 * int4/mxfp4 or 16 of int8/fp8, always inside one group (groups are multiples of 32
 * along the row), so a chunk needs one scale and one zero, and each code is decoded in
 * registers right before its multiply-add. f32 throughout; the chunk's dot product is
 * scaled once by its group's scale. */
#define Q_NONE 0u  /* enum zmoe_quant_format: float experts */
#define Q_INT4 1u
#define Q_INT8 2u
#define Q_FP8 3u
#define Q_MXFP4 4u

#define SC_F16 0u /* enum zmoe_scale_dtype */
#define SC_BF16 1u
#define SC_F32 2u
#define SC_E8M0 3u

/* The by-value `qflags` word (runtime/launch.c builds it). */
#define QF_SCALE_MASK 3u     /* scale dtype (SC_*) of the quantized matrices */
#define QF_ZEROS 4u          /* uint8 zero points per (row, group); else 2^(bits-1) */
#define QF_PERM 8u           /* act-order: column c' multiplies x[perm[c']] */
#define QF_SHARED_Q 16u      /* the shared expert's matrices are quantized too */
#define QF_SHARED_DT_SHIFT 5 /* else their float dtype (DT_*), 2 bits */

#define QALIGN 64u /* ZMOE_QUANT_ALIGN: the unit of the part offsets */

INLINE uint qbits(const uint fmt)
{
    return (fmt == Q_INT4 || fmt == Q_MXFP4) ? 4u : 8u;
}

/* e8m0: 2^(e-127); 255 is NaN. e == 0 (2^-127) is an f32 subnormal: exact where the
 * device keeps subnormals, flushed to 0 where it does not (OpenCL allows both). */
INLINE float e8m0(uint e)
{
    return e == 255u ? as_float(0x7fc00000u) : e == 0u ? as_float(0x00400000u) : as_float(e << 23);
}

INLINE float qscale(__global const uchar *s, size_t i, uint sdt, const uint fmt)
{
    if (fmt == Q_MXFP4)
        return e8m0(s[i]);
    if (sdt == SC_F32)
        return ((__global const float *)s)[i];
    if (sdt == SC_F16)
        return vload_half(0, (__global const half *)s + i);
    return as_float((uint)((__global const ushort *)s)[i] << 16);
}

/* fp8 e4m3fn without a table: normal (e >= 1) is 2^(e-7) (1 + m/8): the f32 with
 * exponent e + 120 and mantissa m << 20; subnormal (e == 0) is m 2^-9, exact in f32
 * (an integer times a power of two); 0x7f / 0xff are NaN (no infinities); the sign bit
 * goes on last (-0 stays -0). */
INLINE float8 e4m3_8(uint8 q)
{
    const uint8 sign = (q & 0x80u) << 24, em = q & 0x7fu;
    const uint8 nrm = (em << 20) + (120u << 23);
    const uint8 sub = as_uint8(convert_float8(em & 7u) * 0.001953125f);
    uint8 mag = select(nrm, sub, (em >> 3) == 0u);
    mag = select(mag, (uint8)(0x7fc00000u), em == 0x7fu);
    return as_float8(mag | sign);
}

/* e2m1 by arithmetic: in units of 0.5, e == 0 is m (0, 0.5) and e >= 1 is
 * (2 + m) << (e - 1) (1, 1.5, 2, 3, 4, 6); exact small integers times 0.5. */
INLINE float8 e2m1_8(uint8 q)
{
    const uint8 e = (q >> 1) & 3u, m = q & 1u;
    const uint8 halves = select(m, (2u + m) << (e - 1u), e != 0u);
    return as_float8(as_uint8(convert_float8(halves) * 0.5f) | ((q & 8u) << 28));
}

/* 8 consecutive values of a row: 4-bit formats from the 8 nibbles of w0 (least
 * significant first), 8-bit ones from the 4 bytes of w0 then of w1. Int codes come back
 * as q - z (exact in f32), fp codes as their value; the group scale is applied later. */
INLINE float8 dec8(uint w0, uint w1, float z, const uint fmt)
{
    if (qbits(fmt) == 4u) {
        const uint8 q = ((uint8)(w0) >> (uint8)(0u, 4u, 8u, 12u, 16u, 20u, 24u, 28u)) & 0xfu;
        if (fmt == Q_MXFP4)
            return e2m1_8(q);
        return convert_float8(q) - z;
    }
    const uint8 q = ((uint8)(w0, w0, w0, w0, w1, w1, w1, w1) >>
                     (uint8)(0u, 8u, 16u, 24u, 0u, 8u, 16u, 24u)) & 0xffu;
    if (fmt == Q_FP8)
        return e4m3_8(q);
    return convert_float8(q) - z;
}

/* x at columns c..c+7 of the row (c a multiple of 8): one 16-byte load, or with
 * act-order the gather x[perm[c..c+7]] (perm already at the expert's set). */
INLINE float8 xoct(__global const void *x, size_t xoff, uint c, __global const uint *perm,
                   const uint adt, const uint gather)
{
    if (!gather)
        return ld8(x, xoff + c, adt);
    const uint4 p0 = vload4(0, perm + c), p1 = vload4(0, perm + c + 4);
    return (float8)(ld1(x, xoff + p0.x, adt), ld1(x, xoff + p0.y, adt), ld1(x, xoff + p0.z, adt),
                    ld1(x, xoff + p0.w, adt), ld1(x, xoff + p1.x, adt), ld1(x, xoff + p1.y, adt),
                    ld1(x, xoff + p1.z, adt), ld1(x, xoff + p1.w, adt));
}

/* 4 values of an 8-bit format from the bytes of w (least significant first). */
INLINE float4 dec4(uint w, float z, const uint fmt)
{
    const uint4 q = ((uint4)(w) >> (uint4)(0u, 8u, 16u, 24u)) & 0xffu;
    if (fmt == Q_FP8)
        return e4m3_8((uint8)(q, q)).lo;
    return convert_float4(q) - z;
}

/* x at columns c..c+3 (c a multiple of 4), or the gather x[perm[c..c+3]]. */
INLINE float4 xquad(__global const void *x, uint c, __global const uint *perm, const uint adt,
                    const uint gather)
{
    if (!gather)
        return ld4(x, c, adt);
    const uint4 p = vload4(0, perm + c);
    return (float4)(ld1(x, p.x, adt), ld1(x, p.y, adt), ld1(x, p.z, adt), ld1(x, p.w, adt));
}

/* Row xoff (elements) of x as a pointer, so the loops index it with 32-bit offsets. */
INLINE __global const void *xrow(__global const void *x, size_t xoff, const uint adt)
{
    return (__global const uchar *)x + xoff * (adt == DT_F32 ? 4u : 2u);
}

/* The zero of a group: stored (QF_ZEROS) or implicit 2^(bits-1); fp formats have none. */
INLINE float qzero(__global const uchar *zeros, size_t i, uint qflags, const uint fmt)
{
    if (fmt == Q_FP8 || fmt == Q_MXFP4)
        return 0.0f;
    return (qflags & QF_ZEROS) ? (float)zeros[i] : (float)(1u << (qbits(fmt) - 1u));
}

/* Chunks of lane l: [k0, k1) step ks, chunks of 128/bits values. Interleaved for GPUs
 * (a row iteration of LANES lanes is one LANES*16-byte access); one contiguous run per
 * lane for CPUs (MODE_SPANS, as the float loops). Rows are multiples of 32 values, so
 * every chunk is whole: no tail. */
INLINE uint3 qlane_split(uint nch, uint l, uint lanes, const uint mode)
{
    if (mode == MODE_SPANS) {
        const uint span = (nch + lanes - 1u) / lanes, k0 = min(nch, l * span);
        return (uint3)(k0, min(nch, k0 + span), 1u);
    }
    return (uint3)(l, nch, lanes);
}

/* One quantized matrix as the loops read it: parts resolved from the tensor base. */
#define QPART(base, off) ((__global const uchar *)(base) + (size_t)(off) * QALIGN)

/* One 16-byte chunk of codes q (values c..c+V of a row, one group, zero z) times x:
 * the float4 partial, before the group scale. */
INLINE float4 qchunk1(uint4 q, float z, __global const void *x, size_t xoff, uint c,
                      __global const uint *perm, const uint fmt, const uint adt, const uint gather)
{
    /* a float4 partial summed per octet, not a float8 one: fewer live registers (PVC) */
    float4 t = (float4)(0.0f);
    for (uint o = 0; o < 128u / qbits(fmt) / 8u; o++) {
        const uint w0 = qbits(fmt) == 4u ? (o == 0 ? q.x : o == 1 ? q.y : o == 2 ? q.z : q.w)
                                         : (o == 0 ? q.x : q.z);
        const uint w1 = qbits(fmt) == 4u ? 0u : (o == 0 ? q.y : q.w);
        const float8 d = dec8(w0, w1, z, fmt) * xoct(x, xoff, c + 8u * o, perm, adt, gather);
        t += d.lo + d.hi;
    }
    return t;
}

/* Lane l's share of row r . (xs * x[xoff..]) for a quantized row of n values: codes at
 * uint4 index crow, scales from index srow, zeros from zrow, group of G values.
 * Interleaved (GPUs): scale and zero per chunk. Spans (CPUs): a lane's chunks are
 * contiguous, so its loop is blocked by group: the group's scale and zero (and the
 * division that finds the group) once per group, the inner loop decode only; per chunk
 * they had made int8 (16 values a chunk) twice as slow per value as int4 on hostdev. */
INLINE float qdot_part(__global const uint4 *codes, size_t crow, __global const uchar *scales,
                       size_t srow, __global const uchar *zeros, size_t zrow,
                       __global const uint *perm, __global const void *x, size_t xoff, float xs,
                       uint n, uint G, uint qflags, uint l, uint lanes, const uint fmt,
                       const uint adt, const uint mode, const uint gather)
{
    const uint V = 128u / qbits(fmt), sdt = qflags & QF_SCALE_MASK;
    const uint3 p = qlane_split(n / V, l, lanes, mode);
    const uint step = mode == MODE_SPANS ? 1u : p.z;
    float acc = 0.0f;
    for (uint k = p.x; k < p.y;) {
        const uint g = k * V / G;
        const uint kend = mode == MODE_SPANS ? min(p.y, (g + 1u) * (G / V)) : k + 1u;
        const float z = qzero(zeros, zrow + g, qflags, fmt);
        float4 t = (float4)(0.0f);
        for (; k < kend; k++)
            t += qchunk1(codes[crow + k], z, x, xoff, k * V, perm, fmt, adt, gather);
        acc = mad(hsum4(t), qscale(scales, srow + g, sdt, fmt), acc);
        k += step - 1u; /* interleaved: the inner loop advanced k by one */
    }
    return acc * xs;
}

/* expert_up's pair of quantized rows (gate, up) over one x: each x chunk loaded once for
 * both, scaled by the routing weight xs as it is loaded (f32, as in dot2_part). The
 * gate row's parts come as pointers (codes cg, scale row sg, zero row zg, x row xr) and
 * the up row's as 32-bit distances from them (du chunks, dus scale bytes, duz zeros):
 * 64-bit indices per row spilled registers in PVC's SIMD32 (64 floats per item). */
INLINE float2 qdot2_part(__global const uint4 *cg, uint du, __global const uchar *sg, uint dus,
                         __global const uchar *zg, uint duz, __global const uint *perm,
                         __global const void *xr, float xs, uint n, uint G, uint qflags, uint l,
                         uint lanes, const uint fmt, const uint adt, const uint mode,
                         const uint gather)
{
    const uint V = 128u / qbits(fmt), sdt = qflags & QF_SCALE_MASK;
    const uint ss = fmt == Q_MXFP4 ? 1u : sdt == SC_F32 ? 4u : 2u; /* scale bytes */
    const uint3 p = qlane_split(n / V, l, lanes, mode);
    /* scalar accumulators (a chunk's or group's float4 partial is summed into them once):
     * with float4 ones int8's pair spilled on PVC (SIMD32) */
    float ga = 0.0f, ua = 0.0f;
    /* spans (CPUs): blocked by group as in qdot_part; interleaved: one chunk a step */
    const uint step = mode == MODE_SPANS ? 1u : p.z;
    for (uint k = p.x; k < p.y;) {
        const uint g = k * V / G;
        const uint kend = mode == MODE_SPANS ? min(p.y, (g + 1u) * (G / V)) : k + 1u;
        const float zgv = qzero(zg, g, qflags, fmt), zuv = qzero(zg, g + duz, qflags, fmt);
        float4 tg = (float4)(0.0f), tu = (float4)(0.0f);
        for (; k < kend; k++) {
            const uint c = k * V;
            const uint4 qg = cg[k], qu = cg[k + du];
            /* 4-bit codes an octet (one word) at a time, 8-bit ones a quad (one word):
             * fewer live registers than whole float8s */
            for (uint o = 0; o < 4u; o++) {
                const uint wg = o == 0 ? qg.x : o == 1 ? qg.y : o == 2 ? qg.z : qg.w;
                const uint wu = o == 0 ? qu.x : o == 1 ? qu.y : o == 2 ? qu.z : qu.w;
                if (qbits(fmt) == 4u) {
                    const float8 xv = xoct(xr, 0, c + 8u * o, perm, adt, gather) * xs;
                    const float8 dg = dec8(wg, 0u, zgv, fmt) * xv;
                    tg += dg.lo + dg.hi;
                    const float8 dv = dec8(wu, 0u, zuv, fmt) * xv;
                    tu += dv.lo + dv.hi;
                } else {
                    const float4 xv = xquad(xr, c + 4u * o, perm, adt, gather) * xs;
                    tg = mad(dec4(wg, zgv, fmt), xv, tg);
                    tu = mad(dec4(wu, zuv, fmt), xv, tu);
                }
            }
        }
        ga = mad(hsum4(tg), qscale(sg + g * ss, 0, sdt, fmt), ga);
        ua = mad(hsum4(tu), qscale(sg + dus + g * ss, 0, sdt, fmt), ua);
        k += step - 1u; /* interleaved: the inner loop advanced k by one */
    }
    return (float2)(ga, ua);
}

/* Rows per work-item of the quantized kernels on GPUs (interleaved split). One row per
 * work-item left them bound by the x loads, not by the weights: each row re-reads its x
 * chunk (f32 `a` in expert_down: 8 bytes of x per byte of int4 codes) from L1, so int4
 * ran no faster than bf16 on an H200 (issue 13's GPU rows, 0.05-0.15 of copy bandwidth).
 * With QROWS rows sharing every x octet the x traffic per code byte drops by QROWS. The
 * launch plan gives the quantized kernels at least 8 lanes (nout <= 8), so a work-group
 * covers nout * QROWS <= 32 rows and every quantized row count (a multiple of 32, see
 * weights/quant.h) is whole work-groups. */
#define ZMOE_QROWS 2u

/* Rows per work-item of format fmt on GPUs: 4-bit codes QROWS; 8-bit ones half as many
 * (a chunk is 16 values, not 32). On an H200, int4 expert_down: 27.8 us with one row
 * and 32 lanes, 15.4 with two rows and 8 lanes, 18.0 with four (Qwen3-30B-A3B, T=1).
 * runtime/launch.c sizes the grid with the same rule (ZMOE_QUANT_ROWS). */
INLINE uint qrows_of(const uint fmt)
{
    return qbits(fmt) == 4u ? ZMOE_QROWS : ZMOE_QROWS / 2u;
}

/* Lane l's shares of NR (1 or 2 = ZMOE_QROWS) quantized rows times one x row (GPUs,
 * expert_down): rows r0 and r0 + nout. Each x octet is loaded once for both rows; each
 * row's chunk is one 16-byte load of one group. The second row is a 32-bit distance
 * from the first (registers: Xe SIMD), and the rows are named variables, not arrays:
 * arrays indexed by a row loop went to private memory on PVC (SIMD32). (Two row pairs
 * per work-item in expert_up measured slower than one, kernels/README.md.) */
INLINE float2 qrows_part(__global const uint4 *codes, __global const uchar *scales,
                         __global const uchar *zeros, __global const uint *perm,
                         __global const void *xr, size_t r0, uint nout, uint n, uint G,
                         uint row_block, uint qflags, uint l, uint lanes, const uint NR,
                         const uint fmt, const uint adt, const uint gather)
{
    const uint V = 128u / qbits(fmt), sdt = qflags & QF_SCALE_MASK, ng = n / G, nch = n / V;
    __global const uint4 *c0 = codes + r0 * nch;
    __global const uchar *z0 = zeros + r0 * ng;
    const uint dc = nout * nch, dz = nout * ng; /* row 1 - row 0: chunks, zeros */
    const bool two = NR > 1u;
    float a0 = 0.0f, a1 = 0.0f;
    for (uint k = l; k < nch; k += lanes) {
        const uint c = k * V, g = c / G;
        const uint4 q0 = c0[k], q1 = two ? c0[dc + k] : (uint4)(0u);
        const float zq0 = qzero(z0, g, qflags, fmt), zq1 = two ? qzero(z0, dz + g, qflags, fmt) : 0.0f;
        float t0 = 0.0f, t1 = 0.0f;
        /* 4-bit: 4 octets of one word each; 8-bit: 2 octets of two words each */
        for (uint o = 0; o < V / 8u; o++) {
            const float8 xv = xoct(xr, 0, c + 8u * o, perm, adt, gather);
            const uint wi = qbits(fmt) == 4u ? o : 2u * o;
            const float8 d0 = dec8(u4_at(q0, wi), qbits(fmt) == 4u ? 0u : u4_at(q0, wi + 1u), zq0, fmt);
            t0 += dot(d0.lo, xv.lo) + dot(d0.hi, xv.hi);
            if (two) {
                const float8 d1 = dec8(u4_at(q1, wi), qbits(fmt) == 4u ? 0u : u4_at(q1, wi + 1u), zq1, fmt);
                t1 += dot(d1.lo, xv.lo) + dot(d1.hi, xv.hi);
            }
        }
        a0 = mad(t0, qscale(scales, (r0 / row_block) * ng + g, sdt, fmt), a0);
        if (two)
            a1 = mad(t1, qscale(scales, ((r0 + nout) / row_block) * ng + g, sdt, fmt), a1);
    }
    return (float2)(a0, a1);
}

INLINE float2 qrows_mode(__global const uint4 *codes, __global const uchar *scales,
                         __global const uchar *zeros, __global const uint *perm,
                         __global const void *xr, size_t r0, uint nout, uint n, uint G,
                         uint row_block, uint qflags, uint l, uint lanes, const uint NR,
                         const uint fmt, const uint adt)
{
    if (qflags & QF_PERM)
        return qrows_part(codes, scales, zeros, perm, xr, r0, nout, n, G, row_block, qflags, l,
                          lanes, NR, fmt, adt, 1u);
    return qrows_part(codes, scales, zeros, perm, xr, r0, nout, n, G, row_block, qflags, l,
                      lanes, NR, fmt, adt, 0u);
}

/* One specialised copy per (split, act-order), chosen by uniform values outside the
 * loops (as dot_mode). Quantized rows are multiples of 32 values: never MODE_NARROW. */
INLINE float qdot_mode(__global const uint4 *codes, size_t crow, __global const uchar *scales,
                       size_t srow, __global const uchar *zeros, size_t zrow,
                       __global const uint *perm, __global const void *x, size_t xoff, float xs,
                       uint n, uint G, uint qflags, uint l, uint lanes, const uint fmt,
                       const uint adt, uint spans)
{
    const bool gather = (qflags & QF_PERM) != 0;
    if (spans)
        return gather ? qdot_part(codes, crow, scales, srow, zeros, zrow, perm, x, xoff, xs, n, G,
                                  qflags, l, lanes, fmt, adt, MODE_SPANS, 1u)
                      : qdot_part(codes, crow, scales, srow, zeros, zrow, perm, x, xoff, xs, n, G,
                                  qflags, l, lanes, fmt, adt, MODE_SPANS, 0u);
    return gather ? qdot_part(codes, crow, scales, srow, zeros, zrow, perm, x, xoff, xs, n, G,
                              qflags, l, lanes, fmt, adt, MODE_WIDE, 1u)
                  : qdot_part(codes, crow, scales, srow, zeros, zrow, perm, x, xoff, xs, n, G,
                              qflags, l, lanes, fmt, adt, MODE_WIDE, 0u);
}

INLINE float2 qdot2_mode(__global const uint4 *cg, uint du, __global const uchar *sg, uint dus,
                         __global const uchar *zg, uint duz, __global const uint *perm,
                         __global const void *xr, float xs, uint n, uint G, uint qflags, uint l,
                         uint lanes, const uint fmt, const uint adt, uint spans)
{
    const bool gather = (qflags & QF_PERM) != 0;
    if (spans)
        return gather ? qdot2_part(cg, du, sg, dus, zg, duz, perm, xr, xs, n, G, qflags, l, lanes,
                                   fmt, adt, MODE_SPANS, 1u)
                      : qdot2_part(cg, du, sg, dus, zg, duz, perm, xr, xs, n, G, qflags, l, lanes,
                                   fmt, adt, MODE_SPANS, 0u);
    return gather ? qdot2_part(cg, du, sg, dus, zg, duz, perm, xr, xs, n, G, qflags, l, lanes, fmt,
                               adt, MODE_WIDE, 1u)
                  : qdot2_part(cg, du, sg, dus, zg, duz, perm, xr, xs, n, G, qflags, l, lanes, fmt,
                               adt, MODE_WIDE, 0u);
}

/* ------------------------------------------------------------------ combine */

/* y[t][h] = sum_k c_k o[row(t,k)][h] (+ gate[t] o_sh[t][h]), k summed in order: the same
 * sum, bit for bit, in the combine kernel and in expert_down's fused tail. o is read
 * through volatile pointers: in the fused tail other work-groups wrote it during this
 * kernel, and a volatile load is not served from a stale L1 line (see combine_tail). */
INLINE float combine_sum(uint flags, volatile __global const float *o,
                         volatile __global const float *o_sh, __global const float *topk_w,
                         __global const float *gate, __global const uint *inv, uint H, uint K,
                         uint t, uint h)
{
    const bool on_input = (flags & F_ON_INPUT) != 0;
    float acc = 0.0f;
    for (uint k = 0; k < K; k++) {
        const uint p = inv[t * K + k];
        if (p == NO_ROW)
            continue; /* expert parallel: another participant's pair */
        const float c = on_input ? 1.0f : topk_w[t * K + k];
        acc += c * o[(size_t)p * H + h];
    }
    if (flags & F_SHARED)
        acc += gate[t] * o_sh[(size_t)t * H + h];
    return acc;
}

/* One work-item per (h, t). */
INLINE void combine_body(__global const uint *prm, __global const float *o,
                         __global const float *o_sh, __global const float *topk_w,
                         __global const float *gate, __global const uint *inv,
                         __global void *y, uint H, uint K, const uint adt)
{
    const uint h = get_global_id(0), t = get_group_id(1);
    if (h >= H)
        return;
    st1(y, (size_t)t * H + h, combine_sum(prm[P_FLAGS], o, o_sh, topk_w, gate, inv, H, K, t, h), adt);
}

/* expert_down's fused combine (argument fuse = 1; runtime/launch.c decides). The
 * work-groups of column block g (grid x) each count their tile's rows of token t in
 * done[t * gx + g] once the rows are written; the one that brings the count to the
 * token's row count (its K pairs, + 1 with a shared expert) writes y[t] for the block's
 * columns with combine_sum: the same order, so the same bits, as the combine kernel,
 * whichever work-group arrives last. A token has at most one row per tile (its K experts
 * differ), so the counts reach exactly that. align zeroes done for the call's tokens.
 * Ordering: the writers' stores, then a barrier with the global fence, then the
 * counter's atomic; after it the same barrier and volatile loads (OpenCL C 1.2 has no
 * device-scope acquire/release; this is the portable fence-and-counter form, and PoCL
 * 3.1's SPIR-V library has no mem_fence). Not with expert parallelism (F_SHARD: a token
 * may have no row here; the plan keeps the combine kernel). cols: the block's width;
 * fin: ZMOE_RMAX + 1 local words. Every work-item calls it, fuse or not. */
INLINE void combine_tail(__global const uint *prm, __global const float *o,
                         __global const float *o_sh, __global const float *topk_w,
                         __global const float *gate, __global const uint *inv,
                         __global const uint *sorted, __global const uint4 *tiles,
                         __global uint *done, __global void *y, uint H, uint E, uint K,
                         uint ydt, uint fuse, uint cols, __local uint *fin)
{
    const uint lin = get_local_id(1) * get_local_size(0) + get_local_id(0);
    const uint items = get_local_size(0) * get_local_size(1);
    const uint flags = prm[P_FLAGS], rows = K + ((flags & F_SHARED) ? 1u : 0u);
    const uint4 tile = tiles[get_group_id(1)]; /* (expert, first row, rows) */
    if (lin == 0)
        fin[ZMOE_RMAX] = 0;
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    if (fuse && lin < tile.z) {
        const uint t = tile.x == E ? tile.y + lin : sorted[tile.y + lin] / K;
        if (atomic_inc(&done[(size_t)t * get_num_groups(0) + get_group_id(0)]) + 1u == rows)
            fin[atomic_inc(&fin[ZMOE_RMAX])] = t;
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    const uint n = fin[ZMOE_RMAX], h0 = get_group_id(0) * cols, w = min(cols, H - h0);
    for (uint i = lin; i < n * w; i += items) {
        const uint t = fin[i / w], h = h0 + i % w;
        st1(y, (size_t)t * H + h, combine_sum(flags, o, o_sh, topk_w, gate, inv, H, K, t, h), ydt);
    }
}

/* ------------------------------------------------------------------ experts */

/* Float rows whose dtype is only known at run time (the float shared expert of a quantized
 * kernel, quant.shared_experts = false): dispatched once outside the loops. */
INLINE float dot_any(__global const void *w, size_t wrow, __global const void *x, size_t xoff,
                     uint n, uint l, uint lanes, uint wdt, uint mode)
{
    if (wdt == DT_F16)
        return dot_mode(w, wrow, x, xoff, n, l, lanes, DT_F16, DT_F32, mode);
    if (wdt == DT_BF16)
        return dot_mode(w, wrow, x, xoff, n, l, lanes, DT_BF16, DT_F32, mode);
    return dot_mode(w, wrow, x, xoff, n, l, lanes, DT_F32, DT_F32, mode);
}

/* (only shared experts take this path: no routing weight on x) */
INLINE float2 dot2_any(__global const void *w, size_t grow, size_t urow, __global const void *x,
                       size_t xoff, uint n, uint l, uint lanes, uint wdt, const uint adt, uint mode)
{
    if (wdt == DT_F16)
        return dot2_mode(w, grow, urow, x, xoff, 1.0f, n, l, lanes, DT_F16, adt, mode);
    if (wdt == DT_BF16)
        return dot2_mode(w, grow, urow, x, xoff, 1.0f, n, l, lanes, DT_BF16, adt, mode);
    return dot2_mode(w, grow, urow, x, xoff, 1.0f, n, l, lanes, DT_F32, adt, mode);
}

/* The expert bodies serve the float kernels (fmt == Q_NONE, weights of dtype wdt) and the
 * quantized ones (fmt a Q_* format; wdt unused): tiles, rows, barriers and outputs are
 * one code, only the row dot products differ. fmt and wdt are compile-time constants of
 * each kernel, so every variant keeps only its own dot product. A quantized kernel's
 * shared expert is float when qflags lacks QF_SHARED_Q, of the dtype in qflags. The
 * offsets roff / soff (codes, scales, zeros, perm of the routed / shared tensor, in
 * QALIGN units), group and qflags are 0 in the float kernels, row_block 1. */

/* Tile (expert e, first row, rows): e < E routed rows [start, start+cnt) of the sorted
 * order; e == E the shared expert on tokens [start, start+cnt). Column = intermediate
 * index i; the work-item computes gate row i and up row n + i. */
INLINE void expert_up_body(__global const uint *prm, __global const void *x,
                           __global const void *w13, __global const float *b13,
                           __global const void *sw13, __global const float *topk_w,
                           __global const uint *sorted, __global const uint4 *tiles,
                           __global float *a, __global float *a_sh, uint H, uint I, uint S,
                           uint E, uint K, uint lane_spans, uint group, uint row_block,
                           uint qflags, uint4 roff, uint4 soff, __local float *red,
                           const uint wdt, const uint fmt, const uint adt)
{
    const uint l = get_local_id(0), j = get_local_id(1);
    const uint lanes = get_local_size(0), nout = get_local_size(1);
    const uint4 tile = tiles[get_group_id(1)];
    const uint e = tile.x, start = tile.y, cnt = tile.z;
    const bool shared = e == E;
    const uint n = shared ? S : I;
    const uint col0 = get_group_id(0) * nout;
    if (col0 >= n)
        return; /* uniform over the work-group: no barrier is skipped by a subset */
    const uint col = col0 + j;
    const bool active = col < n;
    const uint flags = prm[P_FLAGS];
    const bool on_input = !shared && (flags & F_ON_INPUT);
    __global const void *w = shared ? sw13 : w13;
    const uint mode = pick_mode(lane_spans, H);
    /* quantized rows (uniform per work-group: a float shared tile reads floats) */
    const bool quant = fmt != Q_NONE && (!shared || (qflags & QF_SHARED_Q));
    const uint4 off = shared ? soff : roff;
    __global const uint4 *codes = (__global const uint4 *)QPART(w, off.x);
    __global const uchar *scales = QPART(w, off.y), *zeros = QPART(w, off.z);
    __global const uint *perm = (__global const uint *)QPART(w, off.w) + (shared ? 0 : (size_t)e * H);
    const uint G = group ? group : H, ng = H / G;
    const size_t rg = (shared ? 0 : (size_t)e * 2 * I) + col; /* gate row; up row rg + n */
    const size_t wpr = (size_t)H * qbits(fmt) / 128u; /* uint4 chunks per row */
    /* the gate row's scale row, and the up row's distance from it in bytes (I and S are
     * multiples of row_block: both blocks of 128 rows of fp8 lie inside one half) */
    const uint ssz = fmt == Q_MXFP4 ? 1u : (qflags & QF_SCALE_MASK) == SC_F32 ? 4u : 2u;
    __global const uchar *sgate = scales + (rg / row_block) * ng * ssz;
    const uint sdu = (n / row_block) * ng * ssz;

    /* Token rows a register tile at a time (tile_take), the reduction inside. */
    const uint tiled = fmt == Q_NONE, rt = tiled ? ZMOE_RT : 1u; /* compile-time */
    for (uint r0 = 0, nr; r0 < cnt; r0 += nr) {
        nr = tile_take(cnt - r0, mode, tiled);
        /* the pass's token rows: x offsets (max_tokens * H < 2^32, runtime/plan.c) and
         * routing weights; rows past nr repeat the last one and are never read. A loop
         * with lane inserts, not four calls of a row helper building the float4 from bits:
         * that form made expert_up 1-8% slower on the H200 (kernels/README.md) */
        uint4 xoff = (uint4)(0u);
        float4 xs = (float4)(1.0f);
        for (uint r = 0; r < rt; r++) {
            const uint rr = r0 + min(r, nr - 1u);
            uint tok;
            float wr = 1.0f;
            if (shared) {
                tok = start + rr;
            } else {
                const uint tk = sorted[start + rr];
                tok = tk / K;
                if (on_input)
                    wr = topk_w[tk];
            }
            xoff = r == 0u ? (uint4)(tok * H, xoff.yzw) : r == 1u ? (uint4)(xoff.x, tok * H, xoff.zw)
                 : r == 2u ? (uint4)(xoff.xy, tok * H, xoff.w) : (uint4)(xoff.xyz, tok * H);
            xs = r == 0u ? (float4)(wr, xs.yzw) : r == 1u ? (float4)(xs.x, wr, xs.zw)
               : r == 2u ? (float4)(xs.xy, wr, xs.w) : (float4)(xs.xyz, wr);
        }
        __local float *mine = red + j * lanes + l;
        if (!active) {
            for (uint r = 0; r < 2u * nr; r++)
                mine[r * ZMOE_WG] = 0.0f;
        } else if (quant) { /* one row a pass (tile_take) */
            const float2 gu = qdot2_mode(codes + rg * wpr, (uint)(n * wpr), sgate, sdu,
                                         zeros + rg * ng, n * ng, perm, xrow(x, xoff.x, adt),
                                         xs.x, H, G, qflags, l, lanes, fmt, adt, lane_spans);
            mine[0] = gu.x;
            mine[ZMOE_WG] = gu.y;
        } else if (fmt == Q_NONE) {
            dot2_rows(w, rg * H, (rg + n) * H, x, xoff, xs, nr, H, l, lanes, wdt, adt, mode, mine);
        } else {
            const float2 gu = dot2_any(sw13, rg * H, (rg + n) * H, x, xoff.x, H, l, lanes,
                                       (qflags >> QF_SHARED_DT_SHIFT) & 3u, adt, mode);
            mine[0] = gu.x;
            mine[ZMOE_WG] = gu.y;
        }
        /* Partials meet in local memory once per tile. The barrier sits inside the row
         * loop (cnt is uniform over the work-group): with the loop closed before the
         * barrier, PoCL 3.1 ran it for the first row only. */
        barrier(CLK_LOCAL_MEM_FENCE);
        lane_fold(red, 2u * nr, j, l, lanes);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && l == 0) {
            const bool bias = !shared && (flags & F_EXPERT_BIAS);
            const float bg = bias ? b13[(size_t)e * 2 * I + col] : 0.0f;
            const float bu = bias ? b13[(size_t)e * 2 * I + I + col] : 0.0f;
            __global float *out = shared ? a_sh : a;
            for (uint r = 0; r < nr; r++)
                out[(size_t)(start + r0 + r) * n + col] =
                    activate(lane_sum(red, 2u * r, j, lanes) + bg,
                             lane_sum(red, 2u * r + 1u, j, lanes) + bu, prm[P_ACTIVATION],
                             as_float(prm[P_ALPHA]), as_float(prm[P_LIMIT]));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Column = hidden index h; rows of a (f32, stride n) times W2[e] row h (quantized on
 * GPUs: qrows_of(fmt) rows per work-item, nout apart, qrows_part; otherwise one). */
INLINE void expert_down_body(__global const uint *prm, __global const float *a,
                             __global const float *a_sh, __global const void *w2,
                             __global const float *b2, __global const void *sw2,
                             __global const uint4 *tiles, __global float *o,
                             __global float *o_sh, uint H, uint I, uint S, uint E,
                             uint lane_spans, __global const uint *sorted,
                             __global const uint *inv, __global const float *topk_w,
                             __global const float *gate, __global uint *done,
                             __global void *y, uint K, uint ydt, uint fuse, uint group,
                             uint row_block, uint qflags, uint4 roff, uint4 soff,
                             __local float *red, __local uint *fin, const uint wdt,
                             const uint fmt)
{
    const uint l = get_local_id(0), j = get_local_id(1);
    const uint lanes = get_local_size(0), nout = get_local_size(1);
    const uint4 tile = tiles[get_group_id(1)];
    const uint e = tile.x, start = tile.y, cnt = tile.z;
    const bool shared = e == E;
    const uint n = shared ? S : I;
    const uint rpi = fmt == Q_NONE || lane_spans ? 1u : qrows_of(fmt);
    const uint h = get_group_id(0) * nout * rpi + j;
    const bool active = h < H;
    const bool quant = fmt != Q_NONE && (!shared || (qflags & QF_SHARED_Q));
    const uint fdt = (qflags >> QF_SHARED_DT_SHIFT) & 3u; /* a float shared expert's dtype */
    __global const void *w = shared ? sw2 : w2;
    const uint4 off = shared ? soff : roff;
    __global const uint4 *codes = (__global const uint4 *)QPART(w, off.x);
    __global const uchar *scales = QPART(w, off.y), *zeros = QPART(w, off.z);
    __global const uint *perm = (__global const uint *)QPART(w, off.w) + (shared ? 0 : (size_t)e * n);
    __global const float *in = (shared ? a_sh : a) + (size_t)start * n;
    const uint G = group ? group : n, ng = n / G;
    const size_t row = (shared ? 0 : (size_t)e * H) + h;
    const size_t wpr = (size_t)n * qbits(fmt) / 128u;
    const uint mode = pick_mode(lane_spans, n);

    /* partials of (token row r, matrix row q) at red row r * rpi + q */
    for (uint r = 0; r < cnt; r++) {
        __global const float *ar = in + (size_t)r * n;
        __local float *mine = red + r * rpi * ZMOE_WG + j * lanes + l;
        if (rpi == 1u) {
            float acc = 0.0f;
            if (active)
                acc = quant ? qdot_mode(codes, row * wpr, scales, (row / row_block) * ng,
                                        zeros, row * ng, perm, ar, 0, 1.0f, n, G, qflags, l, lanes,
                                        fmt, DT_F32, lane_spans)
                      : fmt == Q_NONE ? dot_mode(w, row * n, ar, 0, n, l, lanes, wdt, DT_F32, mode)
                                      : dot_any(w, row * n, ar, 0, n, l, lanes, fdt, mode);
            mine[0] = acc;
        } else if (quant) {
            /* rpi is qrows_of(fmt) here, passed as that compile-time constant */
            const uint NR = qrows_of(fmt);
            const float2 acc = qrows_mode(codes, scales, zeros, perm, ar, row, nout, n, G,
                                          row_block, qflags, l, lanes, NR, fmt, DT_F32);
            mine[0] = acc.x;
            if (NR > 1u)
                mine[ZMOE_WG] = acc.y;
        } else {
            for (uint q = 0; q < rpi; q++)
                mine[q * ZMOE_WG] = dot_any(w, (row + q * nout) * n, ar, 0, n, l, lanes, fdt, mode);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    lane_fold(red, cnt * rpi, j, l, lanes);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l == 0) {
        for (uint q = 0; q < rpi; q++) {
            const uint hq = h + q * nout;
            if (hq >= H)
                continue;
            const float bias =
                (!shared && (prm[P_FLAGS] & F_EXPERT_BIAS)) ? b2[(size_t)e * H + hq] : 0.0f;
            __global float *out = shared ? o_sh : o;
            for (uint r = 0; r < cnt; r++)
                out[(size_t)(start + r) * H + hq] = lane_sum(red, r * rpi + q, j, lanes) + bias;
        }
    }
    /* the float kernels' tail, called whatever fuse is (it then does nothing): a barrier
     * under a run-time branch, even a uniform one, is what PoCL 3.1 has miscompiled here
     * before; fmt is a compile-time constant */
    if (fmt == Q_NONE)
        combine_tail(prm, o, o_sh, topk_w, gate, inv, sorted, tiles, done, y, H, E, K, ydt, fuse,
                     nout * rpi, fin);
}

/* ------------------------------------------------------------------ variants */

#define ROUTER(WN, WD, AN, AD)                                                              \
    __kernel void router_w##WN##_a##AN(__global const uint *tokens, __global const uint *prm,  \
                                       __global const void *x, __global const void *wr,     \
                                       __global const float *br, __global const void *wgate, \
                                       __global float *logits, uint H, uint E,              \
                                       uint lane_spans)                                     \
    {                                                                                       \
        __local float red[ZMOE_ROUTER_TOKENS * ZMOE_WG];                                    \
        router_body(tokens, prm, x, wr, br, wgate, logits, H, E, lane_spans, red, WD, AD);  \
    }

/* router + align (route_tail): the router's arguments, then align's, then the counters */
#define ROUTE(WN, WD, AN, AD)                                                               \
    __kernel void route_w##WN##_a##AN(                                                      \
        __global const uint *tokens, __global const uint *prm, __global const void *x,      \
        __global const void *wr, __global const float *br, __global const void *wgate,      \
        __global float *logits, uint H, uint E, uint lane_spans,                            \
        __global const float *score_bias, __global uint *topk_ids, __global float *topk_w,  \
        __global float *gate, __global uint *sorted, __global uint *inv,                    \
        __global uint4 *tiles, __global uint *groups, __global uint *done,                  \
        __global uint *route_counts, uint K, uint G, uint topk_group, uint gx_up,           \
        uint gx_down, uint gx_combine)                                                      \
    {                                                                                       \
        __local float red[ZMOE_ROUTER_TOKENS * ZMOE_WG];                                    \
        __local uint lm[ROUTE_LOCAL_WORDS], fin[2];                                         \
        router_body(tokens, prm, x, wr, br, wgate, logits, H, E, lane_spans, red, WD, AD);  \
        route_tail(tokens, prm, logits, score_bias, topk_ids, topk_w, gate, sorted, inv,    \
                   tiles, groups, done, route_counts, E, K, G, topk_group, gx_up, gx_down,  \
                   gx_combine, red, lm, fin);                                               \
    }

#define EXPERT_UP(WN, WD, AN, AD)                                                           \
    __kernel void expert_up_w##WN##_a##AN(                                                  \
        __global const uint *prm, __global const void *x, __global const void *w13,         \
        __global const float *b13, __global const void *sw13, __global const float *topk_w, \
        __global const uint *sorted, __global const uint4 *tiles, __global float *a,        \
        __global float *a_sh, uint H, uint I, uint S, uint E, uint K, uint lane_spans)      \
    {                                                                                       \
        __local float red[2 * ZMOE_RMAX * ZMOE_WG];                                         \
        expert_up_body(prm, x, w13, b13, sw13, topk_w, sorted, tiles, a, a_sh, H, I, S, E,  \
                       K, lane_spans, 0, 1, 0, (uint4)(0), (uint4)(0), red, WD, Q_NONE, AD); \
    }

/* The float expert_down's arguments for the fused combine (combine_tail): ydt is y's
 * dtype (DT_*; a uniform branch at the store), fuse 0 leaves y to the combine kernel.
 * The quantized expert_down has no tail: with these arguments expert_down_qint4 spilled
 * registers on tgllp (SIMD8, 128 registers), so quantized plans keep the combine kernel. */
#define COMBINE_ARGS                                                                        \
    __global const uint *sorted, __global const uint *inv, __global const float *topk_w,    \
        __global const float *gate, __global uint *done, __global void *y, uint K, uint ydt, \
        uint fuse

#define EXPERT_DOWN(WN, WD)                                                                 \
    __kernel void expert_down_w##WN(__global const uint *prm, __global const float *a,      \
                                    __global const float *a_sh, __global const void *w2,    \
                                    __global const float *b2, __global const void *sw2,     \
                                    __global const uint4 *tiles, __global float *o,         \
                                    __global float *o_sh, uint H, uint I, uint S, uint E,   \
                                    uint lane_spans, COMBINE_ARGS)                          \
    {                                                                                       \
        __local float red[ZMOE_RMAX * ZMOE_WG];                                             \
        __local uint fin[ZMOE_RMAX + 1];                                                    \
        expert_down_body(prm, a, a_sh, w2, b2, sw2, tiles, o, o_sh, H, I, S, E, lane_spans, \
                         sorted, inv, topk_w, gate, done, y, K, ydt, fuse, 0, 1, 0,         \
                         (uint4)(0), (uint4)(0), red, fin, WD, Q_NONE);                     \
    }

#define COMBINE(AN, AD)                                                                     \
    __kernel void combine_a##AN(__global const uint *prm, __global const float *o,          \
                                __global const float *o_sh, __global const float *topk_w,   \
                                __global const float *gate, __global const uint *inv,       \
                                __global void *y, uint H, uint K)                           \
    {                                                                                       \
        combine_body(prm, o, o_sh, topk_w, gate, inv, y, H, K, AD);                         \
    }

#define PER_ACT(M, WN, WD)                                                                  \
    M(WN, WD, f32, DT_F32)                                                                  \
    M(WN, WD, f16, DT_F16)                                                                  \
    M(WN, WD, bf16, DT_BF16)

PER_ACT(ROUTER, f32, DT_F32)
PER_ACT(ROUTER, f16, DT_F16)
PER_ACT(ROUTER, bf16, DT_BF16)
PER_ACT(ROUTE, f32, DT_F32)
PER_ACT(ROUTE, f16, DT_F16)
PER_ACT(ROUTE, bf16, DT_BF16)
PER_ACT(EXPERT_UP, f32, DT_F32)
PER_ACT(EXPERT_UP, f16, DT_F16)
PER_ACT(EXPERT_UP, bf16, DT_BF16)
EXPERT_DOWN(f32, DT_F32)
EXPERT_DOWN(f16, DT_F16)
EXPERT_DOWN(bf16, DT_BF16)
COMBINE(f32, DT_F32)
COMBINE(f16, DT_F16)
COMBINE(bf16, DT_BF16)

/* Expert parallel (runtime/parallel.c): y[t] = the participants' f32 partial outputs
 * summed in participant order (part[r][t][h], r = 0..n-1): a fixed order, no atomics,
 * one rounding to the activation dtype. One work-item per (h, t); grid y = max_tokens,
 * rows at or past the token count return. */
INLINE void reduce_body(__global const uint *tokens, __global const float *part,
                        __global void *y, uint H, uint n, uint stride, const uint adt)
{
    const uint h = get_global_id(0), t = get_group_id(1);
    if (h >= H || t >= tokens[0])
        return;
    float acc = 0.0f;
    for (uint r = 0; r < n; r++)
        acc += part[(size_t)r * stride + (size_t)t * H + h];
    st1(y, (size_t)t * H + h, acc, adt);
}

#define REDUCE(AN, AD)                                                                      \
    __kernel void reduce_partials_a##AN(__global const uint *tokens,                        \
                                        __global const float *part, __global void *y,       \
                                        uint H, uint n, uint stride)                        \
    {                                                                                       \
        reduce_body(tokens, part, y, H, n, stride, AD);                                     \
    }
REDUCE(f32, DT_F32)
REDUCE(f16, DT_F16)
REDUCE(bf16, DT_BF16)

/* Quantized variants: one per (format, activation dtype) for expert_up and per format
 * for expert_down; scale dtype, zero points, act-order and the shared expert's kind are
 * uniform arguments (qflags). Part offsets: (codes, scales, zeros, perm) of the routed
 * tensor then of the shared one, in QALIGN units. */
#define EXPERT_UP_Q(QN, QF, AN, AD)                                                         \
    __kernel void expert_up_q##QN##_a##AN(                                                  \
        __global const uint *prm, __global const void *x, __global const void *w13,         \
        __global const float *b13, __global const void *sw13, __global const float *topk_w, \
        __global const uint *sorted, __global const uint4 *tiles, __global float *a,        \
        __global float *a_sh, uint H, uint I, uint S, uint E, uint K, uint lane_spans,      \
        uint group, uint row_block, uint qflags, uint rc, uint rs, uint rz, uint rp,        \
        uint sc, uint ss, uint sz, uint sp)                                                 \
    {                                                                                       \
        __local float red[2 * ZMOE_RMAX * ZMOE_WG];                                         \
        expert_up_body(prm, x, w13, b13, sw13, topk_w, sorted, tiles, a, a_sh, H, I, S, E,  \
                       K, lane_spans, group, row_block, qflags, (uint4)(rc, rs, rz, rp),    \
                       (uint4)(sc, ss, sz, sp), red, DT_F32, QF, AD);                       \
    }

#define EXPERT_DOWN_Q(QN, QF)                                                               \
    __kernel void expert_down_q##QN(                                                        \
        __global const uint *prm, __global const float *a, __global const float *a_sh,      \
        __global const void *w2, __global const float *b2, __global const void *sw2,        \
        __global const uint4 *tiles, __global float *o, __global float *o_sh, uint H,       \
        uint I, uint S, uint E, uint lane_spans, uint group, uint row_block, uint qflags,   \
        uint rc, uint rs, uint rz, uint rp, uint sc, uint ss, uint sz, uint sp)             \
    {                                                                                       \
        __local float red[ZMOE_QROWS * ZMOE_RMAX * ZMOE_WG];                                \
        expert_down_body(prm, a, a_sh, w2, b2, sw2, tiles, o, o_sh, H, I, S, E, lane_spans, \
                         0, 0, 0, 0, 0, 0, 0, 0, 0, group, row_block, qflags,               \
                         (uint4)(rc, rs, rz, rp), (uint4)(sc, ss, sz, sp), red, 0, DT_F32,  \
                         QF);                                                               \
    }

PER_ACT(EXPERT_UP_Q, int4, Q_INT4)
PER_ACT(EXPERT_UP_Q, int8, Q_INT8)
PER_ACT(EXPERT_UP_Q, fp8, Q_FP8)
PER_ACT(EXPERT_UP_Q, mxfp4, Q_MXFP4)
EXPERT_DOWN_Q(int4, Q_INT4)
EXPERT_DOWN_Q(int8, Q_INT8)
EXPERT_DOWN_Q(fp8, Q_FP8)
EXPERT_DOWN_Q(mxfp4, Q_MXFP4)

/* Reference for bandwidth measurements: a plain f32 copy, 4 elements per work-item. */
__kernel void copy_f32(__global float *dst, __global const float *src, uint n4)
{
    const uint i = get_global_id(0);
    if (i < n4)
        vstore4(vload4(i, src), i, dst);
}
