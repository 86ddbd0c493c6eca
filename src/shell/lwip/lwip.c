/* lwip.c - the lwIP shell around the engine: lwIP's raw TCP API instead of sockets
 * (include/mote_lwip.h). Each connection's pcb calls back here (tcp_recv, tcp_sent, tcp_poll,
 * tcp_err); received pbufs are held until the engine takes them, and only what it took is
 * acknowledged to the peer with tcp_recved(), so back-pressure is TCP's own window. Output is
 * copied into lwIP's send buffer (TCP_WRITE_FLAG_COPY: the engine may move bytes it has not yet
 * seen acknowledged). Everything runs in lwIP's context: no thread, clock or allocation of ours.
 *
 * The engine asks for interest (shell_ops.interest); a socket would raise the event later, so
 * here a connection that can act without lwIP calling (input already held, room to write) is
 * put on a ready list, served from a zero-delay lwIP timeout. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/opt.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#if !NO_SYS
#include "lwip/tcpip.h"
#endif

#include "core/addr.h"
#include "engine/engine.h"
#include "mote_lwip.h"

#if !LWIP_TCP
#error "mote's lwIP shell needs LWIP_TCP"
#endif

#define POLL_INTERVAL 2                /* tcp_poll's period, in lwIP's half seconds */
#define WRITE_TURN_MAX (16u * 1024u)   /* bytes one connection queues before the others */

typedef struct lwip_listener {
    struct tcp_pcb *pcb;
    struct lwip_shell *ls;
    uint16_t port;
} lwip_listener;

/* The shell's part of a connection, after the engine's in its slot. */
typedef struct lwip_conn {
    struct tcp_pcb *pcb;               /* NULL once lwIP has freed it (tcp_err) or we closed it */
    struct pbuf *rx;                   /* received, not yet taken by the engine */
    struct lwip_conn *next_ready;
    uint8_t want;                      /* ENGINE_READ | ENGINE_WRITE */
    unsigned rx_fin : 1;               /* the peer's FIN came after rx */
    unsigned fin_told : 1;             /* and the engine knows */
    unsigned ready : 1;                /* on the ready list */
} lwip_conn;

typedef struct lwip_shell {
    mote_server *srv;
    lwip_listener listeners[MOTE_CONFIG_LWIP_LISTENERS];
    unsigned listener_count;
    lwip_conn *ready;                  /* connections to serve outside any callback of theirs */
    struct tcp_pcb *current;           /* the pcb whose callback runs */
    unsigned current_aborted : 1;      /* it was aborted meanwhile: ERR_ABRT is due */
    uint64_t timer_due;                /* the engine's deadline lwIP's timeout is set for */
    uint32_t clock_last, clock_high;   /* sys_now() extended past its 49.7-day wrap */
    unsigned serve_armed : 1;
    int64_t (*wall)(void *ctx);
    void *wall_ctx;
    atomic_int posts_waiting;          /* mote_post() or a stop: run on lwIP's context */
    atomic_int wake_armed;
#if !NO_SYS
    sys_mutex_t post_lock;
    sys_sem_t stopped;
    unsigned sync_ready : 1;
#endif
} lwip_shell;

static void finish(lwip_shell *ls);
static err_t close_again_sent(void *arg, struct tcp_pcb *pcb, u16_t len);

static lwip_shell *shell_of(const mote_server *s)
{
    return engine_shell(s);
}

static lwip_conn *lc_of(engine_conn *ec)
{
    return engine_shell_conn(ec);
}

static lwip_shell *ls_of(lwip_conn *lc)
{
    return shell_of(engine_server_of(engine_conn_of_shell(lc)));
}

/* ---- the ready list ------------------------------------------------------------------------- */

static void serve_ready(void *arg);

static void make_ready(lwip_shell *ls, lwip_conn *lc)
{
    if (lc->ready) return;
    lc->ready = 1;
    lc->next_ready = ls->ready;
    ls->ready = lc;
    if (!ls->serve_armed) {
        ls->serve_armed = 1;
        sys_timeout(0, serve_ready, ls);
    }
}

static void unready(lwip_shell *ls, lwip_conn *lc)
{
    lwip_conn **at;
    if (!lc->ready) return;
    for (at = &ls->ready; *at; at = &(*at)->next_ready) {
        if (*at == lc) {
            *at = lc->next_ready;
            break;
        }
    }
    lc->ready = 0;
}

