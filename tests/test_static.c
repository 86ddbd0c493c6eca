/* test_static.c - static content in-process over loopback: compiled-in files (a table written
 * by hand as mote-embed writes it) and a directory made for the test, each answer compared
 * with what RFC 9110 asks: negotiation and Vary, 304 and 412 in §13.2.2's order, 206, 416 and
 * multipart/byteranges, HEAD, 405, 301 to a directory's '/', 400 for an ambiguous target, and
 * nothing from outside the root (a symbolic link out, a FIFO that would block an open). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "loopback.h"
#include "mote.h"
#include "mote_static.h"

/* ---- a blocking client ----------------------------------------------------------------------- */

typedef struct reply {
    char *text;     /* the whole reply, NUL-terminated (bodies here hold no NUL but one test's) */
    size_t len;
    int status;
    const char *body;
    size_t body_len;
} reply;

/* Sends `head` (the request line and fields, without the blank line) with Connection: close
 * and reads the reply to its end. */
static reply fetch(int port, const char *head)
{
    reply r;
    char req[1024];
    size_t cap = 0;
    int fd = loopback_dial(port, 10), n = snprintf(req, sizeof req, "%s\r\nHost: t\r\nConnection: close\r\n\r\n", head);
    memset(&r, 0, sizeof r);
    if (fd < 0 || send(fd, req, (size_t)n, 0) != n) {
        if (fd >= 0) close(fd);
        return r;
    }
    for (;;) {
        ssize_t got;
        if (r.len + 4097 > cap) {
            char *bigger = realloc(r.text, cap = cap ? cap * 2 : 8192);
            if (!bigger) break;
            r.text = bigger;
        }
        got = recv(fd, r.text + r.len, cap - r.len - 1, 0);
        if (got <= 0) break;
        r.len += (size_t)got;
    }
    close(fd);
    if (!r.text) return r;
    r.text[r.len] = '\0';
    if (r.len > 12) r.status = atoi(r.text + 9);
    r.body = strstr(r.text, "\r\n\r\n");
    if (r.body) {
        r.body += 4;
        r.body_len = r.len - (size_t)(r.body - r.text);
    }
    return r;
}

/* The value of a field of the reply's head ("" when absent), in a static buffer. */
static const char *field(const reply *r, const char *name)
{
    static char value[256];
    const char *p = r->text, *end = r->body ? r->body : r->text + r->len;
    size_t n = strlen(name);
    value[0] = '\0';
    while (p && (p = strstr(p, "\r\n")) != NULL && p < end) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *eol = strstr(v, "\r\n");
            size_t len;
            while (*v == ' ') v++;
            len = eol ? (size_t)(eol - v) : strlen(v);
            if (len >= sizeof value) len = sizeof value - 1;
            memcpy(value, v, len);
            value[len] = '\0';
            break;
        }
    }
    return value;
}

static int body_equals(const reply *r, const void *data, size_t len)
{
    return r->body && r->body_len == len && memcmp(r->body, data, len) == 0;
}

/* ---- the server --------------------------------------------------------------------------- */

typedef struct running {
    mote_server *srv;
    pthread_t thread;
    int port;
} running;

static void *loop_thread(void *arg)
{
    running *r = arg;
    (void)mote_server_run(r->srv);
    return NULL;
}

/* ---- compiled-in files ------------------------------------------------------------------------ */

static const unsigned char a_txt[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const unsigned char a_gz[] = "pretend-gzip-bytes";
static const unsigned char index_html[] = "<p>index</p>";
/* gzip of ONLY_PLAIN_LINE four times */
#define ONLY_PLAIN_LINE "decompressed on the fly, for a client that takes no gzip\n"
static const unsigned char only_gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0x49, 0x4d, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0xc8, 0xcf, 0x53, 0x28, 0xc9, 0x48, 0x55, 0x48, 0xcb, 0xa9, 0xd4, 0x51, 0x48, 0xcb, 0x2f, 0x52, 0x48, 0x54, 0x48, 0xce, 0xc9, 0x4c, 0xcd, 0x2b, 0x01, 0x8a, 0x26, 0x02, 0x89, 0xc4, 0xec, 0xd4, 0x62, 0x85, 0xbc, 0x7c, 0x85, 0xf4, 0xaa, 0xcc, 0x02, 0xae, 0x94, 0xa1, 0xa3, 0x11, 0x00, 0x5d, 0x7f, 0x93, 0x72, 0xe4, 0x00, 0x00, 0x00};
static unsigned char long_txt[300]; /* filled by main(): ranges far enough apart to stay apart */

