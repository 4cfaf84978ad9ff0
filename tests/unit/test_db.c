/*
 * test_db.c — db.h on SQLite (a temporary directory) and, when HOOKD_TEST_PG_URL names a
 * server, on PostgreSQL: migrations, parameters, RETURNING, conflicts, and the store thread's
 * batches. Without HOOKD_TEST_PG_URL the PostgreSQL cases are reported as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "db.h"
#include "hookd.h"
#include "loop.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef store_fixture fixture;

static const char *const migrations[] = {
    "CREATE TABLE ut_items (id BIGINT PRIMARY KEY, name TEXT UNIQUE, n BIGINT, note TEXT)",
    "CREATE TABLE ut_log (id BIGINT PRIMARY KEY, what TEXT NOT NULL)",
    "ALTER TABLE ut_items ADD COLUMN extra TEXT",
};

static void fixture_open(fixture *f, db **out)
{
    char err[256] = "";
    int rc = db_open(f->url, out, err, sizeof err);
    if (rc != 0)
        fail_msg("db_open %s: %s", f->url, err);
}

static int setup(void **state, enum db_kind kind)
{
    store_fixture_setup(state, kind,
                        "DROP TABLE IF EXISTS ut_items, ut_log, ut_schema_version, ut_worker, "
                        "ut_child");
    fixture *f = *state;
    if (!f)
        return 0;
    assert_int_equal(db_migrate(f->conn, "ut", migrations, 3), 0);
    assert_int_equal(db_exec(f->conn, "CREATE TABLE IF NOT EXISTS ut_worker "
                                      "(id BIGINT PRIMARY KEY, v TEXT)"),
                     0);
    return 0;
}

static int setup_sqlite(void **state)
{
    return setup(state, DB_SQLITE);
}

static int setup_pg(void **state)
{
    return setup(state, DB_POSTGRES);
}

#define teardown store_fixture_teardown
#define FIXTURE(state) STORE_FIXTURE(state)

static int64_t count_rows(db *conn, const char *sql)
{
    return store_fixture_count(conn, sql, NULL, 0);
}

static void test_migrations_once(void **state)
{
    FIXTURE(state);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_schema_version"), 3);
    /* Again: nothing re-applied (re-running the ALTER would fail). */
    assert_int_equal(db_migrate(f->conn, "ut", migrations, 3), 0);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_schema_version"), 3);
    assert_int_equal(count_rows(f->conn, "SELECT MAX(version) FROM ut_schema_version"), 3);
    /* A failing new migration leaves nothing behind and reports the error. */
    const char *more[] = {migrations[0], migrations[1], migrations[2],
                          "CREATE TABLE ut_new (a BIGINT); SELECT * FROM no_such_table"};
    assert_int_equal(db_migrate(f->conn, "ut", more, 4), HOOKD_ESTORE);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_schema_version"), 3);
    assert_int_equal(db_migrate(f->conn, "bad name", migrations, 1), HOOKD_EINVAL);
}

