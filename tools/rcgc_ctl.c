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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
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
#define MAX_ANSWER ((size_t)1 << 30)

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
    "  help                       the server's command list\n"
    "  OTHER [ARG]                a command of the program's own\n"
    "\n"
    "options:\n"
    "  --json                     print the server's JSON answer as it is\n"
    "  --token TOKEN              the server's token (visible to other\n"
    "                             users in ps and /proc/PID/cmdline: prefer\n"
    "                             --token-file or $RCGC_CTL_TOKEN)\n"
    "  --token-file FILE          read it from FILE (its first line)\n"
    "                             (else: $RCGC_CTL_TOKEN)\n"
    "  --by lineno|filename|traceback   trace: how to group (lineno)\n"
    "  --timeout SECONDS          give up after this long (10, plus the\n"
    "                             trace window)\n"
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

/* ---- a small JSON reader for the answers ---- */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    enum jt t;
    double num;            /* J_NUM, J_BOOL */
    char *str;             /* J_STR */
    struct jv *items;      /* J_ARR, J_OBJ */
    char **keys;           /* J_OBJ */
    size_t n;
} jv;

typedef struct jp {
    const char *s;
    size_t i, n;
    int depth;
} jp;

static void jws(jp *p)
{
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) != NULL && p->s[p->i]) p->i++;
}

