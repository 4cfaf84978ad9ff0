/*
 * serve_main.c — `hookd serve`: the sender's flags (SPEC §3) and its wiring, one step per
 * function: catalog, store (open, migrate), admin token, listener, lease owner, the store
 * thread, the HTTP client, the deliveries and the API, then the loop. SIGTERM/SIGINT: stop
 * taking requests and claiming, let attempts under way finish and be recorded, exit 0.
 * The flags are read by cli.c from the table below; nothing here parses text by hand.
 * The receiver's twin is receive_main.c.
 */
#include "admin_token.h"
#include "cli.h"
#include "db.h"
#include "hookd.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "retry.h"
#include "sd_notify.h"
#include "serve_api.h"
#include "retention.h"
#include "serve_deliver.h"
#include "serve_store.h"
#include "serve_store_retention.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define FAIL_WINDOW_MS (5LL * 24 * 3600 * 1000) /* deactivate after 5 days of failures */
/* The front door's cap, the API's largest body (an event's): a larger one, declared or
 * chunked, is answered 413 before it is read, and counted in hookd_api_rejected_total */
#define SERVE_API_MAX_REQUEST_BODY SERVE_API_MAX_EVENT_BODY
#define SQLITE_CACHE_PRAGMA "PRAGMA cache_size = -16384" /* KiB: 16 MiB at most */
#define POLL_SQLITE_MS 250 /* other processes on the file are seen only by polling */
/* new work arrives by NOTIFY; the poll finds due retries and expired leases of other nodes */
#define POLL_POSTGRES_MS 1000

/* Everything the command line decides; serve_config_defaults holds what it starts as. */
typedef struct serve_config {
    const char *listen;
    const char *db_url;
    const char *token; /* --api-token or HOOKD_API_TOKEN, or NULL: stored/generated */
    int64_t timeout_ms;
    long max_attempts;
    cli_list retry_delays;
    bool allow_http;
    bool allow_private;
    const char *ca_file;
    const char *event_types;
    bool event_types_only;
    int64_t lease_ms;
    long max_in_flight;
    long max_per_destination;
    const char *node_id;       /* --node-id, or NULL: "HOST ADDR:PORT" */
    const char *proxy;         /* --proxy, or NULL */
    int64_t poll_ms;           /* 0: by backend */
    cli_front_door front_door; /* --max-connections, --header-timeout, … */
    int64_t retention_ms;      /* --retention; 0: keep everything */
    bool shared_sqlite;        /* --shared-sqlite: other senders may use the SQLite file */
} serve_config;

static const serve_config serve_config_defaults = {
    .listen = "127.0.0.1:8080",
    .db_url = "sqlite:hookd.db",
    .timeout_ms = 10000,
    .max_attempts = 5,
    .retry_delays = {.text = RETRY_DEFAULT_DELAYS},
    .lease_ms = 60000,
    .max_in_flight = 1024,
    .max_per_destination = 8,
    .retention_ms = 30LL * 24 * 3600 * 1000,
};

/* --proxy: an http:// or https:// URL with a host. */
static bool serve_proxy_valid(const char *text)
{
    char why[128];
    return http_client_check_url(&(http_client_options){.allow_http = true}, text, why,
                                 sizeof why) == 0;
}

#define AT(field) CLI_AT(serve_config, field)

