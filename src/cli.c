/*
 * cli.c — flags for every hookd command, from one table per command (see cli.h).
 *
 * getopt_long does the scanning (long flags, "--flag=value", GNU argument order, -h); this
 * file turns a command's table into getopt's, converts each value by its kind through the
 * protocol core's parsers, applies the environment fallbacks, prints the generated help and
 * reports every mistake in one style: one line naming the flag (and the value when there is
 * one), then a hint to --help, never the whole usage on stderr.
 */
#include "cli.h"
#include "hookd.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CLI_HELP_COLUMN 28 /* where help texts start in the usage */
#define CLI_OPT_BASE 256   /* getopt values of table entries: CLI_OPT_BASE + index */
#define CLI_OPT_MAN 255    /* getopt value of the hidden --help-man */

/* Where a value being stored came from, when it is a line of --config's file: errors name
 * them. NULL while parsing the command line or the environment. */
static const char *cli_where_file;
static long cli_where_line;

/* The options every command takes, handled here; their values land in a cli_common. */
typedef struct cli_common {
    const char *config;
    const char *log_format;
} cli_common;

static bool cli_log_format_valid(const char *text)
{
    return strcmp(text, "text") == 0 || strcmp(text, "json") == 0;
}

static const cli_option cli_common_options[] = {
    {.name = "config",
     .kind = CLI_STRING,
     .offset = CLI_AT(cli_common, config),
     .arg = "FILE",
     .help = "read flags from FILE: \"name = value\" lines, name being a\n"
             "flag without --, true or false for a flag without a value;\n"
             "'#' starts a comment line. The command line and the\n"
             "environment win over the file"},
    {.name = "log-format",
     .kind = CLI_STRING,
     .offset = CLI_AT(cli_common, log_format),
     .arg = "FORMAT",
     .help = "text (default) or json: one object per line with time,\n"
             "level, component and message",
     .valid = cli_log_format_valid,
     .what = "is not text or json"},
};

#define CLI_COMMON_COUNT (sizeof cli_common_options / sizeof cli_common_options[0])

#define FD_AT(field) CLI_AT(cli_front_door, field)

/* The front door's flags (cli_front_door), for the commands with HTTP listeners. The
 * defaults named here are http_server.c's, which apply while a flag is not given. */
static const cli_option cli_front_door_options[] = {
    {.name = "max-connections",
     .kind = CLI_COUNT,
     .offset = FD_AT(max_connections),
     .arg = "N",
     .help = "open connections per listener (default 10000; the\n"
             "receiver's admin API: 256); more are closed at accept",
     .min = 1,
     .max = 1000000},
    {.name = "max-connections-per-ip",
     .kind = CLI_COUNT,
     .offset = FD_AT(max_connections_per_ip),
     .arg = "N",
     .help = "open connections from one client address, per listener\n"
             "(default 1024); a proxy on the same host is one address",
     .min = 1,
     .max = 1000000},
    {.name = "header-timeout",
     .kind = CLI_DURATION,
     .offset = FD_AT(header_timeout_ms),
     .arg = "DURATION",
     .help = "a request's head must be whole this long after its first\n"
             "byte, however steadily it trickles (default 10s): 408",
     .min = 100,
     .max = 3600000},
    {.name = "request-timeout",
     .kind = CLI_DURATION,
     .offset = FD_AT(request_timeout_ms),
     .arg = "DURATION",
     .help = "and its body this long after the same first byte (default\n"
             "60s; at least --header-timeout): 408",
     .min = 100,
     .max = 86400000},
    {.name = "max-header-size",
     .kind = CLI_SIZE,
     .offset = FD_AT(max_header_size),
     .arg = "SIZE",
     .help = "a request's head, request line and headers (default\n"
             "16KiB): 431 over it",
     .min = 1024,
     .max = 1024 * 1024},
    {.name = "max-buffered-body",
     .kind = CLI_SIZE,
     .offset = FD_AT(max_buffered_body),
     .arg = "SIZE",
     .help = "request bodies held at once by the whole process, declared\n"
             "ones counted before they are read (default 32MiB); a\n"
             "request past it is answered 503 busy with Retry-After",
     .min = 64 * 1024,
     .max = 1LL << 40},
};

