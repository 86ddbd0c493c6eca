/* forwarded.h - who the client is behind trusted proxies: Forwarded (RFC 7239),
 * X-Forwarded-For and X-Forwarded-Proto, believed only from networks the operator trusts. */
#ifndef MOTE_FORWARDED_H
#define MOTE_FORWARDED_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "mote.h"

/* A network of mote_config.trusted_proxies. */
typedef struct trusted_net {
    mote_addr net;
    uint8_t bits;
} trusted_net;

/* The networks of a list ("10.0.0.0/8, ::1"; an address alone is one host), into a new array
 * (*out, *count; NULL and 0 for an empty list). MOTE_EINVAL names the bad entry in `err`. */
int trusted_parse(const char *list, const mote_allocator *a, trusted_net **out, size_t *count,
                  char *err, size_t err_len);

/* The client as the chain of proxies tells it: starting from the connection's peer, each
 * trusted hop's word is taken for the one before it, and the first untrusted address (or the
 * last one given) is the client. *https is set when that hop said the client used https. */
void forwarded_client(const mote_request *req, const mote_addr *peer, const trusted_net *nets,
                      size_t count, mote_addr *client, int *https);

#endif
