/* router.c - route table; see router.h.
 *
 * Routes are kept sorted longest path first, so the first match is the longest, whatever the
 * order they were registered in. Registration allocates; matching never does. */
#include "core/router.h"

#include <string.h>

void router_init(router *r, mote_allocator alloc)
{
    memset(r, 0, sizeof *r);
    r->alloc = alloc;
    r->fallback.methods = MOTE_METHODS_ALL;
}

void router_free(router *r)
{
    size_t i;
    for (i = 0; i < r->count; i++) {
        r->alloc.free(r->alloc.ctx, r->routes[i].path);
        r->alloc.free(r->alloc.ctx, r->routes[i].auth);
    }
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

/* Realm, user and password in one allocation: "realm\0user\0password\0". */
static char *copy_auth(router *r, const mote_basic_auth *auth)
{
    size_t lr = strlen(auth->realm), lu = strlen(auth->user), lp = strlen(auth->password);
    char *p = r->alloc.alloc(r->alloc.ctx, lr + lu + lp + 3);
    if (!p) return NULL;
    memcpy(p, auth->realm, lr + 1);
    memcpy(p + lr + 1, auth->user, lu + 1);
    memcpy(p + lr + lu + 2, auth->password, lp + 1);
    return p;
}

const char *route_realm(const route *rt)
{
    return rt->auth;
}

const char *route_user(const route *rt)
{
    return rt->auth + strlen(rt->auth) + 1;
}

const char *route_password(const route *rt)
{
    const char *user = route_user(rt);
    return user + strlen(user) + 1;
}

static int options_are_valid(const mote_route_options *o)
{
    if (!o) return 1;
    if (o->methods & ~MOTE_METHODS_ALL) return 0;
    if (o->auth) {
        const mote_basic_auth *a = o->auth;
        size_t i;
        if (!a->realm || !a->user || !a->password || strchr(a->user, ':')) return 0;
        for (i = 0; a->realm[i]; i++) {   /* it goes inside a quoted-string */
            unsigned char ch = (unsigned char)a->realm[i];
            if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') return 0;
        }
    }
    return 1;
}

int router_add(router *r, const char *path, unsigned flags, const mote_route_options *options,
               mote_handler handler, void *user_data)
{
    route nr;
    size_t i, at;
    const unsigned known = MOTE_ROUTE_PREFIX | MOTE_ROUTE_COLLECT_BODY;
    if (!path || path[0] != '/' || !handler || (flags & ~known) || !options_are_valid(options))
        return MOTE_EINVAL;
    memset(&nr, 0, sizeof nr);
    nr.len = strlen(path);
    nr.flags = flags;
    nr.methods = options && options->methods ? options->methods : MOTE_METHODS_ALL;
    if (nr.methods & MOTE_GET) nr.methods |= MOTE_HEAD;
    nr.max_body_size = options ? options->max_body_size : 0;
    nr.handler = handler;
    nr.user_data = user_data;
    for (i = 0; i < r->count; i++) {
        if (r->routes[i].len == nr.len && (r->routes[i].flags & MOTE_ROUTE_PREFIX) == (flags & MOTE_ROUTE_PREFIX) &&
            memcmp(r->routes[i].path, path, nr.len) == 0)
            return MOTE_EEXIST;
    }
    if (r->count == r->capacity && router_grow(r) < 0) return MOTE_ENOMEM;
    nr.path = r->alloc.alloc(r->alloc.ctx, nr.len + 1);
    if (!nr.path) return MOTE_ENOMEM;
    memcpy(nr.path, path, nr.len + 1);
    if (options && options->auth && !(nr.auth = copy_auth(r, options->auth))) {
        r->alloc.free(r->alloc.ctx, nr.path);
        return MOTE_ENOMEM;
    }
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
