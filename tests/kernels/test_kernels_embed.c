/* The embedded kernel table: SPIR-V byte-identical to what ocloc produced, the AOT
 * archive holds one native binary per requested target, and the CPU module (the same
 * source with -DZMOE_CPU) is SPIR-V alone and not the GPU module's. */
#include "kernels/kernels.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Members of a System V ar archive: "!<arch>\n" then 60-byte headers. */
static int ar_member_count(const uint8_t *p, size_t n)
{
    if (n < 8 || memcmp(p, "!<arch>\n", 8) != 0)
        return -1;
    int count = 0;
    size_t off = 8;
    while (off + 60 <= n) {
        char size_field[11] = {0};
        memcpy(size_field, p + off + 48, 10);
        size_t size = strtoull(size_field, NULL, 10);
        if (memcmp(p + off, "pad_", 4) != 0)
            count++;
        off += 60 + size + (size & 1);
    }
    return off == n ? count : -1;
}

int main(int argc, char **argv)
{
    static uint8_t spv[1 << 22];
    tap_plan(8);
    TAP_OK(argc == 3, "given the paths of the GPU and the CPU module's SPIR-V");
    const struct zmoe_kernel_module *m = &zmoe_kernel_modules[0];
    TAP_OK(zmoe_kernels_find(m->name) == m, "zmoe_kernels_find('%s')", m->name);
    TAP_OK(zmoe_kernels_find("no-such-module") == NULL, "unknown module name gives NULL");
    size_t n = argc == 3 ? read_file(argv[1], spv, sizeof spv) : 0;
    TAP_OK(n > 0 && n == m->spirv_size && memcmp(spv, m->spirv, n) == 0,
           "embedded SPIR-V of '%s' is byte-identical to ocloc's output (%zu bytes)", m->name, n);

    const char *devices = getenv("ZMOE_AOT_DEVICES");
    int want = 0;
    if (devices && *devices) {
        want = 1;
        for (const char *p = devices; *p; p++)
            want += *p == ',';
    }
    int got = m->native ? ar_member_count(m->native, m->native_size) : 0;
    TAP_EQ_INT(got, want, "AOT archive holds one binary per target of '%s'",
               devices ? devices : "");

    const struct zmoe_kernel_module *cpu = zmoe_kernels_find("moe_cpu");
    n = cpu && argc == 3 ? read_file(argv[2], spv, sizeof spv) : 0;
    TAP_OK(n > 0 && n == cpu->spirv_size && memcmp(spv, cpu->spirv, n) == 0,
           "embedded SPIR-V of 'moe_cpu' is byte-identical to ocloc's output (%zu bytes)", n);
    TAP_OK(cpu && !cpu->native && cpu->native_size == 0, "'moe_cpu' has no AOT archive");
    TAP_OK(cpu && (cpu->spirv_size != m->spirv_size || memcmp(cpu->spirv, m->spirv, m->spirv_size) != 0),
           "'moe_cpu' is another build than '%s' (-DZMOE_CPU)", m->name);
    return tap_exit();
}
