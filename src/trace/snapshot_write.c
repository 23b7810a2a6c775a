/*
 * snapshot_write.c - writing snapshot files (rcgc_snapshot_dump): a plan of
 * what the file holds (strings and tracebacks in order of first use, the
 * module table), then the bytes through a buffered, checksumming writer
 * into a temporary file that is renamed over the path, so a failed dump
 * never leaves a partial file.  The format: snapshot_file.h.
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
/* Dump                                                                      */

/* What the file will hold: strings and tracebacks in order of first use by
 * the traces (so dumping a loaded snapshot gives the same bytes). */
struct plan {
    rcgc_allocator a;                    /* the process allocator, for all
                                            of the plan and the writer */
    const rcgc_snapshot *s;
    rcgc__ptrmap str_index;              /* string -> its index */
    uint32_t *tb_index;                  /* by the snapshot's traceback
                                            index: 1 + its index in the
                                            file; 0: not planned yet */
    const char **strs;
    size_t nstr, str_cap;
    const rcgc_traceback **tbs;
    size_t ntb, tb_cap;
    int estimates;                       /* FLAG_ESTIMATES needed */
    rcgc__snap_module *mods;             /* the module table: nmod */
    uint32_t *mod_str;                   /* entries, their string index */
    size_t nmod;
    uint64_t body_size;
};

