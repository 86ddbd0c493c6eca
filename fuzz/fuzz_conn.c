/* fuzz_conn.c - the whole connection machine (src/conn.c with the router, request, response
 * and body code) fed arbitrary bytes in arbitrary pieces, with handlers that take every
 * response path: one-shot, streamed (chunked or of declared length, ended short), deferred and
 * written from on_ready or from "outside", collected and streamed request bodies with
 * pause/resume, method and body limits, Basic auth, a handler that answers nothing, and the
 * default handler.
 *
 * Input: two config bytes, a split header (fuzz_split.h), then the bytes a client sends.
 *   byte 0: bits 0-1 how output is taken after each piece (all; a slow reader; not at all until
 *           the connection stops reading; all, in 1-byte conn_sent() calls), bit 2 small limits,
 *           bit 3 the peer's EOF at the end, bit 4 the flush hook writes, bits 5-7 sent-step.
 *   byte 1: how much the slow reader takes per piece.
 *
 * Invariants, beyond ASan/UBSan: the output is a well-formed response stream
 * (http_validator.h) with nothing after a response that closes; no handler runs once the
 * connection is closing; no more final responses than dispatched requests plus one for a
 * malformed head; the connection never stalls with nothing to do; every deferred response hears
 * on_close exactly once; and every allocation is returned by conn_abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conn_env.h"
#include "fuzz_split.h"
#include "http_validator.h"

#define MAX_REQS 8192

typedef struct app {
    fenv f;
    req_info reqs[MAX_REQS];
    size_t begun;
    unsigned handler_calls, defers, closes;
    mote_request *paused;          /* a body consumer paused: resumed at the next tick */
    mote_response *manual;         /* a deferred response the "application" ends at a tick */
    mote_response *open;           /* any deferred response not yet closed */
    /* the streamed response in progress */
    uint64_t stream_left;
    size_t piece;
    int ready_calls;
    uint64_t body_bytes;
    int pause_body;
} app;

static app A;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_conn: invariant failed: %s\n", what);
    abort();
}

/* ---- handlers --------------------------------------------------------------------------- */

static void enter(mote_request *req)
{
    A.handler_calls++;
    if (A.f.conn.closing) fail("a handler was called on a closing connection");
    if (!req || mote_request_response(req) == NULL) fail("no response for the request");
}

static uint64_t query_num(mote_request *req, const char *key, uint64_t dflt, uint64_t max)
{
    char buf[24];
    uint64_t v;
    if (mote_query_get(mote_request_query(req), key, buf, sizeof buf) < 0) return dflt;
    v = strtoull(buf, NULL, 10);
    return v > max ? max : v;
}

static void h_hello(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_respond(res, 200, "text/plain", "hello\n");
}

static void h_send(mote_request *req, mote_response *res, void *user)
{
    static char body[20000];
    size_t n = (size_t)query_num(req, "n", 5, sizeof body);
    (void)user;
    enter(req);
    memset(body, 'b', n);
    mote_response_header(res, "X-Test", "send");
    mote_response_send(res, body, n); /* too big for the buffer: the handler's 500 */
}

static void h_status(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_response_status(res, atoi(mote_request_path(req).ptr + 8));
    mote_response_send(res, "status body\n", 12);
}

static void on_close(mote_response *res, void *user)
{
    (void)user;
    A.closes++;
    if (A.closes > A.defers) fail("on_close more often than mote_response_defer");
    if (A.open != res) fail("on_close for a response not deferred");
    A.open = A.manual = NULL;
}

static void defer(mote_response *res, mote_response_fn on_ready)
{
    if (mote_response_defer(res, on_ready, on_close, NULL) == MOTE_OK) {
        A.defers++;
        A.open = res;
        if (!on_ready) A.manual = res;
    }
}

/* Writes pieces until the stream is done (and ends it) or the buffer is full (returns 0). */
static int stream_more(mote_response *res)
{
    static char piece[4096];
    while (A.stream_left > 0) {
        size_t n = A.piece < A.stream_left ? A.piece : (size_t)A.stream_left;
        int rc;
        memset(piece, 's', n);
        rc = mote_response_write(res, piece, n);
        if (rc == MOTE_EAGAIN) return 0;
        if (rc < 0) break; /* too big, or past a declared length: end it here */
        A.stream_left -= n;
    }
    mote_response_end(res);
    return 1;
}

static void stream_ready(mote_response *res, void *user)
{
    (void)user;
    A.ready_calls++;
    stream_more(res);
}

static void start_stream(mote_request *req, mote_response *res)
{
    A.piece = (size_t)query_num(req, "s", 100, 4096);
    if (A.piece == 0) A.piece = 1;
    if (!stream_more(res)) defer(res, stream_ready);
}

static void h_stream(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    A.stream_left = query_num(req, "n", 300, 100000);
    start_stream(req, res);
}

