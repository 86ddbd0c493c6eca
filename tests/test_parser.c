/* test_parser.c - the request-head parser (src/parser.c) against RFC 9112 / RFC 9110.
 *
 * Every valid request is parsed three ways - the whole buffer at once, split in two at every
 * byte position, and one byte at a time - and the three must agree exactly. The buffer only
 * grows, as in the real caller: the same pointer with a larger length. Bytes the client has
 * not "sent" yet are poisoned with NUL, so a parser that looked past `len` would trip on them.
 *
 * Every malformed request must be refused with the expected status, and the byte-at-a-time
 * feed must report it no later than the whole-buffer feed does: at the exact byte the table
 * names (the offending byte, the last byte a limit allows, or the final LF for errors found by
 * looking at the fields as a whole). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/parser.h"

#define MAX_SPANS 256
#define WORK_SIZE 40000

typedef struct limits {
    uint32_t line, bytes, hdrs;
} limits;

static const limits DEFAULT_LIMITS = {8192, 8192, 64};

static hdr_span spans[MAX_SPANS];
static char work[WORK_SIZE]; /* the connection's input buffer: received bytes, then poison */

/* Everything the parser reports, to compare one way of feeding with another. */
typedef struct outcome {
    int rc, status;
    uint32_t method_off, method_len, target_off, target_len;
    uint8_t major, minor;
    uint32_t header_count, head_len, flags;
    uint64_t content_length;
    hdr_span headers[MAX_SPANS];
} outcome;

static void capture(outcome *o, const parser *p, int rc)
{
    memset(o, 0, sizeof *o);
    o->rc = rc;
    o->status = p->status;
    if (rc != PARSE_DONE) return;
    o->method_off = p->method_off;
    o->method_len = p->method_len;
    o->target_off = p->target_off;
    o->target_len = p->target_len;
    o->major = p->version_major;
    o->minor = p->version_minor;
    o->header_count = p->header_count;
    o->head_len = p->head_len;
    o->flags = p->flags;
    o->content_length = p->content_length;
    memcpy(o->headers, p->headers, p->header_count * sizeof(hdr_span));
}

static int outcome_equal(const outcome *a, const outcome *b)
{
    uint32_t i;
    if (a->rc != b->rc || a->status != b->status || a->method_off != b->method_off ||
        a->method_len != b->method_len || a->target_off != b->target_off ||
        a->target_len != b->target_len || a->major != b->major || a->minor != b->minor ||
        a->header_count != b->header_count || a->head_len != b->head_len ||
        a->flags != b->flags || a->content_length != b->content_length)
        return 0;
    for (i = 0; i < a->header_count; i++) {
        if (memcmp(&a->headers[i], &b->headers[i], sizeof(hdr_span)) != 0) return 0;
    }
    return 1;
}

static void start(parser *p, limits lim)
{
    memset(spans, 0xA5, sizeof spans); /* stale spans must not look like results */
    parser_init(p, spans, lim.hdrs, lim.line, lim.bytes);
}

/* The client has sent raw[0..upto) of raw[0..total): copy them in, poison the rest. */
static void reveal(const char *raw, size_t upto, size_t total)
{
    memcpy(work, raw, upto);
    memset(work + upto, 0, total - upto);
}

static int feed_whole(parser *p, limits lim, const char *raw, size_t len)
{
    start(p, lim);
    reveal(raw, len, len);
    return parser_execute(p, work, len);
}

/* Feeds raw[0..len) one byte at a time; returns the last result and sets *at to the prefix
 * length at which it stopped being PARSE_MORE (len + 1 if it never did). Checks on the way that
 * p->pos advances by exactly the bytes fed while the head is incomplete. */
static int feed_bytes(parser *p, limits lim, const char *raw, size_t len, size_t *at)
{
    size_t i;
    int rc = PARSE_MORE, pos_ok = 1;
    start(p, lim);
    memset(work, 0, len);
    for (i = 1; i <= len; i++) {
        work[i - 1] = raw[i - 1];
        rc = parser_execute(p, work, i);
        if (rc != PARSE_MORE) break;
        if (p->pos != i) pos_ok = 0;
    }
    CHECK_MSG(pos_ok, "pos did not follow the bytes fed");
    *at = i;
    return rc;
}

/* Compares a span of the buffer with an expected string. */
static int span_is(const char *buf, uint32_t off, uint32_t len, const char *want)
{
    return strlen(want) == len && memcmp(buf + off, want, len) == 0;
}

static void print_bytes(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
}

/* ============================================================================================
 * Valid requests
 * ========================================================================================== */

#define MAX_FIELDS 24

typedef struct valid_case {
    const char *name;
    const char *head;            /* the request head, blank line included */
    const char *after;           /* what follows it: a body or the next request; not consumed */
    const char *method, *target;
    int minor;
    uint32_t flags;
    uint64_t content_length;
    const char *fields[2 * MAX_FIELDS + 1]; /* name, value, ..., NULL */
} valid_case;

