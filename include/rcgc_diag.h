/*
 * rcgc_diag.h - leak diagnosis: what objgraph gives Python programs, for
 * rcgc runtimes (docs/diagnosis.md).
 *
 *   counts by type      rcgc_diag_count_types       objgraph.typestats,
 *                                                   show_most_common_types
 *   growth              rcgc_diag_growth_update     objgraph.show_growth
 *   objects of a type   rcgc_diag_by_type           objgraph.by_type
 *   why is it alive     rcgc_diag_why_alive         objgraph.find_backref_chain
 *   neighbourhoods      rcgc_diag_referrers         objgraph.show_backrefs
 *                       rcgc_diag_referents         objgraph.show_refs
 *   pictures            RCGC_DIAG_DOT, rcgc_diag_*_save, rcgc_diag_render
 *
 * Roots are the collector's own: an object is a root when its reference
 * count is larger than the number of references the tracked graph holds to
 * it (update_refs + subtract_refs of a full collection over every tracked
 * object, frozen ones included).  The difference, its "external" count, is
 * held by C code, untracked objects, immortal objects or the runtime itself
 * (the garbage list, registered finalize objects).
 *
 * Every function here walks the runtime's lists and must not be called
 * during a collection (from a finalizer, a weak reference callback or a gc
 * callback of that collection) or during teardown: it then returns
 * RCGC_EINVAL and changes nothing.  Functions that compute roots borrow the
 * collector's header words for the duration of the call, exactly as a
 * collection does, and restore them before returning; client code other
 * than traverse and ephemerons (labels, edge names) is only called after
 * that.  Memory comes from the runtime's MEM domain, also while the header
 * words are borrowed: its allocator and whatever hooks it has (the
 * program's allocator, the tracer's wrapper and frame provider) then run
 * too, and must not touch objects either (docs/diagnosis.md).
 */
#ifndef RCGC_DIAG_H
#define RCGC_DIAG_H

#include <stdio.h>

#include "rcgc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output formats of the writers.  Counts have no DOT form. */
typedef enum rcgc_diag_format {
    RCGC_DIAG_TEXT = 0, /* for people; objgraph's layout where it has one */
    RCGC_DIAG_JSON = 1, /* one JSON document */
    RCGC_DIAG_DOT = 2,  /* Graphviz */
    RCGC_DIAG_HTML = 3  /* one self-contained page (the dominator tree) */
} rcgc_diag_format;

/* ------------------------------------------------------------------------ */
/* Labels                                                                    */

/*
 * A label for o ("listener #12"): write at most size bytes, NUL included, to
 * buf (as snprintf) and return the length of the label, or 0 for none (the
 * type name alone is shown).  o is BORROWED and alive.  Called only by the
 * writers, never while the collector's headers are borrowed; it must not
 * free the objects of the result being written.
 */
typedef size_t (*rcgc_diag_label_fn)(rcgc_object *o, char *buf, size_t size,
                                     void *ctx);

/*
 * A name for the reference from referrer to referent ("items[3]",
 * ".handler").  index is the position of the reference in referrer's
 * traverse order (0 first), or -1 for an ephemeron value (held by a weak-key
 * table while its key lives).  Same rules as rcgc_diag_label_fn.  Without
 * one, edges are named "[index]" ("value" for ephemeron values).
 */
typedef size_t (*rcgc_diag_edge_fn)(rcgc_object *referrer,
                                    rcgc_object *referent, rcgc_ssize index,
                                    char *buf, size_t size, void *ctx);

/* Flags of rcgc_diag_options. */
#define RCGC_DIAG_NO_EXTERNALS 0x1u /* graphs: skip computing external
                                       counts (two fewer passes over every
                                       object; no node is marked a root) */
#define RCGC_DIAG_NO_ADDRESSES 0x2u /* writers: no pointer values in the
                                       output (stable text for tests and
                                       docs); nodes are numbered instead */

typedef struct rcgc_diag_options {
    size_t size;                 /* sizeof(rcgc_diag_options), set by
                                    rcgc_diag_options_init */
    rcgc_diag_label_fn label;    /* NULL: type names only */
    rcgc_diag_edge_fn edge_name; /* NULL: "[index]" */
    void *ctx;                   /* passed to both */
    /* why_alive: references to the target that the caller itself holds
     * (a C local it passed in, an array from rcgc_gc_get_objects): they are
     * subtracted from the target's external count so that they do not make
     * it a root.  0 by default. */
    rcgc_ssize ignore_refs;
    /* graphs: at most this many nodes (0: 200); the search stops adding
     * nodes there and marks the nodes it could not expand fully. */
    rcgc_ssize max_nodes;
    unsigned flags;              /* RCGC_DIAG_* above */
} rcgc_diag_options;

