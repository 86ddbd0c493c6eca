/* test_static_parsers.c - the sans-I/O parsers behind static content: Range (range_parse), the
 * conditional requests and HTTP-dates (precond_*, etag_list_match, httpdate_parse),
 * Accept-Encoding (encoding_choose) and Content-Type by extension (mote_mime_type_of).
 * Inputs are copied into buffers of their exact size, so a read past the end is caught by the
 * sanitizer builds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mote_static.h"
#include "core/httpdate.h"
#include "static/encoding.h"
#include "static/precond.h"
#include "static/range.h"

/* `s` in a heap block of exactly its length (no NUL) plus one guard NUL when `nul`. */
static char *exact_copy(const char *s, size_t len, int nul)
{
    char *p = malloc(len + (size_t)nul + 1);
    if (!p) abort();
    memcpy(p, s, len);
    if (nul) p[len] = '\0';
    return p;
}

/* ---- Range ------------------------------------------------------------------------------ */

#define R_IGN RANGE_IGNORE
#define R_SAT RANGE_SATISFIABLE
#define R_416 RANGE_UNSATISFIABLE
#define MAXR 16
#define BIG UINT64_MAX

typedef struct range_case {
    const char *value;
    uint64_t length;
    range_verdict verdict;
    const char *ranges; /* "first-last,..." on R_SAT */
} range_case;

static void format_ranges(const byte_range *r, size_t n, char *out, size_t size)
{
    size_t i, used = 0;
    out[0] = '\0';
    for (i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%llu-%llu", i ? "," : "",
                                 (unsigned long long)r[i].first, (unsigned long long)r[i].last);
}

/* Parses with `max`, checking that nothing past out[max) is written. */
static void check_range_max(const char *value, uint64_t length, size_t max, range_verdict want,
                            const char *want_ranges)
{
    byte_range out[MAXR + 1];
    char got[512];
    size_t count = 99, len = strlen(value);
    char *copy = exact_copy(value, len, 0);
    range_verdict v;
    memset(out, 0xa5, sizeof out);
    v = range_parse(copy, len, length, out, max, &count);
    format_ranges(out, v == R_SAT ? count : 0, got, sizeof got);
    CHECK_MSG(v == want, "\"%s\" /%llu: verdict %d, want %d", value, (unsigned long long)length, (int)v,
              (int)want);
    CHECK_MSG(v == R_SAT ? count >= 1 && count <= max : count == 0, "\"%s\": count %lu", value,
              (unsigned long)count);
    if (want == R_SAT)
        CHECK_MSG(strcmp(got, want_ranges) == 0, "\"%s\" /%llu: \"%s\", want \"%s\"",
                  value, (unsigned long long)length, got, want_ranges);
    CHECK_MSG(out[max].first == UINT64_C(0xa5a5a5a5a5a5a5a5), "\"%s\": wrote past max", value);
    free(copy);
}

