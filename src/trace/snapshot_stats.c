/*
 * snapshot_stats.c - what CPython's tracemalloc.py does with a snapshot:
 * filters (Filter, DomainFilter), statistics grouped by traceback, file or
 * line (Snapshot.statistics), differences between two snapshots
 * (Snapshot.compare_to), and the text of a statistic (_format_size,
 * Statistic.__str__).  Design: docs/tracer.md, "Snapshots".
 *
 * Keys.  CPython's frame is (filename, lineno); ours also carries the
 * function and, for C stack frames, the module and offset.  The file and
 * line keys are (filename, lineno), or (filename, 0), plus the module and
 * offset of a C stack frame, so that those, whose file is "<unknown>", do
 * not all collapse into one key; the function is not part of them (two
 * functions allocating on one line are one group, as in CPython), and the
 * key frame keeps it while every frame of its group has the same one.
 * Keys sort by filename, then line (CPython's order), then the extra
 * fields.  An empty traceback is seen as CPython's
 * ("<unknown>", 0) one everywhere.
 *
 * Grouping.  Each distinct traceback of a snapshot is looked up once (an
 * array by traceback index remembers the groups it feeds); groups are
 * found by a hash of their contents, so the groups of two snapshots
 * (compare) meet in one table.  Within one snapshot strings are interned, so most equality tests
 * stop at a pointer comparison.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "trace/snapshot_internal.h"

/* ---- frames and tracebacks as keys ---- */

static const rcgc_frame unknown_frame = {"<unknown>", 0, NULL, NULL, 0};

/* The frames of tb, most recent first; an empty traceback stands for
 * CPython's ("<unknown>", 0), so every traceback has a most recent frame. */
static const rcgc_frame *tb_frames(const rcgc_traceback *tb, int *n)
{
    if (tb->nframe <= 0) {
        *n = 1;
        return &unknown_frame;
    }
    *n = tb->nframe;
    return tb->frames;
}

/* NULL sorts first; interned strings are equal by pointer. */
static int str_cmp(const char *a, const char *b)
{
    if (a == b) return 0;
    if (a == NULL) return -1;
    if (b == NULL) return 1;
    return strcmp(a, b); /* bytes as unsigned: UTF-8 in code point order */
}

/* CPython's Frame order (filename, lineno), then our extra fields. */
static int frame_cmp(const rcgc_frame *a, const rcgc_frame *b)
{
    int c = str_cmp(a->filename, b->filename);
    if (c != 0) return c;
    if (a->lineno != b->lineno) return a->lineno < b->lineno ? -1 : 1;
    if ((c = str_cmp(a->module, b->module)) != 0) return c;
    if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
    return str_cmp(a->function, b->function);
}

/* CPython's Traceback order: tuples of frames, OLDEST first (our frames are
 * most recent first), compared element by element; a prefix sorts first. */
static int frames_cmp(const rcgc_frame *a, int na, const rcgc_frame *b, int nb)
{
    for (int i = 0; i < na && i < nb; i++) {
        int c = frame_cmp(&a[na - 1 - i], &b[nb - 1 - i]);
        if (c != 0) return c;
    }
    return (na > nb) - (na < nb);
}

static int tb_cmp(const rcgc_traceback *a, const rcgc_traceback *b)
{
    int na, nb;
    const rcgc_frame *fa = tb_frames(a, &na), *fb = tb_frames(b, &nb);
    return frames_cmp(fa, na, fb, nb);
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x100000001b3u;
    return h ^ (h >> 29);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    if (s == NULL) return hash_mix(h, 0x5bd1e995u);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3u;
    return hash_mix(h, 0xff);
}

/* A hash of the frames' contents (not their pointers), so that equal keys
 * of two snapshots meet; seeded per call (grouper_init) from the OS's
 * random source, so that a snapshot file cannot choose offsets or names
 * that all land in one chain of the table (without the seed, 100,000
 * crafted keys took 29 s to group). */
