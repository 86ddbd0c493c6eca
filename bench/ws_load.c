/* ws_load.c - a WebSocket echo load generator for bench/run.py (the WebSocket workloads of
 * `make bench`): one thread, epoll, non-blocking sockets; meant to be pinned to one core.
 *
 * It opens CONNS sockets to ws://HOST:PORT/PATH and does the RFC 6455 client handshake on each
 * (a random 16-byte key; the answer must be 101 with Upgrade: websocket, Connection: upgrade and
 * the right Sec-WebSocket-Accept, and no extension or subprotocol, since none was offered). When
 * all are open it keeps DEPTH messages of SIZE bytes in flight on each socket (masked client
 * frames, binary or text), reads the echoes (unmasked server frames, 7/16/64-bit lengths, a
 * message may come fragmented), checks each echo's type, length and (unless --no-verify) every
 * byte, and sends a new message for each echo. After --warmup seconds it counts the echoes of
 * --seconds seconds, then sends a close frame on every socket and waits for the server's.
 *
 * Output: one JSON line on stdout,
 *   {"messages":M,"seconds":S,"bytes":B,"conns":C,"size":Z,"depth":D}
 * messages echoed within the measured window, its length, and the payload bytes of those echoes.
 * With --sync it first writes "start" and "stop" lines at the edges of the measured window (so a
 * caller can read the server's CPU time exactly then).
 *
 * Any protocol error, a stall (a socket without an echo for 5 s), a connection closed by the
 * server or a failed handshake ends it with exit status 1 and one line on stderr; bad options
 * give 2.
 *
 * usage: ws_load [options] ws://HOST[:PORT][/PATH]
 *   -c N  sockets (50)            -s N  message size in bytes (32)
 *   -d N  messages in flight per socket (1)
 *   -t S  seconds measured (5)    -w S  warm-up seconds before that (1)
 *   --text  text messages (ASCII) instead of binary     --no-verify  check lengths only
 *   --sync  "start"/"stop" lines at the edges of the measured window */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 10000
#define MAX_SIZE (16u << 20)
#define MAX_DEPTH 1024
#define HEAD_MAX 8192          /* the handshake answer's head */
#define MAX_EVENTS 256
#define READS_PER_EVENT 16
#define CONNECT_TIMEOUT_S 10.0
#define STALL_S 5.0
#define CLOSE_TIMEOUT_S 5.0

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

enum state { CONNECTING, HANDSHAKE, OPEN, DONE };
enum phase { PH_CONNECT, PH_RUN, PH_CLOSE };

struct conn {
    int fd;
    enum state state;
    unsigned idx;
    uint32_t events;            /* what epoll watches for it now */
    uint64_t sent, echoed;      /* messages sent on it, echoes received */
    uint64_t checked;           /* echoed when the stall check last looked */
    unsigned char *out;         /* bytes not yet sent: out[out_off .. out_off + out_len) */
    size_t out_off, out_len;
    char accept[29];            /* the Sec-WebSocket-Accept expected */
    char *head;                 /* the handshake answer, while it arrives */
    size_t head_len;
    /* the frame being read */
    unsigned char hdr[14];
    size_t hdr_have;
    int in_payload;             /* the header is read, the payload is coming */
    uint64_t pay_left;          /* payload bytes of the frame still to come */
    unsigned op, fin;           /* the frame's */
    unsigned msg_op;            /* opcode of the message being read (0: none) */
    uint64_t msg_len;           /* its bytes so far */
    unsigned char ctl[125];     /* a control frame's payload */
    size_t ctl_len;
    int close_sent;
};

static struct {
    const char *url;
    char host[256], port[16], path[1024];
    unsigned conns, depth;
    size_t size;
    double seconds, warmup;
    int text, verify, sync;
} opt;

static struct conn *conns;
static size_t out_cap;
static unsigned char *templ;   /* every message's payload, but for its first bytes (the number) */
static unsigned char rbuf[256 * 1024];
static int ep;
static enum phase phase = PH_CONNECT;
static unsigned n_open, n_done;
static uint64_t total_echoed, total_bytes;
static uint64_t rng_state;