static int push(const rcgc_allocator *a, void **arr, size_t *cap, size_t n,
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

static int plan_string(struct plan *pl, const char *str)
{
    if (str == NULL || rcgc__ptrmap_find(&pl->str_index, str) != NULL) return 0;
    if (pl->nstr >= NO_STRING ||
        push(&pl->a, (void **)&pl->strs, &pl->str_cap, pl->nstr, sizeof *pl->strs) != 0 ||
        rcgc__ptrmap_put(&pl->str_index, str, pl->nstr, 0) != 0)
        return RCGC_ENOMEM;
    size_t len = strlen(str);
    if (len >= NO_STRING) return RCGC_EINVAL;
    pl->strs[pl->nstr++] = str;
    pl->body_size += 4 + len;
    return 0;
}

static int plan_traceback(struct plan *pl, const rcgc_traceback *tb,
                          char *err, size_t errlen)
{
    size_t src = rcgc__snap_tb_index(tb);
    if (pl->tb_index[src] != 0) return 0;
    if (tb->nframe < 0 || (unsigned)tb->nframe > MAX_U16 ||
        tb->total_nframe < tb->nframe) {
        rcgc__set_err(err, errlen, "traceback %zu: nframe %d (total %d) cannot be "
                "stored", pl->ntb, tb->nframe, tb->total_nframe);
        return RCGC_EINVAL;
    }
    if (push(&pl->a, (void **)&pl->tbs, &pl->tb_cap, pl->ntb, sizeof *pl->tbs) != 0)
        goto nomem;
    pl->tbs[pl->ntb++] = tb;
    pl->tb_index[src] = (uint32_t)pl->ntb;
    pl->body_size += TB_MIN_SIZE + (uint64_t)tb->nframe * FRAME_SIZE;
    for (int i = 0; i < tb->nframe; i++) {
        const rcgc_frame *f = &tb->frames[i];
        int r = plan_string(pl, f->filename);
        if (r == 0) r = plan_string(pl, f->function);
        if (r == 0) r = plan_string(pl, f->module);
        if (r == RCGC_EINVAL) {
            rcgc__set_err(err, errlen, "traceback %zu frame %d: a string of 4 GiB "
                    "or more cannot be stored", pl->ntb - 1, i);
            return r;
        }
        if (r != 0) goto nomem;
    }
    return 0;
nomem:
    rcgc__set_err(err, errlen, "out of memory");
    return RCGC_ENOMEM;
}

/* Whether trace i can be stored, and whether it needs the estimates. */
static int plan_trace(struct plan *pl, size_t i, char *err, size_t errlen)
{
    const rcgc_trace *t = &pl->s->traces[i];
    if (t->domain > MAX_U16 || (uint64_t)t->size >= SIZE_LIMIT ||
        !isfinite(t->est_size) || t->est_size < 0 || !isfinite(t->est_count) ||
        t->est_count < 0) {
        rcgc__set_err(err, errlen, "trace %zu cannot be stored (domain %u, size %zu, "
                "estimates %g and %g)", i, t->domain, t->size, t->est_size,
                t->est_count);
        return RCGC_EINVAL;
    }
    if (t->est_size != (double)t->size || t->est_count != 1) pl->estimates = 1;
    return plan_traceback(pl, t->traceback, err, errlen);
}

static uint32_t str_ref(const struct plan *pl, const char *str)
{
    if (str == NULL) return NO_STRING;
    return (uint32_t)rcgc__ptrmap_find(&pl->str_index, str)->size;
}

/* The identity of the module file path: a snapshot read from a file has
 * the one its file recorded (found through byfile) or none; a snapshot of
 * this process, the file's at its path now (a regular file only).  1 when
 * there is one. */
static int module_identity(const rcgc_snapshot *s, const rcgc__ptrmap *byfile,
                           const char *path, rcgc__snap_module *out)
{
    if (s->from_file) {
        const rcgc__ptrmap_entry *e = rcgc__ptrmap_find(byfile, path);
        if (e == NULL) return 0;
        *out = s->mods[e->size];
        return 1;
    }
    int fd;
    rcgc__os_stat st;
    if (rcgc__os_file_open_regular(path, &fd, &st) != 0) return 0;
    rcgc__os_close(fd);
    *out = (rcgc__snap_module){path, st.dev, st.ino, st.size, st.mtime_ns};
    return 1;
}

/* The module table: each module string that a planned frame names and
 * whose identity is known, in string order.  0 or RCGC_ENOMEM. */
static int plan_modules(struct plan *pl)
{
    const rcgc_snapshot *s = pl->s;
    unsigned char *is_mod = rcgc__ucalloc(&pl->a, pl->nstr, 1);
    rcgc__ptrmap byfile;
    rcgc__ptrmap_init(&byfile, &pl->a);
    int r = is_mod != NULL ? 0 : RCGC_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < pl->ntb && r == 0; i++)
        for (int k = 0; k < pl->tbs[i]->nframe; k++) {
            const char *mod = pl->tbs[i]->frames[k].module;
            if (mod == NULL) continue;
            uint32_t j = str_ref(pl, mod);
            m += !is_mod[j];
            is_mod[j] = 1;
        }
    for (size_t i = 0; s->from_file && i < s->nmod && r == 0; i++)
        if (rcgc__ptrmap_find(&byfile, s->mods[i].path) == NULL)
            r = rcgc__ptrmap_put(&byfile, s->mods[i].path, i, 0);
    if (r == 0 && m > 0) {
        pl->mods = rcgc__umalloc(&pl->a, m * sizeof *pl->mods);
        pl->mod_str = rcgc__umalloc(&pl->a, m * sizeof *pl->mod_str);
        if (pl->mods == NULL || pl->mod_str == NULL) r = RCGC_ENOMEM;
    }
    for (size_t j = 0; j < pl->nstr && r == 0 && m > 0; j++)
        if (is_mod[j] && module_identity(s, &byfile, pl->strs[j], &pl->mods[pl->nmod]))
            pl->mod_str[pl->nmod++] = (uint32_t)j;
    if (pl->nmod > 0) pl->body_size += 4 + (uint64_t)pl->nmod * MOD_SIZE;
    rcgc__ptrmap_fini(&byfile);
    rcgc__ufree(&pl->a, is_mod);
    return r;
}

