/*
 * serve_store_retention.c — the SQL of the sender's retention purge (see
 * serve_store_retention.h), one batch per store job. Webhooks are found oldest first through
 * serve_webhooks_created; the batch's ids are read first (locked on PostgreSQL, so that a
 * retry committing meanwhile waits for the purge and then finds nothing) and their attempts
 * and rows deleted by id, so the two deletes always agree. Events go through their own index
 * on created_at once no webhook points at them.
 */
#include "serve_store_retention.h"

#include "hookd.h"
#include "mem.h"
#include "serve_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
    /* 1: events by age, for the purge (webhooks have serve_webhooks_created already) */
    "CREATE INDEX IF NOT EXISTS serve_events_created ON serve_events (created_at);",
};

int serve_store_retention_migrate(db *conn)
{
    return db_migrate(conn, "serve_retention", migrations,
                      sizeof migrations / sizeof migrations[0]);
}

#define FINISHED_SQL                                                                               \
    "SELECT id FROM serve_webhooks WHERE created_at < $1 AND updated_at < $1 "                     \
    "AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at LIMIT $2"

/* Runs sql_head followed by "($1, …, $count)" with the ids as parameters. */
static int delete_ids(db *conn, const char *sql_head, char **ids, size_t count)
{
    size_t cap = strlen(sql_head) + 2 + count * 8;
    char *sql = xmalloc(cap);
    size_t len = (size_t)snprintf(sql, cap, "%s(", sql_head);
    db_param *p = xcalloc(count, sizeof *p);
    for (size_t i = 0; i < count; i++) {
        len += (size_t)snprintf(sql + len, cap - len, "%s$%zu", i ? ", " : "", i + 1);
        p[i] = (db_param)DB_S(ids[i]);
    }
    snprintf(sql + len, cap - len, ")");
    int rc = serve_store_query(conn, sql, p, count, NULL, NULL);
    free(p);
    free(sql);
    return rc;
}

/* At most limit finished webhooks older than before, with their attempts; *deleted: how many. */
static int purge_webhooks(db *conn, int64_t before, int limit, int64_t *deleted)
{
    db_rows *rows = NULL;
    db_param p[] = {DB_I(before), DB_I(limit)};
    int rc = serve_store_query(
        conn, db_kind(conn) == DB_POSTGRES ? FINISHED_SQL " FOR UPDATE SKIP LOCKED" : FINISHED_SQL,
        p, 2, &rows, NULL);
    if (rc != 0)
        return rc;
    char **ids = xcalloc((size_t)limit, sizeof *ids);
    size_t count = 0;
    while (count < (size_t)limit && db_rows_next(rows))
        ids[count++] = db_rows_strdup(rows, 0);
    db_rows_free(rows);
    if (count > 0)
        rc = delete_ids(conn, "DELETE FROM serve_attempts WHERE webhook_id IN ", ids, count);
    if (rc == 0 && count > 0)
        rc = delete_ids(conn, "DELETE FROM serve_webhooks WHERE id IN ", ids, count);
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    *deleted = rc == 0 ? (int64_t)count : 0;
    return rc;
}

int serve_store_retention_batch(db *conn, retention_batch *batch)
{
    int64_t webhooks = 0, events = 0;
    int rc = purge_webhooks(conn, batch->before, batch->limit, &webhooks);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_I(batch->before), DB_I(batch->limit)};
    rc = serve_store_query(conn,
                           "DELETE FROM serve_events WHERE id IN (SELECT e.id FROM serve_events e "
                           "WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM serve_webhooks "
                           "w WHERE w.event_id = e.id) ORDER BY e.created_at LIMIT $2)",
                           p, 2, NULL, &events);
    if (rc != 0)
        return rc;
    batch->deleted = webhooks + events;
    return 0;
}
