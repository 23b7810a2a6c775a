/*
 * snapshot_report.c - rcgc-snapshot's reports as text and JSON
 * (docs/rcgc-snapshot.md).  The statistics come from the library
 * (rcgc_snapshot_statistics / _compare, CPython's order); this file only
 * picks the top ones and lays them out.  Text follows CPython's
 * documentation recipes (display_top, "Get the traceback of a memory
 * block"); each statistic is rcgc_statistic_format's line, so it reads
 * exactly like str(Statistic) in Python.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_report.h"

/* ---- building ---- */

static void snapshot_totals(const rcgc_snapshot *s, double *size,
                            double *count)
{
    *size = 0;
    *count = 0;
    rcgc_ssize n = rcgc_snapshot_count(s);
    for (rcgc_ssize i = 0; i < n; i++) {
        const rcgc_trace *t = rcgc_snapshot_trace(s, i);
        *size += t->est_size;
        *count += t->est_count;
    }
}

int report_build(report *r, const report_options *opt,
                 const rcgc_snapshot *snap, const rcgc_snapshot *old)
{
    memset(r, 0, sizeof *r);
    r->opt = opt;
    r->snap = snap;
    r->old = opt->is_diff ? old : NULL;
    if (opt->cumulative && opt->key == RCGC_BY_TRACEBACK) return RCGC_EINVAL;
    rcgc_ssize n = r->old != NULL
        ? rcgc_snapshot_compare(snap, r->old, opt->key, opt->cumulative,
                                &r->stats)
        : rcgc_snapshot_statistics(snap, opt->key, opt->cumulative, &r->stats);
    if (n < 0) {
        r->stats = NULL;
        return (int)n;
    }
    r->nstats = n;
    r->nshown = opt->top <= 0 || opt->top > n ? n : (rcgc_ssize)opt->top;
    snapshot_totals(snap, &r->size, &r->count);
    if (r->old != NULL) snapshot_totals(r->old, &r->old_size, &r->old_count);
    return 0;
}

void report_free(report *r)
{
    if (r->stats != NULL) rcgc_statistics_free(r->stats);
    r->stats = NULL;
}

/* The sampling period the report's numbers come from (either snapshot's:
 * a diff of a sampled and a complete snapshot is still an estimate). */
static size_t report_sample_bytes(const report *r)
{
    size_t b = rcgc_snapshot_sample_bytes(r->snap);
    if (b == 0 && r->old != NULL) b = rcgc_snapshot_sample_bytes(r->old);
    return b;
}

static const char *key_name(rcgc_stat_key key)
{
    switch (key) {
    case RCGC_BY_TRACEBACK: return "traceback";
    case RCGC_BY_FILENAME: return "filename";
    default: return "lineno";
    }
}

/* The sums over the statistics not listed (CPython's "N other"). */
static void other_sums(const report *r, double *size, double *size_diff)
{
    *size = 0;
    *size_diff = 0;
    for (rcgc_ssize i = r->nshown; i < r->nstats; i++) {
        *size += r->stats[i].size;
        *size_diff += r->stats[i].size_diff;
    }
}

/* ---- text ---- */

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 when
 * it is not one (overlong forms, surrogates, beyond U+10FFFF). */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (c < 0xc2 || c > 0xf4 || n < len) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* surrogates */
    if (c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* beyond U+10FFFF */
    return len;
}

/* The code point of the valid sequence of len bytes at p. */
static unsigned long utf8_code_point(const unsigned char *p, size_t len)
{
    unsigned long cp = p[0] & (0x7fu >> len);
    for (size_t k = 1; k < len; k++) cp = cp << 6 | (p[k] & 0x3fu);
    return cp;
}

/* Code points a terminal acts on or that reorder the text: the C1
 * controls (U+009B is CSI), the line and paragraph separators, and the
 * bidirectional embeddings, overrides and isolates. */
static int unsafe_code_point(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void text_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        size_t len = 1;
        if (*p == '\\') fputs("\\\\", out);
        else if (*p == '\t') fputs("\\t", out);
        else if (*p == '\n') fputs("\\n", out);
        else if (*p == '\r') fputs("\\r", out);
        else if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\x%02x", *p);
        else if (*p < 0x80) fputc(*p, out);
        else if ((len = utf8_sequence(p, n)) == 0) {
            fprintf(out, "\\x%02x", *p);
            len = 1;
        } else if (unsafe_code_point(utf8_code_point(p, len))) {
            fprintf(out, "\\u%04lx", utf8_code_point(p, len));
        } else {
            fwrite(p, 1, len, out);
        }
        p += len, n -= len;
    }
}

static void put_size(FILE *out, double size, int sign)
{
    char buf[64];
    rcgc_format_size(size, sign, buf, sizeof buf);
    fputs(buf, out);
}

