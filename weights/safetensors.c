/* weights/safetensors: load the MoE tensors of a safetensors checkpoint in the kernel
 * layout of weights.h. See safetensors.h and README.md.
 *
 * Flow: st_container.c maps and parses every file into one tensor table; here the layer
 * prefix and the checkpoint's MoE layers are found, every tensor the config needs is
 * validated (present, dtype, shape) for every layer against the layout's pieces
 * (st_layouts.c), and only then the sink is called, piece by piece through the staging
 * buffer. */
#include "weights/quant.h"
#include "weights/st_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ prefix and layers */

/* Collects the checkpoint layer numbers N with a "<prefix>N.<router suffix>" tensor,
 * ascending. */
static uint32_t scan_layers(struct st_ws *ws, const char *prefix, const char *suffix,
                            bool store)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    uint32_t n = 0;
    for (uint32_t k = 0; k < ws->ntensors; k++) {
        const struct st_tensor *t = &ws->t[k];
        if (t->name_len < pl + 2 + sl || memcmp(t->name, prefix, pl) != 0)
            continue;
        size_t i = pl;
        uint64_t num = 0;
        while (i < t->name_len && t->name[i] >= '0' && t->name[i] <= '9' && num <= UINT32_MAX)
            num = num * 10 + (uint64_t)(t->name[i++] - '0');
        if (i == pl || i - pl > 10 || num > UINT32_MAX || (t->name[pl] == '0' && i - pl > 1))
            continue;
        if (t->name_len != i + 1 + sl || t->name[i] != '.' || memcmp(t->name + i + 1, suffix, sl))
            continue;
        if (store && n < ZMOE_ST_MAX_LAYERS)
            ws->layer[n] = (uint32_t)num;
        n++;
    }
    if (store) {
        uint32_t m = n < ZMOE_ST_MAX_LAYERS ? n : ZMOE_ST_MAX_LAYERS;
        for (uint32_t a = 1; a < m; a++) { /* insertion sort: at most a few hundred */
            uint32_t v = ws->layer[a], b = a;
            while (b > 0 && ws->layer[b - 1] > v) {
                ws->layer[b] = ws->layer[b - 1];
                b--;
            }
            ws->layer[b] = v;
        }
        ws->nlayers = m;
    }
    return n;
}

static const char *const known_prefixes[] = {"model.layers.", "language_model.model.layers.",
                                             "model.language_model.layers."};

/* ------------------------------------------------------------------ validation */

static const char *file_of(const struct st_ws *ws)
{
    return ws->index_map ? ws->index_path : ws->file[0].path;
}

/* A float kernel tensor the checkpoint stores quantized: name the format it has (at the
 * float tensor's own name, or at the family's quantized linears, e.g. Llama 4 from
 * llm-compressor), so the message says what to configure. */
static bool quantized_instead(const struct st_ws *ws, const struct lctx *c, uint32_t L,
                              enum zmoe_tensor t, const char *name, struct zmoe_error *err)
{
    const struct st_qformat *f = st_qformat_detect(ws, name);
    struct st_qpiece q;
    char where[sizeof q.base + 16];
    snprintf(where, sizeof where, "%s", name);
    if (st_ends_with(where, ".weight"))
        where[strlen(where) - strlen(".weight")] = '\0';
    if (!f && st_qlayout_piece(c, L, t, 0, &q) == 1 && (f = st_qformat_detect(ws, q.base)))
        snprintf(where, sizeof where, "%s", q.base);
    if (!f)
        return false;
    errf(err, "weights: %s: '%s' is stored as %s ('%s%s'), but the config has %s for %s "
              "([quant] format and packing; float experts are dtype.weights %s)", file_of(ws),
         where, f->name, where, f->piece[QR_CODES].suffix,
         c->cfg->quant.format ? "float shared experts (quant.shared_experts = false)"
                              : "no [quant] format",
         zmoe_tensor_name(t), zmoe_dtype_name(c->cfg->dtype.weights));
    return true;
}

