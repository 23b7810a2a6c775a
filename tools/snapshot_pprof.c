/*
 * snapshot_pprof.c - rcgc-snapshot --format pprof: a snapshot as an
 * allocation profile in pprof's format (profile.proto, gzipped), which
 * pprof, speedscope and the pprof-based viewers open
 * (docs/rcgc-snapshot.md).
 *
 * Every trace is a sample whose locations are its frames, most recent
 * first (pprof's leaf-first order), with four values: alloc_objects,
 * alloc_space, inuse_objects, inuse_space.  A snapshot holds the blocks
 * alive when it was taken, so alloc and inuse are the same (estimated from
 * the sample when the tracer samples); a diff writes NEW's traces positive
 * and OLD's negative, which is what pprof -diff_base computes.  Each
 * distinct frame is one location and one function (name and file); C stack
 * frames not symbolized are named module+0xoffset.
 *
 * The protobuf encoding is written by hand (varints and length-delimited
 * fields into a buffer), and the gzip member uses stored deflate blocks:
 * valid for every reader, no compression library needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc_mem.h"
#include "snapshot_report.h"

/* ---- a growable byte buffer ---- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} buf;

static void put_bytes(buf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_varint(buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

/* field numbers and wire types */
static void put_key(buf *b, unsigned field, unsigned wire)
{
    put_varint(b, ((uint64_t)field << 3) | wire);
}

static void put_uint(buf *b, unsigned field, uint64_t v)
{
    if (v == 0) return; /* proto3 default */
    put_key(b, field, 0);
    put_varint(b, v);
}

static void put_int(buf *b, unsigned field, int64_t v)
{
    if (v == 0) return;
    put_key(b, field, 0);
    put_varint(b, (uint64_t)v); /* int64: two's complement, 10 bytes */
}

static void put_message(buf *b, unsigned field, const buf *m)
{
    put_key(b, field, 2);
    put_varint(b, m->n);
    put_bytes(b, m->p, m->n);
    if (m->failed) b->failed = 1;
}

/* ---- strings, functions, locations: each distinct one once ---- */

