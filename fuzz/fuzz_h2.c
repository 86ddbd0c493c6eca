/* fuzz_h2.c - a connection speaking HTTP/2 (src/proto/h2.c, mote's glue around nghttp2: streams
 * as exchanges, flow control as back-pressure, the flood and error rules of its own) fed
 * arbitrary client bytes in arbitrary pieces, with handlers that answer at once, stream a
 * response from on_ready, read a body with pauses, collect one, or leave a response to the
 * application's next tick.
 *
 * Input: two config bytes, a split header (fuzz_split.h), then the client's bytes.
 *   byte 0: bits 0-1 how output is taken after each piece (all; a slow reader; not at all until
 *           the connection stops reading; all, 1 byte per conn_sent()), bit 2 small limits,
 *           bit 3 the peer's EOF at the end, bits 4-5 how HTTP/2 begins (0 and 3: the client
 *           preface through HTTP/1.1, as on a plain listener; 1 ALPN, the connection speaking
 *           HTTP/2 from its first byte; 2 "Upgrade: h2c" on a GET), bit 6 the rest is a list of
 *           frames the harness frames (below) rather than the client's bytes as they are.
 *   byte 1: how much the slow reader takes per piece (x 8).
 * The harness sends the preface (and, for the upgrade, the request before it) itself. Built
 * frames: records of [type][flags][stream][n][n bytes], each a frame of that type, flags and
 * payload on stream id `stream` (odd ids are the client's), so the fuzzer need not get lengths
 * right to reach the session's rules.
 *
 * Invariants, beyond ASan/UBSan: the output is a sequence of whole frames (after the 101 of an
 * upgrade) within the default SETTINGS_MAX_FRAME_SIZE, opening with the server's SETTINGS, of
 * known types on the right streams (DATA and HEADERS on client streams, SETTINGS, PING and
 * GOAWAY on stream 0, no PUSH_PROMISE); no HEADERS or DATA on a stream after the server ended
 * or reset it; nothing but GOAWAY after a GOAWAY with an error; no handler runs once the
 * connection is closing; every request's release runs exactly once; the connection never
 * stalls with nothing to do; and every allocation is returned by conn_abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conn_env.h"
#include "fuzz_split.h"
#include "proto/h2.h"

#define MAX_REQS 4096
#define MAX_EXCHANGES 16
#define MAX_STREAM_ID 4096
#define MAX_CLIENT_BYTES (1u << 20)
#define DEFAULT_MAX_FRAME 16384u

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/* HTTP2-Settings: SETTINGS_MAX_CONCURRENT_STREAMS 100, SETTINGS_INITIAL_WINDOW_SIZE 65535 */
static const char upgrade[] = "GET /info HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings"
                              "\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";

enum { U_NONE, U_SET, U_RELEASED };
enum { START_PREFACE, START_ALPN, START_UPGRADE };

typedef struct app {
    fenv f;
    uint8_t users[MAX_REQS];   /* each handled request's release: U_* */
    unsigned left[MAX_REQS];   /* a streamed response's pieces still to write */
    unsigned handler_calls, in_app;
    mote_request *paused;      /* a body reader paused: resumed at the next tick */
    mote_response *manual;     /* a deferred response the "application" ends at a tick */
    uint8_t *manual_user, *paused_user;
} app;

static app A;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_h2: invariant failed: %s\n", what);
    abort();
}

/* ---- handlers --------------------------------------------------------------------------- */

static void on_release(void *user, int completed)
{
    uint8_t *u = user;
    (void)completed;
    if (A.in_app) fail("a release inside a callback of the application's");
    if (*u != U_SET) fail("a release twice, or for a request that set none");
    *u = U_RELEASED;
    if (A.manual_user == u) {
        A.manual = NULL;
        A.manual_user = NULL;
    }
    if (A.paused_user == u) {
        A.paused = NULL;
        A.paused_user = NULL;
    }
}

