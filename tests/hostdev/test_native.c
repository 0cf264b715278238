/* Module intake (issue 15, items 5 and 6):
 *  - a module the SPIR-V validator rejects but the translator accepts builds and
 *    runs; the validator's finding is in the build log;
 *  - zeModuleGetNativeBinary returns hostdev's own binary (size query, then the
 *    bytes), zeModuleCreate takes it back with ZE_MODULE_FORMAT_NATIVE without the
 *    translator and with the specialization it was made with; binaries of other
 *    drivers, truncated or altered ones are refused with INVALID_NATIVE_BINARY and a
 *    log line; a buffer smaller than the size is refused. */
#include "hd_test.h"

static ze_result_t create(struct hdt *t, ze_module_format_t fmt, const void *p, size_t n,
                          const ze_module_constants_t *c, ze_module_handle_t *m, char *log, size_t logsz)
{
    ze_module_desc_t md = { .stype = ZE_STRUCTURE_TYPE_MODULE_DESC, .format = fmt, .inputSize = n,
                            .pInputModule = p, .pConstants = c };
    ze_module_build_log_handle_t bl = NULL;
    *m = NULL;
    ze_result_t r = zeModuleCreate(t->ctx, t->dev, &md, m, &bl);
    log[0] = '\0';
    if (bl) {
        size_t got = logsz;
        zeModuleBuildLogGetString(bl, &got, log);
        zeModuleBuildLogDestroy(bl);
    }
    for (char *ch = log; *ch; ch++)   /* one line, so it can sit in a TAP test name */
        if (*ch == '\n')
            *ch = ' ';
    return r;
}

/* spec_fill of spec.spvasm (or its unvalidated copy): element 3 of both outputs. */
static void run_fill(struct hdt *t, ze_module_handle_t m, uint32_t *u, float *f)
{
    ze_kernel_handle_t k = hdt_kernel(m, "spec_fill");
    uint32_t *ou = hdt_shared(t, 16);
    float *of = hdt_shared(t, 16);
    ZE_CHECK(zeKernelSetArgumentValue(k, 0, sizeof ou, &ou));
    ZE_CHECK(zeKernelSetArgumentValue(k, 1, sizeof of, &of));
    ze_group_count_t gc = { 4, 1, 1 };
    ZE_CHECK(zeCommandListAppendLaunchKernel(t->list, k, &gc, NULL, 0, NULL));
    ZE_CHECK(hdt_run(t));
    *u = ou[3];
    *f = of[3];
    ZE_CHECK(zeMemFree(t->ctx, ou));
    ZE_CHECK(zeMemFree(t->ctx, of));
    ZE_CHECK(zeKernelDestroy(k));
}

static uint8_t *native_of(ze_module_handle_t m, size_t *n)
{
    *n = 0;
    if (zeModuleGetNativeBinary(m, n, NULL) != ZE_RESULT_SUCCESS || *n == 0)
        return NULL;
    uint8_t *b = malloc(*n);
    size_t got = *n;
    if (!b || zeModuleGetNativeBinary(m, &got, b) != ZE_RESULT_SUCCESS || got != *n) {
        free(b);
        return NULL;
    }
    return b;
}

