/*
 * test_receive_store.c — the admin API's functions of receive_store.c against a real
 * database (SQLite, and PostgreSQL when HOOKD_TEST_PG_URL is set): the page of webhooks with
 * its status filter and cursor, one webhook with its body and handler runs, a manual retry
 * (done → pending, a leased one refused, an unknown one not found), the pending count and
 * the purge — read from the plain structs the admin API turns into JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "hookd.h"
#include "receive_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1724288645123LL

static const char drop_receive[] =
    "DROP TABLE IF EXISTS receive_webhooks, receive_runs, receive_settings, receive_schema_version,"
    " receive_pg_schema_version CASCADE"; /* and the view over them */

static int setup_kind(void **state, enum db_kind kind)
{
    int rc = store_fixture_setup(state, kind, drop_receive);
    if (*state)
        assert_int_equal(receive_store_migrate(((store_fixture *)*state)->conn), 0);
    return rc;
}

static int setup_sqlite(void **state)
{
    return setup_kind(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return setup_kind(state, DB_POSTGRES);
}

static const char *const ids[] = {
    "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004",
    "00000000-0000-4000-8000-000000000005",
};

/* Saves the five webhooks, received a millisecond apart, then marks the first three done. */
static void save_five(store_fixture *f)
{
    static const char body[] = "{\"event\":\"events.created\",\"data\":{\"id\":1}}";
    for (size_t i = 0; i < 5; i++) {
        receive_store_insert_job job = {.id = ids[i],
                                        .timestamp = "2024-08-22T01:04:05Z",
                                        .signature = "sig",
                                        .event = "events.created",
                                        .body = body,
                                        .body_len = strlen(body),
                                        .received_at = NOW + (int64_t)i};
        assert_int_equal(receive_store_insert(f->conn, &job), 0);
        assert_false(job.duplicate);
    }
    store_fixture_exec(f, "UPDATE receive_webhooks SET status = 'done' WHERE id IN ("
                          "'00000000-0000-4000-8000-000000000001',"
                          "'00000000-0000-4000-8000-000000000002',"
                          "'00000000-0000-4000-8000-000000000003')");
}

static void test_list_filter_and_cursor(void **state)
{
    STORE_FIXTURE(state);
    save_five(f);
    receive_store_list_job job = {.status = "done", .limit = 2};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 2);
    assert_string_equal(job.items[0].id, ids[0]);
    assert_string_equal(job.items[0].status, "done");
    assert_int_equal(job.items[0].received_at, NOW);
    assert_int_equal(job.items[0].next_attempt_at, -1); /* only pending ones have one */
    assert_null(job.items[0].body);                     /* a list carries no bodies */
    assert_string_equal(job.next, ids[1]);
    char after[64];
    snprintf(after, sizeof after, "%s", job.next);
    receive_store_list_job_clear(&job);

    job = (receive_store_list_job){.status = "done", .limit = 2, .after = after};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 1);
    assert_string_equal(job.items[0].id, ids[2]);
    assert_null(job.next);
    receive_store_list_job_clear(&job);

    job = (receive_store_list_job){.status = "pending", .limit = 10};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 2);
    assert_int_equal(job.items[0].next_attempt_at, NOW + 3);
    assert_false(job.items[0].handling);
    receive_store_list_job_clear(&job);

    receive_store_count_job count = {0};
    assert_int_equal(receive_store_count_pending(f->conn, &count), 0);
    assert_int_equal(count.count, 2);
}

/* The panel's reading: newest first with its cursor (with and without a status), and the
 * counts by status. */
static void test_list_newest_first_and_counts(void **state)
{
    STORE_FIXTURE(state);
    save_five(f);
    store_fixture_exec(f, "UPDATE receive_webhooks SET status = 'failed' "
                          "WHERE id = '00000000-0000-4000-8000-000000000005'");
    receive_store_list_job job = {.limit = 3, .newest_first = true};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 3);
    assert_string_equal(job.items[0].id, ids[4]);
    assert_string_equal(job.items[2].id, ids[2]);
    assert_string_equal(job.next, ids[2]);
    receive_store_list_job_clear(&job);

    job = (receive_store_list_job){.limit = 3, .newest_first = true, .after = ids[2]};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 2);
    assert_string_equal(job.items[0].id, ids[1]);
    assert_string_equal(job.items[1].id, ids[0]);
    assert_null(job.next);
    receive_store_list_job_clear(&job);

    job = (receive_store_list_job){
        .status = "done", .limit = 1, .newest_first = true, .after = ids[2]};
    assert_int_equal(receive_store_list(f->conn, &job), 0);
    assert_int_equal(job.count, 1);
    assert_string_equal(job.items[0].id, ids[1]);
    assert_string_equal(job.next, ids[1]);
    receive_store_list_job_clear(&job);

    receive_store_status_count_job counts = {0};
    assert_int_equal(receive_store_count_by_status(f->conn, &counts), 0);
    assert_int_equal(counts.pending, 1);
    assert_int_equal(counts.done, 3);
    assert_int_equal(counts.failed, 1);
}

