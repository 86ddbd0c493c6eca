/* floor.c - the cheapest keep-alive responder an epoll server can be, as a yardstick for the
 * keep-alive workload: it makes the same system calls per request as mote (epoll_wait, recv,
 * send) and does no HTTP work at all. For every blank line ("\r\n\r\n") it reads it sends the
 * canned response it was given. Whatever a real server spends beyond this figure is its own
 * work; what the floor spends is the kernel's, which every server on the machine pays.
 *
 * Not a server: it trusts each request to arrive whole in one read (wrk's do) and ignores
 * everything else about HTTP.
 *
 * usage: floor PORT RESPONSE-FILE     (listens on 127.0.0.1:PORT; runs until killed) */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 128

static char response[4096];
static size_t response_len;

static int fail(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    return 2;
}

static int listen_on(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0) return -1;
    return fd;
}

static size_t count_heads(const char *p, size_t n)
{
    size_t heads = 0, i;
    for (i = 0; i + 4 <= n; i++) {
        if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0) heads++;
    }
    return heads;
}

static void serve(int fd)
{
    char buf[4096];
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    size_t heads;
    if (got <= 0) {
        if (got == 0 || (errno != EAGAIN && errno != EINTR)) close(fd);
        return;
    }
    for (heads = count_heads(buf, (size_t)got); heads > 0; heads--) {
        if (send(fd, response, response_len, MSG_NOSIGNAL) != (ssize_t)response_len) {
            close(fd);
            return;
        }
    }
}

static void accept_all(int ep, int listener)
{
    int fd;
    while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) close(fd);
    }
}

int main(int argc, char **argv)
{
    struct epoll_event ev, events[MAX_EVENTS];
    int listener, ep, n, i;
    FILE *f;
    if (argc != 3) {
        fprintf(stderr, "usage: floor PORT RESPONSE-FILE\n");
        return 2;
    }
    f = fopen(argv[2], "rb");
    if (!f) return fail(argv[2]);
    response_len = fread(response, 1, sizeof response, f);
    fclose(f);
    if (response_len == 0) return fail(argv[2]);
    listener = listen_on(atoi(argv[1]));
    if (listener < 0) return fail("listen");
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) return fail("epoll");
    for (;;) {
        n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) return fail("epoll_wait");
        for (i = 0; i < n; i++) {
            if (events[i].data.fd == listener) accept_all(ep, listener);
            else serve(events[i].data.fd);
        }
    }
}
