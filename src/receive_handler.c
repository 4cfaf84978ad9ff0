/*
 * receive_handler.c — the receiver's side of the work engine (see receive_handler.h and
 * engine.h): its runner runs the owner's handler for one claimed webhook, either as a child
 * process (fork + exec of /bin/sh in its own process group, the body written to its stdin
 * through a non-blocking pipe on the loop, its exit seen through SIGCHLD + waitpid(WNOHANG),
 * the whole group killed at --handler-timeout) or as a POST through the HTTP client; its
 * store claims, records, gives back and releases through receive_store.c. Every webhook
 * has the same key: --workers is both the global and the per-key cap, so at most --workers
 * runs are under way. The engine claims ahead, retries on --retry-delays (with retry.c's
 * jitter) and records outcomes in batches; this file also keeps the pending count for
 * --max-pending and the metrics. The sender's twin is serve_deliver.c.
 *
 * A handler's stdout and stderr go to a pipe read on the loop, never to hookd's stderr
 * (issue 12: a stalled log reader froze the receiver once the handlers filled the pipe);
 * the last RECEIVE_HANDLER_OUTPUT_MAX bytes are kept and recorded with the run (its
 * `output`, made valid UTF-8). A handler dies with the receiver: its shell is started with
 * PR_SET_PDEATHSIG = SIGKILL, so a kill -9'd receiver leaves no run going on beside the
 * one its restart makes (a handler's own children, in its process group, are killed with
 * it at the timeout and when the engine cancels the run; a grandchild that outlives the
 * shell after a kill -9 is the handler's own business). fork, not posix_spawn: the death
 * signal can only be set in the child.
 */
#include "receive_handler.h"

#include "engine.h"
#include "hookd.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "receive_store.h"
#include "retry.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* How often the pending count is read again from the store (and due work looked for). */
#define RECEIVE_HANDLER_POLL_MS 1000
/* The tail of a handler's stdout + stderr kept with its run. */
#define RECEIVE_HANDLER_OUTPUT_MAX 4096
/* Ended runs whose outcomes may wait for the store, per worker. At 1 (4 outcomes per worker
 * fewer) the handler waited for the store's commit: a drain of 50,000 webhooks to nginx ran
 * at 8,100–13,300/s against 16,400/s at 4, with 15 % more CPU per webhook (smaller batches).
 * A crash repeats what this lets through, on top of the runs under way. */
#define RECEIVE_HANDLER_UNRECORDED_PER_WORKER 4
/* With a store connection of its own (own_lane), items held per worker, and record jobs with
 * the store at once. The saves then commit concurrently on another connection, at up to 1.4x
 * the rate of one shared connection, and more webhooks are in flight between their save and
 * their recorded outcome than the default 8 per worker: with it, the handoff ran out of room
 * within a second or two of a burst, and the rest of the burst went through claims, a second
 * UPDATE per webhook on the handler's connection that fell behind. And one record job at a
 * time: the outcomes ending meanwhile go together in the next, in fewer and larger
 * statements, where one job per loop turn (~700 a second, ~19 outcomes each) kept the
 * handler's connection busy enough that runs waited for max_unrecorded
 * (docs/BENCHMARKS.md, "The receiver's handler on a store connection of its own"). */
#define RECEIVE_HANDLER_OWN_LANE_HELD_PER_WORKER 16
#define RECEIVE_HANDLER_OWN_LANE_RECORDING 1
/* Every webhook's key: one queue, --workers slots. */
#define RECEIVE_HANDLER_KEY ""

struct receive_handler_run;

struct receive_handler {
    struct event_base *base;
    receive_handler_options options; /* copied; node_id not kept (the engine has it) */
    engine *engine;
    http_client *client; /* --forward only */
    int64_t pending;     /* pending webhooks in the store, as we know them */
    bool counting;       /* a count of pending webhooks is under way */
    db_worker *worker;
    struct receive_handler_run *children;    /* --exec runs whose process may be alive */
    struct event *poll;                      /* periodic recount of pending webhooks */
    struct event *sigchld;                   /* children ended */
    char handoff_token[HOOKD_ID_LEN + 1];    /* the lease token of rows written leased … */
    int64_t handoff_token_until;             /* … until this (wall ms), then a new one */
    struct receive_handler_run *saved;       /* handed off, committed, not yet adopted … */
    struct receive_handler_run **saved_tail; /* … in order (receive_handler_start_saved) */
    metric *pending_gauge;
    metric *runs[3]; /* by result: receive_handler_results */
    metric *latency;
};

