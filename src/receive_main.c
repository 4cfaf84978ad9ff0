/*
 * receive_main.c — `hookd receive`: the receiver's flags, then its wiring, one step per
 * function: the store (receive_store), the admin token (admin_token), the public endpoint
 * (receive_ingest), the handler pool (receive_handler), the admin API (receive_api) and its
 * panel (receive_panel), the retention purge, and an orderly stop on SIGTERM/SIGINT (stop
 * listening, let saves and handler runs finish and be recorded, then close the store). The
 * flags are read by cli.c from the table below. The sender's twin is serve_main.c.
 */
#include "admin_token.h"
#include "cli.h"
#include "db.h"
#include "hookd.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "receive_api.h"
#include "receive_handler.h"
#include "receive_ingest.h"
#include "receive_panel.h"
#include "receive_provider.h"
#include "receive_store.h"
#include "sd_notify.h"

#include <event2/event.h>
#include <malloc.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RECEIVE_MAX_SECRETS CLI_STRINGS_MAX /* --secret flags, HOOKD_SECRET included */
#define RECEIVE_LEASE_MARGIN_MS (10 * 1000) /* default --lease: --handler-timeout + this */
/* Default --workers with --forward: an HTTP service serves tens of requests at once; each
 * worker is one keep-alive connection of the pool. */
#define RECEIVE_FORWARD_WORKERS 64
/* Default --workers with --exec: processes per CPU (a handler also waits on I/O), at least. */
#define RECEIVE_EXEC_WORKERS_PER_CPU 2
#define RECEIVE_EXEC_WORKERS_MIN 4
#define RECEIVE_WORKERS_MAX 1024 /* --workers' range */
/* Default --min-free-disk: room left for the WAL, a checkpoint and the system. */
#define RECEIVE_MIN_FREE_DISK (256ULL * 1024 * 1024)

/* Everything the command line decides; receive_config_defaults holds what it starts as. */
typedef struct receive_config {
    const char *listen;
    const char *db_url;
    const char *provider; /* --provider: whose webhooks are accepted */
    cli_strings secrets;  /* --secret flags, then HOOKD_SECRET */
    int64_t tolerance_ms;
    const char *path;
    uint64_t max_body;
    const char *exec_command;
    const char *forward_url;
    long workers;
    int64_t handler_timeout_ms;
    long max_attempts;
    cli_list retry_delays;
    long max_pending; /* 0: no cap on rows, the disk headroom decides */
    uint64_t min_free_disk;
    const char *admin_listen;
    const char *admin_token; /* --admin-token or HOOKD_ADMIN_TOKEN, or NULL */
    int64_t retention_ms;
    int64_t lease_ms;          /* 0: handler timeout + RECEIVE_LEASE_MARGIN_MS */
    cli_front_door front_door; /* --max-connections, --header-timeout, … */
} receive_config;

static const receive_config receive_config_defaults = {
    .listen = "127.0.0.1:9090",
    .db_url = "sqlite:hookd.db",
    .provider = "meetbit",
    .tolerance_ms = 5 * 60 * 1000,
    .path = "/",
    .max_body = 1024 * 1024,
    .workers = 0, /* receive_check sizes it for the handler */
    .handler_timeout_ms = 30 * 1000,
    .max_attempts = 5,
    .retry_delays = {.ms = {10 * 1000, 60 * 1000, 600 * 1000, 3600 * 1000},
                     .count = 4,
                     .text = "10s,1m,10m,1h"},
    .max_pending = 0,
    .min_free_disk = RECEIVE_MIN_FREE_DISK,
    .admin_listen = "127.0.0.1:9091",
    .retention_ms = 7LL * 24 * 3600 * 1000,
};

/* True when a HOST:PORT names a loopback host: 127.x.y.z, [::1] or localhost. */
static bool receive_listen_is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncasecmp(listen, "localhost:", 10) == 0;
}

