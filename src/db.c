/*
 * db.c — the backend-neutral half of db.h: picks the backend from the URL, dispatches every
 * call through its table, and applies versioned migrations the same way on both.
 */
#include "db_internal.h"

#include "hookd.h"
#include "log.h"

#include <stdarg.h>
#include <string.h>

void db_set_error(db *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conn->errmsg, sizeof conn->errmsg, fmt, ap);
    va_end(ap);
}

int db_open(const char *url, db **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!url) {
        snprintf(err, errlen, "no database URL");
        return HOOKD_EINVAL;
    }
    if (strncmp(url, "sqlite:", 7) == 0)
        return db_sqlite_open(url, out, err, errlen);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return db_pg_open(url, out, err, errlen);
    snprintf(err, errlen, "unknown database URL scheme (want sqlite:PATH or postgres://…)");
    return HOOKD_EINVAL;
}

const char *db_sqlite_path(const char *url)
{
    if (!url || strncmp(url, "sqlite:", 7) != 0)
        return NULL;
    const char *path = url + 7;
    if (strncmp(path, "//", 2) == 0)
        path += 2; /* sqlite:///abs/path and sqlite://rel/path, as db_sqlite_open reads it */
    return *path ? path : NULL;
}

void db_close(db *conn)
{
    if (conn)
        conn->backend->close(conn);
}

enum db_kind db_kind(const db *conn)
{
    return conn->backend->kind;
}

const char *db_errmsg(const db *conn)
{
    return conn->errmsg;
}

int db_exec(db *conn, const char *sql)
{
    return conn->backend->exec(conn, sql);
}

void db_background_checkpoints(db *conn)
{
    if (conn->backend->background_checkpoints)
        conn->backend->background_checkpoints(conn);
}

int db_keep_plans(db *conn)
{
    return conn->backend->keep_plans ? conn->backend->keep_plans(conn) : 0;
}

int db_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
             int64_t *changed)
{
    if (rows)
        *rows = NULL;
    if (changed)
        *changed = 0;
    return conn->backend->query(conn, sql, params, n, rows, changed);
}

bool db_rows_next(db_rows *rows)
{
    return rows->backend->rows_next(rows);
}

bool db_rows_null(db_rows *rows, int col)
{
    return rows->backend->rows_null(rows, col);
}

int64_t db_rows_int(db_rows *rows, int col)
{
    return rows->backend->rows_int(rows, col);
}

const char *db_rows_text(db_rows *rows, int col, size_t *len)
{
    return rows->backend->rows_text(rows, col, len);
}

void db_rows_free(db_rows *rows)
{
    if (rows)
        rows->backend->rows_free(rows);
}

int db_rows_first(int rc, db_rows **rows)
{
    if (rc != 0)
        return rc;
    if (db_rows_next(*rows))
        return 0;
    db_rows_free(*rows);
    *rows = NULL;
    return HOOKD_ENOTFOUND;
}

char *db_rows_strdup(db_rows *rows, int col)
{
    if (db_rows_null(rows, col))
        return NULL;
    size_t len = 0;
    const char *s = db_rows_text(rows, col, &len);
    return xstrndup(s, len);
}

int64_t db_rows_int_or(db_rows *rows, int col, int64_t none)
{
    return db_rows_null(rows, col) ? none : db_rows_int(rows, col);
}

int db_begin(db *conn)
{
    return conn->backend->begin(conn);
}

int db_commit(db *conn)
{
    return conn->backend->commit(conn);
}

int db_rollback(db *conn)
{
    return conn->backend->rollback(conn);
}

/* Component names become part of a table name: keep them to [a-z0-9_]. */
static bool db_component_valid(const char *component)
{
    if (!component || !*component || strlen(component) > 40)
        return false;
    for (const char *p = component; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Applies migration `version` (1-based) unless already recorded, in its own transaction
 * under the migration lock. */
static int db_migrate_one(db *conn, const char *component, int64_t version, const char *sql)
{
    char stmt[256];
    db_rows *rows = NULL;
    db_param p = DB_I(version);
    int rc = db_begin(conn);
    if (rc != 0)
        return rc;
    rc = conn->backend->migration_lock(conn, component);
    if (rc != 0)
        goto fail;
    snprintf(stmt, sizeof stmt,
             "CREATE TABLE IF NOT EXISTS %s_schema_version (version BIGINT NOT NULL)", component);
    rc = db_exec(conn, stmt);
    if (rc != 0)
        goto fail;
    snprintf(stmt, sizeof stmt, "SELECT COALESCE(MAX(version), 0) FROM %s_schema_version",
             component);
    rc = db_query(conn, stmt, NULL, 0, &rows, NULL);
    if (rc != 0)
        goto fail;
    int64_t current = db_rows_next(rows) ? db_rows_int(rows, 0) : 0;
    db_rows_free(rows);
    if (current >= version)
        return db_commit(conn);
    rc = db_exec(conn, sql);
    if (rc != 0) {
        log_error("db", "migration %s %lld failed: %s", component, (long long)version,
                  db_errmsg(conn));
        goto fail;
    }
    snprintf(stmt, sizeof stmt, "INSERT INTO %s_schema_version (version) VALUES ($1)", component);
    rc = db_query(conn, stmt, &p, 1, NULL, NULL);
    if (rc != 0)
        goto fail;
    rc = db_commit(conn);
    if (rc == 0)
        log_info("db", "applied %s schema version %lld", component, (long long)version);
    return rc;
fail:
    db_rollback(conn);
    return rc == HOOKD_ECONFLICT ? HOOKD_ESTORE : rc;
}

int db_migrate(db *conn, const char *component, const char *const *migrations, size_t count)
{
    if (!db_component_valid(component)) {
        db_set_error(conn, "invalid component name");
        return HOOKD_EINVAL;
    }
    snprintf(conn->component, sizeof conn->component, "%s", component);
    for (size_t i = 0; i < count; i++) {
        int rc = db_migrate_one(conn, component, (int64_t)i + 1, migrations[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int db_probe(db *conn)
{
    if (!conn->component[0])
        return db_query(conn, "SELECT 1", NULL, 0, NULL, NULL);
    char stmt[128];
    snprintf(stmt, sizeof stmt, "UPDATE %s_schema_version SET version = version", conn->component);
    return db_query(conn, stmt, NULL, 0, NULL, NULL);
}

bool db_channel_valid(const char *channel)
{
    size_t n = 0;
    for (const char *c = channel; *c; c++, n++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return n > 0 && n < 64 && !(channel[0] >= '0' && channel[0] <= '9');
}

int db_notify(db *conn, const char *channel)
{
    if (db_kind(conn) != DB_POSTGRES)
        return 0;
    if (!db_channel_valid(channel)) {
        db_set_error(conn, "invalid notification channel");
        return HOOKD_EINVAL;
    }
    db_param p = DB_S(channel);
    return db_query(conn, "SELECT pg_notify($1, '')", &p, 1, NULL, NULL);
}
