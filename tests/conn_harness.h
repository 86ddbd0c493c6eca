/* conn_harness.h - drives a real mote_conn in-process, the way the engine and the POSIX shell
 * drive it: an env from mote_config's defaults (with a fixed Date line so that output is
 * deterministic), malloc'd connection and exchange blocks, input copied through
 * conn_read_space()/conn_received() in pieces of any size, and output taken with
 * conn_pending()/conn_sent() all at once, a few bytes at a time, or not at all.
 *
 * Include after check.h. Only static functions, shared by the tests of the connection machine
 * (test_conn.c, test_response.c, test_defer.c, test_semantics.c, test_ws.c). */
#ifndef MOTE_CONN_HARNESS_H
#define MOTE_CONN_HARNESS_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conn.h"
#include "engine/exchange.h"
#include "mote.h"
#include "core/pool.h"
#include "core/router.h"
#include "proto/h1.h"
#include "proto/ws.h"
#include "segment_bytes.h"

#define H_SERVER_LINE "Server: mote\r\n"
#define H_DATE_LINE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
#define H_PREFIX "Server: mote\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

#define H_LOG_MAX 512
#define H_LOG_LEN 96

/* A route's flag of the tests' own: the body is collected (MOTE_BODY_COLLECT). */
#define H_COLLECT 0x100u

/* What a route accepts besides its path, match and body policy. */
typedef struct h_options {
    unsigned methods;
    uint64_t max_body_size;
    const mote_basic_auth *auth;
} h_options;

typedef struct harness {
    router routes;
    conn_env env;
    pool exchanges;
    mote_conn conn;
    char *block;
    size_t block_size;

    /* output */
    char *out;
    size_t out_len, out_cap;
    int drain;               /* h_feed() and h_eof() take all pending output afterwards */
    size_t drain_step;       /* conn_sent() in pieces of this many bytes (0: all at once) */

    /* what handlers saw: the request targets in dispatch order */
    char log[H_LOG_MAX][H_LOG_LEN];
    size_t log_count;
    void *ctx;               /* for tests' own handler state */

    /* WebSocket (h_ws_enable()): the socket states' pool, of one */
    pool sockets;
    int ws;
} harness;

static inline void *h_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

/* Blocks as a pool hands them out the first time: not zeroed, so what reads them before
 * setting them shows. */
static inline void *h_poisoned_malloc(void *ctx, size_t n)
{
    void *p = malloc(n);
    (void)ctx;
    if (p) memset(p, 0xa5, n);
    return p;
}

