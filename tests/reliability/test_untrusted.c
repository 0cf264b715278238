/* test_untrusted.c — hostile inputs through the public entry points, for the classes
 * tests/config and tests/weights do not already cover (see README.md):
 *   config text   zmoe_config_parse on a buffer that ends exactly at a PROT_NONE page
 *                 (no NUL, no newline: nothing past len is read); NULL/empty input;
 *                 20,000 deterministic mutations of a valid config (byte flips,
 *                 insertions of huge/negative/NaN numbers, long lines, binary
 *                 garbage): each parses or fails with ZMOE_ERR_CONFIG and a message that
 *                 is non-empty, NUL-terminated and free of raw control bytes.
 *   enormous but valid geometry  configs that validate (checked-64-bit sizes) but
 *                 cannot fit: zmoe_create fails cleanly (no crash, no huge host
 *                 allocation attempted, object balance 0) with hostdev's memory capped.
 *   safetensors   via zmoe_create + zmoe_load_weights with weights.file set: header
 *                 length 2^63 and UINT64_MAX, data_offsets near UINT64_MAX, reversed,
 *                 negative, beyond 2^64, shape × element size overflowing 64 bits while
 *                 the product does not, two tensors aliasing the same bytes, rank 9,
 *                 fractional/string dimensions, a directory, /dev/zero, and a FIFO
 *                 (must not block). Each: ZMOE_ERR_WEIGHTS or ZMOE_ERR_IO with a message
 *                 naming the file; object balance 0 after destroy. */
#include "rel.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static char tmpdir[256];

static const char *base_conf =
    "[model]\nhidden = 64\nintermediate = 32\nexperts = 8\ntop_k = 2\nlayers = 2\n"
    "[router]\nscoring = softmax\nrenormalize = true\nrouted_scaling_factor = 1.5\n"
    "[experts]\nactivation = silu\n"
    "[dtype]\nweights = f32\nactivations = f32\n"
    "[runtime]\nmax_tokens = 8\nring_depth = 2\ndevice = host\nwait_timeout_ms = 30000\n"
    "[budget]\ndevice_bytes = 64M\nhost_bytes = 0\n";

static bool message_clean(const struct zmoe_error *e)
{
    size_t n = strnlen(e->msg, sizeof e->msg);
    if (n == 0 || n == sizeof e->msg)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e->msg[i] < 0x20 && e->msg[i] != '\n')
            return false;
    return true;
}

/* ------------------------------------------------------------------ configs */

