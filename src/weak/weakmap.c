/*
 * weakmap.c - the weak containers: a weak-value map with byte-string or
 * object keys, a weak set and a weak-key map (ephemerons), object keys
 * compared by identity or with the embedder's hash and equality hooks, and
 * their iterators.  Design and rules: docs/weakref.md.
 *
 * Table invariants:
 *   - entries[0..nentries) is in insertion order; an entry with wr == NULL is
 *     a tombstone; len counts the others;
 *   - index has index_size slots (a power of two, or 0): each is EMPTY, DUMMY
 *     (a deleted entry was there) or the position of a live entry; probing
 *     is linear; index_used counts the non-EMPTY slots;
 *   - a live entry's weak reference has owner == the container and slot ==
 *     its position;
 *   - entries never move while an iterator runs (iterating > 0) or removals
 *     are pending (npending > 0): only compaction moves them, and it waits;
 *   - a pending entry (CPython's _pending_removals: its object died while
 *     an iteration ran) keeps its weak reference (dead), its index slot and
 *     (weak-key map) its value until the removals are committed; len
 *     excludes it, pending[] lists its position.
 *   - version changes whenever entries are added, removed, made pending,
 *     moved or re-indexed, or get a new weak reference: a lookup that calls
 *     an eq hook starts again when it changed meanwhile.
 * Every operation finishes changing the table before it drops a reference,
 * because a decref can run code that comes back to the same container.
 * Hooks run only in the calls that take a key from the program, before the
 * table is changed, while the container and the keys are held.
 */
#include <string.h>

#include "weak/weakmap_internal.h"

static int wc_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg);
static int wc_ephemerons(rcgc_object *self, rcgc_visit_pair_fn visit,
                         void *arg);
static void wc_clear(rcgc_runtime *rt, rcgc_object *self);
static void wc_release(rcgc_runtime *rt, rcgc_object *self);

#define WC_TYPE(tname, eph)                                                   \
    {                                                                         \
        .name = tname, .size = sizeof(wcontainer),                            \
        .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF, .traverse = wc_traverse,   \
        .clear = wc_clear, .release = wc_release, .ephemerons = eph           \
    }

static const rcgc_type wc_types[3] = {
    WC_TYPE("WeakValueMap", NULL), WC_TYPE("WeakSet", NULL),
    WC_TYPE("WeakKeyMap", wc_ephemerons)};

static wcontainer *as_container(const rcgc_object *o)
{
    if (o->type != &wc_types[WC_VALUE_MAP] && o->type != &wc_types[WC_SET] &&
        o->type != &wc_types[WC_KEY_MAP])
        return NULL;
    return (wcontainer *)o;
}

/* ---- hashing and lookup ---- */

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static uint64_t hash_identity(const void *p)
{
    return ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15u;
}

static int key_equal(const wcontainer *c, const wentry *e, const void *key,
                     size_t len)
{
    if (c->kind != WC_VALUE_MAP || c->obj_keys) return e->key == key;
    return e->key_len == len && (len == 0 || memcmp(e->key, key, len) == 0);
}

/* The position of the live entry for key, or -1.  An entry whose object
 * died but whose removal has not run yet does not count (a live entry for
 * the same key may follow it). */
static rcgc_ssize find(const wcontainer *c, uint64_t hash, const void *key,
                       size_t len)
{
    if (c->index_size == 0) return -1;
    size_t mask = (size_t)c->index_size - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        int32_t ix = c->index[i];
        if (ix == IX_EMPTY) return -1;
        if (ix >= 0) {
            const wentry *e = &c->entries[ix];
            if (e->hash == hash && key_equal(c, e, key, len) &&
                e->wr->wr.referent != NULL)
                return ix;
        }
    }
}

/* The index slot holding entry position ix. */
static size_t slot_of(const wcontainer *c, rcgc_ssize ix)
{
    size_t mask = (size_t)c->index_size - 1;
    size_t i = c->entries[ix].hash & mask;
    while (c->index[i] != ix) i = (i + 1) & mask;
    return i;
}

static void index_insert(wcontainer *c, uint64_t hash, rcgc_ssize ix)
{
    size_t mask = (size_t)c->index_size - 1;
    size_t i = hash & mask;
    RCGC_ASSERT(c->index_size > 0 && c->index_used < c->index_size);
    while (c->index[i] >= 0) i = (i + 1) & mask;
    if (c->index[i] == IX_EMPTY) c->index_used++;
    c->index[i] = (int32_t)ix;
}

/* Rebuild the index with size slots from the live entries (entries do not
 * move, so this is safe during iteration). */
static int index_rebuild(rcgc_runtime *rt, wcontainer *c, rcgc_ssize size)
{
    int32_t *index = rcgc__malloc(rt, (size_t)size * sizeof *index);
    if (index == NULL) return RCGC_ENOMEM;
    for (rcgc_ssize i = 0; i < size; i++) index[i] = IX_EMPTY;
    rcgc__free(rt, c->index);
    c->version++;
    c->index = index;
    c->index_size = size;
    c->index_used = 0;
    for (rcgc_ssize ix = 0; ix < c->nentries; ix++)
        if (c->entries[ix].wr != NULL) index_insert(c, c->entries[ix].hash, ix);
    return 0;
}

/* Free a tombstone's key bytes (kept while iterators might show them).
 * Object keys went with their entry (entry_remove). */
static void free_key(rcgc_runtime *rt, wcontainer *c, wentry *e)
{
    RCGC_ASSERT(!c->obj_keys || e->key == NULL);
    if (c->kind == WC_VALUE_MAP && !c->obj_keys && e->key != NULL)
        rcgc__free(rt, (void *)e->key);
    e->key = NULL;
}

/* Squeeze the tombstones out, when no iterator runs and they are at least
 * half of the array. */
