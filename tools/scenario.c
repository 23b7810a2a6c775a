/*
 * scenario.c - the scenario runner on rcgc's public API (scenario format
 * version 1, ../shared/spec/scenario-format.md, and version 2,
 * scenario-format-v2.md, as tests/diff/oracle2.py implements it; the CPython
 * oracle is tests/diff/oracle.py, whose error texts and decisions this file
 * follows byte for byte: see the table at the top of oracle.py and
 * tests/diff/README.md).
 *
 * The object model mirrors the oracle's:
 *   - a node is one tracked, weakly referenceable object holding a list of
 *     references, released last to first after the list is detached (as
 *     CPython's list clear); every node has a finalizer, which does nothing
 *     without fin= (the oracle's nodes all have the same __del__);
 *   - a weak reference is an rcgc weak reference whose argument is a
 *     non-GC object holding its name and callback mode, so it never counts
 *     in a collection (the oracle's are ref subclass instances with str
 *     slots) and is never the shared basic reference (subclass instances
 *     never are in CPython);
 *   - the roots table and the saved list are runner structures, not objects;
 *   - version 2: weak containers, weak methods and finalize objects are the
 *     library's own (rcgc_wvmap_*, rcgc_wkmap_*, rcgc_wset_*,
 *     rcgc_weakmethod_*, rcgc_finalize_*), whose rules are CPython 3.11's
 *     (pending removals, commit points, allocation order); the runner only
 *     names their internal weak references (D:KEY, W:func, F:ref: the
 *     newest reference to the object right after the call, skipping the
 *     basic one) and keeps iterator state: an iterator is an rcgc object of
 *     a type the collector does not know, bound to a root, so that dropping
 *     it ends its rcgc_witer; invalidation (contract 6.5) is the runner's.
 *
 * Lines are parsed as a stream: of each line only the first few bytes of
 * the first four tokens are kept (every message needs less), so any line
 * length runs in constant memory.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"
#include "scenario.h"

#define NAME_MAX_LEN 64 /* [A-Za-z_][A-Za-z0-9_]{0,63} */
#define QUOTE_MAX 64    /* longer tokens are cut in messages */
#define KEEP 200        /* bytes kept per token: "fin=deref:" + NAME + ":" + a
                           cut name */
#define MAX_TOKENS 6    /* "ordered", an operation, at most four arguments */

/* ---- modes ---- */

enum mode_kind {
    MODE_NONE, MODE_LOG, MODE_RESURRECT, MODE_CLEAR, MODE_COLLECT, MODE_DROP,
    MODE_NEW, MODE_DEREF, MODE_WEAK, MODE_WEAKCB
};

typedef struct mode {
    enum mode_kind kind;
    char root[NAME_MAX_LEN + 1]; /* drop:ROOT, new:NAME, deref:W, weak:W */
    char root2[NAME_MAX_LEN + 1]; /* deref:W:ROOT: ROOT ("" if none) */
} mode;

/* ---- objects ---- */

typedef struct node {
    rcgc_object base;
    rcgc_object **items; /* strong references, in order */
    rcgc_ssize n, cap;
    mode fin;
    mode del; /* version 2: the legacy finalizer's mode (del= types only) */
    char name[NAME_MAX_LEN + 1];
} node;

typedef struct refinfo { /* a weak reference's name and callback mode */
    rcgc_object base;
    mode cb;
    char name[NAME_MAX_LEN + 1];
} refinfo;

/* ---- the runner's state ---- */

typedef struct root {
    char name[NAME_MAX_LEN + 1];
    rcgc_object *obj; /* strong */
    unsigned char state; /* 0 empty, 1 bound, 2 deleted */
} root;

struct runner {
    rcgc_runtime *rt;
    FILE *out, *err;
    long line;            /* the line whose operation runs */
    int finished;         /* after the last line: handlers do nothing */
    int nomem;            /* an allocation failed: stop */
    root *roots;          /* open addressing, power-of-two size */
    size_t nroots, used, cap;
    rcgc_object **saved;  /* strong references */
    size_t nsaved, saved_cap;
    rcgc_gc_stats base[RCGC_NUM_GENERATIONS];
    /* events of the current line, written when it succeeds */
    char *ev;
    size_t evlen, evcap;
    /* version 2 */
    int version_known;    /* the first operation line was seen */
    int v2;               /* a version-2 file */
    int gccb;             /* gccb on */
    int ordered;          /* an ordered operation runs: events get "@K " */
    long ordered_k;       /* events so far on this ordered line */
    long collections;     /* collections started (the gc callback) */
    struct wname *wnames; /* weak reference -> name, open addressing */
    size_t nwnames, wcap;
};

/* The name of a weak reference, a container or a finalize object, and its
 * kind (WN_PLAIN: the basic, shared reference). */
enum { WN_WEAK, WN_PLAIN, WN_METHOD, WN_INTERNAL, WN_OTHER };
struct wname {
    const rcgc_object *wr; /* NULL: empty slot */
    int plain;             /* WN_* below */
    char name[NAME_MAX_LEN + 1];
};

/* Handlers are called by the library with no context: the runner running
 * now (scenarios run one at a time). */
static struct runner *R;

#if defined(__GNUC__)
#define PRINTF_LIKE __attribute__((format(printf, 1, 2)))
#else
#define PRINTF_LIKE
#endif

static void emit(const char *fmt, ...) PRINTF_LIKE;
static int fail(const char *fmt, ...) PRINTF_LIKE;

/* Append to the line's event buffer. */
static void ev_append(const char *text, size_t len)
{
    if (R->evlen + len + 1 > R->evcap) {
        size_t cap = R->evcap ? R->evcap : 256;
        while (cap < R->evlen + len + 1) cap *= 2;
        char *p = realloc(R->ev, cap);
        if (p == NULL) {
            R->nomem = 1;
            return;
        }
        R->ev = p;
        R->evcap = cap;
    }
    memcpy(R->ev + R->evlen, text, len);
    R->evlen += len;
}

/* One event of the current line ("LINE [@K ]TEXT"), kept until the line
 * ends: an ordered line that starts a collection prints none of them. */
static void emit(const char *fmt, ...)
{
    if (R->finished) return;
    char head[64];
    int n = R->ordered ? snprintf(head, sizeof head, "%ld @%ld ", R->line, ++R->ordered_k)
                       : snprintf(head, sizeof head, "%ld ", R->line);
    ev_append(head, (size_t)n);
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len >= 0 && (size_t)len < sizeof small) {
        ev_append(small, (size_t)len);
    } else if (len >= 0) {
        char *big = malloc((size_t)len + 1);
        if (big != NULL) {
            vsnprintf(big, (size_t)len + 1, fmt, ap2);
            ev_append(big, (size_t)len);
            free(big);
        } else {
            R->nomem = 1;
        }
    }
    va_end(ap2);
    ev_append("\n", 1);
}

static void ev_flush(void)
{
    if (R->evlen > 0) fwrite(R->ev, 1, R->evlen, R->out);
    R->evlen = 0;
}

/* ---- roots ---- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    while (*s) h = (h ^ (unsigned char)*s++) * 0x100000001b3u;
    return h;
}

static root *roots_slot(const char *name, int for_insert)
{
    if (R->cap == 0) return NULL;
    size_t mask = R->cap - 1;
    root *tomb = NULL;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        root *r = &R->roots[i];
        if (r->state == 0) return for_insert && tomb != NULL ? tomb : (for_insert ? r : NULL);
        if (r->state == 2) {
            if (tomb == NULL) tomb = r;
        } else if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
}

static rcgc_object *roots_get(const char *name)
{
    root *r = roots_slot(name, 0);
    return r != NULL && r->state == 1 ? r->obj : NULL;
}

static int roots_grow(void)
{
    size_t cap = R->cap ? R->cap * 2 : 64;
    root *old = R->roots;
    size_t old_cap = R->cap;
    R->roots = calloc(cap, sizeof *R->roots);
    if (R->roots == NULL) {
        R->roots = old;
        return -1;
    }
    R->cap = cap;
    R->used = R->nroots;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].state != 1) continue;
        root *r = roots_slot(old[i].name, 1);
        *r = old[i];
    }
    free(old);
    return 0;
}

/* Bind name to obj (STEALS the reference); name must be unbound. */
static int roots_put(const char *name, rcgc_object *obj)
{
    if ((R->used + 1) * 2 > R->cap && roots_grow() != 0) return -1;
    root *r = roots_slot(name, 1);
    if (r->state == 0) R->used++;
    strcpy(r->name, name);
    r->obj = obj;
    r->state = 1;
    R->nroots++;
    return 0;
}

/* Unbind name if bound: the entry goes first, then the reference (whose
 * release can run handlers that use the table). */
static void unbind(const char *name)
{
    root *r = roots_slot(name, 0);
    if (r == NULL || r->state != 1) return;
    rcgc_object *o = r->obj;
    r->obj = NULL;
    r->state = 2;
    R->nroots--;
    rcgc_decref(R->rt, o);
}

/* ---- nodes ---- */

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    for (rcgc_ssize i = 0; i < n->n; i++) RCGC_VISIT(n->items[i]);
    return 0;
}

/* CPython's list clear: detach the items, then release them last to first. */
static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    rcgc_object **items = n->items;
    rcgc_ssize count = n->n;
    n->items = NULL;
    n->n = n->cap = 0;
    while (count > 0) rcgc_decref(rt, items[--count]);
    rcgc_mem_free(rt, items);
}

static void node_release(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    rcgc_mem_free(rt, n->items);
    n->items = NULL;
}

static void saved_append(rcgc_object *o);
static void action(const char *hook, rcgc_object *obj, const char *name, const mode *m);

static int node_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    node *n = (node *)self;
    if (n->fin.kind == MODE_NONE || R->finished) return 0;
    action("fin", self, n->name, &n->fin);
    return 0;
}

static int node_legacy_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    node *n = (node *)self;
    if (n->del.kind == MODE_NONE || R->finished) return 0;
    action("del", self, n->name, &n->del);
    return 0;
}

static const rcgc_type node_type = {
    .name = "Node",
    .size = sizeof(node),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release};

/* Version 2: a node with a legacy finalizer (del=), and untracked nodes (a
 * type the collector does not know: no RCGC_TYPE_GC, not weakly
 * referenceable; they never hold references). */
static const rcgc_type delnode_type = {
    .name = "DelNode",
    .size = sizeof(node),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .legacy_finalize = node_legacy_finalize,
    .release = node_release};

