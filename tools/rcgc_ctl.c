/*
 * rcgc-ctl - the client of the live diagnostics endpoint (rcgc_serve.h,
 * docs/serve.md):
 *
 *   rcgc-ctl [options] SOCKET COMMAND [ARGS]
 *
 * sends one request, waits for the answer, and prints it as a table (or as
 * the JSON the server sent, with --json).  Exit status: 0 for an "ok"
 * answer; 1 for an error answer (its message on stderr); 2 for a usage
 * error; 3 when the server cannot be reached or its answer is unreadable.
 *
 * It trusts no server: the server's uid (SO_PEERCRED) must be the expected
 * one before anything, the token included, is sent; the answer is bounded
 * (--max-answer) and read in place without a tree; whatever it prints of
 * the answer, table or --json, carries no control byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rcgc.h"

#define PROG "rcgc-ctl"
#define MAX_ANSWER_DEFAULT ((size_t)64 << 20) /* --max-answer */
#define MAX_ANSWER_MAX ((size_t)1 << 30)      /* the server's largest max_response */
#define TIMEOUT_MAX 86400L /* --timeout, s: a day (plus a trace window) */
#define TRACE_MAX 86400L   /* trace SECONDS: the server's largest max_trace_seconds */
#define NUM_MAX 999999999L /* TOP, LIMIT: the server's 9 digits */

static const char help_text[] =
    "rcgc-ctl: ask a running program served by rcgc_serve\n"
    "\n"
    "usage: rcgc-ctl [options] SOCKET COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  ping                       is it there (pid, version)\n"
    "  stats                      runtime, collector, tracer and server\n"
    "  alloc                      the pool allocator's statistics\n"
    "  counts [TOP]               tracked objects by type (20; 0: all)\n"
    "  trace SECONDS [TOP]        trace allocations for SECONDS, then the\n"
    "                             growth by line (10; 0: all)\n"
    "  snapshot NAME              write a snapshot file NAME in the server's\n"
    "                             snapshot directory (the tracer must be on)\n"
    "  why TYPE [LIMIT]           why objects of TYPE are alive (3)\n"
    "  retained [TOP]             what holds the memory: the TOP objects\n"
    "                             that retain most, and sizes by type (20)\n"
    "  heapsnapshot NAME          write a V8 heap snapshot NAME (Chrome\n"
    "                             DevTools, memlab) in the server's\n"
    "                             snapshot directory\n"
    "  help                       the server's command list\n"
    "  OTHER [ARG]                a command of the program's own\n"
    "\n"
    "options:\n"
    "  --json                     print the server's JSON answer (control\n"
    "                             bytes in it escaped)\n"
    "  --token TOKEN              the server's token (visible to other\n"
    "                             users in ps and /proc/PID/cmdline: prefer\n"
    "                             --token-file or $RCGC_CTL_TOKEN)\n"
    "  --token-file FILE          read it from FILE (its first line)\n"
    "                             (else: $RCGC_CTL_TOKEN)\n"
    "  --by lineno|filename|traceback   trace: how to group (lineno)\n"
    "  --timeout SECONDS          give up after this long (10, plus the\n"
    "                             trace window; at most 86400)\n"
    "  --server-uid UID|USER      the user the server must run as (the\n"
    "                             effective uid of rcgc-ctl): checked before\n"
    "                             anything, the token included, is sent\n"
    "  --max-answer BYTES         the largest answer accepted (64M; K, M, G;\n"
    "                             4K..1G)\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 ok; 1 the server answered with an error; 2 usage error;\n"
    "3 cannot connect, timed out, or an unreadable answer.\n";

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

/* ---- a growable string ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) die(3, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_lit(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_str(sbuf *b, const char *s)
{
    sb_lit(b, "\"");
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        char t[8];
        if (*u == '"' || *u == '\\') {
            t[0] = '\\';
            t[1] = (char)*u;
            sb_add(b, t, 2);
        } else if (*u < 0x20 || *u == 0x7F) {
            snprintf(t, sizeof t, "\\u%04x", *u);
            sb_add(b, t, 6);
        } else {
            sb_add(b, (const char *)u, 1);
        }
    }
    sb_lit(b, "\"");
}

/* ---- the answer's JSON, read in place ----
 *
 * The answer is read once into one buffer (at most --max-answer bytes)
 * and checked once (jcheck); everything after works on that text in
 * place: a value is a pointer to its first byte (NULL: absent), jget
 * finds a member, jfirst/jnext walk an array or object, jtext decodes a
 * string into one of a few reused buffers, made safe for a terminal.  No
 * tree is built, so the memory is the answer plus its largest strings,
 * whatever the answer holds (a tree of small values took 24 bytes per
 * byte of answer).  The check is strict JSON except that raw control
 * bytes and bytes that are not UTF-8 are accepted inside strings (a
 * hostile server's answer is printed, escaped, not refused). */

