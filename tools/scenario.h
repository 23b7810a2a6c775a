/*
 * scenario.h - the scenario runner's core (scenario format version 1,
 * ../shared/spec/scenario-format.md), shared by rcgc-scenario and the fuzz
 * target.  Written only against rcgc's public API.
 */
#ifndef RCGC_SCENARIO_H
#define RCGC_SCENARIO_H

#include <stddef.h>
#include <stdio.h>

/* Where the bytes come from: fill buf with up to cap bytes, return how many
 * (0 at the end). */
typedef size_t (*scenario_read_fn)(void *ctx, char *buf, size_t cap);

/*
 * Run one scenario: events on out ("LINE TEXT"), the first error on err
 * ("scenario:LINE: error: WHAT").  Returns the exit status: 0, 2 for a bad
 * line, 1 when the runtime cannot be created or runs out of memory (then
 * "rcgc-scenario: ..." on err).  Never crashes, whatever the bytes; every
 * object and byte is released before it returns.
 */
int scenario_run(scenario_read_fn read, void *ctx, FILE *out, FILE *err);

#endif
