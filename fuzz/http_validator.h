/* http_validator.h - a strict checker of the bytes a server writes on one connection: a
 * sequence of HTTP/1.1 responses, each a status line, header fields and a body framed by
 * Content-Length, chunked coding, the connection's close, or nothing (HEAD, 1xx, 204, 304),
 * with only "100 Continue" as an interim response. The stream may stop anywhere (the
 * connection was cut off), but what is there must be well formed.
 *
 * Responses are matched in order with the requests the server dispatched (whose method and
 * version decide framing); a final response beyond them answers a request that never got
 * dispatched, i.e. a malformed head, and must close the connection. */
#ifndef MOTE_HTTP_VALIDATOR_H
#define MOTE_HTTP_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_info {
    uint8_t is_head;
    uint8_t version;   /* 10 or 11 */
} req_info;

typedef struct vstate {
    const char *p;     /* the stream */
    size_t len, pos;
    const req_info *reqs;
    size_t req_count;
    /* results */
    size_t finals;     /* final responses seen (complete or not) */
    int closed;        /* the last final response said Connection: close */
    int truncated;     /* the stream ends inside a response */
    int last_status;
} vstate;

typedef struct vhead {
    int status;
    int has_length, chunked, close, servers, dates;
    uint64_t length;
} vhead;

static void v_fail(const vstate *v, const char *what)
{
    size_t from = v->pos > 200 ? v->pos - 200 : 0;
    fprintf(stderr, "http_validator: %s at byte %zu of %zu; preceding output:\n%.*s<HERE>\n",
            what, v->pos, v->len, (int)(v->pos - from), v->p + from);
    abort();
}

static int v_is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int v_ieq(const char *a, size_t n, const char *lower)
{
    size_t i;
    if (strlen(lower) != n) return 0;
    for (i = 0; i < n; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        if (c != lower[i]) return 0;
    }
    return 1;
}

/* The end of the CRLF-terminated line at pos (index of its CR), or 0 when the stream ends
 * first. A bare LF or CR inside the line is a violation. */
static size_t v_line_end(vstate *v)
{
    size_t i;
    for (i = v->pos; i < v->len; i++) {
        if (v->p[i] == '\n') v_fail(v, "bare LF");
        if (v->p[i] == '\r') {
            if (i + 1 >= v->len) return 0;
            if (v->p[i + 1] != '\n') v_fail(v, "CR not followed by LF");
            return i;
        }
    }
    return 0;
}

