/* test_differential.c - mote against an independent parser: Node.js's "HTTP Parser"
 * (Debian's libhttp-parser-dev, 2.9.x), the parser mote's ancestor used.
 *
 * Part 1, agreement on valid input. A seeded generator writes pipelines of valid HTTP/1.1 and
 * HTTP/1.0 requests: methods both parsers know, origin-form targets with queries, absolute-form
 * targets, "*" for OPTIONS, random token field names, values with inner SP/HTAB, obs-text and
 * leading/trailing OWS, empty values, up to 43 fields, bodies by Content-Length and by chunked
 * (hex in either case, leading zeros, chunk extensions, trailer fields). The same bytes go,
 * whole and in random splits, to
 *   - http_parser, whose callbacks are collected;
 *   - mote's parser.c + body.c, driven the way conn.c drives them (the buffer only grows);
 *   - mote's whole connection machine (tests/conn_harness.h), with an exchange_begin hook that
 *     records the head through the public mote_request_* API and a collecting handler that
 *     records the body and trailers.
 * Each side must give back exactly what the generator wrote: method, target, version, field
 * names and values in order, body bytes, trailer fields. So they agree with each other too.
 *
 * How each side represents a field value (RFC 9110 §5.5: leading and trailing OWS are not part
 * of the value): mote's parser trims both ends (hdr_span, mote_header); http_parser skips the
 * leading OWS but hands the trailing OWS to on_header_value, so it is trimmed here before
 * comparing. Inner SP/HTAB and obs-text are kept by both. A value may reach http_parser's
 * callbacks in several pieces across a split; they are concatenated. http_parser reports
 * trailer fields through the same header callbacks after on_headers_complete.
 *
 * Part 2, invalid and edge input. A table of raw requests goes to both; each row states
 * mote's status (through the connection machine, whole and byte by byte) and http_parser's
 * verdict, and where they differ, the comment says which side the RFC supports and where.
 *
 * Everything is deterministic (fixed seeds) and bounded. */
#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conn_harness.h"
#include "core/body.h"
#include "core/parser.h"

/* ---- deterministic randomness --------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static int chance(unsigned percent)
{
    return below(100) < percent;
}

/* ---- what a request is ------------------------------------------------------------------ */

#define MAX_REQS 8
#define MAX_FIELDS 48
#define MAX_TRAILERS 6
#define NAME_MAX_LEN 24
#define VALUE_MAX_LEN 80
#define TARGET_MAX_LEN 128
#define BODY_MAX_LEN 600

typedef struct field {
    char name[NAME_MAX_LEN + 1];
    size_t name_len;
    char value[VALUE_MAX_LEN + 8]; /* room for http_parser's trailing OWS before trimming */
    size_t value_len;
} field;

typedef struct request {
    char method[16];
    char target[TARGET_MAX_LEN + 1];
    int version; /* 10 or 11 */
    field fields[MAX_FIELDS];
    size_t nfields;
    field trailers[MAX_TRAILERS];
    size_t ntrailers;
    char body[BODY_MAX_LEN];
    size_t body_len;
    int complete; /* the message ended (on_message_complete / BODY_DONE / handler) */
    int chunked;  /* the generator wrote a chunked body (not compared: for the statistics) */
} request;

static void req_clear(request *r)
{
    memset(r, 0, sizeof *r);
}

static void field_set(field *f, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (nlen > NAME_MAX_LEN) nlen = NAME_MAX_LEN;
    if (vlen > VALUE_MAX_LEN) vlen = VALUE_MAX_LEN;
    memcpy(f->name, name, nlen);
    f->name[nlen] = '\0';
    f->name_len = nlen;
    memcpy(f->value, value, vlen);
    f->value[vlen] = '\0';
    f->value_len = vlen;
}

static int field_differs(const char *kind, size_t i, const field *x, const field *y, char *why,
                         size_t why_size)
{
    if (x->name_len == y->name_len && memcmp(x->name, y->name, x->name_len) == 0 &&
        x->value_len == y->value_len && memcmp(x->value, y->value, x->value_len) == 0)
        return 0;
    snprintf(why, why_size, "%s %zu: [%.24s: %.80s] / [%.24s: %.80s]", kind, i, x->name,
             x->value, y->name, y->value);
    return 1;
}

/* Describes the first difference between two requests into why[], or returns 0. */
static int req_differ(const request *a, const request *b, char *why, size_t why_size)
{
    size_t i;
    if (strcmp(a->method, b->method) != 0)
        return snprintf(why, why_size, "method %.15s / %.15s", a->method, b->method), 1;
    if (strcmp(a->target, b->target) != 0)
        return snprintf(why, why_size, "target %.128s / %.128s", a->target, b->target), 1;
    if (a->version != b->version)
        return snprintf(why, why_size, "version %d / %d", a->version, b->version), 1;
    if (a->nfields != b->nfields)
        return snprintf(why, why_size, "%zu / %zu fields", a->nfields, b->nfields), 1;
    for (i = 0; i < a->nfields; i++) {
        if (field_differs("field", i, &a->fields[i], &b->fields[i], why, why_size)) return 1;
    }
    if (a->ntrailers != b->ntrailers)
        return snprintf(why, why_size, "%zu / %zu trailers", a->ntrailers, b->ntrailers), 1;
    for (i = 0; i < a->ntrailers; i++) {
        if (field_differs("trailer", i, &a->trailers[i], &b->trailers[i], why, why_size))
            return 1;
    }
    if (a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len) != 0)
        return snprintf(why, why_size, "body %zu / %zu bytes", a->body_len, b->body_len), 1;
    if (!b->complete) return snprintf(why, why_size, "message not complete"), 1;
    return 0;
}

/* ---- the generator ---------------------------------------------------------------------- */

static const char *const mote_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                           "OPTIONS"};
/* Extension methods in http_parser's fixed list; mote's parser takes any token (its
 * connection machine answers them 501, so they are checked at the parser level only). */
static const char *const ext_methods[] = {"TRACE", "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND",
                                          "PROPPATCH", "SEARCH", "UNLOCK", "REPORT", "MERGE",
                                          "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE",
                                          "MKCALENDAR", "LINK", "UNLINK", "ACL", "BIND"};