static void die(const struct conn *c, const char *fmt, ...)
{
    va_list ap;
    fputs("ws_load: ", stderr);
    if (c) fprintf(stderr, "socket %u: ", c->idx);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(const char *msg)
{
    if (msg) fprintf(stderr, "ws_load: %s\n", msg);
    fputs("usage: ws_load [-c CONNS] [-s SIZE] [-d DEPTH] [-t SECONDS] [-w WARMUP] [--text]\n"
          "               [--no-verify] [--sync] ws://HOST[:PORT][/PATH]\n", stderr);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void random_bytes(unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            die(NULL, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
}

/* ---------- SHA-1 and base64, for the handshake ---------- */

static uint32_t rol32(uint32_t x, unsigned k)
{
    return (x << k) | (x >> (32u - k));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;
    unsigned i;
    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    unsigned char tail[128];
    size_t full = len - len % 64, rest = len % 64, n, i;
    uint64_t bits = (uint64_t)len * 8;
    for (i = 0; i < full; i += 64) sha1_block(h, msg + i);
    memset(tail, 0, sizeof tail);
    memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    n = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++) tail[n - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (i = 0; i < n; i += 64) sha1_block(h, tail + i);
    for (i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* out gets 4 * ceil(n / 3) characters and a NUL */
static void base64(const unsigned char *p, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

static void accept_value(const char *key, char out[29])
{
    unsigned char buf[64], digest[20];
    size_t kl = strlen(key);
    memcpy(buf, key, kl);
    memcpy(buf + kl, GUID, sizeof GUID - 1);
    sha1(buf, kl + sizeof GUID - 1, digest);
    base64(digest, 20, out);
}

/* ---------- sending ---------- */

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev;
    if (c->events == events) return;
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die(c, "epoll_ctl: %s", strerror(errno));
    c->events = events;
}

/* Room for n more bytes at the end of c's output, moving what is pending to the front. */
static unsigned char *reserve(struct conn *c, size_t n)
{
    if (c->out_off + c->out_len + n > out_cap) {
        if (c->out_len + n > out_cap) die(c, "output buffer full (server sends too many pings?)");
        memmove(c->out, c->out + c->out_off, c->out_len);
        c->out_off = 0;
    }
    return c->out + c->out_off + c->out_len;
}

static void flush(struct conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die(c, "send: %s", strerror(errno));
        }
        c->out_off += (size_t)n;
        c->out_len -= (size_t)n;
    }
    if (c->out_len == 0) c->out_off = 0;
    if (c->state != DONE) watch(c, EPOLLIN | (c->out_len ? (uint32_t)EPOLLOUT : 0u));
}

/* A frame header (FIN set, masked) into w; its length. The mask key goes to key. */
static size_t frame_header(unsigned char *w, unsigned op, uint64_t len, unsigned char key[4])
{
    size_t h, i;
    uint32_t m = (uint32_t)rng();
    w[0] = (unsigned char)(0x80u | op);
    if (len < 126) {
        w[1] = (unsigned char)(0x80u | len);
        h = 2;
    } else if (len < 65536) {
        w[1] = 0x80 | 126;
        w[2] = (unsigned char)(len >> 8);
        w[3] = (unsigned char)len;
        h = 4;
    } else {
        w[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) w[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        h = 10;
    }
    for (i = 0; i < 4; i++) key[i] = w[h + i] = (unsigned char)(m >> (8 * i));
    return h + 4;
}

static void mask(unsigned char *p, size_t n, const unsigned char key[4])
{
    unsigned char k8[8];
    uint64_t k, v;
    size_t i = 0;
    memcpy(k8, key, 4);
    memcpy(k8 + 4, key, 4);
    memcpy(&k, k8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        v ^= k;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] ^= key[i & 3];
}

/* The first bytes of message number seq on c (the rest is templ): the number itself, as bytes
 * or, for text, as letters. */
static size_t message_number(const struct conn *c, uint64_t seq, unsigned char out[8])
{
    uint64_t v = (uint64_t)c->idx << 44 ^ seq;
    size_t n = opt.size < 8 ? opt.size : 8, i;
    for (i = 0; i < n; i++) {
        out[i] = opt.text ? (unsigned char)('a' + ((v >> (4 * i)) & 15))
                          : (unsigned char)(v >> (8 * i));
    }
    return n;
}

static void queue_message(struct conn *c)
{
    unsigned char key[4], num[8];
    unsigned char *w = reserve(c, 14 + opt.size);
    size_t h = frame_header(w, opt.text ? 1 : 2, opt.size, key);
    size_t nl = message_number(c, c->sent, num);
    memcpy(w + h, num, nl);
    memcpy(w + h + nl, templ + nl, opt.size - nl);
    mask(w + h, opt.size, key);
    c->out_len += h + opt.size;
    c->sent++;
}

static void queue_control(struct conn *c, unsigned op, const unsigned char *p, size_t n)
{
    unsigned char key[4];
    unsigned char *w = reserve(c, 6 + n);
    size_t h = frame_header(w, op, n, key);
    memcpy(w + h, p, n);
    mask(w + h, n, key);
    c->out_len += h + n;
}

static void send_close(struct conn *c)
{
    static const unsigned char normal[2] = {0x03, 0xE8}; /* 1000 */
    if (c->close_sent || c->state != OPEN) return;
    queue_control(c, 8, normal, 2);
    c->close_sent = 1;
    flush(c);
}

/* ---------- receiving ---------- */

static void finish(struct conn *c)
{
    if (c->state == DONE) return;
    close(c->fd); /* leaves the epoll set with it */
    c->state = DONE;
    n_done++;
}

static void on_message(struct conn *c)
{
    unsigned want = opt.text ? 1 : 2;
    if (c->msg_op != want) {
        die(c, "echo of a %s message came back as a %s message", want == 1 ? "text" : "binary",
            c->msg_op == 1 ? "text" : "binary");
    }
    if (c->msg_len != opt.size) {
        die(c, "echo has %llu bytes, the message had %zu", (unsigned long long)c->msg_len,
            opt.size);
    }
    if (c->echoed >= c->sent) die(c, "an echo of a message never sent");
    c->echoed++;
    total_echoed++;
    total_bytes += opt.size;
    c->msg_op = 0;
    c->msg_len = 0;
    if (phase == PH_RUN) queue_message(c);
}

static void on_control(struct conn *c)
{
    if (c->op == 9) {
        queue_control(c, 10, c->ctl, c->ctl_len); /* pong */
    } else if (c->op == 8) {
        unsigned code = c->ctl_len >= 2 ? (unsigned)c->ctl[0] << 8 | c->ctl[1] : 1005;
        if (c->ctl_len == 1) die(c, "close frame with a 1-byte payload");
        if (phase != PH_CLOSE || !c->close_sent) {
            die(c, "server closed the WebSocket (code %u, \"%.*s\")", code,
                (int)(c->ctl_len > 2 ? c->ctl_len - 2 : 0), (const char *)c->ctl + 2);
        }
        if (c->echoed != c->sent) {
            fprintf(stderr, "ws_load: socket %u: %llu message(s) not echoed before the close\n",
                    c->idx, (unsigned long long)(c->sent - c->echoed));
        }
        finish(c);
    } /* pong: nothing to do */
}

/* The frame header in c->hdr is whole: check it and start its payload. */
static void on_header(struct conn *c)
{
    unsigned b0 = c->hdr[0], b1 = c->hdr[1], len7 = b1 & 0x7f, i;
    uint64_t len = len7;
    c->fin = b0 >> 7;
    c->op = b0 & 0x0f;
    if (b0 & 0x70) die(c, "frame with RSV bits 0x%x (no extension was negotiated)", b0 & 0x70);
    if (b1 & 0x80) die(c, "masked frame from the server");
    if (len7 == 126) {
        len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
        if (len < 126) die(c, "16-bit length %llu (not minimal)", (unsigned long long)len);
    } else if (len7 == 127) {
        for (len = 0, i = 2; i < 10; i++) len = len << 8 | c->hdr[i];
        if (len >> 63) die(c, "64-bit length with its top bit set");
        if (len < 65536) die(c, "64-bit length %llu (not minimal)", (unsigned long long)len);
    }
    switch (c->op) {
    case 0:
        if (!c->msg_op) die(c, "continuation frame outside a fragmented message");
        break;
    case 1:
    case 2:
        if (c->msg_op) die(c, "new data frame inside a fragmented message");
        c->msg_op = c->op;
        break;
    case 8:
    case 9:
    case 10:
        if (!c->fin) die(c, "fragmented control frame (opcode %u)", c->op);
        if (len > 125) die(c, "control frame of %llu bytes", (unsigned long long)len);
        c->ctl_len = 0;
        break;
    default:
        die(c, "reserved opcode %u", c->op);
    }
    if (c->op < 8 && c->msg_len + len > opt.size) {
        die(c, "echo of at least %llu bytes, the message had %zu",
            (unsigned long long)(c->msg_len + len), opt.size);
    }
    c->pay_left = len;
}

static void verify(struct conn *c, const unsigned char *p, size_t k)
{
    unsigned char num[8];
    size_t nl = message_number(c, c->echoed, num);
    uint64_t off = c->msg_len;
    for (; k > 0 && off < nl; p++, off++, k--) {
        if (*p != num[off]) goto bad;
    }
    if (k > 0 && memcmp(p, templ + off, k) != 0) goto bad;
    return;
bad:
    die(c, "echo %llu differs from the message sent (near byte %llu)",
        (unsigned long long)c->echoed, (unsigned long long)off);
}

static void frame_done(struct conn *c)
{
    if (c->op >= 8) {
        on_control(c);
    } else if (c->fin) {
        on_message(c);
    }
}

/* Bytes of a frame header whose second byte is b1. */
static size_t header_size(unsigned b1)
{
    unsigned len7 = b1 & 0x7f;
    return 2 + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + (b1 & 0x80 ? 4u : 0u);
}

static void feed_frames(struct conn *c, const unsigned char *p, size_t n)
{
    while (n > 0 && c->state == OPEN) {
        size_t k;
        if (!c->in_payload) {
            size_t need = c->hdr_have >= 2 ? header_size(c->hdr[1]) : 2;
            k = need - c->hdr_have < n ? need - c->hdr_have : n;
            memcpy(c->hdr + c->hdr_have, p, k);
            c->hdr_have += k;
            p += k;
            n -= k;
            if (c->hdr_have < 2 || c->hdr_have < header_size(c->hdr[1])) continue;
            on_header(c);
            c->hdr_have = 0;
            c->in_payload = 1;
        } else {
            k = c->pay_left < n ? (size_t)c->pay_left : n;
            if (c->op >= 8) {
                memcpy(c->ctl + c->ctl_len, p, k);
                c->ctl_len += k;
            } else {
                if (opt.verify) verify(c, p, k);
                c->msg_len += k;
            }
            p += k;
            n -= k;
            c->pay_left -= k;
        }
        if (c->pay_left == 0) {
            c->in_payload = 0;
            frame_done(c);
        }
    }
}

/* Header field value of name in the answer's head (lines after the status line), or NULL. */
static const char *field(char *head, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    char *line = strstr(head, "\r\n");
    while (line && line[2] != '\r') {
        char *l = line + 2, *end = strstr(l, "\r\n");
        if (!end) return NULL;
        if ((size_t)(end - l) > nl && l[nl] == ':' && strncasecmp(l, name, nl) == 0) {
            char *v = l + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            *vlen = (size_t)(end - v);
            return v;
        }
        line = end;
    }
    return NULL;
}

static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        s = i;
        while (i < n && v[i] != ',') i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0) return 1;
    }
    return 0;
}

static void check_answer(struct conn *c, char *head)
{
    const char *v;
    size_t n;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 || (head[12] != ' ' && head[12] != '\r')) {
        die(c, "handshake answered \"%.*s\"", (int)strcspn(head, "\r"), head);
    }
    if (!(v = field(head, "Upgrade", &n)) || n != 9 || strncasecmp(v, "websocket", 9) != 0) {
        die(c, "101 without \"Upgrade: websocket\"");
    }
    if (!(v = field(head, "Connection", &n)) || !has_token(v, n, "upgrade")) {
        die(c, "101 without \"Connection: upgrade\"");
    }
    if (!(v = field(head, "Sec-WebSocket-Accept", &n)) || n != 28 || memcmp(v, c->accept, 28)) {
        die(c, "wrong or missing Sec-WebSocket-Accept (want %s)", c->accept);
    }
    if (field(head, "Sec-WebSocket-Extensions", &n)) die(c, "an extension nobody offered");
    if (field(head, "Sec-WebSocket-Protocol", &n)) die(c, "a subprotocol nobody offered");
}

