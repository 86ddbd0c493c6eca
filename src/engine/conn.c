/* conn.c - the connection state machine; see conn.h.
 *
 * A request goes HEAD -> BODY -> (RESPONDING) -> finished. The handler runs when the head is
 * complete (or, on a collecting route, when the body is); the body is streamed to it, collected,
 * or drained; the request ends when both its body and its response are done. A request is
 * dispatched only when the send buffer has room for a response, so pipelined responses batch
 * up without a reader that does not read growing anything. */
#include "engine/conn.h"

#include <stddef.h>
#include <string.h>

#include "core/uri.h"

/* Room to read body bytes into after a head; a head leaving less is moved down first. */
#define BODY_READ_ROOM 4096
/* First heap buffer for a chunked body being collected. */
#define COLLECT_FIRST 4096

/* The connection behind a request or response handed to the application. */
static conn_active *active_of_response(const mote_response *res)
{
    return (conn_active *)(void *)((char *)(uintptr_t)res - offsetof(conn_active, res));
}

static const conn_active *active_of_request(const mote_request *req)
{
    return (const conn_active *)(const void *)((const char *)req - offsetof(conn_active, req));
}

mote_conn *conn_of_response(mote_response *res)
{
    return active_of_response(res)->conn;
}

const mote_conn *conn_of_request(const mote_request *req)
{
    return active_of_request(req)->conn;
}

mote_conn *conn_of_request_mut(mote_request *req)
{
    return active_of_request(req)->conn;
}

uint32_t conn_input_size(size_t max_request_line, size_t max_header_bytes)
{
    return (uint32_t)((max_request_line + 2 + max_header_bytes + BODY_READ_ROOM + 7) & ~(size_t)7);
}

/* Where the input buffer starts in a block: after the request state. */
static size_t active_size(void)
{
    return (sizeof(conn_active) + 15u) & ~(size_t)15u;
}

size_t conn_block_size(const conn_env *env)
{
    return active_size() + env->in_size + (size_t)env->max_headers * sizeof(hdr_span) +
           ((env->max_request_line + 8u) & ~7u) + env->out_size;
}

static void free_heap_body(mote_conn *c)
{
    if (c->a->body.heap) c->env->alloc.free(c->env->alloc.ctx, c->a->body.heap);
    c->a->body.heap = NULL;
    c->a->body.heap_cap = 0;
}

/* The request state before any byte of a request: nothing read or answered (the parser is
 * started apart: fresh when the block is lent, reset between requests). */
static void begin_request(mote_conn *c)
{
    memset(&c->a->req, 0, sizeof c->a->req);
    c->a->req.version = 11;
    memset(&c->a->res, 0, sizeof c->a->res);
    c->a->res.status = 200;
    memset(&c->a->body, 0, sizeof c->a->body);
    c->phase = PHASE_HEAD;
    c->keep_alive = 1;
}

static void reset_request(mote_conn *c)
{
    free_heap_body(c);
    begin_request(c);
    parser_reset(&c->a->parser);
}

void conn_init(mote_conn *c, const conn_env *env, void *user)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    c->user = user;
    c->phase = PHASE_HEAD;
    c->keep_alive = 1;
}

void conn_attach(mote_conn *c, char *block)
{
    const conn_env *env = c->env;
    conn_active *a = (conn_active *)(void *)block;
    hdr_span *headers;
    a->conn = c;
    c->a = a;
    c->in = block + active_size();
    headers = (hdr_span *)(void *)(c->in + env->in_size);
    parser_init(&a->parser, headers, env->max_headers, env->max_request_line,
                env->max_header_bytes);
    c->path = (char *)(headers + env->max_headers);
    c->out = c->path + ((env->max_request_line + 8u) & ~7u);
    c->in_start = c->in_len = 0;
    c->out_sent = c->out_len = 0;
    begin_request(c);
}

