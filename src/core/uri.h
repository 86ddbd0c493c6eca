/* uri.h - request-target paths and query strings (RFC 3986): percent-decoding, dot-segment
 * removal, and form-style key=value pairs. Pure functions over caller-owned buffers. */
#ifndef MOTE_URI_H
#define MOTE_URI_H

#include <stddef.h>

/* Decodes the path src[0..len) into dst (at least len + 1 bytes) and removes its dot-segments
 * (RFC 3986 §5.2.4), NUL-terminated. Returns the new length, or -1 for a bad escape, an encoded
 * NUL, or a path that climbs above the root. */
long uri_normalize_path(const char *src, size_t len, char *dst);

/* Whether uri_normalize_path() gives src[0..len) back unchanged: no escape, and no "/." at
 * all, so no segment is a dot-segment. Most paths are, and need no copy. */
int uri_path_is_normal(const char *src, size_t len);

#endif
