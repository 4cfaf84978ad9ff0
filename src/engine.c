/*
 * engine.c — the one work engine (see engine.h for the contract).
 *
 * Claims run ahead: a key whose runs finish quickly keeps up to ENGINE_AHEAD rounds of its
 * slots claimed in memory, so a freed slot finds the next item here, not behind a store
 * round trip, and claims come in large batches. How far ahead is bounded by time: only the
 * rounds the key completes within ENGINE_AHEAD_HORIZON_MS at its pace (a 1/8 moving average
 * of its run times, or the time since its last run ended when that is longer and runs are
 * under way: a key that just started to hang). A key that is slow or has not finished a run
 * yet claims only for its free slots, which leaves the rest to idle nodes sharing the store
 * (the receiver's multinode test measures exactly that). A waiting item whose lease no
 * longer covers a whole run plus ENGINE_LEASE_MARGIN_MS is dropped, not started: its lease
 * runs out and it is claimed again.
 *
 * Release at start, one rule for both sides: every lease whose owner starts with
 * "<node-id>/" is freed by the engine's first store job. The node id names what this
 * process holds (host and listening address, or the sender's --node-id), so no other live
 * process has it and those leases belong to an earlier run of this node that died: its
 * items become due at once instead of after the lease. The receiver used to release by the
 * exact owner (which had no suffix) — the same set of rows, since its owner was its node
 * id; leases written by a receiver before this change (owner without a "/") expire
 * instead. Runs on other addresses (the multinode tests) are never touched.
 *
 * One set of constants for both sides (they used to differ): the 100 ms horizon is the
 * receiver's old one (the sender's lease/20, 3 s by default, claimed 8 rounds ahead for a
 * destination at 400 ms an attempt, work that other nodes could then not share; a fast
 * destination still gets its 8 rounds); the margin is the sender's (the receiver's fixed
 * 2 s refused every run when --lease was under --handler-timeout + 2 s). The poll period
 * stays each side's option.
 *
 * Outcomes: a run's slot is freed when it ends; its outcome waits (at most a loop turn) for
 * the record job of that turn. Until it commits its lease is still held, so it counts
 * against max_held in claims, and max_unrecorded (the receiver: 4 × --workers) holds new runs
 * back when the store falls that far behind — that bounds what a crash repeats.
 *
 * Everything here runs on the loop; the store's functions run on the store thread through
 * opt.submit, reading only what their job carries.
 */
#include "engine.h"

#include "hookd.h"
#include "log.h"
#include "loop.h"
#include "mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENGINE_BUCKETS 256          /* hash buckets of the per-key table */
#define ENGINE_CLAIM_MAX 256        /* items one claim takes at most */
#define ENGINE_AHEAD 8              /* a fast key's claimed work: up to 8 rounds of slots */
#define ENGINE_AHEAD_HORIZON_MS 100 /* rounds claimed ahead must end within this time */
#define ENGINE_AHEAD_LEASE_SHARE 20 /* … and within 1/20 of the lease */
#define ENGINE_LEASE_MARGIN_MS                                                                     \
    1000                               /* a run starts only with this much lease to spare          \
                                          (half of lease - timeout when that is less) */
#define ENGINE_RECORD_BACKOFF_MS 250   /* first wait before a refused outcome is retried */
#define ENGINE_RECORD_BACKOFF_MAX 5000 /* the wait doubles up to this */

typedef struct engine_key engine_key;

/* One claimed item, from its claim to its recorded outcome. */
struct engine_run {
    engine *e;
    engine_key *key;        /* its key's slots and queue */
    void *payload;          /* the side's row (owned) */
    const char *id;         /* in payload */
    int64_t round_attempts; /* runs made in its round before this one */
    int64_t lease_until;    /* wall ms */
    int64_t started_at;     /* wall ms */
    engine_outcome outcome; /* set when the run ended */
    int record_rc;          /* store.record_work's result in the last record job, 1: not run */
    int64_t retry_at;       /* a refused outcome is submitted again from this time (wall ms) */
    int64_t backoff_ms;     /* the next wait after a refusal */
    engine_run *next;       /* in its key's queue, or in the outcomes to record */
    engine_run *prev_run, *next_run; /* in e->runs while running */
};

/* Slots, queue and pace of one key. Kept while idle (its pace is worth keeping) until a
 * claim finds it idle for longer than a lease. */
struct engine_key {
    char *name;
    int running;             /* runs under way */
    int queued;              /* claimed, waiting for a slot */
    engine_run *head, *tail; /* the waiting ones, oldest first */
    int64_t avg_ms;          /* 1/8 moving average of its run times, -1: none yet */
    int64_t last_done_at;    /* wall ms the last run ended (or the key was created) */
    int asked;               /* items the claim under way may take of it, -1: not asked */
    int reserved;            /* room promised to items being written already leased */
    bool maybe_more;         /* its last claim filled its room: more may be due */
    engine_key *next;        /* hash chain */
};

