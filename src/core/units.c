/*
 * units.c — durations ("500ms", "10s", "5m", "2h", "7d", bare seconds) and sizes ("1MiB",
 * "64KB", bare bytes) as written on the command line. Strict: no sign, no space, no
 * fraction, no overflow — a typo in a flag must stop the program, not change its meaning.
 */
#include "hookd.h"

#include <string.h>

/* Reads leading decimal digits into *value; returns how many, or 0 on none/overflow. */
static size_t read_number(const char *text, uint64_t *value)
{
    uint64_t v = 0;
    size_t n = 0;

    while (text[n] >= '0' && text[n] <= '9') {
        unsigned digit = (unsigned)(text[n] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
        n++;
    }
    *value = v;
    return n;
}

/* Multiplies with an overflow check against limit. */
static bool scale(uint64_t value, uint64_t factor, uint64_t limit, uint64_t *out)
{
    if (factor != 0 && value > limit / factor)
        return false;
    *out = value * factor;
    return true;
}

/* A number followed by one of the suffixes, scaled by that suffix's factor; false when the
 * suffix is unknown or the result would exceed max. */
typedef struct unit {
    const char *suffix;
    uint64_t factor;
} unit;

static bool parse_with_units(const char *text, const unit *units, size_t count, uint64_t max,
                             uint64_t *result)
{
    uint64_t value;
    size_t n = text ? read_number(text, &value) : 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < count; i++)
        if (strcmp(text + n, units[i].suffix) == 0)
            return scale(value, units[i].factor, max, result);
    return false;
}

int hookd_duration_parse(const char *text, int64_t *milliseconds)
{
    static const unit units[] = {{"", 1000},   {"ms", 1},      {"s", 1000},
                                 {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    uint64_t result = 0;
    *milliseconds = 0;
    if (!parse_with_units(text, units, sizeof units / sizeof units[0], INT64_MAX, &result))
        return HOOKD_EINVAL;
    *milliseconds = (int64_t)result;
    return HOOKD_OK;
}

int hookd_size_parse(const char *text, uint64_t *bytes)
{
    static const unit units[] = {{"", 1},
                                 {"B", 1},
                                 {"KiB", 1024},
                                 {"MiB", 1024 * 1024},
                                 {"GiB", 1024 * 1024 * 1024},
                                 {"KB", 1000},
                                 {"kB", 1000},
                                 {"MB", 1000 * 1000},
                                 {"GB", 1000 * 1000 * 1000}};
    *bytes = 0;
    if (!parse_with_units(text, units, sizeof units / sizeof units[0], UINT64_MAX, bytes))
        return HOOKD_EINVAL;
    return HOOKD_OK;
}

int hookd_duration_list_parse(const char *text, int64_t *milliseconds, size_t max, size_t *count)
{
    char item[64];
    const char *start = text;

    *count = 0;
    if (text == NULL || *text == '\0')
        return HOOKD_EINVAL;
    for (;;) {
        const char *end = strchr(start, ',');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
        int rc;

        if (len == 0 || len >= sizeof item || *count >= max) {
            *count = 0;
            return HOOKD_EINVAL;
        }
        memcpy(item, start, len);
        item[len] = '\0';
        rc = hookd_duration_parse(item, &milliseconds[*count]);
        if (rc != HOOKD_OK) {
            *count = 0;
            return rc;
        }
        (*count)++;
        if (end == NULL)
            return HOOKD_OK;
        start = end + 1;
    }
}
