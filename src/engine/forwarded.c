/* forwarded.c - see forwarded.h. */
#include "engine/forwarded.h"

#include <stdio.h>
#include <string.h>

#include "core/chars.h"

#if MOTE_CONFIG_PROXY

#define HOPS_MAX 16 /* hops looked at, from the nearest: enough for any real chain */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One CIDR: "addr" or "addr/bits". */
static int parse_net(const char *s, size_t n, trusted_net *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    unsigned bits, max;
    if (addr_parse(s, alen, &out->net) < 0) return MOTE_EINVAL;
    max = out->net.family == 4 ? 32u : 128u;
    bits = max;
    if (slash) {
        size_t i = alen + 1;
        if (i == n || n - i > 3) return MOTE_EINVAL;
        for (bits = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return MOTE_EINVAL;
            bits = bits * 10 + (unsigned)(s[i] - '0');
        }
        if (bits > max) return MOTE_EINVAL;
    }
    out->bits = (uint8_t)bits;
    return MOTE_OK;
}

/* The next entry of a list separated by commas or spaces: its length (0: none left). */
static size_t next_entry(const char *list, size_t *pos, const char **start)
{
    size_t i = *pos, n;
    while (list[i] == ',' || is_space(list[i])) i++;
    *start = list + i;
    for (n = 0; list[i + n] && list[i + n] != ',' && !is_space(list[i + n]); n++) {
    }
    *pos = i + n;
    return n;
}

int trusted_parse(const char *list, const mote_allocator *a, trusted_net **out, size_t *count,
                  char *err, size_t err_len)
{
    const char *e;
    size_t pos = 0, n = 0, len;
    *out = NULL;
    *count = 0;
    if (!list) return MOTE_OK;
    while ((len = next_entry(list, &pos, &e)) > 0) n++;
    if (n == 0) return MOTE_OK;
    if ((*out = a->alloc(a->ctx, n * sizeof **out)) == NULL) return MOTE_ENOMEM;
    for (pos = 0; (len = next_entry(list, &pos, &e)) > 0; (*count)++) {
        if (parse_net(e, len, &(*out)[*count]) < 0) {
            if (err_len) {
                size_t shown = len < err_len - 1 ? len : err_len - 1;
                memcpy(err, e, shown);
                err[shown] = '\0';
            }
            a->free(a->ctx, *out);
            *out = NULL;
            *count = 0;
            return MOTE_EINVAL;
        }
    }
    return MOTE_OK;
}

static int trusted(const mote_addr *a, const trusted_net *nets, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++) {
        if (addr_in_network(a, &nets[i].net, nets[i].bits)) return 1;
    }
    return 0;
}

/* ---- the fields --------------------------------------------------------------------------- */

/* A hop as a proxy reported it: its address (family 0: none we can read), and the scheme. */
typedef struct hop {
    mote_addr addr;
    int https;     /* 1 https, 0 http, -1 not said */
} hop;

typedef struct hops {
    hop h[HOPS_MAX];
    size_t n;      /* the last HOPS_MAX entries of the chain, left to right */
    size_t total;
} hops;

static hop *push_hop(hops *c)
{
    if (c->n == HOPS_MAX) {
        memmove(c->h, c->h + 1, (HOPS_MAX - 1) * sizeof c->h[0]);
        c->n--;
    }
    memset(&c->h[c->n], 0, sizeof c->h[0]);
    c->h[c->n].https = -1;
    c->total++;
    return &c->h[c->n++];
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) (*s)++, (*n)--;
    while (*n && is_space((*s)[*n - 1])) (*n)--;
}

/* A node of Forwarded's for= (RFC 7239 §6): "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:80";
 * "unknown" and obfuscated names leave the address unreadable. */
static void read_node(const char *s, size_t n, mote_addr *out)
{
    const char *colon;
    unsigned port = 0;
    size_t alen = n, i;
    if (n && s[0] == '"') {
        if (n < 2 || s[n - 1] != '"') return;
        s++;
        n -= 2;
        alen = n;
    }
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return;
        alen = (size_t)(close - s - 1);
        colon = close + 1 < s + n && close[1] == ':' ? close + 1 : NULL;
        if (addr_parse(s + 1, alen, out) < 0 || out->family != 6) goto bad;
    } else {
        colon = memchr(s, ':', n);
        if (colon) alen = (size_t)(colon - s);
        if (addr_parse(s, alen, out) < 0 || out->family != 4) goto bad;
    }
    if (colon) {
        for (i = (size_t)(colon + 1 - s); i < n && s[i] >= '0' && s[i] <= '9' && port < 65536; i++)
            port = port * 10 + (unsigned)(s[i] - '0');
        out->port = port < 65536 ? (uint16_t)port : 0;
    }
    return;
bad:
    memset(out, 0, sizeof *out);
}

