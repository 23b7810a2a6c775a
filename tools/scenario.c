/*
 * scenario.c - the scenario runner on rcgc's public API (scenario format
 * version 1, ../shared/spec/scenario-format.md; the CPython oracle is
 * tests/diff/oracle.py, whose error texts and decisions this file follows
 * byte for byte: see the table at the top of oracle.py).
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
 *   - the roots table and the saved list are runner structures, not objects.
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
#define KEEP 96         /* bytes kept per token: "fin=drop:" + a cut name */
#define MAX_TOKENS 4    /* an operation and at most three arguments */

/* ---- modes ---- */

enum mode_kind { MODE_NONE, MODE_LOG, MODE_RESURRECT, MODE_CLEAR, MODE_COLLECT, MODE_DROP };

typedef struct mode {
    enum mode_kind kind;
    char root[NAME_MAX_LEN + 1]; /* MODE_DROP: the root to unbind */
} mode;

/* ---- objects ---- */

typedef struct node {
    rcgc_object base;
    rcgc_object **items; /* strong references, in order */
    rcgc_ssize n, cap;
    mode fin;
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

static void emit(const char *fmt, ...)
{
    if (R->finished) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(R->out, "%ld ", R->line);
    vfprintf(R->out, fmt, ap);
    fputc('\n', R->out);
    va_end(ap);
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

static int node_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    if (n->fin.kind == MODE_NONE || R->finished) return 0;
    emit("fin %s", n->name);
    switch (n->fin.kind) {
    case MODE_RESURRECT:
        saved_append(self);
        break;
    case MODE_CLEAR:
        node_clear(rt, self);
        break;
    case MODE_COLLECT:
        emit("fincollect %s %td", n->name, rcgc_gc_collect(rt, 2));
        break;
    case MODE_DROP:
        unbind(n->fin.root);
        break;
    default:
        break;
    }
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

static const rcgc_type refinfo_type = {.name = "refinfo", .size = sizeof(refinfo)};

static int is_node(const rcgc_object *o)
{
    return o->type == &node_type;
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
    (void)rt, (void)wr;
    refinfo *ri = (refinfo *)arg;
    if (R->finished) return 0;
    emit("cb %s", ri->name);
    if (ri->cb.kind == MODE_DROP) unbind(ri->cb.root);
    return 0;
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

/* Print head followed by the sorted names. */
static void emit_names(const char *head, const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_names);
    if (R->finished) return;
    fprintf(R->out, "%ld %s", R->line, head);
    for (size_t i = 0; i < n; i++) fprintf(R->out, " %s", names[i]);
    fputc('\n', R->out);
}

static int op_new(const line *L)
{
    char name[NAME_MAX_LEN + 1];
    mode fin = {MODE_NONE, ""};
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
    mode cb = {MODE_NONE, ""};
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

/* Check and run one line with tokens; -1 with errbuf set on a bad line. */
static int run_line(const line *L)
{
    if (L->bad >= 0) return fail("bad character 0x%02x", L->bad);
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
    if (L->ntok > 0 && L->tok[0][0] != '#') {
        if (run_line(L) != 0) {
            fflush(R->out);
            fprintf(R->err, "scenario:%ld: error: %s\n", R->line, errbuf);
            status = 2;
        } else if (R->nomem) {
            fprintf(R->err, "rcgc-scenario: out of memory at line %ld\n", R->line);
            status = 1;
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
    free(R->roots);
    R->roots = NULL;
    rcgc_runtime_free(R->rt, NULL);
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
    cfg.debug_stream = err;
    runner.rt = rcgc_runtime_new(&cfg);
    if (runner.rt == NULL) {
        fprintf(err, "rcgc-scenario: cannot create the runtime\n");
        return 1;
    }
    struct runner *outer = R;
    R = &runner;
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
            }
        }
    }
    if (status == 0 && pending) status = line_end(&L);
    fflush(out);
    release_all();
    R = outer;
    return status;
}
