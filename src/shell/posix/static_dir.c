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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif

#include "engine/engine.h"
#include "static/encoding.h"
#include "static/static.h"

#if MOTE_CONFIG_STATIC

#define INLINE_MAX 4096u
#define PATH_MAX_LEN 1024u   /* a relative path's bytes, with room for ".br" */
#define ETAG_LEN 64u
#define LISTING_MAX_ENTRIES 10000u
#define DEFAULT_OPEN_FILES 64
#define DEFAULT_OPEN_FILE_MS 1000

typedef struct dir_route {
    static_route common;           /* first: the static layer's */
    int root;                      /* O_PATH descriptor of the root directory */
    int no_openat2;                /* the kernel has no openat2 (found at registration) */
    size_t prefix_len;             /* without a trailing '/' */
    int listing, hidden;
    const mote_mime_type *types;
    size_t type_count;
    struct kept_file *kept;        /* kept_count per loop, or NULL */
    unsigned kept_count;
    int64_t kept_ms;               /* how long a kept file is trusted */
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

/* ---- files kept open -------------------------------------------------------------------------- */

/* Each loop keeps up to `open_files` files open, by path, for `open_file_ms`: a request for one
 * of them costs no lookup, open or close, only an fstat (so a file written in place is sent
 * with its new validators) and the read or sendfile. A kept file is the one that was opened
 * beneath the root (a link swapped in later does not change it); one renamed over or removed
 * is served as it was until its path is looked up again, as nginx's open_file_cache does.
 * Siblings found missing (name.br, name.gz) are kept too, as missing. The responses sending
 * from a kept descriptor count on it: one replaced meanwhile is closed after the last. */

#define KEPT_PATH 120u  /* longer paths are opened each time */
#define KEPT_PROBE 4u   /* slots a path may take */

typedef struct kept_file {
    char path[KEPT_PATH];          /* "" : a free slot */
    int fd;                        /* -1: known not to be there */
    unsigned refs;                 /* responses sending from it */
    int stale;                     /* replaced: closed once refs reach 0 */
    int64_t until_ms;              /* trusted until */
    struct stat st;
} kept_file;

/* A file as a request holds it: its descriptor and stat, and the kept file it belongs to
 * (NULL: the request's own, closed with it). */
typedef struct file_ref {
    int fd;
    kept_file *kept;
    struct stat st;
} file_ref;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t path_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void kept_clear(kept_file *k)
{
    if (k->fd >= 0) close(k->fd);
    k->fd = -1;
    k->path[0] = '\0';
    k->stale = 0;
}

static void kept_release(kept_file *k)
{
    if (--k->refs == 0 && k->stale) kept_clear(k);
}

static void file_ref_drop(file_ref *f)
{
    if (f->kept) kept_release(f->kept);
    else if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->kept = NULL;
}

/* The loop's kept files. */
static kept_file *kept_of(const dir_route *dr, mote_request *req)
{
    unsigned at = mote_server_loop_index(mote_request_server(req)) % dr->common.loop_count;
    return dr->kept ? dr->kept + (size_t)at * dr->kept_count : NULL;
}

/* The kept file of `path`, still trusted, or NULL; *slot is where it may be kept otherwise
 * (NULL: every slot it may take is in use). */
static kept_file *kept_find(const dir_route *dr, kept_file *kept, const char *path, int64_t now,
                            kept_file **slot)
{
    uint32_t h = path_hash(path);
    unsigned i;
    *slot = NULL;
    for (i = 0; i < KEPT_PROBE; i++) {
        kept_file *k = &kept[(h + i) % dr->kept_count];
        if (k->path[0] && !k->stale && strcmp(k->path, path) == 0) {
            if (now < k->until_ms) return k;
            if (k->refs) k->stale = 1; /* closed after its last response */
            else kept_clear(k);
        }
        if (!*slot && !k->path[0]) *slot = k;
    }
    for (i = 0; i < KEPT_PROBE && !*slot; i++) { /* evict one no response uses */
        kept_file *k = &kept[(h + i) % dr->kept_count];
        if (!k->refs && !k->stale) {
            kept_clear(k);
            *slot = k;
        }
    }
    return NULL;
}

/* Opens `path` beneath the root (a regular file or a directory): 0 with *f filled, or -errno.
 * Regular files, and missing ones when `keep_missing`, come from the loop's kept files when
 * they are there and go there when not. */
static int open_file(dir_route *dr, mote_request *req, const char *path, int keep_missing,
                     file_ref *f)
{
    kept_file *kept = kept_of(dr, req), *k = NULL, *slot = NULL;
    int64_t now = 0;
    int fd, err;
    f->fd = -1;
    f->kept = NULL;
    if (kept && strlen(path) < KEPT_PATH) {
        now = now_ms();
        k = kept_find(dr, kept, path, now, &slot);
    }
    if (k) {
        if (k->fd < 0) return -ENOENT;
        if (fstat(k->fd, &k->st) < 0) return -errno; /* written in place: validators now */
        k->refs++;
        f->fd = k->fd;
        f->kept = k;
        f->st = k->st;
        return 0;
    }
    fd = open_beneath(dr, dr->root, path, open_flags());
    err = errno;
    if (fd < 0) {
        if (slot && keep_missing && err == ENOENT) {
            memcpy(slot->path, path, strlen(path) + 1);
            slot->until_ms = now + dr->kept_ms;
        }
        return -err;
    }
    if (fstat(fd, &f->st) < 0) {
        err = errno;
        close(fd);
        return -err;
    }
    f->fd = fd;
    if (slot && S_ISREG(f->st.st_mode)) {
        memcpy(slot->path, path, strlen(path) + 1);
        slot->fd = fd;
        slot->st = f->st;
        slot->until_ms = now + dr->kept_ms;
        slot->refs = 1;
        f->kept = slot;
    }
    return 0;
}

static void release_kept(dir_route *dr)
{
    size_t i;
    for (i = 0; dr->kept && i < (size_t)dr->common.loop_count * dr->kept_count; i++)
        if (dr->kept[i].fd >= 0) close(dr->kept[i].fd);
}

/* ---- files as the response takes them --------------------------------------------------------- */

static long read_fd(int fd, void *buf, size_t len, uint64_t offset)
{
    ssize_t n;
    do {
        n = pread(fd, buf, len, (off_t)offset);
    } while (n < 0 && errno == EINTR);
    return (long)n;
}

static void close_own(void *ctx)
{
    close((int)(intptr_t)ctx);
}

static long read_own(void *ctx, void *buf, size_t len, uint64_t offset)
{
    return read_fd((int)(intptr_t)ctx, buf, len, offset);
}

static void close_kept(void *ctx)
{
    kept_release(ctx);
}

static long read_kept(void *ctx, void *buf, size_t len, uint64_t offset)
{
    return read_fd(((kept_file *)ctx)->fd, buf, len, offset);
}

/* The file as mote_response_send_file() takes it: the response owns the reference. */
static mote_file file_of(file_ref *f)
{
    mote_file mf;
    memset(&mf, 0, sizeof mf);
    mf.fd = f->fd;
    if (f->kept) {
        mf.read = read_kept;
        mf.close = close_kept;
        mf.ctx = f->kept;
    } else {
        mf.read = read_own;
        mf.close = close_own;
        mf.ctx = (void *)(intptr_t)f->fd;
    }
    f->fd = -1;
    f->kept = NULL;
    return mf;
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

/* Opens the precompressed sibling the request prefers, if any, into *f with *v set: 1, or 0
 * (then the plain file or 406). `plain` tells whether the plain file exists. */
static int open_variant(dir_route *dr, mote_request *req, char *path, size_t len, int plain,
                        file_ref *f, const variant **v)
{
    const char *accept = mote_request_header(req, "Accept-Encoding");
    unsigned have = ENC_BR | ENC_GZIP | (plain ? ENC_IDENTITY : 0u);
    while (have) {
        unsigned pick = encoding_choose(accept, have);
        size_t i;
        if (pick == 0 || pick == ENC_IDENTITY) return 0;
        for (i = 0; i < sizeof variants / sizeof variants[0]; i++) {
            int rc;
            if (variants[i].coding != pick) continue;
            memcpy(path + len, variants[i].ext, 4);
            rc = open_file(dr, req, path, 1, f);
            path[len] = '\0';
            if (rc == 0 && S_ISREG(f->st.st_mode)) {
                *v = &variants[i];
                return 1;
            }
            if (rc == 0) file_ref_drop(f);
        }
        have &= ~pick;
    }
    return 0;
}

/* Sends the regular file *f (whose plain name is `name`), as variant v (NULL: plain). */
static void send_file(mote_request *req, mote_response *res, dir_route *dr, file_ref *f,
                      const char *name, const variant *v)
{
    char etag[ETAG_LEN], small[INLINE_MAX];
    static_rep rep;
    memset(&rep, 0, sizeof rep);
    make_etag(etag, &f->st, v ? v->suffix : NULL);
    rep.type = mote_mime_type_of(name, dr->types, dr->type_count);
    rep.encoding = v ? v->name : NULL;
    rep.etag = etag;
    rep.mtime = (int64_t)f->st.st_mtime;
    rep.length = (uint64_t)f->st.st_size;
    rep.vary = 1; /* a sibling may appear at any time: every answer could vary */
    rep.file = file_of(f);
    if (rep.length <= INLINE_MAX && !mote_request_header(req, "Range") &&
        mote_request_method_id(req) == MOTE_GET) {
        long n = rep.file.read(rep.file.ctx, small, (size_t)rep.length, 0);
        if (n != (long)rep.length) {
            rep.file.close(rep.file.ctx);
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

/* A directory named with its trailing '/' (open at dirfd): its index page, its listing, or 404. */
static void send_directory(mote_request *req, mote_response *res, dir_route *dr, char *path,
                           size_t len, int dirfd)
{
    const char *index = dr->common.index;
    size_t index_len = strlen(index);
    file_ref page;
    if (index_len && len + 1 + index_len + 4 < PATH_MAX_LEN) {
        int rc;
        if (len) path[len++] = '/';
        memcpy(path + len, index, index_len + 1);
        rc = open_file(dr, req, path, 0, &page);
        if (rc == 0 && S_ISREG(page.st.st_mode)) {
            close(dirfd);
            send_file(req, res, dr, &page, index, NULL);
            return;
        }
        if (rc == 0) file_ref_drop(&page);
    }
    if (dr->listing) send_listing(req, res, dr, dirfd);
    else static_not_found(req, res, &dr->common);
    close(dirfd);
}

/* Whether a precompressed sibling of a missing file exists: then the request that takes none
 * of them gets 406, not 404. */
static int has_variant(dir_route *dr, mote_request *req, char *path, size_t len)
{
    size_t i;
    int found = 0;
    for (i = 0; i < sizeof variants / sizeof variants[0] && !found; i++) {
        file_ref f;
        memcpy(path + len, variants[i].ext, 4);
        found = open_file(dr, req, path, 1, &f) == 0;
        if (found) file_ref_drop(&f);
    }
    path[len] = '\0';
    return found;
}

/* A file, or a missing one (errno `err`) that a precompressed sibling may stand for. */
static void serve_dir_file(mote_request *req, mote_response *res, dir_route *dr, char *path,
                           size_t len, file_ref *plain, int err)
{
    const variant *v = NULL;
    file_ref sibling;
    if (open_variant(dr, req, path, len, plain->fd >= 0, &sibling, &v)) {
        file_ref_drop(plain);
        send_file(req, res, dr, &sibling, path, v);
    } else if (plain->fd >= 0) {
        send_file(req, res, dr, plain, path, NULL);
    } else if (err == ENOENT && has_variant(dr, req, path, len)) {
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
    file_ref f;
    int rc = open_file(dr, req, len ? path : ".", 0, &f);
    int is_dir = rc == 0 && S_ISDIR(f.st.st_mode);
    if (is_dir && dir_slash) {
        send_directory(req, res, dr, path, len, f.fd);
    } else if (is_dir) {
        file_ref_drop(&f);
        static_redirect_to_dir(req, res);
    } else if (rc == 0 && (dir_slash || !S_ISREG(f.st.st_mode))) {
        file_ref_drop(&f); /* "file/", or not a regular file (a FIFO, a device) */
        static_not_found(req, res, &dr->common);
    } else if (dir_slash) {
        static_not_found(req, res, &dr->common);
    } else {
        serve_dir_file(req, res, dr, path, len, &f, -rc);
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
    release_kept(dr);
    free(dr->kept);
    if (dr->root >= 0) close(dr->root);
}

/* The loops' kept files, all free; 0 or MOTE_ENOMEM. */
static int keep_files(dir_route *dr, const mote_static_options *o)
{
    size_t i, n;
    dr->kept_count = o && o->open_files ? (unsigned)(o->open_files < 0 ? 0 : o->open_files)
                                        : DEFAULT_OPEN_FILES;
    dr->kept_ms = o && o->open_file_ms ? o->open_file_ms : DEFAULT_OPEN_FILE_MS;
    if (dr->kept_count == 0) return 0;
    n = (size_t)dr->common.loop_count * dr->kept_count;
    dr->kept = calloc(n, sizeof *dr->kept);
    if (!dr->kept) return MOTE_ENOMEM;
    for (i = 0; i < n; i++) dr->kept[i].fd = -1;
    return 0;
}

int mote_static_dir(mote_server *srv, const char *prefix, const char *root,
                    const mote_static_options *options)
{
    const mote_allocator *a;
    dir_route *dr;
    size_t prefix_len;
    int fd, rc;
    if (!srv || !prefix || prefix[0] != '/' || !root || !static_options_are_valid(options))
        return MOTE_EINVAL;
    fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return MOTE_ESYS;
    a = engine_alloc(srv);
    dr = static_route_create(srv, sizeof *dr, options);
    if (!dr) {
        close(fd);
        return MOTE_ENOMEM;
    }
    dr->no_openat2 = kernel_lacks_openat2(fd);
    if (keep_files(dr, options) < 0) {
        close(fd);
        a->free(a->ctx, dr);
        return MOTE_ENOMEM;
    }
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
        free(dr->kept);
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
