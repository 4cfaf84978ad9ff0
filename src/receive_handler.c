/*
 * handler.c — the receiver's handler pool (see handler.h).
 *
 * Life of one run: a claim (store thread) hands back due webhooks under a lease — ahead of
 * need, up to HANDLER_AHEAD per worker, so that a freed slot finds the next webhook waiting
 * here rather than behind a store round trip. Each gets a free worker slot and is started,
 * either as a child process (posix_spawn of /bin/sh in its own process group, the body
 * written to its stdin through a non-blocking pipe on the loop, its exit seen through
 * SIGCHLD + waitpid(WNOHANG)) or as a POST through the shared libcurl client. When it ends,
 * its outcome and the webhook's next state are recorded (store thread, only while the lease
 * holds), together with those of every run that ended meanwhile (one record job per store
 * batch); the slot is freed once that record commits — so a crash repeats at most
 * --workers runs — and the next claimed webhook starts. A webhook claimed ahead that waited
 * here too long to run safely within its lease is dropped (its lease expires and it is
 * claimed again); on stop, the ones not started are given back (inbox_unclaim).
 */
#include "receive_handler.h"
#include "mem.h"

#include "hookd.h"
#include "http_client.h"
#include "receive_store.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* How often due work is looked for when nothing else wakes the pool. */
#define RECEIVE_HANDLER_POLL_MS 1000
/* Webhooks claimed per worker slot at most (running or waiting here). */
#define RECEIVE_HANDLER_AHEAD 8
/* Work is claimed ahead only as much as the workers are expected to start within this
 * time, judged by how long recent runs took: a node whose runs are slow claims only for its
 * free slots, and leaves the rest to idle nodes sharing the store. */
#define RECEIVE_HANDLER_AHEAD_HORIZON_MS 100.0
/* A webhook claimed ahead is started only if its run ends this long before its lease. */
#define RECEIVE_HANDLER_LEASE_MARGIN_MS 2000

/* A claimed webhook waiting for a free worker slot. */
typedef struct receive_handler_ready {
    struct receive_handler_ready *next;
    receive_store_item item;      /* owned */
    char token[40];       /* its lease token */
    int64_t claimed_mono; /* monotonic ms when the claim was asked for (its lease started) */
} receive_handler_ready;

struct receive_handler_run;

struct receive_handler {
    struct event_base *base;
    db_worker *worker;
    receive_handler_options options;       /* copied; owner points at owner_copy */
    char *owner_copy;
    http_client *client;           /* --forward only */
    int64_t pending;               /* pending webhooks in the store, as we know them */
    unsigned busy;                 /* slots taken: running, or ended and not yet recorded */
    receive_handler_ready *ready;          /* claimed, waiting for a slot, oldest first */
    receive_handler_ready **ready_tail;
    size_t ready_count;
    size_t claim_limit;            /* claimed at most: running + ready + being claimed */
    double run_ms;                 /* moving average of runs' durations */
    unsigned unclaiming;           /* give-backs of unstarted claims under way */
    unsigned records;              /* run outcomes to record, not yet committed */
    struct receive_handler_run *to_record; /* finished runs waiting for the next record job */
    struct receive_handler_run **to_record_tail;
    bool recording;                /* a record job is under way */
    bool claiming;                 /* a claim job is under way */
    bool counting;                 /* a count of pending webhooks is under way */
    bool kick_again;               /* work may have appeared while claiming */
    bool stopping;                 /* handler_stop was called */
    struct receive_handler_run *runs;      /* runs under way (child or transfer), linked */
    struct event *poll;            /* periodic look for due work */
    struct event *wake;            /* one-shot: the soonest scheduled retry */
    int64_t wake_at;               /* monotonic ms the wake is set for, 0 when not set */
    struct event *sigchld;         /* children ended */
    metric *pending_gauge;
    metric *runs_success, *runs_failure, *runs_timeout;
    metric *latency;
};

