/*
 * receive_store.h — the receiver's store: every accepted webhook, its handling state and the
 * runs of the owner's handler, and the admin token's digest (receive_settings), in tables
 * prefixed `receive_` (so `serve` and `receive` can share a database). All of the receiver's SQL
 * lives in receive_store.c. Its twin on the sender's side is serve_store.h; both are written on
 * db.h and read rows with its helpers.
 *
 * A webhook is `pending` (waiting for, or being handled by, the handler), `done` or `failed`.
 * A pending webhook is handed to the handler under a lease (an expiry time, a random token
 * and the owner's name): only the holder of the lease may record the run's outcome, and a
 * lease that is not renewed expires, so a crashed process's work is taken up again.
 *
 * Every receive_store_* function but the startup ones (receive_store_migrate,
 * receive_store_admin_token) and the *_clear ones has the
 * db_work_fn shape: it takes a connection and one of the *_job structs below, runs on the store
 * thread inside the batch's transaction, fills the job's outputs and returns 0 or a negative
 * HOOKD_E* code. Inputs the job points at must stay valid until the job's done callback runs.
 * Outputs are plain structs, never JSON: the admin API (receive_api.c) owns the answers' shape.
 */
#ifndef HOOKD_RECEIVE_STORE_H
#define HOOKD_RECEIVE_STORE_H

#include "db.h"
#include "engine.h"
#include "hookd.h"
#include "retention.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The notification channel (db_notify, db_listener) on which receive_store_insert says "a webhook
 * was accepted": every receiver's handler sharing the database listens (PostgreSQL only). */
#define RECEIVE_STORE_NOTIFY_CHANNEL "hookd_receive"

/* Creates or migrates the receiver's tables (component "receive"), and sizes SQLite's page
 * cache for the connection. 0 or HOOKD_ESTORE. */
int receive_store_migrate(db *conn);

/* The same up to schema version `version` only: a database as an older build left it (the
 * migration tests; migrations are never edited once shipped). */
int receive_store_migrate_upto(db *conn, size_t version);

/* At start, before the store thread runs: the admin token's SHA-256 from receive_settings,
 * or a token generated now (into generated, genlen ≥ 80 bytes, to be printed once) whose
 * digest alone is stored (admin_token_load). 0 or a HOOKD_E* code. */
int receive_store_admin_token(db *conn, unsigned char digest[32], char *generated, size_t genlen,
                              bool *was_generated);

/* Saves an accepted webhook as pending, due at once: free for any claim, or (lease_owner
 * set: a handoff, engine_reserve) already leased to this process's handler, as a claim
 * would have leased it, so no other claim takes it. */
typedef struct receive_store_insert_job {
    const char *id;        /* X-Webhook-Id */
    const char *timestamp; /* X-Webhook-Timestamp */
    const char *signature; /* X-Webhook-Signature, kept for --forward */
    const char *event;     /* the envelope's event type */
    const char *body;      /* the raw body (valid UTF-8 JSON: the envelope parsed) */
    size_t body_len;
    int64_t received_at;                /* unix ms */
    const char *lease_owner;            /* NULL: not leased; else the lease's owner … */
    int64_t lease_until;                /* … its end (unix ms) … */
    char lease_token[HOOKD_ID_LEN + 1]; /* … and its token */
    bool duplicate;                     /* out: the id was already saved; nothing was written */
} receive_store_insert_job;

/* INSERT … ON CONFLICT (id) DO NOTHING: the id's primary key deduplicates across every
 * receiver sharing the database (a concurrent insert of the same id waits for the first to
 * commit, then does nothing). A new row notifies RECEIVE_STORE_NOTIFY_CHANNEL. arg:
 * receive_store_insert_job. */
int receive_store_insert(db *conn, void *arg);

/* Saves a group of accepted webhooks in as few statements as possible. */
typedef struct receive_store_insert_many_job {
    receive_store_insert_job *jobs; /* count of them, in arrival order; each gets its duplicate */
    size_t count;
} receive_store_insert_many_job;

/* Like receive_store_insert for each job, with one multi-row INSERT … ON CONFLICT (id) DO NOTHING
 * RETURNING id per chunk of up to 64 rows: a job whose id is not returned is a duplicate,
 * and of two jobs with the same id in the group the first wins. One notification if a row
 * was inserted without a lease (a leased one is this handler's already: nobody to wake). On an
 * error nothing is known to be saved: the caller answers every job of the group as failed (the
 * batch's savepoint or rollback undoes the writes). arg: receive_store_insert_many_job. */
