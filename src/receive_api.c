/*
 * admin.c — the receiver's admin routes (see admin.h). Each store query is a job on the
 * store thread; the answer is sent from its done callback on the loop.
 */
#include "receive_api.h"
#include "mem.h"

#include "hookd.h"
#include "http_server.h"
#include "receive_store.h"
#include "loop.h"

#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIVE_API_DEFAULT_LIMIT 100
#define RECEIVE_API_MAX_LIMIT 1000

struct receive_api {
    db_worker *worker;
    receive_handler *receive_handler;
    metrics *metrics;
    size_t in_flight; /* store jobs not yet answered */
};

/* One admin request waiting for the store; only the job matching kind is used. */
typedef struct receive_api_query {
    receive_api *a;
    struct evhttp_request *req;
    char *id;     /* owned: the webhook id of the path */
    char *status; /* owned: ?status= */
    char *after;  /* owned: ?after= */
    union {
        receive_store_list_job list;
        receive_store_get_job get;
        receive_store_retry_job retry;
    } job;
} receive_api_query;

static receive_api_query *receive_api_query_new(receive_api *a, struct evhttp_request *req)
{
    receive_api_query *q = calloc(1, sizeof *q);
    if (!q) {
        fprintf(stderr, "hookd: out of memory\n");
        abort();
    }
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

static void receive_api_reply_store_error(struct evhttp_request *req, int rc)
{
    if (rc == HOOKD_ENOTFOUND)
        http_reply_error(req, 404, "not_found", "no webhook with this id");
    else
        http_reply_error(req, 503, "store_error", "the store failed: %s", hookd_strerror(rc));
}

/* Store-thread work for each kind of admin_query. */
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
    return receive_store_retry(conn, &((receive_api_query *)arg)->job.retry);
}

static void receive_api_listed(void *arg, int rc)
{
    receive_api_query *q = arg;
    if (rc == 0)
        http_reply_json(q->req, 200, q->job.list.result);
    else
        receive_api_reply_store_error(q->req, rc);
    receive_api_query_free(q);
}

static void receive_api_got(void *arg, int rc)
{
    receive_api_query *q = arg;
    if (rc == 0)
        http_reply_json(q->req, 200, q->job.get.result);
    else
        receive_api_reply_store_error(q->req, rc);
    receive_api_query_free(q);
}

static void receive_api_retried(void *arg, int rc)
{
    receive_api_query *q = arg;
    if (rc == 0) {
        if (q->job.retry.was_finished)
            receive_handler_requeued(q->a->receive_handler);
        else
            receive_handler_kick(q->a->receive_handler);
        http_reply_json(q->req, 202, json_pack("{s:s,s:s}", "id", q->id, "status", "pending"));
    } else if (rc == HOOKD_ECONFLICT) {
        http_reply_error(q->req, 409, "running", "the handler is running this webhook now");
    } else {
        receive_api_reply_store_error(q->req, rc);
    }
    receive_api_query_free(q);
}

static void receive_api_list(receive_api *a, struct evhttp_request *req)
{
    char *status = http_request_query(req, "status");
    if (status && strcmp(status, "pending") != 0 && strcmp(status, "done") != 0 &&
        strcmp(status, "failed") != 0) {
        free(status);
        http_reply_error(req, 400, "bad_status", "status must be pending, done or failed");
        return;
    }
    long limit = RECEIVE_API_DEFAULT_LIMIT;
    char *text = http_request_query(req, "limit");
    if (text) {
        char *end = NULL;
        errno = 0;
        limit = strtol(text, &end, 10);
        bool bad = errno != 0 || end == text || *end != '\0' || limit < 1 ||
                   limit > RECEIVE_API_MAX_LIMIT;
        free(text);
        if (bad) {
            free(status);
            http_reply_error(req, 400, "bad_limit", "limit must be 1 to %d", RECEIVE_API_MAX_LIMIT);
            return;
        }
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

static void receive_api_request(struct evhttp_request *req, void *arg)
{
    receive_api *a = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    char *path = http_request_path(req);
    char *seg[4] = {0};
    size_t n = path ? http_path_split(path, seg, 4) : 0;
    free(path);
    bool get = method == EVHTTP_REQ_GET;
    bool post = method == EVHTTP_REQ_POST;

    if (n == 1 && strcmp(seg[0], "healthz") == 0) {
        if (get)
            http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
        else
            http_reply_error(req, 405, "method_not_allowed", "use GET");
    } else if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        if (get) {
            size_t len = 0;
            char *text = metrics_render(a->metrics, &len);
            http_reply_text(req, 200, "text/plain; version=0.0.4", text, len);
            free(text);
        } else {
            http_reply_error(req, 405, "method_not_allowed", "use GET");
        }
    } else if (n == 1 && strcmp(seg[0], "webhooks") == 0) {
        if (get)
            receive_api_list(a, req);
        else
            http_reply_error(req, 405, "method_not_allowed", "use GET");
    } else if (n == 2 && strcmp(seg[0], "webhooks") == 0) {
        if (get) {
            receive_api_query *q = receive_api_query_new(a, req);
            q->id = xstrdup(seg[1]);
            q->job.get.id = q->id;
            db_worker_submit(a->worker, receive_api_get_work, receive_api_got, q);
        } else {
            http_reply_error(req, 405, "method_not_allowed", "use GET");
        }
    } else if (n == 3 && strcmp(seg[0], "webhooks") == 0 && strcmp(seg[2], "retry") == 0) {
        if (post) {
            receive_api_query *q = receive_api_query_new(a, req);
            q->id = xstrdup(seg[1]);
            q->job.retry.id = q->id;
            q->job.retry.now = loop_now_ms();
            db_worker_submit(a->worker, receive_api_retry_work, receive_api_retried, q);
        } else {
            http_reply_error(req, 405, "method_not_allowed", "use POST");
        }
    } else {
        http_reply_error(req, 404, "not_found", "no such route");
    }
    if (n > 0)
        free(seg[0]);
}

receive_api *receive_api_new(struct evhttp *http, db_worker *worker, receive_handler *h, metrics *m)
{
    receive_api *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "hookd: out of memory\n");
        abort();
    }
    a->worker = worker;
    a->receive_handler = h;
    a->metrics = m;
    evhttp_set_gencb(http, receive_api_request, a);
    return a;
}

size_t receive_api_in_flight(const receive_api *a)
{
    return a->in_flight;
}

void receive_api_free(receive_api *a)
{
    free(a);
}
