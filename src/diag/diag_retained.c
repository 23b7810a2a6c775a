/*
 * diag_retained.c - the public faces of the dominator tree (diag_dom.c):
 * the whole tree with borrowed pointers, and the report of what holds the
 * memory (top retainers, sizes by type).  Design: docs/diagnosis.md
 * ("Retained sizes").
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_dom.h"
#include "diag/diag_internal.h"


static int args_ok(rcgc_runtime *rt, const rcgc_diag_options *opts, void *out)
{
    return rt != NULL && out != NULL && !busy(rt) && RCGC__OPTS_OK(opts);
}

/* ------------------------------------------------------------------------ */
/* The whole tree                                                            */

int rcgc_diag_dominators(rcgc_runtime *rt, const rcgc_diag_options *opts,
                         rcgc_diag_domtree *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (!args_ok(rt, opts, out)) return RCGC_EINVAL;
    struct domtree d;
    int rc = rcgc__domtree_build(rt, &d);
    if (rc != 0) return rc;
    size_t n = (size_t)d.last - 1;
    out->objs = rcgc__malloc(rt, n * sizeof *out->objs + 1);
    out->idom = rcgc__malloc(rt, n * sizeof *out->idom + 1);
    out->self_size = rcgc__malloc(rt, n * sizeof *out->self_size + 1);
    out->retained_size = rcgc__malloc(rt, n * sizeof *out->retained_size + 1);
    if (out->objs == NULL || out->idom == NULL || out->self_size == NULL ||
        out->retained_size == NULL) {
        rcgc__domtree_free(rt, &d);
        rcgc_diag_domtree_free(rt, out);
        return RCGC_ENOMEM;
    }
    rcgc_ssize v = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; v < d.objects && (o = rcgc__gcwalk_next(&w)) != NULL; v++)
        if (d.pre[v] != 0) out->objs[d.pre[v] - 2] = o;
    for (uint32_t p = 2; p <= d.last; p++) {
        out->idom[p - 2] = d.idom[p] == DOM_SYNTH ? -1 : (rcgc_ssize)d.idom[p] - 2;
        out->self_size[p - 2] = d.self[p];
        out->retained_size[p - 2] = d.retained[p];
    }
    out->n = (rcgc_ssize)n;
    out->objects = d.objects;
    out->edges = d.edges;
    out->roots = d.roots;
    out->unreachable = d.unreachable;
    out->unreachable_size = d.unreachable_size;
    out->total_size = d.total_size;
    out->inconsistent = d.inconsistent;
    out->scratch_bytes = d.scratch;
    rcgc__domtree_free(rt, &d);
    return 0;
}

