/*
 * cli.h - what the `cairn` subcommands share: the command table entries,
 * exit codes, and small output helpers. The CLI uses only the public
 * headers of libcairn, as any other program would.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stdio.h>

/* Exit codes: the CLI's one mapping of outcomes to the outside. */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* the command ran and something failed */
#define EXIT_USAGE 2 /* bad command line */

int cmd_hash(int argc, char **argv);
int cmd_chunks(int argc, char **argv);

/* Write s as a JSON string literal (with quotes). */
void cli_json_string(FILE *f, const char *s);

#endif /* CAIRN_CLI_H */
