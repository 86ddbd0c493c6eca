/* addr.h - peer addresses as text, without the socket API (RFC 5952 for IPv6). */
#ifndef MOTE_ADDR_H
#define MOTE_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* A peer's address in a socket-free form. */
typedef struct mote_addr {
    uint8_t family;                   /* 4 or 6; 0 when unknown */
    uint8_t bytes[16];
    uint16_t port;
} mote_addr;

/* Longest text: an IPv6 address with an embedded IPv4 one, and the NUL. */
#define ADDR_TEXT_MAX 46

/* Writes "192.0.2.1" or "2001:db8::1" into buf; MOTE_EINVAL when it does not fit. */
int addr_format(const mote_addr *a, char *buf, size_t len);

/* Reads an IPv4 address (dotted decimal, no leading zeros) or an IPv6 one (RFC 4291 §2.2) from
 * s[0..n), the whole of it; MOTE_EINVAL when it is not one. */
int addr_parse(const char *s, size_t n, mote_addr *out);

/* Whether `a` lies in the network net/bits (an IPv4-mapped IPv6 address counts as IPv4). */
int addr_in_network(const mote_addr *a, const mote_addr *net, unsigned bits);

#endif
