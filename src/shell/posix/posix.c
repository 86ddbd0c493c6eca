/* posix.c - the POSIX shell around the engine: listening sockets, accepting, each connection's
 * socket (and TLS session) read and written, files sent with sendfile(2), the event loop
 * (loop.h: epoll or poll), the wake pipe of posted tasks, and worker threads. Everything the
 * engine asks of a platform (shell_ops: clocks, interest, shutdown, close, locks) is answered
 * here; everything else, from connection slots to timeouts, is the engine's. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#endif
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/io.h"
#include "core/proxy.h"
#include "engine/engine.h"
#include "shell/posix/loop.h"
#include "shell/posix/net.h"
#include "shell/posix/tls_config.h"
#include "tls/tls.h"

#define MAX_EVENTS 128
#define ACCEPT_BATCH 64
#define READS_PER_EVENT 4
/* Rounds of reading what a TLS session holds, after an event (serve_held_input()). */
#define HELD_ROUNDS 256
/* One TLS record's worth of a file, read through the output buffer at a time. */
#define BOUNCE_MAX 16384
/* Bytes one connection sends in a loop turn before the others get theirs: without a bound, a
 * reader faster than TLS encrypts (or than the disk under sendfile) held the loop for a whole
 * file. The rest goes out on the next turn (the output keeps write interest). */
#define WRITE_TURN_MAX (256u * 1024u)
/* Segments sent in one sendmsg(2). */
#define GATHER_MAX 8
/* A file's bytes per sendfile(2), nginx's sendfile_max_chunk: one call is a turn's worth. */
#define SENDFILE_MAX (2u * 1024u * 1024u)

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
    mote_tls_config *tls_cfg;      /* what it was opened with (loop 0's listeners only) */
    uint8_t h2_modes;              /* MOTE_HTTP2_* its connections allow */
    uint8_t proxy;                 /* a PROXY protocol header comes first */
    char address[ADDR_TEXT_MAX];
} listener;

/* The shell's part of a connection, after the engine's in its slot. */
typedef struct posix_conn {
    io_handle h;
    uint8_t events;                /* interest registered with the loop */
    uint8_t handshake_wants;       /* LOOP_READ or LOOP_WRITE */
    unsigned registered : 1;       /* watched by the loop (only once it has had to wait) */
    unsigned read_all : 1;         /* the last read left the socket empty */
    unsigned awaits_proxy : 1;     /* its PROXY protocol header is still to come */
    unsigned has_via : 1;          /* `via` is the proxy that sent it */
    unsigned via_tls : 1;          /* and the client spoke TLS to it (PROXY v2's SSL TLV) */
    uint16_t proxy_have;           /* bytes of that header read so far (at the block's start) */
    int fd;
    mote_addr via;
    tls_conn *tls;
    struct posix_shell *ps;
} posix_conn;

typedef struct posix_shell {
    mote_server *srv;
    net_io io;                     /* the socket calls: the system's, or a test's */
    loop *loop;
    listener **listeners;
    size_t listener_count;
    io_handle wake;
    int wake_fds[2];
    int reserve_fd;                /* given up to accept-and-close when descriptors run out */
    pthread_mutex_t post_lock;
    int post_lock_ready;
    /* workers > 1: the other event loops, servers of their own that use this one's routes */
    mote_server **workers;
    pthread_t *worker_threads;
    size_t worker_count;
    int reuse_port;                /* listeners share their port with the workers' */
    atomic_uint swaps_pending;     /* loops yet to take reloaded TLS contexts */
    atomic_int reload_wanted;      /* mote_server_reload_tls_soon() was called */
} posix_shell;

static posix_shell *shell_of(const mote_server *s)
{
    return engine_shell(s);
}

static posix_conn *pc_of(engine_conn *ec)
{
    return engine_shell_conn(ec);
}

/* ---- what the engine asks of a shell ------------------------------------------------------- */