static const rcgc_type unode_type = {
    .name = "UNode",
    .size = sizeof(node),
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release};

static const rcgc_type udelnode_type = {
    .name = "UDelNode",
    .size = sizeof(node),
    .clear = node_clear,
    .finalize = node_finalize,
    .legacy_finalize = node_legacy_finalize,
    .release = node_release};

static const rcgc_type refinfo_type = {.name = "refinfo", .size = sizeof(refinfo)};

static int is_tracked_node(const rcgc_object *o)
{
    return o->type == &node_type || o->type == &delnode_type;
}

static int is_node(const rcgc_object *o)
{
    return is_tracked_node(o) || o->type == &unode_type || o->type == &udelnode_type;
}

static int node_append(node *n, rcgc_object *item)
{
    if (n->n == n->cap) {
        rcgc_ssize cap = n->cap ? n->cap * 2 : 4;
        void *p = rcgc_mem_realloc(R->rt, n->items, (size_t)cap * sizeof *n->items);
        if (p == NULL) return -1;
        n->items = p;
        n->cap = cap;
    }
    rcgc_incref(item);
    n->items[n->n++] = item;
    return 0;
}

static void node_remove(node *n, rcgc_object *item)
{
    for (rcgc_ssize i = 0; i < n->n; i++) {
        if (n->items[i] == item) {
            memmove(&n->items[i], &n->items[i + 1],
                    (size_t)(n->n - i - 1) * sizeof *n->items);
            n->n--;
            rcgc_decref(R->rt, item);
            return;
        }
    }
}

static int weak_callback(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    refinfo *ri = (refinfo *)arg;
    if (R->finished) return 0;
    action("cb", wr, ri->name, &ri->cb);
    return 0;
}

/* ---- weak reference names (version 2) ---- */

static uint64_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

static struct wname *wnames_find(const rcgc_object *wr)
{
    if (R->wcap == 0) return NULL;
    size_t mask = R->wcap - 1;
    for (size_t i = hash_ptr(wr) & mask;; i = (i + 1) & mask) {
        struct wname *e = &R->wnames[i];
        if (e->wr == wr) return e;
        if (e->wr == NULL) return NULL;
    }
}

/* Name a new weak reference (an old entry for a freed one at the same
 * address is overwritten). */
static void wnames_put(const rcgc_object *wr, const char *name, int plain)
{
    struct wname *e = wnames_find(wr);
    if (e == NULL) {
        if ((R->nwnames + 1) * 2 > R->wcap) {
            size_t cap = R->wcap ? R->wcap * 2 : 64;
            struct wname *t = calloc(cap, sizeof *t);
            if (t == NULL) {
                R->nomem = 1;
                return;
            }
            struct wname *old = R->wnames;
            size_t old_cap = R->wcap;
            R->wnames = t;
            R->wcap = cap;
            for (size_t i = 0; i < old_cap; i++) {
                if (old[i].wr == NULL) continue;
                size_t j = hash_ptr(old[i].wr) & (cap - 1);
                while (t[j].wr != NULL) j = (j + 1) & (cap - 1);
                t[j] = old[i];
            }
            free(old);
        }
        size_t mask = R->wcap - 1, i = hash_ptr(wr) & mask;
        while (R->wnames[i].wr != NULL) i = (i + 1) & mask;
        e = &R->wnames[i];
        e->wr = wr;
        R->nwnames++;
    }
    e->plain = plain;
    snprintf(e->name, sizeof e->name, "%s", name);
}

/* The name of any scenario object. */
static const char *name_of(const rcgc_object *o)
{
    if (is_node(o)) return ((const node *)o)->name;
    struct wname *e = wnames_find(o);
    return e != NULL ? e->name : "?";
}

/* ---- the saved list ---- */

static void saved_append(rcgc_object *o)
{
    if (R->nsaved == R->saved_cap) {
        size_t cap = R->saved_cap ? R->saved_cap * 2 : 16;
        rcgc_object **p = realloc(R->saved, cap * sizeof *p);
        if (p == NULL) {
            R->nomem = 1;
            return;
        }
        R->saved = p;
        R->saved_cap = cap;
    }
    rcgc_incref(o);
    R->saved[R->nsaved++] = o;
}

/* list.clear(): empty the list first, then release last to first (a
 * finalizer may append to the now empty list). */
static void saved_clear(void)
{
    rcgc_object **items = R->saved;
    size_t count = R->nsaved;
    R->saved = NULL;
    R->nsaved = R->saved_cap = 0;
    while (count > 0) rcgc_decref(R->rt, items[--count]);
    free(items);
}

/* ---- actions (version 2, section 5; version 1's modes are a subset) ---- */

/* Bind name to obj (STEALS the reference), replacing what it held (a hook
 * that ran inside the operation's allocation may have bound it). */
static void roots_set(const char *name, rcgc_object *obj)
{
    root *r = roots_slot(name, 0);
    if (r != NULL && r->state == 1) {
        rcgc_object *old = r->obj;
        r->obj = obj;
        rcgc_decref(R->rt, old);
        return;
    }
    if (roots_put(name, obj) != 0) {
        rcgc_decref(R->rt, obj);
        R->nomem = 1;
    }
}

/* NEW: a tracked node with no options (the object is not yet bound). */
static rcgc_object *make_node(const char *name, const mode *fin, const mode *del, int untracked)
{
    const rcgc_type *t = untracked ? (del->kind != MODE_NONE ? &udelnode_type : &unode_type)
                                   : (del->kind != MODE_NONE ? &delnode_type : &node_type);
    node *n = (node *)rcgc_object_new(R->rt, t);
    if (n == NULL) {
        R->nomem = 1;
        return NULL;
    }
    n->fin = *fin;
    n->del = *del;
    snprintf(n->name, sizeof n->name, "%s", name);
    if (!untracked) rcgc_object_track(R->rt, &n->base);
    return &n->base;
}

/* NEW: a weak reference named wname to target (a tracked node), with the
 * callback cb (MODE_NONE: none); never the shared basic reference. */
static rcgc_object *make_ref(const char *wname, rcgc_object *target, const mode *cb)
{
    refinfo *ri = (refinfo *)rcgc_object_new(R->rt, &refinfo_type);
    if (ri == NULL) {
        R->nomem = 1;
        return NULL;
    }
    ri->cb = *cb;
    snprintf(ri->name, sizeof ri->name, "%s", wname);
    rcgc_incref(target); /* held across the allocation, as CPython's argument */
    rcgc_object *wr = rcgc_weakref_new(R->rt, target,
                                       cb->kind != MODE_NONE ? weak_callback : NULL, &ri->base);
    rcgc_decref(R->rt, &ri->base);
    if (wr == NULL)
        R->nomem = 1;
    else
        wnames_put(wr, wname, 0);
    rcgc_decref(R->rt, target);
    return wr;
}

/* What deref W shows now; *alive gets a NEW reference to the referent. */
static void deref_text(const char *wname, char *buf, size_t size, rcgc_object **alive)
{
    *alive = NULL;
    rcgc_object *wr = roots_get(wname);
    if (wr == NULL || !rcgc_is_weakref(wr)) {
        snprintf(buf, size, "deref %s none", wname);
        return;
    }
    struct wname *e = wnames_find(wr);
    if (e != NULL && e->plain == WN_METHOD) {
        rcgc_object *self, *func;
        if (rcgc_weakmethod_get(R->rt, wr, &self, &func) == 1) {
            snprintf(buf, size, "deref %s %s %s", wname, name_of(self), name_of(func));
            rcgc_decref(R->rt, func);
            *alive = self;
        } else {
            snprintf(buf, size, "deref %s dead", wname);
        }
        return;
    }
    rcgc_object *o = rcgc_weakref_get(R->rt, wr);
    snprintf(buf, size, "deref %s %s", wname, o != NULL ? name_of(o) : "dead");
    *alive = o;
}

/* Run a finalizer's, legacy finalizer's or callback's action: hook is its
 * event word ("fin", "del", "cb"), obj the node or weak reference. */
static void action(const char *hook, rcgc_object *obj, const char *name, const mode *m)
{
    emit("%s %s", hook, name);
    switch (m->kind) {
    case MODE_RESURRECT:
        saved_append(obj);
        break;
    case MODE_CLEAR:
        if (is_tracked_node(obj)) node_clear(R->rt, obj);
        break;
    case MODE_COLLECT: {
        rcgc_ssize n = rcgc_gc_collect(R->rt, 2);
        emit("%scollect %s %td", hook, name, n);
        break;
    }
    case MODE_DROP:
        unbind(m->root);
        break;
    case MODE_NEW:
        if (roots_get(m->root) == NULL) {
            static const mode none = {MODE_NONE, "", ""};
            rcgc_object *n = make_node(m->root, &none, &none, 0);
            if (n != NULL) roots_set(m->root, n);
        }
        break;
    case MODE_DEREF: {
        char text[3 * NAME_MAX_LEN + 16];
        rcgc_object *o;
        deref_text(m->root, text, sizeof text, &o);
        emit("%s", text);
        if (o != NULL && m->root2[0] != 0 && roots_get(m->root2) == NULL) {
            rcgc_incref(o);
            roots_set(m->root2, o);
        }
        rcgc_xdecref(R->rt, o);
        break;
    }
    case MODE_WEAK:
    case MODE_WEAKCB:
        if (roots_get(m->root) == NULL) {
            mode cb = {m->kind == MODE_WEAKCB ? MODE_LOG : MODE_NONE, "", ""};
            rcgc_object *wr = make_ref(m->root, obj, &cb);
            if (wr != NULL) roots_set(m->root, wr);
        }
        break;
    default:
        break;
    }
}

/* ---- lines ---- */

typedef struct line {
    long ntok;                       /* tokens on the line (saturates) */
    char tok[MAX_TOKENS][KEEP + 1];  /* first KEEP bytes of the first ones */
    size_t len[MAX_TOKENS];          /* their full lengths */
    int bad;                         /* first byte outside 0x21-0x7E, or -1 */
    int in_token;
} line;

/* A token as a message shows it: quoted, cut after 64 characters. */
static const char *quote(const char *text, size_t len)
{
    static char buf[QUOTE_MAX + 8];
    if (len > QUOTE_MAX)
        snprintf(buf, sizeof buf, "'%.*s...'", QUOTE_MAX, text);
    else
        snprintf(buf, sizeof buf, "'%.*s'", (int)len, text);
    return buf;
}

