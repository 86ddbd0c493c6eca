/* response.c - the public response calls: the response's state, its staged header fields and
 * the library's rules for them, whatever protocol carries it (exchange_ops writes the bytes). */
#include <string.h>

#include "core/chars.h"
#include "engine/exchange.h"

/* The IANA registry's codes (RFC 9110 §15 and the RFCs it lists; 306 and 418 are registered as
 * unused), in order, and their reasons: smaller than a switch's jump table. */
static const uint16_t status_codes[] = {
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 510, 511
};
/* Each reason behind a byte that counts it and its NUL, so a search steps over them: no table
 * of pointers (a quarter of a kilobyte on a device). */
static const char status_reasons[] =
    "\011" "Continue\0" "\024" "Switching Protocols\0" "\013" "Processing\0"
    "\014" "Early Hints\0" "\003" "OK\0" "\010" "Created\0" "\011" "Accepted\0"
    "\036" "Non-Authoritative Information\0" "\013" "No Content\0" "\016" "Reset Content\0"
    "\020" "Partial Content\0" "\015" "Multi-Status\0" "\021" "Already Reported\0"
    "\010" "IM Used\0" "\021" "Multiple Choices\0" "\022" "Moved Permanently\0" "\006" "Found\0"
    "\012" "See Other\0" "\015" "Not Modified\0" "\012" "Use Proxy\0"
    "\023" "Temporary Redirect\0" "\023" "Permanent Redirect\0" "\014" "Bad Request\0"
    "\015" "Unauthorized\0" "\021" "Payment Required\0" "\012" "Forbidden\0" "\012" "Not Found\0"
    "\023" "Method Not Allowed\0" "\017" "Not Acceptable\0"
    "\036" "Proxy Authentication Required\0" "\020" "Request Timeout\0" "\011" "Conflict\0"
    "\005" "Gone\0" "\020" "Length Required\0" "\024" "Precondition Failed\0"
    "\022" "Content Too Large\0" "\015" "URI Too Long\0" "\027" "Unsupported Media Type\0"
    "\026" "Range Not Satisfiable\0" "\023" "Expectation Failed\0" "\024" "Misdirected Request\0"
    "\026" "Unprocessable Content\0" "\007" "Locked\0" "\022" "Failed Dependency\0"
    "\012" "Too Early\0" "\021" "Upgrade Required\0" "\026" "Precondition Required\0"
    "\022" "Too Many Requests\0" "\040" "Request Header Fields Too Large\0"
    "\036" "Unavailable For Legal Reasons\0" "\026" "Internal Server Error\0"
    "\020" "Not Implemented\0" "\014" "Bad Gateway\0" "\024" "Service Unavailable\0"
    "\020" "Gateway Timeout\0" "\033" "HTTP Version Not Supported\0"
    "\030" "Variant Also Negotiates\0" "\025" "Insufficient Storage\0" "\016" "Loop Detected\0"
    "\015" "Not Extended\0" "\040" "Network Authentication Required\0";

const char *mote_status_reason(int status)
{
    const char *r = status_reasons;
    size_t i;
    if (status == 200) return "OK"; /* most responses: no search */
    for (i = 0; i < sizeof status_codes / sizeof status_codes[0] && status_codes[i] <= status; i++) {
        if (status_codes[i] == status) return r + 1;
        r += 1 + (unsigned char)r[0];
    }
    return "Unknown";
}

mote_request *mote_response_request(mote_response *res)
{
    return res ? &exchange_of_response(res)->req : NULL;
}

/* ---- the head ------------------------------------------------------------------------------ */

int mote_response_status(mote_response *res, int status)
{
    if (!res || status < 200 || status > 599) return MOTE_EINVAL;
    if (res->state != RES_IDLE) return MOTE_ESTATE;
    res->status = (uint16_t)status;
    return MOTE_OK;
}

/* The length of the NUL-terminated name when it is a token, else 0: one pass, no strlen. */
static size_t token_length(const char *s)
{
    size_t n = 0;
    while (char_is((unsigned char)s[n], CH_TOKEN)) n++;
    return s[n] == '\0' ? n : 0;
}

