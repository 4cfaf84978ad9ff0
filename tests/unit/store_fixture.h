/*
 * store_fixture.h — a fresh database for the store modules' unit tests: SQLite in a
 * temporary directory, or, when HOOKD_TEST_PG_URL names a server, PostgreSQL with the
 * given tables dropped first (a case without the variable is skipped, as in test_db.c).
 * Header-only so each test program stays one file; every function is static.
 */
#ifndef HOOKD_TEST_STORE_FIXTURE_H
#define HOOKD_TEST_STORE_FIXTURE_H

#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct store_fixture {
    enum db_kind kind;
    char url[512];
    char dir[64];
    db *conn;
} store_fixture;

/* Opens the database for kind; drop_sql (PostgreSQL only) clears earlier runs' tables. */
static int store_fixture_setup(void **state, enum db_kind kind, const char *drop_sql)
{
    store_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->kind = kind;
    if (kind == DB_SQLITE) {
        snprintf(f->dir, sizeof f->dir, "/tmp/hookd-test-store.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
    } else {
        const char *url = getenv("HOOKD_TEST_PG_URL");
        if (!url || !*url) {
            free(f);
            *state = NULL;
            return 0;
        }
        snprintf(f->url, sizeof f->url, "%s", url);
    }
    char err[256] = "";
    if (db_open(f->url, &f->conn, err, sizeof err) != 0)
        fail_msg("db_open %s: %s", f->url, err);
    if (kind == DB_POSTGRES)
        assert_int_equal(db_exec(f->conn, drop_sql), 0);
    *state = f;
    return 0;
}

static int store_fixture_teardown(void **state)
{
    store_fixture *f = *state;
    if (!f)
        return 0;
    db_close(f->conn);
    if (f->kind == DB_SQLITE) {
        char path[128];
        const char *suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/test.db%s", f->dir, suffix[i]);
            unlink(path);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* The fixture of a case, or a skip when its PostgreSQL server was not named. */
#define STORE_FIXTURE(state)                                                                       \
    store_fixture *f = *(state);                                                                   \
    if (!f) {                                                                                      \
        print_message("HOOKD_TEST_PG_URL not set: PostgreSQL case skipped\n");                     \
        skip();                                                                                    \
    }

/* Runs one statement that must succeed. */
static inline void store_fixture_exec(store_fixture *f, const char *sql)
{
    int rc = db_exec(f->conn, sql);
    if (rc != 0)
        fail_msg("%s: %s", sql, db_errmsg(f->conn));
}

/* The single integer a query must answer (a SELECT COUNT(*)), with its n parameters. */
static inline int64_t store_fixture_count(db *conn, const char *sql, const db_param *params,
                                          size_t n)
{
    db_rows *rows = NULL;
    assert_int_equal(db_query(conn, sql, params, n, &rows, NULL), 0);
    assert_true(db_rows_next(rows));
    int64_t count = db_rows_int(rows, 0);
    db_rows_free(rows);
    return count;
}

#endif
