/* mote-sample - the Zephyr "HTTP Server" sample, rebuilt on libmote.
 *
 * The seed's routes, registered as the seed registers them, served over HTTP on 8080 and HTTPS
 * on 8443 (IPv6 dual-stack by default, so IPv4 works too). Read it as the example to copy. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>


#include "mote.h"
#include "mote_static.h"
#include "api.h"
#include "live.h"
#include "ops.h"
#include "pages.h"
#include "selfsigned.h"

#define MAX_WORKERS 64 /* --workers N: event-loop threads */
#define MAX_BINDS 16
#define MAX_SNI 16 /* --sni NAME,CERT,KEY */
#define MAX_TRUSTED 1024 /* bytes of --trusted-proxy networks, joined */
#define MAX_INHERITED 16 /* sockets from systemd */

typedef struct options {
    long port, tls_port;          /* tls_port < 0: no HTTPS */
    const char *binds[MAX_BINDS];
    int bind_count;
    const char *cert, *key;
    mote_tls_cert sni[MAX_SNI];
    char *sni_text[MAX_SNI];      /* the --sni values, split in place */
    int sni_count;
    const char *client_ca;
    unsigned client_auth;         /* --client-cert: enum mote_tls_client_auth */
    long max_conns, workers;
    int defer_accept;
    int http2;                    /* --http2: offered on both ports */
    unsigned tls_min;             /* --tls-min-version: MOTE_TLS_1_2 or MOTE_TLS_1_3 */
    long idle_timeout_ms, head_timeout_ms, handshake_timeout_ms, body_timeout_ms, write_timeout_ms;
    long ws_ping_interval_ms;
    const char *auth_realm, *auth_user, *auth_password;
    int log_level, access_log;
    const char *root;             /* --root: a directory served at /files/ */
    int proxy_protocol, reuse_port;
    char trusted[MAX_TRUSTED];    /* --trusted-proxy networks, separated by spaces */
    long drain_timeout_ms, min_rate, min_rate_window_ms, pool_idle_ms;
    ops metrics;                  /* --metrics-allow networks */
} options;

/* The pages in web/, compiled in by mote-embed (CMake's mote_embed()). */
extern const mote_embedded_table sample_web;

/* for the signal handler; volatile: cleared before the server goes, never after */
static mote_server *volatile running;