/* Whether the connection can act now, without lwIP calling: input held, or room to write. */
static int can_act(const engine_conn *ec, const lwip_conn *lc)
{
    if (!lc->pcb) return 0;
    if ((lc->want & ENGINE_READ) && (lc->rx || (lc->rx_fin && !lc->fin_told))) return 1;
    return (lc->want & ENGINE_WRITE) && !ec->write_blocked && tcp_sndbuf(lc->pcb) > 0;
}

/* ---- what the engine asks of a shell ------------------------------------------------------- */

static uint64_t lwip_now_us(void *shell)
{
    lwip_shell *ls = shell;
    uint32_t ms = sys_now();
    if (ms < ls->clock_last) ls->clock_high++;
    ls->clock_last = ms;
    return (((uint64_t)ls->clock_high << 32) | ms) * 1000u;
}

static int64_t lwip_unix_s(void *shell)
{
    lwip_shell *ls = shell;
    return ls->wall ? ls->wall(ls->wall_ctx) : -1;
}

static void lwip_interest(void *shell, engine_conn *ec, unsigned want)
{
    lwip_conn *lc = lc_of(ec);
    lc->want = (uint8_t)want;
    if (can_act(ec, lc)) make_ready(shell, lc);
}

static int lwip_shutdown_write(void *shell, engine_conn *ec)
{
    lwip_conn *lc = lc_of(ec);
    (void)shell;
    if (!lc->pcb || tcp_shutdown(lc->pcb, 0, 1) != ERR_OK) return 1;
    return 0;
}

/* Detaches our callbacks from a pcb: what lwIP still does with it is its own business. */
static void forget_pcb(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
}

/* A FIN lwIP had no room for (its send queue full) is tried again as the peer acknowledges
 * data, then at each poll; past CLOSE_TRIES polls the connection is reset. The slot is gone
 * by then: the tries are counted in the pcb's arg. */
#define CLOSE_TRIES 20

static err_t close_again(void *arg, struct tcp_pcb *pcb)
{
    uintptr_t tries = (uintptr_t)arg + 1;
    tcp_poll(pcb, NULL, 0);
    tcp_sent(pcb, NULL);
    if (tcp_close(pcb) == ERR_OK) return ERR_OK;
    if (tries >= CLOSE_TRIES) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    tcp_arg(pcb, (void *)tries);
    tcp_poll(pcb, close_again, 1);
    tcp_sent(pcb, close_again_sent);
    return ERR_OK;
}

static err_t close_again_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)len;
    return close_again(arg, pcb);
}

static void lwip_close(void *shell, engine_conn *ec)
{
    lwip_shell *ls = shell;
    lwip_conn *lc = lc_of(ec);
    unready(ls, lc);
    if (lc->rx) pbuf_free(lc->rx);
    lc->rx = NULL;
    if (lc->pcb) {
        struct tcp_pcb *pcb = lc->pcb;
        forget_pcb(pcb);
        if (ec->reset) { /* a reader too slow: what lwIP holds for it is thrown away */
            tcp_abort(pcb);
            if (pcb == ls->current) ls->current_aborted = 1;
        } else if (tcp_close(pcb) != ERR_OK) {
            tcp_poll(pcb, close_again, 1);
            tcp_sent(pcb, close_again_sent);
        }
    }
    lc->pcb = NULL;
}

#if !NO_SYS
static void lwip_lock(void *shell)
{
    sys_mutex_lock(&((lwip_shell *)shell)->post_lock);
}

static void lwip_unlock(void *shell)
{
    sys_mutex_unlock(&((lwip_shell *)shell)->post_lock);
}

static void run_wake(void *arg)
{
    lwip_shell *ls = arg;
    atomic_store(&ls->wake_armed, 0);
    engine_tick(ls->srv);
    finish(ls);
}
#else
static void lwip_lock(void *shell)
{
    (void)shell; /* one context: the main loop */
}

static void lwip_unlock(void *shell)
{
    (void)shell;
}
#endif

/* Posted tasks or a stop wait: they run at the end of the next callback, and one is asked for
 * (NO_SYS 0: a message to the tcpip thread; NO_SYS 1: the main loop's mote_lwip_poll()). */
static void lwip_wake(void *shell)
{
    lwip_shell *ls = shell;
    atomic_store(&ls->posts_waiting, 1);
#if !NO_SYS
    if (!atomic_exchange(&ls->wake_armed, 1) && tcpip_try_callback(run_wake, ls) != ERR_OK)
        atomic_store(&ls->wake_armed, 0); /* the queue is full: the tcpip thread is busy and
                                             finish() sees posts_waiting after its callbacks */
#endif
}

