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
#include <sys/epoll.h>

#include "floor_common.h"

#define MAX_EVENTS 128

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
    int err;
    if (argc != 3) {
        fprintf(stderr, "usage: floor PORT RESPONSE-FILE\n");
        return 2;
    }
    if ((err = load_response(argv[2])) != 0) return fail("floor", argv[2], err);
    listener = listen_on(atoi(argv[1]), SOCK_NONBLOCK);
    if (listener < 0) return fail("floor", "listen", errno);
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0)
        return fail("floor", "epoll", errno);
    for (;;) {
        n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) return fail("floor", "epoll_wait", errno);
        for (i = 0; i < n; i++) {
            if (events[i].data.fd == listener) accept_all(ep, listener);
            else serve(events[i].data.fd);
        }
    }
}