static int method_is_ext(const char *m)
{
    size_t i;
    for (i = 0; i < sizeof ext_methods / sizeof ext_methods[0]; i++) {
        if (strcmp(m, ext_methods[i]) == 0) return 1;
    }
    return 0;
}

static const char tchars[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/* unreserved and sub-delims, ":" and "@": pchar without "%" (escapes are added whole) */
static const char pchars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-_~!$&'()*+,;=:@";
static const char *const escapes[] = {"%20", "%41", "%c3%a9", "%7E", "%25", "%2B"};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[256];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) abort();
    buf_add(b, tmp, (size_t)n);
}

/* OWS = *( SP / HTAB ); `sp_only` for the framing fields, where http_parser 2.9 takes only SP
 * (see the edge cases below). */
static void add_ows(buf *b, int sp_only)
{
    size_t n = chance(60) ? 0 : 1 + below(3), i;
    for (i = 0; i < n; i++) buf_add(b, sp_only || chance(50) ? " " : "\t", 1);
}

/* Appends up to `room` characters of a path segment or query to s. */
static size_t gen_pchars(char *s, size_t at, size_t room, int query)
{
    size_t n = below(12), i;
    for (i = 0; i < n; i++) {
        if (chance(10)) {
            const char *e = escapes[below(sizeof escapes / sizeof escapes[0])];
            size_t el = strlen(e);
            if (at + el > room) break;
            memcpy(s + at, e, el);
            at += el;
        } else {
            char c = pchars[below(sizeof pchars - 1)];
            if (query && chance(10)) c = chance(50) ? '/' : '?';
            if (at + 1 > room) break;
            s[at++] = c;
        }
    }
    return at;
}

static void gen_target(request *r)
{
    char *t = r->target;
    size_t at = 0, room = TARGET_MAX_LEN - 16, segs, i;
    if (strcmp(r->method, "OPTIONS") == 0 && chance(25)) {
        strcpy(t, "*");
        return;
    }
    if (chance(20)) { /* one draw per statement: argument order is unspecified */
        const char *scheme = chance(50) ? "http" : "https";
        unsigned host = (unsigned)below(100);
        const char *port = chance(30) ? ":8080" : "";
        at = (size_t)snprintf(t, TARGET_MAX_LEN, "%s://h%u.example%s", scheme, host, port);
    }
    segs = below(5);
    if (segs == 0) t[at++] = '/';
    for (i = 0; i < segs; i++) {
        size_t before;
        t[at++] = '/';
        before = at;
        at = gen_pchars(t, at, room, 0);
        /* "." and ".." segments would be removed by mote's path decoding: not generated */
        if (at - before <= 2 && at > before && t[before] == '.') t[before] = 's';
        if (at - before == 2 && t[before + 1] == '.') t[before + 1] = 's';
    }
    if (chance(50)) {
        t[at++] = '?';
        at = gen_pchars(t, at, room, 1);
    }
    t[at] = '\0';
}

static int name_is_special(const char *n, size_t len)
{
    static const char *const special[] = {"host", "content-length", "transfer-encoding",
                                          "connection", "expect", "upgrade", "proxy-connection",
                                          "te", "trailer", "keep-alive"};
    size_t i;
    for (i = 0; i < sizeof special / sizeof special[0]; i++) {
        if (header_name_is(n, len, special[i])) return 1;
    }
    return 0;
}

static void gen_name(field *f, const char *prefix)
{
    size_t len, i, plen = strlen(prefix);
    do {
        memcpy(f->name, prefix, plen);
        len = plen + 1 + below(NAME_MAX_LEN - plen);
        for (i = plen; i < len; i++) f->name[i] = tchars[below(sizeof tchars - 1)];
        f->name[len] = '\0';
        f->name_len = len;
    } while (name_is_special(f->name, len));
}

/* A field value: VCHAR and obs-text, with SP/HTAB only inside. */
static void gen_value(field *f)
{
    size_t len = chance(10) ? 0 : 1 + below(VALUE_MAX_LEN), i;
    for (i = 0; i < len; i++) {
        unsigned c;
        if (i > 0 && i + 1 < len && chance(10)) c = chance(50) ? ' ' : '\t';
        else if (chance(8)) c = 0x80 + (unsigned)below(0x80);
        else c = 0x21 + (unsigned)below(0x7e - 0x21 + 1);
        f->value[i] = (char)c;
    }
    f->value[len] = '\0';
    f->value_len = len;
}

static void write_field(buf *b, const field *f)
{
    int sp_only = header_name_is(f->name, f->name_len, "content-length") ||
                  header_name_is(f->name, f->name_len, "transfer-encoding");
    buf_add(b, f->name, f->name_len);
    buf_add(b, ":", 1);
    add_ows(b, sp_only);
    buf_add(b, f->value, f->value_len);
    add_ows(b, sp_only);
    buf_add(b, "\r\n", 2);
}

static void write_chunk_ext(buf *b)
{
    size_t n = below(3), i;
    for (i = 0; i < n; i++) {
        static const char *const ext[] = {";a", ";name=value", ";q=\"quoted; \\\"x\\\" \"",
                                          " ; bws = 1", ";x=\"\"", ";Ext-Name"};
        buf_str(b, ext[below(sizeof ext / sizeof ext[0])]);
    }
}