static void test_get_with_runs(void **state)
{
    STORE_FIXTURE(state);
    save_five(f);
    store_fixture_exec(f, "INSERT INTO receive_runs (webhook_id, n, started_at, duration_ms, "
                          "exit_status, http_status, error) VALUES "
                          "('00000000-0000-4000-8000-000000000001', 1, 1000, 30, 2, NULL, "
                          "'exit 2'), "
                          "('00000000-0000-4000-8000-000000000001', 2, 2000, 40, NULL, 204, "
                          "NULL)");
    receive_store_get_job job = {.id = ids[0]};
    assert_int_equal(receive_store_get(f->conn, &job), 0);
    assert_string_equal(job.webhook.event, "events.created");
    assert_string_equal(job.webhook.timestamp, "2024-08-22T01:04:05Z");
    assert_memory_equal(job.webhook.body, "{\"event\":\"events.created\"", 25);
    assert_int_equal(job.run_count, 2);
    assert_int_equal(job.runs[0].exit_status, 2);
    assert_int_equal(job.runs[0].http_status, -1);
    assert_string_equal(job.runs[0].rec.error, "exit 2");
    assert_int_equal(job.runs[1].exit_status, -1);
    assert_int_equal(job.runs[1].http_status, 204);
    assert_int_equal(job.runs[1].rec.started_at, 2000);
    assert_int_equal(job.runs[1].rec.duration_ms, 40);
    assert_null(job.runs[1].rec.error);
    receive_store_get_job_clear(&job);

    job = (receive_store_get_job){.id = "00000000-0000-4000-8000-00000000beef"};
    assert_int_equal(receive_store_get(f->conn, &job), HOOKD_ENOTFOUND);
    receive_store_get_job_clear(&job);
}

static void test_retry_and_purge(void **state)
{
    STORE_FIXTURE(state);
    save_five(f);
    receive_store_retry_job retry = {.id = ids[0], .now = NOW + 100};
    assert_int_equal(receive_store_retry(f->conn, &retry), 0);
    assert_true(retry.was_finished);
    receive_store_get_job got = {.id = ids[0]};
    assert_int_equal(receive_store_get(f->conn, &got), 0);
    assert_string_equal(got.webhook.status, "pending");
    assert_int_equal(got.webhook.next_attempt_at, NOW + 100);
    receive_store_get_job_clear(&got);

    /* a webhook a handler holds under lease is not touched */
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE receive_webhooks SET lease_until = %lld "
             "WHERE id = '00000000-0000-4000-8000-000000000004'",
             (long long)(NOW + 30000));
    store_fixture_exec(f, sql);
    retry = (receive_store_retry_job){.id = ids[3], .now = NOW + 100, .lease_ms = 60000};
    assert_int_equal(receive_store_retry(f->conn, &retry), HOOKD_ECONFLICT);

    /* … but a lease beyond two leases from now, left by a clock set back, holds nothing */
    store_fixture_exec(f, "UPDATE receive_webhooks SET lease_until = 9999999999999 "
                          "WHERE id = '00000000-0000-4000-8000-000000000004'");
    retry = (receive_store_retry_job){.id = ids[3], .now = NOW + 100, .lease_ms = 60000};
    assert_int_equal(receive_store_retry(f->conn, &retry), 0);
    assert_false(retry.was_finished);
    retry = (receive_store_retry_job){.id = "00000000-0000-4000-8000-00000000beef"};
    assert_int_equal(receive_store_retry(f->conn, &retry), HOOKD_ENOTFOUND);

    store_fixture_exec(f, "UPDATE receive_webhooks SET updated_at = 0 WHERE status = 'done'");
    retention_batch purge = {.before = 1, .limit = 100};
    assert_int_equal(receive_store_purge(f->conn, &purge), 0);
    assert_int_equal(purge.deleted, 2);
}