/* One claimed webhook (the engine's payload) and, once started, its run. Small: one is made
 * per webhook, so the --exec output tail (4 KiB) is allocated only for an --exec run (the
 * calloc of a run holding it was 5k of a forwarded webhook's ~38k instructions on the loop),
 * and a handed-off webhook's strings follow the struct in the same allocation. */
struct receive_handler_run {
    receive_handler *h;
    engine_run *run;                        /* while running: the engine's handle */
    struct receive_handler_run *next;       /* in h->children */
    receive_store_item item;                /* the webhook; its strings in data[] */
    struct receive_handler_run *saved_next; /* in h->saved */
    int64_t saved_until;                    /* a handed-off run's lease end (wall ms) */
    char token[40];                         /* the claim's lease token */
    pid_t pid;                              /* --exec: the child, 0 once reaped */
    int stdin_fd;               /* --exec: our end of the child's stdin, -1 when closed */
    struct event *stdin_event;  /* writes the body as the pipe accepts it */
    size_t written;             /* body bytes written to the pipe */
    struct event *timer;        /* --handler-timeout */
    bool timed_out;             /* the timer fired and the process group was killed */
    int output_fd;              /* --exec: our end of its stdout+stderr, -1 when closed */
    struct event *output_event; /* reads it as it comes */
    char *output; /* --exec: its last bytes (RECEIVE_HANDLER_OUTPUT_MAX + 1), then UTF-8 */
    size_t output_len;
    receive_store_run_job job; /* the outcome to record */
    char error[256];           /* job.error's storage (written only for a failed run) */
    char data[];               /* id, timestamp, signature, event, body, NUL-terminated */
};

static void receive_handler_set_pending(receive_handler *h, int64_t value)
{
    h->pending = value < 0 ? 0 : value;
    metric_set(h->pending_gauge, (double)h->pending);
}

static void receive_handler_children_remove(receive_handler *h, struct receive_handler_run *run)
{
    for (struct receive_handler_run **p = &h->children; *p; p = &(*p)->next) {
        if (*p == run) {
            *p = run->next;
            return;
        }
    }
}

/* Stops watching a pipe and closes our end. */
static void receive_handler_pipe_close(struct event **ev, int *fd)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Closes what a run holds on the loop: its pipes and timer. */
static void receive_handler_run_close(struct receive_handler_run *run)
{
    receive_handler_pipe_close(&run->output_event, &run->output_fd);
    receive_handler_pipe_close(&run->stdin_event, &run->stdin_fd);
    if (run->timer)
        event_free(run->timer);
    run->timer = NULL;
}

static void receive_handler_run_free(struct receive_handler_run *run)
{
    receive_handler_run_close(run);
    free(run->output);
    free(run);
}

/* The run is over: hands how it went to the engine, which decides the next state. */
/* The result label of hookd_receive_handler_runs_total, in the order of h->runs. */
static const char *const receive_handler_results[] = {"success", "failure", "timeout"};

static void receive_handler_finish(struct receive_handler_run *run, bool success, bool timeout)
{
    receive_handler *h = run->h;
    receive_handler_children_remove(h, run);
    if (run->timer)
        event_del(run->timer);
    int64_t duration = loop_now_ms() - engine_run_started_at(run->run);
    metric_observe(h->latency, (double)duration);
    metric_add(h->runs[success ? 0 : timeout ? 2 : 1], 1);
    run->job.error = success ? NULL : run->error;
    engine_result result = {.success = success, .retry_after_ms = -1};
    engine_run *er = run->run;
    run->run = NULL;
    engine_finished(er, &result);
}

/* ---- --exec ---- */