static bool receive_secret_valid(const char *text)
{
    return *text != '\0';
}

static bool receive_provider_valid(const char *text)
{
    return receive_provider_find(text) != NULL;
}

static bool receive_path_valid(const char *text)
{
    return text[0] == '/';
}

#define AT(field) CLI_AT(receive_config, field)

static const cli_option receive_options[] = {
    {.name = "listen",
     .kind = CLI_STRING,
     .offset = AT(listen),
     .arg = "HOST:PORT",
     .help = "public endpoint (default 127.0.0.1:9090)"},
    {.name = "db",
     .kind = CLI_STRING,
     .offset = AT(db_url),
     .arg = "URL",
     .help = "sqlite:PATH or postgres://… (default sqlite:hookd.db)"},
    {.name = "provider",
     .kind = CLI_STRING,
     .offset = AT(provider),
     .arg = "P",
     .help = "whose webhooks: meetbit (default), standard-webhooks, github,\n"
             "stripe — each one's headers, signature and ids",
     .valid = receive_provider_valid,
     .what = "is not a provider (" RECEIVE_PROVIDER_NAMES ")"},
    {.name = "secret",
     .kind = CLI_STRINGS,
     .offset = AT(secrets),
     .arg = "S",
     .help = "the destination's secret; repeat to accept an old one during\n"
             "a rotation; env HOOKD_SECRET adds one more",
     .env = "HOOKD_SECRET",
     .env_adds = true,
     .max = RECEIVE_MAX_SECRETS,
     .valid = receive_secret_valid,
     .what = "is empty"},
    {.name = "tolerance",
     .kind = CLI_DURATION,
     .offset = AT(tolerance_ms),
     .arg = "D",
     .help = "accepted clock skew of the timestamp (default 5m; github\n"
             "sends none)",
     .min = 1},
    {.name = "path",
     .kind = CLI_STRING,
     .offset = AT(path),
     .arg = "PATH",
     .help = "the path webhooks are POSTed to (default /)",
     .valid = receive_path_valid,
     .what = "does not start with /"},
    {.name = "max-body",
     .kind = CLI_SIZE,
     .offset = AT(max_body),
     .arg = "SIZE",
     .help = "larger bodies are answered 413 (default 1MiB)",
     .min = 1,
     .max = 1LL << 30},
    {.name = "exec",
     .kind = CLI_STRING,
     .offset = AT(exec_command),
     .arg = "'COMMAND'",
     .help = "run /bin/sh -c COMMAND per webhook: body on stdin, WEBHOOK_ID,\n"
             "WEBHOOK_EVENT, WEBHOOK_TIMESTAMP in the environment; exit 0\n"
             "is success"},
    {.name = "forward",
     .kind = CLI_STRING,
     .offset = AT(forward_url),
     .arg = "URL",
     .help = "POST the body and the X-Webhook-* headers to URL; 2XX is\n"
             "success"},
    {.name = "workers",
     .kind = CLI_COUNT,
     .offset = AT(workers),
     .arg = "N",
     .help = "handler runs at once (default 64 with --forward: a pool of\n"
             "keep-alive connections; 2 x CPUs, at least 4, with --exec)",
     .min = 1,
     .max = RECEIVE_WORKERS_MAX},
    {.name = "handler-timeout",
     .kind = CLI_DURATION,
     .offset = AT(handler_timeout_ms),
     .arg = "D",
     .help = "a run still going after D is killed (default 30s)",
     .min = 1},
    {.name = "max-attempts",
     .kind = CLI_COUNT,
     .offset = AT(max_attempts),
     .arg = "N",
     .help = "runs before a webhook is failed (default 5)",
     .min = 1,
     .max = 1000},
    {.name = "retry-delays",
     .kind = CLI_LIST,
     .offset = AT(retry_delays),
     .arg = "LIST",
     .help = "waits before runs 2..N (default 10s,1m,10m,1h)",
     .max = RECEIVE_HANDLER_MAX_RETRY_DELAYS},
    {.name = "max-pending",
     .kind = CLI_COUNT,
     .offset = AT(max_pending),
     .arg = "N",
     .help = "beyond N webhooks waiting, new ones get 503 (default: no cap,\n"
             "the store takes the burst; see --min-free-disk)",
     .min = 1,
     .max = 1000000000L},
    {.name = "min-free-disk",
     .kind = CLI_SIZE,
     .offset = AT(min_free_disk),
     .arg = "SIZE",
     .help = "with less than SIZE free on the SQLite store's filesystem, new\n"
             "webhooks get 503 (default 256MiB; 0: never; not for PostgreSQL)",
     .min = 0},
    {.name = "admin-listen",
     .kind = CLI_STRING,
     .offset = AT(admin_listen),
     .arg = "H:P",
     .help = "admin API, and the admin panel at /admin (default\n"
             "127.0.0.1:9091); an address other than loopback needs\n"
             "--admin-token (or keep it on loopback behind a TLS-terminating\n"
             "proxy)"},
    {.name = "admin-token",
     .kind = CLI_STRING,
     .offset = AT(admin_token),
     .arg = "TOKEN",
     .help = "bearer token every admin call but /healthz and /readyz must\n"
             "carry, and the admin panel's sign-in (or env HOOKD_ADMIN_TOKEN);\n"
             "without one, a token is generated at first start, printed\n"
             "once, and only its SHA-256 is stored; never passed to --exec",
     .env = "HOOKD_ADMIN_TOKEN"},
    {.name = "retention",
     .kind = CLI_DURATION,
     .offset = AT(retention_ms),
     .arg = "D",
     .help = "done and failed webhooks are deleted after D (default 7d)",
     .min = 1},
    {.name = "lease",
     .kind = CLI_DURATION,
     .offset = AT(lease_ms),
     .arg = "D",
     .help = "how long a claimed webhook stays claimed; a crashed process's\n"
             "claims expire after it (default handler-timeout + 10s)",
     .min = 1},
};

