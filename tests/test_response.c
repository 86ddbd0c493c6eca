/* test_response.c - the response writer, through the public API inside handlers of a real
 * mote_conn: exact bytes of one-shot and streamed responses, header rules, status rules, HEAD,
 * 204/304, what the library does for a handler that does not finish, and the send buffer's
 * limits (MOTE_ETOOBIG, MOTE_EAGAIN, the half-buffer guarantee). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"

/* Return codes handlers saw, in call order. */
static int rcs[256];
static size_t rc_count;

static void rec(int rc)
{
    if (rc_count < sizeof rcs / sizeof rcs[0]) rcs[rc_count] = rc;
    rc_count++;
}

static void rec_reset(void)
{
    rc_count = 0;
    memset(rcs, 0x7f, sizeof rcs);
}

/* The number in the query ("/fill?421" -> 421), 0 when none. */
static size_t query_number(mote_request *req)
{
    mote_str q = mote_request_query(req);
    size_t v = 0, i;
    for (i = 0; i < q.len && q.ptr[i] >= '0' && q.ptr[i] <= '9'; i++)
        v = v * 10 + (size_t)(q.ptr[i] - '0');
    return v;
}

static char big[70000];

static void fill_big(void)
{
    size_t i;
    for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
}

/* ---- handlers -------------------------------------------------------------------------- */

static void h_hello(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "Content-Type", "text/plain"));
    rec(mote_response_send(res, "hello", 5));
}

/* A body of exactly ?N bytes with no other header. */
static void h_fill(mote_request *req, mote_response *res, void *user)
{
    size_t n = query_number(req);
    h_log(user, req);
    rec(mote_response_send(res, big, n));
}

static void h_respond(mote_request *req, mote_response *res, void *user)
{
    const char *t = mote_request_target(req);
    h_log(user, req);
    if (strcmp(t, "/r/json") == 0) rec(mote_respond(res, 201, "application/json", "{}"));
    else if (strcmp(t, "/r/notype") == 0) rec(mote_respond(res, 202, NULL, "x"));
    else if (strcmp(t, "/r/nobody") == 0) rec(mote_respond(res, 200, "text/plain", NULL));
    else rec(mote_respond(res, 200, "text/plain", "default"));
}

static void h_headers(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "X-A", "1"));
    rec(mote_response_header(res, "Set-Cookie", "a=1"));
    rec(mote_response_header(res, "X-B", "two words\there"));
    rec(mote_response_header(res, "Set-Cookie", "b=2"));
    rec(mote_response_header(res, "X-Empty", ""));
    rec(mote_response_header(res, "X-Obs", "caf\xc3\xa9"));
    rec(mote_response_send(res, "ok", 2));
}

static void h_server_date(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "X-First", "1"));
    rec(mote_response_header(res, "server", "custom/1.0"));
    rec(mote_response_header(res, "DATE", "Mon, 01 Jan 2024 00:00:00 GMT"));
    rec(mote_response_send(res, "", 0));
}

static void h_server_only(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "Server", "other"));
    rec(mote_response_write(res, "s", 1));
    rec(mote_response_end(res));
}

static void h_framing_headers(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "Content-Length", "10"));
    rec(mote_response_header(res, "content-length", "10"));
    rec(mote_response_header(res, "Transfer-Encoding", "chunked"));
    rec(mote_response_header(res, "TRANSFER-ENCODING", "gzip"));
    rec(mote_response_send(res, "abc", 3));
}

static const char *const bad_names[] = {
    "", "Bad Name", "X:Y", "X\r\nX-Injected: 1", "X\n", "(x)", "a@b", "x/y", "caf\xc3\xa9",
    "\t", "X-\x7f", "a=b", "[x]", "{x}", "a\"b", "a,b", "a;b", "a?b", "a\\b",
};
static const char *const bad_values[] = {
    "a\r\nX-Injected: 1", "a\rb", "a\nb", "\r", "\n", "\x01", "a\x1f", "\x7f", "x\x0b",
};

static void h_bad_headers(mote_request *req, mote_response *res, void *user)
{
    size_t i;
    h_log(user, req);
    for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        rec(mote_response_header(res, bad_names[i], "v"));
    for (i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
        rec(mote_response_header(res, "X-Bad", bad_values[i]));
    rec(mote_response_header(res, NULL, "v"));
    rec(mote_response_header(res, "X", NULL));
    rec(mote_response_header(NULL, "X", "v"));
    /* good ones around the edges of tchar */
    rec(mote_response_header(res, "!#$%&'*+-.^_`|~09AZaz", "v"));
    rec(mote_response_send(res, "ok", 2));
}

static void h_conn_close(mote_request *req, mote_response *res, void *user)
{
    const char *t = mote_request_target(req);
    h_log(user, req);
    if (strcmp(t, "/close") == 0) rec(mote_response_header(res, "Connection", "close"));
    else if (strcmp(t, "/close-list") == 0)
        rec(mote_response_header(res, "Connection", "keep-alive, CLOSE"));
    else if (strcmp(t, "/keep") == 0) rec(mote_response_header(res, "Connection", "keep-alive"));
    else if (strcmp(t, "/closed") == 0) rec(mote_response_header(res, "Connection", "closed"));
    rec(mote_respond(res, 200, "text/plain", "bye"));
}

static void h_status_late(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "X-Before", "1"));
    rec(mote_response_status(res, 404));
    rec(mote_response_header(res, "X-After", "2"));
    rec(mote_response_status(res, 410));
    rec(mote_response_send(res, "gone", 4));
}

static void h_status_any(mote_request *req, mote_response *res, void *user)
{
    size_t n = query_number(req);
    h_log(user, req);
    rec(mote_response_status(res, (int)n));
    rec(mote_response_send(res, "s", 1));
}

static void h_status_bad(mote_request *req, mote_response *res, void *user)
{
    static const int bad[] = {-1, 0, 1, 99, 100, 101, 150, 199, 600, 999, 1000, 65536 + 200};
    size_t i;
    h_log(user, req);
    rec(mote_response_status(res, 203));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) rec(mote_response_status(res, bad[i]));
    rec(mote_response_status(NULL, 200));
    rec(mote_response_send(res, "", 0));
}

static void h_stream(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_header(res, "Content-Type", "text/plain"));
    rec(mote_response_write(res, "hello", 5));
    rec(mote_response_write(res, "", 0));
    rec(mote_response_write(res, NULL, 0));
    rec(mote_response_write(res, "abcdefghijklmnopqrstuvwxyz", 26));
    rec(mote_response_write(res, big, 256));
    rec(mote_response_end(res));
}

