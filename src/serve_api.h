/*
 * api.h — the REST API of `hookd serve` (SPEC §3): destinations, events, webhooks, the
 * event-type catalog, /healthz and /metrics, on an evhttp server.
 *
 * Every /v1/ call needs `Authorization: Bearer <token>` (compared in constant time, as
 * SHA-256 digests). Every store access is a job on the db_worker; the answer is sent from its
 * done callback, after the batch holding it has committed (so a 202 for an event means the
 * event and all its webhooks are durable). Errors are {"error":{"code","message"}} with 400,
 * 401, 404, 405, 409, 413, 422 or 503.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_API_H
#define HOOKD_API_H

#include "db.h"
#include "serve_deliver.h"
#include "hookd.h"
#include "http_client.h"
#include "metrics.h"

#include <stddef.h>

struct evhttp;

#define SERVE_API_MAX_EVENT_BODY (256 * 1024) /* an event request over this is answered 413 */

typedef struct serve_api serve_api;

typedef struct serve_api_options {
    unsigned char token_digest[32];          /* SHA-256 of the admin token */
    const hookd_catalog *catalog;            /* the event types; outlives the api */
    const http_client_options *url_policy;   /* schemes a destination URL may use */
} serve_api_options;

/* Routes every request of http to the API. The worker, dispatcher and registry must outlive
 * it. Never NULL (allocation failure aborts). */
serve_api *serve_api_new(struct evhttp *http, db_worker *worker, serve_deliver *dispatch, metrics *registry,
             const serve_api_options *options);

/* Stops taking requests: closes the listening sockets and answers 503 to requests that still
 * arrive on open connections. Requests already waiting on the store are answered. */
void serve_api_stop(serve_api *a);

/* Requests waiting on the store (their answer not sent yet). */
size_t serve_api_pending(const serve_api *a);

void serve_api_free(serve_api *a);

#endif