static void usage(FILE *to)
{
    fputs("usage: mote-sample [options]\n"
          "  --port N        HTTP port (8080; 0 picks a free one)\n"
          "  --tls-port N    HTTPS port (8443, off in a build without TLS; 0 picks a free one;\n"
          "                  'off' disables HTTPS)\n"
          "  --bind ADDR     address to listen on, repeatable (default [::], which serves IPv4 too)\n"
          "  --cert FILE     PEM certificate chain for HTTPS (default: a self-signed one)\n"
          "  --key FILE      PEM private key for --cert\n"
          "  --tls-min-version 1.2|1.3  the lowest TLS version accepted (1.2; 1.3 needs OpenSSL)\n"
          "  --sni NAME,CERT,KEY  another certificate, for clients asking for NAME (SNI;\n"
          "                  \"*.example\" matches one label; empty NAME: beside --cert, e.g.\n"
          "                  ECDSA beside RSA); repeatable. SIGHUP reloads every certificate\n"
          "  --client-ca FILE  ask HTTPS clients for a certificate issued by a CA in FILE\n"
          "  --client-cert optional|required  whether one is needed (required)\n"
          "  --max-conns N   most open connections, per worker (1024)\n"
          "  --workers N     event-loop threads sharing the ports (1)\n"
          "  --defer-accept on|off  accept a connection once it has sent something (on)\n"
          "  --http2 on|off         HTTP/2: ALPN h2 on the TLS port, prior knowledge and\n"
          "                         Upgrade: h2c on the plain one (on, where built with it)\n"
          "  --idle-timeout MS   close idle keep-alive connections after MS (30000)\n"
          "  --head-timeout MS   408 when a request head takes longer than MS (10000)\n"
          "  --body-timeout MS   408 when a request body stalls for MS (30000)\n"
          "  --write-timeout MS  close when a reader takes nothing for MS (30000)\n"
          "  --handshake-timeout MS  close a TLS handshake not done in MS (10000)\n"
          "  --ws-ping-interval MS   ping a WebSocket silent for MS, close it if silent as\n"
          "                  long again (30000)\n"
          "  --auth-realm R  realm of /auth (\"mote\")\n"
          "  --auth-user U   user name /auth accepts (\"admin\")\n"
          "  --auth-password P   password /auth accepts (\"mote\")\n"
          "  --root DIR      serve the directory DIR at /files/ (listed, dot-files hidden)\n"
          "  --proxy-protocol  every listener requires a PROXY protocol header (v1 or v2,\n"
          "                  HAProxy's send-proxy / send-proxy-v2) naming the client\n"
          "  --trusted-proxy CIDR  believe Forwarded / X-Forwarded-For from these peers\n"
          "                  (repeatable)\n"
          "  --reuse-port    bind with SO_REUSEPORT, so that a new instance can start on the\n"
          "                  ports before this one drains (zero-downtime restart)\n"
          "  --drain-timeout MS  on SIGTERM, wait this long for responses in flight (5000)\n"
          "  --min-rate BYTES    close a body or blocked response slower than BYTES/s (off)\n"
          "  --min-rate-window MS  over windows of MS (10000)\n"
          "  --pool-idle MS  give buffers unused for MS back to the system (30000; 0: keep)\n"
          "  --metrics-allow CIDR  who may GET /metrics (repeatable; default 127.0.0.0/8, ::1)\n"
          "  Started by systemd with sockets (LISTEN_FDS), it serves those instead of\n"
          "  binding its own: a socket named \"https\" (FileDescriptorName=) gets TLS.\n"
          "  --log-level L   error, warn, info or debug (info)\n"
          "  --access-log F  access lines: mote, common, combined, json or off (mote)\n"
          "  --version       the versions of mote-sample and libmote, its TLS library, and HTTP/2 if built in\n"
          "  --help          this text\n",
          to);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("mote-sample: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return 2;
}

static int parse_number(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* The index of s among n names, or -1. */
static int parse_name(const char *s, const char *const *names, int n)
{
    int i;
    for (i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0) return i;
    }
    return -1;
}

static int parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    return parse_name(s, names, 4);
}

/* In the order of enum mote_access_log. */
static int parse_access_log(const char *s)
{
    static const char *const names[] = {"mote", "common", "combined", "json", "off"};
    return parse_name(s, names, 5);
}

/* "NAME,CERT,KEY" as one more certificate; -1 when malformed or one too many. */
static int parse_sni(options *o, const char *val)
{
    mote_tls_cert *c = &o->sni[o->sni_count];
    char *text, *cert, *key;
    if (o->sni_count == MAX_SNI || (text = strdup(val)) == NULL) return -1;
    cert = strchr(text, ',');
    key = cert ? strchr(cert + 1, ',') : NULL;
    if (!key || key == cert + 1 || !key[1] || strchr(key + 1, ',')) {
        free(text);
        return -1;
    }
    *cert++ = '\0';
    *key++ = '\0';
    memset(c, 0, sizeof *c);
    c->server_name = text;
    c->cert_file = cert;
    c->key_file = key;
    o->sni_text[o->sni_count++] = text;
    return 0;
}

static void free_options(options *o)
{
    int i;
    for (i = 0; i < o->sni_count; i++) free(o->sni_text[i]);
}

/* The long options; each value is its own code (getopt_long's return). */
enum {
    O_PORT = 256, O_TLS_PORT, O_BIND, O_CERT, O_KEY, O_TLS_MIN, O_SNI, O_CLIENT_CA, O_CLIENT_CERT,
    O_MAX_CONNS, O_WORKERS, O_DEFER_ACCEPT, O_HTTP2, O_IDLE, O_HEAD, O_BODY, O_WRITE, O_HANDSHAKE,
    O_WS_PING, O_AUTH_REALM, O_AUTH_USER, O_AUTH_PASSWORD, O_ROOT, O_LOG_LEVEL, O_ACCESS_LOG,
    O_PROXY_PROTOCOL, O_TRUSTED_PROXY, O_REUSE_PORT, O_DRAIN_TIMEOUT, O_MIN_RATE,
    O_MIN_RATE_WINDOW, O_POOL_IDLE, O_METRICS_ALLOW, O_VERSION, O_HELP = 'h'
};

