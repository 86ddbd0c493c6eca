/* net.h - the sockets the shell needs: listening, accepting, and peer addresses. */
#ifndef MOTE_NET_H
#define MOTE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* Opens a non-blocking listening TCP socket; addr as in mote_listen(). Returns the descriptor
 * or MOTE_EADDR / MOTE_ESYS with one line in err. */
int net_listen(const char *addr, uint16_t port, char *err, size_t err_len);

/* The local port of a bound socket, or MOTE_ESYS. */
int net_local_port(int fd);

/* The listening address as text ("::", "127.0.0.1"), for banners. */
void net_local_address(int fd, char *buf, size_t len);

/* Accepts one connection as a non-blocking, close-on-exec socket with TCP_NODELAY: returns the
 * descriptor, or -1 with errno set (EAGAIN when none is waiting). */
int net_accept(int listen_fd, mote_addr *peer);

#endif
