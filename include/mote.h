/**
 * @file mote.h
 * the whole public API of libmote, an embeddable HTTP/1.1 + HTTPS server.
 *
 * A minimal server:
 *
 *     static void hello(mote_request *req, mote_response *res, void *user)
 *     {
 *         (void)req; (void)user;
 *         mote_respond(res, 200, "text/plain", "Hello, world!\n");
 *     }
 *
 *     int main(void)
 *     {
 *         mote_server *srv;
 *         if (mote_server_create(&srv, NULL) < 0) return 1;
 *         mote_route(srv, &(mote_route_def){.path = "/", .match = MOTE_ROUTE_PREFIX,
 *                                           .handler = hello});
 *         if (mote_listen(srv, NULL, 8080) < 0) return 1;
 *         mote_server_run(srv);
 *         mote_server_destroy(srv);
 *         return 0;
 *     }
 *
 * Threading: a server and everything reached through it belong to the thread that runs its loop.
 * The only calls that may come from another thread are mote_server_stop(),
 * mote_server_reload_tls_soon(), mote_post(), mote_response_post() and mote_strerror(); from a
 * signal handler, mote_server_stop(), mote_server_reload_tls_soon() and mote_strerror().
 *
 * Callbacks: the library never frees an application's state inside the application's own call.
 * A request's release callback (mote_request_set_user()) runs exactly once, after whatever
 * callback of the application is running has returned.
 *
 * Strings: every `const char *` and every mote_str the request API returns is NUL-terminated
 * (ptr[len] is '\0') and valid until the request's release, unless its documentation says
 * otherwise.
 *
 * Results: calls return 0 (or a count, an index) on success and a negative MOTE_E* code on
 * failure. Where ignoring the result would lose data silently (mote_response_write()), the
 * compiler is asked to warn when it is ignored. When a handler's response call fails and the
 * handler answers nothing else, the client gets 500 and the log says why.
 */
#ifndef MOTE_H
#define MOTE_H

#include <stddef.h>
#include <stdint.h>

#include "mote_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOTE_VERSION_MAJOR 0     /**< incompatible API changes */
#define MOTE_VERSION_MINOR 1     /**< compatible additions */
#define MOTE_VERSION_PATCH 0     /**< fixes */
#define MOTE_VERSION "0.1.0"     /**< the three, as text */

/** Asks the compiler to warn when a call's result is ignored (GCC and Clang); nothing elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
#define MOTE_NODISCARD __attribute__((warn_unused_result))
#else
#define MOTE_NODISCARD
#endif

/* ---------------------------------------------------------------------------------------------
 * Errors: every call that can fail returns a negative MOTE_E* value; 0 (or a count) on success.
 * ------------------------------------------------------------------------------------------- */
enum {
    MOTE_OK = 0,
    MOTE_ENOMEM = -1,      /**< an allocation failed */
    MOTE_EINVAL = -2,      /**< an argument is invalid */
    MOTE_EAGAIN = -3,      /**< no room in the send buffer now; retry when it drains */
    MOTE_ESTATE = -4,      /**< the call is not valid in the object's current state */
    MOTE_ETOOBIG = -5,     /**< the data can never fit the configured buffer */
    MOTE_ESYS = -6,        /**< an operating-system call failed (see errno) */
    MOTE_EADDR = -7,       /**< an address could not be parsed or bound */
    MOTE_ETLS = -8,        /**< TLS set-up failed (certificate, key, library) */
    MOTE_EEXIST = -9,      /**< the route is already registered */
    MOTE_ELIMIT = -10,     /**< a configured limit was reached */
    MOTE_ENOTSUP = -11,    /**< not supported by this build */
    MOTE_ECLOSED = -12,    /**< the connection is gone */
    MOTE_ENOTFOUND = -13   /**< no such item (query key, timer) */
};

/** A static English description of an error code; never NULL. */
const char *mote_strerror(int err);

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */
/** A server: its configuration, routes, listeners, connections and event loop(s). */
typedef struct mote_server mote_server;
/** A request being served, valid from its handler until its response is finished. */
typedef struct mote_request mote_request;
/** The response to a request, written by its handler. */
typedef struct mote_response mote_response;

/** A view of bytes: not NUL-terminated unless documented. */
typedef struct mote_str {
    const char *ptr;   /**< the first byte */
    size_t len;        /**< how many */
} mote_str;

/** One request header field as received; name and value are NUL-terminated, the value without
 * its leading and trailing whitespace. */
typedef struct mote_header {
    const char *name;     /**< as received (compare case-insensitively) */
    size_t name_len;      /**< bytes in name */
    const char *value;    /**< without leading and trailing whitespace */
    size_t value_len;     /**< bytes in value */
} mote_header;

/** A request handler. It answers through `res`: mote_respond(), mote_response_send() (or
 * _send_static(), _send_file()), or mote_response_write()...mote_response_end(). When it
 * returns without having answered, the client gets 500 (and the log says why); a streamed
 * response it left open is ended for it, unless it was deferred with mote_response_defer(). */
typedef void (*mote_handler)(mote_request *req, mote_response *res, void *user_data);

/** Called once when a request is over (see mote_request_set_user()): `completed` is 1 when its
 * whole response was sent, 0 when it was cut off (the client went away, the server stopped). */
typedef void (*mote_release_fn)(void *user, int completed);

/** A file for mote_response_send_file(): a descriptor the transport can send from directly
 * (sendfile(2) on plain TCP), or fd -1 and a `read` callback; mote calls `close` (when not NULL)
 * exactly once, when it is done with the file, sent or not. */
typedef struct mote_file {
    int fd;                     /**< an open descriptor to read from, or -1 to use `read` */
    /** Reads up to len bytes at offset into buf: a count (0 at the end), or -1 on error.
     * Needed when fd is -1; with a descriptor, mote reads it itself where it must (TLS). */
    long (*read)(void *ctx, void *buf, size_t len, uint64_t offset);
    void (*close)(void *ctx);   /**< releases the file; NULL: nothing to release */
    void *ctx;                  /**< passed to `read` and `close` */
} mote_file;

/** How much a log line matters; mote_config.log_level passes this level and the ones above. */
enum mote_log_level {
    MOTE_LOG_ERROR = 0,
    MOTE_LOG_WARN = 1,
    MOTE_LOG_INFO = 2,   /**< listeners, accepted connections, one access line per request */
    MOTE_LOG_DEBUG = 3
};

/** Receives each log line (without a trailing newline). */
typedef void (*mote_log_fn)(void *user, int level, const char *message);

/** The access line logged at MOTE_LOG_INFO when each response ends (mote_config.access_log). */
enum mote_access_log {
    MOTE_ACCESS_LOG_MOTE = 0,  /**< 127.0.0.1:50000 "GET / HTTP/1.1" 200 12 0.153ms (bytes of body,
                                  time from the request's head to the response's end) */
    MOTE_ACCESS_LOG_COMMON,    /**< Common Log Format: 127.0.0.1 - - [06/Nov/1994:08:49:37 +0000]
                                  "GET / HTTP/1.1" 200 12 (UTC; "-" for no body) */
    MOTE_ACCESS_LOG_COMBINED,  /**< Common, then "Referer" "User-Agent" */
    MOTE_ACCESS_LOG_JSON,      /**< one JSON object: time (RFC 3339, UTC), remote, port, method,
                                  target, version, status, bytes, duration_ms, referer,
                                  user_agent (null when absent) */
    MOTE_ACCESS_LOG_OFF
};