static void test_range_cases(void)
{
    static const range_case cases[] = {
        /* the forms */
        {"bytes=0-499", 10000, R_SAT, "0-499"},
        {"bytes=500-999", 10000, R_SAT, "500-999"},
        {"bytes=-500", 10000, R_SAT, "9500-9999"},
        {"bytes=9500-", 10000, R_SAT, "9500-9999"},
        {"bytes=0-0,-1", 10000, R_SAT, "0-0,9999-9999"},
        {"bytes=0-", 10000, R_SAT, "0-9999"},
        {"bytes=9999-9999", 10000, R_SAT, "9999-9999"},
        {"bytes=0-9999", 10000, R_SAT, "0-9999"},
        {"bytes=000000000000000000000000001-0002", 10000, R_SAT, "1-2"},
        /* the unit: case-insensitive; others, or none, ignored */
        {"BYTES=0-1", 10000, R_SAT, "0-1"},
        {"Bytes=0-1", 10000, R_SAT, "0-1"},
        {"items=0-1", 10000, R_IGN, NULL},
        {"bytesx=0-1", 10000, R_IGN, NULL},
        {"byte=0-1", 10000, R_IGN, NULL},
        {"bytes", 10000, R_IGN, NULL},
        {"bytes0-1", 10000, R_IGN, NULL},
        {"=0-1", 10000, R_IGN, NULL},
        {"", 10000, R_IGN, NULL},
        {"bytes =0-1", 10000, R_IGN, NULL},
        /* whitespace: OWS around commas and the value, nowhere inside a spec */
        {" bytes=0-1 ", 10000, R_SAT, "0-1"},
        {"bytes=0-1 ,\t200-300", 10000, R_SAT, "0-1,200-300"},
        {"bytes=0-1,200-300", 10000, R_SAT, "0-1,200-300"},
        {"bytes= 0-1", 10000, R_SAT, "0-1"},
        {"bytes=0 -1", 10000, R_IGN, NULL},
        {"bytes=0- 1", 10000, R_IGN, NULL},
        {"bytes=- 1", 10000, R_IGN, NULL},
        {"bytes=0-1 200-300", 10000, R_IGN, NULL},
        /* empty list elements (§5.6.1.2), but at least one spec */
        {"bytes=0-1,,200-300", 10000, R_SAT, "0-1,200-300"},
        {"bytes=,0-1", 10000, R_SAT, "0-1"},
        {"bytes=0-1,", 10000, R_SAT, "0-1"},
        {"bytes=, ,\t,0-1, ,", 10000, R_SAT, "0-1"},
        {"bytes=", 10000, R_IGN, NULL},
        {"bytes=,", 10000, R_IGN, NULL},
        {"bytes= , ,", 10000, R_IGN, NULL},
        /* invalid specs: the whole field is ignored */
        {"bytes=5-4", 10000, R_IGN, NULL},
        {"bytes=0-1,5-4", 10000, R_IGN, NULL},
        {"bytes=abc", 10000, R_IGN, NULL},
        {"bytes=0-1,abc", 10000, R_IGN, NULL},
        {"bytes=--1", 10000, R_IGN, NULL},
        {"bytes=-", 10000, R_IGN, NULL},
        {"bytes=1", 10000, R_IGN, NULL},
        {"bytes=1-2-3", 10000, R_IGN, NULL},
        {"bytes=+1-2", 10000, R_IGN, NULL},
        {"bytes=0x10-20", 10000, R_IGN, NULL},
        {"bytes=-1-2", 10000, R_IGN, NULL},
        {"bytes=1--2", 10000, R_IGN, NULL},
        {"bytes=0-1;", 10000, R_IGN, NULL},
        {"bytes=20000-10000", 10000, R_IGN, NULL}, /* invalid before unsatisfiable */
        /* unsatisfiable */
        {"bytes=10000-", 10000, R_416, NULL},
        {"bytes=10000-20000", 10000, R_416, NULL},
        {"bytes=-0", 10000, R_416, NULL},
        {"bytes=-000", 10000, R_416, NULL},
        {"bytes=-0,10000-", 10000, R_416, NULL},
        /* one satisfiable range is enough, and only those are kept */
        {"bytes=-0,0-0", 10000, R_SAT, "0-0"},
        {"bytes=20000-,5-5,10000-", 10000, R_SAT, "5-5"},
        /* the end clamped, the suffix larger than the representation */
        {"bytes=0-20000", 10000, R_SAT, "0-9999"},
        {"bytes=-20000", 10000, R_SAT, "0-9999"},
        {"bytes=-10000", 10000, R_SAT, "0-9999"},
        {"bytes=-9999", 10000, R_SAT, "1-9999"},
        /* numbers that do not fit 64 bits */
        {"bytes=0-99999999999999999999999", 10000, R_SAT, "0-9999"},
        {"bytes=-99999999999999999999999", 10000, R_SAT, "0-9999"},
        {"bytes=99999999999999999999999-", 10000, R_416, NULL},
        {"bytes=99999999999999999999999-99999999999999999999999", 10000, R_416, NULL},
        {"bytes=99999999999999999999999-99999999999999999999998", 10000, R_IGN, NULL},
        {"bytes=99999999999999999999999-5", 10000, R_IGN, NULL},
        {"bytes=18446744073709551615-18446744073709551616", 10000, R_416, NULL},
        {"bytes=18446744073709551616-18446744073709551615", 10000, R_IGN, NULL},
        {"bytes=0-1,99999999999999999999999-", 10000, R_SAT, "0-1"},
        /* the largest representation */
        {"bytes=0-", BIG, R_SAT, "0-18446744073709551614"},
        {"bytes=18446744073709551614-", BIG, R_SAT,
         "18446744073709551614-18446744073709551614"},
        {"bytes=18446744073709551615-", BIG, R_416, NULL},
        {"bytes=-18446744073709551615", BIG, R_SAT, "0-18446744073709551614"},
        {"bytes=-1", BIG, R_SAT, "18446744073709551614-18446744073709551614"},
        {"bytes=0-99999999999999999999999", BIG, R_SAT, "0-18446744073709551614"},
        /* a zero-length representation: no int-range fits; a suffix selects nothing */
        {"bytes=0-", 0, R_416, NULL},
        {"bytes=0-0", 0, R_416, NULL},
        {"bytes=-0", 0, R_416, NULL},
        {"bytes=-1", 0, R_IGN, NULL},
        {"bytes=0-0,-5", 0, R_IGN, NULL},
        {"bytes=5-4", 0, R_IGN, NULL},
        /* one byte */
        {"bytes=0-0", 1, R_SAT, "0-0"},
        {"bytes=-1", 1, R_SAT, "0-0"},
        {"bytes=1-", 1, R_416, NULL},
        /* sorted and coalesced: overlapping, contained, adjacent, within the gap */
        {"bytes=500-600,0-10", 10000, R_SAT, "0-10,500-600"},
        {"bytes=0-10,11-20", 10000, R_SAT, "0-20"},
        {"bytes=0-10,5-20", 10000, R_SAT, "0-20"},
        {"bytes=0-100,10-20", 10000, R_SAT, "0-100"},
        {"bytes=0-10,90-100", 10000, R_SAT, "0-100"},  /* 79 bytes apart: one part */
        {"bytes=0-10,91-100", 10000, R_SAT, "0-10,91-100"}, /* 80 apart: two */
        {"bytes=-100,0-10", 10000, R_SAT, "0-10,9900-9999"},
        {"bytes=0-,-1", 10000, R_SAT, "0-9999"},
        {"bytes=300-400,0-10,200-250,50-60,1000-2000", 10000, R_SAT, "0-60,200-400,1000-2000"},
        {"bytes=0-0,0-0,0-0", 10000, R_SAT, "0-0"},
        {"bytes=9000-9999,0-0,-5", 10000, R_SAT, "0-0,9000-9999"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++)
        check_range_max(cases[i].value, cases[i].length, MAXR, cases[i].verdict,
                        cases[i].ranges);
}

/* A list of `n` specs "k00-k10" (k = 0, 1, ...), far enough apart not to merge. */
static char *spread_list(size_t n)
{
    char *s = malloc(16 + n * 24), *p = s;
    size_t i;
    if (!s) abort();
    p += sprintf(p, "bytes=");
    for (i = 0; i < n; i++) p += sprintf(p, "%s%lu00-%lu10", i ? "," : "", (unsigned long)i, (unsigned long)i);
    return s;
}

static void test_range_limits(void)
{
    char *s = spread_list(MAXR), *many = spread_list(10000), want[512];
    byte_range r[MAXR];
    size_t count, i, used = 0;
    for (i = 0; i < MAXR; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, "%s%lu-%lu", i ? "," : "",
                                 (unsigned long)(i * 100), (unsigned long)(i * 100 + 10));
    check_range_max(s, 10000, MAXR, R_SAT, want);
    check_range_max(s, 10000, MAXR - 1, R_IGN, NULL);
    check_range_max("bytes=0-1", 10000, 0, R_IGN, NULL);
    check_range_max("bytes=0-1", 10000, 1, R_SAT, "0-1");
    /* unsatisfiable specs count too, and so do merged ones */
    check_range_max("bytes=0-0,20000-", 10000, 1, R_IGN, NULL);
    check_range_max("bytes=0-0,0-0", 10000, 1, R_IGN, NULL);
    /* empty elements do not */
    check_range_max("bytes=,,,0-0,,,,", 10000, 1, R_SAT, "0-0");
    /* a huge list stops at max, whatever follows */
    CHECK_EQ_INT(range_parse(many, strlen(many), 10000, r, MAXR, &count), R_IGN);
    CHECK_EQ_INT(count, 0);
    /* the value is not NUL-terminated: only `len` bytes count */
    CHECK_EQ_INT(range_parse("bytes=0-1xyz", 9, 10000, r, MAXR, &count), R_SAT);
    CHECK(count == 1 && r[0].first == 0 && r[0].last == 1);
    CHECK_EQ_INT(range_parse("bytes=0-123", 8, 10000, r, MAXR, &count), R_SAT);
    CHECK(count == 1 && r[0].first == 0 && r[0].last == 9999);
    CHECK_EQ_INT(range_parse(NULL, 0, 10000, r, MAXR, &count), R_IGN);
    free(s);
    free(many);
}

/* Every prefix of valid fields, in a buffer of its exact size: no read beyond `len`. */
static void test_range_prefixes(void)
{
    static const char *const values[] = {"bytes=0-499, -5 ,, 600-", "BYTES=99999999999999999999-"};
    byte_range r[MAXR];
    size_t i, n, count;
    for (i = 0; i < sizeof values / sizeof *values; i++)
        for (n = 0; n <= strlen(values[i]); n++) {
            char *copy = exact_copy(values[i], n, 0);
            range_verdict v = range_parse(copy, n, 1000, r, MAXR, &count);
            CHECK(v == R_IGN || v == R_SAT || v == R_416);
            free(copy);
        }
}

/* ---- entity-tags ------------------------------------------------------------------------- */

typedef struct etag_case {
    const char *list;
    const char *etag;
    int strong, weak; /* expected results */
} etag_case;

static int list_match(const char *list, const char *etag, int weak)
{
    char *copy = exact_copy(list, strlen(list), 1);
    int m = etag_list_match(copy, etag, weak);
    free(copy);
    return m;
}

static void test_etag_lists(void)
{
    static const etag_case cases[] = {
        {"\"abc\"", "\"abc\"", 1, 1},
        {"\"abc\"", "\"abd\"", 0, 0},
        {"\"abc\"", "\"ab\"", 0, 0},
        {"W/\"abc\"", "\"abc\"", 0, 1},
        {"\"abc\"", "W/\"abc\"", 0, 1},
        {"W/\"abc\"", "W/\"abc\"", 0, 1},
        {"w/\"abc\"", "\"abc\"", 0, 0},     /* "W/" is case-sensitive */
        {"W/ \"abc\"", "\"abc\"", 0, 0},
        {"\"x\", \"abc\"", "\"abc\"", 1, 1},
        {"\"x\" ,\t\"abc\" ", "\"abc\"", 1, 1},
        {" \"x\",W/\"abc\"", "\"abc\"", 0, 1},
        {",\"abc\",", "\"abc\"", 1, 1},
        {"\"x\",,, \"abc\"", "\"abc\"", 1, 1},
        {"\"abc\" \"x\"", "\"abc\"", 0, 0},  /* no comma between: malformed */
        {"\"abc\", x", "\"abc\"", 0, 0},     /* malformed after a match: nothing */
        {"x, \"abc\"", "\"abc\"", 0, 0},
        {"\"abc", "\"abc\"", 0, 0},
        {"abc", "\"abc\"", 0, 0},
        {"\"abc\"x", "\"abc\"", 0, 0},
        {"\"a\"b\"", "\"a\"", 0, 0},
        {"\"ab\x7f\"", "\"ab\x7f\"", 0, 0}, /* DEL is no etagc */
        {"\"a b\"", "\"a b\"", 0, 0},        /* nor SP */
        {"\"\xc3\xa9\"", "\"\xc3\xa9\"", 1, 1}, /* obs-text is */
        {"\"a,b\"", "\"a,b\"", 1, 1},        /* a comma is etagc: one tag */
        {"\"a,b\"", "\"a\"", 0, 0},
        {"\"\"", "\"\"", 1, 1},
        {"\"\", \"abc\"", "\"abc\"", 1, 1},
        {"*", "\"abc\"", 1, 1},
        {" * ", "\"abc\"", 1, 1},
        {"*", "W/\"abc\"", 1, 1},
        {"*, \"abc\"", "\"abc\"", 0, 0},
        {"\"abc\", *", "\"abc\"", 0, 0},
        {"**", "\"abc\"", 0, 0},
        {"\"*\"", "\"abc\"", 0, 0},
        {"", "\"abc\"", 0, 0},
        {" , ", "\"abc\"", 0, 0},
        {"\"abc\"", "abc", 0, 0},            /* our own tag malformed */
        {"\"abc\"", "\"abc\" ", 0, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        int s = list_match(cases[i].list, cases[i].etag, 0);
        int w = list_match(cases[i].list, cases[i].etag, 1);
        CHECK_MSG(s == cases[i].strong && w == cases[i].weak, "'%s' vs '%s': %d %d, want %d %d",
                  cases[i].list, cases[i].etag, s, w, cases[i].strong, cases[i].weak);
    }
    CHECK_EQ_INT(etag_list_match(NULL, "\"a\"", 1), 0);
    CHECK_EQ_INT(etag_list_match("*", NULL, 0), 1);
    CHECK_EQ_INT(etag_list_match("\"a\"", NULL, 1), 0);
}

/* ---- HTTP-dates -------------------------------------------------------------------------- */

#define T_1994 INT64_C(784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define NO_DATE INT64_MIN

typedef struct date_case {
    const char *s;
    int64_t t; /* NO_DATE: not an HTTP-date */
} date_case;

static int64_t parse_date(const char *s, size_t len)
{
    char *copy = exact_copy(s, len, 0);
    int64_t t = 12345;
    int rc = httpdate_parse(copy, len, &t);
    free(copy);
    CHECK_MSG(rc == 0 || rc == -1, "\"%s\": %d", s, rc);
    return rc == 0 ? t : NO_DATE;
}

static void test_dates(void)
{
    static const date_case cases[] = {
        /* the three forms of §5.6.7's example */
        {"Sun, 06 Nov 1994 08:49:37 GMT", T_1994},
        {"Sunday, 06-Nov-94 08:49:37 GMT", T_1994},
        {"Sun Nov  6 08:49:37 1994", T_1994},
        {"Sun Nov 06 08:49:37 1994", T_1994},
        /* edges of the calendar */
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
        {"Sat, 01 Jan 0000 00:00:00 GMT", INT64_C(-62167219200)},
        {"Fri, 31 Dec 9999 23:59:59 GMT", INT64_C(253402300799)},
        {"Tue, 19 Jan 2038 03:14:08 GMT", INT64_C(2147483648)},
        {"Tue, 29 Feb 2000 00:00:00 GMT", INT64_C(951782400)},
        {"Thu, 29 Feb 2024 12:00:00 GMT", INT64_C(1709208000)},
        {"Wed, 01 Mar 2023 00:00:00 GMT", INT64_C(1677628800)},
        {"Sat, 31 Dec 2016 23:59:60 GMT", INT64_C(1483228800)}, /* leap second */
        {"Thu, 29 Feb 1900 00:00:00 GMT", NO_DATE},
        {"Wed, 29 Feb 2023 00:00:00 GMT", NO_DATE},
        {"Fri, 30 Feb 2024 00:00:00 GMT", NO_DATE},
        {"Thu, 31 Apr 2024 00:00:00 GMT", NO_DATE},
        {"Mon, 00 Jan 2024 00:00:00 GMT", NO_DATE},
        {"Mon, 32 Jan 2024 00:00:00 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 24:00:00 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 23:60:00 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 23:59:61 GMT", NO_DATE},
        /* the day-name must be one, but need not agree with the date */
        {"Mon, 06 Nov 1994 08:49:37 GMT", T_1994},
        {"Sux, 06 Nov 1994 08:49:37 GMT", NO_DATE},
        /* case-sensitive, exact whitespace, GMT only */
        {"sun, 06 Nov 1994 08:49:37 GMT", NO_DATE},
        {"SUN, 06 NOV 1994 08:49:37 GMT", NO_DATE},
        {"Sun, 06 nov 1994 08:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37 gmt", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37 UTC", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37 +0000", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37", NO_DATE},
        {"Sun,  06 Nov 1994 08:49:37 GMT", NO_DATE},
        {"Sun,06 Nov 1994 08:49:37 GMT", NO_DATE},
        {" Sun, 06 Nov 1994 08:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37 GMT ", NO_DATE},
        {"Sun, 6 Nov 1994 08:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 94 08:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 8:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 08:49 GMT", NO_DATE},
        {"Sun, 06 Nov 19944 08:49:37 GMT", NO_DATE},
        {"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", NO_DATE},
        {"Sun, 0x Nov 1994 08:49:37 GMT", NO_DATE},
        {"", NO_DATE},
        {"0", NO_DATE},
        {"784111777", NO_DATE},
        /* RFC 850: the long day-name and two-digit years, no more than 50 years ahead */
        {"Sun, 06-Nov-94 08:49:37 GMT", NO_DATE},
        {"Sunday, 06 Nov 1994 08:49:37 GMT", NO_DATE},
        {"Sunday, 06-Nov-1994 08:49:37 GMT", NO_DATE},
        {"sunday, 06-Nov-94 08:49:37 GMT", NO_DATE},
        {"Tuesday, 09-Nov-99 23:12:40 GMT", INT64_C(942189160)},
        {"Saturday, 01-Jan-00 00:00:00 GMT", INT64_C(946684800)},
        {"Wednesday, 01-Jan-25 00:00:00 GMT", INT64_C(1735689600)},
        {"Wednesday, 01-Jan-70 00:00:00 GMT", INT64_C(3155760000)},  /* 2070 */
        {"Tuesday, 01-Jan-75 00:00:00 GMT", INT64_C(3313526400)},   /* 2075 */
        {"Thursday, 01-Jan-76 00:00:00 GMT", INT64_C(189302400)},   /* 1976 */
        {"Tuesday, 29-Feb-00 00:00:00 GMT", INT64_C(951782400)},
        {"Monday, 29-Feb-01 00:00:00 GMT", NO_DATE},
        /* asctime: SP DIGIT or 2DIGIT for the day, the year last */
        {"Sun Nov 6 08:49:37 1994", NO_DATE},
        {"Sun Nov   6 08:49:37 1994", NO_DATE},
        {"Sun Nov  6 08:49:37 94", NO_DATE},
        {"Sun Nov  6 08:49:37 1994 GMT", NO_DATE},
        {"Sunday Nov  6 08:49:37 1994", NO_DATE},
        {"Thu Feb 29 00:00:00 2024", INT64_C(1709164800)},
        {"Thu Feb 30 00:00:00 2024", NO_DATE},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t t = parse_date(cases[i].s, strlen(cases[i].s));
        CHECK_MSG(t == cases[i].t, "\"%s\": %lld, want %lld", cases[i].s, (long long)t,
                  (long long)cases[i].t);
    }
    CHECK_EQ_INT(httpdate_parse(NULL, 0, &(int64_t){0}), -1);
    /* only `len` bytes count */
    CHECK_EQ_INT(parse_date("Sun, 06 Nov 1994 08:49:37 GMTxyz", 29), T_1994);
}

/* Every proper prefix of a date is not one; none is read beyond its length. */
static void test_date_prefixes(void)
{
    static const char *const dates[] = {"Sun, 06 Nov 1994 08:49:37 GMT",
                                        "Sunday, 06-Nov-94 08:49:37 GMT",
                                        "Sun Nov  6 08:49:37 1994"};
    size_t i, n;
    for (i = 0; i < 3; i++)
        for (n = 0; n < strlen(dates[i]); n++)
            CHECK_MSG(parse_date(dates[i], n) == NO_DATE, "%lu bytes of \"%s\"", (unsigned long)n, dates[i]);
}

/* httpdate_format's output parses back to the same second, across the years it writes. */
static void test_date_round_trip(void)
{
    static const int64_t fixed[] = {0, 1, 59, 86399, 86400, T_1994, 951782399, 951782400,
                                    INT64_C(253402300799), INT64_C(-62167219200), -1};
    char buf[HTTPDATE_LEN + 1];
    uint64_t x = 88172645463325252u;
    size_t i;
    int64_t t, back;
    for (i = 0; i < sizeof fixed / sizeof *fixed + 2000; i++) {
        if (i < sizeof fixed / sizeof *fixed) {
            t = fixed[i];
        } else { /* xorshift over year 0 to 9999 */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t = (int64_t)(x % UINT64_C(315569520000)) - INT64_C(62167219200);
        }
        httpdate_format(buf, t);
        back = parse_date(buf, HTTPDATE_LEN);
        CHECK_MSG(back == t, "%lld -> \"%s\" -> %lld", (long long)t, buf, (long long)back);
    }
}

/* ---- precond_evaluate: §13.2.2, each step and how they combine --------------------------- */

#define ETAG "\"v1\""
#define D_EQ "Sun, 06 Nov 1994 08:49:37 GMT"
#define D_BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define D_AFTER "Sun, 06 Nov 1994 08:49:38 GMT"
#define D_EQ_850 "Sunday, 06-Nov-94 08:49:37 GMT"
#define D_EQ_ASC "Sun Nov  6 08:49:37 1994"
#define PROCEED PRECOND_PROCEED
#define NOTMOD PRECOND_NOT_MODIFIED
#define FAILED PRECOND_FAILED

typedef struct precond_case {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
    int64_t mtime;
    precond_verdict get, put; /* for GET/HEAD, and for other methods */
} precond_case;

static void test_precond(void)
{
    static const precond_case cases[] = {
        {NULL, NULL, NULL, NULL, T_1994, PROCEED, PROCEED},
        /* 1: If-Match, strong comparison; "*" as we have a representation */
        {ETAG, NULL, NULL, NULL, T_1994, PROCEED, PROCEED},
        {"\"v2\"", NULL, NULL, NULL, T_1994, FAILED, FAILED},
        {"\"v2\", " ETAG, NULL, NULL, NULL, T_1994, PROCEED, PROCEED},
        {"W/" ETAG, NULL, NULL, NULL, T_1994, FAILED, FAILED},
        {"*", NULL, NULL, NULL, T_1994, PROCEED, PROCEED},
        {"v1", NULL, NULL, NULL, T_1994, FAILED, FAILED},
        {"", NULL, NULL, NULL, T_1994, FAILED, FAILED},
        /* 2: If-Unmodified-Since, only without If-Match */
        {NULL, NULL, NULL, D_EQ, T_1994, PROCEED, PROCEED},
        {NULL, NULL, NULL, D_AFTER, T_1994, PROCEED, PROCEED},
        {NULL, NULL, NULL, D_BEFORE, T_1994, FAILED, FAILED},
        {NULL, NULL, NULL, " " D_BEFORE "\t", T_1994, FAILED, FAILED},
        {NULL, NULL, NULL, "Sunday, 06-Nov-94 08:49:36 GMT", T_1994, FAILED, FAILED},
        {NULL, NULL, NULL, "garbage", T_1994, PROCEED, PROCEED},
        {NULL, NULL, NULL, D_BEFORE ", " D_AFTER, T_1994, PROCEED, PROCEED},
        {NULL, NULL, NULL, D_BEFORE, -1, PROCEED, PROCEED}, /* no Last-Modified */
        {ETAG, NULL, NULL, D_BEFORE, T_1994, PROCEED, PROCEED},
        {"\"v2\"", NULL, NULL, D_AFTER, T_1994, FAILED, FAILED},
        /* 3: If-None-Match, weak comparison: 304 for GET and HEAD, else 412 */
        {NULL, ETAG, NULL, NULL, T_1994, NOTMOD, FAILED},
        {NULL, "W/" ETAG, NULL, NULL, T_1994, NOTMOD, FAILED},
        {NULL, "\"a\", W/" ETAG, NULL, NULL, T_1994, NOTMOD, FAILED},
        {NULL, "*", NULL, NULL, T_1994, NOTMOD, FAILED},
        {NULL, "\"v2\"", NULL, NULL, T_1994, PROCEED, PROCEED},
        {NULL, "v1", NULL, NULL, T_1994, PROCEED, PROCEED},
        {NULL, "", NULL, NULL, T_1994, PROCEED, PROCEED},
        /* 4: If-Modified-Since, only for GET and HEAD, only without If-None-Match */
        {NULL, NULL, D_EQ, NULL, T_1994, NOTMOD, PROCEED},
        {NULL, NULL, D_AFTER, NULL, T_1994, NOTMOD, PROCEED},
        {NULL, NULL, D_BEFORE, NULL, T_1994, PROCEED, PROCEED},
        {NULL, NULL, D_EQ_850, NULL, T_1994, NOTMOD, PROCEED},
        {NULL, NULL, D_EQ_ASC, NULL, T_1994, NOTMOD, PROCEED},
        {NULL, NULL, "garbage", NULL, T_1994, PROCEED, PROCEED},
        {NULL, NULL, D_EQ ", " D_EQ, NULL, T_1994, PROCEED, PROCEED},
        {NULL, NULL, D_EQ, NULL, -1, PROCEED, PROCEED},
        {NULL, "\"v2\"", D_EQ, NULL, T_1994, PROCEED, PROCEED},
        {NULL, "garbage", D_EQ, NULL, T_1994, PROCEED, PROCEED},
        /* the order between the steps */
        {"\"v2\"", ETAG, NULL, NULL, T_1994, FAILED, FAILED},
        {NULL, ETAG, NULL, D_BEFORE, T_1994, FAILED, FAILED},
        {ETAG, ETAG, NULL, NULL, T_1994, NOTMOD, FAILED},
        {"*", "*", NULL, NULL, T_1994, NOTMOD, FAILED},
        {NULL, NULL, D_EQ, D_EQ, T_1994, NOTMOD, PROCEED},
        {NULL, NULL, D_EQ, D_BEFORE, T_1994, FAILED, FAILED},
        {ETAG, NULL, D_EQ, D_BEFORE, T_1994, NOTMOD, PROCEED},
        {ETAG, "\"v2\"", D_EQ, D_BEFORE, T_1994, PROCEED, PROCEED},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        const precond_case *c = &cases[i];
        precond_fields f = {c->if_match, c->if_none_match, c->if_modified_since,
                            c->if_unmodified_since};
        precond_verdict g = precond_evaluate(&f, ETAG, c->mtime, 1);
        precond_verdict p = precond_evaluate(&f, ETAG, c->mtime, 0);
        CHECK_MSG(g == c->get && p == c->put, "case %lu: GET %d PUT %d, want %d %d", (unsigned long)i,
                  (int)g, (int)p, (int)c->get, (int)c->put);
    }
    CHECK_EQ_INT(precond_evaluate(NULL, ETAG, T_1994, 1), PROCEED);
    {
        precond_fields any = {"*", NULL, NULL, NULL}, tag = {ETAG, NULL, NULL, NULL};
        precond_fields none = {NULL, "*", NULL, NULL};
        CHECK_EQ_INT(precond_evaluate(&any, NULL, T_1994, 1), PROCEED);
        CHECK_EQ_INT(precond_evaluate(&tag, NULL, T_1994, 1), FAILED);
        CHECK_EQ_INT(precond_evaluate(&none, NULL, T_1994, 1), NOTMOD);
    }
}

/* ---- If-Range ---------------------------------------------------------------------------- */

typedef struct if_range_case {
    const char *value, *etag;
    int64_t mtime;
    int applies;
} if_range_case;

static void test_if_range(void)
{
    static const if_range_case cases[] = {
        {ETAG, ETAG, T_1994, 1},
        {" " ETAG "\t", ETAG, T_1994, 1},
        {"\"v2\"", ETAG, T_1994, 0},
        {"W/" ETAG, ETAG, T_1994, 0}, /* a weak tag never matches */
        {"W/" ETAG, "W/" ETAG, T_1994, 0},
        {ETAG, "W/" ETAG, T_1994, 0},
        {ETAG ", " ETAG, ETAG, T_1994, 0}, /* one validator, not a list */
        {ETAG " x", ETAG, T_1994, 0},
        {"\"v1", ETAG, T_1994, 0},
        {"*", ETAG, T_1994, 0},
        {ETAG, NULL, T_1994, 0},
        {D_EQ, ETAG, T_1994, 1},
        {" " D_EQ " ", ETAG, T_1994, 1},
        {D_EQ_850, ETAG, T_1994, 1},
        {D_EQ_ASC, ETAG, T_1994, 1},
        {D_BEFORE, ETAG, T_1994, 0},
        {D_AFTER, ETAG, T_1994, 0}, /* only an exact match */
        {D_EQ, ETAG, -1, 0},
        {"Thu, 01 Jan 1970 00:00:00 GMT", ETAG, 0, 1},
        {"garbage", ETAG, T_1994, 0},
        {"", ETAG, T_1994, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *copy = exact_copy(cases[i].value, strlen(cases[i].value), 1);
        int got = precond_if_range(copy, cases[i].etag, cases[i].mtime);
        CHECK_MSG(got == cases[i].applies, "If-Range '%s': %d", cases[i].value, got);
        free(copy);
    }
    CHECK_EQ_INT(precond_if_range(NULL, ETAG, T_1994), 1);
}

/* ---- Accept-Encoding --------------------------------------------------------------------- */

#define ID ENC_IDENTITY
#define GZ ENC_GZIP
#define BR ENC_BR
#define ALL (ID | GZ | BR)

typedef struct encoding_case {
    const char *value;
    unsigned have, want;
} encoding_case;

static void test_encoding(void)
{
    static const encoding_case cases[] = {
        /* an empty field: identity only */
        {"", ALL, ID},
        {"  ", ALL, ID},
        {"", GZ | BR, 0},
        {",,", ALL, ID},
        /* preference by q, ties to br, then gzip, then identity */
        {"gzip", ALL, GZ},
        {"gzip, br", ALL, BR},
        {"br, gzip", ALL, BR},
        {"gzip, deflate, br, zstd", ALL, BR},
        {"br;q=0.5, gzip", ALL, GZ},
        {"gzip;q=0.5, br;q=0.5", ALL, BR},
        {"gzip;q=0.8, br;q=0.8, identity;q=0.8", ALL, BR},
        {"identity, gzip;q=0.5", ALL, ID},
        {"identity;q=0.9, gzip;q=0.95", ALL, GZ},
        {"gzip;q=0.001", ALL, GZ},
        {"br;q=0.001, gzip;q=0.002", ALL, GZ},
        {"gzip", ID | BR, ID}, /* br not named: not acceptable */
        {"br", GZ, 0},
        /* names: case-insensitive, x-gzip is gzip */
        {"x-gzip", ALL, GZ},
        {"X-GZIP", ALL, GZ},
        {"GZip", ALL, GZ},
        {"BR", ALL, BR},
        {"IDENTITY;q=0", ID, 0},
        {"gzipx", ALL, ID},
        /* q=0 excludes */
        {"gzip;q=0", ALL, ID},
        {"gzip;q=0, br;q=0", GZ | BR, 0},
        {"gzip;q=0.000", GZ | ID, ID},
        {"identity;q=0", ID, 0},
        {"identity;q=0", ALL, 0},
        {"identity;q=0, gzip", ALL, GZ},
        {"identity;q=0, *", ALL, BR},
        {"identity;q=0, *", ID, 0},
        /* "*": any coding not named */
        {"*", ALL, BR},
        {"*", ID, ID},
        {"*;q=0", ALL, 0},
        {"*;q=0", ID, 0},
        {"*;q=0, identity", ALL, ID},
        {"*;q=0, gzip", ALL, GZ},
        {"*;q=0.5, gzip;q=0.4", ALL, BR},
        {"*;q=0.5, gzip;q=0.6", ALL, GZ},
        {"*, br;q=0", GZ | BR, GZ},
        {"*, gzip;q=0, br;q=0", ALL, ID},
        {"*;q=0.2, identity;q=0.3", ALL, ID},
        /* codings we do not have */
        {"deflate", ALL, ID},
        {"deflate, zstd", GZ, 0},
        {"deflate", 0, 0},
        /* malformed elements are skipped */
        {"gzip;q=2", ALL, ID},
        {"gzip;q=1.5", ALL, ID},
        {"gzip;q=1.000", ALL, GZ},
        {"gzip;q=1.", ALL, GZ},
        {"gzip;q=0.", GZ | ID, ID},
        {"gzip;q=1.0001", ALL, ID},
        {"gzip;q=1.001", ALL, ID},
        {"gzip;q=0.0001", ALL, ID},
        {"gzip;q=", ALL, ID},
        {"gzip;q=.5", ALL, ID},
        {"gzip;q=-1", ALL, ID},
        {"gzip;q=0.5x", ALL, ID},
        {"gzip;q = 0.5", ALL, ID},
        {"gzip;level=1", ALL, ID},
        {"gzip;q=0.5;q=1", ALL, ID},
        {"gzip q=0.5", ALL, ID},
        {"g zip", ALL, ID},
        {";q=1", ALL, ID},
        {"identity;q=0x", ID, ID},
        {"*;q=O", ALL, ID},
        {"gzip;q=2, br", ALL, BR},
        /* OWS */
        {"gzip; q=0.5", GZ, GZ},
        {"gzip ;q=0.5", GZ, GZ},
        {"gzip ; q=0.5 ", GZ, GZ},
        {"gzip;Q=0.5", GZ, GZ},
        {" gzip\t,\tbr ", ALL, BR},
        {",,gzip,,", ALL, GZ},
        /* the first element naming a coding decides */
        {"gzip;q=0, x-gzip", GZ | ID, ID},
        {"gzip, gzip;q=0", GZ | ID, GZ},
        {"*;q=0, *", ALL, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *copy = exact_copy(cases[i].value, strlen(cases[i].value), 1);
        unsigned got = encoding_choose(copy, cases[i].have);
        CHECK_MSG(got == cases[i].want, "'%s' have %u: %u, want %u", cases[i].value,
                  cases[i].have, got, cases[i].want);
        free(copy);
    }
    /* no field: any coding; identity first, as the client said nothing */
    CHECK_EQ_INT(encoding_choose(NULL, ALL), ID);
    CHECK_EQ_INT(encoding_choose(NULL, GZ | BR), BR);
    CHECK_EQ_INT(encoding_choose(NULL, GZ), GZ);
    CHECK_EQ_INT(encoding_choose(NULL, 0), 0);
}

/* ---- Content-Type ------------------------------------------------------------------------ */

typedef struct mime_case {
    const char *name, *type;
} mime_case;

static void test_mime(void)
{
    static const char html[] = "text/html; charset=utf-8", bin[] = "application/octet-stream";
    static const mime_case builtin[] = {
        {"index.html", html},
        {"INDEX.HTML", html},
        {"a/b/page.Htm", html},
        {"style.css", "text/css; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"mod.mjs", "text/javascript; charset=utf-8"},
        {"data.json", "application/json"},
        {"app.js.map", "application/json"},
        {"site.webmanifest", "application/manifest+json"},
        {"feed.xml", "application/xml"},
        {"notes.txt", "text/plain; charset=utf-8"},
        {"t.csv", "text/csv; charset=utf-8"},
        {"README.md", "text/markdown; charset=utf-8"},
        {"logo.svg", "image/svg+xml"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.JPEG", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"a.webp", "image/webp"},
        {"a.avif", "image/avif"},
        {"favicon.ico", "image/x-icon"},
        {"a.bmp", "image/bmp"},
        {"f.woff", "font/woff"},
        {"f.woff2", "font/woff2"},
        {"f.ttf", "font/ttf"},
        {"f.otf", "font/otf"},
        {"m.wasm", "application/wasm"},
        {"d.pdf", "application/pdf"},
        {"v.mp4", "video/mp4"},
        {"v.webm", "video/webm"},
        {"s.mp3", "audio/mpeg"},
        {"s.ogg", "audio/ogg"},
        {"s.wav", "audio/wav"},
        {"a.zip", "application/zip"},
        {"a.tar", "application/x-tar"},
        {"archive.tar.gz", "application/gzip"},
        {"index.html.gz", "application/gzip"},
        /* no extension */
        {"README", bin},
        {".bashrc", bin},
        {"dir/.bashrc", bin},
        {".html", bin},
        {"dir.d/file", bin},
        {"file.", bin},
        {"dir/", bin},
        {"", bin},
        {".", bin},
        {"..", bin},
        {"a.unknown", bin},
        {"a.htmlx", bin},
        {"a.xhtml", "application/xhtml+xml"},
        {"html", bin},
        /* a hidden file's own extension counts */
        {".hidden.txt", "text/plain; charset=utf-8"},
        {"a/b.c/.x.css", "text/css; charset=utf-8"},
    };
    static const mime_case own[] = {
        {"README.md", "text/x-mine"}, /* before the built-in type */
        {"a.MD", "text/x-mine"},
        {"a.tar.gz", "application/x-tgz"},
        {"a.gz", "application/gzip"},
        {"x.tar.gz.gz", "application/gzip"},
        {"a.conf", "text/plain"},
        {".bashrc", bin},
        {"tar.gz", "application/gzip"}, /* "tar" is its name, "gz" its extension */
        {"a.html", html},
    };
    static const mote_mime_type types[] = {
        {"MD", "text/x-mine"},
        {"tar.gz", "application/x-tgz"},
        {NULL, "ignored/null-ext"},
        {"bashrc", "text/x-sh"},
        {"conf", "text/plain"},
        {"", "ignored/empty-ext"},
        {"html", NULL},
    };
    size_t i;
    for (i = 0; i < sizeof builtin / sizeof *builtin; i++) {
        const char *got = mote_mime_type_of(builtin[i].name, NULL, 0);
        CHECK_MSG(strcmp(got, builtin[i].type) == 0, "'%s': %s", builtin[i].name, got);
        got = mote_mime_type_of(builtin[i].name, NULL, 5);
        CHECK_MSG(strcmp(got, builtin[i].type) == 0, "'%s' (NULL, 5): %s", builtin[i].name, got);
    }
    for (i = 0; i < sizeof own / sizeof *own; i++) {
        const char *got = mote_mime_type_of(own[i].name, types, sizeof types / sizeof *types);
        CHECK_MSG(strcmp(got, own[i].type) == 0, "'%s' (own types): %s", own[i].name, got);
    }
    CHECK_EQ_STR(mote_mime_type_of(NULL, types, 1), bin);
    CHECK_EQ_STR(mote_mime_type_of("README.md", types, 0), "text/markdown; charset=utf-8");
}

int main(void)
{
    test_range_cases();
    test_range_limits();
    test_range_prefixes();
    test_etag_lists();
    test_dates();
    test_date_prefixes();
    test_date_round_trip();
    test_precond();
    test_if_range();
    test_encoding();
    test_mime();
    return check_report("test_static_parsers");
}
