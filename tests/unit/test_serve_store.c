/*
 * test_serve_store.c — the REST functions of serve_store.c against a real database (SQLite,
 * and PostgreSQL when HOOKD_TEST_PG_URL is set): destinations from create to delete, the
 * event insert's fan-out and Idempotency-Key replay, the webhook list's filters and cursor,
 * a webhook's attempts, retry's conflicts, recover and the stats — what the API turns into
 * JSON, read from the plain structs the store fills.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "hookd.h"
#include "serve_held.h"
#include "serve_store.h"
#include "serve_store_retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1724288645123LL

static const char drop_serve[] =
    "DROP TABLE IF EXISTS serve_destinations, serve_subscriptions, serve_events, "
    "serve_webhooks, serve_attempts, serve_idempotency, serve_settings, "
    "serve_accounts, serve_access_keys, serve_schema_version, serve_ops_schema_version, "
    "serve_retention_schema_version, serve_sqlite_schema_version, serve_pg_schema_version";

static int setup_sqlite(void **state)
{
    int rc = store_fixture_setup(state, DB_SQLITE, drop_serve);
    if (*state)
        assert_int_equal(serve_store_migrate(((store_fixture *)*state)->conn), 0);
    return rc;
}

static int setup_pg(void **state)
{
    int rc = store_fixture_setup(state, DB_POSTGRES, drop_serve);
    if (*state)
        assert_int_equal(serve_store_migrate(((store_fixture *)*state)->conn), 0);
    return rc;
}

/* Creates a destination subscribed to events (a JSON array), activated when asked; copies
 * its id into id. */
static void make_destination(db *conn, const char *name, const char *events, bool active, char *id)
{
    serve_store_request *r = serve_store_request_new(NOW);
    r->name = strdup(name);
    r->url = strdup("https://example.test/hook");
    r->events_json = strdup(events);
    r->headers_json = strdup("{\"X-Team\":\"a\"}");
    assert_int_equal(serve_store_w_destination_create(conn, r), 0);
    assert_non_null(r->destination.secret);
    assert_int_equal(strncmp(r->destination.secret, "whsec_", 6), 0);
    assert_false(r->destination.active);
    snprintf(id, HOOKD_ID_LEN + 1, "%s", r->destination.id);
    serve_store_request_free(r);
    if (!active)
        return;
    r = serve_store_request_new(NOW);
    r->id = strdup(id);
    r->active = true;
    assert_int_equal(serve_store_w_destination_set_active(conn, r), 0);
    assert_true(r->destination.active);
    serve_store_request_free(r);
}

/* The event insert as the API's job runs it, in one transaction; returns the request. */
static serve_store_request *insert_event(db *conn, const char *type, const char *key, int64_t now)
{
    serve_store_request *r = serve_store_request_new(now);
    r->event_type = strdup(type);
    r->body = strdup("{\"event\":\"x\",\"data\":{\"id\":1}}");
    r->body_len = strlen(r->body);
    r->idempotency_key = key ? strdup(key) : NULL;
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(serve_store_event_replay(conn, r), 0);
    if (!r->replayed) {
        assert_int_equal(serve_store_event_insert(conn, r), 0);
        r->result_text = strdup(r->event.id); /* stands for the API's answer text */
        assert_int_equal(serve_store_event_remember(conn, r), 0);
    }
    assert_int_equal(db_commit(conn), 0);
    return r;
}

static void test_destination_lifecycle(void **state)
{
    STORE_FIXTURE(state);
    char id[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "crm", "[\"events.created\"]", false, id);

    serve_store_request *r = serve_store_request_new(NOW + 1000);
    r->id = strdup(id);
    r->fields = SERVE_STORE_F_NAME | SERVE_STORE_F_DESCRIPTION;
    r->name = strdup("crm-2");
    r->description = strdup("the CRM");
    assert_int_equal(serve_store_w_destination_update(f->conn, r), 0);
    assert_string_equal(r->destination.name, "crm-2");
    assert_string_equal(r->destination.description, "the CRM");
    assert_string_equal(r->destination.events_json, "[\"events.created\"]");
    assert_string_equal(r->destination.headers_json, "{\"X-Team\":\"a\"}");
    assert_int_equal(r->destination.created_at, NOW);
    assert_int_equal(r->destination.updated_at, NOW + 1000);
    assert_null(r->destination.secret); /* only create, secret and rotate show it */
    serve_store_request_free(r);

    r = serve_store_request_new(NOW);
    r->id = strdup(id);
    assert_int_equal(serve_store_w_destination_secret(f->conn, r), 0);
    char *old = strdup(r->destination.secret);
    serve_store_request_free(r);
    r = serve_store_request_new(NOW);
    r->id = strdup(id);
    assert_int_equal(serve_store_w_destination_rotate(f->conn, r), 0);
    assert_string_not_equal(r->destination.secret, old);
    free(old);
    serve_store_request_free(r);

    r = serve_store_request_new(NOW);
    assert_int_equal(serve_store_w_destination_list(f->conn, r), 0);
    assert_int_equal(r->destination_count, 1);
    assert_null(r->destinations[0].secret);
    serve_store_request_free(r);

    r = serve_store_request_new(NOW);
    r->id = strdup(id);
    assert_int_equal(serve_store_w_destination_delete(f->conn, r), 0);
    assert_int_equal(serve_store_w_destination_get(f->conn, r), HOOKD_ENOTFOUND);
    assert_int_equal(serve_store_w_destination_delete(f->conn, r), HOOKD_ENOTFOUND);
    serve_store_request_free(r);
    r = serve_store_request_new(NOW);
    assert_int_equal(serve_store_w_destination_list(f->conn, r), 0);
    assert_int_equal(r->destination_count, 0);
    serve_store_request_free(r);
}

