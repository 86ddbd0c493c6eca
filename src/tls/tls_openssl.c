/* tls_openssl.c - the TLS backend on OpenSSL 3 (TLS 1.3, and 1.2): server sessions over a
 * transport the caller owns (see tls.h). OpenSSL reads and writes through a BIO of ours whose
 * calls are the transport's, so the same non-blocking filter runs over a socket, an lwIP pcb
 * or a test's buffers. */
#include "tls/tls.h"
#include "tls/tls_common.h"
#include "tls/tls_tickets.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "mote's OpenSSL backend needs OpenSSL 3 (Debian's libssl-dev)"
#endif

/* TLS 1.2: forward secrecy and AEAD only, ECDSA first (cheaper handshakes). TLS 1.3's suites
 * are all AEAD with forward secrecy: OpenSSL's defaults. */
#define TLS12_CIPHERS                                                                         \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"
/* Sessions kept by id, per context, for clients that take no tickets (TLS 1.2). */
#define TLS_SESSION_CACHE 1024

/* A server name (SNI) and the context with its certificates. */
typedef struct named_ctx {
    char *name;
    SSL_CTX *ssl;
} named_ctx;

struct tls_ctx {
    SSL_CTX *ssl;                 /* the default certificates; every session starts here */
    named_ctx *names;             /* the others, by server name, in the order given */
    size_t name_count;
    BIO_METHOD *bio;              /* the transport as a BIO, one per context */
    int offer_h2;
    int client_auth;              /* enum mote_tls_client_auth */
    unsigned refs;                /* the creator's hold and one per session */
    tls_tickets *tickets;         /* the keys of session tickets, shared by the listener's */
    mote_allocator alloc;
};

