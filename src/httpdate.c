/* httpdate.c - see httpdate.h. */
#include "httpdate.h"

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

void httpdate_format(char out[HTTPDATE_LEN + 1], int64_t t)
{
    static const char days[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t d = (t >= 0 ? t : t - 86399) / 86400;
    unsigned secs = (unsigned)(t - d * 86400);
    int64_t year;
    unsigned month, day, i;
    unsigned wd = (unsigned)(((d % 7) + 7) % 7);

    civil_from_days(d, &year, &month, &day);
    if (year < 0) year = 0;
    if (year > 9999) year = 9999;
    for (i = 0; i < 3; i++) out[i] = days[wd][i];
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, day);
    out[7] = ' ';
    for (i = 0; i < 3; i++) out[8 + i] = months[month - 1][i];
    out[11] = ' ';
    put2(out + 12, (unsigned)(year / 100));
    put2(out + 14, (unsigned)(year % 100));
    out[16] = ' ';
    put2(out + 17, secs / 3600);
    out[19] = ':';
    put2(out + 20, secs / 60 % 60);
    out[22] = ':';
    put2(out + 23, secs % 60);
    for (i = 0; i < 4; i++) out[25 + i] = " GMT"[i];
    out[HTTPDATE_LEN] = '\0';
}