/** Allocation hooks; every allocation the library makes goes through them (mbedTLS's own
 * excepted). Memory must be aligned for any object, as malloc's is. */
typedef struct mote_allocator {
    void *(*alloc)(void *ctx, size_t size);   /**< returns NULL on failure */
    void (*free)(void *ctx, void *ptr);       /**< ptr may be NULL */
    void *ctx;                                /**< passed to both */
} mote_allocator;

/** Server configuration. Fill it with mote_config_init(), then change what you need. Every
 * limit is enforced per connection or per request as its comment says. */
typedef struct mote_config {
    size_t max_connections;       /**< open client connections (1024); past it: 503 and close */
    size_t max_request_line;      /**< bytes in the request line (8192); longer: 414 */
    size_t max_header_bytes;      /**< bytes of header fields after the request line (8192): 431 */
    size_t max_headers;           /**< header fields per request (64); more: 431 */
    uint64_t max_body_size;       /**< request body bytes a route takes (1 MiB); more: 413 */
    uint64_t max_drain_size;      /**< body bytes read and thrown away when a handler answers
                                     without reading them (65536); more: the connection closes */
    size_t response_buffer_size;  /**< per-connection send buffer (16384): response heads,
                                     and bodies copied into it; a larger one-shot body goes
                                     out from a copy of its own (or, in static-memory mode,
                                     must fit in half of this buffer) */
    size_t max_response_header_bytes; /**< the header fields a handler adds to a response,
                                     names and values (1024); they share an area with the
                                     request's decoded path, so a short path leaves them up to
                                     max_request_line more. Beyond: MOTE_ETOOBIG */
    size_t body_read_room;        /**< input buffer bytes kept free after a request's head to
                                     read its body through (4096; at least 1): the input
                                     buffer is max_request_line + max_header_bytes + this, and
                                     a head leaving less is moved down first. A body a
                                     MOTE_BODY_COLLECT route gathers stays in that buffer when
                                     it fits with this much to spare, else it goes to the
                                     heap (in static-memory mode: 413) */
    uint32_t idle_timeout_ms;     /**< keep-alive connection with no request (30000) */
    uint32_t head_timeout_ms;     /**< from a request's first byte to its full head (10000): 408 */
    uint32_t body_timeout_ms;     /**< a request body with no byte arriving for this long (30000):
                                     408 if no response has begun, else the connection closes */
    uint32_t write_timeout_ms;    /**< a response making no progress to a stalled reader (30000) */
    uint32_t handshake_timeout_ms;/**< TLS handshake from accept (10000) */
    uint32_t shutdown_timeout_ms; /**< mote_server_stop() waits this long for open responses (5000) */
    const char *server_name;      /**< value of the Server header ("mote"); NULL or "" omits it */
    int send_date;                /**< send a Date header (1), where the platform has a wall
                                     clock */
    size_t max_posts;             /**< mote_post() calls waiting for the loop (1024) */
    mote_log_fn log;              /**< NULL: the library logs nothing */
    void *log_user;               /**< passed to `log` */
    enum mote_log_level log_level; /**< the most detailed level passed to `log` (MOTE_LOG_INFO) */
    enum mote_access_log access_log; /**< the access line's format (MOTE_ACCESS_LOG_MOTE) */
    mote_allocator allocator;     /**< malloc/free when left zeroed */
    size_t max_timers;            /**< application timers at once (16); more: MOTE_ELIMIT */
    void *arena;                  /**< static-memory mode: when set, every byte the server uses
                                     comes from these arena_size bytes (one array, e.g.
                                     `static char a[MOTE_ARENA_SIZE]`), all of it taken at
                                     creation: every buffer block up front, no allocation after
                                     start. A body a MOTE_BODY_COLLECT route cannot hold in
                                     the connection's buffer gets 413, a one-shot response
                                     body must fit in half the send buffer; TLS listeners are
                                     not available (mbedTLS allocates per session). */
    size_t arena_size;            /**< bytes at `arena` (MOTE_ARENA_SIZE for mote_config.h's
                                     limits); too few: mote_server_create() gives MOTE_ENOMEM */
    unsigned workers;             /**< event-loop threads (1). Above 1, mote_server_run() runs
                                     this many loops, each with its own connections (up to
                                     max_connections each) on listeners shared through
                                     SO_REUSEPORT; handlers and `log` are then called from
                                     several threads. Timers and posts run on the loop they
                                     are given to (mote_server_loop(),
                                     mote_request_server()). Not with mote_server_step(). */
    uint64_t ws_max_message_size; /**< WebSocket message bytes a socket takes, after
                                     inflating (1 MiB; a route may set its own): more is
                                     closed with 1009 */
    uint32_t ws_ping_interval_ms; /**< a WebSocket silent this long is pinged, and closed when
                                     it stays silent as long again (30000; 0: never) */
    uint32_t ws_close_timeout_ms; /**< the peer's answer to our close frame (5000) */
    uint64_t ws_max_buffered;     /**< heap all WebSockets of a loop hold together: messages
                                     being gathered and permessage-deflate's streams (64 MiB).
                                     Past it, a message being received closes its socket with
                                     1011, a compressed send fails with MOTE_ENOMEM */
    int defer_accept;             /**< 1 (the default): a new connection reaches the server
                                     once its first bytes have arrived (or after about a
                                     second of silence), so that accepting it and reading its
                                     request take one wake-up, not two, and silent connections
                                     hold no slot meanwhile (Linux's TCP_DEFER_ACCEPT; no
                                     effect elsewhere). 0: every connection as soon as its TCP
                                     handshake is done. */
    unsigned http2;               /**< how HTTP/2 may begin on a listener (MOTE_HTTP2_ALL where
                                     the library is built with it, else 0; 0: HTTP/1.1 only);
                                     a listener may narrow it (mote_listener_http2()). Not in
                                     static-memory mode (nghttp2 allocates per stream) */
    uint32_t h2_max_concurrent_streams; /**< HTTP/2 streams open at once per connection (100),
                                     advertised in SETTINGS; a client that opens more is sent
                                     GOAWAY PROTOCOL_ERROR (nghttp2 escalates the stream error
                                     of RFC 9113 §5.1.2, as §5.4.1 allows) */
    uint32_t h2_stream_window;    /**< request body bytes a stream may have in flight (65535):
                                     the window is given back only as the handler takes the
                                     body, so a paused body holds the client back */
    uint32_t h2_connection_window; /**< the same for all streams of a connection (1 MiB) */
    uint32_t h2_header_table_size; /**< HPACK dynamic table the client may fill (4096) */
    uint32_t h2_max_glitches;     /**< frames that cost without progress (PING, SETTINGS,
                                     PRIORITY, WINDOW_UPDATE while idle, empty DATA, resets,
                                     refused streams) a connection may send, less one per
                                     stream completed (1000); past it: GOAWAY
                                     ENHANCE_YOUR_CALM */
    size_t h2_max_session_memory; /**< heap nghttp2 may hold per connection (1 MiB): HPACK
                                     tables, frames queued, stream states; past it the
                                     connection ends */
    int reuse_port;               /**< bind listeners with SO_REUSEPORT (0), so that a new
                                     instance can bind the port while this one drains after
                                     mote_server_stop(): a restart without refusing anyone */
    const char *trusted_proxies;  /**< networks whose Forwarded, X-Forwarded-For and
                                     X-Forwarded-Proto fields are believed
                                     (mote_request_client_addr()): CIDRs separated by commas
                                     or spaces, "10.0.0.0/8, ::1/128"; NULL: none */
    size_t proxy_max_header;      /**< bytes of a PROXY protocol header
                                     (mote_listener_proxy_protocol()) (536); it must arrive
                                     within handshake_timeout_ms */
    uint32_t min_rate_bytes;      /**< a request body being received, or a response being
                                     sent to a reader that keeps the connection waiting,
                                     slower than this many bytes per second over
                                     min_rate_window_ms closes the connection (0: off) */
    uint32_t min_rate_window_ms;  /**< the window of min_rate_bytes (10000) */
    uint32_t pool_idle_ms;        /**< buffer blocks no connection has needed for this long
                                     are given back to the allocator, so memory returns
                                     near its idle figure after a burst (30000; 0: kept
                                     for reuse; static-memory mode keeps them) */
    /** Called on each loop's thread as its graceful shutdown begins (mote_server_stop()),
     * before idle connections close: the moment to end long-lived responses. */
    void (*on_shutdown)(mote_server *loop, void *user);
    void *shutdown_user;          /**< passed to on_shutdown */
} mote_config;

