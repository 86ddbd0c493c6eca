/* printf.c - the printf family for the Cortex-M4 test builds. Debian's newlib is built without
 * C99 formats (no %zu, %jd, %hhd), which the tests use; these definitions take the place of
 * newlib's at link time. Enough for the tests: flags "-0+ #", width and precision (also "*"),
 * lengths hh h l ll z j t, conversions d i u x X o c s p %. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct sink {
    char *buf;
    size_t size, len; /* len counts every byte, also those that did not fit */
} sink;

static void emit(sink *s, char c)
{
    if (s->len + 1 < s->size) s->buf[s->len] = c;
    s->len++;
}

static void emit_n(sink *s, char c, int n)
{
    while (n-- > 0) emit(s, c);
}

typedef struct spec {
    int left, zero, plus, space, alt, width, precision;
} spec;

/* Digits of v in `base` into the end of tmp; returns where they start. */
static char *digits(char *end, uintmax_t v, unsigned base, int upper)
{
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        *--end = set[v % base];
        v /= base;
    } while (v);
    return end;
}

static void emit_number(sink *s, const spec *f, uintmax_t v, int negative, unsigned base,
                        int upper)
{
    char tmp[72], *end = tmp + sizeof tmp, *p = digits(end, v, base, upper);
    const char *prefix = negative ? "-" : f->plus ? "+" : f->space ? " " : "";
    int n = (int)(end - p), zeros = 0, pad;
    if (f->precision >= 0) {
        if (f->precision == 0 && v == 0) n = 0, p = end;
        if (f->precision > n) zeros = f->precision - n;
    }
    if (f->alt && base == 16 && v) prefix = upper ? "0X" : "0x";
    if (f->alt && base == 8 && !zeros && *p != '0') zeros = 1;
    pad = f->width - n - zeros - (int)strlen(prefix);
    if (f->zero && !f->left && f->precision < 0) zeros += pad > 0 ? pad : 0, pad = 0;
    if (!f->left) emit_n(s, ' ', pad);
    while (*prefix) emit(s, *prefix++);
    emit_n(s, '0', zeros);
    while (p < end) emit(s, *p++);
    if (f->left) emit_n(s, ' ', pad);
}

static void emit_string(sink *s, const spec *f, const char *str)
{
    int n = 0;
    if (!str) str = "(null)";
    while (str[n] && (f->precision < 0 || n < f->precision)) n++;
    if (!f->left) emit_n(s, ' ', f->width - n);
    for (int i = 0; i < n; i++) emit(s, str[i]);
    if (f->left) emit_n(s, ' ', f->width - n);
}

static const char *parse_spec(const char *p, spec *f, va_list *ap)
{
    memset(f, 0, sizeof *f);
    f->precision = -1;
    for (;; p++) {
        if (*p == '-') f->left = 1;
        else if (*p == '0') f->zero = 1;
        else if (*p == '+') f->plus = 1;
        else if (*p == ' ') f->space = 1;
        else if (*p == '#') f->alt = 1;
        else break;
    }
    if (*p == '*') {
        f->width = va_arg(*ap, int);
        if (f->width < 0) f->left = 1, f->width = -f->width;
        p++;
    }
    while (*p >= '0' && *p <= '9') f->width = f->width * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        f->precision = 0;
        if (*p == '*') {
            f->precision = va_arg(*ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9') f->precision = f->precision * 10 + (*p++ - '0');
    }
    return p;
}

/* The length modifier at p: 'H' hh, 'h', 'l', 'L' ll, 'z', 'j', 't', or 0. */
static const char *parse_length(const char *p, char *len)
{
    *len = 0;
    if (p[0] == 'h' && p[1] == 'h') *len = 'H', p += 2;
    else if (p[0] == 'l' && p[1] == 'l') *len = 'L', p += 2;
    else if (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't') *len = *p++;
    return p;
}

static intmax_t signed_arg(char len, va_list *ap)
{
    switch (len) {
    case 'L': return va_arg(*ap, long long);
    case 'l': return va_arg(*ap, long);
    case 'z': return (intmax_t)va_arg(*ap, size_t);
    case 'j': return va_arg(*ap, intmax_t);
    case 't': return va_arg(*ap, ptrdiff_t);
    case 'H': return (signed char)va_arg(*ap, int);
    case 'h': return (short)va_arg(*ap, int);
    default: return va_arg(*ap, int);
    }
}

static uintmax_t unsigned_arg(char len, va_list *ap)
{
    switch (len) {
    case 'L': return va_arg(*ap, unsigned long long);
    case 'l': return va_arg(*ap, unsigned long);
    case 'z': return va_arg(*ap, size_t);
    case 'j': return va_arg(*ap, uintmax_t);
    case 't': return (uintmax_t)va_arg(*ap, ptrdiff_t);
    case 'H': return (unsigned char)va_arg(*ap, unsigned);
    case 'h': return (unsigned short)va_arg(*ap, unsigned);
    default: return va_arg(*ap, unsigned);
    }
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap0)
{
    sink s = {buf, size, 0};
    va_list ap;
    va_copy(ap, ap0);
    for (const char *p = fmt; *p; p++) {
        spec f;
        char len, c;
        if (*p != '%') {
            emit(&s, *p);
            continue;
        }
        p = parse_length(parse_spec(p + 1, &f, &ap), &len);
        c = *p;
        if (c == 'd' || c == 'i') {
            intmax_t v = signed_arg(len, &ap);
            emit_number(&s, &f, v < 0 ? (uintmax_t)0 - (uintmax_t)v : (uintmax_t)v, v < 0, 10, 0);
        } else if (c == 'u' || c == 'x' || c == 'X' || c == 'o') {
            unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
            f.plus = f.space = 0;
            emit_number(&s, &f, unsigned_arg(len, &ap), 0, base, c == 'X');
        } else if (c == 'p') {
            f.alt = 1;
            emit_number(&s, &f, (uintptr_t)va_arg(ap, void *), 0, 16, 0);
        } else if (c == 's') {
            emit_string(&s, &f, va_arg(ap, const char *));
        } else if (c == 'c') {
            char one[2] = {(char)va_arg(ap, int), '\0'};
            f.precision = 1;
            emit_string(&s, &f, one);
        } else if (c == '%') {
            emit(&s, '%');
        } else {
            break; /* unknown: stop, as nothing after it can be trusted */
        }
    }
    va_end(ap);
    if (size) buf[s.len < size ? s.len : size - 1] = '\0';
    return (int)s.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vfprintf(FILE *to, const char *fmt, va_list ap)
{
    char line[4096];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    fwrite(line, 1, strlen(line), to);
    return n;
}

int fprintf(FILE *to, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vfprintf(to, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vfprintf(stdout, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *fmt, va_list ap)
{
    return vfprintf(stdout, fmt, ap);
}
