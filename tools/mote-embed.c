/* mote-embed - turns a folder into one C source file: a mote_embedded_table (mote_static.h) for
 * mote_static_embedded(), so that the files are compiled into the program (firmware without a
 * file system). For each regular file: its path below the folder, its Content-Type, a strong
 * ETag (SHA-1 of the content), the plain bytes and, where zlib is built in and it is smaller,
 * a gzip copy. The output depends only on the files (and their mtimes unless --no-mtime): two
 * runs give the same bytes. Run `mote-embed --help` for the options. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if MOTE_EMBED_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/sha1.h"
#include "mote_static.h"

#define ETAG_BYTES 16     /* of the SHA-1: 32 hex digits */
#define BYTES_PER_LINE 20 /* "0x1f," each: 4 + 100 characters a line */

static const char *usage_text =
    "usage: mote-embed [options] -o OUT.c DIR\n"
    "Writes the regular files below DIR as one C source file: a mote_embedded_table for\n"
    "mote_static_embedded() (mote_static.h), sorted by path.\n"
    "\n"
    "  -o, --output OUT.c  the C file to write (atomically: a temporary file, then renamed)\n"
    "  -H, --header OUT.h  also write a header declaring the table\n"
    "  -n, --name SYMBOL   the table's name, OUT.c's one external symbol (a C identifier);\n"
    "                      default: DIR's last name made one (\"web-root\" gives web_root).\n"
    "                      A program declares `extern const mote_embedded_table SYMBOL;`\n"
    "      --gzip-only     keep only the gzip bytes of a file whose gzip copy is kept (data is\n"
    "                      NULL; mote decompresses it for a client that does not accept gzip)\n"
    "      --no-gzip       no gzip copies\n"
    "      --no-mtime      mtime 0 for every file (no Last-Modified), for reproducible builds\n"
    "      --hidden        include names starting with '.' (skipped by default, folders too)\n"
    "      --exclude GLOB  leave out files and folders whose name, or whose path below DIR\n"
    "                      (\"img/a.png\"), matches GLOB (fnmatch(3)); may be repeated\n"
    "      --type EXT=TYPE Content-Type for the extension EXT, before the built-in table\n"
    "                      (--type md=\"text/markdown; charset=utf-8\"); may be repeated\n"
    "  -h, --help          this text\n"
    "      --version       the version, and whether gzip (zlib) is built in\n"
    "\n"
    "Paths are relative to DIR with a leading '/' (\"/img/logo.png\"). Symbolic links, and\n"
    "anything else that is not a regular file or a folder, are skipped with a warning: nothing\n"
    "outside DIR is read. A gzip copy (level 9, mtime 0: reproducible) is kept only when it is\n"
    "smaller than the file. The ETag is the first 16 bytes of the content's SHA-1 in hex.\n"
    "Exit status: 0, or 1 with a message on stderr (then OUT.c is left as it was).\n";

static const char *prog = "mote-embed";

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE __attribute__((format(printf, 1, 2)))
#else
#define PRINTF_LIKE
#endif

static _Noreturn void die(const char *fmt, ...) PRINTF_LIKE;
static void warn(const char *fmt, ...) PRINTF_LIKE;

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: warning: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static char *join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *r = xmalloc(la + ls + lb + 1);
    memcpy(r, a, la);
    memcpy(r + la, sep, ls);
    memcpy(r + la + ls, b, lb + 1);
    return r;
}

/* ---- options ---- */

typedef struct options {
    const char *out, *header, *name, *dir;
    int gzip_only, no_gzip, no_mtime, hidden;
    const char **excludes;
    size_t exclude_count;
    mote_mime_type *types;
    size_t type_count;
} options;

static int is_identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* As CMake's string(MAKE_C_IDENTIFIER): every other character '_', a '_' before a digit. */
static char *make_identifier(const char *s)
{
    size_t n = strlen(s), i, o = 0;
    char *r = xmalloc(n + 2);
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) r[o++] = '_';
    for (i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        r[o++] = ok ? c : '_';
    }
    r[o] = '\0';
    return r;
}