/* Every handler starts here: counts the call, checks it may run, sets a release to track. */
static uint8_t *enter(mote_request *req)
{
    uint8_t *u = A.handler_calls < MAX_REQS ? &A.users[A.handler_calls] : NULL;
    if (A.f.conn.closing) fail("a handler runs on a closing connection");
    A.handler_calls++;
    if (u) {
        *u = U_SET;
        mote_request_set_user(req, u, on_release);
    }
    return u;
}

static void h_hello(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    enter(req);
    mote_respond(res, 200, "text/plain", "hello\n");
}

static void stream_more(mote_response *res, void *user)
{
    static const char piece[1000] = {0};
    uint8_t *u = mote_request_user(mote_response_request(res));
    unsigned *left = &A.left[u - A.users];
    (void)user;
    A.in_app++;
    while (*left && mote_response_write(res, piece, sizeof piece) == MOTE_OK) --*left;
    A.in_app--;
    if (!*left) mote_response_end(res);
}

/* 100,000 bytes in pieces, beyond the initial window */
static void h_stream(mote_request *req, mote_response *res, void *user)
{
    uint8_t *u = enter(req);
    (void)user;
    if (!u) {
        mote_respond(res, 200, "text/plain", "hello\n");
        return;
    }
    A.left[u - A.users] = 100;
    mote_response_header(res, "Content-Type", "application/octet-stream");
    mote_response_defer(res, stream_more);
}

static void h_collect(mote_request *req, mote_response *res, void *user)
{
    mote_str body = mote_request_body(req);
    char msg[64];
    const char *t = mote_request_trailer(req, "x-t");
    (void)user;
    enter(req);
    snprintf(msg, sizeof msg, "%zu %s\n", body.len, t ? "t" : "-");
    mote_respond(res, 200, "text/plain", msg);
}

static void read_data(mote_request *req, const void *data, size_t len, void *user)
{
    (void)len;
    if (!data) {
        mote_respond(mote_request_response(req), 200, "text/plain", "read\n");
        return;
    }
    if (!A.paused && user) {
        A.paused = req;
        A.paused_user = user;
        mote_request_pause(req);
    }
}

static void h_read(mote_request *req, mote_response *res, void *user)
{
    uint8_t *u;
    (void)res;
    (void)user;
    u = enter(req);
    mote_request_read_body(req, read_data, u);
}

static void h_defer(mote_request *req, mote_response *res, void *user)
{
    uint8_t *u;
    (void)user;
    u = enter(req);
    if (!A.manual && u) {
        A.manual = res;
        A.manual_user = u;
        mote_response_defer(res, NULL);
        return;
    }
    mote_respond(res, 204, NULL, NULL);
}

static void h_info(mote_request *req, mote_response *res, void *user)
{
    char msg[128];
    mote_header h;
    size_t i, n = mote_request_header_count(req);
    mote_str path = mote_request_path(req);
    (void)user;
    enter(req);
    for (i = 0; i < n; i++) {
        if (mote_request_header_at(req, i, &h) != MOTE_OK) fail("header_at in range fails");
        if (strlen(h.name) != h.name_len || strlen(h.value) != h.value_len)
            fail("header not NUL-terminated at its length");
    }
    if (strlen(path.ptr) != path.len || path.len == 0) fail("path not NUL-terminated");
    snprintf(msg, sizeof msg, "%s %d %zu %zu\n", mote_request_method(req),
             mote_request_version(req), n, mote_request_host(req).len);
    mote_respond(res, 200, "text/plain", msg);
}

static void add(const char *path, mote_match match, mote_body_policy body, uint64_t max_body,
                mote_handler fn)
{
    mote_route_def def = {path, match, fn, NULL, 0, body, max_body, NULL};
    if (router_add(&A.f.routes, &def, NULL) != MOTE_OK) fail("router_add");
}

static void add_routes(void)
{
    add("/", MOTE_ROUTE_EXACT, MOTE_BODY_STREAM, 0, h_hello);
    add("/stream", MOTE_ROUTE_EXACT, MOTE_BODY_STREAM, 0, h_stream);
    add("/collect", MOTE_ROUTE_PREFIX, MOTE_BODY_COLLECT, 0, h_collect);
    add("/read", MOTE_ROUTE_EXACT, MOTE_BODY_STREAM, UINT64_MAX, h_read);
    add("/defer", MOTE_ROUTE_EXACT, MOTE_BODY_STREAM, 0, h_defer);
    add(NULL, MOTE_ROUTE_DEFAULT, MOTE_BODY_STREAM, 0, h_info);
}

