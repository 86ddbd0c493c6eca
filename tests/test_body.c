/* test_body.c - the request-body decoder (src/body.c): Content-Length and chunked framing,
 * RFC 9112 §6 and §7.1.
 *
 * The feeding model is the connection's: bytes arrive in pieces and are appended to a buffer;
 * the decoder is handed everything not yet consumed, and what it does not consume is handed
 * to it again with the next piece. Decoded data must not depend on how the bytes were split,
 * and bytes after the end of the body (the next pipelined request) must never be consumed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/body.h"
#include "check.h"

#define BUF_SIZE 65536
#define NEXT_REQUEST "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

typedef struct run_result {
    int rc;               /* the last result */
    int status;
    size_t consumed;      /* bytes consumed in all */
    size_t data_len;      /* decoded bytes collected in data[] */
    int data_ok;          /* every data run lay inside the bytes consumed by its call */
    int consumed_ok;      /* every call set *consumed within its input */
    char data[BUF_SIZE];
} run_result;

/* Decodes raw[0..len) arriving in pieces that end at cuts[0] < cuts[1] < ... (the last cut is
 * len). The caller's buffer only holds what has arrived; the rest is poisoned. */
static void run(body_decoder *d, const char *raw, size_t len, const size_t *cuts, size_t ncuts,
                run_result *r)
{
    static char buf[BUF_SIZE];
    size_t arrived = 0, c, guard = 0;

    r->rc = BODY_MORE;
    r->consumed = r->data_len = 0;
    r->data_ok = r->consumed_ok = 1;
    memset(buf, 0, len);
    for (c = 0; c < ncuts && r->rc == BODY_MORE; c++) {
        memcpy(buf + arrived, raw + arrived, cuts[c] - arrived);
        arrived = cuts[c];
        /* hand over everything unconsumed until the decoder wants more bytes */
        while (r->rc == BODY_MORE && r->consumed < arrived && guard++ < 4 * BUF_SIZE) {
            const char *in = buf + r->consumed, *data = NULL;
            size_t in_len = arrived - r->consumed, used = (size_t)-1, data_len = (size_t)-1;
            r->rc = body_decode(d, in, in_len, &used, &data, &data_len);
            if (used > in_len) {
                r->consumed_ok = 0;
                break;
            }
            if (data_len > 0) {
                if (!(data >= in && data + data_len <= in + used)) r->data_ok = 0;
                else if (r->data_len + data_len <= sizeof r->data) {
                    memcpy(r->data + r->data_len, data, data_len);
                    r->data_len += data_len;
                }
            }
            r->consumed += used;
            if (used == 0) break; /* needs more bytes */
        }
    }
    r->status = d->status;
}

static void run_whole(body_decoder *d, const char *raw, size_t len, run_result *r)
{
    size_t cut = len;
    run(d, raw, len, &cut, 1, r);
}

static void run_split(body_decoder *d, const char *raw, size_t len, size_t k, run_result *r)
{
    size_t cuts[2];
    size_t n = 0;
    if (k > 0 && k < len) cuts[n++] = k;
    cuts[n++] = len;
    run(d, raw, len, cuts, n, r);
}

static void run_bytes(body_decoder *d, const char *raw, size_t len, run_result *r)
{
    static size_t cuts[BUF_SIZE];
    size_t i;
    for (i = 0; i < len; i++) cuts[i] = i + 1;
    run(d, raw, len, cuts, len, r);
}

static int same_result(const run_result *a, const run_result *b)
{
    return a->rc == b->rc && a->status == b->status && a->consumed == b->consumed &&
           a->data_len == b->data_len && memcmp(a->data, b->data, a->data_len) == 0 &&
           a->data_ok && b->data_ok && a->consumed_ok && b->consumed_ok;
}

/* ============================================================================================
 * Content-Length
 * ========================================================================================== */

