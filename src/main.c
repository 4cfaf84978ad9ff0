/*
 * main.c — `hookd COMMAND …`: picks the subcommand; nothing else lives here. Each command
 * parses its own flags through cli.c; `hookd help COMMAND` is `hookd COMMAND --help`.
 */
#include "cli.h"
#include "hookd.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: hookd COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  serve     run the sender: destinations, events, signed delivery with retries\n"
    "  receive   run the receiver: verify, de-duplicate durably, hand to your handler\n"
    "  sign      print the X-Webhook-* headers for a body read on stdin\n"
    "  verify    check a signature and timestamp for a body read on stdin\n"
    "  send      deliver one signed webhook to a URL\n"
    "\n"
    "  hookd COMMAND --help   options of a command (also: hookd help COMMAND)\n"
    "  hookd --version        print the version\n"
    "\n"
    "Environment: HOOKD_LOG_LEVEL=debug|info|warn|error (serve, receive; default info).\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"serve", cmd_serve},   {"receive", cmd_receive}, {"sign", cmd_sign},
    {"verify", cmd_verify}, {"send", cmd_send},
};

/* Runs the command called name with argv (argv[0] is the name); 2 when there is none. */
static int run_command(const char *name, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc, argv);
    fprintf(stderr, "hookd: unknown command '%s'\n\n%s", name, usage);
    return 2;
}

/* `hookd help [COMMAND]`: the command's help, or the list of commands. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        fputs(usage, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char help_flag[] = "--help";
    char *help_argv[] = {argv[2], help_flag, NULL};
    return run_command(argv[2], 2, help_argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
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
