/* Modules: build success and failure logs, native binaries refused, kernel names,
 * kernel creation errors and the translator's failure path. */
#include "hd_test.h"

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
    return r;
}

int main(void)
{
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
    TAP_EQ_INT(n, 8, "8 kernels in kernels.cl");
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

    ZE_OK(zeModuleDestroy(m), "destroy module");
    TAP_EQ_INT(zeModuleDestroy(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "destroy NULL module");
    free(spv);
    hdt_fini(&t);
    return tap_exit();
}
