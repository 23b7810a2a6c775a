/*
 * snapshot_read.c - reading snapshot files (rcgc_snapshot_read, _load and
 * their _bytes forms): a loader that trusts nothing - every count is
 * checked against the bytes that remain before anything is allocated for
 * it, every index against its table, every string for NULs, and the
 * checksum before the body is parsed (a file is read only as far as its
 * counts were checked).  The format: snapshot_file.h.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "trace/snapshot_file.h"
#include "trace/snapshot_internal.h"

/* ======================================================================== */
/* Load                                                                      */

struct reader {
    rcgc_allocator a;        /* the process allocator: the reader's buffers */
    const unsigned char *p;  /* the file's bytes: all of them (memory), or
                                the first `loaded` (a file being read) */
    size_t pos;              /* next byte to read */
    size_t end;              /* end of the current region (the body) */
    char *err;
    size_t errlen;
    int code;                /* of the first problem: RCGC_EFORMAT,
                                RCGC_ENOMEM, or RCGC_EFAILED (a read) */
    int fd;                  /* a file read as it is parsed; -1: memory */
    size_t loaded, cap;      /* bytes of p read from fd, allocated */
    size_t size;             /* the file's size */
};

/* Report a problem at byte offset at: "offset N: what"; returns 0. */
RCGC__PRINTF(3, 4)
static int bad(struct reader *r, size_t at, const char *fmt, ...)
{
    if (r->code == 0) r->code = RCGC_EFORMAT;
    if (r->err == NULL || r->errlen == 0) return 0;
    int n = snprintf(r->err, r->errlen, "offset %zu: ", at);
    if (n < 0 || (size_t)n >= r->errlen) return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static int nomem(struct reader *r, size_t at)
{
    if (r->code == 0) r->code = RCGC_ENOMEM;
    return bad(r, at, "out of memory");
}

static size_t left(const struct reader *r) { return r->end - r->pos; }

#define LOAD_MIN ((size_t)1 << 16)

/* Make the n bytes at r->pos (within the file) readable: a file is read
 * only as far as the parser has checked its counts, so memory follows what
 * the header and the counts before declare and a file that is wrong early
 * is rejected early (a 3 GB sparse file: at its first count).  1, or 0
 * with the problem reported. */
static int ensure(struct reader *r, size_t n)
{
    size_t want = r->pos + n;
    if (r->fd < 0 || want <= r->loaded) return 1;
    size_t to = want - r->loaded < LOAD_MIN ? r->loaded + LOAD_MIN : want;
    if (to > r->size) to = r->size;
    if (to > r->cap) {
        size_t cap = r->cap ? r->cap : LOAD_MIN;
        while (cap < to) cap = cap > r->size / 2 ? r->size : cap * 2;
        unsigned char *np = rcgc__urealloc(&r->a, (void *)r->p, cap);
        if (np == NULL) return nomem(r, r->pos);
        r->p = np;
        r->cap = cap;
    }
    int e = rcgc__os_pread_all(r->fd, (unsigned char *)r->p + r->loaded,
                               to - r->loaded, r->loaded);
    if (e != 0) {
        if (r->code == 0) r->code = e == EIO ? RCGC_EFORMAT : RCGC_EFAILED;
        return bad(r, r->loaded, "cannot read: %s", e == EIO ? "the file ended "
                   "early (it changed while being read)" : strerror(e));
    }
    r->loaded = to;
    return 1;
}

/* Whether n more bytes are there for what; reports it when not. */
static int need(struct reader *r, size_t n, const char *what)
{
    if (left(r) >= n) return ensure(r, n);
    bad(r, r->pos, "%s runs past the end of the body (%zu bytes needed, %zu "
        "left)", what, n, left(r));
    return 0;
}

static uint32_t rd_u32(struct reader *r)
{
    uint32_t v = get_u32(r->p + r->pos);
    r->pos += 4;
    return v;
}

static uint64_t rd_u64(struct reader *r)
{
    uint64_t v = get_u64(r->p + r->pos);
    r->pos += 8;
    return v;
}

/* The decimal digits of n * m, exactly (up to 2^96: no 64-bit overflow),
 * into buf (at least 32 bytes). */
static void product_decimal(uint64_t n, uint32_t m, char *buf)
{
    /* four 32-bit limbs, most significant first */
    uint64_t lo = (n & 0xFFFFFFFFu) * m, hi = (n >> 32) * m + (lo >> 32);
    uint32_t limb[4] = {0, (uint32_t)(hi >> 32), (uint32_t)hi, (uint32_t)lo};
    char digits[40];
    size_t nd = 0;
    do {
        uint64_t rem = 0;
        int zero = 1;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = rem << 32 | limb[i];
            limb[i] = (uint32_t)(cur / 10);
            rem = cur % 10;
            zero &= limb[i] == 0;
        }
        digits[nd++] = (char)('0' + rem);
        if (zero) break;
    } while (nd < sizeof digits);
    for (size_t i = 0; i < nd; i++) buf[i] = digits[nd - 1 - i];
    buf[nd] = '\0';
}

