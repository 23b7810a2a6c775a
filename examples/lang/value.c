/*
 * value.c - rcl's values, each an rcgc object: the types, with traverse and
 * clear for every container, and the operations the evaluator needs.
 *
 * The rules every type here keeps (docs/embedding.md, "Traverse and
 * clear"): traverse reports each strong reference the object holds, once,
 * and nothing else; clear detaches what it drops before dropping it (a
 * decref may run a __del__ that reads or grows this very object), and
 * leaves the object usable (empty); release frees the object's own buffers
 * and touches no other object.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rcl.h"

/* ---- constants ---- */

const rcgc_type t_none = {.name = "NoneType", .size = sizeof(V)};
const rcgc_type t_bool = {.name = "bool", .size = sizeof(int_obj)};
const rcgc_type t_int = {.name = "int", .size = sizeof(int_obj)};

static size_t str_extra(const V *self)
{
    return ((const str_obj *)self)->len + 1;
}
const rcgc_type t_str = {.name = "str", .size = sizeof(str_obj), .extra_size = str_extra};

#define SMALL_MIN (-5)
#define SMALL_MAX 256
static V *small_ints[SMALL_MAX - SMALL_MIN + 1];

V *rcl_int(int64_t v)
{
    V **small = v >= SMALL_MIN && v <= SMALL_MAX ? &small_ints[v - SMALL_MIN] : NULL;
    if (small != NULL && *small != NULL) return *small; /* immortal: no incref needed */
    int_obj *o = (int_obj *)rcgc_object_new(I->rt, &t_int);
    if (o == NULL) return rcl_error("out of memory");
    o->v = v;
    if (small != NULL) { /* made once, immortal, as CPython's */
        rcgc_object_make_immortal(I->rt, &o->base);
        *small = &o->base;
    }
    return &o->base;
}

uint64_t rcl_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

V *rcl_str2(const char *s, size_t len, const char *t, size_t tlen)
{
    str_obj *o = (str_obj *)rcgc_object_new_sized(I->rt, &t_str, sizeof(str_obj) + len + tlen + 1);
    if (o == NULL) return rcl_error("out of memory");
    o->len = len + tlen;
    memcpy(o->s, s, len);
    memcpy(o->s + len, t, tlen);
    o->s[o->len] = 0;
    o->hash = rcl_hash_bytes(o->s, o->len);
    return &o->base;
}

V *rcl_drop(V *o)
{
    rcgc_decref(I->rt, o);
    return NULL;
}

/* ---- list ---- */

static int list_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    list_obj *l = (list_obj *)self;
    for (size_t i = 0; i < l->n; i++) RCGC_VISIT(l->items[i]);
    return 0;
}

static void list_clear(rcgc_runtime *rt, V *self)
{
    list_obj *l = (list_obj *)self;
    V **items = l->items;
    size_t n = l->n;
    l->items = NULL; /* detached first: a __del__ may append to this list */
    l->n = l->cap = 0;
    for (size_t i = n; i-- > 0;) rcgc_decref(rt, items[i]);
    rcgc_mem_free(rt, items);
}

static void list_release(rcgc_runtime *rt, V *self)
{
    rcgc_mem_free(rt, ((list_obj *)self)->items);
}

static size_t list_extra(const V *self)
{
    return ((const list_obj *)self)->cap * sizeof(V *);
}

const rcgc_type t_list = {.name = "list", .size = sizeof(list_obj), .flags = RCGC_TYPE_GC,
                          .traverse = list_traverse, .clear = list_clear,
                          .release = list_release, .extra_size = list_extra};

V *rcl_list_new(size_t cap)
{
    list_obj *l = (list_obj *)rcgc_object_new(I->rt, &t_list);
    if (l == NULL) return rcl_error("out of memory");
    if (cap > 0 && (l->items = rcgc_mem_malloc(I->rt, cap * sizeof(V *))) == NULL) {
        rcgc_decref(I->rt, &l->base);
        return rcl_error("out of memory");
    }
    l->cap = cap;
    rcgc_object_track(I->rt, &l->base);
    return &l->base;
}

