/* engine.c - the portable server; see engine.h.
 *
 * Every connection has a slot in one array sized by max_connections; a slot costs only its
 * struct until a request arrives, when it borrows a connection block (buffers) and an
 * exchange block from the pools, and it gives them back as soon as it is idle again. */
#include "engine/engine.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/accesslog.h"
#include "core/addr.h"
#include "core/httpdate.h"
#include "engine/exchange.h"
#include "engine/forwarded.h"
#include "proto/h1.h"
#include "proto/h2.h"
#include "proto/ws.h"

#define LINGER_MS 2000
#define LINGER_MAX_BYTES (256 * 1024)
#define NO_SLOT UINT32_MAX

enum timer_kind {
    T_HANDSHAKE, T_HEAD, T_IDLE, T_BODY, T_WRITE, T_LINGER, T_WS_IDLE, T_WS_CLOSE, T_STALL, T_COUNT
};

/* A task handed over by mote_post() or mote_response_post(), and an application timer. */
typedef struct posted_task {
    mote_task_fn fn;
    mote_response_fn res_fn;          /* a response's task: fn is NULL */
    mote_ws_fn ws_fn;                 /* a WebSocket's task: fn and res_fn are NULL */
    void *arg;
    mote_handle handle;
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
    const shell_ops *shell;
    void *shell_state;
    size_t slot_size;
    router routes;
    conn_env env;
    pool blocks, exchanges, sockets;
    char *slots;                      /* [max_connections] of slot_size, set up when first used */
    uint32_t slots_used;              /* slots ever used: the high-water mark */
    uint32_t free_slot;               /* list of released slots */
    uint32_t active;
    timer_list timers[T_COUNT];
    atomic_int stop_requested;
    int stopping, stopped;
    uint64_t now;                     /* milliseconds, at the last tick */
    uint64_t stop_deadline;
    int64_t date_second;
    /* posted tasks: a ring, the only state other threads touch (under the shell's lock) */
    int posts_closed;
    posted_task *posts;
    size_t post_head, post_count;
    app_timer *app_timers;
    size_t app_timer_count;
    /* several loops */
    mote_server **workers;
    unsigned worker_count, loop_index;
    int fixed_memory;                 /* static-memory mode: nothing is allocated after creation */
    int logs_access;                  /* an access line per request (level and format) */
    uint64_t started;                 /* now, at creation */
    mote_stats st;                    /* the counters of mote_server_stats() */
    uint64_t next_trim;               /* when the pools next give back idle blocks */
    uint64_t next_rate_check;         /* when min_rate_bytes is next checked */
    trusted_net *trusted;             /* cfg.trusted_proxies, parsed */
    size_t trusted_count;
    uint64_t ws_buffered;             /* conn_env.ws_buffered */
};

/* ---- memory ------------------------------------------------------------------------------ */

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

int engine_allocator(const mote_config *cfg, mote_allocator *out)
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

/* ---- logging ---------------------------------------------------------------------------- */

int engine_log_enabled(const mote_server *s, int level)
{
    return s->cfg.log && level <= (int)s->cfg.log_level;
}

static void log_line(const mote_config *cfg, int level, const char *fmt, va_list ap)
{
    char line[512];
    if (!cfg->log || level > (int)cfg->log_level) return;
    vsnprintf(line, sizeof line, fmt, ap);
    cfg->log(cfg->log_user, level, line);
}

void engine_log(mote_server *s, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(&s->cfg, level, fmt, ap);
    va_end(ap);
}

static void config_log(const mote_config *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(cfg, MOTE_LOG_ERROR, fmt, ap);
    va_end(ap);
}

