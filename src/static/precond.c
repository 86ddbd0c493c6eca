/* precond.c - see precond.h.
 *
 * Choices where RFC 9110 leaves room, and why:
 * - Entity-tags follow §8.8.3 exactly: "W/" is case-sensitive, and etagc takes every visible
 *   byte but DQUOTE, so a comma inside the quotes is part of the tag, not a list separator.
 *   A list is "*" alone or #entity-tag with the recipient's OWS and empty elements (§5.6.1.2);
 *   any other element makes the whole list malformed, which matches nothing, even where an
 *   earlier element matched: half a list is not what the client sent.
 * - A missing Last-Modified (mtime < 0) means If-Unmodified-Since and If-Modified-Since are
 *   ignored (§13.1.4 and §13.1.3 say so: the resource has no modification date available),
 *   and an If-Range date never matches (§13.1.5: there is nothing it could match exactly).
 * - HTTP-dates are case-sensitive (§5.6.7) with no whitespace beyond the grammar's SP; a
 *   field's own leading and trailing OWS is not part of its value, so it is trimmed first.
 *   The day-name must be one, but is not checked against the date: the date is complete
 *   without it and §5.6.7 asks nothing more of a recipient. A second of 60 (a leap second,
 *   allowed by RFC 5322's time-of-day) counts as the next minute's first, as POSIX time does. */
#include "static/precond.h"

#include <string.h>

typedef struct tag_cursor {
    const char *p;
    const char *end;
} tag_cursor;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void tag_skip_ows(tag_cursor *c)
{
    while (c->p < c->end && is_ows(*c->p)) c->p++;
}

/* A field value without the OWS around it. */
static tag_cursor trimmed(const char *s)
{
    tag_cursor c;
    c.p = s;
    c.end = s + strlen(s);
    tag_skip_ows(&c);
    while (c.end > c.p && is_ows(c.end[-1])) c.end--;
    return c;
}

/* ---- entity-tags (§8.8.3) ------------------------------------------------------------- */

typedef struct entity_tag {
    const char *opaque; /* the opaque-tag, quotes included */
    size_t len;
    int weak;
} entity_tag;

/* etagc = %x21 / %x23-7E / obs-text */
static int is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/* entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE */
static int take_etag(tag_cursor *c, entity_tag *t)
{
    const char *p = c->p;
    t->weak = c->end - p >= 2 && p[0] == 'W' && p[1] == '/';
    if (t->weak) p += 2;
    if (p == c->end || *p != '"') return 0;
    t->opaque = p++;
    while (p < c->end && is_etagc((unsigned char)*p)) p++;
    if (p == c->end || *p != '"') return 0;
    t->len = (size_t)(++p - t->opaque);
    c->p = p;
    return 1;
}

/* The whole of `s` as one entity-tag, nothing around it. */
static int parse_etag(const char *s, entity_tag *t)
{
    tag_cursor c;
    c.p = s;
    c.end = s + strlen(s);
    return take_etag(&c, t) && c.p == c.end;
}

