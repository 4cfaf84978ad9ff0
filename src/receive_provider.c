/*
 * receive_provider.c — the providers of `hookd receive --provider` (see receive_provider.h).
 *
 * One table row per provider: the headers it requires, its verification (a call into the
 * protocol core: hookd_verify (hookd_verifier_check with the keys precomputed),
 * hookd_standard_verify, hookd_github_verify,
 * hookd_stripe_verify), where its id and event are, and the words of its messages. One flow,
 * receive_provider_check, runs every provider through the same steps, so a new provider is
 * a row and two small functions, and every provider's failures map to the same verdicts
 * (hence the same statuses and error codes on the wire).
 */
#include "receive_provider.h"

#include "mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUIRED 3 /* headers a provider requires, at most */

/* The values of a request's required headers, in the provider's order. */
typedef struct provider_headers {
    const char *value[MAX_REQUIRED];
} provider_headers;

struct receive_provider {
    const char *name;
    const char *required[MAX_REQUIRED]; /* headers that must be present, in check order */
    size_t id_header;            /* index in required of the id header; MAX_REQUIRED: the body */
    size_t signature_header;     /* index in required of the signature header */
    const char *timestamp_words; /* "X-Webhook-Timestamp is not …": the malformed message */
    bool windowed;               /* the request carries a timestamp to check */
    /* Runs the core's verification: a HOOKD_E* code; *sent_at gets the request's time
     * (Unix seconds) when it carries one, and *text that time already written as
     * YYYY-MM-DDTHH:MM:SSZ when the request carries it so (else left NULL). */
    int (*verify)(const receive_provider_request *in, const provider_headers *h, int64_t *sent_at,
                  const char **text);
    /* Reads the body: the event type (malloc'd) and, for a provider whose id is in the
     * body, the id (into id, RECEIVE_PROVIDER_MAX_ID + 1 bytes; "" when too long).
     * false when the body is not what the provider sends. */
    bool (*read_body)(const receive_provider_request *in, const provider_headers *h, char **event,
                      char *id);
    const char *body_words; /* the message when read_body refuses */
};

/* ---- verification ---- */

static int verify_meetbit(const receive_provider_request *in, const provider_headers *h,
                          int64_t *sent_at, const char **text)
{
    (void)sent_at;
    int rc = in->verifier
                 ? hookd_verifier_check(in->verifier, h->value[0], h->value[1], h->value[2],
                                        in->body, in->body_len, in->now, in->tolerance_s)
                 : hookd_verify(in->secrets, in->secret_count, h->value[0], h->value[1],
                                h->value[2], in->body, in->body_len, in->now, in->tolerance_s);
    /* verified, the header is a strict timestamp (hookd_timestamp_parse): the stored time
     * is its text as sent, not parsed a second time and formatted back */
    if (rc == HOOKD_OK)
        *text = h->value[1];
    return rc;
}

static int verify_standard(const receive_provider_request *in, const provider_headers *h,
                           int64_t *sent_at, const char **text)
{
    (void)text;
    return hookd_standard_verify(in->secrets, in->secret_count, h->value[0], h->value[1],
                                 h->value[2], in->body, in->body_len, in->now, in->tolerance_s,
                                 sent_at);
}

static int verify_github(const receive_provider_request *in, const provider_headers *h,
                         int64_t *sent_at, const char **text)
{
    (void)text;
    *sent_at = in->now; /* no timestamp on the wire: the time of receipt */
    return hookd_github_verify(in->secrets, in->secret_count, h->value[0], in->body, in->body_len);
}

static int verify_stripe(const receive_provider_request *in, const provider_headers *h,
                         int64_t *sent_at, const char **text)
{
    (void)text;
    return hookd_stripe_verify(in->secrets, in->secret_count, h->value[0], in->body, in->body_len,
                               in->now, in->tolerance_s, sent_at);
}

/* ---- bodies ---- */

static bool body_envelope(const receive_provider_request *in, const provider_headers *h,
                          char **event, char *id)
{
    (void)h;
    (void)id;
    return hookd_envelope_parse(in->body, in->body_len, event) == HOOKD_OK;
}