typedef const char *jv;

#define JSON_DEPTH 64

static const char *jws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

static int jhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Check the string at *p (its opening quote), *p after it: 0 or -1. */
static int jcheck_string(const char **pp, const char *end)
{
    const char *p = *pp + 1;
    for (;;) {
        if (p >= end) return -1;
        char c = *p++;
        if (c == '"') break;
        if (c != '\\') continue;
        if (p >= end) return -1;
        c = *p++;
        if (c == 'u') {
            if (end - p < 4) return -1;
            for (int k = 0; k < 4; k++)
                if (jhex(p[k]) < 0) return -1;
            p += 4;
        } else if (c == 0 || strchr("\"\\/bfnrt", c) == NULL) {
            return -1;
        }
    }
    *pp = p;
    return 0;
}

static int jcheck_number(const char **pp, const char *end)
{
    const char *p = *pp;
#define DIGITS(p) ((p) < end && *(p) >= '0' && *(p) <= '9')
    if (p < end && *p == '-') p++;
    if (!DIGITS(p)) return -1;
    if (*p == '0') p++;
    else while (DIGITS(p)) p++;
    if (p < end && *p == '.') {
        p++;
        if (!DIGITS(p)) return -1;
        while (DIGITS(p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!DIGITS(p)) return -1;
        while (DIGITS(p)) p++;
    }
#undef DIGITS
    *pp = p;
    return 0;
}

/* Check the value at *pp (whitespace first), *pp after it: 0 or -1. */
static int jcheck(const char **pp, const char *end, int depth)
{
    const char *p = jws(*pp);
    if (p >= end || depth > JSON_DEPTH) return -1;
    if (*p == '"') {
        if (jcheck_string(&p, end) != 0) return -1;
    } else if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = jws(p + 1);
        if (p < end && *p == close) {
            *pp = p + 1;
            return 0;
        }
        for (;;) {
            if (close == '}') {
                p = jws(p);
                if (p >= end || *p != '"' || jcheck_string(&p, end) != 0) return -1;
                p = jws(p);
                if (p >= end || *p != ':') return -1;
                p++;
            }
            if (jcheck(&p, end, depth + 1) != 0) return -1;
            p = jws(p);
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == close) { p++; break; }
            return -1;
        }
    } else if (end - p >= 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) {
        p += 4;
    } else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
        p += 5;
    } else if (jcheck_number(&p, end) != 0) {
        return -1;
    }
    *pp = p;
    return 0;
}

/* Past the (checked) value at v. */
static const char *jskip(const char *v)
{
    const char *p = v;
    int depth = 0;
    do {
        if (*p == '"') {
            for (p++; *p != '"'; p++)
                if (*p == '\\') p++;
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
        } else if (*p == '}' || *p == ']') {
            depth--, p++;
        } else if (depth > 0) {
            p++; /* , : whitespace, or a scalar's bytes */
        } else {
            while (*p && strchr("0123456789+-.eEtruefalsn", *p) != NULL) p++;
        }
    } while (depth > 0);
    return p;
}

/* One character of the (checked) string body at p, as UTF-8 into out
 * (*n bytes); returns what follows it. */
static const char *jchar(const char *p, char out[4], size_t *n)
{
    if (*p != '\\') {
        out[0] = *p;
        *n = 1;
        return p + 1;
    }
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    if (p[1] != 'u') {
        out[0] = to[strchr(from, p[1]) - from];
        *n = 1;
        return p + 2;
    }
    unsigned v = 0;
    for (int k = 0; k < 4; k++) v = v << 4 | (unsigned)jhex(p[2 + k]);
    p += 6;
    if (v >= 0xD800 && v <= 0xDBFF && p[0] == '\\' && p[1] == 'u') {
        unsigned lo = 0;
        for (int k = 0; k < 4; k++) lo = lo << 4 | (unsigned)jhex(p[2 + k]);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
    }
    size_t tn = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
    static const unsigned char lead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    out[0] = (char)(lead[tn] | (v >> (6 * (tn - 1))));
    for (size_t m = 1; m < tn; m++)
        out[m] = (char)(0x80 | ((v >> (6 * (tn - 1 - m))) & 0x3F));
    *n = tn;
    return p;
}

/* 1 if the string at q (its opening quote) decodes to key. */
static int jstreq(const char *q, const char *key)
{
    size_t klen = strlen(key), at = 0;
    for (const char *p = q + 1; *p != '"';) {
        char t[4];
        size_t n;
        p = jchar(p, t, &n);
        if (n > klen - at || memcmp(t, key + at, n) != 0) return 0;
        at += n;
    }
    return at == klen;
}

/* Length of the valid UTF-8 sequence at s (NUL-terminated), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0], min, v;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000, v = c & 0x07;
    else return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* the NUL ends it too */
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

