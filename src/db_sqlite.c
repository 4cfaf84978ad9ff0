/*
 * db_sqlite.c — the SQLite backend of db.h: WAL with synchronous=FULL, PostgreSQL-style $N
 * placeholders rewritten to ?N, prepared statements cached by SQL text, and results read
 * whole into memory (so a cached statement is reset at once and `changed` is exact even
 * with RETURNING).
 */
#include "db_internal.h"
#include "db_sqlite_checkpoint.h"
#include "db_sqlite_wal.h"

#include "hookd.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#define STMT_BUCKETS 128   /* hash buckets of the statement cache */
#define STMT_CACHE_MAX 256 /* statements kept; beyond this, new SQL is prepared per call */
#define STMT_FAST 64       /* slots of the cache's front, keyed by the SQL text's address */

/* One cached prepared statement. */
typedef struct stmt_entry {
    char *sql;               /* the caller's SQL text (the key), copied */
    sqlite3_stmt *stmt;      /* prepared from the rewritten text */
    struct stmt_entry *next; /* next in the bucket */
} stmt_entry;

typedef struct db_sqlite {
    struct db base;
    sqlite3 *handle;
    stmt_entry *buckets[STMT_BUCKETS];
    /* The entry last found for a given text address: the callers' SQL is nearly always a
     * string literal, so one pointer compare and one strcmp (which a text built in a reused
     * buffer fails) find it without hashing the whole text at every call. */
    struct {
        const char *sql;
        stmt_entry *entry;
    } fast[STMT_FAST];
    size_t cached;                     /* entries in the cache */
    sqlite_checkpointer *checkpointer; /* db_background_checkpoints; NULL: SQLite's own */
} db_sqlite;

/* One column of one row: text lives in the result's arena, at an offset (the arena moves). */
typedef struct sqlite_cell {
    bool null;
    int64_t i;     /* sqlite3_column_int64 of the value */
    size_t offset; /* of its text (NUL-terminated) in the arena */
    size_t len;
} sqlite_cell;

typedef struct db_sqlite_rows {
    struct db_rows base;
    int ncols;
    size_t nrows;
    size_t cap;         /* rows allocated in cells */
    size_t current;     /* 1-based index of the current row; 0 before the first */
    sqlite_cell *cells; /* nrows * ncols */
    char *arena;
    size_t arena_len, arena_cap;
} db_sqlite_rows;

static const db_backend sqlite_backend;

/* "disk full: " when the error is one (SQLITE_FULL, or an I/O error from ENOSPC, which
 * SQLite reports as "disk I/O error"), else "": an operator should read it as such. */
static const char *sqlite_full(sqlite3 *handle, int rc)
{
    return (rc & 0xff) == SQLITE_FULL || sqlite3_system_errno(handle) == ENOSPC ? "disk full: "
                                                                                : "";
}

static int sqlite_error(db_sqlite *c, const char *what)
{
    int ext = sqlite3_extended_errcode(c->handle);
    db_set_error(&c->base, "%s: %s%s", what, sqlite_full(c->handle, ext),
                 sqlite3_errmsg(c->handle));
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return HOOKD_ECONFLICT;
    return HOOKD_ESTORE;
}

static uint32_t sqlite_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static bool ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Copies sql with every $N outside quotes turned into ?N (SQLite's numbered parameter), and
 * PostgreSQL's one-word casts ("$1::bigint", "x::text") dropped: SQLite has no such syntax,
 * and its column affinities make the cast unnecessary. */
static char *sqlite_rewrite(const char *sql)
{
    size_t n = strlen(sql);
    char *out = xmalloc(n + 1);
    size_t o = 0;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == quote)
                quote = 0;
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            ch = '?';
        } else if (ch == ':' && sql[i + 1] == ':' && ident_char(sql[i + 2])) {
            i += 2;
            while (i < n && ident_char(sql[i]))
                i++;
            if (i + 1 < n && sql[i] == '[' && sql[i + 1] == ']')
                i += 2;
            i--; /* the loop's i++ moves to the character after the type */
            continue;
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return out;
}

static void sqlite_cache_clear(db_sqlite *c)
{
    for (size_t b = 0; b < STMT_BUCKETS; b++) {
        stmt_entry *e = c->buckets[b];
        while (e) {
            stmt_entry *next = e->next;
            sqlite3_finalize(e->stmt);
            free(e->sql);
            free(e);
            e = next;
        }
        c->buckets[b] = NULL;
    }
    memset(c->fast, 0, sizeof c->fast);
    c->cached = 0;
}

/* Finds or prepares the statement for sql. *transient is set when the statement was not
 * cached (the caller finalizes it). */
