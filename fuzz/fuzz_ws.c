/* fuzz_ws.c - a connection upgraded to WebSocket (src/proto/ws*.c, through h1's 101) fed
 * arbitrary client bytes, whole and then cut in two, with an application that echoes what it
 * gets (whole or in parts), streams, or closes.
 *
 * Input: four config bytes, then the client's bytes after a fixed upgrade request.
 *   byte 0: bit 0 permessage-deflate offered (with client_max_window_bits), bit 1 a streaming
 *           route, bits 2-3 what on_message does (0 echo whole, 1 echo in parts, 2 close with
 *           3000 "app" at the second message, 3 nothing), bit 4 a 1000-byte message limit
 *           (else 1 MiB), bit 5 the block taken back whenever the connection is idle, bit 6
 *           no_context_takeover offered both ways, bit 7 the rest is a list of frames the
 *           harness builds (below) rather than the client's bytes as they are.
 *   byte 1: bit 0 a budget of 48 KiB for what the socket holds on the heap (ws_max_buffered:
 *           room for the inflater, not for the deflater); bits 1-7: 0 all output taken after
 *           each piece, else a slow reader, 8 x that many bytes.
 *   bytes 2-3: where the second feed cuts the client's bytes (modulo their length + 1).
 * Built frames (bit 7): records of [first byte][n][payload]. n < 0xf0: n payload bytes;
 * n >= 0xf0: 16 bytes repeated (n - 0xef) x 1024 times (a large or bomb-like message). The
 * frame is masked with (first byte, n, 0x5a, 0xa5); a data frame with RSV1, and the frames that
 * continue its message, have their payload compressed with the client's own deflate stream
 * (sync flush, the tail taken off at the message's end) when deflate was negotiated.
 *
 * Invariants, beyond ASan/UBSan: both feeds give the same bytes and deliver the same messages;
 * with built frames on a whole-message route, 1009 only when a message is over the limit, and
 * 1007 only where there is text (built deflate data is valid); ws_buffered back to 0;
 * the output is the expected 101 then valid server frames only (unmasked, known opcodes, no
 * RSV2/3, RSV1 only on a message's first frame and only with deflate, control frames FIN and at
 * most 125 bytes, continuations only inside a message), text UTF-8 once inflated; a close frame
 * is the last thing sent, its code one of 1000-1003, 1007-1011, 3000-4999 and its reason UTF-8;
 * after a close (other than the application's own) the connection is closing, and a closing
 * connection has sent one unless the peer's EOF ended it; what an echoing application sent is
 * what it was given; no callback after on_close, on_close at most once; the connection never
 * stalls; the env allocator's live bytes stay within 3 x limit + limit / 256 + 512 KiB, and
 * all come back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MOTE_CONFIG_WS_DEFLATE
#include <zlib.h>
#endif

#include "core/utf8.h"
#include "fuzz_conn_env.h"
#include "proto/ws.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_CLIENT_BYTES (2u << 20)

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_ws: invariant failed: %s\n", what);
    abort();
}

/* ---- a growing byte buffer ------------------------------------------------------------------ */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Each message as [type byte][8-byte length][bytes]. */
static void log_message(buf *log, int binary, const void *data, size_t len)
{
    unsigned char h[9];
    int i;
    h[0] = binary ? 'B' : 'T';
    for (i = 0; i < 8; i++) h[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    buf_add(log, h, 9);
    buf_add(log, data, len);
}

/* ---- the env allocator, counted in bytes ------------------------------------------------- */

typedef union mhead {
    size_t size;
    max_align_t align;
} mhead;

typedef struct mcount {
    size_t live, peak, count;
} mcount;

static mcount MC;

static void *m_alloc(void *ctx, size_t n)
{
    mhead *p = malloc(sizeof(mhead) + n);
    (void)ctx;
    if (!p) return NULL;
    p->size = n;
    MC.live += n;
    MC.count++;
    if (MC.live > MC.peak) MC.peak = MC.live;
    return p + 1;
}

static void m_free(void *ctx, void *ptr)
{
    mhead *p;
    (void)ctx;
    if (!ptr) return;
    p = (mhead *)ptr - 1;
    MC.live -= p->size;
    MC.count--;
    free(p);
}

/* ---- one run ----------------------------------------------------------------------------- */

enum { ACT_ECHO, ACT_PARTS, ACT_CLOSE, ACT_NONE };

typedef struct cfg {
    int deflate, stream, action, detach, nct, built;
    uint64_t limit, budget;
    size_t slow;
} cfg;

typedef struct result {
    buf out;              /* every byte the server wrote */
    buf msgs;             /* the messages delivered (streamed ones gathered) */
    buf sent;             /* the messages the application sent */
    int send_failed;      /* a send was refused: sent is not the whole echo */
    int closing, peer_eof, upgraded;
    int opens, closes, close_code, after_close, app_closed;
    size_t peak;
} result;

typedef struct wsapp {
    const cfg *k;
    fenv f;
    pool sockets;
    char *block;
    result *r;
    buf cur;              /* a streamed message so far */
    buf fwd;              /* a piece sent on, after the character cut at the last one's end */
    unsigned char carry[4];
    size_t carry_len;
    int in_message, messages;
    int cur_binary;
    uint64_t buffered;    /* conn_env.ws_buffered, with a budget */
} wsapp;

static wsapp W;

static void send_whole(wsapp *a, mote_ws *ws, int binary, const void *data, size_t len)
{
    int rc = binary ? mote_ws_send_binary(ws, data, len) : mote_ws_send_text(ws, data, len);
    if (rc == MOTE_OK) log_message(&a->r->sent, binary, data, len);
    else a->r->send_failed = 1;
}

static void send_parts(wsapp *a, mote_ws *ws, int binary, const unsigned char *data, size_t len)
{
    size_t half = len <= 4000 ? len / 2 : len;
    int rc;
    while (!binary && half > 0 && half < len && (data[half] & 0xc0u) == 0x80u) half--; /* whole chars */
    rc = mote_ws_send_part(ws, binary, data, half, half == len);
    if (rc == MOTE_OK && half < len) rc = mote_ws_send_part(ws, binary, data + half, len - half, 1);
    if (rc == MOTE_OK) log_message(&a->r->sent, binary, data, len);
    else a->r->send_failed = 1;
}

/* The length of the longest prefix of a text piece (valid UTF-8 so far) that ends a
 * character: a part sent must be whole characters. */
static size_t whole_chars(const unsigned char *p, size_t len)
{
    size_t i = len, back;
    for (back = 0; back < 4 && i > 0; back++) {
        unsigned c = p[--i];
        if ((c & 0xc0u) != 0x80u) { /* the last character's first byte */
            size_t need = c < 0x80u ? 1 : c < 0xe0u ? 2 : c < 0xf0u ? 3 : 4;
            return len - i >= need ? len : i;
        }
    }
    return len;
}

/* A streamed piece sent on as a part as it comes; a text's character cut at the piece's end
 * waits for the next piece. */
static void forward_piece(wsapp *a, mote_ws *ws, const mote_ws_message *m)
{
    const unsigned char *p = m->data;
    size_t len = m->len, n;
    int rc;
    a->fwd.len = 0;
    buf_add(&a->fwd, a->carry, a->carry_len);
    buf_add(&a->fwd, p, len);
    n = m->binary || m->last ? a->fwd.len : whole_chars(a->fwd.p, a->fwd.len);
    a->carry_len = a->fwd.len - n;
    if (a->carry_len) memcpy(a->carry, a->fwd.p + n, a->carry_len);
    rc = mote_ws_send_part(ws, m->binary, a->fwd.p, n, m->last);
    if (rc != MOTE_OK) a->r->send_failed = 1;
}

static void on_message(mote_ws *ws, const mote_ws_message *m, void *user)
{
    wsapp *a = user;
    const cfg *k = a->k;
    if (a->r->closes) a->r->after_close++;
    if (a->f.conn.closing) fail("on_message on a closing connection");
    if (!k->stream) {
        if (!m->first || !m->last) fail("a whole message not first and last");
        log_message(&a->r->msgs, m->binary, m->data, m->len);
        a->messages++;
        if (k->action == ACT_ECHO) send_whole(a, ws, m->binary, m->data, m->len);
        else if (k->action == ACT_PARTS) send_parts(a, ws, m->binary, m->data, m->len);
        else if (k->action == ACT_CLOSE && a->messages == 2 && mote_ws_close(ws, 3000, "app") == MOTE_OK)
            a->r->app_closed = 1;
        return;
    }
    if (m->first != !a->in_message) fail("a streamed piece's first flag");
    if (!m->first && m->binary != a->cur_binary) fail("a streamed message changed its type");
    if (m->first) a->carry_len = 0;
    a->cur_binary = m->binary;
    a->in_message = !m->last;
    buf_add(&a->cur, m->data, m->len);
    if (k->action == ACT_PARTS) forward_piece(a, ws, m);
    if (m->last) {
        log_message(&a->r->msgs, m->binary, a->cur.p, a->cur.len);
        if (k->action == ACT_PARTS) log_message(&a->r->sent, m->binary, a->cur.p, a->cur.len);
        a->messages++;
        /* the application's own copy is bounded by the route's limit, as the server's is */
        if (k->action == ACT_ECHO && a->cur.len <= k->limit)
            send_whole(a, ws, m->binary, a->cur.p, a->cur.len);
        else if (k->action == ACT_ECHO)
            a->r->send_failed = 1;
        else if (k->action == ACT_CLOSE && a->messages == 2 && mote_ws_close(ws, 3000, "app") == MOTE_OK)
            a->r->app_closed = 1;
        a->cur.len = 0;
    }
}

static int on_open(mote_ws *ws, mote_request *req, void *user)
{
    wsapp *a = user;
    (void)ws;
    (void)req;
    a->r->opens++;
    return 0;
}

static void on_close(mote_ws *ws, int code, const char *reason, void *user)
{
    wsapp *a = user;
    uint32_t st = UTF8_OK;
    size_t n = strlen(reason);
    (void)ws;
    if (a->r->closes++) fail("on_close twice");
    a->r->close_code = code;
    if (utf8_validate(&st, (const unsigned char *)reason, n) != n || !utf8_at_boundary(st))
        fail("on_close's reason is not UTF-8");
}

static int borrow(mote_conn *c)
{
    (void)c;
    if (W.f.conn.b) return MOTE_OK;
    return conn_attach(&W.f.conn, W.block);
}

static void start(const cfg *k, result *r)
{
    static const mote_allocator counted = {m_alloc, m_free, NULL};
    mote_allocator plain = {fenv_plain_alloc, fenv_plain_free, NULL};
    mote_ws_route_def def;
    mote_route_def rd;
    ws_route *wr;
    size_t size;
    memset(&W, 0, sizeof W);
    memset(&MC, 0, sizeof MC);
    W.k = k;
    W.r = r;
    fenv_init(&W.f, 0, 0);
    W.f.env.alloc = counted;
    pool_init(&W.sockets, plain, ws_socket_size(), 1);
    W.f.env.sockets = &W.sockets;
    W.f.env.ws_max_message = 1u << 20;
    W.f.env.borrow = borrow;
    if (k->budget) {
        W.buffered = 0;
        W.f.env.ws_buffered = &W.buffered;
        W.f.env.ws_max_buffered = k->budget;
    }
    memset(&def, 0, sizeof def);
    def.path = "/ws";
    def.match = MOTE_ROUTE_EXACT;
    def.user = &W;
    def.on_open = on_open;
    def.on_message = on_message;
    def.on_close = on_close;
    def.max_message_size = k->limit;
    def.stream_messages = k->stream;
    if (ws_route_create(&def, &W.f.routes.alloc, W.f.env.ws_max_message, &wr) < 0) fail("route");
    memset(&rd, 0, sizeof rd);
    rd.path = "/ws";
    rd.match = MOTE_ROUTE_EXACT;
    rd.handler = ws_handshake;
    rd.user = wr;
    rd.methods = MOTE_GET;
    if (router_add(&W.f.routes, &rd, wr) < 0) fail("router_add");
    W.f.router_live = W.f.live;
    size = conn_block_size(&W.f.env);
    W.block = malloc(size);
    if (!W.block) abort();
    memset(W.block, 0xa5, size);
    conn_init(&W.f.conn, &W.f.env, NULL);
    if (conn_attach(&W.f.conn, W.block) < 0) abort();
}

static size_t drain(size_t max)
{
    return W.f.conn.b ? fenv_drain(&W.f, max, 0) : 0;
}

/* Feeds len bytes as one piece: in as many reads as the connection offers room for, output
 * taken after each (all, or a slow reader's share); the block taken back when idle. */
static void feed(const unsigned char *p, size_t len)
{
    const cfg *k = W.k;
    size_t done = 0;
    while (done < len) {
        size_t took, drained;
        if (!W.f.conn.b && conn_attach(&W.f.conn, W.block) < 0) fail("attach");
        took = fenv_feed(&W.f, (const char *)p + done, len - done);
        done += took;
        drained = drain(k->slow ? k->slow : SIZE_MAX);
        if (k->detach && W.f.conn.proto == &ws_proto) (void)conn_detach(&W.f.conn);
        if (took == 0 && drained == 0) {
            if (W.f.conn.closing) return;
            fail("stalled: reads nothing, writes nothing");
        }
    }
}

/* ---- checking the server's bytes --------------------------------------------------------- */

static int close_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

typedef struct reader {
    int deflate;
    buf msg, msgs;        /* the message being read, and each one read */
    int op, compressed, in_message;
    int close_sent, app_close;
    unsigned close_code;  /* the close frame's code, 0 without one */
#if MOTE_CONFIG_WS_DEFLATE
    z_stream z;
    int z_ready;
#endif
} reader;

static void reader_message(reader *rd)
{
    const unsigned char *p = rd->msg.p;
    size_t len = rd->msg.len;
    buf plain = {0};
    uint32_t st = UTF8_OK;
    if (rd->compressed) {
#if MOTE_CONFIG_WS_DEFLATE
        static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
        unsigned char out[4096];
        int pass;
        if (!rd->z_ready) {
            memset(&rd->z, 0, sizeof rd->z);
            if (inflateInit2(&rd->z, -15) != Z_OK) abort();
            rd->z_ready = 1;
        }
        for (pass = 0; pass < 2; pass++) {
            rd->z.next_in = (Bytef *)(uintptr_t)(pass ? tail : (p ? p : tail));
            rd->z.avail_in = (uInt)(pass ? 4 : len);
            for (;;) {
                int r;
                rd->z.next_out = out;
                rd->z.avail_out = sizeof out;
                r = inflate(&rd->z, Z_SYNC_FLUSH);
                if (r != Z_OK && r != Z_BUF_ERROR) fail("a compressed message does not inflate");
                buf_add(&plain, out, sizeof out - rd->z.avail_out);
                if (rd->z.avail_out != 0) break;
            }
            if (rd->z.avail_in) fail("a compressed message inflates short");
        }
        p = plain.p;
        len = plain.len;
#else
        fail("RSV1 without zlib");
#endif
    }
    if (rd->op == WS_OP_TEXT && (utf8_validate(&st, p, len) != len || !utf8_at_boundary(st)))
        fail("a text message sent is not UTF-8");
    log_message(&rd->msgs, rd->op == WS_OP_BINARY, p, len);
    buf_free(&plain);
    rd->msg.len = 0;
}

/* Reads the server frames at p[0..len): returns 0, or fails. */
static void check_frames(reader *rd, const unsigned char *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        unsigned b0, op, rsv;
        uint64_t n;
        size_t h = 2, i;
        if (rd->close_sent) fail("bytes after a close frame");
        if (len - at < 2) fail("a frame header cut short");
        b0 = p[at];
        op = b0 & 0x0fu;
        rsv = b0 & 0x70u;
        if (p[at + 1] & 0x80u) fail("a masked server frame");
        n = p[at + 1] & 0x7fu;
        if (n == 126) {
            if (len - at < 4) fail("a frame header cut short");
            n = (uint64_t)p[at + 2] << 8 | p[at + 3];
            if (n < 126) fail("a 16-bit length not in its shortest form");
            h = 4;
        } else if (n == 127) {
            if (len - at < 10) fail("a frame header cut short");
            for (n = 0, i = 0; i < 8; i++) n = n << 8 | p[at + 2 + i];
            if (n <= 0xffff || (n >> 63)) fail("a 64-bit length not in its shortest form");
            h = 10;
        }
        if (n > len - at - h) fail("a frame's payload cut short");
        if (rsv & 0x30u) fail("RSV2 or RSV3 sent");
        if ((rsv & WS_RSV1) && !rd->deflate) fail("RSV1 sent without deflate");
        if (ws_is_control(op)) {
            if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG) fail("a reserved opcode");
            if (!(b0 & 0x80u) || n > 125) fail("a control frame fragmented or over 125 bytes");
            if (rsv) fail("RSV on a control frame");
            if (op == WS_OP_CLOSE) {
                const unsigned char *q = p + at + h;
                uint32_t st = UTF8_OK;
                if (n == 1) fail("a close frame of one byte");
                if (n >= 2) {
                    unsigned code = (unsigned)q[0] << 8 | q[1];
                    if (!close_code_ok(code)) fail("a close code not to be sent");
                    if (utf8_validate(&st, q + 2, (size_t)n - 2) != n - 2 || !utf8_at_boundary(st))
                        fail("a close reason not UTF-8");
                    rd->app_close = code == 3000 && n == 5 && memcmp(q + 2, "app", 3) == 0;
                    rd->close_code = code;
                }
                rd->close_sent = 1;
            }
        } else {
            if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY)
                fail("a reserved opcode");
            if (op == WS_OP_CONTINUATION) {
                if (!rd->in_message) fail("a continuation outside a message");
                if (rsv) fail("RSV1 on a continuation");
            } else {
                if (rd->in_message) fail("a new message inside a fragmented one");
                rd->op = (int)op;
                rd->compressed = (rsv & WS_RSV1) != 0;
            }
            buf_add(&rd->msg, p + at + h, (size_t)n);
            rd->in_message = !(b0 & 0x80u);
            if (b0 & 0x80u) reader_message(rd);
        }
        at += h + (size_t)n;
    }
}

