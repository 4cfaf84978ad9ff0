/*
 * envelope.c — the webhook body {"event":<type>,"data":<object>} (SPEC §1).
 *
 * Building never re-serializes the application's data: jansson only validates it, then the
 * bytes are copied with insignificant whitespace dropped. So member order, number spelling
 * (1.50, 1e3, big integers) and string escapes reach the receiver exactly as written, and
 * the signature covers what the application sent.
 */
#include "hookd.h"
#include "core_alloc.h"
#include "core_name.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flags for every decode: duplicate keys are ambiguous to receivers; integers too large for
 * json_int_t are still valid JSON (the bytes are kept, not the value); a scalar is valid
 * JSON that is merely not an object. A raw NUL byte is never valid JSON, but jansson skips
 * one right after a number or literal ({"id":1\0} loads; akheron/jansson#331), so callers
 * reject NUL bytes before decoding; otherwise build would copy one into the body. */
#define DECODE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY)

/* Copies valid JSON text into out without the whitespace between tokens; returns the
 * length written (never more than len). */
static size_t compact_json(const char *text, size_t len, char *out)
{
    size_t n = 0;
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
            continue;
        } else if (c == '"') {
            in_string = true;
        }
        out[n++] = c;
    }
    return n;
}

int hookd_envelope_build(const char *event, const char *data, size_t data_len, size_t max_len,
                         char **out, size_t *out_len)
{
    static const char head[] = "{\"event\":\"", middle[] = "\",\"data\":";
    json_error_t error;
    json_t *parsed;
    size_t event_len, n;
    char *body;

    *out = NULL;
    *out_len = 0;
    if (event == NULL || data == NULL)
        return HOOKD_EINVAL;
    if (!core_name_ok(event))
        return HOOKD_EENVELOPE;
    if (max_len != 0 && data_len > max_len)
        return HOOKD_ETOOBIG;
    if (memchr(data, '\0', data_len) != NULL) /* see DECODE_FLAGS */
        return HOOKD_EJSON;
    parsed = json_loadb(data, data_len, DECODE_FLAGS, &error);
    if (parsed == NULL)
        return core_json_error(&error);
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        return HOOKD_EENVELOPE;
    }
    json_decref(parsed);

    event_len = strlen(event);
    body = core_malloc(sizeof head - 1 + event_len + sizeof middle - 1 + data_len + 2);
    if (body == NULL)
        return HOOKD_ENOMEM;
    n = 0;
    memcpy(body + n, head, sizeof head - 1);
    n += sizeof head - 1;
    memcpy(body + n, event, event_len);
    n += event_len;
    memcpy(body + n, middle, sizeof middle - 1);
    n += sizeof middle - 1;
    n += compact_json(data, data_len, body + n);
    body[n++] = '}';
    body[n] = '\0';
    *out = body;
    *out_len = n;
    return HOOKD_OK;
}

int hookd_envelope_parse(const void *body, size_t body_len, char **event_out)
{
    json_error_t error;
    json_t *root, *event, *data;
    int rc = HOOKD_EENVELOPE;

    if (event_out != NULL)
        *event_out = NULL;
    if (body == NULL || memchr(body, '\0', body_len) != NULL) /* see DECODE_FLAGS */
        return HOOKD_EJSON;
    root = json_loadb(body, body_len, DECODE_FLAGS, &error);
    if (root == NULL)
        return core_json_error(&error);
    if (!json_is_object(root))
        goto done;
    event = json_object_get(root, "event");
    data = json_object_get(root, "data");
    if (!json_is_string(event) || json_string_length(event) == 0 || !json_is_object(data))
        goto done;
    if (event_out != NULL) {
        size_t len = json_string_length(event);
        *event_out = core_malloc(len + 1);
        if (*event_out == NULL) {
            rc = HOOKD_ENOMEM;
            goto done;
        }
        memcpy(*event_out, json_string_value(event), len + 1);
    }
    rc = HOOKD_OK;
done:
    json_decref(root);
    return rc;
}
