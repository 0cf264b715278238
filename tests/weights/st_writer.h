/* A small safetensors writer for the tests: well-formed files from tensor lists, raw
 * files with hand-written headers for the malformed-file cases, and index json files
 * for sharded sets. Test code: returns 0 on success, -1 on I/O failure. */
#ifndef ZMOE_TESTS_ST_WRITER_H
#define ZMOE_TESTS_ST_WRITER_H

#include "weights/weights.h"

#include <stddef.h>
#include <stdint.h>

struct stw_tensor {
    char name[256];
    const char *dtype; /* "F32", "F16", "BF16", "U8", ... as written in the header */
    unsigned ndim;
    uint64_t shape[4];
    const void *data;
    size_t bytes;
};

/* "F32", "F16" or "BF16": a dtype as safetensors headers spell it. */
const char *stw_dtype_name(enum zmoe_dtype dt);
/* Fills t's dtype, shape (ndim of d0, d1, d2) and data: the f32 values v stored as dt
 * (rounded to nearest even) in a malloc'ed buffer the caller frees. The name is the
 * caller's. -1 when out of memory. */
int stw_tensor_from_f32(struct stw_tensor *t, enum zmoe_dtype dt, const float *v, unsigned ndim,
                        uint64_t d0, uint64_t d1, uint64_t d2);

/* Header (tensors in the given order, data contiguous in that order, optional
 * __metadata__ object text) padded with spaces to 8 bytes, then the data. */
int stw_write(const char *path, const struct stw_tensor *t, size_t n, const char *metadata);
/* Same, into a malloc'ed image (for in-memory parser tests); *size receives its length. */
unsigned char *stw_image(const struct stw_tensor *t, size_t n, const char *metadata,
                         size_t *size);
/* A file with a verbatim header and data; `declared` is the 8-byte header length field
 * (normally strlen(header)). */
int stw_write_raw(const char *path, uint64_t declared, const char *header, const void *data,
                  size_t data_len);
/* model.safetensors.index.json: names[i] is stored in files[i]. */
int stw_write_index(const char *path, const char *const *names, const char *const *files,
                    size_t n);

#endif
