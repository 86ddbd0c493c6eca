/* test_ws.c - WebSocket (RFC 6455, RFC 7692) through a real connection machine: the opening
 * handshake and its refusals, subprotocol and permessage-deflate negotiation, RFC 6455 §5.7's
 * examples byte for byte, every protocol error with its close code, the close codes a peer may
 * and may not send, compressed messages and a zip bomb, streamed messages, ping and pong, and a
 * close started by the application.
 *
 * Every scenario is the bytes a client sends (the upgrade request, then masked frames), fed
 * through conn_harness.h whole, then cut in two at every point, then a byte at a time; the
 * server's bytes, the messages the application saw and how the connection ended must be the
 * same every way. Allocations through the env's allocator are counted, and must all come back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if MOTE_CONFIG_WS_DEFLATE
#include <zlib.h>
#endif

#include "check.h"
#include "conn_harness.h"
#include "proto/ws.h"
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3 */
#define SERVER_MAX_MESSAGE (1024u * 1024u)

/* ---- a counting allocator for env.alloc: live bytes and their peak ----------------------- */

typedef struct mem {
    size_t live, peak, count, allocs;
} mem;

static mem M;

typedef union m_head {
    size_t size;
    max_align_t align;
} m_head;

static void *m_alloc(void *ctx, size_t n)
{
    m_head *p = malloc(sizeof(m_head) + n);
    (void)ctx;
    if (!p) return NULL;
    p->size = n;
    M.live += n;
    M.count++;
    M.allocs++;
    if (M.live > M.peak) M.peak = M.live;
    return p + 1;
}

static void m_free(void *ctx, void *ptr)
{
    m_head *p;
    (void)ctx;
    if (!ptr) return;
    p = (m_head *)ptr - 1;
    M.live -= p->size;
    M.count--;
    free(p);
}

/* ---- bytes of the client and of the server ---------------------------------------------- */

static const unsigned char MASKS[4][4] = {
    {0x37, 0xfa, 0x21, 0x3d}, {0x01, 0x80, 0xfe, 0x7f}, {0x00, 0x00, 0x00, 0x00}, {0xa5, 0x5a, 0xc3, 0x3c}};
static unsigned mask_next;

/* A client frame: first byte b0 (FIN, RSV, opcode), masked with `mask`, its length in the
 * shortest form. */