int conn_is_idle(const mote_conn *c)
{
    if (!c->a) return 1;
    return c->in_start == c->in_len && c->out_sent == c->out_len && c->phase == PHASE_HEAD &&
           c->a->res.state == RES_IDLE && !c->busy;
}

char *conn_detach(mote_conn *c)
{
    return c->a && conn_is_idle(c) ? conn_drop_block(c) : NULL;
}

char *conn_drop_block(mote_conn *c)
{
    char *block = (char *)c->a;
    if (c->a) free_heap_body(c);
    c->a = NULL;
    c->in = c->out = c->path = NULL;
    c->in_start = c->in_len = c->out_sent = c->out_len = 0;
    return block;
}

/* Whether the bytes after the head are exactly the request's body, untouched: a request
 * answered before its body was read (or that has none), with nothing after it. */
static int only_its_body_follows(const mote_conn *c)
{
    const parser *p = &c->a->parser;
    uint32_t body_at = c->in_start + p->head_len;
    uint64_t length = (p->flags & HEAD_HAS_LENGTH) ? p->content_length : 0;
    if (c->phase != PHASE_BODY || (p->flags & HEAD_CHUNKED) || c->a->body.pos != body_at) return 0;
    return c->in_len - body_at == length;
}

int conn_ends_with_output(const mote_conn *c)
{
    if (!c->a || !c->peer_closes || !c->closing || c->busy ||
        (c->a->res.state != RES_IDLE && c->a->res.state != RES_DONE))
        return 0;
    return c->ended_cleanly ? c->in_start == c->in_len : only_its_body_follows(c);
}

int conn_has_partial_head(const mote_conn *c)
{
    return c->phase == PHASE_HEAD && c->in_len > c->in_start;
}

int conn_awaits_body(const mote_conn *c)
{
    return c->phase == PHASE_BODY && !c->a->body.paused && !c->closing;
}

size_t conn_pending(const mote_conn *c, const char **data)
{
    *data = c->out ? c->out + c->out_sent : NULL;
    return c->out_len - c->out_sent;
}

int conn_is_done(const mote_conn *c)
{
    return c->closing && c->out_sent == c->out_len && !c->busy &&
           (!c->a || c->a->res.state == RES_IDLE || c->a->res.state == RES_DONE);
}

/* ---- the head ---------------------------------------------------------------------------- */

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

static const hdr_span *find_field(const mote_conn *c, const char *lower, size_t len)
{
    const char *base = c->in + c->in_start;
    uint32_t i;
    for (i = 0; i < c->a->parser.header_count; i++) {
        const hdr_span *h = &c->a->parser.headers[i];
        if (h->name_len == len && header_name_is(base + h->name_off, len, lower)) return h;
    }
    return NULL;
}

/* Splits the target into path and query (RFC 9112 §3.2) and decodes the path. Returns 0 or
 * the status to refuse it with: authority-form is for proxies, asterisk-form only for OPTIONS,
 * and a path with a bad escape, an encoded NUL, or climbing above the root is 400. */