/* Keeps the last RECEIVE_HANDLER_OUTPUT_MAX bytes of what the handler wrote. */
static void receive_handler_output_keep(struct receive_handler_run *run, const char *buf, size_t n)
{
    if (n >= RECEIVE_HANDLER_OUTPUT_MAX) {
        memcpy(run->output, buf + n - RECEIVE_HANDLER_OUTPUT_MAX, RECEIVE_HANDLER_OUTPUT_MAX);
        run->output_len = RECEIVE_HANDLER_OUTPUT_MAX;
        return;
    }
    if (run->output_len + n > RECEIVE_HANDLER_OUTPUT_MAX) {
        size_t drop = run->output_len + n - RECEIVE_HANDLER_OUTPUT_MAX;
        memmove(run->output, run->output + drop, run->output_len - drop);
        run->output_len -= drop;
    }
    memcpy(run->output + run->output_len, buf, n);
    run->output_len += n;
}

/* Reads what the pipe holds now; false at its end (EOF or an error). */
static bool receive_handler_output_read(struct receive_handler_run *run)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(run->output_fd, buf, sizeof buf);
        if (n > 0) {
            receive_handler_output_keep(run, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

static void receive_handler_output_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct receive_handler_run *run = arg;
    if (!receive_handler_output_read(run))
        receive_handler_pipe_close(&run->output_event, &run->output_fd);
}

/* The handler ended: takes what is left in the pipe (a grandchild still holding it open is
 * not waited for), and makes the tail valid UTF-8 for the store (a cut character, NUL and
 * invalid bytes become '?'). */
static void receive_handler_output_end(struct receive_handler_run *run)
{
    if (run->output_fd >= 0) {
        receive_handler_output_read(run); /* false at EOF: closed below either way */
        receive_handler_pipe_close(&run->output_event, &run->output_fd);
    }
    unsigned char *s = (unsigned char *)run->output;
    size_t n = run->output_len;
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80         ? 1
                     : (s[i] >> 5) == 6  ? 2
                     : (s[i] >> 4) == 14 ? 3
                     : (s[i] >> 3) == 30 ? 4
                                         : 0;
        bool ok = len > 0 && s[i] != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
    run->output[n] = '\0';
    run->job.output = n > 0 ? run->output : NULL;
}

static void receive_handler_exec_reaped(struct receive_handler_run *run, int status)
{
    run->pid = 0;
    receive_handler_pipe_close(&run->stdin_event, &run->stdin_fd);
    receive_handler_output_end(run);
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
    struct receive_handler_run *run = h->children;
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
    receive_handler_pipe_close(&run->stdin_event, &run->stdin_fd);
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

/* True for a variable the handler must not see: hookd's own secrets (a handler is code the
 * operator runs on untrusted input; it needs the webhook, not the key to forge one). */
static bool receive_handler_secret_var(const char *var)
{
    static const char *const secrets[] = {
        "HOOKD_SECRET=", "HOOKD_API_TOKEN=", "HOOKD_ADMIN_TOKEN="};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strncmp(var, secrets[i], strlen(secrets[i])) == 0)
            return true;
    return false;
}

/* environ without any WEBHOOK_* of ours nor hookd's secrets, plus the three variables;
 * malloc'd pieces. */
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
            strncmp(environ[i], "WEBHOOK_TIMESTAMP=", 18) == 0 ||
            receive_handler_secret_var(environ[i]))
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

/* The child's side of the fork, up to exec: async-signal-safe calls only (hookd has
 * threads). Its own process group (killed whole at the timeout), killed when hookd dies,
 * the signals hookd handles back to their defaults, nothing blocked. */
