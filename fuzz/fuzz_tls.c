/* fuzz_tls.c - arbitrary bytes arriving on a TLS server connection (src/tls/, mbedTLS backend)
 * must end in a clean close: a handshake failure, or the peer's close/EOF, within a bounded
 * number of calls, never a crash or a session that keeps asking for more after the EOF.
 *
 * The bytes reach the session through a transport of our own rather than a socket: recv()
 * hands them over in the pieces the split header (fuzz_split.h) chooses, with IO_WANT_READ
 * between pieces as a non-blocking socket would give, then IO_CLOSED for the EOF; send()
 * swallows everything.
 * The certificate, key and tls_ctx are made once per process; each input's session is freed,
 * and every allocation tls.c makes through the context's allocator must come back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_split.h"
#include "mote.h"
#include "selfsigned.h"
#include "tls/tls.h"


typedef struct feed {
    const uint8_t *data;
    size_t len, pos;
    splitter split;
    size_t piece_left;    /* bytes of the current piece not yet read */
    int gave_eagain;      /* the piece ran out and one EAGAIN was returned since */
    size_t recv_calls;
} feed;

static feed F;
static long live;
static tls_ctx *ctx;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_tls: invariant failed: %s\n", what);
    abort();
}

static void *count_alloc(void *c, size_t n)
{
    void *p = malloc(n ? n : 1);
    (void)c;
    if (p) live++;
    return p;
}

static void count_free(void *c, void *p)
{
    (void)c;
    if (p) live--;
    free(p);
}

static long feed_recv(void *handle, void *buf, size_t len)
{
    size_t n;
    (void)handle;
    if (++F.recv_calls > 100000) fail("recv called without end");
    if (F.pos == F.len) return IO_CLOSED;
    if (F.piece_left == 0) {
        if (!F.gave_eagain) {
            F.gave_eagain = 1;
            return IO_WANT_READ;
        }
        F.gave_eagain = 0;
        F.piece_left = split_min(split_next(&F.split), F.len - F.pos);
    }
    n = split_min(len, F.piece_left);
    memcpy(buf, F.data + F.pos, n);
    F.pos += n;
    F.piece_left -= n;
    return (long)n;
}

static long feed_send(void *handle, const void *buf, size_t len)
{
    (void)handle;
    (void)buf;
    return (long)len;
}

static const io_transport feed_io = {feed_recv, feed_send, NULL};

static void make_ctx(void)
{
    char *cert, *key, fingerprint[96], err[256];
    mote_tls_config cfg;
    mote_allocator al = {count_alloc, count_free, NULL};
    if (selfsigned_create(&cert, &key, fingerprint, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_tls: selfsigned_create: %s\n", err);
        abort();
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.cert_pem = cert;
    cfg.key_pem = key;
    if (tls_ctx_create(&ctx, &cfg, &al, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_tls: tls_ctx_create: %s\n", err);
        abort();
    }
    free(cert);
    free(key);
}

/* Drives the session until it ends; returns the final status (IO_CLOSED or IO_FAILED).
 * Each call consumes a piece or ends at an EAGAIN, so a few calls per input byte (pieces may be
 * single bytes) is a generous bound; past it the session is ignoring the EOF. */
static long drive(tls_conn *c)
{
    char buf[4096];
    long rc = IO_WANT_READ;
    size_t calls, max_calls = 3 * F.len + 100;
    int handshaken = 0;
    for (calls = 0; calls < max_calls; calls++) {
        if (!handshaken) {
            rc = tls_handshake(c);
            if (rc == 0) handshaken = 1;
        } else {
            rc = tls_read(c, buf, sizeof buf);
            if (rc > 0 && (size_t)rc > sizeof buf) fail("read more than the buffer");
        }
        if (rc == IO_CLOSED || rc == IO_FAILED) return rc;
        if (rc < 0 && rc != IO_WANT_READ && rc != IO_WANT_WRITE) fail("unexpected status");
    }
    fail("no close after the peer's EOF");
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tls_conn *c;
    long before;
    size_t skip;
    if (!ctx) make_ctx();
    before = live;
    memset(&F, 0, sizeof F);
    skip = split_init(&F.split, data, size);
    F.data = data + skip;
    F.len = size - skip;
    if (tls_conn_create(ctx, &feed_io, &c) != 0) fail("tls_conn_create");
    drive(c);
    tls_close_notify(c);
    tls_conn_destroy(c);
    if (live != before) fail("a session's allocation was not freed");
    return 0;
}
