/*
 * serve_cmd.c - the endpoint's commands (docs/serve.md): ping, help,
 * stats, alloc, counts, why, snapshot and the program's own, their
 * dispatch, and the token check in front of them.  "trace" opens a window
 * (serve_trace.c) instead of answering at once.
 *
 * Every command reads the runtime through the public API; its own work
 * (counts, why-alive) allocates from the MEM domain and frees before
 * returning, while the answer comes from the server's allocator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "rcgc_diag.h"
#include "serve/serve_internal.h"

#define SNAPSHOT_NAME_MAX 128
#define WHY_LIMIT_MAX 20
#define WHY_CHAIN_MAX 256

/* ---- answers ---- */

void rcgc__serve_answer_err(jbuf *b, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rcgc__jb_error(b, msg);
}

void rcgc__serve_begin_ok(jbuf *b, const char *cmd)
{
    rcgc__jb_lit(b, "{\"ok\":true,\"cmd\":");
    rcgc__jb_str(b, cmd);
}

void rcgc__serve_end_ok(rcgc_serve *srv, jbuf *b)
{
    rcgc__jb_lit(b, "}\n");
    if (b->overflow)
        rcgc__serve_answer_err(b, "the answer is larger than max_response (%zu bytes): "
                                  "ask for fewer entries (\"top\", \"limit\")",
                               srv->cfg.max_response);
    else if (b->nomem)
        rcgc__jb_error(b, "out of memory while writing the answer");
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
    {"retained", SERVE_F_TOP},
    {"heapsnapshot", SERVE_F_PATH},
};

static const char *const field_names[] = {"cmd",  "token", "seconds",
                                          "top",  "by",    "type",
                                          "limit", "path", "arg"};

int rcgc__serve_check_fields(const serve_req *r, unsigned allowed, jbuf *out)
{
    unsigned extra = r->have & ~(allowed | SERVE_F_CMD | SERVE_F_TOKEN);
    for (unsigned k = 0; k < 9; k++)
        if (extra & (1u << k)) {
            rcgc__serve_answer_err(out, "\"%s\" does not take \"%s\"", r->cmd,
                                   field_names[k]);
            return -1;
        }
    return 0;
}

static void cmd_ping(jbuf *b)
{
    rcgc__serve_begin_ok(b, "ping");
    rcgc__jb_key(b, "pid");
    rcgc__jb_int(b, (long long)rcgc__os_pid());
    rcgc__jb_key(b, "version");
    rcgc__jb_str(b, RCGC_VERSION_STRING);
}

static void cmd_help(jbuf *b)
{
    rcgc__serve_begin_ok(b, "help");
    rcgc__jb_key(b, "commands");
    rcgc__jb_lit(b, "[\"ping\",\"help\",\"stats\",\"alloc\",\"counts [top]\","
                    "\"trace seconds [top] [by]\",\"snapshot path\","
                    "\"why type [limit]\",\"retained [top]\",\"heapsnapshot path\"]");
}

static void put_runtime(rcgc_runtime *rt, jbuf *b)
{
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    rcgc__jb_key(b, "runtime");
    rcgc__jb_lit(b, "{");
    rcgc__jb_key(b, "objects");
    rcgc__jb_int(b, rs.objects);
    rcgc__jb_key(b, "objects_peak");
    rcgc__jb_int(b, rs.objects_peak);
    rcgc__jb_key(b, "tracked");
    rcgc__jb_int(b, rs.tracked);
    rcgc__jb_key(b, "allocations");
    rcgc__jb_int(b, rs.allocations);
    rcgc__jb_key(b, "blocks");
    rcgc__jb_int(b, rs.blocks);
    rcgc__jb_lit(b, "}");
}

static void put_int_array(jbuf *b, const char *key, const int *v, int n)
{
    rcgc__jb_key(b, key);
    rcgc__jb_lit(b, "[");
    for (int i = 0; i < n; i++) rcgc__jb_sep(b), rcgc__jb_int(b, v[i]);
    rcgc__jb_lit(b, "]");
}

