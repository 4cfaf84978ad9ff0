/*
 * serve_api.h — the REST API of `hookd serve` (SPEC §3): destinations, events, webhooks,
 * the event-type catalog, /healthz (liveness), /readyz (the store answers and takes writes:
 * api_readyz) and /metrics, on the HTTP server of http_server.h.
 *
 * Every /v1/ call needs `Authorization: Bearer <key>`: an access key (SPEC §6), looked up by
 * its SHA-256 in the store on every request (so a revocation holds from the next request on
 * every node), then checked against the permission its route declares and bound to its
 * account, before the route's own work starts. Every store access is a job on the db_worker; the
 * answer is sent from its done callback, after the batch holding it has committed (so a 202 for an
 * event means the event and all its webhooks are durable). Errors, times and statuses are the
 * dialect of api_common.h, shared with the receiver's admin API; answers are built from the store's
 * structs by serve_api_json.c.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_SERVE_API_H
#define HOOKD_SERVE_API_H

#include "http_server.h"
#include "db.h"
#include "serve_deliver.h"
#include "hookd.h"
#include "http_client.h"
#include "metrics.h"
#include "serve_store.h"

#include <jansson.h>

#include <stddef.h>

#define SERVE_API_MAX_EVENT_BODY (256 * 1024) /* an event request over this is answered 413 */

typedef struct serve_api serve_api;

typedef struct serve_api_options {
    const hookd_catalog *catalog;          /* the event types; outlives the api */
    const http_client_options *url_policy; /* schemes a destination URL may use */
} serve_api_options;

/* Why a request's content was refused: what the API answers as
 * {"error":{"code":…,"message":…}} with status. */
typedef struct serve_api_problem {
    int status;    /* 422 */
    char code[40]; /* "invalid_url": the field is what follows "invalid_" */
    char message[512];
} serve_api_problem;

/* The API's own check of a destination's fields (name, url, events, description, headers,
 * format) present in body, a JSON object, copying them into sr (marking sr->fields); create
 * requires name, url and events. False with *pb filled on the first bad field. Shared by
 * POST/PATCH /v1/destinations and the admin panel's forms, so the two refuse alike. */
bool serve_api_destination_fields(const serve_api_options *opt, json_t *body, bool create,
                                  serve_store_request *sr, serve_api_problem *pb);

/* Routes every request of http to the API. The worker, the deliveries and the registry must outlive
 * it. Never NULL (allocation failure aborts). */
serve_api *serve_api_new(http_server *http, db_worker *worker, serve_deliver *dispatch,
                         metrics *registry, const serve_api_options *options);

/* Stops taking requests: closes the listening sockets and answers 503 to requests that still
 * arrive on open connections. Requests already waiting on the store are answered. */
void serve_api_stop(serve_api *a);

/* Requests waiting on the store (their answer not sent yet). */
size_t serve_api_pending(const serve_api *a);

void serve_api_free(serve_api *a);

/* ---- the route table (pure; exposed for tests) ---- */

typedef enum serve_api_method {
    SERVE_API_GET,
    SERVE_API_POST,
    SERVE_API_PATCH,
    SERVE_API_DELETE,
    SERVE_API_OTHER, /* any other method: never routed */
} serve_api_method;

typedef enum serve_api_action {
    SERVE_API_DESTINATION_LIST,
    SERVE_API_DESTINATION_CREATE,
    SERVE_API_DESTINATION_GET,
    SERVE_API_DESTINATION_UPDATE,
    SERVE_API_DESTINATION_DELETE,
    SERVE_API_DESTINATION_ACTIVATE,
    SERVE_API_DESTINATION_DEACTIVATE,
    SERVE_API_DESTINATION_SECRET,
    SERVE_API_DESTINATION_ROTATE,
    SERVE_API_DESTINATION_RECOVER,
    SERVE_API_EVENT_CREATE,
    SERVE_API_EVENT_GET,
    SERVE_API_WEBHOOK_LIST,
    SERVE_API_WEBHOOK_GET,
    SERVE_API_WEBHOOK_RETRY,
    SERVE_API_EVENT_TYPES,
    SERVE_API_ACCOUNT_LIST,
    SERVE_API_ACCOUNT_CREATE,
    SERVE_API_KEY_LIST,
    SERVE_API_KEY_CREATE,
    SERVE_API_KEY_DELETE,
    SERVE_API_ACTION_COUNT,
} serve_api_action;

#define SERVE_API_NO_ROUTE (-404)   /* no route has this path */
#define SERVE_API_BAD_METHOD (-405) /* the path exists, not with this method */

/*
 * Finds the route of the n path segments after "/v1/" (segs[0] is "destinations", …) for
 * method. Returns its serve_api_action, with *id pointing at the {id} segment (or NULL);
 * SERVE_API_BAD_METHOD with allow set to the path's methods ("GET, POST"); or
 * SERVE_API_NO_ROUTE.
 */
int serve_api_route_match(const char *const *segs, size_t n, serve_api_method method,
                          const char **id, char *allow, size_t allow_len);

/* True when the request headers carry a bearer key (Authorization: Bearer …): what the front
 * door checks before the body is read. Whether the key is valid, and what it may do, needs
 * the store: the API looks it up once the request is whole (serve_access.h). */
bool serve_api_authorize_head(const serve_api *a, const http_head *head);
/* The permission (serve_access.h bits) the route of action declares; SERVE_PERM_NONE for
 * one any valid key may call. */
unsigned serve_api_route_permission(serve_api_action which);

#endif