static const valid_case valid_cases[] = {
    {"GET with several headers",
     "GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n"
     "Accept: */*\r\nX-Request-Id: 42\r\n\r\n",
     "", "GET", "/index.html?q=1&r=%20", 1, HEAD_HAS_HOST, 0,
     {"Host", "example.com", "User-Agent", "test/1.0", "Accept", "*/*", "X-Request-Id", "42",
      NULL}},
    {"HEAD", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", "", "HEAD", "/x", 1, HEAD_HAS_HOST, 0,
     {"Host", "a", NULL}},
    {"POST with Content-Length; the body is not part of the head",
     "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n",
     "hello world", "POST", "/submit", 1, HEAD_HAS_HOST | HEAD_HAS_LENGTH, 11,
     {"Host", "a", "Content-Type", "text/plain", "Content-Length", "11", NULL}},
    {"chunked PUT in HTTP/1.1",
     "PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
     "5\r\nhello\r\n0\r\n\r\n", "PUT", "/up", 1, HEAD_HAS_HOST | HEAD_CHUNKED, 0,
     {"Host", "a", "Transfer-Encoding", "chunked", NULL}},
    {"chunked, coding name in another case and with OWS (RFC 9112 §7: case-insensitive)",
     "PUT /up HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING:   Chunked  \r\n\r\n", "0\r\n\r\n", "PUT",
     "/up", 1, HEAD_HAS_HOST | HEAD_CHUNKED, 0,
     {"Host", "a", "TRANSFER-ENCODING", "Chunked", NULL}},
    {"HTTP/1.0 without Host (RFC 9112 §3.2 requires Host only of 1.1)", "GET / HTTP/1.0\r\n\r\n",
     "", "GET", "/", 0, 0, 0, {NULL}},
    {"HTTP/1.0 with keep-alive", "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "", "GET",
     "/k", 0, HEAD_KEEP_ALIVE, 0, {"Connection", "keep-alive", NULL}},
    {"leading empty lines are ignored (RFC 9112 §2.2)", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
     "", "GET", "/", 1, HEAD_HAS_HOST, 0, {"Host", "a", NULL}},
    {"absolute-form target (RFC 9112 §3.2.2)",
     "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "", "GET",
     "http://example.com:8080/a/b?c=d", 1, HEAD_HAS_HOST, 0,
     {"Host", "example.com:8080", NULL}},
    {"asterisk-form (RFC 9112 §3.2.4)", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "", "OPTIONS",
     "*", 1, HEAD_HAS_HOST, 0, {"Host", "a", NULL}},
    {"HTTP/1.2 is served as 1.1 (RFC 9110 §2.5)", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", "", "GET",
     "/", 1, HEAD_HAS_HOST, 0, {"Host", "a", NULL}},
    {"HTTP/1.9 is served as 1.1", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST, 0, {"Host", "a", NULL}},
    {"obs-text 0x80-0xFF in values (RFC 9110 §5.5)",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\nX-Raw: \x80\xff\x9f end\r\n\r\n", "", "GET",
     "/", 1, HEAD_HAS_HOST, 0, {"Host", "a", "X-Name", "caf\xc3\xa9", "X-Raw", "\x80\xff\x9f end", NULL}},
    {"tabs inside values", "GET / HTTP/1.1\r\nHost: a\r\nX-Tabs:\ta\tb\t c\r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST, 0, {"Host", "a", "X-Tabs", "a\tb\t c", NULL}},
    {"leading and trailing OWS is not part of the value (RFC 9110 §5.5)",
     "GET / HTTP/1.1\r\nHost:a\r\nX-Pad:  \t value with  spaces \t \r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST, 0, {"Host", "a", "X-Pad", "value with  spaces", NULL}},
    {"empty values, with and without OWS",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \t\r\nX-After: 1\r\n\r\n", "", "GET", "/",
     1, HEAD_HAS_HOST, 0, {"Host", "a", "X-Empty", "", "X-Blank", "", "X-After", "1", NULL}},
    {"Chrome-like",
     "GET /app/page?id=7 HTTP/1.1\r\n"
     "Host: localhost:8080\r\n"
     "Connection: keep-alive\r\n"
     "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
     "sec-ch-ua-mobile: ?0\r\n"
     "sec-ch-ua-platform: \"Linux\"\r\n"
     "Upgrade-Insecure-Requests: 1\r\n"
     "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36\r\n"
     "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
     "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
     "Sec-Fetch-Site: none\r\n"
     "Sec-Fetch-Mode: navigate\r\n"
     "Sec-Fetch-User: ?1\r\n"
     "Sec-Fetch-Dest: document\r\n"
     "Accept-Encoding: gzip, deflate, br, zstd\r\n"
     "Accept-Language: en-US,en;q=0.9\r\n"
     "Cookie: session=abc123; theme=dark\r\n"
     "\r\n",
     "", "GET", "/app/page?id=7", 1, HEAD_HAS_HOST | HEAD_KEEP_ALIVE, 0,
     {"Host", "localhost:8080", "Connection", "keep-alive", "sec-ch-ua",
      "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"",
      "sec-ch-ua-mobile", "?0", "sec-ch-ua-platform", "\"Linux\"", "Upgrade-Insecure-Requests", "1",
      "User-Agent",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
      "Safari/537.36",
      "Accept",
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
      "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
      "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-User", "?1",
      "Sec-Fetch-Dest", "document", "Accept-Encoding", "gzip, deflate, br, zstd",
      "Accept-Language", "en-US,en;q=0.9", "Cookie", "session=abc123; theme=dark", NULL}},
    {"Firefox-like POST with a form body",
     "POST /login HTTP/1.1\r\n"
     "Host: example.org\r\n"
     "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n"
     "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
     "Accept-Language: en-US,en;q=0.5\r\n"
     "Accept-Encoding: gzip, deflate, br\r\n"
     "Content-Type: application/x-www-form-urlencoded\r\n"
     "Content-Length: 27\r\n"
     "Origin: https://example.org\r\n"
     "DNT: 1\r\n"
     "Connection: keep-alive\r\n"
     "Referer: https://example.org/login\r\n"
     "Upgrade-Insecure-Requests: 1\r\n"
     "Sec-Fetch-Dest: document\r\n"
     "Sec-Fetch-Mode: navigate\r\n"
     "Sec-Fetch-Site: same-origin\r\n"
     "Sec-Fetch-User: ?1\r\n"
     "Priority: u=0, i\r\n"
     "\r\n",
     "user=alice&password=secret1", "POST", "/login", 1,
     HEAD_HAS_HOST | HEAD_KEEP_ALIVE | HEAD_HAS_LENGTH, 27,
     {"Host", "example.org", "User-Agent",
      "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Accept",
      "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language",
      "en-US,en;q=0.5", "Accept-Encoding", "gzip, deflate, br", "Content-Type",
      "application/x-www-form-urlencoded", "Content-Length", "27", "Origin",
      "https://example.org", "DNT", "1", "Connection", "keep-alive", "Referer",
      "https://example.org/login", "Upgrade-Insecure-Requests", "1", "Sec-Fetch-Dest",
      "document", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin",
      "Sec-Fetch-User", "?1", "Priority", "u=0, i", NULL}},
    {"curl",
     "GET /api/v1/items?limit=10 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\n"
     "Accept: */*\r\n\r\n",
     "", "GET", "/api/v1/items?limit=10", 1, HEAD_HAS_HOST, 0,
     {"Host", "localhost:8080", "User-Agent", "curl/8.5.0", "Accept", "*/*", NULL}},
    {"curl with Expect: 100-continue",
     "PUT /file HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"
     "Content-Length: 2048\r\nExpect: 100-continue\r\n\r\n",
     "", "PUT", "/file", 1, HEAD_HAS_HOST | HEAD_HAS_LENGTH | HEAD_EXPECT_CONTINUE, 2048,
     {"Host", "[::1]:8080", "User-Agent", "curl/8.5.0", "Accept", "*/*", "Content-Length", "2048",
      "Expect", "100-continue", NULL}},
    {"wget",
     "GET /pub/file.tar.gz HTTP/1.1\r\nUser-Agent: Wget/1.21.4\r\nAccept: */*\r\n"
     "Accept-Encoding: identity\r\nHost: ftp.example.net\r\nConnection: Keep-Alive\r\n\r\n",
     "", "GET", "/pub/file.tar.gz", 1, HEAD_HAS_HOST | HEAD_KEEP_ALIVE, 0,
     {"User-Agent", "Wget/1.21.4", "Accept", "*/*", "Accept-Encoding", "identity", "Host",
      "ftp.example.net", "Connection", "Keep-Alive", NULL}},
    {"Connection: close, with other options in a list",
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade , CLOSE\r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST | HEAD_CLOSE, 0, {"Host", "a", "Connection", "Upgrade , CLOSE", NULL}},
    {"pipelined: the next request is not consumed",
     "GET /a HTTP/1.1\r\nHost: a\r\n\r\n", "GET /b HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a", 1,
     HEAD_HAS_HOST, 0, {"Host", "a", NULL}},
    {"two identical Content-Length fields are one length (RFC 9110 §8.6)",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "abcde",
     "POST", "/", 1, HEAD_HAS_HOST | HEAD_HAS_LENGTH, 5,
     {"Host", "a", "Content-Length", "5", "Content-Length", "5", NULL}},
    {"a list of identical Content-Length values (RFC 9110 §8.6)",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", "abcde", "POST", "/", 1,
     HEAD_HAS_HOST | HEAD_HAS_LENGTH, 5, {"Host", "a", "Content-Length", "5, 5", NULL}},
    {"Content-Length with leading zeros", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\n\r\n",
     "1234567", "POST", "/", 1, HEAD_HAS_HOST | HEAD_HAS_LENGTH, 7,
     {"Host", "a", "content-length", "007", NULL}},
    {"Content-Length 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "", "POST", "/",
     1, HEAD_HAS_HOST | HEAD_HAS_LENGTH, 0, {"Host", "a", "Content-Length", "0", NULL}},
    {"Content-Length 2^64-1 still parses (the body limit is not the parser's)",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", "", "POST", "/",
     1, HEAD_HAS_HOST | HEAD_HAS_LENGTH, UINT64_MAX,
     {"Host", "a", "Content-Length", "18446744073709551615", NULL}},
    {"Host forms: empty (RFC 9110 §7.2)", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST, 0, {"Host", "", NULL}},
    {"Host forms: reg-name with pct-encoding, sub-delims and port",
     "GET / HTTP/1.1\r\nhOsT: my-host_1.example%41!$&'()*+,;=:443\r\n\r\n", "", "GET", "/", 1,
     HEAD_HAS_HOST, 0, {"hOsT", "my-host_1.example%41!$&'()*+,;=:443", NULL}},
    {"Host forms: IPvFuture-style literal, in 1.0",
     "GET / HTTP/1.0\r\nHost: [v1.fe80::a]\r\n\r\n", "", "GET", "/", 0, HEAD_HAS_HOST, 0,
     {"Host", "[v1.fe80::a]", NULL}},
    {"method and names are any token; the target any visible ASCII",
     "M-SEARCH!#$%&'*+.^_`|~09 /a\"b<c>{d}|e\\f^g`h[i]j HTTP/1.1\r\n"
     "Host: a\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n",
     "", "M-SEARCH!#$%&'*+.^_`|~09", "/a\"b<c>{d}|e\\f^g`h[i]j", 1, HEAD_HAS_HOST, 0,
     {"Host", "a", "!#$%&'*+-.^_`|~09azAZ", "v", NULL}},
    {"a colon inside a value, and a value that looks like a field line",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Url: http://x:1/y\r\nX-Line: Host: b\r\n\r\n", "", "GET", "/",
     1, HEAD_HAS_HOST, 0, {"Host", "a", "X-Url", "http://x:1/y", "X-Line", "Host: b", NULL}},
    {"Expect compares case-insensitively",
     "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", "x", "POST",
     "/", 1, HEAD_HAS_HOST | HEAD_HAS_LENGTH | HEAD_EXPECT_CONTINUE, 1,
     {"Host", "a", "Expect", "100-Continue", "Content-Length", "1", NULL}},
};

static void check_against_table(const valid_case *vc, const char *buf, const outcome *o)
{
    size_t nf = 0, i;
    CHECK_MSG(o->rc == PARSE_DONE, "%s: rc %d status %d", vc->name, o->rc, o->status);
    if (o->rc != PARSE_DONE) return;
    while (vc->fields[2 * nf]) nf++;
    CHECK_MSG(span_is(buf, o->method_off, o->method_len, vc->method), "%s: method", vc->name);
    CHECK_MSG(span_is(buf, o->target_off, o->target_len, vc->target), "%s: target", vc->name);
    CHECK_MSG(o->major == 1 && o->minor == vc->minor, "%s: version %d.%d", vc->name, o->major,
              o->minor);
    CHECK_MSG(o->head_len == strlen(vc->head), "%s: head_len %u, want %zu", vc->name,
              (unsigned)o->head_len, strlen(vc->head));
    CHECK_MSG(o->flags == vc->flags, "%s: flags 0x%x, want 0x%x", vc->name, (unsigned)o->flags,
              (unsigned)vc->flags);
    CHECK_MSG(o->content_length == vc->content_length, "%s: content_length %llu", vc->name,
              (unsigned long long)o->content_length);
    CHECK_MSG(o->header_count == nf, "%s: %u headers, want %zu", vc->name,
              (unsigned)o->header_count, nf);
    for (i = 0; i < nf && i < o->header_count; i++) {
        const hdr_span *h = &o->headers[i];
        int ok_name = span_is(buf, h->name_off, h->name_len, vc->fields[2 * i]);
        int ok_value = span_is(buf, h->value_off, h->value_len, vc->fields[2 * i + 1]);
        CHECK_MSG(ok_name && ok_value, "%s: field %zu", vc->name, i);
        if (!(ok_name && ok_value)) {
            fprintf(stderr, "  got [");
            print_bytes(buf + h->name_off, h->name_len);
            fprintf(stderr, "] = [");
            print_bytes(buf + h->value_off, h->value_len);
            fprintf(stderr, "]\n");
        }
    }
}

static void test_valid_requests(void)
{
    static char raw[WORK_SIZE];
    static outcome ref, got;
    parser p;
    size_t c;

    for (c = 0; c < sizeof valid_cases / sizeof valid_cases[0]; c++) {
        const valid_case *vc = &valid_cases[c];
        size_t head_len = strlen(vc->head), len = head_len + strlen(vc->after), k, at;
        int rc, splits_ok = 1;

        memcpy(raw, vc->head, head_len);
        memcpy(raw + head_len, vc->after, len - head_len);

        /* (a) whole */
        rc = feed_whole(&p, DEFAULT_LIMITS, raw, len);
        capture(&ref, &p, rc);
        check_against_table(vc, work, &ref);
        CHECK_MSG(p.pos == head_len, "%s: pos %u after the head", vc->name, (unsigned)p.pos);
        /* a finished parser stays finished and changes nothing */
        CHECK_EQ_INT(parser_execute(&p, work, len), PARSE_DONE);
        capture(&got, &p, PARSE_DONE);
        CHECK_MSG(outcome_equal(&ref, &got), "%s: a call after DONE changed the results", vc->name);

        /* (b) split in two at every position: the prefix, then everything */
        for (k = 0; k <= len; k++) {
            int rc1;
            start(&p, DEFAULT_LIMITS);
            reveal(raw, k, len);
            rc1 = parser_execute(&p, work, k);
            if (k < head_len) {
                if (rc1 != PARSE_MORE || p.pos != k) splits_ok = 0;
            } else if (rc1 != PARSE_DONE) {
                splits_ok = 0;
            }
            reveal(raw, len, len);
            rc = parser_execute(&p, work, len);
            capture(&got, &p, rc);
            if (!outcome_equal(&ref, &got)) {
                splits_ok = 0;
                fprintf(stderr, "%s: split at %zu differs (rc %d status %d)\n", vc->name, k, rc,
                        p.status);
            }
        }
        CHECK_MSG(splits_ok, "%s: two-part feeds", vc->name);

        /* (c) one byte at a time: DONE exactly when the blank line's LF arrives */
        rc = feed_bytes(&p, DEFAULT_LIMITS, raw, len, &at);
        capture(&got, &p, rc);
        CHECK_MSG(rc == PARSE_DONE && at == head_len, "%s: bytewise rc %d at %zu", vc->name, rc, at);
        CHECK_MSG(outcome_equal(&ref, &got), "%s: bytewise results differ", vc->name);
    }
}

/* ============================================================================================
 * Malformed requests
 * ========================================================================================== */

typedef struct bad_case {
    const char *raw;
    size_t len;
    int status;
    /* Where the byte-fed parser must report the error: at the first byte of `mark` + `delta`;
     * a NULL mark means at the last byte (the final LF, after which the fields are analysed). */
    const char *mark;
    int delta;
    limits lim; /* all zero: DEFAULT_LIMITS */
    const char *why;
} bad_case;

#define B(s) s, sizeof(s) - 1
#define NOLIM {0, 0, 0}
#define H11 "GET / HTTP/1.1\r\n"

static const bad_case bad_cases[] = {
    /* --- field syntax, RFC 9112 §5 ------------------------------------------------------- */
    {B(H11 "Host : a\r\n\r\n"), 400, "Host :", 4, NOLIM,
     "§5.1: no whitespace between field name and colon"},
    {B(H11 "Host\t: a\r\n\r\n"), 400, "Host\t", 4, NOLIM, "§5.1: no whitespace before colon (tab)"},
    {B(H11 "Host: a\r\nX: b\r\n c\r\n\r\n"), 400, " c", 0, NOLIM, "§5.2: obs-fold is rejected"},
    {B(H11 "Host: a\r\nX: b\r\n\tc\r\n\r\n"), 400, "\tc", 0, NOLIM, "§5.2: obs-fold with HTAB"},
    {B(H11 " Host: a\r\n\r\n"), 400, " Host", 0, NOLIM,
     "§2.2: whitespace between the start-line and the first field"},
    {B(H11 "\tHost: a\r\n\r\n"), 400, "\tHost", 0, NOLIM, "§2.2: HTAB before the first field"},
    {B(H11 ": a\r\nHost: a\r\n\r\n"), 400, ": a", 0, NOLIM, "§5.1: field-name = token, not empty"},
    {B(H11 "Host\r\n\r\n"), 400, "\r\n\r\n", 0, NOLIM, "§5.1: a field line needs a colon"},
    {B(H11 "Fo@: x\r\nHost: a\r\n\r\n"), 400, "@", 0, NOLIM, "RFC 9110 §5.1: '@' is not a tchar"},
    {B(H11 "Fo\"o: x\r\nHost: a\r\n\r\n"), 400, "\"", 0, NOLIM, "RFC 9110 §5.1: DQUOTE is not a tchar"},
    {B(H11 "(x): y\r\nHost: a\r\n\r\n"), 400, "(x)", 0, NOLIM, "RFC 9110 §5.1: '(' is not a tchar"},
    {B(H11 "X\0Y: a\r\nHost: a\r\n\r\n"), 400, "\0", 0, NOLIM, "RFC 9110 §5.1: NUL in a name"},
    {B(H11 "Caf\xc3\xa9: a\r\nHost: a\r\n\r\n"), 400, "\xc3", 0, NOLIM,
     "RFC 9110 §5.1: a name is ASCII tchars only"},
    {B(H11 "X/Y: a\r\nHost: a\r\n\r\n"), 400, "/Y", 0, NOLIM, "RFC 9110 §5.1: '/' is not a tchar"},
    /* --- field values, RFC 9110 §5.5 ----------------------------------------------------- */
    {B(H11 "Host: a\r\nX: a\0b\r\n\r\n"), 400, "\0", 0, NOLIM, "RFC 9110 §5.5: NUL in a value"},
    {B(H11 "Host: a\r\nX: a\x01" "b\r\n\r\n"), 400, "\x01", 0, NOLIM, "RFC 9110 §5.5: CTL in a value"},
    {B(H11 "Host: a\r\nX: a\x7f" "b\r\n\r\n"), 400, "\x7f", 0, NOLIM, "RFC 9110 §5.5: DEL in a value"},
    {B(H11 "Host: a\r\nX: hello\x0cworld\r\n\r\n"), 400, "\x0c", 0, NOLIM,
     "RFC 9110 §5.5: form feed in a value"},
    {B(H11 "Host: a\r\nX: \x1b[0m\r\n\r\n"), 400, "\x1b", 0, NOLIM, "RFC 9110 §5.5: ESC in a value"},
    {B(H11 "Host: a\r\nX: \x0c\r\n\r\n"), 400, "\x0c", 0, NOLIM,
     "RFC 9110 §5.5: a lone CTL as the whole value"},
    /* --- line endings, RFC 9112 §2.2 ----------------------------------------------------- */
    {B("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400, "\nHost", 0, NOLIM,
     "§2.2: bare LF ending the request line"},
    {B(H11 "Host: a\nX: b\r\n\r\n"), 400, "\nX", 0, NOLIM, "§2.2: bare LF ending a field line"},
    {B(H11 "Host: a\r\n\n"), 400, "\r\n\n", 2, NOLIM, "§2.2: bare LF as the blank line"},
    {B("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400, "\rHost", 1, NOLIM,
     "§2.2: bare CR after the request line"},
    {B(H11 "Host: a\rb\r\n\r\n"), 400, "\rb", 1, NOLIM, "§2.2: bare CR inside a field line"},
    {B(H11 "Host: a\r\n\rX"), 400, "\rX", 1, NOLIM, "§2.2: bare CR as the blank line"},
    {B("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\rb", 0, NOLIM, "§2.2: bare CR in the target"},
    {B("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\nGET", 0, NOLIM,
     "§2.2: only CRLF empty lines may precede the request line"},
    {B("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\rGET", 0, NOLIM,
     "§2.2: a bare CR before the request line"},
    /* --- the request line, RFC 9112 §3 --------------------------------------------------- */
    {B("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "@", 0, NOLIM, "§3.1: method = token"},
    {B("(GET) / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "(", 0, NOLIM, "§3.1: method = token"},
    {B("G\xc9T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\xc9", 0, NOLIM, "§3.1: method = token (ASCII)"},
    {B(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, " GET", 0, NOLIM,
     "§3: nothing before the method"},
    {B("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "  /", 1, NOLIM,
     "§3: exactly one SP between method and target"},
    {B("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "  HTTP", 1, NOLIM,
     "§3: exactly one SP between target and version"},
    {B("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\t", 0, NOLIM, "§3: SP, not HTAB, separates"},
    {B("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400, " \r\n", 0, NOLIM,
     "§3: no whitespace after the version"},
    {B("GET /\r\n\r\n"), 400, "\r\n", 0, NOLIM,
     "§3 / §2.3: HTTP/0.9 style, no version, is not HTTP/1.1"},
    {B("GET HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\r\n", 0, NOLIM, "§3: the target is missing"},
    {B("GET /foo bar HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "bar", 0, NOLIM,
     "§3.2: SP inside the target"},
    {B("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\xc3", 0, NOLIM,
     "§3.2 (RFC 3986): a target byte >= 0x80"},
    {B("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\x7f", 0, NOLIM, "§3.2: DEL in the target"},
    {B("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "\0", 0, NOLIM, "§3.2: NUL in the target"},
    /* --- the version, RFC 9112 §2.3 ------------------------------------------------------ */
    {B("GET / http/1.1\r\nHost: a\r\n\r\n"), 400, "http", 0, NOLIM,
     "§2.3: HTTP-name is case-sensitive"},
    {B("GET / Http/1.1\r\nHost: a\r\n\r\n"), 400, "ttp/", 0, NOLIM,
     "§2.3: HTTP-name is case-sensitive"},
    {B("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400, "0\r\n", 0, NOLIM,
     "§2.3: one digit after the dot"},
    {B("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400, "\r\n", 0, NOLIM, "§2.3: DIGIT \".\" DIGIT"},
    {B("GET / HTTP/1.\r\nHost: a\r\n\r\n"), 400, "\r\n", 0, NOLIM, "§2.3: DIGIT \".\" DIGIT"},
    {B("GET / HTTP/a.1\r\nHost: a\r\n\r\n"), 400, "a.1", 0, NOLIM, "§2.3: the major is a DIGIT"},
    {B("GET / HTTP/1,1\r\nHost: a\r\n\r\n"), 400, ",1", 0, NOLIM, "§2.3: a dot between digits"},
    {B("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400, "1\r\n", 0, NOLIM, "§2.3: a dot between digits"},
    {B("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, "\r\n", 0, NOLIM,
     "RFC 9110 §15.6.6: another major version is 505"},
    {B("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505, "\r\n", 0, NOLIM,
     "RFC 9110 §15.6.6: another major version is 505"},
    {B("GET / HTTP/0.9\r\n\r\n"), 505, "\r\n", 0, NOLIM,
     "RFC 9110 §15.6.6: major version 0 is not served"},
    /* --- Host, RFC 9112 §3.2 / RFC 9110 §7.2 --------------------------------------------- */
    {B(H11 "\r\n"), 400, NULL, 0, NOLIM, "§3.2: a 1.1 request without Host"},
    {B(H11 "X: a\r\nHost-Name: b\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§3.2: Host-Name is not Host, so Host is missing"},
    {B(H11 "Host: a\r\nHost: a\r\n\r\n"), 400, NULL, 0, NOLIM, "§3.2: two Host fields"},
    {B("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§3.2: two Host fields, also in 1.0"},
    {B(H11 "Host: a b\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 9110 §7.2 / RFC 3986: SP in Host"},
    {B(H11 "Host: user@a\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 9110 §7.2: no userinfo in Host"},
    {B(H11 "Host: a/b\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 9110 §7.2: '/' in Host"},
    {B(H11 "Host: a:8x\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.3: port = *DIGIT"},
    {B(H11 "Host: a:1:2\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.3: one port"},
    {B(H11 "Host: a%2\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §2.1: '%' HEXDIG HEXDIG"},
    {B(H11 "Host: a%zz\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §2.1: '%' HEXDIG HEXDIG"},
    {B(H11 "Host: [::1\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.2: unterminated IP-literal"},
    {B(H11 "Host: []\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.2: empty IP-literal"},
    {B(H11 "Host: [::1]x\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.2: junk after ']'"},
    {B(H11 "Host: a\xc3\xa9\r\n\r\n"), 400, NULL, 0, NOLIM, "RFC 3986 §3.2.2: non-ASCII in Host"},
    /* --- Content-Length, RFC 9110 §8.6 / RFC 9112 §6.3 ----------------------------------- */
    {B(H11 "Host: a\r\nContent-Length: abc\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: Content-Length = 1*DIGIT"},
    {B(H11 "Host: a\r\nContent-Length: +5\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: no sign"},
    {B(H11 "Host: a\r\nContent-Length: -1\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: no sign"},
    {B(H11 "Host: a\r\nContent-Length: 4 2\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: no inner whitespace"},
    {B(H11 "Host: a\r\nContent-Length: \r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: an empty value"},
    {B(H11 "Host: a\r\nContent-Length: ,\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: a list with no length in it"},
    {B(H11 "Host: a\r\nContent-Length: 5,\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: Content-Length is not a list; only identical numbers are tolerated"},
    {B(H11 "Host: a\r\nContent-Length: 5, ,5\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: every element of the tolerated list is a number"},
    {B(H11 "Host: a\r\nContent-Length: 18446744073709551616\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9112 §6.3: 2^64 overflows; an unparsable length is invalid framing"},
    {B(H11 "Host: a\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9112 §6.3: overflow"},
    {B(H11 "Host: a\r\nContent-Length: 0x10\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: decimal only"},
    {B(H11 "Host: a\r\nContent-Length: 5.0\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: digits only"},
    {B(H11 "Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9112 §6.3 item 5: differing lengths"},
    {B(H11 "Host: a\r\nContent-Length: 5, 6\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: a list of differing lengths"},
    {B(H11 "Host: a\r\nContent-Length: 5\r\nContent-Length: 5, 6\r\n\r\n"), 400, NULL, 0, NOLIM,
     "RFC 9110 §8.6: differing lengths across fields"},
    /* --- Transfer-Encoding, RFC 9112 §6.1, §6.3, §7 -------------------------------------- */
    {B(H11 "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, NULL, 0,
     NOLIM, "§6.3 item 3: both Content-Length and Transfer-Encoding"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"), 400, NULL, 0,
     NOLIM, "§6.3 item 3: both, in the other order"},
    {B(H11 "Host: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.3 item 4: chunked is not the final coding"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.3 item 4: chunked is not the final coding"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), 400, NULL,
     0, NOLIM, "§6.3 item 4: not final, across two fields"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.1: chunked MUST NOT be applied more than once"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, NULL,
     0, NOLIM, "§6.1: chunked twice, across two fields"},
    {B(H11 "Host: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§7: chunked has no parameters"},
    {B(H11 "Host: a\r\nTransfer-Encoding: \r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.1: an empty Transfer-Encoding"},
    {B(H11 "Host: a\r\nTransfer-Encoding: ,\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.3 item 4: a list with no coding ends in no chunked"},
    {B("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400, NULL, 0, NOLIM,
     "§6.1: Transfer-Encoding in HTTP/1.0 is faulty framing"},
    {B(H11 "Host: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501, NULL, 0, NOLIM,
     "§6.1: a coding we do not implement is 501"},
    {B(H11 "Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), 501, NULL,
     0, NOLIM, "§6.1: 501, the codings across two fields"},
    /* --- limits -------------------------------------------------------------------------- */
    {B("GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n"), 414, "aaaa", 10, {16, 64, 8},
     "RFC 9112 §3 / RFC 9110 §15.5.15: target longer than the request-line limit"},
    {B("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), 414, "1.1", 2, {14, 64, 8},
     "RFC 9110 §15.5.15: the version runs past the limit"},
    {B("LONGMETHODNAME / HTTP/1.1\r\nHost: a\r\n\r\n"), 414, "LONG", 7, {8, 64, 8},
     "RFC 9110 §15.5.15: a method longer than the whole line limit"},
    {B(H11 "Host: a\r\nX: 0123456789abcdef\r\n\r\n"), 431, "0123", 3, {64, 16, 8},
     "RFC 6585 §5: the field section exceeds its byte limit"},
    {B(H11 "Host: a\r\nX-Long-Name-Here: v\r\n\r\n"), 431, "Long-Name", 4, {64, 16, 8},
     "RFC 6585 §5: a field name runs past the byte limit"},
    {B(H11 "Host: a\r\nA: 1\r\nB: 2\r\n\r\n"), 431, "B: 2", 0, {64, 64, 2},
     "RFC 6585 §5: more fields than max_headers"},
};

static void test_malformed_requests(void)
{
    parser p;
    size_t c;

    CHECK(sizeof bad_cases / sizeof bad_cases[0] >= 50);
    for (c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const bad_case *bc = &bad_cases[c];
        limits lim = bc->lim.line ? bc->lim : DEFAULT_LIMITS;
        size_t want_at = bc->len, at, i;
        int rc;

        if (bc->mark) {
            size_t mlen = strlen(bc->mark);
            if (mlen == 0) mlen = 1; /* a mark of "\0" is the NUL byte itself */
            for (i = 0; i + mlen <= bc->len; i++) {
                if (memcmp(bc->raw + i, bc->mark, mlen) == 0) break;
            }
            CHECK_MSG(i + mlen <= bc->len, "case %zu: mark not found", c);
            want_at = i + (size_t)bc->delta + 1;
        }

        rc = feed_whole(&p, lim, bc->raw, bc->len);
        CHECK_MSG(rc == PARSE_ERROR && p.status == bc->status,
                  "case %zu (%s): whole: rc %d status %d, want %d", c, bc->why, rc, p.status,
                  bc->status);
        /* an errored parser stays errored */
        CHECK_EQ_INT(parser_execute(&p, work, bc->len), PARSE_ERROR);

        rc = feed_bytes(&p, lim, bc->raw, bc->len, &at);
        CHECK_MSG(rc == PARSE_ERROR && p.status == bc->status,
                  "case %zu (%s): bytewise: rc %d status %d, want %d", c, bc->why, rc, p.status,
                  bc->status);
        CHECK_MSG(at == want_at, "case %zu (%s): bytewise error after %zu bytes, want %zu", c,
                  bc->why, at, want_at);

        /* whole-buffer feeding finds it with the same bytes, not more: the prefix that ends at
         * the detection byte already fails, one byte less is still incomplete */
        if (at <= bc->len) {
            rc = feed_whole(&p, lim, bc->raw, at);
            CHECK_MSG(rc == PARSE_ERROR && p.status == bc->status,
                      "case %zu: whole prefix of %zu: rc %d status %d", c, at, rc, p.status);
            rc = feed_whole(&p, lim, bc->raw, at - 1);
            CHECK_MSG(rc == PARSE_MORE, "case %zu: prefix of %zu: rc %d", c, at - 1, rc);
        }
    }
}

/* ============================================================================================
 * Limit edges
 * ========================================================================================== */

/* "GET /aaa...a HTTP/1.1" of exactly `line` bytes, then Host and the blank line. */
static size_t build_line(char *buf, size_t line)
{
    static const char fixed[] = "GET / HTTP/1.1"; /* 14 bytes */
    size_t pad = line - (sizeof fixed - 1), n = 0;
    memcpy(buf, "GET /", 5);
    n = 5;
    memset(buf + n, 'a', pad);
    n += pad;
    memcpy(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
    return n + 22;
}

/* Request line, then a field section of exactly `bytes` bytes (final CRLF included). */
static size_t build_fields(char *buf, size_t bytes)
{
    static const char line[] = "GET / HTTP/1.1\r\n";
    static const char host[] = "Host: a\r\n";
    size_t n = sizeof line - 1, pad = bytes - (sizeof host - 1) - 5 - 2; /* "X: " CRLF, CRLF */
    memcpy(buf, line, n);
    memcpy(buf + n, host, sizeof host - 1);
    n += sizeof host - 1;
    memcpy(buf + n, "X: ", 3);
    n += 3;
    memset(buf + n, 'v', pad);
    n += pad;
    memcpy(buf + n, "\r\n\r\n", 4);
    return n + 4;
}

/* Host, then count-1 more fields. */
static size_t build_count(char *buf, size_t count)
{
    size_t n = 0, i;
    n += (size_t)sprintf(buf + n, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (i = 1; i < count; i++) n += (size_t)sprintf(buf + n, "X-%zu: %zu\r\n", i, i);
    memcpy(buf + n, "\r\n", 2);
    return n + 2;
}

static void expect_limit(limits lim, const char *buf, size_t len, int want_status,
                         const char *what)
{
    parser p;
    size_t at;
    int rc = feed_whole(&p, lim, buf, len);
    if (want_status == 0) {
        CHECK_MSG(rc == PARSE_DONE && p.head_len == len, "%s: rc %d status %d", what, rc,
                  p.status);
    } else {
        CHECK_MSG(rc == PARSE_ERROR && p.status == want_status, "%s: rc %d status %d", what, rc,
                  p.status);
    }
    rc = feed_bytes(&p, lim, buf, len, &at);
    if (want_status == 0) CHECK_MSG(rc == PARSE_DONE && at == len, "%s: bytewise", what);
    else CHECK_MSG(rc == PARSE_ERROR && p.status == want_status, "%s: bytewise", what);
}

static void test_limits(void)
{
    static char buf[WORK_SIZE];
    static const limits sets[] = {{64, 64, 4}, {8192, 8192, 64}, {100, 300, 10}};
    size_t s;

    for (s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        limits lim = sets[s];
        size_t len;
        char what[96];

        len = build_line(buf, lim.line);
        snprintf(what, sizeof what, "request line of exactly %u", (unsigned)lim.line);
        expect_limit(lim, buf, len, 0, what);
        len = build_line(buf, lim.line + 1);
        snprintf(what, sizeof what, "request line of %u + 1", (unsigned)lim.line);
        expect_limit(lim, buf, len, 414, what);

        len = build_fields(buf, lim.bytes);
        snprintf(what, sizeof what, "field section of exactly %u", (unsigned)lim.bytes);
        expect_limit(lim, buf, len, 0, what);
        len = build_fields(buf, lim.bytes + 1);
        snprintf(what, sizeof what, "field section of %u + 1", (unsigned)lim.bytes);
        expect_limit(lim, buf, len, 431, what);

        len = build_count(buf, lim.hdrs);
        snprintf(what, sizeof what, "exactly %u fields", (unsigned)lim.hdrs);
        {
            limits roomy = lim;
            roomy.bytes = 8192;
            expect_limit(roomy, buf, len, 0, what);
            len = build_count(buf, lim.hdrs + 1);
            snprintf(what, sizeof what, "%u + 1 fields", (unsigned)lim.hdrs);
            expect_limit(roomy, buf, len, 431, what);
        }
    }

    /* the two limits are separate: a request line at its limit does not eat the field
     * allowance, and a field section at its limit is unaffected by the line's length */
    {
        limits lim = {64, 64, 4};
        parser p;
        size_t n = 0;
        memcpy(buf, "GET /", 5);
        memset(buf + 5, 'a', 64 - 14);
        memcpy(buf + 5 + 50, " HTTP/1.1\r\n", 11); /* 64 bytes of line, then CRLF */
        n = 66;
        memcpy(buf + n, "Host: a\r\nX: ", 12);
        n += 12;
        memset(buf + n, 'v', 48); /* 9 + 3 + 48 + 2 + 2 = 64 bytes of fields */
        n += 48;
        memcpy(buf + n, "\r\n\r\n", 4);
        n += 4;
        CHECK_EQ_INT(feed_whole(&p, lim, buf, n), PARSE_DONE);
        CHECK_EQ_INT(p.head_len, n);
        buf[n - 4] = 'v'; /* one more field byte */
        memcpy(buf + n - 3, "\r\n\r\n", 4);
        CHECK_EQ_INT(feed_whole(&p, lim, buf, n + 1), PARSE_ERROR);
        CHECK_EQ_INT(p.status, 431);
    }
}

/* ============================================================================================
 * header_name_is, reset, resumption
 * ========================================================================================== */

static void test_header_name_is(void)
{
    CHECK(header_name_is("Content-Length", 14, "content-length"));
    CHECK(header_name_is("CONTENT-LENGTH", 14, "content-length"));
    CHECK(header_name_is("content-length", 14, "content-length"));
    CHECK(header_name_is("cOnTeNt-LeNgTh", 14, "content-length"));
    CHECK(!header_name_is("Content", 7, "content-length"));        /* a prefix */
    CHECK(!header_name_is("Content-Lengths", 15, "content-length")); /* longer */
    CHECK(!header_name_is("Content-Length", 13, "content-length")); /* len counts, not the NUL */
    CHECK(!header_name_is("Content_Length", 14, "content-length"));
    CHECK(header_name_is("", 0, ""));
    CHECK(!header_name_is("", 0, "a"));
    CHECK(!header_name_is("a", 1, ""));
    CHECK(header_name_is("X-1", 3, "x-1"));
    CHECK(!header_name_is("@", 1, "`"));       /* 0x40 is not upper-case 0x60 */
    CHECK(!header_name_is("[", 1, "{"));       /* 0x5B is not upper-case 0x7B */
    CHECK(!header_name_is("\xc4", 1, "\xe4")); /* no Latin-1 folding */
    CHECK(header_name_is("Host: x", 4, "host")); /* only `len` bytes are looked at */
}

static void test_reset_and_sticky_states(void)
{
    static const char first[] = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    static const char second[] = "GET /two HTTP/1.0\r\n\r\n";
    parser p;
    start(&p, DEFAULT_LIMITS);
    CHECK_EQ_INT(parser_execute(&p, first, sizeof first - 1), PARSE_DONE);
    CHECK_EQ_INT(p.flags, HEAD_HAS_HOST | HEAD_HAS_LENGTH);
    parser_reset(&p);
    CHECK_EQ_INT(p.max_headers, 64);
    CHECK_EQ_INT(p.max_request_line, 8192);
    CHECK_EQ_INT(p.max_header_bytes, 8192);
    CHECK(p.headers == spans);
    CHECK_EQ_INT(parser_execute(&p, second, sizeof second - 1), PARSE_DONE);
    CHECK_EQ_INT(p.flags, 0);
    CHECK_EQ_INT(p.content_length, 0);
    CHECK_EQ_INT(p.header_count, 0);
    CHECK_EQ_INT(p.version_minor, 0);
    CHECK(span_is(second, p.target_off, p.target_len, "/two"));

    /* an empty buffer is incomplete, not an error */
    start(&p, DEFAULT_LIMITS);
    CHECK_EQ_INT(parser_execute(&p, "", 0), PARSE_MORE);
    CHECK_EQ_INT(p.pos, 0);
    /* only empty lines so far: still incomplete */
    CHECK_EQ_INT(parser_execute(&p, "\r\n\r\n\r\n", 6), PARSE_MORE);
    CHECK_EQ_INT(p.pos, 6);
}

/* A 20000-byte value fed one byte at a time: pos follows exactly what was fed, and the bytes
 * already examined are never looked at again (they are overwritten with NUL after each call,
 * which would fail the value if it were scanned again; the last one stays, since trimming
 * trailing whitespace may look back at it). */
static void test_resumption_does_not_rescan(void)
{
    enum { VALUE = 20000 };
    static char raw[VALUE + 128];
    static char buf[VALUE + 128];
    static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ";
    limits lim = {8192, VALUE + 64, 8};
    parser p;
    size_t len, i, value_off = sizeof pre - 1, calls = 0;
    int rc = PARSE_MORE, pos_ok = 1;

    memcpy(raw, pre, value_off);
    for (i = 0; i < VALUE; i++) raw[value_off + i] = (char)('a' + (char)(i % 26));
    memcpy(raw + value_off + VALUE, "\r\n\r\n", 4);
    len = value_off + VALUE + 4;

    start(&p, lim);
    memset(buf, 0, sizeof buf);
    for (i = 1; i <= len && rc == PARSE_MORE; i++) {
        buf[i - 1] = raw[i - 1];
        rc = parser_execute(&p, buf, i);
        calls++;
        if (rc == PARSE_MORE) {
            if (p.pos != i) pos_ok = 0;
            /* forget the value bytes examined so far, except the newest */
            if (i > value_off + 1 && i - 1 < value_off + VALUE) buf[i - 2] = '\0';
        }
    }
    CHECK(pos_ok);
    CHECK_EQ_INT(calls, len);
    CHECK_EQ_INT(rc, PARSE_DONE);
    CHECK_EQ_INT(p.header_count, 2);
    CHECK_EQ_INT(p.headers[1].value_off, value_off);
    CHECK_EQ_INT(p.headers[1].value_len, VALUE);
    CHECK_EQ_INT(p.head_len, len);
}

int main(void)
{
    test_valid_requests();
    test_malformed_requests();
    test_limits();
    test_header_name_is();
    test_reset_and_sticky_states();
    test_resumption_does_not_rescan();
    return check_report("test_parser");
}