/* Writes one valid request into b and describes it in r. `ext_ok` allows extension methods. */
static void gen_request(request *r, buf *b, int ext_ok)
{
    size_t nfields, i, host_at;
    int framing; /* 0 none, 1 Content-Length, 2 chunked */
    req_clear(r);
    if (ext_ok && chance(25))
        strcpy(r->method, ext_methods[below(sizeof ext_methods / sizeof ext_methods[0])]);
    else
        strcpy(r->method, mote_methods[below(sizeof mote_methods / sizeof mote_methods[0])]);
    gen_target(r);
    r->version = chance(15) ? 10 : 11;
    framing = (int)below(3);
    if (r->version == 10 && framing == 2) framing = 1; /* chunked is HTTP/1.1 (RFC 9112 §6.1) */
    if (strcmp(r->target, "*") == 0) framing = 0; /* mote answers OPTIONS * itself */

    if (chance(3)) {
        r->body_len = 0;
    } else {
        r->body_len = below(chance(20) ? BODY_MAX_LEN : 40);
        for (i = 0; i < r->body_len; i++) r->body[i] = (char)below(256);
    }
    if (framing == 0) r->body_len = 0;

    /* Host (exactly one in 1.1), Content-Length / Transfer-Encoding, Connection for 1.0, and
     * random fields around them */
    nfields = chance(10) ? 30 + below(10) : below(8);
    host_at = below(nfields + 1);
    for (i = 0; i <= nfields; i++) {
        if (i == host_at && (r->version == 11 || chance(50))) {
            const char *host = chance(50) ? "example.com" : "h1.example:8080";
            field_set(&r->fields[r->nfields++], chance(50) ? "Host" : "host", 4, host,
                      strlen(host));
        }
        if (i < nfields) {
            field *f = &r->fields[r->nfields++];
            gen_name(f, chance(30) ? "X-" : "");
            gen_value(f);
        }
    }
    if (framing == 1) {
        char len[32];
        snprintf(len, sizeof len, "%zu", r->body_len);
        field_set(&r->fields[r->nfields++], "Content-Length", 14, len, strlen(len));
    } else if (framing == 2) {
        const char *te = chance(80) ? "chunked" : "Chunked";
        field_set(&r->fields[r->nfields++], "Transfer-Encoding", 17, te, strlen(te));
    }
    if (r->version == 10)
        field_set(&r->fields[r->nfields++], "Connection", 10, "keep-alive", 10);
    if (r->nfields > 1 && chance(50)) { /* the framing field is not always last */
        size_t a = below(r->nfields), z = r->nfields - 1;
        field tmp = r->fields[a];
        r->fields[a] = r->fields[z];
        r->fields[z] = tmp;
    }

    if (chance(5)) buf_str(b, "\r\n"); /* an empty line before the request (RFC 9112 §2.2) */
    buf_printf(b, "%s %s HTTP/1.%d\r\n", r->method, r->target, r->version - 10);
    for (i = 0; i < r->nfields; i++) write_field(b, &r->fields[i]);
    buf_add(b, "\r\n", 2);

    if (framing == 1) {
        buf_add(b, r->body, r->body_len);
    } else if (framing == 2) {
        size_t at = 0;
        r->chunked = 1;
        while (at < r->body_len) {
            size_t n = 1 + below(r->body_len - at < 100 ? r->body_len - at : 100);
            const char *fmt = chance(30) ? "%zX" : "%zx";
            if (chance(10)) buf_str(b, "00");
            buf_printf(b, fmt, n);
            write_chunk_ext(b);
            buf_add(b, "\r\n", 2);
            buf_add(b, r->body + at, n);
            buf_add(b, "\r\n", 2);
            at += n;
        }
        buf_str(b, chance(20) ? "000" : "0");
        write_chunk_ext(b);
        buf_add(b, "\r\n", 2);
        if (chance(40)) {
            r->ntrailers = 1 + below(MAX_TRAILERS);
            for (i = 0; i < r->ntrailers; i++) {
                char prefix[24];
                field *f = &r->trailers[i];
                snprintf(prefix, sizeof prefix, "T%zu-", i); /* unique: looked up by name */
                gen_name(f, prefix);
                gen_value(f);
                write_field(b, f);
            }
        }
        buf_add(b, "\r\n", 2);
    }
    r->complete = 1;
}

/* ---- http_parser's side ----------------------------------------------------------------- */

typedef struct hp_rec {
    request reqs[MAX_REQS];
    size_t count;
    int in_value;       /* the last callback was on_header_value */
    int headers_done;   /* on_headers_complete seen: further fields are trailers */
    int overflow;
    enum http_errno err; /* the error, and where in the input it was found */
    size_t err_at;
} hp_rec;

static request *hp_cur(http_parser *p)
{
    hp_rec *rec = p->data;
    return rec->count ? &rec->reqs[rec->count - 1] : NULL;
}

static int hp_begin(http_parser *p)
{
    hp_rec *rec = p->data;
    if (rec->count == MAX_REQS) {
        rec->overflow = 1;
        return 1;
    }
    req_clear(&rec->reqs[rec->count++]);
    rec->in_value = 0;
    rec->headers_done = 0;
    return 0;
}

static void append(char *dst, size_t *len, size_t cap, const char *s, size_t n, int *overflow)
{
    if (*len + n > cap) {
        *overflow = 1;
        n = cap - *len;
    }
    memcpy(dst + *len, s, n);
    *len += n;
    dst[*len < cap ? *len : cap] = '\0';
}

static int hp_url(http_parser *p, const char *at, size_t n)
{
    hp_rec *rec = p->data;
    request *r = hp_cur(p);
    size_t len = strlen(r->target);
    append(r->target, &len, TARGET_MAX_LEN, at, n, &rec->overflow);
    return 0;
}

static field *hp_field_list(hp_rec *rec, request *r, size_t **count, size_t *cap)
{
    if (rec->headers_done) {
        *count = &r->ntrailers;
        *cap = MAX_TRAILERS;
        return r->trailers;
    }
    *count = &r->nfields;
    *cap = MAX_FIELDS;
    return r->fields;
}

static int hp_field(http_parser *p, const char *at, size_t n)
{
    hp_rec *rec = p->data;
    request *r = hp_cur(p);
    size_t *count, cap;
    field *list = hp_field_list(rec, r, &count, &cap);
    if (rec->in_value || *count == 0) {
        if (*count == cap) {
            rec->overflow = 1;
            return 1;
        }
        memset(&list[(*count)++], 0, sizeof(field));
        rec->in_value = 0;
    }
    append(list[*count - 1].name, &list[*count - 1].name_len, NAME_MAX_LEN, at, n,
           &rec->overflow);
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t n)
{
    hp_rec *rec = p->data;
    request *r = hp_cur(p);
    size_t *count, cap;
    field *list = hp_field_list(rec, r, &count, &cap);
    if (*count == 0) { /* a value before any name: not seen with valid input */
        rec->overflow = 1;
        return 1;
    }
    rec->in_value = 1;
    append(list[*count - 1].value, &list[*count - 1].value_len, VALUE_MAX_LEN + 7, at, n,
           &rec->overflow);
    return 0;
}

