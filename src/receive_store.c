/*
 * receive_store.c — the receiver's tables and every statement run on them (see
 * receive_store.h); the sender's twin is serve_store.c. The engine's store functions here
 * (claim, record a run, unclaim, release) are called through receive_handler.c; the others
 * by the public endpoint (receive_ingest.c) and the admin API (receive_api.c).
 *
 * A webhook's latest run is kept in its own row (the outcome rewrites the row anyway);
 * receive_runs holds the runs before it, and the view receive_run_history shows them all.
 *
 * The SQL is the dialect both backends speak: $N placeholders (each used once, so the
 * SQLite rewrite stays simple), BIGINT unix milliseconds, TEXT, ON CONFLICT DO NOTHING and
 * RETURNING. Only the locks differ: PostgreSQL's claim takes its candidates FOR UPDATE SKIP
 * LOCKED, and the move of a previous run locks its row FOR UPDATE (SQLite has one writer at
 * a time already: BEGIN IMMEDIATE).
 */
#include "receive_store.h"
#include "mem.h"

#include "admin_token.h"
#include "hookd.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const receive_store_migrations[] = {
    "CREATE TABLE receive_webhooks ("
    " id TEXT PRIMARY KEY,"
    " webhook_timestamp TEXT NOT NULL,"
    " signature TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " received_at BIGINT NOT NULL,"
    " status TEXT NOT NULL,"
    " attempts BIGINT NOT NULL DEFAULT 0,"
    " runs BIGINT NOT NULL DEFAULT 0,"
    " next_attempt_at BIGINT NOT NULL,"
    " lease_until BIGINT,"
    " lease_token TEXT,"
    " lease_owner TEXT,"
    " updated_at BIGINT NOT NULL);"
    "CREATE INDEX receive_webhooks_due ON receive_webhooks (status, next_attempt_at);"
    "CREATE INDEX receive_webhooks_received ON receive_webhooks (received_at, id);"
    "CREATE TABLE receive_runs ("
    " webhook_id TEXT NOT NULL,"
    " n BIGINT NOT NULL,"
    " started_at BIGINT NOT NULL,"
    " duration_ms BIGINT NOT NULL,"
    " exit_status BIGINT,"
    " http_status BIGINT,"
    " error TEXT,"
    " PRIMARY KEY (webhook_id, n));",
    /* 2: the tail of an --exec handler's stdout and stderr (issue 12) */
    "ALTER TABLE receive_runs ADD COLUMN output TEXT;",
    /* 3: the admin token's SHA-256 when none is given (admin_token.h; issue 11) */
    "CREATE TABLE IF NOT EXISTS receive_settings ("
    " name TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);",
    /* 4: a webhook's latest run lives in its own row (issue 10). A run row of its own cost
     * each webhook an INSERT and an entry in receive_runs' key, which is ordered by the
     * random webhook id: a page of its own in nearly every commit (40 % of the WAL frames
     * of a burst, docs/BENCHMARKS.md, "The receiver's store per webhook"). The row is
     * rewritten by the outcome anyway; receive_runs now keeps only the runs before the
     * latest, and receive_run_history shows them all. Rows written before keep their runs
     * in receive_runs (their last_n is NULL). */
    "ALTER TABLE receive_webhooks ADD COLUMN last_n BIGINT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_started_at BIGINT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_duration_ms BIGINT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_exit_status BIGINT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_http_status BIGINT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_error TEXT;"
    "ALTER TABLE receive_webhooks ADD COLUMN last_output TEXT;"
    "CREATE VIEW receive_run_history AS"
    " SELECT webhook_id, n, started_at, duration_ms, exit_status, http_status, error, output"
    " FROM receive_runs UNION ALL"
    " SELECT id, last_n, last_started_at, last_duration_ms, last_exit_status,"
    " last_http_status, last_error, last_output FROM receive_webhooks"
    " WHERE last_n IS NOT NULL;",
};

/* PostgreSQL alone (component receive_pg): storage settings SQLite has no words for. */
static const char *const receive_store_pg_migrations[] = {
    /* 1: room on each page for a webhook's new versions, so that a claim's lease update (no
     * index holds a lease column) stays on the row's page: a HOT update, which writes no
     * index entry, where each claimed row used to write three (one in the random id's
     * index) and leave three dead entries for the next claims to walk past. At 100 (the
     * default) 15-44 % of the claims' updates were HOT, at 80 48 %, at 70 70 %, at 50 99 %,
     * and the claim's execution per row fell from 36-44 to 15 µs (docs/BENCHMARKS.md, "The
     * receiver's handler on a store connection of its own"). The sender's serve_webhooks
     * has the same. It costs heap space: a page holds half the rows. New pages only;
     * existing ones fill as they empty. */
    "ALTER TABLE receive_webhooks SET (fillfactor = 50);",
};