/* DIR's last name: "web/" and "./web" give "web"; "/" or "." give "embedded". */
static char *default_name(const char *dir)
{
    char *d = xstrdup(dir), *base, *r;
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    base = strrchr(d, '/');
    base = base ? base + 1 : d;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        r = xstrdup("embedded");
    else
        r = make_identifier(base);
    free(d);
    return r;
}

static const char *need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) die("%s needs an argument (--help for the usage)", argv[*i]);
    return argv[++*i];
}

static void parse_args(int argc, char **argv, options *o)
{
    int i, only_operands = 0;
    memset(o, 0, sizeof *o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || a[1] == '\0') {
            if (o->dir) die("one DIR only: '%s' and '%s' (--help for the usage)", o->dir, a);
            o->dir = a;
        } else if (strcmp(a, "--") == 0) {
            only_operands = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
#if MOTE_EMBED_HAVE_ZLIB
            printf("mote-embed %s, gzip: zlib %s\n", MOTE_VERSION, zlibVersion());
#else
            printf("mote-embed %s, gzip: no (built without zlib)\n", MOTE_VERSION);
#endif
            exit(0);
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            o->out = need_arg(argc, argv, &i);
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) {
            o->header = need_arg(argc, argv, &i);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--name") == 0) {
            o->name = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--gzip-only") == 0) {
            o->gzip_only = 1;
        } else if (strcmp(a, "--no-gzip") == 0) {
            o->no_gzip = 1;
        } else if (strcmp(a, "--no-mtime") == 0) {
            o->no_mtime = 1;
        } else if (strcmp(a, "--hidden") == 0) {
            o->hidden = 1;
        } else if (strcmp(a, "--exclude") == 0) {
            o->excludes = xrealloc(o->excludes, (o->exclude_count + 1) * sizeof *o->excludes);
            o->excludes[o->exclude_count++] = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--type") == 0) {
            const char *spec = need_arg(argc, argv, &i);
            const char *eq = strchr(spec, '=');
            char *ext;
            if (!eq || eq == spec || !eq[1]) die("--type wants EXT=TYPE, not '%s'", spec);
            if (*spec == '.') spec++;
            ext = xmalloc((size_t)(eq - spec) + 1);
            memcpy(ext, spec, (size_t)(eq - spec));
            ext[eq - spec] = '\0';
            o->types = xrealloc(o->types, (o->type_count + 1) * sizeof *o->types);
            o->types[o->type_count].ext = ext;
            o->types[o->type_count++].type = eq + 1;
        } else {
            die("unknown option '%s' (--help for the usage)", a);
        }
    }
    if (!o->dir) die("no DIR given (--help for the usage)");
    if (!o->out) die("no output file: -o OUT.c (--help for the usage)");
    if (o->gzip_only && o->no_gzip) die("--gzip-only and --no-gzip exclude each other");
    if (o->name && !is_identifier(o->name))
        die("--name '%s' is not a C identifier (letters, digits, '_'; not a digit first)", o->name);
#if !MOTE_EMBED_HAVE_ZLIB
    if (o->gzip_only) warn("built without zlib: no gzip copies, --gzip-only keeps every file");
    o->no_gzip = 1;
#endif
}

/* ---- the walk ---- */

typedef struct entry {
    char *rel;     /* below DIR, without the leading '/': "img/logo.png" */
    char *full;    /* DIR "/" rel, to open */
    int64_t mtime;
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
} entries;

