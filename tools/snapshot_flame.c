/*
 * snapshot_flame.c - the flame graph's tree for rcgc-snapshot's HTML report.
 *
 * The aggregation happens here, in C, so that a snapshot of millions of
 * traces gives a page of a few thousand nodes that a browser draws at once:
 * every traceback statistic is a path from the root (all memory) through its
 * frames, oldest first; identical prefixes share nodes, each node holding
 * the bytes of every path through it.  Then the tree is pruned: a node keeps
 * its place when it holds at least min_share of the root and is among the
 * max_nodes largest; the rest of a parent's children become one "other"
 * node.  Because paths only add positive weights, a child never outweighs
 * its parent, so pruning by value keeps a connected tree.
 *
 * Frames are compared by content (file, line, function, module, offset),
 * not by pointer: in a diff, tracebacks come from two snapshots.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_report.h"

#define NONE UINT32_MAX /* no node / the root's frame */

struct fnode {
    uint32_t parent;      /* NONE for the root */
    uint32_t frame;       /* index in frames; NONE for the root */
    uint32_t first_child; /* NONE: a leaf */
    uint32_t next_sibling;
    double value;         /* bytes of every path through this node */
};

struct flame {
    struct fnode *nodes; /* nodes[0] is the root */
    size_t nnode, node_cap;
    const rcgc_frame **frames; /* distinct frames (BORROWED from stats) */
    size_t nframe, frame_cap;
    uint32_t *fhash; /* frame index + 1 per slot; 0: empty */
    size_t fhash_cap;
    uint32_t *nhash; /* node index + 1, keyed by (parent, frame) */
    size_t nhash_cap;
    double cut;      /* kept nodes: value >= cut and > over */
    double over;
};

/* ---- hashing ---- */

static uint64_t hash_str(uint64_t h, const char *s)
{
    if (s == NULL) return h * 0x100000001b3u + 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u;
    }
    return h * 0x100000001b3u;
}

static uint64_t frame_hash(const rcgc_frame *f)
{
    uint64_t h = 0xcbf29ce484222325u;
    h = hash_str(h, f->filename);
    h = hash_str(h, f->function);
    h = hash_str(h, f->module);
    h ^= (uint64_t)f->lineno * 0x9e3779b97f4a7c15u;
    h ^= f->offset * 0xc2b2ae3d27d4eb4fu;
    return h ^ (h >> 29);
}