static void test_event_fan_out_and_replay(void **state)
{
    STORE_FIXTURE(state);
    char a[HOOKD_ID_LEN + 1], b[HOOKD_ID_LEN + 1], c[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\",\"events.updated\"]", true, a);
    make_destination(f->conn, "b", "[\"events.created\"]", true, b);
    make_destination(f->conn, "inactive", "[\"events.created\"]", false, c);

    serve_store_request *first = insert_event(f->conn, "events.created", "k1", NOW);
    assert_false(first->replayed);
    assert_int_equal(first->webhook_count, 2); /* the inactive one gets none */
    assert_int_equal(first->count, 2);
    /* one each for a and b (destinations created in one millisecond: either order) */
    bool a_first = strcmp(first->webhooks[0].destination_id, a) == 0;
    assert_string_equal(first->webhooks[a_first ? 0 : 1].destination_id, a);
    assert_string_equal(first->webhooks[a_first ? 1 : 0].destination_id, b);
    assert_string_equal(first->webhooks[0].event_id, first->event.id);
    assert_true(hookd_id_valid(first->webhooks[0].id));

    serve_store_request *again = insert_event(f->conn, "events.created", "k1", NOW + 5);
    assert_true(again->replayed);
    assert_string_equal(again->result_text, first->event.id);
    assert_int_equal(again->webhook_count, 0);

    serve_store_request *got = serve_store_request_new(NOW);
    got->id = strdup(first->event.id);
    assert_int_equal(serve_store_w_event_get(f->conn, got), 0);
    assert_string_equal(got->event.type, "events.created");
    assert_int_equal(got->event.created_at, NOW);
    assert_memory_equal(got->event.body, first->body, first->body_len);
    assert_int_equal(got->webhook_count, 2);
    assert_string_equal(got->webhooks[0].status, "pending");
    assert_int_equal(got->webhooks[0].next_attempt_at, NOW);
    serve_store_request_free(got);
    got = serve_store_request_new(NOW);
    got->id = strdup("00000000-0000-4000-8000-000000000000");
    assert_int_equal(serve_store_w_event_get(f->conn, got), HOOKD_ENOTFOUND);
    serve_store_request_free(got);
    serve_store_request_free(first);
    serve_store_request_free(again);

    serve_store_request *stats = serve_store_request_new(NOW);
    assert_int_equal(serve_store_w_stats(f->conn, stats), 0);
    assert_int_equal(stats->by_status[0], 2); /* pending */
    assert_int_equal(stats->by_status[1], 0);
    assert_int_equal(stats->due, 2);
    serve_store_request_free(stats);
}

/* Lists webhooks with limit, following the cursor; returns how many were seen. */
static size_t list_all(db *conn, const char *destination, int64_t limit, size_t *pages)
{
    size_t seen = 0;
    char *after = NULL;
    *pages = 0;
    do {
        serve_store_request *r = serve_store_request_new(NOW);
        r->limit = limit;
        r->after = after;
        r->filter_destination_id = destination ? strdup(destination) : NULL;
        assert_int_equal(serve_store_w_webhook_list(conn, r), 0);
        assert_true(r->webhook_count <= (size_t)limit);
        seen += r->webhook_count;
        (*pages)++;
        after = r->next ? strdup(r->next) : NULL;
        serve_store_request_free(r);
    } while (after);
    return seen;
}

static void test_webhook_list_cursor(void **state)
{
    STORE_FIXTURE(state);
    char a[HOOKD_ID_LEN + 1], b[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, a);
    make_destination(f->conn, "b", "[\"events.created\"]", true, b);
    for (int i = 0; i < 5; i++)
        serve_store_request_free(insert_event(f->conn, "events.created", NULL, NOW + i));
    size_t pages = 0;
    assert_int_equal(list_all(f->conn, NULL, 3, &pages), 10);
    assert_int_equal(pages, 4);
    assert_int_equal(list_all(f->conn, a, 5, &pages), 5);
    assert_int_equal(pages, 1); /* exactly a full page: no next cursor */
    serve_store_request *r = serve_store_request_new(NOW);
    r->limit = 10;
    r->after = strdup("garbage");
    assert_int_equal(serve_store_w_webhook_list(f->conn, r), HOOKD_EINVAL);
    serve_store_request_free(r);
}

