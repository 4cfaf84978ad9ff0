/*
 * serve.c — `hookd serve`: parses the flags (SPEC §3), opens and migrates the store, sets up
 * the admin token, and wires the loop, the store thread, the http client, the dispatcher and
 * the API together. SIGTERM/SIGINT: stop taking requests and claiming, let attempts under
 * way finish and be recorded, exit 0.
 */
#include "serve_api.h"
#include "cli.h"
#include "db.h"
#include "serve_deliver.h"
#include "hookd.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "retry.h"
#include "serve_store.h"

#include <event2/event.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL_WINDOW_MS (5LL * 24 * 3600 * 1000) /* deactivate after 5 days of failures */
#define SERVE_API_MAX_REQUEST_BODY (1024 * 1024)      /* evhttp's cap; the API answers 413 at 256 KiB */
#define SQLITE_CACHE_PRAGMA "PRAGMA cache_size = -16384" /* KiB: 16 MiB at most */
#define POLL_SQLITE_MS 250   /* other processes on the file are seen only by polling */
#define POLL_POSTGRES_MS 1000 /* new work arrives by NOTIFY; the poll finds due retries and
                                 expired leases of other nodes */

static const char usage[] =
    "usage: hookd serve [OPTIONS]\n"
    "\n"
    "Runs the sender: keeps destinations, takes events, delivers each to every active\n"
    "subscribed destination, signed, with retries; every attempt is recorded.\n"
    "\n"
    "  --listen HOST:PORT        API address (default 127.0.0.1:8080)\n"
    "  --db URL                  sqlite:PATH or postgres://… (default sqlite:hookd.db)\n"
    "  --api-token TOKEN         bearer token of the /v1/ API (or env HOOKD_API_TOKEN);\n"
    "                            without one, a token is generated at first start, printed\n"
    "                            once, and only its SHA-256 is stored\n"
    "  --timeout DURATION        one attempt, connect to last byte (default 10s)\n"
    "  --max-attempts N          attempts per webhook, first included (default 5)\n"
    "  --retry-delays LIST       waits before attempts 2..N, jittered ±10%\n"
    "                            (default 30s,5m,30m,2h; the last one repeats)\n"
    "  --allow-http              accept http:// destination URLs (default: https only)\n"
    "  --allow-private-addresses allow connections to loopback, private, link-local,\n"
    "                            multicast and unspecified addresses\n"
    "  --ca-file PEM             trust these certificates instead of the system's\n"
    "  --event-types FILE        add the event types of FILE to the default catalog\n"
    "  --event-types-only        with --event-types: FILE replaces the default catalog\n"
    "  --lease DURATION          how long a claimed webhook is held (default 60s); longer\n"
    "                            than --timeout. Webhooks claimed by a node that died are\n"
    "                            taken up by the others once their lease has expired\n"
    "  --max-in-flight N         attempts under way at once, in all (default 1024); 0: this\n"
    "                            process serves the API only and delivers nothing\n"
    "  --max-in-flight-per-destination N\n"
    "                            attempts under way at once per destination (default 8)\n"
    "  --node-id NAME            this process's name in leases (default: \"HOST ADDR:PORT\",\n"
    "                            the host name and the --listen address); at start the\n"
    "                            leases left by earlier runs under this name are released,\n"
    "                            so no two live processes on one database may share it\n"
    "  --poll-interval DURATION  look for due retries and expired leases at least this\n"
    "                            often (default 250ms on SQLite; 1s on PostgreSQL, where\n"
    "                            new events wake every node at once through LISTEN/NOTIFY)\n"
    "  --help                    this text\n"
    "\n"
    "Durations take ms, s, m, h suffixes; a bare number is seconds.\n";

/* Everything cmd_serve sets up, for the shutdown callbacks. */
typedef struct serve_state {
    struct event_base *base;
    db_listener *listener;   /* PostgreSQL notifications, or NULL */
    serve_api *serve_api;
    serve_deliver *dispatch;
    bool drained;            /* the dispatcher's attempts are finished and recorded */
    struct event *finish;    /* polls for the end of shutdown */
    struct event *deadline;  /* gives up waiting after the timeout */
    int64_t timeout_ms;      /* --timeout: attempts under way end within it */
} serve_state;

