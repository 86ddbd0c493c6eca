/* conn.h - one connection as a sans-I/O object: what it speaks, its buffers, and its output.
 *
 * The shell reads transport bytes into the space conn_read_space() offers and reports them with
 * conn_received(); the connection's protocol (proto.h) parses them, runs exchanges and queues
 * what to send. The shell takes that output with conn_pending() (a short queue of segments:
 * bytes, or a range of a file) and acknowledges it with conn_sent(). No socket, clock or file
 * is touched here; memory comes from what the shell lends: a block while the connection is
 * active (buffers, output queue, protocol state), exchange blocks from the env's pool, and the
 * env's allocator for bodies larger than the buffers. */
#ifndef MOTE_CONN_H
#define MOTE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/pool.h"
#include "core/router.h"
#include "engine/proto.h"
#include "mote.h"

/* What every connection of a server shares, set up by the engine (conn_env_init()). */
typedef struct conn_env {
    const router *routes;
    uint32_t max_request_line, max_header_bytes, max_headers;
    uint32_t max_response_header_bytes;
    uint32_t in_size, out_size;       /* buffer sizes inside a block (conn_block_size()) */
    uint32_t body_read_room;          /* input bytes kept free after a head for its body */
    uint64_t max_body_size;
    uint64_t max_drain_size;
    mote_allocator alloc;             /* bodies beyond the buffers: collected, or sent whole */
    int fixed_memory;                 /* static-memory mode: nothing is allocated while serving */
    pool *exchanges;                  /* exchange blocks (exchange_block_size() bytes each) */
    const proto_ops *first_proto;     /* what a new connection speaks */
    char server_line[80];             /* "Server: mote\r\n", or empty */
    size_t server_line_len;
    char date_line[40];               /* "Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n", or empty */
    size_t date_line_len;
    pool *sockets;                    /* WebSocket states (ws.h), one per upgraded connection */
    uint64_t ws_max_message;          /* the server's, for routes without their own */
    uint32_t ws_ping_ms;
    /* WebSocket heap (messages gathered, zlib's streams) of all the loop's sockets, and its
     * limit; NULL: not counted */
    uint64_t *ws_buffered;
    uint64_t ws_max_buffered;
    void *owner;                      /* the engine's context for the hooks */
    /* Hooks into the engine, each optional. */
    void (*exchange_begin)(mote_exchange *x); /* a request's head is complete */
    void (*exchange_end)(mote_exchange *x);   /* its response is all queued, or cut off */
    void (*kick)(mote_conn *c);               /* output was queued outside any I/O event */
    /* A block lent to a connection without one, to send on it (a WebSocket's message from a
     * timer): MOTE_ENOMEM when none is left. */
    int (*borrow)(mote_conn *c);
    /* A decision of the library's worth a log line: `what` is a fixed text (MOTE_LOG_*). */
    void (*note)(mote_exchange *x, int level, const char *what);
    /* Reads a file's bytes for a protocol that frames them itself (HTTP/2): a count, 0 at
     * its end, -1 on error. NULL: files with a descriptor cannot be sent that way. */
    long (*read_file)(const mote_file *f, void *buf, size_t len, uint64_t off);
    /* HTTP/2 (MOTE_CONFIG_HTTP2) */
    const proto_ops *h2_proto;        /* NULL: not built, or turned off */
    uint8_t h2_modes;                 /* MOTE_HTTP2_* a listener allows unless it says */
    uint32_t h2_max_streams, h2_stream_window, h2_conn_window, h2_header_table_size;
    uint32_t h2_max_glitches;
    size_t h2_max_session_memory;
} conn_env;

/* The env for a server's configuration, without hooks, owner or exchange pool. */
void conn_env_init(conn_env *env, const mote_config *cfg, const router *routes,
                   mote_allocator alloc, int fixed_memory);

/* One thing to send: bytes, a range of a file, or (internally) a mark. */
enum out_kind {
    OUT_BUFFER,   /* bytes in the block's output buffer */
    OUT_MEMORY,   /* bytes elsewhere, borrowed (mote_response_send_static()) */
    OUT_OWNED,    /* bytes allocated for a body larger than the buffer, freed once sent */
    OUT_FILE,     /* len bytes of `file` from `off` */
    OUT_MARK      /* nothing to send: a release to call once what precedes it is sent */
};