struct engine {
    struct event_base *base;
    engine_options opt;
    engine_store store;
    engine_runner runner;
    char name[32];
    char node_id[136];
    char owner[160];
    engine_key *buckets[ENGINE_BUCKETS];
    int running;           /* runs under way */
    int queued;            /* claimed, waiting for a slot */
    int unrecorded;        /* ended runs whose outcomes are not yet committed */
    int reserved;          /* room promised to items being written already leased (handoff) */
    bool backlog;          /* the store may hold due items no claim has looked for yet */
    engine_run *runs;      /* runs under way */
    engine_run *to_record; /* ended runs whose outcomes wait for a record job */
    engine_run **to_record_tail;
    int recording; /* record jobs with the store */
    bool claiming; /* a claim job is with the store */
    bool rewake;   /* woken while claiming: claim again after */
    bool starved;  /* a claim found no room while outcomes held leases */
    bool stopping;
    int unclaiming;        /* give-back jobs under way */
    int releasing;         /* release jobs under way */
    bool extending;        /* a lease extension job is with the store */
    int recording_expired; /* refused outcomes past their lease in record jobs under way */
    int64_t extend_after;  /* wall ms: no extension before (one just failed) */
    bool released_at_stop; /* the final release was submitted */
    bool drained_called;
    char *cursor; /* where the next claim's round robin resumes */
    void (*drained)(void *arg);
    void *drained_arg;
    struct event *tick;  /* poll, next due, refused outcomes' retries */
    struct event *pump;  /* starts waiting runs on the next loop turn */
    struct event *flush; /* submits this turn's outcomes as one record job */
    struct event *later; /* check_drained on the next turn, after engine_stop */
    int64_t tick_at;     /* monotonic ms the tick fires at, 0 when idle */
};

static void claim_start(engine *e);
static void records_flush(engine *e);
static void check_drained(engine *e);

static int64_t engine_now(const engine *e)
{
    return e->opt.clock();
}

/* Every job of the engine may run twice (db.h): each *_work below sets its outputs, and
 * claim_work frees a first run's items before it claims again. */
static void default_submit(void *ctx, db_work_fn work, db_done_fn done, void *arg)
{
    db_worker_submit_flags(ctx, DB_JOB_RERUNNABLE, work, done, arg);
}

static void submit(engine *e, db_work_fn work, db_done_fn done, void *arg)
{
    e->opt.submit(e->opt.submit_ctx, work, done, arg);
}

/* ---- keys ---- */

/* FNV-1a: the per-key table's hash. */
static unsigned key_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ENGINE_BUCKETS;
}