int receive_store_insert_many(db *conn, void *arg);

/* One webhook handed to the handler by receive_store_claim; every string is malloc'd. */
typedef struct receive_store_item {
    char *id;
    char *timestamp;
    char *signature;
    char *event;
    char *body;
    size_t body_len;
    int64_t attempts; /* runs already made in the current round (see receive_store_retry) */
    int64_t runs;     /* runs already made in all (0 for a new webhook) */
} receive_store_item;

/* A lease ending more than this many leases from now was written by a clock since set back
 * (no claim writes more than one ahead; the second leaves room for nodes whose clocks
 * differ by up to a lease): claims, retry and the admin API treat it as expired. */
#define RECEIVE_STORE_LEASE_SKEW 2

/* Claims up to limit due pending webhooks whose lease is free or expired, or ends beyond
 * RECEIVE_STORE_LEASE_SKEW leases from now. */
typedef struct receive_store_claim_job {
    int64_t now;               /* unix ms */
    int64_t lease_ms;          /* how long the claim holds */
    const char *owner;         /* this process's lease owner, for receive_store_release */
    size_t limit;              /* at most this many */
    char token[40];            /* out: the lease token of every claimed item */
    receive_store_item *items; /* out: malloc'd array; free with receive_store_claim_job_clear */
    size_t count;              /* out: how many */
} receive_store_claim_job;

/* arg: receive_store_claim_job. On PostgreSQL the candidates are locked FOR UPDATE SKIP LOCKED so
 * that several receivers sharing a database never claim the same row. */
int receive_store_claim(db *conn, void *arg);

/* Frees the claim's items (and their strings); the job may be reused. */
void receive_store_claim_job_clear(receive_store_claim_job *job);

/* The outcome of one handler run and the webhook's next state. */
typedef struct receive_store_run_job {
    const char *id;     /* the webhook */
    const char *token;  /* the lease token from receive_store_claim */
    int64_t n;          /* this run's number among all its runs: the item's runs + 1 (the
                           count cannot change while the lease is held) */
    int64_t started_at; /* unix ms */
    int64_t duration_ms;
    int exit_status;         /* --exec: the exit status, or -1 (killed, not started) */
    int http_status;         /* --forward: the answer's status, 0 for none */
    const char *error;       /* NULL on success; why the run failed */
    const char *output;      /* --exec: the tail of its stdout+stderr (UTF-8), or NULL */
    const char *next_status; /* "done", "pending" or "failed" */
    int64_t next_attempt_at; /* unix ms, when next_status is "pending" */
    int64_t now;             /* unix ms */
} receive_store_run_job;

/* Records the run and moves the webhook on, only while the lease is held (otherwise
 * HOOKD_ELEASE and nothing is written). arg: receive_store_run_job. */
int receive_store_record_run(db *conn, void *arg);

/* Records the runs jobs[0..n) as receive_store_record_run would one by one: rcs[i] becomes 0
 * or HOOKD_ELEASE; any other error is returned (the caller's transaction undoes it all). On
 * PostgreSQL, one statement per chunk of runs rather than one per run. */
int receive_store_record_runs(db *conn, receive_store_run_job *const *jobs, int *rcs, size_t n);

/* A webhook as the admin API shows it. Strings owned by the struct (freed by the job's
 * clear function). Times are Unix ms. */
typedef struct receive_store_webhook {
    char *id;
    char *event;
    char *timestamp;  /* X-Webhook-Timestamp as received */
    char *status;     /* "pending", "done" or "failed" */
    int64_t attempts; /* runs in the current round */
    int64_t runs;     /* runs in all */
    int64_t received_at;
    int64_t next_attempt_at; /* -1 unless pending */
    bool handling;           /* a lease is set (receive_api judges whether it holds) */
    int64_t lease_until;     /* unix ms, -1 when none */
    char *body;              /* receive_store_get only: the raw body; NULL in a list */
    size_t body_len;
} receive_store_webhook;

