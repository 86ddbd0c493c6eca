/* test_proxy.c - the PROXY protocol header (src/core/proxy.c): v1 lines and v2 headers whole,
 * cut at every byte and followed by the request they precede; each malformation refused at the
 * byte that makes it one where that byte can tell, and otherwise once the header is whole. Every
 * call gets a buffer of exactly the bytes it may read, so that a read past them shows under
 * Valgrind or ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/proxy.h"

#define BIG ((size_t)1 << 20)

static const char request[] = "GET / HTTP/1.1\r\n";

/* proxy_parse() on a copy of p[0..n) in a buffer of exactly n bytes; *out must be left alone
 * unless a length is returned, and a length must be within n and max. */
static int parse(const void *p, size_t n, size_t max, proxy_info *out)
{
    uint8_t *copy = malloc(n ? n : 1);
    proxy_info before;
    int r;
    if (!copy) abort();
    memcpy(copy, p, n);
    memset(out, 0xa5, sizeof *out);
    memcpy(&before, out, sizeof before);
    r = proxy_parse(copy, n, max, out);
    if (r <= 0) CHECK_MSG(memcmp(&before, out, sizeof before) == 0, "*out written on %d", r);
    else CHECK_MSG((size_t)r <= n && (size_t)r <= max, "length %d of %zu bytes", r, n);
    /* the value pointers into the copy, made offsets so that they outlive it */
    if (r > 0 && out->alpn) out->alpn = (const uint8_t *)(out->alpn - copy);
    if (r > 0 && out->authority) out->authority = (const uint8_t *)(out->authority - copy);
    free(copy);
    return r;
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) abort();
        out[n++] = (uint8_t)v;
    }
    return n;
}

static int same_addr(const mote_addr *a, const mote_addr *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->bytes, b->bytes, 16) == 0;
}

static int same_info(const proxy_info *a, const proxy_info *b)
{
    return a->version == b->version && a->local == b->local && a->ssl == b->ssl &&
           same_addr(&a->src, &b->src) && same_addr(&a->dst, &b->dst) && a->alpn == b->alpn &&
           a->alpn_len == b->alpn_len && a->authority == b->authority &&
           a->authority_len == b->authority_len;
}

/* A valid header h[0..n): each strict prefix is a beginning (0), the whole its length, and
 * the request after it is not looked at. Its fields go to *info. */
static void check_valid(const char *name, const uint8_t *h, size_t n, size_t max,
                        proxy_info *info)
{
    uint8_t *both = malloc(n + sizeof request);
    proxy_info again;
    size_t k;
    int r;
    if (!both) abort();
    for (k = 0; k < n; k++) {
        r = parse(h, k, max, &again);
        CHECK_MSG(r == 0, "%s: prefix of %zu bytes: %d", name, k, r);
    }
    r = parse(h, n, max, info);
    CHECK_MSG(r == (int)n, "%s: %d, want %zu", name, r, n);
    memcpy(both, h, n);
    memcpy(both + n, request, sizeof request - 1);
    r = parse(both, n + sizeof request - 1, max, &again);
    CHECK_MSG(r == (int)n && same_info(info, &again), "%s: with the request after it: %d", name,
              r);
    free(both);
}

/* A bad header: good[0..) is still a beginning, and the next byte, bad[0], makes it BAD; so
 * does the whole of good + bad. */
static void check_bad_at(const char *name, const uint8_t *good, size_t glen, const uint8_t *bad,
                         size_t blen, size_t max)
{
    uint8_t *all = malloc(glen + blen + 1);
    proxy_info info;
    int r;
    if (!all) abort();
    memcpy(all, good, glen);
    memcpy(all + glen, bad, blen);
    r = parse(all, glen, max, &info);
    CHECK_MSG(r == 0, "%s: good part: %d", name, r);
    r = parse(all, glen + 1, max, &info);
    CHECK_MSG(r == PROXY_BAD, "%s: at its bad byte: %d", name, r);
    r = parse(all, glen + blen, max, &info);
    CHECK_MSG(r == PROXY_BAD, "%s: whole: %d", name, r);
    free(all);
}

