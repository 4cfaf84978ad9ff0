/*
 * tools.c — `hookd sign`, `hookd verify`, `hookd send` (SPEC §5): the wire protocol by hand,
 * for people who test or debug webhooks. Each reads its body from stdin as raw bytes (a
 * trailing newline from `echo` is part of the body) and uses the protocol core
 * (include/hookd.h) exactly as the sender and receiver do: hookd_sign_attempt for a fresh
 * timestamp and signature, HOOKD_HEADER_* for the header names. Flags go through cli.c.
 * --format standard-webhooks switches all three to Standard Webhooks (SPEC §8): webhook-*
 * headers, Unix-seconds timestamps, "v1,<base64>" signatures keyed by a whsec_ secret.
 */
#include "cli.h"
#include "hookd.h"
#include "http_client.h"
#include "loop.h"
#include "mem.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX (16u << 20)        /* bytes read from stdin */
#define RESPONSE_SHOWN 4096         /* bytes of an answer's body printed by send */
#define MAX_SECRETS CLI_STRINGS_MAX /* --secret flags accepted by verify */
#define DEFAULT_TOLERANCE_S 300     /* verify's --tolerance */
#define DEFAULT_TIMEOUT_MS 10000    /* send's --timeout */
#define ID_MAX 128                  /* bytes of a webhook id given with --id */

/* A webhook id goes into a header: printable ASCII without spaces, at most ID_MAX bytes. */
static bool header_value_ok(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] <= ' ' || text[i] > '~')
            return false;
    return true;
}

static bool nonempty(const char *text)
{
    return *text != '\0';
}

#define ID_WHAT "is not printable ASCII without spaces (1 to 128 bytes)"

#define FORMAT_MEETBIT "meetbit"
#define FORMAT_STANDARD "standard-webhooks"

static bool format_valid(const char *text)
{
    return strcmp(text, FORMAT_MEETBIT) == 0 || strcmp(text, FORMAT_STANDARD) == 0;
}

static bool format_standard(const char *format)
{
    return format != NULL && strcmp(format, FORMAT_STANDARD) == 0;
}

/* The --format flag every tool takes; field is the offset of its config's format. */
#define FORMAT_OPTION(type)                                                                        \
    {                                                                                              \
        .name = "format", .kind = CLI_STRING, .offset = CLI_AT(type, format), .arg = "F",          \
        .help = "meetbit (default: X-Webhook-*) or standard-webhooks\n"                            \
                "(webhook-*, Unix-seconds timestamp, v1,<base64> signature)",                      \
        .valid = format_valid, .what = "is not meetbit or standard-webhooks"                       \
    }

/* One delivery's signature headers, in a format. */
typedef struct tool_signed {
    const char *names[3]; /* id, timestamp, signature header names */
    char timestamp[HOOKD_TIMESTAMP_LEN + 1];
    char signature[HOOKD_STANDARD_SIGNATURE_LEN > HOOKD_SIGNATURE_HEX_LEN
                       ? HOOKD_STANDARD_SIGNATURE_LEN + 1
                       : HOOKD_SIGNATURE_HEX_LEN + 1];
} tool_signed;

/* A timestamp of the format: YYYY-MM-DDTHH:MM:SSZ, or Unix seconds (standard) → *unix. */
static bool timestamp_of_format(const char *format, const char *text, int64_t *unix_seconds)
{
    if (!format_standard(format))
        return hookd_timestamp_parse(text, unix_seconds) == HOOKD_OK;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || v < 0)
        return false;
    *unix_seconds = v;
    return true;
}

/* ---- hookd sign ---- */

typedef struct sign_config {
    const char *secret;
    const char *id;
    const char *timestamp; /* NULL: now */
    const char *format;    /* NULL: meetbit */
} sign_config;

