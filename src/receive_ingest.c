/*
 * receive_ingest.c — the public endpoint of `hookd receive` (see receive_ingest.h).
 *
 * The checks run in SPEC §4's order and stop at the first failure; those of the request's
 * headers and body are the provider's (receive_provider.h: meetbit, Standard Webhooks,
 * GitHub, Stripe), every provider's failures answered with the same statuses and codes; MeetBit's
 * signature is checked with the secrets' HMAC keys computed once, at start (hookd_verifier). An
 * accepted request goes onto the receiver's queue of saves without a copy of its body or
 * signature: the request itself stays whole until its answer, which comes after the save. At most
 * one store job (a "group") waits for the store thread at a time: when it runs it takes every save
 * queued so far and inserts them with receive_store_insert_many, so the saves that arrive while a
 * batch is being committed go together into the next one — one job, one statement per 64 rows, no
 * savepoint per request. The group's done callback, which the store thread calls on the loop only
 * after the batch committed, answers each request: never a 2XX before the save is durable. A client
 * that hangs up meanwhile is harmless: the server keeps the request until it is answered. The
 * sender takes its events in serve_api.c (POST /v1/events), which saves through the same store
 * thread.
 */
#include "receive_ingest.h"
#include "mem.h"

#include "api_common.h"
#include "http_server.h"
#include "receive_store.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

/* The store's free space is read again at most this often (one statvfs). */
#define RECEIVE_INGEST_DISK_EVERY_MS 100
/* Answered saves kept for the next ones (a batch holds tens: more than malloc's per-thread
 * cache of 7 per size, so each would otherwise go through the arena). */
#define RECEIVE_INGEST_SAVES_KEPT 256
/* Retry-After of a 503 for want of room: a burst drains or the owner makes room. */
#define RECEIVE_INGEST_FULL_RETRY_S "60"

enum receive_ingest_reason {
    REJECT_PATH,
    REJECT_METHOD,
    REJECT_TOO_LARGE,
    REJECT_MISSING_HEADER,
    REJECT_BAD_TIMESTAMP,
    REJECT_EXPIRED,
    REJECT_FUTURE,
    REJECT_BAD_SIGNATURE,
    REJECT_BAD_ID,
    REJECT_NOT_ENVELOPE,
    REJECT_BUSY,
    REJECT_FULL,
    REJECT_STORE,
    REJECT_BAD_REQUEST, /* the front door's own refusals (http_server.h), from here on */
    REJECT_TIMEOUT,
    REJECT_HEAD_TOO_LARGE,
    REJECT_NOT_IMPLEMENTED,
    REJECT_COUNT
};

/* The reason's label in hookd_receive_rejected_total and the error code of the answer. */
static const char *const receive_ingest_reason_names[REJECT_COUNT] = {
    "not_found",
    "method_not_allowed",
    "too_large",
    "missing_header",
    "bad_timestamp",
    "expired",
    "future",
    "bad_signature",
    "bad_id",
    "not_envelope",
    "busy",
    "store_full",
    "store_unavailable",
    "bad_request",
    "request_timeout",
    "headers_too_large",
    "not_implemented",
};

struct receive_ingest {
    db_worker *worker;
    receive_handler *receive_handler;
    receive_ingest_options options; /* path points at path_copy */
    char *path_copy;
    char *disk_path_copy;
    hookd_verifier *verifier; /* the secrets' HMAC keys, computed once; NULL: per request */
    int64_t disk_checked_at;  /* monotonic ms of the last statvfs, 0: never */
    bool disk_full;           /* less than min_free_disk free at the last look */
    bool disk_warned;         /* statvfs failed once (logged once) */
    size_t in_flight;         /* saves queued, not yet answered */
    pthread_mutex_t lock;     /* guards the queue, shared with the store thread */
    struct receive_ingest_save *queue; /* saves no group has taken yet, oldest first */
    struct receive_ingest_save **queue_tail;
    bool group_queued;                       /* a group job waits to take the queue */
    struct receive_ingest_save *spare_saves; /* answered saves for reuse (loop thread only) */
    size_t spare_count;
    metric *accepted;
    metric *duplicates;
    metric *rejected[REJECT_COUNT];
};