/* One run of the handler for one claimed webhook. */
struct receive_handler_run {
    receive_handler *h;
    struct receive_handler_run *next;  /* in h->runs; once finished, in a list to record */
    int record_rc;             /* inbox_record_run's result for this run */
    receive_store_item item;           /* the webhook (owned) */
    char token[40];            /* the claim's lease token */
    int64_t started_at;        /* wall clock ms */
    int64_t started_mono;      /* monotonic ms */
    pid_t pid;                 /* --exec: the child, 0 once reaped */
    int stdin_fd;              /* --exec: our end of the child's stdin, -1 when closed */
    struct event *stdin_event; /* writes the body as the pipe accepts it */
    size_t written;            /* body bytes written to the pipe */
    struct event *timer;       /* --handler-timeout */
    bool timed_out;            /* the timer fired and the process group was killed */
    bool in_flight;            /* --forward: the POST is under way */
    receive_store_run_job job;         /* the outcome to record */
    char error[256];           /* job.error's storage */
};

static void receive_handler_set_pending(receive_handler *h, int64_t value)
{
    h->pending = value < 0 ? 0 : value;
    metric_set(h->pending_gauge, (double)h->pending);
}

static void receive_handler_run_list_remove(receive_handler *h, struct receive_handler_run *run)
{
    for (struct receive_handler_run **p = &h->runs; *p; p = &(*p)->next) {
        if (*p == run) {
            *p = run->next;
            return;
        }
    }
}

static void receive_handler_run_free(struct receive_handler_run *run)
{
    if (run->stdin_event)
        event_free(run->stdin_event);
    if (run->stdin_fd >= 0)
        close(run->stdin_fd);
    if (run->timer)
        event_free(run->timer);
    free(run->item.id);
    free(run->item.timestamp);
    free(run->item.signature);
    free(run->item.event);
    free(run->item.body);
    free(run);
}

/* Arms the one-shot wake for a retry due in delay_ms, unless one sooner is already set. */
static void receive_handler_wake_in(receive_handler *h, int64_t delay_ms)
{
    int64_t at = loop_monotonic_ms() + delay_ms;
    if (h->wake_at != 0 && h->wake_at <= at)
        return;
    h->wake_at = at;
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    event_add(h->wake, &tv);
}

/* Store-thread work: records a list of finished runs (linked by next), each run's own
 * result in its record_rc. A lost lease is that run's alone; any other error fails the
 * whole list (its writes are undone with the job). */
static int receive_handler_record_work(db *conn, void *arg)
{
    for (struct receive_handler_run *run = arg; run; run = run->next) {
        run->record_rc = receive_store_record_run(conn, &run->job);
        if (run->record_rc != 0 && run->record_rc != HOOKD_ELEASE)
            return run->record_rc;
    }
    return 0;
}

static void receive_handler_record_submit(receive_handler *h);

static void receive_handler_recorded(void *arg, int rc)
{
    struct receive_handler_run *run = arg;
    receive_handler *h = run->h;
    h->recording = false;
    while (run) {
        struct receive_handler_run *next = run->next;
        int run_rc = rc != 0 ? rc : run->record_rc;
        h->records--;
        h->busy--;
        if (run_rc == 0) {
            if (strcmp(run->job.next_status, "pending") == 0)
                receive_handler_wake_in(h, run->job.next_attempt_at - loop_now_ms() + 5);
            else
                receive_handler_set_pending(h, h->pending - 1);
        } else if (run_rc == HOOKD_ELEASE) {
            log_warn("receive", "webhook %s: lease lost before its run was recorded",
                     run->item.id);
        } else {
            log_error("receive", "webhook %s: cannot record its run (%s); it will run again",
                      run->item.id, hookd_strerror(run_rc));
        }
        receive_handler_run_free(run);
        run = next;
    }
    receive_handler_record_submit(h);
    receive_handler_kick(h);
}

/* Submits the finished runs waiting to be recorded as one job, unless one is under way
 * (those that finish meanwhile go into the next: one record job per store batch). */
static void receive_handler_record_submit(receive_handler *h)
{
    if (h->recording || !h->to_record)
        return;
    struct receive_handler_run *list = h->to_record;
    h->to_record = NULL;
    h->to_record_tail = &h->to_record;
    h->recording = true;
    db_worker_submit(h->worker, receive_handler_record_work, receive_handler_recorded, list);
}

