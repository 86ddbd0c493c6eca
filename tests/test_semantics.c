/* test_semantics.c - HTTP/1.1 semantics through a real connection machine (issue 3): request
 * bodies streamed with back-pressure and trailers, bodies collected in place or on the heap,
 * framing refused with the connection closed, Expect: 100-continue, per-route methods, target
 * normalisation and absolute-form, Basic authentication, and responses of declared length.
 * Each scenario is fed through conn_harness.h; most in every split of the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"

#define REQ_B "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
#define SMUGGLED "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
#define CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"

/* ---- what the handlers saw -------------------------------------------------------------- */

typedef struct seen {
    /* mote_request_read_body() */
    strbuf got;                 /* body bytes of the current request, in order */
    int calls;                  /* handler calls */
    int pieces;                 /* data calls */
    int ends;                   /* end calls (data NULL, len 0) */
    int bad_end;                /* an end call with len != 0 */
    int empty_piece;            /* a data call with len 0 */
    int after_end;              /* a data call after the end call */
    int read_rc, read_again_rc;
    int pause_rc, pause_first;  /* pause when the first piece arrives */
    int pause_outside_rc;
    int64_t content_length;
    mote_request *req;
    int trailer_early;          /* a trailer was readable before the end call */
    int header_gave_trailer;    /* mote_request_header() found a trailer field */
    char trailer[128];
    int trailer_found, trailer_nul;
    char trailer2[128];
    int trailer_host_null;      /* a header field is not a trailer */
    size_t pending_before_read, pending_after_read;
    char after_read[64];        /* the output queued by mote_request_read_body() */
    /* collected bodies */
    int collect_calls;
    int in_place, on_heap;
    size_t live_in_handler;
    /* methods, targets */
    unsigned method_id;
    char path[256], target[256], query[128], host[128];
    size_t path_len, host_len;
    /* auth */
    int auth_results[16];
} seen;

static seen S;

static void seen_reset(void)
{
    sb_free(&S.got);
    memset(&S, 0, sizeof S);
}

/* A counting allocator for env.alloc: every allocation and free, and failure on demand. */
typedef struct counting {
    size_t allocs, frees, live, bytes;
    int fail;
    void *last;
} counting;

static counting K;

static void *k_alloc(void *ctx, size_t n)
{
    counting *k = ctx;
    void *p;
    if (k->fail) return NULL;
    p = malloc(n);
    if (!p) return NULL;
    k->allocs++;
    k->live++;
    k->bytes += n;
    k->last = p;
    return p;
}

static void k_free(void *ctx, void *p)
{
    counting *k = ctx;
    if (!p) return;
    k->frees++;
    k->live--;
    free(p);
}

static void use_counting(harness *h)
{
    memset(&K, 0, sizeof K);
    h->env.alloc.alloc = k_alloc;
    h->env.alloc.free = k_free;
    h->env.alloc.ctx = &K;
}

/* ---- handlers ----------------------------------------------------------------------------- */

static void h_echo(mote_request *req, mote_response *res, void *user)
{
    char body[300];
    snprintf(body, sizeof body, "%s\n", mote_request_target(req));
    h_log(user, req);
    mote_respond(res, 200, "text/plain", body);
}

static void want_echo(strbuf *b, const char *target, const char *connection)
{
    char body[300];
    snprintf(body, sizeof body, "%s\n", target);
    sb_response(b, 200, "Content-Type: text/plain\r\n", connection, body);
}

static void on_piece(mote_request *req, const void *data, size_t len, void *user)
{
    (void)user;
    if (mote_request_header(req, "X-Sum") != NULL) S.header_gave_trailer = 1;
    if (data == NULL) {
        const char *t = mote_request_trailer(req, "x-sum"), *t2 = mote_request_trailer(req, "X-Other");
        char body[64];
        if (len != 0) S.bad_end = 1;
        S.ends++;
        if (t) {
            S.trailer_found = 1;
            snprintf(S.trailer, sizeof S.trailer, "%s", t);
            S.trailer_nul = strlen(t) == 3 && t[3] == '\0';
        }
        if (t2) snprintf(S.trailer2, sizeof S.trailer2, "%s", t2);
        S.trailer_host_null = mote_request_trailer(req, "Host") == NULL;
        snprintf(body, sizeof body, "got %zu\n", S.got.len);
        mote_respond(mote_request_response(req), 200, "text/plain", body);
        return;
    }
    if (S.ends) S.after_end = 1;
    if (len == 0) S.empty_piece = 1;
    S.pieces++;
    sb_add(&S.got, data, len);
    if (mote_request_trailer(req, "X-Sum") != NULL) S.trailer_early = 1;
    if (S.pause_first && S.pieces == 1) S.pause_rc = mote_request_pause(req);
}

static void want_got(strbuf *b, size_t n, const char *connection)
{
    char body[64];
    snprintf(body, sizeof body, "got %zu\n", n);
    sb_response(b, 200, "Content-Type: text/plain\r\n", connection, body);
}

/* Streams the body to on_piece; the response is sent from the end call. */
static void h_stream(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    const char *data;
    size_t n;
    (void)res;
    h_log(h, req);
    S.calls++;
    S.req = req;
    S.content_length = mote_request_content_length(req);
    S.pending_before_read = h_pending_data(h, &data);
    S.read_rc = mote_request_read_body(req, on_piece, NULL);
    n = h_pending_data(h, &data);
    S.pending_after_read = n;
    if (n > S.pending_before_read && n - S.pending_before_read < sizeof S.after_read)
        memcpy(S.after_read, data + S.pending_before_read, n - S.pending_before_read);
    S.read_again_rc = mote_request_read_body(req, on_piece, NULL);
}

/* Answers at once, without reading the body. */
static void h_answer_now(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    S.calls++;
    S.pause_outside_rc = mote_request_pause(req); /* not streaming: refused */
    mote_respond(res, 200, "text/plain", "now\n");
}

static void h_collect(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    mote_str b = mote_request_body(req);
    char body[64];
    h_log(h, req);
    S.collect_calls++;
    S.got.len = 0;
    if (b.len) sb_add(&S.got, b.ptr, b.len);
    S.in_place = b.ptr >= h->block && b.ptr < h->block + h->block_size;
    S.on_heap = K.last != NULL && b.ptr == K.last;
    S.live_in_handler = K.live;
    S.content_length = mote_request_content_length(req);
    S.read_rc = mote_request_read_body(req, on_piece, NULL);
    snprintf(body, sizeof body, "collected %zu\n", b.len);
    mote_respond(res, 200, "text/plain", body);
}

static void want_collected(strbuf *b, size_t n, const char *connection)
{
    char body[64];
    snprintf(body, sizeof body, "collected %zu\n", n);
    sb_response(b, 200, "Content-Type: text/plain\r\n", connection, body);
}

/* ---- streamed request bodies -------------------------------------------------------------- */

/* Feeds `request` + REQ_B whole, at every split, and 1 byte at a time; the handler must get
 * exactly `body`, then one end call, then /b is answered. */
static void check_stream(const char *request, const char *body, int64_t content_length,
                         const char *trailer, const char *what)
{
    strbuf in = {0}, want = {0};
    size_t split, blen = strlen(body);
    int failures = 0;
    sb_printf(&in, "%s" REQ_B, request);
    want_got(&want, blen, "");
    want_echo(&want, "/b", "");
    for (split = 0; split <= in.len; split++) {
        harness h;
        int ok;
        seen_reset();
        h_init(&h);
        h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed(&h, in.p, in.len, split);
        ok = S.calls == 1 && S.read_rc == MOTE_OK && S.read_again_rc == MOTE_ESTATE &&
             S.got.len == blen && memcmp(S.got.len ? S.got.p : "", body, blen) == 0 &&
             S.ends == 1 && !S.bad_end && !S.after_end && !S.empty_piece &&
             S.content_length == content_length && !S.trailer_early &&
             !S.header_gave_trailer && S.trailer_host_null &&
             h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0 &&
             h.log_count == 2 && strcmp(h.log[1], "/b") == 0 && conn_is_idle(&h.conn) &&
             !conn_is_done(&h.conn);
        if (trailer) ok = ok && S.trailer_found && strcmp(S.trailer, trailer) == 0 && S.trailer_nul;
        else ok = ok && !S.trailer_found;
        if (!ok) {
            if (failures < 3)
                fprintf(stderr,
                        "%s, split %zu: calls %d rc %d/%d, got %zu bytes (want %zu), ends %d, "
                        "cl %lld, trailer '%s' (%d), early %d, output:\n%s\n",
                        what, split, S.calls, S.read_rc, S.read_again_rc, S.got.len, blen, S.ends,
                        (long long)S.content_length, S.trailer, S.trailer_found, S.trailer_early,
                        h_out(&h));
            failures++;
        }
        h_free(&h);
    }
    CHECK_MSG(failures == 0, "%s: %d of %zu splits failed", what, failures, in.len + 1);
    seen_reset();
    sb_free(&in);
    sb_free(&want);
}