static void test_params_every_type(void **state)
{
    FIXTURE(state);
    const char raw[] = "abc\"'$1 é";
    db_param p[] = {DB_I(INT64_MAX), DB_SN(raw, 5), DB_I(-42), DB_NUL};
    int64_t changed = -1;
    assert_int_equal(db_query(f->conn,
                              "INSERT INTO ut_items (id, name, n, note) VALUES ($1, $2, $3, $4)", p,
                              4, NULL, &changed),
                     0);
    assert_int_equal(changed, 1);
    db_param k = DB_I(INT64_MAX);
    db_rows *rows = NULL;
    assert_int_equal(db_query(f->conn, "SELECT id, name, n, note, '$1' FROM ut_items WHERE id = $1",
                              &k, 1, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    assert_true(db_rows_int(rows, 0) == INT64_MAX);
    size_t len = 0;
    const char *name = db_rows_text(rows, 1, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(name, "abc\"'", 5);
    assert_int_equal(db_rows_int(rows, 2), -42);
    assert_false(db_rows_null(rows, 2));
    assert_true(db_rows_null(rows, 3));
    assert_string_equal(db_rows_text(rows, 3, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(db_rows_text(rows, 4, NULL), "$1"); /* quoted: not a parameter */
    assert_false(db_rows_next(rows));
    db_rows_free(rows);

    /* UTF-8 text and DB_SOPT. */
    const char *none = NULL;
    db_param q[] = {DB_I(7), DB_S("é✓"), DB_SOPT(none)};
    assert_int_equal(db_query(f->conn, "INSERT INTO ut_items (id, name, note) VALUES ($1, $2, $3)",
                              q, 3, NULL, NULL),
                     0);
    db_param k7 = DB_I(7);
    assert_int_equal(
        db_query(f->conn, "SELECT name, note FROM ut_items WHERE id = $1", &k7, 1, &rows, NULL), 0);
    assert_true(db_rows_next(rows));
    assert_string_equal(db_rows_text(rows, 0, NULL), "é✓");
    assert_true(db_rows_null(rows, 1));
    db_rows_free(rows);
}

static void test_returning_and_conflicts(void **state)
{
    FIXTURE(state);
    db_param p[] = {DB_I(1), DB_S("one")};
    db_rows *rows = NULL;
    int64_t changed = -1;
    assert_int_equal(db_query(f->conn,
                              "INSERT INTO ut_items (id, name) VALUES ($1, $2) "
                              "ON CONFLICT DO NOTHING RETURNING id, name",
                              p, 2, &rows, &changed),
                     0);
    assert_int_equal(changed, 1);
    assert_true(db_rows_next(rows));
    assert_int_equal(db_rows_int(rows, 0), 1);
    assert_string_equal(db_rows_text(rows, 1, NULL), "one");
    assert_false(db_rows_next(rows));
    db_rows_free(rows);

    /* The same again: nothing inserted, no row returned. */
    assert_int_equal(db_query(f->conn,
                              "INSERT INTO ut_items (id, name) VALUES ($1, $2) "
                              "ON CONFLICT DO NOTHING RETURNING id, name",
                              p, 2, &rows, &changed),
                     0);
    assert_int_equal(changed, 0);
    assert_false(db_rows_next(rows));
    db_rows_free(rows);

    /* A plain duplicate: primary key, then unique column. */
    assert_int_equal(
        db_query(f->conn, "INSERT INTO ut_items (id, name) VALUES ($1, $2)", p, 2, NULL, NULL),
        HOOKD_ECONFLICT);
    db_param q[] = {DB_I(2), DB_S("one")};
    assert_int_equal(
        db_query(f->conn, "INSERT INTO ut_items (id, name) VALUES ($1, $2)", q, 2, NULL, NULL),
        HOOKD_ECONFLICT);
    assert_true(strlen(db_errmsg(f->conn)) > 0);

    /* UPDATE … RETURNING and changed. */
    db_param u[] = {DB_I(5)};
    assert_int_equal(
        db_query(f->conn, "UPDATE ut_items SET n = $1 RETURNING n", u, 1, &rows, &changed), 0);
    assert_int_equal(changed, 1);
    assert_true(db_rows_next(rows));
    assert_int_equal(db_rows_int(rows, 0), 5);
    db_rows_free(rows);

    /* A syntax error is a store error, and the connection still works after it. */
    assert_int_equal(db_query(f->conn, "SELEKT 1", NULL, 0, NULL, NULL), HOOKD_ESTORE);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_items"), 1);

    /* A transaction rolled back leaves nothing. */
    assert_int_equal(db_begin(f->conn), 0);
    db_param r[] = {DB_I(3), DB_S("three")};
    assert_int_equal(
        db_query(f->conn, "INSERT INTO ut_items (id, name) VALUES ($1, $2)", r, 2, NULL, NULL), 0);
    assert_int_equal(db_rollback(f->conn), 0);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_items"), 1);
}

static void test_casts_and_quotes(void **state)
{
    FIXTURE(state);
    db_param p[] = {DB_NUL, DB_I(12)};
    db_rows *rows = NULL;
    assert_int_equal(db_query(f->conn,
                              "SELECT $1::bigint IS NULL, $2::bigint + 1, 'a::b', "
                              "'it''s $1'",
                              p, 2, &rows, NULL),
                     0);
    assert_true(db_rows_next(rows));
    assert_int_equal(db_rows_int(rows, 0), 1);
    assert_int_equal(db_rows_int(rows, 1), 13);
    assert_string_equal(db_rows_text(rows, 2, NULL), "a::b");
    assert_string_equal(db_rows_text(rows, 3, NULL), "it's $1");
    db_rows_free(rows);
}

/* The server ends victim's session (its backend terminated through killer), as an outage
 * or an administrator would; victim learns of it at its next statement. */
static void pg_kill_session(db *killer, db *victim)
{
    db_rows *rows = NULL;
    assert_int_equal(db_query(victim, "SELECT pg_backend_pid()", NULL, 0, &rows, NULL), 0);
    assert_true(db_rows_next(rows));
    db_param pid = DB_I(db_rows_int(rows, 0));
    db_rows_free(rows);
    assert_int_equal(db_query(killer, "SELECT pg_terminate_backend($1::int)", &pid, 1, NULL, NULL),
                     0);
    usleep(100000);
}

/* PostgreSQL only: a connection killed by the server is re-established before the next
 * statement outside a transaction; inside one, the transaction fails at commit. */
static void test_pg_reconnect(void **state)
{
    FIXTURE(state);
    db *victim;
    fixture_open(f, &victim);
    for (int round = 0; round < 2; round++) {
        bool in_tx = round == 1;
        if (in_tx)
            assert_int_equal(db_begin(victim), 0);
        pg_kill_session(f->conn, victim);
        if (in_tx) {
            assert_int_equal(db_exec(victim, "SELECT 1"), HOOKD_ESTORE);
            assert_int_equal(db_exec(victim, "SELECT 1"), HOOKD_ESTORE);
            assert_int_equal(db_commit(victim), HOOKD_ESTORE);
            assert_int_equal(db_begin(victim), 0);
            assert_int_equal(db_commit(victim), 0);
        } else {
            /* The first statement may see the dead socket; the next one reconnects. */
            int rc = db_exec(victim, "SELECT 1");
            if (rc != 0)
                assert_int_equal(db_exec(victim, "SELECT 1"), 0);
        }
    }
    db_close(victim);
}

/* The session's plan_cache_mode, as the server reports it. */
static void assert_plan_mode(db *conn, const char *want)
{
    db_rows *rows = NULL;
    assert_int_equal(
        db_query(conn, "SELECT current_setting('plan_cache_mode')", NULL, 0, &rows, NULL), 0);
    assert_true(db_rows_next(rows));
    assert_string_equal(db_rows_text(rows, 0, NULL), want);
    db_rows_free(rows);
}

/* PostgreSQL only: db_keep_plans sets plan_cache_mode=auto, and a reconnect keeps it (the
 * default session plans every execution). */
static void test_pg_keep_plans(void **state)
{
    FIXTURE(state);
    db *conn;
    fixture_open(f, &conn);
    assert_plan_mode(conn, "force_custom_plan");
    assert_int_equal(db_keep_plans(conn), 0);
    assert_plan_mode(conn, "auto");
    pg_kill_session(f->conn, conn);
    if (db_exec(conn, "SELECT 1") != 0) /* the first statement may see the dead socket */
        assert_int_equal(db_exec(conn, "SELECT 1"), 0);
    assert_plan_mode(conn, "auto");
    db_close(conn);
}

/* ---- the store thread ---- */

typedef struct job_state {
    int64_t id;    /* row to insert */
    int fail_with; /* returned after the insert when non-zero */
    int rc;        /* as reported to done */
    int done_calls;
    pthread_t done_thread;
    int *done_total;
    int runs; /* times its work ran (store thread) */
} job_state;

static int job_insert(db *conn, void *arg)
{
    job_state *j = arg;
    __atomic_add_fetch(&j->runs, 1, __ATOMIC_SEQ_CST);
    db_param p[] = {DB_I(j->id), DB_S("x")};
    int rc = db_query(conn, "INSERT INTO ut_worker (id, v) VALUES ($1, $2)", p, 2, NULL, NULL);
    if (rc != 0)
        return rc;
    return j->fail_with;
}

static void job_done(void *arg, int rc)
{
    job_state *j = arg;
    j->rc = rc;
    j->done_calls++;
    j->done_thread = pthread_self();
    (*j->done_total)++;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *counter reaches want or 10 s pass. */
static void run_until(struct event_base *base, int *counter, int want)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
    int64_t deadline = loop_monotonic_ms() + 10000;
    while (*counter < want && loop_monotonic_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
}

static void test_worker_batches(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);

    int total = 0;
    job_state jobs[6];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 6; i++) {
        jobs[i].id = 100 + i;
        jobs[i].done_total = &total;
    }
    jobs[2].fail_with = HOOKD_EINVAL; /* inserts, then fails: its row must vanish */
    jobs[4].id = 101;                 /* duplicate of job 1: conflict */
    for (int i = 0; i < 6; i++)
        db_worker_submit(w, job_insert, job_done, &jobs[i]);
    assert_true(db_worker_pending(w) <= 6);
    run_until(base, &total, 6);
    assert_int_equal(total, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(jobs[i].done_calls, 1);
        assert_true(pthread_equal(jobs[i].done_thread, pthread_self()));
    }
    assert_int_equal(jobs[0].rc, 0);
    assert_int_equal(jobs[1].rc, 0);
    assert_int_equal(jobs[2].rc, HOOKD_EINVAL);
    assert_int_equal(jobs[3].rc, 0);
    assert_int_equal(jobs[4].rc, HOOKD_ECONFLICT);
    assert_int_equal(jobs[5].rc, 0);
    assert_int_equal(db_worker_pending(w), 0);

    /* Stop drains: jobs queued just before stop run, and their done is called. */
    job_state late[3];
    memset(late, 0, sizeof late);
    int late_total = 0;
    for (int i = 0; i < 3; i++) {
        late[i].id = 200 + i;
        late[i].done_total = &late_total;
        db_worker_submit(w, job_insert, job_done, &late[i]);
    }
    db_worker_submit(w, job_insert, NULL, &(job_state){.id = 300});
    db_worker_stop(w);
    assert_int_equal(late_total, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(late[i].rc, 0);

    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker"), 8);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id = 102"), 0);
    event_base_free(base);
}

/* The order done callbacks ran in, for the lazy jobs' test. */
static int done_sequence;
static int done_order[4];

static void job_done_ordered(void *arg, int rc)
{
    job_state *j = arg;
    job_done(arg, rc);
    done_order[j->id % 4] = ++done_sequence;
}

/* A lazy job (db.h) while urgent jobs keep coming waits for the next urgent one, at most
 * the linger (10 ms); the order of done callbacks stays the order of submission. */
static void test_worker_lazy_jobs(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);
    int total = 0;
    job_state jobs[4];
    memset(jobs, 0, sizeof jobs);
    done_sequence = 0;
    for (int i = 0; i < 4; i++) {
        jobs[i].id = 400 + i;
        jobs[i].done_total = &total;
    }
    db_worker_submit(w, job_insert, job_done_ordered, &jobs[0]); /* urgent: the receiver is busy */
    run_until(base, &total, 1);
    int64_t queued = loop_monotonic_ms();
    db_worker_submit_lazy(w, job_insert, job_done_ordered, &jobs[1]); /* alone: it lingers */
    run_until(base, &total, 2);
    assert_true(loop_monotonic_ms() - queued >= 9);
    db_worker_submit_lazy(w, job_insert, job_done_ordered, &jobs[2]);
    db_worker_submit(w, job_insert, job_done_ordered, &jobs[3]); /* takes the lazy one along */
    run_until(base, &total, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(done_order[(400 + i) % 4], i + 1);
    }
    db_worker_stop(w);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 400"), 4);
    event_base_free(base);
}

/* Holds the store thread until the test has queued the rest of a batch. */
static volatile int gate_open;

static int job_gate(db *conn, void *arg)
{
    (void)conn;
    (void)arg;
    for (int i = 0; i < 5000 && !__atomic_load_n(&gate_open, __ATOMIC_SEQ_CST); i++)
        usleep(1000);
    return 0;
}

/* Starts a worker on a connection of f's and holds its thread in a gate job, so that the
 * jobs submitted next make one batch once gate_release opens it. */
static db_worker *gated_worker(fixture *f, struct event_base *base, job_state *gate)
{
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);
    __atomic_store_n(&gate_open, 0, __ATOMIC_SEQ_CST);
    db_worker_submit(w, job_gate, job_done, gate);
    usleep(20000); /* the thread takes the gate job alone and waits in it */
    return w;
}

/* Jobs that may run twice (DB_JOB_RERUNNABLE) run without savepoints; when one fails the
 * batch is undone and run again with a savepoint per job: the same rows and results as a
 * savepoint per job from the start, each row once, each done called once. */
static void test_worker_rerun(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    int total = 0, gate_total = 0;
    job_state gate = {.done_total = &gate_total};
    db_worker *w = gated_worker(f, base, &gate);
    job_state jobs[5];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 5; i++) {
        jobs[i].id = 600 + i;
        jobs[i].done_total = &total;
    }
    jobs[2].fail_with = HOOKD_EINVAL; /* inserts, then fails: its row must vanish */
    jobs[3].id = 601;                 /* duplicate of job 1: conflict, its own failure */
    for (int i = 0; i < 5; i++)
        db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_insert, job_done, &jobs[i]);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    run_until(base, &total, 5);
    assert_int_equal(total, 5);
    int want[] = {0, 0, HOOKD_EINVAL, HOOKD_ECONFLICT, 0};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(jobs[i].rc, want[i]);
        assert_int_equal(jobs[i].done_calls, 1);
    }
    /* the first pass stopped at job 2; the second ran every job */
    int runs[] = {2, 2, 2, 1, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(jobs[i].runs, runs[i]);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 600"), 3);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id = 602"), 0);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id = 601"), 1);

    /* A batch of jobs that all succeed commits after one run each. */
    job_state ok[2] = {{.id = 610, .done_total = &total}, {.id = 611, .done_total = &total}};
    gate.done_calls = 0;
    __atomic_store_n(&gate_open, 0, __ATOMIC_SEQ_CST);
    db_worker_submit(w, job_gate, job_done, &gate);
    usleep(20000);
    for (int i = 0; i < 2; i++)
        db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_insert, job_done, &ok[i]);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    run_until(base, &total, 7);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ok[i].rc, 0);
        assert_int_equal(ok[i].runs, 1);
    }
    db_worker_stop(w);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 610"), 2);
    event_base_free(base);
}

