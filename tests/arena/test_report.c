/* test_report.c — the map report (every buffer present, columns, totals), the JSON
 * report (parsed with jsmn, names round-trip through escaping, totals match the plan)
 * and the expected-size regression helper. */
#include "arena/arena.h"
#include "tests/tap.h"
#include "moe_plans.h"

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct zmoe_buffer storage[1024];

/* Report text into a malloc'd string (the test may allocate; the module may not). */
static char *capture(const struct zmoe_plan *p, bool json, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        tap_bail("open_memstream");
    if (json)
        zmoe_plan_report_json(p, f);
    else
        zmoe_plan_report_text(p, f);
    fclose(f);
    return buf;
}

static void build_plan(struct zmoe_plan *p)
{
    static const struct moe_geometry g = {"small", 64, 96, 8, 2, 3, 32, true, 2};
    zmoe_plan_init(p, storage, sizeof storage / sizeof storage[0]);
    if (!moe_build_plan(p, &g, 4, 2, true))
        tap_bail("build plan");
    /* Names that need escaping in JSON and sanitizing in text. */
    struct zmoe_error err;
    if (zmoe_plan_add(p, "odd\"quote\\back", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 100,
                      64, 1, 2, NULL, &err) ||
        zmoe_plan_add(p, "tab\there\nnl", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_PARAM, 8, 8, 0,
                      0, NULL, &err) ||
        zmoe_plan_add(p, "tail", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 16, 64, 3,
                      ZMOE_STAGE_ALWAYS_LAST, NULL, &err))
        tap_bail("add: %s", err.msg);
}

static void test_text(void)
{
    struct zmoe_plan p;
    struct zmoe_error err;
    build_plan(&p);
    size_t len;
    char *unsolved = capture(&p, false, &len);
    TAP_OK(strstr(unsolved, "not solved") != NULL, "text: an unsolved plan says so");
    free(unsolved);
    if (zmoe_plan_solve(&p, &err))
        tap_bail("solve: %s", err.msg);
    char *text = capture(&p, false, &len);
    fputs("# --- map report ---\n", stdout);
    tap_diag("%s", text);
    TAP_OK(strstr(text, "memory") && strstr(text, "offset") && strstr(text, "lifetime") &&
               strstr(text, "category") && strstr(text, "name"),
           "text: column header");
    uint32_t missing = 0, lines = 0;
    for (uint32_t i = 0; i < p.count; i++) {
        const struct zmoe_buffer *b = &p.buffers[i];
        char shown[ZMOE_BUFFER_NAME_MAX], want[160], life[32];
        size_t k = 0;
        for (; b->name[k]; k++)
            shown[k] = (unsigned char)b->name[k] < 0x20 ? '?' : b->name[k];
        shown[k] = '\0';
        if (b->first_stage == 0 && b->last_stage == ZMOE_STAGE_ALWAYS_LAST)
            snprintf(life, sizeof life, "always");
        else if (b->last_stage == ZMOE_STAGE_ALWAYS_LAST)
            snprintf(life, sizeof life, "[%u..end]", b->first_stage);
        else
            snprintf(life, sizeof life, "[%u..%u]", b->first_stage, b->last_stage);
        /* The row: memory, hex offset, exact size, hex end, lifetime, category, name. */
        snprintf(want, sizeof want, "0x%016" PRIx64 "  %" PRIu64 " (", b->offset, b->size);
        const char *row = text;
        bool found = false;
        while ((row = strstr(row, want)) != NULL) {
            const char *eol = strchr(row, '\n');
            size_t n = eol ? (size_t)(eol - row) : strlen(row);
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)n, row);
            char end_hex[32];
            snprintf(end_hex, sizeof end_hex, "0x%016" PRIx64, b->offset + b->size);
            char tail[ZMOE_BUFFER_NAME_MAX + 2];
            snprintf(tail, sizeof tail, "  %s", shown);
            size_t tl = strlen(tail);
            if (strstr(line, end_hex) && strstr(line, life) &&
                strstr(line, zmoe_category_name(b->category)) && n >= tl &&
                strcmp(line + n - tl, tail) == 0) {
                found = true;
                break;
            }
            row += 1;
        }
        if (!found) {
            missing++;
            tap_diag("no row for %s (offset 0x%" PRIx64 ")", shown, b->offset);
        }
    }
    for (const char *c = text; (c = strstr(c, "\n0x")) != NULL; c++)
        lines++;
    TAP_EQ_INT(missing, 0, "text: a complete row for every one of the %u buffers", p.count);
    TAP_OK(strstr(text, "odd\"quote\\back") && strstr(text, "tab?here?nl"),
           "text: names printed, control characters replaced");
    char want[128];
    snprintf(want, sizeof want, "%" PRIu64 " (", p.lower_bound[ZMOE_MEMORY_DEVICE]);
    TAP_OK(strstr(text, "totals by memory") && strstr(text, want), "text: device lower bound");
    snprintf(want, sizeof want, "%" PRIu64 " (", p.size[ZMOE_MEMORY_DEVICE]);
    TAP_OK(strstr(text, want) != NULL, "text: device plan size");
    snprintf(want, sizeof want, "%.3f %%", zmoe_plan_overhead_percent(&p, ZMOE_MEMORY_DEVICE));
    TAP_OK(strstr(text, want) != NULL, "text: overhead %s", want);
    TAP_OK(strstr(text, "totals by category") && strstr(text, "weight") && strstr(text, "staging"),
           "text: category totals");
    TAP_OK(strstr(text, "[3..end]") && strstr(text, "always") && strstr(text, "[2..3]"),
           "text: lifetimes 'always', '[a..b]' and '[a..end]'");
    free(text);
}

