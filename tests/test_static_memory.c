/* test_static_memory.c - static-memory mode as firmware uses it: the two-file mote.c + mote.h
 * compiled with a device's configuration (static_config.h), the server given one static array
 * of MOTE_ARENA_SIZE bytes. Every byte comes from that array, taken at creation; serving (many
 * requests on every connection, bodies kept and refused, streamed replies, connections past
 * the limit, timers) allocates nothing, counted over the whole process through malloc itself
 * where no sanitizer owns malloc. */
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

/* ---- every malloc of the process, counted once armed ------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_MALLOC 0
#endif
#endif
#ifndef COUNT_MALLOC
#define COUNT_MALLOC 1
#endif

static atomic_int counting;
static atomic_long counted;

#if COUNT_MALLOC
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

static void count_one(void)
{
    if (atomic_load(&counting)) atomic_fetch_add(&counted, 1);
}

void *malloc(size_t size)
{
    count_one();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_one();
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    count_one();
    return __libc_realloc(ptr, size);
}
#endif

/* ---- the server ---------------------------------------------------------------------------- */

static char arena[MOTE_ARENA_SIZE];

static void h_page(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/plain", "static\n");
}

static void h_echo(mote_request *req, mote_response *res, void *user)
{
    mote_str body = mote_request_body(req);
    (void)user;
    mote_response_send(res, body.ptr, body.len);
}

static void h_stream(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    int rc = mote_response_write(res, "streamed ", 9);
    if (rc == MOTE_OK) rc = mote_response_write(res, "reply\n", 6);
    if (rc == MOTE_OK) mote_response_end(res);
}

static void tick(mote_server *srv, void *arg)
{
    (void)srv;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void *loop_thread(void *arg)
{
    (void)mote_server_run(arg);
    return NULL;
}

/* ---- a client ------------------------------------------------------------------------------- */

/* Sends `request` and reads until `want` (a substring of the reply) has arrived, or the
 * connection ends; returns whether it arrived. The reply goes to buf. */
static int ask(int fd, const char *request, size_t request_len, const char *want, char *buf,
               size_t size)
{
    size_t len = 0;
    if (send(fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) return 0;
    buf[0] = '\0';
    while (!strstr(buf, want) && len + 1 < size) {
        ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
        if (n <= 0) return 0;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return strstr(buf, want) != NULL;
}

/* Whether the server ends the connection (reads until it does, or until a timeout). */
static int read_to_end(int fd)
{
    char buf[512];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) continue;
    return n == 0;
}

static int ask_str(int fd, const char *request, const char *want)
{
    static char buf[8192];
    return ask(fd, request, strlen(request), want, buf, sizeof buf);
}

/* ---- the test ------------------------------------------------------------------------------- */

static void test_arena_too_small(void)
{
    mote_config cfg;
    mote_server *srv = NULL;
    mote_config_init(&cfg);
    cfg.arena = arena;
    cfg.arena_size = MOTE_ARENA_SIZE / 4;
    CHECK_EQ_INT(mote_server_create(&srv, &cfg), MOTE_ENOMEM);
    CHECK(srv == NULL);
    cfg.arena_size = 0;
    CHECK_EQ_INT(mote_server_create(&srv, &cfg), MOTE_EINVAL);
}

static void serve_everything(int port, atomic_int *ticks)
{
    static char big[4096];
    char head[256];
    int fds[MOTE_CONFIG_MAX_CONNECTIONS], extra, i, round, last = MOTE_CONFIG_MAX_CONNECTIONS - 1;
    (void)ticks;

    for (i = 0; i < MOTE_CONFIG_MAX_CONNECTIONS; i++) {
        fds[i] = loopback_dial(port, 10);
        CHECK(fds[i] >= 0);
    }
    for (round = 0; round < 50; round++) {
        for (i = 0; i < MOTE_CONFIG_MAX_CONNECTIONS; i++) {
            CHECK(ask_str(fds[i], "GET /page HTTP/1.1\r\nHost: t\r\n\r\n"
                                  "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
                                  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
                                  "hello arena",
                          "hello arena"));
        }
    }
    /* past the connection limit: 503, and the others are still served */
    extra = loopback_dial(port, 10);
    CHECK(extra >= 0);
    CHECK(ask_str(extra, "GET /page HTTP/1.1\r\nHost: t\r\n\r\n", "503 Service Unavailable"));
    close(extra);
    for (i = 0; i < MOTE_CONFIG_MAX_CONNECTIONS; i++)
        CHECK(ask_str(fds[i], "GET /page HTTP/1.1\r\nHost: t\r\n\r\n", "static\n"));
    /* a body the connection's buffer cannot hold: 413, and that connection closes (the last
     * two connections end this way; a closed one keeps its slot while it lingers, so no new
     * connection is dialled in their place) */
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
             60000);
    CHECK(ask_str(fds[last], head, "413 Content Too Large"));
    /* chunked: kept in place while it fits, then 413 */
    memset(big, 'x', sizeof big);
    CHECK(ask_str(fds[last - 1], "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nsmall\r\n0\r\n\r\n",
                  "small"));
    {
        static char req[3 * sizeof big + 256];
        size_t n = (size_t)snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\n"
                                                     "Transfer-Encoding: chunked\r\n\r\n");
        static char reply[4096];
        for (i = 0; i < 3; i++) {
            n += (size_t)snprintf(req + n, sizeof req - n, "%zx\r\n", sizeof big);
            memcpy(req + n, big, sizeof big);
            n += sizeof big;
            memcpy(req + n, "\r\n", 2);
            n += 2;
        }
        CHECK(ask(fds[last - 1], req, n, "413 Content Too Large", reply, sizeof reply));
    }
    /* the others go on */
    for (i = 0; i < last - 1; i++)
        CHECK(ask_str(fds[i], "GET /page HTTP/1.1\r\nHost: t\r\n\r\n", "static\n"));
    for (i = 0; i < MOTE_CONFIG_MAX_CONNECTIONS; i++) close(fds[i]);
}

