/* fuzz_uri.c - the decoders of src/uri.c and src/auth.c: path normalisation, the query-string
 * helpers, and the Basic credentials' base64.
 *
 * Input: a mode byte, then the mode's bytes.
 *   0: a path for uri_normalize_path(): the result must be NUL-terminated within len + 1 bytes,
 *      hold no dot-segment, start with '/' when the path did, and be a fixed point.
 *   1: a value-buffer size byte, then key NUL query: mote_query_get() must agree with walking
 *      the pairs with mote_query_next(), and never write past the buffers.
 *   2: user NUL password NUL token: "Authorization: Basic <token>" on a real connection must be
 *      accepted exactly when a strict reference decoder says the token is user:password, and
 *      the token a reference encoder makes of user:password must always be accepted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conn_env.h"
#include "core/uri.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_uri: invariant failed: %s\n", what);
    abort();
}

/* ---- paths ------------------------------------------------------------------------------ */

static int has_dot_segment(const char *p, size_t n)
{
    size_t s = 0, e;
    while (s < n) {
        if (p[s] != '/') return 0; /* only a path of segments is checked */
        e = s + 1;
        while (e < n && p[e] != '/') e++;
        if ((e - s == 2 && p[s + 1] == '.') || (e - s == 3 && p[s + 1] == '.' && p[s + 2] == '.'))
            return 1;
        s = e;
    }
    return 0;
}

static void fuzz_path(const char *src, size_t len)
{
    char *dst = malloc(len + 1), *again;
    long n = uri_normalize_path(src, len, dst), m;
    if (n < -1 || n > (long)len) fail("normalised length out of range");
    if (n < 0) {
        free(dst);
        return;
    }
    if (dst[n] != '\0') fail("normalised path not NUL-terminated");
    if (len && src[0] == '/' && (n == 0 || dst[0] != '/')) fail("lost its leading '/'");
    if (memchr(src, '\0', len) == NULL && strlen(dst) != (size_t)n) fail("NUL inside the path");
    if (n && dst[0] == '/' && has_dot_segment(dst, (size_t)n)) fail("dot-segment left");
    if (n && dst[0] == '/' && memchr(dst, '%', (size_t)n) == NULL) {
        again = malloc((size_t)n + 1);
        m = uri_normalize_path(dst, (size_t)n, again);
        if (m != n || memcmp(again, dst, (size_t)n) != 0) fail("normalising twice changes it");
        free(again);
    }
    free(dst);
}

/* ---- query strings ---------------------------------------------------------------------- */

/* The value of the first pair whose key is `key`, by walking every pair: 1 found, 0 not,
 * -1 when a pair fails to decode (the walk and a lookup may then rightly differ). */
static int walk_for(mote_str q, const char *key, char *value, size_t size)
{
    char k[512], v[512];
    size_t pos = 0, last = 0, rounds = 0;
    int rc;
    while ((rc = mote_query_next(q, &pos, k, sizeof k, v, sizeof v)) == 1) {
        if (pos <= last || pos > q.len || rounds++ > q.len) fail("query_next does not advance");
        last = pos;
        if (strlen(k) >= sizeof k || strlen(v) >= sizeof v) fail("pair not NUL-terminated");
        if (strcmp(k, key) == 0) {
            if (strlen(v) >= size) return -1; /* the lookup's buffer is too short */
            memcpy(value, v, strlen(v) + 1);
            return 1;
        }
    }
    if (rc == 0 && pos != q.len) fail("query_next ends before the end");
    return rc == 0 ? 0 : -1;
}

static void fuzz_query(const uint8_t *data, size_t size)
{
    const char *nul;
    size_t value_size, qlen;
    char *key, *value, *query, expect[512];
    mote_str q;
    int got, walked;
    if (size < 1) return;
    value_size = data[0];
    nul = memchr(data + 1, '\0', size - 1);
    if (!nul) return;
    key = malloc((size_t)(nul - (const char *)data)); /* exactly the key and its NUL */
    memcpy(key, data + 1, (size_t)(nul - (const char *)data));
    qlen = size - 1 - strlen(key) - 1;
    query = malloc(qlen ? qlen : 1); /* exactly its size: a read past it is caught */
    memcpy(query, nul + 1, qlen);
    value = malloc(value_size ? value_size : 1);
    q.ptr = query;
    q.len = qlen;
    /* Known library bug (fuzz/regressions/fuzz_uri/query-get-raw-nul-*): a raw NUL in the
     * query makes mote_query_get() read past the key's terminator. MOTE_FUZZ_KNOWN_BUGS=1
     * skips such queries so that fuzzing can go past it. */
    if (getenv("MOTE_FUZZ_KNOWN_BUGS") && memchr(query, '\0', qlen)) q.len = qlen = 0;
    got = mote_query_get(q, key, value_size ? value : NULL, value_size);
    if (got >= 0 && ((size_t)got >= value_size || value[got] != '\0'))
        fail("query_get value not NUL-terminated within its buffer");
    /* a raw NUL in the query ends a decoded key early for strcmp(): no comparison then */
    walked = memchr(query, '\0', qlen) ? -1 : walk_for(q, key, expect, value_size);
    if (walked == 1 && (got < 0 || strcmp(expect, value) != 0))
        fail("query_get and query_next differ");
    if (walked == 0 && got != MOTE_ENOTFOUND) fail("query_get finds what query_next does not");
    free(value);
    free(query);
    free(key);
}