/** How HTTP/2 may begin (mote_config.http2, mote_listener_http2()): bits. */
enum {
    MOTE_HTTP2_ALPN = 1,            /**< TLS listeners offer "h2" before "http/1.1" (RFC 9113 §3.2) */
    MOTE_HTTP2_PRIOR_KNOWLEDGE = 2, /**< plain listeners take the client preface (§3.3) */
    MOTE_HTTP2_UPGRADE = 4,         /**< plain listeners answer "Upgrade: h2c" (RFC 7540 §3.2) */
    MOTE_HTTP2_ALL = 7
};

/** Fills `cfg` with the defaults above. */
void mote_config_init(mote_config *cfg);

/* ---------------------------------------------------------------------------------------------
 * Server
 * ------------------------------------------------------------------------------------------- */

/** Creates a server from `cfg` (copied; NULL means defaults). Returns 0 or a MOTE_E* code. */
int mote_server_create(mote_server **out, const mote_config *cfg);

/** Closes every listener and connection and frees the server. Call it outside the loop. */
void mote_server_destroy(mote_server *srv);

/** Opens a plain-HTTP listener. `addr` is a numeric IPv4 or IPv6 address ("127.0.0.1", "::1",
 * "[::1]"); NULL, "" or "::" bind the IPv6 wildcard in dual-stack mode, which also serves IPv4
 * (falling back to 0.0.0.0 where the host has no IPv6). Port 0 picks a free port.
 * Returns the listener's index (>= 0) or a MOTE_E* code. */
int mote_listen(mote_server *srv, const char *addr, uint16_t port);

/** One more certificate for a TLS listener (mote_tls_config.certs): a PEM chain (leaf first)
 * and its key, each from a file or from NUL-terminated PEM text, served to clients that ask
 * for `server_name` by SNI. */
typedef struct mote_tls_cert {
    const char *server_name;      /**< "device.example" or "*.example" (one label); NULL or ""
                                     adds it to the default certificate (an ECDSA one beside an
                                     RSA one: each client gets the kind it supports) */
    const char *cert_file;        /**< PEM file of the chain, or NULL with cert_pem */
    const char *key_file;         /**< PEM file of the key, or NULL with key_pem */
    const char *cert_pem;         /**< the chain as PEM text, when cert_file is NULL */
    const char *key_pem;          /**< the key as PEM text, when key_file is NULL */
    const char *key_password;     /**< NULL when the key is not encrypted */
} mote_tls_cert;

/** Whether a TLS listener asks clients for a certificate (mote_tls_config.client_auth). */
enum mote_tls_client_auth {
    MOTE_TLS_CLIENT_NONE = 0,     /**< no certificate asked for */
    MOTE_TLS_CLIENT_OPTIONAL = 1, /**< asked for; a client without one is served, a client
                                     with one that does not verify is refused */
    MOTE_TLS_CLIENT_REQUIRED = 2  /**< a client without a verified certificate is refused */
};

/** TLS credentials for mote_listen_tls(): a PEM certificate chain (leaf first) and its private
 * key, each given either as a file name or as NUL-terminated PEM text in memory; more
 * certificates chosen by SNI; and client certificates (mTLS). */
typedef struct mote_tls_config {
    const char *cert_file;        /**< PEM file of the chain, or NULL with cert_pem */
    const char *key_file;         /**< PEM file of the key, or NULL with key_pem */
    const char *cert_pem;         /**< the chain as PEM text, when cert_file is NULL */
    const char *key_pem;          /**< the key as PEM text, when key_file is NULL */
    const char *key_password;     /**< NULL when the key is not encrypted */
    unsigned min_version;         /**< the lowest version accepted: MOTE_TLS_1_2 (0 means it)
                                     or MOTE_TLS_1_3 (OpenSSL backend; MOTE_ETLS on mbedTLS
                                     2.28, which has no TLS 1.3) */
    const mote_tls_cert *certs;   /**< more certificates (SNI); a name no entry matches, or
                                     none sent, gets the one above */
    size_t cert_count;            /**< entries in certs */
    unsigned client_auth;         /**< enum mote_tls_client_auth (0: none) */
    const char *client_ca_file;   /**< PEM file of the CAs client certificates must chain to */
    const char *client_ca_pem;    /**< the CAs as PEM text, when client_ca_file is NULL */
} mote_tls_config;

/** TLS versions (mote_tls_config.min_version), as on the wire. */
enum { MOTE_TLS_1_2 = 0x0303, MOTE_TLS_1_3 = 0x0304 };

/** Opens an HTTPS listener (TLS 1.2 on mbedTLS, TLS 1.3 and 1.2 on OpenSSL; ECDHE with AEAD
 * suites only, no renegotiation, no compression, tickets for resumption without 0-RTT). The
 * credentials are loaded now; a bad file or key gives MOTE_ETLS and one log line saying why. */
int mote_listen_tls(mote_server *srv, const char *addr, uint16_t port, const mote_tls_config *tls);