static void test_content_length(void)
{
    static const char body[] = "0123456789abcdefghijKLMNOPQRSTUVWXYZ\r\n\r\n\x00\xff end";
    static char raw[BUF_SIZE];
    static run_result ref, got;
    body_decoder d;
    size_t blen = sizeof body - 1, len, k;
    int ok = 1;

    memcpy(raw, body, blen);
    memcpy(raw + blen, NEXT_REQUEST, sizeof NEXT_REQUEST - 1);
    len = blen + sizeof NEXT_REQUEST - 1;

    body_init(&d, 0, blen, 1 << 20, 8192);
    run_whole(&d, raw, len, &ref);
    CHECK_EQ_INT(ref.rc, BODY_DONE);
    CHECK_EQ_INT(ref.consumed, blen);
    CHECK_EQ_INT(ref.data_len, blen);
    CHECK(memcmp(ref.data, body, blen) == 0);
    CHECK(ref.data_ok && ref.consumed_ok);

    for (k = 0; k <= len; k++) {
        body_init(&d, 0, blen, 1 << 20, 8192);
        run_split(&d, raw, len, k, &got);
        if (!same_result(&ref, &got)) ok = 0;
    }
    CHECK_MSG(ok, "Content-Length body split in two");
    body_init(&d, 0, blen, 1 << 20, 8192);
    run_bytes(&d, raw, len, &got);
    CHECK(same_result(&ref, &got));

    /* a finished decoder consumes nothing more */
    {
        size_t used = 99, dl = 99;
        const char *data = NULL;
        CHECK_EQ_INT(body_decode(&d, NEXT_REQUEST, 5, &used, &data, &dl), BODY_DONE);
        CHECK_EQ_INT(used, 0);
        CHECK_EQ_INT(dl, 0);
    }

    /* a zero length is done at once, consuming nothing */
    {
        size_t used = 99, dl = 99;
        const char *data = NULL;
        body_init(&d, 0, 0, 1 << 20, 8192);
        CHECK_EQ_INT(body_decode(&d, NEXT_REQUEST, 5, &used, &data, &dl), BODY_DONE);
        CHECK_EQ_INT(used, 0);
        CHECK_EQ_INT(dl, 0);
    }

    /* short input: BODY_MORE with every byte handed out */
    {
        size_t used = 99, dl = 99;
        const char *data = NULL;
        body_init(&d, 0, 10, 1 << 20, 8192);
        CHECK_EQ_INT(body_decode(&d, "abc", 3, &used, &data, &dl), BODY_MORE);
        CHECK_EQ_INT(used, 3);
        CHECK_EQ_INT(dl, 3);
        CHECK_EQ_INT(d.remaining, 7);
        CHECK_EQ_INT(body_decode(&d, "", 0, &used, &data, &dl), BODY_MORE);
        CHECK_EQ_INT(used, 0);
        CHECK_EQ_INT(body_decode(&d, "defghijklm", 10, &used, &data, &dl), BODY_DONE);
        CHECK_EQ_INT(used, 7);
        CHECK_EQ_INT(dl, 7);
        CHECK(memcmp(data, "defghij", 7) == 0);
        CHECK_EQ_INT(d.total, 10);
    }

    /* a length over the maximum is 413; the call still says how much it consumed (body.h:
     * "consumes *consumed bytes"; the connection adds it to its input offset) */
    {
        size_t used = 12345, dl = 99;
        const char *data = NULL;
        body_init(&d, 0, 10, 5, 8192);
        CHECK_EQ_INT(body_decode(&d, "0123456789", 10, &used, &data, &dl), BODY_ERROR);
        CHECK_EQ_INT(d.status, 413);
        CHECK_MSG(used <= 10, "*consumed left unset on the 413 path: %zu", used);
    }
    /* exactly the maximum is fine */
    {
        size_t used = 99, dl = 99;
        const char *data = NULL;
        body_init(&d, 0, 5, 5, 8192);
        CHECK_EQ_INT(body_decode(&d, "01234", 5, &used, &data, &dl), BODY_DONE);
        CHECK_EQ_INT(used, 5);
    }
}

/* ============================================================================================
 * Chunked: valid encodings
 * ========================================================================================== */

typedef struct chunked_case {
    const char *name;
    const char *raw;
    size_t len;
    const char *body;
    size_t body_len;
} chunked_case;

#define S(s) s, sizeof(s) - 1