static engine_key *key_find(engine *e, const char *name)
{
    unsigned b = key_hash(name);
    for (engine_key *k = e->buckets[b]; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return k;
    engine_key *k = xcalloc(1, sizeof *k);
    k->name = xstrdup(name);
    k->avg_ms = -1;
    k->last_done_at = engine_now(e);
    k->asked = -1;
    k->next = e->buckets[b];
    e->buckets[b] = k;
    return k;
}

/* Items a key may hold (running + waiting): its slots, plus as many more rounds of them as
 * it completes within the horizon at its pace. */
static int key_depth(const engine *e, const engine_key *k, int64_t now)
{
    int slots = e->opt.max_per_key;
    if (k->avg_ms < 0)
        return slots;
    int64_t pace = k->avg_ms;
    if (k->running > 0 && now - k->last_done_at > pace)
        pace = now - k->last_done_at;
    if (pace < 1)
        pace = 1;
    int64_t horizon = e->opt.lease_ms / ENGINE_AHEAD_LEASE_SHARE;
    if (horizon > ENGINE_AHEAD_HORIZON_MS)
        horizon = ENGINE_AHEAD_HORIZON_MS;
    int64_t rounds = horizon / pace;
    if (rounds > ENGINE_AHEAD - 1)
        rounds = ENGINE_AHEAD - 1;
    return slots * (1 + (int)rounds);
}

static void run_free(engine *e, engine_run *r)
{
    e->store.payload_free(e->store.ctx, r->payload);
    free(r);
}

/* ---- timers ---- */

/* Arms the tick to fire in ms unless it already fires sooner. */
static void tick_arm(engine *e, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    int64_t at = loop_monotonic_ms() + ms;
    if (e->tick_at != 0 && e->tick_at <= at)
        return;
    e->tick_at = at;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(e->tick, &tv);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    engine *e = arg;
    e->tick_at = 0;
    records_flush(e);
    if (e->stopping || e->opt.max_runs == 0)
        return;
    /* Work may have become due by time (retries, expired leases, another node's): claim. */
    e->backlog = true;
    claim_start(e);
    if (!e->claiming)
        tick_arm(e, e->opt.poll_ms);
}

/* ---- runs ---- */

/* The lease a run needs left to start: a whole run and a margin. */
static int64_t lease_needed(const engine *e)
{
    int64_t margin = (e->opt.lease_ms - e->opt.timeout_ms) / 2;
    if (margin > ENGINE_LEASE_MARGIN_MS)
        margin = ENGINE_LEASE_MARGIN_MS;
    return e->opt.timeout_ms + margin;
}

static void run_start(engine *e, engine_run *r)
{
    r->started_at = engine_now(e);
    /* A key going busy again: whether it hangs is measured from now, not from its last run
     * before it went idle (a key back from a second's idle looked hung: one round of slots
     * deep, so the claim that followed its first asked nothing of it and, finding nothing,
     * told the handoff that no backlog was left). */
    if (r->key->running == 0)
        r->key->last_done_at = r->started_at;
    e->running++;
    r->key->running++;
    r->prev_run = NULL;
    r->next_run = e->runs;
    if (e->runs)
        e->runs->prev_run = r;
    e->runs = r;
    e->runner.start(e->runner.ctx, r, r->payload);
}

/* A run may start: a slot is free and the store is not too far behind with outcomes. */
static bool engine_has_room(const engine *e)
{
    return e->running < e->opt.max_runs && !e->stopping &&
           (e->opt.max_unrecorded == 0 || e->unrecorded < e->opt.max_unrecorded);
}

/* Starts a key's waiting items while it and the engine have free slots. One whose lease
 * would not outlast the run is dropped: it is claimed again once the lease is over. */
static void key_pump(engine *e, engine_key *k)
{
    while (k->head && k->running < e->opt.max_per_key && engine_has_room(e)) {
        engine_run *r = k->head;
        k->head = r->next;
        if (!k->head)
            k->tail = NULL;
        k->queued--;
        e->queued--;
        int64_t left = r->lease_until - engine_now(e);
        if (left < lease_needed(e)) {
            log_debug(e->name, "%s: waited too long for a slot, left for its lease to expire",
                      r->id);
            tick_arm(e, left + 1);
            run_free(e, r);
            continue;
        }
        run_start(e, r);
    }
}

static void pump_all(engine *e)
{
    for (size_t b = 0; b < ENGINE_BUCKETS; b++)
        for (engine_key *k = e->buckets[b]; k; k = k->next)
            if (k->head)
                key_pump(e, k);
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump_all(arg);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    records_flush(arg);
}

/* The state after a run: done, failed, or due again after retry.c's wait. */
static void outcome_decide(engine *e, engine_run *r, const engine_result *res, int64_t now)
{
    engine_outcome *o = &r->outcome;
    o->owner = e->owner;
    o->attempt = r->round_attempts + 1;
    o->started_at = r->started_at;
    o->duration_ms = now - r->started_at;
    o->now = now;
    if (res->success) {
        o->state = ENGINE_DONE;
    } else if (res->final || o->attempt >= e->opt.max_attempts) {
        o->state = ENGINE_FAILED;
    } else {
        o->state = ENGINE_RETRY;
        o->next_attempt_at = now + retry_delay_ms(&e->opt.retry, (int)o->attempt + 1,
                                                  res->retry_after_ms, e->opt.jitter());
    }
}

void engine_finished(engine_run *r, const engine_result *res)
{
    engine *e = r->e;
    engine_key *k = r->key;
    int64_t now = engine_now(e);
    if (r->prev_run)
        r->prev_run->next_run = r->next_run;
    else
        e->runs = r->next_run;
    if (r->next_run)
        r->next_run->prev_run = r->prev_run;
    e->running--;
    k->running--;
    int64_t took = now - r->started_at;
    k->avg_ms = k->avg_ms < 0 ? took : (k->avg_ms * 7 + took) / 8;
    k->last_done_at = now;
    outcome_decide(e, r, res, now);
    if (e->runner.decided)
        e->runner.decided(e->runner.ctx, r->payload, &r->outcome);

    /* The slot is free now; the outcome goes with the next record job. */
    e->unrecorded++;
    r->next = NULL;
    r->retry_at = 0;
    r->backoff_ms = ENGINE_RECORD_BACKOFF_MS;
    *e->to_record_tail = r;
    e->to_record_tail = &r->next;
    event_active(e->flush, EV_TIMEOUT, 0);

    /* Claim when a round of this key's room is free and it may have more due, or when it
     * emptied (other keys may be waiting for room). The next waiting run starts on the next
     * loop turn, never from inside the runner's completion callback. */
    bool want =
        k->maybe_more && k->running + k->queued <= key_depth(e, k, now) - e->opt.max_per_key;
    bool idle = k->running == 0 && k->queued == 0;
    /* An engine fed by handoffs goes idle after nearly every run when its side keeps up:
     * it claims then only if the store may hold due items (each claim scans the pending
     * items under lease, so claiming for nothing is not free). */
    if (idle && e->opt.handoff && !e->backlog)
        idle = false;
    if (!e->stopping && e->queued > 0)
        event_active(e->pump, EV_TIMEOUT, 0);
    if (!e->stopping && (want || idle))
        claim_start(e);
    check_drained(e);
}

int64_t engine_run_started_at(const engine_run *r)
{
    return r->started_at;
}

void *engine_run_payload(const engine_run *r)
{
    return r->payload;
}

void *engine_run_ctx(const engine_run *r)
{
    return r->e->runner.ctx;
}

/* ---- outcomes ---- */

typedef struct record_job {
    engine *e;
    engine_run *list; /* linked by next */
    int expired;      /* refused outcomes in it whose lease had run out */
} record_job;

/* record_work through the store's record_many: one call for the job's outcomes. */
static int record_many_work(db *conn, record_job *job)
{
    engine *e = job->e;
    size_t n = 0;
    for (engine_run *r = job->list; r; r = r->next)
        n++;
    void **payloads = xcalloc(n ? n : 1, sizeof *payloads);
    int *rcs = xcalloc(n ? n : 1, sizeof *rcs);
    size_t i = 0;
    for (engine_run *r = job->list; r; r = r->next)
        payloads[i++] = r->payload;
    int rc = e->store.record_many(conn, e->store.ctx, payloads, rcs, n);
    i = 0;
    for (engine_run *r = job->list; r; r = r->next, i++)
        r->record_rc = rc == 0 ? rcs[i] : 1;
    free(payloads);
    free(rcs);
    return rc;
}

/* Store thread: each outcome's own result in its record_rc. A lost lease is that item's
 * alone; any other error fails the whole job (its writes are undone with it). */
static int record_work(db *conn, void *arg)
{
    record_job *job = arg;
    engine *e = job->e;
    for (engine_run *r = job->list; r; r = r->next)
        r->record_rc = 1;
    if (e->store.record_many)
        return record_many_work(conn, job);
    for (engine_run *r = job->list; r; r = r->next) {
        r->record_rc = e->store.record_work(conn, e->store.ctx, r->payload, &r->outcome);
        if (r->record_rc != 0 && r->record_rc != HOOKD_ELEASE)
            return r->record_rc;
    }
    return 0;
}

/* An outcome the store refused: kept and submitted again after a backoff while its lease
 * still holds; past it the run will happen again (its lease expires, it is claimed). */
static bool record_refused(engine *e, engine_run *r, int rc, int64_t now)
{
    /* With extensions the lease is kept (or, if it ran out, the outcome is written before
     * the next claim): keep trying. A stopping engine still gives up at the lease's end. */
    bool keep = e->store.extend_work && !e->stopping;
    if (!keep && now + r->backoff_ms >= r->lease_until) {
        log_error(e->name,
                  "%s: cannot record the run's outcome (%s) before its lease ends; "
                  "it will run again",
                  r->id, hookd_strerror(rc));
        return false;
    }
    if (r->backoff_ms == ENGINE_RECORD_BACKOFF_MS)
        log_warn(e->name, "%s: cannot record the run's outcome (%s); kept, trying again", r->id,
                 hookd_strerror(rc));
    r->retry_at = now + r->backoff_ms;
    r->backoff_ms *= 2;
    if (r->backoff_ms > ENGINE_RECORD_BACKOFF_MAX)
        r->backoff_ms = ENGINE_RECORD_BACKOFF_MAX;
    r->next = NULL;
    *e->to_record_tail = r;
    e->to_record_tail = &r->next;
    return true;
}

/* One outcome's answer from the store, in the callback of its record job. */
static void record_result(engine *e, engine_run *r, int rc, int64_t now)
{
    if (rc != 0 && rc != HOOKD_ELEASE && record_refused(e, r, rc, now))
        return;
    if (rc == 0 && r->outcome.state == ENGINE_RETRY && !e->stopping)
        tick_arm(e, r->outcome.next_attempt_at - now + 1);
    if (rc == HOOKD_ELEASE)
        log_warn(e->name, "%s: lease lost, the run's outcome was not recorded", r->id);
    if (e->store.recorded)
        e->store.recorded(e->store.ctx, r->payload, &r->outcome, rc);
    run_free(e, r);
    e->unrecorded--;
}

/* Refused outcomes waiting out their backoff are due now, with their backoff reset: a
 * store that took a record job takes them too, and a run whose outcome waits (its run
 * over, its item held) is work a crash would repeat. */
static void records_retry_now(engine *e, int64_t now)
{
    for (engine_run *r = e->to_record; r; r = r->next)
        if (r->retry_at > now) {
            r->retry_at = now;
            r->backoff_ms = ENGINE_RECORD_BACKOFF_MS;
        }
}

static void record_done(void *arg, int rc)
{
    record_job *job = arg;
    engine *e = job->e;
    int64_t now = engine_now(e);
    e->recording--;
    e->recording_expired -= job->expired;
    engine_run *r = job->list;
    free(job);
    while (r) {
        engine_run *next = r->next;
        /* A failed job undid every write: only a lost lease (nothing written) is final. */
        int run_rc = r->record_rc;
        if (rc != 0 && run_rc != HOOKD_ELEASE)
            run_rc = rc;
        record_result(e, r, run_rc, now);
        r = next;
    }
    if (rc == 0)
        records_retry_now(e, now); /* the store takes outcomes again */
    records_flush(e);
    if (e->queued > 0 && !e->stopping)
        event_active(e->pump, EV_TIMEOUT, 0); /* runs held back by max_unrecorded */
    if (e->starved)
        claim_start(e); /* the recorded outcomes' leases made room */
    check_drained(e);
}

/* ---- lease extension while refused outcomes wait ---- */

typedef struct extend_job {
    engine *e;
    int64_t until;
    int64_t extended;
} extend_job;

static int extend_work(db *conn, void *arg)
{
    extend_job *job = arg;
    return job->e->store.extend_work(conn, job->e->store.ctx, job->e->owner, job->until,
                                     &job->extended);
}

static void lease_push(engine_run *list, bool by_next_run, int64_t until)
{
    for (engine_run *r = list; r; r = by_next_run ? r->next_run : r->next)
        if (r->lease_until < until)
            r->lease_until = until;
}

static void extend_done(void *arg, int rc)
{
    extend_job *job = arg;
    engine *e = job->e;
    e->extending = false;
    if (rc == 0) {
        lease_push(e->to_record, false, job->until);
        lease_push(e->runs, true, job->until);
        for (size_t b = 0; b < ENGINE_BUCKETS; b++)
            for (engine_key *k = e->buckets[b]; k; k = k->next)
                lease_push(k->head, false, job->until);
        log_info(e->name, "outcomes wait for the store: %lld leases extended",
                 (long long)job->extended);
    } else {
        e->extend_after = engine_now(e) + ENGINE_RECORD_BACKOFF_MS * 4;
        log_warn(e->name, "cannot extend leases while outcomes wait (%s)", hookd_strerror(rc));
    }
    free(job);
    records_flush(e); /* re-arms the tick for what still waits */
    check_drained(e);
}

/* Once the earliest lease of a refused outcome is half gone, pushes this owner's leases a
 * whole lease ahead; arms the tick for that moment otherwise. */
static void leases_extend(engine *e, int64_t now)
{
    if (!e->store.extend_work || e->extending || e->stopping)
        return;
    int64_t earliest = -1;
    for (engine_run *r = e->to_record; r; r = r->next)
        if (r->retry_at > 0 && (earliest < 0 || r->lease_until < earliest))
            earliest = r->lease_until;
    if (earliest < 0)
        return;
    int64_t at = earliest - e->opt.lease_ms / 2;
    if (at < e->extend_after)
        at = e->extend_after;
    if (at > now) {
        tick_arm(e, at - now);
        return;
    }
    extend_job *job = xcalloc(1, sizeof *job);
    job->e = e;
    job->until = now + e->opt.lease_ms;
    e->extending = true;
    submit(e, extend_work, extend_done, job);
}

/* Before a claim: refused outcomes whose lease ran out are submitted now. True while any
 * such outcome is not yet recorded: the claim must wait for it, or it could hand this
 * process an item it already ran. (Only a store refusing writes gets here, and then the
 * claim would fail too.) */
static bool records_expired_first(engine *e, int64_t now)
{
    bool any = false;
    for (engine_run *r = e->to_record; r; r = r->next)
        if (r->retry_at > 0 && r->lease_until <= now) {
            r->retry_at = now;
            any = true;
        }
    if (any)
        records_flush(e);
    return any || e->recording_expired > 0;
}

/* Refused outcomes in list whose lease has run out. */
static int expired_count(const engine_run *list, int64_t now)
{
    int n = 0;
    for (const engine_run *r = list; r; r = r->next)
        n += r->retry_at > 0 && r->lease_until <= now;
    return n;
}

/* Submits the outcomes due for recording as one job: those of runs that ended in this
 * loop turn, and refused ones whose wait is over. They go with the store's next batch. */
static void records_flush(engine *e)
{
    if (!e->to_record)
        return;
    /* At the bound, this turn's outcomes join the next job, submitted by record_done. */
    if (e->opt.max_recording > 0 && e->recording >= e->opt.max_recording && !e->stopping)
        return;
    int64_t now = engine_now(e);
    int64_t soonest = -1;
    engine_run *due = NULL, **due_tail = &due;
    engine_run *keep = NULL, **keep_tail = &keep;
    for (engine_run *r = e->to_record, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->retry_at <= now) {
            *due_tail = r;
            due_tail = &r->next;
        } else {
            *keep_tail = r;
            keep_tail = &r->next;
            if (soonest < 0 || r->retry_at < soonest)
                soonest = r->retry_at;
        }
    }
    e->to_record = keep;
    e->to_record_tail = keep ? keep_tail : &e->to_record;
    if (soonest >= 0)
        tick_arm(e, soonest - now);
    leases_extend(e, now);
    if (!due)
        return;
    record_job *job = xcalloc(1, sizeof *job);
    *job = (record_job){.e = e, .list = due, .expired = expired_count(due, now)};
    e->recording_expired += job->expired;
    e->recording++;
    submit(e, record_work, record_done, job);
}

