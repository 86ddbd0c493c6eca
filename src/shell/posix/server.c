/* server.c - the I/O shell: the server object, listeners, the event loop, timers and TLS
 * around the sans-I/O connections of conn.c.
 *
 * Every connection has a slot in one array sized by max_connections; a slot costs only its
 * struct until a request arrives, when it borrows a buffer block from the pool, and it gives
 * the block back as soon as it is idle again. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/accesslog.h"
#include "core/addr.h"
#include "engine/conn.h"
#include "core/httpdate.h"
#include "shell/posix/loop.h"
#include "shell/posix/net.h"
#include "core/pool.h"
#include "core/router.h"
#include "core/timer.h"
#include "tls/tls.h"

#define MAX_EVENTS 128
#define ACCEPT_BATCH 64
#define READS_PER_EVENT 4
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (256 * 1024)
#define NO_SLOT UINT32_MAX

enum handle_kind { H_LISTENER, H_CONN, H_WAKE };

/* The first member of everything registered with the loop, so an event finds its owner. */
typedef struct io_handle {
    uint8_t kind;
} io_handle;

typedef struct listener {
    io_handle h;
    int fd;
    uint16_t port;
    tls_ctx *tls;
    char address[ADDR_TEXT_MAX];
} listener;

enum timer_kind { T_HANDSHAKE, T_HEAD, T_IDLE, T_BODY, T_WRITE, T_LINGER, T_COUNT };
enum conn_state { CS_FREE, CS_HANDSHAKE, CS_OPEN, CS_LINGER };

typedef struct srv_conn {
    io_handle h;
    uint8_t state;
    uint8_t events;                /* interest registered with the loop */
    uint8_t handshake_wants;       /* LOOP_READ or LOOP_WRITE */
    unsigned write_blocked : 1;    /* the last write would have blocked */
    unsigned dead : 1;             /* a socket error: close without a word */
    unsigned writing : 1;          /* inside write_output() */
    unsigned registered : 1;       /* watched by the loop (only once it has had to wait) */
    unsigned read_all : 1;         /* the last read left the socket empty */
    uint32_t next_free;
    uint32_t linger_bytes;
    uint32_t idle_after;           /* requests served when the idle timer was last armed */
    int fd;
    tls_conn *tls;
    struct mote_server *srv;
    timer_node timer;
    uint64_t started_us;           /* when the current request began, for the access log */
    mote_conn core;
} srv_conn;

/* A task handed over by mote_post(), and an application timer. */
typedef struct posted_task {
    mote_task_fn fn;
    void *arg;
} posted_task;

typedef struct app_timer {
    uint64_t due;
    uint32_t repeat_ms;
    uint8_t active;
    mote_task_fn fn;
    void *arg;
} app_timer;

struct mote_server {
    mote_config cfg;
    mote_allocator alloc;
    net_io io;                /* the socket calls: the system's, or a test's */
    router routes;
    conn_env env;
    pool blocks;
    loop *loop;
    listener **listeners;
    size_t listener_count;
    srv_conn *conns;          /* [max_connections], initialised when first used */
    uint32_t conns_used;      /* slots ever used: the high-water mark */
    uint32_t free_slot;       /* list of released slots */
    uint32_t active;
    timer_list timers[T_COUNT];
    io_handle wake;
    int wake_fds[2];
    int reserve_fd;           /* given up to accept-and-close when descriptors run out */
    atomic_int stop_requested;
    int stopping, stopped;
    uint64_t now;             /* monotonic milliseconds, at the last wake-up */
    uint64_t stop_deadline;
    int64_t date_second;
    /* mote_post(): a ring of tasks, the only state other threads touch */
    pthread_mutex_t post_lock;
    int post_lock_ready;
    int posts_closed;
    posted_task *posts;
    size_t post_head, post_count;
    app_timer *app_timers;
    size_t app_timer_count;
    /* workers > 1: the other event loops, servers of their own that use this one's routes */
    struct mote_server **workers;
    pthread_t *worker_threads;
    size_t worker_count;
    unsigned loop_index;      /* 0, or this worker's place among its server's loops */
    int reuse_port;           /* listeners share their port with the workers' */
    int fixed_memory;         /* static-memory mode: nothing is allocated after creation */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

/* Static-memory mode: the arena's bytes handed out in order, never back, aligned as malloc's
 * (for any object). Its bookkeeping sits at its own start. */
#define ARENA_ALIGN _Alignof(max_align_t)
typedef struct arena {
    char *base;
    size_t size, used;
} arena;

static void *arena_alloc(void *ctx, size_t size)
{
    arena *a = ctx;
    uintptr_t next = (uintptr_t)a->base + a->used;
    size_t at = a->used + (size_t)((ARENA_ALIGN - next % ARENA_ALIGN) % ARENA_ALIGN);
    if (size > a->size || at > a->size - size) return NULL;
    a->used = at + size;
    return a->base + at;
}

static void arena_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr; /* everything goes at once, with the arena */
}

/* An allocator over cfg->arena, or cfg->allocator, or malloc's. */
static int choose_allocator(const mote_config *cfg, mote_allocator *out)
{
    if (cfg->arena) {
        arena *a = (arena *)(void *)(((uintptr_t)cfg->arena + ARENA_ALIGN - 1) &
                                     ~(uintptr_t)(ARENA_ALIGN - 1));
        size_t skip = (size_t)((char *)a - (char *)cfg->arena) + sizeof *a;
        if (cfg->arena_size < skip) return MOTE_ENOMEM;
        a->base = (char *)(a + 1);
        a->size = cfg->arena_size - skip;
        a->used = 0;
        out->alloc = arena_alloc;
        out->free = arena_free;
        out->ctx = a;
    } else if (cfg->allocator.alloc) {
        *out = cfg->allocator;
    } else {
        out->alloc = default_alloc;
        out->free = default_free;
        out->ctx = NULL;
    }
    return MOTE_OK;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int log_enabled(const mote_server *s, int level)
{
    return s->cfg.log && level <= s->cfg.log_level;
}

static void srv_log(mote_server *s, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!log_enabled(s, level)) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_user, level, line);
}

