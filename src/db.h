/*
 * db.h — one SQL connection, to SQLite or PostgreSQL, behind one small interface, and the
 * store thread that runs batched transactions on it for the event loop.
 *
 * The sender's store (serve_store.c) and the receiver's (receive_store.c) are written once
 * against this interface, and read rows with the same helpers (db_rows_first …); db_sqlite.c and
 * db_pg.c are its two backends. SQL is written in PostgreSQL's dialect with $1, $2 … placeholders;
 * the SQLite backend rewrites them. Both backends speak: INSERT … ON CONFLICT DO NOTHING,
 * RETURNING, BIGINT, TEXT, and one-word casts like $1::bigint (PostgreSQL needs them where a
 * parameter's type cannot be inferred, e.g. "$1::bigint IS NULL"; SQLite drops them). Where they
 * differ (FOR UPDATE SKIP LOCKED) callers test db_kind(); notifications (db_notify, db_listener)
 * are PostgreSQL's LISTEN/NOTIFY and no-ops on SQLite.
 *
 * Threads: a db connection belongs to one thread at a time. The event loop never calls
 * db_* on a connection that may wait for an fsync or the network; it submits work to a
 * db_worker (below), which runs it on its own thread and calls back on the loop.
 */
#ifndef HOOKD_DB_H
#define HOOKD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct db db;
typedef struct db_rows db_rows;

enum db_kind { DB_SQLITE = 1, DB_POSTGRES = 2 };

/* A query parameter. Build them with the DB_* macros below. */
typedef struct db_param {
    enum { DB_NULL, DB_INT, DB_TEXT } type;
    int64_t i;     /* DB_INT */
    const char *s; /* DB_TEXT: not copied; must outlive the call */
    size_t len;    /* DB_TEXT: byte length */
} db_param;

#define DB_I(v) ((db_param){.type = DB_INT, .i = (int64_t)(v)})
#define DB_S(v) ((db_param){.type = DB_TEXT, .s = (v), .len = strlen(v)})
#define DB_SN(v, n) ((db_param){.type = DB_TEXT, .s = (v), .len = (n)})
#define DB_NUL ((db_param){.type = DB_NULL})
/* DB_S of a possibly-NULL string: NULL becomes SQL NULL. */
#define DB_SOPT(v) ((v) ? DB_S(v) : DB_NUL)

/*
 * Opens a connection. url is "sqlite:PATH" (WAL, synchronous=FULL, busy timeout) or
 * "postgres://…" / "postgresql://…". On failure returns HOOKD_ESTORE (or HOOKD_EINVAL for
 * an unknown scheme) and writes a reason into err (errlen bytes); *out is NULL.
 */
int db_open(const char *url, db **out, char *err, size_t errlen);
void db_close(db *conn);
enum db_kind db_kind(const db *conn);

/* The file of a "sqlite:PATH" URL (a pointer into url), or NULL for any other URL. */
const char *db_sqlite_path(const char *url);

/* SQLite: makes name(text) callable in this connection's SQL, 1 when fn(ctx, text) is true
 * (0 for NULL). Not deterministic: SQLite asks it for every row it tests, so a query can
 * consult what the process keeps in memory (serve_held.h) before it joins or copies the
 * row. fn runs on the thread of the query, ctx must outlive the connection. 0, or
 * HOOKD_EINVAL on PostgreSQL (no such thing), HOOKD_ESTORE when SQLite refused. */
int db_sqlite_predicate(db *conn, const char *name, bool (*fn)(void *ctx, const char *text),
                        void *ctx);

/* The last error's message from the backend, for logs. Never NULL. */
const char *db_errmsg(const db *conn);

/* Runs one or more statements without parameters (schema, BEGIN …). 0 or HOOKD_ESTORE. */
int db_exec(db *conn, const char *sql);

/* PostgreSQL: from now on, and after any reconnect, this session keeps its prepared
 * statements' plans (plan_cache_mode=auto) where db_pg.c's default plans every execution
 * again; a plan_cache_mode in the URL's options still wins. For a caller whose statements
 * are all seeks by key. SQLite: nothing to do. 0 or HOOKD_ESTORE. */
int db_keep_plans(db *conn);

/* For a connection a store thread keeps for itself (db_worker.c): SQLite copies its WAL back
 * into the database file on a thread of its own, off the commits' path
 * (db_sqlite_checkpoint.c); nothing on PostgreSQL. Stopped by db_close. */
void db_background_checkpoints(db *conn);

