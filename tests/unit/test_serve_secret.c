/* test_serve_secret.c — destination formats, fresh secrets per format, and the previous
 * secrets a rotation with a grace keeps (expiry, order, the cap, grace 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"
#include "serve_secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_formats(void **state)
{
    (void)state;
    assert_true(serve_format_valid("meetbit"));
    assert_true(serve_format_valid("standard-webhooks"));
    assert_false(serve_format_valid("svix"));
    assert_false(serve_format_valid(NULL));
    assert_true(serve_format_standard("standard-webhooks"));
    assert_false(serve_format_standard(NULL));
}

static void test_new_secrets(void **state)
{
    char a[SERVE_SECRET_SIZE], b[SERVE_SECRET_SIZE];
    unsigned char key[HOOKD_STANDARD_KEY_MAX];
    size_t key_len = 0;
    (void)state;
    assert_int_equal(serve_secret_new("meetbit", a), 0);
    assert_int_equal(strlen(a), 6 + 48);
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strspn(a + 6, "0123456789abcdef"), 48);
    assert_int_equal(serve_secret_new("standard-webhooks", b), 0);
    assert_int_equal(hookd_standard_key(b, strlen(b), key, &key_len), HOOKD_OK);
    assert_int_equal(key_len, 32);
    assert_string_not_equal(a, b);
}

static void test_rotation_list(void **state)
{
    serve_secret_old *list;
    size_t count;
    (void)state;
    /* grace 0: no previous secret at all, whatever was kept before */
    serve_secret_old old[] = {{"whsec_a", 5000}};
    assert_null(serve_secret_rotated("whsec_b", old, 1, 1000, 0));

    char *text = serve_secret_rotated("whsec_b", old, 1, 1000, 3000);
    serve_secret_parse(text, 1000, &list, &count);
    assert_int_equal(count, 2);
    assert_string_equal(list[0].secret, "whsec_b"); /* the one just replaced, first */
    assert_int_equal(list[0].expires_at, 4000);
    assert_string_equal(list[1].secret, "whsec_a");
    serve_secret_prune(list, &count, 4500); /* b's grace is over, a's is not */
    assert_int_equal(count, 1);
    assert_string_equal(list[0].secret, "whsec_a");
    serve_secret_list_free(list, count);
    serve_secret_parse(text, 5000, &list, &count); /* both over */
    assert_int_equal(count, 0);
    serve_secret_list_free(list, count);
    free(text);
}

static void test_rotation_cap(void **state)
{
    serve_secret_old old[SERVE_SECRET_MAX_PREVIOUS + 2];
    char names[SERVE_SECRET_MAX_PREVIOUS + 2][16];
    serve_secret_old *list;
    size_t count;
    (void)state;
    for (size_t i = 0; i < SERVE_SECRET_MAX_PREVIOUS + 2; i++) {
        snprintf(names[i], sizeof names[i], "whsec_%zu", i);
        old[i] = (serve_secret_old){names[i], 10000};
    }
    char *text = serve_secret_rotated("whsec_new", old, SERVE_SECRET_MAX_PREVIOUS + 2, 0, 100);
    serve_secret_parse(text, 0, &list, &count);
    assert_int_equal(count, SERVE_SECRET_MAX_PREVIOUS);
    assert_string_equal(list[0].secret, "whsec_new");
    assert_string_equal(list[count - 1].secret, names[SERVE_SECRET_MAX_PREVIOUS - 2]);
    serve_secret_list_free(list, count);
    free(text);
    /* what does not parse is skipped, never fatal */
    serve_secret_parse("[{\"secret\":1},{\"secret\":\"s\",\"expires_at\":9}]", 0, &list, &count);
    assert_int_equal(count, 1);
    serve_secret_list_free(list, count);
    serve_secret_parse("not json", 0, &list, &count);
    assert_int_equal(count, 0);
    serve_secret_parse(NULL, 0, &list, &count);
    assert_int_equal(count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_new_secrets),
        cmocka_unit_test(test_rotation_list),
        cmocka_unit_test(test_rotation_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
