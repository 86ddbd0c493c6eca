/* engine.h - the portable server: configuration, routes, buffer pools, connection slots,
 * timeouts, application timers, posted tasks, shutdown, logging and the access log, and the
 * driver of each connection. It builds wherever C11 does (Cortex-M4 included): everything that
 * touches a system goes through the shell that runs it (shell_ops), the POSIX shell
 * (src/shell/posix/) or another network stack's.
 *
 * A shell accepts connections (engine_open()), moves their bytes (engine_read_space(),
 * engine_received(), engine_pending(), engine_sent()), and after each event calls
 * engine_settle(), which decides whether the connection goes on, lingers or closes, what the
 * shell should watch it for, and which timeout applies. */
#ifndef MOTE_ENGINE_H
#define MOTE_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "core/router.h"
#include "core/timer.h"
#include "engine/conn.h"
#include "mote.h"

typedef struct engine_conn engine_conn;

enum {
    ENGINE_READ = 1,    /* watch the connection for input */
    ENGINE_WRITE = 2    /* and for room to write */
};

/* What the engine asks of the shell that runs it. `shell` is the shell's own state
 * (engine_shell()). */
typedef struct shell_ops {
    uint64_t (*now_us)(void *shell);                       /* a monotonic clock */
    int64_t (*unix_s)(void *shell);                        /* the wall clock; -1: none (no Date) */
    void (*interest)(void *shell, engine_conn *ec, unsigned want);  /* ENGINE_READ | _WRITE */
    /* The connection is done: stop sending. 1 when it can be closed at once (nothing the peer
     * still sends could reset what it reads), 0 when the engine must linger, reading and
     * dropping what comes, before closing (RFC 9112 §9.6). */
    int (*shutdown_write)(void *shell, engine_conn *ec);
    void (*close)(void *shell, engine_conn *ec);           /* release the transport */
    void (*lock)(void *shell);                             /* the post queue, across threads */
    void (*unlock)(void *shell);
    void (*wake)(void *shell);                             /* have the loop run posts soon */
    /* Reads a file's bytes at an offset (conn_env.read_file); NULL where there are no files. */
    long (*read_file)(const mote_file *f, void *buf, size_t len, uint64_t off);
    /* The TLS client certificate a connection's handshake verified; NULL where there is none
     * (or no TLS). Asked for, not kept: a connection's state stays the same size. */
    const mote_tls_peer *(*tls_peer)(void *shell, engine_conn *ec);
    /* Buffer blocks went back to the allocator (the system's may need a nudge to let the
     * pages go); may be NULL. */
    void (*memory_returned)(void *shell);
    /* The proxy a connection came through (its PROXY protocol header gave the peer's
     * address): *out filled and 0, or 1 when the header said the client spoke TLS to the
     * proxy; -1 for a direct connection. May be NULL. */
    int (*via)(void *shell, engine_conn *ec, mote_addr *out);
    /* Whether bytes handed to the transport still wait for the peer to take them (a reader
     * slower than the kernel's buffers); may be NULL. */
    int (*unsent)(void *shell, engine_conn *ec);
} shell_ops;

enum conn_state { CS_FREE, CS_HANDSHAKE, CS_OPEN, CS_LINGER };

/* One connection: its slot in the server's array, the sans-I/O connection, and the shell's
 * part of it (engine_shell_conn()), which follows. */
struct engine_conn {
    uint8_t state;
    unsigned dead : 1;                /* the transport failed: close without a word */
    unsigned write_blocked : 1;       /* the last write would have blocked */
    unsigned reset : 1;               /* close with a reset: what the transport still holds for
                                         a too-slow reader is thrown away, not trickled out */
    uint32_t next_free;
    uint32_t gen;                     /* bumped each time the slot is taken (mote_handle) */
    uint32_t idle_after;              /* requests served when the idle timer was last armed */
    uint32_t linger_bytes;
    uint32_t rate_since, rate_bytes;  /* cfg.min_rate_bytes: the window's start (ms), its bytes */
    timer_node timer;
    mote_conn core;
};

/* Creates the engine of a server (one event loop) for a shell whose per-connection state takes
 * shell_conn_size bytes and whose server state shell_size bytes (both zeroed). */
int engine_create(mote_server **out, const mote_config *cfg, const mote_allocator *alloc,
                  const shell_ops *ops, size_t shell_size, size_t shell_conn_size);
void engine_destroy(mote_server *s);
void *engine_shell(const mote_server *s);

/* Checks a configuration, logging (through its own log) which field is wrong; MOTE_EINVAL. */
int engine_config_check(const mote_config *cfg);
/* The allocator a configuration asks for: its arena's, its own, or malloc's. */
int engine_allocator(const mote_config *cfg, mote_allocator *out);
const mote_allocator *engine_alloc(const mote_server *s);
/* mote_route() for a route that holds state of its own: see router_add_owned(). */
int engine_route_owned(mote_server *s, const mote_route_def *def, void *owned,
                       void (*release)(void *owned));
const mote_config *engine_config(const mote_server *s);
int engine_fixed_memory(const mote_server *s);
/* How HTTP/2 may begin on this server's listeners (MOTE_HTTP2_*; 0: not at all). */
unsigned engine_h2_modes(const mote_server *s);

/* Logs one line at `level` (printf-style) when the configuration passes it. */
void engine_log(mote_server *s, int level, const char *fmt, ...);
/* An address for log lines: "127.0.0.1" or "[::1]" (ENGINE_PEER_TEXT_MAX bytes suffice). */
#define ENGINE_PEER_TEXT_MAX (ADDR_TEXT_MAX + 2)
void engine_peer_text(const mote_addr *a, char *buf, size_t len);
int engine_log_enabled(const mote_server *s, int level);

