/* h2.c - HTTP/2 on a connection, on nghttp2; see h2.h.
 *
 * nghttp2 does the framing, HPACK, flow control, the stream states and the message checks of
 * RFC 9113 §8 (pseudo-header fields, connection-specific fields, TE, Content-Length against
 * DATA); this file is the glue between its session and mote's exchanges. Input is fed to
 * nghttp2_session_mem_recv() from the connection's input buffer, which keeps a DATA chunk a
 * paused consumer has not taken (nghttp2's NGHTTP2_ERR_PAUSE) until it is resumed; output is
 * taken from nghttp2_session_mem_send() into the connection's output buffer whenever there is
 * room, so a peer that does not read stops being read from. Window updates are sent only for
 * body bytes the exchange has taken (no automatic window update): a paused body is TCP-like
 * back-pressure on its stream.
 *
 * The session and its nghttp2 state live in c->ext (the env's allocator, counted against
 * MOTE_CONFIG_H2_MAX_SESSION_MEMORY); a stream's request head and any body kept for it are
 * allocated while it lives; its exchange comes from the env's pool. Nothing here calls nghttp2
 * from inside an application callback's stack except submit calls, which only queue: frames
 * are produced when the connection's output is asked for (proto_ops.produce). */
#include "proto/h2.h"

#if MOTE_CONFIG_HTTP2

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <string.h>

#include "core/base64.h"
#include "core/chars.h"
#include "engine/conn.h"
#include "engine/exchange.h"

/* A streamed body is taken while less than this is waiting to be framed. */
#define STREAM_BUFFER_MIN 16384
/* The first bytes of a stream's request head; it grows to the limits. */
#define HEAD_FIRST 1024
/* nv entries of a response head: :status, content-length, server, date and the handler's. */
#define NV_MAX 72
/* A header block may decode to this many times the bytes the limits allow before it is taken
 * for an HPACK bomb and the connection ends. */
#define DECODED_FACTOR 4

enum src_kind { SRC_NONE, SRC_MEMORY, SRC_FILE, SRC_STREAM };

/* One stream's state, in its exchange. */
typedef struct h2_exchange {
    struct h2_session *s;
    mote_exchange *next;          /* the session's open streams */
    char *head;                   /* the request head: "name\0value\0"..., from the allocator */
    uint32_t head_len, head_cap;
    uint32_t authority_off, authority_len;
    uint32_t host_field;          /* 1 + index of a Host field, or 0 */
    uint64_t decoded;             /* bytes the header block decoded to (trailers included) */
    uint64_t body_seen;           /* body bytes received */
    char *collect;                /* a collected body */
    uint64_t collect_len, collect_cap;
    uint8_t refuse;               /* the head is refused with this status / 4 (431, 414) */
    uint8_t trailers;             /* its trailer section is being received */
    uint8_t body_done;            /* END_STREAM received */
    uint8_t committed;            /* the response's HEADERS are submitted */
    uint8_t end_sent;             /* and its END_STREAM sent */
    uint8_t deferred;             /* the data source said NGHTTP2_ERR_DEFERRED */
    uint8_t eof;                  /* a streamed body has ended */
    uint8_t src;                  /* enum src_kind */
    uint16_t refuse_status;
    /* the response body */
    const char *data;             /* SRC_MEMORY: next byte */
    void *owned;                  /* SRC_MEMORY: a copy to free, or NULL when borrowed */
    uint64_t left;                /* SRC_MEMORY, SRC_FILE: bytes to send */
    mote_file file;               /* SRC_FILE */
    uint64_t file_off;
    char *buf;                    /* SRC_STREAM: bytes written, waiting to be framed */
    size_t buf_start, buf_len, buf_cap;
} h2_exchange;

/* The connection's session, in c->ext. */
typedef struct h2_session {
    nghttp2_session *ng;
    mote_conn *c;
    mote_allocator alloc;
    size_t mem_used, mem_max;
    const uint8_t *pend;          /* mem_send's bytes not yet in the output buffer */
    size_t pend_len;
    mote_exchange *streams;       /* open streams */
    uint32_t open;
    mote_exchange *held;          /* a paused stream's chunk, kept in the input buffer */
    const uint8_t *held_data;
    size_t held_len;
    uint32_t glitches;            /* frames that cost without progress (see count_glitch) */
    /* the client's last 64 stream ids, newest first (see late_frame) */
    int32_t last_id;
    uint64_t opened, reset;       /* bit i: stream last_id - 2i was opened / reset by us */
    /* while a SETTINGS frame is read: the peer's initial window and the largest stream window
     * before it (see check_initial_window) */
    int32_t initial_window_before, window_before_settings;
    uint32_t to_frame;            /* input bytes to the next frame header (the preface first) */
    uint8_t in_session;           /* inside mem_recv or mem_send */
    uint8_t started;              /* SETTINGS submitted */
    uint8_t got_frame;            /* the preface and a first frame arrived */
    uint8_t fatal;                /* the session is over: close once its last frames are out */
    uint8_t going_away;
    /* Upgrade: h2c: stream 1's request, waiting for the block */
    mote_exchange *upgraded;
    uint8_t settings[256];
    size_t settings_len;
    uint8_t upgrade_head_request;
} h2_session;

_Static_assert(sizeof(h2_exchange) <= EXCHANGE_PROTO_STATE, "h2_exchange outgrows its room");

static const exchange_ops h2_exchange_ops;

static h2_exchange *hx(const mote_exchange *x)
{
    return (h2_exchange *)(void *)(uintptr_t)x->proto.bytes;
}

static h2_session *sess(const mote_conn *c)
{
    return c->ext;
}

static void produce(mote_conn *c);

/* ---- memory: nghttp2's through the env's allocator, counted per session ------------------ */

/* Each allocation carries its size in front, for realloc and the count. */
#define MEM_HEAD ((sizeof(size_t) + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t))

static void *mem_malloc(size_t size, void *ud)
{
    h2_session *s = ud;
    char *p;
    if (size > s->mem_max - s->mem_used) return NULL;
    p = s->alloc.alloc(s->alloc.ctx, MEM_HEAD + size);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    s->mem_used += size;
    return p + MEM_HEAD;
}

static void mem_free(void *ptr, void *ud)
{
    h2_session *s = ud;
    size_t size;
    char *p;
    if (!ptr) return;
    p = (char *)ptr - MEM_HEAD;
    memcpy(&size, p, sizeof size);
    s->mem_used -= size;
    s->alloc.free(s->alloc.ctx, p);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    void *p;
    if (size && n > (size_t)-1 / size) return NULL;
    p = mem_malloc(n * size, ud);
    if (p) memset(p, 0, n * size);
    return p;
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
    size_t old;
    void *p;
    if (!ptr) return mem_malloc(size, ud);
    if (size == 0) {
        mem_free(ptr, ud);
        return NULL;
    }
    memcpy(&old, (char *)ptr - MEM_HEAD, sizeof old);
    p = mem_malloc(size, ud);
    if (!p) return NULL;
    memcpy(p, ptr, old < size ? old : size);
    mem_free(ptr, ud);
    return p;
}

static void *env_alloc(const mote_conn *c, size_t n)
{
    return c->env->alloc.alloc(c->env->alloc.ctx, n);
}

