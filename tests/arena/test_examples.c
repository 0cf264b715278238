/* The runtime's plan of every example config against checked-in expected sizes, in the
 * manner of TensorFlow Lite Micro's arena threshold test: a change that grows an arena
 * by more than 3% fails here and shows up in review. Also, on each real plan: no two
 * buffers alive at the same time share a byte, and the overhead over the lower bound
 * (weights + peak live activations + per-slot buffers) is at most 2%.
 *   test_examples EXPECTED_DIR CONFIG...      (ZMOE_UPDATE_EXPECTED=1 rewrites the files) */
#include "arena/arena.h"
#include "runtime/runtime.h"
#include "tap.h"

#include <libgen.h>
#include <string.h>

static int check_example(const char *expected_dir, const char *path)
{
    struct zmoe_error err = { { 0 } };
    struct zmoe_config cfg;
    char base[ZMOE_PATH_MAX];
    snprintf(base, sizeof base, "%s", path);
    const char *name = basename(base);
    if (!TAP_OK(zmoe_config_load(path, &cfg, &err) == ZMOE_OK, "%s: config loads", name)) {
        tap_diag("%s", err.msg);
        return 1;
    }
    uint32_t cap = zmoe_runtime_max_buffers(&cfg);
    struct zmoe_buffer *storage = calloc(cap ? cap : 1, sizeof *storage);
    struct zmoe_runtime_buffers *ids = calloc(1, sizeof *ids);
    struct zmoe_plan plan;
    zmoe_plan_init(&plan, storage, cap);
    int failed = 0;
    if (!TAP_OK(zmoe_runtime_plan(&cfg, &plan, ids, &err) == ZMOE_OK, "%s: planned (%u buffers)",
                name, plan.count)) {
        tap_diag("%s", err.msg);
        failed = 1;
        goto out;
    }
    struct zmoe_error overlap = { { 0 } };
    failed |= !TAP_OK(!zmoe_plan_has_overlap(&plan, &overlap), "%s: no overlap %s", name, overlap.msg);
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        double over = zmoe_plan_overhead_percent(&plan, (enum zmoe_memory)m);
        failed |= !TAP_OK(over <= 2.0, "%s: %s overhead over lower bound %.4f%% <= 2%%", name,
                          zmoe_memory_name((enum zmoe_memory)m), over);
    }
    char expected[ZMOE_PATH_MAX + 64];
    snprintf(expected, sizeof expected, "%s/%.*s.expected", expected_dir,
             (int)(strlen(name) - strlen(".conf")), name);
    const char *update = getenv("ZMOE_UPDATE_EXPECTED");
    if (update && *update == '1') {
        FILE *f = fopen(expected, "w");
        if (f) {
            fprintf(f, "# zmoe_runtime_plan of config/examples/%s (regenerate: ZMOE_UPDATE_EXPECTED=1)\n", name);
            zmoe_plan_write_expected(&plan, f);
            fclose(f);
        }
        failed |= !TAP_OK(f != NULL, "%s: wrote %s", name, expected);
        goto out;
    }
    enum zmoe_status st = zmoe_plan_compare_expected_file(&plan, expected, ZMOE_EXPECTED_TOLERANCE, &err);
    failed |= !TAP_OK(st == ZMOE_OK, "%s: arena sizes within 3%% of %s", name, expected);
    if (err.msg[0])
        tap_diag("%s", err.msg);
out:
    free(ids);
    free(storage);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        tap_bail("usage: test_examples EXPECTED_DIR CONFIG...");
    for (int i = 2; i < argc; i++)
        check_example(argv[1], argv[i]);
    return tap_exit();
}
