/* static_dir.c - files from a directory (mote_static_dir()): the POSIX half of static content.
 *
 * Confinement comes first and is the kernel's: every file is opened relative to the root's
 * descriptor with openat2(2)'s RESOLVE_BENEATH (no "..", no absolute symbolic link, no link
 * leading out, checked at each step of the lookup, so a link swapped in mid-request cannot lead
 * out either); where openat2 is missing (Linux before 5.6, other systems), each component is
 * opened with O_NOFOLLOW, so no symbolic link is followed at all. The path handed down is
 * already percent-decoded with its dot-segments removed, and the request target is refused
 * when an encoded '/', '\' or NUL would make it ambiguous.
 *
 * Files are opened O_NONBLOCK (a FIFO would block the open) and served only when regular. A
 * file of at most INLINE_MAX bytes is read at once and goes out with its head in one send; a
 * larger one is sent with sendfile(2) from the descriptor, which the response closes. */
#define _GNU_SOURCE /* O_PATH, syscall */
#include "mote_static.h"

#if MOTE_CONFIG_STATIC

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif

#include "engine/engine.h"
#include "static/encoding.h"
#include "static/static.h"

#define INLINE_MAX 4096u
#define PATH_MAX_LEN 1024u   /* a relative path's bytes, with room for ".br" */
#define ETAG_LEN 64u
#define LISTING_MAX_ENTRIES 10000u

typedef struct dir_route {
    static_route common;           /* first: the static layer's */
    int root;                      /* O_PATH descriptor of the root directory */
    int no_openat2;                /* the kernel has no openat2 (found at registration) */
    size_t prefix_len;             /* without a trailing '/' */
    int listing, hidden;
    const mote_mime_type *types;
    size_t type_count;
} dir_route;

/* ---- opening beneath the root ----------------------------------------------------------------- */

