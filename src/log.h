/*
 * log.h — one-line logs on stderr: "2024-08-22T01:04:05Z level component: message".
 *
 * Callers never pass secrets, signatures or bodies here. Safe from any thread (one write(2)
 * per line). The level is set once at start; below it nothing is formatted. Warnings and
 * errors are rate-limited per call site (log.c): a flood is cut to a few lines with a count.
 */
#ifndef HOOKD_LOG_H
#define HOOKD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the lowest level written, overriding HOOKD_LOG_LEVEL=debug|info|warn|error (read at
 * the first log line or call here; default LOG_INFO; documented in serve/receive --help). */
void log_set_level(enum log_level level);

/* How lines look: LOG_FORMAT_TEXT, the default, as above; LOG_FORMAT_JSON, one object per
 * line, {"time":"2024-08-22T01:04:05.123Z","level":"info","component":"serve","message":"…"}
 * (`--log-format json`, set by cli.c before anything is logged). */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

void log_set_format(enum log_format format);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(c, ...) log_write(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...) log_write(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_write(LOG_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_write(LOG_ERROR, c, __VA_ARGS__)

#endif