/* ---- JSON walking over jsmn tokens ---- */

static const char *js;
static jsmntok_t toks[8192];

/* Index of the token after the subtree rooted at t. */
static int skip(int t)
{
    int n = toks[t].size, i = t + 1;
    if (toks[t].type == JSMN_OBJECT)
        for (int k = 0; k < n; k++)
            i = skip(skip(i)); /* key, value */
    else if (toks[t].type == JSMN_ARRAY)
        for (int k = 0; k < n; k++)
            i = skip(i);
    return i;
}

static bool tok_is(int t, const char *s)
{
    size_t n = (size_t)(toks[t].end - toks[t].start);
    return toks[t].type == JSMN_STRING && strlen(s) == n && memcmp(js + toks[t].start, s, n) == 0;
}

/* Value token of key in object t, or -1. */
static int member(int t, const char *key)
{
    if (toks[t].type != JSMN_OBJECT)
        return -1;
    int i = t + 1;
    for (int k = 0; k < toks[t].size; k++) {
        if (tok_is(i, key))
            return i + 1;
        i = skip(i + 1);
    }
    return -1;
}

static uint64_t tok_u64(int t)
{
    if (t < 0 || toks[t].type != JSMN_PRIMITIVE)
        return UINT64_MAX;
    return strtoull(js + toks[t].start, NULL, 10);
}

