/* weights/st_priv.h — private to weights/: the safetensors workspace (st_container.c)
 * and the Hugging Face layouts (st_layouts.c) that weights/safetensors.c validates and
 * streams. Not part of the module's interface (weights/safetensors.h is). */
#ifndef ZMOE_WEIGHTS_ST_PRIV_H
#define ZMOE_WEIGHTS_ST_PRIV_H

#include "weights/safetensors.h"

/* jsmntok_t for the workspace; st_container.c includes jsmn's definitions first */
#ifndef JSMN_STRICT
#define JSMN_HEADER
#define JSMN_STRICT
#endif
#include <jsmn.h>

/* Safetensors dtypes, with their element size, so every entry's span can be checked
 * even for tensors the MoE does not use. Only F32/F16/BF16 can be loaded. */
struct st_dtype {
    const char *name;
    uint8_t size;
};
extern const struct st_dtype st_dtypes[];
enum {
    ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2, ST_I64 = 4, ST_I32 = 5, ST_I8 = 7, ST_U8 = 11,
    ST_F8_E4M3 = 13, ST_F8_E8M0 = 15, ST_NDTYPES = 16
};

#define ST_MAX_RANK 8
#define ST_KEPT_RANK 4 /* dims kept in the table; MoE tensors have at most 3 */

struct st_tensor {
    const char *name; /* raw JSON key inside the mapped header, not NUL-terminated */
    uint32_t name_len;
    uint16_t file;
    uint8_t dtype;
    uint8_t ndim;
    uint64_t shape[ST_KEPT_RANK];
    uint64_t begin, end; /* relative to the file's data section */
};

struct st_file {
    char path[ZMOE_PATH_MAX];
    int fd;
    const unsigned char *map; /* whole file (mmap) or the caller's image */
    size_t size;
    const unsigned char *data; /* data section */
    uint64_t data_size;
    bool mapped;
};

struct st_ws {
    jsmntok_t tok[ZMOE_ST_MAX_TOKENS];
    struct st_tensor t[ZMOE_ST_MAX_TENSORS];
    struct st_file file[ZMOE_ST_MAX_SHARDS];
    uint32_t layer[ZMOE_ST_MAX_LAYERS];
    uint32_t ntensors, nfiles, nlayers;
    /* act-order (st_quant.c): one expert's column permutation, per-group counters, and
     * the codes of the row being gathered */
    uint32_t qperm[ZMOE_ST_MAX_COLS];
    uint32_t qscratch[ZMOE_ST_MAX_COLS];
    struct st_qrow {
        const unsigned char *src; /* the codes piece the row is from (NULL: none yet) */
        uint64_t o;
        uint8_t q[ZMOE_ST_MAX_COLS];
    } qrow;
    /* the index json, when sharded */
    char index_path[ZMOE_PATH_MAX];
    const char *index_map;
    size_t index_size;
};


#define errf zmoe_weights_errorf

/* st_container.c: the container (headers, index, mmap, validation of every entry) */
const struct st_tensor *st_find_tensor(const struct st_ws *ws, const char *name);
enum zmoe_status st_open_all(struct st_ws *ws, const char *path, struct zmoe_error *err);
/* One file image already in memory (zmoe_safetensors_check, the fuzzer). */
enum zmoe_status st_open_image(struct st_ws *ws, const void *data, size_t size, const char *name,
                               struct zmoe_error *err);
void st_unmap_all(struct st_ws *ws);
void st_fmt_shape(char *buf, size_t n, const uint64_t *shape, unsigned ndim);
bool st_ends_with(const char *s, const char *suffix);

/* st_layouts.c: checkpoint names -> kernel tensors */
/* One piece of a kernel-layout tensor: `nrows` output rows of `ncols` elements, where
 * output (j, c) is source element base + j*row_step + c*col_stride of checkpoint tensor
 * `name`, whose shape must be `shape`. A kernel tensor is its pieces in order. */
struct piece {
    char name[ZMOE_PREFIX_MAX + 128];
    unsigned ndim;
    uint64_t shape[3];
    uint64_t base, nrows, row_step, ncols, col_stride;
};

struct lctx {
    const struct zmoe_config *cfg;
    enum zmoe_weights_layout layout;
    const char *prefix;
    uint64_t E, H, I, S;
};

const char *st_layout_name(enum zmoe_weights_layout l);
/* The per-layer router tensor whose presence marks a MoE layer. */
const char *st_router_suffix(enum zmoe_weights_layout l);
/* Fills piece idx of (layer L, tensor t). 1 = filled, 0 = no more pieces, -1 = the
 * layout has no such tensor. */
int st_layout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                    struct piece *p);
/* What config switch enables a kernel tensor, for messages. */
const char *st_tensor_switch(enum zmoe_tensor t);

/* A quantized kernel tensor (weights/quant.h) is its pieces in order, each one checkpoint
 * linear (or, fused, one expert's slice of a [E, ...] tensor) giving `nrows` kernel rows:
 * checkpoint output rows row_first + j*row_step of that linear. */
