/* router.c - route table; see router.h.
 *
 * Routes are kept sorted longest path first, so the first match is the longest, whatever the
 * order they were registered in. Registration allocates; matching never does. */
#include "router.h"

#include <string.h>

void router_init(router *r, mote_allocator alloc)
{
    memset(r, 0, sizeof *r);
    r->alloc = alloc;
}

void router_free(router *r)
{
    size_t i;
    for (i = 0; i < r->count; i++) r->alloc.free(r->alloc.ctx, r->routes[i].path);
    r->alloc.free(r->alloc.ctx, r->routes);
    r->routes = NULL;
    r->count = r->capacity = 0;
}

/* Whether a should be tried before b: longer first, then exact before prefix. */
static int route_precedes(const route *a, const route *b)
{
    if (a->len != b->len) return a->len > b->len;
    return (a->flags & MOTE_ROUTE_PREFIX) < (b->flags & MOTE_ROUTE_PREFIX);
}

static int router_grow(router *r)
{
    size_t cap = r->capacity ? r->capacity * 2 : 8;
    route *bigger;
    if (cap > ((size_t)-1) / sizeof(route)) return MOTE_ENOMEM;
    bigger = r->alloc.alloc(r->alloc.ctx, cap * sizeof(route));
    if (!bigger) return MOTE_ENOMEM;
    if (r->count) memcpy(bigger, r->routes, r->count * sizeof(route));
    r->alloc.free(r->alloc.ctx, r->routes);
    r->routes = bigger;
    r->capacity = cap;
    return MOTE_OK;
}

int router_add(router *r, const char *path, unsigned flags, mote_handler handler, void *user_data)
{
    route nr;
    size_t i, at;
    if (!path || path[0] != '/' || !handler || (flags & ~(unsigned)MOTE_ROUTE_PREFIX))
        return MOTE_EINVAL;
    nr.len = strlen(path);
    nr.flags = flags;
    nr.handler = handler;
    nr.user_data = user_data;
    for (i = 0; i < r->count; i++) {
        if (r->routes[i].len == nr.len && r->routes[i].flags == flags &&
            memcmp(r->routes[i].path, path, nr.len) == 0)
            return MOTE_EEXIST;
    }
    if (r->count == r->capacity && router_grow(r) < 0) return MOTE_ENOMEM;
    nr.path = r->alloc.alloc(r->alloc.ctx, nr.len + 1);
    if (!nr.path) return MOTE_ENOMEM;
    memcpy(nr.path, path, nr.len + 1);
    for (at = 0; at < r->count && !route_precedes(&nr, &r->routes[at]); at++) {
    }
    memmove(&r->routes[at + 1], &r->routes[at], (r->count - at) * sizeof(route));
    r->routes[at] = nr;
    r->count++;
    return MOTE_OK;
}

/* The seed's segment rule: "/images" takes "/images" and "/images/..." but not "/images_x";
 * a route ending in '/' takes every path below it. */
static int route_matches(const route *rt, const char *path, size_t len)
{
    if (len < rt->len || memcmp(path, rt->path, rt->len) != 0) return 0;
    if (len == rt->len) return 1;
    if (!(rt->flags & MOTE_ROUTE_PREFIX)) return 0;
    return rt->path[rt->len - 1] == '/' || path[rt->len] == '/';
}

const route *router_match(const router *r, const char *path, size_t len)
{
    size_t i;
    for (i = 0; i < r->count; i++) {
        if (route_matches(&r->routes[i], path, len)) return &r->routes[i];
    }
    return r->fallback.handler ? &r->fallback : NULL;
}