static char errbuf[256];

/* Record the error of the current line; returns -1 for the caller. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_name(const char *s, size_t len)
{
    if (len < 1 || len > NAME_MAX_LEN) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9')) return 0;
    }
    return 1;
}

/* The argument i of the line as a name (copied into out), or an error. */
static int arg_name(const line *L, int i, char *out)
{
    if (!is_name(L->tok[i], L->len[i])) return fail("bad name %s", quote(L->tok[i], L->len[i]));
    memcpy(out, L->tok[i], L->len[i]);
    out[L->len[i]] = 0;
    return 0;
}

/* fin=MODE or cb=MODE in argument i. */
static int arg_mode(const line *L, int i, const char *prefix, const char *kind,
                    int fin, mode *m)
{
    size_t plen = strlen(prefix);
    const char *t = L->tok[i];
    if (L->len[i] < plen || memcmp(t, prefix, plen) != 0)
        return fail("expected %sMODE, got %s", prefix, quote(t, L->len[i]));
    const char *text = t + plen;
    size_t len = L->len[i] - plen;
    static const struct {
        const char *word;
        enum mode_kind kind;
        int fin_only;
    } words[] = {{"log", MODE_LOG, 0},
                 {"resurrect", MODE_RESURRECT, 1},
                 {"clear", MODE_CLEAR, 1},
                 {"collect", MODE_COLLECT, 1}};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        if ((fin || !words[w].fin_only) && len == strlen(words[w].word) &&
            memcmp(text, words[w].word, len) == 0) {
            m->kind = words[w].kind;
            return 0;
        }
    }
    if (len >= 5 && memcmp(text, "drop:", 5) == 0) {
        if (!is_name(text + 5, len - 5))
            return fail("bad name %s", quote(text + 5, len - 5));
        m->kind = MODE_DROP;
        memcpy(m->root, text + 5, len - 5);
        m->root[len - 5] = 0;
        return 0;
    }
    return fail("unknown %s mode %s", kind, quote(text, len));
}

/* ---- binding checks ---- */

static rcgc_object *bound(const char *name)
{
    rcgc_object *o = roots_get(name);
    if (o == NULL) fail("'%s' is not bound", name);
    return o;
}

static int unbound(const char *name)
{
    return roots_get(name) != NULL ? fail("'%s' is already bound", name) : 0;
}

static node *bound_node(const char *name)
{
    rcgc_object *o = bound(name);
    if (o == NULL) return NULL;
    if (!is_node(o)) {
        fail("'%s' is not a node", name);
        return NULL;
    }
    return (node *)o;
}

/* ---- operations ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Print head followed by the names, sorted unless keep_order. */
static void emit_list(const char *head, const char **names, size_t n, int keep_order)
{
    if (!keep_order) qsort(names, n, sizeof *names, cmp_names);
    if (R->finished) return;
    size_t len = strlen(head) + 1;
    for (size_t i = 0; i < n; i++) len += strlen(names[i]) + 1;
    char *text = malloc(len);
    if (text == NULL) {
        R->nomem = 1;
        return;
    }
    char *p = text;
    p += sprintf(p, "%s", head);
    for (size_t i = 0; i < n; i++) p += sprintf(p, " %s", names[i]);
    emit("%s", text);
    free(text);
}

static void emit_names(const char *head, const char **names, size_t n)
{
    emit_list(head, names, n, 0);
}

static int op_new(const line *L)
{
    char name[NAME_MAX_LEN + 1];
    mode fin = {MODE_NONE, "", ""};
    if (arg_name(L, 1, name) || (L->ntok == 3 && arg_mode(L, 2, "fin=", "finalizer", 1, &fin)))
        return -1;
    if (unbound(name)) return -1;
    node *n = (node *)rcgc_object_new(R->rt, &node_type);
    if (n == NULL) return R->nomem = 1, 0;
    n->fin = fin;
    strcpy(n->name, name);
    rcgc_object_track(R->rt, &n->base);
    if (roots_put(name, &n->base) != 0) {
        rcgc_decref(R->rt, &n->base);
        R->nomem = 1;
    }
    return 0;
}

static int op_link(const line *L, int unlink)
{
    char src[NAME_MAX_LEN + 1], dst[NAME_MAX_LEN + 1];
    if (arg_name(L, 1, src) || arg_name(L, 2, dst)) return -1;
    node *n = bound_node(src);
    rcgc_object *target = n != NULL ? bound(dst) : NULL;
    if (target == NULL) return -1;
    if (unlink)
        node_remove(n, target);
    else if (node_append(n, target) != 0)
        R->nomem = 1;
    return 0;
}

static int op_clear(const line *L)
{
    char src[NAME_MAX_LEN + 1];
    if (arg_name(L, 1, src)) return -1;
    node *n = bound_node(src);
    if (n == NULL) return -1;
    rcgc_incref(&n->base); /* held until the line ends, as the oracle does */
    node_clear(R->rt, &n->base);
    rcgc_decref(R->rt, &n->base);
    return 0;
}

static int op_drop(const line *L)
{
    char name[NAME_MAX_LEN + 1];
    if (arg_name(L, 1, name) || bound(name) == NULL) return -1;
    unbind(name);
    return 0;
}

static int op_weak(const line *L)
{
    char wname[NAME_MAX_LEN + 1], target[NAME_MAX_LEN + 1];
    mode cb = {MODE_NONE, "", ""};
    if (arg_name(L, 1, wname) || arg_name(L, 2, target) ||
        (L->ntok == 4 && arg_mode(L, 3, "cb=", "callback", 0, &cb)))
        return -1;
    if (unbound(wname)) return -1;
    node *n = bound_node(target);
    if (n == NULL) return -1;
    refinfo *ri = (refinfo *)rcgc_object_new(R->rt, &refinfo_type);
    if (ri == NULL) return R->nomem = 1, 0;
    ri->cb = cb;
    strcpy(ri->name, wname);
    rcgc_object *wr = rcgc_weakref_new(R->rt, &n->base,
                                       cb.kind != MODE_NONE ? weak_callback : NULL,
                                       &ri->base);
    rcgc_decref(R->rt, &ri->base);
    if (wr == NULL || roots_put(wname, wr) != 0) {
        if (wr != NULL) rcgc_decref(R->rt, wr);
        R->nomem = 1;
    }
    return 0;
}

static int op_deref(const line *L)
{
    char wname[NAME_MAX_LEN + 1];
    if (arg_name(L, 1, wname)) return -1;
    rcgc_object *wr = bound(wname);
    if (wr == NULL) return -1;
    if (!rcgc_is_weakref(wr)) return fail("'%s' is not a weak reference", wname);
    rcgc_object *o = rcgc_weakref_get(R->rt, wr);
    emit("deref %s %s", wname, o != NULL ? ((node *)o)->name : "dead");
    rcgc_xdecref(R->rt, o);
    return 0;
}

static int op_collect(const line *L)
{
    int gen = 2;
    if (L->ntok == 2) {
        if (L->len[1] != 1 || L->tok[1][0] < '0' || L->tok[1][0] > '2')
            return fail("bad generation %s", quote(L->tok[1], L->len[1]));
        gen = L->tok[1][0] - '0';
    }
    rcgc_ssize n = rcgc_gc_collect(R->rt, gen);
    emit("collect %d %td", gen, n);
    return 0;
}

static int op_saved(void)
{
    const char **names = malloc((R->nsaved + 1) * sizeof *names);
    if (names == NULL) return R->nomem = 1, 0;
    for (size_t i = 0; i < R->nsaved; i++) names[i] = ((node *)R->saved[i])->name;
    emit_names("saved", names, R->nsaved);
    free(names);
    return 0;
}

static int op_referrers(const line *L)
{
    char name[NAME_MAX_LEN + 1];
    if (arg_name(L, 1, name)) return -1;
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    rcgc_object **holders;
    rcgc_ssize n = rcgc_gc_get_referrers(R->rt, &o, 1, &holders);
    if (n < 0) return R->nomem = 1, 0;
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    size_t k = 0;
    if (names != NULL) {
        for (rcgc_ssize i = 0; i < n; i++)
            if (is_node(holders[i])) names[k++] = ((node *)holders[i])->name;
        char head[NAME_MAX_LEN + 16];
        snprintf(head, sizeof head, "referrers %s", name);
        emit_names(head, names, k);
        free(names);
    } else {
        R->nomem = 1;
    }
    rcgc_objects_free(R->rt, holders, n);
    return 0;
}

static int op_stats(void)
{
    rcgc_gc_stats now[RCGC_NUM_GENERATIONS];
    rcgc_gc_get_stats(R->rt, now);
    emit("stats %td %td %td %td %td %td",
         now[0].collections - R->base[0].collections, now[0].collected - R->base[0].collected,
         now[1].collections - R->base[1].collections, now[1].collected - R->base[1].collected,
         now[2].collections - R->base[2].collections, now[2].collected - R->base[2].collected);
    return 0;
}

static const struct {
    const char *name;
    int fewest, most;
} ops[] = {{"new", 1, 2},     {"link", 2, 2},     {"unlink", 2, 2},   {"clear", 1, 1},
           {"drop", 1, 1},    {"weak", 2, 3},     {"deref", 1, 1},    {"collect", 0, 1},
           {"freeze", 0, 0},  {"unfreeze", 0, 0}, {"saved", 0, 0},    {"unsave", 0, 0},
           {"referrers", 1, 1}, {"stats", 0, 0}};

static const char *arity_text(int fewest, int most, char *buf, size_t size)
{
    if (most == 0)
        snprintf(buf, size, "no arguments");
    else if (fewest == most)
        snprintf(buf, size, most == 1 ? "1 argument" : "%d arguments", most);
    else
        snprintf(buf, size, "%d or %d arguments", fewest, most);
    return buf;
}

/* ---- version 2 ---- */

/* A token of the line, counted from the operation (ordered shifts it). */
typedef struct args {
    const line *L;
    int first;   /* index of the operation's token */
    long nargs;  /* arguments after it */
} args;

static const char *A_tok(const args *a, int i)
{
    return a->L->tok[a->first + i];
}

static size_t A_len(const args *a, int i)
{
    return a->L->len[a->first + i];
}

static int A_is(const args *a, int i, const char *word)
{
    return A_len(a, i) == strlen(word) && memcmp(A_tok(a, i), word, A_len(a, i)) == 0;
}

