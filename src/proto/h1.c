/* h1.c - HTTP/1.1 on a connection; see h1.h.
 *
 * A request goes HEAD -> BODY -> (RESPONDING) -> finished. The head is parsed in the input
 * buffer, where it stays until the request is finished (its fields point into it); the
 * exchange's policy (exchange.c) then decides who answers. The body is decoded as it arrives
 * and streamed to the handler, collected, or drained; the request ends when both its body and
 * its response are done. A request is dispatched only when the output has room for a response,
 * so pipelined responses batch up without a reader that does not read growing anything. */
#include "proto/h1.h"

#include <stddef.h>
#include <string.h>

#include "core/body.h"
#include "core/chars.h"
#include "core/parser.h"
#include "engine/conn.h"
#include "engine/exchange.h"
#include "proto/h2.h"

/* First heap buffer for a chunked body being collected. */
#define COLLECT_FIRST 4096
/* "HTTP/1.1 " status SP reason CRLF: reasons are at most 31 bytes. */
#define STATUS_LINE_MAX 48
/* Content-Length (20 digits) or Transfer-Encoding, Connection, and the blank line. */
#define FRAMING_MAX 64
/* A chunk's size line and CRLF around its data; the last-chunk after all data. */
#define CHUNK_OVERHEAD (16 + 2 + 2)
#define LAST_CHUNK "0\r\n\r\n"
#define LAST_CHUNK_LEN 5
#define CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"

enum {
    PHASE_HEAD,       /* waiting for or parsing a request head */
    PHASE_BODY,       /* the request's body is being read */
    PHASE_RESPONDING  /* the body is read; a deferred response is still open */
};

/* The connection's state, in its block. */
typedef struct h1_conn {
    mote_exchange *x;         /* the one exchange, taken when the block is lent */
    uint8_t phase;
    uint8_t keep_alive;       /* the current request allows a next one */
    uint8_t peer_closes;      /* the request in flight asked for the connection to end */
    uint8_t ended_cleanly;    /* the last request was read to its end */
    uint8_t processing;       /* inside process(): parsing or in a handler */
    uint8_t ready;            /* the exchange is reset for the next head */
    const proto_ops *next;    /* switching to this protocol once the request is over */
    void *next_ext;           /* and its state beyond the block */
} h1_conn;

/* The request's framing, in its exchange. The input buffer holds, in order: the head, a body
 * collected in place (and one byte for its NUL), the trailer section (all kept, up to
 * `floor`), consumed bytes (dead, up to `pos`), and bytes not yet decoded (up to in_len). */
typedef struct h1_exchange {
    parser parser;            /* parses the head at in[in_start] */
    body_decoder dec;
    uint32_t floor, pos;      /* offsets into in */
    uint32_t collect_off;     /* a body collected in place */
    uint32_t trailer_off, trailer_len;
    uint64_t drained;
    char *heap;               /* a body collected on the heap */
    size_t heap_cap;
    uint64_t collected;
    char saved;               /* the input byte a collected body's NUL covers, */
    uint8_t restore;          /* put back before the next request is parsed */
    uint8_t dec_ready;        /* dec was set up with the route's limit */
    uint8_t collect_heap;
    uint8_t continue_due;     /* the client awaits 100 Continue before sending the body */
    uint8_t chunked;          /* the response's body pieces are framed as chunks */
} h1_exchange;

_Static_assert(sizeof(h1_conn) <= CONN_PROTO_STATE, "h1_conn outgrows the block's room");
_Static_assert(sizeof(h1_exchange) <= EXCHANGE_PROTO_STATE, "h1_exchange outgrows its room");

static const exchange_ops h1_exchange_ops;

static h1_conn *st(const mote_conn *c)
{
    return conn_proto_state(c);
}

static h1_exchange *hx(const mote_exchange *x)
{
    return (h1_exchange *)(void *)(uintptr_t)x->proto.bytes;
}

static void process(mote_conn *c);

/* ---- the exchange's life ------------------------------------------------------------------ */

static void free_heap_body(mote_exchange *x)
{
    h1_exchange *h = hx(x);
    if (h->heap) x->conn->env->alloc.free(x->conn->env->alloc.ctx, h->heap);
    h->heap = NULL;
    h->heap_cap = 0;
}

/* The exchange made ready for the next request: nothing read or answered. Done as its head
 * begins (or a timeout needs an answer), so that a connection going idle between requests
 * resets it once, not twice. */
static void begin_request(mote_conn *c)
{
    h1_conn *s = st(c);
    mote_exchange *x = s->x;
    h1_exchange *h = hx(x);
    const conn_env *env = c->env;
    exchange_reset(x, c->requests + 1);
    parser_init(&h->parser, x->spans, env->max_headers, env->max_request_line,
                env->max_header_bytes);
    memset(&h->dec, 0, sizeof *h - offsetof(h1_exchange, dec));
    s->keep_alive = 1;
    s->ready = 1;
}

