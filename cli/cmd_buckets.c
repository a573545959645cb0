/*
 * cmd_buckets.c - `cairn buckets`: buckets and their objects on a server,
 * over the client library (include/cairn/client.h).
 *
 *   cairn buckets create [NS/]NAME [--private] [--exist-ok]
 *   cairn buckets list [NAMESPACE]
 *   cairn buckets info NS/NAME
 *   cairn buckets delete NS/NAME [--yes] [--missing-ok] [--force]
 *   cairn buckets settings NS/NAME [--private|--public] [--regions A,B]
 *   cairn buckets prewarm NS/NAME[/PREFIX] [--wait]   (or --status JOB [--wait], --release JOB)
 *   cairn buckets ls cairn://buckets/NS/NAME[/FOLDER] [-R] [-h]
 *   cairn buckets cp SRC DST        (a local file or '-' <-> cairn://buckets/NS/NAME/PATH,
 *                                    or bucket -> bucket on the server)
 *   cairn buckets rm cairn://buckets/NS/NAME/PATH [-R] [--dry-run]
 *
 * Every subcommand also takes --endpoint, --token, --region, --json and --quiet
 * (cli.h). Outcomes leave through cli_exit_code; errors are one line on
 * stderr. Where a remote path is the only kind an argument can be, the
 * bare form NS/NAME/PATH is accepted too; cp needs the cairn:// form to
 * tell remote from local.
 */
#include "cli.h"

#include "cairn/errors.h"
#include "cairn/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHEME "cairn://buckets/"

/* Option letters a subcommand may allow (see parse). */
enum {
	O_PRIVATE = 'p',
	O_PUBLIC = 'P',
	O_EXIST_OK = 'e',
	O_YES = 'y',
	O_MISSING_OK = 'm',
	O_FORCE = 'f',
	O_RECURSIVE = 'R',
	O_HUMAN = 'h',
	O_DRY_RUN = 'n',
	O_INCLUDE = 'i',
	O_EXCLUDE = 'x',
	O_REGIONS = 'g',
	O_WAIT = 'w',
	O_STATUS = 's',
	O_RELEASE = 'r',
};

typedef struct opts {
	cli_remote g;
	bool is_private, is_public, exist_ok, yes, missing_ok, force, recursive, human, dry_run;
	bool wait;
	const char *regions, *status_job, *release_job; /* settings --regions; prewarm */
	cairn_filter *filter; /* rm -R: --include / --exclude, in order (sync's rules) */
	const char *args[2];
	int nargs;
} opts;

/*
 * Parse argv: the global options, the options whose letters are in
 * allowed, and min..max positional arguments.
 */