static int is_field_value(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!char_is((unsigned char)s[i], CH_FIELD)) return 0;
    }
    return 1;
}

/* Whether a Connection value's list has "close" in it. */
static int lists_close(const char *v)
{
    const char *p = v;
    while (*p) {
        size_t n;
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        n = strcspn(p, ", \t");
        if (header_name_is(p, n, "close")) return 1;
        p += n;
    }
    return 0;
}

/* The fields that frame the message or manage the connection: the library's own. Found by
 * length first: this runs for every field a handler adds. */
static int is_reserved(const char *name, size_t len)
{
    switch (len) {
    case 2: return header_name_is(name, len, "te");
    case 7: return header_name_is(name, len, "upgrade") || header_name_is(name, len, "trailer");
    case 10: return header_name_is(name, len, "connection") || header_name_is(name, len, "keep-alive");
    case 14: return header_name_is(name, len, "content-length");
    case 16: return header_name_is(name, len, "proxy-connection");
    case 17: return header_name_is(name, len, "transfer-encoding");
    default: return 0;
    }
}

/* Stages a field in the exchange's area: [u16 name_len][u16 value_len] name value. */
static int stage_field(mote_exchange *x, const char *name, size_t nlen, const char *value,
                       size_t vlen)
{
    mote_response *res = &x->res;
    unsigned char *p;
    if (nlen > 0xffff || vlen > 0xffff) return MOTE_ETOOBIG;
    if (res->fields_len == 0) res->fields_off = x->area_used;
    p = (unsigned char *)exchange_area_take(x, 4 + nlen + vlen); /* what the path left */
    if (!p) return MOTE_ETOOBIG;
    p[0] = (unsigned char)(nlen & 0xff);
    p[1] = (unsigned char)(nlen >> 8);
    p[2] = (unsigned char)(vlen & 0xff);
    p[3] = (unsigned char)(vlen >> 8);
    memcpy(p + 4, name, nlen);
    memcpy(p + 4 + nlen, value, vlen);
    res->fields_len += (uint32_t)(4 + nlen + vlen);
    return MOTE_OK;
}

int exchange_stage_field(mote_exchange *x, const char *name, const char *value)
{
    return stage_field(x, name, strlen(name), value, strlen(value));
}

/* Content-Type, from mote_respond() once its status is set: a name known to be a token and
 * none of the library's, so only the value is checked. */
static int stage_content_type(mote_response *res, const char *value)
{
    size_t value_len = strlen(value);
    if (!is_field_value(value, value_len)) return MOTE_EINVAL;
    return stage_field(exchange_of_response(res), "Content-Type", 12, value, value_len);
}

int mote_response_header(mote_response *res, const char *name, const char *value)
{
    mote_exchange *x;
    size_t name_len, value_len;
    int rc;

    if (!res || !name || !value) return MOTE_EINVAL;
    x = exchange_of_response(res);
    name_len = token_length(name);
    value_len = strlen(value);
    if (name_len == 0 || !is_field_value(value, value_len)) return MOTE_EINVAL;
    if (is_reserved(name, name_len)) {
        if (!header_name_is(name, name_len, "connection") || !lists_close(value)) return MOTE_EINVAL;
        if (res->state != RES_IDLE) return MOTE_ESTATE;
        res->wants_close = 1;
        return MOTE_OK;
    }
    if (res->state != RES_IDLE) return MOTE_ESTATE;
    rc = stage_field(x, name, name_len, value, value_len);
    if (rc < 0) return rc;
    if (name_len == 6 && header_name_is(name, name_len, "server")) res->has_server = 1;
    if (name_len == 4 && header_name_is(name, name_len, "date")) res->has_date = 1;
    return MOTE_OK;
}

/* ---- whole bodies --------------------------------------------------------------------------- */

static void done(mote_exchange *x)
{
    x->res.state = RES_DONE;
    exchange_response_done(x);
}

/* A response call that failed is remembered: 500 in its place says so in the log. */
static int failed(mote_response *res, int rc)
{
    if (rc < 0) res->failed = rc;
    return rc;
}