/* ---- the client's bytes ------------------------------------------------------------------ */

typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    grow_append(&b->p, &b->len, &b->cap, data, n);
}

/* Records [type][flags][stream][n][payload] as frames. */
static void build_frames(bytes *out, const uint8_t *in, size_t len)
{
    while (len >= 4 && out->len < MAX_CLIENT_BYTES) {
        size_t n = in[3] <= len - 4 ? in[3] : len - 4;
        uint8_t hd[9] = {0, 0, (uint8_t)n, in[0], in[1], 0, 0, 0, in[2]};
        put(out, hd, sizeof hd);
        put(out, in + 4, n);
        in += 4 + n;
        len -= 4 + n;
    }
}

/* ---- the server's frames ----------------------------------------------------------------- */

typedef struct frames {
    uint8_t ended[MAX_STREAM_ID / 8 + 1]; /* streams the server ended or reset */
    int goaway_error, settings_seen;
} frames;

static int ended(const frames *fr, uint32_t id)
{
    return id < MAX_STREAM_ID && ((fr->ended[id / 8] >> (id % 8)) & 1);
}

static void mark_ended(frames *fr, uint32_t id)
{
    if (id < MAX_STREAM_ID) fr->ended[id / 8] |= (uint8_t)(1u << (id % 8));
}

static void check_frame(frames *fr, uint8_t type, uint8_t flags, uint32_t id, const uint8_t *p,
                        size_t len)
{
    if (!fr->settings_seen && (type != 4 || id != 0 || (flags & 1)))
        fail("the server's first frame is not its SETTINGS");
    fr->settings_seen = 1;
    if (fr->goaway_error && type != 7) fail("a frame after a GOAWAY with an error");
    switch (type) {
    case 0: /* DATA */
    case 1: /* HEADERS */
        if (id == 0 || !(id & 1)) fail("DATA or HEADERS on stream 0 or a server stream");
        if (ended(fr, id)) fail("DATA or HEADERS after the server ended the stream");
        if (flags & 1) mark_ended(fr, id);
        break;
    case 3: /* RST_STREAM */
        if (id == 0 || len != 4) fail("a bad RST_STREAM");
        mark_ended(fr, id);
        break;
    case 4: /* SETTINGS */
    case 6: /* PING */
        if (id != 0) fail("SETTINGS or PING on a stream");
        break;
    case 7: /* GOAWAY */
        if (id != 0 || len < 8) fail("a bad GOAWAY");
        if (p[4] | p[5] | p[6] | p[7]) fr->goaway_error = 1;
        break;
    case 8: /* WINDOW_UPDATE */
        if (len != 4) fail("a bad WINDOW_UPDATE");
        break;
    default:
        fail("a frame type the server does not send");
    }
}

/* The output as frames, every byte owed taken: no frame may be cut. */
static void check_output(const char *out, size_t len, int started_by_upgrade)
{
    frames fr;
    size_t at = 0;
    memset(&fr, 0, sizeof fr);
    if (getenv("FUZZ_H2_DUMP")) fwrite(out, 1, len, stderr); /* for triage */
    if (started_by_upgrade) {
        static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\n";
        if (len < sizeof switching - 1 || memcmp(out, switching, sizeof switching - 1) != 0)
            return; /* the upgrade was refused, or nothing went out: HTTP/1.1 throughout */
        while (at + 4 <= len && memcmp(out + at, "\r\n\r\n", 4) != 0) at++;
        if (at + 4 > len) fail("a 101 without its end");
        at += 4;
    }
    while (len - at >= 9) {
        const uint8_t *h = (const uint8_t *)out + at;
        size_t n = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
        uint32_t id = ((uint32_t)h[5] & 0x7f) << 24 | (uint32_t)h[6] << 16 |
                      (uint32_t)h[7] << 8 | h[8];
        if (n > DEFAULT_MAX_FRAME) fail("a frame beyond SETTINGS_MAX_FRAME_SIZE's default");
        if (len - at - 9 < n) break;
        check_frame(&fr, h[3], h[4], id, h + 9, n);
        at += 9 + n;
    }
    if (at != len) fail("output ends inside a frame");
}