static int excluded(const options *o, const char *name, const char *rel)
{
    size_t i;
    for (i = 0; i < o->exclude_count; i++)
        if (fnmatch(o->excludes[i], name, 0) == 0 || fnmatch(o->excludes[i], rel, 0) == 0)
            return 1;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const options *o, const char *full, const char *rel, entries *out)
{
    DIR *d = opendir(full);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    if (!d) die("cannot open the folder '%s': %s", full, strerror(errno));
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 32) * sizeof *names);
        names[n++] = xstrdup(de->d_name);
    }
    if (errno) die("cannot read the folder '%s': %s", full, strerror(errno));
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, cmp_names); /* the order of the warnings */
    for (i = 0; i < n; i++) {
        char *cfull = join(full, "/", names[i]);
        char *crel = *rel ? join(rel, "/", names[i]) : xstrdup(names[i]);
        struct stat st;
        int keep = 0;
        if ((names[i][0] == '.' && !o->hidden) || excluded(o, names[i], crel)) {
            /* left out */
        } else if (lstat(cfull, &st) < 0) {
            die("cannot stat '%s': %s", cfull, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            walk(o, cfull, crel, out);
        } else if (S_ISREG(st.st_mode)) {
            if (out->n == out->cap)
                out->v = xrealloc(out->v, (out->cap = out->cap ? 2 * out->cap : 64) *
                                              sizeof *out->v);
            out->v[out->n].rel = crel;
            out->v[out->n].full = cfull;
            out->v[out->n].mtime = o->no_mtime ? 0 : (int64_t)st.st_mtime;
            out->n++;
            keep = 1;
        } else if (S_ISLNK(st.st_mode)) {
            warn("skipping the symbolic link '%s'", cfull);
        } else {
            warn("skipping '%s': not a regular file", cfull);
        }
        if (!keep) {
            free(cfull);
            free(crel);
        }
        free(names[i]);
    }
    free(names);
}

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->rel, ((const entry *)b)->rel);
}

/* ---- reading, hashing, compressing ---- */

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    size_t cap = 65536, n = 0, got;
    struct stat st;
    if (!f) die("cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX)
        cap = (size_t)st.st_size + 1; /* +1: EOF seen without growing */
    buf = xmalloc(cap);
    for (;;) {
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap > SIZE_MAX / 2) die("'%s' is too large", path);
        buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(f)) die("cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    *len = n;
    return buf;
}

#if MOTE_EMBED_HAVE_ZLIB
/* gzip (RFC 1952) of data at level 9, with a fixed header: mtime 0, no name, OS 255
 * (unknown), so that the bytes depend on the content and zlib alone. NULL when zlib fails. */
static unsigned char *gzip_bytes(const unsigned char *data, size_t len, size_t *gz_len,
                                 const char *path)
{
    z_stream zs;
    gz_header h;
    unsigned char *out;
    size_t cap, left_in = len;
    int rc;
    memset(&zs, 0, sizeof zs);
    memset(&h, 0, sizeof h);
    h.os = 255;
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK ||
        deflateSetHeader(&zs, &h) != Z_OK) {
        warn("zlib failed on '%s': no gzip copy", path);
        return NULL;
    }
    cap = len + len / 1000 + 64; /* deflateBound's order; grown below if ever short */
    out = xmalloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data; /* zlib's next_in is not const before 1.2.11 */
    do {
        uInt in_chunk = left_in > (size_t)UINT_MAX ? UINT_MAX : (uInt)left_in;
        zs.avail_in = in_chunk;
        if (zs.total_out >= cap) out = xrealloc(out, cap *= 2);
        zs.next_out = out + zs.total_out;
        zs.avail_out = (cap - zs.total_out) > (size_t)UINT_MAX ? UINT_MAX
                                                               : (uInt)(cap - zs.total_out);
        rc = deflate(&zs, left_in == in_chunk ? Z_FINISH : Z_NO_FLUSH);
        left_in -= in_chunk - zs.avail_in;
        if (rc == Z_STREAM_ERROR) {
            deflateEnd(&zs);
            free(out);
            warn("zlib failed on '%s': no gzip copy", path);
            return NULL;
        }
    } while (rc != Z_STREAM_END);
    *gz_len = (size_t)zs.total_out;
    deflateEnd(&zs);
    return out;
}
#endif

/* ---- writing ---- */

typedef struct writer {
    FILE *f;
    char *tmp;
    const char *path;
} writer;