static void receive_handler_child(int in_fd, int out_fd, pid_t parent, char *const argv[],
                                  char *const envp[])
{
    if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127); /* hookd already gone: no run */
    static const int defaults[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        sigaction(defaults[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0)
        _exit(127);
    execve("/bin/sh", argv, envp);
    _exit(127);
}

/* Watches the run's pipes and timer on the loop once the child is started. */
static void receive_handler_exec_watch(receive_handler *h, struct receive_handler_run *run,
                                       int stdin_fd, int output_fd)
{
    run->next = h->children;
    h->children = run;
    if (!run->output) /* a payload runs once (the engine frees it once recorded) */
        run->output = xmalloc(RECEIVE_HANDLER_OUTPUT_MAX + 1);
    run->stdin_fd = stdin_fd;
    fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
    run->stdin_event =
        event_new(h->base, stdin_fd, EV_WRITE | EV_PERSIST, receive_handler_stdin_writable, run);
    event_add(run->stdin_event, NULL);
    run->output_fd = output_fd;
    fcntl(output_fd, F_SETFL, fcntl(output_fd, F_GETFL) | O_NONBLOCK);
    run->output_event =
        event_new(h->base, output_fd, EV_READ | EV_PERSIST, receive_handler_output_readable, run);
    event_add(run->output_event, NULL);
    run->timer = evtimer_new(h->base, receive_handler_timeout, run);
    struct timeval tv = {.tv_sec = h->options.timeout_ms / 1000,
                         .tv_usec = (h->options.timeout_ms % 1000) * 1000};
    evtimer_add(run->timer, &tv);
}

static int receive_handler_exec_start(receive_handler *h, struct receive_handler_run *run)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        snprintf(run->error, sizeof run->error, "cannot create a pipe: %s", strerror(errno));
        return HOOKD_EIO;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(run->error, sizeof run->error, "cannot create a pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return HOOKD_EIO;
    }
    char *vars[3];
    char **envp = receive_handler_environment(&run->item, vars);
    char *argv[] = {"sh", "-c", (char *)h->options.exec_command, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        receive_handler_child(in[0], out[1], parent, argv, envp);
    int err = errno;
    free(envp);
    for (int i = 0; i < 3; i++)
        free(vars[i]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        snprintf(run->error, sizeof run->error, "cannot start /bin/sh: %s", strerror(err));
        return HOOKD_EIO;
    }
    setpgid(pid, pid); /* as the child does: the group exists before any kill(-pid) */
    run->pid = pid;
    receive_handler_exec_watch(h, run, in[1], out[0]);
    return 0;
}

/* ---- --forward ---- */

static void receive_handler_forward_done(void *arg, const http_result *result)
{
    struct receive_handler_run *run = arg;
    run->job.exit_status = -1;
    run->job.http_status = (int)result->status;
    bool success = result->error == NULL && result->status >= 200 && result->status < 300;
    bool timeout = false;
    if (result->error) {
        snprintf(run->error, sizeof run->error, "%s", result->error);
        timeout = strstr(result->error, "timeout") != NULL;
    } else if (!success) { /* a success records no error: no printf per webhook */
        snprintf(run->error, sizeof run->error, "HTTP %ld", result->status);
    }
    receive_handler_finish(run, success, timeout);
}

static int receive_handler_forward_start(receive_handler *h, struct receive_handler_run *run)
{
    http_header headers[] = {
        {HOOKD_HEADER_ID, run->item.id},
        {HOOKD_HEADER_TIMESTAMP, run->item.timestamp},
        {HOOKD_HEADER_SIGNATURE, run->item.signature},
        {"X-Webhook-Event", run->item.event},
    };
    http_request req = {.url = h->options.forward_url,
                        .headers = headers,
                        .header_count = sizeof headers / sizeof headers[0],
                        .body = run->item.body,
                        .body_len = run->item.body_len,
                        .timeout_ms = h->options.timeout_ms};
    int rc = http_client_post(h->client, &req, receive_handler_forward_done, run);
    if (rc != 0) {
        snprintf(run->error, sizeof run->error, "cannot post to the forward URL: %s",
                 hookd_strerror(rc));
    }
    return rc;
}

/* ---- the runner (engine_runner) ---- */

static void receive_handler_start(void *ctx, engine_run *er, void *payload)
{
    receive_handler *h = ctx;
    struct receive_handler_run *run = payload;
    run->run = er;
    log_debug("receive", "webhook %s: run %lld starts", run->item.id,
              (long long)run->item.attempts + 1);
    int rc = h->options.exec_command ? receive_handler_exec_start(h, run)
                                     : receive_handler_forward_start(h, run);
    if (rc != 0)
        receive_handler_finish(run, false, false);
}

/* The engine's decision goes into the run's record. */
static void receive_handler_decided(void *ctx, void *payload, const engine_outcome *o)
{
    (void)ctx;
    struct receive_handler_run *run = payload;
    receive_store_run_job *job = &run->job;
    job->id = run->item.id;
    job->token = run->token;
    job->n = run->item.runs + 1;
    job->started_at = o->started_at;
    job->duration_ms = o->duration_ms;
    job->now = o->now;
    job->next_attempt_at = o->state == ENGINE_RETRY ? o->next_attempt_at : o->now;
    if (o->state == ENGINE_DONE) {
        job->next_status = "done";
    } else if (o->state == ENGINE_FAILED) {
        job->next_status = "failed";
        log_warn("receive", "webhook %s failed after %lld runs: %s", run->item.id,
                 (long long)o->attempt, run->error);
    } else {
        job->next_status = "pending";
        log_info("receive", "webhook %s run %lld failed (%s); next in %lld ms", run->item.id,
                 (long long)o->attempt, run->error, (long long)(o->next_attempt_at - o->now));
    }
}

/* engine_free with the run under way: its process group is killed and reaped. */
static void receive_handler_cancel(void *ctx, void *payload)
{
    (void)ctx;
    struct receive_handler_run *run = payload;
    if (run->pid > 0) {
        kill(-run->pid, SIGKILL);
        waitpid(run->pid, NULL, 0);
        run->pid = 0;
    }
}

/* ---- the store side (engine_store) ---- */

/* A run for a webhook held under the lease token: the engine's payload. Its strings (id,
 * timestamp, signature, event, body, in that order in from and len) are copied into the
 * run's own allocation: one copy and no malloc each, and the caller's may go (a handed-off
 * webhook's point into its request, which its answer frees). */
static struct receive_handler_run *receive_handler_run_new(receive_handler *h,
                                                           const char *const from[5],
                                                           const size_t len[5], const char *token)
{
    size_t extra = len[0] + len[1] + len[2] + len[3] + len[4] + 5;
    struct receive_handler_run *run = xmalloc(sizeof *run + extra);
    memset(run, 0, sizeof *run); /* not the strings' bytes: written below */
    char *to[5], *at = run->data;
    for (size_t i = 0; i < 5; i++) {
        to[i] = at;
        memcpy(at, from[i], len[i]);
        at[len[i]] = '\0';
        at += len[i] + 1;
    }
    run->h = h;
    run->item = (receive_store_item){.id = to[0],
                                     .timestamp = to[1],
                                     .signature = to[2],
                                     .event = to[3],
                                     .body = to[4],
                                     .body_len = len[4]};
    size_t token_len = strnlen(token, sizeof run->token - 1); /* zeroed: NUL-terminated */
    memcpy(run->token, token, token_len);
    run->stdin_fd = -1;
    run->output_fd = -1;
    run->job.exit_status = -1;
    return run;
}

/* The engine's handle of a run. */
static engine_claimed receive_handler_claimed(struct receive_handler_run *run)
{
    return (engine_claimed){.payload = run,
                            .key = RECEIVE_HANDLER_KEY,
                            .id = run->item.id,
                            .round_attempts = run->item.attempts};
}

/* Store thread: claims for the one key's room; each item becomes a run (the payload). */
static int receive_handler_claim_work(db *conn, void *ctx, engine_claim *c)
{
    int room = engine_claim_room(c, RECEIVE_HANDLER_KEY);
    size_t limit = (size_t)(room < c->limit ? room : c->limit);
    if (room <= 0)
        return 0;
    receive_store_claim_job job = {
        .now = c->now, .lease_ms = c->lease_until - c->now, .owner = c->owner, .limit = limit};
    int rc = receive_store_claim(conn, &job);
    if (rc != 0) {
        receive_store_claim_job_clear(&job);
        return rc;
    }
    c->items = xcalloc(job.count ? job.count : 1, sizeof *c->items);
    for (size_t i = 0; i < job.count; i++) {
        const receive_store_item *it = &job.items[i];
        const char *from[] = {it->id, it->timestamp, it->signature, it->event, it->body};
        size_t len[] = {strlen(it->id), strlen(it->timestamp), strlen(it->signature),
                        strlen(it->event), it->body_len};
        struct receive_handler_run *run = receive_handler_run_new(ctx, from, len, job.token);
        run->item.attempts = it->attempts;
        run->item.runs = it->runs;
        c->items[i] = receive_handler_claimed(run);
    }
    c->count = job.count;
    c->more = job.count == limit;
    receive_store_claim_job_clear(&job); /* the strings were copied into the runs */
    return 0;
}

static int receive_handler_record_work(db *conn, void *ctx, void *payload, const engine_outcome *o)
{
    (void)ctx;
    (void)o; /* copied into the run's job by receive_handler_decided */
    return receive_store_record_run(conn, &((struct receive_handler_run *)payload)->job);
}

static int receive_handler_record_many(db *conn, void *ctx, void *const *payloads, int *rcs,
                                       size_t count)
{
    (void)ctx;
    receive_store_run_job **jobs = xcalloc(count ? count : 1, sizeof *jobs);
    for (size_t i = 0; i < count; i++)
        jobs[i] = &((struct receive_handler_run *)payloads[i])->job;
    int rc = receive_store_record_runs(conn, jobs, rcs, count);
    free(jobs);
    return rc;
}

static int receive_handler_unclaim_work(db *conn, void *ctx, void *const *payloads, size_t count)
{
    (void)ctx;
    const char **ids = xcalloc(count, sizeof *ids);
    const char **tokens = xcalloc(count, sizeof *tokens);
    for (size_t i = 0; i < count; i++) {
        const struct receive_handler_run *run = payloads[i];
        ids[i] = run->item.id;
        tokens[i] = run->token;
    }
    receive_store_unclaim_job job = {.ids = ids, .tokens = tokens, .count = count};
    int rc = receive_store_unclaim(conn, &job);
    free(ids);
    free(tokens);
    return rc;
}

static int receive_handler_release_work(db *conn, void *ctx, const char *prefix, int64_t *released)
{
    (void)ctx;
    receive_store_release_job job = {.prefix = prefix};
    int rc = receive_store_release(conn, &job);
    *released = job.released;
    return rc;
}

static int receive_handler_extend_work(db *conn, void *ctx, const char *owner, int64_t lease_until,
                                       int64_t *extended)
{
    (void)ctx;
    receive_store_extend_job job = {.owner = owner, .lease_until = lease_until};
    int rc = receive_store_extend(conn, &job);
    *extended = job.extended;
    return rc;
}

static void receive_handler_recorded(void *ctx, void *payload, const engine_outcome *o, int rc)
{
    receive_handler *h = ctx;
    (void)payload;
    if (rc == 0 && o->state != ENGINE_RETRY)
        receive_handler_set_pending(h, h->pending - 1);
}

static void receive_handler_payload_free(void *ctx, void *payload)
{
    (void)ctx;
    receive_handler_run_free(payload);
}

/* ---- the pending count ---- */

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
 * now: accepts and records that committed after it adjust it as usual. With a lane of its
 * own (own_lane) the saves commit on the other connection: a group committing while the count
 * runs may be counted twice or missed, until the next count (RECEIVE_HANDLER_POLL_MS), as
 * with other receivers sharing the store. */
static void receive_handler_counted(void *arg, int rc)
{
    receive_handler_count *c = arg;
    c->h->counting = false;
    if (rc == 0)
        receive_handler_set_pending(c->h, c->job.count);
    free(c);
}

/* Recounts the pending webhooks: other receivers sharing the database handle (and accept)
 * webhooks this one counted (or did not). */
static void receive_handler_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_handler *h = arg;
    if (h->counting)
        return;
    receive_handler_count *c = xcalloc(1, sizeof *c);
    c->h = h;
    h->counting = true;
    /* a read whose count is assigned: it may run twice (db.h) */
    db_worker_submit_flags(h->worker, DB_JOB_RERUNNABLE, receive_handler_count_work,
                           receive_handler_counted, c);
}