void rcgc_diag_domtree_free(rcgc_runtime *rt, rcgc_diag_domtree *t)
{
    if (rt == NULL || t == NULL) return;
    rcgc__free(rt, t->objs);
    rcgc__free(rt, t->idom);
    rcgc__free(rt, t->self_size);
    rcgc__free(rt, t->retained_size);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------ */
/* Top retainers                                                             */

/* a retains more than b; ties: the earlier preorder number first. */
static int before(const struct domtree *d, uint32_t a, uint32_t b)
{
    if (d->retained[a] != d->retained[b]) return d->retained[a] > d->retained[b];
    return a < b;
}

/* The k objects that retain most, best first: a heap of the k best seen so
 * far with the worst on top, then sorted. */
static rcgc_ssize select_top(const struct domtree *d, uint32_t *top, rcgc_ssize k)
{
    rcgc_ssize n = 0;
    for (uint32_t p = 2; p <= d->last; p++) {
        if (n == k && !before(d, p, top[0])) continue;
        rcgc_ssize i;
        if (n < k) { /* sift up from the end */
            i = n++;
            while (i > 0 && before(d, top[(i - 1) / 2], p)) {
                top[i] = top[(i - 1) / 2];
                i = (i - 1) / 2;
            }
        } else { /* replace the worst, sift down */
            i = 0;
            for (;;) {
                rcgc_ssize c = 2 * i + 1;
                if (c >= n) break;
                if (c + 1 < n && before(d, top[c], top[c + 1])) c++;
                if (!before(d, p, top[c])) break;
                top[i] = top[c];
                i = c;
            }
        }
        top[i] = p;
    }
    /* Heap sort in place: repeatedly move the worst to the end. */
    for (rcgc_ssize end = n - 1; end > 0; end--) {
        uint32_t worst = top[0], x = top[end];
        rcgc_ssize i = 0;
        for (;;) {
            rcgc_ssize c = 2 * i + 1;
            if (c >= end) break;
            if (c + 1 < end && before(d, top[c], top[c + 1])) c++;
            if (!before(d, x, top[c])) break;
            top[i] = top[c];
            i = c;
        }
        top[i] = x;
        top[end] = worst;
    }
    return n;
}

/* The position of preorder number p among the top ones (sorted copy with
 * positions), -1 if absent. */
struct listed {
    uint32_t pre;
    rcgc_ssize item;
};

static int cmp_listed(const void *a, const void *b)
{
    uint32_t x = ((const struct listed *)a)->pre, y = ((const struct listed *)b)->pre;
    return (x > y) - (x < y);
}

static rcgc_ssize find_listed(const struct listed *l, rcgc_ssize n, uint32_t p)
{
    rcgc_ssize lo = 0, hi = n;
    while (lo < hi) {
        rcgc_ssize mid = lo + (hi - lo) / 2;
        if (l[mid].pre < p) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && l[lo].pre == p ? l[lo].item : -1;
}

/* Type names: descriptors (a small open-addressing table) mapped to dense
 * ids, names merged later. */
struct tid_table {
    const rcgc_type **keys;
    uint32_t *ids;
    size_t mask;
    uint32_t n;
};

static uint32_t tid_of(rcgc_runtime *rt, struct tid_table *t, const rcgc_type *ty,
                       int *failed)
{
    if ((size_t)t->n * 2 >= t->mask + 1) { /* grow */
        size_t cap = (t->mask + 1) * 2;
        const rcgc_type **k = rcgc__calloc(rt, cap, sizeof *k);
        uint32_t *v = rcgc__malloc(rt, cap * sizeof *v);
        if (k == NULL || v == NULL) {
            rcgc__free(rt, k);
            rcgc__free(rt, v);
            *failed = 1;
            return 0;
        }
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->keys[i] == NULL) continue;
            size_t j = ((uintptr_t)t->keys[i] >> 4) & (cap - 1);
            while (k[j] != NULL) j = (j + 1) & (cap - 1);
            k[j] = t->keys[i];
            v[j] = t->ids[i];
        }
        rcgc__free(rt, t->keys);
        rcgc__free(rt, t->ids);
        t->keys = k;
        t->ids = v;
        t->mask = cap - 1;
    }
    size_t j = ((uintptr_t)ty >> 4) & t->mask;
    while (t->keys[j] != NULL && t->keys[j] != ty) j = (j + 1) & t->mask;
    if (t->keys[j] == NULL) {
        t->keys[j] = ty;
        t->ids[j] = t->n++;
    }
    return t->ids[j];
}

static const char *tname(const rcgc_type *t)
{
    return t->name != NULL ? t->name : "?";
}

struct report {
    rcgc_runtime *rt;
    struct domtree d;
    uint32_t *top;          /* preorder numbers of the items */
    rcgc_ssize ntop;
    struct listed *listed;  /* the same, sorted by preorder number */
    uint8_t *is_listed;     /* bit per preorder number: among the items */
    uint32_t *tid;          /* preorder -> type id */
    const rcgc_type **types;/* type id -> a descriptor of that id */
    uint32_t ntypes;
    uint32_t *name_of;      /* type id -> name id (merged by name) */
    uint32_t nnames;
    uint32_t *count;        /* preorder -> objects retained */
};

