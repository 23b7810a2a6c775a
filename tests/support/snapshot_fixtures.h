/*
 * snapshot_fixtures.h - what test_snapshot.c and test_snapshot_file.c share
 * (snapshot_fixtures.c): snapshots built from CPython-style trace specs,
 * their comparison, scratch file names.
 */
#ifndef RCGC_TEST_SNAPSHOT_FIXTURES_H
#define RCGC_TEST_SNAPSHOT_FIXTURES_H

#include "rcgc_trace.h"
#include "test.h"

/* The most frames a spec may have. */
#define MAXF 16

/* Add a trace "domain size total_nframe file:line,file:line..." (frames
 * most recent first, as CPython's raw traces) with a NEW traceback each
 * time, so grouping must compare contents, not pointers. */
void add_spec_est(rcgc_snapshot *s, const char *spec, double est_size,
                  double est_count);

/* add_spec_est with the estimates of an unsampled trace (size, 1). */
void add_spec(rcgc_snapshot *s, const char *spec);
/* NEW: a snapshot of traceback limit limit holding every spec of the
 * NULL-terminated list. */
rcgc_snapshot *from_specs(const char *const *specs, int limit);

/* CPython's create_snapshots() of test_tracemalloc.py. */
extern const char *const raw1[];

/* Equal strings, or both NULL. */
int str_eq(const char *a, const char *b);

/* Every field of both snapshots, in order. */
int snap_equal(const rcgc_snapshot *a, const rcgc_snapshot *b);

/* The buffer scratch() writes. */
extern char tmp_path[256];

/* A scratch file name of this process (in a static buffer). */
const char *scratch(const char *tag);

#endif