static uint64_t posix_now_us(void *shell)
{
    struct timespec ts;
    (void)shell;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t posix_unix_s(void *shell)
{
    (void)shell;
    return (int64_t)time(NULL);
}

static void set_interest(posix_conn *pc, unsigned events)
{
    posix_shell *ps = pc->ps;
    int rc;
    if (pc->registered && pc->events == events) return;
    rc = pc->registered ? loop_modify(ps->loop, pc->fd, events, pc)
                        : loop_add(ps->loop, pc->fd, events, pc);
    if (rc < 0) engine_fail(engine_conn_of_shell(pc));
    else pc->registered = 1;
    pc->events = (uint8_t)events;
}

static void posix_interest(void *shell, engine_conn *ec, unsigned want)
{
    (void)shell;
    set_interest(pc_of(ec), (want & ENGINE_READ ? LOOP_READ : 0u) |
                                (want & ENGINE_WRITE ? LOOP_WRITE : 0u));
}

/* Whether the bytes being written are the connection's last, closed at once after them. */
static int closes_after(posix_conn *pc)
{
    return !pc->tls && pc->read_all && engine_output_is_last(engine_conn_of_shell(pc));
}

static int posix_shutdown_write(void *shell, engine_conn *ec)
{
    posix_conn *pc = pc_of(ec);
    (void)shell;
    if (closes_after(pc)) return 1; /* the FIN went with the last bytes: nothing to reset */
    if (pc->tls) tls_close_notify(pc->tls);
    shutdown(pc->fd, SHUT_WR);
    return 0;
}

static void posix_close(void *shell, engine_conn *ec)
{
    posix_shell *ps = shell;
    posix_conn *pc = pc_of(ec);
    if (pc->registered) loop_forget(ps->loop, pc->fd);
    if (pc->tls) tls_conn_destroy(pc->tls);
    if (ec->reset) { /* RST: the kernel would otherwise keep trickling the queue out */
        struct linger now = {1, 0};
        (void)setsockopt(pc->fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    }
    close(pc->fd);
    pc->tls = NULL;
    pc->fd = -1;
}

static void posix_lock(void *shell)
{
    pthread_mutex_lock(&((posix_shell *)shell)->post_lock);
}

static void posix_unlock(void *shell)
{
    pthread_mutex_unlock(&((posix_shell *)shell)->post_lock);
}

static void posix_wake(void *shell)
{
    static const char byte = 1;
    (void)!write(((posix_shell *)shell)->wake_fds[1], &byte, 1);
}

static long posix_read_file(const mote_file *f, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do {
        n = pread(f->fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return (long)n;
}

static const mote_tls_peer *posix_tls_peer(void *shell, engine_conn *ec)
{
    const posix_conn *pc = pc_of(ec);
    (void)shell;
    return pc->tls ? tls_peer(pc->tls) : NULL;
}

/* Pages the allocator holds free go back to the system: glibc keeps them otherwise. */
static void posix_memory_returned(void *shell)
{
#ifdef __GLIBC__
    const mote_config *cfg = engine_config(((posix_shell *)shell)->srv);
    if (!cfg->allocator.alloc && !cfg->arena) (void)malloc_trim(0);
#else
    (void)shell;
#endif
}

static int posix_via(void *shell, engine_conn *ec, mote_addr *out)
{
    const posix_conn *pc = pc_of(ec);
    (void)shell;
    if (!pc->has_via) return -1;
    *out = pc->via;
    return pc->via_tls;
}

/* Bytes the kernel still holds for the peer (SIOCOUTQ, where the system has it). */
static int posix_unsent(void *shell, engine_conn *ec)
{
#ifdef SIOCOUTQ
    int n = 0;
    (void)shell;
    return ioctl(pc_of(ec)->fd, SIOCOUTQ, &n) == 0 && n > 0;
#else
    (void)shell;
    (void)ec;
    return 0;
#endif
}

static const shell_ops posix_ops = {
    posix_now_us,    posix_unix_s,   posix_interest,        posix_shutdown_write,
    posix_close,     posix_lock,     posix_unlock,          posix_wake,
    posix_read_file, posix_tls_peer, posix_memory_returned, posix_via,
    posix_unsent,
};

/* ---- the socket as a transport ----------------------------------------------------------- */

static long socket_recv(void *handle, void *buf, size_t len)
{
    posix_conn *pc = handle;
    posix_shell *ps = pc->ps;
    long n;
    do {
        n = ps->io.recv(ps->io.ctx, pc->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) return n;
    if (n == 0) return IO_CLOSED;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_READ : IO_FAILED;
}

/* `more`: more bytes (or the FIN) follow at once, so the stack may hold these back to send
 * them together (MSG_MORE). */
static long socket_send_more(posix_conn *pc, const void *buf, size_t len, int more)
{
    posix_shell *ps = pc->ps;
    long n;
    do {
        n = ps->io.send(ps->io.ctx, pc->fd, buf, len, more);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return n;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_WRITE : IO_FAILED;
}

static long socket_send(void *handle, const void *buf, size_t len)
{
    return socket_send_more(handle, buf, len, 0);
}

/* The socket or TLS session failed: counted, and the connection closes. */
static void fail_io(engine_conn *ec)
{
    engine_count_error(engine_server_of(ec), MOTE_ERROR_IO);
    engine_fail(ec);
}

/* ---- writing ------------------------------------------------------------------------------ */

/* A file's next bytes into the output buffer, for a transport that cannot send from the file:
 * a count, 0 when the file ended early (its response cannot be completed), or IO_FAILED. */
static long bounce(engine_conn *ec, const out_seg *seg)
{
    char *at;
    size_t room = engine_bounce_space(ec, &at, BOUNCE_MAX);
    const mote_file *f = &seg->u.file.file;
    long n;
    if (room == 0) return IO_FAILED;
    if (f->fd >= 0) {
        do {
            n = (long)pread(f->fd, at, room, (off_t)seg->u.file.off);
        } while (n < 0 && errno == EINTR);
    } else {
        n = f->read(f->ctx, at, room, seg->u.file.off);
    }
    if (n <= 0) return n == 0 ? 0 : IO_FAILED;
    engine_bounced(ec, (size_t)n);
    return n;
}

/* The first segments up to a file's, in one sendmsg(2) (a head and a body that lies
 * elsewhere, pipelined responses): a count, or an IO_* code. */
static long socket_send_gathered(posix_conn *pc, const out_seg *segs, size_t n)
{
    posix_shell *ps = pc->ps;
    struct iovec iov[GATHER_MAX];
    int count = 0;
    long r;
    while ((size_t)count < n && count < GATHER_MAX && segs[count].kind != OUT_FILE) {
        iov[count].iov_base = (void *)(uintptr_t)segs[count].data; /* only read */
        iov[count].iov_len = segs[count].len;
        count++;
    }
    do {
        r = ps->io.sendv(ps->io.ctx, pc->fd, iov, count, (size_t)count < n || closes_after(pc));
    } while (r < 0 && errno == EINTR);
    if (r >= 0) return r;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_WRITE : IO_FAILED;
}

/* Sends what the first segments hold: a count, or an IO_* code. */
static long send_segments(posix_conn *pc, engine_conn *ec, const out_seg *segs, size_t n)
{
    posix_shell *ps = pc->ps;
    const out_seg *s = &segs[0];
    long r;
    if (s->kind != OUT_FILE) {
        if (pc->tls) return tls_write(pc->tls, s->data, s->len);
        if (n > 1 && segs[1].kind != OUT_FILE && ps->io.sendv)
            return socket_send_gathered(pc, segs, n);
        return socket_send_more(pc, s->data, s->len, n > 1 || closes_after(pc));
    }
    if (pc->tls || s->u.file.file.fd < 0) {
        r = bounce(ec, s);
        return r > 0 ? 0 : (r == 0 ? IO_FAILED : r); /* the bytes are out on the next turn */
    }
    do { /* a bounded piece: on loopback, one call could otherwise send the whole file */
        r = ps->io.sendfile(ps->io.ctx, pc->fd, s->u.file.file.fd, s->u.file.off,
                            s->len < SENDFILE_MAX ? s->len : SENDFILE_MAX);
    } while (r < 0 && errno == EINTR);
    if (r > 0) return r;
    if (r == 0) return IO_FAILED; /* the file is shorter than its Content-Length said */
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_WANT_WRITE : IO_FAILED;
}

static void write_output(posix_conn *pc)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    size_t turn = 0;
    for (;;) {
        const out_seg *segs;
        size_t n = engine_pending(ec, &segs);
        long r;
        if (n == 0) {
            engine_write_blocked(ec, 0);
            break;
        }
        r = send_segments(pc, ec, segs, n);
        if (r > 0) {
            engine_sent(ec, (size_t)r);
            turn += (size_t)r;
            if (turn >= WRITE_TURN_MAX) {
                /* as if blocked: write interest, and the write timeout counting (it restarts
                 * with each byte sent), also if the socket is full by the next turn */
                engine_write_blocked(ec, 1);
                break;
            }
        } else if (r == IO_WANT_WRITE || r == IO_WANT_READ) {
            engine_write_blocked(ec, 1);
            break;
        } else if (r < 0) {
            fail_io(ec);
            break;
        }
    }
}

/* ---- reading ------------------------------------------------------------------------------ */

static long read_some(posix_conn *pc, char *at, size_t space)
{
    if (pc->tls) return tls_read(pc->tls, at, space);
    return socket_recv(pc, at, space);
}

/* Reads what the connection takes now; the bytes handed to it. */
static size_t read_input(posix_conn *pc)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    size_t taken = 0;
    int i;
    for (i = 0; i < READS_PER_EVENT; i++) {
        char *at;
        size_t space = engine_read_space(ec, &at);
        long n;
        if (space == 0) break;
        n = read_some(pc, at, space);
        if (n > 0) {
            pc->read_all = (size_t)n < space && !(pc->tls && tls_pending(pc->tls));
            taken += (size_t)n;
            engine_received(ec, (size_t)n);
            if (pc->read_all) break;
        } else {
            if (n == IO_CLOSED) engine_peer_eof(ec);
            else if (n != IO_WANT_READ && n != IO_WANT_WRITE) fail_io(ec);
            break;
        }
    }
    return taken;
}

static void linger_read(posix_conn *pc)
{
    char sink[4096];
    long n = socket_recv(pc, sink, sizeof sink);
    if (n > 0) engine_linger_received(engine_conn_of_shell(pc), (size_t)n);
    else if (n != IO_WANT_READ) engine_fail(engine_conn_of_shell(pc));
}

static void serve(posix_conn *pc, unsigned events)
{
    if (events & LOOP_READ) (void)read_input(pc);
    write_output(pc);
}

/* Input the TLS session already holds raises no event: serve it now, while it can be taken.
 * Progress is bytes taken, not fewer held: taking a record may read the next ones from the
 * socket, leaving more held than before with nothing left in the socket to raise an event.
 * The bound only matters for a peer sending that many records meanwhile, whose socket then
 * raises the next event. */
static void serve_held_input(posix_conn *pc)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    int rounds;
    for (rounds = 0; rounds < HELD_ROUNDS && pc->tls && !ec->dead && tls_pending(pc->tls) > 0 &&
                     engine_wants_input(ec);
         rounds++) {
        size_t taken = read_input(pc);
        write_output(pc);
        if (taken == 0) break; /* what is held is part of a record: the socket brings the rest */
    }
}

/* At debug level: scanners and old clients fail handshakes all day long. */
static void log_handshake_failure(posix_conn *pc)
{
    const mote_conn *c = &engine_conn_of_shell(pc)->core;
    char peer[ENGINE_PEER_TEXT_MAX], why[200];
    if (!engine_log_enabled(pc->ps->srv, MOTE_LOG_DEBUG)) return;
    engine_peer_text(&c->peer, peer, sizeof peer);
    tls_failure(pc->tls, why, sizeof why);
    engine_log(pc->ps->srv, MOTE_LOG_DEBUG, "TLS handshake with %s port %u failed: %s", peer,
               (unsigned)c->peer.port, why);
}

static void advance_handshake(posix_conn *pc)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    int r = tls_handshake(pc->tls);
    if (r == 0) {
        engine_handshake_done(ec, tls_alpn(pc->tls), tls_resumed(pc->tls));
        serve(pc, LOOP_READ); /* the first request may already sit decrypted in the session */
    } else if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
        pc->handshake_wants = r == IO_WANT_READ ? LOOP_READ : LOOP_WRITE;
        set_interest(pc, pc->handshake_wants);
    } else {
        log_handshake_failure(pc);
        engine_handshake_failed(ec);
    }
}

/* ---- the PROXY protocol -------------------------------------------------------------------- */

/* The header's bytes are gathered at the start of the connection's block, and only as many are
 * taken from the socket as belong to it: what follows is the first request's (or the TLS
 * ClientHello), left where the session will read it. Each piece is peeked first, then taken
 * up to the header's end. Returns 1 when the header is complete, 0 to wait, -1 to close. */
static int gather_proxy_header(posix_conn *pc, proxy_info *info)
{
#if MOTE_CONFIG_PROXY
    engine_conn *ec = engine_conn_of_shell(pc);
    size_t max = engine_config(pc->ps->srv)->proxy_max_header, space;
    char *at;
    long n;
    int r;
    space = engine_read_space(ec, &at);
    if (space < max) max = space;
    if (max <= pc->proxy_have) return -1;
    do {
        n = (long)recv(pc->fd, at + pc->proxy_have, max - pc->proxy_have, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n <= 0) return -1;
    r = proxy_parse((const uint8_t *)at, pc->proxy_have + (size_t)n, max, info);
    if (r < 0) return -1;
    /* complete: take its rest; incomplete: all of it is the header's */
    if (r > 0) n = (long)((size_t)r - pc->proxy_have);
    if (recv(pc->fd, at + pc->proxy_have, (size_t)n, 0) != n) return -1;
    pc->proxy_have = (uint16_t)(pc->proxy_have + (size_t)n);
    return r > 0;
#else
    (void)pc;
    (void)info;
    return -1;
#endif
}

static void log_proxy(posix_conn *pc, const char *what)
{
    const mote_conn *c = &engine_conn_of_shell(pc)->core;
    char peer[ENGINE_PEER_TEXT_MAX];
    if (!engine_log_enabled(pc->ps->srv, MOTE_LOG_DEBUG)) return;
    engine_peer_text(&c->peer, peer, sizeof peer);
    engine_log(pc->ps->srv, MOTE_LOG_DEBUG, "PROXY header from %s port %u: %s", peer,
               (unsigned)c->peer.port, what);
}

static void read_proxy_header(posix_conn *pc)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    proxy_info info;
    int r = gather_proxy_header(pc, &info);
    if (r == 0) {
        set_interest(pc, LOOP_READ);
        return;
    }
    if (r < 0) {
        log_proxy(pc, "malformed, missing or cut short; closed");
        engine_count_error(pc->ps->srv, MOTE_ERROR_PROXY);
        engine_fail(ec);
        return;
    }
    pc->awaits_proxy = 0;
    if (!info.local) {
        pc->via = ec->core.peer;
        pc->has_via = 1;
        pc->via_tls = info.ssl != 0;
        ec->core.peer = info.src;
        log_proxy(pc, "the client's address"); /* logged as the client, sent by the proxy */
    }
    if (pc->tls) {
        advance_handshake(pc);
    } else {
        engine_preamble_done(ec);
        serve(pc, LOOP_READ); /* the request may be in already */
    }
}

static void conn_event(posix_conn *pc, unsigned events)
{
    engine_conn *ec = engine_conn_of_shell(pc);
    if (ec->state == CS_FREE) return;
    if (ec->state == CS_HANDSHAKE && pc->awaits_proxy) read_proxy_header(pc);
    else if (ec->state == CS_HANDSHAKE) advance_handshake(pc);
    else if (ec->state == CS_LINGER) linger_read(pc);
    else serve(pc, events);
    if (ec->state == CS_OPEN && !ec->dead) serve_held_input(pc);
    engine_settle(ec);
}

/* ---- accepting -------------------------------------------------------------------------------- */

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
static void shed_one(posix_shell *ps, listener *l)
{
    mote_addr peer;
    int fd;
    if (ps->reserve_fd < 0) return;
    close(ps->reserve_fd);
    fd = net_accept(l->fd, &peer);
    if (fd >= 0) close(fd);
    engine_count_refused(ps->srv);
    ps->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    engine_log(ps->srv, MOTE_LOG_WARN, "out of file descriptors: a connection was refused");
}

/* The connection's socket, and TLS over it for a TLS listener. */
static posix_conn *start_connection(posix_shell *ps, listener *l, int fd, const mote_addr *peer)
{
    engine_conn *ec = engine_open(ps->srv, peer, l->tls != NULL || l->proxy);
    posix_conn *pc;
    if (!ec) return NULL;
    pc = pc_of(ec);
    pc->h.kind = H_CONN;
    pc->fd = fd;
    pc->ps = ps;
    pc->awaits_proxy = l->proxy != 0;
    ec->core.h2_modes = l->h2_modes;
    if (l->tls) {
        io_transport socket = {socket_recv, socket_send, pc};
        if (tls_conn_create(l->tls, &socket, &pc->tls) < 0) {
            engine_log(ps->srv, MOTE_LOG_WARN, "out of memory for a TLS session");
            engine_fail(ec);
            engine_settle(ec);
            return NULL;
        }
        pc->handshake_wants = LOOP_READ;
    }
    return pc;
}

/* Accepts up to a batch of waiting clients; the count taken (ACCEPT_BATCH: maybe more wait). */
static int accept_clients(posix_shell *ps, listener *l)
{
    int i;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        mote_addr peer;
        char text[ENGINE_PEER_TEXT_MAX];
        posix_conn *pc;
        int fd = ps->io.accept(ps->io.ctx, l->fd, &peer);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) shed_one(ps, l);
            else if (errno == EINTR || errno == ECONNABORTED) continue;
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                engine_log(ps->srv, MOTE_LOG_WARN, "accept failed: %s", strerror(errno));
            return i;
        }
        pc = start_connection(ps, l, fd, &peer);
        if (!pc) {
            if (engine_log_enabled(ps->srv, MOTE_LOG_WARN)) {
                engine_peer_text(&peer, text, sizeof text);
                engine_log(ps->srv, MOTE_LOG_WARN, "connection from %s port %u refused: %s",
                           text, (unsigned)peer.port, "too many connections");
            }
            refuse(fd, !l->tls);
            continue;
        }
        /* the text only when the line is written: accepting is on the hot path */
        if (engine_log_enabled(ps->srv, MOTE_LOG_INFO)) {
            engine_peer_text(&peer, text, sizeof text);
            engine_log(ps->srv, MOTE_LOG_INFO, "connection accepted: address %s, port %u", text,
                       (unsigned)peer.port);
        }
        /* A client sends its request (or ClientHello) right behind the TCP handshake: try it
         * now, and ask the loop to watch the socket only if it has to wait. */
        conn_event(pc, LOOP_READ);
    }
    return i;
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* Clients the kernel has queued on a listener about to close would be reset with it: they are
 * taken and served first (bounded: the slots run out, or the queue is empty). */