/* One handler run. */
typedef struct receive_store_run {
    engine_record rec;   /* n, when, how long, the error */
    int64_t exit_status; /* --exec: the exit status, -1 for none (killed, not started) */
    int64_t http_status; /* --forward: the answer's status, -1 for none */
    char *output;        /* --exec: the tail of its stdout+stderr, or NULL; owned */
} receive_store_run;

/* A page of webhooks in the order they were received (or its reverse). */
typedef struct receive_store_list_job {
    const char *status;           /* "pending", "done", "failed", or NULL for all */
    int64_t limit;                /* 1..1000 */
    const char *after;            /* the cursor: the last id of the previous page, or NULL */
    bool newest_first;            /* newest first (the panel) rather than oldest first */
    receive_store_webhook *items; /* out: count of them (without body) */
    size_t count;
    char *next; /* out: the next page's cursor, NULL on the last page */
} receive_store_list_job;

/* arg: receive_store_list_job. Free its outputs with receive_store_list_job_clear. */
int receive_store_list(db *conn, void *arg);
void receive_store_list_job_clear(receive_store_list_job *job);

/* One webhook with its body and its handler runs. */
typedef struct receive_store_get_job {
    const char *id;
    receive_store_webhook webhook; /* out, with body */
    receive_store_run *runs;       /* out: run_count of them, oldest first */
    size_t run_count;
} receive_store_get_job;

/* arg: receive_store_get_job. HOOKD_ENOTFOUND when there is no such id. Free its outputs
 * with receive_store_get_job_clear. */
int receive_store_get(db *conn, void *arg);
void receive_store_get_job_clear(receive_store_get_job *job);

/* A manual retry: a done or failed webhook becomes pending, due now, with a fresh round of
 * attempts; a pending one not under lease is made due now. Either notifies
 * RECEIVE_STORE_NOTIFY_CHANNEL; a lease someone holds is never touched. */
typedef struct receive_store_retry_job {
    const char *id;
    int64_t now;       /* unix ms */
    int64_t lease_ms;  /* --lease: RECEIVE_STORE_LEASE_SKEW of them ahead holds nothing */
    bool was_finished; /* out: it was done or failed (the pending count grows by one) */
} receive_store_retry_job;

/* arg: receive_store_retry_job. HOOKD_ENOTFOUND, or HOOKD_ECONFLICT while a handler runs it. */
int receive_store_retry(db *conn, void *arg);

/* Counts pending webhooks. */
typedef struct receive_store_count_job {
    int64_t count; /* out */
} receive_store_count_job;

/* arg: receive_store_count_job. */
int receive_store_count_pending(db *conn, void *arg);

/* Counts webhooks by status (the panel's inbox tabs). */
typedef struct receive_store_status_count_job {
    int64_t pending, done, failed; /* out */
} receive_store_status_count_job;

/* arg: receive_store_status_count_job. */
int receive_store_count_by_status(db *conn, void *arg);

/* retention_batch_fn (retention.h): deletes at most batch->limit done and failed webhooks
 * (and their runs) last changed before batch->before, oldest received first. */
int receive_store_purge(db *conn, retention_batch *batch);

/* Frees the leases whose owner starts with prefix (an exact prefix, not LIKE): the work
 * engine's release — "<node-id>/" at start, once this process holds the node's listening
 * address (so no other live process can be using that name), its exact owner at stop. */
typedef struct receive_store_release_job {
    const char *prefix;
    int64_t released; /* out */
} receive_store_release_job;

/* Gives back claimed webhooks that were never started (a handler stopping with work it
 * claimed ahead): each lease is freed if the token still holds it. */
typedef struct receive_store_unclaim_job {
    const char *const *ids;    /* count ids … */
    const char *const *tokens; /* … and the lease token each was claimed with */
    size_t count;
} receive_store_unclaim_job;

/* arg: receive_store_unclaim_job. */
int receive_store_unclaim(db *conn, void *arg);

/* arg: receive_store_release_job. */
int receive_store_release(db *conn, void *arg);

/* Pushes every lease owner holds on a pending webhook to lease_until (the engine's
 * extend_work: its outcomes wait for a store that refused them). */
typedef struct receive_store_extend_job {
    const char *owner;
    int64_t lease_until;
    int64_t extended; /* out */
} receive_store_extend_job;

/* arg: receive_store_extend_job. */
int receive_store_extend(db *conn, void *arg);

#endif
