/*
 * loop.c — the process's libevent base (with pthread support, so the store thread can wake
 * it), SIGPIPE ignored, and SIGTERM/SIGINT delivered as an ordinary callback on the loop.
 */
#include "loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* What loop_on_stop registered; one per process (signals are process-wide). */
struct loop_stop {
    void (*on_stop)(void *arg); /* the caller's callback */
    void *arg;                  /* its argument */
    int count;                  /* signals seen so far */
    struct event *term;         /* the SIGTERM event */
    struct event *intr;         /* the SIGINT event */
};

static struct loop_stop loop_stop_state;

/* Every attempt, client and store connection is a descriptor: lift the soft limit (1024 on
 * a stock Debian login) to the hard one, as nginx's worker_rlimit_nofile does, so that the
 * in-flight caps, not the descriptor table, bound concurrency. */
static void loop_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct event_base *loop_new(void)
{
    loop_raise_fd_limit();
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "hookd: libevent has no pthread support\n");
        abort();
    }
    struct sigaction sa = {0};
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "hookd: cannot create the event loop\n");
        abort();
    }
    /* Two priorities: LOOP_PRIORITY_FIRST for what answers requests already decided, every
     * other event in the second (libevent's default for a base of two: n / 2). */
    if (event_base_priority_init(base, 2) != 0) {
        fprintf(stderr, "hookd: cannot set the event loop's priorities\n");
        abort();
    }
    return base;
}

static void loop_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct loop_stop *st = arg;
    st->count++;
    if (st->count > 1) {
        static const char msg[] = "hookd: second signal, exiting now\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(1);
    }
    if (st->on_stop)
        st->on_stop(st->arg);
}

void loop_on_stop(struct event_base *base, void (*on_stop)(void *arg), void *arg)
{
    struct loop_stop *st = &loop_stop_state;
    if (st->term)
        event_free(st->term);
    if (st->intr)
        event_free(st->intr);
    st->on_stop = on_stop;
    st->arg = arg;
    st->count = 0;
    st->term = evsignal_new(base, SIGTERM, loop_signal_cb, st);
    st->intr = evsignal_new(base, SIGINT, loop_signal_cb, st);
    if (!st->term || !st->intr || evsignal_add(st->term, NULL) != 0 ||
        evsignal_add(st->intr, NULL) != 0) {
        fprintf(stderr, "hookd: cannot watch SIGTERM/SIGINT\n");
        abort();
    }
}

struct event *loop_timer_new(struct event_base *base, bool persist,
                             void (*cb)(int fd, short what, void *arg), void *arg)
{
    struct event *ev = event_new(base, -1, persist ? EV_PERSIST : 0, cb, arg);
    if (!ev) {
        fprintf(stderr, "hookd: cannot create a timer\n");
        abort();
    }
    return ev;
}

void loop_timer_add(struct event *timer, int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (event_add(timer, &tv) != 0) {
        fprintf(stderr, "hookd: cannot arm a timer\n");
        abort();
    }
}

void loop_timer_stop(struct event *timer)
{
    if (event_del(timer) != 0) {
        fprintf(stderr, "hookd: cannot disarm a timer\n");
        abort();
    }
}

void loop_exit(struct event_base *base, int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (event_base_loopexit(base, ms > 0 ? &tv : NULL) != 0) {
        fprintf(stderr, "hookd: cannot end the event loop\n");
        abort();
    }
}

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