/* A job that has not said it may run twice runs once: a batch holding one keeps a savepoint
 * per job, and a failing job there undoes only its own writes. */
static void test_worker_rerun_mixed(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    int total = 0, gate_total = 0;
    job_state gate = {.done_total = &gate_total};
    db_worker *w = gated_worker(f, base, &gate);
    job_state a = {.id = 700, .done_total = &total};
    job_state once = {.id = 701, .done_total = &total};
    job_state bad = {.id = 702, .fail_with = HOOKD_EINVAL, .done_total = &total};
    job_state b = {.id = 703, .done_total = &total};
    db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_insert, job_done, &a);
    db_worker_submit(w, job_insert, job_done, &once);
    db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_insert, job_done, &bad);
    db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_insert, job_done, &b);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    run_until(base, &total, 4);
    assert_int_equal(a.rc, 0);
    assert_int_equal(once.rc, 0);
    assert_int_equal(bad.rc, HOOKD_EINVAL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(once.runs, 1);
    assert_int_equal(a.runs, 1);
    db_worker_stop(w);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 700"), 3);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id = 702"), 0);
    event_base_free(base);
}

/* Inserts a child whose parent does not exist: accepted now (the foreign key is deferred),
 * refused at COMMIT. */
static int job_orphan(db *conn, void *arg)
{
    (void)arg;
    db_param p = DB_I(999);
    return db_query(conn, "INSERT INTO ut_child (id, parent) VALUES (1, $1)", &p, 1, NULL, NULL);
}

