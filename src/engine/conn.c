/* conn.c - a connection: its block, its output queue, and the calls the shell makes; see conn.h.
 *
 * The output is a short queue of segments over bytes that never move once queued: the output
 * buffer is only appended to, and starts over when every byte in it has been sent. So a TLS
 * write refused for now can be retried with the same bytes, and a stack that sends in place
 * (lwIP) can keep pointing at them until they are acknowledged. */
#include "engine/conn.h"

#include <stddef.h>
#include <string.h>

static size_t block_header_size(void)
{
    return (sizeof(conn_block) + 15u) & ~(size_t)15u;
}

uint32_t conn_input_size(size_t max_request_line, size_t max_header_bytes, size_t body_read_room)
{
    return (uint32_t)((max_request_line + 2 + max_header_bytes + body_read_room + 7) & ~(size_t)7);
}

size_t conn_block_size(const conn_env *env)
{
    return block_header_size() + env->in_size + env->out_size;
}

void conn_env_init(conn_env *env, const mote_config *cfg, const router *routes,
                   mote_allocator alloc, int fixed_memory)
{
    size_t n = 0;
    const char *name = cfg->server_name;
    memset(env, 0, sizeof *env);
    env->routes = routes;
    env->max_request_line = (uint32_t)cfg->max_request_line;
    env->max_header_bytes = (uint32_t)cfg->max_header_bytes;
    env->max_headers = (uint32_t)cfg->max_headers;
    env->max_response_header_bytes = (uint32_t)cfg->max_response_header_bytes;
    env->body_read_room = (uint32_t)cfg->body_read_room;
    env->in_size = conn_input_size(cfg->max_request_line, cfg->max_header_bytes,
                                   cfg->body_read_room);
    env->out_size = (uint32_t)cfg->response_buffer_size;
    env->max_body_size = cfg->max_body_size;
    env->max_drain_size = cfg->max_drain_size;
    env->alloc = alloc;
    env->fixed_memory = fixed_memory;
#if MOTE_CONFIG_WS
    env->ws_max_message = cfg->ws_max_message_size;
    env->ws_ping_ms = cfg->ws_ping_interval_ms;
    env->ws_max_buffered = cfg->ws_max_buffered;
#endif
#if MOTE_CONFIG_HTTP2
    env->h2_modes = (uint8_t)cfg->http2;
    env->h2_max_streams = cfg->h2_max_concurrent_streams;
    env->h2_stream_window = cfg->h2_stream_window;
    env->h2_conn_window = cfg->h2_connection_window;
    env->h2_header_table_size = cfg->h2_header_table_size;
    env->h2_max_glitches = cfg->h2_max_glitches;
    env->h2_max_session_memory = cfg->h2_max_session_memory;
#endif
    if (name && name[0]) {
        size_t len = strlen(name); /* at most 64: the configuration was checked */
        memcpy(env->server_line, "Server: ", 8);
        memcpy(env->server_line + 8, name, len);
        memcpy(env->server_line + 8 + len, "\r\n", 2);
        n = 8 + len + 2;
    }
    env->server_line_len = n;
}

void conn_init(mote_conn *c, const conn_env *env, void *user)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    c->user = user;
    c->proto = env->first_proto;
#if MOTE_CONFIG_HTTP2
    c->h2_modes = env->h2_proto ? env->h2_modes : 0;
#endif
}

int conn_attach(mote_conn *c, char *block)
{
    conn_block *b = (conn_block *)(void *)block;
    int rc;
    b->in = block + block_header_size();
    b->out = b->in + c->env->in_size;
    b->in_start = b->in_len = 0;
    b->out_len = b->out_live = 0;
    b->seg_first = b->seg_count = b->files = 0;
    memset(&b->proto, 0, sizeof b->proto);
    c->b = b;
    rc = c->proto->start(c);
    if (rc < 0) c->b = NULL;
    return rc;
}

/* ---- the output queue ------------------------------------------------------------------ */

static out_seg *front(const mote_conn *c)
{
    return &c->b->segs[c->b->seg_first];
}

static out_seg *back(const mote_conn *c)
{
    return &c->b->segs[c->b->seg_first + c->b->seg_count - 1];
}

/* Frees or closes what a segment holds; a mark's release is told whether all before it went. */
static void seg_release(const mote_conn *c, out_seg *s, int completed)
{
    if (s->kind == OUT_OWNED) {
        c->env->alloc.free(c->env->alloc.ctx, s->u.owned);
    } else if (s->kind == OUT_FILE) {
        if (s->u.file.file.close) s->u.file.file.close(s->u.file.file.ctx);
    } else if (s->kind == OUT_MARK) {
        if (s->u.mark.fn) s->u.mark.fn(s->u.mark.user, completed);
    }
}

