/*
 * cli.h - what the `cairn` subcommands share: the command table entries,
 * exit codes, and small output helpers. The CLI uses only the public
 * headers of libcairn, as any other program would.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "cairn/client.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes: the CLI's one mapping of outcomes to the outside (docs/cli.md). */
#define EXIT_OK 0
#define EXIT_FAIL 1     /* the command ran and something failed */
#define EXIT_USAGE 2    /* bad command line */
#define EXIT_NOTFOUND 3 /* the bucket or object does not exist (or is not visible) */
#define EXIT_AUTH 4     /* missing or bad token, or not allowed */

int cmd_hash(int argc, char **argv);
int cmd_chunks(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_buckets(int argc, char **argv);
int cmd_buckets_sync(int argc, char **argv); /* cmd_sync.c */

/* The options every command that talks to a server takes. */
typedef struct cli_remote {
	const char *endpoint; /* --endpoint, or NULL */
	const char *token;    /* --token, or NULL */
	const char *region;   /* --region: read through that region's cache node, or NULL */
	bool json;            /* --json: machine output on stdout */
	bool quiet;           /* --quiet: no progress or confirmation lines */
} cli_remote;

/*
 * A client for the endpoint and token chosen in this order: --endpoint /
 * --token, then $CAIRN_ENDPOINT / $CAIRN_TOKEN, then the config file
 * written by `cairn login`, then CAIRN_CLIENT_DEFAULT_ENDPOINT (and no
 * token); --region, else $CAIRN_REGION, for reads through a region's cache
 * node. Returns EXIT_OK, or an exit code after printing one line.
 */
int cli_client_open(cairn_client **out, const cli_remote *o);

/* The exit code for a CAIRN_E* code (0 for 0). */
int cli_exit_code(int rc);

/* Print "cairn: [what: ]<cairn_error_last()>" and return cli_exit_code(rc). */
int cli_fail(int rc, const char *what);

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