static void test_stream_bodies(void)
{
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello, body", "hello, body",
                 11, NULL, "Content-Length body");
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n1;ext=\"v;x\"\r\n,\r\n05 ; a=b\r\n body\r\n0\r\n\r\n",
                 "hello, body", -1, NULL, "chunked body");
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "a\r\n0123456789\r\n0\r\nX-Sum: abc\r\nX-Other:  two words \r\n\r\n",
                 "0123456789", -1, "abc", "chunked body with trailers");
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "", 0, NULL,
                 "Content-Length: 0");
    check_stream("GET /s HTTP/1.1\r\nHost: x\r\n\r\n", "", 0, NULL, "no body");
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "", -1,
                 NULL, "empty chunked body");
    check_stream("POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\nX-Sum: xyz\r\n\r\n",
                 "", -1, "xyz", "empty chunked body with a trailer");

    /* the second trailer, trimmed like a header field's value */
    {
        harness h;
        seen_reset();
        h_init(&h);
        h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
        h_start(&h);
        h_feed_str(&h,
                   "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "1\r\nz\r\n0\r\nX-Sum: abc\r\nX-Other:  two words \r\n\r\n",
                   0);
        CHECK_EQ_INT(S.ends, 1);
        CHECK_EQ_STR(S.trailer, "abc");
        CHECK_EQ_STR(S.trailer2, "two words");
        h_free(&h);
    }

    /* a body far larger than the input buffer, in several split sizes */
    {
        static const size_t splits[] = {0, 1, 7, 4096, 20000};
        size_t body_len = 100000, i, k;
        strbuf in = {0}, body = {0}, want = {0};
        for (i = 0; i < body_len; i++) {
            char ch = (char)('a' + i % 23);
            sb_add(&body, &ch, 1);
        }
        sb_printf(&in, "PUT /s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", body_len);
        sb_add(&in, body.p, body.len);
        sb_printf(&in, REQ_B);
        want_got(&want, body_len, "");
        want_echo(&want, "/b", "");
        for (k = 0; k < sizeof splits / sizeof splits[0]; k++) {
            harness h;
            seen_reset();
            h_init(&h);
            h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
            h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
            h_start(&h);
            CHECK(h.env.in_size < body_len);
            CHECK_EQ_INT(h_feed(&h, in.p, in.len, splits[k]), in.len);
            CHECK_MSG(S.got.len == body_len && memcmp(S.got.p, body.p, body_len) == 0,
                      "split %zu: %zu bytes", splits[k], S.got.len);
            CHECK_EQ_INT(S.ends, 1);
            CHECK(!S.after_end);
            CHECK_OUT(&h, want.p);
            CHECK(conn_is_idle(&h.conn));
            h_free(&h);
        }
        seen_reset();
        sb_free(&in);
        sb_free(&body);
        sb_free(&want);
    }
}