static const cli_option serve_options[] = {
    {.name = "listen",
     .kind = CLI_STRING,
     .offset = AT(listen),
     .arg = "HOST:PORT",
     .help = "API address (default 127.0.0.1:8080)"},
    {.name = "db",
     .kind = CLI_STRING,
     .offset = AT(db_url),
     .arg = "URL",
     .help = "sqlite:PATH or postgres://… (default sqlite:hookd.db)"},
    {.name = "api-token",
     .kind = CLI_STRING,
     .offset = AT(token),
     .arg = "TOKEN",
     .help = "bearer token of the /v1/ API (or env HOOKD_API_TOKEN);\n"
             "without one, a token is generated at first start, printed\n"
             "once, and only its SHA-256 is stored",
     .env = "HOOKD_API_TOKEN"},
    {.name = "timeout",
     .kind = CLI_DURATION,
     .offset = AT(timeout_ms),
     .arg = "DURATION",
     .help = "one attempt, connect to last byte (default 10s)",
     .min = 1,
     .max = 600000},
    {.name = "max-attempts",
     .kind = CLI_COUNT,
     .offset = AT(max_attempts),
     .arg = "N",
     .help = "attempts per webhook, first included (default 5)",
     .min = 1,
     .max = 100},
    {.name = "retry-delays",
     .kind = CLI_LIST,
     .offset = AT(retry_delays),
     .arg = "LIST",
     .help = "waits before attempts 2..N, jittered ±10%\n"
             "(default 30s,5m,30m,2h; the last one repeats)",
     .max = RETRY_MAX_DELAYS},
    {.name = "allow-http",
     .kind = CLI_FLAG,
     .offset = AT(allow_http),
     .arg = NULL,
     .help = "accept http:// destination URLs (default: https only)"},
    {.name = "allow-private-addresses",
     .kind = CLI_FLAG,
     .offset = AT(allow_private),
     .arg = NULL,
     .help = "allow connections to loopback, private, link-local,\n"
             "multicast and unspecified addresses"},
    {.name = "ca-file",
     .kind = CLI_STRING,
     .offset = AT(ca_file),
     .arg = "PEM",
     .help = "trust these certificates instead of the system's"},
    {.name = "proxy",
     .kind = CLI_STRING,
     .offset = AT(proxy),
     .arg = "URL",
     .help = "send every attempt through this HTTP proxy (http://HOST:PORT,\n"
             "or https://HOST:PORT to reach the proxy itself over TLS),\n"
             "tunnelled with CONNECT; the destination's address is resolved\n"
             "and checked first, and the proxy is asked for that address.\n"
             "http_proxy and the like in the environment are ignored",
     .valid = serve_proxy_valid,
     .what = "is not an http:// or https:// URL"},
    {.name = "event-types",
     .kind = CLI_STRING,
     .offset = AT(event_types),
     .arg = "FILE",
     .help = "add the event types of FILE to the default catalog"},
    {.name = "event-types-only",
     .kind = CLI_FLAG,
     .offset = AT(event_types_only),
     .arg = NULL,
     .help = "with --event-types: FILE replaces the default catalog"},
    {.name = "lease",
     .kind = CLI_DURATION,
     .offset = AT(lease_ms),
     .arg = "DURATION",
     .help = "how long a claimed webhook is held (default 60s); longer\n"
             "than --timeout. Webhooks claimed by a node that died are\n"
             "taken up by the others once their lease has expired",
     .min = 1},
    {.name = "max-in-flight",
     .kind = CLI_COUNT,
     .offset = AT(max_in_flight),
     .arg = "N",
     .help = "attempts under way at once, in all (default 1024); 0: this\n"
             "process serves the API only and delivers nothing",
     .min = 0,
     .max = 100000},
    {.name = "max-in-flight-per-destination",
     .kind = CLI_COUNT,
     .offset = AT(max_per_destination),
     .arg = "N",
     .help = "attempts under way at once per destination (default 8)",
     .min = 1,
     .max = 10000},
    {.name = "node-id",
     .kind = CLI_STRING,
     .offset = AT(node_id),
     .arg = "NAME",
     .help = "this process's name in leases (default: \"HOST ADDR:PORT\",\n"
             "the host name and the --listen address); at start the\n"
             "leases left by earlier runs under this name are released,\n"
             "so no two live processes on one database may share it"},
    {.name = "poll-interval",
     .kind = CLI_DURATION,
     .offset = AT(poll_ms),
     .arg = "DURATION",
     .help = "look for due retries and expired leases at least this\n"
             "often (default 250ms on SQLite; 1s on PostgreSQL, where\n"
             "new events wake every node at once through LISTEN/NOTIFY)",
     .min = 10,
     .max = 3600000},
    {.name = "shared-sqlite",
     .kind = CLI_FLAG,
     .offset = AT(shared_sqlite),
     .arg = NULL,
     .help = "SQLite: let other hookd serve processes on this machine\n"
             "deliver from the same file, each writing its leases into it\n"
             "(every one must be started so). Without it a sender holds\n"
             "the file alone, keeps its leases in memory, and a second\n"
             "one is refused (one with --max-in-flight 0 may join either\n"
             "kind). PostgreSQL is always shared"},
    {.name = "retention",
     .kind = CLI_DURATION,
     .offset = AT(retention_ms),
     .arg = "D",
     .help = "finished webhooks (with their attempts) and events are\n"
             "deleted D after they were last changed (default 30d);\n"
             "0 keeps everything. Pending ones are never deleted",
     .min = 0},
};