static uint64_t stats_hash_frames(const rcgc_frame *f, int n, uint64_t seed)
{
    uint64_t h = hash_mix(0xcbf29ce484222325u, seed);
    for (int i = 0; i < n; i++) {
        h = hash_str(h, f[i].filename);
        h = hash_mix(h, f[i].lineno);
        h = hash_str(h, f[i].module);
        h = hash_mix(h, f[i].offset);
        h = hash_str(h, f[i].function);
    }
    return hash_mix(h, (uint64_t)n);
}

/* The key frame of f, as CPython's 'lineno' (filename, lineno) and
 * 'filename' (filename, 0) keys, plus, for a C stack frame, its module (and,
 * for the line key, its offset), so that frames whose file is "<unknown>"
 * do not all collapse into one key.  The function is carried along for the
 * reader but is not part of the key, so that two functions allocating on
 * one line are one group, not two printed alike: group_find keeps it while
 * every frame of the group has the same one, else NULL. */
static rcgc_frame key_frame(const rcgc_frame *f, rcgc_stat_key key)
{
    if (key == RCGC_BY_LINENO) return *f;
    rcgc_frame k = {f->filename, 0, NULL, f->module, 0};
    return k;
}

/* A one-frame key without its function, for hashing and comparing. */
static rcgc_frame key_bare(const rcgc_frame *one)
{
    rcgc_frame k = *one;
    k.function = NULL;
    return k;
}

/* ---- grouping ---- */

struct group {
    uint64_t hash;
    const rcgc_traceback *tb;  /* traceback key: the first one seen */
    rcgc_frame one;            /* file and line keys: the key frame */
    double size[2], count[2];  /* [0]: the new snapshot, [1]: the old one */
};

struct grouper {
    rcgc_allocator a;          /* the process allocator at the start */
    rcgc_stat_key key;
    uint64_t seed;             /* of the hash (random per call) */
    int cumulative;
    struct group *g;           /* ng groups, in order of first sight */
    size_t ng, gcap;
    size_t *table;             /* group index + 1 by hash; 0: empty */
    size_t tcap;               /* power of 2, >= 2 * ng */
    size_t *first;             /* by traceback index of the snapshot being
                                  grouped: 1 + where its groups start in
                                  ids; 0: not seen yet */
    size_t *ids;               /* the groups of the keys of each traceback */
    size_t nid, idcap;
};

static void grouper_init(struct grouper *gr, rcgc_stat_key key, int cumulative)
{
    memset(gr, 0, sizeof *gr);
    gr->a = rcgc_process_allocator_get();
    gr->key = key;
    gr->cumulative = cumulative;
    /* the order of the results never depends on it (emit sorts) */
    if (rcgc__os_random(&gr->seed, sizeof gr->seed) != 0)
        gr->seed = rcgc__os_now_ns() ^ (uint64_t)(uintptr_t)gr;
}

static void grouper_fini(struct grouper *gr)
{
    rcgc__ufree(&gr->a, gr->g);
    rcgc__ufree(&gr->a, gr->table);
    rcgc__ufree(&gr->a, gr->first);
    rcgc__ufree(&gr->a, gr->ids);
}

static const rcgc_frame *group_frames(const struct group *g, int *n)
{
    if (g->tb != NULL) return tb_frames(g->tb, n);
    *n = 1;
    return &g->one;
}

