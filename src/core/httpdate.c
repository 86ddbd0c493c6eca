/* httpdate.c - see httpdate.h. */
#include "core/httpdate.h"

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to a proleptic Gregorian date, by 400-year eras (each 146097 days). */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* A moment split into its UTC calendar fields, years clamped to 0..9999. */
typedef struct civil {
    unsigned year, month, day, weekday, hour, minute, second;
} civil;

static civil civil_from_seconds(int64_t t)
{
    int64_t d = (t >= 0 ? t : t - 86399) / 86400, year;
    unsigned secs = (unsigned)(t - d * 86400);
    civil c;
    civil_from_days(d, &year, &c.month, &c.day);
    c.year = (unsigned)(year < 0 ? 0 : year > 9999 ? 9999 : year);
    c.weekday = (unsigned)(((d % 7) + 7) % 7); /* 0 is a Thursday, as 1970-01-01 was */
    c.hour = secs / 3600;
    c.minute = secs / 60 % 60;
    c.second = secs % 60;
    return c;
}

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put_text(char *p, const char *s, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) p[i] = s[i];
}

static void put4(char *p, unsigned v)
{
    put2(p, v / 100);
    put2(p + 2, v % 100);
}

/* "08:49:37" */
static void put_time(char *p, const civil *c)
{
    put2(p, c->hour);
    p[2] = ':';
    put2(p + 3, c->minute);
    p[5] = ':';
    put2(p + 6, c->second);
}

void httpdate_format(char out[HTTPDATE_LEN + 1], int64_t t)
{
    static const char days[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    civil c = civil_from_seconds(t);
    put_text(out, days[c.weekday], 3);
    put_text(out + 3, ", ", 2);
    put2(out + 5, c.day);
    out[7] = ' ';
    put_text(out + 8, month_names[c.month - 1], 3);
    out[11] = ' ';
    put4(out + 12, c.year);
    out[16] = ' ';
    put_time(out + 17, &c);
    put_text(out + 25, " GMT", 4);
    out[HTTPDATE_LEN] = '\0';
}

void httpdate_clf(char out[CLFDATE_LEN + 1], int64_t t)
{
    civil c = civil_from_seconds(t);
    put2(out, c.day);
    out[2] = '/';
    put_text(out + 3, month_names[c.month - 1], 3);
    out[6] = '/';
    put4(out + 7, c.year);
    out[11] = ':';
    put_time(out + 12, &c);
    put_text(out + 20, " +0000", 6);
    out[CLFDATE_LEN] = '\0';
}

void httpdate_iso(char out[ISODATE_LEN + 1], int64_t t)
{
    civil c = civil_from_seconds(t);
    put4(out, c.year);
    out[4] = '-';
    put2(out + 5, c.month);
    out[7] = '-';
    put2(out + 8, c.day);
    out[10] = 'T';
    put_time(out + 11, &c);
    out[19] = 'Z';
    out[ISODATE_LEN] = '\0';
}
