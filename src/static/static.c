/* static.c - the answer to a GET or HEAD for one representation; see static.h.
 *
 * RFC 9110's order: the preconditions first (§13.2.2: 412 or 304, with the validators a 200
 * would carry), then Range for GET only (§14.2: If-Range decides whether it applies), then the
 * whole representation. A multipart/byteranges body is written from on_ready, a part's head and
 * then its bytes, from a slot of the route's own (MOTE_CONFIG_STATIC_MULTIPART of them): with
 * none free, the whole representation is sent, which §14.2 permits. */
#include "static/static.h"

#include <string.h>

#include "core/chars.h"
#include "core/httpdate.h"
#include "engine/engine.h"
#include "engine/exchange.h"
#include "static/precond.h"

#if MOTE_CONFIG_STATIC

#define DEFAULT_CACHE_CONTROL "no-cache"
#define DEFAULT_INDEX "index.html"
/* a part's bytes per mote_response_write(): fits the smallest send buffer with room to spare */
#define PART_PIECE 512u
/* a part's head: CRLF "--" boundary CRLF, Content-Type, Content-Range, CRLF */
#define PART_HEAD_MAX 256u
#define PART_TYPE_MAX (PART_HEAD_MAX - 96u)

/* ---- options -------------------------------------------------------------------------------- */

static const char *or_default(const char *s, const char *fallback)
{
    return s ? s : fallback;
}

static size_t round_up(size_t n)
{
    return (n + 15u) & ~(size_t)15u;
}

static unsigned loops_of(mote_server *srv)
{
    unsigned n = 1;
    while (mote_server_loop(srv, n)) n++;
    return n;
}

void *static_route_create(mote_server *srv, size_t size, const mote_static_options *o)
{
    const mote_allocator *a = engine_alloc(srv);
    const char *cc = or_default(o ? o->cache_control : NULL, DEFAULT_CACHE_CONTROL);
    const char *index = or_default(o ? o->index : NULL, DEFAULT_INDEX);
    size_t cc_len = strlen(cc) + 1, index_len = strlen(index) + 1;
    unsigned loops = loops_of(srv);
    size_t at_loops = round_up(size), at_strings = at_loops + loops * sizeof(static_loop);
    char *block = a->alloc(a->ctx, at_strings + cc_len + index_len);
    static_route *sr = (static_route *)(void *)block;
    if (!block) return NULL;
    memset(block, 0, at_strings);
    memcpy(block + at_strings, cc, cc_len);
    memcpy(block + at_strings + cc_len, index, index_len);
    sr->cache_control = block + at_strings;
    sr->index = block + at_strings + cc_len;
    sr->fallback = o ? o->fallback : NULL;
    sr->fallback_user = o ? o->fallback_user : NULL;
    sr->loops = (static_loop *)(void *)(block + at_loops);
    sr->loop_count = loops;
    return block;
}

int static_options_are_valid(const mote_static_options *o)
{
    size_t i;
    if (!o) return 1;
    if (o->cache_control && !static_value_is_valid(o->cache_control)) return 0;
    if (o->index && strchr(o->index, '/')) return 0;
    if (o->type_count && !o->types) return 0;
    for (i = 0; i < o->type_count; i++)
        if (!o->types[i].ext || !o->types[i].type || !static_value_is_valid(o->types[i].type))
            return 0;
    return 1;
}

static_loop *static_loop_of(static_route *sr, mote_request *req)
{
    return &sr->loops[mote_server_loop_index(mote_request_server(req)) % sr->loop_count];
}

int static_route_add(mote_server *srv, const char *prefix, mote_handler handler, void *owned,
                     void (*release)(void *owned), const mote_static_options *o)
{
    mote_route_def def;
    memset(&def, 0, sizeof def);
    def.path = prefix;
    def.match = MOTE_ROUTE_PREFIX;
    def.handler = handler;
    def.user = owned;
    def.methods = MOTE_GET; /* and HEAD; the rest is 405 with Allow */
    def.auth = o ? o->auth : NULL;
    return engine_route_owned(srv, &def, owned, release);
}

/* ---- the request target ------------------------------------------------------------------ */

int static_target_is_ambiguous(const mote_request *req)
{
    const char *p = mote_request_target(req);
    for (; *p && *p != '?' && *p != '#'; p++) {
        if (*p == '\\') return 1;
        if (*p == '%' && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
            int c = hex_value(p[1]) * 16 + hex_value(p[2]);
            if (c == '/' || c == '\\' || c == 0) return 1;
        }
    }
    return 0;
}

int static_path_has_hidden(const char *path, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (path[i] == '.' && (i == 0 || path[i - 1] == '/')) return 1;
    return 0;
}