static void h_length(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_response_length(res, query_num(req, "n", 10, 100000));
    A.stream_left = query_num(req, "w", 10, 100000); /* fewer closes, more fails the write */
    start_stream(req, res);
}

static void h_defer(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_response_write(res, "deferred\n", 9);
    A.stream_left = 3;
    A.piece = 4;
    defer(res, query_num(req, "manual", 0, 1) ? NULL : stream_ready);
}

static void h_collect(mote_request *req, mote_response *res, void *user)
{
    mote_str body = mote_request_body(req);
    const char *t = mote_request_trailer(req, "x-t");
    (void)user;
    enter(req);
    if (t) mote_response_header(res, "X-Trailer-Len", t[0] ? "some" : "0");
    mote_response_send(res, body.ptr, body.len);
}

static void on_body(mote_request *req, const void *data, size_t len, void *user)
{
    (void)user;
    if (data == NULL) {
        char msg[40];
        const char *t = mote_request_trailer(req, "x-t");
        snprintf(msg, sizeof msg, "%llu%s\n", (unsigned long long)A.body_bytes, t ? "+t" : "");
        mote_respond(mote_request_response(req), 200, "text/plain", msg);
        return;
    }
    A.body_bytes += len;
    if (A.pause_body && mote_request_pause(req) == MOTE_OK) A.paused = req;
}

static void h_echo(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    A.body_bytes = 0;
    A.pause_body = (int)query_num(req, "pause", 0, 1);
    if (mote_request_read_body(req, on_body, NULL) != MOTE_OK)
        mote_respond(res, 409, "text/plain", "no body to read\n");
}

static void h_silent(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_response_header(res, "X-Staged", "then dropped"); /* the library answers 500 */
}

static void h_auth(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    if (!mote_basic_auth_check(req, "user", "pass")) fail("auth route let wrong credentials in");
    mote_respond(res, 200, "text/plain", "welcome\n");
}

/* Every accessor of the request: strings NUL-terminated where promised, counts consistent. */
static void h_info(mote_request *req, mote_response *res, void *user)
{
    char key[32], val[32], peer[64], msg[160];
    mote_str q = mote_request_query(req), path = mote_request_path(req);
    size_t pos = 0, i, n = mote_request_header_count(req), pairs = 0;
    (void)user;
    enter(req);
    while (pairs < 1000 && mote_query_next(q, &pos, key, sizeof key, val, sizeof val) == 1) {
        if (strlen(key) >= sizeof key || strlen(val) >= sizeof val) fail("query pair overflows");
        if (pos > q.len) fail("query position past its end");
        pairs++;
    }
    for (i = 0; i < n; i++) {
        mote_header h;
        if (mote_request_header_at(req, i, &h) != MOTE_OK) fail("header_at in range fails");
        if (strlen(h.name) != h.name_len || strlen(h.value) != h.value_len)
            fail("header not NUL-terminated at its length");
    }
    if (mote_request_header_at(req, n, &(mote_header){0}) == MOTE_OK) fail("header_at past end");
    if (strlen(path.ptr) != path.len || path.len == 0) fail("path not NUL-terminated");
    mote_request_peer(req, peer, sizeof peer, NULL);
    snprintf(msg, sizeof msg, "%s %s %d %zu %zu %lld %d %zu\n", mote_request_method(req),
             mote_request_header(req, "host") ? "h" : "-", mote_request_version(req), pairs, n,
             (long long)mote_request_content_length(req), mote_request_is_tls(req),
             mote_request_host(req).len);
    mote_respond(res, 200, "text/plain", msg);
}

/* ---- set-up ----------------------------------------------------------------------------- */

static void on_request_begin(mote_conn *c)
{
    if (A.begun < MAX_REQS) {
        A.reqs[A.begun].is_head = c->a->req.method == MOTE_HEAD;
        A.reqs[A.begun].version = c->a->req.version;
    }
    A.begun++;
}

static void add(const char *path, unsigned flags, const mote_route_options *o, mote_handler fn)
{
    if (router_add(&A.f.routes, path, flags, o, fn, NULL) != MOTE_OK) fail("router_add");
}

