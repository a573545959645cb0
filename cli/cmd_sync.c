/*
 * cmd_sync.c - `cairn buckets sync`, over include/cairn/sync.h:
 *
 *   cairn buckets sync SRC DST [--delete] [--checksum] [--ignore-times]
 *       [--ignore-sizes] [--existing] [--ignore-existing] [--include PATTERN]...
 *       [--exclude PATTERN]... [--filter-from FILE]... [--jobs N]
 *       [--dry-run | --plan FILE] [--verbose]
 *   cairn buckets sync --apply FILE
 *
 * One of SRC and DST is a local folder, the other cairn://buckets/NS/NAME[/FOLDER].
 * Filter rules apply in the order given, the first match deciding.
 */
#include "cli.h"

#include "cairn/errors.h"
#include "cairn/sync.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define USAGE                                                                                \
	"usage: cairn buckets sync SRC DST [--delete] [--checksum] [--ignore-times] "           \
	"[--ignore-sizes] [--existing] [--ignore-existing] [--include PATTERN]... "              \
	"[--exclude PATTERN]... [--filter-from FILE]... [--jobs N] [--dry-run | --plan FILE] "  \
	"[--verbose]\n       cairn buckets sync --apply FILE"

static const char *const VERB[] = {"upload", "download", "delete", "skip"};

typedef struct sync_args {
	cli_remote g;
	cairn_sync_options so;
	cairn_filter *filter;
	bool dry_run, verbose;
	const char *plan_out, *apply_in;
	unsigned jobs;
	const char *src, *dst;
} sync_args;

static void fmt_bytes(char *out, size_t cap, double n)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}

/* ---- progress on a terminal ---- */

typedef struct progress {
	bool drawn;
	double t0, last;
} progress;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_progress(void *ctx, const cairn_sync_progress *p)
{
	progress *pg = ctx;
	char done[32], total[32], rate[32], saved[32], eta[32];
	double t = now_s(), r;

	if (pg->t0 == 0)
		pg->t0 = t;
	if (t - pg->last < 0.1 && p->bytes_done < p->bytes_total)
		return;
	pg->last = t;
	r = t > pg->t0 ? (double)p->bytes_done / (t - pg->t0) : 0;
	fmt_bytes(done, sizeof(done), (double)p->bytes_done);
	fmt_bytes(total, sizeof(total), (double)p->bytes_total);
	fmt_bytes(rate, sizeof(rate), r);
	if (r > 0 && p->bytes_total >= p->bytes_done) {
		uint64_t s = (uint64_t)((double)(p->bytes_total - p->bytes_done) / r + 0.5);
		snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
	} else {
		snprintf(eta, sizeof(eta), "-:--");
	}
	fprintf(stderr, "\r%-11s %" PRIu64 "/%" PRIu64 " files  %s / %s  %s/s  ETA %s",
		p->phase ? p->phase : "", p->files_done, p->files_total, done, total, rate, eta);
	if (p->bytes_saved) {
		fmt_bytes(saved, sizeof(saved), (double)p->bytes_saved);
		fprintf(stderr, "  dedup saved %s", saved);
	}
	fputs("\033[K", stderr);
	pg->drawn = true;
}

/* ---- output ---- */

static void print_item(const cairn_sync_item *it, bool would)
{
	printf("%s%s ", would ? "would " : "", VERB[it->kind]);
	cli_text_path(stdout, it->path);
	printf(" (%s)\n", it->reason);
}

static void print_plan_summary(const cairn_sync_plan *p, const char *lead)
{
	size_t n[4];
	uint64_t b[4];
	char up[32], down[32];

	cairn_sync_plan_counts(p, n, b);
	fmt_bytes(up, sizeof(up), (double)b[CAIRN_SYNC_UPLOAD]);
	fmt_bytes(down, sizeof(down), (double)b[CAIRN_SYNC_DOWNLOAD]);
	printf("%s%zu to upload (%s), %zu to download (%s), %zu to delete, %zu unchanged\n", lead,
	       n[CAIRN_SYNC_UPLOAD], up, n[CAIRN_SYNC_DOWNLOAD], down, n[CAIRN_SYNC_DELETE],
	       n[CAIRN_SYNC_SKIP]);
}

