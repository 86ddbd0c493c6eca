/* proxy.c - the PROXY protocol header; see proxy.h.
 *
 * Nothing is kept between calls: each call scans the buffer from its start again, which costs
 * little (a v1 line is at most 107 bytes; v2 is read once its fixed part, then once the whole
 * header, is there) and leaves the caller no state to keep or reset. The v1 line is checked
 * byte by byte as far as it has come, so that a wrong byte is refused when it arrives rather
 * than when the CRLF does; v2's signature and fixed part likewise, its addresses and TLVs once
 * the whole header is there (its CRC32c needs all of it anyway). */
#include "core/proxy.h"

#include <string.h>

#include "core/chars.h"
#include "mote.h"

#if MOTE_CONFIG_PROXY

/* The shortest header of either version: "PROXY UNKNOWN\r\n". */
#define PROXY_V1_MIN 15

/* A step of the scanner: PROXY_BAD, or the bytes ran out while still valid, or done. */
enum { PP_MORE = 0, PP_OK = 1 };

/* The bytes seen so far, buf[0..end), and the next one to look at. */
typedef struct pp_cur {
    const uint8_t *buf;
    size_t i, end;
} pp_cur;

static size_t pp_be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* ---- v1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", TCP6, or UNKNOWN -------------------- */

static int pp_lit(pp_cur *c, const char *s, size_t n)
{
    size_t k;
    for (k = 0; k < n; k++, c->i++) {
        if (c->i == c->end) return PP_MORE;
        if (c->buf[c->i] != (uint8_t)s[k]) return PROXY_BAD;
    }
    return PP_OK;
}

/* A decimal number up to `limit` ended by `term`: an octet or a port, so no leading zeros
 * (the spec's grammar has none, and "010" reads as octal to some parsers). */
static int pp_decimal(pp_cur *c, unsigned limit, uint8_t term, unsigned *out)
{
    unsigned v = 0, digits = 0;
    for (;;) {
        uint8_t ch;
        if (c->i == c->end) return PP_MORE;
        ch = c->buf[c->i++];
        if (ch == term && digits) {
            *out = v;
            return PP_OK;
        }
        if (ch < '0' || ch > '9' || (digits && v == 0)) return PROXY_BAD;
        v = v * 10 + (unsigned)(ch - '0');
        if (v > limit) return PROXY_BAD;
        digits++;
    }
}

static int pp_ipv4(pp_cur *c, uint8_t term, uint8_t *out)
{
    unsigned k, v = 0;
    for (k = 0; k < 4; k++) {
        int r = pp_decimal(c, 255, k < 3 ? '.' : term, &v);
        if (r != PP_OK) return r;
        out[k] = (uint8_t)v;
    }
    return PP_OK;
}

/* An IPv6 address's 16-bit words as written, and where "::" stood among them. */
typedef struct pp_words {
    uint16_t w[8];
    unsigned n;      /* words so far */
    unsigned gap;    /* 1 once "::" was seen: it stands for at least one zero word */
    unsigned at;     /* the words before it */
} pp_words;

static void pp_words_bytes(const pp_words *a, uint8_t *out)
{
    unsigned k;
    /* the words after "::" go to the end (without one, n is 8 and every word stays put) */
    for (k = 0; k < a->n; k++) {
        unsigned pos = k < a->at ? k : 8 - (a->n - k);
        out[2 * pos] = (uint8_t)(a->w[k] >> 8);
        out[2 * pos + 1] = (uint8_t)a->w[k];
    }
}

/* The IPv4 tail ("::ffff:192.0.2.1"), its first octet being the group that began at `group`:
 * two words, the last ones. */
static int pp_ipv6_tail(pp_cur *c, size_t group, uint8_t term, pp_words *a)
{
    uint8_t q[4];
    int r;
    if (a->gap ? a->n + 2 > 7 : a->n != 6) return PROXY_BAD;
    c->i = group; /* read again as decimal: "0a." or "01." is refused at that byte */
    r = pp_ipv4(c, term, q);
    if (r != PP_OK) return r;
    a->w[a->n++] = (uint16_t)(q[0] << 8 | q[1]);
    a->w[a->n++] = (uint16_t)(q[2] << 8 | q[3]);
    return PP_OK;
}