static int str_eq(const char *a, const char *b)
{
    if (a == b) return 1;
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int frame_eq(const rcgc_frame *a, const rcgc_frame *b)
{
    return a->lineno == b->lineno && a->offset == b->offset &&
           str_eq(a->filename, b->filename) && str_eq(a->function, b->function) &&
           str_eq(a->module, b->module);
}

static uint64_t node_hash(uint32_t parent, uint32_t frame)
{
    uint64_t h = ((uint64_t)parent << 32 | frame) * 0x9e3779b97f4a7c15u;
    return h ^ (h >> 31);
}

/* A table of cap * 2 slots for n + 1 entries: load at most one half. */
static int table_reserve(uint32_t **table, size_t *cap, size_t n)
{
    if ((n + 1) * 2 <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    while ((n + 1) * 2 > c) c *= 2;
    uint32_t *t = calloc(c, sizeof *t);
    if (t == NULL) return RCGC_ENOMEM;
    free(*table);
    *table = t;
    *cap = c;
    return 1; /* the caller re-inserts its entries */
}

static int array_reserve(void **arr, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 256;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / elsize || c >= NONE) return RCGC_ENOMEM;
    void *p = realloc(*arr, c * elsize);
    if (p == NULL) return RCGC_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/* ---- frames ---- */

static void frame_slot_put(flame *f, uint32_t id)
{
    size_t mask = f->fhash_cap - 1;
    size_t j = (size_t)frame_hash(f->frames[id]) & mask;
    while (f->fhash[j] != 0) j = (j + 1) & mask;
    f->fhash[j] = id + 1;
}

/* The index of frame in f->frames, added when new; NONE when out of memory. */
static uint32_t frame_intern(flame *f, const rcgc_frame *fr)
{
    int grew = table_reserve(&f->fhash, &f->fhash_cap, f->nframe);
    if (grew < 0) return NONE;
    if (grew)
        for (size_t i = 0; i < f->nframe; i++) frame_slot_put(f, (uint32_t)i);
    size_t mask = f->fhash_cap - 1;
    for (size_t j = (size_t)frame_hash(fr) & mask; f->fhash[j] != 0;
         j = (j + 1) & mask)
        if (frame_eq(f->frames[f->fhash[j] - 1], fr)) return f->fhash[j] - 1;
    if (array_reserve((void **)&f->frames, &f->frame_cap, f->nframe + 1,
                      sizeof *f->frames) != 0)
        return NONE;
    f->frames[f->nframe] = fr;
    frame_slot_put(f, (uint32_t)f->nframe);
    return (uint32_t)f->nframe++;
}

/* ---- nodes ---- */

static void node_slot_put(flame *f, uint32_t id)
{
    size_t mask = f->nhash_cap - 1;
    const struct fnode *n = &f->nodes[id];
    size_t j = (size_t)node_hash(n->parent, n->frame) & mask;
    while (f->nhash[j] != 0) j = (j + 1) & mask;
    f->nhash[j] = id + 1;
}

static uint32_t node_add(flame *f, uint32_t parent, uint32_t frame)
{
    if (array_reserve((void **)&f->nodes, &f->node_cap, f->nnode + 1,
                      sizeof *f->nodes) != 0)
        return NONE;
    uint32_t id = (uint32_t)f->nnode++;
    struct fnode *n = &f->nodes[id];
    n->parent = parent;
    n->frame = frame;
    n->first_child = NONE;
    n->value = 0;
    n->next_sibling = parent == NONE ? NONE : f->nodes[parent].first_child;
    if (parent != NONE) f->nodes[parent].first_child = id;
    return id;
}

/* The child of parent for frame, created when new; NONE: out of memory. */
static uint32_t node_child(flame *f, uint32_t parent, uint32_t frame)
{
    int grew = table_reserve(&f->nhash, &f->nhash_cap, f->nnode);
    if (grew < 0) return NONE;
    if (grew)
        for (size_t i = 1; i < f->nnode; i++) node_slot_put(f, (uint32_t)i);
    size_t mask = f->nhash_cap - 1;
    for (size_t j = (size_t)node_hash(parent, frame) & mask; f->nhash[j] != 0;
         j = (j + 1) & mask) {
        const struct fnode *n = &f->nodes[f->nhash[j] - 1];
        if (n->parent == parent && n->frame == frame) return f->nhash[j] - 1;
    }
    uint32_t id = node_add(f, parent, frame);
    if (id != NONE) node_slot_put(f, id);
    return id;
}

/* Add one traceback's path (oldest frame first) with weight w. */
static int add_path(flame *f, const rcgc_traceback *tb, double w)
{
    uint32_t cur = 0;
    f->nodes[0].value += w;
    for (int i = tb->nframe - 1; i >= 0; i--) {
        uint32_t fr = frame_intern(f, &tb->frames[i]);
        if (fr == NONE) return RCGC_ENOMEM;
        cur = node_child(f, cur, fr);
        if (cur == NONE) return RCGC_ENOMEM;
        f->nodes[cur].value += w;
    }
    return 0;
}

/* ---- pruning ---- */

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Set the bar a node must pass to be drawn: at least min_share of the
 * root, and above the (max_nodes + 1)-th largest value when too many pass. */
static int set_cut(flame *f, double min_share, size_t max_nodes)
{
    f->cut = f->nodes[0].value * min_share;
    f->over = -1;
    size_t pass = 0;
    for (size_t i = 1; i < f->nnode; i++) pass += f->nodes[i].value >= f->cut;
    if (pass <= max_nodes) return 0;
    double *v = malloc(pass * sizeof *v);
    if (v == NULL) return RCGC_ENOMEM;
    size_t k = 0;
    for (size_t i = 1; i < f->nnode; i++)
        if (f->nodes[i].value >= f->cut) v[k++] = f->nodes[i].value;
    qsort(v, k, sizeof *v, cmp_desc);
    f->over = v[max_nodes];
    free(v);
    return 0;
}

static int node_kept(const flame *f, uint32_t id)
{
    double v = f->nodes[id].value;
    return v > 0 && v >= f->cut && v > f->over;
}

flame *flame_build(const rcgc_statistic *stats, rcgc_ssize n, int is_diff,
                   double min_share, size_t max_nodes)
{
    flame *f = calloc(1, sizeof *f);
    if (f == NULL || node_add(f, NONE, NONE) == NONE) goto fail;
    for (rcgc_ssize i = 0; i < n; i++) {
        double w = is_diff ? stats[i].size_diff : stats[i].size;
        if (!(w > 0) || !isfinite(w)) continue; /* growth only, for a diff */
        if (add_path(f, stats[i].traceback, w) != 0) goto fail;
    }
    if (set_cut(f, min_share, max_nodes) != 0) goto fail;
    return f;
fail:
    flame_free(f);
    return NULL;
}

void flame_free(flame *f)
{
    if (f == NULL) return;
    free(f->nodes);
    free(f->frames);
    free(f->fhash);
    free(f->nhash);
    free(f);
}

/* ---- the JSON ---- */

struct visit {
    uint32_t node;   /* NONE: an "other" node */
    uint32_t parent; /* the parent's output index (NONE for the root) */
    double value;    /* an "other" node's value */
};

struct writer {
    const flame *f;
    FILE *out;
    struct visit *stack;
    size_t depth, stack_cap;
    uint32_t *frame_out; /* frame index -> output index + 1 (0: not yet) */
    uint32_t *used;      /* output frame index -> frame index */
    size_t nused;
    uint32_t nout;       /* nodes written */
    uint32_t *kids;      /* scratch: one node's kept children */
    size_t kids_cap;
};

static int cmp_value_desc(const void *a, const void *b, const flame *f)
{
    double x = f->nodes[*(const uint32_t *)a].value;
    double y = f->nodes[*(const uint32_t *)b].value;
    return (x < y) - (x > y);
}

/* qsort has no context argument: the tree being sorted, for cmp_kids. */
static const flame *sorting;

static int cmp_kids(const void *a, const void *b)
{
    return cmp_value_desc(a, b, sorting);
}

static int push(struct writer *w, uint32_t node, uint32_t parent, double value)
{
    if (array_reserve((void **)&w->stack, &w->stack_cap, w->depth + 1,
                      sizeof *w->stack) != 0)
        return RCGC_ENOMEM;
    w->stack[w->depth++] = (struct visit){node, parent, value};
    return 0;
}

/* Queue node's children, largest first, and their "other" node last. */
static int push_children(struct writer *w, uint32_t node, uint32_t out_index)
{
    const flame *f = w->f;
    size_t nk = 0;
    double rest = 0;
    for (uint32_t c = f->nodes[node].first_child; c != NONE;
         c = f->nodes[c].next_sibling) {
        if (!node_kept(f, c)) {
            rest += f->nodes[c].value;
            continue;
        }
        if (array_reserve((void **)&w->kids, &w->kids_cap, nk + 1,
                          sizeof *w->kids) != 0)
            return RCGC_ENOMEM;
        w->kids[nk++] = c;
    }
    sorting = f;
    if (nk > 1) qsort(w->kids, nk, sizeof *w->kids, cmp_kids);
    if (rest > 0 && push(w, NONE, out_index, rest) != 0) return RCGC_ENOMEM;
    for (size_t i = nk; i-- > 0;)
        if (push(w, w->kids[i], out_index, 0) != 0) return RCGC_ENOMEM;
    return 0;
}

static long frame_output_index(struct writer *w, uint32_t frame)
{
    if (w->frame_out[frame] == 0) {
        w->used[w->nused++] = frame;
        w->frame_out[frame] = (uint32_t)w->nused;
    }
    return (long)w->frame_out[frame] - 1;
}

static int write_nodes(struct writer *w)
{
    if (push(w, 0, NONE, 0) != 0) return RCGC_ENOMEM;
    while (w->depth > 0) {
        struct visit v = w->stack[--w->depth];
        const struct fnode *n = v.node != NONE ? &w->f->nodes[v.node] : NULL;
        long frame = n == NULL ? -2 : n->frame == NONE ? -1
                                    : frame_output_index(w, n->frame);
        fprintf(w->out, "%s[%ld,%ld,", w->nout ? ",\n" : "",
                v.parent == NONE ? -1L : (long)v.parent, frame);
        json_number(w->out, n != NULL ? n->value : v.value);
        fputc(']', w->out);
        uint32_t me = w->nout++;
        if (n != NULL && push_children(w, v.node, me) != 0) return RCGC_ENOMEM;
    }
    return 0;
}

int flame_write_json(const flame *f, FILE *out)
{
    struct writer w = {.f = f, .out = out};
    w.frame_out = calloc(f->nframe + 1, sizeof *w.frame_out);
    w.used = malloc((f->nframe + 1) * sizeof *w.used);
    int rc = RCGC_ENOMEM;
    if (w.frame_out == NULL || w.used == NULL) goto done;
    fputs("{\"total\":", out);
    json_number(out, f->nodes[0].value);
    fprintf(out, ",\"nodes_before_pruning\":%zu,\"nodes\":[", f->nnode);
    if ((rc = write_nodes(&w)) != 0) goto done;
    fputs("],\n\"frames\":[", out);
    for (size_t i = 0; i < w.nused; i++) {
        if (i > 0) fputs(",\n", out);
        json_frame(out, f->frames[w.used[i]]);
    }
    fputs("]}", out);
done:
    free(w.frame_out);
    free(w.used);
    free(w.stack);
    free(w.kids);
    return rc;
}
