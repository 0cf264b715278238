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

    test_spec_constants(&t);

    ZE_OK(zeModuleDestroy(m), "destroy module");
    TAP_EQ_INT(zeModuleDestroy(NULL), ZE_RESULT_ERROR_INVALID_NULL_HANDLE, "destroy NULL module");
    free(spv);
    hdt_fini(&t);
    return tap_exit();
}
