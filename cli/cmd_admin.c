/*
 * cmd_admin.c - `cairn admin`: maintenance of a data directory.
 *
 *   cairn admin gc    [--data DIR] [--grace SECONDS]   reclaim unreferenced data
 *   cairn admin fsck  [--data DIR]                     verify everything; exit 1 on faults
 *   cairn admin stats [--data DIR] [--json]            what the store holds
 *   cairn admin recompress [--data DIR] [--min-age S] [--level N] [--json]
 *                                                      cold xorbs in the stronger form
 *   cairn admin users create NAME [--data DIR]         add a user (and its namespace)
 *   cairn admin tokens create --user U --scope S [--data DIR]
 *                                                      issue a token (printed once)
 *   cairn admin tokens revoke TOKEN [--data DIR]       revoke a token
 *   cairn admin keys create [--user U] [--data DIR]    an S3 access key (the secret printed once)
 *   cairn admin keys revoke ACCESS_KEY_ID [--data DIR] revoke an S3 access key
 *   cairn admin regions add NAME URL [--data DIR]     a region's cache node (its key printed once)
 *   cairn admin regions list [--json] [--data DIR]
 *   cairn admin regions remove NAME [--data DIR]
 *
 * DIR defaults to $CAIRN_DATA, else ./var (where `cairn serve` keeps data).
 */
#include "cli.h"

#include "cairn/sys/store.h"
#include "token.h"

#include "cairn/errors.h"
#include "cairn/repo.h"

#include <errno.h>
#include <getopt.h>
#include <sys/random.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct admin_args {
	const char *data;
	int64_t grace_s; /* gc's --grace, recompress's --min-age */
	int level;       /* recompress --level */
	bool json;
	const char *user, *scope; /* tokens create */
	const char *arg;          /* the one positional argument, if wanted */
} admin_args;

