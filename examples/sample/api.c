/* api.c - the sample's pages beyond the seed: request bodies both ways, Server-Sent Events,
 * and a page behind Basic authentication. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include <mbedtls/sha256.h>

/* ---- /auth: the route itself demands the credentials; the handler only runs with them --- */

void page_auth(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/html",
                 "<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
                 "<body><h1><center>Authenticated</center></h1></body>\n</html>\n");
}

/* ---- /echo: the body, collected by the route, sent back with its length ------------------ */

typedef struct echo {
    size_t sent;
} echo;

/* Writes what the send buffer takes; mote calls again each time it drains. */
static void echo_continue(mote_response *res, void *user)
{
    echo *e = user;
    mote_str body = mote_request_body(mote_response_request(res));
    while (e->sent < body.len) {
        size_t n = body.len - e->sent > 4096 ? 4096 : body.len - e->sent;
        if (mote_response_write(res, body.ptr + e->sent, n) < 0) return; /* full: wait */
        e->sent += n;
    }
    mote_response_end(res);
}

static void echo_free(void *user, int completed)
{
    (void)completed;
    free(user);
}

/* Streamed with its length declared, from on_ready: offered as this handler returns, and each
 * time the socket has taken some. */
void page_echo(mote_request *req, mote_response *res, void *user)
{
    mote_str body = mote_request_body(req);
    const char *type = mote_request_header(req, "Content-Type");
    char length[24];
    echo *e = malloc(sizeof *e);
    (void)user;
    if (!e) {
        mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        return;
    }
    e->sent = 0;
    snprintf(length, sizeof length, "%zu", body.len);
    mote_response_header(res, "Content-Type", type ? type : "application/octet-stream");
    mote_response_header(res, "X-Body-Length", length);
    mote_response_length(res, body.len);
    mote_request_set_user(req, e, echo_free);
    mote_response_defer(res, echo_continue);
}

/* ---- /upload: any size, streamed through SHA-256 in constant memory ---------------------- */

typedef struct upload {
    mbedtls_sha256_context sha;
    unsigned long long bytes;
} upload;

static void upload_data(mote_request *req, const void *data, size_t len, void *user)
{
    upload *u = user;
    unsigned char digest[32];
    char reply[160];
    size_t i, n;
    mote_response *res = mote_request_response(req);
    if (data) {
        mbedtls_sha256_update_ret(&u->sha, data, len);
        u->bytes += len;
        return;
    }
    mbedtls_sha256_finish_ret(&u->sha, digest);
    n = (size_t)snprintf(reply, sizeof reply, "{\"bytes\": %llu, \"sha256\": \"", u->bytes);
    for (i = 0; i < 32; i++) n += (size_t)snprintf(reply + n, sizeof reply - n, "%02x", digest[i]);
    snprintf(reply + n, sizeof reply - n, "\"}\n");
    mote_respond(res, 200, "application/json", reply);
}

static void upload_free(void *user, int completed)
{
    upload *u = user;
    (void)completed;
    mbedtls_sha256_free(&u->sha);
    free(u);
}

void page_upload(mote_request *req, mote_response *res, void *user)
{
    upload *u = malloc(sizeof *u);
    (void)user;
    if (!u) {
        mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        return;
    }
    mbedtls_sha256_init(&u->sha);
    mbedtls_sha256_starts_ret(&u->sha, 0);
    u->bytes = 0;
    /* the release frees the state however the request ends: answered, or cut off mid-body */
    mote_request_set_user(req, u, upload_free);
    mote_request_read_body(req, upload_data, u);
}

/* ---- /events: a clock tick each second, to every open stream ---------------------------- */

static void unsubscribe(void *user, int completed)
{
    subscriber *s = user;
    (void)completed;
    s->prev->next = s->next;
    s->next->prev = s->prev;
    free(s);
}

static void events_tick(mote_server *srv, void *arg);

int events_start(mote_server *srv, events *ev)
{
    mote_server *loop;
    unsigned i;
    for (i = 0; (loop = mote_server_loop(srv, i)) != NULL; i++) {
        int rc;
        ev[i].head.prev = ev[i].head.next = &ev[i].head;
        ev[i].ticks = 0;
        rc = mote_timer_start(loop, 1000, 1000, events_tick, &ev[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

void page_events(mote_request *req, mote_response *res, void *user)
{
    events *ev = (events *)user + mote_server_loop_index(mote_request_server(req));
    subscriber *s;
    mote_response_header(res, "Content-Type", "text/event-stream");
    mote_response_header(res, "Cache-Control", "no-cache");
    if (mote_request_method_id(req) == MOTE_HEAD) {
        mote_response_end(res);
        return;
    }
    s = malloc(sizeof *s);
    if (!s) {
        mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        return;
    }
    s->res = res;
    s->next = &ev->head;
    s->prev = ev->head.prev;
    ev->head.prev->next = s;
    ev->head.prev = s;
    if (mote_response_write(res, ": mote clock\n\n", 14) < 0) { /* the head goes out now */
        mote_response_end(res); /* (a fresh response has room: this does not happen) */
        s->res = NULL;
    }
    mote_request_set_user(req, s, unsubscribe);
    mote_response_defer(res, NULL);
}

void events_end(mote_server *loop, void *user)
{
    events *ev = (events *)user + mote_server_loop_index(loop);
    subscriber *s;
    for (s = ev->head.next; s != &ev->head; s = s->next) {
        if (!s->res) continue;
        mote_response_end(s->res);
        s->res = NULL;
    }
}

static void events_tick(mote_server *srv, void *arg)
{
    events *ev = arg;
    char line[96];
    time_t now = time(NULL);
    struct tm tm;
    subscriber *s;
    int n;
    (void)srv;
    gmtime_r(&now, &tm);
    ev->ticks++;
    n = snprintf(line, sizeof line, "id: %lu\ndata: %04d-%02d-%02dT%02d:%02d:%02dZ\n\n", ev->ticks,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    for (s = ev->head.next; s != &ev->head; s = s->next) {
        if (s->res && mote_response_write(s->res, line, (size_t)n) < 0) {
            /* a client too slow to take a tick just misses it */
        }
    }
}