static void take_queued_clients(posix_shell *ps, listener *l)
{
    size_t rounds = engine_config(ps->srv)->max_connections / ACCEPT_BATCH + 1;
    while (rounds-- > 0 && accept_clients(ps, l) == ACCEPT_BATCH) {
    }
}

static void close_listeners(posix_shell *ps)
{
    size_t i;
    for (i = 0; i < ps->listener_count; i++) {
        listener *l = ps->listeners[i];
        if (l->fd < 0) continue;
        loop_remove(ps->loop, l->fd);
        close(l->fd);
        l->fd = -1;
    }
}

static void begin_shutdown(posix_shell *ps)
{
    size_t i;
    engine_begin_shutdown(ps->srv);
    /* after it: those taken now are answered as the last on their connections */
    for (i = 0; i < ps->listener_count; i++) {
        if (ps->listeners[i]->fd >= 0) take_queued_clients(ps, ps->listeners[i]);
    }
    close_listeners(ps);
    if (mote_server_loop_index(ps->srv) == 0)
        engine_log(ps->srv, MOTE_LOG_INFO,
                   "draining: listeners closed, open connections end within %lu ms",
                   (unsigned long)engine_config(ps->srv)->shutdown_timeout_ms);
}

static void drain_wake(posix_shell *ps)
{
    char buf[64];
    while (read(ps->wake_fds[0], buf, sizeof buf) > 0) {
    }
}

