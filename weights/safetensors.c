/* weights/safetensors: parse and validate safetensors checkpoints (single file or a
 * sharded set with model.safetensors.index.json) and stream the MoE tensors into the
 * kernel layout of weights.h. See safetensors.h and README.md.
 *
 * Flow: map every file, parse every header into one fixed tensor table (validating
 * each entry: dtype, shape x dtype size == span, span inside the data section, spans
 * disjoint), sort it by name (duplicates are errors), cross-check the index, find the
 * layer prefix and the checkpoint's MoE layers, validate every tensor the config needs
 * (present, dtype, shape) for every layer, and only then call the sink. */
#include "weights/safetensors.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ workspace */

/* Safetensors dtypes, with their element size, so every entry's span can be checked
 * even for tensors the MoE does not use. Only F32/F16/BF16 can be loaded. */
static const struct {
    const char *name;
    uint8_t size;
} st_dtypes[] = {
    {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"F64", 8},    {"I64", 8},     {"I32", 4},
    {"I16", 2}, {"I8", 1},   {"U64", 8},  {"U32", 4},    {"U16", 2},     {"U8", 1},
    {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
};
enum { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2, ST_NDTYPES = sizeof st_dtypes / sizeof st_dtypes[0] };

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

size_t zmoe_safetensors_workspace_size(void)
{
    return sizeof(struct st_ws);
}

#define errf zmoe_weights_errorf

/* ------------------------------------------------------------------ small helpers */

static bool tok_eq(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = strlen(s);
    return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
           memcmp(js + t->start, s, n) == 0;
}

/* Index of the token after the subtree rooted at i (children lie inside its span). */
static int tok_skip(const jsmntok_t *tok, int ntok, int i)
{
    int end = tok[i].end, j = i + 1;
    while (j < ntok && tok[j].start < end)
        j++;
    return j;
}

/* A JSON non-negative integer; false on anything else or on overflow. */
static bool tok_u64(const char *js, const jsmntok_t *t, uint64_t *out)
{
    if (t->type != JSMN_PRIMITIVE || t->end <= t->start)
        return false;
    uint64_t v = 0;
    for (int i = t->start; i < t->end; i++) {
        unsigned d = (unsigned char)js[i] - '0';
        if (d > 9 || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    *out = v;
    return true;
}

static void fmt_shape(char *buf, size_t n, const uint64_t *shape, unsigned ndim)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (unsigned i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static int name_cmp(const struct st_tensor *a, const char *name, size_t len)
{
    size_t m = a->name_len < len ? a->name_len : len;
    int c = memcmp(a->name, name, m);
    if (c)
        return c;
    return a->name_len < len ? -1 : a->name_len > len ? 1 : 0;
}

static int cmp_by_name(const struct st_tensor *a, const struct st_tensor *b)
{
    return name_cmp(a, b->name, b->name_len);
}

static int cmp_by_begin(const struct st_tensor *a, const struct st_tensor *b)
{
    return a->begin < b->begin ? -1 : a->begin > b->begin ? 1 : (a->end > b->end) - (a->end < b->end);
}

/* Heapsort: in place, no allocation (glibc's qsort may malloc), O(n log n). */
static void sift(struct st_tensor *v, size_t root, size_t n,
                 int (*cmp)(const struct st_tensor *, const struct st_tensor *))
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cmp(&v[c], &v[c + 1]) < 0)
            c++;
        if (cmp(&v[root], &v[c]) >= 0)
            return;
        struct st_tensor tmp = v[root];
        v[root] = v[c];
        v[c] = tmp;
        root = c;
    }
}

static void heapsort_tensors(struct st_tensor *v, size_t n,
                             int (*cmp)(const struct st_tensor *, const struct st_tensor *))
{
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift(v, i, n, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        struct st_tensor tmp = v[0];
        v[0] = v[end];
        v[end] = tmp;
        sift(v, 0, end, cmp);
    }
}

static const struct st_tensor *find_tensor(const struct st_ws *ws, const char *name)
{
    size_t len = strlen(name), lo = 0, hi = ws->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(&ws->t[mid], name, len);
        if (c == 0)
            return &ws->t[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------ header parsing */

/* Parses one tensor entry object at tok[i] into *t. */
static enum zmoe_status parse_entry(const char *js, const jsmntok_t *tok, int ntok, int i,
                                    const char *fname, struct st_tensor *t,
                                    uint64_t data_size, struct zmoe_error *err)
{
    int nl = (int)t->name_len;
    if (tok[i].type != JSMN_OBJECT) {
        errf(err, "weights: %s: tensor '%.*s': entry is not a JSON object", fname, nl, t->name);
        return ZMOE_ERR_WEIGHTS;
    }
    bool have_dtype = false, have_shape = false, have_offsets = false;
    uint64_t shape[ST_MAX_RANK];
    unsigned ndim = 0;
    int j = i + 1;
    for (int k = 0; k < tok[i].size; k++) {
        if (j + 1 >= ntok || tok[j].type != JSMN_STRING || tok[j].size != 1) {
            errf(err, "weights: %s: tensor '%.*s': malformed entry", fname, nl, t->name);
            return ZMOE_ERR_WEIGHTS;
        }
        const jsmntok_t *key = &tok[j], *v = &tok[j + 1];
        if (tok_eq(js, key, "dtype") && !have_dtype) {
            if (v->type != JSMN_STRING) {
                errf(err, "weights: %s: tensor '%.*s': dtype is not a string", fname, nl, t->name);
                return ZMOE_ERR_WEIGHTS;
            }
            unsigned d = 0;
            while (d < ST_NDTYPES && !tok_eq(js, v, st_dtypes[d].name))
                d++;
            if (d == ST_NDTYPES) {
                errf(err, "weights: %s: tensor '%.*s': unknown dtype '%.*s'", fname, nl, t->name,
                     v->end - v->start > 32 ? 32 : v->end - v->start, js + v->start);
                return ZMOE_ERR_WEIGHTS;
            }
            t->dtype = (uint8_t)d;
            have_dtype = true;
            j += 2;
        } else if (tok_eq(js, key, "shape") && !have_shape) {
            if (v->type != JSMN_ARRAY || v->size > ST_MAX_RANK) {
                errf(err, "weights: %s: tensor '%.*s': shape is not an array of at most %d "
                          "dimensions", fname, nl, t->name, ST_MAX_RANK);
                return ZMOE_ERR_WEIGHTS;
            }
            ndim = (unsigned)v->size;
            for (unsigned d = 0; d < ndim; d++) {
                if (j + 2 + (int)d >= ntok || !tok_u64(js, &tok[j + 2 + d], &shape[d])) {
                    errf(err, "weights: %s: tensor '%.*s': shape entry %u is not a non-negative "
                              "integer", fname, nl, t->name, d);
                    return ZMOE_ERR_WEIGHTS;
                }
            }
            have_shape = true;
            j += 2 + (int)ndim;
        } else if (tok_eq(js, key, "data_offsets") && !have_offsets) {
            if (v->type != JSMN_ARRAY || v->size != 2 || j + 3 >= ntok ||
                !tok_u64(js, &tok[j + 2], &t->begin) || !tok_u64(js, &tok[j + 3], &t->end)) {
                errf(err, "weights: %s: tensor '%.*s': data_offsets is not [begin, end]", fname,
                     nl, t->name);
                return ZMOE_ERR_WEIGHTS;
            }
            have_offsets = true;
            j += 4;
        } else {
            errf(err, "weights: %s: tensor '%.*s': unexpected or repeated key '%.*s'", fname, nl,
                 t->name, key->end - key->start > 32 ? 32 : key->end - key->start,
                 js + key->start);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    if (!have_dtype || !have_shape || !have_offsets) {
        errf(err, "weights: %s: tensor '%.*s': entry lacks %s", fname, nl, t->name,
             !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
        return ZMOE_ERR_WEIGHTS;
    }
    uint64_t bytes = st_dtypes[t->dtype].size;
    for (unsigned d = 0; d < ndim; d++) {
        if (__builtin_mul_overflow(bytes, shape[d], &bytes)) {
            errf(err, "weights: %s: tensor '%.*s': shape overflows 64 bits", fname, nl, t->name);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    if (t->begin > t->end || t->end > data_size) {
        errf(err, "weights: %s: tensor '%.*s': data_offsets [%llu, %llu] outside the data "
                  "section of %llu bytes", fname, nl, t->name, (unsigned long long)t->begin,
             (unsigned long long)t->end, (unsigned long long)data_size);
        return ZMOE_ERR_WEIGHTS;
    }
    if (t->end - t->begin != bytes) {
        char sh[160];
        fmt_shape(sh, sizeof sh, shape, ndim);
        errf(err, "weights: %s: tensor '%.*s': shape %s of %s is %llu bytes but data_offsets "
                  "span %llu", fname, nl, t->name, sh, st_dtypes[t->dtype].name,
             (unsigned long long)bytes, (unsigned long long)(t->end - t->begin));
        return ZMOE_ERR_WEIGHTS;
    }
    t->ndim = (uint8_t)ndim;
    for (unsigned d = 0; d < ST_KEPT_RANK; d++)
        t->shape[d] = d < ndim ? shape[d] : 0;
    return ZMOE_OK;
}

/* Parses and validates the header of file ws->file[fi] (already mapped) and appends
 * its tensors to the table. */
static enum zmoe_status parse_file(struct st_ws *ws, uint16_t fi, struct zmoe_error *err)
{
    struct st_file *f = &ws->file[fi];
    const char *fname = f->path;
    if (f->size < 8) {
        errf(err, "weights: %s: truncated: %zu bytes, shorter than the 8-byte header length",
             fname, f->size);
        return ZMOE_ERR_WEIGHTS;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->map[i]; /* little-endian on any host */
    if (n > f->size - 8) {
        errf(err, "weights: %s: header length %llu exceeds the file size minus 8 (%zu)", fname,
             (unsigned long long)n, f->size - 8);
        return ZMOE_ERR_WEIGHTS;
    }
    if (n < 2 || n > ZMOE_ST_MAX_HEADER) {
        errf(err, "weights: %s: header length %llu outside [2, %u]", fname,
             (unsigned long long)n, ZMOE_ST_MAX_HEADER);
        return ZMOE_ERR_WEIGHTS;
    }
    const char *js = (const char *)f->map + 8;
    f->data = f->map + 8 + n;
    f->data_size = f->size - 8 - n;
    if (js[0] != '{') {
        errf(err, "weights: %s: header is not a JSON object (starts with 0x%02x)", fname,
             (unsigned char)js[0]);
        return ZMOE_ERR_WEIGHTS;
    }
    jsmn_parser p;
    jsmn_init(&p);
    int ntok = jsmn_parse(&p, js, (size_t)n, ws->tok, ZMOE_ST_MAX_TOKENS);
    if (ntok == JSMN_ERROR_NOMEM) {
        errf(err, "weights: %s: header has more than %u JSON tokens (fixed parser capacity)",
             fname, ZMOE_ST_MAX_TOKENS);
        return ZMOE_ERR_WEIGHTS;
    }
    if (ntok < 1 || ws->tok[0].type != JSMN_OBJECT || (size_t)ws->tok[0].end > n) {
        errf(err, "weights: %s: header is not valid JSON (%s near byte %u)", fname,
             ntok == JSMN_ERROR_PART ? "incomplete" : "invalid", p.pos);
        return ZMOE_ERR_WEIGHTS;
    }
    /* After the object only padding may follow (writers pad with spaces). */
    for (size_t i = (size_t)ws->tok[0].end; i < n; i++) {
        char c = js[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            errf(err, "weights: %s: header is not valid JSON (trailing data at byte %zu)",
                 fname, i);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    uint32_t first = ws->ntensors;
    int i = 1;
    for (int k = 0; k < ws->tok[0].size; k++) {
        if (i + 1 >= ntok || ws->tok[i].type != JSMN_STRING || ws->tok[i].size != 1) {
            errf(err, "weights: %s: header is not valid JSON (bad key at byte %d)", fname,
                 i < ntok ? ws->tok[i].start : (int)n);
            return ZMOE_ERR_WEIGHTS;
        }
        const jsmntok_t *key = &ws->tok[i];
        if (tok_eq(js, key, "__metadata__")) {
            if (ws->tok[i + 1].type != JSMN_OBJECT) {
                errf(err, "weights: %s: __metadata__ is not an object", fname);
                return ZMOE_ERR_WEIGHTS;
            }
            i = tok_skip(ws->tok, ntok, i + 1);
            continue;
        }
        if (ws->ntensors >= ZMOE_ST_MAX_TENSORS) {
            errf(err, "weights: %s: more than %u tensors in all files (fixed table capacity)",
                 fname, ZMOE_ST_MAX_TENSORS);
            return ZMOE_ERR_WEIGHTS;
        }
        struct st_tensor *t = &ws->t[ws->ntensors];
        memset(t, 0, sizeof *t);
        t->name = js + key->start;
        t->name_len = (uint32_t)(key->end - key->start);
        t->file = fi;
        enum zmoe_status st =
            parse_entry(js, ws->tok, ntok, i + 1, fname, t, f->data_size, err);
        if (st != ZMOE_OK)
            return st;
        ws->ntensors++;
        i = tok_skip(ws->tok, ntok, i + 1);
    }
    if (i != ntok) {
        errf(err, "weights: %s: header is not valid JSON (unexpected tokens after the object)",
             fname);
        return ZMOE_ERR_WEIGHTS;
    }
    /* Disjoint spans: sort this file's entries by offset and compare neighbours. */
    struct st_tensor *v = &ws->t[first];
    size_t cnt = ws->ntensors - first;
    heapsort_tensors(v, cnt, cmp_by_begin);
    const struct st_tensor *prev = NULL;
    for (size_t k = 0; k < cnt; k++) {
        if (v[k].begin == v[k].end)
            continue;
        if (prev && v[k].begin < prev->end) {
            errf(err, "weights: %s: tensors '%.*s' [%llu, %llu) and '%.*s' [%llu, %llu) "
                      "overlap", fname, (int)prev->name_len, prev->name,
                 (unsigned long long)prev->begin, (unsigned long long)prev->end,
                 (int)v[k].name_len, v[k].name, (unsigned long long)v[k].begin,
                 (unsigned long long)v[k].end);
            return ZMOE_ERR_WEIGHTS;
        }
        prev = &v[k];
    }
    return ZMOE_OK;
}

/* Sorts the whole table by name; a name seen twice (one header or two shards) is an
 * error, since which copy to load would be a guess. */
static enum zmoe_status sort_and_check_duplicates(struct st_ws *ws, struct zmoe_error *err)
{
    heapsort_tensors(ws->t, ws->ntensors, cmp_by_name);
    for (uint32_t k = 1; k < ws->ntensors; k++) {
        if (cmp_by_name(&ws->t[k - 1], &ws->t[k]) == 0) {
            errf(err, "weights: duplicate tensor '%.*s' (in %s and %s)", (int)ws->t[k].name_len,
                 ws->t[k].name, ws->file[ws->t[k - 1].file].path, ws->file[ws->t[k].file].path);
            return ZMOE_ERR_WEIGHTS;
        }
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ files */

static enum zmoe_status map_file(struct st_file *f, struct zmoe_error *err)
{
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        errf(err, "weights: %s: cannot open: %s", f->path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        errf(err, "weights: %s: not a regular file", f->path);
        return ZMOE_ERR_IO;
    }
    f->size = (size_t)sb.st_size;
    if (f->size == 0) {
        errf(err, "weights: %s: truncated: empty file", f->path);
        return ZMOE_ERR_WEIGHTS;
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED) {
        errf(err, "weights: %s: mmap failed: %s", f->path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    f->map = m;
    f->mapped = true;
    return ZMOE_OK;
}

static void unmap_all(struct st_ws *ws)
{
    for (uint32_t i = 0; i < ws->nfiles; i++) {
        struct st_file *f = &ws->file[i];
        if (f->mapped)
            munmap((void *)f->map, f->size);
        if (f->fd >= 0)
            close(f->fd);
        f->mapped = false;
        f->fd = -1;
    }
    if (ws->index_map)
        munmap((void *)ws->index_map, ws->index_size);
    ws->index_map = NULL;
    ws->nfiles = 0;
}

/* Parses the index json; `collect` adds each distinct shard to ws->file, otherwise
 * each weight_map entry is checked against the tensor table. */
static enum zmoe_status walk_index(struct st_ws *ws, bool collect, struct zmoe_error *err)
{
    const char *js = ws->index_map, *ip = ws->index_path;
    jsmn_parser p;
    jsmn_init(&p);
    int ntok = jsmn_parse(&p, js, ws->index_size, ws->tok, ZMOE_ST_MAX_TOKENS);
    if (ntok == JSMN_ERROR_NOMEM) {
        errf(err, "weights: %s: more than %u JSON tokens (fixed parser capacity)", ip,
             ZMOE_ST_MAX_TOKENS);
        return ZMOE_ERR_WEIGHTS;
    }
    if (ntok < 1 || ws->tok[0].type != JSMN_OBJECT) {
        errf(err, "weights: %s: not valid JSON (%s near byte %u)", ip,
             ntok == JSMN_ERROR_PART ? "incomplete" : "invalid", p.pos);
        return ZMOE_ERR_WEIGHTS;
    }
    size_t dirlen = 0;
    const char *slash = strrchr(ip, '/');
    if (slash)
        dirlen = (size_t)(slash - ip) + 1;
    int i = 1, map = -1;
    for (int k = 0; k < ws->tok[0].size; k++) {
        if (i + 1 >= ntok || ws->tok[i].type != JSMN_STRING || ws->tok[i].size != 1) {
            errf(err, "weights: %s: not valid JSON (bad key)", ip);
            return ZMOE_ERR_WEIGHTS;
        }
        if (tok_eq(js, &ws->tok[i], "weight_map"))
            map = i + 1;
        i = tok_skip(ws->tok, ntok, i + 1);
    }
    if (map < 0 || ws->tok[map].type != JSMN_OBJECT) {
        errf(err, "weights: %s: no \"weight_map\" object", ip);
        return ZMOE_ERR_WEIGHTS;
    }
    i = map + 1;
    uint32_t last = UINT32_MAX;
    for (int k = 0; k < ws->tok[map].size; k++) {
        if (i + 1 >= ntok || ws->tok[i].type != JSMN_STRING || ws->tok[i].size != 1 ||
            ws->tok[i + 1].type != JSMN_STRING) {
            errf(err, "weights: %s: weight_map entry %d is not \"tensor\": \"file\"", ip, k);
            return ZMOE_ERR_WEIGHTS;
        }
        const jsmntok_t *key = &ws->tok[i], *v = &ws->tok[i + 1];
        const char *fn = js + v->start;
        size_t fl = (size_t)(v->end - v->start);
        /* Shards live next to the index: plain file names only. */
        if (fl == 0 || memchr(fn, '/', fl) || memchr(fn, '\\', fl) || (fl <= 2 && fn[0] == '.') ||
            dirlen + fl >= ZMOE_PATH_MAX) {
            errf(err, "weights: %s: weight_map file name '%.*s' is not a plain file name", ip,
                 (int)(fl > 64 ? 64 : fl), fn);
            return ZMOE_ERR_WEIGHTS;
        }
        /* Index of this shard; consecutive entries usually share it. */
        uint32_t fi = UINT32_MAX;
        if (last != UINT32_MAX && strlen(ws->file[last].path + dirlen) == fl &&
            memcmp(ws->file[last].path + dirlen, fn, fl) == 0)
            fi = last;
        for (uint32_t s = 0; fi == UINT32_MAX && s < ws->nfiles; s++)
            if (strlen(ws->file[s].path + dirlen) == fl &&
                memcmp(ws->file[s].path + dirlen, fn, fl) == 0)
                fi = s;
        if (collect && fi == UINT32_MAX) {
            if (ws->nfiles >= ZMOE_ST_MAX_SHARDS) {
                errf(err, "weights: %s: more than %u shards (fixed capacity)", ip,
                     ZMOE_ST_MAX_SHARDS);
                return ZMOE_ERR_WEIGHTS;
            }
            fi = ws->nfiles++;
            struct st_file *f = &ws->file[fi];
            memset(f, 0, sizeof *f);
            f->fd = -1;
            memcpy(f->path, ip, dirlen);
            memcpy(f->path + dirlen, fn, fl);
            f->path[dirlen + fl] = '\0';
        }
        if (!collect) {
            char name[512];
            int nl = key->end - key->start;
            if (nl >= (int)sizeof name) {
                errf(err, "weights: %s: tensor name of %d bytes is too long", ip, nl);
                return ZMOE_ERR_WEIGHTS;
            }
            memcpy(name, js + key->start, (size_t)nl);
            name[nl] = '\0';
            const struct st_tensor *t = find_tensor(ws, name);
            if (!t || t->file != fi) {
                errf(err, "weights: %s: weight_map puts tensor '%s' in %.*s, but %s", ip, name,
                     (int)fl, fn, t ? "it is in another shard" : "no shard has it");
                return ZMOE_ERR_WEIGHTS;
            }
        }
        last = fi;
        i += 2;
    }
    return ZMOE_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static enum zmoe_status open_all(struct st_ws *ws, const char *path, struct zmoe_error *err)
{
    enum zmoe_status st;
    ws->nfiles = 0;
    ws->ntensors = 0;
    if (strlen(path) >= ZMOE_PATH_MAX) {
        errf(err, "weights: path too long");
        return ZMOE_ERR_ARGUMENT;
    }
    if (ends_with(path, ".json")) {
        /* Sharded: map the index, collect the shard names, then parse each shard. */
        struct st_file idx;
        memset(&idx, 0, sizeof idx);
        snprintf(idx.path, sizeof idx.path, "%s", path);
        snprintf(ws->index_path, sizeof ws->index_path, "%s", path);
        st = map_file(&idx, err);
        if (st != ZMOE_OK) {
            if (idx.fd >= 0)
                close(idx.fd);
            return st;
        }
        close(idx.fd);
        ws->index_map = (const char *)idx.map;
        ws->index_size = idx.size;
        st = walk_index(ws, true, err);
        if (st != ZMOE_OK)
            return st;
    } else {
        ws->index_path[0] = '\0';
        ws->nfiles = 1;
        memset(&ws->file[0], 0, sizeof ws->file[0]);
        ws->file[0].fd = -1;
        snprintf(ws->file[0].path, sizeof ws->file[0].path, "%s", path);
    }
    for (uint32_t fi = 0; fi < ws->nfiles; fi++) {
        st = map_file(&ws->file[fi], err);
        if (st != ZMOE_OK)
            return st;
        st = parse_file(ws, (uint16_t)fi, err);
        if (st != ZMOE_OK)
            return st;
    }
    st = sort_and_check_duplicates(ws, err);
    if (st != ZMOE_OK)
        return st;
    if (ws->index_map)
        return walk_index(ws, false, err);
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ layouts */

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

static const char *layout_name(enum zmoe_weights_layout l)
{
    switch (l) {
    case ZMOE_LAYOUT_LLAMA4:
        return "llama4";
    case ZMOE_LAYOUT_MIXTRAL:
        return "mixtral";
    case ZMOE_LAYOUT_QWEN_MOE:
        return "qwen_moe";
    case ZMOE_LAYOUT_DEEPSEEK:
        return "deepseek";
    case ZMOE_LAYOUT_GPT_OSS:
        return "gpt_oss";
    default:
        return "synthetic";
    }
}

static const char *router_suffix(enum zmoe_weights_layout l)
{
    switch (l) {
    case ZMOE_LAYOUT_LLAMA4:
        return "feed_forward.router.weight";
    case ZMOE_LAYOUT_MIXTRAL:
        return "block_sparse_moe.gate.weight";
    case ZMOE_LAYOUT_GPT_OSS:
        return "mlp.router.weight";
    default:
        return "mlp.gate.weight";
    }
}

/* A checkpoint tensor [R][C] copied as is. */
static void direct2(struct piece *p, uint64_t R, uint64_t C)
{
    p->ndim = 2;
    p->shape[0] = R;
    p->shape[1] = C;
    p->base = 0;
    p->nrows = R;
    p->row_step = C;
    p->ncols = C;
    p->col_stride = 1;
}

static void direct1(struct piece *p, uint64_t N)
{
    p->ndim = 1;
    p->shape[0] = N;
    p->base = 0;
    p->nrows = 1;
    p->row_step = 0;
    p->ncols = N;
    p->col_stride = 1;
}

/* Fused [E][H][2I] gate_up (llama4, gpt_oss): half 0 = gate, 1 = up, as I kernel rows of
 * H, each a column of the checkpoint matrix (a transpose), concatenated or interleaved. */
static void fused_gate_up(const struct lctx *c, struct piece *p, uint64_t e, unsigned half,
                          bool interleaved)
{
    p->ndim = 3;
    p->shape[0] = c->E;
    p->shape[1] = c->H;
    p->shape[2] = 2 * c->I;
    p->base = e * c->H * 2 * c->I + (interleaved ? half : half * c->I);
    p->nrows = c->I;
    p->row_step = interleaved ? 2 : 1;
    p->ncols = c->H;
    p->col_stride = 2 * c->I;
}

/* Fused [E][I][H] down (llama4, gpt_oss) -> W2[e] = [H][I]: a transpose. */
static void fused_down(const struct lctx *c, struct piece *p, uint64_t e)
{
    p->ndim = 3;
    p->shape[0] = c->E;
    p->shape[1] = c->I;
    p->shape[2] = c->H;
    p->base = e * c->I * c->H;
    p->nrows = c->H;
    p->row_step = 1;
    p->ncols = c->I;
    p->col_stride = c->H;
}

/* Fills piece idx of (layer L, tensor t). 1 = filled, 0 = no more pieces, -1 = the
 * layout has no such tensor. */
static int layout_piece(const struct lctx *c, uint32_t L, enum zmoe_tensor t, uint64_t idx,
                        struct piece *p)
{
    const char *P = c->prefix;
    const char *sfx = NULL; /* per-layer suffix of a single-piece tensor */
    char buf[96];
    memset(p, 0, sizeof *p);
    uint64_t e = idx / 2;
    unsigned half = (unsigned)(idx % 2);
    switch (c->layout) {
    case ZMOE_LAYOUT_LLAMA4:
    case ZMOE_LAYOUT_GPT_OSS: {
        bool oss = c->layout == ZMOE_LAYOUT_GPT_OSS;
        const char *ff = oss ? "mlp" : "feed_forward";
        switch (t) {
        case ZMOE_TENSOR_ROUTER_W:
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, router_suffix(c->layout));
            direct2(p, c->E, c->H);
            return 1;
        case ZMOE_TENSOR_W13:
            if (idx >= 2 * c->E)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s.experts.gate_up_proj", P, L, ff);
            /* GPT-OSS checkpoints are always interleaved; Llama 4 per the config. */
            fused_gate_up(c, p, e, half, oss || c->cfg->experts.gate_up_interleaved);
            return 1;
        case ZMOE_TENSOR_W2:
            if (idx >= c->E)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s.experts.down_proj", P, L, ff);
            fused_down(c, p, idx);
            return 1;
        default:
            break;
        }
        if (oss) {
            switch (t) {
            case ZMOE_TENSOR_ROUTER_B:
                if (idx)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.router.bias", P, L);
                direct1(p, c->E);
                return 1;
            case ZMOE_TENSOR_B13: /* [E][2I] interleaved -> gate I then up I, per expert */
                if (idx >= 2 * c->E)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.gate_up_proj_bias", P, L);
                p->ndim = 2;
                p->shape[0] = c->E;
                p->shape[1] = 2 * c->I;
                p->base = e * 2 * c->I + half;
                p->nrows = 1;
                p->ncols = c->I;
                p->col_stride = 2;
                return 1;
            case ZMOE_TENSOR_B2:
                if (idx)
                    return 0;
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.down_proj_bias", P, L);
                direct2(p, c->E, c->H);
                return 1;
            default:
                return -1;
            }
        }
        switch (t) {
        case ZMOE_TENSOR_SHARED_W13:
            if (idx >= 2)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.feed_forward.shared_expert.%s_proj.weight",
                     P, L, idx ? "up" : "gate");
            direct2(p, c->S, c->H);
            return 1;
        case ZMOE_TENSOR_SHARED_W2:
            sfx = "feed_forward.shared_expert.down_proj.weight";
            break;
        default:
            return -1;
        }
        break;
    }
    case ZMOE_LAYOUT_MIXTRAL:
    case ZMOE_LAYOUT_QWEN_MOE:
    case ZMOE_LAYOUT_DEEPSEEK: {
        bool mix = c->layout == ZMOE_LAYOUT_MIXTRAL;
        const char *shared = c->layout == ZMOE_LAYOUT_DEEPSEEK ? "shared_experts" : "shared_expert";
        switch (t) {
        case ZMOE_TENSOR_ROUTER_W:
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, router_suffix(c->layout));
            direct2(p, c->E, c->H);
            return 1;
        case ZMOE_TENSOR_W13: /* per expert: gate [I][H] then up [I][H] */
            if (idx >= 2 * c->E)
                return 0;
            if (mix)
                snprintf(p->name, sizeof p->name, "%s%u.block_sparse_moe.experts.%llu.%s.weight",
                         P, L, (unsigned long long)e, half ? "w3" : "w1");
            else
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.%llu.%s_proj.weight", P, L,
                         (unsigned long long)e, half ? "up" : "gate");
            direct2(p, c->I, c->H);
            return 1;
        case ZMOE_TENSOR_W2:
            if (idx >= c->E)
                return 0;
            if (mix)
                snprintf(p->name, sizeof p->name, "%s%u.block_sparse_moe.experts.%llu.w2.weight",
                         P, L, (unsigned long long)idx);
            else
                snprintf(p->name, sizeof p->name, "%s%u.mlp.experts.%llu.down_proj.weight", P, L,
                         (unsigned long long)idx);
            direct2(p, c->H, c->I);
            return 1;
        default:
            break;
        }
        if (mix)
            return -1;
        switch (t) {
        case ZMOE_TENSOR_SCORE_BIAS:
            if (c->layout != ZMOE_LAYOUT_DEEPSEEK)
                return -1;
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.gate.e_score_correction_bias", P, L);
            direct1(p, c->E);
            return 1;
        case ZMOE_TENSOR_SHARED_W13:
            if (idx >= 2)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.%s.%s_proj.weight", P, L, shared,
                     idx ? "up" : "gate");
            direct2(p, c->S, c->H);
            return 1;
        case ZMOE_TENSOR_SHARED_W2:
            snprintf(buf, sizeof buf, "mlp.%s.down_proj.weight", shared);
            sfx = buf;
            break;
        case ZMOE_TENSOR_SHARED_GATE:
            if (c->layout != ZMOE_LAYOUT_QWEN_MOE)
                return -1;
            if (idx)
                return 0;
            snprintf(p->name, sizeof p->name, "%s%u.mlp.shared_expert_gate.weight", P, L);
            direct2(p, 1, c->H);
            return 1;
        default:
            return -1;
        }
        break;
    }
    default:
        return -1;
    }
    /* SHARED_W2 [H][S], the only single-piece tensor left */
    if (idx)
        return 0;
    snprintf(p->name, sizeof p->name, "%s%u.%s", P, L, sfx);
    direct2(p, c->H, c->S);
    return 1;
}

/* What config switch enables a kernel tensor, for messages. */
static const char *tensor_switch(enum zmoe_tensor t)
{
    switch (t) {
    case ZMOE_TENSOR_ROUTER_B:
        return "router.bias";
    case ZMOE_TENSOR_SCORE_BIAS:
        return "router.score_correction_bias";
    case ZMOE_TENSOR_B13:
    case ZMOE_TENSOR_B2:
        return "experts.bias";
    case ZMOE_TENSOR_SHARED_W13:
    case ZMOE_TENSOR_SHARED_W2:
        return "model.shared_experts";
    case ZMOE_TENSOR_SHARED_GATE:
        return "router.shared_expert_gate";
    default:
        return "the geometry";
    }
}

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

static enum zmoe_status check_piece(const struct st_ws *ws, const struct lctx *c,
                                    const struct piece *p, struct zmoe_error *err)
{
    const struct st_tensor *t = find_tensor(ws, p->name);
    if (!t) {
        char alt[sizeof p->name + 8];
        snprintf(alt, sizeof alt, "%s_blocks", p->name);
        if (find_tensor(ws, alt)) {
            errf(err, "weights: %s: tensor '%s' is stored as MXFP4 ('%s' + '_scales'): MXFP4 "
                      "weights are not supported; use the bf16 checkpoint", file_of(ws),
                 p->name, alt);
            return ZMOE_ERR_WEIGHTS;
        }
        errf(err, "weights: %s: missing tensor '%s' (layout %s, prefix '%s')", file_of(ws),
             p->name, layout_name(c->layout), c->prefix);
        return ZMOE_ERR_WEIGHTS;
    }
    const char *fname = ws->file[t->file].path;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        bool mx = ends_with(p->name, "_blocks") || ends_with(p->name, "_scales");
        errf(err, "weights: %s: tensor '%s': dtype %s not supported (expected F32, F16 or "
                  "BF16)%s", fname, p->name, st_dtypes[t->dtype].name,
             mx ? ": MXFP4 weights are not supported; use the bf16 checkpoint" : "");
        return ZMOE_ERR_WEIGHTS;
    }
    bool ok = t->ndim == p->ndim;
    for (unsigned d = 0; ok && d < p->ndim; d++)
        ok = t->shape[d] == p->shape[d];
    if (!ok) {
        char want[96], got[96];
        fmt_shape(want, sizeof want, p->shape, p->ndim);
        fmt_shape(got, sizeof got, t->shape, t->ndim < ST_KEPT_RANK ? t->ndim : ST_KEPT_RANK);
        errf(err, "weights: %s: tensor '%s': expected shape %s, found %s%s (layout %s, "
                  "E=%llu H=%llu I=%llu S=%llu)", fname, p->name, want, got,
             t->ndim > ST_KEPT_RANK ? "..." : "", layout_name(c->layout),
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
    const char *L = layout_name(c->layout), *key = NULL, *want = NULL, *got = NULL;
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
        bool v3 = find_tensor(ws, name) != NULL;
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

static enum zmoe_status validate_all(const struct st_ws *ws, const struct lctx *c,
                                     struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    struct piece p;
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        uint32_t L = ws->layer[l];
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            enum zmoe_tensor t = (enum zmoe_tensor)ti;
            bool want = zmoe_tensor_present(cfg, t);
            int r = layout_piece(c, L, t, 0, &p);
            if (!want) {
                /* A checkpoint tensor the config would ignore means a config mismatch
                 * (e.g. GPT-OSS biases with experts.bias = false): refuse it. */
                if (r == 1 && find_tensor(ws, p.name)) {
                    errf(err, "weights: %s: checkpoint has '%s' but the config disables it (%s)",
                         file_of(ws), p.name, tensor_switch(t));
                    return ZMOE_ERR_WEIGHTS;
                }
                continue;
            }
            if (r < 0) {
                errf(err, "weights: layout %s has no %s tensor, but the config enables %s",
                     layout_name(c->layout), zmoe_tensor_name(t), tensor_switch(t));
                return ZMOE_ERR_CONFIG;
            }
            uint64_t elems = 0;
            for (uint64_t idx = 0; layout_piece(c, L, t, idx, &p) == 1; idx++) {
                enum zmoe_status st = check_piece(ws, c, &p, err);
                if (st != ZMOE_OK)
                    return st;
                elems += p.nrows * p.ncols;
            }
            if (elems != zmoe_tensor_elements(cfg, t)) {
                errf(err, "weights: internal: layout %s gives %llu elements for %s, want %llu",
                     layout_name(c->layout), (unsigned long long)elems, zmoe_tensor_name(t),
                     (unsigned long long)zmoe_tensor_elements(cfg, t));
                return ZMOE_ERR_WEIGHTS;
            }
        }
    }
    return ZMOE_OK;
}

/* ------------------------------------------------------------------ streaming */

struct out {
    unsigned char *staging;
    size_t cap, fill;
    uint64_t offset; /* bytes of the current tensor already sunk */
    uint32_t layer;
    enum zmoe_tensor t;
    zmoe_weights_sink sink;
    void *ctx;
    struct zmoe_error *err;
};

static enum zmoe_status flush(struct out *o)
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

static enum zmoe_status stream_piece(struct out *o, const struct piece *p,
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
                    if ((st = flush(o)) != ZMOE_OK)
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
            if ((st = flush(o)) != ZMOE_OK)
                return st;
            continue;
        }
        if (b == 0) {
            /* One output row does not fit the staging buffer: element by element. */
            for (uint64_t cc = 0; cc < p->ncols; cc++) {
                if (o->cap - o->fill < ds && (st = flush(o)) != ZMOE_OK)
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

static enum zmoe_status stream_all(const struct st_ws *ws, const struct lctx *c,
                                   unsigned char *staging, size_t staging_size,
                                   zmoe_weights_sink sink, void *ctx, struct zmoe_error *err)
{
    const struct zmoe_config *cfg = c->cfg;
    struct piece p;
    struct out o = {.staging = staging, .cap = staging_size, .sink = sink, .ctx = ctx, .err = err};
    for (uint32_t l = 0; l < cfg->model.layers; l++) {
        for (int ti = 0; ti < ZMOE_TENSOR_COUNT; ti++) {
            enum zmoe_tensor t = (enum zmoe_tensor)ti;
            if (!zmoe_tensor_present(cfg, t))
                continue;
            o.layer = l;
            o.t = t;
            o.offset = 0;
            o.fill = 0;
            enum zmoe_dtype ddt = zmoe_tensor_dtype(cfg, t);
            for (uint64_t idx = 0; layout_piece(c, ws->layer[l], t, idx, &p) == 1; idx++) {
                const struct st_tensor *st = find_tensor(ws, p.name); /* validated */
                const struct st_file *f = &ws->file[st->file];
                enum zmoe_dtype sdt = st->dtype == ST_F32   ? ZMOE_DTYPE_F32
                                      : st->dtype == ST_F16 ? ZMOE_DTYPE_F16
                                                            : ZMOE_DTYPE_BF16;
                enum zmoe_status r = stream_piece(&o, &p, f->data + st->begin, sdt, ddt);
                if (r != ZMOE_OK)
                    return r;
            }
            enum zmoe_status r = flush(&o);
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
        return ZMOE_OK;
    }
    *ws = malloc(sizeof(struct st_ws)); /* the one fixed allocation (see safetensors.h) */
    if (!*ws) {
        errf(err, "weights: cannot allocate the %zu-byte safetensors workspace",
             sizeof(struct st_ws));
        return ZMOE_ERR_NO_MEMORY;
    }
    *owned = true;
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
    struct st_ws *ws = workspace;
    ws->ntensors = 0;
    ws->nfiles = 1;
    ws->index_map = NULL;
    struct st_file *f = &ws->file[0];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", name ? name : "<memory>");
    f->map = data;
    f->size = size;
    st = parse_file(ws, 0, err);
    if (st == ZMOE_OK)
        st = sort_and_check_duplicates(ws, err);
    if (owned)
        free(ws);
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
                          layout_name(c->layout), c->prefix, detected ? "detected" : "configured");
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
    const char *suffix = router_suffix(c->layout);
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
                 file_of(ws), suffix, layout_name(c->layout));
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
             c->prefix, suffix, layout_name(c->layout));
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
    ws->nfiles = 0;
    ws->ntensors = 0;
    ws->nlayers = 0;
    ws->index_map = NULL;
    struct lctx c = {.cfg = cfg, .layout = cfg->weights.layout};
    st = open_all(ws, cfg->weights.file, err);
    if (st == ZMOE_OK)
        st = find_layers(ws, &c, detected, err);
    if (st == ZMOE_OK) {
        snprintf(prefix, prefix_size, "%s", c.prefix);
        *found = ws->nlayers;
        for (uint32_t i = 0; i < ws->nlayers && i < max_layers; i++)
            layers[i] = ws->layer[i];
    }
    unmap_all(ws);
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
    ws->nfiles = 0;
    ws->ntensors = 0;
    ws->nlayers = 0;
    ws->index_map = NULL;

    struct lctx c = {
        .cfg = cfg,
        .layout = cfg->weights.layout,
        .E = cfg->model.experts,
        .H = cfg->model.hidden,
        .I = cfg->model.intermediate,
        .S = (uint64_t)cfg->model.shared_experts * cfg->model.shared_intermediate,
    };
    bool detected = false;
    st = open_all(ws, cfg->weights.file, err);
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
    unmap_all(ws);
    if (owned)
        free(ws);
    return st;
}