/* A batch whose commit fails gives every job HOOKD_ESTORE and keeps none of its writes. */
static void test_worker_commit_failure(void **state)
{
    FIXTURE(state);
    assert_int_equal(db_exec(f->conn, "DROP TABLE IF EXISTS ut_child"), 0);
    assert_int_equal(db_exec(f->conn, "CREATE TABLE ut_child (id BIGINT PRIMARY KEY, "
                                      "parent BIGINT REFERENCES ut_worker (id) "
                                      "DEFERRABLE INITIALLY DEFERRED)"),
                     0);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);
    int total = 0;
    int gate_total = 0;
    job_state gate = {.done_total = &gate_total};
    job_state a = {.id = 400, .done_total = &total};
    job_state b = {.id = 401, .done_total = &total};
    job_state orphan = {.done_total = &total};
    __atomic_store_n(&gate_open, 0, __ATOMIC_SEQ_CST);
    db_worker_submit(w, job_gate, job_done, &gate);
    usleep(20000); /* the thread takes the gate job alone and waits in it */
    db_worker_submit(w, job_insert, job_done, &a);
    db_worker_submit(w, job_orphan, job_done, &orphan);
    db_worker_submit(w, job_insert, job_done, &b);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    run_until(base, &total, 3);
    assert_int_equal(total, 3);
    assert_int_equal(gate.rc, 0);
    assert_int_equal(a.rc, HOOKD_ESTORE);
    assert_int_equal(orphan.rc, HOOKD_ESTORE);
    assert_int_equal(b.rc, HOOKD_ESTORE);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 400"), 0);

    /* The connection is still good for the next batch. */
    job_state c = {.id = 402, .done_total = &total};
    db_worker_submit(w, job_insert, job_done, &c);
    run_until(base, &total, 4);
    assert_int_equal(c.rc, 0);
    db_worker_stop(w);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_worker WHERE id >= 400"), 1);
    event_base_free(base);
}

