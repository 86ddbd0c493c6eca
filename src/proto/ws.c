/* ws.c - WebSocket on a connection (RFC 6455, RFC 7692): frames in, messages to the
 * application, frames out; see ws.h.
 *
 * Reading: a frame's header is read where it lies once all of it has arrived; its payload is
 * unmasked in place and taken as it comes. A whole, uncompressed message that fits half the
 * input buffer is handed over from there; any other is gathered on the heap (or handed over
 * piece by piece to a streaming route). A message is taken only while the output buffer is at
 * most half full, so an application that answers each message always finds room, and a peer
 * that does not read what we send stops being read.
 *
 * Closing: a protocol error sends a close frame with its code and ends the connection; the
 * peer's close is answered and the connection ends; our own close waits for the peer's
 * answer, or ws_close_timeout_ms. on_close is called once, when the first of these happens,
 * or with 1006 when the connection is lost. */
#include "proto/ws.h"

#if MOTE_CONFIG_WS

#include <string.h>

#include "core/pool.h"
#include "core/utf8.h"
#include "proto/ws_frame.h"

/* A reasonless close frame always fits behind any data frame we queue. */
#define CLOSE_RESERVE 4
#define FIN 0x80u

static void ws_process(mote_conn *c);

size_t ws_socket_size(void)
{
    return sizeof(mote_ws);
}

static mote_ws *ws_sock(const mote_conn *c)
{
    return c->ext;
}

mote_ws *ws_of_conn(const mote_conn *c)
{
    mote_ws *ws = c->proto == &ws_proto ? ws_sock(c) : NULL;
    return ws && ws->state != WS_CLOSED && !c->closing ? ws : NULL;
}

static uint64_t ws_message_limit(const mote_ws *ws)
{
    return ws->route->max_message;
}

/* What a socket allocates beyond its state (a message gathered, zlib's streams) counts
 * against the loop's ws_max_buffered: a size header on each block lets the free give it back.
 * A cheap message (a small compressed frame that inflates to the limit) times many sockets
 * cannot take the server's memory. */
#define WS_HEAP_HEADER (_Alignof(max_align_t) < sizeof(size_t) ? sizeof(size_t) : _Alignof(max_align_t))

static void *ws_heap_alloc(void *ctx, size_t n)
{
    const conn_env *env = ctx;
    unsigned char *p;
    if (env->ws_buffered && n > env->ws_max_buffered - *env->ws_buffered) return NULL;
    if (n > (size_t)-1 - WS_HEAP_HEADER) return NULL;
    p = env->alloc.alloc(env->alloc.ctx, n + WS_HEAP_HEADER);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    if (env->ws_buffered) *env->ws_buffered += n;
    return p + WS_HEAP_HEADER;
}

static void ws_heap_free(void *ctx, void *ptr)
{
    const conn_env *env = ctx;
    unsigned char *p = ptr;
    size_t n;
    if (!p) return;
    p -= WS_HEAP_HEADER;
    memcpy(&n, p, sizeof n);
    if (env->ws_buffered) *env->ws_buffered -= n;
    env->alloc.free(env->alloc.ctx, p);
}

static mote_allocator ws_heap(const mote_conn *c)
{
    mote_allocator a;
    a.alloc = ws_heap_alloc;
    a.free = ws_heap_free;
    a.ctx = (void *)(uintptr_t)c->env;
    return a;
}

static void ws_free_message(mote_conn *c, mote_ws *ws)
{
    ws_heap_free((void *)(uintptr_t)c->env, ws->msg);
    ws->msg = NULL;
    ws->msg_cap = 0;
}

/* ---- output -------------------------------------------------------------------------------- */

/* Queues a frame whose payload is in the output buffer already, `header_room` bytes after the
 * tail: the header is written right before it. */
static void ws_commit_frame(mote_conn *c, unsigned first_byte, size_t header_room, size_t len)
{
    unsigned char *tail = (unsigned char *)conn_out_tail(c);
    unsigned char head[WS_MAX_SERVER_HEADER];
    size_t h = ws_write_header(head, first_byte & 0xf0u, first_byte & 0x0fu, len);
    if (h != header_room) memmove(tail + h, tail + header_room, len);
    memcpy(tail, head, h);
    conn_out_commit(c, h + len);
    conn_output_queued(c);
}

/* A control frame (close, ping, pong) into the buffer; the caller checked the room. */
static void ws_queue_control(mote_conn *c, unsigned op, const void *payload, size_t len)
{
    unsigned char *tail = (unsigned char *)conn_out_tail(c);
    size_t h = ws_write_header(tail, FIN, op, len);
    if (len) memcpy(tail + h, payload, len);
    conn_out_commit(c, h + len);
    conn_output_queued(c);
}

