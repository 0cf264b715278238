/* MoE pipeline kernels (OpenCL C 1.2). See kernels/README.md for arguments and grids.
 *
 * Stages of one layer call, all in one in-order queue:
 *   router      logits[t][0..E) = x[t].Wr^T (+br); logits[t][E] = x[t].shared_gate
 *   align       scoring + (grouped) top-k + weights per token; per-expert counts, offsets,
 *               the sorted row <-> (t,k) maps, the tile list and the group counts of the
 *               three indirect launches that follow
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
 * also baked at record time (see lane_split): interleaved float4s for a GPU
 * (coalescing), one contiguous span per lane for a CPU; each split has its own
 * specialised copy of the reduction loop. Each lane accumulates into a float4 and
 * reduces it horizontally once, after its loop.
 * A work-group handles up to ZMOE_RMAX token rows (an expert tile) for its columns;
 * rows are the outer loop, so a weight row is fetched from memory for the first token
 * row and from cache for the others (decode: T*K rows spread over K experts).
 */

#define ZMOE_WG 64
#define ZMOE_RMAX 8
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

/* The part of a row's reduction that lane l of LANES takes: float4 elements
 * [start, end) in steps of `step` elements, of the first n4 (a multiple of 4) elements.
 *  - lane_spans == 0, interleaved: lane l takes float4 number l, l + LANES, ... Adjacent
 *    lanes read adjacent 16 bytes, which a GPU coalesces into one wide access per row
 *    per iteration; contiguous spans would scatter a sub-group's loads LANES ways.
 *  - lane_spans != 0, contiguous spans: lane l takes one run of ceil(n4/4/LANES) float4s
 *    (the last lane's may be shorter or empty). A CPU runs each work-item's loop as a
 *    sequential stream (PoCL: prefetch-friendly unit stride, one cache line feeds four
 *    iterations); interleaved, every lane touches every cache line of the row.
 *    Measured on hostdev: kernels/README.md, "GEMV work split".
 * `spans` is a compile-time constant: the reduction loops (dot_part, dot2_part) exist
 * in two force-inlined copies, one per split, and the kernels pick one per row with a
 * select on their by-value argument lane_spans (uniform over the launch), outside the
 * loop. The spans copy thus has a constant step of 4: one loop with a run-time step
 * measured 10-20% slower on PoCL. The copies hold no barrier (PoCL 3.1 miscomputed a
 * body duplicated around its barriers under such a branch). */
INLINE uint3 lane_split(uint n4, uint l, uint lanes, const uint spans)
{
    if (spans) {
        const uint span = ((n4 / 4u + lanes - 1u) / lanes) * 4u;
        const uint start = min(n4, l * span);
        return (uint3)(start, min(n4, start + span), 4u);
    }
    return (uint3)(4u * l, n4, 4u * lanes);
}

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

/* Lane l's share of the dot product w[wrow..] . x[xoff..] over the first n4 elements. */
INLINE float dot_part(__global const void *w, size_t wrow, __global const void *x, size_t xoff,
                      uint n4, uint l, uint lanes, const uint wdt, const uint adt,
                      const uint spans)
{
    const uint3 p = lane_split(n4, l, lanes, spans);
    float4 acc = (float4)(0.0f);
    for (uint c = p.x; c < p.y; c += p.z)
        acc = mad(ld4(w, wrow + c, wdt), ld4(x, xoff + c, adt), acc);
    return hsum4(acc);
}

/* expert_up's pair: lane l's shares of w[grow..] . xs*x[xoff..] and w[urow..] . xs*x[xoff..];
 * the routing weight xs scales x as it is loaded, in f32. */
INLINE float2 dot2_part(__global const void *w, size_t grow, size_t urow,
                        __global const void *x, size_t xoff, float xs, uint n4, uint l,
                        uint lanes, const uint wdt, const uint adt, const uint spans)
{
    const uint3 p = lane_split(n4, l, lanes, spans);
    float4 g = (float4)(0.0f), u = (float4)(0.0f);
    for (uint c = p.x; c < p.y; c += p.z) {
        const float4 xv = ld4(x, xoff + c, adt) * xs;
        g = mad(ld4(w, grow + c, wdt), xv, g);
        u = mad(ld4(w, urow + c, wdt), xv, u);
    }
    return (float2)(hsum4(g), hsum4(u));
}

