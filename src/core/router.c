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

static void route_free(router *r, route *rt)
{
    if (rt->release && rt->owned) rt->release(rt->owned);
    r->alloc.free(r->alloc.ctx, rt->path);
    r->alloc.free(r->alloc.ctx, rt->auth);
    r->alloc.free(r->alloc.ctx, rt->owned);
}

void router_free(router *r)
{
    size_t i;
    for (i = 0; i < r->count; i++) route_free(r, &r->routes[i]);
    route_free(r, &r->fallback);
    memset(&r->fallback, 0, sizeof r->fallback);
    r->fallback.methods = MOTE_METHODS_ALL;
    r->alloc.free(r->alloc.ctx, r->routes);
    r->routes = NULL;
    r->count = r->capacity = 0;
}

/* Whether a should be tried before b: longer first, then exact before prefix. */
static int route_precedes(const route *a, const route *b)
{
    if (a->len != b->len) return a->len > b->len;
    return (a->flags & ROUTE_PREFIX) < (b->flags & ROUTE_PREFIX);
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

#if MOTE_CONFIG_BASIC_AUTH
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

static int auth_is_valid(const mote_basic_auth *a)
{
    size_t i;
    if (!a->realm || !a->user || !a->password || strchr(a->user, ':')) return 0;
    for (i = 0; a->realm[i]; i++) { /* it goes inside a quoted-string */
        unsigned char ch = (unsigned char)a->realm[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') return 0;
    }
    return 1;
}
#else
/* MOTE_CONFIG_BASIC_AUTH 0: no route has credentials (router_add() refuses them) */
#define copy_auth(r, auth) ((void)(r), (void)(auth), (char *)NULL)
#define auth_is_valid(a) ((void)(a), 0)

const char *route_realm(const route *rt)
{
    (void)rt;
    return "";
}

const char *route_user(const route *rt)
{
    return route_realm(rt);
}

const char *route_password(const route *rt)
{
    return route_realm(rt);
}
#endif

static int def_is_valid(const mote_route_def *d)
{
    if (!d || !d->handler || (d->methods & ~MOTE_METHODS_ALL) || (d->auth && !auth_is_valid(d->auth)))
        return 0;
    if (d->body != MOTE_BODY_STREAM && d->body != MOTE_BODY_COLLECT) return 0;
    if (d->match == MOTE_ROUTE_DEFAULT) return d->path == NULL;
    return (d->match == MOTE_ROUTE_EXACT || d->match == MOTE_ROUTE_PREFIX) && d->path &&
           d->path[0] == '/';
}

/* A route as the definition asks, its strings copied; MOTE_ENOMEM. */
static int make_route(router *r, const mote_route_def *d, route *out)
{
    memset(out, 0, sizeof *out);
    out->flags = (d->match == MOTE_ROUTE_PREFIX ? ROUTE_PREFIX : 0u) |
                 (d->body == MOTE_BODY_COLLECT ? ROUTE_COLLECT : 0u);
    out->methods = d->methods ? d->methods : MOTE_METHODS_ALL;
    if (out->methods & MOTE_GET) out->methods |= MOTE_HEAD;
    out->max_body_size = d->max_body_size;
    out->handler = d->handler;
    out->user_data = d->user;
    if (d->path) {
        out->len = strlen(d->path);
        out->path = r->alloc.alloc(r->alloc.ctx, out->len + 1);
        if (!out->path) return MOTE_ENOMEM;
        memcpy(out->path, d->path, out->len + 1);
    }
    if (d->auth && !(out->auth = copy_auth(r, d->auth))) {
        r->alloc.free(r->alloc.ctx, out->path);
        return MOTE_ENOMEM;
    }
    return MOTE_OK;
}

int router_add(router *r, const mote_route_def *def, void *owned)
{
    return router_add_owned(r, def, owned, NULL);
}

int router_add_owned(router *r, const mote_route_def *def, void *owned,
                     void (*release)(void *owned))
{
    route nr;
    size_t i, at, len;
    int is_default;
    unsigned prefix;
    if (def && def->auth && !MOTE_CONFIG_BASIC_AUTH) return MOTE_ENOTSUP;
    if (!def_is_valid(def)) return MOTE_EINVAL;
    is_default = def->match == MOTE_ROUTE_DEFAULT;
    if (is_default && r->fallback.handler) return MOTE_EEXIST;
    prefix = def->match == MOTE_ROUTE_PREFIX ? ROUTE_PREFIX : 0u;
    len = is_default ? 0 : strlen(def->path);
    for (i = 0; !is_default && i < r->count; i++) {
        const route *rt = &r->routes[i];
        if (rt->len == len && (rt->flags & ROUTE_PREFIX) == prefix &&
            memcmp(rt->path, def->path, len) == 0)
            return MOTE_EEXIST;
    }
    if (!is_default && r->count == r->capacity && router_grow(r) < 0) return MOTE_ENOMEM;
    if (make_route(r, def, &nr) < 0) return MOTE_ENOMEM;
    nr.owned = owned;
    nr.release = release;
    if (is_default) {
        r->fallback = nr;
        return MOTE_OK;
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
    if (!(rt->flags & ROUTE_PREFIX)) return 0;
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
