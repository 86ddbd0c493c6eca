/* range.c - see range.h.
 *
 * The grammar (RFC 9110 §14.1.1, §14.1.2):
 *   ranges-specifier = range-unit "=" range-set        range-unit = token
 *   range-set        = 1#range-spec
 *   range-spec       = int-range / suffix-range / other-range
 *   int-range        = first-pos "-" [ last-pos ]      suffix-range = "-" suffix-length
 *
 * Choices where the RFC leaves room (each MAY of §14.2 taken as "ignore", never "reject"):
 * - Only "bytes" is understood (range units are case-insensitive, §14.1.1); another unit, a
 *   syntax error anywhere, or an int-range whose last-pos is below its first-pos (invalid,
 *   §14.1.2) makes the whole field RANGE_IGNORE: the full representation is sent.
 * - The list follows the recipient's #rule (§5.6.1.2): OWS around commas, and empty elements
 *   ("bytes=0-1,,2-3", "bytes=,0-1") ignored. They cost one comparison each and store nothing,
 *   so no count of them is kept; at least one range-spec must be present (1#).
 * - Numbers of any length are read exactly where it matters: a first-pos beyond 2^64 - 1 is a
 *   valid int-range that starts past any representation (unsatisfiable, not invalid); a
 *   last-pos or suffix-length that large clamps to the representation as any large one does;
 *   and last-pos < first-pos is decided on the digits, not on saturated values.
 * - A zero-length representation has no satisfiable int-range, and a suffix-range on it is
 *   "satisfiable" (§14.1.2) yet selects no byte, which no 206 can carry: the field is then
 *   ignored (200 with the empty content, which is what the suffix asked for); with only
 *   int-ranges or "-0" it is RANGE_UNSATISFIABLE (416, with the length 0 in Content-Range).
 * - `max` counts every range-spec, satisfiable or not: it bounds the work a field may ask for. */
#include "static/range.h"

#include "core/chars.h"

typedef struct range_cursor {
    const char *p;
    const char *end;
} range_cursor;

/* A run of digits: its value saturated at UINT64_MAX, and its significant digits (leading
 * zeros skipped) for exact comparison of values that do not fit. */
typedef struct decimal {
    uint64_t value;
    const char *digits;
    size_t count;
} decimal;

typedef enum spec_kind { SPEC_FROM, SPEC_FROM_TO, SPEC_SUFFIX } spec_kind;

typedef struct range_spec {
    spec_kind kind;
    decimal first; /* SPEC_SUFFIX: the suffix-length */
    decimal last;  /* SPEC_FROM_TO only */
} range_spec;

