/*
 * serve_store_retention.h — the sender's side of --retention (retention.h paces it): which
 * rows of the serve_* store may go, in batches. A webhook goes once it is finished
 * (succeeded, failed or cancelled) and was both created and last changed before the
 * cut-off — a pending or retrying one never does, nor one a person retried since — with its
 * attempts; an event goes once it is older than the cut-off and none of its webhooks is left.
 */
#ifndef HOOKD_SERVE_STORE_RETENTION_H
#define HOOKD_SERVE_STORE_RETENTION_H

#include "db.h"
#include "retention.h"

/* Creates or migrates what the purge needs (component "serve_retention": an index on the
 * events' creation time). Main thread, after serve_store_migrate. 0 or HOOKD_ESTORE. */
int serve_store_retention_migrate(db *conn);

/* retention_batch_fn: deletes at most batch->limit finished webhooks (and their attempts)
 * and at most as many events, older than batch->before; deleted: webhooks + events. */
int serve_store_retention_batch(db *conn, retention_batch *batch);

#endif
