/*
 * serve_ops.h — operational webhooks: hookd tells an operator, as ordinary signed webhooks,
 * that something broke or mended in the sender itself (issue 16, SPEC §3 "Operational
 * webhooks"):
 *   destination.deactivated  a destination answered 410 Gone, or every attempt to it failed
 *                            for the whole failing window (5 days)
 *   webhook.failed           a webhook failed for good: its round's last attempt failed
 *   destination.recovered    the first successful attempt to a destination after hookd sent a
 *                            webhook.failed or destination.deactivated about it
 * Each is an event of the account of the destination concerned, fanned out to that account's
 * active destinations subscribed to the type, by serve_store's own event insert: so they are
 * stored, claimed, signed, retried and recorded by the same engine as every other webhook.
 * They are written inside the transaction of the outcome that causes them (serve_store_w_outcome
 * calls these), so a crash can neither lose one nor create it twice. Loop safety: the outcome of a
 * webhook that is itself operational emits no webhook.failed or destination.deactivated.
 *
 * Thread: the store thread (inside the outcome's batch transaction), like serve_store's work.
 */
#ifndef HOOKD_SERVE_OPS_H
#define HOOKD_SERVE_OPS_H

#include "db.h"
#include "serve_store.h"

#include <stdbool.h>
#include <stdint.h>

#define SERVE_OPS_DEACTIVATED "destination.deactivated"
#define SERVE_OPS_FAILED "webhook.failed"
#define SERVE_OPS_RECOVERED "destination.recovered"

/* True when type is one of the three operational event types: destinations may subscribe to
 * them whatever the catalog says; applications cannot post them (they are not in it). */
bool serve_ops_type(const char *type);

/* Creates or migrates serve_ops' own schema (component "serve_ops": the destinations'
 * ops_alerted_at column). serve_store_migrate calls it. 0 or HOOKD_ESTORE. */
int serve_ops_migrate(db *conn);

/* After a failed attempt's writes, in the same transaction: emits webhook.failed when
 * o->state is SERVE_STORE_FAILED and destination.deactivated when o->deactivated, unless the
 * webhook is itself operational; marks the destination alerted (for destination.recovered).
 * Sets o->ops_webhooks to the webhooks created. 0 or HOOKD_ESTORE. */
int serve_ops_failed(db *conn, serve_store_outcome *o);

/* After a successful attempt's writes, in the same transaction: alerted_at is the
 * destination's ops_alerted_at (-1 when not set): when set, clears it and emits
 * destination.recovered. Sets o->ops_webhooks to the webhooks created. 0 or HOOKD_ESTORE. */
int serve_ops_recovered(db *conn, serve_store_outcome *o, int64_t alerted_at);

#endif
