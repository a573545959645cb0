/*
 * cmd_admin.c - `cairn admin`: maintenance of a data directory.
 *
 *   cairn admin gc    [--data DIR] [--grace SECONDS]   reclaim unreferenced data
 *   cairn admin fsck  [--data DIR]                     verify everything; exit 1 on faults
 *   cairn admin stats [--data DIR] [--json]            what the store holds
 *
 * DIR defaults to $CAIRN_DATA, else ./var (where `cairn serve` keeps data).
 */
#include "cli.h"

#include "cairn/errors.h"
#include "cairn/repo.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct admin_args {
	const char *data;
	int64_t grace_s;
	bool json;
} admin_args;

static int parse(int argc, char **argv, admin_args *a, const char *usage_line)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"grace", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	a->data = getenv("CAIRN_DATA");
	if (a->data == NULL || *a->data == '\0')
		a->data = "var";
	a->grace_s = 3600;
	a->json = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:g:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->data = optarg;
			break;
		case 'g': {
			char *end;
			long long v = strtoll(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' || v > 365ll * 86400) {
				fprintf(stderr, "cairn: --grace wants seconds (0..31536000), got '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			a->grace_s = v;
			break;
		}
		case 'j':
			a->json = true;
			break;
		case 'h':
			printf("%s\n", usage_line);
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
	if (optind != argc) {
		fprintf(stderr, "cairn: unexpected argument '%s' (%s)\n", argv[optind], usage_line);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int open_repo(cairn_repo **r, const char *dir)
{
	if (cairn_repo_open(r, dir) < 0) {
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int admin_gc(int argc, char **argv)
{
	admin_args a;
	cairn_repo *r;
	cairn_gc_result g;
	int rc = parse(argc, argv, &a, "usage: cairn admin gc [--data DIR] [--grace SECONDS]");

	if (rc != EXIT_OK || (rc = open_repo(&r, a.data)) != EXIT_OK)
		return rc;
	if (cairn_repo_gc(r, a.grace_s * 1000000000ll, &g) < 0) {
		fprintf(stderr, "cairn: gc: %s\n", cairn_error_last());
		cairn_repo_close(r);
		return EXIT_FAIL;
	}
	printf("gc: removed %" PRIu64 " files, %" PRIu64 " xorbs, %" PRIu64 " bytes\n", g.files,
	       g.xorbs, g.bytes);
	cairn_repo_close(r);
	return cli_finish_output(EXIT_OK);
}

static void print_fault(void *ctx, const char *what)
{
	(void)ctx;
	printf("%s\n", what);
}

static int admin_fsck(int argc, char **argv)
{
	admin_args a;
	cairn_repo *r;
	uint64_t faults = 0;
	int rc = parse(argc, argv, &a, "usage: cairn admin fsck [--data DIR]");

	if (rc != EXIT_OK || (rc = open_repo(&r, a.data)) != EXIT_OK)
		return rc;
	if (cairn_repo_fsck(r, print_fault, NULL, &faults) < 0) {
		fprintf(stderr, "cairn: fsck: %s\n", cairn_error_last());
		cairn_repo_close(r);
		return EXIT_FAIL;
	}
	cairn_repo_close(r);
	printf("fsck: %" PRIu64 " fault%s\n", faults, faults == 1 ? "" : "s");
	return cli_finish_output(faults ? EXIT_FAIL : EXIT_OK);
}

static int admin_stats(int argc, char **argv)
{
	admin_args a;
	cairn_repo *r;
	cairn_stats st;
	int rc = parse(argc, argv, &a, "usage: cairn admin stats [--data DIR] [--json]");

	if (rc != EXIT_OK || (rc = open_repo(&r, a.data)) != EXIT_OK)
		return rc;
	if (cairn_repo_stats(r, &st) < 0) {
		fprintf(stderr, "cairn: stats: %s\n", cairn_error_last());
		cairn_repo_close(r);
		return EXIT_FAIL;
	}
	cairn_repo_close(r);
	if (a.json)
		printf("{\"objects\": %" PRIu64 ", \"logical_bytes\": %" PRIu64
		       ", \"stored_bytes\": %" PRIu64 ", \"chunks\": %" PRIu64 ", \"xorbs\": %" PRIu64
		       "}\n",
		       st.objects, st.logical_bytes, st.stored_bytes, st.chunks, st.xorbs);
	else
		printf("objects %" PRIu64 "\nlogical bytes %" PRIu64 "\nstored bytes %" PRIu64
		       "\nchunks %" PRIu64 "\nxorbs %" PRIu64 "\n",
		       st.objects, st.logical_bytes, st.stored_bytes, st.chunks, st.xorbs);
	return cli_finish_output(EXIT_OK);
}

int cmd_admin(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {{"gc", admin_gc}, {"fsck", admin_fsck}, {"stats", admin_stats}};

	if (argc < 2) {
		fprintf(stderr, "usage: cairn admin gc|fsck|stats [options]\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown admin command '%s' (gc, fsck, stats)\n", argv[1]);
	return EXIT_USAGE;
}