static void add_routes(void)
{
    static const mote_basic_auth auth = {"fuzz", "user", "pass"};
    mote_route_options get_only = {MOTE_GET, 0, NULL}, small = {0, 8, NULL},
                       authed = {MOTE_GET | MOTE_POST, 0, &auth};
    add("/", MOTE_ROUTE_EXACT, NULL, h_hello);
    add("/send", MOTE_ROUTE_EXACT, NULL, h_send);
    add("/status", MOTE_ROUTE_PREFIX, NULL, h_status);
    add("/stream", MOTE_ROUTE_EXACT, NULL, h_stream);
    add("/length", MOTE_ROUTE_EXACT, NULL, h_length);
    add("/defer", MOTE_ROUTE_EXACT, NULL, h_defer);
    add("/collect", MOTE_ROUTE_PREFIX | MOTE_ROUTE_COLLECT_BODY, NULL, h_collect);
    add("/small", MOTE_ROUTE_EXACT | MOTE_ROUTE_COLLECT_BODY, &small, h_collect);
    add("/echo", MOTE_ROUTE_EXACT, NULL, h_echo);
    add("/silent", MOTE_ROUTE_EXACT, NULL, h_silent);
    add("/get", MOTE_ROUTE_EXACT, &get_only, h_hello);
    add("/auth", MOTE_ROUTE_PREFIX, &authed, h_auth);
    add("/info", MOTE_ROUTE_PREFIX, NULL, h_info);
    A.f.routes.fallback.handler = h_info;
}

/* ---- driving ---------------------------------------------------------------------------- */

typedef struct drive {
    int mode;            /* 0 all, 1 slow reader, 2 no reader, 3 all in 1-byte sends */
    size_t slow, step;
} drive;

/* What the application does between socket events: resumes a paused body, ends a deferred
 * response that waits for it. Returns 1 if it did something. */
static int tick(void)
{
    if (A.paused) {
        mote_request *req = A.paused;
        A.paused = NULL;
        mote_request_resume(req);
        return 1;
    }
    if (A.manual) {
        mote_response *res = A.manual;
        A.manual = NULL;
        mote_response_write(res, "manual\n", 7);
        mote_response_end(res);
        return 1;
    }
    return 0;
}

static void after_piece(const drive *d)
{
    if (d->mode == 0) fenv_drain(&A.f, SIZE_MAX, d->step);
    else if (d->mode == 1) fenv_drain(&A.f, d->slow, d->step);
    else if (d->mode == 3) fenv_drain(&A.f, SIZE_MAX, 1);
    tick();
}

/* The connection takes no bytes: something must be able to move, or it has hung. */
static int unstick(const drive *d)
{
    char *at;
    /* after_piece()'s tick may have freed it already */
    if (conn_read_space(&A.f.conn, &at) > 0) return 1;
    if (fenv_drain(&A.f, SIZE_MAX, d->step) || tick()) return 1;
    if (!A.f.conn.closing && !A.f.conn.peer_eof) {
        const mote_conn *c = &A.f.conn;
        fprintf(stderr, "phase %d in %u..%u of %u, out %u..%u, res state %d deferred %d, "
                "busy %d, paused %d, begun %zu, handlers %u\n", c->phase, c->in_start,
                c->in_len, c->env->in_size, c->out_sent, c->out_len, c->a->res.state,
                c->a->res.deferred, c->busy, c->a->body.paused, A.begun, A.handler_calls);
        fail("stalled: reads nothing, writes nothing");
    }
    return 0;
}

static void feed_all(const char *p, size_t len, splitter *s, const drive *d)
{
    size_t off = 0, rounds = 0;
    while (off < len && rounds++ < 4 * len + 100) {
        size_t took = fenv_feed(&A.f, p + off, split_min(split_next(s), len - off));
        off += took;
        after_piece(d);
        if (took == 0 && !unstick(d)) break;
    }
}

/* The peer is done sending: everything still owed must come out. */
static void settle(const drive *d)
{
    int rounds = 0;
    while (rounds++ < 10000 && (fenv_drain(&A.f, SIZE_MAX, d->step) || tick())) {
    }
}

static void check_output(void)
{
    vstate v;
    if (getenv("FUZZ_CONN_DUMP")) fwrite(A.f.out, 1, A.f.out_len, stderr); /* for triage */
    if (A.begun > MAX_REQS) return;
    validate_stream(&v, A.f.out, A.f.out_len, A.reqs, A.begun);
    if (v.finals > A.begun + 1) fail("more responses than requests");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t steps[8] = {0, 1, 3, 7, 16, 64, 256, 1000};
    splitter s;
    drive d;
    size_t skip;
    if (size < 2) return 0;
    memset(&A, 0, sizeof A);
    d.mode = data[0] & 3;
    d.step = steps[data[0] >> 5];
    d.slow = ((size_t)data[1] + 1) * 8;
    fenv_init(&A.f, (data[0] >> 2) & 1);
    A.f.flush_drains = (data[0] >> 4) & 1;
    A.f.env.request_begin = on_request_begin;
    add_routes();
    A.f.router_live = A.f.live;
    fenv_start(&A.f, NULL);
    skip = 2 + split_init(&s, data + 2, size - 2);

    feed_all((const char *)data + skip, size - skip, &s, &d);
    if ((data[0] >> 3) & 1) conn_peer_eof(&A.f.conn);
    settle(&d);
    check_output();
    fenv_finish(&A.f);
    if (A.closes != A.defers) fail("a deferred response never heard on_close");
    return 0;
}
