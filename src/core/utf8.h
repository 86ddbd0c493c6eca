/* utf8.h - an incremental UTF-8 validator (RFC 3629: no overlong forms, no surrogates
 * U+D800..DFFF, nothing above U+10FFFF) for WebSocket text, which an endpoint must refuse as
 * soon as it turns invalid (RFC 6455 §8.1), whatever the split into frames and reads. */
#ifndef MOTE_UTF8_H
#define MOTE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* state 0 is "at a character boundary"; the state carries a partial character across calls */
#define UTF8_OK 0u
/* The state once a byte was invalid. It stays so: every later byte is refused. */
#define UTF8_REJECT 0xFF00u

/* Validates p[0..len) as the continuation of what *state has seen; *state updated. Returns the
 * number of bytes accepted: len when all is valid so far, else the index of the first byte that
 * makes the input invalid, *state then being UTF8_REJECT. A text that ends with *state not at a
 * boundary ends inside a character: the caller refuses it. */
size_t utf8_validate(uint32_t *state, const unsigned char *p, size_t len);

static inline int utf8_at_boundary(uint32_t state)
{
    return state == UTF8_OK;
}

#endif
