/* fuzz_parser.c - the request-head parser (src/parser.c) resumed at arbitrary byte boundaries.
 *
 * Input: one config byte (limits), a split header (fuzz_split.h), then the head bytes. The head
 * is parsed once whole and once grown piece by piece, each prefix in a buffer of exactly its
 * size so that a read past `len` is caught by ASan; both must give the same verdict and, when
 * done, the same fields. A complete head is also checked for sanity on its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_split.h"
#include "core/parser.h"

#define MAX_HEADERS 64

typedef struct verdict {
    int rc;
    parser p;
    hdr_span headers[MAX_HEADERS];
} verdict;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_parser: invariant failed: %s\n", what);
    abort();
}

/* Small limits are as interesting as the defaults: they put 414 and 431 in reach. */
static void init_limits(parser *p, hdr_span *headers, uint8_t cfg)
{
    static const uint32_t lines[4] = {8192, 16, 64, 256};
    static const uint32_t bytes[4] = {8192, 16, 64, 512};
    static const uint32_t counts[4] = {MAX_HEADERS, 1, 4, 16};
    parser_init(p, headers, counts[cfg & 3], lines[(cfg >> 2) & 3], bytes[(cfg >> 4) & 3]);
}

/* Parses buf[0..len) grown by the splitter's pieces, each prefix copied to its own buffer. */
static int parse_pieces(parser *p, const char *buf, size_t len, splitter *s)
{
    size_t end = 0;
    int rc = PARSE_MORE;
    do {
        char *prefix;
        end += split_min(split_next(s), len - end);
        prefix = malloc(end ? end : 1);
        if (!prefix) abort();
        memcpy(prefix, buf, end);
        rc = parser_execute(p, prefix, end);
        free(prefix);
    } while (rc == PARSE_MORE && end < len);
    return rc;
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int span_ok(uint32_t off, uint32_t n, uint32_t limit)
{
    return off <= limit && n <= limit - off;
}

/* A parsed head: every span inside it, names are tokens, values trimmed and free of CR/LF. */
static void check_done(const parser *p, const hdr_span *h, const char *buf, size_t len)
{
    uint32_t i, k;
    if (p->head_len == 0 || p->head_len > len || buf[p->head_len - 1] != '\n') fail("head_len");
    if (!span_ok(p->method_off, p->method_len, p->head_len) || p->method_len == 0) fail("method");
    if (!span_ok(p->target_off, p->target_len, p->head_len) || p->target_len == 0) fail("target");
    if (p->header_count > p->max_headers) fail("header_count over the limit");
    if (p->status != 0) fail("status set on success");
    for (i = 0; i < p->header_count; i++) {
        if (!span_ok(h[i].name_off, h[i].name_len, p->head_len) || h[i].name_len == 0)
            fail("header name span");
        if (!span_ok(h[i].value_off, h[i].value_len, p->head_len)) fail("header value span");
        for (k = 0; k < h[i].name_len; k++)
            if (!is_tchar((unsigned char)buf[h[i].name_off + k])) fail("name not a token");
        for (k = 0; k < h[i].value_len; k++) {
            char c = buf[h[i].value_off + k];
            if (c == '\r' || c == '\n' || c == '\0') fail("CR, LF or NUL in a value");
        }
        if (h[i].value_len && (buf[h[i].value_off] == ' ' || buf[h[i].value_off] == '\t' ||
                               buf[h[i].value_off + h[i].value_len - 1] == ' ' ||
                               buf[h[i].value_off + h[i].value_len - 1] == '\t'))
            fail("value not trimmed");
    }
}

static void compare(const verdict *a, const verdict *b)
{
    uint32_t i;
    if (a->rc != b->rc) fail("verdict differs with the split");
    if (a->rc == PARSE_ERROR && a->p.status != b->p.status) fail("error status differs");
    if (a->rc == PARSE_ERROR && a->p.status != 400 && a->p.status != 414 && a->p.status != 431 &&
        a->p.status != 501 && a->p.status != 505)
        fail("unexpected error status");
    if (a->rc != PARSE_DONE) return;
    if (a->p.method_off != b->p.method_off || a->p.method_len != b->p.method_len ||
        a->p.target_off != b->p.target_off || a->p.target_len != b->p.target_len ||
        a->p.version_major != b->p.version_major || a->p.version_minor != b->p.version_minor ||
        a->p.header_count != b->p.header_count || a->p.head_len != b->p.head_len ||
        a->p.flags != b->p.flags || a->p.content_length != b->p.content_length)
        fail("fields differ with the split");
    for (i = 0; i < a->p.header_count; i++)
        if (memcmp(&a->headers[i], &b->headers[i], sizeof a->headers[i]) != 0)
            fail("header span differs with the split");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static verdict whole, split;
    splitter s, all;
    size_t skip;
    if (size < 1) return 0;
    skip = 1 + split_init(&s, data + 1, size - 1);
    init_limits(&whole.p, whole.headers, data[0]);
    init_limits(&split.p, split.headers, data[0]);
    split_whole(&all);
    whole.rc = parse_pieces(&whole.p, (const char *)data + skip, size - skip, &all);
    split.rc = parse_pieces(&split.p, (const char *)data + skip, size - skip, &s);
    compare(&whole, &split);
    if (whole.rc == PARSE_DONE) check_done(&whole.p, whole.headers, (const char *)data + skip,
                                           size - skip);
    /* a reset parser must behave as a fresh one */
    parser_reset(&split.p);
    split_whole(&all);
    split.rc = parse_pieces(&split.p, (const char *)data + skip, size - skip, &all);
    compare(&whole, &split);
    return 0;
}