/* Make a server string safe for a terminal, in place: control bytes
 * (0x00-0x1f), DEL, the C1 controls (U+0080-U+009F, as UTF-8) and bytes
 * that are not UTF-8 (a lone 0x9b is CSI to an 8-bit terminal) become
 * '?', so that a type or file name cannot send escape sequences. */
static void tty_safe(char *s)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        size_t l = utf8_len(r);
        if (*r < 0x20 || *r == 0x7f || l == 0 || (r[0] == 0xc2 && r[1] <= 0x9f)) {
            *w++ = '?';
            r += l ? l : 1;
        } else {
            while (l--) *w++ = *r++;
        }
    }
    *w = 0;
}

/* The string value v decoded and made safe for a terminal ("" if v is
 * not a string), in one of JTEXT_SLOTS buffers used in turn: valid until
 * that many more calls (a printf may take a few). */
#define JTEXT_SLOTS 16
struct jtext_buf {
    char *p;
    size_t cap;
};
static struct jtext_buf jtext_slot[JTEXT_SLOTS];
static unsigned jtext_next;

static const char *jtext(jv v)
{
    if (v == NULL || *v != '"') return "";
    size_t raw = (size_t)(jskip(v) - v); /* decoding never grows it */
    struct jtext_buf *s = &jtext_slot[jtext_next++ % JTEXT_SLOTS];
    if (s->cap < raw) {
        free(s->p);
        s->p = malloc(raw);
        if (s->p == NULL) die(3, "out of memory");
        s->cap = raw;
    }
    size_t len = 0;
    for (const char *p = v + 1; *p != '"';) {
        size_t n;
        p = jchar(p, s->p + len, &n);
        len += n;
    }
    s->p[len] = 0;
    tty_safe(s->p);
    return s->p;
}

static void jtext_free(void)
{
    for (int i = 0; i < JTEXT_SLOTS; i++) free(jtext_slot[i].p);
}

/* The member at p (an object's key string, or an array's value: key
 * NULL): its value, *key its key. */
static jv jmember(const char *p, const char **key)
{
    if (key == NULL) return p;
    *key = p;
    p = jws(jskip(p)); /* the key, then ':' */
    return jws(p + 1);
}

/* The first value of the array (key NULL) or object v, NULL if empty or
 * v is not one. */
static jv jfirst(jv v, const char **key)
{
    if (v == NULL || *v != (key ? '{' : '[')) return NULL;
    const char *p = jws(v + 1);
    if (*p == '}' || *p == ']') return NULL;
    return jmember(p, key);
}

/* The value after item (a value jfirst or jnext gave), NULL at the end. */
static jv jnext(jv item, const char **key)
{
    const char *p = jws(jskip(item));
    if (*p != ',') return NULL;
    return jmember(jws(p + 1), key);
}

static jv jget(jv o, const char *name)
{
    const char *key;
    for (jv v = jfirst(o, &key); v != NULL; v = jnext(v, &key))
        if (jstreq(key, name)) return v;
    return NULL;
}

static size_t jcount(jv a)
{
    size_t n = 0;
    for (jv v = jfirst(a, NULL); v != NULL; v = jnext(v, NULL)) n++;
    return n;
}

static double jnumv(jv v)
{
    if (v == NULL) return 0;
    if (*v == 't') return 1;
    if (*v == '-' || (*v >= '0' && *v <= '9')) return strtod(v, NULL);
    return 0;
}

static double jnum(jv o, const char *key)
{
    return jnumv(jget(o, key));
}

static const char *jstr(jv o, const char *key)
{
    return jtext(jget(o, key));
}

/* The checked answer s[0..n) on stdout as JSON that a terminal cannot
 * take for commands: inside strings, raw control bytes, DEL, the C1
 * controls and bytes that are not UTF-8 become \u00XX escapes (the
 * server's own escaping: the meaning of valid JSON is unchanged);
 * whitespace between tokens other than spaces is left out; one newline
 * at the end. */
static void print_json_safe(const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    int in_str = 0;
    while (u < end) {
        unsigned c = *u;
        if (!in_str) {
            if (c == '"') in_str = 1;
            if (c != '\t' && c != '\r' && c != '\n') putchar((int)c);
            u++;
            continue;
        }
        if (c == '"' || c == '\\') {
            putchar((int)c);
            if (c == '\\') putchar(u[1]), u++; /* an escape is ASCII: as is */
            in_str = c != '"';
            u++;
            continue;
        }
        if (c >= 0x20 && c < 0x7f) { /* a run of plain ASCII: as is */
            const unsigned char *r = u;
            while (r < end && *r >= 0x20 && *r < 0x7f && *r != '"' && *r != '\\') r++;
            fwrite(u, 1, (size_t)(r - u), stdout);
            u = r;
            continue;
        }
        size_t l = c >= 0x20 && c != 0x7f ? utf8_len(u) : 0;
        if (l > 0 && (u + l > end)) l = 0;
        unsigned code = c;
        if (l == 2 && c == 0xc2 && u[1] <= 0x9f) code = u[1], l = 0; /* C1 */
        if (l > 0) {
            fwrite(u, 1, l, stdout);
            u += l;
            continue;
        }
        const char *sh = strchr("\b\f\n\r\t", (int)code);
        if (code != 0 && sh != NULL) printf("\\%c", "bfnrt"[sh - "\b\f\n\r\t"]);
        else printf("\\u00%c%c", hex[code >> 4], hex[code & 15]);
        u += code == c ? 1 : 2;
    }
    putchar('\n');
}

