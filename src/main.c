/*
 * main.c — `hookd COMMAND …`: picks the subcommand; nothing else lives here. Each command
 * parses its own flags through cli.c; `hookd help COMMAND` is `hookd COMMAND --help`, and
 * `hookd help --man [COMMAND]` prints the manual page the build installs (cli.c writes both
 * from the same tables, so the help and the pages cannot disagree).
 */
#include "cli.h"
#include "hookd.h"

#include <stdio.h>
#include <string.h>

static const struct {
    cli_summary summary;
    int (*run)(int argc, char **argv);
} commands[] = {
    {{"serve", "run the sender: destinations, events, signed delivery with retries"}, cmd_serve},
    {{"receive", "run the receiver: verify, de-duplicate durably, hand to your handler"},
     cmd_receive},
    {{"sign", "print the X-Webhook-* headers for a body read on stdin"}, cmd_sign},
    {{"verify", "check a signature and timestamp for a body read on stdin"}, cmd_verify},
    {{"send", "deliver one signed webhook to a URL"}, cmd_send},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static const char usage_foot[] =
    "\n"
    "  hookd COMMAND --help   options of a command (also: hookd help COMMAND)\n"
    "  hookd --version        print the version\n"
    "\n"
    "Environment: HOOKD_LOG_LEVEL=debug|info|warn|error (serve, receive; default info).\n";

static void usage(FILE *out)
{
    fputs("usage: hookd COMMAND [OPTIONS]\n\ncommands:\n", out);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-9s %s\n", commands[i].summary.name, commands[i].summary.what);
    fputs(usage_foot, out);
}

/* Runs the command called name with argv (argv[0] is the name); 2 when there is none. */
static int run_command(const char *name, int argc, char **argv)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i].summary.name) == 0)
            return commands[i].run(argc, argv);
    fprintf(stderr, "hookd: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}

/* hookd(1): the commands, from the same table as the usage. */
static int man_index(void)
{
    cli_summary list[COMMAND_COUNT];
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        list[i] = commands[i].summary;
    cli_man_index(stdout,
                  "hookd sends webhooks (hookd serve) and receives them (hookd receive); "
                  "sign, verify and send are tools for one webhook.",
                  list, COMMAND_COUNT);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* `hookd help [--man] [COMMAND]`: the command's help (or page), or the list of commands. */
static int help(int argc, char **argv)
{
    bool man = argc >= 3 && strcmp(argv[2], "--man") == 0;
    int at = man ? 3 : 2;
    if (argc <= at) {
        if (man)
            return man_index();
        usage(stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char help_flag[] = "--help", man_flag[] = "--help-man";
    char *help_argv[] = {argv[at], man ? man_flag : help_flag, NULL};
    return run_command(argv[at], 2, help_argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
        return help(argc, argv);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("hookd %s\n", HOOKD_VERSION_STRING);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    return run_command(argv[1], argc - 1, argv + 1);
}
