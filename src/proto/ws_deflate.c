/* ws_deflate.c - permessage-deflate's streams on zlib (RFC 7692 §7.2); see ws_deflate.h.
 *
 * Raw deflate, each message's compressed form ending where a sync flush ends it, without the
 * flush's last four bytes (00 00 ff ff), which the receiver adds back. Both streams are made
 * on first use, with zlib allocating through the server's allocator. */
#include "proto/ws_deflate.h"

#if MOTE_CONFIG_WS_DEFLATE

#include <string.h>
#include <zlib.h>

/* Inflated bytes are handed over in pieces of at most this many. */
#define INFLATE_PIECE 4096

struct ws_zlib {
    mote_allocator alloc;
    ws_pmd pmd;
    uint8_t inflating, deflating;   /* the stream has been initialised */
    z_stream in, out;
    unsigned char piece[INFLATE_PIECE];
};

static const unsigned char ws_sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

static voidpf ws_z_alloc(voidpf opaque, uInt items, uInt size)
{
    const mote_allocator *a = opaque;
    if (size && items > (size_t)-1 / size) return Z_NULL;
    return a->alloc(a->ctx, (size_t)items * size);
}

static void ws_z_free(voidpf opaque, voidpf p)
{
    const mote_allocator *a = opaque;
    a->free(a->ctx, p);
}

int ws_zlib_available(void)
{
    return 1;
}

ws_zlib *ws_zlib_create(const mote_allocator *alloc, const ws_pmd *pmd)
{
    ws_zlib *z = alloc->alloc(alloc->ctx, sizeof *z);
    if (!z) return NULL;
    memset(z, 0, sizeof *z);
    z->alloc = *alloc;
    z->pmd = *pmd;
    return z;
}

void ws_zlib_destroy(ws_zlib *z)
{
    if (!z) return;
    if (z->inflating) inflateEnd(&z->in);
    if (z->deflating) deflateEnd(&z->out);
    z->alloc.free(z->alloc.ctx, z);
}

static void ws_use_allocator(ws_zlib *z, z_stream *s)
{
    s->zalloc = ws_z_alloc;
    s->zfree = ws_z_free;
    s->opaque = &z->alloc;
}

/* Inflates what `in` holds, handing out each piece: 0, 1 (the sink stopped), -1 (corrupt),
 * -2 (no memory). */
static int ws_inflate_all(ws_zlib *z, const unsigned char *in, size_t len, ws_sink_fn sink, void *ctx)
{
    z_stream *s = &z->in;
    s->next_in = (Bytef *)(uintptr_t)in;
    s->avail_in = (uInt)len; /* a piece of a frame: far below 4 GiB */
    for (;;) {
        size_t produced;
        int r;
        s->next_out = z->piece;
        s->avail_out = INFLATE_PIECE;
        r = inflate(s, Z_SYNC_FLUSH);
        if (r == Z_MEM_ERROR) return -2;
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) return -1;
        produced = INFLATE_PIECE - s->avail_out;
        if (produced && sink(ctx, z->piece, produced)) return 1;
        if (r == Z_STREAM_END && inflateReset(s) != Z_OK) return -1; /* a final block: afresh */
        if (s->avail_out != 0 && (s->avail_in == 0 || r == Z_BUF_ERROR)) break;
    }
    return s->avail_in == 0 ? 0 : -1;
}

int ws_inflate(ws_zlib *z, const unsigned char *in, size_t len, int end, ws_sink_fn sink,
               void *ctx)
{
    int rc;
    if (!z->inflating) {
        ws_use_allocator(z, &z->in);
        if (inflateInit2(&z->in, -15) != Z_OK) return -2;
        z->inflating = 1;
    }
    rc = ws_inflate_all(z, in, len, sink, ctx);
    if (rc == 0 && end) {
        rc = ws_inflate_all(z, ws_sync_tail, sizeof ws_sync_tail, sink, ctx);
        if (rc == 0 && z->pmd.client_no_context_takeover && inflateReset(&z->in) != Z_OK) rc = -1;
    }
    return rc;
}

static int ws_start_deflate(ws_zlib *z)
{
    if (z->deflating) return 1;
    ws_use_allocator(z, &z->out);
    if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -(int)z->pmd.server_window_bits,
                     8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z->deflating = 1;
    return 1;
}

size_t ws_deflate_bound(ws_zlib *z, size_t len)
{
    if (!ws_start_deflate(z)) return 0;
    /* a sync flush adds an empty stored block (5 bytes) and up to a byte of bits */
    return (size_t)deflateBound(&z->out, (uLong)len) + 16;
}

long ws_deflate(ws_zlib *z, const void *in, size_t len, int last, unsigned char *out, size_t cap)
{
    z_stream *s = &z->out;
    size_t n;
    int r;
    if (!ws_start_deflate(z)) return -1;
    s->next_in = (Bytef *)(uintptr_t)in;
    s->avail_in = (uInt)len;
    s->next_out = out;
    s->avail_out = (uInt)cap;
    r = deflate(s, Z_SYNC_FLUSH);
    if ((r != Z_OK && r != Z_BUF_ERROR) || s->avail_in != 0 || s->avail_out == 0) return -1;
    n = cap - s->avail_out;
    if (last) {
        if (n >= 4 && memcmp(out + n - 4, ws_sync_tail, 4) == 0) {
            n -= 4;
        } else if (n == 0) {
            out[n++] = 0x00; /* nothing since the last flush: an empty block (RFC 7692 §7.2.3.6) */
        }
        if (z->pmd.server_no_context_takeover && deflateReset(s) != Z_OK) return -1;
    }
    return (long)n;
}

#else /* no zlib: permessage-deflate is never negotiated */

int ws_zlib_available(void)
{
    return 0;
}

ws_zlib *ws_zlib_create(const mote_allocator *alloc, const ws_pmd *pmd)
{
    (void)alloc;
    (void)pmd;
    return NULL;
}

void ws_zlib_destroy(ws_zlib *z)
{
    (void)z;
}

int ws_inflate(ws_zlib *z, const unsigned char *in, size_t len, int end, ws_sink_fn sink,
               void *ctx)
{
    (void)z, (void)in, (void)len, (void)end, (void)sink, (void)ctx;
    return -1;
}

size_t ws_deflate_bound(ws_zlib *z, size_t len)
{
    (void)z;
    (void)len;
    return 0;
}

long ws_deflate(ws_zlib *z, const void *in, size_t len, int last, unsigned char *out, size_t cap)
{
    (void)z, (void)in, (void)len, (void)last, (void)out, (void)cap;
    return -1;
}

#endif
