/*
 * serve_api.c — the REST routes of `hookd serve` (see serve_api.h). A route table maps
 * method and path to an action; each action checks its input (auth, JSON, fields, the
 * catalog), fills a serve_store_request and submits it to the db_worker; the reply is built
 * from the request's plain structs (serve_api_json.c) in the job's done callback, once the
 * batch has committed. Errors, times and store failures follow the one dialect of
 * api_common.h, shared with the receiver's admin API. Nothing here touches the disk or
 * writes SQL.
 */
#include "serve_api.h"
#include "mem.h"

#include "api_common.h"
#include "http_server.h"
#include "json_raw.h"
#include "log.h"
#include "loop.h"
#include "openapi.h"
#include "serve_access.h"
#include "serve_api_json.h"
#include "serve_ops.h"
#include "serve_panel.h"
#include "serve_store.h"

#include <ctype.h>
#include <stdarg.h>
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
#define MAX_FILTER 128         /* bytes of an id filter or cursor in a query */
#define STATS_EVERY_MS 1000    /* /metrics counts the store's webhooks at most this often */
#define ACCOUNT_SERIES_MAX 100 /* accounts with their own /metrics series; the rest: "other" */

/* One account's series in /metrics. */
typedef struct account_series {
    char account[72];
    metric *by_status[SERVE_STORE_STATUS_COUNT];
    metric *attempts;
} account_series;

struct serve_api {
    http_server *http;
    db_worker *worker;
    serve_deliver *dispatch;
    metrics *registry;
    serve_api_options opt;
    size_t pending; /* requests waiting on the store */
    bool stopping;
    metric *webhooks_by_status[SERVE_STORE_STATUS_COUNT], *queue_depth, *store_queue, *events_total;
    int64_t stats_at; /* monotonic ms of the last count of webhooks by status, 0: never */
    /* per-account series: the first ACCOUNT_SERIES_MAX accounts seen, then one "other"
     * (at index ACCOUNT_SERIES_MAX) summing the rest, so the label count stays bounded */
    account_series accounts[ACCOUNT_SERIES_MAX + 1];
    size_t account_count;
    serve_panel *panel; /* the admin panel under /admin (serve_panel.h) */
};

typedef struct action action;

/* Who makes a call: the key found for its Authorization header (SPEC §6). */
typedef struct caller {
    const char *account;  /* the account the call acts in (the key's, or X-Account-Id) */
    unsigned permissions; /* serve_permission bits the key holds */
    bool every_account;   /* the key is not bound to one account */
} caller;

/* Starts an action on the request; id is the path's {id} or NULL. */
typedef void (*action_fn)(serve_api *a, http_request *req, const char *id, const action *act,
                          const caller *who);

/* What one route does: its handler, and for a store job its work and its answer. */
struct action {
    action_fn handle;
    db_work_fn work;                                 /* the store job */
    json_t *(*render)(const serve_store_request *r); /* the answer, NULL: 204 No Content */
    int status;                                      /* the success status */
    const char *what;                                /* the object, for 404 messages */
    bool wake;   /* new work may be due: wake the deliveries after commit */
    bool active; /* destination_set_active: the new state */
};

/* How a store job's success is answered. */
enum reply_kind {
    REPLY_RENDER,  /* act->render (or 204) with act->status */
    REPLY_EVENT,   /* the event answer text, 202 */
    REPLY_METRICS, /* the registry, refreshed from the counts */
    REPLY_AUTH,    /* the key looked up: route the request (route_v1) */
};

/* One request waiting on the store. */
typedef struct pending {
    serve_api *a;
    http_request *req;
    serve_store_request *sr;
    db_work_fn work;
    enum reply_kind kind;
    const action *act; /* REPLY_RENDER, REPLY_EVENT: the route's action */
    bool no_key;       /* REPLY_AUTH: the key was not found (the job itself succeeded) */
} pending;

static void authorized_route(serve_api *a, http_request *req, int rc,
                             const serve_store_request *sr);

/* ---- store jobs ---- */

/* The series of account, registered on first sight; past the cap (and for an account
 * named "other", whose label would collide) the "other" series. */
static account_series *account_series_of(serve_api *a, const char *account)
{
    for (size_t i = 0; i < a->account_count; i++)
        if (strcmp(a->accounts[i].account, account) == 0)
            return &a->accounts[i];
    bool own = a->account_count < ACCOUNT_SERIES_MAX && strcmp(account, "other") != 0;
    account_series *s = &a->accounts[own ? a->account_count++ : ACCOUNT_SERIES_MAX];
    if (s->attempts)
        return s;
    snprintf(s->account, sizeof s->account, "%s", own ? account : "other");
    char labels[128];
    for (size_t i = 0; i < SERVE_STORE_STATUS_COUNT; i++) {
        snprintf(labels, sizeof labels, "account=\"%.64s\",status=\"%s\"", s->account,
                 serve_store_statuses[i]);
        s->by_status[i] = metrics_gauge(a->registry, "hookd_account_webhooks", labels,
                                        "Webhooks in the store, by account and status.");
    }
    snprintf(labels, sizeof labels, "account=\"%.64s\"", s->account);
    s->attempts = metrics_gauge(a->registry, "hookd_account_attempts", labels,
                                "Attempts made for the account's webhooks in the store.");
    return s;
}

/* Sets the per-account series from the store's count. */
static void account_metrics_set(serve_api *a, const serve_store_request *sr)
{
    for (size_t i = 0; i <= ACCOUNT_SERIES_MAX; i++) {
        for (size_t k = 0; k < SERVE_STORE_STATUS_COUNT; k++)
            metric_set(a->accounts[i].by_status[k], 0);
        metric_set(a->accounts[i].attempts, 0);
    }
    for (size_t i = 0; i < sr->account_stats_count; i++) {
        const serve_store_account_stats *st = &sr->account_stats[i];
        account_series *s = account_series_of(a, st->account);
        for (size_t k = 0; k < SERVE_STORE_STATUS_COUNT; k++)
            metric_add(s->by_status[k], (double)st->by_status[k]);
        metric_add(s->attempts, (double)st->attempts);
    }
}

