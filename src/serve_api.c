/*
 * api.c — the REST routes of `hookd serve`. Each handler checks its input (auth, JSON,
 * fields, the catalog), fills a store_request and submits it to the db_worker; the reply is
 * sent from the job's done callback, once the batch has committed. Nothing here touches the
 * disk or writes SQL.
 */
#include "serve_api.h"
#include "mem.h"

#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "serve_store.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NAME 256
#define MAX_URL 2048
#define MAX_DESCRIPTION 2048
#define MAX_EVENT_TYPES 100
#define MAX_HEADERS 32
#define MAX_HEADER_NAME 64
#define MAX_HEADER_VALUE 1024
#define MAX_IDEMPOTENCY_KEY 255
#define MAX_PAGE 100
#define DEFAULT_PAGE 50
#define STATS_EVERY_MS 1000 /* /metrics counts the store's webhooks at most this often */

struct serve_api {
    struct evhttp *http;
    db_worker *worker;
    serve_deliver *dispatch;
    metrics *registry;
    serve_api_options opt;
    size_t pending;      /* requests waiting on the store */
    bool stopping;
    metric *webhooks_by_status[4], *queue_depth, *store_queue, *events_total;
    int64_t stats_at;    /* monotonic ms of the last count of webhooks by status, 0: never */
};

static const char *const webhook_statuses[] = {"pending", "succeeded", "failed", "cancelled"};

/* What to answer when a store job ends. */
enum reply_kind {
    REPLY_JSON,       /* the result, with `status` */
    REPLY_NO_CONTENT, /* 204 */
    REPLY_EVENT,      /* result_text, 202 */
    REPLY_METRICS,    /* the registry, refreshed from the result */
};

/* One request waiting on the store. */
typedef struct pending {
    serve_api *a;
    struct evhttp_request *req;
    serve_store_request *sr;
    db_work_fn work;     /* the store function, run on sr */
    enum reply_kind kind;
    int status;          /* the success status for REPLY_JSON */
    const char *what;    /* "destination", "event", "webhook": for 404 messages */
    bool wake;           /* new work may be due: wake the dispatcher after commit */
} pending;

/* compact JSON text of v; aborts when out of memory */
static char *dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        fputs("hookd: out of memory\n", stderr);
        abort();
    }
    return s;
}

/* ---- store jobs ---- */

static void metrics_reply(serve_api *a, struct evhttp_request *req, const json_t *stats)
{
    json_t *by = json_object_get(stats, "webhooks");
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(by, webhook_statuses[i]);
        if (v)
            metric_set(a->webhooks_by_status[i], (double)json_integer_value(v));
    }
    json_t *due = json_object_get(stats, "due");
    if (due)
        metric_set(a->queue_depth, (double)json_integer_value(due));
    metric_set(a->store_queue, (double)db_worker_pending(a->worker));
    size_t len = 0;
    char *text = metrics_render(a->registry, &len);
    http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static int job_work(db *conn, void *arg)
{
    pending *p = arg;
    return p->work(conn, p->sr);
}

static void job_done(void *arg, int rc)
{
    pending *p = arg;
    serve_api *a = p->a;
    serve_store_request *sr = p->sr;
    a->pending--;
    if (p->kind == REPLY_METRICS) {
        if (rc != 0)
            log_warn("api", "metrics: cannot count webhooks: %s", hookd_strerror(rc));
        else
            a->stats_at = loop_monotonic_ms();
        metrics_reply(a, p->req, rc == 0 ? sr->result : NULL);
    } else if (rc == 0) {
        switch (p->kind) {
        case REPLY_NO_CONTENT:
            http_reply_text(p->req, 204, NULL, "", 0);
            break;
        case REPLY_EVENT:
            if (!sr->replayed)
                metric_add(a->events_total, 1);
            http_reply_text(p->req, 202, "application/json", sr->result_text,
                            strlen(sr->result_text));
            break;
        default:
            http_reply_json(p->req, p->status, sr->result);
            sr->result = NULL;
            break;
        }
        if (p->wake && !a->stopping)
            serve_deliver_wake(a->dispatch);
    } else if (rc == HOOKD_ENOTFOUND) {
        http_reply_error(p->req, 404, "not_found", "%s not found", p->what);
    } else if (rc == HOOKD_ECONFLICT) {
        http_reply_error(p->req, 409, "conflict", "%s", sr->why[0] ? sr->why : "conflict");
    } else if (rc == HOOKD_EINVAL) {
        http_reply_error(p->req, 422, "invalid_request", "invalid cursor or parameter");
    } else {
        http_reply_error(p->req, 503, "store_unavailable",
                         "the store could not complete the request; try again");
    }
    serve_store_request_free(sr);
    free(p);
}

