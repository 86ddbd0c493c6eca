/* base64.c - see base64.h. */
#include <stdint.h>

#include "core/base64.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i, n = 0;
    for (i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t v = (uint32_t)in[i] << 16;
        if (left > 1) v |= (uint32_t)in[i + 1] << 8;
        if (left > 2) v |= in[i + 2];
        out[n++] = base64_alphabet[v >> 18 & 63];
        out[n++] = base64_alphabet[v >> 12 & 63];
        out[n++] = left > 1 ? base64_alphabet[v >> 6 & 63] : '=';
        out[n++] = left > 2 ? base64_alphabet[v & 63] : '=';
    }
    return n;
}

static int base64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long base64_decode(const char *s, size_t len, unsigned char *out, size_t out_size)
{
    size_t i, n = 0;
    if (len % 4) return -1;
    for (i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        size_t k;
        for (k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = base64_value((unsigned char)s[i + k])) < 0) {
                return -1;
            }
        }
        if (n + 3 - (size_t)pad > out_size) return -1;
        out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2) out[n++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad < 1) out[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    return (long)n;
}
