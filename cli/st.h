/* A small safetensors reader and writer for the CLI's tensor files (hidden states
 * in, results out). Whole-file reads: these files hold activations, not models. */
#ifndef ZMOE_CLI_ST_H
#define ZMOE_CLI_ST_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 4
#define ST_NAME_MAX 128

struct st_tensor {
    char name[ST_NAME_MAX];
    char dtype[8];             /* "F32", "F16", "BF16", "I32", ... */
    uint32_t ndim;
    uint64_t shape[ST_MAX_DIMS];
    const void *data;
    uint64_t bytes;
};

struct st_file {
    uint8_t *buf;
    size_t size;
    void *tokens; /* jsmntok_t[] of the header */
    int ntokens;
    const char *json;
    size_t json_len;
    size_t data_start;
};

/* 0 on success; otherwise -1 with a message naming the path in msg. */
int st_read(const char *path, struct st_file *f, char *msg, size_t msg_size);
/* 0 when found and valid (dtype known, offsets within the file, size matching the
 * shape); 1 when absent; -1 when present but invalid (message in msg). */
int st_find(const struct st_file *f, const char *name, struct st_tensor *t, char *msg,
            size_t msg_size);
void st_free(struct st_file *f);
/* Bytes per element of a safetensors dtype string, 0 when unknown. */
size_t st_dtype_size(const char *dtype);
/* Writes tensors in the given order; 0 on success, -1 with a message. */
int st_write(const char *path, const struct st_tensor *tensors, int count, char *msg,
             size_t msg_size);

#endif
