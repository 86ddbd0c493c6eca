/* ws.h - WebSocket (RFC 6455) on a connection, after HTTP/1.1's 101: the protocol (proto_ops),
 * a socket's state, and the route whose handler performs the handshake.
 *
 * A socket's state lives beyond the connection's block (c->ext, from env->sockets), so that
 * an idle socket gives its buffers back as an idle HTTP connection does; messages are read
 * from the input buffer in place (frames are unmasked where they lie), gathered on the heap
 * only when fragmented, compressed or larger than half the buffer. */
#ifndef MOTE_WS_H
#define MOTE_WS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conn.h"
#include "mote.h"
#include "proto/ws_deflate.h"

extern const proto_ops ws_proto;

/* A WebSocket route as registered: the definition with its strings copied, in one block. */
typedef struct ws_route {
    mote_ws_route_def def;
    uint64_t max_message;     /* def.max_message_size, or the server's */
} ws_route;

enum ws_state {
    WS_OPENING,     /* the handshake is being answered: no sending yet */
    WS_OPEN,
    WS_CLOSE_SENT,  /* our close frame is out: the peer's is awaited */
    WS_CLOSED       /* the closing handshake is over, or the connection failed */
};

#define WS_NO_FRAME 0xffu    /* frame_op between frames */

enum {
    WSF_PIECE_SENT = 1u << 0,     /* a streamed message's first piece has been delivered */
    WSF_PAUSED = 1u << 1,
    WSF_PROCESSING = 1u << 2,
    WSF_IN_CALLBACK = 1u << 3,
    WSF_WANT_WRITABLE = 1u << 4,  /* a send found no room: on_writable once there is */
    WSF_PING_DUE = 1u << 5,       /* a keep-alive ping is unanswered */
    WSF_CLOSE_RECEIVED = 1u << 6,
    WSF_CLOSE_REPORTED = 1u << 7
};

struct mote_ws {
    mote_conn *conn;
    const ws_route *route;
    void *user;
    ws_zlib *z;               /* permessage-deflate's streams, made on first use */
    char *msg;                /* a whole message gathered on the heap, msg_cap bytes */
    uint64_t msg_len;         /* bytes of the message being received so far */
    uint64_t frame_left;      /* payload bytes of the frame being read still to come */
    uint32_t msg_cap;
    uint32_t frame_off;       /* of the frame's payload, bytes unmasked (mod 2^32: the mask's
                                 phase is what matters) */
    uint32_t utf8;            /* the text message being received */
    uint8_t mask[4];
    uint8_t frame_op;         /* the frame being read, or WS_NO_FRAME */
    uint8_t frame_fin;
    uint8_t msg_op;           /* the message being received (text, binary), or 0 */
    uint8_t msg_deflated;
    uint8_t send_op;          /* the message being sent in parts, or 0 */
    uint8_t send_deflated;
    uint8_t state;            /* enum ws_state */
    uint8_t protocol;         /* the chosen subprotocol's index + 1, or 0 */
    ws_pmd pmd;
    uint16_t close_code;      /* the first close: ours or the peer's */
    uint8_t flags;            /* WSF_* */
};

/* The bytes a socket's state takes (the env's `sockets` pool). */
size_t ws_socket_size(void);

/* A route's copy of `def` (MOTE_EINVAL for a definition that cannot work), and its release. */
int ws_route_create(const mote_ws_route_def *def, const mote_allocator *alloc,
                    uint64_t server_max_message, ws_route **out);
void ws_route_free(ws_route *rt, const mote_allocator *alloc);

/* The route's handler: the handshake (RFC 6455 §4.2), on_open, and the 101. */
void ws_handshake(mote_request *req, mote_response *res, void *user);

/* The socket of an upgraded connection that is open (not closed), or NULL. */
mote_ws *ws_of_conn(const mote_conn *c);

#endif
