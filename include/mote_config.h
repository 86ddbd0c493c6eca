/**
 * @file mote_config.h
 * Compile-time configuration: every limit's default and every feature switch, as a Kconfig
 * would give them. Define any of these before including mote.h (or on the compiler's command
 * line, or in a header named by MOTE_CONFIG_USER_FILE) to change it; mote_config_init() fills a
 * mote_config from them, and the limits can still be changed at run time there.
 */
#ifndef MOTE_CONFIG_H
#define MOTE_CONFIG_H

#ifdef MOTE_CONFIG_USER_FILE
#include MOTE_CONFIG_USER_FILE
#endif

/* ---- limits (mote_config fields of the same name, lower case) ---------------------------- */

#ifndef MOTE_CONFIG_MAX_CONNECTIONS
#define MOTE_CONFIG_MAX_CONNECTIONS 1024 /**< open client connections, per worker */
#endif
#ifndef MOTE_CONFIG_MAX_REQUEST_LINE
#define MOTE_CONFIG_MAX_REQUEST_LINE 8192 /**< bytes in a request line; longer: 414 */
#endif
#ifndef MOTE_CONFIG_MAX_HEADER_BYTES
#define MOTE_CONFIG_MAX_HEADER_BYTES 8192 /**< bytes of header fields; more: 431 */
#endif
#ifndef MOTE_CONFIG_MAX_HEADERS
#define MOTE_CONFIG_MAX_HEADERS 64 /**< header fields per request; more: 431 */
#endif
#ifndef MOTE_CONFIG_MAX_BODY_SIZE
#define MOTE_CONFIG_MAX_BODY_SIZE (1024 * 1024) /**< request body bytes a route takes: 413 */
#endif
#ifndef MOTE_CONFIG_MAX_DRAIN_SIZE
#define MOTE_CONFIG_MAX_DRAIN_SIZE 65536 /**< unread body bytes thrown away before closing */
#endif
#ifndef MOTE_CONFIG_RESPONSE_BUFFER_SIZE
#define MOTE_CONFIG_RESPONSE_BUFFER_SIZE 16384 /**< per-connection send buffer */
#endif
#ifndef MOTE_CONFIG_MAX_RESPONSE_HEADER_BYTES
#define MOTE_CONFIG_MAX_RESPONSE_HEADER_BYTES 1024 /**< response header fields a handler adds */
#endif
#ifndef MOTE_CONFIG_BODY_READ_ROOM
#define MOTE_CONFIG_BODY_READ_ROOM 4096 /**< input buffer bytes kept after a head to read its body
                                           through (at least 1): the least a body read takes */
#endif
#ifndef MOTE_CONFIG_IDLE_TIMEOUT_MS
#define MOTE_CONFIG_IDLE_TIMEOUT_MS 30000 /**< keep-alive connection with no request */
#endif
#ifndef MOTE_CONFIG_HEAD_TIMEOUT_MS
#define MOTE_CONFIG_HEAD_TIMEOUT_MS 10000 /**< a request head's first byte to its last: 408 */
#endif
#ifndef MOTE_CONFIG_BODY_TIMEOUT_MS
#define MOTE_CONFIG_BODY_TIMEOUT_MS 30000 /**< a request body with no byte arriving */
#endif
#ifndef MOTE_CONFIG_WRITE_TIMEOUT_MS
#define MOTE_CONFIG_WRITE_TIMEOUT_MS 30000 /**< a response making no progress to its reader */
#endif
#ifndef MOTE_CONFIG_HANDSHAKE_TIMEOUT_MS
#define MOTE_CONFIG_HANDSHAKE_TIMEOUT_MS 10000 /**< a TLS handshake from accept */
#endif
#ifndef MOTE_CONFIG_SHUTDOWN_TIMEOUT_MS
#define MOTE_CONFIG_SHUTDOWN_TIMEOUT_MS 5000 /**< responses in flight at mote_server_stop() */
#endif
#ifndef MOTE_CONFIG_MAX_POSTS
#define MOTE_CONFIG_MAX_POSTS 1024 /**< mote_post() tasks waiting for the loop */
#endif
#ifndef MOTE_CONFIG_MAX_TIMERS
#define MOTE_CONFIG_MAX_TIMERS 16 /**< application timers (mote_timer_start) at once */
#endif
#ifndef MOTE_CONFIG_WORKERS
#define MOTE_CONFIG_WORKERS 1 /**< event-loop threads */
#endif