static int h1_start(mote_conn *c)
{
    h1_conn *s = st(c);
    s->x = exchange_take(c, &h1_exchange_ops);
    if (!s->x) return MOTE_ENOMEM;
    hx(s->x)->heap = NULL; /* what h1_stop() reads before any request has begun */
    s->phase = PHASE_HEAD;
    s->ready = 0;
    return MOTE_OK;
}

static void h1_stop(mote_conn *c, int abort)
{
    h1_conn *s = st(c);
    if (!s->x) return;
    if (abort) exchange_abort(s->x);
    free_heap_body(s->x);
    exchange_give_back(s->x);
    s->x = NULL;
}

static void finish_request(mote_conn *c)
{
    h1_conn *s = st(c);
    mote_exchange *x = s->x;
    c->b->in_start = hx(x)->pos;
    if (hx(x)->restore) c->b->in[hx(x)->pos] = hx(x)->saved;
    exchange_finished(x);
    free_heap_body(x);
    if (s->next) { /* the connection is another protocol's from here */
        s->phase = PHASE_HEAD;
        return;
    }
    if (!s->keep_alive || c->closing || c->draining) {
        c->closing = 1;
        s->ended_cleanly = 1;
        return;
    }
    s->phase = PHASE_HEAD;
    s->ready = 0;
}

/* ---- the head ------------------------------------------------------------------------------ */

/* NUL-terminates the fields of a head or trailer section in place: each is followed by a
 * delimiter already checked (':', OWS or CR), so nothing it means changes. */
static void terminate_fields(char *base, const hdr_span *fields, uint32_t count)
{
    uint32_t i;
    for (i = 0; i < count; i++) {
        base[fields[i].name_off + fields[i].name_len] = '\0';
        base[fields[i].value_off + fields[i].value_len] = '\0';
    }
}

static unsigned method_id(const char *m, uint32_t len)
{
    switch (len) {
    case 3:
        if (memcmp(m, "GET", 3) == 0) return MOTE_GET;
        if (memcmp(m, "PUT", 3) == 0) return MOTE_PUT;
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0) return MOTE_HEAD;
        if (memcmp(m, "POST", 4) == 0) return MOTE_POST;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0) return MOTE_PATCH;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0) return MOTE_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0) return MOTE_OPTIONS;
        break;
    default:
        break;
    }
    return 0;
}

static int request_has_body(const parser *p)
{
    return (p->flags & HEAD_CHUNKED) || ((p->flags & HEAD_HAS_LENGTH) && p->content_length > 0);
}

/* A head leaving too little room after it for its body moves down to the buffer's start,
 * before anything points into it. */
static void make_body_room(mote_conn *c)
{
    conn_block *b = c->b;
    if (b->in_start == 0 || c->env->in_size - b->in_len >= c->env->body_read_room) return;
    memmove(b->in, b->in + b->in_start, b->in_len - b->in_start);
    b->in_len -= b->in_start;
    b->in_start = 0;
}

/* The parsed head as the exchange's request; the body's reading set up. */
static void take_head(mote_conn *c)
{
    h1_conn *s = st(c);
    mote_exchange *x = s->x;
    h1_exchange *h = hx(x);
    const parser *p = &h->parser;
    mote_request *req = &x->req;
    char *base;

    req->version = (uint8_t)(p->version_minor == 0 ? 10 : 11);
    if (req->version == 11) s->keep_alive = !(p->flags & HEAD_CLOSE);
    else s->keep_alive = (p->flags & HEAD_KEEP_ALIVE) && !(p->flags & HEAD_CLOSE);
    s->peer_closes = !s->keep_alive;
    if (request_has_body(p)) make_body_room(c);
    base = c->b->in + c->b->in_start;
    terminate_fields(base, p->headers, p->header_count);
    base[p->method_off + p->method_len] = '\0';
    base[p->target_off + p->target_len] = '\0';

    req->base = base;
    req->fields = p->headers;
    req->field_count = p->header_count;
    req->method_off = p->method_off;
    req->target_off = p->target_off;
    req->target_len = p->target_len;
    req->method = (uint8_t)method_id(base + p->method_off, p->method_len);
    if (p->host_field) { /* found by the parser already */
        req->host = base + p->headers[p->host_field - 1].value_off;
        req->host_len = p->headers[p->host_field - 1].value_len;
    }
    if (request_has_body(p)) req->flags |= REQ_HAS_BODY;
    if (p->flags & HEAD_HAS_LENGTH) {
        req->flags |= REQ_LENGTH_KNOWN;
        req->content_length = p->content_length;
    }
    if (p->flags & HEAD_EXPECT_CONTINUE) req->flags |= REQ_EXPECT_CONTINUE;
    else if (p->flags & HEAD_EXPECT_OTHER) req->flags |= REQ_EXPECT_OTHER;

    h->floor = h->pos = c->b->in_start + p->head_len;
    h->continue_due = req->version >= 11 && (p->flags & HEAD_EXPECT_CONTINUE) && request_has_body(p);
    s->phase = PHASE_BODY;
}

