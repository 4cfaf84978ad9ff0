/*
 * dispatcher.h — what the sender sends when: claims due webhooks from the store (through the
 * db_worker, never on the loop), keeps global and per-destination in-flight caps, signs each
 * attempt with a fresh timestamp, posts it with the http client, and submits each outcome
 * (attempt row + next state: succeeded · pending at next_attempt_at · failed) to the store.
 *
 * Claims happen when there is capacity: right after dispatcher_wake (an event was ingested,
 * a webhook retried — here or, through the store's notifications, on another node), after a
 * claim that filled up, and on a timer (the poll, sooner when a retry is due sooner; the
 * poll is what finds other nodes' expired leases and, without notifications, their work). A saturated destination is left out of claims, so one that
 * hangs holds only its own slots and never delays the others. A destination whose attempts
 * finish quickly has work claimed ahead (up to a few rounds of its slots, waiting in memory
 * under their leases), so a finished attempt is followed by the next one at once.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_DISPATCHER_H
#define HOOKD_DISPATCHER_H

#include "db.h"
#include "http_client.h"
#include "metrics.h"
#include "retry.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct serve_deliver serve_deliver;

typedef struct serve_deliver_options {
    const char *owner;         /* lease owner, "<node-id>/<instance>"; copied */
    int64_t timeout_ms;        /* one attempt, connect to last byte */
    int max_attempts;          /* attempts per round (the first and the retries) */
    retry_policy retry;        /* waits between attempts */
    int64_t lease_ms;          /* how long a claim holds a webhook; longer than timeout_ms */
    int max_in_flight;         /* attempts under way or queued in memory, in all; 0: this
                                  node delivers nothing (API only), never claims */
    int max_per_destination;   /* attempts under way per destination */
    int64_t poll_ms;           /* claim at least this often (0: 250 ms) */
    int64_t fail_window_ms;    /* a destination failing this long is deactivated (5 days) */
} serve_deliver_options;

/* Creates a dispatcher; it claims nothing until dispatcher_wake or its first poll. The
 * worker, client and metrics must outlive it. Never NULL (allocation failure aborts). */
serve_deliver *serve_deliver_new(struct event_base *base, db_worker *worker, http_client *client,
                           metrics *registry, const serve_deliver_options *options);

/* New work may be due now (an event was ingested, a webhook retried, a notification came):
 * claims at once, or right after the claim under way. */
void serve_deliver_wake(serve_deliver *d);

/*
 * Stops claiming. Attempts under way finish (at most the timeout) and their outcomes are
 * recorded; then drained(arg) is called on the loop (never from within this call).
 * Webhooks claimed but not started keep their lease until it expires or this node restarts
 * (store_release_leases).
 */
void serve_deliver_stop(serve_deliver *d, void (*drained)(void *arg), void *arg);

/* Attempts under way (HTTP requests not finished). */
size_t serve_deliver_in_flight(const serve_deliver *d);

/* Frees the dispatcher. Call once the loop has stopped, after drained or after
 * http_client_free (which aborts attempts under way without calling back). */
void serve_deliver_free(serve_deliver *d);

#endif
