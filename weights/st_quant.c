/* weights/st_quant.c: quantized kernel tensors (weights/quant.h) from a checkpoint. For
 * each piece of a kernel tensor (st_layouts.c's quantized rows: one checkpoint linear,
 * or one expert of a fused tensor) this picks the format row (st_formats.c) the config
 * names, checks every piece's presence, dtype, shape and values before any sink call,
 * and streams the device parts (codes, scales, zeros, perm) through the staging buffer
 * in tensor order, zero padding between parts. Knows no format's packing: that is each
 * row's repack function. */
#include "weights/quant.h"
#include "weights/st_priv.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ names and dtypes */

static void name_of(char *buf, size_t n, const char *base, const char *suffix)
{
    snprintf(buf, n, "%s%s", base, suffix);
}

/* The checkpoint dtypes that hold scales of dt: GPT-OSS writes e8m0 bytes as U8. */
static uint32_t scale_mask(enum zmoe_scale_dtype dt)
{
    switch (dt) {
    case ZMOE_SCALE_F16: return 1u << ST_F16;
    case ZMOE_SCALE_BF16: return 1u << ST_BF16;
    case ZMOE_SCALE_F32: return 1u << ST_F32;
    case ZMOE_SCALE_E8M0: return (1u << ST_U8) | (1u << ST_F8_E8M0);
    default: return 0;
    }
}

static const char *scale_dtype_key(enum zmoe_scale_dtype dt)
{
    static const char *const names[] = {"f16", "bf16", "f32", "e8m0"};
    return (unsigned)dt < 4 ? names[dt] : "?";
}

static uint32_t allowed(const struct st_qpiece_def *d, const struct zmoe_config *cfg)
{
    return d->dtypes == QD_SCALE_DTYPE ? scale_mask(cfg->quant.scale_dtype) : d->dtypes;
}

static void mask_names(char *buf, size_t n, uint32_t mask)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int d = 0; d < ST_NDTYPES && o < n; d++)
        if (mask & (1u << d))
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? " or " : "", st_dtypes[d].name);
}

static bool is_float_dtype(uint8_t dt)
{
    return dt == ST_F32 || dt == ST_F16 || dt == ST_BF16;
}

static const char *file_of(const struct st_ws *ws)
{
    return ws->index_map ? ws->index_path : ws->file[0].path;
}

/* "int4 gptq": the config's format and packing, for messages. */
static void config_format(char *buf, size_t n, const struct zmoe_config *cfg)
{
    snprintf(buf, n, "%s %s", zmoe_quant_format_name(cfg->quant.format),
             st_packing_name(cfg->quant.packing));
}

/* ------------------------------------------------------------------ format detection */

const struct st_qformat *st_qformat_detect(const struct st_ws *ws, const char *name)
{
    char base[ZMOE_PREFIX_MAX + 160], nm[ZMOE_PREFIX_MAX + 200];
    snprintf(base, sizeof base, "%s", name);
    if (st_ends_with(base, ".weight"))
        base[strlen(base) - strlen(".weight")] = '\0';
    for (size_t i = 0; st_qformat_at(i); i++) {
        const struct st_qformat *f = st_qformat_at(i);
        bool all = true;
        for (int r = 0; r < QR_NROLES && all; r++) {
            const struct st_qpiece_def *d = &f->piece[r];
            if (!d->suffix || d->need != QN_ALWAYS)
                continue;
            name_of(nm, sizeof nm, base, d->suffix);
            const struct st_tensor *t = st_find_tensor(ws, nm);
            /* the codes piece's dtype tells fp8 `weight` from int8 `weight` from float */
            all = t && (r != QR_CODES || (d->dtypes & (1u << t->dtype)));
        }
        if (all)
            return f;
    }
    return NULL;
}

