/*
 * serve.c - the live diagnostics endpoint (include/rcgc_serve.h,
 * docs/serve.md): a Unix domain socket, an epoll set holding it and the
 * clients, and a state machine per client, all driven by rcgc_serve_poll.
 *
 *   client      FREE -> READ (request being received; deadline)
 *                    -> TRACE (a "trace" window is open for it)
 *                    -> WRITE (answer being sent; deadline without progress,
 *                       capped by one for the whole answer)
 *                    -> closed.  One request per connection.
 *   trace       one window at a time: tracer started if it was off, a
 *               snapshot, then at the deadline a second snapshot, the
 *               comparison, the tracer stopped again if the window started
 *               it.  A client that hangs up cancels its window.
 *
 * The server's memory (its state, the clients, every answer) comes from the
 * runtime's raw base allocator: never a traced domain, so a window does not
 * see the server itself.  The commands' own work (counts, why-alive) uses
 * the library's functions, which allocate from the MEM domain and free
 * before returning.
 */
#define _GNU_SOURCE /* accept4, SO_PEERCRED, struct ucred, getrandom */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "rcgc_diag.h"
#include "serve/serve_internal.h"

#define LISTENER_ID UINT32_MAX
#define ACCEPTS_PER_POLL 16
#define EVENTS_PER_POLL 16
#define TOKEN_MIN 8
#define TOKEN_MAX 256
#define SNAPSHOT_NAME_MAX 128
#define WHY_LIMIT_MAX 20
#define WHY_CHAIN_MAX 256
#define MAX_ALLOWED_UIDS 65536
#define ACCEPT_BACKOFF_NS 100000000u /* out of descriptors: 100 ms */

enum cstate { C_FREE = 0, C_READ, C_TRACE, C_WRITE };

typedef struct client {
    int fd;
    enum cstate st;
    unsigned events;      /* epoll interest now */
    uint64_t deadline;    /* READ, WRITE: ns (monotonic) */
    uint64_t drain_end;   /* WRITE: the whole answer must be out by then */
    size_t inlen;
    char in[RCGC_SERVE_MAX_REQUEST];
    jbuf out;             /* WRITE: the answer */
    size_t outpos;
} client;

struct trace_window {
    int active;
    int client;           /* its client's index, -1 for none (eval) */
    int we_started;       /* the window started the tracer */
    rcgc_snapshot *before;
    uint64_t deadline;
    long seconds, top;
    rcgc_stat_key key;
};

struct rcgc_serve {
    rcgc_runtime *rt;
    rcgc_allocator a;     /* the runtime's raw base allocator */
    rcgc_serve_config cfg; /* strings and arrays below are copies */
    int lfd, epfd;
    int sock_made;        /* we created the socket file: unlink at stop */
    dev_t sock_dev;
    ino_t sock_ino;
    int token_made;       /* we wrote the token file: unlink at stop */
    dev_t tok_dev;
    ino_t tok_ino;
    char token[TOKEN_MAX + 1];
    size_t token_len;
    client *clients;      /* cfg.max_clients slots */
    int nclients;
    struct trace_window tw;
    rcgc_serve_stats stats;
    int in_poll;          /* rcgc_serve_poll is running (no re-entry) */
    int stop_requested;   /* rcgc_serve_stop was called inside it */
    int accept_paused;    /* out of descriptors: the listener is out of
                             the epoll set until accept_resume or a
                             client slot closes */
    int slot_closed;      /* a client closed while accept_paused */
    uint64_t accept_resume;
};

/* bytes/s an answer must drain at, on average (tests lower it) */
uint64_t rcgc__serve_drain_rate = 65536;

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void *s_alloc(rcgc_serve *srv, size_t n)
{
    return srv->a.calloc(srv->a.ctx, 1, n);
}

static void s_free(rcgc_serve *srv, void *p)
{
    if (p != NULL) srv->a.free(srv->a.ctx, p);
}

static char *s_strdup(rcgc_serve *srv, const char *s)
{
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *p = srv->a.malloc(srv->a.ctx, n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

/* An error answer with a formatted message. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void answer_err(jbuf *b, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jb_error(b, msg);
}

static void begin_ok(jbuf *b, const char *cmd)
{
    jb_lit(b, "{\"ok\":true,\"cmd\":");
    jb_str(b, cmd);
}

/* Close the answer; a cut or failed one becomes an error answer. */
static void end_ok(rcgc_serve *srv, jbuf *b)
{
    jb_lit(b, "}\n");
    if (b->overflow)
        answer_err(b, "the answer is larger than max_response (%zu bytes): "
                      "ask for fewer entries (\"top\", \"limit\")",
                   srv->cfg.max_response);
    else if (b->nomem)
        jb_error(b, "out of memory while writing the answer");
}

/* ---- the commands ---- */

struct cmd_fields {
    const char *name;
    unsigned allowed; /* besides cmd and token */
};

static const struct cmd_fields commands[] = {
    {"ping", 0},
    {"help", 0},
    {"stats", 0},
    {"alloc", 0},
    {"counts", SERVE_F_TOP},
    {"trace", SERVE_F_SECONDS | SERVE_F_TOP | SERVE_F_BY},
    {"snapshot", SERVE_F_PATH},
    {"why", SERVE_F_TYPE | SERVE_F_LIMIT},
};

static const char *const field_names[] = {"cmd",  "token", "seconds",
                                          "top",  "by",    "type",
                                          "limit", "path", "arg"};

/* 0, or an error answer for a field the command does not take. */
static int check_fields(const serve_req *r, unsigned allowed, jbuf *out)
{
    unsigned extra = r->have & ~(allowed | SERVE_F_CMD | SERVE_F_TOKEN);
    for (unsigned k = 0; k < 9; k++)
        if (extra & (1u << k)) {
            answer_err(out, "\"%s\" does not take \"%s\"", r->cmd, field_names[k]);
            return -1;
        }
    return 0;
}

static void cmd_ping(jbuf *b)
{
    begin_ok(b, "ping");
    jb_key(b, "pid");
    jb_int(b, (long long)getpid());
    jb_key(b, "version");
    jb_str(b, RCGC_VERSION_STRING);
}

static void cmd_help(jbuf *b)
{
    begin_ok(b, "help");
    jb_key(b, "commands");
    jb_lit(b, "[\"ping\",\"help\",\"stats\",\"alloc\",\"counts [top]\","
              "\"trace seconds [top] [by]\",\"snapshot path\","
              "\"why type [limit]\"]");
}

static void cmd_stats(rcgc_serve *srv, jbuf *b)
{
    rcgc_runtime *rt = srv->rt;
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    begin_ok(b, "stats");
    jb_key(b, "pid");
    jb_int(b, (long long)getpid());
    jb_key(b, "runtime");
    jb_lit(b, "{");
    jb_key(b, "objects");
    jb_int(b, rs.objects);
    jb_key(b, "objects_peak");
    jb_int(b, rs.objects_peak);
    jb_key(b, "tracked");
    jb_int(b, rs.tracked);
    jb_key(b, "allocations");
    jb_int(b, rs.allocations);
    jb_key(b, "blocks");
    jb_int(b, rs.blocks);
    jb_lit(b, "}");

    int count[3], thr[3];
    rcgc_gc_get_count(rt, count);
    rcgc_gc_get_threshold(rt, thr);
    rcgc_gc_stats gs[RCGC_NUM_GENERATIONS];
    rcgc_gc_get_stats(rt, gs);
    jb_key(b, "gc");
    jb_lit(b, "{");
    jb_key(b, "enabled");
    jb_lit(b, rcgc_gc_isenabled(rt) ? "true" : "false");
    jb_key(b, "mode");
    jb_str(b, rt->mode == RCGC_GC_DEFERRED ? "deferred" : "sync");
    jb_key(b, "debug");
    jb_uint(b, rcgc_gc_get_debug(rt));
    jb_key(b, "count");
    jb_lit(b, "[");
    for (int g = 0; g < 3; g++) jb_sep(b), jb_int(b, count[g]);
    jb_lit(b, "]");
    jb_key(b, "threshold");
    jb_lit(b, "[");
    for (int g = 0; g < 3; g++) jb_sep(b), jb_int(b, thr[g]);
    jb_lit(b, "]");
    jb_key(b, "garbage");
    jb_int(b, rcgc_gc_garbage_size(rt));
    jb_key(b, "frozen");
    jb_int(b, rcgc_gc_get_freeze_count(rt));
    jb_key(b, "generations");
    jb_lit(b, "[");
    for (int g = 0; g < RCGC_NUM_GENERATIONS; g++) {
        jb_sep(b);
        jb_lit(b, "{");
        jb_key(b, "collections");
        jb_int(b, gs[g].collections);
        jb_key(b, "collected");
        jb_int(b, gs[g].collected);
        jb_key(b, "uncollectable");
        jb_int(b, gs[g].uncollectable);
        jb_key(b, "total_ns");
        jb_uint(b, gs[g].total_ns);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");

    size_t cur = 0, peak = 0;
    rcgc_trace_get_memory(rt, &cur, &peak);
    jb_key(b, "tracer");
    jb_lit(b, "{");
    jb_key(b, "tracing");
    jb_lit(b, rcgc_trace_is_tracing(rt) ? "true" : "false");
    jb_key(b, "current");
    jb_uint(b, cur);
    jb_key(b, "peak");
    jb_uint(b, peak);
    jb_key(b, "overhead");
    jb_uint(b, rcgc_trace_overhead(rt));
    jb_lit(b, "}");

    rcgc_heap *h = rcgc_runtime_heap(rt);
    jb_key(b, "heap_blocks");
    jb_lit(b, "{");
    jb_key(b, "raw");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_RAW));
    jb_key(b, "mem");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_MEM));
    jb_key(b, "obj");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ));
    jb_lit(b, "}");

    const rcgc_serve_stats *ss = &srv->stats;
    jb_key(b, "server");
    jb_lit(b, "{");
    jb_key(b, "accepted");
    jb_uint(b, ss->accepted);
    jb_key(b, "answered");
    jb_uint(b, ss->answered);
    jb_key(b, "refused_full");
    jb_uint(b, ss->refused_full);
    jb_key(b, "refused_peer");
    jb_uint(b, ss->refused_peer);
    jb_key(b, "refused_token");
    jb_uint(b, ss->refused_token);
    jb_key(b, "bad_requests");
    jb_uint(b, ss->bad_requests);
    jb_key(b, "dropped");
    jb_uint(b, ss->dropped);
    jb_key(b, "clients");
    jb_int(b, srv->nclients);
    jb_key(b, "trace_window");
    jb_lit(b, srv->tw.active ? "true" : "false");
    jb_lit(b, "}");
}