/* The colon at c->i - 1, after a group of `len` digits, or after `colons` colons. */
static int pp_ipv6_colon(pp_words *a, unsigned *val, unsigned *len, unsigned *colons, int first)
{
    if (*len) {
        a->w[a->n++] = (uint16_t)*val;
        *val = *len = 0;
        *colons = 1;
        /* after the last word nothing may follow, nor "::" standing for no word */
        return a->n + a->gap >= 8 ? PROXY_BAD : PP_OK;
    }
    if (*colons == 1 && !a->gap) {
        a->gap = 1;
        a->at = a->n;
        *colons = 2;
        return PP_OK;
    }
    if (first) {
        *colons = 1; /* the first of a leading "::" */
        return PP_OK;
    }
    return PROXY_BAD; /* ":::" or a second "::" */
}

/* RFC 4291 §2.2's forms: eight groups, "::" for one run of zero groups, an IPv4 tail. Each byte
 * is refused as soon as no address can begin with what came so far. */
static int pp_ipv6(pp_cur *c, uint8_t term, uint8_t *out)
{
    pp_words a = {{0}, 0, 0, 0};
    size_t start = c->i, group = start;
    unsigned val = 0, len = 0, colons = 0;
    for (;;) {
        uint8_t ch;
        int h, r = PP_OK;
        if (c->i == c->end) return PP_MORE;
        ch = c->buf[c->i++];
        h = hex_value(ch);
        if (h >= 0) {
            /* a new group needs a word left, and one more when "::" is to stand for one; a
             * leading ':' is only the start of "::" */
            if (!len && (a.n + a.gap >= 8 || (colons == 1 && c->i - 1 == start + 1)))
                return PROXY_BAD;
            if (len == 4) return PROXY_BAD;
            if (!len) group = c->i - 1;
            val = val << 4 | (unsigned)h;
            len++;
            colons = 0;
        } else if (ch == ':') {
            r = pp_ipv6_colon(&a, &val, &len, &colons, c->i - 1 == start);
        } else if (ch == '.' && len) {
            r = pp_ipv6_tail(c, group, term, &a);
            if (r == PP_OK) break;
        } else if (ch == term) {
            if (len) a.w[a.n++] = (uint16_t)val;
            else if (colons != 2) return PROXY_BAD; /* empty, or ending in a lone ':' */
            if (!a.gap && a.n != 8) return PROXY_BAD;
            break;
        } else {
            return PROXY_BAD;
        }
        if (r != PP_OK) return r;
    }
    pp_words_bytes(&a, out);
    return PP_OK;
}

/* After "TCP4 " or "TCP6 ": the addresses and ports, and the line's end. */
static int pp_v1_tcp(pp_cur *c, uint8_t family, proxy_info *info)
{
    int (*addr)(pp_cur *, uint8_t, uint8_t *) = family == 4 ? pp_ipv4 : pp_ipv6;
    unsigned sport = 0, dport = 0;
    int r;
    if ((r = addr(c, ' ', info->src.bytes)) != PP_OK ||
        (r = addr(c, ' ', info->dst.bytes)) != PP_OK ||
        (r = pp_decimal(c, 65535, ' ', &sport)) != PP_OK ||
        (r = pp_decimal(c, 65535, '\r', &dport)) != PP_OK)
        return r;
    info->src.family = info->dst.family = family;
    info->src.port = (uint16_t)sport;
    info->dst.port = (uint16_t)dport;
    return pp_lit(c, "\n", 1);
}

/* After "UNKNOWN": the line's end, or a space and whatever the sender put before it (the spec
 * has the receiver ignore it; it may not hold a CR or LF of its own). */
static int pp_v1_unknown(pp_cur *c)
{
    if (c->i < c->end && c->buf[c->i] == ' ') {
        c->i++;
        while (c->i < c->end && c->buf[c->i] != '\r' && c->buf[c->i] != '\n') c->i++;
    }
    return pp_lit(c, "\r\n", 2);
}

