/*
 * test_freeze_pages.c - after rcgc_gc_freeze, the collector writes nothing
 * into the frozen objects' pages (CPython's gc.freeze() for fork-based
 * servers; issue 17 item 2: a forked worker keeps those pages shared with
 * its parent as long as the program itself leaves the frozen objects'
 * reference counts alone).
 *
 * How: the frozen objects are allocated in one run, so that they fill whole
 * pools.  In a child process, every page of those pools but the first (the
 * pool header's, which allocation in other pools may write) is made
 * read-only with mprotect; then the child runs collections of every
 * generation with young garbage cycles, live young objects that refer to
 * frozen ones, the introspection calls, the checker and the diagnosis
 * queries (why-alive, referrers, dominators, retainers, heap snapshots: before
 * they kept their marks in the objects' gc_head, 7 December 2026).  A write to a frozen
 * page is a SIGSEGV in the child; the parent reports which step it was in
 * (the child sends each step's number before it runs it).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcgc_mem.h"
#include "rcgc_diag.h"
#include "test.h"

#define NFROZEN 3000
#define PAGE 4096

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (rcgc_object *const *)a;
    uintptr_t y = (uintptr_t) * (rcgc_object *const *)b;
    return x < y ? -1 : x > y;
}

/* The pools that hold only frozen objects: objs (sorted by address) grouped
 * by pool; a pool is full when it holds as many objects as its block size
 * (the smallest distance between two of them) allows.  Stores the pools'
 * addresses in pools[] and returns how many. */
static int full_pools(rcgc_object **objs, int n, uintptr_t *pools, int max)
{
    const uintptr_t pmask = ~(uintptr_t)(RCGC_PYMALLOC_POOL_SIZE - 1);
    int npools = 0;
    for (int i = 0; i < n;) {
        uintptr_t pool = (uintptr_t)objs[i] & pmask;
        int j = i + 1;
        uintptr_t step = UINTPTR_MAX;
        while (j < n && ((uintptr_t)objs[j] & pmask) == pool) {
            uintptr_t d = (uintptr_t)objs[j] - (uintptr_t)objs[j - 1];
            if (d < step) step = d;
            j++;
        }
        uintptr_t cap = step == UINTPTR_MAX
                            ? 0
                            : (RCGC_PYMALLOC_POOL_SIZE -
                               RCGC_PYMALLOC_POOL_OVERHEAD) / step;
        if (cap > 0 && (uintptr_t)(j - i) == cap && npools < max)
            pools[npools++] = pool;
        i = j;
    }
    return npools;
}

/* The child's steps, in order (their numbers go to the parent). */
static const char *const step_name[] = {
    "protect the frozen pages",
    "young collection (generation 0) with garbage cycles",
    "collection of generation 1",
    "full collection (generation 2)",
    "full collection of 4,000 garbage objects",
    "automatic collections while allocating",
    "get_objects of every generation",
    "get_referrers of a frozen object",
    "get_freeze_count",
    "diagnosis: count_types",
    "diagnosis: why_alive (walks every object)",
    "diagnosis: referrers, two levels",
    "diagnosis: deep_size (reaches frozen objects)",
    "diagnosis: dominators",
    "diagnosis: top_retainers",
    "diagnosis: heap snapshot",
    "rcgc_gc_check",
    "done",
};
enum { NSTEPS = sizeof step_name / sizeof step_name[0] };

static void send_step(int fd, unsigned char s)
{
    while (write(fd, &s, 1) < 0 && errno == EINTR) {
    }
}

static void garbage_cycles(rcgc_runtime *rt, int n)
{
    for (int i = 0; i < n; i++) {
        rcgc_object *a = t_node(rt, 100000 + i);
        rcgc_object *b = t_node(rt, 200000 + i);
        if (a == NULL || b == NULL) _exit(3);
        t_link2(rt, a, b);
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
    }
}