/* The admin token: generated once (only its digest stored), then read back. */
static void test_admin_token(void **state)
{
    STORE_FIXTURE(state);
    unsigned char first[32], again[32];
    char generated[128], none[128] = "";
    bool was_generated = false;
    assert_int_equal(
        receive_store_admin_token(f->conn, first, generated, sizeof generated, &was_generated), 0);
    assert_true(was_generated);
    assert_int_equal(strncmp(generated, "hk_", 3), 0);
    assert_int_equal(strlen(generated), 51);
    assert_int_equal(receive_store_admin_token(f->conn, again, none, sizeof none, &was_generated),
                     0);
    assert_false(was_generated);
    assert_string_equal(none, "");
    assert_memory_equal(first, again, sizeof first);
}

/* A handoff: a webhook saved already leased is not claimed by anyone while the lease holds;
 * its holder records its runs with the token (numbered by the caller), a stale token is
 * refused, and a retry's run after a claim is numbered from the claimed count. */
/* A batch's saves in one call (receive_store_insert_many, chunks of a power of two): a
 * webhook already stored, and an id twice in one batch, are duplicates; the first save
 * holding an id is the one written. Chunks of 4, 2 and 1 here: two new ids and two
 * duplicates, then duplicates only, then a new id (SQLite tells them apart by rowid,
 * PostgreSQL by RETURNING: receive_store_insert_chunk). */
static void test_insert_many_duplicates(void **state)
{
    STORE_FIXTURE(state);
    receive_store_insert_job first = {.id = ids[0],
                                      .timestamp = "2024-08-22T01:04:05Z",
                                      .signature = "earlier",
                                      .event = "events.created",
                                      .body = "{}",
                                      .body_len = 2,
                                      .received_at = NOW};
    assert_int_equal(receive_store_insert(f->conn, &first), 0);
    assert_false(first.duplicate);

    static const size_t order[] = {1, 0, 2, 1, 2, 0, 3};
    static const bool duplicate[] = {false, true, false, true, true, true, false};
    enum { N = sizeof order / sizeof order[0] };
    receive_store_insert_job in[N];
    char sigs[N][16];
    for (size_t i = 0; i < N; i++) {
        snprintf(sigs[i], sizeof sigs[i], "sig%zu", i);
        in[i] = (receive_store_insert_job){.id = ids[order[i]],
                                           .timestamp = "2024-08-22T01:04:06Z",
                                           .signature = sigs[i],
                                           .event = "events.created",
                                           .body = "{}",
                                           .body_len = 2,
                                           .received_at = NOW + 1};
    }
    receive_store_insert_many_job many = {.jobs = in, .count = N};
    assert_int_equal(receive_store_insert_many(f->conn, &many), 0);
    for (size_t i = 0; i < N; i++) {
        if (in[i].duplicate != duplicate[i])
            fail_msg("save %zu (%s): duplicate %d, expected %d", i, in[i].id, in[i].duplicate,
                     duplicate[i]);
    }
    assert_int_equal(store_fixture_count(f->conn, "SELECT COUNT(*) FROM receive_webhooks", NULL, 0),
                     4);
    /* each id's row is its first save's */
    static const char *const want[] = {"earlier", "sig0", "sig2", "sig6"};
    for (size_t k = 0; k < 4; k++) {
        db_param p[] = {DB_S(ids[k]), DB_S(want[k])};
        assert_int_equal(store_fixture_count(f->conn,
                                             "SELECT COUNT(*) FROM receive_webhooks"
                                             " WHERE id = $1 AND signature = $2",
                                             p, 2),
                         1);
    }

    /* a batch of new ids only */
    receive_store_insert_job fresh[2] = {
        {.id = ids[4],
         .timestamp = "t",
         .signature = "s",
         .event = "e",
         .body = "{}",
         .body_len = 2,
         .received_at = NOW + 2},
        {.id = "00000000-0000-4000-8000-000000000006",
         .timestamp = "t",
         .signature = "s",
         .event = "e",
         .body = "{}",
         .body_len = 2,
         .received_at = NOW + 2},
    };
    receive_store_insert_many_job two = {.jobs = fresh, .count = 2};
    assert_int_equal(receive_store_insert_many(f->conn, &two), 0);
    assert_false(fresh[0].duplicate);
    assert_false(fresh[1].duplicate);
    assert_int_equal(store_fixture_count(f->conn, "SELECT COUNT(*) FROM receive_webhooks", NULL, 0),
                     6);
}

