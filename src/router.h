/* router.h - maps a request path to a handler: exact and segment-prefix routes, longest first. */
#ifndef MOTE_ROUTER_H
#define MOTE_ROUTER_H

#include <stddef.h>

#include "mote.h"

typedef struct route {
    char *path;
    size_t len;
    unsigned flags;
    mote_handler handler;
    void *user_data;
} route;

typedef struct router {
    route *routes;          /* longest path first; an exact route before a prefix one */
    size_t count, capacity;
    route fallback;         /* the default handler; handler NULL when there is none */
    mote_allocator alloc;
} router;

void router_init(router *r, mote_allocator alloc);
void router_free(router *r);

/* Adds a route: MOTE_EINVAL for a path not starting with '/', MOTE_EEXIST, MOTE_ENOMEM. */
int router_add(router *r, const char *path, unsigned flags, mote_handler handler, void *user_data);

/* The route for a path, the default route, or NULL when neither matches. */
const route *router_match(const router *r, const char *path, size_t len);

#endif