static void maybe_compact(rcgc_runtime *rt, wcontainer *c)
{
    rcgc_ssize dead = c->nentries - c->len - c->npending;
    if (c->iterating > 0 || c->npending > 0 || c->busy > 0 || dead == 0 ||
        dead * 2 < c->nentries)
        return;
    c->version++;
    rcgc_ssize j = 0;
    for (rcgc_ssize i = 0; i < c->nentries; i++) {
        wentry *e = &c->entries[i];
        if (e->wr == NULL) {
            free_key(rt, c, e);
            continue;
        }
        if (j != i) c->entries[j] = *e;
        RCGC_ASSERT(c->entries[j].wr->slot == i && c->entries[j].wr->wr.owner == c);
        c->entries[j].wr->slot = j;
        j++;
    }
    RCGC_ASSERT(j == c->len);
    c->nentries = j;
    if (c->index_size > 0 && index_rebuild(rt, c, c->index_size) != 0) {
        /* Out of memory: keep the old index, whose slots are now wrong;
         * rebuild in place instead (same size, no allocation). */
        for (rcgc_ssize i = 0; i < c->index_size; i++) c->index[i] = IX_EMPTY;
        c->index_used = 0;
        for (rcgc_ssize ix = 0; ix < c->nentries; ix++)
            index_insert(c, c->entries[ix].hash, ix);
    }
}

/* Room for one more entry in the array and the index. */
static int ensure_room(rcgc_runtime *rt, wcontainer *c)
{
    maybe_compact(rt, c);
    if (rcgc__grow(rt, (void **)&c->entries, &c->cap, c->nentries + 1,
                   sizeof *c->entries) != 0)
        return RCGC_ENOMEM;
    /* Rebuild at two thirds full (dummies count), to at most half. */
    if ((c->index_used + 1) * 3 > c->index_size * 2) {
        /* every entry with a weak reference gets a slot: pending ones
         * (not in len) too */
        rcgc_ssize held = 0, size = 8;
        for (rcgc_ssize i = 0; i < c->nentries; i++) held += c->entries[i].wr != NULL;
        while ((held + 1) * 2 > size) size *= 2;
        if (size > INT32_MAX) return RCGC_ENOMEM;
        if (index_rebuild(rt, c, size) != 0) return RCGC_ENOMEM;
    }
    return 0;
}

/* ---- entries ---- */

/* Remove the entry at ix (live, or pending: then counted is 0).  The table
 * is consistent before any reference is dropped: the weak reference goes
 * first, then (weak-key map) the value. */
static void entry_remove(rcgc_runtime *rt, wcontainer *c, rcgc_ssize ix, int counted)
{
    wentry *e = &c->entries[ix];
    weakref_internal *wr = e->wr;
    RCGC_ASSERT(wr != NULL && wr->slot == ix && wr->wr.owner == c);
    RCGC_ASSERT(!counted || c->len > 0);
    rcgc_object *value = c->kind == WC_KEY_MAP ? e->value : NULL;
    rcgc_object *okey = c->obj_keys ? (rcgc_object *)e->key : NULL;
    c->index[slot_of(c, ix)] = IX_DUMMY;
    c->version++;
    e->wr = NULL;
    if (c->kind == WC_KEY_MAP) e->value = NULL;
    if (c->obj_keys) e->key = NULL; /* an iterator holds its own reference */
    if (c->iterating == 0) free_key(rt, c, e);
    if (counted) c->len--;
    wr->wr.owner = NULL;
    /* CPython's dict deletion: the key, then the value (here the weak
     * reference), then a weak-key map's value */
    rcgc_xdecref(rt, okey);
    rcgc_decref(rt, &wr->wr.base);
    rcgc_xdecref(rt, value);
}

/* Remove the live entry at ix. */
static void entry_delete(rcgc_runtime *rt, wcontainer *c, rcgc_ssize ix)
{
    entry_remove(rt, c, ix, 1);
}

/* Whether the entry at ix waits in the pending list. */
static int entry_pending(const wcontainer *c, rcgc_ssize ix)
{
    for (rcgc_ssize i = 0; i < c->npending; i++)
        if (c->pending[i] == ix) return 1;
    return 0;
}

/* Commit the pending removals (CPython's _commit_removals): newest first.
 * Removing one can run code that comes back here; positions stay valid
 * because nothing compacts while removals are pending. */
static void commit_removals(rcgc_runtime *rt, wcontainer *c)
{
    while (c->npending > 0) {
        rcgc_ssize ix = c->pending[--c->npending];
        if (ix < c->nentries && c->entries[ix].wr != NULL &&
            c->entries[ix].wr->wr.referent == NULL)
            entry_remove(rt, c, ix, 0);
    }
    maybe_compact(rt, c);
}

/* A weak-key map's len (CPython's _scrub_removals, issue 21173): pending
 * entries that clear already took out of the map (no value left) go now;
 * the others stay pending. */
static void scrub_orphans(rcgc_runtime *rt, wcontainer *c)
{
    for (rcgc_ssize i = 0; i < c->npending;) {
        rcgc_ssize ix = c->pending[i];
        wentry *e = &c->entries[ix];
        if (e->wr != NULL && e->wr->wr.referent == NULL && e->value != NULL) {
            i++;
            continue;
        }
        memmove(&c->pending[i], &c->pending[i + 1],
                (size_t)(c->npending - i - 1) * sizeof *c->pending);
        c->npending--;
        if (e->wr != NULL && e->wr->wr.referent == NULL) entry_remove(rt, c, ix, 0);
        i = 0; /* removing ran code: look again from the start */
    }
}

/* The reaction of an entry's weak reference: its object died.  While an
 * iteration runs the entry only becomes pending (CPython 3.11: the
 * removal waits for the last iteration to end, or, weak-value map and weak
 * set, for the next operation that commits); if the pending list cannot
 * grow, it goes at once, as it would without an iteration. */
