/* tls_openssl.c - the TLS backend on OpenSSL 3 (TLS 1.3, and 1.2): server sessions over a
 * transport the caller owns (see tls.h). OpenSSL reads and writes through a BIO of ours whose
 * calls are the transport's, so the same non-blocking filter runs over a socket, an lwIP pcb
 * or a test's buffers. */
#include "tls/tls.h"
#include "tls/tls_common.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "mote's OpenSSL backend needs OpenSSL 3 (Debian's libssl-dev)"
#endif

/* TLS 1.2: forward secrecy and AEAD only, ECDSA first (cheaper handshakes). TLS 1.3's suites
 * are all AEAD with forward secrecy: OpenSSL's defaults. */
#define TLS12_CIPHERS                                                                         \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

struct tls_ctx {
    SSL_CTX *ssl;
    BIO_METHOD *bio;              /* the transport as a BIO, one per context */
    int offer_h2;
    mote_allocator alloc;
};

struct tls_conn {
    SSL *ssl;
    io_transport transport;
    tls_ctx *ctx;
};

/* ---- errors ------------------------------------------------------------------------------ */

/* "<what>: <OpenSSL's reason>"; MOTE_ENOMEM when OpenSSL ran out of memory. */
static int openssl_failure(char *err, size_t err_len, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[200];
    int rc = ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? MOTE_ENOMEM : MOTE_ETLS;
    ERR_error_string_n(e, reason, sizeof reason);
    tls_write_err(err, err_len, "%s: %s", what, e ? reason : "unknown error");
    ERR_clear_error();
    return rc;
}

/* ---- credentials ------------------------------------------------------------------------- */

/* The chain from PEM text: the first certificate is the server's, the rest its chain. */
static int use_chain_pem(SSL_CTX *ssl, const char *pem)
{
    BIO *in = BIO_new_mem_buf(pem, -1);
    X509 *cert = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
    int ok = cert && SSL_CTX_use_certificate(ssl, cert) == 1 && SSL_CTX_clear_chain_certs(ssl);
    X509_free(cert);
    while (ok && (cert = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        ok = SSL_CTX_add0_chain_cert(ssl, cert) == 1;
        if (!ok) X509_free(cert);
    }
    /* the end of the PEM text reads as an error: not one */
    if (ok && ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE) ERR_clear_error();
    BIO_free(in);
    return ok;
}

static int use_key_pem(SSL_CTX *ssl, const char *pem, const char *password)
{
    BIO *in = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, (void *)(uintptr_t)password)
                       : NULL;
    int ok = key && SSL_CTX_use_PrivateKey(ssl, key) == 1;
    EVP_PKEY_free(key);
    BIO_free(in);
    return ok;
}

static int load_credentials(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    char what[512];
    int rc = tls_check_config(cfg, err, err_len);
    if (rc != 0) return rc;
    if (cfg->min_version == MOTE_TLS_1_3 &&
        SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_3_VERSION) != 1)
        return openssl_failure(err, err_len, "cannot require TLS 1.3");
    if (cfg->cert_file ? SSL_CTX_use_certificate_chain_file(ctx->ssl, cfg->cert_file) != 1
                       : !use_chain_pem(ctx->ssl, cfg->cert_pem)) {
        if (cfg->cert_file) snprintf(what, sizeof what, "cannot read certificate file '%s'",
                                     cfg->cert_file);
        else snprintf(what, sizeof what, "cannot parse certificate PEM");
        return openssl_failure(err, err_len, what);
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx->ssl, (void *)(uintptr_t)cfg->key_password);
    if (cfg->key_file ? SSL_CTX_use_PrivateKey_file(ctx->ssl, cfg->key_file, SSL_FILETYPE_PEM) != 1
                      : !use_key_pem(ctx->ssl, cfg->key_pem, cfg->key_password)) {
        if (cfg->key_file) snprintf(what, sizeof what, "cannot read key file '%s'",
                                    cfg->key_file);
        else snprintf(what, sizeof what, "cannot parse key PEM");
        return openssl_failure(err, err_len, what);
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx->ssl, NULL);
    if (SSL_CTX_check_private_key(ctx->ssl) != 1) {
        ERR_clear_error();
        tls_write_err(err, err_len, "the private key does not match the certificate");
        return MOTE_ETLS;
    }
    return 0;
}

