/* request.c - what a handler can read of its request; see mote.h. */
#include <string.h>

#include "addr.h"
#include "chars.h"
#include "conn.h"

static const char *head_of(const mote_request *req)
{
    const mote_conn *c = conn_of_request(req);
    return c->in + c->in_start;
}

const char *mote_request_method(const mote_request *req)
{
    return head_of(req) + conn_of_request(req)->parser.method_off;
}

const char *mote_request_target(const mote_request *req)
{
    return head_of(req) + conn_of_request(req)->parser.target_off;
}

mote_str mote_request_path(const mote_request *req)
{
    mote_str s;
    s.ptr = head_of(req) + req->path_off;
    s.len = req->path_len;
    return s;
}

mote_str mote_request_query(const mote_request *req)
{
    mote_str s;
    s.ptr = head_of(req) + req->query_off;
    s.len = req->query_len;
    return s;
}

int mote_request_version(const mote_request *req)
{
    return req->version;
}

size_t mote_request_header_count(const mote_request *req)
{
    return conn_of_request(req)->parser.header_count;
}

int mote_request_header_at(const mote_request *req, size_t i, mote_header *out)
{
    const parser *p = &conn_of_request(req)->parser;
    const char *base = head_of(req);
    if (i >= p->header_count || !out) return MOTE_EINVAL;
    out->name = base + p->headers[i].name_off;
    out->name_len = p->headers[i].name_len;
    out->value = base + p->headers[i].value_off;
    out->value_len = p->headers[i].value_len;
    return MOTE_OK;
}

static int name_equals(const char *a, size_t len, const char *b)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (char_lower((unsigned char)a[i]) != char_lower((unsigned char)b[i])) return 0;
    }
    return b[len] == '\0';
}

const char *mote_request_header(const mote_request *req, const char *name)
{
    const parser *p = &conn_of_request(req)->parser;
    const char *base = head_of(req);
    size_t len = strlen(name);
    uint32_t i;
    for (i = 0; i < p->header_count; i++) {
        const hdr_span *h = &p->headers[i];
        if (h->name_len == len && name_equals(base + h->name_off, len, name))
            return base + h->value_off;
    }
    return NULL;
}

int mote_request_peer(const mote_request *req, char *buf, size_t buf_len, uint16_t *port)
{
    const mote_conn *c = conn_of_request(req);
    if (port) *port = c->peer.port;
    return addr_format(&c->peer, buf, buf_len);
}

int mote_request_is_tls(const mote_request *req)
{
    return conn_of_request(req)->is_tls;
}
