/*
 * diag_size.c - deep sizes (pympler's asizeof for rcgc objects): the bytes
 * of everything an object reaches by traverse and ephemerons, each object
 * counted once, optionally stopping at frozen, immortal or shared objects.
 * Design: docs/diagnosis.md ("Sizes").
 *
 * A breadth-first walk from the object with a pointer-keyed table of what
 * it met (objects need not be tracked, so the collector's header words are
 * not used); with RCGC_DIAG_DEEP_SKIP_SHARED a second walk takes away what
 * other holders share.  Only traverse, ephemerons and extra_size run, and
 * nothing is written to any object.
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"

enum { IN = 1, SKIPPED = 2, SHARED = 3 };

struct dmap {
    rcgc_runtime *rt;
    rcgc_object **keys;   /* open addressing; NULL empty */
    uint32_t *slot;       /* key -> entry */
    size_t mask;
    rcgc_object **obj;    /* entry -> object (the walk's queue too) */
    uint32_t *internal;   /* entry -> references from met objects */
    uint8_t *state;       /* entry -> IN, SKIPPED, SHARED */
    size_t n, cap;
    int failed;
};

static size_t dm_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * (uintptr_t)0x9E3779B97F4A7C15ull);
}

static int dm_grow_table(struct dmap *m)
{
    size_t cap = (m->mask + 1) * 2;
    rcgc_object **keys = rcgc__calloc(m->rt, cap, sizeof *keys);
    uint32_t *slot = rcgc__malloc(m->rt, cap * sizeof *slot);
    if (keys == NULL || slot == NULL) {
        rcgc__free(m->rt, keys);
        rcgc__free(m->rt, slot);
        return RCGC_ENOMEM;
    }
    for (size_t e = 0; e < m->n; e++) {
        size_t i = dm_hash(m->obj[e]) & (cap - 1);
        while (keys[i] != NULL) i = (i + 1) & (cap - 1);
        keys[i] = m->obj[e];
        slot[i] = (uint32_t)e;
    }
    rcgc__free(m->rt, m->keys);
    rcgc__free(m->rt, m->slot);
    m->keys = keys;
    m->slot = slot;
    m->mask = cap - 1;
    return 0;
}

static int dm_grow_entries(struct dmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    if (cap >= UINT32_MAX) return RCGC_ENOMEM;
    rcgc_object **obj = rcgc__realloc(m->rt, m->obj, cap * sizeof *obj);
    if (obj == NULL) return RCGC_ENOMEM;
    m->obj = obj;
    uint32_t *in = rcgc__realloc(m->rt, m->internal, cap * sizeof *in);
    if (in == NULL) return RCGC_ENOMEM;
    m->internal = in;
    uint8_t *st = rcgc__realloc(m->rt, m->state, cap);
    if (st == NULL) return RCGC_ENOMEM;
    m->state = st;
    m->cap = cap;
    return 0;
}

/* The entry of o, added with state if new (*added set); -1 on failure. */
static int64_t dm_find(struct dmap *m, rcgc_object *o, uint8_t state, int *added)
{
    *added = 0;
    if ((m->n + 1) * 2 > m->mask + 1 && dm_grow_table(m) != 0) return -1;
    size_t i = dm_hash(o) & m->mask;
    for (; m->keys[i] != NULL; i = (i + 1) & m->mask)
        if (m->keys[i] == o) return m->slot[i];
    if (m->n == m->cap && dm_grow_entries(m) != 0) return -1;
    m->keys[i] = o;
    m->slot[i] = (uint32_t)m->n;
    m->obj[m->n] = o;
    m->internal[m->n] = 0;
    m->state[m->n] = state;
    *added = 1;
    return (int64_t)m->n++;
}

struct walk {
    struct dmap *m;
    unsigned flags;
};

static int meet(struct walk *w, rcgc_object *c)
{
    struct dmap *m = w->m;
    int added;
    uint8_t state = (w->flags & RCGC_DIAG_DEEP_SKIP_IMMORTAL) && rcgc_object_is_immortal(c)
                        ? SKIPPED
                        : IN;
    int64_t e = dm_find(m, c, state, &added);
    if (e < 0) {
        m->failed = RCGC_ENOMEM;
        return 1;
    }
    m->internal[e]++; /* a self-reference too: it is not from outside */
    return 0;
}

static int visit_meet(rcgc_object *child, void *arg)
{
    return meet(arg, child);
}

static int visit_meet_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? meet(arg, value) : 0;
}

static int traverse_of(rcgc_object *o, rcgc_visit_fn visit,
                       rcgc_visit_pair_fn visit_pair, void *arg)
{
    const rcgc_type *t = o->type;
    if (!gc_type_is_gc(t)) return 0; /* a leaf: nothing to enumerate */
    if (t->traverse(o, visit, arg) != 0) return 1;
    return t->ephemerons != NULL && t->ephemerons(o, visit_pair, arg) != 0;
}