struct tls_conn {
    SSL *ssl;
    io_transport transport;
    tls_ctx *ctx;
    tls_peer_block *peer;         /* the verified client certificate, once handshaken */
    unsigned long failure;        /* OpenSSL's error, when a call failed */
    int alert;                    /* the alert received (-1: none) */
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

/* A chain and its key into `ssl`, beside any of another key type it holds (RSA and ECDSA). */
static int use_cert(SSL_CTX *ssl, const mote_tls_cert *c, char *err, size_t err_len)
{
    char what[512];
    if (c->cert_file ? SSL_CTX_use_certificate_chain_file(ssl, c->cert_file) != 1
                     : !use_chain_pem(ssl, c->cert_pem)) {
        if (c->cert_file) snprintf(what, sizeof what, "cannot read certificate file '%s'",
                                   c->cert_file);
        else snprintf(what, sizeof what, "cannot parse certificate PEM");
        return openssl_failure(err, err_len, what);
    }
    SSL_CTX_set_default_passwd_cb_userdata(ssl, (void *)(uintptr_t)c->key_password);
    if (c->key_file ? SSL_CTX_use_PrivateKey_file(ssl, c->key_file, SSL_FILETYPE_PEM) != 1
                    : !use_key_pem(ssl, c->key_pem, c->key_password)) {
        SSL_CTX_set_default_passwd_cb_userdata(ssl, NULL);
        if (c->key_file) snprintf(what, sizeof what, "cannot read key file '%s'", c->key_file);
        else snprintf(what, sizeof what, "cannot parse key PEM");
        return openssl_failure(err, err_len, what);
    }
    SSL_CTX_set_default_passwd_cb_userdata(ssl, NULL);
    /* OpenSSL reads the extensions once and keeps the verdict: a certificate it could not
     * read them from (malformed, or memory ran out meanwhile) would fail every handshake */
    if (X509_get_extension_flags(SSL_CTX_get0_certificate(ssl)) & EXFLAG_INVALID) {
        ERR_clear_error();
        tls_write_err(err, err_len, "cannot read the extensions of certificate %s",
                      c->cert_file ? c->cert_file : "cert_pem");
        return MOTE_ETLS;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        ERR_clear_error();
        tls_write_err(err, err_len, "the private key of %s does not match the certificate",
                      c->key_file ? c->key_file : "key_pem");
        return MOTE_ETLS;
    }
    return 0;
}

/* The CAs client certificates must chain to, also named to clients in CertificateRequest. */
static int use_client_cas(SSL_CTX *ssl, const mote_tls_config *cfg, char *err, size_t err_len)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ssl);
    STACK_OF(X509_INFO) *infos = NULL;
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    BIO *in = cfg->client_ca_file ? BIO_new_file(cfg->client_ca_file, "r")
                                  : BIO_new_mem_buf(cfg->client_ca_pem, -1);
    int i, count = 0, ok = in && names;
    if (ok) infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL);
    for (i = 0; infos && ok && i < sk_X509_INFO_num(infos); i++) {
        X509 *ca = sk_X509_INFO_value(infos, i)->x509;
        X509_NAME *name = ca ? X509_NAME_dup(X509_get_subject_name(ca)) : NULL;
        if (!ca) continue;
        ok = name && X509_STORE_add_cert(store, ca) == 1 && sk_X509_NAME_push(names, name) > 0;
        if (!ok) X509_NAME_free(name);
        count += ok;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(in);
    if (ok && count > 0) {
        SSL_CTX_set_client_CA_list(ssl, names);
        return 0;
    }
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    if (!ok || ERR_peek_last_error() != 0)
        return openssl_failure(err, err_len, cfg->client_ca_file ? "cannot read client_ca_file"
                                                                 : "cannot parse client_ca_pem");
    tls_write_err(err, err_len, "no CA certificate in %s",
                  cfg->client_ca_file ? cfg->client_ca_file : "client_ca_pem");
    return MOTE_ETLS;
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

/* ---- session tickets ---------------------------------------------------------------------- */

/* Seals (enc) or opens a ticket as OpenSSL's own keys would (AES-256-CBC, HMAC-SHA256), with
 * the listener's rotating keys: 1, 2 to have the client take a new ticket, 0 for a key that
 * is gone (a full handshake), -1 on failure. */
static int seal_ticket(SSL *ssl, unsigned char name[16], unsigned char *iv,
                       EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int enc)
{
    const tls_conn *c = SSL_get_app_data(ssl);
    tls_ticket_key k;
    OSSL_PARAM params[3];
    int found = TLS_TICKET_CURRENT, ok;
    if (enc) {
        tls_tickets_current(c->ctx->tickets, tls_tickets_now(), &k);
        memcpy(name, k.name, 16);
        ok = RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1 &&
             EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    } else {
        found = tls_tickets_find(c->ctx->tickets, name, tls_tickets_now(), &k);
        if (found == TLS_TICKET_UNKNOWN) return 0;
        ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.mac, sizeof k.mac);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    ok = ok && EVP_MAC_CTX_set_params(mac, params) == 1;
    OPENSSL_cleanse(&k, sizeof k);
    return ok ? found : -1;
}

/* One SSL_CTX of the listener (the default one, or a server name's) set up as every other. */
static int configure(tls_ctx *ctx, SSL_CTX *s, const mote_tls_config *cfg, char *err,
                     size_t err_len)
{
    static const unsigned char session_context[] = "mote";
    int verify = cfg->client_auth == MOTE_TLS_CLIENT_REQUIRED
                     ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                     : cfg->client_auth == MOTE_TLS_CLIENT_OPTIONAL ? SSL_VERIFY_PEER
                                                                    : SSL_VERIFY_NONE;
    if (SSL_CTX_set_min_proto_version(s, cfg->min_version == MOTE_TLS_1_3 ? TLS1_3_VERSION
                                                                          : TLS1_2_VERSION) != 1 ||
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
    /* resumption by tickets (tls_tickets.h's keys), one per handshake, and by session id for
     * clients that take none, in a bounded cache; no 0-RTT */
    SSL_CTX_set_num_tickets(s, 1);
    SSL_CTX_set_max_early_data(s, 0);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(s, seal_ticket);
    SSL_CTX_sess_set_cache_size(s, TLS_SESSION_CACHE);
    SSL_CTX_set_timeout(s, TLS_TICKET_ROTATE_S);
    SSL_CTX_set_alpn_select_cb(s, select_alpn, ctx);
    /* sessions resume across the listener's server names (and must name a context when
     * client certificates are verified) */
    if (SSL_CTX_set_session_id_context(s, session_context, sizeof session_context - 1) != 1)
        return openssl_failure(err, err_len, "cannot configure TLS");
    SSL_CTX_set_verify(s, verify, NULL);
    SSL_CTX_set_verify_depth(s, 8);
    return verify != SSL_VERIFY_NONE ? use_client_cas(s, cfg, err, err_len) : 0;
}

/* ---- server names (SNI) --------------------------------------------------------------------- */

static SSL_CTX *ctx_for_name(const tls_ctx *ctx, const char *name)
{
    size_t i, len = strlen(name);
    for (i = 0; i < ctx->name_count; i++)
        if (tls_name_matches(ctx->names[i].name, name, len)) return ctx->names[i].ssl;
    return NULL;
}

/* The context of the server name the client asked for; without one, or for a name no entry
 * has, the default goes on. */
static int select_server_name(SSL *ssl, int *alert, void *arg)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *chosen = name ? ctx_for_name(arg, name) : NULL;
    (void)alert;
    if (chosen && SSL_set_SSL_CTX(ssl, chosen) == NULL) return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *new_ssl_ctx(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (s == NULL) {
        openssl_failure(err, err_len, "cannot create a TLS context");
        return NULL;
    }
    if (configure(ctx, s, cfg, err, err_len) != 0) {
        SSL_CTX_free(s);
        return NULL;
    }
    return s;
}

/* The SSL_CTX for certs[i]'s server name: one made already for the same name, or a new one. */
static SSL_CTX *name_ctx(tls_ctx *ctx, const mote_tls_config *cfg, const char *name,
                         int *rc, char *err, size_t err_len)
{
    named_ctx *n;
    size_t i, len = strlen(name);
    for (i = 0; i < ctx->name_count; i++)
        if (strcmp(ctx->names[i].name, name) == 0) return ctx->names[i].ssl;
    n = &ctx->names[ctx->name_count];
    n->name = ctx->alloc.alloc(ctx->alloc.ctx, len + 1);
    if (n->name == NULL) {
        tls_write_err(err, err_len, "out of memory for the TLS context");
        *rc = MOTE_ENOMEM;
        return NULL;
    }
    memcpy(n->name, name, len + 1);
    n->ssl = new_ssl_ctx(ctx, cfg, err, err_len);
    if (n->ssl == NULL) {
        ctx->alloc.free(ctx->alloc.ctx, n->name);
        *rc = MOTE_ETLS;
        return NULL;
    }
    ctx->name_count++;
    return n->ssl;
}

static int load_certificates(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    mote_tls_cert own = tls_default_cert(cfg);
    size_t i;
    int rc = use_cert(ctx->ssl, &own, err, err_len);
    if (rc == 0 && cfg->cert_count) {
        ctx->names = ctx->alloc.alloc(ctx->alloc.ctx, cfg->cert_count * sizeof *ctx->names);
        if (ctx->names == NULL) {
            tls_write_err(err, err_len, "out of memory for the TLS context");
            return MOTE_ENOMEM;
        }
    }
    for (i = 0; rc == 0 && i < cfg->cert_count; i++) {
        const mote_tls_cert *c = &cfg->certs[i];
        SSL_CTX *s = tls_cert_is_default(c) ? ctx->ssl
                                            : name_ctx(ctx, cfg, c->server_name, &rc, err, err_len);
        if (s) rc = use_cert(s, c, err, err_len);
    }
    if (rc == 0 && ctx->name_count) {
        SSL_CTX_set_tlsext_servername_callback(ctx->ssl, select_server_name);
        SSL_CTX_set_tlsext_servername_arg(ctx->ssl, ctx);
    }
    return rc;
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
    ctx->refs = 1;
    ERR_clear_error();
    rc = tls_check_config(cfg, err, err_len);
    if (rc == 0 && (ctx->tickets = tls_tickets_create(&a, tls_tickets_now())) == NULL) {
        tls_write_err(err, err_len, "cannot make session ticket keys");
        rc = MOTE_ENOMEM;
    }
    if (rc == 0) {
        ctx->client_auth = (int)cfg->client_auth;
        ctx->bio = make_bio_method();
        ctx->ssl = ctx->bio ? new_ssl_ctx(ctx, cfg, err, err_len) : NULL;
        if (ctx->bio == NULL) rc = openssl_failure(err, err_len, "cannot create a TLS context");
        else if (ctx->ssl == NULL) rc = MOTE_ETLS;
    }
    if (rc == 0) rc = load_certificates(ctx, cfg, err, err_len);
    if (rc != 0) {
        tls_ctx_destroy(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

static void ctx_unref(tls_ctx *ctx)
{
    size_t i;
    if (--ctx->refs > 0) return;
    for (i = 0; i < ctx->name_count; i++) {
        SSL_CTX_free(ctx->names[i].ssl);
        ctx->alloc.free(ctx->alloc.ctx, ctx->names[i].name);
    }
    ctx->alloc.free(ctx->alloc.ctx, ctx->names);
    SSL_CTX_free(ctx->ssl);
    BIO_meth_free(ctx->bio);
    tls_tickets_unref(ctx->tickets);
    ctx->alloc.free(ctx->alloc.ctx, ctx);
}

void tls_ctx_share_tickets(tls_ctx *ctx, const tls_ctx *from)
{
    tls_tickets_ref(from->tickets);
    tls_tickets_unref(ctx->tickets);
    ctx->tickets = from->tickets;
}

void tls_ctx_destroy(tls_ctx *ctx)
{
    if (ctx != NULL) ctx_unref(ctx);
}

void tls_ctx_offer_h2(tls_ctx *ctx, int on)
{
    ctx->offer_h2 = on;
}

/* ---- the client's certificate, and why a session failed ----------------------------------- */

/* The name's attributes in certificate order, "O=Acme, CN=dev-17", NUL-terminated in out. */
static int name_text(const X509_NAME *name, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    unsigned long flags = ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
                          XN_FLAG_DUMP_UNKNOWN_FIELDS;
    int n = b && X509_NAME_print_ex(b, name, 0, flags) >= 0 ? BIO_read(b, out, (int)len) : -1;
    BIO_free(b);
    if (n < 0) n = 0;
    if ((size_t)n >= len) return -1; /* too long to keep whole */
    out[n] = '\0';
    return 0;
}

static void san_text(X509 *cert, tls_san_list *l)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int i;
    for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *v = g->type == GEN_DNS     ? g->d.dNSName
                               : g->type == GEN_EMAIL ? g->d.rfc822Name
                               : g->type == GEN_URI   ? g->d.uniformResourceIdentifier
                               : g->type == GEN_IPADD ? g->d.iPAddress
                                                      : NULL;
        const char *kind = g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ? "email" : "URI";
        if (v == NULL) continue;
        if (g->type == GEN_IPADD)
            tls_san_add_ip(l, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
        else
            tls_san_add(l, kind, (const char *)ASN1_STRING_get0_data(v),
                        (size_t)ASN1_STRING_length(v));
    }
    GENERAL_NAMES_free(names);
}

/* Keeps the verified client certificate as text (tls_peer()). 0, or IO_FAILED when it cannot
 * be kept whole. */
static int keep_peer(tls_conn *c)
{
    X509 *cert = c->ctx->client_auth ? SSL_get0_peer_certificate(c->ssl) : NULL;
    unsigned char sha256[32];
    unsigned int n = 0;
    tls_peer_scratch *t;
    if (cert == NULL || c->peer != NULL) return 0;
    t = c->ctx->alloc.alloc(c->ctx->alloc.ctx, sizeof *t);
    if (t == NULL) return IO_FAILED;
    memset(&t->san, 0, sizeof t->san);
    san_text(cert, &t->san);
    if (name_text(X509_get_subject_name(cert), t->subject, sizeof t->subject) == 0 &&
        name_text(X509_get_issuer_name(cert), t->issuer, sizeof t->issuer) == 0 &&
        !t->san.overflow && X509_digest(cert, EVP_sha256(), sha256, &n) == 1 && n == 32)
        c->peer = tls_peer_make(&c->ctx->alloc, t->subject, t->issuer, &t->san, sha256);
    c->ctx->alloc.free(c->ctx->alloc.ctx, t);
    ERR_clear_error();
    return c->peer ? 0 : IO_FAILED;
}

const mote_tls_peer *tls_peer(const tls_conn *c)
{
    return c->peer ? &c->peer->peer : NULL;
}

/* Remembers an alert the client sent, for tls_failure(). */
static void note_alert(const SSL *ssl, int where, int value)
{
    tls_conn *c = SSL_get_app_data(ssl);
    if ((where & SSL_CB_READ_ALERT) && c) c->alert = value;
}

void tls_failure(const tls_conn *c, char *buf, size_t len)
{
    const char *reason = c->failure ? ERR_reason_error_string(c->failure) : NULL;
    if (c->alert >= 0)
        tls_write_err(buf, len, "alert received: %s", SSL_alert_desc_string_long(c->alert));
    else if (reason)
        tls_write_err(buf, len, "%s", reason);
    else
        tls_write_err(buf, len, "the connection failed");
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
    c->alert = -1;
    ctx->refs++;
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
    if (SSL_set_app_data(c->ssl, c) != 1) { /* (it allocates) */
        ERR_clear_error();
        tls_conn_destroy(c);
        return MOTE_ENOMEM;
    }
    SSL_set_info_callback(c->ssl, note_alert);
    SSL_set_accept_state(c->ssl);
    *out = c;
    return 0;
}

void tls_conn_destroy(tls_conn *c)
{
    tls_ctx *ctx;
    if (c == NULL) return;
    ctx = c->ctx;
    /* OpenSSL drops from its cache the session of a connection freed without close_notify;
     * a client that just closes (most do) has done nothing wrong: only a failure drops it */
    if (c->ssl && c->failure == 0 && SSL_is_init_finished(c->ssl))
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c->ssl);
    tls_peer_free(&ctx->alloc, c->peer);
    ctx->alloc.free(ctx->alloc.ctx, c);
    ctx_unref(ctx);
}

/* An OpenSSL call's failure as an IO_* code; the error queue is left empty (its first error
 * kept for tls_failure()). */
static int map_error(tls_conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) c->failure = ERR_peek_error();
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
    if (ret != 1) return map_error(c, ret);
    return keep_peer(c);
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

int tls_resumed(const tls_conn *c)
{
    return SSL_session_reused(c->ssl);
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
