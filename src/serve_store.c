/*
 * serve_store.c — the sender's store on db.h (see serve_store.h): the serve_* schema and
 * every query the REST API (serve_api.c) and the deliveries (serve_deliver.c, for the work
 * engine) need; the receiver's twin is receive_store.c. The SQL is PostgreSQL's dialect that SQLite
 * also runs ($n placeholders, BIGINT milliseconds, TEXT ids and JSON); PostgreSQL alone gets
 * the claim with its leases in one statement (FOR UPDATE SKIP LOCKED), a batch of outcomes
 * in one, and an event with its webhooks in one, where a round trip costs more than the rows.
 * Work functions run on the db_worker's thread inside its batch transaction; a non-zero return
 * undoes only that job's writes.
 */
#include "serve_store.h"
#include "mem.h"
#include "serve_held.h"
#include "serve_ops.h"

#include "admin_token.h"
#include "hookd.h"
#include "log.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDEMPOTENCY_KEEP_MS (25LL * 3600 * 1000) /* keys kept a little over 24 hours */

static const char *const migrations[] = {
    /* 1: the whole schema */
    "CREATE TABLE serve_destinations ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  description TEXT,"
    "  events TEXT NOT NULL,"
    "  headers TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  active BIGINT NOT NULL DEFAULT 0,"
    "  disabled_reason TEXT,"
    "  failing_since BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  deleted_at BIGINT);"
    "CREATE TABLE serve_subscriptions ("
    "  destination_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  PRIMARY KEY (destination_id, event_type));"
    "CREATE INDEX serve_subscriptions_type ON serve_subscriptions (event_type);"
    "CREATE TABLE serve_events ("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE serve_webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  event_id TEXT NOT NULL,"
    "  destination_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  attempt_count BIGINT NOT NULL DEFAULT 0,"
    "  round_attempts BIGINT NOT NULL DEFAULT 0,"
    "  next_attempt_at BIGINT,"
    "  lease_owner TEXT,"
    "  lease_until BIGINT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX serve_webhooks_due ON serve_webhooks (status, next_attempt_at);"
    "CREATE INDEX serve_webhooks_event ON serve_webhooks (event_id);"
    "CREATE INDEX serve_webhooks_destination ON serve_webhooks (destination_id, status);"
    "CREATE INDEX serve_webhooks_created ON serve_webhooks (created_at, id);"
    "CREATE INDEX serve_webhooks_lease ON serve_webhooks (lease_owner);"
    "CREATE TABLE serve_attempts ("
    "  webhook_id TEXT NOT NULL,"
    "  n BIGINT NOT NULL,"
    "  started_at BIGINT NOT NULL,"
    "  duration_ms BIGINT NOT NULL,"
    "  status_code BIGINT,"
    "  error TEXT,"
    "  response TEXT,"
    "  PRIMARY KEY (webhook_id, n));"
    "CREATE TABLE serve_idempotency ("
    "  key TEXT PRIMARY KEY,"
    "  response TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX serve_idempotency_created ON serve_idempotency (created_at);"
    "CREATE TABLE serve_settings ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);",
    /* 2: indexes for claiming per destination. serve_webhooks_ready holds exactly the
     * claimable rows (pending, no lease) by destination and due time, so a claim seeks
     * straight to a destination's oldest due webhooks and never walks past leased rows or
     * rows of destinations it is not claiming for; due and lease hold pending and leased
     * rows only. */
    "DROP INDEX IF EXISTS serve_webhooks_due;"
    "DROP INDEX IF EXISTS serve_webhooks_lease;"
    "CREATE INDEX serve_webhooks_due ON serve_webhooks (next_attempt_at) "
    "  WHERE status = 'pending';"
    "CREATE INDEX serve_webhooks_lease ON serve_webhooks (lease_until) "
    "  WHERE lease_until IS NOT NULL;"
    "CREATE INDEX serve_webhooks_ready ON serve_webhooks (destination_id, next_attempt_at) "
    "  WHERE status = 'pending' AND lease_until IS NULL;",
    /* 3: the wire format of each destination, and the previous secrets a rotation with a
     * grace keeps valid (serve_secret.h: JSON text, NULL for none). */
    "ALTER TABLE serve_destinations ADD COLUMN format TEXT NOT NULL DEFAULT 'meetbit';"
    "ALTER TABLE serve_destinations ADD COLUMN previous_secrets TEXT;",
    /* 4: accounts and access keys (SPEC §6). Every existing row moves into "default"; the
     * fan-out reads subscriptions by (account, type), so one account's destinations are
     * found without walking the others'. The stored admin token becomes the bootstrap key
     * (with --api-token, serve_store_bootstrap_key sets its digest at start). */
    "CREATE TABLE serve_accounts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "INSERT INTO serve_accounts (id, name, created_at) VALUES ('default', 'default', 0);"
    "ALTER TABLE serve_destinations ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';"
    "ALTER TABLE serve_subscriptions ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';"
    "ALTER TABLE serve_events ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';"
    "ALTER TABLE serve_webhooks ADD COLUMN account_id TEXT NOT NULL DEFAULT 'default';"
    "DROP INDEX IF EXISTS serve_subscriptions_type;"
    "CREATE INDEX serve_subscriptions_account_type ON serve_subscriptions "
    "  (account_id, event_type);"
    "CREATE INDEX serve_destinations_account ON serve_destinations (account_id, created_at);"
    "CREATE INDEX serve_webhooks_account ON serve_webhooks (account_id, created_at, id);"
    "CREATE TABLE serve_access_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  account_id TEXT,"
    "  permissions TEXT NOT NULL,"
    "  digest TEXT NOT NULL UNIQUE,"
    "  created_at BIGINT NOT NULL,"
    "  revoked_at BIGINT);"
    "INSERT INTO serve_access_keys (id, name, account_id, permissions, digest, created_at) "
    "  SELECT 'bootstrap', 'bootstrap', NULL, '[\"*\"]', value, 0 FROM serve_settings "
    "  WHERE name = 'admin_token_sha256';",
    /* 5: fewer index writes per delivery. A destination's webhooks are found by
     * (destination, created_at), not (destination, status): status changes at every
     * outcome and each change moved the row in that index; the queries that filter by both
     * (delete, recover) are rare and read one destination's range either way. */
    "DROP INDEX IF EXISTS serve_webhooks_destination;"
    "CREATE INDEX serve_webhooks_destination ON serve_webhooks (destination_id, created_at);"
    /* and each attempt keeps the answer's header lines (capped at 8 KiB; NULL before) */
    "ALTER TABLE serve_attempts ADD COLUMN response_headers TEXT;",
    /* 6: one index less to write per webhook. serve_webhooks_created served only the
     * retention purge, which now walks events by age (serve_events_created, created with
     * it) and their webhooks by event: a webhook is created with its event, at its time. */
    "DROP INDEX IF EXISTS serve_webhooks_created;",
    /* 7: no index reads a lease column, so taking a lease writes no index entry (on
     * PostgreSQL a HOT update, with the room serve_pg's fillfactor leaves on each page).
     * serve_webhooks_ready holds every pending row by destination and due time, leased or
     * not: a claim walks past the destination's leased rows (its work in flight) and takes
     * those whose lease ran out, so expired leases are found where they are claimed, at no
     * cost when there are none. serve_webhooks_lease goes: nothing seeks by lease now. */
    "DROP INDEX IF EXISTS serve_webhooks_lease;"
    "DROP INDEX IF EXISTS serve_webhooks_ready;"
    "CREATE INDEX serve_webhooks_ready ON serve_webhooks (destination_id, next_attempt_at) "
    "  WHERE status = 'pending';",
};

/* Moves each webhook whose account or time differs from its event's to the event's. */
#define SERVE_STORE_EVENT_TIME_FIX                                                                 \
    "UPDATE serve_webhooks SET created_at = (SELECT e.created_at FROM serve_events e "             \
    "  WHERE e.id = serve_webhooks.event_id), account_id = (SELECT e.account_id "                  \
    "  FROM serve_events e WHERE e.id = serve_webhooks.event_id) "                                 \
    "WHERE EXISTS (SELECT 1 FROM serve_events e WHERE e.id = serve_webhooks.event_id "             \
    "  AND (e.created_at <> serve_webhooks.created_at "                                            \
    "       OR e.account_id <> serve_webhooks.account_id));"

/* PostgreSQL alone (component serve_pg): storage settings SQLite has no words for, and data
 * fixes where its schema differs from SQLite's. */
static const char *const pg_migrations[] = {
    /* 1: room on each page for a webhook's new versions, so the claim's lease update stays
     * on the row's page (HOT: no index entry, no index to vacuum). Half a page: at 70 about
     * half the lease updates found room, at 50 96 % (docs/BENCHMARKS.md, "The sender on
     * PostgreSQL: HOT updates"). New pages only; existing ones fill as they empty. */
    "ALTER TABLE serve_webhooks SET (fillfactor = 50);",
    /* 2: an event's webhooks are in its account and at its time, as serve_store_event_insert
     * writes them and as the queries for them now say (serve_store_w_event_get, the list's
     * event filter); any row written otherwise is made to agree (serve_sqlite's migration 1
     * does the same, where it also drops the index by event). */
    SERVE_STORE_EVENT_TIME_FIX,
    /* 3: one index entry less per webhook at its insert and again at its outcome (an update
     * that cannot be HOT: its status leaves serve_webhooks_ready), now that PostgreSQL's own
     * CPU bounds the sender (docs/BENCHMARKS.md, "The sender on PostgreSQL: fewer
     * statements"): serve_sqlite's migration 1's index, (account_id, created_at, event_id,
     * id), replaces serve_webhooks_account and serve_webhooks_event, as it did on SQLite. An
     * event's webhooks are in its account and at its time (migration 2), and the queries for
     * them say so; the retention purge's form keeps its plan a probe per event
     * (serve_store_retention.c). */
    "CREATE INDEX serve_webhooks_account_event ON serve_webhooks "
    "  (account_id, created_at, event_id, id);"
    "DROP INDEX IF EXISTS serve_webhooks_account;"
    "DROP INDEX IF EXISTS serve_webhooks_event;",
};

/* SQLite alone (component serve_sqlite): indexes that only SQLite's hookd pays for. */
static const char *const sqlite_migrations[] = {
    /* 1: one index less to write per webhook. An event's webhooks are created with it, in its
     * account and at its time (serve_store_event_insert), so the account's index, with the
     * event after the time, finds them: (account_id, created_at, event_id, id) replaces
     * serve_webhooks_account (account_id, created_at, id) and serve_webhooks_event
     * (event_id), which cost ~3k instructions per webhook at ingest, its B-tree insert and
     * its WAL page (docs/BENCHMARKS.md, "B-tree work out of the sender's store"). The event
     * in the key keeps it a seek when many events share a millisecond. Any row written
     * otherwise is made to agree first, while the index to find its event is there.
     * PostgreSQL kept both until serve_pg's migration 3 (its planner, misjudging the join,
     * hashed the whole table for each retention batch; the purge's SQL now rules that out). */
    SERVE_STORE_EVENT_TIME_FIX "CREATE INDEX serve_webhooks_account_event ON serve_webhooks "
                               "  (account_id, created_at, event_id, id);"
                               "DROP INDEX IF EXISTS serve_webhooks_account;"
                               "DROP INDEX IF EXISTS serve_webhooks_event;",
};

