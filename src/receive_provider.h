/*
 * receive_provider.h — what `hookd receive --provider P` accepts (SPEC §4, §8): each
 * sender's recipe for the checks of one request — its headers, its signature and replay
 * window, where its webhook id and event type are — turned into the one shape the receiver
 * saves and hands to the handler (id, ISO 8601 timestamp, signature, event). The rest of
 * the receiver (receive_ingest's flow, the inbox, the handler) is the same for every
 * provider.
 *
 *   meetbit            X-Webhook-Id/-Timestamp/-Signature (SPEC §1); body an envelope
 *   standard-webhooks  webhook-id/-timestamp (Unix s)/-signature "v1,…" keyed by the
 *                      base64 of a whsec_ secret; body a JSON object, event its "type"
 *                      (a string) or ""
 *   github             X-Hub-Signature-256 over the body, id X-GitHub-Delivery, event
 *                      X-GitHub-Event; no timestamp, so no replay window: the timestamp
 *                      saved is the time of receipt and replays are stopped by the dedup
 *                      on the delivery id alone
 *   stripe             Stripe-Signature t=…,v1=… over t.body; id and event the body's
 *                      "id" and "type" strings
 *
 * Pure but for the clock the caller passes: no I/O, any thread.
 */
#ifndef HOOKD_RECEIVE_PROVIDER_H
#define HOOKD_RECEIVE_PROVIDER_H

#include "hookd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECEIVE_PROVIDER_NAMES "meetbit, standard-webhooks, github, stripe"
#define RECEIVE_PROVIDER_MAX_ID 128 /* bytes of a webhook id kept (a UUID is 36) */

typedef struct receive_provider receive_provider;

/* The provider named name, or NULL when there is none. */
const receive_provider *receive_provider_find(const char *name);

/* Its name, as given to --provider. */
const char *receive_provider_name(const receive_provider *p);

/* The header that carries the signature ("X-Webhook-Signature", "Stripe-Signature", …). */
const char *receive_provider_signature_header(const receive_provider *p);

/* False when the provider's requests carry no timestamp (github): --tolerance is unused. */
bool receive_provider_has_window(const receive_provider *p);

/* Whether secret can verify anything for p (standard-webhooks: "whsec_" + base64). */
bool receive_provider_secret_ok(const receive_provider *p, const char *secret);

/* What a check concluded: accepted, or why not. */
typedef enum receive_provider_verdict {
    RECEIVE_PROVIDER_OK,
    RECEIVE_PROVIDER_MISSING_HEADER, /* 400 */
    RECEIVE_PROVIDER_BAD_TIMESTAMP,  /* 400 */
    RECEIVE_PROVIDER_EXPIRED,        /* 401 */
    RECEIVE_PROVIDER_FUTURE,         /* 401 */
    RECEIVE_PROVIDER_BAD_SIGNATURE,  /* 401 (malformed or matching no secret) */
    RECEIVE_PROVIDER_BAD_ID,         /* 400 */
    RECEIVE_PROVIDER_BAD_BODY,       /* 400: not what the provider sends */
    RECEIVE_PROVIDER_INTERNAL,       /* 500: our failure (out of memory, OpenSSL) */
} receive_provider_verdict;

/* One request to check. */
typedef struct receive_provider_request {
    /* The value of a request header (case-insensitive name), or NULL when absent. */
    const char *(*header)(void *header_ctx, const char *name);
    void *header_ctx;
    const char *body;
    size_t body_len;
    const hookd_secret *secrets;
    size_t secret_count;
    /* the same secrets with their keys precomputed (MeetBit's recipe); NULL: use secrets */
    const hookd_verifier *verifier;
    int64_t now;         /* Unix seconds */
    int64_t tolerance_s; /* the replay window, both ways */
} receive_provider_request;

/* An accepted request, in the receiver's one shape. */
typedef struct receive_provider_webhook {
    char id[RECEIVE_PROVIDER_MAX_ID + 1];
    char timestamp[HOOKD_TIMESTAMP_LEN + 1]; /* YYYY-MM-DDTHH:MM:SSZ (github: receipt) */
    const char *signature;                   /* the signature header as received */
    char *event; /* malloc'd (the caller frees; NULL unless OK): the event type, maybe "" */
} receive_provider_webhook;

/*
 * Checks one request in SPEC §4's order — required headers, timestamp, window, signature,
 * id, body — stopping at the first failure. On RECEIVE_PROVIDER_OK *out is filled; on any
 * other verdict message (len bytes) gets the reason to answer with and out->event is NULL.
 */
receive_provider_verdict receive_provider_check(const receive_provider *p,
                                                const receive_provider_request *in,
                                                receive_provider_webhook *out, char *message,
                                                size_t len);

#endif