/* A temporary file beside `path`, renamed over it by writer_commit(). */
static void writer_open(writer *w, const char *path)
{
    mode_t mask;
    int fd;
    w->path = path;
    w->tmp = join(path, "", ".tmpXXXXXX");
    fd = mkstemp(w->tmp);
    if (fd < 0) die("cannot create '%s': %s", w->tmp, strerror(errno));
    mask = umask(0);
    umask(mask);
    if (fchmod(fd, (mode_t)(0666 & ~mask)) < 0) warn("chmod '%s': %s", w->tmp, strerror(errno));
    w->f = fdopen(fd, "w");
    if (!w->f) {
        unlink(w->tmp);
        die("cannot write '%s': %s", w->tmp, strerror(errno));
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 16);
}

static writer *open_writers[2];
static size_t open_writer_count;

static void remove_temporaries(void)
{
    size_t i;
    for (i = 0; i < open_writer_count; i++)
        if (open_writers[i]->tmp) unlink(open_writers[i]->tmp);
}

static void writer_commit(writer *w)
{
    int bad = ferror(w->f);
    if (fclose(w->f) != 0 || bad) die("cannot write '%s': %s", w->tmp, strerror(errno));
    if (rename(w->tmp, w->path) < 0)
        die("cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
    free(w->tmp);
    w->tmp = NULL;
}

/* s as the inside of a C string literal: printable ASCII as is, but for '"', '\\' and '?'
 * (trigraphs); every other byte as a three-digit octal escape (so no digit after it joins). */
static void put_c_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p >= 0x20 && *p < 0x7f) {
            fputc(*p, f);
        } else {
            fprintf(f, "\\%03o", (unsigned)*p);
        }
    }
    fputc('"', f);
}

/* "static const unsigned char NAME[LEN] = {...};" at about 2 MB/ms: the lines are built in a
 * buffer from a table of the 256 "0xNN," rather than printf'd a byte at a time. */
static void put_array(FILE *f, const char *name, size_t index, const char *kind,
                      const unsigned char *data, size_t len)
{
    static char hex[256][5];
    static int ready;
    char line[4 + 5 * BYTES_PER_LINE + 1];
    size_t i = 0;
    if (!ready) {
        static const char digits[] = "0123456789abcdef";
        int b;
        for (b = 0; b < 256; b++) {
            hex[b][0] = '0';
            hex[b][1] = 'x';
            hex[b][2] = digits[b >> 4];
            hex[b][3] = digits[b & 15];
            hex[b][4] = ',';
        }
        ready = 1;
    }
    if (len == 0) { /* C has no array of no elements: one unused byte, len says 0 */
        fprintf(f, "static const unsigned char %s_%zu_%s[1] = {0};\n", name, index, kind);
        return;
    }
    fprintf(f, "static const unsigned char %s_%zu_%s[%zu] = {\n", name, index, kind, len);
    memset(line, ' ', 4);
    while (i < len) {
        size_t k, n = len - i < BYTES_PER_LINE ? len - i : BYTES_PER_LINE, pos = 4;
        for (k = 0; k < n; k++, pos += 5) memcpy(line + pos, hex[data[i + k]], 5);
        line[pos] = '\n'; /* after a ',' even on the last line: C allows a trailing one */
        fwrite(line, 1, pos + 1, f);
        i += n;
    }
    fputs("};\n", f);
}

typedef struct emitted {
    char etag[2 * ETAG_BYTES + 1];
    size_t len, gz_len;
    int has_data, has_gz;
} emitted;

