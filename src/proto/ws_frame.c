/* ws_frame.c - WebSocket frame headers and masking; see ws_frame.h. */
#include "proto/ws_frame.h"

#include "mote.h"

#if MOTE_CONFIG_WS

#include <string.h>

static int ws_opcode_is_known(unsigned op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int ws_parse_header(const unsigned char *p, size_t len, unsigned allowed_rsv, ws_frame *f)
{
    size_t need = 2;
    unsigned len7;
    uint64_t n = 0;
    size_t i, ext;
    if (len < 2) return 0;
    f->fin = (p[0] & 0x80u) != 0;
    f->rsv = (uint8_t)(p[0] & 0x70u);
    f->opcode = (uint8_t)(p[0] & 0x0fu);
    len7 = p[1] & 0x7fu;
    /* what is wrong with the first two bytes is wrong whatever follows: fail fast */
    if ((f->rsv & ~allowed_rsv) || !ws_opcode_is_known(f->opcode) || !(p[1] & 0x80u)) return -1;
    if (ws_is_control(f->opcode) && (!f->fin || f->rsv || len7 > WS_MAX_CONTROL_PAYLOAD)) return -1;
    ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    need += ext + 4;
    if (len < need) return 0;
    if (ext == 0) {
        n = len7;
    } else {
        for (i = 0; i < ext; i++) n = n << 8 | p[2 + i];
        /* the shortest form is a MUST (RFC 6455 §5.2), and the top bit must be 0 */
        if (ext == 2 ? n < 126 : (n >> 63) || n <= 0xffffu) return -1;
    }
    f->len = n;
    memcpy(f->mask, p + 2 + ext, 4);
    return (int)need;
}

size_t ws_write_header(unsigned char *out, unsigned flags, unsigned opcode, uint64_t len)
{
    size_t i, ext;
    out[0] = (unsigned char)(flags | opcode);
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    ext = len <= 0xffffu ? 2 : 8;
    out[1] = ext == 2 ? 126 : 127;
    for (i = 0; i < ext; i++) out[2 + i] = (unsigned char)(len >> (8 * (ext - 1 - i)));
    return 2 + ext;
}

void ws_unmask(unsigned char *p, size_t len, const uint8_t mask[4], uint64_t offset)
{
    unsigned char m[8];
    size_t i = 0, k;
    for (k = 0; k < 8; k++) m[k] = mask[(offset + k) & 3];
    /* eight bytes at a time (memcpy: no alignment assumed), then the tail */
    if (len >= 8) {
        uint64_t w, mw;
        memcpy(&mw, m, 8);
        for (; i + 8 <= len; i += 8) {
            memcpy(&w, p + i, 8);
            w ^= mw;
            memcpy(p + i, &w, 8);
        }
    }
    for (; i < len; i++) p[i] ^= m[i & 7];
}

#else
typedef int mote_no_websocket; /* MOTE_CONFIG_WS 0: nothing here (C forbids an empty file) */
#endif