static void env_free(const mote_conn *c, void *p)
{
    if (p) c->env->alloc.free(c->env->alloc.ctx, p);
}

/* ---- streams ------------------------------------------------------------------------------ */

static void release_body_source(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    env_free(x->conn, h->owned);
    h->owned = NULL;
    if (h->src == SRC_FILE && h->file.close) h->file.close(h->file.ctx);
    h->src = SRC_NONE;
    env_free(x->conn, h->buf);
    h->buf = NULL;
    h->buf_cap = h->buf_len = h->buf_start = 0;
}

/* The stream is gone: its exchange hears how its response ended, and goes back. */
static void stream_gone(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    h2_session *s = h->s;
    mote_exchange **p;
    if (h->end_sent && x->res.state == RES_DONE) exchange_finished(x);
    else exchange_abort(x);
    if (s->held == x) { /* its chunk is dropped: the connection's window still counts it */
        (void)nghttp2_session_consume_connection(s->ng, s->held_len);
        s->held = NULL;
    }
    for (p = &s->streams; *p; p = &hx(*p)->next) {
        if (*p == x) {
            *p = h->next;
            break;
        }
    }
    s->open--;
    release_body_source(x);
    env_free(x->conn, h->head);
    env_free(x->conn, h->collect);
    h->head = h->collect = NULL;
    if (s->ng) (void)nghttp2_session_set_stream_user_data(s->ng, (int32_t)x->id, NULL);
    exchange_give_back(x);
}

static mote_exchange *stream_of(h2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s->ng, id);
}

/* The exchange's stream state, fresh; linked once the stream exists (stream_link()). */
static void stream_init(h2_session *s, mote_exchange *x, int32_t id)
{
    exchange_reset(x, (uint32_t)id);
    x->req.version = 20;
    memset(hx(x), 0, sizeof(h2_exchange));
    hx(x)->s = s;
}

static void stream_link(h2_session *s, mote_exchange *x)
{
    hx(x)->next = s->streams;
    s->streams = x;
    s->open++;
    (void)nghttp2_session_set_stream_user_data(s->ng, (int32_t)x->id, x);
}

static mote_exchange *stream_open(h2_session *s, int32_t id)
{
    mote_exchange *x = exchange_take(s->c, &h2_exchange_ops);
    if (!x) return NULL;
    stream_init(s, x, id);
    stream_link(s, x);
    return x;
}

/* Room for n more bytes of the request head; 0 when the limits do not allow them. */
static int head_reserve(mote_exchange *x, size_t n)
{
    h2_exchange *h = hx(x);
    const conn_env *env = x->conn->env;
    size_t limit = (size_t)env->max_request_line + env->max_header_bytes + 64u, cap;
    char *grown;
    if (h->head_len + n <= h->head_cap) return 1;
    if (h->head_len + n > limit) return 0;
    cap = h->head_cap ? h->head_cap : HEAD_FIRST;
    while (cap < h->head_len + n) cap *= 2;
    if (cap > limit) cap = limit;
    grown = env_alloc(x->conn, cap);
    if (!grown) return 0;
    if (h->head_len) memcpy(grown, h->head, h->head_len);
    env_free(x->conn, h->head);
    h->head = grown;
    h->head_cap = (uint32_t)cap;
    return 1;
}

/* Appends s[0..n) and a NUL to the head; its offset. */
static uint32_t head_put(mote_exchange *x, const void *s, size_t n)
{
    h2_exchange *h = hx(x);
    uint32_t off = h->head_len;
    memcpy(h->head + off, s, n);
    h->head[off + n] = '\0';
    h->head_len += (uint32_t)n + 1;
    return off;
}

static void refuse(mote_exchange *x, int status)
{
    if (!hx(x)->refuse_status) hx(x)->refuse_status = (uint16_t)status;
}

/* ---- the request head ---------------------------------------------------------------------- */

