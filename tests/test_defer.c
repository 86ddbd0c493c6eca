/* test_defer.c - deferred responses (mote_response_defer) and the request's release
 * (mote_request_set_user) on a real mote_conn: a handler that writes until MOTE_EAGAIN, defers
 * and returns; on_ready once as the handler returns and then as the output drains, only when
 * there is room and never from inside a callback; the release exactly once, after the last
 * byte of the response has gone (or, cut off, when the connection is), never inside a call of
 * the application's; requests behind a deferred response; a response ended from outside any
 * I/O event (the kick hook); the connection aborted; HEAD; HTTP/1.0; a request body arriving
 * while the response is open; bodies sent from where they are (mote_response_send_static). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"

static char big[70000];

static void fill_big(void)
{
    size_t i;
    for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
}

#define HD_CHUNKED "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n"
#define HELLO_RESPONSE                                                                     \
    "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"

/* ---- the engine's kick hook, recorded ------------------------------------------------------- */

static unsigned kick_calls, kicks_while_busy;

static void kick_hook(mote_conn *c)
{
    kick_calls++;
    if (c->busy) kicks_while_busy++;
}

/* ---- one deferred response ---------------------------------------------------------------- */

typedef struct dstate {
    harness *h;
    size_t total, piece;       /* body bytes to write, in pieces of this size */
    size_t sent;               /* body bytes accepted so far */
    int write_in_handler;      /* the handler writes pieces (else it only defers) */
    int defer_first;           /* the handler defers before writing (else after) */
    int no_ready;              /* defer without on_ready */
    int end_in_ready;          /* on_ready ends the response once `total` is written */

    mote_response *res;
    int defer_rc, handler_rc, last_rc, bad_rc, end_rc;
    int in_handler, in_ready, ended;
    unsigned ready_calls, ready_in_handler, ready_reentered, ready_without_room, ready_after_end;
    unsigned ready_other_res, ready_bad_user;

    unsigned release_calls, release_in_callback;
    int release_completed;
    size_t pending_at_release;   /* output still queued when the release came */

    unsigned next_while_open;  /* a later request was dispatched while this one was open */
} dstate;

static void dstate_init(dstate *d, harness *h)
{
    memset(d, 0, sizeof *d);
    d->h = h;
    d->piece = 100;
    d->defer_rc = d->handler_rc = d->end_rc = 12345;
    d->release_completed = -1;
    h->ctx = d;
}

/* Writes pieces until `total` is written or a write is refused. */
static void write_pieces(dstate *d, mote_response *res)
{
    size_t guard = 0;
    while (d->sent < d->total && guard++ < 100000) {
        size_t n = d->total - d->sent < d->piece ? d->total - d->sent : d->piece;
        int rc = mote_response_write(res, big + d->sent, n);
        d->last_rc = rc;
        if (rc != MOTE_OK) {
            if (rc != MOTE_EAGAIN) d->bad_rc = rc;
            return;
        }
        d->sent += n;
    }
}

static void d_ready(mote_response *res, void *user)
{
    dstate *d = user;
    d->ready_calls++;
    if (user != d->h->ctx) d->ready_bad_user++;
    if (d->in_handler) d->ready_in_handler++;
    if (d->in_ready) {
        d->ready_reentered++;
        return;
    }
    if (d->ended) d->ready_after_end++;
    if (!h_has_room(d->h)) d->ready_without_room++;
    if (res != d->res) d->ready_other_res++;
    d->in_ready = 1;
    write_pieces(d, res);
    if (d->sent == d->total && d->end_in_ready && !d->ended) {
        d->ended = 1;
        d->end_rc = mote_response_end(res); /* res is not touched after its end */
    }
    d->in_ready = 0;
}

static void d_release(void *user, int completed)
{
    dstate *d = user;
    d->release_calls++;
    if (d->in_handler || d->in_ready) d->release_in_callback++;
    d->release_completed = completed;
    d->pending_at_release = d->h->conn.b ? h_pending(d->h) : 0;
}