static void cframe_mask(strbuf *b, unsigned b0, const void *data, size_t len, const unsigned char mask[4])
{
    unsigned char hdr[WS_MAX_HEADER];
    const unsigned char *d = data;
    size_t n = 0, i;
    char *at;
    hdr[n++] = (unsigned char)b0;
    if (len < 126) {
        hdr[n++] = (unsigned char)(0x80u | len);
    } else if (len <= 0xffff) {
        hdr[n++] = 0x80u | 126u;
        hdr[n++] = (unsigned char)(len >> 8);
        hdr[n++] = (unsigned char)len;
    } else {
        hdr[n++] = 0x80u | 127u;
        for (i = 0; i < 8; i++) hdr[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(hdr + n, mask, 4);
    n += 4;
    sb_add(b, (const char *)hdr, n);
    if (!len) return;
    sb_add(b, (const char *)d, len); /* room, then masked in place */
    at = b->p + b->len - len;
    for (i = 0; i < len; i++) at[i] = (char)(d[i] ^ mask[i & 3]);
}

/* A client frame with the next of MASKS (the all-zero mask among them). */
static void cframe(strbuf *b, unsigned b0, const void *data, size_t len)
{
    cframe_mask(b, b0, data, len, MASKS[mask_next++ % 4]);
}

static void cframe_str(strbuf *b, unsigned b0, const char *s)
{
    cframe(b, b0, s, strlen(s));
}

/* A client close frame with `code` and a reason (code < 0: no payload). */
static void cclose(strbuf *b, int code, const char *reason, size_t rlen)
{
    unsigned char p[130];
    size_t n = 0;
    if (code >= 0) {
        p[n++] = (unsigned char)(code >> 8);
        p[n++] = (unsigned char)code;
        memcpy(p + n, reason, rlen);
        n += rlen;
    }
    cframe(b, 0x88, p, n);
}

static void raw(strbuf *b, const void *bytes, size_t n)
{
    sb_add(b, (const char *)bytes, n);
}

/* A server frame (unmasked). */
static void sframe(strbuf *b, unsigned b0, const void *data, size_t len)
{
    unsigned char hdr[WS_MAX_SERVER_HEADER];
    size_t n = ws_write_header(hdr, b0 & 0xf0u, b0 & 0x0fu, len);
    sb_add(b, (const char *)hdr, n);
    if (len) sb_add(b, (const char *)data, len);
}

static void sframe_str(strbuf *b, unsigned b0, const char *s)
{
    sframe(b, b0, s, strlen(s));
}

/* The server's close frame with a code and no reason. */
static void sclose(strbuf *b, unsigned code)
{
    unsigned char p[4] = {0x88, 0x02, (unsigned char)(code >> 8), (unsigned char)code};
    sb_add(b, (const char *)p, 4);
}

/* The upgrade request, with `extra` fields (each with its CRLF). */
static void upgrade_req(strbuf *b, const char *extra)
{
    sb_printf(b,
              "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
              extra ? extra : "");
}

/* The 101 as the library writes it, with `fields` after the accept value. */
static void expect_101(strbuf *b, const char *fields)
{
    sb_printf(b,
              "HTTP/1.1 101 Switching Protocols\r\n" H_PREFIX
              "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT
              "\r\n%s\r\n",
              fields ? fields : "");
}

/* ---- the application ------------------------------------------------------------------- */

enum action {
    ACT_NONE,   /* messages are recorded, nothing is sent */
    ACT_ECHO,   /* each whole message is sent back (a streamed one once its last piece is in) */
    ACT_CLOSE   /* the first message is answered with mote_ws_close(1000, "bye") */
};

typedef struct wsopt {
    const char *const *subprotocols;
    const char *const *origins;
    uint64_t max_message;     /* the route's (0: the server's, SERVER_MAX_MESSAGE) */
    int stream;
    int no_deflate;
    int action;
    int detach;               /* the block is taken back whenever the connection is idle */
    int refuse;               /* on_open's answer */
    int eof;                  /* the peer's EOF after its bytes */
    uint64_t budget;          /* the loop's ws_max_buffered (0: the heap is not counted) */
} wsopt;

/* What one feed of a scenario gave. */
typedef struct outcome {
    strbuf out;               /* the server's bytes */
    strbuf msgs;              /* each message: 'T' or 'B', its length, ':', its bytes, '\n' */
    int upgraded;             /* the connection speaks WebSocket */
    int closing;
    int opens, closes, close_code; /* on_close while the bytes were fed */
    char close_reason[128];
    int end_closes, end_code;      /* on_close when the connection was then torn down (1006) */
    char protocol[32];        /* mote_ws_protocol() in on_open */
    int compressed;           /* mote_ws_compressed() in on_open */
    int errors;               /* a callback broke the API's promises, or a send failed */
    int close_rc;             /* mote_ws_close()'s result (ACT_CLOSE) */
    size_t pieces;            /* streamed pieces */
    size_t detaches;
    size_t peak;              /* the env allocator's live bytes at their highest */
} outcome;

typedef struct run {
    const wsopt *o;
    harness h;
    outcome *res;
    strbuf cur;               /* a streamed message so far */
    int in_message;
    int ending;               /* the harness is tearing the connection down */
    uint64_t buffered;        /* conn_env.ws_buffered (wsopt.budget) */
} run;

static run R;

static void outcome_free(outcome *o)
{
    sb_free(&o->out);
    sb_free(&o->msgs);
    memset(o, 0, sizeof *o);
}

static void record_message(outcome *res, int binary, const char *data, size_t len)
{
    sb_printf(&res->msgs, "%c%zu:", binary ? 'B' : 'T', len);
    if (len) sb_add(&res->msgs, data, len);
    sb_add(&res->msgs, "\n", 1);
}

static int on_open(mote_ws *ws, mote_request *req, void *user)
{
    run *r = user;
    const char *p = mote_ws_protocol(ws);
    (void)req;
    r->res->opens++;
    if (p) snprintf(r->res->protocol, sizeof r->res->protocol, "%s", p);
    r->res->compressed = mote_ws_compressed(ws);
    return r->o->refuse;
}

static void answer(run *r, mote_ws *ws, int binary, const char *data, size_t len)
{
    if (r->o->action == ACT_ECHO) {
        int rc = binary ? mote_ws_send_binary(ws, data, len) : mote_ws_send_text(ws, data, len);
        if (rc != MOTE_OK) r->res->errors++;
    } else if (r->o->action == ACT_CLOSE && r->res->close_rc == 1) {
        r->res->close_rc = mote_ws_close(ws, 1000, "bye");
    }
}

static void on_message(mote_ws *ws, const mote_ws_message *m, void *user)
{
    run *r = user;
    if (r->res->closes) r->res->errors++; /* nothing after on_close */
    if (!r->o->stream) {
        if (!m->first || !m->last) r->res->errors++;
        record_message(r->res, m->binary, m->data, m->len);
        answer(r, ws, m->binary, m->data, m->len);
        return;
    }
    r->res->pieces++;
    if (m->first != !r->in_message) r->res->errors++;
    r->in_message = !m->last;
    sb_add(&r->cur, m->len ? m->data : "", m->len);
    if (m->last) {
        record_message(r->res, m->binary, r->cur.p ? r->cur.p : "", r->cur.len);
        answer(r, ws, m->binary, r->cur.p ? r->cur.p : "", r->cur.len);
        r->cur.len = 0;
    }
}

static void on_close(mote_ws *ws, int code, const char *reason, void *user)
{
    run *r = user;
    (void)ws;
    if (r->ending) {
        r->res->end_closes++;
        r->res->end_code = code;
        return;
    }
    r->res->closes++;
    r->res->close_code = code;
    snprintf(r->res->close_reason, sizeof r->res->close_reason, "%s", reason ? reason : "(null)");
}

/* ---- running a scenario ----------------------------------------------------------------- */

/* Feeds len bytes in pieces of `step` (0: as much as fits); with o->detach, the block is taken
 * back each time the connection is idle and lent again before the next piece. A `slow` reader
 * takes at most that many bytes of output after each piece, so the output backs up and the
 * connection must stop reading, then go on as it drains. */
static void feed(run *r, const unsigned char *p, size_t len, size_t step, size_t slow)
{
    harness *h = &r->h;
    size_t done = 0, guard = 0;
    if (!r->o->detach && !slow) {
        (void)h_feed(h, p, len, step);
        return;
    }
    h->drain = !slow;
    while (done < len && guard++ <= 4 * len + 100) {
        size_t n = len - done, took, drained = 0;
        if (step && n > step) n = step;
        if (!h->conn.b && conn_attach(&h->conn, h->block) < 0) break;
        took = h_feed(h, p + done, n, 0);
        done += took;
        if (slow && h->conn.b) drained = h_drain(h, slow);
        if (r->o->detach && h->conn.proto == &ws_proto && conn_detach(&h->conn)) r->res->detaches++;
        if (took == 0 && drained == 0) {
            char *at;
            if (h->conn.closing || !h->conn.b) break;
            if (conn_read_space(&h->conn, &at) == 0) r->res->errors++; /* stalled */
            break;
        }
    }
    h->drain = 1;
}

/* One feed of a scenario: the first `cut` bytes, then the rest, each in pieces of `step`. */
static void ws_run(const wsopt *o, const void *in, size_t len, size_t cut, size_t step, size_t slow,
                   outcome *res)
{
    static const mote_allocator counted = {m_alloc, m_free, NULL};
    run *r = &R;
    harness *h = &r->h;
    mote_ws_route_def def;
    memset(res, 0, sizeof *res);
    sb_free(&r->cur);
    memset(r, 0, sizeof *r);
    memset(&M, 0, sizeof M);
    r->o = o;
    r->res = res;
    res->close_rc = 1; /* not called yet */
    h_init(h);
    h->env.alloc = counted;
    h_ws_enable(h, SERVER_MAX_MESSAGE);
    if (o->budget) {
        r->buffered = 0;
        h->env.ws_buffered = &r->buffered;
        h->env.ws_max_buffered = o->budget;
    }
    memset(&def, 0, sizeof def);
    def.path = "/ws";
    def.match = MOTE_ROUTE_EXACT;
    def.user = r;
    def.subprotocols = o->subprotocols;
    def.origins = o->origins;
    def.on_open = on_open;
    def.on_message = on_message;
    def.on_close = on_close;
    def.max_message_size = o->max_message;
    def.stream_messages = o->stream;
    def.no_deflate = o->no_deflate;
    h_ws_route(h, &def);
    h_start(h);
    feed(r, in, cut, step, slow);
    feed(r, (const unsigned char *)in + cut, len - cut, step, slow);
    if (o->eof) h_eof(h);
    if (h->conn.b) h_drain(h, SIZE_MAX);
    if (h->out_len) sb_add(&res->out, h->out, h->out_len);
    res->upgraded = h->conn.proto == &ws_proto;
    res->closing = h->conn.closing;
    r->ending = 1;
    h_free(h);
    /* on_close exactly once for an open socket: when it closed, or now with 1006 */
    if (res->opens && !o->refuse)
        CHECK_MSG(res->closes + res->end_closes == 1 && (res->closes || res->end_code == 1006),
                  "on_close %d + %d times, at the end with %d", res->closes, res->end_closes,
                  res->end_code);
    res->peak = M.peak;
    CHECK_MSG(M.live == 0 && M.count == 0, "%zu bytes in %zu allocations not freed", M.live, M.count);
    CHECK_MSG(r->buffered == 0, "ws_buffered %llu once the socket is gone", (unsigned long long)r->buffered);
    sb_free(&r->cur);
}

static void hexdump(const char *what, const char *p, size_t len)
{
    size_t i, n = len < 400 ? len : 400;
    fprintf(stderr, "%s (%zu bytes):", what, len);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') fputc(ch, stderr);
        else fprintf(stderr, "\\x%02x", ch);
    }
    fprintf(stderr, "%s\n", n < len ? "..." : "");
}

static int same_bytes(const strbuf *a, const strbuf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Whether two feeds of a scenario came out the same. */
static int same_outcome(const char *name, const char *how, const outcome *a, const outcome *b)
{
    if (same_bytes(&a->out, &b->out) && same_bytes(&a->msgs, &b->msgs) && a->closing == b->closing &&
        a->upgraded == b->upgraded && a->opens == b->opens && a->closes == b->closes &&
        a->close_code == b->close_code && a->errors == b->errors &&
        strcmp(a->close_reason, b->close_reason) == 0)
        return 1;
    fprintf(stderr, "%s: %s differs from whole: closing %d/%d, close %d %d/%d %d, errors %d/%d\n",
            name, how, a->closing, b->closing, a->closes, a->close_code, b->closes, b->close_code,
            a->errors, b->errors);
    hexdump("  whole out", a->out.p ? a->out.p : "", a->out.len);
    hexdump("  this out ", b->out.p ? b->out.p : "", b->out.len);
    hexdump("  whole msgs", a->msgs.p ? a->msgs.p : "", a->msgs.len);
    hexdump("  this msgs ", b->msgs.p ? b->msgs.p : "", b->msgs.len);
    return 0;
}

/* Runs a scenario whole into *whole, then cut in two at every point (inside the upgrade request
 * at every 5th; of an input over 4 KiB at each of its first 256 and last 16 and every 1999th
 * between), then a byte at a time, in 7-byte pieces, and in 64-byte
 * pieces to a slow reader: each must give what the whole feed gave. */
static void scenario(const char *name, const wsopt *o, const strbuf *in, outcome *whole)
{
    const unsigned char *p = (const unsigned char *)in->p;
    size_t len = in->len, cut, stride = len > 4096 ? 1999 : 1;
    const char *blank = h_find(in->p, len, "\r\n\r\n");
    size_t head = blank ? (size_t)(blank - in->p) : 0; /* cuts inside the request: every 5th */
    outcome t;
    int bad = 0;
    ws_run(o, p, len, len, 0, 0, whole);
    for (cut = 1; cut < len && bad < 3;
         cut += cut + 8 < head ? 5 : cut < 256 || cut + 16 > len ? 1 : stride) {
        char how[48];
        ws_run(o, p, len, cut, 0, 0, &t);
        snprintf(how, sizeof how, "cut at %zu", cut);
        if (!same_outcome(name, how, whole, &t)) bad++;
        outcome_free(&t);
    }
    ws_run(o, p, len, len, 1, 0, &t);
    if (!same_outcome(name, "a byte at a time", whole, &t)) bad++;
    outcome_free(&t);
    ws_run(o, p, len, len, 7, 0, &t);
    if (!same_outcome(name, "7-byte pieces", whole, &t)) bad++;
    outcome_free(&t);
    ws_run(o, p, len, len, 64, 50, &t);
    if (!same_outcome(name, "a slow reader", whole, &t)) bad++;
    outcome_free(&t);
    CHECK_MSG(bad == 0, "%s: %d feed(s) differ", name, bad);
}

/* The output must be `want` exactly. */
static void check_out(const char *name, const outcome *got, const strbuf *want)
{
    int ok = same_bytes(&got->out, want);
    CHECK_MSG(ok, "%s: output differs", name);
    if (!ok) {
        hexdump("  got ", got->out.p ? got->out.p : "", got->out.len);
        hexdump("  want", want->p ? want->p : "", want->len);
    }
}

/* Runs `frames` after the plain upgrade request: the output must be the 101 then `want`. */
static void check_frames(const char *name, const wsopt *o, const strbuf *frames,
                         const strbuf *want_frames, outcome *res)
{
    strbuf in = {0}, want = {0};
    upgrade_req(&in, NULL);
    raw(&in, frames->p, frames->len);
    expect_101(&want, NULL);
    if (want_frames->len) raw(&want, want_frames->p, want_frames->len);
    scenario(name, o, &in, res);
    check_out(name, res, &want);
    CHECK_MSG(res->upgraded, "%s: not upgraded", name);
    CHECK_MSG(res->errors == 0, "%s: %d callback errors", name, res->errors);
    sb_free(&in);
    sb_free(&want);
}

/* A protocol error: the frames draw a close frame with `code` (after `before`, the server frames
 * that come first) and the connection closes; on_close hears the code. */
static void check_fail(const char *name, const wsopt *o, const strbuf *frames, const strbuf *before,
                       unsigned code)
{
    outcome res;
    strbuf want = {0};
    size_t n = before ? before->len : 0;
    want.cap = n + 8; /* (filled by hand: gcc's -Wstringop-overflow misreads sb_add() here) */
    want.p = malloc(want.cap);
    if (!want.p) abort();
    if (n) memcpy(want.p, before->p, n);
    want.len = n;
    sclose(&want, code);
    check_frames(name, o, frames, &want, &res);
    CHECK_MSG(res.closing, "%s: the connection is not closing", name);
    CHECK_MSG(res.closes == 1 && res.close_code == (int)code, "%s: on_close %d times, code %d", name,
              res.closes, res.close_code);
    outcome_free(&res);
    sb_free(&want);
}

static const wsopt ECHO = {NULL, NULL, 0, 0, 0, ACT_ECHO, 0, 0, 0, 0};

/* ---- the opening handshake ---------------------------------------------------------------- */

static void test_accept(void)
{
    strbuf in = {0}, want = {0};
    outcome res;
    upgrade_req(&in, NULL);
    expect_101(&want, NULL);
    scenario("101", &ECHO, &in, &res);
    check_out("101", &res, &want);
    CHECK(res.upgraded && res.opens == 1 && !res.closing && res.closes == 0);
    CHECK(res.compressed == 0 && res.protocol[0] == '\0');
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);

    /* field names and tokens in any case, lists with other tokens */
    sb_printf(&in, "GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: h2c, WebSocket\r\n"
                   "connection: keep-alive, UPGRADE\r\nsec-websocket-key: " KEY "\r\n"
                   "sec-websocket-version: 13\r\n\r\n");
    expect_101(&want, NULL);
    scenario("101, any case", &ECHO, &in, &res);
    check_out("101, any case", &res, &want);
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);
}