/* The panel's views: the latest webhooks of a destination newest first (one page, no
 * cursor) and the account's latest events newest first. */
static void test_newest_first_and_event_list(void **state)
{
    STORE_FIXTURE(state);
    char a[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, a);
    char *ids[4];
    for (int i = 0; i < 4; i++) {
        serve_store_request *e = insert_event(f->conn, "events.created", NULL, NOW + i);
        ids[i] = strdup(e->event.id);
        serve_store_request_free(e);
    }
    serve_store_request *r = serve_store_request_new(NOW);
    r->limit = 3;
    r->newest_first = true;
    r->filter_destination_id = strdup(a);
    assert_int_equal(serve_store_w_webhook_list(f->conn, r), 0);
    assert_int_equal(r->webhook_count, 3);
    assert_null(r->next);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(r->webhooks[i].event_id, ids[3 - i]);
    serve_store_request_free(r);
    r = serve_store_request_new(NOW);
    r->limit = 2;
    assert_int_equal(serve_store_w_event_list(f->conn, r), 0);
    assert_int_equal(r->event_count, 2);
    assert_string_equal(r->events[0].id, ids[3]);
    assert_string_equal(r->events[1].id, ids[2]);
    assert_string_equal(r->events[0].type, "events.created");
    assert_int_equal(r->events[0].body_len, strlen(r->events[0].body));
    serve_store_request_free(r);
    r = serve_store_request_new(NOW); /* another account sees none of them */
    free(r->account);
    r->account = strdup("other");
    r->limit = 10;
    assert_int_equal(serve_store_w_event_list(f->conn, r), 0);
    assert_int_equal(r->event_count, 0);
    serve_store_request_free(r);
    for (int i = 0; i < 4; i++)
        free(ids[i]);
}

static void test_webhook_attempts_retry_recover(void **state)
{
    STORE_FIXTURE(state);
    char a[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, a);
    serve_store_request *ev = insert_event(f->conn, "events.created", NULL, NOW);
    char wid[HOOKD_ID_LEN + 1];
    snprintf(wid, sizeof wid, "%s", ev->webhooks[0].id);
    serve_store_request_free(ev);

    serve_store_request *r = serve_store_request_new(NOW);
    r->id = strdup(wid);
    assert_int_equal(serve_store_w_webhook_retry(f->conn, r), HOOKD_ECONFLICT);
    assert_non_null(strstr(r->why, "pending"));
    serve_store_request_free(r);

    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO serve_attempts (webhook_id, n, started_at, duration_ms, status_code, "
             "error, response) VALUES ('%s', 1, %lld, 12, NULL, 'refused', NULL), "
             "('%s', 2, %lld, 7, 500, NULL, 'oops')",
             wid, NOW + 10, wid, NOW + 20);
    store_fixture_exec(f, sql);
    snprintf(sql, sizeof sql,
             "UPDATE serve_webhooks SET status = 'failed', attempt_count = 2, "
             "next_attempt_at = NULL WHERE id = '%s'",
             wid);
    store_fixture_exec(f, sql);

    r = serve_store_request_new(NOW);
    r->id = strdup(wid);
    assert_int_equal(serve_store_w_webhook_get(f->conn, r), 0);
    assert_string_equal(r->webhook.status, "failed");
    assert_int_equal(r->webhook.next_attempt_at, -1);
    assert_int_equal(r->attempt_count, 2);
    assert_int_equal(r->attempts[0].status_code, -1);
    assert_string_equal(r->attempts[0].rec.error, "refused");
    assert_null(r->attempts[0].response);
    assert_int_equal(r->attempts[1].status_code, 500);
    assert_int_equal(r->attempts[1].rec.started_at, NOW + 20);
    assert_string_equal(r->attempts[1].response, "oops");
    serve_store_request_free(r);

    r = serve_store_request_new(NOW + 100);
    r->id = strdup(a);
    r->since = NOW - 1;
    assert_int_equal(serve_store_w_destination_recover(f->conn, r), 0);
    assert_int_equal(r->count, 1);
    serve_store_request_free(r);

    store_fixture_exec(f, "UPDATE serve_webhooks SET status = 'succeeded'");
    r = serve_store_request_new(NOW + 200);
    r->id = strdup(wid);
    assert_int_equal(serve_store_w_webhook_retry(f->conn, r), 0);
    assert_string_equal(r->webhook.status, "pending");
    assert_int_equal(r->webhook.next_attempt_at, NOW + 200);
    serve_store_request_free(r);
}

/* A store written before accounts existed (schema version 3) keeps working after the
 * upgrade: its rows are the default account's, its admin token is the bootstrap key. */