/* ---- tables ---- */

static void fmt_size(double v, int sign, char *buf, size_t n)
{
    rcgc_format_size(v, sign, buf, n);
}

static void print_stats(jv a)
{
    jv rt = jget(a, "runtime"), gc = jget(a, "gc"), tr = jget(a, "tracer");
    jv sv = jget(a, "server");
    printf("pid %.0f\n", jnum(a, "pid"));
    printf("objects     %.0f (peak %.0f), tracked %.0f, allocated since start %.0f\n",
           jnum(rt, "objects"), jnum(rt, "objects_peak"), jnum(rt, "tracked"),
           jnum(rt, "allocations"));
    jv cnt = jget(gc, "count"), thr = jget(gc, "threshold");
    if (jcount(cnt) == 3 && jcount(thr) == 3) {
        double c[3], t[3];
        jv x = jfirst(cnt, NULL), y = jfirst(thr, NULL);
        for (int i = 0; i < 3; i++, x = jnext(x, NULL), y = jnext(y, NULL))
            c[i] = jnumv(x), t[i] = jnumv(y);
        printf("collector   %s, %s; count %.0f %.0f %.0f, threshold %.0f %.0f %.0f\n",
               jnum(gc, "enabled") ? "enabled" : "disabled", jstr(gc, "mode"),
               c[0], c[1], c[2], t[0], t[1], t[2]);
    }
    printf("            garbage %.0f, frozen %.0f\n", jnum(gc, "garbage"), jnum(gc, "frozen"));
    jv gens = jget(gc, "generations");
    if (jfirst(gens, NULL) != NULL)
        printf("  %-4s %12s %12s %14s %12s %12s\n", "gen", "collections", "collected",
               "uncollectable", "time ms", "CPU ms");
    size_t g = 0;
    for (jv e = jfirst(gens, NULL); e != NULL; e = jnext(e, NULL), g++)
        printf("  %-4zu %12.0f %12.0f %14.0f %12.3f %12.3f\n", g, jnum(e, "collections"),
               jnum(e, "collected"), jnum(e, "uncollectable"), jnum(e, "total_ns") / 1e6,
               jnum(e, "cpu_ns") / 1e6);
    char c[32], p[32], o[32];
    fmt_size(jnum(tr, "current"), 0, c, sizeof c);
    fmt_size(jnum(tr, "peak"), 0, p, sizeof p);
    fmt_size(jnum(tr, "overhead"), 0, o, sizeof o);
    printf("tracer      %s; traced %s (peak %s), overhead %s\n",
           jnum(tr, "tracing") ? "tracing" : "off", c, p, o);
    printf("server      %.0f connections, %.0f answers, refused: %.0f full, %.0f "
           "peer, %.0f token, %.0f locked out; %.0f bad requests, %.0f dropped\n",
           jnum(sv, "accepted"), jnum(sv, "answered"), jnum(sv, "refused_full"),
           jnum(sv, "refused_peer"), jnum(sv, "refused_token"),
           jnum(sv, "refused_lockout"), jnum(sv, "bad_requests"), jnum(sv, "dropped"));
}

static void print_alloc(jv a)
{
    jv hb = jget(a, "heap_blocks"), pm = jget(a, "pymalloc");
    printf("live blocks: raw %.0f, mem %.0f, obj %.0f\n", jnum(hb, "raw"),
           jnum(hb, "mem"), jnum(hb, "obj"));
    if (pm == NULL || *pm != '{') {
        printf("no pool allocator\n");
        return;
    }
    char s1[32], s2[32], s3[32];
    fmt_size(jnum(pm, "arena_bytes"), 0, s1, sizeof s1);
    fmt_size(jnum(pm, "allocated_bytes"), 0, s2, sizeof s2);
    fmt_size(jnum(pm, "available_bytes"), 0, s3, sizeof s3);
    printf("arenas %.0f (highwater %.0f, free %.0f): %s; blocks %s in use, %s "
           "free in used pools\n",
           jnum(pm, "arenas_current"), jnum(pm, "arenas_highwater"),
           jnum(pm, "arenas_free"), s1, s2, s3);
    jv cl = jget(pm, "classes");
    if (cl == NULL || *cl != '[') return;
    printf("%6s %8s %14s %14s\n", "size", "pools", "blocks in use", "avail blocks");
    for (jv e = jfirst(cl, NULL); e != NULL; e = jnext(e, NULL))
        printf("%6.0f %8.0f %14.0f %14.0f\n", jnum(e, "size"), jnum(e, "pools"),
               jnum(e, "blocks_in_use"), jnum(e, "blocks_avail"));
}

