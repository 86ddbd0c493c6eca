/* mime.c - mote_mime_type_of(): a file name's Content-Type from its extension.
 *
 * Text types carry "charset=utf-8", as a browser would otherwise guess from the bytes (the
 * WHATWG encoding sniffing rules) and the web's text is UTF-8. Types that describe their own
 * encoding do not: JSON is always UTF-8 and defines no charset parameter (RFC 8259 §11), and
 * an XML document (SVG included) declares its encoding itself, which a charset would override
 * (RFC 7303 §3.2). JavaScript is text/javascript (RFC 9239), for .js and module .mjs alike. */
#include <stddef.h>
#include <string.h>

#include "mote_static.h"
#include "core/chars.h"

static const char octet_stream[] = "application/octet-stream";

/* Linear: about forty entries, looked up once per response, and no order to keep up. */
static const mote_mime_type builtin_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"}, /* source maps */
    {"webmanifest", "application/manifest+json"},
    {"xml", "application/xml"},
    {"xhtml", "application/xhtml+xml"},
    {"txt", "text/plain; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
};

/* Where the last path segment of `name` starts. */
static const char *last_segment(const char *name, size_t len)
{
    const char *start = name;
    size_t i;
    for (i = 0; i < len; i++)
        if (name[i] == '/') start = name + i + 1;
    return start;
}

/* Whether the segment ends with "." ext, without regard to case, the dot not its first byte:
 * ".bashrc" is a hidden file's name, not an extension. `ext` may hold dots itself ("tar.gz"). */
static int has_extension(const char *segment, size_t len, const char *ext)
{
    size_t n = strlen(ext), i;
    const char *tail;
    if (n == 0 || n + 1 >= len) return 0;
    tail = segment + len - n;
    if (tail[-1] != '.') return 0;
    for (i = 0; i < n; i++)
        if (char_lower((unsigned char)tail[i]) != char_lower((unsigned char)ext[i])) return 0;
    return 1;
}

static const char *find_type(const char *segment, size_t len, const mote_mime_type *types,
                             size_t count)
{
    size_t i;
    for (i = 0; i < count; i++)
        if (types[i].ext && types[i].type && has_extension(segment, len, types[i].ext))
            return types[i].type;
    return NULL;
}

const char *mote_mime_type_of(const char *name, const mote_mime_type *types, size_t type_count)
{
    const char *segment, *type = NULL;
    size_t len;
    if (name == NULL) return octet_stream;
    len = strlen(name);
    segment = last_segment(name, len);
    len -= (size_t)(segment - name);
    if (types) type = find_type(segment, len, types, type_count);
    if (!type)
        type = find_type(segment, len, builtin_types, sizeof builtin_types / sizeof *builtin_types);
    return type ? type : octet_stream;
}