static int hp_headers_done(http_parser *p)
{
    hp_rec *rec = p->data;
    request *r = hp_cur(p);
    strcpy(r->method, http_method_str((enum http_method)p->method));
    r->version = p->http_major * 10 + p->http_minor;
    rec->headers_done = 1;
    rec->in_value = 0;
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t n)
{
    hp_rec *rec = p->data;
    request *r = hp_cur(p);
    append(r->body, &r->body_len, BODY_MAX_LEN - 1, at, n, &rec->overflow);
    return 0;
}

static int hp_complete(http_parser *p)
{
    hp_cur(p)->complete = 1;
    return 0;
}

static const http_parser_settings hp_settings = {
    hp_begin, hp_url, NULL, hp_field, hp_value, hp_headers_done, hp_body, hp_complete, NULL, NULL};

/* http_parser keeps the trailing OWS of a value (see the top): trimmed here. */
static void trim_trailing_ows(field *list, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        while (list[i].value_len > 0 && (list[i].value[list[i].value_len - 1] == ' ' ||
                                          list[i].value[list[i].value_len - 1] == '\t'))
            list[i].value[--list[i].value_len] = '\0';
    }
}

/* Feeds data to a fresh http_parser in the pieces given by cuts[] (ascending offsets).
 * Returns 0 when every byte was accepted, else -1. */
static int hp_run(const char *data, size_t len, const size_t *cuts, size_t ncuts, hp_rec *rec)
{
    http_parser p;
    size_t at = 0, k, i;
    memset(rec, 0, sizeof *rec);
    http_parser_init(&p, HTTP_REQUEST);
    p.data = rec;
    for (k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len, n;
        if (end <= at) continue;
        n = http_parser_execute(&p, &hp_settings, data + at, end - at);
        if (n != end - at || HTTP_PARSER_ERRNO(&p) != HPE_OK) {
            rec->err = HTTP_PARSER_ERRNO(&p);
            rec->err_at = at + n;
            return -1;
        }
        at = end;
    }
    for (i = 0; i < rec->count; i++) {
        trim_trailing_ows(rec->reqs[i].fields, rec->reqs[i].nfields);
        trim_trailing_ows(rec->reqs[i].trailers, rec->reqs[i].ntrailers);
    }
    return rec->overflow ? -1 : 0;
}

/* ---- mote's parser.c + body.c ----------------------------------------------------------- */

/* Drives parser_execute and body_decode over a buffer that grows by the pieces in cuts[], as
 * conn.c does. Returns 0, or the status of the first error. */
static int mp_run(const char *data, size_t len, const size_t *cuts, size_t ncuts, request *out,
                  size_t *count)
{
    hdr_span spans[64], tspans[MAX_TRAILERS + 1];
    parser p;
    body_decoder d;
    char trailer[2048];
    size_t trailer_len = 0;
    size_t start = 0, pos = 0, avail = 0, k = 0, guard = 0;
    int in_body = 0;
    request *r = NULL;

    *count = 0;
    parser_init(&p, spans, 64, 8192, 8192);
    while (guard++ < 100000) {
        if (pos == avail) { /* the next piece arrives */
            if (avail == len) break;
            avail = k < ncuts && cuts[k] < len ? cuts[k] : len;
            if (avail <= pos) avail = len;
            k++;
            continue;
        }
        if (!in_body) {
            int rc = parser_execute(&p, data + start, avail - start);
            uint32_t i;
            if (rc == PARSE_ERROR) return p.status;
            if (rc == PARSE_MORE) {
                pos = avail;
                continue;
            }
            if (*count == MAX_REQS) return -1;
            r = &out[(*count)++];
            req_clear(r);
            memcpy(r->method, data + start + p.method_off, p.method_len < 15 ? p.method_len : 15);
            memcpy(r->target, data + start + p.target_off,
                   p.target_len < TARGET_MAX_LEN ? p.target_len : TARGET_MAX_LEN);
            r->version = p.version_major * 10 + p.version_minor;
            for (i = 0; i < p.header_count && i < MAX_FIELDS; i++)
                field_set(&r->fields[i], data + start + spans[i].name_off, spans[i].name_len,
                          data + start + spans[i].value_off, spans[i].value_len);
            r->nfields = p.header_count;
            body_init(&d, (p.flags & HEAD_CHUNKED) != 0, p.content_length, 1 << 20, 8192);
            trailer_len = 0;
            pos = start + p.head_len;
            in_body = 1;
        }
        if (in_body) {
            size_t used = 0, dlen = 0;
            const char *dp = NULL;
            int rc = body_decode(&d, data + pos, avail - pos, &used, &dp, &dlen);
            if (rc == BODY_ERROR) return d.status;
            if (dlen) {
                if (r->body_len + dlen > BODY_MAX_LEN) return -1;
                memcpy(r->body + r->body_len, dp, dlen);
                r->body_len += dlen;
            }
            if (d.trailer_len) {
                if (trailer_len + d.trailer_len > sizeof trailer) return -1;
                memcpy(trailer + trailer_len, d.trailer, d.trailer_len);
                trailer_len += d.trailer_len;
            }
            pos += used;
            if (rc == BODY_DONE) {
                if (trailer_len) {
                    int n = parser_trailers(trailer, trailer_len, tspans, MAX_TRAILERS + 1);
                    int i;
                    if (n < 0 || n > MAX_TRAILERS) return -1;
                    for (i = 0; i < n; i++)
                        field_set(&r->trailers[i], trailer + tspans[i].name_off,
                                  tspans[i].name_len, trailer + tspans[i].value_off,
                                  tspans[i].value_len);
                    r->ntrailers = (size_t)n;
                }
                r->complete = 1;
                in_body = 0;
                start = pos;
                parser_reset(&p);
            } else if (used == 0 && pos < avail) {
                return -1; /* no progress */
            }
        }
    }
    return in_body ? -1 : 0;
}

