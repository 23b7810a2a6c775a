/*
 * weakmap_fixtures.c - the shared helpers of weakmap_fixtures.h.
 */
#include "weakmap_fixtures.h"

const char *const kind_name[K_COUNT] = {"wvmap", "wset", "wkmap"};

rcgc_object *c_new(rcgc_runtime *rt, int kind)
{
    switch (kind) {
    case K_VMAP:
        return rcgc_wvmap_new(rt);
    case K_SET:
        return rcgc_wset_new(rt);
    default:
        return rcgc_wkmap_new(rt);
    }
}

size_t key_of(int id, char *buf)
{
    return (size_t)sprintf(buf, "k%d", id);
}

int c_put(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o)
{
    char k[32];
    switch (kind) {
    case K_VMAP:
        return rcgc_wvmap_set(rt, c, k, key_of(t_as(o)->id, k), o);
    case K_SET:
        return rcgc_wset_add(rt, c, o);
    default: {
        rcgc_object *v = t_leaf(rt, t_as(o)->id + 1000);
        if (v == NULL) return RCGC_ENOMEM;
        int r = rcgc_wkmap_set(rt, c, o, v);
        rcgc_decref(rt, v);
        return r;
    }
    }
}

int c_has_id(rcgc_runtime *rt, rcgc_object *c, int kind, int id,
             rcgc_object *o)
{
    char k[32];
    switch (kind) {
    case K_VMAP:
        return rcgc_wvmap_contains(rt, c, k, key_of(id, k));
    case K_SET:
        return rcgc_wset_contains(rt, c, o);
    default:
        return rcgc_wkmap_contains(rt, c, o);
    }
}

int c_has(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o)
{
    return c_has_id(rt, c, kind, t_as(o)->id, o);
}

int it_id(const rcgc_witer *it, int kind)
{
    switch (kind) {
    case K_VMAP: {
        char k[32];
        int id = t_as(it->value)->id;
        size_t n = key_of(id, k);
        CHECK(it->key_obj == NULL);
        CHECK(it->key_len == n && memcmp(it->key, k, n) == 0);
        return id;
    }
    case K_SET:
        CHECK(it->value == NULL && it->key == NULL);
        return t_as(it->key_obj)->id;
    default:
        CHECK(it->key == NULL);
        CHECK_EQ(t_as(it->value)->id, t_as(it->key_obj)->id + 1000);
        return t_as(it->key_obj)->id;
    }
}

int iter_ids(rcgc_runtime *rt, rcgc_object *c, int kind, int *ids,
             int max)
{
    rcgc_witer it;
    if (rcgc_witer_begin(rt, c, &it) != 0) return -1;
    int n = 0;
    while (rcgc_witer_next(&it)) {
        int id = it_id(&it, kind);
        if (n < max) ids[n] = id;
        n++;
    }
    rcgc_witer_end(&it);
    return n;
}

int ids_are(const int *got, int n, const int *want, int nwant)
{
    if (n != nwant) return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) return 0;
    return 1;
}

