/* main.c - mote-lwip-sample: the sample's pages served by mote on lwIP's raw API, over lwIP's
 * own TCP/IP on a TAP device (Debian's liblwip, the unix port), not the kernel's.
 *
 *   mote-lwip-sample [--tap NAME] [--address A] [--netmask M] [--gateway G] [--port P]
 *                    [--max-connections N]
 *
 * The TAP device must exist and be up (ip tuntap add dev NAME mode tap); the host reaches
 * lwIP's address through it (tests/lwip/netns.sh makes both inside a network namespace). The
 * seed's pages, the soft 404, /echo (POST), /upload, the WebSocket echo at /ws, the live page
 * at /live/ and the compiled-in files at / are served as by mote-sample; there is no TLS over
 * lwIP. Every byte mote uses comes from one static arena. SIGINT or SIGTERM stops it. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"

#include "api.h"
#include "live.h"
#include "mote_lwip.h"
#include "mote_static.h"
#include "pages.h"
#include "tap.h"

extern const mote_embedded_table sample_web;

typedef struct options {
    const char *tap, *address, *netmask, *gateway;
    unsigned port;
    unsigned max_connections;
} options;

/* mote's whole memory: the connections' slots and buffers, WebSocket messages, routes.
 * Sized for --max-connections up to 128 with the limits below (mote_server_create() says
 * MOTE_ENOMEM otherwise). */
static unsigned char arena[3u * 1024u * 1024u];

static void usage(void)
{
    fprintf(stderr, "usage: mote-lwip-sample [--tap NAME] [--address A] [--netmask M] "
                    "[--gateway G] [--port P] [--max-connections N]\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"tap", required_argument, NULL, 't'},     {"address", required_argument, NULL, 'a'},
        {"netmask", required_argument, NULL, 'm'}, {"gateway", required_argument, NULL, 'g'},
        {"port", required_argument, NULL, 'p'},
        {"max-connections", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *o = (options){"tap0", "192.168.77.2", "255.255.255.0", "192.168.77.1", 80, 128};
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 't') o->tap = optarg;
        else if (c == 'a') o->address = optarg;
        else if (c == 'm') o->netmask = optarg;
        else if (c == 'g') o->gateway = optarg;
        else if (c == 'p') o->port = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 'c') o->max_connections = (unsigned)strtoul(optarg, NULL, 10);
        else return -1;
    }
    if (optind != argc || o->port > 65535 || o->max_connections == 0) return -1;
    return 0;
}

static void log_line(void *user, int level, const char *message)
{
    (void)user;
    (void)level;
    fprintf(stderr, "%s\n", message);
}

static int64_t wall_clock(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static void tcpip_ready(void *arg)
{
    sys_sem_signal(arg);
}

/* lwIP's thread, and its interface on the TAP device. */
static int start_lwip(const options *o, struct netif *netif)
{
    ip4_addr_t ip, mask, gw;
    sys_sem_t ready;
    if (!ip4addr_aton(o->address, &ip) || !ip4addr_aton(o->netmask, &mask) ||
        !ip4addr_aton(o->gateway, &gw)) {
        fprintf(stderr, "mote-lwip-sample: bad --address, --netmask or --gateway\n");
        return -1;
    }
    if (sys_sem_new(&ready, 0) != ERR_OK) return -1;
    tcpip_init(tcpip_ready, &ready);
    sys_sem_wait(&ready);
    sys_sem_free(&ready);
    LOCK_TCPIP_CORE();
    if (!netif_add(netif, &ip, &mask, &gw, (void *)(uintptr_t)o->tap, tap_netif_init,
                   tcpip_input)) {
        UNLOCK_TCPIP_CORE();
        fprintf(stderr, "mote-lwip-sample: cannot open TAP device %s\n", o->tap);
        return -1;
    }
    netif_set_default(netif);
    netif_set_up(netif);
    UNLOCK_TCPIP_CORE();
    return 0;
}

/* A device's limits, as the README's footprint table counts them, but room for 128 clients. */
static void device_config(mote_config *cfg, const options *o)
{
    mote_config_init(cfg);
    cfg->max_connections = o->max_connections;
    cfg->max_request_line = 1024;
    cfg->max_header_bytes = 4096;
    cfg->max_headers = 32;
    cfg->response_buffer_size = 4096;
    cfg->max_response_header_bytes = 512;
    cfg->max_posts = 64;
    cfg->ws_max_buffered = 256u * 1024u;
    cfg->arena = arena;
    cfg->arena_size = sizeof arena;
    cfg->log = log_line;
}

static int register_routes(mote_server *srv)
{
    static const mote_static_options pages = {.fallback = page_soft_404};
    const mote_route_def routes[] = {
        {.path = "/echo", .handler = page_echo, .methods = MOTE_POST | MOTE_PUT,
         .body = MOTE_BODY_COLLECT},
        {.path = "/upload", .handler = page_upload, .methods = MOTE_POST | MOTE_PUT,
         .max_body_size = UINT64_MAX},
    };
    size_t i;
    int rc = pages_route(srv, "lwIP");
    for (i = 0; i < sizeof routes / sizeof routes[0] && rc == 0; i++) rc = mote_route(srv, &routes[i]);
    if (rc == 0) rc = mote_static_embedded(srv, "/", &sample_web, &pages);
    if (rc == 0) rc = live_start(srv);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    mote_config cfg;
    mote_server *srv;
    struct netif netif;
    sigset_t stop;
    int rc, sig;

    if (parse_options(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    /* lwIP's threads inherit the mask: the signals come to sigwait() below */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    device_config(&cfg, &o);
    if ((rc = mote_server_create(&srv, &cfg)) < 0) {
        fprintf(stderr, "mote-lwip-sample: %s\n", mote_strerror(rc));
        return 1;
    }
    if ((rc = register_routes(srv)) < 0 || start_lwip(&o, &netif) < 0) {
        if (rc < 0) fprintf(stderr, "mote-lwip-sample: %s\n", mote_strerror(rc));
        mote_server_destroy(srv);
        return 1;
    }
    LOCK_TCPIP_CORE();
    mote_lwip_wall_clock(srv, wall_clock, NULL);
    rc = mote_lwip_listen(srv, NULL, (uint16_t)o.port);
    UNLOCK_TCPIP_CORE();
    if (rc < 0) {
        fprintf(stderr, "mote-lwip-sample: port %u: %s\n", o.port, mote_strerror(rc));
        return 1;
    }
    printf("mote HTTP Server on lwIP %s\nAddress: %s, port: %u (TAP device %s)\n"
           "Open http://%s:%u/ from the TAP device's side\n",
           LWIP_VERSION_STRING, o.address, o.port, o.tap, o.address, o.port);
    fflush(stdout);

    sigwait(&stop, &sig);
    mote_server_stop(srv);
    rc = mote_server_run(srv); /* waits for the graceful shutdown, on lwIP's thread */
    LOCK_TCPIP_CORE();
    mote_server_destroy(srv);
    UNLOCK_TCPIP_CORE();
    return rc < 0 ? 1 : 0;
}
