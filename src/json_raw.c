/*
 * json_raw.c — the byte scanner behind json_raw_member (see json_raw.h). Every index is
 * checked against len before it is read, so the scanner is safe on text no parser has
 * seen; on valid JSON it walks strings (escapes included), nested objects and arrays, and
 * bare literals exactly as a parser would delimit them.
 */
#include "json_raw.h"

#include <string.h>

static size_t json_raw_skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is '"': returns the index just past the closing quote, or len when unterminated. */
static size_t json_raw_skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++; /* the escaped byte; a final backslash leaves i == len, ending the loop */
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* s[i] opens an object or array: returns the index just past its matching close, or len. */
static size_t json_raw_skip_nested(const char *s, size_t i, size_t len)
{
    size_t depth = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            i = json_raw_skip_string(s, i, len);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth > 0)
            depth--;
        i++;
        if (depth == 0)
            return i;
    }
    return len;
}

/* Returns the index just past the value starting at s[i] (i < len). */
static size_t json_raw_skip_value(const char *s, size_t i, size_t len)
{
    if (s[i] == '"')
        return json_raw_skip_string(s, i, len);
    if (s[i] == '{' || s[i] == '[')
        return json_raw_skip_nested(s, i, len);
    while (i < len && !strchr(",}] \t\r\n", s[i]))
        i++; /* a number, true, false or null; a NUL byte also ends it (strchr finds it) */
    return i;
}

bool json_raw_member(const char *s, size_t len, const char *key, const char **value,
                     size_t *value_len)
{
    size_t klen = strlen(key);
    size_t i = json_raw_skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return false;
    i++;
    for (;;) {
        i = json_raw_skip_ws(s, i, len);
        if (i >= len || s[i] != '"')
            return false;
        size_t kstart = i + 1;
        i = json_raw_skip_string(s, i, len);
        /* i is past the closing quote only when the name was terminated */
        bool match = i > kstart && s[i - 1] == '"' && i - 1 - kstart == klen &&
                     memcmp(s + kstart, key, klen) == 0;
        i = json_raw_skip_ws(s, i, len);
        if (i >= len || s[i] != ':')
            return false;
        i = json_raw_skip_ws(s, i + 1, len);
        if (i >= len)
            return false;
        size_t vstart = i;
        i = json_raw_skip_value(s, i, len);
        if (match) {
            *value = s + vstart;
            *value_len = i - vstart;
            return i > vstart;
        }
        i = json_raw_skip_ws(s, i, len);
        if (i >= len || s[i] != ',')
            return false;
        i++;
    }
}
