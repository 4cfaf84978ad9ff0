/*
 * serve_held.h — the webhooks one sender process holds (claimed, running or waiting, or
 * ended with an outcome not yet committed), kept in memory instead of as leases in the
 * store. Only for a store this process holds alone (SQLite, flock'ed at start by
 * serve_main.c): no other process claims from it, so the lease a row would carry says
 * nothing the process does not already know, and writing it cost a row rewrite per delivery
 * (docs/BENCHMARKS.md, "Leases in memory"). The claim (serve_store_claim, store thread)
 * skips the webhooks held — its SQL asks serve_held_has row by row, before it reads the
 * event's body — and adds what it takes; a claimed webhook leaves the set when its
 * payload is freed (serve_store_claimed_free, loop thread): after its outcome committed, it
 * was given back, or its claim failed — so a row is never free in the file and in memory
 * while its run or its outcome is under way. After a crash nothing is held: the restart
 * claims every pending webhook at once.
 *
 * Thread: any; one mutex guards the set (the store thread adds and reads, the loop removes).
 */
#ifndef HOOKD_SERVE_HELD_H
#define HOOKD_SERVE_HELD_H

#include <stdbool.h>

typedef struct serve_held serve_held;

/* An empty set. Never NULL. */
serve_held *serve_held_new(void);

/* Frees the set and what is left in it. NULL is a no-op. */
void serve_held_free(serve_held *held);

/* Adds webhook_id (copied); one held already stays once. */
void serve_held_add(serve_held *held, const char *webhook_id);

/* Removes webhook_id; one not held is ignored. */
void serve_held_remove(serve_held *held, const char *webhook_id);

/* Whether webhook_id is held; held is a serve_held (void: the shape of a
 * db_sqlite_predicate, through which the claim's SQL asks it row by row). */
bool serve_held_has(void *held, const char *webhook_id);

#endif