static int pp_v1_line(pp_cur *c, proxy_info *info)
{
    size_t at;
    int r = pp_lit(c, "PROXY ", 6);
    if (r != PP_OK) return r;
    at = c->i;
    if ((r = pp_lit(c, "TCP4 ", 5)) != PROXY_BAD) return r == PP_OK ? pp_v1_tcp(c, 4, info) : r;
    c->i = at;
    if ((r = pp_lit(c, "TCP6 ", 5)) != PROXY_BAD) return r == PP_OK ? pp_v1_tcp(c, 6, info) : r;
    c->i = at;
    if ((r = pp_lit(c, "UNKNOWN", 7)) != PP_OK) return r;
    info->local = 1;
    return pp_v1_unknown(c);
}

static int pp_v1(const uint8_t *buf, size_t len, size_t max, proxy_info *out)
{
    size_t bound = max < PROXY_V1_MAX ? max : PROXY_V1_MAX;
    pp_cur c;
    proxy_info info = {0};
    int r;
    c.buf = buf;
    c.i = 0;
    c.end = len < bound ? len : bound; /* never a byte past the bound: no line is that long */
    r = pp_v1_line(&c, &info);
    if (r == PP_MORE) return len >= bound ? PROXY_BAD : 0;
    if (r != PP_OK) return PROXY_BAD;
    info.version = 1;
    *out = info;
    return (int)c.i;
}

/* ---- v2: a 16-byte fixed part, the addresses, then TLVs ------------------------------------- */

static const uint8_t pp2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_UNIQUE_ID = 0x05,
    PP2_TYPE_SSL = 0x20,
    PP2_CLIENT_SSL = 0x01,
    PP2_UNIQUE_ID_MAX = 128
};

/* Where the TLVs begin is unknown: a LOCAL header with a family this side does not know. */
#define PP2_OPAQUE ((size_t)-1)

/* The version and command byte, then the family byte, as far as they have come. */
static int pp2_fixed_ok(const uint8_t *buf, size_t len)
{
    if (len < 13) return 1;
    if (buf[12] >> 4 != 2 || (buf[12] & 15) > 1) return 0;
    /* LOCAL ignores the family; PROXY is TCP over IPv4 or IPv6, or unspecified (UDP and UNIX
     * sockets are not what an HTTP server accepts) */
    return len < 14 || (buf[12] & 15) == 0 || buf[13] == 0x00 || buf[13] == 0x11 ||
           buf[13] == 0x21;
}

/* The address block's length, by the address family alone (the spec's sizes). */
static size_t pp2_addr_len(uint8_t fam)
{
    static const uint8_t sizes[4] = {0, 12, 36, 216};
    return fam >> 4 < 4 ? sizes[fam >> 4] : PP2_OPAQUE;
}

static void pp2_addresses(const uint8_t *buf, proxy_info *info)
{
    size_t a = buf[13] == 0x11 ? 4 : 16; /* one address's bytes */
    const uint8_t *p = buf + PROXY_V2_HEAD;
    info->src.family = info->dst.family = a == 4 ? 4 : 6;
    memcpy(info->src.bytes, p, a);
    memcpy(info->dst.bytes, p + a, a);
    info->src.port = (uint16_t)pp_be16(p + 2 * a);
    info->dst.port = (uint16_t)pp_be16(p + 2 * a + 2);
}

/* Castagnoli's CRC (reflected 0x82F63B78) a nibble at a time: a 64-byte table rather than 1 KiB,
 * and headers are short. The 4 bytes at `zero` count as zeros (the checksum's own field). */