/* ---- v1 ------------------------------------------------------------------------------------ */

typedef struct v1_case {
    const char *line;
    uint8_t family;         /* 0: UNKNOWN */
    const char *src, *dst;  /* the address bytes in hex */
    uint16_t sport, dport;
} v1_case;

#define V6_MAX "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define V6_MAX_HEX "ffffffffffffffffffffffffffffffff"

static void test_v1_valid(void)
{
    static const v1_case cases[] = {
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 4, "c0000201", "c6336402", 56324,
         443},
        {"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", 4, "00000000", "ffffffff", 0, 65535},
        {"PROXY TCP4 10.0.10.100 1.2.3.4 1 10\r\n", 4, "0a000a64", "01020304", 1, 10},
        {"PROXY TCP6 2001:db8::1 ::1 1234 80\r\n", 6, "20010db8000000000000000000000001",
         "00000000000000000000000000000001", 1234, 80},
        {"PROXY TCP6 :: 1:2:3:4:5:6:7:8 0 0\r\n", 6, "00000000000000000000000000000000",
         "00010002000300040005000600070008", 0, 0},
        {"PROXY TCP6 1:: 1:2:3:4:5:6:7:: 5 6\r\n", 6, "00010000000000000000000000000000",
         "00010002000300040005000600070000", 5, 6},
        {"PROXY TCP6 ::2:3:4:5:6:7:8 fe80::1:2 7 8\r\n", 6, "00000002000300040005000600070008",
         "fe800000000000000000000000010002", 7, 8},
        {"PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:10.0.0.1 9 10\r\n", 6,
         "00000000000000000000ffffc0000201", "0001000200030004000500060a000001", 9, 10},
        {"PROXY TCP6 FFFF:abcd::1.2.3.4 ::0.0.0.0 11 12\r\n", 6,
         "ffffabcd000000000000000001020304", "00000000000000000000000000000000", 11, 12},
        {"PROXY TCP6 0:0:0:0:0:0:0:0 1:0::2:3 13 14\r\n", 6, "00000000000000000000000000000000",
         "00010000000000000000000000020003", 13, 14},
        {"PROXY TCP6 1:2:3::4:5:6:7 ABCD:EF01:2345:6789:abcd:ef01:2345:6789 65535 1\r\n", 6,
         "00010002000300000004000500060007", "abcdef0123456789abcdef0123456789", 65535, 1},
        {"PROXY UNKNOWN\r\n", 0, "", "", 0, 0},
        {"PROXY UNKNOWN \r\n", 0, "", "", 0, 0},
        {"PROXY UNKNOWN whatever \x01\x7f\xff it says\r\n", 0, "", "", 0, 0},
        /* the spec's longest line, 107 bytes */
        {"PROXY UNKNOWN " V6_MAX " " V6_MAX " 65535 65535\r\n", 0, "", "", 0, 0},
        {"PROXY TCP6 " V6_MAX " " V6_MAX " 65535 65535\r\n", 6, V6_MAX_HEX, V6_MAX_HEX, 65535,
         65535},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const v1_case *c = &cases[i];
        size_t n = strlen(c->line);
        mote_addr src, dst;
        proxy_info info;
        memset(&src, 0, sizeof src);
        memset(&dst, 0, sizeof dst);
        if (c->family) {
            src.family = dst.family = c->family;
            unhex(c->src, src.bytes);
            unhex(c->dst, dst.bytes);
            src.port = c->sport;
            dst.port = c->dport;
        }
        check_valid(c->line, (const uint8_t *)c->line, n, BIG, &info);
        CHECK_MSG(info.version == 1 && info.local == !c->family && same_addr(&info.src, &src) &&
                      same_addr(&info.dst, &dst) && !info.ssl && !info.alpn && !info.authority,
                  "%s: fields", c->line);
        /* the caller's bound: the line fits exactly, or is refused once it reaches it */
        check_valid(c->line, (const uint8_t *)c->line, n, n, &info);
        if (n > 15)
            check_bad_at(c->line, (const uint8_t *)c->line, n - 2,
                         (const uint8_t *)c->line + n - 2, 2, n - 1);
        else
            CHECK_EQ_INT(parse(c->line, n, n - 1, &info), PROXY_BAD);
    }
}