#if defined(__linux__) && defined(SYS_openat2)
static int open_beneath_kernel(int dir, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(unsigned)flags;
    how.resolve = (uint64_t)(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    return (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
}
#else
static int open_beneath_kernel(int dir, const char *path, int flags)
{
    (void)dir, (void)path, (void)flags;
    errno = ENOSYS;
    return -1;
}
#endif

/* One component after another, none of them a symbolic link: no lookup ever leaves `dir`. */
static int open_beneath_walk(int dir, const char *path, int flags)
{
    char name[256];
    int at = dir, fd = -1;
    for (;;) {
        size_t n = strcspn(path, "/");
        if (n >= sizeof name || (n == 2 && path[0] == '.' && path[1] == '.')) {
            errno = n >= sizeof name ? ENAMETOOLONG : EXDEV;
            fd = -1;
            break;
        }
        memcpy(name, path, n);
        name[n] = '\0';
        path += n;
        while (*path == '/') path++;
        if (*path == '\0') {
            fd = openat(at, n ? name : ".", flags | O_NOFOLLOW);
            break;
        }
        fd = n ? openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(at);
        if (fd < 0) break;
        if (at != dir) close(at);
        at = fd;
    }
    if (at != dir) {
        int saved = errno;
        close(at);
        errno = saved;
    }
    return fd;
}

static int open_beneath(const dir_route *dr, int dir, const char *path, int flags)
{
    if (dr->no_openat2) return open_beneath_walk(dir, path, flags);
    return open_beneath_kernel(dir, path, flags);
}

/* Whether the kernel has openat2: asked once, before the route serves (loops share it). */
static int kernel_lacks_openat2(int root)
{
    int fd = open_beneath_kernel(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return fd < 0 && errno == ENOSYS;
}

static int open_flags(void)
{
    return O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
}

/* The status for a failed open: 404 for what is not there (or not beneath the root), 403 for
 * what may not be read, 503 when descriptors ran out, 500 for the rest. */
static int open_error_status(int err)
{
    switch (err) {
    case ENOENT: case ENOTDIR: case ELOOP: case EXDEV: case ENAMETOOLONG: case EINVAL:
        return 404;
    case EACCES: case EPERM:
        return 403;
    case EMFILE: case ENFILE: case ENOMEM:
        return 503;
    default:
        return 500;
    }
}

/* ---- files as the response takes them --------------------------------------------------------- */

static void close_file(void *ctx)
{
    close((int)(intptr_t)ctx);
}

static long read_file(void *ctx, void *buf, size_t len, uint64_t offset)
{
    ssize_t n;
    do {
        n = pread((int)(intptr_t)ctx, buf, len, (off_t)offset);
    } while (n < 0 && errno == EINTR);
    return (long)n;
}

static mote_file file_of(int fd)
{
    mote_file f;
    memset(&f, 0, sizeof f);
    f.fd = fd;
    f.read = read_file;
    f.close = close_file;
    f.ctx = (void *)(intptr_t)fd;
    return f;
}

/* A multipart part's piece: read, then written in one mote_response_write(). */
static int write_file_piece(mote_response *res, const mote_file *f, uint64_t off, size_t len)
{
    char buf[1024];
    long n;
    if (len > sizeof buf) len = sizeof buf;
    n = f->read(f->ctx, buf, len, off);
    if (n != (long)len) return MOTE_ESYS; /* the file shrank: the response cannot be completed */
    return mote_response_write(res, buf, len);
}

/* ---- one file --------------------------------------------------------------------------------- */

/* "inode-size-mtime" in hex, per encoding ("-gz", "-br"), quoted. */
static void make_etag(char out[ETAG_LEN], const struct stat *st, const char *suffix)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t parts[3];
    char *p = out;
    size_t i;
    parts[0] = (uint64_t)st->st_ino;
    parts[1] = (uint64_t)st->st_size;
    parts[2] = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
    *p++ = '"';
    for (i = 0; i < 3; i++) {
        int shift = 60;
        while (shift > 0 && (parts[i] >> shift) == 0) shift -= 4;
        for (; shift >= 0; shift -= 4) *p++ = hex[(parts[i] >> shift) & 15u];
        if (i < 2) *p++ = '-';
    }
    if (suffix) {
        memcpy(p, suffix, strlen(suffix));
        p += strlen(suffix);
    }
    *p++ = '"';
    *p = '\0';
}

typedef struct variant {
    unsigned coding;     /* ENC_* */
    const char *ext;     /* the sibling's extension */
    const char *name;    /* Content-Encoding */
    const char *suffix;  /* of the ETag */
} variant;

static const variant variants[] = {
    {ENC_BR, ".br", "br", "-br"},
    {ENC_GZIP, ".gz", "gzip", "-gz"},
};

/* Opens the precompressed sibling the request prefers, if any; its descriptor and stat, and
 * *v set, or -1 (then the plain file or 406). `plain` tells whether the plain file exists. */
static int open_variant(dir_route *dr, const char *accept, char *path, size_t len, int plain,
                        struct stat *st, const variant **v)
{
    unsigned have = ENC_BR | ENC_GZIP | (plain ? ENC_IDENTITY : 0u);
    while (have) {
        unsigned pick = encoding_choose(accept, have);
        size_t i;
        if (pick == 0 || pick == ENC_IDENTITY) return -1;
        for (i = 0; i < sizeof variants / sizeof variants[0]; i++) {
            int fd;
            if (variants[i].coding != pick) continue;
            memcpy(path + len, variants[i].ext, 4);
            fd = open_beneath(dr, dr->root, path, open_flags());
            path[len] = '\0';
            if (fd >= 0 && fstat(fd, st) == 0 && S_ISREG(st->st_mode)) {
                *v = &variants[i];
                return fd;
            }
            if (fd >= 0) close(fd);
        }
        have &= ~pick;
    }
    return -1;
}

/* Sends the regular file at fd (whose plain name is `name`), as variant v (NULL: plain). */
static void send_file(mote_request *req, mote_response *res, dir_route *dr, int fd,
                      const struct stat *st, const char *name, const variant *v)
{
    char etag[ETAG_LEN], small[INLINE_MAX];
    static_rep rep;
    memset(&rep, 0, sizeof rep);
    make_etag(etag, st, v ? v->suffix : NULL);
    rep.type = mote_mime_type_of(name, dr->types, dr->type_count);
    rep.encoding = v ? v->name : NULL;
    rep.etag = etag;
    rep.mtime = (int64_t)st->st_mtime;
    rep.length = (uint64_t)st->st_size;
    rep.vary = 1; /* a sibling may appear at any time: every answer could vary */
    rep.file = file_of(fd);
    if (rep.length <= INLINE_MAX && !mote_request_header(req, "Range") &&
        mote_request_method_id(req) == MOTE_GET) {
        long n = read_file(rep.file.ctx, small, (size_t)rep.length, 0);
        if (n != (long)rep.length) {
            close(fd);
            static_error(res, 500);
            return;
        }
        rep.data = (const unsigned char *)small;
        rep.data_is_transient = 1;
    }
    static_send(req, res, &dr->common, &rep);
}

/* ---- directories ------------------------------------------------------------------------------ */

typedef struct listing_text {
    char *p;
    size_t len, cap;
    int failed;
} listing_text;

static void text_add(listing_text *t, const char *s, size_t n)
{
    if (t->failed) return;
    if (t->len + n > t->cap) {
        size_t cap = (t->cap ? t->cap * 2 : 4096) + n;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void text_str(listing_text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_html(listing_text *t, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': text_str(t, "&amp;"); break;
        case '<': text_str(t, "&lt;"); break;
        case '>': text_str(t, "&gt;"); break;
        case '"': text_str(t, "&quot;"); break;
        case '\'': text_str(t, "&#39;"); break;
        default: text_add(t, s, 1);
        }
    }
}

/* A name as a relative reference: unreserved characters as they are, the rest escaped (':'
 * too, so "a:b" is not taken for a scheme). */
static void text_href(listing_text *t, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            text_add(t, s, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15u]};
            text_add(t, esc, 3);
        }
    }
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory (hidden ones only when the route serves them), sorted; their count,
 * or -1. Each name is followed by '/' when it is a directory. */
static long read_names(dir_route *dr, int fd, char ***out)
{
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || !(d = fdopendir(dfd))) {
        if (dfd >= 0) close(dfd);
        return -1;
    }
    while ((e = readdir(d)) != NULL && n < LISTING_MAX_ENTRIES) {
        struct stat st;
        size_t len = strlen(e->d_name);
        char *name;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (e->d_name[0] == '.' && !dr->hidden) continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        if (!(name = malloc(len + 2))) break;
        memcpy(name, e->d_name, len + 1);
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            memcpy(name + len, "/", 2);
        names[n++] = name;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, compare_names);
    *out = names;
    return (long)n;
}

