/*
 * engine.h — the one work engine of both sides: the sender's deliveries and the receiver's
 * handler runs are durable rows claimed ahead under a lease, run under a global and a
 * per-key cap, retried on the retry.c schedule and closed by an outcome. This module does
 * all of that once; each side gives it
 *   - a store (engine_store): claim, record outcomes, give back, release — SQL functions run
 *     on the db_worker's thread (or on whatever `submit` the options name: a test's fake);
 *   - a runner (engine_runner): starts one run of a claimed item and reports its end with
 *     engine_finished (sender: sign + HTTP POST; receiver: exec or forward);
 *   - a key per item (sender: the destination id; receiver: one key for all) for the
 *     per-key cap.
 *
 * Life of an item: claimed (a batch, under a lease for this process's owner name) — or
 * handed off: written by the side already leased to this owner, in room the engine reserved
 * for it (engine_reserve), and adopted once that write committed (engine_adopt), with no
 * claim — → waits here for a slot, started only while its lease still covers a whole run
 * plus a margin → runs → its slot is freed at once and its outcome (done · retry at
 * next_attempt_at · failed) is queued → recorded with every outcome that ended in the same
 * loop turn in one store job, which lands in the store thread's next batch transaction.
 * A run never waits on a store round trip before it starts or after it ends; the lease
 * covers the gap. So a crash (kill -9, power loss) can repeat the runs under way AND the
 * runs whose outcomes were queued but not yet committed (a store batch or two; at most
 * max_unrecorded when set: past it new runs wait for the store to catch up). An outcome
 * the store refused (any error but HOOKD_ELEASE) is kept and retried with backoff (at once
 * when a later record job commits: the store takes outcomes again), its lease extended
 * meanwhile (store.extend_work) and an expired one written before the next claim can take
 * the item again: only a process death (or another node taking an item
 * whose lease ran out while the store was down) makes a run happen twice. HOOKD_ELEASE
 * (another process holds it now) drops the outcome. A handed-off item is no different once
 * written: a crash between its commit and its run leaves it leased, and the next start's
 * release (or the lease's end) makes it due again.
 *
 * Lease owners are "<node-id>/<8 hex digits>": the node id names the process's place
 * (host and address, or --node-id), the suffix tells two runs of it apart. At start the
 * engine's first store job releases every lease whose owner starts with "<node-id>/":
 * those of an earlier run of this node that died. At stop: waiting items are given back,
 * runs under way end and are recorded, then every lease of this exact owner is released.
 *
 * Thread: loop thread only (store functions run on the store thread, as documented).
 */
#ifndef HOOKD_ENGINE_H
#define HOOKD_ENGINE_H

#include "db.h"
#include "retry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct engine engine;
typedef struct engine_run engine_run;

/* A claimed item as the store hands it to the engine. */
typedef struct engine_claimed {
    void *payload;          /* the side's row (owned: freed with store.payload_free) */
    const char *key;        /* its per-key cap key, valid as long as payload */
    const char *id;         /* for logs, valid as long as payload */
    int64_t round_attempts; /* runs already made in the current round */
} engine_claimed;

/* Room the claim may take of one key: 0 means skip it. */
typedef struct engine_key_room {
    const char *key; /* valid during the claim */
    int room;
} engine_key_room;

/* One claim, filled by the engine, run by store.claim on the store thread. */
typedef struct engine_claim {
    /* inputs */
    const char *owner;            /* the lease owner to write */
    int64_t now;                  /* wall ms */
    int64_t lease_until;          /* wall ms: the leases' end */
    int limit;                    /* items at most, in all (≥ 1) */
    int per_key;                  /* items at most of a key not in rooms */
    const engine_key_room *rooms; /* keys with their own room, sorted by strcmp of key */
    size_t room_count;
    const char *cursor; /* where a round robin over keys resumes, or NULL */
    /* outputs */
    engine_claimed *items; /* xmalloc'd array (taken by the engine); count of them */
    size_t count;
    char *next_cursor; /* xmalloc'd (taken by the engine), or NULL: keep cursor */
    int64_t next_due;  /* wall ms of the next item due after now, -1: unknown */
    bool more;         /* stopped at limit: more may be due now */
} engine_claim;

/* Room of key in a claim (its rooms entry, else per_key). For store.claim. */
int engine_claim_room(const engine_claim *claim, const char *key);

enum engine_state {
    ENGINE_DONE = 1,  /* succeeded */
    ENGINE_RETRY = 2, /* failed; due again at next_attempt_at */
    ENGINE_FAILED = 3 /* failed; no more automatic runs */
};