/* Double an array of elsize-byte items to hold one more; 0 or ENOMEM. */
static int reserve(const rcgc_allocator *a, void **arr, size_t *cap, size_t n,
                   size_t elsize)
{
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    if (ncap > SIZE_MAX / elsize) return RCGC_ENOMEM;
    void *p = rcgc__urealloc(a, *arr, ncap * elsize);
    if (p == NULL) return RCGC_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Make the table hold at least want groups at half load. */
static int table_reserve(struct grouper *gr, size_t want)
{
    size_t cap = gr->tcap ? gr->tcap : 256;
    while (cap / 2 < want) {
        if (cap > SIZE_MAX / 2 / sizeof(size_t)) return RCGC_ENOMEM;
        cap *= 2;
    }
    if (cap == gr->tcap) return 0;
    size_t *t = rcgc__ucalloc(&gr->a, cap, sizeof *t);
    if (t == NULL) return RCGC_ENOMEM;
    for (size_t i = 0; i < gr->ng; i++) {
        size_t j = (size_t)gr->g[i].hash & (cap - 1);
        while (t[j] != 0) j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    rcgc__ufree(&gr->a, gr->table);
    gr->table = t;
    gr->tcap = cap;
    return 0;
}

/* The index of the group of a key (the traceback tb, or the frame one),
 * created empty on first sight; -1 when out of memory. */
static long group_find(struct grouper *gr, const rcgc_traceback *tb,
                       const rcgc_frame *one)
{
    int n = 1;
    rcgc_frame bare;
    const rcgc_frame *f = tb != NULL ? tb_frames(tb, &n) : one;
    if (tb == NULL) { /* file and line keys: the function is not in the key */
        bare = key_bare(one);
        f = &bare;
    }
    if (table_reserve(gr, gr->ng + 1) != 0) return -1;
    uint64_t h = stats_hash_frames(f, n, gr->seed);
    size_t j = (size_t)h & (gr->tcap - 1);
    for (; gr->table[j] != 0; j = (j + 1) & (gr->tcap - 1)) {
        struct group *g = &gr->g[gr->table[j] - 1];
        if (g->hash != h) continue;
        if (tb == NULL) {
            rcgc_frame gb = key_bare(&g->one);
            if (frame_cmp(&gb, f) != 0) continue;
            if (str_cmp(g->one.function, one->function) != 0)
                g->one.function = NULL; /* several functions on this line */
            return (long)(gr->table[j] - 1);
        }
        int gn;
        const rcgc_frame *gf = group_frames(g, &gn);
        if (frames_cmp(gf, gn, f, n) == 0) return (long)(gr->table[j] - 1);
    }
    if (reserve(&gr->a, (void **)&gr->g, &gr->gcap, gr->ng, sizeof *gr->g) != 0)
        return -1;
    struct group *g = &gr->g[gr->ng];
    memset(g, 0, sizeof *g);
    g->hash = h;
    g->tb = tb;
    if (tb == NULL) g->one = *one;
    gr->table[j] = ++gr->ng;
    return (long)(gr->ng - 1);
}

static int push_id(struct grouper *gr, long id)
{
    if (id < 0 || reserve(&gr->a, (void **)&gr->ids, &gr->idcap, gr->nid,
                          sizeof *gr->ids) != 0)
        return RCGC_ENOMEM;
    gr->ids[gr->nid++] = (size_t)id;
    return 0;
}

/* How many keys tb has: one, or (cumulative) one per frame, a frame that
 * appears twice counting twice as in CPython. */
static size_t key_count(const struct grouper *gr, const rcgc_traceback *tb)
{
    int n;
    tb_frames(tb, &n);
    return gr->cumulative ? (size_t)n : 1;
}

/* Where the groups tb feeds start in ids, found once per traceback. */
static int tb_groups(struct grouper *gr, const rcgc_traceback *tb, size_t *start)
{
    size_t idx = rcgc__snap_tb_index(tb);
    if (gr->first[idx] != 0) {
        *start = gr->first[idx] - 1;
        return 0;
    }
    *start = gr->nid;
    int n;
    const rcgc_frame *f = tb_frames(tb, &n);
    if (gr->key == RCGC_BY_TRACEBACK) {
        if (push_id(gr, group_find(gr, tb, NULL)) != 0) return RCGC_ENOMEM;
    } else {
        for (int i = 0; i < (gr->cumulative ? n : 1); i++) {
            rcgc_frame k = key_frame(&f[i], gr->key);
            if (push_id(gr, group_find(gr, NULL, &k)) != 0) return RCGC_ENOMEM;
        }
    }
    gr->first[idx] = *start + 1;
    return 0;
}

/* Add every trace of s to side which (0 new, 1 old).  Sampled snapshots count
 * what the samples stand for.  The traces are summed per traceback first,
 * then each traceback's sums go to its groups once: the work is the traces
 * plus the frames of the distinct tracebacks (the input's size), never
 * traces x frames (--cumulative on many traces sharing one deep stack).
 * Sums of whole sizes are exact either way (below 2^53). */
static int group_snapshot(struct grouper *gr, const rcgc_snapshot *s, int which)
{
    rcgc__ufree(&gr->a, gr->first);
    gr->nid = 0;
    size_t ntb = s->ntb ? s->ntb : 1;
    gr->first = rcgc__ucalloc(&gr->a, ntb, sizeof *gr->first);
    double *sum = rcgc__ucalloc(&gr->a, ntb, 2 * sizeof *sum); /* size, count by traceback */
    unsigned char *used = rcgc__ucalloc(&gr->a, ntb, 1);
    int r = gr->first != NULL && sum != NULL && used != NULL ? 0 : RCGC_ENOMEM;
    /* whole tracebacks: about one group per traceback, so size the table
     * once instead of growing it step by step */
    if (r == 0 && gr->key == RCGC_BY_TRACEBACK && table_reserve(gr, gr->ng + s->ntb) != 0)
        r = RCGC_ENOMEM;
    for (size_t i = 0; i < s->ntrace && r == 0; i++) {
        const rcgc_trace *t = &s->traces[i];
        size_t idx = rcgc__snap_tb_index(t->traceback);
        sum[2 * idx] += s->sample_bytes ? t->est_size : (double)t->size;
        sum[2 * idx + 1] += s->sample_bytes ? t->est_count : 1;
        used[idx] = 1;
    }
    for (size_t idx = 0; idx < s->ntb && r == 0; idx++) {
        if (!used[idx]) continue;
        const rcgc_traceback *tb = s->tbs[idx];
        size_t start;
        if (tb_groups(gr, tb, &start) != 0) {
            r = RCGC_ENOMEM;
            break;
        }
        for (size_t k = start, end = start + key_count(gr, tb); k < end; k++) {
            struct group *g = &gr->g[gr->ids[k]];
            g->size[which] += sum[2 * idx];
            g->count[which] += sum[2 * idx + 1];
        }
    }
    rcgc__ufree(&gr->a, sum);
    rcgc__ufree(&gr->a, used);
    return r;
}

/* ---- results ---- */

/* NaN sorts below everything, so the order stays total. */
static int dcmp(double a, double b)
{
    if (a < b) return -1;
    if (a > b) return 1;
    if (a == b) return 0;
    return isnan(a) ? (isnan(b) ? 0 : -1) : 1;
}

/* Statistic._sort_key, descending. */
static int stat_order(const void *pa, const void *pb)
{
    const rcgc_statistic *a = pa, *b = pb;
    int c = dcmp(b->size, a->size);
    if (c == 0) c = dcmp(b->count, a->count);
    return c != 0 ? c : tb_cmp(b->traceback, a->traceback);
}

/* StatisticDiff._sort_key, descending. */
static int diff_order(const void *pa, const void *pb)
{
    const rcgc_statistic *a = pa, *b = pb;
    int c = dcmp(fabs(b->size_diff), fabs(a->size_diff));
    if (c == 0) c = dcmp(b->size, a->size);
    if (c == 0) c = dcmp(fabs(b->count_diff), fabs(a->count_diff));
    if (c == 0) c = dcmp(b->count, a->count);
    return c != 0 ? c : tb_cmp(b->traceback, a->traceback);
}

/* One block: a header holding the allocator it came from (the process
 * allocator when grouping started), the statistics, then (file and line
 * keys) the one-frame key tracebacks and their frames, so
 * rcgc_statistics_free is one free through the right allocator. */
#define STATS_HEADER ((sizeof(rcgc_allocator) + 15) & ~(size_t)15)

static rcgc_ssize emit(const struct grouper *gr, int is_diff,
                       rcgc_statistic **out)
{
    size_t n = gr->ng, per = sizeof(rcgc_statistic);
    if (gr->key != RCGC_BY_TRACEBACK)
        per += sizeof(rcgc_traceback) + sizeof(rcgc_frame);
    if (n > ((size_t)PTRDIFF_MAX - STATS_HEADER) / per) return RCGC_ENOMEM;
    unsigned char *block = rcgc__umalloc(&gr->a, STATS_HEADER + (n ? n : 1) * per);
    if (block == NULL) return RCGC_ENOMEM;
    memcpy(block, &gr->a, sizeof gr->a);
    rcgc_statistic *st = (rcgc_statistic *)(void *)(block + STATS_HEADER);
    rcgc_traceback *keys = (rcgc_traceback *)(void *)(st + n);
    rcgc_frame *frames = (rcgc_frame *)(void *)(keys + n);
    for (size_t i = 0; i < n; i++) {
        const struct group *g = &gr->g[i];
        if (g->tb != NULL) {
            st[i].traceback = g->tb;
        } else {
            frames[i] = g->one;
            keys[i] = (rcgc_traceback){&frames[i], 1, 1};
            st[i].traceback = &keys[i];
        }
        st[i].size = g->size[0];
        st[i].count = g->count[0];
        /* 0 - old, not -old: a zero must print "+0 B", never "-0 B". */
        st[i].size_diff = is_diff ? g->size[0] - g->size[1] : 0;
        st[i].count_diff = is_diff ? g->count[0] - g->count[1] : 0;
    }
    qsort(st, n, sizeof *st, is_diff ? diff_order : stat_order);
    *out = st;
    return (rcgc_ssize)n;
}

static int bad_key(rcgc_stat_key key, int cumulative)
{
    if (key != RCGC_BY_TRACEBACK && key != RCGC_BY_FILENAME &&
        key != RCGC_BY_LINENO)
        return 1;
    return cumulative && key == RCGC_BY_TRACEBACK; /* as CPython refuses */
}

/* Group s (and old, when not NULL) and emit the result. */
static rcgc_ssize stats_run(const rcgc_snapshot *s, const rcgc_snapshot *old,
                            rcgc_stat_key key, int cumulative,
                            rcgc_statistic **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    if (s == NULL || bad_key(key, cumulative)) return RCGC_EINVAL;
    struct grouper gr;
    grouper_init(&gr, key, cumulative != 0);
    rcgc_ssize r = group_snapshot(&gr, s, 0);
    if (r == 0 && old != NULL) r = group_snapshot(&gr, old, 1);
    if (r == 0) r = emit(&gr, old != NULL, out);
    grouper_fini(&gr);
    return r;
}

rcgc_ssize rcgc_snapshot_statistics(const rcgc_snapshot *s,
                                    rcgc_stat_key key,
                                    int cumulative,
                                    rcgc_statistic **out)
{
    return stats_run(s, NULL, key, cumulative, out);
}

/* A key only in old gets size 0 and count 0 in the new snapshot, and its
 * traceback from old (CPython's _compare_grouped_stats). */
rcgc_ssize rcgc_snapshot_compare(const rcgc_snapshot *s,
                                 const rcgc_snapshot *old,
                                 rcgc_stat_key key, int cumulative,
                                 rcgc_statistic **out)
{
    if (old == NULL) {
        if (out != NULL) *out = NULL;
        return RCGC_EINVAL;
    }
    return stats_run(s, old, key, cumulative, out);
}

void rcgc_statistics_free(rcgc_statistic *stats)
{
    if (stats == NULL) return;
    unsigned char *block = (unsigned char *)stats - STATS_HEADER;
    rcgc_allocator a;
    memcpy(&a, block, sizeof a);
    a.free(a.ctx, block);
}

/* ---- text ---- */

/* An snprintf that keeps counting past the end of the buffer. */
struct text {
    char *buf;
    size_t size, len;
};

static char *text_at(const struct text *t, size_t *room)
{
    *room = t->len < t->size ? t->size - t->len : 0;
    return *room ? t->buf + t->len : NULL;
}

static void text_add(struct text *t, int n)
{
    if (n > 0) t->len += (size_t)n;
}

RCGC__PRINTF(2, 3)
static void text_printf(struct text *t, const char *fmt, ...)
{
    size_t room;
    char *at = text_at(t, &room);
    va_list ap;
    va_start(ap, fmt);
    text_add(t, vsnprintf(at, room, fmt, ap));
    va_end(ap);
}

static void text_size(struct text *t, double size, int sign)
{
    size_t room;
    char *at = text_at(t, &room);
    text_add(t, rcgc_format_size(size, sign, at, room));
}

/* CPython's "%i" of a count; estimated counts are rounded (CPython's counts
 * are always whole), and a zero is never "-0". */
static void text_count(struct text *t, double count, int sign)
{
    double r = nearbyint(count);
    if (r == 0 || isnan(r)) r = 0;
    text_printf(t, sign ? "%+.0f" : "%.0f", r);
}

/* str(Traceback): its OLDEST frame, "file:line" (line 0 for the file key).
 * A C stack frame without a file shows its module (and the offset, except
 * for the file key). */
static void text_key(struct text *t, const rcgc_traceback *tb, rcgc_stat_key key)
{
    int n;
    const rcgc_frame *f = tb_frames(tb, &n);
    f = &f[n - 1];
    if (f->module != NULL && f->lineno == 0 &&
        strcmp(f->filename, "<unknown>") == 0) {
        if (key == RCGC_BY_FILENAME)
            text_printf(t, "%s", f->module);
        else
            text_printf(t, "%s+0x%llx", f->module, (unsigned long long)f->offset);
        return;
    }
    text_printf(t, "%s:%u", f->filename, f->lineno);
}

int rcgc_statistic_format(const rcgc_statistic *st,
                          rcgc_stat_key key, int is_diff,
                          char *buf, size_t size)
{
    struct text t = {buf, buf != NULL ? size : 0, 0};
    if (t.size > 0) buf[0] = '\0';
    if (st == NULL || st->traceback == NULL) return -1;
    text_key(&t, st->traceback, key);
    text_printf(&t, ": size=");
    text_size(&t, st->size, 0);
    if (is_diff) {
        text_printf(&t, " (");
        text_size(&t, st->size_diff, 1);
        text_printf(&t, ")");
    }
    text_printf(&t, ", count=");
    text_count(&t, st->count, 0);
    if (is_diff) {
        text_printf(&t, " (");
        text_count(&t, st->count_diff, 1);
        text_printf(&t, ")");
    }
    if (st->count != 0) {
        text_printf(&t, ", average=");
        text_size(&t, st->size / st->count, 0);
    }
    return t.len > (size_t)INT_MAX ? INT_MAX : (int)t.len;
}

/* CPython's _format_size: whole bytes below 10 KiB; then the first unit in
 * which the value is below 10240, with one decimal below 100 of it; TiB
 * takes everything larger.  NaN prints as CPython prints it. */
int rcgc_format_size(double size, int sign, char *buf,
                     size_t bufsize)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (buf == NULL) bufsize = 0;
    if (isnan(size)) return snprintf(buf, bufsize, "%snan TiB", sign ? "+" : "");
    for (int u = 0;; u++) {
        if (u != 0 && fabs(size) < 100)
            return snprintf(buf, bufsize, sign ? "%+.1f %s" : "%.1f %s", size,
                            units[u]);
        if (fabs(size) < 10 * 1024 || u == 4)
            return snprintf(buf, bufsize, sign ? "%+.0f %s" : "%.0f %s", size,
                            units[u]);
        size /= 1024;
    }
}

/* ---- filters ---- */

/* The code point at s[*i], advancing *i.  A byte that starts no valid UTF-8
 * sequence stands for U+DC80 + byte, as Python's surrogateescape decodes
 * it, so any bytes match as CPython would match the decoded name. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[(*i)++];
    if (c < 0x80) return c;
    int n = c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2
            : c >= 0xF0 && c < 0xF5 ? 3 : 0;
    if (n == 0 || len - *i < (size_t)n) return 0xDC00u + c;
    uint32_t cp = c & (0x3Fu >> n);
    for (int k = 0; k < n; k++) {
        unsigned char d = s[*i + (size_t)k];
        if ((d & 0xC0) != 0x80) return 0xDC00u + c;
        cp = (cp << 6) | (d & 0x3Fu);
    }
    /* overlong, surrogate or beyond U+10FFFF: not valid UTF-8 */
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xDC00u + c;
    *i += (size_t)n;
    return cp;
}