/* SQLite's page cache for the receiver's connection, in KiB (a bound: it grows as pages are
 * read). The default, 2 MiB, is smaller than the id index of 100,000 webhooks (about 5 MiB),
 * and a burst's inserts land on its pages at random: every miss was a pread, 0.4 per webhook
 * (docs/BENCHMARKS.md, "The receiver's store per webhook"). The sender's is the same size
 * (serve_main.c). */
#define RECEIVE_STORE_SQLITE_CACHE "PRAGMA cache_size = -16384"

int receive_store_migrate(db *conn)
{
    int rc = receive_store_migrate_upto(conn, sizeof receive_store_migrations /
                                                  sizeof receive_store_migrations[0]);
    if (rc == 0 && db_kind(conn) == DB_POSTGRES)
        rc = db_migrate(conn, "receive_pg", receive_store_pg_migrations,
                        sizeof receive_store_pg_migrations / sizeof receive_store_pg_migrations[0]);
    return rc;
}

int receive_store_migrate_upto(db *conn, size_t version)
{
    size_t all = sizeof receive_store_migrations / sizeof receive_store_migrations[0];
    int rc = db_migrate(conn, "receive", receive_store_migrations, version < all ? version : all);
    if (rc != 0 || db_kind(conn) != DB_SQLITE)
        return rc;
    return db_exec(conn, RECEIVE_STORE_SQLITE_CACHE);
}

int receive_store_admin_token(db *conn, unsigned char digest[32], char *generated, size_t genlen,
                              bool *was_generated)
{
    return admin_token_load(conn, "receive_settings", digest, generated, genlen, was_generated);
}

/* The largest power of two not above n (n > 0): a handful of distinct statements to cache. */
static size_t receive_store_pow2_floor(size_t n)
{
    while (n & (n - 1))
        n &= n - 1;
    return n;
}

/* head, then n copies of row joined by ", ", then tail; each '?' in row becomes the next
 * $N placeholder. malloc'd. */
static char *receive_store_rows_sql(const char *head, const char *row, size_t n, const char *tail)
{
    size_t head_len = strlen(head), row_len = strlen(row), tail_len = strlen(tail);
    size_t marks = 0;
    for (const char *c = row; *c; c++)
        marks += *c == '?';
    /* A '?' becomes "$N", at most 5 bytes below 10,000 parameters (both backends' caps are
     * lower); ", " between rows. */
    char *sql = xmalloc(head_len + tail_len + n * (row_len + 4 * marks + 2) + 1);
    memcpy(sql, head, head_len);
    size_t o = head_len;
    size_t next = 1;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            sql[o++] = ',';
            sql[o++] = ' ';
        }
        for (const char *c = row; *c; c++) {
            if (*c != '?') {
                sql[o++] = *c;
                continue;
            }
            /* By hand rather than by snprintf: this runs per placeholder, per batch, and
             * printf was a visible share of the store thread's own time. */
            char digits[20];
            size_t d = 0;
            for (size_t v = next++; v; v /= 10)
                digits[d++] = (char)('0' + v % 10);
            sql[o++] = '$';
            while (d)
                sql[o++] = digits[--d];
        }
    }
    memcpy(sql + o, tail, tail_len + 1);
    return sql;
}

/* Rows per multi-row INSERT at most (11 parameters each: far below both backends' caps). */
#define RECEIVE_STORE_INSERT_CHUNK 64
#define RECEIVE_STORE_INSERT_PARAMS 11

/* The multi-row INSERT for n rows (1..RECEIVE_STORE_INSERT_CHUNK), with RETURNING id or
 * without; malloc'd. */
static char *receive_store_insert_sql(size_t n, bool returning)
{
    return receive_store_rows_sql(
        "INSERT INTO receive_webhooks (id, webhook_timestamp, signature, event, body,"
        " received_at, status, attempts, runs, next_attempt_at, updated_at, lease_until,"
        " lease_token, lease_owner) VALUES ",
        "(?, ?, ?, ?, ?, ?, 'pending', 0, 0, ?, ?, ?, ?, ?)", n,
        returning ? " ON CONFLICT (id) DO NOTHING RETURNING id" : " ON CONFLICT (id) DO NOTHING");
}

/* Marks jobs[0..n) written whose id is among rows (each id there at most once; it belongs to
 * the first job holding it); the others stay duplicates. The number of ids matched. */