/* parse's want_arg: whether a command takes one positional argument */
static int parse_args(int argc, char **argv, admin_args *a, const char *usage_line,
		      bool want_arg)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"grace", required_argument, NULL, 'g'},
		{"min-age", required_argument, NULL, 'g'},
		{"level", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"user", required_argument, NULL, 'u'},
		{"scope", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	a->data = getenv("CAIRN_DATA");
	if (a->data == NULL || *a->data == '\0')
		a->data = "var";
	a->grace_s = 3600;
	a->level = 0;
	a->json = false;
	a->user = a->scope = a->arg = NULL;
	optind = 1;
	opterr = 0;
	int li = -1;

	while ((c = getopt_long(argc, argv, ":d:g:l:ju:s:h", longopts, &li)) != -1) {
		switch (c) {
		case 'u':
			a->user = optarg;
			break;
		case 's':
			a->scope = optarg;
			break;
		case 'd':
			a->data = optarg;
			break;
		case 'g': {
			char *end;
			long long v = strtoll(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' || v > 365ll * 86400) {
				fprintf(stderr, "cairn: --%s wants seconds (0..31536000), got '%s'\n",
					li >= 0 ? longopts[li].name : "grace", optarg);
				return EXIT_USAGE;
			}
			a->grace_s = v;
			break;
		}
		case 'l': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' || v < 1 || v > 22) {
				fprintf(stderr, "cairn: --level wants 1..22, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			a->level = (int)v;
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
	if (want_arg && optind < argc)
		a->arg = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "cairn: unexpected argument '%s' (%s)\n", argv[optind], usage_line);
		return EXIT_USAGE;
	}
	if (want_arg && a->arg == NULL) {
		fprintf(stderr, "cairn: missing argument (%s)\n", usage_line);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int parse(int argc, char **argv, admin_args *a, const char *usage_line)
{
	int rc = parse_args(argc, argv, a, usage_line, false);

	if (rc == EXIT_OK && (a->user || a->scope)) {
		fprintf(stderr, "cairn: --user and --scope are for 'tokens create' (%s)\n",
			usage_line);
		return EXIT_USAGE;
	}
	return rc;
}

static int open_repo(cairn_repo **r, const char *dir)
{
	if (cairn_repo_open(r, dir) < 0) {
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- migrate: a data directory to PostgreSQL and an S3 store ---------------------------------- */

static void meta_progress(void *ctx, const char *table, uint64_t rows)
{
	(void)ctx;
	fprintf(stderr, "\rmetadata: %-18s %" PRIu64 " rows", table, rows);
}

static void store_progress(void *ctx, const cairn_store_copy_result *r, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\rxorbs: %" PRIu64 " of %" PRIu64 " (%" PRIu64 " copied, %" PRIu64
			" there already, %.1f MB)",
		r->copied + r->skipped, total, r->copied, r->skipped, (double)r->bytes / 1e6);
}

static int admin_migrate(int argc, char **argv)
{
	static const char usage[] =
		"usage: cairn admin migrate [--data DIR] [--to-meta postgres://...] "
		"[--to-store s3://BUCKET[/PREFIX] [--s3-endpoint URL] [--s3-credentials FILE]]";
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"to-meta", required_argument, NULL, 'm'},
		{"to-store", required_argument, NULL, 's'},
		{"s3-endpoint", required_argument, NULL, 'e'},
		{"s3-credentials", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *data = getenv("CAIRN_DATA"), *to_meta = NULL, *to_store = NULL;
	const char *endpoint = NULL, *creds = NULL;
	char path[4096];
	bool tty = isatty(STDERR_FILENO);
	int c, rc;

	if (data == NULL || *data == '\0')
		data = "var";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:m:s:e:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'm': to_meta = optarg; break;
		case 's': to_store = optarg; break;
		case 'e': endpoint = optarg; break;
		case 'c': creds = optarg; break;
		case 'h': printf("%s\n", usage); return EXIT_OK;
		default:
			fprintf(stderr, "cairn: %s '%s' (%s)\n",
				c == ':' ? "option needs a value" : "unknown option", argv[optind - 1],
				usage);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (to_meta == NULL && to_store == NULL)) {
		fprintf(stderr, "cairn: give --to-meta, --to-store or both (%s)\n", usage);
		return EXIT_USAGE;
	}
	/* the xorbs first: metadata in PostgreSQL must never name a xorb the store lacks */
	if (to_store) {
		cairn_store *from = NULL, *to = NULL;
		cairn_store_copy_result r;

		snprintf(path, sizeof(path), "%s/xorbs", data);
		if ((rc = cairn_store_local_open(&from, path)) != 0 ||
		    (rc = cairn_store_open_url(&to, to_store, endpoint, creds)) != 0) {
			fprintf(stderr, "cairn: migrate: %s\n", cairn_error_last());
			if (from)
				from->close(from);
			return EXIT_FAIL;
		}
		rc = cairn_store_copy(from, to, tty ? store_progress : NULL, NULL, &r);
		if (tty)
			fputc('\n', stderr);
		from->close(from);
		to->close(to);
		if (rc != 0) {
			fprintf(stderr, "cairn: migrate: %s (run it again to go on)\n",
				cairn_error_last());
			return EXIT_FAIL;
		}
		printf("xorbs: %" PRIu64 " in %s/xorbs: %" PRIu64 " copied (%" PRIu64
		       " bytes, each checked), %" PRIu64 " there already\n",
		       r.total, data, r.copied, r.bytes, r.skipped);
	}
	if (to_meta) {
		snprintf(path, sizeof(path), "%s/cairn.db", data);
		rc = cairn_meta_copy_to_pg(path, to_meta, tty ? meta_progress : NULL, NULL);
		if (tty)
			fputc('\n', stderr);
		if (rc != 0) {
			fprintf(stderr, "cairn: migrate: %s\n", cairn_error_last());
			return EXIT_FAIL;
		}
		printf("metadata: %s copied to PostgreSQL, every table's rows counted on both "
		       "sides\n",
		       path);
	}
	return cli_finish_output(EXIT_OK);
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

static void recompress_progress(void *ctx, const cairn_recompress_result *so_far)
{
	bool *tty = ctx;

	if (*tty)
		fprintf(stderr, "\rrecompress: %" PRIu64 " xorbs, %.1f MB -> %.1f MB", so_far->xorbs,
			(double)so_far->bytes_before / 1e6, (double)so_far->bytes_after / 1e6);
}

static int admin_recompress(int argc, char **argv)
{
	admin_args a;
	cairn_repo *r;
	cairn_recompress_options o = {CAIRN_RECOMPRESS_OPTIONS_VERSION, 0, 0, 0, NULL, NULL, NULL,
				      NULL, NULL};
	cairn_recompress_result res;
	bool tty = isatty(2);
	int rc = parse(argc, argv, &a,
		       "usage: cairn admin recompress [--data DIR] [--min-age SECONDS] "
		       "[--level 1..22] [--json]");

	if (rc != EXIT_OK || (rc = open_repo(&r, a.data)) != EXIT_OK)
		return rc;
	o.min_age_ns = a.grace_s * 1000000000ll;
	o.level = a.level;
	o.progress = recompress_progress;
	o.progress_ctx = &tty;
	rc = cairn_repo_recompress(r, &o, &res);
	if (tty && res.xorbs)
		fputc('\n', stderr);
	cairn_repo_close(r);
	if (rc < 0) {
		fprintf(stderr, "cairn: recompress: %s\n", cairn_error_last());
		return EXIT_FAIL;
	}
	if (a.json)
		printf("{\"xorbs\": %" PRIu64 ", \"rewritten\": %" PRIu64 ", \"kept\": %" PRIu64
		       ", \"bytes_before\": %" PRIu64 ", \"bytes_after\": %" PRIu64
		       ", \"raw_bytes\": %" PRIu64 "}\n",
		       res.xorbs, res.rewritten, res.kept, res.bytes_before, res.bytes_after,
		       res.raw_bytes);
	else
		printf("recompress: %" PRIu64 " xorbs examined, %" PRIu64 " rewritten, %" PRIu64
		       " kept; %" PRIu64 " bytes -> %" PRIu64 " bytes (%" PRIu64 " raw)\n",
		       res.xorbs, res.rewritten, res.kept, res.bytes_before, res.bytes_after,
		       res.raw_bytes);
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
		       ", \"dedup_bytes\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
		       ", \"chunks\": %" PRIu64 ", \"xorbs\": %" PRIu64 "}\n",
		       st.objects, st.logical_bytes, st.dedup_bytes, st.stored_bytes, st.chunks,
		       st.xorbs);
	else
		printf("objects %" PRIu64 "\nlogical bytes %" PRIu64 "\ndeduplicated bytes %" PRIu64
		       "\nstored bytes %" PRIu64 "\nchunks %" PRIu64 "\nxorbs %" PRIu64 "\n",
		       st.objects, st.logical_bytes, st.dedup_bytes, st.stored_bytes, st.chunks,
		       st.xorbs);
	return cli_finish_output(EXIT_OK);
}

/* ---- users and tokens --------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The metadata of a data directory (created if needed), for a write. */
static int open_meta(cairn_meta **m, const char *dir)
{
	cairn_repo *r;

	if (open_repo(&r, dir) != EXIT_OK) /* creates the directory the first time */
		return EXIT_FAIL;
	cairn_repo_close(r);
	/* $CAIRN_META: the PostgreSQL a server runs with --meta */
	if (cairn_meta_open(m, dir) < 0) {
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
		return EXIT_FAIL;
	}
	if ((*m)->begin(*m, true) < 0) {
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
		(*m)->close(*m);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* Commit (if rc is 0) or roll back, close; one line on failure. */
static int close_meta(cairn_meta *m, int rc, const char *what)
{
	if (rc == 0)
		rc = m->commit(m);
	else
		m->rollback(m);
	if (rc < 0)
		fprintf(stderr, "cairn: %s: %s\n", what, cairn_error_last());
	m->close(m);
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static int admin_users(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn admin users create NAME [--data DIR]";
	admin_args a;
	cairn_meta *m;
	int rc;

	if (argc < 2 || strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "%s\n", usage_line);
		return EXIT_USAGE;
	}
	if ((rc = parse_args(argc - 1, argv + 1, &a, usage_line, true)) != EXIT_OK)
		return rc;
	if (a.user || a.scope) {
		fprintf(stderr, "cairn: unexpected option (%s)\n", usage_line);
		return EXIT_USAGE;
	}
	if ((rc = open_meta(&m, a.data)) != EXIT_OK)
		return rc;
	rc = close_meta(m, m->user_create(m, a.arg, now_ns(), NULL), "users create");
	if (rc == EXIT_OK)
		printf("user %s created\n", a.arg);
	return cli_finish_output(rc);
}

static int admin_tokens(int argc, char **argv)
{
	static const char usage_create[] =
		"usage: cairn admin tokens create --user USER --scope read|write|admin [--data DIR]";
	static const char usage_revoke[] = "usage: cairn admin tokens revoke TOKEN [--data DIR]";
	char token[CAIRN_TOKEN_LEN + 1];
	uint8_t hash[32];
	admin_args a;
	cairn_meta *m;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage_create, false)) != EXIT_OK)
			return rc;
		if (a.user == NULL || a.scope == NULL) {
			fprintf(stderr, "cairn: --user and --scope are needed (%s)\n", usage_create);
			return EXIT_USAGE;
		}
		if (strcmp(a.scope, "read") != 0 && strcmp(a.scope, "write") != 0 &&
		    strcmp(a.scope, "admin") != 0) {
			fprintf(stderr, "cairn: --scope is read, write or admin, not '%s'\n", a.scope);
			return EXIT_USAGE;
		}
		if (cairn_token_generate(token, hash) != 0) {
			fprintf(stderr, "cairn: no randomness for a token\n");
			return EXIT_FAIL;
		}
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->token_create(m, a.user, a.scope, hash, now_ns()),
				"tokens create");
		if (rc == EXIT_OK)
			printf("%s\n", token);
		return cli_finish_output(rc);
	}
	if (argc >= 2 && strcmp(argv[1], "revoke") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage_revoke, true)) != EXIT_OK)
			return rc;
		if (a.user || a.scope) {
			fprintf(stderr, "cairn: unexpected option (%s)\n", usage_revoke);
			return EXIT_USAGE;
		}
		if (cairn_token_hash(hash, a.arg, strlen(a.arg)) != 0) {
			fprintf(stderr, "cairn: '%s' is not a token (cairn_ and 64 hex digits)\n",
				a.arg);
			return EXIT_USAGE;
		}
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->token_revoke(m, hash, now_ns()), "tokens revoke");
		if (rc == EXIT_OK)
			printf("token revoked\n");
		return cli_finish_output(rc);
	}
	fprintf(stderr, "%s\n%s\n", usage_create, usage_revoke);
	return EXIT_USAGE;
}