/* "HTTP/1.1 DDD reason". Returns 0 when the stream ends inside it. */
static int v_status_line(vstate *v, vhead *h)
{
    size_t end = v_line_end(v), i;
    const char *s = v->p + v->pos;
    if (!end) return 0;
    if (end - v->pos < 13 || memcmp(s, "HTTP/1.1 ", 9) != 0 || s[12] != ' ')
        v_fail(v, "bad status line");
    for (i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9') v_fail(v, "bad status code");
    h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (h->status < 100 || h->status > 599) v_fail(v, "status out of range");
    for (i = 13; i < end - v->pos; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t') v_fail(v, "control byte in reason");
    v->pos = end + 2;
    return 1;
}

static void v_field_value(vstate *v, vhead *h, const char *name, size_t nlen, const char *val,
                          size_t vlen)
{
    size_t i;
    for (i = 0; i < vlen; i++)
        if (((unsigned char)val[i] < 0x20 && val[i] != '\t') || val[i] == 0x7f)
            v_fail(v, "control byte in a field value");
    if (v_ieq(name, nlen, "content-length")) {
        if (h->has_length++) v_fail(v, "two Content-Length fields");
        if (vlen == 0 || vlen > 18) v_fail(v, "bad Content-Length");
        for (i = 0; i < vlen; i++) {
            if (val[i] < '0' || val[i] > '9') v_fail(v, "bad Content-Length");
            h->length = h->length * 10 + (uint64_t)(val[i] - '0');
        }
    } else if (v_ieq(name, nlen, "transfer-encoding")) {
        if (h->chunked++ || !v_ieq(val, vlen, "chunked")) v_fail(v, "unexpected Transfer-Encoding");
    } else if (v_ieq(name, nlen, "connection")) {
        if (v_ieq(val, vlen, "close")) h->close = 1;
        else if (!v_ieq(val, vlen, "keep-alive")) v_fail(v, "unexpected Connection value");
    } else if (v_ieq(name, nlen, "server")) {
        h->servers++;
    } else if (v_ieq(name, nlen, "date")) {
        h->dates++;
    }
}

/* Header fields up to the blank line. Returns 0 when the stream ends inside them. */
static int v_fields(vstate *v, vhead *h)
{
    for (;;) {
        size_t end = v_line_end(v), n = 0, vs;
        const char *s = v->p + v->pos;
        if (!end) return 0;
        if (end == v->pos) {
            v->pos += 2;
            return 1;
        }
        while (v->pos + n < end && v_is_tchar((unsigned char)s[n])) n++;
        if (n == 0 || s[n] != ':') v_fail(v, "bad field name");
        vs = n + 1;
        while (v->pos + vs < end && s[vs] == ' ') vs++;
        if (vs != n + 2 && v->pos + vs < end) v_fail(v, "field value not after one space");
        if (v->pos + vs < end && (s[end - v->pos - 1] == ' ' || s[end - v->pos - 1] == '\t'))
            v_fail(v, "trailing whitespace in a field value");
        v_field_value(v, h, s, n, s + vs, end - v->pos - vs);
        v->pos = end + 2;
    }
}

/* A chunked body without extensions or trailers. Returns 0 when the stream ends inside it. */
static int v_chunked(vstate *v)
{
    for (;;) {
        size_t end = v_line_end(v), i;
        uint64_t size = 0;
        if (!end) return 0;
        if (end == v->pos || end - v->pos > 15) v_fail(v, "bad chunk size line");
        for (i = v->pos; i < end; i++) {
            char c = v->p[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) v_fail(v, "bad chunk size");
            size = size * 16 + (uint64_t)d;
        }
        v->pos = end + 2;
        if (size == 0) break;
        if (v->len - v->pos < size + 2) return 0;
        v->pos += size;
        if (memcmp(v->p + v->pos, "\r\n", 2) != 0) v_fail(v, "chunk data not followed by CRLF");
        v->pos += 2;
    }
    if (v->len - v->pos < 2) return 0;
    if (memcmp(v->p + v->pos, "\r\n", 2) != 0) v_fail(v, "trailer fields or no final CRLF");
    v->pos += 2;
    return 1;
}

/* The body of a final response. Returns 0 when the stream ends inside it. */
static int v_body(vstate *v, const vhead *h, const req_info *req)
{
    int no_body = (req && req->is_head) || h->status == 204 || h->status == 304;
    if (h->chunked && h->has_length) v_fail(v, "both Content-Length and chunked");
    if (h->status == 204 && (h->chunked || h->has_length)) v_fail(v, "framing fields on a 204");
    if (no_body) return 1;
    if (h->chunked) {
        if (req && req->version == 10) v_fail(v, "chunked response to HTTP/1.0");
        return v_chunked(v);
    }
    if (h->has_length) {
        if (v->len - v->pos < h->length) return 0;
        v->pos += (size_t)h->length;
        return 1;
    }
    if (!h->close) v_fail(v, "close-delimited body without Connection: close");
    v->pos = v->len;
    return 0; /* it lasts until the connection closes */
}

/* One response, interim or final. Returns 0 when the stream ends inside it. */
static int v_response(vstate *v)
{
    vhead h;
    const req_info *req;
    memset(&h, 0, sizeof h);
    if (!v_status_line(v, &h)) return 0;
    if (h.status < 200) {
        if (h.status != 100) v_fail(v, "interim response other than 100");
        if (v->len - v->pos < 2) return 0;
        if (memcmp(v->p + v->pos, "\r\n", 2) != 0) v_fail(v, "fields on 100 Continue");
        v->pos += 2;
        return 1;
    }
    req = v->finals < v->req_count ? &v->reqs[v->finals] : NULL;
    v->finals++;
    v->last_status = h.status;
    if (!v_fields(v, &h)) return 0;
    if (h.servers > 1 || h.dates > 1) v_fail(v, "Server or Date twice");
    v->closed = h.close;
    if (!req && !h.close) v_fail(v, "response to an undispatched request keeps the connection");
    return v_body(v, &h, req);
}

/* Checks out[0..len); aborts on a violation. */
static void validate_stream(vstate *v, const char *out, size_t len, const req_info *reqs,
                            size_t req_count)
{
    memset(v, 0, sizeof *v);
    v->p = out;
    v->len = len;
    v->reqs = reqs;
    v->req_count = req_count;
    while (v->pos < v->len) {
        if (v->closed) v_fail(v, "bytes after a response that closed the connection");
        if (!v_response(v)) {
            v->truncated = 1;
            return;
        }
    }
}

#endif