static int name_is(const uint8_t *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* A pseudo-header field (nghttp2 has checked there is one of each, known, before the others). */
static void take_pseudo(mote_exchange *x, const uint8_t *name, size_t nlen, const uint8_t *value,
                        size_t vlen)
{
    mote_request *req = &x->req;
    h2_exchange *h = hx(x);
    if (name_is(name, nlen, ":method")) {
        req->method_off = head_put(x, value, vlen);
    } else if (name_is(name, nlen, ":path")) {
        if (vlen > x->conn->env->max_request_line) {
            refuse(x, 414);
            return;
        }
        req->target_off = head_put(x, value, vlen);
        req->target_len = (uint32_t)vlen;
    } else if (name_is(name, nlen, ":authority")) {
        h->authority_off = head_put(x, value, vlen);
        h->authority_len = (uint32_t)vlen;
    } else {
        (void)head_put(x, value, vlen); /* :scheme: kept, not used */
    }
}

/* A regular field; its span in x->spans (fields, then trailers). */
static void take_field(mote_exchange *x, const uint8_t *name, size_t nlen, const uint8_t *value,
                       size_t vlen)
{
    mote_request *req = &x->req;
    h2_exchange *h = hx(x);
    uint32_t used = req->field_count + req->trailer_count;
    hdr_span *sp;
    if (used >= x->conn->env->max_headers) {
        refuse(x, 431);
        return;
    }
    sp = &x->spans[used];
    sp->name_len = (uint32_t)nlen;
    sp->name_off = head_put(x, name, nlen);
    sp->value_len = (uint32_t)vlen;
    sp->value_off = head_put(x, value, vlen);
    if (h->trailers) {
        req->trailer_count++;
    } else {
        if (name_is(name, nlen, "host") && !h->host_field) h->host_field = used + 1;
        req->field_count++;
    }
}

/* A connection error: GOAWAY with `code`, then the close. */
static int session_error(h2_session *s, uint32_t code)
{
    (void)nghttp2_session_terminate_session(s->ng, code);
    s->fatal = 1;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x = stream_of(s, frame->hd.stream_id);
    h2_exchange *h;
    const conn_env *env = s->c->env;
    (void)ng;
    (void)flags;
    if (!x) return 0;
    h = hx(x);
    h->decoded += nlen + vlen + 32;
    if (h->decoded > (uint64_t)DECODED_FACTOR * (env->max_request_line + env->max_header_bytes)) {
        /* an HPACK bomb: a small block decoding to far more than anything this server takes */
        return session_error(s, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    if (h->refuse_status) return 0; /* decoded for HPACK's sake, not kept */
    if (h->trailers && name[0] == ':') return 0;
    if (h->decoded > (uint64_t)env->max_request_line + env->max_header_bytes + 128u ||
        !head_reserve(x, nlen + vlen + 2)) {
        refuse(x, 431);
        return 0;
    }
    if (name[0] == ':') take_pseudo(x, name, nlen, value, vlen);
    else take_field(x, name, nlen, value, vlen);
    return 0;
}

static unsigned method_id(const char *m)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    unsigned i;
    for (i = 0; i < 7; i++) {
        if (strcmp(m, names[i]) == 0) return 1u << i;
    }
    return 0;
}

/* Several Cookie fields become one, joined by "; ", as HTTP/1.1 would have had it (RFC 9113
 * §8.2.3): the first keeps its place with the joined value, the others are emptied of name. */
static void join_cookies(mote_exchange *x)
{
    mote_request *req = &x->req;
    h2_exchange *h = hx(x);
    uint32_t i, first = 0, count = 0;
    size_t total = 0;
    for (i = 0; i < req->field_count; i++) {
        if (!name_is((const uint8_t *)h->head + x->spans[i].name_off, x->spans[i].name_len, "cookie"))
            continue;
        if (!count++) first = i;
        total += x->spans[i].value_len + 2;
    }
    if (count < 2) return;
    if (!head_reserve(x, total + 1)) {
        refuse(x, 431);
        return;
    }
    {
        uint32_t off = h->head_len;
        char *p = h->head + off;
        for (i = first; i < req->field_count; i++) {
            hdr_span *sp = &x->spans[i];
            if (!name_is((const uint8_t *)h->head + sp->name_off, sp->name_len, "cookie")) continue;
            if (p != h->head + off) {
                memcpy(p, "; ", 2);
                p += 2;
            }
            memcpy(p, h->head + sp->value_off, sp->value_len);
            p += sp->value_len;
            if (i != first) sp->name_len = 0; /* matches no name */
        }
        *p = '\0';
        x->spans[first].value_off = off;
        x->spans[first].value_len = (uint32_t)(p - (h->head + off));
        h->head_len += x->spans[first].value_len + 1;
    }
}

/* Whether the Host field, when there is one beside :authority, names the same (RFC 9113
 * §8.3.1: a server treats a difference as malformed). */
static int host_agrees(const mote_exchange *x)
{
    const h2_exchange *h = hx(x);
    const hdr_span *host;
    uint32_t i;
    if (!h->host_field || !h->authority_len) return 1;
    host = &x->spans[h->host_field - 1];
    if (host->value_len != h->authority_len) return 0;
    for (i = 0; i < h->authority_len; i++) {
        if (char_lower(h->head[host->value_off + i]) != char_lower(h->head[h->authority_off + i]))
            return 0;
    }
    return 1;
}

/* Without a Host field, :authority is given as one, so a handler reads the same fields whichever
 * version the request came in (RFC 9113 §8.3.1: clients send :authority instead of Host). */
static void host_from_authority(mote_exchange *x)
{
    mote_request *req = &x->req;
    h2_exchange *h = hx(x);
    uint32_t used = req->field_count + req->trailer_count;
    hdr_span *sp;
    if (h->host_field || !h->authority_len || h->refuse_status) return;
    if (used >= x->conn->env->max_headers || !head_reserve(x, 5)) return;
    sp = &x->spans[used];
    sp->name_len = 4;
    sp->name_off = head_put(x, "host", 4);
    sp->value_off = h->authority_off;
    sp->value_len = h->authority_len;
    req->field_count++;
}

/* The request head is complete: fill the request and hand it to the exchange policy. */
static void dispatch(mote_exchange *x, int end_stream)
{
    mote_request *req = &x->req;
    h2_exchange *h = hx(x);
    const hdr_span *cl = NULL;
    uint32_t i;
    join_cookies(x);
    host_from_authority(x);
    req->base = h->head;
    req->fields = x->spans;
    if (!h->refuse_status) req->method = (uint8_t)method_id(h->head + req->method_off);
    for (i = 0; i < req->field_count; i++) {
        const hdr_span *sp = &x->spans[i];
        const char *name = h->head + sp->name_off;
        if (sp->name_len == 14 && memcmp(name, "content-length", 14) == 0) cl = sp;
        if (sp->name_len == 6 && memcmp(name, "expect", 6) == 0) {
            if (sp->value_len == 12 && header_name_is(h->head + sp->value_off, 12, "100-continue"))
                req->flags |= REQ_EXPECT_CONTINUE;
            else
                req->flags |= REQ_EXPECT_OTHER;
        }
    }
    if (!end_stream) {
        req->flags |= REQ_HAS_BODY;
        if (cl) { /* nghttp2 has checked it is a number, and will check DATA against it */
            uint64_t n = 0;
            const char *v = h->head + cl->value_off;
            for (i = 0; i < cl->value_len && n < UINT64_MAX / 10; i++) n = n * 10 + (uint64_t)(v[i] - '0');
            req->flags |= REQ_LENGTH_KNOWN;
            req->content_length = n;
            if (n == 0) req->flags &= (uint8_t)~REQ_HAS_BODY;
        }
    } else {
        req->flags |= REQ_LENGTH_KNOWN;
        h->body_done = 1;
    }
    if (h->authority_len) {
        /* the target's authority for exchange_dispatch: :authority stands for Host */
        req->host = h->head + h->authority_off;
    }
    if (!h->head && (!head_reserve(x, 1) || head_put(x, "", 0) != 0)) {
        (void)nghttp2_submit_rst_stream(h->s->ng, NGHTTP2_FLAG_NONE, (int32_t)x->id,
                                        NGHTTP2_INTERNAL_ERROR);
        return;
    }
    req->base = h->head;
    if (h->refuse_status) {
        req->valid = 1;
        if (x->conn->env->exchange_begin) x->conn->env->exchange_begin(x);
        exchange_fail(x, h->refuse_status);
        return;
    }
    if (!host_agrees(x)) {
        (void)nghttp2_submit_rst_stream(h->s->ng, NGHTTP2_FLAG_NONE, (int32_t)x->id,
                                        NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    exchange_dispatch(x);
    if (end_stream && x->res.state != RES_DONE) exchange_body_end(x);
}

/* ---- the request body ---------------------------------------------------------------------- */

/* n body bytes of stream `id` were dealt with: the connection's window reopens; the stream's
 * only for a consumer that took them. A body nobody reads (drained before an answer, or
 * after one until the stream is reset) gets no more window: the client stops sending it. */
static void give_window(h2_session *s, mote_exchange *x, int32_t id, size_t n)
{
    if (!n) return;
    if (stream_of(s, id) == x && x->body.mode != BODY_DRAIN)
        (void)nghttp2_session_consume(s->ng, id, n);
    else
        (void)nghttp2_session_consume_connection(s->ng, n);
}

static int collect_piece(mote_exchange *x, const uint8_t *data, size_t len)
{
    h2_exchange *h = hx(x);
    uint64_t want = h->collect_len + len + 1;
    if (h->collect_len + len > exchange_body_limit(x)) return MOTE_ETOOBIG;
    if (want > h->collect_cap) {
        uint64_t cap = h->collect_cap ? h->collect_cap * 2 : 4096;
        char *grown;
        while (cap < want) cap *= 2;
        if (cap > exchange_body_limit(x) + 1) cap = exchange_body_limit(x) + 1;
        grown = env_alloc(x->conn, (size_t)cap);
        if (!grown) return MOTE_ENOMEM;
        if (h->collect_len) memcpy(grown, h->collect, (size_t)h->collect_len);
        env_free(x->conn, h->collect);
        h->collect = grown;
        h->collect_cap = cap;
    }
    memcpy(h->collect + h->collect_len, data, len);
    h->collect_len += len;
    return MOTE_OK;
}

/* A body that cannot be taken: answered if it can be, and the stream ends once the answer is
 * out (on_frame_send), or at once. */
static void body_refused(mote_exchange *x, int status)
{
    x->body.mode = BODY_DRAIN;
    if (x->res.state == RES_IDLE && !x->in_callback) {
        exchange_fail(x, status);
    } else if (x->res.state != RES_DONE) {
        (void)nghttp2_submit_rst_stream(hx(x)->s->ng, NGHTTP2_FLAG_NONE, (int32_t)x->id,
                                        NGHTTP2_CANCEL);
    }
}

/* Body bytes for the exchange, as its consumer wants them. */
static void deliver(mote_exchange *x, const uint8_t *data, size_t len)
{
    h2_exchange *h = hx(x);
    h->body_seen += len;
    if (x->body.mode == BODY_COLLECT) {
        int rc = collect_piece(x, data, len);
        if (rc < 0) body_refused(x, rc == MOTE_ETOOBIG ? 413 : 503);
    } else if (x->body.mode == BODY_STREAM) {
        if (h->body_seen > exchange_body_limit(x)) body_refused(x, 413);
        else exchange_body_piece(x, (const char *)data, len);
    }
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x = stream_of(s, id);
    (void)ng;
    (void)flags;
    if (!x) {
        (void)nghttp2_session_consume_connection(s->ng, len);
        return 0;
    }
    if (x->body.paused && x->body.mode == BODY_STREAM) {
        s->held = x; /* kept where it is until the consumer resumes */
        s->held_data = data;
        s->held_len = len;
        return NGHTTP2_ERR_PAUSE;
    }
    deliver(x, data, len);
    give_window(s, x, id, len);
    return 0;
}

/* The request's last byte arrived. */
static void body_end(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    if (h->body_done) return;
    h->body_done = 1;
    x->req.trailer_base = h->head;
    x->req.trailers = x->spans + x->req.field_count;
    if (x->body.mode == BODY_COLLECT) {
        if (h->collect) h->collect[h->collect_len] = '\0';
        exchange_body_collected(x, h->collect ? h->collect : "", h->collect_len);
    }
    exchange_body_end(x);
}

/* ---- frames -------------------------------------------------------------------------------- */

/* Frames that cost the server without moving a request forward: PING, SETTINGS, PRIORITY,
 * WINDOW_UPDATE, empty DATA, a stream reset by the peer. Each counts, each stream answered
 * takes some back; past the limit the connection ends with ENHANCE_YOUR_CALM (the floods of
 * CVE-2019-9512, -9514, -9515, -9516, -9518, CVE-2023-44487). */
static int count_glitch(h2_session *s)
{
    if (++s->glitches <= s->c->env->h2_max_glitches) return 0;
    return session_error(s, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* Bit i of the recent-stream masks is stream last_id - 2i; a newer id moves the window. */
static void note_stream_id(h2_session *s, int32_t id)
{
    uint32_t shift = (uint32_t)(id - s->last_id) / 2;
    s->opened = shift >= 64 ? 0 : s->opened << shift;
    s->reset = shift >= 64 ? 0 : s->reset << shift;
    s->opened |= 1;
    s->last_id = id;
}

static int recent_bit(const h2_session *s, int32_t id, uint64_t mask)
{
    uint32_t i = (uint32_t)(s->last_id - id) / 2;
    return i < 64 && ((mask >> i) & 1u);
}

/* HEADERS or DATA on a client stream id not above the last one, for a stream nghttp2 no
 * longer has (it ignores them, not remembering closed streams). Frames for a stream this
 * server reset may still be under way and are ignored (RFC 9113 §5.1); otherwise the stream
 * is closed (STREAM_CLOSED, §5.1), or for HEADERS on an id never opened, the id goes
 * backwards (PROTOCOL_ERROR, §5.1.1). Ids older than the last 64 are left to nghttp2. */
static int late_frame(h2_session *s, int32_t id, int headers)
{
    if (id > s->last_id) {
        if (headers) note_stream_id(s, id);
        return 0; /* DATA on an idle stream: nghttp2's PROTOCOL_ERROR */
    }
    if ((uint32_t)(s->last_id - id) / 2 >= 64 || recent_bit(s, id, s->reset) ||
        nghttp2_session_find_stream(s->ng, id))
        return 0;
    return session_error(s, headers && !recent_bit(s, id, s->opened) ? NGHTTP2_PROTOCOL_ERROR
                                                                      : NGHTTP2_STREAM_CLOSED);
}

/* The largest window of an open stream, before a SETTINGS frame changes the initial one. */
static int32_t largest_stream_window(const h2_session *s)
{
    const mote_exchange *x;
    int32_t most = 0, w;
    for (x = s->streams; x; x = hx(x)->next) {
        w = nghttp2_session_get_stream_remote_window_size(s->ng, (int32_t)x->id);
        if (w > most) most = w;
    }
    return most;
}

/* A new SETTINGS_INITIAL_WINDOW_SIZE that would take an open stream's window past 2^31-1 is
 * a connection error FLOW_CONTROL_ERROR (RFC 9113 §6.9.2); nghttp2 resets the stream only. */
static int check_initial_window(h2_session *s, const nghttp2_settings *set)
{
    size_t i;
    for (i = set->niv; i-- > 0;) {
        if (set->iv[i].settings_id != NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) continue;
        if ((int64_t)set->iv[i].value - s->initial_window_before + s->window_before_settings >
            INT32_MAX)
            return session_error(s, NGHTTP2_FLOW_CONTROL_ERROR);
        break;
    }
    return 0;
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    h2_session *s = ud;
    (void)ng;
    s->got_frame = 1;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        return (hd->stream_id & 1) ? late_frame(s, hd->stream_id, 1) : 0;
    case NGHTTP2_PRIORITY:
        /* RFC 9113 §6.3; nghttp2 ignores PRIORITY once RFC 7540's are off */
        if (hd->stream_id == 0) return session_error(s, NGHTTP2_PROTOCOL_ERROR);
        return count_glitch(s);
    case NGHTTP2_PING:
    case NGHTTP2_RST_STREAM:
        return count_glitch(s);
    case NGHTTP2_SETTINGS:
        if (hd->flags & NGHTTP2_FLAG_ACK) return 0;
        s->initial_window_before = (int32_t)nghttp2_session_get_remote_settings(
            s->ng, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
        s->window_before_settings = largest_stream_window(s);
        return count_glitch(s);
    case NGHTTP2_WINDOW_UPDATE:
        /* a window opened for output that waits is progress; others are noise */
        return s->open ? 0 : count_glitch(s);
    case NGHTTP2_DATA: /* on a closed stream: see check_frame_header */
        return hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) ? count_glitch(s) : 0;
    default:
        return 0;
    }
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x;
    (void)ng;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        x = stream_of(s, frame->hd.stream_id);
        if (x) hx(x)->trailers = 1;
        return 0;
    }
    if (s->going_away) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    x = stream_open(s, frame->hd.stream_id);
    if (!x) { /* no exchange block: the client may try again later */
        (void)nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                        NGHTTP2_REFUSED_STREAM);
        return count_glitch(s);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    (void)ng;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        return check_initial_window(s, &frame->settings);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    x = stream_of(s, frame->hd.stream_id);
    if (!x) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        dispatch(x, end);
    } else if (end) {
        body_end(x);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x;
    (void)ng;
    if (frame->hd.type == NGHTTP2_RST_STREAM && (frame->hd.stream_id & 1) &&
        frame->hd.stream_id <= s->last_id && (uint32_t)(s->last_id - frame->hd.stream_id) / 2 < 64)
        s->reset |= (uint64_t)1 << ((uint32_t)(s->last_id - frame->hd.stream_id) / 2);
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    x = stream_of(s, frame->hd.stream_id);
    if (!x) return 0;
    hx(x)->end_sent = 1;
    /* answered before the request's end: the rest is not wanted (RFC 9113 §8.1) */
    if (!hx(x)->body_done)
        (void)nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                        NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    h2_session *s = ud;
    mote_exchange *x = stream_of(s, id);
    (void)ng;
    if (x) {
        /* a stream answered in full is progress; one reset (by either side) is not */
        int answered = hx(x)->end_sent && error_code == NGHTTP2_NO_ERROR;
        stream_gone(x);
        if (answered && s->glitches) s->glitches--;
    }
    return 0;
}

/* ---- the response body --------------------------------------------------------------------- */

static long read_file(mote_exchange *x, uint8_t *buf, size_t len)
{
    h2_exchange *h = hx(x);
    const conn_env *env = x->conn->env;
    if (h->file.fd < 0) return h->file.read(h->file.ctx, buf, len, h->file_off);
    return env->read_file ? env->read_file(&h->file, buf, len, h->file_off) : -1;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *ud)
{
    mote_exchange *x = source->ptr;
    h2_exchange *h = hx(x);
    size_t n;
    (void)ng;
    (void)id;
    (void)ud;
    switch (h->src) {
    case SRC_MEMORY:
        n = h->left < length ? (size_t)h->left : length;
        memcpy(buf, h->data, n);
        h->data += n;
        h->left -= n;
        if (!h->left) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    case SRC_FILE: {
        long r;
        n = h->left < length ? (size_t)h->left : length;
        r = n ? read_file(x, buf, n) : 0;
        if (r <= 0 && n) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* shorter than said */
        h->file_off += (uint64_t)r;
        h->left -= (uint64_t)r;
        if (!h->left) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)r;
    }
    case SRC_STREAM:
        n = h->buf_len < length ? h->buf_len : length;
        if (n == 0) {
            if (h->eof) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                return 0;
            }
            h->deferred = 1;
            return NGHTTP2_ERR_DEFERRED;
        }
        memcpy(buf, h->buf + h->buf_start, n);
        h->buf_start += n;
        h->buf_len -= n;
        if (!h->buf_len) h->buf_start = 0;
        if (!h->buf_len && h->eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    default:
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
}

/* ---- the response head --------------------------------------------------------------------- */

static void nv_set(nghttp2_nv *nv, const char *name, size_t nlen, const char *value, size_t vlen)
{
    nv->name = (uint8_t *)(uintptr_t)name;
    nv->namelen = nlen;
    nv->value = (uint8_t *)(uintptr_t)value;
    nv->valuelen = vlen;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* A "Name: value\r\n" line of the env's as a field. */
static void nv_from_line(nghttp2_nv *nv, const char *line, size_t len, const char *name, size_t nlen)
{
    nv_set(nv, name, nlen, line + nlen + 2, len - nlen - 4);
}

/* Submits the response's HEADERS: :status, the staged fields (names lowercased in place, as
 * HTTP/2 requires), Server and Date, and content-length when `length` is known (>= 0). With no
 * data source, the HEADERS end the stream. */
static int submit_head(mote_exchange *x, int64_t length, int with_body)
{
    h2_exchange *h = hx(x);
    const conn_env *env = x->conn->env;
    mote_response *res = &x->res;
    nghttp2_nv nv[NV_MAX];
    nghttp2_data_provider prd;
    char status[4], len_text[24];
    size_t n = 0;
    uint32_t pos = 0;
    int rc;

    status[0] = (char)('0' + res->status / 100 % 10);
    status[1] = (char)('0' + res->status / 10 % 10);
    status[2] = (char)('0' + res->status % 10);
    status[3] = '\0';
    nv_set(&nv[n++], ":status", 7, status, 3);
    while (pos < res->fields_len) {
        unsigned char *p = (unsigned char *)x->area + res->fields_off + pos;
        size_t nlen = (size_t)p[0] | (size_t)p[1] << 8, vlen = (size_t)p[2] | (size_t)p[3] << 8, i;
        char *name = (char *)p + 4;
        if (n == NV_MAX - 3) return MOTE_ETOOBIG;
        for (i = 0; i < nlen; i++) name[i] = (char)char_lower((unsigned char)name[i]);
        nv_set(&nv[n++], name, nlen, name + nlen, vlen);
        pos += (uint32_t)(4 + nlen + vlen);
    }
    if (length >= 0 && !status_has_no_body(res->status)) {
        size_t len = (size_t)(decimal_write(len_text, (uint64_t)length) - len_text);
        nv_set(&nv[n++], "content-length", 14, len_text, len);
    }
    if (!res->has_server && env->server_line_len)
        nv_from_line(&nv[n++], env->server_line, env->server_line_len, "server", 6);
    if (!res->has_date && env->date_line_len)
        nv_from_line(&nv[n++], env->date_line, env->date_line_len, "date", 4);
    prd.source.ptr = x;
    prd.read_callback = read_body;
    rc = nghttp2_submit_response(h->s->ng, (int32_t)x->id, nv, n, with_body ? &prd : NULL);
    if (rc < 0) return rc == NGHTTP2_ERR_NOMEM ? MOTE_ENOMEM : MOTE_ESTATE;
    h->committed = 1;
    return MOTE_OK;
}

/* ---- exchange_ops ---------------------------------------------------------------------------- */

static int h2_send(mote_exchange *x, const body_src *body)
{
    h2_exchange *h = hx(x);
    int with_body = !x->res.no_body && body->len > 0;
    int rc;
    if (with_body && body->kind == BODY_COPY) {
        h->owned = env_alloc(x->conn, (size_t)body->len);
        if (!h->owned) return MOTE_ENOMEM;
        memcpy(h->owned, body->data, (size_t)body->len);
        h->data = h->owned;
    } else {
        h->data = body->data;
    }
    h->left = body->len;
    h->src = body->kind == BODY_FILE ? SRC_FILE : SRC_MEMORY;
    if (body->kind == BODY_FILE) {
        h->file = body->file;
        h->file_off = body->off;
    }
    rc = submit_head(x, (int64_t)body->len, with_body);
    if (rc < 0) {
        if (body->kind == BODY_FILE) h->src = SRC_NONE; /* the caller keeps its file */
        release_body_source(x);
        return rc;
    }
    if (!with_body) release_body_source(x); /* HEAD: a file goes back now */
    conn_output_queued(x->conn);
    return MOTE_OK;
}

/* The head of a streamed body, once. */
static int commit_stream(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    if (h->committed) return MOTE_OK;
    h->src = SRC_STREAM;
    return submit_head(x, x->res.has_length ? (int64_t)x->res.length_left : -1, !x->res.no_body);
}

static void wake_data(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    if (h->deferred) {
        h->deferred = 0;
        (void)nghttp2_session_resume_data(h->s->ng, (int32_t)x->id);
    }
    conn_output_queued(x->conn);
}

static int stream_room(const mote_exchange *x)
{
    const h2_exchange *h = hx(x);
    size_t cap = x->conn->env->out_size > STREAM_BUFFER_MIN ? x->conn->env->out_size : STREAM_BUFFER_MIN;
    return h->buf_len < cap;
}

static int h2_write(mote_exchange *x, const void *data, size_t len)
{
    h2_exchange *h = hx(x);
    int rc;
    if (h->committed && !x->res.no_body && len && !stream_room(x)) return MOTE_EAGAIN;
    rc = commit_stream(x);
    if (rc < 0) return rc;
    if (x->res.no_body || !len) {
        conn_output_queued(x->conn);
        return MOTE_OK;
    }
    if (h->buf_start + h->buf_len + len > h->buf_cap) {
        size_t cap = h->buf_len + len > STREAM_BUFFER_MIN ? h->buf_len + len : STREAM_BUFFER_MIN;
        char *grown = cap > h->buf_cap ? env_alloc(x->conn, cap) : h->buf;
        if (!grown) return MOTE_ENOMEM;
        if (h->buf_len) memmove(grown, h->buf + h->buf_start, h->buf_len);
        if (grown != h->buf) env_free(x->conn, h->buf);
        h->buf = grown;
        h->buf_start = 0;
        if (cap > h->buf_cap) h->buf_cap = cap;
    }
    memcpy(h->buf + h->buf_start + h->buf_len, data, len);
    h->buf_len += len;
    wake_data(x);
    return MOTE_OK;
}

static int h2_end(mote_exchange *x)
{
    int rc;
    hx(x)->eof = 1;
    rc = commit_stream(x);
    if (rc < 0) return rc;
    wake_data(x);
    return MOTE_OK;
}

static int h2_room(const mote_exchange *x)
{
    return stream_room(x);
}

/* A paused stream's chunk goes to its consumer once it is no longer paused (resumed, or
 * answered and draining). */
static void release_held(h2_session *s)
{
    mote_exchange *x = s->held;
    const uint8_t *data = s->held_data;
    size_t len = s->held_len;
    int32_t id;
    if (!x || (x->body.paused && x->body.mode == BODY_STREAM)) return;
    id = (int32_t)x->id;
    s->held = NULL;
    deliver(x, data, len);
    give_window(s, x, id, len);
}

static void h2_want_body(mote_exchange *x)
{
    h2_exchange *h = hx(x);
    h2_session *s = h->s;
    if ((x->req.flags & REQ_EXPECT_CONTINUE) && x->res.state == RES_IDLE && !h->committed &&
        x->body.mode != BODY_DRAIN && !h->body_seen && !h->body_done) {
        nghttp2_nv nv;
        nv_set(&nv, ":status", 7, "100", 3);
        (void)nghttp2_submit_headers(s->ng, NGHTTP2_FLAG_NONE, (int32_t)x->id, NULL, &nv, 1, NULL);
        x->req.flags &= (uint8_t)~REQ_EXPECT_CONTINUE;
    }
    if (s->held == x && !x->body.paused && !x->in_callback && !s->in_session) {
        release_held(s);
        conn_output_queued(x->conn); /* the input after it goes on from the shell's next turn */
    }
}

static int h2_collect(mote_exchange *x)
{
    if ((x->req.flags & REQ_LENGTH_KNOWN) && x->req.content_length > exchange_body_limit(x))
        return MOTE_ETOOBIG;
    return MOTE_OK;
}

static void h2_finished(mote_exchange *x)
{
    conn_output_queued(x->conn);
}

static int h2_upgrade(mote_exchange *x, const proto_ops *next, void *ext)
{
    (void)x;
    (void)next;
    (void)ext;
    return MOTE_ENOTSUP; /* WebSocket over HTTP/2 (RFC 8441) is not offered */
}

static const exchange_ops h2_exchange_ops = {
    h2_send, h2_write, h2_end, h2_room, h2_want_body, h2_collect, h2_finished, h2_upgrade, 1,
};

/* ---- the session ------------------------------------------------------------------------------ */

static int make_session(h2_session *s)
{
    const conn_env *env = s->c->env;
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    nghttp2_mem mem;
    int rc;
    mem.mem_user_data = s;
    mem.malloc = mem_malloc;
    mem.free = mem_free;
    mem.calloc = mem_calloc;
    mem.realloc = mem_realloc;
    if (nghttp2_session_callbacks_new(&cb) != 0) return MOTE_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return MOTE_ENOMEM;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 64);
#if MOTE_HAVE_NGHTTP2_RESET_RATE
    nghttp2_option_set_stream_reset_rate_limit(opt, env->h2_max_glitches, 33);
#endif
#if MOTE_HAVE_NGHTTP2_MAX_CONTINUATIONS
    nghttp2_option_set_max_continuations(opt, 8);
#endif
    rc = nghttp2_session_server_new3(&s->ng, cb, s, opt, &mem);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    (void)env;
    return rc == 0 ? MOTE_OK : MOTE_ENOMEM;
}

/* Our SETTINGS, the server's first frame (RFC 9113 §3.4), and the connection's window. */
static int submit_settings(h2_session *s)
{
    const conn_env *env = s->c->env;
    nghttp2_settings_entry iv[6];
    int rc;
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[0].value = env->h2_max_streams;
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[1].value = env->h2_stream_window;
    iv[2].settings_id = NGHTTP2_SETTINGS_HEADER_TABLE_SIZE;
    iv[2].value = env->h2_header_table_size;
    iv[3].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
    iv[3].value = env->max_request_line + env->max_header_bytes + 32u * env->max_headers;
    iv[4].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[4].value = 0;
    iv[5].settings_id = NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES;
    iv[5].value = 1;
    rc = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, 6);
    if (rc == 0 && env->h2_conn_window > 65535)
        rc = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)env->h2_conn_window);
    return rc == 0 ? MOTE_OK : MOTE_ENOMEM;
}

static h2_session *session_new(mote_conn *c)
{
    h2_session *s = env_alloc(c, sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->c = c;
    s->alloc = c->env->alloc;
    s->mem_max = c->env->h2_max_session_memory;
    s->to_frame = H2_PREFACE_LEN; /* the client's preface, then frames */
    if (make_session(s) < 0) {
        env_free(c, s);
        return NULL;
    }
    return s;
}

static void session_free(mote_conn *c, h2_session *s)
{
    if (s->ng) nghttp2_session_del(s->ng);
    s->ng = NULL;
    env_free(c, s);
}

/* The GOAWAY error code for nghttp2's verdict on the input. */
static uint32_t goaway_code(int rc)
{
    if (rc == NGHTTP2_ERR_FLOODED) return NGHTTP2_ENHANCE_YOUR_CALM;
#if MOTE_HAVE_NGHTTP2_MAX_CONTINUATIONS
    if (rc == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) return NGHTTP2_ENHANCE_YOUR_CALM;
#endif
    return rc == NGHTTP2_ERR_NOMEM ? NGHTTP2_INTERNAL_ERROR : NGHTTP2_PROTOCOL_ERROR;
}

/* Something went wrong past repair: GOAWAY (once nghttp2 has queued one) and close. */
static void session_fails(mote_conn *c, int rc)
{
    h2_session *s = sess(c);
    s->fatal = 1;
    if (rc != NGHTTP2_ERR_CALLBACK_FAILURE || !nghttp2_session_want_write(s->ng))
        (void)nghttp2_session_terminate_session(s->ng, goaway_code(rc));
    c->closing = 1;
}

/* Stream 1 of an upgraded connection: the HTTP/1.1 request, answered over HTTP/2. */
static void start_upgraded(mote_conn *c, h2_session *s)
{
    mote_exchange *x = s->upgraded;
    int rc;
    s->upgraded = NULL;
    rc = nghttp2_session_upgrade2(s->ng, s->settings, s->settings_len, s->upgrade_head_request,
                                  NULL);
    if (rc < 0) {
        env_free(c, hx(x)->head);
        exchange_give_back(x);
        session_fails(c, rc);
        return;
    }
    note_stream_id(s, 1);
    stream_link(s, x);
    dispatch(x, 1);
}

/* ---- proto_ops -------------------------------------------------------------------------------- */

static int h2_start(mote_conn *c)
{
    h2_session *s = sess(c);
    if (!s) {
        s = session_new(c);
        if (!s) return MOTE_ENOMEM;
        c->ext = s;
    }
    s->c = c;
    if (!s->started) {
        s->started = 1;
        if (submit_settings(s) < 0) {
            session_fails(c, NGHTTP2_ERR_NOMEM);
            return MOTE_OK;
        }
        if (s->upgraded) start_upgraded(c, s);
    }
    return MOTE_OK;
}

static void h2_stop(mote_conn *c, int abort)
{
    h2_session *s = sess(c);
    if (!s || !abort) return;
    s->held = NULL;
    while (s->streams) stream_gone(s->streams);
}

static void h2_end_conn(mote_conn *c)
{
    h2_session *s = sess(c);
    if (!s) return;
    while (s->streams) stream_gone(s->streams);
    if (s->upgraded) {
        env_free(c, hx(s->upgraded)->head);
        exchange_give_back(s->upgraded);
    }
    session_free(c, s);
    c->ext = NULL;
}

static size_t h2_read_space(mote_conn *c, char **at)
{
    h2_session *s = sess(c);
    conn_block *b = c->b;
    /* nothing is read while output waits: a peer that does not read its PING and SETTINGS
     * acknowledgements stops being read from */
    if (!s || s->fatal || s->held || s->pend_len || !conn_out_room(c) ||
        !nghttp2_session_want_read(s->ng))
        return 0;
    if (b->in_start == b->in_len) b->in_start = b->in_len = 0;
    if (b->in_len == c->env->in_size && b->in_start) { /* a frame header's first bytes, kept */
        b->in_len -= b->in_start;
        memmove(b->in, b->in + b->in_start, b->in_len);
        b->in_start = 0;
    }
    *at = b->in + b->in_len;
    return c->env->in_size - b->in_len;
}

/* The frame header at `p` (9 bytes): one nghttp2 would ignore but the RFC does not. */
static int check_frame_header(h2_session *s, const uint8_t *p)
{
    int32_t id = (int32_t)(((uint32_t)p[5] & 0x7f) << 24 | (uint32_t)p[6] << 16 |
                           (uint32_t)p[7] << 8 | p[8]);
    return p[3] == NGHTTP2_DATA && (id & 1) ? late_frame(s, id, 0) : 0;
}

/* Input to nghttp2, up to a paused stream's chunk, a frame at a time: each frame header is
 * looked at whole before nghttp2 takes it, with the frames before it already taken. */
static void feed(mote_conn *c)
{
    h2_session *s = sess(c);
    conn_block *b = c->b;
    while (b->in_start < b->in_len && !s->held && !s->fatal) {
        const uint8_t *in = (const uint8_t *)b->in + b->in_start;
        size_t avail = b->in_len - b->in_start;
        ssize_t r;
        if (s->to_frame == 0) {
            if (avail < 9) break; /* the rest of the header is still to come */
            if (check_frame_header(s, in) < 0) {
                b->in_start = b->in_len;
                break;
            }
            s->to_frame = 9 + ((uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2]);
        }
        s->in_session = 1;
        r = nghttp2_session_mem_recv(s->ng, in, avail < s->to_frame ? avail : s->to_frame);
        s->in_session = 0;
        if (r < 0) {
            session_fails(c, (int)r);
            b->in_start = b->in_len;
            break;
        }
        b->in_start += (uint32_t)r;
        s->to_frame -= (uint32_t)r;
    }
    if (b->in_start == b->in_len && !s->held) b->in_start = b->in_len = 0;
}

/* Frames nghttp2 has ready, into the output buffer while it has room. */
static void take_output(mote_conn *c)
{
    h2_session *s = sess(c);
    for (;;) {
        size_t room = conn_out_room(c), take;
        if (!s->pend_len) {
            ssize_t n;
            if (!room) break;
            s->in_session = 1;
            n = nghttp2_session_mem_send(s->ng, &s->pend);
            s->in_session = 0;
            if (n < 0) {
                s->fatal = 1;
                c->closing = 1;
                break;
            }
            if (n == 0) break;
            s->pend_len = (size_t)n;
        }
        take = s->pend_len < room ? s->pend_len : room;
        if (!take) break;
        memcpy(conn_out_tail(c), s->pend, take);
        conn_out_commit(c, take);
        s->pend += take;
        s->pend_len -= take;
    }
    if (!s->pend_len && s->fatal) c->closing = 1;
    if (!s->pend_len && !nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng))
        c->closing = 1; /* GOAWAY sent and every stream done */
}

/* Deferred responses with room are offered it. */
static void offer_room(mote_conn *c)
{
    h2_session *s = sess(c);
    mote_exchange *x = s->streams;
    while (x) {
        mote_exchange *next = hx(x)->next;
        if (x->res.deferred && x->res.state != RES_DONE) exchange_offer_ready(x, 0);
        x = next;
    }
}

static void produce(mote_conn *c)
{
    h2_session *s = sess(c);
    if (!s || !c->b || s->in_session) return;
    release_held(s);
    if (!s->held) feed(c);
    take_output(c);
}

static void h2_received(mote_conn *c, size_t n)
{
    c->b->in_len += (uint32_t)n;
    produce(c);
}

static void h2_peer_eof(mote_conn *c)
{
    /* what was received is answered; nothing more will come */
    produce(c);
    c->closing = 1;
}

static void h2_sent(mote_conn *c)
{
    produce(c);
    if (sess(c)) offer_room(c);
    produce(c);
}

static int h2_is_idle(const mote_conn *c)
{
    const h2_session *s = sess(c);
    if (!s) return 1;
    return !s->open && !s->pend_len && !s->held && c->b->in_start == c->b->in_len &&
           !nghttp2_session_want_write(s->ng);
}

static int h2_is_responding(const mote_conn *c)
{
    const h2_session *s = sess(c);
    if (!s) return 0;
    /* over (ours, or nghttp2 has sent its own GOAWAY): only the last frames remain */
    if (s->fatal || (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng)))
        return s->pend_len > 0 || nghttp2_session_want_write(s->ng);
    return s->open > 0 || s->pend_len > 0 || nghttp2_session_want_write(s->ng);
}

