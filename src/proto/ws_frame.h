/* ws_frame.h - WebSocket frames (RFC 6455 §5): a client frame's header read from bytes, a
 * server frame's header written, a payload unmasked in place.
 *
 * Stateless and zero-copy: a header is read again from the input until all of it is there
 * (it is at most 14 bytes), and a payload is unmasked where it lies, in pieces of any split. */
#ifndef MOTE_WS_FRAME_H
#define MOTE_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

#define WS_RSV1 0x40u             /* permessage-deflate's "compressed" bit (RFC 7692 §6) */
#define WS_MAX_HEADER 14          /* 2 + 8 bytes of length + 4 of mask */
#define WS_MAX_SERVER_HEADER 10   /* server frames are not masked */
#define WS_MAX_CONTROL_PAYLOAD 125

typedef struct ws_frame {
    uint8_t fin;
    uint8_t rsv;                  /* the RSV bits as in the first byte (0x70 mask) */
    uint8_t opcode;
    uint8_t mask[4];
    uint64_t len;                 /* payload bytes */
} ws_frame;

static inline int ws_is_control(unsigned opcode)
{
    return (opcode & 0x8u) != 0;
}

/* Reads a client frame's header from the first `len` bytes at p. Returns the header's length
 * (6 to 14), 0 when more bytes are needed, or -1 when the header breaks RFC 6455 whatever
 * follows (close 1002): RSV bits outside `allowed_rsv` (or any on a control frame: RFC 7692
 * §6.1), a reserved opcode, an unmasked frame, a control frame fragmented or longer than 125
 * bytes, a length not in its shortest form or a 64-bit one with its top bit set. */
int ws_parse_header(const unsigned char *p, size_t len, unsigned allowed_rsv, ws_frame *f);

/* Writes a server frame's header (unmasked) for a payload of `len` bytes; returns its length
 * (2, 4 or 10). `flags` is the first byte's FIN and RSV bits (0x80, WS_RSV1). */
size_t ws_write_header(unsigned char *out, unsigned flags, unsigned opcode, uint64_t len);

/* The header's length for a payload of `len` bytes. */
static inline size_t ws_header_size(uint64_t len)
{
    return len < 126 ? 2u : len <= 0xffffu ? 4u : 10u;
}

/* Unmasks `len` payload bytes in place, the first of which is byte `offset` of the payload
 * (masking runs on from frame piece to piece). */
void ws_unmask(unsigned char *p, size_t len, const uint8_t mask[4], uint64_t offset);

#endif
