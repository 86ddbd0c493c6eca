/* test_small_device.c - a connection with a small device's limits (README.md's footprint
 * table): a 512-byte request line, 1 KiB of header fields, 16 fields, a 1 KiB send buffer, 256
 * bytes of response header fields and a 64-byte body read room, in static-memory mode with an
 * allocator that refuses everything. Requests at those limits are served, bodies larger than
 * the read room are read through it, and requests past them get 414 and 431. */
#include "check.h"
#include "conn_harness.h"

#define LINE 512
#define FIELD_BYTES 1024
#define FIELDS 16
#define SEND 1024
#define RESPONSE_FIELDS 256
#define READ_ROOM 64

static int refusals;

static void *refuse(void *ctx, size_t n)
{
    (void)ctx;
    (void)n;
    refusals++;
    return NULL;
}

/* The harness's connection, with the env a server with these limits makes (the input buffer
 * as the engine sizes it, read room included) and no heap behind it. */
static void small_start(harness *h)
{
    mote_allocator none = {refuse, h_mfree, NULL};
    mote_config cfg;
    conn_env env;
    h_init(h);
    mote_config_init(&cfg);
    cfg.max_request_line = LINE;
    cfg.max_header_bytes = FIELD_BYTES;
    cfg.max_headers = FIELDS;
    cfg.response_buffer_size = SEND;
    cfg.max_response_header_bytes = RESPONSE_FIELDS;
    cfg.body_read_room = READ_ROOM;
    conn_env_init(&env, &cfg, &h->routes, none, 1);
    memcpy(env.server_line, h->env.server_line, sizeof env.server_line);
    env.server_line_len = h->env.server_line_len;
    memcpy(env.date_line, h->env.date_line, sizeof env.date_line);
    env.date_line_len = h->env.date_line_len;
    env.owner = h;
    env.first_proto = h->env.first_proto;
    env.exchanges = &h->exchanges;
    h->env = env;
    CHECK_EQ_INT(h->env.in_size, (LINE + 2 + FIELD_BYTES + READ_ROOM + 7) & ~7);
    h_attach(h);
}

/* GET: the count of fields, with response fields filling their room (what the longest path
 * leaves of it: max_response_header_bytes). */
static void on_get(mote_request *req, mote_response *res, void *user)
{
    char text[64], value[200];
    h_log(user, req);
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    CHECK_EQ_INT(mote_response_header(res, "X-Filler", value), MOTE_OK);
    CHECK_EQ_INT(mote_response_header(res, "X-Too-Much", value + 100), MOTE_ETOOBIG);
    snprintf(text, sizeof text, "%u fields, last %s", (unsigned)req->field_count,
             mote_request_header(req, "X-Field-15") ? "seen" : "missing");
    CHECK_EQ_INT(mote_respond(res, 200, "text/plain", text), MOTE_OK);
}

/* POST collected: the body's length and its first and last bytes. */
static void on_collect(mote_request *req, mote_response *res, void *user)
{
    mote_str b = mote_request_body(req);
    char text[64];
    (void)user;
    snprintf(text, sizeof text, "collected %zu %c%c", b.len, b.len ? b.ptr[0] : '-',
             b.len ? b.ptr[b.len - 1] : '-');
    CHECK_EQ_INT(mote_respond(res, 200, "text/plain", text), MOTE_OK);
}

/* POST streamed: counted and summed as it arrives, answered at its end. */
typedef struct tally {
    size_t bytes, pieces;
    unsigned sum;
} tally;

static tally streamed;

static void on_piece(mote_request *req, const void *data, size_t len, void *user)
{
    mote_response *res = user;
    char text[80];
    size_t i;
    if (data) {
        streamed.bytes += len;
        streamed.pieces++;
        for (i = 0; i < len; i++) streamed.sum += ((const unsigned char *)data)[i];
        return;
    }
    (void)req;
    snprintf(text, sizeof text, "streamed %zu sum %u", streamed.bytes, streamed.sum);
    CHECK_EQ_INT(mote_respond(res, 200, "text/plain", text), MOTE_OK);
}

static void on_stream(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    memset(&streamed, 0, sizeof streamed);
    CHECK_EQ_INT(mote_request_read_body(req, on_piece, res), MOTE_OK);
}

static void routes(harness *h)
{
    h_route(h, "/get", MOTE_ROUTE_PREFIX, on_get);
    h_route(h, "/collect", H_COLLECT, on_collect);
    h_route(h, "/stream", 0, on_stream);
}

/* "GET /get/aaa...a HTTP/1.1" of exactly `line` bytes, then `fields` fields taking
 * `field_bytes` bytes in all (the final CRLF included): "Host: vvv...v", then "X-Field-N:
 * vvv...v" for N from 1. */
static void request_at(strbuf *r, size_t line, size_t fields, size_t field_bytes)
{
    size_t i, path = line - (sizeof "GET  HTTP/1.1" - 1), each = (field_bytes - 2) / fields;
    sb_add(r, "GET /get/", 9);
    for (i = 5; i < path; i++) sb_add(r, "a", 1);
    sb_add(r, " HTTP/1.1\r\n", 11);
    for (i = 0; i < fields; i++) {
        char name[16];
        int n = i ? snprintf(name, sizeof name, "X-Field-%zu: ", i)
                  : snprintf(name, sizeof name, "Host: ");
        size_t len = i + 1 < fields ? each : field_bytes - 2 - each * (fields - 1), v;
        sb_add(r, name, (size_t)n);
        for (v = (size_t)n + 2; v < len; v++) sb_add(r, "v", 1);
        sb_add(r, "\r\n", 2);
    }
    sb_add(r, "\r\n", 2);
}

