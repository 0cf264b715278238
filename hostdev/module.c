/* module.c — modules and kernels. SPIR-V is validated (SPIRV-Tools), its kernel
 * signatures are reflected from the SPIR-V itself (PoCL cannot report argument
 * info for SPIR binaries), it is translated to SPIR 1.2 bitcode by llvm-spirv
 * (run once per distinct module, cached by content) and built by PoCL once. */
#include "hd.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <spawn.h>
#include <spirv-tools/libspirv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HD_LLVM_SPIRV
#define HD_LLVM_SPIRV "llvm-spirv-15"
#endif

extern char **environ;

/* ---------------------------------------------------------------- build log */

struct hd_buf {
    char *s;
    size_t len, cap;
};

static void buf_printf(struct hd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return;
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---------------------------------------------------------------- reflection */

enum { OP_NAME = 5, OP_ENTRY_POINT = 15, OP_EXECUTION_MODE = 16, OP_TYPE_BOOL = 20, OP_TYPE_INT = 21,
       OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23, OP_TYPE_ARRAY = 28, OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32,
       OP_CONSTANT = 43, OP_SPEC_CONSTANT_TRUE = 48, OP_SPEC_CONSTANT_FALSE = 49,
       OP_SPEC_CONSTANT = 50, OP_FUNCTION = 54, OP_FUNCTION_PARAMETER = 55, OP_FUNCTION_END = 56, OP_DECORATE = 71 };
enum { SC_UNIFORM_CONSTANT = 0, SC_WORKGROUP = 4, SC_CROSS_WORKGROUP = 5, SC_FUNCTION = 7, SC_GENERIC = 8 };
enum { EXEC_MODEL_KERNEL = 6, EXEC_MODE_LOCAL_SIZE = 17, DECO_SPEC_ID = 1, DECO_CPACKED = 10 };

/* A specialization constant: its SpecId and llvm-spirv's name for its type. */
struct hd_spec {
    uint32_t id;
    uint32_t size;      /* bytes of the value the application passes */
    char type[4];       /* i1, i8, i16, i32, i64, f16, f32, f64 */
    bool is_signed;     /* a signed integer: narrow literals are sign-extended */
    uint32_t type_id;   /* while parsing */
    size_t word_off;    /* the OpSpecConstant* instruction's first word in the module */
};

struct refl_entry {
    uint32_t fn;
    char *name;
    uint32_t reqd[3];
    uint32_t nparams;
    uint32_t *param_types;
};

struct refl {
    uint32_t bound;
    uint32_t **defs;      /* defs[id]: copy of the words of type/constant instructions */
    uint8_t *packed;      /* CPacked structs */
    struct refl_entry *entries;
    uint32_t nentries;
    uint32_t cur_fn;
    uint32_t *specid_of;  /* SpecId + 1 per result id, 0 when undecorated */
    const uint32_t *base; /* the module's first word */
    struct hd_spec *specs;
    uint32_t nspecs;
    bool oom;
};

static spv_result_t refl_header(void *user, spv_endianness_t e, uint32_t magic, uint32_t version, uint32_t gen,
                                uint32_t bound, uint32_t schema)
{
    (void)e; (void)magic; (void)version; (void)gen; (void)schema;
    struct refl *r = user;
    r->bound = bound;
    r->defs = calloc(bound, sizeof *r->defs);
    r->packed = calloc(bound, 1);
    r->specid_of = calloc(bound, sizeof *r->specid_of);
    if (!r->defs || !r->packed || !r->specid_of) {
        r->oom = true;
        return SPV_ERROR_OUT_OF_MEMORY;
    }
    return SPV_SUCCESS;
}

static struct refl_entry *entry_by_fn(struct refl *r, uint32_t fn)
{
    for (uint32_t i = 0; i < r->nentries; i++)
        if (r->entries[i].fn == fn)
            return &r->entries[i];
    return NULL;
}

static spv_result_t refl_inst(void *user, const spv_parsed_instruction_t *in)
{
    struct refl *r = user;
    const uint32_t *w = in->words;
    uint16_t n = in->num_words;
    switch (in->opcode) {
    case OP_ENTRY_POINT:
        if (n >= 4 && w[1] == EXEC_MODEL_KERNEL) {
            struct refl_entry *e = realloc(r->entries, (r->nentries + 1) * sizeof *e);
            if (!e)
                goto oom;
            r->entries = e;
            e = &r->entries[r->nentries];
            memset(e, 0, sizeof *e);
            e->fn = w[2];
            /* The literal name is NUL-terminated within the instruction's words. */
            e->name = strndup((const char *)&w[3], (size_t)(n - 3) * 4);
            if (!e->name)
                goto oom;
            r->nentries++;
        }
        break;
    case OP_EXECUTION_MODE:
        if (n >= 6 && w[2] == EXEC_MODE_LOCAL_SIZE) {
            struct refl_entry *e = entry_by_fn(r, w[1]);
            if (e) {
                e->reqd[0] = w[3];
                e->reqd[1] = w[4];
                e->reqd[2] = w[5];
            }
        }
        break;
    case OP_DECORATE:
        if (n >= 3 && w[2] == DECO_CPACKED && w[1] < r->bound)
            r->packed[w[1]] = 1;
        if (n >= 4 && w[2] == DECO_SPEC_ID && w[1] < r->bound)
            r->specid_of[w[1]] = w[3] + 1;
        break;
    case OP_SPEC_CONSTANT_TRUE:
    case OP_SPEC_CONSTANT_FALSE:
    case OP_SPEC_CONSTANT:
        if (in->result_id < r->bound && r->specid_of[in->result_id]) {
            struct hd_spec *sp = realloc(r->specs, (r->nspecs + 1) * sizeof *sp);
            if (!sp)
                goto oom;
            r->specs = sp;
            sp[r->nspecs++] = (struct hd_spec){ .id = r->specid_of[in->result_id] - 1, .type_id = in->type_id,
                                                .word_off = (size_t)(w - r->base) };
        }
        break;
    case OP_TYPE_BOOL: case OP_TYPE_INT: case OP_TYPE_FLOAT: case OP_TYPE_VECTOR: case OP_TYPE_ARRAY:
    case OP_TYPE_STRUCT: case OP_TYPE_POINTER: case OP_CONSTANT:
        if (in->result_id < r->bound) {
            uint32_t *copy = malloc((size_t)n * sizeof *copy + sizeof *copy);
            if (!copy)
                goto oom;
            copy[0] = n;   /* word count first, then the instruction */
            memcpy(copy + 1, w, (size_t)n * sizeof *copy);
            free(r->defs[in->result_id]);
            r->defs[in->result_id] = copy;
        }
        break;
    case OP_FUNCTION:
        r->cur_fn = in->result_id;
        break;
    case OP_FUNCTION_PARAMETER: {
        struct refl_entry *e = entry_by_fn(r, r->cur_fn);
        if (e) {
            uint32_t *p = realloc(e->param_types, (e->nparams + 1) * sizeof *p);
            if (!p)
                goto oom;
            e->param_types = p;
            p[e->nparams++] = in->type_id;
        }
        break;
    }
    case OP_FUNCTION_END:
        r->cur_fn = 0;
        break;
    default:
        break;
    }
    return SPV_SUCCESS;
oom:
    r->oom = true;
    return SPV_ERROR_OUT_OF_MEMORY;
}

/* Size and alignment of a type as OpenCL C lays it out; false if unknown. */
static bool type_layout(const struct refl *r, uint32_t id, int depth, uint64_t *size, uint64_t *align)
{
    if (id >= r->bound || !r->defs[id] || depth > 32)
        return false;
    const uint32_t *d = r->defs[id] + 1;
    uint32_t n = r->defs[id][0];
    switch (d[0] & 0xffff) {
    case OP_TYPE_BOOL:
        *size = *align = 1;
        return true;
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT:
        if (n < 3 || d[2] % 8)
            return false;
        *size = *align = d[2] / 8;
        return true;
    case OP_TYPE_POINTER:
        *size = *align = 8;
        return true;
    case OP_TYPE_VECTOR: {
        uint64_t es, ea;
        if (n < 4 || !type_layout(r, d[2], depth + 1, &es, &ea))
            return false;
        uint32_t count = d[3] == 3 ? 4 : d[3];   /* 3-vectors occupy 4 elements */
        *size = *align = es * count;
        return true;
    }
    case OP_TYPE_ARRAY: {
        uint64_t es, ea;
        if (n < 4 || !type_layout(r, d[2], depth + 1, &es, &ea))
            return false;
        uint32_t len_id = d[3];
        if (len_id >= r->bound || !r->defs[len_id] || (r->defs[len_id][1] & 0xffff) != OP_CONSTANT ||
            r->defs[len_id][0] < 4)
            return false;
        uint64_t len = r->defs[len_id][4];
        if (r->defs[len_id][0] >= 5)
            len |= (uint64_t)r->defs[len_id][5] << 32;
        *size = es * len;
        *align = ea;
        return true;
    }
    case OP_TYPE_STRUCT: {
        bool packed = r->packed[id];
        uint64_t off = 0, maxa = 1;
        for (uint32_t i = 2; i < n; i++) {
            uint64_t ms, ma;
            if (!type_layout(r, d[i], depth + 1, &ms, &ma))
                return false;
            if (packed)
                ma = 1;
            off = (off + ma - 1) / ma * ma + ms;
            if (ma > maxa)
                maxa = ma;
        }
        *size = (off + maxa - 1) / maxa * maxa;
        *align = maxa;
        return true;
    }
    default:
        return false;
    }
}

static void kinfo_free(struct hd_kinfo *k)
{
    free(k->name);
    free(k->args);
}

/* Fills kernels[] from the entry points; returns false (with a log line) on an
 * argument type hostdev cannot pass. */
static bool reflect(const uint32_t *words, size_t nwords, struct hd_kinfo **out, uint32_t *nout,
                    struct hd_spec **specs, uint32_t *nspecs, struct hd_buf *log)
{
    struct refl r = { .base = words };
    bool ok = false;
    spv_context sc = spvContextCreate(SPV_ENV_UNIVERSAL_1_5);
    spv_diagnostic diag = NULL;
    spv_result_t pr = spvBinaryParse(sc, &r, words, nwords, refl_header, refl_inst, &diag);
    if (pr != SPV_SUCCESS) {
        buf_printf(log, "hostdev: SPIR-V parse failed: %s\n", diag ? diag->error : (r.oom ? "out of memory" : "?"));
        goto out;
    }
    struct hd_kinfo *ks = calloc(r.nentries ? r.nentries : 1, sizeof *ks);
    if (!ks)
        goto out;
    for (uint32_t i = 0; i < r.nentries; i++) {
        struct refl_entry *e = &r.entries[i];
        struct hd_kinfo *k = &ks[i];
        k->name = strdup(e->name);
        k->nargs = e->nparams;
        k->args = calloc(e->nparams ? e->nparams : 1, sizeof *k->args);
        memcpy(k->reqd, e->reqd, sizeof k->reqd);
        if (!k->name || !k->args) {
            for (uint32_t j = 0; j <= i; j++)
                kinfo_free(&ks[j]);
            free(ks);
            goto out;
        }
        uint32_t off = 0;
        for (uint32_t a = 0; a < e->nparams; a++) {
            struct hd_arg *arg = &k->args[a];
            uint32_t t = e->param_types[a];
            const uint32_t *d = t < r.bound && r.defs[t] ? r.defs[t] + 1 : NULL;
            uint64_t size = 0, align;
            if (d && (d[0] & 0xffff) == OP_TYPE_POINTER) {
                switch (d[2]) {
                case SC_CROSS_WORKGROUP: case SC_UNIFORM_CONSTANT: case SC_GENERIC:
                    arg->kind = HD_ARG_GLOBAL;
                    size = 8;
                    break;
                case SC_WORKGROUP:
                    arg->kind = HD_ARG_LOCAL;
                    size = 8;
                    break;
                case SC_FUNCTION:   /* a by-value aggregate (byval) */
                    arg->kind = type_layout(&r, d[3], 0, &size, &align) ? HD_ARG_VALUE : HD_ARG_UNSUPPORTED;
                    break;
                default:
                    arg->kind = HD_ARG_UNSUPPORTED;
                }
            } else {
                arg->kind = type_layout(&r, t, 0, &size, &align) ? HD_ARG_VALUE : HD_ARG_UNSUPPORTED;
            }
            if (arg->kind == HD_ARG_UNSUPPORTED) {
                /* Images, samplers, pipes, events: kernels that take them are
                 * listed but cannot be created (zeKernelCreate says so). */
                size = 8;
            }
            arg->size = (uint32_t)size;
            arg->off = off;
            off += ((uint32_t)size + 7u) & ~7u;
        }
        k->blob_size = off;
    }
    /* Name the specialization constants' types as llvm-spirv's -spec-const does. */
    for (uint32_t i = 0; i < r.nspecs; i++) {
        struct hd_spec *sp = &r.specs[i];
        const uint32_t *d = sp->type_id < r.bound && r.defs[sp->type_id] ? r.defs[sp->type_id] + 1 : NULL;
        uint32_t op = d ? d[0] & 0xffff : 0, width = d && (op == OP_TYPE_INT || op == OP_TYPE_FLOAT) ? d[2] : 0;
        if (op == OP_TYPE_BOOL)
            width = 1;
        snprintf(sp->type, sizeof sp->type, "%c%u", op == OP_TYPE_FLOAT ? 'f' : 'i', width);
        sp->is_signed = op == OP_TYPE_INT && r.defs[sp->type_id][0] >= 4 && d[3] == 1;
        sp->size = width == 1 ? 1 : width / 8;
        if (!width)
            sp->size = 0;   /* unknown type: refused if the application sets it */
    }
    *specs = r.specs;
    *nspecs = r.nspecs;
    r.specs = NULL;
    *out = ks;
    *nout = r.nentries;
    ok = true;
out:
    spvDiagnosticDestroy(diag);
    spvContextDestroy(sc);
    for (uint32_t i = 0; i < r.bound && r.defs; i++)
        free(r.defs[i]);
    free(r.defs);
    free(r.packed);
    free(r.specid_of);
    free(r.specs);
    for (uint32_t i = 0; i < r.nentries; i++) {
        free(r.entries[i].name);
        free(r.entries[i].param_types);
    }
    free(r.entries);
    return ok;
}

/* --------------------------------------------------------------- translation */

struct cache_entry {
    struct cache_entry *next;
    char *spec;
    uint64_t hash;
    size_t spv_len, bc_len;
    uint8_t *spv, *bc;
};
static struct {
    pthread_mutex_t lock;
    struct cache_entry *head;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static bool write_all(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return false;
        }
        b += w;
        n -= (size_t)w;
    }
    return close(fd) == 0;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Runs llvm-spirv -r on the module; the bitcode is malloc'd. Output on failure
 * goes to the build log. */
static uint8_t *translate(const uint8_t *spv, size_t len, const char *spec, size_t *bc_len, struct hd_buf *log)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/hostdev-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        buf_printf(log, "hostdev: cannot create a temporary directory under %s: %s\n", tmp, strerror(errno));
        return NULL;
    }
    char in[4200], out[4200], errp[4200];
    snprintf(in, sizeof in, "%s/in.spv", dir);
    snprintf(out, sizeof out, "%s/out.bc", dir);
    snprintf(errp, sizeof errp, "%s/log", dir);
    uint8_t *bc = NULL;
    if (!write_all(in, spv, len)) {
        buf_printf(log, "hostdev: cannot write %s: %s\n", in, strerror(errno));
        goto out;
    }
    const char *tool = getenv("HOSTDEV_LLVM_SPIRV");
    if (!tool || !*tool)
        tool = HD_LLVM_SPIRV;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = { (char *)tool, "-r", in, "-o", out, (char *)spec, NULL };
    if (!*spec)
        argv[5] = NULL;
    pid_t pid;
    int rc = posix_spawnp(&pid, tool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        buf_printf(log, "hostdev: cannot run %s: %s\n", tool, strerror(rc));
        goto out;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    size_t elen = 0;
    char *etext = (char *)read_all(errp, &elen);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf_printf(log, "hostdev: %s -r failed (status %d):\n%.*s\n", tool, status, (int)elen, etext ? etext : "");
    } else {
        bc = read_all(out, bc_len);
        if (!bc || *bc_len == 0) {
            free(bc);
            bc = NULL;
            buf_printf(log, "hostdev: %s produced no bitcode\n%.*s\n", tool, (int)elen, etext ? etext : "");
        }
    }
    free(etext);
