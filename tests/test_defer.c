/* test_defer.c - deferred responses (mote_response_defer) on a real mote_conn: a handler that
 * writes until MOTE_EAGAIN, defers and returns; on_ready as the output drains, only when there
 * is room and never from inside the handler or itself; on_close exactly once; requests behind
 * a deferred response; a response ended from outside any I/O event (the kick hook); the
 * connection aborted; HEAD; HTTP/1.0; a request body arriving while the response is open. */
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

/* ---- the shell's kick hook, recorded ----------------------------------------------------- */

static unsigned kick_calls, kicks_while_busy;

static void kick_hook(mote_conn *c)
{
    kick_calls++;
    if (c->busy) kicks_while_busy++;
}

/* ---- one deferred response --------------------------------------------------------------- */

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
    unsigned ready_other_res;

    unsigned close_calls, close_in_handler;
    int close_saw_ended, close_write_rc, close_end_rc;
    char close_target[64], close_method[16], close_host[16];

    unsigned next_while_open;  /* a later request was dispatched while this one was open */
} dstate;

static void dstate_init(dstate *d, harness *h)
{
    memset(d, 0, sizeof *d);
    d->h = h;
    d->piece = 100;
    d->defer_rc = d->handler_rc = d->end_rc = d->close_write_rc = d->close_end_rc = 12345;
    d->close_saw_ended = -1;
    h->ctx = d;
}

/* The dispatch rule: room for a next response when nothing is pending, or when the pending
 * bytes and the most a head can take fit in half the buffer. */
static int has_room(const harness *h)
{
    size_t pending = h_pending(h);
    return pending == 0 || pending + response_head_reserve(&h->conn) <= h->env.out_size / 2;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
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
    if (d->in_handler) d->ready_in_handler++;
    if (d->in_ready) {
        d->ready_reentered++;
        return;
    }
    if (d->ended) d->ready_after_end++;
    if (!has_room(d->h)) d->ready_without_room++;
    if (res != d->res) d->ready_other_res++;
    d->in_ready = 1;
    write_pieces(d, res);
    if (d->sent == d->total && d->end_in_ready && !d->ended) {
        d->ended = 1;
        d->end_rc = mote_response_end(res); /* res is gone once this returns */
    }
    d->in_ready = 0;
}

static void d_close(mote_response *res, void *user)
{
    dstate *d = user;
    mote_request *req = mote_response_request(res);
    d->close_calls++;
    if (d->in_handler) d->close_in_handler++;
    d->close_saw_ended = d->ended;
    copy_str(d->close_target, sizeof d->close_target, mote_request_target(req));
    copy_str(d->close_method, sizeof d->close_method, mote_request_method(req));
    copy_str(d->close_host, sizeof d->close_host, mote_request_header(req, "Host"));
    d->close_write_rc = mote_response_write(res, "x", 1);
    d->close_end_rc = mote_response_end(res);
}