static int A_name(const args *a, int i, char *out)
{
    if (!is_name(A_tok(a, i), A_len(a, i))) return fail("bad name %s", quote(A_tok(a, i), A_len(a, i)));
    memcpy(out, A_tok(a, i), A_len(a, i));
    out[A_len(a, i)] = 0;
    return 0;
}

/* A name inside a mode: text (kept bytes) of full length len. */
static int mode_name(const char *text, size_t len, char *out)
{
    if (!is_name(text, len)) return fail("bad name %s", quote(text, len));
    memcpy(out, text, len);
    out[len] = 0;
    return 0;
}

/* Find c in the kept part of text (kept bytes avail, full length len);
 * returns its index or len when absent (a longer part is a bad name). */
static size_t find_colon(const char *text, size_t avail, size_t len)
{
    for (size_t i = 0; i < avail && i < len; i++)
        if (text[i] == ':') return i;
    return len;
}

/* MODE text (after "fin=", "del=", "cb=", "fn="): hook 0 fin, 1 del, 2 cb,
 * 3 fn (a finalize function: the modes of a callback). */
static int v2_mode(const char *text, size_t avail, size_t len, int hook, mode *m)
{
    static const char *const kinds[] = {"finalizer", "legacy finalizer", "callback",
                                        "finalize function"};
    static const struct {
        const char *word;
        enum mode_kind kind;
        int named; /* 1: WORD:NAME, 2: deref */
        int cb;    /* allowed for callbacks */
    } words[] = {{"log", MODE_LOG, 0, 1},      {"resurrect", MODE_RESURRECT, 0, 0},
                 {"clear", MODE_CLEAR, 0, 0},  {"collect", MODE_COLLECT, 0, 1},
                 {"drop", MODE_DROP, 1, 1},    {"new", MODE_NEW, 1, 1},
                 {"deref", MODE_DEREF, 2, 1},  {"weak", MODE_WEAK, 1, 0},
                 {"weakcb", MODE_WEAKCB, 1, 0}};
    size_t colon = find_colon(text, avail, len);
    int w = -1;
    for (int i = 0; i < (int)(sizeof words / sizeof words[0]); i++)
        if (colon == strlen(words[i].word) && memcmp(text, words[i].word, colon) == 0) w = i;
    if (w < 0 || (hook >= 2 && !words[w].cb) || (words[w].named != 0) != (colon < len))
        return fail("unknown %s mode %s", kinds[hook], quote(text, len));
    memset(m, 0, sizeof *m);
    m->kind = words[w].kind;
    if (colon == len) return 0;
    const char *rest = text + colon + 1;
    size_t rest_avail = avail > colon + 1 ? avail - colon - 1 : 0;
    size_t rest_len = len - colon - 1;
    if (words[w].named == 1) return mode_name(rest, rest_len, m->root);
    size_t c2 = find_colon(rest, rest_avail, rest_len);
    if (mode_name(rest, c2, m->root)) return -1;
    if (c2 < rest_len) return mode_name(rest + c2 + 1, rest_len - c2 - 1, m->root2);
    return 0;
}

/* The kept bytes of argument i from offset off, and their count. */
static size_t A_avail(const args *a, int i, size_t off)
{
    size_t kept = A_len(a, i) < KEEP ? A_len(a, i) : KEEP;
    return kept > off ? kept - off : 0;
}

static int bound_any_node(const char *name, node **out)
{
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    if (!is_node(o)) return fail("'%s' is not a node", name);
    *out = (node *)o;
    return 0;
}

static int bound_tracked_node(const char *name, node **out)
{
    if (bound_any_node(name, out)) return -1;
    if (!is_tracked_node(&(*out)->base)) return fail("'%s' is not a tracked node", name);
    return 0;
}

static int bound_weak(const char *name, rcgc_object **out)
{
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    if (!rcgc_is_weakref(o)) return fail("'%s' is not a weak reference", name);
    *out = o;
    return 0;
}

/* ---- weak containers, iterators, weak methods, finalize objects (v2
 * sections 4.4-4.6 and 6) ---- */

/* The library's container and finalize types, learnt from the first object
 * of each kind made (rcgc_object.type is public; the runner compares
 * pointers and never looks inside). */
static const rcgc_type *wvd_type, *wkd_type, *wset_type, *fin_type;

enum { C_WVD = 1, C_WKD = 2, C_WSET = 4 };

static int container_kind(const rcgc_object *o)
{
    if (o == NULL || o->type == NULL) return 0;
    if (o->type == wvd_type) return C_WVD;
    if (o->type == wkd_type) return C_WKD;
    if (o->type == wset_type) return C_WSET;
    return 0;
}

static int is_finalize(const rcgc_object *o)
{
    return fin_type != NULL && o->type == fin_type;
}

/* An iterator: a runner structure bound to a root.  It is an rcgc object of
 * a type the collector does not know (never counted, never collected, never
 * a referrer or referent), so that roots hold it like anything else and
 * dropping its last root ends the iteration. */
typedef struct iterobj {
    rcgc_object base;
    rcgc_witer it;
    rcgc_object *container; /* borrowed: the iteration holds it */
    int active;             /* registered on the container */
    int invalid;            /* invalidated (6.5): next is an error */
    struct iterobj *prev, *next; /* the runner's list of active iterators */
    char name[NAME_MAX_LEN + 1];
} iterobj;

static iterobj *active_iters;

static void iter_finish(iterobj *I)
{
    if (!I->active) return;
    I->active = 0;
    if (I->prev != NULL)
        I->prev->next = I->next;
    else
        active_iters = I->next;
    if (I->next != NULL) I->next->prev = I->prev;
    I->prev = I->next = NULL;
    rcgc_witer_end(&I->it); /* commits, releases the entry, then the container */
}

static void iter_clear(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    iter_finish((iterobj *)self);
}

static const rcgc_type iter_type = {
    .name = "Iterator", .size = sizeof(iterobj), .clear = iter_clear};

static int is_iter(const rcgc_object *o)
{
    return o->type == &iter_type;
}

/* Section 6.5: an operation naming container c invalidates every other
 * active iterator on it. */
static void invalidate(const rcgc_object *c, const iterobj *except)
{
    for (iterobj *I = active_iters; I != NULL; I = I->next)
        if (I->container == c && I != except) I->invalid = 1;
}

/* A finalize object's function: its mode and name, runner memory (freed
 * when the runner ends: the finalize object may outlive every root). */
typedef struct fninfo {
    struct fninfo *next;
    mode fn;
    char name[NAME_MAX_LEN + 1];
} fninfo;

static fninfo *fninfos;

static int finalize_fn(rcgc_runtime *rt, rcgc_object *arg, void *ctx)
{
    (void)rt, (void)arg;
    fninfo *fi = ctx;
    if (R == NULL || R->finished) return 0;
    action("fn", NULL, fi->name, &fi->fn);
    return 0;
}

/* Name the newest weak reference (other than except) to target, which the
 * library just made for an entry, a weak method or a finalize object: it is
 * the first of the list, unless the list starts with the basic reference. */
static void name_newest_ref(rcgc_object *target, const rcgc_object *except, const char *name)
{
    rcgc_object **refs;
    rcgc_ssize k = rcgc_weakref_list(R->rt, target, &refs);
    if (k < 0) {
        R->nomem = 1;
        return;
    }
    rcgc_ssize i = 0;
    while (i < k && refs[i] == except) i++;
    if (i < k && rcgc_weakref_is_basic(refs[i])) i++;
    while (i < k && refs[i] == except) i++;
    if (i < k) wnames_put(refs[i], name, WN_INTERNAL);
    rcgc_objects_free(R->rt, refs, k);
}

/* Internal reference names: "D:KEY", "W:func", "F:ref". */
static void internal_name(char *out, size_t size, const char *owner, const char *what)
{
    snprintf(out, size, "%s:%s", owner, what);
}

static int bound_container(const char *name, int kinds, const char *what, rcgc_object **out)
{
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    if (!(container_kind(o) & kinds)) return fail("'%s' is not %s", name, what);
    *out = o;
    return 0;
}

static int v2_container_new(const args *a, int kind)
{
    char name[NAME_MAX_LEN + 1];
    if (A_name(a, 1, name) || unbound(name)) return -1;
    rcgc_object *c = kind == C_WVD ? rcgc_wvmap_new(R->rt)
                   : kind == C_WKD ? rcgc_wkmap_new(R->rt) : rcgc_wset_new(R->rt);
    if (c == NULL) return R->nomem = 1, 0;
    const rcgc_type **t = kind == C_WVD ? &wvd_type : kind == C_WKD ? &wkd_type : &wset_type;
    if (*t == NULL) *t = c->type;
    wnames_put(c, name, WN_OTHER);
    roots_set(name, c);
    return 0;
}

static int v2_put(const args *a)
{
    char d[NAME_MAX_LEN + 1], k[NAME_MAX_LEN + 1], v[NAME_MAX_LEN + 1];
    char iname[2 * NAME_MAX_LEN + 2];
    rcgc_object *c;
    if (A_name(a, 1, d) || A_name(a, 2, k) || A_name(a, 3, v) ||
        bound_container(d, C_WVD | C_WKD, "a weak dict", &c))
        return -1;
    if (container_kind(c) == C_WVD) {
        node *value;
        if (bound_tracked_node(v, &value)) return -1;
        invalidate(c, NULL);
        rcgc_object *val = &value->base;
        rcgc_incref(val); /* the arguments live across the call, as CPython's */
        rcgc_incref(c);
        int r = rcgc_wvmap_set(R->rt, c, k, strlen(k), val);
        if (r == 0) {
            internal_name(iname, sizeof iname, d, k);
            name_newest_ref(val, NULL, iname);
        } else {
            R->nomem = 1;
        }
        rcgc_decref(R->rt, c);
        rcgc_decref(R->rt, val);
        return 0;
    }
    node *key;
    if (bound_tracked_node(k, &key)) return -1;
    rcgc_object *val = bound(v);
    if (val == NULL) return -1;
    if (!is_node(val) && !rcgc_is_weakref(val))
        return fail("'%s' is not a node or a weak reference", v);
    invalidate(c, NULL);
    rcgc_incref(&key->base);
    rcgc_incref(val);
    rcgc_incref(c);
    int had = rcgc_wkmap_contains(R->rt, c, &key->base);
    if (rcgc_wkmap_set(R->rt, c, &key->base, val) != 0)
        R->nomem = 1;
    else if (!had) {
        internal_name(iname, sizeof iname, d, k);
        name_newest_ref(&key->base, NULL, iname);
    }
    rcgc_decref(R->rt, c);
    rcgc_decref(R->rt, val);
    rcgc_decref(R->rt, &key->base);
    return 0;
}

