/*
 * loop.h — the process's one libevent loop: creation, and SIGTERM/SIGINT turned into a
 * callback on the loop (so shutdown runs as ordinary loop code, never in a signal handler).
 */
#ifndef HOOKD_LOOP_H
#define HOOKD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct event;

/* A new event base with libevent's pthread support enabled (the store thread wakes it).
 * Raises the soft limit on open descriptors to the hard one (at most 65536).
 * Aborts with a message if libevent cannot start. SIGPIPE is ignored. */
struct event_base *loop_new(void);

/* The priority of events that finish work already decided (the store thread's finished
 * jobs: each answers the requests waiting on its commit), run before any other event
 * that is ready in the same turn of the loop. */
#define LOOP_PRIORITY_FIRST 0

/* Calls on_stop(arg) on the loop the first time SIGTERM or SIGINT arrives; a second one
 * exits at once with status 1. The signal events stay registered (for that second signal),
 * so the loop never runs out of events by itself: end it with event_base_loopexit once the
 * shutdown is done. Calling it again replaces the callback. */
void loop_on_stop(struct event_base *base, void (*on_stop)(void *arg), void *arg);

/* A timer event on base calling cb(-1, EV_TIMEOUT, arg); persistent (it fires every
 * interval once added) when persist. Aborts with a message if libevent cannot make one (it
 * only fails when out of memory). Free it with event_free. */
struct event *loop_timer_new(struct event_base *base, bool persist,
                             void (*cb)(int fd, short what, void *arg), void *arg);

/* (Re)arms a timer to fire in ms milliseconds (0: on the next loop turn). Aborts with a
 * message if libevent refuses, which only a freed or foreign event can cause. */
void loop_timer_add(struct event *timer, int64_t ms);

/* Disarms a timer (a no-op when it is not armed). */
void loop_timer_stop(struct event *timer);

/* Ends event_base_dispatch after ms milliseconds (0: once the current callbacks ran).
 * Aborts with a message if libevent cannot schedule it (only when out of memory). */
void loop_exit(struct event_base *base, int64_t ms);

/* Milliseconds of the wall clock (Unix epoch) and of a monotonic clock. */
int64_t loop_now_ms(void);
int64_t loop_monotonic_ms(void);

/* Monotonic ms as of the kernel's last tick (up to 4 ms behind at HZ=250, never ahead): for
 * deadlines in seconds read several times per request (the inbound server's), where a
 * precise read costs four times as much (~36 ns against ~8 in this VM). Never for a
 * duration that is reported. */
int64_t loop_coarse_ms(void);

#endif