static int split_target(mote_conn *c)
{
    const char *base = c->in + c->in_start;
    const char *t = base + c->a->parser.target_off;
    uint32_t len = c->a->parser.target_len, i = 0, path_start, path_end;
    const hdr_span *host;
    long n;

    if (len == 1 && t[0] == '*') {
        if (c->a->req.method != MOTE_OPTIONS) return 400;
    } else if (t[0] != '/') {
        /* absolute-form: scheme "://" authority, then the path; the authority is the host */
        while (i < len && t[i] != ':' && t[i] != '/') i++;
        if (i == 0 || i + 2 >= len || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/') return 400;
        i += 3;
        c->a->req.host_off = c->a->parser.target_off + i;
        while (i < len && t[i] != '/' && t[i] != '?') i++;
        c->a->req.host_len = c->a->parser.target_off + i - c->a->req.host_off;
    }
    if (c->a->req.host_len == 0 && (host = find_field(c, "host", 4)) != NULL) {
        c->a->req.host_off = host->value_off;
        c->a->req.host_len = host->value_len;
    }
    path_start = i;
    while (i < len && t[i] != '?') i++;
    path_end = i;
    if (i < len) {
        uint32_t q = ++i;
        c->a->req.query_off = c->a->parser.target_off + q;
        c->a->req.query_len = len - q;
    } else {
        c->a->req.query_off = c->a->parser.target_off + i;
    }
    if (path_end == path_start) {
        memcpy(c->path, "/", 2); /* "http://host" and "http://host?q" mean "/" */
        c->a->req.path_len = 1;
        return 0;
    }
    n = uri_normalize_path(t + path_start, path_end - path_start, c->path);
    if (n < 0) return 400;
    c->a->req.path_len = (uint32_t)n;
    return 0;
}

/* ---- refusing a request before its handler ---------------------------------------------- */

/* "GET, HEAD, POST" for a method mask. */
static void allow_list(unsigned methods, char *buf)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    size_t i, n = 0;
    for (i = 0; i < 7; i++) {
        size_t len;
        if (!(methods & (1u << i))) continue;
        if (n) {
            memcpy(buf + n, ", ", 2);
            n += 2;
        }
        len = strlen(names[i]);
        memcpy(buf + n, names[i], len);
        n += len;
    }
    buf[n] = '\0';
}

/* A final answer from the library, with at most one extra field. The connection stays open
 * when it can: the unread body is drained as usual. */
static void answer(mote_conn *c, int status, const char *name, const char *value)
{
    char body[48];
    const char *reason = mote_status_reason(status);
    size_t len = strlen(reason);
    body[0] = (char)('0' + status / 100 % 10);
    body[1] = (char)('0' + status / 10 % 10);
    body[2] = (char)('0' + status % 10);
    body[3] = ' ';
    memcpy(body + 4, reason, len);
    body[4 + len] = '\n';
    mote_response_status(&c->a->res, status);
    if (name) mote_response_header(&c->a->res, name, value);
    if (status == 204) {
        mote_response_send(&c->a->res, NULL, 0);
        return;
    }
    mote_response_header(&c->a->res, "Content-Type", "text/plain");
    if (mote_response_send(&c->a->res, body, 5 + len) < 0) c->closing = 1;
}

/* What the route refuses, checked before the handler and before any 100 Continue: the
 * method (405, or OPTIONS answered for it), an expectation (417), the body length (413), the
 * credentials (401). Returns 1 when the request was answered. */
static int refuse_by_route(mote_conn *c, const route *rt)
{
    const parser *p = &c->a->parser;
    const hdr_span *expect;
    uint64_t limit = rt->max_body_size ? rt->max_body_size : c->env->max_body_size;
    char allow[64];

    if (!(rt->methods & c->a->req.method)) {
        allow_list(rt->methods | MOTE_OPTIONS, allow);
        answer(c, c->a->req.method == MOTE_OPTIONS ? 204 : 405, "Allow", allow);
        return 1;
    }
    expect = find_field(c, "expect", 6);
    if (expect && !(p->flags & HEAD_EXPECT_CONTINUE)) {
        answer(c, 417, NULL, NULL);
        return 1;
    }
    if ((p->flags & HEAD_HAS_LENGTH) && p->content_length > limit) {
        c->a->res.wants_close = 1; /* too much to drain */
        answer(c, 413, NULL, NULL);
        return 1;
    }
    if (rt->auth && !mote_basic_auth_check(&c->a->req, route_user(rt), route_password(rt))) {
        mote_respond_unauthorized(&c->a->res, route_realm(rt));
        return 1;
    }
    return 0;
}

/* ---- the body ----------------------------------------------------------------------------- */

static int request_has_body(const mote_conn *c)
{
    return (c->a->parser.flags & HEAD_CHUNKED) ||
           ((c->a->parser.flags & HEAD_HAS_LENGTH) && c->a->parser.content_length > 0);
}