static int h2_ends_with_output(const mote_conn *c)
{
    (void)c;
    return 0; /* a GOAWAY is read only if what the peer still sends is not reset: linger */
}

/* Whether a response waits for the peer's flow-control window. */
static int window_stalled(const h2_session *s)
{
    const mote_exchange *x;
    int32_t conn_window = nghttp2_session_get_remote_window_size(s->ng);
    for (x = s->streams; x; x = hx(x)->next) {
        const h2_exchange *h = hx(x);
        int pending = h->committed && !h->end_sent &&
                      ((h->src == SRC_STREAM && h->buf_len) || (h->src != SRC_STREAM && h->left));
        if (pending && (conn_window <= 0 ||
                        nghttp2_session_get_stream_remote_window_size(s->ng, (int32_t)x->id) <= 0))
            return 1;
    }
    return 0;
}

static enum conn_timer_kind h2_timer(const mote_conn *c)
{
    const h2_session *s = sess(c);
    const mote_exchange *x;
    if (!s) return CT_HEAD;
    if (!c->b || !s->open) return s->got_frame ? CT_IDLE : CT_HEAD;
    if (window_stalled(s)) return CT_STALL;
    for (x = s->streams; x; x = hx(x)->next) {
        if (!hx(x)->body_done && !x->body.paused && x->body.mode != BODY_DRAIN) return CT_BODY;
    }
    return CT_NONE;
}