static uint32_t pp2_crc32c(const uint8_t *buf, size_t n, size_t zero)
{
    static const uint32_t nibble[16] = {
        0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
        0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
        0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75};
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc ^= i - zero < 4 ? 0u : buf[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

typedef struct pp2_tlv {
    uint8_t type;
    size_t at, len; /* the value: buf[at..at+len) */
} pp2_tlv;

/* The TLV at buf[*i..end), and *i past it; 0 when it runs past end. */
static int pp2_next(const uint8_t *buf, size_t *i, size_t end, pp2_tlv *t)
{
    if (end - *i < 3) return 0;
    t->type = buf[*i];
    t->len = pp_be16(buf + *i + 1);
    t->at = *i + 3;
    if (t->len > end - t->at) return 0;
    *i = t->at + t->len;
    return 1;
}

/* The client's flags, 4 bytes of verify result, then sub-TLVs that must fill the rest. */
static int pp2_ssl(const uint8_t *buf, const pp2_tlv *t, proxy_info *info)
{
    size_t i = t->at + 5, end = t->at + t->len;
    pp2_tlv sub;
    if (t->len < 5) return PROXY_BAD;
    while (i < end)
        if (!pp2_next(buf, &i, end, &sub)) return PROXY_BAD;
    if (buf[t->at] & PP2_CLIENT_SSL) info->ssl = 1;
    return PP_OK;
}

/* A value given twice would be read one way here and another way elsewhere: refused. */
static int pp2_once(const uint8_t *buf, const pp2_tlv *t, const uint8_t **value, size_t *len)
{
    if (*value) return PROXY_BAD;
    *value = buf + t->at;
    *len = t->len;
    return PP_OK;
}

static int pp2_tlv_one(const uint8_t *buf, const pp2_tlv *t, proxy_info *info, size_t *crc)
{
    switch (t->type) {
    case PP2_TYPE_ALPN:
        return pp2_once(buf, t, &info->alpn, &info->alpn_len);
    case PP2_TYPE_AUTHORITY:
        return pp2_once(buf, t, &info->authority, &info->authority_len);
    case PP2_TYPE_CRC32C:
        if (*crc || t->len != 4) return PROXY_BAD;
        *crc = t->at;
        return PP_OK;
    case PP2_TYPE_UNIQUE_ID:
        return t->len > PP2_UNIQUE_ID_MAX ? PROXY_BAD : PP_OK;
    case PP2_TYPE_SSL:
        return pp2_ssl(buf, t, info);
    default:
        return PP_OK; /* NOOP, NETNS, and types yet to come: the spec has them ignored */
    }
}

/* The TLVs of buf[i..n), which they must fill exactly; *crc is the checksum's offset, or 0. */
static int pp2_tlvs(const uint8_t *buf, size_t i, size_t n, proxy_info *info, size_t *crc)
{
    pp2_tlv t;
    while (i < n)
        if (!pp2_next(buf, &i, n, &t) || pp2_tlv_one(buf, &t, info, crc) != PP_OK)
            return PROXY_BAD;
    return PP_OK;
}

/* The whole header, buf[0..n), its fixed part already checked. */
static int pp2_header(const uint8_t *buf, size_t n, size_t addr, proxy_info *out)
{
    proxy_info info = {0};
    size_t crc = 0;
    const uint8_t *v;
    info.version = 2;
    info.local = (buf[12] & 15) == 0 || buf[13] == 0x00;
    if (!info.local) pp2_addresses(buf, &info);
    if (addr != PP2_OPAQUE && pp2_tlvs(buf, PROXY_V2_HEAD + addr, n, &info, &crc) != PP_OK)
        return PROXY_BAD;
    v = buf + crc;
    if (crc && pp2_crc32c(buf, n, crc) !=
                   ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]))
        return PROXY_BAD;
    *out = info;
    return (int)n;
}

static int pp_v2(const uint8_t *buf, size_t len, size_t max, proxy_info *out)
{
    size_t i, n, addr;
    for (i = 0; i < len && i < sizeof pp2_sig; i++)
        if (buf[i] != pp2_sig[i]) return PROXY_BAD;
    if (max < PROXY_V2_HEAD || !pp2_fixed_ok(buf, len)) return PROXY_BAD;
    if (len < PROXY_V2_HEAD) return 0;
    /* the length is known: refuse an oversized header now rather than after reading it */
    n = PROXY_V2_HEAD + pp_be16(buf + 14);
    addr = pp2_addr_len(buf[13]);
    if (n > max || (addr != PP2_OPAQUE && n - PROXY_V2_HEAD < addr)) return PROXY_BAD;
    if (len < n) return 0;
    return pp2_header(buf, n, addr, out);
}

int proxy_parse(const uint8_t *buf, size_t len, size_t max, proxy_info *out)
{
    if (max < PROXY_V1_MIN) return PROXY_BAD; /* not even the shortest header fits */
    if (len == 0) return 0;
    if (buf[0] == 'P') return pp_v1(buf, len, max, out);
    if (buf[0] == pp2_sig[0]) return pp_v2(buf, len, max, out);
    return PROXY_BAD;
}

#endif /* MOTE_CONFIG_PROXY */
