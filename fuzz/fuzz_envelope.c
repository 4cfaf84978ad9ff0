/*
 * fuzz_envelope.c — libFuzzer target for hookd_envelope_build (an application's event data,
 * untrusted JSON from the API) and hookd_envelope_parse (a delivery's body, untrusted bytes
 * at the receiver).
 *
 * Input: one control byte, then either a whole body for hookd_envelope_parse (odd control
 * byte) or "event\ndata" for hookd_envelope_build (even), where data is the rest.
 *
 * Invariants checked besides the sanitizers, when build succeeds:
 *   - the output is NUL-terminated at out_len and has no whitespace outside strings;
 *   - it parses back with hookd_envelope_parse, giving the same event;
 *   - its "data" is JSON-equal (json_equal) to the input data, and it has exactly the two
 *     members "event" and "data";
 * and build succeeds exactly when the event is a plain name and data a JSON object within
 * the cap. hookd_envelope_parse answers exactly as the jansson reference below (same code,
 * same event): its scanner's fast path must never accept what jansson refuses.
 */
#include "hookd.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same flags as envelope.c, so "valid JSON" means the same thing on both sides. */
#define FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY)

static void die(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "fuzz_envelope: %s: '%.*s'\n", what, (int)(len > 2000 ? 2000 : len), text);
    abort();
}

static char *copy(const uint8_t *bytes, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, bytes, len);
    s[len] = '\0';
    return s;
}

static bool plain_name(const char *event)
{
    size_t len = strlen(event);
    if (len == 0 || len > 128)
        return false;
    return strspn(event, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
           len;
}

static bool compact(const char *text, size_t len)
{
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            return false;
        } else if (c == '"') {
            in_string = true;
        }
    }
    return true;
}

/* What hookd_envelope_parse must answer, decided by jansson alone; *event: the event
 * (malloc'd) on HOOKD_OK. */
static int reference_parse(const uint8_t *body, size_t len, char **event)
{
    *event = NULL;
    if (memchr(body, '\0', len) != NULL)
        return HOOKD_EJSON;
    json_t *root = json_loadb((const char *)body, len, FLAGS, NULL);
    if (root == NULL)
        return HOOKD_EJSON;
    json_t *e = json_object_get(root, "event"), *d = json_object_get(root, "data");
    int rc = HOOKD_EENVELOPE;
    if (json_is_object(root) && json_is_string(e) && json_string_length(e) > 0 &&
        json_is_object(d)) {
        *event = copy((const uint8_t *)json_string_value(e), json_string_length(e));
        rc = HOOKD_OK;
    }
    json_decref(root);
    return rc;
}

static void check_parse(const uint8_t *body, size_t len)
{
    char *event = (char *)1, *want_event = NULL;
    int rc = hookd_envelope_parse(body, len, &event);
    int again = hookd_envelope_parse(body, len, NULL);
    int want = reference_parse(body, len, &want_event);

    if (rc != again)
        die("parse depends on event_out", (const char *)body, len);
    if (rc != want || (rc == HOOKD_OK && strcmp(event, want_event) != 0))
        die("parse differs from jansson's answer", (const char *)body, len);
    free(want_event);
    if (rc != HOOKD_OK) {
        if (event != NULL)
            die("failed parse left an event", (const char *)body, len);
        return;
    }
    if (event == NULL || event[0] == '\0')
        die("parse gave no event", (const char *)body, len);
    free(event);
}

static void check_build(const char *event, const char *data, size_t data_len, size_t max_len)
{
    json_t *given = json_loadb(data, data_len, FLAGS, NULL), *built, *built_data;
    char *out = (char *)1, *parsed_event = NULL;
    size_t out_len = 1;
    int rc = hookd_envelope_build(event, data, data_len, max_len, &out, &out_len);
    int want;

    if (!plain_name(event))
        want = HOOKD_EENVELOPE;
    else if (max_len != 0 && data_len > max_len)
        want = HOOKD_ETOOBIG;
    else if (given == NULL || memchr(data, '\0', data_len) != NULL)
        want = HOOKD_EJSON; /* a raw NUL is not JSON, though jansson may skip one */
    else if (!json_is_object(given))
        want = HOOKD_EENVELOPE;
    else
        want = HOOKD_OK;
    if (rc != want) {
        fprintf(stderr, "fuzz_envelope: build gave %d, want %d\n", rc, want);
        die("build verdict", data, data_len);
    }
    if (rc != HOOKD_OK) {
        if (out != NULL || out_len != 0)
            die("failed build left output", data, data_len);
        json_decref(given);
        return;
    }
    if (out == NULL || strlen(out) != out_len)
        die("output length", data, data_len);
    if (!compact(out, out_len))
        die("output has whitespace between tokens", out, out_len);
    if (hookd_envelope_parse(out, out_len, &parsed_event) != HOOKD_OK)
        die("output does not parse as an envelope", out, out_len);
    if (strcmp(parsed_event, event) != 0)
        die("output's event differs", out, out_len);
    built = json_loadb(out, out_len, FLAGS, NULL);
    if (built == NULL || json_object_size(built) != 2)
        die("output is not a two-member object", out, out_len);
    built_data = json_object_get(built, "data");
    if (!json_equal(built_data, given))
        die("output's data is not JSON-equal to the input", out, out_len);
    json_decref(built);
    json_decref(given);
    free(parsed_event);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest, *nl, *end = data + size;
    char *event, *body;
    size_t body_len;

    if (size == 0)
        return 0;
    rest = data + 1;
    if (data[0] & 1) {
        /* Exact-size copy, not NUL-terminated: parse must honour the length. */
        uint8_t *exact = malloc(size - 1 ? size - 1 : 1);
        if (exact == NULL)
            abort();
        memcpy(exact, rest, size - 1);
        check_parse(exact, size - 1);
        free(exact);
        return 0;
    }
    nl = memchr(rest, '\n', (size_t)(end - rest));
    if (nl == NULL)
        nl = end;
    event = copy(rest, (size_t)(nl - rest));
    if (nl < end)
        nl++;
    body_len = (size_t)(end - nl);
    body = copy(nl, body_len);
    check_build(event, body, body_len, 0);
    check_build(event, body, body_len, (size_t)(data[0] >> 1) % 64 + 1);
    check_parse((const uint8_t *)body, body_len);
    free(event);
    free(body);
    return 0;
}