typedef struct out_seg {
    uint8_t kind;                     /* enum out_kind */
    size_t len;                       /* bytes left to send */
    const char *data;                 /* OUT_BUFFER, OUT_MEMORY, OUT_OWNED: the next byte */
    union {
        void *owned;                  /* OUT_OWNED: the allocation to free */
        struct {
            mote_file file;
            uint64_t off;             /* the next byte's offset in the file */
        } file;                       /* OUT_FILE */
        struct {
            mote_release_fn fn;
            void *user;
        } mark;                       /* OUT_MARK */
    } u;
} out_seg;

/* Segments queued at once at the most; a response takes at most four (a head, a body, a
 * trailer, its release mark), and a protocol dispatches a request only with room for them. */
#define CONN_SEGMENTS 8
#define CONN_SEGMENTS_PER_RESPONSE 4

/* The protocol's own state in a block, at most this many bytes. */
#define CONN_PROTO_STATE 32

/* What a connection borrows while it is active: its state, then the input and output buffers. */
typedef struct conn_block {
    char *in, *out;                   /* env->in_size and env->out_size bytes, after this */
    uint32_t in_start, in_len;        /* live input: in[in_start, in_len) */
    uint32_t out_len;                 /* out[0, out_len) is taken; bytes are appended after it */
    uint32_t out_live;                /* of them, bytes not sent yet: at 0 the buffer starts over */
    uint8_t seg_first, seg_count;     /* segs[seg_first, seg_first + seg_count) are queued */
    uint8_t files;                    /* of them, OUT_FILE segments */
    out_seg segs[CONN_SEGMENTS];
    union {
        max_align_t align;
        char bytes[CONN_PROTO_STATE];
    } proto;
} conn_block;

typedef struct mote_conn {
    const conn_env *env;
    void *user;                       /* the engine's per-connection object */
    const proto_ops *proto;           /* what the connection speaks */
    void *ext;                        /* its state beyond the block (a WebSocket's), or NULL */
    conn_block *b;                    /* NULL while idle */
    mote_addr peer;
    uint32_t requests;                /* exchanges finished on this connection */
    uint8_t is_tls;
    uint8_t closing;                  /* no more exchanges: close once the output drains */
    uint8_t peer_eof;                 /* the peer will send nothing more */
    uint8_t busy;                     /* inside the connection: output queued now is seen after */
    uint8_t h2_modes;                 /* how HTTP/2 may begin on it (MOTE_HTTP2_*) */
    uint8_t draining;                 /* the server stops: the exchange begun is the last */
} mote_conn;

/* The size of the block a connection borrows while active. */
size_t conn_block_size(const conn_env *env);

/* The input buffer an env needs: a complete head always fits (request line, its CRLF, the field
 * section), with body_read_room bytes after it to read its body through. */
uint32_t conn_input_size(size_t max_request_line, size_t max_header_bytes, size_t body_read_room);

void conn_init(mote_conn *c, const conn_env *env, void *user);

/* Lends the connection a block of conn_block_size() bytes; MOTE_ENOMEM when its protocol
 * cannot start (no exchange block), and the block is not taken. */
int conn_attach(mote_conn *c, char *block);

/* Whether the connection holds nothing but its block, which can then go back; and the block
 * taken back (NULL when it cannot be). */
int conn_is_idle(const mote_conn *c);
char *conn_detach(mote_conn *c);

/* Where the next received bytes go and how many fit (0: do not read now). Needs a block. */
size_t conn_read_space(mote_conn *c, char **at);

/* n bytes were stored at the place conn_read_space() gave: the protocol takes them. */
void conn_received(mote_conn *c, size_t n);

/* The peer closed its side: finish what was received, then close. */
void conn_peer_eof(mote_conn *c);

/* The output to send, in order: *segs points at `count` segments (OUT_BUFFER, OUT_MEMORY,
 * OUT_OWNED or OUT_FILE), valid until the next call into the connection. Marks at the front
 * are settled first (their releases run), so a returned segment always has bytes. */