static int v2_add(const args *a, int discard)
{
    char s[NAME_MAX_LEN + 1], x[NAME_MAX_LEN + 1];
    char iname[2 * NAME_MAX_LEN + 2];
    rcgc_object *c;
    node *n;
    if (A_name(a, 1, s) || A_name(a, 2, x) || bound_container(s, C_WSET, "a weak set", &c) ||
        bound_tracked_node(x, &n))
        return -1;
    invalidate(c, NULL);
    rcgc_incref(&n->base);
    rcgc_incref(c);
    if (discard) {
        rcgc_wset_discard(R->rt, c, &n->base);
    } else {
        int had = rcgc_wset_contains(R->rt, c, &n->base);
        if (rcgc_wset_add(R->rt, c, &n->base) != 0)
            R->nomem = 1;
        else if (!had) {
            internal_name(iname, sizeof iname, s, x);
            name_newest_ref(&n->base, NULL, iname);
        }
    }
    rcgc_decref(R->rt, c);
    rcgc_decref(R->rt, &n->base);
    return 0;
}

/* del D KEY, get D KEY, has C X (op 0, 1, 2). */
static int v2_lookup(const args *a, int op)
{
    char d[NAME_MAX_LEN + 1], k[NAME_MAX_LEN + 1];
    rcgc_object *c;
    if (A_name(a, 1, d) || A_name(a, 2, k)) return -1;
    if (op == 2 ? bound_container(d, C_WVD | C_WKD | C_WSET, "a container", &c)
                : bound_container(d, C_WVD | C_WKD, "a weak dict", &c))
        return -1;
    int kind = container_kind(c);
    node *key = NULL;
    if (kind != C_WVD && bound_tracked_node(k, &key)) return -1;
    invalidate(c, NULL);
    rcgc_incref(c);
    if (key != NULL) rcgc_incref(&key->base);
    if (op == 0) {
        if (kind == C_WVD)
            rcgc_wvmap_delete(R->rt, c, k, strlen(k));
        else
            rcgc_wkmap_delete(R->rt, c, &key->base);
    } else if (op == 1) {
        rcgc_object *v = kind == C_WVD ? rcgc_wvmap_get(R->rt, c, k, strlen(k))
                                       : rcgc_wkmap_get(R->rt, c, &key->base);
        emit("get %s %s %s", d, k, v != NULL ? name_of(v) : "none");
        rcgc_xdecref(R->rt, v);
    } else {
        int yes = kind == C_WVD ? rcgc_wvmap_contains(R->rt, c, k, strlen(k))
                : kind == C_WKD ? rcgc_wkmap_contains(R->rt, c, &key->base)
                                : rcgc_wset_contains(R->rt, c, &key->base);
        emit("has %s %s %s", d, k, yes ? "yes" : "no");
    }
    if (key != NULL) rcgc_decref(R->rt, &key->base);
    rcgc_decref(R->rt, c);
    return 0;
}

static int v2_len(const args *a)
{
    char d[NAME_MAX_LEN + 1];
    rcgc_object *c;
    if (A_name(a, 1, d) || bound_container(d, C_WVD | C_WKD | C_WSET, "a container", &c))
        return -1;
    invalidate(c, NULL);
    emit("len %s %td", d, rcgc_weak_len(R->rt, c));
    return 0;
}

static int cmp_strings(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* items C: a whole iteration; the yielded pairs are copied as text. */
static int v2_items(const args *a)
{
    char d[NAME_MAX_LEN + 1];
    rcgc_object *c;
    if (A_name(a, 1, d) || bound_container(d, C_WVD | C_WKD | C_WSET, "a container", &c))
        return -1;
    invalidate(c, NULL);
    int kind = container_kind(c);
    char **texts = NULL;
    size_t n = 0, cap = 0;
    rcgc_witer it;
    if (rcgc_witer_begin(R->rt, c, &it) != 0) return R->nomem = 1, 0;
    while (rcgc_witer_next(&it) == 1) {
        char buf[2 * NAME_MAX_LEN + 2];
        if (kind == C_WVD)
            snprintf(buf, sizeof buf, "%.*s=%s", (int)it.key_len, (const char *)it.key,
                     name_of(it.value));
        else if (kind == C_WKD)
            snprintf(buf, sizeof buf, "%s=%s", name_of(it.key_obj), name_of(it.value));
        else
            snprintf(buf, sizeof buf, "%s", name_of(it.key_obj));
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **p = realloc(texts, cap * sizeof *p);
            if (p == NULL) {
                R->nomem = 1;
                break;
            }
            texts = p;
        }
        texts[n] = malloc(strlen(buf) + 1);
        if (texts[n] != NULL) strcpy(texts[n], buf);
        if (texts[n] == NULL) {
            R->nomem = 1;
            break;
        }
        n++;
    }
    rcgc_witer_end(&it);
    if (n > 0) qsort(texts, n, sizeof *texts, cmp_strings);
    char head[NAME_MAX_LEN + 16];
    snprintf(head, sizeof head, "items %s", d);
    emit_list(head, (const char **)texts, n, 1);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    return 0;
}

static int v2_iter(const args *a)
{
    char i[NAME_MAX_LEN + 1], d[NAME_MAX_LEN + 1];
    rcgc_object *c;
    if (A_name(a, 1, i) || A_name(a, 2, d) || unbound(i) ||
        bound_container(d, C_WVD | C_WKD, "a weak dict", &c))
        return -1;
    invalidate(c, NULL);
    iterobj *I = (iterobj *)rcgc_object_new(R->rt, &iter_type);
    if (I == NULL) return R->nomem = 1, 0;
    snprintf(I->name, sizeof I->name, "%s", i);
    if (rcgc_witer_begin(R->rt, c, &I->it) != 0) {
        rcgc_decref(R->rt, &I->base);
        return R->nomem = 1, 0;
    }
    I->container = c;
    I->active = 1;
    I->next = active_iters;
    if (active_iters != NULL) active_iters->prev = I;
    active_iters = I;
    roots_set(i, &I->base);
    return 0;
}

static int v2_next(const args *a)
{
    char i[NAME_MAX_LEN + 1];
    if (A_name(a, 1, i)) return -1;
    rcgc_object *o = bound(i);
    if (o == NULL) return -1;
    if (!is_iter(o)) return fail("'%s' is not an iterator", i);
    iterobj *I = (iterobj *)o;
    if (I->invalid && I->active) return fail("'%s' is invalidated", i);
    if (!I->active) {
        emit("next %s end", i);
        return 0;
    }
    rcgc_incref(o); /* a finalizer run by the move may drop the root */
    int kind = container_kind(I->container);
    if (rcgc_witer_next(&I->it) == 1) {
        if (kind == C_WVD)
            emit("next %s %.*s %s", i, (int)I->it.key_len, (const char *)I->it.key,
                 name_of(I->it.value));
        else
            emit("next %s %s %s", i, name_of(I->it.key_obj), name_of(I->it.value));
    } else {
        iter_finish(I);
        emit("next %s end", i);
    }
    rcgc_decref(R->rt, o);
    return 0;
}

static int v2_wmethod(const args *a)
{
    char w[NAME_MAX_LEN + 1], on[NAME_MAX_LEN + 1], fn[NAME_MAX_LEN + 1];
    char iname[NAME_MAX_LEN + 8];
    mode cb = {MODE_NONE, "", ""};
    node *obj, *func;
    if (A_name(a, 1, w) || A_name(a, 2, on) || A_name(a, 3, fn)) return -1;
    if (a->nargs == 4) {
        const char *t = A_tok(a, 4);
        size_t len = A_len(a, 4);
        if (len < 3 || memcmp(t, "cb=", 3) != 0)
            return fail("expected cb=MODE, got %s", quote(t, len));
        if (v2_mode(t + 3, A_avail(a, 4, 3), len - 3, 2, &cb)) return -1;
    }
    if (unbound(w) || bound_tracked_node(on, &obj) || bound_tracked_node(fn, &func)) return -1;
    refinfo *ri = (refinfo *)rcgc_object_new(R->rt, &refinfo_type);
    if (ri == NULL) return R->nomem = 1, 0;
    ri->cb = cb;
    strcpy(ri->name, w);
    rcgc_incref(&obj->base);
    rcgc_incref(&func->base);
    rcgc_object *m = rcgc_weakmethod_new(R->rt, &obj->base, &func->base,
                                         cb.kind != MODE_NONE ? weak_callback : NULL, &ri->base);
    rcgc_decref(R->rt, &ri->base);
    if (m != NULL) {
        wnames_put(m, w, WN_METHOD);
        internal_name(iname, sizeof iname, w, "func");
        name_newest_ref(&func->base, m, iname);
        roots_set(w, m);
    } else {
        R->nomem = 1;
    }
    rcgc_decref(R->rt, &func->base);
    rcgc_decref(R->rt, &obj->base);
    return 0;
}

static int v2_finalize(const args *a)
{
    char f[NAME_MAX_LEN + 1], t[NAME_MAX_LEN + 1];
    char iname[NAME_MAX_LEN + 8];
    mode fn = {MODE_LOG, "", ""};
    node *target;
    if (A_name(a, 1, f) || A_name(a, 2, t)) return -1;
    if (a->nargs == 3) {
        const char *tok = A_tok(a, 3);
        size_t len = A_len(a, 3);
        if (len < 3 || memcmp(tok, "fn=", 3) != 0)
            return fail("expected fn=MODE, got %s", quote(tok, len));
        if (v2_mode(tok + 3, A_avail(a, 3, 3), len - 3, 3, &fn)) return -1;
    }
    if (unbound(f) || bound_tracked_node(t, &target)) return -1;
    fninfo *fi = malloc(sizeof *fi);
    if (fi == NULL) return R->nomem = 1, 0;
    fi->fn = fn;
    snprintf(fi->name, sizeof fi->name, "%s", f);
    fi->next = fninfos;
    fninfos = fi;
    rcgc_incref(&target->base);
    rcgc_object *F = rcgc_finalize_new(R->rt, &target->base, finalize_fn, NULL, fi);
    if (F != NULL) {
        if (fin_type == NULL) fin_type = F->type;
        wnames_put(F, f, WN_OTHER);
        internal_name(iname, sizeof iname, f, "ref");
        name_newest_ref(&target->base, NULL, iname);
        roots_set(f, F);
    } else {
        R->nomem = 1;
    }
    rcgc_decref(R->rt, &target->base);
    return 0;
}

