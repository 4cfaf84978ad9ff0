/*
 * fuzz_fields.h — how the fuzz targets whose input is several strings cut it: fields
 * separated by newlines, the last one the rest of the input. Shared by fuzz_verify and
 * fuzz_wire_formats; static, as each target is its own program.
 */
#ifndef HOOKD_FUZZ_FIELDS_H
#define HOOKD_FUZZ_FIELDS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Copies the next newline-terminated field (or the rest) into a malloc'd exact-size string. */
static inline char *fuzz_next_field(const uint8_t **cursor, const uint8_t *end)
{
    const uint8_t *start = *cursor;
    const uint8_t *nl = memchr(start, '\n', (size_t)(end - start));
    size_t len = (size_t)((nl != NULL ? nl : end) - start);
    char *s = malloc(len + 1);

    if (s == NULL)
        abort();
    memcpy(s, start, len);
    s[len] = '\0';
    *cursor = nl != NULL ? nl + 1 : end;
    return s;
}

#endif