/* The body is wanted: the client waiting for 100 Continue gets it now. */
static void body_wanted(mote_conn *c)
{
    if (!c->a->body.continue_due) return;
    c->a->body.continue_due = 0;
    if (c->a->res.state == RES_IDLE || c->a->res.state == RES_STAGED) response_send_continue(c);
}

int conn_body_forces_close(const mote_conn *c)
{
    const body_state *b = &c->a->body;
    if (c->phase != PHASE_BODY || b->mode != BODY_DRAIN) return 0; /* or it is being read */
    if (b->continue_due) return 1; /* the client may never send it */
    return (c->a->parser.flags & HEAD_HAS_LENGTH) &&
           c->a->parser.content_length - b->dec.total > c->env->max_drain_size;
}

/* Moves a collected body from the input buffer to the heap, with room for `want` bytes. */
static int grow_heap_body(mote_conn *c, uint64_t want)
{
    body_state *b = &c->a->body;
    size_t cap = b->heap_cap ? b->heap_cap : COLLECT_FIRST;
    char *bigger;
    while (cap < want) cap *= 2;
    bigger = c->env->alloc.alloc(c->env->alloc.ctx, cap);
    if (!bigger) return MOTE_ENOMEM;
    if (b->heap) memcpy(bigger, b->heap, (size_t)b->collected);
    free_heap_body(c);
    b->heap = bigger;
    b->heap_cap = cap;
    b->collect_heap = 1;
    return MOTE_OK;
}

static int collect(mote_conn *c, const char *data, size_t len)
{
    body_state *b = &c->a->body;
    if (b->collect_heap) {
        if (b->collected + len > b->heap_cap && grow_heap_body(c, b->collected + len) < 0)
            return MOTE_ENOMEM;
        memcpy(b->heap + b->collected, data, len);
    } else {
        /* in place: what stays must leave room to read the rest through */
        if (c->env->in_size - b->floor - len < BODY_READ_ROOM) return MOTE_ETOOBIG;
        memmove(c->in + b->floor, data, len);
        b->floor += (uint32_t)len;
    }
    b->collected += len;
    return MOTE_OK;
}

/* Keeps trailer bytes below the floor, where the request can read them once parsed. */
static void keep_trailer(mote_conn *c)
{
    body_state *b = &c->a->body;
    if (!b->dec.trailer_len) return;
    if (!b->trailer_len) b->trailer_off = b->floor;
    memmove(c->in + b->floor, b->dec.trailer, b->dec.trailer_len);
    b->floor += (uint32_t)b->dec.trailer_len;
    b->trailer_len += (uint32_t)b->dec.trailer_len;
}

static void parse_trailers(mote_conn *c)
{
    body_state *b = &c->a->body;
    uint32_t first = c->a->parser.header_count;
    int n;
    if (b->trailer_len <= 2) return; /* just the final CRLF */
    n = parser_trailers(c->in + b->trailer_off, b->trailer_len, c->a->parser.headers + first,
                        c->a->parser.max_headers - first);
    if (n < 0) return; /* more fields than room: the trailers are dropped, the body stands */
    b->trailer_count = (uint32_t)n;
    terminate_fields(c->in + b->trailer_off, c->a->parser.headers + first, b->trailer_count);
}

static int output_has_room(const mote_conn *c);

/* A response deferred with on_ready by a callback that has just returned is offered room once
 * at once, as nghttp2's data provider and h2o's generators are pulled: waiting for output to
 * move would wait for ever when nothing was written. */
static void offer_first_ready(mote_conn *c)
{
    mote_response *res = &c->a->res;
    if (!res->deferred || !res->on_ready || res->ready_offered || res->state == RES_DONE ||
        res->in_ready || c->closing || !output_has_room(c))
        return;
    res->ready_offered = 1;
    res->in_ready = 1;
    res->on_ready(res, res->defer_user);
    res->in_ready = 0;
}