/* call, detach, peek, alive (op 0..3). */
static int v2_fin_op(const args *a, int op)
{
    char f[NAME_MAX_LEN + 1];
    if (A_name(a, 1, f)) return -1;
    rcgc_object *F = bound(f);
    if (F == NULL) return -1;
    if (!is_finalize(F)) return fail("'%s' is not a finalize object", f);
    rcgc_incref(F);
    if (op == 0) {
        int r = rcgc_finalize_call(R->rt, F, NULL);
        emit("call %s %s", f, r == 1 ? "yes" : "no");
    } else if (op == 3) {
        emit("alive %s %s", f, rcgc_finalize_alive(F) ? "yes" : "no");
    } else {
        rcgc_object *obj = NULL;
        /* CPython answers None, and does not detach, when the object is
         * gone while the finalize object is still registered. */
        rcgc_object *peeked = NULL;
        if (op == 1 && rcgc_finalize_peek(R->rt, F, &peeked, NULL) == 1 && peeked != NULL)
            rcgc_finalize_detach(R->rt, F, &obj, NULL);
        else if (op == 2)
            rcgc_finalize_peek(R->rt, F, &obj, NULL);
        rcgc_xdecref(R->rt, peeked);
        emit("%s %s %s", op == 1 ? "detach" : "peek", f, obj != NULL ? name_of(obj) : "none");
        rcgc_xdecref(R->rt, obj);
    }
    rcgc_decref(R->rt, F);
    return 0;
}

static int v2_new(const args *a)
{
    char name[NAME_MAX_LEN + 1];
    mode fin = {MODE_NONE, "", ""}, del = {MODE_NONE, "", ""};
    int untracked = 0, seen = 0;
    if (A_name(a, 1, name)) return -1;
    for (int i = 2; i <= a->nargs; i++) {
        const char *t = A_tok(a, i);
        size_t len = A_len(a, i);
        int key;
        if (A_is(a, i, "untracked"))
            key = 1;
        else if (len >= 4 && memcmp(t, "fin=", 4) == 0)
            key = 2;
        else if (len >= 4 && memcmp(t, "del=", 4) == 0)
            key = 4;
        else
            return fail("unknown option %s", quote(t, len));
        if (seen & key) return fail("duplicate option %s", quote(t, len));
        seen |= key;
        if (key == 1)
            untracked = 1;
        else if (v2_mode(t + 4, A_avail(a, i, 4), len - 4, key == 2 ? 0 : 1, key == 2 ? &fin : &del))
            return -1;
    }
    if (untracked) {
        for (int i = 2; i <= a->nargs; i++) {
            const char *t = A_tok(a, i);
            if (A_len(a, i) < 4 || A_is(a, i, "untracked")) continue;
            const mode *m = t[0] == 'f' ? &fin : &del;
            if (m->kind == MODE_WEAK || m->kind == MODE_WEAKCB)
                return fail("an untracked node cannot have mode %s", quote(t + 4, A_len(a, i) - 4));
        }
    }
    if (unbound(name)) return -1;
    rcgc_object *n = make_node(name, &fin, &del, untracked);
    if (n != NULL) roots_set(name, n);
    return 0;
}

static int v2_link(const args *a, int unlink)
{
    char src[NAME_MAX_LEN + 1], dst[NAME_MAX_LEN + 1];
    node *n;
    if (A_name(a, 1, src) || A_name(a, 2, dst) || bound_tracked_node(src, &n)) return -1;
    rcgc_object *target = bound(dst);
    if (target == NULL) return -1;
    if (!unlink && !is_node(target) && !rcgc_is_weakref(target))
        return fail("'%s' is not a node or a weak reference", dst);
    if (unlink)
        node_remove(n, target);
    else if (node_append(n, target) != 0)
        R->nomem = 1;
    return 0;
}

static int v2_clear(const args *a)
{
    char src[NAME_MAX_LEN + 1];
    node *n;
    if (A_name(a, 1, src)) return -1;
    rcgc_object *c = bound(src);
    if (c == NULL) return -1;
    if (container_kind(c)) {
        invalidate(c, NULL);
        rcgc_incref(c);
        rcgc_weak_clear(R->rt, c);
        rcgc_decref(R->rt, c);
        return 0;
    }
    if (bound_tracked_node(src, &n)) return -1;
    rcgc_incref(&n->base);
    node_clear(R->rt, &n->base);
    rcgc_decref(R->rt, &n->base);
    return 0;
}

static int v2_weak(const args *a)
{
    char wname[NAME_MAX_LEN + 1], target[NAME_MAX_LEN + 1];
    mode cb = {MODE_NONE, "", ""};
    int plain = 0;
    node *n;
    if (A_name(a, 1, wname) || A_name(a, 2, target)) return -1;
    if (a->nargs == 3) {
        const char *t = A_tok(a, 3);
        size_t len = A_len(a, 3);
        if (A_is(a, 3, "plain"))
            plain = 1;
        else if (len >= 3 && memcmp(t, "cb=", 3) == 0) {
            if (v2_mode(t + 3, A_avail(a, 3, 3), len - 3, 2, &cb)) return -1;
        } else
            return fail("expected cb=MODE or plain, got %s", quote(t, len));
    }
    if (unbound(wname) || bound_tracked_node(target, &n)) return -1;
    rcgc_object *wr;
    if (plain) {
        /* the basic reference, if any, is first in the list */
        rcgc_object **refs;
        rcgc_ssize k = rcgc_weakref_list(R->rt, &n->base, &refs);
        if (k < 0) return R->nomem = 1, 0;
        wr = k > 0 && rcgc_weakref_is_basic(refs[0]) ? refs[0] : NULL;
        if (wr != NULL) rcgc_incref(wr);
        rcgc_objects_free(R->rt, refs, k);
        if (wr == NULL) {
            rcgc_incref(&n->base);
            wr = rcgc_weakref_new(R->rt, &n->base, NULL, NULL);
            if (wr != NULL) wnames_put(wr, wname, 1);
            rcgc_decref(R->rt, &n->base);
        }
    } else {
        wr = make_ref(wname, &n->base, &cb);
    }
    if (wr == NULL) return R->nomem = 1, 0;
    roots_set(wname, wr);
    return 0;
}

static int v2_deref(const args *a)
{
    char wname[NAME_MAX_LEN + 1];
    rcgc_object *wr, *o;
    if (A_name(a, 1, wname) || bound_weak(wname, &wr)) return -1;
    char text[3 * NAME_MAX_LEN + 16];
    deref_text(wname, text, sizeof text, &o);
    rcgc_xdecref(R->rt, o);
    emit("%s", text);
    return 0;
}

static int onoff(const args *a, int i, int *on)
{
    if (A_is(a, i, "on")) return *on = 1, 0;
    if (A_is(a, i, "off")) return *on = 0, 0;
    return fail("expected on or off, got %s", quote(A_tok(a, i), A_len(a, i)));
}

static int threshold_arg(const args *a, int i, int *out)
{
    const char *t = A_tok(a, i);
    size_t len = A_len(a, i);
    int ok = len >= 1 && len <= 10 && (t[0] != '0' || len == 1);
    long long v = 0;
    for (size_t k = 0; ok && k < len; k++) {
        if (t[k] < '0' || t[k] > '9') ok = 0;
        v = v * 10 + (t[k] - '0');
    }
    if (!ok || v > 2147483647LL) return fail("bad threshold %s", quote(t, len));
    *out = (int)v;
    return 0;
}

/* unsave NAME / ungarbage NAME: the list must hold exactly one object
 * named name; returns its index. */
static int take_index(rcgc_object *const *items, size_t n, const char *what, const char *name,
                      size_t *index)
{
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name_of(items[i]), name) == 0) hits++, *index = i;
    if (hits != 1) return fail("the %s list holds %zu objects named '%s'", what, hits, name);
    return 0;
}

static int v2_unsave(const args *a)
{
    char name[NAME_MAX_LEN + 1];
    size_t i;
    if (a->nargs == 0) return saved_clear(), 0;
    if (A_name(a, 1, name) || unbound(name) || take_index(R->saved, R->nsaved, "saved", name, &i))
        return -1;
    rcgc_object *o = R->saved[i];
    memmove(&R->saved[i], &R->saved[i + 1], (R->nsaved - i - 1) * sizeof *R->saved);
    R->nsaved--;
    roots_set(name, o);
    return 0;
}

static int v2_garbage(void)
{
    rcgc_object **items;
    rcgc_ssize n = rcgc_gc_get_garbage(R->rt, &items);
    if (n < 0) return R->nomem = 1, 0;
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    if (names == NULL) {
        rcgc_objects_free(R->rt, items, n);
        return R->nomem = 1, 0;
    }
    for (rcgc_ssize i = 0; i < n; i++) names[i] = name_of(items[i]);
    emit_names("garbage", names, (size_t)n);
    free(names);
    rcgc_objects_free(R->rt, items, n);
    return 0;
}

static int v2_ungarbage(const args *a)
{
    char name[NAME_MAX_LEN + 1];
    size_t i;
    if (a->nargs == 0) return rcgc_gc_garbage_clear(R->rt), 0;
    if (A_name(a, 1, name) || unbound(name)) return -1;
    rcgc_object **items;
    rcgc_ssize n = rcgc_gc_get_garbage(R->rt, &items);
    if (n < 0) return R->nomem = 1, 0;
    int bad = take_index(items, (size_t)n, "garbage", name, &i);
    rcgc_object *o = bad ? NULL : items[i];
    if (o != NULL) rcgc_incref(o); /* the root's reference */
    rcgc_objects_free(R->rt, items, n);
    if (bad) return -1;
    rcgc_gc_garbage_remove(R->rt, o);
    roots_set(name, o);
    return 0;
}