static const cli_option sign_options[] = {
    {.name = "secret",
     .kind = CLI_STRING,
     .offset = CLI_AT(sign_config, secret),
     .arg = "S",
     .help = "the destination's secret (or set HOOKD_SECRET)",
     .env = "HOOKD_SECRET"},
    {.name = "id",
     .kind = CLI_STRING,
     .offset = CLI_AT(sign_config, id),
     .arg = "ID",
     .help = "the webhook id, e.g. a UUID",
     .valid = header_value_ok,
     .what = ID_WHAT},
    {.name = "timestamp",
     .kind = CLI_STRING,
     .offset = CLI_AT(sign_config, timestamp),
     .arg = "TS",
     .help = "YYYY-MM-DDTHH:MM:SSZ, or Unix seconds with --format\n"
             "standard-webhooks (default: now)"},
    FORMAT_OPTION(sign_config),
};

static const cli_command sign_command = {
    .name = "sign",
    .synopsis = "--secret S --id ID [--timestamp TS] [--format F] < BODY",
    .summary = "Prints the three X-Webhook-* (or webhook-*) headers for the body read on stdin\n"
               "(its exact bytes: use printf or echo -n to avoid signing a trailing newline).\n",
    CLI_OPTIONS(sign_options),
};

/* ---- hookd verify ---- */

typedef struct verify_config {
    cli_strings secrets;
    const char *id;
    const char *timestamp;
    const char *signature;
    int64_t tolerance_ms;
    const char *format; /* NULL: meetbit */
} verify_config;

static const cli_option verify_options[] = {
    {.name = "secret",
     .kind = CLI_STRINGS,
     .offset = CLI_AT(verify_config, secrets),
     .arg = "S",
     .help = "a secret to accept; repeat during a rotation (or set HOOKD_SECRET)",
     .env = "HOOKD_SECRET",
     .max = MAX_SECRETS,
     .valid = nonempty,
     .what = "is empty"},
    {.name = "id",
     .kind = CLI_STRING,
     .offset = CLI_AT(verify_config, id),
     .arg = "ID",
     .help = "the X-Webhook-Id header"},
    {.name = "timestamp",
     .kind = CLI_STRING,
     .offset = CLI_AT(verify_config, timestamp),
     .arg = "TS",
     .help = "the X-Webhook-Timestamp header"},
    {.name = "signature",
     .kind = CLI_STRING,
     .offset = CLI_AT(verify_config, signature),
     .arg = "SIG",
     .help = "the X-Webhook-Signature header"},
    {.name = "tolerance",
     .kind = CLI_DURATION,
     .offset = CLI_AT(verify_config, tolerance_ms),
     .arg = "D",
     .help = "accepted clock distance, past or future (default 5m;\n"
             "units ms, s, m, h, d; a bare number is seconds)"},
    FORMAT_OPTION(verify_config),
};

static const cli_command verify_command = {
    .name = "verify",
    .synopsis = "--secret S [--secret S_OLD …] --id ID --timestamp TS\n"
                "--signature SIG [--tolerance 5m] [--format F] < BODY",
    .summary =
        "Checks a delivery as a receiver does. Prints \"ok\" on stdout and exits 0, or prints\n"
        "the reason on stderr (\"hookd verify: expired\", \"… bad signature\", \"… malformed\n"
        "timestamp\", …) and exits 1. The body is read on stdin, exact bytes.\n",
    CLI_OPTIONS(verify_options),
};

/* ---- hookd send ---- */

typedef struct send_config {
    const char *secret;
    const char *event;
    const char *data; /* a JSON object, or "-": stdin */
    const char *id;   /* NULL: a fresh UUID */
    int64_t timeout_ms;
    const char *format; /* NULL: meetbit */
} send_config;

static const cli_option send_options[] = {
    {.name = "secret",
     .kind = CLI_STRING,
     .offset = CLI_AT(send_config, secret),
     .arg = "S",
     .help = "the destination's secret (or set HOOKD_SECRET)",
     .env = "HOOKD_SECRET"},
    {.name = "event",
     .kind = CLI_STRING,
     .offset = CLI_AT(send_config, event),
     .arg = "TYPE",
     .help = "the event type, e.g. events.created"},
    {.name = "data",
     .kind = CLI_STRING,
     .offset = CLI_AT(send_config, data),
     .arg = "JSON",
     .help = "the data: a JSON object, or - to read it on stdin"},
    {.name = "id",
     .kind = CLI_STRING,
     .offset = CLI_AT(send_config, id),
     .arg = "ID",
     .help = "the webhook id (default: a fresh UUID)",
     .valid = header_value_ok,
     .what = ID_WHAT},
    {.name = "timeout",
     .kind = CLI_DURATION,
     .offset = CLI_AT(send_config, timeout_ms),
     .arg = "D",
     .help = "the whole attempt, connect to last byte (default 10s)",
     .min = 1,
     .max = 3600000},
    FORMAT_OPTION(send_config),
};