/* "127.0.0.1" or "[::1]", for log lines. */
static void peer_text(const mote_addr *a, char *buf, size_t len)
{
    char addr[ADDR_TEXT_MAX];
    if (addr_format(a, addr, sizeof addr) < 0) addr[0] = '\0';
    snprintf(buf, len, a->family == 6 ? "[%s]" : "%s", addr);
}

static void update_date(mote_server *s)
{
    char date[HTTPDATE_LEN + 1];
    time_t t;
    if (!s->cfg.send_date) return;
    t = time(NULL);
    if ((int64_t)t == s->date_second) return;
    s->date_second = (int64_t)t;
    httpdate_format(date, (int64_t)t);
    s->env.date_line_len = (size_t)snprintf(s->env.date_line, sizeof s->env.date_line,
                                            "Date: %s\r\n", date);
}

/* ---- configuration ---------------------------------------------------------------------- */

static int server_name_is_valid(const char *name)
{
    size_t i, n = strlen(name);
    if (n > 64) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

static int config_is_valid(const mote_config *c)
{
    return c->max_connections > 0 && c->max_connections < NO_SLOT && c->max_request_line >= 16 &&
           c->max_request_line <= (1u << 20) && c->max_header_bytes >= 16 &&
           c->max_header_bytes <= (1u << 20) && c->max_headers > 0 && c->max_headers <= 10000 &&
           c->response_buffer_size >= 512 && c->response_buffer_size <= (1u << 26) &&
           c->idle_timeout_ms && c->head_timeout_ms && c->write_timeout_ms && c->body_timeout_ms &&
           c->max_posts > 0 && c->max_posts < (1u << 24) &&
           c->handshake_timeout_ms && (!c->server_name || server_name_is_valid(c->server_name)) &&
           (!c->allocator.alloc) == (!c->allocator.free) && c->workers <= 1024 &&
           c->access_log >= MOTE_ACCESS_LOG_MOTE && c->access_log <= MOTE_ACCESS_LOG_OFF &&
           c->max_timers > 0 && c->max_timers < (1u << 20) &&
           (!c->arena || (!c->allocator.alloc && c->arena_size > 0));
}

static void env_init(mote_server *s)
{
    conn_env *e = &s->env;
    const mote_config *c = &s->cfg;
    memset(e, 0, sizeof *e);
    e->routes = &s->routes;
    e->max_request_line = (uint32_t)c->max_request_line;
    e->max_header_bytes = (uint32_t)c->max_header_bytes;
    e->max_headers = (uint32_t)c->max_headers;
    e->in_size = conn_input_size(c->max_request_line, c->max_header_bytes);
    e->out_size = (uint32_t)c->response_buffer_size;
    e->max_body_size = c->max_body_size;
    e->max_drain_size = c->max_drain_size;
    e->alloc = s->alloc;
    e->fixed_memory = s->fixed_memory;
    if (c->server_name && c->server_name[0])
        e->server_line_len = (size_t)snprintf(e->server_line, sizeof e->server_line,
                                              "Server: %s\r\n", c->server_name);
    e->owner = s;
}

/* ---- connections: slots, interest, timers ----------------------------------------------- */

static srv_conn *slot_take(mote_server *s)
{
    srv_conn *sc;
    if (s->free_slot != NO_SLOT) {
        sc = &s->conns[s->free_slot];
        s->free_slot = sc->next_free;
    } else if (s->conns_used < s->cfg.max_connections) {
        sc = &s->conns[s->conns_used++];
    } else {
        return NULL;
    }
    memset(sc, 0, sizeof *sc);
    sc->h.kind = H_CONN;
    sc->srv = s;
    sc->next_free = NO_SLOT;
    s->active++;
    return sc;
}

static void slot_release(mote_server *s, srv_conn *sc)
{
    sc->state = CS_FREE;
    sc->next_free = s->free_slot;
    s->free_slot = (uint32_t)(sc - s->conns);
    s->active--;
}

static void give_back_block(srv_conn *sc)
{
    char *block = conn_drop_block(&sc->core);
    if (block) pool_put(&sc->srv->blocks, block);
}

static void conn_close(srv_conn *sc)
{
    mote_server *s = sc->srv;
    conn_abort(&sc->core);
    timer_disarm(&sc->timer);
    if (sc->registered) loop_forget(s->loop, sc->fd);
    if (sc->tls) tls_conn_destroy(sc->tls);
    close(sc->fd);
    give_back_block(sc);
    slot_release(s, sc);
}

static void set_interest(srv_conn *sc, unsigned events)
{
    int rc;
    if (sc->registered && sc->events == events) return;
    rc = sc->registered ? loop_modify(sc->srv->loop, sc->fd, events, sc)
                        : loop_add(sc->srv->loop, sc->fd, events, sc);
    if (rc < 0) sc->dead = 1;
    else sc->registered = 1;
    sc->events = (uint8_t)events;
}

static void arm_unless_armed(srv_conn *sc, enum timer_kind kind)
{
    timer_list *l = &sc->srv->timers[kind];
    if (sc->timer.list != l) timer_arm(l, &sc->timer, sc->srv->now);
}

/* The one timeout that matters for what the connection is waiting for now. */
static void choose_timer(srv_conn *sc)
{
    if (sc->state == CS_HANDSHAKE) arm_unless_armed(sc, T_HANDSHAKE);
    else if (sc->state == CS_LINGER) arm_unless_armed(sc, T_LINGER);
    else if (sc->write_blocked) arm_unless_armed(sc, T_WRITE);
    else if (conn_awaits_body(&sc->core)) arm_unless_armed(sc, T_BODY); /* re-armed as it flows */
    else if (sc->core.phase != PHASE_HEAD) timer_disarm(&sc->timer); /* the application's pace */
    else if (conn_has_partial_head(&sc->core) || sc->core.requests == 0) arm_unless_armed(sc, T_HEAD);
    else if (sc->idle_after != sc->core.requests) {
        /* idle since the last response, however often it was idle before */
        sc->idle_after = sc->core.requests;
        timer_arm(&sc->srv->timers[T_IDLE], &sc->timer, sc->srv->now);
    } else {
        arm_unless_armed(sc, T_IDLE);
    }
}

/* Whether the bytes being written are the connection's last, closed at once after them. */
static int closes_after(const srv_conn *sc)
{
    return !sc->tls && sc->read_all && conn_ends_with_output(&sc->core);
}

/* Closes politely: stop sending, then read and discard what the client still sends, so that
 * unread bytes do not turn our close into a reset that destroys the response in flight. */
static void begin_linger(srv_conn *sc)
{
    int nothing_to_reset = closes_after(sc) && conn_is_done(&sc->core);
    if (sc->dead || sc->core.peer_eof || nothing_to_reset) {
        conn_close(sc);
        return;
    }
    if (sc->tls) tls_close_notify(sc->tls);
    shutdown(sc->fd, SHUT_WR);
    sc->state = CS_LINGER;
    sc->linger_bytes = 0;
    set_interest(sc, LOOP_READ);
    give_back_block(sc);
    choose_timer(sc);
}

static void serve(srv_conn *sc, unsigned events);

/* Whether the connection reads now: with a block, conn_read_space() decides. */
static int wants_input(srv_conn *sc)
{
    char *at;
    if (sc->core.a) return conn_read_space(&sc->core, &at) > 0;
    return !sc->core.closing && !sc->core.peer_eof;
}

/* Input the TLS session already holds raises no event: serve it now, while it can be taken. */
static void serve_held_input(srv_conn *sc)
{
    size_t held;
    while (sc->tls && !sc->dead && (held = tls_pending(sc->tls)) > 0 && wants_input(sc)) {
        serve(sc, LOOP_READ);
        if (tls_pending(sc->tls) >= held) break; /* it waits for more from the socket */
    }
}

/* After any event: close, or give back the block, and watch for what comes next. */
static void conn_settle(srv_conn *sc)
{
    unsigned want = 0;
    char *block;
    if (sc->state == CS_FREE) return;
    if (sc->dead) {
        conn_close(sc);
        return;
    }
    if (sc->state == CS_OPEN) {
        serve_held_input(sc);
        if (sc->dead) {
            conn_close(sc);
            return;
        }
        if (conn_is_done(&sc->core)) {
            begin_linger(sc);
            return;
        }
        block = conn_detach(&sc->core);
        if (block) pool_put(&sc->srv->blocks, block);
        if (wants_input(sc)) want |= LOOP_READ;
        if (sc->write_blocked) want |= LOOP_WRITE;
    } else if (sc->state == CS_HANDSHAKE) {
        want = sc->handshake_wants;
    } else {
        want = LOOP_READ;
    }
    set_interest(sc, want);
    if (sc->dead) {
        conn_close(sc);
        return;
    }
    choose_timer(sc);
}

/* ---- reading and writing ---------------------------------------------------------------- */

/* The connection's socket as a transport (core/io.h), for TLS and for plain reads. */
static long socket_recv(void *handle, void *buf, size_t len)
{
    srv_conn *sc = handle;
    long n;
    do {
        n = sc->srv->io.recv(sc->srv->io.ctx, sc->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) return n;
    if (n == 0) return IO_CLOSED;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_READ : IO_FAILED;
}

static long socket_send_last(srv_conn *sc, const void *buf, size_t len, int last)
{
    long n;
    do {
        n = sc->srv->io.send(sc->srv->io.ctx, sc->fd, buf, len, last);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return n;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_WRITE : IO_FAILED;
}

static long socket_send(void *handle, const void *buf, size_t len)
{
    return socket_send_last(handle, buf, len, 0);
}

static void write_output(srv_conn *sc)
{
    int progress = 0;
    sc->writing = 1;
    for (;;) {
        const char *data;
        size_t len = conn_pending(&sc->core, &data);
        long n;
        if (len == 0) {
            sc->write_blocked = 0;
            break;
        }
        if (sc->tls) n = tls_write(sc->tls, data, len);
        else n = socket_send_last(sc, data, len, closes_after(sc));
        if (n > 0) {
            progress = 1;
            conn_sent(&sc->core, (size_t)n);
        } else if (n == IO_WANT_WRITE || n == IO_WANT_READ) {
            sc->write_blocked = 1;
            break;
        } else if (n < 0) {
            sc->dead = 1;
            sc->core.closing = 1;
            break;
        }
    }
    sc->writing = 0;
    if (progress && sc->timer.list == &sc->srv->timers[T_WRITE])
        timer_arm(&sc->srv->timers[T_WRITE], &sc->timer, sc->srv->now);
}

/* A handler needs room in the send buffer now. Inside write_output() (a deferred response
 * writing from on_ready) the loop there makes the room. */
static void flush_hook(mote_conn *c)
{
    srv_conn *sc = c->user;
    if (!sc->writing) write_output(sc);
}

/* Output was queued from the application's own events: have the loop write it. */
static void kick_hook(mote_conn *c)
{
    srv_conn *sc = c->user;
    if (!sc->writing && sc->state == CS_OPEN) set_interest(sc, sc->events | LOOP_WRITE);
}

static long read_some(srv_conn *sc, char *at, size_t space)
{
    if (sc->tls) return tls_read(sc->tls, at, space);
    return socket_recv(sc, at, space);
}

static void read_input(srv_conn *sc)
{
    int i;
    for (i = 0; i < READS_PER_EVENT && !sc->dead; i++) {
        char *at;
        size_t space;
        long n;
        if (!sc->core.a) {
            char *block = pool_get(&sc->srv->blocks);
            if (!block) {
                srv_log(sc->srv, MOTE_LOG_ERROR, "out of memory for a connection buffer");
                sc->dead = 1;
                return;
            }
            conn_attach(&sc->core, block);
        }
        space = conn_read_space(&sc->core, &at);
        if (space == 0) return;
        n = read_some(sc, at, space);
        if (n > 0) {
            if (sc->timer.list == &sc->srv->timers[T_BODY])
                timer_arm(&sc->srv->timers[T_BODY], &sc->timer, sc->srv->now);
            sc->read_all = (size_t)n < space && !(sc->tls && tls_pending(sc->tls));
            conn_received(&sc->core, (size_t)n);
            if (sc->read_all) return;
        } else if (n == IO_CLOSED) {
            conn_peer_eof(&sc->core);
            return;
        } else if (n == IO_WANT_READ || n == IO_WANT_WRITE) {
            return;
        } else {
            sc->dead = 1;
            sc->core.closing = 1;
            return;
        }
    }
}

static void linger_read(srv_conn *sc)
{
    char sink[4096];
    long n = sc->srv->io.recv(sc->srv->io.ctx, sc->fd, sink, sizeof sink);
    if (n > 0) {
        sc->linger_bytes += (uint32_t)n;
        if (sc->linger_bytes > LINGER_MAX_BYTES) sc->dead = 1;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        sc->dead = 1;
    }
}

static void serve(srv_conn *sc, unsigned events)
{
    if (events & LOOP_READ) read_input(sc);
    if (!sc->dead) write_output(sc);
}

static void advance_handshake(srv_conn *sc)
{
    int r = tls_handshake(sc->tls);
    if (r == 0) {
        sc->state = CS_OPEN;
        sc->core.is_tls = 1;
        timer_disarm(&sc->timer);
        serve(sc, LOOP_READ); /* the first request may already sit decrypted in the session */
    } else if (r == IO_WANT_READ) {
        sc->handshake_wants = LOOP_READ;
    } else if (r == IO_WANT_WRITE) {
        sc->handshake_wants = LOOP_WRITE;
    } else {
        srv_log(sc->srv, MOTE_LOG_DEBUG, "TLS handshake failed");
        sc->dead = 1;
    }
}

static void conn_event(srv_conn *sc, unsigned events)
{
    if (sc->state == CS_FREE) return;
    if (sc->state == CS_HANDSHAKE) advance_handshake(sc);
    else if (sc->state == CS_LINGER) linger_read(sc);
    else serve(sc, events);
    conn_settle(sc);
}

/* ---- accepting -------------------------------------------------------------------------- */

static void refuse(int fd, int plain)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 24\r\n"
                               "Retry-After: 1\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "503 Service Unavailable\n";
    if (plain) (void)send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

/* Out of descriptors: free the reserve, take the waiting client and close it, so the listener
 * does not stay readable forever. */
static void shed_one(mote_server *s, listener *l)
{
    mote_addr peer;
    int fd;
    if (s->reserve_fd < 0) return;
    close(s->reserve_fd);
    fd = net_accept(l->fd, &peer);
    if (fd >= 0) close(fd);
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv_log(s, MOTE_LOG_WARN, "out of file descriptors: a connection was refused");
}

static void on_request_begin(mote_conn *c)
{
    srv_conn *sc = c->user;
    if (log_enabled(sc->srv, MOTE_LOG_INFO)) sc->started_us = monotonic_us();
}

static void on_request_end(mote_conn *c)
{
    srv_conn *sc = c->user;
    mote_server *s = sc->srv;
    char address[ADDR_TEXT_MAX], line[ACCESS_LINE_MAX];
    access_entry e;
    if (!log_enabled(s, MOTE_LOG_INFO) || s->cfg.access_log == MOTE_ACCESS_LOG_OFF) return;
    if (addr_format(&c->peer, address, sizeof address) < 0) address[0] = '\0';
    memset(&e, 0, sizeof e);
    e.address = address;
    e.port = c->peer.port;
    e.ipv6 = c->peer.family == 6;
    if (c->a->req.valid) {
        e.method = mote_request_method(&c->a->req);
        e.target = mote_request_target(&c->a->req);
        e.micros = monotonic_us() - sc->started_us;
    }
    /* per request: look up only what the format prints */
    if (c->a->req.valid && (s->cfg.access_log == MOTE_ACCESS_LOG_COMBINED ||
                         s->cfg.access_log == MOTE_ACCESS_LOG_JSON)) {
        e.referer = mote_request_header(&c->a->req, "Referer");
        e.user_agent = mote_request_header(&c->a->req, "User-Agent");
    }
    if (s->cfg.access_log != MOTE_ACCESS_LOG_MOTE) e.unix_seconds = (int64_t)time(NULL);
    e.version = c->a->req.version;
    e.status = c->a->res.status;
    e.bytes = c->a->res.body_bytes;
    access_log_line(line, sizeof line, s->cfg.access_log, &e);
    s->cfg.log(s->cfg.log_user, MOTE_LOG_INFO, line);
}

static int start_connection(mote_server *s, listener *l, int fd, const mote_addr *peer,
                            srv_conn **out)
{
    srv_conn *sc = slot_take(s);
    if (!sc) return MOTE_ELIMIT;
    sc->fd = fd;
    conn_init(&sc->core, &s->env, sc);
    sc->core.peer = *peer;
    sc->state = CS_OPEN;
    if (l->tls) {
        io_transport socket = {socket_recv, socket_send, sc};
        if (tls_conn_create(l->tls, &socket, &sc->tls) < 0) {
            slot_release(s, sc);
            return MOTE_ENOMEM;
        }
        sc->state = CS_HANDSHAKE;
        sc->handshake_wants = LOOP_READ;
    }
    choose_timer(sc);
    *out = sc;
    return MOTE_OK;
}

static void accept_clients(mote_server *s, listener *l)
{
    int i;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        mote_addr peer;
        char text[ADDR_TEXT_MAX + 2];
        srv_conn *sc = NULL;
        int fd = s->io.accept(s->io.ctx, l->fd, &peer), rc;
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) shed_one(s, l);
            else if (errno == EINTR || errno == ECONNABORTED) continue;
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                srv_log(s, MOTE_LOG_WARN, "accept failed: %s", strerror(errno));
            return;
        }
        peer_text(&peer, text, sizeof text);
        rc = start_connection(s, l, fd, &peer, &sc);
        if (rc < 0) {
            srv_log(s, MOTE_LOG_WARN, "connection from %s port %u refused: %s", text,
                    (unsigned)peer.port, rc == MOTE_ELIMIT ? "too many connections" : mote_strerror(rc));
            refuse(fd, rc == MOTE_ELIMIT && !l->tls);
            continue;
        }
        srv_log(s, MOTE_LOG_INFO, "connection accepted: address %s, port %u", text, (unsigned)peer.port);
        /* A client sends its request (or ClientHello) right behind the TCP handshake: try it
         * now, and ask the loop to watch the socket only if it has to wait. */
        conn_event(sc, LOOP_READ);
    }
}

