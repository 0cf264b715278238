/* Modules: build success and failure logs, native binaries refused, kernel names,
 * kernel creation errors and the translator's failure path. */
#include "hd_test.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

static ze_result_t build(struct hdt *t, ze_module_format_t fmt, const void *p, size_t n, ze_module_handle_t *m,
                         char *log, size_t logsz)
{
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = fmt, .inputSize = n,
                            .pInputModule = p };
    ze_module_build_log_handle_t bl = NULL;
    ze_result_t r = zeModuleCreate(t->ctx, t->dev, &md, m, &bl);
    log[0] = '\0';
    if (bl) {
        size_t need = 0;
        zeModuleBuildLogGetString(bl, &need, NULL);
        size_t got = logsz;
        zeModuleBuildLogGetString(bl, &got, log);
        if (need > logsz)
            log[logsz - 1] = '\0';
        zeModuleBuildLogDestroy(bl);
    }
    for (char *ch = log; *ch; ch++)   /* one line, so it can sit in a TAP test name */
        if (*ch == '\n' && ch[1])
            *ch = ' ';
    return r;
}

/* Runs spec_fill from spec.spvasm with the given constants; returns its outputs. */
static ze_result_t run_spec(struct hdt *t, const ze_module_constants_t *c, uint32_t *u, float *f, char *log,
                            size_t logsz)
{
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPEC_SPV, &len);
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = len, .pInputModule = spv, .pConstants = c };
    ze_module_handle_t m = NULL;
    ze_module_build_log_handle_t bl = NULL;
    ze_result_t r = zeModuleCreate(t->ctx, t->dev, &md, &m, &bl);
    free(spv);
    size_t n = logsz;
    log[0] = '\0';
    if (bl) {
        zeModuleBuildLogGetString(bl, &n, log);
        zeModuleBuildLogDestroy(bl);
    }
    if (r != ZE_RESULT_SUCCESS)
        return r;
    ze_kernel_handle_t k = hdt_kernel(m, "spec_fill");
    ze_device_mem_alloc_desc_t dd = { .stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC };
    ze_host_mem_alloc_desc_t hd = { .stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC };
    uint32_t *ou;
    float *of;
    ZE_CHECK(zeMemAllocShared(t->ctx, &dd, &hd, 4 * sizeof *ou, 0, t->dev, (void **)&ou));
    ZE_CHECK(zeMemAllocShared(t->ctx, &dd, &hd, 4 * sizeof *of, 0, t->dev, (void **)&of));
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof ou, &ou));
    ZE_CHECK(zeKernelSetArgumentValue(k, 1, sizeof of, &of));
    ze_command_queue_desc_t qd = { .stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                   .mode = ZE_COMMAND_QUEUE_MODE_SYNCHRONOUS };
    ze_command_list_handle_t l;
    ZE_CHECK(zeCommandListCreateImmediate(t->ctx, t->dev, &qd, &l));
    ze_group_count_t gc = { 4, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(l, k, &gc, NULL, 0, NULL));
    *u = ou[3];
    *f = of[3];
    ZE_CHECK(zeCommandListDestroy(l));
    ZE_CHECK(zeMemFree(t->ctx, ou));
    ZE_CHECK(zeMemFree(t->ctx, of));
    ZE_CHECK(zeKernelDestroy(k));
    ZE_CHECK(zeModuleDestroy(m));
    return ZE_RESULT_SUCCESS;
}

static void test_spec_constants(struct hdt *t)
{
    char log[2048];
    uint32_t u = 0;
    float f = 0;
    ZE_OK(run_spec(t, NULL, &u, &f, log, sizeof log), "spec module with default constants: %s", log);
    TAP_OK(u == 7 && f == 2.5f, "defaults 7 and 2.5 (got %u, %g)", u, (double)f);
    uint32_t ids[2] = { 3, 5 };
    uint32_t uv = 4000000000u;
    float fv = -1.25f;
    const void *vals[2] = { &uv, &fv };
    ze_module_constants_t c = { 2, ids, vals };
    ZE_OK(run_spec(t, &c, &u, &f, log, sizeof log), "spec module with constants set: %s", log);
    TAP_OK(u == 4000000000u && f == -1.25f, "specialized to 4000000000 and -1.25 (got %u, %g)", u, (double)f);
    uint32_t bad_ids[1] = { 9 };
    ze_module_constants_t bad = { 1, bad_ids, vals };
    TAP_EQ_INT(run_spec(t, &bad, &u, &f, log, sizeof log), ZE_RESULT_ERROR_MODULE_BUILD_FAILURE,
               "unknown specialization constant id fails the build");
    TAP_OK(strstr(log, "specialization constant id 9") != NULL, "log names the id: %s", log);
}