static void entry_died(rcgc_runtime *rt, weakref_internal *wr)
{
    wcontainer *c = wr->wr.owner;
    rcgc_ssize ix = wr->slot;
    if (ix < 0 || ix >= c->nentries || c->entries[ix].wr != wr) return;
    if (c->iterating > 0 && !entry_pending(c, ix) &&
        rcgc__grow(rt, (void **)&c->pending, &c->pending_cap, c->npending + 1,
                   sizeof *c->pending) == 0) {
        c->pending[c->npending++] = ix;
        c->len--;
        c->version++;
        return;
    }
    if (!entry_pending(c, ix)) entry_delete(rt, c, ix);
}

/* Append an entry for the weak reference wr (whose slot is set here);
 * *key is taken over by the container. */
static void entry_append(wcontainer *c, uint64_t hash, weakref_internal *wr,
                         const void *key, size_t key_len, rcgc_object *value)
{
    RCGC_ASSERT(c->nentries < c->cap && c->len <= c->nentries);
    rcgc_ssize ix = c->nentries++;
    wentry *e = &c->entries[ix];
    e->hash = hash;
    e->wr = wr;
    e->key = key;
    if (c->kind == WC_KEY_MAP)
        e->value = value;
    else
        e->key_len = key_len;
    wr->slot = ix;
    index_insert(c, hash, ix);
    c->len++;
    c->version++;
}

/* A new internal weak reference to obj owned by c, or NULL. */
static weakref_internal *entry_ref(rcgc_runtime *rt, wcontainer *c,
                                   rcgc_object *obj)
{
    if (obj == NULL) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    rcgc__debug_check_object(rt, obj, "weak container");
    if (!type_is_weakrefable(obj->type)) {
        rt->last_error = RCGC_ENOTWEAK;
        return NULL;
    }
    if (obj->refcnt == 0) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    return rcgc__weakref_new_internal(rt, obj, entry_died, c, -1);
}

/* Drop a weak reference that did not make it into the table. */
static void drop_ref(rcgc_runtime *rt, weakref_internal *wr)
{
    wr->wr.owner = NULL;
    rcgc_decref(rt, &wr->wr.base);
}

/* ---- the object ---- */

static int wc_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    wcontainer *c = (wcontainer *)self;
    for (rcgc_ssize i = 0; i < c->nentries; i++) {
        const wentry *e = &c->entries[i];
        if (e->wr == NULL) continue;
        RCGC_VISIT(e->wr);
        if (c->obj_keys) RCGC_VISIT((rcgc_object *)e->key);
        /* a value whose key is dead (its removal pending) is an ordinary
         * strong reference, no longer an ephemeron; so is every value while
         * an iteration runs: a key that dies then leaves its entry, value
         * included, pending until the commit (CPython's dict holds it), so
         * the value must not die with the key */
        if (c->kind == WC_KEY_MAP && (e->wr->wr.referent == NULL || c->iterating > 0))
            RCGC_VISIT(e->value);
    }
    return 0;
}

static int wc_ephemerons(rcgc_object *self, rcgc_visit_pair_fn visit,
                         void *arg)
{
    wcontainer *c = (wcontainer *)self;
    if (c->iterating > 0) return 0; /* all strong meanwhile: wc_traverse */
    for (rcgc_ssize i = 0; i < c->nentries; i++) {
        const wentry *e = &c->entries[i];
        if (e->wr == NULL || e->wr->wr.referent == NULL) continue;
        int r = visit(e->wr->wr.referent, e->value, arg);
        if (r != 0) return r;
    }
    return 0;
}

/* Remove every entry, pending ones included, first inserted first (a
 * container's death: CPython's dict deallocation) or last inserted first
 * (clear: CPython's popitem loop).  Each removal can run code that changes
 * the table: positions hold (busy stops compaction), and the next entry is
 * looked for again from the cursor. */
static void wc_remove_all(rcgc_runtime *rt, wcontainer *c, int last_first)
{
    /* clear on a weak-key map while an iteration runs: a pending entry
     * lets go of its value (CPython's popitem pops it) but its weak
     * reference stays pending (CPython's _pending_removals still holds it)
     * until the commit or a len that scrubs (orphan: wr, no value). */
    int orphan = last_first && c->kind == WC_KEY_MAP && c->iterating > 0;
    c->busy++;
    rcgc_ssize cur = last_first ? c->nentries - 1 : 0, seen = c->nentries;
    for (;;) {
        if (last_first) {
            if (c->nentries != seen) cur = c->nentries - 1; /* added meanwhile */
            seen = c->nentries;
            while (cur >= 0 && (c->entries[cur].wr == NULL ||
                                (orphan && c->entries[cur].value == NULL)))
                cur--;
            if (cur < 0) break;
        } else {
            while (cur < c->nentries && c->entries[cur].wr == NULL) cur++;
            if (cur >= c->nentries) break;
        }
        int pending = entry_pending(c, cur);
        if (orphan && pending) {
            rcgc_object *value = c->entries[cur].value;
            c->entries[cur].value = NULL;
            rcgc_xdecref(rt, value);
            continue;
        }
        entry_remove(rt, c, cur, !pending);
    }
    if (c->iterating == 0) c->npending = 0;
    c->busy--;
    maybe_compact(rt, c);
}

static void wc_clear(rcgc_runtime *rt, rcgc_object *self)
{
    wc_remove_all(rt, (wcontainer *)self, 0);
}

static void wc_release(rcgc_runtime *rt, rcgc_object *self)
{
    wcontainer *c = (wcontainer *)self;
    for (rcgc_ssize i = 0; i < c->nentries; i++) free_key(rt, c, &c->entries[i]);
    rcgc__free(rt, c->entries);
    rcgc__free(rt, c->index);
    rcgc__free(rt, c->pending);
    c->entries = NULL;
    c->index = NULL;
    c->pending = NULL;
    c->npending = c->pending_cap = 0;
    c->nentries = c->cap = c->index_size = c->index_used = 0;
}

