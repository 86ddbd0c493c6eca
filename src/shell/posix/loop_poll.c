/* loop_poll.c - the portable poll(2) backend of loop.h: a dense pollfd array, and a map from
 * descriptor to slot so that adding, changing and removing are O(1). */
#define _POSIX_C_SOURCE 200809L
#include "shell/posix/loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

struct loop {
    mote_allocator alloc;
    int max_fds;
    int count;
    int next;                /* where the last wait's scan stopped, for fairness */
    struct pollfd *fds;      /* [max_fds] */
    void **data;             /* [max_fds], parallel to fds */
    int *slot_of;            /* [max_fds]: fd -> slot, or -1 */
};

const char *loop_backend(void)
{
    return "poll";
}

void loop_destroy(loop *l)
{
    if (!l) return;
    l->alloc.free(l->alloc.ctx, l->fds);
    l->alloc.free(l->alloc.ctx, l->data);
    l->alloc.free(l->alloc.ctx, l->slot_of);
    l->alloc.free(l->alloc.ctx, l);
}

int loop_create(loop **out, int max_fds, mote_allocator alloc)
{
    loop *l = alloc.alloc(alloc.ctx, sizeof *l);
    size_t n = (size_t)(max_fds > 0 ? max_fds : 1);
    int i;
    if (!l) return MOTE_ENOMEM;
    memset(l, 0, sizeof *l);
    l->alloc = alloc;
    l->max_fds = (int)n;
    l->fds = alloc.alloc(alloc.ctx, n * sizeof *l->fds);
    l->data = alloc.alloc(alloc.ctx, n * sizeof *l->data);
    l->slot_of = alloc.alloc(alloc.ctx, n * sizeof *l->slot_of);
    if (!l->fds || !l->data || !l->slot_of) {
        loop_destroy(l);
        return MOTE_ENOMEM;
    }
    for (i = 0; i < l->max_fds; i++) l->slot_of[i] = -1;
    *out = l;
    return MOTE_OK;
}

static short poll_events(unsigned events)
{
    return (short)(((events & LOOP_READ) ? POLLIN : 0) | ((events & LOOP_WRITE) ? POLLOUT : 0));
}

int loop_add(loop *l, int fd, unsigned events, void *data)
{
    int s;
    if (fd < 0 || fd >= l->max_fds || l->slot_of[fd] >= 0) return MOTE_EINVAL;
    s = l->count++;
    l->fds[s].fd = fd;
    l->fds[s].events = poll_events(events);
    l->fds[s].revents = 0;
    l->data[s] = data;
    l->slot_of[fd] = s;
    return MOTE_OK;
}

int loop_modify(loop *l, int fd, unsigned events, void *data)
{
    int s;
    if (fd < 0 || fd >= l->max_fds || (s = l->slot_of[fd]) < 0) return MOTE_EINVAL;
    l->fds[s].events = poll_events(events);
    l->data[s] = data;
    return MOTE_OK;
}

int loop_remove(loop *l, int fd)
{
    int s, last;
    if (fd < 0 || fd >= l->max_fds || (s = l->slot_of[fd]) < 0) return MOTE_EINVAL;
    last = --l->count;
    if (s != last) {
        l->fds[s] = l->fds[last];
        l->data[s] = l->data[last];
        l->slot_of[l->fds[s].fd] = s;
    }
    l->slot_of[fd] = -1;
    return MOTE_OK;
}

void loop_forget(loop *l, int fd)
{
    (void)loop_remove(l, fd);
}

int loop_wait(loop *l, loop_event *events, int max, int timeout_ms)
{
    int n, i, found = 0;
    n = poll(l->fds, (nfds_t)l->count, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : MOTE_ESYS;
    if (l->next >= l->count) l->next = 0;
    for (i = 0; i < l->count && found < max && n > 0; i++) {
        int s = (l->next + i) % l->count;
        short re = l->fds[s].revents;
        unsigned e = 0;
        if (!re) continue;
        n--;
        if (re & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) e |= LOOP_READ;
        if (re & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) e |= LOOP_WRITE;
        l->fds[s].revents = 0;
        events[found].data = l->data[s];
        events[found].events = e;
        found++;
    }
    l->next = (l->next + i) % (l->count ? l->count : 1);
    return found;
}

int loop_fd(const loop *l)
{
    (void)l;
    return MOTE_ENOTSUP;
}
