/* retry.c — the delay before the next attempt: listed waits, ±10% jitter, and the parser of
 * the Retry-After header that may lengthen it. */
#include "retry.h"

#include "hookd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int retry_policy_parse(retry_policy *policy, const char *text)
{
    memset(policy, 0, sizeof *policy);
    if (!text)
        return HOOKD_EINVAL;
    size_t count = 0;
    int rc = hookd_duration_list_parse(text, policy->delays_ms, RETRY_MAX_DELAYS, &count);
    if (rc != 0 || count == 0)
        return HOOKD_EINVAL;
    policy->count = count;
    for (size_t i = 0; i < count; i++)
        if (policy->delays_ms[i] > policy->longest_ms)
            policy->longest_ms = policy->delays_ms[i];
    return 0;
}

int64_t retry_delay_ms(const retry_policy *policy, int attempt, int64_t retry_after_ms,
                       double jitter)
{
    if (policy->count == 0)
        return 0;
    size_t index = attempt <= 2 ? 0 : (size_t)(attempt - 2);
    if (index >= policy->count)
        index = policy->count - 1;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999999;
    double base = (double)policy->delays_ms[index];
    int64_t delay = (int64_t)(base * (0.9 + 0.2 * jitter));
    if (retry_after_ms > delay) {
        delay = retry_after_ms;
        if (delay > policy->longest_ms)
            delay = policy->longest_ms;
    }
    return delay < 0 ? 0 : delay;
}

double retry_jitter(void)
{
    return (double)arc4random_uniform(1000000) / 1000000.0;
}

/* ---- Retry-After ---- */

/* The month (1-12) of a three-letter English name, case-sensitive as RFC 9110 says; 0 if
 * none. */
static int month_number(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int m = 0; m < 12; m++)
        if (strncmp(s, names + 3 * m, 3) == 0)
            return m + 1;
    return 0;
}

/* True when s starts with a three-letter day name ("Mon"); *long_len gets the length of the
 * full name ("Monday") when s starts with that too, else 0. */
static bool day_name(const char *s, size_t *long_len)
{
    static const char *const names[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
    for (size_t d = 0; d < 7; d++) {
        if (strncmp(s, names[d], 3) == 0) {
            size_t len = strlen(names[d]);
            *long_len = strncmp(s, names[d], len) == 0 ? len : 0;
            return true;
        }
    }
    return false;
}

/* Unix seconds of a date given as text fields: year (4 characters), day (2) and hms
 * ("HH:MM:SS"). The strict timestamp parser of the core checks the digits and the calendar;
 * it refuses a leap second, which HTTP-dates may carry: :60 is read as :59 plus one. */
static bool date_seconds(const char *year, int month, const char *day, const char *hms,
                         int64_t *unix_s)
{
    char text[HOOKD_TIMESTAMP_LEN + 2];
    bool leap_second = hms[6] == '6' && hms[7] == '0';

    if (month == 0 ||
        snprintf(text, sizeof text, "%.4s-%02d-%.2sT%.6s%.2sZ", year, month, day, hms,
                 leap_second ? "59" : hms + 6) != HOOKD_TIMESTAMP_LEN ||
        hookd_timestamp_parse(text, unix_s) != HOOKD_OK)
        return false;
    *unix_s += leap_second;
    return true;
}

/* The three forms of RFC 9110 §5.6.7, each at fixed positions after the day name. now_s
 * places RFC 850's two-digit year: one more than 50 years ahead is in the past century. */
static bool http_date(const char *s, size_t len, int64_t now_s, int64_t *unix_s)
{
    size_t long_len;

    if (len < 3 || !day_name(s, &long_len))
        return false;
    if (len == 29 && memcmp(s + 3, ", ", 2) == 0 && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
        memcmp(s + 25, " GMT", 4) == 0) /* Sun, 06 Nov 1994 08:49:37 GMT */
        return date_seconds(s + 12, month_number(s + 8), s + 5, s + 17, unix_s);
    if (len == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
        /* Sun Nov  6 08:49:37 1994: the day is padded with a space */
        char day[2] = {s[8] == ' ' ? '0' : s[8], s[9]};
        return date_seconds(s + 20, month_number(s + 4), day, s + 11, unix_s);
    }
    if (long_len != 0 && len == long_len + 24 && memcmp(s + long_len, ", ", 2) == 0) {
        const char *p = s + long_len + 2; /* 06-Nov-94 08:49:37 GMT */
        int64_t this_year = 1970 + now_s / 31556952;
        char year[5];
        int yy;
        if (p[2] != '-' || p[6] != '-' || p[9] != ' ' || memcmp(p + 18, " GMT", 4) != 0 ||
            p[7] < '0' || p[7] > '9' || p[8] < '0' || p[8] > '9')
            return false;
        yy = 2000 + (p[7] - '0') * 10 + (p[8] - '0');
        if (yy > this_year + 50)
            yy -= 100;
        snprintf(year, sizeof year, "%d", yy);
        return date_seconds(year, month_number(p + 3), p, p + 10, unix_s);
    }
    return false;
}

int retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms)
{
    const int64_t max_s = RETRY_AFTER_MAX_MS / 1000;
    size_t start = 0, end, n;
    int64_t when_s;

    *delay_ms = -1;
    if (value == NULL)
        return HOOKD_EINVAL;
    end = strlen(value);
    while (start < end && (value[start] == ' ' || value[start] == '\t'))
        start++;
    while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
        end--;
    n = end - start;
    value += start;
    if (n > 0 && strspn(value, "0123456789") >= n) {
        int64_t seconds = 0;
        /* Stops once past the cap: a thousand-digit value cannot overflow. */
        for (size_t i = 0; i < n && seconds <= max_s; i++)
            seconds = seconds * 10 + (value[i] - '0');
        *delay_ms = (seconds > max_s ? max_s : seconds) * 1000;
        return 0;
    }
    if (!http_date(value, n, now_ms / 1000, &when_s))
        return HOOKD_EINVAL;
    /* when_s is within years 0000-9999, so when_s * 1000 fits; now_ms may be anything. */
    if (now_ms >= when_s * 1000)
        *delay_ms = 0;
    else if ((uint64_t)(when_s * 1000) - (uint64_t)now_ms > (uint64_t)RETRY_AFTER_MAX_MS)
        *delay_ms = RETRY_AFTER_MAX_MS;
    else
        *delay_ms = when_s * 1000 - now_ms;
    return 0;
}
