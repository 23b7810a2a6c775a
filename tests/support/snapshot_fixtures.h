/*
 * snapshot_fixtures.h - what the test_snapshot*.c programs share (split by topic from one file).
 */
#ifndef RCGC_TEST_SNAPSHOT_FIXTURES_H
#define RCGC_TEST_SNAPSHOT_FIXTURES_H

#include "test.h"

/* ---- helpers ---- */

#define MAXF 16

/* Add a trace "domain size total_nframe file:line,file:line..." (frames
 * most recent first, as CPython's raw traces) with a NEW traceback each
 * time, so grouping must compare contents, not pointers. */
void add_spec_est(rcgc_snapshot *s, const char *spec, double est_size,
                  double est_count);

void add_spec(rcgc_snapshot *s, const char *spec);

rcgc_snapshot *from_specs(const char *const *specs, int limit);

/* CPython's create_snapshots() of test_tracemalloc.py. */
extern const char *const raw1[];

int str_eq(const char *a, const char *b);

/* Every field of both snapshots, in order. */
int snap_equal(const rcgc_snapshot *a, const rcgc_snapshot *b);

extern char tmp_path[256];

/* A scratch file name of this process (in a static buffer). */
const char *scratch(const char *tag);

#endif
