/*
 * signature.c — HMAC-SHA256 webhook signatures (SPEC §1): what a sender writes into
 * X-Webhook-Signature, and the receiver's checks in their contractual order.
 *
 * The signed message is `id "." timestamp "." body`, fed to the MAC in pieces so a large
 * body is never copied. Comparison is constant-time (CRYPTO_memcmp) against every secret,
 * without stopping at the first match, so timing does not reveal which secret matched.
 */
#include "hookd.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <pthread.h>
#include <string.h>

#define MAC_LEN 32 /* bytes in an HMAC-SHA256 */

/* Fetching the HMAC implementation is a locked provider lookup: done once per process, not
 * per signature (the receiver verifies every request). EVP_MAC objects are shareable. */
static EVP_MAC *hmac_implementation;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_implementation = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Computes the raw HMAC-SHA256 of `id "." timestamp "." body` into mac. HOOKD_EINVAL for a
 * missing argument, HOOKD_ENOMEM when OpenSSL cannot allocate its context, HOOKD_EIO when
 * OpenSSL fails otherwise (no HMAC provider loaded). */
static int compute_mac(const char *secret, size_t secret_len, const char *id, const char *timestamp,
                       const void *body, size_t body_len, unsigned char mac[MAC_LEN])
{
    int rc = HOOKD_EIO;
    EVP_MAC_CTX *ctx = NULL;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[2];
    size_t mac_len = 0;

    if (secret == NULL || secret_len == 0 || id == NULL || timestamp == NULL ||
        (body == NULL && body_len != 0))
        return HOOKD_EINVAL;
    pthread_once(&hmac_once, hmac_fetch);
    if (hmac_implementation == NULL)
        goto done;
    ctx = EVP_MAC_CTX_new(hmac_implementation);
    if (ctx == NULL) {
        rc = HOOKD_ENOMEM;
        goto done;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(ctx, (const unsigned char *)secret, secret_len, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        (body_len != 0 && !EVP_MAC_update(ctx, body, body_len)) ||
        !EVP_MAC_final(ctx, mac, &mac_len, MAC_LEN) || mac_len != MAC_LEN)
        goto done;
    rc = HOOKD_OK;
done:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int hookd_sign(const char *secret, size_t secret_len, const char *id, const char *timestamp,
               const void *body, size_t body_len, char *out)
{
    unsigned char mac[MAC_LEN];
    int rc;

    out[0] = '\0';
    rc = compute_mac(secret, secret_len, id, timestamp, body, body_len, mac);
    if (rc != HOOKD_OK)
        return rc;
    hookd_hex_encode(mac, MAC_LEN, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return HOOKD_OK;
}

int hookd_sign_attempt(const char *secret, size_t secret_len, const char *id, int64_t unix_seconds,
                       const void *body, size_t body_len, hookd_signed *out)
{
    int rc = hookd_timestamp_format(unix_seconds, out->timestamp);
    if (rc == HOOKD_OK)
        rc = hookd_sign(secret, secret_len, id, out->timestamp, body, body_len, out->signature);
    if (rc != HOOKD_OK) {
        out->timestamp[0] = '\0';
        out->signature[0] = '\0';
    }
    return rc;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes exactly 64 hex digits (either case) into 32 bytes. */
static int decode_signature(const char *text, unsigned char mac[MAC_LEN])
{
    if (strlen(text) != HOOKD_SIGNATURE_HEX_LEN)
        return HOOKD_ESIGNATURE_FORMAT;
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return HOOKD_ESIGNATURE_FORMAT;
        mac[i] = (unsigned char)(hi << 4 | lo);
    }
    return HOOKD_OK;
}

int hookd_verify(const hookd_secret *secrets, size_t secret_count, const char *id,
                 const char *timestamp, const char *signature, const void *body, size_t body_len,
                 int64_t now, int64_t tolerance)
{
    unsigned char given[MAC_LEN], expected[MAC_LEN];
    int64_t sent_at;
    int matched = 0, failure = HOOKD_OK;

    if (id == NULL || *id == '\0' || timestamp == NULL || *timestamp == '\0' || signature == NULL ||
        *signature == '\0')
        return HOOKD_EMISSING;
    if (hookd_timestamp_parse(timestamp, &sent_at) != HOOKD_OK)
        return HOOKD_ETIMESTAMP;
    if (tolerance < 0)
        tolerance = 0;
    /* Compare differences rather than now ± tolerance, which could overflow. */
    if (sent_at < now && (uint64_t)now - (uint64_t)sent_at > (uint64_t)tolerance)
        return HOOKD_EEXPIRED;
    if (sent_at > now && (uint64_t)sent_at - (uint64_t)now > (uint64_t)tolerance)
        return HOOKD_EFUTURE;
    if (decode_signature(signature, given) != HOOKD_OK)
        return HOOKD_ESIGNATURE_FORMAT;
    for (size_t i = 0; i < secret_count; i++) {
        int rc =
            compute_mac(secrets[i].bytes, secrets[i].len, id, timestamp, body, body_len, expected);
        /* An empty secret (EINVAL) matches nothing; running out of memory or a broken
         * OpenSSL is not the sender's fault, so it is reported rather than called a bad
         * signature. */
        if (rc != HOOKD_OK) {
            if (rc != HOOKD_EINVAL)
                failure = rc;
            continue;
        }
        matched |= CRYPTO_memcmp(given, expected, MAC_LEN) == 0;
    }
    OPENSSL_cleanse(expected, sizeof expected);
    if (matched)
        return HOOKD_OK;
    return failure != HOOKD_OK ? failure : HOOKD_ESIGNATURE;
}