/* Sums the LANES partials of (row r, column j) written to red[r][j*lanes + l]. */
INLINE float lane_sum(__local const float *red, uint r, uint j, uint lanes)
{
    float s = 0.0f;
    for (uint l = 0; l < lanes; l++)
        s += red[r * ZMOE_WG + j * lanes + l];
    return s;
}

/* ------------------------------------------------------------------ router */

/* One work-group per NOUT rows of the virtual matrix [Wr; shared_gate] (E + 1 rows),
 * all T tokens, in chunks of RMAX tokens. */
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
    const bool active = row < E || (row == E && (flags & F_SHARED_GATE));
    __global const void *w = row < E ? wr : wgate;
    const size_t wrow = row < E ? (size_t)row * H : 0;
    const uint H4 = H & ~3u;

    for (uint t0 = 0; t0 < T; t0 += ZMOE_RMAX) {
        const uint cnt = min((uint)ZMOE_RMAX, T - t0);
        for (uint r = 0; r < cnt; r++) {
            const size_t xoff = (size_t)(t0 + r) * H;
            float acc = 0.0f;
            if (active) {
                acc = lane_spans ? dot_part(w, wrow, x, xoff, H4, l, lanes, wdt, adt, 1u)
                                 : dot_part(w, wrow, x, xoff, H4, l, lanes, wdt, adt, 0u);
                if (l == 0)
                    for (uint c = H4; c < H; c++)
                        acc += ld1(w, wrow + c, wdt) * ld1(x, xoff + c, adt);
            }
            red[r * ZMOE_WG + j * lanes + l] = acc;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && l == 0) {
            const float bias = (row < E && (flags & F_ROUTER_BIAS)) ? br[row] : 0.0f;
            for (uint r = 0; r < cnt; r++)
                logits[(size_t)(t0 + r) * (E + 1) + row] = lane_sum(red, r, j, lanes) + bias;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* ------------------------------------------------------------------ align */

/* Is (va, ia) ranked strictly after (vb, ib)? Higher value first, ties to lower index. */
INLINE bool ranks_after(float va, uint ia, float vb, uint ib)
{
    return va < vb || (va == vb && ia > ib);
}

INLINE float group_score(__global const float *score, __global const float *sb, bool use_sb,
                         uint g, uint per)
{
    float b1 = -INFINITY, b2 = -INFINITY;
    for (uint e = g * per; e < (g + 1) * per; e++) {
        const float c = score[e] + (use_sb ? sb[e] : 0.0f);
        if (c > b1) {
            b2 = b1;
            b1 = c;
        } else if (c > b2) {
            b2 = c;
        }
    }
    return use_sb ? b1 + (per > 1 ? b2 : 0.0f) : b1;
}

/* Scores, selects and weighs the experts of token t. The token's logits row becomes
 * its score row (this work-item is its only reader). */
INLINE void route_token(uint t, __global const uint *prm, __global float *logits,
                        __global const float *sb, __global uint *topk_ids,
                        __global float *topk_w, __global float *gate, uint E, uint K,
                        uint G, uint topk_group)
{
    const uint flags = prm[P_FLAGS];
    const bool use_sb = (flags & F_SCORE_BIAS) != 0;
    __global float *s = logits + (size_t)t * (E + 1);

    gate[t] = (flags & F_SHARED_GATE) ? sigmoidf(s[E]) : 1.0f;
    if (flags & F_SIGMOID) {
        for (uint e = 0; e < E; e++)
            s[e] = sigmoidf(s[e]);
    } else {
        float m = -INFINITY, sum = 0.0f;
        for (uint e = 0; e < E; e++)
            m = fmax(m, s[e]);
        for (uint e = 0; e < E; e++) {
            const float v = exp(s[e] - m);
            s[e] = v;
            sum += v;
        }
        const float inv = 1.0f / sum;
        for (uint e = 0; e < E; e++)
            s[e] *= inv;
    }

    /* Grouped top-k: keep the topk_group best groups, as a bit mask (G <= 64). The
     * k-th pick is the best group ranked after the (k-1)-th, so no "taken" marks. */
    ulong keep = ~0ul;
    const uint per = E / G;
    if (G > 1) {
        keep = 0;
        float pv = 0.0f;
        uint pg = 0;
        for (uint k = 0; k < topk_group && k < G; k++) {
            int best = -1;
            float bv = 0.0f;
            for (uint g = 0; g < G; g++) {
                const float v = group_score(s, sb, use_sb, g, per);
                if (k > 0 && !ranks_after(v, g, pv, pg))
                    continue;
                if (best < 0 || v > bv) {
                    best = (int)g;
                    bv = v;
                }
            }
            if (best < 0)
                break;
            keep |= 1ul << best;
            pv = bv;
            pg = (uint)best;
        }
    }

    /* Top-k by selection in (choice desc, index asc) order, same trick. */
    float pc = 0.0f, sum = 0.0f;
    uint pe = 0;
    for (uint k = 0; k < K; k++) {
        int best = -1;
        float bc = 0.0f;
        for (uint e = 0; e < E; e++) {
            if (G > 1 && !((keep >> (e / per)) & 1ul))
                continue;
            const float c = s[e] + (use_sb ? sb[e] : 0.0f);
            if (k > 0 && !ranks_after(c, e, pc, pe))
                continue;
            if (best < 0 || c > bc) {
                best = (int)e;
                bc = c;
            }
        }
        /* The config validator guarantees K eligible experts; stay in bounds anyway. */
        const uint id = best < 0 ? pe : (uint)best;
        const float w = best < 0 ? 0.0f : s[id];
        topk_ids[(size_t)t * K + k] = id;
        topk_w[(size_t)t * K + k] = w;
        sum += w;
        pc = bc;
        pe = id;
    }
    const float scale = as_float(prm[P_SCALING]);
    for (uint k = 0; k < K; k++) {
        float w = topk_w[(size_t)t * K + k];
        if (flags & F_RENORM)
            w = w / sum;
        topk_w[(size_t)t * K + k] = w * scale;
    }
}

/* One work-group. groups[0..2] / [3..5] / [6..8] receive the group counts of
 * expert_up, expert_down and combine. */
__kernel void align(__global const uint *tokens, __global const uint *prm,
                    __global float *logits, __global const float *score_bias,
                    __global uint *topk_ids, __global float *topk_w, __global float *gate,
                    __global uint *sorted, __global uint *inv, __global uint4 *tiles,
                    __global uint *groups, uint E, uint K, uint G, uint topk_group,
                    uint gx_up, uint gx_down, uint gx_combine)
{
    __local uint cnt[ZMOE_EMAX];
    __local uint off[ZMOE_EMAX];
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const uint T = tokens[0], TK = T * K;
    const uint flags = prm[P_FLAGS];

    for (uint t = lid; t < T; t += ls)
        route_token(t, prm, logits, score_bias, topk_ids, topk_w, gate, E, K, G, topk_group);
    for (uint e = lid; e < E; e += ls)
        cnt[e] = 0;
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    for (uint p = lid; p < TK; p += ls)
        atomic_inc(&cnt[topk_ids[p]]);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        uint o = 0, nt = 0;
        for (uint e = 0; e < E; e++) {
            const uint c = cnt[e];
            off[e] = o;
            for (uint s = 0; s < c; s += ZMOE_RMAX)
                tiles[nt++] = (uint4)(e, o + s, min((uint)ZMOE_RMAX, c - s), 0u);
            o += c;
        }
        if (flags & F_SHARED)
            for (uint s = 0; s < T; s += ZMOE_RMAX)
                tiles[nt++] = (uint4)(E, s, min((uint)ZMOE_RMAX, T - s), 0u);
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
    barrier(CLK_LOCAL_MEM_FENCE);
    /* Placement in (t,k) order inside each expert: deterministic, no atomics. */
    for (uint e = lid; e < E; e += ls) {
        uint q = off[e];
        for (uint p = 0; p < TK; p++)
            if (topk_ids[p] == e) {
                sorted[q] = p;
                inv[p] = q;
                q++;
            }
    }
}

/* ------------------------------------------------------------------ experts */

/* Tile (expert e, first row, rows): e < E routed rows [start, start+cnt) of the sorted
 * order; e == E the shared expert on tokens [start, start+cnt). Column = intermediate
 * index i; the work-item computes gate row i and up row n + i. */
INLINE void expert_up_body(__global const uint *prm, __global const void *x,
                           __global const void *w13, __global const float *b13,
                           __global const void *sw13, __global const float *topk_w,
                           __global const uint *sorted, __global const uint4 *tiles,
                           __global float *a, __global float *a_sh, uint H, uint I, uint S,
                           uint E, uint K, uint lane_spans, __local float *red, const uint wdt,
                           const uint adt)
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
    const size_t grow = ((shared ? 0 : (size_t)e * 2 * I) + col) * H;
    const size_t urow = grow + (size_t)n * H;
    const uint H4 = H & ~3u;

    /* Rows outer, reduction inner: no per-row register arrays, and the weight rows,
     * just read for row 0, come from cache for the other rows of the tile. */
    for (uint r = 0; r < cnt; r++) {
        uint tok;
        float xs = 1.0f;
        if (shared) {
            tok = start + r;
        } else {
            const uint tk = sorted[start + r];
            tok = tk / K;
            if (on_input)
                xs = topk_w[tk];
        }
        const size_t xoff = (size_t)tok * H;
        float ag = 0.0f, au = 0.0f;
        if (active) {
            const float2 gu =
                lane_spans ? dot2_part(w, grow, urow, x, xoff, xs, H4, l, lanes, wdt, adt, 1u)
                           : dot2_part(w, grow, urow, x, xoff, xs, H4, l, lanes, wdt, adt, 0u);
            ag = gu.x;
            au = gu.y;
            if (l == 0)
                for (uint c = H4; c < H; c++) {
                    const float xv = ld1(x, xoff + c, adt) * xs;
                    ag += ld1(w, grow + c, wdt) * xv;
                    au += ld1(w, urow + c, wdt) * xv;
                }
        }
        /* Partials meet in local memory once per row. The barrier sits inside the row
         * loop (cnt is uniform over the work-group): with the loop closed before the
         * barrier, PoCL 3.1 ran it for the first row only. */
        red[j * lanes + l] = ag;
        red[ZMOE_WG + j * lanes + l] = au;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && l == 0) {
            const bool bias = !shared && (flags & F_EXPERT_BIAS);
            const float bg = bias ? b13[(size_t)e * 2 * I + col] : 0.0f;
            const float bu = bias ? b13[(size_t)e * 2 * I + I + col] : 0.0f;
            __global float *out = shared ? a_sh : a;
            out[(size_t)(start + r) * n + col] =
                activate(lane_sum(red, 0, j, lanes) + bg, lane_sum(red, 1, j, lanes) + bu,
                         prm[P_ACTIVATION], as_float(prm[P_ALPHA]), as_float(prm[P_LIMIT]));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Column = hidden index h; rows of a (f32, stride n) times W2[e] row h. */
INLINE void expert_down_body(__global const uint *prm, __global const float *a,
                             __global const float *a_sh, __global const void *w2,
                             __global const float *b2, __global const void *sw2,
                             __global const uint4 *tiles, __global float *o,
                             __global float *o_sh, uint H, uint I, uint S, uint E,
                             uint lane_spans, __local float *red, const uint wdt)
{
    const uint l = get_local_id(0), j = get_local_id(1);
    const uint lanes = get_local_size(0), nout = get_local_size(1);
    const uint4 tile = tiles[get_group_id(1)];
    const uint e = tile.x, start = tile.y, cnt = tile.z;
    const bool shared = e == E;
    const uint n = shared ? S : I;
    const uint h = get_group_id(0) * nout + j;
    const bool active = h < H;
    __global const void *w = shared ? sw2 : w2;
    __global const float *in = (shared ? a_sh : a) + (size_t)start * n;
    const size_t wrow = ((shared ? 0 : (size_t)e * H) + h) * n;
    const uint n4 = n & ~3u;

    for (uint r = 0; r < cnt; r++) {
        __global const float *ar = in + (size_t)r * n;
        float acc = 0.0f;
        if (active) {
            acc = lane_spans ? dot_part(w, wrow, ar, 0, n4, l, lanes, wdt, DT_F32, 1u)
                             : dot_part(w, wrow, ar, 0, n4, l, lanes, wdt, DT_F32, 0u);
            if (l == 0)
                for (uint c = n4; c < n; c++)
                    acc += ld1(w, wrow + c, wdt) * ar[c];
        }
        red[r * ZMOE_WG + j * lanes + l] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (active && l == 0) {
        const float bias = (!shared && (prm[P_FLAGS] & F_EXPERT_BIAS)) ? b2[(size_t)e * H + h] : 0.0f;
        __global float *out = shared ? o_sh : o;
        for (uint r = 0; r < cnt; r++)
            out[(size_t)(start + r) * H + h] = lane_sum(red, r, j, lanes) + bias;
    }
}

/* ------------------------------------------------------------------ combine */

/* One work-item per (h, t); k summed in order: deterministic, no atomics. */
INLINE void combine_body(__global const uint *prm, __global const float *o,
                         __global const float *o_sh, __global const float *topk_w,
                         __global const float *gate, __global const uint *inv,
                         __global void *y, uint H, uint K, const uint adt)
{
    const uint h = get_global_id(0), t = get_group_id(1);
    if (h >= H)
        return;
    const uint flags = prm[P_FLAGS];
    const bool on_input = (flags & F_ON_INPUT) != 0;
    float acc = 0.0f;
    for (uint k = 0; k < K; k++) {
        const uint p = inv[t * K + k];
        const float c = on_input ? 1.0f : topk_w[t * K + k];
        acc += c * o[(size_t)p * H + h];
    }
    if (flags & F_SHARED)
        acc += gate[t] * o_sh[(size_t)t * H + h];
    st1(y, (size_t)t * H + h, acc, adt);
}

/* ------------------------------------------------------------------ variants */

#define ROUTER(WN, WD, AN, AD)                                                              \
    __kernel void router_w##WN##_a##AN(__global const uint *tokens, __global const uint *prm,  \
                                       __global const void *x, __global const void *wr,     \
                                       __global const float *br, __global const void *wgate, \
                                       __global float *logits, uint H, uint E,              \
                                       uint lane_spans)                                     \
    {                                                                                       \
        __local float red[ZMOE_RMAX * ZMOE_WG];                                             \
        router_body(tokens, prm, x, wr, br, wgate, logits, H, E, lane_spans, red, WD, AD);  \
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
                       K, lane_spans, red, WD, AD);                                         \
    }

#define EXPERT_DOWN(WN, WD)                                                                 \
    __kernel void expert_down_w##WN(__global const uint *prm, __global const float *a,      \
                                    __global const float *a_sh, __global const void *w2,    \
                                    __global const float *b2, __global const void *sw2,     \
                                    __global const uint4 *tiles, __global float *o,         \
                                    __global float *o_sh, uint H, uint I, uint S, uint E,   \
                                    uint lane_spans)                                        \
    {                                                                                       \
        __local float red[ZMOE_RMAX * ZMOE_WG];                                             \
        expert_down_body(prm, a, a_sh, w2, b2, sw2, tiles, o, o_sh, H, I, S, E, lane_spans, \
                         red, WD);                                                          \
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
PER_ACT(EXPERT_UP, f32, DT_F32)
PER_ACT(EXPERT_UP, f16, DT_F16)
PER_ACT(EXPERT_UP, bf16, DT_BF16)
EXPERT_DOWN(f32, DT_F32)
EXPERT_DOWN(f16, DT_F16)
EXPERT_DOWN(bf16, DT_BF16)
COMBINE(f32, DT_F32)
COMBINE(f16, DT_F16)
COMBINE(bf16, DT_BF16)

/* Reference for bandwidth measurements: a plain f32 copy, 4 elements per work-item. */
__kernel void copy_f32(__global float *dst, __global const float *src, uint n4)
{
    const uint i = get_global_id(0);
    if (i < n4)
        vstore4(vload4(i, src), i, dst);
}
