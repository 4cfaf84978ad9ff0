/*
 * fuzz_retry_after.c — libFuzzer target for retry_after_parse (src/retry.c): the Retry-After
 * header of a destination's 429 or 503 answer, bytes chosen by whoever runs that server.
 *
 * Input: 8 bytes of the clock (Unix ms, any int64), then the header value. Beyond "no crash,
 * no overflow" (UBSan), each result must hold these invariants:
 *   - accepted: 0 <= delay <= RETRY_AFTER_MAX_MS; refused: HOOKD_EINVAL and delay -1;
 *   - surrounding spaces and tabs change nothing;
 *   - a value of digits only is always accepted, its delay min(value, cap) in ms;
 *   - a date's delay never grows as the clock moves on;
 *   - an accepted IMF-fixdate gives exactly what glibc's strptime + timegm give.
 */
#include "hookd.h"
#include "retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VALUE_MAX 256 /* http_client.c passes at most 127 bytes */

static void die(const char *what, const char *value)
{
    fprintf(stderr, "fuzz_retry_after: %s: '%s'\n", what, value);
    abort();
}

/* The delay of a digits-only value, computed the slow way. */
static int64_t digits_reference(const char *value)
{
    unsigned __int128 seconds = 0;
    for (const char *p = value; *p; p++) {
        seconds = seconds * 10 + (unsigned)(*p - '0');
        if (seconds > RETRY_AFTER_MAX_MS)
            seconds = RETRY_AFTER_MAX_MS; /* saturate: already past the cap */
    }
    return seconds * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (int64_t)seconds * 1000;
}

/* Checks an accepted IMF-fixdate against strptime + timegm; the clock is now_ms. */
static void check_imf(const char *value, int64_t now_ms, int64_t delay)
{
    struct tm tm;
    const char *end;
    __int128 expected;

    memset(&tm, 0, sizeof tm);
    end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0' || tm.tm_sec == 60)
        return; /* strptime is looser in places and stricter about leap seconds: no oracle */
    expected = (__int128)timegm(&tm) * 1000 - now_ms;
    if (expected < 0)
        expected = 0;
    if (expected > RETRY_AFTER_MAX_MS)
        expected = RETRY_AFTER_MAX_MS;
    if (expected != delay)
        die("IMF-fixdate differs from strptime + timegm", value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char value[VALUE_MAX + 1], padded[VALUE_MAX + 5];
    int64_t now_ms, delay, again;
    size_t len;
    int rc;

    if (size < sizeof now_ms)
        return 0;
    memcpy(&now_ms, data, sizeof now_ms);
    len = size - sizeof now_ms;
    if (len > VALUE_MAX || memchr(data + sizeof now_ms, '\0', len) != NULL)
        return 0; /* a header value has no NUL and the caller caps its length */
    memcpy(value, data + sizeof now_ms, len);
    value[len] = '\0';

    rc = retry_after_parse(value, now_ms, &delay);
    if (rc != 0 && (rc != HOOKD_EINVAL || delay != -1))
        die("refused without HOOKD_EINVAL and -1", value);
    if (rc == 0 && (delay < 0 || delay > RETRY_AFTER_MAX_MS))
        die("delay out of [0, cap]", value);

    snprintf(padded, sizeof padded, " \t%s\t ", value);
    if (retry_after_parse(padded, now_ms, &again) != rc || again != delay)
        die("surrounding whitespace changed the result", value);

    if (len > 0 && strspn(value, "0123456789") == len) {
        if (rc != 0 || delay != digits_reference(value))
            die("delta-seconds misread", value);
        return 0;
    }
    if (rc != 0)
        return 0;
    if (now_ms <= INT64_MAX - 1000 &&
        (retry_after_parse(value, now_ms + 1000, &again) != 0 || again > delay))
        die("a date's delay grew as the clock moved on", value);
    if (len == 29)
        check_imf(value, now_ms, delay);
    return 0;
}