/* One element of Forwarded: pairs separated by ';'. */
static void read_element(const char *s, size_t n, hop *h)
{
    while (n) {
        const char *semi = memchr(s, ';', n), *eq;
        size_t len = semi ? (size_t)(semi - s) : n, klen;
        const char *pair = s;
        s += len + (semi ? 1 : 0);
        n -= len + (semi ? 1 : 0);
        trim(&pair, &len);
        if ((eq = memchr(pair, '=', len)) == NULL) continue;
        klen = (size_t)(eq - pair);
        if (chars_equal_nocase(pair, klen, "for")) {
            read_node(eq + 1, len - klen - 1, &h->addr);
        } else if (chars_equal_nocase(pair, klen, "proto")) {
            const char *v = eq + 1;
            size_t vlen = len - klen - 1;
            if (vlen >= 2 && v[0] == '"') v++, vlen -= 2;
            h->https = chars_equal_nocase(v, vlen, "https");
        }
    }
}

/* The comma-separated entries of one field's value, each as a hop. Quoted commas in Forwarded
 * are not split on (a quoted-string holds no comma a proxy would write, but one may). */
static void read_list(const char *v, size_t n, int forwarded, hops *c)
{
    size_t i = 0;
    while (i <= n) {
        size_t start = i, len;
        int quoted = 0;
        const char *e;
        while (i < n && (v[i] != ',' || quoted)) {
            if (v[i] == '"') quoted = !quoted;
            i++;
        }
        e = v + start;
        len = i - start;
        i++;
        trim(&e, &len);
        if (len == 0) continue;
        if (forwarded) {
            read_element(e, len, push_hop(c));
        } else {
            hop *h = push_hop(c);
            if (addr_parse(e, len, &h->addr) < 0) memset(&h->addr, 0, sizeof h->addr);
        }
    }
}

/* Every field named `name`, in order, as hops. */
static void read_fields(const mote_request *req, const char *name, int forwarded, hops *c)
{
    size_t i, count = mote_request_header_count(req);
    for (i = 0; i < count; i++) {
        mote_header f;
        if (mote_request_header_at(req, i, &f) == MOTE_OK &&
            chars_equal_nocase(f.name, f.name_len, name))
            read_list(f.value, f.value_len, forwarded, c);
    }
}

/* The comma-separated tokens of every X-Forwarded-Proto field, as hops' schemes. */
static void read_proto_fields(const mote_request *req, hops *p)
{
    size_t i, count = mote_request_header_count(req);
    for (i = 0; i < count; i++) {
        mote_header f;
        size_t k = 0;
        if (mote_request_header_at(req, i, &f) < 0 ||
            !chars_equal_nocase(f.name, f.name_len, "x-forwarded-proto"))
            continue;
        while (k <= f.value_len) {
            const char *e = f.value + k;
            size_t len = 0;
            while (k + len < f.value_len && e[len] != ',') len++;
            k += len + 1;
            trim(&e, &len);
            if (len) push_hop(p)->https = chars_equal_nocase(e, len, "https");
        }
    }
}

/* X-Forwarded-Proto's entries, aligned with X-Forwarded-For's when both have as many; else
 * the nearest proxy's word for every hop. */
static void read_protos(const mote_request *req, hops *c)
{
    hops p;
    size_t i;
    memset(&p, 0, sizeof p);
    read_proto_fields(req, &p);
    if (p.n == 0) return;
    for (i = 0; i < c->n; i++)
        c->h[i].https = p.total == c->total ? p.h[p.n - c->n + i].https : p.h[p.n - 1].https;
}

void forwarded_client(const mote_request *req, const mote_addr *peer, const trusted_net *nets,
                      size_t count, mote_addr *client, int *https)
{
    hops c;
    size_t i;
    *client = *peer;
    if (count == 0 || !trusted(peer, nets, count)) return;
    memset(&c, 0, sizeof c);
    read_fields(req, "forwarded", 1, &c);
    if (c.total == 0) {
        read_fields(req, "x-forwarded-for", 0, &c);
        read_protos(req, &c);
    }
    for (i = c.n; i-- > 0;) {
        const hop *h = &c.h[i];
        if (h->addr.family == 0) return; /* unreadable: the trusted hop after it is the client */
        *client = h->addr;
        if (h->https >= 0) *https = h->https;
        if (!trusted(&h->addr, nets, count)) return;
    }
}

#else /* without it, no network is trusted: the peer is the client */

int trusted_parse(const char *list, const mote_allocator *a, trusted_net **out, size_t *count,
                  char *err, size_t err_len)
{
    (void)a;
    *out = NULL;
    *count = 0;
    if (!list || !*list) return MOTE_OK;
    if (err_len) snprintf(err, err_len, "(MOTE_CONFIG_PROXY is 0)");
    return MOTE_ENOTSUP;
}

void forwarded_client(const mote_request *req, const mote_addr *peer, const trusted_net *nets,
                      size_t count, mote_addr *client, int *https)
{
    (void)req;
    (void)nets;
    (void)count;
    (void)https;
    *client = *peer;
}

#endif
