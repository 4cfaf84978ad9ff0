/*
 * test_engine.c — the work engine against a fake clock, a fake store and a fake runner.
 *
 * The fake store holds items in an array; its functions run when the test flushes the
 * fake submit queue (as the store thread would, later), so a test sees exactly what waits
 * for the store and what does not. The fake runner starts nothing: the test ends runs
 * with finish(). The loop is a real event_base turned without blocking (the engine starts
 * waiting runs on the next loop turn); time is the fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine.h"
#include "hookd.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64
#define MAX_JOBS 256

typedef struct fake_item {
    char id[16];
    char key[16];
    int64_t round; /* runs made in its round */
    int64_t due;   /* wall ms */
    bool leased;
    char owner[200];     /* lease owner */
    char state;          /* 'p' pending, 'd' done, 'f' failed */
    int runs;            /* times the runner started it */
    int records;         /* outcomes written */
    int record_job;      /* the job number of its last written outcome */
    engine_outcome last; /* its last outcome written */
    engine_run *run;     /* while running */
    bool claimed_once;
    int64_t lease_until; /* wall ms, set by claims and extensions */
} fake_item;

typedef struct fake_job {
    db_work_fn work;
    db_done_fn done;
    void *arg;
} fake_job;

static struct {
    fake_item items[MAX_ITEMS];
    size_t count;
    fake_job jobs[MAX_JOBS];
    size_t job_count;
    int job_number;     /* the job being run */
    int refuse_records; /* records to refuse with HOOKD_ESTORE */
    int claims;         /* claim jobs run */
    int last_claim_limit;
    int last_room;         /* room the last claim gave key "A" */
    int max_room;          /* the most any claim gave key "A" */
    char last_cursor[16];  /* the cursor the last claim was given, "" for none */
    int unclaimed;         /* items given back */
    char releases[4][200]; /* prefixes released, in order */
    int release_count;
    int frees;                /* payloads freed */
    int running, max_running; /* runs under way, and the most at once */
    char events[32];          /* 'c' claim, 'r' record, 'u' unclaim, 'l' release */
    size_t event_count;
    int drained;
    bool with_extend;    /* start_engine gives the engine fake_extend */
    bool refuse_extends; /* fake_extend answers HOOKD_ESTORE */
    bool expire;         /* a claim takes items whose lease ended */
    int extends;         /* extension jobs that succeeded */
    bool handoff;        /* start_engine sets engine_options.handoff */
    int max_recording;   /* start_engine sets engine_options.max_recording */
} fake;

static int64_t fake_now;
static struct event_base *base;

static int64_t fake_clock(void)
{
    return fake_now;
}

static double fake_jitter(void)
{
    return 0.5; /* the listed delay exactly */
}

static void fake_event(char c)
{
    if (fake.event_count < sizeof fake.events - 1)
        fake.events[fake.event_count++] = c;
}

static void fake_submit(void *ctx, db_work_fn work, db_done_fn done, void *arg)
{
    (void)ctx;
    assert_true(fake.job_count < MAX_JOBS);
    fake.jobs[fake.job_count++] = (fake_job){work, done, arg};
}

/* Runs the queued store jobs (and those their callbacks queue) until none is left. */
static void store_flush(void)
{
    while (fake.job_count > 0) {
        fake_job j = fake.jobs[0];
        memmove(fake.jobs, fake.jobs + 1, (fake.job_count - 1) * sizeof *fake.jobs);
        fake.job_count--;
        fake.job_number++;
        int rc = j.work(NULL, j.arg);
        j.done(j.arg, rc);
    }
}