static void test_leased_insert_and_record_run(void **state)
{
    STORE_FIXTURE(state);
    static const char body[] = "{\"event\":\"events.created\",\"data\":{\"id\":1}}";
    receive_store_insert_job in = {.id = ids[0],
                                   .timestamp = "2024-08-22T01:04:05Z",
                                   .signature = "sig",
                                   .event = "events.created",
                                   .body = body,
                                   .body_len = strlen(body),
                                   .received_at = NOW,
                                   .lease_owner = "node/0000abcd",
                                   .lease_until = NOW + 60000,
                                   .lease_token = "11111111-2222-4333-8444-555555555555"};
    receive_store_insert_many_job many = {.jobs = &in, .count = 1};
    assert_int_equal(receive_store_insert_many(f->conn, &many), 0);
    assert_false(in.duplicate);
    receive_store_claim_job claim = {
        .now = NOW + 1, .lease_ms = 30000, .owner = "other/1", .limit = 5};
    assert_int_equal(receive_store_claim(f->conn, &claim), 0);
    assert_int_equal(claim.count, 0); /* leased: nobody else takes it */
    receive_store_claim_job_clear(&claim);

    receive_store_run_job run = {.id = ids[0],
                                 .token = "00000000-0000-4000-8000-00000000dead",
                                 .n = 1,
                                 .started_at = NOW + 2,
                                 .duration_ms = 3,
                                 .exit_status = 1,
                                 .error = "exit status 1",
                                 .next_status = "pending",
                                 .next_attempt_at = NOW + 10,
                                 .now = NOW + 5};
    assert_int_equal(receive_store_record_run(f->conn, &run), HOOKD_ELEASE);
    run.token = in.lease_token;
    assert_int_equal(receive_store_record_run(f->conn, &run), 0);

    claim =
        (receive_store_claim_job){.now = NOW + 20, .lease_ms = 30000, .owner = "o/2", .limit = 5};
    assert_int_equal(receive_store_claim(f->conn, &claim), 0);
    assert_int_equal(claim.count, 1); /* the lease was given up with the outcome */
    assert_int_equal(claim.items[0].runs, 1);
    assert_int_equal(claim.items[0].attempts, 1);
    run = (receive_store_run_job){.id = ids[0],
                                  .token = claim.token,
                                  .n = claim.items[0].runs + 1,
                                  .started_at = NOW + 21,
                                  .duration_ms = 1,
                                  .exit_status = 0,
                                  .next_status = "done",
                                  .now = NOW + 22};
    assert_int_equal(receive_store_record_run(f->conn, &run), 0);
    receive_store_claim_job_clear(&claim);

    receive_store_get_job get = {.id = ids[0]};
    assert_int_equal(receive_store_get(f->conn, &get), 0);
    assert_string_equal(get.webhook.status, "done");
    assert_false(get.webhook.handling);
    assert_int_equal(get.webhook.runs, 2);
    assert_int_equal(get.run_count, 2);
    assert_int_equal(get.runs[0].rec.n, 1);
    assert_string_equal(get.runs[0].rec.error, "exit status 1");
    assert_int_equal(get.runs[1].rec.n, 2);
    assert_int_equal(get.runs[1].exit_status, 0);
    receive_store_get_job_clear(&get);
}

/* Runs recorded together (receive_store_record_runs, by chunks on PostgreSQL): each one
 * whose lease is held moves its webhook on and writes its run; a stale token is that run's
 * HOOKD_ELEASE alone, with nothing written for it. */