static int v2_weakrefs(const args *a, int count_only)
{
    char name[NAME_MAX_LEN + 1];
    node *n;
    if (A_name(a, 1, name) || bound_tracked_node(name, &n)) return -1;
    if (count_only) {
        emit("weakcount %s %td", name, rcgc_weakref_count(&n->base));
        return 0;
    }
    rcgc_object **refs;
    rcgc_ssize k = rcgc_weakref_list(R->rt, &n->base, &refs);
    if (k < 0) return R->nomem = 1, 0;
    const char **names = malloc(((size_t)k + 1) * sizeof *names);
    if (names != NULL) {
        for (rcgc_ssize i = 0; i < k; i++) names[i] = name_of(refs[i]);
        char head[NAME_MAX_LEN + 16];
        snprintf(head, sizeof head, "weakrefs %s", name);
        emit_list(head, names, (size_t)k, 1);
        free(names);
    } else {
        R->nomem = 1;
    }
    rcgc_objects_free(R->rt, refs, k);
    return 0;
}

static const char *generation_of(rcgc_object *o)
{
    if (!rcgc_object_is_tracked(o)) return "untracked";
    static const char *const gens[] = {"0", "1", "2"};
    for (int g = 0; g < RCGC_NUM_GENERATIONS; g++) {
        rcgc_object **objs;
        rcgc_ssize n = rcgc_gc_get_objects(R->rt, g, &objs);
        if (n < 0) {
            R->nomem = 1;
            return "?";
        }
        int found = 0;
        for (rcgc_ssize i = 0; i < n; i++) found |= objs[i] == o;
        rcgc_objects_free(R->rt, objs, n);
        if (found) return gens[g];
    }
    return "frozen";
}

static int v2_about(const args *a, const char *what)
{
    char name[NAME_MAX_LEN + 1];
    if (A_name(a, 1, name)) return -1;
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    if (is_iter(o)) return fail("'%s' is an iterator", name);
    if (!strcmp(what, "gen")) {
        emit("gen %s %s", name, generation_of(o));
    } else if (!strcmp(what, "tracked")) {
        emit("tracked %s %s", name, rcgc_object_is_tracked(o) ? "yes" : "no");
    } else {
        int yes = is_tracked_node(o) && ((node *)o)->fin.kind != MODE_NONE &&
                  rcgc_object_is_finalized(o);
        emit("finalized %s %s", name, yes ? "yes" : "no");
    }
    return 0;
}

static int v2_referents(const args *a)
{
    char name[NAME_MAX_LEN + 1];
    node *n;
    if (A_name(a, 1, name) || bound_any_node(name, &n)) return -1;
    const char **names = malloc(((size_t)n->n + 1) * sizeof *names);
    if (names == NULL) return R->nomem = 1, 0;
    rcgc_object **objs = NULL;
    rcgc_ssize k = 0;
    if (is_tracked_node(&n->base)) {
        rcgc_object *self = &n->base;
        k = rcgc_gc_get_referents(R->rt, &self, 1, &objs);
        if (k < 0) {
            free(names);
            return R->nomem = 1, 0;
        }
    }
    for (rcgc_ssize i = 0; i < k && i <= n->n; i++) names[i] = name_of(objs[i]);
    char head[NAME_MAX_LEN + 16];
    snprintf(head, sizeof head, "referents %s", name);
    emit_names(head, names, (size_t)(k <= n->n ? k : n->n));
    free(names);
    rcgc_objects_free(R->rt, objs, k);
    return 0;
}

static int v2_referrers(const args *a)
{
    char name[NAME_MAX_LEN + 1];
    if (A_name(a, 1, name)) return -1;
    rcgc_object *o = bound(name);
    if (o == NULL) return -1;
    if (!is_node(o) && !rcgc_is_weakref(o))
        return fail("'%s' is not a node or a weak reference", name);
    rcgc_object **holders;
    rcgc_ssize n = rcgc_gc_get_referrers(R->rt, &o, 1, &holders);
    if (n < 0) return R->nomem = 1, 0;
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    size_t k = 0;
    if (names != NULL) {
        for (rcgc_ssize i = 0; i < n; i++)
            if (is_tracked_node(holders[i])) names[k++] = ((node *)holders[i])->name;
        char head[NAME_MAX_LEN + 16];
        snprintf(head, sizeof head, "referrers %s", name);
        emit_names(head, names, k);
        free(names);
    } else {
        R->nomem = 1;
    }
    rcgc_objects_free(R->rt, holders, n);
    return 0;
}

/* gc.callbacks: gcstart/gcstop while gccb is on; counts collections for
 * ordered. */
static int gc_event(rcgc_runtime *rt, rcgc_gc_event event, const rcgc_gc_info *info, void *ctx)
{
    (void)rt, (void)ctx;
    if (R == NULL || R->finished) return 0;
    if (event == RCGC_GC_START) {
        R->collections++;
        if (R->gccb) emit("gcstart %d", info->generation);
    } else if (R->gccb) {
        emit("gcstop %d %td %td", info->generation, info->collected, info->uncollectable);
    }
    return 0;
}

static const struct {
    const char *name;
    int fewest, most; /* most -1: no limit */
} ops2[] = {{"new", 1, 4},       {"link", 2, 2},      {"unlink", 2, 2},    {"clear", 1, 1},
            {"drop", 1, 1},      {"weak", 2, 3},      {"deref", 1, 1},     {"collect", 0, 1},
            {"freeze", 0, 0},    {"unfreeze", 0, 0},  {"saved", 0, 0},     {"unsave", 0, 1},
            {"referrers", 1, 1}, {"stats", 0, 0},     {"auto", 1, 1},      {"threshold", 3, 3},
            {"count", 0, 0},     {"garbage", 0, 0},   {"ungarbage", 0, 1}, {"saveall", 1, 1},
            {"weakrefs", 1, 1},  {"weakcount", 1, 1}, {"callback", 1, 1},  {"same", 2, 2},
            {"gen", 1, 1},       {"finalized", 1, 1}, {"tracked", 1, 1},   {"frozen", 0, 0},
            {"referents", 1, 1}, {"gccb", 1, 1},      {"ordered", 1, -1},  {"wvd", 1, 1},
            {"wkd", 1, 1},       {"wset", 1, 1},      {"put", 3, 3},       {"add", 2, 2},
            {"del", 2, 2},       {"discard", 2, 2},   {"get", 2, 2},       {"has", 2, 2},
            {"len", 1, 1},       {"items", 1, 1},     {"iter", 2, 2},      {"next", 1, 1},
            {"wmethod", 3, 4},   {"finalize", 2, 3},  {"call", 1, 1},      {"detach", 1, 1},
            {"peek", 1, 1},      {"alive", 1, 1}};

static int op_collect(const line *L);
static int op_saved(void);
static int op_stats(void);

static int run_v2(const args *a)
{
    const char *t0 = A_tok(a, 0);
    size_t l0 = A_len(a, 0);
    if (A_is(a, 0, "version")) return fail("unexpected 'version' line");
    int op = -1;
    for (int i = 0; i < (int)(sizeof ops2 / sizeof ops2[0]); i++)
        if (A_is(a, 0, ops2[i].name)) op = i;
    if (op < 0) return fail("unknown operation %s", quote(t0, l0));
    long nargs = a->nargs;
    if (nargs < ops2[op].fewest || (ops2[op].most >= 0 && nargs > ops2[op].most)) {
        char spec[40];
        int f = ops2[op].fewest, m = ops2[op].most;
        if (m < 0)
            snprintf(spec, sizeof spec, "at least %d argument%s", f, f == 1 ? "" : "s");
        else if (m > f + 1)
            snprintf(spec, sizeof spec, "%d to %d arguments", f, m);
        else
            arity_text(f, m, spec, sizeof spec);
        return fail("'%s' takes %s, got %ld", ops2[op].name, spec, nargs);
    }
    const char *name = ops2[op].name;
    char n1[NAME_MAX_LEN + 1], n2[NAME_MAX_LEN + 1];
    int on;
    if (!strcmp(name, "ordered")) {
        if (A_is(a, 1, "ordered")) return fail("'ordered' cannot be nested");
        args inner = {a->L, a->first + 1, a->nargs - 1};
        R->ordered = 1;
        R->ordered_k = 0;
        long before = R->collections;
        int r = run_v2(&inner);
        R->ordered = 0;
        if (r != 0) return r;
        if (R->collections != before) return fail("a collection ran during an ordered operation");
        return 0;
    }
    if (!strcmp(name, "new")) return v2_new(a);
    if (!strcmp(name, "link")) return v2_link(a, 0);
    if (!strcmp(name, "unlink")) return v2_link(a, 1);
    if (!strcmp(name, "clear")) return v2_clear(a);
    if (!strcmp(name, "drop")) {
        if (A_name(a, 1, n1) || bound(n1) == NULL) return -1;
        unbind(n1);
        return 0;
    }
    if (!strcmp(name, "weak")) return v2_weak(a);
    if (!strcmp(name, "deref")) return v2_deref(a);
    if (!strcmp(name, "collect")) {
        line sub = *a->L; /* op_collect reads tokens 0 and 1 */
        sub.ntok = a->nargs + 1;
        for (int i = 0; i <= a->nargs; i++) {
            memcpy(sub.tok[i], A_tok(a, i), sizeof sub.tok[i]);
            sub.len[i] = A_len(a, i);
        }
        return op_collect(&sub);
    }
    if (!strcmp(name, "freeze")) return rcgc_gc_freeze(R->rt), 0;
    if (!strcmp(name, "unfreeze")) return rcgc_gc_unfreeze(R->rt), 0;
    if (!strcmp(name, "saved")) return op_saved();
    if (!strcmp(name, "unsave")) return v2_unsave(a);
    if (!strcmp(name, "referrers")) return v2_referrers(a);
    if (!strcmp(name, "stats")) return op_stats();
    if (!strcmp(name, "auto")) {
        if (onoff(a, 1, &on)) return -1;
        if (on)
            rcgc_gc_enable(R->rt);
        else
            rcgc_gc_disable(R->rt);
        return 0;
    }
    if (!strcmp(name, "threshold")) {
        int t[3];
        for (int i = 0; i < 3; i++)
            if (threshold_arg(a, i + 1, &t[i])) return -1;
        rcgc_gc_set_threshold(R->rt, t[0], t[1], t[2]);
        return 0;
    }
    if (!strcmp(name, "count")) {
        int c[3];
        rcgc_gc_get_count(R->rt, c);
        emit("count %d %d %d", c[0], c[1], c[2]);
        return 0;
    }
    if (!strcmp(name, "garbage")) return v2_garbage();
    if (!strcmp(name, "ungarbage")) return v2_ungarbage(a);
    if (!strcmp(name, "saveall")) {
        if (onoff(a, 1, &on)) return -1;
        unsigned flags = rcgc_gc_get_debug(R->rt);
        rcgc_gc_set_debug(R->rt, on ? flags | RCGC_DEBUG_SAVEALL : flags & ~RCGC_DEBUG_SAVEALL);
        return 0;
    }
    if (!strcmp(name, "gccb")) {
        if (onoff(a, 1, &on)) return -1;
        R->gccb = on;
        return 0;
    }
    if (!strcmp(name, "weakrefs")) return v2_weakrefs(a, 0);
    if (!strcmp(name, "weakcount")) return v2_weakrefs(a, 1);
    if (!strcmp(name, "callback")) {
        rcgc_object *wr = NULL;
        if (A_name(a, 1, n1) || bound_weak(n1, &wr)) return -1;
        struct wname *e = wnames_find(wr);
        if (e != NULL && e->plain == WN_METHOD)
            return fail("'%s' is not made by weak", n1);
        emit("callback %s %s", n1, rcgc_weakref_has_callback(wr) ? "yes" : "none");
        return 0;
    }
    if (!strcmp(name, "same")) {
        if (A_name(a, 1, n1) || A_name(a, 2, n2)) return -1;
        rcgc_object *x = bound(n1);
        rcgc_object *y = x != NULL ? bound(n2) : NULL;
        if (y == NULL) return -1;
        if (is_iter(x)) return fail("'%s' is an iterator", n1);
        if (is_iter(y)) return fail("'%s' is an iterator", n2);
        emit("same %s %s %s", n1, n2, x == y ? "yes" : "no");
        return 0;
    }
    if (!strcmp(name, "gen") || !strcmp(name, "tracked") || !strcmp(name, "finalized"))
        return v2_about(a, name);
    if (!strcmp(name, "frozen")) {
        emit("frozen %td", rcgc_gc_get_freeze_count(R->rt));
        return 0;
    }
    if (!strcmp(name, "wvd")) return v2_container_new(a, C_WVD);
    if (!strcmp(name, "wkd")) return v2_container_new(a, C_WKD);
    if (!strcmp(name, "wset")) return v2_container_new(a, C_WSET);
    if (!strcmp(name, "put")) return v2_put(a);
    if (!strcmp(name, "add")) return v2_add(a, 0);
    if (!strcmp(name, "discard")) return v2_add(a, 1);
    if (!strcmp(name, "del")) return v2_lookup(a, 0);
    if (!strcmp(name, "get")) return v2_lookup(a, 1);
    if (!strcmp(name, "has")) return v2_lookup(a, 2);
    if (!strcmp(name, "len")) return v2_len(a);
    if (!strcmp(name, "items")) return v2_items(a);
    if (!strcmp(name, "iter")) return v2_iter(a);
    if (!strcmp(name, "next")) return v2_next(a);
    if (!strcmp(name, "wmethod")) return v2_wmethod(a);
    if (!strcmp(name, "finalize")) return v2_finalize(a);
    if (!strcmp(name, "call")) return v2_fin_op(a, 0);
    if (!strcmp(name, "detach")) return v2_fin_op(a, 1);
    if (!strcmp(name, "peek")) return v2_fin_op(a, 2);
    if (!strcmp(name, "alive")) return v2_fin_op(a, 3);
    return v2_referents(a);
}

