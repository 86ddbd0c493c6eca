/* tls_mbedtls.c - the TLS backend on mbedTLS 2.28 (TLS 1.2): server sessions over a transport
 * the caller owns (see tls.h), through mbedTLS's public API only. */
#include "tls/tls.h"
#include "tls/tls_common.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/config.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#if !defined(MBEDTLS_SSL_TICKET_C) || !defined(MBEDTLS_SSL_ALPN) || !defined(MBEDTLS_GCM_C)
#error "mote needs an mbedTLS built with MBEDTLS_SSL_TICKET_C, MBEDTLS_SSL_ALPN and MBEDTLS_GCM_C"
#endif

#define TICKET_LIFETIME_S 86400

/* Forward secrecy and AEAD only; ECDSA first because its handshakes are cheaper. */
static const int tls_ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};

static const mbedtls_ecp_group_id tls_curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE
};

static const char tls_drbg_personalisation[] = "mote tls server";

struct tls_ctx {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    mbedtls_ssl_ticket_context tickets;
    mbedtls_ssl_config conf;
    /* mbedtls_ssl_conf_alpn_protocols() keeps the pointer and wants it non-const. */
    const char *alpn[4];
    mote_allocator alloc;
};

#define TLS_READ_AHEAD 1024

struct tls_conn {
    mbedtls_ssl_context ssl;
    io_transport transport;
    tls_ctx *ctx;
    /* The handshake is over (mbedtls_ssl_handshake() returned 0). */
    int handshaken;
    /* The last send mbedTLS made through the transport was refused (IO_WANT_WRITE): a record
     * is still half-sent inside mbedTLS, which 2.28 does not let its public API ask about. */
    int send_blocked;
    /* Length passed to the mbedtls_ssl_write() that returned WANT_*, 0 when none is pending.
     * The retry must pass exactly this much: mbedTLS 2.28 then only flushes the pending record
     * and returns whatever length it is given, encrypted or not. */
    size_t retry_len;
    /* Bytes read from the socket ahead of mbedTLS, which asks for each record's 5-byte header
     * and then for its body: one recv() usually brings both, and several small records. */
    uint16_t ahead_off, ahead_len;
    unsigned char ahead[TLS_READ_AHEAD];
};

/* ------------------------------------------------------------------------------------------ */
/* Error reporting                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Writes "<what>: <mbedTLS description>" into err. */
static void write_mbedtls_err(char *err, size_t err_len, const char *what, int ret)
{
    char text[160];
    mbedtls_strerror(ret, text, sizeof text);
    tls_write_err(err, err_len, "%s: %s", what, text);
}

/* mbedTLS error codes add a high-level module code to a low-level one; out-of-memory can show
 * up in either half, and the caller deserves MOTE_ENOMEM rather than a "bad key" verdict. */
static int is_alloc_failure(int ret)
{
    int code = -ret;
    int high = code & 0xFF80;
    int low = code & 0x007F;
    return high == -MBEDTLS_ERR_X509_ALLOC_FAILED || high == -MBEDTLS_ERR_PK_ALLOC_FAILED ||
           high == -MBEDTLS_ERR_SSL_ALLOC_FAILED || high == -MBEDTLS_ERR_ECP_ALLOC_FAILED ||
           high == -MBEDTLS_ERR_CIPHER_ALLOC_FAILED || high == -MBEDTLS_ERR_MD_ALLOC_FAILED ||
           high == -MBEDTLS_ERR_PEM_ALLOC_FAILED || low == -MBEDTLS_ERR_ASN1_ALLOC_FAILED ||
           low == -MBEDTLS_ERR_MPI_ALLOC_FAILED;
}

static int setup_failure(int ret, char *err, size_t err_len, const char *what)
{
    write_mbedtls_err(err, err_len, what, ret);
    return is_alloc_failure(ret) ? MOTE_ENOMEM : MOTE_ETLS;
}

/* mbedTLS reports every file problem as "Read/write of file failed"; errno tells which. */
static int load_failure(int ret, int saved_errno, char *err, size_t err_len, const char *what)
{
    int file_error = ret == MBEDTLS_ERR_PK_FILE_IO_ERROR || ret == MBEDTLS_ERR_X509_FILE_IO_ERROR;
    if (file_error && saved_errno != 0) {
        tls_write_err(err, err_len, "%s: %s", what, strerror(saved_errno));
        return MOTE_ETLS;
    }
    return setup_failure(ret, err, err_len, what);
}

/* ------------------------------------------------------------------------------------------ */
/* Credentials                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static int parse_certificate(tls_ctx *ctx, const mote_tls_config *cfg)
{
    if (cfg->cert_file != NULL)
        return mbedtls_x509_crt_parse_file(&ctx->chain, cfg->cert_file);
    /* For PEM, mbedTLS counts the terminating NUL in the length. */
    return mbedtls_x509_crt_parse(&ctx->chain, (const unsigned char *)cfg->cert_pem,
                                  strlen(cfg->cert_pem) + 1);
}