static inline void h_mfree(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static inline void h_take(harness *h, const char *data, size_t n)
{
    if (h->out_len + n + 1 > h->out_cap) {
        size_t cap = h->out_cap ? h->out_cap : 4096;
        while (cap < h->out_len + n + 1) cap *= 2;
        h->out = realloc(h->out, cap);
        if (!h->out) abort();
        h->out_cap = cap;
    }
    memcpy(h->out + h->out_len, data, n);
    h->out_len += n;
    h->out[h->out_len] = '\0';
}

/* Takes up to `max` bytes of the first pending segment into h->out (a file segment through its
 * read callback); 0 when nothing is pending. */
static inline size_t h_take_once(harness *h, size_t max)
{
    char buf[4096];
    const out_seg *segs;
    size_t n = conn_pending(&h->conn, &segs);
    if (n == 0 || max == 0) return 0;
    n = segs[0].len < max ? segs[0].len : max;
    h_take(h, segment_bytes(&segs[0], &n, buf, sizeof buf), n);
    conn_sent(&h->conn, n);
    return n;
}

/* Takes up to `max` bytes of pending output into h->out, in drain_step pieces; each
 * conn_sent() may let the connection dispatch more, whose output is taken too. */
static inline size_t h_drain(harness *h, size_t max)
{
    size_t taken = 0, guard = 0;
    while (taken < max && guard++ < 100000000u) {
        size_t step = h->drain_step ? h->drain_step : SIZE_MAX;
        size_t n = h_take_once(h, step < max - taken ? step : max - taken);
        if (n == 0) break;
        taken += n;
    }
    return taken;
}

/* An env as the engine makes it from mote_config's defaults; tests change what they need
 * before h_start(). */
static inline void h_init(harness *h)
{
    mote_allocator al;
    mote_config cfg;
    memset(h, 0, sizeof *h);
    al.alloc = h_malloc;
    al.free = h_mfree;
    al.ctx = NULL;
    mote_config_init(&cfg);
    router_init(&h->routes, al);
    conn_env_init(&h->env, &cfg, &h->routes, al, 0);
    memcpy(h->env.server_line, H_SERVER_LINE, sizeof H_SERVER_LINE);
    h->env.server_line_len = sizeof H_SERVER_LINE - 1;
    memcpy(h->env.date_line, H_DATE_LINE, sizeof H_DATE_LINE);
    h->env.date_line_len = sizeof H_DATE_LINE - 1;
    h->env.owner = h;
    h->env.first_proto = &h1_proto;
    h->env.exchanges = &h->exchanges;
    h->drain = 1;
}

/* conn_init and conn_attach on the env as it is (its in_size included). */
static inline void h_attach(harness *h)
{
    mote_allocator blocks = {h_poisoned_malloc, h_mfree, NULL}; /* not the env's (counted) */
    pool_init(&h->exchanges, blocks, exchange_block_size(&h->env), 1);
    conn_init(&h->conn, &h->env, h);
    h->block_size = conn_block_size(&h->env);
    h->block = malloc(h->block_size);
    if (!h->block) abort();
    memset(h->block, 0xa5, h->block_size);
    if (conn_attach(&h->conn, h->block) < 0) abort();
}

/* h_attach() with in_size derived from the limits as the engine derives it (without the room
 * to read a body through, so that tests reach the buffer's end sooner). */
static inline void h_start(harness *h)
{
    h->env.in_size =
        (uint32_t)((h->env.max_request_line + 2 + h->env.max_header_bytes + 7) & ~(size_t)7);
    h_attach(h);
}

static inline void h_free(harness *h)
{
    (void)conn_abort(&h->conn); /* what it gives back is h->block, or nothing when detached */
    free(h->block);
    pool_free(&h->exchanges);
    if (h->ws) pool_free(&h->sockets);
    h->ws = 0;
    free(h->out);
    router_free(&h->routes);
    h->block = NULL;
    h->out = NULL;
}

/* router_add() of a route as the tests describe it: its result. */
static inline int h_route_rc(harness *h, const char *path, unsigned flags,
                             const h_options *options, mote_handler fn)
{
    mote_route_def def;
    memset(&def, 0, sizeof def);
    def.path = path;
    def.match = (flags & MOTE_ROUTE_PREFIX) ? MOTE_ROUTE_PREFIX : MOTE_ROUTE_EXACT;
    def.body = (flags & H_COLLECT) ? MOTE_BODY_COLLECT : MOTE_BODY_STREAM;
    def.handler = fn;
    def.user = h;
    if (options) {
        def.methods = options->methods;
        def.max_body_size = options->max_body_size;
        def.auth = options->auth;
    }
    return router_add(&h->routes, &def, NULL);
}

static inline void h_route_with(harness *h, const char *path, unsigned flags,
                                const h_options *options, mote_handler fn)
{
    int rc = h_route_rc(h, path, flags, options, fn);
    CHECK_EQ_INT(rc, MOTE_OK);
}

static inline void h_route(harness *h, const char *path, unsigned flags, mote_handler fn)
{
    h_route_with(h, path, flags, NULL, fn);
}

static inline void h_default(harness *h, mote_handler fn)
{
    mote_route_def def;
    memset(&def, 0, sizeof def);
    def.match = MOTE_ROUTE_DEFAULT;
    def.handler = fn;
    def.user = h;
    CHECK_EQ_INT(router_add(&h->routes, &def, NULL), MOTE_OK);
}

/* ---- WebSocket ------------------------------------------------------------------------- */

/* env->borrow as the engine's: the connection gets its block back (the harness has one). */
static inline int h_borrow(mote_conn *c)
{
    harness *h = c->env->owner;
    if (c->b) return MOTE_OK;
    return conn_attach(c, h->block);
}

/* Lets connections upgrade to WebSocket as the engine does: a pool of socket states (one, from
 * malloc: not the env's allocator), the server's message limit, the borrow hook, no pings.
 * Call after h_init() and before h_start(). */
static inline void h_ws_enable(harness *h, uint64_t max_message)
{
    mote_allocator blocks = {h_poisoned_malloc, h_mfree, NULL};
    pool_init(&h->sockets, blocks, ws_socket_size(), 1);
    h->env.sockets = &h->sockets;
    h->env.ws_max_message = max_message;
    h->env.ws_ping_ms = 0;
    h->env.borrow = h_borrow;
    h->ws = 1;
}

/* A WebSocket route as mote_ws_route() registers one (GET only, ws_handshake with the
 * route's copy as user, freed with the router); its result. */
static inline int h_ws_route_rc(harness *h, const mote_ws_route_def *def)
{
    mote_route_def rd;
    ws_route *wr;
    int rc = ws_route_create(def, &h->routes.alloc, h->env.ws_max_message, &wr);
    if (rc < 0) return rc;
    memset(&rd, 0, sizeof rd);
    rd.path = def->path;
    rd.match = def->match;
    rd.handler = ws_handshake;
    rd.user = wr;
    rd.methods = MOTE_GET;
    rd.auth = def->auth;
    rc = router_add(&h->routes, &rd, wr);
    if (rc < 0) ws_route_free(wr, &h->routes.alloc);
    return rc;
}

static inline void h_ws_route(harness *h, const mote_ws_route_def *def)
{
    int rc = h_ws_route_rc(h, def);
    CHECK_EQ_INT(rc, MOTE_OK);
}

/* Copies data in through conn_read_space()/conn_received() in pieces of `split` bytes (0: as
 * much as fits), taking the output after each piece when h->drain is set. Returns the bytes
 * the connection accepted; fewer than len when it stopped offering space. */
static inline size_t h_feed(harness *h, const void *data, size_t len, size_t split)
{
    const char *p = data;
    size_t done = 0, guard = 0;
    while (done < len && guard++ <= len) {
        char *at;
        size_t space = conn_read_space(&h->conn, &at), n = len - done;
        if (space == 0) break;
        if (split && n > split) n = split;
        if (n > space) n = space;
        memcpy(at, p + done, n);
        done += n;
        conn_received(&h->conn, n);
        if (h->drain) h_drain(h, SIZE_MAX);
    }
    return done;
}

static inline size_t h_feed_str(harness *h, const char *s, size_t split)
{
    return h_feed(h, s, strlen(s), split);
}

static inline void h_eof(harness *h)
{
    conn_peer_eof(&h->conn);
    if (h->drain) h_drain(h, SIZE_MAX);
}

static inline void h_clear_output(harness *h)
{
    h->out_len = 0;
    if (h->out) h->out[0] = '\0';
}

static inline const char *h_out(harness *h)
{
    return h->out ? h->out : "";
}

/* Bytes pending in all queued segments. */
static inline size_t h_pending(const harness *h)
{
    const conn_block *b = h->conn.b;
    size_t i, total = 0;
    for (i = 0; b && i < b->seg_count; i++) total += b->segs[b->seg_first + i].len;
    return total;
}

/* The first pending segment's bytes (a memory segment), and how many. */
static inline size_t h_pending_data(harness *h, const char **data)
{
    const out_seg *segs;
    size_t n = conn_pending(&h->conn, &segs);
    *data = n && segs[0].kind != OUT_FILE ? segs[0].data : NULL;
    return n && segs[0].kind != OUT_FILE ? segs[0].len : 0;
}

/* Whether the connection waits for body bytes from the peer (under the body timeout). */
static inline int h_awaits_body(const harness *h)
{
    return conn_timer(&h->conn) == CT_BODY;
}

/* Whether a request head has begun arriving (and waits for its end). */
static inline int h_partial_head(const harness *h)
{
    return h->conn.b && h->conn.b->in_len > h->conn.b->in_start &&
           conn_timer(&h->conn) == CT_HEAD;
}

/* The most bytes a head takes beyond the fields a handler adds (as the HTTP/1.1 writer counts
 * it): a status line, Server, Date, framing and Connection. */
static inline size_t h_head_reserve(const harness *h)
{
    return 48 + h->env.server_line_len + h->env.date_line_len + 64;
}

/* The HTTP/1.1 writer's rule for room to start a response, or offer on_ready: the output
 * buffer empty, or what it holds and the most a head takes within half of it. */
static inline int h_has_room(const harness *h)
{
    uint32_t used = h->conn.b ? h->conn.b->out_len : 0;
    return used == 0 || used + h_head_reserve(h) <= h->env.out_size / 2;
}

/* Handlers call this to record the request they were given. */
static inline void h_log(harness *h, const mote_request *req)
{
    if (h->log_count < H_LOG_MAX) {
        const char *t = mote_request_target(req);
        size_t n = strlen(t);
        if (n >= H_LOG_LEN) n = H_LOG_LEN - 1;
        memcpy(h->log[h->log_count], t, n);
        h->log[h->log_count][n] = '\0';
    }
    h->log_count++;
}

static inline int h_logged(const harness *h, const char *target)
{
    size_t i;
    for (i = 0; i < h->log_count && i < H_LOG_MAX; i++) {
        if (strcmp(h->log[i], target) == 0) return 1;
    }
    return 0;
}

/* ---- expected output ------------------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

static inline void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) abort();
    sb_add(b, tmp, (size_t)n);
}

static inline void sb_free(strbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* A one-shot response as the library writes it: status line, Server, Date, `headers` (each
 * line with its CRLF), Content-Length, `connection` ("" or e.g. "Connection: close\r\n"), the
 * blank line, the body. */
static inline void sb_response(strbuf *b, int status, const char *headers, const char *connection,
                        const char *body)
{
    sb_printf(b, "HTTP/1.1 %d %s\r\n" H_PREFIX "%sContent-Length: %zu\r\n%s\r\n", status,
              mote_status_reason(status), headers, strlen(body), connection);
    sb_add(b, body, strlen(body));
}

/* The error response the library writes itself (400, 413, ...): always closing. */
static inline void sb_error(strbuf *b, int status)
{
    char body[64];
    snprintf(body, sizeof body, "%d %s\n", status, mote_status_reason(status));
    sb_response(b, status, "Content-Type: text/plain\r\n", "Connection: close\r\n", body);
}

/* Decodes a chunked body (no extensions, no trailers) at p[0..len), appending its data to
 * `body`. Returns the bytes consumed through the last-chunk's final CRLF, or 0 when the framing
 * is wrong or incomplete. */
static inline size_t h_dechunk(const char *p, size_t len, strbuf *body)
{
    size_t i = 0, guard = 0;
    while (i < len && guard++ < 1000000u) {
        size_t size = 0, digits = 0;
        while (i < len && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            size = size * 16 + (size_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
            i++;
            digits++;
        }
        if (digits == 0 || i + 2 > len || p[i] != '\r' || p[i + 1] != '\n') return 0;
        i += 2;
        if (size == 0) {
            if (i + 2 > len || p[i] != '\r' || p[i + 1] != '\n') return 0;
            return i + 2;
        }
        if (i + size + 2 > len || p[i + size] != '\r' || p[i + size + 1] != '\n') return 0;
        sb_add(body, p + i, size);
        i += size + 2;
    }
    return 0;
}

/* Finds `needle` in out[0..len). */
static inline const char *h_find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;
    if (n > len) return NULL;
    for (i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) return hay + i;
    }
    return NULL;
}

static inline size_t h_count(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle), count = 0;
    const char *p = hay, *end = hay + len;
    while (p < end) {
        const char *q = h_find(p, (size_t)(end - p), needle);
        if (!q) break;
        count++;
        p = q + n;
    }
    return count;
}

#define CHECK_OUT(h, want)                                                                 \
    CHECK_MSG((h)->out_len == strlen(want) && memcmp(h_out(h), (want), (h)->out_len) == 0,   \
              "output:\n----\n%s\n---- want:\n%s\n----", h_out(h), (want))

#endif
