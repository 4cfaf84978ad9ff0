/*
 * dispatcher.c — claims due webhooks, attempts them under global and per-destination caps,
 * records each outcome. Claims run ahead: a destination whose attempts finish quickly keeps
 * up to CLAIM_AHEAD times its slots claimed in memory, so a finished attempt refills its slot
 * at once and claims come in large batches, not one per finished attempt. The queue is
 * bounded by time as well: only as many rounds as the destination completes within a small
 * share of the lease are claimed ahead (none for a destination that hangs or has not
 * finished an attempt yet), and a queued webhook whose lease no longer covers a whole
 * attempt is dropped, not started (its lease runs out and it is claimed again). Every write
 * goes through the db_worker: outcomes of one loop turn land in the same batch transaction.
 */
#include "serve_deliver.h"
#include "mem.h"

#include "hookd.h"
#include "log.h"
#include "loop.h"
#include "serve_store.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEST_BUCKETS 256           /* hash buckets of the per-destination table */
#define CLAIM_BATCH_MAX 256        /* webhooks one claim takes at most */
#define MAX_CUSTOM_HEADERS 32      /* a destination's headers sent, at most */
#define DEFAULT_POLL_MS 250
#define CLAIM_AHEAD 8              /* a fast destination's claimed work: up to 8x its slots */
#define AHEAD_LEASE_SHARE 20       /* queued rounds must finish within 1/20 of the lease */
#define LEASE_MARGIN_MS 1000       /* an attempt starts only with this much lease to spare
                                      (less when lease - timeout is short: half of it) */

typedef struct destination_state destination_state;

/* One claimed webhook, from its claim to its recorded outcome. */
typedef struct attempt {
    serve_deliver *owner;
    serve_store_claimed item;        /* what the claim returned (owned) */
    destination_state *dest;   /* its destination's slot counter */
    int64_t started_at;        /* wall clock, ms */
    int64_t lease_until;       /* wall clock, ms: the lease's end */
    struct attempt *next;      /* in the destination's queue */
} attempt;

/* Slots and queue of one destination with work under way. Freed when idle. */
struct destination_state {
    char *id;
    int in_flight;             /* attempts under way */
    int queued;                /* attempts waiting for a slot */
    attempt *head, *tail;      /* the waiting ones, oldest first */
    int64_t avg_ms;            /* moving average of its attempts' durations, -1: none yet */
    int64_t last_done_at;      /* wall clock ms the last attempt ended (or state created) */
    int asked;                 /* webhooks the claim under way may take of it (-1: not asked) */
    bool maybe_more;           /* its last claim filled its room: more may be due */
    destination_state *next;   /* hash chain */
};

struct serve_deliver {
    struct event_base *base;
    db_worker *worker;
    http_client *client;
    serve_deliver_options opt;
    char *owner;                           /* copy of opt.owner */
    destination_state *buckets[DEST_BUCKETS];
    int in_flight;                         /* attempts under way, all destinations */
    int queued;                            /* claimed, waiting for a slot */
    int recording;                         /* outcomes submitted, not yet committed */
    bool claiming;                         /* a claim job is with the worker */
    bool rewake;                           /* woken while claiming: claim again after */
    bool stopping;
    char *cursor;                          /* where the next claim starts (store_claim) */
    void (*drained)(void *arg);
    void *drained_arg;
    bool drained_called;
    int releasing;                         /* 0, 1 while the leases are released, 2 done */
    struct event *tick;                    /* the poll / next-due timer */
    struct event *pump;                    /* starts queued attempts on the next turn */
    int64_t tick_at;                       /* monotonic ms the timer fires at, 0 if idle */
    metric *attempts_ok, *attempts_failed, *latency, *in_flight_gauge, *outcome_retry,
        *outcome_failed, *outcome_succeeded, *lease_lost;
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % DEST_BUCKETS;
}

