/*
 * db_sqlite_checkpoint.c — a store thread's WAL checkpoints, moved to a thread of their own.
 *
 * SQLite copies its write-ahead log back into the database file (a checkpoint) in whichever
 * connection commits when the log passes 1000 pages. For hookd that is a store thread,
 * between two batches: the copy and the database file's fsync ran while every webhook
 * waiting for the next batch's commit waited for them too (docs/BENCHMARKS.md, "WAL
 * checkpoints off the commit path"). Here a store connection's commits only look at the
 * log's length (sqlite3_wal_hook, which replaces the automatic checkpoint); past CKPT_PAGES a
 * thread with a connection of its own runs a PASSIVE checkpoint, which takes no lock a
 * writer needs, so the store thread goes on committing while the pages are copied.
 *
 * A passive checkpoint alone cannot keep the log short under a steady load: SQLite starts
 * the log over from its beginning only when a write transaction begins with every page
 * already copied, and the store commits new pages while the background copies. So past
 * CKPT_INLINE pages the background passes chase the log's end, and once they are within
 * CKPT_LEFT pages of it the store connection copies those itself, right after its commit (a
 * few hundred pages where the automatic checkpoint copied a thousand, and a thousand only
 * covered 4 MiB), and its next transaction starts the log over: the file stays near
 * CKPT_INLINE pages. A copy of up to 1000 pages on the store thread was measured to stall
 * its batches (1 % over 5 ms, the receiver's p99 17-22 ms); of 200, p99 14-16 ms. Even 200
 * pages stall them for the fdatasync of the database file that makes the restart safe: 1-10
 * ms (the file grows, so the sync commits ext4's journal). With the log starting over at 32
 * MiB that came 2.5 times a second in a burst; at 128 MiB it comes every second or so, and
 * the burst's p99 fell from 15.4-16.6 ms to 13.0-13.9 ms (docs/BENCHMARKS.md, "One write
 * per commit"): 128 MiB of disk, beside a database that is growing by as much.
 *
 * That sync was the finish's real cost: a passive checkpoint syncs the database file only
 * when it copied the whole log, so the background passes left every page they copied in
 * the page cache, and the finish's one fdatasync wrote all of them, 20 ms at the median on
 * a virtio disk (docs/BENCHMARKS.md, "The database file synced before the finish"). So the
 * first background pass past CKPT_INLINE syncs the database file itself, on its own
 * thread, while the store thread goes on committing; the finish then writes only what the
 * last passes copied (1-9 ms). Once per cycle: a sync after every pass kept the disk busy
 * under the log's own fdatasync eight times as often, and the burst's slow batches tripled.
 * A failing checkpoint (a full disk) is logged once until one succeeds; the commits
 * themselves report their own errors as before.
 */
#include "db_sqlite_checkpoint.h"

#include "log.h"
#include "mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_STRIDE 4000  /* a background pass each time the log grows by this many pages */
#define CKPT_INLINE 32000 /* 128 MiB of 4 KiB pages: the log is to start over … */
#define CKPT_LEFT 200     /* … once the background left at most this many to the store thread, */
#define CKPT_CHASE 8      /* or asked this many passes past CKPT_INLINE without getting there, */
#define CKPT_HARD 64000   /* or, when the background cannot keep up at all, at once */
#define CKPT_AUTO 1000    /* SQLite's automatic checkpoint, given back at stop */

struct sqlite_checkpointer {
    sqlite3 *writer; /* the store thread's connection; the hook runs on its thread */
    sqlite3 *own;    /* the checkpoint thread's connection */
    pthread_t thread;
    int seen;     /* the log's pages at the writer's last commit; the writer's alone */
    int chased;   /* passes asked past CKPT_INLINE since the log started over; the writer's */
    bool flushed; /* this cycle's sync of the database file was asked for; the writer's */
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t wake;
    int copied;    /* the log's pages the last background pass copied (0: the log restarted) */
    bool running;  /* a background pass is under way */
    bool wanted;   /* a pass is asked for */
    bool flush;    /* … and it is to sync the database file after (once per cycle) */
    bool stopping; /* sqlite_checkpointer_stop was called */
    bool failing;  /* the last checkpoint failed, and was logged */
};

/* Logs a failed checkpoint once, until one succeeds again. */
static void checkpoint_note(sqlite_checkpointer *k, sqlite3 *handle, int rc)
{
    if (rc == SQLITE_BUSY)
        return; /* the other side is copying right now: the next commit asks again */
    pthread_mutex_lock(&k->lock);
    bool report = rc != SQLITE_OK && !k->failing;
    k->failing = rc != SQLITE_OK;
    pthread_mutex_unlock(&k->lock);
    /* A failed sync of the database file (checkpoint_sync) leaves no message on the
     * connection: then its code says what. */
    if (report)
        log_warn("db", "sqlite: WAL checkpoint failed (the log grows until one succeeds): %s",
                 sqlite3_errcode(handle) != SQLITE_OK ? sqlite3_errmsg(handle)
                                                      : sqlite3_errstr(rc));
}

