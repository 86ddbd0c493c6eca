/* conn.c - the connection state machine; see conn.h.
 *
 * Input lives in in[in_start, in_len): the head being parsed, then the body being read. A
 * request is dispatched once its head is complete and the send buffer is at most half full, so
 * pipelined responses batch up without letting a reader that does not read grow the buffer. */
#include "conn.h"

#include <stddef.h>
#include <string.h>

/* Trailers and chunk-size lines get the same allowance as the head's fields. */
#define BODY_LINE_LIMIT(env) ((env)->max_header_bytes)

mote_conn *conn_of_response(mote_response *res)
{
    return (mote_conn *)(void *)((char *)res - offsetof(mote_conn, res));
}

const mote_conn *conn_of_request(const mote_request *req)
{
    return (const mote_conn *)(const void *)((const char *)req - offsetof(mote_conn, req));
}

size_t conn_block_size(const conn_env *env)
{
    return env->in_size + (size_t)env->max_headers * sizeof(hdr_span) + env->out_size;
}

static void reset_request(mote_conn *c)
{
    memset(&c->req, 0, sizeof c->req);
    c->req.version = 11;
    memset(&c->res, 0, sizeof c->res);
    c->res.status = 200;
    c->phase = PHASE_HEAD;
    c->keep_alive = 1;
    parser_reset(&c->parser);
}

void conn_init(mote_conn *c, const conn_env *env, void *user)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    c->user = user;
    parser_init(&c->parser, NULL, env->max_headers, env->max_request_line, env->max_header_bytes);
    reset_request(c);
}

void conn_attach(mote_conn *c, char *block)
{
    const conn_env *env = c->env;
    c->block = block;
    c->in = block;
    c->parser.headers = (hdr_span *)(void *)(block + env->in_size);
    c->out = block + env->in_size + (size_t)env->max_headers * sizeof(hdr_span);
    c->in_start = c->in_len = 0;
    c->out_sent = c->out_len = 0;
}

int conn_is_idle(const mote_conn *c)
{
    return c->in_start == c->in_len && c->out_sent == c->out_len && c->phase == PHASE_HEAD &&
           c->res.state == RES_IDLE && !c->busy;
}

char *conn_detach(mote_conn *c)
{
    char *block = c->block;
    if (!block || !conn_is_idle(c)) return NULL;
    c->block = c->in = c->out = NULL;
    c->parser.headers = NULL;
    return block;
}

int conn_has_partial_head(const mote_conn *c)
{
    return c->phase == PHASE_HEAD && c->in_len > c->in_start;
}

size_t conn_pending(const mote_conn *c, const char **data)
{
    *data = c->out ? c->out + c->out_sent : NULL;
    return c->out_len - c->out_sent;
}

int conn_is_done(const mote_conn *c)
{
    return c->closing && c->out_sent == c->out_len && !c->busy &&
           (c->res.state == RES_IDLE || c->res.state == RES_DONE);
}

/* ---- dispatching a request -------------------------------------------------------------- */

/* NUL-terminates method, target, names and values in place: each is followed by a delimiter
 * the parser has already checked (SP, ':', OWS or CR), so the head's meaning is unchanged. */
static void terminate_fields(mote_conn *c)
{
    char *base = c->in + c->in_start;
    const parser *p = &c->parser;
    uint32_t i;
    base[p->method_off + p->method_len] = '\0';
    base[p->target_off + p->target_len] = '\0';
    for (i = 0; i < p->header_count; i++) {
        const hdr_span *h = &p->headers[i];
        base[h->name_off + h->name_len] = '\0';
        base[h->value_off + h->value_len] = '\0';
    }
}

/* Finds the path and query of the target (RFC 9112 §3.2). Returns 0 or the status to refuse
 * it with: authority-form is for proxies, and asterisk-form is only for OPTIONS. */
