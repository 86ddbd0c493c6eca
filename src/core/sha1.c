/* sha1.c - see sha1.h. One compression function loops over the 80 rounds, and the message
 * schedule is a ring of 16 words rather than 80, so that code and stack stay small on a
 * microcontroller; the handshake hashes 60 bytes, where speed does not matter. */
#include <string.h>

#include "core/sha1.h"

/* n is 1, 5 or 30: never 0, whose right shift by 32 would be undefined */
static uint32_t sha1_rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t sha1_load(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Round t's function of b, c and d plus its constant (FIPS 180-4 §4.1.1, §4.2.1). */
static uint32_t sha1_f(unsigned t, uint32_t b, uint32_t c, uint32_t d)
{
    if (t < 20) return ((b & c) | (~b & d)) + 0x5A827999u;
    if (t < 40) return (b ^ c ^ d) + 0x6ED9EBA1u;
    if (t < 60) return ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDCu;
    return (b ^ c ^ d) + 0xCA62C1D6u;
}

static void sha1_compress(uint32_t h[5], const unsigned char block[64])
{
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], t32;
    unsigned t;
    for (t = 0; t < 16; t++) w[t] = sha1_load(block + 4 * t);
    for (t = 0; t < 80; t++) {
        /* W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), W[t-16] being the slot reused */
        if (t >= 16)
            w[t & 15] = sha1_rotl(w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^
                                  w[t & 15], 1);
        t32 = sha1_rotl(a, 5) + sha1_f(t, b, c, d) + e + w[t & 15];
        e = d;
        d = c;
        c = sha1_rotl(b, 30);
        b = a;
        a = t32;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1_init(sha1_ctx *c)
{
    c->h[0] = 0x67452301u;
    c->h[1] = 0xEFCDAB89u;
    c->h[2] = 0x98BADCFEu;
    c->h[3] = 0x10325476u;
    c->h[4] = 0xC3D2E1F0u;
    c->bytes = 0;
}

void sha1_update(sha1_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t used = (size_t)(c->bytes % 64), n = 64 - used < len ? 64 - used : len;
        memcpy(c->block + used, p, n);
        c->bytes += n;
        p += n;
        len -= n;
        if (used + n == 64) sha1_compress(c->h, c->block);
    }
}

void sha1_final(sha1_ctx *c, unsigned char out[SHA1_DIGEST_LEN])
{
    /* 0x80, zeros up to 56 bytes mod 64, then the length in bits, 64-bit big-endian (§5.1.1) */
    static const unsigned char pad[64] = {0x80};
    unsigned char length[8];
    uint64_t bits = c->bytes * 8;
    size_t used = (size_t)(c->bytes % 64);
    unsigned i;
    for (i = 0; i < 8; i++) length[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(c, pad, (119 - used) % 64 + 1); /* 1 to 64 bytes, so that used + it = 56 mod 64 */
    sha1_update(c, length, sizeof length);
    for (i = 0; i < SHA1_DIGEST_LEN; i++)
        out[i] = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}
