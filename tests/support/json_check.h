/*
 * json_check.h - a strict JSON checker for the tests and fuzzers of JSON
 * answers (the diagnostics endpoint's): strings with valid escapes and
 * UTF-8, no raw control bytes, numbers by the grammar, nesting bounded.
 * Header-only, so that fuzz targets that do not link the test support
 * library can use it too.
 */
#ifndef RCGC_JSON_CHECK_H
#define RCGC_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

static const char *json_check_value(const char *p, int depth);

static const char *json_check_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *json_check_string(const char *p)
{
    if (*p++ != '"') return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') return p;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            c = (unsigned char)*p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (*p == 0 || !strchr("0123456789abcdefABCDEF", *p++))
                        return NULL;
            } else if (c == 0 || !strchr("\"\\/bfnrt", c)) {
                return NULL;
            }
        } else if (c >= 0x80) {
            int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
            if (n < 0 || c > 0xF4) return NULL;
            for (int i = 0; i < n; i++)
                if (((unsigned char)*p++ & 0xC0) != 0x80) return NULL;
        }
    }
}

/* The end of the JSON value at p (leading blanks skipped), or NULL. */
static const char *json_check_value(const char *p, int depth)
{
    if (depth > 64) return NULL;
    p = json_check_ws(p);
    if (*p == '"') return json_check_string(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = json_check_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = json_check_string(json_check_ws(p));
                if (p == NULL) return NULL;
                p = json_check_ws(p);
                if (*p++ != ':') return NULL;
            }
            p = json_check_value(p, depth + 1);
            if (p == NULL) return NULL;
            p = json_check_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0) return p + 4;
    if (strncmp(p, "false", 5) == 0) return p + 5;
    const char *s = p;
    if (*p == '-') p++;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        while (*p >= '0' && *p <= '9') p++;
    }
    return p > s && p[-1] != '-' ? p : NULL;
}

/* 1 if the len bytes at s are exactly one JSON object and a newline. */
static int json_check_object_line(const char *s, size_t len)
{
    if (s == NULL || *s != '{') return 0;
    const char *p = json_check_value(s, 0);
    return p != NULL && p[0] == '\n' && p + 1 == s + len;
}

#endif /* RCGC_JSON_CHECK_H */