/* ---- driving ---------------------------------------------------------------------------- */

typedef struct drive {
    int mode; /* 0 all, 1 slow reader, 2 no reader, 3 all in 1-byte sends */
    size_t slow;
} drive;

static int tick(void)
{
    if (A.paused) {
        mote_request *req = A.paused;
        A.paused = NULL;
        A.paused_user = NULL;
        mote_request_resume(req);
        return 1;
    }
    if (A.manual) {
        mote_response *res = A.manual;
        A.manual = NULL;
        A.manual_user = NULL;
        (void)mote_response_write(res, "manual\n", 7); /* refused or not, the end ends it */
        mote_response_end(res);
        return 1;
    }
    return 0;
}

static void after_piece(const drive *d)
{
    if (d->mode == 0) fenv_drain(&A.f, SIZE_MAX, 0);
    else if (d->mode == 1) fenv_drain(&A.f, d->slow, 0);
    else if (d->mode == 3) fenv_drain(&A.f, SIZE_MAX, 1);
    tick();
}

static int unstick(void)
{
    char *at;
    if (conn_read_space(&A.f.conn, &at) > 0) return 1;
    if (fenv_drain(&A.f, SIZE_MAX, 0) || tick()) return 1;
    if (!A.f.conn.closing && !A.f.conn.peer_eof) fail("stalled: reads nothing, writes nothing");
    return 0;
}

static void feed_all(const char *p, size_t len, splitter *s, const drive *d)
{
    size_t off = 0, rounds = 0;
    while (off < len && rounds++ < 4 * len + 100) {
        size_t took = fenv_feed(&A.f, p + off, split_min(split_next(s), len - off));
        off += took;
        after_piece(d);
        if (took == 0 && !unstick()) break;
    }
}

static void settle(void)
{
    int rounds = 0;
    while (rounds++ < 10000 && (fenv_drain(&A.f, SIZE_MAX, 0) || tick())) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    splitter s;
    drive d;
    bytes in = {0};
    size_t skip, i;
    int how;
    if (size < 2 || size > MAX_CLIENT_BYTES) return 0;
    memset(&A, 0, sizeof A);
    d.mode = data[0] & 3;
    d.slow = ((size_t)data[1] + 1) * 8;
    how = (data[0] >> 4) & 3;
    if (how == 3) how = START_PREFACE;
    fenv_init(&A.f, (data[0] >> 2) & 1, 0);
    A.f.env.h2_proto = &h2_proto;
    A.f.env.h2_modes = MOTE_HTTP2_ALL;
    /* as the engine sizes it with HTTP/2 on: streams beyond it are refused, not queued */
    pool_init(&A.f.exchanges, A.f.exchanges.alloc, A.f.exchanges.block_size, MAX_EXCHANGES);
    add_routes();
    A.f.router_live = A.f.live;
    fenv_start(&A.f, NULL, how == START_ALPN ? &h2_proto : NULL);
    skip = 2 + split_init(&s, data + 2, size - 2);

    if (how == START_UPGRADE) put(&in, upgrade, sizeof upgrade - 1);
    put(&in, preface, sizeof preface - 1);
    if ((data[0] >> 6) & 1) build_frames(&in, data + skip, size - skip);
    else put(&in, data + skip, size - skip);
    feed_all(in.p, in.len, &s, &d);
    if ((data[0] >> 3) & 1) conn_peer_eof(&A.f.conn);
    settle();
    check_output(A.f.out, A.f.out_len, how == START_UPGRADE);
    fenv_finish(&A.f);
    free(in.p);
    for (i = 0; i < A.handler_calls && i < MAX_REQS; i++)
        if (A.users[i] == U_SET) fail("a request never released");
    return 0;
}
