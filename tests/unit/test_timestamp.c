/* test_timestamp.c — strict YYYY-MM-DDTHH:MM:SSZ: formatting, parsing, calendar checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

static int64_t parse(const char *text)
{
    int64_t t = -1;
    assert_int_equal(hookd_timestamp_parse(text, &t), HOOKD_OK);
    return t;
}

static void rejected(const char *text)
{
    int64_t t;
    if (hookd_timestamp_parse(text, &t) != HOOKD_ETIMESTAMP)
        fail_msg("accepted '%s'", text ? text : "(null)");
}

static void test_format(void **state)
{
    char out[HOOKD_TIMESTAMP_LEN + 1];
    (void)state;
    assert_int_equal(hookd_timestamp_format(1724288645, out), HOOKD_OK);
    assert_string_equal(out, "2024-08-22T01:04:05Z");
    assert_int_equal(hookd_timestamp_format(0, out), HOOKD_OK);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(hookd_timestamp_format(951782400, out), HOOKD_OK);
    assert_string_equal(out, "2000-02-29T00:00:00Z");
    assert_int_equal(hookd_timestamp_format(253402300799, out), HOOKD_OK);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    assert_int_equal(hookd_timestamp_format(253402300800, out), HOOKD_EINVAL);
    assert_int_equal(hookd_timestamp_format(INT64_MAX, out), HOOKD_EINVAL);
}

static void test_parse_valid(void **state)
{
    (void)state;
    assert_int_equal(parse("2024-08-22T01:04:05Z"), 1724288645);
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(parse("2000-02-29T00:00:00Z"), 951782400);
    assert_int_equal(parse("2024-02-29T12:00:00Z"), 1709208000);
    assert_int_equal(parse("9999-12-31T23:59:59Z"), 253402300799);
}

static void test_round_trip(void **state)
{
    char out[HOOKD_TIMESTAMP_LEN + 1];
    (void)state;
    for (int64_t t = 0; t < 4102444800; t += 7777777) {
        assert_int_equal(hookd_timestamp_format(t, out), HOOKD_OK);
        assert_int_equal(parse(out), t);
    }
}

/* Regression (found by fuzz/fuzz_timestamp): years 0000-0999 parse, so they must format
 * back to the same four-digit form rather than fail (strftime's %Y does not pad them). */
static void test_early_years(void **state)
{
    char out[HOOKD_TIMESTAMP_LEN + 1];
    (void)state;
    assert_int_equal(hookd_timestamp_format(parse("0000-01-01T00:00:00Z"), out), HOOKD_OK);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
    assert_int_equal(hookd_timestamp_format(parse("0999-12-31T23:59:59Z"), out), HOOKD_OK);
    assert_string_equal(out, "0999-12-31T23:59:59Z");
    assert_int_equal(hookd_timestamp_format(parse("0000-01-01T00:00:00Z") - 1, out), HOOKD_EINVAL);
    assert_string_equal(out, "");
}

static void test_calendar(void **state)
{
    (void)state;
    rejected("2023-02-29T00:00:00Z"); /* not a leap year */
    rejected("1900-02-29T00:00:00Z"); /* century, not leap */
    rejected("2024-02-30T00:00:00Z");
    rejected("2024-04-31T00:00:00Z");
    rejected("2024-13-01T00:00:00Z");
    rejected("2024-00-10T00:00:00Z");
    rejected("2024-01-00T00:00:00Z");
    rejected("2024-01-32T00:00:00Z");
    rejected("2024-01-01T24:00:00Z");
    rejected("2024-01-01T23:60:00Z");
    rejected("2024-12-31T23:59:60Z"); /* no leap seconds */
}

static void test_forms_rejected(void **state)
{
    (void)state;
    rejected("");
    rejected("2024-08-22T01:04:05");  /* no Z */
    rejected("2024-08-22T01:04:05z"); /* lowercase z */
    rejected("2024-08-22t01:04:05Z");
    rejected("2024-08-22 01:04:05Z");
    rejected("2024-08-22T01:04:05+00:00"); /* offset */
    rejected("2024-08-22T01:04:05.000Z");  /* fraction */
    rejected("2024-08-22T01:04:05.5Z");
    rejected("2024-8-22T01:04:05Z");
    rejected("24-08-22T01:04:05Z");
    rejected("2024-08-22T1:04:05Z");
    rejected("2024/08/22T01:04:05Z");
    rejected("20240822T010405Z");
    rejected(" 2024-08-22T01:04:05Z");
    rejected("2024-08-22T01:04:05Z ");
    rejected("2024-08-22T01:04:05Z\n");
    rejected("+024-08-22T01:04:05Z");
    rejected("2024-0a-22T01:04:05Z");
    rejected("1724288645");
    rejected(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),         cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_forms_rejected), cmocka_unit_test(test_early_years),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