static int split_target(mote_conn *c)
{
    const char *base = c->in + c->in_start;
    const char *t = base + c->parser.target_off;
    uint32_t len = c->parser.target_len, i = 0, path_start;

    if (len == 1 && t[0] == '*') {
        if (!(c->parser.method_len == 7 && memcmp(base + c->parser.method_off, "OPTIONS", 7) == 0))
            return 400;
    } else if (t[0] != '/') {
        /* absolute-form: scheme "://" authority, then the path */
        while (i < len && t[i] != ':') i++;
        if (i == 0 || i + 2 >= len || t[i + 1] != '/' || t[i + 2] != '/') return 400;
        i += 3;
        while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#') i++;
    }
    path_start = i;
    while (i < len && t[i] != '?' && t[i] != '#') i++;
    c->req.path_off = c->parser.target_off + path_start;
    c->req.path_len = i - path_start;
    if (i < len && t[i] == '?') {
        uint32_t q = ++i;
        while (i < len && t[i] != '#') i++;
        c->req.query_off = c->parser.target_off + q;
        c->req.query_len = i - q;
    } else {
        c->req.query_off = c->parser.target_off + i;
        c->req.query_len = 0;
    }
    return 0;
}

static void call_handler(mote_conn *c)
{
    const char *path = c->in + c->in_start + c->req.path_off;
    size_t path_len = c->req.path_len;
    const route *rt = router_match(c->env->routes, path_len ? path : "/", path_len ? path_len : 1);

    if (!rt) {
        mote_respond(&c->res, 404, "text/plain", "404 Not Found\n");
        return;
    }
    rt->handler(&c->req, &c->res, rt->user_data);
    if (c->res.state == RES_DONE || c->res.deferred) return;
    if (c->res.state == RES_STREAMING) {
        mote_response_end(&c->res);
    } else {
        /* the handler answered nothing (or could not): the client still gets an answer */
        response_discard_staged(c);
        c->res.status = 500;
        mote_respond(&c->res, 500, "text/plain", "500 Internal Server Error\n");
    }
}

static void finish_request(mote_conn *c)
{
    c->requests++;
    if (!c->keep_alive || c->closing) {
        c->closing = 1;
        return;
    }
    reset_request(c);
}

/* The response is complete: the head is no longer referenced, and the body comes next. */
static void after_response(mote_conn *c)
{
    c->in_start += c->parser.head_len;
    c->phase = PHASE_BODY;
}

static void dispatch(mote_conn *c)
{
    const parser *p = &c->parser;
    int status;

    terminate_fields(c);
    c->req.version = (uint8_t)(p->version_minor == 0 ? 10 : 11);
    c->req.is_head = p->method_len == 4 && memcmp(c->in + c->in_start + p->method_off, "HEAD", 4) == 0;
    c->req.valid = 1;
    if (c->req.version == 11) c->keep_alive = !(p->flags & HEAD_CLOSE);
    else c->keep_alive = (p->flags & HEAD_KEEP_ALIVE) && !(p->flags & HEAD_CLOSE);

    if (c->env->request_begin) c->env->request_begin(c);
    status = split_target(c);
    if (status == 0 && (p->flags & HEAD_HAS_LENGTH) && p->content_length > c->env->max_body_size)
        status = 413;
    if (status) {
        conn_fail(c, status);
        return;
    }
    body_init(&c->body, (p->flags & HEAD_CHUNKED) != 0, p->content_length, c->env->max_body_size,
              BODY_LINE_LIMIT(c->env));
    call_handler(c);
    if (c->res.state == RES_DONE) after_response(c);
    else c->phase = PHASE_RESPONDING;
}