/* A count of records of at least min bytes each: it must fit in what is
 * left, which bounds every allocation by the file's size.  The message
 * gives the bytes needed exactly, also beyond 2^64 (a count of 2^60
 * 16-byte traces needs 18446744073709551616 bytes, not UINT64_MAX). */
static int check_count(struct reader *r, size_t at, uint64_t n, size_t min,
                       const char *what)
{
    if (n <= left(r) / min) return ensure(r, (size_t)n * min);
    char need_bytes[32];
    product_decimal(n, (uint32_t)min, need_bytes);
    bad(r, at, "%llu %s need at least %s bytes, %zu left",
        (unsigned long long)n, what, need_bytes, left(r));
    return 0;
}

/* The header's fields (the first 24 bytes, or fewer when size is smaller):
 * magic, version, flags, and a body size that matches the file's size
 * exactly.  1 and *flags, *end (where the checksum starts), or 0. */
static int header_fields(struct reader *r, const unsigned char *h, size_t size,
                         uint32_t *flags, size_t *end)
{
    if (size < 8 || memcmp(h, SNAP_MAGIC, 8) != 0)
        return bad(r, 0, "not an rcgc snapshot file (no \"" SNAP_MAGIC "\" "
                   "magic)");
    if (size < HEADER_SIZE)
        return bad(r, 8, "truncated header (%zu of %u bytes)", size,
                   HEADER_SIZE);
    uint32_t version = get_u32(h + 8);
    if (version != SNAP_VERSION)
        return bad(r, 8, "version %u not supported (this build reads %u)",
                   version, SNAP_VERSION);
    *flags = get_u32(h + 12);
    if ((*flags & ~KNOWN_FLAGS) != 0)
        return bad(r, 12, "unknown flags 0x%x", *flags);
    uint64_t body = get_u64(h + 16);
    size_t avail = size - HEADER_SIZE;
    if (avail < TRAILER_SIZE || body > avail - TRAILER_SIZE)
        return bad(r, 16, "truncated: the header announces %llu body bytes "
                   "and a 4-byte checksum, %zu bytes follow",
                   (unsigned long long)body, avail);
    *end = HEADER_SIZE + (size_t)body;
    if (avail - TRAILER_SIZE > body)
        return bad(r, *end + TRAILER_SIZE, "%zu bytes of trailing garbage",
                   size - *end - TRAILER_SIZE);
    return 1;
}

/* The checksum of the end bytes before it. */
static int check_crc(struct reader *r, size_t end)
{
    struct crc c;
    crc_init(&c);
    crc_add(&c, r->p, end);
    uint32_t want = get_u32(r->p + end);
    if (crc_end(&c) != want)
        return bad(r, end, "checksum mismatch (file says 0x%08x, contents give "
                   "0x%08x)", want, crc_end(&c));
    return 1;
}

/* The header, then (bytes in memory) the checksum, before the body is
 * parsed; a file being read has its checksum checked after the body
 * (read_snapshot), so that it is read no further than its counts allow.
 * On success r covers the body. */
static int read_header(struct reader *r, size_t size, uint32_t *flags)
{
    size_t end;
    if (!header_fields(r, r->p, size, flags, &end)) return 0;
    if (r->fd < 0 && !check_crc(r, end)) return 0;
    r->pos = HEADER_SIZE;
    r->end = end;
    return 1;
}

