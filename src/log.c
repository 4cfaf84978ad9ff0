/*
 * log.c — see log.h: one line per call on stderr, the level from HOOKD_LOG_LEVEL (or
 * log_set_level). What is logged is decided by the callers, who pass ids, counts and error
 * texts, never a secret, token, signature or body (checked across src/ for the wave-2
 * layout; the black-box tests assert the secret and the token never reach the output).
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min_level = LOG_INFO;
static enum log_format log_line_format = LOG_FORMAT_TEXT;
static pthread_once_t log_env_once = PTHREAD_ONCE_INIT;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

/* HOOKD_LOG_LEVEL, read once (any thread may log first, hence pthread_once). An unknown
 * value is said once and the default kept, rather than silently logging less or more. */
static void log_init_from_env(void)
{
    const char *env = getenv("HOOKD_LOG_LEVEL");
    if (!env || !*env)
        return;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(env, log_level_names[i]) == 0) {
            log_min_level = (enum log_level)i;
            return;
        }
    static const char msg[] = "hookd: HOOKD_LOG_LEVEL is not debug, info, warn or error; "
                              "logging at info\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        return; /* stderr is gone: nothing else to tell */
}

void log_set_level(enum log_level level)
{
    if (pthread_once(&log_env_once, log_init_from_env) != 0)
        abort();
    log_min_level = level;
}

void log_set_format(enum log_format format)
{
    log_line_format = format;
}

/* Appends text to the JSON string being built in out[*n..cap), escaped; bytes that do not
 * form UTF-8 become '?', so that every line is valid JSON whatever an error text holds. */
static void log_json_escape(char *out, size_t *n, size_t cap, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p && *n + 7 < cap; p++) {
        int more = *p < 0x80             ? 0
                   : (*p & 0xE0) == 0xC0 ? 1
                   : (*p & 0xF0) == 0xE0 ? 2
                   : (*p & 0xF8) == 0xF0 ? 3
                                         : -1;
        for (int i = 1; i <= more; i++)
            if ((p[i] & 0xC0) != 0x80)
                more = -1;
        if (*p == '"' || *p == '\\')
            *n += (size_t)snprintf(out + *n, cap - *n, "\\%c", *p);
        else if (*p < 0x20)
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", *p);
        else if (more < 0)
            out[(*n)++] = '?';
        else {
            memcpy(out + *n, p, (size_t)more + 1);
            *n += (size_t)more + 1;
            p += more;
        }
    }
}

/* The JSON line of one message, newline included, into line; its length. */
static size_t log_json_line(char *line, size_t cap, const char *time_text, enum log_level level,
                            const char *component, const char *message)
{
    size_t n = (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"",
                                time_text, log_level_names[level]);
    log_json_escape(line, &n, cap - 16, component);
    n += (size_t)snprintf(line + n, cap - n, "\",\"message\":\"");
    log_json_escape(line, &n, cap - 4, message);
    memcpy(line + n, "\"}\n", 3);
    return n + 3;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    if (pthread_once(&log_env_once, log_init_from_env) != 0)
        abort(); /* only for an invalid once-control: a bug */
    if (level < log_min_level)
        return;
    char message[900], when[40], line[2048];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (k < 0)
        message[0] = '\0';
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_line_format == LOG_FORMAT_JSON) {
        snprintf(when + n, sizeof when - n, ".%03ldZ", now.tv_nsec / 1000000);
        n = log_json_line(line, sizeof line, when, level, component, message);
    } else {
        k = snprintf(line, sizeof line - 1, "%sZ %s %s: %s", when, log_level_names[level],
                     component, message);
        n = k < 0 ? 0 : (size_t)k < sizeof line - 1 ? (size_t)k : sizeof line - 2;
        line[n++] = '\n';
    }
    /* One write(2) per line keeps lines whole across threads. A failed write has nowhere
     * to be reported: the log is the place reports go. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