/* ---- timers ----------------------------------------------------------------------------- */

static void on_timeout(srv_conn *sc, enum timer_kind kind)
{
    int late_request = (kind == T_HEAD && conn_has_partial_head(&sc->core)) || kind == T_BODY;
    if (late_request && sc->state == CS_OPEN && conn_fail(&sc->core, 408) == MOTE_OK) {
        write_output(sc);
    } else {
        srv_log(sc->srv, MOTE_LOG_DEBUG, "connection timed out");
        sc->dead = 1;
    }
    conn_settle(sc);
}

static void run_timers(mote_server *s)
{
    int k;
    for (k = 0; k < T_COUNT; k++) {
        timer_node *n;
        while ((n = timer_first_expired(&s->timers[k], s->now)) != NULL) {
            srv_conn *sc = (srv_conn *)(void *)((char *)n - offsetof(srv_conn, timer));
            timer_disarm(n);
            on_timeout(sc, (enum timer_kind)k);
        }
    }
}

static uint64_t next_deadline(const mote_server *s)
{
    uint64_t next = s->stopping ? s->stop_deadline : TIMER_NONE;
    size_t i;
    int k;
    for (k = 0; k < T_COUNT; k++) {
        uint64_t t = timer_next(&s->timers[k]);
        if (t < next) next = t;
    }
    for (i = 0; i < s->app_timer_count; i++) {
        if (s->app_timers[i].active && s->app_timers[i].due < next) next = s->app_timers[i].due;
    }
    return next;
}