static void call_route_handler(mote_conn *c)
{
    const route *rt = c->a->body.route;
    c->in_handler = 1;
    rt->handler(&c->a->req, &c->a->res, rt->user_data);
    c->in_handler = 0;
    offer_first_ready(c);
}

/* A handler (or body callback) is over: a response it neither finished nor kept open is
 * finished for it, with 500 when nothing was written. */
static void settle_response(mote_conn *c)
{
    if (c->a->res.state == RES_DONE || c->a->res.deferred) return;
    if (c->a->res.state == RES_STREAMING) {
        mote_response_end(&c->a->res);
    } else {
        response_discard_staged(c);
        answer(c, 500, NULL, NULL);
    }
}

static void finish_request(mote_conn *c)
{
    c->in_start = c->a->body.pos;
    c->requests++;
    if (!c->keep_alive || c->closing) {
        c->closing = 1;
        c->ended_cleanly = 1;
        free_heap_body(c);
        return;
    }
    reset_request(c);
}

/* The body has ended: hand it over, and finish the request if the response is done too. */
static void body_finished(mote_conn *c)
{
    body_state *b = &c->a->body;
    parse_trailers(c);
    if (b->mode == BODY_STREAM) {
        b->mode = BODY_DRAIN; /* nothing more will come */
        c->in_handler = 1;
        b->on_data(&c->a->req, NULL, 0, b->user);
        c->in_handler = 0;
        offer_first_ready(c);
        settle_response(c);
    } else if (b->mode == BODY_COLLECT) {
        call_route_handler(c);
        settle_response(c);
    }
    if (c->a->res.state == RES_DONE) finish_request(c);
    else c->phase = PHASE_RESPONDING;
}

/* A broken body: answered if nothing was, else the connection just ends. */
static void body_failed(mote_conn *c, int status)
{
    if (c->a->res.state == RES_IDLE || c->a->res.state == RES_STAGED) {
        conn_fail(c, status);
    } else {
        c->closing = 1;
    }
}

/* One decoded piece of body: to the consumer, the collection, or nowhere. */
static int take_piece(mote_conn *c, const char *data, size_t len)
{
    body_state *b = &c->a->body;
    if (b->mode == BODY_STREAM) {
        c->in_handler = 1;
        b->on_data(&c->a->req, data, len, b->user);
        c->in_handler = 0;
        offer_first_ready(c);
    } else if (b->mode == BODY_COLLECT) {
        int rc = collect(c, data, len);
        if (rc < 0) {
            b->mode = BODY_DRAIN;
            body_failed(c, rc == MOTE_ETOOBIG ? 413 : 503);
            return -1;
        }
    } else {
        b->drained += len;
        if (c->a->res.state == RES_DONE && b->drained > c->env->max_drain_size) {
            c->closing = 1; /* answered already; not worth reading the rest */
            return -1;
        }
    }
    return 0;
}

/* Decodes what has arrived, then moves the undecoded rest down to the floor. */
static void read_body(mote_conn *c)
{
    body_state *b = &c->a->body;
    while (c->phase == PHASE_BODY && !b->paused && !c->closing) {
        const char *data;
        size_t used, len;
        int r = body_decode(&b->dec, c->in + b->pos, c->in_len - b->pos, &used, &data, &len);
        b->pos += (uint32_t)used;
        keep_trailer(c);
        if (len && take_piece(c, data, len) < 0) return;
        if (r == BODY_ERROR) {
            body_failed(c, b->dec.status);
            return;
        }
        if (r == BODY_DONE) {
            body_finished(c);
            return;
        }
        if (used == 0) break;
    }
    if (c->phase == PHASE_BODY && b->pos > b->floor) {
        memmove(c->in + b->floor, c->in + b->pos, c->in_len - b->pos);
        c->in_len -= b->pos - b->floor;
        b->pos = b->floor;
    }
    /* what is kept (a body in place, trailers) has filled the buffer: nothing more could be
     * read, so the request is refused rather than left to stall */
    if (c->phase == PHASE_BODY && !b->paused && !c->closing && c->in_len == c->env->in_size)
        body_failed(c, b->dec.trailer_len || b->trailer_len ? 431 : 413);
}