static const chunked_case chunked_cases[] = {
    {"one chunk", S("5\r\nhello\r\n0\r\n\r\n"), S("hello")},
    {"lower-case hex", S("a\r\n0123456789\r\n0\r\n\r\n"), S("0123456789")},
    {"upper-case hex", S("A\r\n0123456789\r\n0\r\n\r\n"), S("0123456789")},
    {"mixed-case multi-digit", S("1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n"),
     S("0123456789abcdef0123456789abcde")},
    {"leading zeros, and a last chunk of zeros",
     S("0005\r\nhello\r\n00006\r\n world\r\n000\r\n\r\n"), S("hello world")},
    {"18 digits with leading zeros do not overflow", S("000000000000000003\r\nabc\r\n0\r\n\r\n"),
     S("abc")},
    {"empty body", S("0\r\n\r\n"), S("")},
    {"CR and LF inside chunk data are data", S("4\r\n\r\n\r\n\r\n0\r\n\r\n"), S("\r\n\r\n")},
    {"binary data", S("4\r\n\0\xff\r\x80\r\n0\r\n\r\n"), S("\0\xff\r\x80")},
    {"extension name only", S("5;name\r\nhello\r\n0\r\n\r\n"), S("hello")},
    {"extension with a token value", S("5;name=value\r\nhello\r\n0;last=1\r\n\r\n"), S("hello")},
    {"several extensions",
     S("5;ilovew3;somuchlove=aretheseparametersfor;another=withvalue\r\nhello\r\n"
       "6;blahblah;blah\r\n world\r\n0\r\n\r\n"),
     S("hello world")},
    {"quoted-string value with escapes",
     S("5;ilovew3=\"I \\\"love\\\"; \\\\extensions\\\\\";somuchlove=\"are\";blah;foo=bar\r\n"
       "hello\r\n0\r\n\r\n"),
     S("hello")},
    {"empty quoted-string and escaped obs-text",
     S("3;a=\"\";b=\"\\\xe9\xff\";c=\"\t \x21\x23\x5b\x5d\x7e\"\r\nabc\r\n0\r\n\r\n"), S("abc")},
    {"BWS around ';' and '=' (RFC 9112 §7.1.1)",
     S("5 ;n = v ; m\t;\tq=\"x\"\r\nhello\r\n0\r\n\r\n"), S("hello")},
    {"tab before ';'", S("5\t;a\r\nhello\r\n0\r\n\r\n"), S("hello")},
    {"token value with all tchars", S("2;x=!#$%&'*+-.^_`|~09azAZ\r\nhi\r\n0\r\n\r\n"), S("hi")},
    {"trailer fields (RFC 9112 §7.1.2)",
     S("5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n"),
     S("hello world")},
    {"trailer with empty value, tabs and obs-text",
     S("1\r\nx\r\n0\r\nX-Empty:\r\nX-Tab:\ta\tb\r\nX-Obs: \xe9\xff\r\n\r\n"), S("x")},
    {"many one-byte chunks", S("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n0\r\n\r\n"),
     S("abcde")},
    {"a large chunk",
     S("40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n"),
     S("0123456789012345678901234567890123456789012345678901234567890123")},
};

static void test_chunked_valid(void)
{
    static char raw[BUF_SIZE];
    static run_result ref, got;
    size_t c;

    for (c = 0; c < sizeof chunked_cases / sizeof chunked_cases[0]; c++) {
        const chunked_case *cc = &chunked_cases[c];
        size_t len = cc->len + sizeof NEXT_REQUEST - 1, k;
        body_decoder d;
        int ok = 1;

        memcpy(raw, cc->raw, cc->len);
        memcpy(raw + cc->len, NEXT_REQUEST, sizeof NEXT_REQUEST - 1);

        body_init(&d, 1, 0, 1 << 20, 8192);
        run_whole(&d, raw, len, &ref);
        CHECK_MSG(ref.rc == BODY_DONE, "%s: rc %d status %d", cc->name, ref.rc, ref.status);
        CHECK_MSG(ref.consumed == cc->len, "%s: consumed %zu of %zu", cc->name, ref.consumed,
                  cc->len);
        CHECK_MSG(ref.data_len == cc->body_len && memcmp(ref.data, cc->body, cc->body_len) == 0,
                  "%s: decoded %zu bytes", cc->name, ref.data_len);
        CHECK(ref.data_ok && ref.consumed_ok);
        CHECK_EQ_INT(d.total, cc->body_len);

        for (k = 0; k <= len; k++) {
            body_init(&d, 1, 0, 1 << 20, 8192);
            run_split(&d, raw, len, k, &got);
            if (!same_result(&ref, &got)) {
                ok = 0;
                fprintf(stderr, "%s: split at %zu: rc %d consumed %zu\n", cc->name, k, got.rc,
                        got.consumed);
            }
        }
        CHECK_MSG(ok, "%s: split in two", cc->name);
        body_init(&d, 1, 0, 1 << 20, 8192);
        run_bytes(&d, raw, len, &got);
        CHECK_MSG(same_result(&ref, &got), "%s: byte at a time", cc->name);
    }
}