/* One accepted request waiting for its save. The request stays whole until it is answered
 * (after the commit), so the job points into it for the signature and the body: no copy of
 * the body per webhook, and a save of one size. */
typedef struct receive_ingest_save {
    struct receive_ingest_save *next;
    http_request *req;
    char *event;                  /* the envelope's event type (malloc'd) */
    receive_store_insert_job job; /* points at event, id, timestamp and into req */
    char id[RECEIVE_PROVIDER_MAX_ID + 1];
    char timestamp[HOOKD_TIMESTAMP_LEN + 1];
} receive_ingest_save;

/* One store job: the saves queued before it ran, inserted together. */
typedef struct receive_ingest_group {
    receive_ingest *r;
    receive_ingest_save *saves; /* taken from the queue on the store thread */
    size_t count;
    bool taken; /* the work ran and took the queue */
} receive_ingest_group;

/* The answers' bodies (SPEC §4), constant. */
static const char receive_ingest_accepted_body[] = "{\"status\":\"accepted\"}";
static const char receive_ingest_duplicate_body[] = "{\"status\":\"duplicate\"}";

static void receive_ingest_reject(receive_ingest *r, http_request *req,
                                  enum receive_ingest_reason why, int status, const char *message)
{
    metric_add(r->rejected[why], 1);
    http_reply_error(req, status, receive_ingest_reason_names[why], "%s", message);
}

/* Fills a front-door verdict with the reason's code and counts it; returns false. */
static bool receive_ingest_refuse(receive_ingest *r, http_verdict *v,
                                  enum receive_ingest_reason why, int status, const char *message,
                                  const char *extra_header)
{
    metric_add(r->rejected[why], 1);
    *v = (http_verdict){
        .status = status, .code = receive_ingest_reason_names[why], .extra_header = extra_header};
    snprintf(v->message, sizeof v->message, "%s", message);
    return false;
}

/* Moves the whole save queue into the group, under the lock the loop appends under, and
 * lets the next save queue a new group. Called on the store thread by the work, or on the
 * loop when the batch failed before the work ran. */
static void receive_ingest_group_take(receive_ingest_group *g)
{
    receive_ingest *r = g->r;
    pthread_mutex_lock(&r->lock);
    g->saves = r->queue;
    r->queue = NULL;
    r->queue_tail = &r->queue;
    r->group_queued = false;
    pthread_mutex_unlock(&r->lock);
}

/* Store-thread work: takes the queue and inserts it. It may run twice (DB_JOB_RERUNNABLE):
 * the queue is taken once, by the first run, and the second inserts what the first took
 * (each save's duplicate flag is assigned, not added to). */
static int receive_ingest_group_work(db *conn, void *arg)
{
    receive_ingest_group *g = arg;
    if (!g->taken)
        receive_ingest_group_take(g);
    g->taken = true;
    g->count = 0;
    for (receive_ingest_save *s = g->saves; s; s = s->next)
        g->count++;
    if (g->count == 0)
        return 0;
    receive_store_insert_many_job many = {.jobs = xmalloc(g->count * sizeof *many.jobs),
                                          .count = g->count};
    size_t i = 0;
    for (receive_ingest_save *s = g->saves; s; s = s->next)
        many.jobs[i++] = s->job;
    int rc = receive_store_insert_many(conn, &many);
    i = 0;
    for (receive_ingest_save *s = g->saves; s; s = s->next)
        s->job.duplicate = many.jobs[i++].duplicate;
    free(many.jobs);
    return rc;
}