out:
    unlink(in);
    unlink(out);
    unlink(errp);
    rmdir(dir);
    return bc;
}

/* ---------------------------------------------------------------- disk cache */

/* $HOSTDEV_CACHE_DIR, else $XDG_CACHE_HOME/zmoe-hostdev (or ~/.cache/zmoe-hostdev),
 * unless HOSTDEV_DISK_CACHE=0. Each entry holds the SPIR-V and the constants it was made
 * from, so a hash collision can never hand out the wrong bitcode. */
#define DISK_MAGIC "HDBC0001"

static bool disk_dir(char *dir, size_t n, bool create)
{
    const char *on = getenv("HOSTDEV_DISK_CACHE");
    if (on && !strcmp(on, "0"))
        return false;
    const char *own = getenv("HOSTDEV_CACHE_DIR");
    if (own && *own) {
        if (create)
            mkdir(own, 0700);
        return (size_t)snprintf(dir, n, "%s", own) < n;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[4096];
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache", home);
    else
        return false;
    if (create)
        mkdir(base, 0700);
    if ((size_t)snprintf(dir, n, "%s/zmoe-hostdev", base) >= n)
        return false;
    if (create)
        mkdir(dir, 0700);
    return true;
}

static uint8_t *disk_get(uint64_t h, const uint8_t *spv, size_t len, const char *spec, size_t *bc_len)
{
    char dir[4200], path[4300];
    if (!disk_dir(dir, sizeof dir, false))
        return NULL;
    snprintf(path, sizeof path, "%s/%016llx-%zu.bin", dir, (unsigned long long)h, len);
    size_t n = 0;
    uint8_t *f = read_all(path, &n);
    if (!f)
        return NULL;
    uint64_t hdr[3];
    size_t slen = strlen(spec), head = 8 + sizeof hdr;
    uint8_t *bc = NULL;
    if (n >= head && !memcmp(f, DISK_MAGIC, 8)) {
        memcpy(hdr, f + 8, sizeof hdr);
        if (hdr[0] == len && hdr[1] == slen && hdr[2] > 0 && n == head + len + slen + hdr[2] &&
            !memcmp(f + head, spv, len) && !memcmp(f + head + len, spec, slen) && (bc = malloc(hdr[2]))) {
            memcpy(bc, f + head + len + slen, hdr[2]);
            *bc_len = hdr[2];
        }
    }
    free(f);
    return bc;
}

static void disk_put(uint64_t h, const uint8_t *spv, size_t len, const char *spec, const uint8_t *bc, size_t bc_len)
{
    char dir[4200], path[4300], tmp[4400];
    if (!disk_dir(dir, sizeof dir, true))
        return;
    snprintf(path, sizeof path, "%s/%016llx-%zu.bin", dir, (unsigned long long)h, len);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    size_t slen = strlen(spec), head = 8 + 3 * sizeof(uint64_t), n = head + len + slen + bc_len;
    uint8_t *f = malloc(n);
    if (!f)
        return;
    uint64_t hdr[3] = { len, slen, bc_len };
    memcpy(f, DISK_MAGIC, 8);
    memcpy(f + 8, hdr, sizeof hdr);
    memcpy(f + head, spv, len);
    memcpy(f + head + len, spec, slen);
    memcpy(f + head + len + slen, bc, bc_len);
    /* Write then rename: readers in other processes never see a partial file. */
    if (write_all(tmp, f, n))
        rename(tmp, path);
    unlink(tmp);
    free(f);
}

/* Bitcode for a SPIR-V module, translated once per distinct content (memory
 * cache per process, disk cache across processes). The buffer belongs to the
 * memory cache. */
static const uint8_t *bitcode_for(const uint8_t *spv, size_t len, const char *spec, size_t *bc_len,
                                  struct hd_buf *log)
{
    uint64_t h = fnv1a(spv, len) ^ fnv1a((const uint8_t *)spec, strlen(spec));
    pthread_mutex_lock(&cache.lock);
    for (struct cache_entry *e = cache.head; e; e = e->next) {
        if (e->hash == h && e->spv_len == len && !strcmp(e->spec, spec) && !memcmp(e->spv, spv, len)) {
            pthread_mutex_unlock(&cache.lock);
            *bc_len = e->bc_len;
            return e->bc;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    size_t n = 0;
    uint8_t *bc = disk_get(h, spv, len, spec, &n);
    if (!bc) {
        bc = translate(spv, len, spec, &n, log);
        if (!bc)
            return NULL;
        disk_put(h, spv, len, spec, bc, n);
    }
    struct cache_entry *e = calloc(1, sizeof *e);
    uint8_t *copy = malloc(len);
    char *spec_copy = strdup(spec);
    if (!e || !copy || !spec_copy) {
        free(e);
        free(copy);
        free(spec_copy);
        free(bc);
        buf_printf(log, "hostdev: out of host memory\n");
        return NULL;
    }
    memcpy(copy, spv, len);
    *e = (struct cache_entry){ .spec = spec_copy, .hash = h, .spv_len = len, .bc_len = n, .spv = copy, .bc = bc };
    pthread_mutex_lock(&cache.lock);
    e->next = cache.head;
    cache.head = e;
    pthread_mutex_unlock(&cache.lock);
    *bc_len = n;
    return bc;
}

/* The cache lives until the library is unloaded, so tools that track leaks see
 * it released. */
__attribute__((destructor)) static void cache_release(void)
{
    struct cache_entry *e = cache.head;
    cache.head = NULL;
    while (e) {
        struct cache_entry *next = e->next;
        free(e->spv);
        free(e->bc);
        free(e->spec);
        free(e);
        e = next;
    }
}

/* ------------------------------------------------------------------- module */

/* Specializes the module in place: each constant the application sets gets its
 * value written into its OpSpecConstant literal (or OpSpecConstantTrue/False
 * flipped), so the translator sees a module whose defaults are the values. Any
 * SpecId and every bit of a value survive (llvm-spirv's --spec-const parses
 * 64-bit values through a double and loses those above 2^53). An id the module does
 * not declare fails the build with a log line. */
static bool apply_spec(uint32_t *words, size_t nwords, const ze_module_constants_t *c, const struct hd_spec *specs,
                       uint32_t nspecs, struct hd_buf *log)
{
    if (!c || !c->numConstants)
        return true;
    if (!c->pConstantIds || !c->pConstantValues) {
        buf_printf(log, "hostdev: specialization constants without ids or values\n");
        return false;
    }
    for (uint32_t i = 0; i < c->numConstants; i++) {
        const void *v = c->pConstantValues[i];
        bool known = false;
        for (uint32_t j = 0; j < nspecs; j++) {
            const struct hd_spec *sp = &specs[j];
            if (sp->id != c->pConstantIds[i])
                continue;
            if (!sp->size || !v || sp->word_off >= nwords)
                break;
            uint32_t *ins = words + sp->word_off, n = ins[0] >> 16, op = ins[0] & 0xffff;
            if (op == OP_SPEC_CONSTANT_TRUE || op == OP_SPEC_CONSTANT_FALSE) {
                uint8_t b;
                memcpy(&b, v, 1);
                ins[0] = (ins[0] & 0xffff0000u) | (b ? OP_SPEC_CONSTANT_TRUE : OP_SPEC_CONSTANT_FALSE);
            } else {
                uint32_t nlit = sp->size > 4 ? 2 : 1;
                if (n < 3 + nlit || sp->word_off + 3 + nlit > nwords)
                    break;
                uint64_t bits = 0;
                memcpy(&bits, v, sp->size);
                if (sp->size < 4 && sp->is_signed && (bits >> (sp->size * 8 - 1) & 1))
                    bits |= ~(uint64_t)0 << (sp->size * 8);   /* sign-extend into the word */
                ins[3] = (uint32_t)bits;
                if (nlit == 2)
                    ins[4] = (uint32_t)(bits >> 32);
            }
            known = true;
            /* Several constants may share a SpecId: keep going. */
        }
        if (!known) {
            buf_printf(log, "hostdev: unknown specialization constant id %u\n", c->pConstantIds[i]);
            return false;
        }
    }
    return true;
}

static ze_result_t make_log(ze_module_build_log_handle_t *ph, struct hd_buf *b)
{
    if (!ph)
        return ZE_RESULT_SUCCESS;
    struct hd_log *l = calloc(1, sizeof *l);
    if (!l) {
        *ph = NULL;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    l->magic = HD_MAGIC_LOG;
    l->text = b->s ? b->s : strdup("");
    b->s = NULL;
    if (!l->text || !hd_handle_add(l, HD_MAGIC_LOG)) {
        free(l->text);
        free(l);
        *ph = NULL;
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    *ph = (ze_module_build_log_handle_t)l;
    return ZE_RESULT_SUCCESS;
}

/* A module's struct (its kernels' reflection, its PoCL program) goes when it is
 * destroyed and its last kernel is destroyed, in either order. */
static void module_free(struct hd_module *m)
{
    struct hd_context *c = m->ctx;
    if (m->prog)
        clReleaseProgram(m->prog);
    free(m->spv);
    free(m->spec);
    if (m->bc_owned)
        free((void *)m->bc);
    for (uint32_t i = 0; i < m->nkernels; i++)
        kinfo_free(&m->kernels[i]);
    free(m->kernels);
    free(m->names);
    m->magic = HD_MAGIC_DEAD;
    free(m);
    hd_context_unref(c);
}

static void module_unref(struct hd_module *m)
{
    if (hd_parent_unref_last(&m->refs, &m->destroyed))
        module_free(m);
}

/* ------------------------------------------------------------ native binary */

/* hostdev's native binary (zeModuleGetNativeBinary, ZE_MODULE_FORMAT_NATIVE): a
 * header, then the SPIR-V the module was made from (its kernels are reflected from
 * it again), the specialization applied (llvm-spirv's option text) and the SPIR
 * bitcode PoCL builds, so a reload skips the translator. A checksum over everything
 * after the header refuses truncated or altered binaries; other drivers' binaries
 * (an Intel GPU's, for instance) fail the magic. */
#define NATIVE_MAGIC "ZMOEHDN1"
struct native_header {
    char magic[8];
    uint64_t spv_len, spec_len, bc_len;
    uint64_t checksum;   /* FNV-1a of the three parts, in order */
};

static uint64_t native_checksum(const uint8_t *spv, size_t spv_len, const char *spec, size_t spec_len,
                                const uint8_t *bc, size_t bc_len)
{
    return fnv1a(spv, spv_len) ^ (fnv1a((const uint8_t *)spec, spec_len) * 3) ^ (fnv1a(bc, bc_len) * 7);
}

static ze_result_t native_parse(struct hd_module *m, const void *input, size_t size, struct hd_buf *log)
{
    struct native_header h;
    if (size < sizeof h || memcmp(input, NATIVE_MAGIC, 8)) {
        buf_printf(log, "hostdev: not a hostdev native binary (%zu bytes; from another driver?); pass SPIR-V "
                        "or what zeModuleGetNativeBinary returned on hostdev\n", size);
        return ZE_RESULT_ERROR_INVALID_NATIVE_BINARY;
    }
    memcpy(&h, input, sizeof h);
    const uint8_t *p = (const uint8_t *)input + sizeof h;
    size_t rest = size - sizeof h;
    if (h.spv_len == 0 || h.spv_len % 4 || h.bc_len == 0 || h.spv_len > rest || h.spec_len > rest - h.spv_len ||
        h.bc_len != rest - h.spv_len - h.spec_len ||
        native_checksum(p, h.spv_len, (const char *)p + h.spv_len, h.spec_len, p + h.spv_len + h.spec_len,
                        h.bc_len) != h.checksum) {
        buf_printf(log, "hostdev: native binary is truncated or corrupted (%zu bytes)\n", size);
        return ZE_RESULT_ERROR_INVALID_NATIVE_BINARY;
    }
    m->spv = malloc(h.spv_len);
    m->spec = malloc(h.spec_len + 1);
    uint8_t *bc = malloc(h.bc_len);
    if (!m->spv || !m->spec || !bc) {
        free(bc);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    memcpy(m->spv, p, h.spv_len);
    m->spv_len = h.spv_len;
    memcpy(m->spec, p + h.spv_len, h.spec_len);
    m->spec[h.spec_len] = '\0';
    memcpy(bc, p + h.spv_len + h.spec_len, h.bc_len);
    m->bc = bc;
    m->bc_len = h.bc_len;
    m->bc_owned = true;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeModuleCreate(ze_context_handle_t hContext, ze_device_handle_t hDevice,
                                         const ze_module_desc_t *desc, ze_module_handle_t *phModule,
                                         ze_module_build_log_handle_t *phBuildLog)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, hContext);
    HD_OBJECT(struct hd_device, d, hd_device, hDevice);
    if (!desc || !phModule || !desc->pInputModule)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (phBuildLog)
        *phBuildLog = NULL;
    struct hd_buf log = {0};
    ze_result_t res = ZE_RESULT_ERROR_MODULE_BUILD_FAILURE;
    struct hd_module *m = NULL;

    if (desc->format != ZE_MODULE_FORMAT_IL_SPIRV && desc->format != ZE_MODULE_FORMAT_NATIVE) {
        make_log(phBuildLog, &log);
        free(log.s);
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        res = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
        goto fail;
    }
    m->magic = HD_MAGIC_MODULE;
    m->ctx = c;
    m->dev = d;
    hd_context_ref(c);
    if (desc->format == ZE_MODULE_FORMAT_NATIVE) {
        /* Only hostdev's own native binaries (zeModuleGetNativeBinary): SPIR-V,
         * specialization and bitcode; the constants in the desc were applied when
         * it was made and are not applied again. */
        res = native_parse(m, desc->pInputModule, desc->inputSize, &log);
        if (res != ZE_RESULT_SUCCESS)
            goto fail;
        res = ZE_RESULT_ERROR_MODULE_BUILD_FAILURE;
    } else {
        if (desc->inputSize == 0 || desc->inputSize % 4) {
            buf_printf(&log, "hostdev: SPIR-V size %zu is not a positive multiple of 4\n", desc->inputSize);
            goto fail;
        }
        m->spv = malloc(desc->inputSize);
        if (!m->spv) {
            res = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
            goto fail;
        }
        memcpy(m->spv, desc->pInputModule, desc->inputSize);
        m->spv_len = desc->inputSize;
    }
    /* Aligned words (the caller's buffer need not be 4-byte aligned). */
    const uint32_t *words = (const uint32_t *)(const void *)m->spv;
    size_t nwords = m->spv_len / 4;
    {
        /* The validator's findings are reported, not enforced: modules from other
         * compilers (forward references, function pointers, ...) that the translator
         * accepts must build, as on a real driver. What cannot be parsed, translated
         * or built is refused below. */
        spv_context sc = spvContextCreate(SPV_ENV_UNIVERSAL_1_5);
        spv_const_binary_t bin = { words, nwords };
        spv_diagnostic diag = NULL;
        if (spvValidate(sc, &bin, &diag) != SPV_SUCCESS)
            buf_printf(&log, "hostdev: SPIR-V validator (not fatal; translating anyway): %s\n",
                       diag ? diag->error : "validation failed");
        spvDiagnosticDestroy(diag);
        spvContextDestroy(sc);
    }
    struct hd_spec *specs = NULL;
    uint32_t nspecs = 0;
    if (!reflect(words, nwords, &m->kernels, &m->nkernels, &specs, &nspecs, &log)) {
        buf_printf(&log, "hostdev: invalid SPIR-V: it cannot be parsed\n");
        goto fail;
    }
    bool spec_ok = true;
    if (desc->format == ZE_MODULE_FORMAT_IL_SPIRV) {
        spec_ok = apply_spec((uint32_t *)(void *)m->spv, nwords, desc->pConstants, specs, nspecs, &log);
        m->spec = strdup("");   /* the specialization is in the SPIR-V itself */
    }
    free(specs);
    if (!spec_ok || !m->spec)
        goto fail;
    m->names = calloc(m->nkernels ? m->nkernels : 1, sizeof *m->names);
    if (!m->names) {
        res = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
        goto fail;
    }
    for (uint32_t i = 0; i < m->nkernels; i++)
        m->names[i] = m->kernels[i].name;

    if (!m->bc) {
        m->bc = bitcode_for(m->spv, m->spv_len, m->spec, &m->bc_len, &log);
        if (!m->bc)
            goto fail;
    }
    size_t bc_len = m->bc_len;
    const uint8_t *bc = m->bc;
    cl_int err, bst;
    m->prog = clCreateProgramWithBinary(hd.clctx, 1, &hd.cldev, &bc_len, &bc, &bst, &err);
    if (!m->prog) {
        buf_printf(&log, "hostdev: clCreateProgramWithBinary failed (%d, %d)\n", err, bst);
        goto fail;
    }
    err = clBuildProgram(m->prog, 1, &hd.cldev, "-x spir -spir-std=1.2", NULL, NULL);
    size_t blen = 0;
    clGetProgramBuildInfo(m->prog, hd.cldev, CL_PROGRAM_BUILD_LOG, 0, NULL, &blen);
    if (blen > 1) {
        char *b = malloc(blen);
        if (b && clGetProgramBuildInfo(m->prog, hd.cldev, CL_PROGRAM_BUILD_LOG, blen, b, NULL) == CL_SUCCESS)
            buf_printf(&log, "%s", b);
        free(b);
    }
    if (err != CL_SUCCESS) {
        buf_printf(&log, "hostdev: PoCL build failed (%d)\n", err);
        goto fail;
    }
    res = make_log(phBuildLog, &log);
    free(log.s);
    if (res == ZE_RESULT_SUCCESS && !hd_handle_add(m, HD_MAGIC_MODULE))
        res = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;   /* the log (if any) is the caller's */
    if (res != ZE_RESULT_SUCCESS) {
        module_free(m);
        *phModule = NULL;
        return res;
    }
    *phModule = (ze_module_handle_t)m;
    return ZE_RESULT_SUCCESS;
fail:
    if (m)
        module_free(m);
    make_log(phBuildLog, &log);
    free(log.s);
    *phModule = NULL;
    return res;
}

static struct hd_module *module_of(ze_module_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_MODULE);
}

ze_result_t ZE_APICALL hd_zeModuleDestroy(ze_module_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_module, m, module_of, h);
    hd_handle_del(m);
    hd_quiesce(m->ctx);
    /* Kernels still alive keep the module's struct until they are destroyed. */
    if (hd_parent_destroy_last(&m->refs, &m->destroyed))
        module_free(m);
    return ZE_RESULT_SUCCESS;
}

static struct hd_log *log_of(ze_module_build_log_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_LOG);
}

ze_result_t ZE_APICALL hd_zeModuleBuildLogDestroy(ze_module_build_log_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_log, l, log_of, h);
    hd_handle_del(l);
    l->magic = HD_MAGIC_DEAD;
    free(l->text);
    free(l);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeModuleBuildLogGetString(ze_module_build_log_handle_t h, size_t *pSize, char *pBuildLog)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_log, l, log_of, h);
    if (!pSize)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    hd_string_query(l->text, pSize, pBuildLog);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeModuleGetKernelNames(ze_module_handle_t h, uint32_t *pCount, const char **pNames)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_module, m, module_of, h);
    if (!pCount)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!hd_count_query(pCount, pNames, m->nkernels))
        for (uint32_t i = 0; i < *pCount; i++)
            pNames[i] = m->names[i];
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeModuleGetProperties(ze_module_handle_t h, ze_module_properties_t *p)
{
    HD_ENTRY();
    if (!module_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->flags = 0;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeModuleGetNativeBinary(ze_module_handle_t h, size_t *pSize, uint8_t *bin)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_module, m, module_of, h);
    if (!pSize)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    size_t spec_len = strlen(m->spec);
    size_t need = sizeof(struct native_header) + m->spv_len + spec_len + m->bc_len;
    if (!bin) {
        *pSize = need;
        return ZE_RESULT_SUCCESS;
    }
    if (*pSize < need)
        return ZE_RESULT_ERROR_INVALID_SIZE;
    struct native_header hdr = { .spv_len = m->spv_len, .spec_len = spec_len, .bc_len = m->bc_len,
                                 .checksum = native_checksum(m->spv, m->spv_len, m->spec, spec_len, m->bc,
                                                             m->bc_len) };
    memcpy(hdr.magic, NATIVE_MAGIC, 8);
    memcpy(bin, &hdr, sizeof hdr);
    memcpy(bin + sizeof hdr, m->spv, m->spv_len);
    memcpy(bin + sizeof hdr + m->spv_len, m->spec, spec_len);
    memcpy(bin + sizeof hdr + m->spv_len + spec_len, m->bc, m->bc_len);
    *pSize = need;
    return ZE_RESULT_SUCCESS;
}

