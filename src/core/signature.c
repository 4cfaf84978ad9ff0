/*
 * signature.c — HMAC-SHA256 webhook signatures (SPEC §1): what a sender writes into
 * X-Webhook-Signature, and the receiver's checks in their contractual order.
 *
 * The signed message is `id "." timestamp "." body`, fed to the MAC in pieces so a large
 * body is never copied; the HMAC itself (hookd__hmac_sha256, core_hmac.h) is shared with the
 * other wire formats (wire_formats.c). Comparison is constant-time (CRYPTO_memcmp) against every
 * secret, without stopping at the first match, so timing does not reveal which secret matched.
 * A hookd_verifier holds each secret's HMAC context already keyed (the key schedule done
 * once); a check borrows that secret's spare working context, reset to the keyed state, or
 * copies the keyed one when another thread holds the spare (a copy and its free were a quarter
 * of a check). Both checks share one matching loop (match_any).
 * A hookd_signer is the sender's twin: one secret's keyed context, reset (not keyed again)
 * for each signature.
 */
#include "hookd.h"

#include "core_alloc.h"
#include "core_hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAC_LEN CORE_MAC_LEN

/* Fetching the HMAC implementation is a locked provider lookup: done once per process, not
 * per signature (the receiver verifies every request). EVP_MAC objects are shareable. */
