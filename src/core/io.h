/* io.h - the vocabulary of byte transports: the result codes of a non-blocking read or write,
 * and a transport as a table of two calls, so that TLS runs over a POSIX socket, an lwIP pcb or
 * a test's buffers alike. Types only: nothing here touches a system. */
#ifndef MOTE_IO_H
#define MOTE_IO_H

#include <stddef.h>

enum {
    IO_WANT_READ = -1001,   /* nothing to read now: call again once the transport is readable */
    IO_WANT_WRITE = -1002,  /* no room to write now: call again once it is writable */
    IO_CLOSED = -1003,      /* the peer closed its side (EOF, or TLS close_notify) */
    IO_FAILED = -1004       /* a fatal error (reset, protocol violation): close the connection */
};

/* A byte stream: each call moves at most len bytes and returns how many (> 0), or an IO_* code;
 * recv() gives IO_CLOSED at the end of the stream. */
typedef struct io_transport {
    long (*recv)(void *handle, void *buf, size_t len);
    long (*send)(void *handle, const void *buf, size_t len);
    void *handle;
} io_transport;

#endif
