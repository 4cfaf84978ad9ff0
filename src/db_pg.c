/*
 * db_pg.c — the PostgreSQL backend of db.h. Connections are used on the store thread or at
 * startup, never on the loop. Parameters are sent as text; a lost connection is
 * re-established before the next statement outside a transaction, and makes the transaction
 * it broke fail at commit.
 *
 * No wait on the server is open-ended (issue 12): a server that accepts TCP and never
 * answers, or one frozen mid-statement (SIGSTOP, a hung disk), must turn into an error the
 * callers answer 503 with, not a store thread stuck forever. So
 *   - connections default to connect_timeout=5 and TCP keepalives, and to
 *     statement_timeout=10s and idle_in_transaction_session_timeout=60s (server side, in
 *     `options`); each is overridden by the same keyword (or a `-c` in options) in the URL;
 *   - statements are sent with libpq's asynchronous calls and their answer awaited with
 *     poll(2) up to the session's statement_timeout plus PG_ANSWER_SLACK_MS (the server's
 *     own timeout answers first when it can); past that the connection is closed — the
 *     server is not answering — and made again before the next statement. A server with
 *     statement_timeout=0 is still waited for at most PG_ANSWER_FALLBACK_MS.
 * Migrations (db_migrate, at startup) run unbounded: an index build may take long.
 *
 * Statements are prepared once per connection and executed by name afterwards: the same few
 * statements run for every webhook, and parsing and planning them each time was most of the
 * server's work (docs/BENCHMARKS.md §7).
 */
#include "db_internal.h"

#include "hookd.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PG_INLINE_PARAMS 16     /* parameters handled without allocating */
#define PG_PREPARED_MAX 256     /* statements prepared per connection; the rest run unprepared */
#define PG_ANSWER_SLACK_MS 5000 /* waited beyond statement_timeout for the server's answer */
#define PG_ANSWER_FALLBACK_MS 60000 /* the wait when the session has no statement_timeout */
#define PG_DEFAULT_OPTIONS                                                                         \
    "-c plan_cache_mode=force_custom_plan -c statement_timeout=10s "                               \
    "-c idle_in_transaction_session_timeout=60s"

typedef struct db_pg {
    struct db base;
    PGconn *conn;                    /* NULL after a timeout closed it */
    char *url;                       /* to connect again */
    int64_t answer_ms;               /* how long a statement's answer is awaited */
    bool unbounded;                  /* a migration's transaction: no wait bound */
    bool in_tx;                      /* between our BEGIN and COMMIT/ROLLBACK */
    bool tx_broken;                  /* the connection was lost inside the transaction */
    bool keep_plans;                 /* db_keep_plans: plan_cache_mode=auto at each connect */
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
static int pg_keep_plans(db *conn);

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
static int pg_connect(db_pg *c, char *err, size_t errlen);

static int64_t pg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The connection is not answering (or is gone): closed, to be made again. */
static void pg_drop(db_pg *c)
{
    if (c->in_tx)
        c->tx_broken = true;
    PQfinish(c->conn);
    c->conn = NULL;
}

/* Waits until the socket is ready for events or the deadline (monotonic ms, -1: none)
 * passes: 1 ready, 0 timed out, -1 poll failed. */
static int pg_poll(db_pg *c, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = PQsocket(c->conn), .events = events};
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - pg_mono_ms();
            wait = left > 0 ? (int)left : 0;
        }
        int n = poll(&pfd, 1, wait);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Sends what PQsend* queued and reads the answer, within the answer bound. Returns what
 * PQexec would (the first failed result, else the last), or NULL with the error recorded:
 * the send failed, the connection was lost, or no answer came in time (then it is closed). */
static PGresult *pg_answer(db_pg *c, int sent, const char *what)
{
    if (sent != 1) {
        pg_set_error(c, what, PQerrorMessage(c->conn));
        if (PQstatus(c->conn) != CONNECTION_OK && c->in_tx)
            c->tx_broken = true;
        return NULL;
    }
    int64_t deadline = c->unbounded || c->answer_ms <= 0 ? -1 : pg_mono_ms() + c->answer_ms;
    int flushed;
    while ((flushed = PQflush(c->conn)) == 1) {
        int ready = pg_poll(c, POLLOUT | POLLIN, deadline);
        if (ready <= 0 || PQconsumeInput(c->conn) != 1)
            goto fail;
    }
    if (flushed < 0)
        goto fail;
    PGresult *keep = NULL;
    for (;;) {
        while (PQisBusy(c->conn)) {
            if (pg_poll(c, POLLIN, deadline) <= 0 || PQconsumeInput(c->conn) != 1) {
                PQclear(keep);
                goto fail;
            }
        }
        PGresult *res = PQgetResult(c->conn);
        if (!res)
            return keep;
        ExecStatusType st = PQresultStatus(keep);
        if (keep && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            PQclear(res); /* keep the first failure, as PQexec does */
        } else {
            PQclear(keep);
            keep = res;
        }
    }
fail:
    if (PQstatus(c->conn) == CONNECTION_OK) {
        char why[96];
        snprintf(why, sizeof why, "no answer within %lld ms; connection closed",
                 (long long)c->answer_ms);
        pg_set_error(c, what, why);
    } else {
        pg_set_error(c, what, PQerrorMessage(c->conn));
    }
    pg_drop(c);
    return NULL;
}