struct st_qpiece {
    char base[ZMOE_PREFIX_MAX + 128]; /* the linear's name; format suffixes follow it */
    uint64_t out, in;                 /* the checkpoint linear: output rows, reduction dim */
    uint64_t experts, expert;         /* fused [E, ...] pieces: E and this expert (else 0) */
    uint64_t row_first, row_step, nrows;
    uint64_t set;    /* act-order permutation set: the expert (routed), 0 (shared) */
    bool set_first;  /* the set's first piece: its g_idx gives the set's permutation */
};
/* Fills quantized piece idx of (layer L, tensor t), as st_layout_piece. */
int st_qlayout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                     struct st_qpiece *p);

/* st_formats.c: the quantized checkpoint formats (one row per tool's packing) */
enum st_qrole { QR_CODES, QR_SCALES, QR_ZEROS, QR_GIDX, QR_SHAPE, QR_NROLES };
enum st_qpart { QP_CODES, QP_SCALES, QP_ZEROS }; /* device parts a format writes */
/* A dimension of a piece's expected shape, from the linear's geometry. */
enum st_qdim {
    QD_NONE, QD_OUT, QD_IN, QD_OUT_PACK, QD_IN_PACK, /* *bits/32, rounded up */
    QD_GROUPS, QD_OUT_BLOCKS /* ceil(out/row_block) */, QD_EXPERTS, QD_16, QD_TWO
};
enum st_qneed {
    QN_ALWAYS,   /* every checkpoint of the format has it */
    QN_ZEROS,    /* with quant.zero_points; when present without, must hold the default */
    QN_OPTIONAL, /* GPTQ g_idx: required with quant.act_order */
};
#define QD_SCALE_DTYPE 0x80000000u /* dtype mask: the one quant.scale_dtype names */
struct st_qpiece_def {
    const char *suffix; /* NULL: the format has no piece of this role */
    uint32_t dtypes;    /* mask of 1 << ST_* */
    enum st_qneed need;
    unsigned ndim;
    enum st_qdim dim[4];
};
/* One quantized checkpoint linear, resolved against the file (st_quant.c). */
struct st_qlinear {
    const struct st_qformat *fmt;
    const char *base, *file;                   /* for messages */
    const struct st_tensor *t[QR_NROLES];      /* NULL: absent */
    const unsigned char *data[QR_NROLES];      /* fused: this expert's slice */
    uint64_t out, in;
    uint32_t bits, group, row_block, ngroups;
    bool act_order;
    const uint32_t *perm; /* act-order: kernel column -> checkpoint column, or NULL */
    uint32_t *scratch;    /* ZMOE_ST_MAX_COLS counters for checks */
    struct st_qrow *row;  /* act-order: one unpacked codes row, reused across calls */
};
struct st_qformat {
    const char *name; /* "GPTQ int4": in messages */
    enum zmoe_quant_format format;
    enum zmoe_quant_packing packing;
    uint32_t bits;
    bool fused; /* pieces are [E, ...] per layer (GPT-OSS) */
    struct st_qpiece_def piece[QR_NROLES];
    /* value checks of one linear before any sink call (NULL: none) */
    enum zmoe_status (*check)(const struct st_qlinear *l, struct zmoe_error *err);
    /* units first .. first+count of part `part` of checkpoint output row o (codes: words;
     * scales: scale_dtype values, o the first row of its row block; zeros: bytes) */
    void (*repack)(const struct st_qlinear *l, enum st_qpart part, uint64_t o, uint64_t first,
                   uint64_t count, unsigned char *dst);
};
const struct st_qformat *st_qformat_at(size_t i); /* NULL past the table */
uint64_t st_qdim(enum st_qdim d, const struct st_qlinear *l, uint64_t experts);
/* Act-order (GPTQ g_idx, compressed-tensors weight_g_idx): perm[c'] = checkpoint column of
 * kernel column c' (stable by g_idx). */
void st_qperm_build(const struct st_qlinear *l, uint32_t *perm);
const char *st_packing_name(enum zmoe_quant_packing p);

/* st_quant.c: validation and streaming of quantized kernel tensors */
struct zmoe_qmatrix;
/* The staging buffer on its way to the sink (safetensors.c). */
struct st_out {
    unsigned char *staging;
    size_t cap, fill;
    uint64_t offset; /* bytes of the current tensor already sunk */
    uint32_t layer;
    enum zmoe_tensor t;
    zmoe_weights_sink sink;
    void *ctx;
    struct zmoe_error *err;
};
enum zmoe_status st_flush(struct st_out *o);
enum zmoe_status st_quant_validate(struct st_ws *ws, const struct lctx *c, uint32_t L,
                                   enum zmoe_tensor t, const struct zmoe_qmatrix *m,
                                   struct zmoe_error *err);
enum zmoe_status st_quant_stream(struct st_ws *ws, const struct lctx *c, uint32_t L,
                                 const struct zmoe_qmatrix *m, struct st_out *o);
/* The quantized format a checkpoint stores linear `name` in (name with or without
 * ".weight"; fused: the bf16 tensor's name), for messages when a float tensor is
 * missing or has an integer dtype; NULL when none. */
const struct st_qformat *st_qformat_detect(const struct st_ws *ws, const char *name);

#endif