#undef AT

static const cli_command receive_command = {
    .name = "receive",
    .synopsis = "--secret S [--secret S_OLD …] (--exec 'COMMAND' | --forward URL)\n"
                "[--provider meetbit|standard-webhooks|github|stripe]\n"
                "[--listen 127.0.0.1:9090] [--db URL] [--tolerance 5m] [--path /]\n"
                "[--max-body 1MiB] [--workers N] [--handler-timeout 30s]\n"
                "[--max-attempts 5] [--retry-delays 10s,1m,10m,1h]\n"
                "[--max-pending N] [--min-free-disk 256MiB]\n"
                "[--admin-listen 127.0.0.1:9091] [--admin-token T] [--retention 7d]\n"
                "[--lease DURATION]",
    .summary =
        "Receives webhooks (MeetBit's, or Standard Webhooks', GitHub's, Stripe's with\n"
        "--provider): checks the timestamp and signature, saves each webhook durably before\n"
        "answering 200, drops duplicates, and hands each one to your handler.\n",
    CLI_OPTIONS(receive_options),
    .footer =
        "Durations take ms, s, m, h, d suffixes (a bare number is seconds).\n" CLI_LOG_LEVEL_HELP,
    CLI_FRONT_DOOR(receive_config, front_door),
};

/* The running receiver, in the order it is set up, for the steps and the stop sequence. */
typedef struct receive_state {
    const receive_config *config;
    hookd_secret secrets[RECEIVE_MAX_SECRETS];
    db *conn; /* until the store thread owns it */
    bool postgres;
    struct event_base *base;
    http_server *public_http;
    int public_port;
    http_server *admin_http;
    int admin_port;
    unsigned char admin_digest[32]; /* SHA-256 of the admin token */
    char owner[512];                /* this process's name in the leases it takes */
    int64_t pending;                /* webhooks pending at start */
    db_worker *worker;
    metrics *metrics;
    receive_handler *receive_handler;
    receive_ingest *receive_ingest;
    receive_api *receive_api;
    receive_panel *receive_panel;
    db_listener *listener; /* PostgreSQL notifications of accepts, or NULL */
    retention *retention;  /* --retention's purge (retention.h) */
    struct event *drain_timer;
} receive_state;