/* Several starters migrating at once: each version applied exactly once. */
typedef struct migrator {
    fixture *f;
    int rc;
} migrator;

static const char *const concurrent_migrations[] = {
    "CREATE TABLE ut_conc (id BIGINT PRIMARY KEY)",
    "INSERT INTO ut_conc (id) VALUES (1)",
    "INSERT INTO ut_conc (id) VALUES (2)",
};

static void *migrator_main(void *arg)
{
    migrator *m = arg;
    db *conn;
    char err[256];
    m->rc = db_open(m->f->url, &conn, err, sizeof err);
    if (m->rc == 0) {
        m->rc = db_migrate(conn, "utc", concurrent_migrations, 3);
        db_close(conn);
    }
    return NULL;
}

static void test_migrations_concurrent(void **state)
{
    FIXTURE(state);
    assert_int_equal(db_exec(f->conn, "DROP TABLE IF EXISTS ut_conc"), 0);
    assert_int_equal(db_exec(f->conn, "DROP TABLE IF EXISTS utc_schema_version"), 0);
    pthread_t threads[3];
    migrator m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = (migrator){.f = f, .rc = -1};
        assert_int_equal(pthread_create(&threads[i], NULL, migrator_main, &m[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(m[i].rc, 0);
    }
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_conc"), 2);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM utc_schema_version"), 3);
}