/* ---- the body ------------------------------------------------------------------------------ */

/* Set up on first use, once the route (and so the body's limit) is known. */
static void start_decoding(mote_conn *c, mote_exchange *x)
{
    h1_exchange *h = hx(x);
    const parser *p = &h->parser;
    uint32_t lines = c->env->max_header_bytes, size = c->env->in_size;
    /* trailers are kept in the input buffer after the head: they get what room is left there,
     * so that reading never stalls on a full buffer (more is 431) */
    if (h->floor + 1 < size && size - h->floor - 1 < lines) lines = size - h->floor - 1;
    body_init(&h->dec, (p->flags & HEAD_CHUNKED) != 0, p->content_length, exchange_body_limit(x),
              lines);
    h->dec_ready = 1;
}

/* Whether the response being committed must close the connection: the body it leaves unread
 * cannot be drained (too long, or the client still waits for 100 Continue). */
static int body_forces_close(const mote_conn *c, const mote_exchange *x)
{
    const h1_exchange *h = hx(x);
    if (st(c)->phase != PHASE_BODY || x->body.mode != BODY_DRAIN) return 0; /* or being read */
    if (h->continue_due) return 1; /* the client may never send it */
    return (x->req.flags & REQ_LENGTH_KNOWN) &&
           x->req.content_length - h->dec.total > c->env->max_drain_size;
}

/* Moves a collected body from the input buffer to the heap, with room for `want` bytes and
 * its NUL: that much exactly for a declared length, else by doubling. */
static int grow_heap_body(mote_exchange *x, uint64_t want, int exact)
{
    h1_exchange *h = hx(x);
    const conn_env *env = x->conn->env;
    size_t cap = h->heap_cap ? h->heap_cap : COLLECT_FIRST;
    char *bigger;
    if (exact) cap = (size_t)want + 1;
    while (cap < want + 1) cap *= 2;
    bigger = env->alloc.alloc(env->alloc.ctx, cap);
    if (!bigger) return MOTE_ENOMEM;
    if (h->heap) memcpy(bigger, h->heap, (size_t)h->collected);
    free_heap_body(x);
    h->heap = bigger;
    h->heap_cap = cap;
    h->collect_heap = 1;
    return MOTE_OK;
}

static int collect(mote_conn *c, mote_exchange *x, const char *data, size_t len)
{
    h1_exchange *h = hx(x);
    if (h->collect_heap) {
        if (h->collected + len + 1 > h->heap_cap && grow_heap_body(x, h->collected + len, 0) < 0)
            return MOTE_ENOMEM;
        memcpy(h->heap + h->collected, data, len);
    } else {
        /* in place: what stays must leave room to read the rest through */
        if ((uint64_t)h->floor + len + c->env->body_read_room > c->env->in_size)
            return MOTE_ETOOBIG;
        memmove(c->b->in + h->collect_off + h->collected, data, len);
        h->floor += (uint32_t)len;
    }
    h->collected += len;
    return MOTE_OK;
}

/* Keeps trailer bytes below the floor, where the request can read them once parsed. */
static void keep_trailer(mote_conn *c, h1_exchange *h)
{
    if (!h->dec.trailer_len) return;
    if (!h->trailer_len) h->trailer_off = h->floor;
    memmove(c->b->in + h->floor, h->dec.trailer, h->dec.trailer_len);
    h->floor += (uint32_t)h->dec.trailer_len;
    h->trailer_len += (uint32_t)h->dec.trailer_len;
}

static void parse_trailers(mote_conn *c, mote_exchange *x)
{
    h1_exchange *h = hx(x);
    uint32_t first = h->parser.header_count;
    char *base = c->b->in + h->trailer_off;
    int n;
    if (h->trailer_len <= 2) return; /* just the final CRLF */
    n = parser_trailers(base, h->trailer_len, h->parser.headers + first,
                        h->parser.max_headers - first);
    if (n < 0) return; /* more fields than room: the trailers are dropped, the body stands */
    terminate_fields(base, h->parser.headers + first, (uint32_t)n);
    x->req.trailer_base = base;
    x->req.trailers = h->parser.headers + first;
    x->req.trailer_count = (uint32_t)n;
}