int mote_server_timeout_ms(const mote_server *s)
{
    uint64_t next = next_deadline(s), now = monotonic_us() / 1000;
    if (next == TIMER_NONE) return -1;
    if (next <= now) return 0;
    return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

/* ---- server life ------------------------------------------------------------------------ */

static void close_listeners(mote_server *s)
{
    size_t i;
    for (i = 0; i < s->listener_count; i++) {
        listener *l = s->listeners[i];
        if (l->fd < 0) continue;
        loop_remove(s->loop, l->fd);
        close(l->fd);
        l->fd = -1;
    }
}

static void begin_shutdown(mote_server *s)
{
    uint32_t i;
    s->stopping = 1;
    s->stop_deadline = s->now + s->cfg.shutdown_timeout_ms;
    close_listeners(s);
    for (i = 0; i < s->conns_used; i++) {
        srv_conn *sc = &s->conns[i];
        if (sc->state == CS_FREE) continue;
        if (sc->state == CS_HANDSHAKE) sc->dead = 1;
        sc->core.closing = 1;
        conn_settle(sc);
    }
}

static void close_all(mote_server *s)
{
    uint32_t i;
    for (i = 0; i < s->conns_used; i++) {
        if (s->conns[i].state != CS_FREE) conn_close(&s->conns[i]);
    }
}

static void wake_loop(mote_server *s)
{
    static const char byte = 1;
    (void)!write(s->wake_fds[1], &byte, 1);
}

void mote_server_stop(mote_server *s)
{
    size_t i;
    atomic_store(&s->stop_requested, 1);
    wake_loop(s);
    for (i = 0; i < s->worker_count; i++) mote_server_stop(s->workers[i]);
}

static void drain_wake(mote_server *s)
{
    char buf[64];
    while (read(s->wake_fds[0], buf, sizeof buf) > 0) {
    }
}

int mote_post(mote_server *s, mote_task_fn fn, void *arg)
{
    int rc = MOTE_OK, was_empty;
    if (!s || !fn) return MOTE_EINVAL;
    pthread_mutex_lock(&s->post_lock);
    was_empty = s->post_count == 0;
    if (s->posts_closed) {
        rc = MOTE_ESTATE;
    } else if (s->post_count == s->cfg.max_posts) {
        rc = MOTE_EAGAIN;
    } else {
        posted_task *t = &s->posts[(s->post_head + s->post_count) % s->cfg.max_posts];
        t->fn = fn;
        t->arg = arg;
        s->post_count++;
    }
    pthread_mutex_unlock(&s->post_lock);
    if (rc == MOTE_OK && was_empty) wake_loop(s); /* one wake-up for a burst */
    return rc;
}

/* Runs the posted tasks, one at a time, without holding the lock while they run. */
static void run_posts(mote_server *s)
{
    for (;;) {
        posted_task t;
        pthread_mutex_lock(&s->post_lock);
        if (s->post_count == 0) {
            pthread_mutex_unlock(&s->post_lock);
            return;
        }
        t = s->posts[s->post_head];
        s->post_head = (s->post_head + 1) % s->cfg.max_posts;
        s->post_count--;
        pthread_mutex_unlock(&s->post_lock);
        t.fn(s, t.arg);
    }
}

/* ---- application timers ----------------------------------------------------------------- */

int mote_timer_start(mote_server *s, uint32_t delay_ms, uint32_t repeat_ms, mote_task_fn fn,
                     void *arg)
{
    size_t i;
    app_timer *t;
    if (!s || !fn) return MOTE_EINVAL;
    for (i = 0; i < s->app_timer_count && s->app_timers[i].active; i++) {
    }
    if (i == s->app_timer_count) {
        if (i == s->cfg.max_timers) return MOTE_ELIMIT;
        s->app_timer_count++;
    }
    t = &s->app_timers[i];
    t->due = monotonic_us() / 1000 + delay_ms;
    t->repeat_ms = repeat_ms;
    t->fn = fn;
    t->arg = arg;
    t->active = 1;
    return (int)i;
}

int mote_timer_stop(mote_server *s, int id)
{
    if (!s || id < 0 || (size_t)id >= s->app_timer_count || !s->app_timers[id].active)
        return MOTE_ENOTFOUND;
    s->app_timers[id].active = 0;
    return MOTE_OK;
}

static void run_app_timers(mote_server *s)
{
    size_t i;
    for (i = 0; i < s->app_timer_count; i++) {
        app_timer *t = &s->app_timers[i];
        if (!t->active || t->due > s->now) continue;
        if (t->repeat_ms) {
            t->due += t->repeat_ms;
            if (t->due <= s->now) t->due = s->now + t->repeat_ms; /* ticks missed are skipped */
        } else {
            t->active = 0;
        }
        t->fn(s, t->arg);
    }
}

static void handle_event(mote_server *s, const loop_event *ev)
{
    io_handle *h = ev->data;
    if (h->kind == H_CONN) conn_event((srv_conn *)(void *)h, ev->events);
    else if (h->kind == H_LISTENER) accept_clients(s, (listener *)(void *)h);
    else {
        drain_wake(s);
        run_posts(s);
    }
}

static int wait_ms(const mote_server *s, int timeout_ms)
{
    uint64_t next = next_deadline(s);
    uint64_t until = next == TIMER_NONE ? 0 : (next > s->now ? next - s->now : 0);
    if (next == TIMER_NONE || timeout_ms == 0) return timeout_ms;
    if (until > INT32_MAX) until = INT32_MAX;
    if (timeout_ms >= 0 && (uint64_t)timeout_ms < until) return timeout_ms;
    return (int)until + 1; /* epoll rounds down; wake just after the deadline, not just before */
}

static int step(mote_server *s, int timeout_ms)
{
    loop_event events[MAX_EVENTS];
    int n, i;
    if (s->stopped) return 0;
    s->now = monotonic_us() / 1000;
    if (atomic_load(&s->stop_requested) && !s->stopping) begin_shutdown(s);
    if (!(s->stopping && s->active == 0)) {
        n = loop_wait(s->loop, events, MAX_EVENTS, wait_ms(s, timeout_ms));
        if (n < 0) return MOTE_ESYS;
        s->now = monotonic_us() / 1000;
        update_date(s);
        for (i = 0; i < n; i++) handle_event(s, &events[i]);
        run_timers(s);
        run_app_timers(s);
        if (atomic_load(&s->stop_requested) && !s->stopping) begin_shutdown(s);
    }
    if (s->stopping && (s->active == 0 || s->now >= s->stop_deadline)) {
        close_all(s);
        s->stopped = 1;
        pthread_mutex_lock(&s->post_lock);
        s->posts_closed = 1; /* tasks still queued are not run */
        pthread_mutex_unlock(&s->post_lock);
        return 0;
    }
    return 1;
}

int mote_server_step(mote_server *s, int timeout_ms)
{
    if (s->worker_count) return MOTE_ESTATE; /* several loops need threads: mote_server_run() */
    return step(s, timeout_ms);
}

static int run_loop(mote_server *s)
{
    int rc;
    while ((rc = step(s, -1)) == 1) {
    }
    return rc;
}

static void *run_worker(void *arg)
{
    (void)run_loop(arg);
    return NULL;
}

int mote_server_run(mote_server *s)
{
    size_t started = 0, i;
    int rc = MOTE_OK;
    for (; started < s->worker_count; started++) {
        if (pthread_create(&s->worker_threads[started], NULL, run_worker, s->workers[started])) {
            srv_log(s, MOTE_LOG_ERROR, "cannot start a worker thread: %s", strerror(errno));
            mote_server_stop(s);
            rc = MOTE_ESYS;
            break;
        }
    }
    if (rc == MOTE_OK) rc = run_loop(s);
    else (void)run_loop(s);
    mote_server_stop(s); /* this loop may end on an error: the others end with it */
    for (i = 0; i < started; i++) pthread_join(s->worker_threads[i], NULL);
    return rc;
}

void mote_server_memory(const mote_server *s, size_t *idle, size_t *active)
{
    if (idle) *idle = sizeof(srv_conn);
    if (active) *active = pool_block_cost(&s->blocks);
}

mote_server *mote_server_loop(mote_server *s, unsigned i)
{
    if (!s || i > s->worker_count) return NULL;
    return i == 0 ? s : s->workers[i - 1];
}

unsigned mote_server_loop_index(const mote_server *s)
{
    return s ? s->loop_index : 0;
}

mote_server *mote_request_server(const mote_request *req)
{
    return req ? ((srv_conn *)conn_of_request(req)->user)->srv : NULL;
}

int mote_server_fd(const mote_server *s)
{
    return loop_fd(s->loop);
}

static int descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 24)
        return 1 << 16;
    return (int)rl.rlim_cur;
}