#define JB_FIELD(b, s, f)                                                     \
    do {                                                                      \
        jb_key((b), #f);                                                      \
        jb_uint((b), (unsigned long long)(s)->f);                             \
    } while (0)

static void cmd_alloc(rcgc_serve *srv, jbuf *b)
{
    rcgc_heap *h = rcgc_runtime_heap(srv->rt);
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(h);
    begin_ok(b, "alloc");
    jb_key(b, "heap_blocks");
    jb_lit(b, "{");
    jb_key(b, "raw");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_RAW));
    jb_key(b, "mem");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_MEM));
    jb_key(b, "obj");
    jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ));
    jb_lit(b, "}");
    jb_key(b, "pymalloc");
    if (pm == NULL) {
        jb_lit(b, "null");
        return;
    }
    rcgc_pymalloc_stats s;
    rcgc_pymalloc_get_stats(pm, &s);
    jb_lit(b, "{");
    JB_FIELD(b, &s, arenas_allocated_total);
    JB_FIELD(b, &s, arenas_reclaimed);
    JB_FIELD(b, &s, arenas_highwater);
    JB_FIELD(b, &s, arenas_current);
    JB_FIELD(b, &s, arenas_free);
    JB_FIELD(b, &s, arena_bytes);
    JB_FIELD(b, &s, allocated_bytes);
    JB_FIELD(b, &s, available_bytes);
    JB_FIELD(b, &s, unused_pools);
    JB_FIELD(b, &s, unused_pool_bytes);
    JB_FIELD(b, &s, pool_header_bytes);
    JB_FIELD(b, &s, quantization_bytes);
    JB_FIELD(b, &s, alignment_bytes);
    JB_FIELD(b, &s, decommitted_bytes);
    JB_FIELD(b, &s, map_bot_nodes);
    JB_FIELD(b, &s, map_root_bytes);
    JB_FIELD(b, &s, map_bot_bytes);
    jb_key(b, "pool_blocks");
    jb_int(b, s.pool_blocks);
    jb_key(b, "raw_blocks");
    jb_int(b, s.raw_blocks);
    jb_key(b, "classes");
    jb_lit(b, "[");
    for (int i = 0; i < RCGC_PYMALLOC_NCLASSES; i++) {
        const rcgc_pymalloc_class_stats *c = &s.cls[i];
        if (c->pools == 0 && c->blocks_in_use == 0) continue;
        jb_sep(b);
        jb_lit(b, "{");
        JB_FIELD(b, c, size);
        JB_FIELD(b, c, pools);
        JB_FIELD(b, c, blocks_in_use);
        JB_FIELD(b, c, blocks_avail);
        jb_lit(b, "}");
    }
    jb_lit(b, "]}");
}

static int cmd_counts(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    long top = r->have & SERVE_F_TOP ? r->top : 20;
    rcgc_diag_counts c;
    int e = rcgc_diag_count_types(srv->rt, &c);
    if (e != 0) {
        answer_err(b, "counts failed: %s", rcgc_strerror(e));
        return -1;
    }
    rcgc_ssize n = top == 0 || top > c.n ? c.n : (rcgc_ssize)top;
    begin_ok(b, "counts");
    jb_key(b, "total");
    jb_int(b, c.total);
    jb_key(b, "types");
    jb_int(b, c.types);
    jb_key(b, "shown");
    jb_int(b, n);
    jb_key(b, "items");
    jb_lit(b, "[");
    for (rcgc_ssize i = 0; i < n && !b->overflow; i++) {
        jb_sep(b);
        jb_lit(b, "{\"type\":");
        jb_str(b, c.items[i].name);
        jb_lit(b, ",\"count\":");
        jb_int(b, c.items[i].count);
        jb_lit(b, "}");
    }
    jb_lit(b, "]");
    rcgc_diag_counts_free(srv->rt, &c);
    return 0;
}

static void put_addr(jbuf *b, const void *p)
{
    char t[32];
    snprintf(t, sizeof t, "%p", p);
    jb_str(b, t);
}