static void h_stream_noend(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_write(res, "part", 4));
}

static void h_stream_status(mote_request *req, mote_response *res, void *user)
{
    size_t n = query_number(req);
    h_log(user, req);
    rec(mote_response_status(res, (int)n));
    rec(mote_response_write(res, "data", 4));
    rec(mote_response_end(res));
}

static void h_send_status(mote_request *req, mote_response *res, void *user)
{
    size_t n = query_number(req);
    h_log(user, req);
    rec(mote_response_status(res, (int)n));
    rec(mote_response_header(res, "ETag", "\"x\""));
    rec(mote_response_send(res, "ignored", 7));
}

static void h_end_only(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_end(res));
}

static void h_nothing(mote_request *req, mote_response *res, void *user)
{
    (void)res;
    h_log(user, req);
}

static void h_staged_then_nothing(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_status(res, 404));
    rec(mote_response_header(res, "X-Leak", "1"));
}

static void h_toobig(mote_request *req, mote_response *res, void *user)
{
    conn_env *env = &((harness *)user)->env;
    h_log(user, req);
    rec(mote_response_header(res, "X-T", "1"));
    rec(mote_response_send(res, big, env->out_size + 1));
    rec(mote_response_send(res, big, env->out_size));
}

static void h_toobig_then_ok(mote_request *req, mote_response *res, void *user)
{
    conn_env *env = &((harness *)user)->env;
    h_log(user, req);
    rec(mote_response_send(res, big, env->out_size * 2));
    rec(mote_response_send(res, "small", 5));
}

static void h_write_toobig(mote_request *req, mote_response *res, void *user)
{
    conn_env *env = &((harness *)user)->env;
    h_log(user, req);
    rec(mote_response_write(res, "a", 1));
    rec(mote_response_write(res, big, env->out_size + 1));
    rec(mote_response_write(res, "b", 1));
    rec(mote_response_end(res));
}

static void h_after_done(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_respond(res, 200, "text/plain", "done"));
    rec(mote_response_write(res, "x", 1));
    rec(mote_response_end(res));
    rec(mote_response_send(res, "x", 1));
    rec(mote_response_header(res, "X-Late", "1"));
    rec(mote_response_status(res, 500));
    rec(mote_respond(res, 500, NULL, "again"));
}

static void h_after_stream(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_write(res, "x", 1));
    rec(mote_response_header(res, "X-Late", "1"));
    rec(mote_response_status(res, 500));
    rec(mote_response_send(res, "y", 1));
    rec(mote_respond(res, 500, NULL, "z"));
    rec(mote_response_write(res, "w", 1));
    rec(mote_response_end(res));
    rec(mote_response_write(res, "v", 1));
    rec(mote_response_end(res));
}

static void h_null_args(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_response_send(NULL, "x", 1));
    rec(mote_response_send(res, NULL, 1));
    rec(mote_response_write(NULL, "x", 1));
    rec(mote_response_write(res, NULL, 1));
    rec(mote_response_end(NULL));
    rec(mote_response_request(res) == req);
    rec(mote_response_send(res, NULL, 0));
}

static void h_default_called(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    rec(mote_respond(res, 200, "text/plain", "fallback"));
}

/* Streams 100-byte pieces until MOTE_EAGAIN (the reader never reads), tries once more, then
 * returns and leaves the end to the library. */
static size_t eagain_accepted;
static void h_stream_until_full(mote_request *req, mote_response *res, void *user)
{
    int rc = MOTE_OK, i;
    h_log(user, req);
    eagain_accepted = 0;
    for (i = 0; i < 1000; i++) {
        rc = mote_response_write(res, big + eagain_accepted, 100);
        if (rc != MOTE_OK) break;
        eagain_accepted += 100;
    }
    rec(rc);
    rec(mote_response_write(res, big + eagain_accepted, 100));
    rec(mote_response_write(res, big + eagain_accepted, 1)); /* may fit in what is left */
    if (rcs[rc_count - 1] == MOTE_OK) eagain_accepted += 1;
}

/* Half the send buffer, and the most output that may be pending for the connection to still
 * dispatch a pipelined request: pending + h_head_reserve() <= out_size / 2. */
static size_t half_of(const harness *h)
{
    return h->env.out_size / 2;
}

static size_t max_dispatch_pending(const harness *h)
{
    return half_of(h) - h_head_reserve(h);
}

/* The exact head of a /fill response (no added field) with an n-byte body; its length. */
static size_t fill_head(char *buf, size_t cap, size_t n, const char *connection)
{
    int len = snprintf(buf, cap, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: %zu\r\n%s\r\n", n,
                       connection);
    return len < 0 ? 0 : (size_t)len;
}

/* The body size that makes a whole /fill response exactly `total` bytes, or SIZE_MAX. */
static size_t fill_body_for(size_t total, const char *connection)
{
    char head[256];
    size_t n;
    for (n = 0; n <= total; n++) {
        if (fill_head(head, sizeof head, n, connection) + n == total) return n;
    }
    return SIZE_MAX;
}

/* The /fill response as the library writes it. */
static void sb_fill(strbuf *b, size_t n, const char *connection)
{
    char head[256];
    sb_add(b, head, fill_head(head, sizeof head, n, connection));
    sb_add(b, big, n);
}

/* Query "F,B,S": status S (200 when 0), one added field "X-F: fff..." of F bytes with its CRLF
 * (none when F < 7), and a one-shot body of B bytes. Records the three return codes. */
static char field_value[4096];
static void h_sized(mote_request *req, mote_response *res, void *user)
{
    mote_str q = mote_request_query(req);
    size_t v[3] = {0, 0, 0}, k = 0, i;
    h_log(user, req);
    for (i = 0; i < q.len && k < 3; i++) {
        if (q.ptr[i] == ',') k++;
        else if (q.ptr[i] >= '0' && q.ptr[i] <= '9') v[k] = v[k] * 10 + (size_t)(q.ptr[i] - '0');
    }
    rec(mote_response_status(res, v[2] ? (int)v[2] : 200));
    if (v[0] >= 7 && v[0] - 7 < sizeof field_value) {
        memset(field_value, 'f', v[0] - 7);
        field_value[v[0] - 7] = '\0';
        rec(mote_response_header(res, "X-F", field_value));
    } else {
        rec(MOTE_OK);
    }
    rec(mote_response_send(res, big, v[1]));
}

/* Run with the buffer filled up to the dispatch limit: a staged field plus a body one byte
 * past half the buffer cannot fit (MOTE_EAGAIN); the same field plus a body of exactly the rest
 * of the half is sent, with the field kept. */