/* The path of the request target as it came (still percent-encoded), and its length. */
static const char *target_path(const mote_request *req, size_t *len)
{
    const char *t = mote_request_target(req), *p = t;
    if (*t != '/') { /* absolute-form: the path starts after the authority */
        const char *scheme_end = strstr(t, "://");
        p = scheme_end ? scheme_end + 3 : t;
        while (*p && *p != '/' && *p != '?') p++;
    }
    *len = strcspn(p, "?#");
    return p;
}

void static_redirect_to_dir(mote_request *req, mote_response *res)
{
    size_t len;
    const char *path = target_path(req, &len);
    mote_str query = mote_request_query(req);
    char location[512];
    if (len == 0 || len + 2 + query.len >= sizeof location) {
        static_error(res, 404);
        return;
    }
    memcpy(location, path, len);
    location[len++] = '/';
    if (query.len) {
        location[len++] = '?';
        memcpy(location + len, query.ptr, query.len);
        len += query.len;
    }
    location[len] = '\0';
    (void)mote_response_header(res, "Location", location);
    (void)mote_respond(res, 301, "text/plain; charset=utf-8", "Moved Permanently\n");
}

void static_error(mote_response *res, int status)
{
    char body[48];
    size_t n = strlen(mote_status_reason(status));
    memcpy(body, mote_status_reason(status), n);
    memcpy(body + n, "\n", 2);
    (void)mote_respond(res, status, "text/plain; charset=utf-8", body);
}

void static_not_found(mote_request *req, mote_response *res, const static_route *sr)
{
    if (sr->fallback) sr->fallback(req, res, sr->fallback_user);
    else static_error(res, 404);
}

/* ---- numbers into header values ------------------------------------------------------------ */

static char *write_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* "bytes a-b/len" (or "bytes *\/len" for a NULL range) into out, NUL-terminated. */
static void content_range(char out[64], const byte_range *r, uint64_t length)
{
    char *p = write_str(out, "bytes ");
    if (r) {
        p = decimal_write(p, r->first);
        *p++ = '-';
        p = decimal_write(p, r->last);
    } else {
        *p++ = '*';
    }
    *p++ = '/';
    p = decimal_write(p, length);
    *p = '\0';
}

/* ---- headers ---------------------------------------------------------------------------------- */

/* A field of the answer, staged without mote_response_header()'s checks: the names are these,
 * and the values were checked when the route was registered (static_value_is_valid()) or are
 * made here (dates, ETags of digits, ranges). */
static void put_field(mote_response *res, const char *name, const char *value)
{
    (void)exchange_stage_field(exchange_of_response(res), name, value);
}

int static_value_is_valid(const char *value)
{
    for (; *value; value++)
        if (*value == '\r' || *value == '\n') return 0;
    return 1;
}

/* Last-Modified of `mtime`, formatted once for as long as it stays the loop's last. */
static const char *last_modified(static_loop *l, int64_t mtime)
{
    if (!l->date[0] || l->date_of != mtime) {
        httpdate_format(l->date, mtime);
        l->date_of = mtime;
    }
    return l->date;
}

/* The fields a 200, a 206 and a 304 all carry (§15.4.5: a 304 sends the validators, and
 * Cache-Control and Vary, that a 200 would). */
static void add_validators(mote_request *req, mote_response *res, static_route *sr,
                           const static_rep *rep)
{
    put_field(res, "ETag", rep->etag);
    if (rep->mtime >= 0)
        put_field(res, "Last-Modified", last_modified(static_loop_of(sr, req), rep->mtime));
    put_field(res, "Cache-Control", sr->cache_control);
    if (rep->vary) put_field(res, "Vary", "Accept-Encoding");
}

static void add_content_fields(mote_response *res, const static_rep *rep)
{
    put_field(res, "Content-Type", rep->type);
    if (rep->encoding) put_field(res, "Content-Encoding", rep->encoding);
    put_field(res, "Accept-Ranges", "bytes");
}

/* ---- bodies ----------------------------------------------------------------------------------- */

static void drop_file(mote_file *f)
{
    if (f->close) f->close(f->ctx);
    f->close = NULL;
}

/* Sends `len` bytes from `off` as the whole body; rep->file is taken. */
static void send_range(mote_response *res, static_rep *rep, uint64_t off, uint64_t len)
{
    int rc;
    if (rep->data) {
        rc = rep->data_is_transient ? mote_response_send(res, rep->data + off, (size_t)len)
                                    : mote_response_send_static(res, rep->data + off, (size_t)len);
        drop_file(&rep->file);
    } else {
        rc = mote_response_send_file(res, &rep->file, off, len);
        if (rc < 0) drop_file(&rep->file); /* on success the response has it */
    }
    if (rc < 0) (void)mote_response_end(res); /* the head is not out: the connection says */
}