static int load_certificate(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    char what[512];
    int ret, saved_errno;

    errno = 0;
    ret = parse_certificate(ctx, cfg);
    saved_errno = errno;
    if (ret == 0)
        return 0;
    if (cfg->cert_file != NULL)
        snprintf(what, sizeof what, "cannot read certificate file '%s'", cfg->cert_file);
    else
        snprintf(what, sizeof what, "cannot parse certificate PEM");
    if (ret > 0) {
        /* A positive count means some certificates of the chain were skipped. */
        tls_write_err(err, err_len, "%s: %d certificate(s) in the chain could not be parsed",
                      what, ret);
        return MOTE_ETLS;
    }
    return load_failure(ret, saved_errno, err, err_len, what);
}

static int parse_key(tls_ctx *ctx, const mote_tls_config *cfg)
{
    const char *pwd = cfg->key_password;
    if (cfg->key_file != NULL)
        return mbedtls_pk_parse_keyfile(&ctx->key, cfg->key_file, pwd);
    return mbedtls_pk_parse_key(&ctx->key, (const unsigned char *)cfg->key_pem,
                                strlen(cfg->key_pem) + 1, (const unsigned char *)pwd,
                                pwd != NULL ? strlen(pwd) : 0);
}

static int load_key(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    char what[512];
    int ret, saved_errno;

    errno = 0;
    ret = parse_key(ctx, cfg);
    saved_errno = errno;
    if (ret == 0)
        return 0;
    if (cfg->key_file != NULL)
        snprintf(what, sizeof what, "cannot read key file '%s'", cfg->key_file);
    else
        snprintf(what, sizeof what, "cannot parse key PEM");
    return load_failure(ret, saved_errno, err, err_len, what);
}

static int check_key_matches(tls_ctx *ctx, char *err, size_t err_len)
{
    int ret = mbedtls_pk_check_pair(&ctx->chain.pk, &ctx->key);
    if (ret == 0)
        return 0;
    if (is_alloc_failure(ret))
        return setup_failure(ret, err, err_len, "cannot compare key and certificate");
    tls_write_err(err, err_len, "the private key does not match the certificate");
    return MOTE_ETLS;
}

static int load_credentials(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    int ret = tls_check_config(cfg, err, err_len);
    if (ret == 0 && cfg->min_version == MOTE_TLS_1_3) {
        tls_write_err(err, err_len, "TLS 1.3 only: mbedTLS %s has no TLS 1.3 (build with "
                      "-DMOTE_TLS=openssl)", MBEDTLS_VERSION_STRING);
        ret = MOTE_ETLS;
    }
    if (ret == 0)
        ret = load_certificate(ctx, cfg, err, err_len);
    if (ret == 0)
        ret = load_key(ctx, cfg, err, err_len);
    if (ret == 0)
        ret = check_key_matches(ctx, err, err_len);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */
/* ------------------------------------------------------------------------------------------ */

static int seed_rng(tls_ctx *ctx, char *err, size_t err_len)
{
    int ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy,
                                    (const unsigned char *)tls_drbg_personalisation,
                                    sizeof tls_drbg_personalisation - 1);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot seed the random generator");
    return 0;
}

static void restrict_protocol(mbedtls_ssl_config *conf)
{
    /* TLS 1.2 exactly: 1.3 is not in 2.28, and 1.0/1.1 lack AEAD suites. */
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(conf, tls_ciphersuites);
    mbedtls_ssl_conf_curves(conf, tls_curves);
    /* A client-initiated renegotiation costs the server a full handshake on demand (a cheap
     * DoS lever) and buys HTTP/1.1 nothing. */
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(conf, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
}

static int enable_session_tickets(tls_ctx *ctx, char *err, size_t err_len)
{
    int ret = mbedtls_ssl_ticket_setup(&ctx->tickets, mbedtls_ctr_drbg_random, &ctx->drbg,
                                       MBEDTLS_CIPHER_AES_256_GCM, TICKET_LIFETIME_S);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot set up session tickets");
    mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &ctx->tickets);
    return 0;
}

static int build_config(tls_ctx *ctx, char *err, size_t err_len)
{
    mbedtls_ssl_config *conf = &ctx->conf;
    int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot set TLS defaults");
    restrict_protocol(conf);
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &ctx->drbg);

    tls_ctx_offer_h2(ctx, 0);
    ret = mbedtls_ssl_conf_alpn_protocols(conf, ctx->alpn);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot set the ALPN protocol list");

    ret = mbedtls_ssl_conf_own_cert(conf, &ctx->chain, &ctx->key);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot use the certificate and key");
    return enable_session_tickets(ctx, err, err_len);
}

