/* fuzz_conn.c - the whole connection machine (src/engine with HTTP/1.1, the router, request,
 * response and body code) fed arbitrary bytes in arbitrary pieces, with handlers that take
 * every response path: one-shot (copied, borrowed, a file), streamed (chunked or of declared
 * length, ended short), deferred and written from on_ready or from "outside", collected and
 * streamed request bodies with pause/resume, method and body limits, Basic auth, a handler that
 * answers nothing, and the default route.
 *
 * Input: two config bytes, a split header (fuzz_split.h), then the bytes a client sends.
 *   byte 0: bits 0-1 how output is taken after each piece (all; a slow reader; not at all until
 *           the connection stops reading; all, in 1-byte conn_sent() calls), bit 2 small limits,
 *           bit 3 the peer's EOF at the end, bit 4 static-memory mode, bits 5-7 sent-step.
 *   byte 1: how much the slow reader takes per piece.
 *
 * Invariants, beyond ASan/UBSan: the output is a well-formed response stream
 * (http_validator.h) with nothing after a response that closes; no handler runs once the
 * connection is closing; no more final responses than dispatched requests plus one for a
 * malformed head; the connection never stalls with nothing to do; every request's release
 * runs exactly once, never inside a callback of the application's; every file is closed once;
 * and every allocation is returned by conn_abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conn_env.h"
#include "fuzz_split.h"
#include "http_validator.h"

#define MAX_REQS 8192

enum { U_NONE, U_SET, U_RELEASED };

typedef struct app {
    fenv f;
    req_info reqs[MAX_REQS];
    uint8_t users[MAX_REQS];       /* each handled request's release: U_* */
    size_t begun;
    unsigned handler_calls, in_app, files_opened, files_closed;
    mote_request *paused;          /* a body consumer paused: resumed at the next tick */
    uint8_t *paused_user;
    mote_response *manual;         /* a deferred response the "application" ends at a tick */
    uint8_t *manual_user;
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

static void on_release(void *user, int completed)
{
    uint8_t *u = user;
    (void)completed;
    if (A.in_app) fail("a release inside a callback of the application's");
    if (*u != U_SET) fail("a release twice, or for a request that set none");
    *u = U_RELEASED;
    if (A.manual_user == u) {
        A.manual = NULL;
        A.manual_user = NULL;
    }
    if (A.paused_user == u) {
        A.paused = NULL;
        A.paused_user = NULL;
    }
}

static void enter(mote_request *req)
{
    uint8_t *u = A.handler_calls < MAX_REQS ? &A.users[A.handler_calls] : NULL;
    A.handler_calls++;
    if (A.f.conn.closing) fail("a handler was called on a closing connection");
    if (!req || mote_request_response(req) == NULL) fail("no response for the request");
    if (u) {
        *u = U_SET;
        if (mote_request_set_user(req, u, on_release) != MOTE_OK) fail("set_user");
    }
}

/* The release token of the request being handled, or NULL. */
static uint8_t *token_of(mote_request *req)
{
    return mote_request_user(req);
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
    if (query_num(req, "static", 0, 1)) mote_response_send_static(res, body, n);
    else mote_response_send(res, body, n); /* past the buffer: from a copy, or (static) 500 */
}

/* A file of `n` bytes of 'f', read through its callback; closed once whatever happens. */
static long file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    uint64_t size = (uint64_t)(uintptr_t)ctx;
    if (off >= size) return 0;
    if (len > size - off) len = (size_t)(size - off);
    memset(buf, 'f', len);
    return (long)len;
}

static void file_close(void *ctx)
{
    (void)ctx;
    A.files_closed++;
    if (A.files_closed > A.files_opened + 1) fail("a file closed more often than it was sent");
}

static void h_file(mote_request *req, mote_response *res, void *user)
{
    uint64_t n = query_num(req, "n", 100, 100000);
    mote_file f = {-1, file_read, file_close, (void *)(uintptr_t)n};
    (void)user;
    enter(req);
    A.files_opened++;
    if (mote_response_send_file(res, &f, 0, n) < 0) A.files_opened--;
}

static void h_status(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_response_status(res, atoi(mote_request_path(req).ptr + 8));
    mote_response_send(res, "status body\n", 12);
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
    A.in_app++;
    stream_more(res);
    A.in_app--;
}

