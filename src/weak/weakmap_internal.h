/*
 * weakmap_internal.h - the weak containers' table (weakmap.c), for the
 * container code and for tests that corrupt it on purpose to see its
 * checker (rcgc__weakmap_check) report.  Table invariants: weakmap.c.
 */
#ifndef RCGC_WEAKMAP_INTERNAL_H
#define RCGC_WEAKMAP_INTERNAL_H

#include "weak/weak_internal.h"

enum { WC_VALUE_MAP, WC_SET, WC_KEY_MAP };

#define IX_EMPTY (-1)
#define IX_DUMMY (-2)

typedef struct wentry {
    uint64_t hash;
    weakref_internal *wr; /* strong; NULL: tombstone */
    const void *key;      /* byte-key value map: copied bytes (owned);
                             object-key value map: the key object (a
                             strong reference); else the weakly held
                             object's address, for identity */
    union {
        size_t key_len;     /* byte-key value map */
        rcgc_object *value; /* weak-key map: the value (strong) */
    };
} wentry;

typedef struct wcontainer {
    rcgc_object base;
    unsigned kind;          /* WC_* */
    unsigned iterating;     /* live iterators */
    unsigned busy;          /* removing every entry: no compaction */
    unsigned obj_keys;      /* value map: object keys (else bytes) */
    unsigned has_ops;       /* keys compared with ops (else identity) */
    rcgc_key_ops ops;       /* the embedder's hooks (has_ops) */
    uint64_t version;       /* bumped by every change of the table: a
                               lookup calling eq restarts when it moved */
    wentry *entries;
    rcgc_ssize nentries;    /* used slots, tombstones included */
    rcgc_ssize cap;         /* allocated slots */
    rcgc_ssize len;         /* live entries (pending ones excluded) */
    rcgc_ssize *pending;    /* positions of entries whose object died
                               during an iteration, oldest first */
    rcgc_ssize npending, pending_cap;
    int32_t *index;
    rcgc_ssize index_size;  /* power of two, or 0 */
    rcgc_ssize index_used;  /* non-EMPTY index slots */
} wcontainer;

#endif /* RCGC_WEAKMAP_INTERNAL_H */
