/* test_faults.c - the I/O shell under injected faults, in-process over loopback.
 *
 * Socket faults: a scripted exchange (four requests in turn on one connection: a one-shot
 * page, a collected POST body echoed back, a file (sendfile(2) on plain TCP, through the output
 * buffer over TLS), a streamed 64 KiB reply with close) runs
 * once cleanly to count the socket calls the server makes for it. Then, for every step k of it
 * and every fault (EAGAIN, EINTR, a one-byte transfer, ECONNRESET, EPIPE), the server's k-th
 * socket call fails that way. The exchange must either complete byte for byte or stop short
 * with the connection closed, and a clean exchange on a new connection must complete after it.
 *
 * Allocation failures: start-up (server, routes, a plain and a TLS listener) and the first
 * exchange run with the n-th allocation failing, for every n until none fails. A failed start-up
 * call reports MOTE_ENOMEM (or its own error) and returns every byte; a failure while serving
 * closes that one connection, and the next is served.
 *
 * The TLS library's own allocations: every one that making the listener's context and serving
 * the first TLS exchange does fails in turn. The listener then fails with one error, or the
 * exchange is cut, and the next TLS exchange is served in full. OpenSSL's are reached through
 * CRYPTO_set_mem_functions. Debian's mbedTLS is built without MBEDTLS_PLATFORM_MEMORY (no
 * mbedtls_platform_set_calloc_free), so this program defines calloc itself, fails only calls
 * made from mbedTLS's code (by return address), and forwards the rest to glibc's; not in
 * sanitizer builds, whose allocators own calloc, and skipped (with a note) where valgrind's
 * takes it. Only the server's allocations count: the client here is mbedTLS too.
 *
 * Large bodies: a one-shot body of 1 MiB (far past the send buffer) and a file of the same
 * size arrive whole and exact, over plain TCP and TLS. */
#if defined(MOTE_FAULTS_CALLOC)
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <link.h>
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "check.h"
#include "loopback.h"
#include "mote.h"
#include "shell/posix/net.h"
#include "selfsigned.h"

#define STREAM_BYTES (64 * 1024)
#define REPLY_MAX (256 * 1024)
#define SERVING_ALLOCS 4 /* allocations failed while serving, after start-up's */
#define STEP_SLACK 4 /* steps past the clean count: faults that land on the next exchange */

/* ---- the fault-injecting socket calls ------------------------------------------------------ */

enum fault { F_NONE, F_EAGAIN, F_EINTR, F_SHORT, F_RESET, F_EPIPE, F_COUNT };
static const char *const fault_names[F_COUNT] = {"none", "EAGAIN", "EINTR", "short", "ECONNRESET",
                                                 "EPIPE"};

typedef struct faults {
    pthread_mutex_t lock;
    unsigned calls;    /* socket calls since the last reset */
    unsigned fail_at;  /* the call that fails (1-based), 0 for none */
    enum fault kind;
    int injected;
} faults;

/* The fault for this call, if it is the chosen one. */
static enum fault next_call(faults *f)
{
    enum fault k = F_NONE;
    pthread_mutex_lock(&f->lock);
    if (++f->calls == f->fail_at) {
        k = f->kind;
        f->injected = 1;
    }
    pthread_mutex_unlock(&f->lock);
    return k;
}

/* -1 with errno for the error faults; 0 when the call should go ahead (len maybe shortened). */
static int apply(enum fault k, size_t *len, int reset_errno)
{
    switch (k) {
    case F_EAGAIN: errno = EAGAIN; return -1;
    case F_EINTR: errno = EINTR; return -1;
    case F_RESET: errno = reset_errno; return -1;
    case F_EPIPE: errno = EPIPE; return -1;
    case F_SHORT: if (*len > 1) *len = 1; return 0;
    default: return 0;
    }
}

static long faulty_recv(void *ctx, int fd, void *buf, size_t len)
{
    if (apply(next_call(ctx), &len, ECONNRESET) < 0) return -1;
    return net_io_system.recv(NULL, fd, buf, len);
}

static long faulty_send(void *ctx, int fd, const void *buf, size_t len, int last)
{
    if (apply(next_call(ctx), &len, ECONNRESET) < 0) return -1;
    return net_io_system.send(NULL, fd, buf, len, last);
}

static long faulty_sendfile(void *ctx, int fd, int file_fd, uint64_t off, size_t len)
{
    if (apply(next_call(ctx), &len, ECONNRESET) < 0) return -1;
    return net_io_system.sendfile(NULL, fd, file_fd, off, len);
}

