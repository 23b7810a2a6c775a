/*
 * memdebug.c - CPython's debug hooks (PYTHONMALLOC=debug) around any
 * allocator: a 16-byte header (8-byte big-endian size, 1-byte API id, 7
 * guard bytes) and 8 guard bytes after each block, fill patterns for new and
 * freed memory, checks on free and realloc, a whole-heap check, an optional
 * quarantine of freed blocks, and reports in CPython's dump format through a
 * replaceable hook.
 *
 * Invariant: every live block is in `live` (data pointer -> requested size,
 * index of the wrap that made it); every quarantined block is in the ring,
 * filled with DEADBYTE, and in no table.  Block memory is read only for
 * blocks in one of the two.  Design: docs/allocator.md ("The debug
 * allocator").
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_internal.h"

#define SST 8                   /* sizeof(size_t) in the layout */
#define MD_HEAD (2 * SST)       /* bytes before the data */
#define MD_MAX_WRAPS 8
#define MD_ERASED 64            /* bytes realloc saves from each end */
#define MD_TEXT 8192

struct md_wrap {
    rcgc_memdebug *md;
    char id;               /* API id written in each header */
    rcgc_allocator base;   /* the wrapped allocator */
};

typedef struct md_dead {
    uint8_t *p;            /* data pointer of a quarantined block */
    size_t size;           /* its requested size */
    uint32_t wrap;         /* index of its wrap */
} md_dead;

struct rcgc_memdebug {
    rcgc_memdebug_config cfg;
    struct md_wrap wrap[MD_MAX_WRAPS];
    int nwraps;
    rcgc__ptrmap live;     /* live blocks */
    size_t live_bytes;     /* their requested bytes */
    md_dead *ring;         /* quarantine, cfg.quarantine entries */
    size_t qhead, qcount;  /* oldest entry, entries used */
    rcgc_ssize problems;   /* reported so far */
    char msg[160];         /* message of the current report */
    char text[MD_TEXT];    /* text of the current report */
    size_t len;            /* of text */
};

/* ---- the layout ---- */

static size_t read_size(const uint8_t *q)
{
    size_t n = 0;
    for (int i = 0; i < SST; i++) n = n << 8 | q[i];
    return n;
}

static void write_size(uint8_t *q, size_t n)
{
    for (int i = SST - 1; i >= 0; i--, n >>= 8) q[i] = (uint8_t)(n & 0xff);
}

static void write_guards(uint8_t *data, size_t nbytes, char id)
{
    write_size(data - MD_HEAD, nbytes);
    data[-SST] = (uint8_t)id;
    memset(data - SST + 1, RCGC_MEMDEBUG_FORBIDDENBYTE, SST - 1);
    memset(data + nbytes, RCGC_MEMDEBUG_FORBIDDENBYTE, SST);
}

static int lead_ok(const uint8_t *p)
{
    for (int i = 1; i <= SST - 1; i++)
        if (p[-i] != RCGC_MEMDEBUG_FORBIDDENBYTE) return 0;
    return 1;
}

static int tail_ok(const uint8_t *tail)
{
    for (int i = 0; i < SST; i++)
        if (tail[i] != RCGC_MEMDEBUG_FORBIDDENBYTE) return 0;
    return 1;
}

/* ---- report text ---- */

static void tx(rcgc_memdebug *md, const char *fmt, ...) RCGC__PRINTF_(2, 3);

static void tx(rcgc_memdebug *md, const char *fmt, ...)
{
    if (md->len >= MD_TEXT - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(md->text + md->len, MD_TEXT - md->len, fmt, ap);
    va_end(ap);
    if (n > 0) md->len += (size_t)n < MD_TEXT - md->len ? (size_t)n : MD_TEXT - 1 - md->len;
}

/* An API id as text: the character, or \xNN when not printable. */
static const char *id_text(char id, char buf[8])
{
    unsigned char c = (unsigned char)id;
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "%c", c);
    else
        snprintf(buf, 8, "\\x%02x", c);
    return buf;
}