/* What the engine decided at a run's end, handed to store.record. */
typedef struct engine_outcome {
    const char *owner; /* the lease owner */
    enum engine_state state;
    int64_t attempt;    /* this run's number in its round (1 for the first) */
    int64_t started_at; /* wall ms */
    int64_t duration_ms;
    int64_t now;             /* wall ms of the run's end */
    int64_t next_attempt_at; /* ENGINE_RETRY: wall ms */
} engine_outcome;

/* A run as both stores record it (the sender's attempts, the receiver's handler runs); each
 * side's row adds its own status fields after it. */
typedef struct engine_record {
    int64_t n;          /* 1, 2, … among all the item's runs */
    int64_t started_at; /* Unix ms */
    int64_t duration_ms;
    char *error; /* why it failed, or NULL; owned */
} engine_record;

/* How a run ended, from the runner. */
typedef struct engine_result {
    bool success;           /* the item is done */
    bool final;             /* failed, and no retry whatever the round (410 Gone) */
    int64_t retry_after_ms; /* a longer wait the far end asked for, or -1 */
} engine_result;

/* The side's store. The *_work functions run on the store thread inside a batch
 * transaction and return 0 or a HOOKD_E* code; the others run on the loop. The engine's jobs
 * may run twice (DB_JOB_RERUNNABLE, db.h): a *_work function sets its outputs, never adds
 * to them, and claim_work's items of a first run are freed (payload_free) before a second. */
typedef struct engine_store {
    void *ctx;
    /* Claims due items of free keys (engine_claim_room) under the lease. */
    int (*claim_work)(db *conn, void *ctx, engine_claim *claim);
    /* Records one outcome, only while owner holds the lease (HOOKD_ELEASE otherwise and
     * nothing written). A record job holds several: any other error undoes them all. */
    int (*record_work)(db *conn, void *ctx, void *payload, const engine_outcome *outcome);
    /* Optional: records a record job's count outcomes at once, rcs[i] each one's result as
     * record_work's (a store where a statement costs more than its rows batches them);
     * when set, record_work is not called. Returns 0 or the error that undoes them all. */
    int (*record_many)(db *conn, void *ctx, void *const *payloads, int *rcs, size_t count);
    /* Gives back claimed items never started (frees their leases if still held). */
    int (*unclaim_work)(db *conn, void *ctx, void *const *payloads, size_t count);
    /* Frees every lease whose owner starts with prefix; *released: how many. */
    int (*release_work)(db *conn, void *ctx, const char *prefix, int64_t *released);
    /* Optional: pushes every lease owner holds to lease_until; *extended: how many. The
     * engine calls it while refused outcomes wait, before their leases run out (issue 12):
     * with it a refused outcome is kept until the store takes it, whatever the wait, and
     * only a process death makes a run happen twice. Without it, an outcome still refused
     * when its lease ends is dropped (the item runs again). */
    int (*extend_work)(db *conn, void *ctx, const char *owner, int64_t lease_until,
                       int64_t *extended);
    /* Loop, optional: an outcome was committed (rc 0), refused for good, or its lease lost. */
    void (*recorded)(void *ctx, void *payload, const engine_outcome *outcome, int rc);
    /* Loop, and the store thread for a claim's items before it runs again (claim_work's
     * payloads only, nothing the loop has seen). */
    void (*payload_free)(void *ctx, void *payload);
} engine_store;

/* The side's runner. */
typedef struct engine_runner {
    void *ctx;
    /* Starts a run; its end is reported with engine_finished(run, …), from a later loop
     * callback or from within start itself (e.g. the process could not be spawned). The
     * runner bounds the run's time (its timeout). */
    void (*start)(void *ctx, engine_run *run, void *payload);
    /* Loop, optional: the engine decided the outcome (before it is recorded): logs, metrics. */
    void (*decided)(void *ctx, void *payload, const engine_outcome *outcome);
    /* engine_free with this run still under way: end it without calling back. Optional. */
    void (*cancel)(void *ctx, void *payload);
} engine_runner;

/* Runs store work: db_worker_submit's shape (the jobs may run twice: DB_JOB_RERUNNABLE). A
 * test passes a fake that runs it later. */
typedef void (*engine_submit_fn)(void *submit_ctx, db_work_fn work, db_done_fn done, void *arg);

