/*
 * db_listener.c — PostgreSQL LISTEN on the event loop (db.h): a connection of its own, made
 * with libpq's non-blocking connect (PQconnectStart/PQconnectPoll) and driven by one event
 * on its socket; notifications are read with PQconsumeInput + PQnotifies. Every failure
 * drops the connection and schedules a new one with a doubling backoff, so a restart of the
 * database server only delays wake-ups; the callers' own polls keep them correct meanwhile.
 */
#include "db_internal.h"

#include "hookd.h"
#include "log.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <string.h>

#define LISTENER_BACKOFF_MIN_MS 500
#define LISTENER_BACKOFF_MAX_MS 30000

enum listener_state {
    LISTENER_WAITING,     /* no connection; the retry timer is armed */
    LISTENER_CONNECTING,  /* PQconnectPoll in progress */
    LISTENER_SUBSCRIBING, /* LISTEN sent, its answer not yet read */
    LISTENER_READY,       /* LISTEN in force */
};

struct db_listener {
    struct event_base *base;
    char *url; /* owned copy; holds the password: never logged */
    char channel[64];
    db_notify_fn fn;
    void *arg;
    PGconn *conn; /* NULL while waiting */
    enum listener_state state;
    struct event *io;    /* on PQsocket(conn), re-created at each connect step */
    struct event *retry; /* the backoff timer */
    int64_t backoff_ms;  /* the next wait after a failure */
    bool was_ready;      /* it has been ready once: later connects are reconnects */
};

static void listener_io_cb(evutil_socket_t fd, short what, void *arg);
static void listener_connect(db_listener *l);

/* Watches the connection's current socket for what (EV_PERSIST added when persist). */
static int listener_watch(db_listener *l, short what)
{
    if (l->io) {
        event_free(l->io);
        l->io = NULL;
    }
    int fd = PQsocket(l->conn);
    if (fd < 0)
        return HOOKD_ESTORE;
    l->io = event_new(l->base, fd, what, listener_io_cb, l);
    if (!l->io || event_add(l->io, NULL) != 0)
        return HOOKD_ESTORE;
    return 0;
}

/* Drops the connection and tries again after the backoff. why is libpq's message. */
static void listener_fail(db_listener *l, const char *what, const char *why)
{
    /* libpq's messages span lines; logs are one line each. */
    char line[DB_ERRMSG_LEN];
    size_t n = 0;
    bool space = false;
    for (const char *p = why ? why : ""; *p && n + 2 < sizeof line; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space)
            line[n++] = ' ';
        space = false;
        line[n++] = *p;
    }
    line[n] = '\0';
    log_warn("db", "notifications on %s: %s%s%s; trying again in %lld ms", l->channel, what,
             n ? ": " : "", line, (long long)l->backoff_ms);
    if (l->io) {
        event_free(l->io);
        l->io = NULL;
    }
    if (l->conn) {
        PQfinish(l->conn);
        l->conn = NULL;
    }
    l->state = LISTENER_WAITING;
    struct timeval tv = {.tv_sec = (time_t)(l->backoff_ms / 1000),
                         .tv_usec = (suseconds_t)(l->backoff_ms % 1000) * 1000};
    evtimer_add(l->retry, &tv);
    l->backoff_ms *= 2;
    if (l->backoff_ms > LISTENER_BACKOFF_MAX_MS)
        l->backoff_ms = LISTENER_BACKOFF_MAX_MS;
}

static void listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listener_connect(arg);
}

/* Sends LISTEN on the fresh connection; its answer is read by listener_io_cb. */
static void listener_subscribe(db_listener *l)
{
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN %s", l->channel);
    if (PQsetnonblocking(l->conn, 1) != 0 || PQsendQuery(l->conn, sql) != 1) {
        listener_fail(l, "LISTEN", PQerrorMessage(l->conn));
        return;
    }
    l->state = LISTENER_SUBSCRIBING;
    int flushed = PQflush(l->conn);
    if (flushed < 0) {
        listener_fail(l, "LISTEN", PQerrorMessage(l->conn));
        return;
    }
    /* A query this small leaves at once; when it does not, writability finishes it. */
    if (listener_watch(l, (short)(EV_READ | EV_PERSIST | (flushed ? EV_WRITE : 0))) != 0)
        listener_fail(l, "watching the connection", PQerrorMessage(l->conn));
}