static int open_wake_pipe(mote_server *s)
{
    if (pipe2(s->wake_fds, O_NONBLOCK | O_CLOEXEC) < 0) return MOTE_ESYS;
    s->wake.kind = H_WAKE;
    return loop_add(s->loop, s->wake_fds[0], LOOP_READ, &s->wake);
}

static int server_create(mote_server **out, const mote_config *cfg, mote_allocator a);

/* The other workers-1 loops: servers of one worker each, routed by s's router, taking their
 * memory where s does. */
static int create_workers(mote_server *s, const mote_config *cfg)
{
    mote_config one = *cfg;
    size_t n = cfg->workers - 1, i;
    one.workers = 1;
    s->reuse_port = 1;
    s->workers = s->alloc.alloc(s->alloc.ctx, n * sizeof *s->workers);
    s->worker_threads = s->alloc.alloc(s->alloc.ctx, n * sizeof *s->worker_threads);
    if (!s->workers || !s->worker_threads) return MOTE_ENOMEM;
    for (i = 0; i < n; i++) {
        int rc = server_create(&s->workers[i], &one, s->alloc);
        if (rc < 0) return rc;
        s->worker_count++;
        s->workers[i]->loop_index = (unsigned)i + 1;
        s->workers[i]->env.routes = &s->routes;
        s->workers[i]->reuse_port = 1;
    }
    return MOTE_OK;
}