/** Reads every TLS listener's certificates, keys and client CAs again from the files (or the
 * PEM text) mote_listen_tls() was given, for connections from now on; open connections keep
 * theirs. All or nothing: when one fails to load, every listener keeps what it has, one
 * error line says why, and the error (MOTE_ETLS, MOTE_ENOMEM) is returned. Call it on the
 * server's thread (mote_server_reload_tls_soon() from elsewhere); its workers take their new
 * contexts on their own threads, and once the last has, the info line "TLS certificates
 * reloaded" is logged. Returns 0 or a MOTE_E* code. */
int mote_server_reload_tls(mote_server *srv);

/** Asks the server's loop to run mote_server_reload_tls() soon, on its own thread; the outcome
 * is logged. Safe from a signal handler (SIGHUP) or another thread, as mote_server_stop(). */
void mote_server_reload_tls_soon(mote_server *srv);

/** The TLS library libmote was built with, and its version: "mbedTLS 2.28.3",
 * "OpenSSL 3.0.19", or "none" (-DMOTE_TLS=none). */
const char *mote_tls_backend(void);

/** Narrows how HTTP/2 may begin on a listener (MOTE_HTTP2_* bits, within mote_config.http2;
 * 0: HTTP/1.1 only), for its connections from now on. MOTE_ENOTSUP without HTTP/2. */
int mote_listener_http2(mote_server *srv, int listener, unsigned modes);

/** Requires a PROXY protocol header (HAProxy's, version 1 or 2) at the start of every
 * connection to the listener, before TLS if the listener has it: its source address becomes
 * the connection's peer (mote_request_peer(), the access log), the proxy's stays readable
 * (mote_request_proxy_addr()), and a LOCAL header (the proxy's health check) keeps the
 * socket's own. A connection without a valid header within handshake_timeout_ms and
 * proxy_max_header bytes is closed unanswered. Never optional: a listener that took either
 * would let any client name its own address. Returns 0, MOTE_EINVAL, or MOTE_ENOTSUP where
 * MOTE_CONFIG_PROXY is 0. */
int mote_listener_proxy_protocol(mote_server *srv, int listener);

/** A listening socket the process was given (systemd's socket activation, a supervisor's
 * hand-over) as a listener: HTTPS when `tls` is given, else HTTP. The socket is made
 * non-blocking and close-on-exec; with several workers each loop gets a duplicate. Returns the
 * listener's index or a MOTE_E* code (MOTE_EINVAL for a descriptor that is not a listening
 * stream socket). */
int mote_listen_fd(mote_server *srv, int fd, const mote_tls_config *tls);

/** An inherited listening socket (mote_listen_fds()). */
typedef struct mote_inherited_fd {
    int fd;                       /**< from 3 up */
    char name[64];                /**< its name in LISTEN_FDNAMES ("" when none) */
} mote_inherited_fd;

/** The sockets systemd's socket activation passed to this process (LISTEN_PID naming it,
 * LISTEN_FDS counting them from descriptor 3, LISTEN_FDNAMES naming them), up to `max` into
 * `out`; the variables are then removed so that children do not take them. Returns the
 * count (0 when the process was not socket-activated) or MOTE_EINVAL for malformed
 * variables. */
int mote_listen_fds(mote_inherited_fd *out, size_t max);

/** The port a listener is bound to (useful after port 0), or a MOTE_E* code. */
int mote_listener_port(const mote_server *srv, int listener);

/** The address a listener is bound to, as text ("::", "127.0.0.1"), into buf (46 bytes always
 * suffice). Returns 0 or a MOTE_E* code. */
int mote_listener_address(const mote_server *srv, int listener, char *buf, size_t buf_len);

/** What part of the path a route matches. */
typedef enum mote_match {
    MOTE_ROUTE_EXACT = 0,     /**< the path must equal the route's */
    MOTE_ROUTE_PREFIX = 1,    /**< the route's path and everything below it: "/a" takes "/a",
                                 "/a/", "/a/b", never "/ab"; a path ending in "/" takes all below */
    MOTE_ROUTE_DEFAULT = 2    /**< every path no other route matches (no `path`); without such
                                 a route they get 404 */
} mote_match;

/** When the handler runs, and what becomes of the request body. */
typedef enum mote_body_policy {
    MOTE_BODY_STREAM = 0,     /**< the handler runs once the head is in; it may take the body
                                 with mote_request_read_body(), else the body is drained */
    MOTE_BODY_COLLECT = 1     /**< the handler runs once the whole body is in memory
                                 (mote_request_body()) */
} mote_body_policy;

/** The methods mote implements, as bits of a route's method mask. Other methods get 501. */
enum {
    MOTE_GET = 1 << 0,       /**< GET (RFC 9110 §9.3.1) */
    MOTE_HEAD = 1 << 1,      /**< HEAD: GET's header fields, no body */
    MOTE_POST = 1 << 2,      /**< POST */
    MOTE_PUT = 1 << 3,       /**< PUT */
    MOTE_DELETE = 1 << 4,    /**< DELETE */
    MOTE_PATCH = 1 << 5,     /**< PATCH (RFC 5789) */
    MOTE_OPTIONS = 1 << 6    /**< OPTIONS */
};
#define MOTE_METHODS_ALL 0x7fu /**< every method above */

/** HTTP Basic authentication (RFC 7617) demanded by a route. */
typedef struct mote_basic_auth {
    const char *realm;       /**< named in the 401's WWW-Authenticate */
    const char *user;        /**< the user name accepted */
    const char *password;    /**< and its password */
} mote_basic_auth;

/** A route: what it matches, what it accepts, and its handler. Zeroed fields take the defaults;
 * strings are copied. A request the route refuses (method: 405, or OPTIONS answered with Allow;
 * body too long: 413; no credentials: 401) is answered before the handler runs and before any
 * 100 Continue. */
typedef struct mote_route_def {
    const char *path;             /**< starting with '/'; NULL for MOTE_ROUTE_DEFAULT */
    mote_match match;             /**< MOTE_ROUTE_EXACT (0), MOTE_ROUTE_PREFIX, MOTE_ROUTE_DEFAULT */
    mote_handler handler;         /**< required */
    void *user;                   /**< passed to the handler */
    unsigned methods;             /**< MOTE_GET | MOTE_POST ...; 0: all. GET allows HEAD too */
    mote_body_policy body;        /**< MOTE_BODY_STREAM (0) or MOTE_BODY_COLLECT */
    uint64_t max_body_size;       /**< 0: the server's max_body_size */
    const mote_basic_auth *auth;  /**< NULL: no credentials needed */
} mote_route_def;

/** Registers a route. The longest matching path wins, an exact route before a prefix route of
 * the same path; the query string takes no part; paths are matched after percent-decoding and
 * removing dot-segments. Returns 0, MOTE_EINVAL (a bad path, field or credentials), MOTE_EEXIST
 * (the same path and match again, or a second default route), MOTE_ENOMEM, or MOTE_ENOTSUP
 * for a route with `auth` in a build without Basic authentication (MOTE_CONFIG_BASIC_AUTH 0). */
int mote_route(mote_server *srv, const mote_route_def *def);

