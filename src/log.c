/* log.c — see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min_level = LOG_INFO;
static int log_level_from_env = 0;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    log_min_level = level;
    log_level_from_env = 1;
}

static void log_init_from_env(void)
{
    if (log_level_from_env)
        return;
    log_level_from_env = 1;
    const char *env = getenv("HOOKD_LOG_LEVEL");
    if (!env)
        return;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(env, log_level_names[i]) == 0)
            log_min_level = (enum log_level)i;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    log_init_from_env();
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
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