/* A request that is refused with `status`: the response's status line (and `field`, when
 * given) in the output, and no upgrade. */
static void check_refused(const char *name, const wsopt *o, const char *request, int status,
                          const char *field)
{
    strbuf in = {0};
    outcome res;
    char line[64];
    sb_add(&in, request, strlen(request));
    scenario(name, o, &in, &res);
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, mote_status_reason(status));
    CHECK_MSG(res.out.len > strlen(line) && memcmp(res.out.p, line, strlen(line)) == 0,
              "%s: want %d", name, status);
    if (field)
        CHECK_MSG(res.out.p && h_find(res.out.p, res.out.len, field) != NULL, "%s: no %s", name, field);
    CHECK_MSG(!res.upgraded && res.opens == (o->refuse ? 1 : 0), "%s: upgraded", name);
    CHECK_MSG(res.out.p && !h_find(res.out.p, res.out.len, "Sec-WebSocket-Accept"),
              "%s: an accept value", name);
    if (res.out.len < strlen(line) || memcmp(res.out.p, line, strlen(line)) != 0)
        hexdump("  got", res.out.p ? res.out.p : "", res.out.len);
    outcome_free(&res);
    sb_free(&in);
}

#define RQ_START "GET /ws HTTP/1.1\r\nHost: x\r\n"
#define RQ_UPGRADE "Upgrade: websocket\r\n"
#define RQ_CONNECTION "Connection: Upgrade\r\n"
#define RQ_KEY "Sec-WebSocket-Key: " KEY "\r\n"
#define RQ_VERSION "Sec-WebSocket-Version: 13\r\n"

static void test_refusals(void)
{
    static const char *const any_origin[] = {"*", NULL};
    wsopt star = ECHO;
    star.origins = any_origin;
    check_refused("no Upgrade", &ECHO, RQ_START RQ_CONNECTION RQ_KEY RQ_VERSION "\r\n", 400, NULL);
    check_refused("Upgrade: h2c", &ECHO,
                  RQ_START "Upgrade: h2c\r\n" RQ_CONNECTION RQ_KEY RQ_VERSION "\r\n", 400, NULL);
    check_refused("no Connection: upgrade", &ECHO,
                  RQ_START RQ_UPGRADE "Connection: keep-alive\r\n" RQ_KEY RQ_VERSION "\r\n", 400, NULL);
    check_refused("no Connection", &ECHO, RQ_START RQ_UPGRADE RQ_KEY RQ_VERSION "\r\n", 400, NULL);
    check_refused("no key", &ECHO, RQ_START RQ_UPGRADE RQ_CONNECTION RQ_VERSION "\r\n", 400, NULL);
    check_refused("a 15-byte key", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" RQ_VERSION
                  "\r\n", 400, NULL);
    check_refused("a 17-byte key", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n"
                  RQ_VERSION "\r\n", 400, NULL);
    check_refused("a key not base64", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!\r\n"
                  RQ_VERSION "\r\n", 400, NULL);
    check_refused("two keys", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_KEY RQ_VERSION "\r\n", 400, NULL);
    check_refused("no version", &ECHO, RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY "\r\n", 400, NULL);
    check_refused("HTTP/1.0", &ECHO,
                  "GET /ws HTTP/1.0\r\nHost: x\r\n" RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION "\r\n",
                  400, NULL);
    check_refused("a body", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION "Content-Length: 5\r\n\r\nhello",
                  400, NULL);
    check_refused("a chunked body", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, NULL);
    check_refused("version 8", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY "Sec-WebSocket-Version: 8\r\n\r\n", 426,
                  "\r\nSec-WebSocket-Version: 13\r\n");
    check_refused("POST", &ECHO,
                  "POST /ws HTTP/1.1\r\nHost: x\r\n" RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION
                  "Content-Length: 0\r\n\r\n", 405, NULL);
    check_refused("a foreign origin", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION "Origin: http://evil.example\r\n\r\n",
                  403, NULL);
    check_refused("an origin on another port", &ECHO,
                  RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION "Origin: http://x:8080\r\n\r\n",
                  403, NULL);
    {
        wsopt no = ECHO;
        no.refuse = 401;
        check_refused("on_open refuses", &no, RQ_START RQ_UPGRADE RQ_CONNECTION RQ_KEY RQ_VERSION "\r\n",
                      401, NULL);
    }

    /* allowed: the page's own origin, and any origin with "*" */
    {
        strbuf in = {0}, want = {0};
        outcome res;
        upgrade_req(&in, "Origin: https://X\r\n");
        expect_101(&want, NULL);
        scenario("same origin", &ECHO, &in, &res);
        check_out("same origin", &res, &want);
        outcome_free(&res);
        sb_free(&in);
        upgrade_req(&in, "Origin: http://evil.example\r\n");
        scenario("origins *", &star, &in, &res);
        check_out("origins *", &res, &want);
        outcome_free(&res);
        sb_free(&in);
        sb_free(&want);
    }
}

static void test_subprotocols(void)
{
    static const char *const protos[] = {"chat", "superchat", NULL};
    wsopt o = ECHO;
    strbuf in = {0}, want = {0};
    outcome res;
    o.subprotocols = protos;

    upgrade_req(&in, "Sec-WebSocket-Protocol: foo, superchat, chat\r\n");
    expect_101(&want, "Sec-WebSocket-Protocol: superchat\r\n");
    scenario("subprotocol: the client's first", &o, &in, &res);
    check_out("subprotocol: the client's first", &res, &want);
    CHECK_EQ_STR(res.protocol, "superchat");
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);

    upgrade_req(&in, "Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: chat\r\n");
    expect_101(&want, "Sec-WebSocket-Protocol: chat\r\n");
    scenario("subprotocol: a second field", &o, &in, &res);
    check_out("subprotocol: a second field", &res, &want);
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);

    upgrade_req(&in, "Sec-WebSocket-Protocol: foo, Chat\r\n");
    expect_101(&want, NULL);
    scenario("subprotocol: none", &o, &in, &res);
    check_out("subprotocol: none", &res, &want);
    CHECK_EQ_STR(res.protocol, "");
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);

    /* a route without subprotocols answers none */
    upgrade_req(&in, "Sec-WebSocket-Protocol: chat\r\n");
    expect_101(&want, NULL);
    scenario("subprotocol: the route has none", &ECHO, &in, &res);
    check_out("subprotocol: the route has none", &res, &want);
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);
}

/* The handshake's answer to an offer of extensions: `answer` is the extension field's value
 * (NULL: no such field). */
static void check_offer(const char *offer, const char *answer)
{
    strbuf in = {0}, want = {0};
    char field[256];
    outcome res;
    snprintf(field, sizeof field, "Sec-WebSocket-Extensions: %s\r\n", offer);
    upgrade_req(&in, field);
#if MOTE_CONFIG_WS_DEFLATE
    if (answer) snprintf(field, sizeof field, "Sec-WebSocket-Extensions: %s\r\n", answer);
    expect_101(&want, answer ? field : NULL);
#else
    (void)answer;
    expect_101(&want, NULL); /* never accepted without zlib */
#endif
    scenario(offer, &ECHO, &in, &res);
    check_out(offer, &res, &want);
    outcome_free(&res);
    sb_free(&in);
    sb_free(&want);
}

