/* test_server.c - the server in-process, over loopback: mote_post() from other threads,
 * application timers, a deferred response finished from another thread (and one whose client
 * left first), two servers in one process, and workers. Every wait is on an event (a socket
 * read, a condition, a thread's end). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "mote.h"

/* ---- a blocking client ------------------------------------------------------------------ */

/* Sends a request with Connection: close and returns the whole reply (malloc'd), or NULL. */
static char *fetch(int port, const char *method, const char *target)
{
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};
    char req[256], *reply = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method, target);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, req, strlen(req), 0) == (ssize_t)strlen(req)) {
        for (;;) {
            ssize_t n;
            if (len + 4097 > cap) {
                char *bigger = realloc(reply, cap = cap ? cap * 2 : 8192);
                if (!bigger) break;
                reply = bigger;
            }
            n = recv(fd, reply + len, cap - len - 1, 0);
            if (n <= 0) break;
            len += (size_t)n;
        }
    }
    close(fd);
    if (reply) reply[len] = '\0';
    return reply;
}

/* Whether 16 connection attempts (from 16 source ports) are all refused: nothing listens. */
static int fetch_refused(int port)
{
    struct sockaddr_in sa;
    int i, refused = 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < 16; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) continue;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == ECONNREFUSED) refused++;
        close(fd);
    }
    return refused == 16;
}

static int body_is(const char *reply, const char *body)
{
    const char *p = reply ? strstr(reply, "\r\n\r\n") : NULL;
    return p && strcmp(p + 4, body) == 0;
}

/* ---- a server on its own thread -------------------------------------------------------- */

typedef struct running {
    mote_server *srv;
    pthread_t thread;
    int port;
    int rc;
} running;

static void *loop_thread(void *arg)
{
    running *r = arg;
    r->rc = mote_server_run(r->srv);
    return NULL;
}

static int start(running *r, mote_config *cfg)
{
    int l;
    memset(r, 0, sizeof *r);
    if (mote_server_create(&r->srv, cfg) < 0) return -1;
    l = mote_listen(r->srv, "127.0.0.1", 0);
    if (l < 0) return -1;
    r->port = mote_listener_port(r->srv, l);
    return 0;
}

static void run(running *r)
{
    pthread_create(&r->thread, NULL, loop_thread, r);
}

static void finish(running *r)
{
    mote_server_stop(r->srv); /* from another thread: allowed */
    pthread_join(r->thread, NULL);
    CHECK_EQ_INT(r->rc, 0);
    mote_server_destroy(r->srv);
}

/* ---- a deferred response finished from another thread ------------------------------------ */

/* The handler defers its response and hands its handle (mote_response_handle()) to a worker
 * thread, which posts the rest of the response back to the loop (mote_response_post()). If the
 * client has gone by then, the task gets no response, and the request's release told of it. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready;               /* the handler ran and took the handle */
    mote_handle handle;
    int disconnect;          /* the worker waits for the release before it posts */
    int released, completed; /* the request's release: how often, and what it said */
    int finished, gone_seen; /* the posted task ran, with a response or without */
    int post_rc;
} handoff;

static void signal_locked(handoff *h)
{
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void release_handoff(void *user, int completed)
{
    handoff *h = user;
    pthread_mutex_lock(&h->lock);
    h->released++;
    h->completed = completed;
    signal_locked(h);
}

static void finish_from_loop(mote_response *res, void *arg)
{
    handoff *h = arg;
    if (res) {
        CHECK_EQ_INT(mote_response_write(res, "posted ", 7), MOTE_OK);
        CHECK_EQ_INT(mote_response_write(res, "from a thread\n", 14), MOTE_OK);
        CHECK_EQ_INT(mote_response_end(res), MOTE_OK);
    }
    pthread_mutex_lock(&h->lock);
    if (res) h->finished = 1;
    else h->gone_seen = 1;
    signal_locked(h);
}

static void deferred_handler(mote_request *req, mote_response *res, void *user)
{
    handoff *h = user;
    mote_request_set_user(req, h, release_handoff);
    mote_response_defer(res, NULL);
    pthread_mutex_lock(&h->lock);
    h->handle = mote_response_handle(res);
    h->ready = 1;
    signal_locked(h);
}

static void *worker(void *arg)
{
    handoff *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->ready || (h->disconnect && !h->released)) pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    h->post_rc = mote_response_post(h->handle, finish_from_loop, h);
    return NULL;
}

