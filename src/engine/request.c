/* request.c - what a handler can read of its request, and its body controls; see mote.h. Every
 * protocol fills the same mote_request (exchange.h), so nothing here knows one. */
#include <string.h>

#include "core/addr.h"
#include "core/chars.h"
#include "engine/engine.h"
#include "engine/exchange.h"
#include "engine/forwarded.h"

static const mote_conn *conn_of(const mote_request *req)
{
    return exchange_of_request(req)->conn;
}

const char *mote_request_method(const mote_request *req)
{
    return req->base + req->method_off;
}

const char *mote_request_target(const mote_request *req)
{
    return req->base + req->target_off;
}

unsigned mote_request_method_id(const mote_request *req)
{
    return req->method;
}

static mote_str view(const char *p, size_t len)
{
    mote_str s;
    s.ptr = p ? p : "";
    s.len = p ? len : 0;
    return s;
}

mote_str mote_request_path(const mote_request *req)
{
    return view(req->path, req->path_len);
}

mote_str mote_request_host(const mote_request *req)
{
    return view(req->host, req->host_len);
}

mote_str mote_request_query(const mote_request *req)
{
    return view(req->query, req->query_len);
}

int mote_request_version(const mote_request *req)
{
    return req->version;
}

size_t mote_request_header_count(const mote_request *req)
{
    return req->field_count;
}

int mote_request_header_at(const mote_request *req, size_t i, mote_header *out)
{
    if (i >= req->field_count || !out) return MOTE_EINVAL;
    out->name = req->base + req->fields[i].name_off;
    out->name_len = req->fields[i].name_len;
    out->value = req->base + req->fields[i].value_off;
    out->value_len = req->fields[i].value_len;
    return MOTE_OK;
}

static const char *field_value(const char *base, const hdr_span *fields, uint32_t count,
                               const char *name)
{
    size_t len = strlen(name);
    uint32_t i;
    for (i = 0; i < count; i++) {
        if (fields[i].name_len == len && chars_equal_nocase(base + fields[i].name_off, len, name))
            return base + fields[i].value_off;
    }
    return NULL;
}

const char *mote_request_header(const mote_request *req, const char *name)
{
    if (!name) return NULL;
    return field_value(req->base, req->fields, req->field_count, name);
}

const char *mote_request_trailer(const mote_request *req, const char *name)
{
    if (!name || !req->trailer_count) return NULL;
    return field_value(req->trailer_base, req->trailers, req->trailer_count, name);
}

int64_t mote_request_content_length(const mote_request *req)
{
    if (!(req->flags & REQ_LENGTH_KNOWN)) return (req->flags & REQ_HAS_BODY) ? -1 : 0;
    return req->content_length > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)req->content_length;
}

mote_str mote_request_body(const mote_request *req)
{
    return view(req->body, (size_t)req->body_len);
}

int mote_request_peer(const mote_request *req, char *buf, size_t buf_len, uint16_t *port)
{
    const mote_conn *c = conn_of(req);
    if (port) *port = c->peer.port;
    return addr_format(&c->peer, buf, buf_len);
}

/* The client as trusted proxies tell it (forwarded_client()). */
static mote_addr client_of(const mote_request *req, int *https)
{
    const mote_conn *c = conn_of(req);
    size_t count;
    const trusted_net *nets = engine_trusted(c->env->owner, &count);
    mote_addr client, via;
    *https = c->is_tls || engine_via(c, &via) == 1;
    forwarded_client(req, &c->peer, nets, count, &client, https);
    return client;
}

int mote_request_client_addr(const mote_request *req, char *buf, size_t buf_len, uint16_t *port)
{
    int https;
    mote_addr a;
    if (!req || !buf) return MOTE_EINVAL;
    a = client_of(req, &https);
    if (port) *port = a.port;
    return addr_format(&a, buf, buf_len);
}

const char *mote_request_client_scheme(const mote_request *req)
{
    int https;
    if (!req) return NULL;
    (void)client_of(req, &https);
    return https ? "https" : "http";
}

int mote_request_proxy_addr(const mote_request *req, char *buf, size_t buf_len, uint16_t *port)
{
    mote_addr a;
    if (!req || !buf) return MOTE_EINVAL;
    if (engine_via(conn_of(req), &a) < 0) return MOTE_ENOTFOUND;
    if (port) *port = a.port;
    return addr_format(&a, buf, buf_len);
}

mote_response *mote_request_response(mote_request *req)
{
    return req ? &exchange_of_request(req)->res : NULL;
}

int mote_request_is_tls(const mote_request *req)
{
    return conn_of(req)->is_tls;
}

const mote_tls_peer *mote_request_tls_peer(const mote_request *req)
{
    return engine_tls_peer(conn_of(req));
}

int mote_request_set_user(mote_request *req, void *user, mote_release_fn release)
{
    mote_exchange *x;
    if (!req) return MOTE_EINVAL;
    x = exchange_of_request(req);
    x->user = user;
    x->release = release;
    return MOTE_OK;
}

void *mote_request_user(const mote_request *req)
{
    return req ? exchange_of_request(req)->user : NULL;
}

/* ---- the body --------------------------------------------------------------------------------- */

int mote_request_read_body(mote_request *req, mote_body_fn fn, void *user)
{
    mote_exchange *x;
    if (!req || !fn) return MOTE_EINVAL;
    x = exchange_of_request(req);
    if (!x->in_callback || x->body.mode != BODY_DRAIN || x->body.ended || x->res.state == RES_DONE ||
        x->body.route == NULL || (x->body.route->flags & ROUTE_COLLECT))
        return MOTE_ESTATE;
    x->body.mode = BODY_STREAM;
    x->body.on_data = fn;
    x->body.user = user;
    x->ops->want_body(x);
    return MOTE_OK;
}

int mote_request_pause(mote_request *req)
{
    mote_exchange *x;
    if (!req) return MOTE_EINVAL;
    x = exchange_of_request(req);
    if (x->body.mode != BODY_STREAM) return MOTE_ESTATE;
    x->body.paused = 1;
    return MOTE_OK;
}

int mote_request_resume(mote_request *req)
{
    mote_exchange *x;
    if (!req) return MOTE_EINVAL;
    x = exchange_of_request(req);
    if (!x->body.paused) return MOTE_OK;
    x->body.paused = 0;
    x->ops->want_body(x);
    return MOTE_OK;
}
