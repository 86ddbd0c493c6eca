/* test_uri.c - request-target paths and query strings: uri_normalize_path() (percent-decoding,
 * then RFC 3986 §5.2.4 dot-segment removal, refusing a path that climbs above the root), and
 * the query helpers mote_query_next() and mote_query_get(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mote.h"
#include "core/uri.h"

/* ---- uri_normalize_path ------------------------------------------------------------------ */

typedef struct path_case {
    const char *in;
    const char *out;   /* NULL: refused (-1) */
} path_case;

static void check_path(const char *in, size_t len, const char *out)
{
    char *dst = malloc(len + 1);
    long n;
    if (!dst) abort();
    memset(dst, 0x5a, len + 1);
    n = uri_normalize_path(in, len, dst);
    if (out == NULL) {
        CHECK_MSG(n == -1, "\"%s\": %ld (\"%.*s\"), want -1", in, n, n > 0 ? (int)n : 0, dst);
    } else {
        CHECK_MSG(n == (long)strlen(out) && memcmp(dst, out, strlen(out)) == 0 && dst[n] == '\0',
                  "\"%s\": %ld \"%.*s\", want \"%s\"", in, n, n > 0 ? (int)n : 0, dst, out);
    }
    free(dst);
}

static void test_normalize(void)
{
    static const path_case cases[] = {
        /* plain paths */
        {"/", "/"},
        {"/a", "/a"},
        {"/a/b/c", "/a/b/c"},
        {"/a/", "/a/"},
        {"//a", "//a"},
        {"/a//b", "/a//b"},
        {"*", "*"},
        /* RFC 3986 §5.2.4's own example, and the merged paths of §5.4.1 / §5.4.2 */
        {"/a/b/c/./../../g", "/a/g"},
        {"/b/c/./g", "/b/c/g"},
        {"/b/c/g/", "/b/c/g/"},
        {"/b/c/.", "/b/c/"},
        {"/b/c/./", "/b/c/"},
        {"/b/c/..", "/b/"},
        {"/b/c/../", "/b/"},
        {"/b/c/../g", "/b/g"},
        {"/b/c/../..", "/"},
        {"/b/c/../../", "/"},
        {"/b/c/../../g", "/g"},
        {"/b/c/g.", "/b/c/g."},
        {"/b/c/.g", "/b/c/.g"},
        {"/b/c/g..", "/b/c/g.."},
        {"/b/c/..g", "/b/c/..g"},
        {"/b/c/./../g", "/b/g"},
        {"/b/c/./g/.", "/b/c/g/"},
        {"/b/c/g/./h", "/b/c/g/h"},
        {"/b/c/g/../h", "/b/c/h"},
        {"/b/c/g;x=1/./y", "/b/c/g;x=1/y"},
        {"/b/c/g;x=1/../y", "/b/c/y"},
        /* RFC 3986 §5.4.2 lets "/b/c/../../../g" stop at the root ("/g"); a request path that
         * climbs above it is refused here instead */
        {"/b/c/../../../g", NULL},
        {"/./g", "/g"},
        {"/../g", NULL},
        /* edge cases */
        {"/a/..", "/"},
        {"/a/../", "/"},
        {"/a/../..", NULL},
        {"/..", NULL},
        {"/../", NULL},
        {"/.", "/"},
        {"/./", "/"},
        {"/./.", "/"},
        {"/a/.", "/a/"},
        {"/a/./", "/a/"},
        {"/a/b/..", "/a/"},
        {"/a/b/.", "/a/b/"},
        {"/a/b/./.", "/a/b/"},
        {"/a/b/../.", "/a/"},
        {"/a/b/./..", "/a/"},
        {"/a/b/../..", "/"},
        {"/a/./b/../c", "/a/c"},
        {"/a/b//../c", "/a/b/c"},
        {"//..", "/"},
        {"/...", "/..."},
        {"/.../..", "/"},
        {"/.hidden/x", "/.hidden/x"},
        /* decoding comes first: escaped dots are dot-segments, %2F a separator */
        {"/%2e", "/"},
        {"/a/%2E%2E", "/"},
        {"/a/.%2e/b", "/b"},
        {"/%2e%2e/x", NULL},
        {"/%2E%2e", NULL},
        {"/a%2Fb", "/a/b"},
        {"/a%2fb", "/a/b"},
        {"%2F", "/"},
        {"%2Fa%2F..", "/"},
        {"/a%2F..%2F..", NULL},
        {"/a%2F..%2Fb", "/b"},
        {"/%41%42%63", "/ABc"},
        {"/a%20b", "/a b"},
        {"/%C3%A9t%C3%A9", "/\xc3\xa9t\xc3\xa9"},
        {"/%25", "/%"},
        {"/%2541", "/%41"}, /* decoded once only */
        {"/a+b", "/a+b"},   /* '+' is a space only in a query */
        /* bad escapes and encoded NUL */
        {"/a%00b", NULL},
        {"/%00", NULL},
        {"/a%zz", NULL},
        {"/a%4", NULL},
        {"/a%", NULL},
        {"/a%2", NULL},
        {"/a%g1", NULL},
        {"/a%1g", NULL},
        {"/a%%41", NULL},
        {"/a% 1", NULL},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_path(cases[i].in, strlen(cases[i].in), cases[i].out);

    /* only `len` bytes are read: what follows is not part of the path */
    check_path("/a/..XYZ", 5, "/");
    check_path("/a%41", 4, NULL); /* "/a%4" */
    check_path("", 0, "");

    /* a long path of many segments, climbing back to the root exactly */
    {
        char in[4096];
        size_t n = 0, k;
        for (k = 0; k < 300; k++) n += (size_t)sprintf(in + n, "/s%zu", k);
        for (k = 0; k < 300; k++) n += (size_t)sprintf(in + n, "/..");
        check_path(in, n, "/");
        n += (size_t)sprintf(in + n, "/..");
        check_path(in, n, NULL);
    }
}

/* ---- mote_query_next ------------------------------------------------------------------------ */

static mote_str qs(const char *s)
{
    mote_str q;
    q.ptr = s;
    q.len = strlen(s);
    return q;
}

static void test_query_next(void)
{
    static const char *const pairs[][2] = {
        {"a", "1"}, {"b", "x y"}, {"c", " plus "}, {"d", ""}, {"", "e"},
        {"f", ""},  {"g h", "+"}, {"k", "b=c"},    {"\xc3\xa9", "\xff"},
    };
    const char *query = "a=1&b=x%20y&c=+plus+&&d&=e&f=&g+h=%2B&k=b=c&%C3%A9=%ff&";
    mote_str q = qs(query);
    size_t pos = 0, i, last = 0;
    char key[32], value[32];
    int rc;

    for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rc = mote_query_next(q, &pos, key, sizeof key, value, sizeof value);
        CHECK_MSG(rc == 1, "pair %zu: %d", i, rc);
        CHECK_MSG(strcmp(key, pairs[i][0]) == 0 && strcmp(value, pairs[i][1]) == 0,
                  "pair %zu: \"%s\"=\"%s\", want \"%s\"=\"%s\"", i, key, value, pairs[i][0],
                  pairs[i][1]);
        CHECK(pos > last && pos <= q.len);
        last = pos;
    }
    CHECK_EQ_INT(mote_query_next(q, &pos, key, sizeof key, value, sizeof value), 0);
    CHECK_EQ_INT(mote_query_next(q, &pos, key, sizeof key, value, sizeof value), 0);

    /* nothing at all, or only separators */
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs(""), &pos, key, sizeof key, value, sizeof value), 0);
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("&&&"), &pos, key, sizeof key, value, sizeof value), 0);
    {
        mote_str none = {NULL, 0};
        pos = 0;
        CHECK_EQ_INT(mote_query_next(none, &pos, key, sizeof key, value, sizeof value), 0);
    }

    /* only `len` bytes are read */
    {
        mote_str part = {"a=12&b=3", 3};
        pos = 0;
        CHECK_EQ_INT(mote_query_next(part, &pos, key, sizeof key, value, sizeof value), 1);
        CHECK_EQ_STR(value, "1");
        CHECK_EQ_INT(mote_query_next(part, &pos, key, sizeof key, value, sizeof value), 0);
    }

    /* buffers: the decoded text and its NUL must fit */
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("abc=12"), &pos, key, 4, value, 3), 1);
    CHECK_EQ_STR(key, "abc");
    CHECK_EQ_STR(value, "12");
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("abc=12"), &pos, key, 3, value, sizeof value), MOTE_ETOOBIG);
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("abc=12"), &pos, key, sizeof key, value, 2), MOTE_ETOOBIG);
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("%41%42=1"), &pos, key, 3, value, sizeof value), 1); /* "AB" */
    CHECK_EQ_STR(key, "AB");
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("a=1"), &pos, key, 0, value, sizeof value), MOTE_ETOOBIG);
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("a=1"), &pos, NULL, 8, value, sizeof value), MOTE_ETOOBIG);
    pos = 0;
    CHECK_EQ_INT(mote_query_next(qs("a="), &pos, key, sizeof key, value, 1), 1); /* "" fits */
    CHECK_EQ_STR(value, "");

    /* bad escapes and encoded NUL */
    {
        static const char *const bad[] = {"a=%zz", "a=%4", "a=%", "%g1=1", "a=%00", "%00=1",
                                          "a=x%0", "a%=1", "a=%%41"};
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            pos = 0;
            rc = mote_query_next(qs(bad[i]), &pos, key, sizeof key, value, sizeof value);
            CHECK_MSG(rc == MOTE_EINVAL, "\"%s\": %d", bad[i], rc);
        }
        /* a good pair before a bad one is still had */
        pos = 0;
        CHECK_EQ_INT(mote_query_next(qs("a=1&b=%zz"), &pos, key, sizeof key, value, sizeof value), 1);
        CHECK_EQ_STR(value, "1");
        CHECK_EQ_INT(mote_query_next(qs("a=1&b=%zz"), &pos, key, sizeof key, value, sizeof value),
                     MOTE_EINVAL);
    }

    /* arguments */
    CHECK_EQ_INT(mote_query_next(qs("a=1"), NULL, key, sizeof key, value, sizeof value), MOTE_EINVAL);
    {
        mote_str broken = {NULL, 3};
        pos = 0;
        CHECK_EQ_INT(mote_query_next(broken, &pos, key, sizeof key, value, sizeof value), MOTE_EINVAL);
    }
}