/* On the loop, once the group's batch committed (rc 0) or failed: answers every save. */
static void receive_ingest_group_done(void *arg, int rc)
{
    receive_ingest_group *g = arg;
    receive_ingest *r = g->r;
    if (!g->taken) {
        /* The batch failed before the work ran (e.g. BEGIN found the store locked): the
         * saves it was to take are still queued, and this group is still the queued one. */
        receive_ingest_group_take(g);
    }
    receive_ingest_save *s = g->saves;
    while (s) {
        receive_ingest_save *next = s->next;
        r->in_flight--;
        /* before the answer, which frees the request its job points into; the runs start
         * once every answer is out (receive_handler_start_saved) */
        receive_handler_saved(r->receive_handler, &s->job, rc == 0); /* after the commit */
        if (rc != 0) {
            log_error("receive", "webhook %s: cannot save it: %s", s->job.id, hookd_strerror(rc));
            http_request_add_header(s->req, "Retry-After", "5");
            receive_ingest_reject(r, s->req, REJECT_STORE, 503,
                                  "the webhook could not be saved; retry later");
        } else if (s->job.duplicate) {
            metric_add(r->duplicates, 1);
            log_debug("receive", "webhook %s: duplicate", s->job.id);
            http_reply_text(s->req, 200, "application/json", receive_ingest_duplicate_body,
                            sizeof receive_ingest_duplicate_body - 1);
        } else {
            metric_add(r->accepted, 1);
            log_debug("receive", "webhook %s (%s): accepted", s->job.id, s->event);
            http_reply_text(s->req, 200, "application/json", receive_ingest_accepted_body,
                            sizeof receive_ingest_accepted_body - 1);
        }
        free(s->event);
        if (r->spare_count < RECEIVE_INGEST_SAVES_KEPT) {
            s->next = r->spare_saves;
            r->spare_saves = s;
            r->spare_count++;
        } else {
            free(s);
        }
        s = next;
    }
    free(g);
    receive_handler_start_saved(r->receive_handler);
}

/* Queues an accepted request's save, and a group job to take it unless one waits. w's
 * signature and body point into req. */
static void receive_ingest_queue(receive_ingest *r, http_request *req,
                                 const receive_provider_webhook *w, const char *body,
                                 size_t body_len)
{
    receive_ingest_save *s = r->spare_saves;
    if (s) {
        r->spare_saves = s->next;
        r->spare_count--;
    } else {
        s = xmalloc(sizeof *s);
    }
    s->next = NULL;
    s->req = req;
    s->event = w->event;
    memcpy(s->id, w->id, strlen(w->id) + 1); /* the provider bounds it by the buffer */
    memcpy(s->timestamp, w->timestamp, sizeof s->timestamp);
    s->job = (receive_store_insert_job){.id = s->id,
                                        .timestamp = s->timestamp,
                                        .signature = w->signature,
                                        .event = w->event,
                                        .body = body,
                                        .body_len = body_len,
                                        .received_at = loop_now_ms()};
    receive_handler_reserve(r->receive_handler, &s->job); /* written leased: a handoff */
    r->in_flight++;
    pthread_mutex_lock(&r->lock);
    *r->queue_tail = s;
    r->queue_tail = &s->next;
    bool submit = !r->group_queued;
    r->group_queued = true;
    pthread_mutex_unlock(&r->lock);
    if (submit) {
        receive_ingest_group *g = xcalloc(1, sizeof *g);
        g->r = r;
        db_worker_submit_flags(r->worker, DB_JOB_RERUNNABLE, receive_ingest_group_work,
                               receive_ingest_group_done, g);
    }
}

/* 1. POST to the path, within --max-body. Answers and returns false otherwise. */
static bool receive_ingest_check_target(receive_ingest *r, http_request *req, const char **body,
                                        size_t *body_len)
{
    if (!http_request_path_is(req, r->options.path)) {
        receive_ingest_reject(r, req, REJECT_PATH, 404, "no such path");
        return false;
    }
    if (http_request_method(req) != HTTP_POST) {
        http_request_add_header(req, "Allow", "POST");
        receive_ingest_reject(r, req, REJECT_METHOD, 405, "webhooks are POSTed");
        return false;
    }
    *body = http_request_body(req, body_len);
    if (*body_len > r->options.max_body) {
        receive_ingest_reject(r, req, REJECT_TOO_LARGE, 413, "body larger than --max-body");
        return false;
    }
    return true;
}

/* A header of the request, for the provider's checks. */
static const char *receive_ingest_header(void *ctx, const char *name)
{
    return http_request_header(ctx, name);
}

/* 2.–5. the provider's checks: headers, timestamp window, signature, id, body. Answers
 * with the verdict's status and reason and returns false, or fills *out. */
