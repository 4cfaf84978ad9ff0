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

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    if (pthread_once(&log_env_once, log_init_from_env) != 0)
        abort(); /* only for an invalid once-control: a bug */
    if (level < log_min_level)
        return;
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    int k = snprintf(line + n, sizeof line - n, "%s %s: ", log_level_names[level], component);
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* One write(2) per line keeps lines whole across threads. A failed write has nowhere
     * to be reported: the log is the place reports go. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