/* rcgc_statistic_format's line, however long it is. */
static int put_statistic(FILE *out, const rcgc_statistic *st,
                         rcgc_stat_key key, int is_diff)
{
    char buf[512];
    int n = rcgc_statistic_format(st, key, is_diff, buf, sizeof buf);
    if (n < 0) return 0;
    if ((size_t)n < sizeof buf) {
        text_string(out, buf);
        return 0;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) return RCGC_ENOMEM;
    rcgc_statistic_format(st, key, is_diff, big, (size_t)n + 1);
    text_string(out, big);
    free(big);
    return 0;
}

/* One frame as the tracer's own reports show it: CPython's
 * `  File "x.c", line 52`, plus the function when known; a C stack frame
 * without a source file shows its module and the offset in it. */
static void put_frame(FILE *out, const rcgc_frame *f)
{
    fputs("  File \"", out);
    if (f->module != NULL && f->lineno == 0) {
        text_string(out, f->module);
        fprintf(out, "\", +0x%llx", (unsigned long long)f->offset);
    } else {
        text_string(out, f->filename ? f->filename : "<unknown>");
        fprintf(out, "\", line %u", f->lineno);
    }
    if (f->function != NULL) {
        fputs(", in ", out);
        text_string(out, f->function);
    }
    fputc('\n', out);
}

/* Traceback.format(): oldest frame first (the snapshot keeps them most
 * recent first).  Frames beyond the traceback limit were the oldest ones. */
static void put_traceback(FILE *out, const rcgc_traceback *tb)
{
    if (tb->total_nframe > tb->nframe)
        fprintf(out, "  [%d older frames not recorded]\n",
                tb->total_nframe - tb->nframe);
    for (int i = tb->nframe - 1; i >= 0; i--) put_frame(out, &tb->frames[i]);
}

static const char *key_plural(rcgc_stat_key key)
{
    switch (key) {
    case RCGC_BY_TRACEBACK: return "tracebacks";
    case RCGC_BY_FILENAME: return "files";
    default: return "lines";
    }
}

static const char *key_singular(rcgc_stat_key key)
{
    switch (key) {
    case RCGC_BY_TRACEBACK: return "traceback";
    case RCGC_BY_FILENAME: return "file";
    default: return "line";
    }
}

static void text_header(const report *r, FILE *out)
{
    const report_options *o = r->opt;
    fputs("Snapshot ", out);
    text_string(out, o->files[r->old != NULL]);
    if (r->old != NULL) {
        fputs(" compared to ", out);
        text_string(out, o->files[0]);
        fprintf(out, ": %lld traces (%+lld), traceback limit %d\n",
                (long long)rcgc_snapshot_count(r->snap),
                (long long)(rcgc_snapshot_count(r->snap) -
                            rcgc_snapshot_count(r->old)),
                rcgc_snapshot_traceback_limit(r->snap));
    } else {
        fprintf(out, ": %lld traces, traceback limit %d\n",
                (long long)rcgc_snapshot_count(r->snap),
                rcgc_snapshot_traceback_limit(r->snap));
    }
    size_t sample = report_sample_bytes(r);
    if (sample != 0)
        fprintf(out, "sampled: 1 per %zu bytes; sizes and counts are "
                "estimates\n", sample);
    if (r->old != NULL)
        fprintf(out, "Top %lld differences by %s%s\n", (long long)r->nshown,
                key_singular(o->key), o->cumulative ? " (cumulative)" : "");
    else
        fprintf(out, "Top %lld %s%s\n", (long long)r->nshown,
                key_plural(o->key), o->cumulative ? " (cumulative)" : "");
}

static void text_total(const report *r, FILE *out)
{
    fputs("Total allocated size: ", out);
    put_size(out, r->size, 0);
    if (r->old != NULL) {
        fputs(" (", out);
        put_size(out, r->size - r->old_size, 1);
        fputc(')', out);
    }
    fputc('\n', out);
}

/* CPython's "N other: SIZE" for the statistics not listed; without the
 * size when cumulative, where groups overlap (a trace is in the group of
 * each of its frames) and their sum would mean nothing. */
static void text_other(const report *r, FILE *out)
{
    double size, size_diff;
    other_sums(r, &size, &size_diff);
    fprintf(out, "%lld other", (long long)(r->nstats - r->nshown));
    if (!r->opt->cumulative) {
        fputs(": ", out);
        put_size(out, size, 0);
        if (r->old != NULL) {
            fputs(" (", out);
            put_size(out, size_diff, 1);
            fputc(')', out);
        }
    }
    fputc('\n', out);
}

