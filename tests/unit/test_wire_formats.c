/* test_wire_formats.c — base64, Standard Webhooks (the spec's published vector), GitHub and
 * Stripe verification (vectors computed independently with Python's hmac module), and
 * every failure in each recipe's documented order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <stdio.h>
#include <string.h>

/* standardwebhooks.com's published example. */
static const char std_secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char std_id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char std_ts[] = "1614265330";
static const char std_body[] = "{\"test\": 2432232314}";
static const char std_sig[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
static const int64_t std_now = 1614265330;

static hookd_secret secret_of(const char *s)
{
    hookd_secret secret = {s, strlen(s)};
    return secret;
}

static int std_verify(const char *secret, const char *ts, const char *sig, int64_t now)
{
    hookd_secret s = secret_of(secret);
    return hookd_standard_verify(&s, 1, std_id, ts, sig, std_body, strlen(std_body), now, 300,
                                 NULL);
}

static void test_base64(void **state)
{
    char out[HOOKD_BASE64_LEN(5) + 1];
    unsigned char back[8];
    size_t n;
    (void)state;
    assert_int_equal(hookd_base64_encode("hello", 5, out), HOOKD_OK);
    assert_string_equal(out, "aGVsbG8=");
    assert_int_equal(hookd_base64_decode(out, strlen(out), back, sizeof back, &n), HOOKD_OK);
    assert_int_equal(n, 5); /* the padding byte is not counted */
    assert_memory_equal(back, "hello", 5);
    assert_int_equal(hookd_base64_decode("aGk=", 4, back, sizeof back, &n), HOOKD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hookd_base64_decode("aA==", 4, back, sizeof back, &n), HOOKD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(hookd_base64_encode("", 0, out), HOOKD_OK);
    assert_string_equal(out, "");
    /* not strict base64: refused, whatever EVP_DecodeBlock would make of it */
    const char *bad[] = {"", "aGk", "aGk=\n", " aGk=", "a=Gk", "aG!=", "====", "A===", "aGk=aGk="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hookd_base64_decode(bad[i], strlen(bad[i]), back, sizeof back, &n),
                         HOOKD_EINVAL);
    /* out too small for what the text decodes to */
    assert_int_equal(hookd_base64_decode("aGVsbG8=", 8, back, 5, &n), HOOKD_EINVAL);
}

static void test_standard_vector(void **state)
{
    char out[HOOKD_STANDARD_SIGNATURE_LEN + 1];
    int64_t sent_at = 0;
    hookd_secret s = secret_of(std_secret);
    (void)state;
    assert_int_equal(hookd_standard_sign(std_secret, strlen(std_secret), std_id, 1614265330,
                                         std_body, strlen(std_body), out),
                     HOOKD_OK);
    assert_string_equal(out, std_sig);
    assert_int_equal(hookd_standard_verify(&s, 1, std_id, std_ts, std_sig, std_body,
                                           strlen(std_body), std_now, 300, &sent_at),
                     HOOKD_OK);
    assert_int_equal(sent_at, 1614265330);
    /* the key without its prefix is the same key */
    assert_int_equal(std_verify(std_secret + 6, std_ts, std_sig, std_now), HOOKD_OK);
}

static void test_standard_several_values(void **state)
{
    (void)state;
    /* a rotation: the old secret's value first, other versions skipped, extra spaces */
    const char *headers[] = {
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v2,whatever  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1a,xyz v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= ",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        assert_int_equal(std_verify(std_secret, std_ts, headers[i], std_now), HOOKD_OK);
    /* several secrets: the one that signed is found whatever its place */
    hookd_secret two[] = {secret_of("whsec_b3RoZXI="), secret_of(std_secret)};
    assert_int_equal(hookd_standard_verify(two, 2, std_id, std_ts, std_sig, std_body,
                                           strlen(std_body), std_now, 300, NULL),
                     HOOKD_OK);
}

static void test_standard_failures(void **state)
{
    hookd_secret s = secret_of(std_secret);
    (void)state;
    assert_int_equal(hookd_standard_verify(&s, 1, NULL, std_ts, std_sig, std_body, strlen(std_body),
                                           std_now, 300, NULL),
                     HOOKD_EMISSING);
    assert_int_equal(std_verify(std_secret, "", std_sig, std_now), HOOKD_EMISSING);
    assert_int_equal(std_verify(std_secret, std_ts, "", std_now), HOOKD_EMISSING);
    assert_int_equal(std_verify(std_secret, "2021-02-25T15:42:10Z", std_sig, std_now),
                     HOOKD_ETIMESTAMP);
    assert_int_equal(std_verify(std_secret, "-1614265330", std_sig, std_now), HOOKD_ETIMESTAMP);
    assert_int_equal(std_verify(std_secret, "99999999999999999999", std_sig, std_now),
                     HOOKD_ETIMESTAMP);
    assert_int_equal(std_verify(std_secret, std_ts, std_sig, std_now + 301), HOOKD_EEXPIRED);
    assert_int_equal(std_verify(std_secret, std_ts, std_sig, std_now - 301), HOOKD_EFUTURE);
    assert_int_equal(std_verify(std_secret, std_ts, std_sig, std_now + 300), HOOKD_OK);
    assert_int_equal(
        std_verify(std_secret, std_ts, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", std_now),
        HOOKD_ESIGNATURE_FORMAT);
    assert_int_equal(std_verify(std_secret, std_ts, "v1,not-base64", std_now),
                     HOOKD_ESIGNATURE_FORMAT);
    assert_int_equal(
        std_verify(std_secret, std_ts, "v1,h0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", std_now),
        HOOKD_ESIGNATURE);
    assert_int_equal(std_verify("whsec_b3RoZXI=", std_ts, std_sig, std_now), HOOKD_ESIGNATURE);
    /* a secret that is not base64 matches nothing */
    assert_int_equal(std_verify("whsec_!!!!", std_ts, std_sig, std_now), HOOKD_ESIGNATURE);
    /* the body is signed byte for byte */
    hookd_secret one = secret_of(std_secret);
    assert_int_equal(hookd_standard_verify(&one, 1, std_id, std_ts, std_sig,
                                           "{\"test\":2432232314}", 19, std_now, 300, NULL),
                     HOOKD_ESIGNATURE);
}

static void test_standard_sign_refuses(void **state)
{
    char out[HOOKD_STANDARD_SIGNATURE_LEN + 1];
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len;
    (void)state;
    assert_int_equal(hookd_standard_sign("whsec_", 6, std_id, 1, "", 0, out), HOOKD_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(hookd_standard_sign("whsec_abc", 9, std_id, 1, "", 0, out), HOOKD_EINVAL);
    assert_int_equal(hookd_standard_sign(std_secret, strlen(std_secret), "", 1, "", 0, out),
                     HOOKD_EINVAL);
    assert_int_equal(hookd_standard_sign(std_secret, strlen(std_secret), std_id, -1, "", 0, out),
                     HOOKD_EINVAL);
    assert_int_equal(hookd_standard_key(std_secret, strlen(std_secret), key, &key_len), HOOKD_OK);
    assert_int_equal(key_len, 24);
}

/* A Standard Webhooks signer gives hookd_standard_sign's value for several secrets and
 * messages (the published vector among them), and its refusals. */
static void test_standard_signer(void **state)
{
    const char *secrets[] = {std_secret, std_secret + 6, "whsec_c2VjcmV0", "a2V5"};
    struct {
        const char *id;
        int64_t at;
        const char *body;
    } messages[] = {{std_id, 1614265330, std_body}, {"m2", 0, ""}, {"m3", 1700000000, "{}"}};
    (void)state;
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
        hookd_signer *s = NULL;
        assert_int_equal(hookd_signer_new_standard(secrets[k], strlen(secrets[k]), &s), HOOKD_OK);
        for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
            char want[HOOKD_STANDARD_SIGNATURE_LEN + 1], got[HOOKD_STANDARD_SIGNATURE_LEN + 1];
            size_t len = strlen(messages[m].body);
            assert_int_equal(hookd_standard_sign(secrets[k], strlen(secrets[k]), messages[m].id,
                                                 messages[m].at, messages[m].body, len, want),
                             HOOKD_OK);
            assert_int_equal(hookd_signer_standard_sign(s, messages[m].id, messages[m].at,
                                                        messages[m].body, len, got),
                             HOOKD_OK);
            assert_string_equal(got, want);
        }
        char out[HOOKD_STANDARD_SIGNATURE_LEN + 1];
        if (k == 0) {
            assert_int_equal(
                hookd_signer_standard_sign(s, std_id, std_now, std_body, strlen(std_body), out),
                HOOKD_OK);
            assert_string_equal(out, std_sig);
        }
        assert_int_equal(hookd_signer_standard_sign(s, "", 1, "", 0, out), HOOKD_EINVAL);
        assert_string_equal(out, "");
        assert_int_equal(hookd_signer_standard_sign(s, std_id, -1, "", 0, out), HOOKD_EINVAL);
        hookd_signer_free(s);
    }
    hookd_signer *s = (hookd_signer *)1;
    assert_int_equal(hookd_signer_new_standard("whsec_abc", 9, &s), HOOKD_EINVAL);
    assert_null(s);
    assert_int_equal(hookd_signer_new_standard("whsec_", 6, &s), HOOKD_EINVAL);
}

static void test_github(void **state)
{
    /* Python: hmac.new(b"gh_secret", b'{"action":"opened"}', sha256).hexdigest() */
    const char *body = "{\"action\":\"opened\"}";
    const char *sig = "sha256=b4277092b43931a789931bee582b102e57a681dea0fa82ba07c3c20de4ad9707";
    hookd_secret s[] = {secret_of("old"), secret_of("gh_secret")};
    (void)state;
    assert_int_equal(hookd_github_verify(s, 2, sig, body, strlen(body)), HOOKD_OK);
    assert_int_equal(hookd_github_verify(s, 1, sig, body, strlen(body)), HOOKD_ESIGNATURE);
    assert_int_equal(hookd_github_verify(s, 2, NULL, body, strlen(body)), HOOKD_EMISSING);
    assert_int_equal(hookd_github_verify(s, 2, sig + 7, body, strlen(body)),
                     HOOKD_ESIGNATURE_FORMAT);
    assert_int_equal(hookd_github_verify(s, 2, "sha1=b427", body, strlen(body)),
                     HOOKD_ESIGNATURE_FORMAT);
    assert_int_equal(hookd_github_verify(s, 2, sig, "{}", 2), HOOKD_ESIGNATURE);
}

static void test_stripe(void **state)
{
    /* Python: hmac.new(b"whsec_stripe", b'1614265330.' + body, sha256).hexdigest() */
    const char *body = "{\"id\":\"evt_1\",\"type\":\"charge.succeeded\"}";
    const char *good = "e1df5155e5f41661e52e2a9253e3195e8ae37b4088dc47f5a0852f97c28cd299";
    const char *other = "0000000000000000000000000000000000000000000000000000000000000000";
    char header[256];
    hookd_secret s = secret_of("whsec_stripe");
    int64_t sent_at = 0;
    size_t len = strlen(body);
    (void)state;
    snprintf(header, sizeof header, "t=1614265330,v1=%s,v0=%s", good, other);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now, 300, &sent_at),
                     HOOKD_OK);
    assert_int_equal(sent_at, 1614265330);
    snprintf(header, sizeof header, "t=1614265330,v1=%s,v1=%s", other, good);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now, 300, NULL), HOOKD_OK);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now + 301, 300, NULL),
                     HOOKD_EEXPIRED);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now - 301, 300, NULL),
                     HOOKD_EFUTURE);
    assert_int_equal(hookd_stripe_verify(&s, 1, NULL, body, len, std_now, 300, NULL),
                     HOOKD_EMISSING);
    snprintf(header, sizeof header, "v1=%s", good);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now, 300, NULL),
                     HOOKD_ETIMESTAMP);
    snprintf(header, sizeof header, "t=16x,v1=%s", good);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now, 300, NULL),
                     HOOKD_ETIMESTAMP);
    assert_int_equal(
        hookd_stripe_verify(&s, 1, "t=1614265330,v1=abc", body, len, std_now, 300, NULL),
        HOOKD_ESIGNATURE_FORMAT);
    snprintf(header, sizeof header, "t=1614265330,v1=%s", other);
    assert_int_equal(hookd_stripe_verify(&s, 1, header, body, len, std_now, 300, NULL),
                     HOOKD_ESIGNATURE);
    hookd_secret wrong = secret_of("whsec_other");
    snprintf(header, sizeof header, "t=1614265330,v1=%s", good);
    assert_int_equal(hookd_stripe_verify(&wrong, 1, header, body, len, std_now, 300, NULL),
                     HOOKD_ESIGNATURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_standard_vector),
        cmocka_unit_test(test_standard_several_values),
        cmocka_unit_test(test_standard_failures),
        cmocka_unit_test(test_standard_sign_refuses),
        cmocka_unit_test(test_standard_signer),
        cmocka_unit_test(test_github),
        cmocka_unit_test(test_stripe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
