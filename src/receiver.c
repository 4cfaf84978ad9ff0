/*
 * receiver.c — the public endpoint of `hookd receive` (see receiver.h).
 *
 * The checks run in SPEC §4's order and stop at the first failure. An accepted request is
 * copied into a store job (the request itself is left alone until its answer) and answered
 * from the job's done callback, which the store thread calls on the loop only after the
 * batch holding the insert committed: never a 2XX before the save is durable. A client
 * that hangs up meanwhile is harmless: evhttp keeps the request until it is answered.
 */
#include "receiver.h"
#include "mem.h"

#include "http_server.h"
#include "inbox.h"
#include "log.h"
#include "loop.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest X-Webhook-Id kept (a UUID is 36). */
#define RECEIVER_MAX_ID 128

enum receiver_reason {
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
    REJECT_STORE,
    REJECT_COUNT
};

/* The reason's label in hookd_receive_rejected_total and the error code of the answer. */
static const char *const receiver_reason_names[REJECT_COUNT] = {
    "not_found",      "method_not_allowed", "too_large",     "missing_header",
    "bad_timestamp",  "expired",            "future",        "bad_signature",
    "bad_id",         "not_envelope",       "busy",          "store_error",
};

struct receiver {
    db_worker *worker;
    handler *handler;
    receiver_options options;           /* path points at path_copy */
    char *path_copy;
    size_t in_flight;                   /* saves submitted, not yet answered */
    metric *accepted;
    metric *duplicates;
    metric *rejected[REJECT_COUNT];
};

/* One accepted request waiting for its save. */
typedef struct receiver_save {
    receiver *r;
    struct evhttp_request *req;
    inbox_insert_job job; /* points into the strings below */
    char *id;
    char *timestamp;
    char *signature;
    char *event;
    char *body;
} receiver_save;

static void receiver_reject(receiver *r, struct evhttp_request *req, enum receiver_reason why,
                            int status, const char *message)
{
    metric_add(r->rejected[why], 1);
    http_reply_error(req, status, receiver_reason_names[why], "%s", message);
}

/* Store-thread work: the insert held in a receiver_save. */
static int receiver_save_work(db *conn, void *arg)
{
    receiver_save *s = arg;
    return inbox_insert(conn, &s->job);
}

static void receiver_saved(void *arg, int rc)
{
    receiver_save *s = arg;
    receiver *r = s->r;
    r->in_flight--;
    if (rc != 0) {
        log_error("receive", "webhook %s: cannot save it: %s", s->id, hookd_strerror(rc));
        receiver_reject(r, s->req, REJECT_STORE, 503, "the webhook could not be saved; retry later");
    } else if (s->job.duplicate) {
        metric_add(r->duplicates, 1);
        log_debug("receive", "webhook %s: duplicate", s->id);
        http_reply_json(s->req, 200, json_pack("{s:s}", "status", "duplicate"));
    } else {
        metric_add(r->accepted, 1);
        log_debug("receive", "webhook %s (%s): accepted", s->id, s->event);
        http_reply_json(s->req, 200, json_pack("{s:s}", "status", "accepted"));
        handler_accepted(r->handler);
    }
    free(s->id);
    free(s->timestamp);
    free(s->signature);
    free(s->event);
    free(s->body);
    free(s);
}

static bool receiver_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > RECEIVER_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
            return false;
    return true;
}