static int parse(int argc, char **argv, opts *o, const char *allowed, int min, int max,
		 const char *usage_line)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'E'},
		{"token", required_argument, NULL, 'T'},
		{"region", required_argument, NULL, 'G'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'H'},
		{"private", no_argument, NULL, O_PRIVATE},
		{"public", no_argument, NULL, O_PUBLIC},
		{"exist-ok", no_argument, NULL, O_EXIST_OK},
		{"yes", no_argument, NULL, O_YES},
		{"missing-ok", no_argument, NULL, O_MISSING_OK},
		{"force", no_argument, NULL, O_FORCE},
		{"recursive", no_argument, NULL, O_RECURSIVE},
		{"human-readable", no_argument, NULL, O_HUMAN},
		{"dry-run", no_argument, NULL, O_DRY_RUN},
		{"include", required_argument, NULL, O_INCLUDE},
		{"exclude", required_argument, NULL, O_EXCLUDE},
		{"regions", required_argument, NULL, O_REGIONS},
		{"wait", no_argument, NULL, O_WAIT},
		{"status", required_argument, NULL, O_STATUS},
		{"release", required_argument, NULL, O_RELEASE},
		{NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":qRhy", longopts, NULL)) != -1) {
		if (ch == ':') {
			fprintf(stderr, "cairn: option '%s' needs a value (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		}
		if (ch == '?' || (ch != 'E' && ch != 'T' && ch != 'G' && ch != 'J' && ch != 'q' &&
				  ch != 'H' && strchr(allowed, ch) == NULL)) {
			fprintf(stderr, "cairn: unknown option '%s' (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		}
		switch (ch) {
		case 'E': o->g.endpoint = optarg; break;
		case 'T': o->g.token = optarg; break;
		case 'G': o->g.region = optarg; break;
		case 'J': o->g.json = true; break;
		case 'q': o->g.quiet = true; break;
		case 'H':
			printf("%s\n", usage_line);
			exit(EXIT_OK);
		case O_PRIVATE: o->is_private = true; break;
		case O_PUBLIC: o->is_public = true; break;
		case O_EXIST_OK: o->exist_ok = true; break;
		case O_YES: o->yes = true; break;
		case O_MISSING_OK: o->missing_ok = true; break;
		case O_FORCE: o->force = true; break;
		case O_RECURSIVE: o->recursive = true; break;
		case O_HUMAN: o->human = true; break;
		case O_DRY_RUN: o->dry_run = true; break;
		case O_REGIONS: o->regions = optarg; break;
		case O_WAIT: o->wait = true; break;
		case O_STATUS: o->status_job = optarg; break;
		case O_RELEASE: o->release_job = optarg; break;
		case O_INCLUDE:
		case O_EXCLUDE:
			if ((o->filter == NULL && cairn_filter_new(&o->filter) != 0) ||
			    cairn_filter_add(o->filter, ch == O_INCLUDE, optarg) != 0) {
				fprintf(stderr, "cairn: %s\n", cairn_error_last());
				cairn_filter_free(o->filter);
				o->filter = NULL;
				return EXIT_USAGE;
			}
			break;
		default: break;
		}
	}
	while (optind < argc) {
		if (o->nargs == max) {
			fprintf(stderr, "cairn: unexpected argument '%s' (%s)\n", argv[optind],
				usage_line);
			return EXIT_USAGE;
		}
		o->args[o->nargs++] = argv[optind++];
	}
	if (o->nargs < min) {
		fprintf(stderr, "cairn: missing argument (%s)\n", usage_line);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* ---- names and paths ------------------------------------------------------------------- */

typedef struct remote {
	char ns[CAIRN_CLIENT_NAME_MAX + 1];
	char name[CAIRN_CLIENT_NAME_MAX + 1];
	char key[CAIRN_CLIENT_KEY_MAX + 1]; /* without leading or trailing '/' */
	bool dir;                           /* the path ended in '/' (or was empty) */
} remote;

static bool copy_part(char *out, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/*
 * "cairn://buckets/NS/NAME[/PATH]" or, with bare_ok, "NS/NAME[/PATH]" into
 * r. With name_only, "NAME" alone is allowed too (r->ns left empty).
 */
static bool parse_remote(const char *s, bool bare_ok, bool name_only, remote *r)
{
	const char *p = s, *slash, *rest;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (strncmp(s, SCHEME, strlen(SCHEME)) == 0)
		p = s + strlen(SCHEME);
	else if (!bare_ok || strstr(s, "://") != NULL)
		return false;
	slash = strchr(p, '/');
	if (slash == NULL) {
		if (!name_only)
			return false;
		return copy_part(r->name, sizeof(r->name), p, strlen(p));
	}
	if (!copy_part(r->ns, sizeof(r->ns), p, (size_t)(slash - p)))
		return false;
	p = slash + 1;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (!copy_part(r->name, sizeof(r->name), p, n))
		return false;
	rest = slash ? slash + 1 : "";
	n = strlen(rest);
	r->dir = n == 0 || rest[n - 1] == '/';
	while (n > 0 && rest[n - 1] == '/')
		n--;
	if (n > CAIRN_CLIENT_KEY_MAX)
		return false;
	memcpy(r->key, rest, n);
	r->key[n] = '\0';
	return true;
}

static int bad_path(const char *s, const char *want)
{
	fprintf(stderr, "cairn: '%s' is not %s\n", s, want);
	return EXIT_USAGE;
}

/* Run a subcommand body with a client, freeing it after. */
static int with_client(opts *o, cairn_client **c)
{
	return cli_client_open(c, &o->g);
}

static void print_human(FILE *f, uint64_t n, bool human)
{
	static const char *units[] = {"B", "K", "M", "G", "T", "P"};
	double v = (double)n;
	size_t u = 0;

	if (!human) {
		fprintf(f, "%12" PRIu64, n);
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		fprintf(f, "%7" PRIu64 "%s", n, units[0]);
	else
		fprintf(f, "%7.1f%s", v, units[u]);
}

static void print_time(FILE *f, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, sizeof(buf), "-");
	fputs(buf, f);
}

static void json_bucket(FILE *f, const cairn_client_bucket *b)
{
	fprintf(f, "{\"namespace\":");
	cli_json_string(f, b->ns);
	fprintf(f, ",\"name\":");
	cli_json_string(f, b->name);
	fprintf(f, ",\"private\":%s,\"created_ns\":%" PRId64, b->is_private ? "true" : "false",
		b->created_ns);
	if (b->has_stats)
		fprintf(f,
			",\"objects\":%" PRIu64 ",\"logical_bytes\":%" PRIu64 ",\"dedup_bytes\":%" PRIu64
			",\"stored_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64 ",\"xorbs\":%" PRIu64,
			b->objects, b->logical_bytes, b->dedup_bytes, b->stored_bytes, b->chunks,
			b->xorbs);
	fputs(",\"regions\":[", f);
	for (const char *p = b->regions; *p != '\0';) {
		size_t n = strcspn(p, ",");
		char name[CAIRN_CLIENT_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (p != b->regions)
			fputc(',', f);
		cli_json_string(f, name);
		p += n + (p[n] == ',');
	}
	fputs("]}", f);
}

/* ---- buckets ------------------------------------------------------------------------------ */

static int b_create(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets create [NS/]NAME [--private] "
					 "[--exist-ok] [--endpoint URL] [--token T] [--json] [--quiet]";
	cairn_client *c = NULL;
	cairn_client_whoami me;
	bool existed = false;
	remote r;
	opts o;
	int rc, status;

	if ((status = parse(argc, argv, &o, "pe", 1, 1, usage_line)) != EXIT_OK)
		return status;
	if (!parse_remote(o.args[0], true, true, &r) || r.key[0] != '\0')
		return bad_path(o.args[0], "a bucket name (NS/NAME or NAME)");
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	if (r.ns[0] == '\0') {
		/* NAME alone: in the caller's own namespace */
		if ((rc = cairn_client_whoami_get(c, &me)) != 0)
			goto fail;
		snprintf(r.ns, sizeof(r.ns), "%s", me.user);
	}
	rc = cairn_client_bucket_create(c, r.ns, r.name, o.is_private, false);
	if (rc == CAIRN_EEXISTS && o.exist_ok) {
		existed = true;
		rc = 0;
	}
	if (rc != 0)
		goto fail;
	if (o.g.json) {
		printf("{\"namespace\":");
		cli_json_string(stdout, r.ns);
		printf(",\"name\":");
		cli_json_string(stdout, r.name);
		printf(",\"created\":%s}\n", existed ? "false" : "true");
	} else if (!o.g.quiet) {
		if (existed)
			printf("bucket %s%s/%s exists already\n", SCHEME, r.ns, r.name);
		else
			printf("created %s%s/%s (%s)\n", SCHEME, r.ns, r.name,
			       o.is_private ? "private" : "public");
	}
	cairn_client_free(c);
	return cli_finish_output(EXIT_OK);
fail:
	status = cli_fail(rc, NULL);
	cairn_client_free(c);
	return status;
}

typedef struct list_ctx {
	bool json;
	unsigned n;
} list_ctx;

static int list_one(void *ctx, const cairn_client_bucket *b)
{
	list_ctx *lc = ctx;

	if (lc->json) {
		fputs(lc->n ? "," : "", stdout);
		json_bucket(stdout, b);
	} else {
		printf("%s/%s\t%s\n", b->ns, b->name, b->is_private ? "private" : "public");
	}
	lc->n++;
	return 0;
}

static int b_list(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets list [NAMESPACE] [--endpoint URL] "
					 "[--token T] [--json]";
	cairn_client *c = NULL;
	list_ctx lc = {false, 0};
	opts o;
	int rc, status;

	if ((status = parse(argc, argv, &o, "", 0, 1, usage_line)) != EXIT_OK)
		return status;
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	lc.json = o.g.json;
	if (lc.json)
		fputs("[", stdout);
	rc = cairn_client_bucket_list(c, o.nargs ? o.args[0] : NULL, list_one, &lc);
	cairn_client_free(c);
	if (rc != 0) {
		fflush(stdout);
		return cli_fail(rc, NULL);
	}
	if (lc.json)
		fputs("]\n", stdout);
	return cli_finish_output(EXIT_OK);
}

/* Parse the one NS/NAME argument of info, delete and settings. */
static bool bucket_arg(const char *s, remote *r)
{
	return parse_remote(s, true, false, r) && r->key[0] == '\0';
}

static int b_info(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets info NS/NAME [--endpoint URL] "
					 "[--token T] [--json]";
	cairn_client_bucket b;
	cairn_client *c = NULL;
	remote r;
	opts o;
	int rc, status;

	if ((status = parse(argc, argv, &o, "", 1, 1, usage_line)) != EXIT_OK)
		return status;
	if (!bucket_arg(o.args[0], &r))
		return bad_path(o.args[0], "a bucket (NS/NAME)");
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	rc = cairn_client_bucket_info(c, r.ns, r.name, &b);
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, NULL);
	if (o.g.json) {
		json_bucket(stdout, &b);
		fputc('\n', stdout);
	} else {
		printf("bucket:        %s%s/%s\n", SCHEME, b.ns, b.name);
		printf("visibility:    %s\n", b.is_private ? "private" : "public");
		printf("created:       ");
		print_time(stdout, b.created_ns);
		printf(" UTC\nobjects:       %" PRIu64 "\nlogical bytes: %" PRIu64
		       "\ndedup bytes:   %" PRIu64 "\nstored bytes:  %" PRIu64
		       "\nchunks:        %" PRIu64 "\nxorbs:         %" PRIu64 "\n",
		       b.objects, b.logical_bytes, b.dedup_bytes, b.stored_bytes, b.chunks, b.xorbs);
		printf("kept warm in:  %s\n", b.regions[0] ? b.regions : "-");
	}
	return cli_finish_output(EXIT_OK);
}

/* Ask on the terminal; true for "y" or "yes". */
static bool confirm(const char *what)
{
	char line[16];

	fprintf(stderr, "%s? [y/N] ", what);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 ||
	       strcmp(line, "Y\n") == 0;
}

static int b_delete(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets delete NS/NAME [--yes] "
					 "[--missing-ok] [--force] [--endpoint URL] [--token T] "
					 "[--json] [--quiet]";
	char question[2 * CAIRN_CLIENT_NAME_MAX + 64];
	cairn_client *c = NULL;
	remote r;
	opts o;
	int rc, status;

	if ((status = parse(argc, argv, &o, "ymf", 1, 1, usage_line)) != EXIT_OK)
		return status;
	if (!bucket_arg(o.args[0], &r))
		return bad_path(o.args[0], "a bucket (NS/NAME)");
	if (!o.yes) {
		if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
			fprintf(stderr, "cairn: deleting bucket %s/%s needs --yes (no terminal to "
					"confirm on)\n",
				r.ns, r.name);
			return EXIT_USAGE;
		}
		snprintf(question, sizeof(question), "delete bucket %s/%s%s", r.ns, r.name,
			 o.force ? " and every object in it" : "");
		if (!confirm(question)) {
			fprintf(stderr, "cairn: not deleted\n");
			return EXIT_FAIL;
		}
	}
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	rc = cairn_client_bucket_delete(c, r.ns, r.name, o.force, o.missing_ok);
	cairn_client_free(c);
	if (rc == CAIRN_EEXISTS) {
		fprintf(stderr, "cairn: bucket %s/%s is not empty (delete with --force)\n", r.ns,
			r.name);
		return EXIT_FAIL;
	}
	if (rc != 0)
		return cli_fail(rc, NULL);
	if (o.g.json)
		printf("{\"deleted\":true}\n");
	else if (!o.g.quiet)
		printf("deleted %s%s/%s\n", SCHEME, r.ns, r.name);
	return cli_finish_output(EXIT_OK);
}

static int b_settings(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets settings NS/NAME [--private|--public] "
					 "[--regions A,B] [--endpoint URL] [--token T] [--json] "
					 "[--quiet]";
	cairn_client_bucket b;
	cairn_client *c = NULL;
	remote r;
	opts o;
	int rc = 0, status;

	if ((status = parse(argc, argv, &o, "pPg", 1, 1, usage_line)) != EXIT_OK)
		return status;
	if ((o.is_private && o.is_public) || (!o.is_private && !o.is_public && !o.regions)) {
		fprintf(stderr, "cairn: give --private or --public, and/or --regions (%s)\n",
			usage_line);
		return EXIT_USAGE;
	}
	if (!bucket_arg(o.args[0], &r))
		return bad_path(o.args[0], "a bucket (NS/NAME)");
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	if (o.is_private || o.is_public)
		rc = cairn_client_bucket_set_private(c, r.ns, r.name, o.is_private);
	if (rc == 0 && o.regions)
		rc = cairn_client_bucket_set_regions(c, r.ns, r.name, o.regions);
	if (rc == 0)
		rc = cairn_client_bucket_info(c, r.ns, r.name, &b);
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, NULL);
	if (o.g.json) {
		json_bucket(stdout, &b);
		fputc('\n', stdout);
	} else if (!o.g.quiet) {
		printf("%s%s/%s is %s, kept warm in: %s\n", SCHEME, r.ns, r.name,
		       b.is_private ? "private" : "public", b.regions[0] ? b.regions : "-");
	}
	return cli_finish_output(EXIT_OK);
}

/* ---- pre-warming ---------------------------------------------------------------------------- */

static bool job_over(const cairn_client_prewarm *p)
{
	return strcmp(p->state, "done") == 0 || strcmp(p->state, "failed") == 0 ||
	       strcmp(p->state, "released") == 0;
}

static void json_prewarm(FILE *f, const cairn_client_prewarm *p)
{
	fprintf(f, "{\"job\":\"%s\",\"region\":", p->job);
	cli_json_string(f, p->region);
	fputs(",\"bucket\":", f);
	cli_json_string(f, p->bucket);
	fputs(",\"prefix\":", f);
	cli_json_string(f, p->prefix);
	fputs(",\"state\":", f);
	cli_json_string(f, p->state);
	fputs(",\"message\":", f);
	cli_json_string(f, p->message);
	fprintf(f,
		",\"files\":%" PRIu64 ",\"files_done\":%" PRIu64 ",\"xorbs\":%" PRIu64
		",\"xorbs_done\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bytes_done\":%" PRIu64
		",\"logical_bytes\":%" PRIu64 ",\"bytes_per_second\":%.0f}\n",
		p->files, p->files_done, p->xorbs, p->xorbs_done, p->bytes, p->bytes_done,
		p->logical_bytes, p->bytes_per_second);
}

static void print_prewarm(const cairn_client_prewarm *p)
{
	printf("job:      %s\nregion:   %s\nbucket:   %s%s\nprefix:   %s\nstate:    %s\n",
	       p->job, p->region, SCHEME, p->bucket, p->prefix[0] ? p->prefix : "(all)", p->state);
	printf("files:    %" PRIu64 " of %" PRIu64 " staged (%" PRIu64 " bytes)\n", p->files_done,
	       p->files, p->logical_bytes);
	printf("xorbs:    %" PRIu64 " of %" PRIu64 "\nbytes:    %" PRIu64 " of %" PRIu64 "\n",
	       p->xorbs_done, p->xorbs, p->bytes_done, p->bytes);
	printf("rate:     %.1f MB/s\n", p->bytes_per_second / 1e6);
	if (p->message[0])
		printf("message:  %s\n", p->message);
}

/* One progress line on stderr: rewritten in place on a terminal, else one per change of state. */
static void progress_prewarm(const cairn_client_prewarm *p, bool tty, char *last_state,
			     size_t cap, char *last_msg, size_t mcap)
{
	bool changed = strcmp(last_state, p->state) != 0 || strcmp(last_msg, p->message) != 0;

	if (tty)
		fprintf(stderr, "\r\033[K%s: %" PRIu64 "/%" PRIu64 " files, %.1f/%.1f MB, %.1f MB/s",
			p->state, p->files_done, p->files, (double)p->bytes_done / 1e6,
			(double)p->bytes / 1e6, p->bytes_per_second / 1e6);
	if (changed && p->message[0])
		fprintf(stderr, "%s%s: %s\n", tty ? "\n" : "", p->state, p->message);
	else if (changed && !tty)
		fprintf(stderr, "%s: %" PRIu64 "/%" PRIu64 " files\n", p->state, p->files_done,
			p->files);
	snprintf(last_state, cap, "%s", p->state);
	snprintf(last_msg, mcap, "%s", p->message);
}

static int b_prewarm(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets prewarm NS/NAME[/PREFIX] "
					 "--region NAME [--wait] | --status JOB [--wait] | "
					 "--release JOB [--endpoint URL] [--token T] [--json] "
					 "[--quiet]";
	char last_state[16] = "", last_msg[512] = "";
	cairn_client_prewarm p;
	cairn_client *c = NULL;
	bool tty = isatty(STDERR_FILENO);
	remote r;
	opts o;
	int rc, status, modes;

	if ((status = parse(argc, argv, &o, "wsr", 0, 1, usage_line)) != EXIT_OK)
		return status;
	modes = (o.nargs == 1) + (o.status_job != NULL) + (o.release_job != NULL);
	if (modes != 1 || (o.release_job && o.wait)) {
		fprintf(stderr, "cairn: give one of a bucket path, --status JOB and --release JOB "
				"(%s)\n",
			usage_line);
		return EXIT_USAGE;
	}
	if (o.nargs == 1 && !parse_remote(o.args[0], true, false, &r))
		return bad_path(o.args[0], "a bucket path (NS/NAME[/PREFIX])");
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	if (cairn_client_region(c) == NULL) {
		cairn_client_free(c);
		fprintf(stderr, "cairn: which region? give --region NAME or set CAIRN_REGION (%s)\n",
			usage_line);
		return EXIT_USAGE;
	}
	if (o.release_job)
		rc = cairn_client_prewarm_release(c, o.release_job, NULL, &p);
	else if (o.status_job)
		rc = cairn_client_prewarm_get(c, o.status_job, NULL, &p);
	else {
		/* the key part is a raw prefix, as S3's: "dir/" is the folder, "dir" also
		 * takes "dir2/..." and "dir.txt" */
		char prefix[CAIRN_CLIENT_KEY_MAX + 2];
		snprintf(prefix, sizeof(prefix), "%s%s", r.key, r.key[0] && r.dir ? "/" : "");
		rc = cairn_client_prewarm_start(c, r.ns, r.name, prefix, NULL, &p);
		if (rc == 0 && !o.g.quiet && !o.g.json)
			fprintf(stderr, "pre-warm %s: %" PRIu64 " files, %" PRIu64 " xorbs (%" PRIu64
					" bytes) to region %s\n",
				p.job, p.files, p.xorbs, p.bytes, p.region);
	}
	while (rc == 0 && o.wait && !job_over(&p)) {
		struct timespec pause = {0, 250 * 1000 * 1000};
		if (!o.g.quiet)
			progress_prewarm(&p, tty, last_state, sizeof(last_state), last_msg,
					 sizeof(last_msg));
		nanosleep(&pause, NULL);
		rc = cairn_client_prewarm_get(c, p.job, NULL, &p);
	}
	if (rc == 0 && o.wait && !o.g.quiet) {
		progress_prewarm(&p, tty, last_state, sizeof(last_state), last_msg, sizeof(last_msg));
		if (tty)
			fputc('\n', stderr);
	}
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, NULL);
	if (o.g.json)
		json_prewarm(stdout, &p);
	else if (!o.g.quiet)
		print_prewarm(&p);
	status = cli_finish_output(EXIT_OK);
	return strcmp(p.state, "failed") == 0 && status == EXIT_OK ? EXIT_FAIL : status;
}

/* ---- objects ------------------------------------------------------------------------------ */

typedef struct ls_ctx {
	const opts *o;
	unsigned n;
} ls_ctx;

static int ls_one(void *ctx, const cairn_client_entry *e)
{
	ls_ctx *lc = ctx;

	lc->n++;
	if (lc->o->g.json) {
		printf("{\"type\":\"%s\",\"path\":", e->is_dir ? "directory" : "file");
		cli_json_string(stdout, e->path);
		if (!e->is_dir)
			printf(",\"size\":%" PRIu64 ",\"hash\":\"%s\",\"mtime_ns\":%" PRId64, e->size,
			       e->hash, e->mtime_ns);
		printf("}\n");
		return 0;
	}
	if (cli_path_needs_escape(e->path))
		fputc('\\', stdout);
	if (e->is_dir) {
		printf("%12s  %-19s  ", "DIR", "");
		cli_text_path(stdout, e->path);
		fputs("/\n", stdout);
	} else {
		print_human(stdout, e->size, lc->o->human);
		if (lc->o->human)
			fputs("     ", stdout); /* the same width as the raw size column */
		fputs("  ", stdout);
		print_time(stdout, e->mtime_ns);
		fputs("  ", stdout);
		cli_text_path(stdout, e->path);
		fputc('\n', stdout);
	}
	return 0;
}

static int b_ls(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets ls cairn://buckets/NS/NAME[/FOLDER] "
					 "[-R] [-h] [--endpoint URL] [--token T] [--json]";
	cairn_client *c = NULL;
	ls_ctx lc;
	remote r;
	opts o;
	int rc, status;

	if ((status = parse(argc, argv, &o, "Rh", 1, 1, usage_line)) != EXIT_OK)
		return status;
	if (!parse_remote(o.args[0], true, false, &r))
		return bad_path(o.args[0], "a bucket path (cairn://buckets/NS/NAME[/FOLDER])");
	if ((status = with_client(&o, &c)) != EXIT_OK)
		return status;
	lc.o = &o;
	lc.n = 0;
	rc = cairn_client_list(c, r.ns, r.name, r.key, o.recursive, ls_one, &lc);
	cairn_client_free(c);
	if (rc != 0) {
		fflush(stdout);
		return cli_fail(rc, NULL);
	}
	return cli_finish_output(EXIT_OK);
}

/* The last segment of a '/' path (no trailing '/'). */
static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* ---- cp: progress on a terminal ------------------------------------------------------- */

/*
 * One status line on stderr, redrawn at most ten times a second, only when
 * stderr is a terminal and --quiet is off: bytes done of total, the rate
 * and ETA of the current phase (measured from where the phase started, so
 * the chunks an upload skips do not inflate its rate), and for uploads
 * what deduplication saved.
 */
typedef struct progress {
	bool drawn, started;
	cairn_client_phase phase;
	double t0, last;   /* phase start, last draw (seconds) */
	uint64_t base;     /* done at the phase start */
	uint64_t shown;    /* done at the last draw */
} progress;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fmt_bytes(char *out, size_t cap, double n)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%.0f %s", n, units[u]);
	else
		snprintf(out, cap, "%.1f %s", n, units[u]);
}

static void on_progress(void *ctx, const cairn_client_progress *p)
{
	static const char *names[] = {"hashing", "uploading", "downloading"};
	progress *pg = ctx;
	char done[32], total[32], rate[32], saved[32], eta[32];
	double t = now_s(), r;

	if (!pg->started || p->phase != pg->phase) {
		pg->started = true;
		pg->phase = p->phase;
		pg->t0 = t;
		pg->base = p->done;
		pg->last = 0;
		pg->shown = UINT64_MAX;
	}
	/* at most ten draws a second, and the phase's end once */
	if (t - pg->last < 0.1 && (p->done < p->total || pg->shown == p->done))
		return;
	pg->last = t;
	pg->shown = p->done;
	/* a retried download range takes back what it wrote: the count may go down */
	r = t > pg->t0 && p->done > pg->base ? (double)(p->done - pg->base) / (t - pg->t0) : 0;
	fmt_bytes(done, sizeof(done), (double)p->done);
	fmt_bytes(total, sizeof(total), (double)p->total);
	fmt_bytes(rate, sizeof(rate), r);
	if (r > 0 && p->total >= p->done) {
		uint64_t s = (uint64_t)((double)(p->total - p->done) / r + 0.5);
		snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
	} else {
		snprintf(eta, sizeof(eta), "-:--");
	}
	fprintf(stderr, "\r%-11s %10s / %-10s %3u%%  %10s/s  ETA %s",
		names[p->phase <= CAIRN_CLIENT_DOWNLOADING ? p->phase : 0], done, total,
		p->total ? (unsigned)(100.0 * (double)p->done / (double)p->total) : 100u, rate,
		eta);
	if (p->phase == CAIRN_CLIENT_UPLOADING) {
		fmt_bytes(saved, sizeof(saved), (double)p->deduped);
		fprintf(stderr, "  dedup saved %s", saved);
	}
	fputs("\033[K", stderr);
	pg->drawn = true;
}

/* Options for a transfer, with the progress line if it is wanted. */
static void progress_setup(progress *pg, cairn_client_xfer_options *xo, const opts *o)
{
	memset(pg, 0, sizeof(*pg));
	if (!o->g.quiet && isatty(STDERR_FILENO)) {
		xo->progress = on_progress;
		xo->progress_ctx = pg;
	}
}

/* Erase the progress line, so what follows starts on a clean line. */
static void progress_end(progress *pg)
{
	if (pg->drawn)
		fputs("\r\033[K", stderr);
}

/* ---- cp -------------------------------------------------------------------------------- */

static void print_put(const opts *o, const char *src, const remote *dst,
		      const cairn_client_put_result *res)
{
	if (o->g.json) {
		printf("{\"path\":");
		cli_json_string(stdout, dst->key);
		printf(",\"hash\":\"%s\",\"size\":%" PRIu64 ",\"new_bytes\":%" PRIu64
		       ",\"stored_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64 ",\"new_chunks\":%" PRIu64
		       ",\"bytes_sent\":%" PRIu64 "}\n",
		       res->hash, res->size, res->new_bytes, res->stored_bytes, res->chunks,
		       res->new_chunks, res->bytes_sent);
	} else if (!o->g.quiet) {
		printf("uploaded %s -> %s%s/%s/%s (%" PRIu64 " bytes, %" PRIu64 " new, %" PRIu64
		       " sent)\n",
		       strcmp(src, "-") == 0 ? "stdin" : src, SCHEME, dst->ns, dst->name, dst->key,
		       res->size, res->new_bytes, res->bytes_sent);
	}
}

static int cp_up(const opts *o, const char *src, remote *dst)
{
	cairn_client_xfer_options xo = CAIRN_CLIENT_XFER_OPTIONS_INIT;
	cairn_client_put_result res;
	cairn_client *c = NULL;
	struct stat st;
	progress pg;
	int fd = STDIN_FILENO, rc, status;

	if (dst->dir) {
		/* a folder: keep the file's name */
		const char *b = base_of(src);
		size_t kl = strlen(dst->key);
		if (strcmp(src, "-") == 0 || *b == '\0') {
			fprintf(stderr, "cairn: name the object to upload to (%s%s/%s/PATH)\n",
				SCHEME, dst->ns, dst->name);
			return EXIT_USAGE;
		}
		if (kl + 1 + strlen(b) > CAIRN_CLIENT_KEY_MAX) {
			fprintf(stderr, "cairn: destination path too long\n");
			return EXIT_USAGE;
		}
		snprintf(dst->key + kl, sizeof(dst->key) - kl, "%s%s", kl ? "/" : "", b);
	}
	if (strcmp(src, "-") != 0) {
		fd = open(src, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "cairn: %s: %s\n", src, strerror(errno));
			return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
		}
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			fprintf(stderr, "cairn: %s: is a directory (cp copies one file)\n", src);
			close(fd);
			return EXIT_USAGE;
		}
	}
	if ((status = cli_client_open(&c, &o->g)) != EXIT_OK) {
		if (fd != STDIN_FILENO)
			close(fd);
		return status;
	}
	/*
	 * A regular file goes by the chunk protocol: only what the server lacks
	 * travels. A stream (stdin, a pipe) cannot be read twice, so it is sent
	 * whole and the server deduplicates it as it arrives.
	 */
	rc = CAIRN_EUNSUPPORTED;
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		progress_setup(&pg, &xo, o);
		rc = cairn_client_put_file(c, dst->ns, dst->name, dst->key, fd, &xo, &res);
		progress_end(&pg);
		if (rc == CAIRN_EUNSUPPORTED && lseek(fd, 0, SEEK_SET) != 0)
			rc = CAIRN_EIO;
	}
	if (rc == CAIRN_EUNSUPPORTED)
		rc = cairn_client_upload_fd(c, dst->ns, dst->name, dst->key, fd, &res);
	cairn_client_free(c);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc != 0)
		return cli_fail(rc, "upload failed");
	print_put(o, src, dst, &res);
	return cli_finish_output(EXIT_OK);
}

