/* auth.c - HTTP Basic authentication (RFC 7617). Credentials are compared in constant time,
 * and never copied anywhere that outlives the check. MOTE_CONFIG_BASIC_AUTH 0 leaves it out:
 * no route demands credentials then (router_add() refuses them), and these calls refuse too. */
#include <string.h>

#include "core/base64.h"
#include "core/chars.h"
#include "mote.h"

#if MOTE_CONFIG_BASIC_AUTH
/* Longest "user:password" accepted (two buffers of it on the stack); longer credentials simply
 * do not match. */
#define CREDENTIALS_MAX MOTE_CONFIG_BASIC_AUTH_MAX_CREDENTIALS

/* Compares a[0..alen) with b[0..blen) touching every byte of the longer one, so the time
 * taken says nothing about where they differ or how long the secret is. */
static int equal_constant_time(const unsigned char *a, size_t alen, const unsigned char *b,
                               size_t blen)
{
    size_t i, n = alen > blen ? alen : blen;
    unsigned diff = (unsigned)(alen ^ blen);
    for (i = 0; i < n; i++) {
        unsigned char x = i < alen ? a[i] : 0, y = i < blen ? b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

int mote_basic_auth_check(const mote_request *req, const char *user, const char *password)
{
    unsigned char given[CREDENTIALS_MAX], want[CREDENTIALS_MAX];
    const char *h;
    size_t ul, pl, i = 6;
    long n;
    int ok;
    if (!req || !user || !password) return 0;
    h = mote_request_header(req, "Authorization");
    ul = strlen(user);
    pl = strlen(password);
    if (!h || ul + 1 + pl > sizeof want) return 0;
    /* auth-scheme is case-insensitive (RFC 9110 §11.1) */
    if (strlen(h) < 6 || char_lower((unsigned char)h[0]) != 'b' ||
        !(char_lower(h[1]) == 'a' && char_lower(h[2]) == 's' && char_lower(h[3]) == 'i' &&
          char_lower(h[4]) == 'c' && h[5] == ' '))
        return 0;
    while (h[i] == ' ') i++;
    n = base64_decode(h + i, strlen(h + i), given, sizeof given);
    memcpy(want, user, ul);
    want[ul] = ':';
    memcpy(want + ul + 1, password, pl);
    ok = n >= 0 && equal_constant_time(given, (size_t)n, want, ul + 1 + pl);
    memset(given, 0, sizeof given);
    memset(want, 0, sizeof want);
    return ok;
}

int mote_respond_unauthorized(mote_response *res, const char *realm)
{
    char value[300];
    size_t n;
    int rc;
    if (!res || !realm) return MOTE_EINVAL;
    n = strlen(realm);
    if (n > sizeof value - 40) return MOTE_EINVAL;
    memcpy(value, "Basic realm=\"", 13);
    memcpy(value + 13, realm, n);
    memcpy(value + 13 + n, "\", charset=\"UTF-8\"", 19);
    rc = mote_response_status(res, 401);
    if (rc == MOTE_OK) rc = mote_response_header(res, "WWW-Authenticate", value);
    if (rc == MOTE_OK) rc = mote_response_header(res, "Content-Type", "text/plain");
    if (rc == MOTE_OK) rc = mote_response_send(res, "401 Unauthorized\n", 17);
    return rc;
}
#else
int mote_basic_auth_check(const mote_request *req, const char *user, const char *password)
{
    (void)req;
    (void)user;
    (void)password;
    return 0;
}

int mote_respond_unauthorized(mote_response *res, const char *realm)
{
    (void)res;
    (void)realm;
    return MOTE_ENOTSUP;
}
#endif
