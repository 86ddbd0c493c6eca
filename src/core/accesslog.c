/* accesslog.c - see accesslog.h. MOTE_CONFIG_ACCESS_LINES 0 leaves it out. */
#include "core/accesslog.h"

#include <string.h>

#include "core/chars.h"
#include "core/httpdate.h"
#include "mote.h"

#if MOTE_CONFIG_ACCESS_LINES
#define FIELD_MAX 768 /* bytes one field may take in a line before it is cut short */

/* A bounded writer: never past size - 1, always NUL-terminated. */
typedef struct writer {
    char *p;
    size_t len, size;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    size_t room = w->size - 1 - w->len;
    if (n > room) n = room;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void put_str(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_u64(writer *w, uint64_t v)
{
    char digits[20];
    put(w, digits, (size_t)(decimal_write(digits, v) - digits));
}

/* "0.153" milliseconds from microseconds */
static void put_ms(writer *w, uint64_t micros)
{
    char frac[4] = {'.', (char)('0' + micros / 100 % 10), (char)('0' + micros / 10 % 10),
                    (char)('0' + micros % 10)};
    put_u64(w, micros / 1000);
    put(w, frac, 4);
}

/* A field inside double quotes: '"', '\' and bytes outside printable ASCII as \xHH (as nginx
 * does), or JSON's escapes (bytes above 0x7F read as Latin-1, so the line is valid JSON). */
static void put_quoted(writer *w, const char *s, int json)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = w->len;
    put(w, "\"", 1);
    for (i = 0; s[i] && w->len - start < FIELD_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            put(w, (const char *)&c, 1);
        } else if (json && (c == '"' || c == '\\')) {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
        } else if (json) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, esc, 6);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            put(w, esc, 4);
        }
    }
    if (s[i]) put(w, "...", 3);
    put(w, "\"", 1);
}

/* GET /index.html HTTP/1.1, or "-" when no valid request was read */
static void put_request_line(writer *w, const access_entry *e)
{
    char line[FIELD_MAX + 32];
    size_t n;
    if (!e->method) {
        put_str(w, "\"-\"");
        return;
    }
    n = strlen(e->method);
    if (n > 32) n = 32;
    memcpy(line, e->method, n);
    line[n++] = ' ';
    line[n] = '\0';
    strncat(line, e->target, FIELD_MAX);
    strcat(line, e->version == 10 ? " HTTP/1.0" : e->version == 20 ? " HTTP/2.0" : " HTTP/1.1");
    put_quoted(w, line, 0);
}

static void put_common(writer *w, const access_entry *e)
{
    char date[CLFDATE_LEN + 1];
    httpdate_clf(date, e->unix_seconds);
    put_str(w, e->address);
    put_str(w, " - - [");
    put_str(w, date);
    put_str(w, "] ");
    put_request_line(w, e);
    put(w, " ", 1);
    put_u64(w, e->status);
    put(w, " ", 1);
    if (e->bytes) put_u64(w, e->bytes);
    else put(w, "-", 1);
}

static void put_optional(writer *w, const char *s, int json)
{
    if (s) put_quoted(w, s, json);
    else put_str(w, json ? "null" : "\"-\"");
}

static void put_json(writer *w, const access_entry *e)
{
    char date[ISODATE_LEN + 1];
    httpdate_iso(date, e->unix_seconds);
    put_str(w, "{\"time\":\"");
    put_str(w, date);
    put_str(w, "\",\"remote\":");
    put_quoted(w, e->address, 1);
    put_str(w, ",\"port\":");
    put_u64(w, e->port);
    put_str(w, ",\"method\":");
    put_optional(w, e->method, 1);
    put_str(w, ",\"target\":");
    put_optional(w, e->method ? e->target : NULL, 1);
    put_str(w, ",\"version\":");
    put_str(w, !e->method                ? "null"
               : e->version == 10 ? "\"HTTP/1.0\""
               : e->version == 20 ? "\"HTTP/2.0\""
                                  : "\"HTTP/1.1\"");
    put_str(w, ",\"status\":");
    put_u64(w, e->status);
    put_str(w, ",\"bytes\":");
    put_u64(w, e->bytes);
    put_str(w, ",\"duration_ms\":");
    put_ms(w, e->micros);
    put_str(w, ",\"referer\":");
    put_optional(w, e->referer, 1);
    put_str(w, ",\"user_agent\":");
    put_optional(w, e->user_agent, 1);
    put(w, "}", 1);
}

/* 127.0.0.1:50000 "GET / HTTP/1.1" 200 12 0.153ms */
static void put_mote(writer *w, const access_entry *e)
{
    if (e->ipv6) put(w, "[", 1);
    put_str(w, e->address);
    put_str(w, e->ipv6 ? "]:" : ":");
    put_u64(w, e->port);
    put(w, " ", 1);
    put_request_line(w, e);
    put(w, " ", 1);
    put_u64(w, e->status);
    put(w, " ", 1);
    put_u64(w, e->bytes);
    put(w, " ", 1);
    put_ms(w, e->micros);
    put_str(w, "ms");
}

size_t access_log_line(char *out, size_t size, int format, const access_entry *e)
{
    writer w = {out, 0, size};
    if (size == 0) return 0;
    out[0] = '\0';
    switch (format) {
    case MOTE_ACCESS_LOG_COMMON:
        put_common(&w, e);
        break;
    case MOTE_ACCESS_LOG_COMBINED:
        put_common(&w, e);
        put(&w, " ", 1);
        put_optional(&w, e->referer, 0);
        put(&w, " ", 1);
        put_optional(&w, e->user_agent, 0);
        break;
    case MOTE_ACCESS_LOG_JSON:
        put_json(&w, e);
        break;
    case MOTE_ACCESS_LOG_MOTE:
        put_mote(&w, e);
        break;
    default:
        break;
    }
    return w.len;
}
#else
typedef int mote_no_access_lines; /* MOTE_CONFIG_ACCESS_LINES 0: ISO C wants a declaration */
#endif