size_t conn_pending(mote_conn *c, const out_seg **segs);

/* n bytes of the pending output went out, across segments in order. */
void conn_sent(mote_conn *c, size_t n);

/* For a transport that cannot send a file itself (TLS, a stack without sendfile): room for up
 * to `max` of the first pending segment's file bytes, in the output buffer, where nothing moves
 * until they are sent; 0 when the first segment is not a file. conn_bounced() then turns the n
 * bytes read there into the front of the output, ahead of the rest of the file. */
size_t conn_bounce_space(mote_conn *c, char **at, size_t max);
void conn_bounced(mote_conn *c, size_t n);

/* Whether the connection is finished: closing, every byte sent, no response open. */
int conn_is_done(const mote_conn *c);

/* Whether the connection ends once its pending output is sent, and may then close at once: the
 * client's last request said it was the last and nothing followed it, so closing cannot reset
 * a response the client is still reading (RFC 9112, 9.6), provided the transport holds nothing
 * unread either. */
int conn_ends_with_output(const mote_conn *c);

/* The timeout that applies now (proto.h). */
enum conn_timer_kind conn_timer(const mote_conn *c);

/* The server is stopping: the connection ends once what is in flight is answered (a request
 * partly received included), after what its protocol says to the peer then. */
void conn_going_away(mote_conn *c);

/* The timeout ran out: what can be answered is (408), and the connection ends. */
void conn_expire(mote_conn *c);

/* The connection is being closed whatever it holds: open exchanges hear they were cut off,
 * queued releases run (not completed), files close, and the block is taken back (NULL if
 * none). */
char *conn_abort(mote_conn *c);

/* ---- for protocols ------------------------------------------------------------------------ */

/* Whether `segments` more segments can be queued. */
static inline int conn_seg_room(const mote_conn *c, size_t segments)
{
    return (size_t)(CONN_SEGMENTS - c->b->seg_count) >= segments;
}

/* Bytes that can be appended to the output buffer now, in one piece. */
static inline size_t conn_out_room(const mote_conn *c)
{
    const conn_block *b = c->b;
    if (b->seg_count == CONN_SEGMENTS) { /* room only if appending extends the last segment */
        const out_seg *s = &b->segs[b->seg_first + b->seg_count - 1];
        if (s->kind != OUT_BUFFER || s->data + s->len != b->out + b->out_len) return 0;
    }
    return c->env->out_size - b->out_len;
}

/* Where to append; then conn_out_commit() queues the n bytes written there. */
static inline char *conn_out_tail(mote_conn *c)
{
    return c->b->out + c->b->out_len;
}
void conn_out_commit(mote_conn *c, size_t n);
/* Copies n bytes to the output buffer and queues them; MOTE_EAGAIN without room. */
int conn_out_copy(mote_conn *c, const void *data, size_t n);
/* Queues a segment (OUT_MEMORY, OUT_OWNED, OUT_FILE, OUT_MARK); MOTE_EAGAIN when the queue is
 * full. An OUT_OWNED segment is freed with the env's allocator once sent or dropped, an
 * OUT_FILE segment's file closed. */
int conn_out_queue(mote_conn *c, const out_seg *seg);
/* Whether a file is queued: its bytes may have to pass through the output buffer (bounced),
 * so nothing is queued behind it until it has gone. */
static inline int conn_out_has_file(const mote_conn *c)
{
    return c->b && c->b->files > 0;
}
/* Output was queued: the engine hears of it when the connection is not busy (kick). */
void conn_output_queued(mote_conn *c);
/* A block for a connection without one (env->borrow); MOTE_ENOMEM. */
int conn_borrow(mote_conn *c);
/* From inside `c->proto`, once it is done with the connection: it speaks `next` from now on,
 * with `ext` as its state beyond the block; the bytes in the input buffer are its first. */
int conn_switch(mote_conn *c, const proto_ops *next, void *ext);
/* The protocol's state in the block. */
static inline void *conn_proto_state(const mote_conn *c)
{
    return c->b->proto.bytes;
}

#endif