static int ws_control_fits(const mote_conn *c, size_t len)
{
    return c->b && conn_out_room(c) >= 2 + len;
}

/* A close frame with `code` (0: none) and a reason, when there is room for it. */
static void ws_queue_close(mote_conn *c, unsigned code, const char *reason, size_t rlen)
{
    unsigned char payload[2 + WS_MAX_CONTROL_PAYLOAD];
    size_t len = 0;
    if (code) {
        payload[0] = (unsigned char)(code >> 8);
        payload[1] = (unsigned char)code;
        if (rlen > WS_MAX_CONTROL_PAYLOAD - 2 || !ws_control_fits(c, 2 + rlen)) rlen = 0;
        if (rlen) memcpy(payload + 2, reason, rlen);
        len = 2 + rlen;
    }
    if (ws_control_fits(c, len)) ws_queue_control(c, 0x8, payload, len);
}

/* Whether an OUT_OWNED segment is queued: a big message goes out one at a time. */
static int ws_owns_output(const mote_conn *c)
{
    const conn_block *b = c->b;
    size_t i;
    for (i = 0; i < b->seg_count; i++) {
        if (b->segs[b->seg_first + i].kind == OUT_OWNED) return 1;
    }
    return 0;
}

/* A frame whose payload is larger than the buffer: its header in the buffer, its payload
 * from `owned` (freed once sent, or now on failure). */
static int ws_queue_owned(mote_conn *c, unsigned first_byte, void *owned, size_t len)
{
    unsigned char *tail;
    out_seg seg;
    if (!owned) return MOTE_ENOMEM;
    tail = (unsigned char *)conn_out_tail(c);
    conn_out_commit(c, ws_write_header(tail, first_byte & 0xf0u, first_byte & 0x0fu, len));
    memset(&seg, 0, sizeof seg);
    seg.kind = OUT_OWNED;
    seg.len = len;
    seg.data = owned;
    seg.u.owned = owned;
    (void)conn_out_queue(c, &seg); /* the caller saw room for it */
    conn_output_queued(c);
    return MOTE_OK;
}

/* A frame of `need` bytes that does not fit the buffer's room now: it waits (MOTE_EAGAIN),
 * can never go (MOTE_ETOOBIG, static-memory mode), or goes out from a copy of its own
 * (MOTE_OK): one such copy at a time, so what a socket holds stays bounded. */
static int ws_room_verdict(mote_ws *ws, size_t need)
{
    mote_conn *c = ws->conn;
    if (c->env->fixed_memory) {
        ws->flags |= WSF_WANT_WRITABLE;
        return need + CLOSE_RESERVE <= c->env->out_size ? MOTE_EAGAIN : MOTE_ETOOBIG;
    }
    if (ws_owns_output(c) || !conn_seg_room(c, 3) ||
        conn_out_room(c) < WS_MAX_SERVER_HEADER + CLOSE_RESERVE) {
        ws->flags |= WSF_WANT_WRITABLE;
        return MOTE_EAGAIN;
    }
    return MOTE_OK;
}

static int ws_send_plain(mote_ws *ws, unsigned first_byte, const void *data, size_t len)
{
    mote_conn *c = ws->conn;
    size_t h = ws_header_size(len);
    const mote_allocator *a = &c->env->alloc;
    void *copy;
    int rc;
    if (h + len + CLOSE_RESERVE <= conn_out_room(c)) {
        unsigned char *tail = (unsigned char *)conn_out_tail(c);
        if (len) memcpy(tail + h, data, len);
        ws_commit_frame(c, first_byte, h, len);
        return MOTE_OK;
    }
    rc = ws_room_verdict(ws, h + len);
    if (rc < 0) return rc;
    copy = a->alloc(a->ctx, len);
    if (copy) memcpy(copy, data, len);
    return ws_queue_owned(c, first_byte, copy, len);
}