static void receiver_request(struct evhttp_request *req, void *arg)
{
    receiver *r = arg;

    /* 1. POST to the path, and not too large */
    char *path = http_request_path(req);
    bool path_ok = path && strcmp(path, r->options.path) == 0;
    free(path);
    if (!path_ok) {
        receiver_reject(r, req, REJECT_PATH, 404, "no such path");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        receiver_reject(r, req, REJECT_METHOD, 405, "webhooks are POSTed");
        return;
    }
    size_t body_len = 0;
    const char *body = http_request_body(req, &body_len);
    if (body_len > r->options.max_body) {
        receiver_reject(r, req, REJECT_TOO_LARGE, 413, "body larger than --max-body");
        return;
    }

    /* 2.–4. headers, timestamp window, signature */
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *id = evhttp_find_header(in, "X-Webhook-Id");
    const char *timestamp = evhttp_find_header(in, "X-Webhook-Timestamp");
    const char *signature = evhttp_find_header(in, "X-Webhook-Signature");
    int rc = hookd_verify(r->options.secrets, r->options.secret_count, id, timestamp, signature,
                          body, body_len, (int64_t)time(NULL), r->options.tolerance_s);
    char message[160];
    switch (rc) {
    case 0:
        break;
    case HOOKD_EMISSING:
        snprintf(message, sizeof message, "missing %s header",
                 !id || !*id                 ? "X-Webhook-Id"
                 : !timestamp || !*timestamp ? "X-Webhook-Timestamp"
                                             : "X-Webhook-Signature");
        receiver_reject(r, req, REJECT_MISSING_HEADER, 400, message);
        return;
    case HOOKD_ETIMESTAMP:
        receiver_reject(r, req, REJECT_BAD_TIMESTAMP, 400,
                        "X-Webhook-Timestamp is not YYYY-MM-DDTHH:MM:SSZ");
        return;
    case HOOKD_EEXPIRED:
        snprintf(message, sizeof message,
                 "timestamp expired: more than %lld seconds in the past",
                 (long long)r->options.tolerance_s);
        receiver_reject(r, req, REJECT_EXPIRED, 401, message);
        return;
    case HOOKD_EFUTURE:
        snprintf(message, sizeof message,
                 "timestamp in the future: more than %lld seconds ahead",
                 (long long)r->options.tolerance_s);
        receiver_reject(r, req, REJECT_FUTURE, 401, message);
        return;
    default: /* HOOKD_ESIGNATURE, HOOKD_ESIGNATURE_FORMAT */
        receiver_reject(r, req, REJECT_BAD_SIGNATURE, 401,
                        "signature matches none of the secrets");
        return;
    }
    if (!receiver_id_ok(id)) {
        receiver_reject(r, req, REJECT_BAD_ID, 400,
                        "X-Webhook-Id must be 1 to 128 printable characters");
        return;
    }

    /* 5. the envelope */
    char *event = NULL;
    if (hookd_envelope_parse(body, body_len, &event) != 0) {
        receiver_reject(r, req, REJECT_NOT_ENVELOPE, 400,
                        "body is not a JSON object with a string \"event\" and an object \"data\"");
        return;
    }

    /* 6. room, then the durable save; the answer comes from receiver_saved */
    if (handler_pending(r->handler) + (int64_t)r->in_flight >= r->options.max_pending) {
        free(event);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
        receiver_reject(r, req, REJECT_BUSY, 503,
                        "too many webhooks wait for the handler; retry later");
        return;
    }
    receiver_save *s = xcalloc(1, sizeof *s);
    s->r = r;
    s->req = req;
    s->id = xstrndup(id, strlen(id));
    s->timestamp = xstrndup(timestamp, strlen(timestamp));
    s->signature = xstrndup(signature, strlen(signature));
    s->event = event;
    s->body = xstrndup(body, body_len);
    s->job = (inbox_insert_job){.id = s->id,
                                .timestamp = s->timestamp,
                                .signature = s->signature,
                                .event = s->event,
                                .body = s->body,
                                .body_len = body_len,
                                .received_at = loop_now_ms()};
    r->in_flight++;
    db_worker_submit(r->worker, receiver_save_work, receiver_saved, s);
}

receiver *receiver_new(struct evhttp *http, db_worker *worker, handler *h, metrics *m,
                       const receiver_options *options)
{
    receiver *r = xcalloc(1, sizeof *r);
    r->worker = worker;
    r->handler = h;
    r->options = *options;
    r->path_copy = xstrndup(options->path, strlen(options->path));
    r->options.path = r->path_copy;
    r->accepted = metrics_counter(m, "hookd_receive_accepted_total", NULL,
                                  "Webhooks accepted and saved");
    r->duplicates = metrics_counter(m, "hookd_receive_duplicates_total", NULL,
                                    "Webhooks whose id was already saved");
    for (int i = 0; i < REJECT_COUNT; i++) {
        char label[64];
        snprintf(label, sizeof label, "reason=\"%s\"", receiver_reason_names[i]);
        r->rejected[i] = metrics_counter(m, "hookd_receive_rejected_total", label,
                                         "Requests refused, by reason");
    }
    evhttp_set_gencb(http, receiver_request, r);
    return r;
}

size_t receiver_in_flight(const receiver *r)
{
    return r->in_flight;
}

void receiver_free(receiver *r)
{
    if (!r)
        return;
    free(r->path_copy);
    free(r);
}