static void print_notes(const cairn_sync_plan *p)
{
	for (size_t i = 0; i < p->nwarnings; i++)
		fprintf(stderr, "cairn: warning: %s\n", p->warnings[i]);
}

static void print_summary(const sync_args *a, const cairn_sync_summary *s, bool download)
{
	char bytes[32], sent[32], saved[32], recv[32];

	for (size_t i = 0; i < s->nfailures; i++)
		fprintf(stderr, "cairn: %s\n", s->failures[i]);
	if (a->g.json) {
		printf("{\"uploaded\":%" PRIu64 ",\"downloaded\":%" PRIu64 ",\"deleted\":%" PRIu64
		       ",\"skipped\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		       ",\"bytes_saved\":%" PRIu64 ",\"failures\":[",
		       s->uploaded, s->downloaded, s->deleted, s->skipped, s->failed, s->bytes,
		       s->bytes_sent, s->bytes_received, s->bytes_saved);
		for (size_t i = 0; i < s->nfailures; i++) {
			if (i)
				putchar(',');
			cli_json_string(stdout, s->failures[i]);
		}
		printf("]}\n");
		return;
	}
	if (a->g.quiet)
		return;
	fmt_bytes(bytes, sizeof(bytes), (double)s->bytes);
	fmt_bytes(sent, sizeof(sent), (double)s->bytes_sent);
	fmt_bytes(saved, sizeof(saved), (double)s->bytes_saved);
	fmt_bytes(recv, sizeof(recv), (double)s->bytes_received);
	if (download)
		printf("downloaded %" PRIu64 " files (%s; %s received)", s->downloaded, bytes, recv);
	else
		printf("uploaded %" PRIu64 " files (%s; %s sent, dedup saved %s)", s->uploaded, bytes,
		       sent, saved);
	printf(", deleted %" PRIu64 ", unchanged %" PRIu64 ", failed %" PRIu64 "\n", s->deleted,
	       s->skipped, s->failed);
}

/* ---- the command ---- */

enum {
	O_DELETE = 256, O_CHECKSUM, O_IGNORE_TIMES, O_IGNORE_SIZES, O_EXISTING, O_IGNORE_EXISTING,
	O_INCLUDE, O_EXCLUDE, O_FILTER_FROM, O_DRY_RUN, O_PLAN, O_APPLY, O_JOBS, O_VERBOSE,
};

