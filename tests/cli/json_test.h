/* jsmn helpers for the CLI tests: parse a whole document, walk objects and arrays. */
#ifndef ZMOE_TESTS_CLI_JSON_H
#define ZMOE_TESTS_CLI_JSON_H

#define JSMN_STATIC
#include <jsmn.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct json {
    const char *text;
    jsmntok_t *t;
    int n; /* < 0: parse error */
};

static inline struct json json_parse(const char *text)
{
    struct json j = {text, NULL, -1};
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, text, strlen(text), NULL, 0);
    if (n <= 0)
        return j;
    j.t = calloc((size_t)n, sizeof *j.t);
    jsmn_init(&p);
    j.n = jsmn_parse(&p, text, strlen(text), j.t, (unsigned)n);
    /* jsmn stops at the end of the first value: trailing garbage must be whitespace. */
    if (j.n > 0) {
        for (const char *c = text + j.t[0].end; *c; c++)
            if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t')
                j.n = -1;
    }
    return j;
}

static inline void json_free(struct json *j)
{
    free(j->t);
    j->t = NULL;
}

/* Index just past the subtree at i. */
static inline int json_skip(const struct json *j, int i)
{
    int end = i + 1;
    for (int k = 0; k < j->t[i].size && end < j->n; k++)
        end = json_skip(j, end);
    return end;
}

static inline bool json_is(const struct json *j, int i, const char *s)
{
    size_t len = (size_t)(j->t[i].end - j->t[i].start);
    return strlen(s) == len && !strncmp(j->text + j->t[i].start, s, len);
}

/* Value token of `key` in the object at `obj`, -1 when absent. */
static inline int json_get(const struct json *j, int obj, const char *key)
{
    if (obj < 0 || obj >= j->n || j->t[obj].type != JSMN_OBJECT)
        return -1;
    int i = obj + 1;
    for (int k = 0; k < j->t[obj].size && i + 1 < j->n; k++) {
        if (j->t[i].type == JSMN_STRING && json_is(j, i, key))
            return i + 1;
        i = json_skip(j, i + 1);
    }
    return -1;
}

/* Element `idx` of the array at `arr`, -1 when absent. */
static inline int json_at(const struct json *j, int arr, int idx)
{
    if (arr < 0 || arr >= j->n || j->t[arr].type != JSMN_ARRAY || idx >= j->t[arr].size)
        return -1;
    int i = arr + 1;
    for (int k = 0; k < idx; k++)
        i = json_skip(j, i);
    return i;
}

static inline double json_num(const struct json *j, int i)
{
    if (i < 0 || j->t[i].type != JSMN_PRIMITIVE)
        return -1.0;
    char buf[64];
    int len = j->t[i].end - j->t[i].start;
    if (len <= 0 || len >= (int)sizeof buf)
        return -1.0;
    memcpy(buf, j->text + j->t[i].start, (size_t)len);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    return *end ? -1.0 : v;
}

static inline bool json_str_eq(const struct json *j, int i, const char *s)
{
    return i >= 0 && j->t[i].type == JSMN_STRING && json_is(j, i, s);
}

#endif