int rcl_list_append(V *list, V *item)
{
    list_obj *l = (list_obj *)list;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        V **p = rcgc_mem_realloc(I->rt, l->items, ncap * sizeof(V *));
        if (p == NULL) return rcl_fail("out of memory");
        l->items = p;
        l->cap = ncap;
    }
    rcgc_incref(item);
    l->items[l->n++] = item;
    return 0;
}

/* Append a NEW reference, which the list takes (also on error); NULL is an
 * error already set. */
int rcl_list_push(V *list, V *item)
{
    if (item == NULL) return -1;
    int r = rcl_list_append(list, item);
    rcgc_decref(I->rt, item);
    return r;
}

/* ---- dict: insertion-ordered entries and an open-addressing index ---- */

static int dict_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    dict_obj *d = (dict_obj *)self;
    for (size_t i = 0; i < d->n; i++) {
        RCGC_VISIT(d->e[i].key);
        RCGC_VISIT(d->e[i].val);
    }
    return 0;
}

static void dict_clear(rcgc_runtime *rt, V *self)
{
    dict_obj *d = (dict_obj *)self;
    dict_entry *e = d->e;
    size_t n = d->n;
    d->version++;
    d->e = NULL; /* detached first, as a list */
    d->index = NULL;
    d->n = d->cap = 0;
    for (size_t i = 0; i < n; i++) {
        rcgc_decref(rt, e[i].key);
        rcgc_decref(rt, e[i].val);
    }
    rcgc_mem_free(rt, e);
}

static void dict_release(rcgc_runtime *rt, V *self)
{
    rcgc_mem_free(rt, ((dict_obj *)self)->e); /* the index is in the same block */
}

static size_t dict_extra(const V *self)
{
    const dict_obj *d = (const dict_obj *)self;
    return d->cap * (sizeof(dict_entry) + 2 * sizeof(int32_t));
}

const rcgc_type t_dict = {.name = "dict", .size = sizeof(dict_obj), .flags = RCGC_TYPE_GC,
                          .traverse = dict_traverse, .clear = dict_clear,
                          .release = dict_release, .extra_size = dict_extra};

V *rcl_dict_new(void)
{
    V *d = rcgc_object_new(I->rt, &t_dict);
    if (d == NULL) return rcl_error("out of memory");
    rcgc_object_track(I->rt, d);
    return d;
}

/* The entry index of key, -1 when absent, -2 when a user __eq__ failed;
 * *slot gets the index slot where it is or would go.  A user __eq__ may
 * change the dict: the stored key and the dict are held across the call,
 * and the lookup starts again if the dict changed (CPython's dict does the
 * same). */
static long dict_lookup(dict_obj *d, V *key, uint64_t h, size_t *slot)
{
again:;
    size_t mask = 2 * d->cap - 1;
    for (*slot = (size_t)h & mask; d->index[*slot] >= 0; *slot = (*slot + 1) & mask) {
        dict_entry *e = &d->e[d->index[*slot]];
        if (e->key == key) return d->index[*slot];
        if (e->hash != h) continue;
        uint64_t version = d->version;
        V *stored = e->key;
        rcgc_incref(stored);
        rcgc_incref(&d->base);
        int eq = rcl_equal(stored, key);
        rcgc_decref(I->rt, stored);
        int changed = d->version != version, cleared = d->cap == 0;
        rcgc_decref(I->rt, &d->base);
        if (eq < 0) return -2;
        if (cleared) return -1; /* by the __eq__: absent */
        if (changed) goto again;
        if (eq) return d->index[*slot];
    }
    return -1;
}

