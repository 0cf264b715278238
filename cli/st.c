/* safetensors: 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets}, then the data. Every offset from the file is
 * bounds-checked before use. */
#include "cli/st.h"

#define JSMN_STATIC
#include <jsmn.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t st_dtype_size(const char *dtype)
{
    static const struct {
        const char *name;
        size_t size;
    } table[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                 {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(dtype, table[i].name))
            return table[i].size;
    return 0;
}

void st_free(struct st_file *f)
{
    free(f->buf);
    free(f->tokens);
    memset(f, 0, sizeof *f);
}

int st_read(const char *path, struct st_file *f, char *msg, size_t msg_size)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0)
        size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        snprintf(msg, msg_size, "%s: cannot determine the file size", path);
        fclose(fp);
        return -1;
    }
    f->size = (size_t)size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf || fread(f->buf, 1, f->size, fp) != f->size) {
        snprintf(msg, msg_size, "%s: read failed", path);
        fclose(fp);
        st_free(f);
        return -1;
    }
    fclose(fp);
    if (f->size < 8) {
        snprintf(msg, msg_size, "%s: not a safetensors file (shorter than 8 bytes)", path);
        st_free(f);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | f->buf[i];
    if (hlen > f->size - 8) {
        snprintf(msg, msg_size, "%s: header length %llu exceeds the file", path,
                 (unsigned long long)hlen);
        st_free(f);
        return -1;
    }
    f->json = (const char *)f->buf + 8;
    f->json_len = (size_t)hlen;
    f->data_start = 8 + (size_t)hlen;
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, f->json, f->json_len, NULL, 0);
    if (n < 1) {
        snprintf(msg, msg_size, "%s: header is not valid JSON", path);
        st_free(f);
        return -1;
    }
    f->tokens = calloc((size_t)n, sizeof(jsmntok_t));
    if (!f->tokens) {
        snprintf(msg, msg_size, "%s: out of memory", path);
        st_free(f);
        return -1;
    }
    jsmn_init(&p);
    f->ntokens = jsmn_parse(&p, f->json, f->json_len, f->tokens, (unsigned)n);
    jsmntok_t *t = f->tokens;
    if (f->ntokens < 1 || t[0].type != JSMN_OBJECT) {
        snprintf(msg, msg_size, "%s: header is not a JSON object", path);
        st_free(f);
        return -1;
    }
    return 0;
}

/* Number of tokens in the subtree rooted at i (jsmn stores trees flat). */
static int skip(const jsmntok_t *t, int n, int i)
{
    int end = i + 1;
    for (int k = 0; k < t[i].size; k++) {
        if (end >= n)
            return n;
        end = skip(t, n, end);
    }
    return end;
}

static bool tok_eq(const char *json, const jsmntok_t *t, const char *s)
{
    size_t len = (size_t)(t->end - t->start);
    return (t->type == JSMN_STRING || t->type == JSMN_PRIMITIVE) && strlen(s) == len &&
           !strncmp(json + t->start, s, len);
}

static bool tok_u64(const char *json, const jsmntok_t *t, uint64_t *out)
{
    if (t->type != JSMN_PRIMITIVE || t->end <= t->start)
        return false;
    uint64_t v = 0;
    for (int i = t->start; i < t->end; i++) {
        char c = json[i];
        if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(c - '0');
    }
    *out = v;
    return true;
}

