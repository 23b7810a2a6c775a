/*
 * serve_fixtures.h - what the test_serve*.c programs share (split by topic from one file).
 */
#ifndef RCGC_TEST_SERVE_FIXTURES_H
#define RCGC_TEST_SERVE_FIXTURES_H

#include "test.h"

#define TOKEN "test-token-0123456789abcdef"

extern char dir[64];

extern char sock_path[96];

void make_dir(void);

void remove_dir(void);

double now_s(void);

void base_config(rcgc_serve_config *cfg);

rcgc_serve *start_cfg(rcgc_runtime *rt, const rcgc_serve_config *cfg);

rcgc_serve *start(rcgc_runtime *rt);

int client(void);

void send_str(int fd, const char *s, size_t n);

/* Serve until fd has its whole answer (EOF) or timeout_s passed; the answer
 * (malloc'd, NUL-ended; "" if none).  hook runs between polls. */
char *collect_hook(rcgc_serve *srv, int fd, double timeout_s,
                   void (*hook)(void *), void *arg);

char *collect(rcgc_serve *srv, int fd);

/* One request line (newline added), its answer. */
char *ask(rcgc_serve *srv, const char *req);

char *askf(rcgc_serve *srv, const char *cmd_fields);

#define CHECK_HAS(s, sub)                                                     \
    do {                                                                      \
        if (strstr((s), (sub)) == NULL)                                       \
            t_fail(__FILE__, __LINE__, "expected \"%s\" in: %.600s", (sub),   \
                   (s));                                                      \
    } while (0)


int valid_answer(const char *s);

#define CHECK_JSON(s)                                                         \
    do {                                                                      \
        if (!valid_answer(s))                                                 \
            t_fail(__FILE__, __LINE__, "not one JSON object and a newline: "  \
                   "%.600s", (s));                                            \
    } while (0)

/* Many types with long names: an answer far larger than a socket buffer. */
#define NTYPES 3000

#endif