/* Double the entries and rebuild the index. */
static int dict_resize(dict_obj *d)
{
    size_t ncap = d->cap ? d->cap * 2 : 8;
    /* one block: the entries, then the index (2 * ncap slots) */
    dict_entry *e = rcgc_mem_malloc(I->rt, ncap * sizeof *e + ncap * 2 * sizeof(int32_t));
    if (e == NULL) return rcl_fail("out of memory");
    int32_t *ix = (int32_t *)(void *)(e + ncap);
    if (d->n > 0) memcpy(e, d->e, d->n * sizeof *e);
    rcgc_mem_free(I->rt, d->e);
    d->version++;
    d->e = e;
    d->cap = ncap;
    d->index = ix;
    memset(ix, 0xff, 2 * ncap * sizeof *ix);
    for (size_t i = 0; i < d->n; i++) {
        size_t j = (size_t)e[i].hash & (2 * ncap - 1);
        while (ix[j] >= 0) j = (j + 1) & (2 * ncap - 1);
        ix[j] = (int32_t)i;
    }
    return 0;
}

V *rcl_dict_get(V *dv, V *key)
{
    dict_obj *d = (dict_obj *)dv;
    uint64_t h;
    if (rcl_hash(key, &h) != 0 || d->n == 0) return NULL;
    size_t slot;
    long i = dict_lookup(d, key, h, &slot);
    return i < 0 ? NULL : d->e[i].val;
}

int rcl_dict_set(V *dv, V *key, V *val)
{
    dict_obj *d = (dict_obj *)dv;
    uint64_t h;
    size_t slot;
    if (rcl_hash(key, &h) != 0 || (d->cap == 0 && dict_resize(d) != 0)) return -1;
    long i = dict_lookup(d, key, h, &slot);
    if (i == -2) return -1;
    if (i >= 0) {
        rcgc_incref(val);
        RCGC_SETREF(I->rt, d->e[i].val, val); /* stored before the old one dies */
        return 0;
    }
    if (d->n == d->cap) { /* full, or cleared by an __eq__ */
        if (dict_resize(d) != 0 || dict_lookup(d, key, h, &slot) == -2) return -1;
    }
    rcgc_incref(key);
    rcgc_incref(val);
    d->e[d->n] = (dict_entry){key, val, h};
    d->index[slot] = (int32_t)d->n++;
    d->version++;
    return 0;
}

int rcl_dict_put(V *d, V *key, V *val)
{
    int r = key != NULL && val != NULL ? rcl_dict_set(d, key, val) : -1;
    if (key != NULL) rcgc_decref(I->rt, key);
    if (val != NULL) rcgc_decref(I->rt, val);
    return r;
}

/* ---- scopes ---- */

static int env_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    env_obj *e = (env_obj *)self;
    RCGC_VISIT(e->parent);
    for (size_t i = 0; i < e->n; i++) RCGC_VISIT(e->s[i].val);
    return 0;
}

static void env_clear(rcgc_runtime *rt, V *self)
{
    env_obj *e = (env_obj *)self;
    while (e->n > 0) /* each slot detached before its value is dropped */
        rcgc_decref(rt, e->s[--e->n].val);
    RCGC_CLEAR(rt, e->parent);
}

static size_t env_extra(const V *self)
{
    return ((const env_obj *)self)->cap * sizeof(env_slot);
}

const rcgc_type t_env = {.name = "scope", .size = sizeof(env_obj), .flags = RCGC_TYPE_GC,
                         .traverse = env_traverse, .clear = env_clear,
                         .extra_size = env_extra};

/* A scope with room for slots names, allocated in one piece: the parser
 * counts what each function's body can define (node.slots), as CPython's
 * compiler counts a code object's locals. */
V *rcl_env_new(V *parent, const char *owner, int slots)
{
    size_t size = sizeof(env_obj) + (size_t)slots * sizeof(env_slot);
    env_obj *e = (env_obj *)rcgc_object_new_sized(I->rt, &t_env, size);
    if (e == NULL) return rcl_error("out of memory");
    rcgc_xincref(parent);
    e->parent = parent;
    e->owner = owner;
    e->cap = (size_t)slots;
    rcgc_object_track(I->rt, &e->base);
    return &e->base;
}

