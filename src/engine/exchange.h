/* exchange.h - one request and its response, whatever protocol carries them.
 *
 * A protocol fills an exchange's request (method, target, version, header fields: spans over
 * bytes it keeps stable while the exchange lives) and hands it to exchange_dispatch(), which
 * applies the policy every protocol shares: the target's form and path, the route, the
 * library's own answers (404, 405, 413, 417, 401), and whether the body is collected for the
 * handler, streamed to it, or drained. The body's bytes come back through exchange_body_*(),
 * the response goes out through the protocol's exchange_ops, and exchange_finished() ends it:
 * access log, then the application's release once its last byte has been sent.
 *
 * An exchange lives in a block of its own (exchange_block_size()): this struct, the header
 * field index, and one area for the decoded path and the response's staged header fields. */
#ifndef MOTE_EXCHANGE_H
#define MOTE_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/parser.h"
#include "core/router.h"
#include "engine/conn.h"
#include "engine/proto.h"
#include "mote.h"

/* What the request's head says about its body. */
enum {
    REQ_HAS_BODY = 1u << 0,          /* a body follows (a length above 0, or chunked) */
    REQ_LENGTH_KNOWN = 1u << 1,      /* content_length is its length */
    REQ_EXPECT_CONTINUE = 1u << 2,   /* Expect: 100-continue */
    REQ_EXPECT_OTHER = 1u << 3       /* another expectation: 417 */
};

struct mote_request {
    const char *base;                 /* the head's bytes: spans and offsets are relative to it */
    const hdr_span *fields;
    uint32_t field_count;
    uint32_t method_off, target_off, target_len;
    const char *trailer_base;         /* trailer fields, once the body has ended */
    const hdr_span *trailers;
    uint32_t trailer_count;
    const char *path, *query, *host;  /* each NUL-terminated */
    uint32_t path_len, query_len, host_len;
    uint64_t content_length;          /* with REQ_LENGTH_KNOWN */
    const char *body;                 /* a collected body, NUL-terminated */
    uint64_t body_len;
    uint8_t version;                  /* 10 or 11 */
    uint8_t method;                   /* MOTE_GET...; 0 for others */
    uint8_t flags;                    /* REQ_* */
    uint8_t valid;                    /* the head was complete and dispatched */
};

enum {
    RES_IDLE,       /* nothing written; fields may be staged */
    RES_STREAMING,  /* head committed, body pieces follow */
    RES_DONE
};

struct mote_response {
    uint8_t state;
    uint8_t no_body;          /* HEAD, 1xx, 204, 304: the body is not sent */
    uint8_t has_server, has_date, wants_close;
    uint8_t deferred;         /* kept open past its handler (mote_response_defer) */
    uint8_t has_length;       /* a streamed body of declared length (mote_response_length) */
    uint8_t in_ready;         /* inside on_ready */
    uint8_t ready_offered;    /* on_ready has been called at least once */
    uint16_t status;
    uint32_t fields_off;      /* staged header fields in the area: [u16 name_len][u16 value_len] */
    uint32_t fields_len;      /* name value, repeated */
    uint64_t body_bytes;      /* body bytes queued (for the access log) */
    uint64_t length_left;     /* of a declared length */
    int failed;               /* the last response call's error: said when 500 replaces it */
    mote_response_fn on_ready;
};

enum {
    BODY_DRAIN,       /* read and thrown away (up to max_drain_size once answered) */
    BODY_STREAM,      /* handed to mote_request_read_body()'s callback */
    BODY_COLLECT      /* gathered for a MOTE_BODY_COLLECT handler */
};

/* What the application asked of the body. */
typedef struct exchange_body {
    const route *route;
    uint8_t mode;
    uint8_t paused;
    uint8_t ended;            /* the body has ended (trailers readable) */
    mote_body_fn on_data;
    void *user;
} exchange_body;

/* The protocol's own state in an exchange, at most this many bytes. */
#define EXCHANGE_PROTO_STATE 224

