/* proxy.h - the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), as its
 * receiving side: a load balancer in front of the server sends it first on each connection to
 * say whom the connection is really from.
 *
 * Strict and sans-I/O: the caller keeps the connection's first bytes in one buffer that grows
 * at its end and calls proxy_parse() with all of it each time more arrive. Nothing is
 * allocated or written but *out; results point into the caller's buffer. */
#ifndef MOTE_PROXY_H
#define MOTE_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define PROXY_V1_MAX 107      /* the longest v1 line, CRLF included (the spec's bound) */
#define PROXY_V2_HEAD 16      /* v2's fixed part */
enum { PROXY_BAD = -1 };

typedef struct proxy_info {
    uint8_t version;          /* 1 or 2 */
    /* 1: v2 LOCAL, v1 UNKNOWN, or v2 PROXY with AF_UNSPEC: the connection's own addresses
     * stand, src/dst are zeroed */
    uint8_t local;
    mote_addr src, dst;       /* the client's and the proxy's-side destination address */
    /* v2 PP2_TYPE_SSL present with PP2_CLIENT_SSL set: the client spoke TLS to the proxy */
    uint8_t ssl;
    const uint8_t *alpn;      /* v2 PP2_TYPE_ALPN value, into the caller's buffer, or NULL */
    size_t alpn_len;
    /* v2 PP2_TYPE_AUTHORITY value (the SNI host), into the buffer, or NULL */
    const uint8_t *authority;
    size_t authority_len;
} proxy_info;

/* Parses the header at the start of buf[0..len).
 * Returns the header's length (> 0) when buf starts with a whole valid header (*out filled;
 * bytes after it are not looked at),
 * 0 when buf[0..len) is a valid beginning of a header that is not yet complete and could still
 * fit in `max` bytes,
 * PROXY_BAD when no continuation can make it valid: wrong signature (decided on the first
 * differing byte, e.g. "GET " fails at once), malformed v1 line, unknown version/command/family,
 * lengths inconsistent, a bad CRC32c TLV, or a header longer than `max` (max is the caller's
 * bound on the whole header in bytes; v1 is always also bound by PROXY_V1_MAX).
 * *out is written only when a length is returned. */
int proxy_parse(const uint8_t *buf, size_t len, size_t max, proxy_info *out);

#endif