/* The run is over: decides the next state and records it. */
static void receive_handler_finish(struct receive_handler_run *run, bool success, bool timeout)
{
    receive_handler *h = run->h;
    receive_handler_run_list_remove(h, run);
    if (run->timer)
        event_del(run->timer);
    int64_t duration = loop_monotonic_ms() - run->started_mono;
    h->run_ms += ((double)duration - h->run_ms) / 8;
    metric_observe(h->latency, (double)duration);
    metric_add(success ? h->runs_success : timeout ? h->runs_timeout : h->runs_failure, 1);

    receive_store_run_job *job = &run->job;
    job->id = run->item.id;
    job->token = run->token;
    job->started_at = run->started_at;
    job->duration_ms = duration;
    job->error = success ? NULL : run->error;
    job->now = loop_now_ms();
    int64_t attempts = run->item.attempts + 1;
    if (success) {
        job->next_status = "done";
        job->next_attempt_at = job->now;
    } else if (attempts >= (int64_t)h->options.max_attempts) {
        job->next_status = "failed";
        job->next_attempt_at = job->now;
        log_warn("receive", "webhook %s failed after %lld runs: %s", run->item.id,
                 (long long)attempts, run->error);
    } else {
        size_t i = (size_t)(attempts - 1);
        if (i >= h->options.retry_delay_count)
            i = h->options.retry_delay_count - 1;
        job->next_status = "pending";
        job->next_attempt_at = job->now + h->options.retry_delays_ms[i];
        log_info("receive", "webhook %s run %lld failed (%s); next in %lld ms", run->item.id,
                 (long long)attempts, run->error, (long long)h->options.retry_delays_ms[i]);
    }
    h->records++;
    run->next = NULL;
    *h->to_record_tail = run;
    h->to_record_tail = &run->next;
    receive_handler_record_submit(h);
}

/* ---- --exec ---- */

static void receive_handler_exec_reaped(struct receive_handler_run *run, int status)
{
    run->pid = 0;
    if (run->stdin_event) {
        event_free(run->stdin_event);
        run->stdin_event = NULL;
    }
    if (run->stdin_fd >= 0) {
        close(run->stdin_fd);
        run->stdin_fd = -1;
    }
    bool success = false;
    if (run->timed_out) {
        run->job.exit_status = -1;
        snprintf(run->error, sizeof run->error, "timed out after %lld ms",
                 (long long)run->h->options.timeout_ms);
    } else if (WIFEXITED(status)) {
        run->job.exit_status = WEXITSTATUS(status);
        success = run->job.exit_status == 0;
        snprintf(run->error, sizeof run->error, "exit status %d", run->job.exit_status);
    } else if (WIFSIGNALED(status)) {
        run->job.exit_status = -1;
        snprintf(run->error, sizeof run->error, "killed by signal %d", WTERMSIG(status));
    } else {
        run->job.exit_status = -1;
        snprintf(run->error, sizeof run->error, "ended abnormally");
    }
    receive_handler_finish(run, success, run->timed_out);
}

static void receive_handler_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    receive_handler *h = arg;
    struct receive_handler_run *run = h->runs;
    while (run) {
        struct receive_handler_run *next = run->next;
        if (run->pid > 0) {
            int status = 0;
            pid_t r = waitpid(run->pid, &status, WNOHANG);
            if (r == run->pid)
                receive_handler_exec_reaped(run, status);
            else if (r < 0 && errno == ECHILD)
                receive_handler_exec_reaped(run, 255 << 8);
        }
        run = next;
    }
}

static void receive_handler_stdin_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct receive_handler_run *run = arg;
    while (run->written < run->item.body_len) {
        ssize_t n = write(fd, run->item.body + run->written, run->item.body_len - run->written);
        if (n > 0) {
            run->written += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EPIPE: the handler does not read its stdin; that is its choice */
    }
    event_free(run->stdin_event);
    run->stdin_event = NULL;
    close(run->stdin_fd);
    run->stdin_fd = -1;
}

static void receive_handler_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct receive_handler_run *run = arg;
    if (run->pid > 0) {
        run->timed_out = true;
        kill(-run->pid, SIGKILL);
        kill(run->pid, SIGKILL);
    }
}