static void h_deferred(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    h_log(h, req);
    d->res = res;
    d->in_handler = 1;
    CHECK_EQ_INT(mote_request_set_user(req, d, d_release), MOTE_OK);
    CHECK(mote_request_user(req) == d);
    if (d->defer_first) d->defer_rc = mote_response_defer(res, d->no_ready ? NULL : d_ready);
    if (d->write_in_handler) write_pieces(d, res);
    d->handler_rc = d->last_rc;
    if (!d->defer_first) d->defer_rc = mote_response_defer(res, d->no_ready ? NULL : d_ready);
    d->in_handler = 0;
}

static void h_hello(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    h_log(h, req);
    if (d && !d->ended) d->next_while_open++;
    mote_respond(res, 200, "text/plain", "hello");
}

/* The chunks write_pieces() makes of big[0..total), and the last-chunk. */
static void sb_chunks(strbuf *b, size_t total, size_t piece)
{
    size_t off;
    for (off = 0; off < total; off += piece) {
        size_t n = total - off < piece ? total - off : piece;
        sb_printf(b, "%zx\r\n", n);
        sb_add(b, big + off, n);
        sb_add(b, "\r\n", 2);
    }
    sb_add(b, "0\r\n\r\n", 5);
}

static void setup(harness *h, dstate *d)
{
    h_init(h);
    dstate_init(d, h);
    h->env.kick = kick_hook;
    kick_calls = kicks_while_busy = 0;
    h_route(h, "/d", MOTE_ROUTE_EXACT, h_deferred);
    h_route(h, "/hello", MOTE_ROUTE_EXACT, h_hello);
}

#define CHECK_OUT_SB(h, want, what)                                                          \
    CHECK_MSG((h)->out_len == (want)->len && memcmp(h_out(h), (want)->p, (want)->len) == 0,   \
              "%s: output (%zu bytes):\n----\n%s\n---- want (%zu bytes):\n%s\n----", (what),  \
              (h)->out_len, h_out(h), (want)->len, (want)->p)

/* ---- tests ----------------------------------------------------------------------------- */

/* The handler writes until MOTE_EAGAIN (the reader reads nothing), defers and returns: the
 * response stays open (no end, no 500). As the output drains, on_ready is called exactly when
 * there is room, never inside the handler or inside itself; it writes on and ends; the release
 * follows once, after the last byte went; the pipelined request is answered only after the
 * end, and the bytes are exact. */
static void test_defer_on_ready(void)
{
    static const struct {
        int defer_first;
        size_t step;         /* bytes the reader takes at a time */
    } cfgs[] = {{0, 37}, {1, 1}, {0, 4096}, {1, 53}, {0, 200}, {1, 5}};
    size_t k;
    for (k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        harness h;
        dstate d;
        strbuf want = {0};
        size_t guard = 0;
        unsigned missed = 0;
        setup(&h, &d);
        h.env.out_size = 1024;
        h.drain = 0;
        d.total = 3000;
        d.write_in_handler = 1;
        d.defer_first = cfgs[k].defer_first;
        d.end_in_ready = 1;
        h_start(&h);
        h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);

        CHECK_EQ_INT(h.log_count, 1);
        CHECK_EQ_INT(d.defer_rc, MOTE_OK);
        CHECK_MSG(d.handler_rc == MOTE_EAGAIN, "config %zu: the handler's last write gave %d", k,
                  d.handler_rc);
        CHECK(d.sent > 0 && d.sent < d.total);
        CHECK_EQ_INT(d.bad_rc, 0);
        CHECK_EQ_INT(d.ready_calls, 0); /* no room as the handler returned */
        CHECK_EQ_INT(d.release_calls, 0);
        CHECK(h_find(h.conn.b->out, h.conn.b->out_len, "0\r\n\r\n") == NULL);
        CHECK(!h_has_room(&h));
        CHECK_EQ_INT(kicks_while_busy, 0);

        /* the reader reads, a step at a time */
        while (guard++ < 100000) {
            unsigned before = d.ready_calls;
            if (h_take_once(&h, cfgs[k].step) == 0) break;
            if (!d.ended && d.ready_calls == before && h_has_room(&h)) missed++;
        }
        CHECK_EQ_INT(h_pending(&h), 0);
        CHECK_MSG(missed == 0, "config %zu: on_ready not called %u times with room", k, missed);
        CHECK(d.ready_calls >= 2); /* each on_ready fills the buffer again */
        CHECK_EQ_INT(d.ready_in_handler, 0);
        CHECK_EQ_INT(d.ready_reentered, 0);
        CHECK_EQ_INT(d.ready_without_room, 0);
        CHECK_EQ_INT(d.ready_after_end, 0);
        CHECK_EQ_INT(d.ready_other_res, 0);
        CHECK_EQ_INT(d.ready_bad_user, 0);
        CHECK_EQ_INT(d.bad_rc, 0);
        CHECK_EQ_INT(d.sent, d.total);
        CHECK_EQ_INT(d.end_rc, MOTE_OK);
        CHECK_EQ_INT(d.release_calls, 1);
        CHECK_EQ_INT(d.release_completed, 1);
        CHECK_EQ_INT(d.release_in_callback, 0);
        CHECK_EQ_INT(h.log_count, 2);
        CHECK(h.log_count == 2 && strcmp(h.log[0], "/d") == 0 && strcmp(h.log[1], "/hello") == 0);
        CHECK_EQ_INT(d.next_while_open, 0);
        CHECK_EQ_INT(kicks_while_busy, 0);

        sb_add(&want, HD_CHUNKED, strlen(HD_CHUNKED));
        sb_chunks(&want, d.total, d.piece);
        sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
        CHECK_OUT_SB(&h, &want, "deferred stream then hello");

        /* the connection goes on as usual */
        CHECK(!conn_is_done(&h.conn));
        CHECK(conn_is_idle(&h.conn));
        h_clear_output(&h);
        h.drain = 1;
        h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        CHECK_OUT(&h, HELLO_RESPONSE);
        CHECK_EQ_INT(d.release_calls, 1);
        sb_free(&want);
        h_free(&h);
    }
}