static int ws_send_deflated(mote_ws *ws, unsigned first_byte, const void *data, size_t len, int last)
{
    mote_conn *c = ws->conn;
    const mote_allocator *a = &c->env->alloc;
    mote_allocator heap = ws_heap(c);
    size_t bound;
    unsigned char *out;
    long n;
    int rc;
    if (!ws->z && !(ws->z = ws_zlib_create(&heap, &ws->pmd))) return MOTE_ENOMEM;
    bound = ws_deflate_bound(ws->z, len);
    if (!bound) return MOTE_ENOMEM;
    if (WS_MAX_SERVER_HEADER + bound + CLOSE_RESERVE <= conn_out_room(c)) {
        out = (unsigned char *)conn_out_tail(c) + WS_MAX_SERVER_HEADER;
        n = ws_deflate(ws->z, data, len, last, out, bound);
        if (n < 0) return MOTE_ENOMEM;
        ws_commit_frame(c, first_byte, WS_MAX_SERVER_HEADER, (size_t)n);
        return MOTE_OK;
    }
    rc = ws_room_verdict(ws, WS_MAX_SERVER_HEADER + bound);
    if (rc < 0) return rc;
    out = a->alloc(a->ctx, bound);
    if (!out) return MOTE_ENOMEM;
    n = ws_deflate(ws->z, data, len, last, out, bound);
    if (n < 0) {
        a->free(a->ctx, out);
        return MOTE_ENOMEM;
    }
    return ws_queue_owned(c, first_byte, out, (size_t)n);
}

/* Whether the socket may send data now: 0, or why not. */
static int ws_may_send(mote_ws *ws)
{
    if (!ws) return MOTE_EINVAL;
    if (ws->state == WS_CLOSED || ws->conn->closing) return MOTE_ECLOSED;
    if (ws->state != WS_OPEN) return MOTE_ESTATE;
    return conn_borrow(ws->conn);
}

/* One data frame of a message: `first` of it (its opcode and RSV1 go out) and `last`. */
static int ws_send_frame(mote_ws *ws, unsigned op, const void *data, size_t len, int first, int last)
{
    int deflated = first ? ws->pmd.enabled : ws->send_deflated;
    unsigned first_byte = (last ? FIN : 0u) | (first ? op : 0u) | (first && deflated ? WS_RSV1 : 0u);
    int rc = deflated ? ws_send_deflated(ws, first_byte, data, len, last)
                      : ws_send_plain(ws, first_byte, data, len);
    if (rc == MOTE_OK && first) ws->send_deflated = (uint8_t)deflated;
    return rc;
}

static int ws_text_is_valid(uint32_t *state, const char *data, size_t len)
{
    return utf8_validate(state, (const unsigned char *)data, len) == len;
}

int mote_ws_send_text(mote_ws *ws, const char *data, size_t len)
{
    uint32_t st = UTF8_OK;
    int rc = ws_may_send(ws);
    if (rc < 0) return rc;
    if (ws->send_op) return MOTE_ESTATE;
    if ((len && !data) || !ws_text_is_valid(&st, data, len) || !utf8_at_boundary(st)) return MOTE_EINVAL;
    return ws_send_frame(ws, WS_OP_TEXT, data, len, 1, 1);
}

int mote_ws_send_binary(mote_ws *ws, const void *data, size_t len)
{
    int rc = ws_may_send(ws);
    if (rc < 0) return rc;
    if (ws->send_op) return MOTE_ESTATE;
    if (len && !data) return MOTE_EINVAL;
    return ws_send_frame(ws, WS_OP_BINARY, data, len, 1, 1);
}

int mote_ws_send_part(mote_ws *ws, int binary, const void *data, size_t len, int last)
{
    unsigned op = binary ? WS_OP_BINARY : WS_OP_TEXT;
    uint32_t st = UTF8_OK;
    int rc = ws_may_send(ws);
    if (rc < 0) return rc;
    if ((ws->send_op && ws->send_op != op) || (len && !data)) return MOTE_EINVAL;
    if (!binary && (!ws_text_is_valid(&st, data, len) || !utf8_at_boundary(st))) return MOTE_EINVAL;
    rc = ws_send_frame(ws, op, data, len, !ws->send_op, last);
    if (rc < 0) return rc;
    ws->send_op = (uint8_t)(last ? 0 : op);
    return MOTE_OK;
}

int mote_ws_ping(mote_ws *ws, const void *data, size_t len)
{
    int rc = ws_may_send(ws);
    if (rc < 0) return rc;
    if (len > WS_MAX_CONTROL_PAYLOAD || (len && !data)) return MOTE_EINVAL;
    if (!ws_control_fits(ws->conn, len)) return MOTE_EAGAIN;
    ws_queue_control(ws->conn, WS_OP_PING, data, len);
    return MOTE_OK;
}

/* Codes an endpoint may send or receive in a close frame (RFC 6455 §7.4). */
static int ws_close_code_is_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