/* ---- dispatching -------------------------------------------------------------------------- */

/* A head leaving too little room after it for its body moves down to the buffer's start,
 * before the handler sees any pointer into it. */
static void make_body_room(mote_conn *c)
{
    if (c->in_start == 0 || c->env->in_size - c->in_len >= BODY_READ_ROOM) return;
    memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
    c->in_len -= c->in_start;
    c->in_start = 0;
}

static void start_body(mote_conn *c, const route *rt)
{
    body_state *b = &c->a->body;
    const parser *p = &c->a->parser;
    uint64_t limit = rt && rt->max_body_size ? rt->max_body_size : c->env->max_body_size;
    uint32_t lines = c->env->max_header_bytes;
    b->floor = b->pos = c->in_start + p->head_len;
    /* trailers are kept in the input buffer after the head: they get what room is left there,
     * so that reading never stalls on a full buffer (more is 431) */
    if (b->floor + 1 < c->env->in_size && c->env->in_size - b->floor - 1 < lines)
        lines = c->env->in_size - b->floor - 1;
    body_init(&b->dec, (p->flags & HEAD_CHUNKED) != 0, p->content_length, limit, lines);
    b->route = rt;
    b->continue_due =
        c->a->req.version >= 11 && (p->flags & HEAD_EXPECT_CONTINUE) && request_has_body(c);
    c->phase = PHASE_BODY;
}

/* A collecting route: the body goes in place after the head when it surely fits there,
 * else to the heap. */
static int start_collecting(mote_conn *c)
{
    body_state *b = &c->a->body;
    const parser *p = &c->a->parser;
    int fits = (p->flags & HEAD_HAS_LENGTH) &&
               p->content_length + BODY_READ_ROOM <= c->env->in_size - b->floor;
    b->mode = BODY_COLLECT;
    b->collect_off = b->floor;
    if (!fits && c->env->fixed_memory) {
        /* no heap: a declared length too long is refused now; chunked is kept while it fits */
        if (p->flags & HEAD_HAS_LENGTH) return MOTE_ETOOBIG;
    } else if (!fits) {
        if (request_has_body(c) &&
            grow_heap_body(c, (p->flags & HEAD_HAS_LENGTH) ? p->content_length : COLLECT_FIRST) < 0)
            return MOTE_ENOMEM;
        b->collect_heap = 1;
    }
    body_wanted(c);
    return MOTE_OK;
}

static void dispatch(mote_conn *c)
{
    const parser *p = &c->a->parser;
    const route *rt;
    int status;

    c->a->req.valid = 1;
    c->a->req.version = (uint8_t)(p->version_minor == 0 ? 10 : 11);
    c->a->req.method = (uint8_t)method_id(c->in + c->in_start + p->method_off, p->method_len);
    if (c->a->req.version == 11) c->keep_alive = !(p->flags & HEAD_CLOSE);
    else c->keep_alive = (p->flags & HEAD_KEEP_ALIVE) && !(p->flags & HEAD_CLOSE);
    c->peer_closes = !c->keep_alive;
    if (request_has_body(c)) make_body_room(c);
    terminate_fields(c->in + c->in_start, p->headers, p->header_count);
    c->in[c->in_start + p->method_off + p->method_len] = '\0';
    c->in[c->in_start + p->target_off + p->target_len] = '\0';
    if (c->env->request_begin) c->env->request_begin(c);

    status = c->a->req.method ? split_target(c) : 501;
    if (status) {
        conn_fail(c, status);
        return;
    }
    rt = router_match(c->env->routes, c->path, c->a->req.path_len);
    start_body(c, rt);
    if (p->target_len == 1 && c->in[c->in_start + p->target_off] == '*') {
        char allow[64];
        allow_list(MOTE_METHODS_ALL, allow);
        answer(c, 204, "Allow", allow); /* OPTIONS *: what the server as a whole supports */
    } else if (!rt) {
        answer(c, 404, NULL, NULL);
    } else if (!refuse_by_route(c, rt)) {
        if (rt->flags & MOTE_ROUTE_COLLECT_BODY) {
            int rc = start_collecting(c);
            if (rc < 0) {
                c->a->body.mode = BODY_DRAIN;
                /* the body is still on the wire: its framing ends here */
                conn_fail(c, rc == MOTE_ETOOBIG ? 413 : 503);
            }
        } else {
            call_route_handler(c);
            if (c->a->body.mode != BODY_STREAM) settle_response(c);
        }
    }
}