int mote_server_create(mote_server **out, const mote_config *cfg)
{
    mote_config defaults;
    mote_allocator a;
    int rc;

    if (!out) return MOTE_EINVAL;
    *out = NULL;
    if (!cfg) {
        mote_config_init(&defaults);
        cfg = &defaults;
    }
    if (!config_is_valid(cfg)) return MOTE_EINVAL;
    rc = choose_allocator(cfg, &a);
    return rc < 0 ? rc : server_create(out, cfg, a);
}

/* Static-memory mode takes now what it would take later: every buffer block, every timer. */
static int take_memory_now(mote_server *s)
{
    if (!s->fixed_memory) return MOTE_OK;
    return pool_fill(&s->blocks) < 0 ? MOTE_ENOMEM : MOTE_OK;
}

static int server_create(mote_server **out, const mote_config *cfg, mote_allocator a)
{
    mote_server *s;
    int rc;

    s = a.alloc(a.ctx, sizeof *s);
    if (!s) return MOTE_ENOMEM;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->alloc = a;
    s->fixed_memory = cfg->arena != NULL;
    s->io = net_io_system;
    s->wake_fds[0] = s->wake_fds[1] = s->reserve_fd = -1;
    s->free_slot = NO_SLOT;
    s->date_second = -1;
    atomic_init(&s->stop_requested, 0);
    router_init(&s->routes, a);
    env_init(s);
    s->env.flush = flush_hook;
    s->env.kick = kick_hook;
    s->env.request_begin = on_request_begin;
    s->env.request_end = on_request_end;
    pool_init(&s->blocks, a, conn_block_size(&s->env), cfg->max_connections);
    timer_list_init(&s->timers[T_HANDSHAKE], cfg->handshake_timeout_ms);
    timer_list_init(&s->timers[T_HEAD], cfg->head_timeout_ms);
    timer_list_init(&s->timers[T_IDLE], cfg->idle_timeout_ms);
    timer_list_init(&s->timers[T_BODY], cfg->body_timeout_ms);
    timer_list_init(&s->timers[T_WRITE], cfg->write_timeout_ms);
    timer_list_init(&s->timers[T_LINGER], LINGER_MS);
    update_date(s);

    s->conns = a.alloc(a.ctx, cfg->max_connections * sizeof *s->conns);
    s->posts = a.alloc(a.ctx, cfg->max_posts * sizeof *s->posts);
    s->app_timers = a.alloc(a.ctx, cfg->max_timers * sizeof *s->app_timers);
    rc = s->conns && s->posts && s->app_timers ? take_memory_now(s) : MOTE_ENOMEM;
    if (rc == MOTE_OK) rc = loop_create(&s->loop, descriptor_limit(), a);
    if (rc == MOTE_OK) rc = pthread_mutex_init(&s->post_lock, NULL) == 0 ? MOTE_OK : MOTE_ESYS;
    if (rc == MOTE_OK) s->post_lock_ready = 1;
    if (rc == MOTE_OK) rc = open_wake_pipe(s);
    if (rc == MOTE_OK) s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (rc == MOTE_OK && cfg->workers > 1) rc = create_workers(s, cfg);
    if (rc == MOTE_OK) {
        *out = s;
        return MOTE_OK;
    }
    mote_server_destroy(s);
    return rc;
}