static const mote_embedded_file files[] = {
    {"/.hidden", "text/plain", "\"h\"", a_txt, 4, NULL, 0, 0},
    {"/a.txt", "text/plain; charset=utf-8", "\"abc\"", a_txt, 36, a_gz, 18, 784111777},
    {"/index.html", "text/html; charset=utf-8", "\"idx\"", index_html, 12, NULL, 0, 0},
    {"/long.txt", "text/plain", "\"long\"", long_txt, sizeof long_txt, NULL, 0, 0},
    {"/only.txt", "text/plain", "\"only\"", NULL, 228, only_gz, sizeof only_gz, 0},
    {"/sub/index.html", "text/html", "\"sub\"", index_html, 12, NULL, 0, 0},
};
static const mote_embedded_table table = {files, sizeof files / sizeof files[0]};

/* a_txt's mtime, 200 s later and 200 s earlier */
#define A_DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define A_LATER "Sun, 06 Nov 1994 08:52:57 GMT"
#define A_EARLIER "Sun, 06 Nov 1994 08:46:17 GMT"

static void test_embedded_plain_and_gzip(int port)
{
    reply r = fetch(port, "GET /e/a.txt HTTP/1.1");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, a_txt, 36));
    CHECK_EQ_STR(field(&r, "ETag"), "\"abc\"");
    CHECK_EQ_STR(field(&r, "Vary"), "Accept-Encoding");
    CHECK_EQ_STR(field(&r, "Accept-Ranges"), "bytes");
    CHECK_EQ_STR(field(&r, "Cache-Control"), "no-cache");
    CHECK_EQ_STR(field(&r, "Last-Modified"), A_DATE);
    CHECK_EQ_STR(field(&r, "Content-Type"), "text/plain; charset=utf-8");
    CHECK_EQ_STR(field(&r, "Content-Encoding"), "");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nAccept-Encoding: br, gzip;q=0.5");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, a_gz, 18));
    CHECK_EQ_STR(field(&r, "Content-Encoding"), "gzip");
    CHECK_EQ_STR(field(&r, "ETag"), "\"abc-gz\"");
    CHECK_EQ_STR(field(&r, "Vary"), "Accept-Encoding");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nAccept-Encoding: gzip;q=0");
    CHECK(body_equals(&r, a_txt, 36));
    free(r.text);

    /* kept only compressed: gzip to whoever takes it (no field: any coding), else 406 */
    r = fetch(port, "GET /e/only.txt HTTP/1.1");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, only_gz, sizeof only_gz));
    free(r.text);
    r = fetch(port, "GET /e/only.txt HTTP/1.1\r\nAccept-Encoding: identity");
#if MOTE_CONFIG_STATIC_GUNZIP
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, ONLY_PLAIN_LINE ONLY_PLAIN_LINE ONLY_PLAIN_LINE ONLY_PLAIN_LINE,
                      4 * strlen(ONLY_PLAIN_LINE)));
    CHECK_EQ_STR(field(&r, "ETag"), "\"only\"");
    CHECK_EQ_STR(field(&r, "Content-Encoding"), "");
    CHECK_EQ_STR(field(&r, "Accept-Ranges"), "none");
#else
    CHECK_EQ_INT(r.status, 406);
#endif
    CHECK_EQ_STR(field(&r, "Vary"), "Accept-Encoding");
    free(r.text);
    r = fetch(port, "HEAD /e/only.txt HTTP/1.1\r\nAccept-Encoding: identity");
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.body_len == 0);
#if MOTE_CONFIG_STATIC_GUNZIP
    CHECK_EQ_INT(strtol(field(&r, "Content-Length"), NULL, 10), (long)(4 * strlen(ONLY_PLAIN_LINE)));
#endif
    free(r.text);
    r = fetch(port, "GET /e/only.txt HTTP/1.1\r\nAccept-Encoding: identity\r\nIf-None-Match: \"only\"");
    CHECK_EQ_INT(r.status, 304);
    free(r.text);

    /* a client that takes none of what there is: the plain bytes while there are some */
    r = fetch(port, "GET /e/index.html HTTP/1.1\r\nAccept-Encoding: identity;q=0");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, index_html, 12));
    free(r.text);
    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nAccept-Encoding: br, identity;q=0");
    CHECK(body_equals(&r, a_txt, 36));
    free(r.text);

    /* a file without a compressed copy does not vary */
    r = fetch(port, "GET /e/index.html HTTP/1.1");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(field(&r, "Vary"), "");
    free(r.text);
}