/* "Data at p:" with up to 8 bytes from each end. */
static void dump_data(rcgc_memdebug *md, const uint8_t *q, const uint8_t *tail)
{
    if (q >= tail) return;
    tx(md, "    Data at p:");
    for (int i = 0; q < tail && i < 8; i++, q++) tx(md, " %02x", *q);
    if (q < tail) {
        if (tail - q > 8) {
            tx(md, " ...");
            q = tail - 8;
        }
        for (; q < tail; q++) tx(md, " %02x", *q);
    }
    tx(md, "\n");
}

void rcgc__memdebug_get_traceback(const rcgc_memdebug *md,
                                  rcgc_memdebug_traceback_fn *fn, void **ctx)
{
    *fn = md->cfg.traceback;
    *ctx = md->cfg.traceback_ctx;
}

void rcgc__memdebug_set_traceback(rcgc_memdebug *md,
                                  rcgc_memdebug_traceback_fn fn, void *ctx)
{
    md->cfg.traceback = fn;
    md->cfg.traceback_ctx = ctx;
}

static void dump_traceback(rcgc_memdebug *md, const void *p)
{
    if (md->cfg.traceback != NULL) {
        char buf[2048];
        size_t n = md->cfg.traceback(md->cfg.traceback_ctx, p, buf, sizeof buf);
        if (n > 0) {
            buf[sizeof buf - 1] = 0;
            tx(md, "Memory block allocated at (most recent call first):\n%s\n",
               buf);
            return;
        }
    }
    tx(md, "Enable the tracer to get the memory block allocation traceback\n\n");
}

/* CPython's _PyObject_DebugDumpAddress for a live block whose allocation
 * recorded `recorded` bytes (the tail is read there if the size field lies). */
static void dump_block(rcgc_memdebug *md, const uint8_t *p, size_t recorded)
{
    char idb[8];
    tx(md, "Debug memory block at address p=%p: API '%s'\n", (const void *)p,
       id_text((char)p[-SST], idb));
    size_t nbytes = read_size(p - MD_HEAD);
    tx(md, "    %zu bytes originally requested\n", nbytes);
    tx(md, "    The %d pad bytes at p-%d are ", SST - 1, SST - 1);
    if (lead_ok(p)) {
        tx(md, "FORBIDDENBYTE, as expected.\n");
    } else {
        tx(md, "not all FORBIDDENBYTE (0x%02x):\n", RCGC_MEMDEBUG_FORBIDDENBYTE);
        for (int i = SST - 1; i >= 1; i--)
            tx(md, "        at p-%d: 0x%02x%s\n", i, p[-i],
               p[-i] != RCGC_MEMDEBUG_FORBIDDENBYTE ? " *** OUCH" : "");
        tx(md, "    Because memory is corrupted at the start, the count of bytes "
               "requested\n       may be bogus, and checking the trailing pad "
               "bytes may segfault.\n");
    }
    if (nbytes != recorded) {
        tx(md, "    The allocator recorded %zu bytes: the size field is damaged; "
               "the tail is read there.\n", recorded);
        nbytes = recorded;
    }
    const uint8_t *tail = p + nbytes;
    tx(md, "    The %d pad bytes at tail=%p are ", SST, (const void *)tail);
    if (tail_ok(tail)) {
        tx(md, "FORBIDDENBYTE, as expected.\n");
    } else {
        tx(md, "not all FORBIDDENBYTE (0x%02x):\n", RCGC_MEMDEBUG_FORBIDDENBYTE);
        for (int i = 0; i < SST; i++)
            tx(md, "        at tail+%d: 0x%02x%s\n", i, tail[i],
               tail[i] != RCGC_MEMDEBUG_FORBIDDENBYTE ? " *** OUCH" : "");
    }
    dump_data(md, p, tail);
    tx(md, "\n");
    dump_traceback(md, p);
}

