/*
 * diag_counts.c - leak diagnosis: counts of the tracked objects by type
 * (one walk into a table keyed by type, merged by name), their growth since
 * the last call (objgraph's show_growth), and the objects of one type.
 * What the diagnosis files share: diag_internal.h; design: docs/diagnosis.md.
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"

/* ------------------------------------------------------------------------ */
/* Counts by type                                                            */

/* One slot of the pointer-keyed table the walk fills. */
struct tslot {
    const rcgc_type *type; /* NULL: empty */
    rcgc_ssize count;
    size_t extra;          /* what the type's extra_size hook added */
};

#define TABLE_INLINE 256 /* slots on the stack: most programs have fewer
                            than 128 types */

struct ttable {
    rcgc_runtime *rt;
    struct tslot *slots;
    size_t mask;  /* capacity - 1 (a power of two) */
    size_t used;
    int failed;   /* out of memory while growing */
    struct tslot inline_slots[TABLE_INLINE];
};

static size_t type_hash(const rcgc_type *t)
{
    /* Descriptors are at least 8-byte aligned: drop the zero bits, then a
     * Fibonacci multiply spreads neighbouring descriptors. */
    return (size_t)(((uintptr_t)t >> 3) * (uintptr_t)0x9E3779B97F4A7C15ull);
}

static struct tslot *table_find(struct ttable *tt, const rcgc_type *t)
{
    size_t i = (type_hash(t) >> 7) & tt->mask;
    while (tt->slots[i].type != NULL && tt->slots[i].type != t)
        i = (i + 1) & tt->mask;
    return &tt->slots[i];
}

static int table_grow(struct ttable *tt)
{
    size_t cap = (tt->mask + 1) * 2;
    struct tslot *old = tt->slots;
    size_t oldcap = tt->mask + 1;
    struct tslot *s = rcgc__calloc(tt->rt, cap, sizeof *s);
    if (s == NULL) return RCGC_ENOMEM;
    tt->slots = s;
    tt->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].type != NULL) *table_find(tt, old[i].type) = old[i];
    if (old != tt->inline_slots) rcgc__free(tt->rt, old);
    return 0;
}

/* The slot of t, created if needed; NULL when out of memory. */
static struct tslot *table_slot(struct ttable *tt, const rcgc_type *t)
{
    struct tslot *s = table_find(tt, t);
    if (s->type != NULL) return s;
    if ((tt->used + 1) * 2 > tt->mask + 1) {
        if (table_grow(tt) != 0) return NULL;
        s = table_find(tt, t);
    }
    s->type = t;
    tt->used++;
    RCGC_ASSERT(tt->used * 2 <= tt->mask + 1);
    return s;
}

static void table_fini(struct ttable *tt)
{
    if (tt->slots != tt->inline_slots) rcgc__free(tt->rt, tt->slots);
}

/*
 * The walk: one read of each node's next link and of its object's type.
 * Objects of one type tend to come in runs (allocated together), so the
 * count of the previous type is kept in a register until the type changes;
 * the table is consulted once per run.  Bytes are count x the fixed size,
 * computed at the end, plus what extra_size adds (called for the types
 * that have one).
 */
/* Add a run of count objects of type t (extra bytes between them) to its
 * slot; RCGC_ENOMEM when the table cannot grow. */
static int add_run(struct ttable *tt, const rcgc_type *t, rcgc_ssize count,
                   size_t extra)
{
    struct tslot *s = table_slot(tt, t);
    if (s == NULL) return RCGC_ENOMEM;
    s->count += count;
    s->extra += extra;
    return 0;
}

static int count_walk(rcgc_runtime *rt, struct ttable *tt, rcgc_ssize *total)
{
    rcgc_ssize n = 0;
    const rcgc_type *run_type = NULL;
    rcgc_ssize run = 0;
    size_t run_extra = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (const rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL;) {
        const rcgc_type *t = o->type;
        size_t extra = t->extra_size != NULL ? t->extra_size(o) : 0;
        if (t == run_type) {
            run++;
            run_extra += extra;
            continue;
        }
        if (run_type != NULL) {
            if (add_run(tt, run_type, run, run_extra) != 0) return RCGC_ENOMEM;
            n += run;
        }
        run_type = t;
        run = 1;
        run_extra = extra;
    }
    if (run_type != NULL) {
        if (add_run(tt, run_type, run, run_extra) != 0) return RCGC_ENOMEM;
        n += run;
    }
    RCGC_ASSERT(n == rt->tracked); /* between collections, all are listed */
    *total = n;
    return 0;
}

/* A (name, count, delta) row before it is copied into a result. */
struct row {
    const char *name;
    rcgc_ssize count, delta;
    size_t bytes;
};

