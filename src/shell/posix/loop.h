/* loop.h - readiness notification over file descriptors: epoll on Linux, poll(2) elsewhere
 * (chosen at build time by compiling loop_epoll.c or loop_poll.c). Level-triggered. */
#ifndef MOTE_LOOP_H
#define MOTE_LOOP_H

#include <stddef.h>

#include "mote.h"

typedef struct loop loop;

enum {
    LOOP_READ = 1,
    LOOP_WRITE = 2
};

typedef struct loop_event {
    void *data;
    unsigned events;    /* LOOP_READ | LOOP_WRITE; errors and hang-ups report both */
} loop_event;

/* A loop for descriptors below max_fds. */
int loop_create(loop **out, int max_fds, mote_allocator alloc);
void loop_destroy(loop *l);

int loop_add(loop *l, int fd, unsigned events, void *data);
int loop_modify(loop *l, int fd, unsigned events, void *data);
int loop_remove(loop *l, int fd);

/* The descriptor is about to be closed: forget it, without a system call where the backend
 * drops closed descriptors by itself (epoll does, once no other process shares the socket,
 * which SOCK_CLOEXEC sockets in a server that does not fork ensure). */
void loop_forget(loop *l, int fd);

/* Waits up to timeout_ms (-1: forever) and fills at most max events. Returns how many, or
 * MOTE_ESYS; an interrupted wait returns 0. */
int loop_wait(loop *l, loop_event *events, int max, int timeout_ms);

/* One descriptor that is readable whenever the loop has events, or MOTE_ENOTSUP. */
int loop_fd(const loop *l);

/* The backend's name, for logs: "epoll" or "poll". */
const char *loop_backend(void);

#endif