/* ---- mote's connection machine ---------------------------------------------------------- */

typedef struct cm_rec {
    request reqs[MAX_REQS];
    size_t count;
    const request *want; /* to look the trailers up by name */
    int overflow;
} cm_rec;

static void cm_begin(mote_exchange *x)
{
    harness *h = x->conn->user;
    cm_rec *rec = h->ctx;
    const mote_request *req = &x->req;
    request *r;
    size_t i, n;
    if (rec->count == MAX_REQS) {
        rec->overflow = 1;
        return;
    }
    r = &rec->reqs[rec->count++];
    req_clear(r);
    snprintf(r->method, sizeof r->method, "%s", mote_request_method(req));
    snprintf(r->target, sizeof r->target, "%s", mote_request_target(req));
    r->version = mote_request_version(req);
    n = mote_request_header_count(req);
    for (i = 0; i < n && i < MAX_FIELDS; i++) {
        mote_header f;
        if (mote_request_header_at(req, i, &f) != 0) break;
        field_set(&r->fields[i], f.name, f.name_len, f.value, f.value_len);
    }
    r->nfields = n;
    if (strcmp(r->target, "*") == 0) r->complete = 1; /* answered by the library, no body */
}

static void cm_handler(mote_request *req, mote_response *res, void *user)
{
    harness *h = user;
    cm_rec *rec = h->ctx;
    request *r = rec->count ? &rec->reqs[rec->count - 1] : NULL;
    mote_str body = mote_request_body(req);
    if (r) {
        const request *want = rec->want ? &rec->want[rec->count - 1] : NULL;
        size_t i;
        if (body.len > BODY_MAX_LEN) {
            rec->overflow = 1;
        } else {
            memcpy(r->body, body.ptr, body.len);
            r->body_len = body.len;
        }
        /* mote gives trailers by name: look up the ones the generator wrote */
        for (i = 0; want && i < want->ntrailers; i++) {
            const char *v = mote_request_trailer(req, want->trailers[i].name);
            if (v) {
                field_set(&r->trailers[r->ntrailers++], want->trailers[i].name,
                          want->trailers[i].name_len, v, strlen(v));
            }
        }
        r->complete = 1;
    }
    mote_respond(res, 200, "text/plain", "ok\n");
}

static void cm_setup(harness *h, cm_rec *rec)
{
    h_init(h);
    memset(rec, 0, sizeof *rec);
    h->ctx = rec;
    h->env.exchange_begin = cm_begin;
    h_route(h, "/", MOTE_ROUTE_PREFIX | H_COLLECT, cm_handler);
    h_start(h);
}

/* Feeds the pieces; returns the bytes the connection accepted. */
static size_t cm_feed(harness *h, const char *data, size_t len, const size_t *cuts, size_t ncuts)
{
    size_t at = 0, k, taken = 0;
    for (k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        if (end <= at) continue;
        taken += h_feed(h, data + at, end - at, 0);
        at = end;
    }
    return taken;
}

/* ---- part 1: agreement on valid pipelines ----------------------------------------------- */

static size_t make_cuts(size_t len, size_t *cuts, size_t max, int mode)
{
    size_t n = 0, at = 0;
    if (mode == 0) return 0; /* whole */
    while (n < max) {
        size_t step = mode == 1 ? 1 + below(7) : 1 + below(len / 3 + 1);
        at += step;
        if (at >= len) break;
        cuts[n++] = at;
    }
    return n;
}

static int agree(const char *side, const request *want, size_t nwant, const request *got,
                 size_t ngot, unsigned iter, int mode)
{
    char why[1024];
    size_t i;
    if (ngot != nwant) {
        CHECK_MSG(0, "iteration %u split %d: %s saw %zu requests, want %zu", iter, mode, side,
                  ngot, nwant);
        return 0;
    }
    for (i = 0; i < nwant; i++) {
        if (req_differ(&want[i], &got[i], why, sizeof why)) {
            CHECK_MSG(0, "iteration %u split %d request %zu: %s differs (generated / %s): %s",
                      iter, mode, i, side, side, why);
            return 0;
        }
    }
    CHECK(1);
    return 1;
}

