/*
 * tools.c — `hookd sign`, `hookd verify`, `hookd send` (SPEC §5): the wire protocol by hand,
 * for people who test or debug webhooks. Each reads its body from stdin as raw bytes (a
 * trailing newline from `echo` is part of the body) and uses the protocol core
 * (include/hookd.h) exactly as the sender and receiver do.
 */
#include "cli.h"
#include "mem.h"
#include "hookd.h"

#include <curl/curl.h>
#include <getopt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX (16u << 20)     /* bytes read from stdin */
#define RESPONSE_SHOWN 4096      /* bytes of an answer's body printed by send */
#define MAX_SECRETS 16           /* --secret flags accepted by verify */
#define DEFAULT_TOLERANCE_S 300  /* verify's --tolerance */
#define DEFAULT_TIMEOUT_MS 10000 /* send's --timeout */

static const char sign_usage[] =
    "usage: hookd sign --secret S --id ID [--timestamp TS] < BODY\n"
    "\n"
    "Prints the three X-Webhook-* headers for the body read on stdin (its exact bytes:\n"
    "use printf or echo -n to avoid signing a trailing newline).\n"
    "\n"
    "  --secret S       the destination's secret (or set HOOKD_SECRET)\n"
    "  --id ID          the webhook id, e.g. a UUID\n"
    "  --timestamp TS   YYYY-MM-DDTHH:MM:SSZ (default: now)\n"
    "  --help           show this help\n";

static const char verify_usage[] =
    "usage: hookd verify --secret S [--secret S_OLD …] --id ID --timestamp TS\n"
    "                    --signature SIG [--tolerance 5m] < BODY\n"
    "\n"
    "Checks a delivery as a receiver does. Prints \"ok\" on stdout and exits 0, or prints\n"
    "the reason on stderr (\"hookd verify: expired\", \"… bad signature\", \"… malformed\n"
    "timestamp\", …) and exits 1. The body is read on stdin, exact bytes.\n"
    "\n"
    "  --secret S       a secret to accept; repeat during a rotation (or set HOOKD_SECRET)\n"
    "  --id ID          the X-Webhook-Id header\n"
    "  --timestamp TS   the X-Webhook-Timestamp header\n"
    "  --signature SIG  the X-Webhook-Signature header\n"
    "  --tolerance D    accepted clock distance, past or future (default 5m;\n"
    "                   units ms, s, m, h, d; a bare number is seconds)\n"
    "  --help           show this help\n";

static const char send_usage[] =
    "usage: hookd send URL --secret S --event TYPE --data JSON [--id ID] [--timeout 10s]\n"
    "\n"
    "Delivers one signed webhook {\"event\":TYPE,\"data\":JSON} to URL with a fresh\n"
    "timestamp. Redirects are not followed. Prints \"HTTP <status>\" and the first 4 KiB\n"
    "of the answer; exits 0 on a 2XX answer, 1 otherwise.\n"
    "\n"
    "  --secret S       the destination's secret (or set HOOKD_SECRET)\n"
    "  --event TYPE     the event type, e.g. events.created\n"
    "  --data JSON      the data: a JSON object, or - to read it on stdin\n"
    "  --id ID          the webhook id (default: a fresh UUID)\n"
    "  --timeout D      the whole attempt, connect to last byte (default 10s)\n"
    "  --help           show this help\n";

enum {
    OPT_HELP = 'h',
    OPT_SECRET = 256,
    OPT_ID,
    OPT_TIMESTAMP,
    OPT_SIGNATURE,
    OPT_TOLERANCE,
    OPT_EVENT,
    OPT_DATA,
    OPT_TIMEOUT
};

/* Prints why and the usage on stderr; returns the usage-error status. */
static int usage_error(const char *command, const char *usage, const char *why)
{
    fprintf(stderr, "hookd %s: %s\n\n%s", command, why, usage);
    return 2;
}

/* Reports an option getopt_long refused, from the argv element it stopped on. */
static int bad_option(const char *command, const char *usage, char **argv, int index)
{
    char why[256];
    const char *arg = index > 0 ? argv[index - 1] : "?";
    snprintf(why, sizeof why, "bad option or missing value: '%.200s'", arg);
    return usage_error(command, usage, why);
}

