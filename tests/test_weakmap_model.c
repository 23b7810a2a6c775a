/*
 * test_weakmap_model.c - the weak containers with hash/eq hooks against a
 * model, and under failing allocations (docs/weakref.md, "Keys with
 * hooks").
 *
 * model_random: random operations on an object-key weak-value map, a weak
 * set and a weak-key map sharing keys, all with hooks (support/keyhooks.h:
 * hash id % 3 over 8 ids, so most keys collide and equal but distinct keys
 * are common): set/add, get/lookup, contains, delete/discard with the
 * program's keys or fresh equal-or-not probes, clears, the program dropping
 * keys and values (some in self-cycles, so they die only in a collection),
 * collections, hooks that fail, and hash hooks that allocate and collect.
 * After every step the model (what each container holds, in order, with
 * its first key object; which objects are alive) is compared with the
 * containers' iterations and lengths and with the runtime's count of live
 * objects; rcgc_check runs every 8 steps.
 *
 * model_faults: the same model over a fixed 150-step sequence while the
 * N-th allocation fails, for every N until a run needs fewer, then while
 * every allocation after the N-th fails (pattern: test_weak_faults.c).  A
 * failed operation (RCGC_ENOMEM, or RCGC_EFAILED when a hook's own
 * allocation failed) must leave the model's state.
 *
 * faults_automatic_collection: the same loops with automatic collection at
 * a low threshold, where the model cannot follow: codes, rcgc_check after
 * every step, and the empty runtime at teardown.
 */
#include "keyhooks.h"
#include "test.h"

#define NID 8      /* key ids */
#define NKS 10     /* program slots for keys */
#define NVS 6      /* ... for the weak-value map's values, the weak-key map's */
#define MAXREC 8192
#define MAXE 64

enum { R_KEY, R_VA, R_VB }; /* a key; a weak-value map's value; a weak-key map's */

typedef struct rec {
    rcgc_object *obj; /* valid while !dead */
    int id, kind, cyclic, prog, dead;
} rec;

typedef struct ment {
    int k, v; /* recs; v -1 in the set */
} ment;

static struct {
    rcgc_runtime *rt;
    khooks k;
    rcgc_object *c[3]; /* wvmap, wset, wkmap */
    rec r[MAXREC];
    int nrec;
    int keys[NKS], va[NVS], vb[NVS]; /* rec or -1 */
    ment e[3][MAXE];
    int n[3];
    uint64_t rng;
    int faults;            /* allocations may fail */
    int autogc;            /* automatic collection: the model cannot follow;
                              only codes, invariants and teardown are checked */
    long gc_seen;          /* collections of the last run (before teardown) */
    long auto_collections; /* over the automatic-collection runs */
    int collect_armed;     /* the next hash hook collects */
    int hook_allocs;       /* hooks allocate */
    long steps, failed_ops, hook_failures, hook_collects, collects, deaths,
        equal_distinct, replaced;
} S;

static uint64_t rnd(void)
{
    S.rng ^= S.rng << 13;
    S.rng ^= S.rng >> 7;
    S.rng ^= S.rng << 17;
    return S.rng;
}