static void pop_front(mote_conn *c, int completed)
{
    conn_block *b = c->b;
    out_seg s = *front(c);
    if (s.kind == OUT_FILE) b->files--;
    b->seg_first++;
    if (--b->seg_count == 0) b->seg_first = 0;
    if (b->out_live == 0) b->out_len = 0; /* nothing in the buffer is waiting: start over */
    seg_release(c, &s, completed);
}

/* Marks and emptied segments at the front are settled: nothing of theirs is left to send. */
static void settle_front(mote_conn *c)
{
    while (c->b && c->b->seg_count && front(c)->len == 0) pop_front(c, 1);
}

/* The front segment, all sent: the common case of conn_sent(). */
static int sent_all_of_front(mote_conn *c, size_t n)
{
    conn_block *b = c->b;
    out_seg *s = front(c);
    if (s->kind != OUT_BUFFER || n != s->len) return 0;
    b->out_live -= (uint32_t)n;
    if (--b->seg_count == 0) {
        b->seg_first = 0;
        if (b->out_live == 0) b->out_len = 0;
    } else {
        b->seg_first++;
        if (b->out_live == 0) b->out_len = 0;
    }
    return 1;
}

static int push(mote_conn *c, const out_seg *s)
{
    conn_block *b = c->b;
    if (b->seg_count == CONN_SEGMENTS) return MOTE_EAGAIN;
    if (b->seg_first + b->seg_count == CONN_SEGMENTS) {
        memmove(b->segs, b->segs + b->seg_first, b->seg_count * sizeof *b->segs);
        b->seg_first = 0;
    }
    b->segs[b->seg_first + b->seg_count++] = *s;
    if (s->kind == OUT_FILE) b->files++;
    return MOTE_OK;
}

/* Whether bytes appended to the buffer now extend the last segment rather than need one. */
static int tail_extends_back(const mote_conn *c)
{
    const out_seg *s;
    if (!c->b->seg_count) return 0;
    s = back(c);
    return s->kind == OUT_BUFFER && s->data + s->len == c->b->out + c->b->out_len;
}

void conn_out_commit(mote_conn *c, size_t n)
{
    conn_block *b = c->b;
    if (n == 0) return;
    if (b->seg_count == 0) { /* the common case: an empty queue */
        out_seg *s = &b->segs[0];
        s->kind = OUT_BUFFER;
        s->len = n;
        s->data = b->out + b->out_len;
        b->seg_first = 0;
        b->seg_count = 1;
    } else if (tail_extends_back(c)) {
        back(c)->len += n;
    } else {
        out_seg s;
        s.kind = OUT_BUFFER;
        s.len = n;
        s.data = b->out + b->out_len;
        (void)push(c, &s); /* conn_out_room() said there is a segment for it */
    }
    b->out_len += (uint32_t)n;
    b->out_live += (uint32_t)n;
}

int conn_out_copy(mote_conn *c, const void *data, size_t n)
{
    if (n == 0) return MOTE_OK;
    if (conn_out_room(c) < n) return MOTE_EAGAIN;
    memcpy(conn_out_tail(c), data, n);
    conn_out_commit(c, n);
    return MOTE_OK;
}

int conn_out_queue(mote_conn *c, const out_seg *seg)
{
    return push(c, seg);
}

void conn_output_queued(mote_conn *c)
{
    if (!c->busy && c->env->kick) c->env->kick(c);
}

/* ---- the shell's calls ------------------------------------------------------------------- */

int conn_is_idle(const mote_conn *c)
{
    if (!c->b) return 1;
    return !c->busy && c->b->seg_count == 0 && c->proto->is_idle(c);
}

char *conn_detach(mote_conn *c)
{
    char *block;
    if (!c->b || !conn_is_idle(c)) return NULL;
    c->proto->stop(c, 0);
    block = (char *)c->b;
    c->b = NULL;
    return block;
}

int conn_borrow(mote_conn *c)
{
    if (c->b) return MOTE_OK;
    if (!c->env->borrow) return MOTE_ENOMEM;
    return c->env->borrow(c);
}

int conn_switch(mote_conn *c, const proto_ops *next, void *ext)
{
    c->proto->stop(c, 0);
    memset(&c->b->proto, 0, sizeof c->b->proto);
    c->proto = next;
    c->ext = ext;
    return next->start(c);
}