struct mote_exchange {
    const exchange_ops *ops;
    mote_conn *conn;
    uint32_t id;                      /* on its connection, for mote_response_handle() */
    struct mote_request req;
    struct mote_response res;
    exchange_body body;
    void *user;                       /* mote_request_set_user() */
    mote_release_fn release;
    uint64_t begun;                   /* the engine's clock at the head (access log) */
    uint8_t in_callback;              /* a handler or body callback of this exchange runs */
    uint8_t released;                 /* the release is queued or done */
    hdr_span *spans;                  /* env->max_headers entries: fields, then trailers */
    char *area;                       /* the decoded path, then the staged response fields */
    uint32_t area_size, area_used;
    union {
        max_align_t align;
        char bytes[EXCHANGE_PROTO_STATE];
    } proto;
};

/* Whether a response with this status has no body, whatever its framing says (RFC 9110 §6.3). */
static inline int status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* The bytes an exchange block takes. */
size_t exchange_block_size(const conn_env *env);

/* An exchange in a block from env->exchanges, for connection c, carried by `ops`; NULL when
 * the pool has none. exchange_reset() makes it ready for a request (before its first). */
mote_exchange *exchange_take(mote_conn *c, const exchange_ops *ops);
void exchange_reset(mote_exchange *x, uint32_t id);
/* The block back to the pool (after exchange_finished() or exchange_abort()). */
void exchange_give_back(mote_exchange *x);

/* The head is complete (method, target, version, fields and body flags filled): the policy
 * every protocol shares, then the handler, or the library's own answer. */
void exchange_dispatch(mote_exchange *x);

/* The most body bytes the exchange's route takes. */
uint64_t exchange_body_limit(const mote_exchange *x);

/* A piece of the body for a streaming consumer; the body's end (the consumer's last call, or a
 * collecting route's handler). */
void exchange_body_piece(mote_exchange *x, const char *data, size_t len);
void exchange_body_end(mote_exchange *x);
/* The body a collecting route gathered (NUL-terminated at data[len]). */
void exchange_body_collected(mote_exchange *x, const char *data, uint64_t len);

/* Answers `status` and ends the connection after it (a broken body, a timeout); MOTE_ESTATE
 * when a response has already begun (the connection is then just closing). */
int exchange_fail(mote_exchange *x, int status);

/* A deferred response is offered room to write (on_ready): once at once after the callback
 * that deferred it returned, then whenever output has moved and there is room. */
void exchange_offer_ready(mote_exchange *x, int first);

/* The response is complete (its last byte queued): the body stops being delivered. */
void exchange_response_done(mote_exchange *x);

/* The exchange is over, response and body: access log, and the release queued behind the
 * response's last byte. The protocol then resets or gives back the block. */
void exchange_finished(mote_exchange *x);

/* The connection went away with the exchange open: the response is cut off, the application
 * hears of it (completed 0), and nothing of it is sent. */
void exchange_abort(mote_exchange *x);

/* Answers 101 with the fields staged (exchange_stage_field()) and hands the connection to
 * `next` once the request is over (exchange_ops.upgrade). */
int exchange_upgrade(mote_exchange *x, const proto_ops *next, void *ext);

/* Stages a response field without the rules mote_response_header() applies to handlers (the
 * library's own Upgrade and Connection fields): MOTE_ETOOBIG when the area is full. */
int exchange_stage_field(mote_exchange *x, const char *name, const char *value);

/* Logs a decision of the library's (env->note). */
void exchange_note(mote_exchange *x, int level, const char *what);

/* Bytes in the area for `n` more bytes, or NULL when it is full. */
static inline char *exchange_area_take(mote_exchange *x, size_t n)
{
    char *p;
    if (n > x->area_size - x->area_used) return NULL;
    p = x->area + x->area_used;
    x->area_used += (uint32_t)n;
    return p;
}

mote_exchange *exchange_of_request(const mote_request *req);
mote_exchange *exchange_of_response(const mote_response *res);

#endif
