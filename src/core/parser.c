/* parser.c - incremental HTTP/1.1 request-head parser; see parser.h.
 *
 * One pass over the bytes with a resumable state machine: the inner loops run over whole runs
 * of token, target and field-value bytes (the last two eight bytes at a time, see chars.h), and
 * the state is saved only where the buffer ends.
 * Strict by RFC 9112: single SP separators, CRLF line ends (no bare CR or LF), no whitespace
 * before a colon or before the first field, no obs-fold, no control bytes in values. */
#include "core/parser.h"

#include <string.h>

#include "core/chars.h"

enum {
    S_START,        /* before the method; empty lines are skipped (RFC 9112 §2.2) */
    S_START_LF,     /* CR of an empty line seen */
    S_METHOD,
    S_TARGET,
    S_VERSION,      /* "HTTP/" DIGIT "." DIGIT, vpos counts the bytes */
    S_LINE_LF,      /* CR after the version seen */
    S_FIELD_START,
    S_NAME,
    S_VALUE_LEAD,   /* OWS after the colon */
    S_VALUE,
    S_FIELD_LF,     /* CR after a field seen */
    S_END_LF,       /* CR of the blank line seen */
    S_DONE,
    S_ERROR
};

void parser_init(parser *p, hdr_span *headers, uint32_t max_headers, uint32_t max_request_line,
                 uint32_t max_header_bytes)
{
    /* built whole and copied, rather than memset: compilers store the fields, where a memset
     * of this size may become a slow-starting string instruction, once per request */
    parser fresh = {0};
    fresh.headers = headers;
    fresh.max_headers = max_headers;
    fresh.max_request_line = max_request_line;
    fresh.max_header_bytes = max_header_bytes;
    *p = fresh;
}

void parser_reset(parser *p)
{
    parser_init(p, p->headers, p->max_headers, p->max_request_line, p->max_header_bytes);
}

int parser_trailers(const char *buf, size_t len, hdr_span *fields, uint32_t max_fields)
{
    parser t;
    parser_init(&t, fields, max_fields, 1, (uint32_t)len + 1);
    t.is_trailer = 1;
    t.state = S_FIELD_START;
    if (parser_execute(&t, buf, len) != PARSE_DONE || t.head_len != len) return -1;
    return (int)t.header_count;
}

static int fail(parser *p, int status)
{
    p->state = S_ERROR;
    p->status = status;
    return PARSE_ERROR;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---- what the fields mean for framing and connection handling (RFC 9112 §6, §9) -------- */

/* Visits the comma-separated elements of a list value, trimmed of OWS; empty ones are skipped
 * (RFC 9110 §5.6.1). Returns the first non-zero result of `visit`. */
typedef int (*list_visit)(void *ctx, const char *elem, size_t len);

static int for_each_list_element(const char *v, size_t len, list_visit visit, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        size_t start, end;
        int r;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        start = i;
        while (i < len && v[i] != ',') i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end > start && (r = visit(ctx, v + start, end - start)) != 0) return r;
    }
    return 0;
}

static int visit_connection(void *ctx, const char *e, size_t len)
{
    uint32_t *flags = ctx;
    if (header_name_is(e, len, "close")) *flags |= HEAD_CLOSE;
    else if (header_name_is(e, len, "keep-alive")) *flags |= HEAD_KEEP_ALIVE;
    return 0;
}

/* Connection options (RFC 9112 §9.3, §9.6); nearly every client sends "keep-alive" or "close"
 * alone, which is told without walking a list. */
static void connection_field(uint32_t *flags, const char *v, size_t len)
{
    if (header_name_is(v, len, "keep-alive")) *flags |= HEAD_KEEP_ALIVE;
    else if (header_name_is(v, len, "close")) *flags |= HEAD_CLOSE;
    else for_each_list_element(v, len, visit_connection, flags);
}