/*
 * Runs one statement with n parameters. When rows is not NULL, *rows receives the result
 * to read with db_rows_next and free with db_rows_free; otherwise the result is dropped.
 * Returns 0, or HOOKD_ESTORE; HOOKD_ECONFLICT when a unique constraint refused the row.
 * If changed is not NULL it receives the number of rows inserted/updated/deleted.
 */
int db_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
             int64_t *changed);

/* Advances to the next row: true when there is one. */
bool db_rows_next(db_rows *rows);
bool db_rows_null(db_rows *rows, int col);
int64_t db_rows_int(db_rows *rows, int col);
/* Text of a column of the current row (valid until the next db_rows_next/free); "" for
 * NULL. len, when not NULL, receives its length. */
const char *db_rows_text(db_rows *rows, int col, size_t *len);
void db_rows_free(db_rows *rows);
/* The rows of a query that wants one: passes a failed query's rc (its first argument) on;
 * else moves *rows to the first row and returns 0, or frees *rows and returns
 * HOOKD_ENOTFOUND when there is none. Both stores read "the one row with this id" so. */
int db_rows_first(int rc, db_rows **rows);
/* The column's text, copied (mem.h), or NULL when it is SQL NULL. */
char *db_rows_strdup(db_rows *rows, int col);
/* The column's integer, or none when it is SQL NULL. */
int64_t db_rows_int_or(db_rows *rows, int col, int64_t none);

/* Transactions. db_begin takes the write lock at once on SQLite (BEGIN IMMEDIATE). */
int db_begin(db *conn);
int db_commit(db *conn);
int db_rollback(db *conn);

/*
 * Applies versioned migrations once each, in order, recording them in a table named
 * `<component>_schema_version` (component is "serve" or "receive", so both can share one
 * database). migrations[i] is the SQL of version i+1. Safe when several processes start at
 * once on PostgreSQL (advisory lock).
 */
int db_migrate(db *conn, const char *component, const char *const *migrations, size_t count);

/* ---- notifications between processes sharing a database ---- */

/*
 * Inside the current transaction: wakes every listener of channel once it commits
 * (pg_notify; notifications of one transaction are sent once each). A no-op on SQLite,
 * where only the process that wrote learns of it. channel is an identifier of lowercase
 * letters, digits and '_'. 0 or HOOKD_ESTORE.
 */
int db_notify(db *conn, const char *channel);

typedef struct db_listener db_listener;

/* Called on the loop thread when a notification arrives on the channel, and after every
 * (re)connection, since notifications sent while disconnected are lost. */
typedef void (*db_notify_fn)(void *arg);

/*
 * Listens on a PostgreSQL channel (see db_notify) on a connection of its own, opened from
 * url, whose socket is watched by base's loop: the loop never waits on it. The connection is
 * made in the background; a lost one is made again after 0.5 s, doubling up to 30 s, each
 * failure logged (without the password). A host name in url is resolved at each connect,
 * blocking: an address avoids that. TCP keepalives (30 s) notice a vanished server.
 * Returns HOOKD_EINVAL for a sqlite: URL (no notifications: *out is NULL) or an invalid
 * channel. Never fails otherwise (allocation failure aborts). Thread: loop thread only.
 */
int db_listener_open(struct event_base *base, const char *url, const char *channel, db_notify_fn fn,
                     void *arg, db_listener **out);

/* True while the LISTEN is in force (notifications are being received). */
bool db_listener_ready(const db_listener *l);

/* Closes the connection and frees the listener; fn is not called again. NULL is a no-op. */
void db_listener_close(db_listener *l);

/* ---- the store thread ---- */

typedef struct db_worker db_worker;

/*
 * Work run on the store thread inside the batch's transaction. Returns 0 or a HOOKD_E*
 * code; a non-zero return rolls back only this job's own writes, the batch goes on.
 */
typedef int (*db_work_fn)(db *conn, void *arg);

/* Called on the event loop thread once the batch holding the job has committed (rc is the
 * work's result) or failed to commit (rc = HOOKD_ESTORE). */
typedef void (*db_done_fn)(void *arg, int rc);

/*
 * Starts a thread owning conn (the caller gives it up) that takes every job queued since its
 * last batch, runs them in one transaction, commits — one fsync for the batch — and then
 * calls each job's done on base's loop. max_batch bounds a batch (0: 1024).
 */
int db_worker_start(struct event_base *base, db *conn, size_t max_batch, db_worker **out);

