/* addr.c - address formatting; see addr.h. */
#include "core/addr.h"

#include <string.h>

#include "mote.h"

static char *format_decimal(char *p, unsigned v)
{
    if (v >= 100) *p++ = (char)('0' + v / 100);
    if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static char *format_ipv4(char *p, const uint8_t *b)
{
    int i;
    for (i = 0; i < 4; i++) {
        if (i) *p++ = '.';
        p = format_decimal(p, b[i]);
    }
    return p;
}

static char *format_group(char *p, unsigned v)
{
    static const char hex[] = "0123456789abcdef";
    int shift, started = 0;
    for (shift = 12; shift >= 0; shift -= 4) {
        unsigned d = (v >> shift) & 15;
        if (d || started || shift == 0) {
            *p++ = hex[d];
            started = 1;
        }
    }
    return p;
}

/* RFC 5952 §4.2: the longest run of two or more zero groups becomes "::", the first on a tie. */
static void longest_zero_run(const unsigned *g, int *start, int *len)
{
    int i = 0;
    *start = -1;
    *len = 0;
    while (i < 8) {
        int j = i;
        while (j < 8 && g[j] == 0) j++;
        if (j - i > *len && j - i >= 2) {
            *start = i;
            *len = j - i;
        }
        i = j > i ? j : i + 1;
    }
}

static char *format_ipv6(char *p, const uint8_t *b)
{
    unsigned g[8];
    int i, zs, zl;
    for (i = 0; i < 8; i++) g[i] = (unsigned)(b[2 * i] << 8 | b[2 * i + 1]);
    longest_zero_run(g, &zs, &zl);
    for (i = 0; i < 8; i++) {
        if (i == zs) {
            *p++ = ':';
            if (i == 0) *p++ = ':';
            i += zl - 1;
            continue;
        }
        p = format_group(p, g[i]);
        if (i < 7) *p++ = ':';
    }
    return p;
}

int addr_format(const mote_addr *a, char *buf, size_t len)
{
    char tmp[ADDR_TEXT_MAX];
    char *end;
    if (!buf) return MOTE_EINVAL;
    if (a->family == 4) end = format_ipv4(tmp, a->bytes);
    else if (a->family == 6) end = format_ipv6(tmp, a->bytes);
    else end = tmp + (memcpy(tmp, "-", 1), 1);
    if ((size_t)(end - tmp) + 1 > len) return MOTE_EINVAL;
    memcpy(buf, tmp, (size_t)(end - tmp));
    buf[end - tmp] = '\0';
    return MOTE_OK;
}