static void submit(serve_api *a, struct evhttp_request *req, serve_store_request *sr, db_work_fn work,
                   enum reply_kind kind, int status, const char *what, bool wake)
{
    pending *p = xmalloc(sizeof *p);
    p->a = a;
    p->req = req;
    p->sr = sr;
    p->work = work;
    p->kind = kind;
    p->status = status;
    p->what = what;
    p->wake = wake;
    a->pending++;
    db_worker_submit(a->worker, job_work, job_done, p);
}

/* ---- input checks ---- */

/* Parses the body as a JSON object; answers 400 and returns NULL otherwise. */
static json_t *body_object(struct evhttp_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    json_error_t err;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        http_reply_error(req, 400, "invalid_json", "the body is not valid JSON: %s", err.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_error(req, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

static bool event_type_known(const serve_api *a, const char *type)
{
    char why[128];
    return hookd_catalog_validate(a->opt.catalog, type, "{}", 2, why, sizeof why) !=
           HOOKD_EEVENTTYPE;
}

/*
 * Checks the destination fields present in body and copies them into sr (fields set in
 * sr->fields). `create` requires name, url and events. Answers 422 and returns false on the
 * first bad field.
 */
static bool destination_fields(serve_api *a, struct evhttp_request *req, json_t *body, bool create,
                               serve_store_request *sr)
{
    json_t *v;
    v = json_object_get(body, "name");
    if (v || create) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > MAX_NAME) {
            http_reply_error(req, 422, "invalid_name",
                             "name is required: a string of 1 to %d bytes", MAX_NAME);
            return false;
        }
        sr->name = xstrdup(json_string_value(v));
        sr->fields |= SERVE_STORE_F_NAME;
    }
    v = json_object_get(body, "url");
    if (v || create) {
        char why[256] = "";
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > MAX_URL ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            http_reply_error(req, 422, "invalid_url",
                             "url is required: a string of 1 to %d bytes", MAX_URL);
            return false;
        }
        if (http_client_check_url(a->opt.url_policy, json_string_value(v), why, sizeof why) != 0) {
            http_reply_error(req, 422, "invalid_url", "url refused: %s",
                             why[0] ? why : "not an allowed URL");
            return false;
        }
        sr->url = xstrdup(json_string_value(v));
        sr->fields |= SERVE_STORE_F_URL;
    }
    v = json_object_get(body, "events");
    if (v || create) {
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > MAX_EVENT_TYPES) {
            http_reply_error(req, 422, "invalid_events",
                             "events is required: an array of 1 to %d event types",
                             MAX_EVENT_TYPES);
            return false;
        }
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            if (!json_is_string(t)) {
                http_reply_error(req, 422, "invalid_events", "events[%zu] is not a string", i);
                return false;
            }
            if (!event_type_known(a, json_string_value(t))) {
                http_reply_error(req, 422, "unknown_event_type",
                                 "events[%zu]: unknown event type (see GET /v1/event-types)",
                                 i);
                return false;
            }
        }
        sr->events_json = dump(v);
        sr->fields |= SERVE_STORE_F_EVENTS;
    }
    v = json_object_get(body, "description");
    if (v) {
        if (!json_is_null(v) &&
            (!json_is_string(v) || json_string_length(v) > MAX_DESCRIPTION)) {
            http_reply_error(req, 422, "invalid_description",
                             "description must be a string of at most %d bytes or null",
                             MAX_DESCRIPTION);
            return false;
        }
        sr->description = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
        sr->fields |= SERVE_STORE_F_DESCRIPTION;
    }
    v = json_object_get(body, "headers");
    if (v) {
        if (json_is_null(v)) {
            sr->headers_json = xstrdup("{}");
            sr->fields |= SERVE_STORE_F_HEADERS;
            return true;
        }
        if (!json_is_object(v) || json_object_size(v) > MAX_HEADERS) {
            http_reply_error(req, 422, "invalid_headers",
                             "headers must be an object of at most %d string values",
                             MAX_HEADERS);
            return false;
        }
        const char *name;
        json_t *value;
        json_object_foreach(v, name, value)
        {
            size_t nlen = strlen(name);
            bool ok = nlen > 0 && nlen <= MAX_HEADER_NAME;
            for (size_t i = 0; ok && i < nlen; i++)
                ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_';
            if (!ok || http_header_reserved(name)) {
                http_reply_error(req, 422, "invalid_headers",
                                 "header name \"%.64s\" is not allowed", ok ? name : "");
                return false;
            }
            if (!json_is_string(value) || json_string_length(value) > MAX_HEADER_VALUE ||
                strlen(json_string_value(value)) != json_string_length(value) ||
                strpbrk(json_string_value(value), "\r\n")) {
                http_reply_error(req, 422, "invalid_headers",
                                 "header %s: the value must be a string of at most %d bytes "
                                 "on one line",
                                 name, MAX_HEADER_VALUE);
                return false;
            }
        }
        sr->headers_json = dump(v);
        sr->fields |= SERVE_STORE_F_HEADERS;
    }
    return true;
}