static size_t receive_store_mark_written(receive_store_insert_job *jobs, size_t n, db_rows *rows,
                                         size_t *inserted)
{
    size_t lens[RECEIVE_STORE_INSERT_CHUNK];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(jobs[i].id);
    size_t matched = 0;
    while (db_rows_next(rows)) {
        size_t len = 0;
        const char *id = db_rows_text(rows, 0, &len);
        for (size_t k = 0; k < n; k++) {
            if (jobs[k].duplicate && lens[k] == len && memcmp(jobs[k].id, id, len) == 0) {
                jobs[k].duplicate = false;
                *inserted += jobs[k].lease_owner == NULL;
                matched++;
                break;
            }
        }
    }
    return matched;
}

/* SQLite: the chunk's INSERT ran without RETURNING, and wrote `written` of its n rows. All of
 * them: none is a duplicate. Some: the statement's rows took consecutive rowids ending at
 * last_insert_rowid() (a new rowid is the largest + 1, and a row skipped by DO NOTHING
 * takes none), so that range names the ids written; a range that does not hold exactly
 * `written` of the chunk's ids is an error, never a guess. */
static int receive_store_sqlite_written(db *conn, receive_store_insert_job *jobs, size_t n,
                                        int64_t written, size_t *inserted)
{
    if (written <= 0)
        return 0;
    if ((size_t)written == n) {
        for (size_t k = 0; k < n; k++) {
            jobs[k].duplicate = false;
            *inserted += jobs[k].lease_owner == NULL;
        }
        return 0;
    }
    db_param p[] = {DB_I(written)};
    db_rows *rows = NULL;
    int rc = db_query(conn,
                      "SELECT id FROM receive_webhooks WHERE rowid > last_insert_rowid() - $1"
                      " AND rowid <= last_insert_rowid()",
                      p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t matched = receive_store_mark_written(jobs, n, rows, inserted);
    db_rows_free(rows);
    if (matched == (size_t)written)
        return 0;
    log_error("receive", "sqlite: %lld webhooks written, but %zu of them found by rowid",
              (long long)written, matched);
    return HOOKD_ESTORE;
}

/* Inserts jobs[0..n) with one statement; marks each as duplicate unless its row was written
 * (the first job holding an id takes it). *inserted grows by the rows written without a
 * lease (those other handlers may claim). PostgreSQL names the rows written with RETURNING;
 * SQLite's RETURNING buffers them in a temporary table, which cost the store thread a sixth
 * of its instructions per webhook (docs/BENCHMARKS.md), so there the count of rows written
 * tells, and only a chunk holding a duplicate reads which (receive_store_sqlite_written). */
static int receive_store_insert_chunk(db *conn, receive_store_insert_job *jobs, size_t n,
                                      size_t *inserted)
{
    db_param p[RECEIVE_STORE_INSERT_CHUNK * RECEIVE_STORE_INSERT_PARAMS];
    for (size_t i = 0; i < n; i++) {
        receive_store_insert_job *j = &jobs[i];
        db_param *q = &p[i * RECEIVE_STORE_INSERT_PARAMS];
        q[0] = DB_S(j->id);
        q[1] = DB_S(j->timestamp);
        q[2] = DB_S(j->signature);
        q[3] = DB_S(j->event);
        q[4] = DB_SN(j->body, j->body_len);
        q[5] = DB_I(j->received_at);
        q[6] = DB_I(j->received_at);
        q[7] = DB_I(j->received_at);
        q[8] = j->lease_owner ? DB_I(j->lease_until) : DB_NUL;
        q[9] = j->lease_owner ? DB_S(j->lease_token) : DB_NUL;
        q[10] = DB_SOPT(j->lease_owner);
        j->duplicate = true;
    }
    bool returning = db_kind(conn) == DB_POSTGRES;
    char *sql = receive_store_insert_sql(n, returning);
    db_rows *rows = NULL;
    int64_t written = 0;
    int rc =
        db_query(conn, sql, p, n * RECEIVE_STORE_INSERT_PARAMS, returning ? &rows : NULL, &written);
    free(sql);
    if (rc != 0)
        return rc;
    if (!returning)
        return receive_store_sqlite_written(conn, jobs, n, written, inserted);
    receive_store_mark_written(jobs, n, rows, inserted);
    db_rows_free(rows);
    return 0;
}

int receive_store_insert_many(db *conn, void *arg)
{
    receive_store_insert_many_job *many = arg;
    size_t inserted = 0;
    for (size_t done = 0; done < many->count;) {
        size_t n = many->count - done;
        if (n > RECEIVE_STORE_INSERT_CHUNK)
            n = RECEIVE_STORE_INSERT_CHUNK;
        n = receive_store_pow2_floor(n);
        int rc = receive_store_insert_chunk(conn, many->jobs + done, n, &inserted);
        if (rc != 0)
            return rc;
        done += n;
    }
    return inserted > 0 ? db_notify(conn, RECEIVE_STORE_NOTIFY_CHANNEL) : 0;
}

/* One webhook is a batch of one: the same statement, the same duplicate rule. */
int receive_store_insert(db *conn, void *arg)
{
    receive_store_insert_many_job one = {.jobs = arg, .count = 1};
    return receive_store_insert_many(conn, &one);
}

/* Frees a job's output array and forgets it: a cleared job may be reused. */
#define RECEIVE_STORE_FORGET(array, count) (free(array), (array) = NULL, (count) = 0)

/* The claim, with the lock clause PostgreSQL adds to the candidates' SELECT. */
#define RECEIVE_STORE_CLAIM_SQL(lock)                                                              \
    "UPDATE receive_webhooks SET lease_until = $1, lease_token = $2, lease_owner = $3"             \
    " WHERE id IN (SELECT id FROM receive_webhooks WHERE status = 'pending'"                       \
    " AND next_attempt_at <= $4"                                                                   \
    " AND (lease_until IS NULL OR lease_until <= $5 OR lease_until > $7)"                          \
    " ORDER BY next_attempt_at LIMIT $6" lock ")"                                                  \
    " RETURNING id, webhook_timestamp, signature, event, body, attempts, runs"

int receive_store_claim(db *conn, void *arg)
{
    receive_store_claim_job *job = arg;
    static const char sql_sqlite[] = RECEIVE_STORE_CLAIM_SQL("");
    static const char sql_pg[] = RECEIVE_STORE_CLAIM_SQL(" FOR UPDATE SKIP LOCKED");
    job->items = NULL;
    job->count = 0;
    if (job->limit == 0)
        return 0;
    int rc = hookd_id_new(job->token);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_I(job->now + job->lease_ms),
                    DB_S(job->token),
                    DB_S(job->owner),
                    DB_I(job->now),
                    DB_I(job->now),
                    DB_I(job->limit),
                    DB_I(job->now + RECEIVE_STORE_LEASE_SKEW * job->lease_ms)};
    db_rows *rows = NULL;
    rc = db_query(conn, db_kind(conn) == DB_POSTGRES ? sql_pg : sql_sqlite, p,
                  sizeof p / sizeof p[0], &rows, NULL);
    if (rc != 0)
        return rc;
    job->items = xmalloc(job->limit * sizeof *job->items);
    while (db_rows_next(rows) && job->count < job->limit) {
        receive_store_item *it = &job->items[job->count++];
        size_t len = 0;
        const char *s = db_rows_text(rows, 0, &len);
        it->id = xstrndup(s, len);
        s = db_rows_text(rows, 1, &len);
        it->timestamp = xstrndup(s, len);
        s = db_rows_text(rows, 2, &len);
        it->signature = xstrndup(s, len);
        s = db_rows_text(rows, 3, &len);
        it->event = xstrndup(s, len);
        s = db_rows_text(rows, 4, &len);
        it->body = xstrndup(s, len);
        it->body_len = len;
        it->attempts = db_rows_int(rows, 5);
        it->runs = db_rows_int(rows, 6);
    }
    db_rows_free(rows);
    return 0;
}