static bool receive_ingest_verify(receive_ingest *r, http_request *req, const char *body,
                                  size_t body_len, receive_provider_webhook *out)
{
    static const struct {
        enum receive_ingest_reason reason;
        int status;
    } answers[] = {
        [RECEIVE_PROVIDER_MISSING_HEADER] = {REJECT_MISSING_HEADER, 400},
        [RECEIVE_PROVIDER_BAD_TIMESTAMP] = {REJECT_BAD_TIMESTAMP, 400},
        [RECEIVE_PROVIDER_EXPIRED] = {REJECT_EXPIRED, 401},
        [RECEIVE_PROVIDER_FUTURE] = {REJECT_FUTURE, 401},
        [RECEIVE_PROVIDER_BAD_SIGNATURE] = {REJECT_BAD_SIGNATURE, 401},
        [RECEIVE_PROVIDER_BAD_ID] = {REJECT_BAD_ID, 400},
        [RECEIVE_PROVIDER_BAD_BODY] = {REJECT_NOT_ENVELOPE, 400},
    };
    receive_provider_request in = {.header = receive_ingest_header,
                                   .header_ctx = req,
                                   .body = body,
                                   .body_len = body_len,
                                   .secrets = r->options.secrets,
                                   .secret_count = r->options.secret_count,
                                   .verifier = r->verifier,
                                   .now = (int64_t)time(NULL),
                                   .tolerance_s = r->options.tolerance_s};
    char message[192];
    receive_provider_verdict v =
        receive_provider_check(r->options.provider, &in, out, message, sizeof message);
    if (v == RECEIVE_PROVIDER_OK)
        return true;
    if (v == RECEIVE_PROVIDER_INTERNAL) {
        log_error("receive", "cannot verify a webhook: %s", message);
        http_reply_error(req, 500, "internal_error", "the signature could not be checked");
    } else {
        receive_ingest_reject(r, req, answers[v].reason, answers[v].status, message);
    }
    return false;
}

/* Whether the store's filesystem has less than --min-free-disk free, read again at most
 * every RECEIVE_INGEST_DISK_EVERY_MS. When it cannot be read, the save itself decides. */
static bool receive_ingest_disk_full(receive_ingest *r)
{
    if (!r->options.disk_path || r->options.min_free_disk == 0)
        return false;
    int64_t now = loop_coarse_ms(); /* a rate limit: the last tick will do */
    if (r->disk_checked_at != 0 && now - r->disk_checked_at < RECEIVE_INGEST_DISK_EVERY_MS)
        return r->disk_full;
    r->disk_checked_at = now;
    struct statvfs fs;
    if (statvfs(r->options.disk_path, &fs) != 0) {
        if (!r->disk_warned)
            log_warn("receive", "cannot read the free space of %s (%s); not checked",
                     r->options.disk_path, strerror(errno));
        r->disk_warned = true;
        r->disk_full = false;
        return false;
    }
    bool full = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize < r->options.min_free_disk;
    if (full != r->disk_full)
        log_warn("receive", full ? "less than --min-free-disk free on the store's disk: new "
                                   "webhooks get 503 until there is room"
                                 : "room on the store's disk again: accepting webhooks");
    r->disk_full = full;
    return full;
}

/* 6. room in the store: under --max-pending waiting (when set), --min-free-disk free. */
static bool receive_ingest_has_room(receive_ingest *r, http_request *req)
{
    int64_t waiting = receive_handler_pending(r->receive_handler) + (int64_t)r->in_flight;
    bool busy = r->options.max_pending > 0 && waiting >= r->options.max_pending;
    bool full = !busy && receive_ingest_disk_full(r);
    if (!busy && !full)
        return true;
    http_request_add_header(req, "Retry-After", RECEIVE_INGEST_FULL_RETRY_S);
    if (busy)
        receive_ingest_reject(r, req, REJECT_BUSY, 503,
                              "too many webhooks wait for the handler; retry later");
    else
        receive_ingest_reject(r, req, REJECT_FULL, 503,
                              "the store's disk is nearly full; retry later");
    return false;
}

static void receive_ingest_request(http_request *req, void *arg)
{
    receive_ingest *r = arg;
    const char *body;
    size_t body_len = 0;
    /* A load balancer checks the port it sends traffic to: /readyz is answered here too
     * (issue 12), unless it is the webhook path itself. */
    if (http_request_method(req) == HTTP_GET && strcmp(r->options.path, "/readyz") != 0 &&
        http_request_path_is(req, "/readyz")) {
        api_readyz(req, r->worker);
        return;
    }
    if (!receive_ingest_check_target(r, req, &body, &body_len))
        return;

    /* 2.–5. the provider's checks */
    receive_provider_webhook w;
    if (!receive_ingest_verify(r, req, body, body_len, &w))
        return;
    if (!receive_ingest_has_room(r, req)) {
        free(w.event);
        return;
    }
    receive_ingest_queue(r, req, &w, body, body_len);
}