static void test_embedded_conditions(int port)
{
    static const struct {
        const char *fields;
        int status;
    } cases[] = {
        {"If-None-Match: \"abc\"", 304},
        {"If-None-Match: W/\"abc\"", 304},            /* weak comparison */
        {"If-None-Match: \"x\", \"abc\"", 304},
        {"If-None-Match: *", 304},
        {"If-None-Match: \"abc-gz\"", 200},           /* another representation's */
        {"If-Modified-Since: " A_DATE, 304},
        {"If-Modified-Since: " A_LATER, 304},
        {"If-Modified-Since: " A_EARLIER, 200},
        {"If-Modified-Since: yesterday", 200},       /* not a date: ignored */
        {"If-None-Match: \"x\"\r\nIf-Modified-Since: " A_LATER, 200}, /* INM decides */
        {"If-Match: \"x\"", 412},
        {"If-Match: \"abc\"", 200},
        {"If-Match: W/\"abc\"", 412},                 /* strong comparison */
        {"If-Match: *", 200},
        {"If-Unmodified-Since: " A_EARLIER, 412},
        {"If-Unmodified-Since: " A_DATE, 200},
        {"If-Match: \"abc\"\r\nIf-Unmodified-Since: " A_EARLIER, 200}, /* If-Match decides */
        {"If-Match: \"x\"\r\nIf-None-Match: \"abc\"", 412},             /* 412 before 304 */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char head[256];
        reply r;
        snprintf(head, sizeof head, "GET /e/a.txt HTTP/1.1\r\n%s", cases[i].fields);
        r = fetch(port, head);
        CHECK_MSG(r.status == cases[i].status, "%s: %d", cases[i].fields, r.status);
        if (r.status == 304) {
            CHECK(r.body_len == 0);
            CHECK_EQ_STR(field(&r, "ETag"), "\"abc\"");
            CHECK_EQ_STR(field(&r, "Cache-Control"), "no-cache");
            CHECK_EQ_STR(field(&r, "Content-Length"), "");
        }
        free(r.text);
    }
}

static void test_embedded_ranges(int port)
{
    reply r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=2-5");
    const char *type, *p;
    char boundary[64];
    CHECK_EQ_INT(r.status, 206);
    CHECK(body_equals(&r, "2345", 4));
    CHECK_EQ_STR(field(&r, "Content-Range"), "bytes 2-5/36");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=-3");
    CHECK(body_equals(&r, "xyz", 3));
    CHECK_EQ_STR(field(&r, "Content-Range"), "bytes 33-35/36");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=36-");
    CHECK_EQ_INT(r.status, 416);
    CHECK_EQ_STR(field(&r, "Content-Range"), "bytes */36");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=5-2"); /* invalid: ignored */
    CHECK_EQ_INT(r.status, 200);
    free(r.text);

    /* ranges of the gzip variant are its bytes */
    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nAccept-Encoding: gzip\r\nRange: bytes=0-6");
    CHECK_EQ_INT(r.status, 206);
    CHECK(body_equals(&r, "pretend", 7));
    CHECK_EQ_STR(field(&r, "Content-Range"), "bytes 0-6/18");
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: \"abc\"");
    CHECK_EQ_INT(r.status, 206);
    free(r.text);
    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: \"old\"");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, a_txt, 36));
    free(r.text);
    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: " A_DATE);
    CHECK_EQ_INT(r.status, 206);
    free(r.text);

    r = fetch(port, "HEAD /e/a.txt HTTP/1.1\r\nRange: bytes=0-1"); /* GET only */
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(field(&r, "Content-Length"), "36");
    CHECK(r.body_len == 0);
    free(r.text);

    r = fetch(port, "GET /e/a.txt HTTP/1.1\r\nRange: bytes=0-1, 30-31"); /* close: one part */
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_STR(field(&r, "Content-Range"), "bytes 0-31/36");
    free(r.text);

    r = fetch(port, "GET /e/long.txt HTTP/1.1\r\nRange: bytes=0-1, 250-251");
    CHECK_EQ_INT(r.status, 206);
    type = field(&r, "Content-Type");
    CHECK(strncmp(type, "multipart/byteranges; boundary=", 31) == 0);
    snprintf(boundary, sizeof boundary, "--%s", type + 31);
    CHECK_EQ_INT(strtol(field(&r, "Content-Length"), NULL, 10), (long)r.body_len);
    p = r.body ? strstr(r.body, boundary) : NULL;
    CHECK(p == r.body);
    CHECK(p && strstr(p, "Content-Type: text/plain\r\nContent-Range: bytes 0-1/300\r\n\r\nAB\r\n"));
    CHECK(p && strstr(p, "Content-Range: bytes 250-251/300\r\n\r\nYZ\r\n") != NULL);
    CHECK(r.len >= 4 && memcmp(r.text + r.len - 4, "--\r\n", 4) == 0);
    free(r.text);
}