/* ---- ALPN -------------------------------------------------------------------------------- */

/* Whether the client's list (RFC 7301 wire format) holds `proto`; where, in *at. */
static int client_offers(const unsigned char *in, unsigned in_len, const char *proto,
                         const unsigned char **at)
{
    size_t n = strlen(proto);
    unsigned i = 0;
    while (i < in_len) {
        unsigned len = in[i];
        if (len > in_len - i - 1) return 0;
        if (len == n && memcmp(in + i + 1, proto, n) == 0) {
            *at = in + i + 1;
            return 1;
        }
        i += 1 + len;
    }
    return 0;
}

/* h2 where the listener offers it, then http/1.1; a client offering neither goes on without
 * ALPN (as it would with a server that has none). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *in, unsigned in_len, void *arg)
{
    const tls_ctx *ctx = arg;
    (void)ssl;
    if (ctx->offer_h2 && client_offers(in, in_len, "h2", out)) {
        *out_len = 2;
        return SSL_TLSEXT_ERR_OK;
    }
    if (client_offers(in, in_len, "http/1.1", out)) {
        *out_len = 8;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* ---- the transport as a BIO ---------------------------------------------------------------- */

static int bio_write(BIO *b, const char *buf, int len)
{
    tls_conn *c = BIO_get_data(b);
    long n = c->transport.send(c->transport.handle, buf, (size_t)len);
    BIO_clear_retry_flags(b);
    if (n > 0) return (int)n;
    if (n == IO_WANT_WRITE || n == IO_WANT_READ) BIO_set_retry_write(b);
    return -1;
}

