/*
 * admin.h — the receiver's admin API, served on its own listener (--admin-listen, loopback
 * by default), never on the public port:
 *   GET  /webhooks?status=pending|done|failed[&limit=N][&after=ID]  a page of webhooks
 *   GET  /webhooks/{id}                                            one, with its handler runs
 *   POST /webhooks/{id}/retry                                      run it again (202)
 *   GET  /healthz                                                  200 {"status":"ok"}
 *   GET  /metrics                                                  Prometheus text
 *
 * Thread: loop thread only. Reads go through the store thread like every other query.
 */
#ifndef HOOKD_ADMIN_H
#define HOOKD_ADMIN_H

#include "db.h"
#include "handler.h"
#include "metrics.h"

#include <stddef.h>

struct evhttp;

typedef struct admin admin;

/* Serves the admin routes on http. m is rendered by /metrics. Never fails. */
admin *admin_new(struct evhttp *http, db_worker *worker, handler *h, metrics *m);

/* Requests waiting for the store. */
size_t admin_in_flight(const admin *a);

/* Frees it; call once admin_in_flight is 0. */
void admin_free(admin *a);

#endif
