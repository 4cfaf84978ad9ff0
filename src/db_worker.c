/*
 * db_worker.c — the store thread: takes every job queued since its last batch, runs them in
 * one transaction (so that one failing job undoes only its own writes, see "Savepoints"
 * below), commits once, and hands the finished jobs back to the event loop, where their done
 * callbacks run.
 *
 * A pool (db_worker_start_pool) runs several such threads, each with its own connection
 * (PostgreSQL: a statement is a loopback round trip, so one connection's serial latency
 * bounded the store, not the CPU). The handle a pool starts with is its first lane: its jobs
 * keep one thread, in submission order, exactly as with a single thread (the work engine,
 * the APIs, retention all rely on that). Only jobs that rely on nothing unanswered are
 * submitted through db_worker_spread and go to the thread with the fewest jobs pending (the
 * sender's event posts and key lookups; posts sharing an Idempotency-Key keep one lane,
 * db_worker_lane_key). The receiver gives its public endpoint's saves the second lane
 * (db_worker_lane; receive_main.c). Jobs on different threads are concurrent transactions,
 * as those of several nodes already are; a deadlock between them fails the victim job alone
 * (see "Savepoints"), as between nodes. Readiness is every thread's; stop joins every thread,
 * then runs what is left on any of them.
 *
 * Savepoints, and jobs that run twice: a job's failure must undo its own writes and no
 * other job's. A savepoint per job does that, but on SQLite it is not free: inside a
 * savepoint every page a job changes is first copied into a statement journal, and a sender
 * fan-out paid ~8 k instructions per webhook for those copies plus the savepoint statements
 * (docs/BENCHMARKS.md, "savepoint"). Jobs almost never fail. So a batch whose jobs all say
 * they may run again (DB_JOB_RERUNNABLE, db.h) runs them without savepoints; if all succeed
 * it commits, exactly as with savepoints; if one fails, the whole transaction is rolled back
 * and the batch runs again from its first job, a savepoint per job, as before: each job's
 * result and the rows committed are those of a savepoint per job from the start. That is
 * safe only because such a job's second run, after the rollback, gives what one run gives
 * (its outputs reset at its start, nothing outside the transaction left changed by the first
 * run that the second would trip on); db.h states the contract, and each job that opts in
 * says why it holds (engine.c's claims free the first run's items, which also takes them out
 * of serve_held's set; receive_ingest takes its queue once; serve_api's event posts and key
 * lookups reset their request's outputs; outcomes reassign their flags). A job that does not
 * opt in runs exactly once: a batch holding one runs a savepoint per job from the start.
 * PostgreSQL: a failed statement aborts the whole transaction there, which the savepoints
 * of the second pass contain as before; a deadlock victim of the first pass fails the pass,
 * and in the second it either succeeds (the other transaction went on) or fails alone.
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
#include "loop.h"

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
    bool rerunnable;   /* DB_JOB_RERUNNABLE: its work may run twice (db.h) */
    int64_t queued_at; /* monotonic ms it was submitted */
    struct db_job *next;
} db_job;

/* A singly linked FIFO of jobs. */
typedef struct job_list {
    db_job *head;
    db_job *tail;
} job_list;

typedef struct db_unit {
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
    int64_t last_failed;   /* monotonic ms the last batch that was not ok ended, 0: none */
    char last_error[DB_ERRMSG_LEN];
} db_unit;

/* The pool: its units, and the handles given out — [0] spreads jobs over the units,
 * [1 + i] pins them to unit i (db_worker_lane). */
typedef struct db_pool {
    size_t n;
    db_unit **units;
    db_worker *handles;
} db_pool;