static void config_guard_page(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = strlen(base_conf);
    char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        tap_bail("mmap");
    if (mprotect(m + pg, (size_t)pg, PROT_NONE))
        tap_bail("mprotect");
    /* the text without its final newline ends at the last byte before the guard */
    size_t l = len - 1;
    char *t = m + pg - l;
    memcpy(t, base_conf, l);
    struct zmoe_config c;
    struct zmoe_error err = {{0}};
    enum zmoe_status st = zmoe_config_parse(t, l, "guard.conf", &c, &err);
    TAP_OK(st == ZMOE_OK, "config ending at a guard page, no NUL, no final newline: parses (%s)",
           err.msg);
    /* cut inside the last value: "30000" -> "3" is still valid, "wait_timeout_ms =" is not */
    const char *cut = strstr(base_conf, "host_bytes = ");
    size_t l2 = (size_t)(cut - base_conf) + strlen("host_bytes =");
    t = m + pg - l2;
    memcpy(t, base_conf, l2);
    st = zmoe_config_parse(t, l2, "cut.conf", &c, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && message_clean(&err) && strstr(err.msg, "cut.conf"),
           "config cut after '=' at a guard page: clean error (%s)", err.msg);
    munmap(m, (size_t)pg * 2);

    st = zmoe_config_parse(NULL, 10, "null.conf", &c, &err);
    TAP_OK(st == ZMOE_ERR_ARGUMENT || st == ZMOE_ERR_CONFIG,
           "NULL text with len 10: refused (%s: %s)", zmoe_status_str(st), err.msg);
    st = zmoe_config_parse("", 0, "empty.conf", &c, &err);
    TAP_OK(st == ZMOE_ERR_CONFIG && message_clean(&err), "empty text: ZMOE_ERR_CONFIG (%s)", err.msg);
    st = zmoe_config_parse(base_conf, strlen(base_conf), "out-null.conf", NULL, &err);
    TAP_OK(st == ZMOE_ERR_ARGUMENT, "NULL output config: ZMOE_ERR_ARGUMENT (%s)", zmoe_status_str(st));
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void config_mutations(void)
{
    static const char *const inserts[] = {
        "18446744073709551616", "-1", "-0", "nan", "NaN", "inf", "-inf", "1e309", "0x10",
        "4294967296", "4294967295", "99999999999999999999999999", "1e-50", "\xff\xfe",
        "\x00", "\r", "=", "[", "]", "[model]\n", "#", ";", "\"", "\\", "hidden = 4294967295\n",
        "experts = 4294967295\n", "layers = 4294967295\n", "max_tokens = 4294967295\n",
        "routed_scaling_factor = nan\n", "routed_scaling_factor = inf\n",
        "routed_scaling_factor = -1e38\n", "device_bytes = 18446744073709551615\n",
        "device_bytes = 16777216T\n"};
    const int N = 20000;
    int ok = 0, refused = 0, bad = 0;
    char buf[16384];
    const size_t blen = strlen(base_conf);
    for (int i = 0; i < N; i++) {
        memcpy(buf, base_conf, blen);
        size_t len = blen;
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = len ? (size_t)(next() % len) : 0;
            switch (next() % 5) {
            case 0: /* byte flip */
                if (len)
                    buf[pos] = (char)next();
                break;
            case 1: { /* insert a hostile token */
                const char *s = inserts[next() % (sizeof inserts / sizeof *inserts)];
                size_t sl = s[0] ? strlen(s) : 1;
                if (len + sl < sizeof buf) {
                    memmove(buf + pos + sl, buf + pos, len - pos);
                    memcpy(buf + pos, s, sl);
                    len += sl;
                }
                break;
            }
            case 2: { /* a long run of one byte (long lines, long keys) */
                size_t sl = 100 + (size_t)(next() % 6000);
                if (len + sl < sizeof buf) {
                    memmove(buf + pos + sl, buf + pos, len - pos);
                    memset(buf + pos, "a9 =\xff"[next() % 5], sl);
                    len += sl;
                }
                break;
            }
            case 3: /* truncate */
                len = pos;
                break;
            default: /* random garbage block */
                for (size_t k = 0; k < 16 && pos + k < len; k++)
                    buf[pos + k] = (char)next();
            }
        }
        struct zmoe_config c;
        struct zmoe_error err;
        memset(&err, 'X', sizeof err); /* a message must be written and terminated */
        enum zmoe_status st = zmoe_config_parse(buf, len, "mut.conf", &c, &err);
        if (st == ZMOE_OK) {
            ok++;
            struct zmoe_error e2 = {{0}};
            if (zmoe_config_validate(&c, &e2) != ZMOE_OK && !bad++)
                TAP_OK(0, "mutation %d parsed but does not validate: %s", i, e2.msg);
        } else if (st == ZMOE_ERR_CONFIG && message_clean(&err) && strstr(err.msg, "mut.conf")) {
            refused++;
        } else if (!bad++) {
            TAP_OK(0, "mutation %d: status %s, message '%.200s'", i, zmoe_status_str(st), err.msg);
        }
    }
    TAP_OK(bad == 0, "%d mutated configs: %d parse and validate, %d refused with a clean message "
                     "naming the file, %d bad", N, ok, refused, bad);
}

/* ---------------------------------------------------- enormous geometries */

