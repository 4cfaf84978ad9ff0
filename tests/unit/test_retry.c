/* test_retry.c — the delay policy: list, repetition of the last value, jitter, Retry-After. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_default),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_listed_delays_without_jitter),
        cmocka_unit_test(test_last_delay_repeats),
        cmocka_unit_test(test_jitter_within_ten_percent),
        cmocka_unit_test(test_retry_after_lengthens_but_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
