/* static.h - what both kinds of static route share: the answer to a GET or HEAD for one
 * representation (validators, the conditions of RFC 9110 §13.2.2, ranges and
 * multipart/byteranges), and the checks of a request target before it names a file. Portable:
 * the bytes come from memory or through a mote_file, never from a system call of its own. */
#ifndef MOTE_STATIC_INTERNAL_H
#define MOTE_STATIC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"
#include "mote_static.h"
#include "static/range.h"

/* One representation of a resource: the plain file or one of its encoded variants. */
typedef struct static_rep {
    const char *type;            /* Content-Type */
    const char *encoding;        /* Content-Encoding, or NULL for the plain bytes */
    const char *etag;            /* strong, quoted */
    int64_t mtime;               /* Last-Modified, or -1: none */
    uint64_t length;             /* bytes of the representation */
    const unsigned char *data;   /* its bytes in memory, or NULL: `file` */
    int data_is_transient;       /* 1: `data` lives only during static_send() (copied out) */
    mote_file file;              /* when there is no `data`; static_send() takes it */
    int vary;                    /* 1: the representation depends on Accept-Encoding */
    /* or made as it is sent (no ranges): starts the body, returns 0 or a MOTE_E* code */
    int (*stream)(mote_request *req, mote_response *res, void *ctx);
    void *stream_ctx;
} static_rep;

struct static_route;

/* Writes `len` bytes of `file` from `off` as one mote_response_write() (MOTE_EAGAIN when they
 * do not fit now): the shell's, for files; NULL where a route has none. */
typedef int (*static_write_file_fn)(mote_response *res, const mote_file *file, uint64_t off,
                                    size_t len);

/* A multipart/byteranges response in progress: held by its request until released. */
typedef struct static_multipart {
    struct static_route *route;      /* NULL: the slot is free */
    byte_range ranges[MOTE_CONFIG_STATIC_MAX_RANGES];
    uint8_t count;                   /* ranges */
    uint8_t at;                      /* the part being written */
    uint8_t in_body;                 /* 0: its head next, 1: its bytes */
    uint64_t done;                   /* bytes of the part's range written */
    uint64_t length;                 /* the representation's */
    const unsigned char *data;
    mote_file file;
    const char *type;
    char boundary[20];
} static_multipart;

/* What a route changes as it serves, one per event loop: loops share routes (workers), and
 * each changes only its own. */
typedef struct static_loop {
    int64_t date_of;                 /* the mtime `date` holds */
    char date[32];                   /* the last Last-Modified formatted, or "" */
    uint32_t boundaries;             /* multipart responses so far: each boundary differs */
    unsigned streams;                /* bodies made as they are sent (gunzip), now */
#if MOTE_CONFIG_STATIC_MULTIPART > 0
    static_multipart multipart[MOTE_CONFIG_STATIC_MULTIPART];
#endif
} static_loop;

/* The state every static route holds (first in the route's own). */
typedef struct static_route {
    const char *cache_control;       /* never NULL */
    const char *index;               /* a directory's page, "" for none */
    mote_handler fallback;           /* a path with no file, or NULL: 404 */
    void *fallback_user;
    static_write_file_fn write_file;
    static_loop *loops;              /* one per event loop of the server */
    unsigned loop_count;
} static_route;

/* Allocates a route's state: `size` bytes (a static_route first, zeroed but for it), the
 * per-loop states and copies of the options' strings, from the server's allocator. NULL when
 * out of memory. */
void *static_route_create(mote_server *srv, size_t size, const mote_static_options *options);

/* Whether a string can be a field's value as it is (no CR or LF): the types, ETags and
 * Cache-Control a route serves are checked once, when it is registered. */
int static_value_is_valid(const char *value);

/* Whether options (may be NULL) can be served as they are: field values without CR or LF, an
 * index page's name without '/', every type entry whole. */
int static_options_are_valid(const mote_static_options *options);

/* The per-loop state of the loop serving `req`. */
static_loop *static_loop_of(static_route *sr, mote_request *req);

/* Whether a request target must not name a file: an encoded '/', '\' or NUL, or a '\', in its
 * path (once decoded they would be separators, or worse, where the route saw none). */
int static_target_is_ambiguous(const mote_request *req);

/* 1 when a path component (between '/') starts with '.': a hidden name. */
int static_path_has_hidden(const char *path, size_t len);

/* Answers a GET or HEAD with `rep`: 412, 304, 416, 206 (one range or multipart/byteranges) or
 * 200. Takes rep->file whatever happens. */
void static_send(mote_request *req, mote_response *res, static_route *sr, static_rep *rep);

/* 301 to the request's path with a '/' added (the query kept). */
void static_redirect_to_dir(mote_request *req, mote_response *res);

/* A short plain-text error: 400, 403, 404, 406, 500, 503. */
void static_error(mote_response *res, int status);

/* A path that names no file: the route's fallback, else 404. */
void static_not_found(mote_request *req, mote_response *res, const static_route *sr);

/* Registers a prefix route at `prefix` (GET and HEAD) whose state `owned` (a static_route first)
 * the route frees, after `release` (may be NULL). */
int static_route_add(mote_server *srv, const char *prefix, mote_handler handler, void *owned,
                     void (*release)(void *owned), const mote_static_options *options);

#endif
