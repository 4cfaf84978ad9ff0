/*
 * receive.c — `hookd receive`: flags, then wiring: the store (inbox), the public endpoint
 * (receiver), the handler pool (handler), the admin API (admin), the retention purge, and
 * an orderly stop on SIGTERM/SIGINT (stop listening, let saves and handler runs finish and
 * be recorded, then close the store).
 */
#include "receive_api.h"
#include "cli.h"
#include "db.h"
#include "receive_handler.h"
#include "hookd.h"
#include "http_server.h"
#include "receive_store.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "receive_ingest.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECEIVE_MAX_SECRETS 16
/* How often the retention purge runs at most. */
#define RECEIVE_PURGE_EVERY_MS (60 * 60 * 1000)

static const char receive_usage[] =
    "usage: hookd receive --secret S [--secret S_OLD …] (--exec 'COMMAND' | --forward URL)\n"
    "                     [--listen 127.0.0.1:9090] [--db URL] [--tolerance 5m] [--path /]\n"
    "                     [--max-body 1MiB] [--workers 4] [--handler-timeout 30s]\n"
    "                     [--max-attempts 5] [--retry-delays 10s,1m,10m,1h]\n"
    "                     [--max-pending 100000] [--admin-listen 127.0.0.1:9091]\n"
    "                     [--retention 7d] [--lease DURATION]\n"
    "\n"
    "Receives MeetBit webhooks: checks the timestamp and signature, saves each webhook\n"
    "durably before answering 200, drops duplicates, and hands each one to your handler.\n"
    "\n"
    "  --listen HOST:PORT      public endpoint (default 127.0.0.1:9090)\n"
    "  --db URL                sqlite:PATH or postgres://… (default sqlite:hookd.db)\n"
    "  --secret S              the destination's secret; repeat to accept an old one during\n"
    "                          a rotation; env HOOKD_SECRET adds one more\n"
    "  --tolerance D           accepted clock skew of X-Webhook-Timestamp (default 5m)\n"
    "  --path PATH             the path webhooks are POSTed to (default /)\n"
    "  --max-body SIZE         larger bodies are answered 413 (default 1MiB)\n"
    "  --exec 'COMMAND'        run /bin/sh -c COMMAND per webhook: body on stdin, WEBHOOK_ID,\n"
    "                          WEBHOOK_EVENT, WEBHOOK_TIMESTAMP in the environment; exit 0\n"
    "                          is success\n"
    "  --forward URL           POST the body and the X-Webhook-* headers to URL; 2XX is\n"
    "                          success\n"
    "  --workers N             handler runs at once (default 4)\n"
    "  --handler-timeout D     a run still going after D is killed (default 30s)\n"
    "  --max-attempts N        runs before a webhook is failed (default 5)\n"
    "  --retry-delays LIST     waits before runs 2..N (default 10s,1m,10m,1h)\n"
    "  --max-pending N         beyond N webhooks waiting, new ones get 503 (default 100000)\n"
    "  --admin-listen H:P      admin API (default 127.0.0.1:9091)\n"
    "  --retention D           done and failed webhooks are deleted after D (default 7d)\n"
    "  --lease D               how long a claimed webhook stays claimed; a crashed process's\n"
    "                          claims expire after it (default handler-timeout + 10s)\n"
    "\n"
    "Durations take ms, s, m, h, d suffixes (a bare number is seconds).\n";

/* Everything the command line decides. */
typedef struct receive_config {
    const char *listen;
    const char *db_url;
    hookd_secret secrets[RECEIVE_MAX_SECRETS];
    size_t secret_count;
    int64_t tolerance_ms;
    const char *path;
    uint64_t max_body;
    const char *exec_command;
    const char *forward_url;
    long workers;
    int64_t handler_timeout_ms;
    long max_attempts;
    int64_t retry_delays_ms[RECEIVE_HANDLER_MAX_RETRY_DELAYS];
    size_t retry_delay_count;
    long max_pending;
    const char *admin_listen;
    int64_t retention_ms;
    int64_t lease_ms; /* 0: handler timeout + 10 s */
} receive_config;

