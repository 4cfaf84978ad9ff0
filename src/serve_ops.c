/*
 * serve_ops.c — operational webhooks (see serve_ops.h): builds the event of a deactivation, a
 * webhook failed for good or a recovery, and hands it to serve_store_event_insert, the same
 * insert and fan-out POST /v1/events uses, inside the transaction of the outcome that caused
 * it. Nothing here sends anything: the engine claims the webhooks like any others (the insert
 * notifies the other nodes; serve_deliver wakes this one when the outcome commits).
 * An event nobody is subscribed to is not kept: operators who listen to nothing should not
 * pay a row per failure.
 */
#include "serve_ops.h"

#include "api_common.h"
#include "hookd.h"
#include "log.h"
#include "mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* serve_ops' own schema, apart from serve_store's so that each side migrates its own. */
static const char *const migrations[] = {
    /* 1: when hookd first alerted about the destination's current trouble (ms), or NULL;
     * a success clears it, and emits destination.recovered when it was set. */
    "ALTER TABLE serve_destinations ADD COLUMN ops_alerted_at BIGINT;",
};

bool serve_ops_type(const char *type)
{
    return type && (strcmp(type, SERVE_OPS_DEACTIVATED) == 0 ||
                    strcmp(type, SERVE_OPS_FAILED) == 0 || strcmp(type, SERVE_OPS_RECOVERED) == 0);
}

int serve_ops_migrate(db *conn)
{
    return db_migrate(conn, "serve_ops", migrations, sizeof migrations / sizeof migrations[0]);
}

/* Sets key to the time in the API's ISO 8601 form (one it cannot write becomes null). */
static void data_set_time(json_t *data, const char *key, int64_t unix_ms)
{
    json_object_set_new(data, key, api_time_json(unix_ms));
}

/* Stores the event type/data in account, fanned out to its subscribers; *webhooks gets how
 * many webhooks it made. An event without subscribers is deleted again. Takes data. */
static int ops_emit(db *conn, const char *account, const char *type, json_t *data, int64_t now,
                    int64_t *webhooks)
{
    char *text = mem_check(json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER));
    json_decref(data);
    serve_store_request *r = serve_store_request_new(now);
    free(r->account);
    r->account = xstrdup(account);
    r->event_type = xstrdup(type);
    int rc = hookd_envelope_build(type, text, strlen(text), 0, &r->body, &r->body_len);
    free(text);
    if (rc == 0)
        rc = serve_store_event_insert(conn, r);
    if (rc == 0 && r->count == 0) {
        db_param p[] = {DB_S(r->event.id)};
        rc = serve_store_query(conn, "DELETE FROM serve_events WHERE id = $1", p, 1, NULL, NULL);
    }
    if (rc == 0) {
        *webhooks += r->count;
        log_info("ops", "account %s: %s to %lld operator destination(s)", account, type,
                 (long long)r->count);
    } else {
        /* the outcome's job is undone and tried again, the event with it */
        log_error("ops", "cannot store the %s event: %s", type, hookd_strerror(rc));
    }
    serve_store_request_free(r);
    return rc;
}

/* What the failure payloads say about the webhook and its destination. */
typedef struct ops_subject {
    char *account;
    char *event_type;
    char *event_id;
    int64_t attempt_count;
} ops_subject;