static int parse(int argc, char **argv, sync_args *a)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'E'},
		{"token", required_argument, NULL, 'T'},
		{"region", required_argument, NULL, 'G'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'H'},
		{"delete", no_argument, NULL, O_DELETE},
		{"checksum", no_argument, NULL, O_CHECKSUM},
		{"ignore-times", no_argument, NULL, O_IGNORE_TIMES},
		{"ignore-sizes", no_argument, NULL, O_IGNORE_SIZES},
		{"existing", no_argument, NULL, O_EXISTING},
		{"ignore-existing", no_argument, NULL, O_IGNORE_EXISTING},
		{"include", required_argument, NULL, O_INCLUDE},
		{"exclude", required_argument, NULL, O_EXCLUDE},
		{"filter-from", required_argument, NULL, O_FILTER_FROM},
		{"dry-run", no_argument, NULL, O_DRY_RUN},
		{"plan", required_argument, NULL, O_PLAN},
		{"apply", required_argument, NULL, O_APPLY},
		{"jobs", required_argument, NULL, O_JOBS},
		{"verbose", no_argument, NULL, O_VERBOSE},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qv", longopts, NULL)) != -1) {
		switch (c) {
		case 'E': a->g.endpoint = optarg; break;
		case 'T': a->g.token = optarg; break;
		case 'G': a->g.region = optarg; break;
		case 'J': a->g.json = true; break;
		case 'q': a->g.quiet = true; break;
		case 'H': printf("%s\n", USAGE); exit(EXIT_OK);
		case O_DELETE: a->so.delete_extra = true; break;
		case O_CHECKSUM: a->so.checksum = true; break;
		case O_IGNORE_TIMES: a->so.ignore_times = true; break;
		case O_IGNORE_SIZES: a->so.ignore_sizes = true; break;
		case O_EXISTING: a->so.existing = true; break;
		case O_IGNORE_EXISTING: a->so.ignore_existing = true; break;
		case O_DRY_RUN: a->dry_run = true; break;
		case O_PLAN: a->plan_out = optarg; break;
		case O_APPLY: a->apply_in = optarg; break;
		case 'v':
		case O_VERBOSE: a->verbose = true; break;
		case O_JOBS: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 16) {
				fprintf(stderr, "cairn: --jobs wants 1..16, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			a->jobs = (unsigned)v;
			break;
		}
		case O_INCLUDE:
		case O_EXCLUDE:
		case O_FILTER_FROM:
			rc = c == O_FILTER_FROM ? cairn_filter_load(a->filter, optarg)
						: cairn_filter_add(a->filter, c == O_INCLUDE, optarg);
			if (rc != 0) {
				fprintf(stderr, "cairn: %s\n", cairn_error_last());
				return rc == CAIRN_EIO ? EXIT_FAIL : EXIT_USAGE;
			}
			break;
		case ':':
			fprintf(stderr, "cairn: option '%s' needs a value\n%s\n", argv[optind - 1], USAGE);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "cairn: unknown option '%s'\n%s\n", argv[optind - 1], USAGE);
			return EXIT_USAGE;
		}
	}
	if (a->apply_in) {
		if (optind != argc || a->dry_run || a->plan_out || cairn_filter_count(a->filter) ||
		    a->so.delete_extra || a->so.checksum || a->so.ignore_times || a->so.ignore_sizes ||
		    a->so.existing || a->so.ignore_existing) {
			fprintf(stderr, "cairn: --apply FILE takes no paths and no other sync options "
					"(the plan has them)\n%s\n", USAGE);
			return EXIT_USAGE;
		}
		return EXIT_OK;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "cairn: sync wants SRC and DST\n%s\n", USAGE);
		return EXIT_USAGE;
	}
	if (a->dry_run && a->plan_out) {
		fprintf(stderr, "cairn: --dry-run and --plan both only plan; give one\n");
		return EXIT_USAGE;
	}
	a->src = argv[optind];
	a->dst = argv[optind + 1];
	return EXIT_OK;
}

static int run_apply(sync_args *a, cairn_client *c, const cairn_sync_plan *p, bool verify)
{
	cairn_sync_apply_options ao = CAIRN_SYNC_APPLY_OPTIONS_INIT;
	cairn_sync_summary s;
	progress pg = {false, 0, 0};
	int rc, status;

	ao.jobs = a->jobs;
	ao.verify_sources = verify;
	if (!a->g.quiet && isatty(STDERR_FILENO)) {
		ao.progress = on_progress;
		ao.progress_ctx = &pg;
	}
	if (a->verbose)
		for (size_t i = 0; i < p->n; i++)
			if (p->items[i].kind != CAIRN_SYNC_SKIP)
				print_item(&p->items[i], false);
	rc = cairn_sync_apply(c, p, &ao, &s);
	if (pg.drawn)
		fputs("\r\033[K", stderr);
	if (rc == CAIRN_EEXISTS && verify) {
		for (size_t i = 0; i < s.nfailures; i++)
			fprintf(stderr, "cairn: %s\n", s.failures[i]);
		fprintf(stderr, "cairn: %s\n", cairn_error_last());
		cairn_sync_summary_free(&s);
		return EXIT_FAIL;
	}
	if (rc != 0) {
		for (size_t i = 0; i < s.nfailures; i++)
			fprintf(stderr, "cairn: %s\n", s.failures[i]);
		cairn_sync_summary_free(&s);
		return cli_fail(rc, NULL);
	}
	print_summary(a, &s, strncmp(p->source, "cairn://", 8) == 0);
	status = s.failed ? EXIT_FAIL : EXIT_OK;
	cairn_sync_summary_free(&s);
	return cli_finish_output(status);
}

