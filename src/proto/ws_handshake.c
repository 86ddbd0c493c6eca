/* ws_handshake.c - a WebSocket route and its opening handshake (RFC 6455 §4.2), with the
 * negotiation of a subprotocol and of permessage-deflate (RFC 7692 §7).
 *
 * The handshake is the route's handler: everything about the request is checked before any
 * of the application's code runs, then on_open may still refuse, and the 101 hands the
 * connection over to ws.c. */
#include "mote.h"

#if MOTE_CONFIG_WS

#include <string.h>

#include "core/base64.h"
#include "core/chars.h"
#include "core/parser.h"
#include "core/pool.h"
#include "core/sha1.h"
#include "engine/exchange.h"
#include "proto/ws.h"
#include "proto/ws_frame.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define EXTENSION_ANSWER_MAX 128

/* ---- the route ------------------------------------------------------------------------------ */

static size_t ws_list_bytes(const char *const *list, size_t *count)
{
    size_t n = 0, bytes = 0;
    for (; list && list[n]; n++) bytes += strlen(list[n]) + 1;
    *count = n;
    return list ? bytes + (n + 1) * sizeof(char *) : 0;
}

/* Copies a NULL-terminated list: its pointers at *at, its strings after them. */
static const char *const *ws_copy_list(const char *const *list, size_t count, char **at)
{
    char **out = (char **)(void *)*at;
    char *text = *at + (count + 1) * sizeof(char *);
    size_t i;
    if (!list) return NULL;
    for (i = 0; i < count; i++) {
        size_t len = strlen(list[i]) + 1;
        memcpy(text, list[i], len);
        out[i] = text;
        text += len;
    }
    out[count] = NULL;
    *at = text;
    return (const char *const *)out;
}

static int ws_is_token_text(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) {
        if (!char_is((unsigned char)*s, CH_TOKEN)) return 0;
    }
    return 1;
}

static int ws_def_is_valid(const mote_ws_route_def *def)
{
    size_t i;
    if (!def->path || def->path[0] != '/') return 0;
    if (def->match != MOTE_ROUTE_EXACT && def->match != MOTE_ROUTE_PREFIX) return 0;
    for (i = 0; def->subprotocols && def->subprotocols[i]; i++) {
        if (!ws_is_token_text(def->subprotocols[i]) || i >= 254) return 0;
    }
    for (i = 0; def->origins && def->origins[i]; i++) {
        if (!def->origins[i][0]) return 0;
    }
    return 1;
}

int ws_route_create(const mote_ws_route_def *def, const mote_allocator *alloc,
                    uint64_t server_max_message, ws_route **out)
{
    size_t nsub, norig, path_len, size;
    size_t subs, origs;
    ws_route *rt;
    char *at;
    if (!def || !ws_def_is_valid(def)) return MOTE_EINVAL;
    path_len = strlen(def->path) + 1;
    subs = ws_list_bytes(def->subprotocols, &nsub);
    origs = ws_list_bytes(def->origins, &norig);
    size = ((sizeof *rt + sizeof(char *) - 1) & ~(sizeof(char *) - 1));
    rt = alloc->alloc(alloc->ctx, size + subs + origs + path_len);
    if (!rt) return MOTE_ENOMEM;
    rt->def = *def;
    rt->max_message = def->max_message_size ? def->max_message_size : server_max_message;
    if (!def->stream_messages && rt->max_message > UINT32_MAX) rt->max_message = UINT32_MAX;
    at = (char *)rt + size;
    rt->def.subprotocols = ws_copy_list(def->subprotocols, nsub, &at);
    at = (char *)rt + size + subs; /* pointer-aligned again */
    rt->def.origins = ws_copy_list(def->origins, norig, &at);
    memcpy(at, def->path, path_len);
    rt->def.path = at;
    rt->def.auth = NULL; /* the router keeps the credentials */
    *out = rt;
    return MOTE_OK;
}

void ws_route_free(ws_route *rt, const mote_allocator *alloc)
{
    alloc->free(alloc->ctx, rt);
}

/* ---- reading the request's fields --------------------------------------------------------- */

typedef struct ws_span {
    const char *p;
    size_t len;
} ws_span;

static int ws_same_ci(const char *a, const char *b, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (char_lower((unsigned char)a[i]) != char_lower((unsigned char)b[i])) return 0;
    }
    return 1;
}

static int ws_span_is(ws_span s, const char *lower)
{
    return s.len == strlen(lower) && header_name_is(s.p, s.len, lower);
}

static const char *ws_skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* The next element of a comma-separated list at *p (trimmed; empty elements skipped); 0 at
 * the end. */
