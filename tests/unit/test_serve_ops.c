/*
 * test_serve_ops.c — operational webhooks at the store (serve_ops.c through
 * serve_store_w_outcome), on SQLite and PostgreSQL (HOOKD_TEST_PG_URL): a webhook failing for
 * good and a 410 emit their events in the outcome's own transaction (a rolled-back outcome
 * leaves none), fanned out to the account's subscribed destinations; an operational
 * webhook's own failure emits nothing; the first success after an alert emits
 * destination.recovered, once; serve_store_outcomes records a batch as the same outcomes one
 * after another would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "hookd.h"
#include "serve_ops.h"
#include "serve_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1724288645123LL
#define OWNER "node/1"

static const char drop_serve[] =
    "DROP TABLE IF EXISTS serve_destinations, serve_subscriptions, serve_events, "
    "serve_webhooks, serve_attempts, serve_idempotency, serve_settings, "
    "serve_accounts, serve_access_keys, serve_schema_version, serve_ops_schema_version";

static int setup(void **state, enum db_kind kind)
{
    int rc = store_fixture_setup(state, kind, drop_serve);
    if (*state)
        assert_int_equal(serve_store_migrate(((store_fixture *)*state)->conn), 0);
    return rc;
}

static int setup_sqlite(void **state)
{
    return setup(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return setup(state, DB_POSTGRES);
}

/* An active destination subscribed to events (JSON array); its id into id. */
static void destination(db *conn, const char *events, char *id)
{
    serve_store_request *r = serve_store_request_new(NOW);
    r->name = strdup("d");
    r->url = strdup("https://example.test/hook");
    r->events_json = strdup(events);
    r->headers_json = strdup("{}");
    assert_int_equal(serve_store_w_destination_create(conn, r), 0);
    snprintf(id, HOOKD_ID_LEN + 1, "%s", r->destination.id);
    serve_store_request_free(r);
    r = serve_store_request_new(NOW);
    r->id = strdup(id);
    r->active = true;
    assert_int_equal(serve_store_w_destination_set_active(conn, r), 0);
    serve_store_request_free(r);
}

/* Posts an event of type; the id of its webhook to destination dest into wid, leased. */
static void webhook_of(store_fixture *f, const char *type, const char *dest, char *wid)
{
    serve_store_request *r = serve_store_request_new(NOW);
    r->event_type = strdup(type);
    r->body = strdup("{\"event\":\"x\",\"data\":{}}");
    r->body_len = strlen(r->body);
    assert_int_equal(serve_store_event_insert(f->conn, r), 0);
    for (size_t i = 0; i < r->webhook_count; i++)
        if (strcmp(r->webhooks[i].destination_id, dest) == 0)
            snprintf(wid, HOOKD_ID_LEN + 1, "%s", r->webhooks[i].id);
    serve_store_request_free(r);
    store_fixture_exec(f, "UPDATE serve_webhooks SET lease_owner = '" OWNER "', "
                          "lease_until = 9999999999999");
}

/* A new outcome of webhook wid at destination dest, numbered as its claim would. */
static serve_store_outcome *outcome_new(store_fixture *f, const char *wid, const char *dest,
                                        enum serve_store_outcome_state state, long status,
                                        bool gone)
{
    serve_store_outcome *o = calloc(1, sizeof *o);
    o->owner = OWNER;
    o->webhook_id = strdup(wid);
    o->destination_id = strdup(dest);
    o->now = o->started_at = NOW + 1000;
    o->status_code = status;
    o->state = state;
    o->next_attempt_at = NOW + 5000;
    o->deactivate_reason = gone ? strdup("the destination answered 410 Gone") : NULL;
    o->fail_window_ms = 5LL * 24 * 3600 * 1000;
    /* the attempt's number comes from the claim: the webhook's attempts so far, plus one */
    db_param p[] = {DB_S(wid)};
    db_rows *rows = NULL;
    assert_int_equal(db_query(f->conn, "SELECT attempt_count FROM serve_webhooks WHERE id = $1", p,
                              1, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    o->attempt_number = db_rows_int(rows, 0) + 1;
    db_rows_free(rows);
    return o;
}

/* Records one outcome of webhook wid at destination dest; returns the ops webhooks made. */
static int64_t outcome(store_fixture *f, const char *wid, const char *dest,
                       enum serve_store_outcome_state state, long status, bool gone)
{
    serve_store_outcome *o = outcome_new(f, wid, dest, state, status, gone);
    assert_int_equal(serve_store_w_outcome(f->conn, o), 0);
    int64_t made = o->ops_webhooks;
    serve_store_outcome_free(o);
    return made;
}

static int64_t count(store_fixture *f, const char *sql)
{
    return store_fixture_count(f->conn, sql, NULL, 0);
}

static void test_failed_and_gone(void **state)
{
    STORE_FIXTURE(state);
    char ops[HOOKD_ID_LEN + 1], app[HOOKD_ID_LEN + 1], wid[HOOKD_ID_LEN + 1];
    destination(f->conn, "[\"webhook.failed\",\"destination.deactivated\"]", ops);
    destination(f->conn, "[\"events.created\"]", app);
    webhook_of(f, "events.created", app, wid);

    /* undone with its outcome: nothing of it stays */
    assert_int_equal(db_begin(f->conn), 0);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_FAILED, 410, true), 2);
    assert_int_equal(db_rollback(f->conn), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events"), 1);

    assert_int_equal(outcome(f, wid, app, SERVE_STORE_FAILED, 410, true), 2);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events WHERE type IN "
                              "('webhook.failed', 'destination.deactivated')"),
                     2);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_webhooks w JOIN serve_events e ON "
                              "e.id = w.event_id WHERE e.type = 'destination.deactivated' AND "
                              "w.status = 'pending' AND e.body LIKE '%\"reason\":\"gone\"%'"),
                     1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_destinations "
                              "WHERE ops_alerted_at IS NOT NULL"),
                     1);
}

