/* tls.h - TLS as a byte filter between a transport and a connection, one interface for every
 * backend (tls_mbedtls.c, tls_openssl.c; tls_none.c for builds without TLS), chosen at build time.
 *
 * A tls_ctx holds one listener's credentials and settings; a tls_conn is one connection's
 * session over a transport the caller owns (core/io.h: a socket, a pcb, a test's buffers).
 * Every call is non-blocking: it returns IO_WANT_READ or IO_WANT_WRITE when the transport is
 * not ready, and the caller calls again once it is. */
#ifndef MOTE_TLS_H
#define MOTE_TLS_H

#include <stddef.h>

#include "core/io.h"
#include "mote.h"

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

/* Loads credentials and builds the configuration; the context and its sessions' own structs
 * come from `alloc` (NULL: malloc), the library's buffers from its own allocator. On failure
 * returns MOTE_ETLS (or MOTE_ENOMEM) and writes one line saying why into err. */
int tls_ctx_create(tls_ctx **out, const mote_tls_config *cfg, const mote_allocator *alloc,
                   char *err, size_t err_len);
/* The creator's hold on the context ends; it is freed once its last session is destroyed too
 * (sessions keep using the context they started with, e.g. across a reload). */
void tls_ctx_destroy(tls_ctx *ctx);

/* From now on ctx seals and opens session tickets with the keys of `from` (another loop's
 * context of the same listener, or the one a reload replaces), so clients resume on either. */
void tls_ctx_share_tickets(tls_ctx *ctx, const tls_ctx *from);

/* Starts a server-side session over `transport` (copied), which must outlive the session. */
int tls_conn_create(tls_ctx *ctx, const io_transport *transport, tls_conn **out);
void tls_conn_destroy(tls_conn *c);

/* Advances the handshake: 0 when complete, IO_WANT_READ/WRITE, or IO_FAILED. */
int tls_handshake(tls_conn *c);

/* Reads decrypted bytes: a count > 0, IO_CLOSED, IO_WANT_READ/WRITE, or IO_FAILED. */
long tls_read(tls_conn *c, void *buf, size_t len);

/* Encrypts and sends up to len bytes: a count > 0, IO_WANT_WRITE/READ, or IO_FAILED.
 * After IO_WANT_*, call again with the same leading bytes (more may follow them). */
long tls_write(tls_conn *c, const void *buf, size_t len);

/* Bytes the session has taken from the transport and holds (decrypted, or read ahead), which
 * tls_read() gets to without the transport: no readiness event announces them. */
size_t tls_pending(const tls_conn *c);

/* Sends close_notify, best effort (never blocks). */
void tls_close_notify(tls_conn *c);

/* Whether the listener offers "h2" in ALPN, ahead of "http/1.1" (off at creation). */
void tls_ctx_offer_h2(tls_ctx *ctx, int on);

/* The protocol ALPN chose once the handshake is over ("h2", "http/1.1"), or NULL. */
const char *tls_alpn(const tls_conn *c);

/* Whether the handshake resumed an earlier session (a ticket, the cache, a TLS 1.3 PSK). */
int tls_resumed(const tls_conn *c);

/* The client certificate verified in the handshake, or NULL (none asked for or sent). */
const mote_tls_peer *tls_peer(const tls_conn *c);

/* Why the session failed (after IO_FAILED), one line for the log: "alert received: ...". */
void tls_failure(const tls_conn *c, char *buf, size_t len);

/* The backend's name and version, for logs ("mbedTLS 2.28.3"; "none"). */
const char *tls_backend(void);

#endif