/* environ without any WEBHOOK_* of ours, plus the three variables; malloc'd pieces. */
static char **receive_handler_environment(const receive_store_item *it, char *vars[3])
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = xcalloc(n + 4, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "WEBHOOK_ID=", 11) == 0 ||
            strncmp(environ[i], "WEBHOOK_EVENT=", 14) == 0 ||
            strncmp(environ[i], "WEBHOOK_TIMESTAMP=", 18) == 0)
            continue;
        envp[k++] = environ[i];
    }
    const char *names[3] = {"WEBHOOK_ID=", "WEBHOOK_EVENT=", "WEBHOOK_TIMESTAMP="};
    const char *values[3] = {it->id, it->event, it->timestamp};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(names[i]) + strlen(values[i]) + 1;
        vars[i] = xcalloc(len, 1);
        snprintf(vars[i], len, "%s%s", names[i], values[i]);
        envp[k++] = vars[i];
    }
    envp[k] = NULL;
    return envp;
}

static int receive_handler_exec_start(receive_handler *h, struct receive_handler_run *run)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(run->error, sizeof run->error, "cannot create a pipe: %s", strerror(errno));
        return HOOKD_EIO;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, defaults;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigdefault(&attr, &defaults);

    char *vars[3];
    char **envp = receive_handler_environment(&run->item, vars);
    char *argv[] = {"sh", "-c", (char *)h->options.exec_command, NULL};
    pid_t pid = 0;
    int err = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    free(envp);
    for (int i = 0; i < 3; i++)
        free(vars[i]);
    close(fds[0]);
    if (err != 0) {
        close(fds[1]);
        snprintf(run->error, sizeof run->error, "cannot start /bin/sh: %s", strerror(err));
        return HOOKD_EIO;
    }
    run->pid = pid;
    run->stdin_fd = fds[1];
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    run->stdin_event =
        event_new(h->base, fds[1], EV_WRITE | EV_PERSIST, receive_handler_stdin_writable, run);
    event_add(run->stdin_event, NULL);
    run->timer = evtimer_new(h->base, receive_handler_timeout, run);
    struct timeval tv = {.tv_sec = h->options.timeout_ms / 1000,
                         .tv_usec = (h->options.timeout_ms % 1000) * 1000};
    evtimer_add(run->timer, &tv);
    return 0;
}

/* ---- --forward ---- */

static void receive_handler_forward_done(void *arg, const http_result *result)
{
    struct receive_handler_run *run = arg;
    run->in_flight = false;
    run->job.exit_status = -1;
    run->job.http_status = (int)result->status;
    bool success = result->error == NULL && result->status >= 200 && result->status < 300;
    bool timeout = false;
    if (result->error) {
        snprintf(run->error, sizeof run->error, "%s", result->error);
        timeout = strstr(result->error, "timeout") != NULL;
    } else {
        snprintf(run->error, sizeof run->error, "HTTP %ld", result->status);
    }
    receive_handler_finish(run, success, timeout);
}

static int receive_handler_forward_start(receive_handler *h, struct receive_handler_run *run)
{
    http_header headers[] = {
        {"X-Webhook-Id", run->item.id},
        {"X-Webhook-Timestamp", run->item.timestamp},
        {"X-Webhook-Signature", run->item.signature},
        {"X-Webhook-Event", run->item.event},
    };
    http_request req = {.url = h->options.forward_url,
                        .headers = headers,
                        .header_count = sizeof headers / sizeof headers[0],
                        .body = run->item.body,
                        .body_len = run->item.body_len,
                        .timeout_ms = h->options.timeout_ms};
    run->in_flight = true;
    int rc = http_client_post(h->client, &req, receive_handler_forward_done, run);
    if (rc != 0) {
        run->in_flight = false;
        snprintf(run->error, sizeof run->error, "cannot post to the forward URL: %s",
                 hookd_strerror(rc));
    }
    return rc;
}

/* ---- claiming ---- */