int main(int argc, char **argv)
{
    options o;
    entries list = {NULL, 0, 0};
    emitted *em;
    struct stat st;
    char *name;
    writer w;
    size_t i;

    parse_args(argc, argv, &o);
    name = o.name ? xstrdup(o.name) : default_name(o.dir);
    if (stat(o.dir, &st) < 0) die("cannot stat the folder '%s': %s", o.dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) die("'%s' is not a folder", o.dir);
    walk(&o, o.dir, "", &list);
    if (list.n > 1) qsort(list.v, list.n, sizeof *list.v, cmp_entries);
    em = xmalloc(list.n * sizeof *em);

    atexit(remove_temporaries);
    writer_open(&w, o.out);
    open_writers[open_writer_count++] = &w;
    fprintf(w.f,
            "/* Written by mote-embed: %zu file%s as the mote_embedded_table %s. Do not edit. */\n"
            "#include \"mote_static.h\"\n\n",
            list.n, list.n == 1 ? "" : "s", name);

    for (i = 0; i < list.n; i++) {
        size_t len, gz_len = 0, k;
        unsigned char *data = read_file(list.v[i].full, &len), *gz = NULL;
        unsigned char digest[SHA1_DIGEST_LEN];
        sha1_ctx c;
        sha1_init(&c);
        sha1_update(&c, data, len);
        sha1_final(&c, digest);
        for (k = 0; k < ETAG_BYTES; k++) sprintf(em[i].etag + 2 * k, "%02x", digest[k]);
#if MOTE_EMBED_HAVE_ZLIB
        if (!o.no_gzip && len > 0) {
            gz = gzip_bytes(data, len, &gz_len, list.v[i].full);
            if (gz && gz_len >= len) {
                free(gz);
                gz = NULL;
            }
        }
#endif
        em[i].len = len;
        em[i].has_gz = gz != NULL;
        em[i].gz_len = gz ? gz_len : 0;
        em[i].has_data = !(gz && o.gzip_only);
        if (em[i].has_data) put_array(w.f, name, i, "data", data, len);
        if (gz) put_array(w.f, name, i, "gzip", gz, gz_len);
        free(gz);
        free(data);
        if (ferror(w.f)) die("cannot write '%s': %s", w.tmp, strerror(errno));
    }

    if (list.n > 0) {
        fprintf(w.f, "\nstatic const mote_embedded_file %s_files[%zu] = {\n", name, list.n);
        for (i = 0; i < list.n; i++) {
            const char *base = strrchr(list.v[i].rel, '/');
            char *path = join("/", "", list.v[i].rel);
            base = base ? base + 1 : list.v[i].rel;
            fputs("    {", w.f);
            put_c_string(w.f, path);
            fputs(", ", w.f);
            put_c_string(w.f, mote_mime_type_of(base, o.types, o.type_count));
            fprintf(w.f, ", \"\\\"%s\\\"\",\n     ", em[i].etag);
            if (em[i].has_data)
                fprintf(w.f, "%s_%zu_data, ", name, i);
            else
                fputs("NULL, ", w.f);
            fprintf(w.f, "%zu, ", em[i].len);
            if (em[i].has_gz)
                fprintf(w.f, "%s_%zu_gzip, %zu, ", name, i, em[i].gz_len);
            else
                fputs("NULL, 0, ", w.f);
            fprintf(w.f, "%lld},\n", (long long)list.v[i].mtime);
            free(path);
        }
        fputs("};\n", w.f);
    }
    fprintf(w.f, "\nextern const mote_embedded_table %s;\n", name);
    if (list.n > 0)
        fprintf(w.f, "const mote_embedded_table %s = {%s_files, %zu};\n", name, name, list.n);
    else
        fprintf(w.f, "const mote_embedded_table %s = {NULL, 0};\n", name);

    if (o.header) {
        writer h;
        writer_open(&h, o.header);
        open_writers[open_writer_count++] = &h;
        fprintf(h.f,
                "/* Written by mote-embed: the files of %s. Do not edit. */\n"
                "#ifndef MOTE_EMBED_%s_H\n#define MOTE_EMBED_%s_H\n\n"
                "#include \"mote_static.h\"\n\n"
                "extern const mote_embedded_table %s;\n\n#endif\n",
                name, name, name, name);
        writer_commit(&h);
        open_writer_count--;
    }
    writer_commit(&w);
    open_writer_count--;

    for (i = 0; i < list.n; i++) {
        free(list.v[i].rel);
        free(list.v[i].full);
    }
    free(list.v);
    free(em);
    free(name);
    free(o.excludes);
    for (i = 0; i < o.type_count; i++) free((char *)(uintptr_t)o.types[i].ext);
    free(o.types);
    return 0;
}