static int ws_next_element(const char **p, ws_span *out)
{
    const char *s = *p, *e;
    while (*s == ',' || *s == ' ' || *s == '\t') s++;
    if (!*s) return 0;
    e = s;
    while (*e && *e != ',') {
        if (*e == '"') { /* a quoted string may hold commas */
            e++;
            while (*e && *e != '"') e += (*e == '\\' && e[1]) ? 2 : 1;
            if (*e) e++;
        } else {
            e++;
        }
    }
    *p = e;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    out->p = s;
    out->len = (size_t)(e - s);
    return 1;
}

/* Whether any field called `name` lists `token` (case-insensitive). */
static int ws_fields_list(const mote_request *req, const char *name, const char *token)
{
    size_t i, n = mote_request_header_count(req), nlen = strlen(name);
    mote_header h;
    for (i = 0; i < n; i++) {
        const char *p;
        ws_span e;
        if (mote_request_header_at(req, i, &h) < 0 || h.name_len != nlen ||
            !header_name_is(h.name, nlen, name))
            continue;
        for (p = h.value; ws_next_element(&p, &e);) {
            if (ws_span_is(e, token)) return 1;
        }
    }
    return 0;
}

/* The one field called `name`: NULL when absent or repeated. */
static const char *ws_only_field(const mote_request *req, const char *name)
{
    size_t i, n = mote_request_header_count(req), nlen = strlen(name), seen = 0;
    const char *value = NULL;
    mote_header h;
    for (i = 0; i < n; i++) {
        if (mote_request_header_at(req, i, &h) == 0 && h.name_len == nlen &&
            header_name_is(h.name, nlen, name)) {
            value = h.value;
            seen++;
        }
    }
    return seen == 1 ? value : NULL;
}

/* ---- the checks --------------------------------------------------------------------------- */

/* Sec-WebSocket-Accept for a key. */
static void ws_accept_value(const char *key, char out[ACCEPT_LEN + 1])
{
    unsigned char digest[20];
    sha1_ctx h;
    sha1_init(&h);
    sha1_update(&h, key, strlen(key));
    sha1_update(&h, WS_GUID, sizeof WS_GUID - 1);
    sha1_final(&h, digest);
    out[base64_encode(digest, sizeof digest, out)] = '\0';
}

static int ws_key_is_valid(const char *key)
{
    unsigned char raw[18];
    return key && base64_decode(key, strlen(key), raw, sizeof raw) == 16;
}

/* What is wrong with the request as a handshake: 0, 400 or 426. */
static int ws_handshake_error(const mote_request *req)
{
    const char *version;
    if (mote_request_method_id(req) != MOTE_GET || mote_request_version(req) < 11 ||
        mote_request_content_length(req) != 0)
        return 400;
    if (!ws_fields_list(req, "upgrade", "websocket") || !ws_fields_list(req, "connection", "upgrade"))
        return 400;
    if (!ws_key_is_valid(ws_only_field(req, "sec-websocket-key"))) return 400;
    version = ws_only_field(req, "sec-websocket-version");
    if (!version) return 400;
    return strcmp(version, "13") == 0 ? 0 : 426;
}

/* Whether an Origin names the host the request was sent to ("https://host:port" and Host). */
static int ws_is_same_origin(const mote_request *req, const char *origin)
{
    const char *sep = strstr(origin, "://");
    mote_str host = mote_request_host(req);
    size_t len;
    if (!sep || !host.len) return 0;
    sep += 3;
    len = strlen(sep);
    return len == host.len && ws_same_ci(sep, host.ptr, len);
}

static int ws_origin_is_allowed(const ws_route *rt, const mote_request *req)
{
    const char *origin = mote_request_header(req, "origin");
    size_t i;
    if (!origin) return 1; /* not a browser's request: nothing to protect a user from */
    if (!rt->def.origins && ws_is_same_origin(req, origin)) return 1;
    for (i = 0; rt->def.origins && rt->def.origins[i]; i++) {
        const char *o = rt->def.origins[i];
        if (strcmp(o, "*") == 0 ||
            (strlen(o) == strlen(origin) && ws_same_ci(o, origin, strlen(o))))
            return 1;
    }
    return rt->def.check_origin && rt->def.check_origin(req, origin, rt->def.user);
}

/* The first subprotocol the client offers that the route speaks: its index + 1, or 0. */
static uint8_t ws_choose_protocol(const ws_route *rt, const mote_request *req)
{
    size_t i, n = mote_request_header_count(req);
    mote_header h;
    if (!rt->def.subprotocols) return 0;
    for (i = 0; i < n; i++) {
        const char *p;
        ws_span e;
        if (mote_request_header_at(req, i, &h) < 0 || h.name_len != 22 ||
            !header_name_is(h.name, 22, "sec-websocket-protocol"))
            continue;
        for (p = h.value; ws_next_element(&p, &e);) {
            size_t k;
            for (k = 0; rt->def.subprotocols[k]; k++) {
                const char *s = rt->def.subprotocols[k];
                if (strlen(s) == e.len && memcmp(s, e.p, e.len) == 0) return (uint8_t)(k + 1);
            }
        }
    }
    return 0;
}