/* --workers when not given: sized for what the handler is (see the constants). */
static long receive_default_workers(bool forward)
{
    if (forward)
        return RECEIVE_FORWARD_WORKERS;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cpus > 0 ? RECEIVE_EXEC_WORKERS_PER_CPU * cpus : RECEIVE_EXEC_WORKERS_MIN;
    if (n > RECEIVE_WORKERS_MAX)
        n = RECEIVE_WORKERS_MAX;
    return n < RECEIVE_EXEC_WORKERS_MIN ? RECEIVE_EXEC_WORKERS_MIN : n;
}

/* Checks between flags, once each has parsed; fills the default lease and workers.
 * CLI_CONTINUE or 2. */
static int receive_check(receive_config *c)
{
    if (c->secrets.count == 0)
        return cli_usage_error(&receive_command, "--secret is required (or env HOOKD_SECRET)");
    const receive_provider *provider = receive_provider_find(c->provider);
    for (size_t i = 0; i < c->secrets.count; i++)
        if (!receive_provider_secret_ok(provider, c->secrets.items[i]))
            return cli_usage_error(&receive_command,
                                   "--secret number %zu is not a %s secret (whsec_ and base64)",
                                   i + 1, c->provider);
    if ((c->exec_command == NULL) == (c->forward_url == NULL))
        return cli_usage_error(&receive_command, "exactly one of --exec and --forward is required");
    size_t listen_len = strlen(c->listen);
    if (strcmp(c->listen, c->admin_listen) == 0 &&
        !(listen_len >= 2 && strcmp(c->listen + listen_len - 2, ":0") == 0))
        return cli_usage_error(&receive_command, "--admin-listen must differ from --listen");
    if (c->admin_token && !*c->admin_token)
        c->admin_token = NULL; /* an empty --admin-token counts as unset */
    if (c->admin_token && (strlen(c->admin_token) < 8 || strlen(c->admin_token) > 512))
        return cli_usage_error(&receive_command, "the admin token must be 8 to 512 characters");
    if (!c->admin_token && !receive_listen_is_loopback(c->admin_listen))
        return cli_usage_error(&receive_command,
                               "--admin-listen %s is not a loopback address: give --admin-token "
                               "(or listen on loopback behind a TLS-terminating proxy)",
                               c->admin_listen);
    if (c->lease_ms == 0)
        c->lease_ms = c->handler_timeout_ms + RECEIVE_LEASE_MARGIN_MS;
    if (c->lease_ms <= c->handler_timeout_ms)
        return cli_usage_error(&receive_command, "--lease must be longer than --handler-timeout");
    if (c->workers == 0)
        c->workers = receive_default_workers(c->forward_url != NULL);
    return CLI_CONTINUE;
}

/* ---- stopping ---- */

static void receive_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    receive_state *st = arg;
    if (receive_ingest_in_flight(st->receive_ingest) > 0 ||
        receive_api_in_flight(st->receive_api) > 0 ||
        receive_panel_in_flight(st->receive_panel) > 0 ||
        !receive_handler_idle(st->receive_handler))
        return;
    loop_timer_stop(st->drain_timer);
    loop_exit(st->base, 0);
}

