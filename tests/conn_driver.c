/* conn_driver.c - runs the connection state machine (src/conn.c) over bytes read from stdin,
 * for tests that compare it with other HTTP implementations' expectations.
 *
 *     conn_driver [SPLIT] < request-bytes
 *
 * SPLIT 0 (the default) hands every byte over at once; N > 0 hands them over N at a time. The
 * output is JSON, one object per line:
 *   {"request": {"method", "target", "version", "headers": [[name, value], ...]}}
 *       for each request dispatched to the handler, from inside the handler;
 *   {"result": {...}} last: the response bytes (base64), how many input bytes the connection
 *       took, whether it had already decided to close before the peer's EOF, whether it was
 *       still waiting for the rest of a request head at EOF, and whether it ended closing.
 * Strings are emitted byte for byte: bytes outside printable ASCII as \u00XX, so a reader
 * recovers the exact bytes by encoding the decoded string as Latin-1.
 * The handler answers every request 200 with a short body. Exit status 0, or 2 on bad input. */
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

#define MAX_INPUT (1u << 20)
#define MAX_OUTPUT (8u << 20)

static void *driver_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void driver_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void json_bytes(const char *s, size_t len)
{
    size_t i;
    putchar('"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7F) putchar(c);
        else printf("\\u%04x", c);
    }
    putchar('"');
}

static void json_str(const char *s)
{
    json_bytes(s, strlen(s));
}

static void handler(mote_request *req, mote_response *res, void *user)
{
    size_t i, n = mote_request_header_count(req);
    int *dispatched = user;
    (*dispatched)++;
    printf("{\"request\": {\"method\": ");
    json_str(mote_request_method(req));
    printf(", \"target\": ");
    json_str(mote_request_target(req));
    printf(", \"version\": %d, \"headers\": [", mote_request_version(req));
    for (i = 0; i < n; i++) {
        mote_header h;
        if (mote_request_header_at(req, i, &h) != MOTE_OK) break;
        printf("%s[", i ? ", " : "");
        json_bytes(h.name, h.name_len);
        printf(", ");
        json_bytes(h.value, h.value_len);
        printf("]");
    }
    printf("]}}\n");
    mote_respond(res, 200, "text/plain", "ok\n");
}

static int responses_ended;

static void on_exchange_end(mote_exchange *x)
{
    (void)x;
    responses_ended++;
}

static void *std_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void std_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

/* The response bytes taken from the connection so far. */
static char *output;
static size_t output_len;

static int drain(mote_conn *c)
{
    size_t rounds;
    for (rounds = 0; rounds < 1000000; rounds++) {
        const out_seg *segs;
        size_t n = conn_pending(c, &segs);
        if (n == 0) return 0;
        n = segs[0].len; /* the handler sends from memory only */
        if (output_len + n > MAX_OUTPUT) return -1;
        memcpy(output + output_len, segs[0].data, n);
        output_len += n;
        conn_sent(c, n);
    }
    return -1;
}

static void print_base64(const char *s, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    putchar('"');
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16 | (uint32_t)(unsigned char)s[i + 1] << 8 |
                     (uint32_t)(unsigned char)s[i + 2];
        putchar(alphabet[v >> 18 & 63]);
        putchar(alphabet[v >> 12 & 63]);
        putchar(alphabet[v >> 6 & 63]);
        putchar(alphabet[v & 63]);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        putchar(alphabet[v >> 18 & 63]);
        putchar(alphabet[v >> 12 & 63]);
        printf("==");
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16 | (uint32_t)(unsigned char)s[i + 1] << 8;
        putchar(alphabet[v >> 18 & 63]);
        putchar(alphabet[v >> 12 & 63]);
        putchar(alphabet[v >> 6 & 63]);
        putchar('=');
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    static char input[MAX_INPUT + 1];
    size_t input_len = 0, fed = 0, split = 0, r, feeds;
    mote_allocator alloc = {std_alloc, std_free, NULL};
    router routes;
    conn_env env;
    mote_config cfg;
    pool exchanges;
    mote_conn conn;
    char *block;
    int dispatched = 0, closing_before_eof, partial_head_at_eof, stalled = 0;
    size_t unconsumed_at_eof;

    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || v < 0) return 2;
        split = (size_t)v;
    }
    while ((r = fread(input + input_len, 1, MAX_INPUT + 1 - input_len, stdin)) > 0) {
        input_len += r;
        if (input_len > MAX_INPUT) return 2;
    }

    router_init(&routes, alloc);
    {
        mote_route_def def = {NULL, MOTE_ROUTE_DEFAULT, handler, &dispatched, 0, 0, 0, NULL};
        if (router_add(&routes, &def, NULL) < 0) return 2;
    }

    /* as the engine makes it from the default configuration, minus Server and Date, and
     * without the room to read a body through */
    mote_config_init(&cfg);
    cfg.server_name = NULL;
    conn_env_init(&env, &cfg, &routes, alloc, 0);
    env.in_size = (uint32_t)((8192 + 2 + 8192 + 7) & ~(size_t)7);
    env.alloc.alloc = driver_alloc;
    env.alloc.free = driver_free;
    env.first_proto = &h1_proto;
    env.exchanges = &exchanges;
    env.exchange_end = on_exchange_end;
    pool_init(&exchanges, alloc, exchange_block_size(&env), 1);

    output = malloc(MAX_OUTPUT);
    block = malloc(conn_block_size(&env));
    if (!output || !block) return 2;
    conn_init(&conn, &env, NULL);
    if (conn_attach(&conn, block) < 0) return 2;

    for (feeds = 0; fed < input_len && feeds <= MAX_INPUT; feeds++) {
        char *at;
        size_t space = conn_read_space(&conn, &at), take = input_len - fed;
        if (space == 0) {
            if (!conn.closing) stalled = 1; /* it wants no bytes but has not closed */
            break;
        }
        if (take > space) take = space;
        if (split > 0 && take > split) take = split;
        memcpy(at, input + fed, take);
        fed += take;
        conn_received(&conn, take);
        if (drain(&conn) < 0) return 2;
    }
    closing_before_eof = conn.closing;
    /* a head still being waited for: only when the connection had not already given up */
    partial_head_at_eof = !conn.closing && conn.b->in_len > conn.b->in_start &&
                          conn_timer(&conn) == CT_HEAD;
    unconsumed_at_eof = conn.b->in_len - conn.b->in_start;
    conn_peer_eof(&conn);
    if (drain(&conn) < 0) return 2;

    printf("{\"result\": {\"output_b64\": ");
    print_base64(output, output_len);
    printf(", \"input_len\": %zu, \"fed\": %zu, \"dispatched\": %d, \"responses_ended\": %d, "
           "\"requests\": %u, \"closing_before_eof\": %s, \"partial_head_at_eof\": %s, "
           "\"unconsumed_at_eof\": %zu, \"stalled\": %s, \"closing\": %s, \"done\": %s}}\n",
           input_len, fed, dispatched, responses_ended, (unsigned)conn.requests,
           closing_before_eof ? "true" : "false", partial_head_at_eof ? "true" : "false",
           unconsumed_at_eof, stalled ? "true" : "false", conn.closing ? "true" : "false",
           conn_is_done(&conn) ? "true" : "false");

    free(conn_abort(&conn));
    pool_free(&exchanges);
    free(output);
    router_free(&routes);
    return 0;
}
