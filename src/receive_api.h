/*
 * receive_api.h — the receiver's admin API, served on its own listener (--admin-listen,
 * loopback by default), never on the public port:
 *   GET  /webhooks?status=pending|done|failed[&limit=N][&after=ID]  a page of webhooks
 *   GET  /webhooks/{id}                                            one, with its handler runs
 *   POST /webhooks/{id}/retry                                      run it again (202)
 *   GET  /healthz                                                  200 {"status":"ok"} (liveness)
 *   GET  /readyz             200 {"status":"ready"}, or 503 with the reason (api_readyz)
 *   GET  /metrics                                                  Prometheus text
 *
 * Every route but /healthz and /readyz needs Authorization: Bearer <admin token> (401
 * otherwise); on a loopback listener the Host must name it, and no Origin of another site
 * is let in (403).
 *
 * Errors, times (ISO 8601 with milliseconds) and statuses are the dialect of api_common.h,
 * the same as the sender's REST API.
 *
 * Thread: loop thread only. Reads go through the store thread like every other query.
 */
#ifndef HOOKD_RECEIVE_API_H
#define HOOKD_RECEIVE_API_H

#include "db.h"
#include "receive_handler.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct evhttp;

typedef struct receive_api receive_api;

/* Who may call the admin API (checked on each request's head, before its body). */
typedef struct receive_api_access {
    unsigned char token_digest[32]; /* SHA-256 of the admin token (--admin-token, or the one
                                     * generated at first start): Authorization: Bearer */
    const char *listen_host;        /* --admin-listen's host: a Host header may name it */
    bool check_host; /* a loopback listener: the Host must name it (no DNS rebinding) */
} receive_api_access;

/* Serves the admin routes on http. m is rendered by /metrics. Never fails. */
receive_api *receive_api_new(struct evhttp *http, db_worker *worker, receive_handler *h, metrics *m,
                             const receive_api_access *access);

/* Requests waiting for the store. */
size_t receive_api_in_flight(const receive_api *a);

/* Frees it; call once receive_api_in_flight is 0. */
void receive_api_free(receive_api *a);

#endif
