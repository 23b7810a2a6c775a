/*
 * fuzz_scenario.c - libFuzzer target: any bytes as a scenario file, through
 * the runner's parser and every operation on rcgc (tools/scenario.c), in
 * scenario formats 1 and 2 (a file whose first operation line is
 * "version 2" runs as version 2: seeds of both formats and the dictionary's
 * v2 words get there).  Built with RCGC_DEBUG=3 and ASan+UBSan by
 * `make fuzz`, so a crash, a leak, a sanitizer report or a violated
 * collector invariant is a finding.  The target also checks the contract's
 * exit: status 0, 2 with exactly one "scenario:LINE: error: WHAT" line on
 * the error stream, or 1 with an "rcgc-scenario: " line (out of memory);
 * anything else aborts.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* "scenario:LINE: error: WHAT\n", once, LINE a positive number. */
static int is_error_line(const char *text, size_t len)
{
    if (len < 20 || strncmp(text, "scenario:", 9) != 0 || text[len - 1] != '\n') return 0;
    if (memchr(text, '\n', len - 1) != NULL) return 0;
    size_t i = 9;
    if (text[i] < '1' || text[i] > '9') return 0;
    while (i < len && text[i] >= '0' && text[i] <= '9') i++;
    return strncmp(text + i, ": error: ", 9) == 0 && i + 9 < len - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (sink == NULL) sink = fopen("/dev/null", "w");
    char *errtext = NULL;
    size_t errlen = 0;
    FILE *err = open_memstream(&errtext, &errlen);
    if (err == NULL) return 0;
    struct mem m = {data, size};
    int status = scenario_run(read_mem, &m, sink, err);
    fclose(err);
    int ok = (status == 0 && errlen == 0) || (status == 2 && is_error_line(errtext, errlen)) ||
             (status == 1 && errlen > 0 && strncmp(errtext, "rcgc-scenario: ", 15) == 0);
    if (!ok) {
        fprintf(stderr, "fuzz_scenario: status %d with error output \"%.*s\"\n", status,
                (int)errlen, errtext != NULL ? errtext : "");
        abort();
    }
    free(errtext);
    return 0;
}
