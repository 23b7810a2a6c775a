/*
 * rcgc_trace.h - the allocation tracer (CPython's tracemalloc for rcgc) and
 * its snapshots.  Design: docs/tracer.md.
 *
 * The tracer wraps the runtime's three allocation domains: while it runs,
 * every block allocated through them is recorded as a trace (domain,
 * pointer) -> (size, traceback), until it is freed.  Tracebacks are interned
 * (identical stacks share one).  Frames come from one of three sources,
 * chosen at start: the call site captured by the RCGC_NEW / RCGC_MALLOC
 * macros, the C stack (unwound at allocation time, symbolized when a report
 * is made), or a frame provider an embedding interpreter registers (so its
 * users see their own script's file and line).  Sampling mode records one
 * allocation per N bytes on average (Poisson), with weights that estimate
 * the true sizes and counts.
 *
 * A snapshot is an immutable copy of the traces; statistics, diffs, filters
 * and dump/load work on snapshots only (CPython's tracemalloc.py layer).
 */
/* rcgc.h includes this file at its end; included on its own, this file goes
 * through rcgc.h first, so both orders work. */
#ifndef RCGC_TRACE_H
#include "rcgc.h"
#endif
#ifndef RCGC_TRACE_H
#define RCGC_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Frames and call sites                                                     */

/* One frame of a traceback.  Strings are BORROWED from the tracer or the
 * snapshot that gave the frame (valid while it lives). */
typedef struct rcgc_frame {
    const char *filename; /* "<unknown>" when not known */
    unsigned lineno;      /* 0 when not known */
    const char *function; /* may be NULL */
    const char *module;   /* C stack frames: the executable or shared
                             object the address is in; else NULL */
    uint64_t offset;      /* C stack frames: the address's offset in module */
} rcgc_frame;

/* Where an allocation was requested; built by RCGC_HERE. */
typedef struct rcgc_site {
    const char *filename; /* static storage (__FILE__) */
    const char *function; /* static storage (__func__) */
    unsigned lineno;
} rcgc_site;

/*
 * RCGC_HERE: a const rcgc_site * naming the file, function and line where it
 * is written.  The library reads the record only during the call it is
 * passed to (the strings it keeps must be static: __FILE__, __func__), so
 * every form below serves the macros that follow, which use it as an
 * argument.
 *
 * C: the address of a compound literal (automatic storage, alive to the end
 * of the enclosing block).  C++ has no compound literals, so there:
 *   - GCC and Clang (and compilers defining __GNUC__): the address of a
 *     function-local static const record made in a statement expression
 *     (__extension__: quiet under -Wpedantic).  Static storage, constant
 *     initialised: no stores and no guard at run time.
 *   - other compilers, or with RCGC_CXX_PORTABLE_SITE defined (how CI tests
 *     this form with GCC and Clang): standard C++11, the address of a
 *     temporary record that lives to the end of the full expression; keep
 *     RCGC_HERE inside the call's arguments, never in a variable.
 */
#if !defined(__cplusplus)
#define RCGC_HERE (&(const rcgc_site){__FILE__, __func__, __LINE__})
#elif defined(__GNUC__) && !defined(RCGC_CXX_PORTABLE_SITE)
#define RCGC_HERE                                                             \
    (__extension__({                                                          \
        static const rcgc_site rcgc_here_ = {__FILE__, __func__, __LINE__};   \
        &rcgc_here_;                                                          \
    }))
