/* net.h - the sockets the shell needs: listening, accepting, and peer addresses. */
#ifndef MOTE_NET_H
#define MOTE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct iovec;
#include "mote.h"

enum {
    /* other sockets with it may listen on the same port (SO_REUSEPORT), the kernel sharing
     * connections among them */
    NET_REUSE_PORT = 1,
    /* a connection is ready to accept once its first bytes are in, or after a second of
     * silence (TCP_DEFER_ACCEPT; where the system has it) */
    NET_DEFER_ACCEPT = 2
};

/* Opens a non-blocking listening TCP socket; addr as in mote_listen(); flags NET_*. Returns the
 * descriptor or MOTE_EADDR / MOTE_ESYS with one line in err. */

int net_listen(const char *addr, uint16_t port, unsigned flags, char *err, size_t err_len);

/* Takes a listening socket the process was given (made non-blocking and close-on-exec):
 * MOTE_OK, or MOTE_EINVAL / MOTE_ESYS with one line in err. */
int net_adopt(int fd, char *err, size_t err_len);

/* The local port of a bound socket, or MOTE_ESYS. */
int net_local_port(int fd);

/* The listening address as text ("::", "127.0.0.1"), for banners. */
void net_local_address(int fd, char *buf, size_t len);

/* Accepts one connection as a non-blocking, close-on-exec socket with TCP_NODELAY: returns the
 * descriptor, or -1 with errno set (EAGAIN when none is waiting). */
int net_accept(int listen_fd, mote_addr *peer);

/* The socket calls made for connections, behind a table: the system's, or a test's that
 * injects faults (EAGAIN, EINTR, short transfers, resets) at any step. Each returns what the
 * system call would: a count, or -1 with errno set. */
typedef struct net_io {
    long (*recv)(void *ctx, int fd, void *buf, size_t len);
    /* Never raises SIGPIPE. `more`: more bytes (or the FIN) follow at once, so the stack may
     * hold these back to send them together (MSG_MORE). */
    long (*send)(void *ctx, int fd, const void *buf, size_t len, int more);
    int (*accept)(void *ctx, int listen_fd, mote_addr *peer);     /* as net_accept() */
    /* len bytes of file_fd from offset `off` (sendfile(2)): a count, 0 at the file's end. */
    long (*sendfile)(void *ctx, int fd, int file_fd, uint64_t off, size_t len);
    void *ctx;
    /* Several pieces in one call (sendmsg(2)), as `send`; NULL: one `send` a piece. */
    long (*sendv)(void *ctx, int fd, const struct iovec *iov, int count, int more);
} net_io;

extern const net_io net_io_system;

/* Makes a server use `io` for its connections (server.c); for tests, before it serves. */
void server_use_io(mote_server *s, const net_io *io);

#endif
