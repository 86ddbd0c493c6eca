/* encoding.c - see encoding.h.
 *
 *   Accept-Encoding = #( codings [ weight ] )          codings = content-coding / "identity" / "*"
 *   weight = OWS ";" OWS "q=" qvalue                   (RFC 9110 §12.5.3, §12.4.2)
 *
 * Choices where RFC 9110 leaves room, and why:
 * - An element that does not parse (a bad qvalue, a parameter other than q) is skipped, as if
 *   absent: one sender's slip should not cost the whole field.
 * - When a coding is named twice ("gzip;q=0, x-gzip"), the first element decides: the field
 *   contradicts itself, and the first is what a sender that merges values wrote first.
 * - identity that the field does not name (and no "*" covers) is acceptable (§12.5.3) but
 *   ranks below any coding the client did name with a non-zero q: naming codings says the
 *   client prefers them. It gets the lowest qvalue there is, 0.001, so that a coding named
 *   with q=0.001 still wins the tie. */
#include "static/encoding.h"

#include <stddef.h>

#include "core/chars.h"

enum { CODING_IDENTITY, CODING_GZIP, CODING_BR, CODING_COUNT, CODING_STAR, CODING_OTHER };

/* The field's say about each coding: a qvalue in thousandths, or -1 when it says nothing. */
typedef struct preferences {
    int q[CODING_COUNT];
    int star;
} preferences;

typedef struct coding_cursor {
    const char *p;
    const char *end;
} coding_cursor;

static void coding_skip_ows(coding_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int coding_at(const coding_cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static int equal_nocase(const char *s, size_t len, const char *lower)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (lower[i] == '\0' || char_lower((unsigned char)s[i]) != lower[i]) return 0;
    return lower[len] == '\0';
}

static int coding_of(const char *s, size_t len)
{
    if (equal_nocase(s, len, "gzip") || equal_nocase(s, len, "x-gzip")) return CODING_GZIP;
    if (equal_nocase(s, len, "br")) return CODING_BR;
    if (equal_nocase(s, len, "identity")) return CODING_IDENTITY;
    if (len == 1 && s[0] == '*') return CODING_STAR;
    return CODING_OTHER;
}

static int coding_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 if not. */
static int take_qvalue(coding_cursor *c)
{
    int q, scale = 100, one;
    if (!coding_at(c, '0') && !coding_at(c, '1')) return -1;
    one = *c->p++ == '1';
    q = one ? 1000 : 0;
    if (!coding_at(c, '.')) return q;
    c->p++;
    for (; scale > 0 && c->p < c->end && coding_is_digit(*c->p); scale /= 10, c->p++) {
        if (one && *c->p != '0') return -1;
        q += (*c->p - '0') * scale;
    }
    return q;
}

/* weight = OWS ";" OWS "q=" qvalue, after the coding; 1000 when absent, -1 when malformed. */
static int take_weight(coding_cursor *c)
{
    coding_skip_ows(c);
    if (c->p == c->end) return 1000;
    if (*c->p != ';') return -1;
    c->p++;
    coding_skip_ows(c);
    if (c->end - c->p < 2 || char_lower((unsigned char)c->p[0]) != 'q' || c->p[1] != '=')
        return -1;
    c->p += 2;
    return take_qvalue(c);
}

/* One element, `c` spanning it (no comma inside); a malformed one changes nothing. */
static void note_element(coding_cursor c, preferences *prefs)
{
    const char *name = c.p;
    int coding, q;
    while (c.p < c.end && char_is((unsigned char)*c.p, CH_TOKEN)) c.p++;
    if (c.p == name) return;
    coding = coding_of(name, (size_t)(c.p - name));
    q = take_weight(&c);
    coding_skip_ows(&c);
    if (q < 0 || c.p != c.end || coding == CODING_OTHER) return;
    if (coding == CODING_STAR) {
        if (prefs->star < 0) prefs->star = q;
    } else if (prefs->q[coding] < 0) {
        prefs->q[coding] = q;
    }
}

static void read_preferences(const char *value, preferences *prefs)
{
    coding_cursor element;
    int i;
    for (i = 0; i < CODING_COUNT; i++) prefs->q[i] = -1;
    prefs->star = -1;
    element.p = value;
    while (*element.p != '\0') {
        element.end = element.p;
        while (*element.end != '\0' && *element.end != ',') element.end++;
        coding_skip_ows(&element);
        note_element(element, prefs);
        element.p = *element.end == ',' ? element.end + 1 : element.end;
    }
}

/* A coding's qvalue by §12.5.3: as named, else as "*" says, else (identity only) acceptable. */
static int qvalue_of(const preferences *prefs, int coding)
{
    if (prefs->q[coding] >= 0) return prefs->q[coding];
    if (prefs->star >= 0) return prefs->star;
    return coding == CODING_IDENTITY ? 1 : 0;
}

unsigned encoding_choose(const char *value, unsigned have)
{
    /* ties go to the first: the smallest output first */
    static const int order[CODING_COUNT] = {CODING_BR, CODING_GZIP, CODING_IDENTITY};
    static const unsigned bit[CODING_COUNT] = {ENC_IDENTITY, ENC_GZIP, ENC_BR};
    preferences prefs;
    unsigned best = 0;
    int best_q = 0, q, i;
    if (value == NULL) { /* any coding is acceptable: identity is safest for who did not ask */
        if (have & ENC_IDENTITY) return ENC_IDENTITY;
        return (have & ENC_BR) ? ENC_BR : (have & ENC_GZIP) ? ENC_GZIP : 0;
    }
    read_preferences(value, &prefs);
    for (i = 0; i < CODING_COUNT; i++) {
        if (!(have & bit[order[i]])) continue;
        q = qvalue_of(&prefs, order[i]);
        if (q > best_q) {
            best_q = q;
            best = bit[order[i]];
        }
    }
    return best;
}