/* Where a download of src lands: dst_arg, or inside it if it is a directory. */
static int down_target(const remote *src, const char *dst_arg, char *dst, size_t cap)
{
	size_t dl = strlen(dst_arg);
	bool is_dir = dl > 0 && dst_arg[dl - 1] == '/';
	struct stat st;

	if (!is_dir && stat(dst_arg, &st) == 0 && S_ISDIR(st.st_mode))
		is_dir = true;
	if (is_dir) {
		if ((size_t)snprintf(dst, cap, "%s%s%s", dst_arg, dst_arg[dl - 1] == '/' ? "" : "/",
				     base_of(src->key)) >= cap)
			return -1;
	} else if ((size_t)snprintf(dst, cap, "%s", dst_arg) >= cap) {
		return -1;
	}
	return 0;
}

static int cp_down(const opts *o, remote *src, const char *dst_arg)
{
	char what[sizeof(SCHEME) + 2 * CAIRN_CLIENT_NAME_MAX + CAIRN_CLIENT_KEY_MAX + 4];
	cairn_client_xfer_options xo = CAIRN_CLIENT_XFER_OPTIONS_INIT;
	cairn_client_get_result res;
	char dst[PATH_MAX];
	cairn_client *c = NULL;
	uint64_t size = 0;
	progress pg;
	int rc, status;
	bool to_stdout = strcmp(dst_arg, "-") == 0;

	if (src->dir || src->key[0] == '\0') {
		fprintf(stderr, "cairn: %s%s/%s/%s names a folder; cp downloads one object\n", SCHEME,
			src->ns, src->name, src->key);
		return EXIT_USAGE;
	}
	if (!to_stdout && down_target(src, dst_arg, dst, sizeof(dst)) != 0) {
		fprintf(stderr, "cairn: destination path too long\n");
		return EXIT_USAGE;
	}
	snprintf(what, sizeof(what), "%s%s/%s/%s", SCHEME, src->ns, src->name, src->key);
	if ((status = cli_client_open(&c, &o->g)) != EXIT_OK)
		return status;
	if (to_stdout) {
		/* a stream out: the server's own verified, streaming read */
		fflush(stdout);
		rc = cairn_client_download_to_fd(c, src->ns, src->name, src->key, STDOUT_FILENO,
						 &size);
		cairn_client_free(c);
		return rc != 0 ? cli_fail(rc, what) : EXIT_OK;
	}
	/*
	 * A file: rebuilt from xorb ranges, checked against the object's file
	 * hash, and renamed into place only then (the library does all that).
	 */
	progress_setup(&pg, &xo, o);
	rc = cairn_client_get_file(c, src->ns, src->name, src->key, dst, &xo, &res);
	progress_end(&pg);
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, what);
	if (o->g.json) {
		printf("{\"path\":");
		cli_json_string(stdout, dst);
		printf(",\"size\":%" PRIu64 ",\"hash\":\"%s\",\"bytes_received\":%" PRIu64 "}\n",
		       res.size, res.hash, res.bytes_received);
	} else if (!o->g.quiet) {
		printf("downloaded %s -> %s (%" PRIu64 " bytes)\n", what, dst, res.size);
	}
	return cli_finish_output(EXIT_OK);
}