static void handoff_init(handoff *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
}

static void handoff_free(handoff *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
}

static void test_post_finishes_deferred_response(void)
{
    running r;
    handoff h;
    pthread_t w;
    char *reply;
    handoff_init(&h);
    CHECK(start(&r, NULL) == 0);
    mote_route(r.srv, &(mote_route_def){.path = "/slow", .handler = deferred_handler, .user = &h});
    run(&r);
    pthread_create(&w, NULL, worker, &h);
    reply = fetch(r.port, "GET", "/slow");
    pthread_join(w, NULL);
    CHECK_EQ_INT(h.post_rc, MOTE_OK);
    CHECK_MSG(reply && strstr(reply, "Transfer-Encoding: chunked"), "%s", reply ? reply : "(none)");
    CHECK_MSG(reply && strstr(reply, "7\r\nposted \r\ne\r\nfrom a thread\n\r\n0\r\n\r\n"), "%s",
              reply ? reply : "(none)");
    free(reply);
    finish(&r);
    CHECK_EQ_INT(h.finished, 1);
    CHECK_EQ_INT(h.released, 1);   /* once, after the response went, before the close */
    CHECK_EQ_INT(h.completed, 1);
    handoff_free(&h);
}

/* The client goes away (a reset) before the worker posts: the release says the request was cut
 * off, and the posted task runs without a response, its argument still its to free. (A client
 * that only half-closes still gets its response: the server cannot tell it from one that has
 * gone until a write fails.) */
static void test_post_to_gone_response(void)
{
    struct sockaddr_in sa;
    running r;
    handoff h;
    pthread_t w;
    const char req[] = "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd;
    handoff_init(&h);
    h.disconnect = 1;
    CHECK(start(&r, NULL) == 0);
    mote_route(r.srv, &(mote_route_def){.path = "/slow", .handler = deferred_handler, .user = &h});
    run(&r);
    pthread_create(&w, NULL, worker, &h);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)r.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(send(fd, req, sizeof req - 1, 0) == (ssize_t)(sizeof req - 1));
    pthread_mutex_lock(&h.lock);
    while (!h.ready) pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    {
        struct linger reset = {1, 0};
        CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    }
    close(fd);
    pthread_join(w, NULL);
    CHECK_EQ_INT(h.post_rc, MOTE_OK);
    pthread_mutex_lock(&h.lock);
    while (!h.gone_seen && !h.finished) pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    CHECK_EQ_INT(h.gone_seen, 1);
    CHECK_EQ_INT(h.finished, 0);
    CHECK_EQ_INT(h.released, 1);
    CHECK_EQ_INT(h.completed, 0);
    finish(&r);
    handoff_free(&h);
}

/* ---- many threads posting at once ------------------------------------------------------- */

#define POSTERS 4
#define POSTS_EACH 2000

typedef struct tally {
    mote_server *srv;
    unsigned long count;                  /* touched only on the loop thread */
    unsigned long last[POSTERS];          /* per poster: order is kept */
    int out_of_order;
} tally;

typedef struct post_arg {
    tally *t;
    int poster;
    unsigned long seq;
} post_arg;

static post_arg args[POSTERS][POSTS_EACH];
static int poster_failures[POSTERS]; /* each written by its own thread only */

static void count_task(mote_server *srv, void *arg)
{
    post_arg *a = arg;
    tally *t = a->t;
    (void)srv;
    if (a->seq != t->last[a->poster] + 1) t->out_of_order++;
    t->last[a->poster] = a->seq;
    if (++t->count == POSTERS * POSTS_EACH) mote_server_stop(srv);
}

/* A full queue is back-pressure: the poster yields to the loop and tries again, a bounded
 * number of times for each post. It yields rather than spins: under valgrind one thread runs
 * at a time, and spinning posters used up a budget shared by all their posts before the loop
 * had drained the queue. */
#define TRIES_PER_POST 1000000ul