static void enormous(void)
{
    setenv("HOSTDEV_DEVICE_MEMORY", "268435456", 1); /* 256 MiB */
    struct {
        const char *name;
        uint32_t hidden, inter, experts, top_k, layers, max_tokens;
    } cases[] = {
        {"H = I = 65536, E = 512, 1000 layers", 65536, 65536, 512, 8, 1000, 8},
        {"H = 2^31, E = 2", 1u << 31, 1, 2, 1, 1, 1},
        {"I = 2^31, E = 2", 64, 1u << 31, 2, 1, 1, 1},
        {"max_tokens = 2^31", 64, 32, 8, 2, 1, 1u << 31},
        {"E = 512, K = 512, max_tokens = 65536", 64, 32, 512, 512, 1, 65536},
        {"layers = 2^32-1", 64, 32, 8, 2, UINT32_MAX, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct zmoe_config c = rel_config();
        c.model.hidden = cases[i].hidden;
        c.model.intermediate = cases[i].inter;
        c.model.experts = cases[i].experts;
        c.model.top_k = cases[i].top_k;
        c.model.layers = cases[i].layers;
        c.runtime.max_tokens = cases[i].max_tokens;
        struct zmoe_error err = {{0}};
        enum zmoe_status vs = zmoe_config_validate(&c, &err);
        rel_trk_reset();
        struct zmoe_create_info info = {.config = &c};
        struct zmoe_runtime *rt = NULL;
        enum zmoe_status st = zmoe_create(&info, &rt, &err);
        if (!st)
            zmoe_destroy(rt);
        TAP_OK(st != ZMOE_OK && rt == NULL && message_clean(&err) && rel_trk_live_total() == 0,
               "%s (validate: %s): zmoe_create fails cleanly: %s: %.300s", cases[i].name,
               zmoe_status_str(vs), zmoe_status_str(st), err.msg);
        /* A config that validates is not a bad API argument: the caller must learn that
         * the geometry is too large, not that an internal size came out 0. */
        if (vs == ZMOE_OK)
            TAP_OK(st != ZMOE_ERR_ARGUMENT && !strstr(err.msg, "zmoe_host_block_init"),
                   "%s: the error is about the config, not an internal argument (%s)",
                   cases[i].name, zmoe_status_str(st));
    }
    unsetenv("HOSTDEV_DEVICE_MEMORY");
}

/* ------------------------------------------------------------ safetensors */

static const char *write_st(const char *stem, uint64_t hlen, const char *header, size_t data_bytes)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, stem);
    FILE *f = fopen(path, "wb");
    if (!f)
        tap_bail("fopen %s", path);
    unsigned char l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(l, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++)
        fputc(0, f);
    fclose(f);
    return path;
}

struct load_job {
    struct zmoe_config cfg;
    enum zmoe_status create_st, load_st;
    struct zmoe_error err;
    volatile int done;
};