static const struct option long_options[] = {
    {"port", required_argument, NULL, O_PORT},
    {"tls-port", required_argument, NULL, O_TLS_PORT},
    {"bind", required_argument, NULL, O_BIND},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"tls-min-version", required_argument, NULL, O_TLS_MIN},
    {"sni", required_argument, NULL, O_SNI},
    {"client-ca", required_argument, NULL, O_CLIENT_CA},
    {"client-cert", required_argument, NULL, O_CLIENT_CERT},
    {"max-conns", required_argument, NULL, O_MAX_CONNS},
    {"workers", required_argument, NULL, O_WORKERS},
    {"defer-accept", required_argument, NULL, O_DEFER_ACCEPT},
    {"http2", required_argument, NULL, O_HTTP2},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"head-timeout", required_argument, NULL, O_HEAD},
    {"body-timeout", required_argument, NULL, O_BODY},
    {"write-timeout", required_argument, NULL, O_WRITE},
    {"handshake-timeout", required_argument, NULL, O_HANDSHAKE},
    {"ws-ping-interval", required_argument, NULL, O_WS_PING},
    {"auth-realm", required_argument, NULL, O_AUTH_REALM},
    {"auth-user", required_argument, NULL, O_AUTH_USER},
    {"auth-password", required_argument, NULL, O_AUTH_PASSWORD},
    {"root", required_argument, NULL, O_ROOT},
    {"log-level", required_argument, NULL, O_LOG_LEVEL},
    {"access-log", required_argument, NULL, O_ACCESS_LOG},
    {"proxy-protocol", no_argument, NULL, O_PROXY_PROTOCOL},
    {"trusted-proxy", required_argument, NULL, O_TRUSTED_PROXY},
    {"reuse-port", no_argument, NULL, O_REUSE_PORT},
    {"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
    {"min-rate", required_argument, NULL, O_MIN_RATE},
    {"min-rate-window", required_argument, NULL, O_MIN_RATE_WINDOW},
    {"pool-idle", required_argument, NULL, O_POOL_IDLE},
    {"metrics-allow", required_argument, NULL, O_METRICS_ALLOW},
    {"version", no_argument, NULL, O_VERSION},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* The field a millisecond option sets, or NULL for another option. */
static long *ms_field(options *o, int code)
{
    switch (code) {
    case O_IDLE: return &o->idle_timeout_ms;
    case O_HEAD: return &o->head_timeout_ms;
    case O_HANDSHAKE: return &o->handshake_timeout_ms;
    case O_BODY: return &o->body_timeout_ms;
    case O_WRITE: return &o->write_timeout_ms;
    case O_WS_PING: return &o->ws_ping_interval_ms;
    case O_DRAIN_TIMEOUT: return &o->drain_timeout_ms;
    case O_MIN_RATE_WINDOW: return &o->min_rate_window_ms;
    case O_POOL_IDLE: return &o->pool_idle_ms;
    default: return NULL;
    }
}

static int on_off(const char *val, int *out)
{
    if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) return -1;
    *out = strcmp(val, "on") == 0;
    return 0;
}

static int add_trusted(options *o, const char *cidr)
{
    size_t have = strlen(o->trusted), n = strlen(cidr);
    if (have + n + 2 > sizeof o->trusted || strchr(cidr, ' ') || strchr(cidr, ',')) return -1;
    if (have) o->trusted[have++] = ' ';
    memcpy(o->trusted + have, cidr, n + 1);
    return 0;
}

