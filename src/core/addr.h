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

#endif
