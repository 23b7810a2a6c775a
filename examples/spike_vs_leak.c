/*
 * spike_vs_leak.c - "my process's memory stays high": a spike, or a leak?
 *
 * The pool allocator (pymalloc) takes memory from the system in 1 MiB
 * arenas, cut into 16 KiB pools of one block size.  An arena goes back only
 * when every block in it is free, so memory can stay high after a spike for
 * two harmless reasons: a wholly free arena kept for reuse (at least one, up
 * to 25 % of the arenas in use), and a few long-lived objects scattered
 * among the spike's, each pinning its pool and arena.  A leak is different:
 * the count of blocks in use grows with every round of work.
 *
 * The numbers that tell them apart are the allocator's own counts (blocks in
 * use, arenas held), not the process's RSS: they are exact and repeatable.
 * The program uses a heap of its own (rcgc_heap_new) and its OBJ domain,
 * as a runtime does for its objects.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rcgc.h"

#define N 1000000 /* objects in a spike */
#define SIZE 32   /* bytes per object */

static rcgc_heap *heap;
static rcgc_pymalloc *pm;
static void *obj[N];

static void show(const char *what)
{
    rcgc_pymalloc_stats s;
    rcgc_pymalloc_get_stats(pm, &s);
    printf("  %-26s %2zu arenas held (%zu wholly free), %7td blocks in use, "
           "%5.1f MiB in free blocks and pools\n",
           what, s.arenas_current, s.arenas_free, s.pool_blocks,
           (double)(s.available_bytes + s.unused_pool_bytes) / 1048576.0);
}

static void spike(int keep_every)
{
    for (int i = 0; i < N; i++) {
        if (keep_every && i % keep_every == 0 && obj[i] != NULL) continue;
        obj[i] = rcgc_heap_malloc(heap, RCGC_DOMAIN_OBJ, SIZE);
        if (obj[i] == NULL) exit(1);
    }
    for (int i = 0; i < N; i++) {
        if (keep_every && i % keep_every == 0) continue; /* survivors */
        rcgc_heap_free(heap, RCGC_DOMAIN_OBJ, obj[i]);
        obj[i] = NULL;
    }
}

int main(void)
{
    heap = rcgc_heap_new(NULL);
    if (heap == NULL) return 1;
    pm = rcgc_heap_pymalloc(heap);

    printf("1. a spike: %d objects of %d bytes, then all freed\n", N, SIZE);
    for (int i = 0; i < N; i++)
        if ((obj[i] = rcgc_heap_malloc(heap, RCGC_DOMAIN_OBJ, SIZE)) == NULL) return 1;
    show("at the peak:");
    for (int i = 0; i < N; i++) rcgc_heap_free(heap, RCGC_DOMAIN_OBJ, obj[i]), obj[i] = NULL;
    show("after freeing them all:");
    printf("  trim gave back %zu bytes\n", rcgc_pymalloc_trim(pm));
    show("after trim:");

    printf("2. the same spike, but every 64th object lives on (a cache, say)\n");
    spike(64);
    show("after the spike:");
    printf("  trim gave back only %zu bytes (a survivor every 2 KiB pins every page)\n",
           rcgc_pymalloc_trim(pm));
    for (int round = 2; round <= 4; round++) {
        char what[32];
        spike(64);
        snprintf(what, sizeof what, "after spike %d:", round);
        show(what);
    }
    printf("  -> memory held, but blocks in use stay flat: not a leak\n");
    for (int i = 0; i < N; i += 64) rcgc_heap_free(heap, RCGC_DOMAIN_OBJ, obj[i]), obj[i] = NULL;
    show("survivors freed:");
    printf("  trim gave back %zu bytes\n", rcgc_pymalloc_trim(pm));

    printf("3. a leak: each round of %d objects forgets 1 in 100\n", N / 10);
    for (int round = 1; round <= 4; round++) {
        char what[32];
        for (int i = 0; i < N / 10; i++) {
            void *p = rcgc_heap_malloc(heap, RCGC_DOMAIN_OBJ, SIZE);
            if (p == NULL) return 1;
            if (i % 100 == 0) continue; /* the bug: never freed */
            rcgc_heap_free(heap, RCGC_DOMAIN_OBJ, p);
        }
        snprintf(what, sizeof what, "after round %d:", round);
        show(what);
    }
    printf("  -> blocks in use grow by %d every round: a leak\n", N / 10 / 100);

    /* Teardown releases the arenas, leaked blocks included, and says so. */
    printf("heap destroyed: %s\n",
           rcgc_heap_destroy(heap) == RCGC_ELIVE ? "blocks were still live (the leak)"
                                                 : "nothing live");
    return 0;
}