static void test_embedded_paths_and_methods(int port)
{
    reply r = fetch(port, "GET /e HTTP/1.1");
    CHECK_EQ_INT(r.status, 301);
    CHECK_EQ_STR(field(&r, "Location"), "/e/");
    free(r.text);
    r = fetch(port, "GET /e/ HTTP/1.1");
    CHECK(body_equals(&r, index_html, 12));
    free(r.text);
    r = fetch(port, "GET /e/sub?x=1 HTTP/1.1");
    CHECK_EQ_INT(r.status, 301);
    CHECK_EQ_STR(field(&r, "Location"), "/e/sub/?x=1");
    free(r.text);
    r = fetch(port, "GET /e/.hidden HTTP/1.1");
    CHECK_EQ_INT(r.status, 404);
    free(r.text);
    r = fetch(port, "GET /e/nothing HTTP/1.1");
    CHECK_EQ_INT(r.status, 404);
    free(r.text);
    r = fetch(port, "GET /e/sub%2Findex.html HTTP/1.1");
    CHECK_EQ_INT(r.status, 400);
    free(r.text);
    r = fetch(port, "HEAD /e/a.txt HTTP/1.1");
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_STR(field(&r, "Content-Length"), "36");
    CHECK_EQ_STR(field(&r, "ETag"), "\"abc\"");
    CHECK(r.body_len == 0);
    free(r.text);
    r = fetch(port, "DELETE /e/a.txt HTTP/1.1");
    CHECK_EQ_INT(r.status, 405);
    CHECK_EQ_STR(field(&r, "Allow"), "GET, HEAD, OPTIONS");
    free(r.text);
}

/* ---- a directory ------------------------------------------------------------------------------ */

static char big[100000];

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[600];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

static void make_tree(const char *root, const char *outside)
{
    char path[600];
    size_t i;
    for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + (i * 7 + i / 251) % 26);
    write_file(outside, "secret.txt", "SECRET", 6);
    write_file(root, "hello.txt", "hello\n", 6);
    write_file(root, "page.html", "<p>plain</p>", 12);
    write_file(root, "page.html.gz", "GZ", 2);
    write_file(root, "big.bin", big, sizeof big);
    write_file(root, "gone.js.gz", "GZ-ONLY", 7);
    write_file(root, ".env", "KEY=1", 5);
    snprintf(path, sizeof path, "%s/sub", root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub/secret-link", root);
    {
        char target[128];
        snprintf(target, sizeof target, "%s/secret.txt", outside);
        CHECK(symlink(target, path) == 0);
    }
    snprintf(path, sizeof path, "%s/up", root);
    CHECK(symlink("..", path) == 0);
    snprintf(path, sizeof path, "%s/fifo", root);
    CHECK(mkfifo(path, 0644) == 0);
}

