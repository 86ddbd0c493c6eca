/* test_steady_alloc.c - serving allocates nothing in steady state: 100,000 keep-alive requests
 * (pipelined, over several connections, one-shot and streamed responses) through the shell,
 * in-process over loopback, with every library allocation counted through mote_allocator. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"
#include "mote.h"

#define CONNECTIONS 8
#define REQUESTS 100000
#define WARM_UP 1000
#define BATCH 50 /* requests pipelined per write */

typedef struct counting {
    atomic_ulong allocs;
    atomic_ulong frees;
} counting;

static void *count_alloc(void *ctx, size_t size)
{
    counting *c = ctx;
    atomic_fetch_add(&c->allocs, 1);
    return malloc(size);
}

static void count_free(void *ctx, void *ptr)
{
    counting *c = ctx;
    if (ptr) atomic_fetch_add(&c->frees, 1);
    free(ptr);
}

static void h_page(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/html", "<html><body>It Works!</body></html>\n");
}

static void h_stream(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_response_header(res, "Content-Type", "text/plain");
    int rc = mote_response_write(res, "streamed ", 9);
    if (rc == MOTE_OK) rc = mote_response_write(res, "reply\n", 6);
    if (rc == MOTE_OK) mote_response_end(res);
}

static void *loop_thread(void *arg)
{
    (void)mote_server_run(arg);
    return NULL;
}

/* Responses are counted by their status lines; a status line split across reads is carried. */
static long count_status_lines(const char *buf, size_t len)
{
    static const char line[] = "HTTP/1.1 200 OK\r\n";
    long n = 0;
    size_t i;
    for (i = 0; i + sizeof line - 1 <= len; i++)
        if (memcmp(buf + i, line, sizeof line - 1) == 0) n++;
    return n;
}

/* Sends `count` requests on fd in pipelined batches, reading every reply; the number answered. */
static long serve_requests(int fd, long count)
{
    static const char page[] = "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char stream[] = "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n";
    char out[BATCH * sizeof page], in[65536 + 32]; /* page is the longer request */
    size_t carry = 0;
    long sent = 0, answered = 0;
    while (sent < count) {
        size_t len = 0;
        long batch = 0;
        for (; batch < BATCH && sent + batch < count; batch++) {
            const char *r = (sent + batch) % 5 == 4 ? stream : page; /* one in five streamed */
            size_t n = strlen(r);
            memcpy(out + len, r, n);
            len += n;
        }
        if (send(fd, out, len, MSG_NOSIGNAL) != (ssize_t)len) break;
        sent += batch;
        while (answered < sent) {
            ssize_t n = recv(fd, in + carry, sizeof in - carry, 0);
            size_t have;
            if (n <= 0) return answered;
            have = carry + (size_t)n;
            answered += count_status_lines(in, have);
            /* a status line (17 bytes) cut at the end is counted whole next time */
            carry = have < 16 ? have : 16;
            memmove(in, in + have - carry, carry);
        }
    }
    return answered;
}

int main(void)
{
    counting counts;
    mote_config cfg;
    mote_server *srv;
    pthread_t thread;
    int fds[CONNECTIONS], port, i;
    long answered = 0;
    unsigned long warm_allocs, warm_frees;

    atomic_init(&counts.allocs, 0);
    atomic_init(&counts.frees, 0);
    mote_config_init(&cfg);
    cfg.allocator.alloc = count_alloc;
    cfg.allocator.free = count_free;
    cfg.allocator.ctx = &counts;
    CHECK(mote_server_create(&srv, &cfg) == MOTE_OK);
    CHECK(mote_route(srv, &(mote_route_def){.path = "/index.html", .handler = h_page}) == MOTE_OK);
    CHECK(mote_route(srv, &(mote_route_def){.path = "/stream", .handler = h_stream}) == MOTE_OK);
    port = mote_listener_port(srv, mote_listen(srv, "127.0.0.1", 0));
    CHECK(port > 0);
    CHECK(pthread_create(&thread, NULL, loop_thread, srv) == 0);

    /* warm up: every connection has served, so its slot and a buffer block exist */
    for (i = 0; i < CONNECTIONS; i++) {
        fds[i] = loopback_dial(port, 10);
        CHECK(fds[i] >= 0);
        CHECK(serve_requests(fds[i], WARM_UP / CONNECTIONS) == WARM_UP / CONNECTIONS);
    }
    warm_allocs = atomic_load(&counts.allocs);
    warm_frees = atomic_load(&counts.frees);

    for (i = 0; i < CONNECTIONS; i++) answered += serve_requests(fds[i], REQUESTS / CONNECTIONS);
    CHECK_EQ_INT(answered, REQUESTS);
    CHECK_MSG(atomic_load(&counts.allocs) == warm_allocs && atomic_load(&counts.frees) == warm_frees,
              "%ld requests made %lu allocations and %lu frees", answered,
              atomic_load(&counts.allocs) - warm_allocs, atomic_load(&counts.frees) - warm_frees);
    printf("%ld keep-alive requests after warm-up: %lu allocations, %lu frees (start-up and "
           "warm-up: %lu allocations)\n",
           answered, atomic_load(&counts.allocs) - warm_allocs,
           atomic_load(&counts.frees) - warm_frees, warm_allocs);

    for (i = 0; i < CONNECTIONS; i++) close(fds[i]);
    mote_server_stop(srv);
    CHECK(pthread_join(thread, NULL) == 0);
    mote_server_destroy(srv);
    CHECK(atomic_load(&counts.allocs) == atomic_load(&counts.frees));
    return check_report("test_steady_alloc");
}