static int lwip_unsent(void *shell, engine_conn *ec)
{
    const lwip_conn *lc = lc_of(ec);
    (void)shell;
    return lc->pcb && (lc->pcb->unsent || lc->pcb->unacked);
}

static const shell_ops lwip_ops = {
    lwip_now_us, lwip_unix_s, lwip_interest, lwip_shutdown_write, lwip_close, lwip_lock,
    lwip_unlock, lwip_wake,   NULL,          NULL,                NULL,       NULL,
    lwip_unsent,
};

/* ---- moving bytes ----------------------------------------------------------------------------- */

/* Hands the engine what it takes of the held pbufs, and opens the window by as much. */
static void take_input(engine_conn *ec, lwip_conn *lc)
{
    while (lc->rx && !ec->dead) {
        char *at;
        size_t space = engine_read_space(ec, &at);
        u16_t n;
        if (space == 0) break;
        n = pbuf_copy_partial(lc->rx, at, space < lc->rx->tot_len ? (u16_t)space
                                                                  : lc->rx->tot_len, 0);
        lc->rx = pbuf_free_header(lc->rx, n);
        if (lc->pcb) tcp_recved(lc->pcb, n);
        engine_received(ec, n);
    }
    if (!lc->rx && lc->rx_fin && !lc->fin_told && !ec->dead) {
        lc->fin_told = 1;
        engine_peer_eof(ec);
    }
}

/* While lingering: what comes is dropped (but acknowledged); the peer's FIN ends it. */
static void drop_input(engine_conn *ec, lwip_conn *lc)
{
    if (lc->rx) {
        u16_t n = lc->rx->tot_len;
        if (lc->pcb) tcp_recved(lc->pcb, n);
        pbuf_free(lc->rx);
        lc->rx = NULL;
        engine_linger_received(ec, n);
    }
    if (lc->rx_fin) engine_fail(ec); /* nothing more can come to be reset by our close */
}

/* A file's next bytes through the output buffer (lwIP sends from memory only). */
static int bounce(engine_conn *ec, const out_seg *seg)
{
    char *at;
    size_t room = engine_bounce_space(ec, &at, TCP_MSS);
    const mote_file *f = &seg->u.file.file;
    long n;
    if (room == 0 || !f->read) return -1;
    n = f->read(f->ctx, at, room, seg->u.file.off);
    if (n <= 0) return -1; /* shorter than its Content-Length said, or failed */
    engine_bounced(ec, (size_t)n);
    return 0;
}

/* Queues what the engine has, as far as lwIP's send buffer takes it, then sends. */
static void write_output(engine_conn *ec, lwip_conn *lc)
{
    size_t turn = 0;
    int queued = 0;
    while (lc->pcb && !ec->dead) {
        const out_seg *segs;
        size_t n = engine_pending(ec, &segs), room = tcp_sndbuf(lc->pcb), len;
        u8_t flags = TCP_WRITE_FLAG_COPY;
        err_t err;
        if (n == 0) {
            engine_write_blocked(ec, 0);
            break;
        }
        if (segs[0].kind == OUT_FILE) {
            if (bounce(ec, &segs[0]) < 0) engine_fail(ec);
            continue;
        }
        if (room == 0 || turn >= WRITE_TURN_MAX) {
            engine_write_blocked(ec, 1); /* tcp_sent or tcp_poll calls again */
            break;
        }
        len = segs[0].len < room ? segs[0].len : room;
        if (len > 0xFFFFu) len = 0xFFFFu;
        if (len < segs[0].len || n > 1) flags |= TCP_WRITE_FLAG_MORE;
        err = tcp_write(lc->pcb, segs[0].data, (u16_t)len, flags);
        if (err == ERR_MEM) { /* lwIP's segments or pbufs ran out: later */
            engine_write_blocked(ec, 1);
            break;
        }
        if (err != ERR_OK) {
            engine_count_error(engine_server_of(ec), MOTE_ERROR_IO);
            engine_fail(ec);
            break;
        }
        queued = 1;
        turn += len;
        engine_sent(ec, len);
    }
    if (queued && lc->pcb) (void)tcp_output(lc->pcb);
}

/* One event's work on a connection, then the engine's verdict. */
static void serve(engine_conn *ec)
{
    lwip_conn *lc = lc_of(ec);
    if (ec->state == CS_LINGER) {
        drop_input(ec, lc);
    } else if (ec->state == CS_OPEN) {
        take_input(ec, lc);
        write_output(ec, lc);
    }
    engine_settle(ec);
}

