/* report.c — the linker-map style text report, the JSON report and the expected-size
 * regression check. Reports walk the plan in (memory, offset, index) order by repeated
 * selection, so they need no scratch storage either. */
#include "arena/arena_priv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Key order of the map: memory, then offset, then index. */
static bool key_less(const struct zmoe_plan *plan, uint32_t a, uint32_t b)
{
    const struct zmoe_buffer *x = &plan->buffers[a], *y = &plan->buffers[b];
    if (x->memory != y->memory)
        return x->memory < y->memory;
    if (x->offset != y->offset)
        return x->offset < y->offset;
    return a < b;
}

/* The buffer following `prev` in map order (UINT32_MAX = start), or UINT32_MAX. */
static uint32_t next_in_map(const struct zmoe_plan *plan, uint32_t prev)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < plan->count; i++) {
        if (prev != UINT32_MAX && !key_less(plan, prev, i))
            continue;
        if (best == UINT32_MAX || key_less(plan, i, best))
            best = i;
    }
    return best;
}

static const char *lifetime_str(const struct zmoe_buffer *b, char *buf, size_t len)
{
    if (arena_lifetime_is_always(b))
        snprintf(buf, len, "always");
    else if (b->last_stage == ZMOE_STAGE_ALWAYS_LAST)
        snprintf(buf, len, "[%u..end]", b->first_stage);
    else
        snprintf(buf, len, "[%u..%u]", b->first_stage, b->last_stage);
    return buf;
}

struct totals {
    uint32_t count[ZMOE_MEMORY_COUNT];
    uint64_t requested[ZMOE_MEMORY_COUNT];
    uint32_t cat_count[ZMOE_MEMORY_COUNT][ZMOE_CATEGORY_COUNT];
    uint64_t cat_bytes[ZMOE_MEMORY_COUNT][ZMOE_CATEGORY_COUNT];
};

/* Sums saturate: a report must print something even for absurd plans, and the
 * planner already refused anything that does not fit in 64 bits per block. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return arena_add_u64(a, b, &r) ? r : UINT64_MAX;
}

static void compute_totals(const struct zmoe_plan *plan, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < plan->count; i++) {
        const struct zmoe_buffer *b = &plan->buffers[i];
        if ((unsigned)b->memory >= ZMOE_MEMORY_COUNT || (unsigned)b->category >= ZMOE_CATEGORY_COUNT)
            continue;
        t->count[b->memory]++;
        t->requested[b->memory] = sat_add(t->requested[b->memory], b->size);
        t->cat_count[b->memory][b->category]++;
        t->cat_bytes[b->memory][b->category] = sat_add(t->cat_bytes[b->memory][b->category], b->size);
    }
}

/* Names are printed as-is except control characters, which would break the columns. */
static void put_name_text(const char *name, FILE *out)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

