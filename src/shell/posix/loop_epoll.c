/* loop_epoll.c - the Linux backend of loop.h. */
#include "shell/posix/loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

struct loop {
    int epfd;
    mote_allocator alloc;
};

const char *loop_backend(void)
{
    return "epoll";
}

int loop_create(loop **out, int max_fds, mote_allocator alloc)
{
    loop *l = alloc.alloc(alloc.ctx, sizeof *l);
    (void)max_fds;
    if (!l) return MOTE_ENOMEM;
    l->alloc = alloc;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        alloc.free(alloc.ctx, l);
        return MOTE_ESYS;
    }
    *out = l;
    return MOTE_OK;
}

void loop_destroy(loop *l)
{
    if (!l) return;
    close(l->epfd);
    l->alloc.free(l->alloc.ctx, l);
}

static int control(loop *l, int op, int fd, unsigned events, void *data)
{
    struct epoll_event ev;
    ev.events = ((events & LOOP_READ) ? (unsigned)EPOLLIN : 0u) |
                ((events & LOOP_WRITE) ? (unsigned)EPOLLOUT : 0u);
    ev.data.ptr = data;
    return epoll_ctl(l->epfd, op, fd, &ev) == 0 ? MOTE_OK : MOTE_ESYS;
}

int loop_add(loop *l, int fd, unsigned events, void *data)
{
    return control(l, EPOLL_CTL_ADD, fd, events, data);
}

int loop_modify(loop *l, int fd, unsigned events, void *data)
{
    return control(l, EPOLL_CTL_MOD, fd, events, data);
}

int loop_remove(loop *l, int fd)
{
    struct epoll_event ev = {0, {0}};
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev) == 0 ? MOTE_OK : MOTE_ESYS;
}

void loop_forget(loop *l, int fd)
{
    (void)l;
    (void)fd;
}

int loop_wait(loop *l, loop_event *events, int max, int timeout_ms)
{
    struct epoll_event ev[128];
    int n, i;
    if (max > 128) max = 128;
    n = epoll_wait(l->epfd, ev, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : MOTE_ESYS;
    for (i = 0; i < n; i++) {
        unsigned e = 0;
        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) e |= LOOP_READ;
        if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) e |= LOOP_WRITE;
        events[i].data = ev[i].data.ptr;
        events[i].events = e;
    }
    return n;
}

int loop_fd(const loop *l)
{
    return l->epfd;
}