int mote_ws_close(mote_ws *ws, int code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    uint32_t st = UTF8_OK;
    int rc = ws_may_send(ws);
    if (rc < 0) return rc;
    if (code < 0 || !ws_close_code_is_valid((unsigned)code) || rlen > WS_MAX_CONTROL_PAYLOAD - 2 ||
        !ws_text_is_valid(&st, reason ? reason : "", rlen) || !utf8_at_boundary(st))
        return MOTE_EINVAL;
    ws_queue_close(ws->conn, (unsigned)code, reason, rlen);
    ws->state = WS_CLOSE_SENT;
    ws->close_code = (uint16_t)code;
    return MOTE_OK;
}

size_t mote_ws_send_room(const mote_ws *ws)
{
    const mote_conn *c;
    size_t room;
    if (!ws || ws->state != WS_OPEN) return 0;
    c = ws->conn;
    room = c->b ? conn_out_room(c) : c->env->out_size;
    return room > WS_MAX_SERVER_HEADER + CLOSE_RESERVE ? room - WS_MAX_SERVER_HEADER - CLOSE_RESERVE : 0;
}

/* ---- callbacks ----------------------------------------------------------------------------- */

static void ws_report_close(mote_ws *ws, unsigned code, const char *reason)
{
    if ((ws->flags & WSF_CLOSE_REPORTED)) return;
    ws->flags |= WSF_CLOSE_REPORTED;
    if (!ws->route->def.on_close) return;
    ws->flags |= WSF_IN_CALLBACK;
    ws->route->def.on_close(ws, (int)code, reason, ws->user);
    ws->flags &= (uint8_t)~WSF_IN_CALLBACK;
}

static void ws_deliver(mote_ws *ws, const void *data, size_t len, int first, int last)
{
    mote_ws_message m;
    if (!ws->route->def.on_message || ws->state != WS_OPEN) return;
    m.data = len ? data : "";
    m.len = len;
    m.binary = ws->msg_op == WS_OP_BINARY;
    m.first = first;
    m.last = last;
    ws->flags |= WSF_IN_CALLBACK;
    ws->route->def.on_message(ws, &m, ws->user);
    ws->flags &= (uint8_t)~WSF_IN_CALLBACK;
}

/* The send buffer had no room for a send, and has now (everything queued has gone). */
static void ws_offer_writable(mote_conn *c, mote_ws *ws)
{
    if (!(ws->flags & WSF_WANT_WRITABLE) || ws->state != WS_OPEN || (ws->flags & WSF_IN_CALLBACK) || c->closing) return;
    if (c->b && c->b->seg_count) return;
    ws->flags &= (uint8_t)~WSF_WANT_WRITABLE;
    if (!ws->route->def.on_writable) return;
    ws->flags |= WSF_IN_CALLBACK;
    ws->route->def.on_writable(ws, ws->user);
    ws->flags &= (uint8_t)~WSF_IN_CALLBACK;
}

/* ---- input --------------------------------------------------------------------------------- */

/* The connection fails with `code` (RFC 6455 §7.1.7): a close frame says why, and the
 * connection ends after it; nothing more is read. */
static void ws_fail(mote_conn *c, mote_ws *ws, unsigned code)
{
    if (ws->state == WS_OPEN) ws_queue_close(c, code, NULL, 0);
    if (ws->state != WS_CLOSE_SENT) ws->close_code = (uint16_t)code;
    ws->state = WS_CLOSED;
    c->closing = 1;
    c->b->in_start = c->b->in_len;
    ws_report_close(ws, ws->close_code, "");
}

static void ws_close_received(mote_conn *c, mote_ws *ws, const unsigned char *p, size_t len)
{
    char reason[WS_MAX_CONTROL_PAYLOAD];
    unsigned code = 1005;
    uint32_t st = UTF8_OK;
    if (len == 1) {
        ws_fail(c, ws, 1002);
        return;
    }
    if (len >= 2) {
        code = (unsigned)p[0] << 8 | p[1];
        if (!ws_close_code_is_valid(code)) {
            ws_fail(c, ws, 1002);
            return;
        }
        if (utf8_validate(&st, p + 2, len - 2) != len - 2 || !utf8_at_boundary(st)) {
            ws_fail(c, ws, 1007);
            return;
        }
    }
    memcpy(reason, len > 2 ? (const char *)p + 2 : "", len > 2 ? len - 2 : 0);
    reason[len > 2 ? len - 2 : 0] = '\0';
    ws->flags |= WSF_CLOSE_RECEIVED;
    if (ws->state == WS_OPEN) {
        ws_queue_close(c, len >= 2 ? code : 0, NULL, 0); /* the peer's code echoed */
        ws->close_code = (uint16_t)code;
    }
    ws->state = WS_CLOSED;
    c->closing = 1;
    ws_report_close(ws, ws->close_code, ws->close_code == code ? reason : "");
}