/* No piece of the configured format: say what the checkpoint has instead. */
static enum zmoe_status mismatch(const struct st_ws *ws, const struct lctx *c, uint32_t L,
                                 enum zmoe_tensor tensor, const struct st_qpiece *p,
                                 struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    char want[64], nm[ZMOE_PREFIX_MAX + 200];
    config_format(want, sizeof want, cfg);
    const bool shared = tensor == ZMOE_TENSOR_SHARED_W13 || tensor == ZMOE_TENSOR_SHARED_W2;
    const char *hint = shared ? "; quant.shared_experts = false keeps shared experts float" : "";
    const struct st_qformat *det = st_qformat_detect(ws, p->base);
    if (det) {
        errf(err, "weights: %s: linear '%s' is stored as %s ('%s%s'), but the config says %s "
                  "([quant] format and packing)", file_of(ws), p->base, det->name, p->base,
             det->piece[QR_CODES].suffix, want);
        return ZMOE_ERR_WEIGHTS;
    }
    /* float: the linear's .weight, or the family's float tensor (Llama 4's fused
     * gate_up_proj, GPT-OSS's bf16 experts) */
    name_of(nm, sizeof nm, p->base, ".weight");
    const struct st_tensor *t = st_find_tensor(ws, nm);
    struct piece fp;
    if (!(t && is_float_dtype(t->dtype)) && st_layout_piece(c, L, tensor, 0, &fp) == 1) {
        snprintf(nm, sizeof nm, "%s", fp.name);
        t = st_find_tensor(ws, nm);
    }
    if (t && is_float_dtype(t->dtype)) {
        errf(err, "weights: %s: tensor '%s' is float (%s), but the config says %s for %s "
                  "([quant] format and packing%s)", ws->file[t->file].path, nm,
             st_dtypes[t->dtype].name, want, zmoe_tensor_name(tensor), hint);
        return ZMOE_ERR_WEIGHTS;
    }
    /* a codes piece of the right name but another dtype */
    for (size_t i = 0; st_qformat_at(i); i++) {
        const struct st_qformat *f = st_qformat_at(i);
        if (f->format != cfg->quant.format || f->packing != cfg->quant.packing)
            continue;
        name_of(nm, sizeof nm, p->base, f->piece[QR_CODES].suffix);
        if ((t = st_find_tensor(ws, nm)) != NULL) {
            char dts[64];
            mask_names(dts, sizeof dts, f->piece[QR_CODES].dtypes);
            errf(err, "weights: %s: tensor '%s': dtype %s, expected %s (%s)",
                 ws->file[t->file].path, nm, st_dtypes[t->dtype].name, dts, f->name);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    const struct st_qformat *first = NULL;
    for (size_t i = 0; st_qformat_at(i) && !first; i++)
        if (st_qformat_at(i)->format == cfg->quant.format &&
            st_qformat_at(i)->packing == cfg->quant.packing)
            first = st_qformat_at(i);
    if (!first) {
        errf(err, "weights: no checkpoint format stores %s (quant.format and quant.packing)", want);
        return ZMOE_ERR_CONFIG;
    }
    errf(err, "weights: %s: missing tensor '%s%s' (%s, layout %s, prefix '%s')", file_of(ws),
         p->base, first->piece[QR_CODES].suffix, want, st_layout_name(c->layout), c->prefix);
    return ZMOE_ERR_WEIGHTS;
}

/* Whether every piece format f always has is in the file with a dtype f allows and the
 * shape f gives for this linear (bits of f, the config's group and row block): the test
 * that tells GPTQ from AWQ (same names, transposed shapes) or native fp8 from
 * compressed-tensors fp8. */
static bool fits(const struct st_ws *ws, const struct st_qformat *f, const struct st_qpiece *p,
                 const struct st_qlinear *geo, const struct zmoe_config *cfg)
{
    char nm[ZMOE_PREFIX_MAX + 200];
    struct st_qlinear l = *geo;
    l.bits = f->bits;
    if (f->fused != (p->experts != 0))
        return false;
    for (int r = 0; r < QR_NROLES; r++) {
        const struct st_qpiece_def *d = &f->piece[r];
        if (!d->suffix)
            continue;
        name_of(nm, sizeof nm, p->base, d->suffix);
        const struct st_tensor *t = st_find_tensor(ws, nm);
        if (!t && d->need != QN_ALWAYS)
            continue; /* optional pieces count when present */
        /* cfg NULL: any scale dtype (naming another format, not loading it) */
        const uint32_t mask = cfg ? allowed(d, cfg)
                              : d->dtypes == QD_SCALE_DTYPE
                                  ? (1u << ST_F32) | (1u << ST_F16) | (1u << ST_BF16) | (1u << ST_U8)
                                  : d->dtypes;
        if (!t || !(mask & (1u << t->dtype)) || t->ndim != d->ndim)
            return false;
        for (unsigned k = 0; k < d->ndim; k++)
            if (t->shape[k] != st_qdim(d->dim[k], &l, p->experts))
                return false;
    }
    return true;
}

/* The configured row does not fit the file: a row of another format or packing that
 * does names what the file is. */
static bool other_format(const struct st_ws *ws, const struct lctx *c, const struct st_qpiece *p,
                         const struct st_qlinear *geo, const struct st_qformat *want,
                         struct zmoe_error *err)
{
    for (size_t i = 0; st_qformat_at(i); i++) {
        const struct st_qformat *f = st_qformat_at(i);
        if (f == want || (f->format == want->format && f->packing == want->packing) ||
            !fits(ws, f, p, geo, NULL))
            continue;
        char cf[64];
        config_format(cf, sizeof cf, c->cfg);
        errf(err, "weights: %s: linear '%s' is stored as %s ('%s%s'), but the config says %s "
                  "(%s; [quant] format and packing)", file_of(ws), p->base, f->name, p->base,
             f->piece[QR_CODES].suffix, cf, want->name);
        return true;
    }
    return false;
}

/* The configured format row for one linear: the first of the config's (format, packing)
 * rows whose pieces the file has with their dtypes and shapes (compressed-tensors int8 is
 * pack-quantized or int-quantized, its zero point packed or, before 0.10, I8), else the
 * first whose codes piece is there, so that resolve() says precisely what is wrong. */
static const struct st_qformat *pick(const struct st_ws *ws, const struct zmoe_config *cfg,
                                     const struct st_qpiece *p, const struct st_qlinear *geo)
{
    char nm[ZMOE_PREFIX_MAX + 200];
    const struct st_qformat *first = NULL;
    for (size_t i = 0; st_qformat_at(i); i++) {
        const struct st_qformat *f = st_qformat_at(i);
        if (f->format != cfg->quant.format || f->packing != cfg->quant.packing)
            continue;
        if (fits(ws, f, p, geo, cfg))
            return f;
        name_of(nm, sizeof nm, p->base, f->piece[QR_CODES].suffix);
        const struct st_tensor *t = st_find_tensor(ws, nm);
        if (!first && t && (f->piece[QR_CODES].dtypes & (1u << t->dtype)))
            first = f;
    }
    return first;
}

/* ------------------------------------------------------------------ one linear */

/* Resolves piece p's linear against the file: its format row, every piece present with
 * its dtype and shape (and `data` at this expert's slice when fused). */
static enum zmoe_status resolve(struct st_ws *ws, const struct lctx *c, uint32_t L,
                                enum zmoe_tensor tensor, const struct zmoe_qmatrix *m,
                                const struct st_qpiece *p, struct st_qlinear *l,
                                struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    memset(l, 0, sizeof *l);
    l->base = p->base;
    l->out = p->out, l->in = p->in;
    l->bits = m->bits, l->group = m->group, l->row_block = m->row_block;
    l->ngroups = m->groups_per_row;
    l->act_order = m->has_perm;
    l->scratch = ws->qscratch;
    l->row = &ws->qrow;
    ws->qrow.src = NULL; /* the file data may be another mapping than last time */
    const struct st_qformat *f = pick(ws, cfg, p, l);
    if (!f)
        return mismatch(ws, c, L, tensor, p, err);
    l->fmt = f;
    char nm[ZMOE_PREFIX_MAX + 200];
    if (m->has_zeros && !f->piece[QR_ZEROS].suffix) {
        errf(err, "weights: %s: linear '%s': %s has no zero points, but quant.zero_points = "
                  "true", file_of(ws), p->base, f->name);
        return ZMOE_ERR_CONFIG;
    }
    if (f->fused != (p->experts != 0)) {
        errf(err, "weights: %s: %s stores %s, but layout %s keeps '%s' %s", file_of(ws), f->name,
             f->fused ? "all experts of a layer in one tensor" : "one linear per expert",
             st_layout_name(c->layout), p->base, p->experts ? "fused" : "per expert");
        return ZMOE_ERR_CONFIG;
    }
    for (int r = 0; r < QR_NROLES; r++) {
        const struct st_qpiece_def *d = &f->piece[r];
        if (!d->suffix)
            continue;
        name_of(nm, sizeof nm, p->base, d->suffix);
        const struct st_tensor *t = st_find_tensor(ws, nm);
        if (!t) {
            if (d->need == QN_ALWAYS || (d->need == QN_ZEROS && m->has_zeros)) {
                if (other_format(ws, c, p, l, f, err))
                    return ZMOE_ERR_WEIGHTS;
                errf(err, "weights: %s: missing tensor '%s' (%s%s)", file_of(ws), nm, f->name,
                     d->need == QN_ZEROS ? ", quant.zero_points = true" : "");
                return ZMOE_ERR_WEIGHTS;
            }
            continue;
        }
        const char *fname = ws->file[t->file].path;
        if (r == QR_CODES)
            l->file = fname;
        const uint32_t mask = allowed(d, cfg);
        if (!(mask & (1u << t->dtype))) {
            char dts[64], why[64] = "";
            mask_names(dts, sizeof dts, mask);
            if (d->dtypes == QD_SCALE_DTYPE)
                snprintf(why, sizeof why, ", quant.scale_dtype = %s",
                         scale_dtype_key(cfg->quant.scale_dtype));
            errf(err, "weights: %s: tensor '%s': dtype %s, expected %s (%s%s)", fname, nm,
                 st_dtypes[t->dtype].name, dts, f->name, why);
            return ZMOE_ERR_WEIGHTS;
        }
        uint64_t want[4];
        bool ok = t->ndim == d->ndim;
        for (unsigned k = 0; k < d->ndim; k++) {
            want[k] = st_qdim(d->dim[k], l, p->experts);
            ok = ok && t->shape[k] == want[k];
        }
        if (!ok) {
            if (other_format(ws, c, p, l, f, err))
                return ZMOE_ERR_WEIGHTS;
            char wantbuf[96], got[96];
            st_fmt_shape(wantbuf, sizeof wantbuf, want, d->ndim);
            st_fmt_shape(got, sizeof got, t->shape, t->ndim < ST_KEPT_RANK ? t->ndim : ST_KEPT_RANK);
            errf(err, "weights: %s: tensor '%s': expected shape %s, found %s%s (%s: out %llu, "
                      "in %llu, group_size %u%s)", fname, nm, wantbuf, got,
                 t->ndim > ST_KEPT_RANK ? "..." : "", f->name, (unsigned long long)l->out,
                 (unsigned long long)l->in, l->group,
                 l->row_block > 1 ? ", 128x128 blocks" : "");
            return ZMOE_ERR_WEIGHTS;
        }
        l->t[r] = t;
        /* fused [E, ...]: this expert's slice (shape[0] == E was just checked) */
        const uint64_t slice = p->experts ? (t->end - t->begin) / p->experts : 0;
        l->data[r] = ws->file[t->file].data + t->begin + p->expert * slice;
    }
    return ZMOE_OK;
}

/* Without quant.zero_points every zero is 2^(bits-1); a checkpoint that stores zeros
 * (GPTQ always does) must hold exactly that, or the device would compute other values. */
static enum zmoe_status check_default_zeros(const struct st_qlinear *l,
                                            const struct st_qpiece *p, struct zmoe_error *err)
{
    const unsigned want = 1u << (l->bits - 1);
    unsigned char z[64];
    for (uint64_t j = 0; j < p->nrows; j++) {
        const uint64_t o = p->row_first + j * p->row_step;
        for (uint64_t g0 = 0; g0 < l->ngroups; g0 += sizeof z) {
            const uint64_t n = l->ngroups - g0 < sizeof z ? l->ngroups - g0 : sizeof z;
            l->fmt->repack(l, QP_ZEROS, o, g0, n, z);
            for (uint64_t k = 0; k < n; k++)
                if (z[k] != want) {
                    errf(err, "weights: %s: tensor '%s%s': row %llu, group %llu has zero point "
                              "%u, but quant.zero_points = false (symmetric: every zero is %u); "
                              "set zero_points = true", l->file, l->base,
                         l->fmt->piece[QR_ZEROS].suffix, (unsigned long long)o,
                         (unsigned long long)(g0 + k), z[k], want);
                    return ZMOE_ERR_WEIGHTS;
                }
        }
    }
    return ZMOE_OK;
}

enum zmoe_status st_quant_validate(struct st_ws *ws, const struct lctx *c, uint32_t L,
                                   enum zmoe_tensor t, const struct zmoe_qmatrix *m,
                                   struct zmoe_error *err)
{
    if (m->bytes == 0) {
        errf(err, "weights: %s: %s: quant.group_size %u does not divide the reduction dim "
                  "%llu (or the quantized geometry overflows or does not fit %s)", file_of(ws),
             zmoe_tensor_name(t), m->group, (unsigned long long)m->cols,
             zmoe_quant_format_name(m->format));
        return ZMOE_ERR_CONFIG;
    }
    if (m->has_perm && m->cols > ZMOE_ST_MAX_COLS) {
        errf(err, "weights: %s: %s: act-order with %llu columns; the loader permutes at most %u",
             file_of(ws), zmoe_tensor_name(t), (unsigned long long)m->cols, ZMOE_ST_MAX_COLS);
        return ZMOE_ERR_CONFIG;
    }
    struct st_qpiece p;
    struct st_qlinear l;
    const unsigned char *set_gidx = NULL;
    char set_base[sizeof p.base] = "";
    uint64_t rows = 0, idx = 0;
    int r;
    while ((r = st_qlayout_piece(c, L, t, idx++, &p)) == 1) {
        enum zmoe_status st = resolve(ws, c, L, t, m, &p, &l, err);
        if (st == ZMOE_OK && l.fmt->check)
            st = l.fmt->check(&l, err);
        if (st == ZMOE_OK && !m->has_zeros && l.data[QR_ZEROS])
            st = check_default_zeros(&l, &p, err);
        if (st != ZMOE_OK)
            return st;
        /* one permutation per expert for W13: gate and up must agree */
        if (m->has_perm && p.set_first) {
            set_gidx = l.data[QR_GIDX];
            snprintf(set_base, sizeof set_base, "%s", p.base);
        } else if (m->has_perm && memcmp(set_gidx, l.data[QR_GIDX], p.in * 4) != 0) {
            uint64_t i = 0;
            while (memcmp(set_gidx + i * 4, l.data[QR_GIDX] + i * 4, 4) == 0)
                i++;
            errf(err, "weights: %s: '%s.g_idx' differs from '%s.g_idx' at column %llu: the "
                      "device keeps one act-order permutation per expert for %s",
                 l.file, p.base, set_base, (unsigned long long)i, zmoe_tensor_name(t));
            return ZMOE_ERR_WEIGHTS;
        }
        if (p.nrows % m->row_block) {
            errf(err, "weights: %s: %s: %llu rows of '%s' are not whole %u-row scale blocks",
                 file_of(ws), zmoe_tensor_name(t), (unsigned long long)p.nrows, p.base,
                 m->row_block);
            return ZMOE_ERR_CONFIG;
        }
        rows += p.nrows;
    }
    if (r < 0) {
        errf(err, "weights: layout %s has no quantized %s", st_layout_name(c->layout),
             zmoe_tensor_name(t));
        return ZMOE_ERR_CONFIG;
    }
    if (rows != m->rows) {
        errf(err, "weights: internal: layout %s gives %llu quantized rows for %s, want %llu",
             st_layout_name(c->layout), (unsigned long long)rows, zmoe_tensor_name(t),
             (unsigned long long)m->rows);
        return ZMOE_ERR_WEIGHTS;
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ streaming */

static uint64_t written(const struct st_out *o)
{
    return o->offset + o->fill;
}

/* Zero bytes up to tensor offset `to`: the padding between parts. */
static enum zmoe_status pad_to(struct st_out *o, uint64_t to)
{
    while (written(o) < to) {
        if (o->fill == o->cap) {
            enum zmoe_status st = st_flush(o);
            if (st != ZMOE_OK)
                return st;
        }
        uint64_t n = to - written(o) < o->cap - o->fill ? to - written(o) : o->cap - o->fill;
        memset(o->staging + o->fill, 0, (size_t)n);
        o->fill += (size_t)n;
    }
    return ZMOE_OK;
}

/* `units` units of `size` bytes of one device row of a part, in staging-sized runs. */
static enum zmoe_status put_row(struct st_out *o, const struct st_qlinear *l,
                                enum st_qpart part, uint64_t row, uint64_t units, size_t size)
{
    uint64_t done = 0;
    while (done < units) {
        uint64_t room = (o->cap - o->fill) / size;
        if (room == 0) {
            enum zmoe_status st = st_flush(o);
            if (st != ZMOE_OK)
                return st;
            continue;
        }
        uint64_t n = units - done < room ? units - done : room;
        l->fmt->repack(l, part, row, done, n, o->staging + o->fill);
        o->fill += (size_t)(n * size);
        done += n;
    }
    return ZMOE_OK;
}

static enum zmoe_status put_perm(struct st_out *o, const uint32_t *perm, uint64_t n)
{
    uint64_t done = 0;
    while (done < n) {
        uint64_t room = (o->cap - o->fill) / 4;
        if (room == 0) {
            enum zmoe_status st = st_flush(o);
            if (st != ZMOE_OK)
                return st;
            continue;
        }
        uint64_t k = n - done < room ? n - done : room;
        memcpy(o->staging + o->fill, perm + done, (size_t)(k * 4));
        o->fill += (size_t)(k * 4);
        done += k;
    }
    return ZMOE_OK;
}

enum zmoe_status st_quant_stream(struct st_ws *ws, const struct lctx *c, uint32_t L,
                                 const struct zmoe_qmatrix *m, struct st_out *o)
{
    const uint64_t at[4] = {m->codes_offset, m->scales_offset, m->zeros_offset, m->perm_offset};
    const uint64_t len[4] = {m->codes_bytes, m->scales_bytes, m->zeros_bytes, m->perm_bytes};
    const uint64_t words = m->cols * m->bits / 32;
    const size_t ss = zmoe_scale_size(m->scale_dtype);
    struct st_qpiece p;
    struct st_qlinear l;
    enum zmoe_status st;
    for (int part = 0; part < 4; part++) {
        if (len[part] == 0)
            continue;
        if ((st = pad_to(o, at[part])) != ZMOE_OK)
            return st;
        for (uint64_t idx = 0; st_qlayout_piece(c, L, o->t, idx, &p) == 1; idx++) {
            if ((st = resolve(ws, c, L, o->t, m, &p, &l, o->err)) != ZMOE_OK)
                return st; /* validated: not reached */
            if (m->has_perm) {
                /* gate and up of a set have equal g_idx (validated): the set's first piece
                 * builds the permutation the next ones reuse */
                if (p.set_first)
                    st_qperm_build(&l, ws->qperm);
                l.perm = ws->qperm;
            }
            for (uint64_t j = 0; part == QP_CODES && j < p.nrows; j++)
                if ((st = put_row(o, &l, QP_CODES, p.row_first + j * p.row_step, words, 4)) != ZMOE_OK)
                    return st;
            for (uint64_t j = 0; part == QP_SCALES && j < p.nrows / m->row_block; j++)
                if ((st = put_row(o, &l, QP_SCALES, p.row_first + j * m->row_block * p.row_step,
                                  m->groups_per_row, ss)) != ZMOE_OK)
                    return st;
            for (uint64_t j = 0; part == QP_ZEROS && j < p.nrows; j++)
                if ((st = put_row(o, &l, QP_ZEROS, p.row_first + j * p.row_step,
                                  m->groups_per_row, 1)) != ZMOE_OK)
                    return st;
            if (part == 3 && p.set_first && (st = put_perm(o, ws->qperm, m->cols)) != ZMOE_OK)
                return st;
        }
        if (written(o) != at[part] + len[part]) {
            errf(o->err, "weights: internal: part %d of %s: %llu bytes written, want %llu", part,
                 zmoe_tensor_name(o->t), (unsigned long long)(written(o) - at[part]),
                 (unsigned long long)len[part]);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    return pad_to(o, m->bytes);
}
