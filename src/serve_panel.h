/*
 * serve_panel.h — the admin panel of `hookd serve` (SPEC §7), under /admin of the API's
 * listener: sign in with an access key, the Webhook Destinations pages (list, Create,
 * a destination with its secret, activation, rotation, edit, delete, its webhooks and their
 * attempts, Retry, Recover) and the Events page, in the account the key acts in.
 *
 * It is the API seen through a browser: every page and every POST looks the session's key up
 * again (serve_store_w_key_lookup, as the API does: a revoked key stops at the next request),
 * checks the permission the API's route table declares for the same operation
 * (serve_api_route_permission), checks input with the API's own checks
 * (serve_api_destination_fields) and runs the same store functions (serve_store_w_*), all in
 * one store job per request, answered from its done callback on the loop. The HTML, sessions,
 * CSRF tokens and security headers are the shared framework's (panel.h).
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_SERVE_PANEL_H
#define HOOKD_SERVE_PANEL_H

#include "http_server.h"
#include "db.h"
#include "serve_api.h"
#include "serve_deliver.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct serve_panel serve_panel;

/* A panel on the worker's store; worker, dispatch and what options point at outlive it.
 * Never NULL. */
serve_panel *serve_panel_new(db_worker *worker, serve_deliver *dispatch,
                             const serve_api_options *options);
void serve_panel_free(serve_panel *sp);

/* Answers a request whose path is /admin or below. */
void serve_panel_handle(serve_panel *sp, http_request *req);

/* Requests waiting on the store. */
size_t serve_panel_pending(const serve_panel *sp);

#endif