static enum zmoe_status check_piece(const struct st_ws *ws, const struct lctx *c, uint32_t L,
                                    enum zmoe_tensor kt, const struct piece *p,
                                    struct zmoe_error *err)
{
    const struct st_tensor *t = st_find_tensor(ws, p->name);
    if (!t || (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)) {
        if (quantized_instead(ws, c, L, kt, p->name, err))
            return ZMOE_ERR_WEIGHTS;
    }
    if (!t) {
        errf(err, "weights: %s: missing tensor '%s' (layout %s, prefix '%s')", file_of(ws),
             p->name, st_layout_name(c->layout), c->prefix);
        return ZMOE_ERR_WEIGHTS;
    }
    const char *fname = ws->file[t->file].path;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        errf(err, "weights: %s: tensor '%s': dtype %s not supported (expected F32, F16 or "
                  "BF16)", fname, p->name, st_dtypes[t->dtype].name);
        return ZMOE_ERR_WEIGHTS;
    }
    bool ok = t->ndim == p->ndim;
    for (unsigned d = 0; ok && d < p->ndim; d++)
        ok = t->shape[d] == p->shape[d];
    if (!ok) {
        char want[96], got[96];
        st_fmt_shape(want, sizeof want, p->shape, p->ndim);
        st_fmt_shape(got, sizeof got, t->shape, t->ndim < ST_KEPT_RANK ? t->ndim : ST_KEPT_RANK);
        errf(err, "weights: %s: tensor '%s': expected shape %s, found %s%s (layout %s, "
                  "E=%llu H=%llu I=%llu S=%llu)", fname, p->name, want, got,
             t->ndim > ST_KEPT_RANK ? "..." : "", st_layout_name(c->layout),
             (unsigned long long)c->E, (unsigned long long)c->H, (unsigned long long)c->I,
             (unsigned long long)c->S);
        return ZMOE_ERR_WEIGHTS;
    }
    /* The piece's last element lies inside the tensor (true by construction; checked so
     * a layout bug cannot read outside the mapping). */
    uint64_t n = 1;
    for (unsigned d = 0; d < p->ndim; d++)
        n *= p->shape[d];
    uint64_t last = p->base + (p->nrows - 1) * p->row_step + (p->ncols - 1) * p->col_stride;
    if (p->nrows == 0 || p->ncols == 0 || last >= n) {
        errf(err, "weights: internal: piece of '%s' outside the tensor", p->name);
        return ZMOE_ERR_WEIGHTS;
    }
    return ZMOE_OK;
}

/* The routing and activation a layout's model family fixes in its modeling code,
 * against the config (and, for DeepSeek, the checkpoint: V3 has a score-correction
 * bias, V2 has none). A mismatch would run without a word and give other numbers. */