void server_use_io(mote_server *s, const net_io *io)
{
    s->io = *io;
}

void mote_server_destroy(mote_server *s)
{
    size_t i;
    if (!s) return;
    for (i = 0; i < s->worker_count; i++) mote_server_destroy(s->workers[i]);
    s->alloc.free(s->alloc.ctx, s->workers);
    s->alloc.free(s->alloc.ctx, s->worker_threads);
    if (s->conns) close_all(s);
    close_listeners(s);
    for (i = 0; i < s->listener_count; i++) {
        if (s->listeners[i]->tls) tls_ctx_destroy(s->listeners[i]->tls);
        s->alloc.free(s->alloc.ctx, s->listeners[i]);
    }
    s->alloc.free(s->alloc.ctx, s->listeners);
    if (s->wake_fds[0] >= 0) close(s->wake_fds[0]);
    if (s->wake_fds[1] >= 0) close(s->wake_fds[1]);
    if (s->reserve_fd >= 0) close(s->reserve_fd);
    loop_destroy(s->loop);
    pool_free(&s->blocks);
    router_free(&s->routes);
    if (s->post_lock_ready) pthread_mutex_destroy(&s->post_lock);
    s->alloc.free(s->alloc.ctx, s->posts);
    s->alloc.free(s->alloc.ctx, s->app_timers);
    s->alloc.free(s->alloc.ctx, s->conns);
    s->alloc.free(s->alloc.ctx, s);
}

