/*
 * snapshot_fixtures.c - the shared helpers of snapshot_fixtures.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot_fixtures.h"
#include "core/internal.h"
#include "trace/snapshot_internal.h"

void add_spec_est(rcgc_snapshot *s, const char *spec, double est_size,
                  double est_count)
{
    unsigned domain;
    unsigned long size;
    int total, used = 0;
    if (sscanf(spec, "%u %lu %d %n", &domain, &size, &total, &used) != 3) {
        t_fail(__FILE__, __LINE__, "bad spec %s", spec);
        return;
    }
    rcgc_frame frames[MAXF];
    char names[MAXF][64];
    int n = 0;
    for (const char *p = spec + used; *p && n < MAXF; n++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = p + len;
        while (colon > p && *colon != ':') colon--;
        size_t flen = (size_t)(colon - p);
        memcpy(names[n], p, flen);
        names[n][flen] = '\0';
        frames[n] = (rcgc_frame){names[n], (unsigned)atoi(colon + 1), NULL, NULL, 0};
        p = end ? end + 1 : p + len;
    }
    long tb = rcgc__snapshot_add_traceback(s, frames, n, total);
    CHECK(tb >= 0);
    CHECK_EQ(rcgc__snapshot_add_trace(s, domain, size, tb, est_size, est_count), 0);
}

void add_spec(rcgc_snapshot *s, const char *spec)
{
    unsigned long size = 0;
    sscanf(spec, "%*u %lu", &size);
    add_spec_est(s, spec, (double)size, 1);
}

rcgc_snapshot *from_specs(const char *const *specs, int limit)
{
    rcgc_snapshot *s = rcgc__snapshot_new(limit, 0);
    for (; *specs != NULL; specs++) add_spec(s, *specs);
    return s;
}

const char *const raw1[] = {
    "0 10 3 a.py:2,b.py:4", "0 10 3 a.py:2,b.py:4", "0 10 3 a.py:2,b.py:4",
    "1 2 3 a.py:5,b.py:4",  "2 66 1 b.py:1",        "3 7 1 <unknown>:0", NULL};

int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int snap_equal(const rcgc_snapshot *a, const rcgc_snapshot *b)
{
    if (rcgc_snapshot_traceback_limit(a) != rcgc_snapshot_traceback_limit(b) ||
        rcgc_snapshot_sample_bytes(a) != rcgc_snapshot_sample_bytes(b) ||
        rcgc_snapshot_count(a) != rcgc_snapshot_count(b))
        return 0;
    for (rcgc_ssize i = 0; i < rcgc_snapshot_count(a); i++) {
        const rcgc_trace *x = rcgc_snapshot_trace(a, i), *y = rcgc_snapshot_trace(b, i);
        if (x->domain != y->domain || x->size != y->size ||
            memcmp(&x->est_size, &y->est_size, sizeof(double)) != 0 ||
            memcmp(&x->est_count, &y->est_count, sizeof(double)) != 0 ||
            x->traceback->nframe != y->traceback->nframe ||
            x->traceback->total_nframe != y->traceback->total_nframe)
            return 0;
        for (int k = 0; k < x->traceback->nframe; k++) {
            const rcgc_frame *f = &x->traceback->frames[k], *g = &y->traceback->frames[k];
            if (!str_eq(f->filename, g->filename) || f->lineno != g->lineno ||
                !str_eq(f->function, g->function) || !str_eq(f->module, g->module) ||
                f->offset != g->offset)
                return 0;
        }
    }
    return 1;
}

char tmp_path[256];

const char *scratch(const char *tag)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/rcgc-test-snapshot-%ld-%s",
             (long)getpid(), tag);
    return tmp_path;
}

