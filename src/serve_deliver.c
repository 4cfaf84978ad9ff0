/*
 * serve_deliver.c — the sender's runner and store for the work engine (see serve_deliver.h).
 * An attempt: sign with a fresh timestamp, POST the exact envelope with the destination's
 * custom headers, and turn the answer into an outcome: 2XX succeeded; 410 Gone failed and
 * deactivates the destination; otherwise failed, retried on the engine's schedule (a
 * Retry-After of a 429 or 503 lengthens the wait) until --max-attempts. A failure also
 * feeds the destination's failing streak, which the store turns into a deactivation after
 * fail_window_ms. An attempt that cannot be signed is never sent: it fails with the reason.
 * Signing follows the destination's format (SPEC §8): MeetBit's X-Webhook-* headers, or
 * Standard Webhooks' webhook-* headers with one signature per secret in its grace.
 * The receiver's twin, the other runner of the same engine, is receive_handler.c.
 */
#include "serve_deliver.h"

#include "engine.h"
#include "hookd.h"
#include "log.h"
#include "mem.h"
#include "serve_signers.h"
#include "serve_held.h"
#include "serve_store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CUSTOM_HEADERS 32 /* a destination's headers sent, at most */
#define DEFAULT_POLL_MS 250
/* Record jobs at once when the leases are in the rows (PostgreSQL, or a shared SQLite file):
 * one, so outcomes ending while it runs wait for the next, larger one. On PostgreSQL every
 * job is a savepoint and its release around a statement, each a round trip the server pays
 * for; with a job per loop turn, a third of the batches held one outcome (docs/BENCHMARKS.md,
 * "The sender on PostgreSQL: fewer statements"). */
#define DELIVER_RECORDING_SHARED 1

struct serve_deliver {
    http_client *client;
    serve_signers *signers; /* destinations' keys, scheduled once (serve_signers.h) */
    serve_deliver_options opt;
    engine *engine;
    metric *attempts[2];    /* by result: success, failure */
    metric *transitions[3]; /* by the state an outcome leads to, from SERVE_STORE_SUCCEEDED */
    metric *latency, *in_flight_gauge, *lease_lost;
    serve_held *held; /* leases in memory (opt.leases_in_memory), or NULL: in the rows */
    db *held_conn;    /* the store connection serve_held_has is registered on (store thread) */
};