static void put_chain(rcgc_serve *srv, jbuf *b, const rcgc_diag_path *p)
{
    const rcgc_diag_options *o = &srv->cfg.diag;
    char buf[256];
    jb_key(b, "status");
    jb_str(b, p->status == RCGC_DIAG_ROOTED ? "rooted" : "unreachable");
    jb_key(b, "length");
    jb_int(b, p->n);
    jb_key(b, "root_external");
    jb_int(b, p->root_external);
    jb_key(b, "root_in_garbage");
    jb_int(b, p->root_in_garbage);
    jb_key(b, "target_external");
    jb_int(b, p->target_external);
    jb_key(b, "chain");
    jb_lit(b, "[");
    /* a chain longer than WHY_CHAIN_MAX: its first and last links */
    rcgc_ssize head = p->n, skip_to = p->n;
    if (p->n > WHY_CHAIN_MAX) {
        head = WHY_CHAIN_MAX / 2;
        skip_to = p->n - WHY_CHAIN_MAX / 2;
    }
    for (rcgc_ssize i = 0; i < p->n && !b->overflow; i++) {
        if (i == head && head < skip_to) {
            jb_sep(b);
            jb_lit(b, "{\"omitted\":");
            jb_int(b, skip_to - head);
            jb_lit(b, "}");
            i = skip_to - 1;
            continue;
        }
        const rcgc_diag_link *l = &p->links[i];
        jb_sep(b);
        jb_lit(b, "{\"type\":");
        jb_str(b, l->obj->type->name);
        jb_key(b, "addr");
        put_addr(b, l->obj);
        jb_key(b, "refcnt");
        jb_int(b, (long long)l->refcnt);
        if (o->label != NULL) {
            size_t n = o->label(l->obj, buf, sizeof buf, o->ctx);
            if (n > 0) {
                jb_key(b, "label");
                jb_strn(b, buf, n < sizeof buf ? n : sizeof buf - 1);
            }
        }
        if (i > 0) {
            jb_key(b, "edge");
            size_t n = 0;
            if (o->edge_name != NULL && l->edge >= -1)
                n = o->edge_name(p->links[i - 1].obj, l->obj, l->edge, buf,
                                 sizeof buf, o->ctx);
            if (n > 0)
                jb_strn(b, buf, n < sizeof buf ? n : sizeof buf - 1);
            else if (l->edge >= 0) {
                snprintf(buf, sizeof buf, "[%td]", l->edge);
                jb_str(b, buf);
            } else
                jb_str(b, l->edge == -1 ? "value" : "?");
        }
        jb_lit(b, "}");
    }
    jb_lit(b, "]");
}

static uint64_t rt_allocs(const rcgc_runtime *rt)
{
    return (uint64_t)rt->allocations;
}

static rcgc_ssize rt_objects(const rcgc_runtime *rt)
{
    return (rcgc_ssize)rt->objects;
}

static int cmd_why(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    long limit = r->have & SERVE_F_LIMIT ? r->limit : 3;
    if (!(r->have & SERVE_F_TYPE) || r->type[0] == 0) {
        jb_error(b, "\"why\" needs \"type\": a type name");
        return -1;
    }
    if (limit < 1 || limit > WHY_LIMIT_MAX) {
        answer_err(b, "\"limit\" must be 1..%d", WHY_LIMIT_MAX);
        return -1;
    }
    rcgc_object *objs[WHY_LIMIT_MAX];
    rcgc_ssize total = rcgc_diag_by_type(srv->rt, r->type, objs, limit);
    if (total < 0) {
        answer_err(b, "why failed: %s", rcgc_strerror((int)total));
        return -1;
    }
    rcgc_ssize n = total < limit ? total : limit;
    /* objs[] are BORROWED (rcgc_diag_by_type): valid only while nothing
     * frees objects.  The label and edge_name callbacks are the program's
     * code and may free some; holding references instead would make the
     * held objects roots in each other's chains.  So: when an iteration
     * allocated or freed any object, the list is taken again before the
     * next pointer is used. */
    uint64_t allocs = rt_allocs(srv->rt);
    rcgc_ssize live = rt_objects(srv->rt);
    begin_ok(b, "why");
    jb_key(b, "type");
    jb_str(b, r->type);
    jb_key(b, "objects");
    jb_int(b, total);
    jb_key(b, "shown");
    jb_int(b, n);
    jb_key(b, "results");
    jb_lit(b, "[");
    rcgc_ssize have = n;
    for (rcgc_ssize i = 0; i < n && !b->overflow; i++) {
        rcgc_diag_path p;
        if (rt_allocs(srv->rt) != allocs || rt_objects(srv->rt) != live) {
            rcgc_ssize t = rcgc_diag_by_type(srv->rt, r->type, objs, limit);
            have = t < 0 ? 0 : t < limit ? t : limit;
            allocs = rt_allocs(srv->rt);
            live = rt_objects(srv->rt);
        }
        jb_sep(b);
        if (i >= have) {
            jb_lit(b, "{\"object\":null,\"error\":\"gone: objects were "
                      "freed during the command\"}");
            continue;
        }
        jb_lit(b, "{\"object\":");
        put_addr(b, objs[i]);
        int e = rcgc_diag_why_alive(srv->rt, objs[i], &srv->cfg.diag, &p);
        if (e != 0) {
            jb_key(b, "error");
            jb_str(b, rcgc_strerror(e));
        } else {
            put_chain(srv, b, &p);
            rcgc_diag_path_free(srv->rt, &p);
        }
        jb_lit(b, "}");
    }
    jb_lit(b, "]");
    return 0;
}

static int snapshot_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SNAPSHOT_NAME_MAX || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int cmd_snapshot(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    if (srv->cfg.snapshot_dir == NULL) {
        jb_error(b, "snapshot files are disabled: the program did not set "
                    "rcgc_serve_config.snapshot_dir");
        return -1;
    }
    if (!(r->have & SERVE_F_PATH)) {
        jb_error(b, "\"snapshot\" needs \"path\": a file name in the "
                    "server's snapshot directory");
        return -1;
    }
    if (!snapshot_name_ok(r->path)) {
        answer_err(b, "unsafe snapshot name \"%.64s\": use 1..%d letters, "
                      "digits, '.', '_', '-', not starting with '.' (no "
                      "directories: files go to the server's snapshot "
                      "directory)", r->path, SNAPSHOT_NAME_MAX);
        return -1;
    }
    if (!rcgc_trace_is_tracing(srv->rt)) {
        jb_error(b, "the tracer is not tracing: the program must start it "
                    "(rcgc_trace_start), or use \"trace\" for a window");
        return -1;
    }
    char path[4096 + SNAPSHOT_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", srv->cfg.snapshot_dir, r->path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        answer_err(b, "%s exists already: the server does not replace files",
                   path);
        return -1;
    }
    rcgc_snapshot *s = rcgc_snapshot_take(srv->rt);
    if (s == NULL) {
        answer_err(b, "cannot take a snapshot: %s",
                   rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
        return -1;
    }
    char err[512];
    int e = rcgc_snapshot_dump(s, path, err, sizeof err);
    rcgc_ssize n = rcgc_snapshot_count(s);
    rcgc_snapshot_free(s);
    if (e != 0) {
        answer_err(b, "cannot write the snapshot: %s", err);
        return -1;
    }
    begin_ok(b, "snapshot");
    jb_key(b, "path");
    jb_str(b, path);
    jb_key(b, "traces");
    jb_int(b, n);
    return 0;
}

static int cmd_app(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    if (srv->cfg.command == NULL) {
        answer_err(b, "unknown command \"%s\" (\"help\" lists the commands)",
                   r->cmd);
        return -1;
    }
    char msg[512];
    msg[0] = 0;
    int e = srv->cfg.command(srv->cfg.command_ctx, r->cmd, r->arg, msg,
                             sizeof msg);
    msg[sizeof msg - 1] = 0;
    if (e < 0) {
        if (msg[0] == 0)
            answer_err(b, "unknown command \"%s\" (\"help\" lists the "
                          "commands)", r->cmd);
        else
            jb_error(b, msg);
        return -1;
    }
    begin_ok(b, r->cmd);
    jb_key(b, "message");
    jb_str(b, msg);
    return 0;
}

