/* fuzz_body.c - the body decoder (src/body.c), chunked and Content-Length, at arbitrary splits.
 *
 * Input: a config byte (framing and limits), two bytes of Content-Length, a split header
 * (fuzz_split.h), then the body bytes. The body is decoded once with everything available and
 * once as it would arrive in pieces; both must decode the same bytes, consume the same amount,
 * and end with the same verdict. Every call is made on a buffer holding exactly the bytes not
 * yet consumed, so a read past them is caught by ASan. A finished chunked body's trailer section
 * is then handed to parser_trailers(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/body.h"
#include "fuzz_split.h"
#include "core/parser.h"

typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

typedef struct outcome {
    int rc, status;
    size_t consumed;
    uint64_t total;
    bytes data, trailer;
} outcome;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_body: invariant failed: %s\n", what);
    abort();
}

static void append(bytes *b, const char *p, size_t n)
{
    if (n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int within(const char *p, size_t n, const char *base, size_t len)
{
    return n == 0 || (p && p >= base && n <= len && (size_t)(p - base) <= len - n);
}

/* One body_decode() on a private copy of buf[off..avail); returns the bytes it consumed. */
static size_t decode_once(body_decoder *d, const char *buf, size_t off, size_t avail, outcome *o)
{
    size_t n = avail - off, consumed = 0, data_len = 0;
    const char *data = NULL;
    char *win = malloc(n ? n : 1);
    if (!win) abort();
    memcpy(win, buf + off, n);
    d->trailer = NULL;
    d->trailer_len = 0;
    o->rc = body_decode(d, win, n, &consumed, &data, &data_len);
    if (consumed > n) fail("consumed more than given");
    if (!within(data, data_len, win, consumed)) fail("data outside the consumed bytes");
    if (!within(d->trailer, d->trailer_len, win, consumed)) fail("trailer outside consumed");
    if (data_len && d->trailer_len) fail("data and trailer from one call");
    append(&o->data, data, data_len);
    append(&o->trailer, d->trailer, d->trailer_len);
    free(win);
    return consumed;
}

/* Decodes buf[0..len) arriving in the splitter's pieces. */
static void decode_pieces(body_decoder *d, const char *buf, size_t len, splitter *s, outcome *o)
{
    size_t off = 0, avail = 0;
    o->rc = BODY_MORE;
    for (;;) {
        size_t consumed;
        if (avail < len && (off == avail)) avail += split_min(split_next(s), len - avail);
        consumed = decode_once(d, buf, off, avail, o);
        off += consumed;
        if (o->rc != BODY_MORE) break;
        if (consumed == 0) {
            if (avail == len) break;
            avail += split_min(split_next(s), len - avail); /* it needs more bytes */
        }
    }
    o->status = d->status;
    o->consumed = off;
    o->total = d->total;
}

static void check_trailers(const outcome *o)
{
    hdr_span fields[8];
    int i, n;
    if (o->trailer.len < 2 || memcmp(o->trailer.p + o->trailer.len - 2, "\r\n", 2) != 0)
        fail("trailer section does not end in CRLF");
    n = parser_trailers(o->trailer.p, o->trailer.len, fields, 8);
    for (i = 0; i < n; i++) {
        if (fields[i].name_off > o->trailer.len ||
            fields[i].name_len > o->trailer.len - fields[i].name_off ||
            fields[i].value_off > o->trailer.len ||
            fields[i].value_len > o->trailer.len - fields[i].value_off)
            fail("trailer field span outside the section");
    }
}

static void check_one(const outcome *o, int chunked, uint64_t length, uint64_t max)
{
    if (o->data.len != o->total) fail("total differs from the bytes handed out");
    if (o->total > max) fail("more than max decoded");
    if (o->rc == BODY_ERROR && o->status != 400 && o->status != 413 && o->status != 431)
        fail("unexpected error status");
    if (o->rc == BODY_DONE && !chunked && o->total != length) fail("length body short");
    if (!chunked && o->trailer.len) fail("trailer on a length body");
    if (o->rc == BODY_DONE && chunked) check_trailers(o);
}

static void compare(const outcome *a, const outcome *b)
{
    if (a->rc != b->rc) fail("verdict differs with the split");
    if (a->rc == BODY_ERROR && a->status != b->status) fail("status differs with the split");
    if (a->rc == BODY_DONE && a->consumed != b->consumed) fail("consumed differs with the split");
    if (a->data.len != b->data.len || (a->data.len && memcmp(a->data.p, b->data.p, a->data.len)))
        fail("decoded bytes differ with the split");
    /* a call that fails reports no trailer bytes, so after an error they may differ */
    if (a->rc == BODY_ERROR) return;
    if (a->trailer.len != b->trailer.len ||
        (a->trailer.len && memcmp(a->trailer.p, b->trailer.p, a->trailer.len)))
        fail("trailer bytes differ with the split");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t maxes[4] = {1u << 20, 16, 256, UINT64_MAX};
    static const uint32_t line_limits[4] = {1024, 8, 64, 8192};
    static outcome whole, split;
    body_decoder d;
    splitter s, all;
    size_t skip;
    int chunked;
    uint64_t length, max;
    uint32_t line_limit;
    if (size < 3) return 0;
    chunked = data[0] & 1;
    max = maxes[(data[0] >> 1) & 3];
    line_limit = line_limits[(data[0] >> 3) & 3];
    length = (uint64_t)data[1] | (uint64_t)data[2] << 8;
    if (!chunked && length > max) length = max; /* conn.c answers 413 before decoding */
    skip = 3 + split_init(&s, data + 3, size - 3);
    whole.data.len = whole.trailer.len = split.data.len = split.trailer.len = 0;

    split_whole(&all);
    body_init(&d, chunked, length, max, line_limit);
    decode_pieces(&d, (const char *)data + skip, size - skip, &all, &whole);
    body_init(&d, chunked, length, max, line_limit);
    decode_pieces(&d, (const char *)data + skip, size - skip, &s, &split);

    check_one(&whole, chunked, length, max);
    check_one(&split, chunked, length, max);
    compare(&whole, &split);
    return 0;
}
