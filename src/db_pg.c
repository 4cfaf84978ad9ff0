/*
 * db_pg.c — the PostgreSQL backend of db.h, on libpq's blocking API (connections are used on
 * the store thread or at startup, never on the loop). Parameters are sent as text; a lost
 * connection is re-established before the next statement outside a transaction, and makes
 * the transaction it broke fail at commit.
 *
 * Statements are prepared once per connection and executed by name afterwards: the same few
 * statements run for every webhook, and parsing and planning them each time was most of the
 * server's work (docs/BENCHMARKS.md §7).
 */
#include "db_internal.h"

#include "hookd.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <string.h>
#include <strings.h>

#define PG_INLINE_PARAMS 16 /* parameters handled without allocating */
#define PG_PREPARED_MAX 256 /* statements prepared per connection; the rest run unprepared */

typedef struct db_pg {
    struct db base;
    PGconn *conn;
    bool in_tx;                      /* between our BEGIN and COMMIT/ROLLBACK */
    bool tx_broken;                  /* the connection was lost inside the transaction */
    char *prepared[PG_PREPARED_MAX]; /* SQL text of statement "hookd_<i>" on this session */
    uint64_t prepared_hash[PG_PREPARED_MAX];
    size_t prepared_count;
} db_pg;

typedef struct db_pg_rows {
    struct db_rows base;
    PGresult *res;
    int nrows;
    int current; /* 1-based; 0 before the first row */
} db_pg_rows;

static const db_backend pg_backend;

/* Copies libpq's (multi-line) message into out as one line: logs are one line each. */
static void pg_flatten(const char *msg, char *out, size_t outlen)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && n + 2 < outlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

static void pg_set_error(db_pg *c, const char *what, const char *msg)
{
    char line[DB_ERRMSG_LEN];
    pg_flatten(msg, line, sizeof line);
    db_set_error(&c->base, "%s: %s", what, line);
}

static int pg_check(db_pg *c, PGresult *res, const char *what);

static void pg_forget_prepared(db_pg *c)
{
    for (size_t i = 0; i < c->prepared_count; i++)
        free(c->prepared[i]);
    c->prepared_count = 0;
}

static uint64_t pg_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Only plain DML is prepared; BEGIN, SAVEPOINT and the like run as they are. */
static bool pg_preparable(const char *sql)
{
    static const char *const verbs[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"};
    while (*sql == ' ' || *sql == '\n')
        sql++;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strncasecmp(sql, verbs[i], strlen(verbs[i])) == 0)
            return true;
    return false;
}

/*
 * The name under which sql is prepared on this session, preparing it first if needed, into
 * name (32 bytes); "" when it is not to be prepared (not DML, or the cache is full).
 * Returns 0, or the error of a failed prepare (which is the statement's own error).
 */
static int pg_prepared_name(db_pg *c, const char *sql, size_t n, char *name)
{
    name[0] = '\0';
    if (!pg_preparable(sql))
        return 0;
    uint64_t h = pg_hash(sql);
    for (size_t i = 0; i < c->prepared_count; i++) {
        if (c->prepared_hash[i] == h && strcmp(c->prepared[i], sql) == 0) {
            snprintf(name, 32, "hookd_%zu", i);
            return 0;
        }
    }
    if (c->prepared_count == PG_PREPARED_MAX)
        return 0;
    snprintf(name, 32, "hookd_%zu", c->prepared_count);
    PGresult *res = PQprepare(c->conn, name, sql, (int)n, NULL);
    int rc = pg_check(c, res, "prepare");
    PQclear(res);
    if (rc != 0) {
        name[0] = '\0';
        return rc;
    }
    c->prepared[c->prepared_count] = xstrdup(sql);
    c->prepared_hash[c->prepared_count] = h;
    c->prepared_count++;
    return 0;
}

/* Makes sure the connection is usable before a statement. Inside a transaction a lost
 * connection cannot be repaired: the transaction is gone, so the statement fails. */
static int pg_ensure(db_pg *c)
{
    if (PQstatus(c->conn) == CONNECTION_OK)
        return 0;
    if (c->in_tx) {
        c->tx_broken = true;
        pg_set_error(c, "connection lost", PQerrorMessage(c->conn));
        return HOOKD_ESTORE;
    }
    PQreset(c->conn);
    pg_forget_prepared(c); /* a new session has none */
    if (PQstatus(c->conn) != CONNECTION_OK) {
        pg_set_error(c, "reconnect", PQerrorMessage(c->conn));
        return HOOKD_ESTORE;
    }
    return 0;
}

