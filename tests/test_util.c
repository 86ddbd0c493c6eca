/* test_util.c - the small modules: IMF-fixdate formatting, address text (RFC 5952), timer
 * lists, the block pool, and mote_strerror. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/accesslog.h"
#include "core/addr.h"
#include "check.h"
#include "engine/conn.h"
#include "core/httpdate.h"
#include "mote.h"
#include "core/pool.h"
#include "core/timer.h"

/* A fixed pseudo-random sequence (xorshift64*), so every run checks the same values. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* ---- httpdate --------------------------------------------------------------------------- */

static void check_date(int64_t t, const char *want)
{
    char out[HTTPDATE_LEN + 2];
    memset(out, 'Z', sizeof out);
    httpdate_format(out, t);
    CHECK_MSG(strcmp(out, want) == 0, "t=%lld: \"%s\" != \"%s\"", (long long)t, out, want);
    CHECK_EQ_INT(strlen(out), HTTPDATE_LEN);
    CHECK(out[HTTPDATE_LEN + 1] == 'Z'); /* nothing written past the NUL */
}

static void test_httpdate_known(void)
{
    check_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    check_date(951782399, "Mon, 28 Feb 2000 23:59:59 GMT");
    check_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT"); /* 2000 is a leap year */
    check_date(951868800, "Wed, 01 Mar 2000 00:00:00 GMT");
    check_date(4107542399, "Sun, 28 Feb 2100 23:59:59 GMT"); /* 2100 is not */
    check_date(4107542400, "Mon, 01 Mar 2100 00:00:00 GMT");
    check_date(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    check_date(2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"); /* past 32-bit time_t */
    check_date(253402300799, "Fri, 31 Dec 9999 23:59:59 GMT");
    check_date(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    check_date(86399, "Thu, 01 Jan 1970 23:59:59 GMT");
    check_date(86400, "Fri, 02 Jan 1970 00:00:00 GMT");
}

static void test_httpdate_vs_libc(void)
{
    int i, bad = 0;
    /* 1900-01-01 .. 9999-12-31 */
    const int64_t lo = -2208988800LL, hi = 253402300799LL;
    for (i = 0; i < 10000; i++) {
        int64_t t = lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
        time_t tt = (time_t)t;
        struct tm tm;
        char want[64], got[HTTPDATE_LEN + 1];
        if (i < 4) t = (i == 0) ? lo : (i == 1) ? hi : (i == 2) ? 0 : 1700000000;
        tt = (time_t)t;
        if (!gmtime_r(&tt, &tm) ||
            strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm) != HTTPDATE_LEN) {
            bad++;
            continue;
        }
        httpdate_format(got, t);
        if (strcmp(got, want) != 0) {
            if (bad < 5) fprintf(stderr, "t=%lld: \"%s\" != libc \"%s\"\n", (long long)t, got, want);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* The access logs' dates against strftime(). */
static void test_log_dates_vs_libc(void)
{
    int i, bad = 0;
    const int64_t lo = -2208988800LL, hi = 253402300799LL;
    for (i = 0; i < 10000; i++) {
        int64_t t = i == 0 ? lo : i == 1 ? hi : lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
        time_t tt = (time_t)t;
        struct tm tm;
        char want_clf[64], want_iso[64], clf[CLFDATE_LEN + 1], iso[ISODATE_LEN + 1];
        if (!gmtime_r(&tt, &tm) ||
            strftime(want_clf, sizeof want_clf, "%d/%b/%Y:%H:%M:%S +0000", &tm) != CLFDATE_LEN ||
            strftime(want_iso, sizeof want_iso, "%Y-%m-%dT%H:%M:%SZ", &tm) != ISODATE_LEN) {
            bad++;
            continue;
        }
        httpdate_clf(clf, t);
        httpdate_iso(iso, t);
        if (strcmp(clf, want_clf) != 0 || strcmp(iso, want_iso) != 0) {
            if (bad < 5) fprintf(stderr, "t=%lld: %s %s\n", (long long)t, clf, iso);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- access-log lines ----------------------------------------------------------------------- */

static access_entry sample_entry(void)
{
    access_entry e;
    memset(&e, 0, sizeof e);
    e.address = "127.0.0.1";
    e.port = 50000;
    e.method = "GET";
    e.target = "/index.html?a=\"b\"";
    e.version = 11;
    e.status = 200;
    e.bytes = 113;
    e.micros = 1153;
    e.unix_seconds = 784111777;
    e.referer = "http://example.com/";
    e.user_agent = "Mozilla/5.0 \"quoted\" \\ \x01 caf\xe9";
    return e;
}

static void check_line(int format, const access_entry *e, const char *want)
{
    char line[ACCESS_LINE_MAX];
    size_t n = access_log_line(line, sizeof line, format, e);
    CHECK_MSG(strcmp(line, want) == 0, "format %d:\n  got  %s\n  want %s", format, line, want);
    CHECK_EQ_INT(n, strlen(line));
}

static void test_access_log(void)
{
    access_entry e = sample_entry();
    char line[ACCESS_LINE_MAX], small[40], *huge;
    check_line(MOTE_ACCESS_LOG_MOTE, &e, "127.0.0.1:50000 \"GET /index.html?a=\\x22b\\x22 HTTP/1.1\" "
                                         "200 113 1.153ms");
    check_line(MOTE_ACCESS_LOG_COMMON, &e, "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "
                                           "\"GET /index.html?a=\\x22b\\x22 HTTP/1.1\" 200 113");
    check_line(MOTE_ACCESS_LOG_COMBINED, &e,
               "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /index.html?a=\\x22b\\x22 "
               "HTTP/1.1\" 200 113 \"http://example.com/\" "
               "\"Mozilla/5.0 \\x22quoted\\x22 \\x5c \\x01 caf\\xe9\"");
    check_line(MOTE_ACCESS_LOG_JSON, &e,
               "{\"time\":\"1994-11-06T08:49:37Z\",\"remote\":\"127.0.0.1\",\"port\":50000,"
               "\"method\":\"GET\",\"target\":\"/index.html?a=\\\"b\\\"\",\"version\":\"HTTP/1.1\","
               "\"status\":200,\"bytes\":113,\"duration_ms\":1.153,"
               "\"referer\":\"http://example.com/\","
               "\"user_agent\":\"Mozilla/5.0 \\\"quoted\\\" \\\\ \\u0001 caf\\u00e9\"}");

    /* no valid request, no body, IPv6, no Referer or User-Agent */
    memset(&e, 0, sizeof e);
    e.address = "::1";
    e.port = 1;
    e.ipv6 = 1;
    e.status = 400;
    e.version = 11;
    check_line(MOTE_ACCESS_LOG_MOTE, &e, "[::1]:1 \"-\" 400 0 0.000ms");
    check_line(MOTE_ACCESS_LOG_COMBINED, &e,
               "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 - \"-\" \"-\"");
    check_line(MOTE_ACCESS_LOG_JSON, &e,
               "{\"time\":\"1970-01-01T00:00:00Z\",\"remote\":\"::1\",\"port\":1,\"method\":null,"
               "\"target\":null,\"version\":null,\"status\":400,\"bytes\":0,\"duration_ms\":0.000,"
               "\"referer\":null,\"user_agent\":null}");
    check_line(MOTE_ACCESS_LOG_OFF, &e, "");

    /* a long target is cut short, and the line stays within its buffer and well formed */
    huge = malloc(9000);
    CHECK(huge != NULL);
    if (!huge) return;
    memset(huge, 'a', 8999);
    huge[8999] = '\0';
    e = sample_entry();
    e.target = huge;
    e.user_agent = huge;
    e.referer = huge;
    CHECK(access_log_line(line, sizeof line, MOTE_ACCESS_LOG_JSON, &e) < sizeof line);
    CHECK(strstr(line, "a...\",\"version\"") != NULL);
    CHECK(line[strlen(line) - 1] == '}');
    CHECK_EQ_INT(access_log_line(small, sizeof small, MOTE_ACCESS_LOG_COMBINED, &e), sizeof small - 1);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    free(huge);
}

/* ---- addresses -------------------------------------------------------------------------- */

static mote_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    mote_addr m;
    memset(&m, 0, sizeof m);
    m.family = 4;
    m.bytes[0] = a;
    m.bytes[1] = b;
    m.bytes[2] = c;
    m.bytes[3] = d;
    return m;
}

static mote_addr v6(const uint16_t g[8])
{
    mote_addr m;
    int i;
    memset(&m, 0, sizeof m);
    m.family = 6;
    for (i = 0; i < 8; i++) {
        m.bytes[2 * i] = (uint8_t)(g[i] >> 8);
        m.bytes[2 * i + 1] = (uint8_t)(g[i] & 0xff);
    }
    return m;
}

static void check_addr(const mote_addr *a, const char *want)
{
    char buf[ADDR_TEXT_MAX + 4];
    size_t n = strlen(want);
    int rc;
    memset(buf, 'Z', sizeof buf);
    rc = addr_format(a, buf, sizeof buf);
    CHECK_EQ_INT(rc, MOTE_OK);
    CHECK_MSG(rc == MOTE_OK && strcmp(buf, want) == 0, "\"%s\" != \"%s\"", buf, want);
    /* exactly long enough: fits; one byte less: MOTE_EINVAL and nothing past the buffer */
    memset(buf, 'Z', sizeof buf);
    CHECK_EQ_INT(addr_format(a, buf, n + 1), MOTE_OK);
    CHECK(strcmp(buf, want) == 0);
    memset(buf, 'Z', sizeof buf);
    CHECK_EQ_INT(addr_format(a, buf, n), MOTE_EINVAL);
    CHECK(buf[n] == 'Z');
}

static void test_addr_known(void)
{
    mote_addr a;
    char buf[64];
    static const uint16_t g_all0[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    static const uint16_t g_loop[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    static const uint16_t g_1[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    static const uint16_t g_doc[8] = {0x2001, 0xdb8, 0, 0, 0, 0, 0, 1};
    static const uint16_t g_one0[8] = {0x2001, 0xdb8, 0, 1, 1, 1, 1, 1};
    static const uint16_t g_tie[8] = {0x2001, 0, 0, 1, 0, 0, 1, 1};
    static const uint16_t g_longer2[8] = {0x2001, 0, 0, 1, 0, 0, 0, 1};
    static const uint16_t g_hex[8] = {0xABCD, 0xEF01, 0x2345, 0x6789, 0xA, 0xB0, 0xC00, 0xD000};
    static const uint16_t g_end[8] = {0x2001, 0xdb8, 1, 2, 3, 4, 0, 0};
    static const uint16_t g_full[8] = {0xffff, 0xffff, 0xffff, 0xffff,
                                       0xffff, 0xffff, 0xffff, 0xffff};
    static const uint16_t g_mid[8] = {1, 2, 0, 0, 0, 0, 7, 8};

    a = v4(0, 0, 0, 0);
    check_addr(&a, "0.0.0.0");
    a = v4(192, 0, 2, 1);
    check_addr(&a, "192.0.2.1");
    a = v4(255, 255, 255, 255);
    check_addr(&a, "255.255.255.255");
    a = v4(10, 100, 9, 99);
    check_addr(&a, "10.100.9.99");

    a = v6(g_all0);
    check_addr(&a, "::");
    a = v6(g_loop);
    check_addr(&a, "::1");
    a = v6(g_1);
    check_addr(&a, "1::");
    a = v6(g_doc);
    check_addr(&a, "2001:db8::1");
    a = v6(g_one0);
    check_addr(&a, "2001:db8:0:1:1:1:1:1"); /* a single zero group is not compressed */
    a = v6(g_tie);
    check_addr(&a, "2001::1:0:0:1:1");      /* the first of two equal runs */
    a = v6(g_longer2);
    check_addr(&a, "2001:0:0:1::1");        /* the longest run, even when later */
    a = v6(g_hex);
    check_addr(&a, "abcd:ef01:2345:6789:a:b0:c00:d000"); /* lowercase, no leading zeros */
    a = v6(g_end);
    check_addr(&a, "2001:db8:1:2:3:4::");
    a = v6(g_full);
    check_addr(&a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    a = v6(g_mid);
    check_addr(&a, "1:2::7:8");

    /* no buffer, or an unknown family */
    a = v4(1, 2, 3, 4);
    CHECK_EQ_INT(addr_format(&a, NULL, 64), MOTE_EINVAL);
    CHECK_EQ_INT(addr_format(&a, buf, 0), MOTE_EINVAL);
    memset(&a, 0, sizeof a);
    CHECK_EQ_INT(addr_format(&a, buf, sizeof buf), MOTE_OK);
    CHECK_EQ_STR(buf, "-");
}

static void test_addr_vs_inet_ntop(void)
{
    int i, bad = 0, compared = 0;
    for (i = 0; i < 10000; i++) {
        uint8_t raw[16];
        mote_addr a;
        char want[INET6_ADDRSTRLEN], got[ADDR_TEXT_MAX];
        int j, family = (i % 4 == 0) ? 4 : 6;
        memset(&a, 0, sizeof a);
        for (j = 0; j < 16; j++) raw[j] = (uint8_t)rng();
        if (family == 6) {
            /* zero some groups: up to three runs of random length at random places, and single
             * zero bytes so that groups like 0x00ab appear */
            int runs = (int)(rng() % 4), r;
            for (r = 0; r < runs; r++) {
                int start = (int)(rng() % 8), len = (int)(rng() % 8) + 1, k;
                for (k = start; k < start + len && k < 8; k++) raw[2 * k] = raw[2 * k + 1] = 0;
            }
            for (j = 0; j < 16; j++) {
                if (rng() % 5 == 0) raw[j] = 0;
            }
            /* inet_ntop writes IPv4-compatible and -mapped forms in dotted notation; the shell
             * hands those to us as IPv4, so keep them out of the comparison */
            if (raw[0] == 0 && raw[1] == 0 && raw[2] == 0 && raw[3] == 0 && raw[4] == 0 &&
                raw[5] == 0 && raw[6] == 0 && raw[7] == 0 && raw[8] == 0 && raw[9] == 0)
                raw[0] = 0x20;
        }
        a.family = (uint8_t)family;
        memcpy(a.bytes, raw, family == 4 ? 4 : 16);
        if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, raw, want, sizeof want)) {
            bad++;
            continue;
        }
        if (strchr(want, '.') && family == 6) continue;
        compared++;
        if (addr_format(&a, got, sizeof got) != MOTE_OK || strcmp(got, want) != 0) {
            if (bad < 5) fprintf(stderr, "addr: \"%s\" != inet_ntop \"%s\"\n", got, want);
            bad++;
            continue;
        }
        /* a buffer one byte short of the text and its NUL is refused */
        if (addr_format(&a, got, strlen(want)) != MOTE_EINVAL) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(compared > 9900);
}

/* ---- timers ----------------------------------------------------------------------------- */

static void test_timers(void)
{
    timer_list l, other;
    timer_node a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    timer_list_init(&l, 100);
    timer_list_init(&other, 1000);

    CHECK(timer_next(&l) == TIMER_NONE);
    CHECK(timer_first_expired(&l, UINT64_MAX - 1) == NULL);

    timer_arm(&l, &a, 0);   /* 100 */
    timer_arm(&l, &b, 10);  /* 110 */
    timer_arm(&l, &c, 20);  /* 120 */
    CHECK(a.list == &l && b.list == &l && c.list == &l);
    CHECK(a.deadline == 100 && b.deadline == 110 && c.deadline == 120);
    CHECK(timer_next(&l) == 100);
    CHECK(timer_first_expired(&l, 99) == NULL);
    CHECK(timer_first_expired(&l, 100) == &a);
    CHECK(timer_first_expired(&l, 1000) == &a); /* the earliest first */

    /* re-arming moves a to the tail with a new deadline */
    timer_arm(&l, &a, 30);  /* 130 */
    CHECK(a.deadline == 130);
    CHECK(timer_next(&l) == 110);
    CHECK(timer_first_expired(&l, 109) == NULL);
    CHECK(timer_first_expired(&l, 110) == &b);

    /* expiring in order: the caller disarms each one it handles */
    {
        timer_node *order[3], *n;
        int k = 0;
        while ((n = timer_first_expired(&l, 1000)) != NULL && k < 3) {
            order[k++] = n;
            timer_disarm(n);
        }
        CHECK_EQ_INT(k, 3);
        CHECK(k == 3 && order[0] == &b && order[1] == &c && order[2] == &a);
        CHECK(timer_first_expired(&l, 1000) == NULL);
    }
    CHECK(timer_next(&l) == TIMER_NONE);
    CHECK(a.list == NULL && b.list == NULL && c.list == NULL);

    /* disarming the middle one, and disarming twice */
    timer_arm(&l, &a, 0);
    timer_arm(&l, &b, 1);
    timer_arm(&l, &c, 2);
    timer_disarm(&b);
    timer_disarm(&b);
    CHECK(b.list == NULL);
    CHECK(timer_first_expired(&l, 200) == &a);
    timer_disarm(&a);
    CHECK(timer_next(&l) == 102);
    CHECK(timer_first_expired(&l, 200) == &c);
    timer_disarm(&c);
    CHECK(timer_next(&l) == TIMER_NONE);

    /* arming in another list leaves the first */
    timer_arm(&l, &a, 0);
    timer_arm(&l, &b, 5);
    timer_arm(&other, &a, 5); /* 1005 */
    CHECK(a.list == &other);
    CHECK(timer_next(&l) == 105);
    CHECK(timer_next(&other) == 1005);
    CHECK(timer_first_expired(&l, 10000) == &b);
    timer_disarm(&b);
    CHECK(timer_first_expired(&l, 10000) == NULL);
    CHECK(timer_first_expired(&other, 1004) == NULL);
    CHECK(timer_first_expired(&other, 1005) == &a);
    timer_disarm(&a);
    CHECK(timer_next(&other) == TIMER_NONE);
}

/* ---- pool ------------------------------------------------------------------------------- */

typedef struct counting {
    size_t calls, live, fail_at;
} counting;

static void *count_alloc(void *ctx, size_t size)
{
    counting *a = ctx;
    void *p;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at) return NULL;
    p = malloc(size);
    if (p) a->live++;
    return p;
}

static void count_free(void *ctx, void *ptr)
{
    counting *a = ctx;
    if (!ptr) return;
    a->live--;
    free(ptr);
}

static void test_pool(void)
{
    counting cnt;
    mote_allocator al;
    pool p;
    char *b1, *b2, *b3, *b4;
    size_t align = alignof(max_align_t);
    memset(&cnt, 0, sizeof cnt);
    al.alloc = count_alloc;
    al.free = count_free;
    al.ctx = &cnt;

    pool_init(&p, al, 1000, 3);
    CHECK_EQ_INT(cnt.calls, 0); /* nothing allocated before it is needed */
    b1 = pool_get(&p);
    b2 = pool_get(&p);
    b3 = pool_get(&p);
    CHECK(b1 && b2 && b3 && b1 != b2 && b2 != b3 && b1 != b3);
    CHECK_EQ_INT(cnt.live, 3);
    CHECK(pool_get(&p) == NULL); /* max_blocks */
    CHECK_EQ_INT(cnt.calls, 3);
    if (b1 && b2 && b3) {
        CHECK_EQ_INT((uintptr_t)b1 % align, 0);
        CHECK_EQ_INT((uintptr_t)b2 % align, 0);
        CHECK_EQ_INT((uintptr_t)b3 % align, 0);
        /* the whole block is usable (the sanitizer sees any overrun) */
        memset(b1, 1, 1000);
        memset(b2, 2, 1000);
        memset(b3, 3, 1000);
        CHECK(b1[999] == 1 && b2[0] == 2 && b3[500] == 3);
    }

    /* reused most-recently-freed first, without allocating */
    pool_put(&p, b2);
    pool_put(&p, b1);
    b4 = pool_get(&p);
    CHECK(b4 == b1);
    b4 = pool_get(&p);
    CHECK(b4 == b2);
    CHECK(pool_get(&p) == NULL);
    CHECK_EQ_INT(cnt.calls, 3);
    pool_put(&p, b3);
    CHECK(pool_get(&p) == b3);
    pool_put(&p, b1);
    pool_put(&p, b2);
    pool_put(&p, b3);

    pool_free(&p);
    CHECK_EQ_INT(cnt.live, 0);

    /* an allocation failure gives NULL and counts nothing; the next call succeeds */
    memset(&cnt, 0, sizeof cnt);
    cnt.fail_at = 2;
    pool_init(&p, al, 24, 2);
    b1 = pool_get(&p);
    CHECK(b1 != NULL);
    CHECK(pool_get(&p) == NULL);
    b2 = pool_get(&p);
    CHECK(b2 != NULL && b2 != b1);
    CHECK(pool_get(&p) == NULL);
    CHECK_EQ_INT(cnt.live, 2);
    pool_free(&p);
    CHECK_EQ_INT(cnt.live, 0);

    /* odd block sizes keep the alignment */
    {
        size_t sizes[] = {1, 7, 13, 33, 4097};
        size_t k;
        memset(&cnt, 0, sizeof cnt);
        for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int j;
            pool_init(&p, al, sizes[k], 4);
            for (j = 0; j < 4; j++) {
                char *b = pool_get(&p);
                CHECK(b != NULL && (uintptr_t)b % align == 0);
                if (b) memset(b, 0xab, sizes[k]);
            }
            pool_free(&p); /* frees blocks still handed out, too */
            CHECK_EQ_INT(cnt.live, 0);
        }
    }

    /* a pool that never handed out a block frees nothing */
    memset(&cnt, 0, sizeof cnt);
    pool_init(&p, al, 100, 10);
    pool_free(&p);
    CHECK_EQ_INT(cnt.calls, 0);
    CHECK_EQ_INT(cnt.live, 0);
}

/* Blocks free for a whole period are given back, the coldest first; the others are kept. */
static void test_pool_trim(void)
{
    counting cnt;
    mote_allocator al;
    pool p;
    char *b[8];
    int i;
    memset(&cnt, 0, sizeof cnt);
    al.alloc = count_alloc;
    al.free = count_free;
    al.ctx = &cnt;
    pool_init(&p, al, 64, 8);
    CHECK_EQ_INT(pool_trim(&p), 0); /* nothing allocated: nothing to give */
    for (i = 0; i < 8; i++) b[i] = pool_get(&p);
    for (i = 0; i < 8; i++) pool_put(&p, b[i]);
    /* the burst kept every block busy during this period: none was idle all along */
    CHECK_EQ_INT(pool_trim(&p), 0);
    CHECK_EQ_INT(cnt.live, 8);
    /* the next period uses three at most: the five others were idle all along */
    for (i = 0; i < 3; i++) b[i] = pool_get(&p);
    for (i = 0; i < 3; i++) pool_put(&p, b[i]);
    CHECK_EQ_INT(pool_trim(&p), 5);
    CHECK_EQ_INT(cnt.live, 3);
    CHECK_EQ_INT(p.allocated, 3);
    /* the three kept are the warm ones, handed out again without allocating */
    for (i = 0; i < 3; i++) CHECK(pool_get(&p) == b[2 - i]);
    CHECK_EQ_INT(cnt.calls, 8);
    /* and a new burst allocates again, up to the maximum */
    for (i = 3; i < 8; i++) CHECK((b[i] = pool_get(&p)) != NULL);
    CHECK(pool_get(&p) == NULL);
    CHECK_EQ_INT(cnt.live, 8);
    for (i = 0; i < 8; i++) pool_put(&p, i < 3 ? b[2 - i] : b[i]);
    CHECK_EQ_INT(pool_trim(&p), 0); /* busy this period */
    CHECK_EQ_INT(pool_trim(&p), 8); /* idle for a whole one */
    CHECK_EQ_INT(cnt.live, 0);
    CHECK(pool_get(&p) != NULL);
    pool_free(&p);
    CHECK_EQ_INT(cnt.live, 0);
}

/* ---- address text in ---------------------------------------------------------------------- */

/* addr_parse() against inet_pton: the same verdict and bytes, IPv4 without leading zeros. */
static void check_parse(const char *text)
{
    unsigned char want[16];
    mote_addr a;
    int v6 = strchr(text, ':') != NULL;
    int ok = inet_pton(v6 ? AF_INET6 : AF_INET, text, want) == 1;
    int rc = addr_parse(text, strlen(text), &a);
    CHECK_EQ_INT(rc == MOTE_OK, ok);
    if (ok && rc == MOTE_OK) {
        CHECK_EQ_INT(a.family, v6 ? 6 : 4);
        CHECK(memcmp(a.bytes, want, v6 ? 16 : 4) == 0);
    }
}

static void test_addr_parse(void)
{
    static const char *const texts[] = {
        "0.0.0.0", "127.0.0.1", "255.255.255.255", "192.0.2.1", "256.0.0.1", "1.2.3", "1.2.3.4.5",
        "1..2.3", "", ".1.2.3", "1.2.3.4 ", "a.b.c.d", "::", "::1", "1::", "2001:db8::1",
        "2001:DB8:0:0:8:800:200C:417A", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
        "1::2::3", ":1::", "1:::2", "12345::", "::ffff:192.0.2.1", "::192.0.2.1",
        "1:2:3:4:5:6:192.0.2.1", "1:2:3:4:5:6:7:192.0.2.1", "::ffff:1.2.3", "fe80::1:", "::1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7::", "g::1", "[::1]",
    };
    mote_addr a, net;
    size_t i;
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) check_parse(texts[i]);
    /* leading zeros in IPv4 (octal to some readers) are refused */
    CHECK_EQ_INT(addr_parse("010.0.0.1", 9, &a), MOTE_EINVAL);
    CHECK_EQ_INT(addr_parse("10.0.0.01", 9, &a), MOTE_EINVAL);
    /* only the length given is read */
    CHECK_EQ_INT(addr_parse("10.0.0.1xyz", 8, &a), MOTE_OK);
    CHECK_EQ_INT(a.bytes[0], 10);

    /* networks, and IPv4-mapped IPv6 peers counted as IPv4 */
    CHECK_EQ_INT(addr_parse("10.0.0.0", 8, &net), MOTE_OK);
    CHECK_EQ_INT(addr_parse("10.200.3.4", 10, &a), MOTE_OK);
    CHECK(addr_in_network(&a, &net, 8));
    CHECK(!addr_in_network(&a, &net, 9));
    CHECK(addr_in_network(&a, &net, 0));
    CHECK_EQ_INT(addr_parse("::ffff:10.1.2.3", 15, &a), MOTE_OK);
    CHECK(addr_in_network(&a, &net, 8));
    CHECK_EQ_INT(addr_parse("11.0.0.0", 8, &a), MOTE_OK);
    CHECK(!addr_in_network(&a, &net, 8));
    CHECK(addr_in_network(&a, &net, 7)); /* 10 and 11 share their first 7 bits */
    CHECK_EQ_INT(addr_parse("2001:db8::", 10, &net), MOTE_OK);
    CHECK_EQ_INT(addr_parse("2001:db8:ffff::1", 16, &a), MOTE_OK);
    CHECK(addr_in_network(&a, &net, 32));
    CHECK(!addr_in_network(&a, &net, 33));
    CHECK_EQ_INT(addr_parse("10.0.0.1", 8, &a), MOTE_OK);
    CHECK(!addr_in_network(&a, &net, 0)); /* families differ */
}

/* ---- mote_strerror ---------------------------------------------------------------------- */

static void test_strerror(void)
{
    static const int codes[] = {MOTE_OK,     MOTE_ENOMEM, MOTE_EINVAL, MOTE_EAGAIN, MOTE_ESTATE,
                                MOTE_ETOOBIG, MOTE_ESYS,  MOTE_EADDR,  MOTE_ETLS,   MOTE_EEXIST,
                                MOTE_ELIMIT, MOTE_ENOTSUP, MOTE_ECLOSED};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = mote_strerror(-1000);
    size_t i, j;
    CHECK(unknown != NULL);
    CHECK(mote_strerror(1) != NULL);
    CHECK(mote_strerror(-13) != NULL);
    for (i = 0; i < n; i++) {
        const char *s = mote_strerror(codes[i]);
        CHECK_MSG(s != NULL && s[0] != '\0', "code %d", codes[i]);
        if (!s) continue;
        CHECK_MSG(unknown == NULL || strcmp(s, unknown) != 0, "code %d reads as unknown", codes[i]);
        for (j = 0; j < i; j++) {
            const char *t = mote_strerror(codes[j]);
            CHECK_MSG(t == NULL || strcmp(s, t) != 0, "codes %d and %d share \"%s\"", codes[i],
                      codes[j], s);
        }
    }
}

int main(void)
{
    test_httpdate_known();
    test_httpdate_vs_libc();
    test_log_dates_vs_libc();
    test_access_log();
    test_addr_known();
    test_addr_vs_inet_ntop();
    test_timers();
    test_pool();
    test_pool_trim();
    test_addr_parse();
    test_strerror();
    return check_report("test_util");
}