/* ------------------------------------------------------------------- kernel */

struct hd_kernel *hd_kernel_of(ze_kernel_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_KERNEL);
}

/* Frees k's struct and argument arrays (its PoCL kernel and lock are the caller's). */
static void kernel_free(struct hd_kernel *k)
{
    k->magic = HD_MAGIC_DEAD;
    free(k->values);
    free(k->set);
    free(k->cl_values);
    free(k->cl_set);
    free(k);
}

ze_result_t ZE_APICALL hd_zeKernelCreate(ze_module_handle_t h, const ze_kernel_desc_t *desc, ze_kernel_handle_t *ph)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_module, m, module_of, h);
    if (!desc || !ph || !desc->pKernelName)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *ph = NULL;
    if (desc->flags & ~(ze_kernel_flags_t)(ZE_KERNEL_FLAG_FORCE_RESIDENCY | ZE_KERNEL_FLAG_EXPLICIT_RESIDENCY))
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    const struct hd_kinfo *info = NULL;
    for (uint32_t i = 0; i < m->nkernels; i++)
        if (!strcmp(m->kernels[i].name, desc->pKernelName))
            info = &m->kernels[i];
    if (!info)
        return ZE_RESULT_ERROR_INVALID_KERNEL_NAME;
    /* Kernels taking images or samplers are created (their properties, group sizes
     * and names work); setting such an argument or launching them is refused. */
    struct hd_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    k->values = calloc(info->blob_size ? info->blob_size : 1, 1);
    k->set = calloc(info->nargs ? info->nargs : 1, 1);
    k->cl_values = calloc(info->blob_size ? info->blob_size : 1, 1);
    k->cl_set = calloc(info->nargs ? info->nargs : 1, 1);
    cl_int err = CL_OUT_OF_HOST_MEMORY;
    if (k->values && k->set && k->cl_values && k->cl_set)
        k->clk = clCreateKernel(m->prog, desc->pKernelName, &err);
    if (!k->clk) {
        kernel_free(k);
        return err == CL_INVALID_KERNEL_NAME ? ZE_RESULT_ERROR_INVALID_KERNEL_NAME : hd_cl_error(err);
    }
    pthread_mutex_init(&k->lock, NULL);
    k->magic = HD_MAGIC_KERNEL;
    k->mod = m;
    k->info = info;
    for (int i = 0; i < 3; i++)
        k->gs[i] = info->reqd[i] ? info->reqd[i] : 1;
    if (!hd_handle_add(k, HD_MAGIC_KERNEL)) {
        clReleaseKernel(k->clk);
        pthread_mutex_destroy(&k->lock);
        kernel_free(k);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    hd_parent_ref(&m->refs);
    *ph = (ze_kernel_handle_t)k;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelDestroy(ze_kernel_handle_t h)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    hd_handle_del(k);
    struct hd_module *m = k->mod;
    hd_quiesce(m->ctx);
    clReleaseKernel(k->clk);
    pthread_mutex_destroy(&k->lock);
    kernel_free(k);
    module_unref(m);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelSetArgumentValue(ze_kernel_handle_t h, uint32_t index, size_t size,
                                                   const void *value)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (index >= k->info->nargs)
        return ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_INDEX;
    const struct hd_arg *a = &k->info->args[index];
    uint8_t *slot = k->values + a->off;
    switch (a->kind) {
    case HD_ARG_GLOBAL:
        if (size != sizeof(void *))
            return ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE;
        if (value)
            memcpy(slot, value, sizeof(void *));
        else
            memset(slot, 0, sizeof(void *));
        break;
    case HD_ARG_LOCAL: {
        /* Local arguments carry only a size; a value is a usage error. */
        if (value)
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        if (size == 0 || size > hd.local_mem)
            return ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE;
        uint64_t s = size;
        memcpy(slot, &s, sizeof s);
        break;
    }
    case HD_ARG_VALUE:
        if (size != a->size)
            return ZE_RESULT_ERROR_INVALID_KERNEL_ARGUMENT_SIZE;
        if (!value)
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        memcpy(slot, value, size);
        break;
    default:
        return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
    }
    k->set[index] = 1;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelSetGroupSize(ze_kernel_handle_t h, uint32_t x, uint32_t y, uint32_t z)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    const uint32_t *r = k->info->reqd;
    if (!x || !y || !z || x > hd.max_wi[0] || y > hd.max_wi[1] || z > hd.max_wi[2] ||
        (uint64_t)x * y * z > hd.max_wg || (r[0] && (x != r[0] || y != r[1] || z != r[2])))
        return ZE_RESULT_ERROR_INVALID_GROUP_SIZE_DIMENSION;
    k->gs[0] = x;
    k->gs[1] = y;
    k->gs[2] = z;
    return ZE_RESULT_SUCCESS;
}

