/*
 * diag_heapsnapshot.c - the tracked graph as a V8 heap snapshot (the JSON
 * ".heapsnapshot" format of Chrome DevTools' Memory panel, Node's
 * v8.writeHeapSnapshot and memlab), so that those tools show rcgc heaps:
 * summary by type, retainers, dominators and retained sizes computed by
 * their own code.  Format and mapping: docs/diagnosis.md ("Heap snapshots").
 *
 * The graph comes from diag_dom.c's forward pass (headers borrowed only
 * there); everything after runs on side arrays and live objects (sizes,
 * edge names), never changing them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diag/diag_dom.h"
#include "diag/diag_internal.h"
#include "platform/os.h"

/* V8's node and edge type numbers (the order of meta's type lists). */
enum { V8_NODE_OBJECT = 3, V8_NODE_SYNTHETIC = 9 };
enum { V8_EDGE_ELEMENT = 1, V8_EDGE_PROPERTY = 2, V8_EDGE_INTERNAL = 3 };
#define V8_NODE_FIELDS 7

#define NAME_MAX_BYTES 256

/* ---- the string table: every string once, in first-use order ---- */

struct strtab {
    rcgc_runtime *rt;
    char **str;         /* id -> string (owned) */
    uint32_t n, cap;
    uint32_t *slots;    /* open addressing: id + 1, 0 empty */
    size_t mask;
};

static uint64_t hs_str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int strtab_grow(struct strtab *t)
{
    size_t cap = (t->mask + 1) * 2;
    uint32_t *slots = rcgc__calloc(t->rt, cap, sizeof *slots);
    if (slots == NULL) return RCGC_ENOMEM;
    for (uint32_t id = 0; id < t->n; id++) {
        size_t i = hs_str_hash(t->str[id]) & (cap - 1);
        while (slots[i] != 0) i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    rcgc__free(t->rt, t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* The id of s, added if new; -1 when out of memory. */
static int64_t strtab_id(struct strtab *t, const char *s)
{
    if ((size_t)t->n * 2 + 2 > t->mask + 1 && strtab_grow(t) != 0) return -1;
    size_t i = hs_str_hash(s) & t->mask;
    for (; t->slots[i] != 0; i = (i + 1) & t->mask)
        if (strcmp(t->str[t->slots[i] - 1], s) == 0) return t->slots[i] - 1;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        char **p = rcgc__realloc(t->rt, t->str, (size_t)cap * sizeof *p);
        if (p == NULL) return -1;
        t->str = p;
        t->cap = cap;
    }
    size_t len = strlen(s) + 1;
    char *copy = rcgc__malloc(t->rt, len);
    if (copy == NULL) return -1;
    memcpy(copy, s, len);
    t->str[t->n] = copy;
    t->slots[i] = t->n + 1;
    return t->n++;
}

static void strtab_free(struct strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++) rcgc__free(t->rt, t->str[i]);
    rcgc__free(t->rt, t->str);
    rcgc__free(t->rt, t->slots);
}

/* ---- JSON ---- */

static const char META[] =
    "{\"snapshot\":{\"meta\":{"
    "\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\","
    "\"trace_node_id\",\"detachedness\"],"
    "\"node_types\":[[\"hidden\",\"array\",\"string\",\"object\",\"code\","
    "\"closure\",\"regexp\",\"number\",\"native\",\"synthetic\","
    "\"concatenated string\",\"sliced string\",\"symbol\",\"bigint\","
    "\"object shape\"],\"string\",\"number\",\"number\",\"number\",\"number\","
    "\"number\"],"
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
    "\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\","
    "\"hidden\",\"shortcut\",\"weak\"],\"string_or_number\",\"node\"],"
    "\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\","
    "\"script_id\",\"line\",\"column\"],"
    "\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\"size\","
    "\"children\"],"
    "\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],"
    "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},";

/* ---- the snapshot ---- */

struct hs {
    rcgc_runtime *rt;
    const rcgc_diag_options *opts;
    struct dom_fwd g;
    uint8_t *roots;
    rcgc_ssize nroots, inconsistent;
    rcgc_object **obj;     /* walk index -> object */
    uint8_t *reach;        /* walk index -> reachable from a root */
    rcgc_ssize unreachable;
    struct strtab strs;
    uint32_t base;         /* node number of walk index 0 */
    int first;             /* no edge written yet */
};

/* Between the numbers of two edges. */
static void edge_sep(struct hs *h, FILE *f)
{
    if (!h->first) fputs(",\n", f);
    h->first = 0;
}

static int hs_bit(const uint8_t *b, rcgc_ssize i)
{
    return (b[i >> 3] >> (i & 7)) & 1;
}

/* Objects by walk index, and what the roots reach (breadth first). */
static int prepare(struct hs *h)
{
    rcgc_ssize n = h->g.n;
    h->obj = rcgc__malloc(h->rt, (size_t)n * sizeof *h->obj + 1);
    h->reach = rcgc__calloc(h->rt, (size_t)n / 8 + 1, 1);
    uint32_t *queue = rcgc__malloc(h->rt, (size_t)n * sizeof *queue + 1);
    if (h->obj == NULL || h->reach == NULL || queue == NULL) {
        rcgc__free(h->rt, queue);
        return RCGC_ENOMEM;
    }
    rcgc_ssize v = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, h->rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; v < n && (o = rcgc__gcwalk_next(&w)) != NULL;) h->obj[v++] = o;
    rcgc_ssize head = 0, tail = 0;
    for (rcgc_ssize r = 0; r < n; r++)
        if (hs_bit(h->roots, r)) {
            h->reach[r >> 3] |= (uint8_t)(1u << (r & 7));
            queue[tail++] = (uint32_t)r;
        }
    while (head < tail) {
        uint32_t x = queue[head++];
        for (uint32_t e = h->g.start[x]; e < h->g.start[x + 1]; e++) {
            uint32_t c = h->g.child[e] & DOM_INDEX;
            if (hs_bit(h->reach, c)) continue;
            h->reach[c >> 3] |= (uint8_t)(1u << (c & 7));
            queue[tail++] = c;
        }
    }
    h->unreachable = n - tail;
    h->base = h->unreachable > 0 ? 2 : 1;
    rcgc__free(h->rt, queue);
    return 0;
}