/* 256 leading zeros are as valid as 255 or 257 (chunk-size = 1*HEXDIG, RFC 9112 §7.1). */
static void test_many_leading_zeros(void)
{
    static char raw[1024];
    static run_result r;
    size_t zeros[] = {255, 256, 257, 512};
    size_t z;
    for (z = 0; z < sizeof zeros / sizeof zeros[0]; z++) {
        body_decoder d;
        size_t n = zeros[z];
        memset(raw, '0', n);
        memcpy(raw + n, "\r\n\r\n", 4);
        body_init(&d, 1, 0, 1 << 20, 8192);
        run_whole(&d, raw, n + 4, &r);
        CHECK_MSG(r.rc == BODY_DONE && r.consumed == n + 4,
                  "a last-chunk of %zu zero digits: rc %d status %d", n, r.rc, r.status);
        memset(raw, '0', n - 1);
        memcpy(raw + n - 1, "3\r\nabc\r\n0\r\n\r\n", 13);
        body_init(&d, 1, 0, 1 << 20, 8192);
        run_whole(&d, raw, n + 12, &r);
        CHECK_MSG(r.rc == BODY_DONE && r.data_len == 3,
                  "a chunk size of %zu digits: rc %d status %d", n, r.rc, r.status);
    }
}

/* ============================================================================================
 * Chunked: errors
 * ========================================================================================== */

typedef struct chunked_bad {
    const char *raw;
    size_t len;
    int status;
    size_t at;          /* bytes consumed when the error is reported: the offending byte's
                           index + 1 */
    uint64_t max;       /* 0: 1 MiB */
    uint32_t line_limit; /* 0: 8192 */
    const char *why;
} chunked_bad;