/* sqlite3_wal_hook: after each commit of the store connection, pages in the log. Asks for a
 * background pass at every CKPT_STRIDE, and past CKPT_INLINE until the passes have caught up
 * to CKPT_LEFT pages (each pass copies what the store wrote during the one before, so they
 * shrink) or CKPT_CHASE passes did not get there; then copies what is left itself, so that
 * its next transaction starts the log over. */
static int checkpoint_hook(void *arg, sqlite3 *handle, const char *name, int pages)
{
    sqlite_checkpointer *k = arg;
    bool restarted = pages < k->seen;
    bool crossed = pages / CKPT_STRIDE > k->seen / CKPT_STRIDE;
    k->seen = pages;
    if (restarted) {
        k->chased = 0;
        k->flushed = false;
    }
    pthread_mutex_lock(&k->lock);
    if (restarted)
        k->copied = 0;
    bool idle = !k->running && !k->wanted;
    bool caught_up = pages - k->copied <= CKPT_LEFT || k->chased >= CKPT_CHASE;
    bool finish = pages >= CKPT_HARD || (pages >= CKPT_INLINE && idle && caught_up);
    if (!finish && (crossed || (pages >= CKPT_INLINE && idle))) {
        k->wanted = true;
        k->chased += pages >= CKPT_INLINE;
        k->flush = k->flush || (pages >= CKPT_INLINE && !k->flushed);
        k->flushed = k->flushed || k->flush;
        pthread_cond_signal(&k->wake);
    }
    pthread_mutex_unlock(&k->lock);
    if (finish) {
        int rc = sqlite3_wal_checkpoint_v2(handle, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        checkpoint_note(k, handle, rc);
    }
    return SQLITE_OK; /* an error here would fail a statement whose commit already happened */
}

/* Syncs the database file the connection checkpoints into, as its checkpoint would after
 * copying the whole log. */
static int checkpoint_sync(sqlite3 *own)
{
    sqlite3_file *file = NULL;
    int rc = sqlite3_file_control(own, "main", SQLITE_FCNTL_FILE_POINTER, &file);
    if (rc != SQLITE_OK || !file || !file->pMethods)
        return rc != SQLITE_OK ? rc : SQLITE_ERROR;
    return file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
}

static void *checkpoint_main(void *arg)
{
    sqlite_checkpointer *k = arg;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        while (!k->wanted && !k->stopping)
            pthread_cond_wait(&k->wake, &k->lock);
        if (k->stopping)
            break;
        bool flush = k->flush;
        k->wanted = false;
        k->flush = false;
        k->running = true;
        pthread_mutex_unlock(&k->lock);
        int copied = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(k->own, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, &copied);
        int synced = rc == SQLITE_OK && flush ? checkpoint_sync(k->own) : SQLITE_OK;
        checkpoint_note(k, k->own, rc != SQLITE_OK ? rc : synced);
        pthread_mutex_lock(&k->lock);
        k->running = false;
        if (rc == SQLITE_OK)
            k->copied = copied;
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

/* The checkpoint thread's connection to writer's file: synchronous=FULL as the writer's, so
 * that its checkpoints sync the log before copying and the database file after. */
static sqlite3 *checkpoint_open(sqlite3 *writer)
{
    const char *path = sqlite3_db_filename(writer, "main");
    if (!path || !*path)
        return NULL; /* a temporary or in-memory database: no log to copy */
    sqlite3 *own = NULL;
    int rc = sqlite3_open_v2(path, &own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(own, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_warn("db", "sqlite: %s: checkpoints stay in the store thread: %s", path,
                 own ? sqlite3_errmsg(own) : sqlite3_errstr(rc));
        sqlite3_close_v2(own);
        return NULL;
    }
    return own;
}

sqlite_checkpointer *sqlite_checkpointer_start(sqlite3 *writer)
{
    sqlite3 *own = checkpoint_open(writer);
    if (!own)
        return NULL;
    sqlite_checkpointer *k = xcalloc(1, sizeof *k);
    k->writer = writer;
    k->own = own;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->wake, NULL);
    int rc = pthread_create(&k->thread, NULL, checkpoint_main, k);
    if (rc != 0) {
        log_warn("db", "sqlite: checkpoints stay in the store thread: %s", strerror(rc));
        pthread_cond_destroy(&k->wake);
        pthread_mutex_destroy(&k->lock);
        sqlite3_close_v2(own);
        free(k);
        return NULL;
    }
    (void)pthread_setname_np(k->thread, "hookd-checkpt"); /* in top -H, ps -L, perf */
    sqlite3_wal_hook(writer, checkpoint_hook, k);         /* in place of the automatic checkpoint */
    return k;
}

void sqlite_checkpointer_stop(sqlite_checkpointer *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stopping = true;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    /* Back to the automatic checkpoint, which the writer's close runs one last time. */
    sqlite3_wal_autocheckpoint(k->writer, CKPT_AUTO);
    sqlite3_close_v2(k->own);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