static void h_deferred(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    h_log(h, req);
    d->res = res;
    d->in_handler = 1;
    if (d->defer_first) d->defer_rc = mote_response_defer(res, d->no_ready ? NULL : d_ready, d_close, d);
    if (d->write_in_handler) write_pieces(d, res);
    d->handler_rc = d->last_rc;
    if (!d->defer_first)
        d->defer_rc = mote_response_defer(res, d->no_ready ? NULL : d_ready, d_close, d);
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

/* Takes at most `max` pending bytes with a single conn_sent(). */
static size_t take_once(harness *h, size_t max)
{
    const char *data;
    size_t n = conn_pending(&h->conn, &data);
    if (n > max) n = max;
    if (n == 0) return 0;
    if (h->out_len + n + 1 > h->out_cap) {
        size_t cap = h->out_cap ? h->out_cap : 4096;
        while (cap < h->out_len + n + 1) cap *= 2;
        h->out = realloc(h->out, cap);
        if (!h->out) abort();
        h->out_cap = cap;
    }
    memcpy(h->out + h->out_len, data, n);
    h->out_len += n;
    h->out[h->out_len] = '\0';
    conn_sent(&h->conn, n);
    return n;
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
 * there is room by the dispatch rule, never inside the handler or inside itself; it writes on
 * and ends; on_close follows once, with the request readable; the pipelined request is answered
 * only after the end, and the bytes are exact. */
static void test_defer_on_ready(void)
{
    /* The flush hook during the handler, then during on_ready: FLUSH_ALL and a large
     * FLUSH_SOME make room from inside (where on_ready must still not be called); with
     * FLUSH_ALL or a large FLUSH_SOME in the handler it never sees MOTE_EAGAIN. */
    static const struct {
        int defer_first;
        int handler_flush, ready_flush;
        size_t flush_some;
        size_t step;
        int eagain;           /* the handler's last write gives MOTE_EAGAIN */
    } cfgs[] = {
        {0, FLUSH_NONE, FLUSH_NONE, 0, 37, 1},    {1, FLUSH_NONE, FLUSH_NONE, 0, 1, 1},
        {0, FLUSH_NONE, FLUSH_NONE, 0, 4096, 1},  {1, FLUSH_SOME, FLUSH_SOME, 30, 53, 1},
        {0, FLUSH_SOME, FLUSH_SOME, 7, 200, 1},   {1, FLUSH_SOME, FLUSH_SOME, 60, 5, 1},
        {1, FLUSH_ALL, FLUSH_NONE, 0, 41, 0},     {0, FLUSH_NONE, FLUSH_ALL, 0, 41, 1},
        {1, FLUSH_SOME, FLUSH_SOME, 700, 97, 0},  {0, FLUSH_NONE, FLUSH_SOME, 700, 300, 1},
    };
    size_t k;
    for (k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        harness h;
        dstate d;
        strbuf want = {0};
        const char *data;
        size_t n, guard = 0;
        unsigned missed = 0;
        setup(&h, &d);
        h.env.out_size = 1024;
        h.drain = 0;
        h.flush_mode = cfgs[k].handler_flush;
        h.flush_some = cfgs[k].flush_some;
        d.total = 3000;
        d.write_in_handler = 1;
        d.defer_first = cfgs[k].defer_first;
        d.end_in_ready = 1;
        h_start(&h);
        h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);

        CHECK_EQ_INT(h.log_count, 1);
        CHECK_EQ_INT(d.defer_rc, MOTE_OK);
        CHECK_MSG(d.handler_rc == (cfgs[k].eagain ? MOTE_EAGAIN : MOTE_OK),
                  "config %zu: the handler's last write gave %d", k, d.handler_rc);
        CHECK(d.sent > 0 && (cfgs[k].eagain ? d.sent < d.total : d.sent == d.total));
        CHECK_EQ_INT(d.bad_rc, 0);
        CHECK_EQ_INT(d.ready_calls, 0);
        CHECK_EQ_INT(d.close_calls, 0);
        CHECK_EQ_INT(h.conn.a->res.state, RES_STREAMING); /* neither ended nor replaced */
        n = conn_pending(&h.conn, &data);
        CHECK(n > 0 && h_find(data, n, "0\r\n\r\n") == NULL && h_find(data, n, " 500 ") == NULL);
        if (cfgs[k].eagain) CHECK(!has_room(&h));
        CHECK_EQ_INT(kicks_while_busy, 0);

        /* the reader reads, a step at a time */
        h.flush_mode = cfgs[k].ready_flush;
        while (guard++ < 100000) {
            unsigned before = d.ready_calls;
            if (take_once(&h, cfgs[k].step) == 0) break;
            if (!d.ended && d.ready_calls == before && has_room(&h)) missed++;
        }
        CHECK_EQ_INT(h_pending(&h), 0);
        CHECK_MSG(missed == 0, "config %zu: on_ready not called %u times with room", k, missed);
        /* with a hook that cannot write, each on_ready fills the buffer again: several calls */
        CHECK(d.ready_calls >= (cfgs[k].eagain && cfgs[k].ready_flush == FLUSH_NONE ? 2u : 1u));
        CHECK_EQ_INT(d.ready_in_handler, 0);
        CHECK_EQ_INT(d.ready_reentered, 0);
        CHECK_EQ_INT(d.ready_without_room, 0);
        CHECK_EQ_INT(d.ready_after_end, 0);
        CHECK_EQ_INT(d.ready_other_res, 0);
        CHECK_EQ_INT(d.bad_rc, 0);
        CHECK_EQ_INT(d.sent, d.total);
        CHECK_EQ_INT(d.end_rc, MOTE_OK);
        CHECK_EQ_INT(d.close_calls, 1);
        CHECK_EQ_INT(d.close_saw_ended, 1);
        CHECK_EQ_STR(d.close_target, "/d");
        CHECK_EQ_STR(d.close_method, "GET");
        CHECK_EQ_STR(d.close_host, "x");
        CHECK_EQ_INT(d.close_write_rc, MOTE_ESTATE);
        CHECK_EQ_INT(d.close_end_rc, MOTE_ESTATE);
        CHECK_EQ_INT(h.log_count, 2);
        CHECK(h.log_count == 2 && strcmp(h.log[0], "/d") == 0 && strcmp(h.log[1], "/hello") == 0);
        CHECK_EQ_INT(d.next_while_open, 0);
        CHECK_EQ_INT(kicks_while_busy, 0);

        sb_add(&want, HD_CHUNKED, strlen(HD_CHUNKED));
        sb_chunks(&want, d.total, d.piece);
        sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
        CHECK_OUT_SB(&h, &want, "deferred stream then hello");
        {
            strbuf body = {0};
            size_t used = h_dechunk(h.out + strlen(HD_CHUNKED), h.out_len - strlen(HD_CHUNKED), &body);
            CHECK(used > 0 && body.len == d.total && memcmp(body.p, big, d.total) == 0);
            sb_free(&body);
        }

        /* the connection goes on as usual */
        CHECK(!conn_is_done(&h.conn));
        CHECK(conn_is_idle(&h.conn));
        h_clear_output(&h);
        h.drain = 1;
        h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        CHECK_OUT(&h, HELLO_RESPONSE);
        CHECK_EQ_INT(d.close_calls, 1);
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
    h.flush_mode = FLUSH_NONE;
    d.total = 3000;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.ready_calls, 1);
    CHECK_EQ_INT(d.ready_in_handler, 0);
    CHECK(d.sent > 0 && d.sent < d.total);
    CHECK(h_pending(&h) > 0);
    while (h_pending(&h) > 0 && guard++ < 100000) take_once(&h, 100);
    CHECK_EQ_INT(d.sent, d.total);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(d.ready_reentered, 0);
    CHECK_EQ_INT(d.ready_without_room, 0);
    CHECK_EQ_INT(d.close_calls, 1);
    sb_add(&want, HD_CHUNKED, strlen(HD_CHUNKED));
    sb_chunks(&want, d.total, d.piece);
    sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
    CHECK_OUT_SB(&h, &want, "written from the first on_ready");
    sb_free(&want);
    h_free(&h);
}

/* A deferred response whose output has all gone: the pipelined requests still wait. The
 * application writes and ends it later from outside any I/O event: each call kicks the shell,
 * and then the waiting requests are answered, in order. */
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
    CHECK_EQ_INT(d.close_calls, 0);
    CHECK_EQ_INT(kick_calls, 0); /* everything so far was queued inside processing */

    /* an application timer fires */
    k0 = kick_calls;
    CHECK_EQ_INT(mote_response_write(d.res, "later", 5), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(h_pending(&h), strlen("5\r\nlater\r\n"));
    h_drain(&h, SIZE_MAX); /* the shell writes, having been kicked */
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.close_calls, 0);

    k0 = kick_calls;
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_INT(d.close_saw_ended, 1);
    CHECK_EQ_STR(d.close_target, "/d");
    CHECK_EQ_STR(d.close_host, "x");
    CHECK_EQ_INT(d.close_write_rc, MOTE_ESTATE);
    CHECK_EQ_INT(h.log_count, 3);
    CHECK(h.log_count == 3 && strcmp(h.log[1], "/hello") == 0 && strcmp(h.log[2], "/hello?2") == 0);
    CHECK_EQ_INT(d.next_while_open, 0);
    CHECK_EQ_INT(kicks_while_busy, 0);
    h_drain(&h, SIZE_MAX);
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
    CHECK_EQ_INT(d.close_calls, 0);
    k0 = kick_calls;
    CHECK_EQ_INT(mote_response_write(d.res, "later", 5), MOTE_OK);
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(d.close_calls, 1);
    h_drain(&h, SIZE_MAX);
    CHECK_OUT(&h, HD_CHUNKED "5\r\nabcde\r\n5\r\nlater\r\n0\r\n\r\n");
    CHECK(conn_is_done(&h.conn));
    h_free(&h);
}