static void handle_event(posix_shell *ps, const loop_event *ev)
{
    io_handle *h = ev->data;
    if (h->kind == H_CONN) conn_event((posix_conn *)(void *)h, ev->events);
    else if (h->kind == H_LISTENER && ((listener *)(void *)h)->fd >= 0)
        (void)accept_clients(ps, (listener *)(void *)h); /* (closed this turn: stopping) */
    else {
        drain_wake(ps);
        if (atomic_exchange(&ps->reload_wanted, 0) && !engine_stopping(ps->srv))
            (void)mote_server_reload_tls(ps->srv); /* the outcome is logged */
        engine_run_posts(ps->srv);
    }
}

/* How long to wait for events: until `due` (the engine's next deadline), at most timeout_ms. */
static int wait_ms(const mote_server *s, uint64_t due, int timeout_ms)
{
    uint64_t now = engine_now_ms(s);
    uint64_t until = due == TIMER_NONE ? 0 : (due > now ? due - now : 0);
    if (due == TIMER_NONE || timeout_ms == 0) return timeout_ms;
    if (until > INT32_MAX) until = INT32_MAX;
    if (timeout_ms >= 0 && (uint64_t)timeout_ms < until) return timeout_ms;
    return (int)until + 1; /* epoll rounds down; wake just after the deadline, not just before */
}

