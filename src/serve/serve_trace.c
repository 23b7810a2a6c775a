/*
 * serve_trace.c - the endpoint's "trace" windows (docs/serve.md): one at a
 * time; the tracer started if it was off, a snapshot, then at the deadline
 * (serve_client.c's check_deadlines) a second snapshot, the comparison as
 * the answer, and the tracer stopped again if the window started it.  A
 * client that hangs up cancels its window.
 */
#include <string.h>

#include "platform/os.h"
#include "serve/serve_internal.h"

void rcgc__serve_trace_cancel(rcgc_serve *srv)
{
    struct serve_trace_window *tw = &srv->tw;
    if (!tw->active) return;
    rcgc_snapshot_free(tw->before);
    if (tw->we_started && rcgc_trace_is_tracing(srv->rt)) rcgc_trace_stop(srv->rt);
    memset(tw, 0, sizeof *tw);
    tw->client = -1;
    srv->stats.tracing = 0;
}

int rcgc__serve_trace_begin(rcgc_serve *srv, const serve_req *r, int client_id,
                            jbuf *out)
{
    struct serve_trace_window *tw = &srv->tw;
    if (tw->active) {
        uint64_t now = rcgc__os_now_ns();
        double left = tw->deadline > now ? (double)(tw->deadline - now) / 1e9 : 0;
        rcgc__serve_answer_err(out, "busy: a trace window is already open (%ld s, ends "
                                    "in %.1f s); one at a time", tw->seconds, left);
        return -1;
    }
    if (!(r->have & SERVE_F_SECONDS)) {
        rcgc__jb_error(out, "\"trace\" needs \"seconds\": how long to trace");
        return -1;
    }
    if (r->seconds < 1 || r->seconds > srv->cfg.max_trace_seconds) {
        rcgc__serve_answer_err(out, "\"seconds\" must be 1..%d",
                               srv->cfg.max_trace_seconds);
        return -1;
    }
    rcgc_stat_key key = RCGC_BY_LINENO;
    if (r->have & SERVE_F_BY) {
        if (strcmp(r->by, "lineno") == 0) key = RCGC_BY_LINENO;
        else if (strcmp(r->by, "filename") == 0) key = RCGC_BY_FILENAME;
        else if (strcmp(r->by, "traceback") == 0) key = RCGC_BY_TRACEBACK;
        else {
            rcgc__jb_error(out, "\"by\" must be \"lineno\", \"filename\" or \"traceback\"");
            return -1;
        }
    }
    int was = rcgc_trace_is_tracing(srv->rt);
    if (!was) {
        int e = rcgc_trace_start(srv->rt, &srv->cfg.trace);
        if (e != 0) {
            rcgc__serve_answer_err(out, "cannot start the tracer: %s", rcgc_strerror(e));
            return -1;
        }
    }
    rcgc_snapshot *before = rcgc_snapshot_take(srv->rt);
    if (before == NULL) {
        if (!was) rcgc_trace_stop(srv->rt);
        rcgc__serve_answer_err(out, "cannot take a snapshot: %s",
                               rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
        return -1;
    }
    tw->active = 1;
    tw->client = client_id;
    tw->we_started = !was;
    tw->before = before;
    tw->deadline = rcgc__os_now_ns() + (uint64_t)r->seconds * 1000000000u;
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
    rcgc__jb_lit(b, "{\"file\":");
    rcgc__jb_str(b, f->filename);
    if (with_line) {
        rcgc__jb_key(b, "line");
        rcgc__jb_uint(b, f->lineno);
        if (f->function != NULL) {
            rcgc__jb_key(b, "function");
            rcgc__jb_str(b, f->function);
        }
    }
    if (f->module != NULL) {
        rcgc__jb_key(b, "module");
        rcgc__jb_str(b, f->module);
        rcgc__jb_key(b, "offset");
        rcgc__jb_uint(b, f->offset);
    }
    rcgc__jb_lit(b, "}");
}

/* The window's end: the comparison into out, the tracer as it was. */

/* One group of the comparison: where, how much, and its text. */
static void put_stat(jbuf *out, const rcgc_statistic *s, rcgc_stat_key key)
{
    char text[1024];
    rcgc__jb_lit(out, "{");
    const rcgc_traceback *tb = s->traceback;
    if (key != RCGC_BY_TRACEBACK && tb->nframe > 0) {
        rcgc__jb_key(out, "file");
        rcgc__jb_str(out, tb->frames[0].filename);
        if (key == RCGC_BY_LINENO) {
            rcgc__jb_key(out, "line");
            rcgc__jb_uint(out, tb->frames[0].lineno);
        }
    }
    rcgc__jb_key(out, "size");
    rcgc__jb_num(out, s->size);
    rcgc__jb_key(out, "size_diff");
    rcgc__jb_num(out, s->size_diff);
    rcgc__jb_key(out, "count");
    rcgc__jb_num(out, s->count);
    rcgc__jb_key(out, "count_diff");
    rcgc__jb_num(out, s->count_diff);
    int tl = rcgc_statistic_format(s, key, 1, text, sizeof text);
    if (tl > 0) {
        rcgc__jb_key(out, "text");
        rcgc__jb_strn(out, text, (size_t)tl < sizeof text ? (size_t)tl : sizeof text - 1);
    }
    if (key == RCGC_BY_TRACEBACK) {
        rcgc__jb_key(out, "traceback");
        rcgc__jb_lit(out, "[");
        for (int f = 0; f < tb->nframe; f++) {
            rcgc__jb_sep(out);
            put_frame(out, &tb->frames[f], 1);
        }
        rcgc__jb_lit(out, "]");
    }
    rcgc__jb_lit(out, "}");
}

/* The answer's head: the window, the two snapshots, the totals. */
static void put_summary(rcgc_serve *srv, jbuf *out, const rcgc_snapshot *after,
                        double size_diff, double count_diff,
                        rcgc_ssize changed, rcgc_ssize show)
{
    const struct serve_trace_window *tw = &srv->tw;
    rcgc__serve_begin_ok(out, "trace");
    rcgc__jb_key(out, "seconds");
    rcgc__jb_int(out, tw->seconds);
    rcgc__jb_key(out, "by");
    rcgc__jb_str(out, key_name(tw->key));
    rcgc__jb_key(out, "tracer");
    rcgc__jb_str(out, tw->we_started ? "started for the window, then stopped"
                                     : "already tracing: left on");
    rcgc__jb_key(out, "traceback_limit");
    rcgc__jb_int(out, rcgc_snapshot_traceback_limit(after));
    rcgc__jb_key(out, "sample_bytes");
    rcgc__jb_uint(out, rcgc_snapshot_sample_bytes(after));
    rcgc__jb_key(out, "traces_before");
    rcgc__jb_int(out, rcgc_snapshot_count(tw->before));
    rcgc__jb_key(out, "traces_after");
    rcgc__jb_int(out, rcgc_snapshot_count(after));
    rcgc__jb_key(out, "size_diff");
    rcgc__jb_num(out, size_diff);
    rcgc__jb_key(out, "count_diff");
    rcgc__jb_num(out, count_diff);
    rcgc__jb_key(out, "groups_changed");
    rcgc__jb_int(out, changed);
    rcgc__jb_key(out, "shown");
    rcgc__jb_int(out, show);
}

/* The second snapshot, or NULL after cancelling with an error answer. */
static rcgc_snapshot *take_after(rcgc_serve *srv, jbuf *out)
{
    rcgc_snapshot *after = rcgc_trace_is_tracing(srv->rt) ? rcgc_snapshot_take(srv->rt) : NULL;
    if (after == NULL) {
        int stopped = !rcgc_trace_is_tracing(srv->rt);
        rcgc__serve_trace_cancel(srv);
        if (stopped)
            rcgc__jb_error(out, "the program stopped the tracer during the window");
        else
            rcgc__serve_answer_err(out, "cannot take a snapshot: %s",
                                   rcgc_strerror(rcgc_runtime_last_error(srv->rt)));
    }
    return after;
}

void rcgc__serve_trace_finish(rcgc_serve *srv, jbuf *out)
{
    struct serve_trace_window *tw = &srv->tw;
    rcgc_snapshot *after = take_after(srv, out);
    if (after == NULL) return;
    rcgc_statistic *st = NULL;
    rcgc_ssize n = rcgc_snapshot_compare(after, tw->before, tw->key, 0, &st);
    if (n < 0) {
        rcgc_snapshot_free(after);
        rcgc__serve_trace_cancel(srv);
        rcgc__serve_answer_err(out, "cannot compare the snapshots: %s",
                               rcgc_strerror((int)n));
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
    put_summary(srv, out, after, size_diff, count_diff, changed, show);
    rcgc__jb_key(out, "stats");
    rcgc__jb_lit(out, "[");
    for (rcgc_ssize i = 0, k = 0; i < n && k < show && !out->overflow; i++) {
        if (st[i].size_diff == 0 && st[i].count_diff == 0) continue;
        k++;
        rcgc__jb_sep(out);
        put_stat(out, &st[i], tw->key);
    }
    rcgc__jb_lit(out, "]");
    rcgc_statistics_free(st);
    rcgc_snapshot_free(after);
    rcgc__serve_trace_cancel(srv); /* frees before, stops the tracer if we started it */
    rcgc__serve_end_ok(srv, out);
}