static void ws_control_frame(mote_conn *c, mote_ws *ws, unsigned op, const unsigned char *p, size_t len)
{
    if (op == WS_OP_PING && ws->state == WS_OPEN) ws_queue_control(c, WS_OP_PONG, p, len);
    else if (op == WS_OP_CLOSE) ws_close_received(c, ws, p, len);
    /* a pong: any frame shows the peer is alive (ws_received) */
}

/* Room to answer what is delivered: the output at most half full, segments free, no big
 * message of its own queued (mote_ws_send_*() then succeeds for any size). */
static int ws_output_ready(const mote_conn *c)
{
    return c->b->out_len <= c->env->out_size / 2 && conn_seg_room(c, 3) && !ws_owns_output(c);
}

/* Appends to the message gathered on the heap. It grows by doubling, but never past the end
 * of the message when its last frame is being read (a 16 MiB message in one frame takes one
 * block of its size), and never ahead of the bytes that came (a header claims nothing). */
static int ws_gather(mote_conn *c, mote_ws *ws, const unsigned char *data, size_t len)
{
    mote_allocator a = ws_heap(c);
    uint64_t need = ws->msg_len + len;
    if (need > ws->msg_cap) {
        uint64_t cap = ws->msg_cap < 2048 ? 4096 : 2 * (uint64_t)ws->msg_cap;
        char *bigger;
        if (c->env->fixed_memory) return -1009;
        if (ws->frame_fin && !ws->msg_deflated && cap > need + ws->frame_left)
            cap = need + ws->frame_left;
        if (cap > ws_message_limit(ws)) cap = ws_message_limit(ws);
        if (cap < need) cap = need;
        if (!(bigger = a.alloc(a.ctx, (size_t)cap))) return -1011;
        if (ws->msg_len) memcpy(bigger, ws->msg, (size_t)ws->msg_len);
        a.free(a.ctx, ws->msg);
        ws->msg = bigger;
        ws->msg_cap = (uint32_t)cap; /* at most the limit: ws_route_create() */
    }
    if (len) memcpy(ws->msg + ws->msg_len, data, len);
    return 0;
}

/* Message bytes (after inflating): checked, then handed over or gathered. 0, or the close
 * code the connection fails with. */
static unsigned ws_take_bytes(mote_conn *c, mote_ws *ws, const unsigned char *data, size_t len, int last)
{
    if (ws->msg_op == WS_OP_TEXT &&
        (utf8_validate(&ws->utf8, data, len) != len || (last && !utf8_at_boundary(ws->utf8))))
        return 1007;
    if (ws->route->def.stream_messages) {
        ws->msg_len += len;
        if (len || last) {
            ws_deliver(ws, data, len, !(ws->flags & WSF_PIECE_SENT), last);
            ws->flags |= WSF_PIECE_SENT;
        }
        return 0;
    }
    if (ws->msg_len + len > ws_message_limit(ws)) return 1009;
    if (len) {
        int rc = ws_gather(c, ws, data, len);
        if (rc < 0) return (unsigned)-rc;
    }
    ws->msg_len += len;
    return 0;
}

typedef struct ws_inflate_ctx {
    mote_conn *c;
    mote_ws *ws;
    unsigned code;
} ws_inflate_ctx;

static int ws_inflated(void *ctx, const unsigned char *data, size_t len)
{
    ws_inflate_ctx *ic = ctx;
    ic->code = ws_take_bytes(ic->c, ic->ws, data, len, 0);
    return ic->code != 0 || ic->ws->state != WS_OPEN;
}

static unsigned ws_message_bytes(mote_conn *c, mote_ws *ws, const unsigned char *p, size_t len, int last)
{
    mote_allocator heap = ws_heap(c);
    ws_inflate_ctx ic;
    int rc;
    if (!ws->msg_deflated) return ws_take_bytes(c, ws, p, len, last);
    if (!ws->z && !(ws->z = ws_zlib_create(&heap, &ws->pmd))) return 1011;
    ic.c = c;
    ic.ws = ws;
    ic.code = 0;
    rc = ws_inflate(ws->z, p, len, last, ws_inflated, &ic);
    if (ic.code) return ic.code;
    if (rc == -2) return 1011; /* no memory (the loop's ws_max_buffered) */
    if (rc < 0) return 1007; /* not a deflate stream: the data is not what it claims */
    return last && ws->state == WS_OPEN ? ws_take_bytes(c, ws, (const unsigned char *)"", 0, 1) : 0;
}