static int step(mote_server *s, int timeout_ms)
{
    posix_shell *ps = shell_of(s);
    loop_event events[MAX_EVENTS];
    int n, i;
    if (engine_stopped(s)) return MOTE_STOPPED;
    engine_clock(s);
    if (engine_stop_requested(s) && !engine_stopping(s)) begin_shutdown(ps);
    if (!engine_shutdown_done(s)) {
        /* what this turn arms is due later than now (every timeout has a length): only a
         * deadline known before the wait can be due at its end */
        uint64_t due = engine_next_deadline(s);
        n = loop_wait(ps->loop, events, MAX_EVENTS, wait_ms(s, due, timeout_ms));
        if (n < 0) return MOTE_ESYS;
        engine_tick(s);
        /* a stop asked during the wait (a signal): before any request of this turn is
         * answered as if the server went on */
        if (engine_stop_requested(s) && !engine_stopping(s)) begin_shutdown(ps);
        for (i = 0; i < n; i++) handle_event(ps, &events[i]);
        if (engine_now_ms(s) >= due) engine_run_timers(s);
        if (engine_stop_requested(s) && !engine_stopping(s)) begin_shutdown(ps);
    }
    if (engine_shutdown_done(s)) {
        engine_close_all(s);
        engine_mark_stopped(s);
        return MOTE_STOPPED;
    }
    return MOTE_RUNNING;
}

int mote_server_step(mote_server *s, int timeout_ms)
{
    if (shell_of(s)->worker_count) return MOTE_ESTATE; /* several loops need mote_server_run() */
    return step(s, timeout_ms);
}

static int run_loop(mote_server *s)
{
    int rc;
    while ((rc = step(s, -1)) == MOTE_RUNNING) {
    }
    return rc == MOTE_STOPPED ? MOTE_OK : rc;
}

static void *run_worker(void *arg)
{
    (void)run_loop(arg);
    return NULL;
}

int mote_server_run(mote_server *s)
{
    posix_shell *ps = shell_of(s);
    size_t started = 0, i;
    int rc = MOTE_OK;
    for (; started < ps->worker_count; started++) {
        if (pthread_create(&ps->worker_threads[started], NULL, run_worker, ps->workers[started])) {
            engine_log(s, MOTE_LOG_ERROR, "cannot start a worker thread: %s", strerror(errno));
            mote_server_stop(s);
            rc = MOTE_ESYS;
            break;
        }
    }
    if (rc == MOTE_OK) rc = run_loop(s);
    else (void)run_loop(s);
    mote_server_stop(s); /* this loop may end on an error: the others end with it */
    for (i = 0; i < started; i++) pthread_join(ps->worker_threads[i], NULL);
    return rc;
}

void mote_server_stop(mote_server *s)
{
    posix_shell *ps = shell_of(s);
    size_t i;
    engine_request_stop(s);
    posix_wake(ps);
    for (i = 0; i < ps->worker_count; i++) mote_server_stop(ps->workers[i]);
}

int mote_server_fd(const mote_server *s)
{
    return loop_fd(shell_of(s)->loop);
}

/* ---- creating and destroying --------------------------------------------------------------- */

static int descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 24)
        return 1 << 16;
    return (int)rl.rlim_cur;
}