void zmoe_plan_report_text(const struct zmoe_plan *plan, FILE *out)
{
    if (!plan || !out)
        return;
    const bool solved = plan->phase >= ZMOE_PHASE_PLANNED;
    char h[32], h2[32], h3[32], life[32];
    fprintf(out, "zmoe arena map: %u buffers, plan %s\n", plan->count, zmoe_phase_name(plan->phase));
    fprintf(out, "%-12s  %-18s  %-24s  %-18s  %-15s  %-10s  %s\n", "memory", "offset", "size",
            "end", "lifetime", "category", "name");
    for (uint32_t i = next_in_map(plan, UINT32_MAX); i != UINT32_MAX; i = next_in_map(plan, i)) {
        const struct zmoe_buffer *b = &plan->buffers[i];
        char sz[40];
        snprintf(sz, sizeof sz, "%llu (%s)", (unsigned long long)b->size,
                 zmoe_size_human(b->size, h, sizeof h));
        if (solved)
            fprintf(out, "%-12s  0x%016llx  %-24s  0x%016llx  %-15s  %-10s  ",
                    zmoe_memory_name(b->memory), (unsigned long long)b->offset, sz,
                    (unsigned long long)sat_add(b->offset, b->size),
                    lifetime_str(b, life, sizeof life), zmoe_category_name(b->category));
        else
            fprintf(out, "%-12s  %-18s  %-24s  %-18s  %-15s  %-10s  ", zmoe_memory_name(b->memory),
                    "-", sz, "-", lifetime_str(b, life, sizeof life),
                    zmoe_category_name(b->category));
        put_name_text(b->name, out);
        fputc('\n', out);
    }

    struct totals t;
    compute_totals(plan, &t);
    fprintf(out, "\ntotals by memory:\n");
    fprintf(out, "  %-12s  %7s  %-26s  %-26s  %-26s  %s\n", "memory", "buffers",
            "requested (no reuse)", "lower bound", "plan size", "overhead over lower bound");
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        char req[48], lb[48], ps[48];
        snprintf(req, sizeof req, "%llu (%s)", (unsigned long long)t.requested[m],
                 zmoe_size_human(t.requested[m], h, sizeof h));
        snprintf(lb, sizeof lb, "%llu (%s)", (unsigned long long)plan->lower_bound[m],
                 zmoe_size_human(plan->lower_bound[m], h2, sizeof h2));
        snprintf(ps, sizeof ps, "%llu (%s)", (unsigned long long)plan->size[m],
                 zmoe_size_human(plan->size[m], h3, sizeof h3));
        fprintf(out, "  %-12s  %7u  %-26s  %-26s  %-26s  %.3f %%\n",
                zmoe_memory_name((enum zmoe_memory)m), t.count[m], req, lb, ps,
                zmoe_plan_overhead_percent(plan, (enum zmoe_memory)m));
    }
    fprintf(out, "\ntotals by category:\n");
    fprintf(out, "  %-12s  %-10s  %7s  %s\n", "memory", "category", "buffers", "bytes");
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        for (int c = 0; c < ZMOE_CATEGORY_COUNT; c++) {
            if (!t.cat_count[m][c])
                continue;
            fprintf(out, "  %-12s  %-10s  %7u  %llu (%s)\n", zmoe_memory_name((enum zmoe_memory)m),
                    zmoe_category_name((enum zmoe_category)c), t.cat_count[m][c],
                    (unsigned long long)t.cat_bytes[m][c],
                    zmoe_size_human(t.cat_bytes[m][c], h, sizeof h));
        }
    if (!solved)
        fprintf(out, "\n(plan not solved: offsets, lower bounds and sizes are not known yet)\n");
}

static void put_json_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void zmoe_plan_report_json(const struct zmoe_plan *plan, FILE *out)
{
    if (!plan || !out)
        return;
    const bool solved = plan->phase >= ZMOE_PHASE_PLANNED;
    char life[32];
    fprintf(out, "{\n  \"phase\": \"%s\",\n  \"solved\": %s,\n  \"buffer_count\": %u,\n"
                 "  \"buffers\": [",
            zmoe_phase_name(plan->phase), solved ? "true" : "false", plan->count);
    bool first = true;
    for (uint32_t i = next_in_map(plan, UINT32_MAX); i != UINT32_MAX; i = next_in_map(plan, i)) {
        const struct zmoe_buffer *b = &plan->buffers[i];
        fprintf(out, "%s\n    {\"index\": %u, \"name\": ", first ? "" : ",", i);
        put_json_string(b->name, out);
        fprintf(out, ", \"memory\": \"%s\", \"category\": \"%s\", \"offset\": %llu, "
                     "\"size\": %llu, \"end\": %llu, \"align\": %u, \"first_stage\": %u, "
                     "\"last_stage\": %u, \"lifetime\": \"%s\"}",
                zmoe_memory_name(b->memory), zmoe_category_name(b->category),
                (unsigned long long)b->offset, (unsigned long long)b->size,
                (unsigned long long)sat_add(b->offset, b->size), b->align, b->first_stage,
                b->last_stage, lifetime_str(b, life, sizeof life));
        first = false;
    }
    fprintf(out, "%s],\n", first ? "" : "\n  ");

    struct totals t;
    compute_totals(plan, &t);
    fprintf(out, "  \"memories\": [");
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        fprintf(out, "%s\n    {\"memory\": \"%s\", \"buffers\": %u, \"requested\": %llu, "
                     "\"lower_bound\": %llu, \"size\": %llu, \"overhead_percent\": %.6f}",
                m ? "," : "", zmoe_memory_name((enum zmoe_memory)m), t.count[m],
                (unsigned long long)t.requested[m], (unsigned long long)plan->lower_bound[m],
                (unsigned long long)plan->size[m],
                zmoe_plan_overhead_percent(plan, (enum zmoe_memory)m));
    fprintf(out, "\n  ],\n  \"categories\": [");
    first = true;
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        for (int c = 0; c < ZMOE_CATEGORY_COUNT; c++) {
            if (!t.cat_count[m][c])
                continue;
            fprintf(out, "%s\n    {\"memory\": \"%s\", \"category\": \"%s\", \"buffers\": %u, "
                         "\"bytes\": %llu}",
                    first ? "" : ",", zmoe_memory_name((enum zmoe_memory)m),
                    zmoe_category_name((enum zmoe_category)c), t.cat_count[m][c],
                    (unsigned long long)t.cat_bytes[m][c]);
            first = false;
        }
    fprintf(out, "%s]\n}\n", first ? "" : "\n  ");
}