/* The handler defers with on_ready and writes nothing: on_ready is offered once as soon as the
 * handler has returned (there is room), not only after output has moved, which would never
 * happen; it writes the whole response from there as the reader drains it. */
static void test_defer_ready_at_once(void)
{
    harness h;
    dstate d;
    strbuf want = {0};
    size_t guard = 0;
    setup(&h, &d);
    h.env.out_size = 1024;
    h.drain = 0;
    d.total = 3000;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.ready_calls, 1);
    CHECK_EQ_INT(d.ready_in_handler, 0);
    CHECK(d.sent > 0 && d.sent < d.total);
    CHECK(h_pending(&h) > 0);
    while (h_pending(&h) > 0 && guard++ < 100000) h_take_once(&h, 100);
    CHECK_EQ_INT(d.sent, d.total);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(d.ready_reentered, 0);
    CHECK_EQ_INT(d.ready_without_room, 0);
    CHECK_EQ_INT(d.release_calls, 1);
    sb_add(&want, HD_CHUNKED, strlen(HD_CHUNKED));
    sb_chunks(&want, d.total, d.piece);
    sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
    CHECK_OUT_SB(&h, &want, "written from the first on_ready");
    sb_free(&want);
    h_free(&h);
}

/* A deferred response whose output has all gone: the pipelined requests still wait. The
 * application writes and ends it later from outside any I/O event: each call kicks the engine,
 * and then the waiting requests are answered, in order; the release comes once the end is out. */
