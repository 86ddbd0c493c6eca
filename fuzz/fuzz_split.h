/* fuzz_split.h - turns the front of a fuzz input into the sizes of the pieces the rest of it is
 * fed in, so that libFuzzer mutates the split points along with the bytes.
 *
 * Layout: one byte n, then n % 16 size bytes; the pieces cycle through those sizes. n % 16 == 0
 * means "all at once". A size byte below 128 is a piece of 1..128 bytes; above, a multiple of
 * 64 bytes up to 8 KiB, so both byte-at-a-time and buffer-sized feeds are reachable. */
#ifndef MOTE_FUZZ_SPLIT_H
#define MOTE_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct splitter {
    const uint8_t *sizes;
    size_t count, next;
} splitter;

/* Reads the split header from data[0..size); returns the bytes it took. */
static inline size_t split_init(splitter *s, const uint8_t *data, size_t size)
{
    size_t n = size ? (size_t)(data[0] % 16u) : 0;
    if (n > size - (size ? 1 : 0)) n = size ? size - 1 : 0;
    s->sizes = size ? data + 1 : data;
    s->count = n;
    s->next = 0;
    return size ? n + 1 : 0;
}

/* A splitter that hands everything over at once. */
static inline void split_whole(splitter *s)
{
    s->sizes = NULL;
    s->count = 0;
    s->next = 0;
}

/* The size of the next piece (SIZE_MAX: everything left). */
static inline size_t split_next(splitter *s)
{
    uint8_t v;
    if (s->count == 0) return SIZE_MAX;
    v = s->sizes[s->next++ % s->count];
    return v < 128 ? (size_t)v + 1 : (size_t)(v - 127) * 64;
}

static inline size_t split_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

#endif
