/* embedded.c - files compiled into the program (mote_static_embedded()): found by binary
 * search in the table mote-embed wrote, and sent from where they are, plain or gzip as the
 * request accepts. No allocation after registration. */
#include <string.h>

#include "mote_static.h"
#include "engine/engine.h"
#include "static/encoding.h"
#include "static/static.h"

#if MOTE_CONFIG_STATIC

/* etag of the gzip variant: the plain one with "-gz" before its closing quote */
#define ETAG_MAX 96u

typedef struct embedded_route {
    static_route common;            /* first: the static layer's */
    const mote_embedded_table *table;
    size_t prefix_len;              /* without a trailing '/' */
    int hidden;
    const mote_allocator *alloc;    /* the server's, for gunzip's state; NULL: none */
} embedded_route;

/* ---- gzip-only files to a client that does not take gzip ------------------------------------ */

/* A file and its route, for a body made as it is sent. */
typedef struct embedded_file_of {
    embedded_route *er;
    const mote_embedded_file *file;
} embedded_file_of;

#if MOTE_CONFIG_STATIC_GUNZIP

#include <zlib.h>

/* decompressing responses of a route at once: zlib's state is some 45 KiB each */
#define GUNZIPS_MAX 4u
#define GUNZIP_PIECE 1024u

typedef struct gunzip {
    z_stream z;
    embedded_route *er;
    unsigned *streams;              /* its loop's count */
    size_t pending, at;             /* inflated bytes in out[] not yet written */
    unsigned char out[GUNZIP_PIECE];
} gunzip;

static voidpf gunzip_alloc(voidpf opaque, uInt items, uInt size)
{
    const mote_allocator *a = ((gunzip *)opaque)->er->alloc;
    return size && items > (size_t)-1 / size ? NULL : a->alloc(a->ctx, (size_t)items * size);
}

static void gunzip_free(voidpf opaque, voidpf p)
{
    const mote_allocator *a = ((gunzip *)opaque)->er->alloc;
    a->free(a->ctx, p);
}

static void gunzip_release(void *user, int completed)
{
    gunzip *g = user;
    embedded_route *er = g->er;
    (void)completed;
    (void)inflateEnd(&g->z);
    (*g->streams)--;
    er->alloc->free(er->alloc->ctx, g);
}

/* Writes what is inflated and inflates more, until the send buffer is full or the end. */
static void gunzip_ready(mote_response *res, void *user)
{
    gunzip *g = user;
    for (;;) {
        int rc;
        if (g->pending) {
            rc = mote_response_write(res, g->out + g->at, g->pending);
            if (rc == MOTE_EAGAIN) break;
            if (rc < 0) { /* more than the length, or the connection is gone */
                (void)mote_response_end(res);
                return;
            }
            g->pending = 0;
        }
        g->z.next_out = g->out;
        g->z.avail_out = GUNZIP_PIECE;
        rc = inflate(&g->z, Z_NO_FLUSH);
        g->at = 0;
        g->pending = GUNZIP_PIECE - g->z.avail_out;
        if (g->pending) continue;
        (void)mote_response_end(res); /* the end (short of the length if the data were bad) */
        (void)rc;
        return;
    }
    (void)mote_response_defer(res, gunzip_ready);
}

static int gunzip_start(mote_request *req, mote_response *res, void *ctx)
{
    const embedded_file_of *of = ctx;
    embedded_route *er = of->er;
    const mote_embedded_file *f = of->file;
    unsigned *streams = &static_loop_of(&er->common, req)->streams;
    gunzip *g;
    if (*streams >= GUNZIPS_MAX) return MOTE_ELIMIT;
    g = er->alloc->alloc(er->alloc->ctx, sizeof *g);
    if (!g) return MOTE_ENOMEM;
    memset(g, 0, sizeof *g);
    g->er = er;
    g->streams = streams;
    g->z.zalloc = gunzip_alloc;
    g->z.zfree = gunzip_free;
    g->z.opaque = g;
    g->z.next_in = (Bytef *)(uintptr_t)f->gzip; /* zlib's API is not const; it only reads */
    g->z.avail_in = (uInt)f->gzip_len;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        er->alloc->free(er->alloc->ctx, g);
        return MOTE_ENOMEM;
    }
    (*streams)++;
    (void)mote_request_set_user(req, g, gunzip_release);
    (void)mote_response_length(res, f->len);
    return mote_response_defer(res, gunzip_ready);
}

/* Whether a file kept only compressed can go decompressed to a client that takes no gzip. */
static int can_gunzip(const embedded_route *er, const mote_embedded_file *f)
{
    return !f->data && f->gzip && er->alloc;
}

#else

static int gunzip_start(mote_request *req, mote_response *res, void *ctx)
{
    (void)req, (void)res, (void)ctx;
    return MOTE_ENOTSUP;
}

static int can_gunzip(const embedded_route *er, const mote_embedded_file *f)
{
    (void)er, (void)f;
    return 0;
}

#endif

/* strcmp() of a table path with the `len` bytes at `key`. */
static int compare_path(const char *path, const char *key, size_t len)
{
    int c = strncmp(path, key, len);
    if (c != 0) return c;
    return path[len] != '\0';
}