static void test_defer_outside(void)
{
    harness h;
    dstate d;
    strbuf want = {0};
    unsigned k0;
    setup(&h, &d);
    d.total = 5;
    d.piece = 5;
    d.write_in_handler = 1;
    d.no_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /hello?2 HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, HD_CHUNKED "5\r\nabcde\r\n");
    CHECK_EQ_INT(h_pending(&h), 0);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.release_calls, 0);
    CHECK_EQ_INT(kick_calls, 0); /* everything so far was queued inside processing */

    /* an application timer fires */
    k0 = kick_calls;
    CHECK_EQ_INT(mote_response_write(d.res, "later", 5), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(h_pending(&h), strlen("5\r\nlater\r\n"));
    h_drain(&h, SIZE_MAX); /* the shell writes, having been kicked */
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.release_calls, 0);

    k0 = kick_calls;
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(d.release_calls, 0); /* not inside the application's own call */
    CHECK_EQ_INT(h.log_count, 3);
    CHECK(h.log_count == 3 && strcmp(h.log[1], "/hello") == 0 && strcmp(h.log[2], "/hello?2") == 0);
    CHECK_EQ_INT(d.next_while_open, 0);
    CHECK_EQ_INT(kicks_while_busy, 0);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.release_completed, 1);
    sb_printf(&want, HD_CHUNKED "5\r\nabcde\r\n5\r\nlater\r\n0\r\n\r\n" HELLO_RESPONSE HELLO_RESPONSE);
    CHECK_OUT_SB(&h, &want, "ended from outside");
    CHECK(conn_is_idle(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* the peer closes its side while the response is open: the response still completes,
     * then the connection is done */
    setup(&h, &d);
    d.total = 5;
    d.piece = 5;
    d.write_in_handler = 1;
    d.no_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    h_eof(&h);
    CHECK(!conn_is_done(&h.conn));
    k0 = kick_calls;
    CHECK_EQ_INT(mote_response_write(d.res, "later", 5), MOTE_OK);
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_OUT(&h, HD_CHUNKED "5\r\nabcde\r\n5\r\nlater\r\n0\r\n\r\n");
    CHECK(conn_is_done(&h.conn));
    h_free(&h);
}

/* The handler defers having written nothing (or having only staged a field): no 500. The
 * response is answered later from outside; the head queued by the first call kicks the engine
 * like any other output. */
static void test_defer_nothing_written(void)
{
    static const struct {
        const char *method;
        const char *first;    /* the first piece written from outside; NULL: mote_respond */
    } cases[] = {
        {"GET", ""}, {"GET", "abc"}, {"HEAD", "abc"}, {"HEAD", ""}, {"GET", NULL}, {"HEAD", NULL},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        harness h;
        dstate d;
        strbuf want = {0};
        char req[128];
        int head = strcmp(cases[k].method, "HEAD") == 0;
        unsigned k0;
        setup(&h, &d);
        d.no_ready = 1;
        h_start(&h);
        snprintf(req, sizeof req, "%s /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                 cases[k].method);
        h_feed_str(&h, req, 0);
        CHECK_EQ_INT(h.out_len, 0);
        CHECK_EQ_INT(h.log_count, 1);
        CHECK_EQ_INT(d.defer_rc, MOTE_OK);
        CHECK(!conn_is_idle(&h.conn));

        k0 = kick_calls;
        if (cases[k].first) {
            CHECK_EQ_INT(mote_response_write(d.res, cases[k].first, strlen(cases[k].first)), MOTE_OK);
            CHECK_MSG(h_pending(&h) > 0, "case %zu: %s, first write \"%s\": head not queued", k,
                      cases[k].method, cases[k].first);
            CHECK_MSG(kick_calls > k0,
                      "case %zu: %s, first write \"%s\" queued %zu bytes outside any I/O event "
                      "without kicking the engine", k, cases[k].method, cases[k].first,
                      h_pending(&h));
            CHECK_EQ_INT(h.log_count, 1);
            h_drain(&h, SIZE_MAX);
            k0 = kick_calls;
            d.ended = 1;
            CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
            CHECK(kick_calls > k0);
            sb_add(&want, HD_CHUNKED, strlen(HD_CHUNKED));
            if (!head && *cases[k].first)
                sb_printf(&want, "%zx\r\n%s\r\n", strlen(cases[k].first), cases[k].first);
            if (!head) sb_add(&want, "0\r\n\r\n", 5);
        } else {
            d.ended = 1;
            CHECK_EQ_INT(mote_respond(d.res, 200, "text/plain", "late"), MOTE_OK);
            CHECK(kick_calls > k0);
            sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                             "Content-Length: 4\r\n\r\n%s", head ? "" : "late");
        }
        CHECK_EQ_INT(h.log_count, 2);
        h_drain(&h, SIZE_MAX);
        CHECK_EQ_INT(d.release_calls, 1);
        sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
        CHECK_OUT_SB(&h, &want, cases[k].method);
        sb_free(&want);
        h_free(&h);
    }
}

/* The connection is closed while a response is deferred: the release once, not completed;
 * on_ready never comes, and nothing more is dispatched. */
static void test_defer_abort(void)
{
    harness h;
    dstate d;
    setup(&h, &d);
    h.env.out_size = 1024;
    h.drain = 0;
    d.total = 3000;
    d.write_in_handler = 1;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.handler_rc, MOTE_EAGAIN);
    CHECK_EQ_INT(d.release_calls, 0);

    conn_abort(&h.conn);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.release_completed, 0);
    CHECK(conn_abort(&h.conn) == NULL);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.ready_calls, 0);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* the response ended but not all of it sent: not completed either */
    setup(&h, &d);
    h.drain = 0;
    d.total = 300;
    d.write_in_handler = 1;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK(h_pending(&h) > 0);
    h_take_once(&h, 10);
    CHECK_EQ_INT(d.release_calls, 0);
    conn_abort(&h.conn);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.release_completed, 0);
    h_free(&h);
}