static void test_record_runs_together(void **state)
{
    STORE_FIXTURE(state);
    static const char token[] = "11111111-2222-4333-8444-555555555555";
    receive_store_insert_job in[3];
    receive_store_run_job runs[3];
    receive_store_run_job *jobs[3];
    for (size_t i = 0; i < 3; i++) {
        in[i] = (receive_store_insert_job){.id = ids[i],
                                           .timestamp = "2024-08-22T01:04:05Z",
                                           .signature = "sig",
                                           .event = "events.created",
                                           .body = "{}",
                                           .body_len = 2,
                                           .received_at = NOW,
                                           .lease_owner = "node/0000abcd",
                                           .lease_until = NOW + 60000};
        snprintf(in[i].lease_token, sizeof in[i].lease_token, "%s", token);
        runs[i] = (receive_store_run_job){.id = ids[i],
                                          .token = i == 1 ? "stale" : token,
                                          .n = 1,
                                          .started_at = NOW + 1,
                                          .duration_ms = 2,
                                          .exit_status = 0,
                                          .next_status = "done",
                                          .now = NOW + 3};
        jobs[i] = &runs[i];
    }
    receive_store_insert_many_job many = {.jobs = in, .count = 3};
    assert_int_equal(receive_store_insert_many(f->conn, &many), 0);
    int rcs[3] = {1, 1, 1};
    assert_int_equal(receive_store_record_runs(f->conn, jobs, rcs, 3), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], HOOKD_ELEASE);
    assert_int_equal(rcs[2], 0);
    for (size_t i = 0; i < 3; i++) {
        receive_store_get_job get = {.id = ids[i]};
        assert_int_equal(receive_store_get(f->conn, &get), 0);
        assert_string_equal(get.webhook.status, i == 1 ? "pending" : "done");
        assert_int_equal(get.webhook.runs, i == 1 ? 0 : 1);
        assert_int_equal(get.run_count, i == 1 ? 0 : 1);
        receive_store_get_job_clear(&get);
    }
}

/* Records run n of ids[0] under a fresh claim (receive_store_record_runs, the handler's
 * path): the webhook stays pending until the last run. */
static void record_nth_run(store_fixture *f, int64_t n, bool last)
{
    receive_store_claim_job claim = {
        .now = NOW + 100 * n, .lease_ms = 30000, .owner = "node/1", .limit = 5};
    assert_int_equal(receive_store_claim(f->conn, &claim), 0);
    assert_int_equal(claim.count, 1);
    assert_int_equal(claim.items[0].runs, n - 1);
    char error[32];
    snprintf(error, sizeof error, "run %lld", (long long)n);
    receive_store_run_job run = {.id = ids[0],
                                 .token = claim.token,
                                 .n = n,
                                 .started_at = NOW + 100 * n + 1,
                                 .duration_ms = n,
                                 .http_status = last ? 204 : 500,
                                 .exit_status = -1,
                                 .error = last ? NULL : error,
                                 .next_status = last ? "done" : "pending",
                                 .next_attempt_at = NOW + 100 * n + 50,
                                 .now = NOW + 100 * n + 2};
    receive_store_run_job stale = run;
    stale.token = "stale";
    receive_store_run_job *jobs[] = {&stale, &run};
    int rcs[2] = {1, 1};
    assert_int_equal(receive_store_record_runs(f->conn, jobs, rcs, 2), 0);
    assert_int_equal(rcs[0], HOOKD_ELEASE); /* a lost lease moves nothing */
    assert_int_equal(rcs[1], 0);
    receive_store_claim_job_clear(&claim);
}

/* Reads ids[0]'s runs and checks they are 1..count, each once, in order, with their own
 * values. */
static void assert_runs(store_fixture *f, size_t count, const char *status)
{
    receive_store_get_job get = {.id = ids[0]};
    assert_int_equal(receive_store_get(f->conn, &get), 0);
    assert_string_equal(get.webhook.status, status);
    assert_int_equal(get.webhook.runs, (int64_t)count);
    assert_int_equal(get.run_count, count);
    for (size_t i = 0; i < count; i++) {
        const receive_store_run *r = &get.runs[i];
        assert_int_equal(r->rec.n, (int64_t)i + 1);
        assert_int_equal(r->rec.duration_ms, (int64_t)i + 1);
        assert_int_equal(r->exit_status, -1);
        if (i + 1 < count || strcmp(status, "done") != 0) {
            char error[32];
            snprintf(error, sizeof error, "run %zu", i + 1);
            assert_string_equal(r->rec.error, error);
            assert_int_equal(r->http_status, 500);
        } else {
            assert_null(r->rec.error);
            assert_int_equal(r->http_status, 204);
        }
    }
    receive_store_get_job_clear(&get);
}

/* A webhook run three times (the latest run lives in its row and moves to receive_runs when
 * the next one comes): the history shows each run once, in order; the purge takes them all. */