V **rcl_env_find(V *env, const char *name)
{
    for (env_obj *e = (env_obj *)env; e != NULL; e = (env_obj *)e->parent)
        for (size_t i = 0; i < e->n; i++)
            if (e->s[i].name == name) return &e->s[i].val; /* interned */
    return NULL;
}

int rcl_env_define(V *env, const char *name, V *val)
{
    env_obj *e = (env_obj *)env;
    size_t i = 0;
    while (i < e->n && e->s[i].name != name) i++; /* interned: compared by address */
    if (i == e->cap) /* the parser counted wrong: a bug */
        return rcl_fail("internal error: scope of %s full", e->owner);
    rcgc_incref(val);
    if (i < e->n)
        RCGC_SETREF(I->rt, e->s[i].val, val);
    else
        e->s[e->n++] = (env_slot){name, val};
    return 0;
}

int rcl_env_remove(V *env, const char *name)
{
    env_obj *e = (env_obj *)env;
    size_t i = 0;
    while (i < e->n && e->s[i].name != name) i++;
    if (i == e->n) return -1;
    V *old = e->s[i].val;
    e->s[i] = e->s[--e->n];
    rcgc_decref(I->rt, old); /* after the scope is consistent */
    return 0;
}

/* ---- functions, classes, builtins ---- */

static int func_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((func_obj *)self)->env);
    return 0;
}

static void func_clear(rcgc_runtime *rt, V *self)
{
    RCGC_CLEAR(rt, ((func_obj *)self)->env);
}

const rcgc_type t_func = {.name = "function", .size = sizeof(func_obj),
                          .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
                          .traverse = func_traverse, .clear = func_clear};

static int class_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((class_obj *)self)->methods);
    return 0;
}

static void class_clear(rcgc_runtime *rt, V *self)
{
    RCGC_CLEAR(rt, ((class_obj *)self)->methods);
}

/* The class's reference to its heap type goes with the class; its
 * instances hold their own. */
static void class_release(rcgc_runtime *rt, V *self)
{
    class_obj *c = (class_obj *)self;
    if (c->itype != NULL) rcgc_type_decref(rt, c->itype);
}

const rcgc_type t_class = {.name = "class", .size = sizeof(class_obj),
                           .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
                           .traverse = class_traverse, .clear = class_clear,
                           .release = class_release};

V *rcl_class_new(const char *name)
{
    class_obj *c = (class_obj *)rcgc_object_new(I->rt, &t_class);
    if (c == NULL) return rcl_error("out of memory");
    c->name = name;
    if ((c->methods = rcl_dict_new()) == NULL) return rcl_drop(&c->base);
    rcgc_object_track(I->rt, &c->base);
    return &c->base;
}

const rcgc_type t_builtin = {.name = "builtin_function", .size = sizeof(builtin_obj)};

static void snapshot_release(rcgc_runtime *rt UNUSED, V *self)
{
    rcgc_snapshot_free(((snap_obj *)self)->s);
}

const rcgc_type t_snapshot = {.name = "Snapshot", .size = sizeof(snap_obj),
                              .release = snapshot_release};

/* ---- generic operations ---- */

int rcl_truthy(V *o)
{
    if (o == I->none || o == I->false_) return 0;
    if (o->type == &t_int) return ((int_obj *)o)->v != 0;
    if (o->type == &t_str) return ((str_obj *)o)->len != 0;
    if (o->type == &t_list) return ((list_obj *)o)->n != 0;
    if (o->type == &t_dict) return ((dict_obj *)o)->n != 0;
    return 1;
}

/* o.key(other), or o.key() when other is NULL, if o is an instance whose
 * class defines key: 1 with the result (NEW, or NULL on error) in *r; 0
 * when it does not.  The method is held across the call, which may drop
 * the class. */
static int call_hook(V *o, V *key, V *other, V **r)
{
    if (!rcl_is_instance(o) || ((inst_obj *)o)->cls == NULL) return 0;
    V *m = rcl_dict_get(((class_obj *)((inst_obj *)o)->cls)->methods, key), *args[2] = {o, other};
    if (m == NULL) return 0;
    rcgc_incref(m);
    *r = rcl_call(m, args, other != NULL ? 2 : 1);
    rcgc_decref(I->rt, m);
    return 1;
}