/* Fill opts with the defaults (all zero but size).  Every function taking
 * opts returns RCGC_EINVAL when opts->size is not sizeof(rcgc_diag_options)
 * (opts not filled by this function). */
RCGC_API void rcgc_diag_options_init(rcgc_diag_options *opts);

/* ------------------------------------------------------------------------ */
/* Counts by type                                                            */

typedef struct rcgc_diag_type_count {
    const char *name;       /* the type name (a copy owned by the result) */
    rcgc_ssize count;       /* tracked objects of that name */
    rcgc_ssize delta;       /* growth results: increase over the previous
                               peak; counts: 0 */
    size_t bytes;           /* their rcgc_sizeof, summed (pympler's
                               summary) */
} rcgc_diag_type_count;

typedef struct rcgc_diag_counts {
    rcgc_diag_type_count *items; /* most common first (growth: largest
                                    increase first); ties by name */
    rcgc_ssize n;                /* entries */
    rcgc_ssize total;            /* tracked objects counted */
    rcgc_ssize types;            /* distinct type names among them */
} rcgc_diag_counts;

/*
 * Count every tracked object (generations 0-2 and the frozen ones) by type
 * name, as objgraph.typestats, with their bytes: type descriptors with the
 * same name count together.  One read-only pass over the lists; the only
 * client code it calls is the types' extra_size hooks.  0, RCGC_ENOMEM or
 * RCGC_EINVAL; free *out with rcgc_diag_counts_free.
 */
RCGC_API int rcgc_diag_count_types(rcgc_runtime *rt, rcgc_diag_counts *out);
RCGC_API void rcgc_diag_counts_free(rcgc_runtime *rt, rcgc_diag_counts *c);

/* The count of one type name in c (0 if absent). */
RCGC_API rcgc_ssize rcgc_diag_counts_get(const rcgc_diag_counts *c, const char *name);

/* Write the first limit entries (all if limit <= 0) of counts or growth:
 * TEXT is objgraph's table ("name  count" or "name  count  +delta"), JSON
 * {"total":..,"types":..,"items":[{"type":..,"count":..,"bytes":..
 * [,"delta":..]}]}.
 * 0, or RCGC_EINVAL for DOT or a write error. */
RCGC_API int rcgc_diag_counts_write(FILE *f, const rcgc_diag_counts *c,
                                    rcgc_ssize limit, rcgc_diag_format format);

/* Growth between calls, as objgraph.show_growth: the state keeps, per type
 * name, the highest count seen so far (its peak). */
typedef struct rcgc_diag_growth rcgc_diag_growth;

/* A state with every peak at 0; NULL when out of memory.  It belongs to rt
 * (its memory too): free it before the runtime. */
RCGC_API rcgc_diag_growth *rcgc_diag_growth_new(rcgc_runtime *rt);
RCGC_API void rcgc_diag_growth_free(rcgc_runtime *rt, rcgc_diag_growth *g);

/*
 * Count now, and put in *out the types whose count rose above their peak,
 * with count and delta = count - peak, largest delta first; the peaks are
 * raised.  The first call reports every type.  0, RCGC_ENOMEM (the peaks
 * are then unchanged) or RCGC_EINVAL.  Free *out with rcgc_diag_counts_free.
 */
RCGC_API int rcgc_diag_growth_update(rcgc_runtime *rt, rcgc_diag_growth *g,
                                     rcgc_diag_counts *out);

/*
 * objgraph.by_type: store in out (room for max) BORROWED pointers to the
 * tracked objects whose type is named name, in list order, and return how
 * many there are in all (may exceed max).  The pointers are borrowed so that
 * holding them does not make the objects roots; they stay valid as long as
 * the program does nothing that may free those objects.
 */
RCGC_API rcgc_ssize rcgc_diag_by_type(rcgc_runtime *rt, const char *name,
                                      rcgc_object **out, rcgc_ssize max);

/* ------------------------------------------------------------------------ */
/* Why is this object alive                                                  */