/* The columns dest_read reads, in its order. */
#define DEST_COLS                                                                                  \
    "id, name, url, description, events, headers, active, disabled_reason, created_at, "           \
    "updated_at, secret, format, previous_secrets"
/* The columns webhook_read reads, in its order. */
#define WEBHOOK_COLS                                                                               \
    "id, event_id, destination_id, status, attempt_count, next_attempt_at, created_at, "           \
    "updated_at"

/* Runs one statement, logging the backend's message on failure. */
static int query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                 int64_t *changed)
{
    int rc = db_query(conn, sql, params, n, rows, changed);
    if (rc != 0 && rc != HOOKD_ECONFLICT)
        log_error("store", "query failed: %s", db_errmsg(conn));
    return rc;
}

int serve_store_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                      int64_t *changed)
{
    return query(conn, sql, params, n, rows, changed);
}

/* Runs an UPDATE of one live row: HOOKD_ENOTFOUND when it changed none. */
static int update_one(db *conn, const char *sql, const db_param *params, size_t n)
{
    int64_t changed = 0;
    int rc = query(conn, sql, params, n, NULL, &changed);
    if (rc == 0 && changed == 0)
        rc = HOOKD_ENOTFOUND;
    return rc;
}

/* ---- multi-row statements ---- */

#define ROW_FORMS 7 /* 1, 2, 4 … 64 rows: the powers of two a multi-row statement is cut into */

/* Appends to sql (of size size, *len used, kept below size) n rows of form, whose k-th "?"
 * becomes $<first + row × per_row + k>, separated by ", ". A character at a time, not a
 * snprintf each: row_forms_init writes some 25 KiB of it. */
static void rows_sql(char *sql, size_t size, int *len, const char *form, size_t n, size_t per_row,
                     size_t first)
{
    size_t at = (size_t)*len;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        for (const char *c = i ? ", " : ""; *c && at + 1 < size; c++)
            sql[at++] = *c;
        for (const char *c = form; *c && at + 1 < size; c++) {
            if (*c != '?') {
                sql[at++] = *c;
                continue;
            }
            char digits[24];
            size_t d = 0;
            for (size_t v = first + i * per_row + k++; d == 0 || v > 0; v /= 10)
                digits[d++] = (char)('0' + v % 10);
            if (at + 1 < size)
                sql[at++] = '$';
            while (d > 0 && at + 1 < size)
                sql[at++] = digits[--d];
        }
    }
    sql[at] = '\0';
    *len = (int)at;
}

/*
 * Fills forms (2 × ROW_FORMS texts of size bytes each: [SQLite?][log2 of the rows]) with
 * "INSERT " (and "OR FAIL " on SQLite), into, then 1, 2, 4 … rows of row (rows_sql). Built
 * once per process: the statement cache finds its prepared statement by the text, and
 * writing 64 rows of it at each call (a snprintf per character) cost more than the rows
 * saved. SQLite's INSERTs are OR FAIL: a multi-row INSERT that may abort (ON CONFLICT ABORT,
 * the default) opens a statement journal and copies each page it changes into it first, ~20
 * pages of 4 KiB per event of 10 webhooks; a failure fails the whole job, whose transaction
 * or savepoint (db_worker.c) undoes the rows written before it.
 */
static void row_forms_build(char *forms, size_t size, const char *into, const char *row,
                            size_t per_row, size_t first)
{
    for (int lite = 0; lite < 2; lite++)
        for (size_t j = 0; j < ROW_FORMS; j++) {
            char *sql = forms + ((size_t)lite * ROW_FORMS + j) * size;
            int len = snprintf(sql, size, "INSERT %s%s", lite ? "OR FAIL " : "", into);
            rows_sql(sql, size, &len, row, (size_t)1 << j, per_row, first);
        }
}

/* The form of forms (row_forms_build) for conn and n rows (a power of two). */
static const char *row_form(const char *forms, size_t size, db *conn, size_t n)
{
    size_t j = 0;
    while (((size_t)1 << j) < n)
        j++;
    return forms + ((size_t)(db_kind(conn) == DB_SQLITE) * ROW_FORMS + j) * size;
}

#define FANOUT_CHUNK 64                             /* webhook rows per INSERT at most */
#define FANOUT_SQL_SIZE (256 + FANOUT_CHUNK * 56)   /* a row: ≤ 50 bytes */
#define OUTCOME_CHUNK 64                            /* outcomes per multi-row statement at most */
#define ATTEMPT_SQL_SIZE (160 + OUTCOME_CHUNK * 56) /* a row: ≤ 50 bytes */
#define OUTCOME_ATTEMPT_PARAMS 8

static char fanout_sql[2][ROW_FORMS][FANOUT_SQL_SIZE];
static char attempt_sql[2][ROW_FORMS][ATTEMPT_SQL_SIZE];
static pthread_once_t row_forms_once = PTHREAD_ONCE_INIT;

/* The fan-out's rows: $1 the event, $2 now, $3 the account, then an id and a destination
 * per row; the attempts': OUTCOME_ATTEMPT_PARAMS per row (attempt_params). */
static void row_forms_init(void)
{
    row_forms_build(&fanout_sql[0][0][0], FANOUT_SQL_SIZE,
                    "INTO serve_webhooks (id, event_id, destination_id, status, "
                    "attempt_count, round_attempts, next_attempt_at, created_at, updated_at, "
                    "account_id) VALUES ",
                    "(?, $1, ?, 'pending', 0, 0, $2, $2, $2, $3)", 2, 4);
    row_forms_build(&attempt_sql[0][0][0], ATTEMPT_SQL_SIZE,
                    "INTO serve_attempts (webhook_id, n, started_at, duration_ms, "
                    "status_code, error, response, response_headers) VALUES ",
                    "(?, ?, ?, ?, ?, ?, ?, ?)", OUTCOME_ATTEMPT_PARAMS, 1);
}

/* ---- startup ---- */

const char *const *serve_store_migrations(size_t *count)
{
    *count = sizeof migrations / sizeof migrations[0];
    return migrations;
}

int serve_store_migrate(db *conn)
{
    int rc = db_migrate(conn, "serve", migrations, sizeof migrations / sizeof migrations[0]);
    if (rc == 0 && db_kind(conn) == DB_POSTGRES)
        rc = db_migrate(conn, "serve_pg", pg_migrations,
                        sizeof pg_migrations / sizeof pg_migrations[0]);
    if (rc == 0 && db_kind(conn) == DB_SQLITE)
        rc = db_migrate(conn, "serve_sqlite", sqlite_migrations,
                        sizeof sqlite_migrations / sizeof sqlite_migrations[0]);
    if (rc == 0)
        rc = serve_ops_migrate(conn);
    /* The sender's statements keep their plans (PostgreSQL's default, plan_cache_mode=auto)
     * rather than db_pg.c's force_custom_plan, which the receiver's claim and insert need:
     * here each is a seek by key whose generic plan is the custom one, and planning it at
     * every execution was 29 % of the backend's CPU (perf) and ~150 of its ~400 µs per
     * delivery (docs/BENCHMARKS.md, "Sender on PostgreSQL"). Kept across reconnects. */
    if (rc == 0)
        rc = db_keep_plans(conn);
    return rc;
}

int serve_store_admin_token(db *conn, unsigned char digest[32], char *generated, size_t genlen,
                            bool *was_generated)
{
    return admin_token_load(conn, "serve_settings", digest, generated, genlen, was_generated);
}

int serve_store_bootstrap_key(db *conn, const unsigned char digest[32])
{
    char hex[65];
    hookd_hex_encode(digest, 32, hex);
    db_param p[] = {DB_S(hex)};
    return query(conn,
                 "INSERT INTO serve_access_keys (id, name, account_id, permissions, digest, "
                 "created_at) VALUES ('bootstrap', 'bootstrap', NULL, '[\"*\"]', $1, 0) "
                 "ON CONFLICT (id) DO UPDATE SET digest = excluded.digest",
                 p, 1, NULL, NULL);
}

int serve_store_release(db *conn, const char *prefix, int64_t *released)
{
    /* An exact prefix, not LIKE: SQLite's LIKE ignores case, and '_' would be a wildcard.
     * Only pending rows hold leases (every other status is written with the lease cleared),
     * and they are what serve_webhooks_due holds: no index has the lease (migration 7), so
     * this and serve_store_extend walk the pending rows, at start, stop and lease renewal. */
    db_param p[] = {DB_S(prefix), DB_I((int64_t)strlen(prefix))};
    return query(conn,
                 "UPDATE serve_webhooks SET lease_owner = NULL, lease_until = NULL "
                 "WHERE status = 'pending' AND lease_until IS NOT NULL "
                 "AND substr(lease_owner, 1, $2) = $1",
                 p, 2, NULL, released);
}

int serve_store_extend(db *conn, const char *owner, int64_t lease_until, int64_t *extended)
{
    db_param p[] = {DB_I(lease_until), DB_S(owner)};
    return query(conn,
                 "UPDATE serve_webhooks SET lease_until = $1 "
                 "WHERE lease_owner = $2 AND lease_until IS NOT NULL AND status = 'pending'",
                 p, 2, NULL, extended);
}

/* ---- requests ---- */

const char *const serve_store_statuses[SERVE_STORE_STATUS_COUNT] = {"pending", "succeeded",
                                                                    "failed", "cancelled"};

serve_store_request *serve_store_request_new(int64_t now)
{
    serve_store_request *r = xcalloc(1, sizeof *r);
    r->now = now;
    r->until = INT64_MAX; /* recover: no upper bound unless the caller sets one */
    r->account = xstrdup("default");
    return r;
}

static void destination_clear(serve_store_destination *d)
{
    free(d->id);
    free(d->name);
    free(d->url);
    free(d->description);
    free(d->events_json);
    free(d->headers_json);
    free(d->disabled_reason);
    free(d->format);
    free(d->secret);
    serve_secret_list_free(d->previous, d->previous_count);
    memset(d, 0, sizeof *d);
}

static void webhook_clear(serve_store_webhook *w)
{
    free(w->id);
    free(w->event_id);
    free(w->destination_id);
    free(w->status);
    memset(w, 0, sizeof *w);
}

/* Frees the outputs of r (its inputs stay). */
static void request_outputs_free(serve_store_request *r)
{
    destination_clear(&r->destination);
    for (size_t i = 0; i < r->destination_count; i++)
        destination_clear(&r->destinations[i]);
    free(r->destinations);
    free(r->event.id);
    free(r->event.type);
    free(r->event.body);
    for (size_t i = 0; i < r->event_count; i++) {
        free(r->events[i].id);
        free(r->events[i].type);
        free(r->events[i].body);
    }
    free(r->events);
    webhook_clear(&r->webhook);
    for (size_t i = 0; i < r->webhook_count; i++)
        webhook_clear(&r->webhooks[i]);
    free(r->webhooks);
    for (size_t i = 0; i < r->attempt_count; i++) {
        free(r->attempts[i].rec.error);
        free(r->attempts[i].response);
        free(r->attempts[i].response_headers);
    }
    free(r->attempts);
    free(r->next);
    free(r->result_text);
    serve_store_access_outputs_free(r);
}

void serve_store_request_free(serve_store_request *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->name);
    free(r->url);
    free(r->description);
    free(r->events_json);
    free(r->headers_json);
    free(r->format);
    free(r->event_type);
    free(r->body);
    free(r->idempotency_key);
    free(r->filter_event_id);
    free(r->filter_destination_id);
    free(r->filter_status);
    free(r->after);
    free(r->account);
    free(r->digest);
    free(r->key_account);
    free(r->permissions);
    request_outputs_free(r);
    free(r);
}

