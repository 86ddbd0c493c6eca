/* fuzz_conn_env.h - a mote_conn driven in-process as src/server.c's shell drives it, for the
 * harnesses: an env with the defaults of mote_config_init() (or small limits), allocations
 * counted through the env allocator, input fed through conn_read_space()/conn_received(), and
 * output taken with conn_pending()/conn_sent() into one growing buffer. */
#ifndef MOTE_FUZZ_CONN_ENV_H
#define MOTE_FUZZ_CONN_ENV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conn.h"
#include "mote.h"
#include "core/router.h"

typedef struct fenv {
    router routes;
    conn_env env;
    mote_conn conn;
    char *block;
    long live;                 /* allocations through env.alloc or the router not yet freed */
    long router_live;          /* of them, the routes' (set once they are added) */
    char *out;                 /* every byte the connection wrote */
    size_t out_len, out_cap;
    int flush_drains;          /* env.flush takes pending output (a socket with room) */
    size_t flush_limit;        /* at most this much per flush (0: all) */
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

/* Takes up to `max` bytes of pending output, `step` bytes per conn_sent() (0: all at once). */
static size_t fenv_drain(fenv *f, size_t max, size_t step)
{
    size_t taken = 0, rounds = 0;
    while (taken < max && rounds++ < 1000000) {
        const char *data;
        size_t n = conn_pending(&f->conn, &data);
        if (n == 0) break;
        if (step && n > step) n = step;
        if (n > max - taken) n = max - taken;
        if (f->out_len + n > f->out_cap) {
            size_t cap = f->out_cap ? f->out_cap : 4096;
            while (cap < f->out_len + n) cap *= 2;
            f->out = realloc(f->out, cap);
            if (!f->out) abort();
            f->out_cap = cap;
        }
        memcpy(f->out + f->out_len, data, n);
        f->out_len += n;
        taken += n;
        conn_sent(&f->conn, n);
    }
    return taken;
}

static void fenv_flush_hook(mote_conn *c)
{
    fenv *f = c->env->owner;
    if (f->flush_drains) fenv_drain(f, f->flush_limit ? f->flush_limit : SIZE_MAX, 0);
}

/* The env server.c's env_init() makes from mote_config_init()'s defaults, or a small one
 * that puts every limit within a short input's reach. */
static void fenv_init(fenv *f, int small)
{
    mote_allocator al;
    memset(f, 0, sizeof *f);
    al.alloc = fenv_alloc;
    al.free = fenv_free;
    al.ctx = f;
    router_init(&f->routes, al);
    f->env.routes = &f->routes;
    f->env.max_request_line = small ? 64 : 8192;
    f->env.max_header_bytes = small ? 256 : 8192;
    f->env.max_headers = small ? 4 : 64;
    f->env.out_size = small ? 1024 : 16384;
    f->env.max_body_size = small ? 64 : 1024 * 1024;
    f->env.max_drain_size = small ? 32 : 65536;
    f->env.alloc = al;
    memcpy(f->env.server_line, "Server: mote\r\n", 15);
    f->env.server_line_len = 14;
    memcpy(f->env.date_line, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 38);
    f->env.date_line_len = 37;
    f->env.owner = f;
    f->env.flush = fenv_flush_hook;
    f->env.in_size = conn_input_size(f->env.max_request_line, f->env.max_header_bytes);
}

static void fenv_start(fenv *f, void *user)
{
    size_t size = conn_block_size(&f->env);
    conn_init(&f->conn, &f->env, user);
    f->block = malloc(size);
    if (!f->block) abort();
    memset(f->block, 0xa5, size);
    conn_attach(&f->conn, f->block);
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

/* Closes the connection as the shell does, frees everything, and checks that every
 * allocation made through the env came back. */
static void fenv_finish(fenv *f)
{
    conn_abort(&f->conn);
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
    free(f->block);
    free(f->out);
    f->block = f->out = NULL;
}

#endif
