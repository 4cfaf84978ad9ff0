/*
 * serve_deliver.h — the sender's side of the work engine (engine.h): its runner signs each
 * attempt with a fresh timestamp (hookd_sign_attempt) and posts it with the http client;
 * its store claims due webhooks of active destinations and records each outcome (attempt
 * row + next state: succeeded · pending at next_attempt_at · failed, a 410 or a 5-day
 * failing streak deactivating the destination). The per-key cap is per destination. The
 * receiver's twin is receive_handler.h.
 *
 * Claims happen when there is capacity: right after serve_deliver_wake (an event was
 * ingested, a webhook retried — here or, through the store's notifications, on another
 * node), after a claim that filled up, and on a timer (the poll, sooner when a retry is due
 * sooner; the poll is what finds other nodes' expired leases and, without notifications,
 * their work). A saturated destination is left out of claims, so one that hangs holds only
 * its own slots and never delays the others; one whose attempts finish quickly has work
 * claimed ahead (engine.c).
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_SERVE_DELIVER_H
#define HOOKD_SERVE_DELIVER_H

#include "db.h"
#include "http_client.h"
#include "metrics.h"
#include "retry.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct serve_deliver serve_deliver;

typedef struct serve_deliver_options {
    const char *node_id;     /* this node's name; leases are "<node-id>/<random>"; copied */
    int64_t timeout_ms;      /* one attempt, connect to last byte */
    int max_attempts;        /* attempts per round (the first and the retries) */
    retry_policy retry;      /* waits between attempts */
    int64_t lease_ms;        /* how long a claim holds a webhook; longer than timeout_ms */
    int max_in_flight;       /* attempts under way or queued in memory, in all; 0: this
                                node delivers nothing (API only), never claims */
    int max_per_destination; /* attempts under way per destination */
    int64_t poll_ms;         /* claim at least this often (0: 250 ms) */
    int64_t fail_window_ms;  /* a destination failing this long is deactivated (5 days) */
    bool leases_in_memory;   /* the store is this process's alone (SQLite, locked): no lease
                                is written, the claim skips what is held (serve_held.h) */
} serve_deliver_options;

/* Creates the sender's engine: its first store job releases the leases of an earlier run
 * of this node id (with leases_in_memory: every lease in the file, whoever wrote it), then
 * it claims (at once, unless max_in_flight is 0). The worker, client and metrics must
 * outlive it. Never NULL (allocation failure aborts). */
serve_deliver *serve_deliver_new(struct event_base *base, db_worker *worker, http_client *client,
                                 metrics *registry, const serve_deliver_options *options);

/* The lease owner this process writes, "<node-id>/<8 hex>". */
const char *serve_deliver_owner(const serve_deliver *d);

/* New work may be due now (an event was ingested, a webhook retried, a notification came):
 * claims at once, or right after the claim under way. */
void serve_deliver_wake(serve_deliver *d);

/*
 * Stops claiming. Webhooks claimed but not started are given back at once; attempts under
 * way finish (at most the timeout) and their outcomes are recorded; then the leases this
 * process still holds are released and drained(arg) is called on the loop (never from
 * within this call).
 */
void serve_deliver_stop(serve_deliver *d, void (*drained)(void *arg), void *arg);

/* Attempts under way (HTTP requests not finished). */
size_t serve_deliver_in_flight(const serve_deliver *d);

/* Frees it. Call once the loop has stopped, after drained or after http_client_free
 * (which aborts attempts under way without calling back). */
void serve_deliver_free(serve_deliver *d);

#endif