typedef struct rcgc_diag_link {
    rcgc_object *obj;       /* NEW reference (dropped by rcgc_diag_path_free) */
    intptr_t refcnt;        /* its reference count at the query, without the
                               result's own reference */
    rcgc_ssize edge;        /* position of the reference from the previous
                               link in that link's traverse order; -1 for
                               an ephemeron value; -2 for the root; -3 if
                               the reference could not be found again */
    const char *allocated_at; /* where the tracer saw it allocated, "file:line
                               in function" (its most recent frame; a copy
                               owned by the result), NULL when the tracer was
                               not tracing or did not trace it */
} rcgc_diag_link;

typedef enum rcgc_diag_status {
    RCGC_DIAG_ROOTED = 0,     /* links[0] is a root and the chain reaches
                                 the target (links[n-1]) */
    RCGC_DIAG_UNREACHABLE = 1 /* no root reaches the target: it is garbage
                                 that the next collection of its generation
                                 will free (or put in the garbage list, if a
                                 legacy finalizer holds it); n == 1 */
} rcgc_diag_status;

typedef struct rcgc_diag_path {
    rcgc_diag_status status;
    rcgc_diag_link *links;       /* root first, target last */
    rcgc_ssize n;                /* links (1 when the target is a root) */
    rcgc_ssize root_external;    /* references to links[0] from outside the
                                    tracked graph (0 if unreachable) */
    rcgc_ssize root_in_garbage;  /* of those, held by the garbage list */
    rcgc_ssize target_external;  /* the target's own, after ignore_refs */
    rcgc_ssize roots;            /* roots in the whole tracked graph */
    rcgc_ssize objects;          /* tracked objects examined */
    rcgc_ssize visited;          /* objects the breadth-first search reached */
    rcgc_ssize inconsistent;     /* objects with fewer references than the
                                    graph holds to them (a traverse that
                                    reports references it does not own) */
} rcgc_diag_path;

/*
 * The shortest chain of strong references from a root to target (a tracked
 * object): the roots are found as a full collection would find them, then a
 * breadth-first search from all roots at once, over traverse and ephemeron
 * references, stops at the first path to the target.  opts may be NULL.
 * Returns 0 (see out->status), RCGC_EINVAL (NULL argument, untracked
 * target, or called during a collection or teardown), RCGC_ENOTGC (target's
 * type is not a GC type) or RCGC_ENOMEM; on error *out is zeroed and every
 * header is as it was.  Cost: two passes over the tracked objects, then
 * work on side arrays (about 12 bytes per object and 8 per reference) that
 * only visits the target's ancestors.
 */
RCGC_API int rcgc_diag_why_alive(rcgc_runtime *rt, rcgc_object *target,
                                 const rcgc_diag_options *opts, rcgc_diag_path *out);
RCGC_API void rcgc_diag_path_free(rcgc_runtime *rt, rcgc_diag_path *p);

/* TEXT: one line per link, root first; JSON: {"status":..,"chain":[..]};
 * DOT: the chain, root boxed with its external count, target highlighted.
 * opts (labels, edge names) may be NULL.  0 or RCGC_EINVAL. */
RCGC_API int rcgc_diag_path_write(FILE *f, const rcgc_diag_path *p,
                                  const rcgc_diag_options *opts,
                                  rcgc_diag_format format);

/* ------------------------------------------------------------------------ */
/* Neighbourhoods: referrers and referents to a depth                        */

/* Node flags. */
#define RCGC_DIAG_NODE_START 0x1u     /* the object asked about */
#define RCGC_DIAG_NODE_ROOT 0x2u      /* external > 0 */
#define RCGC_DIAG_NODE_TRACKED 0x4u   /* tracked (external is known) */
#define RCGC_DIAG_NODE_TRUNCATED 0x8u /* has neighbours left out: by
                                         max_nodes, or (referents) it lies
                                         at the maximum depth and refers to
                                         more */

typedef struct rcgc_diag_node {
    rcgc_object *obj;       /* NEW reference */
    intptr_t refcnt;        /* at the query, without the result's reference */
    rcgc_ssize external;    /* references from outside the tracked graph;
                               -1 if untracked or not computed */
    int depth;              /* distance from the start object */
    unsigned flags;         /* RCGC_DIAG_NODE_* */
} rcgc_diag_node;

typedef struct rcgc_diag_edge {
    rcgc_ssize from, to;    /* node indexes: from holds a reference to to */
    rcgc_ssize index;       /* as rcgc_diag_link.edge */
} rcgc_diag_edge;

typedef struct rcgc_diag_graph {
    rcgc_diag_node *nodes;  /* nodes[0] is the start object */
    rcgc_ssize nnodes;
    rcgc_diag_edge *edges;
    rcgc_ssize nedges;
    int referrers;          /* 1: built by rcgc_diag_referrers */
} rcgc_diag_graph;

