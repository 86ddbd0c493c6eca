/* ws_deflate.h - permessage-deflate (RFC 7692): the parameters a handshake settles, and the
 * compressor and decompressor of one socket, on zlib where MOTE_CONFIG_WS_DEFLATE is on.
 *
 * Negotiation is portable (ws_handshake.c); the streams are not: without zlib,
 * ws_zlib_create() gives NULL and a handshake never accepts the extension. */
#ifndef MOTE_WS_DEFLATE_H
#define MOTE_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"

/* What the handshake agreed. */
typedef struct ws_pmd {
    uint8_t enabled;
    uint8_t server_no_context_takeover;  /* our compressor starts afresh for each message */
    uint8_t client_no_context_takeover;  /* the client's does: our decompressor may too */
    uint8_t server_window_bits;          /* our compressor's window (9 to 15) */
} ws_pmd;

typedef struct ws_zlib ws_zlib;

/* Receives what the decompressor produced: 0 to go on, anything else to stop (the limit). */
typedef int (*ws_sink_fn)(void *ctx, const unsigned char *data, size_t len);

/* Whether this build compresses at all. */
int ws_zlib_available(void);

/* A socket's streams (the decompressor's window and the compressor's state are made on first
 * use); NULL without memory or without zlib. */
ws_zlib *ws_zlib_create(const mote_allocator *alloc, const ws_pmd *pmd);
void ws_zlib_destroy(ws_zlib *z);

/* Decompresses `len` bytes of a message's payload, handing the output to `sink` in pieces;
 * `end`: the message ends with them (RFC 7692 §7.2.2's tail is added). Returns 0, 1 when the
 * sink stopped it, -1 for data that does not inflate (a corrupt stream), -2 without memory. */
int ws_inflate(ws_zlib *z, const unsigned char *in, size_t len, int end, ws_sink_fn sink,
               void *ctx);

/* The most bytes ws_deflate() writes for `len` bytes of input (the compressor is made on
 * first use: 0 when it cannot be). */
size_t ws_deflate_bound(ws_zlib *z, size_t len);

/* Compresses `len` bytes of a message, a part of it when `last` is 0, into out (cap bytes,
 * at least ws_deflate_bound(len)); returns the bytes written, or -1 (no memory, or a broken
 * stream: the socket can compress nothing more). */
long ws_deflate(ws_zlib *z, const void *in, size_t len, int last, unsigned char *out, size_t cap);

#endif
