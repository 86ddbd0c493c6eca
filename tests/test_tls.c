/* test_tls.c - unit tests for src/tls.c (and the sample's selfsigned.c) over AF_UNIX socketpairs,
 * with an mbedTLS client driven in the same thread. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <mbedtls/config.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "mote.h"
#include "selfsigned.h"
#include "tls/tls.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fflush(stdout);                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define HANDSHAKE_STEPS 200
#define TRANSFER_STEPS 200000
#define BIG_SIZE (256 * 1024)

/* ------------------------------------------------------------------------------------------ */
/* Fixtures                                                                                    */
/* ------------------------------------------------------------------------------------------ */

struct creds {
    char *cert;
    char *key;
    char fingerprint[96];
};

struct client_opts {
    int max_minor;                /* MBEDTLS_SSL_MINOR_VERSION_*, 0 for the default */
    const int *ciphersuites;      /* NULL for the library's list */
    int renegotiation;            /* allow the client to ask for renegotiation */
    const mbedtls_ssl_session *resume;
};

struct client {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt trusted;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    const char *alpn[2];
    int fd;
    size_t bytes_in;
};

struct pair {
    tls_ctx *ctx;
    tls_conn *server;
    struct client client;
    int fds[2];
    int owns_ctx;
};

static void make_creds(struct creds *c)
{
    char err[256];
    int ret = selfsigned_create(&c->cert, &c->key, c->fingerprint, err, sizeof err);
    if (ret != 0)
        fprintf(stderr, "selfsigned_create: %s\n", err);
    CHECK(ret == 0);
    CHECK(c->cert != NULL && c->key != NULL);
}