/* ---- give-back and release ---- */

typedef struct unclaim_job {
    engine *e;
    engine_run *list; /* linked by next */
    void **payloads;
    size_t count;
} unclaim_job;

static int unclaim_work(db *conn, void *arg)
{
    unclaim_job *job = arg;
    return job->e->store.unclaim_work(conn, job->e->store.ctx, (void *const *)job->payloads,
                                      job->count);
}

static void unclaim_done(void *arg, int rc)
{
    unclaim_job *job = arg;
    engine *e = job->e;
    e->unclaiming--;
    if (rc != 0)
        log_warn(e->name, "cannot give back %zu claimed items (%s); their leases expire",
                 job->count, hookd_strerror(rc));
    while (job->list) {
        engine_run *r = job->list;
        job->list = r->next;
        run_free(e, r);
    }
    free(job->payloads);
    free(job);
    check_drained(e);
}

/* Gives back items claimed and never started (the engine is stopping). */
static void give_back(engine *e, engine_run *list)
{
    if (!list)
        return;
    unclaim_job *job = xcalloc(1, sizeof *job);
    job->e = e;
    job->list = list;
    for (engine_run *r = list; r; r = r->next)
        job->count++;
    job->payloads = xcalloc(job->count, sizeof *job->payloads);
    size_t n = 0;
    for (engine_run *r = list; r; r = r->next)
        job->payloads[n++] = r->payload;
    e->unclaiming++;
    submit(e, unclaim_work, unclaim_done, job);
}