static void test_upgrade_to_accounts(void **state)
{
    STORE_FIXTURE(state);
    size_t count = 0;
    const char *const *migrations = serve_store_migrations(&count);
    assert_true(count >= 4);
    assert_int_equal(db_migrate(f->conn, "serve", migrations, 3), 0);
    store_fixture_exec(f, "INSERT INTO serve_destinations (id, name, url, events, headers, "
                          "secret, active, created_at, updated_at) VALUES ('d-old', 'old', "
                          "'https://example.test/', '[\"events.created\"]', '{}', 'whsec_00', 1, "
                          "1, 1)");
    store_fixture_exec(f, "INSERT INTO serve_subscriptions (destination_id, event_type) "
                          "VALUES ('d-old', 'events.created')");
    store_fixture_exec(f, "INSERT INTO serve_settings (name, value) VALUES "
                          "('admin_token_sha256', '00112233445566778899aabbccddeeff"
                          "00112233445566778899aabbccddeeff')");
    assert_int_equal(serve_store_migrate(f->conn), 0);

    serve_store_request *r = serve_store_request_new(NOW);
    r->id = strdup("d-old");
    assert_int_equal(serve_store_w_destination_get(f->conn, r), 0); /* "default" */
    free(r->account);
    r->account = strdup("acme");
    assert_int_equal(serve_store_w_destination_get(f->conn, r), HOOKD_ENOTFOUND);
    serve_store_request_free(r);

    r = insert_event(f->conn, "events.created", NULL, NOW);
    assert_int_equal(r->webhook_count, 1);
    assert_string_equal(r->webhooks[0].destination_id, "d-old");
    serve_store_request_free(r);

    r = serve_store_request_new(NOW);
    r->digest = strdup("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(serve_store_w_key_lookup(f->conn, r), 0);
    assert_string_equal(r->key.id, "bootstrap");
    assert_null(r->key.account);
    assert_string_equal(r->key.permissions, "[\"*\"]");
    assert_true(r->account_exists);
    serve_store_request_free(r);
}

/* An index's count in the catalog: 1 when it exists. */
static int64_t index_count(store_fixture *f, const char *name)
{
    db_param p[] = {DB_S(name)};
    db_rows *rows = NULL;
    assert_int_equal(serve_store_query(f->conn,
                                       f->kind == DB_SQLITE
                                           ? "SELECT COUNT(*) FROM sqlite_master WHERE name = $1"
                                           : "SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1",
                                       p, 1, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    int64_t n = db_rows_int(rows, 0);
    db_rows_free(rows);
    return n;
}

/* Migration 6 drops serve_webhooks_created from a store of migration 5 that holds webhooks;
 * the retention purge, which walked that index, then finds the old finished webhooks
 * through their events and leaves the pending one (and its event) alone. */
static void test_upgrade_drops_created_index(void **state)
{
    STORE_FIXTURE(state);
    size_t count = 0;
    const char *const *migrations = serve_store_migrations(&count);
    assert_true(count >= 6);
    assert_int_equal(db_migrate(f->conn, "serve", migrations, 5), 0);
    assert_int_equal(index_count(f, "serve_webhooks_created"), 1);
    store_fixture_exec(f, "INSERT INTO serve_events (id, type, body, created_at) VALUES "
                          "('e-1', 'events.created', '{}', 1000), "
                          "('e-2', 'events.created', '{}', 2000), "
                          "('e-new', 'events.created', '{}', 9000)");
    store_fixture_exec(f, "INSERT INTO serve_webhooks (id, event_id, destination_id, status, "
                          "created_at, updated_at) VALUES "
                          "('w-1a', 'e-1', 'd', 'succeeded', 1000, 1500), "
                          "('w-1b', 'e-1', 'd', 'pending', 1000, 1500), "
                          "('w-2a', 'e-2', 'd', 'failed', 2000, 2500), "
                          "('w-2b', 'e-2', 'd', 'cancelled', 2000, 2500), "
                          "('w-new', 'e-new', 'd', 'succeeded', 9000, 9000)");
    store_fixture_exec(f, "INSERT INTO serve_attempts (webhook_id, n, started_at, duration_ms) "
                          "VALUES ('w-1a', 1, 1100, 5), ('w-2a', 1, 2100, 5)");
    assert_int_equal(serve_store_migrate(f->conn), 0);
    assert_int_equal(serve_store_retention_migrate(f->conn), 0);
    assert_int_equal(index_count(f, "serve_webhooks_created"), 0);

    retention_batch batch = {.before = 5000, .limit = 100};
    assert_int_equal(db_begin(f->conn), 0);
    assert_int_equal(serve_store_retention_batch(f->conn, &batch), 0);
    assert_int_equal(db_commit(f->conn), 0);
    assert_int_equal(batch.deleted, 4); /* w-1a, w-2a, w-2b and the event e-2 */
    db_rows *rows = NULL;
    assert_int_equal(serve_store_query(f->conn,
                                       "SELECT w.id, (SELECT COUNT(*) FROM serve_attempts), "
                                       "(SELECT COUNT(*) FROM serve_events) FROM serve_webhooks w "
                                       "ORDER BY w.id",
                                       NULL, 0, &rows, NULL),
                     0);
    const char *left[] = {"w-1b", "w-new"};
    for (size_t i = 0; i < 2; i++) {
        assert_true(db_rows_next(rows));
        assert_string_equal(db_rows_text(rows, 0, NULL), left[i]);
        assert_int_equal(db_rows_int(rows, 1), 0); /* both old attempts went */
        assert_int_equal(db_rows_int(rows, 2), 2); /* e-1 (w-1b pending) and e-new */
    }
    assert_false(db_rows_next(rows));
    db_rows_free(rows);
}

static int setup_sqlite_bare(void **state)
{
    return store_fixture_setup(state, DB_SQLITE, drop_serve);
}

static int setup_pg_bare(void **state)
{
    return store_fixture_setup(state, DB_POSTGRES, drop_serve);
}

/* The rows webhook ids[i] leased by owner: how many. */
static int64_t leased(store_fixture *f, const char *id, const char *owner)
{
    db_param p[] = {DB_S(id), DB_S(owner)};
    return store_fixture_count(
        f->conn, "SELECT COUNT(*) FROM serve_webhooks WHERE id = $1 AND lease_owner = $2", p, 2);
}

/* Claims for owner at now with a lease of lease_ms; returns how many it took and frees them. */
static size_t claim_all(store_fixture *f, const char *owner, int64_t now, int64_t lease_ms,
                        const char *first)
{
    engine_claim c = {
        .owner = owner, .now = now, .lease_until = now + lease_ms, .limit = 10, .per_key = 10};
    assert_int_equal(serve_store_claim(f->conn, &c, NULL), 0);
    size_t n = c.count;
    if (first) {
        assert_true(n > 0);
        assert_string_equal(((serve_store_claimed *)c.items[0].payload)->webhook_id, first);
    }
    for (size_t i = 0; i < n; i++)
        serve_store_claimed_free(c.items[i].payload);
    free(c.items);
    free(c.next_cursor);
    return n;
}

/* No index holds the lease (migration 7): the claim itself tells a live lease, which keeps
 * its row from every other claimer, from one that ran out (a crashed node's) or one beyond
 * two leases ahead (a clock set back), which it takes over, oldest due first. */
static void test_claim_leases(void **state)
{
    STORE_FIXTURE(state);
    char d[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, d);
    char ids[4][HOOKD_ID_LEN + 1];
    for (int i = 0; i < 4; i++) {
        serve_store_request *ev = insert_event(f->conn, "events.created", NULL, NOW + i);
        snprintf(ids[i], sizeof ids[i], "%s", ev->webhooks[0].id);
        serve_store_request_free(ev);
    }
    const int64_t now = NOW + 10000, lease = 60000;
    /* 0: another node's live lease; 1: ran out; 2: beyond two leases ahead; 3: none */
    const int64_t until[3] = {now + lease / 2, now - 1, now + 3 * lease};
    for (int i = 0; i < 3; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "UPDATE serve_webhooks SET lease_owner = 'other/1', lease_until = %lld "
                 "WHERE id = '%s'",
                 (long long)until[i], ids[i]);
        store_fixture_exec(f, sql);
    }
    assert_int_equal(claim_all(f, "me/1", now, lease, ids[1]), 3);
    assert_int_equal(leased(f, ids[0], "other/1"), 1);
    for (int i = 1; i < 4; i++)
        assert_int_equal(leased(f, ids[i], "me/1"), 1);
    /* every lease is live now: a second node takes nothing, until they run out */
    assert_int_equal(claim_all(f, "you/1", now + 1, lease, NULL), 0);
    assert_int_equal(claim_all(f, "you/1", now + lease + 1, lease, ids[0]), 4);
}

/* How many webhooks match where. */
static int64_t count_where(store_fixture *f, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM serve_webhooks WHERE %s", where);
    return store_fixture_count(f->conn, sql, NULL, 0);
}

/* Claims (leases in memory: held) at now, at most 2 of a destination; their payloads into
 * items (4 at most); returns how many. */
static size_t claim_held(store_fixture *f, serve_held *held, int64_t now,
                         serve_store_claimed **items)
{
    engine_claim c = {
        .owner = "me/1", .now = now, .lease_until = now + 60000, .limit = 10, .per_key = 2};
    assert_int_equal(serve_store_claim(f->conn, &c, held), 0);
    assert_true(c.count <= 4);
    for (size_t i = 0; i < c.count; i++)
        items[i] = c.items[i].payload;
    size_t n = c.count;
    free(c.items);
    free(c.next_cursor);
    return n;
}

/* Leases in memory (a SQLite store held alone): the claim writes no lease, skips what the
 * process holds, and takes a webhook again once its payload is freed; the outcome, with no
 * owner, moves the row on only while it still has the attempts the claim saw. */
static void test_claim_held(void **state)
{
    STORE_FIXTURE(state);
    char d[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, d);
    char ids[4][HOOKD_ID_LEN + 1];
    for (int i = 0; i < 4; i++) {
        serve_store_request *ev = insert_event(f->conn, "events.created", NULL, NOW + i);
        snprintf(ids[i], sizeof ids[i], "%s", ev->webhooks[0].id);
        serve_store_request_free(ev);
    }
    serve_held *held = serve_held_new();
    assert_int_equal(db_sqlite_predicate(f->conn, SERVE_STORE_HELD_FN, serve_held_has, held), 0);
    serve_store_claimed *a[4], *b[4], *c[4];
    const int64_t now = NOW + 10000;
    assert_int_equal(claim_held(f, held, now, a), 2);
    assert_string_equal(a[0]->webhook_id, ids[0]);
    assert_string_equal(a[1]->webhook_id, ids[1]);
    assert_true(serve_held_has(held, ids[0]) && serve_held_has(held, ids[1]));
    assert_int_equal(count_where(f, "lease_owner IS NOT NULL OR lease_until IS NOT NULL"), 0);
    /* the two held are skipped: the next two are taken, then nothing is left */
    assert_int_equal(claim_held(f, held, now, b), 2);
    assert_string_equal(b[0]->webhook_id, ids[2]);
    assert_string_equal(b[1]->webhook_id, ids[3]);
    assert_int_equal(claim_held(f, held, now, c), 0);
    /* given back (payload freed): claimable again */
    serve_store_claimed_free(a[0]);
    assert_int_equal(claim_held(f, held, now, c), 1);
    assert_string_equal(c[0]->webhook_id, ids[0]);
    /* an outcome without owner is written; a stale one (wrong n) is refused */
    serve_store_outcome ok = {.webhook_id = ids[1],
                              .destination_id = d,
                              .now = now,
                              .started_at = now,
                              .status_code = 200,
                              .state = SERVE_STORE_SUCCEEDED,
                              .attempt_number = 1};
    serve_store_outcome stale = ok;
    stale.webhook_id = ids[2];
    stale.attempt_number = 2;
    serve_store_outcome *os[] = {&ok, &stale};
    int rcs[2];
    assert_int_equal(serve_store_outcomes(f->conn, os, rcs, 2), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], HOOKD_ELEASE);
    assert_int_equal(count_where(f, "status = 'succeeded'"), 1);
    serve_store_claimed *all[] = {a[1], b[0], b[1], c[0]};
    for (size_t i = 0; i < 4; i++)
        serve_store_claimed_free(all[i]);
    for (int i = 0; i < 4; i++)
        assert_false(serve_held_has(held, ids[i]));
    serve_held_free(held);
}

/* How many rows of the query sql (a SELECT COUNT(*)) there are. */
static int64_t count_sql(store_fixture *f, const char *sql)
{
    return store_fixture_count(f->conn, sql, NULL, 0);
}

/* An outcome by owner me/1 of the first attempt of webhook id at now. */
static serve_store_outcome lease_outcome(char *id, char *d, int64_t now,
                                         enum serve_store_outcome_state state)
{
    return (serve_store_outcome){.owner = "me/1",
                                 .webhook_id = id,
                                 .destination_id = d,
                                 .now = now,
                                 .started_at = now,
                                 .status_code = state == SERVE_STORE_SUCCEEDED ? 200 : 500,
                                 .state = state,
                                 .next_attempt_at = now + 5000,
                                 .fail_window_ms = 5LL * 24 * 3600 * 1000,
                                 .attempt_number = 1};
}

/* A batch of outcomes under leases in the rows (PostgreSQL's one statement): each is written
 * only while its lease is held, with its attempt row; one whose lease another node holds
 * writes nothing (HOOKD_ELEASE). A failure opens the destination's failing streak, and the
 * next batch's success closes it (the open streak is read with the rows). */
static void test_outcomes_leased(void **state)
{
    STORE_FIXTURE(state);
    char d[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, d);
    char ids[3][HOOKD_ID_LEN + 1];
    for (int i = 0; i < 3; i++) {
        serve_store_request *ev = insert_event(f->conn, "events.created", NULL, NOW + i);
        snprintf(ids[i], sizeof ids[i], "%s", ev->webhooks[0].id);
        serve_store_request_free(ev);
    }
    const int64_t now = NOW + 10000;
    store_fixture_exec(f, "UPDATE serve_webhooks SET lease_owner = 'me/1', lease_until = 1");
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE serve_webhooks SET lease_owner = 'other/1' WHERE id = '%s'",
             ids[2]);
    store_fixture_exec(f, sql);
    serve_store_outcome ok = lease_outcome(ids[0], d, now, SERVE_STORE_SUCCEEDED);
    serve_store_outcome retry = lease_outcome(ids[1], d, now, SERVE_STORE_RETRY);
    serve_store_outcome lost = lease_outcome(ids[2], d, now, SERVE_STORE_SUCCEEDED);
    serve_store_outcome *os[] = {&ok, &retry, &lost};
    int rcs[3];
    assert_int_equal(serve_store_outcomes(f->conn, os, rcs, 3), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], 0);
    assert_int_equal(rcs[2], HOOKD_ELEASE);
    snprintf(sql, sizeof sql, "status = 'succeeded' AND lease_owner IS NULL AND id = '%s'", ids[0]);
    assert_int_equal(count_where(f, sql), 1);
    snprintf(sql, sizeof sql,
             "status = 'pending' AND lease_owner IS NULL AND attempt_count = 1 AND "
             "next_attempt_at = %lld AND id = '%s'",
             (long long)(now + 5000), ids[1]);
    assert_int_equal(count_where(f, sql), 1);
    snprintf(sql, sizeof sql, "attempt_count = 0 AND lease_owner = 'other/1' AND id = '%s'",
             ids[2]);
    assert_int_equal(count_where(f, sql), 1);
    assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM serve_attempts"), 2);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM serve_attempts WHERE webhook_id = '%s'",
             ids[2]);
    assert_int_equal(count_sql(f, sql), 0);
    const char *open = "SELECT COUNT(*) FROM serve_destinations WHERE failing_since IS NOT NULL";
    assert_int_equal(count_sql(f, open), 1);

    /* the retried webhook claimed again and delivered: the streak closes */
    snprintf(sql, sizeof sql, "UPDATE serve_webhooks SET lease_owner = 'me/1' WHERE id = '%s'",
             ids[1]);
    store_fixture_exec(f, sql);
    serve_store_outcome again = lease_outcome(ids[1], d, now + 6000, SERVE_STORE_SUCCEEDED);
    again.attempt_number = 2;
    serve_store_outcome *second[] = {&again};
    assert_int_equal(serve_store_outcomes(f->conn, second, rcs, 1), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(count_sql(f, open), 0);
    assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM serve_attempts"), 3);
}

