/* test_fastpath.c - the shortcuts of the request's common path give what the long way gives:
 * uri_path_is_normal() (a path taken as it is, not decoded) against uri_normalize_path() over
 * every short path of the bytes that matter and many long ones; decimal_write() against
 * printf; and, through a connection, the path, query and host a handler sees, the verdicts on
 * Expect, and the response heads of mote_respond() and mote_response_header(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"
#include "core/chars.h"
#include "core/uri.h"

/* ---- uri_path_is_normal ---------------------------------------------------------------- */

/* What uri_path_is_normal() promises, said the slow way: no '%' and no "/." anywhere. */
static int normal_by_definition(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (s[i] == '%' || (s[i] == '/' && i + 1 < len && s[i + 1] == '.')) return 0;
    }
    return 1;
}

/* A normal path is its own normal form; and the fast test says exactly the definition. */
static int check_one_path(const char *s, size_t len)
{
    char out[80];
    int normal = uri_path_is_normal(s, len);
    if (normal != normal_by_definition(s, len)) {
        CHECK_MSG(0, "\"%.*s\": uri_path_is_normal %d", (int)len, s, normal);
        return 0;
    }
    if (normal) {
        long n = uri_normalize_path(s, len, out);
        if (n != (long)len || memcmp(out, s, len) != 0) {
            CHECK_MSG(0, "\"%.*s\" is normal but normalizes to \"%.*s\"", (int)len, s,
                      n > 0 ? (int)n : 0, out);
            return 0;
        }
    }
    return 1;
}

static void test_path_exhaustive(void)
{
    /* every path of up to 9 bytes over the bytes the test looks at, and ordinary ones */
    static const char alphabet[] = "/.%a2";
    const size_t k = sizeof alphabet - 1;
    char s[16];
    size_t len, i;
    for (len = 0; len <= 9; len++) {
        size_t total = 1, c;
        for (i = 0; i < len; i++) total *= k;
        for (c = 0; c < total; c++) {
            size_t v = c;
            for (i = 0; i < len; i++) {
                s[i] = alphabet[v % k];
                v /= k;
            }
            if (!check_one_path(s, len)) return;
        }
    }
}

static void test_path_random(void)
{
    static const char alphabet[] = "/.%aZ9-~?";
    uint32_t seed = 12345;
    char s[64];
    int round;
    for (round = 0; round < 200000; round++) {
        size_t len, i;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof s;
        for (i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* mostly letters, so that long clean runs and a late '%' or "/." both occur */
            s[i] = (seed >> 16) % 8 ? 'a' : alphabet[(seed >> 20) % (sizeof alphabet - 1)];
        }
        if (!check_one_path(s, len)) return;
    }
}

static void test_path_examples(void)
{
    static const char *const normal[] = {
        "/", "*", "/index.html", "/a//b", "/static/js/app.min.js", "/api/v1/items/42",
        "/a.b/c.d/e..f/", "/x/y./z", "/very/long/path/with/many/segments/and/a/file.tar.gz"};
    static const char *const not_normal[] = {
        "/.", "/..", "/a/./b", "/a/../b", "/.well-known/x", "/a%20b", "/%2e%2e/x",
        "/0123456789abcdef/.", "/0123456789abcdef%41", "/0123456/.x"};
    size_t i;
    for (i = 0; i < sizeof normal / sizeof normal[0]; i++)
        CHECK_MSG(uri_path_is_normal(normal[i], strlen(normal[i])), "%s", normal[i]);
    for (i = 0; i < sizeof not_normal / sizeof not_normal[0]; i++)
        CHECK_MSG(!uri_path_is_normal(not_normal[i], strlen(not_normal[i])), "%s", not_normal[i]);
}

/* ---- decimal_write ------------------------------------------------------------------------ */