/* SQLite only: a batch whose BEGIN cannot take the write lock within the busy timeout (5 s)
 * fails whole with HOOKD_ESTORE; the next batch works. */
static void test_worker_begin_failure(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);
    assert_int_equal(db_begin(f->conn), 0); /* holds SQLite's write lock */
    int total = 0;
    job_state a = {.id = 500, .done_total = &total};
    db_worker_submit(w, job_insert, job_done, &a);
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
    int64_t deadline = loop_monotonic_ms() + 15000;
    while (total < 1 && loop_monotonic_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    assert_int_equal(a.rc, HOOKD_ESTORE);
    assert_int_equal(db_rollback(f->conn), 0);
    job_state b = {.id = 501, .done_total = &total};
    db_worker_submit(w, job_insert, job_done, &b);
    run_until(base, &total, 2);
    assert_int_equal(b.rc, 0);
    db_worker_stop(w);
    event_base_free(base);
}

static int job_store_error(db *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return HOOKD_ESTORE;
}

static int job_read_only(db *conn, void *arg)
{
    (void)arg;
    return db_query(conn, "SELECT 1", NULL, 0, NULL, NULL);
}

static void job_count_done(void *arg, int rc)
{
    (void)rc;
    ++*(int *)arg;
}

typedef struct ready_answer {
    int answers;
    bool ready;
    char reason[256];
} ready_answer;

static void ready_answer_cb(void *arg, bool ready, const char *reason)
{
    ready_answer *a = arg;
    a->answers++;
    a->ready = ready;
    snprintf(a->reason, sizeof a->reason, "%s", reason);
}

/* /readyz after a failed batch: not ready while the failure is recent, even when a batch
 * that only read committed after it (on a full disk that one succeeds too); once it is
 * older, a probe write answers. */
static void test_worker_ready_after_failure(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_start(base, wconn, 0, &w), 0);
    int done = 0;
    db_worker_submit(w, job_store_error, job_count_done, &done);
    run_until(base, &done, 1);
    db_worker_submit(w, job_read_only, job_count_done, &done);
    run_until(base, &done, 2);
    assert_int_equal(done, 2);
    ready_answer a = {0};
    db_worker_ready(w, ready_answer_cb, &a);
    run_until(base, &a.answers, 1);
    assert_int_equal(a.answers, 1);
    assert_false(a.ready);
    assert_non_null(strstr(a.reason, "store error"));
    usleep(1100 * 1000); /* DB_WORKER_FRESH_MS has passed: the probe writes */
    db_worker_ready(w, ready_answer_cb, &a);
    run_until(base, &a.answers, 2);
    assert_int_equal(a.answers, 2);
    assert_true(a.ready);
    db_worker_stop(w);
    event_base_free(base);
}

static void test_open_errors(void **state)
{
    (void)state;
    db *conn = (db *)1;
    char err[256] = "";
    assert_int_equal(db_open("mysql://x", &conn, err, sizeof err), HOOKD_EINVAL);
    assert_null(conn);
    assert_true(strlen(err) > 0);
    assert_int_equal(db_open("sqlite:/nonexistent-dir/x/y.db", &conn, err, sizeof err),
                     HOOKD_ESTORE);
    assert_null(conn);
    assert_int_equal(
        db_open("postgres://127.0.0.1:1/none?connect_timeout=2", &conn, err, sizeof err),
        HOOKD_ESTORE);
    assert_null(conn);
}

/* ---- a pool of store threads (PostgreSQL) ---- */

typedef struct pool_job {
    double sleep_s;  /* pg_sleep before answering */
    int64_t pid;     /* the backend that ran it */
    int ran_at;      /* order of runs on its thread (lane jobs) */
    int done_at;     /* order of done callbacks */
    int *runs;       /* the lane's run counter: only the lane's thread touches it */
    int *done_total; /* done callbacks so far, on the loop */
} pool_job;