static int subject_load(db *conn, const char *webhook_id, ops_subject *s)
{
    db_rows *rows = NULL;
    db_param p[] = {DB_S(webhook_id)};
    int rc =
        serve_store_query(conn,
                          "SELECT d.account_id, e.type, w.event_id, w.attempt_count "
                          "FROM serve_webhooks w JOIN serve_events e ON e.id = w.event_id "
                          "JOIN serve_destinations d ON d.id = w.destination_id WHERE w.id = $1",
                          p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    if (db_rows_next(rows)) {
        s->account = db_rows_strdup(rows, 0);
        s->event_type = db_rows_strdup(rows, 1);
        s->event_id = db_rows_strdup(rows, 2);
        s->attempt_count = db_rows_int(rows, 3);
    }
    db_rows_free(rows);
    return s->account ? 0 : HOOKD_ESTORE; /* the outcome's own webhook: it must exist */
}

static void subject_clear(ops_subject *s)
{
    free(s->account);
    free(s->event_type);
    free(s->event_id);
}

static json_t *status_json(long status_code)
{
    return status_code > 0 ? json_integer(status_code) : json_null();
}

static json_t *webhook_failed_data(const serve_store_outcome *o, const ops_subject *s)
{
    json_t *data = json_object();
    json_object_set_new(data, "webhook_id", json_string(o->webhook_id));
    json_object_set_new(data, "event_id", json_string(s->event_id));
    json_object_set_new(data, "event_type", json_string(s->event_type));
    json_object_set_new(data, "destination_id", json_string(o->destination_id));
    json_object_set_new(data, "account", json_string(s->account));
    json_object_set_new(data, "attempt_count", json_integer(s->attempt_count));
    json_object_set_new(data, "status_code", status_json(o->status_code));
    json_object_set_new(data, "error", o->error ? json_string(o->error) : json_null());
    data_set_time(data, "at", o->now);
    return data;
}

static json_t *deactivated_data(const serve_store_outcome *o, const ops_subject *s)
{
    json_t *data = json_object();
    json_object_set_new(data, "destination_id", json_string(o->destination_id));
    json_object_set_new(data, "account", json_string(s->account));
    json_object_set_new(data, "reason", json_string(o->deactivate_reason ? "gone" : "failing"));
    json_object_set_new(data, "status_code", status_json(o->status_code));
    json_object_set_new(data, "webhook_id", json_string(o->webhook_id));
    data_set_time(data, "at", o->now);
    return data;
}

int serve_ops_failed(db *conn, serve_store_outcome *o)
{
    o->ops_webhooks = 0; /* an outcome's job may run again after a failed batch */
    if (o->state != SERVE_STORE_FAILED && !o->deactivated)
        return 0;
    ops_subject s = {0};
    int rc = subject_load(conn, o->webhook_id, &s);
    /* Loop safety: an operational webhook's own failure is logged, never announced. */
    if (rc == 0 && !serve_ops_type(s.event_type)) {
        if (o->state == SERVE_STORE_FAILED)
            rc = ops_emit(conn, s.account, SERVE_OPS_FAILED, webhook_failed_data(o, &s), o->now,
                          &o->ops_webhooks);
        if (rc == 0 && o->deactivated)
            rc = ops_emit(conn, s.account, SERVE_OPS_DEACTIVATED, deactivated_data(o, &s), o->now,
                          &o->ops_webhooks);
    }
    if (rc == 0 && o->ops_webhooks > 0) {
        db_param p[] = {DB_S(o->destination_id), DB_I(o->now)};
        rc = serve_store_query(conn,
                               "UPDATE serve_destinations SET ops_alerted_at = $2 "
                               "WHERE id = $1 AND ops_alerted_at IS NULL",
                               p, 2, NULL, NULL);
    }
    subject_clear(&s);
    return rc;
}

int serve_ops_recovered(db *conn, serve_store_outcome *o, int64_t alerted_at)
{
    o->ops_webhooks = 0;
    if (alerted_at < 0)
        return 0;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(o->destination_id)};
    /* the alert is over: cleared here, so one recovery is announced once */
    int rc = serve_store_query(conn,
                               "UPDATE serve_destinations SET ops_alerted_at = NULL "
                               "WHERE id = $1 RETURNING account_id",
                               p, 1, &rows, NULL);
    char *account = rc == 0 && db_rows_next(rows) ? db_rows_strdup(rows, 0) : NULL;
    db_rows_free(rows);
    if (!account)
        return HOOKD_ESTORE;
    json_t *data = json_object();
    json_object_set_new(data, "destination_id", json_string(o->destination_id));
    json_object_set_new(data, "account", json_string(account));
    json_object_set_new(data, "webhook_id", json_string(o->webhook_id));
    data_set_time(data, "alerted_at", alerted_at);
    data_set_time(data, "at", o->now);
    rc = ops_emit(conn, account, SERVE_OPS_RECOVERED, data, o->now, &o->ops_webhooks);
    free(account);
    return rc;
}
