/**
 * @file mote_lwip.h
 * @brief mote on lwIP's raw API: the engine of mote.h driven by lwIP's TCP callbacks instead
 * of POSIX sockets.
 *
 * Build libmote's portable sources (src/core, src/engine, src/proto, src/static) with
 * src/shell/lwip/lwip.c and your lwIP port; the POSIX shell and TLS are left out (there is no
 * TLS over lwIP in mote yet). mote.h's calls work as documented there, with these differences:
 *
 * - Everything runs in lwIP's context: its tcpip thread where lwIP has an operating system
 *   (`NO_SYS 0`), your main loop where it has none (`NO_SYS 1`). mote starts no thread of its own.
 *   mote_listen(), mote_lwip_listen() and mote_server_destroy() must be called there, or with
 *   lwIP's core lock held (`LOCK_TCPIP_CORE()`); routes may be added from any one thread before
 *   the first listener opens.
 * - mote_server_stop() and mote_post() may come from any thread (`NO_SYS 0`); with `NO_SYS 1`
 *   they may come from the main loop only, and the main loop calls mote_lwip_poll().
 * - mote_server_run() (`NO_SYS 0` only) waits until the server has stopped; mote_server_step(),
 *   mote_server_fd(), the TLS listeners, mote_listen_fd() and worker threads do not exist here.
 * - Timers are lwIP's (`sys_timeout()`, on `sys_now()`); received data is acknowledged to the
 *   peer (`tcp_recved()`) only as the request is consumed, so a busy handler closes the TCP
 *   window instead of growing a buffer.
 * - There is no wall clock unless mote_lwip_wall_clock() gives one: without it responses carry
 *   no `Date` field (RFC 9110 §6.6.1: a server without a clock does not send one).
 * - In static-memory mode (mote_config.arena), mote allocates nothing; lwIP allocates its pcbs
 *   and pbufs from its own pools.
 */
#ifndef MOTE_LWIP_H
#define MOTE_LWIP_H

#include <stdint.h>

#include "lwip/ip_addr.h"
#include "mote.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Listens for HTTP on `addr` (NULL: every address, IPv4 and IPv6) and `port` (0: any free
 * one): the listener's index (>= 0), or MOTE_ENOMEM (no pcb), MOTE_ESYS (the address is taken
 * or invalid) or MOTE_ESTATE (stopping). In lwIP's context (see above). */
int mote_lwip_listen(mote_server *srv, const ip_addr_t *addr, uint16_t port);

/** The wall clock for the `Date` field: `unix_s` returns seconds since 1970, or -1 when the
 * time is not known yet (no `Date` then, as before a device has synchronised its clock). */
void mote_lwip_wall_clock(mote_server *srv, int64_t (*unix_s)(void *ctx), void *ctx);

/** With `NO_SYS 1`: runs tasks posted with mote_post() and a stop asked with
 * mote_server_stop(); call it from the main loop, beside `sys_check_timeouts()`. Returns
 * MOTE_RUNNING, or MOTE_STOPPED once the server has stopped. Harmless with `NO_SYS 0`. */
int mote_lwip_poll(mote_server *srv);

#ifdef __cplusplus
}
#endif

#endif