static int plan_build(struct plan *pl, const rcgc_snapshot *s, char *err,
                      size_t errlen)
{
    memset(pl, 0, sizeof *pl);
    pl->a = rcgc_process_allocator_get();
    pl->s = s;
    rcgc__ptrmap_init(&pl->str_index, &pl->a);
    if (s->ntb >= NO_STRING) {
        rcgc__set_err(err, errlen, "too many tracebacks");
        return RCGC_EINVAL;
    }
    pl->tb_index = rcgc__ucalloc(&pl->a, s->ntb, sizeof *pl->tb_index);
    if (pl->tb_index == NULL) {
        rcgc__set_err(err, errlen, "out of memory");
        return RCGC_ENOMEM;
    }
    if (s->limit < 0 || (unsigned)s->limit > MAX_U16) {
        rcgc__set_err(err, errlen, "traceback limit %d cannot be stored", s->limit);
        return RCGC_EINVAL;
    }
    pl->estimates = s->sample_bytes != 0;
    pl->body_size = 4 + 8 + 4 + 4 + 8;
    for (size_t i = 0; i < s->ntrace; i++) {
        int r = plan_trace(pl, i, err, errlen);
        if (r != 0) return r;
    }
    pl->body_size += (uint64_t)s->ntrace * (TRACE_SIZE + (pl->estimates ? EST_SIZE : 0));
    if (plan_modules(pl) != 0) {
        rcgc__set_err(err, errlen, "out of memory");
        return RCGC_ENOMEM;
    }
    return 0;
}

static void plan_free(struct plan *pl)
{
    rcgc__ufree(&pl->a, pl->mods);
    rcgc__ufree(&pl->a, pl->mod_str);
    rcgc__ptrmap_fini(&pl->str_index);
    rcgc__ufree(&pl->a, pl->tb_index);
    rcgc__ufree(&pl->a, pl->strs);
    rcgc__ufree(&pl->a, pl->tbs);
}

/* A buffered writer that checksums what it writes; the first write error
 * is kept and later writes do nothing. */
struct writer {
    int fd;
    int err;              /* errno of the first failure, or 0 */
    size_t n;             /* bytes in buf */
    struct crc crc;
    unsigned char buf[1 << 16];
};

static void w_flush(struct writer *w)
{
    if (w->err == 0 && w->n > 0) w->err = rcgc__os_write_all(w->fd, w->buf, w->n);
    w->n = 0;
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
    const unsigned char *b = p;
    crc_add(&w->crc, b, n);
    while (n > 0) {
        if (w->n == sizeof w->buf) w_flush(w);
        size_t k = sizeof w->buf - w->n < n ? sizeof w->buf - w->n : n;
        memcpy(w->buf + w->n, b, k);
        w->n += k;
        b += k;
        n -= k;
    }
}

static void w_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(struct writer *w, uint64_t v)
{
    unsigned char b[8];
    put_u64(b, v);
    w_bytes(w, b, 8);
}

static void write_tracebacks(struct writer *w, const struct plan *pl)
{
    w_u32(w, (uint32_t)pl->ntb);
    for (size_t i = 0; i < pl->ntb; i++) {
        const rcgc_traceback *tb = pl->tbs[i];
        w_u32(w, (uint32_t)tb->nframe);
        w_u32(w, (uint32_t)tb->total_nframe);
        for (int k = 0; k < tb->nframe; k++) {
            const rcgc_frame *f = &tb->frames[k];
            w_u32(w, str_ref(pl, f->filename));
            w_u32(w, f->lineno);
            w_u32(w, str_ref(pl, f->function));
            w_u32(w, str_ref(pl, f->module));
            w_u64(w, f->offset);
        }
    }
}

static void write_traces(struct writer *w, const struct plan *pl)
{
    const rcgc_snapshot *s = pl->s;
    w_u64(w, s->ntrace);
    for (size_t i = 0; i < s->ntrace; i++) {
        const rcgc_trace *t = &s->traces[i];
        w_u32(w, pl->tb_index[rcgc__snap_tb_index(t->traceback)] - 1);
        w_u32(w, t->domain);
        w_u64(w, t->size);
        if (pl->estimates) {
            w_u64(w, f64_bits(t->est_size));
            w_u64(w, f64_bits(t->est_count));
        }
    }
}