static int open_wake_pipe(posix_shell *ps)
{
    if (pipe2(ps->wake_fds, O_NONBLOCK | O_CLOEXEC) < 0) return MOTE_ESYS;
    ps->wake.kind = H_WAKE;
    return loop_add(ps->loop, ps->wake_fds[0], LOOP_READ, &ps->wake);
}

static int server_create(mote_server **out, const mote_config *cfg, const mote_allocator *a);

/* The other workers-1 loops: servers of one worker each, routed by s's router, taking their
 * memory where s does. */
static int create_workers(mote_server *s, const mote_config *cfg)
{
    posix_shell *ps = shell_of(s);
    const mote_allocator *a = engine_alloc(s);
    mote_config one = *cfg;
    size_t n = cfg->workers - 1, i;
    one.workers = 1;
    ps->reuse_port = 1;
    ps->workers = a->alloc(a->ctx, n * sizeof *ps->workers);
    ps->worker_threads = a->alloc(a->ctx, n * sizeof *ps->worker_threads);
    if (!ps->workers || !ps->worker_threads) return MOTE_ENOMEM;
    for (i = 0; i < n; i++) {
        int rc = server_create(&ps->workers[i], &one, a);
        if (rc < 0) return rc;
        ps->worker_count++;
        engine_set_loop_index(ps->workers[i], (unsigned)i + 1);
        engine_share_routes(ps->workers[i], s);
        shell_of(ps->workers[i])->reuse_port = 1;
    }
    engine_set_loops(s, ps->workers, (unsigned)ps->worker_count);
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
    rc = engine_config_check(cfg);
    if (rc == MOTE_OK) rc = engine_allocator(cfg, &a);
    return rc < 0 ? rc : server_create(out, cfg, &a);
}

static int server_create(mote_server **out, const mote_config *cfg, const mote_allocator *a)
{
    mote_server *s;
    posix_shell *ps;
    int rc = engine_create(&s, cfg, a, &posix_ops, sizeof(posix_shell), sizeof(posix_conn));
    if (rc < 0) return rc;
    ps = shell_of(s);
    ps->srv = s;
    ps->io = net_io_system;
    ps->wake_fds[0] = ps->wake_fds[1] = ps->reserve_fd = -1;
    atomic_init(&ps->swaps_pending, 0u);
    atomic_init(&ps->reload_wanted, 0);
    rc = loop_create(&ps->loop, descriptor_limit(), *a);
    if (rc == MOTE_OK) rc = pthread_mutex_init(&ps->post_lock, NULL) == 0 ? MOTE_OK : MOTE_ESYS;
    if (rc == MOTE_OK) ps->post_lock_ready = 1;
    if (rc == MOTE_OK) rc = open_wake_pipe(ps);
    if (rc == MOTE_OK) ps->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
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
    shell_of(s)->io = *io;
}

void mote_server_destroy(mote_server *s)
{
    posix_shell *ps;
    const mote_allocator *a;
    size_t i;
    if (!s) return;
    ps = shell_of(s);
    a = engine_alloc(s);
    for (i = 0; i < ps->worker_count; i++) mote_server_destroy(ps->workers[i]);
    a->free(a->ctx, ps->workers);
    a->free(a->ctx, ps->worker_threads);
    if (ps->loop) engine_close_all(s);
    close_listeners(ps);
    for (i = 0; i < ps->listener_count; i++) {
        if (ps->listeners[i]->tls) tls_ctx_destroy(ps->listeners[i]->tls);
        tls_config_free(ps->listeners[i]->tls_cfg, a);
        a->free(a->ctx, ps->listeners[i]);
    }
    a->free(a->ctx, ps->listeners);
    if (ps->wake_fds[0] >= 0) close(ps->wake_fds[0]);
    if (ps->wake_fds[1] >= 0) close(ps->wake_fds[1]);
    if (ps->reserve_fd >= 0) close(ps->reserve_fd);
    if (ps->loop) loop_destroy(ps->loop);
    if (ps->post_lock_ready) pthread_mutex_destroy(&ps->post_lock);
    engine_destroy(s);
}

/* ---- listeners ------------------------------------------------------------------------------ */

/* A listener on a listening socket (taken: closed on failure). */
static int add_listener_fd(mote_server *s, int fd, tls_ctx *tls)
{
    posix_shell *ps = shell_of(s);
    const mote_allocator *a = engine_alloc(s);
    listener **grown, *l = a->alloc(a->ctx, sizeof *l);
    grown = a->alloc(a->ctx, (ps->listener_count + 1) * sizeof *grown);
    if (!l || !grown || loop_add(ps->loop, fd, LOOP_READ, l) < 0) {
        a->free(a->ctx, l);
        a->free(a->ctx, grown);
        close(fd);
        return (!l || !grown) ? MOTE_ENOMEM : MOTE_ESYS;
    }
    memset(l, 0, sizeof *l);
    l->h.kind = H_LISTENER;
    l->fd = fd;
    l->tls = tls;
    l->h2_modes = (uint8_t)engine_h2_modes(s);
    if (tls) tls_ctx_offer_h2(tls, (l->h2_modes & MOTE_HTTP2_ALPN) != 0);
    l->port = (uint16_t)net_local_port(fd);
    net_local_address(fd, l->address, sizeof l->address);
    if (ps->listener_count) memcpy(grown, ps->listeners, ps->listener_count * sizeof *grown);
    a->free(a->ctx, ps->listeners);
    ps->listeners = grown;
    ps->listeners[ps->listener_count] = l;
    engine_log(s, MOTE_LOG_DEBUG, "listening on %s port %u (%s, %s)", l->address, (unsigned)l->port,
               tls ? "HTTPS" : "HTTP", loop_backend());
    return (int)ps->listener_count++;
}

/* A new listening socket on addr and port (0: any free one; with `fd` >= 0, that socket
 * instead, which is taken), as a listener. */