/* ---- Basic credentials ------------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* Strict RFC 4648 §4 decoding with padding; -1 when malformed. */
static long ref_decode(const char *s, size_t len, unsigned char *out)
{
    size_t i, n = 0, pad = 0;
    if (len == 0 || len % 4) return -1;
    if (s[len - 1] == '=') pad++;
    if (s[len - 2] == '=') pad++;
    for (i = 0; i < len; i++) {
        if (i >= len - pad) continue;
        if (b64_value((unsigned char)s[i]) < 0) return -1;
    }
    for (i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t k;
        for (k = 0; k < 4; k++)
            v = v << 6 | (uint32_t)(i + k >= len - pad ? 0 : b64_value((unsigned char)s[i + k]));
        out[n++] = (unsigned char)(v >> 16);
        if (i + 4 < len || pad < 2) out[n++] = (unsigned char)(v >> 8);
        if (i + 4 < len || pad < 1) out[n++] = (unsigned char)v;
    }
    return (long)n;
}

static size_t ref_encode(const unsigned char *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, n = 0;
    for (i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[n++] = alphabet[v >> 18 & 63];
        out[n++] = alphabet[v >> 12 & 63];
        out[n++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        out[n++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    return n;
}

typedef struct creds {
    const char *user, *pass;
    int expect;          /* what mote_basic_auth_check() must say on the request */
    int checked;         /* requests whose handler ran */
} creds;

static creds C;

static void h_check(mote_request *req, mote_response *res, void *user)
{
    (void)user;
    if (mote_basic_auth_check(req, C.user, C.pass) != C.expect) {
        fprintf(stderr, "Authorization: %s\n", mote_request_header(req, "authorization"));
        fail("mote_basic_auth_check disagrees with the reference decoder");
    }
    C.checked++;
    mote_respond(res, 204, NULL, "");
}

/* Whether the reference decoder finds user:password in a header value as the parser keeps it
 * (without surrounding whitespace). */
static int ref_check(const char *value, size_t vlen)
{
    unsigned char given[2048], want[2048];
    size_t ul = strlen(C.user), pl = strlen(C.pass), i = 6;
    long n;
    if (ul + 1 + pl > 512 || vlen < 6 || (value[0] | 32) != 'b' || (value[1] | 32) != 'a' ||
        (value[2] | 32) != 's' || (value[3] | 32) != 'i' || (value[4] | 32) != 'c' ||
        value[5] != ' ')
        return 0;
    while (i < vlen && value[i] == ' ') i++;
    if (vlen - i > sizeof given / 4 * 3) return 0;
    n = ref_decode(value + i, vlen - i, given);
    memcpy(want, C.user, ul);
    want[ul] = ':';
    memcpy(want + ul + 1, C.pass, pl);
    return n == (long)(ul + 1 + pl) && memcmp(given, want, (size_t)n) == 0;
}

/* One request with the value on a fresh connection; returns whether the handler ran. */
static int run_request(const char *value, size_t vlen, int expect)
{
    fenv f;
    char *req = malloc(vlen + 64);
    int n, before = C.checked;
    fenv_init(&f, 0, 0);
    router_add(&f.routes, &(mote_route_def){.path = "/", .handler = h_check}, NULL);
    f.router_live = f.live;
    fenv_start(&f, NULL, NULL);
    n = snprintf(req, vlen + 64, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: %.*s\r\n\r\n",
                 (int)vlen, value);
    C.expect = expect;
    fenv_feed(&f, req, (size_t)n);
    fenv_drain(&f, SIZE_MAX, 0);
    fenv_finish(&f);
    free(req);
    return C.checked > before;
}

static void fuzz_auth(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *pass, *token;
    char value[1400];
    unsigned char both[1100];
    size_t tlen, vlen, ul, pl, i;
    pass = memchr(p, '\0', size);
    token = pass ? memchr(pass + 1, '\0', (size_t)(end - pass - 1)) : NULL;
    if (!token) return;
    C.user = p;
    C.pass = ++pass;
    tlen = (size_t)(end - ++token);
    ul = strlen(C.user);
    pl = strlen(C.pass);
    if (tlen > 1000 || ul + pl > 500) return;
    for (i = 0; i < tlen; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f) return; /* not a field value */
    memcpy(value, "Basic ", 6);
    memcpy(value + 6, token, tlen);
    vlen = 6 + tlen;
    while (vlen > 6 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t')) vlen--; /* trimmed */
    run_request(value, vlen, ref_check(value, vlen));

    memcpy(both, C.user, ul);
    both[ul] = ':';
    memcpy(both + ul + 1, C.pass, pl);
    vlen = 6 + ref_encode(both, ul + 1 + pl, value + 6);
    if (!run_request(value, vlen, 1)) fail("a well-formed Authorization request was refused");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_path((const char *)data + 1, size - 1);
        break;
    case 1:
        fuzz_query(data + 1, size - 1);
        break;
    default:
        fuzz_auth(data + 1, size - 1);
        break;
    }
    return 0;
}
