/*
 * fake_server - a stand-in for a program served by rcgc_serve, for
 * rcgc-ctl's tests (ctl_test.sh): it listens on a Unix socket, accepts one
 * connection, records every byte the client sends, answers what it is told
 * to (however hostile), and exits.
 *
 *   fake_server SOCKET ANSWER
 *
 * ANSWER:  file:PATH     the bytes of PATH, as they are
 *          counts:BYTES  a "counts" answer of about BYTES bytes (many
 *                        small items), generated while it is sent
 *          string:BYTES  an answer whose "message" is one string of BYTES
 *          silent:SECS   nothing: hold the connection SECS seconds, close
 *
 * SOCKET.ready is created once it listens; SOCKET.recv receives what the
 * client sent (written when the client stops sending or after 2 s).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "fake_server: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(0); /* the client left: fine */
        s += w;
        n -= (size_t)w;
    }
}

static void put_str(int fd, const char *s)
{
    put(fd, s, strlen(s));
}

/* What the client sends, until it stops (EOF, a newline, 2 s of nothing),
 * into path. */
static void record(int fd, const char *path)
{
    char buf[8192];
    size_t len = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (len < sizeof buf && poll(&p, 1, 2000) > 0) {
        ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
        if (r <= 0) break;
        len += (size_t)r;
        if (memchr(buf, '\n', len) != NULL) break;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) die(path);
    fwrite(buf, 1, len, f);
    fclose(f);
}

static void answer_file(int fd, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) die(path);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) put(fd, buf, n);
    fclose(f);
}

static void answer_counts(int fd, size_t bytes)
{
    size_t items = bytes / 30 + 1;
    char head[256], item[96];
    snprintf(head, sizeof head, "{\"ok\":true,\"cmd\":\"counts\",\"total\":%zu,"
             "\"types\":%zu,\"shown\":%zu,\"items\":[", items, items, items);
    put_str(fd, head);
    char buf[65536];
    size_t len = 0;
    for (size_t i = 0; i < items; i++) {
        int n = snprintf(item, sizeof item, "%s{\"type\":\"t%zu\",\"count\":%zu}",
                         i ? "," : "", i, items - i);
        if (len + (size_t)n > sizeof buf) {
            put(fd, buf, len);
            len = 0;
        }
        memcpy(buf + len, item, (size_t)n);
        len += (size_t)n;
    }
    put(fd, buf, len);
    put_str(fd, "]}\n");
}

static void answer_string(int fd, size_t bytes)
{
    put_str(fd, "{\"ok\":true,\"cmd\":\"x\",\"message\":\"");
    char buf[65536];
    memset(buf, 'a', sizeof buf);
    while (bytes > 0) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        put(fd, buf, n);
        bytes -= n;
    }
    put_str(fd, "\"}\n");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fake_server SOCKET file:PATH|counts:N|string:N|silent:S\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *path = argv[1], *spec = argv[2];
    char aux[4096];
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0) die("socket");
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "fake_server: socket path too long\n");
        return 2;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind");
    if (listen(lfd, 4) != 0) die("listen");
    snprintf(aux, sizeof aux, "%s.ready", path);
    int rfd = open(aux, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (rfd < 0) die(aux);
    close(rfd);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) die("accept");
    snprintf(aux, sizeof aux, "%s.recv", path);
    record(fd, aux);
    if (strncmp(spec, "file:", 5) == 0) {
        answer_file(fd, spec + 5);
    } else if (strncmp(spec, "counts:", 7) == 0) {
        answer_counts(fd, strtoull(spec + 7, NULL, 10));
    } else if (strncmp(spec, "string:", 7) == 0) {
        answer_string(fd, strtoull(spec + 7, NULL, 10));
    } else if (strncmp(spec, "silent:", 7) == 0) {
        sleep((unsigned)atoi(spec + 7));
    } else {
        fprintf(stderr, "fake_server: unknown answer %s\n", spec);
        return 2;
    }
    close(fd);
    close(lfd);
    unlink(path);
    return 0;
}
