/* Helpers for the tests that drive the built `zmoe` binary: run it with arguments,
 * capture stdout, stderr and the exit status; temporary files; text helpers. */
#ifndef ZMOE_TESTS_CLI_TEST_H
#define ZMOE_TESTS_CLI_TEST_H

#include "tests/tap.h"
#include "zmoe.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct cli_result {
    int status; /* exit code; 128 + signal when killed; -1 when it could not start */
    char *out, *err;
};

static char cli_tmpdir_[256];

/* A private temporary directory, removed (with its files) by cli_tmp_cleanup(). */
static inline const char *cli_tmpdir(void)
{
    if (!cli_tmpdir_[0]) {
        snprintf(cli_tmpdir_, sizeof cli_tmpdir_, "/tmp/zmoe-cli-test-XXXXXX");
        if (!mkdtemp(cli_tmpdir_))
            tap_bail("mkdtemp failed");
    }
    return cli_tmpdir_;
}

static inline void cli_tmp_cleanup(void)
{
    if (!cli_tmpdir_[0])
        return;
    DIR *d = opendir(cli_tmpdir_);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", cli_tmpdir_, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(cli_tmpdir_);
}

/* Path of `name` in the temporary directory; each call gets its own storage (a test
 * keeps its paths for its whole run). */
static inline char *cli_tmp_path(const char *name)
{
    static char bufs[64][512];
    static int next;
    if (next >= 64)
        tap_bail("cli_tmp_path: more than 64 paths");
    char *p = bufs[next++];
    snprintf(p, 512, "%s/%s", cli_tmpdir(), name);
    return p;
}

/* Whole file as a NUL-terminated string (NULL when unreadable); *size gets the length. */
static inline char *cli_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n < 0 ? 0 : n) + 1);
    size_t got = buf ? fread(buf, 1, (size_t)(n < 0 ? 0 : n), f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[got] = '\0';
    if (size)
        *size = got;
    return buf;
}

static inline bool cli_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static inline void cli_result_free(struct cli_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs argv (argv[0] = the binary) with stdout/stderr redirected to files. */
static inline struct cli_result cli_runv(char *const argv[])
{
    struct cli_result r = {-1, NULL, NULL};
    static char out[512], err[512];
    snprintf(out, sizeof out, "%s/.stdout", cli_tmpdir());
    snprintf(err, sizeof err, "%s/.stderr", cli_tmpdir());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0) {
        int st;
        if (waitpid(pid, &st, 0) == pid)
            r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    r.out = cli_read_file(out, NULL);
    r.err = cli_read_file(err, NULL);
    if (!r.out)
        r.out = calloc(1, 1);
    if (!r.err)
        r.err = calloc(1, 1);
    return r;
}

#define CLI_RUN(...) cli_runv((char *const[]){__VA_ARGS__, NULL})

static inline bool cli_has(const char *text, const char *needle)
{
    return text && strstr(text, needle) != NULL;
}

/* Shows what the binary said when a check on it fails. */
static inline void cli_diag(const struct cli_result *r)
{
    tap_diag("exit %d\n--- stdout\n%s--- stderr\n%s", r->status, r->out, r->err);
}

#endif