/* ---- lwIP's callbacks --------------------------------------------------------------------------- */

/* A callback of lwIP's on `pcb` begins: the clocks, and whether it gets aborted. */
static void begin(lwip_shell *ls, struct tcp_pcb *pcb)
{
    ls->current = pcb;
    ls->current_aborted = 0;
    engine_tick(ls->srv);
}

/* And ends: ERR_ABRT if its pcb was aborted meanwhile, as lwIP requires. */
static err_t outcome(lwip_shell *ls)
{
    err_t rc;
    finish(ls); /* posts may end the connection too */
    rc = ls->current_aborted ? ERR_ABRT : ERR_OK;
    ls->current = NULL;
    ls->current_aborted = 0;
    return rc;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    lwip_conn *lc = arg;
    engine_conn *ec;
    lwip_shell *ls;
    if (!lc || err != ERR_OK) {
        if (p) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    /* a pbuf chain counts at most 64 KiB (tot_len): past that, lwIP keeps it and offers it
     * again (refused data) once the engine has taken what is held */
    if (p && lc->rx && (uint32_t)lc->rx->tot_len + p->tot_len > 0xFFFFu) return ERR_MEM;
    ec = engine_conn_of_shell(lc);
    ls = ls_of(lc);
    begin(ls, pcb);
    if (!p) lc->rx_fin = 1;
    else if (lc->rx) pbuf_cat(lc->rx, p);
    else lc->rx = p;
    serve(ec);
    return outcome(ls);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    lwip_conn *lc = arg;
    lwip_shell *ls;
    (void)len;
    if (!lc) return ERR_OK;
    ls = ls_of(lc);
    begin(ls, pcb);
    engine_write_blocked(engine_conn_of_shell(lc), 0);
    serve(engine_conn_of_shell(lc));
    return outcome(ls);
}

/* Now and then: writes that lwIP refused for want of memory are tried again. */
static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    return on_sent(arg, pcb, 0);
}

/* The pcb is gone (a reset, or lwIP gave up): the connection closes without touching it. */
static void on_error(void *arg, err_t err)
{
    lwip_conn *lc = arg;
    engine_conn *ec;
    lwip_shell *ls;
    (void)err;
    if (!lc) return;
    ec = engine_conn_of_shell(lc);
    ls = ls_of(lc);
    lc->pcb = NULL;
    engine_tick(ls->srv);
    engine_count_error(ls->srv, MOTE_ERROR_IO);
    engine_fail(ec);
    engine_settle(ec);
    finish(ls);
}

static void peer_of(const struct tcp_pcb *pcb, mote_addr *peer)
{
    memset(peer, 0, sizeof *peer);
    peer->port = pcb->remote_port;
#if LWIP_IPV6
    if (IP_IS_V6(&pcb->remote_ip)) {
        peer->family = 6;
        memcpy(peer->bytes, ip_2_ip6(&pcb->remote_ip)->addr, 16);
        return;
    }
#endif
#if LWIP_IPV4
    peer->family = 4;
    memcpy(peer->bytes, &ip_2_ip4(&pcb->remote_ip)->addr, 4);
#endif
}

/* Every slot taken: a 503, then the FIN (or a reset when lwIP has no room for either). */
static err_t refuse(lwip_shell *ls, struct tcp_pcb *pcb)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Length: 0\r\n"
                               "Retry-After: 1\r\n"
                               "Connection: close\r\n\r\n";
    engine_log(ls->srv, MOTE_LOG_WARN, "a connection was refused: too many connections");
    if (tcp_write(pcb, busy, sizeof busy - 1, 0) == ERR_OK && tcp_close(pcb) == ERR_OK)
        return ERR_OK;
    tcp_abort(pcb);
    return ERR_ABRT;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    lwip_listener *l = arg;
    lwip_shell *ls = l->ls;
    mote_addr peer;
    engine_conn *ec;
    lwip_conn *lc;
    if (err != ERR_OK || !pcb) return ERR_VAL;
    begin(ls, pcb);
    peer_of(pcb, &peer);
    ec = engine_open(ls->srv, &peer, 0);
    if (!ec) {
        err_t rc = refuse(ls, pcb);
        (void)outcome(ls);
        return rc;
    }
    lc = lc_of(ec);
    memset(lc, 0, sizeof *lc);
    lc->pcb = pcb;
    tcp_arg(pcb, lc);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_error);
    tcp_poll(pcb, on_poll, POLL_INTERVAL);
    tcp_nagle_disable(pcb); /* the engine says when more follows (TCP_WRITE_FLAG_MORE) */
    engine_settle(ec);
    return outcome(ls);
}

