/*
 * receive_api.c — the receiver's admin routes (see receive_api.h). Each store query is a job
 * on the store thread that fills plain structs (receive_store.h); its done callback, on the
 * loop, turns them into JSON here. Errors, times and store failures follow the one dialect
 * of api_common.h, shared with the sender's REST API.
 */
#include "receive_api.h"
#include "mem.h"

#include "api_common.h"
#include "hookd.h"
#include "http_server.h"
#include "loop.h"
#include "receive_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECEIVE_API_DEFAULT_LIMIT 100
#define RECEIVE_API_MAX_LIMIT 1000

struct receive_api {
    receive_api_access access;
    char *listen_host; /* access.listen_host points here */
    db_worker *worker;
    receive_handler *receive_handler;
    metrics *metrics;
    size_t in_flight;         /* store jobs not yet answered */
    const char *mount_prefix; /* requests under it go to mount_fn (the panel), or NULL */
    receive_api_mount_fn mount_fn;
    void *mount_arg;
};

/* A manual retry under way (receive_api_retry_webhook). */
typedef struct receive_api_retry_op {
    receive_api *a;
    char *id; /* owned */
    receive_store_retry_job job;
    db_done_fn done;
    void *arg;
} receive_api_retry_op;

/* One admin request waiting for the store; only the job matching the route is used. */
typedef struct receive_api_query {
    receive_api *a;
    http_request *req;
    char *id;     /* owned: the webhook id of the path */
    char *status; /* owned: ?status= */
    char *after;  /* owned: ?after= */
    union {
        receive_store_list_job list;
        receive_store_get_job get;
    } job;
} receive_api_query;

static receive_api_query *receive_api_query_new(receive_api *a, http_request *req)
{
    receive_api_query *q = xcalloc(1, sizeof *q);
    q->a = a;
    q->req = req;
    a->in_flight++;
    return q;
}

static void receive_api_query_free(receive_api_query *q)
{
    q->a->in_flight--;
    free(q->id);
    free(q->status);
    free(q->after);
    free(q);
}

/* ---- answers from the store's structs ---- */

static json_t *receive_api_string(const char *s, size_t len)
{
    json_t *v = s ? json_stringn(s, len) : NULL;
    return v ? v : json_null();
}

/* {id, event, timestamp, status, attempts, runs, received_at, next_attempt_at, handling}
 * and "body" when w has one. */
static json_t *receive_api_webhook_json(const receive_store_webhook *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", receive_api_string(w->id, strlen(w->id)));
    json_object_set_new(o, "event", receive_api_string(w->event, strlen(w->event)));
    json_object_set_new(o, "timestamp", receive_api_string(w->timestamp, strlen(w->timestamp)));
    json_object_set_new(o, "status", receive_api_string(w->status, strlen(w->status)));
    json_object_set_new(o, "attempts", json_integer(w->attempts));
    json_object_set_new(o, "runs", json_integer(w->runs));
    json_object_set_new(o, "received_at", api_time_json(w->received_at));
    json_object_set_new(o, "next_attempt_at", api_time_json(w->next_attempt_at));
    json_object_set_new(o, "handling", json_boolean(w->handling));
    if (w->body)
        json_object_set_new(o, "body", receive_api_string(w->body, w->body_len));
    return o;
}

/* {n, started_at, duration_ms, exit_status, http_status, error}: the status a run did not
 * have (exit for --forward, HTTP for --exec) is null. */
static json_t *receive_api_run_json(const receive_store_run *r)
{
    json_t *o = api_record_json(&r->rec);
    json_object_set_new(o, "exit_status",
                        r->exit_status < 0 ? json_null() : json_integer(r->exit_status));
    json_object_set_new(o, "http_status",
                        r->http_status < 0 ? json_null() : json_integer(r->http_status));
    const char *error = r->rec.error;
    json_object_set_new(o, "error", error ? receive_api_string(error, strlen(error)) : json_null());
    json_object_set_new(o, "output",
                        r->output ? receive_api_string(r->output, strlen(r->output)) : json_null());
    return o;
}

/* Whether a lease still holds: set, not over, and not so far ahead that a clock set back
 * must have written it (claims and retry treat it as expired too). */
