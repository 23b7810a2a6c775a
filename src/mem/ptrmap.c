/*
 * ptrmap.c - a hash table from pointers to (size, tag), for the debug and
 * fault-injection layers: they must know every live block without storing
 * anything inside the blocks (which a buggy program may overwrite).
 *
 * Open addressing with linear probing; removal shifts the following entries
 * back, so there are no tombstones.  Invariant: count * 4 <= cap * 3, and
 * every key sits between its home slot and the first empty slot after it.
 *
 * rcgc__idxmap (the end of this file, lookups inline in alloc_internal.h):
 * pointer -> 32-bit value in a block the caller allocates once, for a walk
 * that numbers a known set of objects.  Invariants: count <= max, cap =
 * rcgc__idxmap_slots(max) (so at least a third of the slots stay empty and
 * every probe ends), every key between its home and the next empty slot.
 */
#include <string.h>

#include "mem/alloc_internal.h"

#define PTRMAP_MIN_CAP 64

static size_t home(const rcgc__ptrmap *m, const void *key)
{
    uint64_t h = ((uint64_t)(uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (m->cap - 1);
}

void rcgc__ptrmap_init(rcgc__ptrmap *m, const rcgc_allocator *meta)
{
    memset(m, 0, sizeof *m);
    m->meta = *meta;
}

void rcgc__ptrmap_fini(rcgc__ptrmap *m)
{
    if (m->slots != NULL) m->meta.free(m->meta.ctx, m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

rcgc__ptrmap_entry *rcgc__ptrmap_find(const rcgc__ptrmap *m, const void *key)
{
    if (m->cap == 0 || key == NULL) return NULL;
    for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
        rcgc__ptrmap_entry *e = &m->slots[i];
        if (e->key == key) return e;
        if (e->key == NULL) return NULL;
    }
}

/* Place an entry whose key is not in the table (room is guaranteed). */
static void place(rcgc__ptrmap *m, const rcgc__ptrmap_entry *src)
{
    size_t i = home(m, src->key);
    while (m->slots[i].key != NULL) i = (i + 1) & (m->cap - 1);
    m->slots[i] = *src;
}

static int ptrmap_grow(rcgc__ptrmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : PTRMAP_MIN_CAP;
    rcgc__ptrmap_entry *old = m->slots;
    size_t oldcap = m->cap;
    rcgc__ptrmap_entry *s = m->meta.calloc(m->meta.ctx, ncap, sizeof *s);
    if (s == NULL) return RCGC_ENOMEM;
    m->slots = s;
    m->cap = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key != NULL) place(m, &old[i]);
    if (old != NULL) m->meta.free(m->meta.ctx, old);
    return 0;
}

int rcgc__ptrmap_put(rcgc__ptrmap *m, const void *key, size_t size,
                     uint64_t tag)
{
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(m, key);
    if (e != NULL) {
        e->size = size;
        e->tag = tag;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3 && ptrmap_grow(m) != 0)
        return RCGC_ENOMEM;
    rcgc__ptrmap_entry n = {key, size, tag};
    place(m, &n);
    m->count++;
    return 0;
}

int rcgc__ptrmap_remove(rcgc__ptrmap *m, const void *key)
{
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(m, key);
    if (e == NULL) return 0;
    size_t mask = m->cap - 1, hole = (size_t)(e - m->slots);
    for (size_t i = (hole + 1) & mask; m->slots[i].key != NULL; i = (i + 1) & mask) {
        /* move entry i into the hole if its home is not in (hole, i] */
        size_t h = home(m, m->slots[i].key);
        if (((i - h) & mask) >= ((i - hole) & mask)) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].key = NULL;
    m->count--;
    return 1;
}

/* ---- the fixed index map ---- */

void rcgc__idxmap_init(rcgc__idxmap *m, void *block, size_t max)
{
    RCGC_ASSERT(max <= RCGC__IDXMAP_MAX_KEYS);
    m->cap = rcgc__idxmap_slots(max);
    m->keys = block;
    m->vals = (uint32_t *)(void *)(m->keys + m->cap);
    m->count = 0;
    m->max = max;
}

int rcgc__idxmap_add(rcgc__idxmap *m, const void *key, uint32_t val)
{
    RCGC_ASSERT(key != NULL && val != RCGC__IDXMAP_NONE);
    if (m->count == m->max) return -1;
    size_t i = rcgc__idxmap_home(m, key);
    while (m->keys[i] != NULL) {
        RCGC_ASSERT(m->keys[i] != key);
        if (++i == m->cap) i = 0;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return 0;
}
