/* accesslog.h - one access-log line per response, in the formats of mote_config.access_log. */
#ifndef MOTE_ACCESSLOG_H
#define MOTE_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "mote.h"

/* Longest line written; longer fields are cut short, ending in "...". */
#define ACCESS_LINE_MAX MOTE_CONFIG_ACCESS_LINE_MAX

typedef struct access_entry {
    const char *address;       /* the peer's address, "127.0.0.1" or "::1" */
    uint16_t port;
    int ipv6;
    const char *method;        /* NULL when no valid request was read */
    const char *target;
    int version;               /* 10 or 11 */
    unsigned status;
    uint64_t bytes;            /* body bytes sent */
    uint64_t micros;           /* from the request's head to its response's end */
    int64_t unix_seconds;      /* when the response ended */
    const char *referer;       /* NULL when absent */
    const char *user_agent;
} access_entry;

/* Writes the line (no newline) for `format`, a MOTE_ACCESS_LOG_* value, into out[0..size),
 * NUL-terminated; returns its length. */
size_t access_log_line(char *out, size_t size, int format, const access_entry *e);

#endif