static enum zmoe_status check_semantics(const struct st_ws *ws, const struct lctx *c,
                                        struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    const char *L = st_layout_name(c->layout), *key = NULL, *want = NULL, *got = NULL;
    const char *why = "";
    char gotbuf[32];
    bool softmax = cfg->router.scoring == ZMOE_SCORING_SOFTMAX;
    const char *scoring = softmax ? "softmax" : "sigmoid";
#define NEED(cond, k, w, g, y)                                                                 \
    do {                                                                                      \
        if (!key && !(cond)) {                                                                \
            key = (k);                                                                        \
            want = (w);                                                                       \
            got = (g);                                                                        \
            why = (y);                                                                        \
        }                                                                                     \
    } while (0)
    snprintf(gotbuf, sizeof gotbuf, "%g", (double)cfg->router.routed_scaling_factor);
    bool on_input = cfg->router.apply_router_weight_on_input;
    switch (c->layout) {
    case ZMOE_LAYOUT_LLAMA4:
        NEED(!softmax, "router.scoring", "sigmoid", scoring, "Llama4Router: sigmoid of the top-k logits");
        NEED(!cfg->router.renormalize, "router.renormalize", "false", "true", "Llama4Router uses the scores as they are");
        NEED(on_input, "router.apply_router_weight_on_input", "true", "false", "Llama4TextMoe scales each routed copy of x by its score");
        break;
    case ZMOE_LAYOUT_MIXTRAL:
        NEED(softmax, "router.scoring", "softmax", scoring, "MixtralSparseMoeBlock: softmax over the logits");
        NEED(cfg->router.renormalize, "router.renormalize", "true", "false", "MixtralSparseMoeBlock divides the top-k weights by their sum");
        break;
    case ZMOE_LAYOUT_QWEN_MOE:
        NEED(softmax, "router.scoring", "softmax", scoring, "Qwen2/3-MoE: softmax over the logits (norm_topk_prob = router.renormalize)");
        break;
    case ZMOE_LAYOUT_DEEPSEEK: {
        char name[ZMOE_PREFIX_MAX + 128];
        snprintf(name, sizeof name, "%s%u.mlp.gate.e_score_correction_bias", c->prefix,
                 ws->layer[0]);
        bool v3 = st_find_tensor(ws, name) != NULL;
        bool sb = cfg->router.score_correction_bias;
        if (v3) {
            NEED(!softmax, "router.scoring", "sigmoid", scoring, "the checkpoint has e_score_correction_bias: DeepSeek-V3 (scoring_func sigmoid, topk_method noaux_tc)");
            NEED(sb, "router.score_correction_bias", "true", "false", "the checkpoint has e_score_correction_bias: DeepSeek-V3 (topk_method noaux_tc)");
        } else {
            NEED(softmax, "router.scoring", "softmax", scoring, "the checkpoint has no e_score_correction_bias: DeepSeek-V2 (scoring_func softmax)");
            NEED(!sb, "router.score_correction_bias", "false", "true", "the checkpoint has no e_score_correction_bias: DeepSeek-V2");
        }
        break;
    }
    case ZMOE_LAYOUT_GPT_OSS:
        NEED(softmax, "router.scoring", "softmax", scoring, "GptOssTopKRouter: softmax over the top-k logits");
        NEED(cfg->router.renormalize, "router.renormalize", "true", "false", "GptOssTopKRouter: softmax over the top-k logits only");
        NEED(cfg->experts.gate_up_interleaved, "experts.gate_up", "interleaved", "concatenated", "GPT-OSS stores gate_up_proj with gate and up in alternating columns");
        NEED(cfg->experts.activation == ZMOE_ACT_SWIGLU_OAI, "experts.activation", "swiglu_oai", "another activation", "GptOssExperts: clamped SwiGLU with alpha 1.702");
        NEED(cfg->experts.activation != ZMOE_ACT_SWIGLU_OAI || cfg->experts.swiglu_alpha == 1.702f, "experts.swiglu_alpha", "1.702", "another value", "GptOssExperts.alpha is fixed in the modeling code");
        break;
    default:
        break;
    }
    if (c->layout != ZMOE_LAYOUT_LLAMA4)
        NEED(!on_input, "router.apply_router_weight_on_input", "false", "true", "only Llama 4 scales the experts' input");
    if (c->layout != ZMOE_LAYOUT_DEEPSEEK) {
        NEED(cfg->router.groups <= 1, "router.groups", "1", "more than 1", "grouped top-k is DeepSeek's");
        NEED(cfg->router.routed_scaling_factor == 1.0f, "router.routed_scaling_factor", "1", gotbuf, "routed scaling is DeepSeek's");
    }
#undef NEED
    if (!key)
        return ZMOE_OK;
    errf(err, "weights: %s: config key '%s' is %s, but layout %s requires %s (%s)", file_of(ws),
         key, got, L, want, why);
    return ZMOE_ERR_CONFIG;
}