bool receive_api_lease_holds(const receive_api *a, int64_t lease_until)
{
    int64_t now = loop_now_ms();
    int64_t lease_ms = receive_handler_lease_ms(a->receive_handler);
    return lease_until > now && lease_until <= now + RECEIVE_STORE_LEASE_SKEW * lease_ms;
}

static json_t *receive_api_list_json(const receive_store_list_job *job)
{
    json_t *data = json_array();
    for (size_t i = 0; i < job->count; i++)
        json_array_append_new(data, receive_api_webhook_json(&job->items[i]));
    json_t *next = job->next ? receive_api_string(job->next, strlen(job->next)) : json_null();
    return json_pack("{s:o,s:o}", "data", data, "next", next);
}

static json_t *receive_api_get_json(const receive_store_get_job *job)
{
    json_t *o = receive_api_webhook_json(&job->webhook);
    json_t *runs = json_array();
    for (size_t i = 0; i < job->run_count; i++)
        json_array_append_new(runs, receive_api_run_json(&job->runs[i]));
    json_object_set_new(o, "runs", runs);
    return o;
}

/* ---- store jobs ---- */

static int receive_api_list_work(db *conn, void *arg)
{
    return receive_store_list(conn, &((receive_api_query *)arg)->job.list);
}

static int receive_api_get_work(db *conn, void *arg)
{
    return receive_store_get(conn, &((receive_api_query *)arg)->job.get);
}

static int receive_api_retry_work(db *conn, void *arg)
{
    return receive_store_retry(conn, &((receive_api_retry_op *)arg)->job);
}

/* The retry's outcome: the handler is told there is work (one more pending when the
 * webhook had finished), then the caller. */
static void receive_api_retry_done(void *arg, int rc)
{
    receive_api_retry_op *op = arg;
    if (rc == 0 && op->job.was_finished)
        receive_handler_requeued(op->a->receive_handler);
    else if (rc == 0)
        receive_handler_kick(op->a->receive_handler);
    op->done(op->arg, rc);
    op->a->in_flight--;
    free(op->id);
    free(op);
}

void receive_api_retry_webhook(receive_api *a, const char *id, db_done_fn done, void *arg)
{
    receive_api_retry_op *op = xcalloc(1, sizeof *op);
    op->a = a;
    op->id = xstrdup(id);
    op->job.id = op->id;
    op->job.now = loop_now_ms();
    op->job.lease_ms = receive_handler_lease_ms(a->receive_handler);
    op->done = done;
    op->arg = arg;
    a->in_flight++;
    db_worker_submit(a->worker, receive_api_retry_work, receive_api_retry_done, op);
}

static void receive_api_listed(void *arg, int rc)
{
    receive_api_query *q = arg;
    for (size_t i = 0; rc == 0 && i < q->job.list.count; i++)
        q->job.list.items[i].handling =
            receive_api_lease_holds(q->a, q->job.list.items[i].lease_until);
    if (rc == 0)
        http_reply_json(q->req, 200, receive_api_list_json(&q->job.list));
    else
        api_reply_store_error(q->req, rc, "webhook", NULL);
    receive_store_list_job_clear(&q->job.list);
    receive_api_query_free(q);
}

static void receive_api_got(void *arg, int rc)
{
    receive_api_query *q = arg;
    if (rc == 0) {
        q->job.get.webhook.handling = receive_api_lease_holds(q->a, q->job.get.webhook.lease_until);
        http_reply_json(q->req, 200, receive_api_get_json(&q->job.get));
    } else {
        api_reply_store_error(q->req, rc, "webhook", NULL);
    }
    receive_store_get_job_clear(&q->job.get);
    receive_api_query_free(q);
}

static void receive_api_retried(void *arg, int rc)
{
    receive_api_query *q = arg;
    if (rc == 0) {
        http_reply_json(q->req, 202, json_pack("{s:s,s:s}", "id", q->id, "status", "pending"));
    } else {
        api_reply_store_error(q->req, rc, "webhook", "the handler is running this webhook now");
    }
    receive_api_query_free(q);
}

/* ---- routes ---- */

