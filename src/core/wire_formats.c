/*
 * wire_formats.c — the signature recipes of other senders (SPEC §8), beside MeetBit's own
 * (signature.c): Standard Webhooks v1 (signing and verification: hookd serve sends it),
 * GitHub's X-Hub-Signature-256 and Stripe's Stripe-Signature (verification: hookd receive
 * --provider accepts them), and the base64 they need, through libcrypto's EVP_EncodeBlock
 * and EVP_DecodeBlock.
 *
 * Every verifier keeps signature.c's rules: checks in a fixed order (missing, timestamp,
 * window, format, signature), constant-time comparison against every secret without
 * stopping at the first match, and an HMAC that cannot be computed reported as ours
 * (HOOKD_ENOMEM, HOOKD_EIO), never as a bad signature. A signature header holding several
 * values (a sender rotating its secret) matches when any value matches any secret.
 */
#include "hookd.h"

#include "core_hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <string.h>

#define BASE64_MAX_INPUT (512u << 20) /* EVP_EncodeBlock takes an int length */
#define UNIX_DIGITS_MAX 19            /* decimal digits of a Unix time in seconds */

/* ---- base64 ---- */

int hookd_base64_encode(const void *bytes, size_t len, char *out)
{
    out[0] = '\0';
    if (len > BASE64_MAX_INPUT || (bytes == NULL && len != 0))
        return HOOKD_EINVAL;
    if (len != 0)
        EVP_EncodeBlock((unsigned char *)out, bytes, (int)len);
    return HOOKD_OK;
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* How many '=' end text, when text is otherwise strict base64; -1 when it is not.
 * EVP_DecodeBlock itself skips surrounding whitespace and counts padding as zero bytes, so
 * the strict form is checked here and the padding subtracted by the caller. */
static int base64_padding(const char *text, size_t len)
{
    if (len == 0 || len % 4 != 0)
        return -1;
    int pad = text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (!base64_char(text[i]))
            return -1;
    return pad;
}

int hookd_base64_decode(const char *text, size_t text_len, unsigned char *out, size_t out_size,
                        size_t *out_len)
{
    *out_len = 0;
    if (text == NULL || text_len > BASE64_MAX_INPUT)
        return HOOKD_EINVAL;
    int pad = base64_padding(text, text_len);
    if (pad < 0 || out_size < text_len / 4 * 3)
        return HOOKD_EINVAL;
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)text_len);
    if (n < 0 || (size_t)n != text_len / 4 * 3)
        return HOOKD_EINVAL;
    *out_len = (size_t)n - (size_t)pad;
    return HOOKD_OK;
}

/* ---- shared pieces ---- */

