/*
 * serve.c - the `cairn serve` command: options, the data directory, the
 * first admin token, signals; the HTTP side is in http.c.
 *
 *   cairn serve [--listen HOST:PORT] [--data DIR] [--threads N] [--port-file FILE]
 *               [--upload-memory MIB] [--s3-listen HOST:PORT] [--s3-port-file FILE]
 *               [--region NAME --origin URL [--cache-size BYTES] [--region-key FILE]
 *                [--origin-s3 URL]]
 *               [--store s3://BUCKET[/PREFIX] [--s3-endpoint URL] [--s3-credentials FILE]]
 *               [--meta postgres://...] [--per-ip-connections N] [--max-connections N]
 *               [--idle-timeout S] [--header-timeout S]
 *
 * HOST:PORT defaults to 127.0.0.1:8700 (port 0: any free port, written to
 * FILE by --port-file); DIR to $CAIRN_DATA, else ./var. MIB (default
 * 1024) bounds the memory uploads in flight may hold together; past it
 * they are answered 503 SlowDown and clients retry. --s3-listen starts the
 * S3-compatible front (s3.c) on a port of its own. --region makes this
 * server a cache node of that region for the origin at URL (cache.c):
 * BYTES (default 10G; K, M, G, T suffixes) bounds what it keeps beyond the
 * xorbs pre-warm jobs pin; FILE (default DIR/region-key) holds the key
 * `cairn admin regions add` printed. A node's --s3-listen is a read-only S3
 * front that sends each request on to the origin's S3 front at
 * --origin-s3 and serves object bytes from the cache (node_s3.c).
 * --store keeps the xorbs in an S3-compatible store instead of DIR/xorbs
 * (lib/store/store_s3.c); the same as $CAIRN_STORE, $CAIRN_S3_ENDPOINT and
 * $CAIRN_S3_CREDENTIALS, which `cairn admin` reads. --meta keeps the
 * metadata in PostgreSQL ($CAIRN_META) instead of DIR/cairn.db.
 * --per-ip-connections (default 256; 0: no limit), --max-connections
 * (default 1000, for each front), --idle-timeout (seconds without a byte,
 * default 120) and --header-timeout (seconds for a request's line and
 * headers, default 60) bound connections (conn.c); docs/limits.md lists
 * every limit.
 */
#include "server.h"
#include "server_int.h"
#include "token.h"

#include "cairn/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define USAGE                                                                            \
	"usage: cairn serve [--listen HOST:PORT] [--data DIR] [--threads N] [--port-file FILE] " \
	"[--upload-memory MIB] [--s3-listen HOST:PORT] [--s3-port-file FILE] "                 \
	"[--region NAME --origin URL [--cache-size BYTES] [--region-key FILE] [--origin-s3 URL]] "   \
	"[--store s3://BUCKET[/PREFIX] [--s3-endpoint URL] [--s3-credentials FILE]] "         \
	"[--meta postgres://...] [--per-ip-connections N] [--max-connections N] "              \
	"[--idle-timeout S] [--header-timeout S] "                                             \
	"[--recompress-every SECONDS] [--recompress-after SECONDS] [--recompress-level 1..22]"

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A whole number lo..hi from the option opt's value s into *out; false (said) if not. */
static bool num_arg(const char *s, const char *opt, long lo, long hi, const char *what,
		    unsigned *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "cairn: %s wants %ld..%ld%s, got '%s'\n", opt, lo, hi, what, s);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* Write the token to path, readable by its owner only. */
