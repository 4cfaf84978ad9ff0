/* test_webhook_id.c — fresh UUIDv4 ids and the canonical-form check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <string.h>

static void test_new_is_v4_canonical(void **state)
{
    char id[HOOKD_ID_LEN + 1], other[HOOKD_ID_LEN + 1];
    (void)state;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(hookd_id_new(id), HOOKD_OK);
        assert_int_equal(strlen(id), HOOKD_ID_LEN);
        assert_true(hookd_id_valid(id));
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
    }
    assert_int_equal(hookd_id_new(other), HOOKD_OK);
    assert_string_not_equal(id, other);
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c"));
    assert_true(hookd_id_valid("7f1c0d2e-5b3a-4c8e-9a61-2f4d8b9e0c13"));
    assert_true(hookd_id_valid("01890a5d-ac96-774b-bcce-b302099a8057")); /* v7 */
}

static void test_invalid(void **state)
{
    (void)state;
    assert_false(hookd_id_valid(NULL));
    assert_false(hookd_id_valid(""));
    assert_false(hookd_id_valid("3F0E2F9B-8D44-4A7D-9C2A-1F5B2E7D9A6C")); /* uppercase */
    assert_false(hookd_id_valid("3f0e2f9b8d444a7d9c2a1f5b2e7d9a6c"));     /* no dashes */
    assert_false(hookd_id_valid("{3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c}"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6c0"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a_1f5b2e7d9a6c"));
    assert_false(hookd_id_valid("3f0e2f9b-8d44-4a7d-9c2a-1f5b2e7d9a6g"));
    assert_false(hookd_id_valid("3f0e2f9b-8d444a7d--9c2a-1f5b2e7d9a6c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_v4_canonical),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