/* §8.8.3.2: strong comparison needs both strong; weak comparison looks at the opaque-tags. */
static int etag_equal(const entity_tag *a, const entity_tag *b, int weak)
{
    if (!weak && (a->weak || b->weak)) return 0;
    return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

int etag_list_match(const char *list, const char *etag_value, int weak)
{
    tag_cursor c;
    entity_tag mine, theirs;
    int have_mine, match = 0;
    if (list == NULL) return 0;
    c = trimmed(list);
    if (c.end - c.p == 1 && *c.p == '*') return 1; /* we have a current representation */
    have_mine = etag_value != NULL && parse_etag(etag_value, &mine);
    for (;;) {
        tag_skip_ows(&c);
        if (c.p < c.end && *c.p != ',') {
            if (!take_etag(&c, &theirs)) return 0;
            if (have_mine && etag_equal(&mine, &theirs, weak)) match = 1;
            tag_skip_ows(&c);
        }
        if (c.p == c.end) return match;
        if (*c.p != ',') return 0;
        c.p++;
    }
}

/* ---- HTTP-date (§5.6.7) ----------------------------------------------------------------- */

/* RFC 850's two-digit years are read relative to "now" (§5.6.7: a year more than 50 years in
 * the future is the latest past year with the same two digits). This layer has no clock, so
 * now is taken as this year: the window is 1976-2075, right for any date a client can have
 * seen (they are in the past) until 2075. */
#define RFC850_NOW_YEAR 2025u

/* A scan that stops at the first mismatch: each take after a failure does nothing, so a
 * form's grammar reads as a list of takes with one check at the end. */
typedef struct scan {
    const char *p;
    const char *end;
    int ok;
} scan;

typedef struct date_parts {
    unsigned year, month, day, hour, minute, second;
} date_parts;

static const char *const tag_month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_day_names[7] = {"Monday",   "Tuesday", "Wednesday", "Thursday",
                                              "Friday",   "Saturday", "Sunday"};

static scan scan_of(const char *s, size_t len)
{
    scan sc;
    sc.p = s;
    sc.end = s + len;
    sc.ok = 1;
    return sc;
}

static void take_text(scan *s, const char *text)
{
    size_t n = strlen(text);
    if (!s->ok || (size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0) {
        s->ok = 0;
        return;
    }
    s->p += n;
}

/* One of `words` (case-sensitive); returns its index. */
static unsigned take_word(scan *s, const char *const *words, unsigned n)
{
    unsigned i;
    size_t len;
    for (i = 0; s->ok && i < n; i++) {
        len = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= len && memcmp(s->p, words[i], len) == 0) {
            s->p += len;
            return i;
        }
    }
    s->ok = 0;
    return 0;
}

/* Exactly `digits` digits. */
static unsigned take_number(scan *s, unsigned digits)
{
    unsigned v = 0, i;
    for (i = 0; s->ok && i < digits; i++, s->p++) {
        if (s->p == s->end || *s->p < '0' || *s->p > '9') {
            s->ok = 0;
            return 0;
        }
        v = v * 10 + (unsigned)(*s->p - '0');
    }
    return v;
}

/* time-of-day = hour ":" minute ":" second */
static void take_time(scan *s, date_parts *d)
{
    d->hour = take_number(s, 2);
    take_text(s, ":");
    d->minute = take_number(s, 2);
    take_text(s, ":");
    d->second = take_number(s, 2);
}

static int finished(const scan *s)
{
    return s->ok && s->p == s->end;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf_fixdate(scan s, date_parts *d)
{
    take_word(&s, day_names, 7);
    take_text(&s, ", ");
    d->day = take_number(&s, 2);
    take_text(&s, " ");
    d->month = take_word(&s, tag_month_names, 12) + 1;
    take_text(&s, " ");
    d->year = take_number(&s, 4);
    take_text(&s, " ");
    take_time(&s, d);
    take_text(&s, " GMT");
    return finished(&s);
}

/* The two-digit year's century, by §5.6.7's rule around RFC850_NOW_YEAR. */
static unsigned year_of_two_digits(unsigned yy)
{
    unsigned year = RFC850_NOW_YEAR - RFC850_NOW_YEAR % 100 + yy;
    if (year > RFC850_NOW_YEAR + 50) year -= 100;
    else if (year + 100 <= RFC850_NOW_YEAR + 50) year += 100;
    return year;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT" */
static int parse_rfc850(scan s, date_parts *d)
{
    take_word(&s, long_day_names, 7);
    take_text(&s, ", ");
    d->day = take_number(&s, 2);
    take_text(&s, "-");
    d->month = take_word(&s, tag_month_names, 12) + 1;
    take_text(&s, "-");
    d->year = year_of_two_digits(take_number(&s, 2));
    take_text(&s, " ");
    take_time(&s, d);
    take_text(&s, " GMT");
    return finished(&s);
}

/* "Sun Nov  6 08:49:37 1994" (date3's day is 2DIGIT, or SP DIGIT) */
static int parse_asctime(scan s, date_parts *d)
{
    take_word(&s, day_names, 7);
    take_text(&s, " ");
    d->month = take_word(&s, tag_month_names, 12) + 1;
    take_text(&s, " ");
    if (s.ok && s.p < s.end && *s.p == ' ') {
        s.p++;
        d->day = take_number(&s, 1);
    } else {
        d->day = take_number(&s, 2);
    }
    take_text(&s, " ");
    take_time(&s, d);
    take_text(&s, " ");
    d->year = take_number(&s, 4);
    return finished(&s);
}

static int is_leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[month - 1] + (unsigned)(month == 2 && is_leap_year(year));
}

static int valid_date(const date_parts *d)
{
    return d->day >= 1 && d->day <= days_in_month(d->year, d->month) && d->hour <= 23 &&
           d->minute <= 59 && d->second <= 60;
}

/* Days from 1970-01-01 to a proleptic Gregorian date: whole 400-year eras (146097 days each)
 * from 0000-03-01, counting years from March so that a leap day ends its year. The inverse of
 * httpdate.c's civil_from_days(). */
static int64_t days_from_civil(unsigned year, unsigned month, unsigned day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned year_of_era = (unsigned)(y - era * 400);
    unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (int64_t)day_of_era - 719468;
}

int httpdate_parse(const char *s, size_t len, int64_t *out)
{
    date_parts d;
    scan sc;
    if (s == NULL) return -1;
    sc = scan_of(s, len);
    if (!parse_imf_fixdate(sc, &d) && !parse_rfc850(sc, &d) && !parse_asctime(sc, &d))
        return -1;
    if (!valid_date(&d)) return -1;
    *out = days_from_civil(d.year, d.month, d.day) * 86400 +
           (int64_t)(d.hour * 3600 + d.minute * 60 + d.second);
    return 0;
}

/* ---- the conditions (§13.1, §13.2.2) ---------------------------------------------------- */

/* A date field's value, OWS trimmed; 0 when it is not an HTTP-date (a list of dates is not
 * one either: its comma makes it fail). */
static int field_date(const char *value, int64_t *t)
{
    tag_cursor c = trimmed(value);
    return httpdate_parse(c.p, (size_t)(c.end - c.p), t) == 0;
}

/* §13.1.4: false when the representation changed after the date; ignored (not false) when
 * there is no modification date or the date is not one. */
static int unmodified_since_fails(const char *value, int64_t mtime)
{
    int64_t t;
    return mtime >= 0 && field_date(value, &t) && mtime > t;
}

/* §13.1.3: false (not modified) when the representation is no newer than the date. */
static int modified_since_fails(const char *value, int64_t mtime)
{
    int64_t t;
    return mtime >= 0 && field_date(value, &t) && mtime <= t;
}

precond_verdict precond_evaluate(const precond_fields *f, const char *etag_value, int64_t mtime,
                                 int get_or_head)
{
    if (f == NULL) return PRECOND_PROCEED;
    /* steps 1 and 2: If-Match, else If-Unmodified-Since (strong comparison, §13.1.1) */
    if (f->if_match) {
        if (!etag_list_match(f->if_match, etag_value, 0)) return PRECOND_FAILED;
    } else if (f->if_unmodified_since && unmodified_since_fails(f->if_unmodified_since, mtime)) {
        return PRECOND_FAILED;
    }
    /* steps 3 and 4: If-None-Match (weak comparison, §13.1.2), else If-Modified-Since */
    if (f->if_none_match) {
        if (etag_list_match(f->if_none_match, etag_value, 1))
            return get_or_head ? PRECOND_NOT_MODIFIED : PRECOND_FAILED;
    } else if (get_or_head && f->if_modified_since &&
               modified_since_fails(f->if_modified_since, mtime)) {
        return PRECOND_NOT_MODIFIED;
    }
    return PRECOND_PROCEED;
}

int precond_if_range(const char *value, const char *etag_value, int64_t mtime)
{
    tag_cursor c, tag;
    entity_tag theirs, mine;
    int64_t t;
    if (value == NULL) return 1; /* no condition: the ranges apply */
    c = trimmed(value);
    tag = c;
    if (take_etag(&tag, &theirs)) /* a weak tag never matches: strong comparison */
        return tag.p == tag.end && etag_value != NULL && parse_etag(etag_value, &mine) &&
               etag_equal(&mine, &theirs, 0);
    return mtime >= 0 && httpdate_parse(c.p, (size_t)(c.end - c.p), &t) == 0 && t == mtime;
}