enum {
    OPT_LISTEN = 256, OPT_DB, OPT_TOKEN, OPT_TIMEOUT, OPT_MAX_ATTEMPTS, OPT_RETRY_DELAYS,
    OPT_ALLOW_HTTP, OPT_ALLOW_PRIVATE, OPT_CA_FILE, OPT_EVENT_TYPES, OPT_EVENT_TYPES_ONLY,
    OPT_LEASE, OPT_MAX_IN_FLIGHT, OPT_MAX_PER_DEST, OPT_NODE_ID, OPT_POLL, OPT_HELP,
};

static const struct option options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"db", required_argument, NULL, OPT_DB},
    {"api-token", required_argument, NULL, OPT_TOKEN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"retry-delays", required_argument, NULL, OPT_RETRY_DELAYS},
    {"allow-http", no_argument, NULL, OPT_ALLOW_HTTP},
    {"allow-private-addresses", no_argument, NULL, OPT_ALLOW_PRIVATE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"event-types", required_argument, NULL, OPT_EVENT_TYPES},
    {"event-types-only", no_argument, NULL, OPT_EVENT_TYPES_ONLY},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT},
    {"max-in-flight-per-destination", required_argument, NULL, OPT_MAX_PER_DEST},
    {"node-id", required_argument, NULL, OPT_NODE_ID},
    {"poll-interval", required_argument, NULL, OPT_POLL},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hookd serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(usage, stderr);
    return 2;
}

/* A whole number in [min, max], or false. */
static bool parse_int(const char *text, long min, long max, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_state *st = arg;
    if (st->drained && serve_api_pending(st->serve_api) == 0) {
        struct timeval flush = {0, 50000}; /* lets the last answers leave */
        event_base_loopexit(st->base, &flush);
        return;
    }
    struct timeval again = {0, 20000};
    evtimer_add(st->finish, &again);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_state *st = arg;
    log_warn("serve", "attempts still under way at the shutdown deadline: %zu; they will be "
             "attempted again at the next start", serve_deliver_in_flight(st->dispatch));
    event_base_loopexit(st->base, NULL);
}

/* A notification: another node (or this one) stored work that may be due now. */
static void notified_cb(void *arg)
{
    serve_deliver_wake(arg);
}

static void drained_cb(void *arg)
{
    serve_state *st = arg;
    st->drained = true;
}

static void on_stop(void *arg)
{
    serve_state *st = arg;
    log_info("serve", "stopping: no new requests; waiting for %zu attempts under way",
             serve_deliver_in_flight(st->dispatch));
    serve_api_stop(st->serve_api);
    db_listener_close(st->listener);
    st->listener = NULL;
    serve_deliver_stop(st->dispatch, drained_cb, st);
    struct timeval now = {0, 0};
    evtimer_add(st->finish, &now);
    int64_t wait_ms = st->timeout_ms + 3000;
    struct timeval limit = {.tv_sec = (time_t)(wait_ms / 1000),
                            .tv_usec = (suseconds_t)(wait_ms % 1000) * 1000};
    evtimer_add(st->deadline, &limit);
}