static void test_retry_emits_nothing_and_ops_never_loop(void **state)
{
    STORE_FIXTURE(state);
    char ops[HOOKD_ID_LEN + 1], app[HOOKD_ID_LEN + 1], wid[HOOKD_ID_LEN + 1];
    destination(f->conn, "[\"webhook.failed\",\"destination.deactivated\"]", ops);
    destination(f->conn, "[\"events.created\"]", app);
    webhook_of(f, "events.created", app, wid);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_RETRY, 500, false), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events"), 1);

    /* the operator's own webhook.failed webhook answered 410: deactivated, not announced */
    char own[HOOKD_ID_LEN + 1];
    webhook_of(f, "webhook.failed", ops, own);
    assert_int_equal(outcome(f, own, ops, SERVE_STORE_FAILED, 410, true), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events"), 2);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_destinations WHERE active = 0"), 1);
}

static void test_recovered_once(void **state)
{
    STORE_FIXTURE(state);
    char ops[HOOKD_ID_LEN + 1], app[HOOKD_ID_LEN + 1], wid[HOOKD_ID_LEN + 1];
    destination(f->conn, "[\"webhook.failed\",\"destination.recovered\"]", ops);
    destination(f->conn, "[\"events.created\"]", app);
    webhook_of(f, "events.created", app, wid);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_SUCCEEDED, 200, false), 0);
    webhook_of(f, "events.created", app, wid);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_FAILED, 500, false), 1);
    webhook_of(f, "events.created", app, wid);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_SUCCEEDED, 200, false), 1);
    webhook_of(f, "events.created", app, wid);
    assert_int_equal(outcome(f, wid, app, SERVE_STORE_SUCCEEDED, 200, false), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events "
                              "WHERE type = 'destination.recovered'"),
                     1);
}

/* serve_store_outcomes: a batch in order, as one outcome after another would be — a
 * success, a failure for good (alert), a success of the same destination (recovered, once),
 * a success known clean, and an outcome whose lease another owner holds (refused, nothing
 * of it written). */
static void test_batch(void **state)
{
    STORE_FIXTURE(state);
    char ops[HOOKD_ID_LEN + 1], app[HOOKD_ID_LEN + 1], wid[5][HOOKD_ID_LEN + 1];
    destination(f->conn, "[\"webhook.failed\",\"destination.recovered\"]", ops);
    destination(f->conn, "[\"events.created\"]", app);
    for (int i = 0; i < 5; i++)
        webhook_of(f, "events.created", app, wid[i]);
    enum serve_store_outcome_state states[] = {SERVE_STORE_SUCCEEDED, SERVE_STORE_FAILED,
                                               SERVE_STORE_SUCCEEDED, SERVE_STORE_SUCCEEDED,
                                               SERVE_STORE_SUCCEEDED};
    long codes[] = {200, 500, 200, 204, 200};
    serve_store_outcome *os[5];
    for (int i = 0; i < 5; i++)
        os[i] = outcome_new(f, wid[i], app, states[i], codes[i], false);
    os[4]->owner = "node/2";
    int rcs[5] = {-1, -1, -1, -1, -1};
    assert_int_equal(serve_store_outcomes(f->conn, os, rcs, 5), 0);
    int want[] = {0, 0, 0, 0, HOOKD_ELEASE};
    int64_t made[] = {0, 1, 1, 0, 0};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rcs[i], want[i]);
        assert_int_equal(os[i]->ops_webhooks, made[i]);
        serve_store_outcome_free(os[i]);
    }
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_attempts"), 4);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_attempts WHERE status_code = 204"), 1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_webhooks w JOIN serve_events e ON "
                              "e.id = w.event_id WHERE e.type = 'events.created' AND "
                              "w.status = 'succeeded' AND w.lease_until IS NULL"),
                     3);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_webhooks w JOIN serve_events e ON "
                              "e.id = w.event_id WHERE e.type = 'events.created' AND "
                              "w.status = 'pending' AND w.attempt_count = 0 AND "
                              "w.lease_owner = 'node/1'"),
                     1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_events "
                              "WHERE type = 'destination.recovered'"),
                     1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM serve_destinations "
                              "WHERE failing_since IS NOT NULL OR ops_alerted_at IS NOT NULL"),
                     0);
}

static void test_types(void **state)
{
    (void)state;
    assert_true(serve_ops_type("destination.deactivated"));
    assert_true(serve_ops_type("webhook.failed"));
    assert_true(serve_ops_type("destination.recovered"));
    assert_false(serve_ops_type("events.created"));
    assert_false(serve_ops_type(NULL));
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_setup_teardown(fn, setup_sqlite, store_fixture_teardown),                     \
        cmocka_unit_test_setup_teardown(fn, setup_pg, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_failed_and_gone),   BOTH(test_retry_emits_nothing_and_ops_never_loop),
        BOTH(test_recovered_once),    BOTH(test_batch),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