/* ---- public ---- */

static bool receive_handler_options_ok(const receive_handler_options *o)
{
    return (o->exec_command == NULL) != (o->forward_url == NULL) && o->workers > 0 &&
           o->max_attempts > 0 && o->retry_delay_count > 0 &&
           o->retry_delay_count <= RECEIVE_HANDLER_MAX_RETRY_DELAYS && o->timeout_ms > 0 &&
           o->lease_ms > 0;
}

static void receive_handler_metrics(receive_handler *h, metrics *m)
{
    h->pending_gauge = metrics_gauge(m, "hookd_receive_pending", NULL,
                                     "Accepted webhooks not yet handled (waiting or running)");
    metrics_counters(m, "hookd_receive_handler_runs_total", "result", receive_handler_results, 3,
                     "Handler runs by result", h->runs);
    h->latency = metrics_histogram_ms(m, "hookd_receive_handler_duration_ms", NULL,
                                      "Duration of handler runs in milliseconds");
}

/* The engine's store jobs are lazy (db.h): during a burst its claims and outcomes ride
 * along with the next ingest commit instead of taking commits of their own that each
 * webhook's 200 would wait behind. They may run twice, as every engine job (engine.h). */
static void receive_handler_submit(void *ctx, db_work_fn work, db_done_fn done, void *arg)
{
    db_worker_submit_flags(ctx, DB_JOB_LAZY | DB_JOB_RERUNNABLE, work, done, arg);
}