/* ------------------------------------------------------------ expected sizes */

void zmoe_plan_write_expected(const struct zmoe_plan *plan, FILE *out)
{
    if (!plan || !out)
        return;
    fprintf(out, "# zmoe arena plan sizes in bytes, one \"<memory> <bytes>\" per line.\n"
                 "# The regression check fails when a plan grows more than 3%% over these.\n");
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        fprintf(out, "%s %llu\n", zmoe_memory_name((enum zmoe_memory)m),
                (unsigned long long)plan->size[m]);
}

static bool memory_by_name(const char *s, size_t n, enum zmoe_memory *out)
{
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        const char *name = zmoe_memory_name((enum zmoe_memory)m);
        if (strlen(name) == n && memcmp(name, s, n) == 0) {
            *out = (enum zmoe_memory)m;
            return true;
        }
    }
    return false;
}

enum zmoe_status zmoe_plan_compare_expected(const struct zmoe_plan *plan, const char *text,
                                            size_t len, const char *name, double tolerance,
                                            struct zmoe_error *err)
{
    if (!name)
        name = "(expected)";
    if (!plan || (!text && len)) {
        arena_errorf(err, "zmoe_plan_compare_expected: plan or text is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    if (!(tolerance >= 0.0 && tolerance < 1.0)) {
        arena_errorf(err, "zmoe_plan_compare_expected: tolerance %g is not in [0, 1)", tolerance);
        return ZMOE_ERR_ARGUMENT;
    }
    if (plan->phase < ZMOE_PHASE_PLANNED) {
        arena_errorf(err, "zmoe_plan_compare_expected: plan is %s; solve it first",
                     zmoe_phase_name(plan->phase));
        return ZMOE_ERR_STATE;
    }
    uint64_t expected[ZMOE_MEMORY_COUNT] = {0};
    bool seen[ZMOE_MEMORY_COUNT] = {false};
    size_t pos = 0;
    unsigned line_no = 0;
    while (pos < len) {
        size_t start = pos;
        while (pos < len && text[pos] != '\n')
            pos++;
        size_t end = pos;
        if (pos < len)
            pos++; /* the newline */
        line_no++;
        /* Strip a comment and surrounding blanks; split "<key> <value>". */
        for (size_t k = start; k < end; k++)
            if (text[k] == '#') {
                end = k;
                break;
            }
        while (start < end && isspace((unsigned char)text[start]))
            start++;
        while (end > start && isspace((unsigned char)text[end - 1]))
            end--;
        if (start == end)
            continue;
        size_t key_end = start;
        while (key_end < end && !isspace((unsigned char)text[key_end]))
            key_end++;
        size_t val = key_end;
        while (val < end && isspace((unsigned char)text[val]))
            val++;
        enum zmoe_memory m;
        if (!memory_by_name(text + start, key_end - start, &m)) {
            arena_errorf(err, "%s:%u: unknown memory '%.*s' (expected device or host_visible)",
                         name, line_no, (int)(key_end - start), text + start);
            return ZMOE_ERR_CONFIG;
        }
        if (seen[m]) {
            arena_errorf(err, "%s:%u: memory '%s' given twice", name, line_no, zmoe_memory_name(m));
            return ZMOE_ERR_CONFIG;
        }
        char num[32];
        size_t nlen = end - val;
        bool digits = nlen > 0 && nlen < sizeof num;
        for (size_t k = val; digits && k < end; k++)
            digits = isdigit((unsigned char)text[k]);
        unsigned long long v = 0;
        if (digits) {
            memcpy(num, text + val, nlen);
            num[nlen] = '\0';
            errno = 0;
            v = strtoull(num, NULL, 10);
            digits = errno == 0;
        }
        if (!digits) {
            arena_errorf(err, "%s:%u: memory '%s': '%.*s' is not a byte count", name, line_no,
                         zmoe_memory_name(m), (int)nlen, text + val);
            return ZMOE_ERR_CONFIG;
        }
        expected[m] = v;
        seen[m] = true;
    }
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++)
        if (!seen[m]) {
            arena_errorf(err, "%s: no line for memory '%s'", name,
                         zmoe_memory_name((enum zmoe_memory)m));
            return ZMOE_ERR_CONFIG;
        }
    arena_error_clear(err);
    char h1[32], h2[32];
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        double actual = (double)plan->size[m], want = (double)expected[m];
        if (actual > want * (1.0 + tolerance)) {
            double growth = want > 0 ? (actual - want) * 100.0 / want : INFINITY;
            arena_errorf(err, "%s: %s plan grew to %s (%llu bytes) from the expected %s "
                         "(%llu bytes): +%.2f%% > %.2f%% allowed; if intended, update the file",
                         name, zmoe_memory_name((enum zmoe_memory)m),
                         zmoe_size_human(plan->size[m], h1, sizeof h1),
                         (unsigned long long)plan->size[m],
                         zmoe_size_human(expected[m], h2, sizeof h2),
                         (unsigned long long)expected[m], growth, tolerance * 100.0);
            return ZMOE_ERR_BUDGET;
        }
    }
    for (int m = 0; m < ZMOE_MEMORY_COUNT; m++) {
        double actual = (double)plan->size[m], want = (double)expected[m];
        if (actual < want * (1.0 - tolerance)) {
            arena_errorf(err, "%s: note: %s plan shrank to %llu bytes from the expected %llu "
                         "(-%.2f%%); update the file to lock the gain in",
                         name, zmoe_memory_name((enum zmoe_memory)m),
                         (unsigned long long)plan->size[m], (unsigned long long)expected[m],
                         (want - actual) * 100.0 / want);
            break;
        }
    }
    return ZMOE_OK;
}

enum zmoe_status zmoe_plan_compare_expected_file(const struct zmoe_plan *plan, const char *path,
                                                 double tolerance, struct zmoe_error *err)
{
    if (!path) {
        arena_errorf(err, "zmoe_plan_compare_expected_file: path is NULL");
        return ZMOE_ERR_ARGUMENT;
    }
    /* A fixed buffer: an expected file is a few lines; a bigger one is a mistake. */
    char text[4096];
    FILE *f = fopen(path, "rb");
    if (!f) {
        arena_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return ZMOE_ERR_IO;
    }
    size_t n = fread(text, 1, sizeof text, f);
    bool read_error = ferror(f) != 0;
    bool too_big = n == sizeof text && fgetc(f) != EOF;
    fclose(f);
    if (read_error) {
        arena_errorf(err, "%s: read error", path);
        return ZMOE_ERR_IO;
    }
    if (too_big) {
        arena_errorf(err, "%s: larger than %zu bytes; not an expected-sizes file", path, sizeof text);
        return ZMOE_ERR_CONFIG;
    }
    return zmoe_plan_compare_expected(plan, text, n, path, tolerance, err);
}
