/* config.c - mote_config_init: the defaults of mote_config.h. */
#include <string.h>

#include "mote.h"

void mote_config_init(mote_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_connections = MOTE_CONFIG_MAX_CONNECTIONS;
    cfg->max_request_line = MOTE_CONFIG_MAX_REQUEST_LINE;
    cfg->max_header_bytes = MOTE_CONFIG_MAX_HEADER_BYTES;
    cfg->max_headers = MOTE_CONFIG_MAX_HEADERS;
    cfg->max_body_size = MOTE_CONFIG_MAX_BODY_SIZE;
    cfg->max_drain_size = MOTE_CONFIG_MAX_DRAIN_SIZE;
    cfg->response_buffer_size = MOTE_CONFIG_RESPONSE_BUFFER_SIZE;
    cfg->max_response_header_bytes = MOTE_CONFIG_MAX_RESPONSE_HEADER_BYTES;
    cfg->body_read_room = MOTE_CONFIG_BODY_READ_ROOM;
    cfg->idle_timeout_ms = MOTE_CONFIG_IDLE_TIMEOUT_MS;
    cfg->head_timeout_ms = MOTE_CONFIG_HEAD_TIMEOUT_MS;
    cfg->body_timeout_ms = MOTE_CONFIG_BODY_TIMEOUT_MS;
    cfg->write_timeout_ms = MOTE_CONFIG_WRITE_TIMEOUT_MS;
    cfg->handshake_timeout_ms = MOTE_CONFIG_HANDSHAKE_TIMEOUT_MS;
    cfg->shutdown_timeout_ms = MOTE_CONFIG_SHUTDOWN_TIMEOUT_MS;
    cfg->max_posts = MOTE_CONFIG_MAX_POSTS;
    cfg->max_timers = MOTE_CONFIG_MAX_TIMERS;
    cfg->workers = MOTE_CONFIG_WORKERS;
    cfg->ws_max_message_size = MOTE_CONFIG_WS_MAX_MESSAGE_SIZE;
    cfg->ws_ping_interval_ms = MOTE_CONFIG_WS_PING_INTERVAL_MS;
    cfg->ws_close_timeout_ms = MOTE_CONFIG_WS_CLOSE_TIMEOUT_MS;
    cfg->ws_max_buffered = MOTE_CONFIG_WS_MAX_BUFFERED;
    cfg->defer_accept = MOTE_CONFIG_DEFER_ACCEPT;
    cfg->server_name = MOTE_CONFIG_SERVER_NAME;
    cfg->send_date = MOTE_CONFIG_SEND_DATE;
    cfg->log_level = (enum mote_log_level)MOTE_CONFIG_LOG_LEVEL;
    cfg->access_log = (enum mote_access_log)MOTE_CONFIG_ACCESS_LOG;
    cfg->http2 = MOTE_CONFIG_HTTP2 ? MOTE_HTTP2_ALL : 0;
    cfg->h2_max_concurrent_streams = MOTE_CONFIG_H2_MAX_CONCURRENT_STREAMS;
    cfg->h2_stream_window = MOTE_CONFIG_H2_STREAM_WINDOW;
    cfg->h2_connection_window = MOTE_CONFIG_H2_CONNECTION_WINDOW;
    cfg->h2_header_table_size = MOTE_CONFIG_H2_HEADER_TABLE_SIZE;
    cfg->h2_max_glitches = MOTE_CONFIG_H2_MAX_GLITCHES;
    cfg->h2_max_session_memory = MOTE_CONFIG_H2_MAX_SESSION_MEMORY;
    cfg->proxy_max_header = MOTE_CONFIG_PROXY_MAX_HEADER;
    cfg->min_rate_bytes = MOTE_CONFIG_MIN_RATE_BYTES;
    cfg->min_rate_window_ms = MOTE_CONFIG_MIN_RATE_WINDOW_MS;
    cfg->pool_idle_ms = MOTE_CONFIG_POOL_IDLE_MS;
}