#undef AT

/* What `hookd serve --help` says above and below the flags. */
static const char serve_summary[] =
    "Runs the sender: keeps destinations, takes events, delivers each to every active\n"
    "subscribed destination, signed, with retries; every attempt is recorded.\n"
    "Operational webhooks: a destination subscribed to destination.deactivated,\n"
    "webhook.failed or destination.recovered hears of its account's troubles.\n";
static const char serve_footer[] =
    "Durations take ms, s, m, h, d suffixes; a bare number is seconds.\n" CLI_LOG_LEVEL_HELP;

static const cli_command serve_command = {.name = "serve",
                                          .synopsis = "[OPTIONS]",
                                          .summary = serve_summary,
                                          CLI_OPTIONS(serve_options),
                                          .footer = serve_footer,
                                          CLI_FRONT_DOOR(serve_config, front_door)};

/* Everything cmd_serve sets up, in the order it is set up, for the steps and the shutdown. */
typedef struct serve_state {
    const serve_config *config;
    hookd_catalog *catalog;
    db *conn; /* until the store thread owns it */
    bool postgres;
    http_client_options client_options; /* the URL policy, also read by the API */
    serve_api_options api_options;
    retry_policy retry;
    struct event_base *base;
    http_server *http;
    int port;          /* the port --listen resolved to */
    char node_id[400]; /* --node-id or "HOST ADDR:PORT", before the engine cleans it */
    http_client *client;
    db_worker *worker;
    metrics *registry;
    db_listener *listener; /* PostgreSQL notifications, or NULL */
    serve_api *serve_api;
    serve_deliver *dispatch;
    retention *retention;   /* --retention's purge, or NULL */
    bool drained;           /* the deliveries' attempts are finished and recorded */
    int lock_fd;            /* the SQLite file, flock'ed (serve_lock_store); -1: none */
    bool leases_in_memory;  /* this process holds the SQLite file alone */
    struct event *finish;   /* polls for the end of shutdown */
    struct event *deadline; /* gives up waiting after the timeout */
    int64_t timeout_ms;     /* --timeout: attempts under way end within it */
} serve_state;

/* Checks between flags, once each has parsed. CLI_CONTINUE, or 2 once reported. */
static int serve_check(serve_config *c)
{
    if (c->token && !*c->token)
        c->token = NULL; /* an empty --api-token counts as unset */
    if (c->lease_ms <= c->timeout_ms)
        return cli_usage_error(&serve_command, "--lease must be longer than --timeout");
    if (c->event_types_only && !c->event_types)
        return cli_usage_error(&serve_command, "--event-types-only needs --event-types FILE");
    if (c->token && (strlen(c->token) < 8 || strlen(c->token) > 512))
        return cli_usage_error(&serve_command, "the API token must be 8 to 512 characters");
    return CLI_CONTINUE;
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_state *st = arg;
    if (st->drained && serve_api_pending(st->serve_api) == 0) {
        loop_exit(st->base, 50); /* lets the last answers leave */
        return;
    }
    loop_timer_add(st->finish, 20);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_state *st = arg;
    log_warn("serve",
             "attempts still under way at the shutdown deadline: %zu; they will be "
             "attempted again at the next start",
             serve_deliver_in_flight(st->dispatch));
    loop_exit(st->base, 0);
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
    sd_notify_send("STOPPING=1");
    serve_api_stop(st->serve_api);
    retention_stop(st->retention);
    st->retention = NULL;
    db_listener_close(st->listener);
    st->listener = NULL;
    serve_deliver_stop(st->dispatch, drained_cb, st);
    loop_timer_add(st->finish, 0);
    loop_timer_add(st->deadline, st->timeout_ms + 3000);
}