static void feed(struct conn *c, const unsigned char *p, size_t n)
{
    if (c->state == HANDSHAKE) {
        char *end;
        size_t k = n < HEAD_MAX - 1 - c->head_len ? n : HEAD_MAX - 1 - c->head_len, used;
        memcpy(c->head + c->head_len, p, k);
        c->head_len += k;
        c->head[c->head_len] = '\0';
        end = strstr(c->head, "\r\n\r\n");
        if (!end) {
            if (c->head_len == HEAD_MAX - 1) die(c, "handshake answer head over %d bytes", HEAD_MAX);
            if (memchr(c->head, '\0', c->head_len)) die(c, "NUL in the handshake answer");
            return;
        }
        end[2] = '\0'; /* keep the last line's CRLF for field() */
        check_answer(c, c->head);
        used = (size_t)(end + 4 - c->head) - (c->head_len - k);
        free(c->head);
        c->head = NULL;
        c->state = OPEN;
        n_open++;
        p += used;
        n -= used;
    }
    if (c->state == OPEN) feed_frames(c, p, n);
}

static void on_readable(struct conn *c)
{
    int i;
    for (i = 0; i < READS_PER_EVENT && c->state != DONE; i++) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die(c, "recv: %s", strerror(errno));
        }
        if (n == 0) die(c, "server closed the connection");
        feed(c, rbuf, (size_t)n);
        if ((size_t)n < sizeof rbuf) break; /* likely all there was; epoll says if not */
    }
    if (c->state != DONE && c->out_len) flush(c);
}

