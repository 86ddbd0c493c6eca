/* h2.h - HTTP/2 (RFC 9113, HPACK RFC 7541) as a connection protocol, on nghttp2's session
 * driven sans-I/O (nghttp2_session_mem_recv / mem_send): one exchange per stream, through the
 * same exchange seam as HTTP/1.1, so handlers, static content and the library's own answers
 * work unchanged.
 *
 * A connection comes to speak it three ways: ALPN "h2" on a TLS listener (the shell sets
 * c->proto before the first byte), the client preface on a plain listener (h1 sees it and
 * switches), or "Upgrade: h2c" (h1 answers 101 and hands the request over as stream 1). */
#ifndef MOTE_H2_H
#define MOTE_H2_H

#include "engine/proto.h"

#if MOTE_CONFIG_HTTP2

extern const proto_ops h2_proto;

/* The connection preface a client opens with under prior knowledge (RFC 9113 §3.4). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* Whether x's request asks for "Upgrade: h2c" the way RFC 7540 §3.2 allows: GET-like with no
 * body, one HTTP2-Settings field, both named in Connection, over plain TCP. */
int h2_wants_upgrade(const mote_exchange *x);

/* The state an upgraded connection starts from (for exchange_upgrade()'s ext): the request
 * copied as stream 1, and the client's HTTP2-Settings decoded; NULL when that fails (the
 * request is then answered over HTTP/1.1). */
void *h2_upgrade_state(mote_exchange *x);
/* That state, freed when the upgrade does not happen after all. */
void h2_upgrade_abandon(mote_conn *c, void *state);

#endif
#endif