/* PQexec within the answer bound. */
static PGresult *pg_exec_bounded(db_pg *c, const char *sql, const char *what)
{
    return pg_answer(c, PQsendQuery(c->conn, sql), what);
}

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
    PGresult *res = pg_answer(c, PQsendPrepare(c->conn, name, sql, (int)n, NULL), "prepare");
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
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
        return 0;
    if (c->in_tx) {
        c->tx_broken = true;
        if (c->conn) /* else the error that closed it is the one to tell */
            pg_set_error(c, "connection lost", PQerrorMessage(c->conn));
        return HOOKD_ESTORE;
    }
    PQfinish(c->conn);
    c->conn = NULL;
    pg_forget_prepared(c); /* a new session has none */
    char err[DB_ERRMSG_LEN];
    if (pg_connect(c, err, sizeof err) != 0) {
        db_set_error(&c->base, "reconnect: %s", err);
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
    if (!res)
        return HOOKD_ESTORE; /* pg_answer recorded why */
    (void)what;
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
    PGresult *res = pg_exec_bounded(c, sql, "exec");
    rc = pg_check(c, res, "exec");
    PQclear(res);
    return rc;
}

/* The parameters as libpq's NUL-terminated texts (values[i], NULL for SQL NULL), written
 * into one allocation (returned; the caller frees it): a batch's statement carries hundreds
 * of parameters, and a malloc and a free for each was most of the allocator's work on the
 * sender's store thread (perf). */
static char *pg_param_texts(const db_param *params, size_t n, const char **values)
{
    size_t size = 1;
    for (size_t i = 0; i < n; i++)
        size += params[i].type == DB_INT ? 24 : params[i].type == DB_TEXT ? params[i].len + 1 : 0;
    char *buf = xmalloc(size), *at = buf;
    for (size_t i = 0; i < n; i++) {
        values[i] = NULL;
        if (params[i].type == DB_INT) {
            values[i] = at;
            at += snprintf(at, 24, "%" PRId64, params[i].i) + 1;
        } else if (params[i].type == DB_TEXT) {
            /* libpq wants NUL-terminated text; the caller's bytes need not be. */
            values[i] = at;
            if (params[i].len)
                memcpy(at, params[i].s, params[i].len);
            at[params[i].len] = '\0';
            at += params[i].len + 1;
        }
    }
    return buf;
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
    const char **values = n > PG_INLINE_PARAMS ? xcalloc(n, sizeof *values) : inline_values;
    char *texts = pg_param_texts(params, n, values);
    char name[32];
    PGresult *res = NULL;
    rc = pg_prepared_name(c, sql, n, name);
    if (rc == 0)
        res = pg_answer(c,
                        name[0]
                            ? PQsendQueryPrepared(c->conn, name, (int)n, values, NULL, NULL, 0)
                            : PQsendQueryParams(c->conn, sql, (int)n, NULL, values, NULL, NULL, 0),
                        "query");
    free(texts);
    if (n > PG_INLINE_PARAMS)
        free(values);
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
        PGresult *res = pg_exec_bounded(c, "ROLLBACK", "rollback");
        PQclear(res);
        c->in_tx = false;
        c->unbounded = false;
        db_set_error(conn, "commit: the transaction had failed and was rolled back");
        return HOOKD_ESTORE;
    }
    PGresult *res = pg_exec_bounded(c, "COMMIT", "commit");
    int rc = pg_check(c, res, "commit");
    if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        db_set_error(conn, "commit: the server answered %s", PQcmdStatus(res));
        rc = HOOKD_ESTORE;
    }
    PQclear(res);
    c->in_tx = false;
    c->tx_broken = false;
    c->unbounded = false;
    return rc == HOOKD_ECONFLICT ? HOOKD_ESTORE : rc;
}

