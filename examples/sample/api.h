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

/* Server-Sent Events: a clock tick each second to every open stream (user: events *). */
typedef struct subscriber {
    struct subscriber *prev, *next;
    mote_response *res;
} subscriber;

typedef struct events {
    subscriber head;          /* of a circular list of open streams */
    unsigned long ticks;
} events;

void events_init(events *ev);
void page_events(mote_request *req, mote_response *res, void *user);
/* The timer task that sends a tick (arg: events *). */
void events_tick(mote_server *srv, void *arg);

#endif
