/* test_conn.c - the connection machine driven in-process: keep-alive and close, pipelining in
 * every split, request bodies skipped (never parsed as requests), limits and parse errors, end
 * of input, back-pressure, lending the block, and what a handler can read of its request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"

/* ---- handlers -------------------------------------------------------------------------- */

/* Answers 200 with the target and a newline. */
static void h_echo(mote_request *req, mote_response *res, void *user)
{
    char body[512];
    snprintf(body, sizeof body, "%s\n", mote_request_target(req));
    h_log(user, req);
    mote_respond(res, 200, "text/plain", body);
}

static void want_echo(strbuf *b, const char *target, const char *connection, int head)
{
    char body[512];
    snprintf(body, sizeof body, "%s\n", target);
    if (head) {
        sb_printf(b, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s\r\n", strlen(body), connection);
    } else {
        sb_response(b, 200, "Content-Type: text/plain\r\n", connection, body);
    }
}

/* What a handler saw of its request. */
#define MAX_SEEN_HEADERS 16
typedef struct seen {
    int called;
    char method[32], target[256], path[256], query[256];
    size_t method_strlen, target_strlen, path_len, query_len;
    int version;
    size_t header_count;
    char names[MAX_SEEN_HEADERS][64], values[MAX_SEEN_HEADERS][128];
    size_t name_len[MAX_SEEN_HEADERS], value_len[MAX_SEEN_HEADERS];
    int lengths_ok;             /* every name and value: strlen equals the reported length */
    int at_past_end, at_null_out;
    const char *lookups[8];     /* pointers as returned, compared while still valid */
    char lookup_text[8][128];
    int lookup_null[8];
    char peer[64];
    int peer_rc, peer_small_rc, peer_noport_rc;
    uint16_t port;
    int is_tls;
} seen;

static seen last;
static const char *lookup_names[8] = {"x-dup", "X-DUP", "Host", "missing", "x-empty", "X-Du",
                                      "x-dupx", "x-space"};

static void copy_view(char *dst, size_t cap, const char *p, size_t len)
{
    if (len >= cap) len = cap - 1;
    memcpy(dst, p, len);
    dst[len] = '\0';
}

static void h_inspect(mote_request *req, mote_response *res, void *user)
{
    mote_str s;
    mote_header hd;
    size_t i;
    char small[5];
    memset(&last, 0, sizeof last);
    last.called = 1;
    h_log(user, req);
    copy_view(last.method, sizeof last.method, mote_request_method(req),
              strlen(mote_request_method(req)));
    last.method_strlen = strlen(mote_request_method(req));
    copy_view(last.target, sizeof last.target, mote_request_target(req),
              strlen(mote_request_target(req)));
    last.target_strlen = strlen(mote_request_target(req));
    s = mote_request_path(req);
    copy_view(last.path, sizeof last.path, s.ptr, s.len);
    last.path_len = s.len;
    s = mote_request_query(req);
    copy_view(last.query, sizeof last.query, s.ptr, s.len);
    last.query_len = s.len;
    last.version = mote_request_version(req);
    last.header_count = mote_request_header_count(req);
    last.lengths_ok = 1;
    for (i = 0; i < last.header_count && i < MAX_SEEN_HEADERS; i++) {
        if (mote_request_header_at(req, i, &hd) != MOTE_OK) {
            last.lengths_ok = 0;
            continue;
        }
        copy_view(last.names[i], sizeof last.names[i], hd.name, hd.name_len);
        copy_view(last.values[i], sizeof last.values[i], hd.value, hd.value_len);
        last.name_len[i] = hd.name_len;
        last.value_len[i] = hd.value_len;
        if (strlen(hd.name) != hd.name_len || strlen(hd.value) != hd.value_len) last.lengths_ok = 0;
    }
    last.at_past_end = mote_request_header_at(req, last.header_count, &hd);
    last.at_null_out = mote_request_header_at(req, 0, NULL);
    for (i = 0; i < 8; i++) {
        const char *v = mote_request_header(req, lookup_names[i]);
        last.lookups[i] = v;
        last.lookup_null[i] = v == NULL;
        if (v) copy_view(last.lookup_text[i], sizeof last.lookup_text[i], v, strlen(v));
        /* the value found is the same storage header_at gives */
        if (v) {
            size_t k;
            int found = 0;
            for (k = 0; k < last.header_count; k++) {
                if (mote_request_header_at(req, k, &hd) == MOTE_OK && hd.value == v) found = 1;
            }
            if (!found) last.lengths_ok = 0;
        }
    }
    last.peer_rc = mote_request_peer(req, last.peer, sizeof last.peer, &last.port);
    last.peer_small_rc = mote_request_peer(req, small, sizeof small, NULL);
    {
        char buf[64];
        last.peer_noport_rc = mote_request_peer(req, buf, sizeof buf, NULL);
    }
    last.is_tls = mote_request_is_tls(req);
    mote_respond(res, 200, "text/plain", "seen\n");
}

/* Answers, ignoring the request body. */
static void h_ignore_body(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    mote_respond(res, 200, "text/plain", "ignored\n");
}

static unsigned begins, ends;
static void hook_begin(mote_exchange *x)
{
    (void)x;
    begins++;
}
static void hook_end(mote_exchange *x)
{
    (void)x;
    ends++;
}

/* ---- keep-alive and close -------------------------------------------------------------- */

static void test_keep_alive(void)
{
    harness h;
    strbuf want = {0};
    char *at;
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    want_echo(&want, "/one", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK(!conn_is_done(&h.conn));
    CHECK(conn_read_space(&h.conn, &at) > 0);
    h_feed_str(&h, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    want_echo(&want, "/two", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK(!conn_is_done(&h.conn));
    CHECK_EQ_INT(h.conn.requests, 2);
    CHECK(h_find(h_out(&h), h.out_len, "Connection:") == NULL);
    sb_free(&want);
    h_free(&h);
}

static void test_close(void)
{
    static const char *const forms[] = {"Connection: close", "connection: CLOSE",
                                        "Connection: keep-alive, close", "Connection: x,  Close ,y"};
    size_t i;
    for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        harness h;
        strbuf in = {0}, want = {0};
        char *at;
        size_t fed;
        h_init(&h);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        sb_printf(&in, "GET /a HTTP/1.1\r\nHost: x\r\n%s\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                  forms[i]);
        fed = h_feed(&h, in.p, in.len, 0);
        CHECK(fed <= in.len);
        want_echo(&want, "/a", "Connection: close\r\n", 0);
        CHECK_OUT(&h, want.p);
        CHECK_EQ_INT(h.log_count, 1);
        CHECK(conn_is_done(&h.conn));
        CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }
}

static void test_http10(void)
{
    harness h;
    strbuf want = {0};
    /* closes by default */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n", 0);
    want_echo(&want, "/a", "Connection: close\r\n", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* keep-alive when asked, and said so; the first request without it closes */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h,
               "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
               "GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: x\r\n\r\n"
               "GET /c HTTP/1.0\r\n\r\n"
               "GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
               0);
    want_echo(&want, "/a", "Connection: keep-alive\r\n", 0);
    want_echo(&want, "/b", "Connection: keep-alive\r\n", 0);
    want_echo(&want, "/c", "Connection: close\r\n", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 3);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* keep-alive and close together: close wins */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /a HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /b HTTP/1.0\r\n\r\n", 0);
    want_echo(&want, "/a", "Connection: close\r\n", 0);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
}

/* ---- pipelining ------------------------------------------------------------------------- */

/* Request i of a pipeline, of one of five kinds, and the response it must get. Bodies hold a
 * request of their own that must never be dispatched. */
static void gen_request(strbuf *in, strbuf *want, int i)
{
    static const char smuggled[] = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    char target[64];
    switch (i % 5) {
    case 0:
        snprintf(target, sizeof target, "/p/%d", i);
        sb_printf(in, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
        want_echo(want, target, "", 0);
        break;
    case 1:
        snprintf(target, sizeof target, "/p/%d", i);
        sb_printf(in, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", target,
                  sizeof smuggled - 1, smuggled);
        want_echo(want, target, "", 0);
        break;
    case 2:
        snprintf(target, sizeof target, "/p/%d", i);
        sb_printf(in, "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
        want_echo(want, target, "", 1);
        break;
    case 3:
        snprintf(target, sizeof target, "/p/%d", i);
        sb_printf(in, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nGET /\r\n%zx\r\n%s\r\n0\r\nTrailer: t\r\n\r\n",
                  target, sizeof smuggled - 1 - 5, smuggled + 5);
        want_echo(want, target, "", 0);
        break;
    default:
        snprintf(target, sizeof target, "/p/%d?q=%d&r", i, i);
        sb_printf(in, "\r\nGET %s HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-Pad: %.*s\r\n\r\n",
                  target, i % 40, "........................................");
        want_echo(want, target, "", 0);
        break;
    }
}

static int pipeline_run(const strbuf *in, const strbuf *want, int n, size_t split,
                        size_t drain_step, int verbose)
{
    harness h;
    int ok = 1, i;
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h.drain_step = drain_step;
    h_start(&h);
    if (h_feed(&h, in->p, in->len, split) != in->len) ok = 0;
    if (h.out_len != want->len || memcmp(h_out(&h), want->p, want->len) != 0) ok = 0;
    if (h.log_count != (size_t)n || h_logged(&h, "/smuggled")) ok = 0;
    for (i = 0; i < n && i < H_LOG_MAX && ok; i++) {
        char t[64];
        snprintf(t, sizeof t, "/p/%d", i);
        if (strncmp(h.log[i], t, strlen(t)) != 0) ok = 0;
    }
    if (h.conn.requests != (uint32_t)n || conn_is_done(&h.conn) || !conn_is_idle(&h.conn)) ok = 0;
    if (!ok && verbose)
        fprintf(stderr, "pipeline of %d, split %zu, drain step %zu: %zu requests dispatched, "
                        "%zu bytes out (want %zu)\n",
                n, split, drain_step, h.log_count, h.out_len, want->len);
    h_free(&h);
    return ok;
}

static void test_pipeline(void)
{
    static const int sizes[] = {3, 10, 100};
    size_t k;
    for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        strbuf in = {0}, want = {0};
        int i, n = sizes[k], failures = 0;
        size_t split;
        for (i = 0; i < n; i++) gen_request(&in, &want, i);
        CHECK(pipeline_run(&in, &want, n, 0, 0, 1));
        for (split = 1; split <= in.len; split++) {
            if (!pipeline_run(&in, &want, n, split, 0, failures < 3)) failures++;
        }
        CHECK_MSG(failures == 0, "%d requests: %d of %zu split sizes differ", n, failures, in.len);
        /* a slow reader: output taken a few bytes at a time */
        CHECK(pipeline_run(&in, &want, n, 0, 1, 1));
        CHECK(pipeline_run(&in, &want, n, 7, 3, 1));
        CHECK(pipeline_run(&in, &want, n, 1, 13, 1));
        sb_free(&in);
        sb_free(&want);
    }
}

/* ---- request bodies --------------------------------------------------------------------- */

static void check_body_skipped(const char *input, const char *what)
{
    size_t len = strlen(input), split;
    int failures = 0;
    strbuf want = {0};
    want_echo(&want, "/b", "", 0);
    for (split = 0; split <= len; split++) {
        harness h;
        h_init(&h);
        h_route(&h, "/a", MOTE_ROUTE_EXACT, h_ignore_body);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        h_feed(&h, input, len, split);
        if (h.log_count != 2 || strcmp(h.log[0], "/a") != 0 || strcmp(h.log[1], "/b") != 0 ||
            h_logged(&h, "/smuggled") ||
            h.out_len < want.len || memcmp(h_out(&h) + h.out_len - want.len, want.p, want.len) != 0 ||
            !conn_is_idle(&h.conn)) {
            if (failures < 3)
                fprintf(stderr, "%s, split %zu: %zu dispatched, output:\n%s\n", what, split,
                        h.log_count, h_out(&h));
            failures++;
        }
        h_free(&h);
    }
    CHECK_MSG(failures == 0, "%s: %d split sizes failed", what, failures);
    sb_free(&want);
}

static void test_bodies_skipped(void)
{
    check_body_skipped("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                       "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n....."
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "Content-Length body");
    check_body_skipped("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "empty Content-Length body");
    check_body_skipped("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "23\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n"
                       "3;name=\"quoted;value\"\r\nabc\r\n"
                       "0\r\nX-Trailer: GET /smuggled\r\n\r\n"
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "chunked body");
    check_body_skipped("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "empty chunked body");
    /* GET with a body */
    check_body_skipped("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n"
                       "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                       "GET with a body");

    /* a body far bigger than the input buffer flows through it (when the drain limit lets
     * the connection read it all) */
    {
        harness h;
        strbuf in = {0}, want = {0};
        size_t body = 200000, i, fed;
        h_init(&h);
        h.env.max_drain_size = 1024 * 1024;
        h_route(&h, "/a", MOTE_ROUTE_EXACT, h_ignore_body);
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        sb_printf(&in, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", body);
        for (i = 0; i < body / 40; i++) sb_printf(&in, "GET /smuggled HTTP/1.1\r\nHost: y\r\n\r\n.....");
        sb_printf(&in, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        fed = h_feed(&h, in.p, in.len, 0);
        CHECK_EQ_INT(fed, in.len);
        sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "ignored\n");
        want_echo(&want, "/b", "", 0);
        CHECK_OUT(&h, want.p);
        CHECK_EQ_INT(h.log_count, 2);
        CHECK(!h_logged(&h, "/smuggled"));
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }
}

/* A body the handler ignores is drained only up to max_drain_size: a declared length whose
 * rest is over it closes the connection instead (the response says so), a chunked body that
 * grows past it closes the connection once the limit is crossed. */
static void drain_case(size_t body, int chunked, int closes)
{
    harness h;
    strbuf in = {0}, want = {0};
    size_t i, fed;
    h_init(&h);
    CHECK_EQ_INT(h.env.max_drain_size, 65536);
    h_route(&h, "/a", MOTE_ROUTE_EXACT, h_ignore_body);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    if (chunked) {
        sb_printf(&in, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (i = 0; i < body / 1000; i++) {
            size_t k;
            sb_printf(&in, "3e8\r\n");
            for (k = 0; k < 1000; k++) sb_add(&in, "x", 1);
            sb_printf(&in, "\r\n");
        }
        sb_printf(&in, "0\r\n\r\n");
    } else {
        sb_printf(&in, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", body);
        for (i = 0; i < body; i++) sb_add(&in, "x", 1);
    }
    sb_printf(&in, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    fed = h_feed(&h, in.p, in.len, 0);
    if (closes) {
        sb_response(&want, 200, "Content-Type: text/plain\r\n",
                    chunked ? "" : "Connection: close\r\n", "ignored\n");
        CHECK_OUT(&h, want.p);
        CHECK(fed < in.len);
        CHECK_EQ_INT(h.log_count, 1);
        CHECK(!h_logged(&h, "/b"));
        CHECK(conn_is_done(&h.conn));
    } else {
        sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "ignored\n");
        want_echo(&want, "/b", "", 0);
        CHECK_OUT(&h, want.p);
        CHECK_EQ_INT(fed, in.len);
        CHECK_EQ_INT(h.log_count, 2);
        CHECK(!conn_is_done(&h.conn));
        CHECK(conn_is_idle(&h.conn));
    }
    sb_free(&in);
    sb_free(&want);
    h_free(&h);
}

static void test_drain_limit(void)
{
    drain_case(65536, 0, 0);     /* exactly the limit: drained */
    drain_case(65537, 0, 1);     /* one byte over: Connection: close, not read */
    drain_case(200000, 0, 1);
    drain_case(65000, 1, 0);     /* chunked within the limit */
    drain_case(100000, 1, 1);    /* chunked past it: closed once it is crossed */
}

static void test_body_limit(void)
{
    harness h;
    strbuf want = {0};
    /* declared above the limit: 413 before any handler, and closing */
    h_init(&h);
    h.env.max_body_size = 100;
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h,
               "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
               "0123456789012345678901234567890123456789012345678901234567890123456789"
               "012345678901234567890123456789"
               "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"
               "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    want_echo(&want, "/a", "", 0);
    sb_error(&want, 413);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(!h_logged(&h, "/big") && !h_logged(&h, "/smuggled") && !h_logged(&h, "/after"));
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* a chunked body growing past the limit: the handler has answered; the connection closes
     * and nothing after the body is dispatched */
    h_init(&h);
    h.env.max_body_size = 10;
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h,
               "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n"
               "GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    want_echo(&want, "/c", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* bad chunked framing after the head: likewise */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h,
               "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    want_echo(&want, "/c", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
}

/* ---- parse errors ----------------------------------------------------------------------- */

typedef struct bad_case {
    const char *head;
    int status;
} bad_case;

static void run_bad(const char *head, int status, size_t split, int *failures, harness *hp,
                    const char *prefix_req, const char *prefix_want)
{
    strbuf in = {0}, want = {0};
    harness *h = hp;
    h_init(h);
    h_route(h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(h);
    sb_printf(&in, "%s", prefix_req);
    sb_add(&in, head, strlen(head));
    sb_printf(&in, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    sb_printf(&want, "%s", prefix_want);
    sb_error(&want, status);
    h_feed(h, in.p, in.len, split);
    if (h->out_len != want.len || memcmp(h_out(h), want.p, want.len) != 0 ||
        h_logged(h, "/after") || h->log_count != (prefix_req[0] ? 1u : 0u) ||
        !conn_is_done(&h->conn)) {
        if (*failures < 6)
            fprintf(stderr, "bad request %.40s... (want %d), split %zu: output:\n%s\n", head,
                    status, split, h_out(h));
        (*failures)++;
    }
    sb_free(&in);
    sb_free(&want);
    h_free(h);
}

static void test_parse_errors(void)
{
    static const bad_case cases[] = {
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: x\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400},
        {"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},                        /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  /* two */
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400},
        {"GET / http/1.1\r\nHost: x\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        /* CONNECT is a method mote does not implement: 501 (RFC 9110 §9.3.6, §15.6.2); the
         * authority-form with a method it implements is 400 */
        {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
        {"GET h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400},
        {"OPTIONS h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400},
        /* unknown methods: 501, and the connection closes */
        {"PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"get / HTTP/1.1\r\nHost: x\r\n\r\n", 501},  /* methods are case-sensitive */
        {"M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"GET h/p HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET ?x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    };
    size_t i;
    int failures = 0;
    harness *h = malloc(sizeof *h);
    strbuf first = {0};
    if (!h) abort();
    want_echo(&first, "/first", "", 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t split, len = strlen(cases[i].head);
        /* alone, and after an answered request, whole and byte by byte */
        run_bad(cases[i].head, cases[i].status, 0, &failures, h, "", "");
        run_bad(cases[i].head, cases[i].status, 1, &failures, h, "", "");
        run_bad(cases[i].head, cases[i].status, 0, &failures, h,
                "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", first.p);
        for (split = 2; split < len; split += 5)
            run_bad(cases[i].head, cases[i].status, split, &failures, h,
                    "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", first.p);
    }
    CHECK_EQ_INT(failures, 0);

    /* the limits: 414, 431 */
    {
        strbuf line = {0}, fields = {0}, many = {0}, exact = {0}, want = {0};
        size_t k;
        sb_printf(&line, "GET /");
        for (k = 0; k < 8200; k++) sb_add(&line, "a", 1);
        sb_printf(&line, " HTTP/1.1\r\nHost: x\r\n\r\n");
        run_bad(line.p, 414, 0, &failures, h, "", "");
        run_bad(line.p, 414, 1000, &failures, h, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", first.p);

        sb_printf(&fields, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
        for (k = 0; k < 8200; k++) sb_add(&fields, "b", 1);
        sb_printf(&fields, "\r\n\r\n");
        run_bad(fields.p, 431, 0, &failures, h, "", "");
        run_bad(fields.p, 431, 999, &failures, h, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", first.p);

        sb_printf(&many, "GET / HTTP/1.1\r\nHost: x\r\n");
        for (k = 0; k < 64; k++) sb_printf(&many, "X-%zu: v\r\n", k);
        sb_printf(&many, "\r\n");
        run_bad(many.p, 431, 0, &failures, h, "", "");
        run_bad(many.p, 431, 3, &failures, h, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n", first.p);
        CHECK_EQ_INT(failures, 0);

        /* right at the limits: served */
        sb_printf(&exact, "GET /");
        for (k = 0; k < 8192 - strlen("GET / HTTP/1.1"); k++) sb_add(&exact, "a", 1);
        sb_printf(&exact, " HTTP/1.1\r\nHost: x\r\n");
        for (k = 0; k < 62; k++) sb_printf(&exact, "X-%zu: v\r\n", k);
        sb_printf(&exact, "\r\n");
        h_init(h);
        h_route(h, "/", MOTE_ROUTE_PREFIX, h_ignore_body);
        h_start(h);
        h_feed(h, exact.p, exact.len, 0);
        sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "ignored\n");
        CHECK_OUT(h, want.p);
        h_free(h);
        sb_free(&line);
        sb_free(&fields);
        sb_free(&many);
        sb_free(&exact);
        sb_free(&want);
    }
    sb_free(&first);
    free(h);
}

/* ---- end of input ----------------------------------------------------------------------- */

static void test_peer_eof(void)
{
    harness h;
    strbuf want = {0};

    /* nothing received */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_eof(&h);
    CHECK(conn_is_done(&h.conn));
    CHECK_EQ_INT(h.out_len, 0);
    h_free(&h);

    /* a truncated head: closed without an answer */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /a HTTP/1.1\r\nHo", 0);
    CHECK(h_partial_head(&h));
    h_eof(&h);
    CHECK(conn_is_done(&h.conn));
    CHECK_EQ_INT(h.out_len, 0);
    CHECK_EQ_INT(h.log_count, 0);
    h_free(&h);

    /* complete requests then a truncated one */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HT", 0);
    h_eof(&h);
    want_echo(&want, "/a", "", 0);
    want_echo(&want, "/b", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* complete requests not yet answered (the reader has not read): all answered, then done */
    {
        int i;
        strbuf in = {0};
        h_init(&h);
        h.env.out_size = 1024;
        h.drain = 0;
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
        h_start(&h);
        for (i = 0; i < 30; i++) {
            char t[32];
            snprintf(t, sizeof t, "/q/%d", i);
            sb_printf(&in, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", t);
            want_echo(&want, t, "", 0);
        }
        CHECK_EQ_INT(h_feed(&h, in.p, in.len, 0), in.len);
        CHECK(h.log_count < 30);
        h_eof(&h);
        CHECK(!conn_is_done(&h.conn)); /* still owes responses */
        h_drain(&h, SIZE_MAX);
        CHECK_OUT(&h, want.p);
        CHECK_EQ_INT(h.log_count, 30);
        CHECK(conn_is_done(&h.conn));
        sb_free(&in);
        sb_free(&want);
        h_free(&h);
    }

    /* the end of input in the middle of a body: the answer already went; then close */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_ignore_body);
    h_start(&h);
    h_feed_str(&h, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345", 0);
    CHECK_EQ_INT(h.log_count, 1);
    h_eof(&h);
    CHECK_MSG(conn_is_done(&h.conn), "peer EOF inside a request body: closing=%d",
              h.conn.closing);
    h_free(&h);
}

/* ---- back-pressure ---------------------------------------------------------------------- */

static void test_back_pressure(void)
{
    harness h;
    strbuf in = {0}, want = {0};
    size_t fed, rounds = 0;
    int i;
    char *at;
    const int n = 200;
    for (i = 0; i < n; i++) {
        char t[32];
        snprintf(t, sizeof t, "/bp/%d", i);
        sb_printf(&in, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", t);
        want_echo(&want, t, "", 0);
    }
    h_init(&h);
    h.env.max_request_line = 256;
    h.env.max_header_bytes = 256; /* a 520-byte input buffer */
    h.env.out_size = 1024;
    h.drain = 0;
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    CHECK_EQ_INT(h.env.in_size, 520);

    fed = h_feed(&h, in.p, in.len, 0);
    CHECK(fed < in.len);
    CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0); /* input is no longer read */
    CHECK(h.log_count > 0 && h.log_count < (size_t)n);
    /* dispatching stopped once the output and a head's reserve passed half the buffer, and
     * never overflowed it */
    CHECK(h_pending(&h) + h_head_reserve(&h) > h.env.out_size / 2);
    CHECK(h_pending(&h) <= h.env.out_size);
    CHECK(h.conn.b->in_len <= h.env.in_size);
    {
        size_t before = h.log_count;
        CHECK_EQ_INT(h_feed(&h, in.p + fed, in.len - fed, 0), 0);
        conn_received(&h.conn, 0);
        CHECK_EQ_INT(h.log_count, before);
        CHECK(!conn_is_idle(&h.conn));
        CHECK(conn_detach(&h.conn) == NULL);
    }

    /* the reader reads: the rest is answered, in order, byte for byte */
    while (fed < in.len && rounds++ < 100000) {
        h_drain(&h, SIZE_MAX);
        fed += h_feed(&h, in.p + fed, in.len - fed, 0);
    }
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(fed, in.len);
    CHECK_EQ_INT(h.log_count, n);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_idle(&h.conn));
    CHECK(!conn_is_done(&h.conn));
    sb_free(&in);
    sb_free(&want);
    h_free(&h);
}

/* ---- lending the block ------------------------------------------------------------------ */

static void test_detach(void)
{
    harness h;
    strbuf want = {0};
    char *b, *at;
    h_init(&h);
    h_route(&h, "/a", MOTE_ROUTE_EXACT, h_ignore_body);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);

    /* idle from the start */
    CHECK(conn_is_idle(&h.conn));
    b = conn_detach(&h.conn);
    CHECK(b == h.block);
    CHECK(conn_detach(&h.conn) == NULL); /* nothing left to give back */
    CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
    /* a different block from now on; the old one is gone */
    free(h.block);
    h.block = malloc(h.block_size);
    if (!h.block) abort();
    conn_attach(&h.conn, h.block);

    /* a partial head keeps it */
    h_feed_str(&h, "GET /x HTTP/1.1\r\n", 0);
    CHECK(h_partial_head(&h));
    CHECK(!conn_is_idle(&h.conn));
    CHECK(conn_detach(&h.conn) == NULL);
    h_feed_str(&h, "Host: x\r\n\r\n", 0);
    want_echo(&want, "/x", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK(!h_partial_head(&h));
    CHECK(conn_is_idle(&h.conn));
    b = conn_detach(&h.conn);
    CHECK(b == h.block);
    free(h.block);
    h.block = malloc(h.block_size);
    if (!h.block) abort();
    memset(h.block, 0x5a, h.block_size);
    conn_attach(&h.conn, h.block);

    /* pending output keeps it */
    h.drain = 0;
    h_feed_str(&h, "GET /y HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK(h_pending(&h) > 0);
    CHECK(!conn_is_idle(&h.conn));
    CHECK(conn_detach(&h.conn) == NULL);
    h_drain(&h, 10);
    CHECK(conn_detach(&h.conn) == NULL);
    h_drain(&h, SIZE_MAX);
    want_echo(&want, "/y", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_idle(&h.conn));
    h.drain = 1;

    /* a body still arriving keeps it */
    h_feed_str(&h, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345", 0);
    CHECK(!conn_is_idle(&h.conn));
    CHECK(conn_detach(&h.conn) == NULL);
    CHECK(!h_partial_head(&h));
    h_feed_str(&h, "67890", 0);
    CHECK(conn_is_idle(&h.conn));
    b = conn_detach(&h.conn);
    CHECK(b == h.block);
    conn_attach(&h.conn, b);
    /* and the connection carries on */
    h_feed_str(&h, "GET /z HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "ignored\n");
    want_echo(&want, "/z", "", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 4);
    sb_free(&want);
    h_free(&h);
}

/* ---- the request API -------------------------------------------------------------------- */

static void inspect(harness *h, const char *request)
{
    memset(&last, 0, sizeof last);
    h_clear_output(h);
    h_feed_str(h, request, 0);
}

static void test_request_api(void)
{
    harness h;
    size_t i;
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_inspect);
    h_default(&h, h_inspect);
    h_start(&h);
    h.conn.peer.family = 4;
    h.conn.peer.bytes[0] = 192;
    h.conn.peer.bytes[1] = 0;
    h.conn.peer.bytes[2] = 2;
    h.conn.peer.bytes[3] = 1;
    h.conn.peer.port = 54321;

    inspect(&h, "GET /a?b=1 HTTP/1.1\r\n"
                "Host: example.org\r\n"
                "X-Dup: one\r\n"
                "X-Empty:\r\n"
                "x-dup: two\r\n"
                "X-Space: \t a b \t \r\n"
                "Accept: */*\r\n"
                "\r\n");
    CHECK(last.called);
    CHECK_EQ_STR(last.method, "GET");
    CHECK_EQ_INT(last.method_strlen, 3);
    CHECK_EQ_STR(last.target, "/a?b=1");
    CHECK_EQ_INT(last.target_strlen, 6);
    CHECK_EQ_STR(last.path, "/a");
    CHECK_EQ_INT(last.path_len, 2);
    CHECK_EQ_STR(last.query, "b=1");
    CHECK_EQ_INT(last.query_len, 3);
    CHECK_EQ_INT(last.version, 11);
    CHECK_EQ_INT(last.header_count, 6);
    {
        static const char *const names[] = {"Host", "X-Dup", "X-Empty", "x-dup", "X-Space",
                                            "Accept"};
        static const char *const values[] = {"example.org", "one", "", "two", "a b", "*/*"};
        for (i = 0; i < 6; i++) {
            CHECK_EQ_STR(last.names[i], names[i]);
            CHECK_EQ_INT(last.name_len[i], strlen(names[i]));
            CHECK_EQ_STR(last.values[i], values[i]);
            CHECK_EQ_INT(last.value_len[i], strlen(values[i]));
        }
    }
    CHECK(last.lengths_ok);
    CHECK_EQ_INT(last.at_past_end, MOTE_EINVAL);
    CHECK_EQ_INT(last.at_null_out, MOTE_EINVAL);
    /* lookups: case-insensitive, the first occurrence, whole names only */
    CHECK(!last.lookup_null[0] && strcmp(last.lookup_text[0], "one") == 0);
    CHECK(!last.lookup_null[1] && strcmp(last.lookup_text[1], "one") == 0);
    CHECK(!last.lookup_null[2] && strcmp(last.lookup_text[2], "example.org") == 0);
    CHECK(last.lookup_null[3]);
    CHECK(!last.lookup_null[4] && strcmp(last.lookup_text[4], "") == 0);
    CHECK(last.lookup_null[5]);
    CHECK(last.lookup_null[6]);
    CHECK(!last.lookup_null[7] && strcmp(last.lookup_text[7], "a b") == 0);
    /* peer and TLS */
    CHECK_EQ_INT(last.peer_rc, MOTE_OK);
    CHECK_EQ_STR(last.peer, "192.0.2.1");
    CHECK_EQ_INT(last.port, 54321);
    CHECK_EQ_INT(last.peer_small_rc, MOTE_EINVAL);
    CHECK_EQ_INT(last.peer_noport_rc, MOTE_OK);
    CHECK_EQ_INT(last.is_tls, 0);
    CHECK(h_find(h_out(&h), h.out_len, "seen\n") != NULL);

    /* targets */
    inspect(&h, "GET /a? HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_STR(last.path, "/a");
    CHECK_EQ_INT(last.query_len, 0);
    CHECK_EQ_STR(last.target, "/a?");
    inspect(&h, "GET /a?x=1?y HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_STR(last.path, "/a");
    CHECK_EQ_STR(last.query, "x=1?y");
    inspect(&h, "GET /a/b/../c%20d?q=%41&r HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_STR(last.path, "/a/c d"); /* decoded, dot-segments removed */
    CHECK_EQ_INT(last.path_len, 6);
    CHECK_EQ_STR(last.target, "/a/b/../c%20d?q=%41&r"); /* the raw target as sent */
    CHECK_EQ_STR(last.query, "q=%41&r");                /* the query is not decoded */
    inspect(&h, "GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(last.called);
    CHECK_EQ_STR(last.target, "http://h/p?q");
    CHECK_EQ_STR(last.path, "/p");
    CHECK_EQ_STR(last.query, "q");
    inspect(&h, "GET https://h:8443/x/y HTTP/1.1\r\nHost: h:8443\r\n\r\n");
    CHECK_EQ_STR(last.path, "/x/y");
    CHECK_EQ_INT(last.query_len, 0);
    /* OPTIONS * is answered by the library, for the server as a whole, without a handler */
    inspect(&h, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(!last.called);
    CHECK_OUT(&h, "HTTP/1.1 204 No Content\r\n" H_PREFIX
                  "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n\r\n");
    CHECK(!conn_is_done(&h.conn));

    /* versions */
    inspect(&h, "GET /v HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK_EQ_INT(last.version, 10);
    CHECK_EQ_INT(last.header_count, 1);
    inspect(&h, "GET /v HTTP/1.9\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(last.version, 11);
    CHECK(!conn_is_done(&h.conn));

    /* a method mote does not implement: 501 without a handler, and the connection closes */
    inspect(&h, "PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(!last.called);
    {
        strbuf want = {0};
        sb_error(&want, 501);
        CHECK_OUT(&h, want.p);
        sb_free(&want);
    }
    CHECK(!h_logged(&h, "/after"));
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* IPv6 peer, TLS */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_inspect);
    h_start(&h);
    {
        static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        h.conn.peer.family = 6;
        memcpy(h.conn.peer.bytes, a6, 16);
        h.conn.peer.port = 443;
        h.conn.is_tls = 1;
    }
    inspect(&h, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(last.peer_rc, MOTE_OK);
    CHECK_EQ_STR(last.peer, "2001:db8::1");
    CHECK_EQ_INT(last.port, 443);
    CHECK_EQ_INT(last.is_tls, 1);
    CHECK_EQ_INT(last.header_count, 1);
    h_free(&h);
}

/* The query takes no part in routing; an absolute-form target is routed by its
 * path. */
static void test_routing_by_path(void)
{
    harness h;
    strbuf want = {0};
    h_init(&h);
    h_route(&h, "/p", MOTE_ROUTE_EXACT, h_echo);
    h_route(&h, "/dir", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h,
               "GET /p?x=/dir HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n"
               "GET /dir?x HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /p/?x HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /px?p HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n",
               0);
    want_echo(&want, "/p?x=/dir", "", 0);
    want_echo(&want, "http://h/p?q", "", 0);
    want_echo(&want, "/dir?x", "", 0);
    sb_response(&want, 404, "Content-Type: text/plain\r\n", "", "404 Not Found\n");
    sb_response(&want, 404, "Content-Type: text/plain\r\n", "", "404 Not Found\n");
    sb_response(&want, 404, "Content-Type: text/plain\r\n", "", "404 Not Found\n");
    CHECK_OUT(&h, want.p);
    sb_free(&want);
    h_free(&h);
}

/* ---- the engine's hooks and conn_expire ------------------------------------------------- */

static void test_hooks_and_expire(void)
{
    harness h;
    strbuf want = {0};
    h_init(&h);
    h.env.exchange_begin = hook_begin;
    h.env.exchange_end = hook_end;
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    begins = ends = 0;
    h_feed_str(&h, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(begins, 2);
    CHECK_EQ_INT(ends, 2);
    want_echo(&want, "/1", "", 0);
    want_echo(&want, "/2", "", 0);
    CHECK_OUT(&h, want.p);

    /* a timeout between requests: the connection just ends */
    conn_expire(&h.conn);
    h_drain(&h, SIZE_MAX);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* a timeout in the middle of a head: 408, and the connection ends */
    h_init(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_echo);
    h_start(&h);
    h_feed_str(&h, "GET /3 HTTP/1.1\r\nHo", 0);
    CHECK_EQ_INT(conn_timer(&h.conn), CT_HEAD);
    conn_expire(&h.conn);
    h_drain(&h, SIZE_MAX);
    sb_free(&want);
    sb_error(&want, 408);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
}

int main(void)
{
    test_keep_alive();
    test_close();
    test_http10();
    test_pipeline();
    test_bodies_skipped();
    test_drain_limit();
    test_body_limit();
    test_parse_errors();
    test_peer_eof();
    test_back_pressure();
    test_detach();
    test_request_api();
    test_routing_by_path();
    test_hooks_and_expire();
    return check_report("test_conn");
}
