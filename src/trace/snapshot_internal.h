/*
 * snapshot_internal.h - the snapshot object, shared by snapshot.c (the
 * object and its builders), snapshot_stats.c, snapshot_write.c and
 * snapshot_read.c.
 */
#ifndef RCGC_SNAPSHOT_INTERNAL_H
#define RCGC_SNAPSHOT_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "rcgc.h"
#include "rcgc_trace.h"

struct chunk;

/* The identity of a module file as the snapshot recorded it (dump: from the
 * file at the module's path then; the loader: from the file).  Symbolizing
 * a snapshot read from a file uses a module only when the file at its path
 * now has the same identity (symbolize.c). */
typedef struct rcgc__snap_module {
    const char *path;       /* interned in the snapshot */
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} rcgc__snap_module;

struct rcgc_snapshot {
    rcgc_allocator a;        /* every block of the snapshot (the process
                                allocator when it was made) */
    int limit;               /* traceback limit of the tracer */
    size_t sample_bytes;     /* 0: complete; else the sampling period */
    rcgc_trace *traces;      /* ntrace traces */
    size_t ntrace, trace_cap;
    rcgc_traceback **tbs;    /* ntb tracebacks, by index */
    size_t ntb, tb_cap;
    const char **strs;       /* interned strings (open addressing) */
    size_t str_count, str_cap;
    uint64_t str_seed;       /* of the strings' hash (random per snapshot) */
    struct chunk *chunks;    /* the arena: tracebacks, frames, strings */
    size_t bytes;            /* arena bytes handed out */
    int from_file;           /* 0: taken in this process (the tracer or a
                                builder); 1: read from a file, or derived
                                (filtered) from one */
    rcgc__snap_module *mods; /* from_file: the identities the file
                                recorded (in the arena); NULL: none */
    size_t nmod;
};

/* In the arena each traceback follows a small header holding its index in
 * tbs[], so the snapshot layer finds a traceback's index without a hash
 * lookup (per-traceback arrays instead of pointer maps). */
struct rcgc__snap_tbhead {
    size_t index;           /* in tbs[] */
    size_t pad;             /* keeps the traceback 16-aligned */
};

/* The index in s->tbs of tb, a traceback of s. */
static inline size_t rcgc__snap_tb_index(const rcgc_traceback *tb)
{
    return ((const struct rcgc__snap_tbhead *)(const void *)tb - 1)->index;
}

/* Memory of no runtime comes from the process allocator
 * (rcgc_process_allocator_get): a snapshot keeps the one it was made with in
 * s->a; an operation takes the current one once at its start and uses that
 * one throughout.  A 0-byte request asks for 1 byte. */
static inline void *rcgc__umalloc(const rcgc_allocator *a, size_t n)
{
    return a->malloc(a->ctx, n ? n : 1);
}
static inline void *rcgc__ucalloc(const rcgc_allocator *a, size_t n, size_t size)
{
    return n == 0 || size == 0 ? a->calloc(a->ctx, 1, 1) : a->calloc(a->ctx, n, size);
}
static inline void *rcgc__urealloc(const rcgc_allocator *a, void *p, size_t n)
{
    return a->realloc(a->ctx, p, n ? n : 1);
}
static inline void rcgc__ufree(const rcgc_allocator *a, void *p)
{
    if (p != NULL) a->free(a->ctx, p);
}

/* size bytes from the snapshot's arena (16-aligned, valid until free). */
void *rcgc__snap_arena_alloc(rcgc_snapshot *s, size_t size);
/* The snapshot's copy of a string (equal strings: one pointer); NULL when
 * out of memory (or str is NULL, for rcgc__snap_intern). */
const char *rcgc__snap_intern(rcgc_snapshot *s, const char *str);
const char *rcgc__snap_intern_n(rcgc_snapshot *s, const char *str, size_t len);

/* ---- snapshot.c: building a snapshot (tracer.c fills it) ---- */

/* An empty snapshot (its memory from the process allocator); NULL when out
 * of memory. */
rcgc_snapshot *rcgc__snapshot_new(int traceback_limit, size_t sample_bytes);
/* Add a traceback (frames most recent first; every string is copied, so the
 * snapshot owns all its data) and return its index, or -1 when out of
 * memory.  Adding the same traceback twice is allowed (two indexes). */
long rcgc__snapshot_add_traceback(rcgc_snapshot *s, const rcgc_frame *frames,
                                  int nframe, int total_nframe);
/* Add a trace of traceback index tb; 0 or RCGC_ENOMEM. */
int rcgc__snapshot_add_trace(rcgc_snapshot *s, unsigned domain, size_t size,
                             long tb, double est_size, double est_count);

#endif