/* Bucket to bucket: the server makes dst the same file as src; no data moves. */
static int cp_remote(const opts *o, const remote *src, remote *dst)
{
	cairn_client_put_result res;
	cairn_client *c = NULL;
	int rc, status;

	if (src->dir || src->key[0] == '\0') {
		fprintf(stderr, "cairn: %s%s/%s/%s names a folder; cp copies one object\n", SCHEME,
			src->ns, src->name, src->key);
		return EXIT_USAGE;
	}
	if (dst->dir) {
		const char *b = base_of(src->key);
		size_t kl = strlen(dst->key);
		if (kl + 1 + strlen(b) > CAIRN_CLIENT_KEY_MAX) {
			fprintf(stderr, "cairn: destination path too long\n");
			return EXIT_USAGE;
		}
		snprintf(dst->key + kl, sizeof(dst->key) - kl, "%s%s", kl ? "/" : "", b);
	}
	if ((status = cli_client_open(&c, &o->g)) != EXIT_OK)
		return status;
	rc = cairn_client_copy(c, src->ns, src->name, src->key, dst->ns, dst->name, dst->key,
			       &res);
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, "copy failed");
	if (o->g.json) {
		printf("{\"path\":");
		cli_json_string(stdout, dst->key);
		printf(",\"hash\":\"%s\",\"size\":%" PRIu64 ",\"src_bucket\":", res.hash, res.size);
		{
			char sb[2 * CAIRN_CLIENT_NAME_MAX + 2];
			snprintf(sb, sizeof(sb), "%s/%s", src->ns, src->name);
			cli_json_string(stdout, sb);
		}
		printf(",\"src_path\":");
		cli_json_string(stdout, src->key);
		printf(",\"bytes_sent\":0}\n");
	} else if (!o->g.quiet) {
		printf("copied %s%s/%s/%s -> %s%s/%s/%s (%" PRIu64 " bytes, on the server)\n", SCHEME,
		       src->ns, src->name, src->key, SCHEME, dst->ns, dst->name, dst->key, res.size);
	}
	return cli_finish_output(EXIT_OK);
}