/* The body reader can only be taken once, inside the handler. */
static void test_stream_misuse(void)
{
    harness h;
    strbuf want = {0};
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_route(&h, "/now", MOTE_ROUTE_EXACT, h_answer_now);
    h_start(&h);
    h_feed_str(&h, "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 0);
    CHECK_EQ_INT(S.read_rc, MOTE_OK);
    CHECK_EQ_INT(S.read_again_rc, MOTE_ESTATE);
    /* after the handler: refused */
    CHECK_EQ_INT(mote_request_read_body(S.req, on_piece, NULL), MOTE_ESTATE);
    CHECK_EQ_INT(mote_request_read_body(S.req, NULL, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(mote_request_read_body(NULL, on_piece, NULL), MOTE_EINVAL);
    /* pausing a request that is not streamed */
    h_feed_str(&h, "POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 0);
    CHECK_EQ_INT(S.pause_outside_rc, MOTE_ESTATE);
    want_got(&want, 3, "");
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "now\n");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(mote_request_pause(NULL), MOTE_EINVAL);
    CHECK_EQ_INT(mote_request_resume(NULL), MOTE_EINVAL);
    seen_reset();
    sb_free(&want);
    h_free(&h);
}

/* Answers (deferred, so on_close runs) from the first piece of the body: the rest of the body
 * is drained, never delivered (found by examples/upload.c: on_close frees the consumer). */
static int early_pieces, early_closes;

static void early_release(void *user, int completed)
{
    (void)user;
    (void)completed;
    early_closes++;
}

static void early_piece(mote_request *req, const void *data, size_t len, void *user)
{
    mote_response *res = mote_request_response(req);
    (void)data;
    (void)len;
    (void)user;
    if (early_pieces++ == 0) mote_respond(res, 413, "text/plain", "enough\n");
}

static void h_answer_early(mote_request *req, mote_response *res, void *user)
{
    (void)res;
    h_log(user, req);
    mote_request_set_user(req, NULL, early_release);
    mote_request_read_body(req, early_piece, NULL);
}

static void test_answer_before_body_ends(void)
{
    harness h;
    strbuf want = {0};
    early_pieces = early_closes = 0;
    seen_reset();
    h_init(&h);
    h_route(&h, "/early", MOTE_ROUTE_EXACT, h_answer_early);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc", 0);
    h_feed_str(&h, "def" REQ_B, 0);
    CHECK_EQ_INT(early_pieces, 1);
    CHECK_EQ_INT(early_closes, 1);
    sb_response(&want, 413, "Content-Type: text/plain\r\n", "", "enough\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);
}

/* mote_request_pause() stops delivery and reading until mote_request_resume(). */
static void test_pause_resume(void)
{
    harness h;
    strbuf want = {0};
    char *at;

    /* pieces already received are held back while paused */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    S.pause_first = 1;
    h_feed_str(&h,
               "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n" REQ_B,
               0);
    CHECK_EQ_INT(S.pause_rc, MOTE_OK);
    CHECK_EQ_INT(S.pieces, 1);
    CHECK(S.got.len == 3 && memcmp(S.got.p, "abc", 3) == 0);
    CHECK_EQ_INT(S.ends, 0);
    CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
    CHECK(!h_awaits_body(&h));
    CHECK_EQ_INT(h.out_len, 0);
    CHECK_EQ_INT(h.log_count, 1);
    conn_received(&h.conn, 0); /* a spurious wake-up delivers nothing */
    CHECK_EQ_INT(S.pieces, 1);
    CHECK_EQ_INT(mote_request_resume(S.req), MOTE_OK);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(S.pieces, 3);
    CHECK(S.got.len == 9 && memcmp(S.got.p, "abcdefghi", 9) == 0);
    CHECK_EQ_INT(S.ends, 1);
    want_got(&want, 9, "");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(mote_request_resume(S.req), MOTE_OK); /* not paused: nothing to do */
    CHECK(conn_is_idle(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* the socket is not read while paused: h_feed takes nothing */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    S.pause_first = 1;
    h_feed_str(&h, "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123", 0);
    CHECK_EQ_INT(S.pieces, 1);
    CHECK(h_awaits_body(&h) == 0);
    CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
    CHECK_EQ_INT(h_feed_str(&h, "456789" REQ_B, 0), 0);
    CHECK_EQ_INT(S.got.len, 4);
    CHECK_EQ_INT(mote_request_resume(S.req), MOTE_OK);
    CHECK(h_awaits_body(&h));
    CHECK(conn_read_space(&h.conn, &at) > 0);
    CHECK_EQ_INT(h_feed_str(&h, "456789" REQ_B, 0), strlen("456789" REQ_B));
    CHECK(S.got.len == 10 && memcmp(S.got.p, "0123456789", 10) == 0);
    CHECK_EQ_INT(S.ends, 1);
    want_got(&want, 10, "");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    seen_reset();
    sb_free(&want);
    h_free(&h);
}

/* A consumer that pauses and then answers (keeping the connection) while body bytes are still
 * unread: the rest of the body is drained, not held back by the pause, and the request behind
 * it is answered. The body arrives in two segments, so some of it is unread at the answer. */
static void on_piece_pause_answer(mote_request *req, const void *data, size_t len, void *user)
{
    (void)data;
    (void)len;
    (void)user;
    S.pieces++;
    S.pause_rc = mote_request_pause(req);
    mote_respond(mote_request_response(req), 200, "text/plain", "paused\n");
}

static void h_stream_pause_answer(mote_request *req, mote_response *res, void *user)
{
    (void)res;
    h_log(user, req);
    S.read_rc = mote_request_read_body(req, on_piece_pause_answer, NULL);
}

static void test_pause_then_answer(void)
{
    harness h;
    strbuf want = {0};
    char *at;
    seen_reset();
    h_init(&h);
    h_route(&h, "/p", MOTE_ROUTE_EXACT, h_stream_pause_answer);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123", 0);
    CHECK_EQ_INT(S.read_rc, MOTE_OK);
    CHECK_EQ_INT(S.pause_rc, MOTE_OK);
    CHECK_EQ_INT(S.pieces, 1);
    CHECK(conn_read_space(&h.conn, &at) > 0); /* the rest of the body is still to be read */
    CHECK(h_awaits_body(&h));          /* and timed: the client may stop sending it */
    CHECK_EQ_INT(h_feed_str(&h, "456789" REQ_B, 0), strlen("456789" REQ_B));
    CHECK_EQ_INT(S.pieces, 1);                 /* drained, not delivered */
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "paused\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_idle(&h.conn));
    sb_free(&want);
    h_free(&h);
}

/* ---- collected request bodies ------------------------------------------------------------- */

static void test_collect(void)
{
    harness h;
    strbuf in = {0}, want = {0}, body = {0};
    size_t i;
    static const size_t splits[] = {0, 1, 13, 5000};
    size_t k;

    /* small: in place, no allocation, at every split */
    {
        const char *req = "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" REQ_B;
        size_t split, len = strlen(req);
        int failures = 0;
        want_collected(&want, 5, "");
        want_echo(&want, "/b", "");
        for (split = 0; split <= len; split++) {
            seen_reset();
            h_init(&h);
            use_counting(&h);
            h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
            h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
            h_start(&h);
            h_feed(&h, req, len, split);
            if (S.collect_calls != 1 || S.got.len != 5 || memcmp(S.got.p, "hello", 5) != 0 ||
                !S.in_place || K.allocs != 0 || S.content_length != 5 ||
                S.read_rc != MOTE_ESTATE || h.out_len != want.len ||
                memcmp(h_out(&h), want.p, want.len) != 0 || !conn_is_idle(&h.conn)) {
                if (failures < 3)
                    fprintf(stderr, "collect small, split %zu: calls %d, %zu bytes, in place %d, "
                                    "allocs %zu, output:\n%s\n",
                            split, S.collect_calls, S.got.len, S.in_place, K.allocs, h_out(&h));
                failures++;
            }
            h_free(&h);
        }
        CHECK_MSG(failures == 0, "collect small: %d splits failed", failures);
        sb_free(&want);
    }

    /* an empty body: the handler still runs once, with an empty body */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                   "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(S.collect_calls, 2);
    CHECK_EQ_INT(S.got.len, 0);
    CHECK_EQ_INT(K.allocs, 0);
    want_collected(&want, 0, "");
    want_collected(&want, 0, "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* 10000 bytes still fit the input buffer after the head: in place */
    for (i = 0; i < 10000; i++) sb_add(&body, &"0123456789abcdef"[i % 16], 1);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n");
    sb_add(&in, body.p, body.len);
    sb_printf(&in, REQ_B);
    want_collected(&want, 10000, "");
    want_echo(&want, "/b", "");
    for (k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        seen_reset();
        h_init(&h);
        use_counting(&h);
        h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        CHECK_EQ_INT(h_feed(&h, in.p, in.len, splits[k]), in.len);
        CHECK_EQ_INT(S.collect_calls, 1);
        CHECK(S.got.len == body.len && memcmp(S.got.p, body.p, body.len) == 0);
        CHECK_MSG(S.in_place, "split %zu", splits[k]);
        CHECK_EQ_INT(K.allocs, 0);
        CHECK_OUT(&h, want.p);
        h_free(&h);
    }
    sb_free(&in);
    sb_free(&want);
    sb_free(&body);

    /* beyond the input buffer: on the heap, freed when the request ends */
    for (i = 0; i < 100000; i++) sb_add(&body, &"0123456789abcdefghijklm"[i % 23], 1);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    sb_add(&in, body.p, body.len);
    sb_printf(&in, REQ_B);
    want_collected(&want, 100000, "");
    want_echo(&want, "/b", "");
    for (k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        seen_reset();
        h_init(&h);
        use_counting(&h);
        h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        CHECK_EQ_INT(h_feed(&h, in.p, in.len, splits[k]), in.len);
        CHECK_EQ_INT(S.collect_calls, 1);
        CHECK(S.got.len == body.len && memcmp(S.got.p, body.p, body.len) == 0);
        CHECK(!S.in_place);
        CHECK(S.on_heap);
        CHECK(S.live_in_handler >= 1);
        CHECK(K.allocs >= 1);
        CHECK_MSG(K.live == 0 && K.frees == K.allocs, "split %zu: %zu allocated, %zu freed",
                  splits[k], K.allocs, K.frees);
        CHECK_OUT(&h, want.p);
        CHECK(conn_is_idle(&h.conn));
        h_free(&h);
    }
    sb_free(&in);
    sb_free(&want);
    sb_free(&body);

    /* chunked: on the heap, grown as it arrives */
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 30; i++) {
        size_t n = 700 + i, j;
        sb_printf(&in, "%zx\r\n", n);
        for (j = 0; j < n; j++) {
            char ch = (char)('A' + (i + j) % 26);
            sb_add(&in, &ch, 1);
            sb_add(&body, &ch, 1);
        }
        sb_printf(&in, "\r\n");
    }
    sb_printf(&in, "0\r\nX-Sum: abc\r\n\r\n" REQ_B);
    want_collected(&want, body.len, "");
    want_echo(&want, "/b", "");
    for (k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        seen_reset();
        h_init(&h);
        use_counting(&h);
        h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        CHECK_EQ_INT(h_feed(&h, in.p, in.len, splits[k]), in.len);
        CHECK_EQ_INT(S.collect_calls, 1);
        CHECK(S.got.len == body.len && memcmp(S.got.p, body.p, body.len) == 0);
        CHECK_EQ_INT(S.content_length, -1);
        CHECK(S.on_heap);
        CHECK(K.allocs >= 2); /* 4096 first, then grown */
        CHECK_MSG(K.live == 0 && K.frees == K.allocs, "split %zu: %zu allocated, %zu freed",
                  splits[k], K.allocs, K.frees);
        CHECK_OUT(&h, want.p);
        h_free(&h);
    }
    sb_free(&in);
    sb_free(&want);
    sb_free(&body);
    seen_reset();
}

/* The connection closed by the shell in the middle of a collected body frees it. */
static void test_collect_abort(void)
{
    harness h;
    strbuf in = {0};
    size_t i;

    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_start(&h);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    for (i = 0; i < 30000; i++) sb_add(&in, "q", 1);
    CHECK_EQ_INT(h_feed(&h, in.p, in.len, 0), in.len);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK_EQ_INT(K.live, 1);
    conn_abort(&h.conn);
    CHECK_EQ_INT(K.live, 0);
    CHECK_EQ_INT(K.frees, K.allocs);
    CHECK(conn_is_done(&h.conn));
    conn_abort(&h.conn); /* twice is harmless */
    CHECK_EQ_INT(K.frees, K.allocs);
    h_free(&h);
    sb_free(&in);

    /* chunked, after it has grown */
    h_init(&h);
    use_counting(&h);
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_start(&h);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 10; i++) {
        size_t j;
        sb_printf(&in, "3e8\r\n");
        for (j = 0; j < 1000; j++) sb_add(&in, "w", 1);
        sb_printf(&in, "\r\n");
    }
    CHECK_EQ_INT(h_feed(&h, in.p, in.len, 0), in.len);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK(K.allocs >= 2);
    CHECK_EQ_INT(K.live, 1);
    conn_abort(&h.conn);
    CHECK_EQ_INT(K.live, 0);
    CHECK_EQ_INT(K.frees, K.allocs);
    h_free(&h);
    sb_free(&in);
    seen_reset();
}

/* A body over the route's limit: 413 and close, for a declared length before the handler,
 * and for a chunked body when it crosses the limit. */
static void test_collect_limit(void)
{
    h_options o;
    harness h;
    strbuf want = {0}, in = {0};
    size_t split;
    int failures = 0;
    memset(&o, 0, sizeof o);
    o.max_body_size = 100;

    /* exactly the limit: taken */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route_with(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, &o, h_collect);
    h_start(&h);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                   "0123456789012345678901234567890123456789012345678901234567890123456789"
                   "012345678901234567890123456789" REQ_B);
    h_feed(&h, in.p, in.len, 0);
    CHECK_EQ_INT(S.collect_calls, 1);
    CHECK_EQ_INT(S.got.len, 100);
    want_collected(&want, 100, "");
    sb_response(&want, 404, "Content-Type: text/plain\r\n", "", "404 Not Found\n");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    sb_free(&in);
    h_free(&h);

    /* declared over it: 413 at once, no handler, no allocation, nothing after it read */
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" SMUGGLED
                   "0123456789012345678901234567890123456789012345678901234567890123" REQ_B);
    sb_error(&want, 413);
    for (split = 0; split <= in.len; split++) {
        seen_reset();
        h_init(&h);
        use_counting(&h);
        h_route_with(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, &o, h_collect);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed(&h, in.p, in.len, split);
        if (S.collect_calls || K.allocs || h.log_count || h.out_len != want.len ||
            memcmp(h_out(&h), want.p, want.len) != 0 || !conn_is_done(&h.conn)) {
            if (failures < 3)
                fprintf(stderr, "413 declared, split %zu: calls %d, allocs %zu, output:\n%s\n",
                        split, S.collect_calls, K.allocs, h_out(&h));
            failures++;
        }
        h_free(&h);
    }
    CHECK_MSG(failures == 0, "413 for a declared length: %d splits failed", failures);
    sb_free(&in);
    sb_free(&want);

    /* the server's limit when the route sets none */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h.env.max_body_size = 10;
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890" REQ_B, 0);
    sb_error(&want, 413);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* chunked, crossing the limit in its second chunk: 413 and close; freed on abort */
    failures = 0;
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3c\r\n012345678901234567890123456789012345678901234567890123456789\r\n"
                   "29\r\n01234567890123456789012345678901234567890\r\n0\r\n\r\n" REQ_B);
    sb_error(&want, 413);
    for (split = 0; split <= in.len; split++) {
        seen_reset();
        h_init(&h);
        use_counting(&h);
        h_route_with(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, &o, h_collect);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed(&h, in.p, in.len, split);
        conn_abort(&h.conn);
        if (S.collect_calls || h.log_count || h.out_len != want.len ||
            memcmp(h_out(&h), want.p, want.len) != 0 || !conn_is_done(&h.conn) || K.live) {
            if (failures < 3)
                fprintf(stderr, "413 chunked, split %zu: calls %d, live %zu, output:\n%s\n",
                        split, S.collect_calls, K.live, h_out(&h));
            failures++;
        }
        h_free(&h);
    }
    CHECK_MSG(failures == 0, "413 for a chunked body: %d splits failed", failures);
    sb_free(&in);
    sb_free(&want);

    /* chunked, exactly at the limit: taken */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route_with(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, &o, h_collect);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3c\r\n012345678901234567890123456789012345678901234567890123456789\r\n"
                   "28\r\n0123456789012345678901234567890123456789\r\n0\r\n\r\n", 0);
    CHECK_EQ_INT(S.collect_calls, 1);
    CHECK_EQ_INT(S.got.len, 100);
    CHECK_EQ_INT(K.live, 0);
    h_free(&h);
    seen_reset();
}

/* No memory for a collected body: 503, and the handler is not called. */
static void test_collect_enomem(void)
{
    harness h;
    strbuf in = {0}, want = {0};
    size_t i;

    /* a declared length needing the heap, over the drain limit: 503, closing */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    K.fail = 1;
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    sb_printf(&in, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    for (i = 0; i < 100000 / 40; i++) sb_add(&in, SMUGGLED "....", 40);
    sb_printf(&in, REQ_B);
    h_feed(&h, in.p, in.len, 0);
    sb_error(&want, 503);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK(!h_logged(&h, "/smuggled"));
    CHECK(conn_is_done(&h.conn));
    conn_abort(&h.conn);
    CHECK_EQ_INT(K.live, 0);
    sb_free(&in);
    sb_free(&want);
    h_free(&h);

    /* a chunked body: the first buffer cannot be had */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    K.fail = 1;
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "23\r\n" SMUGGLED "\r\n0\r\n\r\n", 0);
    CHECK(strncmp(h_out(&h), "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK(!h_logged(&h, "/smuggled"));
    conn_abort(&h.conn);
    CHECK_EQ_INT(K.live, 0);
    h_free(&h);

    /* memory running out while a chunked body grows: 503 */
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 0);
    sb_printf(&in, "fa0\r\n");
    for (i = 0; i < 4000; i++) sb_add(&in, "z", 1);
    sb_printf(&in, "\r\n");
    h_feed(&h, in.p, in.len, 0);
    CHECK_EQ_INT(K.allocs, 1);
    K.fail = 1;
    h_feed(&h, in.p, in.len, 0); /* 8000 bytes: more than the first 4096 */
    h_feed_str(&h, "0\r\n\r\n" REQ_B, 0);
    sb_error(&want, 503);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(S.collect_calls, 0);
    CHECK(conn_is_done(&h.conn));
    conn_abort(&h.conn);
    CHECK_EQ_INT(K.live, 0);
    sb_free(&in);
    sb_free(&want);
    h_free(&h);
    seen_reset();
}

/* ---- framing refused through the connection ----------------------------------------------- */

typedef struct framing_case {
    const char *request;  /* head and body; SMUGGLED and REQ_B are appended */
    int status;
    int handler_runs;     /* the error is in the body, found after the handler began reading */
} framing_case;

static void test_framing_refused(void)
{
    static const framing_case cases[] = {
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
         "0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "10000000000000000\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc", 400, 1},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\nabcde", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
         "0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
         "0\r\n\r\n", 400, 0},
        {"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, 0},
    };
    size_t i;
    int total_failures = 0;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const framing_case *fc = &cases[i];
        strbuf in = {0}, want = {0};
        size_t split;
        int collecting, failures = 0;
        sb_printf(&in, "%s" SMUGGLED REQ_B, fc->request);
        sb_error(&want, fc->status);
        /* a streaming route and a collecting one */
        for (collecting = 0; collecting < 2; collecting++) {
            for (split = 0; split <= in.len; split += (split < 3 ? 1 : 7)) {
                harness h;
                int ok;
                seen_reset();
                h_init(&h);
                use_counting(&h);
                h_route(&h, "/s", MOTE_ROUTE_EXACT | (collecting ? H_COLLECT : 0),
                        collecting ? h_collect : h_stream);
                h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
                h_start(&h);
                h_feed(&h, in.p, in.len, split);
                conn_abort(&h.conn);
                ok = h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0 &&
                     !h_logged(&h, "/smuggled") && !h_logged(&h, "/b") &&
                     conn_is_done(&h.conn) && S.ends == 0 && S.collect_calls == 0 &&
                     S.calls == (collecting ? 0 : fc->handler_runs) && K.live == 0;
                if (!ok) {
                    if (failures < 2)
                        fprintf(stderr, "framing case %zu (%s route), split %zu: calls %d, "
                                        "ends %d, collected %d, output:\n%s\n",
                                i, collecting ? "collect" : "stream", split, S.calls, S.ends,
                                S.collect_calls, h_out(&h));
                    failures++;
                }
                h_free(&h);
            }
        }
        if (failures) fprintf(stderr, "framing case %zu: %s...\n", i, fc->request);
        total_failures += failures;
        sb_free(&in);
        sb_free(&want);
    }
    CHECK_EQ_INT(total_failures, 0);
    seen_reset();
}

/* ---- Expect: 100-continue ----------------------------------------------------------------- */

static void test_expect_stream(void)
{
    harness h;
    strbuf want = {0};

    /* queued exactly when the handler asks for the body, before the final response */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 0);
    CHECK_EQ_INT(S.calls, 1);
    CHECK_EQ_INT(S.pending_before_read, 0);
    CHECK_EQ_INT(S.pending_after_read, strlen(CONTINUE_LINE));
    CHECK_EQ_STR(S.after_read, CONTINUE_LINE);
    CHECK_OUT(&h, CONTINUE_LINE);
    CHECK(!conn_is_done(&h.conn));
    h_feed_str(&h, "hello" REQ_B, 0);
    sb_add(&want, CONTINUE_LINE, strlen(CONTINUE_LINE));
    want_got(&want, 5, "");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h_count(h_out(&h), h.out_len, "100 Continue"), 1);
    sb_free(&want);
    h_free(&h);

    /* the expectation is case-insensitive; a chunked body too */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);
    h_feed_str(&h, "POST /s HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n", 0);
    CHECK_OUT(&h, CONTINUE_LINE);
    h_feed_str(&h, "2\r\nhi\r\n0\r\n\r\n", 0);
    sb_add(&want, CONTINUE_LINE, strlen(CONTINUE_LINE));
    want_got(&want, 2, "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* no body to wait for: no 100 */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);
    h_feed_str(&h, "POST /s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", 0);
    want_got(&want, 0, "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* HTTP/1.0 never gets 100 (RFC 9110 §10.1.1) */
    seen_reset();
    h_init(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);
    h_feed_str(&h, "POST /s HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
                   "Connection: keep-alive\r\n\r\n", 0);
    CHECK_EQ_INT(S.calls, 1);
    CHECK_EQ_INT(S.pending_after_read, 0);
    CHECK_EQ_INT(h.out_len, 0);
    h_feed_str(&h, "hello", 0);
    want_got(&want, 5, "Connection: keep-alive\r\n");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* the handler answers without reading: no 100, and the connection closes, since the client
     * may never send the body it announced */
    seen_reset();
    h_init(&h);
    h_route(&h, "/now", MOTE_ROUTE_EXACT, h_answer_now);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "POST /now HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
                   "hello" REQ_B, 0);
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "Connection: close\r\n", "now\n");
    CHECK_OUT(&h, want.p);
    CHECK(!h_logged(&h, "/b"));
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
}

