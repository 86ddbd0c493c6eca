/* exchange.c - the policy every protocol shares for one request and its response; see
 * exchange.h. */
#include "engine/exchange.h"

#include <stddef.h>
#include <string.h>

#include "core/uri.h"

/* ---- the block ---------------------------------------------------------------------------- */

static size_t struct_size(void)
{
    return (sizeof(mote_exchange) + 15u) & ~(size_t)15u;
}

/* The decoded path (and a host taken from the target) fit in max_request_line; the response's
 * header fields get max_response_header_bytes more, and what a short path leaves. */
static size_t area_size(const conn_env *env)
{
    return ((size_t)env->max_request_line + 8u + env->max_response_header_bytes + 7u) & ~(size_t)7u;
}

size_t exchange_block_size(const conn_env *env)
{
    return struct_size() + (size_t)env->max_headers * sizeof(hdr_span) + area_size(env);
}

void exchange_reset(mote_exchange *x, uint32_t id)
{
    memset(&x->req, 0, sizeof x->req);
    x->req.version = 11;
    memset(&x->res, 0, sizeof x->res);
    x->res.status = 200;
    memset(&x->body, 0, sizeof x->body);
    x->id = id;
    x->user = NULL;
    x->release = NULL;
    x->begun = 0;
    x->in_callback = 0;
    x->released = 0;
    x->area_used = 0;
}

mote_exchange *exchange_take(mote_conn *c, const exchange_ops *ops)
{
    char *block = pool_get(c->env->exchanges);
    mote_exchange *x = (mote_exchange *)(void *)block;
    if (!block) return NULL;
    x->ops = ops;
    x->conn = c;
    x->spans = (hdr_span *)(void *)(block + struct_size());
    x->area = (char *)(x->spans + c->env->max_headers);
    x->area_size = (uint32_t)area_size(c->env);
    /* nothing live until exchange_reset(): an abort before then has nothing to cut off */
    x->req.valid = 0;
    x->res.state = RES_DONE;
    x->released = 1;
    return x;
}

void exchange_give_back(mote_exchange *x)
{
    pool_put(x->conn->env->exchanges, (char *)x);
}

mote_exchange *exchange_of_request(const mote_request *req)
{
    return (mote_exchange *)(void *)((char *)(uintptr_t)req - offsetof(mote_exchange, req));
}

mote_exchange *exchange_of_response(const mote_response *res)
{
    return (mote_exchange *)(void *)((char *)(uintptr_t)res - offsetof(mote_exchange, res));
}

void exchange_note(mote_exchange *x, int level, const char *what)
{
    if (x->conn->env->note) x->conn->env->note(x, level, what);
}

/* ---- the target ---------------------------------------------------------------------------- */

static const hdr_span *find_field(const mote_request *req, const char *lower, size_t len)
{
    uint32_t i;
    for (i = 0; i < req->field_count; i++) {
        const hdr_span *h = &req->fields[i];
        if (h->name_len == len && header_name_is(req->base + h->name_off, len, lower)) return h;
    }
    return NULL;
}