/* The body has ended: hand it over, and finish the request if the response is done too. */
static void body_finished(mote_conn *c, mote_exchange *x)
{
    h1_exchange *h = hx(x);
    parse_trailers(c, x);
    if (x->body.mode == BODY_COLLECT && h->collected == 0) {
        exchange_body_collected(x, "", 0);
    } else if (x->body.mode == BODY_COLLECT && h->collect_heap) {
        h->heap[h->collected] = '\0'; /* its byte was kept (grow_heap_body) */
        exchange_body_collected(x, h->heap, h->collected);
    } else if (x->body.mode == BODY_COLLECT) {
        /* the byte after a body in place is kept for its NUL (the floor), unless nothing framed
         * the body: then it is the next request's first, put back once this one is over */
        uint32_t end = h->collect_off + (uint32_t)h->collected;
        if (end == h->pos && end < c->b->in_len) {
            h->saved = c->b->in[end];
            h->restore = 1;
        }
        c->b->in[end] = '\0';
        exchange_body_collected(x, c->b->in + h->collect_off, h->collected);
    }
    exchange_body_end(x);
    if (x->res.state == RES_DONE) finish_request(c);
    else st(c)->phase = PHASE_RESPONDING;
}

/* A broken body: answered if nothing was, else the connection just ends. */
static void body_failed(mote_conn *c, mote_exchange *x, int status)
{
    if (exchange_fail(x, status) < 0) c->closing = 1;
}

/* One decoded piece of body: to the consumer, the collection, or nowhere. */
static int take_piece(mote_conn *c, mote_exchange *x, const char *data, size_t len)
{
    h1_exchange *h = hx(x);
    if (x->body.mode == BODY_STREAM) {
        exchange_body_piece(x, data, len);
    } else if (x->body.mode == BODY_COLLECT) {
        int rc = collect(c, x, data, len);
        if (rc < 0) {
            x->body.mode = BODY_DRAIN;
            if (rc != MOTE_ETOOBIG) exchange_note(x, MOTE_LOG_WARN, "503: no memory for the body");
            body_failed(c, x, rc == MOTE_ETOOBIG ? 413 : 503);
            return -1;
        }
    } else {
        h->drained += len;
        if (x->res.state == RES_DONE && h->drained > c->env->max_drain_size) {
            c->closing = 1; /* answered already; not worth reading the rest */
            return -1;
        }
    }
    return 0;
}

