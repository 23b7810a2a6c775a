/*
 * serve_fixtures.c - the shared helpers of serve_fixtures.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve_internal.h"
#include "rcgc_serve.h"
#include "json_check.h"
#include "serve_fixtures.h"

char dir[64];

char sock_path[96];

void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rcgc-serve-test-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(sock_path, sizeof sock_path, "%s/sock", dir);
}

void remove_dir(void)
{
    if (rmdir(dir) != 0) t_fail(__FILE__, __LINE__, "%s not empty at the end", dir);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void base_config(rcgc_serve_config *cfg)
{
    rcgc_serve_config_init(cfg);
    cfg->socket_path = sock_path;
    cfg->token = TOKEN;
}

rcgc_serve *start_cfg(rcgc_runtime *rt, const rcgc_serve_config *cfg)
{
    rcgc_serve *srv = NULL;
    char err[256];
    int e = rcgc_serve_start(rt, cfg, &srv, err, sizeof err);
    if (e != 0) t_fail(__FILE__, __LINE__, "rcgc_serve_start: %d: %s", e, err);
    return srv;
}

rcgc_serve *start(rcgc_runtime *rt)
{
    rcgc_serve_config cfg;
    base_config(&cfg);
    return start_cfg(rt, &cfg);
}

int client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        t_fail(__FILE__, __LINE__, "connect: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

void send_str(int fd, const char *s, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && (errno == EAGAIN || errno == EINTR)) usleep(1000);
        else break;
    }
}

char *collect_hook(rcgc_serve *srv, int fd, double timeout_s,
                   void (*hook)(void *), void *arg)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    double end = now_s() + timeout_s;
    while (now_s() < end) {
        if (srv != NULL) rcgc_serve_poll(srv, 5);
        if (hook != NULL) hook(arg);
        for (;;) {
            if (cap - len < 4096) buf = realloc(buf, cap *= 2);
            ssize_t r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
            if (r > 0) {
                len += (size_t)r;
                continue;
            }
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) goto done;
            break;
        }
        if (srv == NULL) usleep(2000);
    }
done:
    buf[len] = 0;
    return buf;
}

char *collect(rcgc_serve *srv, int fd)
{
    return collect_hook(srv, fd, 10, NULL, NULL);
}

char *ask(rcgc_serve *srv, const char *req)
{
    int fd = client();
    if (fd < 0) return calloc(1, 1);
    send_str(fd, req, strlen(req));
    send_str(fd, "\n", 1);
    char *a = collect(srv, fd);
    close(fd);
    return a;
}

char *askf(rcgc_serve *srv, const char *cmd_fields)
{
    char req[1024];
    snprintf(req, sizeof req, "{%s,\"token\":\"" TOKEN "\"}", cmd_fields);
    return ask(srv, req);
}


int valid_answer(const char *s)
{
    return json_check_object_line(s, strlen(s));
}

