/* mote-sample - the Zephyr "HTTP Server" sample, rebuilt on libmote.
 *
 * The seed's routes, registered as the seed registers them, served over HTTP on 8080 and HTTPS
 * on 8443 (IPv6 dual-stack by default, so IPv4 works too). Read it as the example to copy. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>


#include "mote.h"
#include "mote_static.h"
#include "api.h"
#include "live.h"
#include "pages.h"
#include "selfsigned.h"

#define MAX_WORKERS 64 /* --workers N: event-loop threads */
#define MAX_BINDS 16
#define MAX_SNI 16 /* --sni NAME,CERT,KEY */

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
          "  --log-level L   error, warn, info or debug (info)\n"
          "  --access-log F  access lines: mote, common, combined, json or off (mote)\n"
          "  --version       the versions of mote-sample and libmote, its TLS library, and HTTP/2 if built in\n"
          "  --help          this text\n",
          to);
}

/* The field a timeout option sets, or NULL for another option. */
static long *timeout_field(options *o, const char *opt)
{
    if (strcmp(opt, "--idle-timeout") == 0) return &o->idle_timeout_ms;
    if (strcmp(opt, "--head-timeout") == 0) return &o->head_timeout_ms;
    if (strcmp(opt, "--handshake-timeout") == 0) return &o->handshake_timeout_ms;
    if (strcmp(opt, "--body-timeout") == 0) return &o->body_timeout_ms;
    if (strcmp(opt, "--write-timeout") == 0) return &o->write_timeout_ms;
    if (strcmp(opt, "--ws-ping-interval") == 0) return &o->ws_ping_interval_ms;
    return NULL;
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

/* Returns 0, 1 for --help, or 2 after printing one line about a bad option. */
static int parse_options(int argc, char **argv, options *o)
{
    int i;
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
    o->auth_realm = "mote";
    o->auth_user = "admin";
    o->auth_password = "mote";
    o->log_level = MOTE_LOG_INFO;
    for (i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long *timeout = timeout_field(o, opt);
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return 1;
        if (strcmp(opt, "--version") == 0) return 3;
        if (timeout || strcmp(opt, "--port") == 0 || strcmp(opt, "--tls-port") == 0 ||
            strcmp(opt, "--bind") == 0 || strcmp(opt, "--cert") == 0 ||
            strcmp(opt, "--key") == 0 || strcmp(opt, "--max-conns") == 0 || strcmp(opt, "--workers") == 0 ||
            strcmp(opt, "--defer-accept") == 0 || strcmp(opt, "--http2") == 0 ||
            strcmp(opt, "--tls-min-version") == 0 || strcmp(opt, "--sni") == 0 ||
            strcmp(opt, "--client-ca") == 0 || strcmp(opt, "--client-cert") == 0 ||
            strcmp(opt, "--auth-realm") == 0 || strcmp(opt, "--auth-user") == 0 ||
            strcmp(opt, "--auth-password") == 0 ||
            strcmp(opt, "--log-level") == 0 || strcmp(opt, "--access-log") == 0 ||
            strcmp(opt, "--root") == 0) {
            if (!val) return bad_usage("%s needs a value", opt);
            i++;
        } else {
            return bad_usage("unknown option '%s'", opt);
        }
        if (strcmp(opt, "--port") == 0) {
            if (parse_number(val, 0, 65535, &o->port) < 0) return bad_usage("bad port '%s'", val);
        } else if (strcmp(opt, "--tls-port") == 0) {
            if (strcmp(val, "off") == 0) o->tls_port = -1;
            else if (parse_number(val, 0, 65535, &o->tls_port) < 0)
                return bad_usage("bad TLS port '%s'", val);
        } else if (strcmp(opt, "--bind") == 0) {
            if (o->bind_count == MAX_BINDS) return bad_usage("too many --bind (at most %s)", "16");
            o->binds[o->bind_count++] = val;
        } else if (strcmp(opt, "--cert") == 0) {
            o->cert = val;
        } else if (strcmp(opt, "--key") == 0) {
            o->key = val;
        } else if (strcmp(opt, "--sni") == 0) {
            if (parse_sni(o, val) < 0) return bad_usage("bad --sni '%s' (NAME,CERT,KEY)", val);
        } else if (strcmp(opt, "--client-ca") == 0) {
            o->client_ca = val;
        } else if (strcmp(opt, "--client-cert") == 0) {
            if (strcmp(val, "optional") != 0 && strcmp(val, "required") != 0)
                return bad_usage("bad --client-cert '%s' (optional or required)", val);
            o->client_auth = strcmp(val, "optional") == 0 ? MOTE_TLS_CLIENT_OPTIONAL
                                                          : MOTE_TLS_CLIENT_REQUIRED;
        } else if (strcmp(opt, "--max-conns") == 0) {
            if (parse_number(val, 1, 1000000, &o->max_conns) < 0)
                return bad_usage("bad connection count '%s'", val);
        } else if (strcmp(opt, "--workers") == 0) {
            if (parse_number(val, 1, MAX_WORKERS, &o->workers) < 0)
                return bad_usage("bad worker count '%s'", val);
        } else if (strcmp(opt, "--defer-accept") == 0) {
            if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
                return bad_usage("bad --defer-accept '%s' (on or off)", val);
            o->defer_accept = strcmp(val, "on") == 0;
        } else if (strcmp(opt, "--tls-min-version") == 0) {
            if (strcmp(val, "1.2") != 0 && strcmp(val, "1.3") != 0)
                return bad_usage("bad --tls-min-version '%s' (1.2 or 1.3)", val);
            o->tls_min = strcmp(val, "1.3") == 0 ? MOTE_TLS_1_3 : MOTE_TLS_1_2;
        } else if (strcmp(opt, "--http2") == 0) {
            if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
                return bad_usage("bad --http2 '%s' (on or off)", val);
            o->http2 = strcmp(val, "on") == 0;
        } else if (strcmp(opt, "--auth-realm") == 0) {
            o->auth_realm = val;
        } else if (strcmp(opt, "--auth-user") == 0) {
            o->auth_user = val;
        } else if (strcmp(opt, "--auth-password") == 0) {
            o->auth_password = val;
        } else if (timeout) {
            if (parse_number(val, 1, 86400000, timeout) < 0)
                return bad_usage("bad timeout '%s'", val);
        } else if (strcmp(opt, "--root") == 0) {
            o->root = val;
        } else if (strcmp(opt, "--access-log") == 0) {
            if ((o->access_log = parse_access_log(val)) < 0)
                return bad_usage("bad access-log format '%s'", val);
        } else if ((o->log_level = parse_level(val)) < 0) {
            return bad_usage("bad log level '%s'", val);
        }
    }
    if (!o->cert != !o->key) return bad_usage("%s", "--cert and --key go together");
    if (o->client_auth && !o->client_ca) return bad_usage("%s", "--client-cert needs --client-ca");
    if (o->client_ca && !o->client_auth) o->client_auth = MOTE_TLS_CLIENT_REQUIRED;
    if (o->bind_count == 0) o->binds[o->bind_count++] = NULL;
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
        /* as the seed registers them: a soft 404 for unknown URLs, two prefix routes */
        {.match = MOTE_ROUTE_DEFAULT, .handler = page_soft_404},
        {.path = "/headers", .match = MOTE_ROUTE_PREFIX, .handler = page_header_fields,
         .user = (void *)machine},
        {.path = "/index.html", .match = MOTE_ROUTE_PREFIX, .handler = page_it_works},
        /* and the two other statuses the seed lists */
        {.path = "/forbidden", .match = MOTE_ROUTE_PREFIX, .handler = page_forbidden},
        {.path = "/missing", .match = MOTE_ROUTE_PREFIX, .handler = page_missing},
        /* beyond the seed: bodies both ways (an upload of any size: streamed, never held),
         * events, and credentials */
        {.path = "/echo", .handler = page_echo, .methods = MOTE_POST | MOTE_PUT,
         .body = MOTE_BODY_COLLECT},
        {.path = "/upload", .handler = page_upload, .methods = MOTE_POST | MOTE_PUT,
         .max_body_size = UINT64_MAX},
        {.path = "/events", .handler = page_events, .user = ev, .methods = MOTE_GET},
    };
    const mote_route_def auth = {.path = "/auth", .match = MOTE_ROUTE_PREFIX,
                                 .handler = page_auth, .methods = MOTE_GET,
                                 .auth = &credentials};
    size_t i;
    int rc = 0;

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

static int listen_all(mote_server *srv, const options *o)
{
    int i, l;
    for (i = 0; i < o->bind_count; i++) {
        l = mote_listen(srv, o->binds[i], (uint16_t)o->port);
        if (l < 0) return l;
        print_banner(srv, l, "HTTP");
    }
    return 0;
}

static int listen_all_tls(mote_server *srv, const options *o)
{
    mote_tls_config tls;
    char *cert_pem = NULL, *key_pem = NULL, fingerprint[96], err[256];
    int i, l = 0;

    memset(&tls, 0, sizeof tls);
    tls.min_version = o->tls_min;
    tls.certs = o->sni;
    tls.cert_count = (size_t)o->sni_count;
    tls.client_auth = o->client_auth;
    tls.client_ca_file = o->client_ca;
    if (o->cert) {
        tls.cert_file = o->cert;
        tls.key_file = o->key;
    } else {
        if (selfsigned_create(&cert_pem, &key_pem, fingerprint, err, sizeof err) < 0) {
            fprintf(stderr, "mote-sample: %s\n", err);
            return -1;
        }
        tls.cert_pem = cert_pem;
        tls.key_pem = key_pem;
    }
    for (i = 0; i < o->bind_count && l >= 0; i++) {
        l = mote_listen_tls(srv, o->binds[i], (uint16_t)o->tls_port, &tls);
        if (l >= 0) print_banner(srv, l, "HTTPS");
    }
    if (l >= 0 && !o->cert)
        printf("TLS certificate: self-signed EC P-256, SHA-256 fingerprint %s\n", fingerprint);
    free(cert_pem);
    free(key_pem);
    return l < 0 ? l : 0;
}

/* Runs the server the options describe until a signal stops it; the exit status. */
static int serve(const options *o)
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
    rc = mote_server_create(&srv, &cfg);
    if (rc < 0) {
        fprintf(stderr, "mote-sample: cannot create the server: %s\n", mote_strerror(rc));
        return 1;
    }
    /* before any client can connect, so a stop request is never lost */
    running = srv;
    handle_signals();
    if (o->log_level >= MOTE_LOG_DEBUG) print_memory(srv);
    if (register_routes(srv, uts.machine, o, ev) < 0 || listen_all(srv, o) < 0 ||
        (o->tls_port >= 0 && listen_all_tls(srv, o) < 0)) {
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