/* Decodes a JSON string token (the escapes the report emits) into out. */
static bool tok_string(int t, char *out, size_t cap)
{
    if (t < 0 || toks[t].type != JSMN_STRING)
        return false;
    size_t o = 0;
    for (int i = toks[t].start; i < toks[t].end && o + 1 < cap; i++) {
        char c = js[i];
        if ((unsigned char)c < 0x20)
            return false; /* raw control characters are invalid JSON */
        if (c == '\\') {
            c = js[++i];
            if (c == 'u') {
                char hex[5] = {0};
                memcpy(hex, js + i + 1, 4);
                c = (char)strtol(hex, NULL, 16);
                i += 4;
            } else if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static void test_json(void)
{
    struct zmoe_plan p;
    struct zmoe_error err;
    build_plan(&p);
    if (zmoe_plan_solve(&p, &err))
        tap_bail("solve: %s", err.msg);
    size_t len;
    char *text = capture(&p, true, &len);
    js = text;
    jsmn_parser parser;
    jsmn_init(&parser);
    int n = jsmn_parse(&parser, text, len, toks, sizeof toks / sizeof toks[0]);
    if (!TAP_OK(n > 0 && toks[0].type == JSMN_OBJECT, "json: parses (strict jsmn), %d tokens", n))
        tap_bail("JSON did not parse: %d\n%s", n, text);
    TAP_EQ_INT(skip(0), n, "json: one top-level object holds every token");
    size_t rest = (size_t)toks[0].end;
    while (rest < len && (text[rest] == '\n' || text[rest] == ' '))
        rest++;
    TAP_EQ_INT(rest, len, "json: nothing after the object");

    int buffers = member(0, "buffers");
    TAP_OK(buffers > 0 && toks[buffers].type == JSMN_ARRAY && toks[buffers].size == (int)p.count,
           "json: %u buffers", p.count);
    TAP_EQ_INT(tok_u64(member(0, "buffer_count")), p.count, "json: buffer_count");
    uint64_t requested[ZMOE_MEMORY_COUNT] = {0};
    uint32_t matched = 0;
    bool seen[1024] = {false};
    for (int k = 0, b = buffers + 1; k < toks[buffers].size; k++, b = skip(b)) {
        char name[ZMOE_BUFFER_NAME_MAX * 2], mem[32];
        uint64_t idx = tok_u64(member(b, "index"));
        if (!tok_string(member(b, "name"), name, sizeof name) ||
            !tok_string(member(b, "memory"), mem, sizeof mem) || idx >= p.count || seen[idx])
            continue;
        const struct zmoe_buffer *pb = &p.buffers[idx];
        if (strcmp(name, pb->name) == 0 && strcmp(mem, zmoe_memory_name(pb->memory)) == 0 &&
            tok_u64(member(b, "offset")) == pb->offset && tok_u64(member(b, "size")) == pb->size &&
            tok_u64(member(b, "end")) == pb->offset + pb->size &&
            tok_u64(member(b, "align")) == pb->align &&
            tok_u64(member(b, "first_stage")) == pb->first_stage &&
            tok_u64(member(b, "last_stage")) == pb->last_stage) {
            seen[idx] = true;
            matched++;
            requested[pb->memory] += tok_u64(member(b, "size"));
        }
    }
    TAP_EQ_INT(matched, p.count, "json: every buffer's fields match the plan (names unescaped)");

    int mems = member(0, "memories");
    uint32_t mem_ok = 0;
    for (int k = 0, m = mems + 1; mems > 0 && k < toks[mems].size; k++, m = skip(m)) {
        char name[32];
        tok_string(member(m, "memory"), name, sizeof name);
        for (int q = 0; q < ZMOE_MEMORY_COUNT; q++)
            if (strcmp(name, zmoe_memory_name((enum zmoe_memory)q)) == 0 &&
                tok_u64(member(m, "size")) == p.size[q] &&
                tok_u64(member(m, "lower_bound")) == p.lower_bound[q] &&
                tok_u64(member(m, "requested")) == requested[q])
                mem_ok++;
    }
    TAP_EQ_INT(mem_ok, ZMOE_MEMORY_COUNT, "json: per-memory size, lower bound, requested match");

    int cats = member(0, "categories");
    uint64_t cat_sum[ZMOE_MEMORY_COUNT] = {0};
    for (int k = 0, c = cats + 1; cats > 0 && k < toks[cats].size; k++, c = skip(c)) {
        char name[32];
        tok_string(member(c, "memory"), name, sizeof name);
        for (int q = 0; q < ZMOE_MEMORY_COUNT; q++)
            if (strcmp(name, zmoe_memory_name((enum zmoe_memory)q)) == 0)
                cat_sum[q] += tok_u64(member(c, "bytes"));
    }
    TAP_OK(cats > 0 && cat_sum[0] == requested[0] && cat_sum[1] == requested[1],
           "json: category totals add up to the per-memory totals");
    free(text);
}

/* ---- expected-size regression helper ---- */

static void test_expected(void)
{
    struct zmoe_buffer st[8];
    struct zmoe_plan p;
    struct zmoe_error err;
    zmoe_plan_init(&p, st, 8);
    zmoe_plan_add(&p, "w", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_WEIGHT, 1000000, 256, 0,
                  ZMOE_STAGE_ALWAYS_LAST, NULL, NULL);
    zmoe_plan_add(&p, "a", ZMOE_MEMORY_DEVICE, ZMOE_CATEGORY_ACTIVATION, 4096, 256, 0, 1, NULL, NULL);
    zmoe_plan_add(&p, "h", ZMOE_MEMORY_HOST_VISIBLE, ZMOE_CATEGORY_STAGING, 200000, 64, 0,
                  ZMOE_STAGE_ALWAYS_LAST, NULL, NULL);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, "device 1\nhost_visible 1\n", 24, "e", 0.03, &err),
               ZMOE_ERR_STATE, "expected: unsolved plan refused");
    if (zmoe_plan_solve(&p, &err))
        tap_bail("solve: %s", err.msg);
    const uint64_t dev = p.size[ZMOE_MEMORY_DEVICE], host = p.size[ZMOE_MEMORY_HOST_VISIBLE];
    char buf[512];
    size_t len;
    char *self = NULL;
    FILE *f = open_memstream(&self, &len);
    zmoe_plan_write_expected(&p, f);
    fclose(f);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, self, len, "self", 0.03, &err), ZMOE_OK,
               "expected: the plan's own expected file passes");
    TAP_OK(err.msg[0] == '\0', "expected: no note when equal");
    free(self);

    /* 2% growth: allowed. */
    int n = snprintf(buf, sizeof buf, "# comment\n\ndevice %" PRIu64 "  # trailing\nhost_visible %" PRIu64 "\n",
                     (uint64_t)((double)dev / 1.02), host);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, buf, (size_t)n, "two", 0.03, &err), ZMOE_OK,
               "expected: 2%% growth within 3%%");
    /* 4% growth on device: fails, naming memory and both sizes. */
    uint64_t exp_dev = (uint64_t)((double)dev / 1.04);
    n = snprintf(buf, sizeof buf, "device %" PRIu64 "\nhost_visible %" PRIu64 "\n", exp_dev, host);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, buf, (size_t)n, "four", 0.03, &err), ZMOE_ERR_BUDGET,
               "expected: 4%% device growth fails");
    char want[64];
    snprintf(want, sizeof want, "(%" PRIu64 " bytes) from the expected", dev);
    TAP_OK(strstr(err.msg, "device plan grew") && strstr(err.msg, want) && strstr(err.msg, "+4.0"),
           "expected: message: %s", err.msg);
    /* Host growth is checked too. */
    n = snprintf(buf, sizeof buf, "host_visible %" PRIu64 "\ndevice %" PRIu64 "\n", host / 2, dev);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, buf, (size_t)n, "host", 0.03, &err), ZMOE_ERR_BUDGET,
               "expected: host growth fails");
    TAP_OK(strstr(err.msg, "host_visible plan grew") != NULL, "expected: names host_visible");
    /* Zero expected and a real plan: infinite growth. */
    n = snprintf(buf, sizeof buf, "device 0\nhost_visible %" PRIu64 "\n", host);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, buf, (size_t)n, "zero", 0.03, &err), ZMOE_ERR_BUDGET,
               "expected: growth from 0 fails");
    /* Shrinking more than 3% passes with a note. */
    n = snprintf(buf, sizeof buf, "device %" PRIu64 "\nhost_visible %" PRIu64 "\n", dev * 2, host);
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, buf, (size_t)n, "shrink", 0.03, &err), ZMOE_OK,
               "expected: shrinking passes");
    TAP_OK(strstr(err.msg, "shrank") != NULL, "expected: with a note to update: %s", err.msg);

    static const struct {
        const char *text, *needle, *what;
    } bad[] = {
        {"device 1\n", "no line for memory 'host_visible'", "missing memory"},
        {"device 1\nhost_visible 2\ndevice 3\n", "bad:3: memory 'device' given twice", "duplicate"},
        {"gpu 1\n", "bad:1: unknown memory 'gpu'", "unknown memory"},
        {"device -1\nhost_visible 2\n", "bad:1:", "negative"},
        {"device 12x\nhost_visible 2\n", "not a byte count", "trailing junk"},
        {"device\nhost_visible 2\n", "not a byte count", "no value"},
        {"device 99999999999999999999999\nhost_visible 2\n", "not a byte count", "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum zmoe_status status =
            zmoe_plan_compare_expected(&p, bad[i].text, strlen(bad[i].text), "bad", 0.03, &err);
        if (!TAP_OK(status == ZMOE_ERR_CONFIG && strstr(err.msg, bad[i].needle),
                    "expected: malformed file (%s) refused", bad[i].what))
            tap_diag("status %d: %s", status, err.msg);
    }
    TAP_EQ_INT(zmoe_plan_compare_expected(&p, "", 0, "t", -0.1, &err), ZMOE_ERR_ARGUMENT,
               "expected: negative tolerance refused");

    /* File variant, as the integration test will use it. */
    char path[] = "/tmp/zmoe-arena-expected-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        tap_bail("mkstemp");
    n = snprintf(buf, sizeof buf, "device %" PRIu64 "\nhost_visible %" PRIu64 "\n", exp_dev, host);
    if (write(fd, buf, (size_t)n) != n)
        tap_bail("write");
    close(fd);
    TAP_EQ_INT(zmoe_plan_compare_expected_file(&p, path, ZMOE_EXPECTED_TOLERANCE, &err),
               ZMOE_ERR_BUDGET, "expected file: growth fails");
    TAP_OK(strstr(err.msg, path) != NULL, "expected file: message names the file");
    TAP_EQ_INT(zmoe_plan_compare_expected_file(&p, path, 0.05, &err), ZMOE_OK,
               "expected file: passes at 5%% tolerance");
    unlink(path);
    TAP_EQ_INT(zmoe_plan_compare_expected_file(&p, path, 0.03, &err), ZMOE_ERR_IO,
               "expected file: missing file is an I/O error");
}

int main(void)
{
    test_text();
    test_json();
    test_expected();
    return tap_exit();
}