static void test_expect_collect(void)
{
    harness h;
    strbuf want = {0};
    seen_reset();
    h_init(&h);
    use_counting(&h);
    h_route(&h, "/c", MOTE_ROUTE_EXACT | H_COLLECT, h_collect);
    h_start(&h);
    h_feed_str(&h, "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 0);
    CHECK_OUT(&h, CONTINUE_LINE);
    CHECK_EQ_INT(S.collect_calls, 0);
    h_feed_str(&h, "hello", 0);
    sb_add(&want, CONTINUE_LINE, strlen(CONTINUE_LINE));
    want_collected(&want, 5, "");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(S.collect_calls, 1);
    sb_free(&want);
    h_free(&h);
}

/* A route that refuses: the final status at once, no 100, Connection: close. */
static void test_expect_refused(void)
{
    static const mote_basic_auth auth = {"dev", "admin", "s3cret"};
    h_options post_only, small, secret;
    struct {
        const char *request;
        int status;
        const char *extra;   /* header lines the refusal carries */
        const char *body;
    } cases[] = {
        {"PUT /m HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 405,
         "Allow: POST, OPTIONS\r\nContent-Type: text/plain\r\n", "405 Method Not Allowed\n"},
        {"POST /small HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n", 413,
         "Content-Type: text/plain\r\n", "413 Content Too Large\n"},
        {"POST /secret HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 401,
         "WWW-Authenticate: Basic realm=\"dev\", charset=\"UTF-8\"\r\nContent-Type: text/plain\r\n",
         "401 Unauthorized\n"},
        {"POST /secret HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
         "Authorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n", 401,
         "WWW-Authenticate: Basic realm=\"dev\", charset=\"UTF-8\"\r\nContent-Type: text/plain\r\n",
         "401 Unauthorized\n"},
    };
    size_t i;
    memset(&post_only, 0, sizeof post_only);
    post_only.methods = MOTE_POST;
    memset(&small, 0, sizeof small);
    small.max_body_size = 10;
    memset(&secret, 0, sizeof secret);
    secret.auth = &auth;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        strbuf want = {0};
        seen_reset();
        h_init(&h);
        h_route_with(&h, "/m", MOTE_ROUTE_EXACT, &post_only, h_stream);
        h_route_with(&h, "/small", MOTE_ROUTE_EXACT, &small, h_stream);
        h_route_with(&h, "/secret", MOTE_ROUTE_EXACT, &secret, h_stream);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed_str(&h, cases[i].request, 0);
        sb_response(&want, cases[i].status, cases[i].extra, "Connection: close\r\n", cases[i].body);
        CHECK_OUT(&h, want.p);
        CHECK_MSG(S.calls == 0, "case %zu: the handler ran", i);
        CHECK_MSG(conn_is_done(&h.conn), "case %zu: still open", i);
        CHECK(h_find(h_out(&h), h.out_len, "100 Continue") == NULL);
        sb_free(&want);
        h_free(&h);
    }

    /* the same route with credentials: 100, then the handler */
    {
        harness h;
        strbuf want = {0};
        seen_reset();
        h_init(&h);
        h_route_with(&h, "/secret", MOTE_ROUTE_EXACT, &secret, h_stream);
        h_start(&h);
        h_feed_str(&h, "POST /secret HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
                       "Authorization: Basic YWRtaW46czNjcmV0\r\n\r\n", 0);
        CHECK_OUT(&h, CONTINUE_LINE);
        h_feed_str(&h, "hello", 0);
        sb_add(&want, CONTINUE_LINE, strlen(CONTINUE_LINE));
        want_got(&want, 5, "");
        CHECK_OUT(&h, want.p);
        sb_free(&want);
        h_free(&h);
    }
}

