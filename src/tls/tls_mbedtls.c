/* tls_mbedtls.c - the TLS backend on mbedTLS 2.28 (TLS 1.2): server sessions over a transport
 * the caller owns (see tls.h), through mbedTLS's public API only. */
#include "tls/tls.h"
#include "tls/tls_common.h"
#include "tls/tls_tickets.h"

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
#include <mbedtls/sha256.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#if !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_SSL_CACHE_C) ||                    \
    !defined(MBEDTLS_SSL_ALPN) || !defined(MBEDTLS_GCM_C)
#error "mote needs an mbedTLS built with MBEDTLS_SSL_SESSION_TICKETS, MBEDTLS_SSL_CACHE_C, MBEDTLS_SSL_ALPN and MBEDTLS_GCM_C"
#endif

/* Sessions kept by id, per context, for clients that take no tickets. */
#define TLS_SESSION_CACHE 1024
/* A ticket: key name, GCM nonce, length of the sealed session; the session; GCM's tag. */
#define TICKET_NONCE 12
#define TICKET_HEAD (16 + TICKET_NONCE + 2)
#define TICKET_TAG 16

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

/* One certificate chain and its key; a server name's (SNI) when name is set. */
typedef struct tls_identity {
    char *name;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
} tls_identity;

struct tls_ctx {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt client_cas;
    tls_tickets *tickets;         /* the keys of session tickets, shared by the listener's */
    mbedtls_ssl_cache_context cache;
    mbedtls_ssl_config conf;
    /* mbedtls_ssl_conf_alpn_protocols() keeps the pointer and wants it non-const. */
    const char *alpn[4];
    int client_auth;              /* enum mote_tls_client_auth */
    unsigned refs;                /* the creator's hold and one per session */
    /* A session was resumed during the handshake step running now (set by the ticket and
     * cache callbacks, which know the context only; a context serves one loop's thread). */
    int resuming;
    size_t identity_count;
    tls_identity *identities;     /* the default one first, then mote_tls_config.certs */
    mote_allocator alloc;
};

#define TLS_READ_AHEAD 1024

