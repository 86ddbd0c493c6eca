/* test_router.c - the route table: the seed's segment rule for prefix routes, exact routes,
 * longest match whatever the registration order, exact before prefix, duplicates, bad paths,
 * the default route, and allocation (everything freed; a failed allocation leaves the table as
 * it was). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mote.h"
#include "core/router.h"

/* ---- allocators ------------------------------------------------------------------------- */

/* Counts calls and live blocks, and fails the fail_at-th call (1-based; 0: never). */
typedef struct counting {
    size_t calls;       /* alloc calls so far, failed ones included */
    size_t live;        /* blocks handed out and not yet freed */
    size_t fail_at;
    size_t failed;      /* alloc calls that returned NULL */
} counting;

static void *count_alloc(void *ctx, size_t size)
{
    counting *a = ctx;
    void *p;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at) {
        a->failed++;
        return NULL;
    }
    p = malloc(size ? size : 1);
    if (p) a->live++;
    return p;
}

static void count_free(void *ctx, void *ptr)
{
    counting *a = ctx;
    if (!ptr) return;
    a->live--;
    free(ptr);
}

static mote_allocator counting_allocator(counting *a)
{
    mote_allocator al;
    memset(a, 0, sizeof *a);
    al.alloc = count_alloc;
    al.free = count_free;
    al.ctx = a;
    return al;
}

/* ---- handlers: routes are told apart by their user_data --------------------------------- */

static void handler_a(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)res;
    (void)user;
}

static void handler_b(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)res;
    (void)user;
}

/* Tags: distinct addresses for user_data. */
static char tags[64];
#define TAG(i) ((void *)&tags[(i)])

static const route *match(const router *r, const char *path)
{
    return router_match(r, path, strlen(path));
}

/* A route as mote_route() registers it: `match` one of MOTE_ROUTE_*, anything else invalid. */
static int add(router *rt, const char *path, unsigned match, const void *unused,
               mote_handler handler, void *user)
{
    mote_route_def def;
    (void)unused;
    memset(&def, 0, sizeof def);
    def.path = path;
    def.match = (mote_match)match;
    def.handler = handler;
    def.user = user;
    return router_add(rt, &def, NULL);
}

/* The tag of the route matching `path`, or NULL when nothing (not even a default) matches. */
static void *match_tag(const router *r, const char *path)
{
    const route *rt = match(r, path);
    return rt ? rt->user_data : NULL;
}

/* The index of a tag in tags[], or -1 for NULL. */
static long tag_index(const void *tag)
{
    return tag ? (long)((const char *)tag - tags) : -1L;
}

#define CHECK_MATCH(r, path, tag)                                                          \
    CHECK_MSG(match_tag((r), (path)) == (tag), "path \"%s\": got tag %ld, want %ld", (path), \
              tag_index(match_tag((r), (path))), tag_index(tag))

/* ---- the seed's segment rule ------------------------------------------------------------ */

static void test_prefix_segments(void)
{
    counting a;
    router r;
    router_init(&r, counting_allocator(&a));
    CHECK_EQ_INT(add(&r, "/images", MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(1)), MOTE_OK);

    CHECK_MATCH(&r, "/images", TAG(1));
    CHECK_MATCH(&r, "/images/", TAG(1));
    CHECK_MATCH(&r, "/images/x", TAG(1));
    CHECK_MATCH(&r, "/images/x/y.png", TAG(1));
    CHECK_MATCH(&r, "/images_and_docs", NULL);
    CHECK_MATCH(&r, "/imagesx", NULL);
    CHECK_MATCH(&r, "/image", NULL);
    CHECK_MATCH(&r, "/", NULL);
    CHECK_MATCH(&r, "/IMAGES", NULL);          /* paths are case-sensitive */
    CHECK_MATCH(&r, "/other/images", NULL);
    CHECK_MATCH(&r, "images", NULL);

    /* a prefix route ending in '/' takes everything below it */
    CHECK_EQ_INT(add(&r, "/docs/", MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(2)), MOTE_OK);
    CHECK_MATCH(&r, "/docs/", TAG(2));
    CHECK_MATCH(&r, "/docs/a", TAG(2));
    CHECK_MATCH(&r, "/docs/a/b/c", TAG(2));
    CHECK_MATCH(&r, "/docs/_x", TAG(2));
    CHECK_MATCH(&r, "/docsx", NULL);
    CHECK_MATCH(&r, "/docs", NULL);            /* not below "/docs/" */

    router_free(&r);
    CHECK_EQ_INT(a.live, 0);

    /* "/" as a prefix takes every path */
    router_init(&r, counting_allocator(&a));
    CHECK_EQ_INT(add(&r, "/", MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(3)), MOTE_OK);
    CHECK_MATCH(&r, "/", TAG(3));
    CHECK_MATCH(&r, "/a", TAG(3));
    CHECK_MATCH(&r, "/a/b/c", TAG(3));
    CHECK_MATCH(&r, "//", TAG(3));
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
}