static int row_by_name(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

static int row_by_count(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int row_by_delta(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Collapse rows with equal names (sorted by name) into one; returns the new
 * number of rows. */
static rcgc_ssize merge_names(struct row *rows, rcgc_ssize n)
{
    rcgc_ssize k = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        if (k > 0 && strcmp(rows[k - 1].name, rows[i].name) == 0) {
            rows[k - 1].count += rows[i].count;
            rows[k - 1].bytes += rows[i].bytes;
        } else
            rows[k++] = rows[i];
    }
    return k;
}

/* Copy rows into a result: one block holding the items and their names, so
 * that the result does not depend on the type descriptors staying alive. */
static int counts_build(rcgc_runtime *rt, const struct row *rows,
                        rcgc_ssize n, rcgc_ssize total, rcgc_ssize types,
                        rcgc_diag_counts *out)
{
    size_t names = 0;
    for (rcgc_ssize i = 0; i < n; i++) names += strlen(rows[i].name) + 1;
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(rcgc_diag_type_count);
    char *block = rcgc__malloc(rt, bytes + names);
    if (block == NULL) return RCGC_ENOMEM;
    rcgc_diag_type_count *items = (rcgc_diag_type_count *)(void *)block;
    char *p = block + bytes;
    for (rcgc_ssize i = 0; i < n; i++) {
        size_t len = strlen(rows[i].name) + 1;
        memcpy(p, rows[i].name, len);
        items[i].name = p;
        items[i].count = rows[i].count;
        items[i].delta = rows[i].delta;
        items[i].bytes = rows[i].bytes;
        p += len;
    }
    out->items = items;
    out->n = n;
    out->total = total;
    out->types = types;
    return 0;
}

/* Count by name into *rows (sorted by name, names borrowed from the type
 * descriptors); the caller frees *rows. */
static int count_rows(rcgc_runtime *rt, struct row **rows, rcgc_ssize *nrows,
                      rcgc_ssize *total)
{
    struct ttable tt;
    tt.rt = rt;
    tt.slots = tt.inline_slots;
    tt.mask = TABLE_INLINE - 1;
    tt.used = 0;
    tt.failed = 0;
    memset(tt.inline_slots, 0, sizeof tt.inline_slots);
    int rc = count_walk(rt, &tt, total);
    if (rc != 0) {
        table_fini(&tt);
        return rc;
    }
    struct row *r = rcgc__malloc(rt, (tt.used ? tt.used : 1) * sizeof *r);
    if (r == NULL) {
        table_fini(&tt);
        return RCGC_ENOMEM;
    }
    rcgc_ssize n = 0;
    for (size_t i = 0; i <= tt.mask; i++) {
        const struct tslot *s = &tt.slots[i];
        if (s->type == NULL) continue;
        r[n].name = s->type->name != NULL ? s->type->name : "?";
        r[n].count = s->count;
        r[n].delta = 0;
        /* rcgc_sizeof without the hook, times the count, plus the hook's */
        r[n].bytes = (rcgc__pre_size(s->type) - RCGC__DEBUG_HEAD_SIZE + s->type->size) *
                         (size_t)s->count + s->extra;
        n++;
    }
    table_fini(&tt);
    qsort(r, (size_t)n, sizeof *r, row_by_name);
    *nrows = merge_names(r, n);
    *rows = r;
    return 0;
}

int rcgc_diag_count_types(rcgc_runtime *rt, rcgc_diag_counts *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || out == NULL || busy(rt)) return RCGC_EINVAL;
    struct row *rows;
    rcgc_ssize n, total;
    int rc = count_rows(rt, &rows, &n, &total);
    if (rc != 0) return rc;
    qsort(rows, (size_t)n, sizeof *rows, row_by_count);
    rc = counts_build(rt, rows, n, total, n, out);
    rcgc__free(rt, rows);
    return rc;
}

void rcgc_diag_counts_free(rcgc_runtime *rt, rcgc_diag_counts *c)
{
    if (c == NULL) return;
    if (c->items != NULL) rcgc__free(rt, c->items);
    memset(c, 0, sizeof *c);
}

rcgc_ssize rcgc_diag_counts_get(const rcgc_diag_counts *c,
                                const char *name)
{
    if (c == NULL || name == NULL) return 0;
    for (rcgc_ssize i = 0; i < c->n; i++)
        if (strcmp(c->items[i].name, name) == 0) return c->items[i].count;
    return 0;
}

/* ---- growth ---- */

struct peak {
    char *name;      /* owned */
    rcgc_ssize peak; /* highest count seen */
};

struct rcgc_diag_growth {
    struct peak *peaks; /* sorted by name */
    rcgc_ssize n;
};

rcgc_diag_growth *rcgc_diag_growth_new(rcgc_runtime *rt)
{
    if (rt == NULL) return NULL;
    rcgc_diag_growth *g = rcgc__calloc(rt, 1, sizeof *g);
    return g;
}

void rcgc_diag_growth_free(rcgc_runtime *rt, rcgc_diag_growth *g)
{
    if (g == NULL) return;
    for (rcgc_ssize i = 0; i < g->n; i++) rcgc__free(rt, g->peaks[i].name);
    rcgc__free(rt, g->peaks);
    rcgc__free(rt, g);
}

static char *copy_name(rcgc_runtime *rt, const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = rcgc__malloc(rt, len);
    if (p != NULL) memcpy(p, s, len);
    return p;
}

/*
 * objgraph.show_growth keeps peaks, not the last counts: a type reported
 * once is reported again only when it exceeds its highest count, so objects
 * that come and go in a steady state stop showing up.  The new peak table is
 * built aside (a merge of two name-sorted lists) and swapped in at the end,
 * so that running out of memory leaves the state as it was.
 */
int rcgc_diag_growth_update(rcgc_runtime *rt, rcgc_diag_growth *g,
                            rcgc_diag_counts *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || g == NULL || out == NULL || busy(rt)) return RCGC_EINVAL;
    struct row *rows;
    rcgc_ssize n, total;
    int rc = count_rows(rt, &rows, &n, &total);
    if (rc != 0) return rc;
    struct peak *np = rcgc__malloc(rt, (size_t)(g->n + n + 1) * sizeof *np);
    struct row *grown = rcgc__malloc(rt, (size_t)(n + 1) * sizeof *grown);
    if (np == NULL || grown == NULL) goto nomem;
    rcgc_ssize i = 0, j = 0, k = 0, ngrown = 0;
    while (i < g->n || j < n) {
        int c = i == g->n ? 1 : j == n ? -1 : strcmp(g->peaks[i].name, rows[j].name);
        if (c < 0) { /* no object of that type now */
            np[k++] = g->peaks[i++];
            continue;
        }
        rcgc_ssize peak = 0;
        if (c == 0) {
            np[k] = g->peaks[i++];
            peak = np[k].peak;
        } else {
            np[k].name = copy_name(rt, rows[j].name);
            if (np[k].name == NULL) {
                /* Free the names copied so far (those not in the old
                 * table: compare pointers with it). */
                for (rcgc_ssize m = 0; m < k; m++) {
                    int old = 0;
                    for (rcgc_ssize q = 0; q < g->n && !old; q++)
                        old = g->peaks[q].name == np[m].name;
                    if (!old) rcgc__free(rt, np[m].name);
                }
                goto nomem;
            }
            np[k].peak = 0;
        }
        if (rows[j].count > peak) {
            grown[ngrown] = rows[j];
            grown[ngrown].delta = rows[j].count - peak;
            ngrown++;
            np[k].peak = rows[j].count;
        }
        k++;
        j++;
    }
    qsort(grown, (size_t)ngrown, sizeof *grown, row_by_delta);
    rc = counts_build(rt, grown, ngrown, total, n, out);
    if (rc != 0) {
        for (rcgc_ssize m = 0; m < k; m++) {
            int old = 0;
            for (rcgc_ssize q = 0; q < g->n && !old; q++)
                old = g->peaks[q].name == np[m].name;
            if (!old) rcgc__free(rt, np[m].name);
        }
        goto nomem;
    }
    rcgc__free(rt, g->peaks);
    g->peaks = np;
    g->n = k;
    rcgc__free(rt, grown);
    rcgc__free(rt, rows);
    return 0;
nomem:
    rcgc__free(rt, np);
    rcgc__free(rt, grown);
    rcgc__free(rt, rows);
    return RCGC_ENOMEM;
}

rcgc_ssize rcgc_diag_by_type(rcgc_runtime *rt, const char *name,
                             rcgc_object **out, rcgc_ssize max)
{
    if (rt == NULL || name == NULL || max < 0 || (max > 0 && out == NULL) ||
        busy(rt))
        return RCGC_EINVAL;
    rcgc_ssize n = 0;
    const rcgc_type *match = NULL, *miss = NULL; /* the last descriptors
                                                    compared, to skip strcmp */
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL;) {
        const rcgc_type *t = o->type;
        if (t == miss) continue;
        if (t != match) {
            if (t->name == NULL || strcmp(t->name, name) != 0) {
                miss = t;
                continue;
            }
            match = t;
        }
        if (n < max) out[n] = o;
        n++;
    }
    return n;
}