static int listed(const struct report *r, uint32_t p)
{
    return (r->is_listed[p >> 3] >> (p & 7)) & 1;
}

/* Walk the lists once: type ids, the items' objects and their external
 * counts are read. */
static int walk_types(struct report *r, rcgc_diag_retainers *out)
{
    struct tid_table t = {0};
    t.mask = 63;
    t.keys = rcgc__calloc(r->rt, 64, sizeof *t.keys);
    t.ids = rcgc__malloc(r->rt, 64 * sizeof *t.ids);
    int failed = t.keys == NULL || t.ids == NULL;
    rcgc_ssize v = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, r->rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; !failed && v < r->d.objects && (o = rcgc__gcwalk_next(&w)) != NULL;
         v++) {
        uint32_t p = r->d.pre[v];
        if (p == 0) continue;
        r->tid[p] = tid_of(r->rt, &t, o->type, &failed);
        if (listed(r, p)) {
            rcgc_diag_retainer *it = &out->items[find_listed(r->listed, r->ntop, p)];
            it->obj = o;
            it->snapshot_id = RCGC__HEAPSNAPSHOT_ID(v);
        }
    }
    if (!failed) {
        r->ntypes = t.n;
        r->types = rcgc__malloc(r->rt, (size_t)t.n * sizeof *r->types + 1);
        failed = r->types == NULL;
    }
    if (!failed)
        for (size_t i = 0; i <= t.mask; i++)
            if (t.keys[i] != NULL) r->types[t.ids[i]] = t.keys[i];
    rcgc__free(r->rt, t.keys);
    rcgc__free(r->rt, t.ids);
    return failed ? RCGC_ENOMEM : 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(tname(*(const rcgc_type *const *)a),
                  tname(*(const rcgc_type *const *)b));
}

/* Name ids: descriptors with one name are one type, as in the counts. */
static int merge_type_names(struct report *r)
{
    const rcgc_type **sorted = rcgc__malloc(r->rt, (size_t)r->ntypes * sizeof *sorted + 1);
    r->name_of = rcgc__malloc(r->rt, (size_t)r->ntypes * sizeof *r->name_of + 1);
    if (sorted == NULL || r->name_of == NULL) {
        rcgc__free(r->rt, sorted);
        return RCGC_ENOMEM;
    }
    memcpy(sorted, r->types, (size_t)r->ntypes * sizeof *sorted);
    qsort(sorted, r->ntypes, sizeof *sorted, cmp_name);
    /* name id = position of the first descriptor with that name among the
     * distinct names; found by binary search on the sorted names */
    uint32_t names = 0;
    for (uint32_t i = 0; i < r->ntypes; i++)
        if (i == 0 || strcmp(tname(sorted[i]), tname(sorted[i - 1])) != 0)
            sorted[names++] = sorted[i];
    for (uint32_t id = 0; id < r->ntypes; id++) {
        const char *name = tname(r->types[id]);
        uint32_t lo = 0, hi = names;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (strcmp(tname(sorted[mid]), name) < 0) lo = mid + 1;
            else hi = mid;
        }
        r->name_of[id] = lo;
    }
    for (uint32_t i = 0; i < names; i++) r->types[i] = sorted[i];
    r->nnames = names;
    rcgc__free(r->rt, sorted);
    return 0;
}

/*
 * One depth-first walk of the dominator tree (children in bucketed arrays;
 * the path back up is idom itself): per name, the retained size of the
 * instances no other instance of the name dominates (a counter of the
 * instances on the current path); for the items, their depth and the
 * nearest listed dominator.
 */