static void send_listing(mote_request *req, mote_response *res, dir_route *dr, int fd)
{
    listing_text t = {NULL, 0, 0, 0};
    char **names = NULL;
    long n = read_names(dr, fd, &names), i;
    mote_str path = mote_request_path(req);
    char *shown = malloc(path.len + 1);
    if (n < 0 || !shown) {
        free(shown);
        static_error(res, n < 0 ? 403 : 503);
        return;
    }
    memcpy(shown, path.ptr, path.len);
    shown[path.len] = '\0';
    text_str(&t, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    text_html(&t, shown);
    text_str(&t, "</title></head>\n<body><h1>Index of ");
    text_html(&t, shown);
    text_str(&t, "</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n");
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int is_dir = len > 0 && names[i][len - 1] == '/';
        if (is_dir) names[i][len - 1] = '\0';
        text_str(&t, "<li><a href=\"./");
        text_href(&t, names[i]);
        text_str(&t, is_dir ? "/\">" : "\">");
        text_html(&t, names[i]);
        text_str(&t, is_dir ? "/</a></li>\n" : "</a></li>\n");
        free(names[i]);
    }
    text_str(&t, "</ul>\n</body></html>\n");
    free(names);
    free(shown);
    if (t.failed) {
        static_error(res, 503);
    } else {
        (void)mote_response_header(res, "Content-Type", "text/html; charset=utf-8");
        (void)mote_response_header(res, "Cache-Control", "no-cache");
        if (mote_response_send(res, t.p, t.len) < 0) (void)mote_response_end(res);
    }
    free(t.p);
}

/* A directory named with its trailing '/': its index page, its listing, or 404. */
static void send_directory(mote_request *req, mote_response *res, dir_route *dr, int fd)
{
    struct stat st;
    const char *index = dr->common.index;
    int page = index[0] ? open_beneath(dr, fd, index, open_flags()) : -1;
    if (page >= 0 && fstat(page, &st) == 0 && S_ISREG(st.st_mode)) {
        close(fd);
        send_file(req, res, dr, page, &st, index, NULL);
        return;
    }
    if (page >= 0) close(page);
    if (dr->listing) send_listing(req, res, dr, fd);
    else static_not_found(req, res, &dr->common);
    close(fd);
}

/* ---- the route -------------------------------------------------------------------------------- */

/* Whether a precompressed sibling of a missing file exists: then the request that takes none
 * of them gets 406, not 404. */
static int has_variant(dir_route *dr, char *path, size_t len)
{
    size_t i;
    int found = 0;
    for (i = 0; i < sizeof variants / sizeof variants[0] && !found; i++) {
        int fd;
        memcpy(path + len, variants[i].ext, 4);
        fd = open_beneath(dr, dr->root, path, open_flags());
        found = fd >= 0;
        if (fd >= 0) close(fd);
    }
    path[len] = '\0';
    return found;
}