static enum zmoe_status validate_all(struct st_ws *ws, const struct lctx *c,
                                     struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    struct piece p;
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        uint32_t L = ws->layer[l];
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            enum zmoe_tensor t = (enum zmoe_tensor)ti;
            bool want = zmoe_tensor_present(cfg, t);
            int r = st_layout_piece(c, L, t, 0, &p);
            if (!want) {
                /* A checkpoint tensor the config would ignore means a config mismatch
                 * (e.g. GPT-OSS biases with experts.bias = false): refuse it. */
                if (r == 1 && st_find_tensor(ws, p.name)) {
                    errf(err, "weights: %s: checkpoint has '%s' but the config disables it (%s)",
                         file_of(ws), p.name, st_tensor_switch(t));
                    return ZMOE_ERR_WEIGHTS;
                }
                continue;
            }
            if (r < 0) {
                errf(err, "weights: layout %s has no %s tensor, but the config enables %s",
                     st_layout_name(c->layout), zmoe_tensor_name(t), st_tensor_switch(t));
                return ZMOE_ERR_CONFIG;
            }
            struct zmoe_qmatrix m;
            if (zmoe_quant_matrix(cfg, t, &m)) {
                enum zmoe_status st = st_quant_validate(ws, c, L, t, &m, err);
                if (st != ZMOE_OK)
                    return st;
                continue;
            }
            uint64_t elems = 0;
            for (uint64_t idx = 0; st_layout_piece(c, L, t, idx, &p) == 1; idx++) {
                enum zmoe_status st = check_piece(ws, c, L, t, &p, err);
                if (st != ZMOE_OK)
                    return st;
                elems += p.nrows * p.ncols;
            }
            if (elems != zmoe_tensor_elements(cfg, t)) {
                errf(err, "weights: internal: layout %s gives %llu elements for %s, want %llu",
                     st_layout_name(c->layout), (unsigned long long)elems, zmoe_tensor_name(t),
                     (unsigned long long)zmoe_tensor_elements(cfg, t));
                return ZMOE_ERR_WEIGHTS;
            }
        }
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ streaming */

enum zmoe_status st_flush(struct st_out *o)
{
    if (o->fill == 0)
        return ZMOE_OK;
    enum zmoe_status st = o->sink(o->ctx, o->layer, o->t, o->offset, o->staging, o->fill, o->err);
    o->offset += o->fill;
    o->fill = 0;
    return st;
}

static inline void put(unsigned char *dst, enum zmoe_dtype ddt, size_t ds,
                       const unsigned char *src, enum zmoe_dtype sdt)
{
    if (ddt == sdt)
        memcpy(dst, src, ds); /* bit-exact, NaN payloads included */
    else
        zmoe_weights_store_elem(dst, ddt, zmoe_weights_load_elem(src, sdt));
}

/* dst[r][c] (r < rows, c < cols, row length cols) = src[r*rs + c*cs], in square tiles
 * so both the strided reads and the strided writes stay within a few pages (a plain
 * column walk over a large matrix misses the TLB on every element). */
#define ZMOE_ST_TILE 32
static void transpose_block(unsigned char *dst, enum zmoe_dtype ddt, const unsigned char *src,
                            enum zmoe_dtype sdt, uint64_t rows, uint64_t cols, uint64_t rs,
                            uint64_t cs)
{
    size_t ds = zmoe_dtype_size(ddt), ss = zmoe_dtype_size(sdt);
    for (uint64_t c0 = 0; c0 < cols; c0 += ZMOE_ST_TILE) {
        uint64_t c1 = c0 + ZMOE_ST_TILE < cols ? c0 + ZMOE_ST_TILE : cols;
        for (uint64_t r0 = 0; r0 < rows; r0 += ZMOE_ST_TILE) {
            uint64_t r1 = r0 + ZMOE_ST_TILE < rows ? r0 + ZMOE_ST_TILE : rows;
            if (ddt == sdt && ds == 2) {
                for (uint64_t c = c0; c < c1; c++)
                    for (uint64_t r = r0; r < r1; r++)
                        memcpy(dst + (r * cols + c) * 2, src + (r * rs + c * cs) * 2, 2);
            } else if (ddt == sdt) {
                for (uint64_t c = c0; c < c1; c++)
                    for (uint64_t r = r0; r < r1; r++)
                        memcpy(dst + (r * cols + c) * 4, src + (r * rs + c * cs) * 4, 4);
            } else {
                for (uint64_t c = c0; c < c1; c++)
                    for (uint64_t r = r0; r < r1; r++)
                        put(dst + (r * cols + c) * ds, ddt, ds, src + (r * rs + c * cs) * ss, sdt);
            }
        }
    }
}

