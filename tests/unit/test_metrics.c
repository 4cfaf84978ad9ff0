/*
 * test_metrics.c — metrics.h: counters, gauges and histograms rendered in Prometheus text
 * format, one HELP/TYPE header per name, labels kept, buckets cumulative.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static void test_render(void **state)
{
    (void)state;
    metrics *m = metrics_new();
    metric *ok = metrics_counter(m, "hookd_attempts_total", "result=\"success\"", "Attempts.");
    metric *bad = metrics_counter(m, "hookd_attempts_total", "result=\"failure\"", "Attempts.");
    metric *depth = metrics_gauge(m, "hookd_queue_depth", NULL, "Queued webhooks.\nNow.");
    metric *lat = metrics_histogram_ms(m, "hookd_attempt_duration_ms", NULL, "Latency.");
    metric *lat2 = metrics_histogram_ms(m, "hookd_handler_ms", "kind=\"exec\"", "Handler.");
    /* The same series again is the same metric; another type under the name is refused. */
    assert_ptr_equal(metrics_counter(m, "hookd_attempts_total", "result=\"success\"", "x"), ok);
    assert_null(metrics_gauge(m, "hookd_attempts_total", NULL, "x"));
    metric_add(NULL, 1); /* harmless */

    metric_add(ok, 3);
    metric_add(bad, 1);
    metric_set(depth, 42);
    metric_add(depth, -2);
    metric_observe(lat, 0.5);
    metric_observe(lat, 7);
    metric_observe(lat, 300);
    metric_observe(lat, 20000);
    metric_observe(lat2, 1.5);

    size_t len = 0;
    char *text = metrics_render(m, &len);
    assert_int_equal(strlen(text), len);
    const char *expect_lines[] = {
        "# HELP hookd_attempts_total Attempts.\n# TYPE hookd_attempts_total counter\n"
        "hookd_attempts_total{result=\"success\"} 3\n"
        "hookd_attempts_total{result=\"failure\"} 1\n",
        "# HELP hookd_queue_depth Queued webhooks.\\nNow.\n# TYPE hookd_queue_depth gauge\n"
        "hookd_queue_depth 40\n",
        "# TYPE hookd_attempt_duration_ms histogram\n"
        "hookd_attempt_duration_ms_bucket{le=\"1\"} 1\n"
        "hookd_attempt_duration_ms_bucket{le=\"2\"} 1\n"
        "hookd_attempt_duration_ms_bucket{le=\"5\"} 1\n"
        "hookd_attempt_duration_ms_bucket{le=\"10\"} 2\n",
        "hookd_attempt_duration_ms_bucket{le=\"250\"} 2\n"
        "hookd_attempt_duration_ms_bucket{le=\"500\"} 3\n",
        "hookd_attempt_duration_ms_bucket{le=\"10000\"} 3\n"
        "hookd_attempt_duration_ms_bucket{le=\"+Inf\"} 4\n"
        "hookd_attempt_duration_ms_sum 20307.5\n"
        "hookd_attempt_duration_ms_count 4\n",
        "hookd_handler_ms_bucket{kind=\"exec\",le=\"2\"} 1\n",
        "hookd_handler_ms_sum{kind=\"exec\"} 1.5\nhookd_handler_ms_count{kind=\"exec\"} 1\n",
    };
    for (size_t i = 0; i < sizeof expect_lines / sizeof expect_lines[0]; i++)
        if (!strstr(text, expect_lines[i]))
            fail_msg("missing:\n%s\nin:\n%s", expect_lines[i], text);
    /* One header per name. */
    assert_null(
        strstr(strstr(text, "# TYPE hookd_attempts_total") + 1, "# TYPE hookd_attempts_total"));
    free(text);
    metrics_free(m);
}

static void test_empty(void **state)
{
    (void)state;
    metrics *m = metrics_new();
    size_t len = 1;
    char *text = metrics_render(m, &len);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