static int b_cp(int argc, char **argv)
{
	static const char usage_line[] =
		"usage: cairn buckets cp SRC DST (FILE|- -> cairn://buckets/NS/NAME/PATH, "
		"cairn://buckets/NS/NAME/PATH -> FILE|DIR|-, or bucket -> bucket) "
		"[--endpoint URL] [--token T] [--json] [--quiet]";
	bool src_remote, dst_remote;
	remote r, r2;
	opts o;
	int status;

	if ((status = parse(argc, argv, &o, "", 2, 2, usage_line)) != EXIT_OK)
		return status;
	src_remote = strncmp(o.args[0], "cairn://", 8) == 0;
	dst_remote = strncmp(o.args[1], "cairn://", 8) == 0;
	if (!src_remote && !dst_remote) {
		fprintf(stderr, "cairn: cp needs a bucket on at least one side: SRC or DST must be "
				"cairn://buckets/...\n");
		return EXIT_USAGE;
	}
	if (src_remote && dst_remote) {
		if (!parse_remote(o.args[0], false, false, &r))
			return bad_path(o.args[0], "a bucket path (cairn://buckets/NS/NAME/PATH)");
		if (!parse_remote(o.args[1], false, false, &r2))
			return bad_path(o.args[1], "a bucket path (cairn://buckets/NS/NAME/PATH)");
		return cp_remote(&o, &r, &r2);
	}
	if (!parse_remote(o.args[src_remote ? 0 : 1], false, false, &r))
		return bad_path(o.args[src_remote ? 0 : 1],
				"a bucket path (cairn://buckets/NS/NAME/PATH)");
	return src_remote ? cp_down(&o, &r, o.args[1]) : cp_up(&o, o.args[0], &r);
}