/* A tiny scanner over JSON text that jansson has already accepted as valid. */
static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

static size_t skip_value(const char *s, size_t i, size_t len)
{
    if (i < len && s[i] == '"')
        return skip_string(s, i, len);
    if (i < len && (s[i] == '{' || s[i] == '[')) {
        int depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, len);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                depth--;
            i++;
            if (depth == 0)
                break;
        }
        return i;
    }
    while (i < len && !strchr(",}] \t\r\n", s[i]))
        i++;
    return i;
}

/*
 * Finds the raw text of the top-level member `key` of a JSON object text already known to be
 * valid, so the application's bytes are kept exactly. Returns false when not found as
 * written (e.g. the key is spelled with escapes).
 */
static bool json_member_raw(const char *s, size_t len, const char *key, const char **out,
                            size_t *out_len)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return false;
    i++;
    for (;;) {
        i = skip_ws(s, i, len);
        if (i >= len || s[i] != '"')
            return false;
        size_t kstart = i + 1;
        i = skip_string(s, i, len);
        bool match = i - 1 - kstart == klen && memcmp(s + kstart, key, klen) == 0;
        i = skip_ws(s, i, len);
        if (i >= len || s[i] != ':')
            return false;
        i = skip_ws(s, i + 1, len);
        size_t vstart = i;
        i = skip_value(s, i, len);
        if (i > len)
            return false;
        if (match) {
            *out = s + vstart;
            *out_len = i - vstart;
            return true;
        }
        i = skip_ws(s, i, len);
        if (i >= len || s[i] != ',')
            return false;
        i++;
    }
}

/* ---- handlers ---- */

static void handle_event_post(serve_api *a, struct evhttp_request *req)
{
    size_t len;
    const char *raw = http_request_body(req, &len);
    if (len > SERVE_API_MAX_EVENT_BODY) {
        http_reply_error(req, 413, "too_large", "the event body is over %d bytes",
                         SERVE_API_MAX_EVENT_BODY);
        return;
    }
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "Idempotency-Key");
    if (key && (strlen(key) == 0 || strlen(key) > MAX_IDEMPOTENCY_KEY)) {
        http_reply_error(req, 400, "invalid_idempotency_key",
                         "Idempotency-Key must be 1 to %d characters", MAX_IDEMPOTENCY_KEY);
        return;
    }
    json_t *body = body_object(req);
    if (!body)
        return;
    json_t *type = json_object_get(body, "event");
    json_t *data = json_object_get(body, "data");
    if (!json_is_string(type) || json_string_length(type) == 0) {
        http_reply_error(req, 422, "invalid_event", "event is required: a string");
        json_decref(body);
        return;
    }
    if (!json_is_object(data)) {
        http_reply_error(req, 422, "invalid_data", "data is required: a JSON object");
        json_decref(body);
        return;
    }
    const char *data_text = NULL;
    size_t data_len = 0;
    char *data_copy = NULL;
    if (!json_member_raw(raw, len, "data", &data_text, &data_len)) {
        data_copy = dump(data);
        data_text = data_copy;
        data_len = strlen(data_copy);
    }
    char why[256] = "";
    const char *event_type = json_string_value(type);
    int rc = hookd_catalog_validate(a->opt.catalog, event_type, data_text, data_len, why,
                                    sizeof why);
    if (rc != 0) {
        if (rc == HOOKD_EEVENTTYPE)
            http_reply_error(req, 422, "unknown_event_type",
                             "unknown event type \"%.100s\" (see GET /v1/event-types)",
                             event_type);
        else
            http_reply_error(req, 422, "invalid_data", "%s",
                             why[0] ? why : hookd_strerror(rc));
        free(data_copy);
        json_decref(body);
        return;
    }
    char *envelope = NULL;
    size_t envelope_len = 0;
    rc = hookd_envelope_build(event_type, data_text, data_len, 0, &envelope, &envelope_len);
    free(data_copy);
    if (rc != 0) {
        http_reply_error(req, 422, "invalid_data", "cannot build the webhook body: %s",
                         hookd_strerror(rc));
        json_decref(body);
        return;
    }
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    sr->event_type = xstrdup(event_type);
    sr->body = envelope;
    sr->body_len = envelope_len;
    sr->idempotency_key = xstrdup(key);
    json_decref(body);
    submit(a, req, sr, serve_store_w_event_insert, REPLY_EVENT, 202, "event", true);
}