/* The body as a JSON object, or NULL. */
static json_t *body_object(const receive_provider_request *in)
{
    json_t *v = json_loadb(in->body, in->body_len, 0, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* A JSON object whose event is header_event, or (NULL) the object's "type" when that is a
 * string, else "". */
static bool body_object_event(const receive_provider_request *in, const char *header_event,
                              char **event)
{
    json_t *v = body_object(in);
    if (!v)
        return false;
    const char *type = header_event ? header_event : json_string_value(json_object_get(v, "type"));
    *event = xstrdup(type ? type : "");
    json_decref(v);
    return true;
}

/* Standard Webhooks: a JSON object; the event is its "type" (the standard's payload shape
 * has one) or "". */
static bool body_standard(const receive_provider_request *in, const provider_headers *h,
                          char **event, char *id)
{
    (void)h;
    (void)id;
    return body_object_event(in, NULL, event);
}

/* GitHub: a JSON object (a form-encoded payload is refused); the event is the header's. */
static bool body_github(const receive_provider_request *in, const provider_headers *h, char **event,
                        char *id)
{
    (void)id;
    return body_object_event(in, h->value[2], event);
}

/* Stripe: an event object with string "id" and "type". */
static bool body_stripe(const receive_provider_request *in, const provider_headers *h, char **event,
                        char *id)
{
    (void)h;
    json_t *v = body_object(in);
    const char *eid = json_string_value(json_object_get(v, "id"));
    const char *type = json_string_value(json_object_get(v, "type"));
    bool ok = eid && type;
    if (ok) {
        size_t n = strlen(eid);
        snprintf(id, RECEIVE_PROVIDER_MAX_ID + 1, "%s", n <= RECEIVE_PROVIDER_MAX_ID ? eid : "");
        *event = xstrdup(type);
    }
    json_decref(v);
    return ok;
}

/* ---- the table ---- */

static const receive_provider providers[] = {
    {.name = "meetbit",
     .required = {HOOKD_HEADER_ID, HOOKD_HEADER_TIMESTAMP, HOOKD_HEADER_SIGNATURE},
     .id_header = 0,
     .signature_header = 2,
     .timestamp_words = HOOKD_HEADER_TIMESTAMP " is not YYYY-MM-DDTHH:MM:SSZ",
     .windowed = true,
     .verify = verify_meetbit,
     .read_body = body_envelope,
     .body_words = "body is not a JSON object with a string \"event\" and an object \"data\""},
    {.name = "standard-webhooks",
     .required = {HOOKD_STANDARD_HEADER_ID, HOOKD_STANDARD_HEADER_TIMESTAMP,
                  HOOKD_STANDARD_HEADER_SIGNATURE},
     .id_header = 0,
     .signature_header = 2,
     .timestamp_words = HOOKD_STANDARD_HEADER_TIMESTAMP " is not a Unix time in seconds",
     .windowed = true,
     .verify = verify_standard,
     .read_body = body_standard,
     .body_words = "body is not a JSON object"},
    {.name = "github",
     .required = {HOOKD_GITHUB_HEADER_SIGNATURE, HOOKD_GITHUB_HEADER_ID, HOOKD_GITHUB_HEADER_EVENT},
     .id_header = 1,
     .signature_header = 0,
     .windowed = false,
     .verify = verify_github,
     .read_body = body_github,
     .body_words = "body is not a JSON object (set the GitHub webhook's content type to "
                   "application/json)"},
    {.name = "stripe",
     .required = {HOOKD_STRIPE_HEADER_SIGNATURE},
     .id_header = MAX_REQUIRED,
     .signature_header = 0,
     .timestamp_words = HOOKD_STRIPE_HEADER_SIGNATURE " has no t=<Unix seconds>",
     .windowed = true,
     .verify = verify_stripe,
     .read_body = body_stripe,
     .body_words = "body is not a Stripe event with a string \"id\" and \"type\""},
};

const receive_provider *receive_provider_find(const char *name)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i].name, name) == 0)
            return &providers[i];
    return NULL;
}

const char *receive_provider_name(const receive_provider *p)
{
    return p->name;
}

const char *receive_provider_signature_header(const receive_provider *p)
{
    return p->required[p->signature_header];
}

bool receive_provider_has_window(const receive_provider *p)
{
    return p->windowed;
}

bool receive_provider_secret_ok(const receive_provider *p, const char *secret)
{
    if (*secret == '\0')
        return false;
    if (p->verify != verify_standard)
        return true;
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len;
    return hookd_standard_key(secret, strlen(secret), key, &key_len) == HOOKD_OK;
}

/* ---- the flow ---- */

/* 1–128 printable ASCII characters, no space: it becomes a header and a store key. */
static bool id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > RECEIVE_PROVIDER_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
            return false;
    return true;
}