/* Expectations other than 100-continue: 417, without the handler. */
static void test_expect_other(void)
{
    static const char *const values[] = {"something", "100-continue, other", "100-continuex",
                                         "200-ok"};
    size_t i;
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        harness h;
        strbuf in = {0}, want = {0};
        seen_reset();
        h_init(&h);
        h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        sb_printf(&in, "GET /s HTTP/1.1\r\nHost: x\r\nExpect: %s\r\n\r\n" REQ_B, values[i]);
        h_feed(&h, in.p, in.len, 0);
        sb_response(&want, 417, "Content-Type: text/plain\r\n", "", "417 Expectation Failed\n");
        want_echo(&want, "/b", "");
        CHECK_OUT(&h, want.p);
        CHECK_MSG(S.calls == 0, "Expect: %s: the handler ran", values[i]);
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }
}

/* ---- methods ------------------------------------------------------------------------------ */

static void h_method(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    S.calls++;
    S.method_id = mote_request_method_id(req);
    mote_respond(res, 200, "text/plain", "method\n");
}

static void test_methods(void)
{
    static const struct {
        const char *name;
        unsigned id;
    } methods[] = {{"GET", MOTE_GET},   {"HEAD", MOTE_HEAD},     {"POST", MOTE_POST},
                   {"PUT", MOTE_PUT},   {"DELETE", MOTE_DELETE}, {"PATCH", MOTE_PATCH},
                   {"OPTIONS", MOTE_OPTIONS}};
    static const struct {
        unsigned mask;
        const char *allow;
    } masks[] = {
        {MOTE_GET, "GET, HEAD, OPTIONS"},
        {MOTE_GET | MOTE_POST, "GET, HEAD, POST, OPTIONS"},
        {MOTE_HEAD, "HEAD, OPTIONS"},
        {MOTE_POST | MOTE_PUT, "POST, PUT, OPTIONS"},
        {MOTE_DELETE | MOTE_PATCH, "DELETE, PATCH, OPTIONS"},
        {MOTE_OPTIONS | MOTE_PUT, "PUT, OPTIONS"},
        {MOTE_METHODS_ALL, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"},
    };
    size_t i, m;

    /* every method reaches a route that takes all, with its id */
    for (m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        harness h;
        strbuf in = {0};
        seen_reset();
        h_init(&h);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_method);
        h_start(&h);
        sb_printf(&in, "%s /x HTTP/1.1\r\nHost: x\r\n\r\n", methods[m].name);
        h_feed(&h, in.p, in.len, 0);
        CHECK_MSG(S.calls == 1 && S.method_id == methods[m].id, "%s: calls %d, id %u",
                  methods[m].name, S.calls, S.method_id);
        CHECK(strncmp(h_out(&h), "HTTP/1.1 200 OK\r\n", 17) == 0);
        sb_free(&in);
        h_free(&h);
    }

    /* per-route masks: the others get 405 with Allow; OPTIONS is answered unless listed */
    for (i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        unsigned effective = masks[i].mask | ((masks[i].mask & MOTE_GET) ? MOTE_HEAD : 0);
        for (m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            harness h;
            h_options o;
            strbuf in = {0}, want = {0}, allow = {0};
            memset(&o, 0, sizeof o);
            o.methods = masks[i].mask;
            seen_reset();
            h_init(&h);
            h_route_with(&h, "/r", MOTE_ROUTE_EXACT, &o, h_method);
            h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
            h_start(&h);
            sb_printf(&in, "%s /r HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, methods[m].name);
            h_feed(&h, in.p, in.len, 0);
            sb_printf(&allow, "Allow: %s\r\n", masks[i].allow);
            if (effective & methods[m].id) {
                if (methods[m].id == MOTE_HEAD)
                    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                                     "Content-Length: 7\r\n\r\n");
                else
                    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "method\n");
                CHECK_MSG(S.calls == 1 && S.method_id == methods[m].id, "mask %u, %s", o.methods,
                          methods[m].name);
            } else if (methods[m].id == MOTE_OPTIONS) {
                sb_printf(&want, "HTTP/1.1 204 No Content\r\n" H_PREFIX "%s\r\n", allow.p);
                CHECK_MSG(S.calls == 0, "mask %u, OPTIONS: the handler ran", o.methods);
            } else {
                sb_add(&allow, "Content-Type: text/plain\r\n", 26);
                if (methods[m].id == MOTE_HEAD)
                    sb_printf(&want, "HTTP/1.1 405 Method Not Allowed\r\n" H_PREFIX
                                     "%sContent-Length: 23\r\n\r\n", allow.p);
                else
                    sb_response(&want, 405, allow.p, "", "405 Method Not Allowed\n");
                CHECK_MSG(S.calls == 0, "mask %u, %s: the handler ran", o.methods, methods[m].name);
            }
            want_echo(&want, "/b", "");
            CHECK_MSG(h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0,
                      "mask %u, %s:\n%s\n---- want:\n%s", o.methods, methods[m].name, h_out(&h),
                      want.p);
            sb_free(&in);
            sb_free(&want);
            sb_free(&allow);
            h_free(&h);
        }
    }

    /* a refused method's body is drained, and the next request is served */
    {
        harness h;
        h_options o;
        strbuf want = {0};
        memset(&o, 0, sizeof o);
        o.methods = MOTE_GET;
        seen_reset();
        h_init(&h);
        h_route_with(&h, "/r", MOTE_ROUTE_EXACT, &o, h_method);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed_str(&h, "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n" SMUGGLED REQ_B, 1);
        sb_response(&want, 405, "Allow: GET, HEAD, OPTIONS\r\nContent-Type: text/plain\r\n", "",
                    "405 Method Not Allowed\n");
        want_echo(&want, "/b", "");
        CHECK_OUT(&h, want.p);
        CHECK(!h_logged(&h, "/smuggled"));
        CHECK_EQ_INT(S.calls, 0);
        sb_free(&want);
        h_free(&h);
    }

    /* mask bits the library does not know are refused at registration */
    {
        harness h;
        h_options o;
        h_init(&h);
        memset(&o, 0, sizeof o);
        o.methods = 1u << 7;
        CHECK_EQ_INT(h_route_rc(&h, "/x", MOTE_ROUTE_EXACT, &o, h_method), MOTE_EINVAL);
        h_free(&h);
    }
}

