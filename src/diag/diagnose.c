/*
 * diagnose.c - leak diagnosis (objgraph for rcgc): counts by type and their
 * growth, objects of a type, why an object is alive, and the neighbourhoods
 * of an object.  The writers (text, JSON, DOT) and Graphviz are in
 * diagnose_dot.c.  Design and invariants: docs/diagnosis.md.
 *
 * Roots are found by the collector's own method, over every tracked object
 * (generations 0-2 and the permanent generation): an object is a root when
 * its reference count exceeds the references the tracked graph holds to it.
 * To count those references fast, the queries borrow the collector's header
 * word `prev` exactly as a collection does between update_refs and
 * move_unreachable (refs bits + COLLECTING, the list singly linked, `next`
 * never written), and give it back before returning:
 *
 *   why_alive       index_graph: a dense index per object in the refs bits,
 *                   edges and internal counts in side arrays;
 *                   restore_and_mark_roots: links back, roots in a bitmap;
 *                   then a backward search on the side arrays only.
 *   graphs          count_internal: the internal count itself in the refs
 *                   bits; restore_links: links back.
 *
 * In both, the count of an object starts the first time it is seen, as
 * referent or in the walk, whichever comes first (COLLECTING tells): CPython
 * copies every refcount in a pass of its own (update_refs) before
 * subtracting; this saves that pass.  Between the two passes only traverse
 * and ephemerons (client code that may not call into rcgc) and the MEM
 * domain's allocator run, and rt->collecting is set, so that nothing can
 * start a collection, and so that a query made from a collection's
 * callbacks is refused: the collection owns the headers then.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "rcgc_diag.h"

#define DIAG_NLISTS (RCGC_NUM_GENERATIONS + 1)
#define DIAG_DEFAULT_MAX_NODES 200

/* The lists that hold every tracked object between collections. */
static gc_head *list_at(rcgc_runtime *rt, int i)
{
    return i < RCGC_NUM_GENERATIONS ? &rt->gen[i].head : &rt->permanent;
}