/* Reads what the server sent: LISTEN's answer, notifications. */
static void listener_read(db_listener *l)
{
    if (PQconsumeInput(l->conn) != 1) {
        listener_fail(l, "connection lost", PQerrorMessage(l->conn));
        return;
    }
    bool wake = false;
    while (!PQisBusy(l->conn)) {
        PGresult *res = PQgetResult(l->conn);
        if (!res)
            break;
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK) {
            char why[DB_ERRMSG_LEN];
            snprintf(why, sizeof why, "%s", PQresultErrorMessage(res));
            PQclear(res);
            listener_fail(l, "LISTEN refused", why);
            return;
        }
        PQclear(res);
        if (l->state == LISTENER_SUBSCRIBING) {
            l->state = LISTENER_READY;
            l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
            if (l->was_ready)
                log_info("db", "notifications on %s: listening again", l->channel);
            else
                log_debug("db", "notifications on %s: listening", l->channel);
            l->was_ready = true;
            wake = true; /* whatever was notified while we were not listening */
        }
    }
    PGnotify *note;
    while ((note = PQnotifies(l->conn)) != NULL) {
        wake = true;
        PQfreemem(note);
    }
    if (PQstatus(l->conn) != CONNECTION_OK) {
        listener_fail(l, "connection lost", PQerrorMessage(l->conn));
        return;
    }
    if (wake)
        l->fn(l->arg);
}

static void listener_io_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    db_listener *l = arg;
    if (l->state == LISTENER_CONNECTING) {
        switch (PQconnectPoll(l->conn)) {
        case PGRES_POLLING_READING:
            if (listener_watch(l, EV_READ) != 0)
                listener_fail(l, "connect", PQerrorMessage(l->conn));
            return;
        case PGRES_POLLING_WRITING:
            if (listener_watch(l, EV_WRITE) != 0)
                listener_fail(l, "connect", PQerrorMessage(l->conn));
            return;
        case PGRES_POLLING_OK:
            listener_subscribe(l);
            return;
        default:
            listener_fail(l, "cannot connect", PQerrorMessage(l->conn));
            return;
        }
    }
    if (what & EV_WRITE) {
        int flushed = PQflush(l->conn);
        if (flushed < 0) {
            listener_fail(l, "connection lost", PQerrorMessage(l->conn));
            return;
        }
        if (flushed == 0 && listener_watch(l, EV_READ | EV_PERSIST) != 0) {
            listener_fail(l, "watching the connection", PQerrorMessage(l->conn));
            return;
        }
    }
    if (what & EV_READ)
        listener_read(l);
}

/* Notices, and the server's "terminating connection" said outside a query, are not ours to
 * print: a lost connection is logged once by listener_fail. */
static void listener_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Starts a non-blocking connect; the socket's events carry it on. */
static void listener_connect(db_listener *l)
{
    /* The URL first, expanded; the keywords after it override its own. */
    static const char *const keywords[] = {"dbname",
                                           "application_name",
                                           "keepalives",
                                           "keepalives_idle",
                                           "keepalives_interval",
                                           "keepalives_count",
                                           NULL};
    const char *values[] = {l->url, "hookd-listener", "1", "30", "10", "3", NULL};
    l->conn = PQconnectStartParams(keywords, values, 1);
    if (!l->conn) {
        listener_fail(l, "cannot connect", "out of memory");
        return;
    }
    if (PQstatus(l->conn) == CONNECTION_BAD) {
        listener_fail(l, "cannot connect", PQerrorMessage(l->conn));
        return;
    }
    PQsetNoticeProcessor(l->conn, listener_notice, NULL);
    l->state = LISTENER_CONNECTING;
    /* As libpq says: before the first PQconnectPoll, wait for writability. */
    if (listener_watch(l, EV_WRITE) != 0)
        listener_fail(l, "cannot connect", PQerrorMessage(l->conn));
}

int db_listener_open(struct event_base *base, const char *url, const char *channel, db_notify_fn fn,
                     void *arg, db_listener **out)
{
    *out = NULL;
    if (!url || !(strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0))
        return HOOKD_EINVAL;
    if (!channel || !db_channel_valid(channel) || !fn)
        return HOOKD_EINVAL;
    db_listener *l = xcalloc(1, sizeof *l);
    size_t len = strlen(url);
    l->url = xmalloc(len + 1);
    memcpy(l->url, url, len + 1);
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    l->base = base;
    l->fn = fn;
    l->arg = arg;
    l->backoff_ms = LISTENER_BACKOFF_MIN_MS;
    l->retry = evtimer_new(base, listener_retry_cb, l);
    if (!l->retry) {
        fputs("hookd: cannot create a timer\n", stderr);
        abort();
    }
    listener_connect(l);
    *out = l;
    return 0;
}

bool db_listener_ready(const db_listener *l)
{
    return l && l->state == LISTENER_READY;
}

void db_listener_close(db_listener *l)
{
    if (!l)
        return;
    if (l->io)
        event_free(l->io);
    event_free(l->retry);
    if (l->conn)
        PQfinish(l->conn);
    /* The URL may hold a password: do not leave it in freed memory. */
    memset(l->url, 0, strlen(l->url));
    free(l->url);
    free(l);
}