static void receive_api_list(receive_api *a, http_request *req)
{
    char *status = http_request_query(req, "status");
    if (status && strcmp(status, "pending") != 0 && strcmp(status, "done") != 0 &&
        strcmp(status, "failed") != 0) {
        free(status);
        api_reply_invalid_parameter(req, "status must be pending, done or failed");
        return;
    }
    long limit = RECEIVE_API_DEFAULT_LIMIT;
    char *text = http_request_query(req, "limit");
    int rc = text ? api_parse_limit(text, RECEIVE_API_MAX_LIMIT, &limit) : 0;
    free(text);
    if (rc != 0) {
        free(status);
        api_reply_invalid_parameter(req, "limit must be a number from 1 to %d",
                                    RECEIVE_API_MAX_LIMIT);
        return;
    }
    receive_api_query *q = receive_api_query_new(a, req);
    q->status = status;
    q->after = http_request_query(req, "after");
    if (q->after && !*q->after) {
        free(q->after);
        q->after = NULL;
    }
    q->job.list.status = q->status;
    q->job.list.after = q->after;
    q->job.list.limit = limit;
    db_worker_submit(a->worker, receive_api_list_work, receive_api_listed, q);
}

static void receive_api_get(receive_api *a, http_request *req, const char *id)
{
    receive_api_query *q = receive_api_query_new(a, req);
    q->id = xstrdup(id);
    q->job.get.id = q->id;
    db_worker_submit(a->worker, receive_api_get_work, receive_api_got, q);
}

static void receive_api_retry(receive_api *a, http_request *req, const char *id)
{
    receive_api_query *q = receive_api_query_new(a, req);
    q->id = xstrdup(id);
    receive_api_retry_webhook(a, id, receive_api_retried, q);
}