static void set_defaults(options *o)
{
    memset(o, 0, sizeof *o);
    o->port = 8080;
    o->tls_port = MOTE_CONFIG_TLS ? 8443 : -1; /* a library built without TLS: HTTP only */
    o->max_conns = 1024;
    o->workers = 1;
    o->defer_accept = 1;
    o->http2 = 1;
    o->idle_timeout_ms = 30000;
    o->head_timeout_ms = 10000;
    o->handshake_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->write_timeout_ms = 30000;
    o->ws_ping_interval_ms = 30000;
    o->drain_timeout_ms = 5000;
    o->min_rate_window_ms = 10000;
    o->pool_idle_ms = 30000;
    o->auth_realm = "mote";
    o->auth_user = "admin";
    o->auth_password = "mote";
    o->log_level = MOTE_LOG_INFO;
}

/* One option's value into o: 0, or 2 after printing one line about it. */
static int take_option(options *o, int code, const char *val)
{
    long *ms = ms_field(o, code);
    switch (code) {
    case O_PORT:
        if (parse_number(val, 0, 65535, &o->port) < 0) return bad_usage("bad port '%s'", val);
        break;
    case O_TLS_PORT:
        if (strcmp(val, "off") == 0) o->tls_port = -1;
        else if (parse_number(val, 0, 65535, &o->tls_port) < 0)
            return bad_usage("bad TLS port '%s'", val);
        break;
    case O_BIND:
        if (o->bind_count == MAX_BINDS) return bad_usage("too many --bind (at most %s)", "16");
        o->binds[o->bind_count++] = val;
        break;
    case O_CERT: o->cert = val; break;
    case O_KEY: o->key = val; break;
    case O_SNI:
        if (parse_sni(o, val) < 0) return bad_usage("bad --sni '%s' (NAME,CERT,KEY)", val);
        break;
    case O_CLIENT_CA: o->client_ca = val; break;
    case O_CLIENT_CERT:
        if (strcmp(val, "optional") != 0 && strcmp(val, "required") != 0)
            return bad_usage("bad --client-cert '%s' (optional or required)", val);
        o->client_auth = strcmp(val, "optional") == 0 ? MOTE_TLS_CLIENT_OPTIONAL
                                                      : MOTE_TLS_CLIENT_REQUIRED;
        break;
    case O_MAX_CONNS:
        if (parse_number(val, 1, 1000000, &o->max_conns) < 0)
            return bad_usage("bad connection count '%s'", val);
        break;
    case O_WORKERS:
        if (parse_number(val, 1, MAX_WORKERS, &o->workers) < 0)
            return bad_usage("bad worker count '%s'", val);
        break;
    case O_DEFER_ACCEPT:
        if (on_off(val, &o->defer_accept) < 0)
            return bad_usage("bad --defer-accept '%s' (on or off)", val);
        break;
    case O_TLS_MIN:
        if (strcmp(val, "1.2") != 0 && strcmp(val, "1.3") != 0)
            return bad_usage("bad --tls-min-version '%s' (1.2 or 1.3)", val);
        o->tls_min = strcmp(val, "1.3") == 0 ? MOTE_TLS_1_3 : MOTE_TLS_1_2;
        break;
    case O_HTTP2:
        if (on_off(val, &o->http2) < 0) return bad_usage("bad --http2 '%s' (on or off)", val);
        break;
    case O_AUTH_REALM: o->auth_realm = val; break;
    case O_AUTH_USER: o->auth_user = val; break;
    case O_AUTH_PASSWORD: o->auth_password = val; break;
    case O_ROOT: o->root = val; break;
    case O_ACCESS_LOG:
        if ((o->access_log = parse_access_log(val)) < 0)
            return bad_usage("bad access-log format '%s'", val);
        break;
    case O_LOG_LEVEL:
        if ((o->log_level = parse_level(val)) < 0) return bad_usage("bad log level '%s'", val);
        break;
    case O_PROXY_PROTOCOL: o->proxy_protocol = 1; break;
    case O_REUSE_PORT: o->reuse_port = 1; break;
    case O_TRUSTED_PROXY:
        if (add_trusted(o, val) < 0) return bad_usage("bad --trusted-proxy '%s'", val);
        break;
    case O_MIN_RATE:
        if (parse_number(val, 1, 0x7fffffffL, &o->min_rate) < 0)
            return bad_usage("bad --min-rate '%s'", val);
        break;
    case O_METRICS_ALLOW:
        if (ops_allow(&o->metrics, val) < 0) return bad_usage("bad --metrics-allow '%s'", val);
        break;
    default:
        if (!ms || parse_number(val, code == O_DRAIN_TIMEOUT || code == O_POOL_IDLE ? 0 : 1,
                                86400000, ms) < 0)
            return bad_usage("bad time '%s'", val);
    }
    return 0;
}

