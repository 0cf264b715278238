/* vmem.c — virtual memory: reservations, physical memory and mappings, made of the
 * host's own virtual memory. A reservation is an inaccessible anonymous mapping
 * (PROT_NONE); physical memory is a memfd of its size; mapping it puts the memfd
 * over part of a reservation (MAP_FIXED, MAP_SHARED) with the access asked for, so
 * the same physical memory mapped twice shows the same bytes at both addresses;
 * unmapping puts an inaccessible anonymous mapping back. Kernels and copies reach
 * mapped pages like any other host memory. Each reservation keeps a list of
 * segments covering it (mapped or not, and their access) for the queries. */
#include "hd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct seg {
    size_t off, len;
    bool mapped;
    ze_memory_access_attribute_t attr;
};

struct vres {
    uintptr_t base;
    size_t size;
    struct hd_context *ctx;
    struct seg *segs;
    size_t nsegs, cap;
    struct vres *next;
};

struct hd_phys {
    uint32_t magic;
    struct hd_context *ctx;
    int fd;
    size_t size;
};

static struct {
    pthread_mutex_t lock;
    struct vres *head;
} vm = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* The reservation of ctx holding [p, p + n), or NULL. Called with vm.lock held. */
static struct vres *find_locked(struct hd_context *c, uintptr_t p, size_t n)
{
    for (struct vres *r = vm.head; r; r = r->next)
        if (r->ctx == c && p >= r->base && p - r->base <= r->size && n <= r->size - (p - r->base))
            return r;
    return NULL;
}

/* Splits the segment list so that a segment starts at off (0 < off < size). */
static bool split_at(struct vres *r, size_t off)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];
        if (s->off == off)
            return true;
        if (off > s->off && off < s->off + s->len) {
            if (r->nsegs == r->cap) {
                size_t cap = r->cap * 2;
                struct seg *ns = realloc(r->segs, cap * sizeof *ns);
                if (!ns)
                    return false;
                r->segs = ns;
                r->cap = cap;
                s = &r->segs[i];
            }
            memmove(s + 2, s + 1, (r->nsegs - i - 1) * sizeof *s);
            s[1] = *s;
            s[1].off = off;
            s[1].len = s->off + s->len - off;
            s->len = off - s->off;
            r->nsegs++;
            return true;
        }
    }
    return true;   /* off is the end of the reservation */
}

/* Segments [i, j) exactly covering [off, off + len) after splitting; false on OOM. */
static bool range_locked(struct vres *r, size_t off, size_t len, size_t *i, size_t *j)
{
    if (!split_at(r, off) || !split_at(r, off + len))
        return false;
    *i = 0;
    while (r->segs[*i].off < off)
        (*i)++;
    *j = *i;
    while (*j < r->nsegs && r->segs[*j].off < off + len)
        (*j)++;
    return true;
}

static void merge_locked(struct vres *r)
{
    size_t o = 0;
    for (size_t i = 1; i < r->nsegs; i++) {
        struct seg *a = &r->segs[o], *b = &r->segs[i];
        if (a->mapped == b->mapped && a->attr == b->attr)
            a->len += b->len;
        else
            r->segs[++o] = *b;
    }
    r->nsegs = o + 1;
}

/* Ends what range_begin began: the segments merged again, vm.lock released. */
static ze_result_t range_end(struct vres *r, ze_result_t res)
{
    merge_locked(r);
    pthread_mutex_unlock(&vm.lock);
    return res;
}

/* Takes vm.lock and finds c's reservation *rp holding [ptr, ptr + size) and its
 * segments [i, j) that cover exactly that range (split as needed). On success the
 * lock stays held until the caller's range_end; on failure it is released. */
static ze_result_t range_begin(struct hd_context *c, const void *ptr, size_t size, struct vres **rp, size_t *i,
                               size_t *j)
{
    pthread_mutex_lock(&vm.lock);
    struct vres *r = find_locked(c, (uintptr_t)ptr, size);
    if (!r) {
        pthread_mutex_unlock(&vm.lock);
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* not inside a reservation */
    }
    if (!range_locked(r, (uintptr_t)ptr - r->base, size, i, j))
        return range_end(r, ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY);
    *rp = r;
    return ZE_RESULT_SUCCESS;
}

static void vres_free(struct vres *r)
{
    munmap((void *)r->base, r->size);
    free(r->segs);
    free(r);
}

static int prot_of(ze_memory_access_attribute_t a)
{
    return a == ZE_MEMORY_ACCESS_ATTRIBUTE_READWRITE ? PROT_READ | PROT_WRITE
           : a == ZE_MEMORY_ACCESS_ATTRIBUTE_READONLY ? PROT_READ
                                                      : PROT_NONE;
}