/* Room for the next response without a flush: half the buffer for its fields and body, plus
 * the most its status line, Server, Date, framing and Connection can take (mote.h promises it). */
static int output_has_room(const mote_conn *c)
{
    size_t pending = c->out_len - c->out_sent, half = c->env->out_size / 2;
    size_t reserve = response_head_reserve(c);
    return pending == 0 || pending + reserve <= half;
}

static void process(mote_conn *c)
{
    if (c->busy) return; /* re-entered through a flush from inside a handler */
    c->busy = 1;
    while (!c->closing) {
        if (c->phase == PHASE_RESPONDING) break;
        if (c->phase == PHASE_BODY) {
            read_body(c);
            if (c->phase == PHASE_BODY) break;
            continue;
        }
        if (c->in_start == c->in_len || !output_has_room(c)) break;
        switch (parser_execute(&c->a->parser, c->in + c->in_start, c->in_len - c->in_start)) {
        case PARSE_DONE:
            dispatch(c);
            break;
        case PARSE_ERROR:
            conn_fail(c, c->a->parser.status);
            break;
        default:
            if (c->peer_eof) c->closing = 1; /* a truncated head is not answered */
            c->busy = 0;
            return;
        }
    }
    /* the peer sends nothing more: once what it sent is answered, the connection is over */
    if (c->peer_eof && !c->closing && (c->phase == PHASE_BODY || c->in_start == c->in_len))
        c->closing = 1;
    c->busy = 0;
}

/* ---- input -------------------------------------------------------------------------------- */

size_t conn_read_space(mote_conn *c, char **at)
{
    uint32_t size = c->env->in_size;
    if (c->closing || c->peer_eof || !c->in || c->a->body.paused) return 0;
    if (c->in_start == c->in_len) {
        c->in_start = c->in_len = 0;
    } else if (c->in_start > 0 && size - c->in_len < size / 4 && c->phase == PHASE_HEAD) {
        /* move a partial head down: nothing refers to it yet */
        memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
        c->in_len -= c->in_start;
        c->in_start = 0;
    }
    *at = c->in + c->in_len;
    return size - c->in_len;
}

void conn_received(mote_conn *c, size_t n)
{
    c->in_len += (uint32_t)n;
    process(c);
}

void conn_peer_eof(mote_conn *c)
{
    c->peer_eof = 1;
    if (c->in) process(c);
    else c->closing = 1;
}

/* A deferred response is offered room to write whenever output has moved and there is some. */
static void offer_room(mote_conn *c)
{
    mote_response *res = &c->a->res;
    if (!res->deferred || !res->on_ready || res->state == RES_DONE || res->in_ready || c->busy ||
        !output_has_room(c))
        return;
    res->ready_offered = 1;
    res->in_ready = 1;
    res->on_ready(res, res->defer_user);
    res->in_ready = 0;
}