static void print_retained(jv a)
{
    char b1[32], b2[32];
    fmt_size(jnum(a, "total_size"), 0, b1, sizeof b1);
    printf("%.0f tracked objects, %.0f reachable from %.0f roots: %s",
           jnum(a, "objects"), jnum(a, "reachable"), jnum(a, "roots"), b1);
    if (jnum(a, "unreachable") > 0) {
        fmt_size(jnum(a, "unreachable_size"), 0, b2, sizeof b2);
        printf("; %.0f unreachable (garbage the next collection frees): %s",
               jnum(a, "unreachable"), b2);
    }
    printf("\n\n  #   retained  objects       self  held by  object\n");
    int k = 0;
    for (jv e = jfirst(jget(a, "items"), NULL); e != NULL; e = jnext(e, NULL)) {
        char held[24];
        double dom = jnum(e, "dominator");
        jv root = jget(e, "root");
        if (dom >= 0) snprintf(held, sizeof held, "#%.0f", dom + 1);
        else snprintf(held, sizeof held, "%s", root != NULL && *root == 't' ? "root" : "-");
        fmt_size(jnum(e, "retained_size"), 0, b1, sizeof b1);
        fmt_size(jnum(e, "self_size"), 0, b2, sizeof b2);
        printf("%3d %10s %8.0f %10s  %-7s  <%s %s>", ++k, b1, jnum(e, "retained_objects"),
               b2, held, jstr(e, "type"), jstr(e, "address"));
        const char *label = jstr(e, "label");
        if (label != NULL && *label) printf(" \"%s\"", label);
        printf("\n");
    }
    printf("\n    retained        self     count  type\n");
    for (jv e = jfirst(jget(a, "types"), NULL); e != NULL; e = jnext(e, NULL)) {
        fmt_size(jnum(e, "retained_size"), 0, b1, sizeof b1);
        fmt_size(jnum(e, "self_size"), 0, b2, sizeof b2);
        printf("%12s%12s %9.0f  %s\n", b1, b2, jnum(e, "count"), jstr(e, "type"));
    }
}

static void print_counts(jv a)
{
    jv items = jget(a, "items");
    size_t w = 4;
    for (jv e = jfirst(items, NULL); e != NULL && w < 60; e = jnext(e, NULL)) {
        size_t l = strlen(jstr(e, "type"));
        if (l > w) w = l;
    }
    if (w > 60) w = 60;
    printf("%.0f tracked objects of %.0f types\n", jnum(a, "total"), jnum(a, "types"));
    printf("%-*s %10s\n", (int)w, "type", "count");
    for (jv e = jfirst(items, NULL); e != NULL; e = jnext(e, NULL))
        printf("%-*s %10.0f\n", (int)w, jstr(e, "type"), jnum(e, "count"));
}

static void print_trace(jv a)
{
    char s[32];
    fmt_size(jnum(a, "size_diff"), 1, s, sizeof s);
    printf("traced %.0f s (%s), by %s: %s in %+.0f blocks, %.0f groups changed\n",
           jnum(a, "seconds"), jstr(a, "tracer"), jstr(a, "by"), s,
           jnum(a, "count_diff"), jnum(a, "groups_changed"));
    jv st = jget(a, "stats");
    if (jfirst(st, NULL) == NULL) {
        printf("  (no growth)\n");
        return;
    }
    for (jv e = jfirst(st, NULL); e != NULL; e = jnext(e, NULL)) {
        jv tb = jget(e, "traceback");
        if (tb != NULL && *tb == '[') {
            char sz[32];
            fmt_size(jnum(e, "size_diff"), 1, sz, sizeof sz);
            printf("  %s in %+.0f blocks:\n", sz, jnum(e, "count_diff"));
            for (jv fr = jfirst(tb, NULL); fr != NULL; fr = jnext(fr, NULL))
                printf("    %s:%.0f%s%s\n", jstr(fr, "file"), jnum(fr, "line"),
                       jget(fr, "function") ? " in " : "", jstr(fr, "function"));
        } else {
            printf("  %s\n", jstr(e, "text"));
        }
    }
}

static void print_chain(jv ch)
{
    size_t k = 0;
    for (jv l = jfirst(ch, NULL); l != NULL; l = jnext(l, NULL), k++) {
        if (jget(l, "omitted")) {
            printf("    ... %.0f links ...\n", jnum(l, "omitted"));
            continue;
        }
        const char *label = jstr(l, "label");
        printf("  %s %s%s%s (refcnt %.0f)%s%s\n", k == 0 ? "root" : "  ->",
               k == 0 ? "" : jstr(l, "edge"), k == 0 ? "" : " ", jstr(l, "type"),
               jnum(l, "refcnt"), label[0] ? "  " : "", label);
    }
}