static int walk_tree(struct report *r, rcgc_diag_retainers *out)
{
    const struct domtree *d = &r->d;
    size_t np = (size_t)d->last + 2;
    uint32_t *kstart = rcgc__calloc(r->rt, np, sizeof *kstart);
    uint32_t *kids = rcgc__malloc(r->rt, np * sizeof *kids);
    uint32_t *active = rcgc__calloc(r->rt, (size_t)r->nnames + 1, sizeof *active);
    rcgc_ssize *path = rcgc__malloc(r->rt, ((size_t)r->ntop + 1) * sizeof *path);
    if (kstart == NULL || kids == NULL || active == NULL || path == NULL) {
        rcgc__free(r->rt, kstart);
        rcgc__free(r->rt, kids);
        rcgc__free(r->rt, active);
        rcgc__free(r->rt, path);
        return RCGC_ENOMEM;
    }
    for (uint32_t p = 2; p <= d->last; p++) kstart[d->idom[p]]++;
    uint32_t sum = 0;
    for (uint32_t p = 0; p <= d->last; p++) {
        sum += kstart[p];
        kstart[p] = sum; /* the end of p's children, for now */
    }
    kstart[d->last + 1] = sum;
    for (uint32_t p = d->last; p >= 2; p--) kids[--kstart[d->idom[p]]] = p;
    /* count doubles as the cursor: a node's next child, then (on the way
     * up) nothing; retained counts are computed separately below. */
    uint32_t *cur = r->count;
    memcpy(cur, kstart, np * sizeof *cur);
    rcgc_ssize depth = 0, npath = 0;
    uint32_t x = DOM_SYNTH;
    for (;;) {
        if (cur[x] < kstart[x + 1]) {
            uint32_t c = kids[cur[x]++];
            depth++;
            uint32_t name = r->name_of[r->tid[c]];
            if (active[name]++ == 0) {
                size_t *t = &out->types[name].retained_size;
                *t = *t > SIZE_MAX - d->retained[c] ? SIZE_MAX : *t + d->retained[c];
            }
            rcgc_ssize i = listed(r, c) ? find_listed(r->listed, r->ntop, c) : -1;
            if (i >= 0) {
                out->items[i].depth = depth;
                out->items[i].idom = npath > 0 ? path[npath - 1] : -1;
                path[npath++] = i;
            }
            x = c;
        } else {
            if (x == DOM_SYNTH) break;
            active[r->name_of[r->tid[x]]]--;
            if (npath > 0 && r->top[path[npath - 1]] == x) npath--;
            depth--;
            x = d->idom[x];
        }
    }
    rcgc__free(r->rt, kstart);
    rcgc__free(r->rt, kids);
    rcgc__free(r->rt, active);
    rcgc__free(r->rt, path);
    /* Objects retained: 1 + the children's, in reverse preorder. */
    for (uint32_t p = 0; p <= d->last; p++) r->count[p] = 1;
    for (uint32_t p = d->last; p >= 2; p--) r->count[d->idom[p]] += r->count[p];
    return 0;
}