static const chunked_bad chunked_bads[] = {
    {S("2 erfr\r\naa\r\n0\r\n\r\n"), 400, 3, 0, 0, "§7.1: junk after the size (no ';')"},
    {S("2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n"), 400, 3, 0, 0, "§7.1: junk after the size"},
    {S("a \r\n0123456789\r\n0\r\n\r\n"), 400, 3, 0, 0,
     "§7.1.1: BWS is only allowed before ';', not before CRLF"},
    {S("2;\r\naa\r\n0\r\n\r\n"), 400, 3, 0, 0, "§7.1.1: ';' needs an extension name"},
    {S("2;a \r\naa\r\n0\r\n\r\n"), 400, 5, 0, 0, "§7.1.1: BWS after a name only before '=' or ';'"},
    {S("2;a=b \r\naa\r\n0\r\n\r\n"), 400, 7, 0, 0, "§7.1.1: BWS after a value only before ';'"},
    {S("2;a=\"b\" \r\naa\r\n0\r\n\r\n"), 400, 9, 0, 0, "§7.1.1: BWS after a quoted value only before ';'"},
    {S("2; \r\naa\r\n0\r\n\r\n"), 400, 4, 0, 0, "§7.1.1: ';' BWS needs an extension name"},
    {S("2;=x\r\naa\r\n0\r\n\r\n"), 400, 3, 0, 0, "§7.1.1: empty extension name before '='"},
    {S("2;;a\r\naa\r\n0\r\n\r\n"), 400, 3, 0, 0, "§7.1.1: empty extension between ';'s"},
    {S("2;a@b\r\naa\r\n0\r\n\r\n"), 400, 4, 0, 0, "§7.1.1: ext-name = token"},
    {S("2;a b\r\naa\r\n0\r\n\r\n"), 400, 5, 0, 0, "§7.1.1: a second token after BWS"},
    {S("2;a=\r\naa\r\n0\r\n\r\n"), 400, 5, 0, 0, "§7.1.1: '=' needs a value"},
    {S("2;a=b c\r\naa\r\n0\r\n\r\n"), 400, 7, 0, 0, "§7.1.1: junk after a token value"},
    {S("2;a=b\"c\"\r\naa\r\n0\r\n\r\n"), 400, 6, 0, 0, "§7.1.1: a token value is not quoted"},
    {S("2;a=\"b\"c\r\naa\r\n0\r\n\r\n"), 400, 8, 0, 0, "§7.1.1: junk after a quoted value"},
    {S("5;ilovew3=\"abc\";somuchlove=\"def; ghi\r\nhello\r\n0\r\n\r\n"), 400, 37, 0, 0,
     "RFC 9110 §5.6.4: unbalanced quote (CR inside a quoted-string)"},
    {S("2;a=\"\x01\"\r\naa\r\n0\r\n\r\n"), 400, 6, 0, 0, "RFC 9110 §5.6.4: CTL in a quoted-string"},
    {S("2;a=\"\x7f\"\r\naa\r\n0\r\n\r\n"), 400, 6, 0, 0, "RFC 9110 §5.6.4: DEL in a quoted-string"},
    {S("2;a=\"\\\x7f\"\r\naa\r\n0\r\n\r\n"), 400, 7, 0, 0, "RFC 9110 §5.6.4: DEL in a quoted-pair"},
    {S("2;a=\"\\\r\naa\r\n0\r\n\r\n"), 400, 7, 0, 0, "RFC 9110 §5.6.4: CR in a quoted-pair"},
    {S("5\r\nhelloX\r\n0\r\n\r\n"), 400, 9, 0, 0, "§7.1: chunk data must be followed by CRLF"},
    {S("5\r\nhello\n0\r\n\r\n"), 400, 9, 0, 0, "§7.1 / §2.2: bare LF after chunk data"},
    {S("5\r\nhello\r0\r\n\r\n"), 400, 10, 0, 0, "§7.1 / §2.2: bare CR after chunk data"},
    {S("5\r\nhello\r\n\r\n"), 400, 11, 0, 0, "§7.1: the last-chunk is missing (empty size)"},
    {S("5\nhello\r\n0\r\n\r\n"), 400, 2, 0, 0, "§2.2: bare LF after the size"},
    {S("5\rhello\r\n0\r\n\r\n"), 400, 3, 0, 0, "§2.2: bare CR after the size"},
    {S("3 \n  \r\nfoo\r\n\r\n"), 400, 3, 0, 0, "§7.1.1: BWS then bare LF"},
    {S("5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n"), 400, 3, 0, 0, "§2.2: CR CR after the size"},
    {S("\r\nhello\r\n"), 400, 1, 0, 0, "§7.1: chunk-size = 1*HEXDIG, not empty"},
    {S(";a\r\nhello\r\n"), 400, 1, 0, 0, "§7.1: an extension without a size"},
    {S("g\r\n"), 400, 1, 0, 0, "§7.1: 'g' is not a HEXDIG"},
    {S("-5\r\nhello\r\n"), 400, 1, 0, 0, "§7.1: no sign"},
    {S("+5\r\nhello\r\n"), 400, 1, 0, 0, "§7.1: no sign"},
    {S("0x5\r\nhello\r\n"), 400, 2, 0, 0, "§7.1: no 0x prefix"},
    {S(" 5\r\nhello\r\n"), 400, 1, 0, 0, "§7.1: no whitespace before the size"},
    {S("10000000000000000\r\n"), 400, 17, 0, 0, "§7.1: 17 significant hex digits overflow"},
    {S("fffffffffffffffff\r\n"), 400, 17, 0, 0, "§7.1: 17 significant hex digits overflow"},
    {S("ffffffffffffffff\r\n"), 413, 18, 0, 0, "2^64-1 fits, but not in the 1 MiB maximum"},
    {S("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), 413, 13, 8, 0,
     "RFC 9110 §15.5.14: the second chunk takes the total over the maximum"},
    {S("9\r\n123456789\r\n0\r\n\r\n"), 413, 3, 8, 0, "one chunk over the maximum"},
    {S("5;aaaaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n"), 400, 17, 0, 16,
     "a chunk-size line longer than the line limit"},
    {S("00000000000000000005\r\nhello\r\n0\r\n\r\n"), 400, 17, 0, 16,
     "leading zeros still count toward the line limit"},
    {S("0\r\nX-Long-Trailer: abcdefghij\r\n\r\n"), 431, 20, 0, 16,
     "RFC 6585 §5: the trailer section over its limit"},
    {S("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), 431, 20, 0, 16,
     "RFC 6585 §5: many short trailers add up over the limit"},
    {S("0\r\nX@: a\r\n\r\n"), 400, 5, 0, 0, "§7.1.2 / RFC 9110 §5.1: trailer name = token"},
    {S("0\r\n: a\r\n\r\n"), 400, 4, 0, 0, "RFC 9110 §5.1: empty trailer name"},
    {S("0\r\nX : a\r\n\r\n"), 400, 5, 0, 0, "RFC 9112 §5.1: no space before the colon"},
    {S("0\r\nX: a\0b\r\n\r\n"), 400, 8, 0, 0, "RFC 9110 §5.5: NUL in a trailer value"},
    {S("0\r\nX: a\x7f\r\n\r\n"), 400, 8, 0, 0, "RFC 9110 §5.5: DEL in a trailer value"},
    {S("0\r\nX: a\nY: b\r\n\r\n"), 400, 8, 0, 0, "§2.2: bare LF in the trailer section"},
    {S("0\r\nX: a\rY: b\r\n\r\n"), 400, 9, 0, 0, "§2.2: bare CR in the trailer section"},
    {S("0\r\nX: a\r\n b\r\n\r\n"), 400, 10, 0, 0, "§5.2: obs-fold in a trailer"},
    {S("0\r\n\n"), 400, 4, 0, 0, "§2.2: bare LF as the final line"},
    {S("0\r\n\rX"), 400, 5, 0, 0, "§2.2: bare CR as the final line"},
    {S("0\r\nX\r\n\r\n"), 400, 5, 0, 0, "RFC 9112 §5.1: a trailer line without a colon"},
};

static void test_chunked_errors(void)
{
    static run_result whole, bytes, split;
    size_t c;

    for (c = 0; c < sizeof chunked_bads / sizeof chunked_bads[0]; c++) {
        const chunked_bad *cb = &chunked_bads[c];
        uint64_t max = cb->max ? cb->max : (1u << 20);
        uint32_t limit = cb->line_limit ? cb->line_limit : 8192;
        body_decoder d;
        size_t k;
        int ok = 1;

        body_init(&d, 1, 0, max, limit);
        run_whole(&d, cb->raw, cb->len, &whole);
        CHECK_MSG(whole.rc == BODY_ERROR && whole.status == cb->status,
                  "case %zu (%s): rc %d status %d, want %d", c, cb->why, whole.rc, whole.status,
                  cb->status);
        CHECK_MSG(whole.consumed == cb->at, "case %zu (%s): error after %zu bytes, want %zu", c,
                  cb->why, whole.consumed, cb->at);
        CHECK(whole.consumed_ok && whole.data_ok);

        /* the same error at the same byte, however the bytes arrive */
        body_init(&d, 1, 0, max, limit);
        run_bytes(&d, cb->raw, cb->len, &bytes);
        CHECK_MSG(same_result(&whole, &bytes), "case %zu (%s): byte at a time differs", c, cb->why);
        for (k = 1; k < cb->len; k++) {
            body_init(&d, 1, 0, max, limit);
            run_split(&d, cb->raw, cb->len, k, &split);
            if (!same_result(&whole, &split)) ok = 0;
        }
        CHECK_MSG(ok, "case %zu (%s): two-part feeds differ", c, cb->why);

        /* an errored decoder stays errored and consumes nothing */
        {
            size_t used = 99, dl = 99;
            const char *data = NULL;
            CHECK_EQ_INT(body_decode(&d, "0\r\n\r\n", 5, &used, &data, &dl), BODY_ERROR);
            CHECK_EQ_INT(used, 0);
            CHECK_EQ_INT(dl, 0);
        }
    }
}

/* A body cut short by EOF: everything is consumed and the decoder keeps asking for more; the
 * caller (the connection) is the one that gives up at EOF. */
static void test_truncated(void)
{
    static const char *const prefixes[] = {"5\r\nhello\r\n", "5\r\nhel", "5", "5;a=\"x",
                                           "0\r\n", "0\r\nX: y\r\n", "0\r\n\r"};
    static run_result r;
    size_t i;
    for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        body_decoder d;
        size_t len = strlen(prefixes[i]);
        body_init(&d, 1, 0, 1 << 20, 8192);
        run_whole(&d, prefixes[i], len, &r);
        CHECK_MSG(r.rc == BODY_MORE && r.consumed == len, "prefix %zu: rc %d consumed %zu", i,
                  r.rc, r.consumed);
    }
    {
        body_decoder d;
        body_init(&d, 0, 100, 1 << 20, 8192);
        run_whole(&d, "short", 5, &r);
        CHECK_EQ_INT(r.rc, BODY_MORE);
        CHECK_EQ_INT(r.consumed, 5);
        CHECK_EQ_INT(d.remaining, 95);
    }
}

/* Limits: a chunk-size line or trailer section of exactly line_limit bytes (CR included, as
 * the decoder counts them) is fine; one more is not. */
static void test_line_limit_edges(void)
{
    static char raw[1024];
    static run_result r;
    body_decoder d;
    size_t n;

    /* "5;" + 13 x 'a' + CR = 16 bytes of size line */
    n = (size_t)sprintf(raw, "5;aaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n");
    body_init(&d, 1, 0, 1 << 20, 16);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_DONE, "size line at the limit: rc %d status %d", r.rc, r.status);
    n = (size_t)sprintf(raw, "5;aaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n");
    body_init(&d, 1, 0, 1 << 20, 16);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_ERROR && r.status == 400, "size line over the limit: %d %d", r.rc,
              r.status);

    /* trailer "X: 0123456789\r\n" (15) + final CR (1) = 16 */
    n = (size_t)sprintf(raw, "0\r\nX: 0123456789\r\n\r\n");
    body_init(&d, 1, 0, 1 << 20, 16);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_DONE, "trailers at the limit: rc %d status %d", r.rc, r.status);
    n = (size_t)sprintf(raw, "0\r\nX: 01234567890\r\n\r\n");
    body_init(&d, 1, 0, 1 << 20, 16);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_ERROR && r.status == 431, "trailers over the limit: %d %d", r.rc,
              r.status);

    /* the limit is per size line: many lines each under it are fine */
    {
        size_t i;
        n = 0;
        for (i = 0; i < 20; i++) n += (size_t)sprintf(raw + n, "1;aaaaaaaaaaa\r\nx\r\n");
        n += (size_t)sprintf(raw + n, "0\r\n\r\n");
        body_init(&d, 1, 0, 1 << 20, 16);
        run_whole(&d, raw, n, &r);
        CHECK_MSG(r.rc == BODY_DONE && r.data_len == 20, "per-line limit: %d %d", r.rc, r.status);
    }

    /* the maximum body: exactly max is fine, over it 413 */
    n = (size_t)sprintf(raw, "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n");
    body_init(&d, 1, 0, 8, 8192);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_DONE && r.data_len == 8, "exactly max: %d %d", r.rc, r.status);
    body_init(&d, 1, 0, 7, 8192);
    run_whole(&d, raw, n, &r);
    CHECK_MSG(r.rc == BODY_ERROR && r.status == 413, "max + 1: %d %d", r.rc, r.status);
}