static size_t eagain_fit_body;
static void h_send_eagain(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    h_log(user, req);
    eagain_fit_body = half_of(h) - strlen("X-Kept: yes\r\n");
    rec(mote_response_header(res, "X-Kept", "yes"));
    rec(mote_response_send(res, big, eagain_fit_body + 1));
    rec(mote_response_send(res, big, eagain_fit_body));
}

/* Adds 100-byte fields until one is refused, then answers with those it kept. */
static void h_many_fields(mote_request *req, mote_response *res, void *user)
{
    char name[16], value[100];
    int i, rc = MOTE_OK;
    h_log(user, req);
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (i = 0; i < 1000 && rc == MOTE_OK; i++) {
        snprintf(name, sizeof name, "X-%04d", i);
        rc = mote_response_header(res, name, value);
    }
    rec(rc);
    rec(i - 1); /* how many were kept */
    rec(mote_response_send(res, "ok", 2));
}

/* Streams 10000 bytes in 100-byte pieces from on_ready, each time until MOTE_EAGAIN. */
static size_t ready_done;
static void ready_stream(mote_response *res, void *user)
{
    int rc = MOTE_OK;
    (void)user;
    while (ready_done < 10000 && rc == MOTE_OK) {
        rc = mote_response_write(res, big + ready_done, 100);
        if (rc == MOTE_OK) ready_done += 100;
        else if (rc != MOTE_EAGAIN) rec(rc);
    }
    if (ready_done == 10000) rec(mote_response_end(res));
}

static void h_stream_ready(mote_request *req, mote_response *res, void *user)
{
    h_log(user, req);
    ready_done = 0;
    rec(mote_response_defer(res, ready_stream));
}

/* ---- tests ----------------------------------------------------------------------------- */

static void setup(harness *h)
{
    h_init(h);
    rec_reset();
}

static void test_oneshot_exact(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    CHECK_EQ_INT(h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0), 32);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n"
                  "Server: mote\r\n"
                  "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                  "Content-Type: text/plain\r\n"
                  "Content-Length: 5\r\n"
                  "\r\n"
                  "hello");
    CHECK_EQ_INT(rc_count, 2);
    CHECK(rcs[0] == MOTE_OK && rcs[1] == MOTE_OK);
    CHECK(!conn_is_done(&h.conn));
    /* the connection is reusable: the same request again gives the same bytes again */
    h_clear_output(&h);
    h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 5\r\n\r\nhello");
    h_free(&h);

    /* without Server and Date lines (server_name NULL, send_date 0) */
    setup(&h);
    h.env.server_line_len = 0;
    h.env.server_line[0] = '\0';
    h.env.date_line_len = 0;
    h.env.date_line[0] = '\0';
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    h_free(&h);
}

static void test_respond(void)
{
    harness h;
    strbuf want = {0};
    setup(&h);
    h_route(&h, "/r", MOTE_ROUTE_PREFIX, h_respond);
    h_start(&h);
    h_feed_str(&h,
               "GET /r/json HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /r/notype HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /r/nobody HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    sb_response(&want, 201, "Content-Type: application/json\r\n", "", "{}");
    sb_response(&want, 202, "", "", "x");
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "");
    CHECK_OUT(&h, want.p);
    CHECK(h_find(h_out(&h), h.out_len, "HTTP/1.1 201 Created\r\n") != NULL);
    CHECK_EQ_INT(rc_count, 3);
    CHECK(rcs[0] == 0 && rcs[1] == 0 && rcs[2] == 0);
    sb_free(&want);
    h_free(&h);
}

static void test_custom_headers(void)
{
    harness h;
    size_t i;
    setup(&h);
    h_route(&h, "/h", MOTE_ROUTE_EXACT, h_headers);
    h_start(&h);
    h_feed_str(&h, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX
                  "X-A: 1\r\n"
                  "Set-Cookie: a=1\r\n"
                  "X-B: two words\there\r\n"
                  "Set-Cookie: b=2\r\n"
                  "X-Empty: \r\n"
                  "X-Obs: caf\xc3\xa9\r\n"
                  "Content-Length: 2\r\n\r\nok");
    for (i = 0; i < rc_count; i++) CHECK_EQ_INT(rcs[i], MOTE_OK);
    h_free(&h);
}