/* ---- permessage-deflate (RFC 7692 §7.1) ------------------------------------------------------ */

enum {
    P_SERVER_NCT = 1,
    P_CLIENT_NCT = 2,
    P_SERVER_BITS = 4,
    P_CLIENT_BITS = 8
};

/* A window-bits value, 8 to 15 with no leading zero, possibly quoted; -1 if not one. */
static int ws_window_bits(ws_span v)
{
    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
        v.p++;
        v.len -= 2;
    }
    if (v.len == 1 && v.p[0] >= '8' && v.p[0] <= '9') return v.p[0] - '0';
    if (v.len == 2 && v.p[0] == '1' && v.p[1] >= '0' && v.p[1] <= '5') return 10 + v.p[1] - '0';
    return -1;
}

/* One parameter "name[=value]" of an offer into *seen and *bits; 0 if it makes the offer
 * invalid (unknown, repeated, or a bad value), which declines that offer. */
static int ws_offer_param(ws_span param, unsigned *seen, int *server_bits)
{
    const char *eq = memchr(param.p, '=', param.len);
    ws_span name = {param.p, eq ? (size_t)(eq - param.p) : param.len}, value = {NULL, 0};
    unsigned bit;
    while (name.len && (name.p[name.len - 1] == ' ' || name.p[name.len - 1] == '\t')) name.len--;
    if (eq) {
        value.p = ws_skip_ows(eq + 1);
        value.len = (size_t)(param.p + param.len - value.p);
    }
    if (ws_span_is(name, "server_no_context_takeover")) bit = P_SERVER_NCT;
    else if (ws_span_is(name, "client_no_context_takeover")) bit = P_CLIENT_NCT;
    else if (ws_span_is(name, "server_max_window_bits")) bit = P_SERVER_BITS;
    else if (ws_span_is(name, "client_max_window_bits")) bit = P_CLIENT_BITS;
    else return 0;
    if (*seen & bit) return 0;
    *seen |= bit;
    if (bit == P_SERVER_BITS) return eq && (*server_bits = ws_window_bits(value)) >= 0;
    if (bit == P_CLIENT_BITS) return !eq || ws_window_bits(value) >= 0;
    return !eq;
}

/* An offer ("permessage-deflate; a; b=1"): 1 and *pmd when we accept it. */
static int ws_accept_offer(ws_span offer, ws_pmd *pmd)
{
    const char *p = offer.p, *end = offer.p + offer.len, *semi;
    ws_span name;
    unsigned seen = 0;
    int server_bits = 15;
    semi = memchr(p, ';', offer.len);
    name.p = p;
    name.len = (size_t)((semi ? semi : end) - p);
    while (name.len && (name.p[name.len - 1] == ' ' || name.p[name.len - 1] == '\t')) name.len--;
    if (!ws_span_is(name, "permessage-deflate")) return 0;
    while (semi) {
        ws_span param;
        p = ws_skip_ows(semi + 1);
        semi = memchr(p, ';', (size_t)(end - p));
        param.p = p;
        param.len = (size_t)((semi ? semi : end) - p);
        if (!ws_offer_param(param, &seen, &server_bits)) return 0;
    }
    if (server_bits == 8) return 0; /* zlib's raw deflate cannot keep to a 256-byte window */
    memset(pmd, 0, sizeof *pmd);
    pmd->enabled = 1;
    pmd->server_no_context_takeover = (seen & P_SERVER_NCT) != 0;
    pmd->client_no_context_takeover = (seen & P_CLIENT_NCT) != 0;
    pmd->server_window_bits = (uint8_t)((seen & P_SERVER_BITS) ? server_bits : 15);
    return 1;
}

static void ws_append(char *out, size_t *len, const char *s)
{
    size_t n = strlen(s);
    memcpy(out + *len, s, n + 1);
    *len += n;
}

/* The answer to an accepted offer: exactly what was agreed, nothing the client did not ask. */
static void ws_deflate_answer(const ws_pmd *pmd, char out[EXTENSION_ANSWER_MAX])
{
    size_t len = 0;
    out[0] = '\0';
    ws_append(out, &len, "permessage-deflate");
    if (pmd->server_no_context_takeover) ws_append(out, &len, "; server_no_context_takeover");
    if (pmd->client_no_context_takeover) ws_append(out, &len, "; client_no_context_takeover");
    if (pmd->server_window_bits != 15) {
        char bits[] = "; server_max_window_bits=00";
        size_t at = sizeof bits - 3;
        unsigned b = pmd->server_window_bits;
        bits[at] = (char)(b >= 10 ? '1' : '0' + (int)b);
        bits[at + 1] = b >= 10 ? (char)('0' + b % 10) : '\0';
        ws_append(out, &len, bits);
    }
}