static void send_no_body(mote_response *res, static_rep *rep, int status)
{
    drop_file(&rep->file);
    (void)mote_response_status(res, status);
    (void)mote_response_end(res);
}

/* ---- multipart/byteranges --------------------------------------------------------------------- */

#if MOTE_CONFIG_STATIC_MULTIPART > 0

/* A part's head into out (PART_HEAD_MAX bytes); its length. The first part has no CRLF before
 * its boundary: the body starts with it. */
static size_t part_head(const static_multipart *m, size_t i, char *out)
{
    char range[64], *p = out;
    content_range(range, &m->ranges[i], m->length);
    if (i > 0) p = write_str(p, "\r\n");
    p = write_str(p, "--");
    p = write_str(p, m->boundary);
    p = write_str(p, "\r\nContent-Type: ");
    p = write_str(p, m->type);
    p = write_str(p, "\r\nContent-Range: ");
    p = write_str(p, range);
    p = write_str(p, "\r\n\r\n");
    return (size_t)(p - out);
}

static size_t closing_delimiter(const static_multipart *m, char *out)
{
    char *p = write_str(out, "\r\n--");
    p = write_str(p, m->boundary);
    p = write_str(p, "--\r\n");
    return (size_t)(p - out);
}

static uint64_t multipart_length(const static_multipart *m)
{
    char scratch[PART_HEAD_MAX];
    uint64_t total = closing_delimiter(m, scratch);
    size_t i;
    for (i = 0; i < m->count; i++)
        total += part_head(m, i, scratch) + (m->ranges[i].last - m->ranges[i].first + 1);
    return total;
}

/* Writes the current part's next piece; MOTE_EAGAIN when the send buffer is full. */
static int write_part_bytes(mote_response *res, static_multipart *m)
{
    const byte_range *r = &m->ranges[m->at];
    uint64_t left = r->last - r->first + 1 - m->done, off = r->first + m->done;
    size_t piece = left < PART_PIECE ? (size_t)left : PART_PIECE;
    int rc = m->data ? mote_response_write(res, m->data + off, piece)
                     : m->route->write_file(res, &m->file, off, piece);
    if (rc < 0) return rc;
    m->done += piece;
    return MOTE_OK;
}

/* Writes what fits of the body; 1 once all of it is written. */
static int write_multipart(mote_response *res, static_multipart *m)
{
    char head[PART_HEAD_MAX];
    int rc = MOTE_OK;
    while (rc == MOTE_OK && m->at < m->count) {
        const byte_range *r = &m->ranges[m->at];
        if (!m->in_body) {
            rc = mote_response_write(res, head, part_head(m, m->at, head));
            m->in_body = rc == MOTE_OK;
        } else if (m->done < r->last - r->first + 1) {
            rc = write_part_bytes(res, m);
        } else {
            m->at++;
            m->in_body = 0;
            m->done = 0;
        }
    }
    if (rc == MOTE_OK) rc = mote_response_write(res, head, closing_delimiter(m, head));
    if (rc == MOTE_EAGAIN) return 0;
    (void)mote_response_end(res); /* after a failure, short of its length: the connection ends */
    return 1;
}

static void multipart_ready(mote_response *res, void *user)
{
    static_multipart *m = user;
    if (!write_multipart(res, m)) (void)mote_response_defer(res, multipart_ready);
}

static void multipart_release(void *user, int completed)
{
    static_multipart *m = user;
    (void)completed;
    drop_file(&m->file);
    m->route = NULL;
}

static static_multipart *multipart_slot(static_loop *l)
{
    size_t i;
    for (i = 0; i < MOTE_CONFIG_STATIC_MULTIPART; i++)
        if (!l->multipart[i].route) return &l->multipart[i];
    return NULL;
}

/* A boundary no two responses of a route share, of letters and digits. */
static void make_boundary(char out[20], uint32_t n, const char *etag)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint32_t h = 2166136261u; /* FNV-1a of the ETag, so files differ too */
    size_t i;
    for (; *etag; etag++) h = (h ^ (unsigned char)*etag) * 16777619u;
    memcpy(out, "mote-", 5);
    for (i = 5; i < 12; i++, n /= 36) out[i] = digits[n % 36];
    for (; i < 19; i++, h /= 36) out[i] = digits[h % 36];
    out[19] = '\0';
}

