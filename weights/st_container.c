/* weights/st_container.c: the safetensors container. Maps every file of a checkpoint (a
 * single file or a sharded set with model.safetensors.index.json), parses every header
 * into one fixed tensor table, validating each entry (dtype, shape x dtype size == span,
 * span inside the data section, spans disjoint), sorts it by name (duplicates are
 * errors) and cross-checks the index. Knows nothing of MoE layouts (st_layouts.c). */
/* jsmn's definitions, static to this file, before st_priv.h's declarations-only view */
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "weights/st_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Safetensors dtypes, with their element size, so every entry's span can be checked
 * even for tensors the MoE does not use. Only F32/F16/BF16 can be loaded. */
const struct st_dtype st_dtypes[] = {
    {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"F64", 8},    {"I64", 8},     {"I32", 4},
    {"I16", 2}, {"I8", 1},   {"U64", 8},  {"U32", 4},    {"U16", 2},     {"U8", 1},
    {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
};
_Static_assert(sizeof st_dtypes / sizeof st_dtypes[0] == ST_NDTYPES, "ST_NDTYPES");

size_t zmoe_safetensors_workspace_size(void)
{
    return sizeof(struct st_ws);
}


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

void st_fmt_shape(char *buf, size_t n, const uint64_t *shape, unsigned ndim)
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

const struct st_tensor *st_find_tensor(const struct st_ws *ws, const char *name)
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
        st_fmt_shape(sh, sizeof sh, shape, ndim);
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

void st_unmap_all(struct st_ws *ws)
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
            const struct st_tensor *t = st_find_tensor(ws, name);
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

bool st_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

enum zmoe_status st_open_all(struct st_ws *ws, const char *path, struct zmoe_error *err)
{
    enum zmoe_status st;
    ws->nfiles = 0;
    ws->ntensors = 0;
    if (strlen(path) >= ZMOE_PATH_MAX) {
        errf(err, "weights: path too long");
        return ZMOE_ERR_ARGUMENT;
    }
    if (st_ends_with(path, ".json")) {
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


enum zmoe_status st_open_image(struct st_ws *ws, const void *data, size_t size, const char *name,
                               struct zmoe_error *err)
{
    ws->ntensors = 0;
    ws->nfiles = 1;
    ws->index_map = NULL;
    struct st_file *f = &ws->file[0];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", name ? name : "<memory>");
    f->map = data;
    f->size = size;
    enum zmoe_status st = parse_file(ws, 0, err);
    if (st == ZMOE_OK)
        st = sort_and_check_duplicates(ws, err);
    return st;
}