/* ---- behaviour -------------------------------------------------------------------------- */

#ifndef MOTE_CONFIG_DEFER_ACCEPT
#define MOTE_CONFIG_DEFER_ACCEPT 1 /**< accept connections once they have sent something */
#endif
#ifndef MOTE_CONFIG_SERVER_NAME
#define MOTE_CONFIG_SERVER_NAME "mote" /**< the Server header's value; "" omits it */
#endif
#ifndef MOTE_CONFIG_SEND_DATE
#define MOTE_CONFIG_SEND_DATE 1 /**< send a Date header */
#endif
#ifndef MOTE_CONFIG_LOG_LEVEL
#define MOTE_CONFIG_LOG_LEVEL 2 /**< the most detailed log level passed on (2: MOTE_LOG_INFO) */
#endif
#ifndef MOTE_CONFIG_ACCESS_LOG
#define MOTE_CONFIG_ACCESS_LOG 0 /**< access-line format (0: MOTE_ACCESS_LOG_MOTE) */
#endif
#ifndef MOTE_CONFIG_ACCESS_LINE_MAX
#define MOTE_CONFIG_ACCESS_LINE_MAX 4096 /**< bytes of an access line (on the stack); longer
                                            fields are cut short */
#endif

/* ---- features --------------------------------------------------------------------------- */

#ifndef MOTE_CONFIG_TLS
#define MOTE_CONFIG_TLS 1 /**< HTTPS listeners on mbedTLS; 0: mote.c needs no mbedTLS */
#endif

#ifndef MOTE_CONFIG_ACCESS_LINES
#define MOTE_CONFIG_ACCESS_LINES 1 /**< the access line (mote_config.access_log); 0: never written */
#endif
#ifndef MOTE_CONFIG_BASIC_AUTH
#define MOTE_CONFIG_BASIC_AUTH 1 /**< Basic authentication of routes (mote_route_def.auth,
                                    mote_basic_auth_check()); 0: such routes are refused */
#endif
#ifndef MOTE_CONFIG_BASIC_AUTH_MAX_CREDENTIALS
#define MOTE_CONFIG_BASIC_AUTH_MAX_CREDENTIALS 512 /**< bytes of "user:password" compared (twice
                                                      on the stack); longer: no match */
#endif

#ifndef MOTE_CONFIG_WS
#define MOTE_CONFIG_WS 1 /**< WebSocket routes (mote_ws_route()) */
#endif
#ifndef MOTE_CONFIG_WS_DEFLATE
#define MOTE_CONFIG_WS_DEFLATE 0 /**< permessage-deflate on zlib (the Linux build sets it to 1) */
#endif
#ifndef MOTE_CONFIG_WS_MAX_MESSAGE_SIZE
#define MOTE_CONFIG_WS_MAX_MESSAGE_SIZE (1024 * 1024) /**< WebSocket message bytes: 1009 */
#endif
#ifndef MOTE_CONFIG_WS_MAX_BUFFERED
#define MOTE_CONFIG_WS_MAX_BUFFERED (64u * 1024 * 1024) /**< WebSocket heap of a loop: 1011 */
#endif
#ifndef MOTE_CONFIG_WS_PING_INTERVAL_MS
#define MOTE_CONFIG_WS_PING_INTERVAL_MS 30000 /**< ping a silent WebSocket (0: never) */
#endif
#ifndef MOTE_CONFIG_WS_CLOSE_TIMEOUT_MS
#define MOTE_CONFIG_WS_CLOSE_TIMEOUT_MS 5000 /**< the peer's answer to our close frame */
#endif

#ifndef MOTE_CONFIG_STATIC
#define MOTE_CONFIG_STATIC 1 /**< static content (mote_static.h); 0 leaves it out */
#endif
#ifndef MOTE_CONFIG_STATIC_MAX_RANGES
#define MOTE_CONFIG_STATIC_MAX_RANGES 16 /**< ranges of one Range field; more: the whole file */
#endif
#ifndef MOTE_CONFIG_STATIC_MULTIPART
#define MOTE_CONFIG_STATIC_MULTIPART 4 /**< multipart/byteranges responses at once per route */
#endif
#ifndef MOTE_CONFIG_STATIC_GUNZIP
#define MOTE_CONFIG_STATIC_GUNZIP 0 /**< gunzip gzip-only files on the fly (the Linux build: 1) */
#endif

