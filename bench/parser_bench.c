/* parser_bench - request-head parsing speed of mote's parser, Debian's libhttp-parser (the
 * seed's parser) and picohttpparser (h2o's, exported by Debian's libh2o), on one corpus.
 *
 * usage: parser_bench CORPUS_DIR [ROUNDS [SECONDS_PER_RUN]]
 *
 * Every file in CORPUS_DIR (dot-files aside) is one complete request head. Each parser is
 * first checked to accept every head whole and to agree with the others on the method, target
 * and field count; then, ROUNDS times, each parser in turn (rotating who goes first) parses the
 * whole corpus over and over for about SECONDS_PER_RUN. Each parser does what a server needs
 * from it: the request line and every field located (spans or pointers, no copies), the head's
 * end found, and the parser made ready for the next request. Prints a table and, for scripts,
 * one "RESULT name MB/s-median MB/s-min MB/s-max ns-median ns-min ns-max" line per parser. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>

#include "core/parser.h"

/* picohttpparser's interface, as documented by it; Debian ships the code inside libh2o but
 * not the header. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

#define MAX_REQUESTS 256
#define MAX_FIELDS 64
#define MAX_ROUNDS 64

typedef struct corpus {
    char *bytes;
    size_t total;
    size_t count;
    size_t off[MAX_REQUESTS], len[MAX_REQUESTS];
    char name[MAX_REQUESTS][64];
} corpus;

/* What one parse found, to check that the parsers agree. */
typedef struct parsed {
    size_t method_len, target_len, fields;
    int ok;
} parsed;

/* ---- mote ---- */

static hdr_span mote_fields[MAX_FIELDS];
static parser mote_p;

static void mote_setup(void)
{
    parser_init(&mote_p, mote_fields, MAX_FIELDS, 8192, 8192);
}

static size_t mote_parse(const char *buf, size_t len, parsed *out)
{
    int rc;
    parser_reset(&mote_p);
    rc = parser_execute(&mote_p, buf, len);
    if (out) {
        out->ok = rc == PARSE_DONE && mote_p.head_len == len;
        out->method_len = mote_p.method_len;
        out->target_len = mote_p.target_len;
        out->fields = mote_p.header_count;
    }
    return rc == PARSE_DONE ? mote_p.header_count : 0;
}

/* ---- libhttp-parser: callbacks record spans, as a zero-copy server would ---- */

typedef struct hp_ctx {
    const char *url;
    size_t url_len;
    const char *name[MAX_FIELDS], *value[MAX_FIELDS];
    size_t name_len[MAX_FIELDS], value_len[MAX_FIELDS];
    size_t fields;
    int complete;
} hp_ctx;

static http_parser hp;
static http_parser_settings hp_settings;
static hp_ctx hp_c;

static int hp_on_url(http_parser *p, const char *at, size_t len)
{
    hp_ctx *c = p->data;
    c->url = at;
    c->url_len = len;
    return 0;
}

static int hp_on_field(http_parser *p, const char *at, size_t len)
{
    hp_ctx *c = p->data;
    if (c->fields == MAX_FIELDS) return 1;
    c->name[c->fields] = at;
    c->name_len[c->fields] = len;
    c->value_len[c->fields] = 0;
    c->fields++;
    return 0;
}

static int hp_on_value(http_parser *p, const char *at, size_t len)
{
    hp_ctx *c = p->data;
    c->value[c->fields - 1] = at;
    c->value_len[c->fields - 1] = len;
    return 0;
}

static int hp_on_headers_complete(http_parser *p)
{
    ((hp_ctx *)p->data)->complete = 1;
    return 0;
}

static void hp_setup(void)
{
    http_parser_settings_init(&hp_settings);
    hp_settings.on_url = hp_on_url;
    hp_settings.on_header_field = hp_on_field;
    hp_settings.on_header_value = hp_on_value;
    hp_settings.on_headers_complete = hp_on_headers_complete;
}

static size_t hp_parse(const char *buf, size_t len, parsed *out)
{
    size_t n;
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = &hp_c;
    hp_c.fields = 0;
    hp_c.complete = 0;
    n = http_parser_execute(&hp, &hp_settings, buf, len);
    if (out) {
        out->ok = n == len && hp_c.complete && HTTP_PARSER_ERRNO(&hp) == HPE_OK;
        out->method_len = strlen(http_method_str((enum http_method)hp.method));
        out->target_len = hp_c.url_len;
        out->fields = hp_c.fields;
    }
    return hp_c.complete ? hp_c.fields : 0;
}

/* ---- picohttpparser ---- */

static struct phr_header pico_fields[MAX_FIELDS];

static size_t pico_parse(const char *buf, size_t len, parsed *out)
{
    const char *method, *path;
    size_t method_len, path_len, fields = MAX_FIELDS;
    int minor, rc;
    rc = phr_parse_request(buf, len, &method, &method_len, &path, &path_len, &minor, pico_fields,
                           &fields, 0);
    if (out) {
        out->ok = rc > 0 && (size_t)rc == len;
        out->method_len = method_len;
        out->target_len = path_len;
        out->fields = fields;
    }
    return rc > 0 ? fields : 0;
}

/* ---- harness ---- */

typedef struct contender {
    const char *name;
    size_t (*parse)(const char *buf, size_t len, parsed *out);
    double mbps[MAX_ROUNDS], ns[MAX_ROUNDS];
} contender;