static void print_why(jv a)
{
    printf("%.0f tracked objects of type %s; %.0f shown\n", jnum(a, "objects"),
           jstr(a, "type"), jnum(a, "shown"));
    for (jv r = jfirst(jget(a, "results"), NULL); r != NULL; r = jnext(r, NULL)) {
        if (jget(r, "error")) {
            printf("%s: %s\n", jstr(r, "object"), jstr(r, "error"));
            continue;
        }
        if (strcmp(jstr(r, "status"), "unreachable") == 0) {
            printf("%s: unreachable: garbage the next collection frees\n",
                   jstr(r, "object"));
            continue;
        }
        printf("%s: a chain of %.0f from a root held by %.0f outside reference(s)\n",
               jstr(r, "object"), jnum(r, "length"), jnum(r, "root_external"));
        print_chain(jget(r, "chain"));
    }
}

static void print_other(jv a)
{
    jv m = jget(a, "message");
    if (m != NULL && *m == '"') {
        printf("%s\n", jtext(m));
        return;
    }
    const char *key;
    for (jv v = jfirst(a, &key); v != NULL; v = jnext(v, &key)) {
        const char *k = jtext(key);
        if (strcmp(k, "ok") == 0) continue;
        if (*v == '"') printf("%s: %s\n", k, jtext(v));
        else if (*v == 't' || *v == 'f') printf("%s: %s\n", k, *v == 't' ? "true" : "false");
        else if (*v == '-' || (*v >= '0' && *v <= '9')) printf("%s: %.0f\n", k, jnumv(v));
        else if (*v == '[') {
            printf("%s:\n", k);
            for (jv e = jfirst(v, NULL); e != NULL; e = jnext(e, NULL))
                if (*e == '"') printf("  %s\n", jtext(e));
        }
    }
}

/* ---- the exchange ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) return 0;
        struct pollfd pfd = {fd, events, 0};
        /* at most a minute per poll: the millisecond count fits an int
         * whatever the deadline; the loop waits the rest */
        double ms = left * 1000 + 1;
        int r = poll(&pfd, 1, ms > 60000 ? 60000 : (int)ms);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

/* Refuse a server that does not run as the expected uid, before anything
 * is sent to it: a process of another user that created the socket path
 * first would get the token otherwise. */
static void check_server(int fd, const char *path, uid_t want)
{
    struct ucred cr;
    socklen_t n = sizeof cr;
    memset(&cr, 0, sizeof cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) != 0 || n != sizeof cr)
        die(3, "%s: cannot read the server's credentials (%s): refusing to "
            "send the token", path, n != sizeof cr ? "short answer" : strerror(errno));
    if (cr.uid != want)
        die(3, "%s: the server runs as uid %lu, not %lu: refusing to send the "
            "token (--server-uid %lu if that user is expected)",
            path, (unsigned long)cr.uid, (unsigned long)want, (unsigned long)cr.uid);
}

/* The answer, read until the server closes, into one buffer of at most
 * max bytes (NUL-terminated); *len its length. */
static char *read_answer(int fd, const char *path, double deadline, double timeout,
                         size_t max, size_t *len)
{
    size_t n = 0, cap = 65536 < max + 1 ? 65536 : max + 1;
    char *b = malloc(cap);
    if (b == NULL) die(3, "out of memory");
    for (;;) {
        if (n + 1 == cap && cap < max + 1) {
            cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            char *p = realloc(b, cap);
            if (p == NULL) die(3, "out of memory for a %zu-byte answer", cap);
            b = p;
        }
        int full = n + 1 == cap; /* max bytes: one more is one too many */
        char extra;
        ssize_t r = full ? recv(fd, &extra, 1, 0) : recv(fd, b + n, cap - 1 - n, 0);
        if (r > 0 && full)
            die(3, "%s: the answer is larger than %zu bytes (--max-answer)", path, max);
        if (r > 0) {
            n += (size_t)r;
            continue;
        }
        if (r == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w == 0) die(3, "%s: no answer within %.0f s", path, timeout);
            if (w < 0) die(3, "poll: %s", strerror(errno));
            continue;
        }
        if (n > 0) break; /* reset after a complete answer */
        die(3, "%s: %s", path, strerror(errno));
    }
    b[n] = 0;
    *len = n;
    return b;
}

struct ctl_opts {
    int json;
    uid_t server_uid;
    size_t max_answer;
    double timeout;
};

