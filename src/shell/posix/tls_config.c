/* tls_config.c - see tls_config.h. */
#include "shell/posix/tls_config.h"

#include <string.h>

/* Bytes the strings of a certificate entry take, NULs included. */
static size_t cert_strings(const mote_tls_cert *c)
{
    const char *s[] = {c->server_name, c->cert_file, c->key_file, c->cert_pem, c->key_pem,
                       c->key_password};
    size_t i, n = 0;
    for (i = 0; i < sizeof s / sizeof s[0]; i++) n += s[i] ? strlen(s[i]) + 1 : 0;
    return n;
}

/* `s` copied to *at (which moves past it), or NULL for NULL. */
static const char *place(const char *s, char **at)
{
    char *p = *at;
    size_t n;
    if (s == NULL) return NULL;
    n = strlen(s) + 1;
    memcpy(p, s, n);
    *at = p + n;
    return p;
}

static void place_cert(mote_tls_cert *to, const mote_tls_cert *from, char **at)
{
    to->server_name = place(from->server_name, at);
    to->cert_file = place(from->cert_file, at);
    to->key_file = place(from->key_file, at);
    to->cert_pem = place(from->cert_pem, at);
    to->key_pem = place(from->key_pem, at);
    to->key_password = place(from->key_password, at);
}

static mote_tls_cert own_cert(const mote_tls_config *cfg)
{
    mote_tls_cert c = {NULL, cfg->cert_file, cfg->key_file, cfg->cert_pem, cfg->key_pem,
                       cfg->key_password};
    return c;
}

mote_tls_config *tls_config_copy(const mote_tls_config *cfg, const mote_allocator *a)
{
    mote_tls_cert own = own_cert(cfg), own_copy;
    size_t i, size = sizeof(mote_tls_config) + cfg->cert_count * sizeof(mote_tls_cert);
    size_t strings = cert_strings(&own);
    mote_tls_config *copy;
    mote_tls_cert *certs;
    char *at;
    for (i = 0; i < cfg->cert_count; i++) strings += cert_strings(&cfg->certs[i]);
    if (cfg->client_ca_file) strings += strlen(cfg->client_ca_file) + 1;
    if (cfg->client_ca_pem) strings += strlen(cfg->client_ca_pem) + 1;
    copy = a->alloc(a->ctx, size + strings);
    if (copy == NULL) return NULL;
    *copy = *cfg;
    certs = (mote_tls_cert *)(void *)(copy + 1);
    at = (char *)(certs + cfg->cert_count);
    place_cert(&own_copy, &own, &at);
    copy->cert_file = own_copy.cert_file;
    copy->key_file = own_copy.key_file;
    copy->cert_pem = own_copy.cert_pem;
    copy->key_pem = own_copy.key_pem;
    copy->key_password = own_copy.key_password;
    for (i = 0; i < cfg->cert_count; i++) place_cert(&certs[i], &cfg->certs[i], &at);
    copy->certs = cfg->cert_count ? certs : NULL;
    copy->client_ca_file = place(cfg->client_ca_file, &at);
    copy->client_ca_pem = place(cfg->client_ca_pem, &at);
    return copy;
}

void tls_config_free(mote_tls_config *copy, const mote_allocator *a)
{
    if (copy) a->free(a->ctx, copy);
}
