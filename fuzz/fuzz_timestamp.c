/*
 * fuzz_timestamp.c — libFuzzer target for hookd_timestamp_parse (the X-Webhook-Timestamp a
 * receiver reads off the wire) and hookd_timestamp_format.
 *
 * Invariants checked besides the sanitizers:
 *   - an accepted timestamp is canonical: formatting its value gives back the same 20 bytes;
 *   - its value agrees with an independent civil-date computation (no timegm involved);
 *   - the first 8 input bytes, read as Unix seconds, format to a string that parses back to
 *     the same value whenever formatting succeeds, and formatting succeeds for every second
 *     of years 0000–9999 as the header promises.
 */
#include "hookd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIRST_SECOND -62167219200LL /* 0000-01-01T00:00:00Z */
#define LAST_SECOND 253402300799LL  /* 9999-12-31T23:59:59Z */

static void die(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_timestamp: %s: '%s'\n", what, text);
    abort();
}

/* Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t field(const char *text, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (text[i] - '0');
    return v;
}

static void check_parse(const char *text)
{
    char out[HOOKD_TIMESTAMP_LEN + 1];
    int64_t t = 1, expected;

    if (hookd_timestamp_parse(text, &t) != HOOKD_OK) {
        if (t != 0)
            die("rejected timestamp left a value", text);
        return;
    }
    expected = days_from_civil(field(text, 4), field(text + 5, 2), field(text + 8, 2)) * 86400 +
               field(text + 11, 2) * 3600 + field(text + 14, 2) * 60 + field(text + 17, 2);
    if (t != expected)
        die("parsed to the wrong second", text);
    if (hookd_timestamp_format(t, out) != HOOKD_OK)
        die("accepted timestamp does not format", text);
    if (strcmp(out, text) != 0)
        die("accepted timestamp is not canonical", text);
}

static void check_format(int64_t t)
{
    char out[HOOKD_TIMESTAMP_LEN + 1];
    char shown[32];
    int64_t back;
    int rc = hookd_timestamp_format(t, out);

    snprintf(shown, sizeof shown, "%lld", (long long)t);
    if (rc != HOOKD_OK) {
        if (out[0] != '\0')
            die("failed format left text", shown);
        if (t >= FIRST_SECOND && t <= LAST_SECOND)
            die("a second of years 0000-9999 does not format", shown);
        return;
    }
    if (strlen(out) != HOOKD_TIMESTAMP_LEN)
        die("formatted to the wrong length", shown);
    if (hookd_timestamp_parse(out, &back) != HOOKD_OK || back != t)
        die("formatted timestamp does not parse back", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    int64_t t;

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    check_parse(text);
    free(text);

    if (size >= sizeof t) {
        memcpy(&t, data, sizeof t);
        check_format(t);
        /* Also near the supported range, where raw 8-byte values rarely land. */
        check_format(FIRST_SECOND +
                     (int64_t)((uint64_t)t % (uint64_t)(LAST_SECOND - FIRST_SECOND + 3)) - 1);
    }
    return 0;
}
