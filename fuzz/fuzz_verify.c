/*
 * fuzz_verify.c — libFuzzer target for hookd_verify, the receiver's check of a delivery's
 * X-Webhook-Id, X-Webhook-Timestamp and X-Webhook-Signature over its raw body, and for
 * hookd_id_valid on the same id.
 *
 * Input: one control byte, then "id\ntimestamp\nsignature\nsecret\nbody" (the body is the
 * rest, newlines and all). The control byte picks the clock and tolerance so that the
 * signature check is reached as often as the timestamp checks. The fuzzed secret is tried
 * together with a fixed one, as during a rotation.
 *
 * Invariants checked besides the sanitizers:
 *   - hookd_verifier_check (the keys precomputed) answers exactly as hookd_verify;
 *   - the verdict agrees with recomputing hookd_sign for every secret and comparing (any
 *     hex case) — the order of checks is the one the header documents;
 *   - a signature hookd_sign produced for the same inputs always verifies.
 */
#include "hookd.h"

#include "fuzz_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_secret[] = "whsec_fixed";

static void die(const char *what, int got, int want)
{
    fprintf(stderr, "fuzz_verify: %s: got %d (%s), want %d (%s)\n", what, got, hookd_strerror(got),
            want, hookd_strerror(want));
    abort();
}

static bool hex_equal_nocase(const char *given, const char *lower_hex)
{
    if (strlen(given) != HOOKD_SIGNATURE_HEX_LEN)
        return false;
    for (size_t i = 0; i < HOOKD_SIGNATURE_HEX_LEN; i++) {
        char c = given[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (c != lower_hex[i])
            return false;
    }
    return true;
}

static bool signature_format_ok(const char *s)
{
    if (strlen(s) != HOOKD_SIGNATURE_HEX_LEN)
        return false;
    for (const char *c = s; *c != '\0'; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F')))
            return false;
    return true;
}

/* What hookd_verify must answer, computed the slow, obvious way. */
static int expected_verdict(const hookd_secret *secrets, size_t count, const char *id,
                            const char *timestamp, const char *signature, const char *body,
                            size_t body_len, int64_t now, int64_t tolerance)
{
    int64_t sent_at;
    __int128 diff;

    if (*id == '\0' || *timestamp == '\0' || *signature == '\0')
        return HOOKD_EMISSING;
    if (hookd_timestamp_parse(timestamp, &sent_at) != HOOKD_OK)
        return HOOKD_ETIMESTAMP;
    if (tolerance < 0)
        tolerance = 0;
    diff = (__int128)now - sent_at;
    if (diff > tolerance)
        return HOOKD_EEXPIRED;
    if (-diff > tolerance)
        return HOOKD_EFUTURE;
    if (!signature_format_ok(signature))
        return HOOKD_ESIGNATURE_FORMAT;
    for (size_t i = 0; i < count; i++) {
        char sig[HOOKD_SIGNATURE_HEX_LEN + 1];
        if (hookd_sign(secrets[i].bytes, secrets[i].len, id, timestamp, body, body_len, sig) ==
                HOOKD_OK &&
            hex_equal_nocase(signature, sig))
            return HOOKD_OK;
    }
    return HOOKD_ESIGNATURE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t tolerances[] = {300, 0, -1, INT64_MAX, INT64_MIN, 1};
    const uint8_t *cursor, *end = data + size;
    char *id, *timestamp, *signature, *secret, *body;
    hookd_secret secrets[2];
    int64_t now = 1724288645, sent_at, tolerance;
    size_t body_len;
    uint8_t control;
    int got, want;

    if (size == 0)
        return 0;
    control = data[0];
    cursor = data + 1;
    id = fuzz_next_field(&cursor, end);
    timestamp = fuzz_next_field(&cursor, end);
    signature = fuzz_next_field(&cursor, end);
    secret = fuzz_next_field(&cursor, end);
    body_len = (size_t)(end - cursor);
    body = malloc(body_len + 1);
    if (body == NULL)
        abort();
    memcpy(body, cursor, body_len);
    body[body_len] = '\0';

    (void)hookd_id_valid(id);

    tolerance = tolerances[(control >> 2) % (sizeof tolerances / sizeof tolerances[0])];
    switch (control & 3) {
    case 0: /* the clock agrees with the sender's: reach the signature check */
        if (hookd_timestamp_parse(timestamp, &sent_at) == HOOKD_OK)
            now = sent_at + (int64_t)(control >> 5) - 3;
        break;
    case 1:
        now = INT64_MIN;
        break;
    case 2:
        now = INT64_MAX;
        break;
    default:
        break;
    }

    secrets[0].bytes = fixed_secret;
    secrets[0].len = sizeof fixed_secret - 1;
    secrets[1].bytes = secret;
    secrets[1].len = strlen(secret);

    got = hookd_verify(secrets, 2, id, timestamp, signature, body, body_len, now, tolerance);
    want = expected_verdict(secrets, 2, id, timestamp, signature, body, body_len, now, tolerance);
    if (got != want)
        die("verdict differs from the reference", got, want);
    hookd_verifier *verifier = NULL;
    if (hookd_verifier_new(secrets, 2, &verifier) != HOOKD_OK)
        die("hookd_verifier_new failed", -1, 0);
    got = hookd_verifier_check(verifier, id, timestamp, signature, body, body_len, now, tolerance);
    hookd_verifier_free(verifier);
    if (got != want)
        die("the verifier's verdict differs from hookd_verify's", got, want);

    /* Whatever the fuzzed signature was, the right one must verify. */
    if (*id != '\0' && hookd_timestamp_parse(timestamp, &sent_at) == HOOKD_OK) {
        char sig[HOOKD_SIGNATURE_HEX_LEN + 1];
        const hookd_secret *signer = &secrets[control & 1 && secrets[1].len != 0 ? 1 : 0];
        if (hookd_sign(signer->bytes, signer->len, id, timestamp, body, body_len, sig) != HOOKD_OK)
            die("hookd_sign failed", -1, 0);
        got = hookd_verify(secrets, 2, id, timestamp, sig, body, body_len, sent_at, 300);
        if (got != HOOKD_OK)
            die("a fresh signature does not verify", got, HOOKD_OK);
    }

    free(id);
    free(timestamp);
    free(signature);
    free(secret);
    free(body);
    return 0;
}