static void receive_on_stop(void *arg)
{
    receive_state *st = arg;
    log_info("receive", "stopping: finishing saves and handler runs under way");
    sd_notify_send("STOPPING=1");
    http_server_close_listener(st->public_http);
    http_server_close_listener(st->admin_http);
    db_listener_close(st->listener);
    st->listener = NULL;
    receive_handler_stop(st->receive_handler);
    retention_stop(st->retention);
    st->retention = NULL;
    loop_timer_add(st->drain_timer, 20);
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

/* Requests and store batches allocate and free the same sizes over and over: without this,
 * glibc hands freed memory back to the kernel (madvise, with a TLB shootdown on every core)
 * many times a second under load — 5 % of the receiver's CPU. */
static void receive_tune_malloc(void)
{
    if (mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) != 1 ||
        mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024) != 1)
        log_warn("receive", "cannot tune malloc's thresholds; running with the defaults");
}

/* Opens the database and creates or upgrades the receiver's tables. */
static int receive_open_store(receive_state *st)
{
    char err[512];
    if (db_open(st->config->db_url, &st->conn, err, sizeof err) != 0) {
        fprintf(stderr, "hookd receive: cannot open the database: %s\n", err);
        return -1;
    }
    if (receive_store_migrate(st->conn) != 0) {
        fprintf(stderr, "hookd receive: cannot create the receiver's tables: %s\n",
                db_errmsg(st->conn));
        return -1;
    }
    st->postgres = db_kind(st->conn) == DB_POSTGRES;
    return 0;
}

/* The admin token's digest: of --admin-token, or of the token stored (generated and printed
 * once at first start). The token itself is never logged. */
static int receive_token(receive_state *st)
{
    const char *token = st->config->admin_token;
    if (token) {
        SHA256((const unsigned char *)token, strlen(token), st->admin_digest);
        return 0;
    }
    char generated[ADMIN_TOKEN_GENERATED_MAX];
    bool was_generated = false;
    if (receive_store_admin_token(st->conn, st->admin_digest, generated, sizeof generated,
                                  &was_generated) != 0) {
        fprintf(stderr, "hookd receive: cannot read or store the admin token: %s\n",
                db_errmsg(st->conn));
        return -1;
    }
    return admin_token_announce("receive", "--admin-token or HOOKD_ADMIN_TOKEN", generated,
                                sizeof generated, was_generated);
}

/* The public endpoint and the admin API's socket. */
static int receive_listen(receive_state *st)
{
    const receive_config *c = st->config;
    char err[512];
    http_server_limits public_limits = {.max_body = (size_t)c->max_body};
    http_server_apply_flags(&public_limits, &c->front_door);
    st->public_http =
        http_server_listen(st->base, c->listen, &public_limits, &st->public_port, err, sizeof err);
    if (!st->public_http) {
        fprintf(stderr, "hookd receive: cannot listen on %s: %s\n", c->listen, err);
        return -1;
    }
    http_server_limits admin_limits = {.max_body = 64 * 1024};
    http_server_apply_flags(&admin_limits, &c->front_door);
    admin_limits.max_connections = 256; /* --max-connections is the public endpoint's */
    st->admin_http = http_server_listen(st->base, c->admin_listen, &admin_limits, &st->admin_port,
                                        err, sizeof err);
    if (!st->admin_http) {
        fprintf(stderr, "hookd receive: cannot listen on %s (--admin-listen): %s\n",
                c->admin_listen, err);
        return -1;
    }
    return 0;
}

/* Counts what is pending. Holding the public address, no other live process has our node
 * id: the engine releases the leases left under it (a process that died) before it claims. */
static int receive_take_back(receive_state *st)
{
    receive_owner(st->config->listen, st->public_port, st->owner, sizeof st->owner);
    receive_store_count_job count = {0};
    if (receive_store_count_pending(st->conn, &count) != 0) {
        fprintf(stderr, "hookd receive: cannot read the store: %s\n", db_errmsg(st->conn));
        return -1;
    }
    st->pending = count.count;
    return 0;
}

