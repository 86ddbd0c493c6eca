/* addr.c - address formatting; see addr.h. */
#include "core/addr.h"

#include <string.h>

#include "core/chars.h"
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

/* ---- parsing (for trusted proxies' networks and forwarded fields) -------------------------- */

#if MOTE_CONFIG_PROXY

/* A decimal octet 0..255 without leading zeros at s[*i]; -1 when there is none. */
static int parse_octet(const char *s, size_t n, size_t *i)
{
    unsigned v = 0;
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9' && *i - start < 3) v = v * 10 + (unsigned)(s[(*i)++] - '0');
    if (*i == start || v > 255 || (s[start] == '0' && *i - start > 1)) return -1;
    return (int)v;
}

static int parse_ipv4(const char *s, size_t n, uint8_t *out)
{
    size_t i = 0;
    int k;
    for (k = 0; k < 4; k++) {
        int v;
        if (k && (i >= n || s[i++] != '.')) return -1;
        if ((v = parse_octet(s, n, &i)) < 0) return -1;
        out[k] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

/* The groups of an IPv6 address (RFC 4291 §2.2): eight, or fewer around one "::", the last two
 * possibly an IPv4 address. */
static int parse_ipv6(const char *s, size_t n, uint8_t *out)
{
    uint8_t b[16];
    size_t i = 0, at = 0, gap = 16;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n && s[0] == ':') {
        return -1;
    }
    while (i < n) {
        size_t start = i;
        unsigned v = 0;
        int h;
        while (i < n && i - start < 4 && (h = hex_value(s[i])) >= 0) {
            v = v * 16 + (unsigned)h;
            i++;
        }
        if (i < n && s[i] == '.') { /* the IPv4 tail */
            if (at > 12 || parse_ipv4(s + start, n - start, b + at) < 0) return -1;
            at += 4;
            i = n;
            break;
        }
        if (i == start || at == 16) return -1;
        b[at++] = (uint8_t)(v >> 8);
        b[at++] = (uint8_t)v;
        if (i == n) break;
        if (s[i++] != ':') return -1;
        if (i < n && s[i] == ':') {
            if (gap != 16) return -1;
            gap = at;
            i++;
        } else if (i == n) {
            return -1; /* a trailing single colon */
        }
    }
    if (gap == 16) {
        if (at != 16) return -1;
        memcpy(out, b, 16);
        return 0;
    }
    if (at > 14) return -1; /* "::" stands for at least one group */
    memset(out, 0, 16);
    memcpy(out, b, gap);
    memcpy(out + 16 - (at - gap), b + gap, at - gap);
    return 0;
}

int addr_parse(const char *s, size_t n, mote_addr *out)
{
    mote_addr a;
    memset(&a, 0, sizeof a);
    if (memchr(s, ':', n)) {
        if (parse_ipv6(s, n, a.bytes) < 0) return MOTE_EINVAL;
        a.family = 6;
    } else {
        if (parse_ipv4(s, n, a.bytes) < 0) return MOTE_EINVAL;
        a.family = 4;
    }
    *out = a;
    return MOTE_OK;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it carries. */
static mote_addr unmapped(const mote_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    mote_addr v4 = *a;
    if (a->family == 6 && memcmp(a->bytes, prefix, 12) == 0) {
        v4.family = 4;
        memmove(v4.bytes, a->bytes + 12, 4);
        memset(v4.bytes + 4, 0, 12);
    }
    return v4;
}

int addr_in_network(const mote_addr *a, const mote_addr *net, unsigned bits)
{
    mote_addr x = unmapped(a);
    unsigned whole = bits / 8, rest = bits % 8;
    if (x.family != net->family) return 0;
    if (memcmp(x.bytes, net->bytes, whole) != 0) return 0;
    return rest == 0 || ((x.bytes[whole] ^ net->bytes[whole]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

#endif /* MOTE_CONFIG_PROXY */