static int sqlite_prepare(db_sqlite *c, const char *sql, sqlite3_stmt **out, bool *transient)
{
    size_t f = ((uintptr_t)sql >> 4) % STMT_FAST;
    if (c->fast[f].sql == sql && strcmp(c->fast[f].entry->sql, sql) == 0) {
        *out = c->fast[f].entry->stmt;
        *transient = false;
        return 0;
    }
    uint32_t b = sqlite_hash(sql) % STMT_BUCKETS;
    for (stmt_entry *e = c->buckets[b]; e; e = e->next) {
        if (strcmp(e->sql, sql) == 0) {
            c->fast[f].sql = sql;
            c->fast[f].entry = e;
            *out = e->stmt;
            *transient = false;
            return 0;
        }
    }
    char *rewritten = sqlite_rewrite(sql);
    bool keep = c->cached < STMT_CACHE_MAX;
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->handle, rewritten, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0,
                                &stmt, &tail);
    free(rewritten);
    if (rc != SQLITE_OK || !stmt) {
        if (rc == SQLITE_OK)
            db_set_error(&c->base, "prepare: empty statement");
        else
            sqlite_error(c, "prepare");
        return HOOKD_ESTORE;
    }
    if (keep) {
        stmt_entry *e = xmalloc(sizeof *e);
        e->sql = xstrdup(sql);
        e->stmt = stmt;
        e->next = c->buckets[b];
        c->buckets[b] = e;
        c->cached++;
        c->fast[f].sql = sql;
        c->fast[f].entry = e;
    }
    *out = stmt;
    *transient = !keep;
    return 0;
}

static size_t rows_arena_put(db_sqlite_rows *r, const void *bytes, size_t len)
{
    if (r->arena_len + len + 1 > r->arena_cap) {
        size_t cap = r->arena_cap ? r->arena_cap : 256;
        while (cap < r->arena_len + len + 1)
            cap *= 2;
        r->arena = xrealloc(r->arena, cap);
        r->arena_cap = cap;
    }
    size_t off = r->arena_len;
    if (len)
        memcpy(r->arena + off, bytes, len);
    r->arena[off + len] = '\0';
    r->arena_len += len + 1;
    return off;
}

static void rows_add(db_sqlite_rows *r, sqlite3_stmt *stmt)
{
    if (r->nrows == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->cells = xrealloc(r->cells, r->cap * (size_t)r->ncols * sizeof *r->cells);
    }
    sqlite_cell *row = r->cells + r->nrows * (size_t)r->ncols;
    for (int i = 0; i < r->ncols; i++) {
        sqlite_cell *cell = &row[i];
        cell->null = sqlite3_column_type(stmt, i) == SQLITE_NULL;
        cell->i = sqlite3_column_int64(stmt, i);
        const unsigned char *text = sqlite3_column_text(stmt, i);
        cell->len = text ? (size_t)sqlite3_column_bytes(stmt, i) : 0;
        cell->offset = rows_arena_put(r, text, cell->len);
    }
    r->nrows++;
}

static void sqlite_rows_free(db_rows *rows)
{
    db_sqlite_rows *r = (db_sqlite_rows *)rows;
    free(r->cells);
    free(r->arena);
    free(r);
}

static int sqlite_bind(db_sqlite *c, sqlite3_stmt *stmt, const db_param *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1;
        int rc;
        switch (params[i].type) {
        case DB_INT:
            rc = sqlite3_bind_int64(stmt, idx, params[i].i);
            break;
        case DB_TEXT:
            rc = sqlite3_bind_text64(stmt, idx, params[i].s ? params[i].s : "", params[i].len,
                                     SQLITE_STATIC, SQLITE_UTF8);
            break;
        default:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_error(c, "bind");
    }
    return 0;
}

static int sqlite_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                        int64_t *changed)
{
    db_sqlite *c = (db_sqlite *)conn;
    sqlite3_stmt *stmt;
    bool transient;
    int rc = sqlite_prepare(c, sql, &stmt, &transient);
    if (rc != 0)
        return rc;
    db_sqlite_rows *r = NULL;
    rc = sqlite_bind(c, stmt, params, n);
    if (rc != 0)
        goto done;
    if (rows) {
        r = xcalloc(1, sizeof *r);
        r->base.backend = &sqlite_backend;
        r->ncols = sqlite3_column_count(stmt);
    }
    for (;;) {
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            if (r && r->ncols > 0)
                rows_add(r, stmt);
            continue;
        }
        if (step == SQLITE_DONE)
            break;
        rc = sqlite_error(c, "step");
        goto done;
    }
    if (changed)
        *changed = sqlite3_changes64(c->handle);
done:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (transient)
        sqlite3_finalize(stmt);
    if (rc != 0 && r) {
        sqlite_rows_free(&r->base);
        r = NULL;
    }
    if (rows)
        *rows = r ? &r->base : NULL;
    return rc;
}

static int sqlite_exec(db *conn, const char *sql)
{
    db_sqlite *c = (db_sqlite *)conn;
    char *msg = NULL;
    int rc = sqlite3_exec(c->handle, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int ext = sqlite3_extended_errcode(c->handle);
    db_set_error(conn, "exec: %s%s", sqlite_full(c->handle, ext), msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return HOOKD_ECONFLICT;
    return HOOKD_ESTORE;
}

/* BEGIN and COMMIT run once per batch: through the statement cache, not parsed each time. */
static int sqlite_begin(db *conn)
{
    return sqlite_query(conn, "BEGIN IMMEDIATE", NULL, 0, NULL, NULL);
}

static int sqlite_commit(db *conn)
{
    return sqlite_query(conn, "COMMIT", NULL, 0, NULL, NULL);
}

static int sqlite_rollback(db *conn)
{
    db_sqlite *c = (db_sqlite *)conn;
    if (sqlite3_get_autocommit(c->handle))
        return 0; /* SQLite already rolled back (e.g. after an I/O error) */
    return sqlite_exec(conn, "ROLLBACK");
}

/* BEGIN IMMEDIATE already holds SQLite's one write lock: migrations are serialised. */
static int sqlite_migration_lock(db *conn, const char *component)
{
    (void)conn;
    (void)component;
    return 0;
}

static bool sqlite_rows_next(db_rows *rows)
{
    db_sqlite_rows *r = (db_sqlite_rows *)rows;
    if (r->current < r->nrows) {
        r->current++;
        return true;
    }
    r->current = r->nrows + 1;
    return false;
}

static const sqlite_cell *rows_cell(db_sqlite_rows *r, int col)
{
    if (r->current == 0 || r->current > r->nrows || col < 0 || col >= r->ncols)
        return NULL;
    return &r->cells[(r->current - 1) * (size_t)r->ncols + (size_t)col];
}

static bool sqlite_rows_null(db_rows *rows, int col)
{
    const sqlite_cell *cell = rows_cell((db_sqlite_rows *)rows, col);
    return !cell || cell->null;
}

static int64_t sqlite_rows_int(db_rows *rows, int col)
{
    const sqlite_cell *cell = rows_cell((db_sqlite_rows *)rows, col);
    return cell ? cell->i : 0;
}

static const char *sqlite_rows_text(db_rows *rows, int col, size_t *len)
{
    db_sqlite_rows *r = (db_sqlite_rows *)rows;
    const sqlite_cell *cell = rows_cell(r, col);
    if (!cell || cell->null) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = cell->len;
    return r->arena + cell->offset;
}

static void sqlite_close(db *conn)
{
    db_sqlite *c = (db_sqlite *)conn;
    sqlite_checkpointer_stop(c->checkpointer);
    sqlite_cache_clear(c);
    sqlite3_close_v2(c->handle);
    free(c);
}

static void sqlite_background_checkpoints(db *conn)
{
    db_sqlite *c = (db_sqlite *)conn;
    if (!c->checkpointer)
        c->checkpointer = sqlite_checkpointer_start(c->handle);
}

static const db_backend sqlite_backend = {
    .kind = DB_SQLITE,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .query = sqlite_query,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .migration_lock = sqlite_migration_lock,
    .background_checkpoints = sqlite_background_checkpoints,
    .rows_next = sqlite_rows_next,
    .rows_null = sqlite_rows_null,
    .rows_int = sqlite_rows_int,
    .rows_text = sqlite_rows_text,
    .rows_free = sqlite_rows_free,
};

/*
 * Blocks of a statement journal, kept for reuse. Inside a savepoint, or a statement that may
 * fail half-way inside a transaction, SQLite copies each page it changes into an in-memory
 * journal of 1 KiB blocks (its fixed size with temp_store=MEMORY), freed at its end: with a
 * savepoint per job a fan-out of 10 webhooks copied some 20 pages, 80 malloc and free calls
 * of 1 KiB, about 12 k instructions per webhook in glibc. Most batches now run without
 * savepoints (db_worker.c); batches that run again after a failure, jobs that keep theirs,
 * and SQLite's multi-row statements still journal. Freed blocks of that size wait here (at
 * most JOURNAL_BLOCKS, under a mutex: the store threads share SQLite's allocator) for the
 * next request of the same size; every other size goes straight to SQLite's own allocator.
 * (Larger blocks through SQLITE_CONFIG_STMTJRNL_SPILL with temp_store=FILE were tried:
 * SQLite 3.40 then failed the retention purge's large DELETEs with SQLITE_FULL.)
 */
#define JOURNAL_BLOCK 1024  /* memjournal.c's MEMJOURNAL_DFLT_FILECHUNKSIZE */
#define JOURNAL_BLOCKS 2048 /* 2 MiB at most */

static sqlite3_mem_methods sqlite_mem_base;
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;
static void *journal_blocks[JOURNAL_BLOCKS];
static int journal_count;

static void *journal_malloc(int n)
{
    void *p = NULL;
    if (n == JOURNAL_BLOCK) {
        pthread_mutex_lock(&journal_lock);
        if (journal_count > 0)
            p = journal_blocks[--journal_count];
        pthread_mutex_unlock(&journal_lock);
    }
    return p ? p : sqlite_mem_base.xMalloc(n);
}

static void journal_free(void *p)
{
    if (p && sqlite_mem_base.xSize(p) == JOURNAL_BLOCK) {
        pthread_mutex_lock(&journal_lock);
        bool kept = journal_count < JOURNAL_BLOCKS;
        if (kept)
            journal_blocks[journal_count++] = p;
        pthread_mutex_unlock(&journal_lock);
        if (kept)
            return;
    }
    sqlite_mem_base.xFree(p);
}

/* SQLite counts its memory (sqlite3_memory_used, which hookd never reads) under a global
 * mutex taken on every one of its mallocs and frees: 2-3 % of the CPU of a delivery. Off,
 * once, before the library initializes; if it already did, the count stays: only a cost.
 * The same holds for the journal blocks' reuse above. */
static void sqlite_configure(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_debug("db", "sqlite keeps its memory statistics (already initialized)");
    static sqlite3_mem_methods mine;
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_mem_base) != SQLITE_OK)
        return;
    mine = sqlite_mem_base;
    mine.xMalloc = journal_malloc;
    mine.xFree = journal_free;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mine) != SQLITE_OK)
        log_debug("db", "sqlite allocates its journal blocks anew (already initialized)");
}

