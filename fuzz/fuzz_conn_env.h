/* fuzz_conn_env.h - a mote_conn driven in-process as the engine drives it, for the harnesses: an
 * env with the defaults of mote_config_init() (or small limits), allocations counted through
 * the env allocator, input fed through conn_read_space()/conn_received(), and output taken with
 * conn_pending()/conn_sent() into one growing buffer (files through their read callback). */
#ifndef MOTE_FUZZ_CONN_ENV_H
#define MOTE_FUZZ_CONN_ENV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "core/router.h"
#include "engine/conn.h"
#include "engine/exchange.h"
#include "mote.h"
#include "proto/h1.h"
#include "../tests/segment_bytes.h"

typedef struct fenv {
    router routes;
    conn_env env;
    pool exchanges;            /* exchange blocks, from malloc: not counted */
    mote_conn conn;
    long live;                 /* allocations through env.alloc or the router not yet freed */
    long router_live;          /* of them, the routes' (set once they are added) */
    char *out;                 /* every byte the connection wrote */
    size_t out_len, out_cap;
} fenv;

static void *fenv_alloc(void *ctx, size_t n)
{
    fenv *f = ctx;
    void *p = malloc(n ? n : 1);
    if (p) f->live++;
    return p;
}

static void fenv_free(void *ctx, void *p)
{
    fenv *f = ctx;
    if (p) f->live--;
    free(p);
}

static void *fenv_plain_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void fenv_plain_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Appends n bytes to a growing heap buffer. */
static void grow_append(char **p, size_t *len, size_t *cap, const void *data, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n) c *= 2;
        *p = realloc(*p, c);
        if (!*p) abort();
        *cap = c;
    }
    if (n) memcpy(*p + *len, data, n);
    *len += n;
}

static void fenv_take(fenv *f, const char *data, size_t n)
{
    grow_append(&f->out, &f->out_len, &f->out_cap, data, n);
}

/* Takes up to `max` bytes of pending output, `step` bytes per conn_sent() (0: a segment at a
 * time), file segments through their read callback. */
static size_t fenv_drain(fenv *f, size_t max, size_t step)
{
    size_t taken = 0, rounds = 0;
    while (taken < max && rounds++ < 1000000) {
        char buf[4096];
        const out_seg *segs;
        size_t n = conn_pending(&f->conn, &segs);
        if (n == 0) break;
        n = segs[0].len;
        if (step && n > step) n = step;
        if (n > max - taken) n = max - taken;
        fenv_take(f, segment_bytes(&segs[0], &n, buf, sizeof buf), n);
        taken += n;
        conn_sent(&f->conn, n);
    }
    return taken;
}

/* The env the engine makes from mote_config_init()'s defaults, or a small one that puts every
 * limit within a short input's reach; `fixed`: static-memory mode. */
static void fenv_init(fenv *f, int small, int fixed)
{
    mote_allocator al, plain = {fenv_plain_alloc, fenv_plain_free, NULL};
    mote_config cfg;
    memset(f, 0, sizeof *f);
    al.alloc = fenv_alloc;
    al.free = fenv_free;
    al.ctx = f;
    mote_config_init(&cfg);
    if (small) {
        cfg.max_request_line = 64;
        cfg.max_header_bytes = 256;
        cfg.max_headers = 4;
        cfg.response_buffer_size = 1024;
        cfg.max_response_header_bytes = 64;
        cfg.max_body_size = 64;
        cfg.max_drain_size = 32;
    }
    router_init(&f->routes, al);
    conn_env_init(&f->env, &cfg, &f->routes, al, fixed);
    memcpy(f->env.date_line, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 38);
    f->env.date_line_len = 37;
    f->env.owner = f;
    f->env.first_proto = &h1_proto;
    f->env.exchanges = &f->exchanges;
    pool_init(&f->exchanges, plain, exchange_block_size(&f->env), 1);
}

/* The connection as the engine starts it; `speaking`: the protocol ALPN chose before the first
 * byte (NULL: the env's first). */
static void fenv_start(fenv *f, void *user, const proto_ops *speaking)
{
    size_t size = conn_block_size(&f->env);
    char *block = malloc(size);
    conn_init(&f->conn, &f->env, user);
    if (speaking) {
        f->conn.is_tls = 1;
        f->conn.proto = speaking;
    }
    if (!block) abort();
    memset(block, 0xa5, size);
    if (conn_attach(&f->conn, block) < 0) abort();
}

/* Copies up to n bytes in; returns how many the connection took (0: it offers no room). */
static size_t fenv_feed(fenv *f, const char *data, size_t n)
{
    char *at;
    size_t space = conn_read_space(&f->conn, &at);
    if (n > space) n = space;
    if (n == 0) return 0;
    memcpy(at, data, n);
    conn_received(&f->conn, n);
    return n;
}

/* Closes the connection as the engine does, frees everything, and checks that every
 * allocation made through the env came back. */
static void fenv_finish(fenv *f)
{
    free(conn_abort(&f->conn));
    if (f->live != f->router_live) {
        fprintf(stderr, "fuzz: %ld allocation(s) not freed after conn_abort\n",
                f->live - f->router_live);
        abort();
    }
    router_free(&f->routes);
    if (f->live != 0) {
        fprintf(stderr, "fuzz: %ld router allocation(s) not freed\n", f->live);
        abort();
    }
    pool_free(&f->exchanges);
    free(f->out);
    f->out = NULL;
}

#endif