void engine_peer_text(const mote_addr *a, char *buf, size_t len)
{
    char addr[ADDR_TEXT_MAX];
    if (addr_format(a, addr, sizeof addr) < 0) addr[0] = '\0';
    snprintf(buf, len, a->family == 6 ? "[%s]" : "%s", addr);
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

/* The numeric fields' ranges, checked in order and logged by name. */
typedef struct field_range {
    const char *name;
    uint16_t off, size;
    uint32_t min, max;
} field_range;

#define RANGE(field, lo, hi) \
    {#field, (uint16_t)offsetof(mote_config, field), (uint16_t)sizeof(((mote_config *)0)->field), lo, hi}

static const field_range config_ranges[] = {
    RANGE(max_connections, 1, NO_SLOT - 1),
    RANGE(max_request_line, 16, 1u << 20),
    RANGE(max_header_bytes, 16, 1u << 20),
    RANGE(max_headers, 1, 10000),
    RANGE(response_buffer_size, 512, 1u << 26),
    RANGE(max_response_header_bytes, 64, 0xffff),
    RANGE(body_read_room, 1, 1u << 26),
    RANGE(idle_timeout_ms, 1, UINT32_MAX),
    RANGE(head_timeout_ms, 1, UINT32_MAX),
    RANGE(body_timeout_ms, 1, UINT32_MAX),
    RANGE(write_timeout_ms, 1, UINT32_MAX),
    RANGE(handshake_timeout_ms, 1, UINT32_MAX),
    RANGE(max_posts, 1, (1u << 24) - 1),
    RANGE(max_timers, 1, (1u << 20) - 1),
    RANGE(workers, 0, 1024),
    RANGE(ws_max_message_size, 1, UINT32_MAX),
    RANGE(ws_ping_interval_ms, 0, UINT32_MAX),
    RANGE(ws_close_timeout_ms, 1, UINT32_MAX),
    RANGE(ws_max_buffered, 0, UINT32_MAX),
    RANGE(log_level, MOTE_LOG_ERROR, MOTE_LOG_DEBUG),
    RANGE(access_log, MOTE_ACCESS_LOG_MOTE, MOTE_ACCESS_LOG_OFF),
    RANGE(http2, 0, MOTE_HTTP2_ALL),
    RANGE(h2_max_concurrent_streams, 1, 1u << 16),
    RANGE(h2_stream_window, 1024, 0x7fffffff),
    RANGE(h2_connection_window, 65535, 0x7fffffff),
    RANGE(h2_header_table_size, 0, 1u << 16),
    RANGE(h2_max_glitches, 1, UINT32_MAX),
    RANGE(h2_max_session_memory, 65536, UINT32_MAX),
    RANGE(proxy_max_header, 16, 16 + 65535),
    RANGE(min_rate_window_ms, 100, UINT32_MAX),
};

/* A field of 4 or 8 bytes (an enum read as unsigned: a negative one is out of range). */
static uint64_t config_field(const mote_config *c, const field_range *r)
{
    const char *at = (const char *)c + r->off;
    uint32_t v32;
    uint64_t v64;
    if (r->size == sizeof v32) {
        memcpy(&v32, at, sizeof v32);
        return v32;
    }
    memcpy(&v64, at, sizeof v64);
    return v64;
}

static int holds(const mote_config *cfg, int ok, const char *why)
{
    if (!ok) config_log(cfg, "mote_config: %s", why);
    return ok;
}

int engine_config_check(const mote_config *c)
{
    size_t i;
    for (i = 0; i < sizeof config_ranges / sizeof config_ranges[0]; i++) {
        const field_range *r = &config_ranges[i];
        uint64_t v = config_field(c, r);
        if (v < r->min || v > r->max) {
            config_log(c, "mote_config.%s must be %lu to %lu (it is %llu)", r->name,
                       (unsigned long)r->min, (unsigned long)r->max, (unsigned long long)v);
            return MOTE_EINVAL;
        }
    }
    return holds(c, !c->server_name || server_name_is_valid(c->server_name),
                 "server_name must be at most 64 bytes without control characters") &&
                   holds(c, (!c->allocator.alloc) == (!c->allocator.free),
                         "allocator needs both alloc and free") &&
                   holds(c, !c->arena || (!c->allocator.alloc && c->arena_size > 0),
                         "arena needs arena_size, and no allocator beside it")
               ? MOTE_OK
               : MOTE_EINVAL;
}

const mote_allocator *engine_alloc(const mote_server *s)
{
    return &s->alloc;
}

const mote_config *engine_config(const mote_server *s)
{
    return &s->cfg;
}

unsigned engine_h2_modes(const mote_server *s)
{
    return s->env.h2_proto ? s->cfg.http2 : 0;
}

int engine_fixed_memory(const mote_server *s)
{
    return s->fixed_memory;
}

void *engine_shell(const mote_server *s)
{
    return s->shell_state;
}

/* ---- slots ------------------------------------------------------------------------------- */

static engine_conn *slot(const mote_server *s, uint32_t i)
{
    return (engine_conn *)(void *)(s->slots + (size_t)i * s->slot_size);
}

static uint32_t slot_index(const mote_server *s, const engine_conn *ec)
{
    return (uint32_t)((size_t)((const char *)ec - s->slots) / s->slot_size);
}




static engine_conn *slot_take(mote_server *s)
{
    engine_conn *ec;
    uint32_t gen;
    if (s->free_slot != NO_SLOT) {
        ec = slot(s, s->free_slot);
        s->free_slot = ec->next_free;
    } else if (s->slots_used < s->cfg.max_connections) {
        ec = slot(s, s->slots_used++);
        ec->gen = 0;
    } else {
        return NULL;
    }
    gen = ec->gen + 1;
    memset(ec, 0, s->slot_size);
    ec->gen = gen;
    ec->next_free = NO_SLOT;
    s->active++;
    return ec;
}

static void slot_release(mote_server *s, engine_conn *ec)
{
    ec->state = CS_FREE;
    ec->next_free = s->free_slot;
    s->free_slot = slot_index(s, ec);
    s->active--;
}

static void give_back_block(mote_server *s, char *block)
{
    if (block) pool_put(&s->blocks, block);
}

static void conn_close(engine_conn *ec)
{
    mote_server *s = engine_server_of(ec);
    give_back_block(s, conn_abort(&ec->core));
    timer_disarm(&ec->timer);
    s->shell->close(s->shell_state, ec);
    slot_release(s, ec);
}

/* ---- timeouts ----------------------------------------------------------------------------- */

static void arm_unless_armed(engine_conn *ec, enum timer_kind kind)
{
    mote_server *s = engine_server_of(ec);
    timer_list *l = &s->timers[kind];
    if (ec->timer.list != l) timer_arm(l, &ec->timer, s->now);
}

/* The one timeout that matters for what the connection is waiting for now. */
static void choose_timer(engine_conn *ec)
{
    mote_server *s = engine_server_of(ec);
    if (ec->state == CS_HANDSHAKE) arm_unless_armed(ec, T_HANDSHAKE);
    else if (ec->state == CS_LINGER) arm_unless_armed(ec, T_LINGER);
    else if (ec->write_blocked) arm_unless_armed(ec, T_WRITE);
    else {
        switch (conn_timer(&ec->core)) {
        case CT_BODY: arm_unless_armed(ec, T_BODY); break; /* re-armed as it flows */
        case CT_HEAD: arm_unless_armed(ec, T_HEAD); break;
        case CT_WS_IDLE: arm_unless_armed(ec, T_WS_IDLE); break; /* re-armed as bytes arrive */
        case CT_WS_CLOSE: arm_unless_armed(ec, T_WS_CLOSE); break;
        case CT_STALL: arm_unless_armed(ec, T_STALL); break; /* not restarted by bytes sent */
        case CT_IDLE:
            if (ec->idle_after != ec->core.requests) {
                /* idle since the last response, however often it was idle before */
                ec->idle_after = ec->core.requests;
                timer_arm(&s->timers[T_IDLE], &ec->timer, s->now);
            } else {
                arm_unless_armed(ec, T_IDLE);
            }
            break;
        default: timer_disarm(&ec->timer); break; /* the application's pace */
        }
    }
}

/* The kind mote_stats counts a timeout as. */
static enum mote_timeout_kind timeout_kind(enum timer_kind kind)
{
    switch (kind) {
    case T_HANDSHAKE: return MOTE_TIMEOUT_HANDSHAKE;
    case T_HEAD: return MOTE_TIMEOUT_HEAD;
    case T_BODY: return MOTE_TIMEOUT_BODY;
    case T_WRITE: case T_STALL: case T_LINGER: return MOTE_TIMEOUT_WRITE;
    default: return MOTE_TIMEOUT_IDLE;
    }
}

static void on_timeout(engine_conn *ec, enum timer_kind kind)
{
    if (kind != T_WS_IDLE) engine_server_of(ec)->st.timeouts[timeout_kind(kind)]++; /* a ping */
    if (ec->state == CS_OPEN && (kind == T_HEAD || kind == T_BODY || kind == T_WS_IDLE ||
                                 kind == T_WS_CLOSE)) {
        /* 408 where a request was late, and the connection ends; a WebSocket pings */
        conn_expire(&ec->core);
        if (conn_is_done(&ec->core)) ec->dead = 1;
    } else {
        engine_log(engine_server_of(ec), MOTE_LOG_DEBUG, "connection timed out");
        ec->dead = 1;
    }
    engine_settle(ec);
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

/* ---- a minimum transfer rate (cfg.min_rate_bytes) ------------------------------------------- */

/* Whether the connection's pace is the peer's now: a request body it awaits, or a response the
 * reader keeps waiting, in our buffers or in the transport's. (The application's own pace, a
 * paused body or a quiet stream, is not.) */
static int awaits_peer(mote_server *s, engine_conn *ec)
{
    if (ec->state != CS_OPEN) return 0;
    if (ec->write_blocked || conn_timer(&ec->core) == CT_BODY) return 1;
    return s->shell->unsent && s->shell->unsent(s->shell_state, ec);
}

/* Each connection moving its peer's bytes is measured over windows of min_rate_window_ms; one
 * below the rate is closed, however steadily it trickles (which no timeout catches: each byte
 * restarts them). */
static void check_rates(mote_server *s)
{
    uint64_t need = (uint64_t)s->cfg.min_rate_bytes * s->cfg.min_rate_window_ms;
    uint32_t i, now = (uint32_t)s->now;
    for (i = 0; i < s->slots_used; i++) {
        engine_conn *ec = slot(s, i);
        if (ec->state == CS_FREE) continue;
        if (!awaits_peer(s, ec)) {
            ec->rate_since = now;
            ec->rate_bytes = 0;
        } else if (now - ec->rate_since >= s->cfg.min_rate_window_ms) {
            if ((uint64_t)ec->rate_bytes * 1000u < need) {
                s->st.timeouts[MOTE_TIMEOUT_MIN_RATE]++;
                engine_log(s, MOTE_LOG_DEBUG, "connection closed: slower than %lu bytes/s",
                           (unsigned long)s->cfg.min_rate_bytes);
                ec->dead = 1;
                ec->reset = 1;
                engine_settle(ec);
                continue;
            }
            ec->rate_since = now;
            ec->rate_bytes = 0;
        }
    }
}

/* Periodic work: rates checked each second (when asked for), idle blocks given back. */
static void run_upkeep(mote_server *s)
{
    if (s->cfg.min_rate_bytes && s->active && s->now >= s->next_rate_check) {
        s->next_rate_check = s->now + 1000;
        check_rates(s);
    }
    if (s->cfg.pool_idle_ms && !s->fixed_memory && s->now >= s->next_trim) {
        size_t freed = pool_trim(&s->blocks) + pool_trim(&s->exchanges) + pool_trim(&s->sockets);
        s->next_trim = s->now + s->cfg.pool_idle_ms;
        if (freed && s->shell->memory_returned) s->shell->memory_returned(s->shell_state);
    }
}

static uint64_t upkeep_deadline(const mote_server *s)
{
    uint64_t next = TIMER_NONE;
    if (s->cfg.min_rate_bytes && s->active) next = s->next_rate_check;
    /* only while something could be given back: an idle server sleeps */
    if (s->cfg.pool_idle_ms && !s->fixed_memory &&
        (s->blocks.free_count || s->exchanges.free_count || s->sockets.free_count) &&
        s->next_trim < next)
        next = s->next_trim;
    return next;
}

void engine_run_timers(mote_server *s)
{
    int k;
    for (k = 0; k < T_COUNT; k++) {
        timer_node *n;
        while ((n = timer_first_expired(&s->timers[k], s->now)) != NULL) {
            engine_conn *ec = (engine_conn *)(void *)((char *)n - offsetof(engine_conn, timer));
            timer_disarm(n);
            on_timeout(ec, (enum timer_kind)k);
        }
    }
    run_app_timers(s);
    run_upkeep(s);
}

uint64_t engine_next_deadline(const mote_server *s)
{
    uint64_t next = s->stopping ? s->stop_deadline : TIMER_NONE, upkeep = upkeep_deadline(s);
    size_t i;
    int k;
    if (upkeep < next) next = upkeep;
    for (k = 0; k < T_COUNT; k++) {
        uint64_t t = timer_next(&s->timers[k]);
        if (t < next) next = t;
    }
    for (i = 0; i < s->app_timer_count; i++) {
        if (s->app_timers[i].active && s->app_timers[i].due < next) next = s->app_timers[i].due;
    }
    return next;
}

static uint64_t clock_ms(const mote_server *s)
{
    return s->shell->now_us(s->shell_state) / 1000;
}

int mote_server_timeout_ms(const mote_server *s)
{
    uint64_t next = engine_next_deadline(s), now = clock_ms(s);
    if (next == TIMER_NONE) return -1;
    if (next <= now) return 0;
    return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void update_date(mote_server *s)
{
    char date[HTTPDATE_LEN + 1];
    int64_t t;
    if (!s->cfg.send_date) return;
    t = s->shell->unix_s(s->shell_state);
    if (t < 0) { /* no wall clock: no Date field (RFC 9110 §6.6.1) */
        s->env.date_line_len = 0;
        return;
    }
    if (t == s->date_second) return;
    s->date_second = t;
    httpdate_format(date, t);
    s->env.date_line_len =
        (size_t)snprintf(s->env.date_line, sizeof s->env.date_line, "Date: %s\r\n", date);
}

void engine_clock(mote_server *s)
{
    s->now = clock_ms(s);
}

void engine_tick(mote_server *s)
{
    engine_clock(s);
    update_date(s);
}

uint64_t engine_now_ms(const mote_server *s)
{
    return s->now;
}

/* ---- connections -------------------------------------------------------------------------- */

engine_conn *engine_open(mote_server *s, const mote_addr *peer, int handshake)
{
    engine_conn *ec = slot_take(s);
    if (!ec) {
        s->st.refused++;
        return NULL;
    }
    s->st.accepted++;
    conn_init(&ec->core, &s->env, ec);
    ec->core.peer = *peer;
    /* taken from a listener's queue as it closes */
    ec->core.draining = (uint8_t)(s->stopping || engine_stop_requested(s));
    ec->state = handshake ? CS_HANDSHAKE : CS_OPEN;
    ec->rate_since = (uint32_t)s->now;
    choose_timer(ec);
    return ec;
}

void engine_preamble_done(engine_conn *ec)
{
    ec->state = CS_OPEN;
    timer_disarm(&ec->timer);
}

void engine_count_refused(mote_server *s)
{
    s->st.refused++;
}

void engine_count_error(mote_server *s, enum mote_error_kind kind)
{
    s->st.errors[kind]++;
}

void engine_handshake_failed(engine_conn *ec)
{
    engine_server_of(ec)->st.tls_failed++;
    engine_fail(ec);
}

int engine_via(const mote_conn *c, mote_addr *out)
{
    engine_conn *ec = c->user;
    const mote_server *s = engine_server_of(ec);
    return s->shell->via ? s->shell->via(s->shell_state, ec, out) : -1;
}

const trusted_net *engine_trusted(const mote_server *s, size_t *count)
{
    *count = s->trusted_count;
    return s->trusted;
}

const mote_tls_peer *engine_tls_peer(const mote_conn *c)
{
    engine_conn *ec = c->user;
    const mote_server *s = engine_server_of(ec);
    return c->is_tls && s->shell->tls_peer ? s->shell->tls_peer(s->shell_state, ec) : NULL;
}

void engine_handshake_done(engine_conn *ec, const char *alpn, int resumed)
{
    mote_server *s = engine_server_of(ec);
    if (resumed) s->st.tls_resumed++;
    else s->st.tls_full++;
    ec->state = CS_OPEN;
    ec->core.is_tls = 1;
    timer_disarm(&ec->timer);
    /* ALPN chose HTTP/2 (offered only where the listener allows it): the first bytes are its */
    if (alpn && strcmp(alpn, "h2") == 0 && ec->core.env->h2_proto && !ec->core.b)
        ec->core.proto = ec->core.env->h2_proto;
}

/* Bytes moved in the connection's window of min_rate_bytes (saturating). */
static void count_rate(const mote_server *s, engine_conn *ec, size_t n)
{
    if (!s->cfg.min_rate_bytes) return;
    ec->rate_bytes = n < UINT32_MAX - ec->rate_bytes ? ec->rate_bytes + (uint32_t)n : UINT32_MAX;
}

size_t engine_read_space(engine_conn *ec, char **at)
{
    mote_server *s = engine_server_of(ec);
    if (ec->dead) return 0;
    if (!ec->core.b) {
        char *block;
        if (ec->core.closing || ec->core.peer_eof) return 0;
        block = pool_get(&s->blocks);
        if (!block || conn_attach(&ec->core, block) < 0) {
            give_back_block(s, block);
            engine_log(s, MOTE_LOG_ERROR, "out of memory for a connection's buffers");
            ec->dead = 1;
            return 0;
        }
    }
    return conn_read_space(&ec->core, at);
}

void engine_received(engine_conn *ec, size_t n)
{
    mote_server *s = engine_server_of(ec);
    if (ec->timer.list == &s->timers[T_BODY] || ec->timer.list == &s->timers[T_WS_IDLE])
        timer_arm(ec->timer.list, &ec->timer, s->now);
    s->st.bytes_in += n;
    count_rate(s, ec, n);
    conn_received(&ec->core, n);
}


int engine_wants_input(engine_conn *ec)
{
    char *at;
    if (ec->core.b) return conn_read_space(&ec->core, &at) > 0;
    return !ec->core.closing && !ec->core.peer_eof;
}


void engine_sent(engine_conn *ec, size_t n)
{
    mote_server *s = engine_server_of(ec);
    if (ec->timer.list == &s->timers[T_WRITE]) timer_arm(&s->timers[T_WRITE], &ec->timer, s->now);
    s->st.bytes_out += n;
    count_rate(s, ec, n);
    conn_sent(&ec->core, n);
}






void engine_linger_received(engine_conn *ec, size_t n)
{
    ec->linger_bytes += (uint32_t)n;
    if (ec->linger_bytes > LINGER_MAX_BYTES) ec->dead = 1;
}

/* Closes politely: stop sending, then read and drop what the client still sends, so that
 * unread bytes do not turn our close into a reset that destroys the response in flight. */
static void begin_linger(engine_conn *ec)
{
    mote_server *s = engine_server_of(ec);
    if (ec->dead || ec->core.peer_eof || s->shell->shutdown_write(s->shell_state, ec)) {
        conn_close(ec);
        return;
    }
    give_back_block(s, conn_abort(&ec->core));
    ec->state = CS_LINGER;
    ec->linger_bytes = 0;
    s->shell->interest(s->shell_state, ec, ENGINE_READ);
    choose_timer(ec);
}

void engine_settle(engine_conn *ec)
{
    mote_server *s = engine_server_of(ec);
    unsigned want = 0;
    if (ec->state == CS_FREE) return;
    if (ec->dead) {
        conn_close(ec);
        return;
    }
    if (ec->state == CS_OPEN) {
        if (conn_is_done(&ec->core)) {
            begin_linger(ec);
            return;
        }
        give_back_block(s, conn_detach(&ec->core));
        if (engine_wants_input(ec)) want |= ENGINE_READ;
        if (ec->write_blocked) want |= ENGINE_WRITE;
        else if (ec->core.b && conn_pending(&ec->core, &(const out_seg *){NULL})) want |= ENGINE_WRITE;
    } else if (ec->state == CS_LINGER) {
        want = ENGINE_READ;
    } else {
        return; /* a handshake: the shell knows what it waits for */
    }
    s->shell->interest(s->shell_state, ec, want);
    if (ec->dead) {
        conn_close(ec);
        return;
    }
    choose_timer(ec);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

void engine_request_stop(mote_server *s)
{
    atomic_store(&s->stop_requested, 1);
}

int engine_stop_requested(const mote_server *s)
{
    return atomic_load(&s->stop_requested);
}

int mote_server_draining(const mote_server *s)
{
    return s && engine_stop_requested(s);
}

/* A connection whose protocol says goodbye (GOAWAY, a close frame) gets a block to say it in,
 * if it gave its own back while idle; without one it is closed all the same. */
static void lend_block_for_goodbye(mote_server *s, engine_conn *ec)
{
    char *block;
    if (ec->state != CS_OPEN || ec->core.b || ec->core.closing || !ec->core.proto->going_away)
        return;
    block = pool_get(&s->blocks);
    if (block && conn_attach(&ec->core, block) < 0) give_back_block(s, block);
}

void engine_begin_shutdown(mote_server *s)
{
    uint32_t i;
    s->stopping = 1;
    s->stop_deadline = s->now + s->cfg.shutdown_timeout_ms;
    if (s->cfg.on_shutdown) s->cfg.on_shutdown(s, s->cfg.shutdown_user);
    for (i = 0; i < s->slots_used; i++) {
        engine_conn *ec = slot(s, i);
        if (ec->state == CS_FREE) continue;
        if (ec->state == CS_HANDSHAKE) ec->dead = 1;
        lend_block_for_goodbye(s, ec);
        conn_going_away(&ec->core);
        engine_settle(ec);
    }
}

int engine_stopping(const mote_server *s)
{
    return s->stopping;
}

int engine_shutdown_done(const mote_server *s)
{
    return s->stopping && (s->active == 0 || s->now >= s->stop_deadline);
}

void engine_close_all(mote_server *s)
{
    uint32_t i;
    for (i = 0; s->slots && i < s->slots_used; i++) {
        if (slot(s, i)->state != CS_FREE) conn_close(slot(s, i));
    }
}

void engine_mark_stopped(mote_server *s)
{
    s->stopped = 1;
    s->shell->lock(s->shell_state);
    s->posts_closed = 1; /* tasks still queued are not run */
    s->shell->unlock(s->shell_state);
}

int engine_stopped(const mote_server *s)
{
    return s->stopped;
}

/* ---- posted tasks --------------------------------------------------------------------------- */

static int post(mote_server *s, const posted_task *task)
{
    int rc = MOTE_OK, was_empty;
    s->shell->lock(s->shell_state);
    was_empty = s->post_count == 0;
    if (s->posts_closed) rc = MOTE_ESTATE;
    else if (s->post_count == s->cfg.max_posts) rc = MOTE_EAGAIN;
    else s->posts[(s->post_head + s->post_count++) % s->cfg.max_posts] = *task;
    s->shell->unlock(s->shell_state);
    if (rc == MOTE_OK && was_empty) s->shell->wake(s->shell_state); /* one wake-up for a burst */
    return rc;
}

int mote_post(mote_server *s, mote_task_fn fn, void *arg)
{
    posted_task t;
    if (!s || !fn) return MOTE_EINVAL;
    memset(&t, 0, sizeof t);
    t.fn = fn;
    t.arg = arg;
    return post(s, &t);
}

mote_handle mote_response_handle(mote_response *res)
{
    mote_handle h;
    memset(&h, 0, sizeof h);
    if (res) {
        mote_exchange *x = exchange_of_response(res);
        engine_conn *ec = x->conn->user;
        mote_server *s = engine_server_of(ec);
        h.loop = s;
        h.conn = slot_index(s, ec);
        h.gen = ec->gen;
        h.id = x->id;
    }
    return h;
}

int mote_response_post(mote_handle h, mote_response_fn fn, void *arg)
{
    posted_task t;
    if (!h.loop || !fn) return MOTE_EINVAL;
    memset(&t, 0, sizeof t);
    t.res_fn = fn;
    t.arg = arg;
    t.handle = h;
    return post(h.loop, &t);
}

/* The connection a handle names, if it is still the same one. */
static engine_conn *conn_of_handle(mote_server *s, const mote_handle *h)
{
    engine_conn *ec;
    if (h->conn >= s->slots_used) return NULL;
    ec = slot(s, h->conn);
    return ec->gen == h->gen && ec->state == CS_OPEN ? ec : NULL;
}

/* The response a handle names, if its request is still open. */
static mote_response *response_of(mote_server *s, const mote_handle *h)
{
    engine_conn *ec = conn_of_handle(s, h);
    mote_exchange *x;
    if (!ec || !ec->core.b) return NULL;
    x = ec->core.proto->find(&ec->core, h->id);
    return x ? &x->res : NULL;
}

#if MOTE_CONFIG_WS
static mote_ws *ws_of_handle(mote_server *s, const mote_handle *h)
{
    engine_conn *ec = conn_of_handle(s, h);
    return ec ? ws_of_conn(&ec->core) : NULL;
}

mote_handle mote_ws_handle(mote_ws *ws)
{
    mote_handle h;
    memset(&h, 0, sizeof h);
    if (ws) {
        engine_conn *ec = ws->conn->user;
        mote_server *s = engine_server_of(ec);
        h.loop = s;
        h.conn = slot_index(s, ec);
        h.gen = ec->gen;
    }
    return h;
}

int mote_ws_post(mote_handle h, mote_ws_fn fn, void *arg)
{
    posted_task t;
    if (!h.loop || !fn) return MOTE_EINVAL;
    memset(&t, 0, sizeof t);
    t.ws_fn = fn;
    t.arg = arg;
    t.handle = h;
    return post(h.loop, &t);
}

int mote_ws_each(mote_server *s, const char *path, mote_ws_fn fn, void *arg)
{
    uint32_t i;
    int n = 0;
    if (!s || !fn) return MOTE_EINVAL;
    for (i = 0; s->slots && i < s->slots_used; i++) {
        engine_conn *ec = slot(s, i);
        mote_ws *ws = ec->state == CS_OPEN ? ws_of_conn(&ec->core) : NULL;
        if (!ws || (path && strcmp(mote_ws_route_path(ws), path) != 0)) continue;
        fn(ws, arg);
        n++;
    }
    return n;
}

#endif

void mote_server_stats(const mote_server *s, mote_stats *out)
{
    uint32_t i;
    memset(out, 0, sizeof *out);
    if (!s) return;
    *out = s->st;
    out->requests = s->st.requests_http1 + s->st.requests_http2;
    for (i = 0; s->slots && i < s->slots_used; i++) {
        const engine_conn *ec = slot(s, i);
        if (ec->state == CS_FREE) continue;
        out->connections++;
#if MOTE_CONFIG_WS
        if (ec->core.proto == &ws_proto) out->websockets++;
#endif
    }
    out->uptime_ms = clock_ms(s) - s->started;
}

static void add_counts(uint64_t *to, const uint64_t *from, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) to[i] += from[i];
}

void mote_stats_add(mote_stats *to, const mote_stats *f)
{
    to->connections += f->connections;
    to->websockets += f->websockets;
    to->accepted += f->accepted;
    to->refused += f->refused;
    to->requests += f->requests;
    to->requests_http1 += f->requests_http1;
    to->requests_http2 += f->requests_http2;
    add_counts(to->status, f->status, 5);
    to->bytes_in += f->bytes_in;
    to->bytes_out += f->bytes_out;
    to->tls_full += f->tls_full;
    to->tls_resumed += f->tls_resumed;
    to->tls_failed += f->tls_failed;
    add_counts(to->timeouts, f->timeouts, MOTE_TIMEOUT_KINDS);
    add_counts(to->errors, f->errors, MOTE_ERROR_KINDS);
    add_counts(to->latency, f->latency, MOTE_LATENCY_BUCKETS);
    to->latency_ms_sum += f->latency_ms_sum;
    if (f->uptime_ms > to->uptime_ms) to->uptime_ms = f->uptime_ms;
}

/* Runs the posted tasks, one at a time, without holding the lock while they run. */
void engine_run_posts(mote_server *s)
{
    for (;;) {
        posted_task t;
        s->shell->lock(s->shell_state);
        if (s->post_count == 0) {
            s->shell->unlock(s->shell_state);
            return;
        }
        t = s->posts[s->post_head];
        s->post_head = (s->post_head + 1) % s->cfg.max_posts;
        s->post_count--;
        s->shell->unlock(s->shell_state);
        if (t.fn) t.fn(s, t.arg);
        else if (t.res_fn) t.res_fn(response_of(s, &t.handle), t.arg);
#if MOTE_CONFIG_WS
        else t.ws_fn(ws_of_handle(s, &t.handle), t.arg);
#endif
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
    t->due = clock_ms(s) + delay_ms;
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

/* ---- the hooks of the connections ----------------------------------------------------------- */

/* The exchange's clock: microseconds for the access line, else the loop's tick in
 * milliseconds (no system call per request). */
static uint64_t exchange_clock(const mote_server *s)
{
    return s->logs_access ? s->shell->now_us(s->shell_state) : s->now;
}

static void on_exchange_begin(mote_exchange *x)
{
    x->begun = exchange_clock(x->conn->env->owner);
}

static void count_exchange(mote_server *s, const mote_exchange *x, uint64_t ms)
{
    static const uint32_t bounds[] = MOTE_LATENCY_BOUNDS_MS;
    unsigned status = x->res.status;
    size_t b = 0;
    if (status - 100u < 500u) s->st.status[status / 100u - 1u]++;
    if (s->env.h2_proto && x->conn->proto == s->env.h2_proto) s->st.requests_http2++;
    else s->st.requests_http1++;
    while (b < sizeof bounds / sizeof bounds[0] && ms > bounds[b]) b++;
    s->st.latency[b]++;
    s->st.latency_ms_sum += ms;
}

#if MOTE_CONFIG_ACCESS_LINES
static void log_access(mote_server *s, const mote_exchange *x, uint64_t micros);
#endif

static void on_exchange_end(mote_exchange *x)
{
    mote_server *s = x->conn->env->owner;
    uint64_t took = x->req.valid ? exchange_clock(s) - x->begun : 0;
    if (!s->logs_access) {
        count_exchange(s, x, took);
        return;
    }
    count_exchange(s, x, took / 1000u);
#if MOTE_CONFIG_ACCESS_LINES
    log_access(s, x, took);
#endif
}

#if MOTE_CONFIG_ACCESS_LINES
static void log_access(mote_server *s, const mote_exchange *x, uint64_t micros)
{
    const mote_conn *c = x->conn;
    char address[ADDR_TEXT_MAX], line[ACCESS_LINE_MAX];
    access_entry e;
    if (addr_format(&c->peer, address, sizeof address) < 0) address[0] = '\0';
    memset(&e, 0, sizeof e);
    e.address = address;
    e.port = c->peer.port;
    e.ipv6 = c->peer.family == 6;
    if (x->req.valid) {
        e.method = mote_request_method(&x->req);
        e.target = mote_request_target(&x->req);
        e.micros = micros;
    }
    /* per request: look up only what the format prints */
    if (x->req.valid && (s->cfg.access_log == MOTE_ACCESS_LOG_COMBINED ||
                         s->cfg.access_log == MOTE_ACCESS_LOG_JSON)) {
        e.referer = mote_request_header(&x->req, "Referer");
        e.user_agent = mote_request_header(&x->req, "User-Agent");
    }
    if (s->cfg.access_log != MOTE_ACCESS_LOG_MOTE) e.unix_seconds = s->shell->unix_s(s->shell_state);
    e.version = x->req.version;
    e.status = x->res.status;
    e.bytes = x->res.body_bytes;
    access_log_line(line, sizeof line, (int)s->cfg.access_log, &e);
    s->cfg.log(s->cfg.log_user, MOTE_LOG_INFO, line);
}
#endif

/* Output queued by the application's own events (a timer, a post): have the shell write it. */
static void on_kick(mote_conn *c)
{
    engine_conn *ec = c->user;
    mote_server *s = c->env->owner;
    if (ec->state == CS_OPEN) s->shell->interest(s->shell_state, ec, ENGINE_READ | ENGINE_WRITE);
}

static int on_borrow(mote_conn *c)
{
    mote_server *s = c->env->owner;
    char *block = pool_get(&s->blocks);
    if (block && conn_attach(c, block) == MOTE_OK) return MOTE_OK;
    give_back_block(s, block);
    engine_log(s, MOTE_LOG_ERROR, "out of memory for a connection's buffers");
    return MOTE_ENOMEM;
}

static void on_note(mote_exchange *x, int level, const char *what)
{
    mote_server *s = x->conn->env->owner;
    char peer[ENGINE_PEER_TEXT_MAX];
    if (!engine_log_enabled(s, level)) return;
    engine_peer_text(&x->conn->peer, peer, sizeof peer);
    if (x->req.valid)
        engine_log(s, level, "%s port %u, %s %s: %s", peer, (unsigned)x->conn->peer.port,
                   mote_request_method(&x->req), mote_request_target(&x->req), what);
    else
        engine_log(s, level, "%s port %u: %s", peer, (unsigned)x->conn->peer.port, what);
}

/* ---- the server ---------------------------------------------------------------------------- */

mote_server *mote_request_server(const mote_request *req)
{
    return req ? exchange_of_request(req)->conn->env->owner : NULL;
}

void engine_set_loops(mote_server *s, mote_server **workers, unsigned count)
{
    s->workers = workers;
    s->worker_count = count;
}

void engine_set_loop_index(mote_server *s, unsigned index)
{
    s->loop_index = index;
}

void engine_share_routes(mote_server *worker, const mote_server *first)
{
    worker->env.routes = &first->routes;
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

void mote_server_memory(const mote_server *s, size_t *idle, size_t *active)
{
    if (idle) *idle = s->slot_size;
    if (active) *active = pool_block_cost(&s->blocks) + pool_block_cost(&s->exchanges);
}

int mote_route(mote_server *s, const mote_route_def *def)
{
    if (!s) return MOTE_EINVAL;
    return router_add(&s->routes, def, NULL);
}

int engine_route_owned(mote_server *s, const mote_route_def *def, void *owned,
                       void (*release)(void *owned))
{
    return router_add_owned(&s->routes, def, owned, release);
}

int mote_ws_route(mote_server *s, const mote_ws_route_def *def)
{
#if MOTE_CONFIG_WS
    mote_route_def rd;
    ws_route *wr;
    int rc;
    if (!s || !def) return MOTE_EINVAL;
    rc = ws_route_create(def, &s->alloc, s->env.ws_max_message, &wr);
    if (rc < 0) return rc;
    memset(&rd, 0, sizeof rd);
    rd.path = def->path;
    rd.match = def->match;
    rd.handler = ws_handshake;
    rd.user = wr;
    rd.methods = MOTE_GET;
    rd.auth = def->auth;
    rc = router_add(&s->routes, &rd, wr); /* the route frees wr with itself */
    if (rc < 0) ws_route_free(wr, &s->alloc);
    return rc;
#else
    (void)s;
    (void)def;
    return MOTE_ENOTSUP;
#endif
}

/* Static-memory mode takes now what it would take later: every block. */
static int take_memory_now(mote_server *s)
{
    if (!s->fixed_memory) return MOTE_OK;
    return pool_fill(&s->blocks) < 0 || pool_fill(&s->exchanges) < 0 || pool_fill(&s->sockets) < 0
               ? MOTE_ENOMEM
               : MOTE_OK;
}

static void env_init(mote_server *s)
{
    conn_env *e = &s->env;
    conn_env_init(e, &s->cfg, &s->routes, s->alloc, s->fixed_memory);
    e->exchanges = &s->exchanges;
    e->sockets = &s->sockets;
    e->ws_buffered = &s->ws_buffered;
    e->first_proto = &h1_proto;
    e->owner = s;
    s->logs_access = MOTE_CONFIG_ACCESS_LINES && engine_log_enabled(s, MOTE_LOG_INFO) &&
                     s->cfg.access_log != MOTE_ACCESS_LOG_OFF;
    e->exchange_begin = on_exchange_begin; /* mote_stats, and the access line */
    e->exchange_end = on_exchange_end;
    e->kick = on_kick;
    e->borrow = on_borrow;
    e->note = on_note;
    e->read_file = s->shell->read_file;
#if MOTE_CONFIG_HTTP2
    if (s->cfg.http2 && !s->fixed_memory) e->h2_proto = &h2_proto; /* nghttp2 allocates */
#endif
}

static int parse_trusted(mote_server *s)
{
    char bad[64];
    int rc = trusted_parse(s->cfg.trusted_proxies, &s->alloc, &s->trusted, &s->trusted_count,
                           bad, sizeof bad);
    if (rc == MOTE_EINVAL)
        engine_log(s, MOTE_LOG_ERROR, "mote_config.trusted_proxies: '%s' is not a network", bad);
    return rc;
}

int engine_create(mote_server **out, const mote_config *cfg, const mote_allocator *alloc,
                  const shell_ops *ops, size_t shell_size, size_t shell_conn_size)
{
    const mote_allocator a = *alloc;
    size_t head = (sizeof(mote_server) + 15u) & ~(size_t)15u;
    mote_server *s = a.alloc(a.ctx, head + shell_size);
    int rc;

    *out = NULL;
    if (!s) return MOTE_ENOMEM;
    memset(s, 0, head + shell_size);
    s->cfg = *cfg;
    s->alloc = a;
    s->shell = ops;
    s->shell_state = (char *)s + head;
    s->fixed_memory = cfg->arena != NULL;
    s->free_slot = NO_SLOT;
    s->date_second = -1;
    s->started = clock_ms(s);
    s->slot_size = ENGINE_CONN_SIZE + ((shell_conn_size + 7u) & ~(size_t)7u);
    atomic_init(&s->stop_requested, 0);
    router_init(&s->routes, a);
    env_init(s);
    pool_init(&s->blocks, a, conn_block_size(&s->env), cfg->max_connections);
    /* HTTP/2 runs several exchanges on a connection: more blocks, each taken only when used */
    pool_init(&s->exchanges, a, exchange_block_size(&s->env),
              cfg->max_connections * (s->env.h2_proto ? 4u : 1u));
#if MOTE_CONFIG_WS
    pool_init(&s->sockets, a, ws_socket_size(), cfg->max_connections);
#else
    pool_init(&s->sockets, a, 0, 0);
#endif
    timer_list_init(&s->timers[T_HANDSHAKE], cfg->handshake_timeout_ms);
    timer_list_init(&s->timers[T_HEAD], cfg->head_timeout_ms);
    timer_list_init(&s->timers[T_IDLE], cfg->idle_timeout_ms);
    timer_list_init(&s->timers[T_BODY], cfg->body_timeout_ms);
    timer_list_init(&s->timers[T_WRITE], cfg->write_timeout_ms);
    timer_list_init(&s->timers[T_LINGER], LINGER_MS);
    timer_list_init(&s->timers[T_WS_IDLE], cfg->ws_ping_interval_ms);
    timer_list_init(&s->timers[T_WS_CLOSE], cfg->ws_close_timeout_ms);
    timer_list_init(&s->timers[T_STALL], cfg->write_timeout_ms);
    s->slots = a.alloc(a.ctx, cfg->max_connections * s->slot_size);
    s->posts = a.alloc(a.ctx, cfg->max_posts * sizeof *s->posts);
    s->app_timers = a.alloc(a.ctx, cfg->max_timers * sizeof *s->app_timers);
    rc = s->slots && s->posts && s->app_timers ? take_memory_now(s) : MOTE_ENOMEM;
    if (rc == MOTE_OK) rc = parse_trusted(s);
    if (rc < 0) {
        engine_destroy(s);
        return rc;
    }
    *out = s;
    return MOTE_OK;
}

void engine_destroy(mote_server *s)
{
    mote_allocator a;
    if (!s) return;
    a = s->alloc;
    pool_free(&s->blocks);
    pool_free(&s->exchanges);
    pool_free(&s->sockets);
    router_free(&s->routes);
    a.free(a.ctx, s->posts);
    a.free(a.ctx, s->app_timers);
    a.free(a.ctx, s->slots);
    a.free(a.ctx, s->trusted);
    a.free(a.ctx, s);
}
