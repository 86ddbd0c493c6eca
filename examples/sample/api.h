/* api.h - the sample's pages beyond the seed's: /auth, /echo, /upload and /events. */
#ifndef MOTE_SAMPLE_API_H
#define MOTE_SAMPLE_API_H

#include "mote.h"

/* Behind the route's Basic authentication. */
void page_auth(mote_request *req, mote_response *res, void *user);

/* The collected request body, returned with its length (route: MOTE_ROUTE_COLLECT_BODY). */
void page_echo(mote_request *req, mote_response *res, void *user);

/* A body of any size, streamed: answers its byte count and SHA-256. */
void page_upload(mote_request *req, mote_response *res, void *user);

/* Server-Sent Events: a clock tick each second to every open stream. With several event loops
 * (--workers), each loop has its own streams and its own timer: a response is written only on
 * the loop that serves it (user: events[], one per loop, indexed by mote_server_loop_index). */
typedef struct subscriber {
    struct subscriber *prev, *next;
    mote_response *res;       /* NULL once ended */
} subscriber;

typedef struct events {
    subscriber head;          /* of a circular list of open streams */
    unsigned long ticks;
} events;

/* Sets up ev[i] and its tick timer on loop i, for each of the server's loops. */
int events_start(mote_server *srv, events *ev);
void page_events(mote_request *req, mote_response *res, void *user);
/* Ends loop's streams as the server begins to stop (mote_config.on_shutdown; user: ev[]):
 * they would never end by themselves, and the stop would wait for them. */
void events_end(mote_server *loop, void *user);

#endif