void serve_store_request_reset(serve_store_request *r)
{
    request_outputs_free(r);
    memset(&r->destination, 0, sizeof *r - offsetof(serve_store_request, destination));
}

/* Fills d from the current row (DEST_COLS), with the secrets when asked (every previous one
 * stored: the caller drops those past their grace, dest_secrets). */
static void dest_read(db_rows *rows, bool with_secret, serve_store_destination *d)
{
    d->id = db_rows_strdup(rows, 0);
    d->name = db_rows_strdup(rows, 1);
    d->url = db_rows_strdup(rows, 2);
    d->description = db_rows_strdup(rows, 3);
    d->events_json = db_rows_strdup(rows, 4);
    d->headers_json = db_rows_strdup(rows, 5);
    d->active = db_rows_int(rows, 6) != 0;
    d->disabled_reason = db_rows_strdup(rows, 7);
    d->created_at = db_rows_int(rows, 8);
    d->updated_at = db_rows_int(rows, 9);
    d->format = db_rows_strdup(rows, 11);
    d->secret = with_secret ? db_rows_strdup(rows, 10) : NULL;
    d->previous = NULL;
    d->previous_count = 0;
    if (with_secret)
        serve_secret_parse(db_rows_text(rows, 12, NULL), INT64_MIN, &d->previous,
                           &d->previous_count);
}

/* The row of sql (its $1: r->id, its $2: r->account, so another account's object is not
 * found) into *rows, positioned on it. HOOKD_ENOTFOUND when there is none. */
static int owned_row(db *conn, const char *sql, const serve_store_request *r, db_rows **rows)
{
    db_param p[] = {DB_S(r->id), DB_S(r->account)};
    return db_rows_first(query(conn, sql, p, 2, rows, NULL), rows);
}

/* Reads the live destination id into *out (cleared first). HOOKD_ENOTFOUND when it does
 * not exist. */
static int dest_load(db *conn, const serve_store_request *r, bool with_secret,
                     serve_store_destination *out)
{
    db_rows *rows = NULL;
    int rc = owned_row(conn,
                       "SELECT " DEST_COLS " FROM serve_destinations "
                       "WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
                       r, &rows);
    if (rc != 0)
        return rc;
    destination_clear(out);
    dest_read(rows, with_secret, out);
    db_rows_free(rows);
    return 0;
}

/* Reads the live destination id with its secret and the previous ones still valid at now. */
static int dest_secrets(db *conn, const serve_store_request *r, serve_store_destination *out)
{
    int rc = dest_load(conn, r, true, out);
    if (rc == 0)
        serve_secret_prune(out->previous, &out->previous_count, r->now);
    return rc;
}

/* Replaces the subscriptions of destination id by the types of events_json. */
static int subscriptions_set(db *conn, const char *id, const char *account, const char *events_json)
{
    db_param p[3] = {DB_S(id), DB_S(""), DB_S(account)};
    int rc =
        query(conn, "DELETE FROM serve_subscriptions WHERE destination_id = $1", p, 1, NULL, NULL);
    if (rc != 0 || !events_json)
        return rc;
    json_t *events = json_loads(events_json, 0, NULL);
    if (!json_is_array(events)) {
        json_decref(events);
        return HOOKD_EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(events, i, v)
    {
        if (!json_is_string(v))
            continue;
        p[1] = DB_S(json_string_value(v));
        rc = query(conn,
                   "INSERT INTO serve_subscriptions (destination_id, event_type, account_id) "
                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                   p, 3, NULL, NULL);
        if (rc != 0)
            break;
    }
    json_decref(events);
    return rc;
}

int serve_store_w_destination_create(db *conn, void *arg)
{
    serve_store_request *r = arg;
    char id[HOOKD_ID_LEN + 1], secret[SERVE_SECRET_SIZE];
    const char *format = r->format ? r->format : SERVE_FORMAT_MEETBIT;
    int rc = hookd_id_new(id);
    if (rc == 0)
        rc = serve_secret_new(format, secret);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_S(id),
                    DB_S(r->name),
                    DB_S(r->url),
                    DB_SOPT(r->description),
                    DB_S(r->events_json ? r->events_json : "[]"),
                    DB_S(r->headers_json ? r->headers_json : "{}"),
                    DB_S(secret),
                    DB_I(r->now),
                    DB_S(format),
                    DB_S(r->account)};
    rc = query(conn,
               "INSERT INTO serve_destinations (id, name, url, description, events, headers, "
               "secret, active, created_at, updated_at, format, account_id) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $9, $10)",
               p, 10, NULL, NULL);
    if (rc == 0)
        rc = subscriptions_set(conn, id, r->account, r->events_json);
    if (rc == 0) {
        free(r->id);
        r->id = xstrdup(id);
        rc = dest_secrets(conn, r, &r->destination);
    }
    return rc;
}

int serve_store_w_destination_list(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->account)};
    int rc = query(conn,
                   "SELECT " DEST_COLS " FROM serve_destinations WHERE account_id = $1 "
                   "AND deleted_at IS NULL ORDER BY created_at, id",
                   p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        r->destinations =
            xgrow(r->destinations, r->destination_count, &cap, sizeof *r->destinations);
        serve_store_destination *d = &r->destinations[r->destination_count++];
        dest_read(rows, false, d);
    }
    db_rows_free(rows);
    return 0;
}

int serve_store_w_destination_get(db *conn, void *arg)
{
    serve_store_request *r = arg;
    return dest_load(conn, r, false, &r->destination);
}

int serve_store_w_destination_update(db *conn, void *arg)
{
    serve_store_request *r = arg;
    char sql[512];
    db_param p[10];
    size_t n = 0;
    int len = snprintf(sql, sizeof sql, "UPDATE serve_destinations SET updated_at = $1");
    p[n++] = DB_I(r->now);
    struct {
        unsigned flag;
        const char *column;
        const char *value;
    } sets[] = {
        {SERVE_STORE_F_NAME, "name", r->name},
        {SERVE_STORE_F_URL, "url", r->url},
        {SERVE_STORE_F_DESCRIPTION, "description", r->description},
        {SERVE_STORE_F_EVENTS, "events", r->events_json},
        {SERVE_STORE_F_HEADERS, "headers", r->headers_json},
        {SERVE_STORE_F_FORMAT, "format", r->format},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!(r->fields & sets[i].flag))
            continue;
        p[n] = DB_SOPT(sets[i].value);
        n++;
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", %s = $%zu", sets[i].column, n);
    }
    p[n] = DB_S(r->id);
    p[n + 1] = DB_S(r->account);
    n += 2;
    snprintf(sql + len, sizeof sql - (size_t)len,
             " WHERE id = $%zu AND account_id = $%zu AND deleted_at IS NULL", n - 1, n);
    int rc = update_one(conn, sql, p, n);
    if (rc != 0)
        return rc;
    if (r->fields & SERVE_STORE_F_EVENTS) {
        rc = subscriptions_set(conn, r->id, r->account, r->events_json);
        if (rc != 0)
            return rc;
    }
    return dest_load(conn, r, false, &r->destination);
}

int serve_store_w_destination_delete(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_param p[] = {DB_S(r->id), DB_I(r->now), DB_S(r->account)};
    int rc =
        update_one(conn,
                   "UPDATE serve_destinations SET deleted_at = $2, active = 0, updated_at = $2 "
                   "WHERE id = $1 AND account_id = $3 AND deleted_at IS NULL",
                   p, 3);
    if (rc != 0)
        return rc;
    rc = query(conn,
               "UPDATE serve_webhooks SET status = 'cancelled', next_attempt_at = NULL, "
               "lease_owner = NULL, lease_until = NULL, updated_at = $2 "
               "WHERE destination_id = $1 AND status = 'pending'",
               p, 2, NULL, &r->count);
    if (rc != 0)
        return rc;
    return subscriptions_set(conn, r->id, r->account, NULL);
}

int serve_store_w_destination_set_active(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_param p[] = {DB_S(r->id), DB_I(r->now), DB_S(r->account)};
    int rc =
        update_one(conn,
                   r->active ? "UPDATE serve_destinations SET active = 1, disabled_reason = NULL, "
                               "failing_since = NULL, updated_at = $2 "
                               "WHERE id = $1 AND account_id = $3 AND deleted_at IS NULL"
                             : "UPDATE serve_destinations SET active = 0, updated_at = $2 "
                               "WHERE id = $1 AND account_id = $3 AND deleted_at IS NULL",
                   p, 3);
    if (rc != 0)
        return rc;
    if (r->active) {
        /* Its pending webhooks become claimable: wake the other nodes. */
        rc = db_notify(conn, SERVE_STORE_NOTIFY_CHANNEL);
        if (rc != 0)
            return rc;
    }
    return dest_load(conn, r, false, &r->destination);
}

int serve_store_w_destination_secret(db *conn, void *arg)
{
    serve_store_request *r = arg;
    return dest_secrets(conn, r, &r->destination);
}

int serve_store_w_destination_rotate(db *conn, void *arg)
{
    serve_store_request *r = arg;
    serve_store_destination current = {0};
    int rc = dest_secrets(conn, r, &current);
    char secret[SERVE_SECRET_SIZE];
    if (rc == 0)
        rc = serve_secret_new(current.format, secret);
    if (rc != 0) {
        destination_clear(&current);
        return rc;
    }
    char *previous = serve_secret_rotated(current.secret, current.previous, current.previous_count,
                                          r->now, r->grace_ms);
    /* The old secret in the WHERE: a rotation that committed meanwhile (another node) is
     * not silently overwritten, its secret dropped from the grace list. */
    db_param p[] = {DB_S(r->id), DB_S(secret), DB_I(r->now), DB_SOPT(previous),
                    DB_S(current.secret)};
    int64_t changed = 0;
    rc = query(conn,
               "UPDATE serve_destinations SET secret = $2, previous_secrets = $4, updated_at = $3 "
               "WHERE id = $1 AND deleted_at IS NULL AND secret = $5",
               p, 5, NULL, &changed);
    free(previous);
    destination_clear(&current);
    if (rc != 0)
        return rc;
    if (changed == 0) {
        snprintf(r->why, sizeof r->why, "the secret was rotated meanwhile; try again");
        return HOOKD_ECONFLICT;
    }
    return dest_secrets(conn, r, &r->destination);
}

int serve_store_w_destination_recover(db *conn, void *arg)
{
    serve_store_request *r = arg;
    int rc = dest_load(conn, r, false, &r->destination);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_S(r->id), DB_I(r->since), DB_I(r->now), DB_I(r->until)};
    rc = query(conn,
               "UPDATE serve_webhooks SET status = 'pending', round_attempts = 0, "
               "next_attempt_at = $3, lease_owner = NULL, lease_until = NULL, updated_at = $3 "
               "WHERE destination_id = $1 AND status = 'failed' AND created_at >= $2 "
               "AND created_at < $4",
               p, 4, NULL, &r->count);
    if (rc == 0 && r->count > 0)
        rc = db_notify(conn, SERVE_STORE_NOTIFY_CHANNEL);
    return rc;
}

/* ---- events ---- */