/* The running receiver, for the stop sequence and the purge timer. */
typedef struct receive_state {
    struct event_base *base;
    struct evhttp *public_http;
    struct evhttp *admin_http;
    db_worker *worker;
    metrics *metrics;
    receive_handler *receive_handler;
    receive_ingest *receive_ingest;
    receive_api *receive_api;
    db_listener *listener;       /* PostgreSQL notifications of accepts, or NULL */
    struct event *purge_timer;
    struct event *drain_timer;
    int64_t retention_ms;
    bool purging;
    receive_store_purge_job purge;
} receive_state;

static int receive_parse_long(const char *flag, const char *text, long min, long max,
                              long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "hookd receive: %s must be a whole number from %ld to %ld\n", flag, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

static int receive_parse_duration(const char *flag, const char *text, int64_t *out)
{
    if (hookd_duration_parse(text, out) != 0 || *out <= 0) {
        fprintf(stderr, "hookd receive: %s: '%s' is not a duration (e.g. 500ms, 10s, 5m)\n",
                flag, text);
        return -1;
    }
    return 0;
}

/* Parses argv into c: 0, 1 for --help (usage printed), or 2 (usage error printed). */
static int receive_parse(int argc, char **argv, receive_config *c)
{
    enum {
        OPT_LISTEN = 256, OPT_DB, OPT_SECRET, OPT_TOLERANCE, OPT_PATH, OPT_MAX_BODY, OPT_EXEC,
        OPT_FORWARD, OPT_WORKERS, OPT_HANDLER_TIMEOUT, OPT_MAX_ATTEMPTS, OPT_RETRY_DELAYS,
        OPT_MAX_PENDING, OPT_ADMIN_LISTEN, OPT_RETENTION, OPT_LEASE, OPT_HELP
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"db", required_argument, NULL, OPT_DB},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"tolerance", required_argument, NULL, OPT_TOLERANCE},
        {"path", required_argument, NULL, OPT_PATH},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"exec", required_argument, NULL, OPT_EXEC},
        {"forward", required_argument, NULL, OPT_FORWARD},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"handler-timeout", required_argument, NULL, OPT_HANDLER_TIMEOUT},
        {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
        {"retry-delays", required_argument, NULL, OPT_RETRY_DELAYS},
        {"max-pending", required_argument, NULL, OPT_MAX_PENDING},
        {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
        {"retention", required_argument, NULL, OPT_RETENTION},
        {"lease", required_argument, NULL, OPT_LEASE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *c = (receive_config){.listen = "127.0.0.1:9090",
                          .db_url = "sqlite:hookd.db",
                          .tolerance_ms = 5 * 60 * 1000,
                          .path = "/",
                          .max_body = 1024 * 1024,
                          .workers = 4,
                          .handler_timeout_ms = 30 * 1000,
                          .max_attempts = 5,
                          .retry_delays_ms = {10 * 1000, 60 * 1000, 600 * 1000, 3600 * 1000},
                          .retry_delay_count = 4,
                          .max_pending = 100000,
                          .admin_listen = "127.0.0.1:9091",
                          .retention_ms = 7LL * 24 * 3600 * 1000};
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN: c->listen = optarg; break;
        case OPT_DB: c->db_url = optarg; break;
        case OPT_SECRET:
            if (!*optarg) {
                fprintf(stderr, "hookd receive: --secret must not be empty\n");
                return 2;
            }
            if (c->secret_count == RECEIVE_MAX_SECRETS) {
                fprintf(stderr, "hookd receive: at most %d secrets\n", RECEIVE_MAX_SECRETS);
                return 2;
            }
            c->secrets[c->secret_count++] = (hookd_secret){optarg, strlen(optarg)};
            break;
        case OPT_TOLERANCE:
            if (receive_parse_duration("--tolerance", optarg, &c->tolerance_ms) != 0)
                return 2;
            break;
        case OPT_PATH:
            if (optarg[0] != '/') {
                fprintf(stderr, "hookd receive: --path must start with /\n");
                return 2;
            }
            c->path = optarg;
            break;
        case OPT_MAX_BODY:
            if (hookd_size_parse(optarg, &c->max_body) != 0 || c->max_body == 0 ||
                c->max_body > (uint64_t)1 << 30) {
                fprintf(stderr, "hookd receive: --max-body: '%s' is not a size from 1 byte to "
                                "1GiB (e.g. 1MiB, 512KiB)\n", optarg);
                return 2;
            }
            break;
        case OPT_EXEC: c->exec_command = optarg; break;
        case OPT_FORWARD: c->forward_url = optarg; break;
        case OPT_WORKERS:
            if (receive_parse_long("--workers", optarg, 1, 1024, &c->workers) != 0)
                return 2;
            break;
        case OPT_HANDLER_TIMEOUT:
            if (receive_parse_duration("--handler-timeout", optarg, &c->handler_timeout_ms) != 0)
                return 2;
            break;
        case OPT_MAX_ATTEMPTS:
            if (receive_parse_long("--max-attempts", optarg, 1, 1000, &c->max_attempts) != 0)
                return 2;
            break;
        case OPT_RETRY_DELAYS:
            if (hookd_duration_list_parse(optarg, c->retry_delays_ms, RECEIVE_HANDLER_MAX_RETRY_DELAYS,
                                          &c->retry_delay_count) != 0) {
                fprintf(stderr, "hookd receive: --retry-delays: '%s' is not a list of at most "
                                "%d durations (e.g. 10s,1m,10m)\n", optarg,
                        RECEIVE_HANDLER_MAX_RETRY_DELAYS);
                return 2;
            }
            break;
        case OPT_MAX_PENDING:
            if (receive_parse_long("--max-pending", optarg, 1, 1000000000L, &c->max_pending) != 0)
                return 2;
            break;
        case OPT_ADMIN_LISTEN: c->admin_listen = optarg; break;
        case OPT_RETENTION:
            if (receive_parse_duration("--retention", optarg, &c->retention_ms) != 0)
                return 2;
            break;
        case OPT_LEASE:
            if (receive_parse_duration("--lease", optarg, &c->lease_ms) != 0)
                return 2;
            break;
        case OPT_HELP: fputs(receive_usage, stdout); return 1;
        default:
            if (optopt)
                fprintf(stderr, "hookd receive: option needs a value or is unknown: %s\n\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "hookd receive: unknown option %s\n\n", argv[optind - 1]);
            fputs(receive_usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hookd receive: unexpected argument '%s'\n\n%s", argv[optind],
                receive_usage);
        return 2;
    }
    const char *env_secret = getenv("HOOKD_SECRET");
    if (env_secret && *env_secret && c->secret_count < RECEIVE_MAX_SECRETS)
        c->secrets[c->secret_count++] = (hookd_secret){env_secret, strlen(env_secret)};
    if (c->secret_count == 0) {
        fprintf(stderr, "hookd receive: --secret is required (or env HOOKD_SECRET)\n\n%s",
                receive_usage);
        return 2;
    }
    if ((c->exec_command == NULL) == (c->forward_url == NULL)) {
        fprintf(stderr, "hookd receive: exactly one of --exec and --forward is required\n\n%s",
                receive_usage);
        return 2;
    }
    size_t listen_len = strlen(c->listen);
    if (strcmp(c->listen, c->admin_listen) == 0 &&
        !(listen_len >= 2 && strcmp(c->listen + listen_len - 2, ":0") == 0)) {
        fprintf(stderr, "hookd receive: --admin-listen must differ from --listen\n");
        return 2;
    }
    if (c->lease_ms == 0)
        c->lease_ms = c->handler_timeout_ms + 10 * 1000;
    if (c->lease_ms <= c->handler_timeout_ms) {
        fprintf(stderr, "hookd receive: --lease must be longer than --handler-timeout\n");
        return 2;
    }
    return 0;
}

/* ---- retention ---- */

static void receive_purge_tick(evutil_socket_t fd, short what, void *arg);

/* Store-thread work: the purge held in the receive_state. */
static int receive_purge_work(db *conn, void *arg)
{
    receive_state *st = arg;
    return receive_store_purge(conn, &st->purge);
}

static void receive_purged(void *arg, int rc)
{
    receive_state *st = arg;
    st->purging = false;
    if (rc != 0)
        log_warn("receive", "retention purge failed: %s", hookd_strerror(rc));
    else if (st->purge.deleted > 0)
        log_info("receive", "retention: deleted %lld finished webhooks",
                 (long long)st->purge.deleted);
}

static void receive_purge_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_state *st = arg;
    if (st->purging)
        return;
    st->purging = true;
    st->purge = (receive_store_purge_job){.before = loop_now_ms() - st->retention_ms};
    db_worker_submit(st->worker, receive_purge_work, receive_purged, st);
}

/* ---- stopping ---- */

/* Bound sockets of one evhttp, collected so they can be removed outside the iteration. */
typedef struct receive_sockets {
    struct evhttp_bound_socket *list[16];
    size_t count;
} receive_sockets;

static void receive_collect_socket(struct evhttp_bound_socket *bound, void *arg)
{
    receive_sockets *s = arg;
    if (s->count < sizeof s->list / sizeof s->list[0])
        s->list[s->count++] = bound;
}

static void receive_stop_listening(struct evhttp *http)
{
    receive_sockets s = {.count = 0};
    evhttp_foreach_bound_socket(http, receive_collect_socket, &s);
    for (size_t i = 0; i < s.count; i++)
        evhttp_del_accept_socket(http, s.list[i]);
}

static void receive_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_state *st = arg;
    if (receive_ingest_in_flight(st->receive_ingest) > 0 || receive_api_in_flight(st->receive_api) > 0 ||
        !receive_handler_idle(st->receive_handler) || st->purging)
        return;
    event_del(st->drain_timer);
    event_base_loopexit(st->base, NULL);
}