int report_write_text(const report *r, FILE *out)
{
    text_header(r, out);
    for (rcgc_ssize i = 0; i < r->nshown; i++) {
        const rcgc_statistic *st = &r->stats[i];
        fprintf(out, "#%lld: ", (long long)i + 1);
        if (put_statistic(out, st, r->opt->key, r->old != NULL) != 0)
            return RCGC_ENOMEM;
        fputc('\n', out);
        if (r->opt->key == RCGC_BY_TRACEBACK) put_traceback(out, st->traceback);
    }
    if (r->nstats > r->nshown) text_other(r, out);
    text_total(r, out);
    return 0;
}

/* ---- JSON ---- */

static void json_ascii(FILE *out, unsigned char c)
{
    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    case '<': case '>': case '&': fprintf(out, "\\u%04x", c); break;
    default:
        if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
}

void json_string(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', out);
    while (n > 0) {
        if (*p < 0x80) {
            json_ascii(out, *p);
            p++, n--;
            continue;
        }
        size_t len = utf8_sequence(p, n);
        if (len == 0) {
            fputs("\\ufffd", out);
            len = 1;
        } else {
            fwrite(p, 1, len, out);
        }
        p += len, n -= len;
    }
    fputc('"', out);
}

void json_number(FILE *out, double v)
{
    if (!isfinite(v)) v = 0;
    if (v == floor(v) && fabs(v) < 1e15) fprintf(out, "%.0f", v);
    else fprintf(out, "%.17g", v);
}

void json_frame(FILE *out, const rcgc_frame *f)
{
    fputs("{\"filename\":", out);
    json_string(out, f->filename ? f->filename : "<unknown>");
    fprintf(out, ",\"lineno\":%u,\"function\":", f->lineno);
    json_string(out, f->function);
    fputs(",\"module\":", out);
    json_string(out, f->module);
    fprintf(out, ",\"offset\":%llu}", (unsigned long long)f->offset);
}

static void json_statistic(FILE *out, const rcgc_statistic *st, int diff)
{
    const rcgc_traceback *tb = st->traceback;
    fputs("{\"frames\":[", out);
    for (int i = tb->nframe - 1; i >= 0; i--) { /* oldest first */
        json_frame(out, &tb->frames[i]);
        if (i > 0) fputc(',', out);
    }
    fprintf(out, "],\"total_nframe\":%d,\"size\":", tb->total_nframe);
    json_number(out, st->size);
    fputs(",\"count\":", out);
    json_number(out, st->count);
    if (diff) {
        fputs(",\"size_diff\":", out);
        json_number(out, st->size_diff);
        fputs(",\"count_diff\":", out);
        json_number(out, st->count_diff);
    }
    fputc('}', out);
}

static void json_totals(const report *r, FILE *out)
{
    fputs("\"total\":{\"size\":", out);
    json_number(out, r->size);
    fputs(",\"count\":", out);
    json_number(out, r->count);
    if (r->old != NULL) {
        fputs(",\"size_diff\":", out);
        json_number(out, r->size - r->old_size);
        fputs(",\"count_diff\":", out);
        json_number(out, r->count - r->old_count);
    }
    double size, size_diff;
    other_sums(r, &size, &size_diff);
    fprintf(out, "},\"other\":{\"statistics\":%lld,\"size\":",
            (long long)(r->nstats - r->nshown));
    json_number(out, size);
    if (r->old != NULL) {
        fputs(",\"size_diff\":", out);
        json_number(out, size_diff);
    }
    fputc('}', out);
}

static void json_header(const report *r, FILE *out)
{
    const report_options *o = r->opt;
    int diff = r->old != NULL;
    fprintf(out, "\"kind\":\"%s\",\"files\":[", diff ? "diff" : "show");
    json_string(out, o->files[0]);
    if (diff) {
        fputc(',', out);
        json_string(out, o->files[1]);
    }
    fprintf(out, "],\"key\":\"%s\",\"cumulative\":%s,\"sample_bytes\":%zu,"
            "\"traceback_limit\":%d,\"traces\":%lld,", key_name(o->key),
            o->cumulative ? "true" : "false", report_sample_bytes(r),
            rcgc_snapshot_traceback_limit(r->snap),
            (long long)rcgc_snapshot_count(r->snap));
    if (diff)
        fprintf(out, "\"old_traces\":%lld,",
                (long long)rcgc_snapshot_count(r->old));
}

void report_json_members(const report *r, FILE *out)
{
    json_header(r, out);
    json_totals(r, out);
    fputs(",\"statistics\":[", out);
    for (rcgc_ssize i = 0; i < r->nshown; i++) {
        if (i > 0) fputs(",\n", out);
        json_statistic(out, &r->stats[i], r->old != NULL);
    }
    fputc(']', out);
}

int report_write_json(const report *r, FILE *out)
{
    fputc('{', out);
    report_json_members(r, out);
    fputs("}\n", out);
    return 0;
}
