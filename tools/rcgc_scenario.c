/*
 * rcgc-scenario FILE - run a scenario (../shared/spec/scenario-format.md) on
 * rcgc and print its event log; FILE "-" reads standard input.  Exit status
 * 0; 2 for a bad line ("scenario:LINE: error: WHAT" on stderr) and, as the
 * oracle, for a usage or input error; 1 when out of memory or stdout fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario.h"

static size_t read_file(void *ctx, char *buf, size_t cap)
{
    return fread(buf, 1, cap, ctx);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rcgc-scenario FILE   (FILE - reads standard input)\n");
        return 2;
    }
    FILE *in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "rcgc-scenario: cannot read %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    int status = scenario_run(read_file, in, stdout, stderr);
    if (ferror(in)) {
        fprintf(stderr, "rcgc-scenario: error reading %s\n", argv[1]);
        status = 2;
    }
    if (in != stdin) fclose(in);
    if (fflush(stdout) != 0) status = 1;
    return status;
}