#undef FD_AT

#define CLI_FRONT_DOOR_COUNT (sizeof cli_front_door_options / sizeof cli_front_door_options[0])

/* The front door's flags cmd takes: all of them, or none. */
static size_t cli_front_door_count(const cli_command *cmd)
{
    return cmd->front_door ? CLI_FRONT_DOOR_COUNT : 0;
}

/* The options of cmd, then the front door's (when it takes them), then the common ones,
 * by one index. */
static size_t cli_total(const cli_command *cmd)
{
    return cmd->option_count + cli_front_door_count(cmd) + CLI_COMMON_COUNT;
}

static const cli_option *cli_opt(const cli_command *cmd, size_t i)
{
    if (i < cmd->option_count)
        return &cmd->options[i];
    i -= cmd->option_count;
    if (i < cli_front_door_count(cmd))
        return &cli_front_door_options[i];
    return &cli_common_options[i - cli_front_door_count(cmd)];
}

/* The struct option i's offset points into. */
static void *cli_target(const cli_command *cmd, size_t i, void *config, cli_common *common)
{
    if (i < cmd->option_count)
        return config;
    if (i < cmd->option_count + cli_front_door_count(cmd))
        return (char *)config + cmd->front_door_at;
    return common;
}

/* The phrase naming what a kind expects, with examples, for values that do not parse. */
static const char *cli_kind_example(cli_kind kind)
{
    switch (kind) {
    case CLI_DURATION:
        return "is not a duration (use 500ms, 10s, 5m, 2h)";
    case CLI_SIZE:
        return "is not a size (use 512KiB, 1MiB, 1GiB)";
    case CLI_COUNT:
        return "is not a whole number";
    default:
        return "is not valid";
    }
}

void cli_hint(const char *name)
{
    fprintf(stderr, "run 'hookd %s --help' for the flags\n", name);
}

static void cli_vreport(const cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "hookd %s: ", cmd->name);
    if (cli_where_file)
        fprintf(stderr, "%s:%ld: ", cli_where_file, cli_where_line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    cli_hint(cmd->name);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vreport(cmd, fmt, ap);
    va_end(ap);
    return 2;
}

/* A duration as people write it: the largest unit that divides it ("10m", "1500ms"). */
static void cli_format_duration(int64_t ms, char *out, size_t len)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(out, len, "%lldms", (long long)ms);
}