static void put_gc(rcgc_runtime *rt, jbuf *b)
{
    int count[3], thr[3];
    rcgc_gc_get_count(rt, count);
    rcgc_gc_get_threshold(rt, thr);
    rcgc_gc_stats gs[RCGC_NUM_GENERATIONS];
    uint64_t cpu[RCGC_NUM_GENERATIONS];
    rcgc_gc_get_stats(rt, gs);
    rcgc_gc_get_cpu_ns(rt, cpu);
    rcgc__jb_key(b, "gc");
    rcgc__jb_lit(b, "{");
    rcgc__jb_key(b, "enabled");
    rcgc__jb_lit(b, rcgc_gc_isenabled(rt) ? "true" : "false");
    rcgc__jb_key(b, "mode");
    rcgc__jb_str(b, rcgc__runtime_gc_mode(rt) == RCGC_GC_DEFERRED ? "deferred" : "sync");
    rcgc__jb_key(b, "debug");
    rcgc__jb_uint(b, rcgc_gc_get_debug(rt));
    put_int_array(b, "count", count, 3);
    put_int_array(b, "threshold", thr, 3);
    rcgc__jb_key(b, "garbage");
    rcgc__jb_int(b, rcgc_gc_garbage_size(rt));
    rcgc__jb_key(b, "frozen");
    rcgc__jb_int(b, rcgc_gc_get_freeze_count(rt));
    rcgc__jb_key(b, "generations");
    rcgc__jb_lit(b, "[");
    for (int g = 0; g < RCGC_NUM_GENERATIONS; g++) {
        rcgc__jb_sep(b);
        rcgc__jb_lit(b, "{");
        rcgc__jb_key(b, "collections");
        rcgc__jb_int(b, gs[g].collections);
        rcgc__jb_key(b, "collected");
        rcgc__jb_int(b, gs[g].collected);
        rcgc__jb_key(b, "uncollectable");
        rcgc__jb_int(b, gs[g].uncollectable);
        rcgc__jb_key(b, "total_ns");
        rcgc__jb_uint(b, gs[g].total_ns);
        rcgc__jb_key(b, "cpu_ns");
        rcgc__jb_uint(b, cpu[g]);
        rcgc__jb_lit(b, "}");
    }
    rcgc__jb_lit(b, "]}");
}

static void put_tracer(rcgc_runtime *rt, jbuf *b)
{
    size_t cur = 0, peak = 0;
    rcgc_trace_get_memory(rt, &cur, &peak);
    rcgc__jb_key(b, "tracer");
    rcgc__jb_lit(b, "{");
    rcgc__jb_key(b, "tracing");
    rcgc__jb_lit(b, rcgc_trace_is_tracing(rt) ? "true" : "false");
    rcgc__jb_key(b, "current");
    rcgc__jb_uint(b, cur);
    rcgc__jb_key(b, "peak");
    rcgc__jb_uint(b, peak);
    rcgc__jb_key(b, "overhead");
    rcgc__jb_uint(b, rcgc_trace_overhead(rt));
    rcgc__jb_lit(b, "}");
}

static void put_heap_blocks(rcgc_heap *h, jbuf *b)
{
    rcgc__jb_key(b, "heap_blocks");
    rcgc__jb_lit(b, "{");
    rcgc__jb_key(b, "raw");
    rcgc__jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_RAW));
    rcgc__jb_key(b, "mem");
    rcgc__jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_MEM));
    rcgc__jb_key(b, "obj");
    rcgc__jb_int(b, rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ));
    rcgc__jb_lit(b, "}");
}

static void put_server(const rcgc_serve *srv, jbuf *b)
{
    const rcgc_serve_stats *ss = &srv->stats;
    rcgc__jb_key(b, "server");
    rcgc__jb_lit(b, "{");
    rcgc__jb_key(b, "accepted");
    rcgc__jb_uint(b, ss->accepted);
    rcgc__jb_key(b, "answered");
    rcgc__jb_uint(b, ss->answered);
    rcgc__jb_key(b, "refused_full");
    rcgc__jb_uint(b, ss->refused_full);
    rcgc__jb_key(b, "refused_peer");
    rcgc__jb_uint(b, ss->refused_peer);
    rcgc__jb_key(b, "refused_token");
    rcgc__jb_uint(b, ss->refused_token);
    rcgc__jb_key(b, "refused_lockout");
    rcgc__jb_uint(b, srv->refused_lockout);
    rcgc__jb_key(b, "bad_requests");
    rcgc__jb_uint(b, ss->bad_requests);
    rcgc__jb_key(b, "dropped");
    rcgc__jb_uint(b, ss->dropped);
    rcgc__jb_key(b, "clients");
    rcgc__jb_int(b, srv->nclients);
    rcgc__jb_key(b, "trace_window");
    rcgc__jb_lit(b, srv->tw.active ? "true" : "false");
    rcgc__jb_lit(b, "}");
}