static enum zmoe_status stream_piece(struct st_out *o, const struct piece *p,
                                     const unsigned char *src, enum zmoe_dtype sdt,
                                     enum zmoe_dtype ddt)
{
    size_t ss = zmoe_dtype_size(sdt), ds = zmoe_dtype_size(ddt);
    enum zmoe_status st;
    if (p->col_stride == 1) {
        /* Rows are contiguous in the checkpoint: convert them in staging-sized runs. */
        for (uint64_t j = 0; j < p->nrows; j++) {
            const unsigned char *row = src + (p->base + j * p->row_step) * ss;
            uint64_t done = 0;
            while (done < p->ncols) {
                size_t room = (o->cap - o->fill) / ds;
                if (room == 0) {
                    if ((st = st_flush(o)) != ZMOE_OK)
                        return st;
                    continue;
                }
                uint64_t n = p->ncols - done < room ? p->ncols - done : room;
                zmoe_dtype_convert(o->staging + o->fill, ddt, row + done * ss, sdt, (size_t)n);
                o->fill += (size_t)n * ds;
                done += n;
            }
        }
        return ZMOE_OK;
    }
    /* Transposed or de-interleaved: build blocks of whole output rows in staging, walking
     * the checkpoint row by row (column c of the output) so reads stay close together. */
    uint64_t row_bytes = p->ncols * ds;
    uint64_t j = 0;
    while (j < p->nrows) {
        uint64_t b = (o->cap - o->fill) / row_bytes;
        if (b == 0 && o->fill) {
            if ((st = st_flush(o)) != ZMOE_OK)
                return st;
            continue;
        }
        if (b == 0) {
            /* One output row does not fit the staging buffer: element by element. */
            for (uint64_t cc = 0; cc < p->ncols; cc++) {
                if (o->cap - o->fill < ds && (st = st_flush(o)) != ZMOE_OK)
                    return st;
                put(o->staging + o->fill, ddt, ds,
                    src + (p->base + j * p->row_step + cc * p->col_stride) * ss, sdt);
                o->fill += ds;
            }
            j++;
            continue;
        }
        if (b > p->nrows - j)
            b = p->nrows - j;
        unsigned char *blk = o->staging + o->fill;
        transpose_block(blk, ddt, src + (p->base + j * p->row_step) * ss, sdt, b, p->ncols,
                        p->row_step, p->col_stride);
        o->fill += (size_t)(b * row_bytes);
        j += b;
    }
    return ZMOE_OK;
}

static enum zmoe_status stream_all(struct st_ws *ws, const struct lctx *c,
                                   unsigned char *staging, size_t staging_size,
                                   zmoe_weights_sink sink, void *ctx, struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    struct piece p;
    struct st_out o = {.staging = staging, .cap = staging_size, .sink = sink, .ctx = ctx, .err = err};
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            enum zmoe_tensor t = (enum zmoe_tensor)ti;
            if (!zmoe_tensor_present(cfg, t))
                continue;
            o.layer = l;
            o.t = t;
            o.offset = 0;
            o.fill = 0;
            struct zmoe_qmatrix m;
            if (zmoe_quant_matrix(cfg, t, &m)) {
                enum zmoe_status r = st_quant_stream(ws, c, ws->layer[l], &m, &o);
                if (r == ZMOE_OK)
                    r = st_flush(&o);
                if (r != ZMOE_OK)
                    return r;
                continue;
            }
            enum zmoe_dtype ddt = zmoe_tensor_dtype(cfg, t);
            for (uint64_t idx = 0; st_layout_piece(c, ws->layer[l], t, idx, &p) == 1; idx++) {
                const struct st_tensor *st = st_find_tensor(ws, p.name); /* validated */
                const struct st_file *f = &ws->file[st->file];
                enum zmoe_dtype sdt = st->dtype == ST_F32   ? ZMOE_DTYPE_F32
                                      : st->dtype == ST_F16 ? ZMOE_DTYPE_F16
                                                            : ZMOE_DTYPE_BF16;
                enum zmoe_status r = stream_piece(&o, &p, f->data + st->begin, sdt, ddt);
                if (r != ZMOE_OK)
                    return r;
            }
            enum zmoe_status r = st_flush(&o);
            if (r != ZMOE_OK)
                return r;
        }
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ entry points */