static void *load_thread(void *arg)
{
    struct load_job *j = arg;
    struct zmoe_create_info info = {.config = &j->cfg};
    struct zmoe_runtime *rt = NULL;
    j->create_st = zmoe_create(&info, &rt, &j->err);
    j->load_st = j->create_st ? j->create_st : zmoe_load_weights(rt, &j->err);
    zmoe_destroy(rt);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static struct zmoe_config file_config(const char *path)
{
    struct zmoe_config c = rel_config();
    c.weights.seed = 1;
    c.weights.layout = ZMOE_LAYOUT_MIXTRAL;
    snprintf(c.weights.file, sizeof c.weights.file, "%s", path);
    return c;
}

static void expect_refused(const char *what, const char *path, const char *needle)
{
    struct load_job j;
    memset(&j, 0, sizeof j);
    j.cfg = file_config(path);
    rel_trk_reset();
    load_thread(&j);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    TAP_OK(j.create_st == ZMOE_OK &&
               (j.load_st == ZMOE_ERR_WEIGHTS || j.load_st == ZMOE_ERR_IO) &&
               message_clean(&j.err) && strstr(j.err.msg, base) &&
               (!needle || strstr(j.err.msg, needle)) && rel_trk_live_total() == 0,
           "%s: refused: %s: %s", what, zmoe_status_str(j.load_st), j.err.msg);
}

#define R "\"model.layers.0.block_sparse_moe.gate.weight\""

static void safetensors(void)
{
    char h[1024];
    const char *ok_hdr = "{" R ":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    expect_refused("header length 2^63", write_st("hlen63", 1ull << 63, ok_hdr, 16), "header length");
    expect_refused("header length UINT64_MAX", write_st("hlenmax", UINT64_MAX, ok_hdr, 16), "header length");
    expect_refused("header length 100 MiB + 1", write_st("hlen100m", (100u << 20) + 1, ok_hdr, 16),
                   "header length");
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[15],"
                          "\"data_offsets\":[18446744073709551600,18446744073709551615]}}");
    expect_refused("data_offsets near UINT64_MAX", write_st("offmax", strlen(h), h, 16), "data_offsets");
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[16],"
                          "\"data_offsets\":[18446744073709551615,15]}}");
    expect_refused("data_offsets begin UINT64_MAX, end small (wrapping span)",
                   write_st("offwrap", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,0]}}");
    expect_refused("data_offsets reversed", write_st("offrev", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[-16,0]}}");
    expect_refused("negative data_offsets", write_st("offneg", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[16],"
                          "\"data_offsets\":[18446744073709551616,18446744073709551632]}}");
    expect_refused("data_offsets beyond 2^64", write_st("off65", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"F32\",\"shape\":[4611686018427387905],"
                          "\"data_offsets\":[0,4]}}");
    expect_refused("shape product fits but x4 bytes overflows 64 bits",
                   write_st("elemoverflow", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                          "\"data_offsets\":[0,0]}}");
    expect_refused("shape product exactly 2^64 (wraps to 0 = the span)",
                   write_st("prod64", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                          "\"alias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}");
    expect_refused("two tensors aliasing the same bytes", write_st("alias", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,16],"
                          "\"data_offsets\":[0,16]}}");
    expect_refused("rank 9", write_st("rank9", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[2.5,4],\"data_offsets\":[0,10]}}");
    expect_refused("fractional dimension", write_st("frac", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[\"16\"],\"data_offsets\":[0,16]}}");
    expect_refused("string dimension", write_st("strdim", strlen(h), h, 16), NULL);
    snprintf(h, sizeof h, "{" R ":{\"dtype\":\"U8\",\"shape\":[1e30],\"data_offsets\":[0,16]}}");
    expect_refused("exponent dimension 1e30", write_st("expdim", strlen(h), h, 16), NULL);

    char p[512];
    snprintf(p, sizeof p, "%s/dir.safetensors", tmpdir);
    mkdir(p, 0700);
    expect_refused("a directory", p, NULL);
    expect_refused("/dev/zero", "/dev/zero", NULL);

    /* A FIFO nobody writes to: the load must not block on it. If it does, the test
     * opens the writing end itself after 5 s so the run ends and reports the hang. */
    snprintf(p, sizeof p, "%s/fifo.safetensors", tmpdir);
    if (mkfifo(p, 0600) != 0)
        tap_bail("mkfifo: %s", strerror(errno));
    static struct load_job j;
    memset(&j, 0, sizeof j);
    j.cfg = file_config(p);
    rel_trk_reset();
    pthread_t t;
    pthread_create(&t, NULL, load_thread, &j);
    bool blocked = true;
    for (int i = 0; i < 500 && blocked; i++) {
        if (__atomic_load_n(&j.done, __ATOMIC_ACQUIRE))
            blocked = false;
        else
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (blocked) {
        int fd = open(p, O_WRONLY | O_NONBLOCK);
        if (fd >= 0)
            close(fd);
    }
    pthread_join(t, NULL);
    TAP_OK(!blocked && (j.load_st == ZMOE_ERR_WEIGHTS || j.load_st == ZMOE_ERR_IO),
           "a FIFO as weights.file: refused without blocking (%s; %s: %s)",
           blocked ? "BLOCKED in zmoe_load_weights until a writer appeared" : "returned",
           zmoe_status_str(j.load_st), j.err.msg);
    unlink(p);
}

int main(void)
{
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/zmoe-untrusted-XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp");
    rel_trk_start();
    config_guard_page();
    config_mutations();
    enormous();
    safetensors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_exit();
}