typedef struct rm_ctx {
	cairn_client *c;
	const opts *o;
	const remote *r;
	char **keys; /* rm -R: what the listing selected */
	size_t n, cap;
	int rc;
} rm_ctx;

/* Print one deletion (done or, with --dry-run, planned). */
static void rm_said(const rm_ctx *x, const char *key)
{
	if (x->o->g.json) {
		printf("{\"path\":");
		cli_json_string(stdout, key);
		printf(",\"deleted\":%s}\n", x->o->dry_run ? "false" : "true");
	} else if (!x->o->g.quiet || x->o->dry_run) {
		printf("%s %s%s/%s/", x->o->dry_run ? "would delete" : "deleted", SCHEME, x->r->ns,
		       x->r->name);
		cli_text_path(stdout, key);
		fputc('\n', stdout);
	}
}

/* An object under the folder: keep it if the filters select its path below the folder. */
static int rm_entry(void *ctx, const cairn_client_entry *e)
{
	rm_ctx *x = ctx;
	size_t pl = strlen(x->r->key);
	const char *rel = e->path + (pl ? pl + 1 : 0);

	if (e->is_dir || !cairn_filter_selects(x->o->filter, rel))
		return 0;
	if (x->n == x->cap) {
		size_t ncap = x->cap ? 2 * x->cap : 256;
		char **nk = realloc(x->keys, ncap * sizeof(*nk));
		if (nk == NULL)
			return x->rc = CAIRN_ENOMEM;
		x->keys = nk;
		x->cap = ncap;
	}
	if ((x->keys[x->n] = strdup(e->path)) == NULL)
		return x->rc = CAIRN_ENOMEM;
	x->n++;
	return 0;
}