static void receive_api_metrics(receive_api *a, http_request *req)
{
    size_t len = 0;
    char *text = metrics_render(a->metrics, &len);
    http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* Routes one request by its path segments. */
static void receive_api_route(receive_api *a, http_request *req, char **seg, size_t n)
{
    bool get = http_request_method(req) == HTTP_GET;
    bool post = http_request_method(req) == HTTP_POST;
    bool webhooks = n >= 1 && strcmp(seg[0], "webhooks") == 0;
    bool retry = webhooks && n == 3 && strcmp(seg[2], "retry") == 0;
    bool ready = n == 1 && strcmp(seg[0], "readyz") == 0;
    bool known = (n == 1 && (strcmp(seg[0], "healthz") == 0 || strcmp(seg[0], "metrics") == 0 ||
                             webhooks || ready)) ||
                 (webhooks && n == 2) || retry;
    if (!known)
        api_reply_no_route(req);
    else if (retry ? !post : !get)
        api_reply_method_not_allowed(req, retry ? "POST" : "GET");
    else if (retry)
        receive_api_retry(a, req, seg[1]);
    else if (n == 2)
        receive_api_get(a, req, seg[1]);
    else if (webhooks)
        receive_api_list(a, req);
    else if (strcmp(seg[0], "metrics") == 0)
        receive_api_metrics(a, req);
    else if (ready)
        api_readyz(req, a->worker);
    else
        http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* True when path is the mounted prefix or below it ("/admin", "/admin/…"). */
static bool receive_api_mounted(const receive_api *a, const char *path)
{
    if (!a->mount_prefix)
        return false;
    size_t n = strlen(a->mount_prefix);
    return strncmp(path, a->mount_prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void receive_api_request(http_request *req, void *arg)
{
    receive_api *a = arg;
    char *path = http_request_path(req);
    if (receive_api_mounted(a, path)) {
        a->mount_fn(a->mount_arg, req, path);
        free(path);
        return;
    }
    char *seg[4] = {0};
    size_t n = http_path_split(path, seg, 4);
    free(path);
    receive_api_route(a, req, seg, n);
    if (n > 0)
        free(seg[0]);
}

/* The host part of a Host header or of an Origin's authority ("[::1]:9091" → "[::1]"),
 * into out. */
static void receive_api_hostname(const char *authority, char *out, size_t outlen)
{
    size_t n = authority[0] == '[' ? strcspn(authority, "]") + 1 : strcspn(authority, ":");
    snprintf(out, outlen, "%.*s", (int)n, authority);
}

/* True when a Host or Origin names this API: its --admin-listen host or a loopback name.
 * A page of another site (or a DNS name rebound to 127.0.0.1) names its own host. */
static bool receive_api_host_ok(const receive_api *a, const char *authority)
{
    static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]"};
    char host[256];
    receive_api_hostname(authority, host, sizeof host);
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (strcasecmp(host, loopback[i]) == 0)
            return true;
    return strcasecmp(host, a->access.listen_host) == 0;
}

static bool receive_api_deny(http_verdict *v, int status, const char *code, const char *message)
{
    *v = (http_verdict){.status = status, .code = code};
    if (status == 401)
        v->extra_header = "WWW-Authenticate: Bearer";
    snprintf(v->message, sizeof v->message, "%s", message);
    return false;
}

/* The front door's check of an admin request's head: the Host names it unless the token
 * was given (no DNS rebinding), no Origin of another site (no cross-site page), the admin token on
 * all but /healthz, /readyz and the mounted panel, and UTF-8 text. */
static bool receive_api_head(void *arg, const http_head *head, http_verdict *v)
{
    const receive_api *a = arg;
    const char *host = http_head_header(head, "Host");
    /* Unless the operator gave the token (and so may name the host as they like). */
    if (a->access.check_host && (!host || !receive_api_host_ok(a, host)))
        return receive_api_deny(v, 403, "forbidden_host",
                                "the Host header does not name this admin API");
    const char *origin = http_head_header(head, "Origin");
    const char *scheme_end = origin ? strstr(origin, "://") : NULL;
    /* Same origin: the page was served by this listener under the name the request uses
     * (the panel's own forms, also off loopback). */
    bool same_origin = scheme_end && host && strcasecmp(scheme_end + 3, host) == 0;
    if (origin && !same_origin && (!scheme_end || !receive_api_host_ok(a, scheme_end + 3)))
        return receive_api_deny(v, 403, "forbidden_origin",
                                "requests from another site's pages are refused");
    /* The mounted panel signs its users in with the token and keeps them by a session. */
    bool panel = receive_api_mounted(a, head->path);
    bool open_route =
        strcmp(head->path, "/healthz") == 0 || strcmp(head->path, "/readyz") == 0 || panel;
    /* A link to the panel followed from another site may open it: a GET that navigates
     * changes nothing, and the SameSite=Strict session cookie does not come along. */
    const char *mode = http_head_header(head, "Sec-Fetch-Mode");
    bool navigation =
        panel && strcmp(head->method, "GET") == 0 && mode && strcmp(mode, "navigate") == 0;
    const char *site = http_head_header(head, "Sec-Fetch-Site");
    if (site && strcmp(site, "cross-site") == 0 && !navigation)
        return receive_api_deny(v, 403, "forbidden_origin",
                                "requests from another site's pages are refused");
    if (!open_route &&
        !api_bearer_matches(http_head_header(head, "Authorization"), a->access.token_digest))
        return receive_api_deny(v, 401, "unauthorized",
                                "a valid Authorization: Bearer <admin token> header is required");
    return http_head_utf8(head, v);
}

receive_api *receive_api_new(http_server *http, db_worker *worker, receive_handler *h, metrics *m,
                             const receive_api_access *access)
{
    receive_api *a = xcalloc(1, sizeof *a);
    a->access = *access;
    a->listen_host = xstrdup(access->listen_host ? access->listen_host : "127.0.0.1");
    a->access.listen_host = a->listen_host;
    http_server_set_head_check(http, receive_api_head, a);
    a->worker = worker;
    a->receive_handler = h;
    a->metrics = m;
    http_server_set_handler(http, receive_api_request, a);
    return a;
}

void receive_api_mount(receive_api *a, const char *prefix, receive_api_mount_fn fn, void *arg)
{
    a->mount_prefix = prefix;
    a->mount_fn = fn;
    a->mount_arg = arg;
}

size_t receive_api_in_flight(const receive_api *a)
{
    return a->in_flight;
}

void receive_api_free(receive_api *a)
{
    if (a)
        free(a->listen_host);
    free(a);
}