void receive_store_claim_job_clear(receive_store_claim_job *job)
{
    for (size_t i = 0; i < job->count; i++) {
        receive_store_item *it = &job->items[i];
        free(it->id);
        free(it->timestamp);
        free(it->signature);
        free(it->event);
        free(it->body);
    }
    RECEIVE_STORE_FORGET(job->items, job->count);
}

/* Rows per multi-row record statement at most (12 parameters per row: far below
 * PostgreSQL's cap). */
#define RECEIVE_STORE_RECORD_CHUNK 64
#define RECEIVE_STORE_RECORD_PARAMS 12

/* Copies the latest run of job's webhook from its row into receive_runs, before the next run
 * takes its place in the row; only while the lease is held, and on PostgreSQL with the row
 * locked, so that no other node's claim comes between this and the UPDATE that follows. A
 * first run has none to move, nor has a row written before migration 4 (its runs are in
 * receive_runs already). A run moved twice is the same run: kept once. */
#define RECEIVE_STORE_MOVE_SQL(lock)                                                               \
    "INSERT INTO receive_runs (webhook_id, n, started_at, duration_ms, exit_status,"               \
    " http_status, error, output) SELECT id, last_n, last_started_at, last_duration_ms,"           \
    " last_exit_status, last_http_status, last_error, last_output FROM receive_webhooks"           \
    " WHERE id = $1 AND lease_token = $2 AND status = 'pending' AND last_n IS NOT NULL" lock       \
    " ON CONFLICT (webhook_id, n) DO NOTHING"