static contender contenders[] = {
    {"mote", mote_parse, {0}, {0}},
    {"http-parser", hp_parse, {0}, {0}},
    {"picohttpparser", pico_parse, {0}, {0}},
};
#define NCONTENDERS (sizeof contenders / sizeof contenders[0])

static volatile size_t sink; /* keeps the parsing from being optimized away */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_corpus(const char *dir, corpus *c)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[MAX_REQUESTS], path[4096];
    size_t n = 0, i, cap = 1 << 16;

    if (!d) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) && n < MAX_REQUESTS) {
        if (e->d_name[0] == '.') continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    memset(c, 0, sizeof *c);
    c->bytes = malloc(cap);
    for (i = 0; i < n; i++) {
        FILE *f;
        size_t got;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        f = fopen(path, "rb");
        if (!f) {
            perror(path);
            return -1;
        }
        got = fread(c->bytes + c->total, 1, cap - c->total, f);
        fclose(f);
        if (got < 4 || c->total + got == cap ||
            memcmp(c->bytes + c->total + got - 4, "\r\n\r\n", 4) != 0) {
            fprintf(stderr, "%s: not one complete request head (or corpus too big)\n", path);
            return -1;
        }
        c->off[c->count] = c->total;
        c->len[c->count] = got;
        snprintf(c->name[c->count], sizeof c->name[0], "%s", names[i]);
        c->count++;
        c->total += got;
        free(names[i]);
    }
    if (c->count == 0) {
        fprintf(stderr, "%s: no requests\n", dir);
        return -1;
    }
    return 0;
}

/* Every parser accepts every head whole, and all agree on what they found. */
static int check_agreement(const corpus *c)
{
    size_t i, k;
    int bad = 0;
    for (i = 0; i < c->count; i++) {
        parsed first, p;
        for (k = 0; k < NCONTENDERS; k++) {
            memset(&p, 0, sizeof p);
            contenders[k].parse(c->bytes + c->off[i], c->len[i], &p);
            if (!p.ok) {
                fprintf(stderr, "%s: %s does not accept it whole\n", c->name[i],
                        contenders[k].name);
                bad = 1;
            }
            if (k == 0) {
                first = p;
            } else if (p.method_len != first.method_len || p.target_len != first.target_len ||
                       p.fields != first.fields) {
                fprintf(stderr, "%s: %s disagrees with %s (method %zu/%zu, target %zu/%zu, "
                        "fields %zu/%zu)\n", c->name[i], contenders[k].name, contenders[0].name,
                        p.method_len, first.method_len, p.target_len, first.target_len, p.fields,
                        first.fields);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

static double run_passes(const contender *ct, const corpus *c, long passes)
{
    double t0 = now_s();
    size_t acc = 0, i;
    long r;
    for (r = 0; r < passes; r++) {
        for (i = 0; i < c->count; i++) acc += ct->parse(c->bytes + c->off[i], c->len[i], NULL);
    }
    sink += acc;
    return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n, double *lo, double *hi)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    *lo = s[0];
    *hi = s[n - 1];
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    static corpus c;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    double seconds = argc > 3 ? atof(argv[3]) : 0.3;
    long passes[NCONTENDERS];
    size_t k;
    int r;

    if (argc < 2 || rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0) {
        fprintf(stderr, "usage: parser_bench CORPUS_DIR [ROUNDS(1-%d) [SECONDS_PER_RUN]]\n",
                MAX_ROUNDS);
        return 2;
    }
    if (load_corpus(argv[1], &c) < 0) return 2;
    mote_setup();
    hp_setup();
    if (check_agreement(&c) < 0) return 1;
    printf("corpus: %zu requests, %zu bytes (%.0f bytes/request)\n", c.count, c.total,
           (double)c.total / (double)c.count);

    /* calibrate each parser so a run takes about `seconds` (and warm its caches) */
    for (k = 0; k < NCONTENDERS; k++) {
        long n = 1;
        double t;
        while ((t = run_passes(&contenders[k], &c, n)) < 0.05) n *= 2;
        passes[k] = (long)((double)n * seconds / t) + 1;
    }
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < NCONTENDERS; k++) {
            contender *ct = &contenders[(k + (size_t)r) % NCONTENDERS];
            long n = passes[ct - contenders];
            double t = run_passes(ct, &c, n);
            ct->mbps[r] = (double)c.total * (double)n / t / 1e6;
            ct->ns[r] = t * 1e9 / ((double)n * (double)c.count);
        }
    }
    printf("%-16s %10s %22s %12s %22s\n", "parser", "MB/s", "(min-max)", "ns/request",
           "(min-max)");
    for (k = 0; k < NCONTENDERS; k++) {
        double mlo, mhi, nlo, nhi;
        double m = median(contenders[k].mbps, rounds, &mlo, &mhi);
        double ns = median(contenders[k].ns, rounds, &nlo, &nhi);
        printf("%-16s %10.1f %10.1f-%-11.1f %12.1f %10.1f-%-11.1f\n", contenders[k].name, m, mlo,
               mhi, ns, nlo, nhi);
    }
    for (k = 0; k < NCONTENDERS; k++) {
        double mlo, mhi, nlo, nhi;
        double m = median(contenders[k].mbps, rounds, &mlo, &mhi);
        double ns = median(contenders[k].ns, rounds, &nlo, &nhi);
        printf("RESULT %s %.2f %.2f %.2f %.2f %.2f %.2f\n", contenders[k].name, m, mlo, mhi, ns,
               nlo, nhi);
    }
    return 0;
}