/* Transfer-Encoding state across all its fields: only a final, single "chunked" is ours. */
typedef struct te_state {
    int last_is_chunked;
    int chunked_seen;
    int other_seen;
    int malformed;
} te_state;

static int visit_transfer_coding(void *ctx, const char *e, size_t len)
{
    te_state *te = ctx;
    size_t name_len = 0;
    while (name_len < len && char_is((unsigned char)e[name_len], CH_TOKEN)) name_len++;
    if (name_len == 0) {
        te->malformed = 1;
        return 1;
    }
    if (header_name_is(e, name_len, "chunked")) {
        if (te->chunked_seen || name_len != len) te->malformed = 1; /* twice, or parameters */
        te->chunked_seen = 1;
        te->last_is_chunked = 1;
    } else {
        te->other_seen = 1;
        te->last_is_chunked = 0;
    }
    return 0;
}

/* Content-Length = 1*DIGIT. A list of identical values is the same length (RFC 9110 §8.6), but
 * every element must be a number: "5," and "5, ,5" are malformed. */
typedef struct cl_state {
    uint64_t value;
    int seen;
} cl_state;

static size_t skip_ows(const char *v, size_t i, size_t len)
{
    while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
    return i;
}

static int content_length_field(cl_state *cl, const char *v, size_t len)
{
    size_t i = 0;
    for (;;) {
        uint64_t n = 0;
        size_t start;
        i = skip_ows(v, i, len);
        for (start = i; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
            unsigned d = (unsigned)(v[i] - '0');
            /* n * 10 + d past UINT64_MAX (constants only: 64-bit division is a library call
             * on a 32-bit device) */
            if (n > UINT64_MAX / 10 || (n == UINT64_MAX / 10 && d > UINT64_MAX % 10)) return -1;
            n = n * 10 + d;
        }
        if (i == start || (cl->seen && cl->value != n)) return -1;
        cl->seen = 1;
        cl->value = n;
        i = skip_ows(v, i, len);
        if (i == len) return 0;
        if (v[i++] != ',') return -1;
    }
}

/* The length of the reg-name at the start of h[0..len): unreserved and sub-delims bytes, and
 * "%" HEXDIG HEXDIG. */
static size_t skip_reg_name(const char *h, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (i < len && char_is((unsigned char)h[i], CH_HOST)) i++;
        if (i + 2 >= len || h[i] != '%' || hex_value(h[i + 1]) < 0 || hex_value(h[i + 2]) < 0)
            return i;
        i += 3;
    }
}

/* Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2); empty is allowed. */
static int host_is_valid(const char *h, size_t len)
{
    size_t i = 0;
    if (len > 0 && h[0] == '[') {
        for (i = 1; i < len && h[i] != ']'; i++) {
            unsigned char c = (unsigned char)h[i];
            if (!(hex_value(c) >= 0 || c == ':' || c == '.' || c == 'v' || c == 'V')) return 0;
        }
        if (i == len || i == 1) return 0;
        i++;
    } else {
        i = skip_reg_name(h, len);
    }
    if (i == len) return 1;
    if (h[i] != ':') return 0;
    for (i++; i < len; i++) {
        if (h[i] < '0' || h[i] > '9') return 0;
    }
    return 1;
}

/* A request-target carries no fragment (RFC 9112 §3.2); in absolute-form its authority is a
 * valid, non-empty host without userinfo (RFC 9110 §4.2.1, §4.2.4), since it stands for Host.
 * Other shapes are judged by the connection. */