struct tls_conn {
    mbedtls_ssl_context ssl;
    io_transport transport;
    tls_ctx *ctx;
    tls_peer_block *peer;         /* the verified client certificate, once handshaken */
    int failure;                  /* mbedTLS's error, when a call failed */
    /* The handshake is over (mbedtls_ssl_handshake() returned 0). */
    int handshaken;
    int resumed;                  /* it resumed an earlier session */
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

static int parse_chain(mbedtls_x509_crt *chain, const char *file, const char *pem)
{
    if (file != NULL)
        return mbedtls_x509_crt_parse_file(chain, file);
    /* For PEM, mbedTLS counts the terminating NUL in the length. */
    return mbedtls_x509_crt_parse(chain, (const unsigned char *)pem, strlen(pem) + 1);
}

/* A chain (or the client CAs) from a file or PEM text; `what` names it in the error. */
static int load_chain(mbedtls_x509_crt *chain, const char *file, const char *pem,
                      const char *what_file, char *err, size_t err_len)
{
    char what[512];
    int ret, saved_errno;

    errno = 0;
    ret = parse_chain(chain, file, pem);
    saved_errno = errno;
    if (ret == 0)
        return 0;
    if (file != NULL)
        snprintf(what, sizeof what, "cannot read %s '%s'", what_file, file);
    else
        snprintf(what, sizeof what, "cannot parse %s PEM", what_file);
    if (ret > 0) {
        /* A positive count means some certificates of the chain were skipped. */
        tls_write_err(err, err_len, "%s: %d certificate(s) in the chain could not be parsed",
                      what, ret);
        return MOTE_ETLS;
    }
    return load_failure(ret, saved_errno, err, err_len, what);
}

static int parse_key(mbedtls_pk_context *key, const mote_tls_cert *c)
{
    const char *pwd = c->key_password;
    if (c->key_file != NULL)
        return mbedtls_pk_parse_keyfile(key, c->key_file, pwd);
    return mbedtls_pk_parse_key(key, (const unsigned char *)c->key_pem, strlen(c->key_pem) + 1,
                                (const unsigned char *)pwd, pwd != NULL ? strlen(pwd) : 0);
}

static int load_key(mbedtls_pk_context *key, const mote_tls_cert *c, char *err, size_t err_len)
{
    char what[512];
    int ret, saved_errno;

    errno = 0;
    ret = parse_key(key, c);
    saved_errno = errno;
    if (ret == 0)
        return 0;
    if (c->key_file != NULL)
        snprintf(what, sizeof what, "cannot read key file '%s'", c->key_file);
    else
        snprintf(what, sizeof what, "cannot parse key PEM");
    return load_failure(ret, saved_errno, err, err_len, what);
}

static int check_key_matches(tls_identity *id, const mote_tls_cert *c, char *err, size_t err_len)
{
    int ret = mbedtls_pk_check_pair(&id->chain.pk, &id->key);
    if (ret == 0)
        return 0;
    if (is_alloc_failure(ret))
        return setup_failure(ret, err, err_len, "cannot compare key and certificate");
    tls_write_err(err, err_len, "the private key of %s does not match the certificate",
                  c->key_file ? c->key_file : "key_pem");
    return MOTE_ETLS;
}

static int load_identity(tls_ctx *ctx, tls_identity *id, const mote_tls_cert *c, char *err,
                         size_t err_len)
{
    int ret = 0;
    if (!tls_cert_is_default(c)) {
        size_t n = strlen(c->server_name) + 1;
        id->name = ctx->alloc.alloc(ctx->alloc.ctx, n);
        if (id->name == NULL) {
            tls_write_err(err, err_len, "out of memory for the TLS context");
            return MOTE_ENOMEM;
        }
        memcpy(id->name, c->server_name, n);
    }
    ret = load_chain(&id->chain, c->cert_file, c->cert_pem, "certificate file", err, err_len);
    if (ret == 0)
        ret = load_key(&id->key, c, err, err_len);
    if (ret == 0)
        ret = check_key_matches(id, c, err, err_len);
    return ret;
}

static int load_credentials(tls_ctx *ctx, const mote_tls_config *cfg, char *err, size_t err_len)
{
    size_t i;
    mote_tls_cert own = tls_default_cert(cfg);
    int ret = tls_check_config(cfg, err, err_len);
    if (ret == 0 && cfg->min_version == MOTE_TLS_1_3) {
        tls_write_err(err, err_len, "TLS 1.3 only: mbedTLS %s has no TLS 1.3 (build with "
                      "-DMOTE_TLS=openssl)", MBEDTLS_VERSION_STRING);
        ret = MOTE_ETLS;
    }
    if (ret != 0)
        return ret;
    ctx->identities = ctx->alloc.alloc(ctx->alloc.ctx,
                                       (cfg->cert_count + 1) * sizeof *ctx->identities);
    if (ctx->identities == NULL) {
        tls_write_err(err, err_len, "out of memory for the TLS context");
        return MOTE_ENOMEM;
    }
    for (i = 0; i <= cfg->cert_count; i++) {
        ctx->identities[i].name = NULL;
        mbedtls_x509_crt_init(&ctx->identities[i].chain);
        mbedtls_pk_init(&ctx->identities[i].key);
    }
    ctx->identity_count = cfg->cert_count + 1;
    for (i = 0; ret == 0 && i <= cfg->cert_count; i++)
        ret = load_identity(ctx, &ctx->identities[i], i ? &cfg->certs[i - 1] : &own, err,
                            err_len);
    ctx->client_auth = (int)cfg->client_auth;
    if (ret == 0 && cfg->client_auth != MOTE_TLS_CLIENT_NONE)
        ret = load_chain(&ctx->client_cas, cfg->client_ca_file, cfg->client_ca_pem,
                         "client_ca_file", err, err_len);
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

/* AES-256-GCM over the session with the ticket's head as additional data. */
static int ticket_gcm(const tls_ticket_key *k, int mode, unsigned char *ticket, size_t len,
                      unsigned char *tag)
{
    mbedtls_gcm_context gcm;
    unsigned char *nonce = ticket + 16, *state = ticket + TICKET_HEAD;
    int ret;
    mbedtls_gcm_init(&gcm);
    ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, k->aes, 256);
    if (ret == 0 && mode == MBEDTLS_GCM_ENCRYPT)
        ret = mbedtls_gcm_crypt_and_tag(&gcm, mode, len, nonce, TICKET_NONCE, ticket,
                                        TICKET_HEAD, state, state, TICKET_TAG, tag);
    else if (ret == 0)
        ret = mbedtls_gcm_auth_decrypt(&gcm, len, nonce, TICKET_NONCE, ticket, TICKET_HEAD, tag,
                                       TICKET_TAG, state, state);
    mbedtls_gcm_free(&gcm);
    return ret;
}

/* mbedtls_ssl_ticket_write_t with the listener's rotating keys (tls_tickets.h). */
static int write_ticket(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
                        const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
    tls_ctx *ctx = arg;
    tls_ticket_key k;
    size_t room = (size_t)(end - start), len = 0;
    int ret;
    *tlen = 0;
    if (room < TICKET_HEAD + TICKET_TAG)
        return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    ret = mbedtls_ssl_session_save(session, start + TICKET_HEAD, room - TICKET_HEAD - TICKET_TAG,
                                   &len);
    if (ret == 0 && len > 0xFFFF)
        ret = MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    if (ret == 0)
        ret = mbedtls_ctr_drbg_random(&ctx->drbg, start + 16, TICKET_NONCE);
    if (ret != 0)
        return ret;
    tls_tickets_current(ctx->tickets, tls_tickets_now(), &k);
    memcpy(start, k.name, 16);
    start[16 + TICKET_NONCE] = (unsigned char)(len >> 8);
    start[16 + TICKET_NONCE + 1] = (unsigned char)len;
    ret = ticket_gcm(&k, MBEDTLS_GCM_ENCRYPT, start, len, start + TICKET_HEAD + len);
    mbedtls_platform_zeroize(&k, sizeof k);
    if (ret != 0)
        return ret;
    *tlen = TICKET_HEAD + len + TICKET_TAG;
    *lifetime = TLS_TICKET_ROTATE_S;
    return 0;
}

/* mbedtls_ssl_ticket_parse_t: any error means a full handshake. */
static int parse_ticket(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    tls_ctx *ctx = arg;
    tls_ticket_key k;
    size_t sealed;
    int ret;
    if (len < TICKET_HEAD + TICKET_TAG)
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    sealed = (size_t)buf[16 + TICKET_NONCE] << 8 | buf[16 + TICKET_NONCE + 1];
    if (len != TICKET_HEAD + sealed + TICKET_TAG)
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    if (tls_tickets_find(ctx->tickets, buf, tls_tickets_now(), &k) == TLS_TICKET_UNKNOWN)
        return MBEDTLS_ERR_SSL_INVALID_MAC;
    ret = ticket_gcm(&k, MBEDTLS_GCM_DECRYPT, buf, sealed, buf + TICKET_HEAD + sealed);
    mbedtls_platform_zeroize(&k, sizeof k);
    if (ret != 0)
        return MBEDTLS_ERR_SSL_INVALID_MAC;
    ret = mbedtls_ssl_session_load(session, buf + TICKET_HEAD, sealed);
    if (ret == 0)
        ctx->resuming = 1;
    return ret;
}

/* mbedtls_ssl_cache_get, noting a hit for tls_resumed(). */
static int cache_get(void *arg, mbedtls_ssl_session *session)
{
    tls_ctx *ctx = (tls_ctx *)(void *)((char *)arg - offsetof(tls_ctx, cache));
    int ret = mbedtls_ssl_cache_get(arg, session);
    if (ret == 0)
        ctx->resuming = 1;
    return ret;
}

/* Tickets with the listener's keys, and a bounded cache by session id for clients without. */
static int enable_resumption(tls_ctx *ctx, char *err, size_t err_len)
{
    ctx->tickets = tls_tickets_create(&ctx->alloc, tls_tickets_now());
    if (ctx->tickets == NULL) {
        tls_write_err(err, err_len, "cannot make session ticket keys");
        return MOTE_ENOMEM;
    }
    mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, write_ticket, parse_ticket, ctx);
    mbedtls_ssl_cache_set_max_entries(&ctx->cache, TLS_SESSION_CACHE);
    mbedtls_ssl_cache_set_timeout(&ctx->cache, TLS_TICKET_ROTATE_S);
    mbedtls_ssl_conf_session_cache(&ctx->conf, &ctx->cache, cache_get, mbedtls_ssl_cache_set);
    return 0;
}