static void handle_destination_create(serve_api *a, struct evhttp_request *req)
{
    json_t *body = body_object(req);
    if (!body)
        return;
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    if (!destination_fields(a, req, body, true, sr)) {
        serve_store_request_free(sr);
        json_decref(body);
        return;
    }
    json_decref(body);
    submit(a, req, sr, serve_store_w_destination_create, REPLY_JSON, 201, "destination", false);
}

static void handle_destination_patch(serve_api *a, struct evhttp_request *req, const char *id)
{
    json_t *body = body_object(req);
    if (!body)
        return;
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    sr->id = xstrdup(id);
    if (!destination_fields(a, req, body, false, sr)) {
        serve_store_request_free(sr);
        json_decref(body);
        return;
    }
    json_decref(body);
    submit(a, req, sr, serve_store_w_destination_update, REPLY_JSON, 200, "destination", false);
}

static void handle_recover(serve_api *a, struct evhttp_request *req, const char *id)
{
    json_t *body = body_object(req);
    if (!body)
        return;
    json_t *since = json_object_get(body, "since");
    int64_t since_s = 0;
    if (json_is_string(since)) {
        if (hookd_timestamp_parse(json_string_value(since), &since_s) != 0) {
            http_reply_error(req, 422, "invalid_since",
                             "since must be a time like 2024-08-22T01:04:05Z");
            json_decref(body);
            return;
        }
    } else if (json_is_integer(since)) {
        since_s = json_integer_value(since);
    } else {
        http_reply_error(req, 422, "invalid_since",
                         "since is required: a time like 2024-08-22T01:04:05Z");
        json_decref(body);
        return;
    }
    json_decref(body);
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    sr->id = xstrdup(id);
    sr->since = since_s * 1000;
    submit(a, req, sr, serve_store_w_destination_recover, REPLY_JSON, 202, "destination", true);
}

static void handle_webhook_list(serve_api *a, struct evhttp_request *req)
{
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    sr->filter_event_id = http_request_query(req, "event_id");
    sr->filter_destination_id = http_request_query(req, "destination_id");
    sr->filter_status = http_request_query(req, "status");
    sr->after = http_request_query(req, "after");
    char *limit = http_request_query(req, "limit");
    sr->limit = DEFAULT_PAGE;
    const char *bad = NULL;
    if (limit) {
        char *end = NULL;
        long v = strtol(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > MAX_PAGE)
            bad = "limit must be a number from 1 to 100";
        sr->limit = v;
        free(limit);
    }
    if (sr->filter_status) {
        bool known = false;
        for (size_t i = 0; i < 4; i++)
            known = known || strcmp(sr->filter_status, webhook_statuses[i]) == 0;
        if (!known)
            bad = "status must be pending, succeeded, failed or cancelled";
    }
    if ((sr->after && strlen(sr->after) > 128) ||
        (sr->filter_event_id && strlen(sr->filter_event_id) > 128) ||
        (sr->filter_destination_id && strlen(sr->filter_destination_id) > 128))
        bad = "a parameter is too long";
    if (sr->after && !*sr->after) {
        free(sr->after);
        sr->after = NULL;
    }
    if (bad) {
        http_reply_error(req, 422, "invalid_parameter", "%s", bad);
        serve_store_request_free(sr);
        return;
    }
    submit(a, req, sr, serve_store_w_webhook_list, REPLY_JSON, 200, "webhook", false);
}

