/*
 * serve_req.c - the server's request parser: one flat JSON object per line
 * (docs/serve.md, "Requests"), parsed strictly: known keys only, each at
 * most once, string or non-negative integer values as each key requires,
 * strings in valid UTF-8 without control characters or NUL, no trailing
 * bytes.  Works on a bounded buffer without a terminating NUL; every error
 * names the byte offset where it was found.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve/serve_internal.h"

typedef struct parser {
    const unsigned char *s;
    size_t n, i;
    char *err;
    size_t errlen;
} parser;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(parser *p, const char *fmt, ...)
{
    if (p->err == NULL || p->errlen == 0) return -1;
    int k = snprintf(p->err, p->errlen, "bad request at byte %zu: ", p->i);
    if (k < 0 || (size_t)k >= p->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t')) p->i++;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

static int read_u4(parser *p, unsigned *out)
{
    if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return fail(p, "bad hex digit in \\u escape");
        v = v << 4 | (unsigned)h;
    }
    p->i += 4;
    *out = v;
    return 0;
}

/* Append code point v as UTF-8. */
static int put_cp(parser *p, char *out, size_t cap, size_t *len, unsigned v)
{
    unsigned char t[4];
    size_t n;
    if (v < 0x80) {
        t[0] = (unsigned char)v;
        n = 1;
    } else if (v < 0x800) {
        t[0] = (unsigned char)(0xC0 | v >> 6);
        n = 2;
    } else if (v < 0x10000) {
        t[0] = (unsigned char)(0xE0 | v >> 12);
        n = 3;
    } else {
        t[0] = (unsigned char)(0xF0 | v >> 18);
        n = 4;
    }
    for (size_t k = 1; k < n; k++)
        t[k] = (unsigned char)(0x80 | ((v >> (6 * (n - 1 - k))) & 0x3F));
    if (cap - 1 - *len < n) return fail(p, "string longer than %zu bytes", cap - 1);
    memcpy(out + *len, t, n);
    *len += n;
    return 0;
}

/* The escape after a backslash (p->i at its letter) as a code point in
 * *out; a \u surrogate pair is joined. */
static int read_escape(parser *p, unsigned *out)
{
    unsigned e = p->s[p->i++], v;
    switch (e) {
    case '"': v = '"'; break;
    case '\\': v = '\\'; break;
    case '/': v = '/'; break;
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'n': v = '\n'; break;
    case 'r': v = '\r'; break;
    case 't': v = '\t'; break;
    case 'u':
        if (read_u4(p, &v) != 0) return -1;
        if (v >= 0xDC00 && v <= 0xDFFF) return fail(p, "lone low surrogate");
        if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned lo;
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                return fail(p, "high surrogate without its low half");
            p->i += 2;
            if (read_u4(p, &lo) != 0) return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(p, "high surrogate without its low half");
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (v == 0) return fail(p, "\\u0000 in a string");
        break;
    default:
        p->i--;
        return fail(p, "bad escape \\%c", e >= 0x21 && e < 0x7F ? (char)e : '?');
    }
    *out = v;
    return 0;
}

/* The length in *out of the one valid UTF-8 sequence at p->i, whose first
 * byte is c. */
static int utf8_sequence(parser *p, unsigned c, size_t *out)
{
    size_t l;
    unsigned min, v;
    if (c < 0x80) l = 1, min = 0, v = c;
    else if (c >= 0xC2 && c <= 0xDF) l = 2, min = 0x80, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) l = 3, min = 0x800, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) l = 4, min = 0x10000, v = c & 0x07;
    else return fail(p, "invalid UTF-8 byte 0x%02x", c);
    if (p->n - p->i < l) return fail(p, "truncated UTF-8 sequence");
    for (size_t k = 1; k < l; k++) {
        unsigned d = p->s[p->i + k];
        if ((d & 0xC0) != 0x80) return fail(p, "invalid UTF-8 sequence");
        v = v << 6 | (d & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return fail(p, "invalid UTF-8 sequence");
    *out = l;
    return 0;
}

/* A JSON string at p->i into out (cap bytes, NUL-terminated). */
static int read_string(parser *p, char *out, size_t cap, size_t *outlen)
{
    size_t len = 0;
    if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string");
    p->i++;
    for (;;) {
        if (p->i >= p->n) return fail(p, "unterminated string");
        unsigned c = p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20 || c == 0x7F) return fail(p, "control character 0x%02x in a string", c);
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) return fail(p, "unterminated string");
            unsigned v = 0;
            if (read_escape(p, &v) != 0 || put_cp(p, out, cap, &len, v) != 0) return -1;
            continue;
        }
        size_t l = 0; /* a raw byte: one valid UTF-8 sequence */
        if (utf8_sequence(p, c, &l) != 0) return -1;
        if (cap - 1 - len < l) return fail(p, "string longer than %zu bytes", cap - 1);
        memcpy(out + len, p->s + p->i, l);
        len += l;
        p->i += l;
    }
    out[len] = 0;
    if (outlen != NULL) *outlen = len;
    return 0;
}

static int read_int(parser *p, long *out)
{
    size_t start = p->i;
    long v = 0;
    if (p->i < p->n && p->s[p->i] == '-') return fail(p, "negative number");
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        if (p->i - start >= 9) return fail(p, "number too large (at most 9 digits)");
        v = v * 10 + (p->s[p->i] - '0');
        p->i++;
    }
    if (p->i == start) return fail(p, "expected a non-negative integer");
    if (p->s[start] == '0' && p->i - start > 1) {
        p->i = start;
        return fail(p, "leading zero in a number");
    }
    if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
        return fail(p, "only integers are accepted");
    *out = v;
    return 0;
}