static int receive_store_move_last(db *conn, const receive_store_run_job *job)
{
    static const char sql_sqlite[] = RECEIVE_STORE_MOVE_SQL("");
    static const char sql_pg[] = RECEIVE_STORE_MOVE_SQL(" FOR UPDATE");
    if (job->n <= 1)
        return 0;
    db_param p[] = {DB_S(job->id), DB_S(job->token)};
    return db_query(conn, db_kind(conn) == DB_POSTGRES ? sql_pg : sql_sqlite, p, 2, NULL, NULL);
}

/* A record's parameters (RECEIVE_STORE_RECORD_PARAMS) into q: the webhook's next state, the
 * run, then the row's id and lease token. */
static void receive_store_record_params(const receive_store_run_job *job, db_param *q)
{
    q[0] = DB_S(job->next_status);
    q[1] = DB_I(job->next_attempt_at);
    q[2] = DB_I(job->now);
    q[3] = DB_I(job->n);
    q[4] = DB_I(job->started_at);
    q[5] = DB_I(job->duration_ms);
    q[6] = job->exit_status >= 0 ? DB_I(job->exit_status) : DB_NUL;
    q[7] = job->http_status > 0 ? DB_I(job->http_status) : DB_NUL;
    q[8] = DB_SOPT(job->error);
    q[9] = DB_SOPT(job->output);
    q[10] = DB_S(job->id);
    q[11] = DB_S(job->token);
}

/* What a record sets, from the values named s, a, u, n, st, d, e, h, err and o. */
#define RECEIVE_STORE_RECORD_SET(s, a, u, n, st, d, e, h, err, o)                                  \
    "status = " s ", next_attempt_at = " a ", updated_at = " u ", last_n = " n                     \
    ", last_started_at = " st ", last_duration_ms = " d ", last_exit_status = " e                  \
    ", last_http_status = " h ", last_error = " err ", last_output = " o                           \
    ", lease_until = NULL, lease_token = NULL, lease_owner = NULL"

/* PostgreSQL's multi-row record UPDATE for n runs: each row moved on only while its lease
 * is held, as receive_store_record_run; the (id, token) pairs moved come back. malloc'd.
 * The status test is written so that it cannot use the due index: given it, the planner
 * read every pending row into a hash (71 ms for 64 runs under a 92,000-row backlog with
 * stale statistics, docs/BENCHMARKS.md); as a filter, each run is one primary-key probe. */
static char *receive_store_record_update_sql(size_t n)
{
    return receive_store_rows_sql(
        "UPDATE receive_webhooks AS w SET " RECEIVE_STORE_RECORD_SET(
            "v.s", "v.a", "v.u", "v.n", "v.st", "v.d", "v.e", "v.h", "v.err",
            "v.o") ", attempts = w.attempts + 1, runs = w.runs + 1 FROM (VALUES ",
        "(?::text, ?::bigint, ?::bigint, ?::bigint, ?::bigint, ?::bigint, ?::bigint, ?::bigint,"
        " ?::text, ?::text, ?::text, ?::text)",
        n,
        ") AS v (s, a, u, n, st, d, e, h, err, o, id, token) WHERE w.id = v.id"
        " AND w.lease_token = v.token AND (w.status = 'pending') IS TRUE RETURNING w.id, v.token");
}

/* Records jobs[0..n) (n a power of two, at most RECEIVE_STORE_RECORD_CHUNK) on PostgreSQL
 * with one statement (and one more per run that is not its webhook's first): rcs[i] becomes
 * HOOKD_ELEASE for each row not moved on. */
static int receive_store_record_chunk(db *conn, receive_store_run_job *const *jobs, int *rcs,
                                      size_t n)
{
    db_param p[RECEIVE_STORE_RECORD_CHUNK * RECEIVE_STORE_RECORD_PARAMS];
    for (size_t i = 0; i < n; i++) {
        int rc = receive_store_move_last(conn, jobs[i]);
        if (rc != 0)
            return rc;
        receive_store_record_params(jobs[i], &p[i * RECEIVE_STORE_RECORD_PARAMS]);
        rcs[i] = HOOKD_ELEASE;
    }
    char *sql = receive_store_record_update_sql(n);
    db_rows *rows = NULL;
    int rc = db_query(conn, sql, p, n * RECEIVE_STORE_RECORD_PARAMS, &rows, NULL);
    free(sql);
    if (rc != 0)
        return rc;
    while (db_rows_next(rows)) {
        const char *id = db_rows_text(rows, 0, NULL);
        const char *token = db_rows_text(rows, 1, NULL);
        for (size_t i = 0; i < n; i++) {
            if (rcs[i] != 0 && strcmp(jobs[i]->id, id) == 0 && strcmp(jobs[i]->token, token) == 0) {
                rcs[i] = 0;
                break;
            }
        }
    }
    db_rows_free(rows);
    return 0;
}