#ifndef MOTE_CONFIG_HTTP2
#define MOTE_CONFIG_HTTP2 0 /**< HTTP/2 on nghttp2 (the Linux build sets it to 1 where found) */
#endif
#ifndef MOTE_CONFIG_H2_MAX_CONCURRENT_STREAMS
#define MOTE_CONFIG_H2_MAX_CONCURRENT_STREAMS 100 /**< streams open at once per connection */
#endif
#ifndef MOTE_CONFIG_H2_STREAM_WINDOW
#define MOTE_CONFIG_H2_STREAM_WINDOW 65535 /**< request body bytes in flight per stream */
#endif
#ifndef MOTE_CONFIG_H2_CONNECTION_WINDOW
#define MOTE_CONFIG_H2_CONNECTION_WINDOW (1024u * 1024) /**< and per connection */
#endif
#ifndef MOTE_CONFIG_H2_HEADER_TABLE_SIZE
#define MOTE_CONFIG_H2_HEADER_TABLE_SIZE 4096 /**< HPACK table the peer may fill (RFC 7541) */
#endif
#ifndef MOTE_CONFIG_H2_MAX_GLITCHES
#define MOTE_CONFIG_H2_MAX_GLITCHES 1000 /**< costly frames without progress: GOAWAY */
#endif
#ifndef MOTE_CONFIG_H2_MAX_SESSION_MEMORY
#define MOTE_CONFIG_H2_MAX_SESSION_MEMORY (1024u * 1024) /**< nghttp2's heap per connection */
#endif

/* ---- deployment -------------------------------------------------------------------------- */

#ifndef MOTE_CONFIG_PROXY
#define MOTE_CONFIG_PROXY 1 /**< PROXY protocol listeners and trusted Forwarded fields */
#endif

#ifndef MOTE_CONFIG_PROXY_MAX_HEADER
#define MOTE_CONFIG_PROXY_MAX_HEADER 536 /**< bytes of a PROXY protocol header (v2 with TLVs) */
#endif

#ifndef MOTE_CONFIG_MIN_RATE_BYTES
#define MOTE_CONFIG_MIN_RATE_BYTES 0 /**< bytes/s a body or blocked response must move (0: off) */
#endif

#ifndef MOTE_CONFIG_MIN_RATE_WINDOW_MS
#define MOTE_CONFIG_MIN_RATE_WINDOW_MS 10000 /**< the window that rate is measured over */
#endif

#ifndef MOTE_CONFIG_POOL_IDLE_MS
#define MOTE_CONFIG_POOL_IDLE_MS 30000 /**< buffer blocks unused this long are freed (0: kept) */
#endif

#ifndef MOTE_CONFIG_LWIP_LISTENERS
#define MOTE_CONFIG_LWIP_LISTENERS 2 /**< lwIP shell: listeners of a server (mote_lwip.h) */
#endif

#ifndef MOTE_CONFIG_LWIP_BACKLOG
#define MOTE_CONFIG_LWIP_BACKLOG 16 /**< lwIP shell: a listener's connections not yet accepted */
#endif

/* ---- static memory ---------------------------------------------------------------------- */

/**
 * Bytes of arena (mote_config.arena) a server with the compile-time limits above needs, for
 * a build that gives it one static array: connection slots, every connection and exchange
 * block (buffers, header index, path and response fields), a WebSocket's state, posts and
 * timers, with room for routes and listeners. An upper bound, for 32- and 64-bit targets.
 */
#define MOTE_ARENA_SIZE                                                                        \
    (65536u + (size_t)MOTE_CONFIG_MAX_CONNECTIONS *                                            \
                  (1536u + 64u + (size_t)MOTE_CONFIG_BODY_READ_ROOM +                          \
                   2u * (size_t)MOTE_CONFIG_MAX_REQUEST_LINE + 16u +                           \
                   (size_t)MOTE_CONFIG_MAX_HEADER_BYTES + 16u * (size_t)MOTE_CONFIG_MAX_HEADERS + \
                   (size_t)MOTE_CONFIG_MAX_RESPONSE_HEADER_BYTES +                             \
                   (size_t)MOTE_CONFIG_RESPONSE_BUFFER_SIZE + 192u * MOTE_CONFIG_WS) +         \
     48u * (size_t)MOTE_CONFIG_MAX_POSTS + 64u * (size_t)MOTE_CONFIG_MAX_TIMERS)

#endif
