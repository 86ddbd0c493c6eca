/* pages.c - the seed's pages, byte for byte, as mote handlers. */
#include "pages.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_HEAD "<html>\n<head>\n<title>Zephyr HTTP Server</title>\n</head>\n"
#define CENTERED_PAGE(text) PAGE_HEAD "<body><h1><center>" text "</center></h1></body>\n</html>\n"

void page_it_works(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 200, "text/html", CENTERED_PAGE("It Works!"));
}

void page_forbidden(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 403, "text/html", CENTERED_PAGE("403 Forbidden"));
}

void page_missing(mote_request *req, mote_response *res, void *user)
{
    (void)req;
    (void)user;
    mote_respond(res, 404, "text/html", CENTERED_PAGE("404 Not Found"));
}

/* Streamed in two pieces, chunked, as the seed sends it. A fresh response always has room for
 * them; were a write refused, mote would end the response for the handler. */
void page_soft_404(mote_request *req, mote_response *res, void *user)
{
    static const char body[] = "<body><h1><center>404 Not Found</center></h1></body>\n</html>\n";
    (void)req;
    (void)user;
    mote_response_header(res, "Content-Type", "text/html");
    if (mote_response_write(res, PAGE_HEAD, strlen(PAGE_HEAD)) == MOTE_OK &&
        mote_response_write(res, body, sizeof body - 1) == MOTE_OK)
        mote_response_end(res);
}

/* The header page can outgrow the send buffer (every header the client sent, escaped), so it
 * is written as far as the buffer takes it and continued each time the socket drains. To
 * continue, the page is generated again from the top and the part already sent is skipped:
 * no state but a count. */
typedef struct header_page {
    const char *machine;
    size_t sent;             /* bytes of the page accepted so far */
} header_page;

/* Collects small pieces of the page into chunks of up to a kilobyte. */
typedef struct page_writer {
    mote_response *res;
    header_page *page;
    int rc;                  /* the first failed write; nothing more is written after it */
    size_t pos;              /* bytes of the page generated in this pass */
    size_t len;
    char buf[1024];
} page_writer;

static void pw_flush(page_writer *w)
{
    if (w->rc == 0 && w->len) {
        w->rc = mote_response_write(w->res, w->buf, w->len);
        if (w->rc == 0) w->page->sent += w->len;
    }
    w->len = 0;
}

static void pw_put(page_writer *w, const char *s, size_t len)
{
    if (w->pos + len <= w->page->sent) { /* sent in an earlier pass */
        w->pos += len;
        return;
    }
    if (w->pos < w->page->sent) {
        size_t skip = w->page->sent - w->pos;
        s += skip;
        len -= skip;
        w->pos += skip;
    }
    while (len && w->rc == 0) {
        size_t n = sizeof w->buf - w->len;
        if (n > len) n = len;
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->pos += n;
        s += n;
        len -= n;
        if (w->len == sizeof w->buf) pw_flush(w);
    }
}

static void pw_text(page_writer *w, const char *s)
{
    pw_put(w, s, strlen(s));
}

/* Text with the characters HTML gives meaning to escaped, so a header cannot inject markup. */
static void pw_escaped(page_writer *w, const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '<': pw_text(w, "&lt;"); break;
        case '>': pw_text(w, "&gt;"); break;
        case '&': pw_text(w, "&amp;"); break;
        case '"': pw_text(w, "&quot;"); break;
        default: pw_put(w, s + i, 1); break;
        }
    }
}

/* Behind a proxy (PROXY protocol, or trusted Forwarded fields): who the client is, and the
 * proxy it came through. Nothing for a direct client, so the seed's page stays the seed's. */
static void pw_client(page_writer *w, const mote_request *req)
{
    char client[64], peer[64], proxy[64];
    int via = mote_request_proxy_addr(req, proxy, sizeof proxy, NULL) == 0;
    if (mote_request_client_addr(req, client, sizeof client, NULL) < 0 ||
        mote_request_peer(req, peer, sizeof peer, NULL) < 0)
        return;
    if (!via && strcmp(client, peer) == 0) return;
    pw_text(w, "</h2>\n<h2>Client: ");
    pw_text(w, client);
    pw_text(w, " (");
    pw_text(w, mote_request_client_scheme(req));
    pw_text(w, ")");
    if (via) {
        pw_text(w, "</h2>\n<h2>Proxy: ");
        pw_text(w, proxy);
    }
}

