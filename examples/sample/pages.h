/* pages.h - the seed's pages, as mote handlers. */
#ifndef MOTE_SAMPLE_PAGES_H
#define MOTE_SAMPLE_PAGES_H

#include "mote.h"

/* 200 OK with the "404 Not Found" page, streamed chunked: the seed's default handler. */
void page_soft_404(mote_request *req, mote_response *res, void *user);

/* Every received header field, the method, the URL and the machine (user: const char *). */
void page_header_fields(mote_request *req, mote_response *res, void *user);

/* The "It Works!" page. */
void page_it_works(mote_request *req, mote_response *res, void *user);

/* 403 Forbidden and a hard 404 Not Found, with pages in the same style. */
void page_forbidden(mote_request *req, mote_response *res, void *user);
void page_missing(mote_request *req, mote_response *res, void *user);

/* Routes the pages as the seed does (a soft 404 for unknown URLs, /headers and /index.html by
 * prefix) and /forbidden, /missing; `machine` is named by /headers. 0 or a MOTE_E* code. */
int pages_route(mote_server *srv, const char *machine);

#endif
