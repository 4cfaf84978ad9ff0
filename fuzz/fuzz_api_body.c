/*
 * fuzz_api_body.c — libFuzzer target for json_raw_member (src/json_raw.c), the scanner the
 * sender's API uses to keep an event's `data` byte for byte (SPEC §1). The input is a
 * request body, untrusted bytes from an API client.
 *
 * Invariants checked besides the sanitizers:
 *   - on any input, the scanner stays inside the buffer (ASan: the input is copied into an
 *     allocation of exactly its size, so one byte too far is caught);
 *   - when jansson accepts the body as an object the way the API does
 *     (JSON_REJECT_DUPLICATES) and the scanner finds "data" or "event", the bytes found
 *     parse on their own to a value json_equal to the member jansson saw: the scanner never
 *     returns a wrong or truncated slice, and never finds a member that is not there;
 *   - when the body is an object whose member names have no escapes and it has "data", the
 *     scanner finds it (the API falls back to re-encoding only for escaped names).
 */
#include "json_raw.h"

#include <jansson.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "fuzz_api_body: %s: '%.*s'\n", what, (int)(len > 2000 ? 2000 : len), text);
    abort();
}

/* Checks one member against what jansson parsed (body may be NULL: not valid JSON). */
static void check_member(const char *text, size_t len, json_t *body, const char *key)
{
    const char *value = NULL;
    size_t value_len = 0;
    bool found = json_raw_member(text, len, key, &value, &value_len);
    if (!found || !json_is_object(body))
        return;
    if (value < text || value + value_len > text + len)
        die("slice outside the body", text, len);
    json_t *want = json_object_get(body, key);
    if (!want)
        die("found a member that is not there", text, len);
    json_t *got = json_loadb(value, value_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!got || !json_equal(got, want))
        die("the slice is not the member's value", value, value_len);
    json_decref(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly size bytes: no NUL after them */
    if (!text)
        abort();
    memcpy(text, data, size);
    json_t *body = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    check_member(text, size, body, "data");
    check_member(text, size, body, "event");
    if (json_is_object(body) && json_object_get(body, "data") && !memchr(text, '\\', size)) {
        const char *value = NULL;
        size_t value_len = 0;
        if (!json_raw_member(text, size, "data", &value, &value_len))
            die("missed the data member", text, size);
    }
    json_decref(body);
    free(text);
    return 0;
}