typedef struct release_job {
    engine *e;
    char prefix[168];
    int64_t released;
} release_job;

static int release_work(db *conn, void *arg)
{
    release_job *job = arg;
    return job->e->store.release_work(conn, job->e->store.ctx, job->prefix, &job->released);
}

static void release_done(void *arg, int rc)
{
    release_job *job = arg;
    engine *e = job->e;
    e->releasing--;
    if (rc != 0)
        log_warn(e->name, "cannot release leases (%s); they expire instead", hookd_strerror(rc));
    else if (job->released > 0 && !e->stopping)
        log_info(e->name, "%lld items claimed by an earlier run are due again",
                 (long long)job->released);
    free(job);
    check_drained(e);
}

static void release_submit(engine *e, const char *prefix)
{
    release_job *job = xcalloc(1, sizeof *job);
    job->e = e;
    snprintf(job->prefix, sizeof job->prefix, "%s", prefix);
    e->releasing++;
    submit(e, release_work, release_done, job);
}

/* Once stopping and nothing is under way: releases what this owner still holds (claimed
 * and never started or given back), then tells the caller. */
static void check_drained(engine *e)
{
    if (!e->stopping || e->drained_called || e->running > 0 || e->to_record || e->recording > 0 ||
        e->claiming || e->unclaiming > 0 || e->releasing > 0 || e->extending || e->reserved > 0)
        return;
    if (!e->released_at_stop) {
        e->released_at_stop = true;
        release_submit(e, e->owner);
        return;
    }
    e->drained_called = true;
    if (e->drained)
        e->drained(e->drained_arg);
}

