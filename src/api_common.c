/*
 * api_common.c — the dialect both HTTP APIs speak (see api_common.h for the table of codes
 * and the time format): error replies, ISO 8601 times with milliseconds, page sizes.
 */
#include "api_common.h"
#include "mem.h"

#include "db.h"
#include "hookd.h"
#include "http_server.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

int api_time_format(int64_t unix_ms, char *out)
{
    if (unix_ms < 0)
        return HOOKD_EINVAL;
    char seconds[HOOKD_TIMESTAMP_LEN + 1];
    int rc = hookd_timestamp_format(unix_ms / 1000, seconds);
    if (rc != 0)
        return rc;
    /* "2024-08-22T01:04:05Z" → "2024-08-22T01:04:05.123Z" */
    snprintf(out, API_TIME_LEN + 1, "%.19s.%03dZ", seconds, (int)(unix_ms % 1000));
    return 0;
}

json_t *api_time_json(int64_t unix_ms)
{
    char text[API_TIME_LEN + 1];
    if (unix_ms < 0 || api_time_format(unix_ms, text) != 0)
        return json_null();
    return json_string(text);
}

json_t *api_record_json(const engine_record *rec)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(rec->n));
    json_object_set_new(o, "started_at", api_time_json(rec->started_at));
    json_object_set_new(o, "duration_ms", json_integer(rec->duration_ms));
    return o;
}

int api_time_parse(const char *text, int64_t *unix_ms)
{
    size_t len = text ? strlen(text) : 0;
    if (len < HOOKD_TIMESTAMP_LEN)
        return HOOKD_ETIMESTAMP;
    /* "…:SS.fffZ": 1 to 9 digits after the dot, cut to milliseconds */
    size_t digits = len > HOOKD_TIMESTAMP_LEN ? len - HOOKD_TIMESTAMP_LEN - 1 : 0;
    if (len > HOOKD_TIMESTAMP_LEN &&
        (text[19] != '.' || text[len - 1] != 'Z' || digits < 1 || digits > 9))
        return HOOKD_ETIMESTAMP;
    int64_t fraction_ms = 0;
    for (size_t i = 0; i < 3; i++) {
        if (i < digits && !isdigit((unsigned char)text[20 + i]))
            return HOOKD_ETIMESTAMP;
        fraction_ms = fraction_ms * 10 + (i < digits ? text[20 + i] - '0' : 0);
    }
    for (size_t i = 3; i < digits; i++)
        if (!isdigit((unsigned char)text[20 + i]))
            return HOOKD_ETIMESTAMP;
    char seconds[HOOKD_TIMESTAMP_LEN + 1];
    memcpy(seconds, text, 19); /* "YYYY-MM-DDTHH:MM:SS", then the Z the core wants */
    memcpy(seconds + 19, "Z", 2);
    int64_t unix_seconds = 0;
    if ((len == HOOKD_TIMESTAMP_LEN && text[19] != 'Z') ||
        hookd_timestamp_parse(seconds, &unix_seconds) != 0)
        return HOOKD_ETIMESTAMP;
    *unix_ms = unix_seconds * 1000 + fraction_ms;
    return 0;
}

int api_parse_limit(const char *text, long max, long *limit)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > 9)
        return HOOKD_EINVAL;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return HOOKD_EINVAL;
        v = v * 10 + (text[i] - '0');
    }
    if (v < 1 || v > max)
        return HOOKD_EINVAL;
    *limit = v;
    return 0;
}

int api_store_error_status(int rc, const char **code)
{
    switch (rc) {
    case HOOKD_ENOTFOUND:
        *code = "not_found";
        return 404;
    case HOOKD_ECONFLICT:
        *code = "conflict";
        return 409;
    case HOOKD_EINVAL:
        *code = "invalid_parameter";
        return 400;
    case API_EFORBIDDEN:
        *code = "forbidden";
        return 403;
    default:
        *code = "store_unavailable";
        return 503;
    }
}

void api_reply_store_error(http_request *req, int rc, const char *what, const char *why)
{
    const char *code = NULL;
    int status = api_store_error_status(rc, &code);
    switch (status) {
    case 404:
        http_reply_error(req, status, code, "%s not found", what);
        break;
    case 409:
    case 403:
        http_reply_error(req, status, code, "%s", why && *why ? why : code);
        break;
    case 400:
        http_reply_error(req, status, code, "invalid cursor or parameter");
        break;
    default:
        api_reply_unavailable(req, code, "the store could not complete the request; try again");
        break;
    }
}

void api_reply_unavailable(http_request *req, const char *code, const char *message)
{
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", API_RETRY_AFTER_SECONDS);
    http_request_add_header(req, "Retry-After", seconds);
    http_reply_error(req, 503, code, "%s", message);
}

static void api_readyz_answer(void *arg, bool ready, const char *reason)
{
    http_request *req = arg;
    if (ready) {
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", API_RETRY_AFTER_SECONDS);
    http_request_add_header(req, "Retry-After", seconds);
    http_reply_json(req, 503,
                    json_pack("{s:s, s:s}", "status", "unavailable", "reason",
                              reason && *reason ? reason : "the store is unavailable"));
}

void api_readyz(http_request *req, struct db_worker *worker)
{
    db_worker_ready(worker, api_readyz_answer, req);
}

void api_reply_invalid_parameter(http_request *req, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    http_reply_error(req, 400, "invalid_parameter", "%s", message);
}

void api_reply_no_route(http_request *req)
{
    http_reply_error(req, 404, "not_found", "no such route");
}

void api_reply_method_not_allowed(http_request *req, const char *allow)
{
    http_request_add_header(req, "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "use %s on this path", allow);
}

bool api_bearer_matches(const char *authorization, const unsigned char digest[32])
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    unsigned char got[32];
    SHA256((const unsigned char *)token, strlen(token), got);
    return CRYPTO_memcmp(got, digest, sizeof got) == 0;
}