static int bio_read(BIO *b, char *buf, int len)
{
    tls_conn *c = BIO_get_data(b);
    long n = c->transport.recv(c->transport.handle, buf, (size_t)len);
    BIO_clear_retry_flags(b);
    if (n > 0) return (int)n;
    if (n == IO_CLOSED) return 0;
    if (n == IO_WANT_READ || n == IO_WANT_WRITE) BIO_set_retry_read(b);
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing is buffered here */
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *make_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mote transport");
    if (m && (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
              !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ---- the context ------------------------------------------------------------------------- */

static int configure(tls_ctx *ctx, char *err, size_t err_len)
{
    SSL_CTX *s = ctx->ssl;
    if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(s, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(s, TLS_GROUPS) != 1)
        return openssl_failure(err, err_len, "cannot configure TLS");
    /* no renegotiation (a full handshake on the client's demand), no compression (CRIME); an
     * EOF without close_notify ends a connection as a close does; the server picks the suite */
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* a write may end after any whole record; its retry may come from another address */
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    /* one recv() brings a record's header and body, and often several records */
    SSL_CTX_set_read_ahead(s, 1);
    /* resumption by tickets (keys OpenSSL makes and rotates), one per handshake; no 0-RTT */
    SSL_CTX_set_num_tickets(s, 1);
    SSL_CTX_set_max_early_data(s, 0);
    SSL_CTX_set_alpn_select_cb(s, select_alpn, ctx);
    return 0;
}

int tls_ctx_create(tls_ctx **out, const mote_tls_config *cfg, const mote_allocator *alloc,
                   char *err, size_t err_len)
{
    mote_allocator a;
    int rc;
    tls_ctx *ctx = tls_ctx_alloc(cfg, alloc, sizeof *ctx, &a, &rc, err, err_len);
    *out = NULL;
    if (ctx == NULL) return rc;
    ctx->alloc = a;
    ERR_clear_error();
    ctx->ssl = SSL_CTX_new(TLS_server_method());
    ctx->bio = make_bio_method();
    rc = ctx->ssl && ctx->bio ? configure(ctx, err, err_len)
                              : openssl_failure(err, err_len, "cannot create a TLS context");
    if (rc == 0) rc = load_credentials(ctx, cfg, err, err_len);
    if (rc != 0) {
        tls_ctx_destroy(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

void tls_ctx_destroy(tls_ctx *ctx)
{
    if (ctx == NULL) return;
    SSL_CTX_free(ctx->ssl);
    BIO_meth_free(ctx->bio);
    ctx->alloc.free(ctx->alloc.ctx, ctx);
}

void tls_ctx_offer_h2(tls_ctx *ctx, int on)
{
    ctx->offer_h2 = on;
}

/* ---- connections ------------------------------------------------------------------------- */

int tls_conn_create(tls_ctx *ctx, const io_transport *transport, tls_conn **out)
{
    tls_conn *c;
    BIO *b;
    *out = NULL;
    c = ctx->alloc.alloc(ctx->alloc.ctx, sizeof *c);
    if (c == NULL) return MOTE_ENOMEM;
    memset(c, 0, sizeof *c);
    c->transport = *transport;
    c->ctx = ctx;
    ERR_clear_error();
    c->ssl = SSL_new(ctx->ssl);
    b = c->ssl ? BIO_new(ctx->bio) : NULL;
    if (b == NULL) {
        ERR_clear_error();
        tls_conn_destroy(c);
        return MOTE_ENOMEM;
    }
    BIO_set_data(b, c);
    SSL_set_bio(c->ssl, b, b);
    SSL_set_accept_state(c->ssl);
    *out = c;
    return 0;
}

void tls_conn_destroy(tls_conn *c)
{
    if (c == NULL) return;
    SSL_free(c->ssl);
    c->ctx->alloc.free(c->ctx->alloc.ctx, c);
}

/* An OpenSSL call's failure as an IO_* code; the error queue is left empty. */
static int map_error(tls_conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ) return IO_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE) return IO_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN) return IO_CLOSED;
    return IO_FAILED;
}

int tls_handshake(tls_conn *c)
{
    int ret;
    ERR_clear_error();
    ret = SSL_do_handshake(c->ssl);
    return ret == 1 ? 0 : map_error(c, ret);
}

long tls_read(tls_conn *c, void *buf, size_t len)
{
    size_t n = 0;
    int ret;
    if (len == 0) return 0;
    ERR_clear_error();
    ret = SSL_read_ex(c->ssl, buf, len, &n);
    if (ret == 1) return (long)n;
    return map_error(c, ret);
}

long tls_write(tls_conn *c, const void *buf, size_t len)
{
    size_t n = 0;
    int ret;
    if (len == 0) return 0;
    ERR_clear_error();
    ret = SSL_write_ex(c->ssl, buf, len, &n);
    return ret == 1 ? (long)n : map_error(c, ret);
}

size_t tls_pending(const tls_conn *c)
{
    int n = SSL_pending(c->ssl);
    /* records read ahead but not yet decrypted count too: tls_read() gets to them */
    return n > 0 ? (size_t)n : (size_t)(SSL_has_pending(c->ssl) ? 1 : 0);
}

void tls_close_notify(tls_conn *c)
{
    ERR_clear_error();
    if (SSL_is_init_finished(c->ssl)) (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
}

const char *tls_alpn(const tls_conn *c)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    if (len == 2 && memcmp(p, "h2", 2) == 0) return "h2";
    if (len == 8 && memcmp(p, "http/1.1", 8) == 0) return "http/1.1";
    return NULL;
}

const char *tls_backend(void)
{
    return "OpenSSL " OPENSSL_VERSION_STR; /* the version built against */
}