static void init_ctx(tls_ctx *ctx)
{
    mbedtls_entropy_init(&ctx->entropy);
    mbedtls_ctr_drbg_init(&ctx->drbg);
    mbedtls_x509_crt_init(&ctx->chain);
    mbedtls_pk_init(&ctx->key);
    mbedtls_ssl_ticket_init(&ctx->tickets);
    mbedtls_ssl_config_init(&ctx->conf);
}

int tls_ctx_create(tls_ctx **out, const mote_tls_config *cfg, const mote_allocator *alloc,
                   char *err, size_t err_len)
{
    mote_allocator a;
    int ret;
    tls_ctx *ctx = tls_ctx_alloc(cfg, alloc, sizeof *ctx, &a, &ret, err, err_len);

    *out = NULL;
    if (ctx == NULL)
        return ret;
    ctx->alloc = a;
    /* Everything is initialised up front so one destroy path serves every failure. */
    init_ctx(ctx);
    ret = seed_rng(ctx, err, err_len);
    if (ret == 0)
        ret = load_credentials(ctx, cfg, err, err_len);
    if (ret == 0)
        ret = build_config(ctx, err, err_len);
    if (ret != 0) {
        tls_ctx_destroy(ctx);
        return ret;
    }
    *out = ctx;
    return 0;
}

