/*
 * snapshot.c - the snapshot object: an immutable copy of traces, owning all
 * its data (tracebacks, frames, strings), independent of any runtime (a
 * loaded snapshot has none; a taken one may outlive its runtime).  Memory
 * comes from the process allocator for that reason (rcgc_mem.h; the C
 * library unless the program installs another), the one the snapshot was
 * made with (s->a).
 *
 * Layout (docs/tracer.md):
 *   strings     interned: equal strings of one snapshot are one pointer, so
 *               grouping within a snapshot compares pointers;
 *   tracebacks  each an rcgc_traceback followed by its frames, carved from
 *               a chunked arena (pointers stay valid while the snapshot
 *               lives); tbs[] lists them by index;
 *   traces      one array, pointing to their tracebacks.
 * Statistics and filters live in snapshot_stats.c, files in
 * snapshot_write.c / snapshot_read.c (format: snapshot_file.h).
 */
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "trace/snapshot_internal.h"

/* ---- the arena ---- */

#define CHUNK_SIZE (64 * 1024)

struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *rcgc__snap_arena_alloc(rcgc_snapshot *s, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct chunk *c = s->chunks;
    if (c == NULL || c->size - c->used < size) {
        size_t cap = size > CHUNK_SIZE / 4 ? size : CHUNK_SIZE;
        c = rcgc__umalloc(&s->a, sizeof *c + cap);
        if (c == NULL) return NULL;
        c->size = cap;
        c->used = 0;
        if (cap == CHUNK_SIZE || s->chunks == NULL) {
            c->next = s->chunks;
            s->chunks = c;
        } else { /* a big item: keep filling the current chunk */
            c->next = s->chunks->next;
            s->chunks->next = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    s->bytes += size;
    return p;
}

/* ---- interned strings ---- */

/* FNV-1a from a per-snapshot random seed, then a final mix (murmur3's
 * fmix64) so that the table's low bits depend on every bit: strings read
 * from a file cannot be crafted to share one probe run (without the seed
 * and the mix, FNV-1a's low bits depend only on the input's low bits). */
static uint64_t str_hash(const rcgc_snapshot *s, const char *str, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u ^ s->str_seed;
    for (size_t k = 0; k < len; k++) {
        h ^= (unsigned char)str[k];
        h *= 0x100000001b3u;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

static int strings_grow(rcgc_snapshot *s)
{
    size_t cap = s->str_cap ? s->str_cap * 2 : 256;
    const char **t = rcgc__ucalloc(&s->a, cap, sizeof *t);
    if (t == NULL) return RCGC_ENOMEM;
    for (size_t i = 0; i < s->str_cap; i++) {
        const char *str = s->strs[i];
        if (str == NULL) continue;
        size_t j = (size_t)str_hash(s, str, strlen(str)) & (cap - 1);
        while (t[j] != NULL) j = (j + 1) & (cap - 1);
        t[j] = str;
    }
    rcgc__ufree(&s->a, s->strs);
    s->strs = t;
    s->str_cap = cap;
    return 0;
}

const char *rcgc__snap_intern_n(rcgc_snapshot *s, const char *str, size_t len)
{
    if ((s->str_count + 1) * 2 > s->str_cap && strings_grow(s) != 0) return NULL;
    size_t j = (size_t)str_hash(s, str, len) & (s->str_cap - 1);
    for (; s->strs[j] != NULL; j = (j + 1) & (s->str_cap - 1))
        if (strncmp(s->strs[j], str, len) == 0 && s->strs[j][len] == '\0')
            return s->strs[j];
    char *copy = rcgc__snap_arena_alloc(s, len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, str, len);
    copy[len] = '\0';
    s->strs[j] = copy;
    s->str_count++;
    return copy;
}

const char *rcgc__snap_intern(rcgc_snapshot *s, const char *str)
{
    return str == NULL ? NULL : rcgc__snap_intern_n(s, str, strlen(str));
}

/* ---- building ---- */

rcgc_snapshot *rcgc__snapshot_new(int traceback_limit, size_t sample_bytes)
{
    rcgc_allocator a = rcgc_process_allocator_get();
    rcgc_snapshot *s = rcgc__ucalloc(&a, 1, sizeof *s);
    if (s == NULL) return NULL;
    s->a = a;
    s->limit = traceback_limit;
    s->sample_bytes = sample_bytes;
    if (rcgc__os_random(&s->str_seed, sizeof s->str_seed) != 0)
        s->str_seed = rcgc__os_now_ns() ^ (uint64_t)(uintptr_t)s;
    return s;
}

static int snap_grow(const rcgc_allocator *a, void **arr, size_t *cap,
                     size_t need, size_t elsize)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    if (n > SIZE_MAX / elsize) return RCGC_ENOMEM;
    void *p = rcgc__urealloc(a, *arr, n * elsize);
    if (p == NULL) return RCGC_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

long rcgc__snapshot_add_traceback(rcgc_snapshot *s, const rcgc_frame *frames,
                                  int nframe, int total_nframe)
{
    if (nframe < 0 || (size_t)s->ntb >= (size_t)LONG_MAX) return -1;
    if (snap_grow(&s->a, (void **)&s->tbs, &s->tb_cap, s->ntb + 1,
                  sizeof *s->tbs) != 0)
        return -1;
    struct rcgc__snap_tbhead *head = rcgc__snap_arena_alloc(
        s, sizeof *head + sizeof(rcgc_traceback) + (size_t)nframe * sizeof(rcgc_frame));
    if (head == NULL) return -1;
    head->index = s->ntb;
    rcgc_traceback *tb = (rcgc_traceback *)(void *)(head + 1);
    rcgc_frame *f = (rcgc_frame *)(void *)(tb + 1);
    for (int i = 0; i < nframe; i++) {
        f[i] = frames[i];
        f[i].filename = rcgc__snap_intern(
            s, frames[i].filename ? frames[i].filename : "<unknown>");
        f[i].function = rcgc__snap_intern(s, frames[i].function);
        f[i].module = rcgc__snap_intern(s, frames[i].module);
        if (f[i].filename == NULL ||
            (frames[i].function != NULL && f[i].function == NULL) ||
            (frames[i].module != NULL && f[i].module == NULL))
            return -1;
    }
    tb->frames = f;
    tb->nframe = nframe;
    tb->total_nframe = total_nframe < nframe ? nframe : total_nframe;
    s->tbs[s->ntb] = tb;
    return (long)s->ntb++;
}

int rcgc__snapshot_add_trace(rcgc_snapshot *s, unsigned domain, size_t size,
                             long tb, double est_size, double est_count)
{
    if (tb < 0 || (size_t)tb >= s->ntb) return RCGC_EINVAL;
    if (snap_grow(&s->a, (void **)&s->traces, &s->trace_cap, s->ntrace + 1,
             sizeof *s->traces) != 0)
        return RCGC_ENOMEM;
    rcgc_trace *t = &s->traces[s->ntrace++];
    t->domain = domain;
    t->size = size;
    t->traceback = s->tbs[tb];
    t->est_size = est_size;
    t->est_count = est_count;
    return 0;
}

/* ---- the public accessors ---- */

void rcgc_snapshot_free(rcgc_snapshot *s)
{
    if (s == NULL) return;
    rcgc_allocator a = s->a;
    for (struct chunk *c = s->chunks, *next; c != NULL; c = next) {
        next = c->next;
        rcgc__ufree(&a, c);
    }
    rcgc__ufree(&a, s->strs);
    rcgc__ufree(&a, s->tbs);
    rcgc__ufree(&a, s->traces);
    rcgc__ufree(&a, s);
}

rcgc_ssize rcgc_snapshot_count(const rcgc_snapshot *s)
{
    return s != NULL ? (rcgc_ssize)s->ntrace : 0;
}

const rcgc_trace *rcgc_snapshot_trace(const rcgc_snapshot *s,
                                      rcgc_ssize i)
{
    if (s == NULL || i < 0 || (size_t)i >= s->ntrace) return NULL;
    return &s->traces[i];
}

int rcgc_snapshot_traceback_limit(const rcgc_snapshot *s)
{
    return s != NULL ? s->limit : 0;
}

size_t rcgc_snapshot_sample_bytes(const rcgc_snapshot *s)
{
    return s != NULL ? s->sample_bytes : 0;
}