/* The verdict and message of a failed verification (rc: a HOOKD_E* code). */
static receive_provider_verdict verify_failed(const receive_provider *p, int rc,
                                              const receive_provider_request *in, char *message,
                                              size_t len)
{
    long long tolerance = (long long)in->tolerance_s;
    switch (rc) {
    case HOOKD_EMISSING: /* present but empty */
        snprintf(message, len, "empty %s header", p->required[p->signature_header]);
        return RECEIVE_PROVIDER_MISSING_HEADER;
    case HOOKD_ETIMESTAMP:
        snprintf(message, len, "%s", p->timestamp_words ? p->timestamp_words : "bad timestamp");
        return RECEIVE_PROVIDER_BAD_TIMESTAMP;
    case HOOKD_EEXPIRED:
        snprintf(message, len, "timestamp expired: more than %lld seconds in the past", tolerance);
        return RECEIVE_PROVIDER_EXPIRED;
    case HOOKD_EFUTURE:
        snprintf(message, len, "timestamp in the future: more than %lld seconds ahead", tolerance);
        return RECEIVE_PROVIDER_FUTURE;
    case HOOKD_ESIGNATURE:
    case HOOKD_ESIGNATURE_FORMAT:
        snprintf(message, len, "signature matches none of the secrets");
        return RECEIVE_PROVIDER_BAD_SIGNATURE;
    default: /* HOOKD_ENOMEM, HOOKD_EIO: our failure, not the sender's */
        snprintf(message, len, "the signature could not be checked: %s", hookd_strerror(rc));
        return RECEIVE_PROVIDER_INTERNAL;
    }
}

/* Reads the required headers; names the first missing one. */
static bool headers_present(const receive_provider *p, const receive_provider_request *in,
                            provider_headers *h, char *message, size_t len)
{
    for (size_t i = 0; i < MAX_REQUIRED; i++) {
        h->value[i] = NULL;
        if (!p->required[i])
            continue;
        h->value[i] = in->header(in->header_ctx, p->required[i]);
        if (!h->value[i] || !*h->value[i]) {
            snprintf(message, len, "missing %s header", p->required[i]);
            return false;
        }
    }
    return true;
}

/* The id rule's message for the provider. */
static receive_provider_verdict bad_id(const receive_provider *p, char *message, size_t len)
{
    snprintf(message, len, "%s must be 1 to %d printable characters",
             p->id_header < MAX_REQUIRED ? p->required[p->id_header] : "the body's \"id\"",
             RECEIVE_PROVIDER_MAX_ID);
    return RECEIVE_PROVIDER_BAD_ID;
}

receive_provider_verdict receive_provider_check(const receive_provider *p,
                                                const receive_provider_request *in,
                                                receive_provider_webhook *out, char *message,
                                                size_t len)
{
    provider_headers h;
    int64_t sent_at = in->now;
    const char *sent_text = NULL;
    out->event = NULL;
    out->id[0] = '\0';
    if (!headers_present(p, in, &h, message, len))
        return RECEIVE_PROVIDER_MISSING_HEADER;
    int rc = p->verify(in, &h, &sent_at, &sent_text);
    if (rc != HOOKD_OK)
        return verify_failed(p, rc, in, message, len);
    if (p->id_header < MAX_REQUIRED) {
        if (!id_ok(h.value[p->id_header]))
            return bad_id(p, message, len);
        /* id_ok bounds it by the buffer: a copy, not a printf per webhook */
        memcpy(out->id, h.value[p->id_header], strlen(h.value[p->id_header]) + 1);
    }
    if (!p->read_body(in, &h, &out->event, out->id)) {
        snprintf(message, len, "%s", p->body_words);
        return RECEIVE_PROVIDER_BAD_BODY;
    }
    receive_provider_verdict verdict = RECEIVE_PROVIDER_OK;
    if (!id_ok(out->id))
        verdict = bad_id(p, message, len);
    else if (sent_text && strlen(sent_text) == HOOKD_TIMESTAMP_LEN)
        memcpy(out->timestamp, sent_text, HOOKD_TIMESTAMP_LEN + 1);
    else if (hookd_timestamp_format(sent_at, out->timestamp) != HOOKD_OK)
        verdict = verify_failed(p, HOOKD_ETIMESTAMP, in, message, len);
    if (verdict != RECEIVE_PROVIDER_OK) {
        free(out->event);
        out->event = NULL;
        return verdict;
    }
    out->signature = h.value[p->signature_header];
    return RECEIVE_PROVIDER_OK;
}