/* The engine, with this side's store and runner. */
static engine *receive_handler_engine(receive_handler *h, db_worker *worker)
{
    const receive_handler_options *o = &h->options;
    engine_options eo = {
        .name = "receive",
        .node_id = o->node_id,
        .max_runs = (int)o->workers,
        .max_per_key = (int)o->workers,
        /* a crash repeats at most 5 × --workers runs */
        .max_unrecorded = RECEIVE_HANDLER_UNRECORDED_PER_WORKER * (int)o->workers,
        .max_held = o->own_lane ? RECEIVE_HANDLER_OWN_LANE_HELD_PER_WORKER * (int)o->workers : 0,
        .max_recording = o->own_lane ? RECEIVE_HANDLER_OWN_LANE_RECORDING : 0,
        .timeout_ms = o->timeout_ms,
        .lease_ms = o->lease_ms,
        .poll_ms = RECEIVE_HANDLER_POLL_MS,
        .max_attempts = (int)o->max_attempts,
        .handoff = true,
        .submit = receive_handler_submit,
        .submit_ctx = worker};
    eo.retry.count = o->retry_delay_count;
    for (size_t i = 0; i < o->retry_delay_count; i++) {
        eo.retry.delays_ms[i] = o->retry_delays_ms[i];
        if (o->retry_delays_ms[i] > eo.retry.longest_ms)
            eo.retry.longest_ms = o->retry_delays_ms[i];
    }
    engine_store store = {.ctx = h,
                          .claim_work = receive_handler_claim_work,
                          .record_work = receive_handler_record_work,
                          .record_many = receive_handler_record_many,
                          .unclaim_work = receive_handler_unclaim_work,
                          .release_work = receive_handler_release_work,
                          .extend_work = receive_handler_extend_work,
                          .recorded = receive_handler_recorded,
                          .payload_free = receive_handler_payload_free};
    engine_runner runner = {.ctx = h,
                            .start = receive_handler_start,
                            .decided = receive_handler_decided,
                            .cancel = receive_handler_cancel};
    return engine_new(h->base, &eo, &store, &runner);
}