/* PostgreSQL: a statement is a round trip, a plan and an executor start, which cost it more
 * than the rows themselves when run per webhook (docs/BENCHMARKS.md, "Receiver on
 * PostgreSQL"): the runs go by chunks. SQLite runs in-process, where one statement per run
 * is cheap and RETURNING is not: one receive_store_record_run each. */
int receive_store_record_runs(db *conn, receive_store_run_job *const *jobs, int *rcs, size_t n)
{
    for (size_t done = 0; done < n;) {
        if (db_kind(conn) != DB_POSTGRES) {
            rcs[done] = receive_store_record_run(conn, jobs[done]);
            if (rcs[done] != 0 && rcs[done] != HOOKD_ELEASE)
                return rcs[done];
            done++;
            continue;
        }
        size_t k = n - done < RECEIVE_STORE_RECORD_CHUNK ? n - done : RECEIVE_STORE_RECORD_CHUNK;
        k = receive_store_pow2_floor(k);
        int rc = receive_store_record_chunk(conn, jobs + done, rcs + done, k);
        if (rc != 0)
            return rc;
        done += k;
    }
    return 0;
}

/* Records a run: the webhook moved on, only while the lease is held (no row changed: the
 * lease is lost, nothing written; on PostgreSQL the UPDATE also locks the row), with the run
 * in its row, numbered by the caller (the run count it claimed or wrote, + 1: nothing else
 * changes it under the lease). One statement for a first run, without RETURNING: a
 * RETURNING clause buffers its rows in a temporary table, which cost as much as the UPDATE
 * itself (docs/BENCHMARKS.md, "Receiver pace"). */
int receive_store_record_run(db *conn, void *arg)
{
    receive_store_run_job *job = arg;
    static const char update[] = "UPDATE receive_webhooks SET " RECEIVE_STORE_RECORD_SET(
        "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9",
        "$10") ", attempts = attempts + 1, runs = runs + 1"
               " WHERE id = $11 AND lease_token = $12 AND status = 'pending'";
    int rc = receive_store_move_last(conn, job);
    if (rc != 0)
        return rc;
    db_param p[RECEIVE_STORE_RECORD_PARAMS];
    receive_store_record_params(job, p);
    int64_t changed = 0;
    rc = db_query(conn, update, p, RECEIVE_STORE_RECORD_PARAMS, NULL, &changed);
    if (rc != 0)
        return rc;
    return changed == 0 ? HOOKD_ELEASE : 0;
}

/* The columns every listing shows, in the order receive_store_webhook_read reads them. */
#define RECEIVE_STORE_COLUMNS                                                                      \
    "id, event, webhook_timestamp, status, attempts, runs, received_at, next_attempt_at,"          \
    " lease_until"

/* Fills w from the current row (RECEIVE_STORE_COLUMNS). */
static void receive_store_webhook_read(db_rows *rows, receive_store_webhook *w)
{
    w->id = db_rows_strdup(rows, 0);
    w->event = db_rows_strdup(rows, 1);
    w->timestamp = db_rows_strdup(rows, 2);
    w->status = db_rows_strdup(rows, 3);
    w->attempts = db_rows_int(rows, 4);
    w->runs = db_rows_int(rows, 5);
    w->received_at = db_rows_int(rows, 6);
    w->next_attempt_at = strcmp(w->status, "pending") == 0 ? db_rows_int(rows, 7) : -1;
    w->handling = !db_rows_null(rows, 8);
    w->lease_until = w->handling ? db_rows_int(rows, 8) : -1;
}

static void receive_store_webhook_clear(receive_store_webhook *w)
{
    free(w->id);
    free(w->event);
    free(w->timestamp);
    free(w->status);
    free(w->body);
    memset(w, 0, sizeof *w);
}