/* A size as people write it: "1GiB", "512KiB", "1 byte". */
static void cli_format_size(int64_t bytes, char *out, size_t len)
{
    static const struct {
        int64_t bytes;
        const char *unit;
    } units[] = {{1LL << 30, "GiB"}, {1LL << 20, "MiB"}, {1LL << 10, "KiB"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (bytes != 0 && bytes % units[i].bytes == 0) {
            snprintf(out, len, "%lld%s", (long long)(bytes / units[i].bytes), units[i].unit);
            return;
        }
    snprintf(out, len, "%lld byte%s", (long long)bytes, bytes == 1 ? "" : "s");
}

static void cli_format_bound(cli_kind kind, int64_t v, char *out, size_t len)
{
    if (kind == CLI_DURATION)
        cli_format_duration(v, out, len);
    else if (kind == CLI_SIZE)
        cli_format_size(v, out, len);
    else
        snprintf(out, len, "%lld", (long long)v);
}

/* Reports a value that parsed but lies outside the option's range. Returns 2. */
static int cli_out_of_range(const cli_command *cmd, const cli_option *o, const char *text)
{
    static const char *const nouns[] = {
        [CLI_DURATION] = "a duration", [CLI_SIZE] = "a size", [CLI_COUNT] = "a number"};
    char lo[32], hi[32];
    cli_format_bound(o->kind, o->min, lo, sizeof lo);
    cli_format_bound(o->kind, o->max, hi, sizeof hi);
    if (o->max > 0)
        return cli_usage_error(cmd, "--%s: \"%s\" is not %s from %s to %s", o->name, text,
                               nouns[o->kind], lo, hi);
    return cli_usage_error(cmd, "--%s: \"%s\" is not %s of at least %s", o->name, text,
                           nouns[o->kind], lo);
}

static bool cli_in_range(const cli_option *o, int64_t v)
{
    return v >= o->min && (o->max <= 0 || v <= o->max);
}

/* A whole number in decimal, or false. */
static bool cli_parse_count(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Converts and stores one numeric value (DURATION, SIZE, COUNT). 0, or 2 once reported. */
static int cli_store_number(const cli_command *cmd, const cli_option *o, void *value,
                            const char *text)
{
    int64_t v = 0;
    uint64_t bytes = 0;
    bool ok;
    if (o->kind == CLI_DURATION) {
        ok = hookd_duration_parse(text, &v) == HOOKD_OK;
    } else if (o->kind == CLI_SIZE) {
        ok = hookd_size_parse(text, &bytes) == HOOKD_OK && bytes <= INT64_MAX;
        v = (int64_t)bytes;
    } else {
        ok = cli_parse_count(text, &v);
    }
    if (!ok)
        return cli_usage_error(cmd, "--%s: \"%s\" %s", o->name, text, cli_kind_example(o->kind));
    if (!cli_in_range(o, v))
        return cli_out_of_range(cmd, o, text);
    if (o->kind == CLI_DURATION)
        *(int64_t *)value = v;
    else if (o->kind == CLI_SIZE)
        *(uint64_t *)value = (uint64_t)v;
    else
        *(long *)value = (long)v;
    return 0;
}

static size_t cli_capacity(const cli_option *o, size_t type_max)
{
    return o->max > 0 && (uint64_t)o->max < type_max ? (size_t)o->max : type_max;
}

static int cli_store_list(const cli_command *cmd, const cli_option *o, void *value,
                          const char *text)
{
    cli_list *list = value;
    size_t max = cli_capacity(o, CLI_LIST_MAX), count = 0;
    int64_t ms[CLI_LIST_MAX];
    if (hookd_duration_list_parse(text, ms, max, &count) != HOOKD_OK || count == 0)
        return cli_usage_error(cmd,
                               "--%s: \"%s\" is not a list of at most %zu durations "
                               "(use 10s,1m,10m,1h)",
                               o->name, text, max);
    memcpy(list->ms, ms, count * sizeof ms[0]);
    list->count = count;
    list->text = text;
    return 0;
}

/* Checks and stores a string value (STRING, STRINGS). 0, or 2 once reported. */
static int cli_store_string(const cli_command *cmd, const cli_option *o, void *value,
                            const char *text)
{
    if (o->valid && !o->valid(text))
        return cli_usage_error(cmd, "--%s: \"%s\" %s", o->name, text, o->what);
    if (o->kind == CLI_STRING) {
        *(const char **)value = text;
        return 0;
    }
    cli_strings *s = value;
    size_t max = cli_capacity(o, CLI_STRINGS_MAX);
    if (s->count >= max)
        return cli_usage_error(cmd, "--%s: given more than %zu times", o->name, max);
    s->items[s->count++] = text;
    return 0;
}

/* Stores the value of option o given as text. 0, or 2 once the mistake is reported. */
static int cli_store(const cli_command *cmd, const cli_option *o, void *config, const char *text)
{
    void *value = (char *)config + o->offset;
    switch (o->kind) {
    case CLI_STRING:
    case CLI_STRINGS:
        return cli_store_string(cmd, o, value, text);
    case CLI_LIST:
        return cli_store_list(cmd, o, value, text);
    case CLI_FLAG:
        *(bool *)value = true;
        return 0;
    default:
        return cli_store_number(cmd, o, value, text);
    }
}

/* Reports what getopt refused: an unknown flag or a flag without its value. Returns 2. */
static int cli_refused(const cli_command *cmd, char **argv)
{
    if (optopt >= CLI_OPT_BASE) {
        const cli_option *o = cli_opt(cmd, (size_t)(optopt - CLI_OPT_BASE));
        return cli_usage_error(
            cmd, o->kind == CLI_FLAG ? "--%s takes no value" : "--%s needs a value", o->name);
    }
    if (optopt == 'h' && strncmp(argv[optind - 1], "--", 2) == 0)
        return cli_usage_error(cmd, "--help takes no value");
    if (optopt != 0)
        return cli_usage_error(cmd, "unknown flag -%c", optopt);
    const char *arg = argv[optind - 1];
    size_t len = strcspn(arg, "=");
    return cli_usage_error(cmd, "unknown flag %.*s", (int)(len > 100 ? 100 : len), arg);
}

/* The environment fallbacks of the options the command line did not give. */
static int cli_apply_env(const cli_command *cmd, void *config, const bool *given)
{
    for (size_t i = 0; i < cmd->option_count; i++) { /* the common options have none */
        const cli_option *o = &cmd->options[i];
        const char *env = o->env ? getenv(o->env) : NULL;
        if (!env || !*env)
            continue;
        if (o->kind == CLI_STRINGS) {
            cli_strings *s = (cli_strings *)((char *)config + o->offset);
            if ((given[i] && !o->env_adds) || s->count >= cli_capacity(o, CLI_STRINGS_MAX))
                continue;
        } else if (given[i]) {
            continue;
        }
        if (cli_store(cmd, o, config, env) != 0)
            return 2;
    }
    return 0;
}

/* getopt_long's table for cmd: every option by name, plus --help. xcalloc'd. */
static struct option *cli_getopt_table(const cli_command *cmd)
{
    size_t n = cli_total(cmd);
    struct option *t = xcalloc(n + 3, sizeof *t);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct option){cli_opt(cmd, i)->name,
                               cli_opt(cmd, i)->kind == CLI_FLAG ? no_argument : required_argument,
                               NULL, CLI_OPT_BASE + (int)i};
    t[n] = (struct option){"help", no_argument, NULL, 'h'};
    /* hidden: the manual page, for the build (`hookd help --man COMMAND`) */
    t[n + 1] = (struct option){"help-man", no_argument, NULL, CLI_OPT_MAN};
    return t;
}

/* Runs getopt over argv, storing values and marking given[]. CLI_CONTINUE, 0 or 2. */
static int cli_scan(const cli_command *cmd, void *config, cli_common *common, int argc, char **argv,
                    bool *given)
{
    struct option *table = cli_getopt_table(cmd);
    int status = CLI_CONTINUE, c;
    optind = 0; /* glibc: 0 also resets getopt's internal state between parses */
    opterr = 0;
    while (status == CLI_CONTINUE && (c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
        if (c == 'h' || c == CLI_OPT_MAN) {
            (c == 'h' ? cli_help : cli_man)(cmd, stdout);
            status = fflush(stdout) == 0 ? 0 : 1;
        } else if (c >= CLI_OPT_BASE && (size_t)(c - CLI_OPT_BASE) < cli_total(cmd)) {
            size_t i = (size_t)(c - CLI_OPT_BASE);
            given[i] = true;
            if (cli_store(cmd, cli_opt(cmd, i), cli_target(cmd, i, config, common), optarg) != 0)
                status = 2;
        } else {
            status = cli_refused(cmd, argv);
        }
    }
    free(table);
    return status;
}

/* ---- --config FILE ---- */

/* The texts of the files read: values point into them for the life of the process. */
static char **cli_file_texts;
static size_t cli_file_count;

/* FILE's whole text, kept (see cli_file_texts), or NULL with errno set. */
static char *cli_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t len = 0, cap = 4096;
    char *text = xmalloc(cap);
    for (size_t n; (n = fread(text + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (cap - len - 1 == 0)
            text = xrealloc(text, cap *= 2);
    }
    int failed = ferror(f), saved = errno;
    fclose(f);
    if (failed) {
        free(text);
        errno = saved ? saved : EIO;
        return NULL;
    }
    text[len] = '\0';
    cli_file_texts = xrealloc(cli_file_texts, (cli_file_count + 1) * sizeof *cli_file_texts);
    cli_file_texts[cli_file_count++] = text;
    return text;
}

/* text without the blanks around it; writes a NUL after its end. */
static char *cli_trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r'))
        text[--len] = '\0';
    return text;
}

/* The index of the option called name (of cmd or common), or -1. */
static long cli_find(const cli_command *cmd, const char *name)
{
    for (size_t i = 0; i < cli_total(cmd); i++)
        if (strcmp(cli_opt(cmd, i)->name, name) == 0)
            return (long)i;
    return -1;
}

/* One "name = value" line of the file. 0, or 2 once reported. */
static int cli_file_setting(const cli_command *cmd, void *config, cli_common *common,
                            const bool *given, char *line)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return cli_usage_error(cmd, "expected \"name = value\"");
    *eq = '\0';
    const char *name = cli_trim(line), *value = cli_trim(eq + 1);
    long i = cli_find(cmd, name);
    if (i < 0 || strcmp(name, "config") == 0)
        return cli_usage_error(cmd,
                               "\"%.100s\" is not a setting of hookd %s (a flag's name "
                               "without --)",
                               name, cmd->name);
    if (given[i]) /* the command line wins */
        return 0;
    const cli_option *o = cli_opt(cmd, (size_t)i);
    void *target = cli_target(cmd, (size_t)i, config, common);
    if (o->kind != CLI_FLAG)
        return cli_store(cmd, o, target, value);
    bool yes = strcmp(value, "true") == 0, no = strcmp(value, "false") == 0;
    if (!yes && !no)
        return cli_usage_error(cmd, "%s: \"%.100s\" is not true or false", name, value);
    *(bool *)((char *)target + o->offset) = yes;
    return 0;
}

/* Applies --config's file to the options the command line did not give. 0, or 2. */
static int cli_apply_file(const cli_command *cmd, void *config, cli_common *common,
                          const bool *given)
{
    const char *path = common->config;
    char *text = cli_read_file(path);
    if (!text)
        return cli_usage_error(cmd, "--config: cannot read \"%s\": %s", path, strerror(errno));
    int status = 0;
    cli_where_file = path;
    cli_where_line = 0;
    for (char *line = text, *next; line && status == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        cli_where_line++;
        line = cli_trim(line);
        if (*line && *line != '#')
            status = cli_file_setting(cmd, config, common, given, line);
    }
    cli_where_file = NULL;
    return status;
}

int cli_parse(const cli_command *cmd, void *config, int argc, char **argv, int *first_positional)
{
    bool *given = xcalloc(cli_total(cmd), sizeof *given);
    cli_common common = {0};
    int status = cli_scan(cmd, config, &common, argc, argv, given);
    if (status == CLI_CONTINUE && (size_t)(argc - optind) > cmd->positional_max)
        status = cli_usage_error(cmd, "unexpected argument \"%.200s\"",
                                 argv[optind + (int)cmd->positional_max]);
    /* file, then environment over it, then the command line over both (given[]) */
    if (status == CLI_CONTINUE && common.config && cli_apply_file(cmd, config, &common, given) != 0)
        status = 2;
    if (status == CLI_CONTINUE && cli_apply_env(cmd, config, given) != 0)
        status = 2;
    if (status == CLI_CONTINUE && common.log_format && strcmp(common.log_format, "json") == 0)
        log_set_format(LOG_FORMAT_JSON);
    if (first_positional)
        *first_positional = optind;
    free(given);
    return status;
}

/* Prints text from column `column` on, each '\n' continuing at that column. */
static void cli_print_indented(FILE *out, const char *text, int column)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(out, "%.*s\n", (int)len, p);
        p += len;
        if (*p == '\n' && *++p)
            fprintf(out, "%*s", column, "");
    }
}

