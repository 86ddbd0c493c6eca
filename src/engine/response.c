/* response.c - the response writer: status line, header fields, and the body framed by
 * Content-Length, chunks, or the end of the connection (RFC 9112 §4, §6, §7).
 *
 * Everything is written into the connection's send buffer. Header fields a handler adds are
 * staged after a reserved room, so the status line can still change; when the head is
 * committed, the status line, Server and Date are written into the room and the staged fields
 * are moved up against them, leaving one contiguous head. */
#include <string.h>

#include "core/chars.h"
#include "engine/conn.h"
#include "core/parser.h"

/* "HTTP/1.1 " status SP reason CRLF: reasons are at most 31 bytes. */
#define STATUS_LINE_MAX 48
/* Content-Length (20 digits) + Connection: keep-alive + the blank line. */
#define FRAMING_MAX 64
/* A chunk's size line and CRLF around its data; the last-chunk after all data. */
#define CHUNK_OVERHEAD (16 + 2 + 2)
#define LAST_CHUNK "0\r\n\r\n"
#define LAST_CHUNK_LEN 5

/* The IANA registry's codes (RFC 9110 §15 and the RFCs it lists; 306 and 418 are registered as
 * unused), in order, and their reasons: two small tables, smaller than a switch's jump table. */
static const uint16_t status_codes[] = {
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 510, 511
};
static const char *const status_reasons[] = {
    "Continue", "Switching Protocols", "Processing", "Early Hints", "OK", "Created", "Accepted",
    "Non-Authoritative Information", "No Content", "Reset Content", "Partial Content",
    "Multi-Status", "Already Reported", "IM Used", "Multiple Choices", "Moved Permanently",
    "Found", "See Other", "Not Modified", "Use Proxy", "Temporary Redirect", "Permanent Redirect",
    "Bad Request", "Unauthorized", "Payment Required", "Forbidden", "Not Found",
    "Method Not Allowed", "Not Acceptable", "Proxy Authentication Required", "Request Timeout",
    "Conflict", "Gone", "Length Required", "Precondition Failed", "Content Too Large",
    "URI Too Long", "Unsupported Media Type", "Range Not Satisfiable", "Expectation Failed",
    "Misdirected Request", "Unprocessable Content", "Locked", "Failed Dependency", "Too Early",
    "Upgrade Required", "Precondition Required", "Too Many Requests",
    "Request Header Fields Too Large", "Unavailable For Legal Reasons", "Internal Server Error",
    "Not Implemented", "Bad Gateway", "Service Unavailable", "Gateway Timeout",
    "HTTP Version Not Supported", "Variant Also Negotiates", "Insufficient Storage",
    "Loop Detected", "Not Extended", "Network Authentication Required"
};

const char *mote_status_reason(int status)
{
    size_t i;
    for (i = 0; i < sizeof status_codes / sizeof status_codes[0] && status_codes[i] <= status; i++) {
        if (status_codes[i] == status) return status_reasons[i];
    }
    return "Unknown";
}

mote_request *mote_response_request(mote_response *res)
{
    return &conn_of_response(res)->a->req;
}

/* ---- send-buffer space ------------------------------------------------------------------ */

static size_t prefix_room(const mote_conn *c)
{
    return STATUS_LINE_MAX + c->env->server_line_len + c->env->date_line_len;
}

size_t response_head_reserve(const mote_conn *c)
{
    return prefix_room(c) + FRAMING_MAX;
}

/* Bytes of the buffer this response's uncommitted head occupies past out_len. */
static size_t staging_used(const mote_conn *c)
{
    return c->a->res.state == RES_STAGED ? prefix_room(c) + c->a->res.staged : 0;
}

static size_t free_space(const mote_conn *c)
{
    return c->env->out_size - c->out_len - staging_used(c);
}

static void compact_output(mote_conn *c)
{
    size_t used = c->out_len - c->out_sent + staging_used(c);
    if (c->out_sent == 0) return;
    memmove(c->out, c->out + c->out_sent, used);
    c->out_len -= c->out_sent;
    c->out_sent = 0;
}