/* ---- mote_query_get ------------------------------------------------------------------------- */

static void test_query_get(void)
{
    char value[32];
    int rc;
    mote_str q = qs("a=1&b=x%20y&a=3&flag&c=+&x+y=sp&%6B=enc&e=&long=0123456789");

    CHECK_EQ_INT(mote_query_get(q, "a", value, sizeof value), 1);
    CHECK_EQ_STR(value, "1"); /* the first of repeated keys */
    CHECK_EQ_INT(mote_query_get(q, "b", value, sizeof value), 3);
    CHECK_EQ_STR(value, "x y");
    CHECK_EQ_INT(mote_query_get(q, "flag", value, sizeof value), 0); /* no '=' */
    CHECK_EQ_STR(value, "");
    CHECK_EQ_INT(mote_query_get(q, "c", value, sizeof value), 1);
    CHECK_EQ_STR(value, " ");
    CHECK_EQ_INT(mote_query_get(q, "x y", value, sizeof value), 2); /* keys are decoded */
    CHECK_EQ_STR(value, "sp");
    CHECK_EQ_INT(mote_query_get(q, "k", value, sizeof value), 3);
    CHECK_EQ_STR(value, "enc");
    CHECK_EQ_INT(mote_query_get(q, "e", value, sizeof value), 0);
    CHECK_EQ_INT(mote_query_get(q, "long", value, sizeof value), 10);
    CHECK_EQ_STR(value, "0123456789");

    /* not there: keys match whole and exactly */
    CHECK_EQ_INT(mote_query_get(q, "missing", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(q, "A", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(q, "fla", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(q, "flags", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(q, "x+y", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(qs(""), "a", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(qs("&&"), "", value, sizeof value), MOTE_ENOTFOUND);
    CHECK_EQ_INT(mote_query_get(qs("=v"), "", value, sizeof value), 1);
    CHECK_EQ_STR(value, "v");

    /* short buffers */
    CHECK_EQ_INT(mote_query_get(q, "long", value, 10), MOTE_ETOOBIG);
    CHECK_EQ_INT(mote_query_get(q, "long", value, 11), 10);
    CHECK_EQ_INT(mote_query_get(q, "a", value, 0), MOTE_ETOOBIG);
    CHECK_EQ_INT(mote_query_get(q, "a", NULL, 8), MOTE_ETOOBIG);

    /* bad escapes in the value looked up */
    CHECK_EQ_INT(mote_query_get(qs("a=%zz"), "a", value, sizeof value), MOTE_EINVAL);
    CHECK_EQ_INT(mote_query_get(qs("a=%4"), "a", value, sizeof value), MOTE_EINVAL);
    CHECK_EQ_INT(mote_query_get(qs("a=%00"), "a", value, sizeof value), MOTE_EINVAL);
    CHECK_EQ_INT(mote_query_get(qs("a=x%00y&a=2"), "a", value, sizeof value), MOTE_EINVAL);

    /* a key longer than any fixed buffer is still found */
    {
        char query[700], key[320];
        memset(key, 'k', 300);
        key[300] = '\0';
        snprintf(query, sizeof query, "x=1&%s=found", key);
        rc = mote_query_get(qs(query), key, value, sizeof value);
        CHECK_MSG(rc == 5, "a 300-byte key: %d", rc);
        if (rc == 5) CHECK_EQ_STR(value, "found");
    }

    /* a raw NUL in a form body is a byte like another: it never matches a key's end, and the
     * key is not read past its terminator (found by fuzz_uri; ASan checks the read) */
    {
        char *empty = malloc(1), *ab = malloc(3);
        mote_str nul = {"\0", 1}, a_nul = {"a\0=1&a=2", 8};
        CHECK(empty && ab);
        if (empty && ab) {
            empty[0] = '\0';
            memcpy(ab, "a", 2);
            CHECK_EQ_INT(mote_query_get(nul, empty, value, sizeof value), MOTE_ENOTFOUND);
            CHECK_EQ_INT(mote_query_get(a_nul, ab, value, sizeof value), 1);
            CHECK_EQ_STR(value, "2");
        }
        free(empty);
        free(ab);
    }

    /* arguments */
    CHECK_EQ_INT(mote_query_get(q, NULL, value, sizeof value), MOTE_EINVAL);
    {
        mote_str broken = {NULL, 3};
        CHECK_EQ_INT(mote_query_get(broken, "a", value, sizeof value), MOTE_EINVAL);
    }
}

int main(void)
{
    test_normalize();
    test_query_next();
    test_query_get();
    return check_report("test_uri");
}
