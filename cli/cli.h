/*
 * cli.h - what the `cairn` subcommands share: the command table entries,
 * exit codes, and small output helpers. The CLI uses only the public
 * headers of libcairn, as any other program would.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes: the CLI's one mapping of outcomes to the outside. */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* the command ran and something failed */
#define EXIT_USAGE 2 /* bad command line */

int cmd_hash(int argc, char **argv);
int cmd_chunks(int argc, char **argv);
int cmd_admin(int argc, char **argv);

/* Write s as a JSON string literal (with quotes); invalid UTF-8 bytes
 * become \udcXX escapes (Python's surrogateescape). */
void cli_json_string(FILE *f, const char *s);

/* Text output of paths, coreutils style: if cli_path_needs_escape, start
 * the line with a backslash and print the path with cli_text_path. */
bool cli_path_needs_escape(const char *s);
void cli_text_path(FILE *f, const char *s);

/* Flush stdout; on a write error print one line and return EXIT_FAIL. */
int cli_finish_output(int status);

#endif /* CAIRN_CLI_H */