/* A few loop turns without blocking: deferred starts and due timers run. */
static void turn(void)
{
    for (int i = 0; i < 3; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static void settle(void)
{
    for (int i = 0; i < 4; i++) {
        turn();
        store_flush();
    }
}

static fake_item *add_item(const char *key, int64_t round)
{
    fake_item *it = &fake.items[fake.count];
    snprintf(it->id, sizeof it->id, "w%zu", fake.count);
    snprintf(it->key, sizeof it->key, "%s", key);
    it->round = round;
    it->due = fake_now;
    it->state = 'p';
    fake.count++;
    return it;
}

/* ---- the fake store ---- */

static int fake_claim(db *conn, void *ctx, engine_claim *c)
{
    (void)conn;
    (void)ctx;
    fake_event('c');
    fake.claims++;
    fake.last_claim_limit = c->limit;
    fake.last_room = engine_claim_room(c, "A");
    if (fake.last_room > fake.max_room)
        fake.max_room = fake.last_room;
    c->items = calloc((size_t)c->limit, sizeof *c->items);
    for (size_t i = 0; i < fake.count && c->count < (size_t)c->limit; i++) {
        fake_item *it = &fake.items[i];
        bool held = it->leased && !(fake.expire && it->lease_until <= c->now);
        if (it->state != 'p' || held || it->due > c->now)
            continue;
        int room = engine_claim_room(c, it->key);
        int taken = 0;
        for (size_t k = 0; k < c->count; k++)
            taken += strcmp(c->items[k].key, it->key) == 0;
        if (taken >= room)
            continue;
        it->leased = true;
        it->lease_until = c->lease_until;
        snprintf(it->owner, sizeof it->owner, "%s", c->owner);
        c->items[c->count++] = (engine_claimed){it, it->key, it->id, it->round};
    }
    c->more = c->count == (size_t)c->limit;
    snprintf(fake.last_cursor, sizeof fake.last_cursor, "%s", c->cursor ? c->cursor : "");
    if (c->more) /* a round robin resumes after the last item taken */
        c->next_cursor = strdup(c->items[c->count - 1].id);
    return 0;
}

static int fake_record(db *conn, void *ctx, void *payload, const engine_outcome *o)
{
    (void)conn;
    (void)ctx;
    fake_item *it = payload;
    fake_event('r');
    if (fake.refuse_records > 0) {
        fake.refuse_records--;
        return HOOKD_ESTORE;
    }
    if (!it->leased || strcmp(it->owner, o->owner) != 0)
        return HOOKD_ELEASE;
    it->leased = false;
    it->records++;
    it->record_job = fake.job_number;
    it->last = *o;
    it->state = o->state == ENGINE_DONE ? 'd' : o->state == ENGINE_FAILED ? 'f' : 'p';
    it->round = o->state == ENGINE_RETRY ? it->round + 1 : it->round;
    it->due = o->next_attempt_at;
    return 0;
}

static int fake_unclaim(db *conn, void *ctx, void *const *payloads, size_t count)
{
    (void)conn;
    (void)ctx;
    fake_event('u');
    for (size_t i = 0; i < count; i++) {
        fake_item *it = payloads[i];
        it->leased = false;
        fake.unclaimed++;
    }
    return 0;
}

static int fake_release(db *conn, void *ctx, const char *prefix, int64_t *released)
{
    (void)conn;
    (void)ctx;
    fake_event('l');
    snprintf(fake.releases[fake.release_count++ % 4], sizeof fake.releases[0], "%s", prefix);
    *released = 0;
    for (size_t i = 0; i < fake.count; i++)
        if (fake.items[i].leased && strncmp(fake.items[i].owner, prefix, strlen(prefix)) == 0) {
            fake.items[i].leased = false;
            (*released)++;
        }
    return 0;
}

static int fake_extend(db *conn, void *ctx, const char *owner, int64_t until, int64_t *extended)
{
    (void)conn;
    (void)ctx;
    fake_event('x');
    *extended = 0;
    if (fake.refuse_extends)
        return HOOKD_ESTORE;
    fake.extends++;
    for (size_t i = 0; i < fake.count; i++)
        if (fake.items[i].leased && strcmp(fake.items[i].owner, owner) == 0) {
            fake.items[i].lease_until = until;
            (*extended)++;
        }
    return 0;
}

static void fake_payload_free(void *ctx, void *payload)
{
    (void)ctx;
    (void)payload;
    fake.frees++;
}

/* ---- the fake runner ---- */

static void fake_start(void *ctx, engine_run *run, void *payload)
{
    (void)ctx;
    fake_item *it = payload;
    it->run = run;
    it->runs++;
    fake.running++;
    if (fake.running > fake.max_running)
        fake.max_running = fake.running;
}

static void finish_with(fake_item *it, engine_result res)
{
    assert_non_null(it->run);
    engine_run *run = it->run;
    it->run = NULL;
    fake.running--;
    engine_finished(run, &res);
}

static void finish(fake_item *it, bool success)
{
    finish_with(it, (engine_result){.success = success, .retry_after_ms = -1});
}

static int running_of(const char *key)
{
    int n = 0;
    for (size_t i = 0; i < fake.count; i++)
        n += fake.items[i].run != NULL && strcmp(fake.items[i].key, key) == 0;
    return n;
}

/* Like the program: the store thread runs every queued job before the engine is freed. */
static void engine_done(engine *e)
{
    store_flush();
    engine_free(e);
}

static void drained_cb(void *arg)
{
    (void)arg;
    fake.drained++;
}

static engine *start_engine(int max_runs, int per_key, int max_held)
{
    engine_options o = {.name = "test",
                        .node_id = "node a/1",
                        .max_runs = max_runs,
                        .max_per_key = per_key,
                        .max_held = max_held,
                        .timeout_ms = 1000,
                        .lease_ms = 5000,
                        .poll_ms = 60000,
                        .max_attempts = 3,
                        .clock = fake_clock,
                        .jitter = fake_jitter,
                        .handoff = fake.handoff,
                        .max_recording = fake.max_recording,
                        .submit = fake_submit};
    assert_int_equal(retry_policy_parse(&o.retry, "10s,1m"), 0);
    engine_store store = {.claim_work = fake_claim,
                          .record_work = fake_record,
                          .unclaim_work = fake_unclaim,
                          .release_work = fake_release,
                          .extend_work = fake.with_extend ? fake_extend : NULL,
                          .payload_free = fake_payload_free};
    engine_runner runner = {.start = fake_start};
    return engine_new(base, &o, &store, &runner);
}

static int setup(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof fake);
    fake_now = 1700000000000;
    base = event_base_new();
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    event_base_free(base);
    return 0;
}

/* ---- tests ---- */

static void test_release_at_start_and_owner_name(void **state)
{
    (void)state;
    fake_item *old = add_item("A", 0);
    old->leased = true;
    snprintf(old->owner, sizeof old->owner, "node a-1/0badf00d"); /* a dead run of the node */
    fake_item *other = add_item("A", 0);
    other->leased = true;
    snprintf(other->owner, sizeof other->owner, "node a-10/12345678"); /* another node */
    engine *e = start_engine(4, 4, 0);
    const char *owner = engine_owner(e);
    assert_int_equal(strncmp(owner, "node a-1/", 9), 0);
    assert_int_equal(strlen(owner), 9 + 8);
    settle();
    assert_string_equal(fake.releases[0], "node a-1/");
    assert_int_equal(fake.events[0], 'l'); /* before the first claim */
    assert_int_equal(fake.events[1], 'c');
    assert_int_equal(old->runs, 1);   /* released, claimed again at once */
    assert_int_equal(other->runs, 0); /* another node's lease is left alone */
    engine_done(e);
}

static void test_global_and_per_key_caps(void **state)
{
    (void)state;
    for (int i = 0; i < 6; i++)
        add_item("A", 0);
    for (int i = 0; i < 6; i++)
        add_item("B", 0);
    engine *e = start_engine(3, 2, 0);
    settle();
    assert_int_equal(engine_running(e), 3);
    assert_true(running_of("A") <= 2);
    assert_true(running_of("B") <= 2);
    /* No pace known yet: nothing is claimed beyond each key's slots. */
    int held = 0;
    for (size_t i = 0; i < fake.count; i++)
        held += fake.items[i].leased;
    assert_int_equal(held, 4);
    /* Runs end one at a time: never more than 3 at once, never more than 2 of a key. */
    for (int round = 0; round < 40 && engine_running(e) > 0; round++) {
        for (size_t i = 0; i < fake.count; i++)
            if (fake.items[i].run) {
                fake_now += 1;
                finish(&fake.items[i], true);
                break;
            }
        settle();
        assert_true(engine_running(e) <= 3);
        assert_true(running_of("A") <= 2);
        assert_true(running_of("B") <= 2);
    }
    assert_int_equal(fake.max_running, 3);
    for (size_t i = 0; i < fake.count; i++) {
        assert_int_equal(fake.items[i].state, 'd');
        assert_int_equal(fake.items[i].runs, 1);
    }
    engine_done(e);
}

static int held_count(void)
{
    int held = 0;
    for (size_t i = 0; i < fake.count; i++)
        held += fake.items[i].leased;
    return held;
}

static void test_claim_ahead_follows_the_pace(void **state)
{
    (void)state;
    for (int i = 0; i < 40; i++)
        add_item("A", 0);
    engine *e = start_engine(2, 2, 16);
    settle();
    assert_int_equal(engine_running(e), 2);
    assert_int_equal(held_count(), 2); /* no pace yet: only the slots */
    /* Quick runs (2 ms): up to 8 rounds of the key's 2 slots are claimed ahead. */
    fake_now += 2;
    for (size_t i = 0; i < fake.count; i++)
        if (fake.items[i].run)
            finish(&fake.items[i], true);
    settle();
    assert_true(fake.max_room >= 14);
    assert_int_equal(held_count(), 16); /* --max-held, 8 rounds of 2 */
    assert_int_equal(engine_running(e), 2);
    engine_done(e);
}

/* Two quick runs (2 ms) of key "A" (2 slots): from then on it may hold 8 rounds of them. */
static void run_two_quickly(void)
{
    add_item("A", 0);
    add_item("A", 0);
    settle();
    fake_now += 2;
    for (size_t i = 0; i < fake.count; i++)
        if (fake.items[i].run)
            finish(&fake.items[i], true);
    settle();
}

/* A quick key idle for 2 s, then busy again: a claim while its first runs are under way
 * still gives it its 8 rounds (it is not taken for a key whose runs hang). */
static void test_key_back_from_idle_keeps_its_pace(void **state)
{
    (void)state;
    engine *e = start_engine(2, 2, 40);
    run_two_quickly();
    fake_now += 2000;
    for (int i = 0; i < 4; i++)
        add_item("A", 0);
    engine_wake(e);
    settle();
    assert_int_equal(engine_running(e), 2); /* and 2 waiting */
    for (int i = 0; i < 20; i++)
        add_item("A", 0);
    engine_wake(e);
    settle();
    assert_int_equal(fake.last_room, 12); /* 16 less the 4 it holds */
    assert_int_equal(held_count(), 16);
    engine_done(e);
}

/* A claim that stopped at the engine's limit (max_held) may have left the key more: when a
 * run of it ends, the freed room is claimed again, without waiting for the key to empty. */
static void test_full_claim_claims_again_as_room_frees(void **state)
{
    (void)state;
    engine *e = start_engine(2, 2, 6);
    run_two_quickly();
    for (int i = 0; i < 20; i++)
        add_item("A", 0);
    engine_wake(e);
    settle();
    assert_int_equal(held_count(), 6); /* max_held: the key itself had room for 16 */
    int claims = fake.claims;
    fake_now += 2;
    for (size_t i = 0; i < fake.count; i++)
        if (fake.items[i].run) {
            finish(&fake.items[i], true);
            break;
        }
    settle();
    assert_int_equal(fake.claims, claims + 1);
    assert_int_equal(held_count(), 6);
    engine_done(e);
}

static void test_slow_runs_claim_no_more_than_the_slots(void **state)
{
    (void)state;
    for (int i = 0; i < 10; i++)
        add_item("A", 0);
    engine *e = start_engine(2, 2, 16);
    settle();
    for (int k = 0; k < 3; k++) {
        fake_now += 200; /* slow runs: the 100 ms horizon holds no round ahead */
        for (size_t i = 0; i < fake.count; i++)
            if (fake.items[i].run)
                finish(&fake.items[i], true);
        settle();
        assert_int_equal(held_count(), 2);
    }
    assert_int_equal(fake.max_room, 2);
    engine_done(e);
}

static void test_retry_schedule(void **state)
{
    (void)state;
    fake_item *r0 = add_item("A", 0);
    fake_item *r1 = add_item("B", 1);
    fake_item *r2 = add_item("C", 2);
    fake_item *ra = add_item("D", 0);
    fake_item *gone = add_item("E", 0);
    engine *e = start_engine(8, 1, 0);
    settle();
    int64_t end = fake_now + 7;
    fake_now = end;
    finish(r0, false);
    finish(r1, false);
    finish(r2, false);
    finish_with(ra, (engine_result){.success = false, .retry_after_ms = 30000});
    finish_with(gone, (engine_result){.success = false, .final = true, .retry_after_ms = -1});
    settle();
    assert_int_equal(r0->last.state, ENGINE_RETRY);
    assert_int_equal(r0->last.next_attempt_at, end + 10000); /* before attempt 2: 10s */
    assert_int_equal(r0->last.attempt, 1);
    assert_int_equal(r1->last.state, ENGINE_RETRY);
    assert_int_equal(r1->last.next_attempt_at, end + 60000); /* before attempt 3: 1m */
    assert_int_equal(r2->last.state, ENGINE_FAILED);         /* 3 of --max-attempts 3 */
    assert_int_equal(ra->last.next_attempt_at, end + 30000); /* Retry-After lengthens */
    assert_int_equal(gone->last.state, ENGINE_FAILED);       /* no retry after a final no */
    assert_int_equal(r0->last.duration_ms, 7);
    engine_done(e);
}

static void test_slot_freed_before_the_outcome_is_recorded(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    engine *e = start_engine(1, 1, 0); /* one run at a time: one of the two waits */
    settle();
    fake_item *first = a->runs ? a : b;
    fake_item *waiting = a->runs ? b : a;
    fake_now += 1;
    finish(first, true);
    turn(); /* no store job runs */
    assert_int_equal(first->records, 0);
    assert_int_equal(waiting->runs, 1); /* started without a store round trip */
    store_flush();
    assert_int_equal(first->records, 1);
    engine_done(e);
}

static void test_unrecorded_outcomes_bound_new_runs(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    engine_options o = {.name = "test",
                        .node_id = "n",
                        .max_runs = 1,
                        .max_per_key = 1,
                        .max_unrecorded = 1,
                        .timeout_ms = 1000,
                        .lease_ms = 5000,
                        .poll_ms = 60000,
                        .max_attempts = 3,
                        .clock = fake_clock,
                        .jitter = fake_jitter,
                        .submit = fake_submit};
    assert_int_equal(retry_policy_parse(&o.retry, "10s"), 0);
    engine_store store = {.claim_work = fake_claim,
                          .record_work = fake_record,
                          .unclaim_work = fake_unclaim,
                          .release_work = fake_release,
                          .payload_free = fake_payload_free};
    engine_runner runner = {.start = fake_start};
    engine *e = engine_new(base, &o, &store, &runner);
    settle();
    fake_item *first = a->runs ? a : b;
    fake_item *waiting = a->runs ? b : a;
    finish(first, true);
    turn();
    assert_int_equal(waiting->runs, 0); /* one outcome waits for the store: no new run */
    store_flush();
    turn();
    assert_int_equal(first->records, 1);
    assert_int_equal(waiting->runs, 1);
    engine_done(e);
}

static void test_outcomes_batched(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    fake_item *c = add_item("C", 0);
    fake_item *d = add_item("D", 0);
    engine *e = start_engine(4, 1, 0);
    settle();
    assert_int_equal(engine_running(e), 4);
    finish(a, true); /* three runs end in one loop turn: one record job */
    finish(b, true);
    finish(c, false);
    turn();
    finish(d, true); /* the next turn's outcome: the next job */
    settle();
    assert_int_equal(a->records + b->records + c->records + d->records, 4);
    assert_int_equal(a->record_job, b->record_job);
    assert_int_equal(b->record_job, c->record_job);
    assert_int_not_equal(c->record_job, d->record_job);
    engine_done(e);
}

/* With max_recording 1, outcomes that end while a record job is with the store wait for
 * it, and go together in the next one. */
static void test_record_jobs_bounded(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    fake_item *c = add_item("C", 0);
    fake.max_recording = 1;
    engine *e = start_engine(3, 1, 0);
    settle();
    assert_int_equal(engine_running(e), 3);
    finish(a, true);
    turn();          /* a's record job is with the store … */
    finish(b, true); /* … so two more turns' outcomes wait for it */
    turn();
    finish(c, true);
    turn();
    settle();
    assert_int_equal(a->records + b->records + c->records, 3);
    assert_int_not_equal(a->record_job, b->record_job);
    assert_int_equal(b->record_job, c->record_job); /* one job for both */
    assert_true(engine_idle(e));
    engine_done(e);
}

static void test_refused_outcome_is_retried_not_rerun(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    engine *e = start_engine(1, 1, 0);
    settle();
    fake.refuse_records = 2;
    fake_now += 5;
    finish(a, true);
    settle();
    assert_int_equal(a->records, 0); /* refused: kept in memory */
    assert_true(a->leased);
    fake_now += 250;
    engine_wake(e);
    settle();
    assert_int_equal(a->records, 0); /* refused again: the backoff doubles */
    fake_now += 250;
    engine_wake(e);
    settle();
    assert_int_equal(a->records, 0);
    fake_now += 250;
    engine_wake(e);
    settle();
    assert_int_equal(a->records, 1);
    assert_int_equal(a->state, 'd');
    assert_int_equal(a->runs, 1); /* never run again */
    engine_done(e);
}

static void test_refused_until_the_lease_ends_is_dropped(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    engine *e = start_engine(1, 1, 0);
    settle();
    fake.refuse_records = 1000;
    finish(a, true);
    for (int i = 0; i < 12; i++) {
        fake_now += 1000;
        engine_wake(e);
        settle();
    }
    assert_int_equal(a->records, 0);
    assert_int_equal(fake.frees, 1); /* given up: its lease runs out, it will run again */
    assert_true(a->leased);
    engine_done(e);
}

/* Issue 12: a store refusing writes for longer than a lease. The outcome is kept, the lease
 * extended meanwhile, and once the store takes writes the run is recorded: never run twice. */
static void test_refused_outcome_keeps_its_lease_extended(void **state)
{
    (void)state;
    fake.with_extend = true;
    fake.expire = true;
    fake_item *a = add_item("A", 0);
    engine *e = start_engine(1, 1, 0);
    settle();
    assert_int_equal(a->runs, 1);
    fake.refuse_records = 1000;
    finish(a, true);
    for (int i = 0; i < 30; i++) { /* 30 s: six leases */
        fake_now += 1000;
        engine_wake(e);
        settle();
    }
    assert_int_equal(a->records, 0);
    assert_int_equal(fake.frees, 0); /* kept, not given up */
    assert_true(fake.extends >= 6);
    assert_true(a->leased);
    assert_true(a->lease_until > fake_now); /* nobody may claim it */
    assert_int_equal(a->runs, 1);
    fake.refuse_records = 0;
    fake_now += 5000;
    engine_wake(e);
    settle();
    assert_int_equal(a->records, 1);
    assert_int_equal(a->state, 'd');
    assert_int_equal(a->runs, 1);
    engine_done(e);
}

/* Extensions refused too, the lease runs out: the outcome is written before the engine's
 * next claim could take the item again. */
static void test_expired_outcome_is_written_before_the_next_claim(void **state)
{
    (void)state;
    fake.with_extend = true;
    fake.refuse_extends = true;
    fake.expire = true;
    fake_item *a = add_item("A", 0);
    engine *e = start_engine(1, 1, 0);
    settle();
    fake.refuse_records = 3;
    finish(a, true);
    settle();
    fake_now += 6000; /* past the 5 s lease */
    for (int i = 0; i < 4; i++) {
        engine_wake(e);
        settle();
        fake_now += 100;
    }
    assert_int_equal(a->records, 1);
    assert_int_equal(a->state, 'd');
    assert_int_equal(a->runs, 1);
    assert_int_equal(fake.extends, 0);
    engine_done(e);
}

static void test_lease_margin_drops_items_that_waited_too_long(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    engine *e = start_engine(1, 1, 0); /* one run at a time, two keys: b waits */
    settle();
    fake_item *first = a->runs ? a : b;
    fake_item *waiting = a->runs ? b : a;
    assert_int_equal(waiting->runs, 0);
    assert_true(waiting->leased);
    /* lease 5 s, timeout 1 s, margin 1 s: with 1.5 s left it must not start. */
    fake_now += 3500;
    int frees = fake.frees;
    finish(first, true);
    turn();
    assert_int_equal(waiting->runs, 0);
    assert_int_equal(fake.frees, frees + 1);
    assert_true(waiting->leased); /* left for its lease to expire */
    engine_done(e);
}

static void test_stop_gives_back_then_releases(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    engine *e = start_engine(1, 1, 0);
    settle();
    fake_item *running = a->runs ? a : b;
    fake_item *waiting = a->runs ? b : a;
    fake.event_count = 0;
    engine_stop(e, drained_cb, NULL);
    settle();
    assert_false(waiting->leased); /* given back at once */
    assert_int_equal(fake.unclaimed, 1);
    assert_int_equal(fake.drained, 0); /* the run under way goes on */
    assert_false(engine_idle(e));
    finish(running, true);
    settle();
    assert_int_equal(running->records, 1);
    assert_int_equal(fake.drained, 1);
    assert_true(engine_idle(e));
    assert_string_equal(fake.events, "url"); /* give back, record, release */
    assert_string_equal(fake.releases[1], engine_owner(e));
    assert_int_equal(waiting->runs, 0);
    engine_done(e);
}

static void test_claim_cursor_is_kept_between_claims(void **state)
{
    (void)state;
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("B", 0);
    engine *e = start_engine(1, 1, 1); /* one item per claim: each claim is full */
    settle();
    assert_string_equal(fake.last_cursor, "");
    fake_item *first = a->runs ? a : b;
    fake_item *second = a->runs ? b : a;
    finish(first, true);
    settle();
    assert_string_equal(fake.last_cursor, first->id); /* resumed where the full one stopped */
    finish(second, true);
    settle();
    assert_string_equal(fake.last_cursor, second->id);
    engine_wake(e); /* a claim that takes nothing leaves the cursor alone */
    settle();
    engine_wake(e);
    settle();
    assert_string_equal(fake.last_cursor, second->id);
    engine_done(e);
}

/* What a side does with reserved room: writes the item already leased to the engine's
 * owner (here: into the fake store), then hands it over once that write "committed". */
static fake_item *handoff_write(engine *e, const char *key, int64_t lease_until)
{
    fake_item *it = add_item(key, 0);
    it->leased = true;
    it->lease_until = lease_until;
    snprintf(it->owner, sizeof it->owner, "%s", engine_owner(e));
    return it;
}

static void handoff_adopt(engine *e, fake_item *it, int64_t lease_until)
{
    engine_claimed c = {it, it->key, it->id, it->round};
    engine_adopt(e, &c, 1, lease_until);
}

static void test_handoff_runs_without_a_claim(void **state)
{
    (void)state;
    engine *e = start_engine(2, 2, 4);
    settle(); /* the first claim finds nothing: no backlog */
    int claims = fake.claims;
    int64_t until = 0;
    assert_int_equal(engine_reserve(e, "A", 5, &until), 2); /* the key's 2 slots, no pace */
    assert_int_equal(until, fake_now + 5000);               /* a claim's lease */
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0); /* all promised */
    fake_item *a = handoff_write(e, "A", until);
    fake_item *b = handoff_write(e, "A", until);
    assert_int_equal(a->runs, 0); /* reserved is not run: not yet durable */
    handoff_adopt(e, a, until);
    handoff_adopt(e, b, until);
    assert_int_equal(a->runs, 1); /* run at once after the commit, without a claim */
    assert_int_equal(b->runs, 1);
    finish(a, true);
    finish(b, true);
    settle();
    assert_int_equal(a->records, 1); /* recorded under the handed-off lease */
    assert_int_equal(b->records, 1);
    assert_int_equal(fake.claims, claims + 1); /* only the claim of a key gone idle */
    assert_int_equal(a->state, 'd');
    engine_done(e);
}