static int read_strings(struct reader *r, rcgc_snapshot *s, const char ***strs,
                        uint32_t *nstr)
{
    size_t at = r->pos;
    if (!need(r, 4, "the string count")) return 0;
    *nstr = rd_u32(r);
    if (*nstr == NO_STRING) return bad(r, at, "string count %u is reserved", *nstr);
    if (!check_count(r, at, *nstr, 4, "strings")) return 0;
    *strs = rcgc__umalloc(&r->a, (size_t)*nstr * sizeof **strs);
    if (*strs == NULL) return nomem(r, at);
    for (uint32_t i = 0; i < *nstr; i++) {
        at = r->pos;
        if (!need(r, 4, "a string length")) return 0;
        uint32_t len = rd_u32(r);
        if (len > left(r))
            return bad(r, at, "string %u: length %u runs past the end of the "
                       "body (%zu bytes left)", i, len, left(r));
        if (!ensure(r, len)) return 0;
        const char *p = (const char *)r->p + r->pos;
        const char *nul = memchr(p, '\0', len);
        if (nul != NULL)
            return bad(r, r->pos + (size_t)(nul - p), "string %u contains a NUL "
                       "byte", i);
        (*strs)[i] = rcgc__snap_intern_n(s, p, len);
        if ((*strs)[i] == NULL) return nomem(r, at);
        r->pos += len;
    }
    return 1;
}

/* A string reference of frame k of traceback tb: an index, or NO_STRING
 * where optional is set. */
static int string_ref(struct reader *r, const char *const *strs, uint32_t nstr,
                      int optional, const char *field, uint32_t tb, uint32_t k,
                      const char **out)
{
    size_t at = r->pos;
    uint32_t v = rd_u32(r);
    if (v == NO_STRING && optional) {
        *out = NULL;
        return 1;
    }
    if (v >= nstr)
        return bad(r, at, "traceback %u frame %u: %s: string index %u out of "
                   "range (%u strings)", tb, k, field, v, nstr);
    *out = strs[v];
    return 1;
}

static int read_frame(struct reader *r, const char *const *strs, uint32_t nstr,
                      uint32_t tb, uint32_t k, rcgc_frame *f)
{
    if (!string_ref(r, strs, nstr, 0, "filename", tb, k, &f->filename)) return 0;
    f->lineno = rd_u32(r);
    if (!string_ref(r, strs, nstr, 1, "function", tb, k, &f->function) ||
        !string_ref(r, strs, nstr, 1, "module", tb, k, &f->module))
        return 0;
    f->offset = rd_u64(r);
    return 1;
}

static int read_traceback(struct reader *r, rcgc_snapshot *s,
                          const char *const *strs, uint32_t nstr, uint32_t i,
                          rcgc_frame **buf, size_t *cap)
{
    size_t at = r->pos;
    if (!need(r, TB_MIN_SIZE, "a traceback header")) return 0;
    uint32_t nframe = rd_u32(r), total = rd_u32(r);
    if (nframe > MAX_U16)
        return bad(r, at, "traceback %u: nframe %u > %u", i, nframe, MAX_U16);
    if (total < nframe || total > INT_MAX)
        return bad(r, at + 4, "traceback %u: total_nframe %u out of range "
                   "(%u..%d)", i, total, nframe, INT_MAX);
    if (!check_count(r, at, nframe, FRAME_SIZE, "frames")) return 0;
    if (nframe > *cap) {
        rcgc__ufree(&r->a, *buf);
        *buf = rcgc__umalloc(&r->a, nframe * sizeof **buf);
        if (*buf == NULL) {
            *cap = 0;
            return nomem(r, at);
        }
        *cap = nframe;
    }
    for (uint32_t k = 0; k < nframe; k++)
        if (!read_frame(r, strs, nstr, i, k, &(*buf)[k])) return 0;
    if (rcgc__snapshot_add_traceback(s, *buf, (int)nframe, (int)total) < 0)
        return nomem(r, at);
    return 1;
}

static int read_tracebacks(struct reader *r, rcgc_snapshot *s,
                           const char *const *strs, uint32_t nstr)
{
    size_t at = r->pos;
    if (!need(r, 4, "the traceback count")) return 0;
    uint32_t ntb = rd_u32(r);
    if (!check_count(r, at, ntb, TB_MIN_SIZE, "tracebacks")) return 0;
    rcgc_frame *buf = NULL;
    size_t cap = 0;
    int ok = 1;
    for (uint32_t i = 0; i < ntb && ok; i++)
        ok = read_traceback(r, s, strs, nstr, i, &buf, &cap);
    rcgc__ufree(&r->a, buf);
    return ok;
}

/* An estimate must be a finite, non-negative number. */
static int read_estimate(struct reader *r, uint64_t i, const char *field,
                         double *out)
{
    size_t at = r->pos;
    *out = bits_f64(rd_u64(r));
    if (isfinite(*out) && *out >= 0) return 1;
    return bad(r, at, "trace %llu: %s %g is not a finite non-negative number",
               (unsigned long long)i, field, *out);
}