/* Checks a context, a page-aligned start and a non-zero page-multiple size. */
static ze_result_t check_range(ze_context_handle_t h, const void *ptr, size_t size, struct hd_context **c)
{
    if (!(*c = hd_context(h)))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!ptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if ((uintptr_t)ptr % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT;
    if (size == 0 || size % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeVirtualMemQueryPageSize(ze_context_handle_t h, ze_device_handle_t dev, size_t size,
                                                    size_t *pagesize)
{
    (void)size;
    HD_ENTRY();
    if (!hd_context(h) || !hd_device(dev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!pagesize)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    *pagesize = page_size();
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeVirtualMemReserve(ze_context_handle_t h, const void *start, size_t size, void **pptr)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_context, c, hd_context, h);
    if (!pptr)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (size == 0 || size % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;
    if ((uintptr_t)start % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT;
    struct vres *r = calloc(1, sizeof *r);
    struct seg *segs = malloc(4 * sizeof *segs);
    if (!r || !segs) {
        free(r);
        free(segs);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    /* start is a hint (no MAP_FIXED): another address is taken when it is in use. */
    void *p = mmap((void *)start, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(r);
        free(segs);
        return ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    }
    r->base = (uintptr_t)p;
    r->size = size;
    r->ctx = c;
    r->segs = segs;
    r->cap = 4;
    r->nsegs = 1;
    segs[0] = (struct seg){ 0, size, false, ZE_MEMORY_ACCESS_ATTRIBUTE_NONE };
    pthread_mutex_lock(&vm.lock);
    r->next = vm.head;
    vm.head = r;
    pthread_mutex_unlock(&vm.lock);
    *pptr = p;
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeVirtualMemFree(ze_context_handle_t h, const void *ptr, size_t size)
{
    HD_ENTRY();
    struct hd_context *c;
    ze_result_t res = check_range(h, ptr, size, &c);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    hd_quiesce(c);
    pthread_mutex_lock(&vm.lock);
    struct vres **pr = &vm.head;
    while (*pr && !((*pr)->ctx == c && (*pr)->base == (uintptr_t)ptr && (*pr)->size == size))
        pr = &(*pr)->next;
    struct vres *r = *pr;
    if (r)
        *pr = r->next;
    pthread_mutex_unlock(&vm.lock);
    if (!r)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* not a reservation of this context */
    vres_free(r);
    return ZE_RESULT_SUCCESS;
}

void hd_vmem_release_context(struct hd_context *c)
{
    pthread_mutex_lock(&vm.lock);
    for (struct vres **pr = &vm.head; *pr;) {
        struct vres *r = *pr;
        if (r->ctx != c) {
            pr = &r->next;
            continue;
        }
        *pr = r->next;
        vres_free(r);
    }
    pthread_mutex_unlock(&vm.lock);
}

static struct hd_phys *phys_of(ze_physical_mem_handle_t h)
{
    return hd_handle_get(h, HD_MAGIC_PHYS);
}

ze_result_t ZE_APICALL hd_zePhysicalMemCreate(ze_context_handle_t h, ze_device_handle_t dev,
                                              ze_physical_mem_desc_t *desc, ze_physical_mem_handle_t *ph)
{
    HD_ENTRY();
    struct hd_context *c = hd_context(h);
    if (!c || !hd_device(dev))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (!desc || !ph)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    if (desc->flags & ~(ze_physical_mem_flags_t)ZE_PHYSICAL_MEM_FLAG_TBD)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    if (desc->size == 0 || desc->size % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_SIZE;
    /* Physical memory counts against HOSTDEV_DEVICE_MEMORY like device memory. */
    pthread_mutex_lock(&hd.mem_lock);
    bool over = c->mem_cap && (desc->size > c->mem_cap || c->mem_used > c->mem_cap - desc->size);
    if (!over)
        c->mem_used += desc->size;
    pthread_mutex_unlock(&hd.mem_lock);
    if (over)
        return ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY;
    struct hd_phys *p = calloc(1, sizeof *p);
    int fd = p ? memfd_create("hostdev-physical", MFD_CLOEXEC) : -1;
    ze_result_t r = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    if (fd >= 0 && ftruncate(fd, (off_t)desc->size) != 0)
        r = ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (fd >= 0 && hd_handle_add(p, HD_MAGIC_PHYS))
        r = ZE_RESULT_SUCCESS;
    if (r != ZE_RESULT_SUCCESS) {
        if (fd >= 0)
            close(fd);
        free(p);
        pthread_mutex_lock(&hd.mem_lock);
        c->mem_used -= desc->size;
        pthread_mutex_unlock(&hd.mem_lock);
        return r;
    }
    p->magic = HD_MAGIC_PHYS;
    p->ctx = c;
    p->fd = fd;
    p->size = desc->size;
    hd_context_ref(c);
    *ph = (ze_physical_mem_handle_t)p;
    return ZE_RESULT_SUCCESS;
}

/* Mappings of p stay valid after its destroy (the kernel keeps the memfd's pages
 * while they are mapped), as a reservation keeps working after the physical
 * object's handle is gone. */
ze_result_t ZE_APICALL hd_zePhysicalMemDestroy(ze_context_handle_t h, ze_physical_mem_handle_t hp)
{
    HD_ENTRY();
    HD_OBJECT(struct hd_phys, p, phys_of, hp);
    struct hd_context *c = hd_context(h);
    if (h && !c && !hd_context_was_destroyed(h))
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    if (c && c != p->ctx)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    hd_handle_del(p);
    hd_quiesce(p->ctx);
    close(p->fd);
    pthread_mutex_lock(&hd.mem_lock);
    p->ctx->mem_used -= p->size;
    pthread_mutex_unlock(&hd.mem_lock);
    struct hd_context *pc = p->ctx;
    p->magic = HD_MAGIC_DEAD;
    free(p);
    hd_context_unref(pc);
    return ZE_RESULT_SUCCESS;
}

ze_result_t ZE_APICALL hd_zeVirtualMemMap(ze_context_handle_t h, const void *ptr, size_t size,
                                          ze_physical_mem_handle_t hp, size_t offset,
                                          ze_memory_access_attribute_t access)
{
    HD_ENTRY();
    struct hd_context *c;
    ze_result_t res = check_range(h, ptr, size, &c);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    HD_OBJECT(struct hd_phys, p, phys_of, hp);
    if (access > ZE_MEMORY_ACCESS_ATTRIBUTE_READONLY)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    if (offset % page_size())
        return ZE_RESULT_ERROR_UNSUPPORTED_ALIGNMENT;
    if (p->ctx != c || offset > p->size || size > p->size - offset)
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    struct vres *r;
    size_t i, j;
    res = range_begin(c, ptr, size, &r, &i, &j);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    for (size_t k = i; k < j; k++)
        if (r->segs[k].mapped)
            res = ZE_RESULT_ERROR_INVALID_ARGUMENT;   /* already mapped: unmap first */
    if (res == ZE_RESULT_SUCCESS &&
        mmap((void *)ptr, size, prot_of(access), MAP_SHARED | MAP_FIXED, p->fd, (off_t)offset) == MAP_FAILED)
        res = errno == ENOMEM ? ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY : ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (res == ZE_RESULT_SUCCESS)
        for (size_t k = i; k < j; k++) {
            r->segs[k].mapped = true;
            r->segs[k].attr = access;
        }
    return range_end(r, res);
}

ze_result_t ZE_APICALL hd_zeVirtualMemUnmap(ze_context_handle_t h, const void *ptr, size_t size)
{
    HD_ENTRY();
    struct hd_context *c;
    ze_result_t res = check_range(h, ptr, size, &c);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    hd_quiesce(c);
    struct vres *r;
    size_t i, j;
    res = range_begin(c, ptr, size, &r, &i, &j);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    if (mmap((void *)ptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) ==
        MAP_FAILED)
        res = ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY;
    else
        for (size_t k = i; k < j; k++) {
            r->segs[k].mapped = false;
            r->segs[k].attr = ZE_MEMORY_ACCESS_ATTRIBUTE_NONE;
        }
    return range_end(r, res);
}

ze_result_t ZE_APICALL hd_zeVirtualMemSetAccessAttribute(ze_context_handle_t h, const void *ptr, size_t size,
                                                         ze_memory_access_attribute_t access)
{
    HD_ENTRY();
    struct hd_context *c;
    ze_result_t res = check_range(h, ptr, size, &c);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    if (access > ZE_MEMORY_ACCESS_ATTRIBUTE_READONLY)
        return ZE_RESULT_ERROR_INVALID_ENUMERATION;
    struct vres *r;
    size_t i, j;
    res = range_begin(c, ptr, size, &r, &i, &j);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    /* Only mapped pages take an access: giving unmapped reserved pages access would
     * expose anonymous memory no physical object backs. */
    for (size_t k = i; k < j; k++)
        if (!r->segs[k].mapped)
            res = ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (res == ZE_RESULT_SUCCESS && mprotect((void *)ptr, size, prot_of(access)) != 0)
        res = ZE_RESULT_ERROR_INVALID_ARGUMENT;
    if (res == ZE_RESULT_SUCCESS)
        for (size_t k = i; k < j; k++)
            r->segs[k].attr = access;
    return range_end(r, res);
}

ze_result_t ZE_APICALL hd_zeVirtualMemGetAccessAttribute(ze_context_handle_t h, const void *ptr, size_t size,
                                                         ze_memory_access_attribute_t *access, size_t *out_size)
{
    HD_ENTRY();
    struct hd_context *c;
    ze_result_t res = check_range(h, ptr, size, &c);
    if (res != ZE_RESULT_SUCCESS)
        return res;
    if (!access || !out_size)
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    pthread_mutex_lock(&vm.lock);
    struct vres *r = find_locked(c, (uintptr_t)ptr, size);
    if (!r) {
        pthread_mutex_unlock(&vm.lock);
        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
    }
    size_t off = (uintptr_t)ptr - r->base, i = 0;
    while (r->segs[i].off + r->segs[i].len <= off)
        i++;
    /* Segments are merged, so the run of one access ends with its segment, unless
     * mapped and unmapped pages without access sit side by side. */
    ze_memory_access_attribute_t a = r->segs[i].attr;
    size_t end = r->segs[i].off + r->segs[i].len;
    while (++i < r->nsegs && r->segs[i].attr == a)
        end = r->segs[i].off + r->segs[i].len;
    pthread_mutex_unlock(&vm.lock);
    *access = a;
    *out_size = end - off < size ? end - off : size;
    return ZE_RESULT_SUCCESS;
}