static rcgc_object *wc_new(rcgc_runtime *rt, unsigned kind, int obj_keys,
                           const rcgc_key_ops *ops)
{
    if (ops != NULL && (ops->hash == NULL || ops->eq == NULL)) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    rcgc_object *o = rcgc_object_new(rt, &wc_types[kind]);
    if (o == NULL) return NULL;
    wcontainer *c = (wcontainer *)o;
    c->kind = kind;
    c->obj_keys = obj_keys != 0;
    if (ops != NULL) {
        c->has_ops = 1;
        c->ops = *ops;
    }
    rcgc_object_track(rt, o);
    return o;
}

static wcontainer *checked(rcgc_runtime *rt, rcgc_object *o, unsigned kind,
                           const char *what)
{
    rcgc__debug_check_object(rt, o, what);
    wcontainer *c = as_container(o);
    if (c == NULL || c->kind != kind) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    return c;
}

/* A weak-value map with byte keys (obj_keys 0) or object keys (1). */
static wcontainer *checked_vmap(rcgc_runtime *rt, rcgc_object *o,
                                unsigned obj_keys, const char *what)
{
    wcontainer *c = checked(rt, o, WC_VALUE_MAP, what);
    if (c != NULL && c->obj_keys != obj_keys) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    return c;
}

int rcgc_is_wvmap(const rcgc_object *o)
{
    return o != NULL && o->type == &wc_types[WC_VALUE_MAP];
}

int rcgc_is_wset(const rcgc_object *o)
{
    return o != NULL && o->type == &wc_types[WC_SET];
}

int rcgc_is_wkmap(const rcgc_object *o)
{
    return o != NULL && o->type == &wc_types[WC_KEY_MAP];
}

/* ---- object keys: hashing, lookup, the references held across hooks ---- */

/* The hash of an object key by the hash hook: 0, or RCGC_EFAILED. */
static int key_hash(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                    uint64_t *hash)
{
    uint64_t h = 0;
    if (c->ops.hash(rt, key, &h, c->ops.ctx) != 0) return RCGC_EFAILED;
    *hash = h;
    return 0;
}

/* The key object of a live entry that can be compared: the weak-value map's
 * (held by the entry), or the weakly held key while it is alive (not while
 * it is being freed: its count is 0 then). */
static rcgc_object *entry_key_obj(const wcontainer *c, const wentry *e)
{
    if (c->kind == WC_VALUE_MAP) return (rcgc_object *)e->key;
    rcgc_object *k = e->wr->wr.referent;
    return k != NULL && k->refcnt != 0 ? k : NULL;
}

/* CPython's lookdict with hooks: *out = the position of the live entry
 * whose key is key or equal to it, or -1.  0, or RCGC_EFAILED when eq
 * fails.  The stored key is held across the eq call; when the table changed
 * meanwhile (version), the lookup starts again. */
static int lookup_hooked(rcgc_runtime *rt, wcontainer *c, uint64_t hash,
                         rcgc_object *key, rcgc_ssize *out)
{
restart:
    *out = -1;
    if (c->index_size == 0) return 0;
    uint64_t version = c->version;
    for (size_t i = hash & ((size_t)c->index_size - 1);;
         i = (i + 1) & ((size_t)c->index_size - 1)) {
        int32_t ix = c->index[i];
        if (ix == IX_EMPTY) return 0;
        if (ix < 0 || c->entries[ix].wr->wr.referent == NULL) continue;
        rcgc_object *k = entry_key_obj(c, &c->entries[ix]);
        if (k == key) {
            *out = ix;
            return 0;
        }
        if (k == NULL || c->entries[ix].hash != hash) continue;
        rcgc_incref(k);
        int r = c->ops.eq(rt, k, key, c->ops.ctx);
        rcgc_decref(rt, k);
        if (r < 0) return RCGC_EFAILED;
        if (c->version != version) goto restart;
        if (r > 0) {
            *out = ix;
            return 0;
        }
    }
}

/* The hooks' part of key_find, kept out of line so that the identity
 * containers' lookups stay as short as before hooks existed. */
static RCGC__NOINLINE int key_find_hooked(rcgc_runtime *rt, wcontainer *c,
                                          rcgc_object *key, uint64_t *hash,
                                          rcgc_ssize *ix)
{
    int r = key_hash(rt, c, key, hash);
    return r != 0 ? r : lookup_hooked(rt, c, *hash, key, ix);
}

/* Hash key and find its entry (*ix, or -1): 0 or RCGC_EFAILED. */
static int key_find(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                    uint64_t *hash, rcgc_ssize *ix)
{
    if (c->has_ops) return key_find_hooked(rt, c, key, hash, ix);
    *hash = hash_identity(key);
    *ix = find(c, *hash, key, 0);
    return 0;
}

/* With hooks, the operation holds the container, the key and the value
 * (may be NULL) while hooks may run; it lets go of them (value, key, then
 * the container) when it has finished with the table.  Returns whether it
 * holds them, for let_go, or RCGC_EINVAL (nothing held) for a key or value
 * that is being freed (count 0). */
static inline int hold(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                       rcgc_object *value)
{
    if (!c->has_ops) return 0;
    rcgc__debug_check_object(rt, key, "weak container key");
    if (key->refcnt == 0 || (value != NULL && value->refcnt == 0))
        return RCGC_EINVAL;
    rcgc_incref(&c->base);
    rcgc_incref(key);
    if (value != NULL) rcgc_incref(value);
    return 1;
}

static inline void let_go(rcgc_runtime *rt, int held, wcontainer *c,
                          rcgc_object *key, rcgc_object *value)
{
    if (held <= 0) return;
    rcgc_xdecref(rt, value);
    rcgc_decref(rt, key);
    rcgc_decref(rt, &c->base);
}