static int faulty_accept(void *ctx, int listen_fd, mote_addr *peer)
{
    size_t unused = 0;
    if (apply(next_call(ctx), &unused, ECONNABORTED) < 0) return -1;
    return net_io_system.accept(NULL, listen_fd, peer);
}

static void faults_arm(faults *f, unsigned fail_at, enum fault kind)
{
    pthread_mutex_lock(&f->lock);
    f->calls = 0;
    f->fail_at = fail_at;
    f->kind = kind;
    f->injected = 0;
    pthread_mutex_unlock(&f->lock);
}

static unsigned faults_calls(faults *f)
{
    unsigned n;
    pthread_mutex_lock(&f->lock);
    n = f->calls;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* ---- a counting allocator that fails on request -------------------------------------------- */

typedef struct counting {
    long live;             /* allocations not yet freed: read once the loop's thread is joined */
    atomic_uint count;     /* allocations made: read while the server runs */
    unsigned fail_at;      /* the allocation that fails (1-based), 0 for none */
} counting;

static void *counting_alloc(void *ctx, size_t size)
{
    counting *a = ctx;
    void *p;
    if (atomic_fetch_add(&a->count, 1) + 1 == a->fail_at) return NULL;
    p = malloc(size);
    if (p) a->live++;
    return p;
}

static void counting_free(void *ctx, void *ptr)
{
    counting *a = ctx;
    if (!ptr) return;
    a->live--;
    free(ptr);
}

/* ---- the TLS library's allocator ------------------------------------------------------------ */

#if defined(MOTE_TLS_OPENSSL) || defined(MOTE_FAULTS_CALLOC)
#define LIB_FAULTS 1

static atomic_uint lib_count;   /* the server's library allocations since lib_arm() */
static atomic_uint lib_fail_at; /* the one that fails (1-based), 0 for none */
static atomic_int lib_main;     /* the main thread's count too (while it makes a listener) */
static _Thread_local int on_server_thread;

/* Whether this allocation by the library, made by the server, is the one to fail. */
static int lib_fails(void)
{
    unsigned at = atomic_load(&lib_fail_at);
    if (at == 0 || !(on_server_thread || atomic_load(&lib_main))) return 0;
    return atomic_fetch_add(&lib_count, 1) + 1 == at;
}

static void lib_arm(unsigned fail_at)
{
    atomic_store(&lib_fail_at, 0);
    atomic_store(&lib_count, 0);
    atomic_store(&lib_fail_at, fail_at);
}
#endif

#if defined(MOTE_FAULTS_CALLOC)
/* mbedTLS's code, as address ranges of its libraries' loaded segments (found before any
 * failure is armed; nothing here allocates). */
#define MBED_RANGES 16
static uintptr_t mbed_lo[MBED_RANGES], mbed_hi[MBED_RANGES];
static int mbed_ranges;

extern void *__libc_calloc(size_t n, size_t size);

static int note_mbedtls(struct dl_phdr_info *info, size_t size, void *arg)
{
    int i;
    (void)size;
    (void)arg;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libmbed")) return 0;
    for (i = 0; i < info->dlpi_phnum && mbed_ranges < MBED_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        mbed_lo[mbed_ranges] = info->dlpi_addr + ph->p_vaddr;
        mbed_hi[mbed_ranges++] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    return 0;
}

static int from_mbedtls(const void *caller)
{
    uintptr_t a = (uintptr_t)caller;
    int i;
    for (i = 0; i < mbed_ranges; i++)
        if (a >= mbed_lo[i] && a < mbed_hi[i]) return 1;
    return 0;
}

void *calloc(size_t n, size_t size)
{
    if (from_mbedtls(__builtin_return_address(0)) && lib_fails()) return NULL;
    return __libc_calloc(n, size);
}

/* 1 when this program's calloc is the one mbedTLS calls (not valgrind's, say). */
static int lib_faults_ready(void)
{
    mbedtls_mpi x;
    unsigned made;
    dl_iterate_phdr(note_mbedtls, NULL);
    lib_arm(UINT_MAX);
    atomic_store(&lib_main, 1);
    mbedtls_mpi_init(&x);
    (void)mbedtls_mpi_lset(&x, 1); /* allocates its limbs */
    mbedtls_mpi_free(&x);
    atomic_store(&lib_main, 0);
    made = atomic_load(&lib_count);
    lib_arm(0);
    return mbed_ranges > 0 && made > 0;
}
#endif

#if defined(MOTE_TLS_OPENSSL)
#include <openssl/crypto.h>

static void *lib_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return lib_fails() ? NULL : malloc(n);
}

static void *lib_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return lib_fails() ? NULL : realloc(p, n);
}