int serve_store_event_replay(db *conn, serve_store_request *r)
{
    if (!r->idempotency_key)
        return 0;
    db_param k[] = {DB_S(r->idempotency_key), DB_I(r->now - IDEMPOTENCY_KEEP_MS)};
    int rc =
        query(conn, "DELETE FROM serve_idempotency WHERE created_at < $1", &k[1], 1, NULL, NULL);
    if (rc != 0)
        return rc;
    db_rows *rows = NULL;
    rc = query(conn, "SELECT response FROM serve_idempotency WHERE key = $1", k, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    if (db_rows_next(rows)) {
        r->result_text = db_rows_strdup(rows, 0);
        r->replayed = true;
    }
    db_rows_free(rows);
    return 0;
}

/* The ids of the active destinations subscribed to type, oldest first: *ids gets *count
 * malloc'd strings in a malloc'd array. */
static int subscribers(db *conn, const char *account, const char *type, char ***ids, size_t *count)
{
    db_rows *rows = NULL;
    db_param t[] = {DB_S(type), DB_S(account)};
    int rc = query(conn,
                   "SELECT d.id FROM serve_subscriptions s "
                   "JOIN serve_destinations d ON d.id = s.destination_id "
                   "WHERE s.account_id = $2 AND s.event_type = $1 AND d.account_id = $2 "
                   "AND d.active = 1 AND d.deleted_at IS NULL "
                   "ORDER BY d.created_at, d.id",
                   t, 2, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        *ids = xgrow(*ids, *count, &cap, sizeof **ids);
        (*ids)[(*count)++] = db_rows_strdup(rows, 0);
    }
    db_rows_free(rows);
    return 0;
}

/* Inserts r->webhooks[from .. from + n) in one statement (fanout_sql: n is a power of two
 * ≤ FANOUT_CHUNK). */
static int webhooks_insert_rows(db *conn, const serve_store_request *r, size_t from, size_t n)
{
    if (pthread_once(&row_forms_once, row_forms_init) != 0)
        return HOOKD_ESTORE;
    db_param p[3 + 2 * FANOUT_CHUNK] = {DB_S(r->event.id), DB_I(r->now), DB_S(r->account)};
    for (size_t i = 0; i < n; i++) {
        p[3 + 2 * i] = DB_S(r->webhooks[from + i].id);
        p[4 + 2 * i] = DB_S(r->webhooks[from + i].destination_id);
    }
    return query(conn, row_form(&fanout_sql[0][0][0], FANOUT_SQL_SIZE, conn, n), p, 3 + 2 * n, NULL,
                 NULL);
}

/* Fills r->webhooks with one pending webhook of the event for each destination in ids
 * (taking the id strings), each with a new id. */
static int webhooks_new(serve_store_request *r, char **ids, size_t count)
{
    int rc = 0;
    r->webhooks = xcalloc(count, sizeof *r->webhooks);
    for (size_t i = 0; i < count; i++) {
        serve_store_webhook *w = &r->webhooks[r->webhook_count++];
        w->destination_id = ids[i];
        ids[i] = NULL; /* taken: the caller frees none twice */
        w->id = xcalloc(1, HOOKD_ID_LEN + 1);
        w->event_id = xstrdup(r->event.id);
        w->status = xstrdup("pending");
        w->next_attempt_at = w->created_at = w->updated_at = r->now;
        if (rc == 0)
            rc = hookd_id_new_v7(r->now, w->id);
    }
    return rc;
}

/* Inserts r->webhooks: a few multi-row INSERTs, not one per webhook. */
static int webhooks_insert(db *conn, serve_store_request *r)
{
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < r->webhook_count;) {
        size_t n = FANOUT_CHUNK;
        while (n > r->webhook_count - done)
            n /= 2;
        rc = webhooks_insert_rows(conn, r, done, n);
        done += n;
    }
    return rc;
}

/* A PostgreSQL text array literal (xmalloc'd) of the ids of w[0..count), or of their
 * destinations' ids: ids made by hookd_id_new, with no quote or backslash to escape. */
static char *pg_array(const serve_store_webhook *w, size_t count, bool destination)
{
    size_t size = 3 + count * (HOOKD_ID_LEN + 4);
    for (size_t i = 0; destination && i < count; i++)
        size += strlen(w[i].destination_id);
    char *text = xmalloc(size);
    size_t at = 0;
    text[at++] = '{';
    for (size_t i = 0; i < count; i++)
        at += (size_t)snprintf(text + at, size - at, "%s\"%s\"", i ? "," : "",
                               destination ? w[i].destination_id : w[i].id);
    snprintf(text + at, size - at, "}");
    return text;
}

/*
 * PostgreSQL: the event, its webhooks (r->webhooks, from two arrays: one statement whatever
 * their number, and no plan to choose) and the notification to the idle nodes, in one
 * statement instead of one per piece of each (each statement costs the server its round
 * trip; docs/BENCHMARKS.md, "The sender on PostgreSQL: fewer statements").
 */
static int event_insert_pg(db *conn, serve_store_request *r)
{
    char *ids = pg_array(r->webhooks, r->webhook_count, false);
    char *dests = pg_array(r->webhooks, r->webhook_count, true);
    db_param p[] = {DB_S(r->event.id), DB_S(r->event_type), DB_SN(r->body, r->body_len),
                    DB_I(r->now),      DB_S(r->account),    DB_S(ids),
                    DB_S(dests)};
    int rc = query(conn,
                   "WITH e AS (INSERT INTO serve_events (id, type, body, created_at, account_id) "
                   "VALUES ($1, $2, $3, $4, $5)), w AS (INSERT INTO serve_webhooks (id, "
                   "event_id, destination_id, status, attempt_count, round_attempts, "
                   "next_attempt_at, created_at, updated_at, account_id) SELECT "
                   "unnest($6::text[]), $1, unnest($7::text[]), 'pending', 0, 0, $4, $4, $4, $5) "
                   "SELECT pg_notify('" SERVE_STORE_NOTIFY_CHANNEL "', '')",
                   p, 7, NULL, NULL);
    free(ids);
    free(dests);
    return rc;
}

int serve_store_event_insert(db *conn, serve_store_request *r)
{
    r->event.id = xcalloc(1, HOOKD_ID_LEN + 1);
    r->event.type = xstrdup(r->event_type);
    r->event.created_at = r->now;
    int rc = hookd_id_new_v7(r->now, r->event.id);
    if (rc != 0)
        return rc;
    /* The subscribed active destinations, read whole before writing. */
    char **ids = NULL;
    size_t count = 0;
    rc = subscribers(conn, r->account, r->event_type, &ids, &count);
    if (rc == 0 && count > 0)
        rc = webhooks_new(r, ids, count);
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    if (rc != 0)
        return rc;
    r->count = (int64_t)r->webhook_count;
    if (r->count > 0 && db_kind(conn) == DB_POSTGRES)
        return event_insert_pg(conn, r);
    db_param e[] = {DB_S(r->event.id), DB_S(r->event_type), DB_SN(r->body, r->body_len),
                    DB_I(r->now), DB_S(r->account)};
    rc = query(conn,
               "INSERT INTO serve_events (id, type, body, created_at, account_id) "
               "VALUES ($1, $2, $3, $4, $5)",
               e, 5, NULL, NULL);
    if (rc == 0 && r->count > 0)
        rc = webhooks_insert(conn, r);
    /* Idle nodes claim at once when this commits (one notification per transaction). */
    return rc == 0 && r->count > 0 ? db_notify(conn, SERVE_STORE_NOTIFY_CHANNEL) : rc;
}

int serve_store_event_remember(db *conn, serve_store_request *r)
{
    if (!r->idempotency_key)
        return 0;
    db_param k[] = {DB_S(r->idempotency_key), DB_S(r->result_text), DB_I(r->now)};
    int rc = query(conn,
                   "INSERT INTO serve_idempotency (key, response, created_at) "
                   "VALUES ($1, $2, $3)",
                   k, 3, NULL, NULL);
    if (rc == HOOKD_ECONFLICT)
        snprintf(r->why, sizeof r->why, "a request with this Idempotency-Key is being processed");
    return rc;
}

/* Fills w from the current row (WEBHOOK_COLS). */
static void webhook_read(db_rows *rows, serve_store_webhook *w)
{
    w->id = db_rows_strdup(rows, 0);
    w->event_id = db_rows_strdup(rows, 1);
    w->destination_id = db_rows_strdup(rows, 2);
    w->status = db_rows_strdup(rows, 3);
    w->attempt_count = db_rows_int(rows, 4);
    w->next_attempt_at = db_rows_int_or(rows, 5, -1);
    w->created_at = db_rows_int(rows, 6);
    w->updated_at = db_rows_int(rows, 7);
}

/* Reads every row (WEBHOOK_COLS) into r->webhooks, at most max of them (0: all); *more is
 * set when a row was left. */
static void webhooks_read(db_rows *rows, serve_store_request *r, size_t max, bool *more)
{
    size_t cap = 0;
    *more = false;
    while (db_rows_next(rows)) {
        if (max && r->webhook_count == max) {
            *more = true;
            break;
        }
        r->webhooks = xgrow(r->webhooks, r->webhook_count, &cap, sizeof *r->webhooks);
        webhook_read(rows, &r->webhooks[r->webhook_count++]);
    }
}

int serve_store_w_event_get(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    int rc = owned_row(conn,
                       "SELECT id, type, body, created_at FROM serve_events "
                       "WHERE id = $1 AND account_id = $2",
                       r, &rows);
    if (rc != 0)
        return rc;
    r->event.id = db_rows_strdup(rows, 0);
    r->event.type = db_rows_strdup(rows, 1);
    const char *body = db_rows_text(rows, 2, &r->event.body_len);
    r->event.body = xstrndup(body, r->event.body_len);
    r->event.created_at = db_rows_int(rows, 3);
    db_rows_free(rows);
    /* its webhooks: in its account and at its time (serve_sqlite's migration 1) */
    db_param p[] = {DB_S(r->event.id), DB_S(r->account), DB_I(r->event.created_at)};
    rc = query(conn,
               "SELECT " WEBHOOK_COLS " FROM serve_webhooks WHERE account_id = $2 "
               "AND created_at = $3 AND event_id = $1 ORDER BY created_at, id",
               p, 3, &rows, NULL);
    if (rc != 0)
        return rc;
    bool more;
    webhooks_read(rows, r, 0, &more);
    db_rows_free(rows);
    return 0;
}

int serve_store_w_event_list(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->account), DB_I(r->limit)};
    int rc = query(conn,
                   "SELECT id, type, body, created_at FROM serve_events WHERE account_id = $1 "
                   "ORDER BY created_at DESC, id DESC LIMIT $2",
                   p, 2, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        r->events = xgrow(r->events, r->event_count, &cap, sizeof *r->events);
        serve_store_event *e = &r->events[r->event_count++];
        e->id = db_rows_strdup(rows, 0);
        e->type = db_rows_strdup(rows, 1);
        const char *body = db_rows_text(rows, 2, &e->body_len);
        e->body = xstrndup(body, e->body_len);
        e->created_at = db_rows_int(rows, 3);
    }
    db_rows_free(rows);
    return 0;
}

/* ---- webhooks ---- */

/* Appends " AND …" for each filter and the cursor of r to sql (len bytes used), with their
 * parameters at p[*n…]. event_at: the time of the filter's event (its webhooks are all at it,
 * serve_sqlite's migration 1), which makes the list a seek by (account_id, created_at,
 * event_id); the cursor is then written on id alone, as a range on created_at next to the
 * equality made SQLite walk the account's later rows. *empty is set when no row can
 * match. HOOKD_EINVAL for a malformed cursor. */
