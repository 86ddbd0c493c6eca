/* tap.c - an lwIP network interface on a Linux TAP device: Ethernet frames read by a thread of
 * lwIP's (sys_thread_new) and handed to the tcpip thread (netif->input), frames written as lwIP
 * sends them.
 *
 * Debian's liblwip has its own (tapif_init()), but its input path corrupts the heap on any frame
 * above 592 bytes (valgrind: an invalid write in pbuf_take() after a 616-byte PBUF_POOL block;
 * its pbuf_alloc() puts a 1,000-byte frame in one such block): so frames here go into PBUF_RAM
 * pbufs of their exact size. */
#define _DEFAULT_SOURCE /* struct ifreq */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"

#define FRAME_MAX 1518 /* an Ethernet frame with a VLAN tag, without its CRC */

static int tap_fd(const struct netif *netif)
{
    return (int)(intptr_t)netif->state;
}

static err_t tap_output(struct netif *netif, struct pbuf *p)
{
    char frame[FRAME_MAX];
    u16_t len = pbuf_copy_partial(p, frame, sizeof frame, 0);
    ssize_t n;
    do {
        n = write(tap_fd(netif), frame, len);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? ERR_OK : ERR_IF;
}

static void tap_reader(void *arg)
{
    struct netif *netif = arg;
    char frame[FRAME_MAX];
    for (;;) {
        ssize_t n = read(tap_fd(netif), frame, sizeof frame);
        struct pbuf *p;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
        if (!p) continue; /* dropped: TCP sends it again */
        pbuf_take(p, frame, (u16_t)n);
        if (netif->input(p, netif) != ERR_OK) pbuf_free(p);
    }
}

err_t tap_netif_init(struct netif *netif)
{
    static const u8_t mac[6] = {0x02, 0x6d, 0x6f, 0x74, 0x65, 0x01}; /* locally administered */
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return ERR_IF;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, netif->state, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return ERR_IF;
    }
    netif->state = (void *)(intptr_t)fd;
    netif->name[0] = 't';
    netif->name[1] = 'p';
    netif->output = etharp_output;
#if LWIP_IPV6
    netif->output_ip6 = ethip6_output;
#endif
    netif->linkoutput = tap_output;
    netif->mtu = 1500;
    netif->hwaddr_len = 6;
    memcpy(netif->hwaddr, mac, 6);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
                   NETIF_FLAG_LINK_UP;
    sys_thread_new("tap", tap_reader, netif, 0, 0);
    return ERR_OK;
}