/* What callers hold: a pool, and the unit its jobs go to (-1: the least loaded). */
struct db_worker {
    db_pool *pool;
    int lane;
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

/* Begins a batch's transaction; false, every job failed, when it cannot. */
static bool batch_begin(db *conn, job_list *batch)
{
    if (db_begin(conn) == 0)
        return true;
    log_error("db", "cannot begin a transaction: %s", db_errmsg(conn));
    db_rollback(conn);
    batch_fail(batch);
    return false;
}

/* Commits the batch's transaction; every job failed when it cannot. */
static void batch_commit(db *conn, job_list *batch)
{
    if (db_commit(conn) == 0)
        return;
    log_error("db", "commit failed: %s", db_errmsg(conn));
    db_rollback(conn);
    batch_fail(batch);
}

/* Whether every job of the batch may run again (DB_JOB_RERUNNABLE). */
static bool batch_rerunnable(const job_list *batch)
{
    for (const db_job *j = batch->head; j; j = j->next)
        if (!j->rerunnable)
            return false;
    return true;
}

/* The optimistic pass: every job without a savepoint, until one fails. True when every job
 * succeeded; otherwise the failing job's writes, and its elders', are in the transaction. */
static bool batch_run_plain(db *conn, job_list *batch)
{
    for (db_job *j = batch->head; j; j = j->next)
        if ((j->rc = j->work(conn, j->arg)) != 0)
            return false;
    return true;
}

/* Every job inside a savepoint of its own, so that a failing job undoes only its own writes.
 * False, the transaction rolled back and every job failed, when a savepoint could not be
 * taken or ended (the transaction is then in no known state). */
static bool batch_run_savepoints(db *conn, job_list *batch)
{
    for (db_job *j = batch->head; j; j = j->next) {
        bool ok = batch_sql(conn, "SAVEPOINT j") == 0;
        if (ok) {
            j->rc = j->work(conn, j->arg);
            ok = j->rc == 0
                     ? batch_sql(conn, "RELEASE j") == 0
                     : batch_sql(conn, "ROLLBACK TO j") == 0 && batch_sql(conn, "RELEASE j") == 0;
        }
        if (!ok) {
            log_error("db", "cannot take or end a job's savepoint: %s", db_errmsg(conn));
            db_rollback(conn);
            batch_fail(batch);
            return false;
        }
    }
    return true;
}

/*
 * Runs one batch in one transaction on conn, with the result of a savepoint per job: a
 * failing job undoes only its own writes. A batch of one job needs none (its failure rolls
 * back the whole transaction, which is the same thing); a batch of jobs that may all run
 * again (DB_JOB_RERUNNABLE) runs first without any, and only when one fails is it rolled
 * back and run again with them (see the top of the file).
 */
static void batch_run(db *conn, job_list *batch)
{
    if (!batch_begin(conn, batch))
        return;
    db_job *only = batch->head && !batch->head->next ? batch->head : NULL;
    if (only) {
        only->rc = only->work(conn, only->arg);
        if (only->rc == 0)
            batch_commit(conn, batch);
        else if (db_rollback(conn) != 0)
            log_error("db", "rollback failed: %s", db_errmsg(conn));
        return;
    }
    if (batch_rerunnable(batch)) {
        if (batch_run_plain(conn, batch)) {
            batch_commit(conn, batch);
            return;
        }
        if (db_rollback(conn) != 0) {
            log_error("db", "rollback failed: %s", db_errmsg(conn));
            batch_fail(batch);
            return;
        }
        log_debug("db", "a job of a batch failed: the batch runs again, a savepoint per job");
        if (!batch_begin(conn, batch))
            return;
    }
    if (batch_run_savepoints(conn, batch))
        batch_commit(conn, batch);
}

static int64_t worker_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notes how a batch ended, for db_worker_ready; caller holds the lock. */
static void worker_note(db_unit *w, job_list *batch)
{
    bool ok = true;
    for (db_job *j = batch->head; j; j = j->next)
        if (j->rc == HOOKD_ESTORE)
            ok = false;
    w->batch_started = 0;
    w->last_done = worker_mono_ms();
    w->last_ok = ok;
    if (!ok) {
        w->last_failed = w->last_done;
        snprintf(w->last_error, sizeof w->last_error, "%s", db_errmsg(w->conn));
    }
}

/* With only lazy jobs queued while urgent ones keep coming: the monotonic ms until which
 * they wait for an urgent one; 0: start the batch now. Caller holds the lock. */
static int64_t worker_linger_until(const db_unit *w)
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
static void worker_wait_until(db_unit *w, int64_t until)
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
static bool worker_wait_batch(db_unit *w)
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
    db_unit *w = arg;
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
static void worker_deliver(db_unit *w)
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

/* Starts one unit: its thread owns conn from here on. */
static int unit_start(struct event_base *base, db *conn, size_t max_batch, db_unit **out)
{
    *out = NULL;
    db_unit *w = xcalloc(1, sizeof *w);
    w->base = base;
    w->conn = conn;
    w->max_batch = max_batch ? max_batch : DB_WORKER_DEFAULT_BATCH;
    db_background_checkpoints(conn);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->notify = event_new(base, -1, 0, worker_notify_cb, w);
    if (!w->notify || event_priority_set(w->notify, LOOP_PRIORITY_FIRST) != 0) {
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
    (void)pthread_setname_np(w->thread, "hookd-store"); /* in top -H, ps -L, perf */
    *out = w;
    return 0;
}

static void unit_submit(db_unit *w, db_work_fn work, db_done_fn done, void *arg, unsigned flags)
{
    bool lazy = flags & DB_JOB_LAZY;
    db_job *j = xcalloc(1, sizeof *j);
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->lazy = lazy;
    j->rerunnable = flags & DB_JOB_RERUNNABLE;
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

static size_t unit_pending(db_unit *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->pending;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Asks the thread to finish what is queued and joins it: the connection is the caller's. */
static void unit_join(db_unit *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
}

/* After unit_join: calls the done of what completed, then runs one batch of what is still
 * queued on the calling thread. Whether there was anything to do. */
static bool unit_drain_step(db_unit *w)
{
    worker_deliver(w);
    pthread_mutex_lock(&w->lock);
    job_list batch;
    size_t n = list_take(&w->queue, w->max_batch, &batch);
    w->urgent -= list_urgent(&batch);
    pthread_mutex_unlock(&w->lock);
    if (n == 0)
        return false;
    batch_run(w->conn, &batch);
    pthread_mutex_lock(&w->lock);
    list_append(&w->completed, &batch);
    pthread_mutex_unlock(&w->lock);
    worker_deliver(w);
    return true;
}

static void unit_free(db_unit *w)
{
    event_free(w->notify);
    db_close(w->conn);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* ---- the pool ---- */

int db_worker_start_pool(struct event_base *base, db **conns, size_t n, size_t max_batch,
                         db_worker **out)
{
    *out = NULL;
    db_pool *p = xcalloc(1, sizeof *p);
    if (n == 0 || n > DB_WORKER_MAX_UNITS) {
        fprintf(stderr, "hookd: %zu store connections asked for\n", n);
        abort();
    }
    p->units = xcalloc(n, sizeof *p->units);
    p->handles = xcalloc(n + 1, sizeof *p->handles);
    for (size_t i = 0; i <= n; i++) {
        p->handles[i].pool = p;
        p->handles[i].lane = (int)i - 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (unit_start(base, conns[i], max_batch, &p->units[i]) != 0) {
            for (size_t k = i; k < n; k++)
                db_close(conns[k]);
            p->n = i;
            db_worker_stop(&p->handles[0]);
            return HOOKD_ESTORE;
        }
        p->n = i + 1;
    }
    *out = &p->handles[1]; /* the first lane: in order, as one thread */
    return 0;
}

int db_worker_start(struct event_base *base, db *conn, size_t max_batch, db_worker **out)
{
    return db_worker_start_pool(base, &conn, 1, max_batch, out);
}

int db_worker_open_pool(struct event_base *base, db *conn, const char *url, size_t n,
                        int (*prepare)(db *conn), db_worker **out)
{
    db *conns[DB_WORKER_MAX_UNITS] = {conn};
    for (size_t i = 1; i < n; i++) {
        char err[DB_ERRMSG_LEN];
        int rc = db_open(url, &conns[i], err, sizeof err);
        if (rc != 0)
            log_error("db", "cannot open store connection %zu: %s", i + 1, err);
        else if ((rc = prepare(conns[i])) != 0)
            log_error("db", "cannot prepare store connection %zu: %s", i + 1, db_errmsg(conns[i]));
        if (rc != 0) {
            for (size_t k = 0; k <= i; k++)
                db_close(conns[k]);
            return HOOKD_ESTORE;
        }
    }
    return db_worker_start_pool(base, conns, n, 0, out);
}

db_worker *db_worker_lane(db_worker *w, unsigned lane)
{
    return &w->pool->handles[1 + lane % w->pool->n];
}

db_worker *db_worker_spread(db_worker *w)
{
    return &w->pool->handles[0];
}

db_worker *db_worker_lane_key(db_worker *w, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a: any spread will do, it need only be stable */
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        h = (h ^ *c) * 16777619u;
    return db_worker_lane(w, h);
}

/* The unit a job submitted through w runs on: its lane's, or the one with the fewest jobs
 * pending (on a tie the last: lane 0 is the one pinned jobs use). */
static db_unit *pool_pick(db_worker *w)
{
    db_pool *p = w->pool;
    if (w->lane >= 0)
        return p->units[w->lane];
    db_unit *best = p->units[p->n - 1];
    if (p->n == 1)
        return best;
    size_t least = unit_pending(best);
    for (size_t i = p->n - 1; i-- > 0 && least > 0;) {
        size_t n = unit_pending(p->units[i]);
        if (n < least) {
            least = n;
            best = p->units[i];
        }
    }
    return best;
}

void db_worker_submit(db_worker *w, db_work_fn work, db_done_fn done, void *arg)
{
    unit_submit(pool_pick(w), work, done, arg, 0);
}

void db_worker_submit_lazy(db_worker *w, db_work_fn work, db_done_fn done, void *arg)
{
    unit_submit(pool_pick(w), work, done, arg, DB_JOB_LAZY);
}

void db_worker_submit_flags(db_worker *w, unsigned flags, db_work_fn work, db_done_fn done,
                            void *arg)
{
    unit_submit(pool_pick(w), work, done, arg, flags);
}

size_t db_worker_pending(db_worker *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->pool->n; i++)
        n += unit_pending(w->pool->units[i]);
    return n;
}

void db_worker_stop(db_worker *w)
{
    if (!w)
        return;
    db_pool *p = w->pool;
    for (size_t i = 0; i < p->n; i++)
        unit_join(p->units[i]);
    /* Every thread is gone: the connections are ours. Done callbacks may queue more work,
     * on any unit; run it here until no unit has any left. */
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < p->n; i++)
            more |= unit_drain_step(p->units[i]);
    }
    for (size_t i = 0; i < p->n; i++)
        unit_free(p->units[i]);
    free(p->units);
    free(p->handles);
    free(p);
}

/* ---- readiness ---- */

/* One /readyz question: answered once every unit that needed a probe has run it. */
typedef struct ready_job {
    db_ready_fn fn;
    void *arg;
    size_t left; /* probes still running; on the loop thread only */
    bool ok;
    char reason[DB_ERRMSG_LEN + 64];
} ready_job;

typedef struct ready_probe {
    ready_job *job;
    db_unit *w;
} ready_probe;

static int ready_probe_work(db *conn, void *arg)
{
    (void)arg;
    return db_probe(conn) != 0 ? HOOKD_ESTORE : 0;
}

static void ready_probe_done(void *arg, int rc)
{
    ready_probe *probe = arg;
    ready_job *job = probe->job;
    if (rc != 0 && job->ok) {
        job->ok = false;
        pthread_mutex_lock(&probe->w->lock);
        snprintf(job->reason, sizeof job->reason, "store error: %s", probe->w->last_error);
        pthread_mutex_unlock(&probe->w->lock);
    }
    free(probe);
    if (--job->left > 0)
        return;
    job->fn(job->arg, job->ok, job->ok ? "" : job->reason);
    free(job);
}

/* One unit's health: false and reason when it is stuck or failed; *fresh when its last
 * batch is recent enough to be the answer without a probe. A failure within
 * DB_WORKER_FRESH_MS is the answer whatever succeeded after it: on a full disk a batch that
 * only reads (a claim that finds nothing) still commits, and said "ready" between the
 * refused writes. */
static bool unit_health(db_unit *w, int64_t now, bool *fresh, char *reason, size_t len)
{
    pthread_mutex_lock(&w->lock);
    int64_t started = w->batch_started, done = w->last_done;
    bool failed_lately = w->last_failed != 0 && now - w->last_failed < DB_WORKER_FRESH_MS;
    bool ok = w->last_ok && !failed_lately;
    if (!ok)
        snprintf(reason, len, "store error: %s", w->last_error);
    pthread_mutex_unlock(&w->lock);
    if (started != 0 && now - started >= DB_WORKER_STUCK_MS) {
        snprintf(reason, len, "the store has not answered for %lld ms", (long long)(now - started));
        *fresh = true;
        return false;
    }
    *fresh = failed_lately || (done != 0 && now - done < DB_WORKER_FRESH_MS);
    return ok || !*fresh;
}

/* Ready when every unit is: a stuck or failed unit answers at once, the others without a
 * recent batch run a probe write each. */
void db_worker_ready(db_worker *w, db_ready_fn fn, void *arg)
{
    db_pool *p = w->pool;
    int64_t now = worker_mono_ms();
    ready_job *job = xcalloc(1, sizeof *job);
    job->fn = fn;
    job->arg = arg;
    job->ok = true;
    bool fresh[DB_WORKER_MAX_UNITS];
    for (size_t i = 0; i < p->n; i++) {
        char reason[sizeof job->reason] = "";
        if (!unit_health(p->units[i], now, &fresh[i], reason, sizeof reason) && fresh[i]) {
            fn(arg, false, reason);
            free(job);
            return;
        }
        job->left += !fresh[i];
    }
    if (job->left == 0) {
        fn(arg, true, "");
        free(job);
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (fresh[i])
            continue;
        ready_probe *probe = xcalloc(1, sizeof *probe);
        probe->job = job;
        probe->w = p->units[i];
        /* the probe writes a row with its own value: once or twice, the same */
        unit_submit(p->units[i], ready_probe_work, ready_probe_done, probe, DB_JOB_RERUNNABLE);
    }
}