int main(void)
{
    static atomic_int ticks;
    mote_config cfg;
    mote_server *srv;
    mote_tls_config tls = {0};
    pthread_t thread;
    int port, i, warm;

    test_arena_too_small();

    mote_config_init(&cfg);
    CHECK_EQ_INT(cfg.max_connections, MOTE_CONFIG_MAX_CONNECTIONS); /* the device's config */
    cfg.arena = arena;
    cfg.arena_size = sizeof arena;
    CHECK_EQ_INT(mote_server_create(&srv, &cfg), MOTE_OK);
    CHECK(mote_route(srv, &(mote_route_def){.path = "/page", .handler = h_page}) == MOTE_OK);
    CHECK(mote_route(srv, &(mote_route_def){.path = "/stream", .handler = h_stream}) == MOTE_OK);
    CHECK(mote_route(srv, &(mote_route_def){.path = "/echo", .handler = h_echo,
                                            .body = MOTE_BODY_COLLECT}) == MOTE_OK);
    port = mote_listener_port(srv, mote_listen(srv, "127.0.0.1", 0));
    CHECK(port > 0);
    tls.cert_pem = tls.key_pem = "unused";
    CHECK_EQ_INT(mote_listen_tls(srv, "127.0.0.1", 0, &tls), MOTE_ENOTSUP);
    for (i = 0; i < MOTE_CONFIG_MAX_TIMERS; i++) CHECK(mote_timer_start(srv, 1, 1, tick, &ticks) >= 0);
    CHECK_EQ_INT(mote_timer_start(srv, 1, 1, tick, &ticks), MOTE_ELIMIT);
    CHECK(pthread_create(&thread, NULL, loop_thread, srv) == 0);

    /* warm-up: the thread and the C library's own first-use buffers. The server closes this
     * connection (the client asked it to) and so frees its slot before the dials below. */
    warm = loopback_dial(port, 10);
    CHECK(warm >= 0 && ask_str(warm, "GET /page HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                               "static\n"));
    CHECK(read_to_end(warm));
    close(warm);

    atomic_store(&counting, 1);
    serve_everything(port, &ticks);
    atomic_store(&counting, 0);
    if (COUNT_MALLOC)
        CHECK_MSG(atomic_load(&counted) == 0, "%ld allocations while serving",
                  atomic_load(&counted));
    else
        printf("(malloc belongs to the sanitizer here: allocations not counted)\n");
    CHECK(atomic_load(&ticks) > 0);

    mote_server_stop(srv);
    CHECK(pthread_join(thread, NULL) == 0);
    mote_server_destroy(srv);
    printf("static memory: a %zu-byte arena for %d connections; serving allocated %ld times\n",
           sizeof arena, MOTE_CONFIG_MAX_CONNECTIONS, atomic_load(&counted));
    return check_report("test_static_memory");
}