static void reader_free(reader *rd)
{
#if MOTE_CONFIG_WS_DEFLATE
    if (rd->z_ready) inflateEnd(&rd->z);
#endif
    buf_free(&rd->msg);
    buf_free(&rd->msgs);
}

/* ---- building frames from a list of records ------------------------------------------------ */

#if MOTE_CONFIG_WS_DEFLATE
static void compress_into(z_stream *z, const unsigned char *p, size_t len, int end, buf *out)
{
    unsigned char tmp[4096];
    size_t start = out->len;
    z->next_in = (Bytef *)(uintptr_t)(p ? p : tmp);
    z->avail_in = (uInt)len;
    do {
        z->next_out = tmp;
        z->avail_out = sizeof tmp;
        if (deflate(z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) abort();
        buf_add(out, tmp, sizeof tmp - z->avail_out);
    } while (z->avail_out == 0);
    if (end && out->len - start >= 4) out->len -= 4; /* 00 00 ff ff */
}
#endif

/* Builds the frames; *largest: the most bytes a data message holds before compression. */
static void build_frames(const unsigned char *p, size_t len, int deflate, int nct, buf *out,
                         uint64_t *largest, int *texts)
{
    size_t at = 0;
    uint64_t msg = 0;
    int compressing = 0;
    buf payload = {0};
#if MOTE_CONFIG_WS_DEFLATE
    z_stream z;
    int z_ready = 0;
#endif
    (void)nct;
    while (at < len && out->len < MAX_CLIENT_BYTES) {
        unsigned b0 = p[at++], n = at < len ? p[at++] : 0, op = b0 & 0x0fu;
        unsigned char mask[4] = {(unsigned char)b0, (unsigned char)n, 0x5a, 0xa5}, hdr[14];
        size_t take, hl = 0, i;
        payload.len = 0;
        if (n < 0xf0) {
            take = len - at < n ? len - at : n;
            buf_add(&payload, p + at, take);
            at += take;
        } else {
            size_t unit = len - at < 16 ? len - at : 16, times = (size_t)(n - 0xef) * 1024;
            for (i = 0; i < times && unit; i++) buf_add(&payload, p + at, unit);
            at += unit;
        }
        if (op == WS_OP_TEXT || op == WS_OP_CONTINUATION || op == WS_OP_CLOSE) *texts = 1;
        if (!ws_is_control(op)) {
            msg = (op == WS_OP_CONTINUATION ? msg : 0) + payload.len;
            if (msg > *largest) *largest = msg;
        }
        if (!ws_is_control(op) && op != WS_OP_CONTINUATION) compressing = deflate && (b0 & WS_RSV1);
        if (!ws_is_control(op) && compressing) {
#if MOTE_CONFIG_WS_DEFLATE
            buf c = {0};
            if (!z_ready) {
                memset(&z, 0, sizeof z);
                if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
                z_ready = 1;
            }
            compress_into(&z, payload.p, payload.len, (b0 & 0x80u) != 0, &c);
            if ((b0 & 0x80u) && nct) deflateReset(&z);
            buf_free(&payload);
            payload = c;
#endif
        }
        if (ws_is_control(op) || (b0 & 0x80u)) {
            if (!ws_is_control(op)) compressing = 0;
        }
        hdr[hl++] = (unsigned char)b0;
        if (payload.len < 126) {
            hdr[hl++] = (unsigned char)(0x80u | payload.len);
        } else if (payload.len <= 0xffff) {
            hdr[hl++] = 0xfe;
            hdr[hl++] = (unsigned char)(payload.len >> 8);
            hdr[hl++] = (unsigned char)payload.len;
        } else {
            hdr[hl++] = 0xff;
            for (i = 0; i < 8; i++) hdr[hl++] = (unsigned char)((uint64_t)payload.len >> (56 - 8 * i));
        }
        memcpy(hdr + hl, mask, 4);
        hl += 4;
        buf_add(out, hdr, hl);
        for (i = 0; i < payload.len; i++) payload.p[i] ^= mask[i & 3];
        buf_add(out, payload.p, payload.len);
    }
#if MOTE_CONFIG_WS_DEFLATE
    if (z_ready) deflateEnd(&z);
#endif
    buf_free(&payload);
}

/* ---- the run ----------------------------------------------------------------------------- */

static void request(const cfg *k, buf *req, buf *head)
{
    char r[512], h[512];
    const char *offer = !k->deflate ? ""
                        : k->nct    ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; "
                                      "server_no_context_takeover; client_no_context_takeover\r\n"
                                    : "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    const char *answer = !k->deflate || !ws_zlib_available() ? ""
                         : k->nct ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                                    "client_no_context_takeover\r\n"
                                  : "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    int n = snprintf(r, sizeof r,
                     "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n", offer);
    buf_add(req, r, (size_t)n);
    n = snprintf(h, sizeof h,
                 "HTTP/1.1 101 Switching Protocols\r\nServer: mote\r\n"
                 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: " ACCEPT "\r\n%s\r\n", answer);
    buf_add(head, h, (size_t)n);
}

static void run(const cfg *k, const buf *req, const unsigned char *client, size_t len, size_t cut,
                result *r)
{
    int attached;
    memset(r, 0, sizeof *r);
    start(k, r);
    feed(req->p, req->len);
    feed(client, cut);
    feed(client + cut, len - cut);
    if (W.f.conn.b) drain(SIZE_MAX);
    buf_add(&r->out, W.f.out, W.f.out_len);
    r->upgraded = W.f.conn.proto == &ws_proto;
    r->closing = W.f.conn.closing;
    r->peer_eof = W.f.conn.peer_eof;
    if (W.f.conn.b) {
        const out_seg *segs;
        if (conn_pending(&W.f.conn, &segs)) fail("output left after draining all of it");
    }
    attached = W.f.conn.b != NULL;
    fenv_finish(&W.f); /* conn_abort (on_close with 1006 if it has not closed), and the block */
    pool_free(&W.sockets);
    if (!attached) free(W.block);
    buf_free(&W.cur);
    buf_free(&W.fwd);
    r->peak = MC.peak;
    if (MC.live || MC.count) fail("env allocations not freed");
    if (W.buffered) fail("ws_buffered not back to 0 once the socket is gone");
}

static int same(const buf *a, const buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void dump(const char *what, const buf *b)
{
    size_t i;
    fprintf(stderr, "%s (%zu bytes):", what, b->len);
    for (i = 0; i < b->len && i < 2000; i++) fprintf(stderr, " %02x", b->p[i]);
    fputc('\n', stderr);
}

/* The output of one feed: the 101, then server frames that keep every rule. */
static void check_output(const cfg *k, const buf *head, const result *a, reader *rd)
{
    if (a->out.len < head->len || memcmp(a->out.p, head->p, head->len) != 0) {
        dump("out", &a->out);
        fail("not the expected 101");
    }
    if (!a->upgraded || a->opens != 1) fail("not upgraded");
    rd->deflate = k->deflate && ws_zlib_available();
    check_frames(rd, a->out.p + head->len, a->out.len - head->len);
    if (rd->close_sent && !rd->app_close && !a->closing) fail("a close sent, and not closing");
    if (a->closing && !a->peer_eof && !rd->close_sent && !a->app_closed)
        fail("closing without a close frame");
    if (a->after_close) fail("a message after on_close");
    if ((k->action == ACT_ECHO || k->action == ACT_PARTS) && !a->send_failed && !rd->in_message &&
        !same(&a->sent, &rd->msgs))
        fail("what the application sent is not what went out");
    if ((k->action == ACT_ECHO || k->action == ACT_PARTS) && !a->send_failed && !a->app_closed &&
        !same(&a->sent, &a->msgs))
        fail("the echo is not what was delivered");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg k;
    buf req = {0}, head = {0}, client = {0};
    result a, b;
    reader rd, rb;
    size_t cut, bound;
    uint64_t largest = 0;
    int pieces_out, texts = 0;
    (void)fenv_start; /* the harness lends a block of its own, to take it back and lend it again */
    if (size < 4) return 0;
    memset(&k, 0, sizeof k);
    k.deflate = data[0] & 1;
    k.stream = (data[0] >> 1) & 1;
    k.action = (data[0] >> 2) & 3;
    k.limit = (data[0] >> 4) & 1 ? 1000 : 1u << 20;
    k.detach = (data[0] >> 5) & 1;
    k.nct = (data[0] >> 6) & 1;
    k.built = (data[0] >> 7) & 1;
    k.slow = (size_t)(data[1] >> 1) * 8;
    k.budget = data[1] & 1 ? 48u << 10 : 0;
    request(&k, &req, &head);
    if (k.built)
        build_frames(data + 4, size - 4, k.deflate && ws_zlib_available(), k.nct, &client, &largest,
                     &texts);
    else buf_add(&client, data + 4, size - 4);
    cut = ((size_t)data[2] << 8 | data[3]) % (client.len + 1);
    if (!client.p) buf_add(&client, "", 1), client.len = 0; /* no frames built: none to feed */

    run(&k, &req, client.p, client.len, client.len, &a);
    run(&k, &req, client.p, client.len, cut, &b);
    if (getenv("FUZZ_WS_DUMP")) {
        dump("out", &a.out);
        dump("msgs", &a.msgs);
    }
    /* a streaming route that sends each piece as it comes sends other frames for other cuts:
     * then the messages must be the same, not the bytes */
    pieces_out = k.stream && k.action == ACT_PARTS;
    if ((!pieces_out && !same(&a.out, &b.out)) || !same(&a.msgs, &b.msgs) ||
        a.closing != b.closing || a.close_code != b.close_code) {
        dump("whole", &a.out);
        dump("cut", &b.out);
        fail("the output differs with the input cut in two");
    }

    /* the 101, then server frames */
    memset(&rd, 0, sizeof rd);
    memset(&rb, 0, sizeof rb);
    check_output(&k, &head, &a, &rd);
    check_output(&k, &head, &b, &rb);
    if ((!a.send_failed && !b.send_failed && !same(&rd.msgs, &rb.msgs)) ||
        rd.close_sent != rb.close_sent) {
        dump("whole", &a.out);
        dump("cut", &b.out);
        fprintf(stderr, "messages sent: %zu / %zu bytes, close sent %d / %d\n", rd.msgs.len,
                rb.msgs.len, rd.close_sent, rb.close_sent);
        fail("the messages sent differ with the input cut in two");
    }
    /* frames the harness built say how large each message is: 1009 only for one over the
     * limit (a whole-message route; a streaming one's limit is per frame) */
    if (k.built && !k.stream && rd.close_code == 1009 && largest <= k.limit)
        fail("1009 for messages within the limit");
    /* ... and well-formed deflate data: 1007 only for a text (or a close reason) */
    if (k.built && rd.close_code == 1007 && !texts) fail("1007 without a text, with valid deflate data");
    reader_free(&rd);
    reader_free(&rb);

    /* memory: the message (twice its limit while its buffer doubles), one outgoing copy of
     * the limit (compressed: a little more), zlib's streams both ways (about 350 KiB) */
    bound = 3 * (size_t)k.limit + (size_t)k.limit / 256 + (512u << 10);
    if (a.peak > bound || b.peak > bound) {
        fprintf(stderr, "peak %zu / %zu, bound %zu\n", a.peak, b.peak, bound);
        fail("the env allocator held more than the limits allow");
    }

    buf_free(&a.out);
    buf_free(&a.msgs);
    buf_free(&a.sent);
    buf_free(&b.out);
    buf_free(&b.msgs);
    buf_free(&b.sent);
    buf_free(&req);
    buf_free(&head);
    buf_free(&client);
    return 0;
}
