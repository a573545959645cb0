/*
 * cmd_hash.c - `cairn hash` and `cairn chunks`: the xet file hash of local
 * files, and their chunk boundaries and chunk hashes, computed exactly as
 * xet-core (and so the Hugging Face Hub) computes them.
 */
#include "cli.h"

#include "cairn/chunk.h"
#include "cairn/errors.h"
#include "cairn/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct hash_args {
	bool json;
	unsigned threads;
	int first; /* index of the first operand */
} hash_args;

static int parse(int argc, char **argv, hash_args *a, const char *usage_line)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0; /* we print our own one-line messages */
	while ((c = getopt_long(argc, argv, ":jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' || v > 64) {
				fprintf(stderr, "cairn: --threads wants 0..64, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			a->threads = (unsigned)v;
			break;
		}
		case 'h':
			printf("%s\n"
			       "  --json         machine-readable output\n"
			       "  --threads N    threads to use (default: one per CPU)\n",
			       usage_line);
			exit(EXIT_OK);
		case ':':
			fprintf(stderr, "cairn: option '%s' needs a value (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "cairn: unknown option '%s' (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		}
	}
	a->first = optind;
	if (optind >= argc) {
		fprintf(stderr, "%s\n", usage_line);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Hash one path ("-" is standard input). Reports its own errors. */
static int hash_path(const char *path, unsigned threads, cairn_file_chunks **out)
{
	cairn_hash_options o = CAIRN_HASH_OPTIONS_INIT;
	int fd, rc;

	o.threads = threads;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "cairn: %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	rc = cairn_hash_fd(out, fd, &o);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "cairn: %s: %s\n", path, cairn_error_last());
		return -1;
	}
	return 0;
}

int cmd_hash(int argc, char **argv)
{
	hash_args a;
	int status = EXIT_OK, printed = 0;
	int rc = parse(argc, argv, &a, "usage: cairn hash [--json] [--threads N] FILE...");

	if (rc != EXIT_OK)
		return rc;
	if (a.json)
		printf("[");
	for (int i = a.first; i < argc; i++) {
		cairn_file_chunks *fc = NULL;
		char hex[CAIRN_HASH_HEX_LEN + 1];

		if (hash_path(argv[i], a.threads, &fc) < 0) {
			status = EXIT_FAIL;
			continue;
		}
		cairn_hash_to_hex(hex, &fc->file_hash);
		if (a.json) {
			printf("%s\n  {\"path\": ", printed ? "," : "");
			cli_json_string(stdout, argv[i]);
			printf(", \"hash\": \"%s\", \"size\": %" PRIu64 "}", hex, fc->size);
		} else {
			bool esc = cli_path_needs_escape(argv[i]);
			printf("%s%s  %" PRIu64 "  ", esc ? "\\" : "", hex, fc->size);
			cli_text_path(stdout, argv[i]);
			putchar('\n');
		}
		printed++;
		cairn_file_chunks_free(fc);
	}
	if (a.json)
		printf("%s]\n", printed ? "\n" : "");
	return cli_finish_output(status);
}

int cmd_chunks(int argc, char **argv)
{
	hash_args a;
	int status = EXIT_OK;
	int rc = parse(argc, argv, &a, "usage: cairn chunks [--json] [--threads N] FILE...");

	if (rc != EXIT_OK)
		return rc;
	for (int i = a.first; i < argc; i++) {
		cairn_file_chunks *fc = NULL;
		char hex[CAIRN_HASH_HEX_LEN + 1];

		if (hash_path(argv[i], a.threads, &fc) < 0) {
			status = EXIT_FAIL;
			continue;
		}
		if (a.json) {
			/* one JSON object per file, one per line (NDJSON) */
			cairn_hash_to_hex(hex, &fc->file_hash);
			printf("{\"path\": ");
			cli_json_string(stdout, argv[i]);
			printf(", \"hash\": \"%s\", \"size\": %" PRIu64 ", \"chunks\": [", hex,
			       fc->size);
			for (size_t k = 0; k < fc->count; k++) {
				cairn_hash_to_hex(hex, &fc->chunks[k].hash);
				printf("%s{\"offset\": %" PRIu64 ", \"length\": %" PRIu64
				       ", \"hash\": \"%s\"}",
				       k ? ", " : "", fc->chunks[k].offset, fc->chunks[k].len, hex);
			}
			printf("]}\n");
		} else {
			for (size_t k = 0; k < fc->count; k++) {
				cairn_hash_to_hex(hex, &fc->chunks[k].hash);
				printf("%" PRIu64 "\t%" PRIu64 "\t%s\n", fc->chunks[k].offset,
				       fc->chunks[k].len, hex);
			}
		}
		cairn_file_chunks_free(fc);
	}
	return cli_finish_output(status);
}