/** The memory a connection costs this server: `idle` bytes for each connection slot (taken at
 * creation, touched when first used), and `active` bytes more, borrowed from a pool, while a
 * request is in flight. mbedTLS's own per-session memory is not included. */
void mote_server_memory(const mote_server *srv, size_t *idle, size_t *active);

/** Upper bounds (ms) of the latency buckets of mote_stats.latency; the last bucket has none. */
#define MOTE_LATENCY_BOUNDS_MS {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
#define MOTE_LATENCY_BUCKETS 13 /**< the bounds above, and one bucket past the last */

/** The timeouts of mote_stats.timeouts, by what was awaited. */
enum mote_timeout_kind {
    MOTE_TIMEOUT_HANDSHAKE,   /**< TLS handshake or PROXY header */
    MOTE_TIMEOUT_HEAD,        /**< a request head (408) */
    MOTE_TIMEOUT_BODY,        /**< a request body (408) */
    MOTE_TIMEOUT_WRITE,       /**< a reader taking nothing */
    MOTE_TIMEOUT_IDLE,        /**< a keep-alive connection or a WebSocket without traffic */
    MOTE_TIMEOUT_MIN_RATE,    /**< slower than min_rate_bytes over min_rate_window_ms */
    MOTE_TIMEOUT_KINDS
};

/** The errors of mote_stats.errors, by kind. */
enum mote_error_kind {
    MOTE_ERROR_IO,            /**< a connection's socket or TLS session failed (resets too) */
    MOTE_ERROR_NOMEM,         /**< a connection ended for want of memory */
    MOTE_ERROR_PROXY,         /**< a PROXY protocol header was malformed or missing */
    MOTE_ERROR_KINDS
};

/** What a loop has served so far (mote_server_stats()). */
typedef struct mote_stats {
    uint64_t connections;     /**< open now: HTTP connections and WebSockets */
    uint64_t websockets;      /**< of them, WebSockets */
    uint64_t accepted;        /**< connections taken since start */
    uint64_t refused;         /**< connections turned away: every slot taken, or no descriptor */
    uint64_t requests;        /**< requests answered since start */
    uint64_t requests_http1;  /**< of them, over HTTP/1.x */
    uint64_t requests_http2;  /**< of them, over HTTP/2 */
    uint64_t status[5];       /**< answered with 1xx (status[0]) to 5xx (status[4]) */
    uint64_t bytes_in;        /**< bytes received from clients (after TLS) */
    uint64_t bytes_out;       /**< bytes sent to clients (before TLS) */
    uint64_t tls_full;        /**< TLS handshakes done in full */
    uint64_t tls_resumed;     /**< TLS handshakes that resumed a session */
    uint64_t tls_failed;      /**< TLS handshakes that failed */
    uint64_t timeouts[MOTE_TIMEOUT_KINDS]; /**< connections timed out, by enum mote_timeout_kind */
    uint64_t errors[MOTE_ERROR_KINDS];     /**< by enum mote_error_kind */
    /** Requests by time from their head to their response's end (on the loop's clock, which
     * ticks once per wake-up): latency[i] counts those of at most MOTE_LATENCY_BOUNDS_MS[i] ms
     * and more than the bound before; the last bucket, those above every bound. */
    uint64_t latency[MOTE_LATENCY_BUCKETS];
    uint64_t latency_ms_sum;  /**< the sum of those times, in ms */
    uint64_t uptime_ms;       /**< since the server was created */
} mote_stats;

/** The figures of one loop (mote_server_loop()), read on its thread (for all loops of a
 * server: a task posted to each, mote_post()). */
void mote_server_stats(const mote_server *loop, mote_stats *out);

/** Adds the figures of `from` to `to` (uptime: the longer), to sum several loops. */
void mote_stats_add(mote_stats *to, const mote_stats *from);

/** Runs the event loop until mote_server_stop() and the graceful shutdown that follows.
 * Returns 0, or a MOTE_E* code if the loop itself failed. */
int mote_server_run(mote_server *srv);

/** Asks the server to stop, gracefully, in two phases. First, draining: listeners close at
 * once (connections already waiting in their queues are taken and served), on_shutdown runs
 * on each loop, idle connections close, busy ones after their current response (HTTP/1.1 with
 * "Connection: close", HTTP/2 with GOAWAY, WebSockets with close code 1001). Then, after
 * shutdown_timeout_ms, every connection left is closed. Safe from a signal handler or another
 * thread. */
void mote_server_stop(mote_server *srv);

/** 1 once mote_server_stop() has been called (draining or stopped), else 0: a long-lived
 * response asks it to end itself, a health check answers 503. Safe from any thread. */
int mote_server_draining(const mote_server *srv);

/** Your loop instead of ours: watch mote_server_fd() for readability, and call
 * mote_server_step(srv, 0) when it is readable or when mote_server_timeout_ms() has passed.
 * mote_server_fd() returns MOTE_ENOTSUP on a build with the poll(2) backend. */
int mote_server_fd(const mote_server *srv);

/** What mote_server_step() says of the server. */
enum mote_run_state {
    MOTE_RUNNING = 0,   /**< it goes on: call again */
    MOTE_STOPPED = 1    /**< it has stopped completely (after mote_server_stop()) */
};

/** Waits up to `timeout_ms` (0: not at all, -1: until an event) and handles what is ready.
 * Returns MOTE_RUNNING, MOTE_STOPPED, or a MOTE_E* code (MOTE_ESTATE for a server with several
 * workers, which only mote_server_run() runs). */
int mote_server_step(mote_server *srv, int timeout_ms);

/** Milliseconds until the next timer is due (0 if one is due now), or -1 if none is set. */
int mote_server_timeout_ms(const mote_server *srv);

/** The server's event loops, for setting up what each loop needs (timers, per-loop state)
 * before mote_server_run(): loop 0 is `srv` itself, loops 1 to workers-1 its workers, each a
 * mote_server of its own; NULL past the last. A timer runs, and a task posted runs, on the loop
 * it was given to; a request is served, and its response must be written, on the loop of its
 * connection (mote_request_server()). */
mote_server *mote_server_loop(mote_server *srv, unsigned i);

/** Which of its server's loops `loop` is (the `i` of mote_server_loop()). */
unsigned mote_server_loop_index(const mote_server *loop);

/** Work for the loop's thread, e.g. writing to a deferred response from another thread. */
typedef void (*mote_task_fn)(mote_server *srv, void *arg);

/** Queues fn(srv, arg) to run on the loop's thread, in order, soon. May be called from any
 * thread (not from a signal handler). Returns 0, MOTE_EAGAIN when max_posts are already
 * waiting, or MOTE_ESTATE once the server has stopped. */
int mote_post(mote_server *srv, mote_task_fn fn, void *arg);

/** Runs fn(srv, arg) on the loop's thread after delay_ms, then every repeat_ms (0: once).
 * Returns a timer id (>= 0) or a MOTE_E* code. */
int mote_timer_start(mote_server *srv, uint32_t delay_ms, uint32_t repeat_ms, mote_task_fn fn,
                     void *arg);