/* The saves' store connection (PostgreSQL's second, receive_start_handler) keeps its
 * plans (db_keep_plans). Its one statement, the chunk INSERT, has the same plan for every
 * chunk of a size, and planning it again each time cost PostgreSQL ~6 µs of CPU per webhook.
 * The handler's connection plans each execution: with generic plans, its claim (LIMIT $6, a
 * guess of 1,023 rows) hashed a scan of the whole table, and PostgreSQL's CPU tripled. Both
 * measured in docs/BENCHMARKS.md, "The saves' plans kept". */
static int receive_prepare_saves(db *conn)
{
    int rc = receive_store_migrate(conn);
    return rc != 0 ? rc : db_keep_plans(conn);
}

/* The store thread (which takes the connection over) and the handler pool. */
static int receive_start_handler(receive_state *st)
{
    const receive_config *c = st->config;
    char err[512];
    /* PostgreSQL: two store connections. The first lane is the handler's (claims, outcomes,
     * handoffs, in order) with the admin API, the panel and retention, all as with one; the
     * public endpoint's saves commit on the second (receive_start_endpoints), so that the
     * handler's bookkeeping never waits behind a burst's commits nor they behind it
     * (docs/BENCHMARKS.md, "The receiver's handler on a store connection of its own").
     * SQLite has one writer: one connection, shared as before. */
    size_t n = st->postgres ? DB_WORKER_POSTGRES_UNITS : 1;
    db *conn = st->conn;
    st->conn = NULL; /* the workers own it, also when they cannot start */
    if (db_worker_open_pool(st->base, conn, c->db_url, n, receive_prepare_saves, &st->worker) !=
        0) {
        fprintf(stderr, "hookd receive: cannot start the store threads\n");
        return -1;
    }
    st->metrics = metrics_new();
    receive_handler_options ho = {.exec_command = c->exec_command,
                                  .forward_url = c->forward_url,
                                  .workers = (unsigned)c->workers,
                                  .timeout_ms = c->handler_timeout_ms,
                                  .max_attempts = (unsigned)c->max_attempts,
                                  .retry_delay_count = c->retry_delays.count,
                                  .lease_ms = c->lease_ms,
                                  .node_id = st->owner,
                                  .own_lane = n > 1};
    memcpy(ho.retry_delays_ms, c->retry_delays.ms, c->retry_delays.count * sizeof(int64_t));
    st->receive_handler =
        receive_handler_new(st->base, st->worker, st->metrics, &ho, st->pending, err, sizeof err);
    if (!st->receive_handler) {
        fprintf(stderr, "hookd receive: %s\n", err);
        return -1;
    }
    return 0;
}

/* The public endpoint's checks, the admin API with its panel, and PostgreSQL's
 * notifications. */
static void receive_start_endpoints(receive_state *st)
{
    const receive_config *c = st->config;
    for (size_t i = 0; i < c->secrets.count; i++)
        st->secrets[i] = (hookd_secret){c->secrets.items[i], strlen(c->secrets.items[i])};
    receive_ingest_options ro = {.provider = receive_provider_find(c->provider),
                                 .secrets = st->secrets,
                                 .secret_count = c->secrets.count,
                                 .tolerance_s = c->tolerance_ms / 1000,
                                 .path = c->path,
                                 .max_body = (size_t)c->max_body,
                                 .max_pending = c->max_pending,
                                 .disk_path = db_sqlite_path(c->db_url),
                                 .min_free_disk = c->min_free_disk};
    /* The saves' lane: the second connection (receive_start_handler), or with one the first. */
    db_worker *saves = db_worker_lane(st->worker, 1);
    st->receive_ingest =
        receive_ingest_new(st->public_http, saves, st->receive_handler, st->metrics, &ro);
    /* With the token hookd generated, the Host must name the (loopback) listener; an
     * operator who gives --admin-token may name it as they like (a proxy passing its own). */
    receive_api_access access = {.check_host = c->admin_token == NULL};
    memcpy(access.token_digest, st->admin_digest, sizeof access.token_digest);
    char admin_host[256];
    snprintf(admin_host, sizeof admin_host, "%s", c->admin_listen);
    char *colon = strrchr(admin_host, ':');
    if (colon)
        *colon = '\0'; /* "[::1]:9091" → "[::1]", ":9091" → "" */
    access.listen_host = admin_host[0] ? admin_host : "0.0.0.0";
    st->receive_api =
        receive_api_new(st->admin_http, st->worker, st->receive_handler, st->metrics, &access);
    st->receive_panel = receive_panel_new(st->receive_api, st->worker, st->admin_digest);
    if (st->postgres && db_listener_open(st->base, c->db_url, RECEIVE_STORE_NOTIFY_CHANNEL,
                                         receive_notified, st->receive_handler, &st->listener) != 0)
        log_warn("receive", "cannot listen for notifications; polling for work instead");
}