/* ============================================================================================
 * Random round trips
 * ========================================================================================== */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

static size_t rng_below(rng *r, size_t n)
{
    return n ? (size_t)(rng_next(r) % n) : 0;
}

static size_t put_hex(char *p, size_t v, int upper, size_t zeros)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[32];
    size_t n = 0, out = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (zeros--) p[out++] = '0';
    while (n) p[out++] = tmp[--n];
    return out;
}

static size_t put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

static size_t put_extensions(rng *r, char *p)
{
    static const char *const ext[] = {";a", ";name=value", " ;x=1", ";q=\"quoted \\\" str\"",
                                      "\t; y = \"\"", ";z=\"\\\\\";w", ";k=v;k2=v2"};
    size_t n = 0, count = rng_below(r, 3), i;
    for (i = 0; i < count; i++) n += put_str(p + n, ext[rng_below(r, sizeof ext / sizeof ext[0])]);
    return n;
}

/* Encodes body[0..len) in random chunks; returns the encoding's length. */
static size_t encode_random(rng *r, const char *body, size_t len, char *out)
{
    static const char *const trailers[] = {"Vary: *\r\n", "X-Checksum: abc123\r\n",
                                           "X-Empty:\r\n", "X-Obs: \xe9\r\n"};
    size_t n = 0, done = 0, i, count;
    while (done < len) {
        size_t size = 1 + rng_below(r, rng_below(r, 4) == 0 ? 200 : 20);
        if (size > len - done) size = len - done;
        n += put_hex(out + n, size, (int)rng_below(r, 2), rng_below(r, 4) == 0 ? rng_below(r, 4) : 0);
        n += put_extensions(r, out + n);
        n += put_str(out + n, "\r\n");
        memcpy(out + n, body + done, size);
        n += size;
        done += size;
        n += put_str(out + n, "\r\n");
    }
    n += put_hex(out + n, 0, 0, rng_below(r, 3));
    n += put_extensions(r, out + n);
    n += put_str(out + n, "\r\n");
    count = rng_below(r, 4) == 0 ? 1 + rng_below(r, 3) : 0;
    for (i = 0; i < count; i++)
        n += put_str(out + n, trailers[rng_below(r, sizeof trailers / sizeof trailers[0])]);
    n += put_str(out + n, "\r\n");
    return n;
}