/* Reads all of stdin (at most BODY_MAX bytes) into a malloc'd buffer, NUL-terminated. */
static int read_stdin(char **out, size_t *out_len)
{
    size_t len = 0, cap = 65536;
    char *buf = xrealloc(NULL, cap + 1);

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

/* A webhook id goes into a header: printable ASCII without spaces, at most 128 bytes. */
static bool header_value_ok(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] <= ' ' || text[i] > '~')
            return false;
    return true;
}

int cmd_sign(int argc, char **argv)
{
    static const struct option options[] = {{"secret", required_argument, NULL, OPT_SECRET},
                                            {"id", required_argument, NULL, OPT_ID},
                                            {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
                                            {"help", no_argument, NULL, OPT_HELP},
                                            {NULL, 0, NULL, 0}};
    const char *secret = getenv("HOOKD_SECRET"), *id = NULL, *timestamp = NULL;
    char now_text[HOOKD_TIMESTAMP_LEN + 1], signature[HOOKD_SIGNATURE_HEX_LEN + 1];
    int64_t parsed;
    size_t body_len;
    char *body;
    int opt, rc;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SECRET:
            secret = optarg;
            break;
        case OPT_ID:
            id = optarg;
            break;
        case OPT_TIMESTAMP:
            timestamp = optarg;
            break;
        case OPT_HELP:
            fputs(sign_usage, stdout);
            return 0;
        default:
            return bad_option("sign", sign_usage, argv, optind);
        }
    }
    if (optind < argc)
        return usage_error("sign", sign_usage, "unexpected argument");
    if (secret == NULL || *secret == '\0')
        return usage_error("sign", sign_usage, "--secret is required");
    if (id == NULL)
        return usage_error("sign", sign_usage, "--id is required");
    if (!header_value_ok(id))
        return usage_error("sign", sign_usage, "--id must be printable ASCII without spaces");
    if (timestamp == NULL) {
        if (hookd_timestamp_format((int64_t)time(NULL), now_text) != HOOKD_OK) {
            fputs("hookd sign: cannot format the current time\n", stderr);
            return 1;
        }
        timestamp = now_text;
    } else if (hookd_timestamp_parse(timestamp, &parsed) != HOOKD_OK) {
        return usage_error("sign", sign_usage, "--timestamp must be YYYY-MM-DDTHH:MM:SSZ");
    }
    rc = read_stdin(&body, &body_len);
    if (rc != HOOKD_OK)
        return stdin_failed("sign", rc);
    rc = hookd_sign(secret, strlen(secret), id, timestamp, body, body_len, signature);
    free(body);
    if (rc != HOOKD_OK) {
        fprintf(stderr, "hookd sign: %s\n", hookd_strerror(rc));
        return 1;
    }
    printf("X-Webhook-Id: %s\nX-Webhook-Timestamp: %s\nX-Webhook-Signature: %s\n", id, timestamp,
           signature);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option options[] = {{"secret", required_argument, NULL, OPT_SECRET},
                                            {"id", required_argument, NULL, OPT_ID},
                                            {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
                                            {"signature", required_argument, NULL, OPT_SIGNATURE},
                                            {"tolerance", required_argument, NULL, OPT_TOLERANCE},
                                            {"help", no_argument, NULL, OPT_HELP},
                                            {NULL, 0, NULL, 0}};
    hookd_secret secrets[MAX_SECRETS];
    size_t secret_count = 0;
    const char *id = NULL, *timestamp = NULL, *signature = NULL, *env_secret;
    int64_t tolerance_ms = (int64_t)DEFAULT_TOLERANCE_S * 1000;
    size_t body_len;
    char *body;
    int opt, rc;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SECRET:
            if (*optarg == '\0')
                return usage_error("verify", verify_usage, "--secret must not be empty");
            if (secret_count == MAX_SECRETS)
                return usage_error("verify", verify_usage, "too many --secret flags");
            secrets[secret_count].bytes = optarg;
            secrets[secret_count++].len = strlen(optarg);
            break;
        case OPT_ID:
            id = optarg;
            break;
        case OPT_TIMESTAMP:
            timestamp = optarg;
            break;
        case OPT_SIGNATURE:
            signature = optarg;
            break;
        case OPT_TOLERANCE:
            if (hookd_duration_parse(optarg, &tolerance_ms) != HOOKD_OK)
                return usage_error("verify", verify_usage,
                                   "--tolerance must be a duration such as 300s or 5m");
            break;
        case OPT_HELP:
            fputs(verify_usage, stdout);
            return 0;
        default:
            return bad_option("verify", verify_usage, argv, optind);
        }
    }
    if (optind < argc)
        return usage_error("verify", verify_usage, "unexpected argument");
    env_secret = getenv("HOOKD_SECRET");
    if (secret_count == 0 && env_secret != NULL && *env_secret != '\0') {
        secrets[0].bytes = env_secret;
        secrets[0].len = strlen(env_secret);
        secret_count = 1;
    }
    if (secret_count == 0)
        return usage_error("verify", verify_usage, "--secret is required");
    if (id == NULL || timestamp == NULL || signature == NULL)
        return usage_error("verify", verify_usage,
                           "--id, --timestamp and --signature are required");
    rc = read_stdin(&body, &body_len);
    if (rc != HOOKD_OK)
        return stdin_failed("verify", rc);
    rc = hookd_verify(secrets, secret_count, id, timestamp, signature, body, body_len,
                      (int64_t)time(NULL), tolerance_ms / 1000);
    free(body);
    if (rc != HOOKD_OK) {
        fprintf(stderr, "hookd verify: %s\n", hookd_strerror(rc));
        return 1;
    }
    puts("ok");
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The first RESPONSE_SHOWN bytes of an answer; the rest is read and dropped. */
struct response {
    char bytes[RESPONSE_SHOWN];
    size_t len;
};