static const char *hs_type_name(const rcgc_object *o)
{
    return o->type->name != NULL ? o->type->name : "?";
}

static int write_nodes(struct hs *h, FILE *f)
{
    fprintf(f, "\"nodes\":[%d,0,1,0,%td,0,0", V8_NODE_SYNTHETIC,
            h->nroots + (h->unreachable > 0));
    if (h->unreachable > 0) {
        int64_t name = strtab_id(&h->strs, "(garbage awaiting collection)");
        if (name < 0) return RCGC_ENOMEM;
        fprintf(f, ",\n%d,%lld,3,0,%td,0,0", V8_NODE_SYNTHETIC, (long long)name,
                h->unreachable);
    }
    for (rcgc_ssize v = 0; v < h->g.n; v++) {
        int64_t name = strtab_id(&h->strs, hs_type_name(h->obj[v]));
        if (name < 0) return RCGC_ENOMEM;
        size_t size = rcgc_sizeof(h->obj[v]);
        if (size > UINT32_MAX) size = UINT32_MAX; /* DevTools keeps 32 bits */
        fprintf(f, ",\n%d,%lld,%llu,%zu,%u,0,0", V8_NODE_OBJECT, (long long)name,
                (unsigned long long)RCGC__HEAPSNAPSHOT_ID(v), size,
                h->g.start[v + 1] - h->g.start[v]);
    }
    fputs("],\n", f);
    return 0;
}

/* One object's edges: named by the program's edge_name when it gives a
 * name (a property edge), else by position (an element edge); ephemeron
 * values are internal edges named "value". */
static int write_edges_of(struct hs *h, FILE *f, rcgc_ssize v)
{
    const rcgc_diag_options *opts = h->opts;
    rcgc_ssize pos = 0;
    for (uint32_t e = h->g.start[v]; e < h->g.start[v + 1]; e++) {
        uint32_t c = h->g.child[e] & DOM_INDEX;
        int eph = (h->g.child[e] & DOM_EPHEMERON) != 0;
        unsigned long long to = (unsigned long long)(h->base + c) * V8_NODE_FIELDS;
        char buf[NAME_MAX_BYTES];
        size_t len = 0;
        if (opts != NULL && opts->edge_name != NULL) {
            buf[0] = 0;
            len = opts->edge_name(h->obj[v], h->obj[c], eph ? -1 : pos, buf,
                                  sizeof buf, opts->ctx);
            buf[sizeof buf - 1] = 0;
        }
        edge_sep(h, f);
        if (len > 0 || eph) {
            int64_t name = strtab_id(&h->strs, len > 0 ? buf : "value");
            if (name < 0) return RCGC_ENOMEM;
            fprintf(f, "%d,%lld,%llu", eph ? V8_EDGE_INTERNAL : V8_EDGE_PROPERTY,
                    (long long)name, to);
        } else {
            fprintf(f, "%d,%td,%llu", V8_EDGE_ELEMENT, pos, to);
        }
        if (!eph) pos++;
    }
    return 0;
}