/* Several loops (the POSIX shell's workers): loop 0 is the server, loops 1.. its workers. */
void engine_set_loops(mote_server *s, mote_server **workers, unsigned count);
void engine_set_loop_index(mote_server *s, unsigned index);
/* Workers route with their first loop's routes. */
void engine_share_routes(mote_server *worker, const mote_server *first);

/* ---- the loop's turns ------------------------------------------------------------------- */

/* The clocks as the loop wakes (now, and the Date field); engine_clock() just now, to know how
 * long to wait. */
void engine_tick(mote_server *s);
void engine_clock(mote_server *s);
uint64_t engine_now_ms(const mote_server *s);
/* Connection timeouts and application timers that are due. */
void engine_run_timers(mote_server *s);
/* The earliest deadline (engine_now_ms() scale), or TIMER_NONE. */
uint64_t engine_next_deadline(const mote_server *s);
/* Posted tasks (after the shell's wake). */
void engine_run_posts(mote_server *s);

/* A stop was asked (mote_server_stop(), from any thread or a signal handler). */
void engine_request_stop(mote_server *s);
int engine_stop_requested(const mote_server *s);
/* Shutdown: once asked, the shell closes its listeners and calls engine_begin_shutdown(): idle
 * connections close, busy ones after their response; engine_shutdown_done() says when every
 * connection is gone or the deadline has passed, and then engine_close_all() ends the rest. */
void engine_begin_shutdown(mote_server *s);
int engine_stopping(const mote_server *s);
int engine_shutdown_done(const mote_server *s);
void engine_close_all(mote_server *s);
void engine_mark_stopped(mote_server *s);
int engine_stopped(const mote_server *s);

/* ---- connections -------------------------------------------------------------------------- */

/* A new connection from `peer`, in a TLS handshake or open; NULL when every slot is taken. */
engine_conn *engine_open(mote_server *s, const mote_addr *peer, int handshake);
/* The shell's part of a connection, right after the engine's in its slot, and back. */
#define ENGINE_CONN_SIZE ((sizeof(engine_conn) + 15u) & ~(size_t)15u)
static inline void *engine_shell_conn(engine_conn *ec)
{
    return (char *)ec + ENGINE_CONN_SIZE;
}
static inline engine_conn *engine_conn_of_shell(void *shell_conn)
{
    return (engine_conn *)(void *)((char *)shell_conn - ENGINE_CONN_SIZE);
}
static inline mote_server *engine_server_of(const engine_conn *ec)
{
    return ec->core.env->owner;
}

/* The TLS handshake is over: the connection is open, and its requests arrive over TLS in the
 * protocol ALPN chose ("h2", "http/1.1"; NULL: none chosen); `resumed`: an earlier session
 * was resumed (counted in mote_stats). */
void engine_handshake_done(engine_conn *ec, const char *alpn, int resumed);
/* The handshake failed: counted, and the connection closes. */
void engine_handshake_failed(engine_conn *ec);
/* What came before the requests on a connection opened in CS_HANDSHAKE (a PROXY protocol
 * header on a plain listener) is over: the connection is open. */
void engine_preamble_done(engine_conn *ec);
/* Counted in mote_stats: a connection the shell turned away itself, an error of a kind. */
void engine_count_refused(mote_server *s);
void engine_count_error(mote_server *s, enum mote_error_kind kind);

/* The proxy a connection came through (PROXY protocol), as its shell knows it (shell_ops.via). */
int engine_via(const mote_conn *c, mote_addr *out);
/* mote_config.trusted_proxies, parsed. */
const struct trusted_net *engine_trusted(const mote_server *s, size_t *count);

/* The verified client certificate of a connection, as its shell knows it, or NULL. */
const mote_tls_peer *engine_tls_peer(const mote_conn *c);

/* Where to read into (a block is lent on demand) and how much; 0: do not read now. Out of
 * memory marks the connection dead. */
size_t engine_read_space(engine_conn *ec, char **at);
void engine_received(engine_conn *ec, size_t n);
static inline void engine_peer_eof(engine_conn *ec)
{
    conn_peer_eof(&ec->core);
}
/* Whether the connection reads now. */
int engine_wants_input(engine_conn *ec);

/* The output (conn_pending()), and bytes sent (which keeps the write timeout at bay). */
static inline size_t engine_pending(engine_conn *ec, const out_seg **segs)
{
    return conn_pending(&ec->core, segs);
}
void engine_sent(engine_conn *ec, size_t n);
/* A file's bytes through the output buffer (conn_bounce_space(), conn_bounced()). */
static inline size_t engine_bounce_space(engine_conn *ec, char **at, size_t max)
{
    return conn_bounce_space(&ec->core, at, max);
}
static inline void engine_bounced(engine_conn *ec, size_t n)
{
    conn_bounced(&ec->core, n);
}
static inline void engine_write_blocked(engine_conn *ec, int blocked)
{
    ec->write_blocked = blocked != 0;
}
/* Whether what is pending is the connection's last output (conn_ends_with_output()). */
static inline int engine_output_is_last(const engine_conn *ec)
{
    return conn_ends_with_output(&ec->core);
}

/* The transport failed: the connection closes without a word at the next settle. */
static inline void engine_fail(engine_conn *ec)
{
    ec->dead = 1;
    ec->core.closing = 1;
}
/* n bytes read and dropped while lingering. */
void engine_linger_received(engine_conn *ec, size_t n);

/* After any event on the connection: close it, linger, or give back its block when idle, and
 * set what to watch and which timeout applies. */
void engine_settle(engine_conn *ec);

#endif