static int pool_job_work(db *conn, void *arg)
{
    pool_job *j = arg;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_backend_pid(), pg_sleep(%.2f)", j->sleep_s);
    db_rows *rows = NULL;
    int rc = db_query(conn, sql, NULL, 0, &rows, NULL);
    if (rc != 0)
        return rc;
    if (db_rows_next(rows))
        j->pid = db_rows_int(rows, 0);
    db_rows_free(rows);
    if (j->runs)
        j->ran_at = ++*j->runs;
    return 0;
}

static void pool_job_done(void *arg, int rc)
{
    pool_job *j = arg;
    assert_int_equal(rc, 0);
    j->done_at = ++*j->done_total;
}

static int pool_prepare(db *conn)
{
    (void)conn;
    return 0;
}

static void pool_ready_cb(void *arg, bool ready, const char *reason)
{
    int *answer = arg;
    *answer = ready ? 1 : 2;
    assert_string_equal(reason, "");
}

/* db_worker_open_pool: a lane's jobs run in order on one connection; a job spread while the
 * first lane's thread is busy runs on another connection at once; the pool is ready
 * when every thread is; stop runs what every thread still has queued. */
static void test_worker_pool(void **state)
{
    FIXTURE(state);
    struct event_base *base = loop_new();
    db *wconn;
    fixture_open(f, &wconn);
    db_worker *w;
    assert_int_equal(db_worker_open_pool(base, wconn, f->url, 3, pool_prepare, &w), 0);
    db_worker *lane = db_worker_lane(w, 0), *spread_w = db_worker_spread(w);
    assert_ptr_equal(lane, w); /* the pool's own handle is its first lane */
    int total = 0, lane_runs = 0;
    pool_job slow = {.sleep_s = 0.5, .runs = &lane_runs, .done_total = &total};
    pool_job ordered[8], spread[6];
    memset(ordered, 0, sizeof ordered);
    memset(spread, 0, sizeof spread);
    db_worker_submit(lane, pool_job_work, pool_job_done, &slow);
    for (int i = 0; i < 8; i++) {
        ordered[i] = (pool_job){.runs = &lane_runs, .done_total = &total};
        db_worker_submit(lane, pool_job_work, pool_job_done, &ordered[i]);
    }
    for (int i = 0; i < 6; i++) {
        spread[i] = (pool_job){.done_total = &total};
        db_worker_submit(spread_w, pool_job_work, pool_job_done, &spread[i]);
    }
    assert_int_equal(db_worker_pending(w), 15);
    run_until(base, &total, 15);
    assert_int_equal(total, 15);
    assert_int_equal(slow.ran_at, 1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ordered[i].pid, slow.pid);
        assert_int_equal(ordered[i].ran_at, i + 2);
        assert_true(ordered[i].done_at > slow.done_at);
    }
    for (int i = 0; i < 6; i++) {
        assert_true(spread[i].pid != slow.pid);
        assert_true(spread[i].done_at < slow.done_at); /* did not wait behind the lane */
    }
    assert_int_equal(db_worker_pending(w), 0);

    int answer = 0;
    db_worker_ready(w, pool_ready_cb, &answer);
    run_until(base, &answer, 1);
    assert_int_equal(answer, 1);

    int late_total = 0;
    pool_job late[6];
    for (int i = 0; i < 6; i++) {
        late[i] = (pool_job){.done_total = &late_total};
        db_worker_submit(i % 2 ? spread_w : lane, pool_job_work, pool_job_done, &late[i]);
    }
    db_worker_stop(w);
    assert_int_equal(late_total, 6);
    event_base_free(base);
}

/* The size of a file, 0 when it does not exist. */
static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/*
 * A store thread's connection copies its WAL back on a thread of its own
 * (db_background_checkpoints): under a steady stream of commits the log must still start
 * over (its file stays far below what was written), the database file must take the data
 * while the writes go on, and every row must be there after a reopen.
 */
