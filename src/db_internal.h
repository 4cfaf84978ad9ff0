/*
 * db_internal.h — what db.c shares with its backends (db_sqlite.c, db_pg.c): the table of
 * backend functions and the common head of a connection and of a result.
 *
 * Not for use outside the db_* files.
 */
#ifndef HOOKD_DB_INTERNAL_H
#define HOOKD_DB_INTERNAL_H

#include "db.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>

#define DB_ERRMSG_LEN 512

/* One backend: db.c calls through this table. Every function has db.h's contract. */
typedef struct db_backend {
    enum db_kind kind;
    void (*close)(db *conn);
    int (*exec)(db *conn, const char *sql);
    int (*query)(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                 int64_t *changed);
    int (*begin)(db *conn);
    int (*commit)(db *conn);
    int (*rollback)(db *conn);
    /* Takes the lock that serialises migrations, inside the current transaction (a no-op
     * where BEGIN already serialises writers, as on SQLite). */
    int (*migration_lock)(db *conn, const char *component);
    int (*keep_plans)(db *conn);              /* NULL: nothing to do (db_keep_plans) */
    void (*background_checkpoints)(db *conn); /* NULL: nothing to do */
    bool (*rows_next)(db_rows *rows);
    bool (*rows_null)(db_rows *rows, int col);
    int64_t (*rows_int)(db_rows *rows, int col);
    const char *(*rows_text)(db_rows *rows, int col, size_t *len);
    void (*rows_free)(db_rows *rows);
} db_backend;

/* The head of every backend's connection struct (its first member). */
struct db {
    const db_backend *backend;
    char errmsg[DB_ERRMSG_LEN]; /* the last error, for db_errmsg */
    char component[48];         /* the last db_migrate's component: what db_probe writes */
};

/* A cheap write through the current transaction (the component's schema version row, set
 * to itself; SELECT 1 before any migration): /readyz's proof that the store takes writes.
 * 0 or HOOKD_ESTORE. */
int db_probe(db *conn);

/* The head of every backend's result struct (its first member). */
struct db_rows {
    const db_backend *backend;
};

/* The backends' openers: url is the whole URL; on failure return an error code and write
 * the reason into err. */
int db_sqlite_open(const char *url, db **out, char *err, size_t errlen);
int db_pg_open(const char *url, db **out, char *err, size_t errlen);

/* True for a notification channel name that needs no quoting in LISTEN: 1 to 63 lowercase
 * letters, digits and '_', not starting with a digit. */
bool db_channel_valid(const char *channel);

/* Records the last error message on conn (printf-style). */
void db_set_error(db *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