/* Whether a hooked container refuses key for lookups (CPython's ref(key)
 * raises TypeError): RCGC_ENOTWEAK; 0 if key may be looked up.  Identity
 * containers look anything up (and find nothing). */
static int weak_key_refused(const wcontainer *c, const rcgc_object *key)
{
    return c->has_ops && !type_is_weakrefable(key->type) ? RCGC_ENOTWEAK : 0;
}

/* ---- weak-value map ---- */

rcgc_object *rcgc_wvmap_new(rcgc_runtime *rt)
{
    return wc_new(rt, WC_VALUE_MAP, 0, NULL);
}

rcgc_object *rcgc_wvmap_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops)
{
    return wc_new(rt, WC_VALUE_MAP, 1, ops);
}

int rcgc_wvmap_set(rcgc_runtime *rt, rcgc_object *map,
                   const void *key, size_t key_len,
                   rcgc_object *value)
{
    wcontainer *c = checked_vmap(rt, map, 0, "rcgc_wvmap_set");
    if (c == NULL || (key == NULL && key_len > 0)) return RCGC_EINVAL;
    commit_removals(rt, c);
    /* Allocate first: an allocation may collect and run code that changes
     * the table, so the lookup comes after. */
    weakref_internal *wr = entry_ref(rt, c, value);
    if (wr == NULL) return rt->last_error;
    void *copy = rcgc__malloc(rt, key_len);
    if (copy == NULL) {
        drop_ref(rt, wr);
        return RCGC_ENOMEM;
    }
    if (key_len > 0) memcpy(copy, key, key_len);
    uint64_t h = hash_bytes(key, key_len);
    rcgc_ssize ix = find(c, h, key, key_len);
    if (ix >= 0) { /* replace the reference; the old one goes */
        wentry *e = &c->entries[ix];
        weakref_internal *old = e->wr;
        e->wr = wr;
        wr->slot = ix;
        c->version++;
        rcgc__free(rt, copy);
        drop_ref(rt, old);
        return 0;
    }
    if (ensure_room(rt, c) != 0) {
        rcgc__free(rt, copy);
        drop_ref(rt, wr);
        return RCGC_ENOMEM;
    }
    entry_append(c, h, wr, copy, key_len, NULL);
    return 0;
}

rcgc_object *rcgc_wvmap_get(rcgc_runtime *rt, rcgc_object *map,
                            const void *key, size_t key_len)
{
    wcontainer *c = checked_vmap(rt, map, 0, "rcgc_wvmap_get");
    if (c == NULL || (key == NULL && key_len > 0)) return NULL;
    commit_removals(rt, c);
    rcgc_ssize ix = find(c, hash_bytes(key, key_len), key, key_len);
    return ix >= 0 ? rcgc_weakref_get(rt, &c->entries[ix].wr->wr.base) : NULL;
}

int rcgc_wvmap_contains(rcgc_runtime *rt, rcgc_object *map,
                        const void *key, size_t key_len)
{
    wcontainer *c = checked_vmap(rt, map, 0, "rcgc_wvmap_contains");
    if (c == NULL || (key == NULL && key_len > 0)) return 0;
    commit_removals(rt, c);
    return find(c, hash_bytes(key, key_len), key, key_len) >= 0;
}

int rcgc_wvmap_delete(rcgc_runtime *rt, rcgc_object *map,
                      const void *key, size_t key_len)
{
    wcontainer *c = checked_vmap(rt, map, 0, "rcgc_wvmap_delete");
    if (c == NULL || (key == NULL && key_len > 0)) return RCGC_EINVAL;
    commit_removals(rt, c);
    rcgc_ssize ix = find(c, hash_bytes(key, key_len), key, key_len);
    if (ix < 0) return RCGC_ENOTFOUND;
    entry_delete(rt, c, ix);
    return 0;
}

/* Object keys (CPython's WeakValueDictionary.__setitem__: commit, make the
 * KeyedRef, then dict's insert: hash, lookup, insert or replace the value;
 * the first key stays). */
static int vmap_set_obj(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                        weakref_internal *wr)
{
    uint64_t h;
    rcgc_ssize ix;
    int r = key_find(rt, c, key, &h, &ix);
    if (r == 0 && ix < 0 && ensure_room(rt, c) != 0) r = RCGC_ENOMEM;
    if (r != 0) {
        drop_ref(rt, wr);
        return r;
    }
    if (ix < 0) {
        rcgc_incref(key);
        entry_append(c, h, wr, key, 0, NULL);
        return 0;
    }
    wentry *e = &c->entries[ix];
    weakref_internal *old = e->wr;
    e->wr = wr;
    wr->slot = ix;
    c->version++;
    drop_ref(rt, old);
    return 0;
}

int rcgc_wvmap_set_obj(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                       rcgc_object *value)
{
    wcontainer *c = checked_vmap(rt, map, 1, "rcgc_wvmap_set_obj");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    rcgc__debug_check_object(rt, key, "rcgc_wvmap_set_obj");
    if (key->refcnt == 0) return RCGC_EINVAL; /* being freed */
    int held = hold(rt, c, key, value);
    if (held < 0) return held;
    commit_removals(rt, c);
    weakref_internal *wr = entry_ref(rt, c, value);
    int r = wr == NULL ? rt->last_error : vmap_set_obj(rt, c, key, wr);
    let_go(rt, held, c, key, value);
    return r;
}

/* Find key in an object-key map: 0 and *ix (or -1), or a negative code. */
static int vmap_find_obj(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                         rcgc_ssize *ix)
{
    uint64_t h;
    commit_removals(rt, c);
    return key_find(rt, c, key, &h, ix);
}

int rcgc_wvmap_get_obj(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                       rcgc_object **value)
{
    if (value == NULL) return RCGC_EINVAL;
    *value = NULL;
    wcontainer *c = checked_vmap(rt, map, 1, "rcgc_wvmap_get_obj");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = vmap_find_obj(rt, c, key, &ix);
    if (r == 0 && ix >= 0) {
        *value = rcgc_weakref_get(rt, &c->entries[ix].wr->wr.base);
        r = *value != NULL;
    }
    let_go(rt, held, c, key, NULL);
    return r;
}