/* SQLite: the claim reads each webhook's rowid and its outcome reaches the row by it; the id
 * is still checked, so an outcome whose rowid points at another webhook writes nothing
 * (HOOKD_ELEASE), and the webhook it named stays pending. */
static void test_outcome_by_rowid(void **state)
{
    STORE_FIXTURE(state);
    char d[HOOKD_ID_LEN + 1];
    make_destination(f->conn, "a", "[\"events.created\"]", true, d);
    for (int i = 0; i < 2; i++)
        serve_store_request_free(insert_event(f->conn, "events.created", NULL, NOW + i));
    serve_held *held = serve_held_new();
    assert_int_equal(db_sqlite_predicate(f->conn, SERVE_STORE_HELD_FN, serve_held_has, held), 0);
    serve_store_claimed *a[4];
    const int64_t now = NOW + 10000;
    assert_int_equal(claim_held(f, held, now, a), 2);
    assert_true(a[0]->row > 0 && a[1]->row > 0 && a[0]->row != a[1]->row);
    serve_store_outcome ok = {.webhook_id = a[0]->webhook_id,
                              .destination_id = d,
                              .now = now,
                              .started_at = now,
                              .status_code = 200,
                              .state = SERVE_STORE_SUCCEEDED,
                              .attempt_number = 1,
                              .row = a[0]->row};
    serve_store_outcome wrong = ok;
    wrong.webhook_id = a[1]->webhook_id; /* a[1]'s id with a[0]'s rowid */
    serve_store_outcome *os[] = {&wrong, &ok};
    int rcs[2];
    assert_int_equal(serve_store_outcomes(f->conn, os, rcs, 2), 0);
    assert_int_equal(rcs[0], HOOKD_ELEASE);
    assert_int_equal(rcs[1], 0);
    char where[128];
    snprintf(where, sizeof where, "status = 'succeeded' AND id = '%s'", a[0]->webhook_id);
    assert_int_equal(count_where(f, where), 1);
    snprintf(where, sizeof where, "status = 'pending' AND id = '%s'", a[1]->webhook_id);
    assert_int_equal(count_where(f, where), 1);
    serve_store_claimed_free(a[0]);
    serve_store_claimed_free(a[1]);
    serve_held_free(held);
}

