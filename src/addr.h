/* addr.h - peer addresses as text, without the socket API (RFC 5952 for IPv6). */
#ifndef MOTE_ADDR_H
#define MOTE_ADDR_H

#include <stddef.h>

#include "conn.h"

/* Longest text: an IPv6 address with an embedded IPv4 one, and the NUL. */
#define ADDR_TEXT_MAX 46

/* Writes "192.0.2.1" or "2001:db8::1" into buf; MOTE_EINVAL when it does not fit. */
int addr_format(const mote_addr *a, char *buf, size_t len);

#endif