static const cli_command send_command = {
    .name = "send",
    .synopsis = "URL --secret S --event TYPE --data JSON [--id ID] [--timeout 10s]\n"
                "[--format F]",
    .summary =
        "Delivers one signed webhook {\"event\":TYPE,\"data\":JSON} to URL with a fresh\n"
        "timestamp. Redirects are not followed. Prints \"HTTP <status>\" and the first 4 KiB\n"
        "of the answer; exits 0 on a 2XX answer, 1 otherwise.\n",
    CLI_OPTIONS(send_options),
    .positional_max = 1,
};

/* ---- shared ---- */

/* Reads all of stdin (at most BODY_MAX bytes) into an xmalloc'd buffer, NUL-terminated. */
static int read_stdin(char **out, size_t *out_len)
{
    size_t len = 0, cap = 65536;
    char *buf = xmalloc(cap + 1);

    *out = NULL;
    *out_len = 0;
    for (;;) {
        size_t n;
        if (len == cap) {
            if (cap >= BODY_MAX + 1) {
                free(buf);
                return HOOKD_ETOOBIG;
            }
            cap = cap * 2 > BODY_MAX + 1 ? BODY_MAX + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        n = fread(buf + len, 1, cap - len, stdin);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return HOOKD_EIO;
    }
    if (len > BODY_MAX) {
        free(buf);
        return HOOKD_ETOOBIG;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return HOOKD_OK;
}

/* Reports a stdin read failure for command; returns the failure status. */
static int stdin_failed(const char *command, int rc)
{
    if (rc == HOOKD_ETOOBIG)
        fprintf(stderr, "hookd %s: body larger than %u MiB\n", command, BODY_MAX >> 20);
    else
        fprintf(stderr, "hookd %s: cannot read the body on stdin\n", command);
    return 1;
}

/* Signs body for id in format: at timestamp when given (already checked), else at the
 * current time. Reports a failure on stderr for command; returns 0 or 1. */
static int sign_body(const char *command, const char *format, const char *secret, const char *id,
                     const char *timestamp, const char *body, size_t body_len, tool_signed *out)
{
    int64_t when = (int64_t)time(NULL);
    int rc;
    if (timestamp && !timestamp_of_format(format, timestamp, &when))
        rc = HOOKD_ETIMESTAMP;
    else if (format_standard(format)) {
        out->names[0] = HOOKD_STANDARD_HEADER_ID;
        out->names[1] = HOOKD_STANDARD_HEADER_TIMESTAMP;
        out->names[2] = HOOKD_STANDARD_HEADER_SIGNATURE;
        snprintf(out->timestamp, sizeof out->timestamp, "%lld", (long long)when);
        rc = hookd_standard_sign(secret, strlen(secret), id, when, body, body_len, out->signature);
    } else {
        hookd_signed sig;
        out->names[0] = HOOKD_HEADER_ID;
        out->names[1] = HOOKD_HEADER_TIMESTAMP;
        out->names[2] = HOOKD_HEADER_SIGNATURE;
        rc = hookd_sign_attempt(secret, strlen(secret), id, when, body, body_len, &sig);
        snprintf(out->timestamp, sizeof out->timestamp, "%s", sig.timestamp);
        snprintf(out->signature, sizeof out->signature, "%s", sig.signature);
    }
    if (rc != HOOKD_OK) {
        fprintf(stderr, "hookd %s: %s\n", command,
                rc == HOOKD_EINVAL && format_standard(format)
                    ? "invalid argument (a standard-webhooks secret is whsec_ and base64)"
                    : hookd_strerror(rc));
        return 1;
    }
    return 0;
}

int cmd_sign(int argc, char **argv)
{
    sign_config c = {.secret = NULL};
    int rc = cli_parse(&sign_command, &c, argc, argv, NULL);
    if (rc != CLI_CONTINUE)
        return rc;
    if (c.secret == NULL || *c.secret == '\0')
        return cli_usage_error(&sign_command, "--secret is required (or env HOOKD_SECRET)");
    if (c.id == NULL)
        return cli_usage_error(&sign_command, "--id is required");
    int64_t unused;
    if (c.timestamp && !timestamp_of_format(c.format, c.timestamp, &unused))
        return cli_usage_error(&sign_command, "--timestamp: \"%s\" is not %s", c.timestamp,
                               format_standard(c.format) ? "Unix seconds"
                                                         : "a timestamp YYYY-MM-DDTHH:MM:SSZ");
    char *body;
    size_t body_len;
    rc = read_stdin(&body, &body_len);
    if (rc != HOOKD_OK)
        return stdin_failed("sign", rc);
    tool_signed sig;
    rc = sign_body("sign", c.format, c.secret, c.id, c.timestamp, body, body_len, &sig);
    free(body);
    if (rc != 0)
        return rc;
    printf("%s: %s\n%s: %s\n%s: %s\n", sig.names[0], c.id, sig.names[1], sig.timestamp,
           sig.names[2], sig.signature);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_verify(int argc, char **argv)
{
    verify_config c = {.tolerance_ms = (int64_t)DEFAULT_TOLERANCE_S * 1000};
    int rc = cli_parse(&verify_command, &c, argc, argv, NULL);
    if (rc != CLI_CONTINUE)
        return rc;
    if (c.secrets.count == 0)
        return cli_usage_error(&verify_command, "--secret is required (or env HOOKD_SECRET)");
    if (c.id == NULL || c.timestamp == NULL || c.signature == NULL)
        return cli_usage_error(&verify_command, "--id, --timestamp and --signature are required");
    hookd_secret secrets[MAX_SECRETS];
    for (size_t i = 0; i < c.secrets.count; i++)
        secrets[i] = (hookd_secret){c.secrets.items[i], strlen(c.secrets.items[i])};
    char *body;
    size_t body_len;
    rc = read_stdin(&body, &body_len);
    if (rc != HOOKD_OK)
        return stdin_failed("verify", rc);
    if (format_standard(c.format))
        rc = hookd_standard_verify(secrets, c.secrets.count, c.id, c.timestamp, c.signature, body,
                                   body_len, (int64_t)time(NULL), c.tolerance_ms / 1000, NULL);
    else
        rc = hookd_verify(secrets, c.secrets.count, c.id, c.timestamp, c.signature, body, body_len,
                          (int64_t)time(NULL), c.tolerance_ms / 1000);
    free(body);
    if (rc != HOOKD_OK) {
        fprintf(stderr, "hookd verify: %s\n", hookd_strerror(rc));
        return 1;
    }
    puts("ok");
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The one POST of `hookd send` and its outcome. */
typedef struct send_post {
    struct event_base *base;
    int exit_status;
} send_post;

/* Prints the status and the start of the answer (the client keeps its first 4 KiB), or why
 * there was none; ends the loop. Exit status 0 on a 2XX answer, 1 otherwise. */
static void send_done(void *arg, const http_result *r)
{
    send_post *p = arg;
    p->exit_status = 1;
    event_base_loopbreak(p->base);
    if (r->error) {
        fprintf(stderr, "hookd send: %s\n", r->error);
        return;
    }
    printf("HTTP %ld\n", r->status);
    size_t shown = r->response_len < RESPONSE_SHOWN ? r->response_len : RESPONSE_SHOWN;
    if (shown > 0) {
        fwrite(r->response, 1, shown, stdout);
        if (r->response[shown - 1] != '\n')
            putchar('\n');
    }
    if (fflush(stdout) == 0 && r->status >= 200 && r->status <= 299)
        p->exit_status = 0;
}

/* POSTs body to url signed now, with hookd's own client on a loop run until the answer (any
 * URL: http allowed, private addresses too — the user typed it); prints the outcome;
 * returns the exit status. */
static int post_webhook(const char *url, const send_config *c, const char *body, size_t body_len)
{
    tool_signed sig;
    if (sign_body("send", c->format, c->secret, c->id, NULL, body, body_len, &sig) != 0)
        return 1;
    send_post p = {.base = loop_new(), .exit_status = 1};
    http_client_options options = {.allow_http = true, .allow_private_addresses = true};
    http_client *client = http_client_new(p.base, &options);
    http_header headers[] = {
        {sig.names[0], c->id}, {sig.names[1], sig.timestamp}, {sig.names[2], sig.signature}};
    http_request req = {.url = url,
                        .headers = headers,
                        .header_count = 3,
                        .body = body,
                        .body_len = body_len,
                        .timeout_ms = c->timeout_ms};
    if (!client) {
        fputs("hookd send: cannot start the HTTP client\n", stderr);
    } else if (http_client_post(client, &req, send_done, &p) != 0) {
        fprintf(stderr, "hookd send: %s is not a URL hookd can post to\n", url);
    } else if (event_base_dispatch(p.base) < 0) {
        fputs("hookd send: the event loop failed\n", stderr);
        p.exit_status = 1;
    }
    http_client_free(client);
    event_base_free(p.base);
    return p.exit_status;
}

/* Checks send's flags beyond their own syntax. CLI_CONTINUE, or 2 once reported. */
static int send_check(const send_config *c, int argc, int first_positional)
{
    if (argc - first_positional != 1)
        return cli_usage_error(&send_command, "exactly one URL is required");
    if (c->secret == NULL || *c->secret == '\0')
        return cli_usage_error(&send_command, "--secret is required (or env HOOKD_SECRET)");
    if (c->event == NULL || c->data == NULL)
        return cli_usage_error(&send_command, "--event and --data are required");
    char *probe = NULL;
    size_t probe_len;
    if (hookd_envelope_build(c->event, "{}", 2, 0, &probe, &probe_len) != HOOKD_OK)
        return cli_usage_error(&send_command,
                               "--event must be 1 to 128 letters, digits, '_', '.' or '-'");
    free(probe);
    return CLI_CONTINUE;
}

/* The body {"event":…,"data":…} from --event and --data (or stdin). 0, 1 or 2 (reported). */
static int send_body(const send_config *c, char **body, size_t *body_len)
{
    char *stdin_data = NULL;
    const char *data = c->data;
    size_t data_len;
    if (strcmp(data, "-") == 0) {
        int rc = read_stdin(&stdin_data, &data_len);
        if (rc != HOOKD_OK)
            return stdin_failed("send", rc);
        data = stdin_data;
    } else {
        data_len = strlen(data);
    }
    int rc = hookd_envelope_build(c->event, data, data_len, BODY_MAX, body, body_len);
    free(stdin_data);
    if (rc == HOOKD_OK)
        return 0;
    return cli_usage_error(&send_command, rc == HOOKD_ETOOBIG ? "--data is too large"
                                                              : "--data must be a JSON object");
}

int cmd_send(int argc, char **argv)
{
    send_config c = {.timeout_ms = DEFAULT_TIMEOUT_MS};
    int first = 0;
    int rc = cli_parse(&send_command, &c, argc, argv, &first);
    if (rc == CLI_CONTINUE)
        rc = send_check(&c, argc, first);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *url = argv[first];
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cli_usage_error(&send_command, "URL must start with http:// or https://");
    char fresh_id[HOOKD_ID_LEN + 1];
    if (c.id == NULL) {
        if (hookd_id_new(fresh_id) != HOOKD_OK) {
            fputs("hookd send: cannot generate an id\n", stderr);
            return 1;
        }
        c.id = fresh_id;
    }
    char *body = NULL;
    size_t body_len = 0;
    rc = send_body(&c, &body, &body_len);
    if (rc == 0)
        rc = post_webhook(url, &c, body, body_len);
    free(body);
    return rc;
}
