/* conn.h - one HTTP/1.1 connection as a sans-I/O state machine.
 *
 * The I/O shell reads socket bytes into the space conn_read_space() offers and reports them
 * with conn_received(); the connection parses them, dispatches requests to handlers, and queues
 * response bytes that the shell takes with conn_pending() and acknowledges with conn_sent().
 * No socket or clock is touched here, and memory comes only from the shell: buffers lent while
 * the connection has something in flight, and the allocator a collected body may need. */
#ifndef MOTE_CONN_H
#define MOTE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/body.h"
#include "mote.h"
#include "core/parser.h"
#include "core/router.h"

typedef struct mote_conn mote_conn;

/* What every connection of a server shares, set up by the shell. */
typedef struct conn_env {
    const router *routes;
    uint32_t max_request_line, max_header_bytes, max_headers;
    uint32_t in_size, out_size;       /* buffer sizes inside a block (see conn_block_size) */
    uint64_t max_body_size;
    uint64_t max_drain_size;
    mote_allocator alloc;             /* for bodies collected beyond the input buffer */
    int fixed_memory;                 /* static-memory mode: collected bodies stay in the input
                                         buffer, and one that does not fit gets 413 */
    char server_line[80];             /* "Server: mote\r\n", or empty */
    size_t server_line_len;
    char date_line[40];               /* "Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n", or empty */
    size_t date_line_len;
    void *owner;                      /* the shell's context for the hooks */
    /* Optional hooks into the shell. */
    void (*flush)(mote_conn *c);              /* try to send pending output now */
    void (*request_begin)(mote_conn *c);      /* a request head is complete */
    void (*request_end)(mote_conn *c);        /* its response is fully queued (access log) */
    void (*kick)(mote_conn *c);               /* output was queued outside any I/O event */
} conn_env;

/* The request's head stays at in[in_start] until the request is finished: its body read and
 * its response sent. Offsets below are into the head unless said otherwise. */
struct mote_request {
    uint32_t path_len;                /* the decoded path is in the block's path area */
    uint32_t query_off, query_len;
    uint32_t host_off, host_len;      /* the target's authority, or the Host field */
    uint8_t version;                  /* 10 or 11 */
    uint8_t method;                   /* MOTE_GET...; 0 for others */
    uint8_t valid;                    /* the head was parsed and dispatched */
};

enum {
    RES_IDLE,       /* nothing written */
    RES_STAGED,     /* headers being added; nothing committed */
    RES_STREAMING,  /* head committed, body pieces follow */
    RES_DONE
};

struct mote_response {
    uint8_t state;
    uint8_t chunked;          /* body pieces are framed as chunks */
    uint8_t no_body;          /* HEAD, 1xx, 204, 304: the body is not sent */
    uint8_t has_server, has_date, wants_close;
    uint8_t deferred;         /* kept open past its handler (mote_response_defer) */
    uint8_t has_length;       /* a streamed body of declared length (mote_response_length) */
    uint8_t in_ready;         /* inside on_ready */
    uint8_t ready_offered;    /* on_ready has been called at least once */
    uint16_t status;
    uint32_t staged;          /* bytes of user header lines staged after the prefix room */
    uint64_t body_bytes;      /* body bytes queued to send (for the access log) */
    uint64_t length_left;     /* of a declared length */
    mote_response_fn on_ready, on_close;
    void *defer_user;
};

enum {
    PHASE_HEAD,       /* waiting for or parsing a request head */
    PHASE_BODY,       /* the request's body is being read */
    PHASE_RESPONDING  /* the body is read; a deferred response is still open */
};

enum {
    BODY_DRAIN,       /* read and thrown away (up to max_drain_size once answered) */
    BODY_STREAM,      /* handed to mote_request_read_body()'s callback */
    BODY_COLLECT      /* gathered for a MOTE_ROUTE_COLLECT_BODY handler */
};

/* The body of the request in flight. The input buffer holds, in order: the head, a body
 * collected in place, the trailer section (all kept, up to `floor`), consumed bytes (dead, up
 * to `pos`), and bytes not yet decoded (up to in_len). */
typedef struct body_state {
    body_decoder dec;
    const route *route;
    uint8_t mode;
    uint8_t paused;
    uint8_t continue_due;     /* the client awaits 100 Continue before sending the body */
    uint8_t collect_heap;     /* the collected body is in `heap`, not in place */
    uint32_t floor, pos;      /* offsets into in */
    uint32_t collect_off;     /* in-place collected body, offset into in */
    uint32_t trailer_off, trailer_len;
    uint32_t trailer_count;   /* trailer spans follow the header spans */
    uint64_t collected;
    uint64_t drained;
    char *heap;
    size_t heap_cap;
    mote_body_fn on_data;
    void *user;
} body_state;