static void lib_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static int lib_faults_ready(void)
{
    return 1; /* CRYPTO_set_mem_functions() succeeded in main() */
}
#endif

/* ---- handlers -------------------------------------------------------------------------------- */

static void h_hello(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/plain", "hello, faults\n");
}

static void h_echo(mote_request *req, mote_response *res, void *user)
{
    mote_str body = mote_request_body(req);
    (void)user;
    mote_response_header(res, "Content-Type", "application/octet-stream");
    mote_response_send(res, body.ptr, body.len);
}

/* Streams STREAM_BYTES the way mote.h asks: write until MOTE_EAGAIN, then go on from on_ready.
 * One stream at a time in this test, so its progress can live in a static. */
static size_t stream_sent;

static void stream_more(mote_response *res, void *user)
{
    char piece[4096];
    (void)user;
    memset(piece, 'z', sizeof piece);
    while (stream_sent < STREAM_BYTES) {
        int rc = mote_response_write(res, piece, sizeof piece);
        if (rc == MOTE_EAGAIN) return; /* on_ready comes back when there is room */
        if (rc < 0) break;            /* the connection is going: end what can be ended */
        stream_sent += sizeof piece;
    }
    mote_response_end(res);
}

static void h_stream(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_response_header(res, "Content-Type", "text/plain");
    stream_sent = 0;
    mote_response_defer(res, stream_more); /* offered at once, and whenever there is room */
}

/* A file of FILE_BYTES (a pattern), sent with mote_response_send_file(); and BIG_BYTES sent
 * one-shot, copied, from memory. The pattern of byte i is pattern(i). */
#define FILE_BYTES (20 * 1024 + 7)
#define BIG_BYTES (1024 * 1024)
static char file_path[64];

static char pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

static void h_file(mote_request *req, mote_response *res, void *user)
{
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    mote_file f;
    (void)req;
    (void)user;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0) close(fd);
        mote_respond(res, 500, "text/plain", "no file\n");
        return;
    }
    f = mote_file_from_fd(fd);
    if (mote_response_send_file(res, &f, 0, (uint64_t)st.st_size) < 0) close(fd);
}

static char *big_body;

static void h_big(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    CHECK_EQ_INT(mote_response_send(res, big_body, BIG_BYTES), MOTE_OK);
}

/* ---- a server on its own thread -------------------------------------------------------- */

typedef struct running {
    mote_server *srv;
    pthread_t thread;
    int port;
} running;

static void *loop_thread(void *arg)
{
    running *r = arg;
#if defined(LIB_FAULTS)
    on_server_thread = 1;
#endif
    (void)mote_server_run(r->srv);
    return NULL;
}

static int add_routes(mote_server *srv)
{
    const mote_route_def routes[] = {
        {.path = "/hello", .handler = h_hello},
        {.path = "/echo", .handler = h_echo, .body = MOTE_BODY_COLLECT},
        {.path = "/file", .handler = h_file},
        {.path = "/big", .handler = h_big},
        {.path = "/stream", .handler = h_stream},
    };
    size_t i;
    int rc = MOTE_OK;
    for (i = 0; i < sizeof routes / sizeof routes[0] && rc == MOTE_OK; i++)
        rc = mote_route(srv, &routes[i]);
    return rc;
}

static void stop(running *r)
{
    mote_server_stop(r->srv);
    CHECK(pthread_join(r->thread, NULL) == 0);
    mote_server_destroy(r->srv);
    r->srv = NULL;
}

/* ---- the scripted exchange --------------------------------------------------------------- */

static const char *const script[] = {
    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
    "GET /file HTTP/1.1\r\nHost: t\r\n\r\n",
    "GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
};
#define SCRIPT_STEPS (sizeof script / sizeof script[0])

typedef struct reply {
    char bytes[REPLY_MAX];
    size_t len;
    int closed;   /* the server closed (EOF or reset) */
    int timeout;  /* nothing came for too long: a hang */
} reply;

/* ---- the client: plain TCP, or TLS through mbedTLS ---------------------------------------- */

typedef struct tls_client_config {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
} tls_client_config;

typedef struct client {
    int fd;
    const tls_client_config *tls; /* NULL for plain TCP */
    mbedtls_ssl_context ssl;
} client;