typedef struct table {
    char **keys;          /* open addressing over the keys below */
    uint64_t *ids;
    size_t mask, n;
    int failed;
} table;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The id of key (ids from 1 or from 0 per table's first), added if new;
 * *added tells.  0 with t->failed when out of memory. */
static uint64_t table_id(table *t, const char *key, uint64_t next_id, int *added)
{
    *added = 0;
    if ((t->n + 1) * 2 > t->mask + 1) {
        size_t cap = t->mask ? (t->mask + 1) * 2 : 1024;
        char **keys = calloc(cap, sizeof *keys);
        uint64_t *ids = malloc(cap * sizeof *ids);
        if (keys == NULL || ids == NULL) {
            free(keys);
            free(ids);
            t->failed = 1;
            return 0;
        }
        for (size_t i = 0; t->mask && i <= t->mask; i++) {
            if (t->keys[i] == NULL) continue;
            size_t j = hash_str(t->keys[i]) & (cap - 1);
            while (keys[j] != NULL) j = (j + 1) & (cap - 1);
            keys[j] = t->keys[i];
            ids[j] = t->ids[i];
        }
        free(t->keys);
        free(t->ids);
        t->keys = keys;
        t->ids = ids;
        t->mask = cap - 1;
    }
    size_t i = hash_str(key) & t->mask;
    for (; t->keys[i] != NULL; i = (i + 1) & t->mask)
        if (strcmp(t->keys[i], key) == 0) return t->ids[i];
    size_t len = strlen(key) + 1;
    char *copy = malloc(len);
    if (copy == NULL) {
        t->failed = 1;
        return 0;
    }
    memcpy(copy, key, len);
    t->keys[i] = copy;
    t->ids[i] = next_id;
    t->n++;
    *added = 1;
    return next_id;
}

static void table_free(table *t)
{
    for (size_t i = 0; t->mask && i <= t->mask; i++) free(t->keys[i]);
    free(t->keys);
    free(t->ids);
}

typedef struct prof {
    buf out;              /* the Profile message, fields appended */
    table strings;        /* string -> index in string_table */
    uint64_t nstrings;
    buf string_table;     /* the string_table fields, written last */
    table functions;      /* "name\0file" key -> function id */
    uint64_t nfunctions;
    table locations;      /* frame key -> location id */
    uint64_t nlocations;
    int failed;
} prof;

static int64_t str_index(prof *p, const char *s)
{
    int added;
    uint64_t id = table_id(&p->strings, s, p->nstrings, &added);
    if (p->strings.failed) return 0;
    if (added) {
        p->nstrings++;
        put_key(&p->string_table, 6, 2);
        put_varint(&p->string_table, strlen(s));
        put_bytes(&p->string_table, s, strlen(s));
    }
    return (int64_t)id;
}

/* The frame's function name: its own, else module+0xoffset for an
 * unsymbolized C frame, else "<unknown>". */
static void frame_name(const rcgc_frame *f, char *name, size_t size)
{
    if (f->function != NULL && *f->function)
        snprintf(name, size, "%s", f->function);
    else if (f->module != NULL)
        snprintf(name, size, "%s+0x%llx", f->module, (unsigned long long)f->offset);
    else
        snprintf(name, size, "<unknown>");
}

static uint64_t location_of(prof *p, const rcgc_frame *f)
{
    char name[1024], key[2600];
    frame_name(f, name, sizeof name);
    const char *file = f->filename != NULL ? f->filename : "<unknown>";
    snprintf(key, sizeof key, "%s|%s|%u", name, file, f->lineno);
    int added;
    uint64_t loc = table_id(&p->locations, key, p->nlocations + 1, &added);
    if (p->locations.failed) return 0;
    if (!added) return loc;
    p->nlocations++;
    snprintf(key, sizeof key, "%s|%s", name, file);
    uint64_t fn = table_id(&p->functions, key, p->nfunctions + 1, &added);
    if (p->functions.failed) return 0;
    if (added) {
        p->nfunctions++;
        buf m = {0};
        put_uint(&m, 1, fn);
        put_int(&m, 2, str_index(p, name));
        put_int(&m, 3, str_index(p, name));
        put_int(&m, 4, str_index(p, file));
        put_message(&p->out, 5, &m);
        free(m.p);
    }
    buf line = {0}, m = {0};
    put_uint(&line, 1, fn);
    put_int(&line, 2, (int64_t)f->lineno);
    put_uint(&m, 1, loc);
    put_message(&m, 4, &line);
    put_message(&p->out, 4, &m);
    free(line.p);
    free(m.p);
    return loc;
}

static void value_type(prof *p, unsigned field, const char *type, const char *unit)
{
    buf m = {0};
    put_int(&m, 1, str_index(p, type));
    put_int(&m, 2, str_index(p, unit));
    put_message(&p->out, field, &m);
    free(m.p);
}

static int64_t round_i64(double v)
{
    return (int64_t)(v < 0 ? v - 0.5 : v + 0.5);
}

static const char *domain_name(unsigned d)
{
    switch (d) {
    case RCGC_DOMAIN_RAW: return "raw";
    case RCGC_DOMAIN_MEM: return "mem";
    case RCGC_DOMAIN_OBJ: return "obj";
    default: return "other";
    }
}

/* Every trace of s as a sample, its values times sign. */
static void samples(prof *p, const rcgc_snapshot *s, int sign)
{
    rcgc_ssize n = rcgc_snapshot_count(s);
    int64_t key = str_index(p, "domain");
    for (rcgc_ssize i = 0; i < n && !p->failed; i++) {
        const rcgc_trace *t = rcgc_snapshot_trace(s, i);
        buf m = {0}, ids = {0};
        for (int k = 0; k < t->traceback->nframe; k++)
            put_varint(&ids, location_of(p, &t->traceback->frames[k]));
        put_key(&m, 1, 2); /* packed location ids */
        put_varint(&m, ids.n);
        put_bytes(&m, ids.p, ids.n);
        buf vals = {0};
        int64_t count = sign * round_i64(t->est_count);
        int64_t bytes = sign * round_i64(t->est_size);
        put_varint(&vals, (uint64_t)count);
        put_varint(&vals, (uint64_t)bytes);
        put_varint(&vals, (uint64_t)count);
        put_varint(&vals, (uint64_t)bytes);
        put_key(&m, 2, 2);
        put_varint(&m, vals.n);
        put_bytes(&m, vals.p, vals.n);
        buf label = {0};
        put_int(&label, 1, key);
        put_int(&label, 2, str_index(p, domain_name(t->domain)));
        put_message(&m, 3, &label);
        put_message(&p->out, 2, &m);
        if (m.failed || ids.failed || vals.failed || label.failed) p->failed = 1;
        free(m.p);
        free(ids.p);
        free(vals.p);
        free(label.p);
    }
}

/* ---- gzip with stored blocks ---- */

static uint32_t crc_table[256];

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    if (crc_table[1] == 0)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put_le32(FILE *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, out);
}

static void write_gzip(FILE *out, const unsigned char *p, size_t n)
{
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    fwrite(header, 1, sizeof header, out);
    size_t off = 0;
    do { /* stored blocks of at most 65535 bytes; the last has BFINAL */
        size_t len = n - off > 65535 ? 65535 : n - off;
        unsigned char h[5] = {off + len == n ? 1 : 0, (unsigned char)len,
                              (unsigned char)(len >> 8), (unsigned char)~len,
                              (unsigned char)(~len >> 8)};
        fwrite(h, 1, sizeof h, out);
        fwrite(p + off, 1, len, out);
        off += len;
    } while (off < n);
    put_le32(out, crc32_of(p, n));
    put_le32(out, (uint32_t)n);
}

int report_write_pprof(const report *r, FILE *out)
{
    prof p;
    memset(&p, 0, sizeof p);
    str_index(&p, ""); /* string 0 is "" */
    value_type(&p, 1, "alloc_objects", "count");
    value_type(&p, 1, "alloc_space", "bytes");
    value_type(&p, 1, "inuse_objects", "count");
    value_type(&p, 1, "inuse_space", "bytes");
    samples(&p, r->snap, 1);
    if (r->old != NULL) samples(&p, r->old, -1);
    value_type(&p, 11, "space", "bytes"); /* period_type */
    size_t sample = rcgc_snapshot_sample_bytes(r->snap);
    put_int(&p.out, 12, sample ? (int64_t)sample : 1);
    put_int(&p.out, 14, str_index(&p, "inuse_space")); /* default_sample_type */
    put_bytes(&p.out, p.string_table.p, p.string_table.n);
    int failed = p.failed || p.out.failed || p.string_table.failed || p.strings.failed ||
                 p.functions.failed || p.locations.failed;
    if (!failed) write_gzip(out, p.out.p, p.out.n);
    free(p.out.p);
    free(p.string_table.p);
    table_free(&p.strings);
    table_free(&p.functions);
    table_free(&p.locations);
    return failed ? RCGC_ENOMEM : 0;
}