/* A quarantined (freed) block. */
static void dump_dead(rcgc_memdebug *md, const md_dead *d)
{
    char idb[8];
    const uint8_t *p = d->p, *end = p + d->size + SST;
    tx(md, "Debug memory block at address p=%p: freed, API '%s'\n",
       (const void *)p, id_text(md->wrap[d->wrap].id, idb));
    tx(md, "    %zu bytes originally requested\n", d->size);
    for (const uint8_t *q = p - MD_HEAD; q < end; q++)
        if (*q != RCGC_MEMDEBUG_DEADBYTE) {
            tx(md, "    The first byte that is not DEADBYTE (0x%02x) is at "
                   "p%+td: 0x%02x\n", RCGC_MEMDEBUG_DEADBYTE, q - p, *q);
            break;
        }
    dump_data(md, p, p + d->size);
    tx(md, "\n");
    dump_traceback(md, p);
}

/* Hand the current text to the report hook (the default one aborts). */
static void report(rcgc_memdebug *md, rcgc_memdebug_kind kind, const char *func,
                   const void *p, size_t size, char api)
{
    rcgc_memdebug_report r = {kind, func, md->msg, p, size, api, md->text};
    md->problems++;
    if (md->cfg.report != NULL) {
        md->cfg.report(md->cfg.report_ctx, &r);
        return;
    }
    FILE *f = md->cfg.stream != NULL ? md->cfg.stream : stderr;
    fputs(md->text, f);
    fprintf(f, "rcgc: fatal error: %s: %s\n", func, md->msg);
    fflush(f);
    abort();
}

static void begin(rcgc_memdebug *md)
{
    md->len = 0;
    md->text[0] = 0;
}

/* ---- checks ---- */

/* Check a live block's guards against its wrap; report and return 0 on the
 * first problem. */
static int check_live(rcgc_memdebug *md, const struct md_wrap *w,
                      const char *func, const uint8_t *p, size_t recorded)
{
    char a[8], b[8];
    rcgc_memdebug_kind kind = 0;
    if ((char)p[-SST] != w->id) {
        kind = RCGC_MEMDEBUG_BAD_ID;
        snprintf(md->msg, sizeof md->msg,
                 "bad ID: Allocated using API '%s', verified using API '%s'",
                 id_text((char)p[-SST], a), id_text(w->id, b));
    } else if (!lead_ok(p)) {
        kind = RCGC_MEMDEBUG_BAD_LEADING_PAD;
        snprintf(md->msg, sizeof md->msg, "bad leading pad byte");
    } else if (read_size(p - MD_HEAD) != recorded) {
        kind = RCGC_MEMDEBUG_BAD_SIZE;
        snprintf(md->msg, sizeof md->msg, "bad size field");
    } else if (!tail_ok(p + recorded)) {
        kind = RCGC_MEMDEBUG_BAD_TRAILING_PAD;
        snprintf(md->msg, sizeof md->msg, "bad trailing pad byte");
    } else {
        return 1;
    }
    begin(md);
    dump_block(md, p, recorded);
    report(md, kind, func, p, recorded, w->id);
    return 0;
}

/* The quarantine entry of p, or NULL. */
static md_dead *find_dead(rcgc_memdebug *md, const void *p)
{
    size_t cap = md->cfg.quarantine;
    for (size_t i = 0; i < md->qcount; i++) {
        md_dead *d = &md->ring[(md->qhead + i) % cap];
        if (d->p == p) return d;
    }
    return NULL;
}

/* p is not a live block: a double free (quarantined) or a foreign pointer. */
static void not_allocated(rcgc_memdebug *md, const struct md_wrap *w,
                          const char *func, const void *p)
{
    md_dead *d = find_dead(md, p);
    begin(md);
    if (d != NULL) {
        snprintf(md->msg, sizeof md->msg, "double free: the block was already "
                 "freed");
        dump_dead(md, d);
        report(md, RCGC_MEMDEBUG_NOT_ALLOCATED, func, p, d->size, w->id);
        return;
    }
    snprintf(md->msg, sizeof md->msg, "pointer not allocated by this "
             "allocator, or already freed");
    tx(md, "Debug memory block at address p=%p: not a live block of this debug "
           "allocator; its memory is not read.\n\n", p);
    dump_traceback(md, p);
    report(md, RCGC_MEMDEBUG_NOT_ALLOCATED, func, p, 0, w->id);
}