static destination_state *dest_find(serve_deliver *d, const char *id, bool create)
{
    unsigned b = hash(id);
    for (destination_state *s = d->buckets[b]; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    if (!create)
        return NULL;
    destination_state *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->id = xstrdup(id);
    s->avg_ms = -1;
    s->last_done_at = loop_now_ms();
    s->asked = -1;
    s->next = d->buckets[b];
    d->buckets[b] = s;
    return s;
}

/* Work a destination may have claimed (under way + queued): its slots, plus as many more
 * rounds of them as it completes within lease_ms / AHEAD_LEASE_SHARE at its pace. The pace
 * is its average attempt duration, or the time since its last attempt ended when that is
 * longer and attempts are under way (a destination that just started to hang). */
static int dest_depth(const serve_deliver *d, const destination_state *s, int64_t now)
{
    int slots = d->opt.max_per_destination;
    if (s->avg_ms < 0)
        return slots;
    int64_t pace = s->avg_ms;
    if (s->in_flight > 0 && now - s->last_done_at > pace)
        pace = now - s->last_done_at;
    if (pace < 1)
        pace = 1;
    int64_t rounds = d->opt.lease_ms / AHEAD_LEASE_SHARE / pace;
    if (rounds > CLAIM_AHEAD - 1)
        rounds = CLAIM_AHEAD - 1;
    return slots * (1 + (int)rounds);
}

/* Drops a destination's state once nothing is under way or waiting for it. */
static void dest_release_if_idle(serve_deliver *d, destination_state *s)
{
    if (s->in_flight > 0 || s->queued > 0)
        return;
    destination_state **pp = &d->buckets[hash(s->id)];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    free(s->id);
    free(s);
}

static void attempt_free(attempt *a)
{
    serve_store_claimed_clear(&a->item);
    free(a);
}

/* A copy of bytes that is valid UTF-8 without NUL: anything else becomes '?'. */
static char *utf8_sanitize(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, o = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < len) {
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

static void claim_start(serve_deliver *d);
static void dest_pump(serve_deliver *d, destination_state *s);

static int release_work(db *conn, void *arg)
{
    return serve_store_w_release_owner(conn, (void *)((serve_deliver *)arg)->owner);
}

static void check_drained(serve_deliver *d);

static void release_done(void *arg, int rc)
{
    serve_deliver *d = arg;
    if (rc != 0)
        log_warn("dispatcher", "cannot release the leases of waiting webhooks (%s); other "
                 "nodes take them when the leases expire", hookd_strerror(rc));
    d->releasing = 2;
    check_drained(d);
}

static void check_drained(serve_deliver *d)
{
    if (!d->stopping || d->drained_called || d->in_flight > 0 || d->recording > 0 ||
        d->claiming || d->releasing == 1)
        return;
    /* Every attempt under way is recorded: what this node still holds was claimed and never
     * started. Hand it back now rather than make the other nodes wait out the lease. */
    if (d->releasing == 0) {
        d->releasing = 1;
        db_worker_submit(d->worker, release_work, release_done, d);
        return;
    }
    d->drained_called = true;
    if (d->drained)
        d->drained(d->drained_arg);
}

/* Arms the timer to fire in `ms` unless it already fires sooner. */
static void tick_arm(serve_deliver *d, int64_t ms)
{
    if (d->stopping || d->opt.max_in_flight == 0)
        return;
    if (ms < 0)
        ms = 0;
    int64_t at = loop_monotonic_ms() + ms;
    if (d->tick_at != 0 && d->tick_at <= at)
        return;
    d->tick_at = at;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(d->tick, &tv);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_deliver *d = arg;
    d->tick_at = 0;
    claim_start(d);
    if (!d->claiming)
        tick_arm(d, d->opt.poll_ms);
}

/* ---- outcomes ---- */

/* The state carried from an attempt's end to its outcome's commit. */
typedef struct recording {
    serve_deliver *d;
    serve_store_outcome *outcome;
} recording;

static int recording_work(db *conn, void *arg)
{
    return serve_store_w_outcome(conn, ((recording *)arg)->outcome);
}

static void recording_done(void *arg, int rc)
{
    recording *r = arg;
    serve_deliver *d = r->d;
    serve_store_outcome *o = r->outcome;
    d->recording--;
    if (rc == HOOKD_ELEASE) {
        metric_add(d->lease_lost, 1);
        log_warn("dispatcher", "webhook %s: lease lost, attempt not recorded", o->webhook_id);
    } else if (rc != 0) {
        log_error("dispatcher", "webhook %s: cannot record the attempt (%s); it will be "
                  "attempted again when its lease expires", o->webhook_id, hookd_strerror(rc));
    } else {
        if (o->state == SERVE_STORE_RETRY)
            tick_arm(d, o->next_attempt_at - loop_now_ms());
        if (o->deactivated)
            log_warn("dispatcher", "destination %s deactivated: %s", o->destination_id,
                     o->deactivate_reason ? o->deactivate_reason
                                          : "every attempt failed for too long");
    }
    serve_store_outcome_free(o);
    free(r);
    check_drained(d);
}

static void attempt_done(void *arg, const http_result *res)
{
    attempt *a = arg;
    serve_deliver *d = a->owner;
    destination_state *s = a->dest;
    int64_t now = loop_now_ms();
    bool success = res->error == NULL && res->status >= 200 && res->status < 300;
    int64_t round = a->item.round_attempts + 1;

    metric_add(success ? d->attempts_ok : d->attempts_failed, 1);
    metric_observe(d->latency, (double)res->duration_ms);

    serve_store_outcome *o = xmalloc(sizeof *o);
    memset(o, 0, sizeof *o);
    o->owner = d->owner;
    o->webhook_id = a->item.webhook_id;
    a->item.webhook_id = NULL;
    o->destination_id = xstrdup(a->item.destination_id);
    o->now = now;
    o->started_at = a->started_at;
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

    if (success) {
        o->state = SERVE_STORE_SUCCEEDED;
        metric_add(d->outcome_succeeded, 1);
    } else if (res->status == 410) {
        o->state = SERVE_STORE_FAILED;
        o->deactivate_reason = xstrdup("the destination answered 410 Gone");
        metric_add(d->outcome_failed, 1);
    } else if (round >= d->opt.max_attempts) {
        o->state = SERVE_STORE_FAILED;
        metric_add(d->outcome_failed, 1);
    } else {
        int64_t retry_after =
            (res->status == 429 || res->status == 503) ? res->retry_after_ms : -1;
        o->state = SERVE_STORE_RETRY;
        o->next_attempt_at =
            now + retry_delay_ms(&d->opt.retry, (int)round + 1, retry_after, retry_jitter());
        metric_add(d->outcome_retry, 1);
    }

    recording *r = xmalloc(sizeof *r);
    r->d = d;
    r->outcome = o;
    d->recording++;
    db_worker_submit(d->worker, recording_work, recording_done, r);

    log_debug("dispatcher", "webhook %s attempt %lld: %s", o->webhook_id,
              (long long)(a->item.attempt_count + 1),
              success ? "delivered" : (o->error ? o->error : "failed"));

    d->in_flight--;
    s->in_flight--;
    s->avg_ms = s->avg_ms < 0 ? res->duration_ms : (s->avg_ms * 7 + res->duration_ms) / 8;
    s->last_done_at = now;
    metric_set(d->in_flight_gauge, d->in_flight);
    attempt_free(a);
    /* Claim when a round of this destination's room is free and it may have more due, or
     * when it emptied (other destinations may be waiting for room). */
    bool want = s->maybe_more && s->in_flight + s->queued <=
                                     dest_depth(d, s, now) - d->opt.max_per_destination;
    /* The next queued attempt starts on the next loop turn, not from inside the http
     * client's completion callback (a transfer added from there may never be driven). */
    if (!d->stopping && s->head)
        event_active(d->pump, EV_TIMEOUT, 0);
    bool idle = s->in_flight == 0 && s->queued == 0;
    dest_release_if_idle(d, s);
    if (!d->stopping && (want || idle))
        serve_deliver_wake(d);
    check_drained(d);
}

/* Ends an attempt that could not start (its URL's scheme is not allowed any more). */
static void attempt_refused_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt *a = arg;
    http_result res;
    memset(&res, 0, sizeof res);
    res.error = "URL scheme not allowed (https only, or --allow-http)";
    res.retry_after_ms = -1;
    attempt_done(a, &res);
}

/* Signs and posts one attempt. */
static void attempt_start(serve_deliver *d, attempt *a)
{
    serve_store_claimed *it = &a->item;
    char ts[HOOKD_TIMESTAMP_LEN + 1];
    char sig[HOOKD_SIGNATURE_HEX_LEN + 1];
    a->started_at = loop_now_ms();
    hookd_timestamp_format(a->started_at / 1000, ts);
    hookd_sign(it->secret, strlen(it->secret), it->webhook_id, ts, it->body, it->body_len, sig);

    http_header headers[3 + MAX_CUSTOM_HEADERS];
    size_t n = 0;
    headers[n++] = (http_header){"X-Webhook-Id", it->webhook_id};
    headers[n++] = (http_header){"X-Webhook-Timestamp", ts};
    headers[n++] = (http_header){"X-Webhook-Signature", sig};
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
    d->in_flight++;
    a->dest->in_flight++;
    metric_set(d->in_flight_gauge, d->in_flight);
    int rc = http_client_post(d->client, &req, attempt_done, a);
    json_decref(custom);
    if (rc != 0) {
        struct timeval zero = {0, 0};
        event_base_once(d->base, -1, EV_TIMEOUT, attempt_refused_cb, a, &zero);
    }
}

/* Starts the destination's waiting attempts while it has free slots. One whose lease
 * would not outlast the attempt is dropped: it is claimed again once the lease is over. */
static void dest_pump(serve_deliver *d, destination_state *s)
{
    while (s->head && s->in_flight < d->opt.max_per_destination) {
        attempt *a = s->head;
        s->head = a->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        d->queued--;
        int64_t margin = (d->opt.lease_ms - d->opt.timeout_ms) / 2;
        if (margin > LEASE_MARGIN_MS)
            margin = LEASE_MARGIN_MS;
        if (a->lease_until - loop_now_ms() < d->opt.timeout_ms + margin) {
            log_debug("dispatcher", "webhook %s: waited too long for a slot, left for its "
                      "lease to expire", a->item.webhook_id);
            tick_arm(d, a->lease_until - loop_now_ms() + 1);
            attempt_free(a);
            continue;
        }
        attempt_start(d, a);
    }
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_deliver *d = arg;
    if (d->stopping)
        return;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (destination_state *s = d->buckets[b]; s; s = s->next)
            if (s->head && s->in_flight < d->opt.max_per_destination)
                dest_pump(d, s);
}

/* ---- claims ---- */

/* A claim in flight, with its dispatcher. */
typedef struct claiming {
    serve_deliver *d;
    serve_store_claim *claim;
} claiming;

static int claiming_work(db *conn, void *arg)
{
    return serve_store_w_claim(conn, ((claiming *)arg)->claim);
}

static void claiming_done(void *arg, int rc)
{
    claiming *cl = arg;
    serve_deliver *d = cl->d;
    serve_store_claim *c = cl->claim;
    d->claiming = false;
    bool full = false;
    if (rc != 0) {
        log_error("dispatcher", "claim failed: %s", hookd_strerror(rc));
    } else if (d->stopping) {
        if (c->count > 0)
            log_info("dispatcher", "shutting down: %zu claimed webhooks left for later",
                     c->count);
    } else {
        full = c->more;
        free(d->cursor);
        d->cursor = c->cursor;
        c->cursor = NULL;
        for (size_t i = 0; i < c->count; i++) {
            attempt *a = xmalloc(sizeof *a);
            memset(a, 0, sizeof *a);
            a->owner = d;
            a->item = c->items[i];
            a->lease_until = c->lease_until;
            memset(&c->items[i], 0, sizeof c->items[i]);
            a->dest = dest_find(d, a->item.destination_id, true);
            if (a->dest->asked < 0)
                a->dest->asked = c->per_destination; /* not in the claim's limits */
            a->dest->asked--;
            if (a->dest->tail)
                a->dest->tail->next = a;
            else
                a->dest->head = a;
            a->dest->tail = a;
            a->dest->queued++;
            d->queued++;
        }
        for (size_t b = 0; b < DEST_BUCKETS; b++)
            for (destination_state *s = d->buckets[b]; s; s = s->next) {
                if (s->asked >= 0)
                    s->maybe_more = s->asked == 0; /* got all it asked for */
                s->asked = -1;
                if (s->head)
                    dest_pump(d, s);
            }
        if (c->next_due > 0)
            tick_arm(d, c->next_due - loop_now_ms());
    }
    if (rc == 0 && !d->stopping)
        c->count = 0; /* the items were moved into attempts */
    serve_store_claim_free(c);
    free(cl);
    if (!d->stopping) {
        if (full || d->rewake) {
            d->rewake = false;
            claim_start(d);
        }
        tick_arm(d, d->opt.poll_ms);
    }
    check_drained(d);
}

/* Submits a claim for as many webhooks as there are free slots. */
static void claim_start(serve_deliver *d)
{
    if (d->stopping || d->opt.max_in_flight == 0)
        return;
    if (d->claiming) {
        d->rewake = true;
        return;
    }
    int room = d->opt.max_in_flight - d->in_flight - d->queued;
    if (room <= 0)
        return;
    if (room > CLAIM_BATCH_MAX)
        room = CLAIM_BATCH_MAX;
    serve_store_claim *c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->owner = d->owner;
    c->now = loop_now_ms();
    c->lease_until = c->now + d->opt.lease_ms;
    c->limit = room;
    c->per_destination = d->opt.max_per_destination;
    c->cursor = d->cursor ? xstrdup(d->cursor) : NULL;
    size_t busy = 0;
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (destination_state *s = d->buckets[b]; s; s = s->next)
            busy++;
    c->limits = xmalloc((busy ? busy : 1) * sizeof *c->limits);
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (destination_state *s = d->buckets[b]; s; s = s->next) {
            int free_slots = dest_depth(d, s, c->now) - s->in_flight - s->queued;
            if (free_slots < 0)
                free_slots = 0;
            s->asked = free_slots > 0 ? free_slots : -1;
            c->limits[c->limit_count].destination_id = xstrdup(s->id);
            c->limits[c->limit_count].free = free_slots;
            c->limit_count++;
        }
    claiming *cl = xmalloc(sizeof *cl);
    cl->d = d;
    cl->claim = c;
    d->claiming = true;
    db_worker_submit(d->worker, claiming_work, claiming_done, cl);
}

/* ---- public ---- */

serve_deliver *serve_deliver_new(struct event_base *base, db_worker *worker, http_client *client,
                           metrics *registry, const serve_deliver_options *options)
{
    serve_deliver *d = xmalloc(sizeof *d);
    memset(d, 0, sizeof *d);
    d->base = base;
    d->worker = worker;
    d->client = client;
    d->opt = *options;
    if (d->opt.poll_ms <= 0)
        d->opt.poll_ms = DEFAULT_POLL_MS;
    if (d->opt.max_in_flight < 0)
        d->opt.max_in_flight = 0;
    if (d->opt.max_per_destination <= 0)
        d->opt.max_per_destination = 1;
    d->owner = xstrdup(options->owner);
    d->opt.owner = d->owner;
    d->tick = evtimer_new(base, tick_cb, d);
    d->pump = event_new(base, -1, 0, pump_cb, d);
    if (!d->tick || !d->pump) {
        fputs("hookd: cannot create a timer\n", stderr);
        abort();
    }
    d->attempts_ok = metrics_counter(registry, "hookd_attempts_total", "result=\"success\"",
                                     "Delivery attempts made, by result.");
    d->attempts_failed = metrics_counter(registry, "hookd_attempts_total",
                                         "result=\"failure\"",
                                         "Delivery attempts made, by result.");
    d->latency = metrics_histogram_ms(registry, "hookd_attempt_duration_ms", NULL,
                                      "Duration of delivery attempts in milliseconds.");
    d->in_flight_gauge = metrics_gauge(registry, "hookd_attempts_in_flight", NULL,
                                       "Delivery attempts under way.");
    d->outcome_succeeded = metrics_counter(registry, "hookd_webhook_transitions_total",
                                           "to=\"succeeded\"",
                                           "Webhook state changes after an attempt.");
    d->outcome_retry = metrics_counter(registry, "hookd_webhook_transitions_total",
                                       "to=\"pending\"",
                                       "Webhook state changes after an attempt.");
    d->outcome_failed = metrics_counter(registry, "hookd_webhook_transitions_total",
                                        "to=\"failed\"",
                                        "Webhook state changes after an attempt.");
    d->lease_lost = metrics_counter(registry, "hookd_lease_lost_total", NULL,
                                    "Attempts whose outcome was dropped: the lease was lost.");
    if (d->opt.max_in_flight > 0)
        tick_arm(d, 0);
    return d;
}

void serve_deliver_wake(serve_deliver *d)
{
    claim_start(d);
}

static void drained_later_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    check_drained(arg);
}

