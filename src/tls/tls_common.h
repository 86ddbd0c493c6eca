/* tls_common.h - what every TLS backend does the same way before its library takes over: the
 * error line, the check of where the credentials come from, and the context's allocation. */
#ifndef MOTE_TLS_COMMON_H
#define MOTE_TLS_COMMON_H

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

/* A certificate and a key, each from a file or from PEM text, and a known lowest version. */
static inline int tls_check_config(const mote_tls_config *cfg, char *err, size_t err_len)
{
    int rc = tls_check_one_source(cfg->cert_file, cfg->cert_pem, "cert", err, err_len);
    if (rc == 0) rc = tls_check_one_source(cfg->key_file, cfg->key_pem, "key", err, err_len);
    if (rc == 0 && cfg->min_version != 0 && cfg->min_version != MOTE_TLS_1_2 &&
        cfg->min_version != MOTE_TLS_1_3) {
        tls_write_err(err, err_len, "unknown TLS version 0x%04x (MOTE_TLS_1_2 or MOTE_TLS_1_3)",
                      cfg->min_version);
        rc = MOTE_ETLS;
    }
    return rc;
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
