/*
 * cli.h — the hookd subcommands and the one place their flags are parsed.
 *
 * Each command describes its flags in a static table (cli_option: name, kind of argument, the
 * field of the command's config struct the value goes to, help line, environment fallback)
 * and hands argv and its config, preset with the defaults, to cli_parse. The table is
 * also the help: `COMMAND -h`, `COMMAND --help` and `hookd help COMMAND` print the usage
 * generated from it on stdout and exit 0. Every bad flag is reported the same way, on
 * stderr, in one line plus a hint, with exit status 2:
 *
 *     hookd serve: --timeout: "abc" is not a duration (use 500ms, 10s, 5m, 2h)
 *     run 'hookd serve --help' for the flags
 *
 * Durations, sizes and duration lists are read by the protocol core's parsers
 * (hookd_duration_parse, hookd_size_parse, hookd_duration_list_parse), so a flag and the
 * rest of hookd agree on what "5m" or "1MiB" means.
 *
 * Commands take main's argc/argv shifted so that argv[0] is the command name, and return
 * the process exit status: 0 success, 1 failure (a reason on stderr), 2 usage error.
 */
#ifndef HOOKD_CLI_H
#define HOOKD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int cmd_sign(int argc, char **argv);    /* tools.c */
int cmd_verify(int argc, char **argv);  /* tools.c */
int cmd_send(int argc, char **argv);    /* tools.c */
int cmd_serve(int argc, char **argv);   /* serve_main.c */
int cmd_receive(int argc, char **argv); /* receive_main.c */

/* What a flag's argument is, and the type its value pointer points to. */
typedef enum cli_kind {
    CLI_STRING,   /* const char *: the text as given (argv or the environment outlives it) */
    CLI_STRINGS,  /* cli_strings: a string flag that may be repeated */
    CLI_DURATION, /* int64_t milliseconds: "500ms", "10s", "5m", "2h", "7d", bare seconds */
    CLI_SIZE,     /* uint64_t bytes: "512KiB", "1MiB", "1GiB", bare bytes */
    CLI_COUNT,    /* long: a whole number */
    CLI_LIST,     /* cli_list: comma-separated durations, "30s,5m,30m,2h" */
    CLI_FLAG,     /* bool: set to true when present; takes no argument */
} cli_kind;

#define CLI_STRINGS_MAX 16 /* values a CLI_STRINGS flag can hold */
#define CLI_LIST_MAX 32    /* durations a CLI_LIST flag can hold */

typedef struct cli_strings {
    const char *items[CLI_STRINGS_MAX];
    size_t count;
} cli_strings;

typedef struct cli_list {
    int64_t ms[CLI_LIST_MAX]; /* the durations, in milliseconds */
    size_t count;             /* how many of ms are set */
    const char *text;         /* the flag's text, or the default the caller preset */
} cli_list;

/* One flag. Values the flag is not given keep what the caller preset (the default). */
typedef struct cli_option {
    const char *name; /* without the dashes: "timeout" */
    cli_kind kind;
    size_t offset;    /* where the value goes: CLI_AT(config type, field); the field's type
                         follows kind */
    const char *arg;  /* the argument's name in the help ("DURATION"); NULL for CLI_FLAG */
    const char *help; /* the help text; '\n' starts a continuation line */
    int64_t min, max; /* DURATION (ms), SIZE (bytes), COUNT: accepted range when max > 0
                         (min alone is checked when max is 0); STRINGS, LIST: at most max
                         items (0: the type's capacity) */
    const char *env;  /* environment variable read when the flag is absent (an empty value
                         counts as unset), or NULL; for STRINGS, see env_adds */
    bool env_adds;    /* STRINGS: the variable adds one more value even when the flag is given */
    /* STRING and STRINGS: a check of the text, NULL for none. A refused text is reported as
     * `--name: "text" WHAT`, e.g. WHAT = "does not start with /"; never used on secrets'
     * contents beyond emptiness, since the text is echoed. */
    bool (*valid)(const char *text);
    const char *what;
} cli_option;