/* Deferring a finished response is refused; deferring, writing and ending inside the handler
 * releases after the handler has returned and the bytes have gone, and the connection goes on;
 * fields staged before the deferral survive until the response is sent from outside. */
static void h_defer_after_done(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    const char *t = mote_request_target(req);
    h_log(h, req);
    d->res = res;
    d->in_handler = 1;
    mote_request_set_user(req, d, d_release);
    if (strcmp(t, "/late") == 0) {
        mote_respond(res, 200, "text/plain", "done");
        d->defer_rc = mote_response_defer(res, d_ready);
    } else if (strcmp(t, "/null") == 0) {
        d->defer_rc = mote_response_defer(NULL, d_ready);
        mote_respond(res, 200, "text/plain", "null");
    } else if (strcmp(t, "/inside") == 0) {
        d->defer_rc = mote_response_defer(res, d_ready);
        d->last_rc = mote_response_write(res, "in", 2);
        d->ended = 1;
        d->end_rc = mote_response_end(res);
    } else if (strcmp(t, "/staged") == 0) {
        mote_response_status(res, 201);
        mote_response_header(res, "X-Kept", "1");
        d->defer_rc = mote_response_defer(res, NULL);
    }
    d->in_handler = 0;
}

static void test_defer_after_done(void)
{
    harness h;
    dstate d;
    setup(&h, &d);
    h_route(&h, "/late", MOTE_ROUTE_EXACT, h_defer_after_done);
    h_route(&h, "/null", MOTE_ROUTE_EXACT, h_defer_after_done);
    h_route(&h, "/inside", MOTE_ROUTE_EXACT, h_defer_after_done);
    h_route(&h, "/staged", MOTE_ROUTE_EXACT, h_defer_after_done);
    h_start(&h);

    d.ended = 1; /* /hello comes after a finished response */
    h_feed_str(&h, "GET /late HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_ESTATE);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.release_in_callback, 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 4\r\n\r\ndone" HELLO_RESPONSE);

    h_clear_output(&h);
    dstate_init(&d, &h);
    h_feed_str(&h, "GET /null HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_EINVAL);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 4\r\n\r\nnull");

    h_clear_output(&h);
    dstate_init(&d, &h);
    h_feed_str(&h, "GET /inside HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(d.release_in_callback, 0);
    CHECK_OUT(&h, HD_CHUNKED "2\r\nin\r\n0\r\n\r\n" HELLO_RESPONSE);
    CHECK_EQ_INT(d.next_while_open, 0);

    /* staged, deferred, then sent from outside: the field and status survive */
    h_clear_output(&h);
    dstate_init(&d, &h);
    h_feed_str(&h, "GET /staged HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(h.out_len, 0); /* no 500 */
    CHECK_EQ_INT(h.log_count, 6);
    d.ended = 1;
    CHECK_EQ_INT(mote_response_send(d.res, "later", 5), MOTE_OK);
    CHECK_EQ_INT(d.release_calls, 0);
    CHECK_EQ_INT(h.log_count, 7);
    CHECK_EQ_INT(d.next_while_open, 0);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_OUT(&h, "HTTP/1.1 201 Created\r\n" H_PREFIX "X-Kept: 1\r\nContent-Length: 5\r\n\r\nlater"
                  HELLO_RESPONSE);
    h_free(&h);
}

/* HEAD with a deferred streamed response: the head only, however much is written, and the
 * pipelined request after it answered. The writes all fit (they send nothing), so on_ready,
 * offered as the handler returns, ends the response at once. */
static void test_defer_head(void)
{
    harness h;
    dstate d;
    setup(&h, &d);
    h.env.out_size = 1024;
    h.drain = 0;
    d.total = 3000;
    d.write_in_handler = 1;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "HEAD /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.bad_rc, 0);
    CHECK_EQ_INT(h_pending(&h), strlen(HD_CHUNKED HELLO_RESPONSE));
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.ready_calls, 1);
    CHECK_EQ_INT(d.ready_in_handler, 0);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK_EQ_INT(h.log_count, 2);
    CHECK_OUT(&h, HD_CHUNKED HELLO_RESPONSE);
    CHECK(!conn_is_done(&h.conn));
    h_free(&h);
}

/* HTTP/1.0: the deferred response is close-delimited; the connection is not done while it is
 * open, even with nothing pending, and is done once it ends; the next request is never read. */
static void test_defer_http10(void)
{
    harness h;
    dstate d;
    strbuf want = {0};
    unsigned k0;
    char *at;
    setup(&h, &d);
    h.env.out_size = 1024;
    h.drain = 0;
    d.total = 3000;
    d.write_in_handler = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n", 0);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.handler_rc, MOTE_EAGAIN);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.sent, d.total);
    CHECK_EQ_INT(d.ready_without_room, 0);
    CHECK_EQ_INT(h_pending(&h), 0);
    CHECK(!conn_is_done(&h.conn));
    CHECK_EQ_INT(d.release_calls, 0);

    k0 = kick_calls;
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.release_calls, 1);
    CHECK(conn_is_done(&h.conn));
    CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
    CHECK_EQ_INT(h.log_count, 1);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Connection: close\r\n\r\n");
    sb_add(&want, big, d.total);
    CHECK_OUT_SB(&h, &want, "HTTP/1.0");
    sb_free(&want);
    h_free(&h);
}

