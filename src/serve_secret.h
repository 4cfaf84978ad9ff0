/*
 * serve_secret.h — a destination's wire format and secrets (SPEC §3, §8): which formats
 * exist, the secret a new destination (or a rotation) gets in each, and the list of
 * previous secrets a rotation with a grace period keeps valid, stored as JSON text in
 * serve_destinations.previous_secrets. Pure: no store, no I/O but the CSPRNG; any thread.
 *
 * The sender signs a "meetbit" delivery with the current secret only (its one signature
 * header holds one value), a "standard-webhooks" delivery with the current secret and
 * every previous one still in its grace, space-separated, as the standard prescribes.
 */
#ifndef HOOKD_SERVE_SECRET_H
#define HOOKD_SERVE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_FORMAT_MEETBIT "meetbit"            /* SPEC §1, the default */
#define SERVE_FORMAT_STANDARD "standard-webhooks" /* SPEC §8 */

#define SERVE_SECRET_SIZE 64                           /* bytes holding any secret we make */
#define SERVE_SECRET_MAX_PREVIOUS 10                   /* previous secrets kept, at most */
#define SERVE_SECRET_MAX_GRACE_MS (7LL * 86400 * 1000) /* the longest grace of a rotation */

/* A previous secret, valid until expires_at (Unix ms). Owns secret. */
typedef struct serve_secret_old {
    char *secret;
    int64_t expires_at;
} serve_secret_old;

/* True for SERVE_FORMAT_MEETBIT and SERVE_FORMAT_STANDARD. */
bool serve_format_valid(const char *format);

/* True when format is SERVE_FORMAT_STANDARD (NULL is the default, meetbit). */
bool serve_format_standard(const char *format);

/* A fresh secret for a destination of format, into out (SERVE_SECRET_SIZE bytes):
 * meetbit: "whsec_" + 48 hex digits (24 random bytes, keyed as text);
 * standard-webhooks: "whsec_" + base64 of 32 random bytes (the key, once decoded).
 * 0, or HOOKD_EIO when the CSPRNG fails. */
int serve_secret_new(const char *format, char *out);

/* Parses the stored list (NULL or "" for none) into *list (*count entries), keeping only
 * those still valid after now, in stored order (newest first). Entries that do not parse
 * are skipped. The caller frees with serve_secret_list_free. */
void serve_secret_parse(const char *text, int64_t now, serve_secret_old **list, size_t *count);

/* The stored form of a list: JSON text [{"secret":…,"expires_at":ms}…] (malloc'd), or
 * NULL when count is 0. */
char *serve_secret_text(const serve_secret_old *list, size_t count);

/* The list after a rotation at now with grace_ms: the secret being replaced (valid until
 * now + grace_ms) first, then the entries of old still valid after now, at most
 * SERVE_SECRET_MAX_PREVIOUS in all (the oldest dropped). grace_ms 0: an empty list — every
 * old secret stops at once. Returns the stored form (serve_secret_text), NULL for none. */
char *serve_secret_rotated(const char *replaced, const serve_secret_old *old, size_t old_count,
                           int64_t now, int64_t grace_ms);

/* Drops from list, in place, the entries no longer valid after now (freeing them). */
void serve_secret_prune(serve_secret_old *list, size_t *count, int64_t now);

/* Frees a list from serve_secret_parse; NULL is a no-op. */
void serve_secret_list_free(serve_secret_old *list, size_t count);

#endif
