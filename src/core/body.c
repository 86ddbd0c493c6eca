/* body.c - Content-Length and chunked body decoding; see body.h.
 *
 * chunked-body = *chunk last-chunk trailer-section CRLF
 * chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
 * Strict: a size with junk after it, a bare LF, data not followed by CRLF, or a size that
 * overflows is an error, because a lenient reading here is how requests are smuggled. */
#include "core/body.h"

#include "core/chars.h"

enum {
    B_DATA,          /* Content-Length body, or inside a chunk */
    B_SIZE,          /* chunk-size hex digits */
    B_SIZE_BWS,      /* whitespace after the size: only ";" may follow */
    B_EXT_NAME0,     /* BWS before an extension name */
    B_EXT_NAME,
    B_EXT_NAME_BWS,  /* BWS after a name: "=", ";" or CR */
    B_EXT_VALUE0,    /* BWS before a value */
    B_EXT_TOKEN,
    B_EXT_QUOTED,
    B_EXT_ESCAPE,
    B_EXT_AFTER,     /* after a quoted value: ";", CR or BWS */
    B_EXT_BWS,       /* BWS after a name or value: only "=" (after a name) or ";" may follow */
    B_SIZE_LF,
    B_DATA_CR,
    B_DATA_LF,
    B_TRAILER,       /* start of a trailer line, or the final CRLF */
    B_TRAILER_NAME,
    B_TRAILER_VALUE,
    B_TRAILER_LF,
    B_END_LF,
    B_DONE,
    B_ERROR
};

void body_init(body_decoder *d, int chunked, uint64_t length, uint64_t max, uint32_t line_limit)
{
    d->chunked = chunked ? 1 : 0;
    d->state = chunked ? B_SIZE : (length == 0 ? B_DONE : B_DATA);
    d->has_digit = 0;
    d->line_len = 0;
    d->line_limit = line_limit;
    d->remaining = chunked ? 0 : length;
    d->total = 0;
    d->max = max;
    d->status = 0;
    d->trailer = NULL;
    d->trailer_len = 0;
}

static int body_fail(body_decoder *d, int status)
{
    d->state = B_ERROR;
    d->status = status;
    return BODY_ERROR;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* What a quoted-pair may escape: HTAB, SP, VCHAR, obs-text */
static int is_quotable(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7F);
}

/* qdtext: the same but DQUOTE and backslash */
static int is_qdtext(unsigned char c)
{
    return is_quotable(c) && c != '"' && c != '\\';
}

/* A chunk-size line has ended: start the data, or the trailers after the last chunk. */
static int size_line_done(body_decoder *d)
{
    if (d->remaining > d->max - d->total) return body_fail(d, 413);
    d->line_len = 0;
    d->state = d->remaining == 0 ? B_TRAILER : B_DATA;
    return BODY_MORE;
}

static int size_digit(body_decoder *d, unsigned char c)
{
    int v = hex_value(c);
    if (v >= 0) {
        if (d->remaining > (UINT64_MAX >> 4)) return body_fail(d, 400);
        d->remaining = (d->remaining << 4) | (uint64_t)v;
        d->has_digit = 1;
        return BODY_MORE;
    }
    if (!d->has_digit) return body_fail(d, 400);
    if (c == '\r') d->state = B_SIZE_LF;
    else if (c == ';') d->state = B_EXT_NAME0;
    else if (is_ws(c)) d->state = B_SIZE_BWS;
    else return body_fail(d, 400);
    return BODY_MORE;
}

/* One byte of a chunk extension; the extension is checked, then ignored. */
static int extension_byte(body_decoder *d, unsigned char c)
{
    switch (d->state) {
    case B_SIZE_BWS:
    case B_EXT_BWS:
        if (c == ';') d->state = B_EXT_NAME0;
        else if (!is_ws(c)) return body_fail(d, 400);
        break;
    case B_EXT_NAME0:
        if (char_is(c, CH_TOKEN)) d->state = B_EXT_NAME;
        else if (!is_ws(c)) return body_fail(d, 400);
        break;
    case B_EXT_NAME:
        if (c == '=') d->state = B_EXT_VALUE0;
        else if (c == ';') d->state = B_EXT_NAME0;
        else if (c == '\r') d->state = B_SIZE_LF;
        else if (is_ws(c)) d->state = B_EXT_NAME_BWS;
        else if (!char_is(c, CH_TOKEN)) return body_fail(d, 400);
        break;
    case B_EXT_NAME_BWS:
        if (c == '=') d->state = B_EXT_VALUE0;
        else if (c == ';') d->state = B_EXT_NAME0;
        else if (!is_ws(c)) return body_fail(d, 400);
        break;
    case B_EXT_VALUE0:
        if (c == '"') d->state = B_EXT_QUOTED;
        else if (char_is(c, CH_TOKEN)) d->state = B_EXT_TOKEN;
        else if (!is_ws(c)) return body_fail(d, 400);
        break;
    case B_EXT_TOKEN:
    case B_EXT_AFTER:
        if (c == ';') d->state = B_EXT_NAME0;
        else if (c == '\r') d->state = B_SIZE_LF;
        else if (is_ws(c)) d->state = B_EXT_BWS;
        else if (!(d->state == B_EXT_TOKEN && char_is(c, CH_TOKEN))) return body_fail(d, 400);
        break;
    case B_EXT_QUOTED:
        if (c == '"') d->state = B_EXT_AFTER;
        else if (c == '\\') d->state = B_EXT_ESCAPE;
        else if (!is_qdtext(c)) return body_fail(d, 400);
        break;
    case B_EXT_ESCAPE:
        if (!is_quotable(c)) return body_fail(d, 400);
        d->state = B_EXT_QUOTED;
        break;
    default:
        return body_fail(d, 400);
    }
    return BODY_MORE;
}

