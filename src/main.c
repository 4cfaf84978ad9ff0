/* main.c — `hookd COMMAND …`: picks the subcommand; nothing else lives here. */
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
    "  hookd COMMAND --help   options of a command\n"
    "  hookd --version        print the version\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"serve", cmd_serve}, {"receive", cmd_receive}, {"sign", cmd_sign},
    {"verify", cmd_verify}, {"send", cmd_send},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("hookd %s\n", HOOKD_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hookd: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