/* ---- listeners and routes --------------------------------------------------------------- */

static int add_listener(mote_server *s, const char *addr, uint16_t port, tls_ctx *tls)
{
    char err[160];
    listener **grown, *l;
    unsigned flags;
    int fd;

    if (s->stopping) return MOTE_ESTATE;
    flags = (s->reuse_port ? NET_REUSE_PORT : 0u) | (s->cfg.defer_accept ? NET_DEFER_ACCEPT : 0u);
    fd = net_listen(addr, port, flags, err, sizeof err);
    if (fd < 0) {
        srv_log(s, MOTE_LOG_ERROR, "%s", err);
        return fd;
    }
    l = s->alloc.alloc(s->alloc.ctx, sizeof *l);
    grown = s->alloc.alloc(s->alloc.ctx, (s->listener_count + 1) * sizeof *grown);
    if (!l || !grown || loop_add(s->loop, fd, LOOP_READ, l) < 0) {
        s->alloc.free(s->alloc.ctx, l);
        s->alloc.free(s->alloc.ctx, grown);
        close(fd);
        return (!l || !grown) ? MOTE_ENOMEM : MOTE_ESYS;
    }
    memset(l, 0, sizeof *l);
    l->h.kind = H_LISTENER;
    l->fd = fd;
    l->tls = tls;
    l->port = (uint16_t)net_local_port(fd);
    net_local_address(fd, l->address, sizeof l->address);
    if (s->listener_count) memcpy(grown, s->listeners, s->listener_count * sizeof *grown);
    s->alloc.free(s->alloc.ctx, s->listeners);
    s->listeners = grown;
    s->listeners[s->listener_count] = l;
    srv_log(s, MOTE_LOG_DEBUG, "listening on %s port %u (%s, %s)", l->address, (unsigned)l->port,
            tls ? "HTTPS" : "HTTP", loop_backend());
    return (int)s->listener_count++;
}

/* A listener of one loop, with its own TLS context when tls is given. */
static int listen_one(mote_server *s, const char *addr, uint16_t port, const mote_tls_config *tls)
{
    char err[256];
    tls_ctx *ctx = NULL;
    int rc;
    if (tls) {
        rc = tls_ctx_create(&ctx, tls, &s->alloc, err, sizeof err);
        if (rc < 0) {
            srv_log(s, MOTE_LOG_ERROR, "%s", err);
            return rc;
        }
    }
    rc = add_listener(s, addr, port, ctx);
    if (rc < 0 && ctx) tls_ctx_destroy(ctx);
    return rc;
}

/* The listener, and the same address and port in every worker (port 0: the one first bound). */
static int listen_all(mote_server *s, const char *addr, uint16_t port, const mote_tls_config *tls)
{
    size_t i;
    int index = listen_one(s, addr, port, tls);
    if (index < 0) return index;
    port = s->listeners[index]->port;
    for (i = 0; i < s->worker_count; i++) {
        int rc = listen_one(s->workers[i], addr, port, tls);
        if (rc < 0) return rc;
    }
    return index;
}

int mote_listen(mote_server *s, const char *addr, uint16_t port)
{
    if (!s) return MOTE_EINVAL;
    return listen_all(s, addr, port, NULL);
}

int mote_listen_tls(mote_server *s, const char *addr, uint16_t port, const mote_tls_config *tls)
{
    if (!s || !tls) return MOTE_EINVAL;
    if (s->fixed_memory) {
        srv_log(s, MOTE_LOG_ERROR, "no TLS in static-memory mode: mbedTLS allocates per session");
        return MOTE_ENOTSUP;
    }
    return listen_all(s, addr, port, tls);
}

int mote_listener_port(const mote_server *s, int i)
{
    if (!s || i < 0 || (size_t)i >= s->listener_count) return MOTE_EINVAL;
    return s->listeners[i]->port;
}

int mote_listener_address(const mote_server *s, int i, char *buf, size_t len)
{
    size_t n;
    if (!s || !buf || i < 0 || (size_t)i >= s->listener_count) return MOTE_EINVAL;
    n = strlen(s->listeners[i]->address);
    if (n + 1 > len) return MOTE_EINVAL;
    memcpy(buf, s->listeners[i]->address, n + 1);
    return MOTE_OK;
}

int mote_route(mote_server *s, const char *path, unsigned flags, mote_handler handler, void *user)
{
    if (!s) return MOTE_EINVAL;
    return router_add(&s->routes, path, flags, NULL, handler, user);
}

int mote_route_with(mote_server *s, const char *path, unsigned flags,
                    const mote_route_options *options, mote_handler handler, void *user)
{
    if (!s) return MOTE_EINVAL;
    return router_add(&s->routes, path, flags, options, handler, user);
}

int mote_default_handler(mote_server *s, mote_handler handler, void *user)
{
    if (!s) return MOTE_EINVAL;
    s->routes.fallback.handler = handler;
    s->routes.fallback.user_data = user;
    return MOTE_OK;
}