static void test_handoff_engine_claims_only_for_a_backlog(void **state)
{
    (void)state;
    fake.handoff = true;
    engine *e = start_engine(2, 2, 4);
    settle();
    int claims = fake.claims;
    for (int round = 0; round < 3; round++) {
        int64_t until = 0;
        assert_int_equal(engine_reserve(e, "A", 1, &until), 1);
        fake_item *a = handoff_write(e, "A", until);
        handoff_adopt(e, a, until);
        fake_now += 1;
        finish(a, true);
        settle();
        assert_int_equal(a->records, 1);
    }
    assert_int_equal(fake.claims, claims); /* the key went idle 3 times: no claim for it */
    add_item("A", 0);                      /* a row saved free (no room was reserved) … */
    engine_wake(e);                        /* … reported after its commit */
    settle();
    assert_int_equal(fake.claims, claims + 1);
    assert_int_equal(fake.items[fake.count - 1].runs, 1);
    engine_done(e);
}

static void test_handoff_waits_while_a_claim_fills_its_room(void **state)
{
    (void)state;
    fake.handoff = true;
    engine *e = start_engine(2, 2, 4);
    fake_item *a = add_item("A", 0);
    fake_item *b = add_item("A", 0);
    settle();
    fake_now += 1; /* quick runs: the key may hold 8 rounds of its 2 slots */
    finish(a, true);
    finish(b, true);
    settle();
    for (int i = 0; i < 6; i++)
        add_item("A", 0);
    engine_notified(e); /* e.g. another node wrote them */
    settle();
    assert_int_equal(held_count(), 4); /* the claim filled max_held: more are due */
    finish(&fake.items[2], true);
    settle(); /* its outcome recorded: the room it freed goes to the older due ones first */
    assert_int_equal(held_count(), 4);
    int64_t until = 0;
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0); /* no room promised to new ones */
    engine_done(e);
}