static int webhook_list_where(const serve_store_request *r, int64_t event_at, char *sql,
                              size_t size, int *len, db_param *p, size_t *n, char *after_id,
                              bool *empty)
{
    const struct {
        const char *column;
        const char *value;
    } filters[] = {
        {"event_id", r->filter_event_id},
        {"destination_id", r->filter_destination_id},
        {"status", r->filter_status},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (!filters[i].value)
            continue;
        p[(*n)++] = DB_S(filters[i].value);
        *len += snprintf(sql + *len, size - (size_t)*len, " AND %s = $%zu", filters[i].column, *n);
    }
    if (r->filter_event_id) {
        p[(*n)++] = DB_I(event_at);
        *len += snprintf(sql + *len, size - (size_t)*len, " AND created_at = $%zu", *n);
    }
    if (!r->after)
        return 0;
    /* cursor: "<created_at ms>.<id>" */
    char *end = NULL;
    long long created = strtoll(r->after, &end, 10);
    if (!end || *end != '.' || strlen(end + 1) != HOOKD_ID_LEN || !hookd_id_valid(end + 1))
        return HOOKD_EINVAL;
    memcpy(after_id, end + 1, HOOKD_ID_LEN + 1);
    if (r->filter_event_id) {
        *empty = created > event_at;
        if (created == event_at) {
            p[(*n)++] = DB_S(after_id);
            *len += snprintf(sql + *len, size - (size_t)*len, " AND id > $%zu", *n);
        }
        return 0; /* before the event's time: every one of its webhooks is after the cursor */
    }
    p[*n] = DB_I(created);
    p[*n + 1] = DB_S(after_id);
    *len += snprintf(sql + *len, size - (size_t)*len,
                     " AND (created_at > $%zu OR (created_at = $%zu AND id > $%zu))", *n + 1,
                     *n + 1, *n + 2);
    *n += 2;
    return 0;
}

/* The time of the event id (*at), or *found false when there is none. */
static int event_time(db *conn, const char *id, int64_t *at, bool *found)
{
    db_rows *rows = NULL;
    db_param p[] = {DB_S(id)};
    int rc = query(conn, "SELECT created_at FROM serve_events WHERE id = $1", p, 1, &rows, NULL);
    *found = rc == 0 && db_rows_next(rows);
    if (*found)
        *at = db_rows_int(rows, 0);
    db_rows_free(rows);
    return rc;
}

int serve_store_w_webhook_list(db *conn, void *arg)
{
    serve_store_request *r = arg;
    char sql[768];
    db_param p[8];
    size_t n = 0;
    char after_id[HOOKD_ID_LEN + 1];
    int64_t event_at = 0;
    bool found = true, empty = false;
    int rc = r->filter_event_id ? event_time(conn, r->filter_event_id, &event_at, &found) : 0;
    if (rc != 0)
        return rc;
    p[n++] = DB_S(r->account);
    /* One destination's: its index is the one to walk. On SQLite the account's scope is then
     * written so that no index serves it: without statistics it took the account's index
     * (serve_sqlite's migration 1) and would have read all the account's webhooks. */
    bool by_dest = r->filter_destination_id && db_kind(conn) == DB_SQLITE;
    int len = snprintf(sql, sizeof sql, "SELECT " WEBHOOK_COLS " FROM serve_webhooks WHERE %s = $1",
                       by_dest ? "account_id || ''" : "account_id");
    rc = webhook_list_where(r, event_at, sql, sizeof sql, &len, p, &n, after_id, &empty);
    if (rc != 0 || !found || empty)
        return rc;             /* no such event, or past its last webhook: an empty page */
    p[n] = DB_I(r->limit + 1); /* one more than asked: whether there is a next page */
    n++;
    snprintf(sql + len, sizeof sql - (size_t)len, " ORDER BY created_at%s, id%s LIMIT $%zu",
             r->newest_first ? " DESC" : "", r->newest_first ? " DESC" : "", n);
    db_rows *rows = NULL;
    rc = query(conn, sql, p, n, &rows, NULL);
    if (rc != 0)
        return rc;
    bool more = false;
    webhooks_read(rows, r, (size_t)r->limit, &more);
    more = more && !r->newest_first; /* one page only: a cursor goes forward in time */
    db_rows_free(rows);
    if (more && r->webhook_count > 0) {
        const serve_store_webhook *last = &r->webhooks[r->webhook_count - 1];
        char cursor[64];
        snprintf(cursor, sizeof cursor, "%" PRId64 ".%s", last->created_at, last->id);
        r->next = xstrdup(cursor);
    }
    return 0;
}

/* Reads webhook id into *out (without attempts). */
static int webhook_load(db *conn, const serve_store_request *r, serve_store_webhook *out)
{
    db_rows *rows = NULL;
    int rc = owned_row(
        conn, "SELECT " WEBHOOK_COLS " FROM serve_webhooks WHERE id = $1 AND account_id = $2", r,
        &rows);
    if (rc != 0)
        return rc;
    webhook_clear(out);
    webhook_read(rows, out);
    db_rows_free(rows);
    return 0;
}

int serve_store_w_webhook_get(db *conn, void *arg)
{
    serve_store_request *r = arg;
    int rc = webhook_load(conn, r, &r->webhook);
    if (rc != 0)
        return rc;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->id)};
    rc = query(conn,
               "SELECT n, started_at, duration_ms, status_code, error, response, "
               "response_headers FROM serve_attempts WHERE webhook_id = $1 ORDER BY n",
               p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        r->attempts = xgrow(r->attempts, r->attempt_count, &cap, sizeof *r->attempts);
        serve_store_attempt *a = &r->attempts[r->attempt_count++];
        a->rec.n = db_rows_int(rows, 0);
        a->rec.started_at = db_rows_int(rows, 1);
        a->rec.duration_ms = db_rows_int(rows, 2);
        a->status_code = db_rows_int_or(rows, 3, -1);
        a->rec.error = db_rows_strdup(rows, 4);
        a->response = db_rows_strdup(rows, 5);
        a->response_headers = db_rows_strdup(rows, 6);
    }
    db_rows_free(rows);
    return 0;
}

int serve_store_w_webhook_retry(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->id), DB_I(r->now)};
    int rc = owned_row(conn,
                       "SELECT w.status, d.deleted_at FROM serve_webhooks w "
                       "JOIN serve_destinations d ON d.id = w.destination_id "
                       "WHERE w.id = $1 AND w.account_id = $2",
                       r, &rows);
    if (rc != 0)
        return rc;
    char status[32];
    snprintf(status, sizeof status, "%s", db_rows_text(rows, 0, NULL));
    bool deleted = !db_rows_null(rows, 1);
    db_rows_free(rows);
    if (deleted) {
        snprintf(r->why, sizeof r->why, "the webhook's destination was deleted");
        return HOOKD_ECONFLICT;
    }
    if (strcmp(status, "failed") != 0 && strcmp(status, "succeeded") != 0) {
        snprintf(r->why, sizeof r->why,
                 "the webhook is %s; only a failed or succeeded webhook "
                 "can be retried",
                 status);
        return HOOKD_ECONFLICT;
    }
    /* The state is tested again by the UPDATE: another node may have retried it since the
     * SELECT, and a claimer may already hold its lease (PostgreSQL re-reads the row). */
    int64_t changed = 0;
    rc = query(conn,
               "UPDATE serve_webhooks SET status = 'pending', round_attempts = 0, "
               "next_attempt_at = $2, lease_owner = NULL, lease_until = NULL, updated_at = $2 "
               "WHERE id = $1 AND status IN ('failed', 'succeeded')",
               p, 2, NULL, &changed);
    if (rc != 0)
        return rc;
    if (changed == 0) {
        snprintf(r->why, sizeof r->why,
                 "the webhook is pending; only a failed or succeeded "
                 "webhook can be retried");
        return HOOKD_ECONFLICT;
    }
    rc = db_notify(conn, SERVE_STORE_NOTIFY_CHANNEL);
    if (rc != 0)
        return rc;
    return webhook_load(conn, r, &r->webhook);
}

/* The stats of account (the last row of r->account_stats when it is that account's, else
 * a new row: the query returns each account's rows together). */
static serve_store_account_stats *account_stats_row(serve_store_request *r, const char *account,
                                                    size_t *cap)
{
    if (r->account_stats_count > 0 &&
        strcmp(r->account_stats[r->account_stats_count - 1].account, account) == 0)
        return &r->account_stats[r->account_stats_count - 1];
    r->account_stats =
        xgrow(r->account_stats, r->account_stats_count, cap, sizeof *r->account_stats);
    serve_store_account_stats *st = &r->account_stats[r->account_stats_count++];
    memset(st, 0, sizeof *st);
    st->account = xstrdup(account);
    return st;
}

/* Webhooks by status and attempts made, per account (ordered by account) and in all. */
static int stats_by_account(db *conn, serve_store_request *r)
{
    db_rows *rows = NULL;
    int rc = query(conn,
                   "SELECT account_id, status, COUNT(*), SUM(attempt_count) FROM serve_webhooks "
                   "GROUP BY account_id, status ORDER BY account_id",
                   NULL, 0, &rows, NULL);
    if (rc != 0)
        return rc;
    memset(r->by_status, 0, sizeof r->by_status);
    size_t cap = 0;
    while (db_rows_next(rows)) {
        serve_store_account_stats *st = account_stats_row(r, db_rows_text(rows, 0, NULL), &cap);
        const char *status = db_rows_text(rows, 1, NULL);
        for (size_t i = 0; i < SERVE_STORE_STATUS_COUNT; i++)
            if (strcmp(status, serve_store_statuses[i]) == 0) {
                r->by_status[i] += db_rows_int(rows, 2);
                st->by_status[i] += db_rows_int(rows, 2);
            }
        st->attempts += db_rows_int_or(rows, 3, 0);
    }
    db_rows_free(rows);
    return 0;
}

int serve_store_w_stats(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    int rc = stats_by_account(conn, r);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_I(r->now)};
    rc = query(conn,
               "SELECT COUNT(*) FROM serve_webhooks WHERE status = 'pending' "
               "AND next_attempt_at <= $1",
               p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    r->due = db_rows_next(rows) ? db_rows_int(rows, 0) : 0;
    db_rows_free(rows);
    return 0;
}

/* ---- the engine's store (serve_deliver.c) ---- */

#define SERVE_STORE_LEASE_SKEW 2 /* leases ahead a claim still respects (CLAIMABLE) */

/* A row the claim may take ($2 = now, $N = the bound of SERVE_STORE_LEASE_SKEW leases): no
 * lease, or one that ran out (its holder is gone or gave up), or one ending beyond the bound,
 * which no right clock wrote (a clock set back; the second lease leaves room for nodes whose
 * clocks differ): it would hold the row forever (issue 12). Checked on the heap row, as no
 * index holds the lease (migration 7). */
#define CLAIMABLE(bound)                                                                           \
    "(w.lease_until IS NULL OR w.lease_until < $2 OR w.lease_until > " bound ")"

/* A destination's due, claimable webhooks, oldest due first: a seek into
 * serve_webhooks_ready, whose condition the WHERE repeats so both planners use it, past the
 * destination's leased rows (its work in flight, which comes first by due time). held: more
 * of the WHERE on the webhook's row, tested before the event's row is joined. */