/* A bracket expression of Python's fnmatch: p[i] is just after '['.  1 if
 * c is in the set, 0 if not, -1 when no ']' closes it (then the '[' is a
 * plain character).  "!" first negates; "]" first (after "!") is a member;
 * "x-y" is a range unless the '-' is first or last; an empty range (y < x)
 * matches nothing; "\" is a plain character.  *end: just after ']'. */
static int set_match(const unsigned char *p, size_t plen, size_t i, uint32_t c,
                     size_t *end)
{
    size_t j = i;
    int negate = j < plen && p[j] == '!';
    if (negate) j++;
    size_t first = j;
    if (j < plen && p[j] == ']') j++;
    while (j < plen && p[j] != ']') j++;
    if (j >= plen) return -1;
    *end = j + 1;
    int hit = 0;
    for (size_t k = first; k < j;) {
        uint32_t lo = next_cp(p, j, &k);
        if (k + 1 < j && p[k] == '-') {
            size_t m = k + 1;
            uint32_t hi = next_cp(p, j, &m);
            hit |= lo <= c && c <= hi;
            k = m;
        } else {
            hit |= c == lo;
        }
    }
    return hit ^ negate;
}

/* The pattern's item at p[*pi] against code point c (advancing *pi on a
 * match): '?', a set or a plain character. */