/* ---- trace windows ---- */

static void trace_cancel(rcgc_serve *srv)
{
    struct trace_window *tw = &srv->tw;
    if (!tw->active) return;
    rcgc_snapshot_free(tw->before);
    if (tw->we_started && rcgc_trace_is_tracing(srv->rt)) rcgc_trace_stop(srv->rt);
    memset(tw, 0, sizeof *tw);
    tw->client = -1;
    srv->stats.tracing = 0;
}

/* 0: the window is open; -1: an error answer is in out. */
static int trace_begin(rcgc_serve *srv, const serve_req *r, int client_id,
                       jbuf *out)
{
    struct trace_window *tw = &srv->tw;
    if (tw->active) {
        uint64_t now = now_ns();
        double left = tw->deadline > now ? (double)(tw->deadline - now) / 1e9 : 0;
        answer_err(out, "busy: a trace window is already open (%ld s, ends "
                        "in %.1f s); one at a time", tw->seconds, left);
        return -1;
    }
    if (!(r->have & SERVE_F_SECONDS)) {
        jb_error(out, "\"trace\" needs \"seconds\": how long to trace");
        return -1;
    }
    if (r->seconds < 1 || r->seconds > srv->cfg.max_trace_seconds) {
        answer_err(out, "\"seconds\" must be 1..%d", srv->cfg.max_trace_seconds);
        return -1;
    }
    rcgc_stat_key key = RCGC_BY_LINENO;
    if (r->have & SERVE_F_BY) {
        if (strcmp(r->by, "lineno") == 0) key = RCGC_BY_LINENO;
        else if (strcmp(r->by, "filename") == 0) key = RCGC_BY_FILENAME;
        else if (strcmp(r->by, "traceback") == 0) key = RCGC_BY_TRACEBACK;
        else {
            jb_error(out, "\"by\" must be \"lineno\", \"filename\" or \"traceback\"");
            return -1;
        }
    }
    int was = rcgc_trace_is_tracing(srv->rt);
    if (!was) {
        int e = rcgc_trace_start(srv->rt, &srv->cfg.trace);
        if (e != 0) {
            answer_err(out, "cannot start the tracer: %s", rcgc_strerror(e));
            return -1;
        }
    }
    rcgc_snapshot *before = rcgc_snapshot_take(srv->rt);
    if (before == NULL) {
        if (!was) rcgc_trace_stop(srv->rt);
        answer_err(out, "cannot take a snapshot: %s",
                   rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
        return -1;
    }
    tw->active = 1;
    tw->client = client_id;
    tw->we_started = !was;
    tw->before = before;
    tw->deadline = now_ns() + (uint64_t)r->seconds * 1000000000u;
    tw->seconds = r->seconds;
    tw->top = r->have & SERVE_F_TOP ? r->top : 10;
    tw->key = key;
    srv->stats.tracing = 1;
    return 0;
}

static const char *key_name(rcgc_stat_key k)
{
    return k == RCGC_BY_FILENAME ? "filename" : k == RCGC_BY_TRACEBACK ? "traceback" : "lineno";
}

static void put_frame(jbuf *b, const rcgc_frame *f, int with_line)
{
    jb_lit(b, "{\"file\":");
    jb_str(b, f->filename);
    if (with_line) {
        jb_key(b, "line");
        jb_uint(b, f->lineno);
        if (f->function != NULL) {
            jb_key(b, "function");
            jb_str(b, f->function);
        }
    }
    if (f->module != NULL) {
        jb_key(b, "module");
        jb_str(b, f->module);
        jb_key(b, "offset");
        jb_uint(b, f->offset);
    }
    jb_lit(b, "}");
}

/* The window's end: the comparison into out, the tracer as it was. */
static void trace_finish(rcgc_serve *srv, jbuf *out)
{
    struct trace_window *tw = &srv->tw;
    rcgc_snapshot *after = rcgc_trace_is_tracing(srv->rt) ? rcgc_snapshot_take(srv->rt) : NULL;
    if (after == NULL) {
        int stopped = !rcgc_trace_is_tracing(srv->rt);
        trace_cancel(srv);
        if (stopped)
            jb_error(out, "the program stopped the tracer during the window");
        else
            answer_err(out, "cannot take a snapshot: %s",
                       rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
        return;
    }
    rcgc_statistic *st = NULL;
    rcgc_ssize n = rcgc_snapshot_compare(after, tw->before, tw->key, 0, &st);
    if (n < 0) {
        rcgc_snapshot_free(after);
        trace_cancel(srv);
        answer_err(out, "cannot compare the snapshots: %s", rcgc_strerror((int)n));
        return;
    }
    double size_diff = 0, count_diff = 0;
    rcgc_ssize changed = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        size_diff += st[i].size_diff;
        count_diff += st[i].count_diff;
        if (st[i].size_diff != 0 || st[i].count_diff != 0) changed++;
    }
    rcgc_ssize show = tw->top == 0 || tw->top > changed ? changed : (rcgc_ssize)tw->top;
    begin_ok(out, "trace");
    jb_key(out, "seconds");
    jb_int(out, tw->seconds);
    jb_key(out, "by");
    jb_str(out, key_name(tw->key));
    jb_key(out, "tracer");
    jb_str(out, tw->we_started ? "started for the window, then stopped"
                               : "already tracing: left on");
    jb_key(out, "traceback_limit");
    jb_int(out, rcgc_snapshot_traceback_limit(after));
    jb_key(out, "sample_bytes");
    jb_uint(out, rcgc_snapshot_sample_bytes(after));
    jb_key(out, "traces_before");
    jb_int(out, rcgc_snapshot_count(tw->before));
    jb_key(out, "traces_after");
    jb_int(out, rcgc_snapshot_count(after));
    jb_key(out, "size_diff");
    jb_num(out, size_diff);
    jb_key(out, "count_diff");
    jb_num(out, count_diff);
    jb_key(out, "groups_changed");
    jb_int(out, changed);
    jb_key(out, "shown");
    jb_int(out, show);
    jb_key(out, "stats");
    jb_lit(out, "[");
    char text[1024];
    for (rcgc_ssize i = 0, k = 0; i < n && k < show && !out->overflow; i++) {
        const rcgc_statistic *s = &st[i];
        if (s->size_diff == 0 && s->count_diff == 0) continue;
        k++;
        jb_sep(out);
        jb_lit(out, "{");
        const rcgc_traceback *tb = s->traceback;
        if (tw->key != RCGC_BY_TRACEBACK && tb->nframe > 0) {
            jb_key(out, "file");
            jb_str(out, tb->frames[0].filename);
            if (tw->key == RCGC_BY_LINENO) {
                jb_key(out, "line");
                jb_uint(out, tb->frames[0].lineno);
            }
        }
        jb_key(out, "size");
        jb_num(out, s->size);
        jb_key(out, "size_diff");
        jb_num(out, s->size_diff);
        jb_key(out, "count");
        jb_num(out, s->count);
        jb_key(out, "count_diff");
        jb_num(out, s->count_diff);
        int tl = rcgc_statistic_format(s, tw->key, 1, text, sizeof text);
        if (tl > 0) {
            jb_key(out, "text");
            jb_strn(out, text, (size_t)tl < sizeof text ? (size_t)tl : sizeof text - 1);
        }
        if (tw->key == RCGC_BY_TRACEBACK) {
            jb_key(out, "traceback");
            jb_lit(out, "[");
            for (int f = 0; f < tb->nframe; f++) {
                jb_sep(out);
                put_frame(out, &tb->frames[f], 1);
            }
            jb_lit(out, "]");
        }
        jb_lit(out, "}");
    }
    jb_lit(out, "]");
    rcgc_statistics_free(st);
    rcgc_snapshot_free(after);
    trace_cancel(srv); /* frees before, stops the tracer if we started it */
    end_ok(srv, out);
}

/* ---- dispatch ---- */

void rcgc__serve_dispatch(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    const struct cmd_fields *c = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(r->cmd, commands[i].name) == 0) c = &commands[i];
    if (c == NULL) {
        if (check_fields(r, SERVE_F_ARG, b) != 0) return;
        if (cmd_app(srv, r, b) == 0) end_ok(srv, b);
        return;
    }
    if (check_fields(r, c->allowed, b) != 0) return;
    if (srv->rt->collecting || srv->rt->tearing_down) {
        jb_error(b, "the runtime is collecting: rcgc_serve_poll must not be "
                    "called from a finalizer or a callback");
        return;
    }
    int e = 0;
    if (strcmp(c->name, "ping") == 0) cmd_ping(b);
    else if (strcmp(c->name, "help") == 0) cmd_help(b);
    else if (strcmp(c->name, "stats") == 0) cmd_stats(srv, b);
    else if (strcmp(c->name, "alloc") == 0) cmd_alloc(srv, b);
    else if (strcmp(c->name, "counts") == 0) e = cmd_counts(srv, r, b);
    else if (strcmp(c->name, "why") == 0) e = cmd_why(srv, r, b);
    else if (strcmp(c->name, "snapshot") == 0) e = cmd_snapshot(srv, r, b);
    else { /* trace, without a client: open and end at once */
        if (trace_begin(srv, r, -1, b) != 0) return;
        trace_cancel(srv);
        begin_ok(b, "trace");
        jb_key(b, "started");
        jb_lit(b, "true");
    }
    if (e == 0) end_ok(srv, b);
}