static int cmp_type_size(const void *a, const void *b)
{
    const rcgc_diag_type_size *x = a, *y = b;
    if (x->retained_size != y->retained_size)
        return x->retained_size < y->retained_size ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void report_free(struct report *r)
{
    rcgc__domtree_free(r->rt, &r->d);
    rcgc__free(r->rt, r->top);
    rcgc__free(r->rt, r->listed);
    rcgc__free(r->rt, r->is_listed);
    rcgc__free(r->rt, r->tid);
    rcgc__free(r->rt, r->types);
    rcgc__free(r->rt, r->name_of);
    rcgc__free(r->rt, r->count);
}

static int fill_types(struct report *r, rcgc_diag_retainers *out)
{
    for (uint32_t i = 0; i < r->nnames; i++) {
        const char *name = tname(r->types[i]);
        size_t len = strlen(name) + 1;
        char *copy = rcgc__malloc(r->rt, len);
        if (copy == NULL) return RCGC_ENOMEM;
        memcpy(copy, name, len);
        out->types[i].name = copy;
        out->ntypes = (rcgc_ssize)i + 1;
    }
    for (uint32_t p = 2; p <= r->d.last; p++) {
        rcgc_diag_type_size *t = &out->types[r->name_of[r->tid[p]]];
        t->count++;
        t->self_size = t->self_size > SIZE_MAX - r->d.self[p] ? SIZE_MAX
                                                              : t->self_size + r->d.self[p];
    }
    return 0;
}

int rcgc_diag_top_retainers(rcgc_runtime *rt, rcgc_ssize top,
                       const rcgc_diag_options *opts, rcgc_diag_retainers *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (!args_ok(rt, opts, out) || top < 0) return RCGC_EINVAL;
    if (top == 0) top = 20;
    struct report r;
    memset(&r, 0, sizeof r);
    r.rt = rt;
    int rc = rcgc__domtree_build(rt, &r.d);
    if (rc != 0) return rc;
    rcgc_ssize reach = (rcgc_ssize)r.d.last - 1;
    if (top > reach) top = reach;
    size_t np = (size_t)r.d.last + 2;
    r.top = rcgc__malloc(rt, (size_t)top * sizeof *r.top + 1);
    r.listed = rcgc__malloc(rt, (size_t)top * sizeof *r.listed + 1);
    r.tid = rcgc__malloc(rt, np * sizeof *r.tid);
    r.count = rcgc__malloc(rt, np * sizeof *r.count);
    r.is_listed = rcgc__calloc(rt, np / 8 + 1, 1);
    out->items = rcgc__calloc(rt, (size_t)top + 1, sizeof *out->items);
    if (r.top == NULL || r.listed == NULL || r.tid == NULL || r.count == NULL ||
        r.is_listed == NULL || out->items == NULL) {
        rc = RCGC_ENOMEM;
        goto fail;
    }
    r.ntop = select_top(&r.d, r.top, top);
    for (rcgc_ssize i = 0; i < r.ntop; i++) {
        r.listed[i].pre = r.top[i];
        r.listed[i].item = i;
        r.is_listed[r.top[i] >> 3] |= (uint8_t)(1u << (r.top[i] & 7));
    }
    qsort(r.listed, (size_t)r.ntop, sizeof *r.listed, cmp_listed);
    if ((rc = walk_types(&r, out)) != 0 || (rc = merge_type_names(&r)) != 0) goto fail;
    out->types = rcgc__calloc(rt, (size_t)r.nnames + 1, sizeof *out->types);
    if (out->types == NULL) {
        rc = RCGC_ENOMEM;
        goto fail;
    }
    if ((rc = fill_types(&r, out)) != 0 || (rc = walk_tree(&r, out)) != 0) goto fail;
    qsort(out->types, (size_t)out->ntypes, sizeof *out->types, cmp_type_size);
    for (rcgc_ssize i = 0; i < r.ntop; i++) {
        rcgc_diag_retainer *it = &out->items[i];
        uint32_t p = r.top[i];
        it->self_size = r.d.self[p];
        it->retained_size = r.d.retained[p];
        it->retained_count = r.count[p];
        it->root = rcgc__domtree_is_root(&r.d, p);
        rcgc_incref(it->obj);
    }
    out->n = r.ntop;
    out->objects = r.d.objects;
    out->edges = r.d.edges;
    out->roots = r.d.roots;
    out->reachable = reach;
    out->unreachable = r.d.unreachable;
    out->inconsistent = r.d.inconsistent;
    out->total_size = r.d.total_size;
    out->unreachable_size = r.d.unreachable_size;
    out->scratch_bytes = r.d.scratch;
    report_free(&r);
    return 0;
fail:
    report_free(&r);
    rcgc_diag_retainers_free(rt, out);
    return rc;
}

void rcgc_diag_retainers_free(rcgc_runtime *rt, rcgc_diag_retainers *r)
{
    if (rt == NULL || r == NULL) return;
    for (rcgc_ssize i = 0; i < r->n; i++)
        if (r->items[i].obj != NULL) rcgc_decref(rt, r->items[i].obj);
    for (rcgc_ssize i = 0; i < r->ntypes; i++) rcgc__free(rt, (void *)r->types[i].name);
    rcgc__free(rt, r->items);
    rcgc__free(rt, r->types);
    memset(r, 0, sizeof *r);
}