static size_t keep_response(char *data, size_t size, size_t count, void *userdata)
{
    struct response *response = userdata;
    size_t n = size * count, room = sizeof response->bytes - response->len;
    memcpy(response->bytes + response->len, data, n < room ? n : room);
    response->len += n < room ? n : room;
    return n;
}

/* POSTs body to url with the signed headers; prints the outcome; returns the exit status. */
static int post_webhook(const char *url, const char *secret, const char *id, const char *body,
                        size_t body_len, int64_t timeout_ms)
{
    char timestamp[HOOKD_TIMESTAMP_LEN + 1], signature[HOOKD_SIGNATURE_HEX_LEN + 1];
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL, *grown;
    struct response response = {.len = 0};
    long status = 0;
    int exit_status = 1;
    CURLcode code;
    CURL *curl;
    int rc;

    if (hookd_timestamp_format((int64_t)time(NULL), timestamp) != HOOKD_OK) {
        fputs("hookd send: cannot format the current time\n", stderr);
        return 1;
    }
    rc = hookd_sign(secret, strlen(secret), id, timestamp, body, body_len, signature);
    if (rc != HOOKD_OK) {
        fprintf(stderr, "hookd send: %s\n", hookd_strerror(rc));
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("hookd send: cannot initialize libcurl\n", stderr);
        return 1;
    }
    curl = curl_easy_init();
    if (curl == NULL) {
        fputs("hookd send: cannot initialize libcurl\n", stderr);
        goto done;
    }
    {
        const char *lines[] = {"Content-Type: application/json",
                               "User-Agent: hookd/" HOOKD_VERSION_STRING,
                               "Expect:",
                               NULL,
                               NULL,
                               NULL};
        char id_line[200], ts_line[64], sig_line[128];
        snprintf(id_line, sizeof id_line, "X-Webhook-Id: %s", id);
        snprintf(ts_line, sizeof ts_line, "X-Webhook-Timestamp: %s", timestamp);
        snprintf(sig_line, sizeof sig_line, "X-Webhook-Signature: %s", signature);
        lines[3] = id_line;
        lines[4] = ts_line;
        lines[5] = sig_line;
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
            grown = curl_slist_append(headers, lines[i]);
            if (grown == NULL) {
                fputs("hookd: out of memory\n", stderr);
                abort();
            }
            headers = grown;
        }
    }
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        fprintf(stderr, "hookd send: %s\n", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    printf("HTTP %ld\n", status);
    if (response.len > 0) {
        fwrite(response.bytes, 1, response.len, stdout);
        if (response.bytes[response.len - 1] != '\n')
            putchar('\n');
    }
    exit_status = status >= 200 && status <= 299 ? 0 : 1;
    if (fflush(stdout) != 0)
        exit_status = 1;
done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return exit_status;
}