static enum zmoe_status take_workspace(void **ws, size_t ws_size, bool *owned,
                                       struct zmoe_error *err)
{
    *owned = false;
    if (*ws) {
        if (ws_size < sizeof(struct st_ws) || ((uintptr_t)*ws & (_Alignof(struct st_ws) - 1))) {
            errf(err, "weights: safetensors workspace of %zu bytes is below %zu or misaligned",
                 ws_size, sizeof(struct st_ws));
            return ZMOE_ERR_ARGUMENT;
        }
    } else {
        *ws = malloc(sizeof(struct st_ws)); /* the one fixed allocation (see safetensors.h) */
        if (!*ws) {
            errf(err, "weights: cannot allocate the %zu-byte safetensors workspace",
                 sizeof(struct st_ws));
            return ZMOE_ERR_NO_MEMORY;
        }
        *owned = true;
    }
    /* empty tables: whatever a caller's workspace held before */
    struct st_ws *w = *ws;
    w->nfiles = 0;
    w->ntensors = 0;
    w->nlayers = 0;
    w->index_map = NULL;
    return ZMOE_OK;
}

enum zmoe_status zmoe_safetensors_check(const void *data, size_t size, const char *name,
                                        void *workspace, size_t workspace_size,
                                        struct zmoe_error *err)
{
    bool owned;
    enum zmoe_status st = take_workspace(&workspace, workspace_size, &owned, err);
    if (st != ZMOE_OK)
        return st;
    st = st_open_image(workspace, data, size, name, err);
    if (owned)
        free(workspace);
    return st;
}

static void add_report(char *report, size_t report_size, const struct st_ws *ws,
                       const struct lctx *c, bool detected)
{
    if (!report || !report_size)
        return;
    size_t o = 0;
    o += (size_t)snprintf(report, report_size,
                          "safetensors %s: %u file%s, %u tensors; layout %s; prefix '%s' (%s); "
                          "MoE layers at checkpoint layers",
                          file_of(ws), ws->nfiles, ws->nfiles == 1 ? "" : "s", ws->ntensors,
                          st_layout_name(c->layout), c->prefix, detected ? "detected" : "configured");
    uint32_t n = c->cfg->model.layers;
    for (uint32_t l = 0; l < n && o < report_size; l++) {
        if (l == 6 && n > 8) {
            o += (size_t)snprintf(report + o, report_size - o, " ... %u", ws->layer[n - 1]);
            break;
        }
        o += (size_t)snprintf(report + o, report_size - o, " %u", ws->layer[l]);
    }
    if (o < report_size && ws->nlayers > n)
        o += (size_t)snprintf(report + o, report_size - o, " (first %u of %u)", n, ws->nlayers);
    (void)o;
}

/* Prefix: the configured one, or the first known one with a router tensor in any layer
 * (DeepSeek's first layers are dense, so layer 0 may have none); then the checkpoint's
 * MoE layer numbers into ws->layer. */