int rcgc_wvmap_contains_obj(rcgc_runtime *rt, rcgc_object *map,
                            rcgc_object *key)
{
    wcontainer *c = checked_vmap(rt, map, 1, "rcgc_wvmap_contains_obj");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = vmap_find_obj(rt, c, key, &ix);
    let_go(rt, held, c, key, NULL);
    return r != 0 ? r : ix >= 0;
}

int rcgc_wvmap_delete_obj(rcgc_runtime *rt, rcgc_object *map,
                          rcgc_object *key)
{
    wcontainer *c = checked_vmap(rt, map, 1, "rcgc_wvmap_delete_obj");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = vmap_find_obj(rt, c, key, &ix);
    if (r == 0 && ix < 0) r = RCGC_ENOTFOUND;
    if (r == 0) entry_delete(rt, c, ix);
    let_go(rt, held, c, key, NULL);
    return r;
}

/* ---- weak set, weak-key map: keys held weakly ---- */

/* Add key (an object) to a weak set or weak-key map; for the key map, with
 * value (replaced if the key, or an equal one, is there).  As CPython's
 * WeakSet.add and WeakKeyDictionary.__setitem__ (data[ref(key, cb)] =
 * value): the new weak reference is made first, whether or not the key is
 * there (the allocation may collect, and then runs code that changes the
 * table, so the lookup comes after), then the key is hashed and looked up
 * (hooks); if it is there, the value is replaced (the old one released; the
 * first key stays) and then the new reference goes. */
static int weak_key_set(rcgc_runtime *rt, wcontainer *c, rcgc_object *key,
                        rcgc_object *value)
{
    weakref_internal *wr = entry_ref(rt, c, key);
    if (wr == NULL) return rt->last_error;
    uint64_t h;
    rcgc_ssize ix;
    int r = key_find(rt, c, key, &h, &ix);
    if (r == 0 && ix < 0 && ensure_room(rt, c) != 0) r = RCGC_ENOMEM;
    if (r != 0) {
        drop_ref(rt, wr);
        return r;
    }
    if (ix < 0) {
        if (value != NULL) rcgc_incref(value);
        entry_append(c, h, wr, key, 0, value);
        return 0;
    }
    if (value != NULL) {
        wentry *e = &c->entries[ix];
        rcgc_incref(value);
        rcgc_object *old = e->value;
        e->value = value;
        rcgc_xdecref(rt, old);
    }
    drop_ref(rt, wr);
    return 0;
}

/* Find key in a weak set or weak-key map: 0 and *ix (or -1), or a negative
 * code (RCGC_EFAILED; RCGC_ENOTWEAK with hooks for a key that cannot be
 * weakly referenced). */
static inline int weak_key_find(rcgc_runtime *rt, wcontainer *c,
                                rcgc_object *key, rcgc_ssize *ix)
{
    uint64_t h;
    *ix = -1;
    int r = weak_key_refused(c, key);
    return r != 0 ? r : key_find(rt, c, key, &h, ix);
}

rcgc_object *rcgc_wset_new(rcgc_runtime *rt)
{
    return wc_new(rt, WC_SET, 0, NULL);
}

rcgc_object *rcgc_wset_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops)
{
    return wc_new(rt, WC_SET, 0, ops);
}

int rcgc_wset_add(rcgc_runtime *rt, rcgc_object *set,
                  rcgc_object *item)
{
    wcontainer *c = checked(rt, set, WC_SET, "rcgc_wset_add");
    if (c == NULL || item == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, item, NULL);
    if (held < 0) return held;
    commit_removals(rt, c);
    int r = weak_key_set(rt, c, item, NULL);
    let_go(rt, held, c, item, NULL);
    return r;
}

int rcgc_wset_contains(rcgc_runtime *rt, rcgc_object *set,
                       rcgc_object *item)
{
    wcontainer *c = checked(rt, set, WC_SET, "rcgc_wset_contains");
    if (c == NULL || item == NULL) return 0;
    if (weak_key_refused(c, item) != 0) return 0; /* WeakSet: False */
    int held = hold(rt, c, item, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = weak_key_find(rt, c, item, &ix);
    let_go(rt, held, c, item, NULL);
    return r != 0 ? r : ix >= 0;
}

int rcgc_wset_discard(rcgc_runtime *rt, rcgc_object *set,
                      rcgc_object *item)
{
    wcontainer *c = checked(rt, set, WC_SET, "rcgc_wset_discard");
    if (c == NULL || item == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, item, NULL);
    if (held < 0) return held;
    commit_removals(rt, c);
    rcgc_ssize ix;
    int r = weak_key_find(rt, c, item, &ix);
    if (r == 0 && ix < 0) r = RCGC_ENOTFOUND;
    if (r == 0) entry_delete(rt, c, ix);
    let_go(rt, held, c, item, NULL);
    return r;
}

rcgc_object *rcgc_wkmap_new(rcgc_runtime *rt)
{
    return wc_new(rt, WC_KEY_MAP, 0, NULL);
}

rcgc_object *rcgc_wkmap_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops)
{
    return wc_new(rt, WC_KEY_MAP, 0, ops);
}

int rcgc_wkmap_set(rcgc_runtime *rt, rcgc_object *map,
                   rcgc_object *key, rcgc_object *value)
{
    wcontainer *c = checked(rt, map, WC_KEY_MAP, "rcgc_wkmap_set");
    if (c == NULL || key == NULL || value == NULL) return RCGC_EINVAL;
    rcgc__debug_check_object(rt, value, "rcgc_wkmap_set");
    int held = hold(rt, c, key, value);
    if (held < 0) return held;
    int r = weak_key_set(rt, c, key, value);
    let_go(rt, held, c, key, value);
    return r;
}

