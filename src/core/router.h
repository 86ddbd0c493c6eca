/* router.h - maps a request path to a handler: exact and segment-prefix routes, longest first. */
#ifndef MOTE_ROUTER_H
#define MOTE_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"

enum {
    ROUTE_PREFIX = 1u << 0,   /* MOTE_ROUTE_PREFIX */
    ROUTE_COLLECT = 1u << 1   /* MOTE_BODY_COLLECT */
};

typedef struct route {
    char *path;
    size_t len;
    unsigned flags;         /* ROUTE_* */
    unsigned methods;       /* MOTE_GET...; never 0 */
    uint64_t max_body_size; /* 0: the server's */
    char *auth;             /* "realm\0user\0password\0", or NULL */
    mote_handler handler;
    void *user_data;
    void *owned;            /* freed with the route (a WebSocket route's state), or NULL */
    void (*release)(void *owned); /* run on `owned` before it is freed, or NULL */
} route;

typedef struct router {
    route *routes;          /* longest path first; an exact route before a prefix one */
    size_t count, capacity;
    route fallback;         /* the default handler; handler NULL when there is none */
    mote_allocator alloc;
} router;

void router_init(router *r, mote_allocator alloc);
void router_free(router *r);

/* Adds a route as mote_route() does: MOTE_EINVAL, MOTE_EEXIST, MOTE_ENOMEM. `owned` (may be
 * NULL) is freed with the route, once it is added. */
int router_add(router *r, const mote_route_def *def, void *owned);

/* router_add() whose `owned` holds more than memory: `release` (may be NULL) runs on it before
 * it is freed with the route, once it is added. */
int router_add_owned(router *r, const mote_route_def *def, void *owned,
                     void (*release)(void *owned));

/* The realm, user and password of a route that demands credentials. */
const char *route_realm(const route *rt);
const char *route_user(const route *rt);
const char *route_password(const route *rt);

/* The route for a path, the default route, or NULL when neither matches. */
const route *router_match(const router *r, const char *path, size_t len);

#endif
