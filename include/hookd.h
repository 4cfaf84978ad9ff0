/*
 * hookd.h — the MeetBit webhook protocol core: signing, verification, timestamps,
 * webhook ids, the envelope and its event-type catalog, durations and sizes.
 *
 * Everything here is pure computation: no I/O but the OS's CSPRNG (hookd_id_new*) and
 * reading a catalog file (hookd_catalog_load_file), no global state, safe from any thread.
 * Functions return HOOKD_OK (0) or a negative HOOKD_E* code, exactly those listed at each
 * declaration; hookd_strerror names it. The library never aborts: when an allocation fails
 * a function returns HOOKD_ENOMEM, and a constructor returning a pointer returns NULL.
 * (One limit, jansson's: when its lexer cannot allocate a token it reports a syntax error,
 * so a function parsing JSON may then answer HOOKD_EJSON instead.)
 * Strings are NUL-terminated UTF-8 unless a length is passed alongside.
 */
#ifndef HOOKD_H
#define HOOKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors: one table for the whole program ---- */

/* The library returns the codes of the first group; the second group are the hookd
 * program's own (its store, APIs and work engine), kept in this table so that the whole
 * program has one vocabulary and one hookd_strerror. No libhookd function returns them. */
enum hookd_error {
    HOOKD_OK = 0,
    /* returned by libhookd (each function below says which) */
    HOOKD_ENOMEM = -1,             /* out of memory (the library never aborts its host) */
    HOOKD_EINVAL = -2,             /* invalid argument */
    HOOKD_EMISSING = -3,           /* a required header or value is missing */
    HOOKD_ETIMESTAMP = -4,         /* timestamp is not YYYY-MM-DDTHH:MM:SSZ */
    HOOKD_EEXPIRED = -5,           /* timestamp older than the tolerance */
    HOOKD_EFUTURE = -6,            /* timestamp further in the future than the tolerance */
    HOOKD_ESIGNATURE = -7,         /* signature matches none of the secrets */
    HOOKD_ETOOBIG = -8,            /* input larger than its cap */
    HOOKD_EENVELOPE = -9,          /* body is not {"event":string,"data":object} */
    HOOKD_EEVENTTYPE = -10,        /* event type not in the catalog */
    HOOKD_EDATA = -11,             /* data lacks a required attribute or has a wrong type */
    HOOKD_EJSON = -12,             /* not valid JSON */
    HOOKD_EIO = -13,               /* I/O error (file, the CSPRNG, OpenSSL) */
    HOOKD_ESIGNATURE_FORMAT = -14, /* signature is not 64 hex digits */
    /* the program's only */
    HOOKD_ESTORE = -15,    /* the store could not read or write */
    HOOKD_ENOTFOUND = -16, /* no such object */
    HOOKD_ECONFLICT = -17, /* conflicts with the current state */
    HOOKD_ELEASE = -18,    /* the lease on a claimed item was lost */
};
#define HOOKD_ELAST HOOKD_ELEASE /* the lowest code: every code is in [HOOKD_ELAST, 0] */

/* A short lowercase English phrase for a HOOKD_E* code ("expired", "bad signature", …).
 * Never NULL; unknown codes give "unknown error". */
const char *hookd_strerror(int err);

/* ---- the wire: header names (SPEC §1) ---- */

#define HOOKD_HEADER_ID "X-Webhook-Id"
#define HOOKD_HEADER_TIMESTAMP "X-Webhook-Timestamp"
#define HOOKD_HEADER_SIGNATURE "X-Webhook-Signature"

/* ---- signatures ---- */

#define HOOKD_SIGNATURE_HEX_LEN 64 /* lowercase hex of an HMAC-SHA256 */

/* Writes into out (HOOKD_SIGNATURE_HEX_LEN + 1 bytes, NUL-terminated) the lowercase hex
 * HMAC-SHA256, keyed with the secret's bytes, over `id "." timestamp "." body`.
 * Returns HOOKD_OK; HOOKD_EINVAL when secret is NULL or empty, id or timestamp NULL, or body
 * NULL with a nonzero body_len; HOOKD_ENOMEM; HOOKD_EIO when OpenSSL has no HMAC. On error
 * out is "". */
int hookd_sign(const char *secret, size_t secret_len, const char *id, const char *timestamp,
               const void *body, size_t body_len, char *out);

