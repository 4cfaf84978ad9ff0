/*
 * retention.h — the purge loop both sides' --retention run: every so often (at most every
 * hour, and at start), delete what is older than the retention in small batches, one store
 * job each, with a pause between them, so that a purge of millions of rows never holds the
 * store thread (and the deliveries or handler runs behind it) for more than one batch. The
 * side gives the batch (its SQL: serve_store_retention.c, receive_store.c); this module only
 * paces it and logs what went.
 *
 * Thread: loop thread; the batch runs on the db_worker's thread inside its transaction.
 */
#ifndef HOOKD_RETENTION_H
#define HOOKD_RETENTION_H

#include "db.h"

#include <stdint.h>

struct event_base;

/* One batch: delete at most limit of the oldest finished items older than before (Unix ms);
 * deleted: how many went (the purge goes on while a batch is full). */
typedef struct retention_batch {
    int64_t before;
    int limit;
    int64_t deleted; /* out */
} retention_batch;

/* The side's batch, run on the store thread: 0 or a HOOKD_E* code (its writes undone). */
typedef int (*retention_batch_fn)(db *conn, retention_batch *batch);

typedef struct retention_options {
    const char *name;        /* for logs: "serve", "receive" */
    const char *what;        /* what a batch deletes, for logs: "finished webhooks" */
    int64_t keep_ms;         /* items older than this go (> 0) */
    retention_batch_fn work; /* the side's batch */
    int batch;               /* items per batch; 0: RETENTION_BATCH */
    int64_t pause_ms;        /* between two full batches; 0: RETENTION_PAUSE_MS */
} retention_options;

#define RETENTION_BATCH 500
#define RETENTION_PAUSE_MS 50
#define RETENTION_EVERY_MS (60LL * 60 * 1000) /* a pass at least every hour */
#define RETENTION_EVERY_MIN_MS 1000LL         /* and at most every second */

/*
 * A batch the common way, for a side's retention_batch_fn (store thread): reads the ids
 * select_sql finds ($1: batch->before, $2: batch->limit; FOR UPDATE SKIP LOCKED is added on
 * PostgreSQL, so a row changing meanwhile waits for the purge's commit), then runs each of
 * the delete_count deletes, "… WHERE column IN " completed with the ids, children first.
 * The deletes take the same ids, so they always agree. batch->deleted: the ids found.
 */
int retention_purge_ids(db *conn, retention_batch *batch, const char *select_sql,
                        const char *const *deletes, size_t delete_count);

typedef struct retention retention;

/* Starts purging now, then every keep_ms (at least a second, at most an hour). Never NULL.
 * worker must outlive it until retention_stop. */
retention *retention_start(struct event_base *base, db_worker *worker,
                           const retention_options *options);

/* Stops purging; a batch under way ends (its done callback frees what is left): call it
 * before db_worker_stop. NULL is a no-op. */
void retention_stop(retention *r);

#endif