typedef struct bad_case {
    const char *good;   /* still a beginning */
    const char *bad;    /* whose first byte makes it BAD */
} bad_case;

#define V6_LONG "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

static void test_v1_bad(void)
{
    static const bad_case cases[] = {
        {"", "GET / HTTP/1.1\r\n"},
        {"", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"", " PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY", "\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY ", "tcp4 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY ", " TCP4 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY TCP", "5 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4", "\r\n"},
        {"PROXY TCP4 ", " 1.2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 ", " 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 ", " 2\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 ", " 1 2\r\n"},
        /* octets: no leading zeros, at most 255, four of them */
        {"PROXY TCP4 0", "10.1.2.3 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.0", "10 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.25", "6 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.25", "6 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8", ".9 1 2\r\n"},
        {"PROXY TCP4 1.2.3", " 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.", ".3 5.6.7.8 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1", "\r\n"},
        /* ports: at most 65535, no leading zeros */
        {"PROXY TCP4 1.2.3.4 5.6.7.8 6553", "6 80\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 0", "80\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 0", "0 80\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 ", "+2\r\n"},
        /* the line's end: CRLF, nothing else */
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "X"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "\r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", " \r\n"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "GET / HTTP/1.1\r\n"},
        /* the family the line says */
        {"PROXY TCP4 ", "::1 ::1 1 2\r\n"},
        {"PROXY TCP4 200", "1:db8::1 ::1 1 2\r\n"},
        {"PROXY TCP4 ", "fe80::1 ::1 1 2\r\n"},
        {"PROXY TCP4 1.2.3.4 ", "::ffff:5.6.7.8 1 2\r\n"},
        {"PROXY TCP6 1", ".2.3.4 5.6.7.8 1 2\r\n"},
        {"PROXY TCP6 ::1 5", ".6.7.8 1 2\r\n"},
        /* IPv6 forms */
        {"PROXY TCP6 ", " ::1 1 2\r\n"},
        {"PROXY TCP6 :", "1::2 ::1 1 2\r\n"},
        {"PROXY TCP6 :", " ::1 1 2\r\n"},
        {"PROXY TCP6 ::", ": ::1 1 2\r\n"},
        {"PROXY TCP6 1::2:", ":3 ::1 1 2\r\n"},
        {"PROXY TCP6 ::1:", ": ::1 1 2\r\n"},
        {"PROXY TCP6 1234", "5::1 ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:6:7:8", ":9 ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:6:7:8", ":: ::1 1 2\r\n"},
        {"PROXY TCP6 1::2:3:4:5:6:7", ":8 ::1 1 2\r\n"},
        {"PROXY TCP6 ::2:3:4:5:6:7:8", ":9 ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:6:7", " ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:6:7:", " ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:1", ".2.3.4 ::1 1 2\r\n"},
        {"PROXY TCP6 1:2:3:4:5:6:7:1", ".2.3.4 ::1 1 2\r\n"},
        {"PROXY TCP6 1::2:3:4:5:6:1", ".2.3.4 ::1 1 2\r\n"},
        {"PROXY TCP6 ::01", ".2.3.4 ::1 1 2\r\n"},
        {"PROXY TCP6 ::a", ".2.3.4 ::1 1 2\r\n"},
        {"PROXY TCP6 ::1.2.3.4", ".5 ::1 1 2\r\n"},
        {"PROXY TCP6 ::1.2.3.4", ":5 ::1 1 2\r\n"},
        {"PROXY TCP6 ::1.2.3.25", "6 ::1 1 2\r\n"},
        {"PROXY TCP6 fe80::1", "%eth0 ::1 1 2\r\n"},
        {"PROXY TCP6 ", "[::1] ::1 1 2\r\n"},
        {"PROXY TCP6 ::", "g ::1 1 2\r\n"},
        /* UNKNOWN: a space or the line's end after it, no CR or LF of its own */
        {"PROXY UNKNOWN", "X\r\n"},
        {"PROXY UNKNOWN", "\n"},
        {"PROXY UNKNOWN foo", "\n"},
        {"PROXY UNKNOWN foo\r", "x\r\n"},
        {"PROXY UNKNOW", "\r\n"},
        /* longer than the spec's 107 bytes: refused at the 107th without a CRLF */
        {"PROXY TCP6 " V6_LONG " " V6_LONG " 655", "35 65535\r\n"},
        {"PROXY UNKNOWN " V6_MAX " " V6_MAX " 65535 65535" "x", "\r\n"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        check_bad_at(c->good, (const uint8_t *)c->good, strlen(c->good),
                     (const uint8_t *)c->bad, strlen(c->bad), BIG);
    }
}