void rcgc_diag_options_init(rcgc_diag_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

/* The collector's state is in use during a collection (and its callbacks,
 * finalizers and weak reference callbacks) and during teardown. */
static int busy(const rcgc_runtime *rt)
{
    return rt->collecting || rt->tearing_down;
}

/* The next node, with the one after it requested from memory.  Nodes
 * allocated together lie at a constant stride, so next + stride predicts
 * the node after next well before the chase gets there; a wrong guess
 * costs one useless prefetch.  This roughly halves a walk over millions
 * of nodes, which is otherwise one cache miss after another. */
#define WALK_AHEAD 8
static inline gc_head *walk_next(gc_head *g, const gc_head *prev)
{
    gc_head *next = gc_next(g);
#if defined(__GNUC__)
    __builtin_prefetch((const char *)next +
                       ((const char *)g - (const char *)prev) * WALK_AHEAD);
#else
    (void)prev;
#endif
    return next;
}

/* ------------------------------------------------------------------------ */
/* Counts by type                                                            */

/* One slot of the pointer-keyed table the walk fills. */
struct tslot {
    const rcgc_type *type; /* NULL: empty */
    rcgc_ssize count;
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
 * the table is consulted once per run.
 */
static int count_walk(rcgc_runtime *rt, struct ttable *tt, rcgc_ssize *total)
{
    rcgc_ssize n = 0;
    for (int l = 0; l < DIAG_NLISTS; l++) {
        gc_head *list = list_at(rt, l);
        const rcgc_type *run_type = NULL;
        rcgc_ssize run = 0;
        gc_head *prev = list;
        for (gc_head *g = gc_next(list); g != list;) {
            const rcgc_type *t = gc_object_of(g)->type;
            gc_head *next = walk_next(g, prev);
            prev = g;
            g = next;
            if (t == run_type) {
                run++;
                continue;
            }
            if (run_type != NULL) {
                struct tslot *s = table_slot(tt, run_type);
                if (s == NULL) return RCGC_ENOMEM;
                s->count += run;
                n += run;
            }
            run_type = t;
            run = 1;
        }
        if (run_type != NULL) {
            struct tslot *s = table_slot(tt, run_type);
            if (s == NULL) return RCGC_ENOMEM;
            s->count += run;
            n += run;
        }
    }
    *total = n;
    return 0;
}

/* A (name, count, delta) row before it is copied into a result. */
struct row {
    const char *name;
    rcgc_ssize count, delta;
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
        if (k > 0 && strcmp(rows[k - 1].name, rows[i].name) == 0)
            rows[k - 1].count += rows[i].count;
        else
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
    for (int l = 0; l < DIAG_NLISTS; l++) {
        gc_head *list = list_at(rt, l);
        for (gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
            rcgc_object *o = gc_object_of(g);
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
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Borrowing the headers: internal counts and their restoration              */

static int visit_count(rcgc_object *child, void *arg)
{
    (void)arg;
    if (!gc_is_gc(child)) return 0;
    gc_head *g = gc_head_of(child);
    if (!gc_is_tracked(g)) return 0; /* an untracked referent is no node */
    if (gc_is_collecting(g))
        g->prev += (uintptr_t)1 << GC_PREV_SHIFT;
    else /* first sight: the count starts here, FINALIZED is kept */
        g->prev = (g->prev & GC_PREV_FINALIZED) | GC_PREV_COLLECTING |
                  ((uintptr_t)1 << GC_PREV_SHIFT);
    return 0;
}

static int visit_count_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? visit_count(value, arg) : 0;
}

/* Pass 1: every tracked object gets COLLECTING and the number of references
 * the tracked graph holds to it (ephemeron values included, as the
 * collector's subtract_refs counts them).  Returns the number of objects. */
static rcgc_ssize count_internal(rcgc_runtime *rt)
{
    rcgc_ssize n = 0;
    for (int l = 0; l < DIAG_NLISTS; l++) {
        gc_head *list = list_at(rt, l);
        for (gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
            if (!gc_is_collecting(g))
                g->prev = (g->prev & GC_PREV_FINALIZED) | GC_PREV_COLLECTING;
            rcgc_object *o = gc_object_of(g);
            const rcgc_type *t = o->type;
            t->traverse(o, visit_count, NULL);
            if (t->ephemerons != NULL) t->ephemerons(o, visit_count_pair, NULL);
            n++;
        }
    }
    return n;
}

/* The references from outside the tracked graph, from a node in the state
 * count_internal left (negative when traverse over-reports). */
static intptr_t external_of(const gc_head *g)
{
    return gc_object_of(g)->refcnt - gc_get_refs(g);
}

/* Pass 2 without a search: give every node its link back. */
static void restore_links(rcgc_runtime *rt)
{
    for (int l = 0; l < DIAG_NLISTS; l++) {
        gc_head *list = list_at(rt, l);
        gc_head *prev = list;
        for (gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
            g->prev = (g->prev & GC_PREV_FINALIZED) | (uintptr_t)prev;
            prev = g;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Why is this object alive                                                  */

/*
 * The reverse index.  Pass 1 (index_graph) walks every list once and
 * traverses every object: each tracked object gets a dense index, stored in
 * the refs bits of its prev word (with COLLECTING, exactly where a
 * collection keeps gc_refs) the first time it is seen, as referent or in the
 * walk; each reference between tracked objects becomes an edge record
 * (referent, referrer, position in the referrer's traverse order), and the
 * referent's internal count goes up.  Pass 2 (restore_and_mark_roots) gives
 * every prev word its link back and, reading the index one last time,
 * marks the roots: refcount > internal count.  From there on the headers
 * are the collector's again and the search runs on side arrays only: the
 * edges are bucketed by referent (a counting sort, in place over the
 * counts), then a breadth-first search goes backwards from the target along
 * referrers until it dequeues a root.  Only the target's ancestors are
 * visited: a few objects in a wide graph, however large.
 */
#define NO_INDEX UINT32_MAX

struct rindex {
    rcgc_runtime *rt;
    gc_head **obj;       /* index -> node */
    uint32_t *cnt;       /* index -> internal count; later bucket starts */
    uint32_t *echild;    /* per edge: the referent's index */
    uint32_t *eparent;   /* the referrer's index */
    rcgc_ssize n, cap;   /* objects indexed, room */
    rcgc_ssize nedges, ecap;
    uint32_t cur;        /* index of the object being traversed */
    int failed;          /* RCGC_ENOMEM, RCGC_ECORRUPT, or 0 */
};

static uint32_t index_of(struct rindex *ri, gc_head *g)
{
    if (gc_is_collecting(g)) return (uint32_t)gc_get_refs(g);
    if (ri->n == ri->cap) { /* more tracked objects than rt->tracked says */
        ri->failed = RCGC_ECORRUPT;
        return NO_INDEX;
    }
    uint32_t i = (uint32_t)ri->n++;
    ri->obj[i] = g;
    g->prev = (g->prev & GC_PREV_FINALIZED) | GC_PREV_COLLECTING |
              ((uintptr_t)i << GC_PREV_SHIFT);
    return i;
}

static int grow_edges(struct rindex *ri)
{
    rcgc_ssize cap = ri->ecap * 2;
    if (cap >= (rcgc_ssize)UINT32_MAX) return RCGC_ENOMEM;
    uint32_t **arrays[2] = {&ri->echild, &ri->eparent};
    for (int k = 0; k < 2; k++) {
        uint32_t *p = rcgc__realloc(ri->rt, *arrays[k], (size_t)cap * sizeof *p);
        if (p == NULL) return RCGC_ENOMEM;
        *arrays[k] = p;
    }
    ri->ecap = cap;
    return 0;
}

static int add_ref(struct rindex *ri, rcgc_object *child)
{
    if (!gc_is_gc(child)) return 0;
    gc_head *g = gc_head_of(child);
    if (!gc_is_tracked(g)) return 0; /* an untracked referent is no node */
    uint32_t c = index_of(ri, g);
    if (c == NO_INDEX) return 1;
    if (ri->nedges == ri->ecap && (ri->failed = grow_edges(ri)) != 0) return 1;
    rcgc_ssize e = ri->nedges++;
    ri->echild[e] = c;
    ri->eparent[e] = ri->cur;
    ri->cnt[c]++;
    return 0;
}

static int visit_index(rcgc_object *child, void *arg)
{
    return add_ref(arg, child);
}

static int visit_index_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? add_ref(arg, value) : 0;
}

/* Pass 1; stops early on failure (the restore pass handles any mix of
 * indexed and untouched nodes). */
static void index_graph(rcgc_runtime *rt, struct rindex *ri)
{
    for (int l = 0; l < DIAG_NLISTS && !ri->failed; l++) {
        gc_head *list = list_at(rt, l), *prev = list;
        for (gc_head *g = gc_next(list); g != list && !ri->failed;) {
            uint32_t i = index_of(ri, g);
            if (i == NO_INDEX) break;
            rcgc_object *o = gc_object_of(g);
            const rcgc_type *t = o->type;
            ri->cur = i;
            if (t->traverse(o, visit_index, ri) != 0) break;
            if (t->ephemerons != NULL && t->ephemerons(o, visit_index_pair, ri) != 0)
                break;
            gc_head *next = walk_next(g, prev);
            prev = g;
            g = next;
        }
    }
}

struct roots {
    uint8_t *bits;          /* index -> is a root */
    gc_head *target;
    uint32_t target_index;
    rcgc_ssize ignore;      /* subtracted from the target's count */
    rcgc_ssize count;       /* roots */
    rcgc_ssize inconsistent;
    rcgc_ssize target_external;
};

/* Pass 2: every node gets its link back (FINALIZED kept, COLLECTING
 * gone); indexed nodes are judged roots or not on the way. */
static void restore_and_mark_roots(rcgc_runtime *rt, const struct rindex *ri,
                                   struct roots *r)
{
    for (int l = 0; l < DIAG_NLISTS; l++) {
        gc_head *list = list_at(rt, l), *prev = list;
        for (gc_head *g = gc_next(list); g != list;) {
            if (gc_is_collecting(g)) {
                uint32_t i = (uint32_t)gc_get_refs(g);
                if (g == r->target) r->target_index = i;
                intptr_t ext = gc_object_of(g)->refcnt - (intptr_t)ri->cnt[i];
                if (ext < 0) r->inconsistent++;
                if (g == r->target) {
                    ext = ext > r->ignore ? ext - r->ignore : 0;
                    r->target_external = ext;
                }
                if (ext > 0) {
                    r->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
                    r->count++;
                }
            }
            g->prev = (g->prev & GC_PREV_FINALIZED) | (uintptr_t)prev;
            gc_head *next = walk_next(g, prev);
            prev = g;
            g = next;
        }
    }
}

static int is_root(const struct roots *r, uint32_t i)
{
    return (r->bits[i >> 3] >> (i & 7)) & 1;
}

/* Bucket the edges by referent: afterwards the edges referring to i are
 * rev[cnt[i] .. cnt[i+1]), earliest referrer (in walk order) first. */
static void bucket_edges(struct rindex *ri, uint32_t *rev)
{
    uint32_t sum = 0;
    for (rcgc_ssize i = 0; i < ri->n; i++) {
        sum += ri->cnt[i];
        ri->cnt[i] = sum; /* the end of i's bucket */
    }
    ri->cnt[ri->n] = sum;
    for (rcgc_ssize e = ri->nedges - 1; e >= 0; e--)
        rev[--ri->cnt[ri->echild[e]]] = (uint32_t)e;
}

/* Breadth first from the target along referrers; returns the index of the
 * nearest root (via[] then leads from it to the target), or NO_INDEX.
 * *visited gets the number of objects reached. */
static uint32_t search_back(const struct rindex *ri, const struct roots *r,
                            const uint32_t *rev, uint32_t *via,
                            uint32_t *queue, rcgc_ssize *visited)
{
    uint32_t t = r->target_index;
    rcgc_ssize head = 0, tail = 0;
    via[t] = NO_INDEX - 1; /* reached: the start */
    queue[tail++] = t;
    uint32_t found = is_root(r, t) ? t : NO_INDEX;
    while (head < tail && found == NO_INDEX) {
        uint32_t x = queue[head++];
        for (uint32_t k = ri->cnt[x]; k < ri->cnt[x + 1]; k++) {
            uint32_t e = rev[k];
            uint32_t p = ri->eparent[e];
            if (via[p] != NO_INDEX) continue;
            via[p] = e;
            queue[tail++] = p;
            if (is_root(r, p)) {
                found = p;
                break;
            }
        }
    }
    *visited = tail;
    return found;
}

static rcgc_ssize count_in_garbage(const rcgc_runtime *rt, const rcgc_object *o)
{
    rcgc_ssize n = 0;
    for (rcgc_ssize i = 0; i < rt->ngarbage; i++) n += rt->garbage[i] == o;
    return n;
}

/* Position of the reference to want in o's traverse order (what the edge
 * names show), -1 if it is an ephemeron value, -3 if o does not refer to
 * it.  Computed for the links of the answer only: recording it for every
 * edge of the index would cost a fifth more memory traffic in pass 1. */
struct pos_ctx {
    rcgc_object *want;
    rcgc_ssize i;
};

static int visit_pos(rcgc_object *child, void *arg)
{
    struct pos_ctx *c = arg;
    if (child == c->want) return 1;
    c->i++;
    return 0;
}

static int visit_pos_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value == ((struct pos_ctx *)arg)->want;
}

static rcgc_ssize edge_index(rcgc_object *from, rcgc_object *to)
{
    struct pos_ctx c = {to, 0};
    const rcgc_type *t = from->type;
    if (!gc_type_is_gc(t)) return -3;
    if (t->traverse(from, visit_pos, &c) != 0) return c.i;
    if (t->ephemerons != NULL && t->ephemerons(from, visit_pos_pair, &c) != 0)
        return -1;
    return -3;
}

static void rindex_free(struct rindex *ri)
{
    rcgc__free(ri->rt, ri->obj);
    rcgc__free(ri->rt, ri->cnt);
    rcgc__free(ri->rt, ri->echild);
    rcgc__free(ri->rt, ri->eparent);
}

int rcgc_diag_why_alive(rcgc_runtime *rt, rcgc_object *target,
                        const rcgc_diag_options *opts,
                        rcgc_diag_path *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || target == NULL || out == NULL || busy(rt) ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    rcgc__debug_check_object(rt, target, "rcgc_diag_why_alive");
    if (!gc_is_gc(target)) return RCGC_ENOTGC;
    if (!gc_is_tracked(gc_head_of(target))) return RCGC_EINVAL;

    /* What pass 1 needs is allocated first; the edge arrays may still grow
     * during it (through the MEM domain's allocator, which does not touch
     * objects). */
    struct rindex ri;
    memset(&ri, 0, sizeof ri);
    ri.rt = rt;
    ri.cap = rt->tracked;
    if (ri.cap >= (rcgc_ssize)(NO_INDEX - 1) ||
        (uintmax_t)ri.cap > (uintmax_t)(UINTPTR_MAX >> GC_PREV_SHIFT))
        return RCGC_ENOMEM; /* indexes are 32-bit */
    ri.ecap = ri.cap + 1024;
    ri.obj = rcgc__malloc(rt, (size_t)ri.cap * sizeof *ri.obj + 1);
    ri.cnt = rcgc__calloc(rt, (size_t)ri.cap + 1, sizeof *ri.cnt);
    ri.echild = rcgc__malloc(rt, (size_t)ri.ecap * sizeof(uint32_t));
    ri.eparent = rcgc__malloc(rt, (size_t)ri.ecap * sizeof(uint32_t));
    struct roots r;
    memset(&r, 0, sizeof r);
    r.bits = rcgc__calloc(rt, (size_t)ri.cap / 8 + 1, 1);
    r.target = gc_head_of(target);
    r.ignore = opts != NULL && opts->ignore_refs > 0 ? opts->ignore_refs : 0;
    if (ri.obj == NULL || ri.cnt == NULL || ri.echild == NULL ||
        ri.eparent == NULL || r.bits == NULL) {
        rindex_free(&ri);
        rcgc__free(rt, r.bits);
        return RCGC_ENOMEM;
    }

    rt->collecting = 1;
    index_graph(rt, &ri);
    restore_and_mark_roots(rt, &ri, &r);
    rt->collecting = 0;
    /* The headers are the collector's again. */

    int rc = ri.failed;
    uint32_t *rev = NULL, *via = NULL, *queue = NULL;
    rcgc_diag_link *links = NULL;
    rcgc_ssize n = 0, visited = 0;
    uint32_t root = NO_INDEX;
    if (rc == 0) {
        rev = rcgc__malloc(rt, (size_t)ri.nedges * sizeof *rev + 1);
        via = rcgc__malloc(rt, (size_t)ri.n * sizeof *via);
        queue = rcgc__malloc(rt, (size_t)ri.n * sizeof *queue);
        if (rev == NULL || via == NULL || queue == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        bucket_edges(&ri, rev);
        memset(via, 0xff, (size_t)ri.n * sizeof *via); /* NO_INDEX */
        root = search_back(&ri, &r, rev, via, queue, &visited);
        n = 1;
        if (root != NO_INDEX)
            for (uint32_t x = root; x != r.target_index; x = ri.echild[via[x]]) n++;
        links = rcgc__malloc(rt, (size_t)n * sizeof *links);
        if (links == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        if (root != NO_INDEX) {
            uint32_t x = root;
            for (rcgc_ssize k = 0; k < n; k++) {
                links[k].obj = gc_object_of(ri.obj[x]);
                if (k == 0) links[k].edge = -2;
                if (k + 1 < n) x = ri.echild[via[x]];
            }
            out->status = RCGC_DIAG_ROOTED;
            /* cnt[] holds bucket starts now: the count is their difference */
            intptr_t ext = gc_object_of(ri.obj[root])->refcnt -
                           (intptr_t)(ri.cnt[root + 1] - ri.cnt[root]);
            if (root == r.target_index) ext = r.target_external;
            out->root_external = ext;
        } else {
            links[0].obj = target;
            links[0].edge = -2;
            out->status = RCGC_DIAG_UNREACHABLE;
        }
        for (rcgc_ssize k = 0; k < n; k++) {
            links[k].refcnt = links[k].obj->refcnt;
            if (k > 0) links[k].edge = edge_index(links[k - 1].obj, links[k].obj);
        }
        for (rcgc_ssize k = 0; k < n; k++) rcgc_incref(links[k].obj);
        out->links = links;
        out->n = n;
        out->root_in_garbage = root != NO_INDEX ? count_in_garbage(rt, links[0].obj) : 0;
        out->target_external = r.target_external;
        out->roots = r.count;
        out->objects = ri.n;
        out->visited = visited;
        out->inconsistent = r.inconsistent;
    }
    rcgc__free(rt, rev);
    rcgc__free(rt, via);
    rcgc__free(rt, queue);
    rcgc__free(rt, r.bits);
    rindex_free(&ri);
    return rc;
}

void rcgc_diag_path_free(rcgc_runtime *rt, rcgc_diag_path *p)
{
    if (p == NULL) return;
    /* Detach first: a decref may run code (a finalizer) that looks at p. */
    rcgc_diag_link *links = p->links;
    rcgc_ssize n = p->n;
    memset(p, 0, sizeof *p);
    for (rcgc_ssize k = 0; k < n; k++) rcgc_decref(rt, links[k].obj);
    rcgc__free(rt, links);
}

/* ------------------------------------------------------------------------ */
/* Neighbourhoods                                                            */

/* Object -> node index, open addressing; sized once, never grows. */
struct nmap {
    rcgc_object **keys;
    rcgc_ssize *vals;
    size_t mask;
};

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * (uintptr_t)0x9E3779B97F4A7C15ull >> 17);
}

static rcgc_ssize nmap_get(const struct nmap *m, const rcgc_object *o)
{
    size_t i = ptr_hash(o) & m->mask;
    while (m->keys[i] != NULL) {
        if (m->keys[i] == o) return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return -1;
}

static void nmap_put(struct nmap *m, rcgc_object *o, rcgc_ssize v)
{
    size_t i = ptr_hash(o) & m->mask;
    while (m->keys[i] != NULL) i = (i + 1) & m->mask;
    m->keys[i] = o;
    m->vals[i] = v;
}

struct builder {
    rcgc_runtime *rt;
    rcgc_diag_node *nodes; /* max entries, allocated up front */
    rcgc_ssize nnodes, max;
    const rcgc_object **stamp; /* per node: the referrer of the last edge
                                  added to it, to add each edge once */
    rcgc_diag_edge *edges;
    rcgc_ssize nedges, edges_cap;
    struct nmap map;
    int failed;            /* out of memory growing edges */
    /* the expansion in progress */
    rcgc_object *cur;      /* referrers: the object traversed;
                              referents: the node expanded */
    rcgc_ssize cur_index;  /* its node, or -1 not yet added (referrers) */
    rcgc_ssize pos;        /* traverse position of the visit */
    int level;             /* depth of the nodes being added */
};

static int builder_init(struct builder *b, rcgc_runtime *rt, rcgc_ssize max)
{
    memset(b, 0, sizeof *b);
    b->rt = rt;
    b->max = max;
    size_t cap = 16;
    while (cap < (size_t)max * 2 + 2) cap *= 2;
    b->nodes = rcgc__malloc(rt, (size_t)max * sizeof *b->nodes);
    b->stamp = rcgc__calloc(rt, (size_t)max, sizeof *b->stamp);
    b->map.keys = rcgc__calloc(rt, cap, sizeof *b->map.keys);
    b->map.vals = rcgc__malloc(rt, cap * sizeof *b->map.vals);
    b->map.mask = cap - 1;
    if (b->nodes == NULL || b->stamp == NULL || b->map.keys == NULL ||
        b->map.vals == NULL)
        return RCGC_ENOMEM;
    return 0;
}

static void builder_fini(struct builder *b)
{
    rcgc__free(b->rt, b->nodes);
    rcgc__free(b->rt, (void *)b->stamp);
    rcgc__free(b->rt, b->map.keys);
    rcgc__free(b->rt, b->map.vals);
    rcgc__free(b->rt, b->edges);
}

static rcgc_ssize add_node(struct builder *b, rcgc_object *o, int depth)
{
    if (b->nnodes == b->max) return -1;
    rcgc_ssize i = b->nnodes++;
    rcgc_diag_node *nd = &b->nodes[i];
    nd->obj = o;
    nd->refcnt = o->refcnt;
    nd->external = -1;
    nd->depth = depth;
    nd->flags = 0;
    if (gc_is_gc(o) && gc_is_tracked(gc_head_of(o)))
        nd->flags |= RCGC_DIAG_NODE_TRACKED;
    nmap_put(&b->map, o, i);
    return i;
}

/* Add the edge from -> to once (index: the first reference's position). */
static void add_edge(struct builder *b, rcgc_ssize from, rcgc_ssize to,
                     rcgc_ssize index)
{
    if (b->stamp[to] == b->nodes[from].obj) return;
    if (rcgc__grow(b->rt, (void **)&b->edges, &b->edges_cap, b->nedges + 1,
                   sizeof *b->edges) != 0) {
        b->failed = 1;
        return;
    }
    b->stamp[to] = b->nodes[from].obj;
    b->edges[b->nedges].from = from;
    b->edges[b->nedges].to = to;
    b->edges[b->nedges].index = index;
    b->nedges++;
}

/* Referents: an edge from the node expanded to each child, new children
 * added one level deeper. */
static void visit_referent_at(struct builder *b, rcgc_object *child,
                              rcgc_ssize index)
{
    rcgc_ssize to = nmap_get(&b->map, child);
    if (to < 0) {
        to = add_node(b, child, b->level);
        if (to < 0) {
            b->nodes[b->cur_index].flags |= RCGC_DIAG_NODE_TRUNCATED;
            return;
        }
    }
    add_edge(b, b->cur_index, to, index);
}

static int visit_referent(rcgc_object *child, void *arg)
{
    struct builder *b = arg;
    visit_referent_at(b, child, b->pos++);
    return b->failed;
}

static int visit_referent_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    if (value != NULL) visit_referent_at(arg, value, -1);
    return ((struct builder *)arg)->failed;
}

static int visit_any(rcgc_object *child, void *arg)
{
    (void)child;
    (void)arg;
    return 1;
}

static int visit_any_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    (void)arg;
    return value != NULL;
}

static int has_referents(rcgc_object *o)
{
    const rcgc_type *t = o->type;
    if (!gc_type_is_gc(t)) return 0;
    return t->traverse(o, visit_any, NULL) != 0 ||
           (t->ephemerons != NULL && t->ephemerons(o, visit_any_pair, NULL) != 0);
}

/* Referrers: o refers to a node of the frontier (depth level - 1). */
static void visit_referrer_at(struct builder *b, rcgc_object *child,
                              rcgc_ssize index)
{
    rcgc_ssize to = nmap_get(&b->map, child);
    if (to < 0 || b->nodes[to].depth != b->level - 1) return;
    if (b->cur_index < 0) {
        b->cur_index = nmap_get(&b->map, b->cur);
        if (b->cur_index < 0) b->cur_index = add_node(b, b->cur, b->level);
        if (b->cur_index < 0) {
            b->nodes[to].flags |= RCGC_DIAG_NODE_TRUNCATED;
            return;
        }
    }
    add_edge(b, b->cur_index, to, index);
}

static int visit_referrer(rcgc_object *child, void *arg)
{
    struct builder *b = arg;
    visit_referrer_at(b, child, b->pos++);
    return b->failed;
}

static int visit_referrer_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    if (value != NULL) visit_referrer_at(arg, value, -1);
    return ((struct builder *)arg)->failed;
}

/* One level of referrers: a pass over every tracked object. */
static void referrers_level(rcgc_runtime *rt, struct builder *b)
{
    for (int l = 0; l < DIAG_NLISTS && !b->failed; l++) {
        gc_head *list = list_at(rt, l);
        for (gc_head *g = gc_next(list); g != list && !b->failed; g = gc_next(g)) {
            rcgc_object *o = gc_object_of(g);
            const rcgc_type *t = o->type;
            b->cur = o;
            b->cur_index = -1;
            b->pos = 0;
            t->traverse(o, visit_referrer, b);
            if (t->ephemerons != NULL && !b->failed)
                t->ephemerons(o, visit_referrer_pair, b);
        }
    }
}

/* External counts of the graph's tracked nodes: pass 1, read, pass 2. */
static void graph_externals(rcgc_runtime *rt, struct builder *b)
{
    rt->collecting = 1;
    count_internal(rt);
    for (rcgc_ssize i = 0; i < b->nnodes; i++) {
        rcgc_diag_node *nd = &b->nodes[i];
        if (!(nd->flags & RCGC_DIAG_NODE_TRACKED)) continue;
        intptr_t ext = external_of(gc_head_of(nd->obj));
        nd->external = ext > 0 ? ext : 0;
        if (ext > 0) nd->flags |= RCGC_DIAG_NODE_ROOT;
    }
    restore_links(rt);
    rt->collecting = 0;
}

static int build_graph(rcgc_runtime *rt, rcgc_object *o, int depth,
                       const rcgc_diag_options *opts, int referrers,
                       rcgc_diag_graph *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || o == NULL || out == NULL || depth < 0 || busy(rt) ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    rcgc__debug_check_object(rt, o, referrers ? "rcgc_diag_referrers"
                                              : "rcgc_diag_referents");
    rcgc_ssize max = opts != NULL && opts->max_nodes > 0
                         ? opts->max_nodes
                         : DIAG_DEFAULT_MAX_NODES;
    unsigned flags = opts != NULL ? opts->flags : 0;
    struct builder b;
    if (builder_init(&b, rt, max) != 0) {
        builder_fini(&b);
        return RCGC_ENOMEM;
    }
    add_node(&b, o, 0);
    b.nodes[0].flags |= RCGC_DIAG_NODE_START;
    if (referrers) {
        /* The previous level is complete before the next starts: each
         * level is one pass over every object. */
        for (int d = 1; d <= depth && !b.failed; d++) {
            rcgc_ssize before = b.nnodes;
            b.level = d;
            referrers_level(rt, &b);
            if (b.nnodes == before) break; /* no new frontier */
        }
    } else {
        /* Nodes are expanded in the order they were added: breadth first,
         * with the node array as the queue. */
        for (rcgc_ssize i = 0; i < b.nnodes && !b.failed; i++) {
            rcgc_object *x = b.nodes[i].obj;
            const rcgc_type *t = x->type;
            if (!gc_type_is_gc(t)) continue;
            if (b.nodes[i].depth >= depth) {
                if (has_referents(x)) b.nodes[i].flags |= RCGC_DIAG_NODE_TRUNCATED;
                continue;
            }
            b.cur = x;
            b.cur_index = i;
            b.pos = 0;
            b.level = b.nodes[i].depth + 1;
            t->traverse(x, visit_referent, &b);
            if (t->ephemerons != NULL && !b.failed)
                t->ephemerons(x, visit_referent_pair, &b);
        }
    }
    if (b.failed) {
        builder_fini(&b);
        return RCGC_ENOMEM;
    }
    if (!(flags & RCGC_DIAG_NO_EXTERNALS)) graph_externals(rt, &b);
    /* Hand the arrays over (shrunk to size). */
    rcgc_diag_node *nodes = rcgc__realloc(rt, b.nodes, (size_t)b.nnodes * sizeof *nodes);
    if (nodes != NULL) b.nodes = nodes;
    for (rcgc_ssize i = 0; i < b.nnodes; i++) rcgc_incref(b.nodes[i].obj);
    out->nodes = b.nodes;
    out->nnodes = b.nnodes;
    out->edges = b.edges;
    out->nedges = b.nedges;
    out->referrers = referrers;
    b.nodes = NULL;
    b.edges = NULL;
    builder_fini(&b);
    return 0;
}

int rcgc_diag_referrers(rcgc_runtime *rt, rcgc_object *o,
                        int depth, const rcgc_diag_options *opts,
                        rcgc_diag_graph *out)
{
    return build_graph(rt, o, depth, opts, 1, out);
}

int rcgc_diag_referents(rcgc_runtime *rt, rcgc_object *o,
                        int depth, const rcgc_diag_options *opts,
                        rcgc_diag_graph *out)
{
    return build_graph(rt, o, depth, opts, 0, out);
}

void rcgc_diag_graph_free(rcgc_runtime *rt, rcgc_diag_graph *g)
{
    if (g == NULL) return;
    rcgc_diag_node *nodes = g->nodes;
    rcgc_ssize n = g->nnodes;
    rcgc__free(rt, g->edges);
    memset(g, 0, sizeof *g);
    for (rcgc_ssize i = 0; i < n; i++) rcgc_decref(rt, nodes[i].obj);
    rcgc__free(rt, nodes);
}