static int write_secret(const char *path, const char *token)
{
	char tmp[4096];
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = fchmod(fd, 0600) == 0 && write(fd, token, strlen(token)) == (ssize_t)strlen(token) &&
	     write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * With no users yet: create "admin" and an admin token, print it once and
 * keep it in DIR/admin-token (mode 0600). In one write transaction, so two
 * servers starting at once create one admin.
 */
static int bootstrap(const char *dir)
{
	char path[4096], tpath[4096], token[CAIRN_TOKEN_LEN + 1];
	uint8_t hash[32];
	cairn_repo *r = NULL;
	cairn_meta *m = NULL;
	uint64_t users = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	snprintf(tpath, sizeof(tpath), "%s/admin-token", dir);
	if ((rc = cairn_repo_open(&r, dir)) != 0 || (rc = cairn_meta_open(&m, dir)) != 0) {
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
		cairn_repo_close(r);
		return rc;
	}
	cairn_repo_close(r);
	if ((rc = m->begin(m, true)) != 0)
		goto done;
	if ((rc = m->user_count(m, &users)) != 0 || users > 0) {
		m->rollback(m);
		goto done;
	}
	if (cairn_token_generate(token, hash) != 0) {
		m->rollback(m);
		fprintf(stderr, "cairn: no randomness for a token: %s\n", strerror(errno));
		rc = CAIRN_EIO;
		goto out;
	}
	if ((rc = m->user_create(m, "admin", now_ns(), NULL)) != 0 ||
	    (rc = m->token_create(m, "admin", "admin", hash, now_ns())) != 0) {
		m->rollback(m);
		goto done;
	}
	if (write_secret(tpath, token) != 0) {
		m->rollback(m);
		fprintf(stderr, "cairn: cannot write %s: %s\n", tpath, strerror(errno));
		rc = CAIRN_EIO;
		goto out;
	}
	if ((rc = m->commit(m)) != 0) {
		unlink(tpath);
		goto done;
	}
	printf("admin token: %s\n", token);
	printf("(kept in %s; shown only this once)\n", tpath);
	fflush(stdout);
done:
	if (rc != 0)
		fprintf(stderr, "cairn: %s: %s\n", dir, cairn_error_last());
out:
	m->close(m);
	return rc;
}

/* HOST:PORT ("[::1]:8700" too) into host and *port (pointing into s). 0, or -1 said. */
static int split_listen(const char *s, const char *opt, char *host, size_t cap, const char **port)
{
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0' || (hl = (size_t)(colon - s)) == 0 || hl >= cap) {
		fprintf(stderr, "cairn: %s wants HOST:PORT, got '%s'\n", opt, s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:8700 */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	*port = colon + 1;
	return 0;
}

int cairn_server_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"data", required_argument, NULL, 'd'},
		{"threads", required_argument, NULL, 't'},
		{"port-file", required_argument, NULL, 'p'},
		{"upload-memory", required_argument, NULL, 'm'},
		{"s3-listen", required_argument, NULL, 's'},
		{"s3-port-file", required_argument, NULL, 'S'},
		{"region", required_argument, NULL, 'r'},
		{"origin", required_argument, NULL, 'o'},
		{"cache-size", required_argument, NULL, 'c'},
		{"region-key", required_argument, NULL, 'k'},
		{"origin-s3", required_argument, NULL, 'O'},
		{"store", required_argument, NULL, 'X'},
		{"meta", required_argument, NULL, 'M'},
		{"per-ip-connections", required_argument, NULL, 'I'},
		{"max-connections", required_argument, NULL, 'N'},
		{"idle-timeout", required_argument, NULL, 'T'},
		{"header-timeout", required_argument, NULL, 'H'},
		{"s3-endpoint", required_argument, NULL, 'e'},
		{"s3-credentials", required_argument, NULL, 'C'},
		{"recompress-every", required_argument, NULL, 1001},
		{"recompress-after", required_argument, NULL, 1002},
		{"recompress-level", required_argument, NULL, 1003},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	cairn_server_config cfg = {NULL, "127.0.0.1", "8700", 4, NULL, 1024, NULL, NULL, NULL,
				   NULL, NULL, NULL, UINT64_C(10) << 30, NULL,
				   /* recompression: every 10 minutes, xorbs unused for a day */
				   600, 86400, 0};
	char s3host[256];
	const char *s3listen = NULL;
	char host[256];
	const char *listen = NULL;
	sigset_t set;
	int c, rc;

	cfg.data_dir = getenv("CAIRN_DATA");
	if (cfg.data_dir == NULL || *cfg.data_dir == '\0')
		cfg.data_dir = "var";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:d:t:p:m:s:S:r:o:c:k:O:X:M:I:N:T:H:e:C:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 256) {
				fprintf(stderr, "cairn: --threads wants 1..256, got '%s'\n", optarg);
				return 2;
			}
			cfg.threads = (unsigned)v;
			break;
		}
		case 'p':
			cfg.port_file = optarg;
			break;
		case 's':
			s3listen = optarg;
			break;
		case 'S':
			cfg.s3_port_file = optarg;
			break;
		case 'm': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 128 || v > 1048576) {
				fprintf(stderr, "cairn: --upload-memory wants 128..1048576 (MiB), got '%s'\n",
					optarg);
				return 2;
			}
			cfg.upload_memory_mib = (unsigned)v;
			break;
		}
		case 'r':
			cfg.region = optarg;
			break;
		case 'o':
			cfg.origin = optarg;
			break;
		case 'k':
			cfg.region_key = optarg;
			break;
		case 'O':
			cfg.origin_s3 = optarg;
			break;
		case 'X': /* the engine opens its store from the environment (cairn_repo_open) */
			setenv("CAIRN_STORE", optarg, 1);
			break;
		case 'e':
			setenv("CAIRN_S3_ENDPOINT", optarg, 1);
			break;
		case 1001: {
			unsigned v;
			if (!num_arg(optarg, "--recompress-every", 0, 30L * 86400, " (seconds, 0: off)",
				     &v))
				return 2;
			cfg.recompress_every_s = v;
			break;
		}
		case 1002: {
			unsigned v;
			if (!num_arg(optarg, "--recompress-after", 0, 365L * 86400, " (seconds)", &v))
				return 2;
			cfg.recompress_age_s = v;
			break;
		}
		case 1003: {
			unsigned v;
			if (!num_arg(optarg, "--recompress-level", 1, 22, "", &v))
				return 2;
			cfg.recompress_level = (int)v;
			break;
		}
		case 'I':
			if (!num_arg(optarg, "--per-ip-connections", 0, 100000, " (0: no limit)",
				     &cairn__per_ip_connections))
				return 2;
			break;
		case 'N':
			if (!num_arg(optarg, "--max-connections", 1, 100000, "",
				     &cairn__max_connections))
				return 2;
			break;
		case 'T':
			if (!num_arg(optarg, "--idle-timeout", 1, 86400, " (seconds)",
				     &cairn__idle_timeout_s))
				return 2;
			break;
		case 'H':
			if (!num_arg(optarg, "--header-timeout", 1, 86400, " (seconds)",
				     &cairn__header_timeout_s))
				return 2;
			break;
		case 'M': /* so is the metadata (cairn_meta_open) */
			setenv("CAIRN_META", optarg, 1);
			break;
		case 'C':
			setenv("CAIRN_S3_CREDENTIALS", optarg, 1);
			break;
		case 'c': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			unsigned shift = 0;
			if (*end == 'K' || *end == 'k')
				shift = 10;
			else if (*end == 'M' || *end == 'm')
				shift = 20;
			else if (*end == 'G' || *end == 'g')
				shift = 30;
			else if (*end == 'T' || *end == 't')
				shift = 40;
			if (shift)
				end++;
			if (*optarg == '\0' || *optarg == '-' || *end != '\0' || v == 0 ||
			    v > (UINT64_MAX >> shift)) {
				fprintf(stderr, "cairn: --cache-size wants bytes (K, M, G, T suffixes), "
						"got '%s'\n",
					optarg);
				return 2;
			}
			cfg.cache_size = (uint64_t)v << shift;
			break;
		}
		case 'h':
			printf("%s\n", USAGE);
			return 0;
		case ':':
			fprintf(stderr, "cairn: option '%s' needs a value (%s)\n", argv[optind - 1],
				USAGE);
			return 2;
		default:
			fprintf(stderr, "cairn: unknown option '%s' (%s)\n", argv[optind - 1], USAGE);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "cairn: unexpected argument '%s' (%s)\n", argv[optind], USAGE);
		return 2;
	}
	if (listen != NULL && split_listen(listen, "--listen", host, sizeof(host), &cfg.port) != 0)
		return 2;
	if (listen != NULL)
		cfg.host = host;
	if (s3listen != NULL &&
	    split_listen(s3listen, "--s3-listen", s3host, sizeof(s3host), &cfg.s3_port) != 0)
		return 2;
	if (s3listen != NULL)
		cfg.s3_host = s3host;

	/* every thread inherits the mask: only sigwait sees these */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((cfg.region == NULL) != (cfg.origin == NULL)) {
		fprintf(stderr, "cairn: --region and --origin go together (%s)\n", USAGE);
		return 2;
	}
	if (cfg.origin && strncmp(cfg.origin, "http://", 7) != 0 &&
	    strncmp(cfg.origin, "https://", 8) != 0) {
		fprintf(stderr, "cairn: --origin wants an http:// or https:// URL\n");
		return 2;
	}
	if (cfg.origin_s3 && (cfg.region == NULL || cfg.s3_host == NULL ||
			      (strncmp(cfg.origin_s3, "http://", 7) != 0 &&
			       strncmp(cfg.origin_s3, "https://", 8) != 0))) {
		fprintf(stderr, "cairn: --origin-s3 wants an http:// or https:// URL, on a node "
				"(--region) with --s3-listen\n");
		return 2;
	}
	if (cfg.region && cfg.s3_host && cfg.origin_s3 == NULL) {
		fprintf(stderr, "cairn: a node's --s3-listen reads through the origin's S3 front: "
				"give --origin-s3 URL\n");
		return 2;
	}
	/* a cache node keeps no buckets, users or tokens of its own */
	if (cfg.region == NULL && bootstrap(cfg.data_dir) != 0)
		return 1;
	rc = cairn__server_run(&cfg);
	return rc == 0 ? 0 : 1;
}