static void test_server_date_replaced(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/sd", MOTE_ROUTE_EXACT, h_server_date);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_server_only);
    h_start(&h);
    h_feed_str(&h, "GET /sd HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n"
                  "X-First: 1\r\n"
                  "server: custom/1.0\r\n"
                  "DATE: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                  "Content-Length: 0\r\n\r\n");
    h_clear_output(&h);
    /* Server replaced, Date kept; and on the next response both defaults are back */
    h_feed_str(&h, "GET /s HTTP/1.1\r\nHost: x\r\n\r\nGET /sd HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_DATE_LINE
                  "Server: other\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  "1\r\ns\r\n0\r\n\r\n"
                  "HTTP/1.1 200 OK\r\n"
                  "X-First: 1\r\n"
                  "server: custom/1.0\r\n"
                  "DATE: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                  "Content-Length: 0\r\n\r\n");
    h_clear_output(&h);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 5\r\n\r\nhello");
    h_free(&h);
}

static void test_framing_headers_rejected(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/f", MOTE_ROUTE_EXACT, h_framing_headers);
    h_start(&h);
    h_feed_str(&h, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 5);
    CHECK_EQ_INT(rcs[0], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[1], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[2], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[3], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[4], MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 3\r\n\r\nabc");
    h_free(&h);
}

static void test_header_injection_rejected(void)
{
    harness h;
    size_t i, nn = sizeof bad_names / sizeof bad_names[0];
    size_t nv = sizeof bad_values / sizeof bad_values[0];
    setup(&h);
    h_route(&h, "/b", MOTE_ROUTE_EXACT, h_bad_headers);
    h_start(&h);
    h_feed_str(&h, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, nn + nv + 5);
    for (i = 0; i < nn; i++) CHECK_MSG(rcs[i] == MOTE_EINVAL, "name %zu gave %d", i, rcs[i]);
    for (i = 0; i < nv; i++)
        CHECK_MSG(rcs[nn + i] == MOTE_EINVAL, "value %zu gave %d", i, rcs[nn + i]);
    CHECK_EQ_INT(rcs[nn + nv], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[nn + nv + 1], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[nn + nv + 2], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[nn + nv + 3], MOTE_OK);
    CHECK_EQ_INT(rcs[nn + nv + 4], MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "!#$%&'*+-.^_`|~09AZaz: v\r\n"
                  "Content-Length: 2\r\n\r\nok");
    CHECK(h_find(h_out(&h), h.out_len, "Injected") == NULL);
    h_free(&h);
}

static void test_connection_close_from_handler(void)
{
    harness h;
    strbuf want = {0};
    const char *req_close = "GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n";
    setup(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_conn_close);
    h_start(&h);
    h_feed_str(&h, req_close, 0);
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "Connection: close\r\n", "bye");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(!h_logged(&h, "/after"));
    CHECK(conn_is_done(&h.conn));
    {
        char *at;
        CHECK_EQ_INT(conn_read_space(&h.conn, &at), 0);
    }
    h_free(&h);

    /* a list with close in it closes too */
    setup(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_conn_close);
    h_start(&h);
    h_feed_str(&h, "GET /close-list HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, want.p);
    CHECK(conn_is_done(&h.conn));
    CHECK(!h_logged(&h, "/after"));
    h_free(&h);

    /* keep-alive, or a token that only looks like close, is the library's to say (MOTE_EINVAL):
     * the connection is kept and no Connection field sent on HTTP/1.1 */
    setup(&h);
    h_route(&h, "/", MOTE_ROUTE_PREFIX, h_conn_close);
    h_start(&h);
    h_feed_str(&h, "GET /keep HTTP/1.1\r\nHost: x\r\n\r\nGET /closed HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /after HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    sb_free(&want);
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "bye");
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "bye");
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "bye");
    CHECK_OUT(&h, want.p);
    CHECK(!conn_is_done(&h.conn));
    CHECK_EQ_INT(h.log_count, 3);
    CHECK(rc_count == 5 && rcs[0] == MOTE_EINVAL && rcs[2] == MOTE_EINVAL);
    sb_free(&want);
    h_free(&h);
}

static void test_status(void)
{
    harness h;
    strbuf want = {0};
    size_t i;
    setup(&h);
    h_route(&h, "/late", MOTE_ROUTE_EXACT, h_status_late);
    h_route(&h, "/st", MOTE_ROUTE_EXACT, h_status_any);
    h_route(&h, "/bad", MOTE_ROUTE_EXACT, h_status_bad);
    h_start(&h);

    h_feed_str(&h, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 410 Gone\r\n" H_PREFIX "X-Before: 1\r\nX-After: 2\r\n"
                  "Content-Length: 4\r\n\r\ngone");
    for (i = 0; i < rc_count; i++) CHECK_EQ_INT(rcs[i], MOTE_OK);

    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "GET /st?299 HTTP/1.1\r\nHost: x\r\n\r\nGET /st?599 HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /st?200 HTTP/1.1\r\nHost: x\r\n\r\nGET /st?418 HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    sb_printf(&want, "HTTP/1.1 299 Unknown\r\n" H_PREFIX "Content-Length: 1\r\n\r\ns");
    sb_printf(&want, "HTTP/1.1 599 Unknown\r\n" H_PREFIX "Content-Length: 1\r\n\r\ns");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 1\r\n\r\ns");
    sb_printf(&want, "HTTP/1.1 418 Unknown\r\n" H_PREFIX "Content-Length: 1\r\n\r\ns");
    CHECK_OUT(&h, want.p);
    for (i = 0; i < rc_count; i++) CHECK_EQ_INT(rcs[i], MOTE_OK);

    /* out of range: MOTE_EINVAL, and the status set before stays */
    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "GET /bad HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 15);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    for (i = 1; i <= 13; i++) CHECK_MSG(rcs[i] == MOTE_EINVAL, "call %zu gave %d", i, rcs[i]);
    CHECK_EQ_INT(rcs[14], MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 203 Non-Authoritative Information\r\n" H_PREFIX
                  "Content-Length: 0\r\n\r\n");
    sb_free(&want);
    h_free(&h);
}

static void test_stream_chunked(void)
{
    harness h;
    strbuf want = {0};
    size_t i;
    setup(&h);
    fill_big();
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);
    h_feed_str(&h, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n100\r\n");
    sb_add(&want, big, 256);
    sb_printf(&want, "\r\n0\r\n\r\n");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(rc_count, 7);
    for (i = 0; i < rc_count; i++) CHECK_EQ_INT(rcs[i], MOTE_OK);
    CHECK(!conn_is_done(&h.conn));

    /* the same on HTTP/1.0: close-delimited, no framing, and the connection ends with it */
    h_clear_output(&h);
    rec_reset();
    sb_free(&want);
    h_feed_str(&h, "GET /s HTTP/1.0\r\n\r\nGET /s HTTP/1.0\r\n\r\n", 0);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                     "Connection: close\r\n\r\nhelloabcdefghijklmnopqrstuvwxyz");
    sb_add(&want, big, 256);
    CHECK_OUT(&h, want.p);
    CHECK(h_find(h_out(&h), h.out_len, "Transfer-Encoding") == NULL);
    CHECK_EQ_INT(h.log_count, 2); /* the second request was not dispatched */
    CHECK(conn_is_done(&h.conn));
    h_free(&h);

    /* HTTP/1.0 with keep-alive asked: still close-delimited, so still closing */
    setup(&h);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);
    h_feed_str(&h, "GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /s HTTP/1.0\r\n\r\n", 0);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);
}

static void test_stream_without_end(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/n", MOTE_ROUTE_EXACT, h_stream_noend);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h, "GET /n HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n"
                  "4\r\npart\r\n0\r\n\r\n"
                  "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 5\r\n\r\nhello");
    h_free(&h);
}

static void test_head(void)
{
    harness h;
    strbuf get = {0}, head = {0}, want = {0};
    const char *split;
    setup(&h);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_stream);
    h_start(&h);

    /* one-shot: the same head, Content-Length included, and no body */
    h_feed_str(&h, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    sb_add(&get, h_out(&h), h.out_len);
    h_clear_output(&h);
    h_feed_str(&h, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    split = strstr(get.p, "\r\n\r\n");
    CHECK(split != NULL);
    if (split) {
        sb_add(&want, get.p, (size_t)(split + 4 - get.p));
        CHECK(strstr(want.p, "Content-Length: 5\r\n") != NULL);
        sb_add(&want, get.p, get.len); /* the pipelined GET is answered whole */
        CHECK_OUT(&h, want.p);
    }
    sb_free(&want);
    sb_free(&get);

    /* streamed: the same head (chunked), no body, no last-chunk */
    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    sb_add(&get, h_out(&h), h.out_len);
    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "HEAD /s HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    split = strstr(get.p, "\r\n\r\n");
    CHECK(split != NULL);
    if (split) {
        sb_add(&head, get.p, (size_t)(split + 4 - get.p));
        CHECK(strstr(head.p, "Transfer-Encoding: chunked\r\n") != NULL);
        sb_add(&want, head.p, head.len);
        sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                         "Content-Length: 5\r\n\r\nhello");
        CHECK_OUT(&h, want.p);
    }
    {
        size_t i;
        for (i = 0; i < 6 && i < rc_count; i++) CHECK_EQ_INT(rcs[i], MOTE_OK); /* writes accepted */
    }
    CHECK(!conn_is_done(&h.conn));
    sb_free(&want);
    sb_free(&get);
    sb_free(&head);

    /* HEAD of the default 404 */
    h_clear_output(&h);
    h_feed_str(&h, "HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 404 Not Found\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 14\r\n\r\n");
    h_free(&h);
}

