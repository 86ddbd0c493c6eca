/* tls_none.c - the TLS backend of a build without TLS (MOTE_TLS=none, MOTE_CONFIG_TLS 0): no
 * TLS context can be made, so mote_listen_tls() gives MOTE_ENOTSUP and nothing else here is
 * ever reached. */
#include "tls/tls.h"

static void say(char *err, size_t err_len, const char *text)
{
    size_t i;
    if (!err || err_len == 0) return;
    for (i = 0; text[i] && i + 1 < err_len; i++) err[i] = text[i];
    err[i] = '\0';
}

int tls_ctx_create(tls_ctx **out, const mote_tls_config *cfg, const mote_allocator *alloc,
                   char *err, size_t err_len)
{
    (void)cfg;
    (void)alloc;
    *out = NULL;
    say(err, err_len, "this build of mote has no TLS (MOTE_CONFIG_TLS is 0)");
    return MOTE_ENOTSUP;
}

void tls_ctx_destroy(tls_ctx *ctx)
{
    (void)ctx;
}

void tls_ctx_share_tickets(tls_ctx *ctx, const tls_ctx *from)
{
    (void)ctx;
    (void)from;
}

int tls_conn_create(tls_ctx *ctx, const io_transport *transport, tls_conn **out)
{
    (void)ctx;
    (void)transport;
    *out = NULL;
    return MOTE_ENOTSUP;
}

void tls_conn_destroy(tls_conn *c)
{
    (void)c;
}

int tls_handshake(tls_conn *c)
{
    (void)c;
    return IO_FAILED;
}

long tls_read(tls_conn *c, void *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return IO_FAILED;
}

long tls_write(tls_conn *c, const void *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return IO_FAILED;
}

size_t tls_pending(const tls_conn *c)
{
    (void)c;
    return 0;
}

void tls_close_notify(tls_conn *c)
{
    (void)c;
}

const char *tls_backend(void)
{
    return "none";
}

void tls_ctx_offer_h2(tls_ctx *ctx, int on)
{
    (void)ctx;
    (void)on;
}

int tls_resumed(const tls_conn *c)
{
    (void)c;
    return 0;
}

const char *tls_alpn(const tls_conn *c)
{
    (void)c;
    return NULL;
}

const mote_tls_peer *tls_peer(const tls_conn *c)
{
    (void)c;
    return NULL;
}

void tls_failure(const tls_conn *c, char *buf, size_t len)
{
    (void)c;
    say(buf, len, "no TLS in this build");
}
