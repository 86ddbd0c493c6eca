/* uri.c - see uri.h, and the query helpers of mote.h. */
#include "core/uri.h"

#include <string.h>

#include "core/chars.h"
#include "mote.h"

/* The byte of the escape "%XX" at s[0], or -1. */
static int escape_value(const char *s, size_t avail)
{
    int hi, lo;
    if (avail < 3) return -1;
    hi = hex_value((unsigned char)s[1]);
    lo = hex_value((unsigned char)s[2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* RFC 3986 §5.2.4 on a path that starts with '/', in place; -1 if it climbs above the root. */
static long remove_dot_segments(char *p, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        size_t s = r + 1, e = s, n;
        int last;
        while (e < len && p[e] != '/') e++;
        n = e - s;
        last = e >= len;
        if (n == 1 && p[s] == '.') {
            if (last) p[w++] = '/';
        } else if (n == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (w == 0) return -1;
            while (p[w - 1] != '/') w--;
            w--;
            if (last) p[w++] = '/';
        } else {
            p[w++] = '/';
            memmove(p + w, p + s, n);
            w += n;
        }
        r = e;
    }
    if (w == 0) p[w++] = '/';
    p[w] = '\0';
    return (long)w;
}

/* Decoding comes first, so "%2e%2e" is ".." and "%2F" a separator: the segments removed are
 * the ones routing then sees (RFC 3986 §6.2.2.2 decodes unreserved characters the same way). */
long uri_normalize_path(const char *src, size_t len, char *dst)
{
    size_t i = 0, n = 0;
    while (i < len) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            c = escape_value(src + i, len - i);
            if (c <= 0) return -1; /* a bad escape, or an encoded NUL */
            i += 3;
        } else {
            i++;
        }
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    if (n == 0 || dst[0] != '/') return (long)n; /* "*" */
    return remove_dot_segments(dst, n);
}

int uri_path_is_normal(const char *src, size_t len)
{
    const char *dot = src, *end = src + len;
    if (memchr(src, '%', len)) return 0;
    while ((dot = memchr(dot, '.', (size_t)(end - dot))) != NULL) {
        if (dot > src && dot[-1] == '/') return 0;
        dot++;
    }
    return 1;
}

/* The byte a form component ('+' is a space) decodes to at s[*i], advancing *i; -1 for a bad
 * escape or an encoded NUL. */
static int component_byte(const char *s, size_t len, size_t *i)
{
    int c = (unsigned char)s[*i];
    if (c == '%') {
        c = escape_value(s + *i, len - *i);
        if (c <= 0) return -1;
        *i += 3;
        return c;
    }
    *i += 1;
    return c == '+' ? ' ' : c;
}

/* Decodes a form component into out[0..size), NUL-terminated. */
static int decode_component(const char *s, size_t len, char *out, size_t size)
{
    size_t i = 0, n = 0;
    if (!out || size == 0) return MOTE_ETOOBIG;
    while (i < len) {
        int c = component_byte(s, len, &i);
        if (c < 0) return MOTE_EINVAL;
        if (n + 1 >= size) return MOTE_ETOOBIG;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return (int)(n > 0x7fffffff ? 0x7fffffff : n);
}

/* Whether a form component decodes to exactly `key`, whatever its length. */
static int component_is(const char *s, size_t len, const char *key)
{
    size_t i = 0, k = 0;
    while (i < len) {
        int c = component_byte(s, len, &i);
        if (c < 0 || key[k] == '\0' || (unsigned char)key[k] != c) return 0; /* c may be NUL */
        k++;
    }
    return key[k] == '\0';
}

int mote_query_next(mote_str query, size_t *pos, char *key, size_t key_size, char *value,
                    size_t value_size)
{
    size_t i, start, eq;
    int rc;
    if (!pos || (!query.ptr && query.len)) return MOTE_EINVAL;
    i = *pos;
    while (i < query.len && query.ptr[i] == '&') i++; /* empty pairs are nothing */
    if (i >= query.len) {
        *pos = query.len;
        return 0;
    }
    start = i;
    while (i < query.len && query.ptr[i] != '&') i++;
    for (eq = start; eq < i && query.ptr[eq] != '='; eq++) {
    }
    rc = decode_component(query.ptr + start, eq - start, key, key_size);
    if (rc >= 0)
        rc = decode_component(query.ptr + eq + (eq < i), i - eq - (eq < i), value, value_size);
    if (rc < 0) return rc;
    *pos = i;
    return 1;
}

int mote_query_get(mote_str query, const char *key, char *value, size_t value_size)
{
    size_t pos = 0, i, start, eq;
    if (!key || (!query.ptr && query.len)) return MOTE_EINVAL;
    /* walk the pairs without copying their values: only a matching key's value is decoded */
    while (pos < query.len) {
        while (pos < query.len && query.ptr[pos] == '&') pos++;
        start = i = pos;
        while (i < query.len && query.ptr[i] != '&') i++;
        for (eq = start; eq < i && query.ptr[eq] != '='; eq++) {
        }
        pos = i;
        if (eq == start && i == start) continue;
        if (!component_is(query.ptr + start, eq - start, key)) continue;
        return decode_component(query.ptr + eq + (eq < i), i - eq - (eq < i), value, value_size);
    }
    return MOTE_ENOTFOUND;
}