typedef struct engine_options {
    const char *name;        /* for logs: "serve", "receive" */
    const char *node_id;     /* this process's place; cleaned and suffixed (engine_owner) */
    int max_runs;            /* runs at once, all keys; 0: claims nothing (API only) */
    int max_per_key;         /* runs at once per key (≥ 1) */
    int max_held;            /* items claimed in memory (running or waiting); 0: 8 × max_runs */
    int max_unrecorded;      /* ended runs whose outcomes are not yet committed, at most: no
                                run starts past it (what a crash can repeat beyond the runs
                                under way); 0: no bound */
    int max_recording;       /* record jobs with the store at once; outcomes ending meanwhile
                                wait for the next, larger one; 0: one job per loop turn */
    int64_t timeout_ms;      /* one run's limit (the runner enforces it) */
    int64_t lease_ms;        /* how long a claim holds; longer than timeout_ms */
    int64_t poll_ms;         /* claim at least this often */
    int max_attempts;        /* runs per round before an item fails (≥ 1) */
    retry_policy retry;      /* waits between runs (retry.c) */
    int64_t (*clock)(void);  /* wall ms; NULL: loop_now_ms */
    double (*jitter)(void);  /* [0, 1); NULL: retry_jitter */
    bool handoff;            /* the side hands new items over (engine_reserve, engine_adopt):
                                a key gone idle claims only if the store may hold due items */
    engine_submit_fn submit; /* NULL: db_worker_submit_flags(worker, DB_JOB_RERUNNABLE, …) */
    void *submit_ctx;        /* the db_worker, or the fake's context */
} engine_options;

/* Creates the engine; its first store job releases an earlier run's leases, then it claims.
 * The store, runner and submit context must outlive it. Never NULL. */
engine *engine_new(struct event_base *base, const engine_options *options,
                   const engine_store *store, const engine_runner *runner);

/* This process's lease owner, "<node-id>/<8 hex>". */
const char *engine_owner(const engine *e);

/* New work may be due: claims now, or right after the claim under way. Until a claim finds
 * less than its room, engine_reserve refuses (the due work goes first). */
void engine_wake(engine *e);

/* Like engine_wake, but handoffs go on meanwhile: only a claim that fills its room, or no
 * room to claim, holds them back. For new free items whose claim cannot be long (the side's
 * own, written while a handoff was refused; a notification, which on PostgreSQL is also
 * this process's own echo): with engine_wake each claim's window refused the handoff for
 * the rows saved meanwhile, whose wake opened the next window, for a whole burst. */
void engine_notified(engine *e);

/* A run ended (loop thread). run is invalid afterwards. */
void engine_finished(engine_run *run, const engine_result *result);

/* Wall ms the run started at (for the runner's own records). */
int64_t engine_run_started_at(const engine_run *run);

/* The run's payload, and the runner's ctx: what a completion callback given only the run
 * needs. */
void *engine_run_payload(const engine_run *run);
void *engine_run_ctx(const engine_run *run);

/* Stops claiming; waiting items are given back; runs under way end and are recorded;
 * reservations still out are waited for (what is adopted now is given back); then the
 * owner's leases are released and drained(arg) is called (later, on the loop). */
void engine_stop(engine *e, void (*drained)(void *arg), void *arg);

/* Handoff (the receiver: a webhook written while the handler has room runs without a claim).
 * Reserves room for up to n new items of key that the side is about to write already leased
 * (lease_until, the side's token, engine_owner), and returns how many it may write so: 0
 * while stopping, while the store may hold due items no claim has looked for yet (a wake or
 * a poll tick whose claim has not come back, a claim that filled its room or failed: those
 * go first), or when the room a claim could take now (max_held, the key's depth) is
 * promised. Claims count reserved room as held. *lease_until: the leases' end to write.
 * Every reserved item is later either adopted (the write committed) or unreserved (not
 * written: a duplicate, a failed batch). */
int engine_reserve(engine *e, const char *key, int n, int64_t *lease_until);

/* Reserved items whose leased write committed: queued and started like claimed ones (only
 * after the commit: never a run of an item that is not durable). A stopped engine gives
 * them back. items' payloads are taken (store.payload_free). */
void engine_adopt(engine *e, const engine_claimed *items, size_t n, int64_t lease_until);

/* n reserved items of key that were not written. */
void engine_unreserve(engine *e, const char *key, int n);

/* Runs under way. */
size_t engine_running(const engine *e);

/* True when nothing is under way: no run, claim, record, give-back or reservation. */
bool engine_idle(const engine *e);

/* Frees the engine; runs still under way are cancelled (runner.cancel). Call once no
 * store job of it is left (after db_worker_stop, which runs them all). */
void engine_free(engine *e);

/* The node id rule, exposed for the mains' logs: letters, digits and . - _ : [ ] space
 * kept, the rest (notably '/', which ends the node id in an owner) made '-'; at most 128
 * characters; "hookd" when empty. out needs 129 bytes. */
void engine_node_id_clean(const char *in, char *out, size_t outlen);

#endif
