/*
 * receive_api.h — the receiver's admin API, served on its own listener (--admin-listen,
 * loopback by default), never on the public port:
 *   GET  /webhooks?status=pending|done|failed[&limit=N][&after=ID]  a page of webhooks
 *   GET  /webhooks/{id}                                            one, with its handler runs
 *   POST /webhooks/{id}/retry                                      run it again (202)
 *   GET  /healthz                                                  200 {"status":"ok"} (liveness)
 *   GET  /readyz             200 {"status":"ready"}, or 503 with the reason (api_readyz)
 *   GET  /metrics                                                  Prometheus text
 * and, mounted by the side that serves it, the admin panel under /admin (receive_panel.h).
 *
 * Every route but /healthz and /readyz needs Authorization: Bearer <admin token> (401
 * otherwise); with the generated token the Host must name the listener or loopback, and no
 * Origin of another site is let in (403).
 *
 * Errors, times (ISO 8601 with milliseconds) and statuses are the dialect of api_common.h,
 * the same as the sender's REST API.
 *
 * Thread: loop thread only. Reads go through the store thread like every other query.
 */
#ifndef HOOKD_RECEIVE_API_H
#define HOOKD_RECEIVE_API_H

#include "http_server.h"
#include "db.h"
#include "receive_handler.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct receive_api receive_api;

/* Who may call the admin API (checked on each request's head, before its body). */
typedef struct receive_api_access {
    unsigned char token_digest[32]; /* SHA-256 of the admin token (--admin-token, or the one
                                     * generated at first start): Authorization: Bearer */
    const char *listen_host;        /* --admin-listen's host: a Host header may name it */
    bool check_host; /* the Host must name the listener or loopback (no DNS rebinding) */
} receive_api_access;

/* Serves the admin routes on http. m is rendered by /metrics. Never fails. */
receive_api *receive_api_new(http_server *http, db_worker *worker, receive_handler *h, metrics *m,
                             const receive_api_access *access);

/* Handles a request under a mounted prefix; path is its decoded path (without the query). */
typedef void (*receive_api_mount_fn)(void *arg, http_request *req, const char *path);

/* Hands every request whose path is prefix or below it ("/admin", "/admin/…") to fn: the
 * admin panel. Those skip the bearer token (fn signs its users in with the admin token and
 * keeps them by a session) but not the Host and Origin checks. prefix must outlive a. */
void receive_api_mount(receive_api *a, const char *prefix, receive_api_mount_fn fn, void *arg);

/* Whether a webhook's lease (receive_store_webhook.lease_until, -1 for none) still holds:
 * the handler is running it now. */
bool receive_api_lease_holds(const receive_api *a, int64_t lease_until);

/* A manual retry, exactly as POST /webhooks/{id}/retry makes it (receive_store_retry, then
 * the handler is woken): done(arg, rc) on the loop with 0, HOOKD_ENOTFOUND, HOOKD_ECONFLICT
 * (the handler is running it) or a store error. id is copied. Counts as in flight. */
void receive_api_retry_webhook(receive_api *a, const char *id, db_done_fn done, void *arg);

/* Requests waiting for the store. */
size_t receive_api_in_flight(const receive_api *a);

/* Frees it; call once receive_api_in_flight is 0. */
void receive_api_free(receive_api *a);

#endif