static int item_match(const unsigned char *p, size_t plen, size_t *pi, uint32_t c)
{
    if (p[*pi] == '?') {
        *pi += 1;
        return 1;
    }
    if (p[*pi] == '[') {
        size_t end;
        int r = set_match(p, plen, *pi + 1, c, &end);
        if (r >= 0) {
            if (r == 1) *pi = end;
            return r;
        }
    }
    size_t k = *pi;
    if (next_cp(p, plen, &k) != c) return 0;
    *pi = k;
    return 1;
}

/* Python's fnmatch.fnmatchcase (POSIX: case-sensitive, '*' and '?' match
 * '/' too).  Classic backtracking to the last '*': each later '*' makes
 * earlier choices final, so one saved position is enough. */
static int glob_match(const unsigned char *s, size_t slen, const unsigned char *p,
                      size_t plen)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        size_t sj = si;
        uint32_t c = next_cp(s, slen, &sj);
        if (pi < plen && item_match(p, plen, &pi, c)) {
            si = sj;
            continue;
        }
        if (star_p == SIZE_MAX) return 0;
        next_cp(s, slen, &star_s); /* the '*' takes one more character */
        si = star_s;
        pi = star_p;
    }
    while (pi < plen && p[pi] == '*') pi++;
    return pi == plen;
}