static void on_writable(struct conn *c)
{
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        unsigned char raw[16];
        char key[25];
        int len;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
        if (err) die(c, "connect to %s:%s: %s", opt.host, opt.port, strerror(err));
        random_bytes(raw, sizeof raw);
        base64(raw, sizeof raw, key);
        accept_value(key, c->accept);
        len = snprintf((char *)c->out, out_cap,
                       "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\nUser-Agent: mote-bench-ws_load\r\n\r\n",
                       opt.path, opt.host, opt.port, key);
        if (len < 0 || (size_t)len >= out_cap) die(c, "handshake request too long");
        c->out_off = 0;
        c->out_len = (size_t)len;
        if (!(c->head = malloc(HEAD_MAX))) die(c, "out of memory");
        c->head_len = 0;
        c->state = HANDSHAKE;
    }
    flush(c);
}

/* ---------- set-up ---------- */

static void parse_url(const char *url)
{
    const char *h, *e, *p;
    size_t hl;
    if (strncmp(url, "ws://", 5) != 0) usage("the URL must start with ws://");
    h = url + 5;
    e = h + strcspn(h, ":/");
    hl = (size_t)(e - h);
    if (hl == 0 || hl >= sizeof opt.host) usage("bad host in the URL");
    memcpy(opt.host, h, hl);
    opt.host[hl] = '\0';
    if (*e == ':') {
        size_t pl = strcspn(e + 1, "/");
        if (pl == 0 || pl >= sizeof opt.port || strspn(e + 1, "0123456789") != pl) {
            usage("bad port in the URL");
        }
        memcpy(opt.port, e + 1, pl);
        opt.port[pl] = '\0';
        p = e + 1 + pl;
    } else {
        strcpy(opt.port, "80");
        p = e;
    }
    if (*p == '\0') p = "/";
    if (strlen(p) >= sizeof opt.path || strpbrk(p, " \r\n")) usage("bad path in the URL");
    strcpy(opt.path, p);
}