/* The request's body arrives while its response is deferred, some of it (or none) only after
 * the end: it is read past after the end, never parsed as requests, and the pipelined request
 * after it is answered. The release comes when the body has been read too. */
static void test_defer_body_drain(void)
{
    static const char fake[] = "GET /evil HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char next[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    static const size_t splits[] = {0, 1, 7};
    int chunked;
    size_t s, portion;
    for (chunked = 0; chunked < 2; chunked++) {
        for (s = 0; s < sizeof splits / sizeof splits[0]; s++) {
            for (portion = 0; portion < 3; portion++) {
                harness h;
                dstate d;
                strbuf head = {0}, body = {0};
                size_t before;
                setup(&h, &d);
                h_route(&h, "/evil", MOTE_ROUTE_EXACT, h_hello);
                d.total = 5;
                d.piece = 5;
                d.write_in_handler = 1;
                d.no_ready = 1;
                h_start(&h);
                if (chunked) {
                    sb_printf(&head, "POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
                    sb_printf(&body, "%zx\r\n%s\r\n0\r\n\r\n", strlen(fake), fake);
                } else {
                    sb_printf(&head, "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                              strlen(fake));
                    sb_printf(&body, "%s", fake);
                }
                before = portion == 0 ? body.len : portion == 1 ? body.len / 2 : 0;
                CHECK_EQ_INT(h_feed(&h, head.p, head.len, splits[s]), head.len);
                CHECK_EQ_INT(h.log_count, 1);
                CHECK_EQ_INT(h_feed(&h, body.p, before, splits[s]), before);
                if (before == body.len) CHECK_EQ_INT(h_feed_str(&h, next, splits[s]), strlen(next));
                CHECK_EQ_INT(h.log_count, 1);
                CHECK_OUT(&h, HD_CHUNKED "5\r\nabcde\r\n");

                d.ended = 1;
                CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
                h_drain(&h, SIZE_MAX);
                CHECK_EQ_INT(d.release_calls, before == body.len ? 1 : 0);
                if (before < body.len) {
                    CHECK_EQ_INT(h_feed(&h, body.p + before, body.len - before, splits[s]),
                                 body.len - before);
                    CHECK_EQ_INT(h_feed_str(&h, next, splits[s]), strlen(next));
                }
                CHECK_EQ_INT(d.release_calls, 1);
                CHECK_EQ_INT(d.release_completed, 1);
                CHECK_MSG(h.log_count == 2 && strcmp(h.log[1], "/hello") == 0,
                          "chunked %d, split %zu, %zu body bytes before the end: %zu requests, "
                          "second \"%s\"", chunked, splits[s], before, h.log_count,
                          h.log_count > 1 ? h.log[1] : "");
                CHECK(!h_logged(&h, "/evil"));
                CHECK_OUT(&h, HD_CHUNKED "5\r\nabcde\r\n0\r\n\r\n" HELLO_RESPONSE);
                CHECK(!conn_is_done(&h.conn));
                CHECK(conn_is_idle(&h.conn));
                sb_free(&head);
                sb_free(&body);
                h_free(&h);
            }
        }
    }
}

/* Strings a handler got from its request stay valid until its release (mote.h), deferred or
 * not: input that arrives while a deferred response has written nothing must not move the
 * request's head under them. */
static const char *kept_target, *kept_host;
static void h_defer_keep(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    h_log(h, req);
    d->res = res;
    kept_target = mote_request_target(req);
    kept_host = mote_request_header(req, "Host");
    mote_request_set_user(req, d, d_release);
    d->defer_rc = mote_response_defer(res, NULL);
}

static void test_defer_request_strings_stay(void)
{
    harness h;
    dstate d;
    strbuf more = {0};
    const char *pipelined = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t fed, whole, i;
    setup(&h, &d);
    h_route(&h, "/keep", MOTE_ROUTE_EXACT, h_defer_keep);
    h_start(&h);
    d.ended = 1; /* /hello requests come either before or after */
    h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /keep HTTP/1.1\r\nHost: yz\r\n\r\n", 0);
    CHECK_EQ_INT(h.log_count, 2);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK(kept_target && strcmp(kept_target, "/keep") == 0);
    for (i = 0; i * strlen(pipelined) < h.env.in_size + 256; i++)
        sb_add(&more, pipelined, strlen(pipelined));
    fed = h_feed(&h, more.p, more.len, 0);
    CHECK(fed > 0);
    CHECK_EQ_INT(h.log_count, 2);
    CHECK_MSG(kept_target && strcmp(kept_target, "/keep") == 0,
              "the deferred request's target, taken in its handler, now reads \"%.20s\"",
              kept_target ? kept_target : "(null)");
    CHECK_MSG(kept_host && strcmp(kept_host, "yz") == 0,
              "the deferred request's Host value, taken in its handler, now reads \"%.20s\"",
              kept_host ? kept_host : "(null)");
    CHECK_EQ_STR(mote_request_target(mote_response_request(d.res)), "/keep");

    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.release_calls, 1);
    whole = fed / strlen(pipelined);
    CHECK_EQ_INT(h.log_count, 2 + whole);
    CHECK_EQ_INT(h_count(h_out(&h), h.out_len, HELLO_RESPONSE), 1 + whole);
    sb_free(&more);
    h_free(&h);
}

/* ---- bodies sent from where they are ----------------------------------------------------- */

/* A body borrowed (mote_response_send_static) goes out from where it is, and the release, which
 * may free it, comes only once its last byte has been sent; pipelined responses around it are
 * in order. A borrowed body larger than the send buffer needs no room in it. */
static char borrowed[50000];
static void h_static(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    size_t len = strcmp(mote_request_target(req), "/s?big") == 0 ? sizeof borrowed : 300;
    h_log(h, req);
    d->in_handler = 1;
    mote_request_set_user(req, d, d_release);
    d->end_rc = mote_response_send_static(res, borrowed, len);
    d->in_handler = 0;
}

static void test_send_static(void)
{
    static const size_t steps[] = {1, 100, 65536};
    size_t k, i;
    for (i = 0; i < sizeof borrowed; i++) borrowed[i] = (char)('A' + i % 23);
    for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        harness h;
        dstate d;
        strbuf want = {0};
        size_t guard = 0, released_at = 0;
        setup(&h, &d);
        h.env.out_size = 1024;
        h.drain = 0;
        h_route(&h, "/s", MOTE_ROUTE_EXACT, h_static);
        h_start(&h);
        h_feed_str(&h, "GET /s?big HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        CHECK_EQ_INT(d.end_rc, MOTE_OK);
        CHECK_EQ_INT(d.release_calls, 0);
        while (guard++ < 1000000) {
            unsigned before = d.release_calls;
            if (h_take_once(&h, steps[k]) == 0) break;
            if (d.release_calls > before && !released_at) released_at = h.out_len;
        }
        CHECK_EQ_INT(d.release_calls, 2);
        CHECK_EQ_INT(d.release_in_callback, 0);
        CHECK_EQ_INT(d.release_completed, 1);
        sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: %zu\r\n\r\n", sizeof borrowed);
        sb_add(&want, borrowed, sizeof borrowed);
        /* the first release came with the borrowed body's last byte, not before */
        CHECK_MSG(released_at >= want.len, "released after %zu of %zu bytes", released_at, want.len);
        sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
        sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 300\r\n\r\n");
        sb_add(&want, borrowed, 300);
        CHECK_OUT_SB(&h, &want, "borrowed bodies");
        CHECK(conn_is_idle(&h.conn));
        sb_free(&want);
        h_free(&h);
    }
}

/* A file's bytes through its read callback (the harness reads OUT_FILE segments with it): the
 * file is closed once, after its last byte, or when the connection goes; HEAD closes it unsent. */
typedef struct test_file {
    const char *bytes;
    size_t len;
    unsigned reads, closes;
} test_file;

static long tf_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    test_file *f = ctx;
    f->reads++;
    if (off >= f->len) return 0;
    if (len > f->len - off) len = (size_t)(f->len - off);
    memcpy(buf, f->bytes + off, len);
    return (long)len;
}