#define CLAIM_SQL_WHERE(held)                                                                      \
    "SELECT w.id, w.event_id, w.round_attempts, w.attempt_count, e.body, w.account_id, w.rowid "   \
    "FROM serve_webhooks w JOIN serve_events e ON e.id = w.event_id "                              \
    "WHERE w.destination_id = $1 AND w.status = 'pending' AND " CLAIMABLE("$4") held               \
        " AND w.next_attempt_at <= $2 ORDER BY w.next_attempt_at LIMIT $3"
#define CLAIM_SQL CLAIM_SQL_WHERE("")
/* Leases in memory (SQLite held alone): the webhooks held are skipped by the predicate
 * serve_deliver registers (db_sqlite_predicate → serve_held_has), on the webhook's row, so
 * the walk past the work in flight reads no body. */
#define CLAIM_HELD_SQL CLAIM_SQL_WHERE(" AND NOT " SERVE_STORE_HELD_FN "(w.id)")

/* On PostgreSQL the claim and its leases in one statement: each statement costs the server
 * far more CPU than its execution (about 40 µs per round trip, measured with
 * pg_stat_statements against the backend's CPU), and a lease UPDATE per claimed row was one
 * of four per delivery. The rows come back in CLAIM_SQL's columns and order. */
#define CLAIM_LEASE_PG_SQL                                                                         \
    "WITH c AS (SELECT w.id FROM serve_webhooks w "                                                \
    "WHERE w.destination_id = $1 AND w.status = 'pending' AND " CLAIMABLE(                         \
        "$6") " "                                                                                  \
              "AND w.next_attempt_at <= $2 ORDER BY w.next_attempt_at LIMIT $3 FOR UPDATE SKIP "   \
              "LOCKED), "                                                                          \
              "u AS (UPDATE serve_webhooks w SET lease_owner = $4, lease_until = $5 FROM c "       \
              "WHERE w.id = c.id RETURNING w.id, w.event_id, w.round_attempts, w.attempt_count, "  \
              "w.account_id, w.next_attempt_at) "                                                  \
              "SELECT u.id, u.event_id, u.round_attempts, u.attempt_count, e.body, u.account_id "  \
              "FROM u JOIN serve_events e ON e.id = u.event_id ORDER BY u.next_attempt_at"

/* The columns of a destination a claim reads, in claim_destination's order. */
#define CLAIM_DEST_COLS "id, url, secret, headers, format, previous_secrets"

/* A claimed webhook's format and, for the standard one, the previous secrets still valid:
 * from the current row of dest (CLAIM_DEST_COLS). */
static void claim_format(serve_store_claimed *it, db_rows *dest, int64_t now)
{
    it->standard = serve_format_standard(db_rows_text(dest, 4, NULL));
    if (!it->standard || db_rows_null(dest, 5))
        return;
    serve_secret_old *list;
    size_t count;
    serve_secret_parse(db_rows_text(dest, 5, NULL), now, &list, &count);
    it->previous = xcalloc(count, sizeof *it->previous);
    for (size_t i = 0; i < count; i++) {
        it->previous[i] = list[i].secret; /* taken over */
        list[i].secret = NULL;
    }
    it->previous_count = count;
    free(list);
}

/* Copies len bytes of text and a NUL to *at; returns the copy and moves *at past it. */
static char *claimed_copy(char **at, const char *text, size_t len)
{
    char *copy = *at;
    memcpy(copy, text, len);
    copy[len] = '\0';
    *at += len + 1;
    return copy;
}

/* A claimed webhook of the current row of rows (CLAIM_SQL) and dest (CLAIM_DEST_COLS,
 * destination id), its strings in the same allocation: one malloc and one free per
 * delivery instead of ten. */
static serve_store_claimed *claimed_new(db_rows *rows, db_rows *dest, const char *id)
{
    enum { WEBHOOK, EVENT, DEST, ACCOUNT, BODY, URL, SECRET, HEADERS, FIELDS };
    const char *text[FIELDS];
    size_t len[FIELDS];
    const int row_col[] = {0, 1, -1, 5, 4};
    for (int f = 0; f <= BODY; f++)
        text[f] = f == DEST ? id : db_rows_text(rows, row_col[f], &len[f]);
    len[DEST] = strlen(id);
    for (int f = URL; f < FIELDS; f++)
        text[f] = db_rows_text(dest, 1 + f - URL, &len[f]);
    static const char label_a[] = "account ", label_b[] = " webhook ";
    size_t total = len[ACCOUNT] + len[WEBHOOK] + sizeof label_a + sizeof label_b;
    for (int f = 0; f < FIELDS; f++)
        total += len[f] + 1;
    serve_store_claimed *it = xcalloc(1, sizeof *it + total);
    char *at = (char *)(it + 1);
    char **field[FIELDS] = {&it->webhook_id, &it->event_id, &it->destination_id, &it->account_id,
                            &it->body,       &it->url,      &it->secret,         &it->headers_json};
    for (int f = 0; f < FIELDS; f++)
        *field[f] = claimed_copy(&at, text[f], len[f]);
    it->body_len = len[BODY];
    it->log_label = at; /* "account A webhook W" */
    stpcpy(stpcpy(stpcpy(stpcpy(at, label_a), it->account_id), label_b), it->webhook_id);
    it->round_attempts = db_rows_int(rows, 2);
    it->attempt_count = db_rows_int(rows, 3);
    return it;
}

/* Claims up to room webhooks of the destination in the current row of dest
 * (CLAIM_DEST_COLS). */
