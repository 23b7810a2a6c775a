/*
 * weak_parent_tree.c - a tree whose nodes point back to their parent.
 *
 *     class Node:
 *         def __init__(self, parent):
 *             self.children = []
 *             self.parent = weakref.ref(parent) if parent else None
 *
 * With a weak parent link the only strong references point down, so the
 * tree has no cycle: dropping the root frees every node at once, by
 * reference counting alone, and a collection afterwards finds nothing.
 * With a strong parent link (self.parent = parent) every parent-child pair
 * is a cycle: dropping the root frees nothing until the cycle collector
 * runs.  Both trees have branching 3 and depth 4: 121 nodes.
 */
#include <stdio.h>

#include "rcgc.h"

#define BRANCHING 3
#define DEPTH 4

typedef struct node {
    rcgc_object base;
    rcgc_object *children[BRANCHING]; /* strong */
    rcgc_object *parent;  /* a weak reference to the parent, or the parent */
} node;

static int nodes_alive;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    for (int i = 0; i < BRANCHING; i++) RCGC_VISIT(n->children[i]);
    RCGC_VISIT(n->parent);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    for (int i = 0; i < BRANCHING; i++) RCGC_CLEAR(rt, n->children[i]);
    RCGC_CLEAR(rt, n->parent);
}

static void node_release(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    nodes_alive--;
}

static const rcgc_type node_type = {.name = "node",
                                    .size = sizeof(node),
                                    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
                                    .traverse = node_traverse,
                                    .clear = node_clear,
                                    .release = node_release};

/* NEW: a subtree of the given depth under parent (NULL for the root). */
static rcgc_object *build(rcgc_runtime *rt, rcgc_object *parent, int depth,
                          int weak_parent)
{
    rcgc_object *o = rcgc_object_new(rt, &node_type);
    node *n = (node *)o;
    nodes_alive++;
    if (parent != NULL) {
        if (weak_parent) {
            n->parent = rcgc_weakref_new(rt, parent, NULL, NULL);
        } else {
            rcgc_incref(parent);
            n->parent = parent;
        }
    }
    rcgc_object_track(rt, o);
    if (depth > 0)
        for (int i = 0; i < BRANCHING; i++)
            n->children[i] = build(rt, o, depth - 1, weak_parent);
    return o;
}

/* Steps from the leftmost leaf up to the root, following weak parent links. */
static int steps_to_root(rcgc_runtime *rt, rcgc_object *root)
{
    rcgc_object *o = root;
    while (((node *)o)->children[0] != NULL) o = ((node *)o)->children[0];
    int steps = 0;
    rcgc_incref(o);
    while (((node *)o)->parent != NULL) {
        rcgc_object *up = rcgc_weakref_get(rt, ((node *)o)->parent); /* NEW */
        rcgc_decref(rt, o);
        o = up;
        steps++;
    }
    rcgc_decref(rt, o);
    return steps;
}

static void run(rcgc_runtime *rt, int weak_parent)
{
    rcgc_object *root = build(rt, NULL, DEPTH, weak_parent);
    printf("%s parent links: %d nodes built", weak_parent ? "weak" : "strong",
           nodes_alive);
    if (weak_parent) printf(", a leaf reaches the root in %d steps",
                            steps_to_root(rt, root));
    printf("\n");
    rcgc_decref(rt, root);
    printf("  root dropped: %d nodes alive\n", nodes_alive);
    rcgc_ssize found = rcgc_gc_collect(rt, 2);
    printf("  gc.collect() found %td, %d nodes alive\n", found, nodes_alive);
}

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    run(rt, 1);
    run(rt, 0);
    return rcgc_runtime_free(rt, NULL);
}