/* The live entry of p after every check passed, or NULL (reported). */
static rcgc__ptrmap_entry *check_address(rcgc_memdebug *md,
                                         const struct md_wrap *w,
                                         const char *func, const uint8_t *p)
{
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(&md->live, p);
    if (e == NULL) {
        not_allocated(md, w, func, p);
        return NULL;
    }
    return check_live(md, w, func, p, e->size) ? e : NULL;
}

/* Check that a quarantined block is still all DEADBYTE; report if not. */
static void check_dead(rcgc_memdebug *md, const md_dead *d, const char *func)
{
    const uint8_t *q = d->p - MD_HEAD, *end = d->p + d->size + SST;
    for (; q < end; q++)
        if (*q != RCGC_MEMDEBUG_DEADBYTE) break;
    if (q == end) return;
    begin(md);
    snprintf(md->msg, sizeof md->msg, "freed memory was written to");
    dump_dead(md, d);
    report(md, RCGC_MEMDEBUG_USE_AFTER_FREE, func, d->p, d->size,
           md->wrap[d->wrap].id);
}

/* ---- quarantine ---- */

static void release_dead(rcgc_memdebug *md, const md_dead *d)
{
    const rcgc_allocator *b = &md->wrap[d->wrap].base;
    b->free(b->ctx, d->p - MD_HEAD);
}

/* Quarantine a freed block (already filled with DEADBYTE), releasing the
 * oldest when the ring is full. */
static void bury(rcgc_memdebug *md, uint8_t *p, size_t size, uint32_t wrap,
                 const char *func)
{
    size_t cap = md->cfg.quarantine;
    if (md->qcount == cap) {
        md_dead old = md->ring[md->qhead];
        md->qhead = (md->qhead + 1) % cap;
        md->qcount--;
        check_dead(md, &old, func);
        release_dead(md, &old);
    }
    md_dead d = {p, size, wrap};
    md->ring[(md->qhead + md->qcount) % cap] = d;
    md->qcount++;
}

void rcgc_memdebug_flush(rcgc_memdebug *md)
{
    while (md->qcount > 0) {
        md_dead old = md->ring[md->qhead];
        md->qhead = (md->qhead + 1) % md->cfg.quarantine;
        md->qcount--;
        check_dead(md, &old, "rcgc_memdebug_flush");
        release_dead(md, &old);
    }
}

/* ---- the hooks ---- */

static void *md_alloc(struct md_wrap *w, int use_calloc, size_t nbytes)
{
    rcgc_memdebug *md = w->md;
    if (nbytes > (size_t)PTRDIFF_MAX - RCGC_MEMDEBUG_OVERHEAD) return NULL;
    size_t total = nbytes + RCGC_MEMDEBUG_OVERHEAD;
    uint8_t *b = use_calloc ? w->base.calloc(w->base.ctx, 1, total)
                            : w->base.malloc(w->base.ctx, total);
    if (b == NULL) return NULL;
    uint8_t *p = b + MD_HEAD;
    if (rcgc__ptrmap_put(&md->live, p, nbytes, (uint64_t)(w - md->wrap)) != 0) {
        w->base.free(w->base.ctx, b);
        return NULL;
    }
    md->live_bytes += nbytes;
    if (!use_calloc) memset(p, RCGC_MEMDEBUG_CLEANBYTE, nbytes);
    write_guards(p, nbytes, w->id);
    return p;
}

static void *md_malloc(void *ctx, size_t nbytes)
{
    return md_alloc(ctx, 0, nbytes);
}

static void *md_calloc(void *ctx, size_t nelem, size_t elsize)
{
    if (elsize != 0 && nelem > SIZE_MAX / elsize) return NULL;
    return md_alloc(ctx, 1, nelem * elsize);
}