/* The test SPIR-V with its id bound raised by `bump`: a distinct module (for the
 * caches) with the same kernels. */
static uint32_t *bumped(const uint8_t *spv, size_t len, uint32_t bump)
{
    uint32_t *copy = malloc(len);
    memcpy(copy, spv, len);
    copy[3] += bump;
    return copy;
}

/* Child process for the disk cache test: builds bumped(bump) and exits 0 on success. */
static int disk_child(uint32_t bump)
{
    struct hdt t;
    hdt_init(&t, 0, 0);
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPV, &len);
    uint32_t *copy = bumped(spv, len, bump);
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = ZE_MODULE_FORMAT_IL_SPIRV,
                            .inputSize = len, .pInputModule = (const uint8_t *)copy };
    ze_module_handle_t m = NULL;
    ze_result_t r = zeModuleCreate(t.ctx, t.dev, &md, &m, NULL);
    if (m)
        zeModuleDestroy(m);
    free(copy);
    free(spv);
    hdt_fini(&t);
    return r == ZE_RESULT_SUCCESS ? 0 : 1;
}

/* Runs this program as a disk-cache child with a translator that always fails. */
static int run_child(uint32_t bump)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char arg[16];
        snprintf(arg, sizeof arg, "%u", bump);
        setenv("HOSTDEV_LLVM_SPIRV", "/bin/false", 1);
        execl("/proc/self/exe", "test_module", "--disk-child", arg, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".bin") != NULL;
    closedir(d);
    return n;
}