static enum zmoe_status find_layers(struct st_ws *ws, struct lctx *c, bool *detected,
                                    struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    const char *suffix = st_router_suffix(c->layout);
    *detected = false;
    if (cfg->weights.prefix[0]) {
        c->prefix = cfg->weights.prefix;
    } else {
        for (size_t k = 0; k < sizeof known_prefixes / sizeof known_prefixes[0]; k++)
            if (scan_layers(ws, known_prefixes[k], suffix, false)) {
                c->prefix = known_prefixes[k];
                *detected = true;
                break;
            }
        if (!c->prefix) {
            errf(err, "weights: %s: layer prefix not found: no tensor '<prefix><N>.%s' for "
                      "prefix 'model.layers.', 'language_model.model.layers.' or "
                      "'model.language_model.layers.' (layout %s; set weights.prefix)",
                 file_of(ws), suffix, st_layout_name(c->layout));
            return ZMOE_ERR_WEIGHTS;
        }
    }
    uint32_t found = scan_layers(ws, c->prefix, suffix, true);
    if (found > ZMOE_ST_MAX_LAYERS) {
        errf(err, "weights: %s: more than %u MoE layers", file_of(ws), ZMOE_ST_MAX_LAYERS);
        return ZMOE_ERR_WEIGHTS;
    }
    if (found < cfg->model.layers) {
        errf(err, "weights: %s: the config has %u MoE layers but the checkpoint has %u "
                  "('%s<N>.%s' tensors, layout %s)", file_of(ws), cfg->model.layers, found,
             c->prefix, suffix, st_layout_name(c->layout));
        return ZMOE_ERR_WEIGHTS;
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_safetensors_layers(const struct zmoe_config *cfg, char *prefix,
                                         size_t prefix_size, bool *detected, uint32_t *layers,
                                         uint32_t max_layers, uint32_t *found,
                                         struct zmoe_error *err)
{
    if (!cfg || !prefix || !prefix_size || !detected || !found || (max_layers && !layers)) {
        errf(err, "weights: zmoe_safetensors_layers: NULL argument");
        return ZMOE_ERR_ARGUMENT;
    }
    if (cfg->weights.layout < ZMOE_LAYOUT_LLAMA4 || cfg->weights.layout > ZMOE_LAYOUT_GPT_OSS ||
        !cfg->weights.file[0]) {
        errf(err, "weights: no checkpoint configured (weights.file and a layout)");
        return ZMOE_ERR_CONFIG;
    }
    bool owned;
    void *workspace = NULL;
    enum zmoe_status st = take_workspace(&workspace, 0, &owned, err);
    if (st != ZMOE_OK)
        return st;
    struct st_ws *ws = workspace;
    struct lctx c = {.cfg = cfg, .layout = cfg->weights.layout};
    st = st_open_all(ws, cfg->weights.file, err);
    if (st == ZMOE_OK)
        st = find_layers(ws, &c, detected, err);
    if (st == ZMOE_OK) {
        snprintf(prefix, prefix_size, "%s", c.prefix);
        *found = ws->nlayers;
        for (uint32_t i = 0; i < ws->nlayers && i < max_layers; i++)
            layers[i] = ws->layer[i];
    }
    st_unmap_all(ws);
    if (owned)
        free(ws);
    return st;
}

enum zmoe_status zmoe_safetensors_load(const struct zmoe_config *cfg, void *workspace,
                                       size_t workspace_size, void *staging,
                                       size_t staging_size, zmoe_weights_sink sink, void *ctx,
                                       char *report, size_t report_size,
                                       struct zmoe_error *err)
{
    if (!cfg || !staging || !sink || staging_size < ZMOE_WEIGHTS_MIN_STAGING) {
        errf(err, "weights: NULL argument or staging buffer below %d bytes",
             ZMOE_WEIGHTS_MIN_STAGING);
        return ZMOE_ERR_ARGUMENT;
    }
    enum zmoe_status st = zmoe_weights_check_geometry(cfg, err);
    if (st != ZMOE_OK)
        return st;
    if (cfg->weights.layout < ZMOE_LAYOUT_LLAMA4 || cfg->weights.layout > ZMOE_LAYOUT_GPT_OSS) {
        errf(err, "weights: %s: a checkpoint layout is needed (llama4, mixtral, qwen_moe, "
                  "deepseek or gpt_oss)", cfg->weights.file);
        return ZMOE_ERR_CONFIG;
    }
    bool owned;
    st = take_workspace(&workspace, workspace_size, &owned, err);
    if (st != ZMOE_OK)
        return st;
    struct st_ws *ws = workspace;

    struct lctx c = {
        .cfg = cfg,
        .layout = cfg->weights.layout,
        .E = cfg->model.experts,
        .H = cfg->model.hidden,
        .I = cfg->model.intermediate,
        .S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate,
    };
    bool detected = false;
    st = st_open_all(ws, cfg->weights.file, err);
    if (st != ZMOE_OK)
        goto out;
    st = find_layers(ws, &c, &detected, err);
    if (st != ZMOE_OK)
        goto out;
    st = check_semantics(ws, &c, err);
    if (st != ZMOE_OK)
        goto out;
    st = validate_all(ws, &c, err);
    if (st != ZMOE_OK)
        goto out;
    add_report(report, report_size, ws, &c, detected);
    st = stream_all(ws, &c, staging, staging_size, sink, ctx, err);
out:
    st_unmap_all(ws);
    if (owned)
        free(ws);
    return st;
}