static EVP_MAC *hmac_implementation;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_implementation = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int hookd__hmac_sha256(const void *key, size_t key_len, const hookd__piece *pieces, size_t count,
                       unsigned char mac[CORE_MAC_LEN])
{
    int rc = HOOKD_EIO;
    EVP_MAC_CTX *ctx = NULL;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[2];
    size_t mac_len = 0;

    if (key == NULL || key_len == 0)
        return HOOKD_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (pieces[i].bytes == NULL && pieces[i].len != 0)
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
    if (!EVP_MAC_init(ctx, key, key_len, params))
        goto done;
    for (size_t i = 0; i < count; i++)
        if (pieces[i].len != 0 && !EVP_MAC_update(ctx, pieces[i].bytes, pieces[i].len))
            goto done;
    if (!EVP_MAC_final(ctx, mac, &mac_len, CORE_MAC_LEN) || mac_len != CORE_MAC_LEN)
        goto done;
    rc = HOOKD_OK;
done:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* The raw HMAC-SHA256 of `id "." timestamp "." body` into mac: hookd__hmac_sha256's codes,
 * and HOOKD_EINVAL for a NULL id or timestamp. */
static int compute_mac(const char *secret, size_t secret_len, const char *id, const char *timestamp,
                       const void *body, size_t body_len, unsigned char mac[MAC_LEN])
{
    if (id == NULL || timestamp == NULL)
        return HOOKD_EINVAL;
    hookd__piece pieces[] = {
        {id, strlen(id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1}, {body, body_len}};
    return hookd__hmac_sha256(secret, secret_len, pieces, sizeof pieces / sizeof pieces[0], mac);
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

/* Each byte's value as a hex digit, 0x10 for a byte that is none: one load per digit, where
 * a chain of range tests per character missed a branch on most digits of a random hex
 * string (the receiver decodes 64 per webhook). Filled once. */
static unsigned char hex_values[256];
static pthread_once_t hex_once = PTHREAD_ONCE_INIT;

static void hex_fill(void)
{
    memset(hex_values, 0x10, sizeof hex_values);
    for (int i = 0; i < 10; i++)
        hex_values['0' + i] = (unsigned char)i;
    for (int i = 0; i < 6; i++)
        hex_values['a' + i] = hex_values['A' + i] = (unsigned char)(10 + i);
}

int hookd__mac_from_hex(const char *text, size_t len, unsigned char mac[MAC_LEN])
{
    if (len != HOOKD_SIGNATURE_HEX_LEN)
        return HOOKD_ESIGNATURE_FORMAT;
    pthread_once(&hex_once, hex_fill);
    const unsigned char *t = (const unsigned char *)text;
    unsigned bad = 0;
    for (size_t i = 0; i < MAC_LEN; i++) {
        unsigned hi = hex_values[t[2 * i]], lo = hex_values[t[2 * i + 1]];
        bad |= hi | lo; /* only a byte that is no digit has the bit 0x10 */
        mac[i] = (unsigned char)(hi << 4 | (lo & 0x0f));
    }
    return bad & 0x10 ? HOOKD_ESIGNATURE_FORMAT : HOOKD_OK;
}

int hookd__window_check(int64_t sent_at, int64_t now, int64_t tolerance)
{
    if (tolerance < 0)
        tolerance = 0;
    /* Compare differences rather than now ± tolerance, which could overflow. */
    if (sent_at < now && (uint64_t)now - (uint64_t)sent_at > (uint64_t)tolerance)
        return HOOKD_EEXPIRED;
    if (sent_at > now && (uint64_t)sent_at - (uint64_t)now > (uint64_t)tolerance)
        return HOOKD_EFUTURE;
    return HOOKD_OK;
}

/* The checks before any MAC (hookd_verify's first four): HOOKD_OK with the signature's
 * bytes in given, or the first failure's code. */
static int verify_prelude(const char *id, const char *timestamp, const char *signature, int64_t now,
                          int64_t tolerance, unsigned char given[MAC_LEN])
{
    int64_t sent_at;
    if (id == NULL || *id == '\0' || timestamp == NULL || *timestamp == '\0' || signature == NULL ||
        *signature == '\0')
        return HOOKD_EMISSING;
    if (hookd_timestamp_parse(timestamp, &sent_at) != HOOKD_OK)
        return HOOKD_ETIMESTAMP;
    int rc = hookd__window_check(sent_at, now, tolerance);
    if (rc != HOOKD_OK)
        return rc;
    if (hookd__mac_from_hex(signature, strlen(signature), given) != HOOKD_OK)
        return HOOKD_ESIGNATURE_FORMAT;
    return HOOKD_OK;
}

/* What every secret's MAC is computed over. */
typedef struct mac_input {
    const char *id, *timestamp;
    const void *body;
    size_t body_len;
} mac_input;

/* The MAC of in with secret number i of a set: HOOKD_OK, HOOKD_EINVAL for a secret that
 * matches nothing (an empty one), or a failure to compute. */
typedef int (*mac_of_fn)(const void *set, size_t i, const mac_input *in,
                         unsigned char mac[MAC_LEN]);

/* Tries given against every secret of the set, without stopping at the first match (timing
 * does not tell which matched). Running out of memory or a broken OpenSSL is not the
 * sender's fault: it is reported rather than called a bad signature. */
static int match_any(const void *set, size_t count, mac_of_fn mac_of, const mac_input *in,
                     const unsigned char given[MAC_LEN])
{
    unsigned char expected[MAC_LEN];
    int matched = 0, failure = HOOKD_OK;
    for (size_t i = 0; i < count; i++) {
        int rc = mac_of(set, i, in, expected);
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

static int secret_mac(const void *set, size_t i, const mac_input *in, unsigned char mac[MAC_LEN])
{
    const hookd_secret *secret = (const hookd_secret *)set + i;
    return compute_mac(secret->bytes, secret->len, in->id, in->timestamp, in->body, in->body_len,
                       mac);
}

int hookd_verify(const hookd_secret *secrets, size_t secret_count, const char *id,
                 const char *timestamp, const char *signature, const void *body, size_t body_len,
                 int64_t now, int64_t tolerance)
{
    unsigned char given[MAC_LEN];
    int rc = verify_prelude(id, timestamp, signature, now, tolerance, given);
    if (rc != HOOKD_OK)
        return rc;
    mac_input in = {id, timestamp, body, body_len};
    return match_any(secrets, secret_count, secret_mac, &in, given);
}

/* ---- precomputed keys ---- */

struct hookd_verifier {
    size_t count;
    EVP_MAC_CTX **keyed; /* per secret: initialized with its key, never fed; NULL: empty */
    /* per secret: a working context a check borrows (NULL while borrowed or not made yet);
     * atomic, since one verifier serves any number of threads */
    _Atomic(EVP_MAC_CTX *) *spare;
};

void hookd_verifier_free(hookd_verifier *v)
{
    if (v == NULL)
        return;
    /* EVP_MAC_CTX_free wipes the key material it holds. */
    for (size_t i = 0; i < v->count; i++) {
        if (v->keyed != NULL)
            EVP_MAC_CTX_free(v->keyed[i]);
        if (v->spare != NULL)
            EVP_MAC_CTX_free(atomic_load(&v->spare[i]));
    }
    free(v->keyed);
    free(v->spare);
    free(v);
}

/* A context keyed with key_len bytes of key: HOOKD_OK, HOOKD_ENOMEM or HOOKD_EIO. */
static int keyed_new(const char *key, size_t key_len, EVP_MAC_CTX **out)
{
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    pthread_once(&hmac_once, hmac_fetch);
    if (hmac_implementation == NULL)
        return HOOKD_EIO;
    *out = EVP_MAC_CTX_new(hmac_implementation);
    if (*out == NULL)
        return HOOKD_ENOMEM;
    if (!EVP_MAC_init(*out, (const unsigned char *)key, key_len, params)) {
        EVP_MAC_CTX_free(*out);
        *out = NULL;
        return HOOKD_EIO;
    }
    return HOOKD_OK;
}

int hookd_verifier_new(const hookd_secret *secrets, size_t secret_count, hookd_verifier **out)
{
    *out = NULL;
    hookd_verifier *v = core_calloc(1, sizeof *v);
    if (v == NULL)
        return HOOKD_ENOMEM;
    v->keyed = core_calloc(secret_count, sizeof *v->keyed);
    v->spare = core_calloc(secret_count, sizeof *v->spare);
    v->count = secret_count;
    if (v->keyed == NULL || v->spare == NULL) {
        hookd_verifier_free(v);
        return HOOKD_ENOMEM;
    }
    for (size_t i = 0; i < secret_count; i++)
        atomic_init(&v->spare[i], NULL);
    for (size_t i = 0; i < secret_count; i++) {
        if (secrets[i].bytes == NULL || secrets[i].len == 0)
            continue; /* matches nothing */
        int rc = keyed_new(secrets[i].bytes, secrets[i].len, &v->keyed[i]);
        if (rc != HOOKD_OK) {
            hookd_verifier_free(v);
            return rc;
        }
    }
    *out = v;
    return HOOKD_OK;
}

/* A working context for secret number i, in its keyed state: the spare when no other check
 * holds it, else a copy of the keyed context. NULL when out of memory. */
static EVP_MAC_CTX *keyed_borrow(const hookd_verifier *v, size_t i)
{
    EVP_MAC_CTX *ctx = atomic_exchange_explicit(&v->spare[i], NULL, memory_order_acquire);
    /* no key: OpenSSL restarts from the key schedule the context keeps (HMAC_Init_ex's reuse) */
    if (ctx != NULL && EVP_MAC_init(ctx, NULL, 0, NULL))
        return ctx;
    EVP_MAC_CTX_free(ctx);
    return EVP_MAC_CTX_dup(v->keyed[i]);
}

/* Gives ctx back as secret number i's spare, or frees it when another check put one back. */
static void keyed_return(const hookd_verifier *v, size_t i, EVP_MAC_CTX *ctx)
{
    EVP_MAC_CTX *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&v->spare[i], &none, ctx, memory_order_release,
                                                 memory_order_relaxed))
        EVP_MAC_CTX_free(ctx);
}

/* The MAC of in with secret number i's key (an empty secret has none: it matches nothing). */
static int keyed_mac(const void *set, size_t i, const mac_input *in, unsigned char mac[MAC_LEN])
{
    const hookd_verifier *v = set;
    const hookd__piece pieces[] = {{in->id, strlen(in->id)},
                                   {".", 1},
                                   {in->timestamp, strlen(in->timestamp)},
                                   {".", 1},
                                   {in->body, in->body_len}};
    if (v->keyed[i] == NULL || (in->body == NULL && in->body_len != 0))
        return HOOKD_EINVAL;
    EVP_MAC_CTX *ctx = keyed_borrow(v, i);
    if (ctx == NULL)
        return HOOKD_ENOMEM;
    size_t mac_len = 0;
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++)
        if (pieces[k].len != 0 && !EVP_MAC_update(ctx, pieces[k].bytes, pieces[k].len)) {
            EVP_MAC_CTX_free(ctx);
            return HOOKD_EIO;
        }
    if (!EVP_MAC_final(ctx, mac, &mac_len, MAC_LEN) || mac_len != MAC_LEN) {
        EVP_MAC_CTX_free(ctx);
        return HOOKD_EIO;
    }
    keyed_return(v, i, ctx);
    return HOOKD_OK;
}

int hookd_verifier_check(const hookd_verifier *v, const char *id, const char *timestamp,
                         const char *signature, const void *body, size_t body_len, int64_t now,
                         int64_t tolerance)
{
    unsigned char given[MAC_LEN];
    int rc = verify_prelude(id, timestamp, signature, now, tolerance, given);
    if (rc != HOOKD_OK)
        return rc;
    mac_input in = {id, timestamp, body, body_len};
    return match_any(v, v->count, keyed_mac, &in, given);
}

/* ---- a sender's precomputed key ---- */

struct hookd_signer {
    EVP_MAC_CTX *ctx; /* keyed once; each signature resets it to the keyed state */
    /* the last attempt's timestamp: a sender signs many attempts within one second, and
     * formatting it (gmtime_r, snprintf) cost a quarter of a signature */
    int64_t formatted_at;
    char formatted[HOOKD_TIMESTAMP_LEN + 1]; /* "" until one is formatted */
};

int hookd__signer_from_key(const void *key, size_t key_len, hookd_signer **out)
{
    *out = NULL;
    if (key == NULL || key_len == 0)
        return HOOKD_EINVAL;
    hookd_signer *s = core_calloc(1, sizeof *s);
    if (s == NULL)
        return HOOKD_ENOMEM;
    int rc = keyed_new(key, key_len, &s->ctx);
    if (rc != HOOKD_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return HOOKD_OK;
}

int hookd_signer_new(const char *secret, size_t secret_len, hookd_signer **out)
{
    return hookd__signer_from_key(secret, secret_len, out);
}

void hookd_signer_free(hookd_signer *s)
{
    if (s == NULL)
        return;
    EVP_MAC_CTX_free(s->ctx); /* wipes the key material it holds */
    free(s);
}

int hookd__signer_mac(hookd_signer *s, const char *id, const char *timestamp, const void *body,
                      size_t body_len, unsigned char mac[MAC_LEN])
{
    if (id == NULL || timestamp == NULL || (body == NULL && body_len != 0))
        return HOOKD_EINVAL;
    const hookd__piece pieces[] = {
        {id, strlen(id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1}, {body, body_len}};
    size_t mac_len = 0;
    /* no key: OpenSSL restarts from the key schedule it keeps (HMAC_Init_ex's reuse) */
    if (!EVP_MAC_init(s->ctx, NULL, 0, NULL))
        return HOOKD_EIO;
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++)
        if (pieces[k].len != 0 && !EVP_MAC_update(s->ctx, pieces[k].bytes, pieces[k].len))
            return HOOKD_EIO;
    if (!EVP_MAC_final(s->ctx, mac, &mac_len, MAC_LEN) || mac_len != MAC_LEN)
        return HOOKD_EIO;
    return HOOKD_OK;
}

int hookd_signer_sign(hookd_signer *s, const char *id, const char *timestamp, const void *body,
                      size_t body_len, char *out)
{
    unsigned char mac[MAC_LEN];
    out[0] = '\0';
    int rc = hookd__signer_mac(s, id, timestamp, body, body_len, mac);
    if (rc != HOOKD_OK)
        return rc;
    hookd_hex_encode(mac, MAC_LEN, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return HOOKD_OK;
}

int hookd_signer_sign_attempt(hookd_signer *s, const char *id, int64_t unix_seconds,
                              const void *body, size_t body_len, hookd_signed *out)
{
    int rc = HOOKD_OK;
    if (s->formatted[0] == '\0' || s->formatted_at != unix_seconds) {
        rc = hookd_timestamp_format(unix_seconds, s->formatted);
        s->formatted_at = unix_seconds;
    }
    memcpy(out->timestamp, s->formatted, sizeof s->formatted);
    if (rc == HOOKD_OK)
        rc = hookd_signer_sign(s, id, out->timestamp, body, body_len, out->signature);
    if (rc != HOOKD_OK) {
        out->timestamp[0] = '\0';
        out->signature[0] = '\0';
    }
    return rc;
}