static int stop_at_first(void *ctx, const cairn_client_entry *e)
{
	(void)ctx;
	(void)e;
	return 1;
}

static int b_rm(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn buckets rm cairn://buckets/NS/NAME/PATH "
					 "[-R] [--include PATTERN]... [--exclude PATTERN]... "
					 "[--dry-run] [--endpoint URL] [--token T] [--json] [--quiet]";
	cairn_client *c = NULL;
	rm_ctx x;
	remote r;
	opts o;
	int rc = 0, status;

	if ((status = parse(argc, argv, &o, "Rnix", 1, 1, usage_line)) != EXIT_OK)
		return status;
	memset(&x, 0, sizeof(x));
	if (!parse_remote(o.args[0], true, false, &r)) {
		status = bad_path(o.args[0], "a bucket path (cairn://buckets/NS/NAME/PATH)");
		goto out;
	}
	if (!o.recursive && (r.dir || r.key[0] == '\0')) {
		fprintf(stderr, "cairn: %s names a folder: use -R to delete what is under it\n",
			o.args[0]);
		status = EXIT_USAGE;
		goto out;
	}
	if (!o.recursive && o.filter) {
		fprintf(stderr, "cairn: --include and --exclude choose among the objects of a "
				"folder: use -R\n");
		status = EXIT_USAGE;
		goto out;
	}
	if ((status = with_client(&o, &c)) != EXIT_OK)
		goto out;
	x.c = c;
	x.o = &o;
	x.r = &r;
	if (o.recursive) {
		/* list first, then delete in batches: one request per 10,000 objects */
		rc = cairn_client_list(c, r.ns, r.name, r.key, true, rm_entry, &x);
		if (rc == 0)
			rc = x.rc;
		if (rc == 0 && x.n == 0) {
			fflush(stdout);
			fprintf(stderr, "cairn: no objects under %s%s\n", o.args[0],
				o.filter ? " that the filters select" : "");
			status = EXIT_NOTFOUND;
			goto out;
		}
		if (rc == 0 && !o.dry_run)
			rc = cairn_client_delete_many(c, r.ns, r.name, (const char *const *)x.keys, x.n,
						      NULL);
		for (size_t i = 0; rc == 0 && i < x.n; i++)
			rm_said(&x, x.keys[i]);
	} else {
		if (!o.dry_run)
			rc = cairn_client_delete_object(c, r.ns, r.name, r.key);
		if (rc == CAIRN_ENOTFOUND &&
		    cairn_client_list(c, r.ns, r.name, r.key, false, stop_at_first, NULL) == 1) {
			fprintf(stderr, "cairn: %s names a folder: use -R to delete what is under it\n",
				o.args[0]);
			status = EXIT_USAGE;
			goto out;
		}
		if (rc == 0)
			rm_said(&x, r.key);
	}
	if (rc != 0) {
		fflush(stdout);
		status = cli_fail(rc, o.args[0]);
	} else {
		status = cli_finish_output(EXIT_OK);
	}
out:
	for (size_t i = 0; i < x.n; i++)
		free(x.keys[i]);
	free(x.keys);
	cairn_client_free(c);
	cairn_filter_free(o.filter);
	return status;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subs[] = {
	{"create", b_create, "create a bucket: [NS/]NAME [--private] [--exist-ok]"},
	{"list", b_list, "list the buckets you can see: [NAMESPACE]"},
	{"info", b_info, "a bucket's settings and stats: NS/NAME"},
	{"delete", b_delete, "delete a bucket: NS/NAME [--yes] [--missing-ok] [--force]"},
	{"settings", b_settings, "visibility and keep-warm regions: NS/NAME [--private|--public] "
				 "[--regions A,B]"},
	{"prewarm", b_prewarm, "stage data on a region's cache node: NS/NAME[/PREFIX] [--wait] "
			       "(or --status JOB, --release JOB)"},
	{"ls", b_ls, "list objects: cairn://buckets/NS/NAME[/FOLDER] [-R] [-h]"},
	{"cp", b_cp, "upload, download or copy one file: SRC DST ('-' for stdin/stdout)"},
	{"rm", b_rm, "delete objects: cairn://buckets/NS/NAME/PATH [-R] [--include P] "
		     "[--exclude P] [--dry-run]"},
	{"sync", cmd_buckets_sync, "make DST like SRC, moving only what differs: SRC DST "
				   "[--delete] [--dry-run | --plan FILE] ... (or --apply FILE)"},
};

static void buckets_usage(FILE *f)
{
	fprintf(f, "usage: cairn buckets <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		fprintf(f, "  %-9s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nevery command takes --endpoint URL, --token TOKEN, --region NAME, --json, "
		   "--quiet\n"
		   "exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 auth/permission\n");
}

int cmd_buckets(int argc, char **argv)
{
	if (argc < 2) {
		buckets_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		buckets_usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown buckets command '%s'\n", argv[1]);
	buckets_usage(stderr);
	return EXIT_USAGE;
}
