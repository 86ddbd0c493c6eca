/* body.h - request body framing decoder: Content-Length and chunked (RFC 9112 §6, §7.1).
 *
 * Takes whatever bytes have arrived and hands back runs of body data inside them (zero-copy),
 * validating the chunked framing byte by byte: sizes, extensions, CRLFs and trailer fields. */
#ifndef MOTE_BODY_H
#define MOTE_BODY_H

#include <stddef.h>
#include <stdint.h>

typedef struct body_decoder {
    uint8_t chunked;
    uint8_t state;
    uint8_t has_digit;       /* the current chunk size has a digit (leading zeros are free) */
    uint32_t line_len;       /* bytes in the current chunk-size line or trailer section */
    uint32_t line_limit;
    uint64_t remaining;      /* bytes left in the body (length) or current chunk (chunked) */
    uint64_t total;          /* body bytes decoded so far */
    uint64_t max;
    int status;              /* 400, 413 or 431 after BODY_ERROR */
    const char *trailer;     /* trailer-section bytes consumed by the last call (field lines and */
    size_t trailer_len;      /* the final CRLF), 0 when none: kept by callers that want them */
} body_decoder;

enum {
    BODY_DONE = 1,
    BODY_MORE = 0,
    BODY_ERROR = -1
};

/* A body of `length` bytes, or chunked when `chunked` is set; at most `max` bytes of data, and
 * at most `line_limit` bytes in a chunk-size line or in the trailer section. */
void body_init(body_decoder *d, int chunked, uint64_t length, uint64_t max, uint32_t line_limit);

/* Decodes from in[0..len): consumes *consumed bytes and points *data at the body bytes among
 * them (*data_len may be 0), and d->trailer at trailer bytes among them. A call returns either
 * body bytes or trailer bytes, never both. Call again with the rest while it returns BODY_MORE. */
int body_decode(body_decoder *d, const char *in, size_t len, size_t *consumed, const char **data,
                size_t *data_len);

#endif