int db_sqlite_open(const char *url, db **out, char *err, size_t errlen)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    (void)pthread_once(&configured, sqlite_configure);
    const char *path = url + strlen("sqlite:");
    if (strncmp(path, "//", 2) == 0)
        path += 2; /* sqlite:///abs/path and sqlite://rel/path */
    if (!*path) {
        snprintf(err, errlen, "sqlite: no file path in the URL");
        return HOOKD_EINVAL;
    }
    sqlite3 *handle = NULL;
    int rc = sqlite3_open_v2(path, &handle,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             sqlite_wal_vfs());
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot open %s: %s%s", path,
                 handle ? sqlite_full(handle, rc) : "",
                 handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
        sqlite3_close_v2(handle);
        return HOOKD_ESTORE;
    }
    sqlite3_extended_result_codes(handle, 1);
    sqlite_wal_watch(handle);
    char *msg = NULL;
    rc = sqlite3_exec(handle,
                      "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; "
                      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                      "PRAGMA temp_store=MEMORY;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s: %s%s", path, sqlite_full(handle, rc),
                 msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close_v2(handle);
        return HOOKD_ESTORE;
    }
    db_sqlite *c = xcalloc(1, sizeof *c);
    c->base.backend = &sqlite_backend;
    c->handle = handle;
    *out = &c->base;
    return 0;
}

/* A predicate registered by db_sqlite_predicate: its function and context. */
typedef struct sqlite_predicate {
    bool (*fn)(void *ctx, const char *text);
    void *ctx;
} sqlite_predicate;

static void sqlite_predicate_call(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const sqlite_predicate *p = sqlite3_user_data(cx);
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(cx, text && p->fn(p->ctx, text));
}

int db_sqlite_predicate(db *conn, const char *name, bool (*fn)(void *ctx, const char *text),
                        void *ctx)
{
    if (conn->backend != &sqlite_backend)
        return HOOKD_EINVAL;
    db_sqlite *c = (db_sqlite *)conn;
    sqlite_predicate *p = xmalloc(sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    /* SQLITE_UTF8 without SQLITE_DETERMINISTIC: the answer changes between calls; SQLite
     * frees p with the connection (or at once when it refuses). */
    int rc = sqlite3_create_function_v2(c->handle, name, 1, SQLITE_UTF8, p, sqlite_predicate_call,
                                        NULL, NULL, free);
    return rc == SQLITE_OK ? 0 : sqlite_error(c, "create function");
}
