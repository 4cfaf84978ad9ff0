/*
 * core_hmac.h — what every verifier of the protocol core shares: the one HMAC-SHA256, over a
 * message given in pieces (so a body is never copied), the replay window and the hex form
 * of a MAC. MeetBit's recipe (signature.c) and Standard Webhooks', GitHub's and Stripe's
 * (wire_formats.c) are built on them; all three are defined in signature.c.
 * Private to src/core/. The double underscore marks a libhookd-internal symbol (as libuv's
 * uv__): it keeps the hookd_ namespace but is in no public header.
 */
#ifndef HOOKD_CORE_HMAC_H
#define HOOKD_CORE_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define CORE_MAC_LEN 32 /* bytes in an HMAC-SHA256 */

/* One piece of a signed message. */
typedef struct hookd__piece {
    const void *bytes; /* may be NULL when len is 0 */
    size_t len;
} hookd__piece;

/* The raw HMAC-SHA256, keyed with key_len bytes of key, over the pieces in order, into mac.
 * HOOKD_OK; HOOKD_EINVAL when key is NULL or key_len 0, or a piece is NULL with a nonzero
 * length; HOOKD_ENOMEM when OpenSSL cannot allocate its context; HOOKD_EIO when OpenSSL
 * fails otherwise (no HMAC provider loaded). */
int hookd__hmac_sha256(const void *key, size_t key_len, const hookd__piece *pieces, size_t count,
                       unsigned char mac[CORE_MAC_LEN]);

/* The replay window: HOOKD_EEXPIRED when sent_at is more than tolerance seconds before now,
 * HOOKD_EFUTURE when more than tolerance after, else HOOKD_OK. A negative tolerance counts
 * as 0; no overflow whatever the values. */
int hookd__window_check(int64_t sent_at, int64_t now, int64_t tolerance);

/* Decodes exactly 64 hex digits (either case) of len into mac. HOOKD_OK, or
 * HOOKD_ESIGNATURE_FORMAT. */
int hookd__mac_from_hex(const char *text, size_t len, unsigned char mac[CORE_MAC_LEN]);

struct hookd_signer;

/* A hookd_signer keyed with key_len bytes of key (hookd_signer_new's codes). */
int hookd__signer_from_key(const void *key, size_t key_len, struct hookd_signer **out);

/* The raw MAC of `id "." timestamp "." body` with s's key: HOOKD_OK; HOOKD_EINVAL for a NULL
 * id or timestamp, or a NULL body with a nonzero length; HOOKD_EIO. */
int hookd__signer_mac(struct hookd_signer *s, const char *id, const char *timestamp,
                      const void *body, size_t body_len, unsigned char mac[CORE_MAC_LEN]);

#endif