int main(void)
{
    struct hdt t;
    hdt_init(&t, 1, 0);
    char log[8192];
    size_t len;
    uint32_t u = 0;
    float f = 0;
    ze_module_handle_t m = NULL, m2 = NULL;

    /* 5: validation findings are reported, not enforced. */
    uint8_t *inv = hdt_read_file(HOSTDEV_TEST_UNVALIDATED_SPV, &len);
    ZE_OK(create(&t, ZE_MODULE_FORMAT_IL_SPIRV, inv, len, NULL, &m, log, sizeof log),
          "a module spirv-val rejects (an undefined forward reference) builds");
    TAP_OK(strstr(log, "validator") && strstr(log, "ghost"), "the build log carries the validator's finding: %s", log);
    if (m) {
        run_fill(&t, m, &u, &f);
        TAP_OK(u == 7 && f == 2.5f, "and its kernel runs (got %u, %g)", u, (double)f);
        ZE_CHECK(zeModuleDestroy(m));
    }
    free(inv);
    /* What cannot be parsed is still refused. */
    uint32_t junk[32] = { 0x07230203u, 0x00010000u, 0, 100, 0 };
    for (int i = 5; i < 32; i++)
        junk[i] = 0xffff0000u | (uint32_t)i;
    TAP_EQ_INT(create(&t, ZE_MODULE_FORMAT_IL_SPIRV, junk, sizeof junk, NULL, &m, log, sizeof log),
               ZE_RESULT_ERROR_MODULE_BUILD_FAILURE, "a module that cannot be parsed is refused");
    TAP_OK(strstr(log, "invalid SPIR-V") != NULL, "with a log line: %s", log);
    TAP_OK(m == NULL, "and no module");

    /* 6: native binaries, made with specialization constants set. */
    uint8_t *spv = hdt_read_file(HOSTDEV_TEST_SPEC_SPV, &len);
    uint32_t id_u = 3, id_f = 5, vu = 123456u;
    float vf = -8.5f;
    uint32_t ids[] = { id_u, id_f };
    const void *vals[] = { &vu, &vf };
    ze_module_constants_t consts = { .numConstants = 2, .pConstantIds = ids, .pConstantValues = vals };
    ZE_CHECK(create(&t, ZE_MODULE_FORMAT_IL_SPIRV, spv, len, &consts, &m, log, sizeof log));
    size_t n = 0;
    ZE_OK(zeModuleGetNativeBinary(m, &n, NULL), "native binary size query");
    TAP_OK(n > len, "the native binary (%zu bytes) holds more than the SPIR-V (%zu)", n, len);
    uint8_t *nb = native_of(m, &n);
    TAP_OK(nb != NULL, "native binary read");
    size_t small = n - 1;
    uint8_t *tmp = malloc(n);
    TAP_EQ_INT(zeModuleGetNativeBinary(m, &small, tmp), ZE_RESULT_ERROR_INVALID_SIZE, "a smaller buffer is refused");
    TAP_EQ_INT(zeModuleGetNativeBinary(m, NULL, tmp), ZE_RESULT_ERROR_INVALID_NULL_POINTER, "NULL size");
    free(tmp);
    ZE_CHECK(zeModuleDestroy(m));

    /* Back in, with no translator at all and no constants: the specialization rides
     * in the binary. */
    setenv("HOSTDEV_LLVM_SPIRV", "/bin/false", 1);
    ZE_OK(create(&t, ZE_MODULE_FORMAT_NATIVE, nb, n, NULL, &m2, log, sizeof log),
          "the native binary is accepted with ZE_MODULE_FORMAT_NATIVE (translator disabled): %s", log);
    unsetenv("HOSTDEV_LLVM_SPIRV");
    if (m2) {
        uint32_t cnt = 0;
        ZE_OK(zeModuleGetKernelNames(m2, &cnt, NULL), "kernel names of the reloaded module");
        TAP_EQ_INT(cnt, 1, "one kernel");
        run_fill(&t, m2, &u, &f);
        TAP_OK(u == vu && f == vf, "it runs with the constants it was made with (got %u, %g)", u, (double)f);
        size_t n2 = 0;
        uint8_t *nb2 = native_of(m2, &n2);
        TAP_OK(nb2 && n2 == n && !memcmp(nb2, nb, n), "its own native binary is the same bytes");
        free(nb2);
        ZE_CHECK(zeModuleDestroy(m2));
    }
    /* Constants passed with a native binary are not applied again. */
    uint32_t other = 1;
    const void *ovals[] = { &other, &vf };
    ze_module_constants_t oc = { .numConstants = 2, .pConstantIds = ids, .pConstantValues = ovals };
    ZE_OK(create(&t, ZE_MODULE_FORMAT_NATIVE, nb, n, &oc, &m2, log, sizeof log), "native with constants");
    if (m2) {
        run_fill(&t, m2, &u, &f);
        TAP_EQ_INT(u, vu, "the binary's specialization stands");
        ZE_CHECK(zeModuleDestroy(m2));
    }

    /* Refused: another driver's binary (SPIR-V or an ELF passed as native), cut or altered. */
    TAP_EQ_INT(create(&t, ZE_MODULE_FORMAT_NATIVE, spv, len, NULL, &m2, log, sizeof log),
               ZE_RESULT_ERROR_INVALID_NATIVE_BINARY, "SPIR-V passed as native is refused");
    TAP_OK(strstr(log, "not a hostdev native binary") != NULL, "log says why: %s", log);
    static const uint8_t elf[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
    TAP_EQ_INT(create(&t, ZE_MODULE_FORMAT_NATIVE, elf, sizeof elf, NULL, &m2, log, sizeof log),
               ZE_RESULT_ERROR_INVALID_NATIVE_BINARY, "an ELF (a GPU driver's binary) is refused");
    TAP_EQ_INT(create(&t, ZE_MODULE_FORMAT_NATIVE, nb, 8, NULL, &m2, log, sizeof log),
               ZE_RESULT_ERROR_INVALID_NATIVE_BINARY, "a binary cut after the magic is refused");
    TAP_EQ_INT(create(&t, ZE_MODULE_FORMAT_NATIVE, nb, n - 1, NULL, &m2, log, sizeof log),
               ZE_RESULT_ERROR_INVALID_NATIVE_BINARY, "a binary missing its last byte is refused");
    TAP_OK(strstr(log, "truncated or corrupted") != NULL, "log says why: %s", log);
    int flips = 0;
    for (size_t at = 48; at < n; at += n / 7 + 1) {
        nb[at] ^= 0x40;
        flips += create(&t, ZE_MODULE_FORMAT_NATIVE, nb, n, NULL, &m2, log, sizeof log) ==
                 ZE_RESULT_ERROR_INVALID_NATIVE_BINARY;
        nb[at] ^= 0x40;
    }
    TAP_OK(flips >= 6, "binaries with one altered byte are refused (%d)", flips);
    TAP_OK(m2 == NULL, "no module from a refused binary");
    free(nb);
    free(spv);
    hdt_fini(&t);
    return tap_exit();
}
