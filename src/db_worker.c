/*
 * db_worker.c — the store thread: takes every job queued since its last batch, runs them in
 * one transaction (each inside its own savepoint, so one failing job undoes only its own
 * writes), commits once, and hands the finished jobs back to the event loop, where their
 * done callbacks run.
 *
 * The loop is woken with event_active on an fd-less event; libevent's pthread support
 * (loop_new) makes that safe from this thread.
 *
 * Urgent and lazy jobs: a job whose caller waits on it (a webhook's 200, an API answer) is
 * urgent (db_worker_submit); the engine's bookkeeping (claims, outcomes) may be lazy
 * (db_worker_submit_lazy). While urgent jobs keep coming (one within DB_WORKER_ACTIVE_MS),
 * a queue of only lazy jobs waits for the next urgent one, at most DB_WORKER_LINGER_MS, so
 * both share one commit and one fsync: without it a burst's outcomes took commits of their
 * own between the ingest commits, and each webhook's 200 waited behind one (measured in
 * docs/BENCHMARKS.md, "Receiver pace"). Nothing is reordered: a batch still takes the queue
 * from its head.
 *
 * Health (/readyz): the thread notes when its batch started and how the last one ended — a
 * failed begin/commit, or any job answering HOOKD_ESTORE, is a failure with the backend's
 * message. db_worker_ready judges from that: a batch under way for DB_WORKER_STUCK_MS is a
 * store not answering; an outcome younger than DB_WORKER_FRESH_MS is the answer; else a
 * probe job (db_probe, a real write) runs and its result is the answer.
 */
#include "db_internal.h"

#include "hookd.h"
#include "log.h"

#include <event2/event.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define DB_WORKER_DEFAULT_BATCH 1024
#define DB_WORKER_STUCK_MS 3000 /* a batch under way this long: the store is not answering */
#define DB_WORKER_FRESH_MS 1000 /* a batch outcome this recent answers /readyz without a probe */
#define DB_WORKER_ACTIVE_MS 100 /* an urgent job this recent: lazy jobs wait for the next one */
#define DB_WORKER_LINGER_MS 10  /* … but no longer than this */

typedef struct db_job {
    db_work_fn work;
    db_done_fn done;
    void *arg;
    int rc; /* the work's result, or HOOKD_ESTORE when the batch failed */
    bool lazy;
    int64_t queued_at; /* monotonic ms it was submitted */
    struct db_job *next;
} db_job;

/* A singly linked FIFO of jobs. */
typedef struct job_list {
    db_job *head;
    db_job *tail;
} job_list;

struct db_worker {
    struct event_base *base;
    db *conn; /* owned; used only by the thread until it is joined */
    size_t max_batch;
    pthread_t thread;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* signalled when a job is queued or stop is asked */
    job_list queue;       /* submitted, not yet taken */
    job_list completed;   /* run, waiting for their done on the loop */
    size_t pending;       /* submitted and whose done has not yet been called */
    size_t urgent;        /* urgent jobs in queue */
    bool lingering;       /* the thread waits, lazy jobs queued, for an urgent one */
    int64_t urgent_at;    /* monotonic ms the last urgent job was submitted, 0: never */
    bool stopping;
    struct event *notify;  /* activated to run completed jobs' done on the loop */
    int64_t batch_started; /* monotonic ms the batch under way started, 0: none */
    int64_t last_done;     /* monotonic ms the last batch ended, 0: none yet */
    bool last_ok;          /* it committed and no job failed with HOOKD_ESTORE */
    char last_error[DB_ERRMSG_LEN];
};

