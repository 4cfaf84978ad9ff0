/*
 * serve_signers.h — the sender's destination secrets with their HMAC keys ready (issue 10):
 * a small cache of hookd_signer keyed by destination and secret, so an attempt signs
 * without the digest lookup and key schedule hookd_sign pays per signature (a tenth of a
 * delivery's CPU). Used by serve_deliver.c only.
 *
 * Each entry holds a copy of its secret to notice a rotation (a different secret for the
 * same destination and place replaces the entry); a replaced or dropped entry's secret is
 * wiped (OPENSSL_cleanse) and its signer freed (which wipes the key schedule). Secrets are
 * never logged. Direct-mapped: a destination's secrets fall in fixed slots, so at most
 * SERVE_SIGNERS_SLOTS entries live and a stale secret goes at its destination's next attempt.
 *
 * Thread: the loop thread only (a hookd_signer serves one thread at a time).
 */
#ifndef HOOKD_SERVE_SIGNERS_H
#define HOOKD_SERVE_SIGNERS_H

#include "hookd.h"

#include <stdbool.h>
#include <stddef.h>

#define SERVE_SIGNERS_SLOTS 1024 /* entries at most (each about 1 KiB of OpenSSL state) */

typedef struct serve_signers serve_signers;

serve_signers *serve_signers_new(void);

/* Frees every entry, wiping secrets and keys. NULL is a no-op. */
void serve_signers_free(serve_signers *s);

/* The signer of destination_id's secret at place `which` (0: current, 1…: the previous ones
 * of a rotation), in its format (standard: Standard Webhooks' key, else MeetBit's), made
 * now when not cached or when the secret changed. NULL on failure, with hookd_signer_new's
 * (or hookd_signer_new_standard's) code in *rc; the signer is owned by the cache and valid
 * until the next call. */
hookd_signer *serve_signers_get(serve_signers *s, const char *destination_id, size_t which,
                                bool standard, const char *secret, int *rc);

#endif
