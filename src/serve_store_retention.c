/*
 * serve_store_retention.c — the SQL of the sender's retention purge (see
 * serve_store_retention.h), one batch per store job. Webhooks are found oldest first through
 * their events' age (serve_events_created) and deleted by id with their attempts
 * (retention_purge_ids: locked on PostgreSQL, so that a retry committing meanwhile waits for the
 * purge and then finds nothing). Events go through their own index on created_at once no webhook
 * points at them.
 */
#include "serve_store_retention.h"

#include "serve_store.h"

static const char *const migrations[] = {
    /* 1: events by age, for the purge (and, since serve_store.c's migration 6, the way to
     * the oldest webhooks too) */
    "CREATE INDEX IF NOT EXISTS serve_events_created ON serve_events (created_at);",
};

int serve_store_retention_migrate(db *conn)
{
    return db_migrate(conn, "serve_retention", migrations,
                      sizeof migrations / sizeof migrations[0]);
}

/* Oldest first through the events (serve_events_created), then each event's webhooks:
 * webhooks have no index by age of their own, since each one is created with its event and
 * at its time (serve_store.c's migration 6), nor by event alone (serve_sqlite's migration 1,
 * serve_pg's migration 3): they are found in the event's account at its time. On SQLite
 * through serve_webhooks_account_event (account_id, created_at, event_id, id) (both backends); the
 * unary + keeps SQLite from carrying e.created_at < $1 over to w (a transitive constraint), which
 * it then preferred to the equality, walking the account's older webhooks for each event, and for
 * the same reason w.created_at < $1 is left to the equality. On PostgreSQL through the
 * same index, in a subquery per event that OFFSET 0 keeps from being flattened into a join:
 * a plain join on the three columns its planner misjudged, hashing the whole table for each
 * batch. */
#define EVENT_WEBHOOK_SQLITE                                                                       \
    "w.account_id = e.account_id AND w.created_at = +e.created_at AND w.event_id = e.id"
#define EVENT_WEBHOOK_PG                                                                           \
    "w.account_id = e.account_id AND w.created_at = e.created_at AND w.event_id = e.id"
#define FINISHED_WHERE "w.updated_at < $1 AND w.status IN ('succeeded', 'failed', 'cancelled')"
#define FINISHED_SQLITE                                                                            \
    "SELECT w.id FROM serve_events e JOIN serve_webhooks w ON " EVENT_WEBHOOK_SQLITE " "           \
    "WHERE e.created_at < $1 AND " FINISHED_WHERE " ORDER BY e.created_at LIMIT $2"
#define FINISHED_PG                                                                                \
    "SELECT w.id FROM serve_events e CROSS JOIN LATERAL (SELECT w.id FROM serve_webhooks w "       \
    "WHERE " EVENT_WEBHOOK_PG " AND " FINISHED_WHERE " OFFSET 0) w "                               \
    "WHERE e.created_at < $1 ORDER BY e.created_at LIMIT $2"
#define EVENTS_SQL(join, tail)                                                                     \
    "DELETE FROM serve_events WHERE id IN (SELECT e.id FROM serve_events e "                       \
    "WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM serve_webhooks w WHERE " join tail      \
    ") ORDER BY e.created_at LIMIT $2)"

int serve_store_retention_batch(db *conn, retention_batch *batch)
{
    static const char *const deletes[] = {"DELETE FROM serve_attempts WHERE webhook_id IN ",
                                          "DELETE FROM serve_webhooks WHERE id IN "};
    bool pg = db_kind(conn) == DB_POSTGRES;
    int rc = retention_purge_ids(conn, batch, pg ? FINISHED_PG : FINISHED_SQLITE, deletes, 2);
    if (rc != 0)
        return rc;
    int64_t webhooks = batch->deleted, events = 0;
    db_param p[] = {DB_I(batch->before), DB_I(batch->limit)};
    rc = serve_store_query(
        conn, pg ? EVENTS_SQL(EVENT_WEBHOOK_PG, " OFFSET 0") : EVENTS_SQL(EVENT_WEBHOOK_SQLITE, ""),
        p, 2, NULL, &events);
    if (rc != 0)
        return rc;
    batch->deleted = webhooks + events;
    return 0;
}
