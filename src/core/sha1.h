/* sha1.h - SHA-1 (FIPS 180-4), for the WebSocket handshake's Sec-WebSocket-Accept (RFC 6455
 * §4.2.2), which needs no collision resistance: nothing secret or signed may rely on it.
 * Incremental: the message may be fed in any split. */
#ifndef MOTE_SHA1_H
#define MOTE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

typedef struct sha1_ctx {
    uint32_t h[5];            /* the chaining value */
    uint64_t bytes;           /* bytes fed so far; the last bytes % 64 of them wait in block */
    unsigned char block[64];
} sha1_ctx;

void sha1_init(sha1_ctx *c);
void sha1_update(sha1_ctx *c, const void *data, size_t len);
/* Writes the digest; c needs sha1_init() again before another message. */
void sha1_final(sha1_ctx *c, unsigned char out[SHA1_DIGEST_LEN]);

#endif