/* Check and run one line with tokens; -1 with errbuf set on a bad line. */
static int run_line(const line *L)
{
    if (L->bad >= 0) return fail("bad character 0x%02x", L->bad);
    if (R->v2) {
        args a = {L, 0, L->ntok - 1};
        return run_v2(&a);
    }
    int op = -1;
    for (int i = 0; i < (int)(sizeof ops / sizeof ops[0]); i++)
        if (L->len[0] == strlen(ops[i].name) && memcmp(L->tok[0], ops[i].name, L->len[0]) == 0)
            op = i;
    if (op < 0) return fail("unknown operation %s", quote(L->tok[0], L->len[0]));
    long nargs = L->ntok - 1;
    if (nargs < ops[op].fewest || nargs > ops[op].most) {
        char spec[32];
        return fail("'%s' takes %s, got %ld", ops[op].name,
                    arity_text(ops[op].fewest, ops[op].most, spec, sizeof spec), nargs);
    }
    const char *name = ops[op].name;
    if (!strcmp(name, "new")) return op_new(L);
    if (!strcmp(name, "link")) return op_link(L, 0);
    if (!strcmp(name, "unlink")) return op_link(L, 1);
    if (!strcmp(name, "clear")) return op_clear(L);
    if (!strcmp(name, "drop")) return op_drop(L);
    if (!strcmp(name, "weak")) return op_weak(L);
    if (!strcmp(name, "deref")) return op_deref(L);
    if (!strcmp(name, "collect")) return op_collect(L);
    if (!strcmp(name, "freeze")) return rcgc_gc_freeze(R->rt), 0;
    if (!strcmp(name, "unfreeze")) return rcgc_gc_unfreeze(R->rt), 0;
    if (!strcmp(name, "saved")) return op_saved();
    if (!strcmp(name, "unsave")) return saved_clear(), 0;
    if (!strcmp(name, "referrers")) return op_referrers(L);
    return op_stats();
}

/* ---- the stream ---- */

static void line_reset(line *L)
{
    L->ntok = 0;
    L->bad = -1;
    L->in_token = 0;
}

static void line_byte(line *L, unsigned char c)
{
    if (c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r') {
        L->in_token = 0;
        return;
    }
    if (!L->in_token) {
        L->in_token = 1;
        if (L->ntok < MAX_TOKENS) L->len[L->ntok] = 0;
        if (L->ntok < 1000000000L) L->ntok++; /* only compared with 1..4 */
    }
    long t = L->ntok - 1;
    if (t < MAX_TOKENS) {
        if (L->len[t] < KEEP) L->tok[t][L->len[t]] = (char)c;
        L->len[t]++;
        if (L->len[t] <= KEEP) L->tok[t][L->len[t]] = 0;
    }
    if (L->bad < 0 && (c < 0x21 || c > 0x7e)) L->bad = c;
}

/* End of a line: run it unless it has no token or is a comment.  Returns 0,
 * or the exit status to stop with. */
static int line_end(line *L)
{
    int status = 0;
    if (L->ntok > 0 && L->tok[0][0] != '#' && !R->version_known) {
        R->version_known = 1;
        if (L->ntok == 2 && L->bad < 0 && L->len[0] == 7 && !memcmp(L->tok[0], "version", 7) &&
            L->len[1] == 1 && L->tok[1][0] == '2') {
            R->v2 = 1; /* the version line: no event */
            line_reset(L);
            return 0;
        }
    }
    if (L->ntok > 0 && L->tok[0][0] != '#') {
        if (run_line(L) != 0) {
            R->evlen = 0; /* this line's events are not printed */
            fflush(R->out);
            fprintf(R->err, "scenario:%ld: error: %s\n", R->line, errbuf);
            status = 2;
        } else {
            ev_flush();
            if (R->nomem) {
                fprintf(R->err, "rcgc-scenario: out of memory at line %ld\n", R->line);
                status = 1;
            }
        }
    }
    line_reset(L);
    return status;
}

static void release_all(void)
{
    R->finished = 1;
    for (size_t i = 0; i < R->cap; i++) {
        if (R->roots[i].state != 1) continue;
        rcgc_object *o = R->roots[i].obj;
        R->roots[i].state = 2;
        rcgc_decref(R->rt, o);
    }
    saved_clear();
    /* Break what is left (cycles, uncollectable garbage, frozen objects),
     * so that teardown finds nothing to report. */
    rcgc_gc_unfreeze(R->rt);
    rcgc_object **objs;
    rcgc_ssize n = rcgc_gc_get_objects(R->rt, -1, &objs);
    if (n > 0) {
        for (rcgc_ssize i = 0; i < n; i++)
            if (is_tracked_node(objs[i])) node_clear(R->rt, objs[i]);
        rcgc_objects_free(R->rt, objs, n);
    }
    rcgc_gc_garbage_clear(R->rt);
    free(R->roots);
    R->roots = NULL;
    rcgc_runtime_free(R->rt, NULL);
    free(R->ev);
    free(R->wnames);
    while (fninfos != NULL) {
        fninfo *next = fninfos->next;
        free(fninfos);
        fninfos = next;
    }
    active_iters = NULL;
}

int scenario_run(scenario_read_fn read, void *ctx, FILE *out, FILE *err)
{
    struct runner runner;
    memset(&runner, 0, sizeof runner);
    runner.out = out;
    runner.err = err;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0; /* only collect operations collect */
    /* Scenarios that turn automatic collection on expect CPython 3.11's
     * cadence (thresholds, counts, the long-lived rule), whatever the
     * library's default policy. */
    cfg.gc_policy = RCGC_POLICY_CPYTHON311;
    cfg.debug_stream = err;
    runner.rt = rcgc_runtime_new(&cfg);
    if (runner.rt == NULL) {
        fprintf(err, "rcgc-scenario: cannot create the runtime\n");
        return 1;
    }
    struct runner *outer = R;
    R = &runner;
    if (rcgc_gc_callback_add(R->rt, gc_event, NULL) != 0) {
        R = outer;
        rcgc_runtime_free(runner.rt, NULL);
        fprintf(err, "rcgc-scenario: cannot create the runtime\n");
        return 1;
    }
    rcgc_gc_get_stats(R->rt, R->base);
    static char buf[65536];
    line L;
    line_reset(&L);
    int status = 0, pending = 0;
    R->line = 1;
    size_t n;
    while (status == 0 && (n = read(ctx, buf, sizeof buf)) > 0) {
        for (size_t i = 0; i < n && status == 0; i++) {
            if (buf[i] == '\n') {
                status = line_end(&L);
                pending = 0;
                if (status == 0) R->line++;
            } else {
                line_byte(&L, (unsigned char)buf[i]);
                pending = 1;
                /* A bad byte in a line that is not a comment decides the
                 * line's error (it is the first thing run_line checks):
                 * stop now, without reading to a newline that may never
                 * come (rcgc-scenario /dev/zero). */
                if (L.bad >= 0 && L.tok[0][0] != '#') {
                    status = line_end(&L);
                    pending = 0;
                }
            }
        }
    }
    if (status == 0 && pending) status = line_end(&L);
    fflush(out);
    release_all();
    R = outer;
    return status;
}