void conn_sent(mote_conn *c, size_t n)
{
    c->out_sent += (uint32_t)n;
    /* rewinding an empty buffer is free, unless a head is being staged past out_len */
    if (c->out_sent == c->out_len && c->a->res.state != RES_STAGED) c->out_sent = c->out_len = 0;
    offer_room(c);
    if (c->in) process(c);
}

void conn_output_queued(mote_conn *c)
{
    if (!c->busy && c->env->kick) c->env->kick(c);
}

/* ---- the request's public controls -------------------------------------------------------- */

int mote_request_read_body(mote_request *req, mote_body_fn fn, void *user)
{
    mote_conn *c;
    if (!req || !fn) return MOTE_EINVAL;
    c = conn_of_request_mut(req);
    if (!c->in_handler || c->phase != PHASE_BODY || c->a->body.mode != BODY_DRAIN ||
        c->a->body.dec.total > 0)
        return MOTE_ESTATE;
    c->a->body.mode = BODY_STREAM;
    c->a->body.on_data = fn;
    c->a->body.user = user;
    body_wanted(c);
    return MOTE_OK;
}

int mote_request_pause(mote_request *req)
{
    mote_conn *c;
    if (!req) return MOTE_EINVAL;
    c = conn_of_request_mut(req);
    if (c->phase != PHASE_BODY || c->a->body.mode != BODY_STREAM) return MOTE_ESTATE;
    c->a->body.paused = 1;
    return MOTE_OK;
}

int mote_request_resume(mote_request *req)
{
    mote_conn *c;
    if (!req) return MOTE_EINVAL;
    c = conn_of_request_mut(req);
    if (!c->a->body.paused) return MOTE_OK;
    c->a->body.paused = 0;
    if (c->in) process(c);
    if (c->env->kick) c->env->kick(c); /* the socket is worth reading again */
    return MOTE_OK;
}

/* ---- how responses end ---------------------------------------------------------------------- */

static void notify_close(mote_conn *c)
{
    mote_response_fn on_close = c->a->res.on_close;
    void *user = c->a->res.defer_user;
    c->a->res.deferred = 0;
    c->a->res.on_ready = c->a->res.on_close = NULL;
    if (on_close) on_close(&c->a->res, user);
}

void conn_response_finished(mote_conn *c)
{
    /* answered before its body ended: the rest is drained, not handed to a consumer whose
     * state on_close may just have freed, and not held back by that consumer's pause */
    if (c->phase == PHASE_BODY && c->a->body.mode == BODY_STREAM) {
        c->a->body.mode = BODY_DRAIN;
        c->a->body.paused = 0;
    }
    if (c->env->request_end) c->env->request_end(c);
    if (c->a->res.deferred) notify_close(c);
    if (c->phase == PHASE_RESPONDING) {
        finish_request(c);
        if (c->in) process(c);
    }
}

void conn_abort(mote_conn *c)
{
    int cut_off;
    c->closing = 1;
    if (!c->a) return;
    cut_off = c->a->req.valid && c->a->res.state != RES_DONE &&
              (c->a->res.state == RES_STREAMING || c->a->res.deferred);
    if (cut_off && c->env->request_end) c->env->request_end(c); /* logged, though cut off */
    if (c->a->res.deferred) {
        c->a->res.state = RES_DONE;
        notify_close(c);
    }
    free_heap_body(c);
}

int conn_fail(mote_conn *c, int status)
{
    if (!c->a || c->a->res.state == RES_STREAMING || c->a->res.state == RES_DONE) {
        c->closing = 1;
        return MOTE_ESTATE;
    }
    c->closing = 1; /* first, so that a flush on the way dispatches nothing more */
    response_discard_staged(c);
    c->keep_alive = 0;
    c->a->res.wants_close = 1;
    answer(c, status, NULL, NULL);
    if (c->a->res.state != RES_DONE) c->a->res.state = RES_DONE; /* no room even for the error */
    c->closing = 1;
    return MOTE_OK;
}
