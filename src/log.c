/*
 * log.c — see log.h: one line per call on stderr, the level from HOOKD_LOG_LEVEL (or
 * log_set_level). What is logged is decided by the callers, who pass ids, counts and error
 * texts, never a secret, token, signature or body (checked across src/ for the wave-2
 * layout; the black-box tests assert the secret and the token never reach the output).
 *
 * Warnings and errors are rate-limited per call site (its format string): at most
 * LOG_RATE_BURST lines of one site per LOG_RATE_WINDOW_S window; the next line written of
 * that site says how many were left out. A failing store used to write ~3,000 lines a
 * second (issue 12), which buries everything else and can stall on a slow log reader.
 *
 * A log reader that stalls (a full pipe on stderr) must not stall hookd: a line is written
 * only when poll(2) says stderr takes it at once (a pipe then has room for PIPE_BUF bytes,
 * more than a line, so the write does not block); otherwise it is dropped and counted, and
 * the next line written says how many were.
 *
 * Under systemd, with stderr connected to the journal ($JOURNAL_STREAM names it), each line
 * starts with its syslog priority ("<4>" for a warning): journald strips it and files the
 * line at that priority, so `journalctl -u hookd -p warning` finds warnings and errors
 * (without it every line is filed at info).
 */
#include "log.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_RATE_WINDOW_S 10 /* a site's lines are counted per window of this length */
#define LOG_RATE_BURST 10    /* lines of one site written per window; the rest counted */
#define LOG_RATE_SLOTS 128   /* sites tracked at once (a collision just restarts a count) */

typedef struct log_rate {
    const char *fmt; /* the call site */
    time_t window;   /* start of its current window */
    int lines;       /* written in it */
    long left_out;   /* not written since the last line of the site */
} log_rate;

static log_rate log_rates[LOG_RATE_SLOTS];
static pthread_mutex_t log_rate_lock = PTHREAD_MUTEX_INITIALIZER;

static enum log_level log_min_level = LOG_INFO;
static enum log_format log_line_format = LOG_FORMAT_TEXT;
static long log_dropped; /* lines dropped since the last one written (stderr was full) */
static pthread_once_t log_env_once = PTHREAD_ONCE_INIT;
static bool log_to_journal; /* stderr is systemd's journal: lines carry "<priority>" */

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};
static const int log_syslog_priorities[] = {7, 6, 4, 3}; /* debug, info, warning, err */

/* Whether stderr is the stream systemd connected to the journal: $JOURNAL_STREAM is its
 * "device:inode", and a child whose stderr was redirected elsewhere inherits the variable. */
static bool log_stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* HOOKD_LOG_LEVEL, read once (any thread may log first, hence pthread_once). An unknown
 * value is said once and the default kept, rather than silently logging less or more. */
static void log_init_from_env(void)
{
    log_to_journal = log_stderr_is_journal();
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

/* Whether a line of site fmt may be written now; *left_out receives the count of its lines
 * not written before this one (to report), when it is. */
static bool log_rate_admit(const char *fmt, time_t now, long *left_out)
{
    log_rate *r = &log_rates[((uintptr_t)fmt >> 3) % LOG_RATE_SLOTS];
    *left_out = 0;
    if (pthread_mutex_lock(&log_rate_lock) != 0)
        return true;
    if (r->fmt != fmt) {
        *r = (log_rate){.fmt = fmt, .window = now};
    } else if (now - r->window >= LOG_RATE_WINDOW_S) {
        r->window = now;
        r->lines = 0;
    }
    bool admit = r->lines < LOG_RATE_BURST;
    if (admit) {
        r->lines++;
        *left_out = r->left_out;
        r->left_out = 0;
    } else {
        r->left_out++;
    }
    pthread_mutex_unlock(&log_rate_lock);
    return admit;
}

/* Formats one line, text or JSON, into line (cap bytes); its length, newline included. */
static size_t log_format_line(char *line, size_t cap, enum log_level level, const char *component,
                              const char *message)
{
    char when[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_line_format == LOG_FORMAT_JSON) {
        snprintf(when + n, sizeof when - n, ".%03ldZ", now.tv_nsec / 1000000);
        return log_json_line(line, cap, when, level, component, message);
    }
    int k =
        snprintf(line, cap - 1, "%sZ %s %s: %s", when, log_level_names[level], component, message);
    n = k < 0 ? 0 : (size_t)k < cap - 1 ? (size_t)k : cap - 2;
    line[n++] = '\n';
    return n;
}

/* Writes a line unless stderr would block (a stalled reader must never freeze hookd): then
 * the line is counted, and the count said before the next line that gets through. */
static void log_emit(const char *line, size_t n)
{
    struct pollfd pfd = {.fd = STDERR_FILENO, .events = POLLOUT};
    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
        __atomic_add_fetch(&log_dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    long dropped = __atomic_exchange_n(&log_dropped, 0, __ATOMIC_RELAXED);
    if (dropped > 0) {
        char note[96];
        int m = snprintf(note, sizeof note,
                         "hookd: %ld log lines dropped: stderr was not being read\n", dropped);
        if (m > 0 && write(STDERR_FILENO, note, (size_t)m) < 0)
            return;
    }
    /* One write(2) per line keeps lines whole across threads. A failed write has nowhere
     * to be reported: the log is the place reports go. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    if (pthread_once(&log_env_once, log_init_from_env) != 0)
        abort(); /* only for an invalid once-control: a bug */
    if (level < log_min_level)
        return;
    long left_out = 0;
    if (level >= LOG_WARN && !log_rate_admit(fmt, time(NULL), &left_out))
        return;
    char message[900], line[2048];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (k < 0)
        message[0] = '\0';
    size_t len = k < 0 ? 0 : (size_t)k < sizeof message ? (size_t)k : sizeof message - 1;
    if (left_out > 0)
        snprintf(message + len, sizeof message - len, " (%ld more like this not logged)", left_out);
    int p = log_to_journal ? snprintf(line, sizeof line, "<%d>", log_syslog_priorities[level]) : 0;
    log_emit(line, (size_t)p + log_format_line(line + p, sizeof line - (size_t)p, level, component,
                                               message));
}