/* ---- claims ---- */

typedef struct claim_job {
    engine *e;
    engine_claim claim;
    engine_key_room *rooms; /* owned; key names point into the engine's keys */
} claim_job;

static int room_cmp(const void *a, const void *b)
{
    return strcmp(((const engine_key_room *)a)->key, ((const engine_key_room *)b)->key);
}

int engine_claim_room(const engine_claim *c, const char *key)
{
    engine_key_room probe = {.key = key};
    const engine_key_room *r =
        c->room_count ? bsearch(&probe, c->rooms, c->room_count, sizeof *c->rooms, room_cmp) : NULL;
    return r ? r->room : c->per_key;
}

static void claim_items_free(engine *e, engine_claim *c)
{
    for (size_t i = 0; i < c->count; i++)
        e->store.payload_free(e->store.ctx, c->items[i].payload);
    c->count = 0;
}

static int claim_work(db *conn, void *arg)
{
    claim_job *job = arg;
    engine *e = job->e;
    engine_claim *c = &job->claim;
    /* Run again after its batch rolled back (DB_JOB_RERUNNABLE): the first run's items are
     * claimed in no row now; freeing them also takes them out of a set kept in memory
     * (serve_held.h), so that the second run can claim them again. */
    claim_items_free(e, c);
    free(c->items);
    free(c->next_cursor);
    c->items = NULL;
    c->next_cursor = NULL;
    c->next_due = -1;
    c->more = false;
    return e->store.claim_work(conn, e->store.ctx, c);
}

static engine_run *run_new(engine *e, const engine_claimed *it)
{
    engine_run *r = xcalloc(1, sizeof *r);
    r->e = e;
    r->payload = it->payload;
    r->id = it->id;
    r->round_attempts = it->round_attempts;
    return r;
}

/* An item held under a lease until lease_until, waiting at the end of its key's queue. */
static engine_run *run_queue(engine *e, const engine_claimed *it, int64_t lease_until)
{
    engine_run *r = run_new(e, it);
    r->lease_until = lease_until;
    r->key = key_find(e, it->key);
    if (r->key->tail)
        r->key->tail->next = r;
    else
        r->key->head = r;
    r->key->tail = r;
    r->key->queued++;
    e->queued++;
    return r;
}

/* Queues the claimed items under their keys and starts what has a slot. */
static void claim_take(engine *e, engine_claim *c)
{
    if (c->next_cursor) {
        free(e->cursor);
        e->cursor = c->next_cursor;
        c->next_cursor = NULL;
    }
    for (size_t i = 0; i < c->count; i++) {
        engine_run *r = run_queue(e, &c->items[i], c->lease_until);
        if (r->key->asked < 0)
            r->key->asked = c->per_key; /* not in the claim's rooms */
        r->key->asked--;
    }
    c->count = 0;
}

/* After a claim: notes which keys got all they asked for (or may have more: a full claim
 * stopped at its limit before it saw all of any key's due items), starts what can start,
 * and forgets keys idle for longer than a lease. */
static void keys_after_claim(engine *e, int64_t now, bool full)
{
    for (size_t b = 0; b < ENGINE_BUCKETS; b++) {
        engine_key **pp = &e->buckets[b];
        while (*pp) {
            engine_key *k = *pp;
            if (k->asked >= 0)
                k->maybe_more = k->asked == 0 || full;
            k->asked = -1;
            if (k->head)
                key_pump(e, k);
            if (k->running == 0 && k->queued == 0 && k->reserved == 0 &&
                now - k->last_done_at > e->opt.lease_ms) {
                *pp = k->next;
                free(k->name);
                free(k);
            } else {
                pp = &k->next;
            }
        }
    }
}

/* Items claimed while stopping are given back at once. */
static void claim_give_back(engine *e, engine_claim *c)
{
    engine_run *list = NULL;
    for (size_t i = 0; i < c->count; i++) {
        engine_run *r = run_new(e, &c->items[i]);
        r->next = list;
        list = r;
    }
    c->count = 0;
    give_back(e, list);
}

