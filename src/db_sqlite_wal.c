/*
 * db_sqlite_wal.c — a VFS over SQLite's default one whose WAL files gather a transaction's
 * frames in memory and hand them to the kernel in one write when the commit syncs.
 *
 * SQLite writes each WAL frame with two system calls (its 24-byte header, then the page), so
 * a store thread committing a batch of N webhooks made some 3N pwrite64 calls before its one
 * fdatasync: about 12 µs per webhook of the receiver's store thread (docs/BENCHMARKS.md,
 * "One write per commit"). Here every WAL write that continues (or rewrites part of) the
 * frames gathered so far is copied into a buffer; the buffer goes to the file in one write
 * when SQLite syncs the log, reads a part of it, writes elsewhere, asks the file's size or
 * truncates it, and whenever it would outgrow WAL_BUFFER. Every other method, and every
 * file that is not a WAL, is the default VFS's own.
 *
 * Why no other connection can read a gathered frame: with synchronous=FULL (db_sqlite_open
 * sets it on every connection it opens with this VFS) SQLite syncs the log at each commit
 * before it publishes the new frames in the wal-index; readers find frames only through the
 * wal-index, so by then the frames are in the file. Frames of a transaction that rolls back
 * are never published; they must not reach the file later either, because once the write
 * lock is released another connection may write its own frames at the same offsets. The
 * rollback hook (sqlite_wal_watch) drops them: SQLite calls it as the rollback ends, before
 * this connection can touch its log again. A savepoint's rollback keeps the transaction:
 * its frames are rewritten or lie past the commit, as they would in the file. A crash loses
 * only what no commit had synced, as without the buffer.
 */
#include "db_sqlite_wal.h"

#include "log.h"
#include "mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WAL_VFS_NAME "hookd-wal"
/* The buffer: 29 frames of 4 KiB pages. The default VFS writes at most 128 KiB - 1 per call
 * (unix: seekAndWriteFd masks the count to 17 bits; a larger write would be cut short and
 * reported as a full disk), so a flush is one call. */
#define WAL_BUFFER (120 * 1024)

/* A WAL file: the gathered frames, then the default VFS's file object (szOsFile bytes). */
typedef struct wal_file {
    sqlite3_file io;     /* pMethods = &wal_methods */
    sqlite3_file *real;  /* the default VFS's file, right after this struct */
    unsigned char *buf;  /* WAL_BUFFER bytes at the first write: frames not yet written */
    sqlite3_int64 start; /* file offset of buf[0] */
    size_t len;          /* bytes gathered; 0: nothing pending */
} wal_file;

static sqlite3_vfs *wal_base; /* the default VFS this one wraps */
static sqlite3_vfs wal_vfs;
static sqlite3_io_methods wal_methods;

/* Writes what is gathered; the buffer is empty afterwards either way (a failed write fails
 * the transaction, whose frames are then worthless). */
static int wal_flush(wal_file *w)
{
    if (w->len == 0)
        return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->start);
    w->len = 0;
    return rc;
}

/* Drops what is gathered: frames of a transaction that rolled back. */
static void wal_drop(wal_file *w)
{
    w->len = 0;
}

static int wal_close(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    wal_drop(w); /* committed frames were written at their sync: these were never published */
    free(w->buf);
    w->buf = NULL;
    return w->real->pMethods->xClose(w->real);
}

static int wal_read(sqlite3_file *f, void *out, int n, sqlite3_int64 offset)
{
    wal_file *w = (wal_file *)f;
    sqlite3_int64 end = w->start + (sqlite3_int64)w->len;
    if (w->len > 0 && offset >= w->start && offset + n <= end) {
        memcpy(out, w->buf + (offset - w->start), (size_t)n);
        return SQLITE_OK;
    }
    if (w->len > 0 && offset < end && offset + n > w->start) {
        int rc = wal_flush(w); /* partly gathered: let the file answer */
        if (rc != SQLITE_OK)
            return rc;
    }
    return w->real->pMethods->xRead(w->real, out, n, offset);
}