static void test_dir(int port)
{
    reply r = fetch(port, "GET /d/hello.txt HTTP/1.1");
    CHECK_EQ_INT(r.status, 200);
    CHECK(body_equals(&r, "hello\n", 6));
    CHECK_EQ_STR(field(&r, "Content-Type"), "text/plain; charset=utf-8");
    CHECK(field(&r, "ETag")[0] == '"');
    CHECK(field(&r, "Last-Modified")[0] != '\0');
    CHECK_EQ_STR(field(&r, "Vary"), "Accept-Encoding");
    free(r.text);

    r = fetch(port, "GET /d/page.html HTTP/1.1\r\nAccept-Encoding: gzip, deflate");
    CHECK(body_equals(&r, "GZ", 2));
    CHECK_EQ_STR(field(&r, "Content-Encoding"), "gzip");
    CHECK_EQ_STR(field(&r, "Content-Type"), "text/html; charset=utf-8");
    free(r.text);
    r = fetch(port, "GET /d/page.html HTTP/1.1");
    CHECK(body_equals(&r, "<p>plain</p>", 12));
    free(r.text);
    r = fetch(port, "GET /d/gone.js HTTP/1.1\r\nAccept-Encoding: identity");
    CHECK_EQ_INT(r.status, 406);
    free(r.text);
    r = fetch(port, "GET /d/gone.js HTTP/1.1\r\nAccept-Encoding: gzip");
    CHECK(body_equals(&r, "GZ-ONLY", 7));
    free(r.text);

    /* larger than one read: sendfile(2) */
    r = fetch(port, "GET /d/big.bin HTTP/1.1");
    CHECK(body_equals(&r, big, sizeof big));
    free(r.text);
    r = fetch(port, "GET /d/big.bin HTTP/1.1\r\nRange: bytes=90000-90009");
    CHECK_EQ_INT(r.status, 206);
    CHECK(body_equals(&r, big + 90000, 10));
    free(r.text);
    r = fetch(port, "GET /d/big.bin HTTP/1.1\r\nRange: bytes=0-2047,50000-52999");
    CHECK_EQ_INT(r.status, 206);
    CHECK_EQ_INT(strtol(field(&r, "Content-Length"), NULL, 10), (long)r.body_len);
    CHECK(r.body && r.body_len > 5048);
    free(r.text);

    r = fetch(port, "GET /d/sub HTTP/1.1");
    CHECK_EQ_INT(r.status, 301);
    CHECK_EQ_STR(field(&r, "Location"), "/d/sub/");
    free(r.text);
    r = fetch(port, "GET /d/sub/ HTTP/1.1"); /* no index, no listing */
    CHECK_EQ_INT(r.status, 404);
    free(r.text);
    r = fetch(port, "GET /d/hello.txt/ HTTP/1.1");
    CHECK_EQ_INT(r.status, 404);
    free(r.text);
}

static void test_dir_confinement(int port)
{
    static const char *const targets[] = {
        "/d/sub/secret-link", "/d/up/outside/secret.txt", "/d/up/", "/d/fifo", "/d/.env",
        "/d/sub%2F..%2F..%2Foutside%2Fsecret.txt", "/d/..%5Coutside%5Csecret.txt",
        "/d/sub\\..\\..\\outside", "/d/%2e%2e/outside/secret.txt",
    };
    size_t i;
    for (i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char head[256];
        reply r;
        snprintf(head, sizeof head, "GET %s HTTP/1.1", targets[i]);
        r = fetch(port, head);
        CHECK_MSG(r.status == 400 || r.status == 404, "%s: %d", targets[i], r.status);
        CHECK_MSG(!r.text || !strstr(r.text, "SECRET"), "%s leaked", targets[i]);
        free(r.text);
    }
}

/* Sends a request on a connection of its own and leaves the reply unread. */
static int send_only(int port, const char *target)
{
    char req[256];
    int fd = loopback_dial(port, 10), n = snprintf(req, sizeof req,
                                                   "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", target);
    if (fd >= 0 && send(fd, req, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The rest of a reply, and whether its body is `want`. */
static int read_body_is(int fd, const char *want, size_t len)
{
    size_t cap = len + 4096, got = 0;
    char *buf = malloc(cap + 1), *body;
    int ok;
    ssize_t n;
    if (!buf) return 0;
    while (got < cap && (n = recv(fd, buf + got, cap - got, 0)) > 0) got += (size_t)n;
    buf[got] = '\0';
    body = strstr(buf, "\r\n\r\n");
    ok = body && got - (size_t)(body + 4 - buf) == len && memcmp(body + 4, want, len) == 0;
    free(buf);
    close(fd);
    return ok;
}

/* Kept files: several responses sending from one descriptor at once, evictions from a table of
 * two, and nothing left open afterwards (counted by the caller). */
static void test_kept_files(int port)
{
    static const char *const names[] = {"/k/hello.txt", "/k/page.html", "/k/big.bin",
                                        "/k/gone.js", "/k/sub/", "/k/hello.txt"};
    int fds[3], round;
    size_t i;
    for (i = 0; i < 3; i++) fds[i] = send_only(port, "/k/big.bin");
    for (i = 0; i < 3; i++) CHECK_MSG(read_body_is(fds[i], big, sizeof big), "reader %zu", i);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            char head[128];
            reply r;
            snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nAccept-Encoding: gzip", names[i]);
            r = fetch(port, head);
            CHECK_MSG(r.status == 200 || r.status == 404, "%s: %d", names[i], r.status);
            free(r.text);
        }
    }
}

static int open_fds(void)
{
    char path[64];
    int n = 0, fd;
    for (fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0) n++;
    }
    return n;
}