/* No CRLF within 107 bytes, and the caller's smaller bound. */
static void test_v1_bounds(void)
{
    char line[300];
    proxy_info info;
    memset(line, 'a', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    CHECK_EQ_INT(parse(line, 106, BIG, &info), 0);
    CHECK_EQ_INT(parse(line, 107, BIG, &info), PROXY_BAD);
    CHECK_EQ_INT(parse(line, sizeof line, BIG, &info), PROXY_BAD);
    /* a line of 108 bytes, CRLF at its end */
    memcpy(line + 106, "\r\n", 2);
    CHECK_EQ_INT(parse(line, 106, BIG, &info), 0);
    CHECK_EQ_INT(parse(line, 107, BIG, &info), PROXY_BAD);
    CHECK_EQ_INT(parse(line, 108, BIG, &info), PROXY_BAD);
    /* 107 bytes: the longest there is */
    memcpy(line + 105, "\r\n", 2);
    CHECK_EQ_INT(parse(line, 107, BIG, &info), 107);
    CHECK_EQ_INT(parse(line, 107, 107, &info), 107);
    CHECK_EQ_INT(parse(line, 106, 106, &info), PROXY_BAD);
    CHECK_EQ_INT(parse(line, 105, 106, &info), 0);
    /* no header fits in fewer than 15 bytes */
    CHECK_EQ_INT(parse("PROXY UNKNOWN\r\n", 15, 15, &info), 15);
    CHECK_EQ_INT(parse("PROXY UNKNOWN\r\n", 15, 14, &info), PROXY_BAD);
    CHECK_EQ_INT(parse("", 0, 14, &info), PROXY_BAD);
    CHECK_EQ_INT(parse("", 0, 0, &info), PROXY_BAD);
    CHECK_EQ_INT(parse("", 0, 15, &info), 0);
    CHECK_EQ_INT(parse("PROX", 4, 15, &info), 0);
}

/* ---- v2 ------------------------------------------------------------------------------------ */

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

typedef struct hdr {
    uint8_t b[70000];
    size_t n;
} hdr;

static hdr H; /* big: not on the stack */

static void put(hdr *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void put_tlv(hdr *h, uint8_t type, const void *v, size_t n)
{
    uint8_t t[3];
    t[0] = type;
    t[1] = (uint8_t)(n >> 8);
    t[2] = (uint8_t)n;
    put(h, t, 3);
    put(h, v, n);
}

static void v2_begin(hdr *h, uint8_t ver_cmd, uint8_t fam)
{
    h->n = 0;
    put(h, sig, sizeof sig);
    h->b[12] = ver_cmd;
    h->b[13] = fam;
    h->n = 16;
}

/* The fixed part's length field: what follows it. */
static size_t v2_end(hdr *h)
{
    h->b[14] = (uint8_t)((h->n - 16) >> 8);
    h->b[15] = (uint8_t)(h->n - 16);
    return h->n;
}

/* The reference: Castagnoli's CRC a bit at a time. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}

/* A CRC32C TLV last, its value computed over the header with it taken as zero; `delta` is
 * added to it to make it wrong. */
static size_t v2_end_crc(hdr *h, uint32_t delta)
{
    static const uint8_t zero[4] = {0, 0, 0, 0};
    size_t at;
    uint32_t crc;
    put_tlv(h, 0x03, zero, 4);
    at = h->n - 4;
    v2_end(h);
    crc = ref_crc32c(h->b, h->n) + delta;
    h->b[at] = (uint8_t)(crc >> 24);
    h->b[at + 1] = (uint8_t)(crc >> 16);
    h->b[at + 2] = (uint8_t)(crc >> 8);
    h->b[at + 3] = (uint8_t)crc;
    return h->n;
}

static const uint8_t addr4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};

static void put_addr6(hdr *h)
{
    uint8_t a[36];
    unhex("20010db8000000000000000000000001" "fe800000000000000000000000010002" "00500051", a);
    put(h, a, 36);
}

static void check_v2_valid(const char *name, size_t max, proxy_info *info)
{
    check_valid(name, H.b, H.n, max, info);
    CHECK_MSG(info->version == 2, "%s: version %u", name, info->version);
}

static void check_v2_bad(const char *name, size_t max)
{
    proxy_info info;
    int r = parse(H.b, H.n, max, &info);
    CHECK_MSG(r == PROXY_BAD, "%s: %d", name, r);
}

static void check_local(const char *name, const proxy_info *info)
{
    static const mote_addr none;
    CHECK_MSG(info->local && same_addr(&info->src, &none) && same_addr(&info->dst, &none),
              "%s: not local, or addresses given", name);
}

static void test_v2_addresses(void)
{
    mote_addr src, dst;
    proxy_info info;
    uint8_t junk[216];

    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end(&H);
    check_v2_valid("TCP4", BIG, &info);
    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    src.family = dst.family = 4;
    memcpy(src.bytes, addr4, 4);
    memcpy(dst.bytes, addr4 + 4, 4);
    src.port = 56324;
    dst.port = 443;
    CHECK(!info.local && same_addr(&info.src, &src) && same_addr(&info.dst, &dst));
    CHECK(!info.ssl && !info.alpn && !info.authority && !info.alpn_len && !info.authority_len);
    check_v2_valid("TCP4 within max", 28, &info);

    v2_begin(&H, 0x21, 0x21);
    put_addr6(&H);
    v2_end(&H);
    check_v2_valid("TCP6", BIG, &info);
    src.family = dst.family = 6;
    unhex("20010db8000000000000000000000001", src.bytes);
    unhex("fe800000000000000000000000010002", dst.bytes);
    src.port = 80;
    dst.port = 81;
    CHECK(!info.local && same_addr(&info.src, &src) && same_addr(&info.dst, &dst));

    /* LOCAL: the family and addresses are the sender's business; the TLVs are still read */
    v2_begin(&H, 0x20, 0x00);
    v2_end(&H);
    check_v2_valid("LOCAL", BIG, &info);
    check_local("LOCAL", &info);
    CHECK_EQ_INT(parse(H.b, H.n, 16, &info), 16);
    v2_begin(&H, 0x20, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end(&H);
    check_v2_valid("LOCAL TCP4", BIG, &info);
    check_local("LOCAL TCP4", &info);
    v2_begin(&H, 0x20, 0x31);
    memset(junk, 'u', sizeof junk);
    put(&H, junk, sizeof junk);
    put_tlv(&H, 0x02, "host", 4);
    v2_end(&H);
    check_v2_valid("LOCAL UNIX", BIG, &info);
    check_local("LOCAL UNIX", &info);
    CHECK(info.authority_len == 4 && info.authority == (const uint8_t *)(16 + 216 + 3));
    v2_begin(&H, 0x20, 0x12);
    put(&H, addr4, sizeof addr4);
    v2_end(&H);
    check_v2_valid("LOCAL UDP4", BIG, &info);
    /* a family not known here: what follows the fixed part cannot be read, and is not */
    v2_begin(&H, 0x20, 0x41);
    put(&H, junk, 5);
    v2_end(&H);
    check_v2_valid("LOCAL 0x41", BIG, &info);
    check_local("LOCAL 0x41", &info);

    /* PROXY with AF_UNSPEC: as LOCAL */
    v2_begin(&H, 0x21, 0x00);
    v2_end(&H);
    check_v2_valid("UNSPEC", BIG, &info);
    check_local("UNSPEC", &info);
    v2_begin(&H, 0x21, 0x00);
    put_tlv(&H, 0x01, "h2", 2);
    v2_end_crc(&H, 0);
    check_v2_valid("UNSPEC with TLVs", BIG, &info);
    check_local("UNSPEC with TLVs", &info);
    CHECK(info.alpn_len == 2 && info.alpn == (const uint8_t *)19);
}

static void test_v2_tlvs(void)
{
    static const uint8_t ssl[] = {0x01, 0, 0, 0, 0,                   /* client SSL, verified */
                                  0x21, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3',  /* VERSION */
                                  0x22, 0, 3, 'b', 'o', 'b',                      /* CN */
                                  0x23, 0, 0};                                    /* CIPHER */
    static const uint8_t no_ssl[] = {0x06, 0, 0, 0, 1};
    uint8_t id[129];
    proxy_info info;
    size_t alpn_at, auth_at;

    memset(id, 'i', sizeof id);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put_tlv(&H, 0x04, "", 0);                  /* NOOP */
    alpn_at = H.n + 3;
    put_tlv(&H, 0x01, "http/1.1", 8);
    put_tlv(&H, 0x04, "pad", 3);
    auth_at = H.n + 3;
    put_tlv(&H, 0x02, "example.com", 11);
    put_tlv(&H, 0xe0, "custom", 6);            /* PP2_TYPE_MIN_CUSTOM: not ours, skipped */
    put_tlv(&H, 0x05, id, 128);                /* UNIQUE_ID, at its longest */
    put_tlv(&H, 0x30, "ns1", 3);               /* NETNS */
    put_tlv(&H, 0x20, ssl, sizeof ssl);
    put_tlv(&H, 0x7f, "", 0);                  /* unknown */
    v2_end_crc(&H, 0);
    check_v2_valid("all TLVs", BIG, &info);
    CHECK(!info.local && info.src.family == 4 && info.dst.port == 443);
    CHECK(info.alpn == (const uint8_t *)alpn_at && info.alpn_len == 8);
    CHECK(info.authority == (const uint8_t *)auth_at && info.authority_len == 11);
    CHECK(info.ssl == 1);

    /* without the CRC, and SSL without PP2_CLIENT_SSL (certificate flags only) */
    v2_begin(&H, 0x21, 0x21);
    put_addr6(&H);
    put_tlv(&H, 0x20, no_ssl, sizeof no_ssl);
    put_tlv(&H, 0x02, "", 0);
    v2_end(&H);
    check_v2_valid("SSL off", BIG, &info);
    CHECK(info.ssl == 0 && info.authority_len == 0 && info.authority == (const uint8_t *)63);
    CHECK(!info.alpn);

    /* SSL of exactly its fixed 5 bytes */
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put_tlv(&H, 0x20, ssl, 5);
    v2_end(&H);
    check_v2_valid("SSL bare", BIG, &info);
    CHECK(info.ssl == 1);

    /* LOCAL with TLVs and a CRC */
    v2_begin(&H, 0x20, 0x00);
    put_tlv(&H, 0x05, id, 16);
    v2_end_crc(&H, 0);
    check_v2_valid("LOCAL CRC", BIG, &info);
    check_local("LOCAL CRC", &info);
}

/* A TCP4 header with one TLV made by `tlv`, whole and bad. */
static void tcp4_with(const uint8_t *tlv, size_t n)
{
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put(&H, tlv, n);
    v2_end(&H);
}

static void test_v2_bad_tlvs(void)
{
    static const struct {
        const char *name;
        const char *tlv;
        size_t n;
    } cases[] = {
        {"1 byte left", "\x04", 1},
        {"2 bytes left", "\x04\x00", 2},
        {"value past the end", "\x01\x00\x03h2", 5},
        {"value past the end, long", "\x04\xff\xff", 3},
        {"second TLV cut", "\x04\x00\x00\x01\x00", 5},
        {"CRC32C of 3 bytes", "\x03\x00\x03\x00\x00\x00", 6},
        {"CRC32C of 5 bytes", "\x03\x00\x05\x00\x00\x00\x00\x00", 8},
        {"SSL of 4 bytes", "\x20\x00\x04\x01\x00\x00\x00", 7},
        {"SSL of 0 bytes", "\x20\x00\x00", 3},
        {"SSL sub-TLV past its end", "\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x01", 11},
        {"SSL 1 byte after its sub-TLVs", "\x20\x00\x09\x01\x00\x00\x00\x00\x21\x00\x00\x00", 12},
        {"SSL sub-TLV past it, inside the header",
         "\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x01\x04\x00\x00", 14},
        {"two ALPN", "\x01\x00\x02h2\x01\x00\x02h2", 10},
        {"two AUTHORITY", "\x02\x00\x01" "a" "\x02\x00\x00", 7},
    };
    uint8_t id[129];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tcp4_with((const uint8_t *)cases[i].tlv, cases[i].n);
        check_v2_bad(cases[i].name, BIG);
    }
    memset(id, 'i', sizeof id);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put_tlv(&H, 0x05, id, 129);
    v2_end(&H);
    check_v2_bad("UNIQUE_ID of 129 bytes", BIG);

    /* CRC32C: wrong by one, by a bit, twice; LOCAL's TLVs are read too */
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end_crc(&H, 1);
    check_v2_bad("CRC32C + 1", BIG);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end_crc(&H, 0x80000000u);
    check_v2_bad("CRC32C top bit", BIG);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end_crc(&H, 0);
    H.b[16] ^= 1; /* an address byte changed after the sum */
    check_v2_bad("CRC32C of other bytes", BIG);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put_tlv(&H, 0x03, "\0\0\0\0", 4);
    v2_end_crc(&H, 0);
    check_v2_bad("two CRC32C", BIG);
    v2_begin(&H, 0x20, 0x00);
    put_tlv(&H, 0x01, "h2", 2);
    v2_end_crc(&H, 7);
    check_v2_bad("LOCAL CRC32C wrong", BIG);
    v2_begin(&H, 0x20, 0x00);
    put(&H, "\x01\x00", 2);
    v2_end(&H);
    check_v2_bad("LOCAL TLV cut", BIG);
}

/* The fixed part: each byte refused as it arrives. */
static void test_v2_fixed(void)
{
    static const uint8_t families[] = {0x12, 0x22, 0x31, 0x32, 0x41, 0x01, 0x02, 0x10, 0x13,
                                       0x20, 0xff};
    static const uint8_t versions[] = {0x11, 0x31, 0x01, 0xf1, 0x10, 0x30};
    uint8_t good[16], bad;
    size_t i;
    char name[64];

    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    v2_end(&H);
    memcpy(good, H.b, 16);
    for (i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "signature byte %zu", i);
        bad = (uint8_t)(good[i] ^ 0x20);
        check_bad_at(name, good, i, &bad, 1, BIG);
    }
    for (i = 0; i < sizeof versions; i++) {
        snprintf(name, sizeof name, "version/command 0x%02x", versions[i]);
        check_bad_at(name, good, 12, &versions[i], 1, BIG);
    }
    for (i = 2; i < 16; i++) {
        bad = (uint8_t)(0x20 | i);
        snprintf(name, sizeof name, "command %zu", i);
        check_bad_at(name, good, 12, &bad, 1, BIG);
    }
    for (i = 0; i < sizeof families; i++) {
        snprintf(name, sizeof name, "family 0x%02x", families[i]);
        check_bad_at(name, good, 13, &families[i], 1, BIG);
    }

    /* the length: at least the addresses, and the whole within max, known after 16 bytes */
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, 11);
    v2_end(&H);
    check_bad_at("TCP4 length 11", H.b, 15, H.b + 15, 1, BIG);
    v2_begin(&H, 0x21, 0x21);
    put_addr6(&H);
    H.n--;
    v2_end(&H);
    check_bad_at("TCP6 length 35", H.b, 15, H.b + 15, 1, BIG);
    v2_begin(&H, 0x20, 0x21);
    v2_end(&H);
    check_bad_at("LOCAL TCP6 length 0", H.b, 15, H.b + 15, 1, BIG);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    memset(H.b + H.n, 0x04, 1000); /* not read: refused first */
    H.n += 1000;
    v2_end(&H);
    check_bad_at("over max", H.b, 15, H.b + 15, 1, 100);
    check_bad_at("one over max", H.b, 15, H.b + 15, 1, H.n - 1);
    /* v2 in fewer than 16 bytes' room */
    check_bad_at("max 15", good, 0, good, 16, 15);
}