static void *poster(void *arg)
{
    post_arg *mine = arg;
    unsigned long i;
    for (i = 0; i < POSTS_EACH; i++) {
        unsigned long tries = 1;
        int rc;
        while ((rc = mote_post(mine[i].t->srv, count_task, &mine[i])) == MOTE_EAGAIN &&
               tries++ < TRIES_PER_POST)
            sched_yield();
        if (rc != MOTE_OK) poster_failures[mine[i].poster]++;
    }
    return NULL;
}

static void test_many_posters(void)
{
    mote_config cfg;
    running r;
    tally t;
    pthread_t threads[POSTERS];
    int p;
    unsigned long i;
    mote_config_init(&cfg);
    cfg.max_posts = 16; /* small, so that posters meet a full queue */
    memset(&t, 0, sizeof t);
    CHECK(start(&r, &cfg) == 0);
    t.srv = r.srv;
    for (p = 0; p < POSTERS; p++) {
        for (i = 0; i < POSTS_EACH; i++) {
            args[p][i].t = &t;
            args[p][i].poster = p;
            args[p][i].seq = i + 1;
        }
    }
    run(&r);
    for (p = 0; p < POSTERS; p++) pthread_create(&threads[p], NULL, poster, args[p]);
    for (p = 0; p < POSTERS; p++) {
        pthread_join(threads[p], NULL);
        CHECK_EQ_INT(poster_failures[p], 0);
        /* a post that failed leaves the count short of the stopping task's: stop it here, so
         * that the failure is reported rather than waited on */
        if (poster_failures[p]) mote_server_stop(r.srv);
    }
    pthread_join(r.thread, NULL); /* the last task stops the server */
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(t.count, POSTERS * POSTS_EACH);
    CHECK_EQ_INT(t.out_of_order, 0);
    CHECK_EQ_INT(mote_post(r.srv, count_task, &args[0][0]), MOTE_ESTATE);
    mote_server_destroy(r.srv);
}

/* ---- application timers ------------------------------------------------------------------- */

typedef struct timers {
    int repeating, once, cancelled_fired;
    int repeating_id, cancelled_id;
} timers;

static void repeating(mote_server *srv, void *arg)
{
    timers *t = arg;
    if (++t->repeating == 3) {
        CHECK_EQ_INT(mote_timer_stop(srv, t->repeating_id), MOTE_OK); /* from inside itself */
        mote_server_stop(srv);
    }
}

static void once(mote_server *srv, void *arg)
{
    timers *t = arg;
    (void)srv;
    t->once++;
}

static void never(mote_server *srv, void *arg)
{
    timers *t = arg;
    (void)srv;
    t->cancelled_fired++;
}

static void test_timers(void)
{
    mote_server *srv;
    timers t;
    int rc;
    memset(&t, 0, sizeof t);
    CHECK_EQ_INT(mote_server_create(&srv, NULL), MOTE_OK);
    t.repeating_id = mote_timer_start(srv, 5, 5, repeating, &t);
    CHECK(t.repeating_id >= 0);
    CHECK(mote_timer_start(srv, 1, 0, once, &t) >= 0);
    t.cancelled_id = mote_timer_start(srv, 2, 0, never, &t);
    CHECK_EQ_INT(mote_timer_stop(srv, t.cancelled_id), MOTE_OK);
    CHECK_EQ_INT(mote_timer_stop(srv, t.cancelled_id), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_timer_stop(srv, 999), MOTE_ENOTFOUND);
    CHECK(mote_server_timeout_ms(srv) >= 0 && mote_server_timeout_ms(srv) <= 5);
    rc = mote_server_run(srv);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(t.repeating, 3);
    CHECK_EQ_INT(t.once, 1);
    CHECK_EQ_INT(t.cancelled_fired, 0);
    mote_server_destroy(srv);
}

/* ---- two servers in one process ----------------------------------------------------------- */

static void say(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    mote_respond(res, 200, "text/plain", user);
}

