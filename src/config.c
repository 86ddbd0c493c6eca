/* config.c - mote_config_init: the defaults mote.h documents. */
#include <string.h>

#include "mote.h"

void mote_config_init(mote_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_connections = 1024;
    cfg->max_request_line = 8192;
    cfg->max_header_bytes = 8192;
    cfg->max_headers = 64;
    cfg->max_body_size = 1024 * 1024;
    cfg->max_drain_size = 65536;
    cfg->body_timeout_ms = 30000;
    cfg->max_posts = 1024;
    cfg->workers = 1;
    cfg->response_buffer_size = 16384;
    cfg->idle_timeout_ms = 30000;
    cfg->head_timeout_ms = 10000;
    cfg->write_timeout_ms = 30000;
    cfg->handshake_timeout_ms = 10000;
    cfg->shutdown_timeout_ms = 5000;
    cfg->server_name = "mote";
    cfg->send_date = 1;
    cfg->log_level = MOTE_LOG_INFO;
}