static bool authorized(const serve_api *a, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    unsigned char digest[32];
    SHA256((const unsigned char *)token, strlen(token), digest);
    return CRYPTO_memcmp(digest, a->opt.token_digest, sizeof digest) == 0;
}

static void method_not_allowed(struct evhttp_request *req)
{
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this path");
}

/* Routes /v1/… with segs[0] == "v1". */
static void route_v1(serve_api *a, struct evhttp_request *req, enum evhttp_cmd_type m, char **segs,
                     size_t n)
{
    const char *kind = n > 1 ? segs[1] : "";
    const char *id = n > 2 ? segs[2] : NULL;
    const char *sub = n > 3 ? segs[3] : NULL;
    serve_store_request *sr;

    if (strcmp(kind, "destinations") == 0) {
        if (n == 2) {
            if (m == EVHTTP_REQ_POST)
                handle_destination_create(a, req);
            else if (m == EVHTTP_REQ_GET)
                submit(a, req, serve_store_request_new(loop_now_ms()), serve_store_w_destination_list,
                       REPLY_JSON, 200, "destination", false);
            else
                method_not_allowed(req);
            return;
        }
        if (n == 3) {
            if (m == EVHTTP_REQ_PATCH) {
                handle_destination_patch(a, req, id);
                return;
            }
            sr = serve_store_request_new(loop_now_ms());
            sr->id = xstrdup(id);
            if (m == EVHTTP_REQ_GET)
                submit(a, req, sr, serve_store_w_destination_get, REPLY_JSON, 200, "destination",
                       false);
            else if (m == EVHTTP_REQ_DELETE)
                submit(a, req, sr, serve_store_w_destination_delete, REPLY_NO_CONTENT, 204,
                       "destination", false);
            else {
                serve_store_request_free(sr);
                method_not_allowed(req);
            }
            return;
        }
        bool activate = n == 4 && strcmp(sub, "activate") == 0;
        bool deactivate = n == 4 && strcmp(sub, "deactivate") == 0;
        bool secret = n == 4 && strcmp(sub, "secret") == 0;
        bool rotate = n == 5 && strcmp(sub, "secret") == 0 && strcmp(segs[4], "rotate") == 0;
        bool recover = n == 4 && strcmp(sub, "recover") == 0;
        if (!activate && !deactivate && !secret && !rotate && !recover) {
            http_reply_error(req, 404, "not_found", "no such route");
            return;
        }
        if ((secret && m != EVHTTP_REQ_GET) || (!secret && m != EVHTTP_REQ_POST)) {
            method_not_allowed(req);
            return;
        }
        if (recover) {
            handle_recover(a, req, id);
            return;
        }
        sr = serve_store_request_new(loop_now_ms());
        sr->id = xstrdup(id);
        if (activate || deactivate) {
            sr->active = activate;
            submit(a, req, sr, serve_store_w_destination_set_active, REPLY_JSON, 200, "destination",
                   activate);
        } else if (secret) {
            submit(a, req, sr, serve_store_w_destination_secret, REPLY_JSON, 200, "destination",
                   false);
        } else {
            submit(a, req, sr, serve_store_w_destination_rotate, REPLY_JSON, 200, "destination",
                   false);
        }
        return;
    }
    if (strcmp(kind, "events") == 0 && n <= 3) {
        if (n == 2) {
            if (m == EVHTTP_REQ_POST)
                handle_event_post(a, req);
            else
                method_not_allowed(req);
            return;
        }
        if (m != EVHTTP_REQ_GET) {
            method_not_allowed(req);
            return;
        }
        sr = serve_store_request_new(loop_now_ms());
        sr->id = xstrdup(id);
        submit(a, req, sr, serve_store_w_event_get, REPLY_JSON, 200, "event", false);
        return;
    }
    if (strcmp(kind, "webhooks") == 0 && n <= 4) {
        if (n == 2) {
            if (m == EVHTTP_REQ_GET)
                handle_webhook_list(a, req);
            else
                method_not_allowed(req);
            return;
        }
        if (n == 4 && strcmp(sub, "retry") != 0) {
            http_reply_error(req, 404, "not_found", "no such route");
            return;
        }
        if ((n == 3 && m != EVHTTP_REQ_GET) || (n == 4 && m != EVHTTP_REQ_POST)) {
            method_not_allowed(req);
            return;
        }
        sr = serve_store_request_new(loop_now_ms());
        sr->id = xstrdup(id);
        if (n == 3)
            submit(a, req, sr, serve_store_w_webhook_get, REPLY_JSON, 200, "webhook", false);
        else
            submit(a, req, sr, serve_store_w_webhook_retry, REPLY_JSON, 202, "webhook", true);
        return;
    }
    if (strcmp(kind, "event-types") == 0 && n == 2) {
        if (m != EVHTTP_REQ_GET) {
            method_not_allowed(req);
            return;
        }
        char *text = hookd_catalog_to_json(a->opt.catalog);
        if (!text) {
            fputs("hookd: out of memory\n", stderr);
            abort();
        }
        http_reply_text(req, 200, "application/json", text, strlen(text));
        free(text);
        return;
    }
    http_reply_error(req, 404, "not_found", "no such route");
}