static void h2_expire(mote_conn *c)
{
    h2_session *s = sess(c);
    if (s && s->ng) {
        (void)nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
        s->fatal = 1;
    }
    c->closing = 1;
}

static mote_exchange *h2_find(mote_conn *c, uint32_t id)
{
    h2_session *s = sess(c);
    if (!s || !s->ng || id > INT32_MAX) return NULL;
    return stream_of(s, (int32_t)id);
}

static void h2_going_away(mote_conn *c)
{
    h2_session *s = sess(c);
    if (!s || !s->ng || s->going_away) return;
    s->going_away = 1;
    (void)nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
                                NULL, 0);
    produce(c); /* out before the connection is seen idle and closed */
}

const proto_ops h2_proto = {
    "h2",         h2_start,         h2_stop,   h2_end_conn,   h2_read_space, h2_received,
    h2_peer_eof,  h2_sent,          h2_is_idle, h2_is_responding, h2_ends_with_output,
    h2_timer,     h2_expire,        h2_find,   h2_going_away, produce,       1,
};

/* ---- Upgrade: h2c (RFC 7540 §3.2) ------------------------------------------------------------- */

static const char *field(const mote_exchange *x, const char *lower)
{
    return mote_request_header(&x->req, lower);
}

/* Whether a comma-separated list value has `token` (case-insensitive). */
static int lists(const char *v, const char *token)
{
    size_t tlen = strlen(token);
    while (v && *v) {
        size_t n;
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        n = 0;
        while (v[n] && v[n] != ',' && v[n] != ' ' && v[n] != '\t') n++;
        if (n == tlen && header_name_is(v, n, token)) return 1;
        v += n;
    }
    return 0;
}