/* Makes `need` bytes free after everything queued or staged: by compacting, then by letting the
 * shell write what is pending. MOTE_ETOOBIG when even an empty buffer could not hold them. */
static int ensure_space(mote_conn *c, size_t need)
{
    if (free_space(c) >= need) return MOTE_OK;
    if (need > c->env->out_size - staging_used(c)) return MOTE_ETOOBIG;
    compact_output(c);
    if (free_space(c) < need && c->env->flush && c->out_len > c->out_sent) {
        c->env->flush(c);
        compact_output(c);
    }
    return free_space(c) >= need ? MOTE_OK : MOTE_EAGAIN;
}

static char *append(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

static char *append_str(char *p, const char *s)
{
    return append(p, s, strlen(s));
}

static char *append_decimal(char *p, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = digits[--n];
    return p;
}

static char *append_hex(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char digits[16];
    size_t n = 0;
    do {
        digits[n++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (n) *p++ = digits[--n];
    return p;
}

/* ---- the head --------------------------------------------------------------------------- */

static int status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static int begin_staging(mote_conn *c)
{
    int rc;
    if (c->a->res.state == RES_STAGED) return MOTE_OK;
    if (c->a->res.state != RES_IDLE) return MOTE_ESTATE;
    rc = ensure_space(c, prefix_room(c));
    if (rc < 0) return rc;
    c->a->res.state = RES_STAGED;
    c->a->res.staged = 0;
    return MOTE_OK;
}

/* Decides whether the connection survives this response, and says so in the head. */
static char *append_connection(mote_conn *c, char *p, int close_delimited)
{
    if (c->a->res.wants_close || c->closing || !c->keep_alive || close_delimited ||
        conn_body_forces_close(c)) {
        c->closing = 1;
        return append_str(p, "Connection: close\r\n");
    }
    if (c->a->req.version == 10) return append_str(p, "Connection: keep-alive\r\n");
    return p;
}

enum framing { FRAME_LENGTH, FRAME_STREAM };

/* Writes the head into the buffer: status line, Server, Date, the staged fields, framing and
 * Connection. The caller has ensured FRAMING_MAX bytes of space beyond the staging. */
static void commit_head(mote_conn *c, enum framing framing, uint64_t length)
{
    mote_response *res = &c->a->res;
    char *base = c->out + c->out_len;
    char line[STATUS_LINE_MAX];
    char *p = line;
    size_t line_len, prefix_len;
    int close_delimited = 0;

    p = append_str(p, "HTTP/1.1 ");
    p = append_decimal(p, res->status);
    *p++ = ' ';
    p = append_str(p, mote_status_reason(res->status));
    p = append(p, "\r\n", 2);
    line_len = (size_t)(p - line);
    prefix_len = line_len + (res->has_server ? 0 : c->env->server_line_len) +
                 (res->has_date ? 0 : c->env->date_line_len);

    memmove(base + prefix_len, base + prefix_room(c), res->staged);
    p = append(base, line, line_len);
    if (!res->has_server) p = append(p, c->env->server_line, c->env->server_line_len);
    if (!res->has_date) p = append(p, c->env->date_line, c->env->date_line_len);
    p += res->staged;

    if (framing == FRAME_LENGTH) {
        if (!status_has_no_body(res->status)) {
            p = append_str(p, "Content-Length: ");
            p = append_decimal(p, length);
            p = append(p, "\r\n", 2);
        }
    } else if (!status_has_no_body(res->status)) {
        if (res->has_length) {
            p = append_str(p, "Content-Length: ");
            p = append_decimal(p, res->length_left);
            p = append(p, "\r\n", 2);
        } else if (c->a->req.version >= 11) {
            p = append_str(p, "Transfer-Encoding: chunked\r\n");
            res->chunked = !res->no_body;
        } else {
            close_delimited = !res->no_body;
        }
    }
    p = append_connection(c, p, close_delimited);
    p = append(p, "\r\n", 2);
    c->out_len = (uint32_t)(p - c->out);
    res->state = RES_STREAMING;
}

static void finish(mote_conn *c)
{
    c->a->res.state = RES_DONE;
    conn_response_finished(c);
}

/* ---- public calls ------------------------------------------------------------------------ */

int mote_response_status(mote_response *res, int status)
{
    if (!res || status < 200 || status > 599) return MOTE_EINVAL;
    if (res->state != RES_IDLE && res->state != RES_STAGED) return MOTE_ESTATE;
    res->status = (uint16_t)status;
    return MOTE_OK;
}

static int is_token(const char *s, size_t len)
{
    size_t i;
    if (len == 0) return 0;
    for (i = 0; i < len; i++) {
        if (!char_is((unsigned char)s[i], CH_TOKEN)) return 0;
    }
    return 1;
}

static int is_field_value(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!char_is((unsigned char)s[i], CH_FIELD)) return 0;
    }
    return 1;
}

static int list_has_close(const char *v)
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

int mote_response_header(mote_response *res, const char *name, const char *value)
{
    mote_conn *c;
    size_t name_len, value_len, line_len;
    char *p;
    int rc;

    if (!res || !name || !value) return MOTE_EINVAL;
    c = conn_of_response(res);
    name_len = strlen(name);
    value_len = strlen(value);
    if (!is_token(name, name_len) || !is_field_value(value, value_len)) return MOTE_EINVAL;
    if (header_name_is(name, name_len, "content-length") ||
        header_name_is(name, name_len, "transfer-encoding"))
        return MOTE_EINVAL;
    if (res->state != RES_IDLE && res->state != RES_STAGED) return MOTE_ESTATE;
    if (header_name_is(name, name_len, "connection")) {
        /* the library writes Connection itself, from what it knows of the exchange */
        if (list_has_close(value)) res->wants_close = 1;
        return MOTE_OK;
    }
    rc = begin_staging(c);
    if (rc < 0) return rc;
    line_len = name_len + 2 + value_len + 2;
    rc = ensure_space(c, line_len + FRAMING_MAX);
    if (rc < 0) return rc;
    p = c->out + c->out_len + prefix_room(c) + res->staged;
    p = append(p, name, name_len);
    p = append(p, ": ", 2);
    p = append(p, value, value_len);
    append(p, "\r\n", 2);
    res->staged += (uint32_t)line_len;
    if (header_name_is(name, name_len, "server")) res->has_server = 1;
    if (header_name_is(name, name_len, "date")) res->has_date = 1;
    return MOTE_OK;
}

int mote_response_send(mote_response *res, const void *body, size_t len)
{
    mote_conn *c;
    int rc;
    if (!res || (!body && len)) return MOTE_EINVAL;
    c = conn_of_response(res);
    rc = begin_staging(c);
    if (rc < 0) return rc;
    res->no_body = (uint8_t)(c->a->req.method == MOTE_HEAD || status_has_no_body(res->status));
    rc = ensure_space(c, FRAMING_MAX + (res->no_body ? 0 : len));
    if (rc < 0) return rc;
    commit_head(c, FRAME_LENGTH, len);
    if (!res->no_body && len) {
        memcpy(c->out + c->out_len, body, len);
        c->out_len += (uint32_t)len;
    }
    res->body_bytes = res->no_body ? 0 : len;
    conn_output_queued(c);
    finish(c);
    return MOTE_OK;
}

int mote_respond(mote_response *res, int status, const char *content_type, const char *body)
{
    int rc = mote_response_status(res, status);
    if (rc == MOTE_OK && content_type) rc = mote_response_header(res, "Content-Type", content_type);
    if (rc == MOTE_OK) rc = mote_response_send(res, body, body ? strlen(body) : 0);
    return rc;
}

/* Commits the head of a streamed response, once. */
static int start_stream(mote_conn *c)
{
    int rc;
    if (c->a->res.state == RES_STREAMING) return MOTE_OK;
    rc = begin_staging(c);
    if (rc < 0) return rc;
    c->a->res.no_body =
        (uint8_t)(c->a->req.method == MOTE_HEAD || status_has_no_body(c->a->res.status));
    rc = ensure_space(c, FRAMING_MAX + LAST_CHUNK_LEN);
    if (rc < 0) return rc;
    commit_head(c, FRAME_STREAM, 0);
    conn_output_queued(c);
    return MOTE_OK;
}

int mote_response_write(mote_response *res, const void *data, size_t len)
{
    mote_conn *c;
    size_t need;
    char *p;
    int rc;
    if (!res || (!data && len)) return MOTE_EINVAL;
    c = conn_of_response(res);
    if (res->state == RES_DONE) return MOTE_ESTATE;
    rc = start_stream(c);
    if (rc < 0) return rc;
    if (len == 0) return MOTE_OK; /* an empty chunk would end the body */
    if (res->has_length && len > res->length_left) return MOTE_EINVAL;
    if (res->no_body) return MOTE_OK;
    /* room for the last-chunk is always kept, so mote_response_end() cannot fail for space */
    need = len + (res->chunked ? CHUNK_OVERHEAD + LAST_CHUNK_LEN : 0);
    rc = ensure_space(c, need);
    if (rc < 0) return rc; /* nothing taken: the same bytes are written again later */
    if (res->has_length) res->length_left -= len;
    p = c->out + c->out_len;
    if (res->chunked) {
        p = append_hex(p, len);
        p = append(p, "\r\n", 2);
    }
    p = append(p, data, len);
    if (res->chunked) p = append(p, "\r\n", 2);
    c->out_len = (uint32_t)(p - c->out);
    res->body_bytes += len;
    conn_output_queued(c);
    return MOTE_OK;
}

int mote_response_end(mote_response *res)
{
    mote_conn *c;
    int rc;
    if (!res) return MOTE_EINVAL;
    c = conn_of_response(res);
    if (res->state == RES_DONE) return MOTE_ESTATE;
    if (res->state != RES_STREAMING) {
        if (!res->has_length || res->length_left == 0) return mote_response_send(res, NULL, 0);
        rc = start_stream(c); /* the declared length goes out, and the short body closes */
        if (rc < 0) return rc;
    }
    if (res->chunked) {
        memcpy(c->out + c->out_len, LAST_CHUNK, LAST_CHUNK_LEN);
        c->out_len += LAST_CHUNK_LEN;
    }
    if (res->has_length && res->length_left && !res->no_body)
        c->closing = 1; /* shorter than declared: only a close tells the client */
    conn_output_queued(c);
    finish(c);
    return MOTE_OK;
}

int mote_response_length(mote_response *res, uint64_t length)
{
    if (!res) return MOTE_EINVAL;
    if (res->state != RES_IDLE && res->state != RES_STAGED) return MOTE_ESTATE;
    res->has_length = 1;
    res->length_left = length;
    return MOTE_OK;
}

int mote_response_defer(mote_response *res, mote_response_fn on_ready, mote_response_fn on_close,
                        void *user)
{
    if (!res) return MOTE_EINVAL;
    if (res->state == RES_DONE) return MOTE_ESTATE;
    res->deferred = 1;
    res->on_ready = on_ready;
    res->on_close = on_close;
    res->defer_user = user;
    return MOTE_OK;
}

int response_send_continue(mote_conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const size_t len = sizeof line - 1;
    int rc = ensure_space(c, len);
    if (rc < 0) return rc;
    /* ahead of a head being staged, which moves up to make room */
    memmove(c->out + c->out_len + len, c->out + c->out_len, staging_used(c));
    memcpy(c->out + c->out_len, line, len);
    c->out_len += (uint32_t)len;
    conn_output_queued(c);
    return MOTE_OK;
}

/* Drops a staged, uncommitted head so that another response can take its place. */
void response_discard_staged(mote_conn *c)
{
    if (c->a->res.state == RES_STAGED) c->a->res.state = RES_IDLE;
    c->a->res.staged = 0;
    c->a->res.has_server = c->a->res.has_date = 0;
}