static void test_sqlite_background_checkpoints(void **state)
{
    FIXTURE(state);
    db_background_checkpoints(f->conn);
    char wal[128], main_file[128];
    snprintf(wal, sizeof wal, "%s/test.db-wal", f->dir);
    snprintf(main_file, sizeof main_file, "%s/test.db", f->dir);
    static char note[3000];
    memset(note, 'x', sizeof note - 1);
    enum { COMMITS = 6000, ROWS = 20 };
    int64_t written = (int64_t)COMMITS * ROWS * (int64_t)sizeof note, wal_max = 0;
    for (int c = 0; c < COMMITS; c++) {
        assert_int_equal(db_begin(f->conn), 0);
        for (int r = 0; r < ROWS; r++) {
            db_param p[] = {DB_I(c * ROWS + r), DB_S(note)};
            assert_int_equal(db_query(f->conn, "INSERT INTO ut_log (id, what) VALUES ($1, $2)", p,
                                      2, NULL, NULL),
                             0);
        }
        assert_int_equal(db_commit(f->conn), 0);
        int64_t size = file_size(wal);
        wal_max = size > wal_max ? size : wal_max;
    }
    /* The log was reused from its start: about 135 MB of the 360 written, where SQLite's own
     * checkpoint, copying in the committing thread every 1000 pages, keeps it near 4 MB. The
     * database file took most of the data while the writes went on. */
    assert_true(wal_max < written / 2);
    assert_true(wal_max > 64 << 20);
    assert_true(file_size(main_file) > written / 4);
    db_close(f->conn);
    fixture_open(f, &f->conn);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_log"), COMMITS * ROWS);
}

static void insert_notes(db *conn, int64_t first, int n, const char *note)
{
    for (int i = 0; i < n; i++) {
        db_param p[] = {DB_I(first + i), DB_S(note)};
        assert_int_equal(
            db_query(conn, "INSERT INTO ut_log (id, what) VALUES ($1, $2)", p, 2, NULL, NULL), 0);
    }
}

/*
 * The SQLite store gathers a transaction's log writes and writes them at its commit
 * (db_sqlite_wal.c). What a user would see if that went wrong: a commit another connection
 * cannot read at once, or a rolled-back transaction's pages written late over the pages of a
 * transaction that another connection committed in the meantime — rows lost when the log
 * is read again. A small page cache makes the rolled-back transaction spill its pages into
 * the log before its end, as a large one does.
 */
static void test_sqlite_log_writes_gathered(void **state)
{
    FIXTURE(state);
    db *other = NULL;
    fixture_open(f, &other);
    static char note[3000];
    memset(note, 'y', sizeof note - 1);
    assert_int_equal(db_exec(f->conn, "PRAGMA cache_size=20"), 0);

    insert_notes(f->conn, 0, 5, note);
    assert_int_equal(count_rows(other, "SELECT COUNT(*) FROM ut_log"), 5);

    assert_int_equal(db_begin(f->conn), 0);
    insert_notes(f->conn, 1000, 300, note);
    assert_int_equal(db_rollback(f->conn), 0);
    assert_int_equal(db_begin(other), 0);
    insert_notes(other, 2000, 500, note);
    assert_int_equal(db_commit(other), 0);
    insert_notes(f->conn, 3000, 1, note);

    assert_int_equal(db_begin(f->conn), 0);
    insert_notes(f->conn, 4000, 300, note);
    assert_int_equal(db_exec(f->conn, "SAVEPOINT s"), 0);
    insert_notes(f->conn, 5000, 300, note);
    assert_int_equal(db_exec(f->conn, "ROLLBACK TO s"), 0);
    assert_int_equal(db_exec(f->conn, "RELEASE s"), 0);
    assert_int_equal(db_commit(f->conn), 0);
    assert_int_equal(count_rows(other, "SELECT COUNT(*) FROM ut_log"), 5 + 500 + 1 + 300);

    db_close(other);
    db_close(f->conn);
    fixture_open(f, &f->conn); /* the last to close checkpointed; read the file afresh */
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM ut_log"), 5 + 500 + 1 + 300);
    assert_int_equal(count_rows(f->conn, "SELECT COUNT(*) FROM pragma_integrity_check "
                                         "WHERE integrity_check <> 'ok'"),
                     0);
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown),                                   \
        cmocka_unit_test_setup_teardown(fn, setup_pg, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        BOTH(test_migrations_once),
        BOTH(test_migrations_concurrent),
        BOTH(test_params_every_type),
        BOTH(test_casts_and_quotes),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_keep_plans, setup_pg, teardown),
        BOTH(test_returning_and_conflicts),
        BOTH(test_worker_batches),
        BOTH(test_worker_rerun),
        BOTH(test_worker_rerun_mixed),
        BOTH(test_worker_lazy_jobs),
        BOTH(test_worker_commit_failure),
        cmocka_unit_test_setup_teardown(test_worker_begin_failure, setup_sqlite, teardown),
        BOTH(test_worker_ready_after_failure),
        cmocka_unit_test_setup_teardown(test_worker_pool, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_background_checkpoints, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_log_writes_gathered, setup_sqlite, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