int h2_wants_upgrade(const mote_exchange *x)
{
    const mote_request *req = &x->req;
    const char *up, *conn, *settings;
    uint32_t i, count = 0;
    if (x->conn->is_tls || !(x->conn->h2_modes & MOTE_HTTP2_UPGRADE) || req->version != 11 ||
        (req->flags & REQ_HAS_BODY))
        return 0;
    up = field(x, "upgrade");
    conn = field(x, "connection");
    settings = field(x, "http2-settings");
    if (!up || !conn || !settings || !lists(up, "h2c") || !lists(conn, "upgrade") ||
        !lists(conn, "http2-settings"))
        return 0;
    for (i = 0; i < req->field_count; i++) {
        if (req->fields[i].name_len == 14 &&
            header_name_is(req->base + req->fields[i].name_off, 14, "http2-settings"))
            count++;
    }
    return count == 1;
}

/* HTTP2-Settings is base64url without padding (RFC 7540 §3.2.1). */
static long settings_decode(const char *v, uint8_t *out, size_t out_size)
{
    char std[360];
    size_t len = strlen(v), i;
    if (len > sizeof std - 4) return -1;
    for (i = 0; i < len; i++) {
        char ch = v[i];
        if (ch == '-') ch = '+';
        else if (ch == '_') ch = '/';
        else if (ch == '+' || ch == '/' || ch == '=') return -1;
        std[i] = ch;
    }
    while (len % 4) std[len++] = '=';
    return base64_decode(std, len, out, out_size);
}