/* The retention purge (now, then every hour at most) and the drain timer of the stop. */
static void receive_timers(receive_state *st)
{
    st->retention = retention_start(st->base, st->worker,
                                    &(retention_options){.name = "receive",
                                                         .what = "finished webhooks",
                                                         .keep_ms = st->config->retention_ms,
                                                         .work = receive_store_purge});
    st->drain_timer = loop_timer_new(st->base, true, receive_drain, st);
}

static int receive_run(receive_state *st)
{
    const receive_config *c = st->config;
    log_info("receive",
             "listening on http://%s%s (port %d) for %s webhooks, admin on %s (port %d), "
             "%lld pending, handler: %s",
             c->listen, c->path, st->public_port, c->provider, c->admin_listen, st->admin_port,
             (long long)st->pending, c->exec_command ? "exec" : "forward");
    const char *colon = strrchr(c->admin_listen, ':');
    log_info("receive", "admin panel: http://%.*s:%d/admin (sign in with the admin token)",
             colon ? (int)(colon - c->admin_listen) : 0, c->admin_listen, st->admin_port);
    sd_notify_send("READY=1"); /* the sockets listen: systemd may start what needs us */
    if (event_base_dispatch(st->base) != 0) {
        log_error("receive", "the event loop failed");
        return 1;
    }
    log_info("receive", "stopped");
    return 0;
}

/* Frees what the steps set up; runs queued store work first, so outcomes get recorded. */
static void receive_free(receive_state *st)
{
    db_listener_close(st->listener);
    retention_stop(st->retention);
    if (st->worker) {
        if (st->receive_handler)
            receive_handler_stop(st->receive_handler);
        db_worker_stop(st->worker);
    }
    receive_panel_free(st->receive_panel);
    receive_api_free(st->receive_api);
    receive_ingest_free(st->receive_ingest);
    receive_handler_free(st->receive_handler);
    if (st->drain_timer)
        event_free(st->drain_timer);
    if (st->public_http)
        http_server_free(st->public_http);
    if (st->admin_http)
        http_server_free(st->admin_http);
    if (st->metrics)
        metrics_free(st->metrics);
    if (st->conn)
        db_close(st->conn);
    if (st->base)
        event_base_free(st->base);
}

int cmd_receive(int argc, char **argv)
{
    receive_config c = receive_config_defaults;
    int rc = cli_parse(&receive_command, &c, argc, argv, NULL);
    if (rc == CLI_CONTINUE)
        rc = receive_check(&c);
    if (rc != CLI_CONTINUE)
        return rc;
    receive_tune_malloc();
    receive_state st = {.config = &c};
    st.base = loop_new();
    /* SIGTERM is watched before the sockets listen: one that comes while the rest starts
     * waits for the loop and stops it in order, instead of killing the process */
    loop_on_stop(st.base, receive_on_stop, &st);
    int status = 1;
    if (receive_open_store(&st) == 0 && receive_token(&st) == 0 && receive_listen(&st) == 0 &&
        receive_take_back(&st) == 0 && receive_start_handler(&st) == 0) {
        receive_start_endpoints(&st);
        receive_timers(&st);
        status = receive_run(&st);
    }
    receive_free(&st);
    return status;
}
