/* segment_bytes.h - what the tests' and fuzzers' stand-in shell does with the front output
 * segment, as a shell without sendfile would: its bytes where they are, or a file's next bytes
 * read through its callback into a buffer of the caller's. */
#ifndef MOTE_SEGMENT_BYTES_H
#define MOTE_SEGMENT_BYTES_H

#include <stdlib.h>

#include "engine/conn.h"

/* Up to *n bytes of s; *n becomes how many (a file gives at most cap, and must give some). */
static inline const char *segment_bytes(const out_seg *s, size_t *n, char *buf, size_t cap)
{
    long got;
    if (s->kind != OUT_FILE) return s->data;
    if (*n > cap) *n = cap;
    got = s->u.file.file.read(s->u.file.file.ctx, buf, *n, s->u.file.off);
    if (got <= 0) abort();
    *n = (size_t)got;
    return buf;
}

#endif
