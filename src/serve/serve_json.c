/*
 * serve_json.c - the server's JSON writer: a bounded growable buffer from
 * the runtime's raw allocator, strings escaped (quotes, backslashes, newline,
 * carriage return and tab as \n \r \t, the other control bytes and DEL as
 * \u00XX, bytes that are not valid UTF-8 as \u00XX of the byte, so the
 * output is always valid JSON whatever a type or file name holds).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve/serve_internal.h"

void rcgc__jb_init(jbuf *b, const rcgc_allocator *a, size_t max)
{
    memset(b, 0, sizeof *b);
    b->a = *a;
    b->max = max;
}

void rcgc__jb_free(jbuf *b)
{
    if (b->p != NULL && b->a.free != NULL) b->a.free(b->a.ctx, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int jb_reserve(jbuf *b, size_t n)
{
    if (b->overflow || b->nomem) return 0;
    if (n > b->max - b->len || b->len + n > b->max) {
        b->overflow = 1;
        return 0;
    }
    if (b->len + n + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = b->a.realloc(b->a.ctx, b->p, cap);
    if (p == NULL) {
        b->nomem = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void rcgc__jb_raw(jbuf *b, const char *s, size_t n)
{
    if (!jb_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void rcgc__jb_lit(jbuf *b, const char *s)
{
    rcgc__jb_raw(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned v = c & (0x3Fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

void rcgc__jb_strn(jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    rcgc__jb_raw(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t l = c >= 0x20 && c != '"' && c != '\\' ? utf8_len(u + i, n - i) : 0;
        if (l > 0 && c != 0x7F) {
            i += l;
            run += l;
            continue;
        }
        rcgc__jb_raw(b, s + i - run, run);
        run = 0;
        char esc[8];
        size_t el = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        rcgc__jb_raw(b, esc, el);
        i++;
    }
    rcgc__jb_raw(b, s + n - run, run);
    rcgc__jb_raw(b, "\"", 1);
}

void rcgc__jb_str(jbuf *b, const char *s)
{
    if (s == NULL)
        rcgc__jb_lit(b, "null");
    else
        rcgc__jb_strn(b, s, strlen(s));
}

void rcgc__jb_int(jbuf *b, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    rcgc__jb_raw(b, t, (size_t)n);
}

void rcgc__jb_uint(jbuf *b, unsigned long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%llu", v);
    rcgc__jb_raw(b, t, (size_t)n);
}

void rcgc__jb_num(jbuf *b, double v)
{
    char t[64];
    int n;
    if (!isfinite(v))
        n = snprintf(t, sizeof t, "null");
    else if (v == floor(v) && fabs(v) < 9e15)
        n = snprintf(t, sizeof t, "%.0f", v);
    else
        n = snprintf(t, sizeof t, "%.17g", v);
    rcgc__jb_raw(b, t, (size_t)n);
}

void rcgc__jb_sep(jbuf *b)
{
    if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[' &&
        b->p[b->len - 1] != ':')
        rcgc__jb_raw(b, ",", 1);
}

void rcgc__jb_key(jbuf *b, const char *key)
{
    rcgc__jb_sep(b);
    rcgc__jb_str(b, key);
    rcgc__jb_raw(b, ":", 1);
}

void rcgc__jb_error(jbuf *b, const char *msg)
{
    b->len = 0;
    b->overflow = b->nomem = 0;
    if (b->p != NULL) b->p[0] = 0;
    rcgc__jb_lit(b, "{\"ok\":false,\"error\":");
    rcgc__jb_str(b, msg);
    rcgc__jb_lit(b, "}\n");
}

void rcgc__jb_fallback(jbuf *b)
{
    static const char fallback[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
    if (!b->nomem && !b->overflow && b->len > 0 && b->p != NULL) return;
    /* the answer (or the error answer replacing it) is cut: never send a
     * part of it */
    rcgc__jb_free(b);
    b->p = (char *)(uintptr_t)fallback; /* never freed: a.free is NULL */
    b->len = sizeof fallback - 1;
    b->cap = 0;
    b->a.free = NULL;
    b->nomem = b->overflow = 0;
}
