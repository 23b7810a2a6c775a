/*
 * heapsnap_random.c - a random heap for the memlab check (memlab.sh):
 * N objects of three types wired at random (cycles, self-loops, shared
 * children), a few roots, cyclic garbage no root reaches, and a weak-key
 * map whose values are ephemerons.  Writes DIR/random_retained.json (the
 * top 50 retainers, rcgc's JSON), then DIR/random.heapsnapshot and the
 * dominator tree's page DIR/random_dominators.html.
 *
 *   heapsnap_random DIR [N] [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"
#include "rcgc_diag.h"

typedef struct box {
    rcgc_object ob;
    rcgc_ssize n;
    rcgc_object *items[4];
} box;

static int box_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    box *b = (box *)self;
    for (rcgc_ssize i = 0; i < b->n; i++) RCGC_VISIT(b->items[i]);
    return 0;
}

static void box_clear(rcgc_runtime *rt, rcgc_object *self)
{
    box *b = (box *)self;
    while (b->n > 0) {
        rcgc_ssize i = --b->n;
        RCGC_CLEAR(rt, b->items[i]);
    }
}

static size_t box_extra(const rcgc_object *self)
{
    return (size_t)((const box *)self)->n * 100; /* a buffer per reference */
}

#define BOX_TYPE(nm) {.name = nm, .size = sizeof(box), .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF, \
                      .traverse = box_traverse, .clear = box_clear, .extra_size = box_extra}
static const rcgc_type types[3] = {BOX_TYPE("alpha"), BOX_TYPE("beta"), BOX_TYPE("gamma")};

static unsigned long long state = 0x2545F4914F6CDD1Dull;

static unsigned long long rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: heapsnap_random DIR [N] [SEED]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 5000;
    if (argc > 3) state ^= strtoull(argv[3], NULL, 10);
    if (n < 10) n = 10;
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL) return 1;
    rcgc_gc_disable(rt);
    rcgc_object **all = calloc((size_t)n, sizeof *all);
    if (all == NULL) return 1;
    for (long i = 0; i < n; i++) {
        all[i] = rcgc_object_new(rt, &types[rnd() % 3]);
        if (all[i] == NULL) return 1;
        rcgc_object_track(rt, all[i]);
    }
    for (long i = 0; i < n; i++) {
        box *b = (box *)all[i];
        int k = (int)(rnd() % 5);
        for (int e = 0; e < k; e++) {
            /* mostly near neighbours (a heap has locality), sometimes far */
            long j = rnd() % 4 ? (i + 1 + (long)(rnd() % 8)) % n : (long)(rnd() % (unsigned long long)n);
            rcgc_incref(all[j]);
            b->items[b->n++] = all[j];
        }
    }
    /* roots: a few held by this program; the rest only by the graph */
    int nroots = 4;
    rcgc_object *roots[4];
    for (int r = 0; r < nroots; r++) roots[r] = all[rnd() % (unsigned long long)n];
    for (int r = 0; r < nroots; r++) rcgc_incref(roots[r]);
    /* a weak-key map held by a root: values live while their keys do */
    rcgc_object *map = rcgc_wkmap_new(rt);
    for (int i = 0; i < 20; i++) {
        rcgc_object *v = rcgc_object_new(rt, &types[0]);
        rcgc_object_track(rt, v);
        rcgc_wkmap_set(rt, map, all[rnd() % (unsigned long long)n], v);
        rcgc_decref(rt, v);
    }
    for (long i = 0; i < n; i++) rcgc_decref(rt, all[i]);
    free(all);
    /* garbage: a ring of 30 with a tail no root reaches */
    rcgc_object *first = NULL, *prev = NULL;
    for (int i = 0; i < 40; i++) {
        rcgc_object *o = rcgc_object_new(rt, &types[i % 3]);
        rcgc_object_track(rt, o);
        if (prev != NULL) ((box *)prev)->items[((box *)prev)->n++] = o; /* steals */
        else first = o;
        prev = o;
        if (i == 29) {
            rcgc_incref(first);
            ((box *)o)->items[((box *)o)->n++] = first;
        }
    }
    rcgc_decref(rt, first);

    char path[4096];
    rcgc_diag_retainers r;
    if (rcgc_diag_top_retainers(rt, 50, NULL, &r) != 0) return 1;
    snprintf(path, sizeof path, "%s/random_retained.json", argv[1]);
    FILE *f = fopen(path, "w");
    if (f == NULL) return 1;
    rcgc_diag_retainers_write(f, &r, 0, NULL, RCGC_DIAG_JSON);
    fclose(f);
    printf("random heap: %td objects, %td reachable, %td unreachable, %zu bytes\n",
           r.objects, r.reachable, r.unreachable, r.total_size);
    rcgc_diag_retainers_free(rt, &r); /* its references would be roots */
    snprintf(path, sizeof path, "%s/random.heapsnapshot", argv[1]);
    if (rcgc_diag_heapsnapshot_save(rt, path, NULL) != 0) return 1;
    rcgc_diag_domtree t; /* and the dominator tree's page */
    snprintf(path, sizeof path, "%s/random_dominators.html", argv[1]);
    f = fopen(path, "w");
    if (f == NULL || rcgc_diag_dominators(rt, NULL, &t) != 0) return 1;
    if (rcgc_diag_domtree_write(rt, f, &t, 0, NULL, RCGC_DIAG_HTML) != 0) return 1;
    fclose(f);
    rcgc_diag_domtree_free(rt, &t);

    for (int i = 0; i < nroots; i++) rcgc_decref(rt, roots[i]);
    rcgc_decref(rt, map);
    rcgc_gc_collect(rt, 2);
    return rcgc_runtime_free(rt, NULL) != 0;
}