static int add_listener(mote_server *s, const char *addr, uint16_t port, int fd, tls_ctx *tls)
{
    posix_shell *ps = shell_of(s);
    char err[160];
    unsigned flags;
    if (engine_stopping(s)) {
        if (fd >= 0) close(fd);
        return MOTE_ESTATE;
    }
    flags = (ps->reuse_port || engine_config(s)->reuse_port ? NET_REUSE_PORT : 0u) |
            (engine_config(s)->defer_accept ? NET_DEFER_ACCEPT : 0u);
    if (fd < 0) fd = net_listen(addr, port, flags, err, sizeof err);
    if (fd < 0) {
        engine_log(s, MOTE_LOG_ERROR, "%s", err);
        return fd;
    }
    return add_listener_fd(s, fd, tls);
}

/* A listener of one loop, with its own TLS context when tls is given; on `fd` when >= 0. */
static int listen_one(mote_server *s, const char *addr, uint16_t port, int fd,
                      const mote_tls_config *tls)
{
    char err[256];
    tls_ctx *ctx = NULL;
    int rc;
    if (tls) {
        rc = tls_ctx_create(&ctx, tls, engine_alloc(s), err, sizeof err);
        if (rc < 0) {
            engine_log(s, MOTE_LOG_ERROR, "%s", err);
            if (fd >= 0) close(fd);
            return rc;
        }
    }
    rc = add_listener(s, addr, port, fd, ctx);
    if (rc < 0 && ctx) tls_ctx_destroy(ctx);
    return rc;
}

/* The listener, and the same address and port in every worker (port 0: the one first bound);
 * or, with `fd` >= 0, that socket, and a duplicate of it for each worker. */
static int listen_all(mote_server *s, const char *addr, uint16_t port, int fd,
                      const mote_tls_config *tls)
{
    posix_shell *ps = shell_of(s);
    mote_tls_config *copy = NULL;
    size_t i;
    int index;
    if (tls && (copy = tls_config_copy(tls, engine_alloc(s))) == NULL) return MOTE_ENOMEM;
    index = listen_one(s, addr, port, fd, tls);
    if (index < 0) {
        tls_config_free(copy, engine_alloc(s));
        return index;
    }
    ps->listeners[index]->tls_cfg = copy;
    port = ps->listeners[index]->port;
    for (i = 0; i < ps->worker_count; i++) {
        int dup_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        int rc = fd >= 0 && dup_fd < 0 ? MOTE_ESYS
                                       : listen_one(ps->workers[i], addr, port, dup_fd, tls);
        if (rc < 0) return rc;
        /* a client resumes on whichever loop takes it */
        if (tls) tls_ctx_share_tickets(shell_of(ps->workers[i])->listeners[rc]->tls,
                                       ps->listeners[index]->tls);
    }
    return index;
}

int mote_listen(mote_server *s, const char *addr, uint16_t port)
{
    if (!s) return MOTE_EINVAL;
    return listen_all(s, addr, port, -1, NULL);
}

int mote_listen_fd(mote_server *s, int fd, const mote_tls_config *tls)
{
    char err[160];
    int rc;
    if (!s || fd < 0) return MOTE_EINVAL;
    if (tls && engine_fixed_memory(s)) return MOTE_ENOTSUP;
    rc = net_adopt(fd, err, sizeof err);
    if (rc < 0) {
        engine_log(s, MOTE_LOG_ERROR, "%s", err);
        return rc;
    }
    return listen_all(s, NULL, 0, fd, tls);
}

int mote_listener_proxy_protocol(mote_server *s, int i)
{
    unsigned k;
    if (!s || i < 0 || (size_t)i >= shell_of(s)->listener_count) return MOTE_EINVAL;
    if (!MOTE_CONFIG_PROXY) return MOTE_ENOTSUP;
    for (k = 0; k <= shell_of(s)->worker_count; k++)
        shell_of(mote_server_loop(s, k))->listeners[i]->proxy = 1;
    return MOTE_OK;
}

const char *mote_tls_backend(void)
{
    return tls_backend();
}

int mote_listen_tls(mote_server *s, const char *addr, uint16_t port, const mote_tls_config *tls)
{
    if (!s || !tls) return MOTE_EINVAL;
    if (engine_fixed_memory(s)) {
        engine_log(s, MOTE_LOG_ERROR, "no TLS in static-memory mode: the TLS library allocates "
                                      "per session");
        return MOTE_ENOTSUP;
    }
    return listen_all(s, addr, port, -1, tls);
}

/* ---- reloading certificates ------------------------------------------------------------------ */

/* New contexts for one loop's listeners (NULL where a listener has no TLS), made on loop 0's
 * thread and put in place on the loop's own. */
typedef struct tls_swap {
    mote_server *first;           /* loop 0, which counts the loops that have swapped */
    size_t count;
    tls_ctx *fresh[];
} tls_swap;

/* The reload is announced once the last loop has its new contexts: from then on every new
 * connection gets the new certificates. */
static void swap_done(mote_server *first)
{
    if (atomic_fetch_sub(&shell_of(first)->swaps_pending, 1u) == 1u)
        engine_log(first, MOTE_LOG_INFO, "TLS certificates reloaded");
}

static void swap_contexts(mote_server *s, void *arg)
{
    posix_shell *ps = shell_of(s);
    tls_swap *sw = arg;
    mote_server *first;
    size_t i;
    for (i = 0; i < sw->count && i < ps->listener_count; i++) {
        listener *l = ps->listeners[i];
        if (sw->fresh[i] == NULL) continue;
        tls_ctx_destroy(l->tls); /* its sessions keep it until they end */
        l->tls = sw->fresh[i];
        sw->fresh[i] = NULL;
        tls_ctx_offer_h2(l->tls, (l->h2_modes & MOTE_HTTP2_ALPN) != 0);
    }
    for (; i < sw->count; i++) tls_ctx_destroy(sw->fresh[i]);
    first = sw->first;
    engine_alloc(s)->free(engine_alloc(s)->ctx, sw);
    swap_done(first);
}