/* Frozen objects first, as met but skipped: the walk stops at them. */
static int mark_frozen(rcgc_runtime *rt, struct dmap *m)
{
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_FROZEN);
    for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL;) {
        int added;
        if (dm_find(m, o, SKIPPED, &added) < 0) return RCGC_ENOMEM;
    }
    return 0;
}

/* Shared: an object with references from outside what o reaches, and
 * everything it reaches (but o). */
struct share {
    struct dmap *m;
    uint32_t *queue;
    size_t tail;
};

static int visit_share(rcgc_object *child, void *arg)
{
    struct share *s = arg;
    struct dmap *m = s->m;
    size_t i = dm_hash(child) & m->mask;
    while (m->keys[i] != child) i = (i + 1) & m->mask; /* met: present */
    uint32_t e = m->slot[i];
    if (e != 0 && m->state[e] == IN) {
        m->state[e] = SHARED;
        s->queue[s->tail++] = e;
    }
    return 0;
}

static int visit_share_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? visit_share(value, arg) : 0;
}

static int take_shared(struct dmap *m)
{
    struct share s = {m, rcgc__malloc(m->rt, m->n * sizeof(uint32_t) + 1), 0};
    if (s.queue == NULL) return RCGC_ENOMEM;
    for (size_t e = 1; e < m->n; e++) { /* entry 0 is o */
        rcgc_object *x = m->obj[e];
        if (m->state[e] == IN &&
            (rcgc_object_is_immortal(x) || x->refcnt > (intptr_t)m->internal[e])) {
            m->state[e] = SHARED;
            s.queue[s.tail++] = (uint32_t)e;
        }
    }
    for (size_t head = 0; head < s.tail; head++)
        traverse_of(m->obj[s.queue[head]], visit_share, visit_share_pair, &s);
    rcgc__free(m->rt, s.queue);
    return 0;
}

int rcgc_diag_deep_size(rcgc_runtime *rt, rcgc_object *o, unsigned flags,
                        rcgc_diag_deep_result *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || o == NULL || out == NULL || busy(rt) ||
        (flags & ~(unsigned)(RCGC_DIAG_DEEP_SKIP_FROZEN | RCGC_DIAG_DEEP_SKIP_IMMORTAL |
                             RCGC_DIAG_DEEP_SKIP_SHARED)) != 0)
        return RCGC_EINVAL;
    struct dmap m;
    memset(&m, 0, sizeof m);
    m.rt = rt;
    m.mask = 63;
    m.keys = rcgc__calloc(rt, 64, sizeof *m.keys);
    m.slot = rcgc__malloc(rt, 64 * sizeof *m.slot);
    int rc = m.keys == NULL || m.slot == NULL ? RCGC_ENOMEM : 0;
    int added;
    /* o first (entry 0), counted even when frozen or immortal itself */
    if (rc == 0 && dm_find(&m, o, IN, &added) < 0) rc = RCGC_ENOMEM;
    if (rc == 0 && (flags & RCGC_DIAG_DEEP_SKIP_FROZEN)) rc = mark_frozen(rt, &m);
    struct walk w = {&m, flags};
    for (size_t head = 0; rc == 0 && head < m.n; head++) {
        if (m.state[head] != IN) continue;
        if (traverse_of(m.obj[head], visit_meet, visit_meet_pair, &w) != 0)
            rc = m.failed ? m.failed : RCGC_EFAILED;
    }
    if (rc == 0 && (flags & RCGC_DIAG_DEEP_SKIP_SHARED)) rc = take_shared(&m);
    if (rc != 0) memset(out, 0, sizeof *out);
    if (rc == 0) {
        for (size_t e = 0; e < m.n; e++) {
            if (m.state[e] != IN) {
                out->skipped++;
                continue;
            }
            size_t s = rcgc_sizeof(m.obj[e]);
            out->size = out->size > SIZE_MAX - s ? SIZE_MAX : out->size + s;
            out->objects++;
        }
        /* frozen objects o never reached are not "skipped" */
        if (flags & RCGC_DIAG_DEEP_SKIP_FROZEN)
            for (size_t e = 0; e < m.n; e++)
                if (m.state[e] == SKIPPED && m.internal[e] == 0 && e != 0) out->skipped--;
    }
    rcgc__free(rt, m.keys);
    rcgc__free(rt, m.slot);
    rcgc__free(rt, m.obj);
    rcgc__free(rt, m.internal);
    rcgc__free(rt, m.state);
    return rc;
}
