/* range.h - the Range header field (RFC 9110 §14.1.2, §14.2) for a representation of a known
 * length: byte ranges, sorted, with overlapping and nearby ones coalesced. Sans-I/O. */
#ifndef MOTE_RANGE_H
#define MOTE_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* A satisfiable byte range, both ends included (first <= last < length). */
typedef struct byte_range {
    uint64_t first;
    uint64_t last;
} byte_range;

typedef enum range_verdict {
    RANGE_IGNORE = 0,        /* no valid bytes ranges-specifier, more than `max` ranges, or a
                              * suffix-range on an empty representation (satisfiable by the
                              * RFC, yet no byte to send in a 206): 200 */
    RANGE_SATISFIABLE = 1,   /* *count ranges in out[]: 206 */
    RANGE_UNSATISFIABLE = 2  /* none of the ranges overlaps the representation: 416 */
} range_verdict;

/* Ranges closer than this many bytes are sent as one (a part's head costs about as much). */
#define RANGE_COALESCE_GAP 80u

/* Parses the Range field value `value` (`len` bytes, no NUL needed) against a representation of
 * `length` bytes. On RANGE_SATISFIABLE, out[0..*count) holds the ranges in ascending order with
 * those that overlap, touch or lie within RANGE_COALESCE_GAP of each other merged; `max` bounds
 * the ranges taken (before merging: more is RANGE_IGNORE, as a flood of small ranges is). */
range_verdict range_parse(const char *value, size_t len, uint64_t length, byte_range *out,
                          size_t max, size_t *count);

#endif