static void test_at_the_limits(void)
{
    harness h;
    strbuf r = {0};
    small_start(&h);
    routes(&h);
    /* Host among the 16: the last field's name is X-Field-15 */
    request_at(&r, LINE, FIELDS, FIELD_BYTES);
    CHECK_EQ_INT(strstr(r.p, "\r\n") - r.p, LINE);
    CHECK_EQ_INT(r.len - LINE - 2, FIELD_BYTES);
    CHECK_EQ_INT(h_feed(&h, r.p, r.len, 0), r.len);
    CHECK_MSG(strstr(h_out(&h), "HTTP/1.1 200 OK\r\n") == h_out(&h), "%s", h_out(&h));
    CHECK(strstr(h_out(&h), "16 fields, last seen") != NULL);
    CHECK(strstr(h_out(&h), "X-Filler: vvv") != NULL);
    CHECK_EQ_INT(h.log_count, 1);
    /* and again on the same connection, in pieces of 7 bytes */
    h_clear_output(&h);
    CHECK_EQ_INT(h_feed(&h, r.p, r.len, 7), r.len);
    CHECK(strstr(h_out(&h), "16 fields, last seen") != NULL);
    CHECK_EQ_INT(h.log_count, 2);
    CHECK_EQ_INT(refusals, 0);
    sb_free(&r);
    h_free(&h);
}

static void test_bodies_through_the_room(void)
{
    harness h;
    strbuf r = {0};
    static char body[6000];
    size_t i;
    unsigned sum = 0;
    char want[80];
    small_start(&h);
    routes(&h);
    for (i = 0; i < sizeof body; i++) {
        body[i] = (char)('a' + i % 26);
        sum += (unsigned char)body[i];
    }
    /* streamed: 6000 bytes through a 1.6 KiB buffer, in pieces of any size */
    sb_printf(&r, "POST /stream HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n", sizeof body);
    sb_add(&r, body, sizeof body);
    CHECK_EQ_INT(h_feed(&h, r.p, r.len, 1000), r.len);
    snprintf(want, sizeof want, "streamed %zu sum %u", sizeof body, sum);
    CHECK_MSG(strstr(h_out(&h), want) != NULL, "%s", h_out(&h));
    CHECK(streamed.pieces > 1);
    /* chunked, streamed */
    h_clear_output(&h);
    r.len = 0;
    sb_add(&r, "POST /stream HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n", 62);
    for (i = 0; i < sizeof body; i += 1500) sb_printf(&r, "5dc\r\n%.1500s\r\n", body + i);
    sb_add(&r, "0\r\n\r\n", 5);
    CHECK_EQ_INT(h_feed(&h, r.p, r.len, 333), r.len);
    CHECK_MSG(strstr(h_out(&h), want) != NULL, "%s", h_out(&h));
    /* collected in place: 1000 bytes, more than the read room, less than the buffer */
    h_clear_output(&h);
    r.len = 0;
    sb_printf(&r, "POST /collect HTTP/1.1\r\nHost: d\r\nContent-Length: 1000\r\n\r\n");
    sb_add(&r, body, 1000);
    CHECK_EQ_INT(h_feed(&h, r.p, r.len, 100), r.len);
    CHECK_MSG(strstr(h_out(&h), "collected 1000 al") != NULL, "%s", h_out(&h));
    /* too long to collect without a heap: 413, and nothing was allocated */
    h_clear_output(&h);
    r.len = 0;
    sb_printf(&r, "POST /collect HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n", sizeof body);
    (void)h_feed(&h, r.p, r.len, 0);
    CHECK_MSG(strstr(h_out(&h), "HTTP/1.1 413 ") == h_out(&h), "%s", h_out(&h));
    CHECK_EQ_INT(refusals, 0);
    sb_free(&r);
    h_free(&h);
}

static void test_past_the_limits(void)
{
    harness h;
    strbuf r = {0};
    /* a request line one byte too long: 414 */
    small_start(&h);
    routes(&h);
    request_at(&r, LINE + 1, 2, 64);
    (void)h_feed(&h, r.p, r.len, 0);
    CHECK_MSG(strstr(h_out(&h), "HTTP/1.1 414 ") == h_out(&h), "%s", h_out(&h));
    CHECK_EQ_INT(h.log_count, 0);
    h_free(&h);
    /* one field too many: 431 */
    small_start(&h);
    routes(&h);
    r.len = 0;
    request_at(&r, 64, FIELDS + 1, 600);
    (void)h_feed(&h, r.p, r.len, 0);
    CHECK_MSG(strstr(h_out(&h), "HTTP/1.1 431 ") == h_out(&h), "%s", h_out(&h));
    h_free(&h);
    /* a field section one byte too long: 431 */
    small_start(&h);
    routes(&h);
    r.len = 0;
    request_at(&r, 64, 4, FIELD_BYTES + 1);
    CHECK_EQ_INT(r.len - 64 - 2, FIELD_BYTES + 1);
    (void)h_feed(&h, r.p, r.len, 0);
    CHECK_MSG(strstr(h_out(&h), "HTTP/1.1 431 ") == h_out(&h), "%s", h_out(&h));
    CHECK_EQ_INT(h.log_count, 0);
    h_free(&h);
    CHECK_EQ_INT(refusals, 0);
    sb_free(&r);
}

int main(void)
{
    test_at_the_limits();
    test_bodies_through_the_room();
    test_past_the_limits();
    return check_report("test_small_device");
}