receive_handler *receive_handler_new(struct event_base *base, db_worker *worker, metrics *m,
                                     const receive_handler_options *options, int64_t pending,
                                     char *err, size_t errlen)
{
    if (!receive_handler_options_ok(options)) {
        snprintf(err, errlen, "invalid handler options");
        return NULL;
    }
    http_client *client = NULL;
    if (options->forward_url) {
        /* one keep-alive connection per worker: the pool the forward runs share */
        http_client_options co = {.allow_http = true,
                                  .allow_private_addresses = true,
                                  .max_total_connections = (long)options->workers,
                                  .max_host_connections = (long)options->workers};
        char why[256];
        if (http_client_check_url(&co, options->forward_url, why, sizeof why) != 0) {
            snprintf(err, errlen, "--forward %s: %s", options->forward_url, why);
            return NULL;
        }
        client = http_client_new(base, &co);
        if (!client) {
            snprintf(err, errlen, "cannot start the HTTP client");
            return NULL;
        }
    }
    receive_handler *h = xcalloc(1, sizeof *h);
    h->saved_tail = &h->saved;
    h->base = base;
    h->worker = worker;
    h->options = *options;
    h->client = client;
    receive_handler_metrics(h, m);
    receive_handler_set_pending(h, pending);
    h->sigchld = evsignal_new(base, SIGCHLD, receive_handler_sigchld, h);
    evsignal_add(h->sigchld, NULL);
    h->poll = event_new(base, -1, EV_PERSIST, receive_handler_poll, h);
    struct timeval tv = {.tv_sec = RECEIVE_HANDLER_POLL_MS / 1000,
                         .tv_usec = (RECEIVE_HANDLER_POLL_MS % 1000) * 1000};
    event_add(h->poll, &tv);
    h->engine = receive_handler_engine(h, worker);
    h->options.node_id = NULL; /* the engine keeps its own copy */
    return h;
}