static int jhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int jstring(jp *p, char **out)
{
    sbuf b = {0};
    if (p->i >= p->n || p->s[p->i] != '"') return -1;
    p->i++;
    for (;;) {
        if (p->i >= p->n) goto bad;
        char c = p->s[p->i++];
        if (c == '"') break;
        if (c != '\\') {
            sb_add(&b, &c, 1);
            continue;
        }
        if (p->i >= p->n) goto bad;
        c = p->s[p->i++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = c ? strchr(from, c) : NULL;
        if (k != NULL) {
            sb_add(&b, to + (k - from), 1);
            continue;
        }
        if (c != 'u' || p->n - p->i < 4) goto bad;
        unsigned v = 0;
        for (int j = 0; j < 4; j++) {
            int h = jhex(p->s[p->i++]);
            if (h < 0) goto bad;
            v = v << 4 | (unsigned)h;
        }
        if (v >= 0xD800 && v <= 0xDBFF && p->n - p->i >= 6 && p->s[p->i] == '\\' &&
            p->s[p->i + 1] == 'u') {
            unsigned lo = 0;
            for (int j = 0; j < 4; j++) {
                int h = jhex(p->s[p->i + 2 + (size_t)j]);
                if (h < 0) goto bad;
                lo = lo << 4 | (unsigned)h;
            }
            p->i += 6;
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        char t[4];
        size_t tn = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
        static const unsigned char lead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
        t[0] = (char)(lead[tn] | (v >> (6 * (tn - 1))));
        for (size_t m = 1; m < tn; m++)
            t[m] = (char)(0x80 | ((v >> (6 * (tn - 1 - m))) & 0x3F));
        sb_add(&b, t, tn);
    }
    if (b.p == NULL) sb_add(&b, "", 0);
    *out = b.p;
    return 0;
bad:
    free(b.p);
    return -1;
}

/* Make a server string safe for a terminal, in place: control bytes
 * (0x00-0x1f), DEL and the C1 controls (U+0080-U+009F, as UTF-8) become
 * '?', so that a type or file name cannot send escape sequences.  Only
 * for the table output: --json prints the answer exactly as it came. */
static void tty_safe(char *s)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        if (*r < 0x20 || *r == 0x7f) {
            *w++ = '?';
            r++;
        } else if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f) {
            *w++ = '?';
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

static void jsafe(jv *v)
{
    if (v->t == J_STR) tty_safe(v->str);
    if (v->t == J_ARR || v->t == J_OBJ)
        for (size_t i = 0; i < v->n; i++) {
            jsafe(&v->items[i]);
            if (v->keys) tty_safe(v->keys[i]);
        }
}

static void jfree(jv *v)
{
    if (v->t == J_STR) free(v->str);
    if (v->t == J_ARR || v->t == J_OBJ) {
        for (size_t i = 0; i < v->n; i++) {
            jfree(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

static int jvalue(jp *p, jv *v);

static int jpush(jv *v, const jv *item, char *key)
{
    jv *items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (items == NULL) return -1;
    v->items = items;
    if (v->t == J_OBJ) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
        if (keys == NULL) return -1;
        v->keys = keys;
        keys[v->n] = key;
    }
    items[v->n++] = *item;
    return 0;
}

static int jvalue(jp *p, jv *v)
{
    memset(v, 0, sizeof *v);
    jws(p);
    if (p->i >= p->n || ++p->depth > 64) return -1;
    char c = p->s[p->i];
    int r = 0;
    if (c == '"') {
        v->t = J_STR;
        r = jstring(p, &v->str);
    } else if (c == '{' || c == '[') {
        v->t = c == '{' ? J_OBJ : J_ARR;
        char close = c == '{' ? '}' : ']';
        p->i++;
        jws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
        } else {
            for (;;) {
                char *key = NULL;
                jv item;
                jws(p);
                if (v->t == J_OBJ) {
                    if (jstring(p, &key) != 0) return -1;
                    jws(p);
                    if (p->i >= p->n || p->s[p->i] != ':') { free(key); return -1; }
                    p->i++;
                }
                if (jvalue(p, &item) != 0 || jpush(v, &item, key) != 0) {
                    free(key);
                    jfree(&item);
                    return -1;
                }
                jws(p);
                if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
                if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
                return -1;
            }
        }
    } else if (p->n - p->i >= 4 && strncmp(p->s + p->i, "null", 4) == 0) {
        p->i += 4;
    } else if (p->n - p->i >= 4 && strncmp(p->s + p->i, "true", 4) == 0) {
        v->t = J_BOOL, v->num = 1, p->i += 4;
    } else if (p->n - p->i >= 5 && strncmp(p->s + p->i, "false", 5) == 0) {
        v->t = J_BOOL, p->i += 5;
    } else {
        char *end;
        v->t = J_NUM;
        v->num = strtod(p->s + p->i, &end);
        if (end == p->s + p->i) return -1;
        p->i = (size_t)(end - p->s);
    }
    p->depth--;
    return r;
}

static const jv *jget(const jv *o, const char *key)
{
    if (o == NULL || o->t != J_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

static double jnum(const jv *o, const char *key)
{
    const jv *v = jget(o, key);
    return v != NULL && (v->t == J_NUM || v->t == J_BOOL) ? v->num : 0;
}

static const char *jstr(const jv *o, const char *key)
{
    const jv *v = jget(o, key);
    return v != NULL && v->t == J_STR ? v->str : "";
}

/* ---- tables ---- */

static void fmt_size(double v, int sign, char *buf, size_t n)
{
    rcgc_format_size(v, sign, buf, n);
}

static void print_stats(const jv *a)
{
    const jv *rt = jget(a, "runtime"), *gc = jget(a, "gc"), *tr = jget(a, "tracer");
    const jv *sv = jget(a, "server");
    printf("pid %.0f\n", jnum(a, "pid"));
    printf("objects     %.0f (peak %.0f), tracked %.0f, allocated since start %.0f\n",
           jnum(rt, "objects"), jnum(rt, "objects_peak"), jnum(rt, "tracked"),
           jnum(rt, "allocations"));
    const jv *cnt = jget(gc, "count"), *thr = jget(gc, "threshold");
    if (cnt && thr && cnt->t == J_ARR && thr->t == J_ARR && cnt->n == 3 && thr->n == 3)
        printf("collector   %s, %s; count %.0f %.0f %.0f, threshold %.0f %.0f %.0f\n",
               jnum(gc, "enabled") ? "enabled" : "disabled", jstr(gc, "mode"),
               cnt->items[0].num, cnt->items[1].num, cnt->items[2].num,
               thr->items[0].num, thr->items[1].num, thr->items[2].num);
    printf("            garbage %.0f, frozen %.0f\n", jnum(gc, "garbage"), jnum(gc, "frozen"));
    const jv *gens = jget(gc, "generations");
    if (gens && gens->t == J_ARR) {
        printf("  %-4s %12s %12s %14s %12s\n", "gen", "collections", "collected",
               "uncollectable", "time ms");
        for (size_t g = 0; g < gens->n; g++)
            printf("  %-4zu %12.0f %12.0f %14.0f %12.3f\n", g,
                   jnum(&gens->items[g], "collections"), jnum(&gens->items[g], "collected"),
                   jnum(&gens->items[g], "uncollectable"),
                   jnum(&gens->items[g], "total_ns") / 1e6);
    }
    char c[32], p[32], o[32];
    fmt_size(jnum(tr, "current"), 0, c, sizeof c);
    fmt_size(jnum(tr, "peak"), 0, p, sizeof p);
    fmt_size(jnum(tr, "overhead"), 0, o, sizeof o);
    printf("tracer      %s; traced %s (peak %s), overhead %s\n",
           jnum(tr, "tracing") ? "tracing" : "off", c, p, o);
    printf("server      %.0f connections, %.0f answers, refused: %.0f full, %.0f "
           "peer, %.0f token; %.0f bad requests, %.0f dropped\n",
           jnum(sv, "accepted"), jnum(sv, "answered"), jnum(sv, "refused_full"),
           jnum(sv, "refused_peer"), jnum(sv, "refused_token"),
           jnum(sv, "bad_requests"), jnum(sv, "dropped"));
}

static void print_alloc(const jv *a)
{
    const jv *hb = jget(a, "heap_blocks"), *pm = jget(a, "pymalloc");
    printf("live blocks: raw %.0f, mem %.0f, obj %.0f\n", jnum(hb, "raw"),
           jnum(hb, "mem"), jnum(hb, "obj"));
    if (pm == NULL || pm->t != J_OBJ) {
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
    const jv *cl = jget(pm, "classes");
    if (cl == NULL || cl->t != J_ARR) return;
    printf("%6s %8s %14s %14s\n", "size", "pools", "blocks in use", "avail blocks");
    for (size_t i = 0; i < cl->n; i++)
        printf("%6.0f %8.0f %14.0f %14.0f\n", jnum(&cl->items[i], "size"),
               jnum(&cl->items[i], "pools"), jnum(&cl->items[i], "blocks_in_use"),
               jnum(&cl->items[i], "blocks_avail"));
}

static void print_counts(const jv *a)
{
    const jv *items = jget(a, "items");
    size_t w = 4;
    for (size_t i = 0; items && items->t == J_ARR && i < items->n; i++) {
        size_t l = strlen(jstr(&items->items[i], "type"));
        if (l > w) w = l;
    }
    if (w > 60) w = 60;
    printf("%.0f tracked objects of %.0f types\n", jnum(a, "total"), jnum(a, "types"));
    printf("%-*s %10s\n", (int)w, "type", "count");
    for (size_t i = 0; items && items->t == J_ARR && i < items->n; i++)
        printf("%-*s %10.0f\n", (int)w, jstr(&items->items[i], "type"),
               jnum(&items->items[i], "count"));
}

static void print_trace(const jv *a)
{
    char s[32];
    fmt_size(jnum(a, "size_diff"), 1, s, sizeof s);
    printf("traced %.0f s (%s), by %s: %s in %+.0f blocks, %.0f groups changed\n",
           jnum(a, "seconds"), jstr(a, "tracer"), jstr(a, "by"), s,
           jnum(a, "count_diff"), jnum(a, "groups_changed"));
    const jv *st = jget(a, "stats");
    if (st == NULL || st->t != J_ARR || st->n == 0) {
        printf("  (no growth)\n");
        return;
    }
    for (size_t i = 0; i < st->n; i++) {
        const jv *e = &st->items[i];
        const jv *tb = jget(e, "traceback");
        if (tb != NULL && tb->t == J_ARR) {
            char sz[32];
            fmt_size(jnum(e, "size_diff"), 1, sz, sizeof sz);
            printf("  %s in %+.0f blocks:\n", sz, jnum(e, "count_diff"));
            for (size_t f = 0; f < tb->n; f++) {
                const jv *fr = &tb->items[f];
                printf("    %s:%.0f%s%s\n", jstr(fr, "file"), jnum(fr, "line"),
                       jget(fr, "function") ? " in " : "", jstr(fr, "function"));
            }
        } else {
            printf("  %s\n", jstr(e, "text"));
        }
    }
}

static void print_why(const jv *a)
{
    printf("%.0f tracked objects of type %s; %.0f shown\n", jnum(a, "objects"),
           jstr(a, "type"), jnum(a, "shown"));
    const jv *res = jget(a, "results");
    for (size_t i = 0; res && res->t == J_ARR && i < res->n; i++) {
        const jv *r = &res->items[i];
        if (jget(r, "error")) {
            printf("%s: %s\n", jstr(r, "object"), jstr(r, "error"));
            continue;
        }
        const jv *ch = jget(r, "chain");
        if (strcmp(jstr(r, "status"), "unreachable") == 0) {
            printf("%s: unreachable: garbage the next collection frees\n",
                   jstr(r, "object"));
            continue;
        }
        printf("%s: a chain of %.0f from a root held by %.0f outside reference(s)\n",
               jstr(r, "object"), jnum(r, "length"), jnum(r, "root_external"));
        for (size_t k = 0; ch && ch->t == J_ARR && k < ch->n; k++) {
            const jv *l = &ch->items[k];
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
}

static void print_other(const jv *a)
{
    const jv *m = jget(a, "message");
    if (m != NULL && m->t == J_STR) {
        printf("%s\n", m->str);
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        const jv *v = &a->items[i];
        if (strcmp(a->keys[i], "ok") == 0) continue;
        if (v->t == J_STR) printf("%s: %s\n", a->keys[i], v->str);
        else if (v->t == J_NUM) printf("%s: %.0f\n", a->keys[i], v->num);
        else if (v->t == J_BOOL) printf("%s: %s\n", a->keys[i], v->num ? "true" : "false");
        else if (v->t == J_ARR) {
            printf("%s:\n", a->keys[i]);
            for (size_t k = 0; k < v->n; k++)
                if (v->items[k].t == J_STR) printf("  %s\n", v->items[k].str);
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
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

static char *exchange(const char *path, const sbuf *req, double timeout, size_t *len)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        die(2, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) die(3, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    double deadline = now_s() + timeout;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EAGAIN)
            die(3, "%s: the server's backlog is full; try again", path);
        die(3, "cannot connect to %s: %s", path, strerror(errno));
    }
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
    sbuf b = {0};
    for (;;) {
        char buf[65536];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
            if (b.len + (size_t)r > MAX_ANSWER) die(3, "%s: answer too large", path);
            sb_add(&b, buf, (size_t)r);
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
        if (b.len > 0) break; /* reset after a complete answer */
        die(3, "%s: %s", path, strerror(errno));
    }
    close(fd);
    if (b.len == 0) die(3, "%s: the server closed the connection without an answer", path);
    *len = b.len;
    return b.p;
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

static long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *s == 0 || *end != 0 || v < 0 || v > 999999999)
        die(2, "%s must be a number from 0 to 999999999, not \"%s\"", what, s);
    return v;
}

int main(int argc, char **argv)
{
    int json = 0;
    char *token = NULL;
    const char *by = NULL;
    double timeout = 10;
    const char *pos[8];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", RCGC_VERSION_STRING);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--token") == 0 || strcmp(a, "--token-file") == 0 ||
            strcmp(a, "--by") == 0 || strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc) die(2, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--token") == 0) {
                free(token);
                token = strdup(v);
            } else if (strcmp(a, "--token-file") == 0) {
                free(token);
                token = read_token_file(v);
            } else if (strcmp(a, "--by") == 0) {
                by = v;
            } else {
                timeout = (double)parse_num(v, "--timeout");
                if (timeout < 1) timeout = 1;
            }
            continue;
        }
        if (a[0] == '-' && a[1] == '-') die(2, "unknown option %s (%s --help)", a, PROG);
        if (npos == (int)(sizeof pos / sizeof pos[0])) die(2, "too many arguments");
        pos[npos++] = a;
    }
    if (npos < 2) {
        fprintf(stderr, "usage: rcgc-ctl [options] SOCKET COMMAND [ARGS]  (rcgc-ctl --help)\n");
        return 2;
    }
    if (token == NULL) {
        const char *e = getenv("RCGC_CTL_TOKEN");
        if (e == NULL || e[0] == 0)
            die(2, "no token: give --token, --token-file or RCGC_CTL_TOKEN");
        token = strdup(e);
    }
    if (token == NULL) die(3, "out of memory");
    const char *sock = pos[0], *cmd = pos[1];
    int nargs = npos - 2;
    const char *const *args = pos + 2;
    sbuf req = {0};
    sb_lit(&req, "{\"cmd\":");
    sb_str(&req, cmd);
#define MAXARGS(n)                                                            \
    do {                                                                      \
        if (nargs > (n)) die(2, "%s takes at most %d argument(s)", cmd, (n)); \
    } while (0)
    char num[32];
    if (strcmp(cmd, "counts") == 0) {
        MAXARGS(1);
        if (nargs == 1) {
            snprintf(num, sizeof num, ",\"top\":%ld", parse_num(args[0], "TOP"));
            sb_lit(&req, num);
        }
    } else if (strcmp(cmd, "trace") == 0) {
        MAXARGS(2);
        if (nargs < 1) die(2, "trace needs SECONDS");
        long sec = parse_num(args[0], "SECONDS");
        snprintf(num, sizeof num, ",\"seconds\":%ld", sec);
        sb_lit(&req, num);
        timeout += (double)sec;
        if (nargs == 2) {
            snprintf(num, sizeof num, ",\"top\":%ld", parse_num(args[1], "TOP"));
            sb_lit(&req, num);
        }
        if (by != NULL) {
            sb_lit(&req, ",\"by\":");
            sb_str(&req, by);
        }
    } else if (strcmp(cmd, "snapshot") == 0) {
        MAXARGS(1);
        if (nargs < 1) die(2, "snapshot needs NAME");
        sb_lit(&req, ",\"path\":");
        sb_str(&req, args[0]);
    } else if (strcmp(cmd, "why") == 0) {
        MAXARGS(2);
        if (nargs < 1) die(2, "why needs TYPE");
        sb_lit(&req, ",\"type\":");
        sb_str(&req, args[0]);
        if (nargs == 2) {
            snprintf(num, sizeof num, ",\"limit\":%ld", parse_num(args[1], "LIMIT"));
            sb_lit(&req, num);
        }
    } else if (strcmp(cmd, "ping") == 0 || strcmp(cmd, "stats") == 0 ||
               strcmp(cmd, "alloc") == 0 || strcmp(cmd, "help") == 0) {
        MAXARGS(0);
    } else {
        MAXARGS(1);
        if (nargs == 1) {
            sb_lit(&req, ",\"arg\":");
            sb_str(&req, args[0]);
        }
    }
    if (by != NULL && strcmp(cmd, "trace") != 0) die(2, "--by is for trace only");
    sb_lit(&req, ",\"token\":");
    sb_str(&req, token);
    sb_lit(&req, "}\n");
    memset(token, 0, strlen(token));
    free(token);
    if (req.len > 4096) die(2, "the request is longer than 4096 bytes");

    size_t len;
    char *ans = exchange(sock, &req, timeout, &len);
    free(req.p);
    jp p = {ans, 0, len, 0};
    jv a;
    if (jvalue(&p, &a) != 0 || a.t != J_OBJ) {
        if (len > 200) ans[200] = 0;
        tty_safe(ans);
        fprintf(stderr, PROG ": %s: unreadable answer: %s\n", sock, ans);
        return 3;
    }
    jsafe(&a); /* what is printed from the tree goes to a terminal */
    const jv *ok = jget(&a, "ok");
    int good = ok != NULL && ok->t == J_BOOL && ok->num != 0;
    if (json) {
        fwrite(ans, 1, len, stdout);
        if (ans[len - 1] != '\n') putchar('\n');
    } else if (!good) {
        fprintf(stderr, PROG ": server: %s\n", jstr(&a, "error"));
    } else if (strcmp(cmd, "stats") == 0) {
        print_stats(&a);
    } else if (strcmp(cmd, "alloc") == 0) {
        print_alloc(&a);
    } else if (strcmp(cmd, "counts") == 0) {
        print_counts(&a);
    } else if (strcmp(cmd, "trace") == 0) {
        print_trace(&a);
    } else if (strcmp(cmd, "why") == 0) {
        print_why(&a);
    } else if (strcmp(cmd, "snapshot") == 0) {
        printf("wrote %s (%.0f traces)\n", jstr(&a, "path"), jnum(&a, "traces"));
    } else if (strcmp(cmd, "ping") == 0) {
        printf("pong: pid %.0f, rcgc %s\n", jnum(&a, "pid"), jstr(&a, "version"));
    } else {
        print_other(&a);
    }
    if (json && !good) fprintf(stderr, PROG ": server: %s\n", jstr(&a, "error"));
    jfree(&a);
    free(ans);
    return good ? 0 : 1;
}