/* Turns a result into 0 or an error code; frees nothing. */
static int pg_check(db_pg *c, PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY)
        return 0;
    if (!res) {
        pg_set_error(c, what, PQerrorMessage(c->conn));
        if (c->in_tx && PQstatus(c->conn) != CONNECTION_OK)
            c->tx_broken = true;
        return HOOKD_ESTORE;
    }
    pg_set_error(c, what, PQresultErrorMessage(res));
    if (c->in_tx && PQstatus(c->conn) != CONNECTION_OK)
        c->tx_broken = true;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "23505") == 0)
        return HOOKD_ECONFLICT;
    return HOOKD_ESTORE;
}

static int pg_exec(db *conn, const char *sql)
{
    db_pg *c = (db_pg *)conn;
    int rc = pg_ensure(c);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec(c->conn, sql);
    rc = pg_check(c, res, "exec");
    PQclear(res);
    return rc;
}

static int pg_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                    int64_t *changed)
{
    db_pg *c = (db_pg *)conn;
    int rc = pg_ensure(c);
    if (rc != 0)
        return rc;
    if (n > 65535) {
        db_set_error(conn, "too many parameters");
        return HOOKD_EINVAL;
    }
    const char *inline_values[PG_INLINE_PARAMS] = {0};
    char *inline_owned[PG_INLINE_PARAMS] = {0};
    const char **values = inline_values;
    char **owned = inline_owned;
    if (n > PG_INLINE_PARAMS) {
        values = xcalloc(n, sizeof *values);
        owned = xcalloc(n, sizeof *owned);
    }
    for (size_t i = 0; i < n; i++) {
        owned[i] = NULL;
        switch (params[i].type) {
        case DB_INT: {
            char *text = xmalloc(24);
            snprintf(text, 24, "%" PRId64, params[i].i);
            owned[i] = text;
            values[i] = text;
            break;
        }
        case DB_TEXT: {
            /* libpq wants NUL-terminated text; the caller's bytes need not be. */
            char *text = xmalloc(params[i].len + 1);
            if (params[i].len)
                memcpy(text, params[i].s, params[i].len);
            text[params[i].len] = '\0';
            owned[i] = text;
            values[i] = text;
            break;
        }
        default:
            values[i] = NULL;
            break;
        }
    }
    char name[32];
    PGresult *res = NULL;
    rc = pg_prepared_name(c, sql, n, name);
    if (rc == 0)
        res = name[0] ? PQexecPrepared(c->conn, name, (int)n, values, NULL, NULL, 0)
                      : PQexecParams(c->conn, sql, (int)n, NULL, values, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    if (n > PG_INLINE_PARAMS) {
        free(values);
        free(owned);
    }
    if (rc == 0)
        rc = pg_check(c, res, "query");
    if (rc != 0) {
        PQclear(res);
        return rc;
    }
    if (changed) {
        const char *tuples = PQcmdTuples(res);
        *changed = (tuples && *tuples) ? strtoll(tuples, NULL, 10) : 0;
    }
    if (rows) {
        db_pg_rows *r = xcalloc(1, sizeof *r);
        r->base.backend = &pg_backend;
        r->res = res;
        r->nrows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        *rows = &r->base;
    } else {
        PQclear(res);
    }
    return 0;
}

static int pg_begin(db *conn)
{
    db_pg *c = (db_pg *)conn;
    c->in_tx = false;
    c->tx_broken = false;
    int rc = pg_exec(conn, "BEGIN");
    if (rc == 0)
        c->in_tx = true;
    return rc;
}

static int pg_commit(db *conn)
{
    db_pg *c = (db_pg *)conn;
    if (c->tx_broken || PQstatus(c->conn) != CONNECTION_OK) {
        c->in_tx = false;
        c->tx_broken = false;
        db_set_error(conn, "commit: the connection was lost during the transaction");
        return HOOKD_ESTORE;
    }
    /* COMMIT of a transaction in the error state "succeeds" as ROLLBACK: refuse it. */
    if (PQtransactionStatus(c->conn) == PQTRANS_INERROR) {
        PGresult *res = PQexec(c->conn, "ROLLBACK");
        PQclear(res);
        c->in_tx = false;
        db_set_error(conn, "commit: the transaction had failed and was rolled back");
        return HOOKD_ESTORE;
    }
    PGresult *res = PQexec(c->conn, "COMMIT");
    int rc = pg_check(c, res, "commit");
    if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        db_set_error(conn, "commit: the server answered %s", PQcmdStatus(res));
        rc = HOOKD_ESTORE;
    }
    PQclear(res);
    c->in_tx = false;
    c->tx_broken = false;
    return rc == HOOKD_ECONFLICT ? HOOKD_ESTORE : rc;
}