/* The front door's check of a head (http_server.h), before the body is read: SPEC §4's
 * first check and the presence of the provider's signature header, with the same answers
 * and counters as after the body. */
static bool receive_ingest_head(void *arg, const http_head *head, http_verdict *v)
{
    receive_ingest *r = arg;
    if (strcmp(head->path, r->options.path) != 0) {
        if (strcmp(head->path, "/readyz") == 0)
            return true;
        return receive_ingest_refuse(r, v, REJECT_PATH, 404, "no such path", NULL);
    }
    if (strcmp(head->method, "POST") != 0)
        return receive_ingest_refuse(r, v, REJECT_METHOD, 405, "webhooks are POSTed",
                                     "Allow: POST");
    if (head->content_length > 0 && (size_t)head->content_length > r->options.max_body)
        return receive_ingest_refuse(r, v, REJECT_TOO_LARGE, 413, "body larger than --max-body",
                                     NULL);
    const char *sig = receive_provider_signature_header(r->options.provider);
    if (sig && !http_head_header(head, sig)) {
        char message[128];
        snprintf(message, sizeof message, "the %s header is missing", sig);
        return receive_ingest_refuse(r, v, REJECT_MISSING_HEADER, 400, message, NULL);
    }
    return true;
}

/* The front door refused a request on its own (framing, deadline, a chunked body over
 * --max-body, the body budget …): counted under the reason its code names. */
static void receive_ingest_front_door(void *arg, const http_verdict *v)
{
    receive_ingest *r = arg;
    for (size_t i = 0; i < REJECT_COUNT; i++)
        if (strcmp(v->code, receive_ingest_reason_names[i]) == 0)
            metric_add(r->rejected[i], 1);
}

receive_ingest *receive_ingest_new(http_server *http, db_worker *worker, receive_handler *h,
                                   metrics *m, const receive_ingest_options *options)
{
    receive_ingest *r = xcalloc(1, sizeof *r);
    r->worker = worker;
    r->receive_handler = h;
    r->options = *options;
    r->path_copy = xstrndup(options->path, strlen(options->path));
    r->options.path = r->path_copy;
    if (options->disk_path) {
        r->disk_path_copy = xstrdup(options->disk_path);
        r->options.disk_path = r->disk_path_copy;
    }
    /* Without it (OpenSSL has no HMAC) each request computes the keys and reports that. */
    int vrc = hookd_verifier_new(options->secrets, options->secret_count, &r->verifier);
    if (vrc == HOOKD_ENOMEM)
        mem_check(NULL); /* the one out-of-memory path: abort */
    if (vrc != HOOKD_OK)
        log_warn("receive", "cannot precompute the secrets' keys: %s", hookd_strerror(vrc));
    pthread_mutex_init(&r->lock, NULL);
    r->queue_tail = &r->queue;
    r->accepted =
        metrics_counter(m, "hookd_receive_accepted_total", NULL, "Webhooks accepted and saved");
    r->duplicates = metrics_counter(m, "hookd_receive_duplicates_total", NULL,
                                    "Webhooks whose id was already saved");
    metrics_counters(m, "hookd_receive_rejected_total", "reason", receive_ingest_reason_names,
                     REJECT_COUNT, "Requests refused, by reason", r->rejected);
    http_server_set_handler(http, receive_ingest_request, r);
    http_server_set_head_check(http, receive_ingest_head, r);
    http_server_set_refusal_hook(http, receive_ingest_front_door, r);
    return r;
}

size_t receive_ingest_in_flight(const receive_ingest *r)
{
    return r->in_flight;
}

void receive_ingest_free(receive_ingest *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    while (r->spare_saves) {
        receive_ingest_save *next = r->spare_saves->next;
        free(r->spare_saves);
        r->spare_saves = next;
    }
    hookd_verifier_free(r->verifier);
    free(r->path_copy);
    free(r->disk_path_copy);
    free(r);
}