static void receive_handler_start(receive_handler *h, receive_store_item *item, const char *token)
{
    struct receive_handler_run *run = xcalloc(1, sizeof *run);
    run->h = h;
    run->item = *item;
    memset(item, 0, sizeof *item);
    snprintf(run->token, sizeof run->token, "%s", token);
    run->stdin_fd = -1;
    run->job.exit_status = -1;
    run->started_at = loop_now_ms();
    run->started_mono = loop_monotonic_ms();
    run->next = h->runs;
    h->runs = run;
    log_debug("receive", "webhook %s: run %lld starts", run->item.id,
              (long long)run->item.attempts + 1);
    int rc = h->options.exec_command ? receive_handler_exec_start(h, run) : receive_handler_forward_start(h, run);
    if (rc != 0)
        receive_handler_finish(run, false, false);
}

typedef struct receive_handler_claim {
    receive_handler *h;
    int64_t asked_mono; /* when the claim was asked for: its leases start no earlier */
    receive_store_claim_job job;
} receive_handler_claim;

/* Store-thread work: the claim held in a handler_claim. */
static int receive_handler_claim_work(db *conn, void *arg)
{
    receive_handler_claim *c = arg;
    return receive_store_claim(conn, &c->job);
}

static void receive_handler_give_back(receive_handler *h);

static void receive_handler_ready_free(receive_handler_ready *r)
{
    free(r->item.id);
    free(r->item.timestamp);
    free(r->item.signature);
    free(r->item.event);
    free(r->item.body);
    free(r);
}

/* Starts waiting webhooks while worker slots are free. */
static void receive_handler_dispatch(receive_handler *h)
{
    while (h->busy < h->options.workers && h->ready && !h->stopping) {
        receive_handler_ready *r = h->ready;
        h->ready = r->next;
        if (!h->ready)
            h->ready_tail = &h->ready;
        h->ready_count--;
        int64_t waited = loop_monotonic_ms() - r->claimed_mono;
        if (waited + h->options.timeout_ms + RECEIVE_HANDLER_LEASE_MARGIN_MS > h->options.lease_ms) {
            log_warn("receive", "webhook %s: claimed %lld ms ago, too late to run within its "
                     "lease; it will be claimed again", r->item.id, (long long)waited);
            receive_handler_ready_free(r);
            continue;
        }
        h->busy++;
        receive_handler_start(h, &r->item, r->token);
        free(r);
    }
}

static void receive_handler_claimed(void *arg, int rc)
{
    receive_handler_claim *c = arg;
    receive_handler *h = c->h;
    h->claiming = false;
    if (rc != 0) {
        log_error("receive", "cannot claim pending webhooks: %s", hookd_strerror(rc));
        c->job.count = 0;
    }
    for (size_t i = 0; i < c->job.count; i++) {
        receive_handler_ready *r = xcalloc(1, sizeof *r);
        r->item = c->job.items[i];
        memset(&c->job.items[i], 0, sizeof c->job.items[i]);
        snprintf(r->token, sizeof r->token, "%s", c->job.token);
        r->claimed_mono = c->asked_mono;
        *h->ready_tail = r;
        h->ready_tail = &r->next;
        h->ready_count++;
    }
    bool more = rc == 0 && (c->job.count == c->job.limit || h->kick_again);
    receive_store_claim_job_clear(&c->job);
    free(c);
    if (h->stopping) {
        receive_handler_give_back(h);
        return;
    }
    receive_handler_dispatch(h);
    if (more)
        receive_handler_kick(h);
}

void receive_handler_kick(receive_handler *h)
{
    if (h->stopping)
        return;
    receive_handler_dispatch(h);
    if (h->claiming) {
        h->kick_again = true;
        return;
    }
    /* How many to hold: a slot each, plus what the slots should get through soon. */
    double soon = RECEIVE_HANDLER_AHEAD_HORIZON_MS / (h->run_ms > 0.1 ? h->run_ms : 0.1);
    size_t ahead = soon >= (double)h->claim_limit ? h->claim_limit
                                                  : (size_t)soon * h->options.workers;
    size_t target = h->options.workers + ahead;
    if (target > h->claim_limit)
        target = h->claim_limit;
    size_t held = h->busy + h->ready_count;
    if (held >= target || (h->ready_count > 0 && h->ready_count * 2 > ahead))
        return; /* enough here; claim again when half of what waits is started */
    receive_handler_claim *c = xcalloc(1, sizeof *c);
    c->h = h;
    c->asked_mono = loop_monotonic_ms();
    c->job.now = loop_now_ms();
    c->job.lease_ms = h->options.lease_ms;
    c->job.owner = h->owner_copy;
    c->job.limit = target - held;
    h->claiming = true;
    h->kick_again = false;
    db_worker_submit(h->worker, receive_handler_claim_work, receive_handler_claimed, c);
}

