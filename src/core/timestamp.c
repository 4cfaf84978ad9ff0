/*
 * timestamp.c — strict YYYY-MM-DDTHH:MM:SSZ timestamps (SPEC §1), always UTC.
 *
 * Parsing is deliberately narrow: exactly 20 characters, digits where digits belong, a real
 * calendar date (leap years included), no offset, no fraction, no leap second. A receiver
 * that accepted looser forms would sign-check strings the sender never produced.
 */
#include "hookd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int hookd_timestamp_format(int64_t unix_seconds, char *out)
{
    struct tm tm;
    time_t t = (time_t)unix_seconds;

    out[0] = '\0';
    if ((int64_t)t != unix_seconds || gmtime_r(&t, &tm) == NULL)
        return HOOKD_EINVAL;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return HOOKD_EINVAL;
    /* Not strftime (glibc's %Y does not pad years 0-999 to four digits), nor snprintf: the
     * receiver formats one per webhook, and a printf costs ten times these digit writes. */
    const int fields[6] = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                           tm.tm_hour,        tm.tm_min,     tm.tm_sec};
    static const char after[6] = {'-', '-', 'T', ':', ':', 'Z'};
    char *at = out;
    for (int i = 0; i < 6; i++) {
        int v = fields[i];
        if (i == 0) {
            *at++ = (char)('0' + v / 1000);
            *at++ = (char)('0' + v / 100 % 10);
        }
        *at++ = (char)('0' + v / 10 % 10);
        *at++ = (char)('0' + v % 10);
        *at++ = after[i];
    }
    *at = '\0';
    return HOOKD_OK;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil): what timegm computes for a valid UTC date, without its normalisation
 * (the receiver parses two timestamps per webhook; timegm was most of their cost). */
static int64_t days_from_civil(int year, int month, int day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads n ASCII digits at text into *value; false if any is not a digit. */
static bool read_digits(const char *text, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (text[i] - '0');
    }
    *value = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int hookd_timestamp_parse(const char *text, int64_t *unix_seconds)
{
    int year, month, day, hour, minute, second;

    *unix_seconds = 0;
    if (text == NULL || strlen(text) != HOOKD_TIMESTAMP_LEN)
        return HOOKD_ETIMESTAMP;
    if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
        text[19] != 'Z')
        return HOOKD_ETIMESTAMP;
    if (!read_digits(text, 4, &year) || !read_digits(text + 5, 2, &month) ||
        !read_digits(text + 8, 2, &day) || !read_digits(text + 11, 2, &hour) ||
        !read_digits(text + 14, 2, &minute) || !read_digits(text + 17, 2, &second))
        return HOOKD_ETIMESTAMP;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 59)
        return HOOKD_ETIMESTAMP;
    *unix_seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return HOOKD_OK;
}