static unsigned long num_arg(const char *s, unsigned long max, const char *what)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-') {
        fprintf(stderr, "ws_load: bad %s: %s\n", what, s);
        usage(NULL);
    }
    return v;
}

static double secs_arg(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 86400)) {
        fprintf(stderr, "ws_load: bad %s: %s\n", what, s);
        usage(NULL);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    int i;
    opt.conns = 50;
    opt.size = 32;
    opt.depth = 1;
    opt.seconds = 5;
    opt.warmup = 1;
    opt.verify = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "-c") == 0 && has_val) {
            opt.conns = (unsigned)num_arg(argv[++i], MAX_CONNS, "socket count");
        } else if (strcmp(a, "-s") == 0 && has_val) {
            opt.size = num_arg(argv[++i], MAX_SIZE, "message size");
        } else if (strcmp(a, "-d") == 0 && has_val) {
            opt.depth = (unsigned)num_arg(argv[++i], MAX_DEPTH, "depth");
        } else if (strcmp(a, "-t") == 0 && has_val) {
            opt.seconds = secs_arg(argv[++i], "seconds");
        } else if (strcmp(a, "-w") == 0 && has_val) {
            opt.warmup = secs_arg(argv[++i], "warm-up seconds");
        } else if (strcmp(a, "--text") == 0) {
            opt.text = 1;
        } else if (strcmp(a, "--no-verify") == 0) {
            opt.verify = 0;
        } else if (strcmp(a, "--sync") == 0) {
            opt.sync = 1;
        } else if (a[0] == '-' || opt.url) {
            usage(NULL);
        } else {
            opt.url = a;
        }
    }
    if (!opt.url) usage(NULL);
    if (opt.conns == 0 || opt.depth == 0) usage("-c and -d must be at least 1");
    parse_url(opt.url);
}

