/* proto.h - the two seams a protocol plugs into (docs/ARCHITECTURE.md).
 *
 * proto_ops is what a connection speaks (HTTP/1.1 now; WebSocket after a 101, HTTP/2 after
 * ALPN or a preface): the only thing the engine and the shells see of a protocol. It takes the
 * bytes the shell read, and queues the bytes to send on the connection's output (conn.h).
 *
 * exchange_ops is how a protocol carries one request's response (one exchange per connection
 * on HTTP/1.1, one per stream on HTTP/2): the only thing the public request and response calls
 * (request.c, response.c) see of a protocol. Protocol-neutral policy (the target, routing,
 * 404/405/413/417/401, collecting or streaming a body, the response's states) lives above it,
 * in exchange.c, so every protocol shares it.
 *
 * Both are sans-I/O, like everything in src/engine and src/proto: bytes in, bytes out, no
 * socket, clock or malloc of their own. */
#ifndef MOTE_PROTO_H
#define MOTE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"

typedef struct mote_conn mote_conn;
typedef struct mote_exchange mote_exchange;

/* The timeout a connection waits under (conn_timer()), besides the shell's own (handshake,
 * write, linger). */
enum conn_timer_kind {
    CT_NONE,     /* the application's pace (a deferred response): no timeout */
    CT_HEAD,     /* a request head is awaited: the first, or one partly received */
    CT_IDLE,     /* between requests on a kept-alive connection */
    CT_BODY,     /* a request body's next bytes are awaited */
    CT_WS_IDLE,  /* a WebSocket's peer has been silent: ping it, then give up on it */
    CT_WS_CLOSE, /* our close frame awaits the peer's */
    CT_STALL     /* a response waits for the peer to open its flow-control window (HTTP/2):
                    the write timeout, which bytes sent meanwhile do not restart */
};

typedef struct proto_ops {
    const char *name;                                /* "http/1.1" */
    /* The connection has a block again (or for the first time): set up what the protocol keeps
     * in it. MOTE_ENOMEM when it cannot take what it needs (an exchange block). */
    int (*start)(mote_conn *c);
    /* The block goes back: give up what the protocol holds in it. With `abort`, the
     * connection is being closed whatever it holds: every open exchange hears it was cut off. */
    void (*stop)(mote_conn *c, int abort);
    /* The connection is gone (after stop, or with no block lent): what the protocol keeps
     * beyond the block (c->ext) is released. May be NULL. */
    void (*end)(mote_conn *c);
    /* Where the next received bytes go and how many fit; 0: do not read now. */
    size_t (*read_space)(mote_conn *c, char **at);
    void (*received)(mote_conn *c, size_t n);
    void (*peer_eof)(mote_conn *c);
    /* Output has moved: offer room to what waits for it, and go on with queued input. */
    void (*sent)(mote_conn *c);
    /* Nothing held but the block: no input kept, no exchange in flight. */
    int (*is_idle)(const mote_conn *c);
    /* A response has begun and not ended: the connection is not done while it is open. */
    int (*is_responding)(const mote_conn *c);
    /* The client said its last request was the last and nothing followed it (see conn.h). */
    int (*ends_with_output)(const mote_conn *c);
    /* The timeout that applies (with or without a block). */
    enum conn_timer_kind (*timer)(const mote_conn *c);
    /* The timer ran out: answer what can be answered (408) and end the connection, or what
     * the protocol does then (a WebSocket pings its peer). With or without a block. */
    void (*expire)(mote_conn *c);
    /* The exchange numbered `id`, if it is still open (mote_response_post()). */
    mote_exchange *(*find)(mote_conn *c, uint32_t id);
    /* The server is stopping: say so to the peer as the protocol does (a WebSocket's close
     * 1001, HTTP/2's GOAWAY), then end once the output has gone. NULL: the connection just
     * closes once what is in flight is answered. */
    void (*going_away)(mote_conn *c);
    /* Output is asked for (conn_pending(), outside any callback): a protocol that frames
     * lazily (HTTP/2) fills the output buffer now. May be NULL. */
    void (*produce)(mote_conn *c);
    /* Whether the connection goes on reading once it is closing: HTTP/2 streams in flight
     * still receive their bodies after a GOAWAY. */
    uint8_t reads_while_closing;
} proto_ops;

/* A response body handed over whole (mote_response_send(), _send_static(), _send_file()). */
enum body_kind {
    BODY_COPY,      /* bytes to copy now: the caller's buffer is gone once the call returns */
    BODY_BORROW,    /* bytes sent from where they are, unchanged until the exchange's release */
    BODY_FILE       /* a range of a file */
};

typedef struct body_src {
    enum body_kind kind;
    const void *data;           /* BODY_COPY, BODY_BORROW */
    uint64_t len;
    mote_file file;             /* BODY_FILE: taken over on success */
    uint64_t off;
} body_src;

typedef struct exchange_ops {
    /* The head, with Content-Length, and the whole body; the response is then complete. */
    int (*send)(mote_exchange *x, const body_src *body);
    /* A piece of a streamed body, the head first (once); len 0 only commits the head. Queues
     * all of it or nothing: MOTE_EAGAIN when there is no room now. */
    int (*write)(mote_exchange *x, const void *data, size_t len);
    /* The end of a streamed body (its head first, if nothing was written). */
    int (*end)(mote_exchange *x);
    /* Whether a piece of a streamed body would find room now (on_ready is offered then). */
    int (*room)(const mote_exchange *x);
    /* The body is wanted now (send 100 Continue if the client waits for it), or its delivery
     * was paused or resumed. */
    void (*want_body)(mote_exchange *x);
    /* The body is to be gathered whole for the handler: MOTE_ETOOBIG when it cannot be held
     * (413), MOTE_ENOMEM (503). */
    int (*collect)(mote_exchange *x);
    /* The response has been completed (mote_response_end() or a send): what comes next. */
    void (*finished)(mote_exchange *x);
    /* Switching protocols: the 101 head with the staged fields is queued, the exchange ends,
     * and once the request is over the connection speaks `next`, with `ext` as what that
     * protocol keeps beyond the block (c->ext), the bytes after the request its first input.
     * MOTE_ENOTSUP where the protocol cannot switch (HTTP/2), MOTE_EAGAIN without room. */
    int (*upgrade)(mote_exchange *x, const proto_ops *next, void *ext);
    /* One of several exchanges on the connection (an HTTP/2 stream): one that fails ends
     * itself, not the connection. */
    uint8_t multiplexed;
} exchange_ops;

#endif
