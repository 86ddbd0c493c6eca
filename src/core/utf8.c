/* utf8.c - see utf8.h. Inside a character, the state holds the number of continuation bytes
 * still expected (bits 0-1) and the range the next one must fall in, lowest in bits 8-15 and
 * highest in bits 16-23. The range is 80..BF, save for the byte after the leads E0, ED, F0 and
 * F4, whose narrower ranges (RFC 3629 §4) refuse overlong forms, surrogates and code points
 * above U+10FFFF at the first byte that commits to them. UTF8_REJECT is the empty range FF..00,
 * so that no byte continues it. */
#include <string.h>

#include "core/utf8.h"

static uint32_t utf8_expect(unsigned need, unsigned lo, unsigned hi)
{
    return (uint32_t)need | (uint32_t)lo << 8 | (uint32_t)hi << 16;
}

/* The state after byte b at a character boundary. */
static uint32_t utf8_lead(unsigned b)
{
    if (b < 0x80) return UTF8_OK;
    /* a continuation; C0 and C1, which only start overlong forms; F5..FF, beyond U+10FFFF */
    if (b < 0xC2 || b > 0xF4) return UTF8_REJECT;
    if (b < 0xE0) return utf8_expect(1, 0x80u, 0xBFu);
    if (b < 0xF0) return utf8_expect(2, b == 0xE0 ? 0xA0u : 0x80u, b == 0xED ? 0x9Fu : 0xBFu);
    return utf8_expect(3, b == 0xF0 ? 0x90u : 0x80u, b == 0xF4 ? 0x8Fu : 0xBFu);
}

/* The state after byte b in state s. */
static uint32_t utf8_step(uint32_t s, unsigned b)
{
    unsigned need = (unsigned)(s & 3);
    if (s == UTF8_OK) return utf8_lead(b);
    if (b < (s >> 8 & 0xFF) || b > s >> 16) return UTF8_REJECT;
    return need == 1 ? UTF8_OK : utf8_expect(need - 1, 0x80u, 0xBFu);
}

/* Whether the eight bytes at p are all ASCII: byte order does not matter to that. */
static int utf8_ascii8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return (w & UINT64_C(0x8080808080808080)) == 0;
}

size_t utf8_validate(uint32_t *state, const unsigned char *p, size_t len)
{
    uint32_t s = *state;
    size_t i = 0;
    while (i < len) {
        if (s == UTF8_OK)
            while (len - i >= 8 && utf8_ascii8(p + i)) i += 8;
        if (i == len) break;
        s = utf8_step(s, p[i]);
        if (s == UTF8_REJECT) break;
        i++;
    }
    *state = s;
    return i;
}