/* a.__eq__(b), else b.__eq__(a), as a truth value; -1 on error. */
static int user_eq(V *a, V *b)
{
    V *r;
    if (!call_hook(a, I->s_eq, b, &r) && !call_hook(b, I->s_eq, a, &r)) return 0; /* identity */
    if (r == NULL) return -1;
    int t = rcl_truthy(r);
    rcgc_decref(I->rt, r);
    return t;
}

int rcl_equal(V *a, V *b)
{
    if (a == b) return 1;
    if (rcl_is_instance(a) || rcl_is_instance(b)) return user_eq(a, b);
    if (a->type != b->type) return 0;
    if (a->type == &t_int) return ((int_obj *)a)->v == ((int_obj *)b)->v;
    if (a->type == &t_str) {
        str_obj *x = (str_obj *)a, *y = (str_obj *)b;
        return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
    }
    return 0;
}

/* By value (strings, ints, an instance's __hash__), else by identity. */
int rcl_hash(V *o, uint64_t *h)
{
    V *r = o;
    if (rcl_is(o, &t_str)) {
        *h = ((str_obj *)o)->hash;
        return 0;
    }
    if (rcl_is(o, &t_list) || rcl_is(o, &t_dict))
        return rcl_fail("unhashable type: '%s'", rcl_type_name(o));
    if (!rcl_is(o, &t_int) && !call_hook(o, I->s_hash, NULL, &r)) {
        *h = (uint64_t)(uintptr_t)o >> 4; /* identity */
        return 0;
    }
    if (r == NULL) return -1;
    int ok = rcl_is(r, &t_int);
    if (ok) *h = (uint64_t)IVAL(r) * 0x9e3779b97f4a7c15u;
    if (r != o) rcgc_decref(I->rt, r);
    return ok ? 0 : rcl_fail("__hash__ must return an int");
}

int rcl_repr(V *o, char *buf, size_t size, int quote)
{
    static int depth;
    if (o == I->none || rcl_is(o, &t_bool))
        return snprintf(buf, size, "%s", o == I->none ? "nil" : o == I->true_ ? "true" : "false");
    if (o->type == &t_int) return snprintf(buf, size, "%" PRId64, ((int_obj *)o)->v);
    if (o->type == &t_str)
        return snprintf(buf, size, quote ? "'%s'" : "%s", ((str_obj *)o)->s);
    const char *name = rcl_is(o, &t_func)      ? ((func_obj *)o)->def->name
                       : rcl_is(o, &t_class)   ? ((class_obj *)o)->name
                       : rcl_is(o, &t_builtin) ? ((builtin_obj *)o)->spec->name
                                               : NULL;
    if (name != NULL) return snprintf(buf, size, "<%s %s>", o->type->name, name);
    if (rcl_is_instance(o)) return snprintf(buf, size, "<%s object>", o->type->name);
    if ((o->type != &t_list && o->type != &t_dict) || depth > 8)
        return snprintf(buf, size, "<%s>", o->type->name);
    size_t len = 0;
    depth++;
#define PUT(...) len += (size_t)snprintf(buf + (len < size ? len : size), len < size ? size - len : 0, __VA_ARGS__)
#define PUTV(x) len += (size_t)rcl_repr((x), buf + (len < size ? len : size), len < size ? size - len : 0, 1)
    list_obj *l = (list_obj *)o;
    dict_obj *d = o->type == &t_dict ? (dict_obj *)o : NULL;
    PUT(d ? "{" : "[");
    for (size_t i = 0; i < (d ? d->n : l->n); i++) {
        if (i) PUT(", ");
        PUTV(d ? d->e[i].key : l->items[i]);
        if (d) {
            PUT(": ");
            PUTV(d->e[i].val);
        }
    }
    PUT(d ? "}" : "]");
#undef PUT
#undef PUTV
    depth--;
    return (int)len;
}