static int range_at(const range_cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static void range_skip_ows(range_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int range_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* 1*DIGIT; 0 when there is none. */
static int take_decimal(range_cursor *c, decimal *d)
{
    const char *start = c->p;
    d->value = 0;
    while (c->p < c->end && *c->p == '0') c->p++;
    d->digits = c->p;
    while (c->p < c->end && range_is_digit(*c->p)) {
        unsigned digit = (unsigned)(*c->p - '0');
        d->value = d->value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : d->value * 10 + digit;
        c->p++;
    }
    d->count = (size_t)(c->p - d->digits);
    return c->p > start;
}

/* a < b, exactly, however many digits either has. */
static int decimal_less(const decimal *a, const decimal *b)
{
    size_t i;
    if (a->count != b->count) return a->count < b->count;
    for (i = 0; i < a->count; i++)
        if (a->digits[i] != b->digits[i]) return a->digits[i] < b->digits[i];
    return 0;
}

/* "bytes" "=", the unit without regard to case; any other token is a unit we do not know. */
static int take_bytes_unit(range_cursor *c)
{
    static const char unit[] = "bytes";
    size_t i;
    for (i = 0; i < sizeof unit - 1; i++, c->p++)
        if (c->p == c->end || char_lower((unsigned char)*c->p) != unit[i]) return 0;
    if (!range_at(c, '=')) return 0;
    c->p++;
    return 1;
}

/* One int-range or suffix-range; 0 on anything else (an other-range is not a bytes range). */
static int take_spec(range_cursor *c, range_spec *s)
{
    if (range_at(c, '-')) {
        c->p++;
        s->kind = SPEC_SUFFIX;
        return take_decimal(c, &s->first);
    }
    if (!take_decimal(c, &s->first) || !range_at(c, '-')) return 0;
    c->p++;
    s->kind = SPEC_FROM;
    if (c->p < c->end && range_is_digit(*c->p)) {
        s->kind = SPEC_FROM_TO;
        take_decimal(c, &s->last);
        if (decimal_less(&s->last, &s->first)) return 0; /* invalid: the field is ignored */
    }
    return 1;
}

/* The bytes a spec selects in a representation of `length` bytes: 1 with `r` set, 0 when it
 * selects none. A saturated value stands for one at least as large, which is all that counts
 * here: such a first-pos starts past the end, such a last-pos or suffix reaches beyond it. */
static int resolve_spec(const range_spec *s, uint64_t length, byte_range *r)
{
    if (length == 0) return 0;
    if (s->kind == SPEC_SUFFIX) {
        if (s->first.value == 0) return 0; /* "-0": no byte at all */
        r->first = s->first.value >= length ? 0 : length - s->first.value;
        r->last = length - 1;
        return 1;
    }
    if (s->first.value >= length) return 0;
    r->first = s->first.value;
    r->last = s->kind == SPEC_FROM || s->last.value >= length ? length - 1 : s->last.value;
    return 1;
}

/* Insertion sort by first byte: `n` is at most the caller's `max`, a handful
 * (MOTE_CONFIG_STATIC_MAX_RANGES), and usually already in order. */
static void sort_ranges(byte_range *r, size_t n)
{
    size_t i, j;
    for (i = 1; i < n; i++) {
        byte_range key = r[i];
        for (j = i; j > 0 && r[j - 1].first > key.first; j--) r[j] = r[j - 1];
        r[j] = key;
    }
}

/* b starts at or after a: whether sending them as one costs less than two parts would. */
static int worth_merging(const byte_range *a, const byte_range *b)
{
    return b->first <= a->last || b->first - a->last - 1 < RANGE_COALESCE_GAP;
}

/* Merges sorted ranges in place; returns how many remain. */
static size_t merge_ranges(byte_range *r, size_t n)
{
    size_t kept = 0, i;
    for (i = 1; i < n; i++) {
        if (worth_merging(&r[kept], &r[i])) {
            if (r[i].last > r[kept].last) r[kept].last = r[i].last;
        } else {
            r[++kept] = r[i];
        }
    }
    return kept + 1;
}

range_verdict range_parse(const char *value, size_t len, uint64_t length, byte_range *out,
                          size_t max, size_t *count)
{
    range_cursor c;
    size_t specs = 0, n = 0;
    int empty_suffix = 0; /* a non-zero suffix-range on a zero-length representation */
    range_spec s;
    *count = 0;
    if (value == NULL) return RANGE_IGNORE;
    c.p = value;
    c.end = value + len;
    range_skip_ows(&c);
    if (!take_bytes_unit(&c)) return RANGE_IGNORE;
    for (;;) {
        range_skip_ows(&c);
        if (c.p < c.end && *c.p != ',') {
            if (!take_spec(&c, &s) || ++specs > max) return RANGE_IGNORE;
            if (resolve_spec(&s, length, &out[n])) n++;
            else if (s.kind == SPEC_SUFFIX && s.first.value != 0) empty_suffix = 1;
            range_skip_ows(&c);
        }
        if (c.p == c.end) break;
        if (*c.p != ',') return RANGE_IGNORE;
        c.p++;
    }
    if (specs == 0) return RANGE_IGNORE;
    if (n == 0) return empty_suffix ? RANGE_IGNORE : RANGE_UNSATISFIABLE;
    sort_ranges(out, n);
    *count = merge_ranges(out, n);
    return RANGE_SATISFIABLE;
}