static void free_creds(struct creds *c)
{
    free(c->cert);
    free(c->key);
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    CHECK(flags >= 0);
    CHECK(fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

static void make_socketpair(int fds[2])
{
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    set_nonblocking(fds[0]);
    set_nonblocking(fds[1]);
}

static int client_send(void *bio, const unsigned char *buf, size_t len)
{
    struct client *cl = bio;
    ssize_t n = send(cl->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                   : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int client_recv(void *bio, unsigned char *buf, size_t len)
{
    struct client *cl = bio;
    ssize_t n = recv(cl->fd, buf, len, 0);
    if (n >= 0) {
        cl->bytes_in += (size_t)n;
        return (int)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

static void client_configure(struct client *cl, const struct client_opts *opts)
{
    mbedtls_ssl_config *conf = &cl->conf;
    CHECK(mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT) == 0);
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &cl->drbg);
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(conf, &cl->trusted, NULL);
    mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    cl->alpn[0] = "http/1.1";
    cl->alpn[1] = NULL;
    CHECK(mbedtls_ssl_conf_alpn_protocols(conf, cl->alpn) == 0);
    if (opts->max_minor != 0) {
        mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     MBEDTLS_SSL_MINOR_VERSION_1);
        mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, opts->max_minor);
    }
    if (opts->ciphersuites != NULL)
        mbedtls_ssl_conf_ciphersuites(conf, opts->ciphersuites);
    if (opts->renegotiation) {
        mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_ENABLED);
        /* Keep reading application data while the server ignores the request. */
        mbedtls_ssl_conf_renegotiation_enforced(conf, MBEDTLS_SSL_RENEGOTIATION_NOT_ENFORCED);
    }
}

/* A client that verifies the server against `cert_pem` for the name "localhost". */
static void client_init(struct client *cl, int fd, const char *cert_pem,
                        const struct client_opts *opts)
{
    static const char pers[] = "mote tls test client";
    memset(cl, 0, sizeof *cl);
    cl->fd = fd;
    mbedtls_entropy_init(&cl->entropy);
    mbedtls_ctr_drbg_init(&cl->drbg);
    mbedtls_x509_crt_init(&cl->trusted);
    mbedtls_ssl_config_init(&cl->conf);
    mbedtls_ssl_init(&cl->ssl);
    CHECK(mbedtls_ctr_drbg_seed(&cl->drbg, mbedtls_entropy_func, &cl->entropy,
                                (const unsigned char *)pers, sizeof pers - 1) == 0);
    CHECK(mbedtls_x509_crt_parse(&cl->trusted, (const unsigned char *)cert_pem,
                                 strlen(cert_pem) + 1) == 0);
    client_configure(cl, opts);
    CHECK(mbedtls_ssl_setup(&cl->ssl, &cl->conf) == 0);
    CHECK(mbedtls_ssl_set_hostname(&cl->ssl, "localhost") == 0);
    if (opts->resume != NULL)
        CHECK(mbedtls_ssl_set_session(&cl->ssl, opts->resume) == 0);
    mbedtls_ssl_set_bio(&cl->ssl, cl, client_send, client_recv, NULL);
}

static void client_free(struct client *cl)
{
    mbedtls_ssl_free(&cl->ssl);
    mbedtls_ssl_config_free(&cl->conf);
    mbedtls_x509_crt_free(&cl->trusted);
    mbedtls_ctr_drbg_free(&cl->drbg);
    mbedtls_entropy_free(&cl->entropy);
}

/* The server's end of the socket pair as a transport (core/io.h). */
static long fd_recv(void *handle, void *buf, size_t len)
{
    ssize_t n = recv(*(int *)handle, buf, len, 0);
    if (n > 0) return (long)n;
    if (n == 0) return IO_CLOSED;
    return errno == EAGAIN || errno == EWOULDBLOCK ? IO_WANT_READ : IO_FAILED;
}

static long fd_send(void *handle, const void *buf, size_t len)
{
    ssize_t n = send(*(int *)handle, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (long)n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? IO_WANT_WRITE : IO_FAILED;
}

static void connect_pair(struct pair *p, tls_ctx *ctx, const char *cert_pem,
                         const struct client_opts *opts)
{
    io_transport t = {fd_recv, fd_send, NULL};
    p->ctx = ctx;
    p->owns_ctx = 0;
    make_socketpair(p->fds);
    t.handle = &p->fds[0];
    CHECK(tls_conn_create(ctx, &t, &p->server) == 0);
    client_init(&p->client, p->fds[1], cert_pem, opts);
}

static tls_ctx *make_ctx(const struct creds *cr)
{
    mote_tls_config cfg = { 0 };
    tls_ctx *ctx = NULL;
    char err[256] = "";
    cfg.cert_pem = cr->cert;
    cfg.key_pem = cr->key;
    CHECK(tls_ctx_create(&ctx, &cfg, NULL, err, sizeof err) == 0);
    CHECK(ctx != NULL && err[0] == '\0');
    return ctx;
}

static void pair_open(struct pair *p, const struct creds *cr, const struct client_opts *opts)
{
    connect_pair(p, make_ctx(cr), cr->cert, opts);
    p->owns_ctx = 1;
}

static void pair_close(struct pair *p)
{
    client_free(&p->client);
    tls_conn_destroy(p->server);
    if (p->owns_ctx)
        tls_ctx_destroy(p->ctx);
    if (p->fds[0] >= 0)
        close(p->fds[0]);
    if (p->fds[1] >= 0)
        close(p->fds[1]);
}

static int is_client_want(int ret)
{
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Steps both handshakes in turn until each has finished or failed. */
static void run_handshakes(tls_conn *server, struct client *cl, int *server_ret, int *client_ret)
{
    int s = IO_WANT_READ;
    int c = MBEDTLS_ERR_SSL_WANT_READ;
    int i;
    for (i = 0; i < HANDSHAKE_STEPS; i++) {
        if (s == IO_WANT_READ || s == IO_WANT_WRITE)
            s = tls_handshake(server);
        if (is_client_want(c))
            c = mbedtls_ssl_handshake(&cl->ssl);
        if (!is_client_want(c) && s != IO_WANT_READ && s != IO_WANT_WRITE)
            break;
        /* A failed side stops talking; the other then waits forever, so stop there too. */
        if (s == IO_FAILED && i > 4)
            break;
    }
    *server_ret = s;
    *client_ret = c;
}

static void handshake_ok(struct pair *p)
{
    int s, c;
    run_handshakes(p->server, &p->client, &s, &c);
    CHECK(s == 0);
    CHECK(c == 0);
}

/* Reads on the server until it returns something other than IO_WANT_READ. */
static long server_read(tls_conn *server, void *buf, size_t len)
{
    long n = IO_WANT_READ;
    int i;
    for (i = 0; i < HANDSHAKE_STEPS && n == IO_WANT_READ; i++)
        n = tls_read(server, buf, len);
    return n;
}

static void client_write_all(struct client *cl, const char *msg)
{
    size_t len = strlen(msg);
    int ret = mbedtls_ssl_write(&cl->ssl, (const unsigned char *)msg, len);
    CHECK(ret == (int)len);
}

static int client_read(struct client *cl, char *buf, size_t len)
{
    int ret = MBEDTLS_ERR_SSL_WANT_READ;
    int i;
    for (i = 0; i < HANDSHAKE_STEPS && ret == MBEDTLS_ERR_SSL_WANT_READ; i++)
        ret = mbedtls_ssl_read(&cl->ssl, (unsigned char *)buf, len);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int is_upper_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
}

static void check_fingerprint_format(const char *fp)
{
    size_t i;
    CHECK(strlen(fp) == 95);
    for (i = 0; i < 95; i++) {
        if (i % 3 == 2)
            CHECK(fp[i] == ':');
        else
            CHECK(is_upper_hex(fp[i]));
    }
}

static void format_hex_fingerprint(const unsigned char *der, size_t len, char out[96])
{
    unsigned char hash[32];
    size_t i;
    CHECK(mbedtls_sha256_ret(der, len, hash, 0) == 0);
    for (i = 0; i < 32; i++)
        snprintf(out + i * 3, 4, i < 31 ? "%02X:" : "%02X", hash[i]);
}

static int has_san(const mbedtls_x509_sequence *san, int type, const void *value, size_t len)
{
    for (; san != NULL; san = san->next) {
        const mbedtls_x509_buf *b = &san->buf;
        if (b->tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | type) && b->len == len &&
            memcmp(b->p, value, len) == 0)
            return 1;
    }
    return 0;
}

static void check_san(const mbedtls_x509_crt *crt)
{
    static const unsigned char ipv4[4] = { 127, 0, 0, 1 };
    static const unsigned char ipv6[16] = { [15] = 1 };
    const mbedtls_x509_sequence *san = &crt->subject_alt_names;
    CHECK(has_san(san, MBEDTLS_X509_SAN_DNS_NAME, "localhost", 9));
    CHECK(has_san(san, MBEDTLS_X509_SAN_IP_ADDRESS, ipv4, sizeof ipv4));
    CHECK(has_san(san, MBEDTLS_X509_SAN_IP_ADDRESS, ipv6, sizeof ipv6));
}

static void test_selfsigned(const struct creds *cr)
{
    mbedtls_x509_crt crt;
    char expected[96];

    check_fingerprint_format(cr->fingerprint);
    mbedtls_x509_crt_init(&crt);
    CHECK(mbedtls_x509_crt_parse(&crt, (const unsigned char *)cr->cert, strlen(cr->cert) + 1) == 0);
    format_hex_fingerprint(crt.raw.p, crt.raw.len, expected);
    CHECK(strcmp(expected, cr->fingerprint) == 0);
    CHECK(crt.version == 3);
    CHECK(crt.ca_istrue == 0);
    CHECK(crt.sig_md == MBEDTLS_MD_SHA256);
    CHECK(mbedtls_pk_get_type(&crt.pk) == MBEDTLS_PK_ECKEY);
    check_san(&crt);
    CHECK(crt.ext_types & MBEDTLS_X509_EXT_KEY_USAGE);
    CHECK(crt.key_usage == MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    CHECK(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0);
    CHECK(mbedtls_x509_time_is_past(&crt.valid_from));
    CHECK(mbedtls_x509_time_is_future(&crt.valid_to));
    CHECK(crt.valid_to.year - crt.valid_from.year == 1);
    mbedtls_x509_crt_free(&crt);
}

static int is_ecdhe_aead(const char *suite)
{
    return strstr(suite, "ECDHE") != NULL &&
           (strstr(suite, "GCM") != NULL || strstr(suite, "CHACHA20-POLY1305") != NULL);
}

static void check_negotiated(struct pair *p)
{
    const char *alpn = mbedtls_ssl_get_alpn_protocol(&p->client.ssl);
    CHECK(strcmp(mbedtls_ssl_get_version(&p->client.ssl), "TLSv1.2") == 0);
    CHECK(is_ecdhe_aead(mbedtls_ssl_get_ciphersuite(&p->client.ssl)));
    CHECK(alpn != NULL && strcmp(alpn, "http/1.1") == 0);
    CHECK(mbedtls_ssl_get_verify_result(&p->client.ssl) == 0);
}

/* A small client message read through a smaller buffer leaves the rest in tls_pending(). */
static void check_small_exchange(struct pair *p)
{
    static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";
    char buf[64];
    char got[64];
    size_t total;
    long n;

    CHECK(tls_pending(p->server) == 0);
    CHECK(tls_read(p->server, buf, sizeof buf) == IO_WANT_READ);
    client_write_all(&p->client, request);
    n = server_read(p->server, buf, 10);
    CHECK(n == 10);
    CHECK(tls_pending(p->server) == sizeof request - 1 - 10);
    memcpy(got, buf, 10);
    total = 10;
    n = tls_read(p->server, got + total, sizeof got - total);
    CHECK(n == (long)(sizeof request - 1 - 10));
    total += (size_t)n;
    CHECK(total == sizeof request - 1 && memcmp(got, request, total) == 0);
    CHECK(tls_pending(p->server) == 0);

    CHECK(tls_write(p->server, reply, sizeof reply - 1) == (long)(sizeof reply - 1));
    CHECK(client_read(&p->client, buf, sizeof buf) == (int)(sizeof reply - 1));
    CHECK(memcmp(buf, reply, sizeof reply - 1) == 0);
}

struct transfer {
    const unsigned char *data;
    unsigned char *got;
    size_t sent;
    size_t received;
    int retrying;       /* the last tls_write() returned IO_WANT_WRITE */
    size_t max_chunk;   /* if set, fresh writes offer at most this much */
    unsigned wants;
    unsigned calls;
};

/* Fresh writes offer odd sizes and retries offer everything that is left, so a tls_write() that
 * forgot how much its pending record held would report bytes it never encrypted (the memcmp
 * at the end catches that). */
static void server_write_step(tls_conn *server, struct transfer *t)
{
    static const size_t sizes[] = { 5000, 16384, 20000, 1, 12345, 700 };
    size_t left = BIG_SIZE - t->sent;
    size_t len = t->retrying ? left : sizes[t->calls++ % 6];
    long n;

    if (t->max_chunk != 0 && !t->retrying && len > t->max_chunk)
        len = t->max_chunk;
    if (len > left)
        len = left;
    n = tls_write(server, t->data + t->sent, len);
    if (n == IO_WANT_WRITE) {
        t->retrying = 1;
        t->wants++;
        return;
    }
    CHECK(n > 0);
    CHECK((size_t)n <= len && (size_t)n <= 16384);
    t->retrying = 0;
    t->sent += (size_t)n;
}

static void client_read_step(struct client *cl, struct transfer *t)
{
    int ret = mbedtls_ssl_read(&cl->ssl, t->got + t->received, BIG_SIZE - t->received);
    if (ret == MBEDTLS_ERR_SSL_WANT_READ)
        return;
    CHECK(ret > 0);
    t->received += (size_t)ret;
}

static void transfer_init(struct transfer *t)
{
    unsigned char *data = malloc(BIG_SIZE);
    size_t i;
    memset(t, 0, sizeof *t);
    CHECK(data != NULL);
    for (i = 0; i < BIG_SIZE; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    t->data = data;
    t->got = malloc(BIG_SIZE);
    CHECK(t->got != NULL);
}

/* Runs both ends until the client has everything, then checks it arrived intact. */
static void transfer_finish(struct pair *p, struct transfer *t)
{
    long steps;
    for (steps = 0; steps < TRANSFER_STEPS && t->received < BIG_SIZE; steps++) {
        if (t->sent < BIG_SIZE)
            server_write_step(p->server, t);
        client_read_step(&p->client, t);
    }
    CHECK(t->sent == BIG_SIZE && t->received == BIG_SIZE);
    CHECK(memcmp(t->data, t->got, BIG_SIZE) == 0);
    CHECK(t->wants > 0);
    printf("  big transfer: %u IO_WANT_WRITE retries in %ld steps\n", t->wants, steps);
    free((void *)t->data);
    free(t->got);
}

/* A small send buffer makes records go out in pieces, which is what these tests are about. */
static void shrink_send_buffer(int fd)
{
    int sndbuf = 4096;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
}

static void check_big_transfer(struct pair *p)
{
    struct transfer t;
    transfer_init(&t);
    shrink_send_buffer(p->fds[0]);
    transfer_finish(p, &t);
}

static void check_client_close_notify(struct pair *p)
{
    char buf[16];
    CHECK(mbedtls_ssl_close_notify(&p->client.ssl) == 0);
    CHECK(server_read(p->server, buf, sizeof buf) == IO_CLOSED);
}

static void test_session(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    struct pair p;
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    check_negotiated(&p);
    check_small_exchange(&p);
    check_big_transfer(&p);
    check_client_close_notify(&p);
    pair_close(&p);
}

static void test_server_close_notify(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    struct pair p;
    char buf[16];
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    tls_close_notify(p.server);
    CHECK(client_read(&p.client, buf, sizeof buf) == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    pair_close(&p);
}

static void test_peer_eof(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    struct pair p;
    char buf[16];
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    close(p.fds[1]);
    p.fds[1] = -1;
    CHECK(server_read(p.server, buf, sizeof buf) == IO_CLOSED);
    /* Writing to a vanished peer must fail, not raise SIGPIPE. */
    CHECK(tls_write(p.server, "x", 1) == IO_FAILED);
    pair_close(&p);
}

static void expect_handshake_refused(const struct creds *cr, const struct client_opts *opts)
{
    struct pair p;
    int s, c;
    pair_open(&p, cr, opts);
    run_handshakes(p.server, &p.client, &s, &c);
    CHECK(s == IO_FAILED);
    CHECK(c != 0);
    pair_close(&p);
}

static void test_old_client_refused(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    opts.max_minor = MBEDTLS_SSL_MINOR_VERSION_2; /* TLS 1.1 */
    expect_handshake_refused(cr, &opts);
}

static void test_cbc_client_refused(const struct creds *cr)
{
    static const int cbc_only[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
                                    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, 0 };
    struct client_opts opts = { 0 };
    opts.ciphersuites = cbc_only;
    expect_handshake_refused(cr, &opts);
}

/* The server must never answer a ClientHello after the handshake with a ServerHello. */
static void test_renegotiation_refused(const struct creds *cr)
{
    static const char after[] = "still here";
    struct client_opts opts = { 0 };
    struct pair p;
    char buf[32];
    int c = MBEDTLS_ERR_SSL_WANT_READ;
    long s = IO_WANT_READ;
    int i;

    opts.renegotiation = 1;
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    for (i = 0; i < 20 && is_client_want(c); i++) {
        c = mbedtls_ssl_renegotiate(&p.client.ssl);
        if (s == IO_WANT_READ)
            s = tls_read(p.server, buf, sizeof buf);
        CHECK(s <= 0);
    }
    printf("  renegotiation: client got -0x%04x, server tls_read %ld\n", (unsigned)-c, s);
    CHECK(c != 0);
    CHECK(s == IO_WANT_READ || s == IO_FAILED);
    if (s == IO_WANT_READ) {
        /* Refused with a warning: the session carries on with its first keys. */
        CHECK(tls_write(p.server, after, sizeof after - 1) == (long)(sizeof after - 1));
    }
    pair_close(&p);
}

/* Tickets are sealed with a key of the tls_ctx, so the second connection uses the same one. */
/* mbedTLS 2.28 answers a ClientHello that arrives while a record of ours is half-sent by
 * flushing that record and dropping its no_renegotiation alert. The retried tls_write() must
 * then report the record as sent rather than encrypt the same bytes again. */
static void test_renegotiation_during_write(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    struct transfer t;
    struct pair p;
    char scratch[16];
    size_t before;
    long s;
    int c, i;

    opts.renegotiation = 1;
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    transfer_init(&t);
    /* Records small enough that the half-sent one fits the socket once the client drains it. */
    t.max_chunk = 3000;
    shrink_send_buffer(p.fds[0]);
    for (i = 0; i < 1000 && !t.retrying; i++)
        server_write_step(p.server, &t);
    CHECK(t.retrying);

    c = mbedtls_ssl_renegotiate(&p.client.ssl);
    CHECK(is_client_want(c) || c == MBEDTLS_ERR_SSL_WAITING_SERVER_HELLO_RENEGO);
    do {
        before = t.received;
        client_read_step(&p.client, &t);
    } while (t.received != before && t.received < BIG_SIZE);

    s = tls_read(p.server, scratch, sizeof scratch); /* takes the ClientHello */
    printf("  renegotiation mid-write: server tls_read %ld\n", s);
    CHECK(s == IO_WANT_READ);
    t.max_chunk = 0;
    transfer_finish(&p, &t);
    pair_close(&p);
}

/* The other order: our last record went out whole, the socket is full, and then a ClientHello
 * arrives. Its no_renegotiation alert stays queued (tls_read says IO_WANT_WRITE), and the next
 * tls_write() must push that alert out before it encrypts anything, or mbedTLS would report the
 * new bytes as written after sending only the alert. */
static void test_alert_queued_before_write(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    struct transfer t;
    struct pair p;
    char scratch[16];
    long n = 1;
    long s;
    int c, i;

    opts.renegotiation = 1;
    pair_open(&p, cr, &opts);
    handshake_ok(&p);
    transfer_init(&t);
    shrink_send_buffer(p.fds[0]);
    /* One-byte records until one does not fit: the socket is now exactly full. */
    for (i = 0; i < 100000 && n == 1; i++) {
        n = tls_write(p.server, t.data + t.sent, 1);
        if (n == 1)
            t.sent++;
    }
    CHECK(n == IO_WANT_WRITE);

    /* The client sends its ClientHello and, waiting for an answer, takes one record. */
    c = mbedtls_ssl_renegotiate(&p.client.ssl);
    CHECK(c == MBEDTLS_ERR_SSL_WAITING_SERVER_HELLO_RENEGO || is_client_want(c));
    CHECK(tls_write(p.server, t.data + t.sent, 1) == 1); /* fills the room it made */
    t.sent++;

    s = tls_read(p.server, scratch, sizeof scratch);
    printf("  alert queued: server tls_read %ld\n", s);
    CHECK(s == IO_WANT_WRITE);
    transfer_finish(&p, &t);
    pair_close(&p);
}

static void test_session_resumption(const struct creds *cr)
{
    struct client_opts opts = { 0 };
    tls_ctx *ctx = make_ctx(cr);
    mbedtls_ssl_session saved;
    struct pair first, second;
    size_t full_bytes;

    connect_pair(&first, ctx, cr->cert, &opts);
    handshake_ok(&first);
    full_bytes = first.client.bytes_in;
    mbedtls_ssl_session_init(&saved);
    CHECK(mbedtls_ssl_get_session(&first.client.ssl, &saved) == 0);
    CHECK(saved.ticket != NULL && saved.ticket_len > 0);
    pair_close(&first);

    opts.resume = &saved;
    connect_pair(&second, ctx, cr->cert, &opts);
    handshake_ok(&second);
    check_negotiated(&second);
    printf("  full handshake: %zu bytes to the client, resumed: %zu\n", full_bytes,
           second.client.bytes_in);
    /* A resumed handshake sends no Certificate nor ServerKeyExchange. */
    CHECK(second.client.bytes_in + 300 < full_bytes);
    check_small_exchange(&second);
    pair_close(&second);
    mbedtls_ssl_session_free(&saved);
    tls_ctx_destroy(ctx);
}

static void expect_ctx_error(const mote_tls_config *cfg, const char *needle)
{
    tls_ctx *dummy = NULL;
    tls_ctx *ctx = (tls_ctx *)(void *)&dummy; /* any non-NULL value: must come back NULL */
    char err[256] = "";
    CHECK(tls_ctx_create(&ctx, cfg, NULL, err, sizeof err) == MOTE_ETLS);
    CHECK(ctx == NULL);
    CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    if (needle != NULL && strstr(err, needle) == NULL) {
        fprintf(stderr, "error line '%s' lacks '%s'\n", err, needle);
        CHECK(0);
    }
    printf("  refused as expected: %s\n", err);
}

static void test_bad_credentials(const struct creds *cr, const struct creds *other)
{
    static const char bad_cert[] =
        "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    mote_tls_config cfg = { 0 };

    cfg.cert_pem = bad_cert;
    cfg.key_pem = cr->key;
    expect_ctx_error(&cfg, "certificate");
    cfg.cert_pem = cr->cert;
    cfg.key_pem = "not a key";
    expect_ctx_error(&cfg, "key");
    cfg.key_pem = other->key;
    expect_ctx_error(&cfg, "does not match");
    cfg.key_pem = NULL;
    expect_ctx_error(&cfg, "key");
    cfg.key_pem = cr->key;
    cfg.cert_file = "/nonexistent/cert.pem";
    expect_ctx_error(&cfg, "cert");
    cfg.cert_pem = NULL;
    expect_ctx_error(&cfg, "/nonexistent/cert.pem");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

static void test_files(const struct creds *cr)
{
    char dir[] = "/tmp/mote_test_tls_XXXXXX";
    char cert_path[64], key_path[64];
    mote_tls_config cfg = { 0 };
    tls_ctx *ctx = NULL;
    char err[256] = "";

    CHECK(mkdtemp(dir) != NULL);
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
    write_file(cert_path, cr->cert);
    write_file(key_path, cr->key);
    cfg.cert_file = cert_path;
    cfg.key_file = key_path;
    CHECK(tls_ctx_create(&ctx, &cfg, NULL, err, sizeof err) == 0);
    tls_ctx_destroy(ctx);

    cfg.key_file = cert_path; /* a certificate is not a key */
    expect_ctx_error(&cfg, cert_path);
    CHECK(unlink(cert_path) == 0);
    CHECK(unlink(key_path) == 0);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    struct creds cr, other;

    make_creds(&cr);
    make_creds(&other);
    CHECK(strcmp(cr.fingerprint, other.fingerprint) != 0);
    printf("selfsigned\n");
    test_selfsigned(&cr);
    printf("session\n");
    test_session(&cr);
    printf("server close_notify\n");
    test_server_close_notify(&cr);
    printf("peer EOF\n");
    test_peer_eof(&cr);
    printf("TLS 1.1 client\n");
    test_old_client_refused(&cr);
    printf("CBC-only client\n");
    test_cbc_client_refused(&cr);
    printf("renegotiation\n");
    test_renegotiation_refused(&cr);
    printf("renegotiation during a write\n");
    test_renegotiation_during_write(&cr);
    printf("alert queued before a write\n");
    test_alert_queued_before_write(&cr);
    printf("session resumption\n");
    test_session_resumption(&cr);
    printf("bad credentials\n");
    test_bad_credentials(&cr, &other);
    printf("files\n");
    test_files(&cr);
    free_creds(&cr);
    free_creds(&other);
    printf("test_tls: all passed\n");
    return 0;
}