/* Largest divisor of n that is <= limit: groups then tile the global size exactly. */
static uint32_t best_divisor(uint32_t n, uint32_t limit)
{
    if (n == 0)
        return 1;
    for (uint32_t d = limit < n ? limit : n; d > 1; d--)
        if (n % d == 0)
            return d;
    return 1;
}

ze_result_t ZE_APICALL hd_zeKernelSuggestGroupSize(ze_kernel_handle_t h, uint32_t gx, uint32_t gy, uint32_t gz,
                                                   uint32_t *sx, uint32_t *sy, uint32_t *sz)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (!sx || !sy || !sz)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (!gx || !gy || !gz)
        return ZE_RESULT_ERROR_INVALID_GLOBAL_WIDTH_DIMENSION;
    const uint32_t *r = k->info->reqd;
    if (r[0]) {
        *sx = r[0];
        *sy = r[1];
        *sz = r[2];
        return ZE_RESULT_SUCCESS;
    }
    /* Aim for up to 64 work-items per group (enough for PoCL's vectorizer). */
    uint32_t budget = hd.max_wg < 64 ? (uint32_t)hd.max_wg : 64;
    uint32_t x = best_divisor(gx, budget < hd.max_wi[0] ? budget : (uint32_t)hd.max_wi[0]);
    budget /= x;
    uint32_t y = best_divisor(gy, budget < hd.max_wi[1] ? budget : (uint32_t)hd.max_wi[1]);
    budget /= y;
    uint32_t z = best_divisor(gz, budget < hd.max_wi[2] ? budget : (uint32_t)hd.max_wi[2]);
    *sx = x;
    *sy = y;
    *sz = z;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelSuggestMaxCooperativeGroupCount(ze_kernel_handle_t h, uint32_t *count)
{
    HD_ENTRY();
    if (!hd_kernel_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!count)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *count = hd.compute_units ? hd.compute_units : 1;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelGetProperties(ze_kernel_handle_t h, ze_kernel_properties_t *p)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (!p)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    p->numKernelArgs = k->info->nargs;
    p->requiredGroupSizeX = k->info->reqd[0];
    p->requiredGroupSizeY = k->info->reqd[1];
    p->requiredGroupSizeZ = k->info->reqd[2];
    p->requiredNumSubGroups = 0;
    p->requiredSubgroupSize = 0;
    p->maxSubgroupSize = 1;
    p->maxNumSubgroups = (uint32_t)hd.max_wg;
    cl_ulong lm = 0, pm = 0;
    clGetKernelWorkGroupInfo(k->clk, hd.cldev, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
    clGetKernelWorkGroupInfo(k->clk, hd.cldev, CL_KERNEL_PRIVATE_MEM_SIZE, sizeof pm, &pm, NULL);
    p->localMemSize = (uint32_t)lm;
    p->privateMemSize = (uint32_t)pm;
    p->spillMemSize = 0;
    memset(&p->uuid, 0, sizeof p->uuid);
    uint64_t kid = (uint64_t)(uintptr_t)k->info, mid = (uint64_t)(uintptr_t)k->mod;
    memcpy(p->uuid.kid, &kid, sizeof kid);
    memcpy(p->uuid.mid, &mid, sizeof mid);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelGetName(ze_kernel_handle_t h, size_t *pSize, char *pName)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (!pSize)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    hd_string_query(k->info->name, pSize, pName);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelSetGlobalOffsetExp(ze_kernel_handle_t h, uint32_t x, uint32_t y, uint32_t z)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    k->offset[0] = x;
    k->offset[1] = y;
    k->offset[2] = z;
    return ZE_RESULT_SUCCESS;
}

#define HD_INDIRECT_ALL                                                                          \
    (ZE_KERNEL_INDIRECT_ACCESS_FLAG_HOST | ZE_KERNEL_INDIRECT_ACCESS_FLAG_DEVICE |                \
     ZE_KERNEL_INDIRECT_ACCESS_FLAG_SHARED)

/* Every allocation is host memory that every kernel can reach, so the flags change
 * nothing in execution; they are kept and reported back as set. */
ze_result_t ZE_APICALL hd_zeKernelSetIndirectAccess(ze_kernel_handle_t h, ze_kernel_indirect_access_flags_t f)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (f & ~(ze_kernel_indirect_access_flags_t)HD_INDIRECT_ALL)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    k->indirect = f;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelGetIndirectAccess(ze_kernel_handle_t h, ze_kernel_indirect_access_flags_t *f)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (!f)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *f = k->indirect;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeKernelSetCacheConfig(ze_kernel_handle_t h, ze_cache_config_flags_t f)
{
    HD_ENTRY();
    if (!hd_kernel_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (f & ~(ze_cache_config_flags_t)(ZE_CACHE_CONFIG_FLAG_LARGE_SLM | ZE_CACHE_CONFIG_FLAG_LARGE_DATA))
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return ZE_RESULT_SUCCESS;   /* a CPU has one cache configuration */
}

/* The kernel's source attributes, space-separated, as OpenCL C spells them; only
 * reqd_work_group_size survives into SPIR-V (as its LocalSize mode). *pSize is the
 * size with the terminator; the string is copied into *pString, cut to *pSize. */
ze_result_t ZE_APICALL hd_zeKernelGetSourceAttributes(ze_kernel_handle_t h, uint32_t *pSize, char **pString)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_kernel, k, hd_kernel_of, h);
    if (!pSize)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    char attrs[96] = "";
    const uint32_t *r = k->info->reqd;
    if (r[0])
        snprintf(attrs, sizeof attrs, "reqd_work_group_size(%u,%u,%u)", r[0], r[1], r[2]);
    /* *pSize is a uint32_t here, and the buffer is passed as *pString. */
    size_t size = *pSize;
    hd_string_query(attrs, &size, pString ? *pString : NULL);
    *pSize = (uint32_t)size;
    return ZE_RESULT_SUCCESS;
}

/* Hints, accepted and without effect: PoCL schedules work-groups its own way. */
ze_result_t ZE_APICALL hd_zeKernelSchedulingHintExp(ze_kernel_handle_t h, ze_scheduling_hint_exp_desc_t *hint)
{
    HD_ENTRY();
    if (!hd_kernel_of(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!hint)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (hint->flags > 0x7)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    return ZE_RESULT_SUCCESS;
}
