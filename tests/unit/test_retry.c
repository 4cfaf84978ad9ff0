/* test_retry.c — the delay policy: list, repetition of the last value, jitter, Retry-After;
 * and the Retry-After parser: delta-seconds, the three HTTP-date forms, caps, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hookd.h"
#include "retry.h"

static void test_parse_default(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, RETRY_DEFAULT_DELAYS), 0);
    assert_int_equal(p.count, 4);
    assert_int_equal(p.delays_ms[0], 30000);
    assert_int_equal(p.delays_ms[3], 7200000);
    assert_int_equal(p.longest_ms, 7200000);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, ""), HOOKD_EINVAL);
    assert_int_equal(retry_policy_parse(&p, "5x"), HOOKD_EINVAL);
    assert_int_equal(retry_policy_parse(&p, NULL), HOOKD_EINVAL);
}

static void test_listed_delays_without_jitter(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, "30s,5m,30m,2h"), 0);
    assert_int_equal(retry_delay_ms(&p, 2, -1, 0.5), 30000);
    assert_int_equal(retry_delay_ms(&p, 3, -1, 0.5), 300000);
    assert_int_equal(retry_delay_ms(&p, 4, -1, 0.5), 1800000);
    assert_int_equal(retry_delay_ms(&p, 5, -1, 0.5), 7200000);
}

static void test_last_delay_repeats(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, "1s,2s"), 0);
    assert_int_equal(retry_delay_ms(&p, 4, -1, 0.5), 2000);
    assert_int_equal(retry_delay_ms(&p, 10, -1, 0.5), 2000);
    /* attempt numbers below 2 are treated as the first retry */
    assert_int_equal(retry_delay_ms(&p, 1, -1, 0.5), 1000);
}

static void test_jitter_within_ten_percent(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, "10s"), 0);
    assert_int_equal(retry_delay_ms(&p, 2, -1, 0.0), 9000);
    int64_t high = retry_delay_ms(&p, 2, -1, 0.999999);
    assert_true(high <= 11000 && high > 10990);
    for (int i = 0; i < 200; i++) {
        int64_t d = retry_delay_ms(&p, 2, -1, retry_jitter());
        assert_true(d >= 9000 && d <= 11000);
    }
}

static void test_retry_after_lengthens_but_capped(void **state)
{
    (void)state;
    retry_policy p;
    assert_int_equal(retry_policy_parse(&p, "1s,5s,20s"), 0);
    /* longer than the listed wait: taken */
    assert_int_equal(retry_delay_ms(&p, 2, 8000, 0.5), 8000);
    /* shorter than the listed wait: the listed wait stays */
    assert_int_equal(retry_delay_ms(&p, 3, 1000, 0.5), 5000);
    /* beyond the longest delay: capped there */
    assert_int_equal(retry_delay_ms(&p, 2, 3600000, 0.5), 20000);
    /* no Retry-After */
    assert_int_equal(retry_delay_ms(&p, 2, -1, 0.5), 1000);
}

/* 1994-11-06T08:49:37Z, RFC 9110's example date, in Unix milliseconds. */
#define EXAMPLE_MS INT64_C(784111777000)

static int64_t after(const char *value, int64_t now_ms)
{
    int64_t delay = 12345;
    int rc = retry_after_parse(value, now_ms, &delay);
    assert_true(rc == 0 || delay == -1); /* a refusal always says "no Retry-After" */
    return rc == 0 ? delay : -2;
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(after("0", 0), 0);
    assert_int_equal(after("120", 0), 120000);
    assert_int_equal(after(" \t120\t ", 0), 120000);
    assert_int_equal(after("007", 0), 7000);
    /* past the cap, however many digits: the cap, no overflow */
    assert_int_equal(after("31622400", 0), RETRY_AFTER_MAX_MS);
    assert_int_equal(after("31622401", 0), RETRY_AFTER_MAX_MS);
    assert_int_equal(after("99999999999999999999999999999999999999999", 0), RETRY_AFTER_MAX_MS);
}

static void test_retry_after_dates(void **state)
{
    (void)state;
    /* the three forms of RFC 9110 §5.6.7, thirty seconds ahead */
    assert_int_equal(after("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_MS - 30000), 30000);
    assert_int_equal(after("Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE_MS - 30000), 30000);
    assert_int_equal(after("Sun Nov  6 08:49:37 1994", EXAMPLE_MS - 30000), 30000);
    /* a date in the past: retry now */
    assert_int_equal(after("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_MS + 5000), 0);
    /* far ahead: the cap */
    assert_int_equal(after("Fri, 31 Dec 9999 23:59:59 GMT", EXAMPLE_MS), RETRY_AFTER_MAX_MS);
    /* the clock at its extremes overflows nothing */
    assert_int_equal(after("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN), RETRY_AFTER_MAX_MS);
    assert_int_equal(after("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MAX), 0);
    /* a leap day and the leap second */
    assert_int_equal(after("Thu, 29 Feb 2024 00:00:00 GMT", INT64_C(1709164800000) - 1000), 1000);
    assert_int_equal(after("Sat, 31 Dec 2016 23:59:60 GMT", INT64_C(1483228800000) - 1000), 1000);
    /* RFC 850's two-digit year: more than 50 years ahead means the last century */
    assert_int_equal(after("Monday, 01-Jan-70 00:00:00 GMT", INT64_C(1000)), 0);
    assert_int_equal(after("Monday, 01-Jan-70 00:00:01 GMT", INT64_C(0)), 1000);
}

static void test_retry_after_refused(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "-5",
        "+5",
        "1.5",
        "5s",
        "120 120",
        "0x10",
        "Sun, 06 Nov 1994 08:49:37 UTC", /* only GMT */
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT", /* month names are case-sensitive */
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT", /* 1900 is no leap year */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
    };
    int64_t delay = 0;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (after(bad[i], EXAMPLE_MS) != -2)
            fail_msg("accepted Retry-After \"%s\"", bad[i]);
    }
    assert_int_equal(retry_after_parse(NULL, 0, &delay), HOOKD_EINVAL);
    assert_int_equal(delay, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_default),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_listed_delays_without_jitter),
        cmocka_unit_test(test_last_delay_repeats),
        cmocka_unit_test(test_jitter_within_ten_percent),
        cmocka_unit_test(test_retry_after_lengthens_but_capped),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_dates),
        cmocka_unit_test(test_retry_after_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
