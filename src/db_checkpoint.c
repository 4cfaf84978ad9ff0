/*
 * db_checkpoint.c — SQLite's WAL checkpoints, off the commit path (see db_checkpoint.h).
 *
 * Left to SQLite, the connection whose commit takes the WAL past 1,000 pages checkpoints
 * at once, inside that commit: it copies the WAL's pages into the database file and
 * fsyncs it before the commit returns. For hookd that commit is a batch of webhooks
 * waiting for their 2XX, and every client of the burst waits behind it: measured, the
 * burst's p99 latency fell from 90–230 ms to 37–40 ms with the checkpoint taken out of the
 * commit (docs/BENCHMARKS.md, "Checkpoints off the commit path").
 *
 * So the writer's automatic checkpoint is off, and its WAL hook (called after each commit
 * with the WAL's size in pages) wakes this thread, which checkpoints PASSIVE on a
 * connection of its own: it copies what it can without taking any lock a writer or reader
 * waits on, and SQLite restarts the WAL from its start at a later commit once every frame
 * has been copied and synced (when a steady stream of commits never lets that happen, the
 * writer checkpoints the rest itself past DB_CHECKPOINT_WRITER_PAGES). Durability is SQLite's own:
 * a frame counts as copied only after the database file's fsync. A failed checkpoint (disk full,
 * say) is logged and tried again at the next commit's wake-up; meanwhile the WAL grows, as it would
 * have.
 */
#include "db_checkpoint.h"
#include "mem.h"

#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* WAL pages after which a checkpoint is asked for: SQLite's own default threshold. */
#define DB_CHECKPOINT_PAGES 1000
/* WAL pages after which the writer checkpoints inline, as SQLite would have: the WAL
 * starts over only at a commit that finds every frame copied, which a steady stream of
 * commits may never let the thread's checkpoint reach. By then the thread has copied
 * nearly everything, so the writer's share is the tail and one fsync. */
#define DB_CHECKPOINT_WRITER_PAGES (8 * DB_CHECKPOINT_PAGES)
/* Between two checkpoints at least this long: under a steady stream of commits the WAL
 * never empties, and each checkpoint ends with an fsync of the database file. */
#define DB_CHECKPOINT_GAP_MS 100

struct db_checkpointer {
    sqlite3 *handle; /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t lock; /* guards wanted and stopping */
    pthread_cond_t wake;
    bool wanted;
    bool stopping;
    bool failing; /* the last checkpoint failed: the next success is logged */
};

/* The writer's WAL hook: on the writer's thread, after a commit; pages = WAL size. */
static int checkpoint_wal_hook(void *arg, sqlite3 *writer, const char *schema, int pages)
{
    db_checkpointer *cp = arg;
    if (pages < DB_CHECKPOINT_PAGES)
        return SQLITE_OK;
    if (pages >= DB_CHECKPOINT_WRITER_PAGES) {
        /* SQLITE_BUSY when the thread is checkpointing: the next commit tries again. An
         * error is the thread's to log (it meets the same one). */
        int rc = sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        (void)rc;
        return SQLITE_OK;
    }
    pthread_mutex_lock(&cp->lock);
    if (!cp->wanted) {
        cp->wanted = true;
        pthread_cond_signal(&cp->wake);
    }
    pthread_mutex_unlock(&cp->lock);
    return SQLITE_OK;
}

/* One PASSIVE checkpoint; logs a failure once, and the recovery after it. */
static void checkpoint_run(db_checkpointer *cp)
{
    int wal_pages = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(cp->handle, "main", SQLITE_CHECKPOINT_PASSIVE, &wal_pages,
                                       &copied);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY) { /* busy: another checkpoint is under way */
        if (cp->failing && rc == SQLITE_OK)
            log_info("db", "WAL checkpoints work again (%d of %d pages copied)", copied, wal_pages);
        cp->failing = cp->failing && rc != SQLITE_OK;
        return;
    }
    if (!cp->failing)
        log_error("db", "WAL checkpoint failed: %s (the WAL grows until one succeeds)",
                  sqlite3_errmsg(cp->handle));
    cp->failing = true;
}

static void checkpoint_pause(db_checkpointer *cp)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + DB_CHECKPOINT_GAP_MS * 1000000L;
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    while (!cp->stopping)
        if (pthread_cond_timedwait(&cp->wake, &cp->lock, &ts) != 0)
            break; /* the gap is over (or an error: go on either way) */
}

static void *checkpoint_main(void *arg)
{
    db_checkpointer *cp = arg;
    pthread_mutex_lock(&cp->lock);
    for (;;) {
        while (!cp->wanted && !cp->stopping)
            pthread_cond_wait(&cp->wake, &cp->lock);
        if (cp->stopping)
            break;
        cp->wanted = false;
        pthread_mutex_unlock(&cp->lock);
        checkpoint_run(cp);
        pthread_mutex_lock(&cp->lock);
        checkpoint_pause(cp);
    }
    pthread_mutex_unlock(&cp->lock);
    return NULL;
}

db_checkpointer *db_checkpointer_start(sqlite3 *writer, const char *path)
{
    sqlite3 *handle = NULL;
    int rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(handle, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_warn("db", "no checkpoint thread (%s): commits checkpoint the WAL themselves",
                 handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
        sqlite3_close_v2(handle);
        return NULL;
    }
    db_checkpointer *cp = xcalloc(1, sizeof *cp);
    cp->handle = handle;
    pthread_mutex_init(&cp->lock, NULL);
    pthread_cond_init(&cp->wake, NULL);
    rc = pthread_create(&cp->thread, NULL, checkpoint_main, cp);
    if (rc != 0) {
        log_warn("db", "no checkpoint thread: commits checkpoint the WAL themselves");
        pthread_cond_destroy(&cp->wake);
        pthread_mutex_destroy(&cp->lock);
        sqlite3_close_v2(handle);
        free(cp);
        return NULL;
    }
    sqlite3_wal_hook(writer, checkpoint_wal_hook, cp); /* replaces the automatic checkpoint */
    return cp;
}

void db_checkpointer_stop(db_checkpointer *cp, sqlite3 *writer)
{
    if (!cp)
        return;
    sqlite3_wal_autocheckpoint(writer, DB_CHECKPOINT_PAGES); /* the hook goes with cp */
    pthread_mutex_lock(&cp->lock);
    cp->stopping = true;
    pthread_cond_signal(&cp->wake);
    pthread_mutex_unlock(&cp->lock);
    pthread_join(cp->thread, NULL);
    sqlite3_close_v2(cp->handle);
    pthread_cond_destroy(&cp->wake);
    pthread_mutex_destroy(&cp->lock);
    free(cp);
}