/* ---- the server's turns ------------------------------------------------------------------------- */

static void on_timer(void *arg);

/* lwIP's timeout follows the engine's earliest deadline. */
static void arm_timer(lwip_shell *ls)
{
    uint64_t due = engine_next_deadline(ls->srv), now = engine_now_ms(ls->srv);
    if (due == ls->timer_due) return;
    if (ls->timer_due != TIMER_NONE) sys_untimeout(on_timer, ls);
    ls->timer_due = due;
    if (due == TIMER_NONE) return;
    /* + 1: after the deadline, not just before it */
    sys_timeout(due > now ? (u32_t)(due - now < 0x7FFFFFFFu ? due - now + 1 : 0x7FFFFFFFu) : 0,
                on_timer, ls);
}

static void close_listeners(lwip_shell *ls)
{
    unsigned i;
    for (i = 0; i < ls->listener_count; i++) {
        if (!ls->listeners[i].pcb) continue;
        tcp_arg(ls->listeners[i].pcb, NULL);
        tcp_accept(ls->listeners[i].pcb, NULL);
        (void)tcp_close(ls->listeners[i].pcb); /* a listening pcb always closes */
        ls->listeners[i].pcb = NULL;
    }
}

static void stopped(lwip_shell *ls)
{
    engine_close_all(ls->srv);
    engine_mark_stopped(ls->srv);
    if (ls->timer_due != TIMER_NONE) sys_untimeout(on_timer, ls);
    ls->timer_due = TIMER_NONE;
#if !NO_SYS
    sys_sem_signal(&ls->stopped);
#endif
}

/* The end of every turn: posts, a stop, the timer. */
static void finish(lwip_shell *ls)
{
    mote_server *s = ls->srv;
    if (engine_stopped(s)) return;
    if (atomic_exchange(&ls->posts_waiting, 0)) engine_run_posts(s);
    if (engine_stop_requested(s) && !engine_stopping(s)) {
        engine_begin_shutdown(s);
        close_listeners(ls);
        engine_log(s, MOTE_LOG_INFO, "draining: listeners closed, open connections end within %lu ms",
                   (unsigned long)engine_config(s)->shutdown_timeout_ms);
    }
    if (engine_shutdown_done(s)) stopped(ls);
    else arm_timer(ls);
}

static void on_timer(void *arg)
{
    lwip_shell *ls = arg;
    ls->timer_due = TIMER_NONE; /* lwIP has dropped it */
    engine_tick(ls->srv);
    engine_run_timers(ls->srv);
    finish(ls);
}

/* Connections that can act without lwIP calling them; each served once a round (those made
 * ready meanwhile wait for the next round). */
static void serve_ready(void *arg)
{
    lwip_shell *ls = arg;
    lwip_conn *round = ls->ready;
    ls->ready = NULL;
    ls->serve_armed = 0;
    engine_tick(ls->srv);
    while (round) {
        lwip_conn *lc = round;
        engine_conn *ec = engine_conn_of_shell(lc);
        round = lc->next_ready;
        lc->ready = 0;
        if (ec->state != CS_FREE) serve(ec);
    }
    finish(ls);
}

int mote_lwip_poll(mote_server *s)
{
    lwip_shell *ls = shell_of(s);
    if (!engine_stopped(s) && atomic_load(&ls->posts_waiting)) {
        engine_tick(s);
        finish(ls);
    }
    return engine_stopped(s) ? MOTE_STOPPED : MOTE_RUNNING;
}

void mote_server_stop(mote_server *s)
{
    engine_request_stop(s);
    lwip_wake(shell_of(s));
}

#if !NO_SYS
int mote_server_run(mote_server *s)
{
    lwip_shell *ls = shell_of(s);
    sys_arch_sem_wait(&ls->stopped, 0);
    sys_sem_signal(&ls->stopped); /* for a second waiter */
    return MOTE_OK;
}
#endif

void mote_lwip_wall_clock(mote_server *s, int64_t (*unix_s)(void *ctx), void *ctx)
{
    lwip_shell *ls = shell_of(s);
    ls->wall = unix_s;
    ls->wall_ctx = ctx;
}

/* ---- creating and destroying --------------------------------------------------------------- */