static void md_free(void *ctx, void *ptr)
{
    if (ptr == NULL) return;
    struct md_wrap *w = ctx;
    rcgc_memdebug *md = w->md;
    rcgc__ptrmap_entry *e = check_address(md, w, "rcgc_memdebug_free", ptr);
    if (e == NULL) return;
    size_t nbytes = e->size;
    uint32_t wi = (uint32_t)e->tag;
    rcgc__ptrmap_remove(&md->live, ptr);
    md->live_bytes -= nbytes;
    uint8_t *b = (uint8_t *)ptr - MD_HEAD;
    memset(b, RCGC_MEMDEBUG_DEADBYTE, nbytes + RCGC_MEMDEBUG_OVERHEAD);
    if (md->cfg.quarantine > 0) {
        bury(md, ptr, nbytes, wi, "rcgc_memdebug_free");
    } else {
        /* the allocator that made it (a domain may have been re-wrapped) */
        const rcgc_allocator *base = &md->wrap[wi].base;
        base->free(base->ctx, b);
    }
}

/* Save the bytes realloc may lose and mark the old block dead (CPython). */
static void realloc_save(uint8_t *data, size_t n, uint8_t save[2 * MD_ERASED])
{
    if (n <= 2 * MD_ERASED) {
        memcpy(save, data, n);
        memset(data - MD_HEAD, RCGC_MEMDEBUG_DEADBYTE, n + RCGC_MEMDEBUG_OVERHEAD);
    } else {
        memcpy(save, data, MD_ERASED);
        memset(data - MD_HEAD, RCGC_MEMDEBUG_DEADBYTE, MD_ERASED + MD_HEAD);
        memcpy(save + MD_ERASED, data + n - MD_ERASED, MD_ERASED);
        memset(data + n - MD_ERASED, RCGC_MEMDEBUG_DEADBYTE, MD_ERASED + SST);
    }
}

static void realloc_restore(uint8_t *data, size_t nbytes, size_t orig,
                            const uint8_t save[2 * MD_ERASED])
{
    if (orig <= 2 * MD_ERASED) {
        memcpy(data, save, nbytes < orig ? nbytes : orig);
        return;
    }
    memcpy(data, save, nbytes < MD_ERASED ? nbytes : MD_ERASED);
    size_t i = orig - MD_ERASED;
    if (nbytes > i)
        memcpy(data + i, save + MD_ERASED,
               nbytes - i < MD_ERASED ? nbytes - i : MD_ERASED);
}

static void *md_realloc(void *ctx, void *ptr, size_t nbytes)
{
    struct md_wrap *w = ctx;
    if (ptr == NULL) return md_alloc(w, 0, nbytes);
    rcgc_memdebug *md = w->md;
    rcgc__ptrmap_entry *e = check_address(md, w, "rcgc_memdebug_realloc", ptr);
    if (e == NULL) return NULL;
    if (nbytes > (size_t)PTRDIFF_MAX - RCGC_MEMDEBUG_OVERHEAD) return NULL;
    size_t orig = e->size;
    uint64_t tag = e->tag;
    uint8_t save[2 * MD_ERASED];
    realloc_save(ptr, orig, save);
    uint8_t *head = (uint8_t *)ptr - MD_HEAD;
    const rcgc_allocator *base = &md->wrap[tag].base;
    uint8_t *r = base->realloc(base->ctx, head, nbytes + RCGC_MEMDEBUG_OVERHEAD);
    if (r == NULL) {
        nbytes = orig;
    } else {
        head = r;
        /* remove first: the put then needs no room, so it cannot fail */
        rcgc__ptrmap_remove(&md->live, ptr);
        (void)rcgc__ptrmap_put(&md->live, head + MD_HEAD, nbytes, tag);
        md->live_bytes = md->live_bytes - orig + nbytes;
    }
    uint8_t *data = head + MD_HEAD;
    write_guards(data, nbytes, w->id);
    realloc_restore(data, nbytes, orig, save);
    if (r == NULL) return NULL;
    if (nbytes > orig)
        memset(data + orig, RCGC_MEMDEBUG_CLEANBYTE, nbytes - orig);
    return data;
}