/* HEAD on a GET route: the head of the GET response, no body; the next request follows. */
static void h_stream_out(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    S.calls++;
    S.read_rc = mote_response_write(res, "abc", 3);
    S.read_again_rc = mote_response_write(res, "defg", 4);
    mote_response_end(res);
}

static void test_head(void)
{
    harness h;
    strbuf want = {0};
    h_options o;
    memset(&o, 0, sizeof o);
    o.methods = MOTE_GET;
    seen_reset();
    h_init(&h);
    h_route_with(&h, "/g", MOTE_ROUTE_EXACT, &o, h_method);
    h_route_with(&h, "/st", MOTE_ROUTE_EXACT, &o, h_stream_out);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /g HTTP/1.1\r\nHost: x\r\n\r\nHEAD /g HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /st HTTP/1.1\r\nHost: x\r\n\r\nHEAD /st HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "method\n");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\nContent-Length: 7\r\n\r\n");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(S.calls, 4);
    CHECK_EQ_INT(S.method_id, MOTE_HEAD);
    sb_free(&want);
    h_free(&h);
}

/* ---- request targets ------------------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, mote_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void h_target(mote_request *req, mote_response *res, void *user)
{
    mote_str p = mote_request_path(req);
    h_log(user, req);
    S.calls++;
    copy_str(S.path, sizeof S.path, p);
    S.path_len = p.len;
    snprintf(S.target, sizeof S.target, "%s", mote_request_target(req));
    copy_str(S.query, sizeof S.query, mote_request_query(req));
    copy_str(S.host, sizeof S.host, mote_request_host(req));
    S.host_len = mote_request_host(req).len;
    S.trailer_nul = p.ptr[p.len] == '\0'; /* the path is NUL-terminated too */
    mote_respond(res, 200, "text/plain", "target\n");
}

static void test_targets(void)
{
    static const struct {
        const char *target;
        const char *route;   /* the route it must reach */
        const char *path;
    } good[] = {
        {"/a/./b/../c", "/a/c", "/a/c"},
        {"/a/c", "/a/c", "/a/c"},
        {"/a/b/../c?x=/a/b", "/a/c", "/a/c"},
        {"/x/../a/c", "/a/c", "/a/c"},
        {"/a/%63", "/a/c", "/a/c"},
        {"/%61/c", "/a/c", "/a/c"},
        {"/a%2fc", "/a/c", "/a/c"},
        {"/a/c/.", "/a/c/", "/a/c/"},
        {"/a/c/d/..", "/a/c/", "/a/c/"},
        {"/a//c", "/a//c", "/a//c"},
        {"/sp%20ace", "/sp ace", "/sp ace"},
        {"/..a/b", "/..a/b", "/..a/b"},
        {"/a/.../c", "/a/.../c", "/a/.../c"},
    };
    static const char *const bad[] = {"/%2e%2e/x", "/../x", "/a/../../x", "/%2E%2E", "/.%2e/x",
                                      "/a%00b", "/a%zz", "/a%4", "/a%", "/a%%41", "/a%g0"};
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        harness h;
        strbuf in = {0};
        seen_reset();
        h_init(&h);
        h_route(&h, good[i].route, MOTE_ROUTE_EXACT, h_target);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        sb_printf(&in, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", good[i].target);
        h_feed(&h, in.p, in.len, 0);
        CHECK_MSG(S.calls == 1, "%s did not reach %s: %s", good[i].target, good[i].route, h_out(&h));
        CHECK_MSG(strcmp(S.path, good[i].path) == 0 && S.path_len == strlen(good[i].path),
                  "%s: path '%s'", good[i].target, S.path);
        CHECK_EQ_STR(S.target, good[i].target); /* the raw target stays */
        CHECK(S.trailer_nul);
        sb_free(&in);
        h_free(&h);
    }

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        harness h;
        strbuf in = {0}, want = {0};
        seen_reset();
        h_init(&h);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_target);
        h_default(&h, h_target);
        h_start(&h);
        sb_printf(&in, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, bad[i]);
        h_feed(&h, in.p, in.len, 0);
        sb_error(&want, 400);
        CHECK_MSG(h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0, "%s:\n%s",
                  bad[i], h_out(&h));
        CHECK_MSG(S.calls == 0, "%s reached a handler", bad[i]);
        CHECK(conn_is_done(&h.conn));
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }

    /* absolute-form: its authority wins over Host (RFC 9112 §3.2.2) */
    {
        harness h;
        seen_reset();
        h_init(&h);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_target);
        h_start(&h);
        h_feed_str(&h, "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 0);
        CHECK_EQ_INT(S.calls, 1);
        CHECK_EQ_STR(S.path, "/p");
        CHECK_EQ_STR(S.query, "q");
        CHECK_EQ_STR(S.host, "example.com:8080");
        CHECK_EQ_INT(S.host_len, 16);
        CHECK_EQ_STR(S.target, "http://example.com:8080/p?q");
        /* origin-form: the Host field */
        h_feed_str(&h, "GET /o?k=v HTTP/1.1\r\nHost: other:81\r\n\r\n", 0);
        CHECK_EQ_INT(S.calls, 2);
        CHECK_EQ_STR(S.path, "/o");
        CHECK_EQ_STR(S.query, "k=v");
        CHECK_EQ_STR(S.host, "other:81");
        /* HTTP/1.0 without Host: empty */
        h_feed_str(&h, "GET /o HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0);
        CHECK_EQ_INT(S.calls, 3);
        CHECK_EQ_INT(S.host_len, 0);
        /* absolute-form without a path: "/" */
        h_feed_str(&h, "GET http://h.example?z HTTP/1.1\r\nHost: h.example\r\n\r\n", 0);
        CHECK_EQ_INT(S.calls, 4);
        CHECK_EQ_STR(S.path, "/");
        CHECK_EQ_STR(S.query, "z");
        CHECK_EQ_STR(S.host, "h.example");
        /* absolute-form paths are normalised too */
        h_feed_str(&h, "GET http://h/a/../b%21 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
        CHECK_EQ_INT(S.calls, 5);
        CHECK_EQ_STR(S.path, "/b!");
        CHECK(!conn_is_done(&h.conn));
        h_free(&h);
    }

    /* asterisk-form only with OPTIONS */
    {
        static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"};
        harness h;
        strbuf want = {0};
        for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            strbuf in = {0};
            seen_reset();
            h_init(&h);
            h_route(&h, "/", MOTE_ROUTE_PREFIX, h_target);
            h_default(&h, h_target);
            h_start(&h);
            sb_printf(&in, "%s * HTTP/1.1\r\nHost: x\r\n\r\n", methods[i]);
            h_feed(&h, in.p, in.len, 0);
            if (strcmp(methods[i], "HEAD") == 0)
                sb_printf(&want, "HTTP/1.1 400 Bad Request\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                                 "Content-Length: 16\r\nConnection: close\r\n\r\n");
            else
                sb_error(&want, 400);
            CHECK_MSG(h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0,
                      "%s *:\n%s", methods[i], h_out(&h));
            CHECK_EQ_INT(S.calls, 0);
            sb_free(&want);
            sb_free(&in);
            h_free(&h);
        }
        seen_reset();
        h_init(&h);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_target);
        h_start(&h);
        h_feed_str(&h, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
        sb_printf(&want, "HTTP/1.1 204 No Content\r\n" H_PREFIX
                         "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n\r\n");
        sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "target\n");
        CHECK_OUT(&h, want.p);
        CHECK_EQ_INT(S.calls, 1); /* only /b */
        CHECK_EQ_STR(S.path, "/b");
        sb_free(&want);
        h_free(&h);
    }
}

