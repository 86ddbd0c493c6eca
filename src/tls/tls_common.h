/* tls_common.h - what every TLS backend does the same way before its library takes over: the
 * error line, the check of where the credentials come from, and the context's allocation. */
#ifndef MOTE_TLS_COMMON_H
#define MOTE_TLS_COMMON_H

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mote.h"

static inline void tls_write_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || err_len == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Exactly one of `file` and `pem` must be given. */
static inline int tls_check_one_source(const char *file, const char *pem, const char *what,
                                       char *err, size_t err_len)
{
    if (file == NULL && pem == NULL) {
        tls_write_err(err, err_len, "no %s given (set %s_file or %s_pem)", what, what, what);
        return MOTE_ETLS;
    }
    if (file != NULL && pem != NULL) {
        tls_write_err(err, err_len, "both %s_file and %s_pem are set; give only one", what,
                      what);
        return MOTE_ETLS;
    }
    return 0;
}

static inline int tls_check_cert(const mote_tls_cert *c, char *err, size_t err_len)
{
    int rc = tls_check_one_source(c->cert_file, c->cert_pem, "cert", err, err_len);
    if (rc == 0) rc = tls_check_one_source(c->key_file, c->key_pem, "key", err, err_len);
    return rc;
}

/* The listener's own certificate as the first of its list. */
static inline mote_tls_cert tls_default_cert(const mote_tls_config *cfg)
{
    mote_tls_cert c;
    c.server_name = NULL;
    c.cert_file = cfg->cert_file;
    c.key_file = cfg->key_file;
    c.cert_pem = cfg->cert_pem;
    c.key_pem = cfg->key_pem;
    c.key_password = cfg->key_password;
    return c;
}

/* Whether an entry of mote_tls_config.certs adds to the default certificate. */
static inline int tls_cert_is_default(const mote_tls_cert *c)
{
    return c->server_name == NULL || c->server_name[0] == '\0';
}

/* Every certificate and key from a file or from PEM text, a known lowest version, and CAs
 * where client certificates are asked for. */
static inline int tls_check_config(const mote_tls_config *cfg, char *err, size_t err_len)
{
    mote_tls_cert own = tls_default_cert(cfg);
    size_t i;
    int rc = tls_check_cert(&own, err, err_len);
    for (i = 0; rc == 0 && i < cfg->cert_count; i++) rc = tls_check_cert(&cfg->certs[i], err, err_len);
    if (rc == 0 && cfg->cert_count != 0 && cfg->certs == NULL) {
        tls_write_err(err, err_len, "cert_count is %zu but certs is NULL", cfg->cert_count);
        rc = MOTE_ETLS;
    }
    if (rc == 0 && cfg->min_version != 0 && cfg->min_version != MOTE_TLS_1_2 &&
        cfg->min_version != MOTE_TLS_1_3) {
        tls_write_err(err, err_len, "unknown TLS version 0x%04x (MOTE_TLS_1_2 or MOTE_TLS_1_3)",
                      cfg->min_version);
        rc = MOTE_ETLS;
    }
    if (rc == 0 && cfg->client_auth > MOTE_TLS_CLIENT_REQUIRED) {
        tls_write_err(err, err_len, "unknown client_auth %u", cfg->client_auth);
        rc = MOTE_ETLS;
    }
    if (rc == 0 && cfg->client_auth != MOTE_TLS_CLIENT_NONE)
        rc = tls_check_one_source(cfg->client_ca_file, cfg->client_ca_pem, "client_ca", err,
                                  err_len);
    return rc;
}

static inline int tls_lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static inline int tls_same_name(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (tls_lower((unsigned char)a[i]) != tls_lower((unsigned char)b[i])) return 0;
    return 1;
}

/* Whether the SNI `name` (len bytes) is `pattern`: equal but for case, or "*.rest" where
 * name is one label (not empty) followed by ".rest". */
static inline int tls_name_matches(const char *pattern, const char *name, size_t len)
{
    size_t plen = strlen(pattern);
    const char *dot;
    if (plen == len && tls_same_name(pattern, name, len)) return 1;
    if (plen < 3 || pattern[0] != '*' || pattern[1] != '.') return 0;
    dot = memchr(name, '.', len);
    if (dot == NULL || dot == name) return 0;
    return (size_t)(name + len - dot) == plen - 1 && tls_same_name(pattern + 1, dot, plen - 1);
}

