/* chars.h - the character classes of RFC 9110 §5.6 and RFC 3986, one table lookup each. */
#ifndef MOTE_CHARS_H
#define MOTE_CHARS_H

#include <stdint.h>

enum {
    CH_TOKEN = 1,   /* tchar */
    CH_VCHAR = 2,   /* visible US-ASCII: a request-target byte */
    CH_FIELD = 4,   /* field-vchar, SP or HTAB: a field-value byte */
    CH_HOST = 8     /* reg-name: unreserved, sub-delims or '%' */
};

extern const uint8_t mote_char_class[256];

static inline int char_is(unsigned char c, unsigned cls)
{
    return (mote_char_class[c] & cls) != 0;
}

static inline int char_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static inline int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = char_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

#endif
