/* chars.h - the character classes of RFC 9110 §5.6 and RFC 3986, one table lookup each; and
 * word tests that vouch for eight bytes at once for the parser's longest runs. */
#ifndef MOTE_CHARS_H
#define MOTE_CHARS_H

#include <stddef.h>
#include <stdint.h>

enum {
    CH_TOKEN = 1,   /* tchar */
    CH_VCHAR = 2,   /* visible US-ASCII: a request-target byte */
    CH_FIELD = 4,   /* field-vchar, SP or HTAB: a field-value byte */
    CH_HOST = 8     /* reg-name: unreserved or sub-delims ('%' starts an escape) */
};

extern const uint8_t mote_char_class[256];

static inline int char_is(unsigned char c, unsigned cls)
{
    return (mote_char_class[c] & cls) != 0;
}

/* ---- eight bytes at a time, in portable C -------------------------------------------------
 * A word holds eight consecutive bytes with the first in its low-order byte, whatever the
 * machine's byte order, so the lowest marked byte of a mask is the earliest in the buffer.
 * A mask marks a byte with its 0x80 bit. The tests look at the low seven bits of each byte,
 * where adding at most 0x80 cannot carry into the next byte: every byte is judged alone. */

#define WORD_ONES UINT64_C(0x0101010101010101)
#define WORD_HIGH UINT64_C(0x8080808080808080)
#define WORD_LOW7 UINT64_C(0x7F7F7F7F7F7F7F7F)

/* Compilers turn this into one (possibly unaligned) load on little-endian machines. */
static inline uint64_t word_load(const unsigned char *s)
{
    return (uint64_t)s[0] | (uint64_t)s[1] << 8 | (uint64_t)s[2] << 16 | (uint64_t)s[3] << 24 |
           (uint64_t)s[4] << 32 | (uint64_t)s[5] << 40 | (uint64_t)s[6] << 48 |
           (uint64_t)s[7] << 56;
}

/* Marks the bytes whose low seven bits `low7` are at least c, for 0 < c <= 0x80. */
static inline uint64_t word_at_least(uint64_t low7, unsigned c)
{
    return (low7 + WORD_ONES * (0x80u - c)) & WORD_HIGH;
}

/* Marks every byte that may be outside `cls`, CH_VCHAR or CH_FIELD; an unmarked byte is surely
 * inside. HTAB, the one member of CH_FIELD that is marked, costs a table lookup. */
static inline uint64_t word_maybe_outside(uint64_t w, unsigned cls)
{
    /* Adding 1 turns DEL into 0x80, which the mask makes 0; so the low seven bits of the sum are
     * below 0x21 exactly for the controls and DEL (and for SP, below 0x22). */
    uint64_t shifted = ((w & WORD_LOW7) + WORD_ONES) & WORD_LOW7;
    if (cls == CH_FIELD) /* controls and DEL; obs-text is allowed */
        return ~(word_at_least(shifted, 0x21) | w) & WORD_HIGH;
    /* SP, controls, DEL and obs-text */
    return (~word_at_least(shifted, 0x22) | w) & WORD_HIGH;
}

/* The index (0-7) of the earliest marked byte of a mask, 0 when none is: the lowest mark
 * isolated, moved to bit 0 of its byte, and multiplied so that byte k's index lands in the top
 * byte. */
static inline unsigned word_first_marked(uint64_t m)
{
    return (unsigned)((((m & (0 - m)) >> 7) * UINT64_C(0x0001020304050607)) >> 56);
}

static inline int char_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Whether s[0..n) is the NUL-terminated `name`, without regard to case (field names). */
static inline int chars_equal_nocase(const char *s, size_t n, const char *name)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (char_lower((unsigned char)s[i]) != char_lower((unsigned char)name[i])) return 0;
    }
    return name[n] == '\0';
}

/* v / 10 for 64 bits, *rem = v % 10, in shifts and adds: where 64-bit division is a library
 * call (32-bit devices), none is linked for the rare value past 32 bits. */
uint64_t decimal_div10(uint64_t v, unsigned *rem);

/* Writes v in decimal at p (at most 20 bytes, no NUL); returns where it ends. */
static inline char *decimal_write(char *p, uint64_t v)
{
    /* digits counted, then written from the last: in 32 bits once the value fits */
    char *end = p + 1;
    uint64_t t;
    uint32_t w;
    unsigned digit;
    for (t = v; t > UINT32_MAX; t = decimal_div10(t, &digit)) end++;
    for (w = (uint32_t)t; w >= 10; w /= 10) end++;
    p = end;
    while (v > UINT32_MAX) {
        v = decimal_div10(v, &digit);
        *--p = (char)('0' + digit);
    }
    w = (uint32_t)v;
    do {
        *--p = (char)('0' + w % 10);
        w /= 10;
    } while (w);
    return end;
}

static inline int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = char_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

#endif