static int pick(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

/* ---- the model ---- */

static int new_rec(int kind, int id, int cyclic)
{
    if (S.nrec >= MAXREC) return -1;
    rcgc_object *o = t_wnode(S.rt, id);
    if (o == NULL) return -1; /* out of memory */
    if (cyclic && t_append(S.rt, o, o) != 0) {
        rcgc_decref(S.rt, o);
        return -1;
    }
    rec *r = &S.r[S.nrec];
    memset(r, 0, sizeof *r);
    r->obj = o;
    r->id = id;
    r->kind = kind;
    r->cyclic = cyclic;
    r->prog = 1;
    return S.nrec++;
}

static int m_find(int j, int key)
{
    for (int i = 0; i < S.n[j]; i++)
        if (S.r[S.e[j][i].k].id == S.r[key].id) return i;
    return -1;
}

static void m_remove(int j, int i)
{
    memmove(&S.e[j][i], &S.e[j][i + 1], (size_t)(S.n[j] - i - 1) * sizeof(ment));
    S.n[j]--;
}

static int held(int x)
{
    if (S.r[x].prog) return 1;
    if (S.r[x].kind == R_KEY)
        for (int i = 0; i < S.n[0]; i++)
            if (S.e[0][i].k == x) return 1;
    if (S.r[x].kind == R_VB)
        for (int i = 0; i < S.n[2]; i++)
            if (S.e[2][i].v == x) return 1;
    return 0;
}

/* Entries whose weakly held object died go; 1 if one went. */
static int m_drop_dead(void)
{
    int changed = 0;
    for (int j = 0; j < 3; j++)
        for (int i = S.n[j] - 1; i >= 0; i--) {
            int w = j == 0 ? S.e[j][i].v : S.e[j][i].k;
            if (S.r[w].dead) {
                m_remove(j, i);
                changed = 1;
            }
        }
    return changed;
}

/* Reference counting: objects outside cycles die when nothing holds them. */
static void m_settle(void)
{
    if (S.autogc) return;
    int changed;
    do {
        changed = 0;
        for (int x = 0; x < S.nrec; x++)
            if (!S.r[x].dead && !S.r[x].cyclic && !held(x)) {
                S.r[x].dead = 1;
                S.deaths++;
                changed = 1;
            }
        changed |= m_drop_dead();
    } while (changed);
}

/* A full collection: what the program holds is reachable, and so are the
 * weak-value map's keys (traversed) and a weak-key map's value whose key is
 * reachable (ephemerons); the rest dies; then refcounting. */
static void m_collect(void)
{
    if (S.autogc) return;
    static char reach[MAXREC];
    memset(reach, 0, (size_t)S.nrec);
    for (int x = 0; x < S.nrec; x++) reach[x] = !S.r[x].dead && S.r[x].prog;
    for (int i = 0; i < S.n[0]; i++) reach[S.e[0][i].k] = 1;
    int changed;
    do {
        changed = 0;
        for (int i = 0; i < S.n[2]; i++)
            if (reach[S.e[2][i].k] && !reach[S.e[2][i].v]) reach[S.e[2][i].v] = changed = 1;
    } while (changed);
    for (int x = 0; x < S.nrec; x++)
        if (!S.r[x].dead && !reach[x]) {
            S.r[x].dead = 1;
            S.deaths++;
        }
    m_drop_dead();
    m_settle();
}

/* ---- the comparison ---- */

static int compare(void)
{
    if (S.autogc) return 1;
    int bad = 0;
    long alive = 0, entries = 0;
    for (int x = 0; x < S.nrec; x++) alive += !S.r[x].dead;
    for (int j = 0; j < 3; j++) {
        entries += S.n[j];
        if (rcgc_weak_len(S.rt, S.c[j]) != S.n[j]) bad = 1;
        rcgc_witer it;
        if (rcgc_witer_begin(S.rt, S.c[j], &it) != 0) return 0;
        int i = 0;
        while (rcgc_witer_next(&it)) {
            if (i >= S.n[j]) {
                bad = 1;
                break;
            }
            const ment *m = &S.e[j][i++];
            rcgc_object *v = m->v >= 0 ? S.r[m->v].obj : NULL;
            if (it.key_obj != S.r[m->k].obj || it.value != v) bad = 1;
        }
        rcgc_witer_end(&it);
        if (i != S.n[j]) bad = 1;
        if (bad) {
            fprintf(stderr, "  step %ld: container %d differs from the model (%d entries "
                    "in the model, %td in the container)\n",
                    S.steps, j, S.n[j], rcgc_weak_len(S.rt, S.c[j]));
            return 0;
        }
    }
    /* the model's objects, the containers, an internal weak reference per
     * entry */
    rcgc_ssize want = alive + 3 + entries;
    if (t_live_objects(S.rt) != want) {
        fprintf(stderr, "  step %ld: %td objects alive, the model says %td\n", S.steps,
                t_live_objects(S.rt), want);
        return 0;
    }
    if (S.k.bad != 0) {
        fprintf(stderr, "  step %ld: a hook saw a dead key\n", S.steps);
        return 0;
    }
    return 1;
}

/* ---- the hooks' action ---- */

static int action(khooks *k, int in_eq)
{
    (void)k;
    if (S.hook_allocs) { /* a __hash__ or __eq__ that allocates */
        rcgc_object *tmp = t_wnode(S.rt, -1);
        if (tmp == NULL) return -1; /* MemoryError: the hook fails */
        rcgc_decref(S.rt, tmp);
    }
    if (!in_eq && S.collect_armed) {
        S.collect_armed = 0;
        S.hook_collects++;
        rcgc_gc_collect(S.rt, 2);
        m_collect(); /* only the hash hook: nothing is held but the op's own */
    }
    return 0;
}

/* ---- one step ---- */

enum {
    OP_VSET, OP_VGET, OP_VHAS, OP_VDEL, OP_SADD, OP_SHAS, OP_SDEL,
    OP_KSET, OP_KGET, OP_KHAS, OP_KDEL, OP_DROP, OP_NEW, OP_COLLECT, OP_CLEAR,
    NOPS
};

static const int weights[NOPS] = {6, 3, 2, 2, 6, 2, 2, 6, 3, 2, 2, 6, 8, 1, 1};

/* A program-held slot of arr (rec), or -1. */
static int any_slot(const int *arr, int n)
{
    int start = pick(n);
    for (int i = 0; i < n; i++)
        if (arr[(start + i) % n] >= 0) return arr[(start + i) % n];
    return -1;
}

/* The key an operation uses: a program-held key or a fresh probe. */
static int step_key(int *probe)
{
    *probe = -1;
    int x = pick(3) ? any_slot(S.keys, NKS) : -1;
    if (x >= 0) return x;
    *probe = new_rec(R_KEY, pick(NID), 0);
    return *probe;
}

/* Apply op's effect to the model; want: the expected return. */
static int model_apply(int op, int key, int value, rcgc_object **want_obj)
{
    int j = op <= OP_VDEL ? 0 : op <= OP_SDEL ? 1 : 2;
    int i = m_find(j, key);
    *want_obj = NULL;
    if (i >= 0 && S.e[j][i].k != key) S.equal_distinct++;
    switch (op) {
    case OP_VSET:
    case OP_SADD:
    case OP_KSET:
        if (i >= 0) {
            if (op != OP_SADD) S.e[j][i].v = value;
            S.replaced++;
        } else {
            if (S.n[j] >= MAXE) abort();
            S.e[j][S.n[j]].k = key;
            S.e[j][S.n[j]].v = op == OP_SADD ? -1 : value;
            S.n[j]++;
        }
        return 0;
    case OP_VGET:
    case OP_KGET:
        if (i < 0) return 0;
        *want_obj = S.r[S.e[j][i].v].obj;
        return 1;
    case OP_VHAS:
    case OP_SHAS:
    case OP_KHAS:
        return i >= 0;
    default:
        if (i < 0) return RCGC_ENOTFOUND;
        m_remove(j, i);
        return 0;
    }
}

static int real_apply(int op, rcgc_object *key, rcgc_object *value, rcgc_object **got)
{
    rcgc_runtime *rt = S.rt;
    *got = NULL;
    switch (op) {
    case OP_VSET: return rcgc_wvmap_set_obj(rt, S.c[0], key, value);
    case OP_VGET: return rcgc_wvmap_get_obj(rt, S.c[0], key, got);
    case OP_VHAS: return rcgc_wvmap_contains_obj(rt, S.c[0], key);
    case OP_VDEL: return rcgc_wvmap_delete_obj(rt, S.c[0], key);
    case OP_SADD: return rcgc_wset_add(rt, S.c[1], key);
    case OP_SHAS: return rcgc_wset_contains(rt, S.c[1], key);
    case OP_SDEL: return rcgc_wset_discard(rt, S.c[1], key);
    case OP_KSET: return rcgc_wkmap_set(rt, S.c[2], key, value);
    case OP_KGET: return rcgc_wkmap_lookup(rt, S.c[2], key, got);
    case OP_KHAS: return rcgc_wkmap_contains(rt, S.c[2], key);
    default: return rcgc_wkmap_delete(rt, S.c[2], key);
    }
}

static void drop_prog(int x)
{
    S.r[x].prog = 0;
    rcgc_decref(S.rt, S.r[x].obj);
}

/* A container operation with a key (and a value for the maps' set). */
static int key_step(int op)
{
    int probe, value = -1;
    if (op == OP_VSET && (value = any_slot(S.va, NVS)) < 0) return 1;
    if (op == OP_KSET && (value = any_slot(S.vb, NVS)) < 0) return 1;
    int key = step_key(&probe);
    if (key < 0) return 1; /* out of memory making the probe */
    long nhash = S.k.nhash, neq = S.k.neq;
    int fail = S.faults ? 0 : pick(12);
    if (fail == 1) S.k.fail_hash_at = nhash + 1;
    if (fail == 2) S.k.fail_eq_at = neq + 1 + pick(3);
    if (!S.faults && pick(16) == 0) S.collect_armed = 1;
    rcgc_object *got;
    int r = real_apply(op, S.r[key].obj, value >= 0 ? S.r[value].obj : NULL, &got);
    int hook_failed = (S.k.fail_hash_at && S.k.nhash >= S.k.fail_hash_at) ||
                      (S.k.fail_eq_at && S.k.neq >= S.k.fail_eq_at);
    S.k.fail_hash_at = S.k.fail_eq_at = 0;
    S.collect_armed = 0;
    int ok = 1;
    if (hook_failed || r == RCGC_ENOMEM || (S.faults && r == RCGC_EFAILED)) {
        /* the model stays as it is */
        S.failed_ops++;
        S.hook_failures += hook_failed;
        if (r != (hook_failed ? RCGC_EFAILED : r) || (r != RCGC_ENOMEM && r != RCGC_EFAILED)) {
            fprintf(stderr, "  step %ld: op %d failed with %d\n", S.steps, op, r);
            ok = 0;
        }
        if (!S.faults && r == RCGC_ENOMEM) ok = 0;
        if (got != NULL) ok = 0;
    } else if (S.autogc) {
        if (r < 0 && r != RCGC_ENOTFOUND) ok = 0;
        if (r != RCGC_ENOTFOUND && r > 1) ok = 0;
    } else {
        rcgc_object *want_obj;
        int want = model_apply(op, key, value, &want_obj);
        if (r != want || got != want_obj) {
            fprintf(stderr, "  step %ld: op %d on key id %d returned %d (%p), the model "
                    "%d (%p)\n", S.steps, op, S.r[key].id, r, (void *)got, want,
                    (void *)want_obj);
            ok = 0;
        }
    }
    rcgc_xdecref(S.rt, got);
    if (probe >= 0) drop_prog(probe);
    if (!S.autogc) m_settle();
    return ok;
}

static int step(void)
{
    int total = 0;
    for (int i = 0; i < NOPS; i++) total += weights[i];
    int w = pick(total), op = 0;
    while (w >= weights[op]) w -= weights[op++];
    S.steps++;
    if (op <= OP_KDEL) return key_step(op);
    switch (op) {
    case OP_DROP: {
        int which = pick(3);
        int *arr = which == 0 ? S.keys : which == 1 ? S.va : S.vb;
        int n = which == 0 ? NKS : NVS, i = pick(n);
        if (arr[i] >= 0) {
            drop_prog(arr[i]);
            arr[i] = -1;
        }
        break;
    }
    case OP_NEW: {
        int which = pick(3);
        int *arr = which == 0 ? S.keys : which == 1 ? S.va : S.vb;
        int n = which == 0 ? NKS : NVS, i = pick(n);
        if (arr[i] < 0) arr[i] = new_rec(which == 0 ? R_KEY : which == 1 ? R_VA : R_VB,
                                         which == 0 ? pick(NID) : 100 + pick(50), pick(3) == 0);
        break;
    }
    case OP_COLLECT:
        S.collects++;
        rcgc_gc_collect(S.rt, 2);
        m_collect();
        break;
    default: {
        int j = pick(3);
        if (rcgc_weak_clear(S.rt, S.c[j]) != 0) return 0;
        S.n[j] = 0;
    }
    }
    m_settle();
    return 1;
}

/* ---- runs ---- */

static int setup(void)
{
    memset(&S.k, 0, sizeof S.k);
    S.k.mod = 3;
    S.k.action = action;
    rcgc_key_ops ops = kh_ops(&S.k);
    S.c[0] = rcgc_wvmap_new_keyed(S.rt, &ops);
    S.c[1] = rcgc_wset_new_keyed(S.rt, &ops);
    S.c[2] = rcgc_wkmap_new_keyed(S.rt, &ops);
    for (int i = 0; i < NKS; i++) S.keys[i] = -1;
    for (int i = 0; i < NVS; i++) S.va[i] = S.vb[i] = -1;
    return S.c[0] != NULL && S.c[1] != NULL && S.c[2] != NULL;
}

/* Drop everything; the runtime must be empty. */
static void finish(void)
{
    for (int x = 0; x < S.nrec; x++)
        if (!S.r[x].dead && S.r[x].prog) drop_prog(x);
    for (int j = 0; j < 3; j++) rcgc_xdecref(S.rt, S.c[j]);
    rcgc_gc_collect(S.rt, 2);
    CHECK_EQ(t_live_objects(S.rt), 0);
    CHECK_EQ(S.k.bad, 0);
    t_teardown(S.rt);
}

/* steps random steps from seed; 1 if every step matched the model. */
static int run(uint64_t seed, long steps)
{
    long keep[8] = {S.failed_ops, S.hook_failures, S.hook_collects, S.collects,
                    S.deaths, S.equal_distinct, S.replaced, 0};
    memset(&S.r, 0, sizeof S.r);
    S.nrec = 0;
    S.n[0] = S.n[1] = S.n[2] = 0;
    S.steps = 0;
    S.rng = seed * 0x9e3779b97f4a7c15u + 1;
    S.failed_ops = keep[0];
    S.hook_failures = keep[1];
    S.hook_collects = keep[2];
    S.collects = keep[3];
    S.deaths = keep[4];
    S.equal_distinct = keep[5];
    S.replaced = keep[6];
    if (!setup()) {
        if (!S.faults) t_fail(__FILE__, __LINE__, "containers");
        for (int j = 0; j < 3; j++) rcgc_xdecref(S.rt, S.c[j]);
        S.c[0] = S.c[1] = S.c[2] = NULL;
        finish();
        return 1;
    }
    int ok = 1;
    for (long s = 0; s < steps && ok; s++) {
        ok = step() && compare();
        if (ok && (s % 8 == 0 || S.faults) && rcgc_check(S.rt) != 0) {
            fprintf(stderr, "  step %ld: rcgc_check failed\n", S.steps);
            ok = 0;
        }
    }
    if (!ok) t_fail(__FILE__, __LINE__, "seed %llu: the containers left the model",
                    (unsigned long long)seed);
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(S.rt, gs);
    S.gc_seen = gs[0].collections + gs[1].collections + gs[2].collections;
    finish();
    return ok;
}

TEST(model_random)
{
    memset(&S, 0, sizeof S);
    long steps = t_scale(4000);
    int seeds = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        S.rt = t_runtime();
        S.hook_allocs = seed % 2 == 0;
        seeds++;
        if (!run(seed, steps)) break;
    }
    printf("     (%d seeds x %ld steps: %ld hook failures, %ld collections in hash "
           "hooks, %ld collections, %ld deaths, %ld lookups that found an equal "
           "distinct key, %ld sets of a key already there)\n",
           seeds, steps, S.hook_failures, S.hook_collects, S.collects, S.deaths,
           S.equal_distinct, S.replaced);
    /* The campaign reached what it is for: at full length (release, debug
     * and sanitizer suites) hundreds of each; shortened (t_scale, valgrind:
     * 40 steps a seed, mostly small tables) at least some failures and
     * collections inside hooks. */
    if (steps == 4000)
        CHECK(S.hook_failures > 100 && S.hook_collects > 50 && S.equal_distinct > 500);
    else
        CHECK(S.hook_failures > 0 && S.hook_collects > 0);
}