static void test_random_round_trips(void)
{
    static char body[1024], raw[8192];
    static size_t cuts[8192];
    static run_result r;
    rng g = {0x9E3779B97F4A7C15u};
    int iter, failures = 0;

    for (iter = 0; iter < 2000; iter++) {
        size_t blen = rng_below(&g, rng_below(&g, 8) == 0 ? 1000 : 120), enc, len, i, ncuts;
        body_decoder d;
        for (i = 0; i < blen; i++) body[i] = (char)(rng_next(&g) & 0xFF);
        enc = encode_random(&g, body, blen, raw);
        len = enc + put_str(raw + enc, NEXT_REQUEST);

        /* whole */
        body_init(&d, 1, 0, 1 << 20, 8192);
        run_whole(&d, raw, len, &r);
        if (!(r.rc == BODY_DONE && r.consumed == enc && r.data_len == blen &&
              memcmp(r.data, body, blen) == 0 && r.data_ok && r.consumed_ok))
            failures++;

        /* random pieces */
        ncuts = 0;
        for (i = 0; i < len;) {
            i += 1 + rng_below(&g, rng_below(&g, 2) ? 5 : 64);
            if (i > len) i = len;
            cuts[ncuts++] = i;
        }
        body_init(&d, 1, 0, 1 << 20, 8192);
        run(&d, raw, len, cuts, ncuts, &r);
        if (!(r.rc == BODY_DONE && r.consumed == enc && r.data_len == blen &&
              memcmp(r.data, body, blen) == 0 && r.data_ok && r.consumed_ok))
            failures++;

        /* one byte at a time, for every tenth */
        if (iter % 10 == 0) {
            body_init(&d, 1, 0, 1 << 20, 8192);
            run_bytes(&d, raw, len, &r);
            if (!(r.rc == BODY_DONE && r.consumed == enc && r.data_len == blen &&
                  memcmp(r.data, body, blen) == 0))
                failures++;
        }

        /* the same encoding truncated anywhere before its end is incomplete, never an error */
        {
            size_t cut = rng_below(&g, enc);
            body_init(&d, 1, 0, 1 << 20, 8192);
            run_whole(&d, raw, cut, &r);
            if (!(r.rc == BODY_MORE && r.consumed == cut)) failures++;
        }
    }
    CHECK_MSG(failures == 0, "%d random round trips failed", failures);
}

int main(void)
{
    test_content_length();
    test_chunked_valid();
    test_many_leading_zeros();
    test_chunked_errors();
    test_truncated();
    test_line_limit_edges();
    test_random_round_trips();
    return check_report("test_body");
}
