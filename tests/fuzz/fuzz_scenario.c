/*
 * fuzz_scenario.c - libFuzzer target: any bytes as a scenario file, through
 * the runner's parser and every operation on rcgc (tools/scenario.c).  Built
 * with RCGC_DEBUG=3 and ASan+UBSan by `make fuzz`, so a crash, a leak, a
 * sanitizer report or a violated collector invariant is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scenario.h"

struct mem {
    const uint8_t *p;
    size_t left;
};

static size_t read_mem(void *ctx, char *buf, size_t cap)
{
    struct mem *m = ctx;
    size_t n = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (sink == NULL) sink = fopen("/dev/null", "w");
    struct mem m = {data, size};
    scenario_run(read_mem, &m, sink, sink);
    return 0;
}