static void test_handoff_room_is_counted_by_claims(void **state)
{
    (void)state;
    engine *e = start_engine(4, 4, 8);
    settle();
    int64_t until = 0;
    assert_int_equal(engine_reserve(e, "A", 3, &until), 3);
    for (int i = 0; i < 6; i++)
        add_item("A", 0); /* written by another node, or without a lease */
    engine_wake(e);
    settle();
    assert_int_equal(fake.last_room, 1);        /* 4 slots, 3 promised */
    assert_int_equal(fake.last_claim_limit, 5); /* max_held 8, 3 promised */
    assert_int_equal(engine_running(e), 1);
    engine_unreserve(e, "A", 3); /* e.g. duplicates: nothing written */
    engine_wake(e);
    settle();
    assert_int_equal(engine_running(e), 4);
    engine_done(e);
}

static void test_handoff_waits_for_the_backlog(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        add_item("A", 0);
    engine *e = start_engine(1, 1, 0);
    int64_t until = 0;
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0); /* before the first claim */
    settle();
    /* The claim filled its room (1 slot): more may be due in the store, and those go first. */
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0);
    for (int round = 0; round < 4; round++) {
        fake_now += 200;
        for (size_t i = 0; i < fake.count; i++)
            if (fake.items[i].run)
                finish(&fake.items[i], true);
        settle();
    }
    assert_int_equal(fake.items[2].records, 1);
    assert_int_equal(engine_reserve(e, "A", 1, &until), 1); /* a claim found nothing more */
    engine_wake(e);                                         /* e.g. a row written unleased */
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0);
    engine_unreserve(e, "A", 1);
    engine_done(e);
}