/* CPython's _normalize_filename on POSIX: "x.pyc" is "x.py". */
static size_t normalized_len(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && memcmp(name + n - 4, ".pyc", 4) == 0 ? n - 1 : n;
}

/* Filter._match_frame_impl. */
static int frame_match(const rcgc_trace_filter *f, size_t plen,
                       const rcgc_frame *fr)
{
    if (!glob_match((const unsigned char *)fr->filename,
                    normalized_len(fr->filename),
                    (const unsigned char *)f->pattern, plen))
        return 0;
    return f->lineno < 0 || (unsigned long)f->lineno == fr->lineno;
}

/* Filter._match_traceback. */
static int traceback_match(const rcgc_trace_filter *f, size_t plen,
                           const rcgc_traceback *tb)
{
    int n;
    const rcgc_frame *fr = tb_frames(tb, &n);
    if (!f->all_frames) return frame_match(f, plen, &fr[0]) ^ !f->inclusive;
    for (int i = 0; i < n; i++)
        if (frame_match(f, plen, &fr[i])) return f->inclusive != 0;
    return !f->inclusive;
}

/* Filter._match / DomainFilter._match: 1 when the filter says keep. */
static int filter_keeps(const rcgc_trace_filter *f, const rcgc_trace *t)
{
    int same_domain = f->domain < 0 || (unsigned long)f->domain == t->domain;
    if (f->pattern == NULL) return same_domain ^ !f->inclusive;
    int res = traceback_match(f, normalized_len(f->pattern), t->traceback);
    if (f->domain < 0) return res;
    return f->inclusive ? res && same_domain : res || !same_domain;
}