static void test_registration(mote_server *srv)
{
    static const mote_embedded_file unsorted[] = {
        {"/b", "text/plain", "\"b\"", a_txt, 1, NULL, 0, 0},
        {"/a", "text/plain", "\"a\"", a_txt, 1, NULL, 0, 0},
    };
    const mote_embedded_table bad = {unsorted, 2};
    CHECK_EQ_INT(mote_static_embedded(srv, "/bad", &bad, NULL), MOTE_EINVAL);
    CHECK_EQ_INT(mote_static_dir(srv, "/none", "/nonexistent/mote", NULL), MOTE_ESYS);
    CHECK_EQ_INT(mote_static_embedded(srv, "/e", &table, NULL), MOTE_EEXIST);
    { /* values are staged unchecked later: checked now */
        static const mote_embedded_file injecting[] = {
            {"/a", "text/plain\r\nSet-Cookie: x=1", "\"a\"", a_txt, 1, NULL, 0, 0},
        };
        const mote_embedded_table bad_type = {injecting, 1};
        mote_static_options cc = {0}, index = {0};
        cc.cache_control = "no-cache\r\nX: y";
        index.index = "../index.html";
        CHECK_EQ_INT(mote_static_embedded(srv, "/bad-type", &bad_type, NULL), MOTE_EINVAL);
        CHECK_EQ_INT(mote_static_embedded(srv, "/bad-cc", &table, &cc), MOTE_EINVAL);
        CHECK_EQ_INT(mote_static_dir(srv, "/bad-index", "/tmp", &index), MOTE_EINVAL);
    }
}

int main(void)
{
    char base[] = "/tmp/mote-static-XXXXXX", root[64], outside[64];
    running r;
    mote_static_options two = {0}, none = {0};
    int l, fds_before = open_fds();
    if (!mkdtemp(base)) return 1;
    two.open_files = 2;
    none.open_files = -1;
    memset(long_txt, '.', sizeof long_txt);
    memcpy(long_txt, "AB", 2);
    memcpy(long_txt + 250, "YZ", 2);
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0);
    make_tree(root, outside);

    memset(&r, 0, sizeof r);
    CHECK(mote_server_create(&r.srv, NULL) == 0);
    CHECK(mote_static_embedded(r.srv, "/e", &table, NULL) == 0);
    CHECK(mote_static_dir(r.srv, "/d", root, NULL) == 0);
    CHECK(mote_static_dir(r.srv, "/k", root, &two) == 0);
    CHECK(mote_static_dir(r.srv, "/n", root, &none) == 0);
    test_registration(r.srv);
    l = mote_listen(r.srv, "127.0.0.1", 0);
    CHECK(l >= 0);
    r.port = mote_listener_port(r.srv, l);
    CHECK(pthread_create(&r.thread, NULL, loop_thread, &r) == 0);

    test_embedded_plain_and_gzip(r.port);
    test_embedded_conditions(r.port);
    test_embedded_ranges(r.port);
    test_embedded_paths_and_methods(r.port);
    test_dir(r.port);
    test_dir_confinement(r.port);
    test_kept_files(r.port);
    {
        reply n = fetch(r.port, "GET /n/hello.txt HTTP/1.1");
        CHECK(body_equals(&n, "hello\n", 6));
        free(n.text);
    }

    mote_server_stop(r.srv);
    pthread_join(r.thread, NULL);
    mote_server_destroy(r.srv);
    CHECK_EQ_INT(open_fds(), fds_before); /* every kept file closed, the roots too */
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        CHECK(system(cmd) == 0);
    }
    return check_report("test_static");
}
