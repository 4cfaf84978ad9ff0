/*
 * fuzz_wire_formats.c — libFuzzer target for the other wire formats' parsers (SPEC §8):
 * hookd_base64_decode, hookd_standard_key, hookd_standard_verify (webhook-signature with
 * several space-separated values), hookd_github_verify (X-Hub-Signature-256) and
 * hookd_stripe_verify (Stripe-Signature "t=…,v1=…").
 *
 * Input: one control byte, then "header\nid\ntimestamp\nsecret\nbody" (the body is the
 * rest). The control byte picks the clock so that the signature checks are reached.
 *
 * Invariants checked besides the sanitizers:
 *   - base64: what decodes re-encodes to the same text;
 *   - every verifier answers one of the codes its declaration lists;
 *   - a Standard Webhooks signature made for the same inputs verifies when appended to the
 *     fuzzed header ("<fuzzed> v1,…"): other values never hide a matching one.
 */
#include "hookd.h"

#include "fuzz_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, int got)
{
    fprintf(stderr, "fuzz_wire_formats: %s: got %d (%s)\n", what, got, hookd_strerror(got));
    abort();
}

static bool listed(int rc, const int *codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rc == codes[i])
            return true;
    return false;
}

static const int verify_codes[] = {HOOKD_OK,        HOOKD_EMISSING, HOOKD_ETIMESTAMP,
                                   HOOKD_EEXPIRED,  HOOKD_EFUTURE,  HOOKD_ESIGNATURE_FORMAT,
                                   HOOKD_ESIGNATURE};
#define VERIFY_CODES (sizeof verify_codes / sizeof verify_codes[0])

static void check_base64(const char *text)
{
    size_t len = strlen(text), n;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        abort();
    if (hookd_base64_decode(text, len, out, len / 4 * 3, &n) == HOOKD_OK) {
        char *again = malloc(HOOKD_BASE64_LEN(n) + 1);
        if (again == NULL)
            abort();
        if (hookd_base64_encode(out, n, again) != HOOKD_OK)
            die("re-encoding failed", -1);
        /* Non-canonical padding bits may differ; the length and the decoded bytes not. */
        if (strlen(again) != len)
            die("base64 round trip changed the length", (int)n);
        free(again);
    }
    free(out);
}

/* Standard Webhooks: the fuzzed header, then a real signature appended to it. */
static void check_standard(const char *header, const char *id, const char *timestamp,
                           const hookd_secret *secret, const char *body, size_t body_len,
                           int64_t now)
{
    int rc =
        hookd_standard_verify(secret, 1, id, timestamp, header, body, body_len, now, 300, NULL);
    if (!listed(rc, verify_codes, VERIFY_CODES))
        die("hookd_standard_verify: unlisted code", rc);
    int64_t sent_at;
    char *end;
    sent_at = strtoll(timestamp, &end, 10);
    char sig[HOOKD_STANDARD_SIGNATURE_LEN + 1];
    if (*id == '\0' || *timestamp < '0' || *timestamp > '9' || *end != '\0' || sent_at < 0 ||
        strlen(timestamp) > 18 ||
        hookd_standard_sign(secret->bytes, secret->len, id, sent_at, body, body_len, sig) != 0)
        return;
    char expected_ts[24];
    snprintf(expected_ts, sizeof expected_ts, "%lld", (long long)sent_at);
    if (strcmp(expected_ts, timestamp) != 0) /* leading zeros: signed text differs */
        return;
    size_t hlen = strlen(header);
    char *joined = malloc(hlen + sizeof sig + 1);
    if (joined == NULL)
        abort();
    snprintf(joined, hlen + sizeof sig + 1, "%s %s", header, sig);
    rc = hookd_standard_verify(secret, 1, id, timestamp, joined, body, body_len, sent_at, 0, NULL);
    if (rc != HOOKD_OK)
        die("a fresh standard signature does not verify", rc);
    free(joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *cursor = data + 1, *end = data + size;
    char *header = fuzz_next_field(&cursor, end), *id = fuzz_next_field(&cursor, end),
         *timestamp = fuzz_next_field(&cursor, end), *secret = fuzz_next_field(&cursor, end);
    size_t body_len = (size_t)(end - cursor);
    char *body = malloc(body_len + 1);
    if (body == NULL)
        abort();
    memcpy(body, cursor, body_len);
    body[body_len] = '\0';
    int64_t now = (data[0] & 1) ? strtoll(timestamp, NULL, 10) : 1614265330;
    hookd_secret s = {secret, strlen(secret)};

    check_base64(header);
    check_base64(secret);
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len;
    (void)hookd_standard_key(secret, strlen(secret), key, &key_len);
    check_standard(header, id, timestamp, &s, body, body_len, now);

    int rc = hookd_github_verify(&s, 1, header, body, body_len);
    if (!listed(rc, verify_codes, VERIFY_CODES))
        die("hookd_github_verify: unlisted code", rc);
    int64_t sent_at = 0;
    rc = hookd_stripe_verify(&s, 1, header, body, body_len, now, 300, &sent_at);
    if (!listed(rc, verify_codes, VERIFY_CODES))
        die("hookd_stripe_verify: unlisted code", rc);

    free(header);
    free(id);
    free(timestamp);
    free(secret);
    free(body);
    return 0;
}