/* The handler defers having written nothing (or having only staged a field): no 500. The
 * response is answered later from outside; the head queued by the first call kicks the shell
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
        CHECK_EQ_INT(h.conn.a->res.state, RES_IDLE);
        CHECK(!conn_is_idle(&h.conn));

        k0 = kick_calls;
        if (cases[k].first) {
            CHECK_EQ_INT(mote_response_write(d.res, cases[k].first, strlen(cases[k].first)), MOTE_OK);
            CHECK_MSG(h_pending(&h) > 0, "case %zu: %s, first write \"%s\": head not queued", k,
                      cases[k].method, cases[k].first);
            CHECK_MSG(kick_calls > k0,
                      "case %zu: %s, first write \"%s\" queued %zu bytes outside any I/O event "
                      "without kicking the shell", k, cases[k].method, cases[k].first, h_pending(&h));
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
        CHECK_EQ_INT(d.close_calls, 1);
        CHECK_EQ_STR(d.close_method, cases[k].method);
        CHECK_EQ_INT(h.log_count, 2);
        h_drain(&h, SIZE_MAX);
        sb_add(&want, HELLO_RESPONSE, strlen(HELLO_RESPONSE));
        CHECK_OUT_SB(&h, &want, cases[k].method);
        sb_free(&want);
        h_free(&h);
    }
}

/* The shell closes the connection while a response is deferred: on_close once, with the
 * request readable; every later call on the response is refused; on_ready never comes, and
 * nothing more is dispatched. */