/* Reads the body past the handler, so the next request starts where this one ends. */
static void drain_body(mote_conn *c)
{
    while (c->phase == PHASE_BODY) {
        const char *data;
        size_t used, data_len;
        int r = body_decode(&c->body, c->in + c->in_start, c->in_len - c->in_start, &used, &data,
                            &data_len);
        c->in_start += (uint32_t)used;
        if (r == BODY_ERROR) {
            c->closing = 1; /* the response is out; the framing that follows cannot be trusted */
            return;
        }
        if (r == BODY_DONE) {
            finish_request(c);
            return;
        }
        if (c->in_start == c->in_len) return;
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
    while (!c->closing && c->phase != PHASE_RESPONDING) {
        if (c->phase == PHASE_BODY) {
            drain_body(c);
            if (c->phase == PHASE_BODY) break;
            continue;
        }
        if (c->in_start == c->in_len || !output_has_room(c)) break;
        switch (parser_execute(&c->parser, c->in + c->in_start, c->in_len - c->in_start)) {
        case PARSE_DONE:
            dispatch(c);
            break;
        case PARSE_ERROR:
            conn_fail(c, c->parser.status);
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

/* ---- input ------------------------------------------------------------------------------- */

size_t conn_read_space(mote_conn *c, char **at)
{
    uint32_t size = c->env->in_size;
    if (c->closing || c->peer_eof || !c->in) return 0;
    if (c->in_start == c->in_len) {
        c->in_start = c->in_len = 0;
    } else if (c->in_start > 0 && size - c->in_len < size / 4 && c->phase != PHASE_RESPONDING) {
        /* move the live bytes down: only a deferred response's request still refers to them */
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
    mote_response *res = &c->res;
    if (!res->deferred || !res->on_ready || res->state == RES_DONE || res->in_ready || c->busy ||
        !output_has_room(c))
        return;
    res->in_ready = 1;
    res->on_ready(res, res->defer_user);
    res->in_ready = 0;
}

void conn_sent(mote_conn *c, size_t n)
{
    c->out_sent += (uint32_t)n;
    /* rewinding an empty buffer is free, unless a head is being staged past out_len */
    if (c->out_sent == c->out_len && c->res.state != RES_STAGED) c->out_sent = c->out_len = 0;
    offer_room(c);
    if (c->in) process(c);
}

void conn_output_queued(mote_conn *c)
{
    if (!c->busy && c->env->kick) c->env->kick(c);
}

/* ---- responses the library writes itself ----------------------------------------------- */

static void notify_close(mote_conn *c)
{
    mote_response_fn on_close = c->res.on_close;
    void *user = c->res.defer_user;
    c->res.deferred = 0;
    c->res.on_ready = c->res.on_close = NULL;
    if (on_close) on_close(&c->res, user);
}

void conn_response_finished(mote_conn *c)
{
    if (c->env->request_end) c->env->request_end(c);
    if (c->res.deferred) notify_close(c);
    if (c->phase == PHASE_RESPONDING) {
        after_response(c);
        if (c->in) process(c);
    }
}

void conn_abort(mote_conn *c)
{
    c->closing = 1;
    if (c->res.deferred) {
        c->res.state = RES_DONE;
        notify_close(c);
    }
}

/* "404 Not Found\n" */
static size_t error_body(char *buf, int status)
{
    const char *reason = mote_status_reason(status);
    size_t len = strlen(reason);
    buf[0] = (char)('0' + status / 100 % 10);
    buf[1] = (char)('0' + status / 10 % 10);
    buf[2] = (char)('0' + status % 10);
    buf[3] = ' ';
    memcpy(buf + 4, reason, len);
    buf[4 + len] = '\n';
    return 5 + len;
}

int conn_fail(mote_conn *c, int status)
{
    char body[48];
    size_t len;
    if (c->res.state == RES_STREAMING || c->res.state == RES_DONE || !c->out) {
        c->closing = 1;
        return MOTE_ESTATE;
    }
    c->closing = 1; /* first, so that a flush on the way dispatches nothing more */
    response_discard_staged(c);
    c->keep_alive = 0;
    c->res.wants_close = 1;
    c->res.status = (uint16_t)status;
    len = error_body(body, status);
    if (mote_response_header(&c->res, "Content-Type", "text/plain") < 0 ||
        mote_response_send(&c->res, body, len) < 0)
        c->res.state = RES_DONE; /* no room even for the error: just close */
    c->closing = 1;
    return MOTE_OK;
}