/* Writes as much of the page as fits; ends the response once all of it is out. */
static void header_page_continue(mote_response *res, void *user)
{
    mote_request *req = mote_response_request(res);
    const char *method = mote_request_method(req), *target = mote_request_target(req);
    const mote_tls_peer *peer = mote_request_tls_peer(req);
    size_t i, count = mote_request_header_count(req);
    header_page *page = user;
    page_writer w;
    mote_header h;

    w.res = res;
    w.page = page;
    w.rc = 0;
    w.pos = 0;
    w.len = 0;
    pw_text(&w, PAGE_HEAD "<body>\n<h1>Zephyr HTTP server</h1>\n<h2>HTTP Header Fields</h2>\n<ul>\n");
    for (i = 0; i < count && w.rc == 0; i++) {
        mote_request_header_at(req, i, &h);
        pw_text(&w, "<li>");
        pw_escaped(&w, h.name, h.name_len);
        pw_text(&w, ": ");
        pw_escaped(&w, h.value, h.value_len);
        pw_text(&w, "</li>\n");
    }
    pw_text(&w, "</ul>\n<h2>HTTP Method: ");
    pw_escaped(&w, method, strlen(method));
    pw_text(&w, "</h2>\n<h2>URL: ");
    pw_escaped(&w, target, strlen(target));
    pw_client(&w, req);
    if (peer) {
        /* the client certificate the listener verified (--client-ca) */
        pw_text(&w, "</h2>\n<h2>Client certificate: ");
        pw_escaped(&w, peer->subject, strlen(peer->subject));
        pw_text(&w, "</h2>\n<h2>Client certificate names: ");
        pw_escaped(&w, peer->san, strlen(peer->san));
        pw_text(&w, "</h2>\n<h2>Client certificate SHA-256: ");
        pw_text(&w, peer->fingerprint);
    }
    pw_text(&w, "</h2>\n<h2>Server: ");
    pw_escaped(&w, page->machine, strlen(page->machine));
    pw_text(&w, "</h2>\n</body>\n</html>\n");
    pw_flush(&w);
    if (w.rc == 0) mote_response_end(res);
    /* MOTE_EAGAIN: on_ready brings us back when the socket has taken some of it */
}

static void header_page_free(void *user, int completed)
{
    (void)completed;
    free(user);
}

/* The page is written from on_ready, offered as soon as this handler returns, and again each
 * time the socket has taken some of it. */
void page_header_fields(mote_request *req, mote_response *res, void *user)
{
    header_page *page = malloc(sizeof *page);
    if (!page) {
        mote_respond(res, 503, "text/plain", "503 Service Unavailable\n");
        return;
    }
    page->machine = user;
    page->sent = 0;
    mote_response_header(res, "Content-Type", "text/html");
    mote_request_set_user(req, page, header_page_free);
    mote_response_defer(res, header_page_continue);
}

int pages_route(mote_server *srv, const char *machine)
{
    const mote_route_def routes[] = {
        /* as the seed registers them: a soft 404 for unknown URLs, two prefix routes */
        {.match = MOTE_ROUTE_DEFAULT, .handler = page_soft_404},
        {.path = "/headers", .match = MOTE_ROUTE_PREFIX, .handler = page_header_fields,
         .user = (void *)machine},
        {.path = "/index.html", .match = MOTE_ROUTE_PREFIX, .handler = page_it_works},
        /* and the two other statuses the seed lists */
        {.path = "/forbidden", .match = MOTE_ROUTE_PREFIX, .handler = page_forbidden},
        {.path = "/missing", .match = MOTE_ROUTE_PREFIX, .handler = page_missing},
    };
    size_t i;
    int rc = 0;
    for (i = 0; i < sizeof routes / sizeof routes[0] && rc == 0; i++) rc = mote_route(srv, &routes[i]);
    return rc;
}