static void ws_message_done(mote_conn *c, mote_ws *ws)
{
    if (!ws->route->def.stream_messages) ws_deliver(ws, ws->msg, (size_t)ws->msg_len, 1, 1);
    ws->msg_op = 0;
    ws->msg_len = 0;
    ws->utf8 = UTF8_OK;
    if (ws->msg_cap > 65536) ws_free_message(c, ws); /* a big buffer is not kept for the next */
}

/* A whole message in one uncompressed frame that fits half the input buffer: unmasked and
 * checked as its bytes arrive (a text's first invalid byte fails it at once), and handed over
 * in place once all of it is there. Returns 1 to go on, 0 to wait. */
static int ws_small_message(mote_conn *c, mote_ws *ws, const ws_frame *f, size_t h)
{
    conn_block *b = c->b;
    unsigned char *payload = (unsigned char *)b->in + b->in_start + h;
    size_t len = (size_t)f->len, done = (size_t)ws->frame_off;
    size_t have = b->in_len - b->in_start - h;
    if (have > len) have = len;
    if (have > done) {
        ws_unmask(payload + done, have - done, f->mask, done);
        ws->frame_off = (uint32_t)have;
        if (f->opcode == WS_OP_TEXT &&
            utf8_validate(&ws->utf8, payload + done, have - done) != have - done) {
            ws_fail(c, ws, 1007);
            return 0;
        }
    }
    if (have < len) return 0;
    b->in_start += (uint32_t)(h + len);
    ws->frame_off = 0;
    if (f->opcode == WS_OP_TEXT && !utf8_at_boundary(ws->utf8)) {
        ws_fail(c, ws, 1007);
        return 0;
    }
    ws->utf8 = UTF8_OK;
    ws->msg_op = f->opcode;
    ws_deliver(ws, payload, len, 1, 1);
    ws->msg_op = 0;
    return 1;
}

/* Whether a data frame breaks the message it belongs to: 0, or the close code. */
static unsigned ws_data_frame_error(const mote_ws *ws, const ws_frame *f)
{
    if (f->opcode == WS_OP_CONTINUATION ? !ws->msg_op : ws->msg_op) return 1002;
    if (f->opcode == WS_OP_CONTINUATION && f->rsv) return 1002; /* RSV1 is the first frame's */
    if (ws->route->def.stream_messages) return f->len > ws_message_limit(ws) ? 1009 : 0;
    if (f->rsv || (f->opcode == WS_OP_CONTINUATION && ws->msg_deflated))
        return 0; /* compressed: its size is known once inflated */
    return (f->opcode == WS_OP_CONTINUATION ? ws->msg_len : 0) + f->len > ws_message_limit(ws) ? 1009 : 0;
}

/* The next frame's header, and a control frame or a small whole message at once. Returns 1 to
 * go on, 0 to wait for bytes or room. */
static int ws_next_frame(mote_conn *c, mote_ws *ws)
{
    conn_block *b = c->b;
    unsigned char *p = (unsigned char *)b->in + b->in_start;
    size_t avail = b->in_len - b->in_start;
    ws_frame f;
    unsigned code;
    int h = ws_parse_header(p, avail, ws->pmd.enabled ? WS_RSV1 : 0u, &f);
    if (h <= 0) {
        if (h < 0) ws_fail(c, ws, 1002);
        return 0;
    }
    if (ws_is_control(f.opcode)) {
        if (avail < (size_t)h + f.len) return 0;
        if (!ws_control_fits(c, (size_t)f.len + 2)) return 0; /* its answer must fit */
        ws_unmask(p + h, (size_t)f.len, f.mask, 0);
        b->in_start += (uint32_t)((size_t)h + f.len);
        ws_control_frame(c, ws, f.opcode, p + h, (size_t)f.len);
        return 1;
    }
    code = ws_data_frame_error(ws, &f);
    if (code) {
        ws_fail(c, ws, code);
        return 0;
    }
    if (ws->state == WS_OPEN && !ws_output_ready(c)) return 0;
    if (f.opcode != WS_OP_CONTINUATION && f.fin && !f.rsv && !ws->route->def.stream_messages &&
        (size_t)h + f.len <= c->env->in_size / 2)
        return ws_small_message(c, ws, &f, (size_t)h); /* copies nothing */
    if (f.opcode != WS_OP_CONTINUATION) {
        ws->msg_op = f.opcode;
        ws->msg_deflated = f.rsv != 0;
        ws->msg_len = 0;
        ws->utf8 = UTF8_OK;
        ws->flags &= (uint8_t)~WSF_PIECE_SENT;
    }
    ws->frame_op = f.opcode;
    ws->frame_fin = f.fin;
    ws->frame_left = f.len;
    ws->frame_off = 0;
    memcpy(ws->mask, f.mask, 4);
    b->in_start += (uint32_t)h;
    return 1;
}

