/* test_signature.c — hookd_sign / hookd_verify (and hookd_verifier_check, its precomputed
 * twin, and hookd_signer, the sender's) against SPEC §1's vector and every failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <pthread.h>
#include <string.h>

static const char vector_id[] = "3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c";
static const char vector_ts[] = "2024-08-22T01:04:05Z";
static const char vector_body[] = "{\"event\":\"meeting_links.scheduled\",\"data\":{\"id\":1234}}";
/* Computed independently with Python: hmac.new(b"whsec_test", msg, hashlib.sha256). */
static const char vector_sig[] = "52c455b420bc277114faeb71257e38dc8f7ce1d2dc5fa1c8b60d494e7b46f5a8";
static const int64_t vector_now = 1724288645; /* 2024-08-22T01:04:05Z */

static hookd_secret secret_of(const char *s)
{
    hookd_secret secret = {s, strlen(s)};
    return secret;
}

static int verify_vector(const char *sig, int64_t now)
{
    hookd_secret secret = secret_of("whsec_test");
    return hookd_verify(&secret, 1, vector_id, vector_ts, sig, vector_body, strlen(vector_body),
                        now, 300);
}

static void test_spec_vector(void **state)
{
    char out[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    assert_int_equal(
        hookd_sign("whsec_test", 10, vector_id, vector_ts, vector_body, strlen(vector_body), out),
        HOOKD_OK);
    assert_string_equal(out, vector_sig);
    assert_int_equal(verify_vector(vector_sig, vector_now), HOOKD_OK);
}

static void test_utf8_body_and_secret(void **state)
{
    /* Python: hmac.new("sécret-🔑".encode(), b"id.2024-08-22T01:04:05Z." +
     * '{"event":"e","data":{"name":"Zoë 日本"}}'.encode(), sha256).hexdigest() */
    const char *secret = "s\xc3\xa9"
                         "cret-\xf0\x9f\x94\x91";
    const char *body =
        "{\"event\":\"e\",\"data\":{\"name\":\"Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac\"}}";
    char out[HOOKD_SIGNATURE_HEX_LEN + 1];
    hookd_secret s = secret_of(secret);
    (void)state;
    assert_int_equal(hookd_sign(secret, strlen(secret), "id", vector_ts, body, strlen(body), out),
                     HOOKD_OK);
    assert_string_equal(out, "ae8d0048f316349b9114e1691894492f3c9754d2174d39879d23d9eb1e8d4aac");
    assert_int_equal(hookd_verify(&s, 1, "id", vector_ts, out, body, strlen(body), vector_now, 300),
                     HOOKD_OK);
}

static void test_body_with_nul_and_empty(void **state)
{
    char a[HOOKD_SIGNATURE_HEX_LEN + 1], b[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    assert_int_equal(hookd_sign("k", 1, "id", vector_ts, "a\0b", 3, a), HOOKD_OK);
    assert_int_equal(hookd_sign("k", 1, "id", vector_ts, "a\0c", 3, b), HOOKD_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(hookd_sign("k", 1, "id", vector_ts, NULL, 0, a), HOOKD_OK);
    assert_int_equal(strlen(a), HOOKD_SIGNATURE_HEX_LEN);
}

static void test_sign_rejects_bad_arguments(void **state)
{
    char out[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    assert_int_equal(hookd_sign("", 0, "id", vector_ts, "x", 1, out), HOOKD_EINVAL);
    assert_int_equal(hookd_sign(NULL, 0, "id", vector_ts, "x", 1, out), HOOKD_EINVAL);
    assert_int_equal(hookd_sign("k", 1, NULL, vector_ts, "x", 1, out), HOOKD_EINVAL);
    assert_int_equal(hookd_sign("k", 1, "id", NULL, "x", 1, out), HOOKD_EINVAL);
}

static void test_uppercase_hex_accepted(void **state)
{
    char upper[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    for (size_t i = 0; i <= HOOKD_SIGNATURE_HEX_LEN; i++)
        upper[i] = (char)(vector_sig[i] >= 'a' && vector_sig[i] <= 'f' ? vector_sig[i] - 32
                                                                       : vector_sig[i]);
    assert_int_equal(verify_vector(upper, vector_now), HOOKD_OK);
}

static void test_missing(void **state)
{
    hookd_secret s = secret_of("whsec_test");
    (void)state;
    assert_int_equal(hookd_verify(&s, 1, NULL, vector_ts, vector_sig, "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
    assert_int_equal(hookd_verify(&s, 1, "", vector_ts, vector_sig, "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
    assert_int_equal(hookd_verify(&s, 1, vector_id, NULL, vector_sig, "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
    assert_int_equal(hookd_verify(&s, 1, vector_id, "", vector_sig, "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
    assert_int_equal(hookd_verify(&s, 1, vector_id, vector_ts, NULL, "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
    assert_int_equal(hookd_verify(&s, 1, vector_id, vector_ts, "", "x", 1, vector_now, 300),
                     HOOKD_EMISSING);
}

static void test_malformed_timestamp(void **state)
{
    hookd_secret s = secret_of("whsec_test");
    (void)state;
    assert_int_equal(hookd_verify(&s, 1, vector_id, "2024-08-22T01:04:05+00:00", vector_sig,
                                  vector_body, strlen(vector_body), vector_now, 300),
                     HOOKD_ETIMESTAMP);
    assert_int_equal(hookd_verify(&s, 1, vector_id, "1724288645", vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_ETIMESTAMP);
}

static void test_window(void **state)
{
    (void)state;
    /* Exactly at the edges is accepted; one second beyond is not. */
    assert_int_equal(verify_vector(vector_sig, vector_now + 300), HOOKD_OK);
    assert_int_equal(verify_vector(vector_sig, vector_now - 300), HOOKD_OK);
    assert_int_equal(verify_vector(vector_sig, vector_now + 301), HOOKD_EEXPIRED);
    assert_int_equal(verify_vector(vector_sig, vector_now - 301), HOOKD_EFUTURE);
    /* The window is checked before the signature. */
    assert_int_equal(verify_vector("zz", vector_now + 3600), HOOKD_EEXPIRED);
    /* Extreme clocks do not overflow. */
    assert_int_equal(verify_vector(vector_sig, INT64_MAX), HOOKD_EEXPIRED);
    assert_int_equal(verify_vector(vector_sig, INT64_MIN), HOOKD_EFUTURE);
}

static void test_signature_format(void **state)
{
    char bad[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    assert_int_equal(verify_vector("abc", vector_now), HOOKD_ESIGNATURE_FORMAT);
    memcpy(bad, vector_sig, sizeof bad);
    bad[10] = 'g';
    assert_int_equal(verify_vector(bad, vector_now), HOOKD_ESIGNATURE_FORMAT);
    /* "sha256=" prefixes and trailing characters are not accepted. */
    assert_int_equal(
        verify_vector("sha256=52c455b420bc277114faeb71257e38dc8f7ce1d2dc5fa1c8b60d494e7b46f5a8",
                      vector_now),
        HOOKD_ESIGNATURE_FORMAT);
}

static void test_bad_signature(void **state)
{
    char bad[HOOKD_SIGNATURE_HEX_LEN + 1];
    hookd_secret wrong = secret_of("whsec_other");
    char body[sizeof vector_body];
    (void)state;
    memcpy(bad, vector_sig, sizeof bad);
    bad[63] = bad[63] == '0' ? '1' : '0';
    assert_int_equal(verify_vector(bad, vector_now), HOOKD_ESIGNATURE);
    /* Wrong secret. */
    assert_int_equal(hookd_verify(&wrong, 1, vector_id, vector_ts, vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_ESIGNATURE);
    /* One body byte changed. */
    memcpy(body, vector_body, sizeof body);
    body[strlen(body) - 3] = '5';
    {
        hookd_secret s = secret_of("whsec_test");
        assert_int_equal(hookd_verify(&s, 1, vector_id, vector_ts, vector_sig, body, strlen(body),
                                      vector_now, 300),
                         HOOKD_ESIGNATURE);
        /* Another id. */
        assert_int_equal(hookd_verify(&s, 1, "3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6d", vector_ts,
                                      vector_sig, vector_body, strlen(vector_body), vector_now,
                                      300),
                         HOOKD_ESIGNATURE);
    }
    /* No secrets at all. */
    assert_int_equal(hookd_verify(NULL, 0, vector_id, vector_ts, vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_ESIGNATURE);
}

static void test_several_secrets(void **state)
{
    hookd_secret secrets[3] = {secret_of("whsec_new"), secret_of("whsec_test"),
                               secret_of("whsec_older")};
    hookd_secret none[2] = {secret_of("a"), secret_of("b")};
    (void)state;
    assert_int_equal(hookd_verify(secrets, 3, vector_id, vector_ts, vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_OK);
    assert_int_equal(hookd_verify(secrets + 1, 1, vector_id, vector_ts, vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_OK);
    assert_int_equal(hookd_verify(none, 2, vector_id, vector_ts, vector_sig, vector_body,
                                  strlen(vector_body), vector_now, 300),
                     HOOKD_ESIGNATURE);
    /* A secret given with an explicit length, not NUL-terminated at that length. */
    {
        hookd_secret prefix = {"whsec_testXYZ", 10};
        assert_int_equal(hookd_verify(&prefix, 1, vector_id, vector_ts, vector_sig, vector_body,
                                      strlen(vector_body), vector_now, 300),
                         HOOKD_OK);
    }
}

static void test_sign_attempt(void **state)
{
    hookd_signed out;
    hookd_secret secret = secret_of("whsec_test");
    (void)state;
    /* The SPEC vector's time gives the SPEC vector's timestamp and signature. */
    assert_int_equal(hookd_sign_attempt("whsec_test", 10, vector_id, vector_now, vector_body,
                                        strlen(vector_body), &out),
                     HOOKD_OK);
    assert_string_equal(out.timestamp, vector_ts);
    assert_string_equal(out.signature, vector_sig);
    /* What it produces at another time is what a receiver accepts at that time. */
    assert_int_equal(hookd_sign_attempt("whsec_test", 10, "other-id", 1900000000, "{}", 2, &out),
                     HOOKD_OK);
    assert_string_equal(out.timestamp, "2030-03-17T17:46:40Z");
    assert_int_equal(hookd_verify(&secret, 1, "other-id", out.timestamp, out.signature, "{}", 2,
                                  1900000000, 300),
                     HOOKD_OK);
}

static void test_sign_attempt_failures_leave_nothing_to_send(void **state)
{
    hookd_signed out;
    (void)state;
    /* A time outside years 0000-9999: no timestamp, no signature. */
    memset(&out, 'x', sizeof out);
    assert_int_equal(hookd_sign_attempt("k", 1, "id", INT64_C(253402300800), "{}", 2, &out),
                     HOOKD_EINVAL);
    assert_string_equal(out.timestamp, "");
    assert_string_equal(out.signature, "");
    /* The timestamp formats, but signing is refused: the timestamp is cleared too. */
    memset(&out, 'x', sizeof out);
    assert_int_equal(hookd_sign_attempt("", 0, "id", vector_now, "{}", 2, &out), HOOKD_EINVAL);
    assert_string_equal(out.timestamp, "");
    assert_string_equal(out.signature, "");
    assert_int_equal(hookd_sign_attempt("k", 1, NULL, vector_now, "{}", 2, &out), HOOKD_EINVAL);
    assert_string_equal(out.signature, "");
}

/* The verifier gives hookd_verify's answer, case by case: vector, every failure, a
 * rotation, an empty secret, a NULL body. */
static void test_verifier_answers_as_verify(void **state)
{
    hookd_secret one[] = {secret_of("whsec_test")};
    hookd_secret rotation[] = {secret_of("whsec_new"), secret_of(""), secret_of("whsec_test")};
    hookd_secret wrong[] = {secret_of("whsec_other"), secret_of("")};
    struct {
        const hookd_secret *secrets;
        size_t count;
    } sets[] = {{one, 1}, {rotation, 3}, {wrong, 2}, {NULL, 0}};
    struct {
        const char *id, *ts, *sig, *body;
        int64_t now;
    } cases[] = {
        {vector_id, vector_ts, vector_sig, vector_body, vector_now},
        {vector_id, vector_ts, vector_sig, vector_body, vector_now + 301},
        {vector_id, vector_ts, vector_sig, vector_body, vector_now - 301},
        {vector_id, vector_ts, vector_sig, "{}", vector_now},
        {"other", vector_ts, vector_sig, vector_body, vector_now},
        {vector_id, "2024-08-22 01:04:05", vector_sig, vector_body, vector_now},
        {vector_id, vector_ts, "52c4", vector_body, vector_now},
        {vector_id, vector_ts, "", vector_body, vector_now},
        {NULL, vector_ts, vector_sig, vector_body, vector_now},
        {vector_id, vector_ts, vector_sig, NULL, vector_now},
    };
    (void)state;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        hookd_verifier *v = NULL;
        assert_int_equal(hookd_verifier_new(sets[s].secrets, sets[s].count, &v), HOOKD_OK);
        assert_non_null(v);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            size_t len = cases[c].body ? strlen(cases[c].body) : 5;
            int want = hookd_verify(sets[s].secrets, sets[s].count, cases[c].id, cases[c].ts,
                                    cases[c].sig, cases[c].body, len, cases[c].now, 300);
            int got = hookd_verifier_check(v, cases[c].id, cases[c].ts, cases[c].sig, cases[c].body,
                                           len, cases[c].now, 300);
            assert_int_equal(got, want);
        }
        hookd_verifier_free(v);
    }
    /* the vector itself, through a verifier holding the secret among others */
    hookd_verifier *v = NULL;
    assert_int_equal(hookd_verifier_new(rotation, 3, &v), HOOKD_OK);
    assert_int_equal(hookd_verifier_check(v, vector_id, vector_ts, vector_sig, vector_body,
                                          strlen(vector_body), vector_now, 300),
                     HOOKD_OK);
    hookd_verifier_free(v);
    hookd_verifier_free(NULL);
}

/* One verifier checked from several threads at once (its documented contract): every answer
 * is right although the checks take turns with each secret's spare working context. */
#define SHARED_THREADS 4
#define SHARED_CHECKS 2000

typedef struct shared_run {
    const hookd_verifier *v;
    const char *other_sig; /* the vector's message signed with the rotation's other secret */
    unsigned wrong;        /* answers that were not the expected ones */
} shared_run;

static void *verifier_checks(void *arg)
{
    static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
    shared_run *run = arg;
    size_t len = strlen(vector_body);
    for (unsigned i = 0; i < SHARED_CHECKS; i++) {
        const char *sig = i % 3 == 0 ? vector_sig : i % 3 == 1 ? run->other_sig : zeros;
        int want = i % 3 == 2 ? HOOKD_ESIGNATURE : HOOKD_OK;
        if (hookd_verifier_check(run->v, vector_id, vector_ts, sig, vector_body, len, vector_now,
                                 300) != want)
            run->wrong++;
    }
    return NULL;
}

static void test_verifier_shared_by_threads(void **state)
{
    hookd_secret rotation[] = {secret_of("whsec_new"), secret_of("whsec_test")};
    char other_sig[HOOKD_SIGNATURE_HEX_LEN + 1];
    (void)state;
    assert_int_equal(hookd_sign("whsec_new", 9, vector_id, vector_ts, vector_body,
                                strlen(vector_body), other_sig),
                     HOOKD_OK);
    hookd_verifier *v = NULL;
    assert_int_equal(hookd_verifier_new(rotation, 2, &v), HOOKD_OK);
    pthread_t threads[SHARED_THREADS];
    shared_run runs[SHARED_THREADS];
    for (size_t t = 0; t < SHARED_THREADS; t++) {
        runs[t] = (shared_run){v, other_sig, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, verifier_checks, &runs[t]), 0);
    }
    for (size_t t = 0; t < SHARED_THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(runs[t].wrong, 0);
    }
    hookd_verifier_free(v);
}

/* A signer signs as hookd_sign, byte for byte: several secrets (one longer than SHA-256's
 * 64-byte block, so hashed first), several messages signed in turn through the same signer
 * (each starts again from the key), the attempt form, and the same refusals. */
static void test_signer_signs_as_sign(void **state)
{
    static const char long_secret[] = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef0123456789abcdef";
    const char *secrets[] = {"whsec_test", "k", "whsec_ünïcode", long_secret};
    static const char nul_body[] = {'{', '\0', '}'};
    struct {
        const char *id, *ts;
        const void *body;
        size_t len;
    } messages[] = {
        {vector_id, vector_ts, vector_body, sizeof vector_body - 1},
        {"other", "2030-01-01T00:00:00Z", "{}", 2},
        {"", vector_ts, "", 0},
        {vector_id, vector_ts, nul_body, sizeof nul_body},
        {vector_id, vector_ts, NULL, 0},
    };
    (void)state;
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
        hookd_signer *s = NULL;
        assert_int_equal(hookd_signer_new(secrets[k], strlen(secrets[k]), &s), HOOKD_OK);
        for (int round = 0; round < 2; round++)
            for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
                char want[HOOKD_SIGNATURE_HEX_LEN + 1], got[HOOKD_SIGNATURE_HEX_LEN + 1];
                assert_int_equal(hookd_sign(secrets[k], strlen(secrets[k]), messages[m].id,
                                            messages[m].ts, messages[m].body, messages[m].len,
                                            want),
                                 HOOKD_OK);
                assert_int_equal(hookd_signer_sign(s, messages[m].id, messages[m].ts,
                                                   messages[m].body, messages[m].len, got),
                                 HOOKD_OK);
                assert_string_equal(got, want);
            }
        hookd_signed want, got;
        assert_int_equal(
            hookd_sign_attempt(secrets[k], strlen(secrets[k]), "id", vector_now, "{}", 2, &want),
            HOOKD_OK);
        assert_int_equal(hookd_signer_sign_attempt(s, "id", vector_now, "{}", 2, &got), HOOKD_OK);
        assert_string_equal(got.timestamp, want.timestamp);
        assert_string_equal(got.signature, want.signature);
        /* refused as hookd_sign_attempt refuses, with nothing left to send */
        assert_int_equal(hookd_signer_sign_attempt(s, NULL, vector_now, "{}", 2, &got),
                         HOOKD_EINVAL);
        assert_string_equal(got.timestamp, "");
        assert_string_equal(got.signature, "");
        assert_int_equal(hookd_signer_sign_attempt(s, "id", -62167219201, "{}", 2, &got),
                         HOOKD_EINVAL);
        assert_string_equal(got.timestamp, "");
        /* and after those, the next second and the same one again sign as hookd_sign_attempt */
        for (int64_t at = vector_now + 1; at >= vector_now; at--) {
            assert_int_equal(
                hookd_sign_attempt(secrets[k], strlen(secrets[k]), "id", at, "{}", 2, &want),
                HOOKD_OK);
            assert_int_equal(hookd_signer_sign_attempt(s, "id", at, "{}", 2, &got), HOOKD_OK);
            assert_string_equal(got.timestamp, want.timestamp);
            assert_string_equal(got.signature, want.signature);
        }
        assert_int_equal(hookd_signer_sign(s, "id", vector_ts, NULL, 3, got.signature),
                         HOOKD_EINVAL);
        assert_string_equal(got.signature, "");
        hookd_signer_free(s);
    }
    hookd_signer *s = NULL;
    char out[HOOKD_SIGNATURE_HEX_LEN + 1];
    assert_int_equal(hookd_signer_new("whsec_test", 10, &s), HOOKD_OK);
    assert_int_equal(
        hookd_signer_sign(s, vector_id, vector_ts, vector_body, strlen(vector_body), out),
        HOOKD_OK);
    assert_string_equal(out, vector_sig);
    hookd_signer_free(s);
    s = (hookd_signer *)1;
    assert_int_equal(hookd_signer_new("", 0, &s), HOOKD_EINVAL);
    assert_null(s);
    assert_int_equal(hookd_signer_new(NULL, 3, &s), HOOKD_EINVAL);
    hookd_signer_free(NULL);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(hookd_strerror(HOOKD_EEXPIRED), "expired");
    assert_string_equal(hookd_strerror(HOOKD_ESIGNATURE), "bad signature");
    assert_string_equal(hookd_strerror(HOOKD_ETIMESTAMP), "malformed timestamp");
    assert_string_equal(hookd_strerror(12345), "unknown error");
    for (int e = HOOKD_ELAST; e < 0; e++)
        assert_string_not_equal(hookd_strerror(e), "unknown error");
    assert_string_equal(hookd_strerror(HOOKD_ELAST - 1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_utf8_body_and_secret),
        cmocka_unit_test(test_body_with_nul_and_empty),
        cmocka_unit_test(test_sign_rejects_bad_arguments),
        cmocka_unit_test(test_uppercase_hex_accepted),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_malformed_timestamp),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_signature_format),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_several_secrets),
        cmocka_unit_test(test_sign_attempt),
        cmocka_unit_test(test_sign_attempt_failures_leave_nothing_to_send),
        cmocka_unit_test(test_verifier_answers_as_verify),
        cmocka_unit_test(test_verifier_shared_by_threads),
        cmocka_unit_test(test_signer_signs_as_sign),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