/* The event catalog: the default, or --event-types (added to it or replacing it). */
static int serve_load_catalog(serve_state *st)
{
    const serve_config *c = st->config;
    char err[512];
    if (!c->event_types) {
        st->catalog = hookd_catalog_default();
        if (!st->catalog) {
            fputs("hookd serve: out of memory building the event-type catalog\n", stderr);
            return -1;
        }
        return 0;
    }
    st->catalog = hookd_catalog_load_file(c->event_types, !c->event_types_only, err, sizeof err);
    if (!st->catalog) {
        fprintf(stderr, "hookd serve: --event-types %s: %s\n", c->event_types, err);
        return -1;
    }
    return 0;
}

/* Opens the database, creates or upgrades the sender's tables, sizes SQLite's cache. */
static int serve_open_store(serve_state *st)
{
    char err[512];
    if (db_open(st->config->db_url, &st->conn, err, sizeof err) != 0) {
        fprintf(stderr, "hookd serve: cannot open the database: %s\n", err);
        return -1;
    }
    if (serve_store_migrate(st->conn) != 0 || serve_store_retention_migrate(st->conn) != 0) {
        fprintf(stderr, "hookd serve: cannot create the tables: %s\n", db_errmsg(st->conn));
        return -1;
    }
    st->postgres = db_kind(st->conn) == DB_POSTGRES;
    /* SQLite's default page cache (2 MiB) is smaller than the webhooks' hot indexes under
     * load: every miss is a pread. SQLITE_CACHE_PRAGMA bounds what it may grow to. */
    if (db_kind(st->conn) == DB_SQLITE && db_exec(st->conn, SQLITE_CACHE_PRAGMA) != 0)
        log_warn("serve", "cannot size the SQLite page cache: %s", db_errmsg(st->conn));
    return 0;
}

/* SQLite: the file is flock'ed so that senders that keep their leases in memory (alone on
 * it, LOCK_EX) and senders that write them (--shared-sqlite, LOCK_SH) never run on it
 * together: a sender alone would not see the others' claims, nor they its. flock, not
 * fcntl: SQLite's own locks on the file are fcntl's, which flock's do not touch on Linux;
 * the descriptor is closed only after every connection (closing any descriptor of the
 * file drops the process's fcntl locks on it). Taken after the migrations, which create
 * the file and are serialised by SQLite itself. */
static int serve_lock_store(serve_state *st)
{
    const char *path = db_sqlite_path(st->config->db_url);
    /* A sender that delivers nothing (--max-in-flight 0) claims nothing and reads no lease:
     * it may serve the API beside either kind. */
    if (st->postgres || !path || strcmp(path, ":memory:") == 0 || st->config->max_in_flight == 0)
        return 0;
    bool shared = st->config->shared_sqlite;
    st->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->lock_fd < 0 || flock(st->lock_fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            fprintf(stderr, "hookd serve: cannot lock %s: %s\n", path, strerror(errno));
        else if (shared)
            fprintf(stderr,
                    "hookd serve: %s is in use by a hookd serve that holds it alone; "
                    "stop it, or start every sender on this file with --shared-sqlite\n",
                    path);
        else
            fprintf(stderr,
                    "hookd serve: %s is in use by another hookd serve; one sender runs on a "
                    "SQLite file, or every one on it with --shared-sqlite\n",
                    path);
        return -1;
    }
    st->leases_in_memory = !shared;
    return 0;
}

/* The admin token's digest: of --api-token, or of the token stored (generated and printed
 * once at first start). The token itself is never logged. */
static int serve_token_digest(serve_state *st, unsigned char digest[32])
{
    const char *token = st->config->token;
    if (token) {
        SHA256((const unsigned char *)token, strlen(token), digest);
        return 0;
    }
    char generated[ADMIN_TOKEN_GENERATED_MAX];
    bool was_generated = false;
    if (serve_store_admin_token(st->conn, digest, generated, sizeof generated, &was_generated) !=
        0) {
        fprintf(stderr, "hookd serve: cannot read or store the admin token: %s\n",
                db_errmsg(st->conn));
        return -1;
    }
    return admin_token_announce("serve", "--api-token or HOOKD_API_TOKEN", generated,
                                sizeof generated, was_generated);
}