enum { K_STR, K_INT };

static const struct key {
    const char *name;
    unsigned flag;
    int kind;
} keys[] = {
    {"cmd", SERVE_F_CMD, K_STR},     {"token", SERVE_F_TOKEN, K_STR},
    {"seconds", SERVE_F_SECONDS, K_INT}, {"top", SERVE_F_TOP, K_INT},
    {"by", SERVE_F_BY, K_STR},       {"type", SERVE_F_TYPE, K_STR},
    {"limit", SERVE_F_LIMIT, K_INT}, {"path", SERVE_F_PATH, K_STR},
    {"arg", SERVE_F_ARG, K_STR},
};

static int read_value(parser *p, const struct key *k, serve_req *r)
{
    size_t at = p->i;
    if (k->kind == K_INT) {
        if (p->i < p->n && p->s[p->i] == '"')
            return fail(p, "\"%s\" must be an integer", k->name);
        long v = 0;
        if (read_int(p, &v) != 0) return -1;
        if (k->flag == SERVE_F_SECONDS) r->seconds = v;
        else if (k->flag == SERVE_F_TOP) r->top = v;
        else r->limit = v;
        return 0;
    }
    if (p->i >= p->n || p->s[p->i] != '"')
        return fail(p, "\"%s\" must be a string", k->name);
    switch (k->flag) {
    case SERVE_F_CMD: {
        if (read_string(p, r->cmd, sizeof r->cmd, NULL) != 0) return -1;
        if (r->cmd[0] == 0) {
            p->i = at;
            return fail(p, "empty \"cmd\"");
        }
        for (const char *c = r->cmd; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.')) {
                p->i = at;
                return fail(p, "\"cmd\" may hold only letters, digits, '_', '-' and '.'");
            }
        return 0;
    }
    case SERVE_F_TOKEN: return read_string(p, r->token, sizeof r->token, &r->token_len);
    case SERVE_F_BY: return read_string(p, r->by, sizeof r->by, NULL);
    case SERVE_F_TYPE: return read_string(p, r->type, sizeof r->type, NULL);
    case SERVE_F_PATH: return read_string(p, r->path, sizeof r->path, NULL);
    default: return read_string(p, r->arg, sizeof r->arg, NULL);
    }
}

/* A key at p->i: one of keys[] that out does not have yet, in *out. */
static int read_key(parser *p, const serve_req *have, const struct key **out)
{
    char name[16];
    size_t at = p->i;
    if (p->i >= p->n) return fail(p, "truncated object");
    if (p->s[p->i] != '"') return fail(p, "expected a key string");
    /* keys are short: a longer one is unknown anyway */
    char big[SERVE_STR_MAX];
    if (read_string(p, big, sizeof big, NULL) != 0) return -1;
    const struct key *k = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(big, keys[i].name) == 0) k = &keys[i];
    if (k == NULL) {
        memcpy(name, big, sizeof name - 1);
        name[sizeof name - 1] = 0;
        p->i = at;
        return fail(p, "unknown key \"%s%s\"", name,
                    strlen(big) >= sizeof name ? "..." : "");
    }
    if (have->have & k->flag) {
        p->i = at;
        return fail(p, "duplicate key \"%s\"", k->name);
    }
    *out = k;
    return 0;
}

int rcgc__serve_parse(const char *line, size_t len, serve_req *out, char *err,
                      size_t errlen)
{
    parser p = {(const unsigned char *)line, len, 0, err, errlen};
    memset(out, 0, sizeof *out);
    if (err != NULL && errlen > 0) err[0] = 0;
    skip_ws(&p);
    if (p.i >= p.n) return fail(&p, "empty request");
    if (p.s[p.i] != '{') return fail(&p, "expected '{' (a request is one JSON object per line)");
    p.i++;
    skip_ws(&p);
    if (p.i < p.n && p.s[p.i] == '}') {
        p.i++;
    } else {
        for (;;) {
            const struct key *k;
            if (read_key(&p, out, &k) != 0) return -1;
            skip_ws(&p);
            if (p.i >= p.n || p.s[p.i] != ':') return fail(&p, "expected ':'");
            p.i++;
            skip_ws(&p);
            if (read_value(&p, k, out) != 0) return -1;
            out->have |= k->flag;
            skip_ws(&p);
            if (p.i >= p.n) return fail(&p, "truncated object");
            if (p.s[p.i] == '}') {
                p.i++;
                break;
            }
            if (p.s[p.i] != ',') return fail(&p, "expected ',' or '}'");
            p.i++;
            skip_ws(&p);
        }
    }
    skip_ws(&p);
    if (p.i != p.n) return fail(&p, "trailing bytes after the object");
    if (!(out->have & SERVE_F_CMD)) {
        p.i = 0;
        return fail(&p, "no \"cmd\"");
    }
    return 0;
}

int rcgc__serve_token_equal(const char *expected, size_t elen,
                            const char *given, size_t glen)
{
    /* Every byte of expected is compared, with a byte of given that does
     * not depend on where they differ; the lengths are folded in at the
     * end.  Nothing branches on the contents. */
    volatile unsigned char diff = (unsigned char)(elen != glen);
    for (size_t i = 0; i < elen; i++) {
        unsigned char g = glen ? (unsigned char)given[i % glen] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)expected[i]);
    }
    return diff == 0 && elen == glen;
}