/* Parse, check the token: 0 and *req, or -1 with an error answer. */
static int authenticate(rcgc_serve *srv, const char *line, size_t len,
                        serve_req *req, jbuf *b)
{
    char err[256];
    if (rcgc__serve_parse(line, len, req, err, sizeof err) != 0) {
        srv->stats.bad_requests++;
        jb_error(b, err);
        return -1;
    }
    if (!(req->have & SERVE_F_TOKEN)) {
        srv->stats.refused_token++;
        jb_error(b, "missing \"token\"");
        return -1;
    }
    if (!rcgc__serve_token_equal(srv->token, srv->token_len, req->token,
                                 req->token_len)) {
        srv->stats.refused_token++;
        jb_error(b, "bad token");
        return -1;
    }
    return 0;
}

void rcgc__serve_jbuf_init(rcgc_serve *srv, jbuf *b)
{
    jb_init(b, &srv->a, srv->cfg.max_response);
}

void rcgc__serve_eval(rcgc_serve *srv, const char *line, size_t len,
                      jbuf *out)
{
    jb_init(out, &srv->a, srv->cfg.max_response);
    serve_req *req = s_alloc(srv, sizeof *req);
    if (req == NULL) {
        jb_error(out, "out of memory");
        return;
    }
    if (authenticate(srv, line, len, req, out) == 0)
        rcgc__serve_dispatch(srv, req, out);
    s_free(srv, req);
    jb_fallback(out);
}

/* ---- clients ---- */

static void set_events(rcgc_serve *srv, int id, unsigned events)
{
    client *c = &srv->clients[id];
    if (c->events == events) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u32 = (uint32_t)id;
    epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void client_close(rcgc_serve *srv, int id, int dropped)
{
    client *c = &srv->clients[id];
    if (c->st == C_FREE) return;
    if (srv->tw.active && srv->tw.client == id) trace_cancel(srv);
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    jb_free(&c->out);
    c->fd = -1;
    c->st = C_FREE;
    c->inlen = 0;
    srv->nclients--;
    srv->stats.clients = srv->nclients;
    if (dropped) srv->stats.dropped++;
    if (srv->accept_paused) srv->slot_closed = 1; /* a descriptor is free */
}

/* Write what the socket takes; close when done or failed. */
static void client_flush(rcgc_serve *srv, int id)
{
    client *c = &srv->clients[id];
    while (c->outpos < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + c->outpos, c->out.len - c->outpos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->outpos += (size_t)w;
            c->deadline = now_ns() + (uint64_t)srv->cfg.write_timeout_ms * 1000000u;
            if (c->deadline > c->drain_end) c->deadline = c->drain_end;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(srv, id, EPOLLOUT);
            return;
        }
        client_close(srv, id, 1);
        return;
    }
    client_close(srv, id, 0);
}

static void client_answer(rcgc_serve *srv, int id, jbuf *b)
{
    client *c = &srv->clients[id];
    jb_free(&c->out);
    c->out = *b;
    jb_fallback(&c->out); /* a cut or failed answer is never sent */
    c->outpos = 0;
    c->st = C_WRITE;
    uint64_t now = now_ns();
    c->deadline = now + (uint64_t)srv->cfg.write_timeout_ms * 1000000u;
    /* an overall bound too, so that a trickle of progress cannot hold the
     * slot: the write timeout plus the answer at rcgc__serve_drain_rate */
    uint64_t rate = rcgc__serve_drain_rate ? rcgc__serve_drain_rate : 1;
    c->drain_end = c->deadline + (uint64_t)c->out.len * 1000000000u / rate;
    srv->stats.answered++;
    set_events(srv, id, EPOLLOUT);
    client_flush(srv, id);
}

static void client_answer_error(rcgc_serve *srv, int id, const char *msg)
{
    jbuf b;
    jb_init(&b, &srv->a, srv->cfg.max_response);
    jb_error(&b, msg);
    client_answer(srv, id, &b);
}

static void client_request(rcgc_serve *srv, int id, size_t len)
{
    client *c = &srv->clients[id];
    if (len > 0 && c->in[len - 1] == '\r') len--;
    jbuf b;
    jb_init(&b, &srv->a, srv->cfg.max_response);
    serve_req *req = s_alloc(srv, sizeof *req);
    if (req == NULL) {
        jb_error(&b, "out of memory");
    } else if (authenticate(srv, c->in, len, req, &b) == 0) {
        if (strcmp(req->cmd, "trace") == 0 &&
            check_fields(req, SERVE_F_SECONDS | SERVE_F_TOP | SERVE_F_BY, &b) == 0 &&
            trace_begin(srv, req, id, &b) == 0) {
            /* the answer comes at the window's end */
            c->st = C_TRACE;
            set_events(srv, id, EPOLLIN | EPOLLRDHUP);
            s_free(srv, req);
            jb_free(&b);
            return;
        }
        if (strcmp(req->cmd, "trace") != 0) rcgc__serve_dispatch(srv, req, &b);
    }
    s_free(srv, req);
    client_answer(srv, id, &b);
}

