/*
 * fuzz_units.c — libFuzzer target for hookd_duration_parse, hookd_size_parse and
 * hookd_duration_list_parse: flag values (--tolerance 5m, --max-body 1MiB,
 * --retry-delays 10s,1m) and the same forms where they arrive over the API.
 *
 * Each result is compared with a slow reference computed in 128-bit arithmetic, so an
 * overflow, a sign, a space or an unknown suffix that slips through shows up as a mismatch.
 */
#include "hookd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIST_MAX 8

static void die(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_units: %s: '%.2000s'\n", what, text);
    abort();
}

/* Digits then a suffix from table; the value times the suffix's factor, or -1 if invalid
 * or above limit. */
static __int128 reference(const char *text, const char *const *suffixes, const uint64_t *factors,
                          size_t n, unsigned __int128 limit)
{
    unsigned __int128 value = 0;
    size_t digits = 0;

    while (text[digits] >= '0' && text[digits] <= '9') {
        value = value * 10 + (unsigned)(text[digits] - '0');
        if (value > limit)
            value = limit + 1; /* saturate: still "too big" */
        digits++;
    }
    if (digits == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(text + digits, suffixes[i]) == 0) {
            unsigned __int128 result = value * factors[i];
            return result > limit ? -1 : (__int128)result;
        }
    }
    return -1;
}

static __int128 duration_reference(const char *text)
{
    static const char *const suffixes[] = {"", "ms", "s", "m", "h", "d"};
    static const uint64_t factors[] = {1000, 1, 1000, 60000, 3600000, 86400000};
    return reference(text, suffixes, factors, 6, INT64_MAX);
}

static __int128 size_reference(const char *text)
{
    static const char *const suffixes[] = {"", "B", "KiB", "MiB", "GiB", "KB", "kB", "MB", "GB"};
    static const uint64_t factors[] = {1,    1,    1024,    1048576,   1073741824,
                                       1000, 1000, 1000000, 1000000000};
    return reference(text, suffixes, factors, 9, UINT64_MAX);
}

static void check_duration(const char *text)
{
    int64_t ms = 1;
    int rc = hookd_duration_parse(text, &ms);
    __int128 want = duration_reference(text);

    if (want < 0 ? rc != HOOKD_EINVAL || ms != 0 : rc != HOOKD_OK || ms != (int64_t)want)
        die("duration differs from the reference", text);
}

static void check_size(const char *text)
{
    uint64_t bytes = 1;
    int rc = hookd_size_parse(text, &bytes);
    __int128 want = size_reference(text);

    if (want < 0 ? rc != HOOKD_EINVAL || bytes != 0 : rc != HOOKD_OK || bytes != (uint64_t)want)
        die("size differs from the reference", text);
}

/* The list is valid when it has 1..max items, each under 64 bytes and a valid duration. */
static void check_list(const char *text, size_t max)
{
    int64_t got[LIST_MAX + 1];
    int64_t want[LIST_MAX + 1];
    size_t count = 99, want_count = 0;
    bool ok = *text != '\0';
    const char *start = text;
    int rc;

    got[max] = 0x5a5a5a5a; /* must not be written */
    rc = hookd_duration_list_parse(text, got, max, &count);
    while (ok) {
        const char *comma = strchr(start, ',');
        size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
        char item[64];
        __int128 v;

        if (len == 0 || len >= sizeof item || want_count >= max) {
            ok = false;
            break;
        }
        memcpy(item, start, len);
        item[len] = '\0';
        v = duration_reference(item);
        if (v < 0) {
            ok = false;
            break;
        }
        want[want_count++] = (int64_t)v;
        if (comma == NULL)
            break;
        start = comma + 1;
    }
    if (got[max] != 0x5a5a5a5a)
        die("list wrote past max", text);
    if (!ok) {
        if (rc == HOOKD_OK || count != 0)
            die("bad list accepted", text);
        return;
    }
    if (rc != HOOKD_OK || count != want_count)
        die("good list refused", text);
    for (size_t i = 0; i < count; i++)
        if (got[i] != want[i])
            die("list item differs", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    check_duration(text);
    check_size(text);
    check_list(text, size % (LIST_MAX + 1));
    check_list(text, LIST_MAX);
    free(text);
    return 0;
}
