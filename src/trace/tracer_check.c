/*
 * tracer_check.c - the invariant checker of the tracer's tables
 * (tracer_internal.h), in the manner of the collector's check.c:
 *
 *   traces      the table's count is its used slots, each reachable by
 *               probing from its home and its traceback interned; a side
 *               array is in the side table, belongs to a live pool of its
 *               size class, counts its used slots (never 0), and each slot
 *               names an interned traceback and a domain; a key lives in
 *               one place only; without sampling, the traced bytes are the
 *               sum of the traces' sizes;
 *   tracebacks  each in the chain of its hash, which matches its frames,
 *               by_id[id] is itself, ids are 1..count, no two equal.
 *
 * The first violation is described on the debug stream; RCGC_ECORRUPT.
 */
#include <math.h>

#include "trace/tracer_internal.h"

static int trace_violation(const struct rcgc_tracer *tr, const char *what,
                     uintptr_t where_)
{
    fprintf(tr->rt->debug_stream,
            "rcgc: tracer invariant violated: %s (at %#jx)\n", what,
            (uintmax_t)where_);
    return RCGC_ECORRUPT;
}

static int interned(const struct rcgc_tracer *tr, const ttb *tb)
{
    return tb != NULL && tb->id >= 1 && tb->id <= tr->tb_count &&
           tr->by_id[tb->id] == tb;
}

/* The side array of pool, by probing (side_find without its cache). */
static const side *find_side(const struct rcgc_tracer *tr, uintptr_t pool)
{
    if (tr->side_count == 0) return NULL;
    size_t mask = tr->side_cap - 1;
    for (size_t j = side_home(tr, pool); tr->sides[j] != NULL; j = (j + 1) & mask)
        if (tr->sides[j]->pool == pool) return tr->sides[j];
    return NULL;
}

static int check_table(const struct rcgc_tracer *tr, double *bytes)
{
    size_t cap = tr->cap, used = 0;
    if (cap == 0 || (cap & (cap - 1)) != 0 || tr->traces == NULL)
        return trace_violation(tr, "trace table size is not a power of two", cap);
    for (size_t i = 0; i < cap; i++) {
        const tentry *e = &tr->traces[i];
        if (e->ptr == 0) continue;
        used++;
        unsigned domain = (unsigned)(e->size_domain >> SIZE_BITS);
        for (size_t j = ht_home(tr, e->ptr, domain); j != i; j = (j + 1) & (cap - 1))
            if (tr->traces[j].ptr == 0)
                return trace_violation(tr, "trace unreachable by probing", e->ptr);
        if (!interned(tr, e->tb))
            return trace_violation(tr, "trace's traceback is not interned", e->ptr);
        where w;
        if (locate(tr, e->ptr, domain, &w)) {
            const side *sd = find_side(tr, w.pool);
            if (sd != NULL && sd->slot[w.index] != 0 &&
                SLOT_DOMAIN(sd->slot[w.index]) == domain)
                return trace_violation(tr, "trace in the table and in a side array", e->ptr);
        }
        *bytes += (double)entry_size(e);
    }
    if (used != tr->count)
        return trace_violation(tr, "trace count is not the table's used slots", used);
    if (tr->count * 2 > cap) return trace_violation(tr, "trace table over half full", cap);
    return 0;
}

static int check_side(const struct rcgc_tracer *tr, size_t at, double *bytes)
{
    const side *sd = tr->sides[at];
    size_t mask = tr->side_cap - 1;
    for (size_t j = side_home(tr, sd->pool); j != at; j = (j + 1) & mask)
        if (tr->sides[j] == NULL)
            return trace_violation(tr, "side array unreachable by probing", sd->pool);
    where w;
    if (!locate(tr, sd->pool + TR_POOL_FIRST, 0, &w) || w.pool != sd->pool ||
        w.bsize != sd->bsize || w.nslots != sd->nslots)
        return trace_violation(tr, "side array's pool is not a pool of its size", sd->pool);
    if (sd->recip != (uint32_t)((UINT64_C(0xffffffff) + sd->bsize) / sd->bsize))
        return trace_violation(tr, "side array's reciprocal is wrong", sd->pool);
    uint32_t used = 0;
    for (uint32_t k = 0; k < sd->nslots; k++) {
        uint32_t v = sd->slot[k];
        if (v == 0) continue;
        used++;
        if (SLOT_DOMAIN(v) >= RCGC_DOMAIN_COUNT || SLOT_ID(v) < 1 ||
            SLOT_ID(v) > tr->tb_count || tr->by_id[SLOT_ID(v)] == NULL)
            return trace_violation(tr, "side array slot names no traceback or domain",
                             sd->pool + TR_POOL_FIRST + (uintptr_t)k * sd->bsize);
        *bytes += (double)(sd->bsize - SLOT_SLACK(v));
    }
    if (used == 0 || used != sd->used)
        return trace_violation(tr, "side array's used count is wrong (or 0)", sd->pool);
    return 0;
}