/*
 * objgraph.show_backrefs as data: the tracked objects that refer to o, those
 * that refer to them, and so on to depth levels (breadth first), with every
 * reference between the nodes found.  o may be any object (untracked, or of
 * a non-GC type).  Each level costs one pass over every tracked object;
 * external counts (unless RCGC_DIAG_NO_EXTERNALS) two more.  0,
 * RCGC_EINVAL, RCGC_ENOMEM.  Free *out with rcgc_diag_graph_free.
 */
RCGC_API int rcgc_diag_referrers(rcgc_runtime *rt, rcgc_object *o, int depth,
                                 const rcgc_diag_options *opts, rcgc_diag_graph *out);

/* objgraph.show_refs as data: what o refers to, to depth levels, by
 * traverse and ephemerons (objects of non-GC types are leaves). */
RCGC_API int rcgc_diag_referents(rcgc_runtime *rt, rcgc_object *o, int depth,
                                 const rcgc_diag_options *opts, rcgc_diag_graph *out);
RCGC_API void rcgc_diag_graph_free(rcgc_runtime *rt, rcgc_diag_graph *g);

/* TEXT: an indented tree; JSON: {"nodes":[..],"edges":[..]}; DOT. */
RCGC_API int rcgc_diag_graph_write(FILE *f, const rcgc_diag_graph *g,
                                   const rcgc_diag_options *opts,
                                   rcgc_diag_format format);

/* ------------------------------------------------------------------------ */
/* Deep sizes                                                                */

/* Flags of rcgc_diag_deep_size. */
#define RCGC_DIAG_DEEP_SKIP_FROZEN 0x1u   /* stop at frozen objects
                                             (rcgc_gc_freeze): neither
                                             counted nor entered */
#define RCGC_DIAG_DEEP_SKIP_IMMORTAL 0x2u /* stop at immortal objects */
#define RCGC_DIAG_DEEP_SKIP_SHARED 0x4u   /* count only what o alone holds:
                                             an object that something outside
                                             what o reaches also refers to
                                             (its reference count says so),
                                             and all it reaches, are left out.
                                             What freeing o would free, found
                                             without a walk of the heap */

typedef struct rcgc_diag_deep_result {
    size_t size;          /* bytes (rcgc_sizeof of each object counted) */
    rcgc_ssize objects;   /* objects counted, o included */
    rcgc_ssize skipped;   /* objects reached and left out by the flags */
} rcgc_diag_deep_result;

/*
 * pympler's asizeof: the bytes of o and of everything it reaches through
 * traverse and ephemerons (tracked or not; objects of non-GC types are
 * leaves), each counted once; flags as above (0: everything).  o itself is
 * always counted.  Calls only traverse, ephemerons and extra_size; changes
 * nothing.  0, RCGC_EINVAL (NULL argument, unknown flag, during a
 * collection or teardown), RCGC_ENOMEM, RCGC_EFAILED (a traverse returned
 * non-zero); *out is zeroed on error.  Memory: about 40 bytes per object
 * reached.
 */
RCGC_API int rcgc_diag_deep_size(rcgc_runtime *rt, rcgc_object *o, unsigned flags,
                                 rcgc_diag_deep_result *out);

/* ------------------------------------------------------------------------ */
/* What holds the memory: dominators and retained sizes                      */

/*
 * The dominator tree of the tracked graph (Eclipse MAT's and Chrome's):
 * a synthetic root has an edge to every root (as why_alive finds them), the
 * objects' traverse and ephemeron references are the other edges, and X
 * dominates Y when every path from the synthetic root to Y passes through
 * X.  What X retains is X and everything it dominates: the objects, and
 * their bytes (rcgc_sizeof), that would be freed if the references to X
 * went.  Tracked objects that no root reaches (cyclic garbage the next
 * collection frees) are counted apart.
 *
 * One computation serves both functions below: three passes over the
 * tracked objects with the collector's header words borrowed (number,
 * edges, then a second traverse of the reachable ones for predecessors),
 * an iterative depth-first search and Georgiadis' semi-NCA on side arrays:
 * about 32 bytes per object and 4 per reference at the peak, any depth.
 * Client code: traverse and ephemerons (twice each) while the headers are
 * borrowed, then the types' extra_size hooks.  Not during a collection or
 * teardown (RCGC_EINVAL).
 */
