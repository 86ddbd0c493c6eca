/* test_wscodec.c - the codecs of the WebSocket handshake and of text messages: SHA-1 (FIPS
 * 180-4's examples and the padding's edges), base64 (RFC 4648 §10's vectors, malformed input),
 * the accept value of RFC 6455 §1.3, and the incremental UTF-8 validator. The validator is fed
 * each input whole, cut in two at every point, a byte at a time and in other pieces, and must
 * give the same verdict and the same first invalid byte every way: on named cases, on every
 * string of up to three bytes and on random ones, against a reference that decides by
 * arithmetic on code points rather than by byte ranges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/base64.h"
#include "core/sha1.h"
#include "core/utf8.h"

/* ---- SHA-1 ------------------------------------------------------------------------------- */

static void hex(const unsigned char *d, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* The digest of data fed in pieces of at most `piece` bytes, after a first piece of `cut`. */
static void sha1_pieces(const void *data, size_t len, size_t cut, size_t piece, char out[41])
{
    const unsigned char *p = data;
    unsigned char d[SHA1_DIGEST_LEN];
    sha1_ctx c;
    size_t at = cut;
    sha1_init(&c);
    sha1_update(&c, p, cut);
    while (at < len) {
        size_t n = len - at < piece ? len - at : piece;
        sha1_update(&c, p + at, n);
        at += n;
    }
    sha1_final(&c, d);
    hex(d, sizeof d, out);
}

/* The digest must not depend on how the message is fed: whole, cut at every point, bytewise. */
static void check_sha1(const char *what, const void *data, size_t len, const char *want)
{
    char got[41];
    size_t cut;
    sha1_pieces(data, len, len, 1, got);
    CHECK_MSG(strcmp(got, want) == 0, "%s: %s, want %s", what, got, want);
    for (cut = 0; cut <= len; cut++) {
        sha1_pieces(data, len, cut, len, got);
        if (strcmp(got, want) != 0) break;
    }
    CHECK_MSG(cut > len, "%s cut at %zu: %s, want %s", what, cut, got, want);
    sha1_pieces(data, len, 0, 1, got);
    CHECK_MSG(strcmp(got, want) == 0, "%s bytewise: %s, want %s", what, got, want);
}

static void test_sha1_fips(void)
{
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char long_896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                                   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_sha1("abc", "abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    check_sha1("448 bits", two_blocks, sizeof two_blocks - 1,
               "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    check_sha1("896 bits", long_896, sizeof long_896 - 1,
               "a49b2446a02c645bf419f995b67091253a04a259");
    check_sha1("empty", "", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

/* Messages of n 'a's around the lengths where the padding spills into another block. */
static void test_sha1_padding(void)
{
    static const struct {
        size_t n;
        const char *digest;
    } cases[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {57, "f08f24908d682555111be7ff6f004e78283d989a"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    char a[120], what[32];
    size_t i;
    memset(a, 'a', sizeof a);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(what, sizeof what, "%zu a's", cases[i].n);
        check_sha1(what, a, cases[i].n, cases[i].digest);
    }
}

/* One million 'a' (FIPS 180-4's long example), in pieces of uneven sizes that straddle blocks. */
static void test_sha1_million(void)
{
    static const size_t pieces[] = {1, 63, 64, 65, 2, 127, 1000, 3, 4096, 55};
    unsigned char a[4096], d[SHA1_DIGEST_LEN];
    char got[41];
    sha1_ctx c;
    size_t left = 1000000, i = 0;
    memset(a, 'a', sizeof a);
    sha1_init(&c);
    while (left > 0) {
        size_t n = pieces[i++ % (sizeof pieces / sizeof pieces[0])];
        if (n > left) n = left;
        sha1_update(&c, a, n);
        left -= n;
    }
    sha1_final(&c, d);
    hex(d, sizeof d, got);
    CHECK_EQ_STR(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* RFC 6455 §1.3: the accept value is base64(SHA-1(key + GUID)). */
static void test_websocket_accept(void)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char d[SHA1_DIGEST_LEN], nonce[16];
    char accept[BASE64_ENCODED_LEN(SHA1_DIGEST_LEN) + 1];
    sha1_ctx c;
    size_t n;
    sha1_init(&c);
    sha1_update(&c, key, sizeof key - 1);
    sha1_update(&c, guid, sizeof guid - 1);
    sha1_final(&c, d);
    n = base64_encode(d, sizeof d, accept);
    CHECK_EQ_INT(n, 28);
    accept[n] = '\0';
    CHECK_EQ_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* and the key is the 16-byte nonce it should be */
    CHECK_EQ_INT(base64_decode(key, sizeof key - 1, nonce, sizeof nonce), 16);
    CHECK(memcmp(nonce, "the sample nonce", 16) == 0);
}

/* ---- base64 ------------------------------------------------------------------------------ */

static void test_base64_vectors(void)
{
    static const char *const vectors[][2] = {
        {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    size_t i;
    for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const char *plain = vectors[i][0], *code = vectors[i][1];
        size_t plen = strlen(plain), clen = strlen(code), n;
        char enc[16];
        unsigned char dec[16];
        long got;
        memset(enc, '#', sizeof enc);
        n = base64_encode((const unsigned char *)plain, plen, enc);
        CHECK_MSG(n == clen && memcmp(enc, code, clen) == 0 && enc[clen] == '#',
                  "encode \"%s\": %zu \"%.*s\", want \"%s\"", plain, n, (int)n, enc, code);
        CHECK_EQ_INT(BASE64_ENCODED_LEN(plen), clen);
        memset(dec, '#', sizeof dec);
        got = base64_decode(code, clen, dec, plen);
        CHECK_MSG(got == (long)plen && memcmp(dec, plain, plen) == 0 && dec[plen] == '#',
                  "decode \"%s\": %ld, want \"%s\"", code, got, plain);
    }
}

/* Every byte value, at every offset of a group, at lengths 0..66, both ways. */
static void test_base64_round_trip(void)
{
    unsigned char in[66], out[66];
    char enc[BASE64_ENCODED_LEN(66)];
    size_t len, i, failures = 0;
    unsigned seed = 11;
    for (len = 0; len <= sizeof in; len++) {
        size_t n;
        long got;
        for (i = 0; i < len; i++) in[i] = (unsigned char)(seed += 37);
        n = base64_encode(in, len, enc);
        got = base64_decode(enc, n, out, len);
        if (n != BASE64_ENCODED_LEN(len) || got != (long)len || memcmp(in, out, len) != 0)
            failures++;
        /* one byte short of room is refused */
        if (len > 0 && base64_decode(enc, n, out, len - 1) != -1) failures++;
    }
    CHECK_EQ_INT(failures, 0);
}

static void check_malformed(const char *s, size_t len)
{
    unsigned char out[16];
    long got = base64_decode(s, len, out, sizeof out);
    CHECK_MSG(got == -1, "\"%.*s\" decoded to %ld bytes", (int)len, s, got);
}

static void test_base64_malformed(void)
{
    static const char *const bad[] = {
        "Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=",             /* length not a multiple of 4 */
        "Zm9$", "Zm-v", "Zm_v", "Zm9\xC3", "Zm9v!A==",   /* outside the alphabet (url's -_ too) */
        "Zg==Zg==", "Zm=v", "Z===", "====", "=Zm9", "Zm9vYg=A", /* '=' misplaced */
        "Zm9 ", " Zm9", "Zm9v\r\nYmFy", "Zm9v\n", "Zg==\n",      /* whitespace */
    };
    unsigned char out[8];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) check_malformed(bad[i], strlen(bad[i]));
    check_malformed("Zm9\0", 4); /* a NUL inside the given length */
    /* longer than out_size: refused, and nothing written past out_size */
    memset(out, '#', sizeof out);
    CHECK_EQ_INT(base64_decode("Zm9vYmFy", 8, out, 5), -1);
    CHECK(out[5] == '#' && out[6] == '#');
    CHECK_EQ_INT(base64_decode("Zm9vYmFy", 8, out, 6), 6);
    CHECK_EQ_INT(base64_decode("Zg==", 4, out, 0), -1);
    CHECK_EQ_INT(base64_decode("Zg==", 4, out, 1), 1);
    CHECK_EQ_INT(base64_decode("", 0, out, 0), 0);
}

/* ---- UTF-8: the reference ---------------------------------------------------------------- */

/* The length of the character a lead byte starts (0: none), from its bit pattern alone. */
static unsigned ref_length(unsigned char b)
{
    if (b < 0x80) return 1;
    if ((b & 0xE0) == 0xC0) return 2;
    if ((b & 0xF0) == 0xE0) return 3;
    if ((b & 0xF8) == 0xF0) return 4;
    return 0;
}

/* Whether c[0..k), k at most the length its lead byte announces, can begin a character: the
 * code points it leaves possible, [lo, hi], must meet those of that length (RFC 3629 §3),
 * surrogates excepted. */
static int ref_can_begin(const unsigned char *c, unsigned k)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint32_t most[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    unsigned len = ref_length(c[0]), i, rest;
    uint32_t lo = c[0] & (len == 1 ? 0x7Fu : 0xFFu >> (len + 1)), hi;
    for (i = 1; i < k; i++) {
        if ((c[i] & 0xC0) != 0x80) return 0;
        lo = lo << 6 | (c[i] & 0x3Fu);
    }
    rest = 6 * (len - k);
    lo <<= rest;
    hi = lo | ((UINT32_C(1) << rest) - 1);
    if (lo < least[len]) lo = least[len];
    if (hi > most[len]) hi = most[len];
    return lo <= hi && !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* The index of the first byte of s[0..n) that no valid text can have there, or n when there is
 * none; *boundary tells whether s ends between characters. */
static size_t ref_validate(const unsigned char *s, size_t n, int *boundary)
{
    size_t start = 0, i;
    *boundary = 0;
    for (i = 0; i < n; i++) {
        unsigned len = ref_length(s[start]);
        if (len == 0 || !ref_can_begin(s + start, (unsigned)(i - start + 1))) return i;
        if (i - start + 1 == len) start = i + 1;
    }
    *boundary = start == n;
    return n;
}

/* ---- UTF-8: feeding the validator -------------------------------------------------------- */

/* Validates s[0..n) fed as s[0..cut), then pieces of at most `piece` bytes. Returns where the
 * first invalid byte is in the whole input (n when there is none); *state is the final state. */
static size_t feed(const unsigned char *s, size_t n, size_t cut, size_t piece, uint32_t *state)
{
    size_t at = 0, len = cut;
    *state = UTF8_OK;
    for (;;) {
        size_t got = utf8_validate(state, s + at, len);
        if (got < len) return at + got;
        at += len;
        if (at == n) return n;
        len = n - at < piece ? n - at : piece;
    }
}

typedef struct verdict {
    size_t bad;   /* index of the first invalid byte, or n */
    int boundary; /* ends at a character boundary (only when bad == n) */
} verdict;

/* Whether feeding s the way (cut, piece) says gives `want`, the state agreeing: UTF8_REJECT
 * after an invalid byte, else at a boundary or not as wanted. */
static int fed_agrees(const unsigned char *s, size_t n, size_t cut, size_t piece, verdict want)
{
    uint32_t state;
    size_t bad = feed(s, n, cut, piece, &state);
    if (bad != want.bad) return 0;
    if (bad < n) return state == UTF8_REJECT;
    return utf8_at_boundary(state) == want.boundary;
}

/* Whether every way of feeding s gives `want`: whole, cut in two at every point, a byte at a
 * time, and in pieces of 2, 3, 5, 7, 9 and 17 bytes (the odd sizes misalign the ASCII words);
 * a piece as long as s would only feed it whole again. On a difference, `how` says which way. */
static int agrees(const unsigned char *s, size_t n, verdict want, char *how, size_t how_size)
{
    static const size_t pieces[] = {1, 2, 3, 5, 7, 9, 17};
    size_t cut, i;
    if (!fed_agrees(s, n, n, n ? n : 1, want)) {
        snprintf(how, how_size, "whole");
        return 0;
    }
    for (cut = 0; cut <= n; cut++) {
        if (!fed_agrees(s, n, cut, n ? n : 1, want)) {
            snprintf(how, how_size, "cut at %zu", cut);
            return 0;
        }
    }
    for (i = 0; i < sizeof pieces / sizeof pieces[0] && pieces[i] < n; i++) {
        if (!fed_agrees(s, n, 0, pieces[i], want)) {
            snprintf(how, how_size, "in pieces of %zu", pieces[i]);
            return 0;
        }
    }
    return 1;
}

static void hex_bytes(const unsigned char *s, size_t n, char *out, size_t out_size)
{
    size_t i, at = 0;
    out[0] = '\0';
    for (i = 0; i < n && at + 4 < out_size; i++) at += (size_t)sprintf(out + at, "%02X ", s[i]);
}

/* Checks s against `want` every way, and the reference against it too, so that the sweeps
 * below compare the validator with a reference shown right on the named cases. */
static void check_utf8(const char *name, const char *text, size_t n, verdict want)
{
    const unsigned char *s = (const unsigned char *)text;
    char how[40], bytes[200];
    int ref_boundary;
    size_t ref = ref_validate(s, n, &ref_boundary);
    hex_bytes(s, n, bytes, sizeof bytes);
    CHECK_MSG(agrees(s, n, want, how, sizeof how), "%s (%s): differs %s", name, bytes, how);
    CHECK_MSG(ref == want.bad && (ref < n || ref_boundary == want.boundary),
              "%s (%s): the reference says %zu/%d", name, bytes, ref, ref_boundary);
}

/* ---- UTF-8: the cases -------------------------------------------------------------------- */

#define TEXT(s) s, sizeof(s) - 1
#define VALID(s) TEXT(s), {sizeof(s) - 1, 1}
#define PARTIAL(s) TEXT(s), {sizeof(s) - 1, 0}
#define INVALID_AT(s, i) TEXT(s), {i, 0}

/* "κόσμε", the Greek word of Markus Kuhn's test file and the Autobahn WebSocket suite */
#define KOSME "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"

static void test_utf8_cases(void)
{
    static const struct {
        const char *name;
        const char *text;
        size_t len;
        verdict want;
    } cases[] = {
        {"empty", VALID("")},
        {"ASCII", VALID("Hello, world")},
        {"kosme", VALID(KOSME)},
        {"Hello-mu", VALID("Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1"
                           "-UTF-8!!")},
        {"U+0000", VALID("\0")},
        {"U+007F", VALID("\x7F")},
        {"U+0080", VALID("\xC2\x80")},
        {"U+07FF", VALID("\xDF\xBF")},
        {"U+0800", VALID("\xE0\xA0\x80")},
        {"U+D7FF", VALID("\xED\x9F\xBF")},
        {"U+E000", VALID("\xEE\x80\x80")},
        {"U+FFFD", VALID("\xEF\xBF\xBD")},
        {"U+FFFF", VALID("\xEF\xBF\xBF")},
        {"U+10000", VALID("\xF0\x90\x80\x80")},
        {"U+10FFFF", VALID("\xF4\x8F\xBF\xBF")},
        {"U+110000", INVALID_AT("\xF4\x90\x80\x80", 1)},
        {"F5", INVALID_AT("\xF5\x80\x80\x80", 0)},
        {"F7 BF BF BF (U+1FFFFF)", INVALID_AT("\xF7\xBF\xBF\xBF", 0)},
        {"five bytes", INVALID_AT("\xF8\x88\x80\x80\x80", 0)},
        {"six bytes", INVALID_AT("\xFC\x84\x80\x80\x80\x80", 0)},
        {"FE", INVALID_AT("a\xFE", 1)},
        {"FF", INVALID_AT("ab\xFF", 2)},
        {"C0", INVALID_AT("\xC0", 0)},
        {"C1 BF", INVALID_AT("\xC1\xBF", 0)},
        {"overlong / in two bytes", INVALID_AT("\xC0\xAF", 0)},
        {"overlong / in three bytes", INVALID_AT("\xE0\x80\xAF", 1)},
        {"overlong / in four bytes", INVALID_AT("\xF0\x80\x80\xAF", 1)},
        {"overlong U+07FF", INVALID_AT("\xE0\x9F\xBF", 1)},
        {"overlong U+FFFF", INVALID_AT("\xF0\x8F\xBF\xBF", 1)},
        {"U+D800", INVALID_AT("\xED\xA0\x80", 1)},
        {"U+DBFF", INVALID_AT("\xED\xAF\xBF", 1)},
        {"U+DC00", INVALID_AT("\xED\xB0\x80", 1)},
        {"U+DFFF", INVALID_AT("\xED\xBF\xBF", 1)},
        {"surrogate pair", INVALID_AT("\xED\xA0\x80\xED\xB0\x80", 1)},
        {"lone continuation", INVALID_AT("\x80", 0)},
        {"lone continuation BF", INVALID_AT("\xBF", 0)},
        {"continuation after ASCII", INVALID_AT("a\x80" "b", 1)},
        {"continuation too many", INVALID_AT("\xC2\x80\x80", 2)},
        {"lead for continuation", INVALID_AT("\xC2\xC2\x80", 1)},
        {"ASCII for continuation", INVALID_AT("\xC2" "A", 1)},
        {"lead as third byte", INVALID_AT("\xE1\x80\xC2\x80", 2)},
        {"lead as fourth byte", INVALID_AT("\xF1\x80\x80\xF1", 3)},
        {"truncated two bytes", PARTIAL("\xC2")},
        {"truncated three bytes", PARTIAL("\xE1\x80")},
        {"truncated four bytes", PARTIAL("\xF0\x90\x80")},
        {"truncated after text", PARTIAL("abc" KOSME "\xCE")},
        {"Autobahn 6.3.1", INVALID_AT(KOSME "\xED\xA0\x80" "edited", 12)},
        {"Autobahn 6.4.1", INVALID_AT(KOSME "\xF4\x90\x80\x80" "edited", 12)},
        {"after a long ASCII run", INVALID_AT("0123456789abcdefghij\xFF", 20)},
        {"in a long ASCII run", INVALID_AT("0123456789abcdefg\x80hij0123456789", 17)},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_utf8(cases[i].name, cases[i].text, cases[i].len, cases[i].want);
}

/* The ASCII words: an odd byte at every position of a long run, the run starting at every
 * alignment, so that it falls at each place in a word and in the bytes after the last word. */
static void test_utf8_words(void)
{
    unsigned char buf[64];
    size_t align, pos, failures = 0;
    char how[40];
    for (align = 0; align < 8; align++) {
        unsigned char *s = buf + align;
        size_t n = 48;
        for (pos = 0; pos < n; pos++) {
            memset(s, 'x', n);
            s[pos] = 0xFF;
            failures += !agrees(s, n, (verdict){pos, 0}, how, sizeof how);
            s[pos] = 0x80;
            failures += !agrees(s, n, (verdict){pos, 0}, how, sizeof how);
            s[pos] = 0xC3; /* a lead: truncated at the end, else followed by 'x' */
            failures += !agrees(s, n, (verdict){pos + 1 < n ? pos + 1 : n, 0}, how, sizeof how);
            if (pos + 1 < n) {
                s[pos + 1] = 0xA9; /* é */
                failures += !agrees(s, n, (verdict){n, 1}, how, sizeof how);
            }
        }
    }
    CHECK_EQ_INT(failures, 0);
}

/* Once invalid, a text stays so: the state refuses every byte, even ASCII. */
static void test_utf8_sticky(void)
{
    uint32_t state = UTF8_OK;
    CHECK_EQ_INT(utf8_validate(&state, (const unsigned char *)"ab\xC0" "cd", 5), 2);
    CHECK(state == UTF8_REJECT && !utf8_at_boundary(state));
    CHECK_EQ_INT(utf8_validate(&state, (const unsigned char *)"abcdefghijklmnop", 16), 0);
    CHECK(state == UTF8_REJECT);
    /* and a partial character survives an empty call */
    state = UTF8_OK;
    CHECK_EQ_INT(utf8_validate(&state, (const unsigned char *)"\xF0\x9F", 2), 2);
    CHECK_EQ_INT(utf8_validate(&state, NULL, 0), 0);
    CHECK_EQ_INT(utf8_validate(&state, (const unsigned char *)"\x98\x80", 2), 2);
    CHECK(utf8_at_boundary(state));
}

/* Reports a disagreement between the validator and the reference, the first few only. */
static void sweep_check(const unsigned char *s, size_t n, size_t *failures)
{
    verdict want;
    char how[40], bytes[200];
    want.bad = ref_validate(s, n, &want.boundary);
    if (agrees(s, n, want, how, sizeof how)) return;
    if ((*failures)++ < 10) {
        hex_bytes(s, n, bytes, sizeof bytes);
        fprintf(stderr, "utf8 (%s): differs from the reference (%zu/%d) %s\n", bytes, want.bad,
                want.boundary, how);
    }
}

/* Every string of one, two and three bytes: every lead with every second and third byte. */
static void test_utf8_every_short_string(void)
{
    unsigned char s[3];
    uint32_t v;
    size_t failures = 0;
    for (v = 0; v < 0x100; v++) {
        s[0] = (unsigned char)v;
        sweep_check(s, 1, &failures);
    }
    for (v = 0; v < 0x10000; v++) {
        s[0] = (unsigned char)(v >> 8);
        s[1] = (unsigned char)v;
        sweep_check(s, 2, &failures);
    }
    /* every three-byte string that starts with a lead byte, and with one of each other kind
     * of first byte (an ASCII or continuation byte's verdict does not depend on what follows:
     * the two-byte sweep has them); a sixth of the 2^24, so that valgrind's run stays short */
    for (v = 0; v < 0x1000000; v++) {
        unsigned first = (unsigned)(v >> 16);
        if (first < 0xC0 && first != 0x00 && first != 0x41 && first != 0x7F && first != 0x80 &&
            first != 0xBF)
            continue;
        s[0] = (unsigned char)first;
        s[1] = (unsigned char)(v >> 8);
        s[2] = (unsigned char)v;
        sweep_check(s, 3, &failures);
    }
    CHECK_EQ_INT(failures, 0);
}

/* Four-byte strings of the bytes at the edges of the ranges. */
static void test_utf8_four_byte_edges(void)
{
    static const unsigned char edges[] = {0x00, 0x2F, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xAF,
                                          0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
                                          0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8,
                                          0xFF};
    const size_t e = sizeof edges;
    unsigned char s[4];
    size_t v, failures = 0;
    for (v = 0; v < e * e * e * e; v++) {
        s[0] = edges[v % e];
        s[1] = edges[v / e % e];
        s[2] = edges[v / (e * e) % e];
        s[3] = edges[v / (e * e * e)];
        sweep_check(s, 4, &failures);
    }
    CHECK_EQ_INT(failures, 0);
}

/* A small generator, so that the random cases are the same on every run. */
static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Appends one piece of text to s: ASCII, a valid character of any length, or a random byte. */
static size_t random_piece(uint32_t *rng, unsigned char *s)
{
    static const uint32_t firsts[] = {0, 0x80, 0x800, 0xE000, 0x10000};
    static const uint32_t spans[] = {0x80, 0x780, 0xD000, 0x2000, 0x100000};
    uint32_t r = xorshift(rng), kind = r % 8, cp;
    if (kind < 3 || kind == 7) {
        s[0] = (unsigned char)(kind == 7 ? r >> 8 : r >> 8 & 0x7F);
        return 1;
    }
    kind -= 2; /* 1..4: two-, three-byte (either side of the surrogates) and four-byte */
    cp = firsts[kind] + xorshift(rng) % spans[kind];
    if (cp < 0x800) {
        s[0] = (unsigned char)(0xC0 | cp >> 6);
        s[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (unsigned char)(0xE0 | cp >> 12);
        s[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        s[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    s[0] = (unsigned char)(0xF0 | cp >> 18);
    s[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    s[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    s[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Random texts of up to 60 bytes: mostly valid, with a stray byte now and then. */
static void test_utf8_random(void)
{
    unsigned char s[64];
    uint32_t rng = 0x9E3779B9u;
    size_t round, failures = 0;
    for (round = 0; round < 100000; round++) {
        size_t n = 0, want = xorshift(&rng) % 60;
        while (n < want) n += random_piece(&rng, s + n);
        sweep_check(s, n, &failures);
    }
    CHECK_EQ_INT(failures, 0);
}

int main(void)
{
    test_sha1_fips();
    test_sha1_padding();
    test_sha1_million();
    test_websocket_accept();
    test_base64_vectors();
    test_base64_round_trip();
    test_base64_malformed();
    test_utf8_cases();
    test_utf8_words();
    test_utf8_sticky();
    test_utf8_every_short_string();
    test_utf8_four_byte_edges();
    test_utf8_random();
    return check_report("test_wscodec");
}