#else
} /* extern "C" */
/* Not for direct use: lets RCGC_HERE take a temporary's address. */
static inline const rcgc_site *rcgc_site_ref_(const rcgc_site &site) noexcept
{
    return &site;
}
extern "C" {
#define RCGC_HERE rcgc_site_ref_(rcgc_site{__FILE__, __func__, __LINE__})
#endif

/* The allocation calls with their call site (used by the call-site frame
 * source; the site costs nothing when the tracer is off).  The object calls
 * return a NEW reference, as rcgc_object_new and rcgc_object_new_sized. */
RCGC_API rcgc_object *rcgc_object_new_at(rcgc_runtime *rt, const rcgc_type *type,
                                         const rcgc_site *site);
RCGC_API rcgc_object *rcgc_object_new_sized_at(rcgc_runtime *rt, const rcgc_type *type,
                                               size_t size, const rcgc_site *site);
RCGC_API void *rcgc_mem_malloc_at(rcgc_runtime *rt, size_t size, const rcgc_site *site);
RCGC_API void *rcgc_mem_calloc_at(rcgc_runtime *rt, size_t nelem, size_t elsize,
                                  const rcgc_site *site);
RCGC_API void *rcgc_mem_realloc_at(rcgc_runtime *rt, void *ptr, size_t size,
                                   const rcgc_site *site);

#define RCGC_NEW(rt, type) rcgc_object_new_at((rt), (type), RCGC_HERE)
#define RCGC_NEW_SIZED(rt, type, size)                                        \
    rcgc_object_new_sized_at((rt), (type), (size), RCGC_HERE)
#define RCGC_MALLOC(rt, size) rcgc_mem_malloc_at((rt), (size), RCGC_HERE)
#define RCGC_CALLOC(rt, n, size) rcgc_mem_calloc_at((rt), (n), (size), RCGC_HERE)
#define RCGC_REALLOC(rt, p, size) rcgc_mem_realloc_at((rt), (p), (size), RCGC_HERE)

/* ------------------------------------------------------------------------ */
/* The tracer                                                                */

typedef enum rcgc_frame_source {
    RCGC_FRAMES_CALLSITE = 0, /* the RCGC_NEW/RCGC_MALLOC site: one frame */
    RCGC_FRAMES_CSTACK = 1,   /* the C stack, unwound at allocation time */
    RCGC_FRAMES_PROVIDER = 2  /* the embedding interpreter's frames */
} rcgc_frame_source;

/* A frame provider: write up to max frames of the current (interpreted)
 * stack, most recent first, and return how many; *total receives the
 * stack's full depth (>= the return value).  Strings must stay valid while
 * the runtime lives (the tracer keeps the pointers; it copies nothing).
 * Called on every traced allocation: it must not allocate through rcgc. */
typedef int (*rcgc_frame_provider)(void *ctx, rcgc_frame *frames, int max,
                                   int *total);

typedef struct rcgc_trace_config {
    size_t size;                  /* sizeof(rcgc_trace_config), set by
                                     rcgc_trace_config_init */
    int nframes;                  /* frames per traceback, 1..65535 (1) */
    rcgc_frame_source source;     /* RCGC_FRAMES_CALLSITE */
    rcgc_frame_provider provider; /* RCGC_FRAMES_PROVIDER only */
    void *provider_ctx;
    size_t sample_bytes;          /* 0: every allocation; N: Poisson sampling,
                                     one sample per N bytes on average */
    uint64_t seed;                /* sampling's random seed (0: fixed) */
} rcgc_trace_config;

RCGC_API void rcgc_trace_config_init(rcgc_trace_config *cfg);

/*
 * Start tracing rt's allocations (tracemalloc.start).  RCGC_EINVAL when
 * cfg->size is not sizeof(rcgc_trace_config), nframes is outside 1..65535 or the source is unusable (a provider source
 * without provider, a C stack source where unwinding is unavailable);
 * RCGC_ENOMEM.  Already tracing: 0 and nothing changes (CPython keeps the
 * first limit).  cfg may be NULL for the defaults.
 */
RCGC_API int rcgc_trace_start(rcgc_runtime *rt, const rcgc_trace_config *cfg);

/* Stop tracing and forget every trace (tracemalloc.stop). */
RCGC_API void rcgc_trace_stop(rcgc_runtime *rt);

RCGC_API int rcgc_trace_is_tracing(rcgc_runtime *rt);

/* The traceback limit of the last start (1 before any start). */
RCGC_API int rcgc_trace_get_limit(rcgc_runtime *rt);

/* Bytes of the traced blocks now, and at most since start or the last
 * reset_peak; both 0 when not tracing.  In sampling mode, estimates. */
RCGC_API void rcgc_trace_get_memory(rcgc_runtime *rt, size_t *current, size_t *peak);

/* peak := current (tracemalloc.reset_peak); nothing when not tracing. */
RCGC_API void rcgc_trace_reset_peak(rcgc_runtime *rt);

/* Forget every trace but keep tracing (tracemalloc.clear_traces). */
RCGC_API void rcgc_trace_clear(rcgc_runtime *rt);

/* Bytes the tracer itself uses (tracemalloc.get_tracemalloc_memory). */
RCGC_API size_t rcgc_trace_overhead(rcgc_runtime *rt);

/*
 * Record (or replace) a trace of size bytes at ptr in domain, with the
 * current traceback (PyTraceMalloc_Track): for memory the program manages
 * itself.  Domains 0..2 are rcgc's; others are the program's, up to 65535.
 * RCGC_ENOTTRACING when not tracing; RCGC_EINVAL for a domain over 65535,
 * a NULL ptr or a size of 2^48 bytes or more; RCGC_ENOMEM.
 */
RCGC_API int rcgc_trace_track(rcgc_runtime *rt, unsigned domain, const void *ptr,
                              size_t size);
/* Forget that trace (absent, or ptr NULL: 0).  RCGC_ENOTTRACING when not
 * tracing, RCGC_EINVAL for a domain over 65535. */
RCGC_API int rcgc_trace_untrack(rcgc_runtime *rt, unsigned domain, const void *ptr);

/* The allocation traceback of obj (tracemalloc.get_object_traceback), or of
 * the block at ptr in domain: up to max frames into frames, most recent
 * first; returns how many (0: not traced or not tracing). */
RCGC_API int rcgc_trace_object_traceback(rcgc_runtime *rt, const rcgc_object *obj,
                                         rcgc_frame *frames, int max);
RCGC_API int rcgc_trace_block_traceback(rcgc_runtime *rt, unsigned domain,
                                        const void *ptr, rcgc_frame *frames, int max);

/* ------------------------------------------------------------------------ */
/* Snapshots (tracemalloc.Snapshot; docs/tracer.md)                          */

typedef struct rcgc_snapshot rcgc_snapshot;

/* A traceback of a snapshot: frames most recent first (CPython's internal
 * order; its Traceback class shows them oldest first). */
typedef struct rcgc_traceback {
    const rcgc_frame *frames; /* BORROWED from the snapshot */
    int nframe;               /* frames kept (<= the limit) */
    int total_nframe;         /* the stack's full depth */
} rcgc_traceback;

/* One trace of a snapshot. */
typedef struct rcgc_trace {
    unsigned domain;
    size_t size;                /* bytes (sampled: the sampled block's) */
    const rcgc_traceback *traceback;
    double est_size;            /* estimated bytes it stands for (= size
                                   when not sampling) */
    double est_count;           /* estimated blocks it stands for (1) */
} rcgc_trace;

/* NEW: a copy of rt's traces (tracemalloc.take_snapshot).  NULL with
 * RCGC_ENOTTRACING when not tracing, or RCGC_ENOMEM
 * (rcgc_runtime_last_error). */
RCGC_API rcgc_snapshot *rcgc_snapshot_take(rcgc_runtime *rt);
RCGC_API void rcgc_snapshot_free(rcgc_snapshot *s);

RCGC_API rcgc_ssize rcgc_snapshot_count(const rcgc_snapshot *s);
/* BORROWED: trace i (0 <= i < count), in the snapshot's order. */
RCGC_API const rcgc_trace *rcgc_snapshot_trace(const rcgc_snapshot *s, rcgc_ssize i);
RCGC_API int rcgc_snapshot_traceback_limit(const rcgc_snapshot *s);
RCGC_API size_t rcgc_snapshot_sample_bytes(const rcgc_snapshot *s); /* 0: complete */

/* Resolve the C stack frames of s (RCGC_FRAMES_CSTACK) to function and
 * file:line from the modules' debug information, as heaptrack does when it
 * reports: addr2line (binutils) is run once per module, without a shell.
 * Before this, such a frame has module and offset, filename "<unknown>"
 * and line 0 (statistics show it as module+0xoffset); frames that cannot be
 * resolved (no debug information, the module is gone) stay so.  Returns the frames resolved, or RCGC_EFAILED
 * with the reason in err (addr2line missing or failing), RCGC_ENOMEM.
 *
 * Module paths are data from the snapshot: only a regular file is opened
 * (a FIFO, device or socket is never opened; nothing blocks).  For a
 * snapshot read from a file (or filtered from one), a module is used only
 * when the file at its path has the identity the file recorded when the
 * snapshot was dumped by the process that took it (device, inode, size,
 * modification time): a snapshot from another machine, or a module
 * rebuilt since, is left as module+offset, and err says how many modules
 * were left so (the return value is still the frames resolved).  A
 * snapshot of this process uses the files at the paths as they are. */
RCGC_API rcgc_ssize rcgc_snapshot_symbolize(rcgc_snapshot *s, char *err, size_t errlen);
/* rcgc_snapshot_symbolize with flags: RCGC_SYMBOLIZE_ANY_MODULE uses every
 * module file found at its path (still a regular file only), whatever the
 * snapshot recorded: for snapshots from a machine with the same files.
 * RCGC_EINVAL for s NULL or unknown flags. */
#define RCGC_SYMBOLIZE_ANY_MODULE 1u
RCGC_API rcgc_ssize rcgc_snapshot_symbolize_modules(rcgc_snapshot *s, unsigned flags,
                                                    char *err, size_t errlen);

/* Snapshot files: a versioned binary format (docs/tracer.md).  dump: 0 or
 * a negative code (errno-based failures give RCGC_EFAILED, and err gets the
 * reason); the file is created with mode 0600 (minus the umask).
 *
 * read: 0 and a NEW snapshot in *out, or a code, *out = NULL and a message
 * naming what is wrong and where in err (may be NULL): RCGC_EFORMAT (not a
 * snapshot file, or corrupt or truncated: "offset N: ..."), RCGC_EFAILED
 * (the file cannot be opened or read), RCGC_ENOMEM, RCGC_EINVAL (NULL path
 * or out).  A corrupt, truncated or hostile file never crashes the reader
 * nor makes it allocate more than the file justifies.  read opens only a
 * regular file (a FIFO, device or socket: RCGC_EFAILED, "not a regular
 * file", never opened, so never blocks), checks the header against the
 * file's size first, and reads the body only as far as its counts are
 * checked (the checksum last), so a huge file that is wrong early is
 * rejected without reading it.  load: the same,
 * returning the snapshot or NULL (read gives the code). */
RCGC_API int rcgc_snapshot_dump(const rcgc_snapshot *s, const char *path, char *err,
                                size_t errlen);
RCGC_API int rcgc_snapshot_read(const char *path, rcgc_snapshot **out,
                                char *err, size_t errlen);
RCGC_API rcgc_snapshot *rcgc_snapshot_load(const char *path, char *err, size_t errlen);
/* The same on memory: NEW snapshot from bytes (data may be NULL when size
 * is 0). */
RCGC_API int rcgc_snapshot_read_bytes(const void *data, size_t size,
                                      rcgc_snapshot **out, char *err,
                                      size_t errlen);
RCGC_API rcgc_snapshot *rcgc_snapshot_load_bytes(const void *data, size_t size,
                                                 char *err, size_t errlen);

/* Filters (tracemalloc.Filter / DomainFilter).  A trace is kept when some
 * inclusive filter matches it (or there is none) and no exclusive filter
 * rejects it. */
typedef struct rcgc_trace_filter {
    int inclusive;        /* 1: keep what matches; 0: drop it */
    const char *pattern;  /* fnmatch-style filename pattern; NULL: a domain
                             filter (matches on domain only) */
    long lineno;          /* -1: any line; else that line only */
    int all_frames;       /* 1: any frame may match; 0: the most recent */
    long domain;          /* -1: any domain; else that domain only */
} rcgc_trace_filter;

/* NEW: the traces of s that the filters keep, in s's order. */
RCGC_API rcgc_snapshot *rcgc_snapshot_filter(const rcgc_snapshot *s,
                                             const rcgc_trace_filter *filters,
                                             size_t nfilters);

typedef enum rcgc_stat_key {
    RCGC_BY_TRACEBACK = 0, /* the whole traceback */
    RCGC_BY_FILENAME = 1,  /* the most recent frame's file */
    RCGC_BY_LINENO = 2     /* the most recent frame's file and line */
} rcgc_stat_key;

/* A group of traces (tracemalloc.Statistic / StatisticDiff). */
typedef struct rcgc_statistic {
    const rcgc_traceback *traceback; /* BORROWED: the key (for filename and
                                        lineno keys a one-frame traceback
                                        whose line is 0 for filename) */
    double size;                     /* bytes (estimates when sampled) */
    double count;                    /* blocks */
    double size_diff;                /* compare only: size - old size */
    double count_diff;               /* compare only */
} rcgc_statistic;

/* Group by key, sorted as CPython sorts (statistics: size, count, key
 * descending; compare: |size_diff|, size, |count_diff|, count, key).
 * cumulative counts every frame of a traceback (filename and lineno keys
 * only: RCGC_EINVAL with the traceback key).  *out gets an array valid
 * while s (and old) live; free it with rcgc_statistics_free. */
RCGC_API rcgc_ssize rcgc_snapshot_statistics(const rcgc_snapshot *s, rcgc_stat_key key,
                                             int cumulative, rcgc_statistic **out);
RCGC_API rcgc_ssize rcgc_snapshot_compare(const rcgc_snapshot *s,
                                          const rcgc_snapshot *old, rcgc_stat_key key,
                                          int cumulative, rcgc_statistic **out);
RCGC_API void rcgc_statistics_free(rcgc_statistic *stats);

/* CPython's text for one statistic: "file.c:52: size=48.2 KiB (+48.2 KiB),
 * count=500 (+500), average=96 B" (diff parts only with is_diff).  Returns
 * the length written (snprintf semantics). */
RCGC_API int rcgc_statistic_format(const rcgc_statistic *st, rcgc_stat_key key,
                                   int is_diff, char *buf, size_t size);
/* CPython's _format_size: "66 B", "48.2 KiB", signed with +/- when sign. */
RCGC_API int rcgc_format_size(double size, int sign, char *buf, size_t bufsize);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_TRACE_H */