static void self_test(void)
{
    char acc[29];
    accept_value("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455, 1.3 */
    if (strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0) die(NULL, "SHA-1 self-test failed");
}

static void open_all(void)
{
    struct addrinfo hints, *ai;
    unsigned i;
    int rc, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(opt.host, opt.port, &hints, &ai)) != 0) {
        die(NULL, "%s: %s", opt.host, gai_strerror(rc));
    }
    for (i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev;
        c->idx = i;
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) die(c, "socket: %s", strerror(errno));
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            die(c, "connect to %s:%s: %s", opt.host, opt.port, strerror(errno));
        }
        if (!(c->out = malloc(out_cap))) die(c, "out of memory");
        c->state = CONNECTING;
        c->events = EPOLLOUT;
        ev.events = EPOLLOUT;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die(c, "epoll_ctl: %s", strerror(errno));
    }
    freeaddrinfo(ai);
}

int main(int argc, char **argv)
{
    struct epoll_event evs[MAX_EVENTS];
    double t_run = 0, t0 = 0, t1 = 0, deadline, last_check = 0;
    uint64_t e0 = 0, e1 = 0, b0 = 0, b1 = 0;
    int measuring = 0;
    unsigned i;
    size_t k;

    parse_args(argc, argv);
    self_test();
    random_bytes((unsigned char *)&rng_state, sizeof rng_state);
    rng_state |= 1;
    if (!(templ = malloc(opt.size + 1))) die(NULL, "out of memory");
    for (k = 0; k < opt.size; k++) {
        uint64_t r = rng();
        templ[k] = opt.text ? (unsigned char)(' ' + r % 95) : (unsigned char)(r >> 32);
    }
    out_cap = (size_t)opt.depth * (opt.size + 14) + 4096 + sizeof opt.path + sizeof opt.host;
    if (!(conns = calloc(opt.conns, sizeof *conns))) die(NULL, "out of memory");
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die(NULL, "epoll_create1: %s", strerror(errno));
    open_all();
    deadline = now_s() + CONNECT_TIMEOUT_S;

    for (;;) {
        double now = now_s(), next;
        int n, j, timeout_ms;
        if (phase == PH_CONNECT) {
            if (n_open == opt.conns) {
                phase = PH_RUN;
                t_run = last_check = now;
                for (i = 0; i < opt.conns; i++) {
                    unsigned d;
                    for (d = 0; d < opt.depth; d++) queue_message(&conns[i]);
                    flush(&conns[i]);
                }
            } else if (now > deadline) {
                die(NULL, "%u of %u handshakes done after %.0f s", n_open, opt.conns,
                    CONNECT_TIMEOUT_S);
            }
        }
        if (phase == PH_RUN) {
            if (now - last_check >= STALL_S) { /* every socket has had an echo since */
                for (i = 0; i < opt.conns; i++) {
                    struct conn *c = &conns[i];
                    if (c->echoed == c->checked) {
                        die(c, "no echo for %.0f s (%llu so far)", STALL_S,
                            (unsigned long long)c->echoed);
                    }
                    c->checked = c->echoed;
                }
                last_check = now;
            }
            if (!measuring && now >= t_run + opt.warmup) {
                measuring = 1;
                t0 = now;
                e0 = total_echoed;
                b0 = total_bytes;
                if (opt.sync) {
                    fputs("start\n", stdout);
                    fflush(stdout);
                }
            }
            if (measuring && now >= t0 + opt.seconds) {
                if (total_echoed == e0) die(NULL, "no echo in the %.1f s measured", opt.seconds);
                t1 = now;
                e1 = total_echoed;
                b1 = total_bytes;
                if (opt.sync) {
                    fputs("stop\n", stdout);
                    fflush(stdout);
                }
                phase = PH_CLOSE;
                deadline = now + CLOSE_TIMEOUT_S;
                for (i = 0; i < opt.conns; i++) send_close(&conns[i]);
            }
        }
        if (phase == PH_CLOSE) {
            if (n_done == opt.conns) break;
            if (now > deadline) {
                die(NULL, "%u of %u sockets got no close frame back in %.0f s",
                    opt.conns - n_done, opt.conns, CLOSE_TIMEOUT_S);
            }
        }
        next = phase == PH_RUN ? (measuring ? t0 + opt.seconds : t_run + opt.warmup) : deadline;
        timeout_ms = next - now > 0.1 ? 100 : next > now ? (int)((next - now) * 1000) + 1 : 0;
        n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            die(NULL, "epoll_wait: %s", strerror(errno));
        }
        for (j = 0; j < n; j++) {
            struct conn *c = evs[j].data.ptr;
            if (c->state == DONE) continue;
            if (evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->state == CONNECTING) on_writable(c); /* reports the connect error */
                else on_readable(c);
            }
            if (c->state != DONE && (evs[j].events & EPOLLOUT)) on_writable(c);
        }
    }
    printf("{\"messages\":%llu,\"seconds\":%.6f,\"bytes\":%llu,\"conns\":%u,\"size\":%zu,"
           "\"depth\":%u}\n", (unsigned long long)(e1 - e0), t1 - t0,
           (unsigned long long)(b1 - b0), opt.conns, opt.size, opt.depth);
    return 0;
}