static void drop_swap(mote_server *s, tls_swap *sw)
{
    size_t i;
    if (sw == NULL) return;
    for (i = 0; i < sw->count; i++) tls_ctx_destroy(sw->fresh[i]);
    engine_alloc(s)->free(engine_alloc(s)->ctx, sw);
}

/* Contexts from loop 0's listeners' configurations, for `target`; NULL with *rc set. */
static tls_swap *load_contexts(mote_server *first, mote_server *target, int *rc)
{
    posix_shell *ps = shell_of(first);
    const mote_allocator *a = engine_alloc(target);
    tls_swap *sw = a->alloc(a->ctx, sizeof *sw + ps->listener_count * sizeof sw->fresh[0]);
    char err[256];
    size_t i;
    if (sw == NULL) {
        engine_log(first, MOTE_LOG_ERROR, "TLS reload: out of memory; certificates kept");
        *rc = MOTE_ENOMEM;
        return NULL;
    }
    sw->first = first;
    sw->count = ps->listener_count;
    for (i = 0; i < sw->count; i++) sw->fresh[i] = NULL;
    for (i = 0; i < sw->count; i++) {
        const mote_tls_config *cfg = ps->listeners[i]->tls_cfg;
        if (cfg == NULL) continue;
        *rc = tls_ctx_create(&sw->fresh[i], cfg, a, err, sizeof err);
        if (*rc < 0) {
            engine_log(first, MOTE_LOG_ERROR, "TLS reload failed, certificates kept: %s", err);
            drop_swap(target, sw);
            return NULL;
        }
        /* tickets issued before the reload still resume */
        tls_ctx_share_tickets(sw->fresh[i], ps->listeners[i]->tls);
    }
    return sw;
}

int mote_server_reload_tls(mote_server *s)
{
    posix_shell *ps;
    tls_swap **swaps;
    size_t loops, k;
    int rc = MOTE_OK;
    if (!s) return MOTE_EINVAL;
    if (engine_stopping(s)) return MOTE_ESTATE;
    ps = shell_of(s);
    loops = 1 + ps->worker_count;
    swaps = engine_alloc(s)->alloc(engine_alloc(s)->ctx, loops * sizeof *swaps);
    if (swaps == NULL) return MOTE_ENOMEM;
    /* every context first: one that fails to load leaves every listener as it was */
    for (k = 0; k < loops && rc == MOTE_OK; k++)
        swaps[k] = load_contexts(s, mote_server_loop(s, (unsigned)k), &rc);
    if (rc != MOTE_OK) {
        size_t j;
        for (j = 0; j < k; j++) drop_swap(mote_server_loop(s, (unsigned)j), swaps[j]);
        engine_alloc(s)->free(engine_alloc(s)->ctx, swaps);
        return rc;
    }
    atomic_fetch_add(&ps->swaps_pending, (unsigned)loops);
    for (k = 1; k < loops; k++) {
        mote_server *w = mote_server_loop(s, (unsigned)k);
        if (mote_post(w, swap_contexts, swaps[k]) < 0) {
            engine_log(s, MOTE_LOG_WARN, "TLS reload: worker %zu busy; it keeps its certificates", k);
            drop_swap(w, swaps[k]);
            swap_done(s);
        }
    }
    swap_contexts(s, swaps[0]);
    engine_alloc(s)->free(engine_alloc(s)->ctx, swaps);
    return MOTE_OK;
}

void mote_server_reload_tls_soon(mote_server *s)
{
    posix_shell *ps = shell_of(s);
    atomic_store(&ps->reload_wanted, 1);
    posix_wake(ps); /* a write(2) to the wake pipe: safe in a signal handler */
}

int mote_listener_http2(mote_server *s, int i, unsigned modes)
{
    unsigned k;
    if (!s || modes > MOTE_HTTP2_ALL) return MOTE_EINVAL;
    if (i < 0 || (size_t)i >= shell_of(s)->listener_count) return MOTE_EINVAL;
    if (!engine_h2_modes(s)) return modes ? MOTE_ENOTSUP : MOTE_OK;
    for (k = 0; k <= shell_of(s)->worker_count; k++) {
        mote_server *w = mote_server_loop(s, k);
        listener *l = shell_of(w)->listeners[i];
        l->h2_modes = (uint8_t)(modes & engine_h2_modes(w));
        if (l->tls) tls_ctx_offer_h2(l->tls, (l->h2_modes & MOTE_HTTP2_ALPN) != 0);
    }
    return MOTE_OK;
}

int mote_listener_port(const mote_server *s, int i)
{
    const posix_shell *ps;
    if (!s) return MOTE_EINVAL;
    ps = shell_of(s);
    if (i < 0 || (size_t)i >= ps->listener_count) return MOTE_EINVAL;
    return ps->listeners[i]->port;
}

int mote_listener_address(const mote_server *s, int i, char *buf, size_t len)
{
    const posix_shell *ps;
    size_t n;
    if (!s || !buf) return MOTE_EINVAL;
    ps = shell_of(s);
    if (i < 0 || (size_t)i >= ps->listener_count) return MOTE_EINVAL;
    n = strlen(ps->listeners[i]->address);
    if (n + 1 > len) return MOTE_EINVAL;
    memcpy(buf, ps->listeners[i]->address, n + 1);
    return MOTE_OK;
}

/* ---- files ---------------------------------------------------------------------------------- */

static void close_fd(void *ctx)
{
    close((int)(intptr_t)ctx);
}

mote_file mote_file_from_fd(int fd)
{
    mote_file f;
    memset(&f, 0, sizeof f);
    f.fd = fd;
    f.close = close_fd;
    f.ctx = (void *)(intptr_t)fd;
    return f;
}