static void test_two_servers(void)
{
    running a, b;
    char *ra, *rb;
    CHECK(start(&a, NULL) == 0);
    CHECK(start(&b, NULL) == 0);
    mote_route(a.srv, &(mote_route_def){.path = "/", .match = MOTE_ROUTE_PREFIX, .handler = say,
                                        .user = "server a\n"});
    mote_route(b.srv, &(mote_route_def){.path = "/", .match = MOTE_ROUTE_PREFIX, .handler = say,
                                        .user = "server b\n"});
    run(&a);
    run(&b);
    ra = fetch(a.port, "GET", "/x");
    rb = fetch(b.port, "GET", "/x");
    CHECK(body_is(ra, "server a\n"));
    CHECK(body_is(rb, "server b\n"));
    free(ra);
    free(rb);
    finish(&a);
    ra = fetch(b.port, "GET", "/y"); /* b is unaffected by a's end */
    CHECK(body_is(ra, "server b\n"));
    free(ra);
    finish(&b);
}

/* A build without TLS (-DMOTE_TLS=none) refuses HTTPS listeners, and says so. */
static void test_no_tls_build(void)
{
#if !MOTE_CONFIG_TLS
    mote_server *srv;
    mote_tls_config tls;
    memset(&tls, 0, sizeof tls);
    tls.cert_pem = "-----BEGIN CERTIFICATE-----\n";
    tls.key_pem = "-----BEGIN PRIVATE KEY-----\n";
    CHECK(mote_server_create(&srv, NULL) == MOTE_OK);
    CHECK_EQ_INT(mote_listen_tls(srv, "127.0.0.1", 0, &tls), MOTE_ENOTSUP);
    CHECK(mote_listen(srv, "127.0.0.1", 0) >= 0); /* plain HTTP still works */
    mote_server_destroy(srv);
#endif
}

/* ---- workers ------------------------------------------------------------------------------- */

typedef struct seen_threads {
    pthread_mutex_t lock;
    pthread_t ids[8];
    int count;
} seen_threads;

static void h_which_thread(mote_request *req, mote_response *res, void *user)
{
    seen_threads *t = user;
    pthread_t self = pthread_self();
    int i;
    (void)req;
    pthread_mutex_lock(&t->lock);
    for (i = 0; i < t->count && !pthread_equal(t->ids[i], self); i++) {
    }
    if (i == t->count && t->count < 8) t->ids[t->count++] = self;
    pthread_mutex_unlock(&t->lock);
    mote_respond(res, 200, "text/plain", "served\n");
}

/* Two workers share the port: connections from many source ports reach both (the kernel
 * hashes them; all 64 landing on one worker has odds of 2^-63), and a stop ends both. */
static void test_workers(void)
{
    seen_threads seen;
    mote_config cfg;
    running r;
    int i, served = 0, refused;

    memset(&seen, 0, sizeof seen);
    pthread_mutex_init(&seen.lock, NULL);
    mote_config_init(&cfg);
    cfg.workers = 2;
    memset(&r, 0, sizeof r);
    CHECK(mote_server_create(&r.srv, &cfg) == MOTE_OK);
    CHECK(mote_route(r.srv, &(mote_route_def){.path = "/", .match = MOTE_ROUTE_PREFIX,
                                              .handler = h_which_thread, .user = &seen}) == MOTE_OK);
    r.port = mote_listener_port(r.srv, mote_listen(r.srv, "127.0.0.1", 0));
    CHECK(r.port > 0);
    CHECK(mote_server_step(r.srv, 0) == MOTE_ESTATE);
    CHECK(pthread_create(&r.thread, NULL, loop_thread, &r) == 0);
    for (i = 0; i < 64; i++) {
        char *reply = fetch(r.port, "GET", "/");
        served += body_is(reply, "served\n");
        free(reply);
    }
    CHECK_EQ_INT(served, 64);
    CHECK_EQ_INT(seen.count, 2);

    mote_server_stop(r.srv);
    CHECK(pthread_join(r.thread, NULL) == 0);
    CHECK_EQ_INT(r.rc, 0);
    refused = fetch_refused(r.port);
    CHECK_MSG(refused, "a worker still listens on port %d after the stop", r.port);
    mote_server_destroy(r.srv);
    pthread_mutex_destroy(&seen.lock);
}

int main(void)
{
    test_post_finishes_deferred_response();
    test_post_to_gone_response();
    test_many_posters();
    test_timers();
    test_two_servers();
    test_no_tls_build();
    test_workers();
    return check_report("test_server");
}