static int claim_destination(db *conn, engine_claim *c, db_rows *dest, int room, serve_held *held)
{
    const char *id = db_rows_text(dest, 0, NULL);
    int64_t bound = c->now + SERVE_STORE_LEASE_SKEW * (c->lease_until - c->now);
    db_param p[] = {DB_S(id), DB_I(c->now), DB_I(room), DB_I(bound)};
    db_rows *rows = NULL;
    bool pg = db_kind(conn) == DB_POSTGRES;
    db_param pp[] = {DB_S(id),       DB_I(c->now),         DB_I(room),
                     DB_S(c->owner), DB_I(c->lease_until), DB_I(bound)};
    int rc = pg ? query(conn, CLAIM_LEASE_PG_SQL, pp, 6, &rows, NULL)
                : query(conn, held ? CLAIM_HELD_SQL : CLAIM_SQL, p, 4, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t first = c->count;
    while (db_rows_next(rows) && c->count < (size_t)c->limit) {
        serve_store_claimed *it = claimed_new(rows, dest, id);
        it->row = pg ? 0 : db_rows_int(rows, 6);
        claim_format(it, dest, c->now);
        c->items[c->count++] = (engine_claimed){.payload = it,
                                                .key = it->destination_id,
                                                .id = it->log_label,
                                                .round_attempts = it->round_attempts};
        if (held) {
            serve_held_add(held, it->webhook_id);
            it->held = held;
        }
    }
    db_rows_free(rows);
    for (size_t i = pg || held ? c->count : first; i < c->count; i++) {
        const serve_store_claimed *it = c->items[i].payload;
        db_param u[] = {DB_S(c->owner), DB_I(c->lease_until), DB_S(it->webhook_id)};
        rc = query(conn,
                   "UPDATE serve_webhooks SET lease_owner = $1, lease_until = $2 WHERE id = $3", u,
                   3, NULL, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define CLAIM_PAGE 512 /* destinations read per query */

/* The next destination with pending webhooks after r.id: one seek into
 * serve_webhooks_ready (whose condition it repeats so both planners use it), however many
 * rows that destination holds. Its rows may all be leased (in flight): the claim then finds
 * none after a walk past them, bounded by the work in flight. */
#define READY_NEXT(after)                                                                          \
    "(SELECT destination_id FROM serve_webhooks WHERE status = 'pending' AND "                     \
    "destination_id > " after " ORDER BY destination_id LIMIT 1)"

/*
 * A page of the destinations that have pending webhooks, id > $1 (and <= $3 in the
 * bounded form), in id order: a loose index scan (a recursive walk of READY_NEXT), so a pass
 * costs one seek per destination with work, not a query per active destination — 10,000
 * idle destinations cost nothing, and a destination's backlog (even 100,000 rows of an
 * inactive one) costs one seek, not a scan. Each row: CLAIM_DEST_COLS of the destination
 * when it is active and live (NULLs otherwise: its rows wait), then the id walked.
 */
#define READY_PAGE_SQL(bound)                                                                      \
    "WITH RECURSIVE r(id, n) AS (SELECT " READY_NEXT(                                              \
        "$1") ", 1 UNION ALL "                                                                     \
              "SELECT " READY_NEXT("r.id") ", r.n + 1 FROM r "                                     \
                                           "WHERE r.id IS NOT NULL AND r.n < $2" bound ") "        \
                                           "SELECT d.id, d.url, d.secret, d.headers, d.format, "   \
                                           "d.previous_secrets, r.id FROM r "                      \
                                           "LEFT JOIN serve_destinations d ON d.id = r.id AND "    \
                                           "d.active = 1 AND d.deleted_at IS NULL "                \
                                           "WHERE r.id IS NOT NULL" bound " ORDER BY r.n"

/* Claims for the destination in the current row of dests (READY_PAGE_SQL) when it is active
 * and has room; *full is set when the claim reached its limit there. */
static int claim_visit(db *conn, engine_claim *c, db_rows *dests, serve_held *held, bool *full)
{
    if (db_rows_null(dests, 0))
        return 0; /* inactive or deleted: its webhooks wait */
    const char *id = db_rows_text(dests, 0, NULL);
    int room = engine_claim_room(c, id);
    if (room <= 0)
        return 0;
    if (room > c->limit - (int)c->count)
        room = c->limit - (int)c->count;
    int rc = claim_destination(conn, c, dests, room, held);
    if (rc == 0 && c->count >= (size_t)c->limit) {
        /* Full: the next claim starts with the destination after this one. */
        free(c->next_cursor);
        c->next_cursor = xstrdup(id);
        c->more = true;
        *full = true;
    }
    return rc;
}

/* Visits the destinations with claimable webhooks with id > after (and <= upto when upto is
 * not NULL), in id order, claiming for each active one that has room, until the claim is
 * full. */
static int claim_pass(db *conn, engine_claim *c, const char *after, const char *upto,
                      serve_held *held)
{
    char last[256];
    snprintf(last, sizeof last, "%s", after);
    for (;;) {
        db_param p[] = {DB_S(last), DB_I(CLAIM_PAGE), upto ? DB_S(upto) : DB_NUL};
        db_rows *dests = NULL;
        int rc = query(conn, upto ? READY_PAGE_SQL(" AND r.id <= $3") : READY_PAGE_SQL(""), p,
                       upto ? 3 : 2, &dests, NULL);
        if (rc != 0)
            return rc;
        int seen = 0;
        bool full = false;
        while (rc == 0 && !full && db_rows_next(dests)) {
            seen++;
            snprintf(last, sizeof last, "%s", db_rows_text(dests, 6, NULL));
            rc = claim_visit(conn, c, dests, held, &full);
        }
        db_rows_free(dests);
        if (rc != 0 || full || seen < CLAIM_PAGE)
            return rc;
    }
}

int serve_store_claim(db *conn, engine_claim *c, serve_held *held)
{
    c->count = 0;
    c->next_due = -1;
    c->more = false;
    if (c->limit <= 0)
        return 0;

    /* Leases that ran out (a crashed node's) are taken where they lie, by the claim of their
     * destination (CLAIMABLE): no statement of their own, no index to find them by. */
    int rc;
    db_param q[] = {DB_I(c->now)};

    /* Nothing due at all (the common idle case): one seek, no destination visited. */
    db_rows *rows = NULL;
    rc = query(conn, "SELECT MIN(next_attempt_at) FROM serve_webhooks WHERE status = 'pending'",
               NULL, 0, &rows, NULL);
    if (rc != 0)
        return rc;
    int64_t first_due = -1;
    if (db_rows_next(rows) && !db_rows_null(rows, 0))
        first_due = db_rows_int(rows, 0);
    db_rows_free(rows);
    if (first_due < 0)
        return 0;
    if (first_due > c->now) {
        c->next_due = first_due;
        return 0;
    }

    c->items = xcalloc((size_t)c->limit, sizeof *c->items);
    char *start = c->cursor ? xstrdup(c->cursor) : xstrdup("");
    rc = claim_pass(conn, c, start, NULL, held);
    if (rc == 0 && !c->more && start[0] != '\0')
        rc = claim_pass(conn, c, "", start, held); /* wrap around */
    free(start);
    if (rc != 0)
        return rc;

    rc = query(conn,
               "SELECT MIN(next_attempt_at) FROM serve_webhooks "
               "WHERE status = 'pending' AND next_attempt_at > $1",
               q, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    if (db_rows_next(rows) && !db_rows_null(rows, 0))
        c->next_due = db_rows_int(rows, 0);
    db_rows_free(rows);
    return 0;
}

void serve_store_claimed_free(serve_store_claimed *it)
{
    if (!it)
        return;
    if (it->held)
        serve_held_remove(it->held, it->webhook_id);
    for (size_t i = 0; i < it->previous_count; i++)
        free(it->previous[i]);
    free(it->previous);
    serve_store_outcome_free(it->outcome);
    free(it); /* and its strings (claimed_new) */
}

int serve_store_unclaim(db *conn, const char *owner, void *const *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const serve_store_claimed *it = items[i];
        db_param p[] = {DB_S(it->webhook_id), DB_S(owner)};
        int rc = query(conn,
                       "UPDATE serve_webhooks SET lease_owner = NULL, lease_until = NULL "
                       "WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                       p, 2, NULL, NULL);
        if (rc != 0)
            return rc;
    }
    return count > 0 ? db_notify(conn, SERVE_STORE_NOTIFY_CHANNEL) : 0;
}

static const char *const outcome_states[] = {"", "succeeded", "pending", "failed"};

/* The attempt row's parameters of o into a (OUTCOME_ATTEMPT_PARAMS). */
static void attempt_params(const serve_store_outcome *o, db_param *a)
{
    a[0] = DB_S(o->webhook_id);
    a[1] = DB_I(o->attempt_number);
    a[2] = DB_I(o->started_at);
    a[3] = DB_I(o->duration_ms);
    a[4] = o->status_code > 0 ? DB_I(o->status_code) : DB_NUL;
    a[5] = DB_SOPT(o->error);
    a[6] = DB_SOPT(o->response);
    a[7] = DB_SOPT(o->response_headers);
}

/* The outcome's effect on its destination: a 410 deactivates it at once; a failure starts
 * (or continues) its failing streak and deactivates it once the streak is older than
 * fail_window_ms; a success ends the streak (a lookup, no write, when there is none). */
static int outcome_destination(db *conn, serve_store_outcome *o)
{
    int rc;
    int64_t changed = 0;
    o->deactivated = false; /* set by this run alone: the job may run twice (db.h) */
    if (o->deactivate_reason) {
        db_param d[] = {DB_S(o->destination_id), DB_S(o->deactivate_reason), DB_I(o->now)};
        rc = query(conn,
                   "UPDATE serve_destinations SET active = 0, disabled_reason = $2, "
                   "updated_at = $3 WHERE id = $1 AND active = 1",
                   d, 3, NULL, &changed);
        if (rc != 0)
            return rc;
        o->deactivated = changed > 0;
    }
    if (o->state == SERVE_STORE_SUCCEEDED) {
        /* Read first, write only when a streak or an alert is open (rare): on SQLite an
         * UPDATE … RETURNING sets up its result table even when it changes no row, and the
         * success path runs once per delivery. The write below rechecks the condition. */
        db_param d[] = {DB_S(o->destination_id)};
        db_rows *rows = NULL;
        rc = query(conn,
                   "SELECT 1 FROM serve_destinations WHERE id = $1 "
                   "AND (failing_since IS NOT NULL OR ops_alerted_at IS NOT NULL)",
                   d, 1, &rows, NULL);
        bool open = rc == 0 && db_rows_next(rows);
        db_rows_free(rows);
        if (rc != 0 || !open)
            return rc != 0 ? rc : serve_ops_recovered(conn, o, -1);
        rows = NULL;
        rc = query(conn,
                   "UPDATE serve_destinations SET failing_since = NULL "
                   "WHERE id = $1 AND (failing_since IS NOT NULL OR ops_alerted_at IS NOT NULL) "
                   "RETURNING ops_alerted_at",
                   d, 1, &rows, NULL);
        int64_t alerted = rc == 0 && db_rows_next(rows) ? db_rows_int_or(rows, 0, -1) : -1;
        db_rows_free(rows);
        return rc != 0 ? rc : serve_ops_recovered(conn, o, alerted);
    }
    db_param d[] = {DB_S(o->destination_id), DB_I(o->started_at)};
    rc = query(conn,
               "UPDATE serve_destinations SET failing_since = $2 "
               "WHERE id = $1 AND failing_since IS NULL",
               d, 2, NULL, NULL);
    if (rc != 0 || o->deactivated)
        return rc != 0 ? rc : serve_ops_failed(conn, o);
    char reason[96];
    snprintf(reason, sizeof reason, "every attempt failed for %" PRId64 " days in a row",
             (int64_t)(o->fail_window_ms / (24LL * 3600 * 1000)));
    db_param f[] = {DB_S(o->destination_id), DB_I(o->now - o->fail_window_ms), DB_S(reason),
                    DB_I(o->now)};
    rc = query(conn,
               "UPDATE serve_destinations SET active = 0, disabled_reason = $3, updated_at = $4 "
               "WHERE id = $1 AND active = 1 AND failing_since <= $2",
               f, 4, NULL, &changed);
    if (rc == 0 && changed > 0)
        o->deactivated = true;
    return rc != 0 ? rc : serve_ops_failed(conn, o);
}

/* The webhook's move after its attempt: its row found by where ($4 its id, $6 the lease's
 * owner, $7 its rowid), still pending with the attempts it had when claimed ($5). */
#define OUTCOME_ROW_SQL(where)                                                                     \
    "UPDATE serve_webhooks SET status = $1, attempt_count = attempt_count + 1, "                   \
    "round_attempts = round_attempts + 1, next_attempt_at = $2, "                                  \
    "lease_owner = NULL, lease_until = NULL, updated_at = $3 "                                     \
    "WHERE " where " AND status = 'pending' AND attempt_count = $5"

/* outcome_row's statement for o: by rowid when the claim read it (SQLite: the primary key
 * is a separate index on the 36-byte text id, one more B-tree seek per delivery; the id is
 * checked on the row, so a rowid that changed since, after a VACUUM, matches nothing and
 * the outcome counts as a lost lease), with the lease's owner when the row holds one. */
static const char *outcome_row_sql(const serve_store_outcome *o, size_t *nparams)
{
    static const char *const forms[2][2] = {
        {OUTCOME_ROW_SQL("id = $4"), OUTCOME_ROW_SQL("id = $4 AND lease_owner = $6")},
        {OUTCOME_ROW_SQL("rowid = $7 AND id = $4"),
         OUTCOME_ROW_SQL("rowid = $7 AND id = $4 AND lease_owner = $6")}};
    *nparams = o->row > 0 ? 7 : o->owner ? 6 : 5;
    return forms[o->row > 0][o->owner != NULL];
}

/* The webhook of o moved on, only while its lease is held (HOOKD_ELEASE and nothing
 * written otherwise). */
static int outcome_webhook(db *conn, const serve_store_outcome *o)
{
    /* No RETURNING: n is known from the claim, and the WHERE checks it, so an outcome of an
     * earlier lease of the same owner (the row was claimed again since) is refused too.
     * Without an owner (leases in memory, serve_held.h) no lease is in the row: the process
     * holds the store alone and the status and n say the row is still the one it ran. */
    db_param p[] = {DB_S(outcome_states[o->state]),
                    o->state == SERVE_STORE_RETRY ? DB_I(o->next_attempt_at) : DB_NUL,
                    DB_I(o->now),
                    DB_S(o->webhook_id),
                    DB_I(o->attempt_number - 1),
                    o->owner ? DB_S(o->owner) : DB_NUL,
                    DB_I(o->row)};
    size_t n = 0;
    const char *sql = outcome_row_sql(o, &n);
    int64_t changed = 0;
    int rc = query(conn, sql, p, n, NULL, &changed);
    return rc != 0 ? rc : changed == 0 ? HOOKD_ELEASE : 0;
}

/* The outcome's row changes, without the destination's: its webhook (outcome_webhook),
 * then its attempt row. */
static int outcome_row(db *conn, serve_store_outcome *o)
{
    int rc = outcome_webhook(conn, o);
    if (rc != 0)
        return rc;
    db_param a[OUTCOME_ATTEMPT_PARAMS];
    attempt_params(o, a);
    return query(conn,
                 "INSERT INTO serve_attempts (webhook_id, n, started_at, duration_ms, "
                 "status_code, error, response, response_headers) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                 a, OUTCOME_ATTEMPT_PARAMS, NULL, NULL);
}

int serve_store_w_outcome(db *conn, void *arg)
{
    serve_store_outcome *o = arg;
    int rc = outcome_row(conn, o);
    return rc != 0 ? rc : outcome_destination(conn, o);
}

/* The attempt rows of os[0..n) whose rcs are 0, in one INSERT per power-of-two piece. */
static int outcome_attempts_insert(db *conn, serve_store_outcome *const *os, const int *rcs,
                                   size_t n)
{
    if (pthread_once(&row_forms_once, row_forms_init) != 0)
        return HOOKD_ESTORE;
    serve_store_outcome *kept[OUTCOME_CHUNK];
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (rcs[i] == 0)
            kept[count++] = os[i];
    for (size_t done = 0; done < count;) {
        size_t k = OUTCOME_CHUNK;
        while (k > count - done)
            k /= 2;
        db_param p[OUTCOME_CHUNK * OUTCOME_ATTEMPT_PARAMS];
        for (size_t i = 0; i < k; i++)
            attempt_params(kept[done + i], &p[i * OUTCOME_ATTEMPT_PARAMS]);
        int rc = query(conn, row_form(&attempt_sql[0][0][0], ATTEMPT_SQL_SIZE, conn, k), p,
                       k * OUTCOME_ATTEMPT_PARAMS, NULL, NULL);
        if (rc != 0)
            return rc;
        done += k;
    }
    return 0;
}

/* Whether id is among the n destinations of clean. */
static bool clean_has(const char *const *clean, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(clean[i], id) == 0)
            return true;
    return false;
}

/* Whether o, when its row was written, may leave its destination untouched: a success
 * that deactivates nothing (outcome_destination's path for it only ends a streak). */
static bool outcome_clean_candidate(const serve_store_outcome *o)
{
    return o->state == SERVE_STORE_SUCCEEDED && !o->deactivate_reason;
}

/* One outcome of the PostgreSQL batch (outcome_pg_init): the webhook moved on as
 * OUTCOME_ROW_SQL, only while its lease is held (its parameters: status, next attempt, now,
 * id, the lease's owner, the attempts it had when claimed), and its attempt row (the 7
 * columns after the id) written from the UPDATE's RETURNING, so only when the webhook moved.
 * A 14th parameter per row, its destination, is in the clean read's list (outcome_pg_init).
 * rows_sql numbers the "?"s; outcome_pg_row the CTEs' "#". */
#define OUTCOME_PG_ROW                                                                             \
    "u# AS (UPDATE serve_webhooks SET status = ?, attempt_count = attempt_count + 1, "             \
    "round_attempts = round_attempts + 1, next_attempt_at = ?, lease_owner = NULL, "               \
    "lease_until = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND "                     \
    "status = 'pending' AND attempt_count = ? RETURNING id), "                                     \
    "a# AS (INSERT INTO serve_attempts (webhook_id, n, started_at, duration_ms, status_code, "     \
    "error, response, response_headers) SELECT id, ?::bigint, ?::bigint, ?::bigint, ?::bigint, "   \
    "?::text, ?::text, ?::text FROM u#)"
#define OUTCOME_PG_PARAMS 14 /* per row: OUTCOME_PG_ROW's 13 and the destination */

static char *outcome_pg_forms[ROW_FORMS];
static pthread_once_t outcome_pg_once = PTHREAD_ONCE_INIT;

/* Appends to sql (size bytes, *len used) row i of OUTCOME_PG_ROW: its CTEs numbered i, its
 * parameters from 1 + i × OUTCOME_PG_PARAMS. */
static void outcome_pg_row(char *sql, size_t size, int *len, size_t i)
{
    char form[sizeof OUTCOME_PG_ROW + 64];
    size_t at = 0;
    for (const char *c = OUTCOME_PG_ROW; *c && at + 24 < sizeof form; c++) {
        if (*c == '#')
            at += (size_t)snprintf(form + at, sizeof form - at, "%zu", i);
        else
            form[at++] = *c;
    }
    form[at] = '\0';
    rows_sql(sql, size, len, form, 1, OUTCOME_PG_PARAMS, 1 + i * OUTCOME_PG_PARAMS);
}

/*
 * Builds outcome_pg_forms: for 1, 2, 4 … 64 rows, "WITH" and OUTCOME_PG_ROW per row, then
 * the statement's answer: (0, id) for each webhook moved on, then (1, id) for each
 * destination of the batch's successes with a failing streak or an alert open (the clean
 * read, in the same statement: the rows' writes do not touch destinations). Built once per
 * process: the statement cache finds its prepared statement by the text.
 */
static void outcome_pg_init(void)
{
    for (size_t j = 0; j < ROW_FORMS; j++) {
        size_t n = (size_t)1 << j, size = 256 + n * (sizeof OUTCOME_PG_ROW + 120);
        char *sql = xmalloc(size);
        int len = snprintf(sql, size, "WITH ");
        for (size_t i = 0; i < n; i++) {
            if (i)
                len += snprintf(sql + len, size - (size_t)len, ", ");
            outcome_pg_row(sql, size, &len, i);
        }
        for (size_t i = 0; i < n; i++)
            len += snprintf(sql + len, size - (size_t)len, "%sSELECT 0, id FROM u%zu",
                            i ? " UNION ALL " : " ", i);
        len += snprintf(sql + len, size - (size_t)len,
                        " UNION ALL SELECT 1, id FROM serve_destinations WHERE id IN (");
        for (size_t i = 0; i < n; i++)
            len += snprintf(sql + len, size - (size_t)len, "%s$%zu", i ? ", " : "",
                            (i + 1) * OUTCOME_PG_PARAMS);
        snprintf(sql + len, size - (size_t)len,
                 ") AND (failing_since IS NOT NULL OR ops_alerted_at IS NOT NULL)");
        outcome_pg_forms[j] = sql;
    }
}

/* The OUTCOME_PG_PARAMS parameters of o at q; o NULL: a row padding the statement to its
 * form's size, which matches no webhook (no id is empty) and no destination. */
static void outcome_pg_params(const serve_store_outcome *o, db_param *q)
{
    if (!o) {
        for (int i = 0; i < OUTCOME_PG_PARAMS; i++)
            q[i] = DB_NUL;
        q[3] = DB_S("");
        q[OUTCOME_PG_PARAMS - 1] = DB_S("");
        return;
    }
    q[0] = DB_S(outcome_states[o->state]);
    q[1] = o->state == SERVE_STORE_RETRY ? DB_I(o->next_attempt_at) : DB_NUL;
    q[2] = DB_I(o->now);
    q[3] = DB_S(o->webhook_id);
    q[4] = DB_S(o->owner);
    q[5] = DB_I(o->attempt_number - 1);
    db_param a[OUTCOME_ATTEMPT_PARAMS];
    attempt_params(o, a);
    memcpy(&q[6], &a[1], (OUTCOME_ATTEMPT_PARAMS - 1) * sizeof *a); /* its id is the UPDATE's */
    q[OUTCOME_PG_PARAMS - 1] = outcome_clean_candidate(o) ? DB_S(o->destination_id) : DB_S("");
}

/*
 * PostgreSQL: the rows of os[0..n) (n ≤ OUTCOME_CHUNK) in one statement (outcome_pg_init),
 * padded to a power of two: rcs[i] is HOOKD_ELEASE for a webhook not moved on; into open
 * (*nopen, pointing into *rows, which the caller frees) the destinations among the batch's
 * successes with a streak or an alert open. The webhooks move by one UPDATE per row, each a
 * CTE, not one UPDATE … FROM (VALUES …): the sender keeps its plans (db_keep_plans), and the
 * join's plan, made while the table was small, read the whole table into a hash at every
 * batch once it had grown (1.7 ms for 4 rows at 12,000 webhooks, docs/BENCHMARKS.md "round
 * 3"); a primary-key equality stays a probe whatever the statistics said when it was
 * planned. A batch never holds two outcomes of one webhook (one run at a time under its
 * lease), so no row is updated twice. Before, the attempts and the clean read were two more
 * statements per power-of-two piece of the batch ("The sender on PostgreSQL: fewer
 * statements", docs/BENCHMARKS.md).
 */
static int outcome_rows_pg(db *conn, serve_store_outcome *const *os, int *rcs, size_t n,
                           db_rows **rows, const char **open, size_t *nopen)
{
    if (pthread_once(&outcome_pg_once, outcome_pg_init) != 0)
        return HOOKD_ESTORE;
    size_t j = 0;
    while (((size_t)1 << j) < n)
        j++;
    size_t k = (size_t)1 << j;
    db_param p[OUTCOME_CHUNK * OUTCOME_PG_PARAMS];
    for (size_t i = 0; i < k; i++) {
        outcome_pg_params(i < n ? os[i] : NULL, &p[i * OUTCOME_PG_PARAMS]);
        if (i < n)
            rcs[i] = HOOKD_ELEASE;
    }
    int rc = query(conn, outcome_pg_forms[j], p, k * OUTCOME_PG_PARAMS, rows, NULL);
    if (rc != 0)
        return rc;
    while (db_rows_next(*rows)) {
        const char *id = db_rows_text(*rows, 1, NULL);
        if (db_rows_int(*rows, 0) == 1) {
            open[(*nopen)++] = id;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (rcs[i] != 0 && strcmp(os[i]->webhook_id, id) == 0) {
                rcs[i] = 0;
                break;
            }
    }
    return 0;
}

/* Into clean (*nclean of them): the destinations of the successes among os[0..n) (rcs 0)
 * with no failing streak and no alert open, i.e. not among open[0..nopen). */
static void clean_pick(serve_store_outcome *const *os, const int *rcs, size_t n,
                       const char *const *open, size_t nopen, const char **clean, size_t *nclean)
{
    for (size_t i = 0; i < n; i++)
        if (rcs[i] == 0 && outcome_clean_candidate(os[i]) &&
            !clean_has(clean, *nclean, os[i]->destination_id) &&
            !clean_has(open, nopen, os[i]->destination_id))
            clean[(*nclean)++] = os[i]->destination_id;
}

/* The destinations' side of os[0..n) whose rows were written (rcs 0), in order, with the
 * same writes as outcome_destination for each, but no lookup for a success of a destination
 * known clean (clean[0..nclean): read so with the rows on PostgreSQL, or made so by an
 * earlier success in the batch, with no failure of it since). SQLite looks each destination
 * up once (its static statement's fast path cost fewer instructions than an id list's,
 * callgrind: 32.6 k against 35.7 k per delivery). */
static int outcome_destinations(db *conn, serve_store_outcome *const *os, const int *rcs, size_t n,
                                const char **clean, size_t nclean)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        serve_store_outcome *o = os[i];
        if (rcs[i] != 0)
            continue;
        bool success = outcome_clean_candidate(o);
        rc = success && clean_has(clean, nclean, o->destination_id)
                 ? serve_ops_recovered(conn, o, -1)
                 : outcome_destination(conn, o);
        if (success && !clean_has(clean, nclean, o->destination_id))
            clean[nclean++] = o->destination_id;
        else if (!success)
            for (size_t k = 0; k < nclean; k++)
                if (strcmp(clean[k], o->destination_id) == 0)
                    clean[k] = clean[--nclean];
    }
    return rc;
}

/* PostgreSQL: os[0..n) (n ≤ OUTCOME_CHUNK) in one statement for their rows
 * (outcome_rows_pg), then the destinations' writes the outcomes call for. */
static int outcomes_pg(db *conn, serve_store_outcome *const *os, int *rcs, size_t n)
{
    db_rows *rows = NULL;
    const char *open[OUTCOME_CHUNK], *clean[OUTCOME_CHUNK];
    size_t nopen = 0, nclean = 0;
    int rc = outcome_rows_pg(conn, os, rcs, n, &rows, open, &nopen);
    if (rc == 0) {
        clean_pick(os, rcs, n, open, nopen, clean, &nclean);
        rc = outcome_destinations(conn, os, rcs, n, clean, nclean);
    }
    db_rows_free(rows);
    return rc;
}

int serve_store_outcomes(db *conn, serve_store_outcome *const *os, int *rcs, size_t n)
{
    bool pg = db_kind(conn) == DB_POSTGRES;
    for (size_t done = 0; done < n;) {
        size_t k = OUTCOME_CHUNK;
        while (k > n - done)
            k = pg ? n - done : k / 2;
        if (pg) {
            int rc = outcomes_pg(conn, os + done, rcs + done, k);
            if (rc != 0)
                return rc;
            done += k;
            continue;
        }
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < k; i++) {
            rcs[done + i] = outcome_webhook(conn, os[done + i]);
            if (rcs[done + i] != HOOKD_ELEASE)
                rc = rcs[done + i];
        }
        if (rc == 0)
            rc = outcome_attempts_insert(conn, os + done, rcs + done, k);
        const char *clean[OUTCOME_CHUNK];
        if (rc == 0)
            rc = outcome_destinations(conn, os + done, rcs + done, k, clean, 0);
        if (rc != 0)
            return rc;
        done += k;
    }
    return 0;
}

void serve_store_outcome_free(serve_store_outcome *o)
{
    if (!o)
        return;
    free(o->webhook_id);
    free(o->destination_id);
    free(o->error);
    free(o->response);
    free(o->response_headers);
    free(o->deactivate_reason);
    free(o);
}
