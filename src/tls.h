/* tls.h - TLS as a byte filter between a non-blocking socket and a connection (mbedTLS 2.28).
 *
 * A tls_ctx holds one listener's credentials and settings; a tls_conn is one connection's
 * session over a socket the caller owns. Every call is non-blocking: it returns TLS_WANT_READ or
 * TLS_WANT_WRITE when the socket is not ready, and the caller calls again once it is. */
#ifndef MOTE_TLS_H
#define MOTE_TLS_H

#include <stddef.h>

#include "mote.h"
#include "net.h"

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

enum {
    TLS_WANT_READ = -1001,
    TLS_WANT_WRITE = -1002,
    TLS_CLOSED = -1003,    /* the peer closed (close_notify or EOF) */
    TLS_FAILED = -1004     /* fatal protocol or socket error: close the connection */
};

/* Loads credentials and builds the configuration; the context and its sessions' own structs
 * come from `alloc` (NULL: malloc), mbedTLS's buffers from mbedTLS's allocator. On failure returns MOTE_ETLS (or MOTE_ENOMEM)
 * and writes one line saying why into err. */
int tls_ctx_create(tls_ctx **out, const mote_tls_config *cfg, const mote_allocator *alloc,
                   char *err, size_t err_len);
void tls_ctx_destroy(tls_ctx *ctx);

/* Starts a server-side session on connected socket `fd`, read and written through `io`
 * (NULL: the system's calls), which must outlive the session. */
int tls_conn_create(tls_ctx *ctx, int fd, const net_io *io, tls_conn **out);
void tls_conn_destroy(tls_conn *c);

/* Advances the handshake: 0 when complete, TLS_WANT_READ/WRITE, or TLS_FAILED. */
int tls_handshake(tls_conn *c);

/* Reads decrypted bytes: a count > 0, TLS_CLOSED, TLS_WANT_READ/WRITE, or TLS_FAILED. */
long tls_read(tls_conn *c, void *buf, size_t len);

/* Encrypts and sends up to len bytes: a count > 0, TLS_WANT_WRITE/READ, or TLS_FAILED.
 * After TLS_WANT_*, call again with the same leading bytes (more may follow them). */
long tls_write(tls_conn *c, const void *buf, size_t len);

/* Bytes the session has taken from the socket and holds (decrypted, or read ahead), which
 * tls_read() gets to without the socket: no readiness event announces them. */
size_t tls_pending(const tls_conn *c);

/* Sends close_notify, best effort (never blocks). */
void tls_close_notify(tls_conn *c);

#endif