static int read_trace(struct reader *r, rcgc_snapshot *s, uint64_t i, int est)
{
    size_t at = r->pos;
    uint32_t tb = rd_u32(r), domain = rd_u32(r);
    uint64_t size = rd_u64(r);
    if (tb >= s->ntb)
        return bad(r, at, "trace %llu: traceback index %u out of range (%zu "
                   "tracebacks)", (unsigned long long)i, tb, s->ntb);
    if (domain > MAX_U16)
        return bad(r, at + 4, "trace %llu: domain %u > %u", (unsigned long long)i,
                   domain, MAX_U16);
    if (size >= SIZE_LIMIT || (uint64_t)(size_t)size != size)
        return bad(r, at + 8, "trace %llu: size %llu does not fit in 48 bits",
                   (unsigned long long)i, (unsigned long long)size);
    double est_size = (double)size, est_count = 1;
    if (est && (!read_estimate(r, i, "est_size", &est_size) ||
                !read_estimate(r, i, "est_count", &est_count)))
        return 0;
    /* the array was sized beforehand: this cannot fail */
    return rcgc__snapshot_add_trace(s, domain, (size_t)size, (long)tb, est_size,
                                    est_count) == 0;
}

static int read_traces(struct reader *r, rcgc_snapshot *s, int est)
{
    size_t at = r->pos;
    if (!need(r, 8, "the trace count")) return 0;
    uint64_t n = rd_u64(r);
    size_t rec = TRACE_SIZE + (est ? EST_SIZE : 0);
    if (!check_count(r, at, n, rec, "traces")) return 0;
    /* One allocation of the exact size instead of repeated doubling. */
    if (n > 0) {
        rcgc_trace *t = rcgc__umalloc(&s->a, (size_t)n * sizeof *t);
        if (t == NULL) return nomem(r, at);
        s->traces = t;
        s->trace_cap = (size_t)n;
    }
    for (uint64_t i = 0; i < n; i++)
        if (!read_trace(r, s, i, est)) return 0;
    return 1;
}

/* The module table (flag bit 1): the identities the file recorded. */
static int read_modules(struct reader *r, rcgc_snapshot *s,
                        const char *const *strs, uint32_t nstr)
{
    size_t at = r->pos;
    if (!need(r, 4, "the module count")) return 0;
    uint32_t n = rd_u32(r);
    if (!check_count(r, at, n, MOD_SIZE, "modules")) return 0;
    s->mods = rcgc__snap_arena_alloc(s, (n ? n : 1) * sizeof *s->mods);
    if (s->mods == NULL) return nomem(r, at);
    for (uint32_t i = 0; i < n; i++) {
        at = r->pos;
        uint32_t str = rd_u32(r);
        if (str >= nstr)
            return bad(r, at, "module %u: string index %u out of range (%u "
                       "strings)", i, str, nstr);
        rcgc__snap_module *m = &s->mods[i];
        m->path = strs[str];
        m->dev = rd_u64(r);
        m->ino = rd_u64(r);
        m->size = rd_u64(r);
        m->mtime_ns = (int64_t)rd_u64(r);
        s->nmod = i + 1;
    }
    return 1;
}

static int read_body(struct reader *r, rcgc_snapshot *s, uint32_t flags)
{
    const char **strs = NULL;
    uint32_t nstr = 0;
    int ok = read_strings(r, s, &strs, &nstr) &&
             read_tracebacks(r, s, strs, nstr) &&
             read_traces(r, s, (flags & FLAG_ESTIMATES) != 0) &&
             ((flags & FLAG_MODULES) == 0 || read_modules(r, s, strs, nstr));
    rcgc__ufree(&r->a, strs);
    if (ok && r->pos != r->end)
        ok = bad(r, r->pos, "%zu unexpected bytes at the end of the body",
                 left(r));
    return ok;
}

