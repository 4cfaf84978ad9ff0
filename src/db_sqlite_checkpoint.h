/*
 * db_sqlite_checkpoint.h — WAL checkpoints of a store connection on a thread of their own
 * (db_sqlite_checkpoint.c); used by db_sqlite.c alone.
 */
#ifndef HOOKD_DB_SQLITE_CHECKPOINT_H
#define HOOKD_DB_SQLITE_CHECKPOINT_H

#include <sqlite3.h>

typedef struct sqlite_checkpointer sqlite_checkpointer;

/* Takes writer's checkpoints off its commits: a thread with a connection of its own copies
 * the log back. NULL (and writer keeps SQLite's automatic checkpoint) for an in-memory
 * database or when the thread or its connection cannot start (logged). writer must be idle
 * during the call; afterwards its commits signal the thread. */
sqlite_checkpointer *sqlite_checkpointer_start(sqlite3 *writer);

/* Joins the thread, closes its connection and gives writer its automatic checkpoint back;
 * before writer is closed. NULL: nothing. */
void sqlite_checkpointer_stop(sqlite_checkpointer *k);

#endif