static char *exchange(const char *path, const sbuf *req, const struct ctl_opts *o,
                      size_t *len)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        die(2, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) die(3, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    double deadline = now_s() + o->timeout;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EAGAIN)
            die(3, "%s: the server's backlog is full; try again", path);
        die(3, "cannot connect to %s: %s", path, strerror(errno));
    }
    check_server(fd, path, o->server_uid);
    size_t sent = 0;
    while (sent < req->len) {
        ssize_t w = send(fd, req->p + sent, req->len - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) die(3, "%s: timed out sending", path);
            continue;
        }
        /* the server may have answered (and closed) already: read it */
        break;
    }
    char *b = read_answer(fd, path, deadline, o->timeout, o->max_answer, len);
    close(fd);
    if (*len == 0) die(3, "%s: the server closed the connection without an answer", path);
    return b;
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) die(2, "%s: %s", path, strerror(errno));
    char line[1024];
    if (fgets(line, sizeof line, f) == NULL) die(2, "%s: empty token file", path);
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    char *t = strdup(line);
    if (t == NULL) die(3, "out of memory");
    return t;
}

static long parse_num(const char *s, const char *what, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *s == 0 || *end != 0 || v < 0 || v > max)
        die(2, "%s must be a number from 0 to %ld, not \"%s\"", what, max, s);
    return v;
}

/* --max-answer: bytes, with K, M or G (binary) after the number. */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (errno != 0 || *s < '0' || *s > '9' || *end != 0 || v > (MAX_ANSWER_MAX >> shift) ||
        (v << shift) < 4096)
        die(2, "--max-answer must be from 4096 bytes (4K) to 1G, not \"%s\"", s);
    return (size_t)(v << shift);
}

/* --server-uid: a number, or a user name. */
static uid_t parse_uid(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s >= '0' && *s <= '9' && *end == 0) {
        if (errno != 0 || v >= (unsigned long)(uid_t)-1)
            die(2, "--server-uid %s: not a uid", s);
        return (uid_t)v;
    }
    struct passwd *pw = getpwnam(s);
    if (pw == NULL) die(2, "--server-uid %s: no such user", s);
    return pw->pw_uid;
}

/* The options before and between the positional arguments (into o, *token,
 * *by, pos[*npos]). */
static void parse_args(int argc, char **argv, struct ctl_opts *o, char **token,
                       const char **by, const char **pos, int *npos)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", RCGC_VERSION_STRING);
            exit(0);
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        static const char *const valued[] = {"--token", "--token-file", "--by", "--timeout",
                                             "--server-uid", "--max-answer"};
        int k = -1;
        for (int j = 0; j < 6; j++)
            if (strcmp(a, valued[j]) == 0) k = j;
        if (k >= 0) {
            if (i + 1 >= argc) die(2, "%s needs a value", a);
            const char *v = argv[++i];
            if (k <= 1) {
                free(*token);
                *token = k == 0 ? strdup(v) : read_token_file(v);
                if (*token == NULL) die(3, "out of memory");
            } else if (k == 2) {
                *by = v;
            } else if (k == 3) {
                o->timeout = (double)parse_num(v, "--timeout", TIMEOUT_MAX);
                if (o->timeout < 1) o->timeout = 1;
            } else if (k == 4) {
                o->server_uid = parse_uid(v);
            } else {
                o->max_answer = parse_size(v);
            }
            continue;
        }
        if (a[0] == '-' && a[1] == '-') die(2, "unknown option %s (%s --help)", a, PROG);
        if (*npos == 8) die(2, "too many arguments");
        pos[(*npos)++] = a;
    }
}

/* The request for cmd and its arguments (the token added by the caller);
 * a trace window's seconds are added to o->timeout. */
static void build_request(sbuf *req, const char *cmd, const char *const *args,
                          int nargs, const char *by, struct ctl_opts *o)
{
    sb_lit(req, "{\"cmd\":");
    sb_str(req, cmd);
#define MAXARGS(n)                                                            \
    do {                                                                      \
        if (nargs > (n)) die(2, "%s takes at most %d argument(s)", cmd, (n)); \
    } while (0)
    char num[32];
    if (strcmp(cmd, "counts") == 0) {
        MAXARGS(1);
        if (nargs == 1) {
            snprintf(num, sizeof num, ",\"top\":%ld", parse_num(args[0], "TOP", NUM_MAX));
            sb_lit(req, num);
        }
    } else if (strcmp(cmd, "trace") == 0) {
        MAXARGS(2);
        if (nargs < 1) die(2, "trace needs SECONDS");
        long sec = parse_num(args[0], "SECONDS", TRACE_MAX);
        snprintf(num, sizeof num, ",\"seconds\":%ld", sec);
        sb_lit(req, num);
        o->timeout += (double)sec;
        if (nargs == 2) {
            snprintf(num, sizeof num, ",\"top\":%ld", parse_num(args[1], "TOP", NUM_MAX));
            sb_lit(req, num);
        }
        if (by != NULL) {
            sb_lit(req, ",\"by\":");
            sb_str(req, by);
        }
    } else if (strcmp(cmd, "retained") == 0) {
        MAXARGS(1);
        if (nargs == 1) {
            snprintf(num, sizeof num, ",\"top\":%ld", parse_num(args[0], "TOP", NUM_MAX));
            sb_lit(req, num);
        }
    } else if (strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "heapsnapshot") == 0) {
        MAXARGS(1);
        if (nargs < 1) die(2, "%s needs NAME", cmd);
        sb_lit(req, ",\"path\":");
        sb_str(req, args[0]);
    } else if (strcmp(cmd, "why") == 0) {
        MAXARGS(2);
        if (nargs < 1) die(2, "why needs TYPE");
        sb_lit(req, ",\"type\":");
        sb_str(req, args[0]);
        if (nargs == 2) {
            snprintf(num, sizeof num, ",\"limit\":%ld", parse_num(args[1], "LIMIT", NUM_MAX));
            sb_lit(req, num);
        }
    } else if (strcmp(cmd, "ping") == 0 || strcmp(cmd, "stats") == 0 ||
               strcmp(cmd, "alloc") == 0 || strcmp(cmd, "help") == 0) {
        MAXARGS(0);
    } else {
        MAXARGS(1);
        if (nargs == 1) {
            sb_lit(req, ",\"arg\":");
            sb_str(req, args[0]);
        }
    }
