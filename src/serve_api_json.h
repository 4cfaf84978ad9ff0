/*
 * serve_api_json.h — the sender's REST answers, built from the plain structs the store
 * fills (serve_store.h). The store knows SQL and no JSON; the API layer owns the shape of
 * every answer, in the dialect of api_common.h (ISO 8601 times with milliseconds, null for
 * a time not set, durations in *_ms). Pure: any thread (the event answer is built on the
 * store thread, inside the job that remembers it under its Idempotency-Key).
 *
 * Every function returns a new reference (or, for the event answer, malloc'd text) the
 * caller owns; none returns NULL.
 */
#ifndef HOOKD_SERVE_API_JSON_H
#define HOOKD_SERVE_API_JSON_H

#include "serve_store.h"

#include <jansson.h>

/* {id, name, url, description, events, headers, format, active, disabled_reason,
 * created_at, updated_at} and "secret" when d->secret is set. */
json_t *serve_api_destination_json(const serve_store_destination *d);

/* r->destination (with its secret after a create). */
json_t *serve_api_destination_one_json(const serve_store_request *r);

/* {"data":[destination…]} of r->destinations. */
json_t *serve_api_destination_list_json(const serve_store_request *r);

/* {"secret":…, "previous":[{"secret":…, "expires_at":…}…]} of r->destination: the current
 * secret and those a rotation's grace keeps valid, newest first ([] when none). */
json_t *serve_api_secret_json(const serve_store_request *r);

/* {"count":n} of r->count (recover). */
json_t *serve_api_count_json(const serve_store_request *r);

/* {id, event_id, destination_id, status, attempt_count, next_attempt_at, created_at,
 * updated_at}. */
json_t *serve_api_webhook_json(const serve_store_webhook *w);

/* r->webhook with "attempts":[{n, started_at, duration_ms, status_code, error, response}]. */
json_t *serve_api_webhook_detail_json(const serve_store_request *r);

/* r->webhook alone (retry's answer). */
json_t *serve_api_webhook_only_json(const serve_store_request *r);

/* {"data":[webhook…],"next":cursor|null} of r->webhooks and r->next. */
json_t *serve_api_webhook_list_json(const serve_store_request *r);

/* {id, event, data, created_at, webhooks:[webhook…]} of r->event (data taken from the
 * stored envelope) and r->webhooks. */
json_t *serve_api_event_json(const serve_store_request *r);

/* The answer to POST /v1/events as compact text (malloc'd):
 * {"id","event","created_at","webhooks":[{"id","destination_id"}…]}. */
char *serve_api_event_answer_text(const serve_store_request *r);

/* Access keys: one (the create answer carries the secret as "key", once) and the list
 * (never a secret); accounts: one and the list. */
json_t *serve_api_key_one_json(const serve_store_request *r);
json_t *serve_api_key_list_json(const serve_store_request *r);
json_t *serve_api_account_one_json(const serve_store_request *r);
json_t *serve_api_account_list_json(const serve_store_request *r);

#endif