/* Returns 0, 1 for --help, 3 for --version, or 2 after printing one line about a bad option. */
static int parse_options(int argc, char **argv, options *o)
{
    int code, rc;
    set_defaults(o);
    opterr = 0; /* our own message, with the option's name */
    while ((code = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (code == O_HELP) return 1;
        if (code == O_VERSION) return 3;
        if (code == ':') return bad_usage("%s needs a value", argv[optind - 1]);
        if (code == '?') return bad_usage("unknown option '%s'", argv[optind - 1]);
        if ((rc = take_option(o, code, optarg)) != 0) return rc;
    }
    if (optind < argc) return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!o->cert != !o->key) return bad_usage("%s", "--cert and --key go together");
    if (o->client_auth && !o->client_ca) return bad_usage("%s", "--client-cert needs --client-ca");
    if (o->client_ca && !o->client_auth) o->client_auth = MOTE_TLS_CLIENT_REQUIRED;
    if (o->bind_count == 0) o->binds[o->bind_count++] = NULL;
    if (o->metrics.count == 0) {
        (void)ops_allow(&o->metrics, "127.0.0.0/8");
        (void)ops_allow(&o->metrics, "::1");
    }
    return 0;
}

static void print_log(void *user, int level, const char *message)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    FILE *to = level <= MOTE_LOG_WARN ? stderr : stdout;
    (void)user;
    fprintf(to, "[%s] %s\n", names[level < 0 || level > 3 ? 0 : level], message);
}

static void print_memory(const mote_server *srv)
{
    size_t idle, active;
    mote_server_memory(srv, &idle, &active);
    printf("[debug] memory: %zu bytes per connection, %zu more while a request is in flight\n", idle,
           active);
}

static void on_signal(int sig)
{
    if (!running) return;
    /* SIGHUP: the certificates again, on the loop's thread (no thread of ours: with one loop
     * the process stays single-threaded, which glibc's system calls are cheaper for) */
    if (sig == SIGHUP) mote_server_reload_tls_soon(running);
    else mote_server_stop(running);
}