/** Cancels a timer (also from inside its own callback). Returns 0 or MOTE_ENOTFOUND. */
int mote_timer_stop(mote_server *srv, int timer_id);

/* ---------------------------------------------------------------------------------------------
 * Request (valid from its handler until its release; see mote_request_set_user())
 * ------------------------------------------------------------------------------------------- */

/** The event loop serving the request: the server itself, or with workers > 1 the worker that
 * owns its connection. Timers and tasks that write to its response belong on this loop. */
mote_server *mote_request_server(const mote_request *req);

/** Gives the request a pointer of the application's and a callback that releases it: `release`
 * (which may be NULL) is called exactly once, when the request is over, its response sent or
 * cut off and its body read or dropped, and always after the application's callback that is
 * running has returned, never inside a call of its own. Setting it again replaces both.
 * Returns 0 or MOTE_EINVAL. */
int mote_request_set_user(mote_request *req, void *user, mote_release_fn release);

/** The pointer given by mote_request_set_user(), or NULL. */
void *mote_request_user(const mote_request *req);

/** The method token as sent, e.g. "GET". */
const char *mote_request_method(const mote_request *req);

/** The method as one of MOTE_GET...MOTE_OPTIONS. */
unsigned mote_request_method_id(const mote_request *req);

/** The request target exactly as sent, e.g. "/headers?x=1". */
const char *mote_request_target(const mote_request *req);

/** The path of the target, percent-decoded and with dot-segments removed ("/a/./b/../c%20d"
 * gives "/a/c d"). For an absolute-form target, its path; for "*", "*". */
mote_str mote_request_path(const mote_request *req);

/** The query part of the target after '?' (empty when there is none), not decoded. */
mote_str mote_request_query(const mote_request *req);

/** The host the request is for: the authority of an absolute-form target, which wins over
 * the Host field (RFC 9112 §3.2.2), else the Host field; empty when neither is present. */
mote_str mote_request_host(const mote_request *req);

/** Query-string helpers over "a=1&b=x%20y": pairs are split on '&', keys and values decoded
 * ('+' is a space, %XX a byte) into the caller's buffers, NUL-terminated.
 * mote_query_next() starts with *pos = 0 and returns 1 for each pair, 0 at the end;
 * mote_query_get() returns the length of the first value of `key`, or MOTE_ENOTFOUND.
 * Both return MOTE_EINVAL for a bad escape or encoded NUL, MOTE_ETOOBIG when a buffer is short. */
int mote_query_next(mote_str query, size_t *pos, char *key, size_t key_size, char *value,
                    size_t value_size);
/** The first value of `key` in a query string, decoded as by mote_query_next(): its length,
 * or MOTE_ENOTFOUND. */
int mote_query_get(mote_str query, const char *key, char *value, size_t value_size);

/** 10 for HTTP/1.0, 11 for HTTP/1.1 (and for any later 1.x, which is served as 1.1), 20 for
 * HTTP/2. */
int mote_request_version(const mote_request *req);

/** The value of the first header field called `name` (case-insensitive), or NULL. */
const char *mote_request_header(const mote_request *req, const char *name);

/** Header fields in arrival order: mote_request_header_at() fills `out` for index i < count
 * and returns 0, or MOTE_EINVAL past the end. */
size_t mote_request_header_count(const mote_request *req);
/** Header field i (< mote_request_header_count()) into `out`: 0, or MOTE_EINVAL past the end. */
int mote_request_header_at(const mote_request *req, size_t i, mote_header *out);

/** Writes the peer's address as text ("192.0.2.1", "2001:db8::1") into buf (46 bytes always
 * suffice) and its port into *port (may be NULL). Returns 0 or MOTE_EINVAL. On a listener
 * with the PROXY protocol (mote_listener_proxy_protocol()), the peer is the client the proxy's
 * header named; the access log shows the same. */
int mote_request_peer(const mote_request *req, char *buf, size_t buf_len, uint16_t *port);

/** The client's address as trusted proxies tell it, as mote_request_peer() writes it: when the
 * peer lies in mote_config.trusted_proxies, the chain of Forwarded (RFC 7239) elements, or
 * else of X-Forwarded-For entries, is read from the right, each trusted hop's word taken for
 * the one before it, up to the first untrusted address (or the left-most one). From any other
 * peer the fields are ignored and this is the peer. The port is 0 unless Forwarded gave one. */
int mote_request_client_addr(const mote_request *req, char *buf, size_t buf_len, uint16_t *port);

/** "https" or "http": the scheme the client used, as the hop mote_request_client_addr() took
 * the client from says (Forwarded's proto=, X-Forwarded-Proto), else the connection's own
 * (TLS to mote, or TLS to the proxy as its PROXY v2 header's SSL field says). */
const char *mote_request_client_scheme(const mote_request *req);

/** The address of the proxy that sent the connection's PROXY protocol header (the socket's
 * peer), as mote_request_peer() writes it; MOTE_ENOTFOUND for a direct connection. */
int mote_request_proxy_addr(const mote_request *req, char *buf, size_t buf_len, uint16_t *port);

/** 1 when the request arrived over TLS, else 0. */
int mote_request_is_tls(const mote_request *req);

/** The certificate a TLS client presented and the listener verified (mote_tls_config's
 * client_auth): NUL-terminated text, valid as long as the request. */
typedef struct mote_tls_peer {
    const char *subject;          /**< its attributes in certificate order: "O=Acme, CN=dev-17" */
    const char *issuer;           /**< the same for the CA that signed it */
    const char *san;              /**< its subject alternative names, ", " between them:
                                     "DNS:dev-17.example, IP:192.0.2.7, email:a@b, URI:x";
                                     "" without any */
    const char *fingerprint;      /**< SHA-256 of its DER, 64 lowercase hex digits */
} mote_tls_peer;

/** The verified client certificate of the request's connection, or NULL (not TLS, or no
 * certificate presented). */
const mote_tls_peer *mote_request_tls_peer(const mote_request *req);

/** The declared body length, 0 without a body, or -1 for a chunked body of unknown length. */
int64_t mote_request_content_length(const mote_request *req);

/** Receives a piece of the request body (see mote_request_read_body()): `len` bytes at `data`,
 * or data NULL and len 0 once the body has ended. */
typedef void (*mote_body_fn)(mote_request *req, const void *data, size_t len, void *user);

/** Receives the body as it arrives, in pieces, on a MOTE_BODY_STREAM route. Called from the
 * handler; `fn` then gets each piece, and finally data NULL, len 0 at the end of the body
 * (trailer fields are readable from then on). The response stays open until the body has
 * ended; it is usually sent from that last call. A response finished earlier ends the
 * delivery: the rest of the body is read and dropped (up to max_drain_size, else the connection
 * closes), and `fn` is not called again. Sends 100 Continue if the client asked for it.
 * Returns 0 or MOTE_ESTATE (not in a handler, or the body was taken already). */
int mote_request_read_body(mote_request *req, mote_body_fn fn, void *user);

/** Back-pressure for a slow consumer: after mote_request_pause() no more pieces arrive (and the
 * connection is not read) until mote_request_resume(). */