/* One byte of the trailer section: field lines validated like header fields, then ignored. */
static int trailer_byte(body_decoder *d, unsigned char c)
{
    switch (d->state) {
    case B_TRAILER:
        if (c == '\r') d->state = B_END_LF;
        else if (char_is(c, CH_TOKEN)) d->state = B_TRAILER_NAME;
        else return body_fail(d, 400);
        break;
    case B_TRAILER_NAME:
        if (c == ':') d->state = B_TRAILER_VALUE;
        else if (!char_is(c, CH_TOKEN)) return body_fail(d, 400);
        break;
    case B_TRAILER_VALUE:
        if (c == '\r') d->state = B_TRAILER_LF;
        else if (!char_is(c, CH_FIELD)) return body_fail(d, 400);
        break;
    case B_TRAILER_LF:
        if (c != '\n') return body_fail(d, 400);
        d->state = B_TRAILER;
        break;
    default:
        return body_fail(d, 400);
    }
    return BODY_MORE;
}

static int framing_byte(body_decoder *d, unsigned char c)
{
    switch (d->state) {
    case B_SIZE:
        if (++d->line_len > d->line_limit) return body_fail(d, 400);
        return size_digit(d, c);
    case B_SIZE_LF:
        if (c != '\n') return body_fail(d, 400);
        return size_line_done(d);
    case B_DATA_CR:
        if (c != '\r') return body_fail(d, 400);
        d->state = B_DATA_LF;
        return BODY_MORE;
    case B_DATA_LF:
        if (c != '\n') return body_fail(d, 400);
        d->state = B_SIZE;
        d->has_digit = 0;
        d->line_len = 0;
        return BODY_MORE;
    case B_END_LF:
        if (c != '\n') return body_fail(d, 400);
        d->state = B_DONE;
        return BODY_DONE;
    case B_TRAILER:
    case B_TRAILER_NAME:
    case B_TRAILER_VALUE:
    case B_TRAILER_LF:
        if (++d->line_len > d->line_limit) return body_fail(d, 431);
        return trailer_byte(d, c);
    default:
        if (++d->line_len > d->line_limit) return body_fail(d, 400);
        return extension_byte(d, c);
    }
}

static int in_trailer(const body_decoder *d)
{
    return d->state >= B_TRAILER && d->state <= B_END_LF;
}

int body_decode(body_decoder *d, const char *in, size_t len, size_t *consumed, const char **data,
                size_t *data_len)
{
    size_t i = 0, trailer_from = len;
    *data = in;
    *data_len = 0;
    d->trailer = NULL;
    d->trailer_len = 0;
    while (i < len) {
        if (d->state == B_DATA) {
            size_t run = len - i;
            if ((uint64_t)run > d->remaining) run = (size_t)d->remaining;
            if (!d->chunked && d->total + run > d->max) {
                *consumed = i;
                return body_fail(d, 413);
            }
            *data = in + i;
            *data_len = run;
            d->remaining -= run;
            d->total += run;
            i += run;
            if (d->remaining == 0) d->state = d->chunked ? B_DATA_CR : B_DONE;
            break;
        }
        if (d->state == B_DONE || d->state == B_ERROR) break;
        if (in_trailer(d) && trailer_from == len) trailer_from = i;
        if (framing_byte(d, (unsigned char)in[i++]) == BODY_ERROR) {
            *consumed = i;
            return BODY_ERROR;
        }
    }
    *consumed = i;
    if (trailer_from < i) {
        d->trailer = in + trailer_from;
        d->trailer_len = i - trailer_from;
    }
    if (d->state == B_ERROR) return BODY_ERROR;
    return d->state == B_DONE ? BODY_DONE : BODY_MORE;
}