static int check_sides(const struct rcgc_tracer *tr, double *bytes)
{
    size_t n = 0, cap = tr->side_cap;
    if (cap != 0 && ((cap & (cap - 1)) != 0 || tr->sides == NULL))
        return trace_violation(tr, "side table size is not a power of two", cap);
    int last_found = tr->last_side == NULL;
    for (size_t i = 0; i < cap; i++) {
        if (tr->sides[i] == NULL) continue;
        n++;
        last_found |= tr->sides[i] == tr->last_side;
        if (check_side(tr, i, bytes) != 0) return RCGC_ECORRUPT;
    }
    if (n != tr->side_count)
        return trace_violation(tr, "side array count is not the side table's", n);
    if (cap != 0 && tr->side_count * 2 > cap)
        return trace_violation(tr, "side table over half full", cap);
    if (!last_found)
        return trace_violation(tr, "cached side array is not in the side table",
                         (uintptr_t)tr->last_side);
    return 0;
}

static int check_tracebacks(const struct rcgc_tracer *tr)
{
    size_t n = 0, cap = tr->tb_cap;
    if (cap == 0 || (cap & (cap - 1)) != 0 || tr->tb_count > cap ||
        (tr->tb_count > 0 && (tr->by_id == NULL || tr->tb_count >= tr->by_id_cap)))
        return trace_violation(tr, "traceback table sizes out of order", cap);
    for (size_t i = 0; i < cap; i++) {
        for (const ttb *t = tr->tbs[i]; t != NULL; t = t->next) {
            if (++n > tr->tb_count)
                return trace_violation(tr, "more tracebacks than counted (a loop?)", i);
            if ((t->hash & (cap - 1)) != i ||
                t->hash != hash_frames(t->frames, t->nframe, t->total))
                return trace_violation(tr, "traceback's hash is wrong", (uintptr_t)t);
            if (!interned(tr, t))
                return trace_violation(tr, "by_id does not name the traceback", t->id);
            if (t->nframe < 1 || t->total < t->nframe)
                return trace_violation(tr, "traceback's frame counts", (uintptr_t)t);
            for (const ttb *u = t->next; u != NULL; u = u->next)
                if (u->hash == t->hash &&
                    same_frames(u, t->frames, t->nframe, t->total))
                    return trace_violation(tr, "a traceback interned twice", (uintptr_t)u);
        }
    }
    if (n != tr->tb_count)
        return trace_violation(tr, "traceback count is not the table's", n);
    if (tr->unknown != NULL && !interned(tr, tr->unknown))
        return trace_violation(tr, "the <unknown> traceback is not interned", 0);
    for (size_t k = 0; k < sizeof tr->site_cache / sizeof tr->site_cache[0]; k++)
        if (tr->site_cache[k].tb != NULL && !interned(tr, tr->site_cache[k].tb))
            return trace_violation(tr, "call-site cache names a stale traceback", k);
    return 0;
}

int rcgc__trace_check(rcgc_runtime *rt)
{
    const struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) return 0;
    double bytes = 0;
    if (check_tracebacks(tr) != 0 || check_table(tr, &bytes) != 0 ||
        check_sides(tr, &bytes) != 0)
        return RCGC_ECORRUPT;
    if (tr->cfg.sample_bytes == 0 && fabs(tr->current - bytes) > 0.5)
        return trace_violation(tr, "traced bytes are not the sum of the traces' sizes",
                         (uintptr_t)bytes);
    if (tr->peak < tr->current)
        return trace_violation(tr, "peak below current", (uintptr_t)tr->peak);
    return 0;
}