static void test_deflate_negotiation(void)
{
    check_offer("permessage-deflate", "permessage-deflate");
    check_offer("permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover");
    check_offer("permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover");
    check_offer("permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=10");
    check_offer("permessage-deflate; server_max_window_bits=\"9\"",
                "permessage-deflate; server_max_window_bits=9");
    check_offer("permessage-deflate; server_max_window_bits=15", "permessage-deflate");
    check_offer("permessage-deflate; server_max_window_bits=8", NULL);
    check_offer("permessage-deflate; server_max_window_bits=16", NULL);
    check_offer("permessage-deflate; server_max_window_bits", NULL);
    check_offer("permessage-deflate; server_max_window_bits=010", NULL);
    check_offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover", NULL);
    check_offer("permessage-deflate; server_no_context_takeover=1", NULL);
    check_offer("permessage-deflate; foo, permessage-deflate", "permessage-deflate");
    check_offer("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, "
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover");
    /* client_max_window_bits: accepted with or without a value, and not answered (RFC 7692
     * §7.1.2.2 lets the server leave it out; it must never name a parameter not offered) */
    check_offer("permessage-deflate; client_max_window_bits", "permessage-deflate");
    check_offer("permessage-deflate; client_max_window_bits=12", "permessage-deflate");
    check_offer("permessage-deflate; client_max_window_bits=7", NULL);
    check_offer("permessage-deflate;client_max_window_bits; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover");

    /* a route that declines it */
    {
        wsopt o = ECHO;
        strbuf in = {0}, want = {0};
        outcome res;
        o.no_deflate = 1;
        upgrade_req(&in, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        expect_101(&want, NULL);
        scenario("no_deflate", &o, &in, &res);
        check_out("no_deflate", &res, &want);
        CHECK(res.compressed == 0);
        outcome_free(&res);
        sb_free(&in);
        sb_free(&want);
    }
}

/* ---- RFC 6455 §5.7's examples ----------------------------------------------------------- */

static void test_rfc_examples(void)
{
    static const unsigned char hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                                 0x9f, 0x4d, 0x51, 0x58};
    static const unsigned char hello_echo[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const unsigned char pong[] = {0x8a, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const unsigned char m1[4] = {0x37, 0xfa, 0x21, 0x3d}, m2[4] = {0x9a, 0x0b, 0x7c, 0x11};
    strbuf fr = {0}, want = {0};
    outcome res;
    unsigned char *big;
    size_t i;

    raw(&fr, hello_masked, sizeof hello_masked);
    raw(&want, hello_echo, sizeof hello_echo);
    check_frames("masked Hello", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T5:Hello\n") == 0);
    CHECK(!res.closing && res.closes == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* fragmented: "Hel" and "lo", masked with different keys */
    cframe_mask(&fr, 0x01, "Hel", 3, m1);
    cframe_mask(&fr, 0x80, "lo", 2, m2);
    raw(&want, hello_echo, sizeof hello_echo);
    check_frames("fragmented Hello", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T5:Hello\n") == 0);
    outcome_free(&res);
    sb_free(&fr);
    /* ... and in three pieces, one empty */
    cframe_mask(&fr, 0x01, "He", 2, m2);
    cframe_mask(&fr, 0x00, "", 0, m1);
    cframe_mask(&fr, 0x80, "llo", 3, m1);
    check_frames("fragmented Hello, three frames", &ECHO, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* a ping "Hello": pong 0x8a 0x05 Hello */
    cframe_mask(&fr, 0x89, "Hello", 5, m1);
    raw(&want, pong, sizeof pong);
    check_frames("ping Hello", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.len == 0 && !res.closing);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* 256 bytes: 0x82 0x7E 0x01 0x00; 65536 bytes: 0x82 0x7F 0 0 0 0 0 1 0 0 */
    big = malloc(65536 + 1);
    if (!big) abort();
    for (i = 0; i <= 65536; i++) big[i] = (unsigned char)(i * 7 + (i >> 8));
    cframe(&fr, 0x82, big, 256);
    {
        static const unsigned char h256[] = {0x82, 0x7e, 0x01, 0x00};
        raw(&want, h256, sizeof h256);
        raw(&want, big, 256);
    }
    check_frames("256 bytes", &ECHO, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
    cframe(&fr, 0x82, big, 65536);
    {
        static const unsigned char h64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
        raw(&want, h64k, sizeof h64k);
        raw(&want, big, 65536);
    }
    check_frames("65536 bytes", &ECHO, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
    /* 125 and 126 bytes, the edge of the 7-bit form; 65535, the 16-bit form's last */
    cframe(&fr, 0x82, big, 125);
    cframe(&fr, 0x82, big, 126);
    cframe(&fr, 0x82, big, 65535);
    sframe(&want, 0x82, big, 125);
    sframe(&want, 0x82, big, 126);
    sframe(&want, 0x82, big, 65535);
    check_frames("125, 126, 65535 bytes", &ECHO, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
    free(big);
}

/* ---- protocol errors ----------------------------------------------------------------------- */

static void test_protocol_errors(void)
{
    static const unsigned char hello_unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const unsigned char bad_utf8[] = {0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc,
                                             0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74};
    strbuf fr = {0}, before = {0};
    unsigned op;
    char payload[130];
    wsopt small = ECHO;
    memset(payload, 'p', sizeof payload);

    raw(&fr, hello_unmasked, sizeof hello_unmasked);
    check_fail("unmasked", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    /* the unmasked bit is seen in the header's first two bytes: fail fast */
    raw(&fr, hello_unmasked, 2);
    check_fail("unmasked, header only", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);

    cframe_str(&fr, 0xc1, "Hello");
    check_fail("RSV1 without an extension", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0xa1, "Hello");
    check_fail("RSV2", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x91, "Hello");
    check_fail("RSV3", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x89, "x");
    sframe_str(&before, 0x8a, "x");
    cframe_str(&fr, 0xf9, "y"); /* a ping with every RSV bit */
    check_fail("RSV on a ping", &ECHO, &fr, &before, 1002);
    sb_free(&fr);
    sb_free(&before);

    for (op = 3; op <= 0xf; op++) {
        char name[32];
        if (op >= 8 && op <= 0xa) continue;
        snprintf(name, sizeof name, "opcode %u", op);
        cframe_str(&fr, 0x80 | op, "");
        check_fail(name, &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
        /* inside a fragmented message too */
        cframe_str(&fr, 0x01, "a");
        cframe_str(&fr, 0x80 | op, "b");
        snprintf(name, sizeof name, "opcode %u, fragmented", op);
        check_fail(name, &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
    }

    cframe_str(&fr, 0x09, "Hello");
    check_fail("a fragmented ping", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x08, "");
    check_fail("a fragmented close", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe(&fr, 0x89, payload, 126);
    check_fail("a 126-byte ping", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe(&fr, 0x8a, payload, 126);
    check_fail("a 126-byte pong", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    {
        /* 125 bytes is the most */
        outcome res;
        strbuf want = {0};
        cframe(&fr, 0x89, payload, 125);
        sframe(&want, 0x8a, payload, 125);
        check_frames("a 125-byte ping", &ECHO, &fr, &want, &res);
        CHECK(!res.closing);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }

    cframe_str(&fr, 0x80, "lo");
    check_fail("continuation of nothing", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x00, "lo");
    check_fail("continuation of nothing, not FIN", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x81, "Hello");
    sframe_str(&before, 0x81, "Hello");
    cframe_str(&fr, 0x80, "lo");
    check_fail("continuation after a whole message", &ECHO, &fr, &before, 1002);
    sb_free(&fr);
    sb_free(&before);
    cframe_str(&fr, 0x01, "Hel");
    cframe_str(&fr, 0x81, "lo");
    check_fail("a text frame inside a fragmented message", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    cframe_str(&fr, 0x02, "Hel");
    cframe_str(&fr, 0x01, "lo");
    check_fail("a text frame inside a fragmented binary", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);

    /* invalid UTF-8 (Autobahn 6.3.1's string): one frame, across fragments, fail fast */
    cframe(&fr, 0x81, bad_utf8, sizeof bad_utf8);
    check_fail("invalid UTF-8", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cframe(&fr, 0x01, bad_utf8, 12);
    cframe(&fr, 0x80, bad_utf8 + 12, sizeof bad_utf8 - 12);
    check_fail("invalid UTF-8 across fragments", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cframe(&fr, 0x01, bad_utf8, 14); /* ed a0 80: a surrogate; nothing follows */
    check_fail("invalid UTF-8, fail fast (fragment)", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cframe(&fr, 0x81, bad_utf8, sizeof bad_utf8);
    fr.len -= 4; /* the frame cut after its bad byte */
    check_fail("invalid UTF-8, fail fast (part of a frame)", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cframe(&fr, 0x81, "\xce", 1);
    check_fail("UTF-8 cut short", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cframe(&fr, 0x01, "\xce", 1);
    cframe(&fr, 0x80, "", 0);
    check_fail("UTF-8 cut short, fragmented", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    {
        /* a character split across fragments is fine */
        outcome res;
        strbuf want = {0};
        cframe(&fr, 0x01, "\xce", 1);
        cframe(&fr, 0x00, "\xba\xe1", 2);
        cframe(&fr, 0x80, "\xbd\xb9", 2);
        sframe(&want, 0x81, "\xce\xba\xe1\xbd\xb9", 5);
        check_frames("UTF-8 split across fragments", &ECHO, &fr, &want, &res);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }

    /* over the limit: a frame, a fragmented message */
    small.max_message = 100;
    cframe(&fr, 0x82, payload, 101);
    check_fail("101 bytes over 100", &small, &fr, NULL, 1009);
    sb_free(&fr);
    cframe(&fr, 0x82, payload, 101);
    fr.len -= 101;
    check_fail("101 bytes over 100, header only", &small, &fr, NULL, 1009);
    sb_free(&fr);
    cframe(&fr, 0x02, payload, 60);
    cframe(&fr, 0x80, payload, 41);
    check_fail("60 + 41 bytes over 100", &small, &fr, NULL, 1009);
    sb_free(&fr);
    {
        outcome res;
        strbuf want = {0};
        cframe(&fr, 0x02, payload, 60);
        cframe(&fr, 0x80, payload, 40);
        cframe(&fr, 0x82, payload, 100);
        sframe(&want, 0x82, payload, 100);
        sframe(&want, 0x82, payload, 100);
        check_frames("100 bytes of 100", &small, &fr, &want, &res);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }
    /* a length not in its shortest form (RFC 6455 §5.2: the minimal number of bytes MUST be
     * used), seen once the header is in */
    {
        static const unsigned char long16[] = {0x81, 0xfe, 0x00, 0x02, 0, 0, 0, 0};
        static const unsigned char long64[] = {0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0};
        static const unsigned char long64k[] = {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
        static const unsigned char long125[] = {0x82, 0xfe, 0x00, 0x7d, 0, 0, 0, 0};
        raw(&fr, long16, sizeof long16);
        raw(&fr, "hi", 2);
        check_fail("2 bytes in the 16-bit form", &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
        raw(&fr, long64, sizeof long64);
        check_fail("2 bytes in the 64-bit form, header only", &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
        raw(&fr, long64k, sizeof long64k);
        check_fail("65535 bytes in the 64-bit form, header only", &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
        raw(&fr, long125, sizeof long125);
        check_fail("125 bytes in the 16-bit form, header only", &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
    }
    /* the 64-bit length with its top bit set */
    {
        static const unsigned char huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
        raw(&fr, huge, sizeof huge);
        check_fail("a length with the top bit", &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
    }
    {
        static const unsigned char huge[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
        raw(&fr, huge, sizeof huge);
        check_fail("a length of 2^63 - 1", &ECHO, &fr, NULL, 1009);
        sb_free(&fr);
    }
}

/* ---- close frames ----------------------------------------------------------------------------- */

static void test_close(void)
{
    static const int bad[] = {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000,
                              2999, 5000, 65535};
    static const int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                               4000, 4999};
    strbuf fr = {0}, want = {0};
    outcome res;
    size_t i;

    cframe(&fr, 0x88, "\x03", 1);
    check_fail("close with 1 byte", &ECHO, &fr, NULL, 1002);
    sb_free(&fr);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "close code %d", bad[i]);
        cclose(&fr, bad[i], "", 0);
        check_fail(name, &ECHO, &fr, NULL, 1002);
        sb_free(&fr);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "close code %d", good[i]);
        cclose(&fr, good[i], "", 0);
        sclose(&want, (unsigned)good[i]);
        check_frames(name, &ECHO, &fr, &want, &res);
        CHECK_MSG(res.closing, "%s: not closing", name);
        CHECK_MSG(res.closes == 1 && res.close_code == good[i], "%s: on_close %d", name, res.close_code);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }

    cclose(&fr, 1000, "\xff\xfe", 2);
    check_fail("a close reason not UTF-8", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);
    cclose(&fr, 1000, "ok\xce", 3);
    check_fail("a close reason cut short", &ECHO, &fr, NULL, 1007);
    sb_free(&fr);

    /* a valid close with a reason: its code echoed, on_close hears both */
    cclose(&fr, 1001, "going away \xce\xba", 13);
    sclose(&want, 1001);
    check_frames("close with a reason", &ECHO, &fr, &want, &res);
    CHECK(res.closing && res.closes == 1 && res.close_code == 1001);
    CHECK_EQ_STR(res.close_reason, "going away \xce\xba");
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
    /* the longest reason: 123 bytes */
    {
        char reason[123];
        memset(reason, 'r', sizeof reason);
        cclose(&fr, 4000, reason, sizeof reason);
        sclose(&want, 4000);
        check_frames("close with 123 bytes of reason", &ECHO, &fr, &want, &res);
        CHECK(res.closing && res.close_code == 4000 && strlen(res.close_reason) == 123);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }

    /* an empty close: answered with an empty close, on_close hears 1005 */
    cclose(&fr, -1, NULL, 0);
    sb_add(&want, "\x88\x00", 2);
    check_frames("empty close", &ECHO, &fr, &want, &res);
    CHECK(res.closing && res.closes == 1 && res.close_code == 1005);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* nothing is read after the peer's close: a message behind it is not delivered */
    cframe_str(&fr, 0x81, "one");
    cclose(&fr, 1000, "", 0);
    cframe_str(&fr, 0x81, "two");
    cframe_str(&fr, 0x89, "ping");
    sframe_str(&want, 0x81, "one");
    sclose(&want, 1000);
    check_frames("frames after a close", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T3:one\n") == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* a close inside a fragmented message: answered at once */
    cframe_str(&fr, 0x01, "Hel");
    cclose(&fr, 1000, "", 0);
    sclose(&want, 1000);
    check_frames("close inside a fragmented message", &ECHO, &fr, &want, &res);
    CHECK(res.closing && res.msgs.len == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
}

/* ---- permessage-deflate --------------------------------------------------------------------- */

#if MOTE_CONFIG_WS_DEFLATE

/* Inflates a message's payload (RFC 7692 §7.2.2: the tail 00 00 ff ff added) with a stream of
 * the caller's (context kept across messages unless it is reset). */
static int inflate_message(z_stream *z, const unsigned char *p, size_t len, strbuf *out)
{
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    unsigned char buf[4096];
    int pass;
    for (pass = 0; pass < 2; pass++) {
        z->next_in = (Bytef *)(uintptr_t)(pass ? tail : p);
        z->avail_in = (uInt)(pass ? 4 : len);
        do {
            int r;
            z->next_out = buf;
            z->avail_out = sizeof buf;
            r = inflate(z, Z_SYNC_FLUSH);
            if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) return -1;
            sb_add(out, (const char *)buf, sizeof buf - z->avail_out);
            if (r == Z_BUF_ERROR) break;
        } while (z->avail_in || z->avail_out == 0);
    }
    return 0;
}

/* Compresses a message as a client would (raw deflate, sync flush, tail taken off). */
static void deflate_message(z_stream *z, const void *data, size_t len, strbuf *out)
{
    unsigned char buf[4096];
    size_t start = out->len;
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    do {
        z->next_out = buf;
        z->avail_out = sizeof buf;
        if (deflate(z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) abort();
        sb_add(out, (const char *)buf, sizeof buf - z->avail_out);
    } while (z->avail_out == 0);
    if (out->len - start < 4 || memcmp(out->p + out->len - 4, "\x00\x00\xff\xff", 4) != 0) abort();
    out->len -= 4;
}

/* The server frames after the 101 in `out`, each data message's payload inflated (when RSV1)
 * into `msgs` as record_message() writes it; control frames into `ctl` as "op:len;". Returns
 * the frames read, or -1 when they do not parse. */
static int server_frames(const strbuf *out, size_t from, strbuf *msgs, strbuf *ctl, int window_bits)
{
    const unsigned char *p = (const unsigned char *)out->p + from;
    size_t len = out->len - from, at = 0;
    int frames = 0, op = 0, deflated = 0;
    strbuf cur = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -window_bits) != Z_OK) abort();
    while (at < len) {
        size_t h = 2;
        uint64_t n;
        unsigned b0;
        if (len - at < 2 || (p[at + 1] & 0x80)) goto bad;
        n = p[at + 1] & 0x7f;
        if (n == 126) {
            if (len - at < 4) goto bad;
            n = (uint64_t)p[at + 2] << 8 | p[at + 3];
            h = 4;
        } else if (n == 127) {
            size_t i;
            if (len - at < 10) goto bad;
            for (n = 0, i = 0; i < 8; i++) n = n << 8 | p[at + 2 + i];
            h = 10;
        }
        if (n > len - at - h) goto bad;
        b0 = p[at];
        if (b0 & 0x08) {
            sb_printf(ctl, "%x:%u;", b0 & 0x0f, (unsigned)n);
        } else {
            if ((b0 & 0x0f) != 0) {
                op = b0 & 0x0f;
                deflated = (b0 & 0x40) != 0;
            }
            sb_add(&cur, (const char *)p + at + h, (size_t)n);
            if (b0 & 0x80) {
                strbuf plain = {0};
                if (deflated && inflate_message(&z, (const unsigned char *)(cur.p ? cur.p : ""),
                                                cur.len, &plain) < 0)
                    goto bad;
                if (!deflated) sb_add(&plain, cur.p ? cur.p : "", cur.len);
                sb_printf(msgs, "%c%zu:", op == 2 ? 'B' : 'T', plain.len);
                sb_add(msgs, plain.p ? plain.p : "", plain.len);
                sb_add(msgs, "\n", 1);
                sb_free(&plain);
                cur.len = 0;
            }
        }
        at += h + (size_t)n;
        frames++;
    }
    inflateEnd(&z);
    sb_free(&cur);
    return frames;
bad:
    inflateEnd(&z);
    sb_free(&cur);
    return -1;
}


/* The upgrade with an extensions offer, then `frames`: the scenario's outcome, and the
 * messages the server's frames carry (inflated with a window of `bits`) in *smsgs, its control
 * frames in *sctl. The 101 must carry `answer`. */
static void deflate_scenario(const char *name, const wsopt *o, const char *offer, const char *answer,
                             const strbuf *frames, int bits, outcome *res, strbuf *smsgs, strbuf *sctl)
{
    strbuf in = {0}, head = {0};
    char field[256];
    snprintf(field, sizeof field, "Sec-WebSocket-Extensions: %s\r\n", offer);
    upgrade_req(&in, field);
    raw(&in, frames->p, frames->len);
    snprintf(field, sizeof field, "Sec-WebSocket-Extensions: %s\r\n", answer);
    expect_101(&head, field);
    scenario(name, o, &in, res);
    CHECK_MSG(res->out.len >= head.len && memcmp(res->out.p, head.p, head.len) == 0, "%s: the 101", name);
    CHECK_MSG(res->upgraded && res->compressed, "%s: not compressed", name);
    CHECK_MSG(res->errors == 0, "%s: %d callback errors", name, res->errors);
    if (res->out.len >= head.len)
        CHECK_MSG(server_frames(&res->out, head.len, smsgs, sctl, bits) >= 0, "%s: server frames", name);
    sb_free(&in);
    sb_free(&head);
}

static void check_text(const char *name, const strbuf *got, const char *want, size_t want_len)
{
    int ok = got->len == want_len && (want_len == 0 || memcmp(got->p, want, want_len) == 0);
    CHECK_MSG(ok, "%s: messages differ", name);
    if (!ok) {
        hexdump("  got ", got->p ? got->p : "", got->len);
        hexdump("  want", want, want_len);
    }
}

static void test_deflate(void)
{
    static const unsigned char hello_c[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    static const unsigned char hello_again_c[] = {0xf2, 0x00, 0x11, 0x00, 0x00}; /* §7.2.3.2 */
    static const unsigned char hello_echo[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    wsopt detach = ECHO;
    strbuf fr = {0}, sm = {0}, sc = {0};
    outcome res;
    detach.detach = 1;

    /* RFC 7692 §7.2.3.1: "Hello" compressed, delivered as "Hello", echoed compressed */
    cframe(&fr, 0xc1, hello_c, sizeof hello_c);
    deflate_scenario("compressed Hello", &ECHO, "permessage-deflate", "permessage-deflate", &fr, 15,
                     &res, &sm, &sc);
    check_text("compressed Hello: delivered", &res.msgs, "T5:Hello\n", 9);
    check_text("compressed Hello: echo", &sm, "T5:Hello\n", 9);
    CHECK(res.out.len >= sizeof hello_echo &&
          memcmp(res.out.p + res.out.len - sizeof hello_echo, hello_echo, sizeof hello_echo) == 0);
    CHECK(!res.closing);
    outcome_free(&res);
    sb_free(&sm);
    sb_free(&sc);

    /* §7.2.3.2: the second "Hello" refers back into the first message's window */
    cframe(&fr, 0xc1, hello_again_c, sizeof hello_again_c);
    deflate_scenario("compressed Hello twice", &ECHO, "permessage-deflate", "permessage-deflate",
                     &fr, 15, &res, &sm, &sc);
    check_text("compressed Hello twice: delivered", &res.msgs, "T5:Hello\nT5:Hello\n", 18);
    check_text("compressed Hello twice: echo", &sm, "T5:Hello\nT5:Hello\n", 18);
    outcome_free(&res);
    sb_free(&sm);
    sb_free(&sc);
    /* the same with the block taken back between messages: the context stays */
    deflate_scenario("compressed Hello twice, detached", &detach, "permessage-deflate",
                     "permessage-deflate", &fr, 15, &res, &sm, &sc);
    check_text("compressed Hello twice, detached: delivered", &res.msgs, "T5:Hello\nT5:Hello\n", 18);
    check_text("compressed Hello twice, detached: echo", &sm, "T5:Hello\nT5:Hello\n", 18);
    CHECK(res.detaches > 0);
    outcome_free(&res);
    sb_free(&sm);
    sb_free(&sc);
    sb_free(&fr);

    /* server_no_context_takeover: each echo starts afresh, so both are §7.2.3.1's bytes */
    cframe(&fr, 0xc1, hello_c, sizeof hello_c);
    cframe(&fr, 0xc1, hello_again_c, sizeof hello_again_c);
    deflate_scenario("server_no_context_takeover", &ECHO,
                     "permessage-deflate; server_no_context_takeover",
                     "permessage-deflate; server_no_context_takeover", &fr, 15, &res, &sm, &sc);
    CHECK(res.out.len >= 2 * sizeof hello_echo &&
          memcmp(res.out.p + res.out.len - 2 * sizeof hello_echo, hello_echo, sizeof hello_echo) == 0 &&
          memcmp(res.out.p + res.out.len - sizeof hello_echo, hello_echo, sizeof hello_echo) == 0);
    check_text("server_no_context_takeover: echo", &sm, "T5:Hello\nT5:Hello\n", 18);
    outcome_free(&res);
    sb_free(&sm);
    sb_free(&sc);
    sb_free(&fr);

    /* client_no_context_takeover: the client compresses each message afresh */
    cframe(&fr, 0xc1, hello_c, sizeof hello_c);
    cframe(&fr, 0xc1, hello_c, sizeof hello_c);
    deflate_scenario("client_no_context_takeover", &ECHO,
                     "permessage-deflate; client_no_context_takeover",
                     "permessage-deflate; client_no_context_takeover", &fr, 15, &res, &sm, &sc);
    check_text("client_no_context_takeover", &res.msgs, "T5:Hello\nT5:Hello\n", 18);
    outcome_free(&res);
    sb_free(&sm);
    sb_free(&sc);
    sb_free(&fr);

    /* a compressed message in three frames, a ping between them; an uncompressed message after */
    {
        static const char text[] = "Hello, world! Hello, world! Hello, world! \xce\xba\xe1\xbd\xb9\xcf\x83";
        strbuf c = {0}, want = {0};
        z_stream z;
        size_t a, b;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
        deflate_message(&z, text, sizeof text - 1, &c);
        deflateEnd(&z);
        a = c.len / 3;
        b = 2 * c.len / 3;
        cframe(&fr, 0x41, c.p, a);
        cframe_str(&fr, 0x89, "mid");
        cframe(&fr, 0x00, c.p + a, b - a);
        cframe(&fr, 0x80, c.p + b, c.len - b);
        cframe_str(&fr, 0x82, "plain");
        deflate_scenario("compressed, fragmented", &ECHO, "permessage-deflate", "permessage-deflate",
                         &fr, 15, &res, &sm, &sc);
        sb_printf(&want, "T%zu:%s\nB5:plain\n", sizeof text - 1, text);
        check_text("compressed, fragmented: delivered", &res.msgs, want.p, want.len);
        check_text("compressed, fragmented: echo", &sm, want.p, want.len);
        check_text("compressed, fragmented: pong", &sc, "a:3;", 4);
        outcome_free(&res);
        sb_free(&sm);
        sb_free(&sc);
        sb_free(&fr);
        sb_free(&c);
        sb_free(&want);
    }

    /* a streaming route: a compressed message arrives in inflated pieces */
    {
        wsopt so = ECHO;
        strbuf c = {0}, want = {0}, text = {0};
        z_stream z;
        int i;
        so.stream = 1;
        for (i = 0; i < 600; i++) sb_printf(&text, "%d \xce\xba ", i * i);
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
        deflate_message(&z, text.p, text.len, &c);
        deflateEnd(&z);
        cframe(&fr, 0x41, c.p, c.len / 2);
        cframe(&fr, 0x80, c.p + c.len / 2, c.len - c.len / 2);
        deflate_scenario("compressed, streamed", &so, "permessage-deflate", "permessage-deflate", &fr,
                         15, &res, &sm, &sc);
        sb_printf(&want, "T%zu:", text.len);
        raw(&want, text.p, text.len);
        raw(&want, "\n", 1);
        check_text("compressed, streamed: delivered", &res.msgs, want.p, want.len);
        check_text("compressed, streamed: echo", &sm, want.p, want.len);
        CHECK(res.pieces >= 2);
        outcome_free(&res);
        sb_free(&sm);
        sb_free(&sc);
        sb_free(&fr);
        sb_free(&c);
        sb_free(&want);
        sb_free(&text);
    }

    /* a compressed message of exactly the limit, in two frames of stored blocks (each frame's
     * compressed bytes 5 more than what it inflates to): delivered, not 1009 (a continuation's
     * compressed length once counted as message bytes) */
    {
        wsopt lim = ECHO;
        unsigned char block[505];
        strbuf want = {0};
        lim.max_message = 1000;
        lim.action = ACT_NONE;
        block[0] = 0x00; /* a stored block, not final: LEN 500, NLEN */
        block[1] = 0xf4;
        block[2] = 0x01;
        block[3] = 0x0b;
        block[4] = 0xfe;
        memset(block + 5, 'a', 500);
        cframe(&fr, 0x42, block, sizeof block);
        cframe(&fr, 0x80, block, sizeof block);
        deflate_scenario("1000 compressed bytes of 1000", &lim, "permessage-deflate", "permessage-deflate",
                         &fr, 15, &res, &sm, &sc);
        sb_add(&want, "B1000:", 6);
        memset(block, 'a', 500);
        raw(&want, block, 500);
        raw(&want, block, 500);
        raw(&want, "\n", 1);
        check_text("1000 compressed bytes of 1000", &res.msgs, want.p, want.len);
        CHECK_MSG(!res.closing, "1000 compressed bytes of 1000: closed with %d", res.close_code);
        outcome_free(&res);
        sb_free(&sm);
        sb_free(&sc);
        sb_free(&fr);
        sb_free(&want);
    }

    /* server_max_window_bits=10 and 9: what the server compresses inflates with that window */
    {
        unsigned char msg[6000];
        strbuf want = {0};
        size_t i;
        int bits;
        uint32_t x = 12345;
        for (i = 0; i < 3000; i++) {
            x = x * 1103515245u + 12345u;
            msg[i] = (unsigned char)('a' + (x >> 16) % 26);
        }
        memcpy(msg + 3000, msg, 3000); /* a repeat 3000 bytes back: beyond 1 KiB */
        cframe(&fr, 0x82, msg, sizeof msg);
        sb_printf(&want, "B%zu:", sizeof msg);
        raw(&want, msg, sizeof msg);
        raw(&want, "\n", 1);
        for (bits = 10; bits >= 9; bits--) {
            char offer[64], name[64];
            snprintf(offer, sizeof offer, "permessage-deflate; server_max_window_bits=%d", bits);
            snprintf(name, sizeof name, "server_max_window_bits=%d", bits);
            deflate_scenario(name, &ECHO, offer, offer, &fr, bits, &res, &sm, &sc);
            check_text(name, &sm, want.p, want.len);
            outcome_free(&res);
            sb_free(&sm);
            sb_free(&sc);
        }
        sb_free(&fr);
        sb_free(&want);
    }

    /* RSV1 on a continuation frame; RSV1 on a control frame; a stream that does not inflate */
    {
        strbuf in = {0}, want = {0};
        const char *const ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        static const struct {
            const char *name;
            unsigned b0[2];
            unsigned code;
        } cases[] = {
            {"RSV1 on a continuation", {0x41, 0xc0}, 1002},
            {"RSV1 on an uncompressed message's continuation", {0x02, 0xc0}, 1002},
            /* RFC 7692 §6.1 defines RSV1 for a data message's first frame only */
            {"RSV1 on a ping", {0xc9, 0}, 1002},
            {"RSV1 on a close", {0xc8, 0}, 1002},
            {"RSV2 with deflate", {0xa1, 0}, 1002},
        };
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            upgrade_req(&in, ext);
            if (cases[i].b0[0] == 0xc8) cframe(&in, 0xc8, "\x03\xe8", 2);
            else cframe(&in, cases[i].b0[0], hello_c, cases[i].b0[0] == 0xc9 ? 0 : 3);
            if (cases[i].b0[1]) cframe(&in, cases[i].b0[1], hello_c + 3, sizeof hello_c - 3);
            expect_101(&want, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
            sclose(&want, cases[i].code);
            scenario(cases[i].name, &ECHO, &in, &res);
            check_out(cases[i].name, &res, &want);
            CHECK_MSG(res.closing && res.close_code == (int)cases[i].code, "%s: closing %d, code %d",
                      cases[i].name, res.closing, res.close_code);
            outcome_free(&res);
            sb_free(&in);
            sb_free(&want);
        }

        upgrade_req(&in, ext);
        cframe(&in, 0xc1, "\xff\xff\xff\xff", 4); /* a reserved block type */
        expect_101(&want, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        sclose(&want, 1007);
        scenario("not a deflate stream", &ECHO, &in, &res);
        check_out("not a deflate stream", &res, &want);
        CHECK(res.closing && res.close_code == 1007);
        outcome_free(&res);
        sb_free(&in);
        sb_free(&want);

        /* a compressed text that inflates to invalid UTF-8 */
        {
            strbuf c = {0};
            z_stream z;
            memset(&z, 0, sizeof z);
            if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
            deflate_message(&z, "ok\xed\xa0\x80", 5, &c);
            deflateEnd(&z);
            upgrade_req(&in, ext);
            cframe(&in, 0xc1, c.p, c.len);
            expect_101(&want, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
            sclose(&want, 1007);
            scenario("compressed, invalid UTF-8", &ECHO, &in, &res);
            check_out("compressed, invalid UTF-8", &res, &want);
            outcome_free(&res);
            sb_free(&in);
            sb_free(&want);
            sb_free(&c);
        }
    }
}

/* A zip bomb: a few KiB that inflate to 4 MiB, on a route of 64 KiB messages. It must close
 * with 1009 having held at most BOMB_BOUND bytes: the message up to its limit while the buffer
 * doubles (1.5 times it), the inflater's state and 32 KiB window (about 44 KiB), the socket's
 * zlib wrapper (about 4 KiB): 2 x 64 KiB + 64 KiB is more than all of it. */
#define BOMB_LIMIT 65536u
#define BOMB_BOUND (2 * BOMB_LIMIT + 65536u)

static void test_zip_bomb(void)
{
    const char *const ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    unsigned char *zeros = calloc(1, 4u << 20);
    strbuf c = {0}, in = {0}, want = {0};
    wsopt o = ECHO;
    outcome res;
    z_stream z;
    if (!zeros) abort();
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    deflate_message(&z, zeros, 4u << 20, &c);
    deflateEnd(&z);
    free(zeros);
    o.max_message = BOMB_LIMIT;

    upgrade_req(&in, ext);
    cframe(&in, 0xc2, c.p, c.len);
    expect_101(&want, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    sclose(&want, 1009);
    scenario("zip bomb", &o, &in, &res);
    check_out("zip bomb", &res, &want);
    CHECK(res.closing && res.close_code == 1009 && res.msgs.len == 0);
    CHECK_MSG(res.peak <= BOMB_BOUND, "zip bomb: %zu bytes live at most, bound %u", res.peak, BOMB_BOUND);
    if (getenv("TEST_WS_VERBOSE")) printf("zip bomb: %zu bytes live at most (bound %u)\n", res.peak, BOMB_BOUND);
    outcome_free(&res);
    sb_free(&in);

    /* the same in 1 KiB frames */
    {
        size_t at;
        upgrade_req(&in, ext);
        for (at = 0; at < c.len; at += 1024) {
            size_t n = c.len - at < 1024 ? c.len - at : 1024;
            cframe(&in, (at == 0 ? 0x42 : 0x00) | (at + n == c.len ? 0x80 : 0), c.p + at, n);
        }
        scenario("zip bomb, fragmented", &o, &in, &res);
        check_out("zip bomb, fragmented", &res, &want);
        CHECK_MSG(res.peak <= BOMB_BOUND, "zip bomb, fragmented: %zu bytes live at most", res.peak);
        outcome_free(&res);
        sb_free(&in);
    }
    sb_free(&want);

    /* a streaming route takes it piece by piece, holding none of it */
    {
        wsopt so = o;
        so.stream = 1;
        so.action = ACT_NONE;
        upgrade_req(&in, ext);
        cframe(&in, 0xc2, c.p, c.len);
        ws_run(&so, in.p, in.len, in.len, 0, 0, &res);
        CHECK_MSG(res.peak <= BOMB_BOUND, "zip bomb, streamed: %zu bytes live at most", res.peak);
        /* max_message_size is per frame when streaming: the frame's 4 KiB pass (see report) */
        outcome_free(&res);
        sb_free(&in);
    }
    sb_free(&c);
}

#endif /* MOTE_CONFIG_WS_DEFLATE */

/* ---- streamed messages --------------------------------------------------------------------- */

static void test_stream(void)
{
    wsopt o = ECHO;
    strbuf fr = {0}, want = {0};
    outcome res;
    unsigned char *big = malloc(100000);
    size_t i;
    if (!big) abort();
    for (i = 0; i < 100000; i++) big[i] = (unsigned char)(i % 251);
    o.stream = 1;

    cframe_str(&fr, 0x01, "Hel");
    cframe_str(&fr, 0x00, "");
    cframe_str(&fr, 0x80, "lo");
    cframe_str(&fr, 0x81, "");
    cframe(&fr, 0x82, big, 100000);
    sframe_str(&want, 0x81, "Hello");
    sframe_str(&want, 0x81, "");
    sframe(&want, 0x82, big, 100000);
    check_frames("streamed", &o, &fr, &want, &res);
    CHECK(res.pieces >= 3);
    {
        strbuf m = {0};
        sb_add(&m, "T5:Hello\nT0:\nB100000:", 21);
        raw(&m, big, 100000);
        raw(&m, "\n", 1);
        check_text("streamed: messages", &res.msgs, m.p, m.len);
        sb_free(&m);
    }
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* the limit is per frame */
    o.max_message = 1000;
    cframe(&fr, 0x02, big, 1000);
    cframe(&fr, 0x80, big + 1000, 1000);
    sframe(&want, 0x82, big, 2000);
    check_frames("streamed: 2 x 1000 bytes of 1000", &o, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
    cframe(&fr, 0x02, big, 1000);
    cframe(&fr, 0x80, big, 1001);
    check_fail("streamed: a frame of 1001 bytes over 1000", &o, &fr, NULL, 1009);
    sb_free(&fr);

    /* invalid UTF-8 in a streamed text: the valid pieces before it may have been delivered */
    o.max_message = 0;
    cframe(&fr, 0x01, "abc", 3);
    cframe(&fr, 0x80, "\xc0\xaf", 2);
    check_fail("streamed: invalid UTF-8", &o, &fr, NULL, 1007);
    sb_free(&fr);
    free(big);
}

/* ---- ping and pong --------------------------------------------------------------------------- */

static void test_ping_pong(void)
{
    strbuf fr = {0}, want = {0};
    outcome res;

    cframe_str(&fr, 0x8a, "unsolicited");
    cframe_str(&fr, 0x81, "a");
    sframe_str(&want, 0x81, "a");
    check_frames("unsolicited pong", &ECHO, &fr, &want, &res);
    CHECK(!res.closing);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    cframe_str(&fr, 0x89, "");
    sb_add(&want, "\x8a\x00", 2);
    check_frames("empty ping", &ECHO, &fr, &want, &res);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* a ping inside a fragmented message: answered at once, before the message ends */
    cframe_str(&fr, 0x01, "Hel");
    cframe_str(&fr, 0x89, "p");
    sframe_str(&want, 0x8a, "p");
    check_frames("ping inside a message, before its end", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.len == 0 && !res.closing);
    outcome_free(&res);
    cframe_str(&fr, 0x80, "lo");
    sframe_str(&want, 0x81, "Hello");
    check_frames("ping inside a message", &ECHO, &fr, &want, &res);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T5:Hello\n") == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* many pings in a row, a frame header split among them */
    {
        int i;
        for (i = 0; i < 40; i++) {
            char p[8];
            snprintf(p, sizeof p, "%d", i);
            cframe_str(&fr, 0x89, p);
            sframe_str(&want, 0x8a, p);
        }
        check_frames("40 pings", &ECHO, &fr, &want, &res);
        outcome_free(&res);
        sb_free(&fr);
        sb_free(&want);
    }
}

/* ---- closing from the application ----------------------------------------------------------- */

static void test_app_close(void)
{
    static const unsigned char bye[] = {0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'};
    wsopt o = ECHO;
    strbuf fr = {0}, want = {0};
    outcome res;
    o.action = ACT_CLOSE;

    /* mote_ws_close() in on_message: its close frame; nothing after it is delivered or
     * answered; the connection waits for the peer's close */
    cframe_str(&fr, 0x81, "a");
    cframe_str(&fr, 0x81, "b");
    cframe_str(&fr, 0x01, "c");
    cframe_str(&fr, 0x89, "p");
    cframe_str(&fr, 0x80, "d");
    raw(&want, bye, sizeof bye);
    check_frames("mote_ws_close", &o, &fr, &want, &res);
    CHECK_EQ_INT(res.close_rc, MOTE_OK);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T1:a\n") == 0);
    CHECK(!res.closing && res.closes == 0);
    outcome_free(&res);

    /* the peer's close completes it: no second close frame */
    cclose(&fr, 1000, "", 0);
    check_frames("mote_ws_close, answered", &o, &fr, &want, &res);
    CHECK(res.closing && res.closes == 1 && res.close_code == 1000);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T1:a\n") == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* the peer's answer carries another code: still complete */
    cframe_str(&fr, 0x81, "a");
    cclose(&fr, 1001, "", 0);
    raw(&want, bye, sizeof bye);
    check_frames("mote_ws_close, answered 1001", &o, &fr, &want, &res);
    CHECK(res.closing && res.closes == 1);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* a protocol error after our close: no second close frame, the connection ends */
    cframe_str(&fr, 0x81, "a");
    cframe_str(&fr, 0x83, "");
    raw(&want, bye, sizeof bye);
    check_frames("mote_ws_close, then an error", &o, &fr, &want, &res);
    CHECK(res.closing && res.closes == 1 && res.close_code == 1000);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
}

/* ---- the block taken back between messages --------------------------------------------------- */

static void test_detach(void)
{
    wsopt o = ECHO;
    strbuf fr = {0}, want = {0};
    outcome res, plain;
    strbuf in = {0};
    unsigned char big[20000];
    size_t i;
    for (i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 13);
    o.detach = 1;
    cframe_str(&fr, 0x81, "one");
    cframe_str(&fr, 0x01, "tw");
    cframe_str(&fr, 0x89, "p");
    cframe_str(&fr, 0x80, "o");
    cframe(&fr, 0x82, big, sizeof big);
    cframe_str(&fr, 0x81, "three");
    cclose(&fr, 1000, "", 0);
    sframe_str(&want, 0x81, "one");
    sframe_str(&want, 0x8a, "p");
    sframe_str(&want, 0x81, "two");
    sframe(&want, 0x82, big, sizeof big);
    sframe_str(&want, 0x81, "three");
    sclose(&want, 1000);
    check_frames("detached between messages", &o, &fr, &want, &res);
    CHECK(res.detaches > 0);
    CHECK(res.closing && res.close_code == 1000);
    /* and the same as never detached */
    upgrade_req(&in, NULL);
    raw(&in, fr.p, fr.len);
    ws_run(&ECHO, in.p, in.len, in.len, 1, 0, &plain);
    CHECK(same_outcome("detached vs not", "attached", &res, &plain));
    outcome_free(&plain);
    outcome_free(&res);
    sb_free(&in);
    sb_free(&fr);
    sb_free(&want);
}

/* ---- the loop's budget for what sockets hold on the heap ----------------------------------- */

static void test_budget(void)
{
    wsopt o = ECHO;
    strbuf fr = {0}, want = {0};
    outcome res;
    unsigned char msg[20000];
    memset(msg, 'm', sizeof msg);
    o.budget = 16384;
    /* a message gathered on the heap past the budget: 1011; one within it: echoed (its buffer
     * of 4 KiB, then of 8 KiB, both held for the copy) */
    cframe(&fr, 0x02, msg, 3000);
    cframe(&fr, 0x00, msg, 1500);
    cframe(&fr, 0x80, msg, 500);
    sframe(&want, 0x82, msg, 5000);
    check_frames("within ws_max_buffered", &o, &fr, &want, &res);
    CHECK(!res.closing);
    outcome_free(&res);
    cframe(&fr, 0x82, msg, 20000);
    sclose(&want, 1011);
    check_frames("past ws_max_buffered", &o, &fr, &want, &res);
    CHECK(res.closing && res.close_code == 1011);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
#if MOTE_CONFIG_WS_DEFLATE
    /* zlib's streams count too: a compressed message cannot even start inflating in 16 KiB
     * (the inflater's window is 32 KiB), and the socket closes with 1011 as mote.h says.
     * BUG (reported): ws_inflate() reports zlib's failure to allocate as -1, which
     * ws_message_bytes() takes for a corrupt stream: the close says 1007 (invalid data). */
    {
        static const unsigned char hello_c[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
        strbuf in = {0};
        upgrade_req(&in, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        cframe(&in, 0xc1, hello_c, sizeof hello_c);
        expect_101(&want, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        sclose(&want, 1011);
        scenario("zlib past ws_max_buffered", &o, &in, &res);
        check_out("zlib past ws_max_buffered", &res, &want);
        outcome_free(&res);
        sb_free(&in);
        sb_free(&want);
    }
#endif
}

/* ---- back-pressure and the peer's EOF ------------------------------------------------------- */

static void test_backpressure(void)
{
    wsopt eof = ECHO;
    strbuf fr = {0}, want = {0};
    outcome res;
    unsigned char msg[3000];
    int i;
    for (i = 0; i < (int)sizeof msg; i++) msg[i] = (unsigned char)(i * 31 + 7);
    /* 40 messages whose echoes (about 80 KiB) outgrow the send buffer many times over: the slow
     * reader of scenario() makes the connection stop reading and go on */
    for (i = 0; i < 40; i++) {
        cframe(&fr, i % 2 ? 0x82 : 0x02, msg, (size_t)(1000 + 50 * i));
        if (i % 2 == 0) cframe(&fr, 0x80, msg + 1000 + 50 * i, 10);
        sframe(&want, 0x82, msg, (size_t)(1000 + 50 * i + (i % 2 ? 0 : 10)));
    }
    check_frames("40 echoes backed up", &ECHO, &fr, &want, &res);
    CHECK(!res.closing);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);

    /* the peer's EOF in the middle of a message: the connection ends, nothing is sent, and
     * on_close hears 1006 when it is gone */
    eof.eof = 1;
    cframe_str(&fr, 0x81, "a");
    cframe_str(&fr, 0x01, "Hel");
    sframe_str(&want, 0x81, "a");
    check_frames("EOF inside a message", &eof, &fr, &want, &res);
    CHECK(res.closing && res.closes == 0 && res.end_closes == 1 && res.end_code == 1006);
    CHECK(res.msgs.p && strcmp(res.msgs.p, "T1:a\n") == 0);
    outcome_free(&res);
    sb_free(&fr);
    sb_free(&want);
}

/* Runs one group of tests, timed when TEST_WS_VERBOSE is set. */
static void run_test(const char *name, void (*fn)(void))
{
    clock_t t0 = clock();
    fn();
    if (getenv("TEST_WS_VERBOSE"))
        printf("%-24s %.2f s\n", name, (double)(clock() - t0) / CLOCKS_PER_SEC);
}

int main(void)
{
    run_test("accept", test_accept);
    run_test("refusals", test_refusals);
    run_test("subprotocols", test_subprotocols);
    run_test("deflate_negotiation", test_deflate_negotiation);
    run_test("rfc_examples", test_rfc_examples);
    run_test("protocol_errors", test_protocol_errors);
    run_test("close", test_close);
#if MOTE_CONFIG_WS_DEFLATE
    CHECK(ws_zlib_available());
    run_test("deflate", test_deflate);
    run_test("zip_bomb", test_zip_bomb);
#else
    CHECK(!ws_zlib_available());
#endif
    run_test("stream", test_stream);
    run_test("ping_pong", test_ping_pong);
    run_test("app_close", test_app_close);
    run_test("detach", test_detach);
    run_test("backpressure", test_backpressure);
    run_test("budget", test_budget);
    return check_report("test_ws");
}