/* What has arrived of the current frame's payload. Returns 1 to go on, 0 to wait. */
static int ws_frame_payload(mote_conn *c, mote_ws *ws)
{
    conn_block *b = c->b;
    unsigned char *p = (unsigned char *)b->in + b->in_start;
    size_t avail = b->in_len - b->in_start;
    size_t take = avail < ws->frame_left ? avail : (size_t)ws->frame_left;
    int ends_frame, ends_message;
    if (take == 0 && ws->frame_left) return 0;
    if (ws->state == WS_OPEN && !ws_output_ready(c)) return 0;
    ws_unmask(p, take, ws->mask, ws->frame_off);
    ws->frame_off = (uint32_t)(ws->frame_off + take);
    ws->frame_left -= take;
    b->in_start += (uint32_t)take;
    ends_frame = ws->frame_left == 0;
    ends_message = ends_frame && ws->frame_fin;
    if (ws->state == WS_OPEN) {
        unsigned code = ws_message_bytes(c, ws, p, take, ends_message);
        if (code) {
            ws_fail(c, ws, code);
            return 0;
        }
    }
    if (ends_frame) {
        ws->frame_op = WS_NO_FRAME;
        ws->frame_off = 0; /* the next frame may be unmasked as it arrives (ws_small_message) */
    }
    if (ends_message) {
        if (ws->state == WS_OPEN) ws_message_done(c, ws);
        ws->msg_op = 0;
        ws->msg_len = 0;
    }
    return 1;
}

static void ws_process(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    if ((ws->flags & WSF_PROCESSING) || !c->b) return;
    ws->flags |= WSF_PROCESSING;
    while (!c->closing && !(ws->flags & WSF_PAUSED) && ws->state != WS_CLOSED) {
        int go_on = ws->frame_op == WS_NO_FRAME ? ws_next_frame(c, ws) : ws_frame_payload(c, ws);
        if (!go_on) break;
    }
    ws->flags &= (uint8_t)~WSF_PROCESSING;
}

/* ---- the connection's operations ----------------------------------------------------------- */

static int ws_start(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    if (ws->state == WS_OPENING) { /* just switched to: the first start */
        ws->state = WS_OPEN;
        ws->frame_op = WS_NO_FRAME;
        ws->flags |= WSF_WANT_WRITABLE; /* on_writable once the 101 is out */
    }
    return MOTE_OK;
}


/* The block goes back: a socket between messages keeps nothing but its state. */
static void ws_stop(mote_conn *c, int abort)
{
    mote_ws *ws = ws_sock(c);
    if (!abort && !ws->msg_op) ws_free_message(c, ws);
}

static void ws_end(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    if (!ws) return;
    if (ws->state != WS_CLOSED && !(ws->flags & WSF_CLOSE_RECEIVED)) ws->close_code = 1006;
    ws->state = WS_CLOSED;
    ws_report_close(ws, ws->close_code ? ws->close_code : 1006, "");
    ws_free_message(c, ws);
    ws_zlib_destroy(ws->z);
    pool_put(c->env->sockets, (char *)ws);
}

static size_t ws_read_space(mote_conn *c, char **at)
{
    mote_ws *ws = ws_sock(c);
    conn_block *b = c->b;
    uint32_t size = c->env->in_size;
    if ((ws->flags & WSF_PAUSED) || ws->state == WS_CLOSED) return 0;
    if (b->in_start == b->in_len) {
        b->in_start = b->in_len = 0;
    } else if (b->in_start > 0 && size - b->in_len < size / 2) {
        /* what is left starts a frame: moved down, a frame up to half the buffer fits whole */
        memmove(b->in, b->in + b->in_start, b->in_len - b->in_start);
        b->in_len -= b->in_start;
        b->in_start = 0;
    }
    *at = b->in + b->in_len;
    return size - b->in_len;
}

static void ws_received(mote_conn *c, size_t n)
{
    mote_ws *ws = ws_sock(c);
    c->b->in_len += (uint32_t)n;
    if (n) ws->flags &= (uint8_t)~WSF_PING_DUE; /* the peer is alive */
    ws_process(c);
    ws_offer_writable(c, ws);
}

static void ws_peer_eof(mote_conn *c)
{
    ws_process(c);
    c->closing = 1; /* without a close frame: on_close hears 1006 (ws_end) */
}