static void client_readable(rcgc_serve *srv, int id, unsigned revents)
{
    client *c = &srv->clients[id];
    if (c->st == C_TRACE) {
        char junk[512];
        for (int k = 0; k < 8; k++) { /* bounded: a flood waits its turn */
            ssize_t r = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
            if (r > 0) continue; /* after the request: ignored */
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (r == 0 && !(revents & (EPOLLHUP | EPOLLERR))) {
                /* half-closed: it still waits for the answer */
                set_events(srv, id, 0);
                return;
            }
            client_close(srv, id, 1); /* gone: the window is cancelled */
            return;
        }
        return;
    }
    if (c->st != C_READ) return;
    for (;;) {
        size_t room = sizeof c->in - c->inlen;
        if (room == 0) {
            srv->stats.bad_requests++;
            char msg[128];
            snprintf(msg, sizeof msg, "request larger than %d bytes (the "
                     "limit, newline included)", RCGC_SERVE_MAX_REQUEST);
            client_answer_error(srv, id, msg);
            return;
        }
        ssize_t r = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r < 0) {
            client_close(srv, id, 1);
            return;
        }
        if (r == 0) {
            if (c->inlen == 0) {
                client_close(srv, id, 0); /* connected, said nothing, left */
                return;
            }
            srv->stats.bad_requests++;
            char msg[160];
            snprintf(msg, sizeof msg, "truncated request: the connection was "
                     "closed after %zu bytes, before the newline that ends a "
                     "request", c->inlen);
            client_answer_error(srv, id, msg);
            return;
        }
        const char *nl = memchr(c->in + c->inlen, '\n', (size_t)r);
        c->inlen += (size_t)r;
        if (nl != NULL) {
            client_request(srv, id, (size_t)(nl - c->in));
            return;
        }
    }
}

/* Best effort: one non-blocking send of a fixed error, then close. */
static void refuse(int fd, const char *msg)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "{\"ok\":false,\"error\":\"%s\"}\n", msg);
    if (n > 0 && (size_t)n < sizeof buf) {
        ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    close(fd);
}

static int uid_allowed(const rcgc_serve *srv, uid_t uid)
{
    if (srv->cfg.allowed_uids == NULL) return uid == geteuid();
    for (size_t i = 0; i < srv->cfg.nallowed_uids; i++)
        if (srv->cfg.allowed_uids[i] == (uint32_t)uid) return 1;
    return 0;
}

/* Out of descriptors (or kernel memory): the pending connection stays in
 * the backlog and the listener stays readable, so a loop polling
 * rcgc_serve_fd would spin.  Take the listener out of the epoll set until
 * a client slot closes or ACCEPT_BACKOFF_NS passed (rcgc_serve_timeout
 * includes that deadline). */
static void accept_pause(rcgc_serve *srv)
{
    if (srv->accept_paused) return;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfd, NULL) != 0) return;
    srv->accept_paused = 1;
    srv->slot_closed = 0;
    srv->accept_resume = now_ns() + ACCEPT_BACKOFF_NS;
}

static void accept_resume_check(rcgc_serve *srv)
{
    if (!srv->accept_paused) return;
    if (!srv->slot_closed && now_ns() < srv->accept_resume) return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u32 = LISTENER_ID;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) != 0 && errno != EEXIST) {
        srv->accept_resume = now_ns() + ACCEPT_BACKOFF_NS; /* try later */
        return;
    }
    srv->accept_paused = 0;
    srv->slot_closed = 0;
}

static void accept_clients(rcgc_serve *srv)
{
    for (int k = 0; k < ACCEPTS_PER_POLL; k++) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                accept_pause(srv);
            return; /* EAGAIN, or out of descriptors: next time */
        }
        srv->stats.accepted++;
        if (srv->nclients >= srv->cfg.max_clients) {
            char msg[96];
            snprintf(msg, sizeof msg, "too many clients (at most %d at once); "
                     "try again later", srv->cfg.max_clients);
            srv->stats.refused_full++;
            refuse(fd, msg);
            continue;
        }
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
            clen != sizeof cred) {
            srv->stats.refused_peer++;
            refuse(fd, "cannot read the peer's credentials");
            continue;
        }
        if (!uid_allowed(srv, cred.uid)) {
            char msg[96];
            snprintf(msg, sizeof msg, "peer uid %lu is not allowed",
                     (unsigned long)cred.uid);
            srv->stats.refused_peer++;
            refuse(fd, msg);
            continue;
        }
        int id = 0;
        while (srv->clients[id].st != C_FREE) id++;
        client *c = &srv->clients[id];
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u32 = (uint32_t)id;
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            refuse(fd, "server error: epoll_ctl failed");
            continue;
        }
        c->fd = fd;
        c->st = C_READ;
        c->events = ev.events;
        c->inlen = 0;
        c->outpos = 0;
        jb_init(&c->out, &srv->a, srv->cfg.max_response);
        c->deadline = now_ns() + (uint64_t)srv->cfg.request_timeout_ms * 1000000u;
        srv->nclients++;
        srv->stats.clients = srv->nclients;
    }
}

static void check_deadlines(rcgc_serve *srv)
{
    uint64_t now = now_ns();
    if (srv->tw.active && now >= srv->tw.deadline) {
        int id = srv->tw.client;
        jbuf b;
        jb_init(&b, &srv->a, srv->cfg.max_response);
        srv->tw.client = -1; /* so that closing the client does not cancel */
        trace_finish(srv, &b);
        if (id >= 0 && srv->clients[id].st == C_TRACE)
            client_answer(srv, id, &b);
        else
            jb_free(&b);
    }
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        client *c = &srv->clients[id];
        if ((c->st == C_READ || c->st == C_WRITE) && now >= c->deadline) {
            if (c->st == C_READ) {
                srv->stats.bad_requests++;
                char msg[160];
                snprintf(msg, sizeof msg, "request timed out: no complete "
                         "request within %d ms (%zu bytes received)",
                         srv->cfg.request_timeout_ms, c->inlen);
                client_answer_error(srv, id, msg);
            } else {
                client_close(srv, id, 1);
            }
        }
    }
}