static void tls_client_config_init(tls_client_config *t)
{
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_config_init(&t->conf);
    CHECK(mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, NULL, 0) == 0);
    CHECK(mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT) == 0);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE); /* a throw-away certificate */
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
}

static void tls_client_config_free(tls_client_config *t)
{
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
}

/* The socket timeouts end a hang as MBEDTLS_ERR_SSL_TIMEOUT. */
static int socket_error(int fallback)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_TIMEOUT;
    return errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ : fallback;
}

static int client_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    return n < 0 ? socket_error(MBEDTLS_ERR_NET_SEND_FAILED) : (int)n;
}

static int client_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t n = recv(*(int *)ctx, buf, len, 0);
    return n < 0 ? socket_error(MBEDTLS_ERR_NET_RECV_FAILED) : (int)n;
}

/* Connects (and shakes hands): 0, -1 when refused or closed, -2 when the server went quiet. */
static int client_open(client *c, int port, const tls_client_config *tls)
{
    int ret = 0, rounds;
    c->tls = NULL;
    c->fd = loopback_dial(port, 5);
    if (c->fd < 0 || !tls) return c->fd < 0 ? -1 : 0;
    c->tls = tls;
    mbedtls_ssl_init(&c->ssl);
    CHECK(mbedtls_ssl_setup(&c->ssl, &tls->conf) == 0);
    mbedtls_ssl_set_bio(&c->ssl, &c->fd, client_bio_send, client_bio_recv, NULL);
    for (rounds = 0; rounds < 1000; rounds++) {
        ret = mbedtls_ssl_handshake(&c->ssl);
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) break;
    }
    if (ret == 0) return 0;
    return ret == MBEDTLS_ERR_SSL_TIMEOUT ? -2 : -1;
}

static void client_close(client *c)
{
    if (c->tls) mbedtls_ssl_free(&c->ssl);
    if (c->fd >= 0) close(c->fd);
}

static int client_send(client *c, const char *data, size_t len)
{
    size_t done = 0;
    int rounds;
    if (!c->tls) return send(c->fd, data, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
    for (rounds = 0; done < len && rounds < 1000; rounds++) {
        int n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data + done, len - done);
        if (n > 0) done += (size_t)n;
        else if (n != MBEDTLS_ERR_SSL_WANT_READ && n != MBEDTLS_ERR_SSL_WANT_WRITE) return -1;
    }
    return done == len ? 0 : -1;
}

/* A count, 0 at the end of the stream, -1 on an error, -2 when the server went quiet. */
static long client_recv(client *c, char *buf, size_t len)
{
    int rounds;
    if (!c->tls) {
        ssize_t n;
        do {
            n = recv(c->fd, buf, len, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
        return (long)n;
    }
    for (rounds = 0; rounds < 1000; rounds++) {
        int n = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, len);
        if (n >= 0) return n;
        if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
        if (n == MBEDTLS_ERR_SSL_TIMEOUT) return -2;
        if (n != MBEDTLS_ERR_SSL_WANT_READ && n != MBEDTLS_ERR_SSL_WANT_WRITE) return -1;
    }
    return -1;
}

/* Reads more of the reply: 0, or -1 when the connection ended or went quiet. */
static int read_more(client *c, reply *r)
{
    long n;
    if (r->len == sizeof r->bytes) return -1;
    n = client_recv(c, r->bytes + r->len, sizeof r->bytes - r->len);
    if (n > 0) {
        r->len += (size_t)n;
        return 0;
    }
    if (n == -2) r->timeout = 1;
    else r->closed = 1;
    return -1;
}

/* The first `needle` in hay[0..len), or NULL. */
static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle), i;
    for (i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0) return hay + i;
    return NULL;
}

/* The end of the Content-Length response that starts at `from`, or 0 while its head is short. */
static size_t reply_end(const reply *r, size_t from)
{
    const char *head_end = find(r->bytes + from, r->len - from, "\r\n\r\n");
    const char *cl = find(r->bytes + from, r->len - from, "Content-Length: ");
    if (!head_end || !cl || cl > head_end) return 0;
    return (size_t)(head_end + 4 - r->bytes) + strtoul(cl + 16, NULL, 10);
}

/* Reads the whole response that starts at `from`; returns where the next one starts. */
static size_t read_response(client *c, reply *r, size_t from)
{
    for (;;) {
        size_t end = reply_end(r, from);
        if (end && r->len >= end) return end;
        if (read_more(c, r) < 0) return r->len;
    }
}