static void serve_api_handle(struct evhttp_request *req, void *arg)
{
    serve_api *a = arg;
    if (a->stopping) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        http_reply_error(req, 503, "shutting_down", "the server is shutting down");
        return;
    }
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    char *path = http_request_path(req);
    char *segs[8];
    size_t n = http_path_split(path, segs, 8);
    free(path);

    if (n == 1 && strcmp(segs[0], "healthz") == 0) {
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (n == 1 && strcmp(segs[0], "metrics") == 0) {
        /* Counting webhooks by status reads the whole table: a scrape within
         * STATS_EVERY_MS of the last count is answered with that count (the counters, the
         * histogram and the store queue are always current). */
        if (a->stats_at != 0 && loop_monotonic_ms() - a->stats_at < STATS_EVERY_MS)
            metrics_reply(a, req, NULL);
        else
            submit(a, req, serve_store_request_new(loop_now_ms()), serve_store_w_stats, REPLY_METRICS, 200,
                   "metrics", false);
    } else if (n >= 1 && strcmp(segs[0], "v1") == 0) {
        if (!authorized(a, req)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                              "Bearer");
            http_reply_error(req, 401, "unauthorized",
                             "a valid Authorization: Bearer <token> header is required");
        } else if (n > 6) {
            http_reply_error(req, 404, "not_found", "no such route");
        } else {
            route_v1(a, req, m, segs, n);
        }
    } else {
        http_reply_error(req, 404, "not_found", "no such route");
    }
    if (n > 0)
        free(segs[0]);
}

serve_api *serve_api_new(struct evhttp *http, db_worker *worker, serve_deliver *dispatch, metrics *registry,
             const serve_api_options *options)
{
    serve_api *a = xmalloc(sizeof *a);
    memset(a, 0, sizeof *a);
    a->http = http;
    a->worker = worker;
    a->dispatch = dispatch;
    a->registry = registry;
    a->opt = *options;
    for (size_t i = 0; i < 4; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "status=\"%s\"", webhook_statuses[i]);
        a->webhooks_by_status[i] = metrics_gauge(registry, "hookd_webhooks", labels,
                                                 "Webhooks in the store, by status.");
    }
    a->queue_depth = metrics_gauge(registry, "hookd_queue_depth", NULL,
                                   "Pending webhooks due now, waiting for an attempt.");
    a->store_queue = metrics_gauge(registry, "hookd_store_queue", NULL,
                                   "Jobs queued or running on the store thread.");
    a->events_total = metrics_counter(registry, "hookd_events_total", NULL,
                                      "Events accepted through the API.");
    evhttp_set_gencb(http, serve_api_handle, a);
    return a;
}

/* Collects the bound sockets so they can be removed after the walk. */
typedef struct socket_list {
    struct evhttp_bound_socket *items[16];
    size_t count;
} socket_list;

static void collect_socket(struct evhttp_bound_socket *s, void *arg)
{
    socket_list *l = arg;
    if (l->count < sizeof l->items / sizeof l->items[0])
        l->items[l->count++] = s;
}

void serve_api_stop(serve_api *a)
{
    a->stopping = true;
    socket_list l = {.count = 0};
    evhttp_foreach_bound_socket(a->http, collect_socket, &l);
    for (size_t i = 0; i < l.count; i++)
        evhttp_del_accept_socket(a->http, l.items[i]);
}

size_t serve_api_pending(const serve_api *a)
{
    return a->pending;
}

void serve_api_free(serve_api *a)
{
    free(a);
}