/* The two values a sender computes for each attempt: the attempt's timestamp and the
 * signature over `id "." timestamp "." body`. */
typedef struct hookd_signed {
    char timestamp[21]; /* HOOKD_TIMESTAMP_LEN + 1: YYYY-MM-DDTHH:MM:SSZ */
    char signature[HOOKD_SIGNATURE_HEX_LEN + 1];
} hookd_signed;

/* Signs one attempt sent at unix_seconds: formats the timestamp, then signs. Returns
 * HOOKD_OK, or the code of the step that failed: HOOKD_EINVAL for a time outside years
 * 0000–9999 or an argument hookd_sign refuses, HOOKD_ENOMEM, HOOKD_EIO. On error both
 * strings of out are "": never send the attempt then. */
int hookd_sign_attempt(const char *secret, size_t secret_len, const char *id, int64_t unix_seconds,
                       const void *body, size_t body_len, hookd_signed *out);

/* A secret a receiver accepts; a receiver may hold several during a rotation. */
typedef struct hookd_secret {
    const char *bytes; /* the secret as shown to the user (not necessarily NUL-terminated) */
    size_t len;        /* its length in bytes */
} hookd_secret;

/*
 * Verifies one delivery as a receiver must, in this order:
 *   id, timestamp or signature NULL or empty → HOOKD_EMISSING;
 *   timestamp not YYYY-MM-DDTHH:MM:SSZ → HOOKD_ETIMESTAMP;
 *   older than now - tolerance → HOOKD_EEXPIRED; newer than now + tolerance → HOOKD_EFUTURE;
 *   signature not 64 hex digits → HOOKD_ESIGNATURE_FORMAT;
 *   matches none of the secrets (constant-time) → HOOKD_ESIGNATURE, unless computing an
 *   HMAC failed: then HOOKD_ENOMEM or HOOKD_EIO (not the sender's fault; answer 5xx).
 * A secret of length 0 matches nothing. now and tolerance are in seconds (Unix time).
 * Uppercase hex is accepted. Returns HOOKD_OK when one secret matches.
 */
int hookd_verify(const hookd_secret *secrets, size_t secret_count, const char *id,
                 const char *timestamp, const char *signature, const void *body, size_t body_len,
                 int64_t now, int64_t tolerance);

/*
 * A receiver's secrets with their HMAC key schedule computed once: verifying through it
 * skips, per request, the provider lookup and the two key blocks hookd_verify hashes for
 * every secret (about half of its cost for a small body). Read-only once made, so one
 * verifier serves any number of threads. An empty secret matches nothing, as in
 * hookd_verify.
 */
typedef struct hookd_verifier hookd_verifier;

/* Makes *out from secret_count secrets (copied: the caller's may go). HOOKD_OK; HOOKD_ENOMEM;
 * HOOKD_EIO when OpenSSL has no HMAC. *out is NULL on error. */
int hookd_verifier_new(const hookd_secret *secrets, size_t secret_count, hookd_verifier **out);

/* Frees v and wipes its keys. NULL is a no-op. */
void hookd_verifier_free(hookd_verifier *v);

/* hookd_verify with v's secrets: the same checks in the same order, the same codes. */
int hookd_verifier_check(const hookd_verifier *v, const char *id, const char *timestamp,
                         const char *signature, const void *body, size_t body_len, int64_t now,
                         int64_t tolerance);

/*
 * A sender's secret with its HMAC key schedule computed once (the verifier's twin): signing
 * through it skips, per signature, the digest's lookup by name, a context's allocation and
 * the two key blocks hookd_sign hashes. Its signatures are hookd_sign's, byte for byte. It
 * holds one working context: one thread at a time (a sender keeps one per secret).
 */
typedef struct hookd_signer hookd_signer;

/* Makes *out from a MeetBit secret (copied into the key schedule: the caller's may go).
 * HOOKD_OK; HOOKD_EINVAL when secret is NULL or empty; HOOKD_ENOMEM; HOOKD_EIO when OpenSSL
 * has no HMAC. *out is NULL on error. */
int hookd_signer_new(const char *secret, size_t secret_len, hookd_signer **out);

/* Frees s and wipes its key. NULL is a no-op. */
void hookd_signer_free(hookd_signer *s);

/* hookd_sign with s's secret: the same signature, the same codes. */
int hookd_signer_sign(hookd_signer *s, const char *id, const char *timestamp, const void *body,
                      size_t body_len, char *out);

