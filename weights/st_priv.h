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
enum { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2, ST_NDTYPES = 16 };

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

#endif
