/* conn_harness.h - drives a real mote_conn in-process, the way server.c's shell does: an env
 * like env_init()'s (with a fixed Date line so that output is deterministic), a malloc'd block,
 * input copied through conn_read_space()/conn_received() in pieces of any size, and output
 * taken with conn_pending()/conn_sent() all at once, a few bytes at a time, or not at all.
 *
 * Include after check.h. Only static functions, shared by the tests of the connection machine
 * (test_conn.c, test_response.c, test_defer.c, test_semantics.c). */
#ifndef MOTE_CONN_HARNESS_H
#define MOTE_CONN_HARNESS_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conn.h"
#include "mote.h"
#include "core/router.h"

#define H_SERVER_LINE "Server: mote\r\n"
#define H_DATE_LINE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
#define H_PREFIX "Server: mote\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

#define H_LOG_MAX 512
#define H_LOG_LEN 96

enum {
    FLUSH_NONE,   /* the hook writes nothing: a reader that never reads */
    FLUSH_ALL,    /* the hook writes everything pending */
    FLUSH_SOME    /* the hook writes at most flush_some bytes per call: a slow socket */
};

typedef struct harness {
    router routes;
    conn_env env;
    mote_conn conn;
    char *block;
    size_t block_size;

    /* output */
    char *out;
    size_t out_len, out_cap;
    int drain;               /* h_feed() and h_eof() take all pending output afterwards */
    size_t drain_step;       /* conn_sent() in pieces of this many bytes (0: all at once) */
    int flush_mode;          /* what env.flush does: FLUSH_* */
    size_t flush_some;
    unsigned flush_calls;

    /* what handlers saw: the request targets in dispatch order */
    char log[H_LOG_MAX][H_LOG_LEN];
    size_t log_count;
    void *ctx;               /* for tests' own handler state */
} harness;

static inline void *h_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static inline void h_mfree(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Takes up to `max` bytes of pending output into h->out, in drain_step pieces; each
 * conn_sent() may let the connection dispatch more, whose output is taken too. */
static inline size_t h_drain(harness *h, size_t max)
{
    size_t taken = 0, guard = 0;
    while (taken < max && guard++ < 100000000u) {
        const char *data;
        size_t n = conn_pending(&h->conn, &data);
        if (n == 0) break;
        if (h->drain_step && n > h->drain_step) n = h->drain_step;
        if (n > max - taken) n = max - taken;
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
        taken += n;
        conn_sent(&h->conn, n);
    }
    return taken;
}

static inline void h_flush_hook(mote_conn *c)
{
    harness *h = c->user;
    h->flush_calls++;
    if (h->flush_mode == FLUSH_ALL) h_drain(h, SIZE_MAX);
    else if (h->flush_mode == FLUSH_SOME) h_drain(h, h->flush_some);
}

/* An env as env_init() makes it from mote_config's defaults; tests change what they need
 * before h_start(). */
static inline void h_init(harness *h)
{
    mote_allocator al;
    memset(h, 0, sizeof *h);
    al.alloc = h_malloc;
    al.free = h_mfree;
    al.ctx = NULL;
    router_init(&h->routes, al);
    h->env.routes = &h->routes;
    h->env.max_request_line = 8192;
    h->env.max_header_bytes = 8192;
    h->env.max_headers = 64;
    h->env.out_size = 16384;
    h->env.max_body_size = 1024 * 1024;
    h->env.max_drain_size = 65536;
    h->env.alloc.alloc = h_malloc;
    h->env.alloc.free = h_mfree;
    memcpy(h->env.server_line, H_SERVER_LINE, sizeof H_SERVER_LINE);
    h->env.server_line_len = sizeof H_SERVER_LINE - 1;
    memcpy(h->env.date_line, H_DATE_LINE, sizeof H_DATE_LINE);
    h->env.date_line_len = sizeof H_DATE_LINE - 1;
    h->env.owner = h;
    h->env.flush = h_flush_hook;
    h->drain = 1;
    h->flush_mode = FLUSH_ALL;
}

/* conn_init and conn_attach, with in_size derived as env_init() derives it. */
static inline void h_start(harness *h)
{
    h->env.in_size =
        (uint32_t)((h->env.max_request_line + 2 + h->env.max_header_bytes + 7) & ~(size_t)7);
    conn_init(&h->conn, &h->env, h);
    h->block_size = conn_block_size(&h->env);
    h->block = malloc(h->block_size);
    if (!h->block) abort();
    memset(h->block, 0xa5, h->block_size);
    conn_attach(&h->conn, h->block);
}

static inline void h_free(harness *h)
{
    free(h->block);
    free(h->out);
    router_free(&h->routes);
    h->block = NULL;
    h->out = NULL;
}

static inline void h_route(harness *h, const char *path, unsigned flags, mote_handler fn)
{
    int rc = router_add(&h->routes, path, flags, NULL, fn, h);
    CHECK_EQ_INT(rc, MOTE_OK);
}

/* A route with options (methods, body limit, credentials), as mote_route_with() adds it. */
static inline void h_route_with(harness *h, const char *path, unsigned flags,
                                const mote_route_options *options, mote_handler fn)
{
    int rc = router_add(&h->routes, path, flags, options, fn, h);
    CHECK_EQ_INT(rc, MOTE_OK);
}

static inline void h_default(harness *h, mote_handler fn)
{
    h->routes.fallback.handler = fn;
    h->routes.fallback.user_data = h;
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

static inline size_t h_pending(const harness *h)
{
    const char *data;
    return conn_pending(&h->conn, &data);
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