static int pg_rollback(db *conn)
{
    db_pg *c = (db_pg *)conn;
    c->in_tx = false;
    c->tx_broken = false;
    c->unbounded = false;
    if (PQstatus(c->conn) != CONNECTION_OK)
        return 0; /* the server dropped the transaction with the connection */
    PGresult *res = pg_exec_bounded(c, "ROLLBACK", "rollback");
    int rc = pg_check(c, res, "rollback");
    PQclear(res);
    return rc;
}

/* A transaction-scoped advisory lock per component: concurrent starters wait their turn.
 * The migration's transaction runs without the statement bounds: an index build on a large
 * table may take long, and only startup waits on it. */
static int pg_migration_lock(db *conn, const char *component)
{
    db_pg *c = (db_pg *)conn;
    int rc = pg_exec(conn, "SET LOCAL statement_timeout = 0");
    if (rc != 0)
        return rc;
    c->unbounded = true;
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
    free(c->url);
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
    .keep_plans = pg_keep_plans,
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

/* The options the session starts with: ours, then the URL's own (a later -c wins). */
/* The URL's own options (xmalloc'd), or NULL when it has none. */
static char *pg_url_options(const char *url)
{
    char *user = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && *o->val)
            user = xstrdup(o->val);
    PQconninfoFree(opts);
    return user;
}

/* The session's options: the defaults, db_keep_plans' setting, then the URL's own (later
 * -c settings win, so the URL's do). */
static char *pg_options(const char *url, bool keep_plans)
{
    static const char keep[] = " -c plan_cache_mode=auto";
    char *user = pg_url_options(url);
    size_t n = strlen(PG_DEFAULT_OPTIONS) + sizeof keep + (user ? strlen(user) + 1 : 0) + 1;
    char *all = xmalloc(n);
    snprintf(all, n, "%s%s%s%s", PG_DEFAULT_OPTIONS, keep_plans ? keep : "", user ? " " : "",
             user ? user : "");
    free(user);
    return all;
}

/* db_keep_plans: the setting now (unless the URL sets plan_cache_mode itself) and in the
 * options of every later connect (pg_options). */
static int pg_keep_plans(db *conn)
{
    db_pg *c = (db_pg *)conn;
    c->keep_plans = true;
    char *user = pg_url_options(c->url);
    bool own = user && strstr(user, "plan_cache_mode") != NULL;
    free(user);
    return own ? 0 : pg_exec(conn, "SET plan_cache_mode = auto");
}

/* The answer bound: the session's statement_timeout (as the URL may have set it) plus the
 * slack, or the fallback when it has none. */
static int pg_answer_bound(db_pg *c)
{
    c->answer_ms = PG_ANSWER_FALLBACK_MS;
    PGresult *res = pg_exec_bounded(
        c, "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", "connect");
    int rc = pg_check(c, res, "connect");
    if (rc == 0 && PQntuples(res) == 1) {
        long long ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (ms > 0)
            c->answer_ms = ms + PG_ANSWER_SLACK_MS;
    }
    PQclear(res);
    return rc;
}

/* Connects c->conn from c->url with the default bounds (the URL's own keywords win: later
 * values override earlier ones in PQconnectdbParams). */
static int pg_connect(db_pg *c, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "connect_timeout",  "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname",     "options",         NULL};
    char *options = pg_options(c->url, c->keep_plans);
    const char *values[] = {"5", "1", "30", "10", "3", c->url, options, NULL};
    c->conn = PQconnectdbParams(keys, values, 1);
    free(options);
    if (!c->conn) {
        snprintf(err, errlen, "postgres: out of memory");
        return HOOKD_ESTORE;
    }
    if (PQstatus(c->conn) != CONNECTION_OK) {
        char line[DB_ERRMSG_LEN];
        pg_flatten(PQerrorMessage(c->conn), line, sizeof line);
        /* libpq's message names host and port, never the password. */
        snprintf(err, errlen, "postgres: cannot connect: %s", line);
        PQfinish(c->conn);
        c->conn = NULL;
        return HOOKD_ESTORE;
    }
    PQsetNoticeProcessor(c->conn, pg_notice, NULL);
    if (PQsetnonblocking(c->conn, 1) != 0 || pg_answer_bound(c) != 0) {
        snprintf(err, errlen, "postgres: %s", db_errmsg(&c->base));
        PQfinish(c->conn);
        c->conn = NULL;
        return HOOKD_ESTORE;
    }
    return 0;
}

int db_pg_open(const char *url, db **out, char *err, size_t errlen)
{
    db_pg *c = xcalloc(1, sizeof *c);
    c->base.backend = &pg_backend;
    c->url = xstrdup(url);
    int rc = pg_connect(c, err, errlen);
    if (rc != 0) {
        free(c->url);
        free(c);
        return rc;
    }
    *out = &c->base;
    return 0;
}