static void remove_tree(const char *sub)
{
    DIR *d = opendir(sub);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(sub);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--disk-child"))
        return disk_child((uint32_t)atoi(argv[2]));
    /* A private disk cache: runs must not see each other's translations. */
    char dir[] = "/tmp/hostdev-cache-XXXXXX";
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    setenv("HOSTDEV_CACHE_DIR", dir, 1);
    unsetenv("HOSTDEV_DISK_CACHE");   /* the disk cache is under test: on */
    struct hdt t;
    hdt_init(&t, 0, 0);
    size_t len;
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPV, &len);
    char log[8192];
    ze_module_handle_t m = NULL;
    ZE_OK(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, spv, len, &m, log, sizeof log), "build the test SPIR-V");
    TAP_OK(m != NULL, "module handle returned");

    uint32_t n = 0;
    ZE_OK(zeModuleGetKernelNames(m, &n, NULL), "kernel name count");
    TAP_EQ_INT(n, 9, "9 kernels in kernels.cl");
    const char *names[16];
    ZE_OK(zeModuleGetKernelNames(m, &n, names), "kernel names");
    int found = 0;
    for (uint32_t i = 0; i < n; i++)
        found += !strcmp(names[i], "vadd") || !strcmp(names[i], "group_sum") || !strcmp(names[i], "affine");
    TAP_EQ_INT(found, 3, "names include vadd, group_sum, affine");
    ze_module_properties_t mp = { .stype = ZE_STRUCTURE_TYPE_MODULE_PROPERTIES };
    ZE_OK(zeModuleGetProperties(m, &mp), "module properties");

    ze_kernel_desc_t kd = { .stype = ZE_STRUCTURE_TYPE_KERNEL_DESC, .pKernelName = "no_such_kernel" };
    ze_kernel_handle_t k = NULL;
    TAP_EQ_INT(zeKernelCreate(m, &kd, &k), ZE_RESULT_ERROR_INVALID_KERNEL_NAME, "unknown kernel name");
    TAP_EQ_INT(zeKernelCreate(NULL, &kd, &k), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "NULL module");
    kd.pKernelName = "group_sum";
    ZE_OK(zeKernelCreate(m, &kd, &k), "create group_sum");
    char name[64];
    size_t nlen = 0;
    ZE_OK(zeKernelGetName(k, &nlen, NULL), "kernel name size");
    TAP_EQ_INT(nlen, strlen("group_sum") + 1, "name size includes the terminator");
    ZE_OK(zeKernelGetName(k, &nlen, name), "kernel name");
    TAP_OK(!strcmp(name, "group_sum"), "kernel name '%s'", name);
    ze_kernel_properties_t kp = { .stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES };
    ZE_OK(zeKernelGetProperties(k, &kp), "kernel properties");
    TAP_EQ_INT(kp.numKernelArgs, 3, "group_sum has 3 arguments");
    ZE_OK(zeKernelDestroy(k), "destroy kernel");

    /* The same SPIR-V again: translated once, built again for the new module. */
    ze_module_handle_t m2 = NULL;
    ZE_OK(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, spv, len, &m2, log, sizeof log), "second module, same SPIR-V");
    ZE_OK(zeModuleDestroy(m2), "destroy second module");

    /* Native binaries are refused (zmoe's runtime falls back to SPIR-V on this). */
    TAP_EQ_INT(build(&t, ZE_MODULE_FORMAT_NATIVE, spv, len, &m2, log, sizeof log),
               ZE_RESULT_ERROR_INVALID_NATIVE_BINARY, "native format refused");
    TAP_OK(strstr(log, "native") != NULL, "log says why: %s", log);

    /* Invalid SPIR-V: right magic, broken body. */
    uint32_t bad[64];
    memcpy(bad, spv, 20);  /* header */
    for (int i = 5; i < 64; i++)
        bad[i] = 0xdeadbeefu;
    TAP_EQ_INT(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, bad, sizeof bad, &m2, log, sizeof log),
               ZE_RESULT_ERROR_MODULE_BUILD_FAILURE, "invalid SPIR-V fails the build");
    TAP_OK(strstr(log, "invalid SPIR-V") != NULL, "build log carries the validator's message: %s", log);
    TAP_OK(m2 == NULL, "no module on failure");
    TAP_EQ_INT(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, spv, len - 2, &m2, log, sizeof log),
               ZE_RESULT_ERROR_MODULE_BUILD_FAILURE, "size not a multiple of 4");
    TAP_OK(log[0] != '\0', "log for the truncated module: %s", log);

    /* A translator that fails: its output lands in the build log. A modified copy
     * of the SPIR-V (one more id in the bound) misses the in-memory cache. */
    setenv("HOSTDEV_LLVM_SPIRV", "/bin/false", 1);
    uint32_t *copy = malloc(len);
    memcpy(copy, spv, len);
    copy[3] += 1;
    TAP_EQ_INT(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, copy, len, &m2, log, sizeof log),
               ZE_RESULT_ERROR_MODULE_BUILD_FAILURE, "failing translator fails the build");
    TAP_OK(strstr(log, "/bin/false") != NULL && strstr(log, "failed") != NULL, "log names the translator: %s", log);
    unsetenv("HOSTDEV_LLVM_SPIRV");
    ZE_OK(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, copy, len, &m2, log, sizeof log),
          "the same module builds with the real translator");
    ZE_OK(zeModuleDestroy(m2), "destroy");
    free(copy);

    /* Disk cache: the translation above was stored; a new process whose
     * translator always fails still builds that module, but not a new one. */
    TAP_OK(count_entries(dir) >= 2, "translations stored in $HOSTDEV_CACHE_DIR (%d)",
           count_entries(dir));
    TAP_EQ_INT(run_child(1), 0, "another process builds the cached module without the translator");
    TAP_EQ_INT(run_child(7), 1, "and cannot build an uncached one (the translator really fails there)");
    setenv("HOSTDEV_DISK_CACHE", "0", 1);
    int before = count_entries(dir);
    uint32_t *copy9 = bumped(spv, len, 9);
    ZE_OK(build(&t, ZE_MODULE_FORMAT_IL_SPIRV, copy9, len, &m2, log, sizeof log), "build with the disk cache off");
    ZE_OK(zeModuleDestroy(m2), "destroy");
    TAP_EQ_INT(count_entries(dir), before, "HOSTDEV_DISK_CACHE=0 stores nothing");
    free(copy9);
    unsetenv("HOSTDEV_DISK_CACHE");

    test_spec_constants(&t);

    ZE_OK(zeModuleDestroy(m), "destroy module");
    TAP_EQ_INT(zeModuleDestroy(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "destroy NULL module");
    free(spv);
    hdt_fini(&t);
    remove_tree(dir);
    return tap_exit();
}
