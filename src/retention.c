/*
 * retention.c — the paced purge loop of --retention (see retention.h): a pass starts on a
 * timer, submits one batch, and submits the next one pause_ms after a full batch commits,
 * until a batch comes back short. The cut-off is fixed per pass, so a pass ends even while
 * new items keep ageing into it. retention_purge_ids is the batch both sides' SQL shares.
 */
#include "retention.h"

#include "hookd.h"
#include "log.h"
#include "loop.h"
#include "mem.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs sql_head followed by "($1, …, $count)" with the ids as parameters. */
static int delete_ids(db *conn, const char *sql_head, char **ids, size_t count)
{
    size_t cap = strlen(sql_head) + 2 + count * 8;
    char *sql = xmalloc(cap);
    size_t len = (size_t)snprintf(sql, cap, "%s(", sql_head);
    db_param *p = xcalloc(count, sizeof *p);
    for (size_t i = 0; i < count; i++) {
        len += (size_t)snprintf(sql + len, cap - len, "%s$%zu", i ? ", " : "", i + 1);
        p[i] = (db_param)DB_S(ids[i]);
    }
    snprintf(sql + len, cap - len, ")");
    int rc = db_query(conn, sql, p, count, NULL, NULL);
    free(p);
    free(sql);
    return rc;
}

int retention_purge_ids(db *conn, retention_batch *batch, const char *select_sql,
                        const char *const *deletes, size_t delete_count)
{
    char *locked = NULL;
    if (db_kind(conn) == DB_POSTGRES) {
        static const char lock[] = " FOR UPDATE SKIP LOCKED";
        locked = xmalloc(strlen(select_sql) + sizeof lock);
        snprintf(locked, strlen(select_sql) + sizeof lock, "%s%s", select_sql, lock);
    }
    db_rows *rows = NULL;
    db_param p[] = {DB_I(batch->before), DB_I(batch->limit)};
    int rc = db_query(conn, locked ? locked : select_sql, p, 2, &rows, NULL);
    free(locked);
    size_t count = 0;
    char **ids = xcalloc(batch->limit > 0 ? (size_t)batch->limit : 1, sizeof *ids);
    while (rc == 0 && count < (size_t)batch->limit && db_rows_next(rows))
        ids[count++] = db_rows_strdup(rows, 0);
    db_rows_free(rows);
    for (size_t i = 0; rc == 0 && count > 0 && i < delete_count; i++)
        rc = delete_ids(conn, deletes[i], ids, count);
    if (rc != 0)
        log_error("retention", "purge query failed: %s", db_errmsg(conn));
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    batch->deleted = rc == 0 ? (int64_t)count : 0;
    return rc;
}

struct retention {
    retention_options opt;
    db_worker *worker;
    struct event *pass_timer;  /* starts a pass */
    struct event *batch_timer; /* the next batch of a pass, after the pause */
    retention_batch job;       /* the batch under way or the last one */
    int64_t pass_deleted;      /* deleted so far in this pass */
    bool running;              /* a batch is queued or running on the store thread */
    bool stopped;              /* retention_stop was called: free once the batch is back */
};

static void retention_free(retention *r)
{
    event_free(r->pass_timer);
    event_free(r->batch_timer);
    free(r);
}

static int retention_work(db *conn, void *arg)
{
    retention *r = arg;
    r->job.deleted = 0;
    return r->opt.work(conn, &r->job);
}

static void retention_done(void *arg, int rc)
{
    retention *r = arg;
    r->running = false;
    if (r->stopped) {
        retention_free(r);
        return;
    }
    if (rc != 0) {
        log_warn(r->opt.name, "retention purge failed: %s (again at the next pass)",
                 hookd_strerror(rc));
        return;
    }
    r->pass_deleted += r->job.deleted;
    if (r->job.deleted >= r->job.limit) {
        loop_timer_add(r->batch_timer, r->opt.pause_ms); /* more: after a breath */
        return;
    }
    if (r->pass_deleted > 0)
        log_info(r->opt.name, "retention: deleted %lld %s", (long long)r->pass_deleted,
                 r->opt.what);
}

static void retention_batch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    retention *r = arg;
    r->running = true;
    db_worker_submit(r->worker, retention_work, retention_done, r);
}

static void retention_pass_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    retention *r = arg;
    if (r->running || event_pending(r->batch_timer, EV_TIMEOUT, NULL))
        return; /* the last pass is still going */
    r->job = (retention_batch){.before = loop_now_ms() - r->opt.keep_ms, .limit = r->opt.batch};
    r->pass_deleted = 0;
    retention_batch_cb(-1, 0, r);
}

retention *retention_start(struct event_base *base, db_worker *worker,
                           const retention_options *options)
{
    retention *r = xcalloc(1, sizeof *r);
    r->opt = *options;
    if (r->opt.batch <= 0)
        r->opt.batch = RETENTION_BATCH;
    if (r->opt.pause_ms <= 0)
        r->opt.pause_ms = RETENTION_PAUSE_MS;
    r->worker = worker;
    r->pass_timer = loop_timer_new(base, true, retention_pass_cb, r);
    r->batch_timer = loop_timer_new(base, false, retention_batch_cb, r);
    int64_t every = r->opt.keep_ms < RETENTION_EVERY_MS ? r->opt.keep_ms : RETENTION_EVERY_MS;
    loop_timer_add(r->pass_timer, every > RETENTION_EVERY_MIN_MS ? every : RETENTION_EVERY_MIN_MS);
    retention_pass_cb(-1, 0, r);
    return r;
}

void retention_stop(retention *r)
{
    if (!r)
        return;
    loop_timer_stop(r->pass_timer);
    loop_timer_stop(r->batch_timer);
    if (r->running)
        r->stopped = true; /* retention_done frees it */
    else
        retention_free(r);
}
