/* footprint.c - the RAM a connection of the portable part takes, printed as "name bytes" lines
 * for scripts/footprint.sh: its state (mote_conn) and the connection and exchange blocks it
 * borrows while a request is in flight, with mote's default limits and with a small device's.
 * Built for the Cortex-M4 (run under QEMU) and for the host. */
#include <stdio.h>

#include "engine/conn.h"
#include "engine/exchange.h"
#include "mote.h"

static size_t blocks(size_t request_line, size_t header_bytes, size_t headers, size_t out,
                     size_t response_fields)
{
    mote_config cfg;
    conn_env env;
    mote_allocator none = {0};
    mote_config_init(&cfg);
    cfg.max_request_line = request_line;
    cfg.max_header_bytes = header_bytes;
    cfg.max_headers = headers;
    cfg.response_buffer_size = out;
    cfg.max_response_header_bytes = response_fields;
    conn_env_init(&env, &cfg, NULL, none, 0);
    return conn_block_size(&env) + exchange_block_size(&env);
}

int main(void)
{
    mote_config d;
    mote_config_init(&d);
    printf("conn_state %u\n", (unsigned)sizeof(mote_conn));
    printf("block_default %u\n",
           (unsigned)blocks(d.max_request_line, d.max_header_bytes, d.max_headers,
                            d.response_buffer_size, d.max_response_header_bytes));
    /* a device: 512-byte request line, 1 KiB of fields, 16 fields, 1 KiB send buffer, 256
     * bytes of response fields */
    printf("block_small %u\n", (unsigned)blocks(512, 1024, 16, 1024, 256));
    return 0;
}
