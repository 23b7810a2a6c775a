/*
 * fuzz_snapshot.c - libFuzzer target: any bytes as a snapshot file
 * (src/trace/snapshot_read.c), and whatever loads through every operation of the
 * snapshot layer: statistics by each key, cumulative, filters, a compare
 * with itself, the text of every statistic, a dump and a reload that must
 * give the same snapshot.  Built with ASan+UBSan by `make fuzz`, so a
 * crash, a leak, a sanitizer report or an abort here is a finding.
 *
 * The input is tried as it is, then with its checksum recomputed, so the
 * mutations reach the body's parser instead of stopping at the checksum;
 * the bytes tried last are also read as a file (rcgc_snapshot_read), which
 * must accept exactly the same inputs.
 * With RCGC_FUZZ_SEEDS=DIR set, start-up first writes a few valid snapshot
 * files into DIR (the seed corpus `make fuzz` passes).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "trace/snapshot_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t v = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        v ^= p[i];
        for (int k = 0; k < 8; k++) v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
    }
    return v ^ 0xFFFFFFFFu;
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same(const rcgc_snapshot *a, const rcgc_snapshot *b)
{
    if (a->limit != b->limit || a->sample_bytes != b->sample_bytes ||
        a->ntrace != b->ntrace)
        return 0;
    for (size_t i = 0; i < a->ntrace; i++) {
        const rcgc_trace *x = &a->traces[i], *y = &b->traces[i];
        const rcgc_traceback *p = x->traceback, *q = y->traceback;
        if (x->domain != y->domain || x->size != y->size ||
            memcmp(&x->est_size, &y->est_size, sizeof(double)) != 0 ||
            memcmp(&x->est_count, &y->est_count, sizeof(double)) != 0 ||
            p->nframe != q->nframe || p->total_nframe != q->total_nframe)
            return 0;
        for (int k = 0; k < p->nframe; k++)
            if (!str_eq(p->frames[k].filename, q->frames[k].filename) ||
                p->frames[k].lineno != q->frames[k].lineno ||
                !str_eq(p->frames[k].function, q->frames[k].function) ||
                !str_eq(p->frames[k].module, q->frames[k].module) ||
                p->frames[k].offset != q->frames[k].offset)
                return 0;
    }
    return 1;
}

static void format_all(const rcgc_statistic *st, rcgc_ssize n,
                       rcgc_stat_key key, int is_diff)
{
    char buf[512];
    for (rcgc_ssize i = 0; i < n; i++) {
        int len = rcgc_statistic_format(&st[i], key, is_diff, buf, sizeof buf);
        if (len < 0 || ((size_t)len < sizeof buf && strlen(buf) != (size_t)len))
            abort();
    }
}

static void statistics(const rcgc_snapshot *s, const rcgc_snapshot *old,
                       rcgc_stat_key key, int cumulative)
{
    rcgc_statistic *st;
    rcgc_ssize n = old ? rcgc_snapshot_compare(s, old, key, cumulative, &st)
                       : rcgc_snapshot_statistics(s, key, cumulative, &st);
    if (n < 0) abort(); /* only memory can fail, and the inputs are small */
    double count = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        count += st[i].count;
        if (old != NULL && (st[i].size_diff != 0 || st[i].count_diff != 0))
            abort(); /* a snapshot compared with itself changes nothing */
    }
    if (!cumulative && s->sample_bytes == 0 && count != (double)s->ntrace) abort();
    format_all(st, n, key, old != NULL);
    rcgc_statistics_free(st);
}

static void filters(const rcgc_snapshot *s)
{
    const char *name = s->ntrace && s->traces[0].traceback->nframe
                           ? s->traces[0].traceback->frames[0].filename
                           : "x";
    rcgc_trace_filter f[] = {{1, "*.c", -1, 0, -1}, {1, name, 1, 1, -1},
                             {0, "[a-m]*?", -1, 1, 0}, {0, NULL, -1, 0, 2},
                             {1, NULL, -1, 0, 1}};
    size_t nf = sizeof f / sizeof f[0];
    for (size_t k = 0; k <= nf; k++) {
        rcgc_snapshot *g = rcgc_snapshot_filter(s, f, k);
        if (g == NULL || g->ntrace > s->ntrace || (k == 0 && !same(g, s))) abort();
        rcgc_snapshot_free(g);
    }
}

/* Dump and reload: whatever the loader accepts, dump must write, and the
 * reloaded snapshot must be the same. */
static void round_trip(const rcgc_snapshot *s)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "/tmp/rcgc-fuzz-snapshot-%ld.snap", (long)getpid());
    if (rcgc_snapshot_dump(s, path, err, sizeof err) != 0) {
        fprintf(stderr, "dump failed: %s\n", err);
        abort();
    }
    rcgc_snapshot *l = rcgc_snapshot_load(path, err, sizeof err);
    unlink(path);
    if (l == NULL || !same(l, s)) {
        fprintf(stderr, "reload differs: %s\n", l ? "" : err);
        abort();
    }
    rcgc_snapshot_free(l);
}