static void test_valid_agreement(void)
{
    enum { ITERATIONS = 1000 };
    static request want[MAX_REQS], mp[MAX_REQS];
    static hp_rec hp;
    static cm_rec cm;
    static size_t cuts[1 << 14];
    unsigned iter;
    size_t total_requests = 0, conn_requests = 0;
    size_t n_chunked = 0, n_trailers = 0, n_absolute = 0, n_asterisk = 0, n_ext = 0, n_10 = 0;
    buf b = {NULL, 0, 0};

    rng_state = 0x9E3779B97F4A7C15ull;
    for (iter = 0; iter < ITERATIONS; iter++) {
        size_t nreq = 1 + below(MAX_REQS), i, nmp;
        int ext_ok = chance(30), only_mote_methods = 1, mode;
        b.len = 0;
        for (i = 0; i < nreq; i++) {
            gen_request(&want[i], &b, ext_ok);
            if (method_is_ext(want[i].method)) only_mote_methods = 0, n_ext++;
            if (want[i].ntrailers) n_trailers++;
            if (want[i].version == 10) n_10++;
            if (want[i].target[0] == '*') n_asterisk++;
            else if (want[i].target[0] != '/') n_absolute++;
            if (want[i].chunked) n_chunked++;
        }
        total_requests += nreq;
        for (mode = 0; mode < 3; mode++) {
            size_t ncuts = make_cuts(b.len, cuts, sizeof cuts / sizeof cuts[0], mode);
            int rc;

            rc = hp_run(b.p, b.len, cuts, ncuts, &hp);
            CHECK_MSG(rc == 0, "iteration %u split %d: http_parser refused valid input: %s at "
                      "%zu (overflow %d): %.*s", iter, mode, http_errno_name(hp.err), hp.err_at,
                      hp.overflow,
                      (int)(b.len - hp.err_at < 60 ? b.len - hp.err_at : 60), b.p + hp.err_at);
            if (rc == 0) agree("http_parser", want, nreq, hp.reqs, hp.count, iter, mode);

            rc = mp_run(b.p, b.len, cuts, ncuts, mp, &nmp);
            CHECK_MSG(rc == 0, "iteration %u split %d: mote's parser refused valid input: %d",
                      iter, mode, rc);
            if (rc == 0) agree("mote parser", want, nreq, mp, nmp, iter, mode);

            if (only_mote_methods) {
                harness h;
                size_t fed, answered;
                cm_setup(&h, &cm);
                cm.want = want;
                fed = cm_feed(&h, b.p, b.len, cuts, ncuts);
                CHECK_MSG(fed == b.len, "iteration %u split %d: mote took %zu of %zu bytes",
                          iter, mode, fed, b.len);
                CHECK(!cm.overflow);
                agree("mote conn", want, nreq, cm.reqs, cm.count, iter, mode);
                answered = h_count(h_out(&h), h.out_len, "HTTP/1.1 200 OK\r\n") +
                           h_count(h_out(&h), h.out_len, "HTTP/1.1 204 No Content\r\n");
                CHECK_MSG(answered == nreq && !h.conn.closing &&
                              !h_find(h_out(&h), h.out_len, "Connection: close"),
                          "iteration %u split %d: %zu of %zu answered, closing %d:\n%s", iter,
                          mode, answered, nreq, h.conn.closing, h_out(&h));
                if (mode == 0) conn_requests += nreq;
                conn_abort(&h.conn);
                h_free(&h);
            }
        }
    }
    free(b.p);
    printf("differential: %u pipelines, %zu requests (%zu also through the connection "
           "machine), each whole and in two random splittings\n",
           (unsigned)ITERATIONS, total_requests, conn_requests);
    printf("differential: among them %zu chunked (%zu with trailers), %zu absolute-form, "
           "%zu OPTIONS *, %zu extension methods, %zu HTTP/1.0\n", n_chunked, n_trailers,
           n_absolute, n_asterisk, n_ext, n_10);
    CHECK(n_chunked > 100 && n_trailers > 50 && n_absolute > 100 && n_asterisk > 20 &&
          n_ext > 100 && n_10 > 100);
}

/* ---- part 2: invalid and edge input ----------------------------------------------------- */

#define GET_HEAD "GET / HTTP/1.1\r\nHost: x\r\n"
#define POST_HEAD "POST / HTTP/1.1\r\nHost: x\r\n"
#define CHUNKED_HEAD POST_HEAD "Transfer-Encoding: chunked\r\n\r\n"

typedef struct edge_case {
    const char *name;
    const char *raw;
    size_t len;       /* 0: strlen(raw) */
    int mote;         /* the status of mote's first response: 200 when the request is served */
    int hp_accepts;   /* http_parser parses every byte without an error */
    const char *why;  /* where they differ: who is right, by which section */
} edge_case;

#define AGREE NULL