static void test_exact(void)
{
    counting a;
    router r;
    router_init(&r, counting_allocator(&a));
    CHECK_EQ_INT(add(&r, "/a", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(1)), MOTE_OK);
    CHECK_EQ_INT(add(&r, "/b/", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(2)), MOTE_OK);
    CHECK_EQ_INT(add(&r, "/", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(3)), MOTE_OK);

    CHECK_MATCH(&r, "/a", TAG(1));
    CHECK_MATCH(&r, "/a/", NULL);
    CHECK_MATCH(&r, "/a/x", NULL);
    CHECK_MATCH(&r, "/ab", NULL);
    CHECK_MATCH(&r, "/A", NULL);
    CHECK_MATCH(&r, "/b/", TAG(2));
    CHECK_MATCH(&r, "/b", NULL);
    CHECK_MATCH(&r, "/b/x", NULL);
    CHECK_MATCH(&r, "/", TAG(3));
    CHECK_MATCH(&r, "/x", NULL);
    CHECK_MATCH(&r, "", NULL);

    /* the length given is the path: bytes after it (a query, say) take no part */
    {
        const char *buf = "/a?x=1";
        const route *rt = router_match(&r, buf, 2);
        CHECK(rt && rt->user_data == TAG(1));
        rt = router_match(&r, "/b/zzz", 3);
        CHECK(rt && rt->user_data == TAG(2));
        rt = router_match(&r, "/ab", 2);
        CHECK(rt && rt->user_data == TAG(1));
    }
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
}

/* ---- longest match whatever the registration order -------------------------------------- */

typedef struct reg {
    const char *path;
    unsigned flags;
} reg;

static const reg nested[] = {
    {"/", MOTE_ROUTE_PREFIX},
    {"/a", MOTE_ROUTE_PREFIX},
    {"/a/b", MOTE_ROUTE_PREFIX},
    {"/a/b/c", MOTE_ROUTE_PREFIX},
    {"/a/b", MOTE_ROUTE_EXACT},
    {"/ab/", MOTE_ROUTE_PREFIX},
};
#define NESTED_N (sizeof nested / sizeof nested[0])

/* What each probe must match, as an index into nested[]. */
static const struct {
    const char *path;
    int want;
} probes[] = {
    {"/", 0},          {"/x", 0},        {"/a", 1},         {"/a/", 1},
    {"/a/x", 1},       {"/a/bc", 1},     {"/a/b", 4},       {"/a/b/", 2},
    {"/a/b/x", 2},     {"/a/b/cd", 2},   {"/a/b/c", 3},     {"/a/b/c/", 3},
    {"/a/b/c/d/e", 3}, {"/ab", 0},       {"/ab/", 5},       {"/ab/q", 5},
    {"/abc", 0},       {"/b/a/b/c", 0},
};

static int permutation_failures;

static void check_order(const size_t *order)
{
    counting a;
    router r;
    size_t i;
    router_init(&r, counting_allocator(&a));
    for (i = 0; i < NESTED_N; i++) {
        size_t k = order[i];
        int rc = add(&r, nested[k].path, nested[k].flags, NULL, handler_a, TAG(k));
        if (rc != MOTE_OK) permutation_failures++;
    }
    for (i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (match_tag(&r, probes[i].path) != TAG(probes[i].want)) {
            if (permutation_failures < 10) {
                size_t j;
                fprintf(stderr, "order");
                for (j = 0; j < NESTED_N; j++) fprintf(stderr, " %s(%u)", nested[order[j]].path,
                                                       nested[order[j]].flags);
                fprintf(stderr, ": \"%s\" matched the wrong route\n", probes[i].path);
            }
            permutation_failures++;
        }
    }
    router_free(&r);
    if (a.live != 0) permutation_failures++;
}

/* Heap's algorithm over every order of nested[]. */
static size_t permute(size_t *order, size_t k)
{
    size_t i, n = 0;
    if (k == 1) {
        check_order(order);
        return 1;
    }
    for (i = 0; i < k; i++) {
        size_t t, j = (k % 2 == 0) ? i : 0;
        n += permute(order, k - 1);
        if (i + 1 < k) {
            t = order[j];
            order[j] = order[k - 1];
            order[k - 1] = t;
        }
    }
    return n;
}