/* "  --name ARG" then the help text at CLI_HELP_COLUMN (on the next line when too long). */
static void cli_help_option(FILE *out, const char *flag, const char *arg, const char *help)
{
    int n = fprintf(out, "  %s%s%s", flag, arg ? " " : "", arg ? arg : "");
    if (n >= CLI_HELP_COLUMN - 1)
        fprintf(out, "\n%*s", CLI_HELP_COLUMN, "");
    else
        fprintf(out, "%*s", CLI_HELP_COLUMN - (n > 0 ? n : 0), "");
    cli_print_indented(out, help, CLI_HELP_COLUMN);
}

void cli_help(const cli_command *cmd, FILE *out)
{
    int column = (int)strlen("usage: hookd ") + (int)strlen(cmd->name) + 1;
    fprintf(out, "usage: hookd %s ", cmd->name);
    cli_print_indented(out, cmd->synopsis, column);
    fputc('\n', out);
    fputs(cmd->summary, out);
    fputc('\n', out);
    for (size_t i = 0; i < cli_total(cmd); i++) {
        const cli_option *o = cli_opt(cmd, i);
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", o->name);
        cli_help_option(out, flag, o->kind == CLI_FLAG ? NULL : o->arg, o->help);
    }
    cli_help_option(out, "-h, --help", NULL, "this text");
    if (cmd->footer) {
        fputc('\n', out);
        fputs(cmd->footer, out);
    }
}

