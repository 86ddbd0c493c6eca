/* httpdate.h - IMF-fixdate (RFC 9110 §5.6.7) from a count of seconds, without the C library's
 * time zone machinery. */
#ifndef MOTE_HTTPDATE_H
#define MOTE_HTTPDATE_H

#include <stdint.h>

#define HTTPDATE_LEN 29

/* Writes "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes, then a NUL) for seconds since 1970. */
void httpdate_format(char out[HTTPDATE_LEN + 1], int64_t unix_seconds);

#endif