static int pg_rollback(db *conn)
{
    db_pg *c = (db_pg *)conn;
    c->in_tx = false;
    c->tx_broken = false;
    if (PQstatus(c->conn) != CONNECTION_OK)
        return 0; /* the server dropped the transaction with the connection */
    PGresult *res = PQexec(c->conn, "ROLLBACK");
    int rc = pg_check(c, res, "rollback");
    PQclear(res);
    return rc;
}

/* A transaction-scoped advisory lock per component: concurrent starters wait their turn. */
static int pg_migration_lock(db *conn, const char *component)
{
    db_param p = DB_S(component);
    return pg_query(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", &p, 1, NULL, NULL);
}

static bool pg_rows_next(db_rows *rows)
{
    db_pg_rows *r = (db_pg_rows *)rows;
    if (r->current < r->nrows) {
        r->current++;
        return true;
    }
    r->current = r->nrows + 1;
    return false;
}

static bool pg_cell_valid(db_pg_rows *r, int col)
{
    return r->current > 0 && r->current <= r->nrows && col >= 0 && col < PQnfields(r->res);
}

static bool pg_rows_null(db_rows *rows, int col)
{
    db_pg_rows *r = (db_pg_rows *)rows;
    return !pg_cell_valid(r, col) || PQgetisnull(r->res, r->current - 1, col);
}

static int64_t pg_rows_int(db_rows *rows, int col)
{
    db_pg_rows *r = (db_pg_rows *)rows;
    if (pg_rows_null(rows, col))
        return 0;
    const char *text = PQgetvalue(r->res, r->current - 1, col);
    if (text[0] == 't' && text[1] == '\0')
        return 1; /* boolean */
    return strtoll(text, NULL, 10);
}

static const char *pg_rows_text(db_rows *rows, int col, size_t *len)
{
    db_pg_rows *r = (db_pg_rows *)rows;
    if (pg_rows_null(rows, col)) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = (size_t)PQgetlength(r->res, r->current - 1, col);
    return PQgetvalue(r->res, r->current - 1, col);
}

static void pg_rows_free(db_rows *rows)
{
    db_pg_rows *r = (db_pg_rows *)rows;
    PQclear(r->res);
    free(r);
}

static void pg_close(db *conn)
{
    db_pg *c = (db_pg *)conn;
    PQfinish(c->conn);
    pg_forget_prepared(c);
    free(c);
}

static const db_backend pg_backend = {
    .kind = DB_POSTGRES,
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .migration_lock = pg_migration_lock,
    .rows_next = pg_rows_next,
    .rows_null = pg_rows_null,
    .rows_int = pg_rows_int,
    .rows_text = pg_rows_text,
    .rows_free = pg_rows_free,
};

/* Notices (e.g. "relation already exists, skipping") are not errors: keep them quiet. */
static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int db_pg_open(const char *url, db **out, char *err, size_t errlen)
{
    /* Statements are prepared (pg_prepared_name), but planned for each execution's values:
     * a generic plan for a claim ("due before $1") can be far worse than a custom one. The
     * setting rides in the connection options, so a reconnect keeps it. */
    static const char *const keys[] = {"dbname", "options", NULL};
    const char *values[] = {url, "-c plan_cache_mode=force_custom_plan", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        snprintf(err, errlen, "postgres: out of memory");
        return HOOKD_ESTORE;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char line[DB_ERRMSG_LEN];
        pg_flatten(PQerrorMessage(conn), line, sizeof line);
        /* libpq's message names host and port, never the password. */
        snprintf(err, errlen, "postgres: cannot connect: %s", line);
        PQfinish(conn);
        return HOOKD_ESTORE;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    db_pg *c = xcalloc(1, sizeof *c);
    c->base.backend = &pg_backend;
    c->conn = conn;
    *out = &c->base;
    return 0;
}