/* Snapshot._filter_trace: some inclusive filter (if any) keeps it, and no
 * exclusive filter drops it. */
static int trace_kept(const rcgc_trace_filter *filters, size_t n,
                      const rcgc_trace *t)
{
    int has_inclusive = 0, included = 0;
    for (size_t i = 0; i < n; i++) {
        if (!filters[i].inclusive) continue;
        has_inclusive = 1;
        if (filter_keeps(&filters[i], t)) {
            included = 1;
            break;
        }
    }
    if (has_inclusive && !included) return 0;
    for (size_t i = 0; i < n; i++)
        if (!filters[i].inclusive && !filter_keeps(&filters[i], t)) return 0;
    return 1;
}

/* Copy trace t into dst, its traceback once (map: source traceback index
 * -> 1 + its index in dst; 0: not copied yet). */
static int copy_trace(rcgc_snapshot *dst, long *map, const rcgc_trace *t)
{
    const rcgc_traceback *tb = t->traceback;
    size_t src = rcgc__snap_tb_index(tb);
    if (map[src] == 0) {
        long idx = rcgc__snapshot_add_traceback(dst, tb->frames, tb->nframe,
                                                tb->total_nframe);
        if (idx < 0) return RCGC_ENOMEM;
        map[src] = idx + 1;
    }
    return rcgc__snapshot_add_trace(dst, t->domain, t->size, map[src] - 1,
                                    t->est_size, t->est_count);
}