/* ---- the layer ---- */

void rcgc_memdebug_config_init(rcgc_memdebug_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->meta = rcgc_libc_allocator();
}

int rcgc_memdebug_create(const rcgc_memdebug_config *cfg,
                         rcgc_memdebug **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    rcgc_memdebug_config c;
    if (cfg != NULL && !RCGC__SIZE_OK(cfg)) return RCGC_EINVAL;
    if (cfg != NULL)
        c = *cfg;
    else
        rcgc_memdebug_config_init(&c);
    int ok = rcgc__allocator_complete(&c.meta);
    if (ok < 0) return RCGC_EINVAL;
    if (ok == 0) c.meta = rcgc_libc_allocator();
    rcgc_memdebug *md = c.meta.calloc(c.meta.ctx, 1, sizeof *md);
    if (md == NULL) return RCGC_ENOMEM;
    md->cfg = c;
    if (c.quarantine > 0) {
        md->ring = c.meta.calloc(c.meta.ctx, c.quarantine, sizeof *md->ring);
        if (md->ring == NULL) {
            c.meta.free(c.meta.ctx, md);
            return RCGC_ENOMEM;
        }
    }
    rcgc__ptrmap_init(&md->live, &c.meta);
    *out = md;
    return 0;
}

rcgc_memdebug *rcgc_memdebug_new(const rcgc_memdebug_config *cfg)
{
    rcgc_memdebug *md;
    return rcgc_memdebug_create(cfg, &md) == 0 ? md : NULL;
}

rcgc_ssize rcgc_memdebug_destroy(rcgc_memdebug *md)
{
    if (md == NULL) return 0;
    rcgc_memdebug_flush(md);
    rcgc_ssize live = (rcgc_ssize)md->live.count;
    rcgc__ptrmap_fini(&md->live);
    rcgc_allocator meta = md->cfg.meta;
    if (md->ring != NULL) meta.free(meta.ctx, md->ring);
    meta.free(meta.ctx, md);
    return live;
}

int rcgc_memdebug_wrap(rcgc_memdebug *md, char api_id,
                       const rcgc_allocator *base, rcgc_allocator *out)
{
    if (base == NULL || rcgc__allocator_complete(base) != 1) return RCGC_EINVAL;
    if (md->nwraps == MD_MAX_WRAPS) return RCGC_ENOMEM;
    struct md_wrap *w = &md->wrap[md->nwraps++];
    w->md = md;
    w->id = api_id;
    w->base = *base;
    rcgc_allocator a = {w, md_malloc, md_calloc, md_realloc, md_free};
    *out = a;
    return 0;
}

int rcgc_memdebug_is_wrapper(const rcgc_allocator *a)
{
    return a->malloc == md_malloc && a->free == md_free;
}

int rcgc__memdebug_owns_hooks(const rcgc_memdebug *md, const rcgc_allocator *a)
{
    return rcgc_memdebug_is_wrapper(a) &&
           ((const struct md_wrap *)a->ctx)->md == md;
}

rcgc_ssize rcgc_memdebug_check(rcgc_memdebug *md)
{
    rcgc_ssize before = md->problems;
    for (size_t i = 0; i < md->live.cap; i++) {
        const rcgc__ptrmap_entry *e = &md->live.slots[i];
        if (e->key == NULL) continue;
        (void)check_live(md, &md->wrap[e->tag], "rcgc_memdebug_check", e->key,
                         e->size);
    }
    for (size_t i = 0; i < md->qcount; i++)
        check_dead(md, &md->ring[(md->qhead + i) % md->cfg.quarantine],
                   "rcgc_memdebug_check");
    return md->problems - before;
}

rcgc_ssize rcgc_memdebug_live_blocks(const rcgc_memdebug *md)
{
    return (rcgc_ssize)md->live.count;
}

size_t rcgc_memdebug_live_bytes(const rcgc_memdebug *md)
{
    return md->live_bytes;
}