/* A copy of bytes that is valid UTF-8 without NUL: anything else becomes '?'. */
static char *utf8_sanitize(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, o = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < len) {
        /* A run of ASCII (an answer's header lines, most bodies) is copied whole: the
         * byte-by-byte check below was 2 k instructions per delivery (callgrind). */
        size_t run = i;
        while (run < len && u[run] >= 0x01 && u[run] < 0x80)
            run++;
        if (run > i) {
            memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            continue;
        }
        unsigned c = u[i];
        size_t n = 0;
        unsigned cp = 0;
        if (c >= 0x01 && c < 0x80)
            n = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            n = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4, cp = c & 0x07;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (ok && ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = false;
        if (!ok) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* ---- the store side (engine_store) ---- */

static int deliver_claim_work(db *conn, void *ctx, engine_claim *claim)
{
    serve_deliver *d = ctx;
    if (d->held && d->held_conn != conn) {
        /* the claim's SQL asks the set row by row (serve_store_claim) */
        int rc = db_sqlite_predicate(conn, SERVE_STORE_HELD_FN, serve_held_has, d->held);
        if (rc != 0)
            return rc;
        d->held_conn = conn;
    }
    return serve_store_claim(conn, claim, d->held);
}

static int deliver_record_work(db *conn, void *ctx, void *payload, const engine_outcome *o)
{
    (void)ctx;
    (void)o; /* copied into the item's outcome by deliver_decided */
    return serve_store_w_outcome(conn, ((serve_store_claimed *)payload)->outcome);
}

static int deliver_record_many(db *conn, void *ctx, void *const *items, int *rcs, size_t count)
{
    (void)ctx;
    serve_store_outcome **os = xcalloc(count ? count : 1, sizeof *os);
    for (size_t i = 0; i < count; i++)
        os[i] = ((serve_store_claimed *)items[i])->outcome;
    int rc = serve_store_outcomes(conn, os, rcs, count);
    free(os);
    return rc;
}

static int deliver_unclaim_work(db *conn, void *ctx, void *const *items, size_t count)
{
    serve_deliver *d = ctx;
    if (d->held)
        return 0; /* no lease in the rows: freeing the payloads gives them back */
    return serve_store_unclaim(conn, engine_owner(d->engine), items, count);
}

/* Leases in memory: at start every lease in the rows goes, whoever wrote it (a run with
 * leases in the rows before, under any node id: the store is this process's alone now). */
static int deliver_release_work(db *conn, void *ctx, const char *prefix, int64_t *released)
{
    serve_deliver *d = ctx;
    return serve_store_release(conn, d->held ? "" : prefix, released);
}

static int deliver_extend_work(db *conn, void *ctx, const char *owner, int64_t lease_until,
                               int64_t *extended)
{
    serve_deliver *d = ctx;
    if (d->held) {
        *extended = 0; /* held in memory for as long as the process lives */
        return 0;
    }
    return serve_store_extend(conn, owner, lease_until, extended);
}

static void deliver_recorded(void *ctx, void *payload, const engine_outcome *eo, int rc)
{
    serve_deliver *d = ctx;
    const serve_store_claimed *it = payload;
    const serve_store_outcome *o = it->outcome;
    (void)eo;
    if (rc == 0 && o->ops_webhooks > 0)
        engine_wake(d->engine); /* operational webhooks it stored are due now (serve_ops.h) */
    if (rc == HOOKD_ELEASE)
        metric_add(d->lease_lost, 1);
    else if (rc == 0 && o->deactivated)
        log_warn("deliver", "account %s destination %s deactivated: %s", it->account_id,
                 o->destination_id,
                 o->deactivate_reason ? o->deactivate_reason : "every attempt failed for too long");
}

static void deliver_payload_free(void *ctx, void *payload)
{
    (void)ctx;
    serve_store_claimed_free(payload);
}

/* ---- the runner (engine_runner) ---- */

/* The attempt's row and the webhook's next state, from the HTTP result; the engine decides
 * the state (deliver_decided). */
static serve_store_outcome *outcome_new(serve_deliver *d, const serve_store_claimed *it,
                                        const http_result *res, bool success)
{
    serve_store_outcome *o = xcalloc(1, sizeof *o);
    o->webhook_id = xstrdup(it->webhook_id);
    o->destination_id = xstrdup(it->destination_id);
    o->attempt_number = it->attempt_count + 1;
    o->row = it->row;
    o->duration_ms = res->duration_ms;
    o->status_code = res->status;
    o->fail_window_ms = d->opt.fail_window_ms;
    if (res->error) {
        o->error = xstrdup(res->error);
    } else if (!success) {
        char why[64];
        snprintf(why, sizeof why, "HTTP status %ld", res->status);
        o->error = xstrdup(why);
    }
    if (res->response && res->response_len > 0)
        o->response = utf8_sanitize(res->response, res->response_len);
    if (res->response_headers && res->response_headers_len > 0)
        o->response_headers = utf8_sanitize(res->response_headers, res->response_headers_len);
    if (res->status == 410)
        o->deactivate_reason = xstrdup("the destination answered 410 Gone");
    return o;
}

/* An attempt ended (or could not start): hands its outcome to the engine. */
static void attempt_done(void *arg, const http_result *res)
{
    engine_run *run = arg;
    serve_deliver *d = engine_run_ctx(run);
    serve_store_claimed *it = engine_run_payload(run);
    bool success = res->error == NULL && res->status >= 200 && res->status < 300;
    metric_add(d->attempts[success ? 0 : 1], 1);
    metric_observe(d->latency, (double)res->duration_ms);
    serve_store_outcome_free(it->outcome);
    it->outcome = outcome_new(d, it, res, success);
    log_debug("deliver", "account %s webhook %s attempt %lld: %s", it->account_id, it->webhook_id,
              (long long)(it->attempt_count + 1), success ? "delivered" : it->outcome->error);
    engine_result result = {
        .success = success,
        .final = res->status == 410,
        .retry_after_ms = (res->status == 429 || res->status == 503) ? res->retry_after_ms : -1,
    };
    engine_finished(run, &result);
    metric_set(d->in_flight_gauge, (double)engine_running(d->engine));
}

/* An attempt that is never sent: it fails at once with why. */
static void attempt_fail(engine_run *run, const char *why)
{
    http_result res;
    memset(&res, 0, sizeof res);
    res.error = why;
    res.retry_after_ms = -1;
    attempt_done(run, &res);
}

/* One attempt's signature headers' values, in the destination's format. */
typedef struct deliver_signature {
    char timestamp[HOOKD_TIMESTAMP_LEN + 1]; /* ISO 8601 (meetbit) or Unix seconds (standard) */
    /* meetbit: 64 hex digits; standard: "v1,…" for the current secret, then one per
     * previous secret in its grace, space-separated */
    char value[(1 + SERVE_SECRET_MAX_PREVIOUS) * (HOOKD_STANDARD_SIGNATURE_LEN + 1)];
} deliver_signature;

/* Standard Webhooks: the current secret's signature, then the previous ones' (a previous
 * secret that cannot sign is left out, never the attempt failed for it). */
static int deliver_sign_standard(serve_signers *signers, const serve_store_claimed *it,
                                 int64_t unix_seconds, deliver_signature *sig)
{
    snprintf(sig->timestamp, sizeof sig->timestamp, "%lld", (long long)unix_seconds);
    sig->value[0] = '\0';
    int rc;
    hookd_signer *s = serve_signers_get(signers, it->destination_id, 0, true, it->secret, &rc);
    if (s)
        rc = hookd_signer_standard_sign(s, it->webhook_id, unix_seconds, it->body, it->body_len,
                                        sig->value);
    size_t len = strlen(sig->value);
    for (size_t i = 0; rc == 0 && i < it->previous_count && i < SERVE_SECRET_MAX_PREVIOUS; i++) {
        int prc;
        s = serve_signers_get(signers, it->destination_id, i + 1, true, it->previous[i], &prc);
        sig->value[len] = ' ';
        if (s && hookd_signer_standard_sign(s, it->webhook_id, unix_seconds, it->body, it->body_len,
                                            sig->value + len + 1) == 0)
            len += 1 + HOOKD_STANDARD_SIGNATURE_LEN;
        sig->value[len] = '\0';
    }
    return rc;
}

/* Signs the attempt sent at unix_seconds and fills the three protocol headers (their values
 * point into sig). 0 or the HOOKD_E* code of the failure: then nothing may be sent. */
static int deliver_sign(serve_signers *signers, const serve_store_claimed *it, int64_t unix_seconds,
                        deliver_signature *sig, http_header headers[3])
{
    int rc;
    if (it->standard) {
        rc = deliver_sign_standard(signers, it, unix_seconds, sig);
        headers[0] = (http_header){HOOKD_STANDARD_HEADER_ID, it->webhook_id};
        headers[1] = (http_header){HOOKD_STANDARD_HEADER_TIMESTAMP, sig->timestamp};
        headers[2] = (http_header){HOOKD_STANDARD_HEADER_SIGNATURE, sig->value};
        return rc;
    }
    hookd_signed meetbit = {.timestamp = "", .signature = ""}; /* what a failure leaves */
    hookd_signer *s = serve_signers_get(signers, it->destination_id, 0, false, it->secret, &rc);
    if (s)
        rc = hookd_signer_sign_attempt(s, it->webhook_id, unix_seconds, it->body, it->body_len,
                                       &meetbit);
    snprintf(sig->timestamp, sizeof sig->timestamp, "%s", meetbit.timestamp);
    snprintf(sig->value, sizeof sig->value, "%s", meetbit.signature);
    headers[0] = (http_header){HOOKD_HEADER_ID, it->webhook_id};
    headers[1] = (http_header){HOOKD_HEADER_TIMESTAMP, sig->timestamp};
    headers[2] = (http_header){HOOKD_HEADER_SIGNATURE, sig->value};
    return rc;
}

/* Signs and posts one attempt. */
static void deliver_start(void *ctx, engine_run *run, void *payload)
{
    serve_deliver *d = ctx;
    serve_store_claimed *it = payload;
    metric_set(d->in_flight_gauge, (double)engine_running(d->engine));
    deliver_signature sig;
    http_header headers[3 + MAX_CUSTOM_HEADERS];
    int rc = deliver_sign(d->signers, it, engine_run_started_at(run) / 1000, &sig, headers);
    if (rc != 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot sign the attempt: %s", hookd_strerror(rc));
        attempt_fail(run, why);
        return;
    }
    size_t n = 3;
    json_t *custom = json_loads(it->headers_json ? it->headers_json : "{}", 0, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(custom, key, value)
    {
        if (n >= sizeof headers / sizeof headers[0])
            break;
        if (json_is_string(value))
            headers[n++] = (http_header){key, json_string_value(value)};
    }
    http_request req = {
        .url = it->url,
        .headers = headers,
        .header_count = n,
        .body = it->body,
        .body_len = it->body_len,
        .timeout_ms = d->opt.timeout_ms,
    };
    rc = http_client_post(d->client, &req, attempt_done, run);
    json_decref(custom);
    if (rc != 0)
        attempt_fail(run, "URL scheme not allowed (https only, or --allow-http)");
}

/* The engine's decision goes into the outcome the store will write. */
static void deliver_decided(void *ctx, void *payload, const engine_outcome *eo)
{
    serve_deliver *d = ctx;
    serve_store_outcome *o = ((serve_store_claimed *)payload)->outcome;
    o->owner = d->held ? NULL : eo->owner;
    o->now = eo->now;
    o->started_at = eo->started_at;
    o->next_attempt_at = eo->next_attempt_at;
    o->state = eo->state == ENGINE_DONE    ? SERVE_STORE_SUCCEEDED
               : eo->state == ENGINE_RETRY ? SERVE_STORE_RETRY
                                           : SERVE_STORE_FAILED;
    metric_add(d->transitions[o->state - SERVE_STORE_SUCCEEDED], 1);
}

/* ---- public ---- */

static void deliver_metrics(serve_deliver *d, metrics *registry)
{
    static const char *const results[] = {"success", "failure"};
    /* In the order of serve_store's states from SERVE_STORE_SUCCEEDED (pending: a retry). */
    static const char *const states[] = {"succeeded", "pending", "failed"};
    metrics_counters(registry, "hookd_attempts_total", "result", results, 2,
                     "Delivery attempts made, by result.", d->attempts);
    d->latency = metrics_histogram_ms(registry, "hookd_attempt_duration_ms", NULL,
                                      "Duration of delivery attempts in milliseconds.");
    d->in_flight_gauge =
        metrics_gauge(registry, "hookd_attempts_in_flight", NULL, "Delivery attempts under way.");
    metrics_counters(registry, "hookd_webhook_transitions_total", "to", states, 3,
                     "Webhook state changes after an attempt.", d->transitions);
    d->lease_lost = metrics_counter(registry, "hookd_lease_lost_total", NULL,
                                    "Attempts whose outcome was dropped: the lease was lost.");
}

serve_deliver *serve_deliver_new(struct event_base *base, db_worker *worker, http_client *client,
                                 metrics *registry, const serve_deliver_options *options)
{
    serve_deliver *d = xcalloc(1, sizeof *d);
    d->client = client;
    d->signers = serve_signers_new();
    d->opt = *options;
    d->opt.node_id = NULL; /* the engine keeps its own copy */
    if (options->leases_in_memory)
        d->held = serve_held_new();
    deliver_metrics(d, registry);
    engine_options eo = {
        .name = "deliver",
        .node_id = options->node_id,
        .max_runs = options->max_in_flight,
        .max_per_key = options->max_per_destination,
        .max_held = options->max_in_flight,
        .max_recording = options->leases_in_memory ? 0 : DELIVER_RECORDING_SHARED,
        .timeout_ms = options->timeout_ms,
        .lease_ms = options->lease_ms,
        .poll_ms = options->poll_ms > 0 ? options->poll_ms : DEFAULT_POLL_MS,
        .max_attempts = options->max_attempts,
        .retry = options->retry,
        .submit_ctx = worker,
    };
    engine_store store = {
        .ctx = d,
        .claim_work = deliver_claim_work,
        .record_work = deliver_record_work,
        .record_many = deliver_record_many,
        .unclaim_work = deliver_unclaim_work,
        .release_work = deliver_release_work,
        .extend_work = deliver_extend_work,
        .recorded = deliver_recorded,
        .payload_free = deliver_payload_free,
    };
    engine_runner runner = {.ctx = d, .start = deliver_start, .decided = deliver_decided};
    d->engine = engine_new(base, &eo, &store, &runner);
    return d;
}

const char *serve_deliver_owner(const serve_deliver *d)
{
    return engine_owner(d->engine);
}

void serve_deliver_wake(serve_deliver *d)
{
    engine_wake(d->engine);
}

void serve_deliver_stop(serve_deliver *d, void (*drained)(void *arg), void *arg)
{
    engine_stop(d->engine, drained, arg);
}

size_t serve_deliver_in_flight(const serve_deliver *d)
{
    return engine_running(d->engine);
}

void serve_deliver_free(serve_deliver *d)
{
    if (!d)
        return;
    engine_free(d->engine); /* frees the payloads: the held set empties */
    serve_held_free(d->held);
    serve_signers_free(d->signers);
    free(d);
}