/* A count of the store's pending webhooks, to replace the one kept here. */
typedef struct receive_handler_count {
    receive_handler *h;
    receive_store_count_job job;
} receive_handler_count;

static int receive_handler_count_work(db *conn, void *arg)
{
    return receive_store_count_pending(conn, &((receive_handler_count *)arg)->job);
}

/* Jobs' done callbacks run in the order they were submitted, so the count is exact as of
 * now: accepts and records that committed after it adjust it as usual. */
static void receive_handler_counted(void *arg, int rc)
{
    receive_handler_count *c = arg;
    c->h->counting = false;
    if (rc == 0)
        receive_handler_set_pending(c->h, c->job.count);
    free(c);
}

/* Looks for due work, and recounts the pending webhooks: other receivers sharing the
 * database handle (and accept) webhooks this one counted (or did not). */
static void receive_handler_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_handler *h = arg;
    receive_handler_kick(h);
    if (!h->counting && !h->stopping) {
        receive_handler_count *c = xcalloc(1, sizeof *c);
        c->h = h;
        h->counting = true;
        db_worker_submit(h->worker, receive_handler_count_work, receive_handler_counted, c);
    }
}

static void receive_handler_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_handler *h = arg;
    h->wake_at = 0;
    receive_handler_kick(h);
}

receive_handler *receive_handler_new(struct event_base *base, db_worker *worker, metrics *m,
                     const receive_handler_options *options, int64_t pending, char *err,
                     size_t errlen)
{
    if ((options->exec_command == NULL) == (options->forward_url == NULL) ||
        options->workers == 0 || options->max_attempts == 0 ||
        options->retry_delay_count == 0 || options->retry_delay_count > RECEIVE_HANDLER_MAX_RETRY_DELAYS ||
        options->timeout_ms <= 0 || options->lease_ms <= 0) {
        snprintf(err, errlen, "invalid handler options");
        return NULL;
    }
    receive_handler *h = xcalloc(1, sizeof *h);
    h->base = base;
    h->worker = worker;
    h->options = *options;
    h->owner_copy = xstrdup(options->owner ? options->owner : "");
    h->options.owner = h->owner_copy;
    h->ready_tail = &h->ready;
    h->to_record_tail = &h->to_record;
    h->claim_limit = (size_t)options->workers * RECEIVE_HANDLER_AHEAD;
    h->run_ms = 1000; /* until runs are seen: no claiming ahead */
    if (options->forward_url) {
        http_client_options co = {.allow_http = true, .allow_private_addresses = true};
        char why[256];
        if (http_client_check_url(&co, options->forward_url, why, sizeof why) != 0) {
            snprintf(err, errlen, "--forward %s: %s", options->forward_url, why);
            free(h->owner_copy);
            free(h);
            return NULL;
        }
        h->client = http_client_new(base, &co);
        if (!h->client) {
            snprintf(err, errlen, "cannot start the HTTP client");
            free(h->owner_copy);
            free(h);
            return NULL;
        }
    }
    h->pending_gauge = metrics_gauge(m, "hookd_receive_pending", NULL,
                                     "Accepted webhooks not yet handled (waiting or running)");
    h->runs_success = metrics_counter(m, "hookd_receive_handler_runs_total", "result=\"success\"",
                                      "Handler runs by result");
    h->runs_failure = metrics_counter(m, "hookd_receive_handler_runs_total", "result=\"failure\"",
                                      "Handler runs by result");
    h->runs_timeout = metrics_counter(m, "hookd_receive_handler_runs_total", "result=\"timeout\"",
                                      "Handler runs by result");
    h->latency = metrics_histogram_ms(m, "hookd_receive_handler_duration_ms", NULL,
                                      "Duration of handler runs in milliseconds");
    receive_handler_set_pending(h, pending);

    h->sigchld = evsignal_new(base, SIGCHLD, receive_handler_sigchld, h);
    evsignal_add(h->sigchld, NULL);
    h->poll = event_new(base, -1, EV_PERSIST, receive_handler_poll, h);
    struct timeval tv = {.tv_sec = RECEIVE_HANDLER_POLL_MS / 1000,
                         .tv_usec = (RECEIVE_HANDLER_POLL_MS % 1000) * 1000};
    event_add(h->poll, &tv);
    h->wake = evtimer_new(base, receive_handler_wake, h);
    receive_handler_kick(h);
    return h;
}