static int write_edges(struct hs *h, FILE *f)
{
    /* the synthetic root: the roots as elements, then the garbage node
     * with every unreachable object as its elements */
    fputs("\"edges\":[", f);
    h->first = 1;
    rcgc_ssize k = 0;
    for (rcgc_ssize v = 0; v < h->g.n; v++)
        if (hs_bit(h->roots, v)) {
            edge_sep(h, f);
            fprintf(f, "%d,%td,%llu", V8_EDGE_ELEMENT, k++,
                    (unsigned long long)(h->base + (uint32_t)v) * V8_NODE_FIELDS);
        }
    if (h->unreachable > 0) {
        int64_t name = strtab_id(&h->strs, "garbage");
        if (name < 0) return RCGC_ENOMEM;
        edge_sep(h, f);
        fprintf(f, "%d,%lld,%d", V8_EDGE_INTERNAL, (long long)name, V8_NODE_FIELDS);
        k = 0;
        for (rcgc_ssize v = 0; v < h->g.n; v++)
            if (!hs_bit(h->reach, v)) {
                edge_sep(h, f);
                fprintf(f, "%d,%td,%llu", V8_EDGE_ELEMENT, k++,
                        (unsigned long long)(h->base + (uint32_t)v) * V8_NODE_FIELDS);
            }
    }
    for (rcgc_ssize v = 0; v < h->g.n; v++) {
        int rc = write_edges_of(h, f, v);
        if (rc != 0) return rc;
    }
    fputs("],\n", f);
    return 0;
}

static void hs_free(struct hs *h)
{
    rcgc__forward_free(h->rt, &h->g, &h->roots);
    rcgc__free(h->rt, h->obj);
    rcgc__free(h->rt, h->reach);
    strtab_free(&h->strs);
}

int rcgc_diag_heapsnapshot_write(rcgc_runtime *rt, FILE *f,
                                 const rcgc_diag_options *opts)
{
    if (rt == NULL || f == NULL || busy(rt) || !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    struct hs h;
    memset(&h, 0, sizeof h);
    h.rt = rt;
    h.opts = opts;
    h.strs.rt = rt;
    int rc = rcgc__forward_graph(rt, &h.g, &h.roots, &h.nroots, &h.inconsistent);
    if (rc == 0) rc = prepare(&h);
    if (rc == 0 && strtab_id(&h.strs, "") != 0) rc = RCGC_ENOMEM;
    if (rc == 0) {
        rcgc_ssize edges = h.g.m + h.nroots;
        if (h.unreachable > 0) edges += 1 + h.unreachable;
        fputs(META, f);
        fprintf(f, "\"node_count\":%td,\"edge_count\":%td,\"trace_function_count\":0},\n",
                h.g.n + h.base, edges);
        rc = write_nodes(&h, f);
    }
    if (rc == 0) rc = write_edges(&h, f);
    if (rc == 0) {
        fputs("\"trace_function_infos\":[],\"trace_tree\":[],\"samples\":[],"
              "\"locations\":[],\n\"strings\":[",
              f);
        for (uint32_t i = 0; i < h.strs.n; i++) {
            if (i) fputs(",\n", f);
            rcgc__diag_json_string(f, h.strs.str[i], 0);
        }
        fputs("]}\n", f);
        if (ferror(f)) rc = RCGC_EFAILED;
    }
    hs_free(&h);
    return rc;
}

/* Into a new file next to filename (0600, created exclusively, never
 * through a symbolic link), renamed over filename once complete: a reader
 * never sees half a snapshot, and a link at filename is replaced, not
 * followed. */
int rcgc_diag_heapsnapshot_save(rcgc_runtime *rt, const char *filename,
                                const rcgc_diag_options *opts)
{
    if (rt == NULL || filename == NULL || *filename == 0 || busy(rt) ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    static unsigned counter;
    size_t n = strlen(filename) + 48;
    char *tmp = rcgc__malloc(rt, n);
    if (tmp == NULL) return RCGC_ENOMEM;
    int fd = -1, e = EEXIST;
    for (int attempt = 0; attempt < 100 && e == EEXIST; attempt++) {
        snprintf(tmp, n, "%s.tmp-%ld-%u", filename, rcgc__os_pid(), counter++);
        e = rcgc__os_file_create(tmp, &fd);
    }
    if (e != 0) {
        rcgc__free(rt, tmp);
        return e == ENOMEM ? RCGC_ENOMEM : RCGC_EFAILED;
    }
    FILE *f = NULL;
    if (rcgc__os_file_stream(fd, &f) != 0) {
        rcgc__os_close(fd);
        rcgc__os_unlink(tmp);
        rcgc__free(rt, tmp);
        return RCGC_ENOMEM;
    }
    int rc = rcgc_diag_heapsnapshot_write(rt, f, opts);
    if (fclose(f) != 0 && rc == 0) rc = RCGC_EFAILED;
    if (rc == 0 && rcgc__os_rename(tmp, filename) != 0) rc = RCGC_EFAILED;
    if (rc != 0) rcgc__os_unlink(tmp);
    rcgc__free(rt, tmp);
    return rc;
}