static const mote_embedded_file *find_file(const mote_embedded_table *t, const char *key,
                                           size_t len)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_path(t->files[mid].path, key, len);
        if (c == 0) return &t->files[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int table_is_sorted(const mote_embedded_table *t)
{
    size_t i;
    for (i = 0; i < t->count; i++) {
        const mote_embedded_file *f = &t->files[i];
        if (!f->path || f->path[0] != '/' || !f->type || !f->etag || (!f->data && !f->gzip) ||
            !static_value_is_valid(f->type) || !static_value_is_valid(f->etag))
            return 0;
        if (i > 0 && strcmp(t->files[i - 1].path, f->path) >= 0) return 0;
    }
    return 1;
}

/* The file a path below the prefix names: itself, or a directory's index page ("/dir/" and
 * "/dir/index.html"). NULL when neither is there. */
static const mote_embedded_file *lookup(const embedded_route *er, const char *rel, size_t len)
{
    char key[256];
    size_t index_len = strlen(er->common.index);
    if (len == 0 || rel[len - 1] != '/') return find_file(er->table, rel, len);
    if (index_len == 0 || len + index_len > sizeof key) return NULL;
    memcpy(key, rel, len);
    memcpy(key + len, er->common.index, index_len);
    return find_file(er->table, key, len + index_len);
}

/* Whether "rel/" would name a directory's index page, so that "rel" is answered with 301. */
static int is_directory(const embedded_route *er, const char *rel, size_t len)
{
    char key[256];
    if (len + 1 > sizeof key) return 0;
    memcpy(key, rel, len);
    key[len] = '/';
    return lookup(er, key, len + 1) != NULL;
}

/* The gzip variant's ETag into out: the plain one with "-gz" before its closing quote. */
static const char *gzip_etag(const char *etag, char out[ETAG_MAX])
{
    size_t n = strlen(etag);
    if (n < 2 || n + 4 > ETAG_MAX || etag[n - 1] != '"') return etag;
    memcpy(out, etag, n - 1);
    memcpy(out + n - 1, "-gz\"", 5);
    return out;
}

static void serve_embedded(mote_request *req, mote_response *res, embedded_route *er,
                       const mote_embedded_file *f)
{
    char etag[ETAG_MAX];
    static_rep rep;
    embedded_file_of of;
    const char *accept = mote_request_header(req, "Accept-Encoding");
    unsigned have = (f->data ? ENC_IDENTITY : 0u) | (f->gzip ? ENC_GZIP : 0u);
    unsigned pick = encoding_choose(accept, have);
    int inflating = pick == 0 && can_gunzip(er, f);
    if (pick == 0 && f->data) pick = ENC_IDENTITY; /* takes none we have: the plain bytes */
    if (pick == 0 && !inflating) {
        if (f->gzip) (void)mote_response_header(res, "Vary", "Accept-Encoding");
        static_error(res, 406);
        return;
    }
    memset(&rep, 0, sizeof rep);
    rep.type = f->type;
    rep.mtime = f->mtime > 0 ? f->mtime : -1;
    rep.vary = f->gzip != NULL;
    rep.file.fd = -1;
    if (inflating) {
        rep.etag = f->etag; /* the plain bytes' */
        rep.length = f->len;
        of.er = er;
        of.file = f;
        rep.stream = gunzip_start;
        rep.stream_ctx = &of; /* used before static_send() returns */
    } else if (pick == ENC_GZIP) {
        rep.encoding = "gzip";
        rep.etag = gzip_etag(f->etag, etag);
        rep.data = f->gzip;
        rep.length = f->gzip_len;
    } else {
        rep.etag = f->etag;
        rep.data = f->data;
        rep.length = f->len;
    }
    static_send(req, res, &er->common, &rep);
}

static void embedded_handler(mote_request *req, mote_response *res, void *user)
{
    embedded_route *er = user;
    mote_str path = mote_request_path(req);
    const char *rel = path.ptr + er->prefix_len;
    size_t len = path.len - er->prefix_len;
    const mote_embedded_file *f;
    if (static_target_is_ambiguous(req)) {
        static_error(res, 400);
        return;
    }
    if (!er->hidden && static_path_has_hidden(rel, len)) {
        static_not_found(req, res, &er->common);
        return;
    }
    f = lookup(er, len ? rel : "/", len ? len : 1);
    if (f && len) {
        serve_embedded(req, res, er, f);
    } else if (f || is_directory(er, rel, len)) {
        static_redirect_to_dir(req, res); /* "/prefix" without its '/', or "/dir" */
    } else {
        static_not_found(req, res, &er->common);
    }
}

int mote_static_embedded(mote_server *srv, const char *prefix, const mote_embedded_table *table,
                         const mote_static_options *options)
{
    const mote_allocator *a;
    embedded_route *er;
    size_t prefix_len;
    int rc;
    if (!srv || !prefix || prefix[0] != '/' || !table || (!table->files && table->count))
        return MOTE_EINVAL;
    if (!table_is_sorted(table) || !static_options_are_valid(options)) return MOTE_EINVAL;
    a = engine_alloc(srv);
    er = static_route_create(srv, sizeof *er, options);
    if (!er) return MOTE_ENOMEM;
    er->table = table;
    er->hidden = options && options->hidden;
    er->alloc = engine_fixed_memory(srv) ? NULL : a; /* an arena never gives memory back */
    prefix_len = strlen(prefix);
    er->prefix_len = prefix[prefix_len - 1] == '/' ? prefix_len - 1 : prefix_len;
    rc = static_route_add(srv, prefix, embedded_handler, er, NULL, options);
    if (rc < 0) a->free(a->ctx, er);
    return rc;
}

#else

int mote_static_embedded(mote_server *srv, const char *prefix, const mote_embedded_table *table,
                         const mote_static_options *options)
{
    (void)srv, (void)prefix, (void)table, (void)options;
    return MOTE_ENOTSUP;
}

#endif