static void claim_done(void *arg, int rc)
{
    claim_job *job = arg;
    engine *e = job->e;
    engine_claim *c = &job->claim;
    e->claiming = false;
    bool full = false;
    if (rc != 0) {
        log_error(e->name, "claim failed: %s", hookd_strerror(rc));
        claim_items_free(e, c);
        e->backlog = true; /* not known: handoffs wait for a claim that answers */
    } else if (e->stopping) {
        claim_give_back(e, c);
    } else {
        full = c->more;
        /* A claim that filled its room leaves more due: handoffs wait for it. One that found
         * less saw every due item. A wake while it ran may tell of items it missed (written
         * after it ran, or due after its `now`): the claim that follows it (rewake) takes
         * them, and until then handoffs may go ahead of them — a claim's round trip. Counting
         * such wakes instead kept the handoff off for whole bursts: each claim ran while the
         * next batch's commit woke the engine (on PostgreSQL through the receiver's own
         * notification), so no answer ever counted. */
        e->backlog = full;
        claim_take(e, c);
        keys_after_claim(e, engine_now(e), full);
        if (c->next_due > 0)
            tick_arm(e, c->next_due - engine_now(e));
    }
    free(c->items);
    free(c->next_cursor);
    free(job->rooms);
    free(job);
    if (!e->stopping) {
        if (full || e->rewake) {
            e->rewake = false;
            claim_start(e);
            if (!e->claiming)
                e->backlog = true; /* asked for and no room: handoffs wait for it */
        }
        tick_arm(e, e->opt.poll_ms);
    }
    check_drained(e);
}

/* The rooms of the keys this engine knows (busy or recently busy), sorted. */
static engine_key_room *claim_rooms(engine *e, int64_t now, size_t *count)
{
    size_t n = 0;
    for (size_t b = 0; b < ENGINE_BUCKETS; b++)
        for (engine_key *k = e->buckets[b]; k; k = k->next)
            n++;
    engine_key_room *rooms = xcalloc(n ? n : 1, sizeof *rooms);
    n = 0;
    for (size_t b = 0; b < ENGINE_BUCKETS; b++)
        for (engine_key *k = e->buckets[b]; k; k = k->next) {
            int room = key_depth(e, k, now) - k->running - k->queued - k->reserved;
            if (room < 0)
                room = 0;
            k->asked = room > 0 ? room : -1;
            rooms[n++] = (engine_key_room){.key = k->name, .room = room};
        }
    if (n > 1)
        qsort(rooms, n, sizeof *rooms, room_cmp);
    *count = n;
    return rooms;
}

/* Submits a claim for the room there is (global and per key). */
static void claim_start(engine *e)
{
    if (e->stopping || e->opt.max_runs == 0)
        return;
    if (e->claiming) {
        e->rewake = true;
        return;
    }
    /* Outcomes not yet recorded still hold their leases: they count as held, and so does
     * the room reserved for items being written already leased. */
    int room = e->opt.max_held - e->running - e->queued - e->unrecorded - e->reserved;
    e->starved = room <= 0 && e->unrecorded > 0;
    if (room <= 0)
        return;
    if (room > ENGINE_CLAIM_MAX)
        room = ENGINE_CLAIM_MAX;
    if (records_expired_first(e, engine_now(e))) {
        tick_arm(e, ENGINE_RECORD_BACKOFF_MS);
        return;
    }
    claim_job *job = xcalloc(1, sizeof *job);
    job->e = e;
    engine_claim *c = &job->claim;
    c->owner = e->owner;
    c->now = engine_now(e);
    c->lease_until = c->now + e->opt.lease_ms;
    c->limit = room;
    c->per_key = e->opt.max_per_key;
    c->cursor = e->cursor;
    c->next_due = -1;
    job->rooms = claim_rooms(e, c->now, &c->room_count);
    c->rooms = job->rooms;
    e->claiming = true;
    e->rewake = false;
    submit(e, claim_work, claim_done, job);
}

/* ---- handoff: items written already leased, adopted without a claim ---- */

/* Room for items of k a claim could take now, less what is promised already. A claim under
 * way was asked while the store had no backlog (engine_reserve refuses otherwise), so it
 * finds little or nothing: it is not counted, and at worst this engine holds that claim's
 * few items beyond max_held for a while. */
static int handoff_room(engine *e, engine_key *k, int64_t now)
{
    int room = e->opt.max_held - e->running - e->queued - e->unrecorded - e->reserved;
    int key_room = key_depth(e, k, now) - k->running - k->queued - k->reserved;
    return room < key_room ? room : key_room;
}

int engine_reserve(engine *e, const char *key, int n, int64_t *lease_until)
{
    if (n <= 0 || e->stopping || e->opt.max_runs == 0 || e->backlog)
        return 0;
    int64_t now = engine_now(e);
    engine_key *k = key_find(e, key);
    int take = handoff_room(e, k, now);
    if (take > n)
        take = n;
    if (take <= 0)
        return 0;
    k->reserved += take;
    e->reserved += take;
    *lease_until = now + e->opt.lease_ms;
    return take;
}

/* Takes n of key's reservations back. */
static engine_key *reserved_take(engine *e, const char *key, int n)
{
    engine_key *k = key_find(e, key);
    if (n > k->reserved || n > e->reserved) {
        fprintf(stderr, "hookd: %s: more items given back than reserved\n", e->name);
        abort();
    }
    k->reserved -= n;
    e->reserved -= n;
    return k;
}

void engine_unreserve(engine *e, const char *key, int n)
{
    if (n <= 0)
        return;
    reserved_take(e, key, n);
    check_drained(e);
}