int rcgc_wkmap_lookup(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                      rcgc_object **value)
{
    if (value == NULL) return RCGC_EINVAL;
    *value = NULL;
    wcontainer *c = checked(rt, map, WC_KEY_MAP, "rcgc_wkmap_lookup");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = weak_key_find(rt, c, key, &ix);
    if (r == 0 && ix >= 0) {
        *value = c->entries[ix].value;
        rcgc_incref(*value);
        r = 1;
    }
    let_go(rt, held, c, key, NULL);
    return r;
}

rcgc_object *rcgc_wkmap_get(rcgc_runtime *rt, rcgc_object *map,
                            rcgc_object *key)
{
    rcgc_object *v;
    int r = rcgc_wkmap_lookup(rt, map, key, &v);
    if (r < 0) rt->last_error = r;
    return v;
}

int rcgc_wkmap_contains(rcgc_runtime *rt, rcgc_object *map,
                        rcgc_object *key)
{
    wcontainer *c = checked(rt, map, WC_KEY_MAP, "rcgc_wkmap_contains");
    if (c == NULL || key == NULL) return 0;
    if (weak_key_refused(c, key) != 0) return 0; /* CPython: False */
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = weak_key_find(rt, c, key, &ix);
    let_go(rt, held, c, key, NULL);
    return r != 0 ? r : ix >= 0;
}

int rcgc_wkmap_delete(rcgc_runtime *rt, rcgc_object *map,
                      rcgc_object *key)
{
    wcontainer *c = checked(rt, map, WC_KEY_MAP, "rcgc_wkmap_delete");
    if (c == NULL || key == NULL) return RCGC_EINVAL;
    int held = hold(rt, c, key, NULL);
    if (held < 0) return held;
    rcgc_ssize ix;
    int r = weak_key_find(rt, c, key, &ix);
    if (r == 0 && ix < 0) r = RCGC_ENOTFOUND;
    if (r == 0) entry_delete(rt, c, ix);
    let_go(rt, held, c, key, NULL);
    return r;
}

/* ---- common ---- */

rcgc_ssize rcgc_weak_len(rcgc_runtime *rt, rcgc_object *container)
{
    rcgc__debug_check_object(rt, container, "rcgc_weak_len");
    wcontainer *c = as_container(container);
    if (c == NULL) return RCGC_EINVAL;
    if (c->kind == WC_VALUE_MAP) commit_removals(rt, c);
    if (c->kind == WC_KEY_MAP) scrub_orphans(rt, c);
    return c->len;
}

int rcgc_weak_clear(rcgc_runtime *rt, rcgc_object *container)
{
    rcgc__debug_check_object(rt, container, "rcgc_weak_clear");
    wcontainer *c = as_container(container);
    if (c == NULL) return RCGC_EINVAL;
    if (c->kind != WC_KEY_MAP) commit_removals(rt, c);
    wc_remove_all(rt, c, 1);
    return 0;
}

/* ---- iteration ---- */

static void iter_release_item(rcgc_witer *it)
{
    rcgc_object *k = it->key_obj, *v = it->value;
    it->key = NULL;
    it->key_len = 0;
    it->key_obj = it->value = NULL;
    rcgc_xdecref(it->rt, v); /* CPython's generators: the value, then the key */
    rcgc_xdecref(it->rt, k);
}

int rcgc_witer_begin(rcgc_runtime *rt, rcgc_object *container,
                     rcgc_witer *it)
{
    memset(it, 0, sizeof *it);
    rcgc__debug_check_object(rt, container, "rcgc_witer_begin");
    wcontainer *c = as_container(container);
    if (c == NULL) return RCGC_EINVAL;
    if (c->kind == WC_VALUE_MAP) commit_removals(rt, c);
    it->rt = rt;
    it->container = container;
    rcgc_incref(container);
    c->iterating++;
    return 0;
}

/* The previous item is let go of when the next entry is examined, as in
 * CPython's generators: the weak-value map's value and the weak set's item
 * after the next entry's object is fetched (v = wr()), the weak-key map's
 * value before and its key after (for wr, value in ...: key = wr()).  If
 * there is no next entry, rcgc_witer_end lets go of them. */
int rcgc_witer_next(rcgc_witer *it)
{
    if (it->container == NULL) return 0;
    wcontainer *c = (wcontainer *)it->container;
    while (it->pos < c->nentries) {
        const wentry *e = &c->entries[it->pos++];
        if (e->wr == NULL) continue;
        rcgc_object *old_key = it->key_obj, *old_value = it->value;
        rcgc_object *ref = e->wr->wr.referent;
        if (ref != NULL && ref->refcnt <= 0) ref = NULL;
        const void *key = e->key;
        int bytes = c->kind == WC_VALUE_MAP && !c->obj_keys;
        size_t key_len = bytes ? e->key_len : 0;
        rcgc_object *value = c->kind == WC_KEY_MAP && ref != NULL ? e->value : NULL;
        rcgc_object *okey = c->obj_keys && ref != NULL ? (rcgc_object *)e->key : NULL;
        if (ref != NULL) rcgc_incref(ref);
        if (value != NULL) rcgc_incref(value);
        if (okey != NULL) rcgc_incref(okey);
        it->key = NULL;
        it->key_len = 0;
        it->key_obj = it->value = NULL;
        /* letting go can run code that changes the table (not its order) */
        rcgc_xdecref(it->rt, old_value);
        rcgc_xdecref(it->rt, old_key);
        if (ref == NULL) continue;
        if (bytes) {
            it->key = key; /* kept while an iterator runs */
            it->key_len = key_len;
            it->value = ref;
        } else if (c->kind == WC_VALUE_MAP) {
            it->key_obj = okey;
            it->value = ref;
        } else {
            it->key_obj = ref;
            it->value = value;
        }
        return 1;
    }
    return 0;
}