int mote_request_pause(mote_request *req);
/** Lets body pieces arrive again after mote_request_pause(). */
int mote_request_resume(mote_request *req);

/** The whole body, on a MOTE_BODY_COLLECT route; empty elsewhere. */
mote_str mote_request_body(const mote_request *req);

/** The value of the first trailer field called `name`, once the body has ended, or NULL. */
const char *mote_request_trailer(const mote_request *req, const char *name);

/** 1 when the request carries Basic credentials equal to user and password, compared in
 * constant time; else 0 (always, in a build without MOTE_CONFIG_BASIC_AUTH). */
int mote_basic_auth_check(const mote_request *req, const char *user, const char *password);

/* ---------------------------------------------------------------------------------------------
 * Response
 * ------------------------------------------------------------------------------------------- */

/** Sets the status, 200..599 (default 200; informational 1xx responses are the library's own,
 * such as 100 Continue). MOTE_EINVAL outside that range; MOTE_ESTATE once the head is sent. */
int mote_response_status(mote_response *res, int status);

/** Adds a header field. The name must be a token; the value may not hold CR, LF or NUL.
 * One rule for the fields the library writes itself: those that frame the message or manage
 * the connection are its own and give MOTE_EINVAL (Content-Length, Transfer-Encoding,
 * Connection, Keep-Alive, Upgrade, Proxy-Connection, TE, Trailer), with one exception: a
 * Connection field that lists "close" asks for the connection to end after this response. A Server or Date
 * field replaces the library's. Before the head is sent (else MOTE_ESTATE); MOTE_ETOOBIG past
 * max_response_header_bytes. */
int mote_response_header(mote_response *res, const char *name, const char *value);

/** Sends the whole body at once, copied, with Content-Length, and finishes the response. A
 * body larger than the send buffer goes out from a copy of its own (in static-memory mode it
 * must fit in half of the send buffer: MOTE_ETOOBIG). */
int mote_response_send(mote_response *res, const void *body, size_t len);

/** mote_response_send() without a copy: the body is sent from where it is, so its bytes must
 * stay unchanged until the request's release (mote_request_set_user()); for bytes that never
 * change (pages compiled into the program) that is always so. */
int mote_response_send_static(mote_response *res, const void *body, size_t len);

/** Sends `len` bytes of a file from `offset` as the whole body, with Content-Length, and
 * finishes the response: with sendfile(2) on plain TCP, through the send buffer over TLS. On
 * success mote owns the file and closes it once done; on failure the caller still does. */
int mote_response_send_file(mote_response *res, const mote_file *file, uint64_t offset,
                            uint64_t len);

/** A file for mote_response_send_file() from an open descriptor, closed (close(2)) when done. */
mote_file mote_file_from_fd(int fd);

/** status + Content-Type (may be NULL) + NUL-terminated body, in one call. */
int mote_respond(mote_response *res, int status, const char *content_type, const char *body);

/** 401 with WWW-Authenticate: Basic realm="realm" (MOTE_ENOTSUP in a build without
 * MOTE_CONFIG_BASIC_AUTH). */
int mote_respond_unauthorized(mote_response *res, const char *realm);

/** Streams a piece of body: the first call sends the head, with chunked framing for HTTP/1.1
 * and close-delimited for HTTP/1.0. Each call queues all of `len` or nothing: MOTE_EAGAIN
 * when the send buffer has no room now (write the same piece again from on_ready),
 * MOTE_ETOOBIG when a piece can never fit it. */
MOTE_NODISCARD int mote_response_write(mote_response *res, const void *data, size_t len);

/** Declares the length of a body about to be streamed: the head then carries Content-Length
 * instead of chunked framing, and the writes may total at most `length` bytes. A response ended
 * short closes the connection, the only way to tell the client. Before the head is sent. */
int mote_response_length(mote_response *res, uint64_t length);

/** Finishes a streamed response (sends the head first if nothing was written). */
int mote_response_end(mote_response *res);

/** Called on the loop's thread with a response: on_ready for a deferred one, or a task posted
 * with mote_response_post(). `user` is the request's user pointer (on_ready) or the task's. */
typedef void (*mote_response_fn)(mote_response *res, void *user);

/** Keeps the response open after its handler returns (only that: its state goes with the
 * request's user pointer and release, mote_request_set_user()), to be written later: from
 * `on_ready` (may be NULL), called once as soon as the callback that deferred it has returned
 * if the send buffer has room, then each time bytes have gone out and it has room again (a
 * handler writes until MOTE_EAGAIN, defers, and continues there); or from the application's
 * own events on the loop's thread (timers, mote_response_post()). The connection answers no
 * further request until the response ends. Returns 0, or MOTE_ESTATE once it has ended. */
int mote_response_defer(mote_response *res, mote_response_fn on_ready);

/** A response's name that other threads may hold: it never dangles. */
typedef struct mote_handle {
    mote_server *loop;        /**< the loop serving the response */
    uint32_t conn;            /**< its connection's slot */
    uint32_t gen;             /**< the slot's generation: a slot used again is another */
    uint32_t id;              /**< the exchange on that connection */
} mote_handle;

/** The handle of a response, taken on its loop's thread (in its handler, say). */
mote_handle mote_response_handle(mote_response *res);

/** From any thread: has fn(res, arg) run on the response's loop, soon; if the response is gone
 * by then (its request released), fn(NULL, arg) runs instead, so that `arg` can still be
 * freed. Returns 0, MOTE_EAGAIN when max_posts are already waiting, MOTE_ESTATE once the server
 * has stopped, or MOTE_EINVAL. */
int mote_response_post(mote_handle handle, mote_response_fn fn, void *arg);

/** The request this response answers, and the response of a request. */
mote_request *mote_response_request(mote_response *res);
/** The response of a request. */
mote_response *mote_request_response(mote_request *req);

/** The standard reason phrase of a status code ("Not Found"), or "Unknown". */
const char *mote_status_reason(int status);

/* ---------------------------------------------------------------------------------------------
 * WebSocket (RFC 6455, with permessage-deflate, RFC 7692, where MOTE_CONFIG_WS_DEFLATE is on)
 *
 * A WebSocket route upgrades a GET to a socket served in the same event loop as HTTP. The
 * handshake is checked before anything of the application's runs (400, 426 for another
 * version, 403 for an origin refused; the route's methods and credentials first, as for any
 * route); then on_open sees the upgrade request, and the socket lives until either side closes
 * it. Everything about a socket happens on its loop's thread; other threads reach a socket
 * with mote_ws_post(). Sends queue a whole frame or nothing: MOTE_EAGAIN when the send buffer
 * (response_buffer_size) has no room now, and on_writable says when it has again.
 * ------------------------------------------------------------------------------------------- */

/** An open WebSocket, valid from on_open until on_close returns. */
typedef struct mote_ws mote_ws;

