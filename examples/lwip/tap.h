/* tap.h - an lwIP network interface on a Linux TAP device, for mote-lwip-sample. */
#ifndef MOTE_LWIP_SAMPLE_TAP_H
#define MOTE_LWIP_SAMPLE_TAP_H

#include "lwip/netif.h"

/* netif_add()'s init function; the netif's state is the TAP device's name (it must exist). */
err_t tap_netif_init(struct netif *netif);

#endif
