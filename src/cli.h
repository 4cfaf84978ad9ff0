/*
 * cli.h — the hookd subcommands. Each takes main's argc/argv shifted so that argv[0] is the
 * command name, parses its own flags (getopt_long), and returns the process exit status:
 * 0 success, 1 failure (a reason printed on stderr), 2 usage error (usage printed on stderr).
 * `COMMAND --help` prints usage on stdout and returns 0.
 */
#ifndef HOOKD_CLI_H
#define HOOKD_CLI_H

int cmd_sign(int argc, char **argv);    /* tools.c */
int cmd_verify(int argc, char **argv);  /* tools.c */
int cmd_send(int argc, char **argv);    /* tools.c */
int cmd_serve(int argc, char **argv);   /* serve.c */
int cmd_receive(int argc, char **argv); /* receive.c */

#endif