/* The first offer we can accept, from every Sec-WebSocket-Extensions field in order. */
static int ws_negotiate_deflate(const ws_route *rt, const mote_conn *c, const mote_request *req,
                             ws_pmd *pmd)
{
    size_t i, n = mote_request_header_count(req);
    mote_header h;
    if (rt->def.no_deflate || c->env->fixed_memory || !ws_zlib_available()) return 0;
    for (i = 0; i < n; i++) {
        const char *p;
        ws_span e;
        if (mote_request_header_at(req, i, &h) < 0 || h.name_len != 24 ||
            !header_name_is(h.name, 24, "sec-websocket-extensions"))
            continue;
        for (p = h.value; ws_next_element(&p, &e);) {
            if (ws_accept_offer(e, pmd)) return 1;
        }
    }
    return 0;
}

/* ---- the handler --------------------------------------------------------------------------- */

static void ws_refuse(mote_exchange *x, int status)
{
    mote_response *res = &x->res;
    char body[48];
    const char *reason = mote_status_reason(status);
    size_t len = strlen(reason);
    if (status == 426) {
        (void)exchange_stage_field(x, "Upgrade", "websocket");
        (void)exchange_stage_field(x, "Connection", "Upgrade");
        (void)mote_response_header(res, "Sec-WebSocket-Version", "13");
    }
    body[0] = (char)('0' + status / 100 % 10);
    body[1] = (char)('0' + status / 10 % 10);
    body[2] = (char)('0' + status % 10);
    body[3] = ' ';
    memcpy(body + 4, reason, len);
    body[4 + len] = '\n';
    (void)mote_response_status(res, status);
    (void)mote_response_header(res, "Content-Type", "text/plain");
    (void)mote_response_send(res, body, 5 + len);
}

static mote_ws *ws_new_socket(mote_exchange *x, const ws_route *rt)
{
    mote_ws *ws = (mote_ws *)(void *)pool_get(x->conn->env->sockets);
    if (!ws) return NULL;
    memset(ws, 0, sizeof *ws);
    ws->conn = x->conn;
    ws->route = rt;
    ws->user = rt->def.user;
    ws->state = WS_OPENING;
    ws->frame_op = WS_NO_FRAME;
    return ws;
}

/* The 101's fields: the accept value, and what was negotiated. */
static int ws_stage_answer(mote_exchange *x, const mote_ws *ws, const mote_request *req)
{
    char accept[ACCEPT_LEN + 1], ext[EXTENSION_ANSWER_MAX];
    int rc;
    ws_accept_value(ws_only_field(req, "sec-websocket-key"), accept);
    rc = exchange_stage_field(x, "Upgrade", "websocket");
    if (rc == 0) rc = exchange_stage_field(x, "Connection", "Upgrade");
    if (rc == 0) rc = exchange_stage_field(x, "Sec-WebSocket-Accept", accept);
    if (rc == 0 && ws->protocol)
        rc = exchange_stage_field(x, "Sec-WebSocket-Protocol", mote_ws_protocol(ws));
    if (rc == 0 && ws->pmd.enabled) {
        ws_deflate_answer(&ws->pmd, ext);
        rc = exchange_stage_field(x, "Sec-WebSocket-Extensions", ext);
    }
    return rc;
}

void ws_handshake(mote_request *req, mote_response *res, void *user)
{
    const ws_route *rt = user;
    mote_exchange *x = exchange_of_request(req);
    int status = ws_handshake_error(req);
    mote_ws *ws;
    (void)res;
    if (status == 0 && !ws_origin_is_allowed(rt, req)) status = 403;
    if (status) {
        ws_refuse(x, status);
        return;
    }
    ws = ws_new_socket(x, rt);
    if (!ws) {
        exchange_note(x, MOTE_LOG_WARN, "503: no WebSocket state left");
        ws_refuse(x, 503);
        return;
    }
    ws->protocol = ws_choose_protocol(rt, req);
    if (!ws_negotiate_deflate(rt, x->conn, req, &ws->pmd)) memset(&ws->pmd, 0, sizeof ws->pmd);
    if (rt->def.on_open) {
        ws->flags |= WSF_IN_CALLBACK;
        status = rt->def.on_open(ws, req, ws->user);
        ws->flags &= (uint8_t)~WSF_IN_CALLBACK;
    }
    if (status == 0 && (ws_stage_answer(x, ws, req) < 0 || exchange_upgrade(x, &ws_proto, ws) < 0))
        status = 500;
    if (status) {
        pool_put(x->conn->env->sockets, (char *)ws);
        ws_refuse(x, status >= 400 && status <= 599 ? status : 403);
    }
}

#else
typedef int mote_no_websocket; /* MOTE_CONFIG_WS 0: nothing here (C forbids an empty file) */
#endif