/* The snapshot in r's bytes, or NULL with r->code and r->err set. */
static rcgc_snapshot *read_snapshot(struct reader *r, size_t size)
{
    uint32_t flags;
    if (!read_header(r, size, &flags)) return NULL;
    size_t at = r->pos;
    if (!need(r, 12, "the traceback limit and sample size")) return NULL;
    uint32_t limit = rd_u32(r);
    uint64_t sample = rd_u64(r);
    if (limit > MAX_U16) {
        bad(r, at, "traceback limit %u > %u", limit, MAX_U16);
        return NULL;
    }
    if ((uint64_t)(size_t)sample != sample) {
        bad(r, at + 4, "sample size %llu too large", (unsigned long long)sample);
        return NULL;
    }
    rcgc_snapshot *s = rcgc__snapshot_new((int)limit, (size_t)sample);
    if (s == NULL) {
        nomem(r, at);
        return NULL;
    }
    s->from_file = 1;
    int ok = read_body(r, s, flags);
    if (ok && r->fd >= 0) { /* a file: the checksum, now that it is read */
        size_t end = r->end;
        r->end = end + TRAILER_SIZE;
        ok = ensure(r, TRAILER_SIZE) && check_crc(r, end);
    }
    if (!ok) {
        rcgc_snapshot_free(s);
        return NULL;
    }
    return s;
}

int rcgc_snapshot_read_bytes(const void *data, size_t size,
                             rcgc_snapshot **out, char *err, size_t errlen)
{
    struct reader r = {rcgc_process_allocator_get(), data, 0, size, err, errlen,
                       0, -1, size, size, size};
    rcgc__set_err(err, errlen, "%s", "");
    if (out == NULL) {
        rcgc__set_err(err, errlen, "no out pointer");
        return RCGC_EINVAL;
    }
    *out = NULL;
    if (data == NULL && size > 0) {
        bad(&r, 0, "no data");
        return RCGC_EINVAL;
    }
    *out = read_snapshot(&r, data != NULL ? size : 0);
    return *out != NULL ? 0 : r.code;
}

rcgc_snapshot *rcgc_snapshot_load_bytes(const void *data,
                                        size_t size, char *err,
                                        size_t errlen)
{
    rcgc_snapshot *s = NULL;
    (void)rcgc_snapshot_read_bytes(data, size, &s, err, errlen);
    return s;
}

/* The snapshot in the file fd of size bytes: its header checked against
 * its size before anything else is read or allocated, then read as it is
 * parsed (ensure).  0 or a code, with the message in err. */
static int read_fd(int fd, size_t size, rcgc_snapshot **out, char *err,
                   size_t errlen)
{
    struct reader r = {rcgc_process_allocator_get(), NULL, 0, 0, err, errlen,
                       0, fd, 0, 0, size};
    unsigned char h[HEADER_SIZE];
    size_t hn = size < HEADER_SIZE ? size : HEADER_SIZE;
    int e = rcgc__os_pread_all(fd, h, hn, 0);
    uint32_t flags;
    size_t end;
    if (e != 0) {
        bad(&r, 0, "cannot read: %s", strerror(e));
        r.code = RCGC_EFAILED;
    } else if (header_fields(&r, h, size, &flags, &end) && ensure(&r, hn)) {
        *out = read_snapshot(&r, size);
    }
    rcgc__ufree(&r.a, (void *)r.p);
    return *out != NULL ? 0 : r.code;
}

int rcgc_snapshot_read(const char *path, rcgc_snapshot **out, char *err,
                       size_t errlen)
{
    if (out != NULL) *out = NULL;
    rcgc__set_err(err, errlen, "%s", "");
    if (path == NULL || out == NULL) {
        rcgc__set_err(err, errlen, path == NULL ? "no path" : "no out pointer");
        return RCGC_EINVAL;
    }
    /* only a regular file is opened: a FIFO would block, a device is not
     * a snapshot */
    int fd;
    rcgc__os_stat st;
    int e = rcgc__os_file_open_regular(path, &fd, &st);
    if (e != 0) {
        rcgc__set_err(err, errlen, "cannot open %s: %s", path,
                      e == EINVAL ? "not a regular file (a FIFO, a device or "
                                    "a socket)" : strerror(e));
        return e == ENOMEM ? RCGC_ENOMEM : RCGC_EFAILED;
    }
    int code = st.size >= SIZE_MAX ? RCGC_EFAILED : 0;
    if (code != 0) rcgc__set_err(err, errlen, "cannot read %s: %s", path, strerror(EFBIG));
    else code = read_fd(fd, (size_t)st.size, out, err, errlen);
    rcgc__os_close(fd);
    return code;
}

rcgc_snapshot *rcgc_snapshot_load(const char *path, char *err,
                                  size_t errlen)
{
    rcgc_snapshot *s = NULL;
    (void)rcgc_snapshot_read(path, &s, err, errlen);
    return s;
}
