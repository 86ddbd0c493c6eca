/* footprint.c - the RAM a connection of the sans-I/O core takes, printed as "name bytes" lines
 * for scripts/footprint.sh: its state (mote_conn) and the buffer block it borrows while a
 * request is in flight, with mote's default limits and with a small device's. Built for the
 * Cortex-M4 (run under QEMU) and for the host. */
#include <stdio.h>

#include "engine/conn.h"
#include "mote.h"

static size_t block(size_t request_line, size_t header_bytes, size_t headers, size_t out)
{
    conn_env env = {0};
    env.max_request_line = (uint32_t)request_line;
    env.max_header_bytes = (uint32_t)header_bytes;
    env.max_headers = (uint32_t)headers;
    env.in_size = conn_input_size(request_line, header_bytes);
    env.out_size = (uint32_t)out;
    return conn_block_size(&env);
}

int main(void)
{
    mote_config d;
    mote_config_init(&d);
    printf("conn_state %u\n", (unsigned)sizeof(mote_conn));
    printf("block_default %u\n", (unsigned)block(d.max_request_line, d.max_header_bytes,
                                                 d.max_headers, d.response_buffer_size));
    /* a device: 512-byte request line, 1 KiB of fields, 16 fields, 1 KiB send buffer */
    printf("block_small %u\n", (unsigned)block(512, 1024, 16, 1024));
    return 0;
}
