/*
 * main.c - the `cairn` command: one binary, subcommands dispatched from a
 * table. Each subcommand parses its own options and returns an exit code.
 */
#include "cli.h"
#include "server.h"

#include "cairn/blake3.h"
#include "cairn/common.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} command;

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command commands[] = {
	{"hash", cmd_hash, "print the xet file hash and size of files"},
	{"chunks", cmd_chunks, "print the content-defined chunks of a file"},
	{"serve", cairn_server_cmd, "serve the HTTP API over a data directory"},
	{"admin", cmd_admin, "maintain a data directory: users, tokens, gc, fsck, stats"},
	{"login", cmd_login, "check a token against a server and save both in the config"},
	{"whoami", cmd_whoami, "show whom the token belongs to"},
	{"buckets", cmd_buckets, "buckets and objects on a server: create, ls, cp, rm, ..."},
	{"version", cmd_version, "print version information"},
	{"help", cmd_help, "show this help"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cairn <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'cairn <command> --help' for a command's options.\n"
		   "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 auth/permission.\n");
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("cairn %s (blake3: %s)\n", cairn_version(),
	       cairn_blake3_tier_name(cairn_blake3_tier_get()));
	return EXIT_OK;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		return (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F))
			return 0; /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		if ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
			return 0;
		return 4;
	}
	return 0;
}

/*
 * Paths are bytes, JSON is UTF-8: a byte that is not part of valid UTF-8 is
 * written as the escape \udcXX (Python's "surrogateescape" convention), so
 * json.loads(...).encode("utf-8", "surrogateescape") gives the bytes back.
 */
void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n;
		switch (*p) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		default: break;
		}
		if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		n = utf8_len(p);
		if (n == 0) {
			fprintf(f, "\\udc%02x", *p++);
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/*
 * A path on a text line, as coreutils' checksum tools print it: a name
 * holding a newline or a backslash gets them escaped, and the caller puts
 * a backslash at the start of the line to say so.
 */
bool cli_path_needs_escape(const char *s)
{
	return strpbrk(s, "\\\n\r") != NULL;
}

void cli_text_path(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\r')
			fputs("\\r", f);
		else
			fputc(*s, f);
	}
}

/* Flush stdout; report a failed write (a full disk, a closed pipe) once. */
int cli_finish_output(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "cairn: writing output: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
