/* live.c - the sample's WebSockets; see live.h.
 *
 * /ws answers each message with itself: text with text, binary with binary, up to 16 MiB,
 * compressed when the client offers permessage-deflate. /live/ is a page (compiled in, from
 * web/live/) whose script opens /live/ws (same origin only: the route keeps its default Origin
 * check), which every loop's timer feeds with that loop's figures as one JSON text a second. */
#include "live.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ECHO_MAX_MESSAGE (16u * 1024u * 1024u)

static void echo(mote_ws *ws, const mote_ws_message *m, void *user)
{
    int rc = m->binary ? mote_ws_send_binary(ws, m->data, m->len)
                       : mote_ws_send_text(ws, m->data, m->len);
    (void)user;
    if (rc < 0) (void)mote_ws_close(ws, 1011, mote_strerror(rc));
}

/* The loop's figures as JSON; the length. */
static int figures(mote_server *loop, char *buf, size_t len)
{
    mote_stats st;
    mote_server_stats(loop, &st);
    return snprintf(buf, len,
                    "{\"connections\":%" PRIu64 ",\"websockets\":%" PRIu64 ",\"requests\":%" PRIu64
                    ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"uptime_ms\":%" PRIu64 "}",
                    st.connections, st.websockets, st.requests, st.bytes_in, st.bytes_out,
                    st.uptime_ms);
}

/* A reader too slow for one message a second misses some: nothing piles up for it. */
static void push(mote_ws *ws, void *json)
{
    if (mote_ws_send_text(ws, json, strlen(json)) < 0) return;
}

/* The first figures as soon as the socket is open (on_writable's first call). */
static void push_now(mote_ws *ws, void *user)
{
    char json[256];
    (void)user;
    if (figures(mote_ws_server(ws), json, sizeof json) > 0) push(ws, json);
}

static void tick(mote_server *loop, void *arg)
{
    char json[256];
    (void)arg;
    if (figures(loop, json, sizeof json) > 0) (void)mote_ws_each(loop, "/live/ws", push, json);
}

int live_start(mote_server *srv)
{
    static const char *const any_origin[] = {"*", NULL};
    const mote_ws_route_def echo_route = {.path = "/ws", .origins = any_origin,
                                          .on_message = echo,
                                          .max_message_size = ECHO_MAX_MESSAGE};
    const mote_ws_route_def live_route = {.path = "/live/ws", .on_writable = push_now};
    mote_server *loop;
    unsigned i;
    int rc = mote_ws_route(srv, &echo_route);
    if (rc == 0) rc = mote_ws_route(srv, &live_route);
    for (i = 0; rc >= 0 && (loop = mote_server_loop(srv, i)) != NULL; i++)
        rc = mote_timer_start(loop, 1000, 1000, tick, NULL);
    return rc < 0 ? rc : 0;
}