/*
 * The same with n connections (1 to DB_WORKER_MAX_UNITS), each with its own thread: on
 * PostgreSQL a statement is a round trip, so one connection's serial latency, not the CPU,
 * bounded the store. *out is the pool's first lane (db_worker_lane(w, 0)): its jobs run in
 * submission order, one batch after another, exactly as with one thread, so every module
 * keeps the order it relied on. Jobs submitted through db_worker_spread go to the thread
 * with the fewest jobs pending and run in transactions concurrent with the lanes': only for
 * jobs that rely on nothing that has not answered (committed) before they were submitted,
 * and that nothing submitted later relies on before their done. SQLite has one writer:
 * start it with n = 1 (which is db_worker_start). Every handle of a pool is checked
 * (db_worker_ready: ready when every thread is), counted (db_worker_pending) and stopped as
 * one.
 */
#define DB_WORKER_MAX_UNITS 8
/* How many the sender and the receiver open on PostgreSQL (docs/BENCHMARKS.md, "PostgreSQL:
 * more than one store connection": 2 against 1 measured on 2 cores, more not measured). The
 * receiver gives its second lane to the public endpoint's saves (receive_main.c). */
#ifndef DB_WORKER_POSTGRES_UNITS
#define DB_WORKER_POSTGRES_UNITS 2
#endif
int db_worker_start_pool(struct event_base *base, db **conns, size_t n, size_t max_batch,
                         db_worker **out);

/* db_worker_start_pool over conn and n - 1 more connections opened to url, each given to
 * prepare (the migrations, which find nothing to do and set up the session as on conn).
 * On failure every connection, conn too, is closed. */
int db_worker_open_pool(struct event_base *base, db *conn, const char *url, size_t n,
                        int (*prepare)(db *conn), db_worker **out);

/* A handle whose jobs all run on thread lane (modulo the pool's size) in submission order. */
db_worker *db_worker_lane(db_worker *w, unsigned lane);

/* The handle whose jobs go to the least loaded thread (see db_worker_start_pool). */
db_worker *db_worker_spread(db_worker *w);

/* The lane for key: jobs about one key (an Idempotency-Key) run in order on one thread. */
db_worker *db_worker_lane_key(db_worker *w, const char *key);

/* Queues a job; thread-safe. done may be NULL. Never fails (allocation failure aborts). */
void db_worker_submit(db_worker *w, db_work_fn work, db_done_fn done, void *arg);

/* Queues a job that may wait for company: while urgent jobs (db_worker_submit's) came in
 * within the last 100 ms, a batch of only lazy jobs starts when an urgent job arrives or
 * its oldest job waited 10 ms (db_worker.c), so that bookkeeping rides along
 * with the next urgent job's commit (one fsync for both) instead of taking a commit of its
 * own that the urgent job would wait behind. Otherwise as db_worker_submit; the order of
 * runs and of done callbacks stays the order of submission (on one lane: db_worker_lane). */
void db_worker_submit_lazy(db_worker *w, db_work_fn work, db_done_fn done, void *arg);

/* What a job may be (db_worker_submit_flags), or'ed. */
#define DB_JOB_LAZY 1u /* as db_worker_submit_lazy */
/* Its work may run twice in one batch: once, then — after a later job of the batch failed
 * and the transaction was rolled back — again from the start, in a new transaction. The
 * second run must give what one run would: it resets every output at its start (frees and
 * forgets what the first run allocated, assigns instead of adding) and changes nothing
 * outside the transaction that it would then find changed (an in-memory set, a queue taken,
 * a counter). Its done is still called once, with the last run's result. In return it runs
 * without a savepoint of its own, which on SQLite copies every page it changes
 * (db_worker.c). Without the flag a job runs exactly once. */
#define DB_JOB_RERUNNABLE 2u

/* db_worker_submit with flags (DB_JOB_*). */
void db_worker_submit_flags(db_worker *w, unsigned flags, db_work_fn work, db_done_fn done,
                            void *arg);

/* Jobs queued or running, for metrics and back-pressure. */
size_t db_worker_pending(db_worker *w);

/* Whether the store is reachable and takes writes, told to fn on the loop (at once, or once
 * a probe write has run): not when a batch has been under way for 3 s (a store not
 * answering), nor when the last batch or probe failed; reason says why ("" when ready). */
typedef void (*db_ready_fn)(void *arg, bool ready, const char *reason);
void db_worker_ready(db_worker *w, db_ready_fn fn, void *arg);

/* Runs every queued job, stops the threads, closes their connections (given any handle). Calls the
 * remaining done callbacks on the calling (loop) thread before returning. */
void db_worker_stop(db_worker *w);

#endif