/* Runs the script on a new connection, each request once the reply before it is in. */
static void exchange(int port, const tls_client_config *tls, reply *r)
{
    size_t i, from = 0;
    client c;
    int rc = client_open(&c, port, tls);
    r->len = 0;
    r->closed = rc == -1;
    r->timeout = rc == -2;
    for (i = 0; i < SCRIPT_STEPS && !r->closed && !r->timeout; i++) {
        if (client_send(&c, script[i], strlen(script[i])) < 0) {
            r->closed = 1;
            break;
        }
        if (i + 1 < SCRIPT_STEPS) from = read_response(&c, r, from);
    }
    while (!r->closed && !r->timeout && read_more(&c, r) == 0) {
    }
    client_close(&c);
}

/* Dates differ between runs: blank their values so replies compare byte for byte. */
static void blank_dates(reply *r)
{
    size_t i;
    for (i = 0; i + 35 <= r->len; i++)
        if (memcmp(r->bytes + i, "\r\nDate: ", 8) == 0) memset(r->bytes + i + 8, '-', 29);
}

/* ---- socket faults at every step ----------------------------------------------------------- */

static void check_like_clean(const reply *got, const reply *clean, const char *what, unsigned k)
{
    CHECK_MSG(!got->timeout, "%s at call %u: the exchange hung", what, k);
    CHECK_MSG(got->len <= clean->len && memcmp(got->bytes, clean->bytes, got->len) == 0,
              "%s at call %u: the reply differs from the clean one (%zu bytes)", what, k, got->len);
    CHECK_MSG(got->len == clean->len || got->closed, "%s at call %u: short and not closed", what, k);
}

/* Every fault at every socket call of the exchange, over `tls` or plain TCP. */
static void test_socket_faults(const mote_tls_config *creds, const tls_client_config *tls)
{
    faults f;
    net_io io = {faulty_recv, faulty_send, faulty_accept, faulty_sendfile, &f, NULL};
    static reply clean, got, after;
    running r;
    unsigned steps, k, kind, completed = 0, cut = 0;
    int l;

    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.lock, NULL);
    memset(&r, 0, sizeof r);
    CHECK(mote_server_create(&r.srv, NULL) == MOTE_OK);
    server_use_io(r.srv, &io);
    CHECK(add_routes(r.srv) == MOTE_OK);
    l = tls ? mote_listen_tls(r.srv, "127.0.0.1", 0, creds) : mote_listen(r.srv, "127.0.0.1", 0);
    r.port = mote_listener_port(r.srv, l);
    CHECK(r.port > 0);
    CHECK(pthread_create(&r.thread, NULL, loop_thread, &r) == 0);

    /* the clean run: what the server says, and how many socket calls it takes */
    faults_arm(&f, 0, F_NONE);
    exchange(r.port, tls, &clean);
    steps = faults_calls(&f);
    blank_dates(&clean);
    CHECK(clean.closed && !clean.timeout);
    CHECK(clean.len > STREAM_BYTES);
    CHECK(find(clean.bytes, clean.len, "hello world") != NULL);
    CHECK(find(clean.bytes, clean.len, "Content-Length: 20487\r\n") != NULL);
    CHECK(steps >= 5);

    for (kind = F_EAGAIN; kind < F_COUNT; kind++) {
        for (k = 1; k <= steps + STEP_SLACK; k++) {
            faults_arm(&f, k, (enum fault)kind);
            exchange(r.port, tls, &got);
            blank_dates(&got);
            check_like_clean(&got, &clean, fault_names[kind], k);
            if (got.len == clean.len) completed++;
            else cut++;
            if (kind == F_EAGAIN || kind == F_EINTR || kind == F_SHORT)
                CHECK_MSG(got.len == clean.len, "%s at call %u: a retryable fault cut the exchange"
                          " at %zu of %zu bytes", fault_names[kind], k, got.len, clean.len);

            /* and the next connection is served in full */
            faults_arm(&f, 0, F_NONE);
            exchange(r.port, tls, &after);
            blank_dates(&after);
            CHECK_MSG(after.len == clean.len && memcmp(after.bytes, clean.bytes, clean.len) == 0,
                      "after %s at call %u: the next exchange got %zu of %zu bytes",
                      fault_names[kind], k, after.len, clean.len);
        }
    }
    printf("socket faults, %s: a clean exchange takes %u socket calls for %zu bytes of replies; "
           "%u steps x %d faults: %u exchanges completed, %u cut off with a close\n",
           tls ? "TLS" : "plain TCP", steps, clean.len, steps + STEP_SLACK, F_COUNT - 1, completed,
           cut);
    CHECK(cut > 0); /* resets do cut exchanges: the test sees both outcomes */
    stop(&r);
    pthread_mutex_destroy(&f.lock);
}