int cmd_serve(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080";
    const char *db_url = "sqlite:hookd.db";
    const char *token = getenv("HOOKD_API_TOKEN");
    const char *retry_text = RETRY_DEFAULT_DELAYS;
    const char *event_types = NULL;
    const char *node_arg = NULL;
    bool event_types_only = false;
    int64_t timeout_ms = 10000, lease_ms = 60000, poll_ms = 0;
    int max_attempts = 5, max_in_flight = 1024, max_per_dest = 8;
    http_client_options client_opt = {0};

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_DB: db_url = optarg; break;
        case OPT_TOKEN: token = optarg; break;
        case OPT_TIMEOUT:
            if (hookd_duration_parse(optarg, &timeout_ms) != 0 || timeout_ms <= 0 ||
                timeout_ms > 600000)
                return usage_error("--timeout: \"%s\" is not a duration from 1ms to 10m",
                                   optarg);
            break;
        case OPT_MAX_ATTEMPTS:
            if (!parse_int(optarg, 1, 100, &max_attempts))
                return usage_error("--max-attempts: \"%s\" is not a number from 1 to 100",
                                   optarg);
            break;
        case OPT_RETRY_DELAYS: retry_text = optarg; break;
        case OPT_ALLOW_HTTP: client_opt.allow_http = true; break;
        case OPT_ALLOW_PRIVATE: client_opt.allow_private_addresses = true; break;
        case OPT_CA_FILE: client_opt.ca_file = optarg; break;
        case OPT_EVENT_TYPES: event_types = optarg; break;
        case OPT_EVENT_TYPES_ONLY: event_types_only = true; break;
        case OPT_LEASE:
            if (hookd_duration_parse(optarg, &lease_ms) != 0 || lease_ms <= 0)
                return usage_error("--lease: \"%s\" is not a duration", optarg);
            break;
        case OPT_MAX_IN_FLIGHT:
            if (!parse_int(optarg, 0, 100000, &max_in_flight))
                return usage_error("--max-in-flight: \"%s\" is not a number from 0 to 100000",
                                   optarg);
            break;
        case OPT_MAX_PER_DEST:
            if (!parse_int(optarg, 1, 10000, &max_per_dest))
                return usage_error("--max-in-flight-per-destination: \"%s\" is not a number "
                                   "from 1 to 10000", optarg);
            break;
        case OPT_NODE_ID: node_arg = optarg; break;
        case OPT_POLL:
            if (hookd_duration_parse(optarg, &poll_ms) != 0 || poll_ms < 10 ||
                poll_ms > 3600000)
                return usage_error("--poll-interval: \"%s\" is not a duration from 10ms to 1h",
                                   optarg);
            break;
        case OPT_HELP: fputs(usage, stdout); return 0;
        default:
            return usage_error("unknown or incomplete option \"%s\"",
                               argv[optind - 1] ? argv[optind - 1] : "");
        }
    }
    if (token && !*token)
        token = NULL; /* an empty HOOKD_API_TOKEN counts as unset */
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    serve_deliver_options dopt = {0};
    if (retry_policy_parse(&dopt.retry, retry_text) != 0)
        return usage_error("--retry-delays: \"%s\" is not a list like 30s,5m,30m,2h",
                           retry_text);
    if (lease_ms <= timeout_ms)
        return usage_error("--lease must be longer than --timeout");
    if (event_types_only && !event_types)
        return usage_error("--event-types-only needs --event-types FILE");
    if (token && (strlen(token) < 8 || strlen(token) > 512))
        return usage_error("the API token must be 8 to 512 characters");

    int status = 1;
    hookd_catalog *catalog = NULL;
    db *conn = NULL;
    struct event_base *base = NULL;
    http_client *client = NULL;
    db_worker *worker = NULL;
    metrics *registry = NULL;
    struct evhttp *http = NULL;
    serve_deliver *dispatch = NULL;
    serve_api *rest = NULL;
    serve_state st = {0};
    char err[512];

    if (event_types) {
        catalog = hookd_catalog_load_file(event_types, !event_types_only, err, sizeof err);
        if (!catalog) {
            fprintf(stderr, "hookd serve: --event-types %s: %s\n", event_types, err);
            goto done;
        }
    } else {
        catalog = hookd_catalog_default();
    }

    if (db_open(db_url, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "hookd serve: cannot open the database: %s\n", err);
        goto done;
    }
    if (serve_store_migrate(conn) != 0) {
        fprintf(stderr, "hookd serve: cannot create the tables: %s\n", db_errmsg(conn));
        goto done;
    }
    /* SQLite's default page cache (2 MiB) is smaller than the webhooks' hot indexes under
     * load: every miss is a pread. SQLITE_CACHE_PRAGMA bounds what it may grow to. */
    if (db_kind(conn) == DB_SQLITE && db_exec(conn, SQLITE_CACHE_PRAGMA) != 0)
        log_warn("serve", "cannot size the SQLite page cache: %s", db_errmsg(conn));

    serve_api_options aopt = {.catalog = catalog, .url_policy = &client_opt};
    if (token) {
        SHA256((const unsigned char *)token, strlen(token), aopt.token_digest);
    } else {
        char generated[128];
        bool was_generated = false;
        if (serve_store_admin_token(conn, aopt.token_digest, generated, sizeof generated,
                              &was_generated) != 0) {
            fprintf(stderr, "hookd serve: cannot read or store the admin token: %s\n",
                    db_errmsg(conn));
            goto done;
        }
        if (was_generated) {
            printf("admin token: %s\n", generated);
            printf("(shown once: only its SHA-256 is stored; use it as "
                   "\"Authorization: Bearer <token>\")\n");
            fflush(stdout);
            OPENSSL_cleanse(generated, sizeof generated);
        } else {
            log_info("serve", "using the admin token generated at first start (not shown "
                     "again; --api-token or HOOKD_API_TOKEN to set one)");
        }
    }

    base = loop_new();
    http_server_limits limits = {.max_body = SERVE_API_MAX_REQUEST_BODY};
    int port = 0;
    http = http_server_listen(base, listen, &limits, &port, err, sizeof err);
    if (!http) {
        fprintf(stderr, "hookd serve: %s\n", err);
        goto done;
    }

    /* The default node id names the address this process now holds, so no other live
     * process has it: the leases left under it are a dead run's, and are released. */
    const char *colon = strrchr(listen, ':');
    int hostlen = colon ? (int)(colon - listen) : (int)strlen(listen);
    /* The engine cleans it, adds a random suffix for the lease owner and releases at
     * start the leases an earlier run under this node id left. */
    char node_id[400];
    if (node_arg) {
        snprintf(node_id, sizeof node_id, "%s", node_arg);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(node_id, sizeof node_id, "%s %.*s:%d", host, hostlen, listen, port);
    }
    bool postgres = db_kind(conn) == DB_POSTGRES;

    client = http_client_new(base, &client_opt);
    if (!client) {
        fputs("hookd serve: cannot start the HTTP client\n", stderr);
        goto done;
    }
    if (db_worker_start(base, conn, 0, &worker) != 0) {
        fputs("hookd serve: cannot start the store thread\n", stderr);
        goto done;
    }
    conn = NULL; /* the worker owns it */
    registry = metrics_new();

    dopt.node_id = node_id;
    dopt.timeout_ms = timeout_ms;
    dopt.max_attempts = max_attempts;
    dopt.lease_ms = lease_ms;
    dopt.max_in_flight = max_in_flight;
    dopt.max_per_destination = max_per_dest;
    dopt.fail_window_ms = FAIL_WINDOW_MS;
    dopt.poll_ms = poll_ms > 0 ? poll_ms : postgres ? POLL_POSTGRES_MS : POLL_SQLITE_MS;
    dispatch = serve_deliver_new(base, worker, client, registry, &dopt);
    if (postgres && max_in_flight > 0 &&
        db_listener_open(base, db_url, SERVE_STORE_NOTIFY_CHANNEL, notified_cb, dispatch,
                         &st.listener) != 0)
        log_warn("serve", "cannot listen for notifications; polling every %lld ms",
                 (long long)dopt.poll_ms);
    rest = serve_api_new(http, worker, dispatch, registry, &aopt);

    st.base = base;
    st.serve_api = rest;
    st.dispatch = dispatch;
    st.timeout_ms = timeout_ms;
    st.finish = evtimer_new(base, finish_cb, &st);
    st.deadline = evtimer_new(base, deadline_cb, &st);
    loop_on_stop(base, on_stop, &st);

    log_info("serve", "listening on http://%.*s:%d (node \"%s\", store %s%s)", hostlen, listen,
             port, serve_deliver_owner(dispatch),
             strncmp(db_url, "sqlite:", 7) == 0 ? db_url : "postgres",
             max_in_flight == 0 ? ", API only: delivers nothing" : "");

    event_base_dispatch(base);
    status = 0;
    log_info("serve", "stopped");

done:
    db_listener_close(st.listener);
    if (client)
        http_client_free(client); /* aborts what the deadline left, without callbacks */
    if (worker)
        db_worker_stop(worker);   /* runs what is queued: outcomes get recorded */
    if (conn)
        db_close(conn);
    serve_deliver_free(dispatch);
    serve_api_free(rest);
    if (http)
        http_server_free(http);
    if (st.finish)
        event_free(st.finish);
    if (st.deadline)
        event_free(st.deadline);
    if (registry)
        metrics_free(registry);
    if (catalog)
        hookd_catalog_free(catalog);
    if (base)
        event_base_free(base);
    return status;
}
