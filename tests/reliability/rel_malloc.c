/* rel_malloc.c — see rel_malloc.h. Nothing here may allocate. */
#include "rel_malloc.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

/* Provided by the GNU linker's default script. */
extern char __executable_start[];
extern char etext[];

#define TABLE 8192u /* zmoe holds a handful of blocks at most */
static struct {
    pthread_mutex_t lock;
    void *ptr[TABLE];
    size_t size[TABLE];
    uint64_t live, bytes;
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t live_all;

static __thread bool window;
static __thread enum rel_fail_scope fail_scope;
static __thread uint64_t fail_at;
static __thread uint64_t zmoe_calls, thread_calls;
static __thread bool fired;

static bool from_zmoe(const void *ra)
{
    return (const char *)ra >= __executable_start && (const char *)ra < etext;
}

static struct {
    uintptr_t lo, hi;
} ranges[8];
static int nranges;
static __thread uint64_t project_calls;

static bool from_project(const void *ra)
{
    if (from_zmoe(ra))
        return true;
    for (int i = 0; i < nranges; i++)
        if ((uintptr_t)ra >= ranges[i].lo && (uintptr_t)ra < ranges[i].hi)
            return true;
    return false;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *name = data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nranges < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            ranges[nranges].lo = info->dlpi_addr + ph->p_vaddr;
            ranges[nranges].hi = ranges[nranges].lo + ph->p_memsz;
            nranges++;
        }
    }
    return 0;
}

int rel_malloc_add_library(const char *name)
{
    int before_n = nranges;
    dl_iterate_phdr(phdr_cb, (void *)name);
    return nranges - before_n;
}

static size_t slot_of(const void *p)
{
    uintptr_t h = (uintptr_t)p >> 4;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) % TABLE;
}

static void table_add(void *p, size_t size)
{
    pthread_mutex_lock(&table.lock);
    size_t i = slot_of(p);
    for (size_t n = 0; n < TABLE; n++, i = (i + 1) % TABLE)
        if (!table.ptr[i] || table.ptr[i] == (void *)1) {
            table.ptr[i] = p;
            table.size[i] = size;
            table.live++;
            table.bytes += size;
            break;
        }
    pthread_mutex_unlock(&table.lock);
}

static void table_remove(void *p)
{
    if (!__atomic_load_n(&table.live, __ATOMIC_RELAXED))
        return;
    pthread_mutex_lock(&table.lock);
    if (table.live) {
        size_t i = slot_of(p);
        for (size_t n = 0; n < TABLE && table.ptr[i]; n++, i = (i + 1) % TABLE)
            if (table.ptr[i] == p) {
                table.ptr[i] = (void *)1; /* tombstone */
                table.live--;
                table.bytes -= table.size[i];
                break;
            }
    }
    pthread_mutex_unlock(&table.lock);
}

/* true: fail this allocation */
static bool before(const void *ra)
{
    if (!window)
        return false;
    bool z = from_zmoe(ra), pr = from_project(ra);
    thread_calls++;
    if (z)
        zmoe_calls++;
    if (pr)
        project_calls++;
    if (fail_scope == REL_FAIL_PROJECT && pr && project_calls == fail_at)
        return fired = true;
    if (fail_scope == REL_FAIL_ZMOE && z && zmoe_calls == fail_at)
        return fired = true;
    return false;
}

static void *after(void *p, size_t size, const void *ra)
{
    if (p) {
        __atomic_add_fetch(&live_all, 1, __ATOMIC_RELAXED);
        if (from_zmoe(ra))
            table_add(p, size);
    }
    return p;
}

static void forget(void *p)
{
    if (p) {
        __atomic_sub_fetch(&live_all, 1, __ATOMIC_RELAXED);
        table_remove(p);
    }
}

void *malloc(size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (before(ra)) {
        errno = ENOMEM;
        return NULL;
    }
    return after(__libc_malloc(size), size, ra);
}

void *calloc(size_t n, size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (before(ra)) {
        errno = ENOMEM;
        return NULL;
    }
    return after(__libc_calloc(n, size), n * size, ra);
}

void *realloc(void *old, size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (before(ra)) {
        errno = ENOMEM;
        return NULL;
    }
    if (old && size == 0) {
        forget(old);
        __libc_free(old);
        return NULL;
    }
    void *p = __libc_realloc(old, size);
    if (p) {
        if (old)
            forget(old);
        after(p, size, ra);
    }
    return p;
}

void free(void *p)
{
    forget(p);
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (before(ra)) {
        errno = ENOMEM;
        return NULL;
    }
    return after(__libc_memalign(align, size), size, ra);
}

void *aligned_alloc(size_t align, size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (before(ra)) {
        errno = ENOMEM;
        return NULL;
    }
    return after(__libc_memalign(align, size), size, ra);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    const void *ra = __builtin_return_address(0);
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    if (before(ra))
        return ENOMEM;
    void *p = after(__libc_memalign(align, size), size, ra);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void rel_malloc_window_open(enum rel_fail_scope scope, uint64_t k)
{
    zmoe_calls = thread_calls = project_calls = 0;
    fired = false;
    fail_scope = scope;
    fail_at = k;
    window = true;
}

void rel_malloc_window_close(void)
{
    window = false;
}

void rel_malloc_reset(void)
{
    zmoe_calls = thread_calls = project_calls = 0;
    fired = false;
}

void rel_malloc_read(struct rel_malloc_counts *out)
{
    memset(out, 0, sizeof *out);
    out->zmoe_calls = zmoe_calls;
    out->thread_calls = thread_calls;
    out->project_calls = project_calls;
    out->fired = fired;
    pthread_mutex_lock(&table.lock);
    out->zmoe_live = table.live;
    out->zmoe_bytes_live = table.bytes;
    pthread_mutex_unlock(&table.lock);
}

int64_t rel_malloc_live_all(void)
{
    return __atomic_load_n(&live_all, __ATOMIC_RELAXED);
}