static const edge_case edge_cases[] = {
    /* -- line endings and whitespace (RFC 9112 §2.2) -- */
    /* a bare CR MUST be treated as invalid or replaced by SP (RFC 9112 §2.2): both refuse */
    {"bare CR inside a field value", GET_HEAD "X-A: a\rb\r\n\r\n", 0, 400, 0, AGREE},
    {"bare CR ending the request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", 0, 400, 0, AGREE},
    {"bare LF line ends throughout", "GET / HTTP/1.1\nHost: x\n\n", 0, 400, 1,
     "both allowed: RFC 9112 §2.2 lets a recipient recognise a lone LF as a line terminator "
     "(MAY); mote does not, which is the safer reading behind a proxy"},
    {"bare LF ending one field", GET_HEAD "X-A: a\n\r\n", 0, 400, 1,
     "both allowed, as above (RFC 9112 §2.2 MAY)"},
    {"CRLF before the request line", "\r\n" GET_HEAD "\r\n", 0, 200, 1, AGREE},
    {"bare LF before the request line", "\n" GET_HEAD "\r\n", 0, 400, 1,
     "both allowed: RFC 9112 §2.2 asks that at least one empty line (CRLF) be ignored; a "
     "lone LF is only a line end to a recipient that chooses to accept one"},
    {"whitespace before the first field", "GET / HTTP/1.1\r\n X-A: a\r\nHost: x\r\n\r\n", 0,
     400, 1,
     "mote: a line starting with whitespace before the first field MUST be rejected or "
     "ignored (RFC 9112 §2.2); http_parser reports a field named \" X-A\""},
    {"two spaces after the method", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "both allowed: RFC 9112 §3 wants one SP, but lets recipients split on any whitespace "
     "(MAY), warning that this leniency enables smuggling; mote is strict"},
    {"HTAB as the separator", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    /* -- field syntax (RFC 9112 §5, RFC 9110 §5.5, §5.6.2) -- */
    {"space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, 400, 1,
     "mote: whitespace between field name and colon MUST be answered with 400 (RFC 9112 §5.1); "
     "http_parser (non-strict build) reports the name \"Host \""},
    {"Transfer-Encoding with space before the colon",
     POST_HEAD "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 400, 1,
     "mote (RFC 9112 §5.1 MUST 400); worse, http_parser frames the body as chunked by the "
     "field \"Transfer-Encoding \" while a recipient that ignores the odd field reads no body: "
     "the classic smuggling shape (PortSwigger 2019, 'HTTP Desync Attacks')"},
    {"Content-Length with space before the colon",
     POST_HEAD "Content-Length : 5\r\n\r\nhello", 0, 400, 1,
     "mote (RFC 9112 §5.1 MUST 400); http_parser takes the length from \"Content-Length \""},
    {"space inside a field name", GET_HEAD "X A: b\r\n\r\n", 0, 400, 1,
     "mote: a field name is a token (RFC 9110 §5.1, §5.6.2), SP is not a tchar"},
    {"obs-fold", GET_HEAD "X-A: a\r\n b\r\n\r\n", 0, 400, 1,
     "both allowed: RFC 9112 §5.2 lets a server reject obs-fold with 400 or replace it by SP; "
     "http_parser keeps the folded text as part of the value"},
    {"empty field name", GET_HEAD ": v\r\n\r\n", 0, 400, 0, AGREE},
    {"'@' in a field name", GET_HEAD "X@Y: v\r\n\r\n", 0, 400, 0, AGREE},
    {"'(' in a field name", GET_HEAD "X(Y: v\r\n\r\n", 0, 400, 0, AGREE},
    {"NUL in a field value", GET_HEAD "X-A: a\0b\r\n\r\n", sizeof GET_HEAD "X-A: a\0b\r\n\r\n" - 1,
     400, 0, AGREE},
    {"DEL in a field value", GET_HEAD "X-A: a\x7f" "b\r\n\r\n", 0, 400, 0, AGREE},
    {"VT in a field value", GET_HEAD "X-A: a\x0b" "b\r\n\r\n", 0, 400, 0, AGREE},
    {"obs-text in a field value", GET_HEAD "X-A: \xe9t\xe9\r\n\r\n", 0, 200, 1, AGREE},
    {"empty field value", GET_HEAD "X-A:\r\nX-B: \t \r\n\r\n", 0, 200, 1, AGREE},
    {"NUL in a field name", GET_HEAD "X\0A: b\r\n\r\n", sizeof GET_HEAD "X\0A: b\r\n\r\n" - 1,
     400, 0, AGREE},
    /* -- request line (RFC 9112 §3, §2.3; RFC 9110 §9.1) -- */
    /* both refuse these two, differently: methods are case-sensitive tokens (RFC 9110 §9.1)
     * and a server answers one it does not implement with 501 (RFC 9110 §15.6.2), as mote
     * does; http_parser only knows its fixed list and calls anything else a parse error */
    {"lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 501, 0, AGREE},
    {"unknown method token", "FROB / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 501, 0, AGREE},
    {"extension method known to http_parser", "PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 501,
     1, "both right: mote does not implement PROPFIND and says so with 501 (RFC 9110 §9.1)"},
    {"'@' inside the method", "GE@T / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    {"NUL in the method", "G\0T / HTTP/1.1\r\nHost: x\r\n\r\n",
     sizeof "G\0T / HTTP/1.1\r\nHost: x\r\n\r\n" - 1, 400, 0, AGREE},
    {"NUL in the target", "GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n",
     sizeof "GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n" - 1, 400, 0, AGREE},
    {"obs-text in the target", "GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "mote: the request-target is URI syntax (RFC 9112 §3.2, RFC 3986 §2), ASCII only"},
    {"HTAB in the target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "mote: HTAB is not a URI character (RFC 9112 §3.2, RFC 3986 §2)"},
    /* RFC 3986 §3.2.2: '^' cannot appear in a URI authority; both refuse */
    {"absolute-form with an invalid host", "GET http://a^b/ HTTP/1.1\r\nHost: x\r\n\r\n", 0,
     400, 0, AGREE},
    {"fragment in an origin-form target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "mote: a fragment is not part of any request-target form (RFC 9112 §3.2, §3.2.1); an "
     "invalid request-line SHOULD get 400 (§3)"},
    {"absolute-form with an empty host", "GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "mote: an http URI with an empty host MUST be rejected as invalid (RFC 9110 §4.2.1)"},
    {"asterisk-form with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 1,
     "mote: asterisk-form is only for OPTIONS (RFC 9112 §3.2.4)"},
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3) */
    {"HTTP/1.10", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    {"HTTP/01.1", "GET / HTTP/01.1\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    {"http/1.1 in lower case", "GET / http/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    {"HTTP/2.0 on an HTTP/1.1 connection", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 0, 505, 1,
     "mote: a major version the server does not support is 505 (RFC 9110 §15.6.6; "
     "RFC 9112 §2.3)"},
    {"HTTP/1.2 served as 1.1", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 0, 200, 1, AGREE},
    {"junk after the version", "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 0, 400, 0, AGREE},
    /* -- Host (RFC 9112 §3.2) -- */
    {"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 0, 400, 1,
     "mote: a server MUST answer 400 to an HTTP/1.1 request without Host (RFC 9112 §3.2)"},
    {"two Host fields", GET_HEAD "Host: y\r\n\r\n", 0, 400, 1,
     "mote: more than one Host field MUST be answered with 400 (RFC 9112 §3.2)"},
    /* -- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3) -- */
    {"Content-Length +5", POST_HEAD "Content-Length: +5\r\n\r\nhello", 0, 400, 0, AGREE},
    {"Content-Length -1", POST_HEAD "Content-Length: -1\r\n\r\nh", 0, 400, 0, AGREE},
    {"Content-Length 5 5", POST_HEAD "Content-Length: 5 5\r\n\r\nhello", 0, 400, 0, AGREE},
    {"Content-Length 0x5", POST_HEAD "Content-Length: 0x5\r\n\r\nhello", 0, 400, 0, AGREE},
    {"empty Content-Length", POST_HEAD "Content-Length: \r\n\r\nhello", 0, 400, 0, AGREE},
    {"Content-Length of 2^64", POST_HEAD "Content-Length: 18446744073709551616\r\n\r\n", 0, 400,
     0, AGREE},
    {"Content-Length with leading zeros", POST_HEAD "Content-Length: 0005\r\n\r\nhello", 0, 200,
     1, AGREE},
    {"Content-Length with trailing HTAB", POST_HEAD "Content-Length: 5\t\r\n\r\nhello", 0, 200,
     0, "mote: field-line = field-name \":\" OWS field-value OWS (RFC 9112 §5) and OWS is SP or "
     "HTAB (RFC 9110 §5.6.3), so the length is 5; http_parser takes only SP after the digits"},
    {"Transfer-Encoding chunked with trailing HTAB",
     POST_HEAD "Transfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 200, 0,
     "mote: the trailing HTAB is OWS (RFC 9112 §5, RFC 9110 §5.6.3); http_parser does not see "
     "\"chunked\" and refuses the request as not ending in chunked"},
    {"Transfer-Encoding with leading HTAB",
     POST_HEAD "Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, 200, 1, AGREE},
    {"Content-Length list 5, 5", POST_HEAD "Content-Length: 5, 5\r\n\r\nhello", 0, 200, 0,
     "both allowed: RFC 9110 §8.6 lets a recipient accept a list of identical lengths as that "
     "length, or reject it (RFC 9112 §6.3 item 5); mote accepts, http_parser rejects"},
    {"Content-Length twice, equal", POST_HEAD "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     0, 200, 0, "both allowed, as above (RFC 9110 §8.6)"},
    {"Content-Length twice, differing",
     POST_HEAD "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0, 400, 0, AGREE},
    {"Content-Length 5,6", POST_HEAD "Content-Length: 5,6\r\n\r\nhello!", 0, 400, 0, AGREE},
    /* -- Transfer-Encoding (RFC 9112 §6.1, §6.3) -- */
    {"Transfer-Encoding and Content-Length",
     POST_HEAD "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400, 0,
     AGREE},
    {"Transfer-Encoding identity", POST_HEAD "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n", 0,
     400, 0, AGREE},
    {"Transfer-Encoding chunked, identity",
     POST_HEAD "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 0, 400, 0, AGREE},
    {"Transfer-Encoding xchunked", POST_HEAD "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 0,
     400, 0, AGREE},
    {"Transfer-Encoding quoted", POST_HEAD "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 0,
     400, 0, AGREE},
    {"Transfer-Encoding gzip, chunked",
     POST_HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, 501, 1,
     "mote: a server SHOULD answer 501 to a transfer coding it does not understand "
     "(RFC 9112 §6.1); http_parser frames the body as chunked and leaves gzip to its caller"},
    {"Transfer-Encoding in HTTP/1.0",
     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400, 1,
     "mote: an HTTP/1.0 message with Transfer-Encoding MUST be treated as having faulty "
     "framing (RFC 9112 §6.1)"},
    {"Transfer-Encoding chunked, chunked",
     POST_HEAD "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 0, 400, 0, AGREE},
    /* -- chunked framing (RFC 9112 §7.1) -- */
    {"chunk size with junk after a space", CHUNKED_HEAD "5 x\r\nhello\r\n0\r\n\r\n", 0, 400, 1,
     "mote: after chunk-size only BWS \";\" chunk-ext may follow (RFC 9112 §7.1, §7.1.1); "
     "http_parser skips anything up to the CR as 'parameters'"},
    {"chunk size 0x5", CHUNKED_HEAD "0x5\r\nhello\r\n0\r\n\r\n", 0, 400, 0, AGREE},
    {"chunk size with 17 hex digits", CHUNKED_HEAD "10000000000000005\r\nhello\r\n0\r\n\r\n", 0,
     400, 0, AGREE},
    {"chunk size with many leading zeros",
     CHUNKED_HEAD "000000000000000000000005\r\nhello\r\n0\r\n\r\n", 0, 200, 1, AGREE},
    {"chunk data not followed by CRLF", CHUNKED_HEAD "5\r\nhelloXX0\r\n\r\n", 0, 400, 1,
     "mote: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 §7.1); http_parser "
     "(non-strict) skips any two bytes after the data"},
    {"bare LF after the chunk size", CHUNKED_HEAD "5\nhello\r\n0\r\n\r\n", 0, 400, 0, AGREE},
    {"bare CR inside a chunk extension", CHUNKED_HEAD "5;a\rb\r\nhello\r\n0\r\n\r\n", 0, 400, 0,
     AGREE},
    {"chunk extension and trailer", CHUNKED_HEAD "5;a=\"b\"\r\nhello\r\n0\r\nX-T: t\r\n\r\n", 0,
     200, 1, AGREE},
    {"trailer with space before the colon", CHUNKED_HEAD "5\r\nhello\r\n0\r\nX-T : t\r\n\r\n", 0,
     400, 1, "mote: trailer fields have the field-line syntax (RFC 9112 §7.1.2, §5.1)"},
};

static int mote_first_status(const char *raw, size_t len, size_t split, int *closed)
{
    harness h;
    cm_rec rec;
    int status = 0;
    cm_setup(&h, &rec);
    h_feed(&h, raw, len, split);
    if (h.out_len >= 12 && memcmp(h_out(&h), "HTTP/1.1 ", 9) == 0) status = atoi(h_out(&h) + 9);
    *closed = h.conn.closing && h_find(h_out(&h), h.out_len, "Connection: close") != NULL;
    conn_abort(&h.conn); /* as the shell closes a connection: frees a body being collected */
    h_free(&h);
    return status;
}

static void test_edge_cases(void)
{
    size_t i, disagree = 0;
    for (i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++) {
        const edge_case *e = &edge_cases[i];
        size_t len = e->len ? e->len : strlen(e->raw);
        hp_rec hp;
        int hp_ok = hp_run(e->raw, len, NULL, 0, &hp) == 0 && hp.count > 0 && hp.reqs[0].complete;
        int closed, closed1;
        int whole = mote_first_status(e->raw, len, 0, &closed);
        int bytewise = mote_first_status(e->raw, len, 1, &closed1);
        int mote_ok = e->mote == 200;
        CHECK_MSG(whole == e->mote && bytewise == e->mote, "%s: mote answered %d (%d byte by "
                  "byte), want %d", e->name, whole, bytewise, e->mote);
        if (!mote_ok)
            CHECK_MSG(closed && closed1, "%s: the %d did not close the connection", e->name,
                      e->mote);
        CHECK_MSG(hp_ok == e->hp_accepts, "%s: http_parser %s it (errno %s)", e->name,
                  hp_ok ? "accepted" : "refused", hp_ok ? "-" : "see http_parser");
        /* a row says why exactly when the two verdicts differ */
        CHECK_MSG((mote_ok != e->hp_accepts) == (e->why != NULL), "%s: verdicts %s but the row "
                  "%s an explanation", e->name, mote_ok != e->hp_accepts ? "differ" : "agree",
                  e->why ? "has" : "lacks");
        if (mote_ok != e->hp_accepts) disagree++;
    }
    printf("differential: %zu edge cases, %zu where mote and http_parser disagree\n",
           sizeof edge_cases / sizeof edge_cases[0], disagree);
}

int main(void)
{
    test_valid_agreement();
    test_edge_cases();
    return check_report("test_differential");
}