/* The certificates of the server name the client asked for (SNI), in place of the default
 * ones; a name no entry has keeps the default. */
static int select_server_name(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
                              size_t len)
{
    const tls_ctx *ctx = arg;
    size_t i;
    int ret = 0;
    for (i = 1; i < ctx->identity_count && ret == 0; i++) {
        tls_identity *id = &ctx->identities[i];
        if (id->name && tls_name_matches(id->name, (const char *)name, len))
            ret = mbedtls_ssl_set_hs_own_cert(ssl, &id->chain, &id->key);
    }
    return ret;
}

/* The default certificates (the listener's own and those without a server name); SNI for the
 * others. */
static int use_identities(tls_ctx *ctx)
{
    size_t i;
    int ret = 0, named = 0;
    for (i = 0; i < ctx->identity_count && ret == 0; i++) {
        tls_identity *id = &ctx->identities[i];
        if (id->name == NULL)
            ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &id->chain, &id->key);
        else
            named = 1;
    }
    if (named)
        mbedtls_ssl_conf_sni(&ctx->conf, select_server_name, ctx);
    return ret;
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

    ret = use_identities(ctx);
    if (ret != 0)
        return setup_failure(ret, err, err_len, "cannot use the certificate and key");
    if (ctx->client_auth != MOTE_TLS_CLIENT_NONE) {
        /* optional: a client's certificate that does not verify is refused after the
         * handshake (verify_client()), as OpenSSL refuses it during it */
        mbedtls_ssl_conf_authmode(conf, ctx->client_auth == MOTE_TLS_CLIENT_REQUIRED
                                            ? MBEDTLS_SSL_VERIFY_REQUIRED
                                            : MBEDTLS_SSL_VERIFY_OPTIONAL);
        mbedtls_ssl_conf_ca_chain(conf, &ctx->client_cas, NULL);
    }
    return enable_resumption(ctx, err, err_len);
}