/* Decodes what has arrived, then moves the undecoded rest down to the floor. */
static void read_body(mote_conn *c)
{
    h1_conn *s = st(c);
    mote_exchange *x = s->x;
    h1_exchange *h = hx(x);
    conn_block *b = c->b;
    if (!request_has_body(&h->parser)) { /* nothing to decode */
        if (!x->body.paused && !c->closing) body_finished(c, x);
        return;
    }
    if (!h->dec_ready) start_decoding(c, x);
    while (s->phase == PHASE_BODY && !x->body.paused && !c->closing) {
        const char *data;
        size_t used, len;
        int r = body_decode(&h->dec, b->in + h->pos, b->in_len - h->pos, &used, &data, &len);
        h->pos += (uint32_t)used;
        keep_trailer(c, h);
        if (len && take_piece(c, x, data, len) < 0) return;
        if (r == BODY_ERROR) {
            body_failed(c, x, h->dec.status);
            return;
        }
        if (r == BODY_DONE) {
            body_finished(c, x);
            return;
        }
        if (used == 0) break;
    }
    if (s->phase == PHASE_BODY && h->pos > h->floor) {
        memmove(b->in + h->floor, b->in + h->pos, b->in_len - h->pos);
        b->in_len -= h->pos - h->floor;
        h->pos = h->floor;
    }
    /* what is kept (a body in place, trailers) has filled the buffer: nothing more could be
     * read, so the request is refused rather than left to stall */
    if (s->phase == PHASE_BODY && !x->body.paused && !c->closing && b->in_len == c->env->in_size)
        body_failed(c, x, h->dec.trailer_len || h->trailer_len ? 431 : 413);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* Most bytes a head takes beyond the fields a handler adds: status line, Server, Date, framing
 * and Connection. */
static size_t head_reserve(const mote_conn *c)
{
    return STATUS_LINE_MAX + c->env->server_line_len + c->env->date_line_len + FRAMING_MAX;
}

/* Room for the next response: half the buffer for its fields and body, plus the most its head
 * can take beyond them (mote.h promises it), and room in the queue. Nothing is queued behind a
 * file, which may have to pass through the buffer. */
static int output_has_room(const mote_conn *c)
{
    uint32_t used = c->b->out_len;
    if (!conn_seg_room(c, CONN_SEGMENTS_PER_RESPONSE) || conn_out_has_file(c)) return 0;
    return used == 0 || used + head_reserve(c) <= c->env->out_size / 2;
}

/* The request that asked to switch protocols is over: the rest is the next protocol's, the
 * bytes after the request (sent right behind it) its first input. Nothing of h1 is touched
 * after the switch: its state in the block is the next protocol's. */
static void switch_protocol(mote_conn *c)
{
    h1_conn *s = st(c);
    const proto_ops *next = s->next;
    if (conn_switch(c, next, s->next_ext) < 0) {
        c->closing = 1;
        return;
    }
    next->received(c, 0);
}

#if MOTE_CONFIG_HTTP2
/* 1 when the input begins with HTTP/2's client preface, 0 when it does not, -1 when it is too
 * short to tell. */
static int starts_preface(const char *in, uint32_t len)
{
    uint32_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;
    if (memcmp(in, H2_PREFACE, n) != 0) return 0;
    return n == H2_PREFACE_LEN ? 1 : -1;
}
#endif

/* "Upgrade: h2c" where the listener takes it: 101, and the request is answered as HTTP/2's
 * stream 1 (RFC 7540 §3.2). 0 when the request stays with HTTP/1.1. */
static int upgrade_to_h2(mote_exchange *x)
{
#if MOTE_CONFIG_HTTP2
    mote_conn *c = x->conn;
    void *state;
    /* no Upgrade field, no upgrade: told without looking the fields up */
    if (!c->env->h2_proto || !(hx(x)->parser.flags & HEAD_UPGRADE) || !h2_wants_upgrade(x))
        return 0;
    state = h2_upgrade_state(x);
    if (!state) return 0;
    x->req.valid = 1;
    if (c->env->exchange_begin) c->env->exchange_begin(x);
    if (exchange_stage_field(x, "Connection", "Upgrade") < 0 ||
        exchange_stage_field(x, "Upgrade", "h2c") < 0 ||
        exchange_upgrade(x, c->env->h2_proto, state) < 0) {
        h2_upgrade_abandon(c, state);
        x->res.fields_len = 0;
        return 0;
    }
    return 1;
#else
    (void)x;
    return 0;
#endif
}

static void process(mote_conn *c)
{
    h1_conn *s = st(c);
    conn_block *b = c->b;
    if (s->processing) return; /* re-entered: a response ended from inside a handler */
    s->processing = 1;
    while (!c->closing) {
        if (s->phase == PHASE_RESPONDING || (s->next && s->phase == PHASE_HEAD)) break;
        if (s->phase == PHASE_BODY) {
            read_body(c);
            if (s->phase == PHASE_BODY) break;
            continue;
        }
        if (b->in_start == b->in_len || !output_has_room(c)) break;
#if MOTE_CONFIG_HTTP2
        if (c->requests == 0 && b->in_start == 0 && (c->h2_modes & MOTE_HTTP2_PRIOR_KNOWLEDGE) &&
            !c->is_tls && c->env->h2_proto) {
            int preface = starts_preface(b->in, b->in_len);
            if (preface < 0) break; /* could still be one: wait for more */
            if (preface) {
                s->processing = 0;
                if (conn_switch(c, c->env->h2_proto, NULL) < 0) c->closing = 1;
                else c->proto->received(c, 0);
                return;
            }
        }
#endif
        if (!s->ready) begin_request(c);
        switch (parser_execute(&hx(s->x)->parser, b->in + b->in_start, b->in_len - b->in_start)) {
        case PARSE_DONE:
            take_head(c);
            s->ready = 0;
            if (!upgrade_to_h2(s->x)) exchange_dispatch(s->x);
            break;
        case PARSE_ERROR:
            exchange_fail(s->x, hx(s->x)->parser.status);
            break;
        default:
            if (c->peer_eof) c->closing = 1; /* a truncated head is not answered */
            s->processing = 0;
            return;
        }
    }
    if (s->next && s->phase == PHASE_HEAD) {
        s->processing = 0;
        switch_protocol(c);
        return;
    }
    /* the peer sends nothing more: once what it sent is answered, the connection is over */
    if (c->peer_eof && !c->closing && (s->phase == PHASE_BODY || b->in_start == b->in_len))
        c->closing = 1;
    s->processing = 0;
}

/* ---- the connection's operations ----------------------------------------------------------- */

static size_t h1_read_space(mote_conn *c, char **at)
{
    h1_conn *s = st(c);
    conn_block *b = c->b;
    uint32_t size = c->env->in_size;
    if (s->phase == PHASE_BODY && s->x->body.paused) return 0;
    if (b->in_start == b->in_len) {
        b->in_start = b->in_len = 0;
    } else if (b->in_start > 0 && size - b->in_len < size / 4 && s->phase == PHASE_HEAD) {
        /* move a partial head down: nothing refers to it yet */
        memmove(b->in, b->in + b->in_start, b->in_len - b->in_start);
        b->in_len -= b->in_start;
        b->in_start = 0;
    }
    *at = b->in + b->in_len;
    return size - b->in_len;
}

static void h1_received(mote_conn *c, size_t n)
{
    c->b->in_len += (uint32_t)n;
    process(c);
}

static void h1_peer_eof(mote_conn *c)
{
    process(c);
}

static void h1_sent(mote_conn *c)
{
    h1_conn *s = st(c);
    if (!s->processing) exchange_offer_ready(s->x, 0);
    /* output moving matters to a head waiting for room, or a body being read */
    if (s->phase != PHASE_HEAD || c->b->in_start != c->b->in_len || c->peer_eof) process(c);
}

static int h1_is_idle(const mote_conn *c)
{
    const h1_conn *s = st(c);
    return c->b->in_start == c->b->in_len && s->phase == PHASE_HEAD && !s->processing;
}

static int h1_is_responding(const mote_conn *c)
{
    return st(c)->x->res.state == RES_STREAMING;
}

/* Whether the bytes after the head are exactly the request's body, untouched: a request
 * answered before its body was read (or that has none), with nothing after it. */
static int only_its_body_follows(const mote_conn *c)
{
    const h1_conn *s = st(c);
    const h1_exchange *h = hx(s->x);
    uint32_t body_at = c->b->in_start + h->parser.head_len;
    uint64_t length = (h->parser.flags & HEAD_HAS_LENGTH) ? h->parser.content_length : 0;
    if (s->phase != PHASE_BODY || (h->parser.flags & HEAD_CHUNKED) || h->pos != body_at) return 0;
    return c->b->in_len - body_at == length;
}

static int h1_ends_with_output(const mote_conn *c)
{
    const h1_conn *s = st(c);
    if (!s->peer_closes || s->processing || s->x->res.state == RES_STREAMING) return 0;
    return s->ended_cleanly ? c->b->in_start == c->b->in_len : only_its_body_follows(c);
}

static enum conn_timer_kind h1_timer(const mote_conn *c)
{
    const h1_conn *s;
    if (!c->b) return c->requests == 0 ? CT_HEAD : CT_IDLE;
    s = st(c);
    if (s->phase == PHASE_BODY && !s->x->body.paused && !c->closing) return CT_BODY;
    if (s->phase != PHASE_HEAD) return CT_NONE; /* the application's pace */
    if (c->b->in_len > c->b->in_start || c->requests == 0) return CT_HEAD;
    return CT_IDLE;
}

static void h1_expire(mote_conn *c)
{
    h1_conn *s;
    int late_head;
    if (c->b) {
        s = st(c);
        late_head = s->phase == PHASE_HEAD && c->b->in_len > c->b->in_start;
        if (late_head && !s->ready) begin_request(c);
        if (late_head || (s->phase == PHASE_BODY && !s->x->body.paused)) exchange_fail(s->x, 408);
    }
    c->closing = 1;
}

static mote_exchange *h1_find(mote_conn *c, uint32_t id)
{
    mote_exchange *x = st(c)->x;
    return x && x->id == id && x->req.valid && !x->released ? x : NULL;
}

const proto_ops h1_proto = {
    "http/1.1",     h1_start,          h1_stop,         NULL,            h1_read_space,
    h1_received,    h1_peer_eof,       h1_sent,         h1_is_idle,
    h1_is_responding, h1_ends_with_output, h1_timer,   h1_expire,
    h1_find,        NULL,              NULL,            0,
};

/* ---- the response ------------------------------------------------------------------------- */

static char *append(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

static char *append_str(char *p, const char *s)
{
    return append(p, s, strlen(s));
}

static char *append_hex(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char digits[16];
    size_t n = 0;
    do {
        digits[n++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (n) *p++ = digits[--n];
    return p;
}

/* The most bytes this response's head can take. */
static size_t head_size(const mote_exchange *x)
{
    return head_reserve(x->conn) + x->res.fields_len;
}

/* Writes the staged fields as "Name: value" lines ([u16 name_len][u16 value_len] name value:
 * four bytes of lengths become ": " and CRLF). */
static char *append_fields(char *p, const mote_exchange *x)
{
    const unsigned char *f = (const unsigned char *)x->area + x->res.fields_off;
    const unsigned char *end = f + x->res.fields_len;
    while (f < end) {
        size_t nlen = (size_t)f[0] | (size_t)f[1] << 8, vlen = (size_t)f[2] | (size_t)f[3] << 8;
        p = append(p, (const char *)f + 4, nlen);
        p = append(p, ": ", 2);
        p = append(p, (const char *)f + 4 + nlen, vlen);
        p = append(p, "\r\n", 2);
        f += 4 + nlen + vlen;
    }
    return p;
}

/* Decides whether the connection survives this response, and says so in the head. */
static char *append_connection(mote_exchange *x, char *p, int close_delimited)
{
    mote_conn *c = x->conn;
    if (x->res.wants_close || c->closing || c->draining || !st(c)->keep_alive ||
        close_delimited || body_forces_close(c, x)) {
        c->closing = 1;
        return append_str(p, "Connection: close\r\n");
    }
    if (x->req.version == 10) return append_str(p, "Connection: keep-alive\r\n");
    return p;
}

enum framing { FRAME_LENGTH, FRAME_STREAM };

/* Writes the head at the output's tail: status line, Server, Date, the staged fields, framing
 * and Connection; returns where it ends (committing is the caller's). The caller has checked
 * head_size() bytes of room. */
static char *write_head(mote_exchange *x, enum framing framing, uint64_t length)
{
    mote_response *res = &x->res;
    const conn_env *env = x->conn->env;
    char *p = conn_out_tail(x->conn);
    int close_delimited = 0, no_body = status_has_no_body(res->status);

    if (res->status == 200) { /* most responses: a line known in advance */
        p = append(p, "HTTP/1.1 200 OK\r\n", 17);
    } else {
        p = append(p, "HTTP/1.1 ", 9);
        *p++ = (char)('0' + res->status / 100 % 10); /* three digits (RFC 9110 §15) */
        *p++ = (char)('0' + res->status / 10 % 10);
        *p++ = (char)('0' + res->status % 10);
        *p++ = ' ';
        p = append_str(p, mote_status_reason(res->status));
        p = append(p, "\r\n", 2);
    }
    if (!res->has_server) p = append(p, env->server_line, env->server_line_len);
    if (!res->has_date) p = append(p, env->date_line, env->date_line_len);
    p = append_fields(p, x);
    if (res->status == 101) return append(p, "\r\n", 2); /* the staged fields say it all */
    if (framing == FRAME_STREAM && res->has_length) {
        framing = FRAME_LENGTH;
        length = res->length_left;
    }
    if (no_body) {
    } else if (framing == FRAME_LENGTH) {
        p = append(p, "Content-Length: ", 16);
        p = decimal_write(p, length);
        p = append(p, "\r\n", 2);
    } else if (x->req.version >= 11) {
        p = append_str(p, "Transfer-Encoding: chunked\r\n");
        hx(x)->chunked = !res->no_body;
    } else {
        close_delimited = !res->no_body;
    }
    p = append_connection(x, p, close_delimited);
    return append(p, "\r\n", 2);
}

static void commit_head(mote_exchange *x, enum framing framing, uint64_t length)
{
    char *start = conn_out_tail(x->conn);
    conn_out_commit(x->conn, (size_t)(write_head(x, framing, length) - start));
}

/* What a whole body becomes in the output, besides its head: bytes in the buffer right after
 * it, or a segment of its own. */
static int body_segment(mote_exchange *x, const body_src *body, uint64_t len, size_t head,
                        out_seg *seg)
{
    mote_conn *c = x->conn;
    size_t room = conn_out_room(c);
    void *copy;
    memset(seg, 0, sizeof *seg);
    seg->len = (size_t)len;
    if (body->kind == BODY_FILE) {
        seg->kind = OUT_FILE; /* with nothing to send, it is closed once the head has gone */
        seg->u.file.file = body->file;
        seg->u.file.off = body->off;
    } else if (body->kind == BODY_BORROW) {
        seg->kind = OUT_MEMORY;
        seg->data = body->data;
    } else if (head + len <= room) {
        seg->kind = OUT_BUFFER; /* the head and the body in one piece */
    } else if (c->env->fixed_memory) {
        return head + len <= c->env->out_size ? MOTE_EAGAIN : MOTE_ETOOBIG;
    } else {
        if (head > room || !conn_seg_room(c, 2)) return MOTE_EAGAIN;
        copy = c->env->alloc.alloc(c->env->alloc.ctx, (size_t)len);
        if (!copy) return MOTE_ENOMEM;
        memcpy(copy, body->data, (size_t)len);
        seg->kind = OUT_OWNED;
        seg->data = copy;
        seg->u.owned = copy;
    }
    if (seg->kind != OUT_BUFFER && (head > room || !conn_seg_room(c, 2))) return MOTE_EAGAIN;
    return MOTE_OK;
}

static int h1_send(mote_exchange *x, const body_src *body)
{
    mote_conn *c = x->conn;
    size_t head = head_size(x);
    uint64_t len = x->res.no_body ? 0 : body->len;
    out_seg seg;
    int rc;

    if (body->kind == BODY_COPY && head + len <= conn_out_room(c)) {
        /* the common case: the head and the body in one piece of the buffer */
        char *start = conn_out_tail(c), *p = write_head(x, FRAME_LENGTH, body->len);
        if (len) memcpy(p, body->data, (size_t)len);
        conn_out_commit(c, (size_t)(p - start) + (size_t)len);
        conn_output_queued(c);
        return MOTE_OK;
    }
    if (head > c->env->out_size) return MOTE_ETOOBIG;
    rc = body_segment(x, body, len, head, &seg);
    if (rc < 0) return rc;
    commit_head(x, FRAME_LENGTH, body->len); /* HEAD: the length a GET would have */
    if (seg.kind == OUT_BUFFER) (void)conn_out_copy(c, body->data, (size_t)len);
    else if (seg.len || (seg.kind == OUT_FILE && seg.u.file.file.close)) (void)conn_out_queue(c, &seg);
    conn_output_queued(c);
    return MOTE_OK;
}

/* Commits the head of a streamed response, once. */
static int start_stream(mote_exchange *x)
{
    if (x->res.state == RES_STREAMING) return MOTE_OK;
    if (head_size(x) + LAST_CHUNK_LEN > conn_out_room(x->conn)) {
        return head_size(x) + LAST_CHUNK_LEN > x->conn->env->out_size ? MOTE_ETOOBIG : MOTE_EAGAIN;
    }
    commit_head(x, FRAME_STREAM, 0);
    x->res.state = RES_STREAMING;
    return MOTE_OK;
}

static int h1_write(mote_exchange *x, const void *data, size_t len)
{
    mote_conn *c = x->conn;
    int chunked;
    size_t need;
    char *p;
    int rc = start_stream(x);
    if (rc < 0) return rc;
    conn_output_queued(c);
    if (len == 0 || x->res.no_body) return MOTE_OK; /* an empty chunk would end the body */
    chunked = hx(x)->chunked;
    /* room for the last-chunk is always kept, so that the end cannot fail for space */
    need = len + (chunked ? CHUNK_OVERHEAD + LAST_CHUNK_LEN : 0);
    if (need > conn_out_room(c)) return need > c->env->out_size ? MOTE_ETOOBIG : MOTE_EAGAIN;
    p = conn_out_tail(c);
    if (chunked) {
        p = append_hex(p, len);
        p = append(p, "\r\n", 2);
    }
    p = append(p, data, len);
    if (chunked) p = append(p, "\r\n", 2);
    conn_out_commit(c, (size_t)(p - conn_out_tail(c)));
    return MOTE_OK;
}

static int h1_end(mote_exchange *x)
{
    mote_conn *c = x->conn;
    int rc = start_stream(x);
    if (rc < 0) return rc;
    if (hx(x)->chunked) (void)conn_out_copy(c, LAST_CHUNK, LAST_CHUNK_LEN);
    if (x->res.has_length && x->res.length_left && !x->res.no_body)
        c->closing = 1; /* shorter than declared: only a close tells the client */
    conn_output_queued(c);
    return MOTE_OK;
}

static int h1_room(const mote_exchange *x)
{
    return output_has_room(x->conn);
}

static void h1_want_body(mote_exchange *x)
{
    mote_conn *c = x->conn;
    h1_exchange *h = hx(x);
    if (h->continue_due && x->body.mode != BODY_DRAIN) {
        h->continue_due = 0;
        if (x->res.state == RES_IDLE && conn_out_copy(c, CONTINUE_LINE, sizeof CONTINUE_LINE - 1) == 0)
            conn_output_queued(c);
    }
    if (!x->body.paused && !x->in_callback) {
        process(c); /* resumed: what was held back is delivered */
        conn_output_queued(c);
    }
}

/* A collecting route: the body goes in place after the head when it surely fits there, else
 * to the heap. */
static int h1_collect(mote_exchange *x)
{
    mote_conn *c = x->conn;
    h1_exchange *h = hx(x);
    const parser *p = &h->parser;
    int fits = (p->flags & HEAD_HAS_LENGTH) &&
               p->content_length + 1 + c->env->body_read_room <= c->env->in_size - h->floor;
    h->collect_off = h->floor;
    h->floor += 1; /* the collected body's NUL, when framing leaves a byte (body_finished) */
    if (!fits && c->env->fixed_memory) {
        /* no heap: a declared length too long is refused now; chunked is kept while it fits */
        if (p->flags & HEAD_HAS_LENGTH) return MOTE_ETOOBIG;
    } else if (!fits) {
        if (request_has_body(p) &&
            grow_heap_body(x, (p->flags & HEAD_HAS_LENGTH) ? p->content_length : COLLECT_FIRST - 1,
                           (p->flags & HEAD_HAS_LENGTH) != 0) < 0)
            return MOTE_ENOMEM;
        h->collect_heap = 1;
    }
    return MOTE_OK;
}

/* The response is complete: the request is over once its body is too, or at once when the
 * connection ends with this response (what is left of the body will not be read, and stays
 * where it is for conn_ends_with_output()). */
static void h1_finished(mote_exchange *x)
{
    mote_conn *c = x->conn;
    if (st(c)->phase == PHASE_RESPONDING) {
        finish_request(c);
        process(c);
    } else if (c->closing && !x->released) {
        exchange_finished(x);
    }
}

static int h1_upgrade(mote_exchange *x, const proto_ops *next, void *ext)
{
    mote_conn *c = x->conn;
    h1_conn *s = st(c);
    if (head_size(x) > conn_out_room(c)) return MOTE_EAGAIN;
    commit_head(x, FRAME_LENGTH, 0);
    s->next = next;
    s->next_ext = ext;
    conn_output_queued(c);
    return MOTE_OK;
}

static const exchange_ops h1_exchange_ops = {
    h1_send, h1_write, h1_end, h1_room, h1_want_body, h1_collect, h1_finished, h1_upgrade, 0,
};