/* As CPython's _IterationGuard, then the generator's frame: the iteration
 * is unregistered (the last one commits the pending removals), then the
 * current item is let go of, then the container. */
void rcgc_witer_end(rcgc_witer *it)
{
    if (it->container == NULL) return;
    wcontainer *c = (wcontainer *)it->container;
    rcgc_object *container = it->container;
    it->container = NULL;
    if (--c->iterating == 0) commit_removals(it->rt, c);
    iter_release_item(it);
    rcgc_decref(it->rt, container);
}

/* ---- the invariant checker ---- */

static int wc_violation(rcgc_runtime *rt, const wcontainer *c, rcgc_ssize ix,
                        const char *what)
{
    fprintf(rt->debug_stream,
            "rcgc: weak container invariant violated: %s (%s %p, entry %td)\n",
            what, c->base.type->name, (const void *)c, ix);
    return RCGC_ECORRUPT;
}

/* One live entry: its weak reference is internal, owned by c, knows its
 * position; while its object lives, the key is that object (identity
 * containers) and the hash is the key's. */
static int check_entry(rcgc_runtime *rt, const wcontainer *c, rcgc_ssize ix)
{
    const wentry *e = &c->entries[ix];
    const weakref *wr = &e->wr->wr;
    if (!rcgc_is_weakref(&wr->base) || wr->kind != WR_INTERNAL)
        return wc_violation(rt, c, ix, "entry's weak reference is not internal");
    if (wr->owner != c)
        return wc_violation(rt, c, ix, "weak reference's owner is not the container");
    if (e->wr->slot != ix)
        return wc_violation(rt, c, ix, "weak reference's slot is not its entry");
    if (wr->base.refcnt <= 0)
        return wc_violation(rt, c, ix, "entry holds a dead weak reference");
    if (c->kind == WC_KEY_MAP && e->value != NULL && e->value->refcnt == 0)
        return wc_violation(rt, c, ix, "weak-key map holds a dead value");
    if (c->obj_keys && (e->key == NULL || ((const rcgc_object *)e->key)->refcnt == 0))
        return wc_violation(rt, c, ix, "object-key map holds a missing or dead key");
    /* the hooks' hashes cannot be computed again here (a hook may run code) */
    if (!c->has_ops) {
        uint64_t h = c->kind == WC_VALUE_MAP && !c->obj_keys
                         ? hash_bytes(e->key, e->key_len)
                         : hash_identity(e->key);
        if (e->hash != h) return wc_violation(rt, c, ix, "stored hash is wrong");
    }
    if (c->kind != WC_VALUE_MAP && wr->referent != NULL && wr->referent != e->key)
        return wc_violation(rt, c, ix, "key is not the weak reference's referent");
    return 0;
}

/* The index: a power of two (or 0) with an EMPTY slot left, index_used
 * non-EMPTY slots, every live entry in exactly one slot, reachable by
 * probing from its hash. */
static int check_index(rcgc_runtime *rt, const wcontainer *c, rcgc_ssize pending)
{
    rcgc_ssize size = c->index_size, used = 0, live = 0;
    if (size < 0 || (size & (size - 1)) != 0 || (size > 0 && c->index == NULL))
        return wc_violation(rt, c, -1, "index size is not a power of two");
    for (rcgc_ssize i = 0; i < size; i++) {
        int32_t ix = c->index[i];
        if (ix == IX_EMPTY) continue;
        used++;
        if (ix == IX_DUMMY) continue;
        if (ix < 0 || ix >= c->nentries || c->entries[ix].wr == NULL)
            return wc_violation(rt, c, ix, "index slot names no live entry");
        live++;
        size_t mask = (size_t)size - 1;
        for (size_t j = c->entries[ix].hash & mask; j != (size_t)i; j = (j + 1) & mask)
            if (c->index[j] == IX_EMPTY)
                return wc_violation(rt, c, ix, "entry unreachable by probing");
    }
    if (used != c->index_used)
        return wc_violation(rt, c, -1, "index_used is not the non-empty slots");
    if (size > 0 && used >= size)
        return wc_violation(rt, c, -1, "index has no empty slot");
    if (live != c->len + pending)
        return wc_violation(rt, c, -1, "index does not hold every live entry once");
    return 0;
}

static int check_container(rcgc_runtime *rt, rcgc_object *o, void *arg)
{
    (void)arg;
    const wcontainer *c = as_container(o);
    if (c == NULL) return 0;
    if (c->kind != (unsigned)(o->type - wc_types))
        return wc_violation(rt, c, -1, "kind does not match the type");
    if (c->len < 0 || c->len > c->nentries || c->nentries > c->cap ||
        (c->cap > 0 && c->entries == NULL))
        return wc_violation(rt, c, -1, "sizes out of order (len <= nentries <= cap)");
    rcgc_ssize live = 0;
    for (rcgc_ssize ix = 0; ix < c->nentries; ix++) {
        if (c->entries[ix].wr == NULL) continue;
        live++;
        if (check_entry(rt, c, ix) != 0) return RCGC_ECORRUPT;
    }
    rcgc_ssize pending = 0;
    for (rcgc_ssize i = 0; i < c->npending; i++) {
        rcgc_ssize ix = c->pending[i];
        if (ix < 0 || ix >= c->nentries)
            return wc_violation(rt, c, ix, "pending position out of the array");
        if (c->entries[ix].wr == NULL) continue; /* removed meanwhile */
        if (c->entries[ix].wr->wr.referent != NULL)
            return wc_violation(rt, c, ix, "pending entry's object is alive");
        pending++;
    }
    if (live != c->len + pending)
        return wc_violation(rt, c, -1, "len is not the number of live entries");
    return check_index(rt, c, pending);
}

int rcgc__weakmap_check(rcgc_runtime *rt)
{
    return rcgc__for_each_object(rt, check_container, NULL);
}