/* A snapshot filtered from a file's is still from that file: the module
 * identities it recorded go with it (symbolize.c trusts only those). */
static int copy_modules(rcgc_snapshot *dst, const rcgc_snapshot *s)
{
    dst->from_file = s->from_file;
    if (s->nmod == 0) return 0;
    dst->mods = rcgc__snap_arena_alloc(dst, s->nmod * sizeof *dst->mods);
    if (dst->mods == NULL) return RCGC_ENOMEM;
    for (size_t i = 0; i < s->nmod; i++) {
        dst->mods[i] = s->mods[i];
        dst->mods[i].path = rcgc__snap_intern(dst, s->mods[i].path);
        if (dst->mods[i].path == NULL) return RCGC_ENOMEM;
        dst->nmod = i + 1;
    }
    return 0;
}

rcgc_snapshot *rcgc_snapshot_filter(const rcgc_snapshot *s,
                                    const rcgc_trace_filter *filters,
                                    size_t nfilters)
{
    if (s == NULL || (filters == NULL && nfilters > 0)) return NULL;
    rcgc_snapshot *dst = rcgc__snapshot_new(s->limit, s->sample_bytes);
    rcgc_allocator a = rcgc_process_allocator_get();
    long *map = rcgc__ucalloc(&a, s->ntb, sizeof *map);
    int r = dst != NULL && map != NULL ? 0 : RCGC_ENOMEM;
    if (r == 0) r = copy_modules(dst, s);
    for (size_t i = 0; i < s->ntrace && r == 0; i++)
        if (trace_kept(filters, nfilters, &s->traces[i]))
            r = copy_trace(dst, map, &s->traces[i]);
    rcgc__ufree(&a, map);
    if (r != 0) {
        rcgc_snapshot_free(dst);
        return NULL;
    }
    return dst;
}