static int send_body(mote_response *res, const body_src *body)
{
    mote_exchange *x;
    int rc;
    if (res->state != RES_IDLE) return MOTE_ESTATE;
    x = exchange_of_response(res);
    res->no_body = (uint8_t)(x->req.method == MOTE_HEAD || status_has_no_body(res->status));
    rc = x->ops->send(x, body);
    if (rc < 0) return failed(res, rc);
    res->body_bytes = res->no_body ? 0 : body->len;
    done(x);
    return MOTE_OK;
}

static int send_memory(mote_response *res, enum body_kind kind, const void *body, size_t len)
{
    body_src b;
    if (!res || (!body && len)) return MOTE_EINVAL;
    memset(&b, 0, sizeof b);
    b.kind = kind;
    b.data = body;
    b.len = len;
    return send_body(res, &b);
}

int mote_response_send(mote_response *res, const void *body, size_t len)
{
    return send_memory(res, BODY_COPY, body, len);
}

int mote_response_send_static(mote_response *res, const void *body, size_t len)
{
    return send_memory(res, BODY_BORROW, body, len);
}

int mote_response_send_file(mote_response *res, const mote_file *file, uint64_t offset,
                            uint64_t len)
{
    body_src b;
    if (!res || !file || (file->fd < 0 && !file->read)) return MOTE_EINVAL;
    memset(&b, 0, sizeof b);
    b.kind = BODY_FILE;
    b.file = *file;
    b.off = offset;
    b.len = len;
    return send_body(res, &b);
}

int mote_respond(mote_response *res, int status, const char *content_type, const char *body)
{
    int rc = mote_response_status(res, status); /* MOTE_OK: res is idle */
    if (rc == MOTE_OK && content_type) rc = stage_content_type(res, content_type);
    if (rc == MOTE_OK) rc = mote_response_send(res, body, body ? strlen(body) : 0);
    return rc;
}

/* ---- streamed bodies -------------------------------------------------------------------------- */

int mote_response_write(mote_response *res, const void *data, size_t len)
{
    mote_exchange *x;
    int rc;
    if (!res || (!data && len)) return MOTE_EINVAL;
    if (res->state == RES_DONE) return MOTE_ESTATE;
    if (res->has_length && len > res->length_left) return MOTE_EINVAL;
    x = exchange_of_response(res);
    if (res->state == RES_IDLE)
        res->no_body = (uint8_t)(x->req.method == MOTE_HEAD || status_has_no_body(res->status));
    rc = x->ops->write(x, data, len);
    if (rc < 0) return failed(res, rc);
    res->state = RES_STREAMING;
    if (res->no_body) return MOTE_OK;
    if (res->has_length) res->length_left -= len;
    res->body_bytes += len;
    return MOTE_OK;
}

int mote_response_end(mote_response *res)
{
    mote_exchange *x;
    int rc;
    if (!res) return MOTE_EINVAL;
    if (res->state == RES_DONE) return MOTE_ESTATE;
    if (res->state == RES_IDLE && (!res->has_length || res->length_left == 0))
        return mote_response_send(res, NULL, 0);
    x = exchange_of_response(res);
    if (res->state == RES_IDLE)
        res->no_body = (uint8_t)(x->req.method == MOTE_HEAD || status_has_no_body(res->status));
    rc = x->ops->end(x);
    if (rc < 0) return failed(res, rc);
    done(x);
    return MOTE_OK;
}

int mote_response_length(mote_response *res, uint64_t length)
{
    if (!res) return MOTE_EINVAL;
    if (res->state != RES_IDLE) return MOTE_ESTATE;
    res->has_length = 1;
    res->length_left = length;
    return MOTE_OK;
}

int mote_response_defer(mote_response *res, mote_response_fn on_ready)
{
    if (!res) return MOTE_EINVAL;
    if (res->state == RES_DONE) return MOTE_ESTATE;
    res->deferred = 1;
    res->on_ready = on_ready;
    return MOTE_OK;
}