int receive_store_list(db *conn, void *arg)
{
    receive_store_list_job *job = arg;
    /* Oldest first (the admin API) or newest first (the panel); either way the cursor is the
     * last id shown, and the next page holds what comes after it in that order. */
    const char *order = job->newest_first ? "DESC" : "ASC";
    db_param p[3];
    size_t n = 0;
    char where[192] = "";
    if (job->status) {
        p[n++] = DB_S(job->status);
        snprintf(where, sizeof where, " WHERE status = $1");
    }
    if (job->after) {
        p[n++] = DB_S(job->after);
        size_t used = strlen(where);
        snprintf(where + used, sizeof where - used,
                 "%s (received_at, id) %s (SELECT received_at, id FROM receive_webhooks"
                 " WHERE id = $%zu)",
                 n > 1 ? " AND" : " WHERE", job->newest_first ? "<" : ">", n);
    }
    /* One more than asked: whether there is a next page. */
    p[n++] = DB_I(job->limit + 1);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " RECEIVE_STORE_COLUMNS " FROM receive_webhooks%s"
             " ORDER BY received_at %s, id %s LIMIT $%zu",
             where, order, order, n);
    db_rows *rows = NULL;
    int rc = db_query(conn, sql, p, n, &rows, NULL);
    if (rc != 0)
        return rc;
    job->items = xcalloc((size_t)job->limit, sizeof *job->items);
    while (db_rows_next(rows)) {
        if (job->count == (size_t)job->limit) {
            job->next = xstrdup(job->items[job->count - 1].id);
            break;
        }
        receive_store_webhook_read(rows, &job->items[job->count++]);
    }
    db_rows_free(rows);
    return 0;
}

void receive_store_list_job_clear(receive_store_list_job *job)
{
    for (size_t i = 0; i < job->count; i++)
        receive_store_webhook_clear(&job->items[i]);
    RECEIVE_STORE_FORGET(job->items, job->count);
    free(job->next);
    job->next = NULL;
}

/* Reads the runs of job->id into job->runs. */
static int receive_store_runs_read(db *conn, receive_store_get_job *job)
{
    static const char runs[] =
        "SELECT n, started_at, duration_ms, exit_status, http_status, error, output"
        " FROM receive_run_history WHERE webhook_id = $1 ORDER BY n";
    db_param p[] = {DB_S(job->id)};
    db_rows *rows = NULL;
    int rc = db_query(conn, runs, p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        job->runs = xgrow(job->runs, job->run_count, &cap, sizeof *job->runs);
        receive_store_run *r = &job->runs[job->run_count++];
        r->rec.n = db_rows_int(rows, 0);
        r->rec.started_at = db_rows_int(rows, 1);
        r->rec.duration_ms = db_rows_int(rows, 2);
        r->exit_status = db_rows_int_or(rows, 3, -1);
        r->http_status = db_rows_int_or(rows, 4, -1);
        r->rec.error = db_rows_strdup(rows, 5);
        r->output = db_rows_strdup(rows, 6);
    }
    db_rows_free(rows);
    return 0;
}

int receive_store_get(db *conn, void *arg)
{
    receive_store_get_job *job = arg;
    static const char one[] =
        "SELECT " RECEIVE_STORE_COLUMNS ", body FROM receive_webhooks WHERE id = $1";
    db_param p[] = {DB_S(job->id)};
    db_rows *rows = NULL;
    int rc = db_rows_first(db_query(conn, one, p, 1, &rows, NULL), &rows);
    if (rc != 0)
        return rc;
    receive_store_webhook_read(rows, &job->webhook);
    const char *body = db_rows_text(rows, 9, &job->webhook.body_len);
    job->webhook.body = xstrndup(body, job->webhook.body_len);
    db_rows_free(rows);
    return receive_store_runs_read(conn, job);
}

void receive_store_get_job_clear(receive_store_get_job *job)
{
    receive_store_webhook_clear(&job->webhook);
    for (size_t i = 0; i < job->run_count; i++) {
        free(job->runs[i].rec.error);
        free(job->runs[i].output);
    }
    RECEIVE_STORE_FORGET(job->runs, job->run_count);
}

