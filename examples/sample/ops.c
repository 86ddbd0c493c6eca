/* ops.c - see ops.h. */
#include "ops.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOOPS_MAX 64
#define METRICS_MAX 8192

int ops_allow(ops *o, const char *cidr)
{
    char addr[64];
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    int family, max;
    long bits;
    if (o->count == OPS_MAX_NETWORKS || n >= sizeof addr) return -1;
    memcpy(addr, cidr, n);
    addr[n] = '\0';
    family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, addr, o->net[o->count]) != 1) return -1;
    max = family == AF_INET ? 32 : 128;
    bits = max;
    if (slash) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > max) return -1;
    }
    o->family[o->count] = (unsigned char)family;
    o->bits[o->count] = (unsigned char)bits;
    o->count++;
    return 0;
}

static int in_network(const unsigned char *a, const unsigned char *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)whole) != 0) return 0;
    return rest == 0 || ((a[whole] ^ net[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Whether the client (the peer, or the PROXY header's client) may read /metrics. */
static int allowed(const ops *o, const mote_request *req)
{
    char text[64];
    unsigned char a[16];
    int family, i;
    if (mote_request_peer(req, text, sizeof text, NULL) < 0) return 0;
    family = strchr(text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, a) != 1) return 0;
    for (i = 0; i < o->count; i++) {
        if (o->family[i] == family && in_network(a, o->net[i], o->bits[i])) return 1;
    }
    return 0;
}

void page_healthz(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    mote_response_header(res, "Cache-Control", "no-store");
    if (mote_server_draining(mote_request_server(req)))
        mote_respond(res, 503, "text/plain", "draining\n");
    else
        mote_respond(res, 200, "text/plain", "ok\n");
}

/* ---- gathering every loop's figures ------------------------------------------------------- */

/* One /metrics answer in the making: each loop writes its own slot on its own thread; the
 * last to finish (the counter's release and acquire order the slots) hands it back. */
typedef struct gathering {
    mote_handle res;
    mote_server *srv;
    unsigned loops;
    atomic_uint left;
    mote_stats per_loop[LOOPS_MAX];
} gathering;

static void answer(mote_response *res, void *arg);

static void loop_done(gathering *g)
{
    if (atomic_fetch_sub(&g->left, 1u) != 1u) return;
    if (mote_response_post(g->res, answer, g) < 0) free(g); /* the server is stopping */
}

static void take_figures(mote_server *loop, void *arg)
{
    gathering *g = arg;
    mote_server_stats(loop, &g->per_loop[mote_server_loop_index(loop)]);
    loop_done(g);
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(text *t, const char *name, const char *type, const char *help, uint64_t v)
{
    family(t, name, type, help);
    put(t, "%s %" PRIu64 "\n", name, v);
}

static void labelled(text *t, const char *name, const char *label, const char *const *values,
                     const uint64_t *counts, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) put(t, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, values[i], counts[i]);
}

static void latency(text *t, const mote_stats *st)
{
    static const uint32_t bounds[] = MOTE_LATENCY_BOUNDS_MS;
    uint64_t cumulative = 0;
    size_t i;
    family(t, "mote_request_duration_seconds", "histogram",
           "Time from a request's head to its response's end.");
    for (i = 0; i < MOTE_LATENCY_BUCKETS; i++) {
        cumulative += st->latency[i];
        if (i < sizeof bounds / sizeof bounds[0])
            put(t, "mote_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                bounds[i] / 1000.0, cumulative);
        else
            put(t, "mote_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cumulative);
    }
    put(t, "mote_request_duration_seconds_sum %.3f\n", (double)st->latency_ms_sum / 1000.0);
    put(t, "mote_request_duration_seconds_count %" PRIu64 "\n", cumulative);
}

static void exposition(text *t, const mote_stats *st, int draining)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    static const char *const timeouts[] = {"handshake", "head", "body", "write", "idle", "min_rate"};
    static const char *const errors[] = {"io", "nomem", "proxy"};
    const uint64_t protocols[] = {st->requests_http1, st->requests_http2};
    const uint64_t tls[] = {st->tls_full, st->tls_resumed, st->tls_failed};
    one(t, "mote_connections_open", "gauge", "Connections open now.", st->connections);
    one(t, "mote_websockets_open", "gauge", "WebSockets open now.", st->websockets);
    one(t, "mote_connections_accepted_total", "counter", "Connections accepted.", st->accepted);
    one(t, "mote_connections_refused_total", "counter", "Connections turned away.", st->refused);
    family(t, "mote_requests_total", "counter", "Requests answered, by protocol.");
    labelled(t, "mote_requests_total", "protocol", (const char *const[]){"http1", "http2"},
             protocols, 2);
    family(t, "mote_responses_total", "counter", "Responses, by status class.");
    labelled(t, "mote_responses_total", "class", classes, st->status, 5);
    one(t, "mote_received_bytes_total", "counter", "Bytes received (after TLS).", st->bytes_in);
    one(t, "mote_sent_bytes_total", "counter", "Bytes sent (before TLS).", st->bytes_out);
    family(t, "mote_tls_handshakes_total", "counter", "TLS handshakes, by outcome.");
    labelled(t, "mote_tls_handshakes_total", "result",
             (const char *const[]){"full", "resumed", "failed"}, tls, 3);
    family(t, "mote_timeouts_total", "counter", "Connections timed out, by what was awaited.");
    labelled(t, "mote_timeouts_total", "kind", timeouts, st->timeouts, MOTE_TIMEOUT_KINDS);
    family(t, "mote_errors_total", "counter", "Connections ended by an error, by kind.");
    labelled(t, "mote_errors_total", "kind", errors, st->errors, MOTE_ERROR_KINDS);
    latency(t, st);
    one(t, "mote_uptime_seconds", "gauge", "Seconds since the server started.", st->uptime_ms / 1000);
    one(t, "mote_draining", "gauge", "1 once the server has begun to stop.", (uint64_t)draining);
}

static void answer(mote_response *res, void *arg)
{
    gathering *g = arg;
    char *buf;
    mote_stats sum;
    text t;
    unsigned i;
    if (res == NULL || (buf = malloc(METRICS_MAX)) == NULL) {
        if (res) mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        free(g);
        return;
    }
    memset(&sum, 0, sizeof sum);
    for (i = 0; i < g->loops; i++) mote_stats_add(&sum, &g->per_loop[i]);
    t.buf = buf;
    t.len = 0;
    t.cap = METRICS_MAX;
    exposition(&t, &sum, mote_server_draining(g->srv));
    mote_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    mote_response_send(res, buf, t.len);
    free(buf);
    free(g);
}

void page_metrics(mote_request *req, mote_response *res, void *user)
{
    const ops *o = user;
    gathering *g;
    mote_server *loop;
    unsigned i;
    if (!allowed(o, req)) {
        mote_respond(res, 403, "text/plain", "403 Forbidden\n");
        return;
    }
    if ((g = calloc(1, sizeof *g)) == NULL) {
        mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        return;
    }
    g->srv = o->srv;
    while (g->loops < LOOPS_MAX && mote_server_loop(o->srv, g->loops)) g->loops++;
    atomic_init(&g->left, g->loops);
    mote_response_defer(res, NULL);
    g->res = mote_response_handle(res);
    for (i = 0; i < g->loops; i++) {
        loop = mote_server_loop(o->srv, i);
        if (loop == mote_request_server(req)) take_figures(loop, g);
        else if (mote_post(loop, take_figures, g) < 0) loop_done(g); /* busy: its slot stays 0 */
    }
}