int mote_server_create(mote_server **out, const mote_config *cfg)
{
    mote_config defaults;
    mote_allocator a;
    mote_server *s;
    lwip_shell *ls;
    int rc;
    if (!out) return MOTE_EINVAL;
    *out = NULL;
    if (!cfg) {
        mote_config_init(&defaults);
        cfg = &defaults;
    }
    if (cfg->workers > 1) return MOTE_EINVAL; /* one context: lwIP's */
    rc = engine_config_check(cfg);
    if (rc == MOTE_OK) rc = engine_allocator(cfg, &a);
    if (rc == MOTE_OK) rc = engine_create(&s, cfg, &a, &lwip_ops, sizeof(lwip_shell),
                                          sizeof(lwip_conn));
    if (rc < 0) return rc;
    ls = shell_of(s);
    ls->srv = s;
    ls->timer_due = TIMER_NONE;
    atomic_init(&ls->posts_waiting, 0);
    atomic_init(&ls->wake_armed, 0);
#if !NO_SYS
    if (sys_mutex_new(&ls->post_lock) != ERR_OK) {
        engine_destroy(s);
        return MOTE_ENOMEM;
    }
    if (sys_sem_new(&ls->stopped, 0) != ERR_OK) {
        sys_mutex_free(&ls->post_lock);
        engine_destroy(s);
        return MOTE_ENOMEM;
    }
    ls->sync_ready = 1;
#endif
    *out = s;
    return MOTE_OK;
}

void mote_server_destroy(mote_server *s)
{
    lwip_shell *ls;
    if (!s) return;
    ls = shell_of(s);
    engine_close_all(s);
    close_listeners(ls);
    if (ls->serve_armed) sys_untimeout(serve_ready, ls);
    if (ls->timer_due != TIMER_NONE) sys_untimeout(on_timer, ls);
#if !NO_SYS
    if (ls->sync_ready) {
        sys_mutex_free(&ls->post_lock);
        sys_sem_free(&ls->stopped);
    }
#endif
    engine_destroy(s);
}

/* ---- listeners ---------------------------------------------------------------------------------- */

int mote_lwip_listen(mote_server *s, const ip_addr_t *addr, uint16_t port)
{
    lwip_shell *ls;
    lwip_listener *l;
    struct tcp_pcb *pcb, *listening;
    if (!s) return MOTE_EINVAL;
    ls = shell_of(s);
    if (engine_stopping(s) || engine_stop_requested(s)) return MOTE_ESTATE;
    if (ls->listener_count == MOTE_CONFIG_LWIP_LISTENERS) return MOTE_ENOMEM;
#if LWIP_IPV4 && LWIP_IPV6
    pcb = tcp_new_ip_type(addr ? IP_GET_TYPE(addr) : IPADDR_TYPE_ANY);
#else
    pcb = tcp_new();
#endif
    if (!pcb) return MOTE_ENOMEM;
    if (tcp_bind(pcb, addr ? addr : IP_ANY_TYPE, port) != ERR_OK) {
        tcp_abort(pcb);
        engine_log(s, MOTE_LOG_ERROR, "cannot listen on port %u: the address is taken or invalid",
                   (unsigned)port);
        return MOTE_ESYS;
    }
    listening = tcp_listen_with_backlog(pcb, MOTE_CONFIG_LWIP_BACKLOG);
    if (!listening) {
        tcp_abort(pcb);
        return MOTE_ENOMEM;
    }
    l = &ls->listeners[ls->listener_count];
    l->pcb = listening;
    l->ls = ls;
    l->port = listening->local_port;
    tcp_arg(listening, l);
    tcp_accept(listening, on_accept);
    engine_tick(s);
    engine_log(s, MOTE_LOG_DEBUG, "listening on port %u (HTTP, lwIP)", (unsigned)l->port);
    return (int)ls->listener_count++;
}

int mote_listen(mote_server *s, const char *addr, uint16_t port)
{
    ip_addr_t ip;
    if (!addr) return mote_lwip_listen(s, NULL, port);
    if (!ipaddr_aton(addr, &ip)) return MOTE_EINVAL;
    return mote_lwip_listen(s, &ip, port);
}

int mote_listener_port(const mote_server *s, int i)
{
    const lwip_shell *ls;
    if (!s) return MOTE_EINVAL;
    ls = shell_of(s);
    if (i < 0 || (unsigned)i >= ls->listener_count) return MOTE_EINVAL;
    return ls->listeners[i].port;
}