/* The admin token is the bootstrap access key ("*" on every account, SPEC §6): the API
 * finds it in the store like every other key. */
static int serve_token(serve_state *st)
{
    unsigned char digest[32];
    if (serve_token_digest(st, digest) != 0)
        return -1;
    int rc = serve_store_bootstrap_key(st->conn, digest);
    OPENSSL_cleanse(digest, sizeof digest);
    if (rc != 0) {
        fprintf(stderr, "hookd serve: cannot store the bootstrap key: %s\n", db_errmsg(st->conn));
        return -1;
    }
    return 0;
}

/* SIGTERM/SIGINT start the orderly stop (on_stop); two timers watch it end. */
static void serve_signals(serve_state *st)
{
    st->timeout_ms = st->config->timeout_ms;
    st->finish = loop_timer_new(st->base, false, finish_cb, st);
    st->deadline = loop_timer_new(st->base, false, deadline_cb, st);
    loop_on_stop(st->base, on_stop, st);
}

/* The loop and the API's listening socket. */
static int serve_listen(serve_state *st)
{
    char err[512];
    http_server_limits limits = {.max_body = SERVE_API_MAX_REQUEST_BODY};
    http_server_apply_flags(&limits, &st->config->front_door);
    st->base = loop_new();
    /* SIGTERM is watched before the socket listens: one that comes while the rest starts
     * waits for the loop and stops it in order, instead of killing the process */
    serve_signals(st);
    st->http =
        http_server_listen(st->base, st->config->listen, &limits, &st->port, err, sizeof err);
    if (!st->http) {
        fprintf(stderr, "hookd serve: %s\n", err);
        return -1;
    }
    return 0;
}

/* The length of --listen's host part ("127.0.0.1" of "127.0.0.1:8080"). */
static int serve_listen_host_len(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    return colon ? (int)(colon - listen) : (int)strlen(listen);
}

/* The node id: --node-id, or "HOST ADDR:PORT" — the address this process now holds, so no
 * other live process has it. The engine cleans it, adds a random suffix for the lease owner
 * and, before its first claim, releases the leases an earlier run left under it. */
