/* footprint.c - the RAM a connection of the portable part takes, printed as "name bytes" lines
 * for scripts/footprint.sh: its state (mote_conn), the connection and exchange blocks it
 * borrows while a request is in flight, with mote's default limits and with a small device's,
 * what those blocks hold, and a WebSocket's state. Built for the Cortex-M4 (run under QEMU)
 * and for the host. */
#include <stdio.h>

#include "core/pool.h"
#include "engine/conn.h"
#include "engine/exchange.h"
#include "mote.h"
#include "proto/ws.h"

/* A small device's limits (README.md's footnote); SMALL_READ_ROOM is the body read room it
 * chooses (mote_config.body_read_room), the figure beside it today's default's. */
#define SMALL_REQUEST_LINE 512
#define SMALL_HEADER_BYTES 1024
#define SMALL_HEADERS 16
#define SMALL_SEND_BUFFER 1024
#define SMALL_RESPONSE_FIELDS 256
#define SMALL_READ_ROOM 64

static void small_env(conn_env *env, size_t read_room)
{
    mote_config cfg;
    mote_allocator none = {0};
    mote_config_init(&cfg);
    cfg.max_request_line = SMALL_REQUEST_LINE;
    cfg.max_header_bytes = SMALL_HEADER_BYTES;
    cfg.max_headers = SMALL_HEADERS;
    cfg.response_buffer_size = SMALL_SEND_BUFFER;
    cfg.max_response_header_bytes = SMALL_RESPONSE_FIELDS;
    cfg.body_read_room = read_room;
    conn_env_init(env, &cfg, NULL, none, 1);
}

/* what a pool's block of `size` bytes takes, its bookkeeping included */
static size_t pooled(size_t size)
{
    pool p;
    mote_allocator none = {0};
    pool_init(&p, none, size, 1);
    return pool_block_cost(&p);
}

/* the connection block and exchange block, as the engine's pools hand them out */
static size_t blocks(const conn_env *env)
{
    return pooled(conn_block_size(env)) + pooled(exchange_block_size(env));
}

int main(void)
{
    mote_config d;
    conn_env env;
    mote_allocator none = {0};
    size_t fixed;
    mote_config_init(&d);
    conn_env_init(&env, &d, NULL, none, 0);
    printf("conn_state %u\n", (unsigned)sizeof(mote_conn));
    printf("block_default %u\n", (unsigned)blocks(&env));
    small_env(&env, MOTE_CONFIG_BODY_READ_ROOM);
    printf("block_small_4k %u\n", (unsigned)blocks(&env));
    small_env(&env, SMALL_READ_ROOM);
    printf("block_small %u\n", (unsigned)blocks(&env));
    printf("small_read_room %u\n", (unsigned)SMALL_READ_ROOM);
    /* what the small device's blocks hold: the buffers its limits ask for, and the rest */
    printf("small_in %u\nsmall_out %u\n", (unsigned)env.in_size, (unsigned)env.out_size);
    printf("conn_block_rest %u\n",
           (unsigned)(pooled(conn_block_size(&env)) - env.in_size - env.out_size));
    printf("exchange_block %u\n", (unsigned)pooled(exchange_block_size(&env)));
    fixed = pooled(exchange_block_size(&env)) - SMALL_HEADERS * sizeof(hdr_span);
    printf("exchange_spans %u\n", (unsigned)(SMALL_HEADERS * sizeof(hdr_span)));
    printf("exchange_struct %u\n", (unsigned)sizeof(mote_exchange));
    printf("exchange_rest %u\n", (unsigned)(fixed - sizeof(mote_exchange)));
#if MOTE_CONFIG_WS
    /* a WebSocket: the connection's state and the socket's (a block of the env's `sockets`
     * pool), beside the buffers it is configured with (the block while it has I/O, a message
     * gathered) */
    printf("ws_state %u\n", (unsigned)(sizeof(mote_conn) + pooled(ws_socket_size())));
    printf("ws_socket %u\n", (unsigned)ws_socket_size());
#endif
    return 0;
}