static void test_no_body_statuses(void)
{
    harness h;
    strbuf want = {0};
    setup(&h);
    h_route(&h, "/send", MOTE_ROUTE_EXACT, h_send_status);
    h_route(&h, "/stream", MOTE_ROUTE_EXACT, h_stream_status);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h,
               "GET /send?204 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /send?304 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /stream?204 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /stream?304 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    sb_printf(&want, "HTTP/1.1 204 No Content\r\n" H_PREFIX "ETag: \"x\"\r\n\r\n");
    sb_printf(&want, "HTTP/1.1 304 Not Modified\r\n" H_PREFIX "ETag: \"x\"\r\n\r\n");
    sb_printf(&want, "HTTP/1.1 204 No Content\r\n" H_PREFIX "\r\n");
    sb_printf(&want, "HTTP/1.1 304 Not Modified\r\n" H_PREFIX "\r\n");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                     "Content-Length: 5\r\n\r\nhello");
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(h.log_count, 5);
    CHECK(!conn_is_done(&h.conn));
    sb_free(&want);
    h_free(&h);

    /* on HTTP/1.0 (kept alive) a streamed 204 is not close-delimited: it has no body */
    setup(&h);
    h_route(&h, "/stream", MOTE_ROUTE_EXACT, h_stream_status);
    h_start(&h);
    h_feed_str(&h, "GET /stream?204 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 204 No Content\r\n" H_PREFIX "Connection: keep-alive\r\n\r\n");
    CHECK(!conn_is_done(&h.conn));
    h_free(&h);
}

static void test_end_without_write(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/e", MOTE_ROUTE_EXACT, h_end_only);
    h_start(&h);
    h_feed_str(&h, "GET /e HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 0\r\n\r\n");
    CHECK_EQ_INT(rc_count, 1);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    h_free(&h);
}

static void test_handler_without_response(void)
{
    harness h;
    strbuf want = {0};
    setup(&h);
    h_route(&h, "/nothing", MOTE_ROUTE_EXACT, h_nothing);
    h_route(&h, "/staged", MOTE_ROUTE_EXACT, h_staged_then_nothing);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h,
               "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /staged HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
               0);
    sb_response(&want, 500, "Content-Type: text/plain\r\n", "", "500 Internal Server Error\n");
    sb_response(&want, 500, "Content-Type: text/plain\r\n", "", "500 Internal Server Error\n");
    sb_response(&want, 200, "Content-Type: text/plain\r\n", "", "hello");
    CHECK_OUT(&h, want.p);
    CHECK(h_find(h_out(&h), h.out_len, "X-Leak") == NULL);
    CHECK_EQ_INT(h.log_count, 3);
    sb_free(&want);
    h_free(&h);
}

/* A counting allocator for the env: a one-shot body larger than the buffer is copied once,
 * and freed once sent. */
static size_t live_allocs, all_allocs;
static void *count_alloc(void *ctx, size_t n)
{
    (void)ctx;
    live_allocs++;
    all_allocs++;
    return malloc(n);
}
static void count_free(void *ctx, void *p)
{
    (void)ctx;
    if (p) live_allocs--;
    free(p);
}

/* A one-shot body larger than the send buffer is delivered whole, from a copy of its own; in
 * static-memory mode, where nothing can be copied, it is MOTE_ETOOBIG and the client gets 500.
 * A streamed piece that can never fit the buffer is MOTE_ETOOBIG either way. */
static void test_too_big(void)
{
    harness h;
    strbuf want = {0};
    fill_big();

    setup(&h);
    h.env.alloc.alloc = count_alloc;
    h.env.alloc.free = count_free;
    live_allocs = all_allocs = 0;
    h_route(&h, "/big", MOTE_ROUTE_EXACT, h_toobig);
    h_route(&h, "/big2", MOTE_ROUTE_EXACT, h_toobig_then_ok);
    h_start(&h);
    h.drain = 0;
    h_feed_str(&h, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 3);
    CHECK_EQ_INT(rcs[1], MOTE_OK);
    CHECK_EQ_INT(rcs[2], MOTE_ESTATE); /* sent already */
    CHECK_EQ_INT(all_allocs, 1);
    CHECK_EQ_INT(live_allocs, 1);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(live_allocs, 0);       /* freed once sent */
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "X-T: 1\r\nContent-Length: %zu\r\n\r\n",
              (size_t)h.env.out_size + 1);
    sb_add(&want, big, h.env.out_size + 1);
    CHECK_OUT(&h, want.p);
    sb_free(&want);

    h_clear_output(&h);
    rec_reset();
    h.drain = 1;
    h_feed_str(&h, "GET /big2 HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 2);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    CHECK_EQ_INT(rcs[1], MOTE_ESTATE);
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: %zu\r\n\r\n",
              (size_t)h.env.out_size * 2);
    sb_add(&want, big, h.env.out_size * 2);
    CHECK_OUT(&h, want.p);
    CHECK_EQ_INT(live_allocs, 0);
    sb_free(&want);

    /* the connection goes away with the copy unsent: it is freed all the same */
    h_clear_output(&h);
    rec_reset();
    h.drain = 0;
    h_feed_str(&h, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(live_allocs, 1);
    h_drain(&h, 100);
    conn_abort(&h.conn);
    CHECK_EQ_INT(live_allocs, 0);
    h_free(&h);

    /* static memory: nothing to copy into */
    setup(&h);
    h.env.fixed_memory = 1;
    h_route(&h, "/big", MOTE_ROUTE_EXACT, h_toobig);
    h_route(&h, "/w", MOTE_ROUTE_EXACT, h_write_toobig);
    h_start(&h);
    h_feed_str(&h, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 3);
    CHECK_EQ_INT(rcs[1], MOTE_ETOOBIG);
    CHECK_EQ_INT(rcs[2], MOTE_ETOOBIG); /* a body of the whole buffer leaves no room for a head */
    /* the handler gave up: 500, without its staged header */
    sb_response(&want, 500, "Content-Type: text/plain\r\n", "", "500 Internal Server Error\n");
    CHECK_OUT(&h, want.p);
    sb_free(&want);

    /* a streamed piece that can never fit; the pieces around it are sent */
    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 4);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    CHECK_EQ_INT(rcs[1], MOTE_ETOOBIG);
    CHECK_EQ_INT(rcs[2], MOTE_OK);
    CHECK_EQ_INT(rcs[3], MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n"
                  "1\r\na\r\n1\r\nb\r\n0\r\n\r\n");
    h_free(&h);
}