/* Large headers exactly filled by TLVs. */
static void test_v2_large(void)
{
    static uint8_t v[65000];
    proxy_info info;
    memset(v, 'x', sizeof v);
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    put_tlv(&H, 0x02, v, 500);
    put_tlv(&H, 0x04, v, sizeof v);
    v2_end_crc(&H, 0);
    CHECK_EQ_INT(parse(H.b, H.n, BIG, &info), (int)H.n);
    CHECK(info.authority_len == 500);
    CHECK_EQ_INT(parse(H.b, H.n, H.n, &info), (int)H.n);
    CHECK_EQ_INT(parse(H.b, H.n - 1, H.n, &info), 0);
    CHECK_EQ_INT(parse(H.b, 16, H.n - 1, &info), PROXY_BAD);

    /* the longest there is: 12 address bytes, then 21841 empty TLVs of type 0 (unknown) */
    v2_begin(&H, 0x21, 0x11);
    put(&H, addr4, sizeof addr4);
    memset(H.b + H.n, 0, 0xffff - 12);
    H.n += 0xffff - 12;
    v2_end(&H);
    CHECK_EQ_INT(H.n, 16 + 0xffff);
    CHECK_EQ_INT(parse(H.b, H.n, BIG, &info), (int)H.n);
    CHECK_EQ_INT(parse(H.b, H.n, H.n, &info), (int)H.n);
    CHECK_EQ_INT(parse(H.b, H.n - 1, BIG, &info), 0);
    CHECK_EQ_INT(parse(H.b, 16, H.n - 1, &info), PROXY_BAD);
    H.b[H.n - 2] = 1; /* the last TLV now says 256 bytes: past the end */
    CHECK_EQ_INT(parse(H.b, H.n, BIG, &info), PROXY_BAD);
}

static void test_crc_reference(void)
{
    /* the reference against the CRC-32C check value (RFC 3720 §B.4's polynomial) */
    CHECK(ref_crc32c((const uint8_t *)"123456789", 9) == 0xE3069283u);
}

int main(void)
{
    test_crc_reference();
    test_v1_valid();
    test_v1_bad();
    test_v1_bounds();
    test_v2_addresses();
    test_v2_tlvs();
    test_v2_bad_tlvs();
    test_v2_fixed();
    test_v2_large();
    return check_report("test_proxy");
}