int64_t receive_handler_lease_ms(const receive_handler *h)
{
    return h->options.lease_ms;
}

const char *receive_handler_owner(const receive_handler *h)
{
    return engine_owner(h->engine);
}

void receive_handler_accepted(receive_handler *h)
{
    receive_handler_set_pending(h, h->pending + 1);
    engine_notified(h->engine);
}

void receive_handler_reserve(receive_handler *h, receive_store_insert_job *job)
{
    int64_t lease_until = 0;
    job->lease_owner = NULL;
    if (engine_reserve(h->engine, RECEIVE_HANDLER_KEY, 1, &lease_until) != 1)
        return;
    /* One token per lease period: the (id, token) pair of a handed-off row is unique
     * anyway, since a webhook is inserted once; a claim's batch shares one the same way. */
    /* engine_reserve's own now (its lease ends now + the lease length): no clock read here */
    int64_t now = lease_until - h->options.lease_ms;
    if (now >= h->handoff_token_until) {
        if (hookd_id_new(h->handoff_token) != 0) {
            engine_unreserve(h->engine, RECEIVE_HANDLER_KEY, 1);
            return;
        }
        h->handoff_token_until = now + h->options.lease_ms;
    }
    memcpy(job->lease_token, h->handoff_token, sizeof job->lease_token);
    job->lease_owner = engine_owner(h->engine);
    job->lease_until = lease_until;
}

void receive_handler_saved(receive_handler *h, const receive_store_insert_job *job, bool saved)
{
    bool inserted = saved && !job->duplicate;
    if (!job->lease_owner) {
        if (inserted)
            receive_handler_accepted(h);
        return;
    }
    if (!inserted) {
        engine_unreserve(h->engine, RECEIVE_HANDLER_KEY, 1);
        return;
    }
    receive_handler_set_pending(h, h->pending + 1);
    const char *from[] = {job->id, job->timestamp, job->signature, job->event, job->body};
    size_t len[] = {strlen(job->id), strlen(job->timestamp), strlen(job->signature),
                    strlen(job->event), job->body_len};
    /* adopted by receive_handler_start_saved, once the batch's answers are out */
    struct receive_handler_run *run = receive_handler_run_new(h, from, len, job->lease_token);
    run->saved_until = job->lease_until;
    *h->saved_tail = run;
    h->saved_tail = &run->saved_next;
}

void receive_handler_start_saved(receive_handler *h)
{
    struct receive_handler_run *run = h->saved;
    h->saved = NULL;
    h->saved_tail = &h->saved;
    while (run) {
        struct receive_handler_run *next = run->saved_next;
        engine_claimed claimed = receive_handler_claimed(run);
        engine_adopt(h->engine, &claimed, 1, run->saved_until);
        run = next;
    }
}

void receive_handler_requeued(receive_handler *h)
{
    receive_handler_set_pending(h, h->pending + 1);
    engine_wake(h->engine);
}

void receive_handler_kick(receive_handler *h)
{
    engine_notified(h->engine);
}

int64_t receive_handler_pending(const receive_handler *h)
{
    return h->pending;
}

void receive_handler_stop(receive_handler *h)
{
    event_del(h->poll);
    engine_stop(h->engine, NULL, NULL);
}

bool receive_handler_idle(const receive_handler *h)
{
    return engine_idle(h->engine) && !h->counting;
}

void receive_handler_free(receive_handler *h)
{
    if (!h)
        return;
    while (h->saved) { /* none by then: each batch starts its own */
        struct receive_handler_run *next = h->saved->saved_next;
        receive_handler_run_free(h->saved);
        h->saved = next;
    }
    engine_free(h->engine);
    if (h->client)
        http_client_free(h->client);
    event_free(h->sigchld);
    event_free(h->poll);
    free(h);
}
