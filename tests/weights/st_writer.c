/* See st_writer.h. */
#include "tests/weights/st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *stw_dtype_name(enum zmoe_dtype dt)
{
    return dt == ZMOE_DTYPE_F32 ? "F32" : dt == ZMOE_DTYPE_F16 ? "F16" : "BF16";
}

int stw_tensor_from_f32(struct stw_tensor *t, enum zmoe_dtype dt, const float *v, unsigned ndim,
                        uint64_t d0, uint64_t d1, uint64_t d2)
{
    const uint64_t shape[3] = {d0, d1, d2};
    uint64_t n = 1;
    t->ndim = ndim;
    for (unsigned i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        n *= shape[i];
    }
    t->dtype = stw_dtype_name(dt);
    t->bytes = (size_t)n * zmoe_dtype_size(dt);
    void *buf = malloc(t->bytes ? t->bytes : 1);
    if (!buf)
        return -1;
    zmoe_dtype_convert(buf, dt, v, ZMOE_DTYPE_F32, (size_t)n);
    t->data = buf;
    return 0;
}

/* Appends to a growing malloc'ed string (test code). */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            abort();
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        abort();
    sb_put(b, tmp, (size_t)n);
}

static char *header_of(const struct stw_tensor *t, size_t n, const char *metadata,
                       size_t *hlen, size_t *dlen)
{
    struct sbuf b = {0};
    uint64_t off = 0;
    sb_put(&b, "{", 1);
    if (metadata)
        sb_printf(&b, "\"__metadata__\":%s%s", metadata, n ? "," : "");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&b, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t[i].name,
                  t[i].dtype);
        for (unsigned d = 0; d < t[i].ndim; d++)
            sb_printf(&b, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
        sb_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                  (unsigned long long)(off + t[i].bytes));
        off += t[i].bytes;
    }
    sb_put(&b, "}", 1);
    while (b.len % 8)
        sb_put(&b, " ", 1);
    *hlen = b.len;
    *dlen = (size_t)off;
    return b.p;
}

unsigned char *stw_image(const struct stw_tensor *t, size_t n, const char *metadata,
                         size_t *size)
{
    size_t hlen, dlen;
    char *h = header_of(t, n, metadata, &hlen, &dlen);
    unsigned char *img = malloc(8 + hlen + dlen + 1);
    if (!img)
        abort();
    for (int i = 0; i < 8; i++)
        img[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(img + 8, h, hlen);
    size_t o = 8 + hlen;
    for (size_t i = 0; i < n; i++) {
        memcpy(img + o, t[i].data, t[i].bytes);
        o += t[i].bytes;
    }
    free(h);
    *size = o;
    return img;
}

int stw_write(const char *path, const struct stw_tensor *t, size_t n, const char *metadata)
{
    size_t size;
    unsigned char *img = stw_image(t, n, metadata, &size);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(img, 1, size, f) == size ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(img);
    return rc;
}

int stw_write_raw(const char *path, uint64_t declared, const char *header, const void *data,
                  size_t data_len)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(declared >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int rc = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, strlen(header), f) == strlen(header) &&
                     (data_len == 0 || fwrite(data, 1, data_len, f) == data_len)
                 ? 0
                 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int stw_write_index(const char *path, const char *const *names, const char *const *files,
                    size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\n  \"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "    \"%s\": \"%s\"%s\n", names[i], files[i], i + 1 < n ? "," : "");
    fprintf(f, "  }\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}
