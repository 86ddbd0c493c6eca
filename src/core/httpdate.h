/* httpdate.h - IMF-fixdate (RFC 9110 §5.6.7), and the access logs' dates, from a count of
 * seconds, without the C library's time zone machinery. */
#ifndef MOTE_HTTPDATE_H
#define MOTE_HTTPDATE_H

#include <stdint.h>

#define HTTPDATE_LEN 29

/* Writes "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes, then a NUL) for seconds since 1970. */
void httpdate_format(char out[HTTPDATE_LEN + 1], int64_t unix_seconds);

#define CLFDATE_LEN 26
#define ISODATE_LEN 20

/* Writes "06/Nov/1994:08:49:37 +0000", the Common Log Format's time (26 bytes, then a NUL). */
void httpdate_clf(char out[CLFDATE_LEN + 1], int64_t unix_seconds);

/* Writes "1994-11-06T08:49:37Z", RFC 3339 in UTC (20 bytes, then a NUL). */
void httpdate_iso(char out[ISODATE_LEN + 1], int64_t unix_seconds);

#endif