/* Starts a multipart/byteranges response; 0 when no slot is free (rep untouched). */
static int send_multipart(mote_request *req, mote_response *res, static_route *sr,
                          static_rep *rep, const byte_range *ranges, size_t count)
{
    static_loop *l = static_loop_of(sr, req);
    static_multipart *m = multipart_slot(l);
    char type[64];
    if (!m || strlen(rep->type) > PART_TYPE_MAX || (!rep->data && !sr->write_file) ||
        rep->data_is_transient)
        return 0;
    memset(m, 0, sizeof *m);
    m->route = sr;
    memcpy(m->ranges, ranges, count * sizeof *ranges);
    m->count = (uint8_t)count;
    m->length = rep->length;
    m->data = rep->data;
    m->file = rep->file;
    m->type = rep->type;
    make_boundary(m->boundary, l->boundaries++, rep->etag);
    memcpy(type, "multipart/byteranges; boundary=", 31);
    memcpy(type + 31, m->boundary, sizeof m->boundary);
    (void)mote_request_set_user(req, m, multipart_release);
    (void)mote_response_status(res, 206);
    (void)mote_response_header(res, "Content-Type", type);
    if (rep->encoding) (void)mote_response_header(res, "Content-Encoding", rep->encoding);
    (void)mote_response_header(res, "Accept-Ranges", "bytes");
    (void)mote_response_length(res, multipart_length(m));
    (void)mote_response_defer(res, multipart_ready);
    return 1;
}

#else

static int send_multipart(mote_request *req, mote_response *res, static_route *sr,
                          static_rep *rep, const byte_range *ranges, size_t count)
{
    (void)req, (void)res, (void)sr, (void)rep, (void)ranges, (void)count;
    return 0;
}

#endif

/* ---- the answer ------------------------------------------------------------------------------- */

static precond_verdict preconditions(const mote_request *req, const static_rep *rep)
{
    precond_fields f;
    f.if_match = mote_request_header(req, "If-Match");
    f.if_none_match = mote_request_header(req, "If-None-Match");
    f.if_modified_since = mote_request_header(req, "If-Modified-Since");
    f.if_unmodified_since = mote_request_header(req, "If-Unmodified-Since");
    return precond_evaluate(&f, rep->etag, rep->mtime, 1);
}

/* The ranges a GET asks for and If-Range lets apply: RANGE_IGNORE for the whole of it. */
static range_verdict requested_ranges(const mote_request *req, const static_rep *rep,
                                      byte_range *out, size_t *count)
{
    const char *range = mote_request_header(req, "Range");
    const char *if_range = mote_request_header(req, "If-Range");
    if (!range || mote_request_method_id(req) != MOTE_GET) return RANGE_IGNORE;
    if (if_range && !precond_if_range(if_range, rep->etag, rep->mtime)) return RANGE_IGNORE;
    return range_parse(range, strlen(range), rep->length, out, MOTE_CONFIG_STATIC_MAX_RANGES,
                       count);
}

static void send_ranges(mote_request *req, mote_response *res, static_route *sr,
                        static_rep *rep, const byte_range *ranges, size_t count)
{
    char value[64];
    if (count > 1 && send_multipart(req, res, sr, rep, ranges, count)) return;
    if (count > 1) { /* no slot free: the whole representation */
        add_content_fields(res, rep);
        send_range(res, rep, 0, rep->length);
        return;
    }
    content_range(value, &ranges[0], rep->length);
    add_content_fields(res, rep);
    (void)mote_response_status(res, 206);
    (void)mote_response_header(res, "Content-Range", value);
    send_range(res, rep, ranges[0].first, ranges[0].last - ranges[0].first + 1);
}

void static_send(mote_request *req, mote_response *res, static_route *sr, static_rep *rep)
{
    byte_range ranges[MOTE_CONFIG_STATIC_MAX_RANGES];
    size_t count = 0;
    char value[64];
    precond_verdict v = preconditions(req, rep);
    if (v == PRECOND_FAILED) {
        drop_file(&rep->file);
        static_error(res, 412);
        return;
    }
    add_validators(req, res, sr, rep);
    if (v == PRECOND_NOT_MODIFIED) {
        send_no_body(res, rep, 304);
        return;
    }
    if (rep->stream) { /* its bytes are not at hand: no ranges */
        if (rep->stream(req, res, rep->stream_ctx) < 0) {
            static_error(res, 503);
            return;
        }
        (void)mote_response_header(res, "Content-Type", rep->type);
        (void)mote_response_header(res, "Accept-Ranges", "none");
        return;
    }
    switch (requested_ranges(req, rep, ranges, &count)) {
    case RANGE_SATISFIABLE:
        send_ranges(req, res, sr, rep, ranges, count);
        return;
    case RANGE_UNSATISFIABLE:
        content_range(value, NULL, rep->length);
        (void)mote_response_header(res, "Content-Range", value);
        (void)mote_response_header(res, "Accept-Ranges", "bytes");
        drop_file(&rep->file);
        (void)mote_response_status(res, 416);
        (void)mote_response_send(res, NULL, 0);
        return;
    case RANGE_IGNORE:
        break;
    }
    add_content_fields(res, rep);
    send_range(res, rep, 0, rep->length);
}

#else
typedef int static_left_out; /* MOTE_CONFIG_STATIC is 0: ISO C wants a declaration */
#endif
