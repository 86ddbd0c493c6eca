/**
 * @file mote_static.h
 * Static content (RFC 9110): files from a directory and files compiled into the program, served
 * on a prefix route with content negotiation (precompressed gzip and Brotli variants,
 * `Vary: Accept-Encoding`), validators (strong ETag, Last-Modified, the If-* conditions in
 * §13.2.2's order: 304, 412), byte ranges (206, multipart/byteranges, 416, If-Range), HEAD, and
 * 405 with Allow for other methods.
 *
 * @code
 *     mote_static_options opt = {.cache_control = "max-age=60"};
 *     mote_static_dir(srv, "/files", "/srv/www", &opt);
 *     mote_static_embedded(srv, "/", &web_assets, NULL);   // made by mote-embed
 * @endcode
 */
#ifndef MOTE_STATIC_H
#define MOTE_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One entry of an application's own Content-Type table: a file name extension and its type. */
typedef struct mote_mime_type {
    const char *ext;  /**< without the dot, matched without regard to case: "md" */
    const char *type; /**< the Content-Type value: "text/markdown; charset=utf-8" */
} mote_mime_type;

/** How a static route serves; all zero (or a NULL pointer) gives the defaults. */
typedef struct mote_static_options {
    const char *cache_control;    /**< Cache-Control value; NULL: "no-cache" (revalidate) */
    const char *index;            /**< a directory's page; NULL: "index.html", "": none */
    int listing;                  /**< 1: list a directory that has no index page (HTML) */
    int hidden;                   /**< 1: serve names starting with '.' (else 404) */
    const mote_mime_type *types;  /**< the application's types, before the built-in table
                                       (they must outlive the server) */
    size_t type_count;            /**< entries at `types` */
    const mote_basic_auth *auth;  /**< NULL: no credentials needed */
    int open_files;               /**< directories: files each event loop keeps open for the
                                       next request (0: 64; -1: none, open each time) */
    uint32_t open_file_ms;        /**< how long a kept file is served before it is looked up
                                       again (0: 1000): a change shows within this time */
    mote_handler fallback;        /**< answers a path that names no file (NULL: 404): a
                                       single-page application's page, a soft 404 */
    void *fallback_user;          /**< passed to `fallback` */
} mote_static_options;

/** Serves the files under the directory `root` at `prefix` (a prefix route: "/files" takes
 * "/files/a.txt" as root's "a.txt"). Nothing outside `root` is ever opened: `..`, encoded
 * slashes or backslashes and NUL are 400, and a symbolic link leading out of the root is 404
 * (openat2's RESOLVE_BENEATH where the kernel has it, a component-by-component O_NOFOLLOW walk
 * where not). A file's precompressed siblings `name.br` and `name.gz` are sent in its place to
 * a client that accepts them. Linux and other POSIX systems; MOTE_ENOTSUP elsewhere. Returns 0,
 * MOTE_EINVAL (options with CR or LF in a value, an index name with '/'), MOTE_ESYS (`root` is
 * not a directory that can be opened), or what mote_route() returns. */
int mote_static_dir(mote_server *srv, const char *prefix, const char *root,
                    const mote_static_options *options);

/** A file compiled into the program, as `mote-embed` writes it. */
typedef struct mote_embedded_file {
    const char *path;            /**< below the route's prefix, starting with '/': "/app.js" */
    const char *type;            /**< Content-Type */
    const char *etag;            /**< a strong ETag of the content, quoted: "\"4f2a...\"" */
    const unsigned char *data;   /**< the plain bytes; NULL when only `gzip` is kept */
    size_t len;                  /**< length of the plain bytes (also when `data` is NULL) */
    const unsigned char *gzip;   /**< the gzip bytes, NULL when compression did not help */
    size_t gzip_len;             /**< length of the gzip bytes */
    int64_t mtime;               /**< Last-Modified, seconds since 1970; 0: none sent */
} mote_embedded_file;

/** The files of one folder, sorted by path (strcmp order), as `mote-embed` writes them. */
typedef struct mote_embedded_table {
    const mote_embedded_file *files; /**< sorted by path */
    size_t count;                    /**< entries at `files` */
} mote_embedded_table;

/** Serves `table` at `prefix` (a prefix route), from the read-only memory it is in: no copy and
 * no allocation per request. "/dir/" serves "/dir/index.html" (options->index), "/dir" is 301
 * to "/dir/" when that exists. A file kept only gzip-compressed goes to a client that does not
 * accept gzip decompressed on the fly where zlib is built in (MOTE_CONFIG_STATIC_GUNZIP), else
 * that client gets 406. `table` must outlive the server. Returns 0 or what mote_route()
 * returns; MOTE_EINVAL for a table out of order or with CR or LF in a type or ETag, or for
 * options as mote_static_dir() refuses them. */
int mote_static_embedded(mote_server *srv, const char *prefix, const mote_embedded_table *table,
                         const mote_static_options *options);

/** The Content-Type of a file name from its extension: `types` (may be NULL) first, then the
 * built-in table of the common web types; "application/octet-stream" when neither knows it. */
const char *mote_mime_type_of(const char *name, const mote_mime_type *types, size_t type_count);

#ifdef __cplusplus
}
#endif

#endif