/* ---- S3 access keys ------------------------------------------------------------------ */

/* n characters drawn from alphabet (of 32 or 64 letters: no modulo bias), from getrandom. */
static int random_text(char *out, size_t n, const char *alphabet, size_t an)
{
	uint8_t raw[64];
	size_t got = 0;

	if (n > sizeof(raw))
		return -1;
	while (got < n) {
		ssize_t k = getrandom(raw + got, n - got, 0);
		if (k < 0 && errno != EINTR)
			return -1;
		if (k > 0)
			got += (size_t)k;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[raw[i] % an];
	out[n] = '\0';
	memset(raw, 0, sizeof(raw));
	return 0;
}

static int admin_keys(int argc, char **argv)
{
	static const char usage_create[] = "usage: cairn admin keys create [--user USER] [--data DIR]";
	static const char usage_revoke[] = "usage: cairn admin keys revoke ACCESS_KEY_ID [--data DIR]";
	/* AWS's shapes: a 20-character id, a 40-character secret */
	static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char secret_chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char id[21], secret[41];
	admin_args a;
	cairn_meta *m;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage_create, false)) != EXIT_OK)
			return rc;
		if (a.scope) {
			fprintf(stderr, "cairn: unexpected option (%s)\n", usage_create);
			return EXIT_USAGE;
		}
		memcpy(id, "CAIRN", 5);
		if (random_text(id + 5, 15, id_chars, 32) != 0 || random_text(secret, 40, secret_chars, 64) != 0) {
			fprintf(stderr, "cairn: no randomness for a key\n");
			return EXIT_FAIL;
		}
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->s3key_create(m, a.user ? a.user : "admin", id, secret, now_ns()),
				"keys create");
		if (rc == EXIT_OK) {
			if (a.json)
				printf("{\"user\":\"%s\",\"access_key_id\":\"%s\",\"secret_access_key\":\"%s\"}\n",
				       a.user ? a.user : "admin", id, secret);
			else
				printf("access key id:     %s\nsecret access key: %s\n", id, secret);
		}
		memset(secret, 0, sizeof(secret));
		return cli_finish_output(rc);
	}
	if (argc >= 2 && strcmp(argv[1], "revoke") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage_revoke, true)) != EXIT_OK)
			return rc;
		if (a.user || a.scope) {
			fprintf(stderr, "cairn: unexpected option (%s)\n", usage_revoke);
			return EXIT_USAGE;
		}
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->s3key_revoke(m, a.arg, now_ns()), "keys revoke");
		if (rc == EXIT_OK)
			printf("key revoked\n");
		return cli_finish_output(rc);
	}
	fprintf(stderr, "%s\n%s\n", usage_create, usage_revoke);
	return EXIT_USAGE;
}

