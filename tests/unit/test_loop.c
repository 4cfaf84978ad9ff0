/*
 * test_loop.c — loop.h: the first SIGTERM/SIGINT becomes a callback on the loop; SIGPIPE is
 * ignored; the clocks move forward.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "loop.h"

#include <event2/event.h>
#include <signal.h>
#include <unistd.h>

static int stop_calls;

static void on_stop(void *arg)
{
    stop_calls++;
    event_base_loopexit(arg, NULL);
}

static void raise_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    raise(SIGTERM);
}

static void test_signal_becomes_callback(void **state)
{
    (void)state;
    struct event_base *base = loop_new();
    loop_on_stop(base, on_stop, base);
    struct timeval tv = {0, 1000};
    event_base_once(base, -1, EV_TIMEOUT, raise_term, NULL, &tv);
    struct timeval limit = {5, 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    assert_int_equal(stop_calls, 1);
    /* SIGPIPE is ignored: writing to a closed pipe fails instead of killing us. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    assert_int_equal(write(fds[1], "x", 1), -1);
    close(fds[1]);
    event_base_free(base);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t wall = loop_now_ms();
    assert_true(wall > 1700000000000LL);
    int64_t a = loop_monotonic_ms();
    usleep(5000);
    assert_true(loop_monotonic_ms() >= a + 4);
}

static int ticks;

static void tick(int fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (++ticks == 3)
        loop_exit(arg, 0);
}

/* A persistent timer fires every interval until stopped; loop_exit ends the loop. */
static void test_timers(void **state)
{
    (void)state;
    struct event_base *base = loop_new();
    struct event *timer = loop_timer_new(base, true, tick, base);
    int64_t start = loop_monotonic_ms();
    loop_timer_add(timer, 10);
    assert_int_equal(event_base_dispatch(base), 0);
    assert_int_equal(ticks, 3);
    assert_true(loop_monotonic_ms() - start >= 25);
    /* Stopped, it fires no more: the loop runs until loop_exit's 40 ms, ticks stay 3. */
    loop_timer_stop(timer);
    start = loop_monotonic_ms();
    loop_exit(base, 40);
    assert_int_equal(event_base_dispatch(base), 0);
    assert_true(loop_monotonic_ms() - start >= 35);
    assert_int_equal(ticks, 3);
    event_free(timer);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_becomes_callback),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
