/* fuzz_static.c - the sans-I/O parsers of static content: Range (src/static/range.c), the
 * conditional requests and HTTP-dates (precond.c), Accept-Encoding (encoding.c) and
 * Content-Type by extension (mime.c).
 *
 * Input: two option bytes, then text. The first: `max` for ranges (low five bits), `have` for
 * Accept-Encoding (high three); the second: which of the six pieces below are present (low six
 * bits), GET or not, and the modification time. Every parser gets the text on every run:
 *   - range_parse() over all of it (the harness's buffer, exactly its size), for lengths from 0
 *     to UINT64_MAX: the ranges must be sorted,
 *     inside the representation, apart by at least RANGE_COALESCE_GAP bytes, at most `max`;
 *     the verdict must not depend on the length beyond what the RFC lets it (ignored is ignored
 *     for every non-zero length; satisfiable stays so for any longer one); and the ranges
 *     written back as a field must parse to themselves.
 *   - httpdate_parse() over all of it: a date must format (httpdate_format) and parse back to
 *     the same second, and an IMF-fixdate must format to itself (the day-name aside).
 *   - The text split at NULs into If-Match, If-None-Match, If-Modified-Since,
 *     If-Unmodified-Since, If-Range and an ETag (absent as the second byte says, or when the
 *     text has fewer pieces): the verdicts
 *     must follow §13.2.2 as a reference built from etag_list_match() and httpdate_parse()
 *     computes them; a strong match must be a weak one; an entity-tag If-Range that applies
 *     must be a strong match.
 *   - encoding_choose() on the text up to its first NUL, with `have` from the options: the
 *     choice is one coding of `have`, or none; identity, when there, must stay acceptable
 *     unless the field says "identity" or "*".
 *   - mote_mime_type_of() on the text up to its first NUL: always a type. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote_static.h"
#include "core/httpdate.h"
#include "static/encoding.h"
#include "static/precond.h"
#include "static/range.h"

#define MAX_RANGES 32

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_static: invariant failed: %s\n", what);
    abort();
}

/* n bytes at p, NUL-terminated, in a block of exactly that size. */
static char *exact_string(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* ---- Range ------------------------------------------------------------------------------ */

static void check_ranges(const byte_range *r, size_t count, uint64_t length, size_t max)
{
    size_t i;
    if (count == 0 || count > max) fail("range count out of bounds");
    for (i = 0; i < count; i++) {
        if (r[i].first > r[i].last || r[i].last >= length) fail("range outside the length");
        if (i && (r[i].first <= r[i - 1].last ||
                  r[i].first - r[i - 1].last - 1 < RANGE_COALESCE_GAP))
            fail("ranges unsorted, overlapping or not coalesced");
    }
}

/* The ranges as a field of their own must parse back to themselves. */
static void check_reparse(const byte_range *r, size_t count, uint64_t length)
{
    char *field = malloc(8 + count * 42), *p = field;
    byte_range again[MAX_RANGES];
    size_t n, i;
    if (!field) abort();
    p += sprintf(p, "bytes=");
    for (i = 0; i < count; i++)
        p += sprintf(p, "%s%llu-%llu", i ? "," : "", (unsigned long long)r[i].first,
                     (unsigned long long)r[i].last);
    if (range_parse(field, (size_t)(p - field), length, again, count, &n) != RANGE_SATISFIABLE ||
        n != count || memcmp(again, r, count * sizeof *r) != 0)
        fail("ranges written back parse differently");
    free(field);
}

static void fuzz_range(const uint8_t *data, size_t size, size_t max)
{
    static const uint64_t lengths[] = {0, 1, 2, 80, 1000, 10000, UINT64_C(1) << 40,
                                       UINT64_MAX - 1, UINT64_MAX};
    byte_range out[MAX_RANGES + 1];
    range_verdict v, first_positive = RANGE_IGNORE;
    size_t i, count;
    for (i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        memset(out, 0x5a, sizeof out);
        v = range_parse((const char *)data, size, lengths[i], out, max, &count);
        if (out[max].first != UINT64_C(0x5a5a5a5a5a5a5a5a)) fail("range written past max");
        if (v == RANGE_SATISFIABLE) {
            check_ranges(out, count, lengths[i], max);
            check_reparse(out, count, lengths[i]);
        } else if (count != 0) {
            fail("count set without ranges");
        }
        if (v != RANGE_IGNORE && v != RANGE_SATISFIABLE && v != RANGE_UNSATISFIABLE)
            fail("range verdict unknown");
        if (i == 1) first_positive = v;
        if (i > 1 && (v == RANGE_IGNORE) != (first_positive == RANGE_IGNORE))
            fail("ignored for one length and not another");
        if (i > 1 && first_positive == RANGE_SATISFIABLE && v != RANGE_SATISFIABLE)
            fail("satisfiable for a shorter representation only");
    }
}

/* ---- HTTP-date -------------------------------------------------------------------------- */

static void fuzz_date(const uint8_t *data, size_t size)
{
    char formatted[HTTPDATE_LEN + 1];
    int64_t t, back;
    if (httpdate_parse((const char *)data, size, &t) != 0) return;
    if (t < INT64_C(-62167219200) || t > INT64_C(253402300800)) fail("date outside 0000-9999");
    httpdate_format(formatted, t);
    if (httpdate_parse(formatted, HTTPDATE_LEN, &back) != 0 || back != t)
        fail("formatted date does not parse back");
    /* an IMF-fixdate but for a leap second: the same text from the day on */
    if (size == HTTPDATE_LEN && data[3] == ',' && memcmp(data + 23, "60", 2) != 0 &&
        memcmp(formatted + 3, data + 3, HTTPDATE_LEN - 3) != 0)
        fail("IMF-fixdate does not format to itself");
}

/* ---- conditional requests --------------------------------------------------------------- */

/* The text's NUL-separated pieces, NULL past the end or where `present` has no bit. */
typedef struct pieces {
    char *s[6];
} pieces;

static void split_pieces(const uint8_t *data, size_t size, unsigned present, pieces *out)
{
    size_t i, start = 0, end;
    for (i = 0; i < 6; i++) {
        out->s[i] = NULL;
        if (start > size) continue;
        for (end = start; end < size && data[end] != 0; end++) {}
        if (present & 1u << i) out->s[i] = exact_string(data + start, end - start);
        start = end + 1;
    }
}

static int field_date(const char *s, int64_t *t)
{
    size_t a = 0, b = strlen(s);
    while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
    return httpdate_parse(s + a, b - a, t) == 0;
}

/* §13.2.2, step by step, from the public pieces. */
static precond_verdict reference(const precond_fields *f, const char *etag, int64_t mtime,
                                 int get)
{
    int64_t t;
    if (f->if_match && !etag_list_match(f->if_match, etag, 0)) return PRECOND_FAILED;
    if (!f->if_match && f->if_unmodified_since && mtime >= 0 &&
        field_date(f->if_unmodified_since, &t) && mtime > t)
        return PRECOND_FAILED;
    if (f->if_none_match && etag_list_match(f->if_none_match, etag, 1))
        return get ? PRECOND_NOT_MODIFIED : PRECOND_FAILED;
    if (!f->if_none_match && get && f->if_modified_since && mtime >= 0 &&
        field_date(f->if_modified_since, &t) && mtime <= t)
        return PRECOND_NOT_MODIFIED;
    return PRECOND_PROCEED;
}

static void fuzz_precond(const uint8_t *data, size_t size, unsigned conditions)
{
    pieces p;
    precond_fields f;
    const char *etag;
    int64_t mtime, t;
    int get = (conditions & 0x40) != 0, i, s, w;
    split_pieces(data, size, conditions & 0x3f, &p);
    f.if_match = p.s[0];
    f.if_none_match = p.s[1];
    f.if_modified_since = p.s[2];
    f.if_unmodified_since = p.s[3];
    etag = p.s[5] ? p.s[5] : "\"v1\"";
    /* the modification time: none, or one the dates in the input may hit exactly */
    mtime = (conditions & 0x80) ? -1 : 784111777;
    for (i = 2; i < 5 && !(conditions & 0x80); i++) /* one of the dates, where there is one */
        if (p.s[i] && field_date(p.s[i], &t)) {
            mtime = t;
            break;
        }
    if (precond_evaluate(&f, etag, mtime, get) != reference(&f, etag, mtime, get))
        fail("precond_evaluate differs from §13.2.2");
    for (i = 0; i < 6; i++) {
        if (!p.s[i]) continue;
        s = etag_list_match(p.s[i], etag, 0);
        w = etag_list_match(p.s[i], etag, 1);
        if ((s != 0 && s != 1) || (w != 0 && w != 1)) fail("etag_list_match not 0 or 1");
        if (s && !w) fail("a strong match that is no weak match");
    }
    if (p.s[4]) {
        int applies = precond_if_range(p.s[4], etag, mtime);
        const char *v = p.s[4] + strspn(p.s[4], " \t");
        if (applies != 0 && applies != 1) fail("precond_if_range not 0 or 1");
        if (applies && v[0] == '"' && !etag_list_match(p.s[4], etag, 0))
            fail("If-Range applies for a tag that does not match strongly");
        if (applies && v[0] != '"' && (mtime < 0 || !field_date(p.s[4], &t) || t != mtime))
            fail("If-Range applies for a date that is not the modification time");
    }
    for (i = 0; i < 6; i++) free(p.s[i]);
}

/* ---- Accept-Encoding and Content-Type --------------------------------------------------- */

static int mentions(const char *s, const char *lower_word)
{
    size_t n = strlen(lower_word), i, k;
    for (i = 0; s[i]; i++) {
        for (k = 0; k < n && s[i + k] && (s[i + k] | 0x20) == lower_word[k]; k++) {}
        if (k == n) return 1;
    }
    return 0;
}

static void fuzz_encoding(const char *value, unsigned have)
{
    unsigned got = encoding_choose(value, have);
    if (got & ~have) fail("a coding we do not have");
    if (got & (got - 1)) fail("more than one coding");
    if ((have & ENC_IDENTITY) && !got && !strchr(value, '*') && !mentions(value, "identity"))
        fail("identity refused without being named");
    got = encoding_choose(NULL, have);
    if ((got & ~have) || (got & (got - 1)) || (have && !got)) fail("no field: a bad choice");
}

static void fuzz_mime(const char *name)
{
    const mote_mime_type own[] = {{"md", "text/x-own"}, {"tar.gz", "application/x-tgz"}};
    const char *type = mote_mime_type_of(name, own, 2);
    if (!type || !strchr(type, '/')) fail("no type");
    type = mote_mime_type_of(name, NULL, 0);
    if (!type || !strchr(type, '/')) fail("no built-in type");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned options, conditions;
    char *text;
    if (size < 2) return 0;
    options = data[0];
    conditions = data[1];
    data += 2;
    size -= 2;
    fuzz_range(data, size, options & 31);
    fuzz_date(data, size);
    fuzz_precond(data, size, conditions);
    text = exact_string(data, size); /* strings end at the first NUL */
    fuzz_encoding(text, options >> 5);
    fuzz_mime(text);
    free(text);
    return 0;
}