/* The front door's limits (http_server.h), the flags every command with HTTP listeners
 * takes (--max-connections, --header-timeout, …): one table in cli.c, so serve and receive
 * name, explain and bound them alike. 0 (the preset) leaves http_server's default. */
typedef struct cli_front_door {
    long max_connections; /* open connections per listener */
    long max_connections_per_ip;
    int64_t header_timeout_ms;  /* a head complete within this of its first byte */
    int64_t request_timeout_ms; /* a whole request within this */
    uint64_t max_header_size;
    uint64_t max_buffered_body; /* process-wide: bodies read and not yet answered */
} cli_front_door;

/* A command: its usage header, its flags, and notes printed after them. */
typedef struct cli_command {
    const char *name;          /* "serve" */
    const char *synopsis;      /* after "usage: hookd NAME "; '\n' lines are indented */
    const char *summary;       /* a paragraph under the usage line */
    const cli_option *options; /* the flags, in the order of the help */
    size_t option_count;
    size_t positional_max; /* positional arguments accepted (send: 1 URL) */
    const char *footer;    /* notes after the flags, or NULL */
    bool front_door;       /* takes the front door's flags, into the config's cli_front_door
                              at front_door_at (set both with CLI_FRONT_DOOR) */
    size_t front_door_at;
} cli_command;

/* .front_door and .front_door_at of a cli_command: the config field holding its
 * cli_front_door. */
#define CLI_FRONT_DOOR(type, field) .front_door = true, .front_door_at = offsetof(type, field)

/* The help line that every long-running command ends with. */
#define CLI_LOG_LEVEL_HELP                                                                         \
    "Environment: HOOKD_LOG_LEVEL=debug|info|warn|error sets the lowest level logged on\n"         \
    "stderr (default info). Secrets, signatures and bodies are never logged.\n"

/* .options and .option_count of a cli_command, from a static array of cli_option. */
#define CLI_OPTIONS(array) .options = (array), .option_count = sizeof(array) / sizeof((array)[0])

/* The offset of a config field, for cli_option.offset. */
#define CLI_AT(type, field) offsetof(type, field)

/* cli_parse's answer when the command should go on. */
#define CLI_CONTINUE (-1)

/*
 * Parses argv (argv[0] is the command's name) into config (the struct the options' offsets
 * point into; fields of flags not given keep their preset defaults), then fills
 * absent flags from their environment variables. Positional arguments are moved to the end of
 * argv (GNU order); *first_positional gets the index of the first (may be NULL when the
 * command takes none). Returns CLI_CONTINUE, or the exit status the command must return at
 * once: 0 after printing the help on stdout, 2 after printing a usage error on stderr.
 * Not thread-safe (getopt's globals); call it once per command, on the main thread.
 */
int cli_parse(const cli_command *cmd, void *config, int argc, char **argv, int *first_positional);

/* Prints cmd's usage (generated from its table) on out. */
void cli_help(const cli_command *cmd, FILE *out);

/* Prints cmd's manual page, hookd-NAME(1), in roff, generated from the same table as the
 * help (`hookd help --man NAME`; the build writes the installed pages with it). */
void cli_man(const cli_command *cmd, FILE *out);

/* One line of the list of commands: "serve", "run the sender: …". */
typedef struct cli_summary {
    const char *name;
    const char *what;
} cli_summary;

/* Prints hookd(1): usage_text as the description, then the commands and their pages. */
void cli_man_index(FILE *out, const char *usage_text, const cli_summary *commands, size_t count);

/* Reports a usage error found after parsing (a missing flag, two flags that disagree) in
 * the one style: "hookd NAME: MESSAGE" and the --help hint, on stderr. Returns 2. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The --help hint, also used by main for an unknown command. */
void cli_hint(const char *name);

#endif