int rcgc_serve_timeout(const rcgc_serve *srv)
{
    uint64_t next = UINT64_MAX, now = now_ns();
    if (srv->tw.active) next = srv->tw.deadline;
    if (srv->accept_paused && srv->accept_resume < next) next = srv->accept_resume;
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        const client *c = &srv->clients[id];
        if ((c->st == C_READ || c->st == C_WRITE) && c->deadline < next)
            next = c->deadline;
    }
    if (next == UINT64_MAX) return -1;
    if (next <= now) return 0;
    uint64_t ms = (next - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void srv_stop_now(rcgc_serve *srv);
static int serve_poll(rcgc_serve *srv, int timeout_ms);

int rcgc_serve_poll(rcgc_serve *srv, int timeout_ms)
{
    if (srv == NULL || srv->epfd < 0) return RCGC_EINVAL;
    if (srv->in_poll || srv->stop_requested)
        return RCGC_EINVAL; /* from inside itself (a command hook, a diag
                               callback): the outer poll owns the state */
    if (srv->rt->collecting || srv->rt->tearing_down)
        return RCGC_EINVAL; /* from a finalizer or a callback: not now */
    srv->in_poll = 1;
    int r = serve_poll(srv, timeout_ms);
    srv->in_poll = 0;
    if (srv->stop_requested) srv_stop_now(srv); /* deferred from inside */
    return r;
}

static int serve_poll(rcgc_serve *srv, int timeout_ms)
{
    uint64_t answered = srv->stats.answered;
    int t = rcgc_serve_timeout(srv);
    int wait = timeout_ms;
    if (t >= 0 && (wait < 0 || t < wait)) wait = t;
    struct epoll_event ev[EVENTS_PER_POLL];
    int n = epoll_wait(srv->epfd, ev, EVENTS_PER_POLL, wait);
    if (n < 0) {
        if (errno != EINTR) return RCGC_EFAILED;
        n = 0;
    }
    for (int i = 0; i < n && !srv->stop_requested; i++) {
        uint32_t id = ev[i].data.u32;
        if (id == LISTENER_ID) {
            if (srv->accept_paused) continue; /* taken out by this batch */
            accept_clients(srv);
            continue;
        }
        if (id >= (uint32_t)srv->cfg.max_clients) continue;
        client *c = &srv->clients[id];
        /* an earlier event of this batch may have closed the slot (and an
         * accept reused it: its events then come with the next wait) */
        if (c->st == C_FREE) continue;
        unsigned re = ev[i].events;
        if (c->st == C_WRITE) {
            if (re & (EPOLLOUT | EPOLLERR | EPOLLHUP)) client_flush(srv, (int)id);
            continue;
        }
        if (re & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            client_readable(srv, (int)id, re);
    }
    if (!srv->stop_requested) {
        check_deadlines(srv);
        accept_resume_check(srv);
    }
    return (int)(srv->stats.answered - answered);
}

int rcgc_serve_fd(const rcgc_serve *srv)
{
    return srv == NULL ? -1 : srv->epfd;
}

const char *rcgc_serve_token(const rcgc_serve *srv)
{
    return srv->token;
}

void rcgc_serve_get_stats(const rcgc_serve *srv,
                          rcgc_serve_stats *out)
{
    *out = srv->stats;
    out->clients = srv->nclients;
    out->tracing = srv->tw.active;
}

/* ---- start and stop ---- */

void rcgc_serve_config_init(rcgc_serve_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->max_clients = 4;
    cfg->request_timeout_ms = 5000;
    cfg->write_timeout_ms = 5000;
    cfg->max_response = (size_t)1 << 20;
    cfg->max_trace_seconds = 3600;
    rcgc_trace_config_init(&cfg->trace);
    rcgc_diag_options_init(&cfg->diag);
}

static int check_config(const rcgc_serve_config *cfg, int need_socket,
                        char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (!RCGC__SIZE_OK(cfg) || !RCGC__SIZE_OK(&cfg->trace) ||
        !RCGC__SIZE_OK(&cfg->diag)) {
        set_err(err, errlen, "the config's size fields are not its "
                             "structs' (use rcgc_serve_config_init)");
        return RCGC_EINVAL;
    }
    if (need_socket && (cfg->socket_path == NULL || cfg->socket_path[0] == 0)) {
        set_err(err, errlen, "no socket_path");
        return RCGC_EINVAL;
    }
    if (need_socket && strlen(cfg->socket_path) >= sizeof sa.sun_path) {
        set_err(err, errlen, "socket_path is longer than %zu bytes",
                sizeof sa.sun_path - 1);
        return RCGC_EINVAL;
    }
    if (cfg->token != NULL) {
        size_t n = strlen(cfg->token);
        if (n < TOKEN_MIN || n > TOKEN_MAX) {
            set_err(err, errlen, "the token must be %d..%d bytes", TOKEN_MIN, TOKEN_MAX);
            return RCGC_EINVAL;
        }
        for (size_t i = 0; i < n; i++)
            if (cfg->token[i] <= ' ' || cfg->token[i] >= 0x7F) {
                set_err(err, errlen, "the token must be printable ASCII without spaces");
                return RCGC_EINVAL;
            }
    } else if (cfg->token_file == NULL || cfg->token_file[0] == 0) {
        set_err(err, errlen, "no token and no token_file: a token is required");
        return RCGC_EINVAL;
    }
    if (cfg->allowed_uids == NULL && cfg->nallowed_uids != 0) {
        set_err(err, errlen, "nallowed_uids without allowed_uids");
        return RCGC_EINVAL;
    }
    if (cfg->nallowed_uids > MAX_ALLOWED_UIDS) {
        set_err(err, errlen, "nallowed_uids is %zu: at most %d uids",
                cfg->nallowed_uids, MAX_ALLOWED_UIDS);
        return RCGC_EINVAL;
    }
    if (cfg->max_clients < 1 || cfg->max_clients > 64 ||
        cfg->request_timeout_ms < 1 || cfg->write_timeout_ms < 1 ||
        cfg->max_response < 4096 || cfg->max_response > ((size_t)1 << 30) ||
        cfg->max_trace_seconds < 1 || cfg->max_trace_seconds > 86400) {
        set_err(err, errlen, "a limit is out of range (max_clients 1..64, "
                "timeouts >= 1 ms, max_response 4 KiB..1 GiB, "
                "max_trace_seconds 1..86400)");
        return RCGC_EINVAL;
    }
    if (cfg->snapshot_dir != NULL && strlen(cfg->snapshot_dir) > 4096) {
        set_err(err, errlen, "snapshot_dir is too long");
        return RCGC_EINVAL;
    }
    return 0;
}

static void srv_free(rcgc_serve *srv)
{
    s_free(srv, (void *)(uintptr_t)srv->cfg.socket_path);
    s_free(srv, (void *)(uintptr_t)srv->cfg.token_file);
    s_free(srv, (void *)(uintptr_t)srv->cfg.snapshot_dir);
    s_free(srv, (void *)(uintptr_t)srv->cfg.allowed_uids);
    s_free(srv, srv->clients);
    rcgc__runtime_detach(srv->rt);
    rcgc_allocator a = srv->a;
    a.free(a.ctx, srv);
}

static int srv_new(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                   rcgc_serve **out)
{
    rcgc_allocator a = rt->heap.raw_base;
    rcgc_serve *srv = a.calloc(a.ctx, 1, sizeof *srv);
    if (srv == NULL) return RCGC_ENOMEM;
    srv->rt = rt;
    rcgc__runtime_attach(rt); /* rcgc_runtime_free is refused until stop */
    srv->a = a;
    srv->cfg = *cfg;
    srv->cfg.token = NULL; /* kept in srv->token */
    srv->cfg.socket_path = NULL;
    srv->cfg.token_file = NULL;
    srv->cfg.snapshot_dir = NULL;
    srv->cfg.allowed_uids = NULL;
    srv->lfd = srv->epfd = -1;
    srv->tw.client = -1;
    int bad = 0;
    if (cfg->socket_path) bad |= !(srv->cfg.socket_path = s_strdup(srv, cfg->socket_path));
    if (cfg->token == NULL && cfg->token_file)
        bad |= !(srv->cfg.token_file = s_strdup(srv, cfg->token_file));
    if (cfg->snapshot_dir) bad |= !(srv->cfg.snapshot_dir = s_strdup(srv, cfg->snapshot_dir));
    if (cfg->allowed_uids != NULL) {
        uint32_t *u = s_alloc(srv, (cfg->nallowed_uids + 1) * sizeof *u);
        if (u != NULL && cfg->nallowed_uids > 0)
            memcpy(u, cfg->allowed_uids, cfg->nallowed_uids * sizeof *u);
        srv->cfg.allowed_uids = u;
        bad |= u == NULL;
    }
    srv->clients = s_alloc(srv, (size_t)cfg->max_clients * sizeof *srv->clients);
    bad |= srv->clients == NULL;
    if (bad) {
        srv_free(srv);
        return RCGC_ENOMEM;
    }
    for (int i = 0; i < cfg->max_clients; i++) srv->clients[i].fd = -1;
    if (cfg->token != NULL) {
        srv->token_len = strlen(cfg->token);
        memcpy(srv->token, cfg->token, srv->token_len + 1);
    }
    *out = srv;
    return 0;
}

/* A new token in srv->token, written to the token file (0600, created
 * fresh under a temporary name, then renamed over the path). */
static int make_token(rcgc_serve *srv, char *err, size_t errlen)
{
    unsigned char rnd[32];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t r = getrandom(rnd + got, sizeof rnd - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            set_err(err, errlen, "getrandom failed: %s", strerror(errno));
            return RCGC_EFAILED;
        }
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof rnd; i++) {
        srv->token[2 * i] = hex[rnd[i] >> 4];
        srv->token[2 * i + 1] = hex[rnd[i] & 15];
    }
    srv->token_len = 2 * sizeof rnd;
    srv->token[srv->token_len] = 0;
    memset(rnd, 0, sizeof rnd);

    const char *path = srv->cfg.token_file;
    size_t n = strlen(path) + 32;
    char *tmp = s_alloc(srv, n);
    if (tmp == NULL) return RCGC_ENOMEM;
    snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
    unlink(tmp); /* ours from an earlier run of this pid, if any */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_err(err, errlen, "cannot create the token file %s: %s", tmp, strerror(errno));
        s_free(srv, tmp);
        return RCGC_EFAILED;
    }
    char line[TOKEN_MAX + 2];
    memcpy(line, srv->token, srv->token_len);
    line[srv->token_len] = '\n';
    int e = 0;
    struct stat st;
    errno = 0;
    ssize_t want = (ssize_t)srv->token_len + 1;
    if (fchmod(fd, 0600) != 0 || write(fd, line, (size_t)want) != want ||
        fsync(fd) != 0 || fstat(fd, &st) != 0)
        e = errno ? errno : EIO;
    memset(line, 0, sizeof line);
    if (close(fd) != 0 && e == 0) e = errno;
    if (e == 0 && rename(tmp, path) != 0) e = errno;
    if (e != 0) {
        unlink(tmp);
        set_err(err, errlen, "cannot write the token file %s: %s", path, strerror(e));
        s_free(srv, tmp);
        return RCGC_EFAILED;
    }
    s_free(srv, tmp);
    srv->token_made = 1;
    srv->tok_dev = st.st_dev;
    srv->tok_ino = st.st_ino;
    return 0;
}