/* A file, or a missing one that a precompressed sibling may stand for. */
static void serve_dir_file(mote_request *req, mote_response *res, dir_route *dr, char *path,
                       size_t len, int fd, const struct stat *st, int err)
{
    const char *accept = mote_request_header(req, "Accept-Encoding");
    const variant *v = NULL;
    struct stat vst;
    int vfd = open_variant(dr, accept, path, len, fd >= 0, &vst, &v);
    if (vfd >= 0) {
        if (fd >= 0) close(fd);
        send_file(req, res, dr, vfd, &vst, path, v);
    } else if (fd >= 0) {
        send_file(req, res, dr, fd, st, path, NULL);
    } else if (err == ENOENT && has_variant(dr, path, len)) {
        (void)mote_response_header(res, "Vary", "Accept-Encoding");
        static_error(res, 406);
    } else if (open_error_status(err) == 404) {
        static_not_found(req, res, &dr->common);
    } else {
        static_error(res, open_error_status(err));
    }
}

static void serve_path(mote_request *req, mote_response *res, dir_route *dr, char *path,
                       size_t len, int dir_slash)
{
    struct stat st;
    int fd = open_beneath(dr, dr->root, len ? path : ".", open_flags()), err = errno;
    int is_dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir && dir_slash) {
        send_directory(req, res, dr, fd);
    } else if (is_dir) {
        close(fd);
        static_redirect_to_dir(req, res);
    } else if (fd >= 0 && (dir_slash || !S_ISREG(st.st_mode))) {
        close(fd); /* "file/", or not a regular file (a FIFO, a device) */
        static_not_found(req, res, &dr->common);
    } else if (dir_slash) {
        static_not_found(req, res, &dr->common);
    } else {
        serve_dir_file(req, res, dr, path, len, fd, &st, err);
    }
}

static void dir_handler(mote_request *req, mote_response *res, void *user)
{
    dir_route *dr = user;
    mote_str p = mote_request_path(req);
    const char *rel = p.ptr + dr->prefix_len;
    size_t len = p.len - dr->prefix_len;
    char path[PATH_MAX_LEN];
    int dir_slash;
    if (static_target_is_ambiguous(req) || memchr(p.ptr, '\0', p.len)) {
        static_error(res, 400);
        return;
    }
    while (len && *rel == '/') rel++, len--;
    dir_slash = len == 0 ? p.len > dr->prefix_len : rel[len - 1] == '/';
    if (!dr->hidden && static_path_has_hidden(rel, len)) {
        static_not_found(req, res, &dr->common);
        return;
    }
    if (len + 4 > sizeof path) {
        static_error(res, 404);
        return;
    }
    memcpy(path, rel, len);
    while (len && path[len - 1] == '/') len--;
    path[len] = '\0';
    serve_path(req, res, dr, path, len, dir_slash);
}

static void release_dir_route(void *owned)
{
    dir_route *dr = owned;
    if (dr->root >= 0) close(dr->root);
}

int mote_static_dir(mote_server *srv, const char *prefix, const char *root,
                    const mote_static_options *options)
{
    const mote_allocator *a;
    dir_route *dr;
    size_t prefix_len;
    int fd, rc;
    if (!srv || !prefix || prefix[0] != '/' || !root) return MOTE_EINVAL;
    fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return MOTE_ESYS;
    a = engine_alloc(srv);
    dr = static_route_create(srv, sizeof *dr, options);
    if (!dr) {
        close(fd);
        return MOTE_ENOMEM;
    }
    dr->no_openat2 = kernel_lacks_openat2(fd);
    dr->common.write_file = write_file_piece;
    dr->root = fd;
    dr->listing = options && options->listing;
    dr->hidden = options && options->hidden;
    dr->types = options ? options->types : NULL;
    dr->type_count = options ? options->type_count : 0;
    prefix_len = strlen(prefix);
    dr->prefix_len = prefix[prefix_len - 1] == '/' ? prefix_len - 1 : prefix_len;
    rc = static_route_add(srv, prefix, dir_handler, dr, release_dir_route, options);
    if (rc < 0) {
        close(fd);
        a->free(a->ctx, dr);
    }
    return rc;
}

#else

int mote_static_dir(mote_server *srv, const char *prefix, const char *root,
                    const mote_static_options *options)
{
    (void)srv, (void)prefix, (void)root, (void)options;
    return MOTE_ENOTSUP;
}

#endif