static void write_file(struct writer *w, const struct plan *pl)
{
    crc_init(&w->crc);
    w_bytes(w, SNAP_MAGIC, 8);
    w_u32(w, SNAP_VERSION);
    w_u32(w, (pl->estimates ? FLAG_ESTIMATES : 0) | (pl->nmod > 0 ? FLAG_MODULES : 0));
    w_u64(w, pl->body_size);
    w_u32(w, (uint32_t)pl->s->limit);
    w_u64(w, pl->s->sample_bytes);
    w_u32(w, (uint32_t)pl->nstr);
    for (size_t i = 0; i < pl->nstr; i++) {
        size_t len = strlen(pl->strs[i]);
        w_u32(w, (uint32_t)len);
        w_bytes(w, pl->strs[i], len);
    }
    write_tracebacks(w, pl);
    write_traces(w, pl);
    if (pl->nmod > 0) {
        w_u32(w, (uint32_t)pl->nmod);
        for (size_t i = 0; i < pl->nmod; i++) {
            const rcgc__snap_module *m = &pl->mods[i];
            w_u32(w, pl->mod_str[i]);
            w_u64(w, m->dev);
            w_u64(w, m->ino);
            w_u64(w, m->size);
            w_u64(w, (uint64_t)m->mtime_ns);
        }
    }
    unsigned char b[4];
    put_u32(b, crc_end(&w->crc));
    w_bytes(w, b, 4);
    w_flush(w);
}

/* Create a fresh temporary file next to path (same file system, so the
 * rename is atomic); its name goes to tmp, its descriptor to fd.  0, or
 * an errno value. */
static int open_temp(const rcgc_allocator *a, const char *path, char **tmp,
                     int *fd)
{
    static _Atomic unsigned counter; /* names differ; O_EXCL settles races */
    size_t n = strlen(path) + 48;
    *tmp = rcgc__umalloc(a, n);
    if (*tmp == NULL) return ENOMEM;
    int e = EEXIST;
    for (int attempt = 0; attempt < 100 && e == EEXIST; attempt++) {
        snprintf(*tmp, n, "%s.tmp-%ld-%u", path, rcgc__os_pid(), counter++);
        e = rcgc__os_file_create(*tmp, fd);
    }
    return e;
}

static int write_and_rename(const struct plan *pl, const char *path, char *err,
                            size_t errlen)
{
    char *tmp = NULL;
    int fd = -1;
    int e = open_temp(&pl->a, path, &tmp, &fd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "cannot create a temporary file for %s: %s", path,
                strerror(e));
        rcgc__ufree(&pl->a, tmp);
        return e == ENOMEM ? RCGC_ENOMEM : RCGC_EFAILED;
    }
    struct writer *w = rcgc__umalloc(&pl->a, sizeof *w);
    e = ENOMEM;
    if (w != NULL) {
        w->fd = fd;
        w->err = 0;
        w->n = 0;
        write_file(w, pl);
        e = w->err;
        rcgc__ufree(&pl->a, w);
    }
    if (e == 0) e = rcgc__os_fsync(fd);
    int ce = rcgc__os_close(fd);
    if (e == 0) e = ce;
    if (e == 0) e = rcgc__os_rename(tmp, path);
    if (e != 0) {
        rcgc__os_unlink(tmp);
        rcgc__set_err(err, errlen, "cannot write %s: %s", path, strerror(e));
    }
    rcgc__ufree(&pl->a, tmp);
    return e == 0 ? 0 : e == ENOMEM ? RCGC_ENOMEM : RCGC_EFAILED;
}

int rcgc_snapshot_dump(const rcgc_snapshot *s, const char *path,
                       char *err, size_t errlen)
{
    rcgc__set_err(err, errlen, "%s", "");
    if (s == NULL || path == NULL) {
        rcgc__set_err(err, errlen, "no snapshot or no path");
        return RCGC_EINVAL;
    }
    struct plan pl;
    int r = plan_build(&pl, s, err, errlen);
    if (r == 0) r = write_and_rename(&pl, path, err, errlen);
    plan_free(&pl);
    return r;
}