/* Whether the buffer can hold `need` bytes from its start. */
static bool wal_room(wal_file *w, size_t need)
{
    if (need > WAL_BUFFER)
        return false;
    if (!w->buf)
        w->buf = xmalloc(WAL_BUFFER);
    return true;
}

static int wal_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 offset)
{
    wal_file *w = (wal_file *)f;
    sqlite3_int64 end = w->start + (sqlite3_int64)w->len;
    if (w->len > 0 && offset >= w->start && offset <= end &&
        wal_room(w, (size_t)(offset + n - w->start))) {
        memcpy(w->buf + (offset - w->start), data, (size_t)n);
        if (offset + n > end)
            w->len = (size_t)(offset + n - w->start);
        return SQLITE_OK;
    }
    int rc = wal_flush(w);
    if (rc != SQLITE_OK)
        return rc;
    if (!wal_room(w, (size_t)n))
        return w->real->pMethods->xWrite(w->real, data, n, offset);
    memcpy(w->buf, data, (size_t)n);
    w->start = offset;
    w->len = (size_t)n;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xUnlock(w->real, level);
}

static int wal_check_reserved_lock(sqlite3_file *f, int *out)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device_characteristics(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* Opens a WAL through the buffer; any other file is the default VFS's own object, in place
 * (szOsFile leaves it room). Version 1 methods: SQLite maps and locks shared memory through
 * the database file, never through its log. */
static int wal_vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                        int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return wal_base->xOpen(wal_base, name, f, flags, out_flags);
    wal_file *w = (wal_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    int rc = wal_base->xOpen(wal_base, name, w->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (w->real->pMethods)
            w->real->pMethods->xClose(w->real);
        w->io.pMethods = NULL; /* SQLite calls no xClose on a file whose open failed */
        return rc;
    }
    w->io.pMethods = &wal_methods;
    return SQLITE_OK;
}

static const char *wal_vfs_name;

static void wal_vfs_register(void)
{
    wal_base = sqlite3_vfs_find(NULL);
    if (!wal_base) {
        log_warn("db", "sqlite: no default VFS; WAL writes go one by one");
        return;
    }
    wal_methods = (sqlite3_io_methods){
        .iVersion = 1,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_file_size,
        .xLock = wal_lock,
        .xUnlock = wal_unlock,
        .xCheckReservedLock = wal_check_reserved_lock,
        .xFileControl = wal_file_control,
        .xSectorSize = wal_sector_size,
        .xDeviceCharacteristics = wal_device_characteristics,
    };
    /* Every VFS-level method is the default's, called with its own pAppData (the unix VFS
     * finds its locking style there) and this VFS's pointer, which it does not look at. */
    wal_vfs = *wal_base;
    wal_vfs.pNext = NULL;
    wal_vfs.zName = WAL_VFS_NAME;
    wal_vfs.szOsFile = (int)sizeof(wal_file) + wal_base->szOsFile;
    wal_vfs.xOpen = wal_vfs_open;
    int rc = sqlite3_vfs_register(&wal_vfs, 0);
    if (rc != SQLITE_OK) {
        log_warn("db", "sqlite: cannot register the WAL VFS: %s", sqlite3_errstr(rc));
        return;
    }
    wal_vfs_name = WAL_VFS_NAME;
}

const char *sqlite_wal_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, wal_vfs_register);
    return wal_vfs_name;
}

/* The rollback hook: the log's gathered frames belong to the transaction just undone. */
static void wal_rolled_back(void *arg)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(arg, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) == SQLITE_OK && f &&
        f->pMethods == &wal_methods)
        wal_drop((wal_file *)f);
}

void sqlite_wal_watch(sqlite3 *handle)
{
    (void)sqlite3_rollback_hook(handle, wal_rolled_back, handle);
}