/* v in decimal the plain way: digits from the last, in 64 bits throughout */
static void reference_decimal(char *out, uint64_t v)
{
    char digits[24];
    size_t n = 0, i;
    do {
        digits[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

static void check_decimal(uint64_t v)
{
    char got[24], want[24];
    char *end = decimal_write(got, v);
    *end = '\0';
    reference_decimal(want, v);
    CHECK_MSG(strcmp(got, want) == 0, "%s: %s", want, got);
}

static void test_decimal(void)
{
    uint64_t v;
    int shift;
    for (v = 0; v < 100000; v++) check_decimal(v);
    for (shift = 0; shift < 64; shift++) {
        uint64_t p = (uint64_t)1 << shift;
        check_decimal(p - 1);
        check_decimal(p);
        check_decimal(p + 1);
    }
    for (v = 1; v <= UINT64_MAX / 10; v *= 10) {
        check_decimal(v - 1);
        check_decimal(v);
        check_decimal(v * 10 - 1);
    }
    check_decimal(UINT32_MAX);
    check_decimal((uint64_t)UINT32_MAX + 1);
    check_decimal(UINT64_MAX);
    check_decimal(UINT64_MAX - 1);
}

/* ---- through a connection ----------------------------------------------------------------- */

typedef struct seen {
    char path[128], query[128], host[128];
    int path_terminated, called;
} seen;

static seen last;

static void copy_str(char *dst, size_t size, mote_str s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void record(mote_request *req, mote_response *res, void *user)
{
    mote_str path = mote_request_path(req);
    (void)user;
    last.called++;
    copy_str(last.path, sizeof last.path, path);
    copy_str(last.query, sizeof last.query, mote_request_query(req));
    copy_str(last.host, sizeof last.host, mote_request_host(req));
    last.path_terminated = path.ptr[path.len] == '\0' && strlen(path.ptr) == path.len;
    mote_respond(res, 200, "text/plain", "ok");
}

typedef struct target_case {
    const char *request;
    const char *path, *query, *host;
} target_case;

static void test_targets(void)
{
    static const target_case cases[] = {
        {"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n", "/index.html", "", "bench"},
        {"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\n\r\n", "/a/b", "x=1&y", "h"},
        {"GET /a/%2e%2e/b?q HTTP/1.1\r\nHost: h\r\n\r\n", "/b", "q", "h"},
        {"GET /a/./b/../c HTTP/1.1\r\nHost: h\r\n\r\n", "/a/c", "", "h"},
        {"GET /a%20b/c.d HTTP/1.1\r\nHost: h\r\n\r\n", "/a b/c.d", "", "h"},
        {"GET /0123456789/abcdefgh/ijk.html?z HTTP/1.1\r\nHost: h\r\n\r\n",
         "/0123456789/abcdefgh/ijk.html", "z", "h"},
        {"GET /? HTTP/1.1\r\nHost: h\r\n\r\n", "/", "", "h"},
        {"GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n", "/x", "y", "example.com"},
        {"GET http://example.com?y HTTP/1.1\r\nHost: other\r\n\r\n", "/", "y", "example.com"},
        {"GET /x HTTP/1.0\r\n\r\n", "/x", "", ""},
        {"GET /x HTTP/1.1\r\nA: b\r\nHost: h:8080\r\nC: d\r\n\r\n", "/x", "", "h:8080"},
        {"GET /x HTTP/1.1\r\nHost:\r\n\r\n", "/x", "", ""},
        {"GET /x HTTP/1.1\r\nhOsT:  spaced  \r\n\r\n", "/x", "", "spaced"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        h_default(&h, record);
        h_start(&h);
        memset(&last, 0, sizeof last);
        h_feed_str(&h, cases[i].request, 0);
        CHECK_MSG(last.called == 1, "%s: called %d", cases[i].request, last.called);
        CHECK_EQ_STR(last.path, cases[i].path);
        CHECK_EQ_STR(last.query, cases[i].query);
        CHECK_EQ_STR(last.host, cases[i].host);
        CHECK(last.path_terminated);
        CHECK(h_find(h_out(&h), h.out_len, "HTTP/1.1 200 OK\r\n") == h_out(&h));
        h_free(&h);
    }
}

/* The refusals that come before the handler are what they were. */
static void test_refusals(void)
{
    static const struct {
        const char *request, *status_line;
        int called;
    } cases[] = {
        {"GET /a/../../x HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 0},
        {"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 0},
        {"GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 0},
        {"GET /x HTTP/1.1\r\nHost: h\r\nExpect: fancy\r\n\r\n",
         "HTTP/1.1 417 Expectation Failed\r\n", 0},
        {"GET /x HTTP/1.1\r\nExpect: 100-continue\r\nHost: h\r\n\r\n", "HTTP/1.1 200 OK\r\n", 1},
        {"GET /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nExpect: fancy\r\n\r\n",
         "HTTP/1.1 200 OK\r\n", 1},
        {"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
         "HTTP/1.1 200 OK\r\n", 1},
        {"BREW /x HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 501 Not Implemented\r\n", 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h);
        h_default(&h, record);
        h_start(&h);
        memset(&last, 0, sizeof last);
        h_feed_str(&h, cases[i].request, 0);
        CHECK_MSG(last.called == cases[i].called, "%s: called %d", cases[i].request, last.called);
        CHECK_MSG(h.out_len >= strlen(cases[i].status_line) &&
                      memcmp(h_out(&h), cases[i].status_line, strlen(cases[i].status_line)) == 0,
                  "%s: %.40s", cases[i].request, h_out(&h));
        h_free(&h);
    }
}

/* mote_respond() stages Content-Type without the name's checks: the head is the one that
 * mote_response_header() and mote_response_send() give, and a bad value is refused alike. */
static int rc_respond, rc_header;

static void respond_short(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    rc_respond = mote_respond(res, 404, "text/html; charset=utf-8", "gone");
}

static void respond_long(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    rc_header = mote_response_status(res, 404);
    if (rc_header == MOTE_OK)
        rc_header = mote_response_header(res, "Content-Type", "text/html; charset=utf-8");
    if (rc_header == MOTE_OK) rc_header = mote_response_send(res, "gone", 4);
}

static void respond_bad_type(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    rc_respond = mote_respond(res, 200, "text/html\r\nX-Evil: 1", "x");
    rc_header = mote_response_header(res, "Content-Type", "text/html\r\nX-Evil: 1");
    (void)mote_respond(res, 200, "text/plain", "fine");
}

static void test_respond_head(void)
{
    harness a, b, c;
    const char *want = "HTTP/1.1 404 Not Found\r\n" H_PREFIX
                       "Content-Type: text/html; charset=utf-8\r\nContent-Length: 4\r\n\r\ngone";
    h_init(&a);
    h_default(&a, respond_short);
    h_start(&a);
    h_feed_str(&a, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    h_init(&b);
    h_default(&b, respond_long);
    h_start(&b);
    h_feed_str(&b, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    CHECK_EQ_INT(rc_respond, MOTE_OK);
    CHECK_EQ_INT(rc_header, MOTE_OK);
    CHECK(a.out_len == strlen(want) && memcmp(h_out(&a), want, a.out_len) == 0);
    CHECK(b.out_len == a.out_len && memcmp(h_out(&b), h_out(&a), a.out_len) == 0);
    h_free(&a);
    h_free(&b);

    h_init(&c);
    h_default(&c, respond_bad_type);
    h_start(&c);
    h_feed_str(&c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    CHECK_EQ_INT(rc_respond, MOTE_EINVAL);
    CHECK_EQ_INT(rc_header, MOTE_EINVAL);
    CHECK(h_find(h_out(&c), c.out_len, "X-Evil") == NULL);
    CHECK(h_find(h_out(&c), c.out_len, "Content-Type: text/plain\r\n") != NULL);
    h_free(&c);
}

int main(void)
{
    test_path_exhaustive();
    test_path_random();
    test_path_examples();
    test_decimal();
    test_targets();
    test_refusals();
    test_respond_head();
    return check_report("test_fastpath");
}
