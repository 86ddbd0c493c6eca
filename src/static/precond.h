/* precond.h - conditional requests (RFC 9110 §13): entity-tag lists, HTTP-dates, and the
 * evaluation order of §13.2.2, for a representation with a strong ETag and a modification
 * time. Sans-I/O. */
#ifndef MOTE_PRECOND_H
#define MOTE_PRECOND_H

#include <stddef.h>
#include <stdint.h>

/* The request's conditional fields, NULL where absent (several lines of one field joined with
 * ", " as for any list field). */
typedef struct precond_fields {
    const char *if_match;
    const char *if_none_match;
    const char *if_modified_since;
    const char *if_unmodified_since;
} precond_fields;

typedef enum precond_verdict {
    PRECOND_PROCEED = 0,       /* serve the representation (ranges may still apply) */
    PRECOND_NOT_MODIFIED = 1,  /* 304 */
    PRECOND_FAILED = 2         /* 412 */
} precond_verdict;

/* Evaluates the conditions in §13.2.2's order (If-Match, else If-Unmodified-Since; then
 * If-None-Match, else If-Modified-Since for GET and HEAD) against the current representation:
 * `etag` its strong entity-tag with the quotes ("\"abc\""), `mtime` its Last-Modified in seconds
 * since 1970 or -1 when it has none. `get_or_head` is 1 for GET and HEAD. Malformed date fields
 * are ignored, as §13.1.3 and §13.1.4 require; a malformed entity-tag list matches nothing. */
precond_verdict precond_evaluate(const precond_fields *f, const char *etag, int64_t mtime,
                                 int get_or_head);

/* If-Range (§13.1.5): 1 when the ranges apply (the field's strong entity-tag equals `etag`, or
 * its HTTP-date equals `mtime` exactly; or `value` is NULL: no condition), 0 when the whole
 * representation must be sent. Call it only when the request has a Range field. */
int precond_if_range(const char *value, const char *etag, int64_t mtime);

/* 1 when the entity-tag list `list` ("*" or a comma-separated list of entity-tags) holds `etag`:
 * by strong comparison (`weak` 0: neither may be weak, W/ prefixed) or weak comparison (`weak` 1:
 * opaque-tags equal). "*" matches any. A malformed list matches nothing (0). */
int etag_list_match(const char *list, const char *etag, int weak);

/* Parses an HTTP-date (§5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a
 * recipient must accept) into seconds since 1970: 0, or -1 when it is not one. The `len` bytes
 * must be the date exactly (case-sensitive, no surrounding whitespace). RFC 850's two-digit
 * years are read as 1976-2075 (see precond.c: this layer has no clock). */
int httpdate_parse(const char *s, size_t len, int64_t *out);

#endif