/* A copy of s[0..len) in the area, NUL-terminated. */
static const char *area_copy(mote_exchange *x, const char *s, size_t len)
{
    char *p = exchange_area_take(x, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Splits the target into path and query (RFC 9112 §3.2), decodes the path and finds the host.
 * Returns 0 or the status to refuse it with: authority-form is for proxies, asterisk-form only
 * for OPTIONS, and a path with a bad escape, an encoded NUL, or climbing above the root is 400. */
static int split_target(mote_exchange *x)
{
    mote_request *req = &x->req;
    const char *t = req->base + req->target_off;
    uint32_t len = req->target_len, i = 0, path_start, path_end, path_len;
    const char *question;
    const char *authority = NULL;
    uint32_t authority_len = 0;
    const hdr_span *host;
    char *path;
    long n;

    if (len == 1 && t[0] == '*') {
        if (req->method != MOTE_OPTIONS) return 400;
    } else if (t[0] != '/') {
        /* absolute-form: scheme "://" authority, then the path; the authority is the host */
        while (i < len && t[i] != ':' && t[i] != '/') i++;
        if (i == 0 || i + 2 >= len || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/') return 400;
        i += 3;
        authority = t + i;
        while (i < len && t[i] != '/' && t[i] != '?') i++;
        authority_len = (uint32_t)(t + i - authority);
    }
    if (authority_len) {
        req->host = area_copy(x, authority, authority_len);
        if (!req->host) return 414;
        req->host_len = authority_len;
    } else if (req->host) { /* the protocol's: HTTP/1.1's Host, HTTP/2's :authority */
        if (!req->host_len) req->host_len = (uint32_t)strlen(req->host);
    } else if ((host = find_field(req, "host", 4)) != NULL) {
        req->host = req->base + host->value_off;
        req->host_len = host->value_len;
    } else {
        req->host = "";
    }
    path_start = i;
    question = memchr(t + i, '?', len - i);
    path_end = question ? (uint32_t)(question - t) : len;
    req->query = question ? question + 1 : t + len; /* the target's tail: NUL-terminated with it */
    req->query_len = question ? len - path_end - 1 : 0;
    path_len = path_end - path_start;
    if (path_len == 0) {
        req->path = "/"; /* "http://host" and "http://host?q" mean "/" */
        req->path_len = 1;
        return 0;
    }
    /* the area is charged for the path whether it is copied or not: what is left for the
     * response's fields does not depend on the path's shape */
    path = exchange_area_take(x, path_len + 1);
    if (!path) return 414;
    if (uri_path_is_normal(t + path_start, path_len)) {
        req->path = t + path_start; /* NUL-terminated where the target ends */
        if (question) {
            memcpy(path, t + path_start, path_len);
            path[path_len] = '\0';
            req->path = path;
        }
        req->path_len = path_len;
        return 0;
    }
    n = uri_normalize_path(t + path_start, path_len, path);
    if (n < 0) return 400;
    x->area_used -= (uint32_t)(path_len - (size_t)n); /* give back what it shrank */
    req->path = path;
    req->path_len = (uint32_t)n;
    return 0;
}

/* ---- the library's own answers ------------------------------------------------------------ */

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

/* A final answer from the library: status, at most one extra field, a short text body. The
 * connection stays open when the body's framing allows (the protocol decides). */
static void exchange_answer(mote_exchange *x, int status, const char *name, const char *value)
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
    (void)mote_response_status(&x->res, status);
    if (name) (void)mote_response_header(&x->res, name, value);
    if (status == 204) {
        if (mote_response_send(&x->res, NULL, 0) < 0) x->conn->closing = 1;
        return;
    }
    (void)mote_response_header(&x->res, "Content-Type", "text/plain");
    if (mote_response_send(&x->res, body, 5 + len) < 0) x->conn->closing = 1;
}

/* What the handler staged is not for the library's answer. */
static void discard_fields(mote_exchange *x)
{
    if (x->res.fields_len) x->area_used = x->res.fields_off;
    x->res.fields_len = 0;
    x->res.has_server = x->res.has_date = 0;
}

int exchange_fail(mote_exchange *x, int status)
{
    int whole_conn = !x->ops->multiplexed; /* a stream's failure is its own */
    if (x->res.state != RES_IDLE) {
        if (whole_conn) x->conn->closing = 1;
        return MOTE_ESTATE;
    }
    discard_fields(x);
    x->res.wants_close = 1;
    x->body.mode = BODY_DRAIN;
    exchange_answer(x, status, NULL, NULL);
    if (whole_conn) x->conn->closing = 1;
    if (x->res.state != RES_DONE) x->res.state = RES_DONE; /* no room even for the answer */
    return MOTE_OK;
}

/* What the route refuses, checked before the handler and before any 100 Continue: the
 * method (405, or OPTIONS answered for it), an expectation (417), the body length (413), the
 * credentials (401). Returns 1 when the request was answered. */
static int refuse_by_route(mote_exchange *x, const route *rt)
{
    const mote_request *req = &x->req;
    uint64_t limit = rt->max_body_size ? rt->max_body_size : x->conn->env->max_body_size;
    char allow[64];

    if (!(rt->methods & req->method)) {
        allow_list(rt->methods | MOTE_OPTIONS, allow);
        exchange_answer(x, req->method == MOTE_OPTIONS ? 204 : 405, "Allow", allow);
        return 1;
    }
    if (req->flags & REQ_EXPECT_OTHER) {
        exchange_answer(x, 417, NULL, NULL);
        return 1;
    }
    if ((req->flags & REQ_LENGTH_KNOWN) && req->content_length > limit) {
        x->res.wants_close = 1; /* too much to drain */
        exchange_answer(x, 413, NULL, NULL);
        return 1;
    }
    if (rt->auth && !mote_basic_auth_check(req, route_user(rt), route_password(rt))) {
        (void)mote_respond_unauthorized(&x->res, route_realm(rt));
        return 1;
    }
    return 0;
}

/* A handler (or body callback) is over: a response it neither finished nor kept open is
 * finished for it, with 500 (and a log line saying why) when nothing was written. */
static void settle_response(mote_exchange *x)
{
    if (x->res.state == RES_DONE || x->res.deferred) return;
    if (x->res.state == RES_STREAMING) {
        (void)mote_response_end(&x->res);
        return;
    }
    exchange_note(x, MOTE_LOG_WARN,
                  x->res.failed ? "500 in place of a response that could not be sent"
                                : "500: the handler returned without a response");
    discard_fields(x);
    exchange_answer(x, 500, NULL, NULL);
}

void exchange_offer_ready(mote_exchange *x, int first)
{
    mote_response *res = &x->res;
    if (!res->deferred || !res->on_ready || res->state == RES_DONE || res->in_ready ||
        x->in_callback || (first && res->ready_offered) || !x->ops->room(x))
        return;
    res->ready_offered = 1;
    res->in_ready = 1;
    res->on_ready(res, x->user);
    res->in_ready = 0;
}

static void call_handler(mote_exchange *x)
{
    const route *rt = x->body.route;
    x->in_callback = 1;
    rt->handler(&x->req, &x->res, rt->user_data);
    x->in_callback = 0;
    exchange_offer_ready(x, 1);
}

static void call_body_fn(mote_exchange *x, const char *data, size_t len)
{
    x->in_callback = 1;
    x->body.on_data(&x->req, data, len, x->body.user);
    x->in_callback = 0;
    exchange_offer_ready(x, 1);
}

/* ---- dispatching -------------------------------------------------------------------------- */

static void start_collecting(mote_exchange *x)
{
    int rc = x->ops->collect(x);
    if (rc < 0) {
        /* the body is still on the wire: its framing ends here */
        exchange_fail(x, rc == MOTE_ETOOBIG ? 413 : 503);
        if (rc != MOTE_ETOOBIG) exchange_note(x, MOTE_LOG_WARN, "503: no memory to collect the body");
        return;
    }
    x->body.mode = BODY_COLLECT;
    x->ops->want_body(x);
}

void exchange_dispatch(mote_exchange *x)
{
    const conn_env *env = x->conn->env;
    const route *rt;
    int status;

    x->req.valid = 1;
    if (env->exchange_begin) env->exchange_begin(x);
    status = x->req.method ? split_target(x) : 501;
    if (status) {
        exchange_fail(x, status);
        return;
    }
    rt = router_match(env->routes, x->req.path, x->req.path_len);
    x->body.route = rt;
    if (x->req.target_len == 1 && x->req.base[x->req.target_off] == '*') {
        char allow[64];
        allow_list(MOTE_METHODS_ALL, allow);
        exchange_answer(x, 204, "Allow", allow); /* OPTIONS *: what the server as a whole does */
    } else if (!rt) {
        exchange_answer(x, 404, NULL, NULL);
    } else if (!refuse_by_route(x, rt)) {
        if (rt->flags & ROUTE_COLLECT) {
            start_collecting(x);
        } else {
            call_handler(x);
            if (x->body.mode != BODY_STREAM) settle_response(x);
        }
    }
}

uint64_t exchange_body_limit(const mote_exchange *x)
{
    const route *rt = x->body.route;
    return rt && rt->max_body_size ? rt->max_body_size : x->conn->env->max_body_size;
}

/* ---- the body ------------------------------------------------------------------------------ */

void exchange_body_piece(mote_exchange *x, const char *data, size_t len)
{
    if (x->body.mode == BODY_STREAM && len) call_body_fn(x, data, len);
}

void exchange_body_collected(mote_exchange *x, const char *data, uint64_t len)
{
    x->req.body = data;
    x->req.body_len = len;
}

void exchange_body_end(mote_exchange *x)
{
    x->body.ended = 1;
    if (x->body.mode == BODY_STREAM) {
        x->body.mode = BODY_DRAIN; /* nothing more will come */
        call_body_fn(x, NULL, 0);
        settle_response(x);
    } else if (x->body.mode == BODY_COLLECT) {
        call_handler(x);
        settle_response(x);
    }
}

/* ---- how it ends ---------------------------------------------------------------------------- */

void exchange_response_done(mote_exchange *x)
{
    /* answered before its body ended: the rest is drained, not handed to a consumer that is
     * done with it, and not held back by that consumer's pause */
    if (x->body.mode == BODY_STREAM) {
        x->body.mode = BODY_DRAIN;
        x->body.paused = 0;
    }
    if (x->conn->env->exchange_end) x->conn->env->exchange_end(x);
    x->ops->finished(x);
}

int exchange_upgrade(mote_exchange *x, const proto_ops *next, void *ext)
{
    int rc;
    if (x->res.state != RES_IDLE) return MOTE_ESTATE;
    x->res.status = 101;
    rc = x->ops->upgrade(x, next, ext);
    if (rc < 0) return rc;
    x->res.state = RES_DONE;
    exchange_response_done(x);
    return MOTE_OK;
}

void exchange_finished(mote_exchange *x)
{
    mote_conn *c = x->conn;
    c->requests++;
    if (x->release && !x->released) {
        out_seg mark;
        memset(&mark, 0, sizeof mark);
        mark.kind = OUT_MARK;
        mark.u.mark.fn = x->release;
        mark.u.mark.user = x->user;
        if (conn_out_queue(c, &mark) < 0) x->release(x->user, 1); /* (protocols leave room) */
    }
    x->released = 1;
}

void exchange_abort(mote_exchange *x)
{
    int cut_off = x->req.valid && x->res.state != RES_DONE &&
                  (x->res.state == RES_STREAMING || x->res.deferred);
    if (cut_off && x->conn->env->exchange_end) x->conn->env->exchange_end(x); /* logged, though */
    x->res.state = RES_DONE;
    if (!x->released && x->release) x->release(x->user, 0);
    x->released = 1;
}