/* hookd_sign_attempt with s's secret: the same values, the same codes. */
int hookd_signer_sign_attempt(hookd_signer *s, const char *id, int64_t unix_seconds,
                              const void *body, size_t body_len, hookd_signed *out);

/* ---- base64 (RFC 4648, standard alphabet, with padding) ---- */

/* The encoded length of len bytes, without the NUL: 4 * ceil(len / 3). */
#define HOOKD_BASE64_LEN(len) (((len) + 2) / 3 * 4)

/* Writes the base64 of len bytes into out (HOOKD_BASE64_LEN(len) + 1 bytes, NUL-terminated).
 * HOOKD_OK, or HOOKD_EINVAL when len is over 512 MiB (out is "" then). */
int hookd_base64_encode(const void *bytes, size_t len, char *out);

/* Decodes text_len characters of strict base64 (length a multiple of 4, '=' only as the
 * last one or two) into out, which must hold text_len / 4 * 3 bytes; *out_len gets the
 * decoded length (padding not counted). HOOKD_OK; HOOKD_EINVAL for anything else (out_size
 * too small included). */
int hookd_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_size,
                        size_t *out_len);

/* ---- other wire formats and providers (SPEC §8) ---- */

/* Standard Webhooks v1 (standardwebhooks.com): Unix-seconds timestamp, and a signature
 * header of space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>" values, keyed by
 * the base64-decoded part of a "whsec_…" secret (the prefix is optional). */
#define HOOKD_STANDARD_HEADER_ID "webhook-id"
#define HOOKD_STANDARD_HEADER_TIMESTAMP "webhook-timestamp"
#define HOOKD_STANDARD_HEADER_SIGNATURE "webhook-signature"
#define HOOKD_STANDARD_SECRET_PREFIX "whsec_"
#define HOOKD_STANDARD_SIGNATURE_LEN 47 /* "v1," + 44 base64 characters */
#define HOOKD_STANDARD_KEY_MAX 512      /* bytes of a decoded key, at most */

/* GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>, keyed with the
 * secret's bytes; no timestamp. */
#define HOOKD_GITHUB_HEADER_SIGNATURE "X-Hub-Signature-256"
#define HOOKD_GITHUB_HEADER_ID "X-GitHub-Delivery"
#define HOOKD_GITHUB_HEADER_EVENT "X-GitHub-Event"

/* Stripe: Stripe-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256 of t.body>[,v1=…], keyed
 * with the secret's bytes (the whole "whsec_…" string). */
#define HOOKD_STRIPE_HEADER_SIGNATURE "Stripe-Signature"

/* Decodes a Standard Webhooks secret ("whsec_" + base64, or the base64 alone) into key
 * (HOOKD_STANDARD_KEY_MAX bytes); *key_len gets its length. HOOKD_OK, or HOOKD_EINVAL when
 * the secret is NULL, not base64, empty once decoded or longer than HOOKD_STANDARD_KEY_MAX. */
int hookd_standard_key(const char *secret, size_t secret_len, unsigned char *key, size_t *key_len);

/* Writes "v1,<base64>" (HOOKD_STANDARD_SIGNATURE_LEN + 1 bytes) for one secret, over
 * `id "." unix_seconds "." body`. HOOKD_OK; HOOKD_EINVAL (a secret hookd_standard_key
 * refuses, id NULL or empty, unix_seconds negative, body NULL with a nonzero body_len);
 * HOOKD_ENOMEM; HOOKD_EIO. On error out is "". */
int hookd_standard_sign(const char *secret, size_t secret_len, const char *id, int64_t unix_seconds,
                        const void *body, size_t body_len, char *out);

/* A hookd_signer for a Standard Webhooks secret (its key decoded once): HOOKD_OK, or
 * hookd_standard_key's HOOKD_EINVAL, HOOKD_ENOMEM, HOOKD_EIO; *out is NULL on error. Signs
 * with hookd_signer_standard_sign. */
int hookd_signer_new_standard(const char *secret, size_t secret_len, hookd_signer **out);

/* hookd_standard_sign with s's key: the same value, the same codes (but the secret's, which
 * hookd_signer_new_standard checked). */
int hookd_signer_standard_sign(hookd_signer *s, const char *id, int64_t unix_seconds,
                               const void *body, size_t body_len, char *out);

