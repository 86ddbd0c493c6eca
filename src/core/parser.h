/* parser.h - incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112 §2-§5).
 *
 * The caller keeps the request's bytes in one buffer that only grows at its end, and calls
 * parser_execute() with the whole buffer each time more bytes arrive; parsing resumes where it
 * stopped, so every byte is examined once whatever the split. Results are offsets into that
 * buffer. The parser never writes to the buffer, allocates, or calls the system. */
#ifndef MOTE_PARSER_H
#define MOTE_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/chars.h"

typedef struct hdr_span {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} hdr_span;

/* What the head says about the message that follows it. */
enum {
    HEAD_CLOSE = 1u << 0,        /* Connection: close */
    HEAD_KEEP_ALIVE = 1u << 1,   /* Connection: keep-alive */
    HEAD_CHUNKED = 1u << 2,      /* Transfer-Encoding ends in chunked */
    HEAD_HAS_LENGTH = 1u << 3,   /* a valid Content-Length */
    HEAD_EXPECT_CONTINUE = 1u << 4,
    HEAD_HAS_HOST = 1u << 5,
    HEAD_EXPECT_OTHER = 1u << 6, /* an Expect field other than 100-continue */
    HEAD_UPGRADE = 1u << 7       /* an Upgrade field, whatever its value */
};

typedef struct parser {
    /* limits, set by parser_init */
    uint32_t max_request_line;
    uint32_t max_header_bytes;
    uint32_t max_headers;
    hdr_span *headers;           /* caller-provided array of max_headers entries */

    /* resumable state */
    uint8_t state;
    uint8_t vpos;                /* position inside "HTTP/x.y" */
    uint8_t is_trailer;          /* a trailer section: fields only, no framing analysis */
    uint32_t pos;                /* next byte to examine */
    uint32_t line_start;         /* first byte of the request line, then of the current field */
    uint32_t fields_start;       /* first byte after the request line */
    uint32_t mark;               /* start of the token being read */

    /* results */
    uint32_t method_off, method_len;
    uint32_t target_off, target_len;
    uint8_t version_major, version_minor;
    uint32_t header_count;
    uint32_t head_len;           /* bytes up to and including the blank line */
    uint32_t flags;              /* HEAD_* */
    uint32_t host_field;         /* 1 + the index of the Host field, 0 when there is none */
    uint64_t content_length;
    int status;                  /* the HTTP status of an error, 0 while none */
} parser;

enum {
    PARSE_DONE = 1,     /* the head is complete: head_len, headers and flags are set */
    PARSE_MORE = 0,     /* every byte so far is valid; call again with more */
    PARSE_ERROR = -1    /* the head is invalid; p->status says 400, 414, 431, 501 or 505 */
};

void parser_init(parser *p, hdr_span *headers, uint32_t max_headers, uint32_t max_request_line,
                 uint32_t max_header_bytes);

/* Starts a new request with the same limits and header array. */
void parser_reset(parser *p);

/* Parses buf[0..len), where buf[0] is the request's first byte. */
int parser_execute(parser *p, const char *buf, size_t len);

/* Parses a complete trailer section buf[0..len) (field lines and the final CRLF, as checked
 * by the body decoder) into fields[], offsets relative to buf. Returns how many, or -1 when
 * there are more than max_fields. */
int parser_trailers(const char *buf, size_t len, hdr_span *fields, uint32_t max_fields);

/* Case-insensitive comparison of a header name (or a token) with a lower-case literal. Inline, so
 * that the literal's length is known where it is called; the bytes are all compared, without an
 * early exit, since the names compared are short and a mispredicted branch costs more. */
static inline int header_name_is(const char *name, size_t len, const char *lower)
{
    unsigned diff = 0;
    size_t i;
    if (strlen(lower) != len) return 0;
    for (i = 0; i < len; i++)
        diff |= (unsigned)char_lower((unsigned char)name[i]) ^ (unsigned char)lower[i];
    return diff == 0;
}

#endif