/* A Unix time in seconds: 1 to UNIX_DIGITS_MAX ASCII digits, no sign, no overflow. */
static bool unix_seconds_parse(const char *text, size_t len, int64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > UNIX_DIGITS_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

/* The next token of *cursor up to sep (or the end): its start and length. Empty tokens
 * (two separators in a row) are skipped. False when none is left. */
static bool next_token(const char **cursor, char sep, const char **token, size_t *len)
{
    const char *p = *cursor;
    while (*p == sep)
        p++;
    if (*p == '\0')
        return false;
    const char *end = strchr(p, sep);
    if (end == NULL)
        end = p + strlen(p);
    *token = p;
    *len = (size_t)(end - p);
    *cursor = end;
    return true;
}

/* Verdict of a comparison loop: a match wins; otherwise an HMAC we could not compute
 * (failure) is ours to report; otherwise the signature is bad. */
static int verdict(bool matched, int failure)
{
    if (matched)
        return HOOKD_OK;
    return failure != HOOKD_OK ? failure : HOOKD_ESIGNATURE;
}

/* Keeps in *failure an HMAC error that is not the sender's (an unusable secret, EINVAL,
 * simply matches nothing). */
static void note_failure(int rc, int *failure)
{
    if (rc != HOOKD_OK && rc != HOOKD_EINVAL)
        *failure = rc;
}

/* ---- Standard Webhooks ---- */

int hookd_standard_key(const char *secret, size_t secret_len, unsigned char *key, size_t *key_len)
{
    size_t prefix = sizeof HOOKD_STANDARD_SECRET_PREFIX - 1;
    unsigned char decoded[HOOKD_STANDARD_KEY_MAX + 3];
    *key_len = 0;
    if (secret == NULL)
        return HOOKD_EINVAL;
    if (secret_len >= prefix && memcmp(secret, HOOKD_STANDARD_SECRET_PREFIX, prefix) == 0) {
        secret += prefix;
        secret_len -= prefix;
    }
    size_t n = 0;
    if (secret_len > HOOKD_BASE64_LEN(HOOKD_STANDARD_KEY_MAX) ||
        hookd_base64_decode(secret, secret_len, decoded, sizeof decoded, &n) != HOOKD_OK ||
        n == 0 || n > HOOKD_STANDARD_KEY_MAX) {
        OPENSSL_cleanse(decoded, sizeof decoded);
        return HOOKD_EINVAL;
    }
    memcpy(key, decoded, n);
    *key_len = n;
    OPENSSL_cleanse(decoded, sizeof decoded);
    return HOOKD_OK;
}

/* The raw MAC of `id "." timestamp "." body` keyed by a Standard Webhooks secret. */
static int standard_mac(const char *secret, size_t secret_len, const char *id,
                        const char *timestamp, const void *body, size_t body_len,
                        unsigned char mac[CORE_MAC_LEN])
{
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len;
    int rc = hookd_standard_key(secret, secret_len, key, &key_len);
    if (rc == HOOKD_OK) {
        hookd__piece pieces[] = {
            {id, strlen(id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1}, {body, body_len}};
        rc = hookd__hmac_sha256(key, key_len, pieces, sizeof pieces / sizeof pieces[0], mac);
    }
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

/* The timestamp a Standard Webhooks attempt signs, into timestamp; out is "" until signed.
 * HOOKD_EINVAL for an empty id or a negative time. */
static int standard_prelude(const char *id, int64_t unix_seconds, char *out,
                            char timestamp[UNIX_DIGITS_MAX + 1])
{
    out[0] = '\0';
    if (id == NULL || *id == '\0' || unix_seconds < 0)
        return HOOKD_EINVAL;
    snprintf(timestamp, UNIX_DIGITS_MAX + 1, "%lld", (long long)unix_seconds);
    return HOOKD_OK;
}

/* "v1,<base64 of mac>" into out when rc is HOOKD_OK; wipes mac; returns the outcome. */
static int standard_value_out(int rc, unsigned char mac[CORE_MAC_LEN], char *out)
{
    if (rc == HOOKD_OK) {
        memcpy(out, "v1,", 3);
        rc = hookd_base64_encode(mac, CORE_MAC_LEN, out + 3);
    }
    OPENSSL_cleanse(mac, CORE_MAC_LEN);
    return rc;
}

int hookd_standard_sign(const char *secret, size_t secret_len, const char *id, int64_t unix_seconds,
                        const void *body, size_t body_len, char *out)
{
    unsigned char mac[CORE_MAC_LEN] = {0};
    char timestamp[UNIX_DIGITS_MAX + 1];
    int rc = standard_prelude(id, unix_seconds, out, timestamp);
    if (rc == HOOKD_OK)
        rc = standard_mac(secret, secret_len, id, timestamp, body, body_len, mac);
    return standard_value_out(rc, mac, out);
}

int hookd_signer_new_standard(const char *secret, size_t secret_len, hookd_signer **out)
{
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len;
    *out = NULL;
    int rc = hookd_standard_key(secret, secret_len, key, &key_len);
    if (rc == HOOKD_OK)
        rc = hookd__signer_from_key(key, key_len, out);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int hookd_signer_standard_sign(hookd_signer *s, const char *id, int64_t unix_seconds,
                               const void *body, size_t body_len, char *out)
{
    unsigned char mac[CORE_MAC_LEN] = {0};
    char timestamp[UNIX_DIGITS_MAX + 1];
    int rc = standard_prelude(id, unix_seconds, out, timestamp);
    if (rc == HOOKD_OK)
        rc = hookd__signer_mac(s, id, timestamp, body, body_len, mac);
    return standard_value_out(rc, mac, out);
}

/* Decodes a "v1,<base64 of 32 bytes>" value of a webhook-signature header; false for any
 * other value (another version, or a malformed one). */
static bool standard_value(const char *token, size_t len, unsigned char mac[CORE_MAC_LEN])
{
    unsigned char decoded[CORE_MAC_LEN + 3];
    size_t n = 0;
    if (len != HOOKD_STANDARD_SIGNATURE_LEN || memcmp(token, "v1,", 3) != 0 ||
        hookd_base64_decode(token + 3, len - 3, decoded, sizeof decoded, &n) != HOOKD_OK ||
        n != CORE_MAC_LEN)
        return false;
    memcpy(mac, decoded, CORE_MAC_LEN);
    return true;
}

/* Whether any v1 value of the header equals expected (every value compared). */
static bool standard_any_matches(const char *header, const unsigned char expected[CORE_MAC_LEN])
{
    const char *cursor = header, *token;
    size_t len;
    unsigned char given[CORE_MAC_LEN];
    bool matched = false;
    while (next_token(&cursor, ' ', &token, &len))
        if (standard_value(token, len, given))
            matched |= CRYPTO_memcmp(given, expected, CORE_MAC_LEN) == 0;
    return matched;
}

/* Whether the header holds at least one well-formed v1 value. */
static bool standard_has_value(const char *header)
{
    const char *cursor = header, *token;
    size_t len;
    unsigned char given[CORE_MAC_LEN];
    while (next_token(&cursor, ' ', &token, &len))
        if (standard_value(token, len, given))
            return true;
    return false;
}

int hookd_standard_verify(const hookd_secret *secrets, size_t secret_count, const char *id,
                          const char *timestamp, const char *signature, const void *body,
                          size_t body_len, int64_t now, int64_t tolerance, int64_t *sent_at)
{
    unsigned char expected[CORE_MAC_LEN];
    int64_t when;
    int failure = HOOKD_OK;
    bool matched = false;

    if (id == NULL || *id == '\0' || timestamp == NULL || *timestamp == '\0' || signature == NULL ||
        *signature == '\0')
        return HOOKD_EMISSING;
    if (!unix_seconds_parse(timestamp, strlen(timestamp), &when))
        return HOOKD_ETIMESTAMP;
    if (sent_at != NULL)
        *sent_at = when;
    int rc = hookd__window_check(when, now, tolerance);
    if (rc != HOOKD_OK)
        return rc;
    if (!standard_has_value(signature))
        return HOOKD_ESIGNATURE_FORMAT;
    for (size_t i = 0; i < secret_count; i++) {
        rc =
            standard_mac(secrets[i].bytes, secrets[i].len, id, timestamp, body, body_len, expected);
        note_failure(rc, &failure);
        if (rc == HOOKD_OK)
            matched |= standard_any_matches(signature, expected);
    }
    OPENSSL_cleanse(expected, sizeof expected);
    return verdict(matched, failure);
}

/* ---- GitHub ---- */

int hookd_github_verify(const hookd_secret *secrets, size_t secret_count, const char *signature,
                        const void *body, size_t body_len)
{
    static const char prefix[] = "sha256=";
    unsigned char given[CORE_MAC_LEN], expected[CORE_MAC_LEN];
    int failure = HOOKD_OK;
    bool matched = false;

    if (signature == NULL || *signature == '\0')
        return HOOKD_EMISSING;
    if (strncmp(signature, prefix, sizeof prefix - 1) != 0 ||
        hookd__mac_from_hex(signature + sizeof prefix - 1, strlen(signature) - (sizeof prefix - 1),
                            given) != HOOKD_OK)
        return HOOKD_ESIGNATURE_FORMAT;
    hookd__piece piece = {body, body_len};
    for (size_t i = 0; i < secret_count; i++) {
        int rc = hookd__hmac_sha256(secrets[i].bytes, secrets[i].len, &piece, 1, expected);
        note_failure(rc, &failure);
        if (rc == HOOKD_OK)
            matched |= CRYPTO_memcmp(given, expected, CORE_MAC_LEN) == 0;
    }
    OPENSSL_cleanse(expected, sizeof expected);
    return verdict(matched, failure);
}

/* ---- Stripe ---- */

/* The header's first t: its text and value. HOOKD_ETIMESTAMP when absent or not digits. */
static int stripe_timestamp(const char *header, const char **text, size_t *text_len, int64_t *when)
{
    const char *cursor = header, *token;
    size_t len;
    while (next_token(&cursor, ',', &token, &len)) {
        if (len < 2 || memcmp(token, "t=", 2) != 0)
            continue;
        if (!unix_seconds_parse(token + 2, len - 2, when))
            return HOOKD_ETIMESTAMP;
        *text = token + 2;
        *text_len = len - 2;
        return HOOKD_OK;
    }
    return HOOKD_ETIMESTAMP;
}

/* Counts the header's well-formed v1 values; when expected is not NULL, also whether one
 * equals it (every value compared). */
static size_t stripe_values(const char *header, const unsigned char *expected, bool *matched)
{
    const char *cursor = header, *token;
    size_t len, count = 0;
    unsigned char given[CORE_MAC_LEN];
    while (next_token(&cursor, ',', &token, &len)) {
        if (len < 3 || memcmp(token, "v1=", 3) != 0 ||
            hookd__mac_from_hex(token + 3, len - 3, given) != HOOKD_OK)
            continue;
        count++;
        if (expected != NULL)
            *matched |= CRYPTO_memcmp(given, expected, CORE_MAC_LEN) == 0;
    }
    return count;
}

int hookd_stripe_verify(const hookd_secret *secrets, size_t secret_count, const char *header,
                        const void *body, size_t body_len, int64_t now, int64_t tolerance,
                        int64_t *sent_at)
{
    unsigned char expected[CORE_MAC_LEN];
    const char *t_text = NULL;
    size_t t_len = 0;
    int64_t when;
    int failure = HOOKD_OK;
    bool matched = false;

    if (header == NULL || *header == '\0')
        return HOOKD_EMISSING;
    int rc = stripe_timestamp(header, &t_text, &t_len, &when);
    if (rc != HOOKD_OK)
        return rc;
    if (sent_at != NULL)
        *sent_at = when;
    rc = hookd__window_check(when, now, tolerance);
    if (rc != HOOKD_OK)
        return rc;
    if (stripe_values(header, NULL, NULL) == 0)
        return HOOKD_ESIGNATURE_FORMAT;
    hookd__piece pieces[] = {{t_text, t_len}, {".", 1}, {body, body_len}};
    for (size_t i = 0; i < secret_count; i++) {
        rc = hookd__hmac_sha256(secrets[i].bytes, secrets[i].len, pieces,
                                sizeof pieces / sizeof pieces[0], expected);
        note_failure(rc, &failure);
        if (rc == HOOKD_OK)
            stripe_values(header, expected, &matched);
    }
    OPENSSL_cleanse(expected, sizeof expected);
    return verdict(matched, failure);
}