/*
 * Verifies a Standard Webhooks delivery, in the order of hookd_verify:
 *   id, timestamp or signature NULL or empty → HOOKD_EMISSING;
 *   timestamp not 1 to 19 decimal digits → HOOKD_ETIMESTAMP;
 *   outside now ± tolerance → HOOKD_EEXPIRED / HOOKD_EFUTURE;
 *   no space-separated "v1,<base64 of 32 bytes>" value in signature → HOOKD_ESIGNATURE_FORMAT
 *   (values of other versions are skipped);
 *   no v1 value matches any secret (constant-time) → HOOKD_ESIGNATURE, or HOOKD_ENOMEM /
 *   HOOKD_EIO when computing an HMAC failed.
 * A secret hookd_standard_key refuses matches nothing. *sent_at (when not NULL) gets the
 * timestamp once it parsed. Returns HOOKD_OK when one value matches one secret.
 */
int hookd_standard_verify(const hookd_secret *secrets, size_t secret_count, const char *id,
                          const char *timestamp, const char *signature, const void *body,
                          size_t body_len, int64_t now, int64_t tolerance, int64_t *sent_at);

/*
 * Verifies a GitHub delivery's X-Hub-Signature-256 over the body: NULL or empty →
 * HOOKD_EMISSING; not "sha256=" and 64 hex digits → HOOKD_ESIGNATURE_FORMAT; matching none
 * of the secrets (constant-time) → HOOKD_ESIGNATURE (or HOOKD_ENOMEM / HOOKD_EIO). GitHub
 * sends no timestamp: there is no replay window to check. HOOKD_OK when one secret matches.
 */
int hookd_github_verify(const hookd_secret *secrets, size_t secret_count, const char *signature,
                        const void *body, size_t body_len);

/*
 * Verifies a Stripe delivery's Stripe-Signature header ("t=…,v1=…,v1=…", other keys
 * skipped): NULL or empty → HOOKD_EMISSING; no t, or t not 1 to 19 decimal digits →
 * HOOKD_ETIMESTAMP; outside now ± tolerance → HOOKD_EEXPIRED / HOOKD_EFUTURE; no v1 of 64 hex
 * digits → HOOKD_ESIGNATURE_FORMAT; no v1 matching any secret over `t "." body` →
 * HOOKD_ESIGNATURE (or HOOKD_ENOMEM / HOOKD_EIO). *sent_at (when not NULL) gets t once it
 * parsed. HOOKD_OK when one v1 matches one secret.
 */
int hookd_stripe_verify(const hookd_secret *secrets, size_t secret_count, const char *header,
                        const void *body, size_t body_len, int64_t now, int64_t tolerance,
                        int64_t *sent_at);

/* ---- timestamps: strictly YYYY-MM-DDTHH:MM:SSZ, UTC ---- */

#define HOOKD_TIMESTAMP_LEN 20 /* strlen("2024-08-22T01:04:05Z") */

/* Formats Unix seconds into out (HOOKD_TIMESTAMP_LEN + 1 bytes). Years 0000–9999 only:
 * HOOKD_OK, or HOOKD_EINVAL for a time outside them. */
int hookd_timestamp_format(int64_t unix_seconds, char *out);

/* Parses the strict form (no offset, no fraction, real calendar date) into Unix seconds.
 * HOOKD_OK; anything else → HOOKD_ETIMESTAMP. */
int hookd_timestamp_parse(const char *text, int64_t *unix_seconds);

/* ---- webhook ids ---- */

#define HOOKD_ID_LEN 36 /* canonical UUID text */

/* Writes a fresh UUIDv4 from the OS's CSPRNG into out (HOOKD_ID_LEN + 1 bytes), lowercase.
 * HOOKD_OK, or HOOKD_EIO when the CSPRNG fails (out is "" then). */
int hookd_id_new(char *out);

/* Writes a fresh UUIDv7 into out (HOOKD_ID_LEN + 1 bytes): unix_ms in the first 48 bits,
 * so ids made later sort later (and index pages fill in order), the rest from the CSPRNG.
 * Within one millisecond the order is random. HOOKD_OK; HOOKD_EINVAL when unix_ms is
 * negative or past 2^48 - 1 (year 10889); HOOKD_EIO when the CSPRNG fails. On error out is "". */
int hookd_id_new_v7(int64_t unix_ms, char *out);

