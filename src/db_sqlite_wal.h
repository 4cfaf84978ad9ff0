/*
 * db_sqlite_wal.h — a VFS whose WAL files hand a commit's frames to the kernel in one write
 * (db_sqlite_wal.c); used by db_sqlite.c alone.
 */
#ifndef HOOKD_DB_SQLITE_WAL_H
#define HOOKD_DB_SQLITE_WAL_H

#include <sqlite3.h>

/* Registers the VFS (not as the default) once per process and returns its name for
 * sqlite3_open_v2; NULL (SQLite's default VFS is used as it is) if SQLite has none to wrap or
 * refuses it. Thread-safe. */
const char *sqlite_wal_vfs(void);

/* Installs handle's rollback hook, which drops the frames a rolled-back transaction left
 * gathered. Required on every connection opened with the VFS, right after the open; the
 * connection must run with synchronous=FULL (see db_sqlite_wal.c). */
void sqlite_wal_watch(sqlite3 *handle);

#endif