static void start_stream(mote_request *req, mote_response *res)
{
    A.piece = (size_t)query_num(req, "s", 100, 4096);
    if (A.piece == 0) A.piece = 1;
    if (!stream_more(res)) mote_response_defer(res, stream_ready);
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
    int manual = (int)query_num(req, "manual", 0, 1);
    (void)user;
    enter(req);
    if (mote_response_write(res, "deferred\n", 9) < 0) return; /* the library ends it */
    A.stream_left = 3;
    A.piece = 4;
    if (mote_response_defer(res, manual ? NULL : stream_ready) == MOTE_OK && manual) {
        A.manual = res;
        A.manual_user = token_of(req);
    }
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
        A.in_app++;
        mote_respond(mote_request_response(req), 200, "text/plain", msg);
        A.in_app--;
        return;
    }
    A.body_bytes += len;
    if (A.pause_body && mote_request_pause(req) == MOTE_OK) {
        A.paused = req;
        A.paused_user = token_of(req);
    }
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

static void on_exchange_begin(mote_exchange *x)
{
    if (A.begun < MAX_REQS) {
        A.reqs[A.begun].is_head = x->req.method == MOTE_HEAD;
        A.reqs[A.begun].version = x->req.version;
    }
    A.begun++;
}

static void add(const char *path, mote_match match, mote_body_policy body, unsigned methods,
                uint64_t max_body, const mote_basic_auth *auth, mote_handler fn)
{
    mote_route_def def = {path, match, fn, NULL, methods, body, max_body, auth};
    if (router_add(&A.f.routes, &def, NULL) != MOTE_OK) fail("router_add");
}

static void add_routes(void)
{
    static const mote_basic_auth auth = {"fuzz", "user", "pass"};
    const mote_match exact = MOTE_ROUTE_EXACT, prefix = MOTE_ROUTE_PREFIX;
    const mote_body_policy stream = MOTE_BODY_STREAM, collect = MOTE_BODY_COLLECT;
    add("/", exact, stream, 0, 0, NULL, h_hello);
    add("/send", exact, stream, 0, 0, NULL, h_send);
    add("/file", exact, stream, 0, 0, NULL, h_file);
    add("/status", prefix, stream, 0, 0, NULL, h_status);
    add("/stream", exact, stream, 0, 0, NULL, h_stream);
    add("/length", exact, stream, 0, 0, NULL, h_length);
    add("/defer", exact, stream, 0, 0, NULL, h_defer);
    add("/collect", prefix, collect, 0, 0, NULL, h_collect);
    add("/small", exact, collect, 0, 8, NULL, h_collect);
    add("/echo", exact, stream, 0, 0, NULL, h_echo);
    add("/silent", exact, stream, 0, 0, NULL, h_silent);
    add("/get", exact, stream, MOTE_GET, 0, NULL, h_hello);
    add("/auth", prefix, stream, MOTE_GET | MOTE_POST, 0, &auth, h_auth);
    add("/info", prefix, stream, 0, 0, NULL, h_info);
    add(NULL, MOTE_ROUTE_DEFAULT, stream, 0, 0, NULL, h_info);
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
        A.manual_user = NULL;
        if (mote_response_write(res, "manual\n", 7) < 0) {
            /* refused (no room): the end below still ends it */
        }
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
        if (c->b)
            fprintf(stderr, "in %u..%u of %u, out %u (%u live), %u segments, timer %d, busy %d, "
                    "begun %zu, handlers %u\n", c->b->in_start, c->b->in_len, c->env->in_size,
                    c->b->out_len, c->b->out_live, c->b->seg_count, (int)conn_timer(c), c->busy,
                    A.begun, A.handler_calls);
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
    fenv_init(&A.f, (data[0] >> 2) & 1, (data[0] >> 4) & 1);
    A.f.env.exchange_begin = on_exchange_begin;
    add_routes();
    A.f.router_live = A.f.live;
    fenv_start(&A.f, NULL, NULL);
    skip = 2 + split_init(&s, data + 2, size - 2);

    feed_all((const char *)data + skip, size - skip, &s, &d);
    if ((data[0] >> 3) & 1) conn_peer_eof(&A.f.conn);
    settle(&d);
    check_output();
    fenv_finish(&A.f);
    {
        size_t i;
        for (i = 0; i < A.handler_calls && i < MAX_REQS; i++)
            if (A.users[i] == U_SET) fail("a request never released");
    }
    if (A.files_closed != A.files_opened) fail("a file sent and never closed");
    return 0;
}