/* True when text is a canonical lowercase UUID (any version); false for NULL. */
bool hookd_id_valid(const char *text);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). Cannot fail. */
void hookd_hex_encode(const void *bytes, size_t len, char *out);

/* ---- the envelope: {"event":<type>,"data":<object>} ---- */

/*
 * Builds the compact envelope from an event type and the application's data, given as JSON
 * text. data must be a JSON object; its members keep their order and their bytes (numbers
 * and strings are copied as written, only insignificant whitespace is removed).
 * On success *out is a malloc'd NUL-terminated string the caller frees, *out_len its length.
 * Errors (*out is NULL then): HOOKD_EINVAL (event or data NULL), HOOKD_EJSON (data not
 * JSON), HOOKD_EENVELOPE (data not an object, or the type not a plain event name),
 * HOOKD_ETOOBIG (data over max_len bytes, when max_len != 0), HOOKD_ENOMEM.
 */
int hookd_envelope_build(const char *event, const char *data, size_t data_len, size_t max_len,
                         char **out, size_t *out_len);

/*
 * Checks that body is exactly a JSON object with a string "event" and an object "data"
 * (other members are allowed and ignored). On success, when event_out is not NULL, writes
 * the event type there (malloc'd, the caller frees). Returns HOOKD_OK; HOOKD_EJSON (not
 * JSON, or body NULL); HOOKD_EENVELOPE; HOOKD_ENOMEM. On error *event_out is NULL.
 */
int hookd_envelope_parse(const void *body, size_t body_len, char **event_out);

/* ---- the event-type catalog (SPEC §1) ---- */

typedef struct hookd_catalog hookd_catalog;

/* The default catalog of SPEC §1. The caller frees it with hookd_catalog_free.
 * NULL only when out of memory. */
hookd_catalog *hookd_catalog_default(void);

/*
 * Loads a catalog from a JSON file of the form
 *   {"event_types":[{"type":"events.created","description":"…",
 *                    "fields":{"id":"number","calendar_id":"number","name":"string?"}}]}
 * Field kinds: "number", "string", "e164", "boolean", "object", "array"; a trailing "?"
 * marks an optional field. With extend, the file's types are added to (or replace those of
 * the same name in) the default catalog; otherwise they replace it entirely.
 * On error returns NULL and writes a reason into err (errlen bytes): the file's problem, or
 * one ending in "out of memory".
 */
hookd_catalog *hookd_catalog_load_file(const char *path, bool extend, char *err, size_t errlen);

/* Frees a catalog; NULL is a no-op. */
void hookd_catalog_free(hookd_catalog *catalog);

/*
 * Validates an event for the catalog: the type must be known (HOOKD_EEVENTTYPE) and data
 * (JSON text) an object (HOOKD_EENVELOPE / HOOKD_EJSON) having every required field with
 * the right kind (HOOKD_EDATA). A human-readable reason is written into why (whylen bytes)
 * on failure, e.g. "data.calendar_id is required (number)". HOOKD_EINVAL when catalog,
 * event or data is NULL; HOOKD_ENOMEM when out of memory. HOOKD_OK when the event is valid.
 */
int hookd_catalog_validate(const hookd_catalog *catalog, const char *event, const char *data,
                           size_t data_len, char *why, size_t whylen);

/* The catalog as JSON text {"data":[{"type","description","fields":{…}}…]}; malloc'd, the
 * caller frees. NULL only when out of memory ({"data":[]} for a NULL catalog). */
char *hookd_catalog_to_json(const hookd_catalog *catalog);

/* ---- durations and sizes on the command line ---- */

/* "500ms", "10s", "5m", "2h", "7d" or a bare number of seconds → milliseconds.
 * HOOKD_OK; negative, empty, overflowing or unknown suffix → HOOKD_EINVAL. */
int hookd_duration_parse(const char *text, int64_t *milliseconds);

/* "1MiB", "512KiB", "1GiB", "64KB"/"64kB" (×1000), "1MB", or bare bytes → bytes.
 * HOOKD_OK; anything else → HOOKD_EINVAL. */
int hookd_size_parse(const char *text, uint64_t *bytes);

/* "30s,5m,30m,2h" → up to max durations in ms; *count gets how many. HOOKD_OK, or
 * HOOKD_EINVAL on a bad item, an empty list, or more than max items. */
int hookd_duration_list_parse(const char *text, int64_t *milliseconds, size_t max, size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* HOOKD_H */
