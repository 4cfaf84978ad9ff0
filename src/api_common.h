/*
 * api_common.h — the one dialect of hookd's two HTTP APIs: the sender's REST API
 * (serve_api.c, /v1/…) and the receiver's admin API (receive_api.c). Both answer errors,
 * times, pages and store failures through these helpers, so the two cannot drift apart.
 *
 * Errors are {"error":{"code":…,"message":…}} (http_reply_error) with:
 *   400 invalid_json            the body is not a JSON object
 *   400 invalid_parameter       a malformed query parameter or page cursor (?limit=0,
 *                               ?status=bogus, ?after=garbage)
 *   400 invalid_idempotency_key the Idempotency-Key header is empty or too long
 *   400 bad_request             ambiguous or malformed framing (http_conn.c; closes)
 *   401 unauthorized            missing or wrong bearer token (with WWW-Authenticate)
 *   403 forbidden_host, forbidden_origin
 *                               the receiver's admin API named by another host or site
 *   404 not_found               no such route, or no such object
 *   405 method_not_allowed      the path exists, not with this method (with Allow)
 *   409 conflict                the object's state forbids it (a running webhook, …)
 *   413 too_large               the body is over the route's cap
 *   422 invalid_<field>, unknown_event_type, invalid_data
 *                               a well-formed body whose content is refused
 *   408 request_timeout         the head or the whole request came too slowly (closes)
 *   431 headers_too_large       the head is over the cap (closes)
 *   501 not_implemented         an unknown method (TRACE/CONNECT: 405; closes)
 *   503 busy                    the process-wide budget of buffered bodies is spent;
 *                               with Retry-After (closes)
 *   503 store_unavailable       the store failed; with Retry-After (try again)
 *   503 shutting_down           the process is stopping; with Retry-After
 * as Stripe and Svix do: 400 for what cannot be read, 422 for what was read and refused.
 *
 * Times in answers are ISO 8601 UTC strings with milliseconds, "2024-08-22T01:04:05.123Z":
 * the store keeps milliseconds and an answer should not drop them (two attempts within one
 * second stay ordered, a run's start lines up with its duration_ms); the text sorts as it
 * reads and every ISO 8601 parser takes it (Svix answers the same shape). A time that is
 * not set is null. Durations are integer milliseconds named *_ms. Times a client sends
 * (recover's `since`) may have the fraction or not.
 *
 * Thread: the reply helpers on the loop thread; the pure functions (formatting, parsing,
 * the error table) on any thread.
 */
#ifndef HOOKD_API_COMMON_H
#define HOOKD_API_COMMON_H

#include "http_server.h"
#include "engine.h"

#include <jansson.h>
#include <stdint.h>

struct db_worker;

#define API_TIME_LEN 24           /* strlen("2024-08-22T01:04:05.123Z") */
#define API_RETRY_AFTER_SECONDS 5 /* Retry-After on a 503: a busy store clears in seconds */

/* Formats Unix milliseconds into out (API_TIME_LEN + 1 bytes). 0, or HOOKD_EINVAL outside
 * years 0000–9999. */
int api_time_format(int64_t unix_ms, char *out);

/* The time as a JSON string, or JSON null when unix_ms < 0 (not set). Never NULL. */
json_t *api_time_json(int64_t unix_ms);

/* {n, started_at, duration_ms} of a recorded run (an attempt, a handler run): the fields
 * both APIs show first; the caller adds its side's status fields and the error. */
json_t *api_record_json(const engine_record *rec);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" or the same with a fraction of 1 to 9 digits before the Z
 * (cut to milliseconds) into Unix milliseconds. 0 or HOOKD_ETIMESTAMP. */
int api_time_parse(const char *text, int64_t *unix_ms);

/* Parses a page size: decimal digits only, 1 to max. 0 or HOOKD_EINVAL. */
int api_parse_limit(const char *text, long max, long *limit);

/* A store job's refusal because of who asks (the job decides it where it reads the state
 * it depends on): 403 forbidden, with the job's why as the message. */
#define API_EFORBIDDEN (-100)

/* The status and error code answering a store job that returned rc (non-zero):
 * HOOKD_ENOTFOUND 404 not_found, HOOKD_ECONFLICT 409 conflict, API_EFORBIDDEN 403
 * forbidden, HOOKD_EINVAL 400
 * invalid_parameter (a cursor the store could not read), anything else 503
 * store_unavailable. */
int api_store_error_status(int rc, const char **code);

/* Answers a failed store job (see api_store_error_status). what names the object for the
 * 404 message ("webhook"); why, when not NULL or empty, is the 409's message. */
void api_reply_store_error(http_request *req, int rc, const char *what, const char *why);

/* 503 with Retry-After: API_RETRY_AFTER_SECONDS, code and message. */
void api_reply_unavailable(http_request *req, const char *code, const char *message);

/* GET /readyz, on both sides: 200 {"status":"ready"} while the store answers and takes
 * writes (db_worker_ready), else 503 {"status":"unavailable","reason":…} with Retry-After,
 * so a load balancer stops sending requests only a 503 would answer. /healthz stays
 * liveness: 200 while the loop runs. */
void api_readyz(http_request *req, struct db_worker *worker);

/* 400 invalid_parameter with the message. */
void api_reply_invalid_parameter(http_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 404 not_found "no such route". */
void api_reply_no_route(http_request *req);

/* 405 method_not_allowed with Allow: allow ("GET", "GET, POST"). */
void api_reply_method_not_allowed(http_request *req, const char *allow);

/* True when an Authorization header value is "Bearer <token>" whose SHA-256 is digest
 * (compared in constant time). NULL is false. */
bool api_bearer_matches(const char *authorization, const unsigned char digest[32]);

#endif