/* ---- the verified client certificate, as text ----------------------------------------------- */

/* Longest subject, issuer and SAN list kept; a certificate with longer ones is refused, since
 * a cut name could read as another. */
#define TLS_NAME_MAX 1024
#define TLS_SAN_MAX 2048

/* A SAN list under construction: "DNS:a, IP:b". */
typedef struct tls_san_list {
    char text[TLS_SAN_MAX];
    size_t len;
    int overflow;
} tls_san_list;

static inline void tls_san_add(tls_san_list *l, const char *kind, const char *value, size_t n)
{
    size_t need = (l->len ? 2 : 0) + strlen(kind) + 1 + n;
    if (l->overflow || need >= sizeof l->text - l->len) {
        l->overflow = 1;
        return;
    }
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s:", l->len ? ", " : "",
                               kind);
    memcpy(l->text + l->len, value, n);
    l->len += n;
    l->text[l->len] = '\0';
}

/* An iPAddress SAN: 4 or 16 bytes; anything else is shown as "IP:?" rather than dropped. */
static inline void tls_san_add_ip(tls_san_list *l, const unsigned char *ip, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    if ((n != 4 && n != 16) || !inet_ntop(n == 4 ? AF_INET : AF_INET6, ip, text, sizeof text))
        strcpy(text, "?");
    tls_san_add(l, "IP", text, strlen(text));
}

/* Room for the texts while they are gathered, taken for the moment from the allocator. */
typedef struct tls_peer_scratch {
    char subject[TLS_NAME_MAX];
    char issuer[TLS_NAME_MAX];
    tls_san_list san;
} tls_peer_scratch;

/* The peer's text in one allocation that tls_peer_free() gives back. */
typedef struct tls_peer_block {
    mote_tls_peer peer;
    size_t size;
} tls_peer_block;

static inline tls_peer_block *tls_peer_make(const mote_allocator *a, const char *subject,
                                            const char *issuer, const tls_san_list *san,
                                            const unsigned char sha256[32])
{
    size_t ls = strlen(subject) + 1, li = strlen(issuer) + 1, lsan = san->len + 1;
    size_t size = sizeof(tls_peer_block) + ls + li + lsan + 65, i;
    tls_peer_block *b = a->alloc(a->ctx, size);
    char *p;
    if (b == NULL) return NULL;
    b->size = size;
    p = (char *)(b + 1);
    b->peer.subject = memcpy(p, subject, ls);
    b->peer.issuer = memcpy(p += ls, issuer, li);
    b->peer.san = memcpy(p += li, san->text, lsan);
    b->peer.fingerprint = p += lsan;
    for (i = 0; i < 32; i++) {
        p[2 * i] = "0123456789abcdef"[sha256[i] >> 4];
        p[2 * i + 1] = "0123456789abcdef"[sha256[i] & 15];
    }
    p[64] = '\0';
    return b;
}

static inline void tls_peer_free(const mote_allocator *a, tls_peer_block *b)
{
    if (b != NULL) a->free(a->ctx, b);
}

static inline void *tls_system_alloc(void *unused, size_t size)
{
    (void)unused;
    return malloc(size);
}

static inline void tls_system_free(void *unused, void *ptr)
{
    (void)unused;
    free(ptr);
}

/* The start of tls_ctx_create(): `size` zeroed bytes for the context from `alloc` (NULL:
 * malloc), which *used is set to; NULL with err written when cfg is missing or memory is not
 * there (*rc says which). */
static inline void *tls_ctx_alloc(const mote_tls_config *cfg, const mote_allocator *alloc,
                                  size_t size, mote_allocator *used, int *rc, char *err,
                                  size_t err_len)
{
    mote_allocator a = {tls_system_alloc, tls_system_free, NULL};
    void *ctx;
    tls_write_err(err, err_len, "%s", "");
    if (cfg == NULL) {
        tls_write_err(err, err_len, "no TLS credentials given");
        *rc = MOTE_ETLS;
        return NULL;
    }
    if (alloc != NULL && alloc->alloc != NULL) a = *alloc;
    ctx = a.alloc(a.ctx, size);
    if (ctx == NULL) {
        tls_write_err(err, err_len, "out of memory for the TLS context");
        *rc = MOTE_ENOMEM;
        return NULL;
    }
    memset(ctx, 0, size);
    *used = a;
    *rc = 0;
    return ctx;
}

#endif