static void test_defer_abort(void)
{
    harness h;
    dstate d;
    setup(&h, &d);
    h.env.out_size = 1024;
    h.drain = 0;
    h.flush_mode = FLUSH_NONE;
    d.total = 3000;
    d.write_in_handler = 1;
    d.end_in_ready = 1;
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK_EQ_INT(d.handler_rc, MOTE_EAGAIN);
    CHECK_EQ_INT(d.close_calls, 0);

    conn_abort(&h.conn);
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_INT(d.close_saw_ended, 0);
    CHECK_EQ_STR(d.close_target, "/d");
    CHECK_EQ_STR(d.close_host, "x");
    CHECK_EQ_INT(d.close_write_rc, MOTE_ESTATE);
    CHECK_EQ_INT(d.close_end_rc, MOTE_ESTATE);
    CHECK_EQ_INT(mote_response_write(d.res, "x", 1), MOTE_ESTATE);
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_ESTATE);
    CHECK_EQ_INT(mote_response_send(d.res, "x", 1), MOTE_ESTATE);
    CHECK_EQ_INT(mote_response_defer(d.res, d_ready, d_close, &d), MOTE_ESTATE);
    conn_abort(&h.conn);
    CHECK_EQ_INT(d.close_calls, 1);

    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(d.ready_calls, 0);
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(h_find(h_out(&h), h.out_len, "0\r\n\r\n") == NULL);
    CHECK(conn_is_done(&h.conn));
    h_free(&h);
}