static void metrics_reply(serve_api *a, http_request *req, const serve_store_request *sr)
{
    if (sr)
        account_metrics_set(a, sr);
    for (size_t i = 0; sr && i < SERVE_STORE_STATUS_COUNT; i++)
        metric_set(a->webhooks_by_status[i], (double)sr->by_status[i]);
    if (sr)
        metric_set(a->queue_depth, (double)sr->due);
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

/* job_work for a job that may run twice (DB_JOB_RERUNNABLE, db.h): an event post or a key
 * lookup, whose work writes nothing but the request's outputs and rows, starts from none. An
 * unknown key is the lookup's answer, not its failure: no statement failed and nothing was
 * written, so it does not make its batch run again (db_worker.c) — or a client sending
 * wrong keys would. */
static int job_work_again(db *conn, void *arg)
{
    pending *p = arg;
    serve_store_request_reset(p->sr);
    int rc = p->work(conn, p->sr);
    p->no_key = p->kind == REPLY_AUTH && rc == HOOKD_ENOTFOUND;
    return p->no_key ? 0 : rc;
}

/* Answers a job that succeeded. */
static void job_reply(pending *p)
{
    serve_api *a = p->a;
    serve_store_request *sr = p->sr;
    if (p->kind == REPLY_EVENT) {
        if (!sr->replayed)
            metric_add(a->events_total, 1);
        http_reply_text(p->req, 202, "application/json", sr->result_text, strlen(sr->result_text));
    } else if (!p->act->render) {
        http_reply_text(p->req, 204, NULL, "", 0);
    } else {
        http_reply_json(p->req, p->act->status, p->act->render(sr));
    }
    if (p->act->wake && !a->stopping)
        serve_deliver_wake(a->dispatch);
}

static void job_done(void *arg, int rc)
{
    pending *p = arg;
    serve_api *a = p->a;
    a->pending--;
    if (p->kind == REPLY_AUTH) {
        if (a->stopping)
            api_reply_unavailable(p->req, "shutting_down", "the server is shutting down");
        else
            authorized_route(a, p->req, p->no_key ? HOOKD_ENOTFOUND : rc, p->sr);
    } else if (p->kind == REPLY_METRICS) {
        if (rc != 0)
            log_warn("api", "metrics: cannot count webhooks: %s", hookd_strerror(rc));
        else
            a->stats_at = loop_monotonic_ms();
        metrics_reply(a, p->req, rc == 0 ? p->sr : NULL);
    } else if (rc == 0) {
        job_reply(p);
    } else {
        api_reply_store_error(p->req, rc, p->act->what, p->sr->why);
    }
    serve_store_request_free(p->sr);
    free(p);
}

static void submit(serve_api *a, http_request *req, serve_store_request *sr, db_work_fn work,
                   enum reply_kind kind, const action *act)
{
    pending *p = xcalloc(1, sizeof *p);
    p->a = a;
    p->req = req;
    p->sr = sr;
    p->work = work;
    p->kind = kind;
    p->act = act;
    a->pending++;
    /* Event posts and key lookups rely on no job before them that has not answered yet: any
     * store connection takes them (db_worker_spread), those sharing an Idempotency-Key one and
     * the same, in order (a second one replays the first's answer). Every other job stays on
     * the pool's first lane, in order with the deliveries' bookkeeping: a webhook read after
     * its destination answered shows the outcome, as with one connection. */
    db_worker *w = a->worker;
    if (kind == REPLY_EVENT && sr->idempotency_key)
        w = db_worker_lane_key(a->worker, sr->idempotency_key);
    else if (kind == REPLY_EVENT || kind == REPLY_AUTH)
        w = db_worker_spread(a->worker);
    if (kind == REPLY_EVENT || kind == REPLY_AUTH)
        db_worker_submit_flags(w, DB_JOB_RERUNNABLE, job_work_again, job_done, p);
    else
        db_worker_submit(w, job_work, job_done, p);
}

/* The action's store job on a request naming id (NULL for none). */
static void submit_action(serve_api *a, http_request *req, serve_store_request *sr, const char *id,
                          const action *act)
{
    if (id)
        sr->id = xstrdup(id);
    sr->active = act->active;
    submit(a, req, sr, act->work, REPLY_RENDER, act);
}

/* A store request acting in the caller's account. */
static serve_store_request *request_new(const caller *who)
{
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    free(sr->account);
    sr->account = xstrdup(who->account);
    sr->scoped = !who->every_account;
    sr->caller_perms = who->permissions;
    return sr;
}

/* The action for routes that need no input but the path's id. */
static void handle_plain(serve_api *a, http_request *req, const char *id, const action *act,
                         const caller *who)
{
    submit_action(a, req, request_new(who), id, act);
}

/* ---- input checks ---- */

/* Parses the body as a JSON object; answers 400 and returns NULL otherwise. */
static json_t *body_object(http_request *req)
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

/* Fills *pb: the field checks below are shared with the admin panel, which shows the
 * message next to the field instead of answering JSON. */
static void problem(serve_api_problem *pb, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(serve_api_problem *pb, int status, const char *code, const char *fmt, ...)
{
    pb->status = status;
    snprintf(pb->code, sizeof pb->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pb->message, sizeof pb->message, fmt, ap);
    va_end(ap);
}

/* A type a destination may subscribe to: the catalog's, or an operational one. */
static bool event_type_known(const serve_api_options *opt, const char *type)
{
    char why[128];
    return serve_ops_type(type) ||
           hookd_catalog_validate(opt->catalog, type, "{}", 2, why, sizeof why) != HOOKD_EEVENTTYPE;
}

/* A JSON string of 1 to max bytes without NUL. */
static bool short_string(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/*
 * Each field check below looks at one member v of a destination body (NULL when absent),
 * copies it into sr when valid (marking sr->fields), and fills *pb (a 422) and returns
 * false otherwise. `required` is set on create.
 */
static bool field_name(serve_api_problem *pb, const json_t *v, bool required,
                       serve_store_request *sr)
{
    if (!v && !required)
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > MAX_NAME) {
        problem(pb, 422, "invalid_name", "name is required: a string of 1 to %d bytes", MAX_NAME);
        return false;
    }
    sr->name = xstrdup(json_string_value(v));
    sr->fields |= SERVE_STORE_F_NAME;
    return true;
}

static bool field_url(const serve_api_options *opt, serve_api_problem *pb, const json_t *v,
                      bool required, serve_store_request *sr)
{
    if (!v && !required)
        return true;
    if (!short_string(v, MAX_URL)) {
        problem(pb, 422, "invalid_url", "url is required: a string of 1 to %d bytes", MAX_URL);
        return false;
    }
    /* userinfo (https://user:pass@host/) would be stored and shown back by GET: refused,
     * credentials go in a configured header */
    const char *url = json_string_value(v);
    const char *authority = strstr(url, "://");
    authority = authority ? authority + 3 : url;
    size_t alen = strcspn(authority, "/?#");
    if (memchr(authority, '@', alen)) {
        problem(pb, 422, "invalid_url",
                "url refused: credentials in the URL (user@host); use a header");
        return false;
    }
    char why[256] = "";
    if (http_client_check_url(opt->url_policy, url, why, sizeof why) != 0) {
        problem(pb, 422, "invalid_url", "url refused: %s", why[0] ? why : "not an allowed URL");
        return false;
    }
    sr->url = xstrdup(json_string_value(v));
    sr->fields |= SERVE_STORE_F_URL;
    return true;
}

static bool field_events(const serve_api_options *opt, serve_api_problem *pb, const json_t *v,
                         bool required, serve_store_request *sr)
{
    if (!v && !required)
        return true;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_EVENT_TYPES) {
        problem(pb, 422, "invalid_events", "events is required: an array of 1 to %d event types",
                MAX_EVENT_TYPES);
        return false;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *t = json_array_get(v, i);
        if (!json_is_string(t)) {
            problem(pb, 422, "invalid_events", "events[%zu] is not a string", i);
            return false;
        }
        if (!event_type_known(opt, json_string_value(t))) {
            problem(pb, 422, "unknown_event_type",
                    "events[%zu]: unknown event type (see GET /v1/event-types)", i);
            return false;
        }
    }
    sr->events_json = http_json_text(v);
    sr->fields |= SERVE_STORE_F_EVENTS;
    return true;
}

static bool field_description(serve_api_problem *pb, const json_t *v, serve_store_request *sr)
{
    if (!v)
        return true;
    if (!json_is_null(v) && (!json_is_string(v) || json_string_length(v) > MAX_DESCRIPTION)) {
        problem(pb, 422, "invalid_description",
                "description must be a string of at most %d bytes or null", MAX_DESCRIPTION);
        return false;
    }
    sr->description = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
    sr->fields |= SERVE_STORE_F_DESCRIPTION;
    return true;
}

/* True when value has no control byte but tab (CR, LF, NUL, ESC, DEL…). */
static bool header_value_plain(const char *value)
{
    for (const unsigned char *c = (const unsigned char *)value; *c; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return false;
    return true;
}

/* One custom header: a plain token name that hookd does not set itself, and a short value
 * on one line. Answers 422 otherwise. */
static bool header_ok(serve_api_problem *pb, const char *name, const json_t *value)
{
    size_t nlen = strlen(name);
    bool ok = nlen > 0 && nlen <= MAX_HEADER_NAME;
    /* '_' is refused too: a proxy or a framework that reads X_Webhook_Signature as
     * X-Webhook-Signature would let a configured header pass for the protocol's. */
    for (size_t i = 0; ok && i < nlen; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-';
    if (!ok || http_header_reserved(name)) {
        problem(pb, 422, "invalid_headers", "header name \"%.64s\" is not allowed", ok ? name : "");
        return false;
    }
    if (!json_is_string(value) || json_string_length(value) > MAX_HEADER_VALUE ||
        strlen(json_string_value(value)) != json_string_length(value) ||
        !header_value_plain(json_string_value(value))) {
        problem(pb, 422, "invalid_headers",
                "header %s: the value must be a string of at most %d bytes on one line", name,
                MAX_HEADER_VALUE);
        return false;
    }
    return true;
}

static bool field_headers(serve_api_problem *pb, json_t *v, serve_store_request *sr)
{
    if (!v)
        return true;
    if (json_is_null(v)) {
        sr->headers_json = xstrdup("{}");
        sr->fields |= SERVE_STORE_F_HEADERS;
        return true;
    }
    if (!json_is_object(v) || json_object_size(v) > MAX_HEADERS) {
        problem(pb, 422, "invalid_headers", "headers must be an object of at most %d string values",
                MAX_HEADERS);
        return false;
    }
    const char *name;
    json_t *value;
    json_object_foreach(v, name, value)
    {
        if (!header_ok(pb, name, value))
            return false;
    }
    sr->headers_json = http_json_text(v);
    sr->fields |= SERVE_STORE_F_HEADERS;
    return true;
}

/* The wire format (SPEC §8); absent keeps it (create: meetbit). Answers 422 otherwise. */
static bool field_format(serve_api_problem *pb, const json_t *v, serve_store_request *sr)
{
    if (!v)
        return true;
    if (!serve_format_valid(json_string_value(v))) {
        problem(pb, 422, "invalid_format", "format must be \"%s\" or \"%s\"", SERVE_FORMAT_MEETBIT,
                SERVE_FORMAT_STANDARD);
        return false;
    }
    sr->format = xstrdup(json_string_value(v));
    sr->fields |= SERVE_STORE_F_FORMAT;
    return true;
}

bool serve_api_destination_fields(const serve_api_options *opt, json_t *body, bool create,
                                  serve_store_request *sr, serve_api_problem *pb)
{
    return field_name(pb, json_object_get(body, "name"), create, sr) &&
           field_url(opt, pb, json_object_get(body, "url"), create, sr) &&
           field_events(opt, pb, json_object_get(body, "events"), create, sr) &&
           field_description(pb, json_object_get(body, "description"), sr) &&
           field_headers(pb, json_object_get(body, "headers"), sr) &&
           field_format(pb, json_object_get(body, "format"), sr);
}

/* The shared check above, answering 422 on the first bad field. */
static bool destination_fields(serve_api *a, http_request *req, json_t *body, bool create,
                               serve_store_request *sr)
{
    serve_api_problem pb;
    if (serve_api_destination_fields(&a->opt, body, create, sr, &pb))
        return true;
    http_reply_error(req, pb.status, pb.code, "%s", pb.message);
    return false;
}

/* ---- events ---- */

/* Store thread: the event, its webhooks and the answer remembered under its
 * Idempotency-Key, in one job so they commit together; the answer is built here, by the API,
 * from what the store inserted. */
static int event_work(db *conn, void *arg)
{
    serve_store_request *sr = arg;
    int rc = serve_store_event_replay(conn, sr);
    if (rc != 0 || sr->replayed)
        return rc;
    rc = serve_store_event_insert(conn, sr);
    if (rc != 0)
        return rc;
    sr->result_text = serve_api_event_answer_text(sr);
    return serve_store_event_remember(conn, sr);
}

/* The body's size and the Idempotency-Key header; answers 413 / 400 and returns false when
 * either is refused. *key: the header or NULL. */
static bool event_request_ok(http_request *req, size_t len, const char **key)
{
    if (len > SERVE_API_MAX_EVENT_BODY) {
        http_reply_error(req, 413, "too_large", "the event body is over %d bytes",
                         SERVE_API_MAX_EVENT_BODY);
        return false;
    }
    *key = http_request_header(req, "Idempotency-Key");
    if (*key && (strlen(*key) == 0 || strlen(*key) > MAX_IDEMPOTENCY_KEY)) {
        http_reply_error(req, 400, "invalid_idempotency_key",
                         "Idempotency-Key must be 1 to %d characters", MAX_IDEMPOTENCY_KEY);
        return false;
    }
    return true;
}

/* Checks the event body (raw, len bytes, parsed as body) against the catalog and builds its
 * envelope from data's exact bytes into sr. Answers 422 and returns false otherwise. */
static bool event_envelope(serve_api *a, http_request *req, const char *raw, size_t len,
                           json_t *body, serve_store_request *sr)
{
    json_t *type = json_object_get(body, "event");
    json_t *data = json_object_get(body, "data");
    if (!json_is_string(type) || json_string_length(type) == 0) {
        http_reply_error(req, 422, "invalid_event", "event is required: a string");
        return false;
    }
    if (!json_is_object(data)) {
        http_reply_error(req, 422, "invalid_data", "data is required: a JSON object");
        return false;
    }
    /* data's own bytes (SPEC §1); re-encoded only when its name was written with escapes */
    const char *data_text = NULL;
    size_t data_len = 0;
    char *data_copy = NULL;
    if (!json_raw_member(raw, len, "data", &data_text, &data_len)) {
        data_copy = http_json_text(data);
        data_text = data_copy;
        data_len = strlen(data_copy);
    }
    char why[256] = "";
    const char *event_type = json_string_value(type);
    /* operational types are hookd's own: an application cannot forge one (serve_ops.h) */
    int rc = serve_ops_type(event_type)
                 ? HOOKD_EEVENTTYPE
                 : hookd_catalog_validate(a->opt.catalog, event_type, data_text, data_len, why,
                                          sizeof why);
    if (rc == HOOKD_EEVENTTYPE)
        http_reply_error(req, 422, "unknown_event_type",
                         "unknown event type \"%.100s\" (see GET /v1/event-types)", event_type);
    else if (rc != 0)
        http_reply_error(req, 422, "invalid_data", "%s", why[0] ? why : hookd_strerror(rc));
    if (rc == 0) {
        rc = hookd_envelope_build(event_type, data_text, data_len, 0, &sr->body, &sr->body_len);
        if (rc != 0)
            http_reply_error(req, 422, "invalid_data", "cannot build the webhook body: %s",
                             hookd_strerror(rc));
    }
    free(data_copy);
    if (rc == 0)
        sr->event_type = xstrdup(event_type);
    return rc == 0;
}

/* The Idempotency-Key as stored: an account's keys never meet another's. The default
 * account's are stored bare, as before accounts existed, so keys remembered before the
 * upgrade still answer; any other is prefixed "<account>:" (':' is never in an id). */
static char *idempotency_key(const caller *who, const char *key)
{
    if (!key || strcmp(who->account, "default") == 0)
        return xstrdup(key);
    size_t len = strlen(who->account) + 1 + strlen(key) + 1;
    char *stored = xmalloc(len);
    snprintf(stored, len, "%s:%s", who->account, key);
    return stored;
}

static void handle_event_post(serve_api *a, http_request *req, const char *id, const action *act,
                              const caller *who)
{
    (void)id;
    size_t len;
    const char *raw = http_request_body(req, &len);
    const char *key = NULL;
    if (!event_request_ok(req, len, &key))
        return;
    json_t *body = body_object(req);
    if (!body)
        return;
    serve_store_request *sr = request_new(who);
    bool ok = event_envelope(a, req, raw, len, body, sr);
    json_decref(body);
    if (!ok) {
        serve_store_request_free(sr);
        return;
    }
    sr->idempotency_key = idempotency_key(who, key);
    submit(a, req, sr, event_work, REPLY_EVENT, act);
}

/* ---- destinations and webhooks ---- */

/* create (no id) or PATCH (id): the body's destination fields, then the store job. */
static void handle_destination_write(serve_api *a, http_request *req, const char *id,
                                     const action *act, const caller *who)
{
    json_t *body = body_object(req);
    if (!body)
        return;
    serve_store_request *sr = request_new(who);
    bool ok = destination_fields(a, req, body, id == NULL, sr);
    json_decref(body);
    if (!ok) {
        serve_store_request_free(sr);
        return;
    }
    submit_action(a, req, sr, id, act);
}

/* POST …/secret/rotate: an optional body {"grace": "24h"} (a duration as on the command
 * line, at most SERVE_SECRET_MAX_GRACE_MS); no body, or no grace, replaces at once. */
static void handle_rotate(serve_api *a, http_request *req, const char *id, const action *act,
                          const caller *who)
{
    size_t len = 0;
    (void)http_request_body(req, &len);
    int64_t grace_ms = 0;
    if (len > 0) {
        json_t *body = body_object(req);
        if (!body)
            return;
        json_t *grace = json_object_get(body, "grace");
        bool ok = !grace || json_is_null(grace) ||
                  (json_is_string(grace) &&
                   hookd_duration_parse(json_string_value(grace), &grace_ms) == 0 &&
                   grace_ms <= SERVE_SECRET_MAX_GRACE_MS);
        json_decref(body);
        if (!ok) {
            http_reply_error(req, 422, "invalid_grace",
                             "grace must be a duration like \"24h\" (ms, s, m, h, d), at most 7d");
            return;
        }
    }
    serve_store_request *sr = request_new(who);
    sr->grace_ms = grace_ms;
    submit_action(a, req, sr, id, act);
}

/* A recover bound, "since" or "until": an ISO 8601 time or Unix seconds → *ms; answers 422
 * invalid_NAME otherwise. */
static bool recover_time(http_request *req, const char *name, const json_t *value, int64_t *ms)
{
    if (json_is_string(value) && api_time_parse(json_string_value(value), ms) == 0)
        return true;
    /* bounded before the multiplication: 9223372036854776 s would wrap to a negative time */
    if (json_is_integer(value) && json_integer_value(value) >= 0 &&
        json_integer_value(value) <= INT64_MAX / 1000) {
        *ms = json_integer_value(value) * 1000;
        return true;
    }
    http_reply_error(req, 422, strcmp(name, "since") == 0 ? "invalid_since" : "invalid_until",
                     "%s%s: a time like 2024-08-22T01:04:05Z or Unix seconds", name,
                     strcmp(name, "since") == 0 ? " is required" : " (optional) must be");
    return false;
}

/* {"since": T[, "until": T]}: the failed webhooks created at or after since and before until. */
static void handle_recover(serve_api *a, http_request *req, const char *id, const action *act,
                           const caller *who)
{
    json_t *body = body_object(req);
    if (!body)
        return;
    int64_t since = 0, until = INT64_MAX;
    const json_t *until_value = json_object_get(body, "until");
    bool ok = recover_time(req, "since", json_object_get(body, "since"), &since) &&
              (!until_value || recover_time(req, "until", until_value, &until));
    json_decref(body);
    if (ok && until <= since) {
        http_reply_error(req, 422, "invalid_until", "until must be later than since");
        ok = false;
    }
    if (!ok)
        return;
    serve_store_request *sr = request_new(who);
    sr->since = since;
    sr->until = until;
    submit_action(a, req, sr, id, act);
}

/* Reads the list's query into sr; returns why it is refused, or NULL. */
static const char *webhook_list_query(http_request *req, serve_store_request *sr)
{
    sr->filter_event_id = http_request_query(req, "event_id");
    sr->filter_destination_id = http_request_query(req, "destination_id");
    sr->filter_status = http_request_query(req, "status");
    sr->after = http_request_query(req, "after");
    char *limit_text = http_request_query(req, "limit");
    long limit = DEFAULT_PAGE;
    int rc = limit_text ? api_parse_limit(limit_text, MAX_PAGE, &limit) : 0;
    free(limit_text);
    sr->limit = limit;
    if (rc != 0)
        return "limit must be a number from 1 to 100";
    if (sr->filter_status) {
        bool known = false;
        for (size_t i = 0; i < SERVE_STORE_STATUS_COUNT; i++)
            known = known || strcmp(sr->filter_status, serve_store_statuses[i]) == 0;
        if (!known)
            return "status must be pending, succeeded, failed or cancelled";
    }
    if ((sr->after && strlen(sr->after) > MAX_FILTER) ||
        (sr->filter_event_id && strlen(sr->filter_event_id) > MAX_FILTER) ||
        (sr->filter_destination_id && strlen(sr->filter_destination_id) > MAX_FILTER))
        return "a parameter is too long";
    if (sr->after && !*sr->after) {
        free(sr->after);
        sr->after = NULL;
    }
    return NULL;
}

static void handle_webhook_list(serve_api *a, http_request *req, const char *id, const action *act,
                                const caller *who)
{
    serve_store_request *sr = request_new(who);
    const char *bad = webhook_list_query(req, sr);
    if (bad) {
        api_reply_invalid_parameter(req, "%s", bad);
        serve_store_request_free(sr);
        return;
    }
    submit_action(a, req, sr, id, act);
}

static void handle_event_types(serve_api *a, http_request *req, const char *id, const action *act,
                               const caller *who)
{
    (void)id;
    (void)act;
    (void)who;
    char *text = hookd_catalog_to_json(a->opt.catalog);
    if (!text) {
        http_reply_error(req, 500, "internal_error", "cannot render the event types");
        return;
    }
    http_reply_text(req, 200, "application/json", text, strlen(text));
    free(text);
}

/* ---- accounts and access keys (SPEC §6) ---- */

/* POST /v1/accounts {id, name}: only a key for every account creates accounts. */
static void handle_account_create(serve_api *a, http_request *req, const char *id,
                                  const action *act, const caller *who)
{
    (void)id;
    if (!who->every_account) {
        http_reply_error(req, 403, "forbidden",
                         "a key bound to one account cannot create accounts");
        return;
    }
    json_t *body = body_object(req);
    if (!body)
        return;
    const json_t *account_id = json_object_get(body, "id");
    const json_t *name = json_object_get(body, "name");
    bool ok = json_is_string(account_id) && serve_account_id_valid(json_string_value(account_id));
    if (!ok)
        http_reply_error(req, 422, "invalid_id", "id is required: 1 to 64 of a-z 0-9 _ -");
    else if (!(ok = short_string(name, MAX_NAME)))
        http_reply_error(req, 422, "invalid_name", "name is required: a string of 1 to %d bytes",
                         MAX_NAME);
    serve_store_request *sr = ok ? request_new(who) : NULL;
    if (sr) {
        sr->id = xstrdup(json_string_value(account_id));
        sr->name = xstrdup(json_string_value(name));
    }
    json_decref(body);
    if (sr)
        submit_action(a, req, sr, NULL, act);
}

/* The new key's account from the body's member v (absent: the caller's own binding);
 * answers 422 or 403 and returns false when refused. *account: NULL for every account. */
static bool key_account(http_request *req, const json_t *v, const caller *who, const char **account)
{
    *account = !v ? (who->every_account ? NULL : who->account)
                  : (json_is_string(v) ? json_string_value(v) : NULL);
    if (v && !json_is_null(v) && !(json_is_string(v) && serve_account_id_valid(*account))) {
        http_reply_error(req, 422, "invalid_account",
                         "account must be an account id, or null for every account");
        return false;
    }
    if (!who->every_account && (!*account || strcmp(*account, who->account) != 0)) {
        http_reply_error(req, 403, "forbidden", "this key cannot grant access to %s",
                         *account ? "another account" : "every account");
        return false;
    }
    return true;
}

/* The new key's permissions from v; answers 422, or 403 naming the first permission the
 * caller does not hold itself, and returns false when refused. */
static bool key_permissions(http_request *req, const json_t *v, const caller *who)
{
    unsigned mask = 0;
    size_t bad = 0;
    if (!serve_permissions_parse(v, &mask, &bad) || json_array_size(v) == 0) {
        http_reply_error(req, 422, "invalid_permissions",
                         "permissions must be a non-empty array of permission names%s",
                         json_array_size(v) ? " (an unknown one at the index given)" : "");
        (void)bad;
        return false;
    }
    for (unsigned bit = SERVE_PERM_STAR; bit != 0; bit >>= 1) { /* "*" first: it is all */
        if ((mask & bit) && !serve_permissions_hold(who->permissions, bit)) {
            http_reply_error(req, 403, "forbidden",
                             "cannot grant permission %s: this key does not hold it",
                             serve_permission_name(bit));
            return false;
        }
    }
    return true;
}

/* POST /v1/access-keys {name, account, permissions}: a key grants at most what it holds. */
static void handle_key_create(serve_api *a, http_request *req, const char *id, const action *act,
                              const caller *who)
{
    (void)id;
    json_t *body = body_object(req);
    if (!body)
        return;
    const json_t *name = json_object_get(body, "name");
    const json_t *permissions = json_object_get(body, "permissions");
    const char *account = NULL;
    bool ok = short_string(name, MAX_NAME);
    if (!ok)
        http_reply_error(req, 422, "invalid_name", "name is required: a string of 1 to %d bytes",
                         MAX_NAME);
    ok = ok && key_account(req, json_object_get(body, "account"), who, &account) &&
         key_permissions(req, permissions, who);
    serve_store_request *sr = ok ? request_new(who) : NULL;
    if (sr) {
        sr->name = xstrdup(json_string_value(name));
        sr->key_account = xstrdup(account);
        sr->permissions = http_json_text(permissions);
    }
    json_decref(body);
    if (sr)
        submit_action(a, req, sr, NULL, act);
}

/* ---- routes ---- */

/* The routes under /v1/, in the order their methods are listed in Allow. ":id" matches one
 * path segment, handed to the action. */
static const struct {
    const char *pattern;
    serve_api_method method;
    serve_api_action action;
    unsigned permission; /* what the key must hold (SPEC §6); checked before the action */
} routes[] = {
    {"destinations", SERVE_API_GET, SERVE_API_DESTINATION_LIST, SERVE_PERM_DESTINATIONS_READ},
    {"destinations", SERVE_API_POST, SERVE_API_DESTINATION_CREATE, SERVE_PERM_DESTINATIONS_CREATE},
    {"destinations/:id", SERVE_API_GET, SERVE_API_DESTINATION_GET, SERVE_PERM_DESTINATIONS_READ},
    {"destinations/:id", SERVE_API_PATCH, SERVE_API_DESTINATION_UPDATE,
     SERVE_PERM_DESTINATIONS_UPDATE},
    {"destinations/:id", SERVE_API_DELETE, SERVE_API_DESTINATION_DELETE,
     SERVE_PERM_DESTINATIONS_DELETE},
    {"destinations/:id/activate", SERVE_API_POST, SERVE_API_DESTINATION_ACTIVATE,
     SERVE_PERM_DESTINATIONS_ACTIVATE},
    {"destinations/:id/deactivate", SERVE_API_POST, SERVE_API_DESTINATION_DEACTIVATE,
     SERVE_PERM_DESTINATIONS_ACTIVATE},
    {"destinations/:id/secret", SERVE_API_GET, SERVE_API_DESTINATION_SECRET,
     SERVE_PERM_DESTINATIONS_SECRET},
    {"destinations/:id/secret/rotate", SERVE_API_POST, SERVE_API_DESTINATION_ROTATE,
     SERVE_PERM_DESTINATIONS_SECRET},
    {"destinations/:id/recover", SERVE_API_POST, SERVE_API_DESTINATION_RECOVER,
     SERVE_PERM_WEBHOOKS_RETRY},
    {"events", SERVE_API_POST, SERVE_API_EVENT_CREATE, SERVE_PERM_EVENTS_CREATE},
    {"events/:id", SERVE_API_GET, SERVE_API_EVENT_GET, SERVE_PERM_EVENTS_READ},
    {"webhooks", SERVE_API_GET, SERVE_API_WEBHOOK_LIST, SERVE_PERM_WEBHOOKS_READ},
    {"webhooks/:id", SERVE_API_GET, SERVE_API_WEBHOOK_GET, SERVE_PERM_WEBHOOKS_READ},
    {"webhooks/:id/retry", SERVE_API_POST, SERVE_API_WEBHOOK_RETRY, SERVE_PERM_WEBHOOKS_RETRY},
    {"event-types", SERVE_API_GET, SERVE_API_EVENT_TYPES, SERVE_PERM_NONE},
    {"accounts", SERVE_API_GET, SERVE_API_ACCOUNT_LIST, SERVE_PERM_ACCOUNTS_MANAGE},
    {"accounts", SERVE_API_POST, SERVE_API_ACCOUNT_CREATE, SERVE_PERM_ACCOUNTS_MANAGE},
    {"access-keys", SERVE_API_GET, SERVE_API_KEY_LIST, SERVE_PERM_ACCESS_KEYS_MANAGE},
    {"access-keys", SERVE_API_POST, SERVE_API_KEY_CREATE, SERVE_PERM_ACCESS_KEYS_MANAGE},
    {"access-keys/:id", SERVE_API_DELETE, SERVE_API_KEY_DELETE, SERVE_PERM_ACCESS_KEYS_MANAGE},
};

static const char *const method_names[] = {"GET", "POST", "PATCH", "DELETE"};

/* Whether pattern matches the n segments; *id receives the ":id" segment. */
static bool pattern_matches(const char *pattern, const char *const *segs, size_t n, const char **id)
{
    size_t i = 0;
    const char *p = pattern;
    for (; *p && i < n; i++) {
        size_t len = strcspn(p, "/");
        if (len == 3 && strncmp(p, ":id", 3) == 0)
            *id = segs[i];
        else if (strlen(segs[i]) != len || strncmp(p, segs[i], len) != 0)
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return !*p && i == n;
}

int serve_api_route_match(const char *const *segs, size_t n, serve_api_method method,
                          const char **id, char *allow, size_t allow_len)
{
    size_t used = 0;
    allow[0] = '\0';
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
        const char *found = NULL;
        if (!pattern_matches(routes[r].pattern, segs, n, &found))
            continue;
        if (routes[r].method == method) {
            *id = found;
            return (int)routes[r].action;
        }
        if (used < allow_len) /* "GET, POST": every method the path has */
            used += (size_t)snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                                     method_names[routes[r].method]);
    }
    return allow[0] ? SERVE_API_BAD_METHOD : SERVE_API_NO_ROUTE;
}

/* What each action does, indexed by serve_api_action. */
static const action actions[SERVE_API_ACTION_COUNT] = {
    [SERVE_API_DESTINATION_LIST] = {handle_plain, serve_store_w_destination_list,
                                    serve_api_destination_list_json, 200, "destination", false,
                                    false},
    [SERVE_API_DESTINATION_CREATE] = {handle_destination_write, serve_store_w_destination_create,
                                      serve_api_destination_one_json, 201, "destination", false,
                                      false},
    [SERVE_API_DESTINATION_GET] = {handle_plain, serve_store_w_destination_get,
                                   serve_api_destination_one_json, 200, "destination", false,
                                   false},
    [SERVE_API_DESTINATION_UPDATE] = {handle_destination_write, serve_store_w_destination_update,
                                      serve_api_destination_one_json, 200, "destination", false,
                                      false},
    [SERVE_API_DESTINATION_DELETE] = {handle_plain, serve_store_w_destination_delete, NULL, 204,
                                      "destination", false, false},
    [SERVE_API_DESTINATION_ACTIVATE] = {handle_plain, serve_store_w_destination_set_active,
                                        serve_api_destination_one_json, 200, "destination", true,
                                        true},
    [SERVE_API_DESTINATION_DEACTIVATE] = {handle_plain, serve_store_w_destination_set_active,
                                          serve_api_destination_one_json, 200, "destination", false,
                                          false},
    [SERVE_API_DESTINATION_SECRET] = {handle_plain, serve_store_w_destination_secret,
                                      serve_api_secret_json, 200, "destination", false, false},
    [SERVE_API_DESTINATION_ROTATE] = {handle_rotate, serve_store_w_destination_rotate,
                                      serve_api_secret_json, 200, "destination", false, false},
    [SERVE_API_DESTINATION_RECOVER] = {handle_recover, serve_store_w_destination_recover,
                                       serve_api_count_json, 202, "destination", true, false},
    [SERVE_API_EVENT_CREATE] = {handle_event_post, NULL, NULL, 202, "event", true, false},
    [SERVE_API_EVENT_GET] = {handle_plain, serve_store_w_event_get, serve_api_event_json, 200,
                             "event", false, false},
    [SERVE_API_WEBHOOK_LIST] = {handle_webhook_list, serve_store_w_webhook_list,
                                serve_api_webhook_list_json, 200, "webhook", false, false},
    [SERVE_API_WEBHOOK_GET] = {handle_plain, serve_store_w_webhook_get,
                               serve_api_webhook_detail_json, 200, "webhook", false, false},
    [SERVE_API_WEBHOOK_RETRY] = {handle_plain, serve_store_w_webhook_retry,
                                 serve_api_webhook_only_json, 202, "webhook", true, false},
    [SERVE_API_EVENT_TYPES] = {handle_event_types, NULL, NULL, 200, "event type", false, false},
    [SERVE_API_ACCOUNT_LIST] = {handle_plain, serve_store_w_account_list,
                                serve_api_account_list_json, 200, "account", false, false},
    [SERVE_API_ACCOUNT_CREATE] = {handle_account_create, serve_store_w_account_create,
                                  serve_api_account_one_json, 201, "account", false, false},
    [SERVE_API_KEY_LIST] = {handle_plain, serve_store_w_key_list, serve_api_key_list_json, 200,
                            "access key", false, false},
    [SERVE_API_KEY_CREATE] = {handle_key_create, serve_store_w_key_create, serve_api_key_one_json,
                              201, "account", false, false},
    [SERVE_API_KEY_DELETE] = {handle_plain, serve_store_w_key_revoke, NULL, 204, "access key",
                              false, false},
};

bool serve_api_authorize_head(const serve_api *a, const http_head *head)
{
    (void)a;
    const char *h = http_head_header(head, "Authorization");
    return h && strncasecmp(h, "Bearer ", 7) == 0 && h[7 + strspn(h + 7, " ")] != '\0';
}

/* The front door's check of a head (http_server.h): /v1/… without the token is answered
 * 401 before its body is read, so an unauthenticated client cannot make the API buffer. */
static bool serve_api_head(void *arg, const http_head *head, http_verdict *v)
{
    const serve_api *a = arg;
    const char *p = head->path;
    while (*p == '/')
        p++;
    bool v1 = strncmp(p, "v1", 2) == 0 && (p[2] == '\0' || p[2] == '/');
    if (!v1 || serve_api_authorize_head(a, head))
        return http_head_utf8(head, v);
    *v = (http_verdict){
        .status = 401, .code = "unauthorized", .extra_header = "WWW-Authenticate: Bearer"};
    snprintf(v->message, sizeof v->message,
             "a valid Authorization: Bearer <token> header is required");
    return false;
}

unsigned serve_api_route_permission(serve_api_action which)
{
    for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++)
        if (routes[r].action == which)
            return routes[r].permission;
    return SERVE_PERM_STAR; /* not routed: nothing grants it but "*" */
}

static void reply_unauthorized(http_request *req)
{
    http_request_add_header(req, "WWW-Authenticate", "Bearer");
    http_reply_error(req, 401, "unauthorized",
                     "a valid Authorization: Bearer <key> header is required");
}

/*
 * Starts checking the request's key from its headers alone (nothing of the body is read):
 * its SHA-256 is looked up in the store, with the account X-Account-Id names; the job's
 * answer routes the request (authorized_route). Answers 401 at once without a bearer token.
 * Looking the key up on every request, rather than caching keys, is what makes a
 * revocation hold from the next request on every node.
 */
static void authorize(serve_api *a, http_request *req)
{
    const char *h = http_request_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        reply_unauthorized(req);
        return;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    unsigned char digest[32];
    char hex[65];
    SHA256((const unsigned char *)token, strlen(token), digest);
    hookd_hex_encode(digest, sizeof digest, hex);
    serve_store_request *sr = serve_store_request_new(loop_now_ms());
    sr->digest = xstrdup(hex);
    const char *asked = http_request_header(req, "X-Account-Id");
    if (asked) { /* a malformed id names no account: 404 for a key of every account */
        free(sr->account);
        sr->account = xstrdup(serve_account_id_valid(asked) ? asked : "");
    }
    submit(a, req, sr, serve_store_w_key_lookup, REPLY_AUTH, NULL);
}

static serve_api_method method_of(http_request *req)
{
    switch (http_request_method(req)) {
    case HTTP_GET:
        return SERVE_API_GET;
    case HTTP_POST:
        return SERVE_API_POST;
    case HTTP_PATCH:
        return SERVE_API_PATCH;
    case HTTP_DELETE:
        return SERVE_API_DELETE;
    default:
        return SERVE_API_OTHER;
    }
}

/* Routes /v1/… once the key is known: the route, then the permission it declares (403
 * naming it), then the account (404: a key for every account naming none), and only then
 * the action, so nothing about a resource is read for a caller who may not see it. */
static void route_v1(serve_api *a, http_request *req, const caller *who, bool account_exists)
{
    char *path = http_request_path(req);
    char *segs[8];
    size_t n = http_path_split(path, segs, 8);
    free(path);
    const char *id = NULL;
    char allow[64];
    int r = n < 1 ? SERVE_API_NO_ROUTE
                  : serve_api_route_match((const char *const *)segs + 1, n - 1, method_of(req), &id,
                                          allow, sizeof allow);
    unsigned need = r >= 0 ? serve_api_route_permission((serve_api_action)r) : 0;
    if (r == SERVE_API_NO_ROUTE)
        api_reply_no_route(req);
    else if (r == SERVE_API_BAD_METHOD)
        api_reply_method_not_allowed(req, allow);
    else if (!serve_permissions_hold(who->permissions, need))
        http_reply_error(req, 403, "forbidden", "missing permission %s",
                         serve_permission_name(need));
    else if (!account_exists)
        http_reply_error(req, 404, "not_found", "account not found");
    else
        actions[r].handle(a, req, id, &actions[r], who);
    if (n > 0)
        free(segs[0]);
}

/* The key lookup's answer (authorize): 401 without a live key, else the route. */
static void authorized_route(serve_api *a, http_request *req, int rc, const serve_store_request *sr)
{
    if (rc == HOOKD_ENOTFOUND) {
        reply_unauthorized(req);
        return;
    }
    if (rc != 0) {
        api_reply_store_error(req, rc, "access key", NULL);
        return;
    }
    caller who = {.account = sr->account,
                  .permissions = serve_permissions_from_text(sr->key.permissions),
                  .every_account = sr->key.account == NULL};
    route_v1(a, req, &who, sr->account_exists);
}

/* /metrics: counting webhooks by status reads the whole table, so a scrape within
 * STATS_EVERY_MS of the last count is answered with that count (the counters, the histogram
 * and the store queue are always current). */
static void handle_metrics(serve_api *a, http_request *req)
{
    static const action metrics_action = {.what = "metrics"};
    if (a->stats_at != 0 && loop_monotonic_ms() - a->stats_at < STATS_EVERY_MS)
        metrics_reply(a, req, NULL);
    else
        submit(a, req, serve_store_request_new(loop_now_ms()), serve_store_w_stats, REPLY_METRICS,
               &metrics_action);
}

static void serve_api_handle(http_request *req, void *arg)
{
    serve_api *a = arg;
    if (a->stopping) {
        http_request_add_header(req, "Connection", "close");
        api_reply_unavailable(req, "shutting_down", "the server is shutting down");
        return;
    }
    char *path = http_request_path(req);
    char *segs[8];
    size_t n = http_path_split(path, segs, 8);
    free(path);
    if (n == 1 && strcmp(segs[0], "healthz") == 0) {
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    } else if (n == 1 && strcmp(segs[0], "readyz") == 0) {
        api_readyz(req, a->worker);
    } else if (n == 1 && strcmp(segs[0], "metrics") == 0) {
        handle_metrics(a, req);
    } else if (n == 1 && strcmp(segs[0], "openapi.json") == 0) {
        http_reply_text(req, 200, "application/json", serve_openapi_json, serve_openapi_json_len);
    } else if (n >= 1 && strcmp(segs[0], "v1") == 0) {
        authorize(a, req);
    } else if (n >= 1 && strcmp(segs[0], "admin") == 0) {
        serve_panel_handle(a->panel, req); /* HTML pages, not part of the JSON API */
    } else {
        api_reply_no_route(req);
    }
    if (n > 0)
        free(segs[0]);
}

serve_api *serve_api_new(http_server *http, db_worker *worker, serve_deliver *dispatch,
                         metrics *registry, const serve_api_options *options)
{
    serve_api *a = xcalloc(1, sizeof *a);
    a->http = http;
    a->worker = worker;
    a->dispatch = dispatch;
    a->registry = registry;
    a->opt = *options;
    for (size_t i = 0; i < SERVE_STORE_STATUS_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "status=\"%s\"", serve_store_statuses[i]);
        a->webhooks_by_status[i] =
            metrics_gauge(registry, "hookd_webhooks", labels, "Webhooks in the store, by status.");
    }
    a->queue_depth = metrics_gauge(registry, "hookd_queue_depth", NULL,
                                   "Pending webhooks due now, waiting for an attempt.");
    a->store_queue = metrics_gauge(registry, "hookd_store_queue", NULL,
                                   "Jobs queued or running on the store thread.");
    a->events_total =
        metrics_counter(registry, "hookd_events_total", NULL, "Events accepted through the API.");
    a->panel = serve_panel_new(worker, dispatch, &a->opt);
    http_server_set_handler(http, serve_api_handle, a);
    http_server_set_head_check(http, serve_api_head, a);
    return a;
}

void serve_api_stop(serve_api *a)
{
    a->stopping = true;
    http_server_close_listener(a->http);
}

size_t serve_api_pending(const serve_api *a)
{
    return a->pending + serve_panel_pending(a->panel);
}

void serve_api_free(serve_api *a)
{
    if (a)
        serve_panel_free(a->panel);
    free(a);
}