/* ---- Basic authentication ------------------------------------------------------------------ */

static void h_authed(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    S.calls++;
    mote_respond(res, 200, "text/plain", "welcome\n");
}

/* Calls mote_basic_auth_check directly with several credentials. */
static void h_check_auth(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    S.calls++;
    S.auth_results[0] = mote_basic_auth_check(req, "admin", "s3cret");
    S.auth_results[1] = mote_basic_auth_check(req, "admin", "s3cre");
    S.auth_results[2] = mote_basic_auth_check(req, "admin", "s3cret!");
    S.auth_results[3] = mote_basic_auth_check(req, "Admin", "s3cret");
    S.auth_results[4] = mote_basic_auth_check(req, "u", "p:q");
    S.auth_results[5] = mote_basic_auth_check(req, "u", "");
    S.auth_results[6] = mote_basic_auth_check(NULL, "admin", "s3cret");
    S.auth_results[7] = mote_basic_auth_check(req, NULL, "s3cret");
    S.auth_results[8] = mote_basic_auth_check(req, "admin", NULL);
    mote_respond(res, 200, "text/plain", "checked\n");
}

static void h_unauthorized_args(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    S.auth_results[0] = mote_respond_unauthorized(NULL, "r");
    S.auth_results[1] = mote_respond_unauthorized(res, NULL);
    S.auth_results[2] = mote_respond_unauthorized(res, "r");
}