void tls_ctx_destroy(tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_ssl_ticket_free(&ctx->tickets);
    mbedtls_pk_free(&ctx->key);
    mbedtls_x509_crt_free(&ctx->chain);
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
    ctx->alloc.free(ctx->alloc.ctx, ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Socket I/O for mbedTLS                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* The transport's codes as mbedTLS's: a failed transport reads as a peer gone. */
static int transport_error_to_mbedtls(long rc)
{
    if (rc == IO_WANT_READ) return MBEDTLS_ERR_SSL_WANT_READ;
    if (rc == IO_WANT_WRITE) return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_CONN_RESET;
}

static int bio_send(void *bio, const unsigned char *buf, size_t len)
{
    tls_conn *c = bio;
    long n;

    if (len > INT_MAX)
        len = INT_MAX;
    n = c->transport.send(c->transport.handle, buf, len);
    c->send_blocked = n <= 0;
    if (n <= 0)
        return transport_error_to_mbedtls(n);
    return (int)n;
}

static int recv_into(const tls_conn *c, unsigned char *buf, size_t len)
{
    long n = c->transport.recv(c->transport.handle, buf, len);
    if (n == IO_CLOSED)
        return 0; /* EOF, which mbedTLS reports as MBEDTLS_ERR_SSL_CONN_EOF */
    if (n <= 0)
        return transport_error_to_mbedtls(n);
    return (int)n;
}

static int bio_recv(void *bio, unsigned char *buf, size_t len)
{
    tls_conn *c = bio;

    if (len > INT_MAX)
        len = INT_MAX;
    if (c->ahead_len == 0) {
        int n;
        if (len >= sizeof c->ahead)
            return recv_into(c, buf, len); /* a big record's body: no copy */
        n = recv_into(c, c->ahead, sizeof c->ahead);
        if (n <= 0)
            return n;
        c->ahead_off = 0;
        c->ahead_len = (uint16_t)n;
    }
    if (len > c->ahead_len)
        len = c->ahead_len;
    memcpy(buf, c->ahead + c->ahead_off, len);
    c->ahead_off = (uint16_t)(c->ahead_off + len);
    c->ahead_len = (uint16_t)(c->ahead_len - len);
    return (int)len;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The connection keeps a pointer to ctx->conf, so ctx must outlive it. */
int tls_conn_create(tls_ctx *ctx, const io_transport *transport, tls_conn **out)
{
    tls_conn *c;
    int ret;

    *out = NULL;
    c = ctx->alloc.alloc(ctx->alloc.ctx, sizeof *c);
    if (c == NULL)
        return MOTE_ENOMEM;
    memset(c, 0, sizeof *c);
    mbedtls_ssl_init(&c->ssl);
    c->transport = *transport;
    c->ctx = ctx;
    ret = mbedtls_ssl_setup(&c->ssl, &ctx->conf);
    if (ret != 0) {
        tls_conn_destroy(c);
        return is_alloc_failure(ret) ? MOTE_ENOMEM : MOTE_ETLS;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    *out = c;
    return 0;
}

void tls_conn_destroy(tls_conn *c)
{
    if (c == NULL)
        return;
    mbedtls_ssl_free(&c->ssl);
    c->ctx->alloc.free(c->ctx->alloc.ctx, c);
}

static int is_want(int ret)
{
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
           ret == MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS || ret == MBEDTLS_ERR_SSL_CRYPTO_IN_PROGRESS;
}

/* IO_WANT_READ/WRITE for the retryable mbedTLS codes, IO_FAILED for the rest. */
static int map_error(int ret)
{
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return IO_WANT_WRITE;
    /* The async codes only occur with async private-key callbacks, which we do not install. */
    return is_want(ret) ? IO_WANT_READ : IO_FAILED;
}

int tls_handshake(tls_conn *c)
{
    int ret = mbedtls_ssl_handshake(&c->ssl);
    if (ret != 0)
        return map_error(ret);
    c->handshaken = 1;
    return 0;
}

static int is_peer_gone(int ret)
{
    return ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
           ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_NET_CONN_RESET;
}

long tls_read(tls_conn *c, void *buf, size_t len)
{
    int ret;

    /* mbedTLS would answer 0, which is what it says at EOF too. */
    if (len == 0)
        return 0;
    if (len > INT_MAX)
        len = INT_MAX;
    /* A ClientHello after the handshake is refused inside mbedtls_ssl_read() with a
     * no_renegotiation warning alert; when the socket is full that alert waits (IO_WANT_WRITE)
     * and tls_write() sends it first. */
    ret = mbedtls_ssl_read(&c->ssl, buf, len);
    if (ret > 0)
        return ret;
    return is_peer_gone(ret) ? IO_CLOSED : map_error(ret);
}

/* A record left half-sent by a call other than tls_write() (the no_renegotiation alert that
 * tls_read() may send) must go out first: mbedtls_ssl_write() would flush it and then claim to
 * have sent our bytes without encrypting them. That is how it is flushed here: with our bytes
 * offered and, on success, known not to have been taken. */
static int flush_foreign_output(tls_conn *c, const void *buf, size_t len)
{
    int ret;
    if (!c->send_blocked)
        return 0;
    ret = mbedtls_ssl_write(&c->ssl, buf, len);
    return ret > 0 ? 0 : ret;
}

/* Records the outcome of mbedtls_ssl_write() called with n bytes. */
static long finish_write(tls_conn *c, int ret, size_t n)
{
    if (ret > 0) {
        c->retry_len = 0;
        return ret;
    }
    if (!is_want(ret))
        return IO_FAILED;
    /* A WANT_* from a handshake still in progress has consumed none of the bytes. */
    c->retry_len = c->handshaken ? n : 0;
    return map_error(ret);
}

static long retry_write(tls_conn *c, const void *buf, size_t len)
{
    size_t n = c->retry_len;

    /* The caller promised the same leading bytes and at least as many of them. */
    assert(len >= n);
    if (len < n)
        return IO_FAILED;
    if (!c->send_blocked) {
        /* tls_read() got a ClientHello meanwhile: mbedTLS flushed our record in place of
         * sending its no_renegotiation alert, so the bytes are out. */
        c->retry_len = 0;
        return (long)n;
    }
    return finish_write(c, mbedtls_ssl_write(&c->ssl, buf, n), n);
}

static long fresh_write(tls_conn *c, const void *buf, size_t len)
{
    int max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
    int ret;

    if (max <= 0)
        return IO_FAILED;
    ret = flush_foreign_output(c, buf, len);
    if (ret != 0)
        return map_error(ret);
    if (len > (size_t)max)
        len = (size_t)max;
    return finish_write(c, mbedtls_ssl_write(&c->ssl, buf, len), len);
}

long tls_write(tls_conn *c, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (c->retry_len != 0)
        return retry_write(c, buf, len);
    return fresh_write(c, buf, len);
}

size_t tls_pending(const tls_conn *c)
{
    return mbedtls_ssl_get_bytes_avail(&c->ssl) + c->ahead_len;
}

void tls_close_notify(tls_conn *c)
{
    /* Best effort, never retried: a full socket means the peer is not reading anyway. (With a
     * record still half-sent, mbedTLS flushes that instead of sending the alert.) */
    (void)mbedtls_ssl_close_notify(&c->ssl);
}

const char *tls_backend(void)
{
    return "mbedTLS " MBEDTLS_VERSION_STRING;
}

void tls_ctx_offer_h2(tls_ctx *ctx, int on)
{
    /* the list the configuration points at, rewritten in place: sessions read it only while
     * they handshake, on this listener's thread */
    size_t i = 0;
    if (on) ctx->alpn[i++] = "h2";
    ctx->alpn[i++] = "http/1.1";
    ctx->alpn[i++] = "http/1.0";
    ctx->alpn[i] = NULL;
}

const char *tls_alpn(const tls_conn *c)
{
    return mbedtls_ssl_get_alpn_protocol(&c->ssl);
}