/* The list of one event's webhooks, page by page (found at its time, in its account): only
 * its own, although another event shares its millisecond; a cursor before its time takes
 * them all, one after it none, and an unknown event lists nothing. */
static void list_event(store_fixture *f, const char *event, const char *after, int64_t limit,
                       size_t want, bool more)
{
    serve_store_request *r = serve_store_request_new(NOW);
    r->limit = limit;
    r->filter_event_id = strdup(event);
    r->after = after ? strdup(after) : NULL;
    assert_int_equal(serve_store_w_webhook_list(f->conn, r), 0);
    assert_int_equal(r->webhook_count, want);
    for (size_t i = 0; i < r->webhook_count; i++)
        assert_string_equal(r->webhooks[i].event_id, event);
    assert_true((r->next != NULL) == more);
    serve_store_request_free(r);
}

static void test_event_webhooks_by_time(void **state)
{
    STORE_FIXTURE(state);
    char d[3][HOOKD_ID_LEN + 1];
    for (int i = 0; i < 3; i++)
        make_destination(f->conn, "d", "[\"events.created\"]", true, d[i]);
    char ids[3][HOOKD_ID_LEN + 1];
    const int64_t at[] = {NOW, NOW, NOW + 1};
    for (int i = 0; i < 3; i++) {
        serve_store_request *e = insert_event(f->conn, "events.created", NULL, at[i]);
        snprintf(ids[i], sizeof ids[i], "%s", e->event.id);
        serve_store_request_free(e);
    }
    serve_store_request *r = serve_store_request_new(NOW);
    r->id = strdup(ids[0]);
    assert_int_equal(serve_store_w_event_get(f->conn, r), 0);
    assert_int_equal(r->webhook_count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(r->webhooks[i].event_id, ids[0]);
    serve_store_request_free(r);

    r = serve_store_request_new(NOW);
    r->limit = 2;
    r->filter_event_id = strdup(ids[1]);
    assert_int_equal(serve_store_w_webhook_list(f->conn, r), 0);
    assert_int_equal(r->webhook_count, 2);
    assert_non_null(r->next);
    list_event(f, ids[1], r->next, 2, 1, false);
    serve_store_request_free(r);

    char cursor[64];
    snprintf(cursor, sizeof cursor, "%lld.%s", (long long)NOW, ids[0]);
    list_event(f, ids[2], cursor, 10, 3, false); /* before its time: all */
    snprintf(cursor, sizeof cursor, "%lld.%s", (long long)(NOW + 5), ids[0]);
    list_event(f, ids[2], cursor, 10, 0, false); /* after it: none */
    list_event(f, "00000000-0000-4000-8000-000000000000", NULL, 10, 0, false);
}

/* From a store of serve migration 7, a webhook whose time disagrees with its event's is
 * moved to the event's (serve_sqlite's migration 1, serve_pg's 2), and the event then lists
 * both its webhooks; one index replaces serve_webhooks_event and serve_webhooks_account
 * (serve_sqlite's migration 1, serve_pg's 3). */
static void test_upgrade_drops_event_index(void **state)
{
    STORE_FIXTURE(state);
    size_t count = 0;
    const char *const *migrations = serve_store_migrations(&count);
    assert_int_equal(db_migrate(f->conn, "serve", migrations, 7), 0);
    assert_int_equal(index_count(f, "serve_webhooks_event"), 1);
    store_fixture_exec(f, "INSERT INTO serve_events (id, type, body, created_at) VALUES "
                          "('e-1', 'events.created', '{}', 1000)");
    store_fixture_exec(f, "INSERT INTO serve_webhooks (id, event_id, destination_id, status, "
                          "created_at, updated_at) VALUES "
                          "('w-1', 'e-1', 'd', 'succeeded', 1000, 1500), "
                          "('w-2', 'e-1', 'd', 'pending', 1001, 1500)");
    assert_int_equal(serve_store_migrate(f->conn), 0);
    assert_int_equal(index_count(f, "serve_webhooks_event"), 0);
    assert_int_equal(index_count(f, "serve_webhooks_account"), 0);
    assert_int_equal(index_count(f, "serve_webhooks_account_event"), 1);
    serve_store_request *r = serve_store_request_new(NOW);
    r->id = strdup("e-1");
    assert_int_equal(serve_store_w_event_get(f->conn, r), 0);
    assert_int_equal(r->webhook_count, 2);
    assert_string_equal(r->webhooks[0].id, "w-1");
    assert_string_equal(r->webhooks[1].id, "w-2");
    assert_int_equal(r->webhooks[1].created_at, 1000);
    serve_store_request_free(r);
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_setup_teardown(fn, setup_sqlite, store_fixture_teardown),                     \
        cmocka_unit_test_setup_teardown(fn, setup_pg, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_destination_lifecycle),
        BOTH(test_event_fan_out_and_replay),
        BOTH(test_webhook_list_cursor),
        BOTH(test_newest_first_and_event_list),
        BOTH(test_webhook_attempts_retry_recover),
        BOTH(test_claim_leases),
        BOTH(test_event_webhooks_by_time),
        BOTH(test_outcomes_leased),
        cmocka_unit_test_setup_teardown(test_claim_held, setup_sqlite, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_outcome_by_rowid, setup_sqlite,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_to_accounts, setup_sqlite_bare,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_to_accounts, setup_pg_bare,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_drops_created_index, setup_sqlite_bare,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_drops_created_index, setup_pg_bare,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_drops_event_index, setup_sqlite_bare,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_drops_event_index, setup_pg_bare,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