/* ---- manual pages: the same tables, as roff ---- */

#define CLI_MAN_LOG_LEVEL                                                                          \
    "\\fBdebug\\fR, \\fBinfo\\fR (the default), \\fBwarn\\fR or \\fBerror\\fR: the lowest "        \
    "level logged on stderr.\n"

/* text with roff's specials escaped: backslashes, dashes, and a leading '.' or '\''. Each '\n'
 * becomes sep ("\n" keeps lines, " " joins them into one paragraph). */
static void cli_roff(FILE *out, const char *text, const char *sep)
{
    bool line_start = true;
    for (const char *p = text; *p; p++) {
        if (line_start && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        line_start = false;
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else if (*p == '\n' && p[1]) {
            fputs(sep, out);
            line_start = sep[0] == '\n';
        } else if (*p != '\n')
            fputc(*p, out);
    }
}

/* The page's header: .TH (name in capitals), and NAME with "name \- what" (what: its text up
 * to the first stop, colon, semicolon or parenthesis, on one line). */
static void cli_man_head(FILE *out, const char *name, const char *what)
{
    char upper[64];
    size_t i = 0;
    for (; name[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    upper[i] = '\0';
    fprintf(out, ".\\\" Generated by `hookd help --man`: edit the tables in src/, not this.\n");
    /* .nh .ad l: flags are not hyphenated or stretched, so they can be copied */
    fprintf(out, ".TH \"%s\" 1 \"\" \"hookd %s\" \"User Commands\"\n.nh\n.ad l\n.SH NAME\n", upper,
            HOOKD_VERSION_STRING);
    cli_roff(out, name, " ");
    fputs(" \\- ", out);
    size_t len = strcspn(what, ".:;(");
    while (len > 0 && (what[len - 1] == ' ' || what[len - 1] == '\n'))
        len--;
    char *first = xstrndup(what, len);
    cli_roff(out, first, " ");
    free(first);
    fputc('\n', out);
}

/* ENVIRONMENT: the variables the options fall back to. */
static void cli_man_environment(const cli_command *cmd, FILE *out)
{
    fputs(".SH ENVIRONMENT\n", out);
    for (size_t i = 0; i < cmd->option_count; i++) {
        const cli_option *o = &cmd->options[i];
        if (!o->env)
            continue;
        fprintf(out, ".TP\n.B %s\n", o->env);
        fprintf(out,
                o->env_adds ? "Adds one more \\fB\\-\\-%s\\fR value.\n"
                            : "The value of \\fB\\-\\-%s\\fR when the flag is absent.\n",
                o->name);
    }
    fputs(".TP\n.B HOOKD_LOG_LEVEL\n" CLI_MAN_LOG_LEVEL, out);
}

void cli_man(const cli_command *cmd, FILE *out)
{
    char page[64];
    snprintf(page, sizeof page, "hookd-%s", cmd->name);
    cli_man_head(out, page, cmd->summary);
    fprintf(out, ".SH SYNOPSIS\n.B hookd %s\n", cmd->name);
    cli_roff(out, cmd->synopsis, " ");
    fputs("\n.SH DESCRIPTION\n", out);
    cli_roff(out, cmd->summary, " ");
    fputs("\n.SH OPTIONS\n", out);
    for (size_t i = 0; i < cli_total(cmd); i++) {
        const cli_option *o = cli_opt(cmd, i);
        fputs(".TP\n\\fB\\-\\-", out);
        cli_roff(out, o->name, " ");
        fputs("\\fR", out);
        if (o->kind != CLI_FLAG) {
            fputs(" \\fI", out);
            cli_roff(out, o->arg, " ");
            fputs("\\fR", out);
        }
        fputc('\n', out);
        cli_roff(out, o->help, " ");
        fputc('\n', out);
    }
    fputs(".TP\n.B \\-h, \\-\\-help\nPrint the usage and these flags, and exit.\n", out);
    cli_man_environment(cmd, out);
    if (cmd->footer) {
        fputs(".SH NOTES\n", out);
        cli_roff(out, cmd->footer, " ");
        fputc('\n', out);
    }
    fputs(".SH SEE ALSO\n.BR hookd (1)\n", out);
}

void cli_man_index(FILE *out, const char *usage_text, const cli_summary *commands, size_t count)
{
    cli_man_head(out, "hookd", "a webhook sender and receiver");
    fputs(".SH SYNOPSIS\n.B hookd\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.SH DESCRIPTION\n", out);
    cli_roff(out, usage_text, " ");
    fputs("\n.SH COMMANDS\n", out);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, ".TP\n.BR hookd\\-%s (1)\n", commands[i].name);
        cli_roff(out, commands[i].what, " ");
        fputc('\n', out);
    }
    fputs(".SH OPTIONS\n.TP\n.B \\-h, \\-\\-help\nThe list of commands; "
          "\\fBhookd help\\fR \\fICOMMAND\\fR prints a command's flags.\n"
          ".TP\n.B \\-\\-version\nPrint the version.\n"
          ".SH ENVIRONMENT\n"
          ".TP\n.B HOOKD_LOG_LEVEL\n" CLI_MAN_LOG_LEVEL
          ".TP\n.B HOOKD_API_TOKEN\nThe admin token of \\fBhookd serve\\fR "
          "(\\fB\\-\\-api\\-token\\fR).\n"
          ".TP\n.B HOOKD_SECRET\nOne more signing secret for \\fBhookd receive\\fR "
          "(\\fB\\-\\-secret\\fR).\n"
          ".PP\nSecrets, tokens, signatures and bodies are never logged.\n"
          ".SH SEE ALSO\n",
          out);
    for (size_t i = 0; i < count; i++)
        fprintf(out, ".BR hookd\\-%s (1)%s\n", commands[i].name, i + 1 < count ? "," : "");
}