void *h2_upgrade_state(mote_exchange *x)
{
    mote_conn *c = x->conn;
    const mote_request *req = &x->req;
    h2_session *s = session_new(c);
    mote_exchange *up;
    long n;
    uint32_t i;

    if (!s) return NULL;
    n = settings_decode(field(x, "http2-settings"), s->settings, sizeof s->settings);
    up = n >= 0 && n % 6 == 0 ? exchange_take(c, &h2_exchange_ops) : NULL;
    if (!up) {
        session_free(c, s);
        return NULL;
    }
    s->settings_len = (size_t)n;
    stream_init(s, up, 1);
    /* the request as HTTP/2 would have carried it: lowercase names, no connection fields */
    if (!head_reserve(up, (size_t)req->target_len + 16u)) goto fail;
    up->req.method_off = head_put(up, req->base + req->method_off, strlen(req->base + req->method_off));
    up->req.target_off = head_put(up, req->base + req->target_off, req->target_len);
    up->req.target_len = req->target_len;
    for (i = 0; i < req->field_count; i++) {
        const hdr_span *sp = &req->fields[i];
        const char *name = req->base + sp->name_off;
        char lower[64];
        size_t k;
        if (header_name_is(name, sp->name_len, "connection") ||
            header_name_is(name, sp->name_len, "upgrade") ||
            header_name_is(name, sp->name_len, "http2-settings") ||
            header_name_is(name, sp->name_len, "keep-alive") || sp->name_len > sizeof lower)
            continue;
        for (k = 0; k < sp->name_len; k++) lower[k] = (char)char_lower((unsigned char)name[k]);
        if (!head_reserve(up, sp->name_len + sp->value_len + 2)) goto fail;
        take_field(up, (const uint8_t *)lower, sp->name_len,
                   (const uint8_t *)req->base + sp->value_off, sp->value_len);
    }
    s->upgrade_head_request = req->method == MOTE_HEAD;
    s->upgraded = up;
    return s;

fail:
    env_free(c, hx(up)->head);
    exchange_give_back(up);
    session_free(c, s);
    return NULL;
}

void h2_upgrade_abandon(mote_conn *c, void *state)
{
    void *was = c->ext;
    c->ext = state;
    h2_end_conn(c);
    c->ext = was;
}

#endif