/* The child: protect, run every step, exit 0 (or die on a write). */
static void child(rcgc_runtime *rt, int fd, const uintptr_t *pools,
                  int npools, rcgc_object *frozen_one, rcgc_object *young)
{
    unsigned char s = 0;
    send_step(fd, s++);
    for (int i = 0; i < npools; i++)
        if (mprotect((void *)(pools[i] + PAGE),
                     RCGC_PYMALLOC_POOL_SIZE - PAGE, PROT_READ) != 0)
            _exit(2);
    send_step(fd, s++);
    garbage_cycles(rt, 50);
    if (rcgc_gc_collect(rt, 0) != 100) _exit(4);
    send_step(fd, s++);
    garbage_cycles(rt, 50);
    if (rcgc_gc_collect(rt, 1) != 100) _exit(4);
    send_step(fd, s++);
    garbage_cycles(rt, 50);
    if (rcgc_gc_collect(rt, 2) != 100) _exit(4);
    send_step(fd, s++);
    garbage_cycles(rt, 2000);
    if (rcgc_gc_collect(rt, 2) != 4000) _exit(4);
    send_step(fd, s++);
    if (rcgc_gc_enable(rt) != 0) _exit(4);
    garbage_cycles(rt, 5000);
    rcgc_gc_disable(rt);
    send_step(fd, s++);
    for (int g = -1; g < RCGC_NUM_GENERATIONS; g++) {
        rcgc_object **out = NULL;
        rcgc_ssize k = rcgc_gc_get_objects(rt, g, &out);
        if (k < 0) _exit(5);
        rcgc_objects_free(rt, out, k);
    }
    send_step(fd, s++);
    {
        rcgc_object **out = NULL;
        rcgc_ssize k = rcgc_gc_get_referrers(rt, &frozen_one, 1, &out);
        if (k != 1) _exit(6); /* the young holder, not its frozen peers */
        rcgc_objects_free(rt, out, k);
    }
    send_step(fd, s++);
    if (rcgc_gc_get_freeze_count(rt) != NFROZEN) _exit(7);
    send_step(fd, s++);
    /* The diagnosis queries (which rcgc_serve runs inside a forked
     * worker) keep their marks in tables of their own and only read the
     * frozen objects they walk.  Their targets are young: a why-alive path
     * and a referrer graph hold references to the objects they show, which
     * is the program's own reference counting. */
    {
        rcgc_diag_counts c;
        if (rcgc_diag_count_types(rt, &c) != 0) _exit(9);
        rcgc_diag_counts_free(rt, &c);
    }
    send_step(fd, s++);
    {
        rcgc_diag_path p;
        if (rcgc_diag_why_alive(rt, young, NULL, &p) != 0) _exit(10);
        rcgc_diag_path_free(rt, &p);
    }
    send_step(fd, s++);
    {
        rcgc_diag_graph g;
        if (rcgc_diag_referrers(rt, young, 2, NULL, &g) != 0) _exit(11);
        rcgc_diag_graph_free(rt, &g);
    }
    send_step(fd, s++);
    {
        rcgc_diag_deep_result d;
        if (rcgc_diag_deep_size(rt, young, 0, &d) != 0) _exit(12);
    }
    send_step(fd, s++);
    {
        rcgc_diag_domtree t;
        if (rcgc_diag_dominators(rt, NULL, &t) != 0) _exit(13);
        rcgc_diag_domtree_free(rt, &t);
    }
    send_step(fd, s++);
    {
        rcgc_diag_retainers r;
        if (rcgc_diag_top_retainers(rt, 5, NULL, &r) != 0) _exit(14);
        rcgc_diag_retainers_free(rt, &r);
    }
    send_step(fd, s++);
    {
        FILE *f = fopen("/dev/null", "w");
        if (f == NULL || rcgc_diag_heapsnapshot_write(rt, f, NULL) != 0)
            _exit(15);
        fclose(f);
    }
    send_step(fd, s++);
    if (rcgc_gc_check(rt) != 0) _exit(8);
    send_step(fd, s++);
    _exit(0);
}

TEST(collections_write_no_frozen_page)
{
    rcgc_runtime *rt = t_runtime_pool(NULL); /* objects in pool blocks */
    /* The frozen graph: a chain of nodes, each holding the next, the last
     * holding the first (a cycle), allocated in one run. */
    static rcgc_object **objs; /* static: still reachable in the child,
                                  which exits without freeing */
    objs = malloc(NFROZEN * sizeof *objs);
    CHECK(objs != NULL);
    for (int i = 0; i < NFROZEN; i++) {
        objs[i] = t_node(rt, i);
        CHECK(objs[i] != NULL);
    }
    for (int i = 0; i < NFROZEN; i++)
        CHECK_EQ(t_append(rt, objs[i], objs[(i + 1) % NFROZEN]), 0);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), NFROZEN);

    /* After the freeze: young objects that refer to frozen ones (made
     * before the pages are protected: the increfs write the counts). */
    rcgc_object *holder = t_node(rt, -1);
    CHECK(holder != NULL);
    CHECK_EQ(t_append(rt, holder, objs[7]), 0);
    rcgc_object *young = t_node(rt, -2);
    CHECK(young != NULL);
    for (int i = 0; i < 50; i++)
        CHECK_EQ(t_append(rt, young, objs[100 + i]), 0);
    t_link2(rt, young, holder); /* a live cycle among the young */

    rcgc_object **sorted = malloc(NFROZEN * sizeof *sorted);
    CHECK(sorted != NULL);
    memcpy(sorted, objs, NFROZEN * sizeof *sorted);
    qsort(sorted, NFROZEN, sizeof *sorted, cmp_addr);
    uintptr_t pools[NFROZEN];
    int npools = full_pools(sorted, NFROZEN, pools, NFROZEN);
    free(sorted);
    printf("  %d pools hold only frozen objects (%d pages protected)\n",
           npools, npools * (RCGC_PYMALLOC_POOL_SIZE / PAGE - 1));
    CHECK(npools >= 5);

    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(rt, fds[1], pools, npools, objs[100], young);
    }
    close(fds[1]);
    unsigned char last = 0, s;
    ssize_t r;
    while ((r = read(fds[0], &s, 1)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        last = s;
    }
    close(fds[0]);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "  the child died of signal %d in step \"%s\"%s\n",
                    WTERMSIG(status), step_name[last < NSTEPS ? last : 0],
                    WTERMSIG(status) == SIGSEGV
                        ? ": a write to a frozen object's page"
                        : "");
        else
            fprintf(stderr, "  the child exited with %d in step \"%s\"\n",
                    WEXITSTATUS(status), step_name[last < NSTEPS ? last : 0]);
        CHECK(0);
    }
    CHECK_EQ(last, NSTEPS - 1);

    /* The parent's heap is untouched by the child's steps. */
    rcgc_gc_unfreeze(rt);
    rcgc_decref(rt, holder);
    rcgc_decref(rt, young);
    for (int i = 0; i < NFROZEN; i++) rcgc_decref(rt, objs[i]);
    free(objs);
    CHECK_EQ(rcgc_gc_collect(rt, 2), NFROZEN + 2);
    t_finish(rt);
}

TEST_MAIN(T(collections_write_no_frozen_page))
