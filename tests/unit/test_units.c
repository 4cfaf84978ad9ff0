/* test_units.c — durations, sizes and duration lists as given on the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

static int64_t duration(const char *text)
{
    int64_t ms = -1;
    if (hookd_duration_parse(text, &ms) != HOOKD_OK)
        fail_msg("rejected '%s'", text);
    return ms;
}

static void duration_rejected(const char *text)
{
    int64_t ms;
    if (hookd_duration_parse(text, &ms) != HOOKD_EINVAL)
        fail_msg("accepted '%s'", text ? text : "(null)");
}

static uint64_t size(const char *text)
{
    uint64_t bytes = 0;
    if (hookd_size_parse(text, &bytes) != HOOKD_OK)
        fail_msg("rejected '%s'", text);
    return bytes;
}

static void size_rejected(const char *text)
{
    uint64_t bytes;
    if (hookd_size_parse(text, &bytes) != HOOKD_EINVAL)
        fail_msg("accepted '%s'", text ? text : "(null)");
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(duration("500ms"), 500);
    assert_int_equal(duration("10s"), 10000);
    assert_int_equal(duration("10"), 10000);
    assert_int_equal(duration("0"), 0);
    assert_int_equal(duration("5m"), 300000);
    assert_int_equal(duration("2h"), 7200000);
    assert_int_equal(duration("7d"), 604800000);
    assert_int_equal(duration("0ms"), 0);
}

static void test_durations_rejected(void **state)
{
    (void)state;
    duration_rejected("");
    duration_rejected("s");
    duration_rejected("-5s");
    duration_rejected("+5s");
    duration_rejected(" 5s");
    duration_rejected("5s ");
    duration_rejected("5 s");
    duration_rejected("1.5s");
    duration_rejected("5x");
    duration_rejected("5S");
    duration_rejected("5sec");
    duration_rejected("5mss");
    duration_rejected("99999999999999999999");
    duration_rejected("9223372036854775807d");
    duration_rejected(NULL);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(size("1MiB"), 1048576);
    assert_int_equal(size("512KiB"), 524288);
    assert_int_equal(size("1GiB"), 1073741824);
    assert_int_equal(size("64KB"), 64000);
    assert_int_equal(size("64kB"), 64000);
    assert_int_equal(size("1MB"), 1000000);
    assert_int_equal(size("2GB"), 2000000000);
    assert_int_equal(size("4096"), 4096);
    assert_int_equal(size("4096B"), 4096);
    assert_int_equal(size("0"), 0);
}

static void test_sizes_rejected(void **state)
{
    (void)state;
    size_rejected("");
    size_rejected("MiB");
    size_rejected("-1");
    size_rejected("1.5MiB");
    size_rejected("1mib");
    size_rejected("1 MiB");
    size_rejected("1KIB");
    size_rejected("1kiB");
    size_rejected("1M");
    size_rejected("18446744073709551616");
    size_rejected("18446744073709551615GiB");
    size_rejected(NULL);
}

static void test_duration_lists(void **state)
{
    int64_t ms[5];
    size_t count = 99;
    (void)state;
    assert_int_equal(hookd_duration_list_parse("30s,5m,30m,2h", ms, 5, &count), HOOKD_OK);
    assert_int_equal(count, 4);
    assert_int_equal(ms[0], 30000);
    assert_int_equal(ms[1], 300000);
    assert_int_equal(ms[2], 1800000);
    assert_int_equal(ms[3], 7200000);
    assert_int_equal(hookd_duration_list_parse("250ms", ms, 5, &count), HOOKD_OK);
    assert_int_equal(count, 1);
    assert_int_equal(ms[0], 250);
    assert_int_equal(hookd_duration_list_parse("1,2,3,4,5", ms, 5, &count), HOOKD_OK);
    assert_int_equal(count, 5);
}

static void test_duration_lists_rejected(void **state)
{
    int64_t ms[3];
    size_t count;
    (void)state;
    static const char *const bad[] = {"", ",", "1s,", ",1s", "1s,,2s", "1s,x", "1s, 2s", "1,2,3,4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        count = 99;
        if (hookd_duration_list_parse(bad[i], ms, 3, &count) != HOOKD_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(count, 0);
    }
    assert_int_equal(hookd_duration_list_parse(NULL, ms, 3, &count), HOOKD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),      cmocka_unit_test(test_durations_rejected),
        cmocka_unit_test(test_sizes),          cmocka_unit_test(test_sizes_rejected),
        cmocka_unit_test(test_duration_lists), cmocka_unit_test(test_duration_lists_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