int cmd_buckets_sync(int argc, char **argv)
{
	sync_args a;
	cairn_client *c = NULL;
	cairn_sync_plan *p = NULL;
	int status, rc;

	memset(&a, 0, sizeof(a));
	a.so = (cairn_sync_options)CAIRN_SYNC_OPTIONS_INIT;
	if (cairn_filter_new(&a.filter) != 0)
		return cli_fail(CAIRN_ENOMEM, NULL);
	if ((status = parse(argc, argv, &a)) != EXIT_OK)
		goto done;
	if ((status = cli_client_open(&c, &a.g)) != EXIT_OK)
		goto done;

	if (a.apply_in) {
		FILE *in = fopen(a.apply_in, "r");
		if (in == NULL) {
			fprintf(stderr, "cairn: %s: %s\n", a.apply_in, strerror(errno));
			status = EXIT_FAIL;
			goto done;
		}
		rc = cairn_sync_plan_read(&p, in);
		fclose(in);
		if (rc != 0) {
			fprintf(stderr, "cairn: %s: %s\n", a.apply_in, cairn_error_last());
			status = rc == CAIRN_EINVALID ? EXIT_USAGE : EXIT_FAIL;
			goto done;
		}
		status = run_apply(&a, c, p, true);
		goto done;
	}

	a.so.filter = a.filter;
	rc = cairn_sync_plan_make(c, a.src, a.dst, &a.so, &p);
	if (rc != 0) {
		status = rc == CAIRN_EINVALID ? (fprintf(stderr, "cairn: %s\n", cairn_error_last()),
						 EXIT_USAGE)
					      : cli_fail(rc, NULL);
		goto done;
	}
	print_notes(p);
	if (a.plan_out) {
		FILE *out = strcmp(a.plan_out, "-") == 0 ? stdout : fopen(a.plan_out, "w");
		if (out == NULL) {
			fprintf(stderr, "cairn: %s: %s\n", a.plan_out, strerror(errno));
			status = EXIT_FAIL;
			goto done;
		}
		rc = cairn_sync_plan_write(p, out);
		if (out != stdout && fclose(out) != 0 && rc == 0)
			rc = CAIRN_EIO;
		if (rc != 0) {
			status = cli_fail(rc, a.plan_out);
			goto done;
		}
		for (size_t i = 0; i < p->nerrors; i++)
			fprintf(stderr, "cairn: %s\n", p->errors[i]);
		if (out != stdout && !a.g.quiet && !a.g.json)
			print_plan_summary(p, "plan: ");
		status = cli_finish_output(p->nerrors ? EXIT_FAIL : EXIT_OK);
		goto done;
	}
	if (a.dry_run) {
		if (a.g.json) {
			rc = cairn_sync_plan_write(p, stdout);
		} else {
			for (size_t i = 0; i < p->n; i++)
				if (p->items[i].kind != CAIRN_SYNC_SKIP || a.verbose)
					print_item(&p->items[i], true);
			if (!a.g.quiet)
				print_plan_summary(p, "dry run, nothing changed: ");
		}
		for (size_t i = 0; i < p->nerrors; i++)
			fprintf(stderr, "cairn: %s\n", p->errors[i]);
		status = cli_finish_output(p->nerrors ? EXIT_FAIL : EXIT_OK);
		goto done;
	}
	status = run_apply(&a, c, p, false);
done:
	cairn_sync_plan_free(p);
	cairn_client_free(c);
	cairn_filter_free(a.filter);
	return status;
}