/** A message received, or a piece of one (mote_ws_route_def.stream_messages). */
typedef struct mote_ws_message {
    const void *data;    /**< the payload (text: valid UTF-8 so far), valid during the call */
    size_t len;          /**< bytes at data */
    int binary;          /**< 1 for a binary message, 0 for text */
    int first;           /**< the message's first piece (always 1 for whole messages) */
    int last;            /**< its last piece (always 1 for whole messages) */
} mote_ws_message;

/** Called when the handshake is valid, before the 101: `req` is the upgrade request (its
 * fields, path, query and peer are readable). Returns 0 to accept, or an HTTP status (400 to
 * 599) the client is refused with. The socket cannot send yet; on_writable follows. */
typedef int (*mote_ws_open_fn)(mote_ws *ws, mote_request *req, void *user);
/** A whole message, or a piece of one; `user` is the socket's (mote_ws_set_user()). */
typedef void (*mote_ws_message_fn)(mote_ws *ws, const mote_ws_message *msg, void *user);
/** The socket is closed: `code` is the peer's close code (1005 when it gave none), or the
 * code of the close mote sent (1002, 1007, 1009...), or 1006 when the connection was lost
 * without a closing handshake. `reason` is UTF-8, NUL-terminated. The last callback of ws. */
typedef void (*mote_ws_close_fn)(mote_ws *ws, int code, const char *reason, void *user);
/** A callback with a socket: on_writable, mote_ws_post(), mote_ws_each(). */
typedef void (*mote_ws_fn)(mote_ws *ws, void *user);
/** Decides about an Origin the route's list does not name: 1 to allow, 0 to refuse (403). */
typedef int (*mote_ws_origin_fn)(const mote_request *req, const char *origin, void *user);

/** A WebSocket route. Zeroed fields take the defaults. */
typedef struct mote_ws_route_def {
    const char *path;             /**< as for mote_route_def (not a default route) */
    mote_match match;             /**< MOTE_ROUTE_EXACT or MOTE_ROUTE_PREFIX */
    void *user;                   /**< each socket's first user pointer */
    const mote_basic_auth *auth;  /**< credentials demanded before the upgrade (401) */
    const char *const *subprotocols; /**< NULL-terminated: those the route speaks; the first
                                     the client offers that is listed is chosen, none: none */
    const char *const *origins;   /**< NULL-terminated Origin values allowed ("*": any). NULL:
                                     a browser's request (one with an Origin) must come from the
                                     page's own origin (the Origin's host equals Host) */
    mote_ws_origin_fn check_origin; /**< asked about an Origin not allowed above; NULL: 403 */
    mote_ws_open_fn on_open;      /**< NULL: every valid handshake is accepted */
    mote_ws_message_fn on_message;/**< NULL: messages are dropped */
    mote_ws_close_fn on_close;    /**< may be NULL */
    mote_ws_fn on_writable;       /**< once when the socket opens, then each time the send
                                     buffer has room again after MOTE_EAGAIN; may be NULL */
    uint64_t max_message_size;    /**< 0: the server's ws_max_message_size; whole messages are
                                     held in memory, so at most 4 GiB - 1 */
    int stream_messages;          /**< 1: messages arrive piece by piece as frames arrive, up
                                     to any size (max_message_size is then per frame) */
    int no_deflate;               /**< 1: decline permessage-deflate on this route */
} mote_ws_route_def;

/** Registers a WebSocket route (GET only). Returns 0, MOTE_EINVAL, MOTE_EEXIST, MOTE_ENOMEM,
 * or MOTE_ENOTSUP in a build without WebSocket (MOTE_CONFIG_WS 0). */
int mote_ws_route(mote_server *srv, const mote_ws_route_def *def);

/** Sends a whole text message (valid UTF-8, else MOTE_EINVAL) or binary message, compressed
 * when the socket negotiated it. Queues it all or nothing: MOTE_EAGAIN when there is no room
 * now; a message larger than the send buffer goes out from a copy of its own, one at a time
 * (in static-memory mode it must fit the buffer: MOTE_ETOOBIG). MOTE_ESTATE while a message
 * sent in parts is unfinished, or once the socket is closing; MOTE_ECLOSED once closed. */
MOTE_NODISCARD int mote_ws_send_text(mote_ws *ws, const char *data, size_t len);
/** A whole binary message (see mote_ws_send_text()). */
MOTE_NODISCARD int mote_ws_send_binary(mote_ws *ws, const void *data, size_t len);
/** Sends a message in parts, each a frame: the first part's `binary` says the message's type
 * (later parts must say the same), `last` ends the message. Each part of a text message must
 * be valid UTF-8 on its own (a character does not span parts). Queued as a whole message is. */
MOTE_NODISCARD int mote_ws_send_part(mote_ws *ws, int binary, const void *data, size_t len,
                                     int last);
/** Sends a ping with up to 125 bytes of payload (the pong is handled by mote). */
int mote_ws_ping(mote_ws *ws, const void *data, size_t len);
/** Starts the closing handshake: a close frame with `code` (1000-1003, 1007-1011 or
 * 3000-4999) and an optional UTF-8 `reason` (at most 123 bytes); the connection ends when the
 * peer answers, or after ws_close_timeout_ms. */
int mote_ws_close(mote_ws *ws, int code, const char *reason);
/** Back-pressure for a slow consumer: no message or piece arrives (and the socket is not
 * read) between mote_ws_pause() and mote_ws_resume(). */
int mote_ws_pause(mote_ws *ws);
/** Lets messages arrive again after mote_ws_pause(). */
int mote_ws_resume(mote_ws *ws);
/** Bytes a frame's payload can take in the send buffer now (what a send would find). */
size_t mote_ws_send_room(const mote_ws *ws);

/** The socket's user pointer: the route's `user` until set. */
void mote_ws_set_user(mote_ws *ws, void *user);
/** The socket's user pointer. */
void *mote_ws_user(const mote_ws *ws);
/** The subprotocol chosen in the handshake, or NULL. */
const char *mote_ws_protocol(const mote_ws *ws);
/** 1 when the socket negotiated permessage-deflate. */
int mote_ws_compressed(const mote_ws *ws);
/** The path of the upgrade request's route (the route's own path, as registered). */
const char *mote_ws_route_path(const mote_ws *ws);
/** The peer's address, as mote_request_peer(). */
int mote_ws_peer(const mote_ws *ws, char *buf, size_t buf_len, uint16_t *port);
/** 1 when the socket runs over TLS (wss://). */
int mote_ws_is_tls(const mote_ws *ws);
/** The loop serving the socket. */
mote_server *mote_ws_server(const mote_ws *ws);

/** The handle of a socket, for other threads (see mote_handle). */
mote_handle mote_ws_handle(mote_ws *ws);
/** From any thread: has fn(ws, arg) run on the socket's loop, soon, or fn(NULL, arg) if the
 * socket is gone by then. Returns as mote_response_post(). */
int mote_ws_post(mote_handle handle, mote_ws_fn fn, void *arg);
/** On the loop's thread: calls fn(ws, arg) for each open socket of the loop whose route was
 * registered with `path` (NULL: every socket). Returns how many. Sending from fn is allowed. */
int mote_ws_each(mote_server *loop, const char *path, mote_ws_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* MOTE_H */