/* ---- faults ---- */

static void arm_nth(long n)
{
    t_alloc_state.fail_at = t_alloc_state.calls + n;
    t_alloc_state.fail_after = 0;
    t_alloc_state.failures = 0;
}

static void arm_after(long n)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = t_alloc_state.calls + n;
    t_alloc_state.failures = 0;
}

#define FAULT_STEPS 150
#define FAULT_SEED 7

/* One run of the fixed sequence with allocations failing as arm says; its
 * failures (0: a clean run).  autogc: with automatic collection at a low
 * threshold (collections inside the hooks' and the containers'
 * allocations). */
static long fault_run(void (*arm)(long), long n, int autogc)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = autogc;
    cfg.threshold[0] = 5;
    S.rt = autogc ? t_runtime_cfg(&cfg) : t_runtime();
    S.autogc = autogc;
    S.faults = 1;
    S.hook_allocs = 1;
    arm(n);
    run(FAULT_SEED, FAULT_STEPS);
    long failures = t_alloc_state.failures;
    if (autogc) S.auto_collections += S.gc_seen;
    S.faults = S.autogc = 0;
    return failures;
}

static void fault_loops(int autogc)
{
    memset(&S, 0, sizeof S);
    long n, runs_failed_ops = 0;
    for (n = 1; n < 100000; n++) {
        long before = S.failed_ops;
        long failures = fault_run(arm_nth, n, autogc);
        runs_failed_ops += S.failed_ops > before;
        if (t_failures) {
            fprintf(stderr, "  (allocation %ld failing)\n", n);
            return;
        }
        if (failures == 0) break;
    }
    long runs = n - 1;
    CHECK(runs > 100);
    for (long k = 0; k < runs; k++) {
        fault_run(arm_after, k, autogc);
        if (t_failures) {
            fprintf(stderr, "  (every allocation after %ld failing)\n", k);
            return;
        }
    }
    printf("     (%s: %ld runs with the N-th allocation failing, %ld of them with a "
           "failed container operation; %ld with every allocation after the N-th "
           "failing; %ld failed operations in all)\n",
           autogc ? "automatic collection" : "model", runs, runs_failed_ops, runs,
           S.failed_ops);
    CHECK(runs_failed_ops > 20);
    if (autogc) { /* explicit collections are ~1 in 62 steps; automatic ones many more */
        printf("     (%ld collections in those runs)\n", S.auto_collections);
        CHECK(S.auto_collections > 10 * runs);
    }
}

TEST(model_faults)
{
    fault_loops(0);
}

/* The same sequence with automatic collection at a low threshold: the
 * model cannot say when collections run, so each run checks the codes,
 * rcgc_check after every step, and the empty runtime at teardown. */
TEST(faults_automatic_collection)
{
    fault_loops(1);
}

TEST_MAIN(T(model_random), T(model_faults), T(faults_automatic_collection))