int receive_store_retry(db *conn, void *arg)
{
    receive_store_retry_job *job = arg;
    static const char finished[] =
        "UPDATE receive_webhooks SET status = 'pending', attempts = 0, next_attempt_at = $1,"
        " updated_at = $2 WHERE id = $3 AND status IN ('done', 'failed')";
    static const char waiting[] =
        "UPDATE receive_webhooks SET next_attempt_at = $1, updated_at = $2"
        " WHERE id = $3 AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $4"
        " OR lease_until > $5)";
    static const char exists[] = "SELECT status FROM receive_webhooks WHERE id = $1";
    /* A lease ending after RECEIVE_STORE_LEASE_SKEW leases from now was written by a clock
     * since set back: it holds nothing (issue 12). */
    db_param p[] = {DB_I(job->now), DB_I(job->now), DB_S(job->id), DB_I(job->now),
                    DB_I(job->now + RECEIVE_STORE_LEASE_SKEW * job->lease_ms)};
    int64_t changed = 0;
    job->was_finished = false;
    int rc = db_query(conn, finished, p, 3, NULL, &changed);
    if (rc != 0)
        return rc;
    if (changed > 0) {
        job->was_finished = true;
        return db_notify(conn, RECEIVE_STORE_NOTIFY_CHANNEL);
    }
    rc = db_query(conn, waiting, p, 5, NULL, &changed);
    if (rc != 0)
        return rc;
    if (changed > 0)
        return db_notify(conn, RECEIVE_STORE_NOTIFY_CHANNEL);
    db_rows *rows = NULL;
    rc = db_query(conn, exists, &p[2], 1, &rows, NULL);
    if (rc != 0)
        return rc;
    bool found = db_rows_next(rows);
    db_rows_free(rows);
    return found ? HOOKD_ECONFLICT : HOOKD_ENOTFOUND;
}

int receive_store_count_by_status(db *conn, void *arg)
{
    receive_store_status_count_job *job = arg;
    db_rows *rows = NULL;
    int rc = db_query(conn, "SELECT status, COUNT(*) FROM receive_webhooks GROUP BY status", NULL,
                      0, &rows, NULL);
    if (rc != 0)
        return rc;
    *job = (receive_store_status_count_job){0};
    while (db_rows_next(rows)) {
        size_t len = 0;
        const char *status = db_rows_text(rows, 0, &len);
        int64_t count = db_rows_int(rows, 1);
        if (len == 7 && memcmp(status, "pending", 7) == 0)
            job->pending = count;
        else if (len == 4 && memcmp(status, "done", 4) == 0)
            job->done = count;
        else if (len == 6 && memcmp(status, "failed", 6) == 0)
            job->failed = count;
    }
    db_rows_free(rows);
    return 0;
}

int receive_store_count_pending(db *conn, void *arg)
{
    receive_store_count_job *job = arg;
    db_rows *rows = NULL;
    int rc = db_query(conn, "SELECT COUNT(*) FROM receive_webhooks WHERE status = 'pending'", NULL,
                      0, &rows, NULL);
    if (rc != 0)
        return rc;
    job->count = db_rows_next(rows) ? db_rows_int(rows, 0) : 0;
    db_rows_free(rows);
    return 0;
}

int receive_store_purge(db *conn, retention_batch *batch)
{
    static const char *const deletes[] = {"DELETE FROM receive_runs WHERE webhook_id IN ",
                                          "DELETE FROM receive_webhooks WHERE id IN "};
    return retention_purge_ids(conn, batch,
                               "SELECT id FROM receive_webhooks WHERE status IN ('done', "
                               "'failed') AND updated_at < $1 ORDER BY received_at, id LIMIT $2",
                               deletes, 2);
}

/* Gives leases back (release at start and stop, unclaim of unstarted runs): the row is
 * claimable again at once. */
#define RECEIVE_STORE_UNLEASE                                                                      \
    "UPDATE receive_webhooks SET lease_until = NULL, lease_token = NULL, lease_owner = NULL"

int receive_store_release(db *conn, void *arg)
{
    receive_store_release_job *job = arg;
    static const char sql[] =
        RECEIVE_STORE_UNLEASE " WHERE substr(lease_owner, 1, $1) = $2 AND status = 'pending'";
    db_param p[] = {DB_I((int64_t)strlen(job->prefix)), DB_S(job->prefix)};
    return db_query(conn, sql, p, 2, NULL, &job->released);
}

int receive_store_unclaim(db *conn, void *arg)
{
    receive_store_unclaim_job *job = arg;
    static const char sql[] =
        RECEIVE_STORE_UNLEASE " WHERE id = $1 AND lease_token = $2 AND status = 'pending'";
    for (size_t i = 0; i < job->count; i++) {
        db_param p[] = {DB_S(job->ids[i]), DB_S(job->tokens[i])};
        int rc = db_query(conn, sql, p, 2, NULL, NULL);
        if (rc != 0)
            return rc;
    }
    return job->count > 0 ? db_notify(conn, RECEIVE_STORE_NOTIFY_CHANNEL) : 0;
}

int receive_store_extend(db *conn, void *arg)
{
    receive_store_extend_job *job = arg;
    static const char sql[] =
        "UPDATE receive_webhooks SET lease_until = $1"
        " WHERE lease_owner = $2 AND lease_until IS NOT NULL AND status = 'pending'";
    db_param p[] = {DB_I(job->lease_until), DB_S(job->owner)};
    return db_query(conn, sql, p, 2, NULL, &job->extended);
}