/* The half-buffer guarantee (mote.h): a one-shot response whose added header fields and body
 * fit in half of the send buffer always fits in it, even when the reader reads nothing and
 * earlier pipelined responses have filled the buffer up to the most with which the connection
 * still dispatches (pending + h_head_reserve() == out_size / 2). There, one byte of fields or
 * body past the half cannot fit: in static-memory mode that is MOTE_EAGAIN (and the handler,
 * giving up, gets its 500); otherwise the body goes out from a copy of its own. */
static void half_buffer_cases(int fixed);

static void test_half_buffer_guarantee(void)
{
    int fixed;
    for (fixed = 1; fixed >= 0; fixed--) half_buffer_cases(fixed);
}

static void half_buffer_cases(int fixed)
{
    static const struct {
        size_t field;     /* bytes of the added field line, 0: none */
        long extra;       /* the body is half - field + extra bytes */
        int status;
        int http10;       /* HTTP/1.0 with keep-alive: the head carries Connection too */
    } cases[] = {
        {0, 0, 200, 0},    {0, -1, 200, 0},   {0, -212, 200, 0}, {0, -512, 200, 0},
        {20, 0, 200, 0},   {200, 0, 200, 0},  {512, 0, 200, 0},
        {0, 1, 200, 0},    {20, 1, 200, 0},   {200, 1, 200, 0},
        /* the longest reason phrase and a Connection field: the head's worst case */
        {0, 0, 431, 1},    {40, 0, 431, 1},   {40, 1, 431, 1},
    };
    size_t k;
    fill_big();
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        harness h;
        strbuf want = {0};
        char req[512];
        const char *conn = cases[k].http10 ? "Connection: keep-alive\r\n" : "";
        const char *ver = cases[k].http10 ? "HTTP/1.0\r\nConnection: keep-alive" : "HTTP/1.1\r\nHost: x";
        size_t half, pending, first, body;
        int fits;
        setup(&h);
        h.env.out_size = 1024;
        h.env.fixed_memory = fixed;
        h.drain = 0;
        h_route(&h, "/fill", MOTE_ROUTE_EXACT, h_fill);
        h_route(&h, "/sized", MOTE_ROUTE_EXACT, h_sized);
        h_start(&h);
        half = half_of(&h);
        pending = max_dispatch_pending(&h);
        first = fill_body_for(pending, conn);
        body = (size_t)((long)(half - cases[k].field) + cases[k].extra);
        fits = !fixed || cases[k].field + body <= half;
        CHECK(first != SIZE_MAX);
        if (first == SIZE_MAX) {
            h_free(&h);
            continue;
        }
        snprintf(req, sizeof req, "GET /fill?%zu %s\r\n\r\nGET /sized?%zu,%zu,%d %s\r\n\r\n",
                 first, ver, cases[k].field, body, cases[k].status, ver);
        h_feed_str(&h, req, 0);
        CHECK_MSG(h.log_count == 2, "case %zu: the request after %zu pending bytes was %s", k,
                  pending, h.log_count == 1 ? "not dispatched" : "?");
        CHECK_EQ_INT(rc_count, 4);
        CHECK_EQ_INT(rcs[0], MOTE_OK);
        CHECK_EQ_INT(rcs[1], MOTE_OK);
        CHECK_EQ_INT(rcs[2], MOTE_OK);
        CHECK_MSG(rcs[3] == (fits ? MOTE_OK : MOTE_EAGAIN),
                  "case %zu: %zu bytes of fields and %zu of body after %zu pending gave %d (%s)", k,
                  cases[k].field, body, pending, rcs[3], mote_strerror(rcs[3]));
        h_drain(&h, SIZE_MAX);
        sb_fill(&want, first, conn);
        CHECK_EQ_INT(want.len, pending);
        if (fits) {
            sb_printf(&want, "HTTP/1.1 %d %s\r\n" H_PREFIX, cases[k].status,
                      mote_status_reason(cases[k].status));
            if (cases[k].field) sb_printf(&want, "X-F: %s\r\n", field_value);
            sb_printf(&want, "Content-Length: %zu\r\n%s\r\n", body, conn);
            sb_add(&want, big, body);
        } else {
            sb_response(&want, 500, "Content-Type: text/plain\r\n", conn,
                        "500 Internal Server Error\n");
        }
        CHECK_MSG(h.out_len == want.len && memcmp(h.out, want.p, want.len) == 0,
                  "case %zu: second response:\n%.*s\n---- want:\n%.*s", k,
                  (int)(h.out_len > pending ? h.out_len - pending : 0),
                  h.out_len > pending ? h.out + pending : "",
                  (int)(want.len - pending), want.p + pending);
        sb_free(&want);
        h_free(&h);
    }

    /* one byte more pending than that: the next request waits until the output drains, and
     * then a body of half the buffer is sent */
    if (fixed) {
        harness h;
        strbuf want = {0};
        char req[256];
        size_t pending, first, half;
        setup(&h);
        h.env.out_size = 1024;
        h.env.fixed_memory = 1;
        h.drain = 0;
        h_route(&h, "/fill", MOTE_ROUTE_EXACT, h_fill);
        h_route(&h, "/sized", MOTE_ROUTE_EXACT, h_sized);
        h_start(&h);
        half = half_of(&h);
        pending = max_dispatch_pending(&h) + 1;
        first = fill_body_for(pending, "");
        CHECK(first != SIZE_MAX);
        snprintf(req, sizeof req,
                 "GET /fill?%zu HTTP/1.1\r\nHost: x\r\n\r\nGET /sized?0,%zu HTTP/1.1\r\nHost: x\r\n\r\n",
                 first, half);
        h_feed_str(&h, req, 0);
        CHECK_EQ_INT(h.log_count, 1);
        CHECK_EQ_INT(h_pending(&h), pending);
        h_drain(&h, SIZE_MAX);
        CHECK_EQ_INT(h.log_count, 2);
        CHECK_EQ_INT(rc_count, 4);
        CHECK_EQ_INT(rcs[3], MOTE_OK);
        sb_fill(&want, first, "");
        sb_fill(&want, half, "");
        CHECK(h.out_len == want.len && memcmp(h.out, want.p, want.len) == 0);
        sb_free(&want);
        h_free(&h);
    }
}