/* ---- large bodies --------------------------------------------------------------------------- */

/* GET `path` on a new connection; the body must be `len` bytes of pattern(). */
static void check_large(int port, const tls_client_config *tls, const char *path, size_t len)
{
    char req[128], buf[65536], head[1024];
    size_t head_len = 0, got = 0, bad = 0, i, want_len = 0;
    int body = 0, rounds = 0;
    client c;
    long n;
    CHECK(client_open(&c, port, tls) == 0);
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    CHECK(client_send(&c, req, strlen(req)) == 0);
    while (rounds++ < 100000 && (!body || got < want_len) && (n = client_recv(&c, buf, sizeof buf)) > 0) {
        size_t at = 0;
        if (!body) {
            char *end;
            size_t take = (size_t)n < sizeof head - 1 - head_len ? (size_t)n : sizeof head - 1 - head_len;
            memcpy(head + head_len, buf, take);
            head_len += take;
            head[head_len] = '\0';
            end = strstr(head, "\r\n\r\n");
            if (!end) continue;
            at = (size_t)(end + 4 - head) - (head_len - take);
            body = 1;
            want_len = strstr(head, "Content-Length: ") ? strtoul(strstr(head, "Content-Length: ") + 16, NULL, 10) : 0;
            CHECK_MSG(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s: %s", path, head);
        }
        for (i = at; i < (size_t)n; i++, got++) {
            if (got < len && buf[i] != pattern(got)) bad++;
        }
    }
    CHECK_MSG(want_len == len && got == len && bad == 0,
              "%s over %s: Content-Length %zu, %zu body bytes of %zu, %zu wrong", path,
              tls ? "TLS" : "TCP", want_len, got, len, bad);
    client_close(&c);
}

/* B3: a one-shot body far larger than the send buffer is sent whole (it was a silent 500); a
 * file too, by sendfile(2) on plain TCP and through the output buffer over TLS. */
static void test_large_bodies(const mote_tls_config *creds, const tls_client_config *tls)
{
    running r;
    int plain, secure;
    size_t i;
    FILE *f;

    big_body = malloc(BIG_BYTES);
    CHECK(big_body != NULL);
    if (!big_body) return;
    for (i = 0; i < BIG_BYTES; i++) big_body[i] = pattern(i);
    f = fopen(file_path, "wb");
    CHECK(f && fwrite(big_body, 1, BIG_BYTES, f) == BIG_BYTES);
    if (f) fclose(f);

    memset(&r, 0, sizeof r);
    CHECK(mote_server_create(&r.srv, NULL) == MOTE_OK);
    CHECK(add_routes(r.srv) == MOTE_OK);
    plain = mote_listener_port(r.srv, mote_listen(r.srv, "127.0.0.1", 0));
    secure = mote_listener_port(r.srv, mote_listen_tls(r.srv, "127.0.0.1", 0, creds));
    CHECK(plain > 0 && secure > 0);
    CHECK(pthread_create(&r.thread, NULL, loop_thread, &r) == 0);
    check_large(plain, NULL, "/big", BIG_BYTES);
    check_large(secure, tls, "/big", BIG_BYTES);
    check_large(plain, NULL, "/file", BIG_BYTES);
    check_large(secure, tls, "/file", BIG_BYTES);
    stop(&r);

    /* the script's file again */
    f = fopen(file_path, "wb");
    CHECK(f && fwrite(big_body, 1, FILE_BYTES, f) == FILE_BYTES);
    if (f) fclose(f);
}

/* ---- allocation failures ------------------------------------------------------------------- */

/* Start-up with the allocator failing at allocation `fail_at`: 1 when it all succeeded and the
 * server is running in r (ports[0] plain, ports[1] TLS), 0 when a call failed (and everything
 * was given back). */
static int start_with_failure(running *r, int ports[2], counting *a, const mote_tls_config *creds,
                              unsigned fail_at)
{
    mote_config cfg;
    int rc, plain = -1, secure = -1;
    mote_config_init(&cfg);
    cfg.allocator.alloc = counting_alloc;
    cfg.allocator.free = counting_free;
    cfg.allocator.ctx = a;
    a->live = 0;
    atomic_store(&a->count, 0);
    a->fail_at = fail_at;
    memset(r, 0, sizeof *r);
    rc = mote_server_create(&r->srv, &cfg);
    if (rc == MOTE_OK) rc = add_routes(r->srv);
    if (rc == MOTE_OK) rc = plain = mote_listen(r->srv, "127.0.0.1", 0);
    if (rc >= 0) rc = secure = mote_listen_tls(r->srv, "127.0.0.1", 0, creds);
    if (rc < 0) {
        CHECK_MSG(rc == MOTE_ENOMEM, "allocation %u failing: start-up said %s", fail_at,
                  mote_strerror(rc));
        mote_server_destroy(r->srv);
        CHECK_MSG(a->live == 0, "allocation %u failing: %ld allocations left", fail_at, a->live);
        return 0;
    }
    ports[0] = mote_listener_port(r->srv, plain);
    ports[1] = mote_listener_port(r->srv, secure);
    CHECK(pthread_create(&r->thread, NULL, loop_thread, r) == 0);
    return 1;
}

static void test_allocation_failures(const mote_tls_config *creds, const tls_client_config *tls)
{
    static reply clean, got;
    counting a;
    running r;
    int ports[2], i, round;
    unsigned n, startup_allocs, warm, failed_startups = 0, served_failures = 0;

    /* the reference: nothing fails; and plain requests after the first allocate nothing */
    CHECK(start_with_failure(&r, ports, &a, creds, 0));
    startup_allocs = atomic_load(&a.count);
    exchange(ports[0], NULL, &clean);
    blank_dates(&clean);
    warm = atomic_load(&a.count);
    for (i = 0; i < 10; i++) exchange(ports[0], NULL, &got);
    CHECK_MSG(atomic_load(&a.count) == warm, "10 plain exchanges made %u allocations",
              atomic_load(&a.count) - warm);
    stop(&r);
    CHECK(a.live == 0);

    /* start-up, then the first allocations while serving (a buffer block, a TLS session) */
    for (n = 1; n <= startup_allocs + SERVING_ALLOCS; n++) {
        if (!start_with_failure(&r, ports, &a, creds, n)) {
            failed_startups++;
            continue;
        }
        /* the failure lands while serving: that connection closes... */
        for (round = 0; round < 4 && atomic_load(&a.count) < n; round++) {
            for (i = 0; i < 2; i++) {
                exchange(ports[i], i ? tls : NULL, &got);
                blank_dates(&got);
                check_like_clean(&got, &clean, "allocation failure", n);
                if (got.len != clean.len) served_failures++;
            }
        }
        CHECK_MSG(atomic_load(&a.count) >= n, "allocation %u never made", n);
        /* ...and the next ones, plain and TLS, are served in full */
        for (i = 0; i < 2; i++) {
            exchange(ports[i], i ? tls : NULL, &got);
            blank_dates(&got);
            CHECK_MSG(got.len == clean.len && memcmp(got.bytes, clean.bytes, clean.len) == 0,
                      "allocation %u failed: the next %s exchange got %zu of %zu bytes (%s)", n,
                      i ? "TLS" : "plain", got.len, clean.len,
                      got.timeout ? "timed out" : got.closed ? "closed" : "open");
        }
        stop(&r);
        CHECK_MSG(a.live == 0, "allocation %u failing: %ld allocations left", n, a.live);
    }
    printf("allocation failures: %u start-up allocations failing in turn: %u start-ups failed "
           "cleanly; %d allocations while serving failing in turn cut %u exchanges\n",
           startup_allocs, failed_startups, SERVING_ALLOCS, served_failures);
    CHECK(failed_startups == startup_allocs);
    CHECK(served_failures >= SERVING_ALLOCS);
}

#if defined(LIB_FAULTS)
/* Every how many of the library's allocations one fails: thousands are made (mbedTLS's
 * big-number arithmetic allocates as it goes), so `make test` takes a spread of them, every
 * LIB_STRIDE-th from the first; MOTE_FAULTS_STRIDE=1 takes each (minutes). */
#define LIB_STRIDE 7

static unsigned lib_stride(void)
{
    const char *e = getenv("MOTE_FAULTS_STRIDE");
    long v = e ? strtol(e, NULL, 10) : 0;
    return v >= 1 && v <= 1000 ? (unsigned)v : LIB_STRIDE;
}

/* The server with a TLS listener whose context is made while library allocation `n` fails:
 * 1 running, 0 refused with MOTE_ENOMEM or MOTE_ETLS and every byte of ours given back. */
static int start_tls_failing(running *r, int *port, counting *a, const mote_tls_config *creds,
                             unsigned n)
{
    mote_config cfg;
    int rc;
    mote_config_init(&cfg);
    cfg.allocator.alloc = counting_alloc;
    cfg.allocator.free = counting_free;
    cfg.allocator.ctx = a;
    cfg.log_level = MOTE_LOG_ERROR;
    a->live = 0;
    atomic_store(&a->count, 0);
    a->fail_at = 0;
    memset(r, 0, sizeof *r);
    rc = mote_server_create(&r->srv, &cfg);
    if (rc == MOTE_OK) rc = add_routes(r->srv);
    lib_arm(n);
    atomic_store(&lib_main, 1);
    if (rc == MOTE_OK) rc = mote_listen_tls(r->srv, "127.0.0.1", 0, creds);
    atomic_store(&lib_main, 0);
    if (rc < 0) {
        lib_arm(0);
        CHECK_MSG(rc == MOTE_ENOMEM || rc == MOTE_ETLS, "library allocation %u failing: the "
                  "listener said %s", n, mote_strerror(rc));
        mote_server_destroy(r->srv);
        CHECK_MSG(a->live == 0, "library allocation %u failing: %ld allocations left", n, a->live);
        return 0;
    }
    *port = mote_listener_port(r->srv, rc);
    CHECK(pthread_create(&r->thread, NULL, loop_thread, r) == 0);
    return 1;
}

static void test_tls_library_allocations(const mote_tls_config *creds,
                                         const tls_client_config *tls, const reply *clean)
{
    static reply got;
    counting a;
    running r;
    int port;
    unsigned n, made = 0, refused = 0, cut = 0, tried = 0, stride = lib_stride();
    for (n = 1; n < 1000000; n += stride, tried++) {
        if (!start_tls_failing(&r, &port, &a, creds, n)) {
            refused++;
            continue;
        }
        exchange(port, tls, &got);
        made = atomic_load(&lib_count);
        lib_arm(0);
        blank_dates(&got);
        check_like_clean(&got, clean, "library allocation failure", n);
        if (got.len != clean->len) cut++;
        exchange(port, tls, &got);
        blank_dates(&got);
        CHECK_MSG(got.len == clean->len && memcmp(got.bytes, clean->bytes, clean->len) == 0,
                  "library allocation %u failed: the next TLS exchange got %zu of %zu bytes", n,
                  got.len, clean->len);
        stop(&r);
        CHECK_MSG(a.live == 0, "library allocation %u failing: %ld allocations left", n, a.live);
        if (made < n) break; /* the exchange is done before allocation n: all were covered */
    }
    printf("TLS library allocations (%s): %u of %u failing in turn (every %u%s): %u listeners "
           "refused, %u exchanges cut, the rest served\n", mote_tls_backend(), tried, made,
           stride, stride == 1 ? "" : "; MOTE_FAULTS_STRIDE=1 for each", refused, cut);
    CHECK(tried > 10 && n < 1000000);
    CHECK(refused > 0 && cut > 0);
}
#endif

int main(void)
{
    mote_tls_config creds;
    tls_client_config tls;
    char *cert = NULL, *key = NULL, fingerprint[96], err[256];

#if defined(MOTE_TLS_OPENSSL)
    /* before OpenSSL allocates anything */
    CHECK(CRYPTO_set_mem_functions(lib_malloc, lib_realloc, lib_free) == 1);
#endif
    CHECK(selfsigned_create(&cert, &key, fingerprint, err, sizeof err) == 0);
    memset(&creds, 0, sizeof creds);
    creds.cert_pem = cert;
    creds.key_pem = key;
    tls_client_config_init(&tls);
    snprintf(file_path, sizeof file_path, "/tmp/mote-test-faults.%ld", (long)getpid());

    test_large_bodies(&creds, &tls);
    test_socket_faults(&creds, NULL);
    test_socket_faults(&creds, &tls);
    test_allocation_failures(&creds, &tls);
#if defined(LIB_FAULTS)
    if (!lib_faults_ready()) {
        printf("TLS library allocations: calloc is not ours here (valgrind?): not tested\n");
    } else {
        static reply clean;
        running r;
        counting a;
        int port;
        /* the reference exchange over TLS, nothing failing */
        CHECK(start_tls_failing(&r, &port, &a, &creds, 0));
        exchange(port, &tls, &clean);
        blank_dates(&clean);
        stop(&r);
        test_tls_library_allocations(&creds, &tls, &clean);
    }
#endif

    tls_client_config_free(&tls);
    unlink(file_path);
    free(big_body);
    free(cert);
    free(key);
    return check_report("test_faults");
}