static void test_longest_match_any_order(void)
{
    size_t order[NESTED_N], i, n;
    for (i = 0; i < NESTED_N; i++) order[i] = i;
    permutation_failures = 0;
    n = permute(order, NESTED_N);
    CHECK_EQ_INT(n, 720); /* 6! orders tried */
    CHECK_EQ_INT(permutation_failures, 0);
}

/* Many routes (the table grows several times), registered in a scrambled order. */
static void test_many_routes(void)
{
    counting a;
    router r;
    char path[32];
    unsigned i, bad = 0;
    router_init(&r, counting_allocator(&a));
    for (i = 0; i < 200; i++) {
        unsigned k = (i * 37u) % 200u; /* 37 is prime to 200: a permutation */
        snprintf(path, sizeof path, "/r%u", k);
        if (add(&r, path, k % 2 ? MOTE_ROUTE_PREFIX : MOTE_ROUTE_EXACT, NULL, handler_a,
                       (void *)(uintptr_t)(k + 1)) != MOTE_OK)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(r.count, 200);
    for (i = 0; i < 200; i++) {
        const route *rt;
        snprintf(path, sizeof path, "/r%u", i);
        rt = match(&r, path);
        if (!rt || rt->user_data != (void *)(uintptr_t)(i + 1)) bad++;
        snprintf(path, sizeof path, "/r%u/sub", i);
        rt = match(&r, path);
        if (i % 2) {
            if (!rt || rt->user_data != (void *)(uintptr_t)(i + 1)) bad++;
        } else if (rt) {
            bad++; /* exact routes take nothing below them */
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* "/r1" (prefix) must not take "/r10" nor "/r1x" */
    CHECK(match(&r, "/r10") && match(&r, "/r10")->user_data == (void *)(uintptr_t)11);
    CHECK(match(&r, "/r1x") == NULL);
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
    CHECK(a.calls > 200); /* the paths, and the table grown more than once */
}

/* ---- exact and prefix of the same path -------------------------------------------------- */

static void test_exact_and_prefix_same_path(void)
{
    int order;
    for (order = 0; order < 2; order++) {
        counting a;
        router r;
        router_init(&r, counting_allocator(&a));
        if (order == 0) {
            CHECK_EQ_INT(add(&r, "/s", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(1)), MOTE_OK);
            CHECK_EQ_INT(add(&r, "/s", MOTE_ROUTE_PREFIX, NULL, handler_b, TAG(2)), MOTE_OK);
        } else {
            CHECK_EQ_INT(add(&r, "/s", MOTE_ROUTE_PREFIX, NULL, handler_b, TAG(2)), MOTE_OK);
            CHECK_EQ_INT(add(&r, "/s", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(1)), MOTE_OK);
        }
        CHECK_MATCH(&r, "/s", TAG(1));
        CHECK(match(&r, "/s") && match(&r, "/s")->handler == handler_a);
        CHECK_MATCH(&r, "/s/", TAG(2));
        CHECK_MATCH(&r, "/s/t", TAG(2));
        CHECK(match(&r, "/s/t") && match(&r, "/s/t")->handler == handler_b);
        CHECK_MATCH(&r, "/st", NULL);
        router_free(&r);
        CHECK_EQ_INT(a.live, 0);
    }
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_errors(void)
{
    counting a;
    router r;
    router_init(&r, counting_allocator(&a));
    CHECK_EQ_INT(add(&r, "/d", MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(1)), MOTE_OK);
    CHECK_EQ_INT(add(&r, "/d", MOTE_ROUTE_PREFIX, NULL, handler_b, TAG(2)), MOTE_EEXIST);
    CHECK_EQ_INT(add(&r, "/e", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(3)), MOTE_OK);
    CHECK_EQ_INT(add(&r, "/e", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(3)), MOTE_EEXIST);
    CHECK_EQ_INT(add(&r, "/", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(4)), MOTE_OK);
    CHECK_EQ_INT(add(&r, "/", MOTE_ROUTE_EXACT, NULL, handler_b, TAG(5)), MOTE_EEXIST);
    /* a duplicate changes nothing: the first registration still answers */
    CHECK_MATCH(&r, "/d/x", TAG(1));
    CHECK_MATCH(&r, "/e", TAG(3));
    CHECK_MATCH(&r, "/", TAG(4));
    CHECK_EQ_INT(r.count, 3);

    CHECK_EQ_INT(add(&r, NULL, MOTE_ROUTE_EXACT, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "", MOTE_ROUTE_EXACT, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "x", MOTE_ROUTE_EXACT, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "", MOTE_ROUTE_PREFIX, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "x/", MOTE_ROUTE_PREFIX, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "/ok", MOTE_ROUTE_EXACT, NULL, NULL, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, "/ok", 4u, NULL, handler_a, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(r.count, 3);
    CHECK_MATCH(&r, "x", NULL);
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
}

/* ---- the default route ------------------------------------------------------------------ */

static void test_default(void)
{
    counting a;
    router r;
    const route *rt;
    router_init(&r, counting_allocator(&a));
    CHECK(match(&r, "/") == NULL); /* empty table, no default */
    CHECK_EQ_INT(add(&r, "/a", MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(1)), MOTE_OK);
    CHECK(match(&r, "/b") == NULL);
    CHECK(match(&r, "/ab") == NULL);

    CHECK_EQ_INT(add(&r, "/x", MOTE_ROUTE_DEFAULT, NULL, handler_b, TAG(9)), MOTE_EINVAL);
    CHECK_EQ_INT(add(&r, NULL, MOTE_ROUTE_DEFAULT, NULL, handler_b, TAG(9)), MOTE_OK);
    CHECK_EQ_INT(add(&r, NULL, MOTE_ROUTE_DEFAULT, NULL, handler_a, TAG(8)), MOTE_EEXIST);
    rt = match(&r, "/b");
    CHECK(rt && rt->handler == handler_b && rt->user_data == TAG(9));
    CHECK_MATCH(&r, "/ab", TAG(9));
    CHECK_MATCH(&r, "*", TAG(9));
    CHECK_MATCH(&r, "/a/z", TAG(1)); /* a route still wins over the default */
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
}

/* ---- allocation ------------------------------------------------------------------------- */

static void test_free_all(void)
{
    counting a;
    router r;
    char path[32];
    int i;
    /* nothing registered: freeing allocates and leaks nothing */
    router_init(&r, counting_allocator(&a));
    router_free(&r);
    CHECK_EQ_INT(a.calls, 0);
    CHECK_EQ_INT(a.live, 0);

    router_init(&r, counting_allocator(&a));
    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof path, "/free/%d", i);
        CHECK_EQ_INT(add(&r, path, (unsigned)(i & 1), NULL, handler_a, NULL), MOTE_OK);
    }
    CHECK(a.live > 50); /* 50 paths and a table */
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
    CHECK_EQ_INT(r.count, 0);
    /* the router is reusable after router_free */
    CHECK_EQ_INT(add(&r, "/again", MOTE_ROUTE_EXACT, NULL, handler_a, TAG(1)), MOTE_OK);
    CHECK_MATCH(&r, "/again", TAG(1));
    router_free(&r);
    CHECK_EQ_INT(a.live, 0);
}

/* Every allocation call in turn fails once: router_add says MOTE_ENOMEM, and the routes
 * already there still match, the failed one does not, and a retry succeeds. */
static void test_alloc_failure(void)
{
    size_t n;
    int saw_enomem = 0, bad = 0;
    for (n = 1; n <= 40; n++) {
        counting a;
        router r;
        char path[32];
        int i, failed_at = -1;
        router_init(&r, counting_allocator(&a));
        a.fail_at = n;
        for (i = 0; i < 20; i++) {
            int rc;
            snprintf(path, sizeof path, "/n%d", i);
            rc = add(&r, path, MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(i));
            if (rc == MOTE_ENOMEM) {
                if (failed_at >= 0) bad++; /* only one call fails */
                failed_at = i;
                saw_enomem = 1;
                if (r.count != (size_t)i) bad++;
                /* the table is as before the call */
                {
                    int j;
                    for (j = 0; j < i; j++) {
                        char p2[32];
                        snprintf(p2, sizeof p2, "/n%d/x", j);
                        if (match_tag(&r, p2) != TAG(j)) bad++;
                    }
                    snprintf(path, sizeof path, "/n%d", i);
                    if (match(&r, path) != NULL) bad++;
                }
                /* and the same call now succeeds */
                rc = add(&r, path, MOTE_ROUTE_PREFIX, NULL, handler_a, TAG(i));
            }
            if (rc != MOTE_OK) bad++;
        }
        if (a.failed != 0 && failed_at < 0) bad++; /* a failed allocation went unreported */
        for (i = 0; i < 20; i++) {
            snprintf(path, sizeof path, "/n%d", i);
            if (match_tag(&r, path) != TAG(i)) bad++;
        }
        if (r.count != 20) bad++;
        router_free(&r);
        if (a.live != 0) {
            fprintf(stderr, "fail_at %zu: %zu blocks leaked\n", n, a.live);
            bad++;
        }
    }
    CHECK(saw_enomem);
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    test_prefix_segments();
    test_exact();
    test_longest_match_any_order();
    test_many_routes();
    test_exact_and_prefix_same_path();
    test_errors();
    test_default();
    test_free_all();
    test_alloc_failure();
    return check_report("test_router");
}