static void serve_node_id(serve_state *st)
{
    const char *listen = st->config->listen;
    if (st->config->node_id) {
        snprintf(st->node_id, sizeof st->node_id, "%s", st->config->node_id);
        return;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(st->node_id, sizeof st->node_id, "%s %.*s:%d", host, serve_listen_host_len(listen),
             listen, st->port);
}

/* A further store connection: the migrations find nothing to do and set the session up
 * as on the first (db_keep_plans). */
static int serve_prepare_conn(db *conn)
{
    return serve_store_migrate(conn) != 0 || serve_store_retention_migrate(conn) != 0 ? -1 : 0;
}

/* The HTTP client and the store threads (which take the connection over). */
static int serve_start_workers(serve_state *st)
{
    st->client = http_client_new(st->base, &st->client_options);
    if (!st->client) {
        fputs("hookd serve: cannot start the HTTP client\n", stderr);
        return -1;
    }
    size_t n = st->postgres ? DB_WORKER_POSTGRES_UNITS : 1; /* SQLite: one writer */
    db *conn = st->conn;
    st->conn = NULL; /* the workers own it, also when they cannot start */
    if (db_worker_open_pool(st->base, conn, st->config->db_url, n, serve_prepare_conn,
                            &st->worker) != 0) {
        fputs("hookd serve: cannot start the store threads\n", stderr);
        return -1;
    }
    st->registry = metrics_new();
    return 0;
}

/* The deliveries, PostgreSQL's notifications, and the API. */
static void serve_start_delivery(serve_state *st)
{
    const serve_config *c = st->config;
    serve_deliver_options dopt = {0};
    dopt.retry = st->retry;
    dopt.node_id = st->node_id;
    dopt.timeout_ms = c->timeout_ms;
    dopt.max_attempts = (int)c->max_attempts;
    dopt.lease_ms = c->lease_ms;
    dopt.max_in_flight = (int)c->max_in_flight;
    dopt.max_per_destination = (int)c->max_per_destination;
    dopt.fail_window_ms = FAIL_WINDOW_MS;
    dopt.leases_in_memory = st->leases_in_memory;
    dopt.poll_ms = c->poll_ms > 0 ? c->poll_ms : st->postgres ? POLL_POSTGRES_MS : POLL_SQLITE_MS;
    st->dispatch = serve_deliver_new(st->base, st->worker, st->client, st->registry, &dopt);
    if (st->postgres && c->max_in_flight > 0 &&
        db_listener_open(st->base, c->db_url, SERVE_STORE_NOTIFY_CHANNEL, notified_cb, st->dispatch,
                         &st->listener) != 0)
        log_warn("serve", "cannot listen for notifications; polling every %lld ms",
                 (long long)dopt.poll_ms);
    st->api_options.catalog = st->catalog;
    st->api_options.url_policy = &st->client_options;
    st->serve_api =
        serve_api_new(st->http, st->worker, st->dispatch, st->registry, &st->api_options);
    http_server_count_refusals(st->http, st->registry, "hookd_api_rejected_total");
    if (c->retention_ms > 0)
        st->retention = retention_start(st->base, st->worker,
                                        &(retention_options){.name = "serve",
                                                             .what = "finished webhooks and events",
                                                             .keep_ms = c->retention_ms,
                                                             .work = serve_store_retention_batch});
}

/* Runs the loop until the stop sequence ends it. */
static int serve_run(serve_state *st)
{
    const serve_config *c = st->config;
    log_info("serve", "listening on http://%.*s:%d (node \"%s\", store %s%s)",
             serve_listen_host_len(c->listen), c->listen, st->port,
             serve_deliver_owner(st->dispatch),
             strncmp(c->db_url, "sqlite:", 7) == 0 ? c->db_url : "postgres",
             c->max_in_flight == 0 ? ", API only: delivers nothing" : "");
    log_info("serve", "admin panel: http://%.*s:%d/admin (sign in with an access key)",
             serve_listen_host_len(c->listen), c->listen, st->port);
    sd_notify_send("READY=1"); /* the sockets listen: systemd may start what needs us */
    if (event_base_dispatch(st->base) != 0) {
        log_error("serve", "the event loop failed");
        return 1;
    }
    log_info("serve", "stopped");
    return 0;
}

/* Frees what the steps set up, in the order that lets queued outcomes be recorded. */
static void serve_free(serve_state *st)
{
    db_listener_close(st->listener);
    if (st->client)
        http_client_free(st->client); /* aborts what the deadline left, without callbacks */
    retention_stop(st->retention);
    if (st->worker)
        db_worker_stop(st->worker); /* runs what is queued: outcomes get recorded */
    if (st->conn)
        db_close(st->conn);
    serve_deliver_free(st->dispatch);
    serve_api_free(st->serve_api);
    if (st->http)
        http_server_free(st->http);
    if (st->finish)
        event_free(st->finish);
    if (st->deadline)
        event_free(st->deadline);
    if (st->registry)
        metrics_free(st->registry);
    if (st->catalog)
        hookd_catalog_free(st->catalog);
    if (st->base)
        event_base_free(st->base);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* after every connection to the file is closed */
}

int cmd_serve(int argc, char **argv)
{
    serve_config c = serve_config_defaults;
    int rc = cli_parse(&serve_command, &c, argc, argv, NULL);
    if (rc == CLI_CONTINUE)
        rc = serve_check(&c);
    if (rc != CLI_CONTINUE)
        return rc;
    serve_state st = {
        .config = &c,
        .lock_fd = -1,
        .client_options = {.allow_http = c.allow_http,
                           .allow_private_addresses = c.allow_private,
                           .ca_file = c.ca_file,
                           .proxy = c.proxy},
    };
    if (retry_policy_parse(&st.retry, c.retry_delays.text) != 0)
        return cli_usage_error(&serve_command, "--retry-delays: \"%s\" is not a list of durations",
                               c.retry_delays.text);
    int status = 1;
    if (serve_load_catalog(&st) == 0 && serve_open_store(&st) == 0 && serve_lock_store(&st) == 0 &&
        serve_token(&st) == 0 && serve_listen(&st) == 0 && serve_start_workers(&st) == 0) {
        serve_node_id(&st);
        serve_start_delivery(&st);
        status = serve_run(&st);
    }
    serve_free(&st);
    return status;
}