int st_find(const struct st_file *f, const char *name, struct st_tensor *out, char *msg,
            size_t msg_size)
{
    const jsmntok_t *t = f->tokens;
    int n = f->ntokens;
    int i = 1;
    for (int k = 0; k < t[0].size && i < n; k++) {
        const jsmntok_t *key = &t[i];
        int val = i + 1;
        if (val >= n)
            break;
        if (!tok_eq(f->json, key, name)) {
            i = skip(t, n, val);
            continue;
        }
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        if (t[val].type != JSMN_OBJECT) {
            snprintf(msg, msg_size, "tensor '%s': entry is not an object", name);
            return -1;
        }
        uint64_t off[2] = {0, 0};
        bool have_dtype = false, have_shape = false, have_off = false;
        int j = val + 1;
        for (int m = 0; m < t[val].size && j + 1 < n; m++) {
            const jsmntok_t *fk = &t[j], *fv = &t[j + 1];
            if (tok_eq(f->json, fk, "dtype") && fv->type == JSMN_STRING &&
                fv->end - fv->start < (int)sizeof out->dtype) {
                memcpy(out->dtype, f->json + fv->start, (size_t)(fv->end - fv->start));
                have_dtype = true;
            } else if (tok_eq(f->json, fk, "shape") && fv->type == JSMN_ARRAY &&
                       fv->size <= ST_MAX_DIMS) {
                out->ndim = (uint32_t)fv->size;
                have_shape = true;
                for (int d = 0; d < fv->size; d++)
                    if (j + 2 + d >= n || !tok_u64(f->json, &t[j + 2 + d], &out->shape[d]))
                        have_shape = false;
            } else if (tok_eq(f->json, fk, "data_offsets") && fv->type == JSMN_ARRAY &&
                       fv->size == 2 && j + 3 < n) {
                have_off = tok_u64(f->json, &t[j + 2], &off[0]) &&
                           tok_u64(f->json, &t[j + 3], &off[1]);
            }
            j = skip(t, n, j + 1);
        }
        if (!have_dtype || !have_shape || !have_off) {
            snprintf(msg, msg_size, "tensor '%s': needs dtype, shape (<= %d dims) and data_offsets",
                     name, ST_MAX_DIMS);
            return -1;
        }
        size_t esize = st_dtype_size(out->dtype);
        if (!esize) {
            snprintf(msg, msg_size, "tensor '%s': unknown dtype '%s'", name, out->dtype);
            return -1;
        }
        uint64_t count = 1;
        for (uint32_t d = 0; d < out->ndim; d++) {
            if (out->shape[d] && count > UINT64_MAX / out->shape[d]) {
                snprintf(msg, msg_size, "tensor '%s': shape overflows", name);
                return -1;
            }
            count *= out->shape[d];
        }
        uint64_t data_size = f->size - f->data_start;
        if (off[0] > off[1] || off[1] > data_size || count > UINT64_MAX / esize ||
            off[1] - off[0] != count * esize) {
            snprintf(msg, msg_size,
                     "tensor '%s': data_offsets [%llu, %llu] do not match its shape and dtype "
                     "or exceed the file",
                     name, (unsigned long long)off[0], (unsigned long long)off[1]);
            return -1;
        }
        out->data = f->buf + f->data_start + off[0];
        out->bytes = count * esize;
        return 0;
    }
    return 1;
}

int st_write(const char *path, const struct st_tensor *ts, int count, char *msg,
             size_t msg_size)
{
    /* The header is small (a few tensors): build it in a fixed buffer. */
    char header[4096];
    size_t len = 0;
    uint64_t offset = 0;
#define APPEND(...)                                                                     \
    do {                                                                                \
        int w_ = snprintf(header + len, sizeof header - len, __VA_ARGS__);              \
        if (w_ < 0 || (size_t)w_ >= sizeof header - len) {                              \
            snprintf(msg, msg_size, "%s: header too large", path);                      \
            return -1;                                                                  \
        }                                                                               \
        len += (size_t)w_;                                                              \
    } while (0)
    APPEND("{");
    for (int i = 0; i < count; i++) {
        APPEND("%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", ts[i].name, ts[i].dtype);
        for (uint32_t d = 0; d < ts[i].ndim; d++)
            APPEND("%s%llu", d ? "," : "", (unsigned long long)ts[i].shape[d]);
        APPEND("],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
               (unsigned long long)(offset + ts[i].bytes));
        offset += ts[i].bytes;
    }
    APPEND("}");
    /* Pad with spaces so the data starts 8-byte aligned, as other writers do. */
    while ((8 + len) % 8)
        APPEND(" ");
#undef APPEND
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)((uint64_t)len >> (8 * i));
    bool ok = fwrite(lenbuf, 1, 8, fp) == 8 && fwrite(header, 1, len, fp) == len;
    for (int i = 0; ok && i < count; i++)
        ok = fwrite(ts[i].data, 1, (size_t)ts[i].bytes, fp) == ts[i].bytes;
    if (fclose(fp) != 0)
        ok = false;
    if (!ok) {
        snprintf(msg, msg_size, "%s: write failed", path);
        return -1;
    }
    return 0;
}
