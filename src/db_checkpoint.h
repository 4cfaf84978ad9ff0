/*
 * db_checkpoint.h — a thread that checkpoints an SQLite database's WAL so that commits do
 * not (db_checkpoint.c says why). Used by db_sqlite.c only: one per open connection.
 */
#ifndef HOOKD_DB_CHECKPOINT_H
#define HOOKD_DB_CHECKPOINT_H

#include <sqlite3.h>

typedef struct db_checkpointer db_checkpointer;

/* Starts checkpointing path's WAL for writer (a connection in WAL mode on path, whose
 * automatic checkpoint this replaces). NULL, logged, when it cannot: the writer then
 * keeps SQLite's automatic checkpoint. */
db_checkpointer *db_checkpointer_start(sqlite3 *writer, const char *path);

/* Stops the thread and closes its connection, before writer closes (the last connection's
 * close then checkpoints and removes the WAL, as SQLite does). NULL is a no-op. */
void db_checkpointer_stop(db_checkpointer *cp, sqlite3 *writer);

#endif