static void list_push(job_list *l, db_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_append(job_list *l, job_list *other)
{
    if (!other->head)
        return;
    if (l->tail)
        l->tail->next = other->head;
    else
        l->head = other->head;
    l->tail = other->tail;
    other->head = other->tail = NULL;
}

/* Removes up to max jobs from the front of l into out. */
static size_t list_take(job_list *l, size_t max, job_list *out)
{
    size_t n = 0;
    out->head = out->tail = NULL;
    while (l->head && n < max) {
        db_job *j = l->head;
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        list_push(out, j);
        n++;
    }
    return n;
}

/* How many of a batch's jobs are urgent. */
static size_t list_urgent(const job_list *l)
{
    size_t n = 0;
    for (const db_job *j = l->head; j; j = j->next)
        n += !j->lazy;
    return n;
}

static void batch_fail(job_list *batch)
{
    for (db_job *j = batch->head; j; j = j->next)
        j->rc = HOOKD_ESTORE;
}

/* A statement without parameters through db_query, so that SQLite prepares it once and
 * reuses it (db_exec would parse it again for every job). */
static int batch_sql(db *conn, const char *sql)
{
    return db_query(conn, sql, NULL, 0, NULL, NULL);
}

/*
 * Runs one batch in one transaction on conn. Each job runs inside a savepoint so that a
 * failing job undoes only its own writes; a batch of one job needs none (its failure rolls
 * back the whole transaction, which is the same thing).
 */
static void batch_run(db *conn, job_list *batch)
{
    if (db_begin(conn) != 0) {
        log_error("db", "cannot begin a transaction: %s", db_errmsg(conn));
        db_rollback(conn);
        batch_fail(batch);
        return;
    }
    db_job *only = batch->head && !batch->head->next ? batch->head : NULL;
    if (only) {
        only->rc = only->work(conn, only->arg);
        if (only->rc != 0) {
            if (db_rollback(conn) != 0)
                log_error("db", "rollback failed: %s", db_errmsg(conn));
            return;
        }
    }
    bool broken = false;
    for (db_job *j = only ? NULL : batch->head; j; j = j->next) {
        if (broken) {
            j->rc = HOOKD_ESTORE;
            continue;
        }
        if (batch_sql(conn, "SAVEPOINT j") != 0) {
            log_error("db", "savepoint: %s", db_errmsg(conn));
            broken = true;
            j->rc = HOOKD_ESTORE;
            continue;
        }
        j->rc = j->work(conn, j->arg);
        if (j->rc == 0) {
            if (batch_sql(conn, "RELEASE j") != 0)
                broken = true;
        } else if (batch_sql(conn, "ROLLBACK TO j") != 0 || batch_sql(conn, "RELEASE j") != 0) {
            broken = true;
        }
        if (broken)
            log_error("db", "cannot end a job's savepoint: %s", db_errmsg(conn));
    }
    if (broken) {
        db_rollback(conn);
        batch_fail(batch);
        return;
    }
    if (db_commit(conn) != 0) {
        log_error("db", "commit failed: %s", db_errmsg(conn));
        db_rollback(conn);
        batch_fail(batch);
    }
}

static int64_t worker_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notes how a batch ended, for db_worker_ready; caller holds the lock. */
static void worker_note(db_worker *w, job_list *batch)
{
    bool ok = true;
    for (db_job *j = batch->head; j; j = j->next)
        if (j->rc == HOOKD_ESTORE)
            ok = false;
    w->batch_started = 0;
    w->last_done = worker_mono_ms();
    w->last_ok = ok;
    if (!ok)
        snprintf(w->last_error, sizeof w->last_error, "%s", db_errmsg(w->conn));
}

/* With only lazy jobs queued while urgent ones keep coming: the monotonic ms until which
 * they wait for an urgent one; 0: start the batch now. Caller holds the lock. */
static int64_t worker_linger_until(const db_worker *w)
{
    if (w->stopping || w->urgent > 0 || w->urgent_at == 0)
        return 0;
    int64_t now = worker_mono_ms();
    int64_t until = w->queue.head->queued_at + DB_WORKER_LINGER_MS;
    if (now - w->urgent_at >= DB_WORKER_ACTIVE_MS || now >= until)
        return 0;
    return until;
}

/* Waits on the wake condition until the monotonic ms until, or a signal. The condition
 * keeps the default clock (valgrind ignores another one): the deadline is the wall time
 * that far ahead; a clock step only ends the wait early or late, and the caller looks
 * again either way. */
static void worker_wait_until(db_worker *w, int64_t until)
{
    int64_t left_ms = until - worker_mono_ms();
    if (left_ms <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + left_ms * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    int rc = pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    (void)rc; /* woken, timed out or spurious: the caller looks again */
}

/* Waits for a queue to run; false when stopping with nothing left. Caller holds the lock. */
static bool worker_wait_batch(db_worker *w)
{
    for (;;) {
        while (!w->queue.head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->queue.head)
            return false;
        int64_t until = worker_linger_until(w);
        if (until == 0)
            return true;
        w->lingering = true;
        worker_wait_until(w, until);
        w->lingering = false;
    }
}

static void *worker_main(void *arg)
{
    db_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (!worker_wait_batch(w))
            break; /* stopping and drained */
        job_list batch;
        list_take(&w->queue, w->max_batch, &batch);
        w->urgent -= list_urgent(&batch);
        w->batch_started = worker_mono_ms();
        pthread_mutex_unlock(&w->lock);

        batch_run(w->conn, &batch);

        pthread_mutex_lock(&w->lock);
        worker_note(w, &batch);
        list_append(&w->completed, &batch);
        pthread_mutex_unlock(&w->lock);
        event_active(w->notify, EV_READ, 0);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Calls done for every completed job; on the loop thread (or the stopping thread). */
static void worker_deliver(db_worker *w)
{
    pthread_mutex_lock(&w->lock);
    job_list done = w->completed;
    w->completed.head = w->completed.tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (done.head) {
        db_job *j = done.head;
        done.head = j->next;
        if (j->done)
            j->done(j->arg, j->rc);
        free(j);
        pthread_mutex_lock(&w->lock);
        w->pending--;
        pthread_mutex_unlock(&w->lock);
    }
}

static void worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_deliver(arg);
}

int db_worker_start(struct event_base *base, db *conn, size_t max_batch, db_worker **out)
{
    *out = NULL;
    db_worker *w = xcalloc(1, sizeof *w);
    w->base = base;
    w->conn = conn;
    w->max_batch = max_batch ? max_batch : DB_WORKER_DEFAULT_BATCH;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->notify = event_new(base, -1, 0, worker_notify_cb, w);
    if (!w->notify) {
        fprintf(stderr, "hookd: cannot create the store thread's event\n");
        abort();
    }
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        log_error("db", "cannot start the store thread: %s", strerror(rc));
        event_free(w->notify);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return HOOKD_ESTORE;
    }
    *out = w;
    return 0;
}

static void worker_submit(db_worker *w, db_work_fn work, db_done_fn done, void *arg, bool lazy)
{
    db_job *j = xcalloc(1, sizeof *j);
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->lazy = lazy;
    j->queued_at = worker_mono_ms();
    pthread_mutex_lock(&w->lock);
    list_push(&w->queue, j);
    w->pending++;
    if (!lazy) {
        w->urgent++;
        w->urgent_at = j->queued_at;
    }
    /* A lingering thread wakes at its deadline or for an urgent job: another lazy one
     * would only wake it to wait again (a context switch per outcome batch). */
    if (!lazy || !w->lingering)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void db_worker_submit(db_worker *w, db_work_fn work, db_done_fn done, void *arg)
{
    worker_submit(w, work, done, arg, false);
}

void db_worker_submit_lazy(db_worker *w, db_work_fn work, db_done_fn done, void *arg)
{
    worker_submit(w, work, done, arg, true);
}

size_t db_worker_pending(db_worker *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->pending;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void db_worker_stop(db_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);

    /* The thread is gone: the connection is ours. Done callbacks may queue more work;
     * run it here until nothing is left. */
    for (;;) {
        worker_deliver(w);
        pthread_mutex_lock(&w->lock);
        job_list batch;
        size_t n = list_take(&w->queue, w->max_batch, &batch);
        w->urgent -= list_urgent(&batch);
        pthread_mutex_unlock(&w->lock);
        if (n == 0)
            break;
        batch_run(w->conn, &batch);
        pthread_mutex_lock(&w->lock);
        list_append(&w->completed, &batch);
        pthread_mutex_unlock(&w->lock);
    }
    event_free(w->notify);
    db_close(w->conn);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* ---- readiness ---- */

typedef struct ready_job {
    db_worker *w;
    db_ready_fn fn;
    void *arg;
} ready_job;

static int ready_probe_work(db *conn, void *arg)
{
    (void)arg;
    return db_probe(conn) != 0 ? HOOKD_ESTORE : 0;
}

static void ready_probe_done(void *arg, int rc)
{
    ready_job *job = arg;
    char reason[DB_ERRMSG_LEN + 64] = "";
    if (rc != 0) {
        pthread_mutex_lock(&job->w->lock);
        snprintf(reason, sizeof reason, "store error: %s", job->w->last_error);
        pthread_mutex_unlock(&job->w->lock);
    }
    job->fn(job->arg, rc == 0, reason);
    free(job);
}

void db_worker_ready(db_worker *w, db_ready_fn fn, void *arg)
{
    char reason[DB_ERRMSG_LEN + 64] = "";
    int64_t now = worker_mono_ms();
    pthread_mutex_lock(&w->lock);
    int64_t started = w->batch_started, done = w->last_done;
    bool ok = w->last_ok;
    if (!ok)
        snprintf(reason, sizeof reason, "store error: %s", w->last_error);
    pthread_mutex_unlock(&w->lock);
    if (started != 0 && now - started >= DB_WORKER_STUCK_MS) {
        snprintf(reason, sizeof reason, "the store has not answered for %lld ms",
                 (long long)(now - started));
        fn(arg, false, reason);
        return;
    }
    if (done != 0 && now - done < DB_WORKER_FRESH_MS) {
        fn(arg, ok, reason);
        return;
    }
    ready_job *job = xcalloc(1, sizeof *job);
    job->w = w;
    job->fn = fn;
    job->arg = arg;
    db_worker_submit(w, ready_probe_work, ready_probe_done, job);
}