/* Remove a stale socket at path, or refuse anything else. */
static int clear_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        set_err(err, errlen, "cannot examine %s: %s", path, strerror(errno));
        return RCGC_EFAILED;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_err(err, errlen, "%s exists and is not a socket: refusing to "
                "replace it", path);
        return RCGC_EINVAL;
    }
    /* A socket: stale unless something accepts connections on it. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, errlen, "socket: %s", strerror(errno));
        return RCGC_EFAILED;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
        set_err(err, errlen, "%s: a server is already listening there", path);
        return RCGC_EINVAL;
    }
    if (e != ECONNREFUSED) {
        set_err(err, errlen, "cannot probe the socket %s: %s", path, strerror(e));
        return RCGC_EFAILED;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        set_err(err, errlen, "cannot remove the stale socket %s: %s", path,
                strerror(errno));
        return RCGC_EFAILED;
    }
    return 0;
}

static int open_socket(rcgc_serve *srv, char *err, size_t errlen)
{
    const char *path = srv->cfg.socket_path;
    int e = clear_path(path, err, errlen);
    if (e != 0) return e;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, errlen, "socket: %s", strerror(errno));
        return RCGC_EFAILED;
    }
    srv->lfd = fd;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Linux creates the socket file with the socket inode's mode minus the
     * umask: both are narrowed, so the file is 0600 from its creation. */
    if (fchmod(fd, 0600) != 0) {
        set_err(err, errlen, "fchmod on the socket: %s", strerror(errno));
        return RCGC_EFAILED;
    }
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int be = errno;
    umask(old);
    if (r != 0) {
        set_err(err, errlen, "cannot bind %s: %s", path, strerror(be));
        return be == EADDRINUSE ? RCGC_EINVAL : RCGC_EFAILED;
    }
    /* listen at once: between bind and listen a second server's probe
     * (clear_path) would get ECONNREFUSED and unlink our socket as stale.
     * Nobody can connect before the checks below: accepting happens only
     * in rcgc_serve_poll, after start returned. */
    if (listen(fd, srv->cfg.max_clients + 8) != 0) {
        int le = errno;
        struct stat lst;
        if (lstat(path, &lst) == 0 && S_ISSOCK(lst.st_mode)) {
            srv->sock_made = 1; /* ours: stop unlinks it */
            srv->sock_dev = lst.st_dev;
            srv->sock_ino = lst.st_ino;
        }
        set_err(err, errlen, "listen: %s", strerror(le));
        return RCGC_EFAILED;
    }
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        set_err(err, errlen, "%s vanished after bind", path);
        return RCGC_EFAILED;
    }
    srv->sock_made = 1;
    srv->sock_dev = st.st_dev;
    srv->sock_ino = st.st_ino;
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
        set_err(err, errlen, "%s was created with mode %03o, owner %lu: refusing",
                path, (unsigned)(st.st_mode & 0777), (unsigned long)st.st_uid);
        return RCGC_EFAILED;
    }
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (srv->epfd < 0) {
        set_err(err, errlen, "epoll_create1: %s", strerror(errno));
        return RCGC_EFAILED;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u32 = LISTENER_ID;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        set_err(err, errlen, "epoll_ctl: %s", strerror(errno));
        return RCGC_EFAILED;
    }
    return 0;
}

int rcgc_serve_start(rcgc_runtime *rt,
                     const rcgc_serve_config *cfg,
                     rcgc_serve **out, char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if (out != NULL) *out = NULL;
    if (rt == NULL || cfg == NULL || out == NULL) {
        set_err(err, errlen, "NULL argument");
        return RCGC_EINVAL;
    }
    int e = check_config(cfg, 1, err, errlen);
    if (e != 0) return e;
    rcgc_serve *srv;
    e = srv_new(rt, cfg, &srv);
    if (e != 0) {
        set_err(err, errlen, "out of memory");
        return e;
    }
    /* the socket first: a start that fails there (a server already
     * listening on the path) must not touch that server's token file */
    e = open_socket(srv, err, errlen);
    if (e == 0 && cfg->token == NULL) e = make_token(srv, err, errlen);
    if (e != 0) {
        rcgc_serve_stop(srv);
        return e;
    }
    *out = srv;
    return 0;
}

int rcgc__serve_new_detached(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                             rcgc_serve **out)
{
    if (cfg->token == NULL) return RCGC_EINVAL;
    int e = check_config(cfg, 0, NULL, 0);
    return e != 0 ? e : srv_new(rt, cfg, out);
}

/* Unlink path if it is still the file we made. */
static void unlink_ours(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (path != NULL && lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        unlink(path);
}

void rcgc_serve_stop(rcgc_serve *srv)
{
    if (srv == NULL) return;
    if (srv->in_poll) {
        /* from inside rcgc_serve_poll (a command hook, a diag callback):
         * freeing now would pull the state from under the poll.  It
         * finishes the work in hand, then stops before it returns. */
        srv->stop_requested = 1;
        return;
    }
    srv_stop_now(srv);
}

static void srv_stop_now(rcgc_serve *srv)
{
    for (int id = 0; id < srv->cfg.max_clients; id++) client_close(srv, id, 0);
    trace_cancel(srv);
    if (srv->epfd >= 0) close(srv->epfd);
    if (srv->lfd >= 0) close(srv->lfd);
    if (srv->sock_made) unlink_ours(srv->cfg.socket_path, srv->sock_dev, srv->sock_ino);
    if (srv->token_made) unlink_ours(srv->cfg.token_file, srv->tok_dev, srv->tok_ino);
    memset(srv->token, 0, sizeof srv->token);
    srv_free(srv);
}
