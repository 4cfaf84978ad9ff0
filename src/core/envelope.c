/*
 * envelope.c — the webhook body {"event":<type>,"data":<object>} (SPEC §1).
 *
 * Building never re-serializes the application's data: jansson only validates it, then the
 * bytes are copied with insignificant whitespace dropped. So member order, number spelling
 * (1.50, 1e3, big integers) and string escapes reach the receiver exactly as written, and
 * the signature covers what the application sent.
 *
 * Parsing (the receiver, once per request) first tries a scanner that builds nothing: it
 * walks the body once, checking the JSON grammar and the duplicate keys, and finds the two
 * members. It answers only when it is sure jansson would accept the body and agree on the
 * event: ASCII strings with the simple escapes, numbers without an exponent (no double
 * overflows), at most SCAN_MAX_KEYS keys per object, SCAN_MAX_DEPTH levels, an event
 * without escapes. Anything else — every invalid body included — goes to jansson, which
 * stays the one judge of what is rejected and why. The fuzz target fuzz_envelope checks the
 * scanner's answers against jansson's.
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

/* ---- the scanner (see the top of the file) ---- */

#define SCAN_MAX_DEPTH 64 /* deeper: jansson decides */
#define SCAN_MAX_KEYS 16  /* more keys in one object: jansson decides (it hashes them) */

typedef struct scan {
    const unsigned char *p, *end;
    int depth;
} scan;

/* The raw bytes of a string's contents. */
typedef struct scan_str {
    const unsigned char *at;
    size_t len;
    bool escaped; /* it holds an escape: its decoded form differs */
} scan_str;

/* The root's two members, as far as the scanner saw them. */
typedef struct scan_root {
    scan_str event;
    bool has_event, event_is_string, data_is_object;
} scan_root;

static bool scan_value(scan *s, int *kind);

static void scan_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool scan_digits(scan *s)
{
    const unsigned char *from = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > from;
}

/* A string at s->p: printable ASCII and the escapes \" \\ \/ \b \f \n \r \t only. */
static bool scan_string(scan *s, scan_str *out)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    out->at = ++s->p;
    out->escaped = false;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            out->len = (size_t)(s->p - out->at);
            s->p++;
            return true;
        }
        if (c < 0x20 || c >= 0x80)
            return false;
        if (c == '\\') {
            if (s->p + 1 >= s->end || memchr("\"\\/bfnrt", s->p[1], 8) == NULL)
                return false;
            out->escaped = true;
            s->p++;
        }
        s->p++;
    }
    return false;
}

/* A number without an exponent and under 300 characters: a double holds it. */
static bool scan_number(scan *s)
{
    const unsigned char *from = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (s->p >= s->end || *s->p < '1' || *s->p > '9' || !scan_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
        return false;
    return s->p - from < 300;
}

static bool scan_literal(scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
        return false;
    s->p += len;
    return true;
}

/* Steps over s->p's opening bracket and the whitespace after it; true when close follows
 * at once (an empty object or array, stepped over too). */
static bool scan_open(scan *s, unsigned char close)
{
    s->p++;
    scan_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    return false;
}

/* After an element: 1 when close ended the object or array, 0 when a ',' leads to the
 * next element (its whitespace skipped), -1 for anything else. */
static int scan_after(scan *s, unsigned char close)
{
    scan_ws(s);
    if (s->p >= s->end)
        return -1;
    unsigned char c = *s->p++;
    if (c == close)
        return 1;
    if (c != ',')
        return -1;
    scan_ws(s);
    return 0;
}

/* A key not seen before in its object (keys without escapes: their bytes are the key). */
static bool scan_key(scan *s, scan_str *keys, size_t *count)
{
    scan_str key;
    if (*count == SCAN_MAX_KEYS || !scan_string(s, &key) || key.escaped)
        return false;
    for (size_t i = 0; i < *count; i++)
        if (keys[i].len == key.len && memcmp(keys[i].at, key.at, key.len) == 0)
            return false;
    keys[(*count)++] = key;
    return true;
}

/* One member's value; the root's event and data are noted in root (NULL below the root). */
static bool scan_member(scan *s, const scan_str *key, scan_root *root)
{
    bool is_event = root && key->len == 5 && memcmp(key->at, "event", 5) == 0;
    bool is_data = root && key->len == 4 && memcmp(key->at, "data", 4) == 0;
    if (is_event && s->p < s->end && *s->p == '"') {
        root->has_event = root->event_is_string = true;
        return scan_string(s, &root->event);
    }
    int kind = 0;
    if (!scan_value(s, &kind))
        return false;
    if (is_event)
        root->has_event = true;
    if (is_data)
        root->data_is_object = kind == '{';
    return true;
}

/* An object at s->p ('{'); root: the envelope's own object. */
static bool scan_object(scan *s, scan_root *root)
{
    scan_str keys[SCAN_MAX_KEYS];
    size_t count = 0;
    if (scan_open(s, '}'))
        return true;
    for (;;) {
        if (!scan_key(s, keys, &count))
            return false;
        scan_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return false;
        s->p++;
        scan_ws(s);
        if (!scan_member(s, &keys[count - 1], root))
            return false;
        int next = scan_after(s, '}');
        if (next != 0)
            return next > 0;
    }
}

/* An array at s->p ('['). */
static bool scan_array(scan *s)
{
    if (scan_open(s, ']'))
        return true;
    for (;;) {
        int kind = 0;
        if (!scan_value(s, &kind))
            return false;
        int next = scan_after(s, ']');
        if (next != 0)
            return next > 0;
    }
}

/* Any value at s->p; *kind gets its first character. */
static bool scan_value(scan *s, int *kind)
{
    if (s->p >= s->end)
        return false;
    *kind = *s->p;
    scan_str ignored;
    switch (*s->p) {
    case '{':
    case '[': {
        if (++s->depth > SCAN_MAX_DEPTH)
            return false;
        bool ok = *s->p == '{' ? scan_object(s, NULL) : scan_array(s);
        s->depth--;
        return ok;
    }
    case '"':
        return scan_string(s, &ignored);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        return scan_number(s);
    }
}

/* Whether the scanner is sure: body is an envelope jansson accepts; *event its event. */
static bool scan_envelope(const unsigned char *body, size_t len, scan_str *event)
{
    scan s = {.p = body, .end = body + len, .depth = 1};
    scan_root root = {0};
    scan_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_object(&s, &root))
        return false;
    scan_ws(&s);
    if (s.p != s.end || !root.event_is_string || !root.data_is_object || root.event.len == 0 ||
        root.event.escaped)
        return false;
    *event = root.event;
    return true;
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
    scan_str sure;
    if (scan_envelope(body, body_len, &sure)) {
        if (event_out != NULL) {
            *event_out = core_malloc(sure.len + 1);
            if (*event_out == NULL)
                return HOOKD_ENOMEM;
            memcpy(*event_out, sure.at, sure.len);
            (*event_out)[sure.len] = '\0';
        }
        return HOOKD_OK;
    }
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