/* ---- regions (cache nodes) -------------------------------------------------------------- */

static int print_region(void *ctx, const char *name, const char *url, int64_t created_ns)
{
	bool *json = ctx;

	(void)created_ns;
	if (*json)
		printf("{\"name\":\"%s\",\"url\":\"%s\"}\n", name, url);
	else
		printf("%-24s %s\n", name, url);
	return 0;
}

static int admin_regions(int argc, char **argv)
{
	static const char usage[] = "usage: cairn admin regions add NAME URL | list [--json] | "
				    "remove NAME   [--data DIR]";
	uint8_t secret[32];
	char hex[65];
	admin_args a;
	cairn_meta *m;
	int rc;

	if (argc >= 4 && strcmp(argv[1], "add") == 0) {
		if ((rc = parse_args(argc - 3, argv + 3, &a, usage, false)) != EXIT_OK)
			return rc;
		if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
			fprintf(stderr, "cairn: no randomness for a key\n");
			return EXIT_FAIL;
		}
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->region_create(m, argv[2], argv[3], secret, now_ns()),
				"regions add");
		if (rc == EXIT_OK) {
			for (size_t i = 0; i < 32; i++)
				snprintf(hex + 2 * i, 3, "%02x", secret[i]);
			printf("region %s at %s\nregion key: %s\n(put it in the node's DATA/region-key, "
			       "or pass --region-key FILE to its cairn serve; shown only this once)\n",
			       argv[2], argv[3], hex);
		}
		memset(secret, 0, sizeof(secret));
		return cli_finish_output(rc);
	}
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage, false)) != EXIT_OK)
			return rc;
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->region_list(m, print_region, &a.json), "regions list");
		return cli_finish_output(rc);
	}
	if (argc >= 2 && strcmp(argv[1], "remove") == 0) {
		if ((rc = parse_args(argc - 1, argv + 1, &a, usage, true)) != EXIT_OK)
			return rc;
		if ((rc = open_meta(&m, a.data)) != EXIT_OK)
			return rc;
		rc = close_meta(m, m->region_delete(m, a.arg), "regions remove");
		if (rc == EXIT_OK)
			printf("region %s removed\n", a.arg);
		return cli_finish_output(rc);
	}
	fprintf(stderr, "%s\n", usage);
	return EXIT_USAGE;
}

int cmd_admin(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {{"gc", admin_gc},	    {"fsck", admin_fsck},     {"stats", admin_stats},
	    {"recompress", admin_recompress},
		    {"users", admin_users}, {"tokens", admin_tokens},   {"keys", admin_keys},
		    {"regions", admin_regions}, {"migrate", admin_migrate}};

	if (argc < 2) {
		fprintf(stderr, "usage: cairn admin gc|fsck|stats|recompress|users|tokens|keys|regions|migrate [options]\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown admin command '%s' (gc, fsck, stats, recompress, users, tokens, keys, regions, migrate)\n", argv[1]);
	return EXIT_USAGE;
}
