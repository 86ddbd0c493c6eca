/* events - a live page: GET / is an HTML page whose script listens to GET /events, a stream of
 * Server-Sent Events carrying a counter that one timer raises every 200 ms. Open
 * http://127.0.0.1:8080/ in a browser and watch it count; `curl -N .../events` shows the stream.
 *
 * Each stream is a response that never ends: its handler writes the head, defers the response
 * and returns; the timer writes an event to every open stream; the request's release forgets a
 * client that has gone. Usage: events [port] (8080; 0 picks a free one). A line on stdout as
 * each client comes or goes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote.h"

static const char page[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>mote events</title></head>\n"
    "<body><h1>Counter: <span id=\"n\">-</span></h1>\n"
    "<script>\n"
    "const source = new EventSource('/events');\n"
    "source.onmessage = (e) => { document.getElementById('n').textContent = e.data; };\n"
    "</script></body></html>\n";

/* The open streams, in a ring around a head that is no stream. */
typedef struct client {
    mote_response *res;       /* NULL once ended: a response is not touched after its end */
    struct client *prev, *next;
} client;

static client clients = {NULL, &clients, &clients};
static unsigned watching; /* how many: printed as clients come and go */
static unsigned long counter;
static mote_server *server;

static void index_page(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/html; charset=utf-8", page);
}

/* The request's release: the stream was ended and sent, or its client left. */
static void leave(void *user, int completed)
{
    client *c = user;
    (void)completed;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
    printf("client left, %u watching\n", --watching);
}

static void events(mote_request *req, mote_response *res, void *user)
{
    client *c;
    (void)user;
    mote_response_header(res, "Content-Type", "text/event-stream");
    mote_response_header(res, "Cache-Control", "no-cache");
    if (mote_request_method_id(req) == MOTE_HEAD || !(c = malloc(sizeof *c))) {
        mote_response_end(res); /* HEAD; or out of memory: the browser will try again */
        return;
    }
    c->res = res;
    c->next = &clients;
    c->prev = clients.prev;
    clients.prev->next = c;
    clients.prev = c;
    printf("client joined, %u watching\n", ++watching);
    /* a comment line sends the head now (chunked), so the browser's EventSource opens at once */
    if (mote_response_write(res, ": counting\n\n", 12) < 0) c->res = NULL;
    mote_request_set_user(req, c, leave); /* leave() runs once the request is over */
    mote_response_defer(res, NULL);       /* open after we return */
}

static void tick(mote_server *srv, void *arg)
{
    client *c, *next;
    char event[40];
    int n;
    (void)srv;
    (void)arg;
    n = snprintf(event, sizeof event, "data: %lu\n\n", ++counter);
    for (c = clients.next; c != &clients; c = next) {
        next = c->next;
        if (!c->res) continue; /* ended: leave() will come once its end is sent */
        if (mote_response_write(c->res, event, (size_t)n) < 0) {
            /* MOTE_EAGAIN: a slow client just misses this one */
        }
    }
}

/* The server begins to stop: streams never end by themselves, so the stop would otherwise
 * wait shutdown_timeout_ms for them. */
static void end_streams(mote_server *srv, void *user)
{
    client *c;
    (void)srv;
    (void)user;
    for (c = clients.next; c != &clients; c = c->next) {
        if (!c->res) continue;
        mote_response_end(c->res);
        c->res = NULL;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    mote_server_stop(server); /* safe in a signal handler */
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    mote_config cfg;
    int listener, rc;

    setvbuf(stdout, NULL, _IOLBF, 0); /* a line at a time, also into a pipe */
    mote_config_init(&cfg);
    cfg.on_shutdown = end_streams;
    if (mote_server_create(&server, &cfg) < 0) return 1;
    mote_route(server, &(mote_route_def){.path = "/", .methods = MOTE_GET, .handler = index_page});
    mote_route(server, &(mote_route_def){.path = "/events", .methods = MOTE_GET, .handler = events});
    if (mote_timer_start(server, 200, 200, tick, NULL) < 0) return 1;
    listener = mote_listen(server, NULL, (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080));
    if (listener < 0) {
        fprintf(stderr, "events: %s\n", mote_strerror(listener));
        mote_server_destroy(server);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("events: listening on port %d\n", mote_listener_port(server, listener));
    rc = mote_server_run(server);
    signal(SIGINT, SIG_DFL); /* from now on the handler would reach a destroyed server */
    signal(SIGTERM, SIG_DFL);
    mote_server_destroy(server);
    return rc < 0;
}