void engine_adopt(engine *e, const engine_claimed *items, size_t n, int64_t lease_until)
{
    engine_run *back = NULL;
    for (size_t i = 0; i < n; i++) {
        engine_key *k = reserved_take(e, items[i].key, 1);
        if (!e->stopping) {
            run_queue(e, &items[i], lease_until);
            key_pump(e, k); /* runs start now, in the order of the queue */
            continue;
        }
        /* Stopped meanwhile: durable and leased to us, so given back like a claimed item. */
        engine_run *r = run_new(e, &items[i]);
        r->next = back;
        back = r;
    }
    give_back(e, back);
    check_drained(e);
}

/* ---- public ---- */

void engine_node_id_clean(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (; in && *in && n + 1 < outlen && n < 128; in++) {
        char c = *in;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == ' ';
        out[n++] = ok ? c : '-';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, outlen, "hookd");
}

/* Fills in the defaults and the owner name. */
static void engine_setup(engine *e, const engine_options *o)
{
    e->opt = *o;
    snprintf(e->name, sizeof e->name, "%s", o->name ? o->name : "engine");
    e->opt.name = e->name;
    engine_node_id_clean(o->node_id, e->node_id, sizeof e->node_id);
    e->opt.node_id = e->node_id;
    snprintf(e->owner, sizeof e->owner, "%s/%08x", e->node_id, (unsigned)arc4random());
    if (!e->opt.clock)
        e->opt.clock = loop_now_ms;
    if (!e->opt.jitter)
        e->opt.jitter = retry_jitter;
    if (!e->opt.submit)
        e->opt.submit = default_submit;
    if (e->opt.max_runs < 0)
        e->opt.max_runs = 0;
    if (e->opt.max_per_key <= 0)
        e->opt.max_per_key = 1;
    if (e->opt.max_held <= 0)
        e->opt.max_held = e->opt.max_runs * ENGINE_AHEAD;
    if (e->opt.max_attempts <= 0)
        e->opt.max_attempts = 1;
    if (e->opt.poll_ms <= 0)
        e->opt.poll_ms = 1000;
    e->to_record_tail = &e->to_record;
}

engine *engine_new(struct event_base *base, const engine_options *options,
                   const engine_store *store, const engine_runner *runner)
{
    engine *e = xcalloc(1, sizeof *e);
    e->base = base;
    e->store = *store;
    e->runner = *runner;
    engine_setup(e, options);
    e->tick = evtimer_new(base, tick_cb, e);
    e->pump = event_new(base, -1, 0, pump_cb, e);
    e->flush = event_new(base, -1, 0, flush_cb, e);
    if (!e->tick || !e->pump || !e->flush) {
        fputs("hookd: cannot create a timer\n", stderr);
        abort();
    }
    char prefix[168];
    snprintf(prefix, sizeof prefix, "%s/", e->node_id);
    release_submit(e, prefix);
    e->backlog = true; /* what the release frees, and what was due already */
    if (e->opt.max_runs > 0)
        tick_arm(e, 0);
    return e;
}

const char *engine_owner(const engine *e)
{
    return e->owner;
}

void engine_wake(engine *e)
{
    e->backlog = true;
    records_flush(e);
    claim_start(e);
}

void engine_notified(engine *e)
{
    records_flush(e);
    claim_start(e);
    if (!e->claiming)
        e->backlog = true; /* no room to claim: handoffs wait, the next free slot claims */
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    check_drained(arg);
}

void engine_stop(engine *e, void (*drained)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = true;
    e->drained = drained;
    e->drained_arg = arg;
    evtimer_del(e->tick);
    e->tick_at = 0;
    engine_run *list = NULL;
    for (size_t b = 0; b < ENGINE_BUCKETS; b++)
        for (engine_key *k = e->buckets[b]; k; k = k->next) {
            while (k->head) {
                engine_run *r = k->head;
                k->head = r->next;
                r->next = list;
                list = r;
            }
            k->tail = NULL;
            e->queued -= k->queued;
            k->queued = 0;
        }
    give_back(e, list);
    records_flush(e); /* re-arms the tick for outcomes waiting to be retried */
    if (!e->later)
        e->later = evtimer_new(e->base, later_cb, e);
    struct timeval zero = {0, 0};
    evtimer_add(e->later, &zero);
}

size_t engine_running(const engine *e)
{
    return (size_t)e->running;
}

bool engine_idle(const engine *e)
{
    return e->running == 0 && !e->claiming && e->recording == 0 && !e->to_record &&
           e->unclaiming == 0 && e->releasing == 0 && !e->extending && e->reserved == 0 &&
           (!e->stopping || e->drained_called);
}

static void runs_free(engine_run *r, engine *e, bool cancel)
{
    while (r) {
        engine_run *next = cancel ? r->next_run : r->next;
        if (cancel && e->runner.cancel)
            e->runner.cancel(e->runner.ctx, r->payload);
        run_free(e, r);
        r = next;
    }
}

void engine_free(engine *e)
{
    if (!e)
        return;
    runs_free(e->runs, e, true);
    runs_free(e->to_record, e, false);
    for (size_t b = 0; b < ENGINE_BUCKETS; b++) {
        engine_key *k = e->buckets[b];
        while (k) {
            engine_key *next = k->next;
            runs_free(k->head, e, false);
            free(k->name);
            free(k);
            k = next;
        }
    }
    event_free(e->tick);
    event_free(e->pump);
    event_free(e->flush);
    if (e->later)
        event_free(e->later);
    free(e->cursor);
    free(e);
}