static void handle_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* The compiled-in pages at / (a path naming none of them gets the seed's soft 404), and
 * --root's directory at /files/. */
static int register_files(mote_server *srv, const options *o)
{
    const mote_static_options pages = {.fallback = page_soft_404};
    const mote_static_options files = {.listing = 1};
    int rc = mote_static_embedded(srv, "/", &sample_web, &pages);
    if (rc == 0 && o->root && (rc = mote_static_dir(srv, "/files", o->root, &files)) < 0)
        fprintf(stderr, "mote-sample: --root %s: %s\n", o->root, mote_strerror(rc));
    return rc;
}

/* Returns 0, or a MOTE_E* code for a route the options make invalid. */
static int register_routes(mote_server *srv, const char *machine, const options *o, events *ev)
{
    const mote_basic_auth credentials = {o->auth_realm, o->auth_user, o->auth_password};
    const mote_route_def routes[] = {
        /* beyond the seed: bodies both ways (an upload of any size: streamed, never held),
         * events, and credentials */
        {.path = "/echo", .handler = page_echo, .methods = MOTE_POST | MOTE_PUT,
         .body = MOTE_BODY_COLLECT},
        {.path = "/upload", .handler = page_upload, .methods = MOTE_POST | MOTE_PUT,
         .max_body_size = UINT64_MAX},
        {.path = "/events", .handler = page_events, .user = ev, .methods = MOTE_GET},
        /* for operators: a load balancer's health check, and the figures */
        {.path = "/healthz", .handler = page_healthz, .methods = MOTE_GET},
        {.path = "/metrics", .handler = page_metrics, .user = (void *)&o->metrics,
         .methods = MOTE_GET},
    };
    const mote_route_def auth = {.path = "/auth", .match = MOTE_ROUTE_PREFIX,
                                 .handler = page_auth, .methods = MOTE_GET,
                                 .auth = &credentials};
    size_t i;
    int rc = pages_route(srv, machine);

    for (i = 0; i < sizeof routes / sizeof routes[0] && rc == 0; i++) rc = mote_route(srv, &routes[i]);
    if (rc == 0 && (rc = mote_route(srv, &auth)) < 0)
        fprintf(stderr, "mote-sample: bad --auth-realm or --auth-user (no '\"' or ':')\n");
    if (rc == 0) rc = register_files(srv, o);
    if (rc == 0) rc = events_start(srv, ev);
    if (rc == 0) rc = live_start(srv);
    return rc;
}

static void print_banner(mote_server *srv, int listener, const char *what)
{
    char addr[64];
    if (mote_listener_address(srv, listener, addr, sizeof addr) < 0) strcpy(addr, "?");
    printf("mote %s Server\nAddress: %s, port: %d\n", what, addr, mote_listener_port(srv, listener));
}

/* A listener opened: announced, and behind the PROXY protocol when asked. */
static int opened(mote_server *srv, const options *o, int l, const char *what)
{
    if (l < 0) return l;
    if (o->proxy_protocol) {
        int rc = mote_listener_proxy_protocol(srv, l);
        if (rc < 0) return rc;
    }
    print_banner(srv, l, what);
    return 0;
}

/* The TLS configuration the options describe; *cert_pem and *key_pem hold a self-signed
 * certificate made for it (freed by the caller) when none was given. */
static int tls_options(const options *o, mote_tls_config *tls, char **cert_pem, char **key_pem,
                       char *fingerprint)
{
    char err[256];
    memset(tls, 0, sizeof *tls);
    tls->min_version = o->tls_min;
    tls->certs = o->sni;
    tls->cert_count = (size_t)o->sni_count;
    tls->client_auth = o->client_auth;
    tls->client_ca_file = o->client_ca;
    if (o->cert) {
        tls->cert_file = o->cert;
        tls->key_file = o->key;
        return 0;
    }
    if (selfsigned_create(cert_pem, key_pem, fingerprint, err, sizeof err) < 0) {
        fprintf(stderr, "mote-sample: %s\n", err);
        return -1;
    }
    tls->cert_pem = *cert_pem;
    tls->key_pem = *key_pem;
    return 0;
}

/* The sockets systemd passed (socket activation), or the ports of the options. */
static int listen_inherited(mote_server *srv, const options *o, const mote_inherited_fd *fds,
                            int n, const mote_tls_config *tls)
{
    int i, rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        int secure = strcmp(fds[i].name, "https") == 0;
        if (secure && !tls) {
            fprintf(stderr, "mote-sample: socket \"https\" given, but HTTPS is off\n");
            return -1;
        }
        rc = opened(srv, o, mote_listen_fd(srv, fds[i].fd, secure ? tls : NULL),
                    secure ? "HTTPS" : "HTTP");
    }
    return rc;
}

static int listen_ports(mote_server *srv, const options *o, const mote_tls_config *tls)
{
    int i, rc = 0;
    for (i = 0; i < o->bind_count && rc == 0; i++)
        rc = opened(srv, o, mote_listen(srv, o->binds[i], (uint16_t)o->port), "HTTP");
    for (i = 0; tls && i < o->bind_count && rc == 0; i++)
        rc = opened(srv, o, mote_listen_tls(srv, o->binds[i], (uint16_t)o->tls_port, tls), "HTTPS");
    return rc;
}