size_t conn_read_space(mote_conn *c, char **at)
{
    if ((c->closing && !c->proto->reads_while_closing) || c->peer_eof || !c->b) return 0;
    return c->proto->read_space(c, at);
}

void conn_received(mote_conn *c, size_t n)
{
    uint8_t was = c->busy;
    c->busy = 1;
    c->proto->received(c, n);
    c->busy = was;
}

void conn_peer_eof(mote_conn *c)
{
    uint8_t was = c->busy;
    c->peer_eof = 1;
    if (!c->b) {
        c->closing = 1;
        return;
    }
    c->busy = 1;
    c->proto->peer_eof(c);
    c->busy = was;
}

size_t conn_pending(mote_conn *c, const out_seg **segs)
{
    const conn_block *b;
    size_t n;
    if (c->proto->produce && c->b && !c->busy) {
        c->busy = 1;
        c->proto->produce(c);
        c->busy = 0;
    }
    b = c->b;
    if (b && b->seg_count && front(c)->len == 0) {
        settle_front(c);
        b = c->b;
    }
    if (!b || !b->seg_count) {
        *segs = NULL;
        return 0;
    }
    *segs = front(c);
    for (n = 1; n < b->seg_count && (*segs)[n].len > 0; n++) {
    }
    return n;
}

void conn_sent(mote_conn *c, size_t n)
{
    uint8_t was = c->busy;
    if (sent_all_of_front(c, n)) n = 0;
    while (n > 0 && c->b->seg_count) {
        out_seg *s = front(c);
        size_t take = n < s->len ? n : s->len;
        if (s->kind == OUT_FILE) s->u.file.off += take;
        else s->data += take;
        if (s->kind == OUT_BUFFER) c->b->out_live -= (uint32_t)take;
        s->len -= take;
        n -= take;
        if (s->len == 0) pop_front(c, 1);
    }
    settle_front(c);
    c->busy = 1;
    c->proto->sent(c);
    c->busy = was;
}

size_t conn_bounce_space(mote_conn *c, char **at, size_t max)
{
    const out_seg *s;
    size_t room;
    settle_front(c);
    if (!c->b || !c->b->seg_count || !conn_seg_room(c, 1)) return 0;
    s = front(c);
    if (s->kind != OUT_FILE) return 0;
    room = c->env->out_size - c->b->out_len;
    if (max > room) max = room;
    if (max > s->len) max = s->len;
    *at = conn_out_tail(c);
    return max;
}

void conn_bounced(mote_conn *c, size_t n)
{
    conn_block *b = c->b;
    out_seg *file = front(c), bounce;
    if (n == 0) return;
    bounce.kind = OUT_BUFFER;
    bounce.len = n;
    bounce.data = b->out + b->out_len;
    file->u.file.off += n;
    file->len -= n;
    if (b->seg_first == 0) { /* make room in front (conn_bounce_space() saw a free entry) */
        memmove(b->segs + 1, b->segs, b->seg_count * sizeof *b->segs);
        b->seg_first = 1;
    }
    b->segs[--b->seg_first] = bounce;
    b->seg_count++;
    b->out_len += (uint32_t)n;
    b->out_live += (uint32_t)n;
}

int conn_is_done(const mote_conn *c)
{
    if (!c->closing || c->busy) return 0;
    return !c->b || (c->b->seg_count == 0 && !c->proto->is_responding(c));
}

int conn_ends_with_output(const mote_conn *c)
{
    return c->b && c->closing && !c->busy && c->proto->ends_with_output(c);
}

enum conn_timer_kind conn_timer(const mote_conn *c)
{
    return c->proto->timer(c);
}

void conn_going_away(mote_conn *c)
{
    uint8_t was = c->busy;
    c->draining = 1;
    if (c->proto && c->proto->going_away && !c->closing) {
        c->busy = 1;
        c->proto->going_away(c);
        c->busy = was;
    } else if (c->proto && !c->proto->going_away && c->b && !c->proto->is_idle(c)) {
        return; /* HTTP/1.1 mid-request: answered, with "Connection: close" */
    }
    c->closing = 1;
}

void conn_expire(mote_conn *c)
{
    uint8_t was = c->busy;
    c->busy = 1;
    c->proto->expire(c);
    c->busy = was;
}

char *conn_abort(mote_conn *c)
{
    char *block = NULL;
    c->closing = 1;
    if (c->b) {
        c->proto->stop(c, 1);
        while (c->b->seg_count) {
            front(c)->len = 0;
            pop_front(c, 0);
        }
        block = (char *)c->b;
        c->b = NULL;
    }
    if (c->proto && c->proto->end) c->proto->end(c);
    c->ext = NULL;
    return block;
}