static void receive_on_stop(void *arg)
{
    receive_state *st = arg;
    log_info("receive", "stopping: finishing saves and handler runs under way");
    receive_stop_listening(st->public_http);
    receive_stop_listening(st->admin_http);
    db_listener_close(st->listener);
    st->listener = NULL;
    receive_handler_stop(st->receive_handler);
    event_del(st->purge_timer);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 20 * 1000};
    event_add(st->drain_timer, &tv);
}

/* A notification: a receiver sharing the database accepted a webhook (or one was retried). */
static void receive_notified(void *arg)
{
    receive_handler_kick(arg);
}

/* This process's name in the leases it takes: the host and the public address it holds. */
static void receive_owner(const char *listen, int port, char *out, size_t len)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    const char *colon = strrchr(listen, ':');
    int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(out, len, "%s %.*s:%d", host, hostlen, listen, port);
}

int cmd_receive(int argc, char **argv)
{
    receive_config c;
    int prc = receive_parse(argc, argv, &c);
    if (prc == 1)
        return 0;
    if (prc != 0)
        return 2;

    /* Requests and store batches allocate and free the same sizes over and over: without
     * this, glibc hands freed memory back to the kernel (madvise, with a TLB shootdown on
     * every core) many times a second under load — 5 % of the receiver's CPU. */
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);

    int status = 1;
    char err[512];
    receive_state st = {.retention_ms = c.retention_ms};
    db *conn = NULL;
    st.base = loop_new();

    if (db_open(c.db_url, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "hookd receive: cannot open the database: %s\n", err);
        goto done;
    }
    if (receive_store_migrate(conn) != 0) {
        fprintf(stderr, "hookd receive: cannot create the receiver's tables: %s\n",
                db_errmsg(conn));
        goto done;
    }

    http_server_limits public_limits = {.max_body = (size_t)c.max_body};
    int public_port = 0;
    st.public_http = http_server_listen(st.base, c.listen, &public_limits, &public_port, err,
                                        sizeof err);
    if (!st.public_http) {
        fprintf(stderr, "hookd receive: cannot listen on %s: %s\n", c.listen, err);
        goto done;
    }
    /* Read (and drop) a body over --max-body before answering, so that the client, which
     * is still sending, sees the 413 rather than a reset connection. */
    evhttp_set_flags(st.public_http, EVHTTP_SERVER_LINGERING_CLOSE);
    http_server_limits admin_limits = {.max_body = 64 * 1024, .max_connections = 256};
    int admin_port = 0;
    st.admin_http = http_server_listen(st.base, c.admin_listen, &admin_limits, &admin_port, err,
                                       sizeof err);
    if (!st.admin_http) {
        fprintf(stderr, "hookd receive: cannot listen on %s (--admin-listen): %s\n",
                c.admin_listen, err);
        goto done;
    }

    /* Holding the public address, no other live process has our node id: the engine
     * releases the leases left under it (a process that died) before it claims. */
    char owner[512];
    receive_owner(c.listen, public_port, owner, sizeof owner);
    receive_store_count_job count = {0};
    if (receive_store_count_pending(conn, &count) != 0) {
        fprintf(stderr, "hookd receive: cannot read the store: %s\n", db_errmsg(conn));
        goto done;
    }

    bool postgres = db_kind(conn) == DB_POSTGRES;
    if (db_worker_start(st.base, conn, 0, &st.worker) != 0) {
        fprintf(stderr, "hookd receive: cannot start the store thread\n");
        goto done;
    }
    conn = NULL;

    st.metrics = metrics_new();
    receive_handler_options ho = {.exec_command = c.exec_command,
                          .forward_url = c.forward_url,
                          .workers = (unsigned)c.workers,
                          .timeout_ms = c.handler_timeout_ms,
                          .max_attempts = (unsigned)c.max_attempts,
                          .retry_delay_count = c.retry_delay_count,
                          .lease_ms = c.lease_ms,
                          .node_id = owner};
    memcpy(ho.retry_delays_ms, c.retry_delays_ms, sizeof ho.retry_delays_ms);
    st.receive_handler = receive_handler_new(st.base, st.worker, st.metrics, &ho, count.count, err, sizeof err);
    if (!st.receive_handler) {
        fprintf(stderr, "hookd receive: %s\n", err);
        goto done;
    }
    receive_ingest_options ro = {.secrets = c.secrets,
                           .secret_count = c.secret_count,
                           .tolerance_s = c.tolerance_ms / 1000,
                           .path = c.path,
                           .max_body = (size_t)c.max_body,
                           .max_pending = c.max_pending};
    st.receive_ingest = receive_ingest_new(st.public_http, st.worker, st.receive_handler, st.metrics, &ro);
    st.receive_api = receive_api_new(st.admin_http, st.worker, st.receive_handler, st.metrics);
    if (postgres &&
        db_listener_open(st.base, c.db_url, RECEIVE_STORE_NOTIFY_CHANNEL, receive_notified, st.receive_handler,
                         &st.listener) != 0)
        log_warn("receive", "cannot listen for notifications; polling for work instead");

    int64_t purge_every = c.retention_ms < RECEIVE_PURGE_EVERY_MS ? c.retention_ms
                                                                  : RECEIVE_PURGE_EVERY_MS;
    st.purge_timer = event_new(st.base, -1, EV_PERSIST, receive_purge_tick, &st);
    struct timeval every = {.tv_sec = purge_every / 1000,
                            .tv_usec = (purge_every % 1000) * 1000};
    event_add(st.purge_timer, &every);
    st.drain_timer = event_new(st.base, -1, EV_PERSIST, receive_drain, &st);
    loop_on_stop(st.base, receive_on_stop, &st);
    receive_purge_tick(-1, 0, &st);

    log_info("receive", "listening on http://%s%s (port %d), admin on %s (port %d), "
             "%lld pending, handler: %s",
             c.listen, c.path, public_port, c.admin_listen, admin_port,
             (long long)count.count, c.exec_command ? "exec" : "forward");
    event_base_dispatch(st.base);
    log_info("receive", "stopped");
    status = 0;

done:
    db_listener_close(st.listener);
    if (st.worker) {
        if (st.receive_handler)
            receive_handler_stop(st.receive_handler);
        db_worker_stop(st.worker);
    }
    receive_api_free(st.receive_api);
    receive_ingest_free(st.receive_ingest);
    receive_handler_free(st.receive_handler);
    if (st.purge_timer)
        event_free(st.purge_timer);
    if (st.drain_timer)
        event_free(st.drain_timer);
    if (st.public_http)
        http_server_free(st.public_http);
    if (st.admin_http)
        http_server_free(st.admin_http);
    if (st.metrics)
        metrics_free(st.metrics);
    if (conn)
        db_close(conn);
    event_base_free(st.base);
    return status;
}