static void cmd_stats(rcgc_serve *srv, jbuf *b)
{
    rcgc__serve_begin_ok(b, "stats");
    rcgc__jb_key(b, "pid");
    rcgc__jb_int(b, (long long)rcgc__os_pid());
    put_runtime(srv->rt, b);
    put_gc(srv->rt, b);
    put_tracer(srv->rt, b);
    put_heap_blocks(rcgc_runtime_heap(srv->rt), b);
    put_server(srv, b);
}

#define JB_FIELD(b, s, f)                                                     \
    do {                                                                      \
        rcgc__jb_key((b), #f);                                                \
        rcgc__jb_uint((b), (unsigned long long)(s)->f);                       \
    } while (0)

static void cmd_alloc(rcgc_serve *srv, jbuf *b)
{
    rcgc_heap *h = rcgc_runtime_heap(srv->rt);
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(h);
    rcgc__serve_begin_ok(b, "alloc");
    put_heap_blocks(h, b);
    rcgc__jb_key(b, "pymalloc");
    if (pm == NULL) {
        rcgc__jb_lit(b, "null");
        return;
    }
    rcgc_pymalloc_stats s;
    rcgc_pymalloc_get_stats(pm, &s);
    rcgc__jb_lit(b, "{");
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
    rcgc__jb_key(b, "pool_blocks");
    rcgc__jb_int(b, s.pool_blocks);
    rcgc__jb_key(b, "raw_blocks");
    rcgc__jb_int(b, s.raw_blocks);
    JB_FIELD(b, &s, side_bytes);
    JB_FIELD(b, &s, side_touchable_bytes);
    rcgc__jb_key(b, "classes");
    rcgc__jb_lit(b, "[");
    for (int i = 0; i < RCGC_PYMALLOC_NCLASSES; i++) {
        const rcgc_pymalloc_class_stats *c = &s.cls[i];
        if (c->pools == 0 && c->blocks_in_use == 0) continue;
        rcgc__jb_sep(b);
        rcgc__jb_lit(b, "{");
        JB_FIELD(b, c, size);
        JB_FIELD(b, c, pools);
        JB_FIELD(b, c, blocks_in_use);
        JB_FIELD(b, c, blocks_avail);
        rcgc__jb_lit(b, "}");
    }
    rcgc__jb_lit(b, "]}");
}

static int cmd_counts(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    long top = r->have & SERVE_F_TOP ? r->top : 20;
    rcgc_diag_counts c;
    int e = rcgc_diag_count_types(srv->rt, &c);
    if (e != 0) {
        rcgc__serve_answer_err(b, "counts failed: %s", rcgc_strerror(e));
        return -1;
    }
    rcgc_ssize n = top == 0 || top > c.n ? c.n : (rcgc_ssize)top;
    rcgc__serve_begin_ok(b, "counts");
    rcgc__jb_key(b, "total");
    rcgc__jb_int(b, c.total);
    rcgc__jb_key(b, "types");
    rcgc__jb_int(b, c.types);
    rcgc__jb_key(b, "shown");
    rcgc__jb_int(b, n);
    rcgc__jb_key(b, "items");
    rcgc__jb_lit(b, "[");
    for (rcgc_ssize i = 0; i < n && !b->overflow; i++) {
        rcgc__jb_sep(b);
        rcgc__jb_lit(b, "{\"type\":");
        rcgc__jb_str(b, c.items[i].name);
        rcgc__jb_lit(b, ",\"count\":");
        rcgc__jb_int(b, c.items[i].count);
        rcgc__jb_lit(b, ",\"bytes\":");
        rcgc__jb_uint(b, c.items[i].bytes);
        rcgc__jb_lit(b, "}");
    }
    rcgc__jb_lit(b, "]");
    rcgc_diag_counts_free(srv->rt, &c);
    return 0;
}

static void put_addr(jbuf *b, const void *p)
{
    char t[32];
    snprintf(t, sizeof t, "%p", p);
    rcgc__jb_str(b, t);
}


/* One link of a chain: the object, and the edge from the one before. */
static void put_link(rcgc_serve *srv, jbuf *b, const rcgc_diag_path *p,
                     rcgc_ssize i)
{
    const rcgc_diag_options *o = &srv->cfg.diag;
    const rcgc_diag_link *l = &p->links[i];
    char buf[256];
    rcgc__jb_lit(b, "{\"type\":");
    rcgc__jb_str(b, l->obj->type->name);
    rcgc__jb_key(b, "addr");
    put_addr(b, l->obj);
    rcgc__jb_key(b, "refcnt");
    rcgc__jb_int(b, (long long)l->refcnt);
    if (o->label != NULL) {
        size_t n = o->label(l->obj, buf, sizeof buf, o->ctx);
        if (n > 0) {
            rcgc__jb_key(b, "label");
            rcgc__jb_strn(b, buf, n < sizeof buf ? n : sizeof buf - 1);
        }
    }
    if (i > 0) {
        rcgc__jb_key(b, "edge");
        size_t n = 0;
        if (o->edge_name != NULL && l->edge >= -1)
            n = o->edge_name(p->links[i - 1].obj, l->obj, l->edge, buf,
                             sizeof buf, o->ctx);
        if (n > 0)
            rcgc__jb_strn(b, buf, n < sizeof buf ? n : sizeof buf - 1);
        else if (l->edge >= 0) {
            snprintf(buf, sizeof buf, "[%td]", l->edge);
            rcgc__jb_str(b, buf);
        } else
            rcgc__jb_str(b, l->edge == -1 ? "value" : "?");
    }
    rcgc__jb_lit(b, "}");
}

static void put_chain(rcgc_serve *srv, jbuf *b, const rcgc_diag_path *p)
{
    rcgc__jb_key(b, "status");
    rcgc__jb_str(b, p->status == RCGC_DIAG_ROOTED ? "rooted" : "unreachable");
    rcgc__jb_key(b, "length");
    rcgc__jb_int(b, p->n);
    rcgc__jb_key(b, "root_external");
    rcgc__jb_int(b, p->root_external);
    rcgc__jb_key(b, "root_in_garbage");
    rcgc__jb_int(b, p->root_in_garbage);
    rcgc__jb_key(b, "target_external");
    rcgc__jb_int(b, p->target_external);
    rcgc__jb_key(b, "chain");
    rcgc__jb_lit(b, "[");
    /* a chain longer than WHY_CHAIN_MAX: its first and last links */
    rcgc_ssize head = p->n, skip_to = p->n;
    if (p->n > WHY_CHAIN_MAX) {
        head = WHY_CHAIN_MAX / 2;
        skip_to = p->n - WHY_CHAIN_MAX / 2;
    }
    for (rcgc_ssize i = 0; i < p->n && !b->overflow; i++) {
        rcgc__jb_sep(b);
        if (i == head && head < skip_to) {
            rcgc__jb_lit(b, "{\"omitted\":");
            rcgc__jb_int(b, skip_to - head);
            rcgc__jb_lit(b, "}");
            i = skip_to - 1;
            continue;
        }
        put_link(srv, b, p, i);
    }
    rcgc__jb_lit(b, "]");
}

/* What changes when objects are allocated or freed (rcgc_runtime_stats):
 * the borrowed list of cmd_why is taken again when it moved. */
static void heap_epoch(rcgc_runtime *rt, rcgc_ssize epoch[2])
{
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    epoch[0] = rs.allocations;
    epoch[1] = rs.objects;
}

/* One result of "why": the object and the chain that keeps it alive. */
static void put_why(rcgc_serve *srv, jbuf *b, rcgc_object *o)
{
    rcgc_diag_path p;
    rcgc__jb_lit(b, "{\"object\":");
    put_addr(b, o);
    int e = rcgc_diag_why_alive(srv->rt, o, &srv->cfg.diag, &p);
    if (e != 0) {
        rcgc__jb_key(b, "error");
        rcgc__jb_str(b, rcgc_strerror(e));
    } else {
        put_chain(srv, b, &p);
        rcgc_diag_path_free(srv->rt, &p);
    }
    rcgc__jb_lit(b, "}");
}

static int cmd_why(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    long limit = r->have & SERVE_F_LIMIT ? r->limit : 3;
    if (!(r->have & SERVE_F_TYPE) || r->type[0] == 0) {
        rcgc__jb_error(b, "\"why\" needs \"type\": a type name");
        return -1;
    }
    if (limit < 1 || limit > WHY_LIMIT_MAX) {
        rcgc__serve_answer_err(b, "\"limit\" must be 1..%d", WHY_LIMIT_MAX);
        return -1;
    }
    rcgc_object *objs[WHY_LIMIT_MAX];
    rcgc_ssize total = rcgc_diag_by_type(srv->rt, r->type, objs, limit);
    if (total < 0) {
        rcgc__serve_answer_err(b, "why failed: %s", rcgc_strerror((int)total));
        return -1;
    }
    rcgc_ssize n = total < limit ? total : limit;
    /* objs[] are BORROWED (rcgc_diag_by_type): valid only while nothing
     * frees objects.  The label and edge_name callbacks are the program's
     * code and may free some; holding references instead would make the
     * held objects roots in each other's chains.  So: when an iteration
     * allocated or freed any object, the list is taken again before the
     * next pointer is used. */
    rcgc_ssize epoch[2], now[2];
    heap_epoch(srv->rt, epoch);
    rcgc__serve_begin_ok(b, "why");
    rcgc__jb_key(b, "type");
    rcgc__jb_str(b, r->type);
    rcgc__jb_key(b, "objects");
    rcgc__jb_int(b, total);
    rcgc__jb_key(b, "shown");
    rcgc__jb_int(b, n);
    rcgc__jb_key(b, "results");
    rcgc__jb_lit(b, "[");
    rcgc_ssize have = n;
    for (rcgc_ssize i = 0; i < n && !b->overflow; i++) {
        heap_epoch(srv->rt, now);
        if (now[0] != epoch[0] || now[1] != epoch[1]) {
            rcgc_ssize t = rcgc_diag_by_type(srv->rt, r->type, objs, limit);
            have = t < 0 ? 0 : t < limit ? t : limit;
            heap_epoch(srv->rt, epoch);
        }
        rcgc__jb_sep(b);
        if (i < have)
            put_why(srv, b, objs[i]);
        else
            rcgc__jb_lit(b, "{\"object\":null,\"error\":\"gone: objects were "
                            "freed during the command\"}");
    }
    rcgc__jb_lit(b, "]");
    return 0;
}

static int snapshot_name_ok(const char *s)
{
    size_t n = strlen(s);
    /* not '.' first (hidden, "..") nor '-' (a name that a tool run on a
     * glob, rcgc-snapshot diff *.snap, would take for an option) */
    if (n == 0 || n > SNAPSHOT_NAME_MAX || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The file a "snapshot" or "heapsnapshot" command (cmd; kind names its
 * files) writes: snapshot_dir/NAME with a safe NAME that does not exist
 * yet, into path.  0, or -1 with the error answered. */
static int snapshot_target(rcgc_serve *srv, const serve_req *r, jbuf *b, const char *cmd,
                           const char *kind, char *path, size_t size)
{
    if (srv->cfg.snapshot_dir == NULL) {
        rcgc__serve_answer_err(b, "%s files are disabled: the program did not set "
                                  "rcgc_serve_config.snapshot_dir", kind);
        return -1;
    }
    if (!(r->have & SERVE_F_PATH)) {
        rcgc__serve_answer_err(b, "\"%s\" needs \"path\": a file name in the "
                                  "server's snapshot directory", cmd);
        return -1;
    }
    if (!snapshot_name_ok(r->path)) {
        rcgc__serve_answer_err(b, "unsafe snapshot name \"%.64s\": use 1..%d letters, "
                                  "digits, '.', '_', '-', not starting with '.' or '-' (no "
                                  "directories: files go to the server's snapshot "
                                  "directory)", r->path, SNAPSHOT_NAME_MAX);
        return -1;
    }
    snprintf(path, size, "%s/%s", srv->cfg.snapshot_dir, r->path);
    rcgc__os_stat st;
    if (rcgc__os_lstat(path, &st) == 0) {
        rcgc__serve_answer_err(b, "%s exists already: the server does not "
                                  "replace files", path);
        return -1;
    }
    return 0;
}

static int cmd_snapshot(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    char path[4096 + SNAPSHOT_NAME_MAX + 2];
    if (snapshot_target(srv, r, b, "snapshot", "snapshot", path, sizeof path) != 0)
        return -1;
    if (!rcgc_trace_is_tracing(srv->rt)) {
        rcgc__jb_error(b, "the tracer is not tracing: the program must start it "
                          "(rcgc_trace_start), or use \"trace\" for a window");
        return -1;
    }
    rcgc_snapshot *s = rcgc_snapshot_take(srv->rt);
    if (s == NULL) {
        rcgc__serve_answer_err(b, "cannot take a snapshot: %s",
                               rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
        return -1;
    }
    char err[512];
    int e = rcgc_snapshot_dump(s, path, err, sizeof err);
    rcgc_ssize n = rcgc_snapshot_count(s);
    rcgc_snapshot_free(s);
    if (e != 0) {
        rcgc__serve_answer_err(b, "cannot write the snapshot: %s", err);
        return -1;
    }
    rcgc__serve_begin_ok(b, "snapshot");
    rcgc__jb_key(b, "path");
    rcgc__jb_str(b, path);
    rcgc__jb_key(b, "traces");
    rcgc__jb_int(b, n);
    return 0;
}

/* ---- what holds the memory ---- */

#define RETAINED_TOP_MAX 10000

static void put_retainer(rcgc_serve *srv, jbuf *b, const rcgc_diag_retainer *it)
{
    rcgc__jb_sep(b);
    rcgc__jb_lit(b, "{\"type\":");
    rcgc__jb_str(b, it->obj->type->name != NULL ? it->obj->type->name : "?");
    rcgc__jb_key(b, "address");
    put_addr(b, it->obj);
    const rcgc_diag_options *o = &srv->cfg.diag;
    if (o->label != NULL) {
        char buf[256];
        size_t n = o->label(it->obj, buf, sizeof buf, o->ctx);
        if (n > 0) {
            rcgc__jb_key(b, "label");
            rcgc__jb_strn(b, buf, n < sizeof buf ? n : sizeof buf - 1);
        }
    }
    rcgc__jb_key(b, "retained_size");
    rcgc__jb_uint(b, it->retained_size);
    rcgc__jb_key(b, "retained_objects");
    rcgc__jb_int(b, it->retained_count);
    rcgc__jb_key(b, "self_size");
    rcgc__jb_uint(b, it->self_size);
    rcgc__jb_key(b, "depth");
    rcgc__jb_int(b, it->depth);
    rcgc__jb_key(b, "dominator");
    rcgc__jb_int(b, it->idom);
    rcgc__jb_key(b, "root");
    rcgc__jb_lit(b, it->root ? "true" : "false");
    rcgc__jb_lit(b, "}");
}

/* The top retainers and the sizes by type (rcgc_diag_top_retainers): top
 * of each, 20 by default, at most RETAINED_TOP_MAX, and the answer within
 * max_response as every answer. */
static int cmd_retained(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    long top = r->have & SERVE_F_TOP ? r->top : 20;
    if (top < 1 || top > RETAINED_TOP_MAX) {
        rcgc__serve_answer_err(b, "\"top\" must be 1..%d", RETAINED_TOP_MAX);
        return -1;
    }
    rcgc_diag_retainers res;
    int e = rcgc_diag_top_retainers(srv->rt, top, NULL, &res);
    if (e != 0) {
        rcgc__serve_answer_err(b, "retained failed: %s", rcgc_strerror(e));
        return -1;
    }
    rcgc__serve_begin_ok(b, "retained");
    rcgc__jb_key(b, "objects");
    rcgc__jb_int(b, res.objects);
    rcgc__jb_key(b, "reachable");
    rcgc__jb_int(b, res.reachable);
    rcgc__jb_key(b, "roots");
    rcgc__jb_int(b, res.roots);
    rcgc__jb_key(b, "total_size");
    rcgc__jb_uint(b, res.total_size);
    rcgc__jb_key(b, "unreachable");
    rcgc__jb_int(b, res.unreachable);
    rcgc__jb_key(b, "unreachable_size");
    rcgc__jb_uint(b, res.unreachable_size);
    rcgc__jb_key(b, "items");
    rcgc__jb_lit(b, "[");
    for (rcgc_ssize i = 0; i < res.n && !b->overflow; i++) put_retainer(srv, b, &res.items[i]);
    rcgc__jb_lit(b, "]");
    rcgc__jb_key(b, "types");
    rcgc__jb_lit(b, "[");
    for (rcgc_ssize i = 0; i < res.ntypes && i < top && !b->overflow; i++) {
        const rcgc_diag_type_size *t = &res.types[i];
        rcgc__jb_sep(b);
        rcgc__jb_lit(b, "{\"type\":");
        rcgc__jb_str(b, t->name);
        rcgc__jb_key(b, "count");
        rcgc__jb_int(b, t->count);
        rcgc__jb_key(b, "self_size");
        rcgc__jb_uint(b, t->self_size);
        rcgc__jb_key(b, "retained_size");
        rcgc__jb_uint(b, t->retained_size);
        rcgc__jb_lit(b, "}");
    }
    rcgc__jb_lit(b, "]");
    rcgc_diag_retainers_free(srv->rt, &res);
    return 0;
}

/* A V8 heap snapshot file in the snapshot directory, as "snapshot" writes
 * its files: the same name rules, never replacing a file. */
static int cmd_heapsnapshot(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    char path[4096 + SNAPSHOT_NAME_MAX + 2];
    if (snapshot_target(srv, r, b, "heapsnapshot", "heap snapshot", path, sizeof path) != 0)
        return -1;
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(srv->rt, &rs);
    int e = rcgc_diag_heapsnapshot_save(srv->rt, path, &srv->cfg.diag);
    if (e != 0) {
        rcgc__serve_answer_err(b, "cannot write the heap snapshot: %s", rcgc_strerror(e));
        return -1;
    }
    rcgc__serve_begin_ok(b, "heapsnapshot");
    rcgc__jb_key(b, "path");
    rcgc__jb_str(b, path);
    rcgc__jb_key(b, "objects");
    rcgc__jb_int(b, rs.tracked);
    return 0;
}

static int cmd_app(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    if (srv->cfg.command == NULL) {
        rcgc__serve_answer_err(b, "unknown command \"%s\" (\"help\" lists the commands)",
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
            rcgc__serve_answer_err(b, "unknown command \"%s\" (\"help\" lists the "
                                      "commands)", r->cmd);
        else
            rcgc__jb_error(b, msg);
        return -1;
    }
    rcgc__serve_begin_ok(b, r->cmd);
    rcgc__jb_key(b, "message");
    rcgc__jb_str(b, msg);
    return 0;
}


/* ---- dispatch ---- */

void rcgc__serve_dispatch(rcgc_serve *srv, const serve_req *r, jbuf *b)
{
    const struct cmd_fields *c = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(r->cmd, commands[i].name) == 0) c = &commands[i];
    if (c == NULL) {
        if (rcgc__serve_check_fields(r, SERVE_F_ARG, b) != 0) return;
        if (cmd_app(srv, r, b) == 0) rcgc__serve_end_ok(srv, b);
        return;
    }
    if (rcgc__serve_check_fields(r, c->allowed, b) != 0) return;
    if (rcgc__runtime_busy(srv->rt)) {
        rcgc__jb_error(b, "the runtime is collecting: rcgc_serve_poll must not be "
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
    else if (strcmp(c->name, "retained") == 0) e = cmd_retained(srv, r, b);
    else if (strcmp(c->name, "heapsnapshot") == 0) e = cmd_heapsnapshot(srv, r, b);
    else { /* trace, without a client: open and end at once */
        if (rcgc__serve_trace_begin(srv, r, -1, b) != 0) return;
        rcgc__serve_trace_cancel(srv);
        rcgc__serve_begin_ok(b, "trace");
        rcgc__jb_key(b, "started");
        rcgc__jb_lit(b, "true");
    }
    if (e == 0) rcgc__serve_end_ok(srv, b);
}

int rcgc__serve_authenticate(rcgc_serve *srv, const char *line, size_t len,
                             serve_req *req, jbuf *b)
{
    char err[256];
    if (rcgc__serve_parse(line, len, req, err, sizeof err) != 0) {
        srv->stats.bad_requests++;
        rcgc__jb_error(b, err);
        return SERVE_AUTH_BAD_REQUEST;
    }
    if (!(req->have & SERVE_F_TOKEN)) {
        srv->stats.refused_token++;
        rcgc__jb_error(b, "missing \"token\"");
        return SERVE_AUTH_BAD_TOKEN;
    }
    if (!rcgc__serve_token_equal(srv->token, srv->token_len, req->token,
                                 req->token_len)) {
        srv->stats.refused_token++;
        rcgc__jb_error(b, "bad token");
        return SERVE_AUTH_BAD_TOKEN;
    }
    return 0;
}

/* ---- wrong tokens: the lockout (serve_internal.h, struct serve_fails) ---- */

/* uid's record, NULL if none (or forgotten: its last failure is old). */
static struct serve_fails *fails_find(rcgc_serve *srv, uint32_t uid, uint64_t now)
{
    for (int i = 0; i < SERVE_FAIL_SLOTS; i++) {
        struct serve_fails *f = &srv->fails[i];
        if (!f->used || f->uid != uid) continue;
        if (now >= f->until && now - f->last >= SERVE_FAIL_FORGET_NS) {
            f->used = 0;
            return NULL;
        }
        return f;
    }
    return NULL;
}

int rcgc__serve_locked_out(rcgc_serve *srv, uint32_t uid, jbuf *b)
{
    uint64_t now = rcgc__os_now_ns();
    struct serve_fails *f = fails_find(srv, uid, now);
    if (f == NULL || now >= f->until) return 0;
    srv->refused_lockout++;
    unsigned long long ms = (f->until - now + 999999u) / 1000000u;
    rcgc__serve_answer_err(b, "too many wrong tokens from uid %lu: locked out "
                              "for %llu ms more",
                           (unsigned long)uid, ms);
    return -1;
}

void rcgc__serve_token_result(rcgc_serve *srv, uint32_t uid, int ok)
{
    uint64_t now = rcgc__os_now_ns();
    struct serve_fails *f = fails_find(srv, uid, now);
    if (ok) {
        if (f != NULL) f->used = 0;
        return;
    }
    if (f == NULL) { /* a free slot, else the least recently failed uid's */
        f = &srv->fails[0];
        for (int i = 0; i < SERVE_FAIL_SLOTS && f->used; i++)
            if (!srv->fails[i].used || srv->fails[i].last < f->last) f = &srv->fails[i];
        memset(f, 0, sizeof *f);
        f->used = 1;
        f->uid = uid;
    }
    if (f->count < UINT32_MAX) f->count++;
    f->last = now;
    if (f->count <= SERVE_FREE_FAILS) return;
    uint32_t k = f->count - SERVE_FREE_FAILS - 1;
    uint64_t lock = k >= 20 ? SERVE_LOCK_MAX_NS : SERVE_LOCK_BASE_NS << k;
    f->until = now + (lock < SERVE_LOCK_MAX_NS ? lock : SERVE_LOCK_MAX_NS);
}

void rcgc__serve_jbuf_init(rcgc_serve *srv, jbuf *b)
{
    rcgc__jb_init(b, &srv->a, srv->cfg.max_response);
}

void rcgc__serve_eval(rcgc_serve *srv, const char *line, size_t len,
                      jbuf *out)
{
    rcgc__jb_init(out, &srv->a, srv->cfg.max_response);
    serve_req *req = rcgc__serve_alloc(srv, sizeof *req);
    if (req == NULL)
        rcgc__jb_error(out, "out of memory"); /* may fail too: fallback below */
    else if (rcgc__serve_authenticate(srv, line, len, req, out) == 0)
        rcgc__serve_dispatch(srv, req, out);
    rcgc__serve_free(srv, req);
    /* whatever failed above, never an empty or partial answer */
    rcgc__jb_fallback(out);
}