/* Deferring a finished response is refused, and its on_close never comes; deferring and then
 * ending inside the handler calls on_close there, and the connection goes on. */
static void h_defer_after_done(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    const char *t = mote_request_target(req);
    h_log(h, req);
    d->res = res;
    d->in_handler = 1;
    if (strcmp(t, "/late") == 0) {
        mote_respond(res, 200, "text/plain", "done");
        d->defer_rc = mote_response_defer(res, d_ready, d_close, d);
    } else if (strcmp(t, "/null") == 0) {
        d->defer_rc = mote_response_defer(NULL, d_ready, d_close, d);
        mote_respond(res, 200, "text/plain", "null");
    } else if (strcmp(t, "/inside") == 0) {
        d->defer_rc = mote_response_defer(res, d_ready, d_close, d);
        mote_response_write(res, "in", 2);
        d->ended = 1;
        d->end_rc = mote_response_end(res);
    } else if (strcmp(t, "/staged") == 0) {
        mote_response_status(res, 201);
        mote_response_header(res, "X-Kept", "1");
        d->defer_rc = mote_response_defer(res, NULL, d_close, d);
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
    CHECK_EQ_INT(d.close_calls, 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 4\r\n\r\ndone" HELLO_RESPONSE);
    CHECK_EQ_INT(d.close_calls, 0);

    h_clear_output(&h);
    h_feed_str(&h, "GET /null HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_EINVAL);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 4\r\n\r\nnull");

    h_clear_output(&h);
    d.ended = 0;
    h_feed_str(&h, "GET /inside HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(d.defer_rc, MOTE_OK);
    CHECK_EQ_INT(d.end_rc, MOTE_OK);
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_INT(d.close_in_handler, 1);
    CHECK_EQ_STR(d.close_target, "/inside");
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
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_INT(h.log_count, 7);
    CHECK_EQ_INT(d.next_while_open, 0);
    h_drain(&h, SIZE_MAX);
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
    h.flush_mode = FLUSH_NONE;
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
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_STR(d.close_method, "HEAD");
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
    h.flush_mode = FLUSH_NONE;
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
    CHECK_EQ_INT(d.close_calls, 0);

    k0 = kick_calls;
    d.ended = 1;
    CHECK_EQ_INT(mote_response_end(d.res), MOTE_OK);
    CHECK(kick_calls > k0);
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_STR(d.close_target, "/d");
    h_drain(&h, SIZE_MAX);
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
 * after it is answered. */
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
                CHECK_EQ_INT(d.close_calls, 1);
                CHECK_EQ_STR(d.close_method, "POST");
                CHECK_EQ_STR(d.close_target, "/d");
                h_drain(&h, SIZE_MAX);
                if (before < body.len) {
                    CHECK_EQ_INT(h_feed(&h, body.p + before, body.len - before, splits[s]),
                                 body.len - before);
                    CHECK_EQ_INT(h_feed_str(&h, next, splits[s]), strlen(next));
                }
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

/* Strings a handler got from its request stay valid until its response is finished (mote.h),
 * deferred or not: input that arrives while a deferred response has written nothing must not
 * move the request's head under them. */
static const char *kept_target, *kept_host;
static void h_defer_keep(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    dstate *d = h->ctx;
    h_log(h, req);
    d->res = res;
    kept_target = mote_request_target(req);
    kept_host = mote_request_header(req, "Host");
    d->defer_rc = mote_response_defer(res, NULL, d_close, d);
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
    CHECK_EQ_INT(d.close_calls, 1);
    CHECK_EQ_STR(d.close_target, "/keep");
    CHECK_EQ_STR(d.close_host, "yz");
    h_drain(&h, SIZE_MAX);
    whole = fed / strlen(pipelined);
    CHECK_EQ_INT(h.log_count, 2 + whole);
    CHECK_EQ_INT(h_count(h_out(&h), h.out_len, HELLO_RESPONSE), 1 + whole);
    sb_free(&more);
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
    return check_report("test_defer");
}
