/*
 * snapshot_report.h - the reports of rcgc-snapshot (docs/rcgc-snapshot.md):
 * the statistics of one snapshot ("show") or of one compared to an older
 * one ("diff"), written as text, JSON or a self-contained HTML page with a
 * flame graph.  Written only against rcgc's public API (rcgc_trace.h).
 */
#ifndef RCGC_SNAPSHOT_REPORT_H
#define RCGC_SNAPSHOT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rcgc.h"

typedef enum report_format {
    REPORT_TEXT = 0,
    REPORT_JSON = 1,
    REPORT_HTML = 2,
    REPORT_PPROF = 3
} report_format;

/* What the user asked for (the command line, parsed). */
typedef struct report_options {
    int is_diff;          /* 0: show FILE; 1: diff OLD NEW */
    rcgc_stat_key key;    /* --by */
    int cumulative;       /* --cumulative */
    long top;             /* --top: statistics listed; 0: all */
    report_format format; /* --format */
    const char *files[2]; /* show: {FILE}; diff: {OLD, NEW} */
} report_options;

/* A computed report: the sorted statistics and the totals.  Owns stats. */
typedef struct report {
    const report_options *opt;
    const rcgc_snapshot *snap;  /* show: the snapshot; diff: NEW (BORROWED) */
    const rcgc_snapshot *old;   /* diff: OLD; show: NULL (BORROWED) */
    rcgc_statistic *stats;      /* every group, sorted as CPython sorts */
    rcgc_ssize nstats;
    rcgc_ssize nshown;          /* the first nshown are listed (--top) */
    double size, count;         /* totals of snap (every trace once) */
    double old_size, old_count; /* diff: totals of old */
} report;

/* Group snap (and compare with old when opt->is_diff).  0, or a negative
 * rcgc code (RCGC_ENOMEM; RCGC_EINVAL for --cumulative --by traceback). */
int report_build(report *r, const report_options *opt,
                 const rcgc_snapshot *snap, const rcgc_snapshot *old);
void report_free(report *r);

/* Each writer returns 0, or a negative rcgc code (RCGC_ENOMEM); write
 * errors are left for the caller to see with ferror(out). */
int report_write_text(const report *r, FILE *out);
int report_write_json(const report *r, FILE *out);
int report_write_html(const report *r, FILE *out);
/* pprof's profile.proto, gzipped (snapshot_pprof.c): every trace of snap
 * (diff: and of old, negated), whatever --top and --by say. */
int report_write_pprof(const report *r, FILE *out);

/* The members of the JSON report without its braces, for the HTML page's
 * embedded data (which adds "flame"). */
void report_json_members(const report *r, FILE *out);

/* s for a terminal (the text report and messages): printable ASCII and
 * valid UTF-8 as they are; a backslash as \\, tab, newline and carriage
 * return as \t \n \r, other C0 controls, DEL and each byte of invalid
 * UTF-8 as \xNN; C1 controls (U+0080..U+009F), U+2028, U+2029 and the
 * bidirectional controls (U+202A..U+202E, U+2066..U+2069) as \uNNNN.  No
 * escape sequence from a snapshot reaches the terminal. */
void text_string(FILE *out, const char *s);
/* s as a JSON string literal: quotes, backslash and control characters
 * escaped, '<' '>' '&' as \u escapes (so the text can sit inside an HTML
 * <script> element), invalid UTF-8 as \ufffd.  NULL as null. */
void json_string(FILE *out, const char *s);
/* A JSON number: integers exactly, others with 17 digits; NaN and
 * infinities (not JSON) as 0. */
void json_number(FILE *out, double v);
/* One frame as {"filename","lineno","function","module","offset"}. */
void json_frame(FILE *out, const rcgc_frame *f);

/* ---- the flame graph's tree (snapshot_flame.c) ---- */

typedef struct flame flame;

/*
 * NEW: the tree of the tracebacks of stats (frames oldest first from the
 * root, which stands for all memory), each weighted by its size (diff:
 * its size_diff, positive ones only), identical paths merged; then pruned:
 * nodes below min_share of the root, and all but the max_nodes largest,
 * are merged into one "other" node per parent.  NULL when out of memory.
 */
flame *flame_build(const rcgc_statistic *stats, rcgc_ssize n, int is_diff,
                   double min_share, size_t max_nodes);
void flame_free(flame *f);
/* The pruned tree as a JSON object {"total","nodes":[[parent, frame,
 * value]...],"frames":[...],"nodes_before_pruning"}: nodes in preorder,
 * children largest first, parent -1 for the root; frame -1 for the root,
 * -2 for an "other" node, else an index into frames.  0 or RCGC_ENOMEM. */
int flame_write_json(const flame *f, FILE *out);

#endif