void receive_handler_accepted(receive_handler *h)
{
    receive_handler_set_pending(h, h->pending + 1);
    receive_handler_kick(h);
}

void receive_handler_requeued(receive_handler *h)
{
    receive_handler_set_pending(h, h->pending + 1);
    receive_handler_kick(h);
}

int64_t receive_handler_pending(const receive_handler *h)
{
    return h->pending;
}

/* The give-back of unstarted claims, and what it owns. */
typedef struct receive_handler_unclaim {
    receive_handler *h;
    receive_handler_ready *list;
    receive_store_unclaim_job job;
} receive_handler_unclaim;

static int receive_handler_unclaim_work(db *conn, void *arg)
{
    return receive_store_unclaim(conn, &((receive_handler_unclaim *)arg)->job);
}

static void receive_handler_unclaimed(void *arg, int rc)
{
    receive_handler_unclaim *u = arg;
    u->h->unclaiming--;
    if (rc != 0)
        log_warn("receive", "cannot give back %zu claimed webhooks (%s); their leases expire",
                 u->job.count, hookd_strerror(rc));
    while (u->list) {
        receive_handler_ready *r = u->list;
        u->list = r->next;
        receive_handler_ready_free(r);
    }
    free((void *)u->job.ids);
    free((void *)u->job.tokens);
    free(u);
}

/* Gives back every webhook waiting here (stopping: none of them will be started). */
static void receive_handler_give_back(receive_handler *h)
{
    if (!h->ready)
        return;
    receive_handler_unclaim *u = xcalloc(1, sizeof *u);
    u->h = h;
    u->list = h->ready;
    const char **ids = xcalloc(h->ready_count, sizeof *ids);
    const char **tokens = xcalloc(h->ready_count, sizeof *tokens);
    size_t n = 0;
    for (receive_handler_ready *r = h->ready; r; r = r->next, n++) {
        ids[n] = r->item.id;
        tokens[n] = r->token;
    }
    u->job = (receive_store_unclaim_job){.ids = ids, .tokens = tokens, .count = n};
    h->ready = NULL;
    h->ready_tail = &h->ready;
    h->ready_count = 0;
    h->unclaiming++;
    db_worker_submit(h->worker, receive_handler_unclaim_work, receive_handler_unclaimed, u);
}

void receive_handler_stop(receive_handler *h)
{
    h->stopping = true;
    event_del(h->poll);
    event_del(h->wake);
    receive_handler_give_back(h);
}

bool receive_handler_idle(const receive_handler *h)
{
    return h->runs == NULL && !h->claiming && !h->counting && h->records == 0 &&
           h->unclaiming == 0;
}

void receive_handler_free(receive_handler *h)
{
    if (!h)
        return;
    while (h->runs) {
        struct receive_handler_run *run = h->runs;
        h->runs = run->next;
        if (run->pid > 0) {
            kill(-run->pid, SIGKILL);
            waitpid(run->pid, NULL, 0);
        }
        receive_handler_run_free(run);
    }
    while (h->to_record) {
        struct receive_handler_run *run = h->to_record;
        h->to_record = run->next;
        receive_handler_run_free(run);
    }
    while (h->ready) {
        receive_handler_ready *r = h->ready;
        h->ready = r->next;
        receive_handler_ready_free(r);
    }
    if (h->client)
        http_client_free(h->client);
    event_free(h->sigchld);
    event_free(h->poll);
    event_free(h->wake);
    free(h->owner_copy);
    free(h);
}