static int target_is_valid(const char *t, size_t len)
{
    size_t i = 0, start;
    if (memchr(t, '#', len)) return 0;
    if (t[0] == '/') return 1;
    while (i < len && t[i] != ':' && t[i] != '/') i++;
    if (i + 2 >= len || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/') return 1;
    start = i += 3;
    while (i < len && t[i] != '/' && t[i] != '?') i++;
    return i > start && !memchr(t + start, '@', i - start) && host_is_valid(t + start, i - start);
}

/* The first letter of the name of the one field of each length that analyze_fields() reads
 * (Host, Expect, Upgrade, Connection, Content-Length, Transfer-Encoding), 0 for the other
 * lengths: any other field is passed over after one lookup, without comparing names. */
static const char framing_first_letter[32] = {
    [4] = 'h', [6] = 'e', [7] = 'u', [10] = 'c', [14] = 'c', [17] = 't'
};

static int may_be_framing_field(const char *name, uint32_t len)
{
    return len < sizeof framing_first_letter &&
           framing_first_letter[len] == char_lower((unsigned char)name[0]);
}

static int analyze_fields(parser *p, const char *buf)
{
    te_state te = {0, 0, 0, 0};
    cl_state cl = {0, 0};
    int te_fields = 0, hosts = 0;
    uint32_t i;

    for (i = 0; i < p->header_count; i++) {
        const hdr_span *h = &p->headers[i];
        const char *name = buf + h->name_off, *value = buf + h->value_off;
        if (!may_be_framing_field(name, h->name_len)) continue;
        switch (h->name_len) {
        case 4:
            if (header_name_is(name, 4, "host")) {
                if (++hosts > 1 || !host_is_valid(value, h->value_len)) return fail(p, 400);
                p->host_field = i + 1;
            }
            break;
        case 6:
            if (header_name_is(name, 6, "expect"))
                p->flags |= header_name_is(value, h->value_len, "100-continue")
                                ? HEAD_EXPECT_CONTINUE : HEAD_EXPECT_OTHER;
            break;
        case 7:
            if (header_name_is(name, 7, "upgrade")) p->flags |= HEAD_UPGRADE;
            break;
        case 10:
            if (header_name_is(name, 10, "connection")) connection_field(&p->flags, value, h->value_len);
            break;
        case 14:
            if (header_name_is(name, 14, "content-length")) {
                if (content_length_field(&cl, value, h->value_len) < 0) return fail(p, 400);
            }
            break;
        case 17:
            if (header_name_is(name, 17, "transfer-encoding")) {
                te_fields++;
                if (h->value_len == 0) return fail(p, 400);
                for_each_list_element(value, h->value_len, visit_transfer_coding, &te);
                if (te.malformed) return fail(p, 400);
            }
            break;
        default:
            break;
        }
    }

    if (hosts == 1) p->flags |= HEAD_HAS_HOST;
    else if (p->version_minor >= 1) return fail(p, 400); /* RFC 9112 §3.2: exactly one Host */

    if (te_fields > 0) {
        /* RFC 9112 §6.1: with Content-Length too, or not ending in chunked, the framing of a
         * request cannot be trusted; chunked is undefined in HTTP/1.0. */
        if (cl.seen || p->version_minor == 0 || !te.last_is_chunked) return fail(p, 400);
        if (te.other_seen) return fail(p, 501);
        p->flags |= HEAD_CHUNKED;
    } else if (cl.seen) {
        p->flags |= HEAD_HAS_LENGTH;
        p->content_length = cl.value;
    }
    return PARSE_DONE;
}

/* ---- the request line ------------------------------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT, byte by byte; a well-formed version of another major is 505. */
static int version_byte(parser *p, unsigned char c)
{
    static const char prefix[] = "HTTP/";
    if (p->vpos < 5) {
        if (c != (unsigned char)prefix[p->vpos]) return fail(p, 400);
    } else if (p->vpos == 5 || p->vpos == 7) {
        if (c < '0' || c > '9') return fail(p, 400);
        if (p->vpos == 5) p->version_major = (uint8_t)(c - '0');
        else p->version_minor = (uint8_t)(c - '0');
    } else if (p->vpos == 6) {
        if (c != '.') return fail(p, 400);
    } else {
        return fail(p, 400);
    }
    p->vpos++;
    return PARSE_MORE;
}

static int version_end(parser *p)
{
    if (p->vpos != 8) return fail(p, 400);
    if (p->version_major != 1) return fail(p, 505);
    if (p->version_minor > 1) p->version_minor = 1; /* RFC 9110 §2.5: served as 1.1 */
    return PARSE_MORE;
}

/* ---- runs of bytes ---------------------------------------------------------------------- */

/* Returns the index of the first byte in [i, stop) that is not a tchar, or stop. Tokens are
 * short, so a byte at a time, four between bounds checks: a word test would add the latency of
 * finding the byte in the word to every name. */
static inline uint32_t skip_token(const unsigned char *b, uint32_t i, uint32_t stop)
{
    while (stop - i >= 4) {
        if (!char_is(b[i], CH_TOKEN)) return i;
        if (!char_is(b[i + 1], CH_TOKEN)) return i + 1;
        if (!char_is(b[i + 2], CH_TOKEN)) return i + 2;
        if (!char_is(b[i + 3], CH_TOKEN)) return i + 3;
        i += 4;
    }
    while (i < stop && char_is(b[i], CH_TOKEN)) i++;
    return i;
}

/* Returns the index of the first byte in [i, stop) outside `cls` (CH_VCHAR or CH_FIELD), or
 * stop. Whole words go by while none of their bytes is marked; the marked byte ends the run
 * unless it is the HTAB of a value. The last few bytes go one at a time. */
static inline uint32_t skip_class(const unsigned char *b, uint32_t i, uint32_t stop,
                                  unsigned cls)
{
    while (stop - i >= 8) {
        uint64_t marked = word_maybe_outside(word_load(b + i), cls);
        if (marked == 0) {
            i += 8;
            continue;
        }
        i += word_first_marked(marked);
        if (cls == CH_VCHAR || b[i] != '\t') return i;
        i++;
    }
    while (i < stop && char_is(b[i], cls)) i++;
    return i;
}

/* The usual "HTTP/" DIGIT "." DIGIT in one go; anything else is left to version_byte(), which
 * also produces the right error. */
static int version_whole(parser *p, const unsigned char *v)
{
    if (memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
        v[7] > '9')
        return 0;
    p->version_major = (uint8_t)(v[5] - '0');
    p->version_minor = (uint8_t)(v[7] - '0');
    p->vpos = 8;
    return 1;
}

/* ---- the state machine ------------------------------------------------------------------ */

/* The state lives in a local while the bytes are being consumed, so that moving from one part
 * of a line to the next is a jump rather than a store and a reload. The states of a request
 * line and of a field follow each other in the switch: a state that ends with bytes left goes
 * on into the next one directly, which is what a trip round the loop would do. */
int parser_execute(parser *p, const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    uint32_t n = len > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)len;
    uint32_t i = p->pos;
    /* The request line ends with the CR at index max_request_line at the latest; the field
     * section, final CRLF included, spans at most max_header_bytes. */
    uint32_t line_end = p->max_request_line;
    uint32_t fields_end = p->fields_start + p->max_header_bytes;
    uint32_t stop;
    unsigned state = p->state;
    /* the span being filled (none when there is no room for spans at all) */
    hdr_span *h = p->headers ? p->headers + p->header_count : NULL;

    if (state == S_DONE) return PARSE_DONE;
    if (state == S_ERROR) return PARSE_ERROR;

    while (i < n) {
        switch (state) {
        case S_START:
            if (i >= line_end) return fail(p, 414);
            if (b[i] == '\r') {
                state = S_START_LF;
                i++;
                break;
            }
            if (!char_is(b[i], CH_TOKEN)) return fail(p, 400);
            p->method_off = i;
            state = S_METHOD;
            /* fall through */
        case S_METHOD:
            stop = min_u32(n, line_end);
            i = skip_token(b, i, stop);
            if (i == stop) {
                if (i == line_end) return fail(p, 414);
                break;
            }
            if (b[i] != ' ') return fail(p, 400);
            p->method_len = i - p->method_off;
            p->target_off = ++i;
            state = S_TARGET;
            if (i == n) break;
            /* fall through */
        case S_TARGET:
            stop = min_u32(n, line_end);
            i = skip_class(b, i, stop, CH_VCHAR);
            if (i == stop) {
                if (i == line_end) return fail(p, 414);
                break;
            }
            if (b[i] != ' ' || i == p->target_off) return fail(p, 400);
            p->target_len = i - p->target_off;
            if (!target_is_valid(buf + p->target_off, p->target_len)) return fail(p, 400);
            state = S_VERSION;
            i++;
            if (n - i >= 8 && line_end - i >= 8 && version_whole(p, b + i)) i += 8;
            if (i == n) break;
            /* fall through */
        case S_VERSION:
            if (b[i] != '\r') {
                if (i >= line_end) return fail(p, 414);
                if (version_byte(p, b[i]) != PARSE_MORE) return PARSE_ERROR;
                i++;
                break;
            }
            if (version_end(p) != PARSE_MORE) return PARSE_ERROR;
            state = S_LINE_LF;
            if (++i == n) break;
            /* fall through */
        case S_LINE_LF:
            if (b[i] != '\n') return fail(p, 400);
            p->fields_start = ++i;
            fields_end = p->fields_start + p->max_header_bytes;
            state = S_FIELD_START;
            if (i == n) break;
            /* fall through */
        case S_FIELD_START:
            if (i >= fields_end) return fail(p, 431);
            if (b[i] == '\r') {
                state = S_END_LF;
                i++;
                break;
            }
            /* whitespace here is obs-fold or space before the first field: RFC 9112 §5.2, §2.2 */
            if (!char_is(b[i], CH_TOKEN)) return fail(p, 400);
            if (p->header_count == p->max_headers) return fail(p, 431);
            h->name_off = i;
            state = S_NAME;
            /* fall through */
        case S_NAME:
            stop = min_u32(n, fields_end);
            i = skip_token(b, i, stop);
            if (i == stop) {
                if (i == fields_end) return fail(p, 431);
                break;
            }
            if (b[i] != ':') return fail(p, 400); /* RFC 9112 §5.1: no space before the colon */
            h->name_len = i - h->name_off;
            state = S_VALUE_LEAD;
            if (++i == n) break;
            /* fall through */
        case S_VALUE_LEAD:
            stop = min_u32(n, fields_end);
            while (i < stop && (b[i] == ' ' || b[i] == '\t')) i++;
            if (i == stop) {
                if (i == fields_end) return fail(p, 431);
                break;
            }
            h->value_off = i;
            state = S_VALUE;
            /* fall through */
        case S_VALUE:
            stop = min_u32(n, fields_end);
            i = skip_class(b, i, stop, CH_FIELD);
            if (i == stop) {
                if (i == fields_end) return fail(p, 431);
                break;
            }
            if (b[i] != '\r') return fail(p, 400);
            {
                uint32_t end = i;
                while (end > h->value_off && (b[end - 1] == ' ' || b[end - 1] == '\t')) end--;
                h->value_len = end - h->value_off;
            }
            state = S_FIELD_LF;
            if (++i == n) break;
            /* fall through */
        case S_FIELD_LF:
            if (b[i] != '\n') return fail(p, 400);
            if (i >= fields_end) return fail(p, 431);
            p->header_count++;
            h++;
            state = S_FIELD_START;
            i++;
            break;
        case S_START_LF:
            if (b[i] != '\n') return fail(p, 400);
            state = S_START;
            i++;
            break;
        case S_END_LF:
            if (b[i] != '\n') return fail(p, 400);
            if (i >= fields_end) return fail(p, 431);
            p->head_len = ++i;
            p->pos = i;
            if (!p->is_trailer && analyze_fields(p, buf) != PARSE_DONE) return PARSE_ERROR;
            p->state = S_DONE;
            return PARSE_DONE;
        default:
            return fail(p, 400);
        }
    }
    p->state = (uint8_t)state;
    p->pos = i;
    return PARSE_MORE;
}