static void test_stop_waits_for_reservations(void **state)
{
    (void)state;
    engine *e = start_engine(2, 2, 0);
    settle();
    int64_t until = 0;
    assert_int_equal(engine_reserve(e, "A", 1, &until), 1);
    fake_item *a = handoff_write(e, "A", until);
    engine_stop(e, drained_cb, NULL);
    settle();
    assert_int_equal(fake.drained, 0); /* its write may still commit */
    assert_false(engine_idle(e));
    assert_int_equal(engine_reserve(e, "A", 1, &until), 0);
    handoff_adopt(e, a, until); /* committed after the stop: given back, not run */
    settle();
    assert_int_equal(a->runs, 0);
    assert_false(a->leased);
    assert_int_equal(fake.drained, 1);
    assert_true(engine_idle(e));
    engine_done(e);
}

static void test_node_id_clean(void **state)
{
    (void)state;
    char out[129];
    engine_node_id_clean("host 127.0.0.1:80/x", out, sizeof out);
    assert_string_equal(out, "host 127.0.0.1:80-x");
    engine_node_id_clean("", out, sizeof out);
    assert_string_equal(out, "hookd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_at_start_and_owner_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_global_and_per_key_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_ahead_follows_the_pace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_runs_claim_no_more_than_the_slots, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_back_from_idle_keeps_its_pace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_claim_claims_again_as_room_frees, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_freed_before_the_outcome_is_recorded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unrecorded_outcomes_bound_new_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcomes_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_jobs_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_outcome_is_retried_not_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_until_the_lease_ends_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_outcome_keeps_its_lease_extended, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_outcome_is_written_before_the_next_claim,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_margin_drops_items_that_waited_too_long, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_gives_back_then_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_cursor_is_kept_between_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_runs_without_a_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_engine_claims_only_for_a_backlog, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handoff_waits_while_a_claim_fills_its_room, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handoff_room_is_counted_by_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_waits_for_the_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_reservations, setup, teardown),
        cmocka_unit_test(test_node_id_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
