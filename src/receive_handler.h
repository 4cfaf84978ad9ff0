/*
 * receive_handler.h — hands each accepted webhook to the owner's handler, asynchronously, at
 * most `--workers` at once: `--exec` runs `/bin/sh -c COMMAND` with the raw body on stdin and
 * WEBHOOK_ID, WEBHOOK_EVENT, WEBHOOK_TIMESTAMP in its environment (exit 0 is success);
 * `--forward` POSTs the body and the X-Webhook-* headers to a URL (2XX is success).
 *
 * It is the receiver's side of the work engine (engine.h), the twin of serve_deliver.h: work is
 * claimed from receive_store under a lease, through the store thread, for free workers and, when
 * recent runs were quick, a little ahead of them: right after an accept commits
 * (receive_handler_accepted), on receive_handler_kick (e.g. another receiver on the database
 * accepted one: a notification), after a run when more may be due, and on a timer. A webhook
 * accepted while the handler has room and nothing older is due is not claimed at all: it is
 * written already leased to this process and run once its save commits (the handoff:
 * receive_handler_reserve, receive_handler_saved). A worker's slot is freed when its
 * run ends; the outcome is recorded with the next store batch, so a crash repeats the runs under
 * way and those whose outcomes were not yet committed: at most 5 × `--workers` (no run starts while
 * 4 × `--workers` outcomes wait for the store). A failed or timed-out run is retried after the next
 * of
 * `--retry-delays` (±10% jitter, retry.c), up to `--max-attempts` in all, then the webhook is
 * failed. A handler still running at `--handler-timeout` is killed (SIGKILL to its process group).
 *
 * The handler also keeps the count of pending webhooks (for `--max-pending` and metrics),
 * recounted from the store on each timer tick since other receivers may share it.
 * Thread: loop thread only.
 */
#ifndef HOOKD_RECEIVE_HANDLER_H
#define HOOKD_RECEIVE_HANDLER_H

#include "db.h"
#include "metrics.h"
#include "receive_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct receive_handler receive_handler;

#define RECEIVE_HANDLER_MAX_RETRY_DELAYS 32

typedef struct receive_handler_options {
    const char *exec_command; /* --exec COMMAND, or NULL */
    const char *forward_url;  /* --forward URL, or NULL (exactly one of the two is set) */
    unsigned workers;         /* runs at once, >= 1 */
    int64_t timeout_ms;       /* one run's limit */
    unsigned max_attempts;    /* runs per round before the webhook is failed, >= 1 */
    int64_t retry_delays_ms[RECEIVE_HANDLER_MAX_RETRY_DELAYS]; /* waits before runs 2..N */
    size_t retry_delay_count;                                  /* >= 1; the last delay repeats */
    int64_t lease_ms;    /* how long a claim holds; longer than timeout_ms */
    const char *node_id; /* this process's place (host and address); the engine makes
                            the lease owner "<node-id>/<random>" from it (copied) */
    bool own_lane;       /* worker is the handler's own store connection: the saves commit
                            on another, concurrently (PostgreSQL; receive_handler.c) */
} receive_handler_options;

/*
 * Creates the handler on base; it claims work through worker and registers its series in
 * m. pending is the number of pending webhooks in the store at start. Returns NULL and
 * writes why into err when the options cannot work (e.g. a --forward URL that is not
 * http(s)). Work starts at once, after the leases an earlier run of this node id left are
 * released.
 */
receive_handler *receive_handler_new(struct event_base *base, db_worker *worker, metrics *m,
                                     const receive_handler_options *options, int64_t pending,
                                     char *err, size_t errlen);

/* --lease: how long a claim holds (the admin API judges leases by it). */
int64_t receive_handler_lease_ms(const receive_handler *h);

/* The lease owner this process writes, "<node-id>/<8 hex>". */
const char *receive_handler_owner(const receive_handler *h);

/* A webhook was saved as pending: counts it and looks for work. */
void receive_handler_accepted(receive_handler *h);

/* Handoff: before a new webhook's save is queued, reserves it a place among the handler's
 * work when the handler has room and nothing else is due (engine_reserve): then job's lease
 * fields are set, and the row is written already leased to this handler. Otherwise
 * job->lease_owner is NULL. */
void receive_handler_reserve(receive_handler *h, receive_store_insert_job *job);

/* The save of job ended: saved (committed; job->duplicate tells whether it was new) or
 * not. A new leased row is run without a claim, from a copy of job's strings, once
 * receive_handler_start_saved is called; a new free one is counted and looked for
 * (receive_handler_accepted); a reservation not written is given back. Call it for every
 * job that went through receive_handler_reserve, only after its batch committed or failed. */
void receive_handler_saved(receive_handler *h, const receive_store_insert_job *job, bool saved);

/* Starts the runs of the webhooks receive_handler_saved took since the last call: after a
 * batch's answers went out, so that the batch's answers do not wait for its runs' starts. */
void receive_handler_start_saved(receive_handler *h);

/* A finished webhook was made pending again by a manual retry: counts it, looks for work. */
void receive_handler_requeued(receive_handler *h);

/* Looks for due work now (e.g. a pending webhook was made due by a retry). */
void receive_handler_kick(receive_handler *h);

/* Pending webhooks (waiting or running) as this process knows them. */
int64_t receive_handler_pending(const receive_handler *h);

/* Stops claiming new work; claimed webhooks not started are given back; runs under way go
 * on to their end and are recorded, then the leases still held are released. */
void receive_handler_stop(receive_handler *h);

/* True when no run, claim, record or release is under way (after receive_handler_stop:
 * safe to free). */
bool receive_handler_idle(const receive_handler *h);

/* Frees the handler. Call only once handler_idle, before stopping the worker. */
void receive_handler_free(receive_handler *h);

#endif