#undef MAXARGS
    if (by != NULL && strcmp(cmd, "trace") != 0) die(2, "--by is for trace only");
}

/* The answer (checked) as the command's table, or its error on stderr. */
static void print_table(const char *cmd, jv a, int good)
{
    if (!good) fprintf(stderr, PROG ": server: %s\n", jstr(a, "error"));
    else if (strcmp(cmd, "stats") == 0) print_stats(a);
    else if (strcmp(cmd, "alloc") == 0) print_alloc(a);
    else if (strcmp(cmd, "counts") == 0) print_counts(a);
    else if (strcmp(cmd, "trace") == 0) print_trace(a);
    else if (strcmp(cmd, "why") == 0) print_why(a);
    else if (strcmp(cmd, "retained") == 0) print_retained(a);
    else if (strcmp(cmd, "snapshot") == 0)
        printf("wrote %s (%.0f traces)\n", jstr(a, "path"), jnum(a, "traces"));
    else if (strcmp(cmd, "heapsnapshot") == 0)
        printf("wrote %s (%.0f tracked objects): open it in Chrome DevTools "
               "(Memory, Load) or memlab\n", jstr(a, "path"), jnum(a, "objects"));
    else if (strcmp(cmd, "ping") == 0)
        printf("pong: pid %.0f, rcgc %s\n", jnum(a, "pid"), jstr(a, "version"));
    else print_other(a);
}

int main(int argc, char **argv)
{
    struct ctl_opts o = {0, geteuid(), MAX_ANSWER_DEFAULT, 10};
    char *token = NULL;
    const char *by = NULL;
    const char *pos[8];
    int npos = 0;
    parse_args(argc, argv, &o, &token, &by, pos, &npos);
    if (npos < 2) {
        fprintf(stderr, "usage: rcgc-ctl [options] SOCKET COMMAND [ARGS]  (rcgc-ctl --help)\n");
        return 2;
    }
    if (token == NULL) {
        const char *e = getenv("RCGC_CTL_TOKEN");
        if (e == NULL || e[0] == 0)
            die(2, "no token: give --token, --token-file or RCGC_CTL_TOKEN");
        token = strdup(e);
        if (token == NULL) die(3, "out of memory");
    }
    const char *sock = pos[0], *cmd = pos[1];
    sbuf req = {0};
    build_request(&req, cmd, pos + 2, npos - 2, by, &o);
    sb_lit(&req, ",\"token\":");
    sb_str(&req, token);
    sb_lit(&req, "}\n");
    memset(token, 0, strlen(token));
    free(token);
    if (req.len > 4096) die(2, "the request is longer than 4096 bytes");

    size_t len;
    char *ans = exchange(sock, &req, &o, &len);
    memset(req.p, 0, req.len); /* the token */
    free(req.p);
    const char *p = ans;
    if (jcheck(&p, ans + len, 0) != 0 || jws(p) != ans + len || *jws(ans) != '{') {
        char head[201];
        snprintf(head, sizeof head, "%s", ans);
        tty_safe(head);
        fprintf(stderr, PROG ": %s: unreadable answer: %s\n", sock, head);
        free(ans);
        return 3;
    }
    jv a = jws(ans);
    jv ok = jget(a, "ok");
    int good = ok != NULL && *ok == 't';
    if (o.json) {
        print_json_safe(ans, len);
        if (!good) fprintf(stderr, PROG ": server: %s\n", jstr(a, "error"));
    } else {
        print_table(cmd, a, good);
    }
    jtext_free();
    free(ans);
    return good ? 0 : 1;
}