static void test_auth(void)
{
    static const mote_basic_auth auth = {"dev area", "admin", "s3cret"};
    static const struct {
        const char *authorization;  /* NULL: no field */
        int ok;
    } cases[] = {
        {NULL, 0},
        {"Basic YWRtaW46czNjcmV0", 1},             /* admin:s3cret */
        {"basic YWRtaW46czNjcmV0", 1},             /* the scheme is case-insensitive */
        {"BASIC YWRtaW46czNjcmV0", 1},
        {"Basic YWRtaW46d3Jvbmc=", 0},             /* admin:wrong */
        {"Basic cm9vdDpzM2NyZXQ=", 0},             /* root:s3cret */
        {"Basic YWRtaW46czNjcmU=", 0},             /* admin:s3cre */
        {"Basic YWRtaW46czNjcmV0=", 0},            /* bad length */
        {"Basic YWRtaW46czNjcmV", 0},              /* truncated */
        {"Basic YWRt*W46czNjcmV0", 0},             /* not base64 */
        {"Basic ", 0},
        {"Basic", 0},
        {"Bearer YWRtaW46czNjcmV0", 0},            /* another scheme */
        {"BasicYWRtaW46czNjcmV0", 0},
        {"Basically YWRtaW46czNjcmV0", 0},
        {"Digest username=\"admin\"", 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_options o;
        strbuf in = {0}, want = {0};
        memset(&o, 0, sizeof o);
        o.auth = &auth;
        seen_reset();
        h_init(&h);
        h_route_with(&h, "/secret", MOTE_ROUTE_PREFIX, &o, h_authed);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        sb_printf(&in, "GET /secret/x HTTP/1.1\r\nHost: x\r\n");
        if (cases[i].authorization) sb_printf(&in, "Authorization: %s\r\n", cases[i].authorization);
        sb_printf(&in, "\r\n" REQ_B);
        h_feed(&h, in.p, in.len, 0);
        if (cases[i].ok) {
            sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "welcome\n");
            CHECK_MSG(S.calls == 1, "%s: refused", cases[i].authorization);
        } else {
            sb_response(&want, 401,
                        "WWW-Authenticate: Basic realm=\"dev area\", charset=\"UTF-8\"\r\n"
                        "Content-Type: text/plain\r\n",
                        "", "401 Unauthorized\n");
            CHECK_MSG(S.calls == 0, "%s: let in", cases[i].authorization ? cases[i].authorization
                                                                         : "(none)");
        }
        want_echo(&want, "/b", "");
        CHECK_MSG(h.out_len == want.len && memcmp(h_out(&h), want.p, want.len) == 0, "%s:\n%s",
                  cases[i].authorization ? cases[i].authorization : "(none)", h_out(&h));
        /* the credentials never appear in the output */
        CHECK(h_find(h_out(&h), h.out_len, "s3cret") == NULL);
        CHECK(h_find(h_out(&h), h.out_len, "YWRtaW46") == NULL);
        CHECK(h_find(h_out(&h), h.out_len, "admin") == NULL);
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }

    /* a protected route's sibling path is not protected; a refused body is drained */
    {
        harness h;
        h_options o;
        strbuf want = {0};
        memset(&o, 0, sizeof o);
        o.auth = &auth;
        seen_reset();
        h_init(&h);
        h_route_with(&h, "/secret", MOTE_ROUTE_PREFIX, &o, h_authed);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed_str(&h, "POST /secret HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n" SMUGGLED
                       "GET /secretary HTTP/1.1\r\nHost: x\r\n\r\n", 1);
        sb_response(&want, 401,
                    "WWW-Authenticate: Basic realm=\"dev area\", charset=\"UTF-8\"\r\n"
                    "Content-Type: text/plain\r\n",
                    "", "401 Unauthorized\n");
        want_echo(&want, "/secretary", "");
        CHECK_OUT(&h, want.p);
        CHECK(!h_logged(&h, "/smuggled"));
        sb_free(&want);
        h_free(&h);
    }

    /* mote_basic_auth_check directly */
    {
        static const struct {
            const char *authorization;
            int want[9];
        } direct[] = {
            {"Basic YWRtaW46czNjcmV0", {1, 0, 0, 0, 0, 0, 0, 0, 0}},
            {"basic   YWRtaW46czNjcmV0", {1, 0, 0, 0, 0, 0, 0, 0, 0}},
            {"Basic dTpwOnE=", {0, 0, 0, 0, 1, 0, 0, 0, 0}},   /* u:p:q, a colon in the password */
            {"Basic dTo=", {0, 0, 0, 0, 0, 1, 0, 0, 0}},       /* u: an empty password */
            {"Bearer dTo=", {0, 0, 0, 0, 0, 0, 0, 0, 0}},
            {NULL, {0, 0, 0, 0, 0, 0, 0, 0, 0}},
        };
        for (i = 0; i < sizeof direct / sizeof direct[0]; i++) {
            harness h;
            strbuf in = {0};
            size_t k;
            seen_reset();
            h_init(&h);
            h_route(&h, "/", MOTE_ROUTE_PREFIX, h_check_auth);
            h_start(&h);
            sb_printf(&in, "GET / HTTP/1.1\r\nHost: x\r\n");
            if (direct[i].authorization) sb_printf(&in, "Authorization: %s\r\n", direct[i].authorization);
            sb_printf(&in, "\r\n");
            h_feed(&h, in.p, in.len, 0);
            CHECK_EQ_INT(S.calls, 1);
            for (k = 0; k < 9; k++)
                CHECK_MSG(S.auth_results[k] == direct[i].want[k], "%s, check %zu: %d",
                          direct[i].authorization ? direct[i].authorization : "(none)", k,
                          S.auth_results[k]);
            sb_free(&in);
            h_free(&h);
        }
    }

    /* mote_respond_unauthorized's arguments */
    {
        harness h;
        h_init(&h);
        h_route(&h, "/u", MOTE_ROUTE_EXACT, h_unauthorized_args);
        h_start(&h);
        h_feed_str(&h, "GET /u HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        CHECK_EQ_INT(S.auth_results[0], MOTE_EINVAL);
        CHECK_EQ_INT(S.auth_results[1], MOTE_EINVAL);
        CHECK_EQ_INT(S.auth_results[2], MOTE_OK);
        h_free(&h);
    }

    /* invalid credentials at registration */
    {
        harness h;
        h_options o;
        mote_basic_auth a = {"r", "us:er", "p"}, q = {"quote\"d", "u", "p"}, n = {NULL, "u", "p"};
        memset(&o, 0, sizeof o);
        h_init(&h);
        o.auth = &a;
        CHECK_EQ_INT(h_route_rc(&h, "/x", 0, &o, h_authed), MOTE_EINVAL);
        o.auth = &q;
        CHECK_EQ_INT(h_route_rc(&h, "/x", 0, &o, h_authed), MOTE_EINVAL);
        o.auth = &n;
        CHECK_EQ_INT(h_route_rc(&h, "/x", 0, &o, h_authed), MOTE_EINVAL);
        h_free(&h);
    }
}

/* ---- mote_response_length ------------------------------------------------------------------ */

typedef struct length_plan {
    uint64_t length;
    size_t writes[4];    /* sizes written in turn; 0 ends the list */
    int want_rc[4];
} length_plan;

static length_plan plan;
static int length_rcs[4], length_end_rc, length_late_rc;

static void h_length(mote_request *req, mote_response *res, void *user)
{
    static const char bytes[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    size_t i, off = 0;
    h_log(user, req);
    S.calls++;
    CHECK_EQ_INT(mote_response_length(res, plan.length), MOTE_OK);
    for (i = 0; i < 4 && plan.writes[i]; i++) {
        length_rcs[i] = mote_response_write(res, bytes + off, plan.writes[i]);
        if (length_rcs[i] == MOTE_OK) off += plan.writes[i];
        if (i == 0) length_late_rc = mote_response_length(res, 5); /* the head is out */
    }
    length_end_rc = mote_response_end(res);
}

/* A declared length written past a full send buffer: MOTE_EAGAIN takes nothing off the length,
 * the handler goes on from on_ready, and the body arrives whole (found by examples/upload.c). */
#define LW_TOTAL 50000
static size_t lw_sent;
static int lw_eagain;

static void lw_more(mote_response *res, void *user)
{
    char piece[1000];
    (void)user;
    memset(piece, 'q', sizeof piece);
    while (lw_sent < LW_TOTAL) {
        size_t n = LW_TOTAL - lw_sent < sizeof piece ? LW_TOTAL - lw_sent : sizeof piece;
        int rc = mote_response_write(res, piece, n);
        if (rc == MOTE_EAGAIN) {
            lw_eagain++;
            return;
        }
        CHECK_EQ_INT(rc, MOTE_OK);
        if (rc < 0) return;
        lw_sent += n;
    }
    CHECK_EQ_INT(mote_response_end(res), MOTE_OK);
}

static void h_length_eagain(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    lw_sent = 0;
    lw_eagain = 0;
    CHECK_EQ_INT(mote_response_length(res, LW_TOTAL), MOTE_OK);
    CHECK_EQ_INT(mote_response_defer(res, lw_more), MOTE_OK);
    lw_more(res, NULL);
}

static void test_response_length_eagain(void)
{
    harness h;
    strbuf want = {0};
    char *body = malloc(LW_TOTAL + 1);
    size_t i;
    CHECK(body != NULL);
    if (!body) return;
    memset(body, 'q', LW_TOTAL);
    body[LW_TOTAL] = '\0';
    seen_reset();
    h_init(&h);
    h.drain = 0;
    h_route(&h, "/lw", MOTE_ROUTE_EXACT, h_length_eagain);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /lw HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    for (i = 0; i < 10000 && h_drain(&h, 700) > 0; i++) {
    }
    CHECK(lw_eagain > 0);
    CHECK_EQ_INT(lw_sent, LW_TOTAL);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 50000\r\n\r\n");
    sb_add(&want, body, LW_TOTAL);
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK(!conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
    free(body);
}

/* A connection with /l answered by h_length and everything else echoed, and an empty plan. */
static void start_length_case(harness *h)
{
    seen_reset();
    h_init(h);
    h_route(h, "/l", MOTE_ROUTE_EXACT, h_length);
    h_route(h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(h);
    memset(&plan, 0, sizeof plan);
}

static void test_response_length(void)
{
    harness h;
    strbuf want = {0};

    /* writes adding up to the length: Content-Length framing, and the connection goes on */
    start_length_case(&h);
    plan.length = 10;
    plan.writes[0] = 4;
    plan.writes[1] = 6;
    h_feed_str(&h, "GET /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    CHECK_EQ_INT(length_rcs[0], MOTE_OK);
    CHECK_EQ_INT(length_rcs[1], MOTE_OK);
    CHECK_EQ_INT(length_late_rc, MOTE_ESTATE);
    CHECK_EQ_INT(length_end_rc, MOTE_OK);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 10\r\n\r\n0123456789");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK(h_find(h_out(&h), h.out_len, "Transfer-Encoding") == NULL);
    CHECK(!conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* beyond the length: MOTE_EINVAL, nothing of it written */
    start_length_case(&h);
    plan.length = 5;
    plan.writes[0] = 3;
    plan.writes[1] = 3;
    plan.writes[2] = 2;
    plan.writes[3] = 1;
    h_feed_str(&h, "GET /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    CHECK_EQ_INT(length_rcs[0], MOTE_OK);
    CHECK_EQ_INT(length_rcs[1], MOTE_EINVAL);
    CHECK_EQ_INT(length_rcs[2], MOTE_OK);
    CHECK_EQ_INT(length_rcs[3], MOTE_EINVAL);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 5\r\n\r\n01234");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* ending short: the connection closes, the only way to tell the client */
    start_length_case(&h);
    plan.length = 10;
    plan.writes[0] = 4;
    h_feed_str(&h, "GET /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    CHECK_EQ_INT(length_end_rc, MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 10\r\n\r\n0123");
    CHECK(!h_logged(&h, "/b"));
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* ending with nothing written is ending short too: the declared length, then close */
    start_length_case(&h);
    plan.length = 10;
    h_feed_str(&h, "GET /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    CHECK_EQ_INT(length_end_rc, MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 10\r\n\r\n");
    CHECK(!h_logged(&h, "/b"));
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* zero length, nothing written */
    start_length_case(&h);
    plan.length = 0;
    h_feed_str(&h, "GET /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 0\r\n\r\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* HEAD: the header, no body, and the connection goes on */
    start_length_case(&h);
    plan.length = 10;
    plan.writes[0] = 4;
    plan.writes[1] = 6;
    h_feed_str(&h, "HEAD /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    CHECK_EQ_INT(length_rcs[0], MOTE_OK);
    CHECK_EQ_INT(length_rcs[1], MOTE_OK);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 10\r\n\r\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    CHECK(!conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* HEAD with nothing written: still no close */
    start_length_case(&h);
    plan.length = 10;
    h_feed_str(&h, "HEAD /l HTTP/1.1\r\nHost: x\r\n\r\n" REQ_B, 0);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 10\r\n\r\n");
    want_echo(&want, "/b", "");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    /* HTTP/1.0 with keep-alive: the declared length lets it go on */
    start_length_case(&h);
    plan.length = 3;
    plan.writes[0] = 3;
    h_feed_str(&h, "GET /l HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                   "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 3\r\n"
                     "Connection: keep-alive\r\n\r\n012");
    want_echo(&want, "/b", "Connection: keep-alive\r\n");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);

    CHECK_EQ_INT(mote_response_length(NULL, 1), MOTE_EINVAL);
}

int main(void)
{
    test_stream_bodies();
    test_stream_misuse();
    test_pause_resume();
    test_pause_then_answer();
    test_collect();
    test_collect_abort();
    test_collect_limit();
    test_collect_enomem();
    test_framing_refused();
    test_expect_stream();
    test_expect_collect();
    test_expect_refused();
    test_expect_other();
    test_methods();
    test_head();
    test_targets();
    test_auth();
    test_response_length();
    test_response_length_eagain();
    test_answer_before_body_ends();
    seen_reset();
    return check_report("test_semantics");
}