int cmd_send(int argc, char **argv)
{
    static const struct option options[] = {{"secret", required_argument, NULL, OPT_SECRET},
                                            {"event", required_argument, NULL, OPT_EVENT},
                                            {"data", required_argument, NULL, OPT_DATA},
                                            {"id", required_argument, NULL, OPT_ID},
                                            {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                            {"help", no_argument, NULL, OPT_HELP},
                                            {NULL, 0, NULL, 0}};
    const char *secret = getenv("HOOKD_SECRET"), *event = NULL, *data = NULL, *id = NULL;
    const char *url;
    char fresh_id[HOOKD_ID_LEN + 1];
    int64_t timeout_ms = DEFAULT_TIMEOUT_MS;
    char *stdin_data = NULL, *body = NULL, *probe = NULL;
    size_t data_len, body_len, probe_len;
    int opt, rc, exit_status = 1;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SECRET:
            secret = optarg;
            break;
        case OPT_EVENT:
            event = optarg;
            break;
        case OPT_DATA:
            data = optarg;
            break;
        case OPT_ID:
            id = optarg;
            break;
        case OPT_TIMEOUT:
            if (hookd_duration_parse(optarg, &timeout_ms) != HOOKD_OK || timeout_ms <= 0 ||
                timeout_ms > 3600000)
                return usage_error("send", send_usage,
                                   "--timeout must be a duration from 1ms to 1h, such as 10s");
            break;
        case OPT_HELP:
            fputs(send_usage, stdout);
            return 0;
        default:
            return bad_option("send", send_usage, argv, optind);
        }
    }
    if (optind != argc - 1)
        return usage_error("send", send_usage, "exactly one URL is required");
    url = argv[optind];
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return usage_error("send", send_usage, "URL must start with http:// or https://");
    if (secret == NULL || *secret == '\0')
        return usage_error("send", send_usage, "--secret is required");
    if (event == NULL || data == NULL)
        return usage_error("send", send_usage, "--event and --data are required");
    if (id != NULL && !header_value_ok(id))
        return usage_error("send", send_usage, "--id must be printable ASCII without spaces");
    if (hookd_envelope_build(event, "{}", 2, 0, &probe, &probe_len) != HOOKD_OK)
        return usage_error("send", send_usage,
                           "--event must be 1 to 128 letters, digits, '_', '.' or '-'");
    free(probe);
    if (id == NULL) {
        if (hookd_id_new(fresh_id) != HOOKD_OK) {
            fputs("hookd send: cannot generate an id\n", stderr);
            return 1;
        }
        id = fresh_id;
    }
    if (strcmp(data, "-") == 0) {
        rc = read_stdin(&stdin_data, &data_len);
        if (rc != HOOKD_OK)
            return stdin_failed("send", rc);
        data = stdin_data;
    } else {
        data_len = strlen(data);
    }
    rc = hookd_envelope_build(event, data, data_len, BODY_MAX, &body, &body_len);
    if (rc != HOOKD_OK) {
        exit_status = usage_error("send", send_usage,
                                  rc == HOOKD_ETOOBIG ? "--data is too large"
                                                      : "--data must be a JSON object");
        goto done;
    }
    exit_status = post_webhook(url, secret, id, body, body_len, timeout_ms);
done:
    free(body);
    free(stdin_data);
    return exit_status;
}
