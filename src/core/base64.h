/* base64.h - base64 with the standard alphabet and padding (RFC 4648 §4): Basic credentials
 * (RFC 7617) and the WebSocket handshake's key and accept values (RFC 6455 §4). */
#ifndef MOTE_BASE64_H
#define MOTE_BASE64_H

#include <stddef.h>

/* The length of the encoding of n bytes. */
#define BASE64_ENCODED_LEN(n) (4 * (((n) + 2) / 3))

/* Writes the encoding of in[0..len) to out: BASE64_ENCODED_LEN(len) characters, no NUL.
 * Returns that count. */
size_t base64_encode(const unsigned char *in, size_t len, char *out);

/* Decodes s[0..len) strictly: a length that is a multiple of 4, '=' only as the last one or
 * two characters, no whitespace or other character outside the alphabet. Returns the number of
 * bytes written to out, or -1 if s is malformed or decodes to more than out_size bytes (out may
 * then hold part of it). The empty string decodes to 0 bytes. The unused bits before the padding
 * are not checked (RFC 4648 §3.5 leaves that to the decoder). */
long base64_decode(const char *s, size_t len, unsigned char *out, size_t out_size);

#endif