static void test_runs_history(void **state)
{
    STORE_FIXTURE(state);
    receive_store_insert_job in = {.id = ids[0],
                                   .timestamp = "2024-08-22T01:04:05Z",
                                   .signature = "sig",
                                   .event = "events.created",
                                   .body = "{}",
                                   .body_len = 2,
                                   .received_at = NOW};
    assert_int_equal(receive_store_insert(f->conn, &in), 0);
    record_nth_run(f, 1, false);
    assert_runs(f, 1, "pending");
    record_nth_run(f, 2, false);
    assert_runs(f, 2, "pending");
    record_nth_run(f, 3, true);
    assert_runs(f, 3, "done");

    retention_batch batch = {.before = NOW + 1000, .limit = 10};
    assert_int_equal(receive_store_purge(f->conn, &batch), 0);
    receive_store_get_job get = {.id = ids[0]};
    assert_int_equal(receive_store_get(f->conn, &get), HOOKD_ENOTFOUND);
    receive_store_get_job_clear(&get);
    db_rows *rows = NULL;
    assert_int_equal(db_query(f->conn, "SELECT COUNT(*) FROM receive_runs", NULL, 0, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    assert_int_equal(db_rows_int(rows, 0), 0);
    db_rows_free(rows);
}

/* A database the previous build wrote: migrations 1 to 3 only. */
static int setup_old_kind(void **state, enum db_kind kind)
{
    int rc = store_fixture_setup(state, kind, drop_receive);
    if (*state)
        assert_int_equal(receive_store_migrate_upto(((store_fixture *)*state)->conn, 3), 0);
    return rc;
}

static int setup_old_sqlite(void **state)
{
    return setup_old_kind(state, DB_SQLITE);
}

static int setup_old_pg(void **state)
{
    return setup_old_kind(state, DB_POSTGRES);
}

/* A database of the previous build, with a webhook run twice (both runs in receive_runs),
 * opened by this one: the webhook and its runs are kept, and a third run joins them. */
static void test_migrate_keeps_runs(void **state)
{
    STORE_FIXTURE(state);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO receive_webhooks (id, webhook_timestamp, signature, event, body,"
             " received_at, status, attempts, runs, next_attempt_at, updated_at) VALUES"
             " ('%s', '2024-08-22T01:04:05Z', 'sig', 'events.created', '{}', %lld, 'pending',"
             " 2, 2, %lld, %lld);"
             "INSERT INTO receive_runs (webhook_id, n, started_at, duration_ms, exit_status,"
             " http_status, error) VALUES ('%s', 1, %lld, 1, NULL, 500, 'run 1'),"
             " ('%s', 2, %lld, 2, NULL, 500, 'run 2')",
             ids[0], (long long)NOW, (long long)NOW, (long long)NOW, ids[0], (long long)NOW + 101,
             ids[0], (long long)NOW + 201);
    store_fixture_exec(f, sql);
    assert_int_equal(receive_store_migrate(f->conn), 0);
    assert_runs(f, 2, "pending");
    record_nth_run(f, 3, true);
    assert_runs(f, 3, "done");
}

/* PostgreSQL: the inbox's pages keep room for a claim's lease update (a HOT update). */
static void test_pg_pages_keep_room(void **state)
{
    STORE_FIXTURE(state);
    db_rows *rows = NULL;
    assert_int_equal(db_query(f->conn,
                              "SELECT array_to_string(reloptions, ',') FROM pg_class"
                              " WHERE relname = 'receive_webhooks'",
                              NULL, 0, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    assert_string_equal(db_rows_text(rows, 0, NULL), "fillfactor=50");
    db_rows_free(rows);
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_setup_teardown(fn, setup_sqlite, store_fixture_teardown),                     \
        cmocka_unit_test_setup_teardown(fn, setup_pg, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_list_filter_and_cursor),
        BOTH(test_list_newest_first_and_counts),
        BOTH(test_get_with_runs),
        BOTH(test_retry_and_purge),
        BOTH(test_admin_token),
        BOTH(test_insert_many_duplicates),
        BOTH(test_leased_insert_and_record_run),
        BOTH(test_record_runs_together),
        BOTH(test_runs_history),
        cmocka_unit_test_setup_teardown(test_migrate_keeps_runs, setup_old_sqlite,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_keeps_runs, setup_old_pg,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pg_pages_keep_room, setup_pg, store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
