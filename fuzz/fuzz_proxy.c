/* fuzz_proxy.c - the PROXY protocol header parser (src/core/proxy.c).
 *
 * Input: a byte choosing `max` (255: SIZE_MAX, else byte * 4 + byte % 4, so 0..1023 with every
 * remainder), then the bytes the connection starts with. Each call gets a buffer of exactly the
 * bytes it may read. Invariants:
 *   - the verdict is PROXY_BAD, 0, or a length in 1..min(len, max); 0 only while len < max;
 *     *out is written only with a length;
 *   - cut anywhere, the bytes give 0 until they give their final verdict, and keep it: PROXY_BAD
 *     from its first byte on, or the length n from n bytes on, with the same fields;
 *   - with no bound (SIZE_MAX) a refused header stays refused, and one found is the same one;
 *   - the fields are sane: v1 is a CRLF-ended line of at most 107 bytes, v2 16 bytes and its
 *     length field; a local header has zeroed addresses, another two of the same family (4 or
 *     6); ALPN and authority lie inside the header; a CRC32C TLV is right by a bitwise
 *     reference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proxy.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_proxy: invariant failed: %s\n", what);
    abort();
}

/* proxy_parse() on a copy of p[0..n) of exactly n bytes; the pointers of *out made offsets. */
static int parse(const uint8_t *p, size_t n, size_t max, proxy_info *out)
{
    uint8_t *copy = malloc(n ? n : 1);
    proxy_info before;
    int r;
    if (!copy) abort();
    memcpy(copy, p, n);
    memset(out, 0xa5, sizeof *out);
    before = *out;
    r = proxy_parse(copy, n, max, out);
    if (r <= 0 && memcmp(&before, out, sizeof before) != 0) fail("*out written without a length");
    if (r < PROXY_BAD || (r > 0 && ((size_t)r > n || (size_t)r > max)))
        fail("verdict out of range");
    if (r == 0 && n >= max) fail("0 with len >= max");
    if (r > 0 && out->alpn) {
        if (out->alpn < copy || out->alpn_len > (size_t)(copy + r - out->alpn))
            fail("ALPN outside the header");
        out->alpn = (const uint8_t *)(uintptr_t)(out->alpn - copy);
    }
    if (r > 0 && out->authority) {
        if (out->authority < copy || out->authority_len > (size_t)(copy + r - out->authority))
            fail("authority outside the header");
        out->authority = (const uint8_t *)(uintptr_t)(out->authority - copy);
    }
    free(copy);
    return r;
}

static int same_addr(const mote_addr *a, const mote_addr *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->bytes, b->bytes, 16) == 0;
}

static int same_info(const proxy_info *a, const proxy_info *b)
{
    return a->version == b->version && a->local == b->local && a->ssl == b->ssl &&
           same_addr(&a->src, &b->src) && same_addr(&a->dst, &b->dst) && a->alpn == b->alpn &&
           a->alpn_len == b->alpn_len && a->authority == b->authority &&
           a->authority_len == b->authority_len;
}

static uint32_t ref_crc32c(const uint8_t *p, size_t n, size_t zero)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= i >= zero && i < zero + 4 ? 0 : p[i];
        for (k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* The CRC32C TLVs of an accepted v2 header, walked here, are right. */
static void check_crc(const uint8_t *h, size_t n)
{
    static const size_t addr_len[4] = {0, 12, 36, 216};
    size_t i;
    if ((h[13] >> 4) > 3) return; /* LOCAL with an unknown family: opaque */
    for (i = 16 + addr_len[h[13] >> 4]; i + 3 <= n;) {
        size_t len = (size_t)h[i + 1] << 8 | h[i + 2];
        if (h[i] == 0x03) {
            uint32_t v = (uint32_t)h[i + 3] << 24 | (uint32_t)h[i + 4] << 16 |
                         (uint32_t)h[i + 5] << 8 | h[i + 6];
            if (len != 4 || ref_crc32c(h, n, i + 3) != v) fail("a wrong CRC32C accepted");
        }
        i += 3 + len;
    }
}

static void check_fields(const uint8_t *h, size_t n, const proxy_info *info)
{
    static const mote_addr none;
    if (info->version == 1) {
        if (h[0] != 'P' || n > PROXY_V1_MAX || h[n - 2] != '\r' || h[n - 1] != '\n')
            fail("a v1 line that is not one");
        if (info->ssl || info->alpn || info->authority) fail("v2 fields on a v1 line");
    } else if (info->version == 2) {
        if (n < PROXY_V2_HEAD || n != PROXY_V2_HEAD + ((size_t)h[14] << 8 | h[15]))
            fail("v2 length not its length field");
        check_crc(h, n);
    } else {
        fail("version neither 1 nor 2");
    }
    if (info->local) {
        if (!same_addr(&info->src, &none) || !same_addr(&info->dst, &none))
            fail("local with addresses");
    } else if ((info->src.family != 4 && info->src.family != 6) ||
               info->src.family != info->dst.family) {
        fail("addresses of no family, or of two");
    }
}

/* The verdicts of the prefixes: 0 up to the final verdict, then that verdict. */
static void check_prefixes(const uint8_t *buf, size_t len, size_t max, int r,
                           const proxy_info *info)
{
    size_t k, step = len <= 600 ? 1 : len / 300;
    proxy_info got;
    int refused = 0;
    for (k = 0; k < len; k += k < 64 || len - k < 64 ? 1 : step) {
        int rk = parse(buf, k, max, &got);
        if (r > 0 && k >= (size_t)r) {
            if (rk != r || !same_info(&got, info)) fail("a longer buffer changed the header");
        } else if (rk > 0) {
            fail("a header in a prefix, gone with more bytes");
        } else if (rk == PROXY_BAD) {
            if (r != PROXY_BAD) fail("refused, then not");
            refused = 1;
        } else if (refused) {
            fail("refused, then a beginning again");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max, len;
    const uint8_t *buf;
    proxy_info info, unbounded;
    int r, ru;
    if (size < 1) return 0;
    max = data[0] == 255 ? SIZE_MAX : (size_t)data[0] * 4 + data[0] % 4;
    buf = data + 1;
    len = size - 1;
    r = parse(buf, len, max, &info);
    if (r > 0) {
        proxy_info exact;
        check_fields(buf, (size_t)r, &info);
        if (parse(buf, (size_t)r, max, &exact) != r || !same_info(&exact, &info))
            fail("the header alone parses otherwise");
    }
    check_prefixes(buf, len, max, r, &info);
    ru = parse(buf, len, SIZE_MAX, &unbounded);
    if (ru == PROXY_BAD && r != PROXY_BAD) fail("a bound made a bad header good");
    if (r == 0 && ru != 0) fail("a bound changed a beginning");
    if (r > 0 && (ru != r || !same_info(&unbounded, &info))) fail("a bound changed the header");
    return 0;
}