/* The buffer full (the reader reads nothing): MOTE_EAGAIN, and what was accepted is sent intact
 * and properly ended afterwards. */
static void test_eagain(void)
{
    harness h;
    strbuf body = {0}, want = {0};
    const char *p, *end;
    size_t used, pending, first;
    char req[256];
    fill_big();
    setup(&h);
    h.env.out_size = 1024;
    h.drain = 0;
    h_route(&h, "/full", MOTE_ROUTE_EXACT, h_stream_until_full);
    h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h, "GET /full HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 3);
    CHECK_EQ_INT(rcs[0], MOTE_EAGAIN);
    CHECK_EQ_INT(rcs[1], MOTE_EAGAIN);
    CHECK(eagain_accepted >= 500 && eagain_accepted < 1024);
    CHECK(h_pending(&h) <= 1024);
    /* far past the dispatch limit: nothing more dispatched */
    CHECK(h_pending(&h) > max_dispatch_pending(&h));
    CHECK_EQ_INT(h.log_count, 1);
    h_drain(&h, SIZE_MAX);
    CHECK_EQ_INT(h.log_count, 2);
    p = h_out(&h);
    end = p + h.out_len;
    {
        const char *hd = "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n";
        CHECK(h.out_len > strlen(hd) && memcmp(p, hd, strlen(hd)) == 0);
        p += strlen(hd);
    }
    used = h_dechunk(p, (size_t)(end - p), &body);
    CHECK(used > 0);
    CHECK_EQ_INT(body.len, eagain_accepted);
    CHECK(body.len == eagain_accepted && memcmp(body.p, big, body.len) == 0);
    p += used;
    CHECK_MSG((size_t)(end - p) == strlen("HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                                          "Content-Length: 5\r\n\r\nhello") &&
                  memcmp(p, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                            "Content-Length: 5\r\n\r\nhello", (size_t)(end - p)) == 0,
              "after the streamed response: \"%s\"", p);
    sb_free(&body);
    h_free(&h);

    /* one-shot in static-memory mode, dispatched with the buffer filled up to the limit:
     * MOTE_EAGAIN for a field and body one byte past half the buffer, then the same field and
     * a body of exactly the rest of the half are sent, the field staged before kept */
    setup(&h);
    h.env.out_size = 1024;
    h.env.fixed_memory = 1;
    h.drain = 0;
    h_route(&h, "/fill", MOTE_ROUTE_EXACT, h_fill);
    h_route(&h, "/e", MOTE_ROUTE_EXACT, h_send_eagain);
    h_start(&h);
    pending = max_dispatch_pending(&h);
    first = fill_body_for(pending, "");
    CHECK(first != SIZE_MAX);
    snprintf(req, sizeof req,
             "GET /fill?%zu HTTP/1.1\r\nHost: x\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n", first);
    h_feed_str(&h, req, 0);
    CHECK_EQ_INT(h.log_count, 2);
    CHECK_EQ_INT(rc_count, 4);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    CHECK_EQ_INT(rcs[1], MOTE_OK);
    CHECK_EQ_INT(rcs[2], MOTE_EAGAIN);
    CHECK_EQ_INT(rcs[3], MOTE_OK);
    h_drain(&h, SIZE_MAX);
    sb_fill(&want, first, "");
    sb_printf(&want, "HTTP/1.1 200 OK\r\n" H_PREFIX "X-Kept: yes\r\nContent-Length: %zu\r\n\r\n",
              eagain_fit_body);
    sb_add(&want, big, eagain_fit_body);
    CHECK_EQ_INT(h.out_len, want.len);
    CHECK_MSG(h.out_len == want.len && memcmp(h.out, want.p, want.len) == 0,
              "second response: \"%.*s\"", (int)(h.out_len > pending ? h.out_len - pending : 0),
              h.out_len > pending ? h.out + pending : "");
    sb_free(&want);
    h_free(&h);
}

/* Header fields are staged in the exchange's area, which they share with the request's path:
 * at least max_response_header_bytes of them always fit, more when the path is short; the one
 * that does not fit is MOTE_ETOOBIG, and the response goes out with those kept. */
static void test_staged_fields_limit(void)
{
    static const size_t paths[] = {2, 200, 1000};
    size_t k;
    for (k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        harness h;
        char req[1200], path[1100];
        size_t field = 4 + 6 + 99; /* lengths, "X-0000", the value */
        const char *p;
        size_t kept;
        setup(&h);
        h.env.max_request_line = 1100;
        h.env.max_response_header_bytes = 512;
        memset(path, 'a', sizeof path);
        path[0] = '/';
        path[paths[k]] = '\0';
        h_route(&h, "/", MOTE_ROUTE_PREFIX, h_many_fields);
        h_start(&h);
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
        h_feed_str(&h, req, 0);
        CHECK_EQ_INT(rc_count, 3);
        CHECK_EQ_INT(rcs[0], MOTE_ETOOBIG);
        kept = (size_t)rcs[1];
        CHECK_MSG(kept * field >= 512 - field, "path of %zu: %zu fields kept", paths[k], kept);
        CHECK(kept * field <= 512 + 1100 + 8 - paths[k]);
        CHECK_EQ_INT(rcs[2], MOTE_OK);
        CHECK(h_count(h_out(&h), h.out_len, ": vvv") == kept);
        p = h_find(h_out(&h), h.out_len, "\r\n\r\nok");
        CHECK(p != NULL && p + 6 == h_out(&h) + h.out_len);
        h_free(&h);
    }
}

/* A slow reader: a deferred response written from on_ready, until MOTE_EAGAIN each time, gets
 * everything through, in order, and the request behind it is answered after it. */
static void test_slow_reader_stream(void)
{
    size_t steps[] = {1, 7, 50, 333};
    size_t k;
    fill_big();
    for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        harness h;
        strbuf body = {0};
        const char *hd = "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n";
        size_t used;
        setup(&h);
        h.env.out_size = 1024;
        h.drain_step = steps[k];
        h_route(&h, "/r", MOTE_ROUTE_EXACT, h_stream_ready);
        h_route(&h, "/hello", MOTE_ROUTE_EXACT, h_hello);
        h_start(&h);
        h_feed_str(&h, "GET /r HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 0);
        CHECK_EQ_INT(rc_count, 4); /* defer, end, and /hello's two */
        CHECK(rcs[0] == MOTE_OK && rcs[1] == MOTE_OK && rcs[2] == MOTE_OK && rcs[3] == MOTE_OK);
        CHECK_EQ_INT(ready_done, 10000);
        CHECK(h.out_len > strlen(hd) && memcmp(h.out, hd, strlen(hd)) == 0);
        used = h.out_len > strlen(hd)
                   ? h_dechunk(h.out + strlen(hd), h.out_len - strlen(hd), &body) : 0;
        CHECK(used > 0);
        CHECK(body.len == 10000 && memcmp(body.p, big, 10000) == 0);
        if (used)
            CHECK_EQ_STR(h.out + strlen(hd) + used, "HTTP/1.1 200 OK\r\n" H_PREFIX
                         "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
        sb_free(&body);
        h_free(&h);
    }
}

static void test_after_done(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/d", MOTE_ROUTE_EXACT, h_after_done);
    h_route(&h, "/s", MOTE_ROUTE_EXACT, h_after_stream);
    h_start(&h);
    h_feed_str(&h, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 7);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    CHECK_EQ_INT(rcs[1], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[2], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[3], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[4], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[5], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[6], MOTE_ESTATE);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 4\r\n\r\ndone");

    h_clear_output(&h);
    rec_reset();
    h_feed_str(&h, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 9);
    CHECK_EQ_INT(rcs[0], MOTE_OK);
    CHECK_EQ_INT(rcs[1], MOTE_ESTATE); /* header after the head went out */
    CHECK_EQ_INT(rcs[2], MOTE_ESTATE); /* status after the head went out */
    CHECK_EQ_INT(rcs[3], MOTE_ESTATE); /* one-shot send in a streamed response */
    CHECK_EQ_INT(rcs[4], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[5], MOTE_OK);
    CHECK_EQ_INT(rcs[6], MOTE_OK);
    CHECK_EQ_INT(rcs[7], MOTE_ESTATE);
    CHECK_EQ_INT(rcs[8], MOTE_ESTATE);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Transfer-Encoding: chunked\r\n\r\n"
                  "1\r\nx\r\n1\r\nw\r\n0\r\n\r\n");
    h_free(&h);
}

static void test_null_args(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/n", MOTE_ROUTE_EXACT, h_null_args);
    h_start(&h);
    h_feed_str(&h, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_EQ_INT(rc_count, 7);
    CHECK_EQ_INT(rcs[0], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[1], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[2], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[3], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[4], MOTE_EINVAL);
    CHECK_EQ_INT(rcs[5], 1); /* mote_response_request gives the handler's request */
    CHECK_EQ_INT(rcs[6], MOTE_OK);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Length: 0\r\n\r\n");
    h_free(&h);
}

static void test_status_reasons(void)
{
    static const struct {
        int code;
        const char *reason;
    } table[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
        {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
        {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
        {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"},
        {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
        {412, "Precondition Failed"}, {413, "Content Too Large"}, {414, "URI Too Long"},
        {415, "Unsupported Media Type"}, {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"}, {421, "Misdirected Request"},
        {422, "Unprocessable Content"}, {426, "Upgrade Required"},
        {428, "Precondition Required"}, {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
        {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
        {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
        /* the rest of IANA's registry: examples/upload.c sends 507 */
        {102, "Processing"}, {103, "Early Hints"}, {207, "Multi-Status"},
        {208, "Already Reported"}, {226, "IM Used"}, {305, "Use Proxy"},
        {402, "Payment Required"}, {407, "Proxy Authentication Required"}, {423, "Locked"},
        {424, "Failed Dependency"}, {425, "Too Early"}, {451, "Unavailable For Legal Reasons"},
        {506, "Variant Also Negotiates"}, {507, "Insufficient Storage"}, {508, "Loop Detected"},
        {510, "Not Extended"}, {511, "Network Authentication Required"},
    };
    /* unassigned, or registered as unused (306, 418) */
    static const int unknown[] = {-1, 0, 1, 99, 104, 199, 209, 299, 306, 309, 399, 418, 420,
                                  499, 509, 512, 599, 600, 1000};
    size_t i;
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *r = mote_status_reason(table[i].code);
        CHECK_MSG(r && strcmp(r, table[i].reason) == 0, "%d: \"%s\"", table[i].code, r ? r : "(null)");
        CHECK(r && strlen(r) <= 31); /* fits the status-line room */
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *r = mote_status_reason(unknown[i]);
        CHECK_MSG(r && strcmp(r, "Unknown") == 0, "%d: \"%s\"", unknown[i], r ? r : "(null)");
    }
}

static void test_default_404(void)
{
    harness h;
    setup(&h);
    h_route(&h, "/only", MOTE_ROUTE_EXACT, h_hello);
    h_start(&h);
    h_feed_str(&h, "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\nGET /only/x HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 404 Not Found\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 14\r\n\r\n404 Not Found\n"
                  "HTTP/1.1 404 Not Found\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 14\r\n\r\n404 Not Found\n");
    CHECK_EQ_INT(h.log_count, 0);
    CHECK(!conn_is_done(&h.conn)); /* a 404 keeps the connection */
    h_free(&h);

    /* with a default handler, it answers instead */
    setup(&h);
    h_route(&h, "/only", MOTE_ROUTE_EXACT, h_hello);
    h_default(&h, h_default_called);
    h_start(&h);
    h_feed_str(&h, "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    CHECK_OUT(&h, "HTTP/1.1 200 OK\r\n" H_PREFIX "Content-Type: text/plain\r\n"
                  "Content-Length: 8\r\n\r\nfallback");
    CHECK_EQ_INT(h.log_count, 1);
    CHECK(h_logged(&h, "/nothing-here"));
    h_free(&h);
}

int main(void)
{
    fill_big();
    test_oneshot_exact();
    test_respond();
    test_custom_headers();
    test_server_date_replaced();
    test_framing_headers_rejected();
    test_header_injection_rejected();
    test_connection_close_from_handler();
    test_status();
    test_stream_chunked();
    test_stream_without_end();
    test_head();
    test_no_body_statuses();
    test_end_without_write();
    test_handler_without_response();
    test_too_big();
    test_half_buffer_guarantee();
    test_eagain();
    test_staged_fields_limit();
    test_slow_reader_stream();
    test_after_done();
    test_null_args();
    test_status_reasons();
    test_default_404();
    return check_report("test_response");
}