typedef struct rcgc_diag_domtree {
    rcgc_object **objs;     /* BORROWED: every object a root reaches, in the
                               search's preorder (a dominator comes before
                               what it dominates) */
    rcgc_ssize *idom;       /* per object: the index in objs of its
                               immediate dominator, -1 for the synthetic
                               root */
    size_t *self_size;      /* per object: rcgc_sizeof */
    size_t *retained_size;  /* per object: self_size plus what it dominates */
    rcgc_ssize n;           /* objects in objs */
    rcgc_ssize objects;     /* tracked objects in all (n + unreachable) */
    rcgc_ssize edges;       /* references between tracked objects */
    rcgc_ssize roots;
    rcgc_ssize unreachable; /* tracked objects no root reaches */
    size_t unreachable_size;
    size_t total_size;      /* bytes of the n reachable objects */
    rcgc_ssize inconsistent;/* objects with fewer references than the graph
                               holds to them (a traverse that over-reports) */
    size_t scratch_bytes;   /* the computation's peak side memory */
} rcgc_diag_domtree;

/*
 * The whole tree, for programs that export or draw it.  The pointers are
 * borrowed (holding them makes nothing a root): valid as long as the program
 * does nothing that may free those objects.  opts may be NULL (unused
 * today).  0, RCGC_EINVAL, RCGC_ENOMEM, RCGC_EFAILED (a traverse returned
 * non-zero), RCGC_ECORRUPT (traverse reported different references in two
 * passes); on error *out is zeroed.  Free with rcgc_diag_domtree_free.
 */
RCGC_API int rcgc_diag_dominators(rcgc_runtime *rt, const rcgc_diag_options *opts,
                                  rcgc_diag_domtree *out);
RCGC_API void rcgc_diag_domtree_free(rcgc_runtime *rt, rcgc_diag_domtree *t);

/*
 * The tree's largest branches (at most max_nodes objects, 0: 2000; none
 * under 0.1% of the total), chosen best first so that each shown object's
 * dominator is shown.  TEXT: an indented tree of retained bytes, type and
 * label; JSON: {"total_size",..,"nodes":[[parent, type, label, self,
 * retained],..]} (parent an index into nodes, -1 for the synthetic root);
 * HTML: one self-contained page (nothing loaded from elsewhere) with an
 * icicle chart of retained sizes and a table of the largest.  Labels from
 * opts->label; the tree's objects must still be alive.  0, RCGC_EINVAL
 * (NULL argument, DOT, a write error), RCGC_ENOMEM.
 */
RCGC_API int rcgc_diag_domtree_write(rcgc_runtime *rt, FILE *f, const rcgc_diag_domtree *t,
                                     rcgc_ssize max_nodes, const rcgc_diag_options *opts,
                                     rcgc_diag_format format);

typedef struct rcgc_diag_retainer {
    rcgc_object *obj;        /* NEW reference (dropped by _retained_free) */
    size_t self_size;        /* rcgc_sizeof(obj) */
    size_t retained_size;    /* bytes freed if the references to obj went */
    rcgc_ssize retained_count; /* objects freed then, obj included */
    rcgc_ssize depth;        /* in the dominator tree: 1 under the synthetic
                                root (a root, or reached by several roots) */
    rcgc_ssize idom;         /* index in items of its immediate dominator;
                                -1: the synthetic root or not among items */
    int root;                /* 1: referenced from outside the tracked graph */
    uint64_t snapshot_id;    /* its node id in a heap snapshot written while
                                the tracked heap is unchanged
                                (rcgc_diag_heapsnapshot_write) */
} rcgc_diag_retainer;

typedef struct rcgc_diag_type_size {
    const char *name;        /* the type name (a copy owned by the result) */
    rcgc_ssize count;        /* reachable tracked objects of that name */
    size_t self_size;        /* their bytes */
    size_t retained_size;    /* the retained sizes of the instances that no
                                other instance of the name dominates
                                (Chrome DevTools' and memlab's rule); what
                                removing every instance frees can be more,
                                when instances jointly hold objects */
} rcgc_diag_type_size;

typedef struct rcgc_diag_retainers {
    rcgc_diag_retainer *items; /* the top retainers: largest retained size
                                  first, ties in preorder */
    rcgc_ssize n;
    rcgc_diag_type_size *types; /* every type name, largest retained size
                                   first, ties by name */
    rcgc_ssize ntypes;
    rcgc_ssize objects, edges, roots, reachable, unreachable, inconsistent;
    size_t total_size, unreachable_size, scratch_bytes; /* as in the tree */
} rcgc_diag_retainers;

