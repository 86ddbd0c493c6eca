/* hello.c - the smallest HTTP/1.1 application of the sans-I/O core, to measure what a device
 * links (scripts/footprint.sh): one route answering "hello", one connection in static memory
 * (a bump allocator over an array, the connection and exchange blocks taken from it up front),
 * fed one request as a device's network stack would feed it (conn_read_space(),
 * conn_received()), its response taken with conn_pending()/conn_sent() and written to the
 * semihosting console. Built with -DHELLO_WITHOUT_MOTE it does all the same but mote's part:
 * the difference between the two links is what mote adds to a device.
 *
 * With -DHELLO_COUNT=N it serves the request N more times and prints the board's clock
 * (SysTick, under QEMU's -icount) around them and around a loop of known length, for
 * instructions per request (scripts/footprint.sh); built for the host, the same N requests
 * for valgrind to count. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef HELLO_WITHOUT_MOTE
#include "core/pool.h"
#include "core/router.h"
#include "engine/conn.h"
#include "engine/exchange.h"
#include "mote.h"
#include "proto/h1.h"
#endif

static const char request[] = "GET / HTTP/1.1\r\nHost: device\r\nUser-Agent: hello\r\n\r\n";

static void out(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

#ifdef HELLO_WITHOUT_MOTE
int main(void)
{
    out(request, sizeof request - 1);
    return 0;
}
#else
/* static memory: everything comes from here, nothing is given back */
static union {
    max_align_t align;
    char bytes[16384];
} arena;
static size_t arena_used;

static void *bump(void *ctx, size_t n)
{
    void *p;
    (void)ctx;
    n = (n + 7u) & ~(size_t)7u;
    if (n > sizeof arena.bytes - arena_used) return NULL;
    p = arena.bytes + arena_used;
    arena_used += n;
    return p;
}

static void keep(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

static void hello(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    (void)mote_respond(res, 200, "text/plain", "hello\n");
}

/* One request in, its response out; the bytes written, or -1. */
static long serve(mote_conn *c, int print)
{
    size_t fed = 0, guard = 0;
    long total = 0;
    while (guard++ < 64) {
        char *at;
        const out_seg *segs;
        size_t space, n, i, sent = 0;
        if (fed < sizeof request - 1 && (space = conn_read_space(c, &at)) > 0) {
            n = sizeof request - 1 - fed < space ? sizeof request - 1 - fed : space;
            memcpy(at, request + fed, n);
            fed += n;
            conn_received(c, n);
        }
        n = conn_pending(c, &segs);
        if (n == 0 && fed == sizeof request - 1) return total;
        for (i = 0; i < n; i++) {
            if (segs[i].kind == OUT_FILE) return -1;
            if (print) out(segs[i].data, segs[i].len);
            sent += segs[i].len;
        }
        total += (long)sent;
        if (n) conn_sent(c, sent);
    }
    return -1;
}

#if defined HELLO_COUNT && defined __arm__
/* SysTick: the core's 24-bit down-counter, on the board's 25 MHz clock */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static uint32_t ticks_since(uint32_t before)
{
    return (before - SYST_CVR) & 0xffffffu;
}

/* 2 * n instructions: subtract, branch back */
static void spin(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}
#endif
#ifdef HELLO_COUNT
/* Under QEMU with -icount, virtual time is instructions: the ticks of a loop of known length
 * (2,000,000 instructions) calibrate those of HELLO_COUNT requests. On another machine the
 * requests simply run, for a counter outside (valgrind) to count. */
static int count_requests(mote_conn *c)
{
    uint32_t i;
#ifdef __arm__
    uint32_t t, spin_ticks, request_ticks;
    SYST_RVR = 0xffffffu;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enabled, the processor's clock, no interrupt */
    t = SYST_CVR;
    spin(1000000);
    spin_ticks = ticks_since(t);
    t = SYST_CVR;
#endif
    for (i = 0; i < HELLO_COUNT; i++) {
        if (serve(c, 0) < 0) return 1;
    }
#ifdef __arm__
    request_ticks = ticks_since(t);
    printf("calibration_ticks %lu\nrequest_ticks %lu\n", (unsigned long)spin_ticks,
           (unsigned long)request_ticks);
#endif
    printf("requests %lu\n", (unsigned long)HELLO_COUNT);
    return 0;
}
#endif

int main(void)
{
    static router routes;
    static conn_env env;
    static pool exchanges;
    static mote_conn conn;
    mote_allocator al = {bump, keep, NULL};
    mote_config cfg;
    mote_route_def def;
    char *block;
    mote_config_init(&cfg);
    cfg.max_request_line = 512;
    cfg.max_header_bytes = 1024;
    cfg.max_headers = 16;
    cfg.response_buffer_size = 1024;
    cfg.max_response_header_bytes = 256;
    cfg.body_read_room = 64;
    router_init(&routes, al);
    memset(&def, 0, sizeof def);
    def.path = "/";
    def.handler = hello;
    if (router_add(&routes, &def, NULL) < 0) return 1;
    conn_env_init(&env, &cfg, &routes, al, 1);
    env.first_proto = &h1_proto;
    env.exchanges = &exchanges;
    pool_init(&exchanges, al, exchange_block_size(&env), 1);
    if (pool_fill(&exchanges) < 0) return 1;
    block = bump(NULL, conn_block_size(&env));
    if (!block) return 1;
    conn_init(&conn, &env, NULL);
    if (conn_attach(&conn, block) < 0) return 1;
#ifdef HELLO_COUNT
    if (serve(&conn, 1) < 0) return 1; /* the first request sets things up: not counted */
    return count_requests(&conn);
#else
    return serve(&conn, 1) < 0;
#endif
}
#endif
