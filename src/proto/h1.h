/* h1.h - HTTP/1.1 (RFC 9112) as a connection protocol: one exchange at a time, keep-alive and
 * pipelining, request bodies framed by Content-Length or chunked, responses by Content-Length,
 * chunks or the connection's end. */
#ifndef MOTE_H1_H
#define MOTE_H1_H

#include "engine/proto.h"

extern const proto_ops h1_proto;

#endif
