/*
 * serve_fixtures.h - what test_serve.c and test_serve_commands.c share
 * (serve_fixtures.c): a scratch directory for the socket, a started server,
 * a client, requests and their answers.
 */
#ifndef RCGC_TEST_SERVE_FIXTURES_H
#define RCGC_TEST_SERVE_FIXTURES_H

#include "rcgc_serve.h"
#include "test.h"

/* The token every test server is started with. */
#define TOKEN "test-token-0123456789abcdef"

/* The scratch directory (make_dir) and the socket path inside it. */
extern char dir[64];
extern char sock_path[96];

/* Create a fresh scratch directory in /tmp (exits the program if it
 * cannot); set dir and sock_path. */
void make_dir(void);
/* Remove it; fails the test if something was left in it. */
void remove_dir(void);
/* Monotonic seconds. */
double now_s(void);
/* Defaults, with sock_path and TOKEN. */
void base_config(rcgc_serve_config *cfg);
/* A server started with cfg; NULL (and a failed check) if it did not. */
rcgc_serve *start_cfg(rcgc_runtime *rt, const rcgc_serve_config *cfg);
/* start_cfg with base_config. */
rcgc_serve *start(rcgc_runtime *rt);
/* A non-blocking client connected to sock_path; -1 (and a failed check)
 * if it could not connect. */
int client(void);
/* Send s[0..n) whole (retrying while the socket is full), unless the peer
 * went away. */
void send_str(int fd, const char *s, size_t n);

/* Serve until fd has its whole answer (EOF) or timeout_s passed; the answer
 * (malloc'd, NUL-ended; "" if none).  hook runs between polls. */
char *collect_hook(rcgc_serve *srv, int fd, double timeout_s,
                   void (*hook)(void *), void *arg);

/* collect_hook with no hook and 10 seconds. */
char *collect(rcgc_serve *srv, int fd);

/* One request line (newline added), its answer. */
char *ask(rcgc_serve *srv, const char *req);

/* ask() with {"token": TOKEN, cmd_fields...}: cmd_fields is the rest of
 * the JSON object, e.g. "\"cmd\":\"stats\"". */
char *askf(rcgc_serve *srv, const char *cmd_fields);
/* Fail the test unless sub is in s. */
#define CHECK_HAS(s, sub)                                                     \
    do {                                                                      \
        if (strstr((s), (sub)) == NULL)                                       \
            t_fail(__FILE__, __LINE__, "expected \"%s\" in: %.600s", (sub),   \
                   (s));                                                      \
    } while (0)

/* 1 if s is one JSON object and a newline (json_check.h's strict
 * grammar). */
int valid_answer(const char *s);
/* Fail the test unless s is valid_answer. */
#define CHECK_JSON(s)                                                         \
    do {                                                                      \
        if (!valid_answer(s))                                                 \
            t_fail(__FILE__, __LINE__, "not one JSON object and a newline: "  \
                   "%.600s", (s));                                            \
    } while (0)

/* Many types with long names: an answer far larger than a socket buffer. */
#define NTYPES 3000

#endif