static void init_ctx(tls_ctx *ctx)
{
    mbedtls_entropy_init(&ctx->entropy);
    mbedtls_ctr_drbg_init(&ctx->drbg);
    mbedtls_x509_crt_init(&ctx->client_cas);
    mbedtls_ssl_cache_init(&ctx->cache);
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
    ctx->refs = 1;
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

static void ctx_unref(tls_ctx *ctx)
{
    size_t i;
    if (--ctx->refs > 0)
        return;
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_ssl_cache_free(&ctx->cache);
    tls_tickets_unref(ctx->tickets);
    for (i = 0; i < ctx->identity_count; i++) {
        ctx->alloc.free(ctx->alloc.ctx, ctx->identities[i].name);
        mbedtls_pk_free(&ctx->identities[i].key);
        mbedtls_x509_crt_free(&ctx->identities[i].chain);
    }
    if (ctx->identities != NULL)
        ctx->alloc.free(ctx->alloc.ctx, ctx->identities);
    mbedtls_x509_crt_free(&ctx->client_cas);
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
    ctx->alloc.free(ctx->alloc.ctx, ctx);
}

void tls_ctx_destroy(tls_ctx *ctx)
{
    if (ctx != NULL)
        ctx_unref(ctx);
}

void tls_ctx_share_tickets(tls_ctx *ctx, const tls_ctx *from)
{
    tls_tickets_ref(from->tickets);
    tls_tickets_unref(ctx->tickets);
    ctx->tickets = from->tickets;
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
    ctx->refs++;
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
    tls_ctx *ctx;
    if (c == NULL)
        return;
    ctx = c->ctx;
    mbedtls_ssl_free(&c->ssl);
    tls_peer_free(&ctx->alloc, c->peer);
    ctx->alloc.free(ctx->alloc.ctx, c);
    ctx_unref(ctx);
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

/* The names of a certificate's SAN extension, as text. */
static void san_text(const mbedtls_x509_crt *crt, tls_san_list *l)
{
    const mbedtls_x509_sequence *s;
    for (s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL; s = s->next) {
        int type = s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        const char *v = (const char *)s->buf.p;
        if (type == 1)
            tls_san_add(l, "email", v, s->buf.len);
        else if (type == 2)
            tls_san_add(l, "DNS", v, s->buf.len);
        else if (type == 6)
            tls_san_add(l, "URI", v, s->buf.len);
        else if (type == 7)
            tls_san_add_ip(l, s->buf.p, s->buf.len);
    }
}

static int sha256_of(const unsigned char *p, size_t len, unsigned char out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_sha256(p, len, out, 0);
#else
    return mbedtls_sha256_ret(p, len, out, 0);
#endif
}

/* Keeps the client's certificate as text (tls_peer()) once it has verified; a certificate
 * that did not (possible with MBEDTLS_SSL_VERIFY_OPTIONAL) fails the session. */
static int keep_peer(tls_conn *c)
{
    const mbedtls_x509_crt *crt =
        c->ctx->client_auth ? mbedtls_ssl_get_peer_cert(&c->ssl) : NULL;
    unsigned char sha256[32];
    tls_peer_scratch *t;
    if (crt == NULL || c->peer != NULL)
        return 0;
    if (mbedtls_ssl_get_verify_result(&c->ssl) != 0) {
        c->failure = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
        return IO_FAILED;
    }
    t = c->ctx->alloc.alloc(c->ctx->alloc.ctx, sizeof *t);
    if (t == NULL)
        return IO_FAILED;
    memset(&t->san, 0, sizeof t->san);
    san_text(crt, &t->san);
    if (mbedtls_x509_dn_gets(t->subject, sizeof t->subject, &crt->subject) >= 0 &&
        mbedtls_x509_dn_gets(t->issuer, sizeof t->issuer, &crt->issuer) >= 0 &&
        !t->san.overflow && sha256_of(crt->raw.p, crt->raw.len, sha256) == 0)
        c->peer = tls_peer_make(&c->ctx->alloc, t->subject, t->issuer, &t->san, sha256);
    c->ctx->alloc.free(c->ctx->alloc.ctx, t);
    return c->peer ? 0 : IO_FAILED;
}

int tls_handshake(tls_conn *c)
{
    int ret;
    c->ctx->resuming = 0;
    ret = mbedtls_ssl_handshake(&c->ssl);
    if (c->ctx->resuming)
        c->resumed = 1;
    if (ret != 0) {
        if (!is_want(ret))
            c->failure = ret;
        return map_error(ret);
    }
    c->handshaken = 1;
    return keep_peer(c);
}

int tls_resumed(const tls_conn *c)
{
    return c->resumed;
}

const mote_tls_peer *tls_peer(const tls_conn *c)
{
    return c->peer ? &c->peer->peer : NULL;
}

void tls_failure(const tls_conn *c, char *buf, size_t len)
{
    char text[160];
    if (c->failure == 0) {
        tls_write_err(buf, len, "the connection failed");
        return;
    }
    mbedtls_strerror(c->failure, text, sizeof text);
    tls_write_err(buf, len, "%s", text);
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