/* The request in flight. It lives at the start of the block a connection borrows while active,
 * so an idle keep-alive connection costs only its mote_conn. */
typedef struct conn_active {
    struct mote_request req;
    struct mote_response res;
    body_state body;
    parser parser;                    /* parses the head that starts at in[in_start] */
    mote_conn *conn;
} conn_active;

struct mote_conn {
    const conn_env *env;
    void *user;                       /* the shell's per-connection object */
    conn_active *a;                   /* the block's request state, NULL while idle */
    char *in;                         /* the block's buffers, NULL while idle */
    char *path;                       /* the decoded path, max_request_line + 1 bytes */
    char *out;
    uint32_t in_start, in_len;        /* live input is in[in_start, in_len) */
    uint32_t out_sent, out_len;       /* pending output is out[out_sent, out_len) */
    uint32_t requests;                /* served on this connection */
    mote_addr peer;
    uint8_t phase;
    unsigned is_tls : 1;
    unsigned closing : 1;             /* no more requests: close once the output drains */
    unsigned peer_eof : 1;            /* the peer will send nothing more */
    unsigned keep_alive : 1;          /* the current request allows a next one */
    unsigned busy : 1;                /* inside process(): parsing or in a handler */
    unsigned in_handler : 1;          /* a route handler is running */
    unsigned peer_closes : 1;         /* the request in flight asked for the connection to end */
    unsigned ended_cleanly : 1;       /* the last request was read to its end */
};

/* The size of the buffer block a connection borrows while active. */
size_t conn_block_size(const conn_env *env);

/* The input buffer an env needs: a complete head always fits (request line, its CRLF, the field
 * section), with room after it to read its body through. */
uint32_t conn_input_size(size_t max_request_line, size_t max_header_bytes);

void conn_init(mote_conn *c, const conn_env *env, void *user);

/* Lends the connection a block of conn_block_size() bytes. */
void conn_attach(mote_conn *c, char *block);

/* Whether the connection holds no bytes and no request, so its block can go back; and the
 * block taken back (NULL when it cannot be). */
int conn_is_idle(const mote_conn *c);
char *conn_detach(mote_conn *c);

/* The block taken back whatever it holds, for a connection being closed (NULL if none). */
char *conn_drop_block(mote_conn *c);

/* Where the next received bytes go and how many fit (0: do not read now). Needs a block. */
size_t conn_read_space(mote_conn *c, char **at);

/* n bytes were stored at the place conn_read_space() gave: parse and dispatch them. */
void conn_received(mote_conn *c, size_t n);

/* The peer closed its side: finish what was received, then close. */
void conn_peer_eof(mote_conn *c);

/* Pending output, and acknowledging bytes written. */
size_t conn_pending(const mote_conn *c, const char **data);
void conn_sent(mote_conn *c, size_t n);

/* Whether the connection is finished: closing and every byte written. */
int conn_is_done(const mote_conn *c);

/* Whether the connection ends once its pending output is written, and may then close at once:
 * the client's last request said it was the last and nothing followed it, so closing cannot
 * reset a response the client is still reading (RFC 9112, 9.6), provided the socket holds
 * nothing unread either. */
int conn_ends_with_output(const mote_conn *c);

/* Whether a request head has begun arriving (for the head timeout). */
int conn_has_partial_head(const mote_conn *c);

/* Whether the connection waits for body bytes from the peer (for the body timeout): reading a
 * body, not paused by its consumer. */
int conn_awaits_body(const mote_conn *c);

/* Answers `status` with a short text body and closes after it (timeouts, 503). Returns 0, or a
 * MOTE_E* code when a response has already begun (the connection is then just closing). */
int conn_fail(mote_conn *c, int status);

/* The connection is being closed by the shell: an open deferred response hears of it, and a
 * body collected on the heap is freed. */
void conn_abort(mote_conn *c);

/* Internals shared with response.c and request.c. */
mote_conn *conn_of_response(mote_response *res);
const mote_conn *conn_of_request(const mote_request *req);
mote_conn *conn_of_request_mut(mote_request *req);
void conn_response_finished(mote_conn *c);
void conn_output_queued(mote_conn *c);
/* Whether the response being committed must close the connection: the body it leaves unread
 * cannot be drained (too long, or the client still waits for 100 Continue). */
int conn_body_forces_close(const mote_conn *c);
void response_discard_staged(mote_conn *c);
/* Send-buffer bytes a response needs beyond its own header fields and body, at most. */
size_t response_head_reserve(const mote_conn *c);
/* Queues "HTTP/1.1 100 Continue" ahead of the response's head. */
int response_send_continue(mote_conn *c);

#endif