static void tf_close(void *ctx)
{
    ((test_file *)ctx)->closes++;
}

static test_file tfile;
static void h_file(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    mote_file f = {-1, tf_read, tf_close, &tfile};
    h_log(h, req);
    d->end_rc = mote_response_send_file(res, &f, 7, tfile.len - 7);
}

static void test_send_file(void)
{
    harness h;
    dstate d;
    strbuf want = {0};
    static const char text[] = "skip me: the rest of this file is sent, from offset seven on.";
    tfile.bytes = text;
    tfile.len = sizeof text - 1;

    tfile.reads = tfile.closes = 0;
    setup(&h, &d);
    h_route(&h, "/f", MOTE_ROUTE_EXACT, h_file);
    h_start(&h);
    h.drain = 0;
    h_feed_str(&h, "GET /f HTTP/1.1\r\nHost: x\r\n\r\nHEAD /f HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(tfile.closes, 0);
    h.drain_step = 5;
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(tfile.closes, 2); /* the GET's once sent, the HEAD's unread */
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: %zu\r\n\r\n%s",
              tfile.len - 7, text + 7);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: %zu\r\n\r\n", tfile.len - 7);
    CHECK_OUT_SB(&h, &want, "a file");
    sb_free(&want);
    h_free(&h);

    /* the connection goes with the file half sent: closed all the same */
    tfile.reads = tfile.closes = 0;
    setup(&h, &d);
    h_route(&h, "/f", MOTE_ROUTE_EXACT, h_file);
    h_start(&h);
    h.drain = 0;
    h_feed_str(&h, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    h_drain(&h, 100);
    CHECK_EQ_INT(tfile.closes, 0);
    conn_abort(&h.conn);
    CHECK_EQ_INT(tfile.closes, 1);
    h_free(&h);
}

int main(void)
{
    fill_big();
    test_defer_on_ready();
    test_defer_ready_at_once();
    test_defer_outside();
    test_defer_nothing_written();
    test_defer_abort();
    test_defer_after_done();
    test_defer_head();
    test_defer_http10();
    test_defer_body_drain();
    test_defer_request_strings_stay();
    test_send_static();
    test_send_file();
    return check_report("test_defer");
}