void serve_deliver_stop(serve_deliver *d, void (*drained)(void *arg), void *arg)
{
    d->stopping = true;
    d->drained = drained;
    d->drained_arg = arg;
    evtimer_del(d->tick);
    d->tick_at = 0;
    /* Waiting attempts are not started: their leases are released once the attempts under
     * way are recorded (check_drained). */
    for (size_t b = 0; b < DEST_BUCKETS; b++) {
        destination_state **pp = &d->buckets[b];
        while (*pp) {
            destination_state *s = *pp;
            while (s->head) {
                attempt *a = s->head;
                s->head = a->next;
                attempt_free(a);
            }
            s->tail = NULL;
            d->queued -= s->queued;
            s->queued = 0;
            if (s->in_flight == 0) {
                *pp = s->next;
                free(s->id);
                free(s);
            } else {
                pp = &s->next;
            }
        }
    }
    struct timeval zero = {0, 0};
    event_base_once(d->base, -1, EV_TIMEOUT, drained_later_cb, d, &zero);
}

size_t serve_deliver_in_flight(const serve_deliver *d)
{
    return (size_t)d->in_flight;
}

void serve_deliver_free(serve_deliver *d)
{
    if (!d)
        return;
    for (size_t b = 0; b < DEST_BUCKETS; b++) {
        destination_state *s = d->buckets[b];
        while (s) {
            destination_state *next = s->next;
            while (s->head) {
                attempt *a = s->head;
                s->head = a->next;
                attempt_free(a);
            }
            free(s->id);
            free(s);
            s = next;
        }
    }
    event_free(d->tick);
    event_free(d->pump);
    free(d->cursor);
    free(d->owner);
    free(d);
}