static int listen_all(mote_server *srv, const options *o)
{
    mote_inherited_fd fds[MAX_INHERITED];
    mote_tls_config tls;
    char *cert_pem = NULL, *key_pem = NULL, fingerprint[96] = "";
    int n = mote_listen_fds(fds, MAX_INHERITED), rc;
    if (n < 0) {
        fprintf(stderr, "mote-sample: malformed LISTEN_FDS / LISTEN_PID\n");
        return -1;
    }
    rc = o->tls_port >= 0 ? tls_options(o, &tls, &cert_pem, &key_pem, fingerprint) : 0;
    if (rc == 0 && n > 0) rc = listen_inherited(srv, o, fds, n, o->tls_port >= 0 ? &tls : NULL);
    else if (rc == 0) rc = listen_ports(srv, o, o->tls_port >= 0 ? &tls : NULL);
    if (rc == 0 && cert_pem)
        printf("TLS certificate: self-signed EC P-256, SHA-256 fingerprint %s\n", fingerprint);
    free(cert_pem);
    free(key_pem);
    return rc;
}

/* Runs the server the options describe until a signal stops it; the exit status. */
static int serve(options *o)
{
    mote_config cfg;
    mote_server *srv;
    struct utsname uts;
    static events ev[MAX_WORKERS]; /* one per event loop */
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (uname(&uts) < 0) strcpy(uts.machine, "unknown");

    mote_config_init(&cfg);
    cfg.max_connections = (size_t)o->max_conns;
    cfg.workers = (unsigned)o->workers;
    cfg.defer_accept = o->defer_accept;
    if (!o->http2) cfg.http2 = 0;
    cfg.idle_timeout_ms = (uint32_t)o->idle_timeout_ms;
    cfg.head_timeout_ms = (uint32_t)o->head_timeout_ms;
    cfg.handshake_timeout_ms = (uint32_t)o->handshake_timeout_ms;
    cfg.body_timeout_ms = (uint32_t)o->body_timeout_ms;
    cfg.write_timeout_ms = (uint32_t)o->write_timeout_ms;
    cfg.ws_ping_interval_ms = (uint32_t)o->ws_ping_interval_ms;
    cfg.log = print_log;
    cfg.log_level = (enum mote_log_level)o->log_level;
    cfg.access_log = (enum mote_access_log)o->access_log;
    cfg.reuse_port = o->reuse_port;
    cfg.trusted_proxies = o->trusted[0] ? o->trusted : NULL;
    cfg.shutdown_timeout_ms = (uint32_t)o->drain_timeout_ms;
    cfg.min_rate_bytes = (uint32_t)o->min_rate;
    cfg.min_rate_window_ms = (uint32_t)o->min_rate_window_ms;
    cfg.pool_idle_ms = (uint32_t)o->pool_idle_ms;
    cfg.on_shutdown = events_end;
    cfg.shutdown_user = ev;
    rc = mote_server_create(&srv, &cfg);
    if (rc < 0) {
        fprintf(stderr, "mote-sample: cannot create the server: %s\n", mote_strerror(rc));
        return 1;
    }
    o->metrics.srv = srv;
    /* before any client can connect, so a stop request is never lost */
    running = srv;
    handle_signals();
    if (o->log_level >= MOTE_LOG_DEBUG) print_memory(srv);
    if (register_routes(srv, uts.machine, o, ev) < 0 || listen_all(srv, o) < 0) {
        mote_server_destroy(srv);
        return 2;
    }
    rc = mote_server_run(srv);
    running = NULL;
    mote_server_destroy(srv);
    printf("mote-sample: stopped\n");
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);

    if (rc == 1) usage(stdout);
    if (rc == 3)
        printf("mote-sample %s (libmote %s, TLS: %s%s)\n", MOTE_VERSION, MOTE_VERSION,
               mote_tls_backend(), MOTE_CONFIG_HTTP2 ? ", HTTP/2" : "");
    if (rc == 0) rc = serve(&o);
    else if (rc != 2) rc = 0;
    free_options(&o);
    return rc;
}