static void ws_sent(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    ws_process(c);
    ws_offer_writable(c, ws);
}

static int ws_is_idle(const mote_conn *c)
{
    return c->b->in_start == c->b->in_len && !(ws_sock(c)->flags & WSF_PROCESSING) && !(ws_sock(c)->flags & WSF_IN_CALLBACK);
}

static int ws_is_responding(const mote_conn *c)
{
    (void)c;
    return 0;
}

/* After the peer's close frame it sends nothing more: closing cannot reset what it reads. */
static int ws_ends_with_output(const mote_conn *c)
{
    return (ws_sock(c)->flags & WSF_CLOSE_RECEIVED);
}

static enum conn_timer_kind ws_timer(const mote_conn *c)
{
    const mote_ws *ws = ws_sock(c);
    if (ws->state == WS_CLOSE_SENT) return CT_WS_CLOSE;
    if (ws->state == WS_OPEN && !(ws->flags & WSF_PAUSED) && c->env->ws_ping_ms) return CT_WS_IDLE;
    return CT_NONE;
}

/* Silent too long: pinged once, then given up on; or our close went unanswered. */
static void ws_expire(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    if (ws->state == WS_OPEN && !(ws->flags & WSF_PING_DUE) && conn_borrow(c) == MOTE_OK &&
        ws_control_fits(c, 0)) {
        ws_queue_control(c, WS_OP_PING, NULL, 0);
        ws->flags |= WSF_PING_DUE;
        return;
    }
    if (ws->state == WS_OPEN) ws->close_code = 1006;
    ws->state = WS_CLOSED;
    c->closing = 1;
}

static mote_exchange *ws_find(mote_conn *c, uint32_t id)
{
    (void)c;
    (void)id;
    return NULL;
}

/* Close 1001, as a protocol error would be answered: the connection ends once it has gone. */
static void ws_going_away(mote_conn *c)
{
    mote_ws *ws = ws_sock(c);
    if (ws->state == WS_OPEN && conn_borrow(c) == MOTE_OK) ws_fail(c, ws, 1001);
}

const proto_ops ws_proto = {
    "websocket",     ws_start,      ws_stop,      ws_end,        ws_read_space, ws_received,
    ws_peer_eof,     ws_sent,       ws_is_idle,   ws_is_responding, ws_ends_with_output,
    ws_timer,        ws_expire,     ws_find,    ws_going_away, NULL,          0,
};

/* ---- the rest of the public API ------------------------------------------------------------- */

int mote_ws_pause(mote_ws *ws)
{
    if (!ws || ws->state == WS_CLOSED) return MOTE_ESTATE;
    ws->flags |= WSF_PAUSED;
    return MOTE_OK;
}

int mote_ws_resume(mote_ws *ws)
{
    mote_conn *c;
    if (!ws || ws->state == WS_CLOSED) return MOTE_ESTATE;
    c = ws->conn;
    if (!(ws->flags & WSF_PAUSED)) return MOTE_OK;
    ws->flags &= (uint8_t)~WSF_PAUSED;
    if (!(ws->flags & WSF_IN_CALLBACK) && c->b) ws_process(c); /* what was held back */
    conn_output_queued(c); /* and the connection is read again */
    return MOTE_OK;
}

void mote_ws_set_user(mote_ws *ws, void *user)
{
    if (ws) ws->user = user;
}

void *mote_ws_user(const mote_ws *ws)
{
    return ws ? ws->user : NULL;
}

const char *mote_ws_protocol(const mote_ws *ws)
{
    return ws && ws->protocol ? ws->route->def.subprotocols[ws->protocol - 1] : NULL;
}

int mote_ws_compressed(const mote_ws *ws)
{
    return ws && ws->pmd.enabled;
}

const char *mote_ws_route_path(const mote_ws *ws)
{
    return ws ? ws->route->def.path : NULL;
}

int mote_ws_peer(const mote_ws *ws, char *buf, size_t buf_len, uint16_t *port)
{
    if (!ws) return MOTE_EINVAL;
    if (port) *port = ws->conn->peer.port;
    return addr_format(&ws->conn->peer, buf, buf_len);
}

int mote_ws_is_tls(const mote_ws *ws)
{
    return ws && ws->conn->is_tls;
}

mote_server *mote_ws_server(const mote_ws *ws)
{
    return ws ? ws->conn->env->owner : NULL;
}

#else
typedef int mote_no_websocket; /* MOTE_CONFIG_WS 0: nothing here (C forbids an empty file) */
#endif