static void exercise(const rcgc_snapshot *s)
{
    for (int k = 0; k < 3; k++) {
        statistics(s, NULL, (rcgc_stat_key)k, 0);
        statistics(s, s, (rcgc_stat_key)k, 0);
    }
    statistics(s, NULL, RCGC_BY_FILENAME, 1);
    statistics(s, NULL, RCGC_BY_LINENO, 1);
    statistics(s, s, RCGC_BY_LINENO, 1);
    filters(s);
    round_trip(s);
}

/* The file reader (rcgc_snapshot_read: header against the file's size,
 * the body read only as far as it is parsed, the checksum last) accepts
 * exactly what the memory reader accepts, and reads the same snapshot. */
static void file_agrees(const uint8_t *data, size_t size, const rcgc_snapshot *s)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "/tmp/rcgc-fuzz-snapshot-in-%ld.snap", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    size_t n = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || n != size) {
        unlink(path);
        return;
    }
    rcgc_snapshot *l = NULL;
    int code = rcgc_snapshot_read(path, &l, err, sizeof err);
    unlink(path);
    if ((code == 0) != (s != NULL) || (l != NULL && !same(l, s)) ||
        (code != 0 && strncmp(err, "offset ", 7) != 0)) {
        fprintf(stderr, "file reader disagrees: %d %s\n", code, err);
        abort();
    }
    rcgc_snapshot_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    rcgc_snapshot *s = rcgc_snapshot_load_bytes(data, size, err, sizeof err);
    uint8_t *copy = NULL;
    if (s == NULL && size >= 28) {
        copy = malloc(size);
        if (copy == NULL) return 0;
        memcpy(copy, data, size);
        uint32_t crc = crc32_of(copy, size - 4);
        for (int i = 0; i < 4; i++) copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        s = rcgc_snapshot_load_bytes(copy, size, err, sizeof err);
    }
    if (s == NULL && strncmp(err, "offset ", 7) != 0) abort(); /* every error says where */
    file_agrees(copy != NULL ? copy : data, size, s);
    free(copy);
    if (s == NULL) return 0;
    exercise(s);
    rcgc_snapshot_free(s);
    return 0;
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, rcgc_snapshot *s)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (s == NULL || rcgc_snapshot_dump(s, path, err, sizeof err) != 0)
        fprintf(stderr, "fuzz_snapshot: cannot write seed %s\n", path);
    rcgc_snapshot_free(s);
}

static rcgc_snapshot *seed_small(void)
{
    rcgc_snapshot *s = rcgc__snapshot_new(3, 0);
    rcgc_frame f = {"a.c", 7, NULL, NULL, 0};
    rcgc__snapshot_add_trace(s, 1, 40, rcgc__snapshot_add_traceback(s, &f, 1, 1), 40, 1);
    return s;
}

static rcgc_snapshot *seed_varied(size_t sample)
{
    rcgc_snapshot *s = rcgc__snapshot_new(5, sample);
    rcgc_frame f[4] = {{"src/a.c", 12, "alloc", NULL, 0},
                       {"<unknown>", 0, "g", "/lib/libc.so.6", 0x29d90},
                       {"b.py", 3, NULL, NULL, 0},
                       {"src/a.c", 40, "main", NULL, 0}};
    long t0 = rcgc__snapshot_add_traceback(s, f, 4, 9);
    long t1 = rcgc__snapshot_add_traceback(s, f + 2, 1, 1);
    long t2 = rcgc__snapshot_add_traceback(s, NULL, 0, 0);
    for (int i = 0; i < 6; i++) {
        double size = 16.0 * (i + 1);
        rcgc__snapshot_add_trace(s, (unsigned)i % 3, (size_t)size, i % 3 == 0 ? t0 : i % 3 == 1 ? t1 : t2,
                                 sample ? size * 3.5 : size, sample ? 2.5 : 1);
    }
    return s;
}

/* C stack frames whose module is a regular file here: the dump writes
 * the module table (flag bit 1). */
static rcgc_snapshot *seed_modules(void)
{
    rcgc_snapshot *s = rcgc__snapshot_new(2, 0);
    rcgc_frame f[2] = {{"<unknown>", 0, NULL, "/proc/self/exe", 0x1234},
                       {"<unknown>", 0, "main", "/proc/self/exe", 0x99}};
    long tb = rcgc__snapshot_add_traceback(s, f, 2, 2);
    rcgc__snapshot_add_trace(s, 1, 64, tb, 64, 1);
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("RCGC_FUZZ_SEEDS");
    if (dir == NULL) return 0;
    seed(dir, "small.snap", seed_small());
    seed(dir, "varied.snap", seed_varied(0));
    seed(dir, "sampled.snap", seed_varied(4096));
    seed(dir, "empty.snap", rcgc__snapshot_new(1, 0));
    seed(dir, "modules.snap", seed_modules());
    return 0;
}