/*
 * The top retainers (the top objects that retain most, 0: 20) and the sizes
 * by type.  0, or the errors of rcgc_diag_dominators (RCGC_EINVAL also for
 * top < 0); free *out with rcgc_diag_retainers_free.
 */
RCGC_API int rcgc_diag_top_retainers(rcgc_runtime *rt, rcgc_ssize top,
                                const rcgc_diag_options *opts,
                                rcgc_diag_retainers *out);
RCGC_API void rcgc_diag_retainers_free(rcgc_runtime *rt, rcgc_diag_retainers *r);

/* TEXT: the totals, the top retainers as a table (retained bytes, objects,
 * self bytes, type, label), indented under their dominator when it is
 * listed, then the types; JSON: {"objects":..,"total_size":..,
 * "retainers":[..],"types":[..]}.  limit bounds both lists (<= 0: all).
 * 0, or RCGC_EINVAL for DOT or a write error. */
RCGC_API int rcgc_diag_retainers_write(FILE *f, const rcgc_diag_retainers *r,
                                      rcgc_ssize limit,
                                      const rcgc_diag_options *opts,
                                      rcgc_diag_format format);

/* ------------------------------------------------------------------------ */
/* Heap snapshots for Chrome DevTools and memlab                             */

/*
 * Write the tracked graph as a V8 heap snapshot (the ".heapsnapshot" JSON
 * that Chrome DevTools' Memory panel loads, and memlab): a synthetic root
 * whose elements are the roots; an object node per tracked object, named by
 * its type, with rcgc_sizeof as self size (at most 2^32 - 1: DevTools keeps
 * 32 bits); its references as element edges numbered in traverse order, or
 * property edges named by opts->edge_name when it gives a name, and
 * ephemeron values as internal edges named "value"; tracked objects no root
 * reaches hang under a synthetic "(garbage awaiting collection)" node.
 * Those tools then compute dominators and retained sizes themselves (the
 * same as rcgc_diag_top_retainers', docs/diagnosis.md).  Node ids are the
 * walk position (5 + 2i), not stable across snapshots.  Headers are
 * borrowed as for rcgc_diag_dominators; edge_name and the types' extra_size
 * run after.  opts may be NULL.  0, RCGC_EINVAL (NULL argument, busy),
 * RCGC_ENOMEM, RCGC_EFAILED (a traverse failed, or a write error),
 * RCGC_ECORRUPT.
 */
RCGC_API int rcgc_diag_heapsnapshot_write(rcgc_runtime *rt, FILE *f,
                                          const rcgc_diag_options *opts);
/* The same into filename: written to a new file beside it (mode 0600,
 * created exclusively, never through a symbolic link), then renamed over
 * filename, so that a reader never sees half of it. */
RCGC_API int rcgc_diag_heapsnapshot_save(rcgc_runtime *rt, const char *filename,
                                         const rcgc_diag_options *opts);

/* ------------------------------------------------------------------------ */
/* Files and Graphviz                                                        */

/*
 * Save a chain or a graph to filename, by its extension: ".dot" or ".gv"
 * writes DOT, ".json" JSON, ".txt" text; ".svg", ".png" or ".pdf" writes
 * DOT to filename + ".dot" and renders it with rcgc_diag_render.  0,
 * RCGC_EINVAL (unknown extension, cannot write), RCGC_ENOTFOUND (dot is not
 * installed), RCGC_EFAILED (dot failed).
 */
RCGC_API int rcgc_diag_path_save(const rcgc_diag_path *p, const rcgc_diag_options *opts,
                                 const char *filename);
RCGC_API int rcgc_diag_graph_save(const rcgc_diag_graph *g,
                                  const rcgc_diag_options *opts, const char *filename);

/*
 * Run Graphviz: dot -T<format> -o out_file dot_file (fork and exec, no
 * shell; the program is $RCGC_DOT if set, else "dot" searched in PATH).
 * format is "svg", "png", "pdf" or any other -T format.  0, RCGC_EINVAL,
 * RCGC_ENOTFOUND (the program could not be executed: Graphviz is not
 * installed), RCGC_EFAILED (dot ran and failed; its messages went to
 * stderr).  rcgc_diag_have_dot says whether the program can be executed.
 */
RCGC_API int rcgc_diag_render(const char *dot_file, const char *out_file,
                              const char *format);
RCGC_API int rcgc_diag_have_dot(void);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_DIAG_H */
