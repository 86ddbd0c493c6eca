/* request.c - what a handler can read of its request; see mote.h. */
#include <string.h>

#include "core/addr.h"
#include "core/chars.h"
#include "engine/conn.h"

static const char *head_of(const mote_request *req)
{
    const mote_conn *c = conn_of_request(req);
    return c->in + c->in_start;
}

const char *mote_request_method(const mote_request *req)
{
    return head_of(req) + conn_of_request(req)->a->parser.method_off;
}

const char *mote_request_target(const mote_request *req)
{
    return head_of(req) + conn_of_request(req)->a->parser.target_off;
}

unsigned mote_request_method_id(const mote_request *req)
{
    return req->method;
}

mote_str mote_request_path(const mote_request *req)
{
    mote_str s;
    s.ptr = conn_of_request(req)->path;
    s.len = req->path_len;
    return s;
}

mote_str mote_request_host(const mote_request *req)
{
    mote_str s;
    s.ptr = head_of(req) + req->host_off;
    s.len = req->host_len;
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
    return conn_of_request(req)->a->parser.header_count;
}

int mote_request_header_at(const mote_request *req, size_t i, mote_header *out)
{
    const parser *p = &conn_of_request(req)->a->parser;
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

static const char *field_value(const char *base, const hdr_span *fields, uint32_t count,
                               const char *name)
{
    size_t len = strlen(name);
    uint32_t i;
    for (i = 0; i < count; i++) {
        if (fields[i].name_len == len && name_equals(base + fields[i].name_off, len, name))
            return base + fields[i].value_off;
    }
    return NULL;
}

const char *mote_request_header(const mote_request *req, const char *name)
{
    const parser *p = &conn_of_request(req)->a->parser;
    if (!name) return NULL;
    return field_value(head_of(req), p->headers, p->header_count, name);
}

const char *mote_request_trailer(const mote_request *req, const char *name)
{
    const mote_conn *c = conn_of_request(req);
    if (!name || !c->a->body.trailer_count) return NULL;
    return field_value(c->in + c->a->body.trailer_off,
                       c->a->parser.headers + c->a->parser.header_count,
                       c->a->body.trailer_count, name);
}

int64_t mote_request_content_length(const mote_request *req)
{
    const parser *p = &conn_of_request(req)->a->parser;
    if (p->flags & HEAD_CHUNKED) return -1;
    if (!(p->flags & HEAD_HAS_LENGTH)) return 0;
    return p->content_length > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)p->content_length;
}

mote_str mote_request_body(const mote_request *req)
{
    const mote_conn *c = conn_of_request(req);
    mote_str s;
    s.ptr = "";
    s.len = 0;
    if (c->a->body.mode != BODY_COLLECT) return s;
    s.ptr = c->a->body.collect_heap ? c->a->body.heap : c->in + c->a->body.collect_off;
    s.len = (size_t)c->a->body.collected;
    if (!s.ptr) s.ptr = "";
    return s;
}

int mote_request_peer(const mote_request *req, char *buf, size_t buf_len, uint16_t *port)
{
    const mote_conn *c = conn_of_request(req);
    if (port) *port = c->peer.port;
    return addr_format(&c->peer, buf, buf_len);
}

mote_response *mote_request_response(mote_request *req)
{
    return &conn_of_request_mut(req)->a->res;
}

int mote_request_is_tls(const mote_request *req)
{
    return conn_of_request(req)->is_tls;
}
